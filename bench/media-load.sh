#!/usr/bin/env bash
# Media-relay benchmark: RTP packets/s relayed per core, RTP -> RTP and
# RTP -> SRTP, for Bridgehead (`gateway run` with [media]) and, as the
# baseline under the same load in the same run, Debian's rtpengine in
# userspace-only mode (no kernel forwarding). The load generator
# (`rtpload`, sim/src/bin/rtpload.rs) sets up CALLS calls through each
# system under test (SIP over UDP for Bridgehead, the ng protocol for
# rtpengine; the same SDP shapes), then sends G.711 RTP one way (operator
# -> Teams side, 172-byte packets) at each total rate in RATES for
# DURATION s, and counts what the B side receives. All four relays
# (Bridgehead and rtpengine, RTP -> RTP and RTP -> SRTP) are up at once
# on the same core and the rates interleaved (each rate on each relay in
# turn), so that the shared machine's drifts fall on all alike. For each
# system, mode and rate: packets sent and relayed, loss, delay, CPU of the
# system (utime+stime of all its threads, /proc) per packet relayed, socket
# drops, and the highest loss-free rate (lost + delayed > 50 ms < 0.1 %).
# Writes reports/bench-media.md and prints it.
#
#   bash bench/media-load.sh                  # or: just bench
#   RATES="100000 150000" DURATION=15 bash bench/media-load.sh
#
# Settings (environment):
#   RATES       total packets/s to try, each for DURATION s  (50000 100000 125000 150000 175000 200000 250000)
#   DURATION    seconds of load per rate                      (10)
#   CALLS       concurrent calls (streams) per relay, at most 1000; per-stream rate = rate / CALLS (1000)
#   SUTS        systems                                        (bridgehead rtpengine)
#               bridgehead:KEY=VALUE[,KEY=VALUE] runs Bridgehead with those
#               `[media]` settings as a system of its own, to compare settings
#               in one run (e.g. "bridgehead:connect=false bridgehead:connect=true");
#               bridgehead alone: the gateway's defaults
#   MODES       rtp (RTP -> RTP), srtp (RTP -> SRTP toward B)  (rtp srtp)
#   SUT_CPU     CPU the systems under test are pinned to       (1)
#   GEN_CPU     CPU the load generators are pinned to          (0)
#   RTPENGINE_THREADS  rtpengine --num-threads (empty: its default, 4 on 2 cores)
#   QUIET_WAIT  before each rate, wait up to this many s for both cores to be idle (10)
#   REPORT      Markdown output                                (reports/bench-media.md)
#   GATEWAY_LOG RUST_LOG of the gateway                        (warn)
#   PROFILE     1: first run each relay at PROFILE_RATE (100000) packets/s under
#               `perf record -g` and `perf stat` of its system calls (which slow it: the
#               measured table comes from the steps without perf); where the CPU goes per
#               packet is appended to the report (perf: Debian linux-perf)
#   KEEP        1: keep the work directory (logs, JSON) at the end
#   PORT_BASE, RELAY_BASE  SIP/control ports (11000-), relay port ranges (12000-27999)
#   RELAY_ADDR  the relays' SIP/media address (127.0.0.1; e.g. 127.0.0.2 puts
#               them apart from the generator, as a relay's peers would be)
#
# The machine is shared: CPU per packet and the ratio measured in the same
# run are the figures to quote; a rate during which another process (or
# the hypervisor: steal) took more than 10 % of either core is run once
# more (the less disturbed kept) and the report shows that load per row.
# A relay not loss-free at two rates in a row is not tried at higher ones.
# With the defaults a run takes about 7 minutes (PROFILE=1: 8).
#
# Everything it starts is stopped on exit (trap), every run is bounded in
# time, and all traffic stays on loopback. Installs rtpengine-daemon when
# it is missing (Debian; root or sudo).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
BENCH_TAG=media-bench
# shellcheck source=bench/lib.sh
source "$BENCH/lib.sh"
RATES=${RATES:-"50000 100000 125000 150000 175000 200000 250000"}
DURATION=${DURATION:-10}
CALLS=${CALLS:-1000}
SUTS=${SUTS:-"bridgehead rtpengine"}
MODES=${MODES:-"rtp srtp"}
SUT_CPU=${SUT_CPU:-1}
GEN_CPU=${GEN_CPU:-0}
RTPENGINE_THREADS=${RTPENGINE_THREADS:-}
QUIET_WAIT=${QUIET_WAIT:-10}
REPORT=${REPORT:-$ROOT/reports/bench-media.md}
GATEWAY_LOG=${GATEWAY_LOG:-warn}
PROFILE=${PROFILE:-0}
PROFILE_RATE=${PROFILE_RATE:-100000}
KEEP=${KEEP:-0}
# Ports, below the kernel's ephemeral range (32768-): SIP and control from
# PORT_BASE, the relays' ranges from RELAY_BASE (4 ports per call each).
PORT_BASE=${PORT_BASE:-11000}
RELAY_ADDR=${RELAY_ADDR:-127.0.0.1}
RELAY_BASE=${RELAY_BASE:-12000}
MAX_CALLS=1000


