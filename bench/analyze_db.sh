#!/usr/bin/env bash
# In-database analysis run on `abm demo` data (100,000 accounts, ~4.9 M orders) on SQLite and
# PostgreSQL: wall time and peak memory of `abm analyze` (no --orders = a stored run).
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-100000}"
PG_ADMIN="${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
cargo build --release --quiet
mkdir -p bench-out
BIN=target/release/abm
SQLITE="sqlite://bench-out/analyze-db.db?mode=rwc"
if [ ! -f bench-out/analyze-db.db ]; then
  ABM_DATABASE__URL="$SQLITE" $BIN demo --accounts "$N" --seed 42 --end 2026-06-30 >/dev/null
fi
echo "== SQLite"
/usr/bin/time -f "wall %e s, peak RSS %M KiB" env ABM_DATABASE__URL="$SQLITE" $BIN analyze
db=abm_bench_analyze
PG="${PG_ADMIN%/*}/$db${BENCH_PG_PARAMS-?sslmode=disable}"
if ! psql "$PG_ADMIN" -tAc "select 1 from pg_database where datname='$db'" | grep -q 1; then
  psql "$PG_ADMIN" -qc "CREATE DATABASE $db"
  ABM_DATABASE__URL="$PG" $BIN demo --accounts "$N" --seed 42 --end 2026-06-30 >/dev/null
fi
echo "== PostgreSQL"
/usr/bin/time -f "wall %e s, peak RSS %M KiB" env ABM_DATABASE__URL="$PG" $BIN analyze
