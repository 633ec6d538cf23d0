#!/usr/bin/env bash
# Linux identities as the host's tools see them, through nss-systemd and userdbctl, without booting
# systemd: everything runs in a private mount namespace (unshare -m) where /run/systemd is a fresh
# tmpfs and /etc/nsswitch.conf a bind-mounted copy saying "passwd: files systemd". Nothing reaches
# the host's files or services. Needs root, libnss-systemd and systemd-userdbd (install-deps.sh),
# and a debug build (swift build). About 5 s.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "SKIP userdb NSS test: needs root (unshare -m)"; exit 0; }
[ -e /lib/x86_64-linux-gnu/libnss_systemd.so.2 ] || [ -e /usr/lib/x86_64-linux-gnu/libnss_systemd.so.2 ] || { echo "SKIP: libnss-systemd is not installed"; exit 0; }
bin="${BIN:-$(swift build --show-bin-path)}"
work="$(mktemp -d /var/tmp/es-userdb.XXXXXX)"
sim_pid=""
cleanup() {
    [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

"$bin/entra-graph-sim" --port 0 --port-file "$work/port" --users 3 --groups 1 --memberships 2 --client-secret s3cret \
    >/dev/null 2>"$work/sim.log" &
sim_pid=$!
for _ in $(seq 1 100); do [ -s "$work/port" ] && break; sleep 0.1; done
sim="http://127.0.0.1:$(cat "$work/port")"
post() { curl -sf -X POST -H 'Content-Type: application/json' "$sim$1" -d "$2"; }
id_of() { sed -n 's/.*"id" *: *"\([^"]*\)".*/\1/p'; }
parent="$(post /_sim/groups '{"displayName":"Vault Users","securityEnabled":true}' | id_of)"
child="$(post /_sim/groups '{"displayName":"Vault Admins","securityEnabled":true}' | id_of)"
alice="$(post /_sim/users '{"displayName":"Alice Example","userPrincipalName":"alice@contoso.com","accountEnabled":true}' | id_of)"
bob="$(post /_sim/users '{"displayName":"Bob","userPrincipalName":"bob@contoso.com","accountEnabled":false}' | id_of)"
post /_sim/users '{"displayName":"Not Root","userPrincipalName":"root@contoso.com","accountEnabled":true}' >/dev/null
post "/_sim/groups/$parent/members" "{\"id\":\"$child\"}" >/dev/null
post "/_sim/groups/$child/members" "{\"id\":\"$parent\"}" >/dev/null   # a cycle
post "/_sim/groups/$child/members" "{\"id\":\"$alice\"}" >/dev/null
post "/_sim/groups/$parent/members" "{\"id\":\"$bob\"}" >/dev/null

mkdir -p "$work/etc"
printf 's3cret' >"$work/etc/contoso.secret"
chmod 600 "$work/etc/contoso.secret"
cat >"$work/etc/contoso.conf" <<CONF
[Tenant]
TenantId=00000000-0000-4000-8000-000000000001
ClientId=11111111-2222-3333-4444-555555555555
ClientSecretFile=$work/etc/contoso.secret
LoginEndpoint=$sim
GraphEndpoint=$sim
[Sync]
Interval=1h
RandomizedDelay=0
[Linux]
NameFrom=upn-local
IncludeGroups=Vault Users
HomeDirectory=/home/%u
Shell=/bin/sh
CONF
chmod 600 "$work/etc/contoso.conf"
sed -E 's/^(passwd|group):.*/\1: files systemd/' /etc/nsswitch.conf >"$work/nsswitch.conf"

export work bin sim bob parent
unshare --mount --propagation private bash -euo pipefail -c '
mount -t tmpfs tmpfs /run/systemd
mkdir -p /run/systemd/userdb
mount --bind "$work/nsswitch.conf" /etc/nsswitch.conf
"$bin/entra-syncd" --config-dir "$work/etc" --state-dir "$work/state" --socket "$work/ctl.sock" \
    --userdb-socket /run/systemd/userdb/io.entrasync >"$work/daemon.log" 2>&1 &
daemon=$!
trap "kill $daemon 2>/dev/null || true" EXIT
ctl() { ENTRA_SYNC_SOCKET="$work/ctl.sock" "$bin/entra-syncctl" "$@"; }
for _ in $(seq 1 100); do getent passwd alice >/dev/null && break; sleep 0.1; done
passed=0 failed=0
check() {
    local name="$1"; shift
    if out="$("$@" 2>&1)"; then echo "ok: $name"; passed=$((passed + 1)); else echo "FAIL: $name"; echo "$out" | sed "s/^/    /" | tail -20; failed=$((failed + 1)); fi
}
uid="$(getent passwd alice | cut -d: -f3)"
check "getent passwd alice" sh -c "getent passwd alice | grep -Eq \"^alice:x:[0-9]+:[0-9]+:Alice Example:/home/alice:/bin/sh\$\""
check "uid in the default range" sh -c "[ $uid -ge 1879113728 ] && [ $uid -le 1946157055 ]"
check "getent passwd by uid" sh -c "getent passwd $uid | grep -q ^alice:"
check "getent group vault-users lists nested members" sh -c "getent group vault-users | grep -Eq \"^vault-users:x:[0-9]+:(alice,bob|bob,alice)\$\""
check "id alice shows nested groups" sh -c "id alice | grep -q \"(vault-admins)\" && id alice | grep -q \"(vault-users)\" && id -gn alice | grep -qx alice"
check "a local name is never served" sh -c "[ \"\$(getent passwd root | cut -d: -f3)\" = 0 ] && [ \$(getent passwd | grep -c ^root:) = 1 ]"
check "chown and ls -l show the names" sh -c "f=\$(mktemp /var/tmp/es-userdb-file.XXXXXX); trap \"rm -f \$f\" EXIT; chown alice:vault-users \$f && ls -l \$f | grep -q \" alice vault-users \""
check "userdbctl user shows the record" sh -c "userdbctl --service=io.entrasync user alice | grep -q \"Real Name: Alice Example\""
check "userdbctl group shows the group" sh -c "userdbctl --service=io.entrasync group vault-users | grep -Eq \"GID: [0-9]+\""
check "userdbctl shows the disabled account locked" sh -c "userdbctl --service=io.entrasync -j user bob | grep -q \"\\\"locked\\\" *: *true\""
curl -sf -X DELETE "$sim/_sim/groups/$parent/members/$bob" >/dev/null
ctl run-now contoso --wait >/dev/null
check "a removed membership is gone after the next sync" sh -c "! getent group vault-users | grep -q bob && ! id bob | grep -q vault-users"
kill $daemon; wait $daemon || true
"$bin/entra-syncd" --config-dir "$work/etc" --state-dir "$work/state" --socket "$work/ctl.sock" \
    --userdb-socket /run/systemd/userdb/io.entrasync >>"$work/daemon.log" 2>&1 &
daemon=$!
trap "kill $daemon 2>/dev/null || true" EXIT
for _ in $(seq 1 100); do getent passwd alice >/dev/null && break; sleep 0.1; done
check "a restart keeps the uid" sh -c "[ \"\$(getent passwd alice | cut -d: -f3)\" = $uid ]"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] || { tail -20 "$work/daemon.log"; exit 1; }
'
