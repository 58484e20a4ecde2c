#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/mqtt_cluster_fleet.sh: a fleet of emulated devices over MQTT spread
# over a 3-node nats-server cluster on loopback (scripts/nats-cluster:
# JetStream replicated 3 ways, MQTT on every node). Run by hand, never by
# CI; loopback only.
#
#   bench/mqtt_cluster_fleet.sh <build dir> [devices]     e.g. build/release 1000
#
# Three uplink_device processes (--protocol mqtt --fleet), a third of the
# devices each, every device listing the three nodes as its endpoints, each
# process starting with another node (fleet-0 with node 0, fleet-1 with
# node 1, fleet-2 with node 2), so the fleet is spread over the cluster.
# Every device keeps a persistent session (clean session 0) subscribed to
# its downlink topic and publishes at QoS 1. Reported:
#   start-up  how long until every device is online (the devices' own
#             count, their --status line) and how the connections lie on the
#             nodes (each node's monitor, /connz)
#   held      after BENCH_FLEET_HOLD_S seconds: online, reconnects, the
#             messages sent and acknowledged, each node's connections,
#             memory and CPU (/varz)
#   kill      with BENCH_FLEET_KILL=1: node 0 killed with SIGKILL, then how
#             long until every device is online again, on the other two
#
# Knobs (environment), with their defaults:
#   BENCH_FLEET_HOLD_S=60        seconds to stay online after start-up
#   BENCH_FLEET_STARTUP_S=300    bound on the start-up (and on the failover)
#   BENCH_FLEET_RATE=0.1         messages per second per device
#   BENCH_FLEET_KILL=0           1: kill node 0 after the hold and measure
#   BENCH_FLEET_AFTER_S=30       seconds watched after every device came back
#   BENCH_FLEET_DOWNLINK=1       0: the devices subscribe to nothing (no
#                                JetStream consumer per device)
#   BENCH_FLEET_DEVICE_FLAGS="--heartbeat-ms 10000 --read-timeout-ms 20000
#     --connect-timeout-ms 10000 --backoff-base-ms 1000 --backoff-cap-ms 10000
#     --stable-after-ms 10000 --in-flight 20"   the devices' timings
# Exit status: 0 when every device came online (and, with the kill, came
# back), 1 otherwise.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../tests/e2e/lib.sh"

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: bench/mqtt_cluster_fleet.sh <build dir> [devices]" >&2
  exit 2
fi
bin=$1
devices=${2:-1000}
hold_s=${BENCH_FLEET_HOLD_S:-60}
startup_s=${BENCH_FLEET_STARTUP_S:-300}
rate=${BENCH_FLEET_RATE:-0.1}
kill_node=${BENCH_FLEET_KILL:-0}
after_s=${BENCH_FLEET_AFTER_S:-30}
downlink=()
[ "${BENCH_FLEET_DOWNLINK:-1}" = 1 ] || downlink=(--mqtt-downlink-topic "")
device_flags=${BENCH_FLEET_DEVICE_FLAGS:-"--heartbeat-ms 10000 --read-timeout-ms 20000 --connect-timeout-ms 10000 \
--backoff-base-ms 1000 --backoff-cap-ms 10000 --stable-after-ms 10000 --in-flight 20"}
device=$bin/tools/emulated_device/uplink_device
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

[ -x "$device" ] || { echo "bench/mqtt_cluster_fleet.sh: $device is not built" >&2; exit 2; }
[ "$devices" -ge 3 ] 2>/dev/null || { echo "bench/mqtt_cluster_fleet.sh: at least 3 devices" >&2; exit 2; }
command -v nats-server >/dev/null || [ -x /usr/sbin/nats-server ] ||
  { echo "nats-server is not installed (scripts/setup test installs it)" >&2; exit 2; }

e2e_init "mqtt-cluster-fleet" "bench-fleet" $((90 + 2 * startup_s + hold_s + after_s))
POLL_S=0.5
say() { echo "[fleet] $*" >&2; }

# ---------------------------------------------------------------- the cluster
# scripts/nats-cluster on a free base port: MQTT base..base+2, monitoring
# base+20..base+22. Another base when a port is taken.
base=0
for attempt in 1 2 3 4 5; do
  candidate=$(port_candidate)
  [ "$candidate" -ne 0 ] || candidate=$((20000 + RANDOM % 20000))
  start cluster /dev/null "$root/scripts/nats-cluster" --base "$candidate" --dir "$work/cluster"
  if poll_until 60 has_line "$work/cluster.log" "NATS cluster healthy" 1; then
    base=$candidate
    break
  fi
  stop_process cluster TERM
  say "cluster on base $candidate did not start (attempt $attempt): $(tail -n 2 "$work/cluster.err" | tr '\n' ' ')"
  rm -rf "$work/cluster"
done
[ "$base" -ne 0 ] || fail "the cluster did not start"
watch cluster
say "$line"
node_pid() { grep -o "node$1 .*(PID [0-9]*" "$work/cluster.log" | grep -o '[0-9]*$'; }

