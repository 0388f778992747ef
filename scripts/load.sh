#!/usr/bin/env bash
# Load figures for the README, measured with the real binary on loopback (127.0.0.1).
#
#   scripts/load.sh                      # all steps, about 3 minutes plus the build
#   VALIDATORS=2000 scripts/load.sh      # a smaller run
#   KEEP_WORK=1 scripts/load.sh          # keep logs and JSON summaries afterwards
#   STEPS="3" scripts/load.sh            # only some of the steps 1, 2, 3, 5, 6
#   FLOOR_SIZES="2000" scripts/load.sh   # the floor at these sizes only ("" skips it)
#   SERVER_CPUS=0 CLIENT_CPUS=1 scripts/load.sh   # server and clients on their own cores
#
# First, the floor (examples/floor.rs): pinned writer threads writing one announcement-sized
# line to N loopback sockets read in epoll by another process, nothing else; N = FLOOR_SIZES
# (500, 2000, 10000 and VALIDATORS), one writer, two writers, and one per core. The fan-out
# figures below are printed beside the floor at the same N with one writer per core.
# Each spread is given twice: as the simulator's bots read the lines, and from the kernel's
# arrival stamps (SO_TIMESTAMPNS: when the server's send put each line in), which is the
# server's own part and what the floor's loop time is comparable with.
#
# SERVER_CPUS and CLIENT_CPUS (taskset -c lists, e.g. 0 and 1, or 0-7 and 8-15) keep the server
# and the floor's writers on the first, and the simulator and the floor's readers on the
# second; "one writer per core" then means per server core. Unset, everything shares all cores.
#
# Each step starts a fresh server on a free port (ADDR=127.0.0.1:0) with its own temporary
# DATA_DIR and HTTP_ADDR=off, runs `pos-lottery simulate` against it for a bounded time,
# then stops the server:
#   1. VALIDATORS validators connect at once, stake and propose every round: join rate
#      (overall and per 1000), announcement fan-out spread, exactly-once delivery;
#   2. server RSS before and after VALIDATORS idle validators: KiB per connection (these
#      join at CONNECT_RATE per second, as a burst overflows the listen queue; see step 1);
#      then PROPOSERS more validators propose, and the fan-out to all VALIDATORS is measured;
#   3. FLOOD_CONNECTIONS validators pipeline FLOOD_LINES BPM lines each: lines/s and the
#      server's RSS during the flood;
#   4. rounds on time: block times in the server logs of steps 1-3 against the schedule;
#   6. the floor's own epoll reader against the server (floor --server): VALIDATORS connections
#      join, PROPOSERS of them propose on each announcement; the spread of 20 announcements,
#      beside the floor (the bots of steps 1-2 cost the shared cores more per delivery);
#   5. churn: CHURN_CYCLES connect/disconnect cycles (scripts/churn.py); the server's open
#      file descriptors (one per session task's socket) and RSS before and after.
#
# Needs bash, cargo, jq, python3 and Linux /proc. The client shares the machine with the server, so
# every figure includes the other process's CPU use. Both need a file descriptor per
# connection: the script raises `ulimit -n` as far as the hard limit allows.
set -euo pipefail

