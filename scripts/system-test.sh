#!/usr/bin/env bash
# System tests under a real systemd 252, booted as PID 1 of a private PID+mount namespace over an
# overlay of / (scripts/systemd-sandbox.sh). Builds the release .deb, checks it with lintian (any
# error or warning fails), installs it there and checks what an admin would: install, upgrade from
# the previous version, remove, purge, and installing where systemd does not run.
# The sandbox part skips, saying why, when the machine cannot create the namespaces.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"

# The unit's exposure score (systemd-analyze prints it on a 0-10 scale; README records it).
if command -v systemd-analyze >/dev/null; then
    score="$(systemd-analyze security --offline=true packaging/systemd/entra-sync.service 2>/dev/null | sed -n 's/.*Overall exposure level for entra-sync.service: \([0-9.]*\).*/\1/p')"
    if awk "BEGIN { exit !($score <= 1.5) }"; then echo "ok: unit exposure $score <= 1.5"; else echo "FAIL: unit exposure $score > 1.5"; exit 1; fi
fi

# Outside /tmp (the sandbox mounts a fresh /tmp but sees the rest of / through the overlay), and
# outside the checkout, which may itself live under /tmp.
work="$(mktemp -d /var/tmp/es-system.XXXXXX)"
sbx="$work/sandbox"
passed=0
failed=0
cleanup() {
    [ -s "$sbx/pid" ] && scripts/systemd-sandbox.sh kill "$sbx" || true
    rm -rf "$work"
}
trap cleanup EXIT

# The package the sandbox installs, and the same build as an older version to upgrade from.
started=$SECONDS
deb="$(scripts/build-deb.sh "$work")"
version="$(dpkg-deb -f "$deb" Version)"
echo "built $(basename "$deb") ($(du -k "$deb" | cut -f1) KiB) in $((SECONDS - started)) s"
# The same package as an older version to upgrade from (repacked uncompressed, which is quick).
dpkg-deb -R "$deb" "$work/previous"
sed -i "s/^Version: .*/Version: $version~previous/" "$work/previous/DEBIAN/control"
previous_deb="$work/entra-sync_$version~previous.deb"
dpkg-deb --root-owner-group -Znone --build "$work/previous" "$previous_deb" >/dev/null
rm -rf "$work/previous"
# lintian, Debian's package checker: no error and no warning.
if lintian --fail-on error,warning "$deb" >"$work/lintian" 2>&1; then
    echo "ok: lintian reports no errors or warnings"
else
    echo "FAIL: lintian"
    sed 's/^/    /' "$work/lintian"
    exit 1
fi

if ! reason="$(scripts/systemd-sandbox.sh check 2>&1)"; then
    echo "SKIP system tests: $reason"
    exit 0
fi
mkdir -p "$work/bin"
cp "$(swift build --show-bin-path)/entra-graph-sim" scripts/slapd-init.sh "$work/bin/"
bin="$work/bin"
scripts/systemd-sandbox.sh boot "$sbx" >/dev/null
R() { timeout 60 scripts/systemd-sandbox.sh run "$sbx" "$@"; }
# A container's policy-rc.d (Docker's denies every service action) would keep deb-systemd-invoke from
# restarting and stopping the service; the sandbox is a booted machine, where there is none.
R rm -f /usr/sbin/policy-rc.d
check() {  # check NAME COMMAND...: records a pass or a failure
    local name="$1"
    shift
    if "$@" >"$work/out" 2>&1; then
        echo "ok: $name"
        passed=$((passed + 1))
    else
        echo "FAIL: $name"
        sed 's/^/    /' "$work/out" | tail -20
        failed=$((failed + 1))
    fi
}
waitfor() {  # waitfor SECONDS COMMAND...: polls until the command succeeds
    local deadline=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $deadline ] || return 1
        sleep 0.2
    done
}

waitfor 60 R sh -c 'systemctl is-system-running | grep -Eq "running|degraded"'

