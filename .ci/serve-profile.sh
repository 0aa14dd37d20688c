#!/usr/bin/env bash
# The serve install (`pip install 'benchctl[serve]'`) in the active venv, from a fresh clone: the
# demo's committed data imported into the embedded database, `benchctl serve` started as a user
# starts it, and its API and pages answering; without a token it refuses a non-loopback address.
set -euo pipefail
out="$(mktemp -d)"
port=18080

if python -c "import litellm" 2>/dev/null || python -c "import pytest" 2>/dev/null; then
  echo "serve profile: litellm or pytest is installed, so this venv proves nothing about serve" >&2
  exit 1
fi
benchctl import artifacts/demo/data
if BENCHCTL_SERVE_TOKEN="" benchctl serve --host 0.0.0.0 2>"$out/refused"; then
  echo "serve profile: \`benchctl serve --host 0.0.0.0\` without a token should refuse" >&2
  exit 1
fi
grep -q "BENCHCTL_SERVE_TOKEN" "$out/refused"
benchctl serve --port "$port" 2>"$out/serve.log" &
server=$!
trap 'kill "$server" 2>/dev/null || true; benchctl db stop >/dev/null 2>&1 || true' EXIT
for _ in $(seq 1 60); do
  curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.5
done
fetch() { curl -fsS "http://127.0.0.1:$port$1" -o "$out/body"; }
fetch /api/v1/experiments
python -c "import json, sys; d = json.load(open(sys.argv[1])); assert d['experiments'][0]['name'] == 'demo', d" "$out/body"
fetch /api/v1/experiments/demo/report
cmp "$out/body" artifacts/demo/report.json
fetch /experiments/demo
grep -q "<h1>demo" "$out/body"
session="$(curl -fsS "http://127.0.0.1:$port/api/v1/sessions?limit=1" | python -c 'import json, sys; print(json.load(sys.stdin)["sessions"][0]["session_id"])')"
fetch "/sessions/$session"
grep -q "Timeline" "$out/body"
echo "serve profile: the API and the viewer answered over the demo's data" >&2
