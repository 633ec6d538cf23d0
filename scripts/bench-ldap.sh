#!/usr/bin/env bash
# LDAP provisioning (issue #14): the daemon's first load into a fresh slapd against the floor of
# `ldapadd -c` loading the same entries as LDIF into another fresh slapd of the same config, over
# the same kind of connection (simple bind as the root DN over TCP to 127.0.0.1), in one run; then
# 1,000 changes in the simulator and the time from that run's commit to the end of its push, against
# `ldapmodify -c` of the same changes in the floor's slapd; and the daemon's peak RSS with and
# without the LDAP target.
# Usage: scripts/bench.sh ldap [SIZE ...] (default: S M), or this script directly. Release build;
# BENCH_BIN=DIR uses binaries built already; BENCH_LOG_LEVEL=debug BENCH_KEEP_LOG=FILE keeps the log
# of the daemon with the target (as FILE.SIZE), with its `run phases` and `push phases`; BENCH_WRAP=
# runs that daemon under a profiler (`heaptrack -o FILE`). Needs slapd and ldap-utils (scripts/install-deps.sh).
#
# slapd: scripts/slapd-init.sh's (mdb, indexes objectClass and entraObjectId eq, member sorted and
# above 100 values in mdb's separate table; SLAPD_LARGE_GROUPS=0: without), its defaults otherwise (a
# write transaction is synced to disk when it commits), database under /var/tmp.
# push_ms: the push's own duration (connect to last operation); commit_ms: from the first sync's
# commit to the push's end (what the daemon logs as ENTRA_AFTER_COMMIT_MSEC); floor_ms: `ldapadd -c` of the equivalent LDIF (an `ldapsearch` dump of
# what the daemon wrote under UsersDN and GroupsDN, operational attributes left out), with each
# group's members in its add. ratio = commit_ms / floor_ms (push/floor: push_ms / floor_ms).
# The incremental (incr_ops requests, incr_push ms its push, incr_cmt ms from its run's commit to the
# push's end) against its floor: the directory dumped again after that push, the LDIF change records
# that turn the first dump into the second (scripts/ldif-diff.py: add, delete, modrdn for an
# entraObjectId under a new DN, modify with add:/delete: of member values and replace: of other
# attributes), `ldapmodify -c` of them into the floor's slapd after its `ldapadd -c`, same
# connection: incr_fl_ops records (one request each), incr_fl_ms; incr_r = incr_cmt / incr_fl_ms. The
# floor's directory is then dumped and compared with the daemon's (the result column says whether
# they hold the same entries, i.e. whether the floor did the same work).
# RSS (VmHWM, MB): rss_no / rss_ldap after the first sync without / with the target (growth: the
# difference), rss_noi / rss_ldi after the same incremental run as well (growth_i); the daemon
# without the target runs the churn first, then the simulator starts afresh (seed 7) for the other.
# The POSIX ids come before the push starts; the exports run beside it.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-sizes.sh
sizes=("$@")
[ ${#sizes[@]} -eq 0 ] && sizes=(S M)
for s in "${sizes[@]}"; do bench_size "$s" || exit 2; done
[ -x /usr/sbin/slapd ] && command -v ldapadd >/dev/null || { echo "slapd and ldap-utils are needed: scripts/install-deps.sh" >&2; exit 1; }
if [ -z "${BENCH_BIN:-}" ]; then swift build -c release >&2; fi
bin="${BENCH_BIN:-$(swift build -c release --show-bin-path)}"
work="$(mktemp -d /var/tmp/es-bench-ldap.XXXXXX)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
ms() { date +%s%3N; }
suffix="dc=example,dc=test"
root="cn=admin,$suffix"
printf 'bench-secret' >"$work/ldap.pw"
chmod 600 "$work/ldap.pw"

# start_slapd DIR: a fresh slapd with the bench's config (scripts/slapd-init.sh) on a free loopback
# port; prints the port.
start_slapd() {
    local dir="$1" port
    scripts/slapd-init.sh "$dir" "$PWD/packaging/ldap/entra-sync.ldif" bench-secret
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    /usr/sbin/slapd -F "$dir/config" -h "ldap://127.0.0.1:$port/" -d 0 >/dev/null 2>&1 &
    pids+=($!)
    echo $! >"$dir/pid"
    for _ in $(seq 1 100); do
        ldapsearch -x -H "ldap://127.0.0.1:$port" -b "$suffix" -s base 1.1 >/dev/null 2>&1 && { echo "$port"; return 0; }
        sleep 0.1
    done
    echo "slapd did not start" >&2
    return 1
}
stop_slapd() { local pid; pid="$(cat "$1/pid")"; kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$1/db"; }

# dump PORT FILE: what the daemon manages, user attributes only (ldapsearch returns no operational
# attribute unless asked), containers first, then users, then groups.
dump() {
    local sub
    : >"$2"
    for sub in ou=people ou=groups; do
        ldapsearch -x -LLL -o ldif-wrap=no -H "ldap://127.0.0.1:$1" -D "$root" -y "$work/ldap.pw" -b "$sub,$suffix" -s base >>"$2"
        ldapsearch -x -LLL -o ldif-wrap=no -H "ldap://127.0.0.1:$1" -D "$root" -y "$work/ldap.pw" -b "$sub,$suffix" -s one >>"$2"
    done
}

# profile DIR BASE [LDAPPORT]: a profile for the simulator, with an [LDAP] target when LDAPPORT is given.
profile() {
    local dir="$1" base="$2" port="${3:-}"
    rm -rf "$dir/etc" "$dir/state"; mkdir -p "$dir/etc"
    printf 'sim-secret\n' >"$dir/etc/b.secret"; chmod 600 "$dir/etc/b.secret"
    printf '[Tenant]\nTenantId=contoso.onmicrosoft.com\nClientId=11111111-2222-3333-4444-555555555555\nClientSecretFile=%s\nLoginEndpoint=%s\nGraphEndpoint=%s\n[Sync]\nInterval=1d\nRandomizedDelay=0\nRequestTimeout=10min\n' \
        "$dir/etc/b.secret" "$base" "$base" >"$dir/etc/b.conf"
    if [ -n "$port" ]; then
        printf '[LDAP]\nURI=ldap://127.0.0.1:%s\nBindDN=%s\nBindPasswordFile=%s\nBaseDN=%s\nRequestTimeout=10min\n' "$port" "$root" "$work/ldap.pw" "$suffix" >>"$dir/etc/b.conf"
    fi
    chmod 600 "$dir/etc/b.conf"
}
# The target's status as `status` shows it (not `ldap`, which plans against the mirror on every call).
target_json() { "$bin/entra-syncctl" status --json | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["profiles"][0]["ldapTargets"][0]))'; }
wait_push() {  # wait_push N DAEMONPID: until N pushes that followed a run have ended (each logs ENTRA_AFTER_COMMIT_MSEC)
    until [ "$(grep -c 'ENTRA_AFTER_COMMIT_MSEC=' "$dir/d.log")" -ge "$1" ]; do kill -0 "$2" || { tail -20 "$dir/d.log" >&2; exit 1; }; sleep 0.1; done
}
# after_commit LOG N: ENTRA_AFTER_COMMIT_MSEC of the Nth push that followed a run.
after_commit() { grep -o 'ENTRA_AFTER_COMMIT_MSEC=[0-9]*' "$1" | sed -n "${2}p" | cut -d= -f2; }

echo "$(nproc) cores; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-3s %7s %6s %8s | %8s %9s %9s %7s %7s %9s | %8s %9s %9s %8s %9s %7s | %7s %7s %7s | %7s %7s %7s   %s\n' size users groups members \
    push_ms commit_ms floor_ms ratio push/fl requests incr_ops incr_push incr_cmt incr_fl_ops incr_fl_ms incr_r \
    rss_no rss_ldap growth rss_noi rss_ldi growth_i "result; load average after"
for size in "${sizes[@]}"; do
    bench_size "$size"
    dir="$work/$size"
    mkdir -p "$dir"
    # start_sim: a fresh simulator of this size (the same tenant each time: seed 7); sets sim and base.
    start_sim() {
        rm -f "$dir/port"
        "$bin/entra-graph-sim" --port 0 --port-file "$dir/port" --users $u --groups $g --memberships $m --nested-groups $((g / 10)) \
            --seed 7 --page-size 999 --member-slice 1000 >/dev/null 2>"$dir/sim.log" &
        sim=$!
        pids+=($sim)
        for _ in $(seq 1 6000); do [ -s "$dir/port" ] && break; sleep 0.1; done
        base="http://127.0.0.1:$(cat "$dir/port")"
    }
    start_sim
    export ENTRA_SYNC_SOCKET="$dir/s.sock"

    # Peak RSS without an LDAP target: after the first sync, and after the same incremental run as below.
    profile "$dir" "$base"
    "$bin/entra-syncd" --config-dir "$dir/etc" --state-dir "$dir/state" --socket "$dir/s.sock" --log-level warning 2>"$dir/d0.log" &
    daemon=$!
    pids+=($daemon)
    until "$bin/entra-syncctl" status --json 2>/dev/null | grep -q '"result" : "succeeded"'; do kill -0 $daemon || { cat "$dir/d0.log"; exit 1; }; sleep 0.1; done
    rss_no=$(awk '/VmHWM/ {print int($2 / 1024)}' /proc/$daemon/status)
    curl -s -X POST "$base/_sim/churn" -d '{"seed":11,"changes":1000}' >/dev/null
    "$bin/entra-syncctl" run-now b --wait >/dev/null
    rss_no_incr=$(awk '/VmHWM/ {print int($2 / 1024)}' /proc/$daemon/status)
    kill -TERM $daemon; wait $daemon 2>/dev/null || true
    kill -TERM $sim; wait $sim 2>/dev/null || true
    start_sim  # the churn again from the same tenant, for the daemon with the target

    # The daemon's first sync and first load into a fresh slapd.
    port="$(start_slapd "$dir/slapd-daemon")"
    profile "$dir" "$base" "$port"
    ${BENCH_WRAP:-} "$bin/entra-syncd" --config-dir "$dir/etc" --state-dir "$dir/state" --socket "$dir/s.sock" --log-level "${BENCH_LOG_LEVEL:-info}" 2>"$dir/d.log" &
    daemon=$!
    pids+=($daemon)
    wait_push 1 $daemon
    read -r push_ms requests result < <(target_json | python3 -c 'import json,sys; p=json.load(sys.stdin)["lastPush"]; print(p["durationMsec"], p.get("requests", 0), p["result"])')
    commit_ms="$(after_commit "$dir/d.log" 1)"
    rss_ldap=$(awk '/VmHWM/ {print int($2 / 1024)}' /proc/$daemon/status)

    # The equivalent LDIF: what the daemon wrote.
    dump "$port" "$dir/dump.ldif"
    entries=$(grep -c '^dn: ' "$dir/dump.ldif")

    # 1,000 changes: the time from the run's commit to the end of its push.
    curl -s -X POST "$base/_sim/churn" -d '{"seed":11,"changes":1000}' >/dev/null
    "$bin/entra-syncctl" run-now b --wait >/dev/null
    wait_push 2 $daemon
    read -r incr_push incr_ops < <(target_json | python3 -c 'import json,sys; p=json.load(sys.stdin)["lastPush"]; print(p["durationMsec"], p.get("requests", 0))')
    incr_commit="$(after_commit "$dir/d.log" 2)"
    rss_after=$(awk '/VmHWM/ {print int($2 / 1024)}' /proc/$daemon/status)
    kill -TERM $daemon; wait $daemon 2>/dev/null || true
    if [ -n "${BENCH_KEEP_LOG:-}" ]; then cp "$dir/d.log" "$BENCH_KEEP_LOG.$size"; fi
    # The incremental's floor: the change records that turn the first dump into the second.
    dump "$port" "$dir/dump2.ldif"
    python3 scripts/ldif-diff.py "$dir/dump.ldif" "$dir/dump2.ldif" >"$dir/incr.ldif" 2>"$dir/incr.stat"
    incr_floor_ops=$(cut -d' ' -f1 "$dir/incr.stat")
    stop_slapd "$dir/slapd-daemon"

    # The floor: ldapadd -c of the same entries into a fresh slapd of the same config.
    port="$(start_slapd "$dir/slapd-floor")"
    t=$(ms)
    ldapadd -c -x -H "ldap://127.0.0.1:$port" -D "$root" -y "$work/ldap.pw" -f "$dir/dump.ldif" >/dev/null 2>"$dir/ldapadd.err" || true
    floor_ms=$(( $(ms) - t ))
    loaded=$(ldapsearch -x -LLL -H "ldap://127.0.0.1:$port" -D "$root" -y "$work/ldap.pw" -b "$suffix" '(|(objectClass=organizationalUnit)(entraObjectId=*))' 1.1 | grep -c '^dn: ')
    # Then the incremental's change records, ldapmodify -c over the same kind of connection, and a
    # check that the floor's directory now holds what the daemon's did (no change record between them).
    t=$(ms)
    ldapmodify -c -x -H "ldap://127.0.0.1:$port" -D "$root" -y "$work/ldap.pw" -f "$dir/incr.ldif" >/dev/null 2>"$dir/ldapmodify.err" || true
    incr_floor=$(( $(ms) - t ))
    dump "$port" "$dir/floor2.ldif"
    python3 scripts/ldif-diff.py "$dir/floor2.ldif" "$dir/dump2.ldif" >"$dir/floor-vs-daemon.ldif" 2>"$dir/floor-vs-daemon.stat"
    if [ "$(cut -d' ' -f1 "$dir/floor-vs-daemon.stat")" = 0 ]; then same="floor's directory = daemon's"
    else
        same="floor's directory DIFFERS from the daemon's: $(cat "$dir/floor-vs-daemon.stat")"
        { head -20 "$dir/ldapmodify.err"; head -40 "$dir/floor-vs-daemon.ldif"; } >&2
    fi
    stop_slapd "$dir/slapd-floor"
    kill -TERM $sim; wait $sim 2>/dev/null || true

    awk -v s=$size -v u=$u -v g=$g -v m=$m -v p=$push_ms -v c=$commit_ms -v f=$floor_ms -v r=$requests -v io=$incr_ops -v ip=$incr_push -v ic=$incr_commit \
        -v fo=$incr_floor_ops -v fi=$incr_floor \
        -v rn=$rss_no -v rl=$rss_ldap -v ra=$rss_after -v rni=$rss_no_incr -v res="$result, $entries entries written, ldapadd loaded $loaded, $same; load $(cut -d' ' -f1-3 /proc/loadavg)" 'BEGIN {
        printf "%-3s %7d %6d %8d | %8d %9d %9d %7.2f %7.2f %9d | %8d %9d %9d %8d %9d %7.2f | %7d %7d %7d | %7d %7d %7d   %s\n",
            s, u, g, m, p, c, f, c / f, p / f, r, io, ip, ic, fo, fi, ic / (fi > 0 ? fi : 1), rn, rl, rl - rn, rni, ra, ra - rni, res }'
done