# Install, purge and install again on the sandbox's clean root; the second time the previous version,
# which is upgraded further down.
check "dpkg install" R dpkg -i "$deb"
check "service user created" R getent passwd entra-sync
check "not enabled or started before there is a profile" R sh -c '! systemctl is-enabled entra-sync && ! systemctl is-active entra-sync'
check "man pages installed" R sh -c 'for page in man8/entra-syncd.8 man1/entra-syncctl.1 man5/entra-sync.conf.5; do [ -s /usr/share/man/$page.gz ] || exit 1; done
    zcat /usr/share/man/man8/entra-syncd.8.gz | grep -q "config-dir" && zcat /usr/share/man/man5/entra-sync.conf.5.gz | grep -q "MaxDeletions="'
check "completions installed" R sh -c '[ -s /usr/share/bash-completion/completions/entra-syncctl ] && [ -s /usr/share/zsh/vendor-completions/_entra-syncctl ] && [ -s /usr/share/fish/vendor_completions.d/entra-syncctl.fish ]
    grep -q "run-now" /usr/share/bash-completion/completions/entra-syncctl'
check "the binaries need no bundled Swift runtime" R sh -c '[ ! -e /usr/lib/entra-sync ] && entra-syncd --version && ! ldd /usr/bin/entra-syncd | grep -q "not found"'
check "dpkg purge" R sh -c 'dpkg --purge entra-sync && ! getent passwd entra-sync && [ ! -e /usr/bin/entra-syncd ]'
check "dpkg install of the previous version" R sh -c "dpkg -i '$previous_deb' && getent passwd entra-sync && [ -x /usr/bin/entra-syncd ]"
# The unit and the catalog point only at what the package installed (file: or man: links).
check "Documentation= and catalog Support: name installed files" R sh -c '
    exists() { case "$1" in
        file:*) f="${1#file:}"; [ -f "${f#//}" ] ;;
        man:*) p="${1#man:}"; n="${p%%(*}"; s="${p#*(}"; s="${s%)}"; ls /usr/share/man/man"$s"/"$n"."$s"* >/dev/null 2>&1 ;;
        *) false ;;
    esac; }
    # systemd 252 quotes each Documentation= entry ("man:entra-syncd(8)" "file:...").
    links="$(systemctl show -p Documentation --value entra-sync | tr -d "\"") $(sed -n "s/^Support: //p" /usr/lib/systemd/catalog/entra-sync.catalog | sort -u)"
    [ -n "$links" ] && for l in $links; do exists "$l" || { echo "nothing at $l"; exit 1; }; done'
check "sample profile is not a profile" R sh -c '[ -f /usr/share/doc/entra-sync/example.conf.sample ] && [ ! -e /etc/entra-sync/example.conf ]'

# The service starts at nice 0 (Nice=0 in the drop-in below), as on a host: the sandbox inherits
# the nice value of whoever runs these tests, and libdispatch sets each worker thread to the nice
# of its queue's QoS, 0 here, which an unprivileged process cannot do from a higher nice value
# (see the "healthy start" check below).
# A simulated tenant inside the sandbox and a profile for it. (LoadCredential= is not used here: in this
# sandbox systemd 252 leaves the credentials directory root-only; ClientSecretCredential= has unit tests.)
port=$((20000 + RANDOM % 20000))
R systemd-run --unit=entra-graph-sim --property=Type=exec "$bin/entra-graph-sim" --port "$port" --users 30 --groups 4 \
    --memberships 40 --page-size 10 --client-secret "Sup3r-S3cret-Value" >/dev/null
waitfor 20 curl -sf "http://127.0.0.1:$port/_sim/stats"
R sh -c "umask 027; printf 'Sup3r-S3cret-Value\n' >/etc/entra-sync/contoso.secret; chgrp entra-sync /etc/entra-sync/contoso.secret"
R sh -c "cat >/etc/entra-sync/contoso.conf <<CONF
[Tenant]
TenantId=contoso.onmicrosoft.com
ClientId=11111111-2222-3333-4444-555555555555
ClientSecretFile=/etc/entra-sync/contoso.secret
LoginEndpoint=http://127.0.0.1:$port
GraphEndpoint=http://127.0.0.1:$port
[Sync]
Interval=1h
CONF
chgrp entra-sync /etc/entra-sync/contoso.conf && chmod 640 /etc/entra-sync/contoso.conf
mkdir -p /etc/systemd/system/entra-sync.service.d
printf '[Service]\nWatchdogSec=4s\nNice=0\n' >/etc/systemd/system/entra-sync.service.d/test.conf
systemctl daemon-reload"