cd "$(dirname "$0")/.."
TARGET_DIR="${CARGO_TARGET_DIR:-./target}"
VALIDATORS="${VALIDATORS:-10000}"
JOIN_SECS="${JOIN_SECS:-40}"
LOAD_ROUND_SECS="${LOAD_ROUND_SECS:-2}"
IDLE_SECS="${IDLE_SECS:-40}"
PROPOSERS="${PROPOSERS:-10}"
CONNECT_RATE="${CONNECT_RATE:-2000}"
FLOOD_CONNECTIONS="${FLOOD_CONNECTIONS:-10}"
FLOOD_LINES="${FLOOD_LINES:-200000}"
FLOOD_MAX_SECS="${FLOOD_MAX_SECS:-120}"
CHURN_CYCLES="${CHURN_CYCLES:-100000}"
STEPS="${STEPS:-1 2 3 5 6}"
FLOOR_SIZES="${FLOOR_SIZES-500 2000 10000}"
FLOOR_TRIALS="${FLOOR_TRIALS:-20}"
case " $FLOOR_SIZES " in *" $VALIDATORS "*) ;; *) [ -n "$FLOOR_SIZES" ] && FLOOR_SIZES="$FLOOR_SIZES $VALIDATORS" ;; esac
step() { case " $STEPS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

command -v jq >/dev/null || { echo "load.sh needs jq" >&2; exit 1; }
SERVER_CPUS="${SERVER_CPUS:-}"
CLIENT_CPUS="${CLIENT_CPUS:-}"
if [ -n "$SERVER_CPUS$CLIENT_CPUS" ]; then
    command -v taskset >/dev/null || { echo "SERVER_CPUS/CLIENT_CPUS need taskset (util-linux)" >&2; exit 1; }
    if [ -z "$SERVER_CPUS" ] || [ -z "$CLIENT_CPUS" ]; then
        echo "set both SERVER_CPUS and CLIENT_CPUS, or neither" >&2
        exit 1
    fi
fi
# Command prefixes that keep the server / the clients on their CPUs (empty: anywhere).
ON_SERVER=(env)
ON_CLIENT=(env)
if [ -n "$SERVER_CPUS" ]; then
    ON_SERVER=(taskset -c "$SERVER_CPUS")
    ON_CLIENT=(taskset -c "$CLIENT_CPUS")
fi

ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
need=$((VALIDATORS + 200))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need" ]; then
    echo "the open-file limit is $(ulimit -n) but $VALIDATORS connections need $need:" \
        "raise the hard limit (ulimit -Hn) first" >&2
    exit 1
fi

echo "== cargo build --release (target dir $TARGET_DIR)"
cargo build --release
cargo build --release --example floor
BIN="$(cd "$TARGET_DIR/release" && pwd)/pos-lottery"
FLOOR_BIN="$(cd "$TARGET_DIR/release/examples" && pwd)/floor"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/pos-lottery-load.XXXXXX")"
SERVER_PID=""
SIM_PID=""
PROPOSER_PID=""
cleanup() {
    for pid in "$SIM_PID" "$PROPOSER_PID" "$SERVER_PID"; do
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    if [ -n "${KEEP_WORK:-}" ]; then
        echo "logs and summaries kept in $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

CLK_TCK="$(getconf CLK_TCK)"
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
# User plus system CPU seconds a process has used so far.
cpu_secs() {
    awk -v tck="$CLK_TCK" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / tck }' \
        "/proc/$1/stat" 2>/dev/null || echo 0
}
# The kernel's count of connections dropped because a listen queue was full.
listen_overflows() {
    if command -v nstat >/dev/null; then
        nstat -az TcpExtListenOverflows 2>/dev/null | awk '/ListenOverflows/ { print $2 }'
    else
        echo 0
    fi
}

# start_server NAME ROUND_SECS [VAR=value...]: sets SERVER_PID, PORT, LOG.
start_server() {
    local name=$1 round=$2
    shift 2
    mkdir -p "$WORK/$name"
    LOG="$WORK/$name/server.log"
    (cd "$WORK/$name" && exec env "$@" DATA_DIR="$WORK/$name/data" ADDR=127.0.0.1:0 \
        HTTP_ADDR=off ROUND_SECS="$round" MAX_CONNECTIONS="$((VALIDATORS + 100))" NO_COLOR=1 RUST_LOG="${RUST_LOG:-info}" \
        "${ON_SERVER[@]}" "$BIN" >/dev/null 2>"$LOG") &
    SERVER_PID=$!
    PORT=""
    for _ in $(seq 100); do
        PORT="$(sed -n 's/.*connect with nc 127\.0\.0\.1 \([0-9][0-9]*\).*/\1/p' "$LOG" | head -n 1)"
        [ -n "$PORT" ] && return 0
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "the server did not start:" >&2
            cat "$LOG" >&2
            exit 1
        fi
        sleep 0.1
    done
    echo "the server did not log its port within 10 s" >&2
    exit 1
}

stop_server() {
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
}

# simulate NAME ARGS...: runs the simulator in the background from the step's directory.
simulate() {
    local name=$1
    shift
    (cd "$WORK/$name" && exec "${ON_CLIENT[@]}" "$BIN" simulate --addr "127.0.0.1:$PORT" --quiet --json "$@" \
        >"$WORK/$name/sim.json" 2>"$WORK/$name/sim.err") &
    SIM_PID=$!
}

# watch_sim JSON: waits for the simulator while sampling the server's RSS peak (PEAK_RSS)
# and the simulator's CPU seconds (SIM_CPU) every 50 ms, then checks its summary.
watch_sim() {
    local r c
    PEAK_RSS="$(rss_kib "$SERVER_PID")"
    SIM_CPU=0
    while kill -0 "$SIM_PID" 2>/dev/null; do
        r="$(rss_kib "$SERVER_PID")"
        if [ "${r:-0}" -gt "$PEAK_RSS" ]; then PEAK_RSS=$r; fi
        c="$(cpu_secs "$SIM_PID")"
        if [ "$c" != 0 ]; then SIM_CPU=$c; fi
        sleep 0.05
    done
    wait_sim "$1"
}

wait_sim() {
    local rc=0
    wait "$SIM_PID" || rc=$?
    SIM_PID=""
    if [ "$rc" -ne 0 ] || ! jq -e . "$1" >/dev/null 2>&1; then
        echo "the simulator failed (exit $rc):" >&2
        cat "${1%.json}.err" >&2
        exit 1
    fi
}

# Lateness of each logged block against the schedule: round r closes at the round task's
# start + r * ROUND_SECS, and the task starts right after the "chain" log line. A block's
# log line comes after its draw and fsync, so lateness includes both.
round_lateness() {
    local log=$1 period=$2
    awk -v period="$period" '
        function secs(ts,   d, t) {
            split(ts, d, "T"); split(d[2], t, ":"); sub(/Z$/, "", t[3])
            return t[1] * 3600 + t[2] * 60 + t[3]
        }
        /created a new chain|loaded the chain/ && start == "" { start = secs($1); next }
        /block appended/ && start != "" {
            s = secs($1); if (s < start) s += 86400
            for (i = 1; i <= NF; i++) if ($i ~ /^round=/) { split($i, kv, "="); r = kv[2] }
            late = (s - (start + r * period)) * 1000
            n++; v[n] = late; if (late > max || n == 1) max = late
        }
        function rank(p,   i) { i = int(p * n); if (i < p * n) i++; if (i < 1) i = 1; return v[i] }
        END {
            if (n == 0) { print "no blocks logged"; exit }
            for (i = 2; i <= n; i++) { x = v[i]; for (j = i - 1; j >= 1 && v[j] > x; j--) v[j + 1] = v[j]; v[j + 1] = x }
            printf "%d blocks: lateness p50 %.1f ms, p99 %.1f ms, max %.1f ms\n", n, rank(0.5), rank(0.99), max
        }' "$log"
}

q() { jq -r "$1" "$2"; }

echo
echo "== machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)," \
    "ulimit -n $(ulimit -n); $(if [ -n "$SERVER_CPUS" ]; then echo "server on CPUs $SERVER_CPUS, clients on CPUs $CLIENT_CPUS"; else echo "client and server share these cores"; fi)"

# --- 0. the floor -----------------------------------------------------------------------
# The server's cores: one fan-out thread each (it sizes itself by its CPU affinity).
CORES="$("${ON_SERVER[@]}" nproc)"
FLOOR_OUT=""
if [ -n "$FLOOR_SIZES" ]; then
    echo
    echo "== 0. the floor: one line to N loopback sockets from pinned writer threads, nothing else"
    writers="1"
    if [ "$CORES" -ge 2 ]; then writers="1,2"; fi
    if [ "$CORES" -gt 2 ]; then writers="1,2,$CORES"; fi
    FLOOR_OUT="$("${ON_SERVER[@]}" "$FLOOR_BIN" --sizes "$(echo "$FLOOR_SIZES" | tr ' ' ,)" \
        --writers "$writers" --trials "$FLOOR_TRIALS" ${CLIENT_CPUS:+--reader-cpus "$CLIENT_CPUS"})"
    echo "$FLOOR_OUT"
fi
# floor_ms N: the floor's loop time at N connections with one writer per core, or "".
floor_ms() {
    echo "$FLOOR_OUT" | sed -n "s/^floor N=$1 W=$CORES: .* loop \([0-9.]*\) ms.*/\1/p" | head -n 1
}
# beside_floor JSON [arrival]: the fan-out spread's p50 and p99 against the floor at the same
# N; with "arrival", the spread from the kernel's arrival stamps.
beside_floor() {
    local n p50 p99 f field=spread_ms what="spread as read"
    if [ "${2:-}" = arrival ]; then field=arrival_spread_ms what="spread by arrival"; fi
    n="$(q '.fanout.connections' "$1")"
    p50="$(q ".fanout.$field.p50 // empty" "$1")"
    p99="$(q ".fanout.$field.p99 // empty" "$1")"
    f="$(floor_ms "$n")"
    if [ -z "$f" ] || [ -z "$p50" ]; then
        echo "no floor measured at N=$n (FLOOR_SIZES), or no $what"
        return
    fi
    awk -v f="$f" -v a="$p50" -v b="$p99" -v n="$n" -v w="$CORES" -v what="$what" 'BEGIN {
        printf "floor at N=%d, W=%d: %.1f ms; %s p50 %.1f ms = %.2fx the floor, p99 %.1f ms = %.2fx the floor, p99 = %.2fx p50\n",
            n, w, f, what, a, a / f, b, b / f, (a > 0 ? b / a : 0) }'
}

