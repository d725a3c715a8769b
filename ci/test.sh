#!/usr/bin/env bash
# The test job: formatting, lints, and the whole test suite. As root it runs every check and
# every negative control for real; what cannot run here is skipped with a printed reason, and
# ISOPROBE_REQUIRE_ALL=1 turns every skip into a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
# The tests compare runc, crun, youki, bubblewrap and unshare with isoprobe's own spawner.
export ISOPROBE_SETUP_RUNTIMES=1
source ci/setup.sh
cargo fmt --all -- --check
cargo clippy --locked --all-targets -q -- -D warnings
cargo test --locked --workspace -- --nocapture
