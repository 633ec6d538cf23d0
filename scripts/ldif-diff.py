#!/usr/bin/env python3
"""The LDIF change records that turn one directory dump into another (scripts/bench-ldap.sh's
incremental floor).

    scripts/ldif-diff.py OLD.ldif NEW.ldif >changes.ldif   # prints the number of records on stderr

OLD and NEW are `ldapsearch -LLL` dumps (content records; `-o ldif-wrap=no` or folded lines). An entry
whose entraObjectId is in both under different DNs is renamed (changetype: modrdn, deleteoldrdn 1,
newsuperior when its parent changes), then modified like the others; member, uniqueMember and
memberUid changes are `add:` / `delete:` of the values, any other changed attribute a `replace:` of
all its values (`delete:` when it is gone). Order: deletes, renames, adds, modifies (ldapmodify -c).
Values are compared as dumped (attribute name case and the `:` / `::` form from the same slapd
config match), their order ignored, so an empty output also means two dumps hold the same entries.
"""
import sys

VALUE_ATTRS = {"member", "uniquemember", "memberuid"}


def parse(path):
    """dn (lowercased) -> (dn, {attr (lowercased): (attr, [value lines' tails])}), in file order."""
    entries = {}
    lines = []
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        for raw in f:
            raw = raw.rstrip("\n")
            if raw.startswith(" ") and lines:
                lines[-1] += raw[1:]
            else:
                lines.append(raw)
    record = []
    for line in lines + [""]:
        if line.startswith("#"):
            continue
        if line == "":
            if record:
                add_record(entries, record)
            record = []
        else:
            record.append(line)
    return entries


def add_record(entries, record):
    dn = None
    attrs = {}
    for line in record:
        name, sep, rest = line.partition(":")
        if not sep:
            continue
        if dn is None and name.lower() == "dn":
            dn = line  # keep "dn: x" or "dn:: base64" as is
            continue
        key = name.lower()
        attrs.setdefault(key, (name, []))[1].append(":" + rest)  # ": value" or ":: base64"
    if dn is not None:
        entries[dn.lower()] = (dn, attrs)


def dn_value(dnline):
    return dnline.partition(":")[2].lstrip(": ").strip() if not dnline.startswith("dn::") else None


def split_dn(dn):
    """First RDN and the parent of a plain DN (escaped commas respected)."""
    i = 0
    while i < len(dn):
        if dn[i] == "\\":
            i += 2
            continue
        if dn[i] == ",":
            return dn[:i], dn[i + 1:]
        i += 1
    return dn, ""


def object_id(attrs):
    v = attrs.get("entraobjectid")
    return v[1][0] if v else None


def modify_ops(old, new):
    """The modify operations (lists of lines) that turn attributes OLD into NEW."""
    ops = []
    for key in sorted(set(old) | set(new)):
        o = old.get(key)
        n = new.get(key)
        ov = o[1] if o else []
        nv = n[1] if n else []
        if sorted(ov) == sorted(nv):
            continue
        name = (n or o)[0]
        if key in VALUE_ATTRS and o and n:
            gone = [v for v in ov if v not in set(nv)]
            came = [v for v in nv if v not in set(ov)]
            if came:
                ops.append([f"add: {name}"] + [name + v for v in came])
            if gone:
                ops.append([f"delete: {name}"] + [name + v for v in gone])
        elif not n:
            ops.append([f"delete: {name}"])
        else:
            ops.append([f"replace: {name}"] + [name + v for v in nv])
    return ops


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    old = parse(sys.argv[1])
    new = parse(sys.argv[2])
    new_by_id = {}
    for k, (dn, attrs) in new.items():
        oid = object_id(attrs)
        if oid is not None:
            new_by_id[oid] = k
    deletes, renames, adds, modifies = [], [], [], []
    renamed_to = set()
    for k, (dn, attrs) in old.items():
        if k in new:
            continue
        target = new_by_id.get(object_id(attrs)) if object_id(attrs) is not None else None
        olddn, newdn = dn_value(dn), dn_value(new[target][0]) if target else None
        if target and target not in old and olddn and newdn:
            newrdn, newparent = split_dn(newdn)
            oldrdn, oldparent = split_dn(olddn)
            rec = [dn, "changetype: modrdn", f"newrdn: {newrdn}", "deleteoldrdn: 1"]
            if newparent.lower() != oldparent.lower():
                rec.append(f"newsuperior: {newparent}")
            renames.append(rec)
            renamed_to.add(target)
            # What the rename itself does to the attributes: the old RDN value out, the new one in.
            after = {a: (n, list(v)) for a, (n, v) in attrs.items()}
            oa, _, ov = oldrdn.partition("=")
            na, _, nv = newrdn.partition("=")
            if oa.lower() in after:
                vals = [v for v in after[oa.lower()][1] if v.lower() != (": " + ov).lower()]
                if vals:
                    after[oa.lower()] = (after[oa.lower()][0], vals)
                else:
                    del after[oa.lower()]
            if na.lower() in after:
                if (": " + nv).lower() not in [v.lower() for v in after[na.lower()][1]]:
                    after[na.lower()][1].append(": " + nv)
            else:
                after[na.lower()] = (na, [": " + nv])
            ops = modify_ops(after, new[target][1])
            if ops:
                modifies.append((new[target][0], ops))
        else:
            deletes.append([dn, "changetype: delete"])
    for k, (dn, attrs) in new.items():
        if k in old:
            ops = modify_ops(old[k][1], attrs)
            if ops:
                modifies.append((dn, ops))
        elif k not in renamed_to:
            rec = [dn, "changetype: add"]
            for name, vals in attrs.values():
                rec += [name + v for v in vals]
            adds.append(rec)
    # Deletes leaves first (longest DNs first), adds parents first.
    deletes.sort(key=lambda r: -len(r[0]))
    adds.sort(key=lambda r: len(r[0].split(",")))
    out = sys.stdout
    count = 0
    for rec in deletes + renames + adds:
        out.write("\n".join(rec) + "\n\n")
        count += 1
    for dn, ops in modifies:
        out.write(dn + "\nchangetype: modify\n" + "\n-\n".join("\n".join(op) for op in ops) + "\n-\n\n")
        count += 1
    print(f"{count} change records: {len(deletes)} deletes, {len(renames)} renames, {len(adds)} adds, "
          f"{len(modifies)} modifies", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
