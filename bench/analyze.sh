#!/usr/bin/env bash
# Offline analytics benchmark: `abm analyze` vs a straightforward pandas implementation of the
# same rules (bench/analyze_pandas.py), on two inputs of 100,000 accounts:
#   1. `abm demo` data: ~4.9 M orders, each account's orders together (as exports usually are);
#   2. bench/gen_orders.py data: 5.7 M orders in random account order (no locality at all).
# Then the BG/NBD fit time, and the Python package lifetimes fitting the same. usage: bench/analyze.sh [ACCOUNTS] [GENERATED_ORDERS]
# Needs python3 with pandas (a venv under bench-out/ is created on first use).
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-100000}"
M="${2:-5700000}"
OUT=bench-out
cargo build --release --quiet
mkdir -p "$OUT"
DEMO="$OUT/demo-orders-$N.csv"
[ -f "$DEMO" ] || target/release/abm demo --accounts "$N" --seed 42 --end 2026-06-30 --orders-csv "$DEMO" --csv-only
GEN="$OUT/gen-$N/orders-$M.csv"
[ -f "$GEN" ] || python3 bench/gen_orders.py "$OUT/gen-$N" --accounts "$N" --orders "$M" --seed 7
if [ ! -x "$OUT/venv/bin/python" ]; then
  python3 -m venv "$OUT/venv" && "$OUT/venv/bin/pip" install -q pandas
fi
RUNS="${RUNS:-3}"
# One untimed warm-up, then $RUNS timed runs. (On a VM the first process to touch memory the
# host has not backed yet pays for it in system time: the warm-up keeps that out of the figures.)
runs() {
  "$@" >/dev/null
  for _ in $(seq "$RUNS"); do
    /usr/bin/time -f "  wall %e s (user %U s, sys %S s), peak RSS %M KiB" "$@" >/dev/null
  done
}
for CSV in "$DEMO" "$GEN"; do
  echo "### $CSV: $(($(wc -l < "$CSV") - 1)) orders"
  echo "== abm analyze (rules only, as pandas)"
  runs env ABM_ANALYTICS__CHURN_POLICY=rule \
    target/release/abm analyze --orders "$CSV" --out "$OUT/abm-analyze.csv"
  echo "== abm analyze (rules + BG/NBD, the default)"
  runs target/release/abm analyze --orders "$CSV" --out "$OUT/abm-analyze.csv"
  echo "== pandas"
  runs "$OUT/venv/bin/python" bench/analyze_pandas.py "$CSV" "$OUT/pandas-analyze.csv"
done
echo "== BG/NBD fit on the demo data (fit_ms excludes reading the CSV), then lifetimes on the same"
for _ in 1 2 3; do
  target/release/abm churn fit --orders "$DEMO" --calibration-end 2026-06-30 --unit weeks
done
"$OUT/venv/bin/python" -c "import lifetimes" 2>/dev/null || "$OUT/venv/bin/pip" install -q lifetimes
"$OUT/venv/bin/python" -W ignore bench/fit_lifetimes.py "$DEMO" 2026-06-30 2
