#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End-to-end scenario tests: the real programs over loopback.
#
#   reference server  <--  fault proxy  <--  emulated device      (127.0.0.1 only)
#
# Usage:
#   tests/e2e/scenario.sh <scenario> <bin-dir>
#   tests/e2e/scenario.sh <scenario> <uplink_server> <uplink_proxy> <uplink_device> [<uplink_make_test_pki>]
#   tests/e2e/scenario.sh list
#
# <bin-dir> is a build directory (e.g. build/debug) or a directory holding
# the programs; CTest passes their paths explicitly (the fourth only for a
# tls_ scenario).
#
# Each scenario starts the server (--print-payloads, so every delivered
# payload is in its log), the proxy (commands through a FIFO) and one device
# with the --demo timings (heartbeat 1 s, read timeout 2 s, backoff
# 0.2 .. 2 s), injects its fault, and at the end checks:
#   - every payload the device generated ("<device-id> #<n> ...", n = 1..N)
#     reached the server application exactly once, counted over the logs of
#     every server process of the run (the server_killed and downlink
#     scenarios check otherwise: see below);
#   - the device's summary: sent == acked == N; it exited 0 by itself;
#   - no server "duplicate" event and no sequence_error (unless it is the
#     garbage of garbage_from_server that landed inside an ACK);
#   - every "offline" line carrying detection_ms has
#     detection_ms <= bound_ms + slop, and for dead-link scenarios the link
#     was declared dead (server_silent or write_timeout) within
#     bound_ms + slop of the fault, measured from the proxy's own log line
#     (or the kill); a fault the device is told about (reset, CLOSE,
#     garbage) takes it offline within its read timeout + slop as well;
#   - at least one reconnect (byte_at_a_time: none, and no disconnect);
#   - every process stopped on purpose exited 0; no sanitizer report.
#
# Scenarios:
#   blackhole_both, blackhole_up, blackhole_down
#       the proxy swallows one or both directions (a half-open link); the
#       device must detect it, retry through it, and reconnect after forward.
#   server_stops_reading
#       the proxy stops reading from the device (stall on): detection, then
#       reconnect after stall off; twice: released at once after the
#       detection (the stalled DATA then usually reach the server late, on
#       the abandoned connection), and released only after a reconnect
#       attempt stalled too. Late bytes or not: no duplicate.
#   server_killed
#       SIGKILL the server and restart it on the same port, twice: once
#       plainly (the device sees the connection end at once), once while the
#       proxy swallows server -> device (so the killed server has received
#       messages whose acknowledgements were lost, and the device is left on
#       a half-open link it must detect within its bound). Every server runs
#       with the same --state-dir, so each restarted one resumes the
#       device's session (asserted: "resumed":true) and tells it where to
#       continue. Asserted: the durable record (uplink_server --state-dir
#       --dump-delivered, the server application's exactly-once record)
#       holds 1..N exactly once, in order, and no server's stdout shows a
#       message twice. (Stdout is printed after each commit, so a kill
#       between the two could leave a message out of stdout, never in twice;
#       how many stdout lacks is printed.)
#   server_killed_without_state
#       The same two kills without --state-dir: a new server has no
#       sessions, so the device renumbers its unacknowledged messages and
#       sends them again: messages a killed server received but the device
#       never saw acknowledged may reach the application twice (PROTOCOL.md
#       4.2). Asserted: no loss; a message delivered twice only if a killed
#       server had it while in flight (above the last one the device saw
#       acknowledged before that kill, within its in-flight window of 32),
#       never twice by one server. What was found is printed.
#   downlink_server_killed
#       Numbered downlink ("<device-id> dl #<n>", sent with the server's
#       stdin command send) while the server, with --state-dir, is SIGKILLed
#       and restarted twice: once plainly, once while the proxy swallows
#       server -> device (so the killed server has sent downlink the device
#       never acknowledged, or never got). Each command is sent once, after
#       the previous one was accepted (the server's "downlink" line, printed
#       after its commit). Asserted: the device application logged dl 1..N
#       exactly once, in order ("downlink" lines), with the same seq as the
#       server assigned; the uplink stream beside it exactly once as well.
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
#   tls_blackhole_both, tls_server_killed
#       blackhole_both and server_killed over mutual TLS: throwaway
#       certificates from uplink_make_test_pki, the server with --tls-cert,
#       --tls-key, --tls-ca and --require-client-cert, the device with
#       --tls-ca and its client certificate, whose CN is the device id (the
#       server authenticates the device by it). The fault proxy works on TCP,
#       so the faults are the same and so are the checks; in addition the
#       device's summary must count full TLS handshakes, a reconnect to the
#       same server must resume the TLS session (tls_blackhole_both), and a
#       reconnect attempt through the black hole fails as "TLS handshake
#       timed out" (the TLS phase is what the black hole stalls).
#
# Environment:
#   UPLINK_TEST_SLOP_MS    tolerance added to the detection bound (default 300)
#   UPLINK_E2E_DEADLINE_S  the whole scenario's budget (default 75); every
#                          wait is bounded by it as well as by its own limit
#   UPLINK_E2E_KEEP=1      keep the work directory even on success
# On failure the work directory (logs) is kept and the end of each log printed.
set -euo pipefail
# Processes by name, bounded waits, listeners, the work directory, fail.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

