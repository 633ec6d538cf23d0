#!/usr/bin/env bash
# Soak benchmark: one daemon, 20 profiles on short intervals against a churning simulated tenant,
# with run-now storms, reloads and queries, for a bounded time. Prints the daemon's RSS
# over time and the runs done, and fails if RSS did not level off (last third vs. middle third).
# Usage: scripts/soak.sh [MINUTES]   (default 5). Release build. Not part of the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${1:-5}"
profiles=20
scripts/install-deps.sh >&2
swift build -c release >&2
bin="$(swift build -c release --show-bin-path)"
work="$(mktemp -d /tmp/es-soak.XXXXXX)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

mkdir -p "$work/etc"
"$bin/entra-graph-sim" --port 0 --port-file "$work/port" --users 2000 --groups 200 --memberships 8000 --seed 3 \
    --page-size 200 --member-slice 100 >/dev/null 2>"$work/sim.log" &
pids+=($!)
for _ in $(seq 1 600); do [ -s "$work/port" ] && break; sleep 0.1; done
base="http://127.0.0.1:$(cat "$work/port")"
printf 'sim-secret\n' >"$work/etc/s.secret"
chmod 600 "$work/etc/s.secret"
profile() {  # NAME INTERVAL
    printf '[Tenant]\nTenantId=contoso.onmicrosoft.com\nClientId=11111111-2222-3333-4444-555555555555\nClientSecretFile=%s\nLoginEndpoint=%s\nGraphEndpoint=%s\n[Sync]\nInterval=%s\nRandomizedDelay=1s\nRequestTimeout=30s\n' \
        "$work/etc/s.secret" "$base" "$base" "$2" >"$work/etc/$1.conf"
    chmod 600 "$work/etc/$1.conf"
}
for i in $(seq 1 $profiles); do profile "p$i" "$((5 + i % 5))s"; done
export ENTRA_SYNC_SOCKET="$work/s.sock"
"$bin/entra-syncd" --config-dir "$work/etc" --state-dir "$work/state" --socket "$work/s.sock" --log-level warning 2>"$work/d.log" &
daemon=$!
pids+=($daemon)
for _ in $(seq 1 600); do "$bin/entra-syncctl" status >/dev/null 2>&1 && break; sleep 0.1; done

rss() { awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$daemon/status"; }
end=$(( $(date +%s) + minutes * 60 ))
start=$(date +%s)
samples=()
tick=0
printf '%8s %8s %8s\n' elapsed_s rss_MB runs
while [ "$(date +%s)" -lt "$end" ]; do
    kill -0 "$daemon" 2>/dev/null || { echo "entra-syncd died; log:" >&2; tail -20 "$work/d.log" >&2; exit 1; }
    tick=$((tick + 1))
    curl -s -X POST -d "{\"seed\":$tick,\"changes\":20}" "$base/_sim/churn" >/dev/null
    if [ $((tick % 5)) -eq 0 ]; then  # a run-now storm: every profile, several clients at once
        storm=()
        for _ in 1 2 3 4; do "$bin/entra-syncctl" run-now --all >/dev/null 2>&1 & storm+=($!); done
        for p in "${storm[@]}"; do wait "$p" || true; done
    fi
    if [ $((tick % 15)) -eq 0 ]; then  # a reload that changes one profile's interval
        profile "p$((tick % profiles + 1))" "$((4 + tick % 7))s"
        kill -HUP "$daemon"
    fi
    "$bin/entra-syncctl" users p1 --json >/dev/null 2>&1 || true
    "$bin/entra-syncctl" members p2 "Group 0 Engineering" --transitive >/dev/null 2>&1 || true
    if [ $((tick % 5)) -eq 0 ]; then
        runs=$(cat "$work"/state/*/metrics.prom 2>/dev/null | awk '/^entra_sync_runs_total/ {n += $2} END {print n + 0}')
        r=$(rss)
        samples+=("$r")
        printf '%8d %8d %8d\n' $(( $(date +%s) - start )) "$r" "$runs"
    fi
    sleep 1
done
n=${#samples[@]}
[ "$n" -ge 6 ] || { echo "too few samples ($n): run longer" >&2; exit 1; }
mid=0; last=0
for i in $(seq $((n / 3)) $((2 * n / 3 - 1))); do mid=$(( mid > samples[i] ? mid : samples[i] )); done
for i in $(seq $((2 * n / 3)) $((n - 1))); do last=$(( last > samples[i] ? last : samples[i] )); done
failed=$(grep -c 'run failed' "$work/d.log" || true)
echo "profiles $profiles, minutes $minutes, peak RSS middle third ${mid} MB, last third ${last} MB, failed-run log lines $failed"
if [ "$last" -gt $(( mid + mid / 10 + 5 )) ]; then
    echo "RSS still growing: ${mid} MB -> ${last} MB" >&2
    exit 1
fi
echo "RSS levelled off"
