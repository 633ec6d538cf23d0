#!/usr/bin/env bash
# The demo: builds, starts a simulated tenant and entra-syncd on a temporary profile, runs a sync
# and prints `entra-syncctl status`. Everything it starts is stopped again when it ends.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build
bin="$(swift build --show-bin-path)"

demo="$(mktemp -d /tmp/entra-sync-demo.XXXXXX)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$demo"
}
trap cleanup EXIT

mkdir -p "$demo/etc" "$demo/state"
"$bin/entra-graph-sim" --port 0 --port-file "$demo/sim.port" --users 2000 --groups 150 --memberships 9000 \
    --nested-groups 20 --seed 42 --page-size 200 >"$demo/sim.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do [ -s "$demo/sim.port" ] && break; sleep 0.1; done
port="$(cat "$demo/sim.port")"
echo "simulated tenant on http://127.0.0.1:$port (2000 users, 150 groups, 9000 memberships)"

printf 'sim-secret\n' >"$demo/etc/demo.secret"
chmod 600 "$demo/etc/demo.secret"
cat >"$demo/etc/demo.conf" <<CONF
[Tenant]
TenantId=contoso.onmicrosoft.com
ClientId=11111111-2222-3333-4444-555555555555
ClientSecretFile=$demo/etc/demo.secret
LoginEndpoint=http://127.0.0.1:$port
GraphEndpoint=http://127.0.0.1:$port

[Sync]
Interval=30min
CONF
chmod 600 "$demo/etc/demo.conf"

"$bin/entra-syncd" --config-dir "$demo/etc" --state-dir "$demo/state" --socket "$demo/control.sock" \
    2>"$demo/daemon.log" &
pids+=($!)
export ENTRA_SYNC_SOCKET="$demo/control.sock"
for _ in $(seq 1 100); do "$bin/entra-syncctl" status >/dev/null 2>&1 && break; sleep 0.1; done

echo "\$ entra-syncctl run-now demo --wait"
"$bin/entra-syncctl" run-now demo --wait
echo
echo "\$ entra-syncctl status"
"$bin/entra-syncctl" status
echo
echo "exports: $(ls "$demo/state/demo/export")  (users.json: $(wc -c <"$demo/state/demo/export/users.json") bytes)"
echo "first exported user:"
python3 -c "import json,sys; print(json.dumps(json.load(open(sys.argv[1]))[0], indent=2))" "$demo/state/demo/export/users.json" 2>/dev/null || true
