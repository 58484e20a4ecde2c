#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End-to-end: the spool byte sweep with the real programs.
#   spool_byte_sweep.sh <uplink_server> <uplink_device>
#
# A spool file holding 12 messages the device could not send (no server),
# then, for a byte of its header slots or of its records at a time (a
# sample: every 71st byte of the records, one in each, the last one
# included, and every 43rd of the headers; each device run takes about a
# second), a copy with that byte flipped: uplink_device started on it against uplink_server must either
# deliver every message, or deliver the others and report the loss with its
# exact count ("N messages lost to damage" on stderr), or refuse the spool
# with a clear error (a damaged header: spool_damaged). The one silent loss
# allowed is the last record's, which is what a crash in the middle of its
# append leaves (a torn tail). The unit test uplink_unit_tests.SpoolByteSweep
# flips every byte, all bits and the lowest, in memory.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
server_bin=$1
device_bin=$2
total=12
record=64  # 24 bytes of record + 40 of payload (--size 40)
e2e_init "spool_byte_sweep" e2e-sweep "${UPLINK_E2E_DEADLINE_S:-60}"

# The spool: queued while nothing listens (port 1), kept when the device stops.
timeout 20 "$device_bin" --server 127.0.0.1:1 --device-id sweep-dev --demo --rate 200 --size 40 --count "$total" \
  --spool "$work/pristine.spool" --duration-s 1 --quiet >"$work/first.log" 2>"$work/first.err" ||
  fail "the first run failed: $(tail -n 3 "$work/first.err")"

open_fifo "$work/server.in" 4
launch_listener server "$work/server.in" 0 "$server_bin" --insecure-no-auth --print-payloads
port=$listen_port

# Distinct message numbers "sweep-dev #n" the server received from device $1.
received() {
  grep '"event":"message"' "$work/server.log" | grep -F "\"device\":\"$1\"" | grep -o 'sweep-dev #[0-9]*' |
    sort -u | wc -l
}

offsets=()
for ((k = 3; k < 256; k += 43)); do offsets+=("$k"); done
for ((k = 256 + 5; k < 256 + total * record; k += 71)); do offsets+=("$k"); done
last_from=$((256 + (total - 1) * record))
runs=0 lost_runs=0 refused_runs=0 torn_runs=0
for k in "${offsets[@]}"; do
  cp "$work/pristine.spool" "$work/s.spool"
  byte=$(od -An -tu1 -j "$k" -N 1 "$work/s.spool" | tr -d ' ')
  printf "\\x$(printf %02x $((byte ^ 255)))" | dd of="$work/s.spool" bs=1 seek="$k" conv=notrunc status=none
  device="sweep-$k"
  set +e
  timeout 20 "$device_bin" --server "127.0.0.1:$port" --device-id "$device" --demo --rate 200 --size 40 \
    --count "$total" --spool "$work/s.spool" --quiet >"$work/run.log" 2>"$work/run.err"
  status=$?
  set -e
  runs=$((runs + 1))
  if [ "$status" -ne 0 ]; then
    grep -q "spool_damaged\|spool headers are damaged" "$work/run.err" ||
      fail "byte $k: the device exited with $status without naming the damage: $(tail -n 2 "$work/run.err")"
    [ "$k" -lt 256 ] || fail "byte $k (a record) made the device refuse its spool"
    refused_runs=$((refused_runs + 1))
    continue
  fi
  got=$(received "$device")
  lost=$(sed -n 's/.*: \([0-9]*\) messages lost to damage.*/\1/p' "$work/run.err" | head -n 1)
  lost=${lost:-0}
  if [ $((got + lost)) -ne "$total" ]; then
    if [ "$lost" = 0 ] && [ "$got" = $((total - 1)) ] && [ "$k" -ge "$last_from" ]; then
      torn_runs=$((torn_runs + 1))  # the last record: a torn tail
      continue
    fi
    fail "byte $k: the server got $got messages and the device reported $lost lost, of $total"
  fi
  [ "$lost" = 0 ] || lost_runs=$((lost_runs + 1))
done
echo "PASS [spool_byte_sweep]: $runs flipped bytes; every message delivered or its loss counted exactly" \
  "($lost_runs runs reported a loss, $refused_runs refused a damaged header, $torn_runs lost the last record as a torn tail)"