if [ "$CALLS" -gt "$MAX_CALLS" ]; then log "CALLS is at most $MAX_CALLS (the relays' port ranges)"; exit 2; fi

# --- what is missing ---------------------------------------------------------
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export PATH=$PATH:/usr/sbin:/sbin
case " $SUTS " in *" rtpengine "*)
  if ! have rtpengine; then
    log "installing Debian package rtpengine-daemon"
    $SUDO apt-get update -qq
    # The package's service is not started (no init in containers; elsewhere
    # it listens on its own ports, not ours).
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends rtpengine-daemon
  fi
  have rtpengine || { log "rtpengine is missing"; exit 1; } ;;
esac
have taskset || { log "taskset (util-linux) is missing"; exit 1; }
if [ "$PROFILE" = 1 ] && ! have perf; then log "PROFILE=1 needs perf (Debian: linux-perf)"; exit 1; fi
NCPU=$(nproc)
if [ "$NCPU" -lt 2 ]; then SUT_CPU=0; GEN_CPU=0; log "one CPU: the system under test and the generator share it"; fi

# --- build ---------------------------------------------------------------------
log "cargo build --release -p gateway -p sim --bin gateway --bin rtpload"
(cd "$ROOT" && cargo build --quiet --release -p gateway --bin gateway && cargo build --quiet --release -p sim --bin rtpload)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bridgehead-media-bench.XXXXXX")
# Every run uses these copies: target/ may be rebuilt by someone else meanwhile.
GATEWAY=$WORK/gateway
RTPLOAD=$WORK/rtpload
cp "$ROOT/target/release/gateway" "$GATEWAY"
cp "$ROOT/target/release/rtpload" "$RTPLOAD"
GATEWAY_SHA=$(sha256sum "$GATEWAY" | cut -c1-12)
GATEWAY_REV=$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(cd "$ROOT" && git status --porcelain -- gateway Cargo.toml Cargo.lock 2>/dev/null)" ]; then
  GATEWAY_REV="$GATEWAY_REV + uncommitted changes"
fi
RESULTS=$WORK/results.jsonl
# Time bounds: a step (quiet wait, load, drain, maybe all once more); a session.
STEP_BOUND=$((2 * (QUIET_WAIT + DURATION + 22) + 10))
SESSION_BOUND=$((600 + ($(wc -w <<<"$RATES") + 1) * 4 * STEP_BOUND))
A="python3 $BENCH/analyze.py"
M="python3 $BENCH/media-analyze.py"

