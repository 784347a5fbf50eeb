#!/usr/bin/env bash
# Installs the dependencies, builds with warnings as errors, and runs:
#   - every test on the release build,
#   - every test again under ASan/UBSan,
#   - the threaded parts (server, sync, workers, mount, status) under
#     ThreadSanitizer,
#   - each fuzz target for a bounded time (scripts/fuzz.sh).
# The last line is "N passed, N failed" over all of it (docs/TESTING.md).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh

run_suite() { # builddir, meson options... [-- meson test arguments...]
  local dir=$1; shift
  local opts=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do opts+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  rm -f "$dir/test-summary.txt" # no stale counts when the build fails
  if [ -d "$dir" ]; then meson setup --reconfigure "$dir" "${opts[@]}" >/dev/null; else meson setup "$dir" "${opts[@]}" >/dev/null; fi
  ninja -C "$dir"
  meson test -C "$dir" --print-errorlogs --num-processes 2 "$@" 2>&1 | tee "$dir/test-summary.txt"
}

# The 8K masters of the sync stories take a while to encode: the builds share them.
export DITS_TEST_MEDIA_CACHE=${DITS_TEST_MEDIA_CACHE:-$PWD/build-test-media}

status=0
timing=()
t0=$SECONDS
# Suite e2e-extra (variants of stories CI covers otherwise) stays out:
# docs/TESTING.md, "A fleet".
run_suite build-release --buildtype=release -Dwerror=true -- --no-suite e2e-extra || status=1
timing+=("release $((SECONDS - t0))s")

t0=$SECONDS
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  run_suite build-asan --buildtype=debugoptimized -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false || status=1
timing+=("asan+ubsan $((SECONDS - t0))s")

# ThreadSanitizer on what runs threads: the server (request threads, and
# the worker threads making proxies in t1300), sync (parallel transfers),
# the job queue (unit-metadb), the mount, status's parallel walk, the S3
# client's parallel part uploads (net-s3-client), the S3 pack backend's
# readers sharing one store (net-odb-s3). The
# encoder tests (media-proxy) are left out: under TSan they take ten
# minutes, and t1300 already runs a worker thread through a whole job. Suppressions only for uninstrumented system
# libraries (tests/tsan.supp says why for each).
t0=$SECONDS
TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/tests/tsan.supp" \
  run_suite build-tsan --buildtype=debugoptimized -Dwerror=true -Db_sanitize=thread -- \
  --timeout-multiplier 3 \
  unit-metadb unit-wire t0400-status-statcache t1100-mount t1300-serve t1400-sync net-s3-client net-odb-s3 \
  || status=1
timing+=("tsan $((SECONDS - t0))s")

# Fuzzing: a few minutes in all; a crash fails the run and names its reproducer.
t0=$SECONDS
FUZZ_SECONDS=${FUZZ_SECONDS:-20} bash scripts/fuzz.sh || status=1
timing+=("fuzz $((SECONDS - t0))s")
echo "timing: ${timing[*]}"

ok=0; bad=0
for f in build-release/test-summary.txt build-asan/test-summary.txt build-tsan/test-summary.txt \
         build-fuzz/fuzz-summary.txt; do
  [ -f "$f" ] || { bad=$((bad + 1)); continue; }
  o=$(awk '/^Ok:/ {print $2}' "$f"); x=$(awk '/^(Fail|Timeout|Unexpected Pass):/ {s += $NF} END {print s + 0}' "$f")
  ok=$((ok + ${o:-0})); bad=$((bad + ${x:-0}))
done
echo "${ok} passed, ${bad} failed"
[ "$status" = 0 ] && [ "$bad" = 0 ]