# --- 1. joins, fan-out, exactly-once ----------------------------------------------------
J="" JOIN_ROUNDS="skipped" JOIN_OVERFLOWS="-"
step_join() {
    echo
    echo "== 1. $VALIDATORS validators connect at once, stake, and propose every ${LOAD_ROUND_SECS}s round (${JOIN_SECS}s)"
    local overflows_before cpu rss
    overflows_before="$(listen_overflows)"
    start_server join "$LOAD_ROUND_SECS"
    simulate join --validators "$VALIDATORS" --stake 1..1000 --bpm-every "${LOAD_ROUND_SECS}s" \
        --duration "${JOIN_SECS}s"
    watch_sim "$WORK/join/sim.json"
    cpu="$(cpu_secs "$SERVER_PID")"
    rss="$(rss_kib "$SERVER_PID")"
    stop_server
    J="$WORK/join/sim.json"
    JOIN_OVERFLOWS=$(($(listen_overflows) - overflows_before))
    JOIN_ROUNDS="$(round_lateness "$WORK/join/server.log" "$LOAD_ROUND_SECS")"
    echo "outcomes: $(q '.outcomes | to_entries | map("\(.key): \(.value)") | join(", ")' "$J")"
    echo "joined: $(q '.joins.joined' "$J") of $VALIDATORS in $(q '.joins.last_join_s // "-"' "$J") s" \
        "= $(q '(.joins.joins_per_s // 0) | floor' "$J") joins/s"
    q '.joins.buckets[] | "  joins \(.from)-\(.to): \(.seconds * 1000 | floor) ms, \(.joins_per_s | floor) joins/s"' "$J"
    echo "tcp connect ms: $(q "$QUANT" <(jq .joins.connect_ms "$J"))"
    echo "stake answer ms: $(q "$QUANT" <(jq .joins.stake_answer_ms "$J"))"
    echo "listen-queue overflows during the step (kernel TcpExtListenOverflows): $JOIN_OVERFLOWS"
    echo "fan-out: $(q '.fanout.blocks_to_all' "$J") blocks to all $(q '.fanout.connections' "$J") connections;" \
        "first-to-last spread ms: $(q "$QUANT" <(jq .fanout.spread_ms "$J"))"
    echo "by the kernel's arrival stamps, ms: $(q "$QUANT" <(jq .fanout.arrival_spread_ms "$J"))"
    echo "  $(beside_floor "$J")"
    echo "  $(beside_floor "$J" arrival)"
    echo "each delivery after the block's first, ms: $(q "$QUANT" <(jq .fanout.delivery_lag_ms "$J"))"
    echo "exactly-once: $(q "$ONCE" "$J")"
    echo "announcements per connection: $(q "$QUANT" <(jq .fanout.per_connection "$J"))"
    echo "server: $cpu CPU s, RSS peak $PEAK_RSS KiB, $rss KiB at the end; simulator: $SIM_CPU CPU s"
    echo "rounds: $JOIN_ROUNDS"
}

