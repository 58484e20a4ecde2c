#!/usr/bin/env bash
# End-to-end scenario tests: the real programs over loopback.
#
#   reference server  <--  fault proxy  <--  emulated device      (127.0.0.1 only)
#
# Usage:
#   tests/e2e/scenario.sh <scenario> <bin-dir>
#   tests/e2e/scenario.sh <scenario> <uplink_server> <uplink_proxy> <uplink_device>
#   tests/e2e/scenario.sh list
#
# <bin-dir> is a build directory (e.g. build/debug) or a directory holding
# the three programs; CTest passes the three paths explicitly.
#
# Each scenario starts the server (--print-payloads, so every delivered
# payload is in its log), the proxy (commands through a FIFO) and one device
# with the --demo timings (heartbeat 1 s, read timeout 2 s, backoff
# 0.2 .. 2 s), injects its fault, and at the end checks:
#   - every payload the device generated ("<device-id> #<n> ...", n = 1..N)
#     reached the server application exactly once, counted over the logs of
#     every server process of the run (server_killed: see below);
#   - the device's summary: sent == acked == N; it exited 0 by itself;
#   - no server "duplicate" event and no sequence_error;
#   - every "offline" line carrying detection_ms has
#     detection_ms <= bound_ms + slop, and for dead-link scenarios the link
#     was declared dead (server_silent or write_timeout) within
#     bound_ms + slop of the fault, measured from the proxy's own log line;
#   - at least one reconnect (byte_at_a_time: none, and no disconnect);
#   - every process stopped on purpose exited 0; no sanitizer report.
#
# Scenarios:
#   blackhole_both, blackhole_up, blackhole_down
#       the proxy swallows one or both directions (a half-open link); the
#       device must detect it, retry through it, and reconnect after forward.
#   server_stops_reading
#       the proxy stops reading from the device (stall on): detection, then
#       reconnect after stall off. Stalled bytes may arrive late: still no
#       duplicate.
#   server_killed
#       SIGKILL the server, restart it on the same port. The new server has
#       no sessions, so the device renumbers its unacknowledged messages and
#       sends them again: messages the killed server received but never
#       acknowledged may reach the application twice (PROTOCOL.md 4.2).
#       Asserted: no loss; duplicates only of messages in flight at the kill
#       (above the last one the device saw acknowledged, within its in-flight
#       window of 32), each once per server.
#   server_restarted_repeatedly
#       SIGTERM + restart three times: a graceful shutdown acknowledges all
#       it delivered, then CLOSE going_away: exactly once.
#   byte_at_a_time
#       the proxy writes one byte per segment both ways, the whole run:
#       exactly once, no disconnect at all.
#   garbage_from_server
#       the proxy injects ff ff ff ff toward the device: a protocol error on
#       the device, which reconnects (the session resumes): exactly once.
#   device_flood
#       500 messages/s, far above what the outbound store holds, while the
#       link is dead (blackhole both) and then refused (refuse on): the
#       device reports refusals (summary "refused" > 0) and keeps the message
#       it could not queue; every one it generated is delivered exactly once.
#
# Environment:
#   UPLINK_TEST_SLOP_MS    tolerance added to the detection bound (default 300)
#   UPLINK_E2E_DEADLINE_S  the whole scenario's budget (default 75); every
#                          wait is bounded by it as well as by its own limit
#   UPLINK_E2E_KEEP=1      keep the work directory even on success
# On failure the work directory (logs) is kept and the end of each log printed.
set -euo pipefail

readonly SCENARIOS="blackhole_both blackhole_up blackhole_down server_stops_reading server_killed
server_restarted_repeatedly byte_at_a_time garbage_from_server device_flood"

usage() {
  sed -n '6,12p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

[ $# -ge 1 ] || usage
scenario=$1
shift
if [ "$scenario" = list ]; then
  printf '%s\n' $SCENARIOS
  exit 0
fi
case " $(echo $SCENARIOS) " in
  *" $scenario "*) ;;
  *) echo "scenario.sh: unknown scenario '$scenario' (one of: $(echo $SCENARIOS))" >&2; exit 2 ;;
