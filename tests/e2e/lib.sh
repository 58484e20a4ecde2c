# SPDX-License-Identifier: Apache-2.0
# Shared functions of the scripts that run the real programs over loopback:
# tests/e2e/scenario.sh, tests/e2e/device_killed_with_spool.sh, scripts/demo
# and scripts/pi-test. Sourced, never run; bash, after `set -euo pipefail`.
#
#   e2e_init <name> <work-prefix> <seconds>
#       creates $work (uplink-<work-prefix>.XXXXXX under $TMPDIR), sets the
#       deadline that bounds every wait (<seconds> from now) and the traps.
#       At exit every process still running gets SIGTERM (SIGKILL 3 s
#       later); $work is removed, or kept, with the end of every log printed,
#       when the script failed (or UPLINK_E2E_KEEP=1). A script that made
#       more to undo (network namespaces) defines e2e_undo: it runs after
#       the processes are gone, before the work directory is removed.
#   fail <message>         "FAIL [<name>]: <message>" and exit 1
#   now_ms                 the wall clock in milliseconds
#
# Processes. Only what the script started is ever signalled, by pid: pid_of
# maps a name to the pid of a child not yet reaped; a name leaves it once
# its exit status was collected into exit_of[name]. A watched process must
# stay alive while the script waits: every wait fails when one is gone.
#   spawn <name> <stdin> <program> [args...]   stdout/stderr as redirected on the call
#   start <name> <stdin> <program> [args...]   stdout -> $work/<name>.log, stderr -> <name>.err
#   alive <name> | collect <name> | watch <name> | unwatch <name>
#   stop_process <name> <signal>               signal, wait (10 s at most), collect
#   launch_listener <name> <stdin> <port|0|pick> <program> [args...]
#       start with --listen 127.0.0.1:<port>, wait for its "listening" line,
#       watch it; $listen_port is the port. "pick": a port below the
#       ephemeral range (port_candidate), another one if it is taken.
#   open_fifo <path> <fd>   a command FIFO held open read-write on <fd>
#                           (the open does not block, a write cannot raise
#                           SIGPIPE, unread lines stay for the next reader)
#
# Waits, all bounded by their own limit and by the deadline; they poll
# every POLL_S seconds.
#   wait_until <seconds> <what> <command...>   until the command succeeds, else fail
#   poll_until <seconds> <command...>          the same, but returns 1 at the limit
#   wait_line <file> <fixed string> <seconds> [n=1]    the n-th such line, into $line
#   has_line <file> <fixed string> <n>  |  count_lines <file> <fixed string>
#
# JSON lines: field <name> <line> prints a number or a string field.

# --- Set up and tear down ---------------------------------------------------------

now_ms() { date +%s%3N; }

e2e_init() {
  E2E_NAME=$1
  POLL_S=0.05
  START_MS=$(now_ms)
  DEADLINE_MS=$((START_MS + $3 * 1000))
  work=$(mktemp -d "${TMPDIR:-/tmp}/uplink-$2.XXXXXX")
  declare -gA pid_of=()
  declare -gA exit_of=()
  watched=()  # names that must stay alive while the script waits
  E2E_FDS=()  # FIFO descriptors to close at exit
  failed=0
  trap e2e_cleanup EXIT
  trap 'fail "interrupted"' INT TERM
}

fail() {
  echo "FAIL [$E2E_NAME]: $*" >&2
  failed=1
  exit 1
}

