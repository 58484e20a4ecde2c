#!/usr/bin/env bash
# End-to-end: the device process is killed with SIGKILL mid-stream, twice,
# and restarted on the same spool file; at the end the server application
# has received every message exactly once, in order, and the device's store
# is empty.
#   device_killed_with_spool.sh <uplink_server> <uplink_device> [sync policy]
set -euo pipefail
server_bin=$1
device_bin=$2
policy=${3:-every_write}
total=300
work="$(mktemp -d "${TMPDIR:-/tmp}/uplink-e2e-spool.XXXXXX")"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; echo "--- server log (tail)"; tail -n 20 "$work/server.log" >&2; exit 1; }
field() { grep -o "\"$1\":\"\{0,1\}[^,\"}]*" <<<"$2" | head -n 1 | sed 's/.*://; s/"//g'; }
wait_for() {  # file pattern seconds
  for _ in $(seq $(( $3 * 20 ))); do
    grep -q -- "$2" "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

"$server_bin" --listen 127.0.0.1:0 --print-payloads >"$work/server.log" 2>&1 &
pids+=($!)
server_pid=$!
wait_for "$work/server.log" '"listening"' 10 || fail "server did not start"
port=$(field port "$(grep -m1 '"listening"' "$work/server.log")")

run_device() {
  "$device_bin" --server "127.0.0.1:$port" --device-id spool-dev --demo --rate 100 --count "$total" \
    --spool "$work/device.spool" --spool-sync "$policy" >>"$work/device.log" 2>>"$work/device.err" &
  device_pid=$!
  pids+=($device_pid)
}

# Twice: run until some messages were received, then SIGKILL mid-stream.
for round in 1 2; do
  run_device
  target=$(( round * 80 ))
  for _ in $(seq 200); do
    [ "$(grep -c '"event":"message"' "$work/server.log")" -ge "$target" ] && break
    sleep 0.05
  done
  kill -9 "$device_pid"
  wait "$device_pid" 2>/dev/null || true
  echo "round $round: killed the device after $(grep -c '"event":"message"' "$work/server.log") messages reached the server"
  tail -n 3 "$work/device.err" >&2 || true
  [ -n "${E2E_DEBUG:-}" ] && tail -n 8 "$work/device.log" >&2
done

# Last run: to the end.
run_device
for _ in $(seq 600); do
  kill -0 "$device_pid" 2>/dev/null || break
  sleep 0.05
done
kill -0 "$device_pid" 2>/dev/null && fail "device did not finish"
grep -q '"done"' "$work/device.log" || fail "device did not report done"

kill -TERM "$server_pid"
wait_for "$work/server.log" '"shutdown"' 10 || fail "server did not shut down"
duplicates=$(field duplicates "$(grep -m1 '"shutdown"' "$work/server.log")")
# Every payload "spool-dev #n ..." exactly once, n = 1..total, in order.
grep '"event":"message"' "$work/server.log" | grep -o 'spool-dev #[0-9]*' | sed 's/.*#//' >"$work/received.txt"
seq 1 "$total" >"$work/expected.txt"
if ! diff -q "$work/expected.txt" "$work/received.txt" >/dev/null; then
  echo "received $(wc -l <"$work/received.txt") messages; first differences:" >&2
  diff "$work/expected.txt" "$work/received.txt" | head -n 10 >&2
  fail "the server did not receive 1..$total exactly once in order"
fi
[ "$duplicates" = 0 ] || fail "server counted $duplicates duplicates"
echo "PASS: $total messages exactly once across two SIGKILLs (spool sync: $policy)"
