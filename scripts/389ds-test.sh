#!/usr/bin/env bash
# The LDAP push against a real 389 Directory Server (Debian 389-ds-base): an instance is created with
# lib389 (what dscreate runs) into temporary directories, inside a private mount namespace whose
# /etc/dirsrv, /var/lib/dirsrv, /var/log/dirsrv and /run are the temporary ones (the host's stay as
# they are; no systemd), with entra-sync's 389 DS schema (packaging/ldap/99entra-sync.ldif), on a free
# port (the setup's own start listens on every address; it is restarted on 127.0.0.1 only). Then Ldap389DSTests run the basic cycle against it (create,
# update, rename, disable, membership, nested group, deprovision) and read it back with ldapsearch.
# The server is stopped by its PID. Needs root, 389-ds-base (scripts/install-deps.sh installs it) and the
# test build (swift build --build-tests); skipped, with the reason, without root or 389-ds-base.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
    echo "389ds-test: skipped: needs root (a private mount namespace and the dirsrv user)"
    exit 0
fi
if [ ! -x /usr/sbin/ns-slapd ] || ! /usr/bin/python3 -c 'import lib389' 2>/dev/null; then
    echo "389ds-test: skipped: 389 Directory Server is not installed (scripts/install-deps.sh installs 389-ds-base)"
    exit 0
fi

if [ "${ENTRA_389DS_INSIDE:-}" != "yes" ]; then
    if ! unshare --mount --propagation private true 2>/dev/null; then
        echo "389ds-test: skipped: cannot create a mount namespace (unshare --mount)"
        exit 0
    fi
    work=$(mktemp -d /tmp/entra-389ds.XXXXXX)
    trap 'rm -rf "$work"' EXIT
    status=0
    ENTRA_389DS_INSIDE=yes ENTRA_389DS_WORK="$work" unshare --mount --propagation private -- "$0" || status=$?
    exit $status
fi

# Inside the private mount namespace from here on.
work=$ENTRA_389DS_WORK
instance=entra
mkdir -p "$work/etc" "$work/lib" "$work/log"
cp -a /etc/dirsrv/. "$work/etc/"
install -m 0644 packaging/ldap/99entra-sync.ldif "$work/etc/schema/99entra-sync.ldif"
chown -R dirsrv:dirsrv "$work/etc" "$work/lib" "$work/log"
mount --bind "$work/etc" /etc/dirsrv
mount --bind "$work/lib" /var/lib/dirsrv
mount --bind "$work/log" /var/log/dirsrv
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -m 1777 /run/lock

port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
password_file="$work/bind.pw"
(umask 077; openssl rand -hex 16 | tr -d '\n' >"$password_file")
suffix="dc=example,dc=test"
root_dn="cn=Directory Manager"
cat >"$work/instance.inf" <<EOF
[general]
config_version = 2
full_machine_name = localhost
strict_host_checking = False
selinux = False
systemd = False
start = True

[slapd]
instance_name = $instance
port = $port
secure_port = 0
self_sign_cert = False
root_dn = $root_dn
root_password = $(cat "$password_file")
initconfig_dir = $work/etc

[backend-userroot]
suffix = $suffix
create_suffix_entry = True
sample_entries = no
EOF
chmod 600 "$work/instance.inf"

pid_file=/run/dirsrv/slapd-$instance.pid
stop_server() {
    [ -s "$pid_file" ] || return 0
    local pid
    pid=$(cat "$pid_file")
    kill "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
}
trap stop_server EXIT

started=$(date +%s)
# dscreate from-file, without systemd: lib389 starts ns-slapd itself when told there is none.
/usr/bin/python3 - "$work/instance.inf" <<'EOF'
import logging, sys
import lib389
from lib389.instance.setup import SetupDs
lib389.DirSrv.with_systemd = lambda self: False
logging.basicConfig(level=logging.WARNING, format="389ds-test: %(message)s")
sys.exit(0 if SetupDs(False, False, logging.getLogger("dscreate")).create_from_inf(sys.argv[1]) else 1)
EOF
# Loopback only from now on, and the access log at once (the test reads what reached the server).
ldapmodify -x -H "ldap://127.0.0.1:$port" -D "$root_dn" -y "$password_file" >/dev/null <<EOF
dn: cn=config
changetype: modify
replace: nsslapd-listenhost
nsslapd-listenhost: 127.0.0.1
-
replace: nsslapd-accesslog-logbuffering
nsslapd-accesslog-logbuffering: off
EOF
stop_server
/usr/sbin/ns-slapd -D "/etc/dirsrv/slapd-$instance" -i "$pid_file" >"$work/start.log" 2>&1 || { cat "$work/start.log"; exit 1; }
for _ in $(seq 1 100); do
    ldapsearch -x -H "ldap://127.0.0.1:$port" -D "$root_dn" -y "$password_file" -b "$suffix" -s base 1.1 >/dev/null 2>&1 && break
    sleep 0.1
done
echo "389ds-test: 389 Directory Server $(/usr/sbin/ns-slapd -v 2>/dev/null | sed -n 's|^389-Directory/\([^ ]*\).*|\1|p' | head -1) on 127.0.0.1:$port, ready in $(( $(date +%s) - started )) s"

out="$work/test.out"
status=0
ENTRA_TEST_389DS_URI="ldap://127.0.0.1:$port" ENTRA_TEST_389DS_BINDDN="$root_dn" ENTRA_TEST_389DS_PASSWORD_FILE="$password_file" \
    ENTRA_TEST_389DS_SUFFIX="$suffix" ENTRA_TEST_389DS_ACCESS_LOG="/var/log/dirsrv/slapd-$instance/access" \
    swift test --skip-build --filter Ldap389DSTests >"$out" 2>&1 || status=$?
grep -E "✘|✔ Suite|error:" "$out" || true
# A filter that matched nothing would pass too: the suite must have run.
if [ $status -ne 0 ] || ! grep -q 'Suite "LDAP push against 389 Directory Server" passed' "$out"; then
    tail -60 "$out"
    echo "389ds-test: FAILED" >&2
    exit 1
fi
echo "389ds-test: passed ($(( $(date +%s) - started )) s)"
