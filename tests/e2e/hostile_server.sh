#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End-to-end: a server (or a fleet) that behaves badly toward a device
# (docs/SECURITY.md, docs/PROTOCOL.md 3.5, 4.3, 4.5). The real
# uplink_server and real uplink_device processes over loopback.
#
#   hostile_server.sh <scenario> <uplink_server> <uplink_device>
#
# Scenarios (one CTest entry each, e2e.hostile_<scenario>):
#
#   duplicate_device_id
#       Two uplink_device processes with the same --device-id against one
#       server. Asserted: the server answers with CLOSE session_replaced and
#       a retry-after that grows (at least three growing values), logs
#       device_id_contested; both devices keep getting their own messages
#       acknowledged; the server sees a bounded number of connections of
#       that id (no hammering).
#
#   hostile_heartbeat
#       The server grants a 1 ms heartbeat, then (restarted) 65,535,000 ms.
#       Asserted each time: the device refuses the WELCOME (protocol_error)
#       and reports it, never comes online, sends no heartbeat at all (its
#       summary counts 0), and its attempts stay paced by the backoff.
#
#   close_retry_after_3_days
#       The server closes the online device with a retry-after of
#       259,200,000 ms (3 days). Asserted: the device reports the hint,
#       backs off for the cap (--max-retry-after-ms 2000) plus the jittered
#       backoff (at most 2 s with --demo), never the 3 days, and is online
#       again within that.
#
#   stale_state_refuses_resume
#       A server with --state-dir; the device online and sending. The server
#       is restarted on a copy of its state taken earlier (stale), so the
#       device's resume does not match what the server holds. Asserted: the
#       device opens a new session (it prints session_reset), and every
#       message it generated reaches one of the servers (at least once).
set -euo pipefail
# Processes by name, bounded waits, listeners, the work directory, fail.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  echo "usage: hostile_server.sh duplicate_device_id|hostile_heartbeat|close_retry_after_3_days|stale_state_refuses_resume <uplink_server> <uplink_device>" >&2
  exit 2
}
[ $# -eq 3 ] || usage
scenario=$1 server_bin=$2 device_bin=$3
case $scenario in
  duplicate_device_id | hostile_heartbeat | close_retry_after_3_days | stale_state_refuses_resume) ;;
  *) usage ;;
esac

e2e_init "hostile $scenario" "e2e-hostile-$scenario" "${UPLINK_E2E_DEADLINE_S:-45}"
say() { echo "[hostile $scenario] $*"; }

# start_server <name> <port|0> [flags...]: the server reads its commands from
# the FIFO $work/<name>.in, kept open here on the next free descriptor.
next_fd=4
start_server() {
  local name=$1 want=$2
  shift 2
  open_fifo "$work/$name.in" "$next_fd"
  next_fd=$((next_fd + 1))
  launch_listener "$name" "$work/$name.in" "$want" "$server_bin" --insecure-no-auth --print-payloads \
    --stats-interval-ms 0 "$@"
  port=$listen_port
  say "$name listening on :$port"
}

# run_device <name> <device-id> [flags...]: uplink_device, log in $work/<name>.log.
run_device() {
  local name=$1 id=$2
  shift 2
  start "$name" /dev/null "$device_bin" --server "127.0.0.1:$port" --device-id "$id" --demo \
    --no-network-monitor "$@"
}

# The numbers of field <name> of the lines holding <fixed string> in <file>, one per line.
numbers() { grep -a -F -- "$3" "$2" | grep -o "\"$1\":[0-9]*" | cut -d: -f2 || true; }

# ---- duplicate_device_id --------------------------------------------------------