# --- 2. memory per idle connection, then fan-out to all of them ------------------------
I="" IDLE_CPU_PER_BLOCK="skipped" IDLE_ROUNDS="skipped" IDLE_PER_CONN="skipped" IDLE_RSS0="-" IDLE_RSS1="-" IDLE_JOINED="-"
step_idle() {
    echo
    echo "== 2. $VALIDATORS idle validators join at $CONNECT_RATE/s: server RSS before and after;" \
        "then $PROPOSERS other validators propose, so all $VALIDATORS receive announcements (${IDLE_SECS}s)"
    IDLE_PER_CONN="-"
    start_server idle "$LOAD_ROUND_SECS"
    sleep 1
    IDLE_RSS0="$(rss_kib "$SERVER_PID")"
    local started=$SECONDS
    simulate idle --validators "$VALIDATORS" --bpm-every 0 --connect-rate "$CONNECT_RATE" \
        --duration "${IDLE_SECS}s"
    # Wait (bounded) until the server has seen every join, or the count stops growing.
    local joined=0 now last_change=$SECONDS deadline=$((SECONDS + IDLE_SECS / 2)) sim_rss left
    local cpu_a cpu_b
    while [ "$SECONDS" -lt "$deadline" ]; do
        now="$(grep -c 'validator joined' "$WORK/idle/server.log" || true)"
        if [ "$now" != "$joined" ]; then last_change=$SECONDS; fi
        joined=$now
        if [ "$joined" -ge "$VALIDATORS" ]; then break; fi
        if [ $((SECONDS - last_change)) -ge 5 ] && [ "$joined" -gt 0 ]; then break; fi
        sleep 0.5
    done
    sleep 2
    IDLE_RSS1="$(rss_kib "$SERVER_PID")"
    sim_rss="$(rss_kib "$SIM_PID")"
    IDLE_JOINED="$(grep -c 'validator joined' "$WORK/idle/server.log" || true)"
    cpu_a="$(cpu_secs "$SERVER_PID")"
    left=$((IDLE_SECS - (SECONDS - started) - 4))
    if [ "$left" -lt 4 ]; then left=4; fi
    (cd "$WORK/idle" && exec "${ON_CLIENT[@]}" "$BIN" simulate --addr "127.0.0.1:$PORT" --quiet --json \
        --validators "$PROPOSERS" --bpm-every "${LOAD_ROUND_SECS}s" --duration "${left}s" \
        >"$WORK/idle/proposers.json" 2>"$WORK/idle/proposers.err") &
    PROPOSER_PID=$!
    watch_sim "$WORK/idle/sim.json"
    wait "$PROPOSER_PID" || true
    PROPOSER_PID=""
    cpu_b="$(cpu_secs "$SERVER_PID")"
    stop_server
    I="$WORK/idle/sim.json"
    IDLE_ROUNDS="$(round_lateness "$WORK/idle/server.log" "$LOAD_ROUND_SECS")"
    if [ "$IDLE_JOINED" -gt 0 ]; then
        IDLE_PER_CONN="$(awk -v a="$IDLE_RSS0" -v b="$IDLE_RSS1" -v n="$IDLE_JOINED" \
            'BEGIN { printf "%.1f", (b - a) / n }')"
    fi
    echo "joined: $(q '.joins.joined' "$I") of $VALIDATORS, last at $(q '.joins.last_join_s // "-"' "$I") s (paced);" \
        "outcomes: $(q '.outcomes | to_entries | map("\(.key): \(.value)") | join(", ")' "$I")"
    echo "server RSS: $IDLE_RSS0 KiB idle, $IDLE_RSS1 KiB with $IDLE_JOINED validators" \
        "= $IDLE_PER_CONN KiB per connection (user space; kernel socket buffers are not in RSS)"
    echo "simulator RSS with $IDLE_JOINED connections: $sim_rss KiB"
    echo "fan-out: $(q '.fanout.blocks_to_all' "$I") blocks to all $(q '.fanout.connections' "$I") idle connections;" \
        "first-to-last spread ms: $(q "$QUANT" <(jq .fanout.spread_ms "$I"))"
    echo "by the kernel's arrival stamps, ms: $(q "$QUANT" <(jq .fanout.arrival_spread_ms "$I"))"
    echo "  $(beside_floor "$I")"
    echo "  $(beside_floor "$I" arrival)"
    echo "each delivery after the block's first, ms: $(q "$QUANT" <(jq .fanout.delivery_lag_ms "$I"))"
    echo "exactly-once: $(q "$ONCE" "$I")"
    echo "server RSS peak while announcing: $PEAK_RSS KiB"
    IDLE_CPU_PER_BLOCK="$(awk -v a="$cpu_a" -v b="$cpu_b" -v n="$(q .fanout.blocks "$I")" \
        -v c="$IDLE_JOINED" 'BEGIN { if (n > 0) printf "%.1f ms per block = %.1f us per connection", \
        (b - a) * 1000 / n, (b - a) * 1e6 / n / c; else print "-" }')"
    echo "server CPU while only announcing: $(awk -v a="$cpu_a" -v b="$cpu_b" 'BEGIN { printf "%.2f", b - a }') s" \
        "for $(q .fanout.blocks "$I") blocks = $IDLE_CPU_PER_BLOCK (includes the $PROPOSERS proposers' traffic)"
    echo "rounds: $IDLE_ROUNDS"
}