# --- the systems under test, all up at once -----------------------------------
# Every (system, mode) runs as its own process on SUT_CPU with its calls set
# up by its own rtpload (driven: one step per line on its standard input),
# and the rates are interleaved: rate 1 on each system in turn, then rate
# 2 ... so that a drift in the shared machine's speed falls on all of them
# alike. Only one relay carries traffic at a time; the others are idle.
TARGETS=() # "sut mode"
declare -A T_DIR T_SUT_PID T_GEN_PID T_CTL T_ACK T_LOGN T_FAILS
RUN=0
start_target() { # start_target SUT MODE INDEX
  local sut=$1 mode=$2 idx=$3 key="$1 $2"
  local base sip_port uac_port uas_port ng_port media_a media_b
  while :; do
    base=$((PORT_BASE + RUN * 10))
    RUN=$((RUN + 1))
    sip_port=$base uac_port=$((base + 1)) uas_port=$((base + 2)) ng_port=$((base + 3))
    media_a=$((base + 4)) media_b=$((base + 6))
    $A free-udp "$sip_port" "$uac_port" "$uas_port" "$ng_port" "$media_a" "$media_b" && break
  done
  # Each relay its own port range: 4 ports per call (two legs, RTP + RTCP).
  local relay_min=$((RELAY_BASE + idx * 4 * MAX_CALLS)) relay_max
  relay_max=$((relay_min + 4 * MAX_CALLS - 1))
  local dir=$WORK/$sut-$mode
  mkdir -p "$dir"
  local srtp_flag=() sut_pid gen_args=()
  [ "$mode" = srtp ] && srtp_flag=(--srtp)
  case $sut in
    bridgehead*)
      local teams_srtp=false media_io=""
      case $sut in
        bridgehead:*) media_io=$(tr ',' '\n' <<<"${sut#bridgehead:}" | sed 's/=/ = /') ;;
      esac
      [ "$mode" = srtp ] && teams_srtp=true
      cat >"$dir/gateway.toml" <<EOF
# Bridgehead under media load (bench/media-load.sh): rtpload is both the
# operator and the one Teams proxy; media anchored on loopback.
[sip]
fqdn = "$RELAY_ADDR"
listen = "$RELAY_ADDR:$sip_port"
seed = 1

[operator]
address = "127.0.0.1:$uac_port"
transport = "udp"

[teams]
proxies = [ { address = "127.0.0.1:$uas_port", transport = "udp" } ]

[media]
address = "$RELAY_ADDR"
port_min = $relay_min
port_max = $relay_max
# One-way load: the Teams side never sends, which the media inactivity
# timeout would rightly take for a dead call.
timeout_s = 0
$media_io

[media.teams]
srtp = $teams_srtp

[limits]
max_calls = 10000

