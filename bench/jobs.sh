#!/usr/bin/env bash
# bench/jobs.sh - job claiming throughput: W worker processes claim and
# complete N no-op jobs through the metadb API, on SQLite (a file, WAL) and on
# PostgreSQL (a server tests/pg/pg.sh starts on loopback, fsync on,
# synchronous_commit off: like SQLite's WAL with synchronous=NORMAL, a crash
# may lose the last commits but never leaves a half-written one). Every run
# also checks that no job was claimed twice and every job was done once.
#
# usage: bench/jobs.sh [--jobs N] [--workers W] [--runs R]
#   defaults: 10000 jobs, 8 workers, 3 runs (median reported)
# env: BUILD=build directory (default build)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
JOBS=10000
WORKERS=8
RUNS=3
while [ $# -gt 0 ]; do
	case $1 in
	--jobs) JOBS=$2; shift 2 ;;
	--workers) WORKERS=$2; shift 2 ;;
	--runs) RUNS=$2; shift 2 ;;
	*) echo "usage: bench/jobs.sh [--jobs N] [--workers W] [--runs R]" >&2; exit 2 ;;
	esac
done
BIN=$BUILD/tests/unit/test_metadb_claim
[ -x "$BIN" ] || { echo "bench/jobs.sh: $BIN is missing: ninja -C $BUILD" >&2; exit 1; }
export DITS_CLAIM_JOBS=$JOBS DITS_CLAIM_WORKERS=$WORKERS

# rate LINE: the jobs/s figure of a result line
rate () { sed -n 's/.* \([0-9]*\) jobs\/s.*/\1/p'; }
median () { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

run_backend () { # name, command...
	local name=$1 out rates=()
	shift
	for _ in $(seq "$RUNS"); do
		out=$("$@" | grep '^claim:') || { echo "bench/jobs.sh: $name run failed" >&2; exit 1; }
		echo "  $out" >&2
		rates+=("$(printf '%s\n' "$out" | rate)")
	done
	printf '%s\n' "${rates[@]}" | median
}

echo "claiming $JOBS no-op jobs with $WORKERS worker processes, $RUNS runs each" >&2
sq=$(run_backend sqlite env -u DITS_TEST_PG_URL "$BIN")
export PG_SERVER_OPTS="-c synchronous_commit=off"
pg=$(run_backend postgresql bash tests/pg/pg.sh run "$BIN")
echo "| backend | jobs/s (median of $RUNS) |"
echo "|---|---|"
echo "| SQLite (WAL, synchronous=NORMAL) | $sq |"
echo "| PostgreSQL 15 (loopback, synchronous_commit=off) | $pg |"
awk -v a="$pg" -v b="$sq" 'BEGIN { printf "PostgreSQL / SQLite: %.2fx\n", a / b }'