esac

find_program() {  # find_program <bin-dir> <name> <sample-dir>
  local candidate
  for candidate in "$1/$2" "$1/samples/$3/$2"; do
    if [ -x "$candidate" ]; then
      echo "$candidate"
      return 0
    fi
  done
  echo "scenario.sh: no $2 in $1 (nor in $1/samples/$3)" >&2
  exit 2
}
case $# in
  1)
    server_bin=$(find_program "$1" uplink_server reference_server)
    proxy_bin=$(find_program "$1" uplink_proxy fault_proxy)
    device_bin=$(find_program "$1" uplink_device emulated_device)
    ;;
  3)
    server_bin=$1 proxy_bin=$2 device_bin=$3
    for program in "$server_bin" "$proxy_bin" "$device_bin"; do
      [ -x "$program" ] || { echo "scenario.sh: not an executable: $program" >&2; exit 2; }
    done
    ;;
  *) usage ;;
esac

readonly SLOP_MS=${UPLINK_TEST_SLOP_MS:-300}
readonly DEADLINE_S=${UPLINK_E2E_DEADLINE_S:-75}
# uplink::Options::max_in_flight default (the emulated device has no flag for it).
readonly IN_FLIGHT_WINDOW=32
readonly DEVICE_ID="e2e-$scenario"
readonly POLL_S=0.05

now_ms() { date +%s%3N; }
readonly START_MS=$(now_ms)
readonly DEADLINE_MS=$((START_MS + DEADLINE_S * 1000))

work=$(mktemp -d "${TMPDIR:-/tmp}/uplink-e2e-$scenario.XXXXXX")
readonly work
dev_log=$work/device.log

# --- Processes -------------------------------------------------------------------
# Only what this script started is ever signalled: pid_of maps a name to the
# pid of a child not yet reaped; a name leaves it once its exit was collected.
declare -A pid_of=()
declare -A exit_of=()
watched=()  # names that must stay alive while the script waits
failed=0

say() {
  printf '[%s %6.2fs] %s\n' "$scenario" "$(( $(now_ms) - START_MS ))e-3" "$*"
}

