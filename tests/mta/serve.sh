# Helpers for the real-MTA checks (tests/mta/postfix.sh, tests/mta/exim.sh), sourced
# by them: start and stop `relaysim serve` on a fixture, read its summary, fail with
# the MTA's log. The sourcing script sets $relaysim, $work, $log and $mta (the
# server's name for messages).

serve_pid=

fail() {
  echo "$mta check failed: $*" >&2
  echo "--- $mta log:" >&2
  tail -50 "$log" >&2 || true
  exit 1
}

# Starts relaysim serve on fixture $2 with extra arguments; its folder is $work/$1.
start_serve() {
  local name=$1 fixture=$2; shift 2
  "$relaysim" serve "tests/fixtures/serve/$fixture.toml" --listen 127.0.0.1:2525 \
    --password secret --out "$work/$name/run" --store "$work/$name/maildir" "$@" \
    > "$work/$name.out" 2>&1 &
  serve_pid=$!
  for _ in $(seq 50); do grep -q "^serving" "$work/$name.out" && break; sleep 0.1; done
  grep -q "^serving" "$work/$name.out" || { cat "$work/$name.out"; fail "relaysim serve did not start"; }
}

stop_serve() {
  kill -TERM "$serve_pid"
  wait "$serve_pid" || fail "relaysim serve did not stop cleanly"
  serve_pid=
}

# Stops relaysim serve if it runs (for an EXIT trap).
kill_serve() {
  if [ -n "$serve_pid" ]; then kill -TERM "$serve_pid" 2>/dev/null || true; fi
}

# The number of messages relaysim serve accepted in run $1.
accepted() {
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["messages_accepted"])' "$work/$1/run/summary.json"
}

# Checks that run $1 accepted $2 messages, all in messages.csv and the Maildir.
check_accepted() {
  local name=$1 n=$2
  [ "$(accepted "$name")" -eq "$n" ] || fail "the relay accepted $(accepted "$name") messages, expected $n"
  local rows=$(($(wc -l < "$work/$name/run/messages.csv") - 1))
  [ "$rows" -eq "$n" ] || fail "messages.csv has $rows rows, expected $n"
  local stored
  stored=$(find "$work/$name/maildir/new" -type f | wc -l)
  [ "$stored" -eq "$n" ] || fail "the Maildir holds $stored messages, expected $n"
}

# Runs the simulated side of the retry comparison: mta-retry.toml with the given
# --set arguments, its transactions in $work/peak-simulated.
simulate_retries() {
  "$relaysim" run tests/fixtures/serve/mta-retry.toml --trace-format csv \
    --out "$work/peak-simulated" "$@" >/dev/null
}

# `relaysim import` of the MTA's own log of run $3 ($1: the format, $2: the log):
# it must recover the $4 messages sent (sender app@acme.example, recipients
# p1..pN@example.org, one each) and, in observed_replies.csv, every 450 the relay
# gave (its summary.json counts them).
check_import() {
  local format=$1 log=$2 name=$3 n=$4
  "$relaysim" import "$format" "$log" --year "$(date +%Y)" --out "$work/$name-import" \
    > "$work/$name-import.out" 2>&1 || { cat "$work/$name-import.out"; fail "relaysim import of the $mta log failed"; }
  python3 - "$work/$name-import" "$work/$name/run/summary.json" "$n" <<'PY' || fail "relaysim import did not recover what was sent"
import csv, json, pathlib, sys
folder, summary, n = pathlib.Path(sys.argv[1]), json.load(open(sys.argv[2])), int(sys.argv[3])
sends = list(csv.DictReader(open(folder / "sends.csv")))
got = sorted((r["envelope_from"], r["recipients"]) for r in sends)
want = sorted(("app@acme.example", f"p{i}@example.org") for i in range(1, n + 1))
if got != want:
    sys.exit(f"sends.csv has {got}, expected {want}")
refused = sum(c for reply, c in summary["replies"].items() if reply.startswith("450 "))
observed = list(csv.DictReader(open(folder / "observed_replies.csv")))
if len(observed) != refused or any(not r["reply"].startswith("450 4.2.1 ") for r in observed):
    sys.exit(f"observed_replies.csv has {len(observed)} rows, the relay gave {refused} × 450")
print(f"import: {len(sends)} messages recovered from the log as sent; {len(observed)} observed 450s = the relay's {refused}")
PY
  # The same real log fitted and anonymised; its scenario run and compared with
  # what the log saw.
  head -c 32 /dev/urandom > "$work/import.key"
  "$relaysim" import "$format" "$log" --year "$(date +%Y)" --fit --anonymise \
    --anonymise-key-file "$work/import.key" --out "$work/$name-fit" \
    > "$work/$name-fit.out" 2>&1 || { cat "$work/$name-fit.out"; fail "relaysim import --fit --anonymise of the $mta log failed"; }
  "$relaysim" validate "$work/$name-fit/fitted.toml" >/dev/null || fail "the fitted scenario does not validate"
  "$relaysim" run "$work/$name-import/scenario.toml" --out "$work/$name-replayed" >/dev/null \
    || fail "the imported scenario does not run"
  "$relaysim" compare "$work/$name-replayed" "$work/$name-import" --out "$work/$name-compare" \
    > "$work/$name-compare.out" || { cat "$work/$name-compare.out"; fail "relaysim compare with the observed replies failed"; }
  python3 - "$work/$name-fit" "$work/$name-compare" "$work/$name/run/summary.json" "$n" <<'PY' || fail "fit, anonymise or compare of the real log is wrong"
import csv, json, pathlib, sys
fit, compare, summary, n = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), json.load(open(sys.argv[3])), int(sys.argv[4])
hours = list(csv.DictReader(open(fit / "fit_hours.csv")))
if sum(int(h["observed_messages"]) for h in hours) != n:
    sys.exit(f"fit_hours.csv observed {[h['observed_messages'] for h in hours]}, expected {n} in all")
