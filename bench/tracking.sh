#!/usr/bin/env bash
# Tracking endpoints under load: `abm serve` (release) on a fresh SQLite file, wrk (installed
# with apt if missing) GETs signed open links, then click links, of 1,000 delivered emails:
# first as fast as the server answers (DURATION seconds, CONNECTIONS connections), then paced
# at RATE requests/s (default 30,000: the target) over 64 connections for DURATION seconds.
# Then the server is stopped gracefully and every request wrk counted must be an event in the
# database. Prints wrk's figures (requests/s, latency percentiles) and whether each paced run
# met the target (RATE requests/s, p99 under 10 ms).
# usage: bench/tracking.sh [DURATION] [CONNECTIONS] [RATE]   (defaults 20 s, 32, 30000)
# BENCH_DB overrides the database URL (e.g. PostgreSQL: postgres://…/abm_bench_tracking).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-20}"
CONNS="${2:-32}"
RATE="${3:-30000}"
mkdir -p bench-out
command -v wrk >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
cargo build --release --quiet --bin abm --example bench_tracking
export ABM_DATABASE__URL="${BENCH_DB:-sqlite://bench-out/tracking.db?mode=rwc}"
export ABM_TRACKING__SECRET="bench-tracking-secret-0123456789"
export ABM_LOG__LEVEL=warn ABM_SERVER__HOST=127.0.0.1 ABM_SERVER__PORT="${BENCH_PORT:-18093}"
export ABM_DELIVERY__SEND_LOOP=false
target/release/examples/bench_tracking prepare 1000 bench-out/links.txt
target/release/abm serve --role api &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$ABM_SERVER__PORT/health/ready" >/dev/null && break
  sleep 0.1
done
total=0
slack=0
verdict=()
run() { # KIND LABEL CONNECTIONS [RATE]
  echo "== GET /t/$1/{token}: $2, ${DURATION}s, $3 connections, 1 wrk thread"
  out=$(LINKS=bench-out/links.txt KIND=$1 RATE=${4:-0} wrk -t1 -c"$3" -d"${DURATION}s" --latency \
    -s bench/tracking.lua "http://127.0.0.1:$ABM_SERVER__PORT")
  echo "$out"
  if grep -q "Non-2xx or 3xx" <<<"$out"; then echo "FAIL: error responses" >&2; exit 1; fi
  n=$(awk '/requests in/ {print $1}' <<<"$out")
  total=$((total + n))
  slack=$((slack + $3))
  if [ -n "${4:-}" ]; then
    rps=$(awk '/Requests\/sec/ {printf "%d", $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    # wrk prints us, ms or s; p99 under 10 ms means a us figure or an ms figure below 10.
    ok=$(awk -v p="$p99" -v r="$rps" -v want="$4" 'BEGIN {
      v = p + 0; if (p ~ /ms$/) v *= 1000; else if (p ~ /[^m]s$/) v *= 1000000;
      print (v < 10000 && r >= want * 0.98) ? "met" : "NOT met" }')
    verdict+=("/t/$1/: $rps requests/s paced at $4, p99 $p99: target $ok")
  fi
}
for kind in o c; do
  run "$kind" "as fast as answered" "$CONNS"
  run "$kind" "paced at $RATE requests/s" 64 "$RATE"
done
kill -TERM "$server"
wait "$server" || true
trap - EXIT
read -r opens clicks < <(target/release/examples/bench_tracking count)
events=$((opens + clicks))
echo "== persisted: $opens opens + $clicks clicks = $events events for $total answered requests"
# wrk does not count requests still in flight when it stops; the server may have answered them.
[ "$events" -ge "$total" ] && [ "$events" -le "$((total + slack))" ] ||
  { echo "FAIL: events and requests disagree" >&2; exit 1; }
printf '== %s\n' "${verdict[@]}"
