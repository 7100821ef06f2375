#!/usr/bin/env bash
# A real Postfix relays through `relaysim serve` on loopback (issue 18): Debian's
# postfix, configured as a null client whose only route is the relay
# (relayhost = [127.0.0.1]:2525, bracketed: no DNS), TLS required
# (smtp_tls_security_level = encrypt) and SASL as the scenario's user. Nothing can
# leave the machine: inet_interfaces = loopback-only, no DNS look-ups, every loop
# bounded. Checks:
#  1. N messages from a registered user: all accepted by the relay, all in its run
#     folder and Maildir, and Postfix's own log says status=sent for each;
#  2. classic misconfigurations, each with the relay's documented reply in
#     Postfix's log: a sender that is no registered user ("550 5.7.0 Mail Sending
#     denied."), no TLS, a generic HELO, an IP outside the setting's ranges;
#  3. the 10-minute customer limit at 1 licence: 450 4.2.1, the mail waits in
#     Postfix's deferred queue and is delivered once the window frees; the retry
#     gaps Postfix used are put beside the simulated postfix profile's
#     (tests/mta/retry_compare.py).
# It rewrites this machine's /etc/postfix/main.cf and empties Postfix's queue: run it
# on a CI machine or a throw-away container, never beside a Postfix in use.
# Usage: tests/mta/postfix.sh RELAYSIM_BINARY WORK_DIR
set -euo pipefail
relaysim=$(realpath "$1")
work=$2
n=20
rm -rf "$work" && mkdir -p "$work"
# Postfix writes its log only under maillog_file_prefixes (/var by default).
log=/var/log/relaysim-postfix.log
: > "$log"

mta=postfix
# shellcheck source=tests/mta/serve.sh
. tests/mta/serve.sh
trap 'kill_serve; postfix stop >/dev/null 2>&1 || true' EXIT

postfix stop >/dev/null 2>&1 || true
postconf -e \
  "myhostname = mail.acme.example" \
  "mydomain = acme.example" \
  "myorigin = acme.example" \
  "mydestination =" \
  "local_transport = error:local delivery is disabled" \
  "inet_interfaces = loopback-only" \
  "inet_protocols = ipv4" \
  "relayhost = [127.0.0.1]:2525" \
  "smtp_dns_support_level = disabled" \
  "smtp_helo_name = mail.acme.example" \
  "smtp_tls_security_level = encrypt" \
  "smtp_sasl_auth_enable = yes" \
  "smtp_sasl_password_maps = inline:{ [127.0.0.1]:2525=app@acme.example:secret }" \
  "smtp_sasl_security_options = noanonymous" \
  "smtp_sasl_tls_security_options = noanonymous" \
  "maillog_file = $log" \
  "compatibility_level = 3.6"
# Postfix 3.4+: log to a file through postlogd (no syslog on a CI machine).
grep -q '^postlog' /etc/postfix/master.cf || \
  echo 'postlog   unix-dgram n  -       n       -       1       postlogd' >> /etc/postfix/master.cf
postsuper -d ALL >/dev/null 2>&1 || true  # nothing from an earlier run
postfix check || fail "postfix check refused the configuration"

# Waits (at most $1 seconds) until Postfix's queue is empty.
wait_for_empty_queue() {
  for _ in $(seq $(($1 * 2))); do
    [ -z "$(postqueue -j 2>/dev/null)" ] && return 0
    sleep 0.5
  done
  postqueue -p
  fail "Postfix's queue did not empty in $1 s"
}

# What tests/mta/serve.sh's steps need of Postfix.
submit() { sendmail -f "$1" "$2"; }
queued_now() { postqueue -j | grep -c '"queue_name": "deferred"' || true; }
reconfigure() { postconf -e "$@"; postfix reload >/dev/null; }
delivered_re='relay=127.0.0.1\[127.0.0.1\]:2525.*status=sent'
deferred_re='status=deferred (host 127.0.0.1\[127.0.0.1\] said: 450 4.2.1'
bounced_re='to=<someone@example.org>.*status=bounced (host 127.0.0.1\[127.0.0.1\] said: '

postfix start

relay_messages

# 3. Backoff and queue runs set to seconds; the retry times Postfix used then go
# beside the simulated postfix profile's with the same backoff in relay time
# (mta-retry.toml: the same relay, 15 messages at once), and its log is imported.
m=15
reconfigure "minimal_backoff_time = 2s" "maximal_backoff_time = 4s" "queue_run_delay = 2s"
peak_limit
reconfigure "minimal_backoff_time = 300s" "maximal_backoff_time = 4000s" "queue_run_delay = 300s"
simulate_retries --set mta.mta.profile=postfix --set mta.mta.overrides.min_backoff=2m \
  --set mta.mta.overrides.max_backoff=4m --set mta.mta.overrides.queue_run_interval=2m
python3 tests/mta/retry_compare.py postfix "$work/peak.log" 60 "$work/peak-simulated/transactions.csv" 2 4 2 \
  || fail "Postfix's retries and the simulated profile's differ beyond the rule (see above)"
check_import postfix "$work/peak.log" peak $m

# 2. Classic misconfigurations (the replies tests/fixtures/serve/postfix-misconfigured.toml's
# dialogues get from the simulation), Postfix reconfigured per case.
start_serve misconfigured postfix-misconfigured
misconfigured "no TLS where the setting requires it (P5)" app@tls.example \
  "530 5.7.0 Must issue a STARTTLS command first." \
  "smtp_tls_security_level = none" "smtp_sasl_auth_enable = no"
misconfigured "a generic HELO with any_address (P8)" scanner@devices.vendor.example \
  "550 5.7.1 Invalid credentials for relay \[127.0.0.1\]." \
  "smtp_tls_security_level = encrypt" "smtp_helo_name = localhost"
misconfigured "an IP outside the setting's ranges (P2)" app@ip.example \
  "550 5.7.0 Mail relay denied \[127.0.0.1\]." \
  "smtp_helo_name = mail.acme.example"
wait_for_empty_queue 30
stop_serve
postconf -e "smtp_sasl_auth_enable = yes"
cp "$log" "$work/postfix.log"
