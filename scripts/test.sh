#!/usr/bin/env bash
# The whole test suite: installs the pinned test servers and reference tools (cached, so
# a second run skips straight to the tests), then runs every test of the workspace against
# them. Set LOCKSTEP_REQUIRE_SERVERS=1 to make a missing server fail its tests instead of
# skipping them loudly (.ci/run does).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/install-testenv.sh
cargo test --workspace --locked "$@"
