#!/bin/bash
# Oracle for wordfreq-shell: replace the workspace's (the cwd's) wordfreq.sh with the fixed one.
set -euo pipefail
cp "$BENCHCTL_SOLUTION_DIR/wordfreq.sh" wordfreq.sh
chmod +x wordfreq.sh
