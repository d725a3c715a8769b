#!/usr/bin/env bash
# Replaces the generated block NAME of README.md (between `<!-- NAME:begin -->` and
# `<!-- NAME:end -->`) with a comment line saying where it came from and the contents of FILE.
# Shared by the ci/update-readme-*.sh scripts. Usage: ci/readme-block.sh NAME COMMENT FILE
set -euo pipefail
cd "$(dirname "$0")/.."
python3 - "$@" <<'PY'
import sys
name, comment, path = sys.argv[1:4]
content = open(path).read().rstrip("\n")
readme = open("README.md").read()
begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
i, j = readme.index(begin) + len(begin), readme.index(end)
block = f"\n<!-- {comment} -->\n{content}\n"
open("README.md", "w").write(readme[:i] + block + readme[j:])
PY