dump_logs() {
  local file
  for file in "$work"/*.log "$work"/*.err; do
    [ -s "$file" ] || continue
    echo "----- $(basename "$file") (last 25 lines) -----" >&2
    tail -n 25 "$file" | cut -c 1-400 >&2
  done
}

e2e_cleanup() {
  local status=$? name pid fd i
  trap - EXIT
  for fd in "${E2E_FDS[@]}"; do
    { eval "exec $fd>&-"; } 2>/dev/null || true
  done
  {
    for name in "${!pid_of[@]}"; do
      kill -TERM "${pid_of[$name]}" || true
    done
    for name in "${!pid_of[@]}"; do
      pid=${pid_of[$name]}
      for ((i = 0; i < 60; i++)); do  # up to 3 s, then SIGKILL
        kill -0 "$pid" || break
        sleep "$POLL_S"
      done
      kill -KILL "$pid" || true
      wait "$pid" || true
    done
  } 2>/dev/null
  if declare -F e2e_undo >/dev/null; then e2e_undo || true; fi
  if [ "$status" -ne 0 ] || [ "$failed" -ne 0 ]; then
    dump_logs
    echo "FAIL [$E2E_NAME]: logs kept in $work" >&2
    [ "$status" -ne 0 ] || status=1
  elif [ "${UPLINK_E2E_KEEP:-0}" = 1 ]; then
    echo "logs kept in $work"
  else
    rm -rf "$work"
  fi
  exit "$status"
}

open_fifo() {
  mkfifo "$1"
  eval "exec $2<>\"\$1\""
  E2E_FDS+=("$2")
}

# --- Processes ---------------------------------------------------------------------

# A background command's stdin is /dev/null unless redirected on the command
# itself, hence the explicit <stdin>.
spawn() {
  local name=$1 input=$2
  shift 2
  "$@" <"$input" &
  pid_of[$name]=$!
}

start() {
  local name=$1
  spawn "$@" >"$work/$name.log" 2>"$work/$name.err"
}

alive() { [ -n "${pid_of[$1]:-}" ] && kill -0 "${pid_of[$1]}" 2>/dev/null; }

collect() {
  local name=$1 status=0
  wait "${pid_of[$name]}" || status=$?
  exit_of[$name]=$status
  unset "pid_of[$name]"
  unwatch "$name"
}

watch() { watched+=("$1"); }
unwatch() {
  local keep=() name
  for name in "${watched[@]}"; do
    [ "$name" = "$1" ] || keep+=("$name")
  done
  watched=("${keep[@]}")
}

check_watched() {
  local name
  for name in "${watched[@]}"; do
    if ! alive "$name"; then
      collect "$name"
      fail "$name exited unexpectedly (status ${exit_of[$name]})"
    fi
  done
}

stop_process() {
  local name=$1 i
  unwatch "$name"
  # Bash reports a child killed by a signal on stderr ("Killed ..."), at the
  # first command after it reaped it: not an error here.
  {
    kill "-$2" "${pid_of[$name]}" || true
    for ((i = 0; i < 200; i++)); do  # 10 s
      alive "$name" || break
      sleep "$POLL_S"
    done
  } 2>/dev/null
  ! alive "$name" || fail "$name did not exit within 10 s of SIG$2"
  collect "$name" 2>/dev/null
}

# --- Waits -------------------------------------------------------------------------

# The command runs in this shell, so it may set variables.
poll_until() {
  local limit_ms=$(($(now_ms) + $1 * 1000))
  shift
  [ "$limit_ms" -le "$DEADLINE_MS" ] || limit_ms=$DEADLINE_MS
  while true; do
    if "$@"; then return 0; fi
    check_watched
    [ "$(now_ms)" -lt "$limit_ms" ] || return 1
    sleep "$POLL_S"
  done
}

wait_until() {
  local seconds=$1 what=$2
  shift 2
  poll_until "$seconds" "$@" || fail "timed out waiting for $what"
}

count_lines() {  # 0 while the file does not exist yet
  local n
  n=$(grep -a -c -F -- "$2" "$1" 2>/dev/null) || true
  echo "${n:-0}"
}

has_line() {
  [ "$(count_lines "$1" "$2")" -ge "$3" ] || return 1
  line=$(grep -a -F -m "$3" -- "$2" "$1" | tail -n 1)
}

wait_line() {
  wait_until "$3" "line ${4:-1} '$2' in $(basename "$1")" has_line "$1" "$2" "${4:-1}"
}

# Numbers and strings without commas or quotes.
field() {
  local match
  match=$(grep -o "\"$1\":\"\{0,1\}[^,\"}]*" <<<"$2" | head -n 1 || true)
  match=${match#*:}
  printf '%s' "${match//\"/}"
}

# --- Listeners ---------------------------------------------------------------------

# A port below the kernel's ephemeral range, or 0 if that range starts too
# low. Listening there, a port freed by a killed server or a refusing proxy
# cannot be taken meanwhile by some connection's local port, nor can a
# connect to it while nobody listens end up connected to itself.
port_candidate() {
  local low=32768 _
  read -r low _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
  if [ "$low" -gt 12000 ]; then
    echo $((10000 + (RANDOM * 32768 + RANDOM) % (low - 10000)))
  else
    echo 0
  fi
}

launch_listener() {
  local name=$1 input=$2 want=$3 port attempt
  shift 3
  for ((attempt = 1; attempt <= 20; attempt++)); do
    port=$want
    [ "$want" != pick ] || port=$(port_candidate)
    start "$name" "$input" "$@" --listen "127.0.0.1:$port"
    listening_or_gone() { has_line "$work/$name.log" '"event":"listening"' 1 || ! alive "$name"; }
    wait_until 10 "$name to listen on :$port" listening_or_gone
    if has_line "$work/$name.log" '"event":"listening"' 1; then
      listen_port=$(field port "$line")
      watch "$name"
      return 0
    fi
    collect "$name"
    # Exit status 1: cannot listen (the port is taken).
    [ "${exit_of[$name]}" = 1 ] && [ "$want" = pick ] ||
      fail "$name could not listen on :$port (status ${exit_of[$name]}): $(head -c 300 "$work/$name.err")"
  done
  fail "$name found no free port in $((attempt - 1)) attempts"
}

# --- An MQTT broker and its clients ------------------------------------------------

# Writes a random secret (24 characters) to a file only this user can read.
random_secret() {
  (umask 077; head -c 18 /dev/urandom | base64 | tr -d '/+=\n' >"$1")
}

# launch_mosquitto USER...: mosquitto 2.0 with a configuration of its own on
# a free loopback port (sets mosquitto_port), no anonymous clients, state in
# memory. Each USER gets a random password in $work/USER.secret; the
# broker's password file is hashed by mosquitto_passwd -U, so no secret is
# ever on a command line. The process is named "broker".
launch_mosquitto() {
  local user attempt
  mkdir -p "$work/mosquitto"
  for user in "$@"; do
    random_secret "$work/$user.secret"
    (umask 077; printf '%s:%s\n' "$user" "$(cat "$work/$user.secret")" >>"$work/mosquitto/passwd")
  done
  mosquitto_passwd -U "$work/mosquitto/passwd" || fail "mosquitto_passwd could not hash the password file"
  for ((attempt = 1; attempt <= 20; attempt++)); do
    mosquitto_port=$(port_candidate)
    [ "$mosquitto_port" != 0 ] || mosquitto_port=$((20000 + RANDOM % 10000))
    {
      echo "listener $mosquitto_port 127.0.0.1"
      echo "allow_anonymous false"
      echo "password_file $work/mosquitto/passwd"
      # As root, mosquitto would switch to its own user, which cannot read
      # this run's private files.
      [ "$(id -u)" != 0 ] || echo "user root"
    } >"$work/mosquitto/mosquitto.conf"
    start broker /dev/null mosquitto -c "$work/mosquitto/mosquitto.conf"
    broker_up_or_gone() { grep -q " running" "$work/broker.err" || ! alive broker; }
    wait_until 10 "mosquitto to start on :$mosquitto_port" broker_up_or_gone
    if alive broker; then
      watch broker
      return 0
    fi
    collect broker
    grep -q "Address already in use" "$work/broker.err" ||
      fail "mosquitto did not start: $(tail -n 3 "$work/broker.err")"
  done
  fail "mosquitto found no free port in 20 attempts"
}

# mosquitto_client NAME TOOL USER ARGS...: mosquitto_sub or mosquitto_pub as
# USER (a user of launch_mosquitto), its password read from a config file of
# its own (XDG_CONFIG_HOME), never given on the command line; stdout a line
# at a time.
mosquitto_client() {
  local name=$1 tool=$2 user=$3
  shift 3
  mosquitto_client_config "$name" "$tool" "$user"
  XDG_CONFIG_HOME="$work/$name.xdg" start "$name" /dev/null stdbuf -oL "$tool" -h 127.0.0.1 -p "$mosquitto_port" "$@"
}
mosquitto_client_config() {  # name tool user
  [ -f "$work/$1.xdg/$2" ] && return 0
  mkdir -p "$work/$1.xdg"
  (umask 077; printf -- '-u %s\n-P %s\n' "$3" "$(cat "$work/$3.secret")" >"$work/$1.xdg/$2")
}

# mosquitto_publish USER TOPIC MESSAGE: one QoS 1 message, as USER, waited for.
mosquitto_publish() {
  mosquitto_client_config "publish-$1" mosquitto_pub "$1"
  XDG_CONFIG_HOME="$work/publish-$1.xdg" mosquitto_pub -h 127.0.0.1 -p "$mosquitto_port" -q 1 -t "$2" -m "$3"
}

# start_envelope_consumer NAME USER TOPIC: mosquitto_sub with a persistent
# session (-c, client id NAME) at QoS 1, printing each payload in hex;
# returns once subscribed.
start_envelope_consumer() {
  mosquitto_client "$1" mosquitto_sub "$2" -d -i "$1" -c -q 1 -t "$3" -F '%x'
  wait_line "$work/$1.log" "received SUBACK" 10
  watch "$1"
}

# envelope_sequences NAME: the sequence number of the envelope (the first 8
# bytes of the payload, 16 hex digits) of every message consumer NAME
# received, in decimal, one a line, duplicates included.
envelope_sequences() {
  grep -E '^[0-9a-f]{16,}$' "$work/$1.log" | cut -c1-16 | while read -r hex; do echo $((16#$hex)); done
}
