#!/usr/bin/env bash
# How much instruction cache one simulated message needs: instructions and
# instruction-cache misses per message on the SimPy-equivalent scenario, counted by
# cachegrind's cache model with a first-level instruction cache of 32 KiB (this
# machine's per core) and of 16 KiB (what is left to one thread when another one on
# the same core runs code of its own). A per-message path whose code does not fit
# misses on nearly every line it runs at the smaller size; a build that lays its hot
# code out tighter (the profile-guided one of benches/pgo-build.sh) misses less.
# Counts, not times: the same for the same binary on any x86-64 machine, whatever
# else the machine is doing (benches/README.md, issue 14, twenty-first part).
#
# Each count is the difference of `run_bare SCENARIO 2` and `run_bare SCENARIO 1`:
# one run without loading the scenario.
#
# Usage: benches/icache.sh [RUN_BARE...] (from anywhere; default
# target/release/examples/run_bare; about a minute per binary). Environment:
# SCENARIO (default benches/data/simpy-equivalent.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
scenario="${SCENARIO:-benches/data/simpy-equivalent.toml}"
command -v valgrind >/dev/null || {
    echo "valgrind is not installed (Debian: apt-get install valgrind)" >&2
    exit 1
}
[ -f "$scenario" ] || {
    echo "no scenario $scenario (set SCENARIO to a scenario file)" >&2
    exit 2
}
if [ $# -eq 0 ]; then
    [ -x target/release/examples/run_bare ] || cargo build --release --example run_bare
    set -- target/release/examples/run_bare
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# "INSTRUCTIONS I1-MISSES" of RUN_BARE's RUNS runs with an I1 of SIZE bytes (8-way,
# 64-byte lines; D1 48 KiB and a 2 MiB last level as on this machine's cores).
counts() { # RUN_BARE SIZE RUNS
    valgrind --tool=cachegrind --cache-sim=yes --I1="$2",8,64 --D1=49152,12,64 \
        --LL=2097152,16,64 --cachegrind-out-file=/dev/null "$1" "$scenario" "$3" \
        >"$work/out" 2>"$work/valgrind" || {
        echo "failed under valgrind: $1 $scenario $3" >&2
        tail -5 "$work/valgrind" >&2
        return 1
    }
    awk '/I *refs:/ { gsub(",", "", $4); i = $4 }
         /I1 *misses:/ { gsub(",", "", $4); m = $4 }
         END { print i, m }' "$work/valgrind"
}

for run_bare in "$@"; do
    [ -x "$run_bare" ] || {
        echo "$run_bare is not an executable (build it: cargo build --release --example run_bare)" >&2
        exit 2
    }
    for size in 32768 16384; do
        read -r i1 m1 < <(counts "$run_bare" "$size" 1)
        read -r i2 m2 < <(counts "$run_bare" "$size" 2)
        # "172343 messages, …": the messages of one run.
        messages=$(sed -n '1s/ messages,.*//p' "$work/out")
        awk -v b="$run_bare" -v s="$size" -v i1="$i1" -v i2="$i2" -v m1="$m1" \
            -v m2="$m2" -v n="$messages" 'BEGIN {
            printf "%s, I1 %d KiB: %.0f instructions and %.1f I1 misses per message (%d messages)\n",
                b, s / 1024, (i2 - i1) / n, (m2 - m1) / n, n }'
    done
done
