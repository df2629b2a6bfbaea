#!/usr/bin/env bash
# Import benchmark: 1,000,000 (and 2,000,000, to show memory stays flat) orders from CSV into
# SQLite and PostgreSQL with the release binary. Prints rows/s and peak memory (max RSS).
#
#   bench/import.sh                      # both databases
#   BENCH_PG_URL=postgres://... bench/import.sh
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=bench-out
PG_ADMIN="${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
SIZES="${BENCH_SIZES:-1000000 2000000}"
cargo build --release --quiet
mkdir -p "$OUT"
for n in $SIZES; do
  [ -f "$OUT/orders-$n.csv" ] || python3 bench/gen_orders.py "$OUT" --accounts 20000 --orders "$n"
done
BIN=target/release/abm
run() { # label, database url, file
  local label=$1 url=$2 file=$3
  ABM_DATABASE__URL="$url" $BIN import accounts "$OUT/accounts.csv" --no-progress >/dev/null
  /usr/bin/time -f "%M" -o "$OUT/rss" env ABM_DATABASE__URL="$url" $BIN import orders "$file" --no-progress | tee "$OUT/last"
  echo "$label $(basename "$file"): peak RSS $(( $(cat "$OUT/rss") / 1024 )) MiB"
}
for n in $SIZES; do
  rm -f "$OUT/bench.db"*
  run sqlite "sqlite://$OUT/bench.db?mode=rwc" "$OUT/orders-$n.csv"
  db="abm_bench_$$"
  psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
  run postgres "${PG_ADMIN%/*}/$db${BENCH_PG_PARAMS-?sslmode=disable}" "$OUT/orders-$n.csv"
  psql "$PG_ADMIN" -qc "DROP DATABASE $db WITH (FORCE)" >/dev/null
done
