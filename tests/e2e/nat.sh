#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The NAT testbed: the reference server behind a real masquerading NAT whose
# idle timeout is a few seconds, the emulated device in front of it.
#
#   device netns            router netns (MASQUERADE)           server netns
#   uplink_device  10.77.1.2 --- 10.77.1.1 | 10.77.2.1 --- 10.77.2.2:7000  uplink_server
#
# The router's conntrack forgets an established TCP connection idle for
# nf_conntrack_tcp_timeout_established seconds (set in its own namespace:
# the host's value is untouched); with nf_conntrack_tcp_loose=0 a later
# segment of that connection is not picked up again, and a rule drops what
# conntrack calls INVALID, so both directions go silent: no RST, the
# half-open link of the field (a carrier NAT dropping an idle mapping).
#
# Usage:
#   tests/e2e/nat.sh <scenario> <uplink_server> <uplink_device>
#   tests/e2e/nat.sh bench <uplink_server> <uplink_device>
#   tests/e2e/nat.sh list
#
# Needs root or CAP_NET_ADMIN (ip netns, nft); without, prints "Skipped" and
# exits 77 (CTest SKIP_RETURN_CODE). Everything is made inside three network
# namespaces of its own (uplink-nat-<pid>-{dev,rtr,srv}; the veths are
# created inside them, never in the host's namespace) and removed at exit
# with every process, whatever happens; the whole run is bounded.
#
# Scenarios (a NAT timeout of seconds stands for the field's minutes):
#   nat_heartbeat_within
#       NAT timeout 3 s, heartbeat 1.5 s, a message every 8 s: one
#       connection the whole run (no offline, no reconnect), every message
#       acknowledged and received exactly once.
#   nat_heartbeat_beyond
#       NAT timeout 2 s, heartbeat 3 s, read timeout 5 s, a message every
#       4 s: every idle period loses the mapping; every loss is detected as
#       a dead link within the device's stated bound (detection_ms <=
#       bound_ms + slop), at least 3 of them; nothing is lost: every message
#       acknowledged, received exactly once (the session resumes), no
#       duplicate on the server.
#   nat_timeout_changes
#       the adaptive heartbeat (--adaptive-heartbeat): NAT timeout 5 s, the
#       device learns it (settles at 70..95 % of it within 3 link losses);
#       then the operator shortens it to 3 s while the device runs: the
#       device loses the link, learns again and settles at 70..95 % of 3 s
#       within 3 losses; then it keeps one connection for several idle
#       periods. Restarted with the state file it wrote at stop
#       (--heartbeat-state), it resumes at the settled interval for this
#       network (the default route, eth0@10.77.1.1) and loses no link.
#
# bench (run by hand, not by CTest: about 35 minutes; prints a Markdown table)
#       for each NAT timeout of NAT_BENCH_TIMEOUTS (default "20 40 90",
#       seconds standing for minutes), the adaptive device (start 10 s,
#       floor 2 s, ceiling 300 s, probe timeout 2 s) from its start until it
#       settles: link losses, settled interval as a fraction of the timeout,
#       time taken; then NAT_BENCH_WINDOW_S (default 300) seconds of steady
#       state: wake-ups (PINGs) and IP bytes through the NAT (both ways, the
#       router's nft counter) per hour; and the same window with a fixed
#       10 s heartbeat, for comparison; and, when mosquitto and
#       mosquitto_sub are installed (Debian mosquitto, mosquitto-clients),
#       for each timeout the same window with mosquitto_sub (libmosquitto) at
#       its default keepalive (60 s) against a mosquitto broker beside
#       uplink_server: wake-ups are its PINGREQs, losses its reconnects.
#       NAT_BENCH_MODES (default "adaptive fixed mosquitto") picks the rows.
#
# Environment: UPLINK_TEST_SLOP_MS (default 300), UPLINK_E2E_KEEP=1 (keep logs).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

readonly SCENARIOS="nat_heartbeat_within nat_heartbeat_beyond nat_timeout_changes"
readonly SKIP=77
readonly SERVER_ADDR=10.77.2.2 SERVER_PORT=7000
readonly DEVICE_ID=nat-dev
SLOP_MS=${UPLINK_TEST_SLOP_MS:-300}