check "systemctl start reaches active after READY=1" R sh -c 'systemctl start entra-sync && [ "$(systemctl is-active entra-sync)" = active ]'
check "systemctl status shows the STATUS= line" R sh -c 'systemctl show -p StatusText --value entra-sync | grep -q "1 profile"'
check "a sync against the simulator" R entra-syncctl run-now contoso --wait
check "status as root" R sh -c 'entra-syncctl status contoso | grep -q "30 users"'
# A healthy start and sync log nothing at notice or above from the service's processes: no
# warning about the documented 0640 root:entra-sync secret, and nothing from libdispatch (whose
# "Failed to set thread priority ... errno=13" syslog files at notice).
check "a healthy start logs no warning or error" R sh -c '
    out="$(journalctl _SYSTEMD_UNIT=entra-sync.service -p notice -q --no-pager)"
    [ -z "$out" ] || { journalctl _SYSTEMD_UNIT=entra-sync.service -o short-precise -q --no-pager; exit 1; }
    journalctl _SYSTEMD_UNIT=entra-sync.service -q --no-pager | grep -q "listening on"'
R useradd -M -G entra-sync member
R useradd -M outsider
check "status as a member of the service group" R runuser -u member -- entra-syncctl status contoso
check "a user outside the group is refused" R sh -c '! runuser -u outsider -- entra-syncctl status 2>/tmp/err && grep -q "Only root and members" /tmp/err'
R useradd -M -G entra-sync,entra-sync-admin opsadmin
check "a reader may not run-now" R sh -c '! runuser -u member -- entra-syncctl run-now contoso 2>/tmp/err && grep -q "entra-sync-admin" /tmp/err'
check "an admin-group member may run-now" R runuser -u opsadmin -- entra-syncctl run-now contoso --wait

