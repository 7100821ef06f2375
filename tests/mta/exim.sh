#!/usr/bin/env bash
# A real Exim relays through `relaysim serve` on loopback (issue 18): Debian's
# exim4-daemon-light with a configuration of its own (/etc/exim4/exim4.conf, which
# Debian's Exim reads before its generated one) whose only route is a smarthost
# router to 127.0.0.1 port 2525: manualroute to an IP address (no DNS), the smtp
# transport with hosts_require_tls and hosts_require_auth, a plaintext (PLAIN)
# authenticator as the scenario's user. Exim does not listen (no -bd); mail comes
# from its sendmail interface, a queue runner (-q) retries. Bounces Exim generates
# are discarded on this machine. Nothing can leave the machine. Checks:
#  1. N messages from a registered user: all accepted by the relay, all in its run
#     folder and Maildir, and Exim's own log has a `=>` delivery for each;
#  2. classic misconfigurations, each with the relay's documented reply in Exim's
#     log (`**`): a sender that is no registered user, no TLS, a generic HELO, an
#     IP outside the setting's ranges;
#  3. the 10-minute customer limit at 1 licence: 450 4.2.1 (`==` in Exim's log),
#     the mail stays queued, a short retry rule (F,5m,2s) and queue runs every 2 s
#     deliver it once the window frees: nothing lost; the retry gaps Exim used are
#     put beside the simulated exim profile's (tests/mta/retry_compare.py).
# It replaces this machine's Exim configuration and empties Exim's queue: run it on
# a CI machine or a throw-away container, never beside an Exim in use.
# Usage: tests/mta/exim.sh RELAYSIM_BINARY WORK_DIR
set -euo pipefail
relaysim=$(realpath "$1")
work=$2
n=20
rm -rf "$work" && mkdir -p "$work"
logdir=/var/log/relaysim-exim
log=$logdir/mainlog
mta=Exim
# shellcheck source=tests/mta/serve.sh
. tests/mta/serve.sh

queue_runner=
stop_queue_runner() {
  if [ -n "$queue_runner" ]; then kill "$queue_runner" 2>/dev/null || true; wait "$queue_runner" 2>/dev/null || true; fi
  queue_runner=
}
trap 'kill_serve; stop_queue_runner; mv -f /etc/exim4/exim4.conf "$work/exim4.conf" 2>/dev/null || true' EXIT

# Writes Exim's configuration. $1: TLS to the relay (require|none); $2: the HELO
# name; $3: AUTH as app@acme.example (require|none).
configure_exim() {
  local tls=$1 helo=$2 auth=$3 tls_options auth_options=
  if [ "$tls" = require ]; then tls_options="hosts_require_tls = *"; else tls_options="hosts_avoid_tls = *"; fi
  if [ "$auth" = require ]; then auth_options="hosts_require_auth = *"; fi
  cat > /etc/exim4/exim4.conf <<CONF
# relaysim tests/mta/exim.sh: a null client whose only route is relaysim serve.
primary_hostname = mail.acme.example
qualify_domain = acme.example
log_file_path = $logdir/%slog
log_selector = +millisec +deliver_time
host_lookup =
rfc1413_hosts =
never_users =
trusted_users = root
keep_environment =

begin routers

# Bounces (empty sender) stay on this machine: nothing is sent back through the
# relay.
discard_bounces:
  driver = redirect
  senders = :
  data = :blackhole:

relaysim:
  driver = manualroute
  route_list = * 127.0.0.1
  self = send
  transport = relaysim_smtp

begin transports

relaysim_smtp:
  driver = smtp
  port = 2525
  allow_localhost
  interface = 127.0.0.1
  helo_data = $helo
  $tls_options
  $auth_options

begin retry

*  *  F,5m,2s

begin authenticators

plain:
  driver = plaintext
  public_name = PLAIN
  client_send = ^app@acme.example^secret
CONF
  exim4 -bV >/dev/null || fail "exim refused the configuration: $(exim4 -bV 2>&1 | tail -3)"
}

# The number of messages in Exim's queue.
queued() { exim4 -bpc; }

# Waits (at most $1 seconds) until Exim's queue is empty.
wait_for_empty_queue() {
  for _ in $(seq $(($1 * 2))); do
    [ "$(queued)" -eq 0 ] && return 0
    sleep 0.5
  done
  exim4 -bp
  fail "Exim's queue did not empty in $1 s"
}

mkdir -p "$logdir" && chown Debian-exim: "$logdir"
: > "$log"
chown Debian-exim: "$log"
configure_exim require mail.acme.example require
# Nothing from an earlier run in the queue, no retry records from it.
for id in $(exim4 -bp | awk '$3 ~ /^[0-9A-Za-z]+-[0-9A-Za-z]+-[0-9A-Za-z]+$/ {print $3}'); do
  exim4 -Mrm "$id" >/dev/null
done
rm -f /var/spool/exim4/db/retry*

