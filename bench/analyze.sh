#!/usr/bin/env bash
# Offline analytics benchmark: `abm analyze` vs a straightforward pandas implementation of the
# same rules, on `abm demo` data (100,000 accounts, ~4.9 M orders), plus the BG/NBD fit time.
# Needs python3 with pandas (a venv under bench-out/ is created on first use).
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-100000}"
OUT=bench-out
cargo build --release --quiet
mkdir -p "$OUT"
CSV="$OUT/demo-orders-$N.csv"
[ -f "$CSV" ] || target/release/abm demo --accounts "$N" --seed 42 --end 2026-06-30 --orders-csv "$CSV" --csv-only
if [ ! -x "$OUT/venv/bin/python" ]; then
  python3 -m venv "$OUT/venv" && "$OUT/venv/bin/pip" install -q pandas
fi
echo "orders: $(($(wc -l < "$CSV") - 1))"
echo "== abm analyze (rules only)"
/usr/bin/time -f "wall %e s, peak RSS %M KiB" env ABM_ANALYTICS__CHURN_POLICY=rule \
  target/release/abm analyze --orders "$CSV" --out "$OUT/abm-analyze.csv" >/dev/null
echo "== abm analyze (rules + BG/NBD)"
/usr/bin/time -f "wall %e s, peak RSS %M KiB" target/release/abm analyze --orders "$CSV" --out "$OUT/abm-analyze.csv" >/dev/null
echo "== pandas"
/usr/bin/time -f "wall %e s, peak RSS %M KiB" "$OUT/venv/bin/python" bench/analyze_pandas.py "$CSV" "$OUT/pandas-analyze.csv"
echo "== BG/NBD fit (fit_ms excludes reading the CSV)"
target/release/abm churn fit --orders "$CSV" --calibration-end 2026-06-30 --unit weeks