# Upgrade to this version: the running service is restarted exactly once and finds its state.
starts() { R journalctl --sync; R sh -c 'journalctl --no-pager -o cat -u entra-sync | grep -c "listening on"'; }
starts_before="$(starts)"
pid_before="$(R systemctl show -p MainPID --value entra-sync)"
last_run_before="$(R entra-syncctl status contoso --json | grep -o '"finished" : "[^"]*"' | head -1)"
check "dpkg upgrades to $version" R sh -c "dpkg -i '$deb' && [ \"\$(dpkg-query -W -f '\${Version}' entra-sync)\" = '$version' ]"
waitfor 20 R sh -c '[ "$(systemctl is-active entra-sync)" = active ]' || true
starts_after="$(starts)"
pid_after="$(R systemctl show -p MainPID --value entra-sync)"
check "the upgrade restarted the service once" sh -c "echo 'daemon starts $starts_before -> $starts_after, main PID $pid_before -> $pid_after'
    [ $((${starts_after:-0} - ${starts_before:-0})) -eq 1 ] && [ '$pid_after' != '$pid_before' ]"
check "state kept across the upgrade" waitfor 20 R sh -c "entra-syncctl status contoso | grep -q '30 users' && entra-syncctl status contoso --json | grep -q '$last_run_before'"
check "the restarted service is active" R sh -c '[ "$(systemctl is-active entra-sync)" = active ]'

# Watchdog: a frozen daemon is restarted, and its journal state survives.
main_pid="$(R systemctl show -p MainPID --value entra-sync)"
R kill -STOP "$main_pid"
check "watchdog restarts a frozen daemon" waitfor 40 R sh -c "[ \"\$(systemctl show -p NRestarts --value entra-sync)\" -ge 1 ] && [ \"\$(systemctl is-active entra-sync)\" = active ]"
check "state intact after the watchdog restart" waitfor 20 R sh -c 'entra-syncctl status contoso | grep -q "30 users"'

# Reload: one added, one changed, one broken profile.
R sh -c "sed 's/Interval=1h/Interval=2h/' /etc/entra-sync/contoso.conf >/tmp/c && cat /tmp/c >/etc/entra-sync/contoso.conf
sed 's/contoso-secret/contoso-secret/' /etc/entra-sync/contoso.conf >/etc/entra-sync/second.conf
printf '[Tenant]\nTenantId=broken here\n' >/etc/entra-sync/third.conf
chgrp entra-sync /etc/entra-sync/*.conf; chmod 640 /etc/entra-sync/*.conf"
check "systemctl reload" R systemctl reload entra-sync
check "reload added a profile" waitfor 20 R sh -c 'entra-syncctl status second | grep -q "30 users"'
check "reload reports the broken profile" R sh -c 'entra-syncctl status third | grep -q "config-error" && entra-syncctl status third | grep -q "third.conf:2"'
check "service still active after reload" R sh -c '[ "$(systemctl is-active entra-sync)" = active ]'

# Stop during a run: clean exit, nothing partial.
curl -sf -X POST "http://127.0.0.1:$port/_sim/churn" -d '{"seed":3,"changes":20}' >/dev/null
curl -sf -X POST "http://127.0.0.1:$port/_sim/faults" -d '{"path":"groups/delta","delayMs":15000,"count":5}' >/dev/null
curl -sf -X DELETE "http://127.0.0.1:$port/_sim/requests" >/dev/null
R entra-syncctl run-now contoso >/dev/null
waitfor 20 sh -c "curl -sf http://127.0.0.1:$port/_sim/requests | grep -q groups/delta"
check "systemctl stop during a run exits cleanly" R sh -c 'systemctl stop entra-sync && [ "$(systemctl show -p Result --value entra-sync)" = success ] && [ "$(systemctl show -p ExecMainStatus --value entra-sync)" = 0 ]'
curl -sf -X DELETE "http://127.0.0.1:$port/_sim/faults" >/dev/null
R systemctl start entra-sync
check "the next run after the stop completes" R entra-syncctl run-now contoso --wait

# Linux identities: entra-sync-userdb.socket, nss-systemd ("files systemd") and userdbctl inside the
# sandbox. A user in a nested group and one named like a local account. (systemd refuses to start a
# socket whose service already runs: the service is stopped around it.)
simpost() { curl -sf -X POST -H 'Content-Type: application/json' "http://127.0.0.1:$port/_sim/$1" -d "$2" | sed -n 's/.*"id" *: *"\([^"]*\)".*/\1/p'; }
parent="$(simpost groups '{"displayName":"Vault Users","securityEnabled":true}')"
child="$(simpost groups '{"displayName":"Vault Admins","securityEnabled":true}')"
alice="$(simpost users '{"displayName":"Alice Example","userPrincipalName":"alice@contoso.com","accountEnabled":true}')"
simpost users '{"displayName":"Not Root","userPrincipalName":"root@contoso.com","accountEnabled":true}' >/dev/null
simpost "groups/$parent/members" "{\"id\":\"$child\"}" >/dev/null
simpost "groups/$child/members" "{\"id\":\"$alice\"}" >/dev/null
R sh -c "printf '[Linux]\nNameFrom=upn-local\nIncludeGroups=Vault Users\n' >>/etc/entra-sync/contoso.conf
sed -E 's/^(passwd|group):.*/\1: files systemd/' /etc/nsswitch.conf >/tmp/ns && cat /tmp/ns >/etc/nsswitch.conf
systemctl stop entra-sync && systemctl enable --now entra-sync-userdb.socket && systemctl start entra-sync"
check "userdb: a sync serves the profile's users" R sh -c 'entra-syncctl run-now contoso --wait && [ -S /run/systemd/userdb/io.entrasync ] && entra-syncctl status contoso | grep -q "linux:"'
check "userdb: getent passwd and group" R sh -c 'getent passwd alice | grep -Eq "^alice:x:[0-9]+:[0-9]+:Alice Example:/home/alice:/bin/bash$" && getent group vault-users | grep -q ":alice$"'
check "userdb: id lists nested groups" R sh -c 'id alice | grep -q "(vault-users)" && id alice | grep -q "(vault-admins)"'
check "userdb: chown and ls -l show the names" R sh -c 'touch /var/tmp/owned && chown alice:vault-users /var/tmp/owned && ls -l /var/tmp/owned | grep -q " alice vault-users "'
check "userdb: userdbctl shows the record" R sh -c 'userdbctl --service=io.entrasync user alice | grep -q "Alice Example"'
check "userdb: a local name is not served" R sh -c '[ "$(getent passwd | grep -c ^root:)" = 1 ] && entra-syncctl status contoso | grep -q "not served: root"'
uid_before="$(R getent passwd alice | cut -d: -f3)"
check "userdb: a restart keeps the uid" R sh -c "systemctl restart entra-sync && sleep 1 && [ \"\$(getent passwd alice | cut -d: -f3)\" = '$uid_before' ]"

# LDAP provisioning read back by a real consumer: a slapd inside the sandbox (the package's schema,
# mdb), the profile's [LDAP] target with Posix=yes, and nslcd + libnss-ldapd answering getent
# ("passwd: files ldap" in the sandbox only). nslcd hides accounts disabled in Entra by its passwd
# filter on entraAccountEnabled and resolves nested groups. The uid and gid are the profile's
# POSIX ids, the ones the userdb serves above.
gid_before="$(R getent group vault-users | cut -d: -f3)"
lport=$((port + 1))
R "$bin/slapd-init.sh" /var/lib/test-slapd /usr/share/doc/entra-sync/entra-sync.ldif Ld4p-S3cret-Value \
    '{0}to attrs=userPassword by * none' '{1}to * by * read' >/dev/null
R systemd-run --unit=test-slapd --property=Type=exec /usr/sbin/slapd -F /var/lib/test-slapd/config -h "ldap://127.0.0.1:$lport/" -d 0 >/dev/null
waitfor 20 R ldapsearch -x -H "ldap://127.0.0.1:$lport" -b dc=example,dc=test -s base 1.1
bob="$(simpost users '{"displayName":"Bob Example","userPrincipalName":"bob@contoso.com","accountEnabled":true}')"
carol="$(simpost users '{"displayName":"Carol Example","userPrincipalName":"carol@contoso.com","accountEnabled":true}')"
simpost "groups/$child/members" "{\"id\":\"$bob\"}" >/dev/null
simpost "groups/$child/members" "{\"id\":\"$carol\"}" >/dev/null
R sh -c "umask 027; printf 'Ld4p-S3cret-Value\n' >/etc/entra-sync/ldap.secret; chgrp entra-sync /etc/entra-sync/ldap.secret
printf '[LDAP]\nURI=ldap://127.0.0.1:$lport\nBindDN=cn=admin,dc=example,dc=test\nBindPasswordFile=/etc/entra-sync/ldap.secret\nBaseDN=dc=example,dc=test\nPosix=yes\nHomeDirectory=/home/%%l\n' >>/etc/entra-sync/contoso.conf
printf 'uid nslcd\ngid nslcd\nuri ldap://127.0.0.1:$lport/\nbase dc=example,dc=test\nfilter passwd (&(objectClass=posixAccount)(entraAccountEnabled=TRUE))\nnss_nested_groups yes\ncache dn2uid 1s 1s\n' >/etc/nslcd.conf
chmod 640 /etc/nslcd.conf && chgrp nslcd /etc/nslcd.conf && systemctl restart nslcd
sed -E 's/^(passwd|group):.*/\1: files ldap/' /etc/nsswitch.conf >/tmp/ns && cat /tmp/ns >/etc/nsswitch.conf
systemctl reload entra-sync"
ldap_synced() {  # ldap_synced: a run, then the push it starts is done (the target shows in-sync after a push that began after the run)
    R entra-syncctl run-now contoso --wait >/dev/null && waitfor 60 R sh -c 'entra-syncctl ldap contoso | grep -q " in-sync$"'
}
check "ldap: a sync provisions the directory (Posix=yes)" ldap_synced
check "ldap: getent passwd through nslcd, with the userdb's uid" R sh -c "getent passwd alice@contoso.com | grep -Eq '^alice@contoso.com:[^:]*:$uid_before:$uid_before:Alice Example:/home/alice:/bin/bash\$'"
check "ldap: getent group lists the members, nested ones too, with the userdb's gid" R sh -c "set -e
    getent group 'Vault Admins' | grep -Eq '^Vault Admins:[^:]*:[0-9]+:' && getent group 'Vault Admins' | cut -d: -f4 | tr , '\n' | sort | tr '\n' ' ' | grep -qx 'alice@contoso.com bob@contoso.com carol@contoso.com '
    getent group 'Vault Users' | grep -q '^Vault Users:[^:]*:$gid_before:' && getent group 'Vault Users' | grep -q 'alice@contoso.com'"
check "ldap: id shows the groups" R sh -c "id alice@contoso.com | grep -q '(Vault Users)' && id alice@contoso.com | grep -q '(Vault Admins)'"
# A rename, a disabled account and a removed membership in Entra reach getent after the next sync.
curl -sf -X PATCH -H 'Content-Type: application/json' "http://127.0.0.1:$port/_sim/users/$alice" -d '{"userPrincipalName":"alicia@contoso.com"}' >/dev/null
curl -sf -X PATCH -H 'Content-Type: application/json' "http://127.0.0.1:$port/_sim/users/$bob" -d '{"accountEnabled":false}' >/dev/null
curl -sf -X DELETE "http://127.0.0.1:$port/_sim/groups/$child/members/$carol" >/dev/null
check "ldap: the changes are pushed after the next sync" ldap_synced
check "ldap: a renamed user keeps the uid under the new name" waitfor 10 R sh -c "getent passwd alicia@contoso.com | grep -q '^alicia@contoso.com:[^:]*:$uid_before:' && ! getent passwd alice@contoso.com"
check "ldap: a disabled account no longer resolves" R sh -c '! getent passwd bob@contoso.com && getent passwd carol@contoso.com'
check "ldap: a removed membership is gone from the group" R sh -c "getent group 'Vault Admins' | grep -q 'alicia@contoso.com' && ! getent group 'Vault Admins' | grep -q 'carol@contoso.com' && ! id carol@contoso.com | grep -q 'Vault Admins'"
R sh -c "sed -E 's/^(passwd|group):.*/\1: files systemd/' /etc/nsswitch.conf >/tmp/ns && cat /tmp/ns >/etc/nsswitch.conf"

# journald: structured fields, catalog text, and no secret anywhere.
check "journal has structured fields" R sh -c 'journalctl -u entra-sync ENTRA_PROFILE=contoso -o json | grep -q "\"ENTRA_RUN_ID\"" && journalctl -u entra-sync ENTRA_PROFILE=contoso -o json | grep -q "\"ENTRA_DURATION_MSEC\""'
check "journalctl -x shows the catalog" R sh -c 'journalctl -x -u entra-sync --no-pager | grep -q "The exports in the state directory now show this run"'
# (The simulator's own command line carries the secret; every other line must not.)
check "no secret in any log line" R sh -c '! journalctl --no-pager -o verbose | grep "Sup3r-S3cret-Value" | grep -qv "entra-graph-sim"'

# Remove keeps configuration and state; purge removes them; without a running systemd (a chroot or a
# container) the package installs and purges all the same.
check "dpkg remove stops the service and keeps configuration and state" R sh -c 'dpkg -r entra-sync && ! systemctl is-active entra-sync && [ ! -e /usr/bin/entra-syncd ] &&
    [ -f /etc/entra-sync/contoso.conf ] && [ -d /var/lib/entra-sync/contoso/journal ] && getent passwd entra-sync'
check "dpkg purge removes state and users" R sh -c 'dpkg --purge entra-sync && [ ! -e /var/lib/entra-sync ] && ! getent passwd entra-sync && ! getent group entra-sync-admin &&
    [ ! -e /etc/systemd/system/multi-user.target.wants/entra-sync.service ]'
check "install and purge where systemd does not run" R unshare --mount sh -c "mount -t tmpfs tmpfs /run/systemd && dpkg -i '$deb' && getent passwd entra-sync && [ -d /var/lib/entra-sync ] && dpkg --purge entra-sync"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