# --- 3. BPM flood ------------------------------------------------------------------------
F="" FLOOD_ROUNDS="skipped" FLOOD_RSS0="-" FLOOD_PEAK="-" FLOOD_RSS1="-"
step_flood() {
    echo
    echo "== 3. flood: $FLOOD_CONNECTIONS validators pipeline $FLOOD_LINES BPM lines each"
    local cpu0 cpu
    start_server flood "$LOAD_ROUND_SECS"
    sleep 1
    FLOOD_RSS0="$(rss_kib "$SERVER_PID")"
    cpu0="$(cpu_secs "$SERVER_PID")"
    simulate flood --validators "$FLOOD_CONNECTIONS" --flood --flood-lines "$FLOOD_LINES" \
        --duration "${FLOOD_MAX_SECS}s"
    watch_sim "$WORK/flood/sim.json"
    FLOOD_PEAK="$PEAK_RSS"
    FLOOD_RSS1="$(rss_kib "$SERVER_PID")"
    cpu=$(awk -v a="$cpu0" -v b="$(cpu_secs "$SERVER_PID")" 'BEGIN { printf "%.2f", b - a }')
    stop_server
    F="$WORK/flood/sim.json"
    FLOOD_ROUNDS="$(round_lateness "$WORK/flood/server.log" "$LOAD_ROUND_SECS")"
    echo "outcomes: $(q '.outcomes | to_entries | map("\(.key): \(.value)") | join(", ")' "$F")"
    q '.flood | "sent \(.sent), replies \(.replies) in \(.seconds) s = \(.lines_per_s | floor) lines/s"' "$F"
    echo "server RSS: $FLOOD_RSS0 KiB before, peak $FLOOD_PEAK KiB (sampled every 50 ms)," \
        "$FLOOD_RSS1 KiB after; CPU: server $cpu s, simulator $SIM_CPU s"
    echo "rounds: $FLOOD_ROUNDS"
}

