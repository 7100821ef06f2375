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

mta=Postfix
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

postfix start

# 1. A correct Postfix relays N messages; 2. an unregistered sender is refused.
start_serve relayed postfix
for i in $(seq $n); do
  printf 'Subject: message %s\n\nsent through Postfix\n' "$i" | sendmail -f app@acme.example "r$i@example.org"
done
printf 'Subject: stranger\n\nfrom an unregistered sender\n' | sendmail -f stranger@acme.example someone@example.org
wait_for_empty_queue 60
sleep 1
stop_serve
cat "$work/relayed.out"
sent=$(grep -c 'relay=127.0.0.1\[127.0.0.1\]:2525.*status=sent' "$log" || true)
[ "$sent" -eq $n ] || fail "Postfix logged $sent messages sent, expected $n"
check_accepted relayed $n
grep -q 'status=bounced (host 127.0.0.1\[127.0.0.1\] said: 550 5.7.0 Mail Sending denied.' "$log" \
  || fail "the unregistered sender's 550 5.7.0 is not in Postfix's log"
echo "postfix: $n messages sent and accepted (Postfix log, summary.json, messages.csv, Maildir agree); the unregistered sender bounced with 550 5.7.0"

# 3. The 10-minute customer limit at 1 licence (9 recipients, Q5) and relay time 60
# times wall time: of 15 messages Postfix gets 450 4.2.1 for 6, keeps them in its
# deferred queue, retries (backoff and queue runs set to seconds) and delivers them
# once the window frees, 10 s of wall time later: nothing lost.
: > "$log"
postconf -e "minimal_backoff_time = 2s" "maximal_backoff_time = 4s" "queue_run_delay = 2s"
postfix reload >/dev/null
start_serve peak postfix --time-scale 60 --set tenant.acme.licences=1
m=15
for i in $(seq $m); do
  printf 'Subject: burst %s\n\nover the peak limit\n' "$i" | sendmail -f app@acme.example "p$i@example.org"
done
deferred_seen=0
for _ in $(seq 20); do
  if grep -q 'status=deferred (host 127.0.0.1\[127.0.0.1\] said: 450 4.2.1' "$log"; then deferred_seen=1; break; fi
  sleep 0.5
done
[ "$deferred_seen" -eq 1 ] || fail "Postfix never got 450 4.2.1 from the relay"
in_queue=$(postqueue -j | grep -c '"queue_name": "deferred"' || true)
wait_for_empty_queue 90
sleep 1
stop_serve
cat "$work/peak.out"
[ "$(accepted peak)" -eq $m ] || fail "the relay accepted $(accepted peak) of $m messages"
sent=$(grep -c 'relay=127.0.0.1\[127.0.0.1\]:2525.*status=sent' "$log" || true)
[ "$sent" -eq $m ] || fail "Postfix logged $sent of $m messages sent"
deferrals=$(grep -c 'status=deferred (host 127.0.0.1\[127.0.0.1\] said: 450 4.2.1' "$log" || true)
grep -q ',customer_peak,hit,' "$work/peak/run/limit_hits.csv" || fail "limit_hits.csv has no customer_peak hit"
postconf -e "minimal_backoff_time = 300s" "maximal_backoff_time = 4000s" "queue_run_delay = 300s"
echo "postfix: peak limit at 1 licence: $deferrals deferrals (450 4.2.1), $in_queue messages seen in the deferred queue, all $m delivered after the window freed"
# The retry times Postfix used beside the simulated postfix profile's with the same
# backoff in relay time (mta-retry.toml: the same relay, 15 messages at once).
cp "$log" "$work/postfix-peak.log"
simulate_retries --set mta.mta.profile=postfix --set mta.mta.overrides.min_backoff=2m \
  --set mta.mta.overrides.max_backoff=4m --set mta.mta.overrides.queue_run_interval=2m >/dev/null
python3 tests/mta/retry_compare.py postfix "$work/postfix-peak.log" 60 "$work/peak-simulated/transactions.csv" 2 4 2 \
  || fail "Postfix's retries and the simulated profile's differ beyond the rule (see above)"
# The same log, imported (issue 19): the messages sent and the relay's refusals.
check_import postfix "$work/postfix-peak.log" peak $m

# 2. Classic misconfigurations, each with the relay's documented reply in Postfix's
# own log (the same replies tests/fixtures/serve/postfix-misconfigured.toml's
# dialogues get from the simulation): Postfix reconfigured per case, one message.
start_serve misconfigured postfix-misconfigured
misconfigured() {
  local what=$1 from=$2 reply=$3; shift 3
  postconf -e "$@"
  postfix reload >/dev/null
  : > "$log"
  printf 'Subject: %s\n\n%s\n' "$what" "$what" | sendmail -f "$from" someone@example.org
  for _ in $(seq 40); do
    grep -q "to=<someone@example.org>.*status=bounced (host 127.0.0.1\[127.0.0.1\] said: $reply" "$log" && break
    sleep 0.5
  done
  grep -q "to=<someone@example.org>.*status=bounced (host 127.0.0.1\[127.0.0.1\] said: $reply" "$log" \
    || fail "$what: Postfix's log does not show the relay's \"$reply\""
  echo "postfix: $what: bounced with \"${reply//\\/}\""
}
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