readonly SCENARIOS="blackhole_both blackhole_up blackhole_down server_stops_reading server_killed
server_killed_without_state downlink_server_killed server_restarted_repeatedly byte_at_a_time garbage_from_server
device_flood tls_blackhole_both tls_server_killed"

usage() {
  sed -n '6,12p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

find_program() {  # find_program <bin-dir> <name> <tool-dir>
  local candidate
  for candidate in "$1/$2" "$1/tools/$3/$2"; do
    if [ -x "$candidate" ]; then
      echo "$candidate"
      return 0
    fi
  done
  echo "scenario.sh: no $2 in $1 (nor in $1/tools/$3)" >&2
  exit 2
}

say() {
  printf '[%s %6.2fs] %s\n' "$scenario" "$(( $(now_ms) - START_MS ))e-3" "$*"
}

# --- The three programs ----------------------------------------------------------
servers=0
server_port=0

# Durable sessions: set state_dir before setup to run every server with
# --state-dir; server_input: what the servers read commands from.
state_dir=""
server_input=/dev/null

# start_server <port|pick>: server<k> (k = 1, 2, ...) listening on <port>.
start_server() {
  servers=$((servers + 1))
  launch_listener "server$servers" "$server_input" "$1" \
    "$server_bin" --print-payloads --shutdown-retry-after-ms 300 ${state_dir:+--state-dir "$state_dir"} \
    ${server_tls[@]+"${server_tls[@]}"} ${server_auth[@]+"${server_auth[@]}"}
  server_port=$listen_port
  say "server$servers listening on :$server_port${state_dir:+ (state in $(basename "$state_dir"))}"
}

# Commands reach the servers through a FIFO held open read-write on fd 4,
# like the proxy's: a server killed with lines still unread leaves them to
# the next one.
server_commands() {
  open_fifo "$work/server.in" 4
  server_input=$work/server.in
}

# stop_server <k> <signal>: signals server<k> and collects its exit status.
stop_server() { stop_process "server$1" "$2"; }

# Commands reach the proxy through a FIFO held open read-write on fd 3: the
# open does not block, and writing to it cannot raise SIGPIPE here.
start_proxy() {
  open_fifo "$work/proxy.in" 3
  launch_listener proxy "$work/proxy.in" pick "$proxy_bin" --upstream "127.0.0.1:$server_port"
  proxy_port=$listen_port
  say "proxy listening on :$proxy_port, forwarding to :$server_port"
}

# The proxy's error lines about commands (those about a connection, such as
# "upstream connect failed", carry a "conn").
command_errors() {
  grep -F '"event":"error"' "$work/proxy.log" 2>/dev/null | grep -v -F '"conn":' || true
}

# proxy_cmd <command>: sends it and waits for the proxy's "mode" line naming
# it (a command error meanwhile fails); $fault_ms is that line's timestamp.
proxy_cmd() {
  local command=$1 modes errors
  modes=$(count_lines "$work/proxy.log" "\"command\":\"$command\"")
  errors=$(command_errors | grep -c . || true)
  alive proxy || fail "the proxy is gone"
  printf '%s\n' "$command" >&3
  proxy_done() {
    [ "$(command_errors | grep -c . || true)" -le "$errors" ] ||
      fail "the proxy refused '$command': $(command_errors | tail -n 1)"
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
    --count "$count" --duration-s $((DEADLINE_S + 10)) ${device_tls[@]+"${device_tls[@]}"} "$@"
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

# A fault the device is told about (a reset, a CLOSE, garbage) must take it
# offline promptly: at the latest within its read timeout + slop of the
# fault at $fault_ms. Sets $line to the n-th offline line.
expect_prompt_offline() {
  local bound took
  bound=$(field read_timeout_ms "$(grep -F -m 1 '"event":"online"' "$dev_log")")
  wait_offline "$1" 10
  took=$(($(field ts_ms "$line") - fault_ms))
  [ "$took" -le $((bound + SLOP_MS)) ] ||
    fail "offline only $took ms after the fault > read timeout $bound + slop $SLOP_MS: $line"
  say "offline $took ms after the fault"
}

# Waits for the device's next reconnect attempt to fail: it keeps retrying
# while the fault lasts.
wait_failed_attempt() {
  local before
  before=$(count_lines "$dev_log" '"event":"connect_failed"')
  wait_line "$dev_log" '"event":"connect_failed"' 10 $((before + 1))
  say "reconnect attempt failed as expected: $(field reason "$line")"
}

# --- The end of every scenario -----------------------------------------------------
summary=""
# garbage_from_server: the garbage may land inside an ACK and make it a
# sequence error on the device (then also in the server's log, by its CLOSE).
allow_sequence_error=0

# The device exits by itself once all <count> messages are acknowledged.
finish_device() {
  unwatch device
  wait_until 30 "the device to finish (all $count messages acknowledged)" eval '! alive device'
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
  [ "$allow_sequence_error" = 1 ] || ! grep -q -F 'sequence_error' "$work"/server*.log "$dev_log" ||
    fail "sequence error: $(grep -h -F 'sequence_error' "$work"/server*.log "$dev_log" | head -n 3)"

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

  check_no_sanitizer_report
}

# No sanitizer report, from any process of the run.
check_no_sanitizer_report() {
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
  start_server pick
  start_proxy
}

# The end of a scenario whose device streams to completion: it finishes,
# the last server and the proxy stop, the common checks hold, every message
# arrived exactly once, after at least <n> reconnects.
end_exactly_once() {  # end_exactly_once <n>
  finish_device
  stop_all
  check_common
  check_exactly_once
  expect_reconnects "$1"
}

# TLS mode (tls_ scenarios): throwaway certificates, mutual TLS; the
# device's certificate names its id, which authenticates it. Plain
# scenarios test the link, not authentication (tests/e2e/auth.sh does):
# their server runs with --insecure-no-auth.
server_tls=()
device_tls=()
server_auth=(--insecure-no-auth)
setup_tls() {
  "$pki_bin" --device "$DEVICE_ID" "$work/pki" >"$work/pki.log" 2>&1 || fail "uplink_make_test_pki failed"
  server_auth=()
  server_tls=(--tls-cert "$work/pki/server.pem" --tls-key "$work/pki/server.key"
    --tls-ca "$work/pki/ca.pem" --require-client-cert)
  device_tls=(--tls-ca "$work/pki/ca.pem"  # verifies 127.0.0.1, the --server host, as an iPAddress SAN
    --tls-cert "$work/pki/client.pem" --tls-key "$work/pki/client.key")
  say "TLS: mutual, certificates in $(basename "$work")/pki"
}

# The TLS handshakes in the device's summary: at least <full> full ones and
# <resumed> resumed ones.
check_tls() {
  local full resumed
  full=$(field tls_full_handshakes "$summary")
  resumed=$(field tls_resumed_handshakes "$summary")
  [ -n "$full" ] || fail "no TLS counters in the device's summary: $summary"
  [ "$full" -ge "$1" ] || fail "device made $full full TLS handshakes, expected >= $1"
  [ "$resumed" -ge "$2" ] || fail "device resumed $resumed TLS sessions, expected >= $2"
  say "TLS handshakes: $full full, $resumed resumed"
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
  if [ "$tls" = 1 ]; then
    [ "$(field reason "$line")" = "TLS handshake timed out" ] ||
      fail "expected the attempt through the black hole to fail in the TLS handshake: $line"
  fi
  proxy_cmd forward
  wait_online 2
  end_exactly_once 1
  # The same server after the black hole: its ticket resumes the session.
  if [ "$tls" = 1 ]; then check_tls 1 1; fi
}

scenario_server_stops_reading() {
  setup
  start_device 150 --rate 20
  wait_online 1
  wait_acked 20

  # 1. Released as soon as the device gave up: the server's session is
  #    usually still online (its own deadline is 2.5 heartbeats), so the
  #    stalled DATA reach it late, on the abandoned connection, and are
  #    delivered and acknowledged into the void. The device must not send
  #    them again when it resumes.
  proxy_cmd "stall on"
  expect_dead_link 1
  proxy_cmd "stall off"
  local released_ms=$fault_ms late
  wait_online 2
  late=$(grep -h -F '"event":"message"' "$work/server1.log" |
    awk -v from="$released_ms" -v to="$(field ts_ms "$line")" '
      match($0, /"ts_ms":[0-9]+/) { t = substr($0, RSTART + 8, RLENGTH - 8) + 0; if (t >= from && t < to) n++ }
      END { print n + 0 }')
  say "stalled messages delivered after the release, before the device resumed: $late"

  # 2. Stalled for longer: the device's next attempt stalls too (its HELLO
  #    is not read) and times out; released afterwards, that stale HELLO
  #    reaches the server as well.
  wait_acked $(($(last_acked) + 10))  # streaming again (the resume acknowledged the late ones)
  proxy_cmd "stall on"
  expect_dead_link 2
  wait_failed_attempt
  proxy_cmd "stall off"
  wait_online 3
  end_exactly_once 2
}

# The last message the device saw acknowledged before its n-th offline line.
acked_before_offline() {
  awk -v n="$1" '
    /"event":"acked"/ { if (match($0, /"seq":[0-9]+/)) last = substr($0, RSTART + 6, RLENGTH - 6) + 0 }
    /"event":"offline"/ && !/"reason":"stopped"/ { if (++seen == n) { print last + 0; exit } }
  ' "$dev_log"
}

# The highest payload number in a server log.
highest_received() { received_numbers "$1" | sort -n | tail -n 1; }
received_beyond() { [ "$(highest_received "$1")" -ge "$2" ] 2>/dev/null; }

# The two kills of the server_killed scenarios. <resumed>: what each
# restarted server must say about the device's session (true with a state
# directory, false without).
kill_server_twice() {
  # Kill 1: the kernel closes the server's sockets; the proxy passes the end
  # on, so the device sees the connection end at once.
  fault_ms=$(now_ms)
  stop_server 1 KILL
  say "server1 killed (SIGKILL, status ${exit_of[server1]})"
  expect_prompt_offline 1
  wait_failed_attempt  # nobody behind the proxy: reset
  start_server "$server_port"
  wait_online 2
  [ "$(field resumed "$line")" = "$1" ] || fail "expected \"resumed\":$1 after the restart: $line"

  # Kill 2, while acknowledgements are being lost: server2 has received
  # messages the device never saw acknowledged, which it must send again.
  wait_acked $(($(acked_before_offline 1) + 20))
  proxy_cmd "blackhole down"
  local blackhole_ms=$fault_ms target
  target=$(($(last_acked) + 5))
  wait_until 10 "server2 to receive #$target" received_beyond "$work/server2.log" "$target"
  stop_server 2 KILL
  say "server2 killed (SIGKILL, status ${exit_of[server2]}) after receiving #$(highest_received "$work/server2.log")"
  # The end of the connection is swallowed too (the proxy passes an end on
  # only in a direction that is not blackholed): the device is left on a
  # half-open link, which it must detect by the silence.
  fault_ms=$blackhole_ms
  expect_dead_link 2
  wait_failed_attempt
  proxy_cmd forward
  start_server "$server_port"
  wait_online 3
  [ "$(field resumed "$line")" = "$1" ] || fail "expected \"resumed\":$1 after the restart: $line"
}

# The delivered record of the state directory: 1..count exactly once, in
# order; stdout of all servers: never a message twice.
check_durable_exactly_once() {
  local numbers expected twice missing
  "$server_bin" --state-dir "$state_dir" --dump-delivered >"$work/delivered.log" 2>"$work/dump.err" ||
    fail "--dump-delivered failed: $(head -c 300 "$work/dump.err")"
  numbers=$(sed -n "s/.*\"payload\":\"$DEVICE_ID #\([0-9][0-9]*\) .*/\1/p" "$work/delivered.log")
  expected=$(seq 1 "$count")
  [ "$numbers" = "$expected" ] || fail "the durable record is not #1..#$count once each, in order: $(
    diff <(echo "$expected") <(echo "$numbers") | head -n 6 | tr '\n' ' ')"
  [ "$(grep -c . "$work/delivered.log")" = "$count" ] || fail "the durable record holds other messages too"
  twice=$(received_numbers "$work"/server*.log | sort -n | uniq -d | head -n 5 | tr '\n' ' ')
  [ -z "$twice" ] || fail "server stdout shows messages twice: $twice"
  missing=$((count - $(received_numbers "$work"/server*.log | grep -c . || true)))
  say "durable record: all $count messages exactly once, in order; stdout: none twice, $missing left out by a kill"
}

scenario_server_killed() {
  state_dir=$work/state
  setup
  start_device 150 --rate 20
  wait_online 1
  wait_acked 20
  kill_server_twice true
  finish_device
  stop_all
  check_common
  check_durable_exactly_once
  expect_reconnects 2
  # A restarted server has new ticket keys: full handshakes again.
  if [ "$tls" = 1 ]; then check_tls 3 0; fi
}

scenario_server_killed_without_state() {
  setup
  start_device 150 --rate 20
  wait_online 1
  wait_acked 20
  kill_server_twice false
  finish_device
  stop_all
  check_common

  # Per message, the servers that delivered it. A message may be delivered
  # again by a later server only if a killed server k had it while it was
  # in flight: above the last one the device saw acknowledged before the
  # k-th offline line, within the in-flight window. Never twice by one server.
  local acked_at_kill report k
  acked_at_kill="$(acked_before_offline 1) $(acked_before_offline 2)"
  report=$(
    for ((k = 1; k <= servers; k++)); do received_numbers "$work/server$k.log" | sed "s/^/$k /"; done |
      awk -v n="$count" -v acked="$acked_at_kill" -v killed=2 -v window="$IN_FLIGHT_WINDOW" '
        BEGIN { split(acked, a, " ") }
        {
          c[$1, $2]++
          if ($2 + 0 > top[$1] + 0) top[$1] = $2 + 0
          if (!(($2 + 0) in last) || $1 + 0 > last[$2 + 0]) last[$2 + 0] = $1 + 0
        }
        END {
          for (i = 1; i <= n; i++) {
            if (!(i in last)) { lost = lost " #" i; continue }
            for (s = 1; s <= killed + 1; s++) {
              m = c[s, i] + 0
              if (m > 1) bad = bad " #" i "(" m "x by server" s ")"
              if (m == 1 && s < last[i]) {  # delivered again later
                if (s <= killed && i > a[s] && i <= a[s] + window) { dups[s] = dups[s] " #" i; nd[s]++ }
                else bad = bad " #" i "(server" s " then server" last[i] ")"
              }
            }
          }
          for (s = 1; s <= killed; s++)
            printf "INFO kill %d: server%d received through #%d, the device had seen #%d acknowledged; delivered twice: %d%s\n",
              s, s, top[s], a[s], nd[s], (nd[s] ? " (" substr(dups[s], 2) ")" : "")
          if (lost != "") print "FAIL lost:" lost
          if (bad != "") print "FAIL not allowed:" bad
        }')
  while IFS= read -r line; do
    case $line in INFO*) say "${line#INFO }" ;; esac
  done <<<"$report"
  ! grep -q '^FAIL' <<<"$report" || fail "$(grep '^FAIL' <<<"$report" | tr '\n' ' ')"
  say "no message lost; duplicates only of messages in flight at a kill (window $IN_FLIGHT_WINDOW)"
  expect_reconnects 2
}

# Downlink numbers the device logged, one per line, in the order it got them.
downlink_numbers() {
  grep -F '"event":"downlink"' "$dev_log" 2>/dev/null |
    sed -n "s/.*\"payload\":\"$DEVICE_ID dl #\([0-9][0-9]*\)\".*/\1/p" || true
}
downlink_count() { grep -h -c -F '"event":"downlink"' "$@" 2>/dev/null | awk '{ n += $1 } END { print n + 0 }'; }

# send_downlink <n>: "send" to the current server, then waits for its
# "downlink" line (printed once the message is committed).
send_downlink() {
  local k=$servers before
  before=$(count_lines "$work/server$k.log" '"event":"downlink"')
  printf 'send %s %s dl #%d\n' "$DEVICE_ID" "$DEVICE_ID" "$1" >&4
  wait_line "$work/server$k.log" '"event":"downlink"' 5 $((before + 1))
  downlink_sent=$1
}
# send_downlinks <from> <to> [pause_s]
send_downlinks() {
  local n
  for ((n = $1; n <= $2; n++)); do
    send_downlink "$n"
    sleep "${3:-0.02}"
  done
}
device_got_downlink() { [ "$(downlink_numbers | tail -n 1)" = "$1" ]; }

scenario_downlink_server_killed() {
  state_dir=$work/state
  server_commands
  setup
  # Uplink beside it, slowly; the device is stopped once all downlink is in.
  start_device 1000000 --rate 5
  wait_online 1
  local total=90
  send_downlinks 1 30
  wait_until 10 "the device to get dl #30" device_got_downlink 30

  # Kill 1, right after more downlink was queued (some of it not yet
  # acknowledged by the device).
  send_downlinks 31 40 0
  fault_ms=$(now_ms)
  stop_server 1 KILL
  say "server1 killed (SIGKILL) after queueing dl #$downlink_sent; the device has #$(downlink_numbers | tail -n 1)"
  expect_prompt_offline 1
  start_server "$server_port"
  wait_online 2
  [ "$(field resumed "$line")" = true ] || fail "expected \"resumed\":true after the restart: $line"
  send_downlinks 41 60

  # Kill 2, while server -> device is swallowed: downlink sent into the
  # black hole is lost on the wire and unacknowledged when the server dies.
  wait_until 10 "the device to get dl #60" device_got_downlink 60
  proxy_cmd "blackhole down"
  local blackhole_ms=$fault_ms
  send_downlinks 61 70 0
  stop_server 2 KILL
  say "server2 killed (SIGKILL) after queueing dl #$downlink_sent into the black hole; the device has #$(downlink_numbers | tail -n 1)"
  fault_ms=$blackhole_ms
  expect_dead_link 2
  proxy_cmd forward
  start_server "$server_port"
  wait_online 3
  [ "$(field resumed "$line")" = true ] || fail "expected \"resumed\":true after the restart: $line"
  send_downlinks 71 "$total"
  wait_until 20 "the device to get dl #$total" device_got_downlink "$total"

  # The device stops (SIGTERM); then everything it sent must be in.
  unwatch device
  kill -TERM "${pid_of[device]}"
  wait_until 10 "the device to exit" eval '! alive device'
  collect device
  [ "${exit_of[device]}" -eq 0 ] || fail "device exited with status ${exit_of[device]}"
  summary=$(grep -F '"event":"summary"' "$dev_log" | tail -n 1 || true)
  say "device stopped: $summary"
  stop_all

  local got expected seqs
  got=$(downlink_numbers)
  expected=$(seq 1 "$total")
  [ "$got" = "$expected" ] || fail "the device did not get dl #1..#$total once each, in order: $(
    diff <(echo "$expected") <(echo "$got") | head -n 6 | tr '\n' ' ')"
  [ "$(downlink_count "$dev_log")" = "$total" ] || fail "the device logged other downlink too"
  # The device saw the seqs the servers assigned: 1..total in one session.
  seqs=$(grep -F '"event":"downlink"' "$dev_log" | sed -n 's/.*"seq":\([0-9]*\).*/\1/p')
  [ "$seqs" = "$expected" ] || fail "downlink seqs are not 1..$total: $(echo "$seqs" | tr '\n' ' ' | head -c 300)"
  say "the device got dl #1..#$total exactly once, in order, as seq 1..$total, across two SIGKILLs"

  # The uplink stream beside it: every message the device saw acknowledged
  # is in the durable record exactly once, in order.
  count=$(field acked "$summary")
  [ "$count" -gt 0 ] || fail "no uplink message was acknowledged: $summary"
  check_durable_exactly_once_prefix
  expect_reconnects 2
  # The shared end-of-run checks expect a device that finished its count;
  # this one was stopped, so only the sanitizer check applies as is.
  check_no_sanitizer_report
}

# As check_durable_exactly_once, for a device stopped mid-stream: #1..#acked
# exactly once in order, and at most the messages sent after them beyond.
check_durable_exactly_once_prefix() {
  local numbers
  "$server_bin" --state-dir "$state_dir" --dump-delivered >"$work/delivered.log" 2>"$work/dump.err" ||
    fail "--dump-delivered failed: $(head -c 300 "$work/dump.err")"
  numbers=$(sed -n "s/.*\"payload\":\"$DEVICE_ID #\([0-9][0-9]*\) .*/\1/p" "$work/delivered.log")
  [ "$(echo "$numbers" | head -n "$count")" = "$(seq 1 "$count")" ] ||
    fail "the durable record does not start with uplink #1..#$count once each, in order"
  [ "$(echo "$numbers" | awk 'NR > 1 && $1 != prev + 1 { bad = 1 } { prev = $1 } END { print bad + 0 }')" = 0 ] ||
    fail "the durable record has a gap or a repeat: $(echo "$numbers" | tr '\n' ' ' | head -c 300)"
  say "durable record: uplink #1..#$(echo "$numbers" | tail -n 1) exactly once, in order (device saw $count acknowledged)"
}

scenario_server_restarted_repeatedly() {
  setup
  # 12 s of messages: enough to outlast three restarts on a loaded machine
  # (each takes 1.5 to 3 s there); with 6 s the device once had everything
  # acknowledged and exited before the third restart.
  start_device 240 --rate 20
  local k
  for k in 1 2 3; do
    wait_online "$k"
    wait_acked $((25 * k))
    fault_ms=$(now_ms)
    stop_server "$k" TERM
    [ "${exit_of[server$k]}" -eq 0 ] || fail "server$k exited with status ${exit_of[server$k]} after SIGTERM"
    has_line "$work/server$k.log" '"event":"shutdown"' 1 || fail "server$k printed no shutdown line"
    say "server$k stopped gracefully: $line"
    expect_prompt_offline "$k"
    [ "$(field reason "$line")" = closed_by_server ] && [ "$(field server_reason "$line")" = going_away ] ||
      fail "expected closed_by_server / going_away: $line"
    start_server "$server_port"
  done
  wait_online 4
  end_exactly_once 3
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
  expect_prompt_offline 1
  local reason
  reason=$(field reason "$line")
  case $reason in
    unknown_frame_type | unknown_control_frame | reserved_flags_set | frame_too_large | malformed_frame | \
      unsupported_version | protocol_error | sequence_error) ;;
    *) fail "garbage reported as '$reason', expected a protocol error: $line" ;;
  esac
  say "protocol error reported: $reason"
  [ "$reason" != sequence_error ] || allow_sequence_error=1
  local told
  told=$(grep -F '"event":"offline"' "$work/server1.log" | head -n 1 || true)
  say "the server saw: reason $(field reason "$told"), close_reason $(field close_reason "$told")"
  wait_online 2
  end_exactly_once 1
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
  end_exactly_once 1
  local refused
  refused=$(field refused "$summary")
  [ "$refused" -gt 0 ] || fail "the device never had a message refused by its full store: $summary"
  say "the full store refused $refused send attempts; nothing was lost"
}

