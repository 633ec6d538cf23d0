#!/usr/bin/env bash
# First sync under the realistic Graph model: sequential delta chain vs parallel full sync.
# Usage: BENCH_MODE=parallel scripts/bench.sh [M] [L] [XL]   (default: M L), or this script directly.
# BENCH_LATENCIES="100 500": median page latencies in ms (lognormal, sigma BENCH_SIGMA=0.5).
# BENCH_SEQUENTIAL=0 skips the sequential chain (it takes about pages x latency: L at 500 ms is ~25 min); its
# time is then estimated from its page count (seq_pages) x BENCH_MS_PER_PAGE (default: the lognormal mean).
# BENCH_PARALLEL=N reads with Parallel=N instead of auto.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-sizes.sh
latencies="${BENCH_LATENCIES:-100 500}"
sigma="${BENCH_SIGMA:-0.5}"
sizes=("$@")
[ ${#sizes[@]} -eq 0 ] && sizes=(M L)
swift build -c release >&2
bin="$(swift build -c release --show-bin-path)"
work="$(mktemp -d /tmp/es-bench.XXXXXX)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
ms() { date +%s%3N; }
stat() { curl -s "$1/_sim/stats" | python3 -c "import json,sys; print(json.load(sys.stdin).get('$2', 0))"; }

# One first sync of a fresh state directory with Parallel=$2; prints "sync_ms result".
sync_once() {
    local dir="$1" parallel="$2" base="$3"
    rm -rf "$dir/state" "$dir/etc"; mkdir -p "$dir/etc"
    printf 'sim-secret\n' >"$dir/etc/b.secret"; chmod 600 "$dir/etc/b.secret"
    printf '[Tenant]\nTenantId=contoso.onmicrosoft.com\nClientId=11111111-2222-3333-4444-555555555555\nClientSecretFile=%s\nLoginEndpoint=%s\nGraphEndpoint=%s\n[Sync]\nInterval=1d\nRandomizedDelay=0\nRequestTimeout=10min\nMaxAttempts=20\nParallel=%s\n' \
        "$dir/etc/b.secret" "$base" "$base" "$parallel" >"$dir/etc/b.conf"
    chmod 600 "$dir/etc/b.conf"
    export ENTRA_SYNC_SOCKET="$dir/s.sock"
    "$bin/entra-syncd" --config-dir "$dir/etc" --state-dir "$dir/state" --socket "$dir/s.sock" --log-level info 2>>"$dir/d.log" &
    local daemon=$!
    pids+=($daemon)
    until "$bin/entra-syncctl" status --json 2>/dev/null | grep -Eq '"result" : "(succeeded|failed)"'; do
        kill -0 $daemon || { tail -20 "$dir/d.log" >&2; exit 1; }
        sleep 0.2
    done
    local rss_mb
    rss_mb=$(awk '/VmHWM/ {print int($2 / 1024)}' /proc/$daemon/status)
    "$bin/entra-syncctl" status --json | python3 -c 'import json,sys; r=json.load(sys.stdin)["profiles"][0]; print(r["lastRun"]["durationMsec"], r["lastRun"]["result"], "fallback" if r.get("warnings") else "-", sys.argv[1])' "$rss_mb"
    kill -TERM $daemon; wait $daemon 2>/dev/null || true
}

# Pages of the sequential delta chain: the simulator renders a whole round on its first page.
chain_pages() {
    local base="$1" token
    token="$(curl -s -d 'client_id=11111111-2222-3333-4444-555555555555&client_secret=sim-secret&grant_type=client_credentials&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default' \
        "$base/contoso.onmicrosoft.com/oauth2/v2.0/token" | sed 's/.*"access_token":"\([^"]*\)".*/\1/')"
    curl -s -X DELETE "$base/_sim/stats" >/dev/null
    curl -s -o /dev/null -H "Authorization: Bearer $token" "$base/v1.0/users/delta?\$select=id,userPrincipalName"
    curl -s -o /dev/null -H "Authorization: Bearer $token" "$base/v1.0/groups/delta?\$select=id,displayName,members"
    stat "$base" pagesRendered
}

echo "$(nproc) cores; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-3s %7s %7s | %10s %9s %9s | %10s %9s %9s %7s %8s %8s | %7s %7s %7s %s\n' size latency sigma seq_ms seq_pages ms/page \
    par_ms par_req par_RU 429s floor_ms par/floor speedup seq_est par_RSS "result; load average after the parallel sync"
for size in "${sizes[@]}"; do
    bench_size "$size" || exit 2
    for latency in $latencies; do
        dir="$work/$size-$latency"
        mkdir -p "$dir"
        "$bin/entra-graph-sim" --port 0 --port-file "$dir/port" --users $u --groups $g --memberships $m --nested-groups $((g / 10)) \
            --seed 7 --page-size 200 --member-slice 500 --page-member-links 500 --page-latency "$latency" --latency-sigma "$sigma" \
            --resource-units 8000 >/dev/null 2>"$dir/sim.log" &
        sim=$!
        pids+=($sim)
        for _ in $(seq 1 6000); do [ -s "$dir/port" ] && break; sleep 0.1; done
        base="http://127.0.0.1:$(cat "$dir/port")"
        pages=$(chain_pages "$base")
        sleep 1
        # The parallel sync first: it is the one the machine's load can slow (the chain waits on pages),
        # and the load average printed is the one right after it.
        curl -s -X DELETE "$base/_sim/stats" >/dev/null
        read -r par_ms par_result par_note par_rss < <(sync_once "$dir" "${BENCH_PARALLEL:-auto}" "$base")
        requests=$(stat "$base" graphRequests)
        ru=$(stat "$base" resourceUnits)
        throttled=$(stat "$base" throttledRequests)
        load_after="$(cut -d' ' -f1-3 /proc/loadavg)"
        seq_ms=-1; seq_result=skipped
        if [ "${BENCH_SEQUENTIAL:-1}" != 0 ]; then
            sleep 10  # the bucket refills
            read -r seq_ms seq_result _ _ < <(sync_once "$dir" off "$base")
        fi
        kill -TERM $sim; wait $sim 2>/dev/null || true
        # seq_est: the chain's pages x the mean time per page, measured (seq_ms / pages) or, when the
        # chain was not run, BENCH_MS_PER_PAGE (default: the lognormal's mean, median x e^(sigma^2/2)).
        awk -v s=$size -v l=$latency -v sg=$sigma -v q=$seq_ms -v pg=$pages -v p=$par_ms -v r=$requests -v ru=$ru -v t=$throttled \
            -v mpp="${BENCH_MS_PER_PAGE:-}" -v rss=$par_rss -v res="$seq_result/$par_result/$par_note; $load_after" 'BEGIN {
            floor = ru / 800 * 1000
            per = q > 0 ? q / pg : (mpp != "" ? mpp : l * exp(sg * sg / 2))
            est = q > 0 ? q : pg * per
            printf "%-3s %7d %7.2f | %10d %9d %9.0f | %10d %9d %9d %7d %8.0f %8.2f | %7.1f %7.0f %7d %s\n", s, l, sg, q, pg, per, p, r, ru, t, floor, p / floor, est / p, est, rss, res }'
    done
done
