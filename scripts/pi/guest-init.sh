#!/bin/busybox sh
# SPDX-License-Identifier: Apache-2.0
# The init of the emulated Raspberry Pi (scripts/pi-test builds it into the
# initramfs as /init). Runs every step, prints one line per result:
#   PI-STEP <name> PASS|FAIL <detail>
# and PI-TEST-END when done; the host reads them from the serial console.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
# /tmp is the initramfs's own (writable, in RAM): a tmpfs mounted over it
# would hide the test fixtures when the source tree lives under /tmp.
mkdir -p /tmp
ip link set lo up  # the integration suites talk to 127.0.0.1 and ::1
export PATH=/bin:/uplink TMPDIR=/tmp HOME=/tmp UPLINK_TEST_SLOP_MS=1000

arg() { sed -n "s/.* uplink\.$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
step() { echo "PI-STEP $1 $2 ${3:-}"; }
proxy_port=$(arg proxy_port)
messages=$(arg messages)
export UPLINK_EXPECTED_MODEL="$(arg model | tr _ ' ')"
# The board has no real-time clock (a real Pi takes the time from NTP):
# take the host's, or every certificate the TLS tests make is not yet valid.
date -s "@$(arg epoch)" >/dev/null

echo "PI-BOARD $(cat /proc/device-tree/model | tr -d '\0'); kernel $(uname -r) $(uname -m)"

# Drivers the Pi's board needs (Debian builds them as modules): the hardware
# RNG, the SoC thermal sensor, and USB (dwc2) with a CDC Ethernet gadget for
# the network qemu gives the board.
for module in bcm2835-rng bcm2835_thermal phy-generic dwc2 cdc_ether; do
  modprobe "$module" 2>/dev/null || echo "pi: modprobe $module failed"
done
up_link() {
  ip link set usb0 up && ip addr add 10.0.2.15/24 dev usb0 2>/dev/null
  ip route add default via 10.0.2.2 2>/dev/null
  return 0
}
for _ in $(seq 100); do [ -e /sys/class/net/usb0 ] && break; sleep 0.1; done
if [ -e /sys/class/net/usb0 ] && up_link; then step network PASS "usb0 10.0.2.15, host at 10.0.2.2"
else step network FAIL "no usb0"; fi

# 1. The SDK's suites on the ARM kernel.
for suite in /uplink/uplink_*_tests; do
  name=$(basename "$suite")
  [ "$name" = uplink_real_board_tests ] && continue
  if "$suite" > /tmp/$name.log 2>&1; then
    step "suite:$name" PASS "$(grep -E '^OK \(' /tmp/$name.log | tail -n 1)"
  else
    step "suite:$name" FAIL "$(grep -E 'Errors \(|Failure in|error:' /tmp/$name.log | head -n 3 | tr '\n' ' ')"
    tail -n 30 /tmp/$name.log
  fi
done

# 2. The Raspberry Pi port against the kernel's own board files.
if uplink_real_board_tests -v > /tmp/board.log 2>&1; then
  step board PASS "$(grep -E '^OK \(' /tmp/board.log)"
else
  step board FAIL "$(grep -E 'Failure in|expected|but was' /tmp/board.log | head -n 4 | tr '\n' ' ')"
fi
echo "PI-FIGURE soc_temp_millicelsius $(cat /sys/class/thermal/thermal_zone0/temp 2>/dev/null)"
echo "PI-FIGURE identity $(uplink_device --help >/dev/null 2>&1; cat /etc/machine-id | cut -c1-16 | sed 's/^/linux-/')"

# 3. The device story: the device streams to uplink_server on the host
#    through uplink_proxy, which the host blackholes when it sees the
#    PI-DEVICE-ONLINE line (the host watches this console), then forwards
#    again after the device reported the link dead.
uplink_device --server "10.0.2.2:$proxy_port" --demo --rate 5 --count "$messages" \
  --no-network-monitor > /tmp/device.log 2>&1 &
device=$!
for _ in $(seq 300); do grep -q '"event":"online"' /tmp/device.log && break; sleep 0.1; done
echo "PI-DEVICE-ONLINE"
# The device's resident memory while online (the client plus the tool).
echo "PI-FIGURE device_vmrss $(grep VmRSS /proc/$device/status | tr -s ' ' | cut -d' ' -f2-)"
for _ in $(seq 900); do kill -0 $device 2>/dev/null || break; sleep 0.1; done
if kill -0 $device 2>/dev/null; then kill $device; fi
wait $device
device_rc=$?
cat /tmp/device.log | grep -E '"event":"(offline|online|done)"' | sed 's/^/PI-DEVICE /'
if [ "$device_rc" = 0 ] && grep -q '"event":"offline"' /tmp/device.log; then
  step device PASS "exit 0 after an offline/online cycle"
else
  step device FAIL "exit $device_rc; $(grep -c '"event":"offline"' /tmp/device.log) offline events"
fi

# 4. The Linux port's netlink monitor on an ARM kernel: usb0 goes down and
#    up; the device hears it and probes its link. Then the figures: wake-ups
#    per heartbeat while idle (context switches over 10 heartbeats).
uplink_device --server "10.0.2.2:$proxy_port" --demo --rate 0 --duration-s 40 \
  --device-id pi-netlink --verbose > /tmp/netlink.log 2>&1 &
device=$!
for _ in $(seq 300); do grep -q '"event":"online"' /tmp/netlink.log && break; sleep 0.1; done
sleep 2
switches() { awk '/ctxt_switches/ { sum += $2 } END { print sum }' /proc/$device/status; }
before=$(switches); sleep 10; after=$(switches)
echo "PI-FIGURE idle_wakeups_per_heartbeat $(( (after - before) / 10 )) (context switches over 10 heartbeats of 1 s)"
ip link set usb0 down; sleep 1; up_link
for _ in $(seq 100); do grep -q 'network changed' /tmp/netlink.log && break; sleep 0.1; done
if grep -q 'network changed' /tmp/netlink.log; then
  step netlink PASS "$(grep -m 1 -o 'network changed[^"]*' /tmp/netlink.log)"
else
  step netlink FAIL "the device did not hear usb0 go down and up"
  tail -n 20 /tmp/netlink.log
fi
kill $device 2>/dev/null; wait $device 2>/dev/null

echo "PI-TEST-END"
# qemu's raspi boards cannot power off; the host ends qemu on PI-TEST-END.
while true; do sleep 60; done
