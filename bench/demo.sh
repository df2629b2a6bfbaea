#!/usr/bin/env bash
# Times `abm demo --accounts 100000` into a fresh SQLite file with the release binary.
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-100000}"
cargo build --release --quiet
mkdir -p bench-out
rm -f bench-out/demo.db*
/usr/bin/time -f "wall %e s, peak RSS %M KiB" env ABM_DATABASE__URL="sqlite://bench-out/demo.db?mode=rwc" \
  target/release/abm demo --accounts "$N" --seed 42 --end 2026-06-30
