#!/bin/bash
# CI step: a sweep as a Slurm job array on a real one-node Slurm (tests/slurm/
# cluster.sh), merged, and compared byte for byte with the same sweep run in one
# process; then one shard lost and rerun alone (sbatch --array=N) and merged again.
# Usage: tests/slurm/sweep.sh RELAYSIM WORKDIR
set -euo pipefail
relaysim=$(realpath "$1")
work=$2
cd "$(dirname "$0")/../.."
source tests/slurm/cluster.sh
rm -rf "$work"
mkdir -p "$work"
started=$SECONDS

fail() {
  echo "FAIL: $*"
  squeue -a -l 2>/dev/null || true
  for f in "$work"/slurm/logs/*.out; do [ -f "$f" ] && { echo "---- $f"; cat "$f"; }; done
  slurm_logs
  stop_cluster
  exit 1
}
trap 'fail "line $LINENO: a command failed"' ERR

start_cluster || { stop_cluster; exit 1; }

# 3 licence counts × 2 replicates × 2 values of a --vary key = 12 runs, 4 shards.
sweep=(sweep scenarios/helpdesk-burst.toml --licences 200,300,400 --seeds 2
       --vary relay.dos.max_messages_per_connection=100,500 --deadline 10m)
"$relaysim" "${sweep[@]}" --emit-slurm "$work/slurm" --shards 4 --jobs 1
"$relaysim" "${sweep[@]}" --jobs 2 --out "$work/local" > "$work/local.out"

# Waits until none of the jobs $@ is in the queue; a job held by a dependency that
# can never be met (a failed array task) fails the step.
wait_for_jobs() {
  local deadline=$((SECONDS + 240)) left
  while :; do
    left=$(squeue -h -j "$(IFS=,; echo "$*")" -o '%i %T %r' 2>/dev/null || true)
    [ -z "$left" ] && return 0
    if grep -q DependencyNeverSatisfied <<<"$left"; then
      fail "a job waits on a dependency that cannot be met: $left"
    fi
    [ $SECONDS -lt $deadline ] || fail "the jobs did not finish in 240 s: $left"
    sleep 1
  done
}

# Job ids of the array and the merge from submit.sh's last line.
out=$("$work/slurm/submit.sh")
echo "$out"
ids=$(sed -E 's/.*job array ([0-9]+).*merge job ([0-9]+).*/\1 \2/' <<<"$out")
# shellcheck disable=SC2086
wait_for_jobs $ids
cat "$work"/slurm/logs/merge.out
diff -r "$work/local" "$work/slurm/merged" || fail "the merged sweep differs from the one-process sweep"
echo "Slurm: the job array's merged sweep = the one-process sweep, byte for byte ($(ls "$work/local" | wc -l) files)"

# A shard lost: merge names it; rerun alone, it runs only its runs; merged again.
rm -rf "$work/slurm/shards/shard-2"
if "$relaysim" sweep merge "$work"/slurm/shards/shard-* --out "$work/partial" 2> "$work/partial.err"; then
  fail "merge accepted a sweep without shard 2"
fi
grep -q "Slurm: sbatch --array=2 sweep.sbatch" "$work/partial.err" || { cat "$work/partial.err"; fail "merge did not name shard 2"; }
(cd "$work/slurm" && rerun=$(sbatch --parsable --array=2 sweep.sbatch) && echo "$rerun" > rerun.id)
wait_for_jobs "$(cut -d';' -f1 "$work/slurm/rerun.id")"
grep -q "shard 2/4: ran 3 of its 3 runs" "$work/slurm/logs/shard-2.out" || { cat "$work/slurm/logs/shard-2.out"; fail "the rerun shard did not run its 3 runs"; }
(cd "$work/slurm" && merge=$(sbatch --parsable merge.sbatch) && echo "$merge" > merge.id)
wait_for_jobs "$(cat "$work/slurm/merge.id")"
diff -r "$work/local" "$work/slurm/merged" || fail "after the rerun, the merged sweep differs"
echo "Slurm: shard 2 lost, named by merge, rerun alone with sbatch --array=2, merged again: the same sweep"

trap - ERR
stop_cluster
echo "Slurm step: $((SECONDS - started)) s"