duplicate_device_id() {
  start_server server 0
  run_device dev-a twin --rate 5 --duration-s 40
  run_device dev-b twin --rate 5 --duration-s 40
  watch dev-a
  watch dev-b
  # 0, 1000, 2000, 4000, 8000 ms: the third growing value comes some 7 s in.
  three_hints() {
    [ "$(numbers retry_after_ms "$work/server.log" '"reason":"session_replaced"' | awk '$1 > 0' | wc -l)" -ge 3 ]
  }
  wait_until 30 "three session_replaced CLOSEs with a retry-after" three_hints
  local t_end
  t_end=$(now_ms)
  local hints
  hints=$(numbers retry_after_ms "$work/server.log" '"reason":"session_replaced"' | awk '$1 > 0' | tr '\n' ' ')
  say "session_replaced retry-after (ms): $hints"
  awk -v h="$hints" 'BEGIN { n = split(h, v, " "); for (i = 2; i <= n; ++i) if (v[i] + 0 <= v[i - 1] + 0) exit 1 }' ||
    fail "the retry-after does not grow: $hints"
  [ "$(count_lines "$work/server.log" '"device_id_contested"')" -ge 1 ] ||
    [ "$(count_lines "$work/server.err" 'device_id_contested')" -ge 1 ] || fail "the server did not log device_id_contested"
  # The devices report the hint they were given.
  local reported
  reported=$(cat "$work/dev-a.log" "$work/dev-b.log" | grep -a -F '"server_reason":"session_replaced"' |
    grep -c -v '"retry_after_ms":0' || true)
  [ "$reported" -ge 2 ] || fail "the devices reported $reported session_replaced CLOSEs with a retry-after"
  # Not hammered: the connections of the id over the whole run, per second.
  local onlines elapsed_ms
  onlines=$(count_lines "$work/server.log" '"event":"online","device":"twin"')
  elapsed_ms=$((t_end - START_MS))
  say "$onlines connections of 'twin' in $elapsed_ms ms"
  [ $((onlines * 1000)) -le $((2 * elapsed_ms + 2000)) ] ||
    fail "$onlines connections of 'twin' in $elapsed_ms ms: more than 2 per second"
  # Both keep delivering: each gets acknowledgements for its own messages
  # after the contest began (the one paused may be paused right now, so
  # wait until it was online again).
  local dev n
  for dev in dev-a dev-b; do
    n=$(count_lines "$work/$dev.log" '"event":"online"')
    [ "$n" -ge 1 ] || fail "$dev never came online"
    wait_line "$work/$dev.log" '"event":"acked"' 20
  done
  # Both come back after their pause and deliver again.
  for dev in dev-a dev-b; do
    n=$(count_lines "$work/$dev.log" '"event":"acked"')
    wait_line "$work/$dev.log" '"event":"acked"' 25 $((n + 1))
  done
  # What a device had acknowledged reached the server: every acked payload number.
  for dev in dev-a dev-b; do
    stop_process "$dev" TERM
  done
  say "both devices delivered: dev-a $(count_lines "$work/dev-a.log" '"event":"acked"') acks," \
    "dev-b $(count_lines "$work/dev-b.log" '"event":"acked"') acks"
}

# ---- hostile_heartbeat ----------------------------------------------------------

hostile_heartbeat() {
  local grant name dev summary heartbeats attempts
  for grant in 1 65535000; do
    name=server-$grant dev=dev-$grant
    start_server "$name" 0 --heartbeat-min-ms "$grant" --heartbeat-max-ms "$grant"
    run_device "$dev" hb-victim --rate 2 --duration-s 6
    wait_line "$work/$dev.log" '"reason":"protocol_error"' 10
    say "heartbeat $grant ms: refused: $(cut -c 1-200 <<<"$line")"
    wait_until 12 "$dev to end" eval '! alive '"$dev"
    collect "$dev"
    [ "${exit_of[$dev]}" = 0 ] || [ "${exit_of[$dev]}" = 1 ] || fail "$dev exited with ${exit_of[$dev]}"
    [ "$(count_lines "$work/$dev.log" '"event":"online"')" = 0 ] || fail "$dev came online with a $grant ms heartbeat"
    [ "$(count_lines "$work/$dev.log" '"event":"heartbeat"')" = 0 ] || fail "$dev sent heartbeats"
    summary=$(grep -a -F '"heartbeats"' "$work/$dev.log" | tail -n 1 || true)
    [ -n "$summary" ] || fail "$dev printed no summary"
    heartbeats=$(field heartbeats "$summary")
    [ "$heartbeats" = 0 ] || fail "$dev sent $heartbeats heartbeats with a $grant ms grant"
    attempts=$(count_lines "$work/$dev.log" '"reason":"protocol_error"')
    # 6 s, a jittered backoff from 200 ms up to 2 s (--demo): some 10 attempts, not a flood.
    [ "$attempts" -ge 1 ] && [ "$attempts" -le 20 ] || fail "$dev made $attempts attempts in 6 s"
    say "heartbeat $grant ms: $attempts refused WELCOMEs in 6 s, 0 heartbeats"
    stop_process "$name" TERM
  done
}

# ---- close_retry_after_3_days ---------------------------------------------------

