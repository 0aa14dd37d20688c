#!/usr/bin/env bash
# Refresh the dependency locks in requirements/ from pyproject.toml, one per install profile.
#
#   pip install uv && scripts/lock.sh            # keep pins, add what pyproject.toml newly needs
#   scripts/lock.sh --upgrade                    # move every pin to the newest allowed release
#   scripts/lock.sh --upgrade-package litellm    # move one
#
# Each lock is universal (every platform and Python >= 3.11) and carries hashes, so
# `pip install -r requirements/<profile>.txt` installs exactly what CI tested. Commit the result
# with the tests green: `.ci/run` installs every profile from these files.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v uv >/dev/null || { echo "lock: uv is missing; pip install uv" >&2; exit 1; }

compile() {
  local out=$1
  shift
  uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes \
    --no-header --quiet "$@" -o "requirements/$out.txt" "${EXTRA_ARGS[@]}"
}
EXTRA_ARGS=("$@")
compile base                                # pip install benchctl
compile proxy --extra proxy                 # + the local stack and the demo
compile dev --extra dev                     # + lint, types, tests (README's test command)
compile serve --extra serve                 # + `benchctl serve`
compile all --extra dev --extra proxy --extra serve # everything: CI's full test run
# Harness CLIs the tests run headless, each in a venv of its own (they pin their own litellm).
for harness in requirements/harnesses/*.in; do
  uv pip compile "$harness" --universal --python-version 3.11 --generate-hashes --no-header \
    --quiet -o "${harness%.in}.txt" "${EXTRA_ARGS[@]}"
done
echo "lock: requirements/{base,proxy,serve,dev,all}.txt and requirements/harnesses/ refreshed" >&2
