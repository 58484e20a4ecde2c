#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/mqtt_clients.sh: uplink over MQTT 3.1.1 side by side with the MQTT
# clients people use, libmosquitto and paho.mqtt.c (MQTTAsync), against the
# same local mosquitto (started here on a free 127.0.0.1 port with its own
# configuration, as the broker tests do). QoS 1, 64-byte messages. Prints a
# Markdown table, one column per client. Run by hand (`bench/run mqtt`
# builds the release preset and calls it), never by CI; loopback only.
#
#   bench/mqtt_clients.sh <build dir>      e.g. build/release
#
# Each client is its own program (bench/mqtt_peer_*.cpp, same flags, same
# output), so that the CPU time and peak RSS measured are that client's:
#   throughput  --count N messages with at most 20 unacknowledged (mosquitto's
#               own max_inflight_messages), one fresh process per run, the
#               runs interleaved across the clients; msg/s from CONNACK to the
#               last PUBACK, device CPU per message = the peer's user + sys
#               time (getrusage RUSAGE_SELF: all its threads, the broker not
#               included) over the same span / messages; peak RSS = VmHWM (the
#               process's own pages; ru_maxrss would count the forking shell's)
#   idle        the clients connected side by side, nothing to send, pinging
#               every 30 s (libmosquitto and paho: keepalive 30; uplink:
#               heartbeat 30 s, read timeout 60 s); wake-ups = the voluntary +
#               involuntary context switches of every thread of the process
#               (/proc/PID/task/*/status, the counters getrusage sums) over the
#               window, per minute; no tracer attached
#   detect      through uplink_proxy: online, then at a random moment 1 to 6 s
#               later `blackhole both` (both TCP connections stay open, nothing
#               passes), until the client reports the connection lost; keepalive
#               5 s for libmosquitto and paho (libmosquitto refuses less),
#               uplink heartbeat 2.5 s and read timeout 5 s (which makes the
#               keepalive it sends in CONNECT 5 s too: docs/MQTT.md)
#
# Knobs (environment), with their defaults:
#   BENCH_MQTT_CLIENTS="uplink uplink-firmware mosquitto paho"   which columns
#   BENCH_MQTT_FIRMWARE_BUILD=<build dir>/../firmware  where uplink-firmware is:
#                               the same uplink peer linked as firmware is
#                               (-Os, static, unused sections dropped:
#                               `cmake --preset firmware && cmake --build
#                               --preset firmware`); Debian ships
#                               libmosquitto and paho only as shared
#                               libraries, so they have no such column
#   BENCH_MQTT_COUNT=100000     messages per throughput run
#   BENCH_MQTT_RUNS=3           throughput runs per client (the median is reported)
#   BENCH_MQTT_IDLE_S=120       idle window, seconds
#   BENCH_MQTT_DETECT_TRIALS=5  blackhole trials per client
#   BENCH_MQTT_TABLE=FILE       also write the table to FILE
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../tests/e2e/lib.sh"

[ $# -eq 1 ] || { echo "usage: bench/mqtt_clients.sh <build dir>" >&2; exit 2; }
bin=$1
clients=${BENCH_MQTT_CLIENTS:-uplink uplink-firmware mosquitto paho}
firmware_build=${BENCH_MQTT_FIRMWARE_BUILD:-$(dirname "$bin")/firmware}
count=${BENCH_MQTT_COUNT:-100000}
runs=${BENCH_MQTT_RUNS:-3}
idle_s=${BENCH_MQTT_IDLE_S:-120}
trials=${BENCH_MQTT_DETECT_TRIALS:-5}
window=20
size=64
detect_keepalive_s=5
limit_s=600  # bound on one throughput run

e2e_init "mqtt-clients" "bench-mqtt" $((runs * 3 * limit_s + idle_s + trials * 3 * 40 + 120))
say() { echo "[mqtt] $*" >&2; }

declare -A program=(
  [uplink]=$bin/bench/uplink_bench_mqtt_uplink
  [uplink-firmware]=$firmware_build/bench/uplink_bench_mqtt_uplink
  [mosquitto]=$bin/bench/uplink_bench_mqtt_mosquitto
  [paho]=$bin/bench/uplink_bench_mqtt_paho
)
version() { dpkg-query -W -f '${Version}' "$1" 2>/dev/null || echo "?"; }
declare -A title=(
  [uplink]="uplink (MQTT profile)"
  [uplink-firmware]="uplink, linked as firmware (-Os, static, --gc-sections)"
  [mosquitto]="libmosquitto $(version libmosquitto1)"
  [paho]="paho.mqtt.c $(version libpaho-mqtt1.3) (MQTTAsync)"
)
# The flags that give each client the same keepalive (see the header).
is_uplink() { case $1 in uplink | uplink-firmware) return 0 ;; *) return 1 ;; esac; }
idle_flags() { is_uplink "$1" && echo "--heartbeat-ms 30000 --read-timeout-ms 60000" || echo "--keepalive-s 30"; }
detect_flags() { is_uplink "$1" && echo "--heartbeat-ms 2500 --read-timeout-ms 5000" || echo "--keepalive-s $detect_keepalive_s"; }

