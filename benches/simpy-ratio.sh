#!/usr/bin/env bash
# The SimPy ratio of issue 14, in one sitting: relaysim's µs per simulated message
# on the SimPy-equivalent scenario at 1× and 10× (min and median of several runs of
# `examples/run_bare`, no output files), then SimPy's own model on the same traffic
# (`../shared/bench/simpy_relay.py`, its wall time over its messages), and the
# ratios. This VM's speed varies within minutes: compare figures of one sitting only.
# Usage: benches/simpy-ratio.sh [RUN_BARE] [PYTHON]   (from anywhere; PYTHON must
# have `simpy`, e.g. `python3 -m venv target/simpy && target/simpy/bin/pip install simpy`)
set -euo pipefail
cd "$(dirname "$0")/.."
run_bare="${1:-target/release/examples/run_bare}"
python="${2:-target/simpy/bin/python}"
[ -x "$run_bare" ] || cargo build --release --example run_bare
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# relaysim: the µs-per-message figure of each run, then min and median.
relaysim() { # FILE RUNS
  "$run_bare" "$1" "$2" | sed -E 's/.*: ([0-9.]+) µs per message.*/\1/' | sort -n >"$work/runs"
  awk '{v[NR]=$1} END {printf "%s %s\n", v[1], v[int((NR+1)/2)]}' "$work/runs"
}
# SimPy: its wall time over the messages it simulated: each message ends with one
# outcome that is not a 4xx (a 4xx is retried), so those are counted.
simpy() { # RATE
  "$python" ../shared/bench/simpy_relay.py --rate "$1" | python3 -c '
import ast, re, sys
line = sys.stdin.read()
wall = float(re.search(r"wall_s=([0-9.]+)", line).group(1))
outcomes = ast.literal_eval(re.search(r"outcomes=(\{.*\})", line).group(1))
messages = sum(n for code, n in outcomes.items() if not code.startswith("4"))
print(f"{wall * 1e6 / messages:.2f}")'
}
read -r min1 med1 < <(relaysim benches/data/simpy-equivalent.toml 15)
read -r min10 med10 < <(relaysim benches/data/simpy-equivalent-10x.toml 7)
simpy1=$(simpy 0.01)
simpy10=$(simpy 0.1)
awk -v s="$simpy1" -v a="$min1" -v m="$med1" \
  'BEGIN {printf "1x:  SimPy %s us/message; relaysim %s min, %s median: %.0fx (min), %.0fx (median)\n", s, a, m, s / a, s / m}'
awk -v s="$simpy10" -v a="$min10" -v m="$med10" \
  'BEGIN {printf "10x: SimPy %s us/message; relaysim %s min, %s median: %.0fx (min), %.0fx (median)\n", s, a, m, s / a, s / m}'
