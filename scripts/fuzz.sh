#!/usr/bin/env bash
# Runs every cargo-fuzz target under fuzz/ for a fixed number of executions (not part of CI).
#
#   scripts/fuzz.sh [RUNS] [TARGET...]      default: 1000000 runs of aggregate, offsets, mask_png, image_decode
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). Corpora grow under
# fuzz/corpus/<target>; crashes are written to fuzz/artifacts/<target>/. Prints one summary line
# per target (executions, seconds, crashes) and exits non-zero if any target crashed.
set -uo pipefail
cd "$(dirname "$0")/../fuzz"

runs=${1:-1000000}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(aggregate offsets mask_png image_decode)
cargo +nightly fuzz build --release || exit 1

status=0
summary=()
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target" "artifacts/$target"
  log=$(mktemp)
  start=$(date +%s)
  cargo +nightly fuzz run --release "$target" "corpus/$target" -- \
    -runs="$runs" -max_len=4096 -timeout=20 -rss_limit_mb=4096 -print_final_stats=1 \
    >"$log" 2>&1
  rc=$?
  secs=$(( $(date +%s) - start ))
  execs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' | tail -1)
  crashes=$(find "artifacts/$target" -type f \( -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' \) | wc -l)
  if [ "$rc" -ne 0 ]; then
    status=1
    tail -40 "$log"
  fi
  summary+=("$target: ${execs:-?} execs in ${secs}s, exit $rc, ${crashes} crash/oom/timeout artifacts")
  rm -f "$log"
done
printf '%s\n' "${summary[@]}"
exit "$status"
