#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz (clang, ASan+UBSan, -Dfuzz=true)
# and fuzzes each for a bounded time on a copy of its seed corpus and saved
# regressions. Exits non-zero when any target crashes, leaks, times out or
# runs out of memory, printing the reproducer's path. See docs/TESTING.md.
#   scripts/fuzz.sh [NAME...]        (default: every target in tests/fuzz/meson.build)
# Environment:
#   FUZZ_SECONDS   fuzzing time per target (default 20)
#   FUZZ_BUILD     build directory (default build-fuzz)
#   FUZZ_JOBS      targets fuzzed at once (default 1)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${FUZZ_SECONDS:-20}
dir=${FUZZ_BUILD:-build-fuzz}
jobs=${FUZZ_JOBS:-1}

rm -f "$dir/fuzz-summary.txt" # no stale counts when the build fails
opts=(--buildtype=debugoptimized -Dwerror=true -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false)
if [ -d "$dir" ]; then
	CC=clang meson setup --reconfigure "$dir" "${opts[@]}" >/dev/null
else
	CC=clang meson setup "$dir" "${opts[@]}" >/dev/null
fi

if [ $# -gt 0 ]; then
	targets=("$@")
else
	# the one list: tests/fuzz/meson.build's fuzz_targets
	mapfile -t targets < <(sed -n '/^fuzz_targets = \[/,/^\]/p' tests/fuzz/meson.build |
		sed -n "s/^[[:space:]]*'\([a-z0-9_]*\)',\{0,1\}.*/\1/p")
fi
ninja -C "$dir" $(printf "tests/fuzz/fuzz_%s " "${targets[@]}")

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:symbolize=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
art=$PWD/$dir/fuzz-artifacts
rm -rf "$art"
mkdir -p "$art"

run_one () { # NAME: fuzz one target; 0 when it found nothing
	local name=$1 work=$art/$1
	mkdir -p "$work/corpus"
	# a copy: the run adds inputs to it, the committed seeds stay as they are
	cp -r tests/fuzz/corpus/"$name"/. "$work/corpus/" 2>/dev/null || true
	cp -r tests/fuzz/regressions/"$name"/. "$work/corpus/" 2>/dev/null || true
	local rc=0
	"$dir/tests/fuzz/fuzz_$name" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-max_len=65536 -print_final_stats=1 -artifact_prefix="$work/" "$work/corpus" \
		>"$work/log" 2>&1 || rc=$?
	local found
	found=$(find "$work" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | head -n 1)
	if [ "$rc" -ne 0 ] || [ -n "$found" ]; then
		echo "fuzz $name: FAILED (exit $rc)"
		grep -E 'ERROR|SUMMARY' "$work/log" | head -n 5 | sed 's/^/  /'
		echo "  reproducer: ${found:-none written; see $work/log}"
		echo "  replay it:  $dir/tests/fuzz/fuzz_$name ${found:-INPUT}"
		echo "  log:        $work/log"
		return 1
	fi
	echo "fuzz $name: ok ($(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log") runs in ${secs}s)"
}

ok=0 bad=0
if [ "$jobs" -gt 1 ]; then
	pids=() names=()
	for t in "${targets[@]}"; do
		run_one "$t" &
		pids+=($!) names+=("$t")
		if [ "${#pids[@]}" -ge "$jobs" ]; then
			if wait "${pids[0]}"; then ok=$((ok + 1)); else bad=$((bad + 1)); fi
			pids=("${pids[@]:1}")
		fi
	done
	for p in "${pids[@]}"; do
		if wait "$p"; then ok=$((ok + 1)); else bad=$((bad + 1)); fi
	done
else
	for t in "${targets[@]}"; do
		if run_one "$t"; then ok=$((ok + 1)); else bad=$((bad + 1)); fi
	done
fi
# the same counts as meson test's summary, for scripts/test.sh to add up
printf 'Ok:                 %d\nFail:               %d\n' "$ok" "$bad" >"$dir/fuzz-summary.txt"
echo "fuzz: $ok targets found nothing, $bad failed"
[ "$bad" -eq 0 ]
