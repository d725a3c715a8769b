#!/usr/bin/env bash
# The test job: formatting, lints, and the whole test suite. As root it runs every check and
# every negative control for real; what cannot run here is skipped with a printed reason, and
# ISOPROBE_REQUIRE_ALL=1 turns every skip into a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
# The tests compare runc, crun, youki, bubblewrap and unshare with isoprobe's own spawner.
export ISOPROBE_SETUP_RUNTIMES=1
source ci/setup.sh
# The example crate depends on isoprobe by path as an outside crate would, so it is not a
# workspace member: it gets its own fmt, clippy and test, built into the workspace's target
# directory so that nothing is built twice.
example=(--manifest-path examples/runtime-ci/Cargo.toml)
cargo fmt --all -- --check
cargo fmt "${example[@]}" -- --check
cargo clippy --locked --all-targets -q -- -D warnings
CARGO_TARGET_DIR="$PWD/target" cargo clippy --locked "${example[@]}" --all-targets -q -- -D warnings
cargo test --locked --workspace -- --nocapture
CARGO_TARGET_DIR="$PWD/target" cargo test --locked "${example[@]}" -- --nocapture
# After the whole suite: no isoprobe cgroup, mount, temporary directory, record, runtime
# container, process or network interface is left on the machine.
bash ci/assert-clean.sh
