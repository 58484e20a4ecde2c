#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/reconnect.sh: how a fleet comes back after a graceful server
# restart. Starts uplink_server, a fleet of emulated devices (uplink_device
# --fleet, in processes of at most 1000 devices), waits until all are
# online, restarts the server gracefully (SIGTERM: CLOSE going_away with a
# retry-after to every device) on the same port, and prints a histogram of
# the reconnect times (the restarted server's online lines, from the
# SIGTERM) in 1 s buckets, and whether any bucket holds more than 15 % of
# the fleet. Run by hand, not by CI; everything stays on 127.0.0.1.
#
#   bench/reconnect.sh <uplink_server> <uplink_device>
#
# Knobs (environment), with their defaults:
#   BENCH_RECONNECT_N=5000            devices
#   BENCH_RECONNECT_RETRY_AFTER_MS=1000  the server's --shutdown-retry-after-ms
#   BENCH_RECONNECT_LIMIT_S=120       bound on each wait
#   BENCH_RECONNECT_DEVICE_FLAGS=""   more uplink_device flags, e.g. "--demo" (backoff 0.2..2 s
#                                     instead of the default 1..60 s)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../tests/e2e/lib.sh"

[ $# -eq 2 ] || { echo "usage: bench/reconnect.sh <uplink_server> <uplink_device>" >&2; exit 2; }
server_bin=$1 device_bin=$2
n=${BENCH_RECONNECT_N:-5000}
retry_after=${BENCH_RECONNECT_RETRY_AFTER_MS:-1000}
limit_s=${BENCH_RECONNECT_LIMIT_S:-120}
read -r -a device_flags <<<"${BENCH_RECONNECT_DEVICE_FLAGS:-}"

e2e_init "reconnect" "bench-reconnect" $((3 * limit_s))
say() { echo "[reconnect] $*" >&2; }

# Each device holds a descriptor in its process and one in the server.
ulimit -S -n "$(ulimit -H -n)"
[ "$(ulimit -S -n)" -ge $((n + 200)) ] || fail "needs $((n + 200)) file descriptors, the hard limit is $(ulimit -H -n)"

flags=(--insecure-no-auth --events connections --stats-interval-ms 0 --max-connections $((n + 100))
  --max-pending-hello $((n + 100)) --max-pending-hello-per-source 0 --shutdown-retry-after-ms "$retry_after")
open_fifo "$work/server.in" 4
open_fifo "$work/server2.in" 5
launch_listener server "$work/server.in" pick "$server_bin" "${flags[@]}"
port=$listen_port
say "server on :$port, $n devices"

procs=$(((n + 999) / 1000))
for ((p = 0; p < procs; p++)); do
  size=1000
  [ $((n - p * 1000)) -ge 1000 ] || size=$((n - p * 1000))
  start "fleet-$p" /dev/null "$device_bin" --server "127.0.0.1:$port" --device-id "r$p" --fleet "$size" \
    --rate 0 --quiet --no-network-monitor --duration-s $((3 * limit_s)) "${device_flags[@]}"
  watch "fleet-$p"
done
all_online() { [ "$(count_lines "$work/$1.log" '"event":"online"')" -ge "$n" ]; }
wait_until "$limit_s" "all $n devices online" all_online server
say "all $n online after $(($(now_ms) - START_MS)) ms"

t_term=$(now_ms)
stop_process server TERM
launch_listener server2 "$work/server2.in" "$port" "$server_bin" "${flags[@]}"
say "server restarted in $(($(now_ms) - t_term)) ms"
wait_until "$limit_s" "all $n devices back" all_online server2

# Histogram of the reconnect times, 1 s buckets from the SIGTERM.
grep -a -F '"event":"online"' "$work/server2.log" | grep -o '"ts_ms":[0-9]*' | cut -d: -f2 |
  awk -v t0="$t_term" -v n="$n" '
    { d = $1 - t0; if (NR == 1 || d < first) first = d; if (d > lastd) lastd = d; b = int(($1 - t0) / 1000); count[b]++; if (b > last) last = b }
    END {
      over = 0
      printf "| second after SIGTERM | devices online | share |\n|---|---|---|\n"
      for (b = 0; b <= last; ++b) {
        share = 100 * count[b] / n
        printf "| %d..%d | %d | %.1f %% |\n", b, b + 1, count[b], share
        if (count[b] > 0.15 * n) over = 1
      }
      printf "\nfirst reconnect %d ms, last %d ms after the SIGTERM\n", first, lastd
      printf "any bucket above 15 %% of the fleet: %s\n", over ? "YES" : "no"
    }'
