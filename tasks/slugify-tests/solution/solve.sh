#!/bin/bash
# Oracle for slugify-tests: install the reference test file into the workspace (the cwd).
set -euo pipefail
mkdir -p tests
cp "$BENCHCTL_SOLUTION_DIR/test_slugify.py" tests/test_slugify.py
