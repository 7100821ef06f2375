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
}
