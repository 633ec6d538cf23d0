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
    # The ThreadSanitizer pass (scripts/sanitizer-test.sh thread) is not run here for now: Swift's
    # Synchronization.Mutex takes a contended lock through a priority-inheritance futex, a hand-over
    # in the kernel that ThreadSanitizer does not see, so every contended Mutex shows as a race
    # (148 such reports on this tree, all on correctly locked state). Run it by hand; it belongs
    # back here once the locks are pthread-based (NSLock), which ThreadSanitizer understands.
    # System tests under a real systemd (skipped, with the reason, where namespaces are not available).
    scripts/system-test.sh
fi
