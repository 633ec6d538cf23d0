#!/usr/bin/env bash
# The whole test suite: unit tests and end-to-end tests that run the simulator, the daemon and the client.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build --build-tests
swift test --skip-build "$@"
if [ $# -eq 0 ]; then
    # Linux identities through nss-systemd and userdbctl in a private mount namespace (a few seconds).
    scripts/userdb-nss-test.sh
    # StartTLS to a non-loopback slapd, inside a private network namespace (a few seconds).
    scripts/ldap-starttls-test.sh
    # The LDAP push against a 389 Directory Server it creates in a private mount namespace (about 30 s).
    scripts/389ds-test.sh
    # Schema=activedirectory against a Samba AD domain controller in a private network namespace (about 30 s).
    scripts/samba-ad-test.sh
    # The end-to-end tests again with ThreadSanitizer (the locks are pthread mutexes, `Locked`, which
    # it understands; Synchronization.Mutex's priority-inheritance hand-over it does not).
    scripts/sanitizer-test.sh thread
    # System tests under a real systemd (skipped, with the reason, where namespaces are not available).
    scripts/system-test.sh
fi