# --- Main ----------------------------------------------------------------------------

# Everything runs from here, once the whole file has been read: editing this
# script while it runs cannot change what a running test executes.
main() {
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

  tls=0
  base=${scenario#tls_}
  [ "$base" = "$scenario" ] || tls=1
  pki_bin=""
  case $# in
    1)
      server_bin=$(find_program "$1" uplink_server reference_server)
      proxy_bin=$(find_program "$1" uplink_proxy fault_proxy)
      device_bin=$(find_program "$1" uplink_device emulated_device)
      if [ "$tls" = 1 ]; then pki_bin=$(find_program "$1" uplink_make_test_pki reference_server); fi
      ;;
    3 | 4)
      server_bin=$1 proxy_bin=$2 device_bin=$3 pki_bin=${4:-}
      for program in "$server_bin" "$proxy_bin" "$device_bin" ${pki_bin:+"$pki_bin"}; do
        [ -x "$program" ] || { echo "scenario.sh: not an executable: $program" >&2; exit 2; }
      done
      ;;
    *) usage ;;
  esac
  if [ "$tls" = 1 ] && [ -z "$pki_bin" ]; then
    echo "scenario.sh: $scenario needs uplink_make_test_pki (the fourth program)" >&2
    exit 2
  fi

  readonly SLOP_MS=${UPLINK_TEST_SLOP_MS:-300}
  readonly DEADLINE_S=${UPLINK_E2E_DEADLINE_S:-75}
  # uplink::Options::max_in_flight default (the emulated device has no flag for it).
  readonly IN_FLIGHT_WINDOW=32
  readonly DEVICE_ID="e2e-$scenario"

  e2e_init "$scenario" "e2e-$scenario" "$DEADLINE_S"
  dev_log=$work/device.log

  say "work directory $work; slop ${SLOP_MS} ms; deadline ${DEADLINE_S} s"
  if [ "$tls" = 1 ]; then setup_tls; fi
  case $base in
    blackhole_both | blackhole_up | blackhole_down) scenario_blackhole "${base#blackhole_}" ;;
    *) "scenario_$base" ;;
  esac
  say "PASS ($(( $(now_ms) - START_MS )) ms)"
}

main "$@"; exit
