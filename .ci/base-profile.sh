#!/usr/bin/env bash
# The base install (`pip install benchctl`, no extra) in the active venv, from a fresh clone:
# every command that needs no extra works; those that do say which, in one line, exit 2.
set -euo pipefail
out="$(mktemp -d)"

run() { # run EXPECTED_EXIT benchctl ARGS...: exit code as expected, and never a traceback
  local expected=$1 code=0
  shift
  "$@" >"$out/stdout" 2>"$out/stderr" || code=$?
  if [ "$code" -ne "$expected" ] || grep -q "Traceback" "$out/stdout" "$out/stderr"; then
    echo "base profile: \`$*\` exited $code (expected $expected):" >&2
    cat "$out/stdout" "$out/stderr" >&2
    exit 1
  fi
}

for module in litellm prisma openai anthropic pytest fastapi uvicorn psycopg_pool; do
  if python -c "import $module" 2>/dev/null; then
    echo "base profile: $module is installed, so this venv proves nothing about the base" >&2
    exit 1
  fi
done

run 0 benchctl --version
run 0 benchctl --help
for command in validate plan apply force-unlock schemas sim collect purge-content up down \
  status report export import demo serve "session list" "session show" "session env" \
  "session rotate" "session add" "session finalize" "session abort" "db upgrade" "db url" \
  "db stop" "render litellm-config"; do
  # shellcheck disable=SC2086 # the subcommands are words
  run 0 benchctl $command --help
done
run 0 benchctl validate
run 0 benchctl schemas --check
run 0 benchctl render litellm-config
run 0 benchctl plan
grep -q "^Plan: " "$out/stdout"
run 0 benchctl db upgrade
run 0 benchctl db url
run 0 benchctl import artifacts/demo/data
run 0 benchctl report demo --check
run 0 benchctl export demo --out "$out/export"
run 0 benchctl session list
grep -q "sdk-sim-fast" "$out/stdout"
session="$(benchctl session list --json | python -c 'import json, sys; print(json.load(sys.stdin)[0]["id"])')"
run 0 benchctl session show "$session"
run 0 benchctl purge-content
# What cannot work here says so in one line and exits 2, having changed nothing.
run 2 benchctl collect         # no proxy and no LiteLLM database to collect from
run 2 benchctl session rotate "$session"   # imported sessions are finalized
run 0 benchctl force-unlock    # nothing holds the lock
run 0 benchctl status
grep -q "postgres" "$out/stdout"
for command in up demo; do
  run 2 benchctl "$command"
  [ "$(wc -l <"$out/stderr")" -eq 1 ] && grep -q "pip install 'benchctl\[proxy\]'" "$out/stderr" || {
    echo "base profile: \`benchctl $command\` should name the proxy extra in one line:" >&2
    cat "$out/stderr" >&2
    exit 1
  }
done
run 2 benchctl serve
[ "$(wc -l <"$out/stderr")" -eq 1 ] && grep -q "pip install 'benchctl\[serve\]'" "$out/stderr" || {
  echo "base profile: \`benchctl serve\` should name the serve extra in one line:" >&2
  cat "$out/stderr" >&2
  exit 1
}
run 0 benchctl down
echo "base profile: every base command works without an extra; up, demo and serve name theirs." >&2