fd_count() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }

CHURN_FIG=skipped
step_churn() {
    echo
    echo "== 5. churn: $CHURN_CYCLES connect/disconnect cycles"
    local fd0 fd1 rss0 rss1 out
    start_server churn 30
    "${ON_CLIENT[@]}" python3 scripts/churn.py 127.0.0.1 "$PORT" 1000 >/dev/null # warm-up: allocator, timers
    sleep 1
    fd0="$(fd_count "$SERVER_PID")" rss0="$(rss_kib "$SERVER_PID")"
    out="$(timeout 600 "${ON_CLIENT[@]}" python3 scripts/churn.py 127.0.0.1 "$PORT" "$CHURN_CYCLES")"
    # Sessions closed by the last clients may still be lingering (up to 1 s): wait for them.
    for _ in $(seq 50); do
        fd1="$(fd_count "$SERVER_PID")"
        [ "$fd1" -le "$fd0" ] && break
        sleep 0.1
    done
    rss1="$(rss_kib "$SERVER_PID")"
    stop_server
    echo "$out"
    echo "server open fds: $fd0 before, $fd1 after; RSS: $rss0 KiB before, $rss1 KiB after"
    CHURN_FIG="$out; fds $fd0 -> $fd1, RSS $rss0 -> $rss1 KiB"
}

