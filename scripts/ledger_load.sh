#!/usr/bin/env bash
# Ledger-mode load figures for the README, with the real binary on loopback (127.0.0.1).
#
#   scripts/ledger_load.sh                     # all steps, about 2 minutes plus the build
#   ACCOUNTS=2000 scripts/ledger_load.sh       # a smaller class
#   KEEP_WORK=1 scripts/ledger_load.sh         # keep logs, data directories and summaries
#
# One genesis of ACCOUNTS accounts (`pos-lottery genesis`), then, each against a fresh server
# (GENESIS set, its own DATA_DIR, HTTP off):
#   1. logins: ACCOUNTS bots (`simulate --keys-dir`) connect at once, each signs its challenge
#      (the server checks every signature), stakes and proposes every round: joins/s and
#      exactly-once delivery to every authenticated connection;
#   2. transfers: the same bots also send TRANSFER_RATE signed transfers/s in all over their
#      sessions for TRANSFER_SECS (ROUND_SECS=2, so ~10,000 transfers a block at 5,000/s):
#      accepted/s, and per block the transactions and the time from the round's tick to its
#      announcement (draw, durable draw/transactions/block lines, pool truncated), from the
#      server's `block appended` log lines (`close_us`);
#   3. replay: `pos-lottery verify` on step 2's directory: every block, draw and reveal, and
#      the ledger with every transfer signature; transfers replayed per second;
#   4. HTTP: `examples/transfers_load.rs` POSTs HTTP_TRANSFERS pre-signed transfers from 600
#      accounts over 48 keep-alive connections to a fresh server: accepted/s (each 202 after
#      the pool log's shared fsync).
#
# The client shares the machine (and its cores) with the server: every figure includes the
# bots' signing and reading. Needs bash, cargo, jq and Linux.
set -euo pipefail

cd "$(dirname "$0")/.."
TARGET_DIR="${CARGO_TARGET_DIR:-./target}"
ACCOUNTS="${ACCOUNTS:-10000}"
JOIN_SECS="${JOIN_SECS:-20}"
TRANSFER_RATE="${TRANSFER_RATE:-5000}"
TRANSFER_SECS="${TRANSFER_SECS:-20}"
HTTP_TRANSFERS="${HTTP_TRANSFERS:-60000}"

command -v jq >/dev/null || { echo "ledger_load.sh needs jq" >&2; exit 1; }
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
need=$((ACCOUNTS + 200))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need" ]; then
    echo "the open-file limit is $(ulimit -n) but $ACCOUNTS connections need $need" >&2
    exit 1
fi

echo "== cargo build --release (target dir $TARGET_DIR)"
cargo build --release
cargo build --release --example transfers_load
BIN="$(cd "$TARGET_DIR/release" && pwd)/pos-lottery"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/pos-lottery-ledger-load.XXXXXX")"
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [ -n "${KEEP_WORK:-}" ]; then
        echo "logs, data directories and summaries kept in $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

"$BIN" genesis --accounts "$ACCOUNTS" --balance 1000 --out-dir "$WORK/class" | tail -1

# Starts a ledger server on a free port with DATA_DIR=$1, ROUND_SECS=$2; sets PORT.
start_server() {
    local dir="$1" round="$2" log="$1.log"
    GENESIS="$WORK/class/genesis.json" DATA_DIR="$dir" ROUND_SECS="$round" \
        ADDR=127.0.0.1:0 HTTP_ADDR=off BROADCAST_SECS=0 RUST_LOG=info \
        "$BIN" >"$log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 300); do
        PORT="$(sed -n 's/.*listening: connect with nc 127.0.0.1 \([0-9]*\).*/\1/p' "$log" | head -1)"
        [ -n "$PORT" ] && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$log" >&2; exit 1; }
        sleep 0.1
    done
    echo "the server did not start" >&2
    exit 1
}

stop_server() {
    kill "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
}

echo
echo "== 1. $ACCOUNTS authenticated logins at once (ROUND_SECS=5, ${JOIN_SECS}s)"
start_server "$WORK/logins" 5
"$BIN" simulate --addr "127.0.0.1:$PORT" --keys-dir "$WORK/class" --bpm-every 5s \
    --duration "${JOIN_SECS}s" --quiet --json >"$WORK/logins.json"
stop_server
jq -r '"joins: \(.joins.joined) of \(.validators) logged in and staked in \(.joins.last_join_s) s = \(.joins.joins_per_s | floor) joins/s",
       "exactly-once: ok \(.fanout.exactly_once.ok), \(.fanout.exactly_once.delivered) of \(.fanout.exactly_once.expected) deliveries to \(.fanout.exactly_once.connections_checked) connections"' \
    "$WORK/logins.json"

echo
echo "== 2. $TRANSFER_RATE signed transfers/s over the sessions (ROUND_SECS=2, ${TRANSFER_SECS}s)"
start_server "$WORK/transfers" 2
"$BIN" simulate --addr "127.0.0.1:$PORT" --keys-dir "$WORK/class" --bpm-every 2s \
    --transfers-per-sec "$TRANSFER_RATE" --duration "${TRANSFER_SECS}s" --quiet --json \
    >"$WORK/transfers.json"
stop_server
jq -r '"transfers: \(.transfers.sent) sent, \(.transfers.accepted) accepted (\(.transfers.accepted_per_s | floor)/s), \(.transfers.refused) refused",
       "exactly-once: ok \(.fanout.exactly_once.ok)"' "$WORK/transfers.json"
echo "blocks (transactions, entrants, tick to announcement):"
sed -n 's/.*entrants=\([0-9]*\) transactions=\([0-9]*\) draw_us=[0-9]* close_us=\([0-9]*\).*/\2 \1 \3/p' \
    "$WORK/transfers.log" | awk '{ printf "  %6d transactions  %6d entrants  %7.1f ms\n", $1, $2, $3 / 1000;
        if ($1 >= 10000 && $3 > worst) worst = $3; n++ }
        END { if (worst) printf "  slowest block with >= 10,000 transactions: %.1f ms\n", worst / 1000 }'

echo
echo "== 3. verify step 2's directory (every signature, the ledger replayed)"
start=$(date +%s.%N)
"$BIN" verify "$WORK/transfers" | tee "$WORK/verify.out"
end=$(date +%s.%N)
transfers=$(sed -n 's/.* \([0-9]*\) transfers replayed.*/\1/p' "$WORK/verify.out")
awk -v s="$start" -v e="$end" -v t="$transfers" \
    'BEGIN { printf "verify: %.2f s, %d transfers = %.0f transfers/s (whole audit included)\n", e - s, t, t / (e - s) }'

echo
echo "== 4. $HTTP_TRANSFERS signed transfers by POST /api/transactions (48 keep-alive connections)"
"$TARGET_DIR/release/examples/transfers_load" --transfers "$HTTP_TRANSFERS" --accounts 600 \
    --connections 48 --server "$BIN"
