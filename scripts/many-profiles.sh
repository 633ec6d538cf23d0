#!/usr/bin/env bash
# Many small profiles on one daemon: time to READY, time until every first sync is committed,
# failed runs, descriptors while idle, RSS, and whether the daemon survived.
# Usage: scripts/many-profiles.sh PROFILES [NOFILE]
#   PROFILES  how many profiles (50 users, 5 groups each), all against one simulator
#   NOFILE    run the daemon under `prlimit --nofile=NOFILE:NOFILE` (soft and hard), e.g. 1024
# Uses the debug build (`swift build` first); MANY_PROFILES_BIN=DIR picks another build;
# MANY_PROFILES_ARGS="--max-concurrent-runs N" adds daemon options.
# Prints one line: profiles nofile ready_ms synced_ms cpu_ms (daemon CPU until synced) succeeded failed
# idle_fds (sockets tcp files) rss_MB (idle) peak_MB (VmHWM) alive
set -euo pipefail
cd "$(dirname "$0")/.."
count="${1:?usage: scripts/many-profiles.sh PROFILES [NOFILE]}"
nofile="${2:-}"
bin="${MANY_PROFILES_BIN:-$(swift build --show-bin-path)}"
work="$(mktemp -d /tmp/es-many.XXXXXX)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
ms() { date +%s%3N; }

mkdir -p "$work/etc"
"$bin/entra-graph-sim" --port 0 --port-file "$work/port" --users 50 --groups 5 --memberships 100 --page-size 100 \
    >/dev/null 2>"$work/sim.log" &
pids+=($!)
for _ in $(seq 1 600); do [ -s "$work/port" ] && break; sleep 0.1; done
base="http://127.0.0.1:$(cat "$work/port")"
printf 'sim-secret\n' >"$work/etc/secret"
chmod 600 "$work/etc/secret"
for i in $(seq -w 1 "$count"); do
    printf '[Tenant]\nTenantId=00000000-0000-4000-8000-000000000001\nClientId=11111111-2222-3333-4444-555555555555\nClientSecretFile=%s\nLoginEndpoint=%s\nGraphEndpoint=%s\n[Sync]\nInterval=1h\nRandomizedDelay=0\nRequestTimeout=30s\n' \
        "$work/etc/secret" "$base" "$base" >"$work/etc/p$i.conf"
    chmod 600 "$work/etc/p$i.conf"
done

export ENTRA_SYNC_SOCKET="$work/s.sock"
launch=("$bin/entra-syncd")
[ -n "$nofile" ] && launch=(prlimit "--nofile=$nofile:$nofile" "$bin/entra-syncd")
start=$(ms)
# shellcheck disable=SC2086  # MANY_PROFILES_ARGS is split into options on purpose
"${launch[@]}" --config-dir "$work/etc" --state-dir "$work/state" --socket "$work/s.sock" --log-level notice ${MANY_PROFILES_ARGS:-} 2>"$work/d.log" &
daemon=$!
pids+=($daemon)
until "$bin/entra-syncctl" status >/dev/null 2>&1; do
    kill -0 $daemon 2>/dev/null || { tail -20 "$work/d.log" >&2; echo "the daemon died before READY" >&2; exit 1; }
    sleep 0.01
done
ready_ms=$(( $(ms) - start ))

# Every profile has finished its first run (succeeded or failed), or 180 s passed, or the daemon died.
summary() {
    "$bin/entra-syncctl" status --json 2>/dev/null | python3 -c '
import json, sys
ps = json.load(sys.stdin)["profiles"]
done = [p for p in ps if p.get("lastRun") and p["lastRun"]["result"] in ("succeeded", "failed")]
print(len(ps), len(done), sum(p["lastRun"]["result"] == "succeeded" for p in done), sum(p["lastRun"]["result"] == "failed" for p in done))'
}
alive=yes
synced_ms=-1 cpu_ms=-1
for _ in $(seq 1 1800); do
    if ! kill -0 $daemon 2>/dev/null; then alive=no; break; fi
    if read -r total done ok failed < <(summary) && [ "$done" -eq "$total" ]; then
        synced_ms=$(( $(ms) - start ))
        read -r utime stime < <(awk '{print $14, $15}' /proc/$daemon/stat)
        cpu_ms=$(( (utime + stime) * 1000 / $(getconf CLK_TCK) ))
        break
    fi
    sleep 0.1
done
sleep 1  # let the last runs' connections and files settle
fds=-1 sockets=-1 tcp=-1 files=-1 rss=-1 peak=-1
if kill -0 $daemon 2>/dev/null; then
    read -r total done ok failed < <(summary)
    fds=$(ls /proc/$daemon/fd | wc -l)
    sockets=$(find /proc/$daemon/fd -lname 'socket:*' | wc -l)
    files=$(find /proc/$daemon/fd -lname '/*' | wc -l)
    tcp=$(ss -tnp 2>/dev/null | grep -c "pid=$daemon," || true)
    rss=$(awk '/VmRSS/ {printf "%d", $2 / 1024}' /proc/$daemon/status)
    peak=$(awk '/VmHWM/ {printf "%d", $2 / 1024}' /proc/$daemon/status)
else
    alive=no
    ok=? failed=?
    tail -5 "$work/d.log" >&2
fi
traps=$(grep -c -i 'fatal error\|illegal instruction' "$work/d.log" || true)
printf 'profiles=%s nofile=%s ready_ms=%s synced_ms=%s cpu_ms=%s succeeded=%s failed=%s idle_fds=%s (sockets %s, tcp %s, files %s) rss_MB=%s peak_MB=%s alive=%s traps_logged=%s\n' \
    "$count" "${nofile:-default}" "$ready_ms" "$synced_ms" "$cpu_ms" "$ok" "$failed" "$fds" "$sockets" "$tcp" "$files" "$rss" "$peak" "$alive" "$traps"
[ -n "${MANY_PROFILES_LOG:-}" ] && cp "$work/d.log" "$MANY_PROFILES_LOG"
exit 0