close_retry_after_3_days() {
  start_server server 0
  run_device dev lazy --rate 2 --duration-s 30 --max-retry-after-ms 2000 --verbose
  watch dev
  wait_line "$work/dev.log" '"event":"online"' 10
  wait_line "$work/dev.log" '"event":"acked"' 10
  local t_close offline backoff delay t_online
  t_close=$(now_ms)
  echo "close lazy 259200000" >&4
  wait_line "$work/dev.log" '"event":"offline"' 5
  offline=$line
  [ "$(field server_reason "$offline")" = normal ] || fail "offline without CLOSE normal: $offline"
  [ "$(field retry_after_ms "$offline")" = 259200000 ] || fail "the device reported another hint: $offline"
  wait_line "$work/dev.log" '"event":"backing_off"' 5
  backoff=$line
  delay=$(field delay_ms "$backoff")
  say "backing off $delay ms after a 259200000 ms hint"
  [ "$delay" -ge 2000 ] && [ "$delay" -le 4000 ] || fail "backoff $delay ms, not the 2000 ms cap plus at most 2000 ms"
  wait_line "$work/dev.log" '"event":"online"' 8 2
  t_online=$(now_ms)
  say "online again $((t_online - t_close)) ms after the CLOSE"
  [ $((t_online - t_close)) -ge 1900 ] || fail "reconnected after $((t_online - t_close)) ms, before the capped pause"
  [ $((t_online - t_close)) -le $((delay + 2500)) ] || fail "reconnected $((t_online - t_close)) ms after the CLOSE"
  grep -a -q -F 'capped at 2000 ms' "$work/dev.log" || fail "the device did not log the capped pause"
  local n
  n=$(count_lines "$work/dev.log" '"event":"acked"')
  wait_line "$work/dev.log" '"event":"acked"' 10 $((n + 1))
}

# ---- stale_state_refuses_resume -------------------------------------------------

stale_state_refuses_resume() {
  mkdir -p "$work/state"
  local flags=(--state-dir "$work/state" --shutdown-retry-after-ms 200)
  start_server server pick "${flags[@]}"
  local fixed_port=$port
  run_device dev stale --rate 10 --count 100 --duration-s 40
  watch dev
  wait_line "$work/dev.log" '"event":"acked"' 10 10
  # A clean stop, and a copy of the state it left: soon stale.
  stop_process server TERM
  cp -a "$work/state" "$work/stale"
  start_server server2 "$fixed_port" "${flags[@]}"
  wait_line "$work/dev.log" '"event":"online"' 10 2
  [ "$(field resumed "$line")" = true ] || fail "the device did not resume on the restarted server: $line"
  local n
  n=$(count_lines "$work/dev.log" '"event":"acked"')
  wait_line "$work/dev.log" '"event":"acked"' 10 $((n + 15))
  # The server comes back on the stale state: the session it knows lags
  # behind what the device was acknowledged.
  stop_process server2 TERM
  rm -rf "$work/state"
  mv "$work/stale" "$work/state"
  start_server server3 "$fixed_port" "${flags[@]}"
  wait_line "$work/dev.log" '"event":"session_reset"' 15
  say "device: $(cut -c 1-200 <<<"$line")"
  [ "$(field cause "$line")" = resume_refused ] || fail "session reset for another cause: $line"
  # The resume was refused twice (the device closes with sequence_error)
  # before the device gave the session up.
  [ "$(count_lines "$work/server3.log" '"close_reason":"sequence_error"')" -ge 2 ] ||
    fail "server3 saw fewer than two refused resumes"
  wait_line "$work/dev.log" '"resumed":false' 10 2
  wait_until 30 "dev to finish its 100 messages" eval '! alive dev'
  collect dev
  [ "${exit_of[dev]}" = 0 ] || fail "dev exited with ${exit_of[dev]}"
  # Every message the device generated reached a server, at least once.
  local missing=0 i
  cat "$work"/server*.log | grep -a -o 'stale #[0-9]*' | sort -u >"$work/delivered.txt"
  for ((i = 1; i <= 100; i++)); do
    grep -q -x -F "stale #$i" "$work/delivered.txt" || missing=$((missing + 1))
  done
  [ "$missing" = 0 ] || fail "$missing of messages 1..100 never reached a server"
  say "messages 1..100 all delivered; refusals seen by the device: $(count_lines "$work/dev.log" '"server_reason"')"
}

"$scenario"
say "PASS"
