#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End-to-end: taking over a device is refused (docs/SECURITY.md). The real
# uplink_server with device authentication on, real uplink_device
# processes, and a raw client written here (bash's /dev/tcp) where a
# device must say what uplink_device never would.
#
#   auth.sh <scenario> <uplink_server> <uplink_device> [<uplink_make_test_pki>]
#
# Scenarios (one CTest entry each, e2e.auth_<scenario>):
#
#   guessed_token
#       The victim is provisioned (uplink_server provision, token in a 0600
#       file) and online. An attacker claims its id with a guessed token,
#       first as uplink_device, then as a raw HELLO that also names the
#       victim's session. Asserted: each attempt gets CLOSE unauthorized
#       (the device reports server_reason unauthorized) and never a
#       WELCOME; the server logs "unauthorized" / "wrong_token"; the victim
#       keeps its one connection (no offline, no session_replaced) and gets
#       the downlink sent meanwhile, the attacker none of it; no token ever
#       appears in a log.
#
#   foreign_certificate            (needs uplink_make_test_pki)
#       Mutual TLS; certificates for dev-a and dev-b from one CA. dev-b is
#       online; an attacker presents dev-a's (valid) certificate with the
#       id dev-b. Asserted: CLOSE unauthorized, the server logs
#       certificate_mismatch naming CN 'dev-a', dev-b keeps its connection
#       and its downlink; the same certificate as dev-a is welcomed.
#
#   foreign_session
#       dev-a and dev-b are provisioned. dev-a opens a session and leaves;
#       a downlink message is held for it. dev-b, authenticated with its own
#       token, sends a HELLO naming dev-a's session (also with a downlink
#       position outside it). Asserted: dev-b gets a new session of its own
#       each time, never dev-a's id nor its held message, no refusal that
#       would disclose the session's range; then dev-a resumes its session
#       and gets the held message.
set -euo pipefail
# Processes by name, bounded waits, listeners, the work directory, fail.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  echo "usage: auth.sh guessed_token|foreign_certificate|foreign_session <uplink_server> <uplink_device> [<uplink_make_test_pki>]" >&2
  exit 2
}
[ $# -ge 3 ] || usage
scenario=$1 server_bin=$2 device_bin=$3 pki_bin=${4:-}
case $scenario in
  guessed_token | foreign_session) ;;
  foreign_certificate) [ -n "$pki_bin" ] || usage ;;
  *) usage ;;
esac

e2e_init "auth $scenario" "e2e-auth-$scenario" "${UPLINK_E2E_DEADLINE_S:-60}"
say() { echo "[auth $scenario] $*"; }

# ---- functions ----------------------------------------------------------------

# provision <device>: a token for <device> into $work/<device>.token (0600).
provision() {
  "$server_bin" provision --credentials "$work/credentials" --device "$1" --token-file "$work/$1.token" \
    >>"$work/provision.log" 2>&1 || fail "provisioning $1 failed: $(tail -n 2 "$work/provision.log")"
}

# The server reads its commands from a FIFO kept open here.
open_fifo "$work/server.in" 4
start_server() {  # [flags...]
  launch_listener server "$work/server.in" 0 "$server_bin" --print-payloads "$@"
  port=$listen_port
  say "server listening on :$port"
}

# run_device <name> <device-id> [flags...]: uplink_device, log in $work/<name>.log.
run_device() {
  local name=$1 id=$2
  shift 2
  start "$name" /dev/null "$device_bin" --server "127.0.0.1:$port" --device-id "$id" --demo --rate 5 \
    --duration-s 120 "$@"
}

# The server's "online" line of <device>, the n-th: into $line; its session
# into $session, as the 16 hex digits a HELLO carries (the line has it in
# decimal; bash's arithmetic wraps a u64 above 2^63 to the same 64 bits).
server_online() {
  wait_line "$work/server.log" "\"event\":\"online\",\"device\":\"$1\"" 10 "${2:-1}"
  local decimal
  decimal=$(field session "$line")
  session=$(printf '%016x' "$((10#$decimal))")
}

# refused_device <name>: the device reported CLOSE unauthorized and was never online.
refused_device() {
  wait_line "$work/$1.log" '"server_reason":"unauthorized"' 10
  [ "$(count_lines "$work/$1.log" '"event":"online"')" = 0 ] || fail "$1 came online"
}

