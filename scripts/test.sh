#!/usr/bin/env bash
# The whole test suite: unit tests and end-to-end tests that run the simulator, the daemon and the client.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build --build-tests
swift test --skip-build "$@"
