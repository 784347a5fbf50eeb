#!/usr/bin/env bash
# bench/fleet.sh - what a fleet costs per request: `dits serve --store`
# with refs in files against `dits serve --store --db` (refs, catalog and
# metadata in PostgreSQL), both on the S3 test server (tests/s3/server.mjs)
# and a PostgreSQL that tests/pg/pg.sh starts on loopback. Measures
# GET /NAME/refs (one curl each), GET /NAME/render (the render queue: one
# read of the metadata database) and a small commit + push (the client's
# whole round: refs, have, objects, refs update).
#
# usage: bench/fleet.sh [--requests N] [--pushes P]
#   defaults: 200 requests, 20 pushes
# env: BUILD=build directory (default build)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
REQUESTS=200
PUSHES=20
while [ $# -gt 0 ]; do
	case $1 in
	--requests) REQUESTS=$2; shift 2 ;;
	--pushes) PUSHES=$2; shift 2 ;;
	*) echo "usage: bench/fleet.sh [--requests N] [--pushes P]" >&2; exit 2 ;;
	esac
done
if [ -z "${DITS_TEST_PG_URL:-}" ]; then
	exec bash tests/pg/pg.sh run env BUILD="$BUILD" bash "$0" --requests "$REQUESTS" --pushes "$PUSHES"
fi
DITS=$PWD/$BUILD/src/cli/dits
d=$(mktemp -d /tmp/dits-bench-fleet.XXXXXX)
pids=()
cleanup () {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$d"
}
trap cleanup EXIT
node --openssl-legacy-provider tests/s3/server.mjs --dir "$d/s3" --port-file "$d/s3port" \
	--bucket bench >"$d/s3.log" 2>&1 &
pids+=($!)
for _ in $(seq 300); do [ -s "$d/s3port" ] && break; sleep 0.1; done
export AWS_ENDPOINT_URL=http://127.0.0.1:$(cat "$d/s3port")
export AWS_ACCESS_KEY_ID=DITSTESTKEY AWS_SECRET_ACCESS_KEY='dits-test-secret/KEY+1' AWS_REGION=us-east-1
mkdir -p "$d/files" "$d/fleet"
"$DITS" serve --root "$d/files" --listen 127.0.0.1:0 --workers 0 --store s3://bench/files >"$d/files.out" 2>&1 &
pids+=($!)
"$DITS" serve --root "$d/fleet" --listen 127.0.0.1:0 --workers 0 --store s3://bench/fleet \
	--db "$DITS_TEST_PG_URL" >"$d/fleet.out" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q listening "$d/files.out" && grep -q listening "$d/fleet.out" && break; sleep 0.1; done
ms () { echo "($2 - $1) * 1000 / $3" | bc -l | xargs printf '%.1f'; }
for kind in files fleet; do
	url=$(sed -n 's/^listening on //p' "$d/$kind.out")
	(cd "$d" && "$DITS" init "w-$kind" >/dev/null && cd "w-$kind" && echo 0 >f &&
	 "$DITS" add f >/dev/null && "$DITS" commit -m 0 >/dev/null &&
	 "$DITS" remote add origin "$url/film" && "$DITS" push >/dev/null)
	curl -sf "$url/film/refs" >/dev/null
	s=$(date +%s.%N)
	for _ in $(seq "$REQUESTS"); do curl -sf "$url/film/refs" >/dev/null; done
	e=$(date +%s.%N)
	refs=$(ms "$s" "$e" "$REQUESTS")
	s=$(date +%s.%N)
	for _ in $(seq "$REQUESTS"); do curl -sf "$url/film/render" >/dev/null; done
	e=$(date +%s.%N)
	queue=$(ms "$s" "$e" "$REQUESTS")
	s=$(date +%s.%N)
	(cd "$d/w-$kind" && for i in $(seq "$PUSHES"); do
		echo "$i" >>f && "$DITS" add f >/dev/null && "$DITS" commit -m "$i" >/dev/null &&
		"$DITS" push >/dev/null; done)
	e=$(date +%s.%N)
	echo "$kind: GET /NAME/refs $refs ms, GET /NAME/render $queue ms, commit + push $(ms "$s" "$e" "$PUSHES") ms (mean of $REQUESTS and $PUSHES)"
done