sends = list(csv.DictReader(open(fit / "sends.csv")))
text = "".join(open(fit / f).read() for f in ["sends.csv", "observed_replies.csv", "scenario.toml", "fitted.toml"])
if len(sends) != n or "app@" in text or "p1@" in text:
    sys.exit("the anonymised import shows an address, or lost messages")
if len({r["recipients"] for r in sends}) != n or len({r["envelope_from"] for r in sends}) != 1:
    sys.exit("the anonymised import changed the distinct senders or recipients")
refused = sum(c for reply, c in summary["replies"].items() if reply.startswith("450 "))
rows = list(csv.DictReader(open(compare / "observed.csv")))
peak = [r for r in rows if r["reply"] == "450 4.2.1 Peak SMTP relay limit exceeded for customer"]
if not peak or int(peak[0]["observed"]) != refused:
    sys.exit(f"observed.csv has {rows}; the relay gave {refused} × 450 4.2.1")
print(f"import --fit: {len(hours)} hour(s), {n} messages; --anonymise: no address left; compare: {refused} observed 450 4.2.1 beside {peak[0]['simulated']} simulated")
PY
}

# The steps both MTAs go through. The sourcing script defines:
#  submit FROM RCPT          hand the message on stdin to the MTA;
#  wait_for_empty_queue S    wait at most S seconds for its queue to empty;
#  queued_now                how many messages its queue holds;
#  reconfigure ARGS...       one misconfiguration (step 2);
# and the grep patterns of its log lines for a delivery to the relay
# ($delivered_re), a 450 4.2.1 deferral ($deferred_re) and a bounce of
# someone@example.org ($bounced_re, followed by the reply).
# `start_serve`/`stop_serve` around each step; $n, $log and $mta as above.

# 1. N messages from a registered user are relayed; one from a sender that is no
# registered user is bounced with P1's reply.
relay_messages() {
  start_serve relayed postfix
  for i in $(seq "$n"); do
    printf 'Subject: message %s\n\nsent through %s\n' "$i" "$mta" | submit app@acme.example "r$i@example.org"
  done
  printf 'Subject: stranger\n\nfrom an unregistered sender\n' | submit stranger@acme.example someone@example.org
  wait_for_empty_queue 60
  sleep 1
  stop_serve
  cat "$work/relayed.out"
  local sent
  sent=$(grep -c "$delivered_re" "$log" || true)
  [ "$sent" -eq "$n" ] || fail "$mta logged $sent messages delivered, expected $n"
  check_accepted relayed "$n"
  grep -q "${bounced_re}550 5.7.0 Mail Sending denied." "$log" \
    || fail "the unregistered sender's 550 5.7.0 is not in $mta's log"
  echo "$mta: $n messages sent and accepted ($mta log, summary.json, messages.csv, Maildir agree); the unregistered sender bounced with 550 5.7.0"
}

# 3. The 10-minute customer limit at 1 licence (9 recipients, Q5), relay time 60
# times wall time: of $m messages the MTA gets 450 4.2.1 for some, keeps them
# queued, retries, and delivers them once the window frees (10 s of wall time
# later): nothing lost. The log is kept as $work/peak.log.
peak_limit() {
  : > "$log"
  start_serve peak postfix --time-scale 60 --set tenant.acme.licences=1
  for i in $(seq "$m"); do
    printf 'Subject: burst %s\n\nover the peak limit\n' "$i" | submit app@acme.example "p$i@example.org"
  done
  local deferred_seen=0 in_queue sent deferrals
  for _ in $(seq 20); do
    if grep -q "$deferred_re" "$log"; then deferred_seen=1; break; fi
    sleep 0.5
  done
  [ "$deferred_seen" -eq 1 ] || fail "$mta never got 450 4.2.1 from the relay"
  in_queue=$(queued_now)
  wait_for_empty_queue 90
  sleep 1
  stop_serve
  cat "$work/peak.out"
  [ "$(accepted peak)" -eq "$m" ] || fail "the relay accepted $(accepted peak) of $m messages"
  sent=$(grep -c "$delivered_re" "$log" || true)
  [ "$sent" -eq "$m" ] || fail "$mta logged $sent of $m messages delivered"
  deferrals=$(grep -c "$deferred_re" "$log" || true)
  grep -q ',customer_peak,hit,' "$work/peak/run/limit_hits.csv" || fail "limit_hits.csv has no customer_peak hit"
  echo "$mta: peak limit at 1 licence: $deferrals deferrals (450 4.2.1), $in_queue messages seen queued, all $m delivered after the window freed"
  cp "$log" "$work/peak.log"
}

# 2. One misconfiguration: the MTA reconfigured (ARGS to `reconfigure`), one
# message from FROM, and the relay's documented REPLY (a grep pattern) in the MTA's
# log as a bounce. Usage: misconfigured WHAT FROM REPLY ARGS...
misconfigured() {
  local what=$1 from=$2 reply=$3; shift 3
  reconfigure "$@"
  : > "$log"
  printf 'Subject: %s\n\n%s\n' "$what" "$what" | submit "$from" someone@example.org
  for _ in $(seq 40); do
    grep -q "${bounced_re}$reply" "$log" && break
    sleep 0.5
  done
  grep -q "${bounced_re}$reply" "$log" || fail "$what: $mta's log does not show the relay's \"$reply\""
  echo "$mta: $what: bounced with \"${reply//\\/}\""
}
