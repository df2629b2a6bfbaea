#!/usr/bin/env bash
# Schema-driven API fuzzing: starts `abm serve` on a fresh SQLite file with demo data and an
# analysis run, then lets schemathesis send schema-valid and invalid requests built from
# /api/v1/openapi.json for a bounded time. Fails on a 5xx, an undocumented status code or
# content type, or a response that does not match its schema.
# Usage: .ci/fuzz.sh [SECONDS]   (needs python3; installs schemathesis in a venv once)
# FUZZ_PORT and FUZZ_VENV override the port (18187) and the venv folder; they are not ABM_*
# variables, which abm itself would read as settings.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-120}"
work="$(mktemp -d)"
venv="${FUZZ_VENV:-${TMPDIR:-/tmp}/abm-schemathesis-venv}"
if [ ! -x "$venv/bin/schemathesis" ]; then
  if ! python3 -m venv "$venv" 2>/dev/null; then
    # Debian splits venv support out of python3.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv "$venv"
  fi
  "$venv/bin/pip" install --quiet schemathesis
fi
cargo build --locked --quiet
bin=target/debug/abm
port="${FUZZ_PORT:-18187}"
export ABM_DATABASE__URL="sqlite://$work/abm.db?mode=rwc" ABM_SERVER__PORT="$port" ABM_LOG__LEVEL=error
"$bin" migrate >/dev/null
"$bin" demo --accounts 200 --seed 7 >/dev/null 2>&1
token="$("$bin" token create --name fuzz 2>/dev/null)"
"$bin" analyze >/dev/null
"$bin" serve --role api >"$work/serve.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1 && break
  sleep 0.2
done
# One worker: two at once make SQLite answer 503 busy by design (retry later), which the
# not_a_server_error check counts as a failure.
# Run from the scratch folder: schemathesis keeps a cache in its working directory.
(cd "$work" && "$venv/bin/schemathesis" run "http://127.0.0.1:$port/api/v1/openapi.json" \
  -H "Authorization: Bearer $token" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --max-time "$seconds" --workers 1 --seed 1)
kill -TERM "$pid"
wait "$pid"
echo "fuzz: the server shut down cleanly"