QUANT='if . then "p50 \(.p50) p99 \(.p99) max \(.max) (min \(.min), n=\(.n))" else "-" end'
ONCE='.fanout.exactly_once | "\(if .ok then "OK" else "FAILED" end): \(.delivered)/\(.expected) delivered to \(.connections_checked) connections, \(.missing) missing, \(.repeats) repeats, \(.lag_notices) lag notices"'

# --- 6. the floor's reader against the server ---------------------------------------------
PROBE_FIG="skipped" PROBE_BESIDE="skipped"
step_probe() {
    echo
    echo "== 6. the floor's epoll reader against the server: $VALIDATORS connections join," \
        "$PROPOSERS of them propose on each announcement; 20 announcements timed"
    local out f n p50 p99 a50 a99
    start_server probe "$LOAD_ROUND_SECS"
    if ! out="$(cd "$WORK/probe" && "${ON_CLIENT[@]}" "$FLOOR_BIN" --server "127.0.0.1:$PORT" \
        --sizes "$VALIDATORS" --proposers "$PROPOSERS" --trials 20 2>&1)"; then
        echo "$out" >&2
        exit 1
    fi
    stop_server
    PROBE_FIG="${out#probe }"
    echo "$out"
    p50="$(echo "$out" | sed -n 's/.*read spread p50 \([0-9.]*\) ms, p99 \([0-9.]*\) ms.*/\1/p')"
    p99="$(echo "$out" | sed -n 's/.*read spread p50 \([0-9.]*\) ms, p99 \([0-9.]*\) ms.*/\2/p')"
    a50="$(echo "$out" | sed -n 's/.*arrival spread p50 \([0-9.]*\) ms, p99 \([0-9.]*\) ms.*/\1/p')"
    a99="$(echo "$out" | sed -n 's/.*arrival spread p50 \([0-9.]*\) ms, p99 \([0-9.]*\) ms.*/\2/p')"
    f="$(floor_ms "$VALIDATORS")"
    if [ -z "$f" ] || [ -z "$p50" ]; then
        PROBE_BESIDE="no floor measured at N=$VALIDATORS (FLOOR_SIZES)"
    else
        PROBE_BESIDE="$(awk -v f="$f" -v a="$p50" -v b="$p99" -v c="${a50:-0}" -v d="${a99:-0}" -v n="$VALIDATORS" -v w="$CORES" 'BEGIN {
            printf "floor at N=%d, W=%d: %.1f ms; read p50 = %.2fx, p99 = %.2fx the floor (p99 = %.2fx p50); arrival p50 = %.2fx, p99 = %.2fx the floor\n",
                n, w, f, a / f, b / f, (a > 0 ? b / a : 0), c / f, d / f }')"
    fi
    echo "  $PROBE_BESIDE"
}

if step 1; then step_join; fi
if step 2; then step_idle; fi
if step 3; then step_flood; fi
if step 6; then step_probe; fi
if step 5; then step_churn; fi

# --- 4. rounds on time, and the summary --------------------------------------------------
echo
echo "== 4. rounds on time (server logs; lateness = log time - (round task start + round * ROUND_SECS))"
echo "  $VALIDATORS validators proposing: $JOIN_ROUNDS"
echo "  $VALIDATORS idle + $PROPOSERS proposing: $IDLE_ROUNDS"
echo "  flood: $FLOOD_ROUNDS"

IDLE_FIG=skipped FLOOD_FIG=skipped
if [ "$IDLE_PER_CONN" != skipped ]; then
    IDLE_FIG="$IDLE_PER_CONN KiB ($IDLE_RSS0 -> $IDLE_RSS1 KiB with $IDLE_JOINED validators)"
