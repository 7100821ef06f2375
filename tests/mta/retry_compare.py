#!/usr/bin/env python3
"""Puts the retry gaps a real Postfix used after the relay's 450 4.2.1 beside the
ones the simulated `postfix` profile uses with the same backoff (issue 18, step 3),
and reports the difference.

Postfix's side: its log, one attempt per `relay=127.0.0.1[...]:2525 ... status=`
line; each line's `delay=` is the time since the message arrived (to 10 ms), so the
gaps between a message's attempts are differences of delays, independent of the
log's whole-second time stamps. Wall seconds are scaled by relaysim serve's
--time-scale to the relay's time. The simulated side: transactions.csv of
`relaysim run` on a scenario whose one-recipient messages have distinct
recipients.

Both must retry within the profile's rule (rulebook M2, Postfix): a deferred
message waits its age clamped to [minimal_backoff_time, maximal_backoff_time] and is
picked up by the next queue run, so every gap lies in [min, max + queue_run_delay]
(Postfix's side with one wall second of slack for scheduling and the log's
resolution). Exit 1 if a gap does not, or if either side saw no retry at all.

Usage: retry_compare.py POSTFIX_LOG TIME_SCALE TRANSACTIONS_CSV MIN MAX QUEUE_RUN
(MIN, MAX, QUEUE_RUN: Postfix's settings in wall seconds)
"""

import csv
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
    if len(sys.argv) != 7:
        sys.exit(__doc__)
    log, scale, transactions = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    low, high, queue_run = (float(a) * scale for a in sys.argv[4:7])
    real, simulated = postfix_attempts(log, scale), simulated_attempts(transactions)
    rows = [summary(real), summary(simulated)]
    print(f"retries after 450 4.2.1 — real Postfix (its log, wall s × {scale:g}) vs the "
          f"simulated postfix profile, relay seconds; backoff [{low:g}, {high:g}] s, "
          f"queue runs every {queue_run:g} s")
    print(f"  {'':40} {'Postfix':>9} {'simulated':>9}")
    for key in rows[0]:
        print(f"  {key:40} {show(rows[0][key]):>9} {show(rows[1][key]):>9}")
    failed = False
    for name, row in zip(("Postfix", "the simulation"), rows):
        if row["messages retried"] == 0:
            print(f"FAIL {name} retried no message: nothing to compare")
            failed = True
    if not failed:
        mean_real, mean_sim = rows[0]["retry gap mean (s)"], rows[1]["retry gap mean (s)"]
        last_real = rows[0]["last attempt of a retried message (s)"]
        last_sim = rows[1]["last attempt of a retried message (s)"]
        print(f"  difference (simulated − Postfix): mean retry gap {mean_sim - mean_real:+.0f} s "
              f"({(mean_sim - mean_real) / mean_real:+.0%}), last attempt "
              f"{last_sim - last_real:+.0f} s")
    slack = scale  # one wall second
    for name, attempts, tolerance in (("Postfix", real, slack), ("the simulation", simulated, 0.0)):
        outside = [g for g in gaps(attempts) if not low - tolerance <= g <= high + queue_run + tolerance]
        if outside:
            print(f"FAIL {name} retried after {', '.join(f'{g:.0f} s' for g in outside)}: "
                  f"outside [{low:g}, {high + queue_run:g}] s (M2: backoff, then the next queue run)")
            failed = True
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
