#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End-to-end: the device process is killed with SIGKILL mid-stream and
# restarted.
#   device_killed_with_spool.sh <uplink_server> <uplink_device> [sync policy | no_spool]
#
# With a spool (every_write, interval or none): killed twice and restarted on
# the same spool file, while the server also sends numbered downlink
# ("spool-dev dl #n"). At the end the server application has received every
# uplink message exactly once, in order; the device application has logged
# every downlink message, in order, with seq = n, once, except at most the
# one message being delivered at each kill, which may come again with the
# same seq right after the restart (the session records its downlink
# position after the application callback and before the ACK: a kill between
# the two repeats that message, never loses it).
#
# no_spool: killed once mid-stream and restarted without a spool (a new
# session). The server got the killed run's messages #1..#k once, in order,
# and every message it lacks was never acknowledged to the device: messages
# in RAM are lost, none is duplicated.
set -euo pipefail
# Processes by name, bounded waits, listeners, the work directory, fail.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
server_bin=$1
device_bin=$2
policy=${3:-every_write}
total=300
downlinks=100
# Every wait is bounded by its own limit and by this budget.
e2e_init "device_killed_with_spool $policy" e2e-spool "${UPLINK_E2E_DEADLINE_S:-75}"
received_count() { count_lines "$work/server.log" '"event":"message"'; }

# The server reads its commands ("send <device> <text>") from a FIFO kept
# open here, so it never sees the end of its input.
open_fifo "$work/server.in" 4
# Authentication is not what this tests (tests/e2e/auth.sh does).
launch_listener server "$work/server.in" 0 "$server_bin" --print-payloads --insecure-no-auth
port=$listen_port

run_device() {  # log count [device options...]
  local log=$1 count=$2
  shift 2
  spawn device /dev/null "$device_bin" --server "127.0.0.1:$port" --device-id spool-dev --demo --rate 100 \
    --count "$count" "$@" >>"$log" 2>>"$work/device.err"
}
received_at_least() { [ "$(received_count)" -ge "$1" ]; }
kill_device_at() {  # uplink messages at the server to wait for (10 s at most)
  poll_until 10 received_at_least "$1" || true
  stop_process device KILL
}
wait_device_done() {  # log
  poll_until 30 eval '! alive device' || fail "device did not finish"
  collect device
  grep -q '"done"' "$1" || fail "device did not report done"
}
# Payload numbers "spool-dev #n" of the uplink the server received, in
# order; with a session id, only that session's.
received_numbers() {
  grep '"event":"message"' "$work/server.log" | grep -F "${1:-}" | grep -o 'spool-dev #[0-9]*' | sed 's/.*#//'
}
stop_server() {
  stop_process server TERM
  has_line "$work/server.log" '"shutdown"' 1 || fail "server did not shut down"
  duplicates=$(field duplicates "$line")
  [ "$duplicates" = 0 ] || fail "server counted $duplicates duplicates"
}

if [ "$policy" = no_spool ]; then
  run_device "$work/device1.log" "$total"
  kill_device_at 80
  killed_at=$(received_count)
  run_device "$work/device2.log" 100
  wait_device_done "$work/device2.log"
  stop_server
  sessions=$(grep '"event":"message"' "$work/server.log" | grep -o '"session":"[0-9]*"' | uniq)
  [ "$(wc -l <<<"$sessions")" = 2 ] || fail "expected two sessions (killed run, restart), got: $sessions"
  first=$(head -n 1 <<<"$sessions")
  second=$(tail -n 1 <<<"$sessions")
  received_numbers "$first" >"$work/run1.txt"
  k=$(wc -l <"$work/run1.txt")
  seq 1 "$k" | diff -q - "$work/run1.txt" >/dev/null || fail "the killed run's messages are not #1..#$k once, in order"
  acked=$(grep -o '"event":"acked".*"seq":[0-9]*' "$work/device1.log" | sed 's/.*"seq"://' | sort -n | tail -n 1)
  [ "${acked:-0}" -le "$k" ] || fail "the device saw #$acked acknowledged, the server has only #1..#$k"
  received_numbers "$second" | diff -q <(seq 1 100) - >/dev/null || fail "the restarted run's messages are not #1..#100 once, in order"
  echo "PASS: killed after $killed_at messages reached the server; it kept #1..#$k once, in order;" \
    "the device had seen #${acked:-0} acknowledged (what it lost was unacknowledged); the restart, a new session, delivered #1..#100"
  exit 0
fi

feed_downlink() {
  for ((n = 1; n <= downlinks; n++)); do
    printf 'send spool-dev spool-dev dl #%d\n' "$n" >&4
    sleep 0.02
  done
}
# "n seq" of each downlink the device application logged, in order.
downlink_log() {
  grep '"event":"downlink"' "$work/device.log" 2>/dev/null |
    sed -n 's/.*"seq":\([0-9]*\).*"payload":"spool-dev dl #\([0-9]*\)".*/\2 \1/p' || true
}
spool=(--spool "$work/device.spool" --spool-sync "$policy")

# Twice: run until some messages were received, then SIGKILL mid-stream;
# downlink flows from the first message on, across both kills.
cuts=()
for round in 1 2; do
  run_device "$work/device.log" "$total" "${spool[@]}"
  if [ "$round" = 1 ]; then
    poll_until 10 has_line "$work/server.log" '"event":"message"' 1 || fail "no message reached the server"
    spawn feeder /dev/null feed_downlink
  fi
  kill_device_at $(( round * 80 ))
  cuts+=("$(downlink_log | wc -l)")
  echo "round $round: killed the device after $(received_count) messages reached the server and $(downlink_log | tail -n 1 | cut -d' ' -f1) downlink messages reached it"
  tail -n 3 "$work/device.err" >&2 || true
done
wait_until 30 "the downlink feeder to finish" eval '! alive feeder'
collect feeder

# Last run: to the end; the downlink queued meanwhile arrives on resume.
run_device "$work/device.log" "$total" "${spool[@]}"
wait_device_done "$work/device.log"
stop_server

# Every payload "spool-dev #n" exactly once, n = 1..total, in order.
received_numbers >"$work/received.txt"
seq 1 "$total" >"$work/expected.txt"
if ! diff -q "$work/expected.txt" "$work/received.txt" >/dev/null; then
  echo "received $(wc -l <"$work/received.txt") messages; first differences:" >&2
  diff "$work/expected.txt" "$work/received.txt" | head -n 10 >&2
  fail "the server did not receive 1..$total exactly once in order"
fi

# Downlink: in order, none lost, seq = n; a repeat only right after a kill,
# of the message logged last before it.
repeated=""
previous=0
logged=0  # downlink lines read so far
while read -r n s; do
  [ "$n" = "$s" ] || fail "downlink dl #$n delivered with seq $s"
  if [ "$n" -ne $((previous + 1)) ]; then
    at_cut=0
    for c in "${cuts[@]}"; do [ "$c" = "$logged" ] && at_cut=1; done
    [ "$at_cut" = 1 ] && [ "$n" -eq "$previous" ] ||
      fail "downlink dl #$n after dl #$previous (line $((logged + 1)); kills after lines ${cuts[*]})"
    repeated="$repeated #$n"
  fi
  previous=$n
  logged=$((logged + 1))
done < <(downlink_log)
[ "$previous" = "$downlinks" ] || fail "the device got downlink up to dl #$previous of $downlinks"
echo "PASS: $total messages exactly once across two SIGKILLs (spool sync: $policy);" \
  "downlink 1..$downlinks in order, none lost, repeated at a kill:${repeated:- none}"