# 1. A correct Exim relays N messages; 2. an unregistered sender is refused.
start_serve relayed postfix
for i in $(seq $n); do
  printf 'Subject: message %s\n\nsent through Exim\n' "$i" | exim4 -f app@acme.example "r$i@example.org"
done
printf 'Subject: stranger\n\nfrom an unregistered sender\n' | exim4 -f stranger@acme.example someone@example.org
wait_for_empty_queue 60
sleep 1
stop_serve
cat "$work/relayed.out"
sent=$(grep -c ' => r[0-9]*@example.org .*H=127.0.0.1 \[127.0.0.1\]' "$log" || true)
[ "$sent" -eq $n ] || fail "Exim logged $sent messages delivered, expected $n"
check_accepted relayed $n
grep -q '\*\* someone@example.org .*: 550 5.7.0 Mail Sending denied.' "$log" \
  || fail "the unregistered sender's 550 5.7.0 is not in Exim's log"
echo "exim: $n messages sent and accepted (Exim log, summary.json, messages.csv, Maildir agree); the unregistered sender bounced with 550 5.7.0"

# 3. The 10-minute customer limit at 1 licence (9 recipients, Q5) and relay time 60
# times wall time: of 15 messages Exim gets 450 4.2.1 for some, keeps them queued,
# retries them (F,5m,2s; a queue run every 2 s) and delivers them once the window
# frees, 10 s of wall time later: nothing lost.
: > "$log"
start_serve peak postfix --time-scale 60 --set tenant.acme.licences=1
exim4 -q2s &
queue_runner=$!
m=15
for i in $(seq $m); do
  printf 'Subject: burst %s\n\nover the peak limit\n' "$i" | exim4 -f app@acme.example "p$i@example.org"
done
deferred_seen=0
for _ in $(seq 20); do
  if grep -q ' == p[0-9]*@example.org .*: 450 4.2.1' "$log"; then deferred_seen=1; break; fi
  sleep 0.5
done
[ "$deferred_seen" -eq 1 ] || fail "Exim never got 450 4.2.1 from the relay"
in_queue=$(queued)
wait_for_empty_queue 90
sleep 1
stop_queue_runner
stop_serve
cat "$work/peak.out"
[ "$(accepted peak)" -eq $m ] || fail "the relay accepted $(accepted peak) of $m messages"
sent=$(grep -c ' => p[0-9]*@example.org .*H=127.0.0.1 \[127.0.0.1\]' "$log" || true)
[ "$sent" -eq $m ] || fail "Exim logged $sent of $m messages delivered"
deferrals=$(grep -c ' == p[0-9]*@example.org .*: 450 4.2.1' "$log" || true)
grep -q ',customer_peak,hit,' "$work/peak/run/limit_hits.csv" || fail "limit_hits.csv has no customer_peak hit"
echo "exim: peak limit at 1 licence: $deferrals deferrals (450 4.2.1), $in_queue messages seen queued, all $m delivered after the window freed"
# The retry times Exim used beside the simulated exim profile's with the same rule
# and queue runs in relay time (mta-retry.toml: the same relay, 15 messages at once).
cp "$log" "$work/exim-peak.log"
simulate_retries --set mta.mta.profile=exim --set mta.mta.overrides.retry_rule=F,5h,2m \
  --set mta.mta.overrides.queue_run_interval=2m
python3 tests/mta/retry_compare.py exim "$work/exim-peak.log" 60 "$work/peak-simulated/transactions.csv" 2 2 2 \
  || fail "Exim's retries and the simulated profile's differ beyond the rule (see above)"
# The same log, imported (issue 19): the messages sent and the relay's refusals.
check_import exim "$work/exim-peak.log" peak $m

# 2. Classic misconfigurations, each with the relay's documented reply in Exim's own
# log (the replies tests/fixtures/serve/postfix-misconfigured.toml's dialogues get
# from the simulation): Exim reconfigured per case, one message, delivered at once.
start_serve misconfigured postfix-misconfigured
misconfigured() {
  local what=$1 from=$2 reply=$3 tls=$4 helo=$5
  configure_exim "$tls" "$helo" none
  : > "$log"
  printf 'Subject: %s\n\n%s\n' "$what" "$what" | exim4 -odi -f "$from" someone@example.org || true
  grep -q "\*\* someone@example.org .*: $reply" "$log" \
    || fail "$what: Exim's log does not show the relay's \"$reply\""
  echo "exim: $what: bounced with \"${reply//\\/}\""
}
misconfigured "no TLS where the setting requires it (P5)" app@tls.example \
  "530 5.7.0 Must issue a STARTTLS command first." none mail.acme.example
misconfigured "a generic HELO with any_address (P8)" scanner@devices.vendor.example \
  "550 5.7.1 Invalid credentials for relay \[127.0.0.1\]." require localhost
misconfigured "an IP outside the setting's ranges (P2)" app@ip.example \
  "550 5.7.0 Mail relay denied \[127.0.0.1\]." require mail.acme.example
wait_for_empty_queue 30
stop_serve
cp "$log" "$work/exim.log"
