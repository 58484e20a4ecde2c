#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End-to-end over MQTT 3.1.1: the emulated device against a stock mosquitto
# (started here with its own configuration, devices authenticated by
# password), killed with SIGKILL mid-stream twice and restarted on the same
# spool.
#   mqtt_device_killed.sh <uplink_device>
#
# The device publishes "mqtt-dev #n" to devices/mqtt-dev/up with the
# sequence envelope; a consumer (mosquitto_sub, persistent session, QoS 1)
# reads them. Meanwhile numbered downlink "mqtt-dev dl #n" is published to
# devices/mqtt-dev/down, some of it while the device is dead.
# At the end:
#   - the consumer has every sequence number 1..total, the payload of each
#     carrying the same number, new ones in order: nothing lost across the
#     kills (the spool kept what the broker had not acknowledged); the
#     duplicates QoS 1 lets through, at most the window per kill, are
#     dropped by the envelope;
#   - the device application got every downlink message, new ones in order;
#     a repeat only after a kill (a message handed to the application and
#     killed before its PUBACK comes again: at-least-once), at most the
#     broker's in-flight window per kill.
set -euo pipefail
# Processes by name, bounded waits, the work directory, mosquitto, fail.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
device_bin=$1
total=300
downlinks=60
e2e_init "mqtt_device_killed" e2e-mqtt "${UPLINK_E2E_DEADLINE_S:-75}"

launch_mosquitto mqtt-dev consumer operator
start_envelope_consumer consumer consumer devices/mqtt-dev/up
unique_count() { envelope_sequences consumer | sort -u | wc -l; }

run_device() {  # log
  spawn device /dev/null "$device_bin" --server "127.0.0.1:$mosquitto_port" --device-id mqtt-dev \
    --token-file "$work/mqtt-dev.secret" --protocol mqtt --mqtt-envelope on --in-flight 20 --demo --rate 100 \
    --count "$total" --spool "$work/device.spool" >>"$1" 2>>"$work/device.err"
}
unique_at_least() { [ "$(unique_count)" -ge "$1" ]; }
feed_downlink() {
  for ((n = 1; n <= downlinks; n++)); do
    mosquitto_publish operator devices/mqtt-dev/down "mqtt-dev dl #$n"
    sleep 0.05
  done
}
# The n of each downlink "mqtt-dev dl #n" the device application logged, in order.
downlink_numbers() {
  grep '"event":"downlink"' "$work/device.log" 2>/dev/null | grep -o 'mqtt-dev dl #[0-9]*' | sed 's/.*#//' || true
}

for round in 1 2; do
  run_device "$work/device.log"
  if [ "$round" = 1 ]; then
    # Downlink only once the device's subscription exists: a message
    # published before it reaches nobody. The device writes its SUBSCRIBE
    # before its first PUBLISH, on one connection, so once the consumer has
    # a message the broker has taken the subscription.
    poll_until 15 unique_at_least 1 || fail "no message reached the consumer"
    spawn feeder /dev/null feed_downlink
  fi
  poll_until 15 unique_at_least $((round * 90)) || fail "the consumer got only $(unique_count) messages"
  stop_process device KILL
  echo "round $round: killed the device after $(unique_count) messages reached the consumer and" \
    "$(downlink_numbers | wc -l) downlink messages reached the device"
done
wait_until 30 "the downlink feeder to finish" eval '! alive feeder'
collect feeder
[ "${exit_of[feeder]}" = 0 ] || fail "publishing the downlink failed"

run_device "$work/device.log"
poll_until 30 eval '! alive device' || fail "the device did not finish"
collect device
grep -q '"done"' "$work/device.log" || fail "the device did not report done"
poll_until 10 unique_at_least "$total" || true
stop_process consumer TERM

# Uplink: every sequence number once after the envelope, new ones in order,
# and each payload carries its own number.
envelope_sequences consumer | awk '!seen[$0]++' >"$work/first.txt"
if ! seq 1 "$total" | diff -q - "$work/first.txt" >/dev/null; then
  echo "the consumer got $(wc -l <"$work/first.txt") distinct messages; first differences:" >&2
  seq 1 "$total" | diff - "$work/first.txt" | head -n 10 >&2
  fail "the consumer did not get 1..$total, new ones in order"
fi
hex() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }
for n in 1 $((total / 2)) "$total"; do
  grep -q "^$(printf '%016x' "$n")$(hex "mqtt-dev #$n ")" "$work/consumer.log" ||
    fail "the payload of sequence number $n is not 'mqtt-dev #$n ...'"
done
duplicates=$(( $(envelope_sequences consumer | wc -l) - total ))
# A repeat is a message transmitted and not yet acknowledged at a kill: at
# most the window (--in-flight 20) per kill. A device that lost its spool
# would start again from #1 and repeat far more.
[ "$duplicates" -le 40 ] || fail "$duplicates duplicates: more than the window (20) per kill"

# Downlink: everything, new ones in order, few repeats.
downlink_numbers | awk '!seen[$0]++' >"$work/downlink_first.txt"
seq 1 "$downlinks" | diff -q - "$work/downlink_first.txt" >/dev/null ||
  fail "the device got downlink $(tr '\n' ' ' <"$work/downlink_first.txt"), not 1..$downlinks in order"
repeats=$(( $(downlink_numbers | wc -l) - downlinks ))
[ "$repeats" -le 40 ] || fail "$repeats downlink messages came again: more than the broker's window (20) per kill"
echo "PASS: $total messages across two SIGKILLs on the spool, none lost, $duplicates duplicates dropped by the" \
  "envelope; downlink 1..$downlinks in order, $repeats repeated after a kill"
