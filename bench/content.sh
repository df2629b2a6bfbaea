#!/usr/bin/env bash
# Content engine benchmark: rule evaluation (100,000 accounts × a 10-condition rule) and
# template selection + rendering with the shipped library (emails/s on one core and on all),
# then — when bench/analyze_db.sh has built its demo database — `abm segments recompute` on it
# (loading the facts of 100,000 accounts and rewriting the 14 built-in segments).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --release --quiet --example bench_content -- "${1:-100000}" "${2:-200000}"
if [ -f bench-out/analyze-db.db ]; then
  cargo build --release --quiet
  echo "== abm segments recompute on bench-out/analyze-db.db"
  /usr/bin/time -f "wall %e s, peak RSS %M KiB" env ABM_DATABASE__URL="sqlite://bench-out/analyze-db.db" \
    target/release/abm segments recompute | tail -3
fi
