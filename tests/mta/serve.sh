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
