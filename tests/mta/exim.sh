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
mta=exim
# shellcheck source=tests/mta/serve.sh
. tests/mta/serve.sh

# `exim4 -q2s` forks its queue-runner daemon and returns: the daemon is found by
# its command line (stopping the process started would leave the daemon running).
queue_runner=
stop_queue_runner() {
  if [ -n "$queue_runner" ]; then
    wait "$queue_runner" 2>/dev/null || true
    pkill -f '^exim4 -q2s$' 2>/dev/null || true
    for _ in $(seq 50); do pgrep -f '^exim4 -q2s$' >/dev/null || break; sleep 0.1; done
  fi
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

# What tests/mta/serve.sh's steps need of Exim.
submit() { exim4 -f "$1" "$2"; }
queued_now() { queued; }
reconfigure() { configure_exim "$@"; }
delivered_re=' => [^ ]* .*H=127.0.0.1 \[127.0.0.1\]'
deferred_re=' == [^ ]* .*: 450 4.2.1'
bounced_re='\*\* someone@example.org .*: '

relay_messages

# 3. The retry rule F,5m,2s and a queue run every 2 s; the retry times Exim used
# then go beside the simulated exim profile's with the same rule and queue runs in
# relay time (mta-retry.toml: the same relay, 15 messages at once), and its log is
# imported.
m=15
exim4 -q2s &
queue_runner=$!
peak_limit
stop_queue_runner
simulate_retries --set mta.mta.profile=exim --set mta.mta.overrides.retry_rule=F,5h,2m \
  --set mta.mta.overrides.queue_run_interval=2m
# Slack 1.5 s: Exim's retry times are whole seconds (a gap can be a second short).
python3 tests/mta/retry_compare.py exim "$work/peak.log" 60 "$work/peak-simulated/transactions.csv" 2 2 2 1.5 \
  || fail "Exim's retries and the simulated profile's differ beyond the rule (see above)"
check_import exim "$work/peak.log" peak $m

# 2. Classic misconfigurations (the replies tests/fixtures/serve/postfix-misconfigured.toml's
# dialogues get from the simulation), Exim reconfigured per case (TLS, HELO, no
# AUTH).
start_serve misconfigured postfix-misconfigured
misconfigured "no TLS where the setting requires it (P5)" app@tls.example \
  "530 5.7.0 Must issue a STARTTLS command first." none mail.acme.example none
misconfigured "a generic HELO with any_address (P8)" scanner@devices.vendor.example \
  "550 5.7.1 Invalid credentials for relay \[127.0.0.1\]." require localhost none
misconfigured "an IP outside the setting's ranges (P2)" app@ip.example \
  "550 5.7.0 Mail relay denied \[127.0.0.1\]." require mail.acme.example none
wait_for_empty_queue 30
stop_serve
cp "$log" "$work/exim.log"
