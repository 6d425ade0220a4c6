#!/usr/bin/env bash
# Call-throughput benchmark: SIPp UAC -> system under test -> SIPp UAS over
# UDP on 127.0.0.1, signalling only, for Bridgehead (`gateway run`) and, as
# the baseline under the same load, Kamailio as a transaction-stateful
# record-routing proxy (tm, rr, t_relay). For each system and each rate:
# calls/s achieved, calls per CPU-second of the system, failed calls, and
# p50/p99 call-setup latency (INVITE sent -> 200 received at the UAC).
# Writes reports/bench-calls.md and prints it.
#
#   bash bench/load.sh                      # or: just bench
#   RATES="1000 2000" DURATION=30 bash bench/load.sh
#
# Settings (environment):
#   RATES       calls/s to try, each for DURATION s   (1000 2000 3000 4000 5000 6000)
#   DURATION    seconds of load per run                (20)
#   SUTS        systems, in this order                 (bridgehead kamailio)
#   SUT_CPU     CPU the system under test is pinned to (1)
#   GEN_CPU     CPU both SIPp instances are pinned to  (0)
#   KAMAILIO_CHILDREN  Kamailio UDP worker processes   (4)
#   MAX_CALLS, MAX_TRANSACTIONS  the gateway's [limits] (100000, 2000000; its
#               defaults, 10000 and 50000, cap a sustained load near 500 calls/s:
#               every call holds ~3 transactions for 64*T1 = 32 s after it ends)
#   REPORT      Markdown output                        (reports/bench-calls.md)
#   GATEWAY_LOG RUST_LOG of the gateway                (warn)
#   KEEP        1: keep the work directory (logs, SIPp files) at the end
#
# Everything it starts is stopped on exit (trap), every run is bounded in
# time (SIPp -timeout and -recv_timeout, `timeout`), and all traffic stays
# on 127.0.0.1. Installs sip-tester (SIPp), kamailio and tcpdump when they
# are missing (Debian; root or sudo).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
BENCH_TAG=bench
# shellcheck source=bench/lib.sh
source "$BENCH/lib.sh"
RATES=${RATES:-"1000 2000 3000 4000 5000 6000"}
DURATION=${DURATION:-20}
SUTS=${SUTS:-"bridgehead kamailio"}
SUT_CPU=${SUT_CPU:-1}
GEN_CPU=${GEN_CPU:-0}
KAMAILIO_CHILDREN=${KAMAILIO_CHILDREN:-4}
REPORT=${REPORT:-$ROOT/reports/bench-calls.md}
KEEP=${KEEP:-0}
GATEWAY_LOG=${GATEWAY_LOG:-warn}
P99_TARGET_MS=20
MAX_CALLS=${MAX_CALLS:-100000}
MAX_TRANSACTIONS=${MAX_TRANSACTIONS:-2000000}
SERVICE=+14255550100
PORT_BASE=${PORT_BASE:-21000}


# --- what is missing ---------------------------------------------------------
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
missing=()
have sipp || missing+=(sip-tester)
have kamailio || [ -x /usr/sbin/kamailio ] || missing+=(kamailio)
have tcpdump || [ -x /usr/bin/tcpdump ] || [ -x /usr/sbin/tcpdump ] || missing+=(tcpdump)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  # The kamailio package's service is not started (no init in containers;
  # elsewhere it listens on 5060, not on our ports).
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
export PATH=$PATH:/usr/sbin:/sbin
have sipp || { log "sipp is missing"; exit 1; }
have kamailio || { log "kamailio is missing"; exit 1; }
have taskset || { log "taskset (util-linux) is missing"; exit 1; }
# Wire latency needs a loopback capture (root, or sudo without a password).
TCPDUMP=()
if have tcpdump; then
  if [ "$(id -u)" -eq 0 ]; then TCPDUMP=(tcpdump)
  elif sudo -n true 2>/dev/null; then TCPDUMP=(sudo -n tcpdump)
  fi
