#!/usr/bin/env python3
"""Loads a run's report.html in headless Chromium (a real browser) and checks what it
rendered: the number of inline SVG charts and of rows in the episode and reply
tables, from the DOM Chromium built; and, from Chromium's own network log, that the
page made no network request (only the file itself was read).

usage: check_report.py REPORT.html --svgs N --episodes N --replies-at-least N
"""
import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from html.parser import HTMLParser
from pathlib import Path


class Dom(HTMLParser):
    """Counts <svg> elements and the data rows (<tr> with <td>) of each table by id."""

    def __init__(self):
        super().__init__()
        self.svgs = 0
        self.table = None
        self.rows = {}
        self.row_has_td = False

    def handle_starttag(self, tag, attrs):
        if tag == "svg":
            self.svgs += 1
        elif tag == "table":
            self.table = dict(attrs).get("id")
            self.rows.setdefault(self.table, 0)
        elif tag == "tr":
            self.row_has_td = False
        elif tag == "td":
            self.row_has_td = True

    def handle_endtag(self, tag):
        if tag == "tr" and self.table is not None and self.row_has_td:
            self.rows[self.table] += 1
        elif tag == "table":
            self.table = None


def load(page: Path):
    """The DOM Chromium built for `page` and the URLs the page itself requested
    (Chromium's own background requests, which have no initiator, left out)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("chromium is not installed (apt-get install chromium)")
    with tempfile.TemporaryDirectory() as tmp:
        netlog = Path(tmp) / "netlog.json"
        run = subprocess.run(
            [
                chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                f"--user-data-dir={tmp}/profile", f"--log-net-log={netlog}",
                "--net-log-capture-mode=Everything", "--virtual-time-budget=3000",
                "--dump-dom", page.resolve().as_uri(),
            ],
            capture_output=True, text=True, timeout=120,
        )
        if run.returncode != 0:
            sys.exit(f"chromium failed ({run.returncode}): {run.stderr[-2000:]}")
        dom = Dom()
        dom.feed(run.stdout)
        log = json.loads(netlog.read_text())
    requested = set()
    for event in log.get("events", []):
        params = event.get("params") or {}
        url = params.get("url")
        if isinstance(url, str) and "initiator" in params and params["initiator"] != "not an origin":
            requested.add(url)
    return dom, sorted(requested)


def self_test():
    """The network check finds a request when a page makes one."""
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "remote.html"
        page.write_text('<!doctype html><img src="http://127.0.0.1:9/chart.png"><svg></svg>')
        dom, requested = load(page)
        if not any("127.0.0.1:9" in u for u in requested) or dom.svgs != 1:
            sys.exit(f"self-test failed: a page's own request was not seen ({requested})")
    print("self-test: a page's own request is seen in the network log")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("report", type=Path)
    p.add_argument("--svgs", type=int, required=True)
    p.add_argument("--episodes", type=int, required=True)
    p.add_argument("--replies-at-least", type=int, required=True)
    args = p.parse_args()
    self_test()
    dom, requested = load(args.report)
    problems = []
    if dom.svgs != args.svgs:
        problems.append(f"{dom.svgs} <svg> rendered, expected {args.svgs}")
    if dom.rows.get("episodes", 0) != args.episodes:
        problems.append(f"{dom.rows.get('episodes', 0)} episode rows, expected {args.episodes}")
    if dom.rows.get("replies", 0) < args.replies_at_least:
        problems.append(f"{dom.rows.get('replies', 0)} reply rows, expected at least {args.replies_at_least}")
    if dom.rows.get("summary", 0) != 3:
        problems.append(f"{dom.rows.get('summary', 0)} summary rows, expected 3")
    if requested:
        problems.append(f"the page requested {requested}")
    if problems:
        sys.exit(f"{args.report}: " + "; ".join(problems))
    print(f"{args.report}: {dom.svgs} charts, table rows {dom.rows}, no network request")


if __name__ == "__main__":
    main()