[shutdown]
drain_timeout_s = 2
EOF
      "$GATEWAY" check-config "$dir/gateway.toml" >/dev/null
      RUST_LOG=$GATEWAY_LOG taskset -c "$SUT_CPU" "$GATEWAY" run --config "$dir/gateway.toml" 2>"$dir/sut.log" &
      sut_pid=$!
      PIDS+=("$sut_pid")
      $A wait-udp "$sip_port" 10 || { tail -5 "$dir/sut.log" >&2; return 1; }
      gen_args=(--sut bridgehead --sut-name "$sut" --gateway "$RELAY_ADDR:$sip_port" --uac "127.0.0.1:$uac_port" --uas "127.0.0.1:$uas_port")
      ;;
    rtpengine)
      local threads=()
      [ -n "$RTPENGINE_THREADS" ] && threads=(--num-threads="$RTPENGINE_THREADS")
      # --timeout: a relay idles while the others are measured; its calls
      # must not be reaped for want of media (60 s by default).
      taskset -c "$SUT_CPU" rtpengine --config-file=none --table=-1 --interface="$RELAY_ADDR" \
        --listen-ng="127.0.0.1:$ng_port" --port-min="$relay_min" --port-max="$relay_max" --timeout=3600 \
        --foreground --log-stderr --log-level=4 "${threads[@]}" 2>"$dir/sut.log" &
      sut_pid=$!
      PIDS+=("$sut_pid")
      $A wait-udp "$ng_port" 10 || { tail -5 "$dir/sut.log" >&2; return 1; }
      gen_args=(--sut rtpengine --ng "127.0.0.1:$ng_port")
      ;;
    *) log "unknown system under test: $sut"; return 1 ;;
  esac
  mkfifo "$dir/ctl" "$dir/ack"
  taskset -c "$GEN_CPU" timeout -k 5 "$SESSION_BOUND" "$RTPLOAD" "${gen_args[@]}" "${srtp_flag[@]}" \
    --label "$sut $mode" --media-a "127.0.0.1:$media_a" --media-b "127.0.0.1:$media_b" --calls "$CALLS" \
    --rates - --duration "$DURATION" --quiet-wait "$QUIET_WAIT" \
    --sut-pid "$sut_pid" --sut-cpu "$SUT_CPU" --gen-cpu "$GEN_CPU" --out "$RESULTS" \
    <"$dir/ctl" >"$dir/ack" 2>"$dir/rtpload.log" &
  local gen_pid=$! ctl ack line
  PIDS+=("$gen_pid")
  exec {ctl}>"$dir/ctl"
  exec {ack}<"$dir/ack"
  T_DIR[$key]=$dir T_SUT_PID[$key]=$sut_pid T_GEN_PID[$key]=$gen_pid T_CTL[$key]=$ctl T_ACK[$key]=$ack T_LOGN[$key]=0 T_FAILS[$key]=0
  TARGETS+=("$key")
  if ! read -r -t 120 -u "$ack" line || [ "$line" != ready ]; then
    cat "$dir/rtpload.log" >&2
    log "rtpload could not set up $sut $mode"
    return 1
  fi
  show_log "$key"
}

show_log() { # the new lines of a target's rtpload log
  local key=$1 n
  n=$(wc -l <"${T_DIR[$key]}/rtpload.log")
  sed -n "$((T_LOGN[$key] + 1)),${n}p" "${T_DIR[$key]}/rtpload.log" >&2
  T_LOGN[$key]=$n
}

step() { # step "SUT MODE" RATE [FILE]: one measured rate on one target
  local key=$1 rate=$2 file=${3:-} line
  echo "$rate $file" >&"${T_CTL[$key]}"
  if ! read -r -t "$STEP_BOUND" -u "${T_ACK[$key]}" line || [ "${line% *}" != "done $rate" ]; then
    show_log "$key"
    log "rtpload ($key) did not finish the $rate packets/s step"
    return 1
  fi
  show_log "$key"
  if [ "${line##* }" = ok ]; then T_FAILS[$key]=0; else T_FAILS[$key]=$((T_FAILS[$key] + 1)); fi
}

profile() { # profile "SUT MODE": one more step at PROFILE_RATE under perf
  local key=$1 dir=${T_DIR[$1]} pid=${T_SUT_PID[$1]}
  # Samples with kernel call chains (each system call's inclusive cost), and
  # the system calls the relay makes.
  perf record -F 499 -g -p "$pid" -o "$dir/perf.data" >"$dir/perf.log" 2>&1 &
  local perf_pid=$!
  PIDS+=("$perf_pid")
  local ev=raw_syscalls:sys_enter e
  for e in recvfrom recvmsg recvmmsg sendto sendmsg sendmmsg epoll_wait epoll_pwait io_uring_enter futex; do
    ev="$ev,syscalls:sys_enter_$e"
  done
  perf stat -x, -o "$dir/perf-stat.csv" -e "$ev,context-switches" -p "$pid" >/dev/null 2>&1 &
  local stat_pid=$!
  PIDS+=("$stat_pid")
  sleep 1
  step "$key" "$PROFILE_RATE" "$dir/profile-row.jsonl"
  stop_pid "$stat_pid" INT 5
  stop_pid "$perf_pid" INT 20
  perf report -i "$dir/perf.data" --no-children --sort dso,sym --stdio -g none --percent-limit 0 \
    2>/dev/null >"$dir/perf-self.txt" || true
  perf report -i "$dir/perf.data" --children --sort dso,sym --stdio -g none --percent-limit 0 \
    2>/dev/null >"$dir/perf-children.txt" || true
  $M profile "$dir" ${key} >>"$RESULTS"
}

