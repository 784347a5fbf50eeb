#!/usr/bin/env bash
# Installs the dependencies, builds with warnings as errors, and runs every
# test twice: once on the release build and once under ASan/UBSan.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh

run_suite() { # builddir, meson options...
  local dir=$1; shift
  if [ -d "$dir" ]; then meson setup --reconfigure "$dir" "$@" >/dev/null; else meson setup "$dir" "$@" >/dev/null; fi
  ninja -C "$dir"
  meson test -C "$dir" --print-errorlogs --num-processes 2 2>&1 | tee "$dir/test-summary.txt"
}

# The 8K masters of the sync stories take a while to encode: both builds share them.
export DITS_TEST_MEDIA_CACHE=${DITS_TEST_MEDIA_CACHE:-$PWD/build-test-media}

status=0
run_suite build-release --buildtype=release -Dwerror=true || status=1
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  run_suite build-asan --buildtype=debugoptimized -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false || status=1

ok=0; bad=0
for f in build-release/test-summary.txt build-asan/test-summary.txt; do
  [ -f "$f" ] || { bad=$((bad + 1)); continue; }
  o=$(awk '/^Ok:/ {print $2}' "$f"); x=$(awk '/^(Fail|Timeout|Unexpected Pass):/ {s += $NF} END {print s + 0}' "$f")
  ok=$((ok + ${o:-0})); bad=$((bad + ${x:-0}))
done
echo "${ok} passed, ${bad} failed"
[ "$status" = 0 ] && [ "$bad" = 0 ]
