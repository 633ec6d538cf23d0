#!/usr/bin/env bash
# The Active Directory tests (Schema=activedirectory) against a real Samba AD domain controller.
#
# A domain (ENTRA.TEST, RFC 2307 attributes) is provisioned into a temporary directory and Samba
# runs in the foreground with only its LDAP server, inside a private network and mount namespace:
# it has 127.0.0.1:389/636 to itself and writes nothing outside the temporary directory (its /var
# paths are private tmpfs mounts). Its certificate comes from a test CA and names IP 127.0.0.1.
# Then the tests that need it (`swift test --skip-build --filter ActiveDirectory`, given
# ENTRA_SAMBA_DC) run inside that namespace, and Samba is stopped by its PID.
#
# Run after `swift build --build-tests`; extra arguments go to `swift test`. Needs root (unshare)
# and Debian's samba (scripts/install-deps.sh); skips, saying why, without them. About 30 s.
set -euo pipefail
self="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
cd "$(dirname "$self")/.."

if [ "${1:-}" != "--inside" ]; then
    if [ "$(id -u)" -ne 0 ]; then echo "samba-ad-test: skipped: needs root for a private network namespace"; exit 0; fi
    if ! command -v samba-tool >/dev/null || ! command -v samba >/dev/null; then
        echo "samba-ad-test: skipped: samba is not installed (scripts/install-deps.sh)"; exit 0
    fi
    if ! unshare --net --mount true 2>/dev/null; then echo "samba-ad-test: skipped: unshare --net --mount is not permitted here"; exit 0; fi
    exec unshare --net --mount "$self" --inside "$@"
fi
shift

ip link set lo up
work="$(mktemp -d /tmp/entra-samba.XXXXXX)"
samba_pid=""
cleanup() {
    if [ -n "$samba_pid" ]; then
        # Samba runs in a process group of its own (setsid): its workers go with it. Bounded wait
        # until the whole group has exited, so nothing writes into the directory being removed.
        kill -TERM -- "-$samba_pid" 2>/dev/null || true
        wait "$samba_pid" 2>/dev/null || true
        for _ in $(seq 1 100); do
            kill -0 -- "-$samba_pid" 2>/dev/null || break
            sleep 0.05
        done
        kill -KILL -- "-$samba_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
# Whatever Samba writes under /var or /run stays in this namespace.
for d in /var/lib/samba /var/cache/samba /var/log/samba /run/samba; do
    if [ -d "$d" ]; then mount -t tmpfs tmpfs "$d"; fi
done

password="Entra-$(openssl rand -hex 12)-Test1"
printf '%s' "$password" > "$work/admin.pw"
chmod 600 "$work/admin.pw"

echo "samba-ad-test: provisioning ENTRA.TEST in $work"
samba-tool domain provision --targetdir="$work/dc" --realm=ENTRA.TEST --domain=ENTRA --server-role=dc \
    --dns-backend=NONE --use-rfc2307 --host-name=dc1 --adminpass="$password" \
    --option="interfaces=lo" --option="bind interfaces only=yes" >"$work/provision.log" 2>&1 \
    || { tail -20 "$work/provision.log"; exit 1; }

# A test CA and a certificate for IP 127.0.0.1 (as the slapd tests make them).
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/ca.key" -out "$work/ca.pem" -days 2 -subj "/CN=entra-sync test CA" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout "$work/server.key" -out "$work/server.csr" -subj "/CN=127.0.0.1" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$work/server.ext"
openssl x509 -req -in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial -out "$work/server.pem" \
    -days 2 -extfile "$work/server.ext" 2>/dev/null
chmod 600 "$work/server.key"

# Only what LDAP needs; every path inside the temporary directory.
dc="$work/dc"
cat >"$dc/etc/smb.conf" <<EOF
[global]
	netbios name = DC1
	realm = ENTRA.TEST
	workgroup = ENTRA
	server role = active directory domain controller
	server services = ldap
	interfaces = lo
	bind interfaces only = yes
	private dir = $dc/private
	lock directory = $dc
	state directory = $dc/state
	cache directory = $dc/cache
	pid directory = $dc
	ncalrpc dir = $dc/ncalrpc
	binddns dir = $dc/bind-dns
	winbindd socket directory = $dc/winbindd
	log file = $work/samba.log
	idmap_ldb:use rfc2307 = yes
	tls enabled = yes
	tls keyfile = $work/server.key
	tls certfile = $work/server.pem
	tls cafile = $work/ca.pem
EOF

setsid samba -i -s "$dc/etc/smb.conf" --debuglevel=0 >"$work/samba.out" 2>&1 &
samba_pid=$!
ready=""
for _ in $(seq 1 300); do
    if LDAPTLS_CACERT="$work/ca.pem" ldapsearch -x -H ldaps://127.0.0.1 -D "CN=Administrator,CN=Users,DC=entra,DC=test" -y "$work/admin.pw" \
        -b "" -s base "(objectClass=*)" 1.1 >/dev/null 2>&1; then
        ready=1
        break
    fi
    kill -0 "$samba_pid" 2>/dev/null || break
    sleep 0.1
done
if [ -z "$ready" ]; then
    echo "samba-ad-test: the domain controller did not answer on ldaps://127.0.0.1 within 30 s" >&2
    tail -20 "$work/samba.out" "$work/samba.log" 2>/dev/null >&2 || true
    exit 1
fi
echo "samba-ad-test: Samba AD DC answers on ldaps://127.0.0.1 (pid $samba_pid)"

# One domain for all: its sAMAccountNames and UPNs are unique domain-wide, so the suites take turns.
ENTRA_SAMBA_DC="$work" swift test --skip-build --no-parallel --filter ActiveDirectory "$@"