stop_target() { # its rtpload ends its calls and exits, then the relay is stopped
  local key=$1 ctl=${T_CTL[$1]} ack=${T_ACK[$1]}
  # "quit", not only the end of input: the processes started after this
  # target inherited the write end of its control pipe.
  echo quit >&"$ctl" || true
  wait "${T_GEN_PID[$key]}" 2>/dev/null || true
  exec {ctl}>&-
  exec {ack}<&-
  show_log "$key"
  stop_pid "${T_SUT_PID[$key]}" TERM 5
  grep -E "ERR|WARN|warn|error" "${T_DIR[$key]}/sut.log" | head -3 >&2 || true
}

# --- all runs ------------------------------------------------------------------
cmd="bash bench/media-load.sh"
for v in RATES DURATION CALLS SUTS MODES SUT_CPU GEN_CPU RTPENGINE_THREADS QUIET_WAIT GATEWAY_LOG PROFILE PROFILE_RATE RELAY_ADDR; do
  if printenv "$v" >/dev/null; then cmd="$v=\"${!v}\" $cmd"; fi
done
RTPENGINE_VERSION="n/a"
have rtpengine && RTPENGINE_VERSION=$(rtpengine --version 2>&1 | sed -n 's/^Version: *//p' | head -1)
python3 - "$RESULTS" <<EOF
import json, sys
meta = {
    "command": '''$cmd''',
    "date": "$(date -u +%Y-%m-%dT%H:%MZ)",
    "cpu": """$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')""",
    "cores": $NCPU,
    "kernel": "$(uname -r)",
    "gateway_rev": "$GATEWAY_REV (binary sha256 $GATEWAY_SHA)",
    "rtpengine": "rtpengine $RTPENGINE_VERSION",
    "rtpengine_threads": "${RTPENGINE_THREADS:-default}",
    "duration_s": $DURATION,
    "calls": $CALLS,
    "sut_cpu": $SUT_CPU,
    "gen_cpu": $GEN_CPU,
    "gateway_log": "$GATEWAY_LOG",
}
open(sys.argv[1], "w").write(json.dumps({"meta": meta}) + "\n")
EOF

log "work directory: $WORK; rates: $RATES; $DURATION s each; $CALLS calls"
idx=0
for mode in $MODES; do
  for sut in $SUTS; do
    start_target "$sut" "$mode" "$idx"
    idx=$((idx + 1))
  done
done
# Profiles first, on relays that have not been overloaded yet (past its
# capacity rtpengine sheds streams, and Bridgehead holds seconds of queue).
if [ "$PROFILE" = 1 ]; then
  log "profiles: each relay at $PROFILE_RATE packets/s under perf (not in the measured table)"
  for key in "${TARGETS[@]}"; do
    profile "$key"
  done
fi
for rate in $RATES; do
  for key in "${TARGETS[@]}"; do
    # Two rates in a row that were not loss-free: past its capacity; the
    # higher rates would only overload it further.
    if [ "${T_FAILS[$key]}" -ge 2 ]; then
      log "$key: not loss-free at the last two rates: $rate packets/s skipped"
      continue
    fi
    step "$key" "$rate"
  done
done
for key in "${TARGETS[@]}"; do
  stop_target "$key"
done
$M report "$RESULTS" "$REPORT"
log "written: $REPORT"
