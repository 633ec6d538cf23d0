#!/usr/bin/env bash
# First sync under the realistic Graph model: sequential delta chain vs parallel full sync.
# Usage: BENCH_MODE=parallel scripts/bench.sh [M] [L] [XL]   (default: M L), or this script directly.
# BENCH_LATENCIES="100 500": median page latencies in ms (lognormal, sigma BENCH_SIGMA=0.5).
# BENCH_SEQUENTIAL=0 skips the sequential chain (it takes about pages x latency: L at 500 ms is ~20 min).
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
    "$bin/entra-syncctl" status --json | python3 -c 'import json,sys; r=json.load(sys.stdin)["profiles"][0]; print(r["lastRun"]["durationMsec"], r["lastRun"]["result"], "fallback" if r.get("warnings") else "-")'
    kill -TERM $daemon; wait $daemon 2>/dev/null || true
}

printf '%-3s %7s %7s | %10s | %10s %9s %9s %7s %8s %8s | %7s %7s\n' size latency sigma seq_ms par_ms par_req par_RU 429s floor_ms par/floor speedup result
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
        seq_ms=-1; seq_result=skipped
        if [ "${BENCH_SEQUENTIAL:-1}" != 0 ]; then
            read -r seq_ms seq_result _ < <(sync_once "$dir" off "$base")
            sleep 10  # the bucket refills
        fi
        curl -s -X DELETE "$base/_sim/stats" >/dev/null
        read -r par_ms par_result par_note < <(sync_once "$dir" auto "$base")
        requests=$(stat "$base" graphRequests)
        ru=$(stat "$base" resourceUnits)
        throttled=$(stat "$base" throttledRequests)
        kill -TERM $sim; wait $sim 2>/dev/null || true
        awk -v s=$size -v l=$latency -v sg=$sigma -v q=$seq_ms -v p=$par_ms -v r=$requests -v ru=$ru -v t=$throttled \
            -v res="$seq_result/$par_result/$par_note" 'BEGIN {
            floor = ru / 800 * 1000
            printf "%-3s %7d %7.2f | %10d | %10d %9d %9d %7d %8.0f %8.2f | %7.1f %s\n", s, l, sg, q, p, r, ru, t, floor, p / floor, (q > 0 ? q / p : 0), res }'
    done
done