# One HTTP/1.0 GET from node $1's monitor; the body.
monitor() {
  (exec 3<>"/dev/tcp/127.0.0.1/$((base + 20 + $1))" && printf 'GET %s HTTP/1.0\r\n\r\n' "$2" >&3 && timeout 5 cat <&3) \
    2>/dev/null | sed '1,/^\r\{0,1\}$/d' || true
}
number() { grep -o "\"$1\": *[0-9.]*" <<<"$2" | head -n 1 | grep -o '[0-9.]*$' || echo "?"; }
# Each node: MQTT connections (/connz), resident memory in MiB and CPU %
# (/varz); "down" for a node that does not answer.
nodes_report() {
  local i varz connz out=""
  for i in 0 1 2; do
    connz=$(monitor "$i" "/connz?limit=1")
    if [ -z "$connz" ]; then
      out+="node$i down; "
      continue
    fi
    varz=$(monitor "$i" "/varz")
    out+="node$i $(number total "$connz") connections, $(($(number mem "$varz") / 1048576)) MiB, $(number cpu "$varz")% CPU; "
  done
  echo "${out%; }"
}

# ---------------------------------------------------------------- the fleet
counts=()
for k in 0 1 2; do
  n=$((devices / 3 + (k < devices % 3 ? 1 : 0)))
  counts+=("$n")
  servers=()
  for j in 0 1 2; do servers+=(--server "127.0.0.1:$((base + (k + j) % 3))"); done
  # shellcheck disable=SC2086  # the device flags are words
  start "fleet$k" /dev/null "$device" --protocol mqtt "${servers[@]}" --device-id "fleet-$k" --fleet "$n" \
    --rate "$rate" --size 64 --quiet --status "${downlink[@]}" $device_flags
  watch "fleet$k"
done

# The last status line of fleet $1 ("online N/M ..."); its numbers.
status_of() { tr '\r' '\n' <"$work/fleet$1.err" | grep -a 'online ' | tail -n 1; }
status_field() { grep -o "$2 [0-9/]*" <<<"$(status_of "$1")" | head -n 1 | sed 's/^[a-z]* //; s|/.*||'; }
online_total() {
  local k sum=0 v
  for k in 0 1 2; do
    v=$(status_field "$k" online)
    sum=$((sum + ${v:-0}))
  done
  echo "$sum"
}
sum_field() {
  local k sum=0 v
  for k in 0 1 2; do
    v=$(status_field "$k" "$1")
    sum=$((sum + ${v:-0}))
  done
  echo "$sum"
}
all_online() { [ "$(online_total)" -ge "$devices" ]; }

began=$(now_ms)
say "$devices devices (${counts[*]}) started, each listing the three nodes; waiting until all are online"
if ! poll_until "$startup_s" all_online; then
  say "after ${startup_s} s: $(online_total) of $devices online; $(nodes_report)"
  fail "not every device came online within ${startup_s} s"
fi
startup_ms=$(($(now_ms) - began))
say "start-up: all $devices online after $startup_ms ms; $(nodes_report)"

# ---------------------------------------------------------------- held
minimum=$devices
held_until=$(($(now_ms) + hold_s * 1000))
while [ "$(now_ms)" -lt "$held_until" ]; do
  check_watched
  online=$(online_total)
  [ "$online" -ge "$minimum" ] || minimum=$online
  sleep 1
done
say "after ${hold_s} s: $(online_total) of $devices online (at least $minimum at every check, once a second)," \
  "$(sum_field reconnects) reconnects, $(sum_field sent) messages sent, $(sum_field acked) acknowledged;" \
  "$(nodes_report)"
result="$devices devices: all online after $startup_ms ms; after ${hold_s} s $(online_total) online (minimum $minimum), $(sum_field reconnects) reconnects"

# ---------------------------------------------------------------- kill
if [ "$kill_node" = 1 ]; then
  unwatch cluster
  reconnects_before=$(sum_field reconnects)
  on_node0=$(number total "$(monitor 0 "/connz?limit=1")")
  [ "$on_node0" != "?" ] || fail "node0's monitor did not answer before the kill"
  pid=$(node_pid 0)
  [ -n "$pid" ] || fail "no PID for node0 in the cluster's output"
  kill -KILL "$pid"
  killed=$(now_ms)
  say "node0 (PID $pid, $on_node0 MQTT connections) killed with SIGKILL"
  # The devices see the close at once and reconnect to node 1 or 2 (the
  # status line, once a second, may never show them offline): every device
  # of node 0 has reconnected, and every device is online.
  back() { [ $(($(sum_field reconnects) - reconnects_before)) -ge "$on_node0" ] && all_online; }
  if poll_until "$startup_s" back; then
    back_ms=$(($(now_ms) - killed))
    say "all $devices online again $back_ms ms after the kill ($(($(sum_field reconnects) - reconnects_before))" \
      "reconnects); $(nodes_report)"
  else
    say "after ${startup_s} s: $(online_total) of $devices online, $(($(sum_field reconnects) - reconnects_before))" \
      "reconnects; $(nodes_report)"
    fail "not every device came back within ${startup_s} s of the kill"
  fi
  # Do they stay?
  minimum=$devices
  for _ in $(seq "$after_s"); do
    online=$(online_total)
    [ "$online" -ge "$minimum" ] || minimum=$online
    sleep 1
  done
  say "$after_s s later: $(online_total) online (minimum $minimum), $(($(sum_field reconnects) - reconnects_before))" \
    "reconnects since the kill; $(nodes_report)"
  result+="; node0 ($on_node0 devices) killed: all online again after $back_ms ms, $(($(sum_field reconnects) - reconnects_before)) reconnects until $after_s s after"
fi

for k in 0 1 2; do stop_process "fleet$k" TERM; done
stop_process cluster TERM
echo "$result"
