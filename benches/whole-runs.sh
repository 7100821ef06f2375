#!/usr/bin/env bash
# The whole-run measurements that criterion cannot take (peak memory, a run's wall
# time with and without the trace), as reported in benches/README.md:
#   - the 10,000-sender SimPy scenario (`gen_scenario.py --senders 10000`, 24 h):
#     wall time and peak RSS;
#   - a 100,000-member population (`benches/data/population-100000.toml`, a day):
#     wall time and peak RSS;
#   - `large-tenant-cap.toml` over 30 days, without and with `--trace`, alternated
#     (this machine varies by ±15 % between runs of the same binary).
# Usage: benches/whole-runs.sh [RELAYSIM] [PAIRS]   (from the project root; needs
# ../shared/bench/gen_scenario.py and /usr/bin/time)
set -euo pipefail
cd "$(dirname "$0")/.."
relaysim="${1:-target/release/relaysim}"
pairs="${2:-2}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

python3 ../shared/bench/gen_scenario.py --senders 10000 --out "$work/senders-10000.toml" >/dev/null
/usr/bin/time -f "10,000 senders, 24 h: %e s wall, %M KB peak RSS" \
  "$relaysim" run "$work/senders-10000.toml" --out "$work/senders" >/dev/null
/usr/bin/time -f "100,000-member population, 24 h: %e s wall, %M KB peak RSS" \
  "$relaysim" run benches/data/population-100000.toml --out "$work/population" >/dev/null

for _ in $(seq "$pairs"); do
  /usr/bin/time -f "30 days, no trace: %e s wall" \
    "$relaysim" run scenarios/large-tenant-cap.toml --set simulation.duration=30d --out "$work/plain" --overwrite >/dev/null
  /usr/bin/time -f "30 days, --trace:  %e s wall" \
    "$relaysim" run scenarios/large-tenant-cap.toml --set simulation.duration=30d --out "$work/trace" --overwrite --trace >/dev/null
  ls -l "$work/trace/transactions.csv.zst" | awk '{print "trace file: " $5 " bytes"}'
done