fi
if [ "$FLOOD_PEAK" != - ]; then
    FLOOD_FIG="$FLOOD_RSS0 KiB before, peak $FLOOD_PEAK KiB, $FLOOD_RSS1 KiB after"
fi
jfig() { if [ -n "$2" ]; then q "$1" "$2"; else echo skipped; fi; }
echo
echo "================ summary: $(nproc) cores, $(if [ -n "$SERVER_CPUS" ]; then echo "server on CPUs $SERVER_CPUS, clients on $CLIENT_CPUS"; else echo "shared by client and server"; fi), loopback ================"
printf '%-42s %s\n' \
    "validators, burst connect" "$(jfig '"\(.joins.joined) of \(.validators) joined; " + (.outcomes | to_entries | map("\(.key) \(.value)") | join(", "))' "$J")" \
    "join rate, overall" "$(jfig '"\((.joins.joins_per_s // 0) | floor) joins/s (last join at \(.joins.last_join_s // "-") s)"' "$J")" \
    "join rate per 1000, joins/s" "$(jfig '[.joins.buckets[] | .joins_per_s | floor] | map(tostring) | join(" ")' "$J")" \
    "listen-queue overflows, burst" "$JOIN_OVERFLOWS" \
    "fan-out spread to all, burst, ms" "$(jfig '.fanout | "\(.spread_ms | if . then "p50 \(.p50) p99 \(.p99) max \(.max) over \(.n) blocks" else "-" end) to \(.connections) connections"' "$J")" \
    "  beside the floor, burst" "$(if [ -n "$J" ]; then beside_floor "$J"; else echo skipped; fi)" \
    "  by arrival, burst" "$(if [ -n "$J" ]; then beside_floor "$J" arrival; else echo skipped; fi)" \
    "each delivery after the first, burst, ms" "$(jfig '.fanout.delivery_lag_ms | if . then "p50 \(.p50) p99 \(.p99) max \(.max) (n=\(.n))" else "-" end' "$J")" \
    "exactly-once, burst" "$(jfig "$ONCE" "$J")" \
    "fan-out spread to all idle, ms" "$(jfig '.fanout | "\(.spread_ms | if . then "p50 \(.p50) p99 \(.p99) max \(.max) over \(.n) blocks" else "-" end) to \(.connections) connections"' "$I")" \
    "  beside the floor, idle" "$(if [ -n "$I" ]; then beside_floor "$I"; else echo skipped; fi)" \
    "  by arrival, idle" "$(if [ -n "$I" ]; then beside_floor "$I" arrival; else echo skipped; fi)" \
    "each delivery after the first, idle, ms" "$(jfig '.fanout.delivery_lag_ms | if . then "p50 \(.p50) p99 \(.p99) max \(.max) (n=\(.n))" else "-" end' "$I")" \
    "exactly-once, idle" "$(jfig "$ONCE" "$I")" \
    "server CPU per announcement, idle" "$IDLE_CPU_PER_BLOCK" \
    "server RSS per idle connection" "$IDLE_FIG" \
    "flood throughput" "$(jfig '.flood | "\(.lines_per_s | floor) lines/s (\(.replies) replies on \(.connections) connections in \(.seconds) s)"' "$F")" \
    "server RSS during the flood" "$FLOOD_FIG" \
    "rounds on time, $VALIDATORS proposing" "$JOIN_ROUNDS" \
    "rounds on time, $VALIDATORS idle" "$IDLE_ROUNDS" \
    "rounds on time, flood" "$FLOOD_ROUNDS" \
    "fan-out, the floor's reader" "$PROBE_FIG" \
    "  beside the floor, floor's reader" "$PROBE_BESIDE" \
    "churn" "$CHURN_FIG"
if [ -n "$FLOOR_OUT" ]; then
    echo "$FLOOR_OUT" | sed -n 's/^floor \(N=[0-9]* W=[0-9]*\): /\1: /p' |
        while IFS= read -r line; do printf '%-42s %s\n' "floor, ${line%%:*}" "${line#*: }"; done
fi
