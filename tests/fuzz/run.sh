#!/usr/bin/env bash
# Fuzzes every target that has a seed corpus (tests/fuzz/corpus/<target>/) for a bounded time, two targets at a time
# (one per core), and fails on any crash, leak, timeout or sanitizer report. New inputs go to a scratch folder, so the
# committed corpus stays as is.
#   usage: tests/fuzz/run.sh <build-dir configured with -DLAMINA_BUILD_FUZZERS=ON> [seconds per target, default 60]
set -euo pipefail
build=$1 seconds=${2:-60}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fuzz_one() {  # fuzz_one <corpus dir>: prints one summary line, or the log tail and the reproducer on failure
  local corpus=$1 target log
  target=$(basename "$corpus")
  log="$work/$target.log"
  mkdir -p "$work/$target"
  # -rss_limit_mb and -malloc_limit_mb catch inputs that make a parser ask for absurd memory; -timeout catches hangs.
  if ! "$build/tests/fuzz/fuzz_$target" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 \
       -malloc_limit_mb=1024 -print_final_stats=1 -artifact_prefix="$work/$target-" "$work/$target" "$corpus" \
       >"$log" 2>&1; then
    tail -n 60 "$log"
    echo "fuzz_$target FAILED; reproducer: $(ls "$work/$target"-* 2>/dev/null | head -1)" >&2
    mkdir -p "$build/fuzz-artifacts" && cp "$work/$target"-* "$build/fuzz-artifacts/" 2>/dev/null || true
    return 1
  fi
  echo "fuzz_$target: $(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | grep -o '[0-9]*$') executions in" \
       "${seconds}s, corpus $(ls "$work/$target" | wc -l) new + $(ls "$corpus" | wc -l) seeds"
}

failed=0 running=0
for corpus in "$here"/corpus/*/; do
  if (( running == 2 )); then wait -n || failed=1; running=$((running - 1)); fi
  fuzz_one "$corpus" &
  running=$((running + 1))
done
while (( running > 0 )); do wait -n || failed=1; running=$((running - 1)); done
exit $failed