# Which clients can run: built, and (uplink) built with the MQTT profile.
declare -A why_not=()
active=()
for c in $clients; do
  p=${program[$c]:-}
  [ -n "$p" ] || { echo "bench/mqtt_clients.sh: unknown client '$c' (known: uplink uplink-firmware mosquitto paho)" >&2; exit 2; }
  if [ ! -x "$p" ] && [ "$c" = uplink-firmware ]; then
    why_not[$c]="not built: cmake --preset firmware && cmake --build --preset firmware"
  elif [ ! -x "$p" ]; then
    why_not[$c]="not built (scripts/setup bench installs its library)"
  else
    status=0
    "$p" >/dev/null 2>&1 || status=$?
    if [ "$status" = 3 ]; then why_not[$c]="needs the MQTT profile in the client (issue 13)"; else active+=("$c"); fi
  fi
  [ -z "${why_not[$c]:-}" ] || say "$c: ${why_not[$c]}; its column stays empty"
done
[ ${#active[@]} -gt 0 ] || fail "no client to measure"
for p in "$bin/bench/uplink_bench_mqtt_broker" "$bin/tools/fault_proxy/uplink_proxy"; do
  [ -x "$p" ] || fail "$p was not built"
done

# Sums over the threads of a process: context switches (voluntary,
# involuntary) and CPU time in ns (schedstat).
ctx_switches() {
  awk '/^voluntary_ctxt_switches/ { v += $2 } /^nonvoluntary_ctxt_switches/ { n += $2 } END { print v + 0, n + 0 }' \
    /proc/"$1"/task/*/status 2>/dev/null
}
# Memory of a live process in KiB: "anonymous private file", i.e. RssAnon
# (heap, stacks, anonymous maps), Private_Clean + Private_Dirty (pages no
# other process maps: its own program text, written library data, all of
# the anonymous memory) and RssFile (file pages, including the C and C++
# runtime that every process on the machine shares).
memory_kib() {
  local anon file private
  anon=$(awk '/^RssAnon:/ { print $2 }' /proc/"$1"/status)
  file=$(awk '/^RssFile:/ { print $2 }' /proc/"$1"/status)
  private=$(awk '/^Private_(Clean|Dirty):/ { s += $2 } END { print s + 0 }' /proc/"$1"/smaps_rollup 2>/dev/null)
  echo "${anon:-0} ${private:-0} ${file:-0}"
}
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f", s + 0 }'; }
exited() { ! alive "$1"; }
calc() { awk "BEGIN { printf \"%.6f\", $1 }"; }
fmt() { awk -v v="$1" -v d="${2:-0}" 'BEGIN { printf "%.*f", d, v }'; }
median() { sort -n | awk '{ a[NR] = $1 } END { if (NR == 0) print ""; else print a[int((NR + 1) / 2)] }'; }
minimum() { sort -n | head -n 1; }
maximum() { sort -n | tail -n 1; }

# ---------------------------------------------------------------- broker
start broker /dev/null "$bin/bench/uplink_bench_mqtt_broker"
watch broker
wait_line "$work/broker.log" '"listening"' 20
broker_port=$(field port "$line")
broker_pid=$(field pid "$line")
say "mosquitto $(version mosquitto) on 127.0.0.1:$broker_port (pid $broker_pid)"

# ---------------------------------------------------------------- throughput
declare -A tp_cmd=()
for r in $(seq "$runs"); do
  for c in "${active[@]}"; do
    name="tp-$c-$r"
    args=(--server "127.0.0.1:$broker_port" --client-id "bench-$c-$r" --count "$count" --size "$size"
      --window "$window" --keepalive-s 30 --limit-s "$limit_s")
    shown=("${args[@]/127.0.0.1:$broker_port/127.0.0.1:PORT}")
    tp_cmd[$c]="${program[$c]} ${shown[*]/bench-$c-$r/ID}"
    say "throughput, run $r of $runs: $c"
    b0=$(cpu_ns "$broker_pid")
    start "$name" /dev/null "${program[$c]}" "${args[@]}"
    poll_until $((limit_s + 30)) exited "$name" || fail "$name did not finish"
    collect "$name"
    b1=$(cpu_ns "$broker_pid")
    sum=$(grep '"summary"' "$work/$name.log" || true)
    if [ -z "$sum" ] || [ "$(field ok "$sum")" != true ]; then
      say "  $c run $r failed (exit ${exit_of[$name]}): $(tail -n 2 "$work/$name.log" "$work/$name.err" | tr '\n' ' ')"
      echo "failed" >>"$work/tp-$c.failed"
      continue
    fi
    acked=$(field acked "$sum")
    wall=$(field wall_ns "$sum")
    cpu=$(( $(field cpu_user_ns "$sum") + $(field cpu_sys_ns "$sum") ))
    rate=$(calc "$acked * 1e9 / $wall")
    echo "$rate $(calc "$cpu / $acked / 1000") $(field maxrss_kib "$sum") $(calc "($b1 - $b0) / $acked / 1000") \
$(calc "$(field cpu_user_ns "$sum") / $acked / 1000") $(calc "$(field cpu_sys_ns "$sum") / $acked / 1000") \
$(( $(field maxrss_kib "$sum") - $(field start_rss_kib "$sum") ))" >>"$work/tp-$c.txt"
    say "  $(fmt "$rate") msg/s, $(fmt "$(calc "$cpu / $acked / 1000")" 2) µs CPU per message, peak RSS $(field maxrss_kib "$sum") KiB"
  done
done
# column <file> <n>: the n-th column of the throughput lines
column_of() { [ -s "$1" ] && awk -v n="$2" '{ print $n }' "$1"; }

# ---------------------------------------------------------------- idle
say "idle: ${active[*]} side by side for ${idle_s}s at a 30 s keepalive"
declare -A idle_pid=() idle_cmd=()
for c in "${active[@]}"; do
  # shellcheck disable=SC2046  # the flags are words
  start "idle-$c" /dev/null "${program[$c]}" --server "127.0.0.1:$broker_port" --client-id "bench-idle-$c" \
    $(idle_flags "$c")
  idle_pid[$c]=${pid_of[idle-$c]}
  idle_cmd[$c]="${program[$c]} --server 127.0.0.1:PORT --client-id ID $(idle_flags "$c")"
  watch "idle-$c"
done
for c in "${active[@]}"; do wait_line "$work/idle-$c.log" '"online"' 20; done
sleep 2  # let the connection setup settle
declare -A v0=() n0=() c0=()
for c in "${active[@]}"; do
  read -r "v0[$c]" "n0[$c]" <<<"$(ctx_switches "${idle_pid[$c]}")"
  c0[$c]=$(cpu_ns "${idle_pid[$c]}")
done
t0=$(now_ms)
sleep "$idle_s"
declare -A idle_wake=() idle_vol=() idle_cpu=() idle_threads=() idle_rss=() idle_memory=()
t1=$(now_ms)
secs=$(calc "($t1 - $t0) / 1000")
# shellcheck disable=SC2034  # idle_memory is read by row(), by name
for c in "${active[@]}"; do
  read -r v1 n1 <<<"$(ctx_switches "${idle_pid[$c]}")"
  c1=$(cpu_ns "${idle_pid[$c]}")
  idle_wake[$c]=$(calc "($v1 - ${v0[$c]} + $n1 - ${n0[$c]}) * 60 / $secs")
  idle_vol[$c]=$((v1 - ${v0[$c]}))
  idle_cpu[$c]=$(calc "($c1 - ${c0[$c]}) / 1e6 * 3600 / $secs")
  idle_threads[$c]=$(awk '/^Threads:/ { print $2 }' /proc/"${idle_pid[$c]}"/status)
  read -r a p f <<<"$(memory_kib "${idle_pid[$c]}")"
  idle_memory[$c]="$a / $p / $f KiB"
done
for c in "${active[@]}"; do
  offline=$(count_lines "$work/idle-$c.log" '"offline"')
  [ "$offline" = 0 ] || say "  idle: $c went offline $offline times during the window"
  stop_process "idle-$c" TERM
  exit_line=$(grep '"exit"' "$work/idle-$c.log" || true)
  idle_rss[$c]="$(field maxrss_kib "$exit_line") KiB ($(( $(field maxrss_kib "$exit_line") - $(field start_rss_kib "$exit_line") )) KiB above the program at main())"
done

# ---------------------------------------------------------------- detect
say "detection: $trials trials per client through uplink_proxy, blackhole both"
open_fifo "$work/proxy.in" 4
start proxy "$work/proxy.in" "$bin/tools/fault_proxy/uplink_proxy" --listen 127.0.0.1:0 \
  --upstream "127.0.0.1:$broker_port"
watch proxy
wait_line "$work/proxy.log" '"listening"' 10
proxy_port=$(field port "$line")
modes=0
declare -A detect_cmd=()
for c in "${active[@]}"; do
  detect_cmd[$c]="${program[$c]} --server 127.0.0.1:PROXY_PORT --client-id ID $(detect_flags "$c")"
  for k in $(seq "$trials"); do
    name="detect-$c-$k"
    # shellcheck disable=SC2046  # the flags are words
    start "$name" /dev/null "${program[$c]}" --server "127.0.0.1:$proxy_port" --client-id "bench-detect-$c-$k" \
      $(detect_flags "$c")
    if ! poll_until 20 has_line "$work/$name.log" '"online"' 1; then
      say "  $c trial $k: not online within 20 s"
      stop_process "$name" KILL
      continue
    fi
    # A random moment of the keepalive cycle: 1.0 .. 6.0 s after online.
    sleep "$(calc "1 + ($RANDOM % 5000) / 1000")"
    echo "blackhole both" >&4
    modes=$((modes + 1))
    wait_line "$work/proxy.log" '"mode"' 5 "$modes"
    blackhole_ms=$(field ts_ms "$line")
    if poll_until 30 has_line "$work/$name.log" '"offline"' 1; then
      det=$(( $(field ts_ms "$line") - blackhole_ms ))
      echo "$det $(field since_last_rx_ms "$line")" >>"$work/detect-$c.txt"
      rc=$(field rc "$line")
      say "  $c trial $k: $det ms after the blackhole ($(field reason "$line")${rc:+, rc $rc})"
    else
      say "  $c trial $k: no disconnect reported within 30 s"
      echo "trial $k" >>"$work/detect-$c.missed"
    fi
    echo "forward" >&4
    modes=$((modes + 1))
    wait_line "$work/proxy.log" '"mode"' 5 "$modes"
    stop_process "$name" KILL
  done
done
stop_process proxy TERM
stop_process broker TERM

# ---------------------------------------------------------------- table
table="$work/table.md"
cell() {  # cell <client> <text>: the text, or why the client has no figures
  if [ -n "${why_not[$1]:-}" ]; then printf '%s' "(${why_not[$1]})"; else printf '%s' "$2"; fi
}
row() {  # row <figure> <target> <array>: the array's figure for each requested client
  local figure=$1 target=$2 line c
  local -n figures=$3
  line="| $figure"
  for c in $clients; do line+=" | $(cell "$c" "${figures[$c]:--}")"; done
  echo "$line | $target |" >>"$table"
}
{
  printf '| Figure'
  for c in $clients; do printf ' | %s' "${title[$c]}"; done
  printf ' | Target |\n|---'
  for _ in $clients; do printf '|---'; done
  printf '|---|\n'
} >"$table"

declare -A tp=() cpu=() rss=() bcpu=() ucpu=() det=() since=()
# shellcheck disable=SC2034  # the figure arrays are read by row(), by name
for c in "${active[@]}"; do
  f="$work/tp-$c.txt"
  failed=$( [ -f "$work/tp-$c.failed" ] && wc -l <"$work/tp-$c.failed" || echo 0)
  if [ -s "$f" ]; then
    n=$(wc -l <"$f")
    tp[$c]="$(fmt "$(column_of "$f" 1 | median)") (min $(fmt "$(column_of "$f" 1 | minimum)"), max $(fmt "$(column_of "$f" 1 | maximum)"); $n runs)"
    [ "$failed" = 0 ] || tp[$c]+="; $failed runs FAILED"
    cpu[$c]="$(fmt "$(column_of "$f" 2 | median)" 2) µs"
    ucpu[$c]="$(fmt "$(column_of "$f" 5 | median)" 2) / $(fmt "$(column_of "$f" 6 | median)" 2) µs"
    rss[$c]="$(column_of "$f" 3 | median) KiB ($(column_of "$f" 7 | median) KiB above the program at main())"
    bcpu[$c]="$(fmt "$(column_of "$f" 4 | median)" 2) µs"
  else
    tp[$c]="FAILED ($failed runs)"
  fi
  f="$work/detect-$c.txt"
  if [ -s "$f" ]; then
    dmin=$(awk '{ print $1 }' "$f" | minimum); dmed=$(awk '{ print $1 }' "$f" | median); dmax=$(awk '{ print $1 }' "$f" | maximum)
    det[$c]="$dmin / $dmed / $dmax ms = $(fmt "$(calc "$dmin / 5000")" 2) / $(fmt "$(calc "$dmed / 5000")" 2) / $(fmt "$(calc "$dmax / 5000")" 2) x ($(wc -l <"$f") trials)"
    [ ! -s "$work/detect-$c.missed" ] || det[$c]+="; $(wc -l <"$work/detect-$c.missed") not detected within 30 s"
    if is_uplink "$c"; then
      smin=$(awk '{ print $2 }' "$f" | minimum); smax=$(awk '{ print $2 }' "$f" | maximum)
      since[$c]="$smin .. $smax ms = $(fmt "$(calc "$smin / 5000")" 2) .. $(fmt "$(calc "$smax / 5000")" 2) x the read timeout"
    fi
  else
    det[$c]="no trial completed"
  fi
done
declare -A wake_txt=() cpu_idle_txt=() rss_idle_txt=() threads_txt=()
# shellcheck disable=SC2034  # read by row(), by name
for c in "${active[@]}"; do
  wake_txt[$c]="$(fmt "${idle_wake[$c]}" 1) (${idle_vol[$c]} voluntary in $(fmt "$secs") s)"
  cpu_idle_txt[$c]="$(fmt "${idle_cpu[$c]}" 1) ms"
  rss_idle_txt[$c]=${idle_rss[$c]:-?}
  threads_txt[$c]="threads: ${idle_threads[$c]}; ${cpu_idle_txt[$c]}"
done
row "Throughput, QoS 1, $size-byte messages, window $window (msg/s, median of $runs runs of $count)" "-" tp
row "Device CPU per message (the client process's user + sys time / messages; median)" "uplink <= libmosquitto" cpu
row "  of which user / sys" "-" ucpu
row "  for comparison: broker (mosquitto) CPU per message in the same runs" "-" bcpu
row "Peak RSS of the client process after a throughput run (VmHWM; median)" "uplink <= 1/4 libmosquitto" rss
row "Peak RSS of the client process, idle (VmHWM)" "-" rss_idle_txt
row "  idle client at the end of the window: anonymous (heap, stacks) / private (RssAnon + its own program and written library pages) / file-backed (RssFile, shared C and C++ runtime included)" "-" idle_memory
row "Idle wake-ups per minute at a 30 s keepalive (context switches of all threads, /proc/PID/task/*/status)" "-" wake_txt
row "  threads in the client process; idle CPU time per hour (schedstat)" "-" threads_txt
row "Blackholed link: from the blackhole to the disconnect reported, keepalive 5 s, min / median / max (x keepalive)" "uplink: at the read timeout every time" det
row "  uplink: silence from the last byte received to the verdict (since_last_rx_ms)" "= the read timeout (5 s)" since

echo
echo "## MQTT clients side by side, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
echo "- Broker: mosquitto $(version mosquitto), 127.0.0.1, own configuration (tests/support/broker), logging errors only"
echo "- Machine: $(nproc) CPUs, load average at the end $(cut -d ' ' -f 1-3 /proc/loadavg); not pinned"
echo
cat "$table"
echo
echo "Commands (PORT: the broker's; PROXY_PORT: uplink_proxy's, in front of it):"
echo
for c in "${active[@]}"; do
  echo "- ${title[$c]}: \`${tp_cmd[$c]:-}\`; idle \`${idle_cmd[$c]}\`; detection \`${detect_cmd[$c]}\`"
done
if [ -n "${BENCH_MQTT_TABLE:-}" ]; then cp "$table" "$BENCH_MQTT_TABLE"; fi
