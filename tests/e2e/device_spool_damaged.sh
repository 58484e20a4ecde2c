#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End-to-end: uplink_device restarted on a spool file damaged in between.
#   device_spool_damaged.sh <uplink_device>
#
# Run 1, with no server (nothing listens on the port): the device queues
# messages in its spool for a second and stops. One byte in the payload of
# the third record is then flipped: valid records follow it, so it is
# damage, not a torn tail. Run 2 with --strict-spool exits with status 3
# and names the loss on stderr: exactly 1 message. Run 3, on another copy of
# the damaged file and without the flag, prints the same, a spool_damaged
# JSON line, and runs on (exit 0 after --duration-s).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
device_bin=$1
e2e_init "device_spool_damaged" e2e-spool-damaged "${UPLINK_E2E_DEADLINE_S:-60}"

# Size 40: records of 24 + 40 bytes from the start of the ring (offset 256).
run_device() {  # name spool [options...]
  local name=$1 spool=$2
  shift 2
  set +e
  timeout 20 "$device_bin" --server 127.0.0.1:1 --device-id spool-damaged --demo --rate 100 --size 40 \
    --spool "$spool" --duration-s 1 "$@" >"$work/$name.log" 2>"$work/$name.err"
  status=$?
  set -e
}

run_device first "$work/device.spool" --quiet
[ "$status" -eq 0 ] || fail "the first run exited with $status"
offset=$((256 + 2 * 64 + 30))
byte=$(od -An -tu1 -j "$offset" -N 1 "$work/device.spool" | tr -d ' ')
[ -n "$byte" ] && [ "$byte" -ne 0 ] || fail "no third record in the spool (byte $offset is '${byte:-}')"
printf "\\x$(printf %02x $((byte ^ 255)))" | dd of="$work/device.spool" bs=1 seek="$offset" conv=notrunc status=none
cp "$work/device.spool" "$work/copy.spool"

run_device strict "$work/device.spool" --quiet --strict-spool
[ "$status" -eq 3 ] || fail "--strict-spool on a damaged spool exited with $status, not 3"
grep -q "1 messages lost to damage in 1 damaged stretches" "$work/strict.err" ||
  fail "the loss is not reported on stderr: $(cat "$work/strict.err")"

run_device lenient "$work/copy.spool"
[ "$status" -eq 0 ] || fail "without --strict-spool the device exited with $status"
grep -q "1 messages lost to damage" "$work/lenient.err" || fail "the loss is not reported without --strict-spool"
grep '"event":"spool_damaged"' "$work/lenient.log" | grep -q '"messages_lost":1' ||
  fail "no spool_damaged line with messages_lost 1"
echo "PASS [device_spool_damaged]: one flipped byte: 1 message reported lost; --strict-spool exits 3"