dump_logs() {
  local file
  for file in "$work"/*.log "$work"/*.err; do
    [ -s "$file" ] || continue
    echo "----- $(basename "$file") (last 25 lines) -----" >&2
    tail -n 25 "$file" | cut -c 1-400 >&2
  done
}

fail() {
  echo "FAIL [$scenario]: $*" >&2
  failed=1
  exit 1
}

cleanup() {
  local status=$? name pid i
  trap - EXIT
  { exec 3>&-; } 2>/dev/null || true
  for name in "${!pid_of[@]}"; do
    kill -TERM "${pid_of[$name]}" 2>/dev/null || true
  done
  for name in "${!pid_of[@]}"; do
    pid=${pid_of[$name]}
    for ((i = 0; i < 60; i++)); do  # up to 3 s, then SIGKILL
      kill -0 "$pid" 2>/dev/null || break
      sleep "$POLL_S"
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ "$status" -ne 0 ] || [ "$failed" -ne 0 ]; then
    dump_logs
    echo "FAIL [$scenario]: logs kept in $work" >&2
    [ "$status" -ne 0 ] || status=1
  elif [ "${UPLINK_E2E_KEEP:-0}" = 1 ]; then
    echo "logs kept in $work"
  else
    rm -rf "$work"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'fail "interrupted"' INT TERM

# start <name> <stdin> <program> [args...]: stdout -> <name>.log, stderr -> <name>.err
start() {
  local name=$1 input=$2
  shift 2
  "$@" <"$input" >"$work/$name.log" 2>"$work/$name.err" &
  pid_of[$name]=$!
}

alive() { [ -n "${pid_of[$1]:-}" ] && kill -0 "${pid_of[$1]}" 2>/dev/null; }

# Collects the exit status of a child that is gone: exit_of[name].
collect() {
  local name=$1 status=0
  wait "${pid_of[$name]}" || status=$?
  exit_of[$name]=$status
  unset "pid_of[$name]"
  unwatch "$name"
}

watch() { watched+=("$1"); }
unwatch() {
  local keep=() name
  for name in "${watched[@]}"; do
    [ "$name" = "$1" ] || keep+=("$name")
  done
  watched=("${keep[@]}")
}

check_watched() {
  local name
  for name in "${watched[@]}"; do
    if ! alive "$name"; then
      collect "$name"
      fail "$name exited unexpectedly (status ${exit_of[$name]})"
    fi
  done
}

# wait_until <seconds> <what> <command...>: polls the command (run in this
# shell, so it may set variables) until it succeeds; fails after <seconds>,
# at the scenario's deadline, or when a watched process dies.
wait_until() {
  local limit_ms=$(($(now_ms) + $1 * 1000)) what=$2
  shift 2
  [ "$limit_ms" -le "$DEADLINE_MS" ] || limit_ms=$DEADLINE_MS
  while true; do
    if "$@"; then return 0; fi
    check_watched
    [ "$(now_ms)" -lt "$limit_ms" ] || fail "timed out waiting for $what"
    sleep "$POLL_S"
  done
}

count_lines() {  # count_lines <file> <fixed string>
  grep -c -F -- "$2" "$1" 2>/dev/null || true
}

# has_line <file> <fixed string> <n>: the file has >= n such lines; the n-th is in $line.
has_line() {
  [ "$(count_lines "$1" "$2")" -ge "$3" ] || return 1
  line=$(grep -F -m "$3" -- "$2" "$1" | tail -n 1)
}

# wait_line <file> <fixed string> <seconds> [n=1]: sets $line to the n-th match.
wait_line() {
  wait_until "$3" "line ${4:-1} '$2' in $(basename "$1")" has_line "$1" "$2" "${4:-1}"
}

# A field of a JSON line: numbers and strings without commas or quotes.
field() {
  local match
  match=$(grep -o "\"$1\":\"\{0,1\}[^,\"}]*" <<<"$2" | head -n 1 || true)
  match=${match#*:}
  printf '%s' "${match//\"/}"
}

# --- The three programs ----------------------------------------------------------
servers=0
server_port=0

# start_server <port>: server<k> (k = 1, 2, ...) listening on <port> (0: any).
start_server() {
  servers=$((servers + 1))
  local name=server$servers
  start "$name" /dev/null "$server_bin" --listen "127.0.0.1:$1" --print-payloads --shutdown-retry-after-ms 300
  watch "$name"
  wait_line "$work/$name.log" '"event":"listening"' 10
  server_port=$(field port "$line")
  say "$name listening on :$server_port"
}

# stop_server <k> <signal>: signals server<k> and collects its exit status.
stop_server() {
  local name=server$1
  unwatch "$name"
  kill "-$2" "${pid_of[$name]}"
  wait_until 10 "$name to exit after SIG$2" eval '! alive '"$name"
  collect "$name"
}

start_proxy() {
  mkfifo "$work/proxy.in"
  start proxy "$work/proxy.in" "$proxy_bin" --listen 127.0.0.1:0 --upstream "127.0.0.1:$server_port"
  exec 3>"$work/proxy.in"
  watch proxy
  wait_line "$work/proxy.log" '"event":"listening"' 10
  proxy_port=$(field port "$line")
  say "proxy listening on :$proxy_port, forwarding to :$server_port"
}

# proxy_cmd <command>: sends it and waits for the proxy's "mode" line naming
# it (any "error" line meanwhile fails); $fault_ms is that line's timestamp.
proxy_cmd() {
  local command=$1 modes errors
  modes=$(count_lines "$work/proxy.log" "\"command\":\"$command\"")
  errors=$(count_lines "$work/proxy.log" '"event":"error"')
  alive proxy || fail "the proxy is gone"
  printf '%s\n' "$command" >&3
  proxy_done() {
    [ "$(count_lines "$work/proxy.log" '"event":"error"')" -le "$errors" ] ||
      fail "the proxy refused '$command': $(grep -F '"event":"error"' "$work/proxy.log" | tail -n 1)"
    has_line "$work/proxy.log" "\"command\":\"$command\"" $((modes + 1))
  }
  wait_until 5 "the proxy to apply '$command'" proxy_done
  fault_ms=$(field ts_ms "$line")
  say "proxy: $command"
}

start_device() {  # start_device <count> [flags...]
  count=$1
  shift
  # --duration-s: a backstop should this script be killed without cleanup.
  start device /dev/null "$device_bin" --server "127.0.0.1:$proxy_port" --device-id "$DEVICE_ID" --demo \
    --count "$count" --duration-s $((DEADLINE_S + 10)) "$@"
  watch device
  say "device $DEVICE_ID started: --count $count $*"
}

# Waits until the device has been online n times in all.
wait_online() {
  wait_line "$dev_log" '"event":"online"' "${2:-15}" "$1"
  say "device online (#$1, resumed $(field resumed "$line"))"
}

last_acked() {
  local last
  last=$(grep -F '"event":"acked"' "$dev_log" 2>/dev/null | tail -n 1 || true)
  field seq "$last"
}
acked_at_least() { [ "$(last_acked)" -ge "$1" ] 2>/dev/null; }
wait_acked() {
  wait_until "${2:-15}" "the device to see message #$1 acknowledged" acked_at_least "$1"
}

# Lines of the device's log that are not the final stop.
faults() { grep -F '"event":"offline"' "$dev_log" | grep -v -F '"reason":"stopped"' || true; }

# wait_offline <n> [seconds]: the n-th offline (not "stopped") line, into $line.
nth_fault() {
  [ "$(faults | grep -c . || true)" -ge "$1" ] || return 1
  line=$(faults | sed -n "$1p")
}
wait_offline() {
  wait_until "${2:-10}" "the device to go offline (#$1)" nth_fault "$1"
  say "device offline: reason $(field reason "$line")$(
    [ -z "$(field detection_ms "$line")" ] ||
      echo ", detection $(field detection_ms "$line") ms, bound $(field bound_ms "$line") ms")"
}

# After the fault at $fault_ms: the link must be declared dead (server_silent
# or write_timeout) within bound_ms + slop, by the device's own measure and
# by the wall clock from the proxy's log line.
expect_dead_link() {
  local reason detection bound took
  # Generous wait: the checks below say whether it was in time.
  wait_offline "$1" 10
  reason=$(field reason "$line")
  detection=$(field detection_ms "$line")
  bound=$(field bound_ms "$line")
  case $reason in
    server_silent | write_timeout) ;;
    *) fail "dead link reported as '$reason', expected server_silent or write_timeout: $line" ;;
  esac
  took=$(($(field ts_ms "$line") - fault_ms))
  [ "$detection" -le $((bound + SLOP_MS)) ] ||
    fail "detection_ms $detection > bound_ms $bound + slop $SLOP_MS"
  [ "$took" -le $((bound + SLOP_MS)) ] ||
    fail "declared dead $took ms after the fault > bound_ms $bound + slop $SLOP_MS"
  say "dead link detected: $reason, ${detection} ms since the last frame, ${took} ms after the fault (bound $bound + slop $SLOP_MS)"
}

# Waits for a reconnect attempt that fails after the n-th offline line:
# the device keeps retrying while the fault lasts.
wait_failed_attempt() {
  local before
  before=$(count_lines "$dev_log" '"event":"connect_failed"')
  wait_line "$dev_log" '"event":"connect_failed"' "${1:-10}" $((before + 1))
  say "reconnect attempt failed as expected: $(field reason "$line")"
}

# --- The end of every scenario -----------------------------------------------------
summary=""

# The device exits by itself once all <count> messages are acknowledged.
finish_device() {
  unwatch device
  wait_until "${1:-30}" "the device to finish (all $count messages acknowledged)" eval '! alive device'
  collect device
  [ "${exit_of[device]}" -eq 0 ] || fail "device exited with status ${exit_of[device]}"
  summary=$(grep -F '"event":"summary"' "$dev_log" | tail -n 1 || true)
  [ -n "$summary" ] || fail "no summary line from the device"
  say "device done: $summary"
}

# Graceful stop of the last server and of the proxy; both must exit 0.
stop_all() {
  local k=$servers
  stop_server "$k" TERM
  [ "${exit_of[server$k]}" -eq 0 ] || fail "server$k exited with status ${exit_of[server$k]} after SIGTERM"
  has_line "$work/server$k.log" '"event":"shutdown"' 1 || fail "server$k printed no shutdown line"
  unwatch proxy
  { exec 3>&-; } 2>/dev/null || true
  kill -TERM "${pid_of[proxy]}"
  wait_until 10 "the proxy to exit" eval '! alive proxy'
  collect proxy
  [ "${exit_of[proxy]}" -eq 0 ] || fail "proxy exited with status ${exit_of[proxy]}"
}

# Payload numbers the server application received, one per line, from the
# given server logs.
received_numbers() {
  grep -h -F '"event":"message"' "$@" 2>/dev/null |
    sed -n "s/.*\"payload\":\"$DEVICE_ID #\([0-9][0-9]*\) .*/\1/p" || true
}