fi
[ ${#TCPDUMP[@]} -gt 0 ] || log "no packet capture (tcpdump as root): wire latency columns will be n/a"
NCPU=$(nproc)
if [ "$NCPU" -lt 2 ]; then SUT_CPU=0; GEN_CPU=0; log "one CPU: SUT and SIPp share it"; fi

# --- build ---------------------------------------------------------------------
log "cargo build --release -p gateway"
(cd "$ROOT" && cargo build --quiet --release -p gateway)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bridgehead-bench.XXXXXX")
# Every run uses this copy: target/ may be rebuilt by someone else meanwhile.
GATEWAY=$WORK/gateway
cp "$ROOT/target/release/gateway" "$GATEWAY"
GATEWAY_SHA=$(sha256sum "$GATEWAY" | cut -c1-12)
GATEWAY_REV=$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(cd "$ROOT" && git status --porcelain -- gateway Cargo.toml Cargo.lock 2>/dev/null)" ]; then
  GATEWAY_REV="$GATEWAY_REV + uncommitted changes"
fi
RESULTS=$WORK/results.jsonl
A="python3 $BENCH/analyze.py"

ports_free() { $A free-udp "$@"; }

# --- one run -------------------------------------------------------------------
RUN=0
run_one() {
  local sut=$1 rate=$2
  local calls=$((rate * DURATION))
  local limit=$((rate > 100 ? rate : 100))
  local base sut_port uac_port uas_port
  while :; do
    base=$((PORT_BASE + RUN * 10))
    RUN=$((RUN + 1))
    sut_port=$base uac_port=$((base + 1)) uas_port=$((base + 2))
    ports_free "$sut_port" "$uac_port" "$uas_port" && break
  done
  local dir=$WORK/$sut-$rate
  mkdir -p "$dir"

  local sut_pid
  case $sut in
    bridgehead)
      sed -e "s/@PORT@/$sut_port/" -e "s/@UAC_PORT@/$uac_port/" -e "s/@UAS_PORT@/$uas_port/" \
        -e "s/@MAX_CALLS@/$MAX_CALLS/" -e "s/@MAX_TRANSACTIONS@/$MAX_TRANSACTIONS/" \
        "$BENCH/gateway.toml.in" >"$dir/gateway.toml"
      "$GATEWAY" check-config "$dir/gateway.toml" >/dev/null
      RUST_LOG=$GATEWAY_LOG taskset -c "$SUT_CPU" "$GATEWAY" run --config "$dir/gateway.toml" 2>"$dir/sut.log" &
      sut_pid=$!
      ;;
    kamailio)
      sed -e "s/@PORT@/$sut_port/" -e "s/@UAS_PORT@/$uas_port/" -e "s/@CHILDREN@/$KAMAILIO_CHILDREN/" \
        "$BENCH/kamailio.cfg.in" >"$dir/kamailio.cfg"
      mkdir -p "$dir/run"
      kamailio -c -f "$dir/kamailio.cfg" >"$dir/kamailio-check.log" 2>&1 ||
        { cat "$dir/kamailio-check.log" >&2; return 1; }
      taskset -c "$SUT_CPU" kamailio -DD -E -m 1024 -M 16 -f "$dir/kamailio.cfg" -Y "$dir/run" -w "$dir" \
        >"$dir/sut.log" 2>&1 &
      sut_pid=$!
      ;;
    *) log "unknown system under test: $sut"; return 1 ;;
  esac
  PIDS+=("$sut_pid")
  $A wait-udp "$sut_port" 10 || { tail -5 "$dir/sut.log" >&2; return 1; }

  (cd "$dir" && exec taskset -c "$GEN_CPU" sipp -sf "$BENCH/uas.xml" -i 127.0.0.1 -p "$uas_port" \
    -nostdin -buff_size 4194304 -trace_err -trace_stat -timeout "$((DURATION + 90))s") >"$dir/uas.screen" 2>&1 &
  local uas_pid=$!
  PIDS+=("$uas_pid")
  $A wait-udp "$uas_port" 10 || { tail -5 "$dir/uas.screen" >&2; return 1; }

  local cap_pid="" pcap=""
  if [ ${#TCPDUMP[@]} -gt 0 ]; then
    pcap=$dir/uac.pcap
    # Only the UAC's leg, only INVITE requests and 200 responses, first 512 bytes.
    taskset -c "$GEN_CPU" "${TCPDUMP[@]}" -i lo -n -s 512 -B 32768 -w "$pcap" \
      "udp port $uac_port and (udp[8:4] = 0x494e5649 or (udp[8:4] = 0x5349502f and udp[16:4] = 0x32303020))" \
      2>"$dir/tcpdump.log" &
    cap_pid=$!
    PIDS+=("$cap_pid")
    local i
    for ((i = 0; i < 50; i++)); do grep -q "listening on" "$dir/tcpdump.log" 2>/dev/null && break; sleep 0.1; done
  fi

  taskset -c "$GEN_CPU" python3 "$BENCH/analyze.py" monitor "$dir/monitor.jsonl" \
    "$sut_port,$uac_port,$uas_port" "$sut_pid" &
  local mon_pid=$!
  PIDS+=("$mon_pid")
  sleep 0.5

  local sut0 uas0 t0 t1 sut1 uas1 uac_rc=0 loadavg
  loadavg=$(cut -d' ' -f1 /proc/loadavg)
  sut0=$($A ticks "$sut_pid")
  uas0=$($A ticks "$uas_pid")
  t0=$(date +%s.%N)
  # In the background and waited for, so that a signal to this script is
  # handled at once (the trap stops everything) rather than after the run.
  (cd "$dir" && exec python3 "$BENCH/analyze.py" timed "$dir/uac.cpu" -- \
    taskset -c "$GEN_CPU" timeout -k 5 "$((DURATION + 60))" \
    sipp -sf "$BENCH/uac.xml" -i 127.0.0.1 -p "$uac_port" -s "$SERVICE" "127.0.0.1:$sut_port" \
    -r "$rate" -rp 1000 -m "$calls" -l "$limit" -d 0 \
    -timeout "$((DURATION + 45))s" -recv_timeout 5000 -buff_size 4194304 \
    -nostdin -trace_err -trace_stat -fd 1 -trace_rtt -rtt_freq 1000) >"$dir/uac.screen" 2>&1 </dev/null &
  local uac_pid=$!
  PIDS+=("$uac_pid")
  wait "$uac_pid" || uac_rc=$?
  t1=$(date +%s.%N)
  sut1=$($A ticks "$sut_pid")
  uas1=$($A ticks "$uas_pid")
  sleep 0.6 # one more monitor sample (drop counters)

  [ -z "$cap_pid" ] || stop_pid "$cap_pid" INT 5
  stop_pid "$mon_pid" TERM 1
  stop_pid "$uas_pid" TERM 3
  stop_pid "$sut_pid" TERM 5
  PIDS=()

  local stat rtt uas_stat
  stat=$(ls "$dir"/uac_*_.csv 2>/dev/null | head -1 || true)
  uas_stat=$(ls "$dir"/uas_*_.csv 2>/dev/null | head -1 || true)
  rtt=$(ls "$dir"/uac_*_rtt.csv 2>/dev/null | head -1 || true)
  $A row sut="$sut" rate="$rate" calls="$calls" dir="$dir" stat="$stat" uas_stat="$uas_stat" rtt="$rtt" pcap="$pcap" \
    sut_port="$sut_port" uac_port="$uac_port" uas_port="$uas_port" \
    sut_ticks0="$sut0" sut_ticks1="$sut1" uas_ticks0="$uas0" uas_ticks1="$uas1" \
    uac_cpu="$dir/uac.cpu" wall="$(awk "BEGIN { print $t1 - $t0 }")" uac_rc="$uac_rc" \
    monitor="$dir/monitor.jsonl" p99_target_ms="$P99_TARGET_MS" \
    sut_core="$SUT_CPU" loadavg="$loadavg" >"$dir/row.json"
  cat "$dir/row.json" >>"$RESULTS"
  python3 - "$dir/row.json" <<'EOF' >&2
import json, sys
r = json.load(open(sys.argv[1]))
f = lambda x: "n/a" if x is None else f"{x:.2f}"
print(f"[bench] {r['sut']:>10} {r['rate']:>5}/s: {r['achieved_cps']:8.1f} calls/s, {r['successful']} ok, "
      f"{r['failed']} failed, {r['retransmissions']} retrans, setup p50 {f(r['wire_p50_ms'])} ms "
      f"p99 {f(r['wire_p99_ms'])} ms max {f(r['wire_max_ms'])} ms (SIPp p99 {r['rtd_p99_ms']} ms), "
      f"{r['calls_per_cpu_s']} calls/CPU-s, "
      f"SUT drops {r['drops'].get('sut', 0)}, other load on the SUT core {r['sut_core_other_pct']} %: "
      f"{'pass' if r['pass'] else 'FAIL'}")
EOF
  rm -f "$pcap"
}

# --- all runs ------------------------------------------------------------------
cmd="bash bench/load.sh"
for v in RATES DURATION SUTS SUT_CPU GEN_CPU KAMAILIO_CHILDREN MAX_CALLS MAX_TRANSACTIONS GATEWAY_LOG; do
  if printenv "$v" >/dev/null; then cmd="$v=\"${!v}\" $cmd"; fi
done
python3 - "$RESULTS" <<EOF
import json, sys
meta = {
    "command": '''$cmd''',
    "date": "$(date -u +%Y-%m-%dT%H:%MZ)",
    "cpu": """$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')""",
    "cores": $NCPU,
    "kernel": "$(uname -r)",
    "gateway_rev": "$GATEWAY_REV (binary sha256 $GATEWAY_SHA)",
    "kamailio": "Kamailio $(kamailio -v 2>/dev/null | head -1 | sed 's/^version: kamailio \([^ ]*\).*/\1/')",
    "kamailio_children": $KAMAILIO_CHILDREN,
    "sipp": "SIPp $(sipp -v 2>/dev/null | grep -o 'v[0-9][0-9.]*' | head -1)",
    "duration_s": $DURATION,
    "sut_cpu": $SUT_CPU,
    "gen_cpu": $GEN_CPU,
    "gateway_log": "$GATEWAY_LOG",
    "max_calls": $MAX_CALLS,
    "max_transactions": $MAX_TRANSACTIONS,
    "p99_target_ms": $P99_TARGET_MS,
}
open(sys.argv[1], "w").write(json.dumps({"meta": meta}) + "\n")
EOF

log "work directory: $WORK; rates: $RATES; $DURATION s each"
for sut in $SUTS; do
  for rate in $RATES; do
    run_one "$sut" "$rate"
  done
done
$A report "$RESULTS" "$REPORT"
log "written: $REPORT"
