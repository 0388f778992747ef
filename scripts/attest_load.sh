#!/usr/bin/env bash
# Attestation load figures for the README, with the real binary on loopback (127.0.0.1).
#
#   scripts/attest_load.sh                   # 10,000 attesters, about a minute plus the build
#   ACCOUNTS=2000 scripts/attest_load.sh     # a smaller class
#   KEEP_WORK=1 scripts/attest_load.sh       # keep the log, data directory and report
#
# One genesis of ACCOUNTS accounts, one ledger server (EPOCH_ROUNDS=2, ROUND_SECS=3, HTTP on),
# and ACCOUNTS bots (`simulate --keys-dir --http`): each logs in, stakes and proposes every
# round, and attests every block it hears of once the shared task has recomputed that block's
# draw over HTTP. From epoch 1 on (round 3) every block is attestable: each gets ACCOUNTS
# signed attestations, each checked by the server (strict Ed25519 on the session's thread),
# counted by the round task, fsynced in the pool log before its answer.
#   1. finality: blocks final within their round (before the next block was announced), the
#      time from a block's announcement to its `final` line (p50/p99/max), attestations
#      accepted; since a block is final at the 75%+1 attester, attesters/time-to-final is the
#      rate the server took them at (signature checks included) while the bots signed them on
#      the same cores;
#   2. replay: `pos-lottery verify` on the directory, which checks every attestation
#      signature again (all cores): signatures per second.
# Needs bash, cargo, jq and Linux.
set -euo pipefail

cd "$(dirname "$0")/.."
TARGET_DIR="${CARGO_TARGET_DIR:-./target}"
ACCOUNTS="${ACCOUNTS:-10000}"
SECS="${SECS:-45}"
ROUND="${ROUND:-3}"

command -v jq >/dev/null || { echo "attest_load.sh needs jq" >&2; exit 1; }
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
need=$((ACCOUNTS + 200))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need" ]; then
    echo "the open-file limit is $(ulimit -n) but $ACCOUNTS connections need $need (in the server and in the bots)" >&2
    exit 1
fi

echo "== cargo build --release (target dir $TARGET_DIR)"
cargo build --release
BIN="$(cd "$TARGET_DIR/release" && pwd)/pos-lottery"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/pos-lottery-attest-load.XXXXXX")"
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [ -n "${KEEP_WORK:-}" ]; then
        echo "log, data directory and report kept in $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

"$BIN" genesis --accounts "$ACCOUNTS" --balance 1000 --out-dir "$WORK/class" | tail -1

GENESIS="$WORK/class/genesis.json" DATA_DIR="$WORK/data" ROUND_SECS="$ROUND" EPOCH_ROUNDS=2 \
    ADDR=127.0.0.1:0 HTTP_ADDR=127.0.0.1:0 BROADCAST_SECS=0 RUST_LOG=info \
    "$BIN" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 300); do
    PORT="$(sed -n 's/.*listening: connect with nc 127.0.0.1 \([0-9]*\).*/\1/p' "$WORK/server.log" | head -1)"
    HTTP="$(sed -n 's|.*dashboard on http://\([0-9.:]*\)/.*|\1|p' "$WORK/server.log" | head -1)"
    [ -n "$PORT" ] && [ -n "$HTTP" ] && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; exit 1; }
    sleep 0.1
done
[ -n "$PORT" ] && [ -n "$HTTP" ] || { echo "the server did not start" >&2; exit 1; }

echo
echo "== 1. $ACCOUNTS validators attesting every block (ROUND_SECS=$ROUND, EPOCH_ROUNDS=2, ${SECS}s)"
"$BIN" simulate --addr "127.0.0.1:$PORT" --http "$HTTP" --keys-dir "$WORK/class" \
    --bpm-every "${ROUND}s" --duration "${SECS}s" --quiet --json >"$WORK/report.json"
kill "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=""
jq -r --argjson n "$ACCOUNTS" '.attestations as $a |
    "attestations: \($a.sent) sent, \($a.accepted) accepted, \($a.refused) refused (epoch 0 blocks: \($a.refusal_sample // "-"))",
    "blocks: \($a.blocks_final) said final; \($a.final_within_a_round) of \($a.blocks_followed) final within their round; late: \($a.not_final_within_a_round)",
    "announcement to final: p50 \($a.time_to_final_ms.p50) ms, p99 \($a.time_to_final_ms.p99) ms, max \($a.time_to_final_ms.max) ms",
    "attestations taken per second up to finality (75% of \($n) + 1 over p50): \((($n * 3 / 4 + 1) / $a.time_to_final_ms.p50 * 1000) | floor)/s",
    "exactly-once: ok \(.fanout.exactly_once.ok)"' "$WORK/report.json"

echo
echo "== 2. verify: every attestation signature checked again"
start=$(date +%s.%N)
"$BIN" verify "$WORK/data" | grep -E "^(ok|ledger|finality):" | tee "$WORK/verify.txt"
end=$(date +%s.%N)
sigs="$(sed -n 's/.* \([0-9]*\) signatures checked.*/\1/p' "$WORK/verify.txt")"
awk -v s="$sigs" -v a="$start" -v b="$end" 'BEGIN { printf "verify: %d signatures in %.2f s = %d signatures/s (the whole audit included)\n", s, b - a, s / (b - a) }'
