#!/usr/bin/env bash
# The demo: builds, starts a simulated tenant and entra-syncd on a temporary profile, runs a sync
# and prints `entra-syncctl status`. Everything it starts is stopped again when it ends; with
# --keep it stays up until Ctrl-C, so entra-syncctl can be tried against it from another terminal.
# Usage: scripts/demo.sh [--keep]
set -euo pipefail
cd "$(dirname "$0")/.."
keep=no
case "${1:-}" in
    --keep) keep=yes ;;
    "") ;;
    *) echo "usage: scripts/demo.sh [--keep]" >&2; exit 2 ;;
esac
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
exports=("$demo"/state/demo/export/*)
echo "exports: ${exports[*]##*/}  (users.json: $(wc -c <"$demo/state/demo/export/users.json") bytes)"
echo "first exported user:"
python3 -c "import json,sys; print(json.dumps(json.load(open(sys.argv[1]))[0], indent=2))" "$demo/state/demo/export/users.json" 2>/dev/null || true
echo
group="$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[0]['displayName'])" "$demo/state/demo/export/groups.json" 2>/dev/null || echo GROUP)"
explore="  export ENTRA_SYNC_SOCKET=$demo/control.sock PATH=$bin:\$PATH
  entra-syncctl users demo
  entra-syncctl members demo '$group' --transitive"
if [ "$keep" = no ]; then
    echo "The demo now stops the simulator and the daemon. To keep them running and explore"
    echo "(entra-syncctl users demo, entra-syncctl members demo '$group' --transitive), run: scripts/demo.sh --keep"
    exit 0
fi
echo "The simulator and the daemon keep running until Ctrl-C. In another terminal:"
echo "$explore"
trap 'exit 0' INT TERM
while kill -0 "${pids[@]}" 2>/dev/null; do sleep 1; done
echo "a demo process ended on its own; the last lines of its logs:" >&2
tail -n 5 "$demo/daemon.log" "$demo/sim.log" >&2
exit 1
