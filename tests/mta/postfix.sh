#!/usr/bin/env bash
# A real Postfix relays through `relaysim serve` on loopback (issue 18): Debian's
# postfix, configured as a null client whose only route is the relay
# (relayhost = [127.0.0.1]:2525, bracketed: no DNS), TLS required
# (smtp_tls_security_level = encrypt) and SASL as the scenario's user. Nothing can
# leave the machine: inet_interfaces = loopback-only, no DNS look-ups, every loop
# bounded. Checks:
#  1. N messages from a registered user: all accepted by the relay, all in its run
#     folder and Maildir, and Postfix's own log says status=sent for each;
#  2. a sender that is no registered user: the relay's "550 5.7.0 Mail Sending
#     denied." is in Postfix's log (status=bounced).
# Usage: tests/mta/postfix.sh RELAYSIM_BINARY WORK_DIR
set -euo pipefail
relaysim=$(realpath "$1")
work=$2
n=20
rm -rf "$work" && mkdir -p "$work"
# Postfix writes its log only under maillog_file_prefixes (/var by default).
log=/var/log/relaysim-postfix.log
: > "$log"

fail() { echo "postfix check failed: $*" >&2; echo "--- Postfix log:" >&2; tail -50 "$log" >&2 || true; exit 1; }

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

"$relaysim" serve tests/fixtures/serve/postfix.toml --listen 127.0.0.1:2525 \
  --password secret --out "$work/run" --store "$work/maildir" > "$work/serve.out" 2>&1 &
serve_pid=$!
trap 'kill -TERM $serve_pid 2>/dev/null || true; postfix stop >/dev/null 2>&1 || true' EXIT
for _ in $(seq 50); do grep -q "^serving" "$work/serve.out" && break; sleep 0.1; done
grep -q "^serving" "$work/serve.out" || { cat "$work/serve.out"; fail "relaysim serve did not start"; }
postfix start

for i in $(seq $n); do
  printf 'Subject: message %s\n\nsent through Postfix\n' "$i" | sendmail -f app@acme.example "r$i@example.org"
done
printf 'Subject: stranger\n\nfrom an unregistered sender\n' | sendmail -f stranger@acme.example someone@example.org

# Wait (at most 60 s) until Postfix's queue is empty.
for _ in $(seq 120); do
  [ -z "$(postqueue -j 2>/dev/null)" ] && break
  sleep 0.5
done
[ -z "$(postqueue -j 2>/dev/null)" ] || { postqueue -p; fail "Postfix's queue did not empty in 60 s"; }
sleep 1

kill -TERM $serve_pid
wait $serve_pid || fail "relaysim serve did not stop cleanly"
cat "$work/serve.out"

sent=$(grep -c 'relay=127.0.0.1\[127.0.0.1\]:2525.*status=sent' "$log" || true)
[ "$sent" -eq $n ] || fail "Postfix logged $sent messages sent, expected $n"
accepted=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["messages_accepted"])' "$work/run/summary.json")
[ "$accepted" -eq $n ] || fail "the relay accepted $accepted messages, expected $n"
rows=$(($(wc -l < "$work/run/messages.csv") - 1))
[ "$rows" -eq $n ] || fail "messages.csv has $rows rows, expected $n"
stored=$(ls "$work/maildir/new" | wc -l)
[ "$stored" -eq $n ] || fail "the Maildir holds $stored messages, expected $n"
grep -q 'status=bounced (host 127.0.0.1\[127.0.0.1\] said: 550 5.7.0 Mail Sending denied.' "$log" \
  || fail "the unregistered sender's 550 5.7.0 is not in Postfix's log"
cp "$log" "$work/postfix.log"
echo "postfix: $n messages sent and accepted (Postfix log, summary.json, messages.csv, Maildir agree); the unregistered sender bounced with 550 5.7.0"
