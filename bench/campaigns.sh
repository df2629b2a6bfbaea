#!/usr/bin/env bash
# Campaign dispatcher benchmark: one tick enrols N accounts of an `abm demo` database (an
# explicit account list) and writes each one's first rendered email to the outbox, on SQLite
# and PostgreSQL, for 10,000 and 100,000 accounts: messages/s and peak RSS.
# The demo databases are built once under bench-out/ (and in a scratch PostgreSQL database).
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-100000}"
PG_ADMIN="${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
cargo build --release --quiet --example bench_campaigns
cargo build --release --quiet
mkdir -p bench-out
BIN=target/release/abm
EX=target/release/examples/bench_campaigns
SQLITE="sqlite://bench-out/campaigns.db?mode=rwc"
if [ ! -f bench-out/campaigns.db.done ]; then
  rm -f bench-out/campaigns.db*
  ABM_DATABASE__URL="$SQLITE" $BIN demo --accounts "$N" --seed 42 --end 2026-06-30 >/dev/null
  touch bench-out/campaigns.db.done
fi
db=abm_bench_campaigns
PG="${PG_ADMIN%/*}/$db${BENCH_PG_PARAMS-?sslmode=disable}"
if ! psql "$PG_ADMIN" -tAc "select 1 from pg_database where datname='$db'" | grep -q 1; then
  psql "$PG_ADMIN" -qc "CREATE DATABASE $db"
fi
# (Re)build the demo data unless a complete run left it there.
if [ "$(psql "${PG_ADMIN%/*}/$db" -tAc "select count(*) from accounts" 2>/dev/null || echo 0)" -lt "$N" ]; then
  psql "$PG_ADMIN" -qc "DROP DATABASE $db" && psql "$PG_ADMIN" -qc "CREATE DATABASE $db"
  ABM_DATABASE__URL="$PG" $BIN demo --accounts "$N" --seed 42 --end 2026-06-30 >/dev/null
fi
for n in 10000 "$N"; do
  echo "== SQLite, $n accounts"
  ABM_DATABASE__URL="$SQLITE" ABM_LOG__LEVEL=warn $EX "$n"
  echo "== PostgreSQL, $n accounts"
  ABM_DATABASE__URL="$PG" ABM_LOG__LEVEL=warn $EX "$n"
done
