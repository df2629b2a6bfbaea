#!/usr/bin/env bash
# Delivery benchmark, end to end: one campaign tick renders N accounts' first email into the
# outbox, then delivery sends them to Postfix's smtp-sink (installed with apt if missing), on
# SQLite and PostgreSQL; and N webhook deliveries to a local receiver. Uses the demo databases
# of bench/campaigns.sh (run that first). BENCH_CONCURRENCY overrides delivery.concurrency (default 16).
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-10000}"
PG_ADMIN="${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
PG="${PG_ADMIN%/*}/abm_bench_campaigns${BENCH_PG_PARAMS-?sslmode=disable}"
SQLITE="sqlite://bench-out/campaigns.db?mode=rwc"
[ -f bench-out/campaigns.db.done ] || { echo "run bench/campaigns.sh first" >&2; exit 2; }
if [ ! -x /usr/sbin/smtp-sink ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix >/dev/null
fi
cargo build --release --quiet --example bench_delivery
EX=target/release/examples/bench_delivery
port=2527
/usr/sbin/smtp-sink -u nobody "127.0.0.1:$port" 1000 &
sink=$!
trap 'kill "$sink" 2>/dev/null || true' EXIT
export ABM_LOG__LEVEL=warn ABM_EMAIL__SMTP_URL="smtp://127.0.0.1:$port"
echo "== SQLite, email, $N accounts"
ABM_DATABASE__URL="$SQLITE" $EX email "$N"
echo "== PostgreSQL, email, $N accounts"
ABM_DATABASE__URL="$PG" $EX email "$N"
echo "== SQLite, webhooks"
ABM_DATABASE__URL="$SQLITE" $EX webhook "$N"
echo "== PostgreSQL, webhooks"
ABM_DATABASE__URL="$PG" $EX webhook "$N"