# A raw HELLO as the hex of its bytes: <device> <token> <session hex, 16 digits> <last_downlink_seq>.
hello_hex() {
  local id=$1 token=$2 session=$3 last=$4
  local body=$((23 + ${#id} + ${#token}))
  printf '01 00 %02x %02x 01 %02x ' $((body >> 8)) $((body & 255)) ${#id}
  printf '%s' "$id" | od -An -tx1 -v | tr -d '\n'
  printf ' %02x ' ${#token}
  [ -z "$token" ] || printf '%s' "$token" | od -An -tx1 -v | tr -d '\n'
  printf ' 00 00 03 e8 '  # heartbeat_ms 1000
  printf '%s' "$session" | sed 's/../& /g'
  printf '%016x' "$last" | sed 's/../& /g'
}

# raw_hello <name> <device> <token> <session> <last>: sends the HELLO on a
# connection of its own and keeps what the server answers within 1.5 s in
# $work/<name>.bin; $reply = its bytes in hex, space-separated.
raw_hello() {
  local name=$1 escaped
  shift
  escaped=$(hello_hex "$@" | tr -s ' ' '\n' | sed -n 's/^\([0-9a-f][0-9a-f]\)$/\\x\1/p' | tr -d '\n')
  exec 7<>"/dev/tcp/127.0.0.1/$port" || fail "raw client: cannot connect to :$port"
  printf '%b' "$escaped" >&7
  timeout 1.5 cat <&7 >"$work/$name.bin" || true
  exec 7>&-
  reply=$(od -An -tx1 -v "$work/$name.bin" | tr -s ' \n' ' ' | sed 's/^ //; s/ $//')
}
# The first frame of $reply: its type byte, and for a WELCOME its session id
# (body offsets 5..12), for a CLOSE its reason byte.
reply_type() { cut -d' ' -f1 <<<"$reply"; }
reply_welcome_session() { cut -d' ' -f10-17 <<<"$reply" | tr -d ' '; }
reply_close_reason() { cut -d' ' -f5 <<<"$reply"; }
reply_contains() { grep -q -a -F -- "$2" "$work/$1.bin"; }

# send <command line> to the server.
command() { echo "$*" >&4; }

no_token_in_logs() {
  local file token
  for token in "$work"/*.token; do
    [ -e "$token" ] || continue
    for file in "$work"/*.log "$work"/*.err; do
      ! grep -q -a -F -- "$(cat "$token")" "$file" || fail "the token of $(basename "$token") appears in $(basename "$file")"
    done
  done
}

# ---- scenarios ----------------------------------------------------------------

scenario_guessed_token() {
  provision victim
  start_server --credentials "$work/credentials"
  run_device victim victim --token-file "$work/victim.token"
  server_online victim
  victim_session=$session
  say "victim online, session $victim_session"

  printf 'guess-0123456789\n' >"$work/guess.txt"
  chmod 600 "$work/guess.txt"
  run_device attacker victim --token-file "$work/guess.txt"
  refused_device attacker
  say "attacker as uplink_device: CLOSE unauthorized"
  stop_process attacker TERM

  # The same id, a guessed token, and the victim's session named outright.
  raw_hello raw victim guess-0123456789 "$victim_session" 0
  [ "$(reply_type)" = 05 ] || fail "raw HELLO with a guessed token: expected CLOSE (05), got: $reply"
  [ "$(reply_close_reason)" = 04 ] || fail "raw HELLO with a guessed token: expected reason unauthorized (04), got: $reply"
  reply_contains raw "unauthorized" || fail "the CLOSE text is not 'unauthorized': $reply"
  say "raw HELLO naming the victim's session with a guessed token: CLOSE unauthorized"

  wait_until 5 "two unauthorized lines" has_line "$work/server.log" '"reason":"unauthorized","detail":"wrong_token"' 2
  # The victim still has its one connection, and its downlink.
  command "send victim secret-after-attack"
  wait_line "$work/victim.log" '"event":"downlink"' 10
  ! grep -q -a secret-after-attack "$work/attacker.log" "$work/raw.bin" || fail "the attacker saw the victim's downlink"
  [ "$(count_lines "$work/server.log" '"event":"offline"')" = 0 ] || fail "the victim went offline: $(grep -a offline "$work/server.log")"
  [ "$(count_lines "$work/server.log" '"event":"online"')" = 1 ] || fail "more than one online line"
  no_token_in_logs
  stop_process victim TERM
}

scenario_foreign_certificate() {
  "$pki_bin" --device dev-a --second-device dev-b "$work/pki" >"$work/pki.log" 2>&1 || fail "uplink_make_test_pki failed"
  start_server --tls-cert "$work/pki/server.pem" --tls-key "$work/pki/server.key" --tls-ca "$work/pki/ca.pem" \
    --require-client-cert
  local tls=(--tls-ca "$work/pki/ca.pem" --tls-server-name localhost)
  run_device owner dev-b "${tls[@]}" --tls-cert "$work/pki/client2.pem" --tls-key "$work/pki/client2.key"
  server_online dev-b
  say "dev-b online with its own certificate"

  run_device attacker dev-b "${tls[@]}" --tls-cert "$work/pki/client.pem" --tls-key "$work/pki/client.key"
  refused_device attacker
  wait_line "$work/server.log" '"reason":"unauthorized","detail":"certificate_mismatch: the certificate names CN '"'"'dev-a'"'"'"' 5
  say "dev-a's certificate claiming dev-b: CLOSE unauthorized, certificate_mismatch in the server's log"
  stop_process attacker TERM

  command "send dev-b for-dev-b-only"
  wait_line "$work/owner.log" '"event":"downlink"' 10
  ! grep -q -a for-dev-b-only "$work/attacker.log" || fail "the attacker saw dev-b's downlink"
  [ "$(count_lines "$work/server.log" '"event":"offline"')" = 0 ] || fail "dev-b went offline: $(grep -a offline "$work/server.log")"

  # The certificate itself is good: as dev-a it is welcomed.
  run_device rightful dev-a "${tls[@]}" --tls-cert "$work/pki/client.pem" --tls-key "$work/pki/client.key"
  server_online dev-a
  say "the same certificate as dev-a: welcomed"
  stop_process rightful TERM
  stop_process owner TERM
}

scenario_foreign_session() {
  provision dev-a
  provision dev-b
  start_server --credentials "$work/credentials"
  run_device dev-a dev-a --token-file "$work/dev-a.token"
  server_online dev-a
  a_session=$session
  stop_process dev-a TERM
  wait_line "$work/server.log" '"event":"offline","device":"dev-a"' 10
  command "send dev-a held-for-dev-a"
  wait_line "$work/server.log" '"event":"downlink"' 5
  say "dev-a's session $a_session holds a downlink message; dev-a is away"

  local token_b last n=0
  token_b=$(cat "$work/dev-b.token")
  for last in 0 7; do
    n=$((n + 1))
    raw_hello "b$n" dev-b "$token_b" "$a_session" "$last"
    [ "$(reply_type)" = 02 ] || fail "dev-b naming dev-a's session (last_downlink_seq $last): expected WELCOME (02), got: $reply"
    [ "$(reply_welcome_session)" != "$a_session" ] || fail "dev-b was given dev-a's session"
    ! reply_contains "b$n" held-for-dev-a || fail "dev-b received dev-a's downlink"
    server_online dev-b "$n"
    [ "$(field resumed "$line")" = false ] || fail "the server resumed a session for dev-b: $line"
    say "dev-b naming dev-a's session (last_downlink_seq $last): a new session $(reply_welcome_session) of its own"
  done
  ! grep -q -a '"reason":"sequence_error"' "$work/server.log" || fail "a refusal disclosed dev-a's session: $(grep -a sequence_error "$work/server.log")"

  # The owner resumes its session, held message included.
  raw_hello a dev-a "$(cat "$work/dev-a.token")" "$a_session" 0
  [ "$(reply_type)" = 02 ] && [ "$(reply_welcome_session)" = "$a_session" ] || fail "dev-a did not resume its session: $reply"
  reply_contains a held-for-dev-a || fail "dev-a did not get its held downlink"
  say "dev-a resumes session $a_session and gets its held message"
  no_token_in_logs
}

"scenario_$scenario"
stop_process server TERM
say "PASS ($(($(now_ms) - START_MS)) ms)"
