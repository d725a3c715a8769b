#!/usr/bin/env bash
# The main job: build isoprobe (with its static agent) and run the whole probe suite on this
# host with isoprobe's own spawner, negative controls included. Extra arguments go to
# `isoprobe run` (e.g. --format json). Exit code: isoprobe's (0 pass, 1 fail, 2 setup, 130 ^C).
set -euo pipefail
cd "$(dirname "$0")/.."
source ci/setup.sh
cargo build --release --locked -q -p isoprobe
exec target/release/isoprobe run --negative-controls "$@"
