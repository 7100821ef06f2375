#!/usr/bin/env bash
# The SimPy ratio of issue 14 in instructions, not time: how many instructions each
# side executes per simulated message on the SimPy-equivalent scenario, counted by
# valgrind (`--tool=cachegrind --cache-sim=no`: every instruction the program
# executes; for the same binaries much the same count on any x86-64 machine, where
# only the vector code that glibc and ChaCha pick for the processor moves it). Unlike
# `simpy-ratio.sh` it does not move with a noisy machine; unlike it, it does not
# say how fast either side runs (the two retire their instructions at different
# rates: benches/README, seventeenth part).
#
# Each side's count is its timed part only, as the difference of two runs:
# relaysim's `run_bare SCENARIO 2` minus `run_bare SCENARIO 1` (one run: loading
# and parsing the scenario cancel), SimPy's `--hours 24` minus `--hours 0` (its
# event loop: the interpreter's start and the imports cancel).
#
# Usage: benches/simpy-instructions.sh [TRAFFIC...] (from anywhere; TRAFFIC is 1
# and/or 10, default 1: 1x takes about 3 minutes, 10x about 40 — SimPy's model
# under valgrind). Environment: RUN_BARE (default target/release/examples/run_bare),
# PYTHON (default target/simpy/bin/python, with `simpy`, as for simpy-ratio.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
run_bare="${RUN_BARE:-target/release/examples/run_bare}"
python="${PYTHON:-target/simpy/bin/python}"
command -v valgrind >/dev/null || {
    echo "valgrind is not installed (Debian: apt-get install valgrind)" >&2
    exit 1
}
[ -x "$run_bare" ] || cargo build --release --example run_bare
"$python" -c 'import simpy' 2>/dev/null || {
    echo "$python cannot import simpy: python3 -m venv target/simpy && target/simpy/bin/pip install simpy" >&2
    exit 1
}

# Instructions executed by a command (its output goes to $work/out).
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
instructions() { # COMMAND...
    valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \
        "$@" >"$work/out" 2>"$work/valgrind" || {
        echo "failed under valgrind: $*" >&2
        tail -5 "$work/valgrind" >&2
        return 1
    }
    sed -n 's/.*I *refs: *//p' "$work/valgrind" | tr -d ','
}

for traffic in "${@:-1}"; do
    case "$traffic" in
    1) scenario=benches/data/simpy-equivalent.toml rate=0.01 ;;
    10) scenario=benches/data/simpy-equivalent-10x.toml rate=0.1 ;;
    *)
        echo "TRAFFIC must be 1 or 10, not '$traffic'" >&2
        exit 2
        ;;
    esac
    one=$(instructions "$run_bare" "$scenario" 1)
    two=$(instructions "$run_bare" "$scenario" 2)
    # "172343 messages, … µs per message (fingerprint …)": the messages of one run.
    messages=$(sed -n '1s/ messages,.*//p' "$work/out")
    # A fixed string-hash seed: CPython's hashing is otherwise seeded afresh in each
    # process, and its instruction count moves by a few in ten thousand with it.
    setup=$(PYTHONHASHSEED=0 instructions "$python" ../shared/bench/simpy_relay.py --rate "$rate" --hours 0)
    full=$(PYTHONHASHSEED=0 instructions "$python" ../shared/bench/simpy_relay.py --rate "$rate")
    # SimPy's messages as simpy-ratio.sh counts them (benches/simpy-messages.py).
    read -r simpy_messages _ < <(python3 benches/simpy-messages.py <"$work/out")
    awk -v t="$traffic" -v r1="$one" -v r2="$two" -v rm="$messages" \
        -v s0="$setup" -v s1="$full" -v sm="$simpy_messages" 'BEGIN {
        rs = (r2 - r1) / rm; ss = (s1 - s0) / sm
        printf "%sx: relaysim %.0f instructions per message (%.0f over %d messages), SimPy %.0f (%.0f over %d): %.1fx\n",
            t, rs, r2 - r1, rm, ss, s1 - s0, sm, ss / rs }'
done
echo "($("$python" --version 2>&1); $(valgrind --version))"
