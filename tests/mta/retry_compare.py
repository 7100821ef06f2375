#!/usr/bin/env python3
"""Puts the retry gaps a real Postfix or Exim used after the relay's 450 4.2.1
beside the ones the simulated profile uses with the same settings (issue 18,
step 3), and reports the difference.

The real side, from the server's log, wall seconds scaled by relaysim serve's
--time-scale to the relay's time:
- Postfix: one attempt per `relay=127.0.0.1[...]:2525 ... status=` line; its
  `delay=` is the time since the message arrived (to 10 ms), so the gaps between a
  message's attempts are differences of delays, independent of the log's
  whole-second time stamps;
- Exim: one attempt per `==` (deferred) or `=>` (delivered) line of a message, at
  the line's time stamp (log_selector +millisec).
The simulated side: transactions.csv of `relaysim run` on a scenario whose
one-recipient messages have distinct recipients.

Both must retry within the profile's rule (rulebook M2): a Postfix message waits
its age clamped to [minimal_backoff_time, maximal_backoff_time], an Exim address
the interval of its F rule, and is then picked up by the next queue run, so every
gap lies in [LOW, HIGH + QUEUE_RUN], the real side within SLACK wall seconds
(default 1: scheduling, and the log's stamps are the ends of attempts of varying
length; Exim also rounds retry times down to the second, so its gaps can be a
second short). Exit 1 if a gap does not, or if either side saw no retry at all.

Usage: retry_compare.py postfix|exim LOG TIME_SCALE TRANSACTIONS_CSV LOW HIGH QUEUE_RUN [SLACK]
(LOW, HIGH: Postfix's minimal and maximal backoff, or Exim's F interval twice;
QUEUE_RUN: queue_run_delay or Exim's -q interval; all in the server's wall seconds)
"""

import csv
import datetime
import re
import statistics
import sys

ATTEMPT = re.compile(
    r"postfix/smtp\[\d+\]: (?P<qid>[0-9A-Za-z]+): to=<[^>]*>, "
    r"relay=127\.0\.0\.1\[127\.0\.0\.1\]:2525, delay=(?P<delay>[0-9.]+), .*"
    r"status=(?P<status>sent|deferred)")


def postfix_attempts(path, scale):
    """Per queue id, the attempt instants after arrival, in relay seconds."""
    attempts = {}
    with open(path, errors="replace") as log:
        for line in log:
            m = ATTEMPT.search(line)
            if m:
                attempts.setdefault(m["qid"], []).append(float(m["delay"]) * scale)
    return attempts


EXIM_ATTEMPT = re.compile(
    r"^(?P<at>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) (?P<id>\S+) (?P<kind>==|=>) ")


def exim_attempts(path, scale):
    """Per message id, the attempt instants after its first, in relay seconds."""
    attempts = {}
    with open(path, errors="replace") as log:
        for line in log:
            m = EXIM_ATTEMPT.search(line)
            if m and "H=127.0.0.1 [127.0.0.1]" in line:
                at = datetime.datetime.fromisoformat(m["at"]).timestamp()
                attempts.setdefault(m["id"], []).append(at * scale)
    return {k: [t - v[0] for t in v] for k, v in attempts.items()}


def simulated_attempts(path):
    """Per recipient (one per message), the attempt instants in relay seconds."""
    attempts = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            for rcpt in row["recipients"].split(";"):
                attempts.setdefault(rcpt, []).append(float(row["time_s"]))
    return attempts


def gaps(attempts):
    return [b - a for times in attempts.values() for a, b in zip(times, times[1:])]


def summary(attempts):
    retried = [t for t in attempts.values() if len(t) > 1]
    g = gaps(attempts)
    return {
        "messages": len(attempts),
        "messages retried": len(retried),
        "attempts": sum(len(t) for t in attempts.values()),
        "retry gap min (s)": min(g) if g else None,
        "retry gap mean (s)": statistics.fmean(g) if g else None,
        "retry gap max (s)": max(g) if g else None,
        "last attempt of a retried message (s)": max((t[-1] - t[0] for t in retried), default=None),
    }


def show(value):
    if value is None:
        return "-"
    return f"{value:.0f}" if isinstance(value, float) else str(value)


def main():
    if len(sys.argv) not in (8, 9) or sys.argv[1] not in ("postfix", "exim"):
        sys.exit(__doc__)
    server, log, scale, transactions = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
    low, high, queue_run = (float(a) * scale for a in sys.argv[5:8])
    real = (postfix_attempts if server == "postfix" else exim_attempts)(log, scale)
    simulated = simulated_attempts(transactions)
    rows = [summary(real), summary(simulated)]
    name = "Postfix" if server == "postfix" else "Exim"
    print(f"retries after 450 4.2.1 — real {name} (its log, wall s × {scale:g}) vs the "
          f"simulated {server} profile, relay seconds; retry after [{low:g}, {high:g}] s, "
          f"then the next queue run (every {queue_run:g} s)")
    print(f"  {'':40} {name:>9} {'simulated':>9}")
    for key in rows[0]:
        print(f"  {key:40} {show(rows[0][key]):>9} {show(rows[1][key]):>9}")
    failed = False
    for who, row in zip((name, "the simulation"), rows):
        if row["messages retried"] == 0:
            print(f"FAIL {who} retried no message: nothing to compare")
            failed = True
    if not failed:
        mean_real, mean_sim = rows[0]["retry gap mean (s)"], rows[1]["retry gap mean (s)"]
        last_real = rows[0]["last attempt of a retried message (s)"]
        last_sim = rows[1]["last attempt of a retried message (s)"]
        print(f"  difference (simulated − {name}): mean retry gap {mean_sim - mean_real:+.0f} s "
              f"({(mean_sim - mean_real) / mean_real:+.0%}), last attempt "
              f"{last_sim - last_real:+.0f} s")
    slack = float(sys.argv[8] if len(sys.argv) == 9 else 1) * scale
    for who, attempts, tolerance in ((name, real, slack), ("the simulation", simulated, 0.0)):
        outside = [g for g in gaps(attempts) if not low - tolerance <= g <= high + queue_run + tolerance]
        if outside:
            print(f"FAIL {who} retried after {', '.join(f'{g:.0f} s' for g in outside)}: "
                  f"outside [{low:g}, {high + queue_run:g}] s (M2: backoff, then the next queue run)")
            failed = True
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
