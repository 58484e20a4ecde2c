#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End-to-end: connections that never send HELLO cannot lock devices out
# (docs/SECURITY.md, the HELLO budget of uplink_server).
#
#   idle_flood.sh <uplink_server> <uplink_device>
#
# uplink_server with its default budgets (1000 connections, of them 256
# without HELLO at once, a newcomer evicting the oldest of those) but no
# per-address share: every connection here comes from 127.0.0.1, attacker
# and devices alike. Without the HELLO budget the idle connections take all
# 1000 places and fleet B is refused.
# Fleet A (25 devices with sessions) comes online; then 1000 connections
# that never send a byte are opened with bash's /dev/tcp, and renewed once
# (1000 more) while fleet B (25 more devices) starts. Asserted: every device
# of both fleets comes online, no device of fleet A goes offline, every
# message each fleet generated is acknowledged, and the server evicted idle
# connections (its "hello_budget" lines) rather than refusing devices.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ $# -eq 2 ] || { echo "usage: idle_flood.sh <uplink_server> <uplink_device>" >&2; exit 2; }
server_bin=$1 device_bin=$2
readonly FLOOD=1000 FLEET=25

e2e_init "idle_flood" "e2e-idle-flood" "${UPLINK_E2E_DEADLINE_S:-75}"
say() { echo "[idle_flood] $*"; }

# 2 x 1000 idle sockets here, as many in the server, 50 devices: raise the
# soft descriptor limit (the server inherits it) or say why not.
ulimit -S -n 4096 2>/dev/null || ulimit -S -n "$(ulimit -H -n)"
[ "$(ulimit -S -n)" -ge $((FLOOD + 200)) ] ||
  fail "needs $((FLOOD + 200)) file descriptors, the hard limit is $(ulimit -H -n)"

open_fifo "$work/server.in" 4
launch_listener server "$work/server.in" 0 "$server_bin" --insecure-no-auth --events connections \
  --max-pending-hello-per-source 0 --stats-interval-ms 0
port=$listen_port
say "server listening on :$port"

# fleet <name> <prefix>: FLEET devices with the demo timings, 5 messages/s each, 15 s.
fleet() {
  start "$1" /dev/null "$device_bin" --server "127.0.0.1:$port" --device-id "$2" --fleet "$FLEET" \
    --demo --rate 5 --duration-s 15
}
online_count() { count_lines "$work/server.log" "\"event\":\"online\",\"device\":\"$1-"; }
all_online() { [ "$(online_count "$1")" -ge "$FLEET" ]; }

# flood: FLOOD connections that never send anything, on descriptors 10.. of this shell.
flood_fds=()
flood() {
  local i fd
  for ((i = 0; i < FLOOD; i++)); do
    exec {fd}<>"/dev/tcp/127.0.0.1/$port" || fail "flood: connection $i refused"
    flood_fds+=("$fd")
  done
}
unflood() {
  local fd
  for fd in "${flood_fds[@]}"; do exec {fd}>&-; done
  flood_fds=()
}

fleet fleet_a flood-a
wait_until 30 "fleet A online" all_online flood-a
say "fleet A: $FLEET devices online"

flood
say "$FLOOD idle connections open"
fleet fleet_b flood-b
unflood
flood  # renewed, as an attacker would
say "renewed: $FLOOD more idle connections while fleet B starts"
wait_until 30 "fleet B online" all_online flood-b
say "fleet B: $FLEET devices online under the flood"
unflood

wait_until 30 "fleet A to finish" eval '! alive fleet_a'
wait_until 30 "fleet B to finish" eval '! alive fleet_b'
for name in fleet_a fleet_b; do
  collect "$name"
  [ "${exit_of[$name]}" = 0 ] || fail "$name exited with status ${exit_of[$name]}"
  has_line "$work/$name.log" '"event":"summary"' 1 || fail "$name printed no summary"
  sent=$(field sent "$line")
  acked=$(field acked "$line")
  [ "$sent" -gt 0 ] && [ "$sent" = "$acked" ] || fail "$name: sent $sent, acknowledged $acked"
  say "$name: $sent messages sent, all acknowledged"
done
offline_a=$(count_lines "$work/server.log" '"event":"offline","device":"flood-a-')
evicted=$(count_lines "$work/server.log" '"reason":"hello_budget"')
refused=$(count_lines "$work/server.log" '"reason":"overloaded"')
# Fleet A's devices leave at the end of their run (graceful offline): none before.
[ "$offline_a" -le "$FLEET" ] || fail "fleet A went offline $offline_a times"
[ "$(online_count flood-a)" = "$FLEET" ] || fail "fleet A reconnected: $(online_count flood-a) online lines"
[ "$evicted" -ge $((FLOOD - 256)) ] || fail "only $evicted idle connections evicted"
[ "$refused" = 0 ] || fail "$refused connections refused as overloaded"
say "evicted $evicted idle connections; no device refused or disconnected"
command() { echo "$*" >&4; }
command quit
wait_until 10 "the server to exit" eval '! alive server'
collect server
say "PASS"