if [ "${1:-}" = list ]; then
  echo "$SCENARIOS"
  exit 0
fi
[ $# -eq 3 ] || {
  sed -n '17,19p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
scenario=$1
server_bin=$2
device_bin=$3
case " $(echo $SCENARIOS) bench " in
  *" $scenario "*) ;;
  *) echo "nat.sh: unknown scenario '$scenario' (list: $SCENARIOS)" >&2; exit 2 ;;
esac

NS=uplink-nat-$$
DEV=$NS-dev RTR=$NS-rtr SRV=$NS-srv

# --- Privileges: a visible skip, never a failure ------------------------------------
skip() {
  echo "Skipped [$scenario]: $* (the NAT testbed needs root or CAP_NET_ADMIN)"
  exit "$SKIP"
}
command -v ip >/dev/null || skip "no ip command (iproute2)"
command -v nft >/dev/null || skip "no nft command (nftables)"
ip netns add "$NS-probe" 2>/dev/null || skip "cannot create a network namespace"
ip netns del "$NS-probe"
# Namespaces an earlier run left behind when it was killed outright (SIGKILL
# cannot be trapped): those of a process that no longer exists.
for stale in $(ip netns list 2>/dev/null | sed -n 's/^\(uplink-nat-[0-9][0-9]*-[a-z]*\).*/\1/p'); do
  stale_pid=${stale#uplink-nat-}
  stale_pid=${stale_pid%%-*}
  kill -0 "$stale_pid" 2>/dev/null || ip netns del "$stale" 2>/dev/null || true
done

if [ "$scenario" = bench ]; then
  bench_timeouts=${NAT_BENCH_TIMEOUTS:-20 40 90}
  bench_window_s=${NAT_BENCH_WINDOW_S:-300}
  budget_s=600
  for t in $bench_timeouts; do budget_s=$((budget_s + 20 * t + 3 * bench_window_s)); done
  e2e_init bench nat "$budget_s"
else
  e2e_init "$scenario" nat 110
fi
dev_log=$work/device.log

say() { printf '[%s %6.2fs] %s\n' "$scenario" "$(( $(now_ms) - START_MS ))e-3" "$*"; }

# --- The testbed ---------------------------------------------------------------------
made_ns=()
e2e_undo() {
  local ns
  for ns in "${made_ns[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
}

in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

build_testbed() {
  local ns
  for ns in "$DEV" "$RTR" "$SRV"; do
    ip netns add "$ns" || fail "cannot create namespace $ns"
    made_ns+=("$ns")
    # IPv4 only: no IPv6 addresses whose duplicate address detection would
    # show up as a network change on the device's monitor seconds later.
    in_ns "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 2>/dev/null || true
    ip -n "$ns" link set lo up
  done
  # Each veth pair is born inside the namespaces it joins.
  ip -n "$DEV" link add eth0 type veth peer name lan0 netns "$RTR"
  ip -n "$SRV" link add eth0 type veth peer name wan0 netns "$RTR"
  ip -n "$DEV" addr add 10.77.1.2/24 dev eth0
  ip -n "$RTR" addr add 10.77.1.1/24 dev lan0
  ip -n "$RTR" addr add 10.77.2.1/24 dev wan0
  ip -n "$SRV" addr add "$SERVER_ADDR/24" dev eth0
  ip -n "$DEV" link set eth0 up
  ip -n "$RTR" link set lan0 up
  ip -n "$RTR" link set wan0 up
  ip -n "$SRV" link set eth0 up
  ip -n "$DEV" route add default via 10.77.1.1
  # The server has no route back to the device's network: only the NAT's
  # address (10.77.2.1) is reachable from it, as from a server on the Internet.
  in_ns "$RTR" sysctl -qw net.ipv4.ip_forward=1
  in_ns "$RTR" sysctl -qw net.netfilter.nf_conntrack_tcp_loose=0 || fail "cannot set nf_conntrack_tcp_loose"
  in_ns "$RTR" nft -f - <<EOF || fail "cannot load the NAT rules"
table ip uplink_nat {
  chain postrouting_nat {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "wan0" masquerade
  }
  chain forward_filter {
    type filter hook forward priority filter; policy accept;
    ct state invalid drop
    counter
  }
  chain input_filter {
    type filter hook input priority filter; policy accept;
    ct state invalid drop
  }
}
EOF
}

# set_nat_timeout <seconds>: how long the router keeps an idle mapping.
set_nat_timeout() {
  in_ns "$RTR" sysctl -qw "net.netfilter.nf_conntrack_tcp_timeout_established=$1" ||
    fail "cannot set the router's conntrack timeout"
  nat_timeout_s=$1
  say "router: NAT idle timeout ${1} s"
}

start_server() {
  spawn server /dev/null ip netns exec "$SRV" "$server_bin" --insecure-no-auth --print-payloads \
    --listen "$SERVER_ADDR:$SERVER_PORT" >"$work/server.log" 2>"$work/server.err"
  wait_line "$work/server.log" '"event":"listening"' 10
  watch server
  say "server listening on $SERVER_ADDR:$SERVER_PORT (behind the NAT)"
}

# start_device <count> [flags...]: timings are the scenario's own flags.
start_device() {
  count=$1
  shift
  spawn device /dev/null ip netns exec "$DEV" "$device_bin" --server "$SERVER_ADDR:$SERVER_PORT" \
    --device-id "$DEVICE_ID" --count "$count" --duration-s "${device_duration_s:-120}" --write-timeout-ms 2000 --connect-timeout-ms 3000 \
    --backoff-base-ms 200 --backoff-cap-ms 1000 --stable-after-ms 2000 "$@" >"$dev_log" 2>"$work/device.err"
  watch device
  say "device started: --count $count $*"
}

# --- Checks --------------------------------------------------------------------------
dead_links() {
  grep -F '"event":"offline"' "$dev_log" 2>/dev/null | grep -v -F '"reason":"stopped"' || true
}

finish_device() {
  unwatch device
  wait_until 40 "the device to finish (all $count messages acknowledged)" eval '! alive device'
  collect device
  [ "${exit_of[device]}" -eq 0 ] || fail "device exited with status ${exit_of[device]}"
  summary=$(grep -F '"event":"summary"' "$dev_log" | tail -n 1 || true)
  [ -n "$summary" ] || fail "no summary line from the device"
  say "device done: $summary"
}

received_numbers() {
  grep -h -F '"event":"message"' "$work/server.log" 2>/dev/null |
    sed -n "s/.*\"payload\":\"$DEVICE_ID #\([0-9][0-9]*\) .*/\1/p" || true
}

check_delivery() {
  local sent acked report
  sent=$(field sent "$summary")
  acked=$(field acked "$summary")
  [ "$sent" = "$count" ] || fail "device sent $sent messages, expected $count"
  [ "$acked" = "$sent" ] || fail "device summary: sent $sent != acked $acked"
  ! grep -q -F '"event":"duplicate"' "$work/server.log" || fail "server reported duplicate DATA"
  ! grep -q -F 'sequence_error' "$work/server.log" "$dev_log" || fail "a sequence error"
  report=$(received_numbers | sort -n | uniq -c | awk -v n="$count" '
      { seen[$2] = $1 }
      END {
        for (i = 1; i <= n; i++) {
          if (!(i in seen)) missing = missing " #" i
          else if (seen[i] > 1) dup = dup " #" i "x" seen[i]
        }
        if (missing != "") print "lost:" missing
        if (dup != "") print "duplicated:" dup
      }')
  [ -z "$report" ] || fail "not exactly once: $report"
  say "all $count messages acknowledged and received exactly once"
}

# Every dead link the device reported was found within its stated bound.
check_detection() {
  local offline reason detection bound n=0
  while IFS= read -r offline; do
    [ -n "$offline" ] || continue
    reason=$(field reason "$offline")
    case $reason in
      server_silent | write_timeout | probe_failed) ;;
      *) fail "link lost as '$reason', expected a dead link (server_silent, write_timeout, probe_failed): $offline" ;;
    esac
    detection=$(field detection_ms "$offline")
    bound=$(field bound_ms "$offline")
    [ "$detection" -le $((bound + SLOP_MS)) ] ||
      fail "detection_ms $detection > bound_ms $bound + slop $SLOP_MS: $offline"
    n=$((n + 1))
  done < <(dead_links)
  dead_count=$n
}