check_common() {
  local sent acked total numbered file k shutdown
  sent=$(field sent "$summary")
  acked=$(field acked "$summary")
  [ "$sent" = "$count" ] || fail "device sent $sent messages, expected $count"
  [ "$acked" = "$sent" ] || fail "device summary: sent $sent != acked $acked"

  # Every message line must be one of ours.
  total=$(cat "$work"/server*.log | grep -c -F '"event":"message"' || true)
  numbered=$(received_numbers "$work"/server*.log | grep -c . || true)
  [ "$total" = "$numbered" ] || fail "$((total - numbered)) message lines without a '$DEVICE_ID #<n> ' payload"

  # The protocol itself never saw a duplicate nor a sequence error.
  ! grep -q -F '"event":"duplicate"' "$work"/server*.log || fail "server reported duplicate DATA: $(
    grep -h -F '"event":"duplicate"' "$work"/server*.log | head -n 3)"
  ! grep -q -F 'sequence_error' "$work"/server*.log "$dev_log" || fail "sequence error: $(
    grep -h -F 'sequence_error' "$work"/server*.log "$dev_log" | head -n 3)"

  # Each server that shut down gracefully counted what its log shows.
  for ((k = 1; k <= servers; k++)); do
    file=$work/server$k.log
    shutdown=$(grep -F '"event":"shutdown"' "$file" | tail -n 1 || true)
    [ -n "$shutdown" ] || continue
    [ "$(field duplicates "$shutdown")" = 0 ] || fail "server$k: $shutdown"
    [ "$(field received "$shutdown")" = "$(received_numbers "$file" | grep -c . || true)" ] ||
      fail "server$k: shutdown line disagrees with its message lines: $shutdown"
  done

  # The detection bound holds for every dead link the device reported.
  local offline detection bound
  while IFS= read -r offline; do
    detection=$(field detection_ms "$offline")
    [ -n "$detection" ] || continue
    bound=$(field bound_ms "$offline")
    [ "$detection" -le $((bound + SLOP_MS)) ] ||
      fail "detection_ms $detection > bound_ms $bound + slop $SLOP_MS: $offline"
  done < <(faults)

  # No sanitizer report, from any process.
  if grep -l -E 'ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:' "$work"/*.err >/dev/null 2>&1; then
    fail "sanitizer report: $(grep -h -E 'Sanitizer|runtime error:' "$work"/*.err | head -n 5)"
  fi
}

# Every payload 1..count exactly once over all server logs.
check_exactly_once() {
  local report
  report=$(received_numbers "$work"/server*.log | sort -n | uniq -c |
    awk -v n="$count" '
      { seen[$2] = $1 }
      END {
        for (i = 1; i <= n; i++) {
          if (!(i in seen)) missing = missing " #" i
          else if (seen[i] > 1) dup = dup " #" i "x" seen[i]
        }
        for (k in seen) if (k + 0 < 1 || k + 0 > n + 0) extra = extra " #" k
        if (missing != "") print "lost:" missing
        if (dup != "") print "duplicated:" dup
        if (extra != "") print "never generated:" extra
      }')
  [ -z "$report" ] || fail "not exactly once: $report"
  say "all $count messages received exactly once"
}

expect_reconnects() {  # expect_reconnects <at least>
  local reconnects onlines
  reconnects=$(field reconnects "$summary")
  onlines=$(count_lines "$dev_log" '"event":"online"')
  [ "$reconnects" -ge "$1" ] || fail "device reconnected $reconnects times, expected >= $1"
  [ "$onlines" -ge $(($1 + 1)) ] || fail "device was online $onlines times, expected >= $(($1 + 1))"
  say "device reconnected $reconnects times"
}

setup() {
  start_server 0
  start_proxy
}

# --- Scenarios ---------------------------------------------------------------------

scenario_blackhole() {  # up | down | both
  setup
  start_device 100 --rate 20
  wait_online 1
  wait_acked 20
  proxy_cmd "blackhole $1"
  expect_dead_link 1
  wait_failed_attempt  # through the black hole: the handshake cannot complete
  proxy_cmd forward
  wait_online 2
  finish_device
  stop_all
  check_common
  check_exactly_once
  expect_reconnects 1
}

scenario_server_stops_reading() {
  setup
  start_device 100 --rate 20
  wait_online 1
  wait_acked 20
  proxy_cmd "stall on"
  expect_dead_link 1
  wait_failed_attempt  # the new connection's HELLO is not read either
  proxy_cmd "stall off"
  wait_online 2
  finish_device
  stop_all
  check_common
  check_exactly_once
  expect_reconnects 1
}

scenario_server_killed() {
  setup
  start_device 100 --rate 20
  wait_online 1
  wait_acked 20
  fault_ms=$(now_ms)
  stop_server 1 KILL
  say "server1 killed (SIGKILL, status ${exit_of[server1]})"
  wait_offline 1 5
  local took=$(($(field ts_ms "$line") - fault_ms))
  [ "$took" -le $((2000 + SLOP_MS)) ] || fail "offline only $took ms after the kill"
  # Acknowledged before the kill, as the device saw it.
  local acked_before
  acked_before=$(sed -n '1,/"event":"offline"/p' "$dev_log" | grep -F '"event":"acked"' | tail -n 1)
  acked_before=$(field seq "$acked_before")
  wait_failed_attempt  # nobody behind the proxy: reset
  start_server "$server_port"
  wait_online 2
  [ "$(field resumed "$line")" = false ] || fail "the restarted server resumed a session it cannot know: $line"
  finish_device
  stop_all
  check_common

  # server1 = the killed one; the others are restarts.
  local report
  report=$(
    {
      received_numbers "$work/server1.log" | sed 's/^/1 /'
      for ((k = 2; k <= servers; k++)); do received_numbers "$work/server$k.log" | sed 's/^/2 /'; done
    } | awk -v n="$count" -v acked="$acked_before" -v window="$IN_FLIGHT_WINDOW" '
      { c[$1, $2]++; if ($1 == 1 && $2 > last1) last1 = $2 }
      END {
        for (i = 1; i <= n; i++) {
          a = c[1, i] + 0; b = c[2, i] + 0
          if (a + b == 0) lost = lost " #" i
          else if (a > 1 || b > 1) bad = bad " #" i "(" a "+" b ")"
          else if (a + b == 2) {
            if (i > acked && i <= acked + window) { dups = dups " #" i; ndup++ }
            else bad = bad " #" i "(not in flight)"
          }
        }
        printf "INFO killed server received through #%d; the device had seen #%d acknowledged; ", last1, acked
        printf "delivered twice: %d%s\n", ndup, (dups == "" ? "" : " (" substr(dups, 2) ")")
        if (lost != "") print "FAIL lost:" lost
        if (bad != "") print "FAIL bad duplicates:" bad
      }')
  say "${report%%$'\n'*}"
  ! grep -q '^FAIL' <<<"$report" || fail "$(grep '^FAIL' <<<"$report" | tr '\n' ' ')"
  say "no message lost; duplicates only of messages in flight at the kill (window $IN_FLIGHT_WINDOW)"
  expect_reconnects 1
}

scenario_server_restarted_repeatedly() {
  setup
  start_device 120 --rate 20
  local k
  for k in 1 2 3; do
    wait_online "$k"
    wait_acked $((25 * k))
    stop_server "$k" TERM
    [ "${exit_of[server$k]}" -eq 0 ] || fail "server$k exited with status ${exit_of[server$k]} after SIGTERM"
    has_line "$work/server$k.log" '"event":"shutdown"' 1 || fail "server$k printed no shutdown line"
    say "server$k stopped gracefully: $line"
    wait_offline "$k" 5
    [ "$(field reason "$line")" = closed_by_server ] && [ "$(field server_reason "$line")" = going_away ] ||
      fail "expected closed_by_server / going_away: $line"
    start_server "$server_port"
  done
  wait_online 4
  finish_device
  stop_all
  check_common
  check_exactly_once
  expect_reconnects 3
}

scenario_byte_at_a_time() {
  setup
  proxy_cmd "bytewise on"
  start_device 60 --rate 20 --size 200
  wait_online 1
  finish_device
  stop_all
  check_common
  check_exactly_once
  [ -z "$(faults)" ] || fail "the device went offline: $(faults | head -n 1)"
  [ "$(field reconnects "$summary")" = 0 ] || fail "the device reconnected: $summary"
  say "no disconnect"
}

scenario_garbage_from_server() {
  setup
  start_device 80 --rate 20
  wait_online 1
  wait_acked 20
  proxy_cmd "inject down ff ff ff ff"
  wait_offline 1 5
  local reason
  reason=$(field reason "$line")
  case $reason in
    unknown_frame_type | unknown_control_frame | reserved_flags_set | frame_too_large | malformed_frame | \
      unsupported_version | protocol_error | sequence_error) ;;
    *) fail "garbage reported as '$reason', expected a protocol error: $line" ;;
  esac
  say "protocol error reported: $reason, $(($(field ts_ms "$line") - fault_ms)) ms after the injection"
  wait_online 2
  finish_device
  stop_all
  check_common
  check_exactly_once
  expect_reconnects 1
}

scenario_device_flood() {
  setup
  # 64-byte payloads: the store holds about 220 of them (UPLINK_STORE_BYTES).
  start_device 600 --rate 500 --size 64
  wait_online 1
  wait_acked 50
  proxy_cmd "blackhole both"
  # While nothing is acknowledged for the 2 s detection, 1000 messages are
  # due: the store is full long before.
  expect_dead_link 1
  proxy_cmd "refuse on"
  proxy_cmd reset  # the connections through the black hole go too
  before=$(count_lines "$dev_log" '"reason":"Connection refused"')
  wait_line "$dev_log" '"reason":"Connection refused"' 10 $((before + 1))
  say "reconnect refused as expected"
  proxy_cmd forward  # listening again, nothing swallowed
  wait_online 2
  finish_device
  stop_all
  check_common
  check_exactly_once
  local refused
  refused=$(field refused "$summary")
  [ "$refused" -gt 0 ] || fail "the device never had a message refused by its full store: $summary"
  say "the full store refused $refused send attempts; nothing was lost"
  expect_reconnects 1
}

# --- Main ----------------------------------------------------------------------------

say "work directory $work; slop ${SLOP_MS} ms; deadline ${DEADLINE_S} s"
case $scenario in
  blackhole_both | blackhole_up | blackhole_down) scenario_blackhole "${scenario#blackhole_}" ;;
  *) "scenario_$scenario" ;;
esac
say "PASS ($(( $(now_ms) - START_MS )) ms)"
