#!/usr/bin/env bash
# Benchmark: initial full sync vs. the download floor, incremental run, restart, queries.
# Usage: scripts/bench.sh [S] [M] [L] [XL]   (default: S M L). Release build. Results go to stdout;
# BENCHMARKS.md records them with the machine they ran on.
# BENCH_PAGE_LATENCY_MS=N (default 0): the simulator holds each delta page N ms, like Graph's server
# time per page; the floor and the sync both pay it, so their ratio shows what overlapping buys.
# BENCH_MODE=parallel: instead, each size's first sync under the realistic Graph model (200 objects
# or 500 member links per delta page, lognormal time per page, the 8,000 RU / 10 s bucket), read as the
# sequential delta chain (Parallel=off) and in parallel (Parallel=auto), side by side, for each median
# page latency in BENCH_LATENCIES (default "100 500"), with the RU floor: the RU the parallel sync
# spent divided by the bucket's refill rate (800 RU/s).
# BENCH_BEFORE=REV (a commit) or BENCH_BEFORE_BIN=DIR (its release binaries): each size is measured
# with that build's daemon too, in the same run, row by row (column "build"), against a fresh
# simulator of the same seed each time. REV is built in a temporary worktree (release).
# scripts/bench.sh tenants [N ...] (default 100 1000 3000): many small profiles on one daemon instead,
# release build, each count with the machine's open-file limit and under 1024:1024
# (scripts/many-profiles.sh, one line each).
# scripts/bench.sh userdb [SIZE] (default L): Linux user lookups on the userdb socket, median and p99
# per GetUserRecord by name beside a trivial varlink call (GetInfo) on the same socket.
# scripts/bench.sh ldap [SIZE ...] (default S M): LDAP provisioning, the first load into slapd against
# `ldapadd -c` of the same entries, the push after 1,000 changes, RSS with and without the target
# (scripts/bench-ldap.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-sizes.sh
if [ "${BENCH_MODE:-}" = parallel ]; then exec scripts/bench-parallel.sh "$@"; fi
if [ "${1:-}" = ldap ]; then shift; exec scripts/bench-ldap.sh "$@"; fi
if [ "${1:-}" = tenants ]; then
    shift
    counts=("$@")
    [ ${#counts[@]} -eq 0 ] && counts=(100 1000 3000)
    swift build -c release >&2
    export MANY_PROFILES_BIN="$(swift build -c release --show-bin-path)"
    for n in "${counts[@]}"; do scripts/many-profiles.sh "$n"; scripts/many-profiles.sh "$n" 1024; done
    exit 0
fi
if [ "${1:-}" = userdb ]; then
    # scripts/bench.sh userdb [SIZE] (default L): user lookups on the daemon's io.systemd.UserDatabase
    # socket against the floor (scripts/userdb-lookup-bench.py). BENCH_BIN=DIR uses binaries built
    # already; BENCH_LOOKUPS=N calls of each (default 10000).
    size="${2:-L}"
    bench_size "$size" || exit 2
    if [ -z "${BENCH_BIN:-}" ]; then swift build -c release >&2; fi
    bin="${BENCH_BIN:-$(swift build -c release --show-bin-path)}"
    work="$(mktemp -d /tmp/es-bench-userdb.XXXXXX)"
    pids=()
    cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
    trap cleanup EXIT
    "$bin/entra-graph-sim" --port 0 --port-file "$work/port" --users $u --groups $g --memberships $m --nested-groups $((g / 10)) \
        --seed 7 --page-size 999 --member-slice 1000 >/dev/null 2>"$work/sim.log" &
    pids+=($!)
    for _ in $(seq 1 6000); do [ -s "$work/port" ] && break; sleep 0.1; done
    base="http://127.0.0.1:$(cat "$work/port")"
    mkdir -p "$work/etc"
    printf 'sim-secret\n' >"$work/etc/b.secret"
    chmod 600 "$work/etc/b.secret"
    printf '[Tenant]\nTenantId=contoso.onmicrosoft.com\nClientId=11111111-2222-3333-4444-555555555555\nClientSecretFile=%s\nLoginEndpoint=%s\nGraphEndpoint=%s\n[Sync]\nInterval=1d\nRandomizedDelay=0\nRequestTimeout=10min\n[Linux]\nNameFrom=upn-local\n' \
        "$work/etc/b.secret" "$base" "$base" >"$work/etc/b.conf"
    chmod 600 "$work/etc/b.conf"
    export ENTRA_SYNC_SOCKET="$work/s.sock"
    "$bin/entra-syncd" --config-dir "$work/etc" --state-dir "$work/state" --socket "$work/s.sock" --userdb-socket "$work/io.entrasync" \
        --log-level warning 2>"$work/d.log" &
    daemon=$!
    pids+=($daemon)
    until "$bin/entra-syncctl" status --json 2>/dev/null | python3 -c 'import json,sys; p=json.load(sys.stdin)["profiles"][0]; sys.exit(0 if (p.get("linux") or {}).get("users", 0) > 0 else 1)' 2>/dev/null; do
        kill -0 $daemon || { cat "$work/d.log"; exit 1; }
        sleep 0.2
    done
    echo "size $size: $u users, $g groups, $m memberships; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
    python3 scripts/userdb-lookup-bench.py "$work/io.entrasync" "${BENCH_LOOKUPS:-10000}"
    echo "daemon peak RSS $(awk '/VmHWM/ {print int($2 / 1024)}' /proc/$daemon/status) MB"
    exit 0
fi
latency="${BENCH_PAGE_LATENCY_MS:-0}"
[[ "$latency" =~ ^[0-9]+$ ]] || { echo "BENCH_PAGE_LATENCY_MS must be a number of milliseconds" >&2; exit 2; }
sizes=("$@")
[ ${#sizes[@]} -eq 0 ] && sizes=(S M L)
scripts/install-deps.sh
swift build -c release >&2
current="$(swift build -c release --show-bin-path)"
work="$(mktemp -d /tmp/es-bench.XXXXXX)"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true
    [ -n "${before_tree:-}" ] && git worktree remove --force "$before_tree" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
ms() { date +%s%3N; }
builds=(now)
declare -A bins=([now]="$current")
if [ -n "${BENCH_BEFORE:-}" ] && [ -z "${BENCH_BEFORE_BIN:-}" ]; then
    before_tree="$work/before-tree"
    git worktree add -q --detach "$before_tree" "$BENCH_BEFORE"
    (cd "$before_tree" && swift build -c release >&2)
    BENCH_BEFORE_BIN="$(cd "$before_tree" && swift build -c release --show-bin-path)"
fi
if [ -n "${BENCH_BEFORE_BIN:-}" ]; then
    builds=(before now)
    bins[before]="$BENCH_BEFORE_BIN"
fi

printf '%-6s %-3s %9s %8s %10s | %9s %8s %8s %8s %9s %6s | %8s %8s %9s %9s | %8s %9s %8s %9s %10s   (page latency %s ms)\n' \
    build size users groups members render_ms floor_ms sync_ms wall_ms cpu_ms ratio rss_MB journal_MB json_MB sim_MB/s incr_ms incr_wall ready_ms users_ms members_ms \
    "$latency"
for size in "${sizes[@]}"; do
  for build in "${builds[@]}"; do
    bin="${bins[$build]}"
    bench_size "$size" || exit 2
    dir="$work/$size-$build"
    mkdir -p "$dir/etc"
    # Every build is measured against the current simulator.
    "$current/entra-graph-sim" --port 0 --port-file "$dir/port" --users $u --groups $g --memberships $m --nested-groups $((g / 10)) \
        --seed 7 --page-size 999 --member-slice 1000 --page-latency "$latency" >/dev/null 2>"$dir/sim.log" &
    sim=$!
    pids+=($sim)
    for _ in $(seq 1 6000); do [ -s "$dir/port" ] && break; sleep 0.1; done
    base="http://127.0.0.1:$(cat "$dir/port")"

    # Discovery: follow the full round once (curl per page). The simulator renders each round on
    # its first request and caches the pages, so the floor and the sync below are served from cache.
    token="$(curl -s -d 'client_id=11111111-2222-3333-4444-555555555555&client_secret=sim-secret&grant_type=client_credentials&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default' \
        "$base/contoso.onmicrosoft.com/oauth2/v2.0/token" | sed 's/.*"access_token":"\([^"]*\)".*/\1/')"
    : >"$dir/urls"
    for url in "$base/v1.0/users/delta?\$select=id,userPrincipalName,displayName,givenName,surname,mail,accountEnabled,jobTitle,department,employeeId,mailNickname,onPremisesImmutableId,assignedLicenses" \
               "$base/v1.0/groups/delta?\$select=id,displayName,description,mail,mailEnabled,mailNickname,securityEnabled,groupTypes,members"; do
        while [ -n "$url" ]; do
            printf 'url = "%s"\noutput = /dev/null\n' "$url" >>"$dir/urls"
            curl -s -H "Authorization: Bearer $token" -H "Prefer: odata.maxpagesize=999" -o "$dir/page" "$url"
            url="$(tail -c 4096 "$dir/page" | grep -o '"@odata.nextLink":"[^"]*"' | head -1 | sed 's/"@odata.nextLink":"\(.*\)"/\1/' || true)"
        done
    done
    render_ms=$(curl -s "$base/_sim/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("renderMicros", 0) // 1000)')

    # The floor: one plain curl process downloading every page of the same full round over one
    # keep-alive connection, doing nothing with the bytes.
    floor_start=$(ms)
    floor_bytes=$(curl -s -H "Authorization: Bearer $token" -H "Prefer: odata.maxpagesize=999" -w '%{size_download}\n' -K "$dir/urls" \
        | awk '{ n += $1 } END { print n }')
    floor_ms=$(( $(ms) - floor_start ))
    [ "$floor_ms" -gt 0 ] || floor_ms=1

    printf 'sim-secret\n' >"$dir/etc/b.secret"
    chmod 600 "$dir/etc/b.secret"
    # This mode measures the delta chain against its download floor; BENCH_MODE=parallel measures
    # the parallel full sync. Builds from before Parallel= existed read the chain anyway.
    parallel_off=""
    if grep -aq 'Parallel=' "$bin/entra-syncd"; then parallel_off='Parallel=off\n'; fi
    printf "[Tenant]\nTenantId=contoso.onmicrosoft.com\nClientId=11111111-2222-3333-4444-555555555555\nClientSecretFile=%s\nLoginEndpoint=%s\nGraphEndpoint=%s\n[Sync]\nInterval=1d\nRandomizedDelay=0\nRequestTimeout=10min\n$parallel_off" \
        "$dir/etc/b.secret" "$base" "$base" >"$dir/etc/b.conf"
    chmod 600 "$dir/etc/b.conf"
    export ENTRA_SYNC_SOCKET="$dir/s.sock"
    wall_start=$(ms)
    "$bin/entra-syncd" --config-dir "$dir/etc" --state-dir "$dir/state" --socket "$dir/s.sock" --log-level warning 2>"$dir/d.log" &
    daemon=$!
    pids+=($daemon)
    until "$bin/entra-syncctl" status --json 2>/dev/null | grep -q '"result" : "succeeded"'; do
        kill -0 $daemon || { cat "$dir/d.log"; exit 1; }
        sleep 0.05
    done
    wall_ms=$(( $(ms) - wall_start ))
    sync_ms=$("$bin/entra-syncctl" status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["profiles"][0]["lastRun"]["durationMsec"])')
    read -r utime stime < <(awk '{print $14, $15}' /proc/$daemon/stat)
    cpu_ms=$(( (utime + stime) * 1000 / $(getconf CLK_TCK) ))
    journal_bytes=$(du -sb "$dir/state/b/journal" | cut -f1)

    curl -s -X POST "$base/_sim/churn" -d '{"seed":11,"changes":1000}' >/dev/null
    t=$(ms)
    "$bin/entra-syncctl" run-now b --wait >/dev/null
    incr_wall_ms=$(( $(ms) - t ))
    incr_ms=$("$bin/entra-syncctl" history b -n 1 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["runs"][0]["durationMsec"])')

    # Peak RSS over the full sync, its exports and compaction, and the incremental run.
    rss_kb=$(awk '/VmHWM/ {print $2}' /proc/$daemon/status)
    kill -TERM $daemon; wait $daemon 2>/dev/null || true
    ready_start=$(ms)
    "$bin/entra-syncd" --config-dir "$dir/etc" --state-dir "$dir/state" --socket "$dir/s.sock" --log-level warning 2>>"$dir/d.log" &
    daemon=$!
    pids+=($daemon)
    until "$bin/entra-syncctl" status >/dev/null 2>&1; do sleep 0.01; done
    ready_ms=$(( $(ms) - ready_start ))

    # -1: the query failed (at XL the users reply is larger than the control socket's output limit).
    t=$(ms); if "$bin/entra-syncctl" users b --json >/dev/null; then users_ms=$(( $(ms) - t )); else users_ms=-1; fi
    group="$(python3 -c 'import json,sys; gs=json.load(open(sys.argv[1])); print(max(gs, key=lambda g: len(g["members"]))["id"])' "$dir/state/b/export/groups.json")"
    t=$(ms); if "$bin/entra-syncctl" members b "$group" --transitive --json >/dev/null; then members_ms=$(( $(ms) - t )); else members_ms=-1; fi
    kill -TERM $daemon $sim; wait $daemon $sim 2>/dev/null || true

    awk -v build=$build -v s=$size -v u=$u -v g=$g -v m=$m -v rd=$render_ms -v f=$floor_ms -v y=$sync_ms -v w=$wall_ms -v c=$cpu_ms -v r=$rss_kb -v j=$journal_bytes -v b=$floor_bytes \
        -v i=$incr_ms -v iw=$incr_wall_ms -v d=$ready_ms -v q=$users_ms -v t=$members_ms 'BEGIN {
        printf "%-6s %-3s %9d %8d %10d | %9d %8d %8d %8d %9d %6.2f | %8.0f %8.1f %9.1f %9.0f | %8d %9d %8d %9d %10d\n",
            build, s, u, g, m, rd, f, y, w, c, y / f, r / 1024, j / 1048576, b / 1048576, (b / 1048576) / (f / 1000), i, iw, d, q, t }'
  done
done
