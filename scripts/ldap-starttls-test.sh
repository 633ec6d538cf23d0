#!/usr/bin/env bash
# StartTLS to a non-loopback LDAP server, for real: in a private network namespace (the host's network is
# not touched) 192.0.2.10 (TEST-NET-1, RFC 5737) goes on the namespace's own loopback interface, and
# LdapStartTLSTests start slapd there with a certificate for that address from a test CA: the push goes
# through StartTLS, and fails clearly, with no bind sent, when the certificate does not verify or the
# server offers no StartTLS. Needs the test build (swift build --build-tests) and root, or unprivileged
# user namespaces; skipped (exit 0, with the reason) where neither is available.
set -euo pipefail
cd "$(dirname "$0")/.."
address=192.0.2.10
unshare=(unshare --net)
[ "$(id -u)" -eq 0 ] || unshare=(unshare --user --map-root-user --net)
if ! "${unshare[@]}" true 2>/dev/null; then
    echo "ldap-starttls-test: skipped: cannot create a network namespace (${unshare[*]})"
    exit 0
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
status=0
"${unshare[@]}" -- env ENTRA_TEST_LDAP_NONLOOPBACK="$address" bash -c \
    "ip link set lo up && ip addr add $address/32 dev lo && exec swift test --skip-build --filter LdapStartTLSTests" >"$out" 2>&1 || status=$?
grep -E "✘|✔ Suite|error" "$out" || true
# A filter that matched nothing would pass too: the suite must have run.
if [ $status -ne 0 ] || ! grep -q 'Suite "LDAP StartTLS to a non-loopback address" passed' "$out"; then
    tail -50 "$out"
    echo "ldap-starttls-test: FAILED" >&2
    exit 1
fi
echo "ldap-starttls-test: passed"