check_no_sanitizer_report() {
  if grep -l -E 'ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:' "$work"/*.err >/dev/null 2>&1; then
    fail "sanitizer report: $(grep -h -E 'Sanitizer|runtime error:' "$work"/*.err | head -n 5)"
  fi
}

stop_server() {
  stop_process server TERM
  [ "${exit_of[server]}" -eq 0 ] || fail "server exited with status ${exit_of[server]} after SIGTERM"
}

# --- Scenarios -----------------------------------------------------------------------
scenario_nat_heartbeat_within() {
  set_nat_timeout 3
  start_server
  start_device 4 --heartbeat-ms 1500 --read-timeout-ms 4000 --rate 0.125
  finish_device
  stop_server
  check_delivery
  [ -z "$(dead_links)" ] || fail "the link was lost although the heartbeat is shorter than the NAT timeout: $(dead_links | head -n 3)"
  [ "$(field reconnects "$summary")" = 0 ] || fail "the device reconnected: $summary"
  [ "$(count_lines "$dev_log" '"event":"online"')" = 1 ] || fail "the device came online more than once"
  say "one connection for $(( ($(now_ms) - START_MS) / 1000 )) s through idle periods of 8 s (NAT timeout 3 s): no reconnect"
}

scenario_nat_heartbeat_beyond() {
  set_nat_timeout 2
  start_server
  start_device 6 --heartbeat-ms 3000 --read-timeout-ms 5000 --rate 0.25
  finish_device
  stop_server
  check_delivery
  check_detection
  [ "$dead_count" -ge 3 ] || fail "only $dead_count links lost; every idle period beyond the NAT timeout should lose one"
  # Every connection was lost to the NAT: none ended any other way.
  [ "$(count_lines "$dev_log" '"event":"online"')" -le $((dead_count + 1)) ] ||
    fail "more connections than losses: a connection ended another way"
  say "$dead_count links lost to the NAT, each detected within its bound; nothing lost or duplicated"
}

# The adaptive device's "adaptive heartbeat: settled at N ms" log lines.
settled_lines() { grep -F 'adaptive heartbeat: settled at' "$dev_log" 2>/dev/null || true; }
settled_ms_of() { sed -n 's/.*settled at \([0-9][0-9]*\) ms.*/\1/p' <<<"$1"; }
has_settled() { [ "$(settled_lines | grep -c . || true)" -ge "$1" ]; }

# check_settled <n> <losses before> <NAT timeout s>: the n-th settling is at
# 70..95 % of the timeout, after at most 3 links lost since <losses before>.
check_settled() {
  local n=$1 before=$2 timeout_ms=$(($3 * 1000)) line_n settled losses
  line_n=$(settled_lines | sed -n "${n}p")
  settled=$(settled_ms_of "$line_n")
  check_detection
  losses=$((dead_count - before))
  say "settled at $settled ms = $((settled * 100 / timeout_ms)) % of the NAT timeout, after $losses link losses"
  [ "$losses" -le 3 ] || fail "settling took $losses link losses (more than 3)"
  [ $((settled * 100)) -ge $((timeout_ms * 70)) ] && [ $((settled * 100)) -le $((timeout_ms * 95)) ] ||
    fail "settled at $settled ms, outside 70..95 % of $timeout_ms ms"
}

scenario_nat_timeout_changes() {
  local losses_before_change onlines
  set_nat_timeout 5
  start_server
  local adaptive=(--rate 0 --verbose --heartbeat-ms 20000 --read-timeout-ms 40000 --probe-timeout-ms 1000
    --adaptive-heartbeat 1000:1500 --heartbeat-state "$work/heartbeats")
  start_device 0 "${adaptive[@]}"
  ! grep -q -F '"event":"network_changed"' "$dev_log" || fail "the device saw a network change: learning restarted"
  wait_until 50 "the adaptive heartbeat to settle" has_settled 1
  check_settled 1 0 5
  losses_before_change=$dead_count
  set_nat_timeout 3
  wait_until 45 "the adaptive heartbeat to settle again" has_settled 2
  check_settled 2 "$losses_before_change" 3
  [ "$dead_count" -gt "$losses_before_change" ] || fail "no link lost after the change"
  # It settles on a loss: the reconnect after it comes first.
  back_online() { [ "$(count_lines "$dev_log" '"event":"online"')" -gt "$(dead_links | grep -c . || true)" ]; }
  wait_until 10 "the device to be online again after settling" back_online
  onlines=$(count_lines "$dev_log" '"event":"online"')
  # Three idle periods at the new interval on one connection.
  came_online_again() { [ "$(count_lines "$dev_log" '"event":"online"')" != "$onlines" ]; }
  ! poll_until $(( ($(settled_ms_of "$(settled_lines | sed -n 2p)") * 3 + 999) / 1000 )) came_online_again ||
    fail "the link was lost after settling"
  stop_process device TERM
  [ "${exit_of[device]}" -eq 0 ] || fail "device exited with status ${exit_of[device]}"
  grep -q -F 'eth0@10.77.1.1 ' "$work/heartbeats" || fail "no state kept for this network: $(cat "$work/heartbeats")"

  # A restart resumes at the settled interval: no link lost to learn it again.
  local settled
  settled=$(settled_ms_of "$(settled_lines | sed -n 2p)")
  dev_log=$work/device2.log
  start_device 0 "${adaptive[@]}"
  wait_line "$dev_log" "settled before at $settled ms" 10
  came_online_again() { [ "$(count_lines "$dev_log" '"event":"online"')" -gt 1 ]; }
  ! poll_until $(( (settled * 3 + 999) / 1000 + 1 )) came_online_again ||
    fail "the restarted device lost the link: it did not resume what it learned"
  [ -z "$(dead_links)" ] || fail "the restarted device lost the link: $(dead_links | head -n 1)"
  say "restarted: resumed at $settled ms from the state file, no link lost"
  stop_process device TERM
  [ "${exit_of[device]}" -eq 0 ] || fail "device exited with status ${exit_of[device]}"
  stop_server
}

# --- bench ---------------------------------------------------------------------------
# forwarded <packets|bytes>: the router's counter of what it forwarded, both ways.
forwarded() {
  local counts
  counts=$(in_ns "$RTR" nft list chain ip uplink_nat forward_filter |
    sed -n 's/.*counter packets \([0-9]*\) bytes \([0-9]*\).*/\1 \2/p')
  if [ "$1" = packets ]; then echo "${counts% *}"; else echo "${counts#* }"; fi
}

# measure_window: wake-ups, packets and bytes per hour over bench_window_s
# seconds of the device running now; sets per_hour_{pings,packets,bytes}.
measure_window() {
  local pings0 packets0 bytes0 start_ms took_ms
  pings0=$(count_lines "$dev_log" '"event":"heartbeat"')
  packets0=$(forwarded packets)
  bytes0=$(forwarded bytes)
  start_ms=$(now_ms)
  never() { return 1; }
  poll_until "$bench_window_s" never || true
  took_ms=$(($(now_ms) - start_ms))
  per_hour_pings=$(( ($(count_lines "$dev_log" '"event":"heartbeat"') - pings0) * 3600000 / took_ms ))
  per_hour_packets=$(( ($(forwarded packets) - packets0) * 3600000 / took_ms ))
  per_hour_bytes=$(( ($(forwarded bytes) - bytes0) * 3600000 / took_ms ))
}

# One row: mosquitto_sub (libmosquitto, default keepalive) through the NAT
# for the window, against a mosquitto broker in the server's namespace.
mosquitto_row() {
  local t=$1 log=$work/mosquitto_sub-$1.log pings0 connects0
  if [ -z "${broker_started:-}" ]; then
    printf 'listener 1883 %s\nallow_anonymous true\nuser root\npersistence false\n' "$SERVER_ADDR" >"$work/mosquitto.conf"
    spawn broker /dev/null ip netns exec "$SRV" mosquitto -c "$work/mosquitto.conf" >"$work/broker.log" 2>"$work/broker.err"
    wait_line "$work/broker.err" "running" 10
    watch broker
    broker_started=1
  fi
  spawn mqtt /dev/null ip netns exec "$DEV" stdbuf -oL mosquitto_sub -d -h "$SERVER_ADDR" -i nat-bench -t nat/bench >"$log" 2>&1
  watch mqtt
  wait_line "$log" "received CONNACK" 10
  pings0=$(count_lines "$log" "sending PINGREQ")
  connects0=$(count_lines "$log" "sending CONNECT")
  dev_log=$log
  packets0=$(forwarded packets)
  bytes0=$(forwarded bytes)
  local start_ms took_ms
  start_ms=$(now_ms)
  never() { return 1; }
  poll_until "$bench_window_s" never || true
  took_ms=$(($(now_ms) - start_ms))
  rows+=("| $t s | libmosquitto (mosquitto_sub), keepalive 60 s | - | - | - | $(( ($(count_lines "$log" "sending PINGREQ") - pings0) * 3600000 / took_ms )) | $(( ($(forwarded packets) - packets0) * 3600000 / took_ms )) | $(( ($(forwarded bytes) - bytes0) * 3600000 / took_ms )) | $(( $(count_lines "$log" "sending CONNECT") - connects0 )) |")
  stop_process mqtt TERM
}

scenario_bench() {
  local t rows=() start_ms settled losses lost_in_window fixed_row modes=${NAT_BENCH_MODES:-adaptive fixed mosquitto}
  device_duration_s=$((budget_s + 10))
  start_server
  case " $modes " in
    *" mosquitto "*)
      if ! command -v mosquitto >/dev/null || ! command -v mosquitto_sub >/dev/null; then
        say "no mosquitto or mosquitto_sub: the libmosquitto rows are left out"
        modes=${modes/mosquitto/}
      fi ;;
  esac
  for t in $bench_timeouts; do
    case " $modes " in
      *" mosquitto "*) set_nat_timeout "$t"; mosquitto_row "$t" ;;
    esac
    case " $modes " in *" adaptive "*) ;; *) continue ;; esac
    set_nat_timeout "$t"
    dev_log=$work/device-adaptive-$t.log
    start_device 0 --rate 0 --verbose --heartbeat-ms 300000 --read-timeout-ms 600000 --probe-timeout-ms 2000 \
      --adaptive-heartbeat 2000:10000
    start_ms=$(now_ms)
    wait_until $((20 * t)) "the adaptive heartbeat to settle under a NAT timeout of $t s" has_settled 1
    settled=$(settled_ms_of "$(settled_lines | head -n 1)")
    losses=$(dead_links | grep -c . || true)
    say "NAT $t s: settled at $settled ms after $losses losses in $(( ($(now_ms) - start_ms) / 1000 )) s"
    rows+=("| $t s | adaptive | $losses | $settled ms ($((settled * 100 / (t * 1000))) %) | $(( ($(now_ms) - start_ms) / 1000 )) s")
    measure_window
    lost_in_window=$(( $(dead_links | grep -c . || true) - losses ))
    rows[-1]+=" | $per_hour_pings | $per_hour_packets | $per_hour_bytes | $lost_in_window |"
    stop_process device TERM
  done
  fixed_row=""
  case " $modes " in
    *" fixed "*)
      dev_log=$work/device-fixed.log
      start_device 0 --rate 0 --heartbeat-ms 10000 --read-timeout-ms 20000
      wait_line "$dev_log" '"event":"online"' 10
      measure_window
      fixed_row="| ${t} s | fixed 10 s | 0 | - | - | $per_hour_pings | $per_hour_packets | $per_hour_bytes | $(dead_links | grep -c . || true) |"
      stop_process device TERM ;;
  esac
  if alive broker; then stop_process broker TERM; fi
  stop_server
  echo
  echo "NAT testbed, steady state measured over $bench_window_s s per row (IP packets and bytes through the NAT, both ways)"
  echo
  echo "| NAT timeout | Heartbeat | Link losses to settle | Settled at (of the timeout) | Time to settle | Wake-ups/h | Packets/h | Bytes/h | Losses in the window |"
  echo "|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  [ -z "$fixed_row" ] || printf '%s\n' "$fixed_row"
}

build_testbed
"scenario_$scenario"
check_no_sanitizer_report
say "PASS"
