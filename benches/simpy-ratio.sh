#!/usr/bin/env bash
# The SimPy ratio of issue 14, in one sitting: relaysim's µs per simulated message
# on the SimPy-equivalent scenario at 1× and 10× (runs of `examples/run_bare`, no
# output files) and SimPy's own model on the same traffic
# (`../shared/bench/simpy_relay.py`, its wall time over its messages), alternately,
# and the ratios. This VM's speed varies within minutes (it has fast and slow
# phases): compare figures of one sitting only, and of one machine (it prints which).
# About 5 minutes.
# Usage: [ROUNDS=3] benches/simpy-ratio.sh [RUN_BARE] [PYTHON]   (from anywhere; PYTHON must
# have `simpy`, e.g. `python3 -m venv target/simpy && target/simpy/bin/pip install simpy`)
# RUN_BARE may be the profile-guided build's, target/pgo/release/examples/run_bare
# (benches/pgo-build.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
run_bare="${1:-target/release/examples/run_bare}"
python="${2:-target/simpy/bin/python}"
[ -x "$run_bare" ] || cargo build --release --example run_bare
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Each side's µs-per-message figures, in ROUNDS rounds (default 3) that alternate
# the two, so that both meet the VM's fast and slow phases: relaysim runs 5 times at
# 1× and 3 times at 10× per round, SimPy's model once. The min ratio sets each side's
# fastest run against the other's; the median ratio their medians.
rounds="${ROUNDS:-3}"
relaysim() { # FILE RUNS
  "$run_bare" "$1" "$2" | sed -E 's/.*: ([0-9.]+) µs per message.*/\1/'
}
# SimPy: its wall time over the messages it simulated (benches/simpy-messages.py).
simpy() { # RATE
  "$python" ../shared/bench/simpy_relay.py --rate "$1" | python3 benches/simpy-messages.py |
    awk '{ printf "%.2f\n", $2 * 1e6 / $1 }'
}
for _ in $(seq "$rounds"); do
  relaysim benches/data/simpy-equivalent.toml 5 >>"$work/relaysim1"
  simpy 0.01 >>"$work/simpy1"
  relaysim benches/data/simpy-equivalent-10x.toml 3 >>"$work/relaysim10"
  simpy 0.1 >>"$work/simpy10"
done
min_median() { # FILE
  sort -n "$1" | awk '{v[NR]=$1} END {printf "%s %s\n", v[1], v[int((NR+1)/2)]}'
}
ratio() { # LABEL SIDE
  read -r s sm < <(min_median "$work/simpy$2")
  read -r a am < <(min_median "$work/relaysim$2")
  awk -v l="$1" -v s="$s" -v sm="$sm" -v a="$a" -v am="$am" -v r="$rounds" 'BEGIN {
    printf "%s SimPy %s us/message min, %s median (%d runs); relaysim %s min, %s median: %.0fx (min), %.0fx (median)\n",
      l, s, sm, r, a, am, s / a, sm / am }'
}
# The ratio depends on the machine (CPython and relaysim gain differently from a
# newer processor: benches/README, fifteenth part): say which one this was.
cpu="$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)" || cpu=""
echo "machine: ${cpu:-unknown processor}, $(nproc) cores; $("$python" --version 2>&1)"
ratio "1x: " 1
ratio "10x:" 10
