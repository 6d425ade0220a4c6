# Shared by bench/load.sh and bench/media-load.sh (sourced, not run).
#
# Needs, set by the caller before sourcing: BENCH_TAG (the log prefix) and
# A (the analyze.py command, for process trees). Gives: log, have,
# stop_pid, and a cleanup on exit (installed here) that stops every PID in
# PIDS and removes WORK unless KEEP=1 or the run failed.

log() { printf '[%s] %s\n' "$BENCH_TAG" "$*" >&2; }
have() { command -v "$1" >/dev/null 2>&1; }

PIDS=()
stop_pid() { # stop_pid PID SIGNAL GRACE_S: signal the process tree, wait, then SIGKILL what is left
  local pid=$1 sig=$2 grace=$3 tree
  kill -0 "$pid" 2>/dev/null || return 0
  tree=$($A tree "$pid" 2>/dev/null || echo "$pid")
  kill "-$sig" "$pid" 2>/dev/null || true
  local i
  for ((i = 0; i < grace * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  for p in $tree; do kill -KILL "$p" 2>/dev/null || true; done
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do stop_pid "$pid" TERM 2; done
  if [ -n "${WORK:-}" ]; then
    if [ "${KEEP:-0}" = 1 ] || [ $rc -ne 0 ]; then
      log "work directory kept: $WORK"
    else
      rm -rf "$WORK"
    fi
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
