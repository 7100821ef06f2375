#!/usr/bin/env bash
# A profile-guided build of relaysim: the same program, laid out by what a run does.
#
# 1. builds `relaysim` and `examples/run_bare` instrumented (-Cprofile-generate);
# 2. runs them on a training set that is not the benchmark: the two scenarios of
#    benches/data/pgo-train/ and the example scenarios (`relaysim run` with every
#    output, `run_bare` without any), a small sweep and the regression tests;
# 3. merges the counts with llvm-profdata (of the LLVM that rustc is built on);
# 4. builds both again with them (-Cprofile-use), with the release profile;
# 5. checks that the result gives the same outputs, byte for byte, as `cargo build
#    --release`: every example and benchmark scenario run with every output and
#    `--trace` by both. A build that differs is removed and the script fails, so no
#    benchmark ever measures a program other than the one users build.
#
# On the SimPy-equivalent scenario it takes a tenth to an eighth less time, on
# large-tenant-cap's run with every output about a quarter (benches/README.md,
# issue 14, tenth part).
#
# Usage: benches/pgo-build.sh [--only-relaysim]   (from anywhere; about 12 minutes
# on 2 cores, 5 more when the plain release build of step 5 is not yet built;
# --only-relaysim leaves out the benchmarks' run_bare, a link less)
# Writes $CARGO_TARGET_DIR (default target)/pgo/release/{relaysim,examples/run_bare};
# the instrumented build goes to .../pgo-generate, the counts to .../pgo-profiles.
# Needs llvm-profdata of rustc's LLVM version: `rustup component add llvm-tools`, or
# Debian's `apt-get install llvm-N` (N = the major version `rustc -vV` names).
set -euo pipefail
cd "$(dirname "$0")/.."
with_run_bare=true
case "${1:-}" in
  "") ;;
  --only-relaysim) with_run_bare=false ;;
  *)
    echo "usage: benches/pgo-build.sh [--only-relaysim]" >&2
    exit 2
    ;;
esac
root="$PWD"
target="${CARGO_TARGET_DIR:-target}"
case "$target" in /*) ;; *) target="$root/$target" ;; esac

# llvm-profdata must read what rustc's LLVM writes: the same major version.
llvm_major="$(rustc -vV | sed -n 's/^LLVM version: \([0-9]*\).*/\1/p')"
host="$(rustc -vV | sed -n 's/^host: //p')"
profdata=""
for candidate in \
  "$(rustc --print sysroot)/lib/rustlib/$host/bin/llvm-profdata" \
  "llvm-profdata-$llvm_major" \
  "/usr/lib/llvm-$llvm_major/bin/llvm-profdata" \
  "llvm-profdata"; do
  if command -v "$candidate" >/dev/null 2>&1 &&
    "$candidate" --version 2>/dev/null | grep -q "LLVM version $llvm_major\."; then
    profdata="$candidate"
    break
  fi
done
if [ -z "$profdata" ]; then
  echo "benches/pgo-build.sh: no llvm-profdata of LLVM $llvm_major (the version rustc is built on)." >&2
  echo "  install one: rustup component add llvm-tools, or apt-get install llvm-$llvm_major" >&2
  exit 1
fi

generate="$target/pgo-generate"
profiles="$target/pgo-profiles"
use="$target/pgo"
rm -rf "$profiles"
mkdir -p "$profiles"
# Each build its own target directory: other RUSTFLAGS rebuild every crate, and
# `target/release` stays the plain build. Any RUSTFLAGS of the caller are kept.
built=(--bin relaysim)
if [ "$with_run_bare" = true ]; then built+=(--example run_bare); fi
build() { # TARGET_DIR FLAG
  RUSTFLAGS="${RUSTFLAGS:-} $2" CARGO_TARGET_DIR="$1" \
    cargo build --release --locked --quiet "${built[@]}"
}

echo "pgo-build: 1/5 instrumented build ($generate)" >&2
build "$generate" "-Cprofile-generate=$profiles"

echo "pgo-build: 2/5 training runs" >&2
# Only the training's counts: build scripts, built instrumented too, left their own.
rm -f "$profiles"/*.profraw
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# A training or checking run that fails stops the build with its own words.
must_run() { # COMMAND...
  if ! "$@" >"$work/output" 2>&1; then
    echo "benches/pgo-build.sh: a run failed: $*" >&2
    cat "$work/output" >&2
    exit 1
  fi
}
export LLVM_PROFILE_FILE="$profiles/%p-%m.profraw"
for scenario in benches/data/pgo-train/*.toml scenarios/*.toml; do
  must_run "$generate/release/relaysim" run "$scenario" --out "$work/run" --overwrite
  if [ "$with_run_bare" = true ]; then
    must_run "$generate/release/examples/run_bare" "$scenario" 1
  fi
done
must_run "$generate/release/relaysim" sweep scenarios/helpdesk-burst.toml \
  --licences 50,250,1000 --seeds 2 --out "$work/sweep" --overwrite
must_run "$generate/release/relaysim" test scenarios/regression --jobs 2
unset LLVM_PROFILE_FILE

echo "pgo-build: 3/5 merging the counts ($profdata)" >&2
"$profdata" merge -o "$profiles/merged.profdata" "$profiles"/*.profraw
# Named by its content: Cargo rebuilds when RUSTFLAGS change, not when a file they
# name does, so new counts get a new name (the same counts, the same name).
counts="$profiles/relaysim-$(sha256sum "$profiles/merged.profdata" | cut -c1-16).profdata"
mv "$profiles/merged.profdata" "$counts"

echo "pgo-build: 4/5 optimised build ($use)" >&2
build "$use" "-Cprofile-use=$counts"

echo "pgo-build: 5/5 the same outputs as the release build ($target/release/relaysim)" >&2
# Profile-guided optimisation may only move code, never change what it computes: the
# plain release build (what `cargo build --release` and `cargo install` give users)
# and this one must write the same files.
CARGO_TARGET_DIR="$target" cargo build --release --locked --quiet --bin relaysim
for scenario in scenarios/*.toml benches/data/*.toml; do
  name="$(basename "$scenario" .toml)"
  must_run "$target/release/relaysim" run "$scenario" --trace --out "$work/same/release/$name"
  must_run "$use/release/relaysim" run "$scenario" --trace --out "$work/same/pgo/$name"
done
if ! diff -r "$work/same/release" "$work/same/pgo" >"$work/diff" 2>&1; then
  rm -f "$use/release/relaysim" "$use/release/examples/run_bare"
  echo "benches/pgo-build.sh: the profile-guided build writes other outputs than the release build:" >&2
  head -n 40 "$work/diff" >&2
  echo "  it is removed; the difference is a bug (code whose result depends on optimisation)." >&2
  exit 1
fi
if [ "$with_run_bare" = true ]; then
  echo "built $use/release/relaysim and $use/release/examples/run_bare" >&2
else
  echo "built $use/release/relaysim" >&2
fi
