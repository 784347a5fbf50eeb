#!/usr/bin/env bash
# A small fleet on one machine: PostgreSQL for the job queue and variants
# (tests/pg/pg.sh) and, with --db, the repository list, configs and refs;
# the loopback S3 test server for the packs (tests/s3/server.mjs); two
# `dits serve` and three `dits worker`, each with a ROOT of its own.
# The README demo's masters are pushed through server 1; the workers, woken
# by PostgreSQL's NOTIFY, make the proxies into the same S3 store; an
# editor clones from server 2 in proxy mode. Everything runs in a temporary
# directory that is removed on exit (keep it with DITS_DEMO_KEEP=1).
#
# Needs a build (meson setup build && ninja -C build), PostgreSQL 15's
# binaries, node with tests/s3/node_modules, and ffmpeg.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
DITS=${DITS:-$src/build/src/cli/dits}
[ -x "$DITS" ] || { echo "demo-cluster.sh: build first: meson setup build && ninja -C build" >&2; exit 1; }
demo=$(mktemp -d /tmp/dits-cluster.XXXXXX)
chmod 755 "$demo"
pids=()
cleanup () {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	bash "$src/tests/pg/pg.sh" stop "$demo/pg" || true
	if [ -z "${DITS_DEMO_KEEP:-}" ]; then rm -rf "$demo"; else echo "kept $demo"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
step () { echo "\$ dits $(printf '%q ' "$@")"; "$DITS" "$@"; }

echo "== PostgreSQL: the queue and the variants of every repository"
export DITS_METADB_URL
DITS_METADB_URL=$(bash "$src/tests/pg/pg.sh" start "$demo/pg")
echo "   $DITS_METADB_URL"

echo "== S3 (the loopback test server): the packs of every repository"
node --openssl-legacy-provider "$src/tests/s3/server.mjs" --dir "$demo/s3" --port-file "$demo/s3.port" \
	--bucket media >"$demo/s3.log" 2>&1 &
pids+=($!)
for _ in $(seq 300); do [ -s "$demo/s3.port" ] && break; sleep 0.1; done
[ -s "$demo/s3.port" ] || { cat "$demo/s3.log" >&2; exit 1; }
export AWS_ENDPOINT_URL=http://127.0.0.1:$(cat "$demo/s3.port")
export AWS_ACCESS_KEY_ID=DITSTESTKEY AWS_SECRET_ACCESS_KEY='dits-test-secret/KEY+1' AWS_REGION=us-east-1
STORE=s3://media/fleet
echo "   $AWS_ENDPOINT_URL, $STORE"

# Where each process finds the repositories: the list, configs, refs and
# metadata in PostgreSQL (--db), each process's ROOT only a local cache.
# Sharing one ROOT on one disk instead (no --db) is this one line:
#   fleet () { echo --root "$demo/root"; }
fleet () { echo --db "$DITS_METADB_URL" --root "$demo/cache-$1"; }
mkdir -p "$demo/root" "$demo"/cache-s1 "$demo"/cache-s2 "$demo"/cache-w1 "$demo"/cache-w2 "$demo"/cache-w3

echo "== two servers (no workers of their own) and three workers"
urls=()
for n in 1 2; do
	# shellcheck disable=SC2046
	"$DITS" serve $(fleet "s$n") --listen 127.0.0.1:0 --workers 0 --store "$STORE" \
		--store-cache-dir "$demo/blocks-s$n" >"$demo/serve$n.out" 2>"$demo/serve$n.log" &
	pids+=($!)
	for _ in $(seq 100); do grep -q '^listening on' "$demo/serve$n.out" && break; sleep 0.1; done
	url=$(sed -n 's/^listening on //p' "$demo/serve$n.out")
	[ -n "$url" ] || { cat "$demo/serve$n.log" >&2; exit 1; }
	urls+=("$url")
	echo "   server $n: $url"
done
for n in 1 2 3; do
	# shellcheck disable=SC2046
	"$DITS" worker $(fleet "w$n") --workers 1 --json --store "$STORE" \
		--store-cache-dir "$demo/blocks-w$n" >"$demo/worker$n.out" 2>"$demo/worker$n.log" &
	pids+=($!)
	echo "   worker $n: pid $!"
done

echo "== the README demo's masters: two UHD ProRes 422 HQ clips with timecode and four channels"
make_master () { # name timecode hue
	ffmpeg -nostdin -loglevel error -y \
		-f lavfi -i "testsrc2=size=3840x2160:rate=24000/1001:duration=3,hue=h=$3" \
		-f lavfi -i "sine=frequency=440:sample_rate=48000:duration=3" \
		-filter_complex "[1:a]pan=4c|c0=c0|c1=c0|c2=c0|c3=c0[a]" -map 0:v -map "[a]" \
		-c:v prores_ks -profile:v 3 -pix_fmt yuv422p10le -c:a pcm_s24le \
		-timecode "$2" "$1"
}
cd "$demo"
export DITS_PROXY_AUTO=0 # the fleet makes the proxies, not a local background worker
step init project
cd project
mkdir A001
make_master A001/A001C001.mov 01:00:00:00 0
make_master A001/A001C002.mov 01:00:10:00 90
step add A001 >/dev/null
step commit -m "Day 1 camera originals"
step remote add origin "${urls[0]}/project"
unset DITS_PROXY_AUTO # the server queues the proxies of what a push brings
t0=$(date +%s.%N)
step push origin main

echo "== waiting for the workers (woken by NOTIFY) to make both proxies"
ready=0
for _ in $(seq 600); do
	ready=$(curl -s "${urls[1]}/project/variants" | { grep -o '"type":"proxy_1080p","status":"ready"' || true; } | wc -l)
	[ "$ready" -ge 2 ] && break
	sleep 0.5
done
t1=$(date +%s.%N)
[ "$ready" -ge 2 ] || { echo "only $ready of 2 proxies ready" >&2; cat "$demo"/worker*.log >&2; exit 1; }
awk -v a="$t0" -v b="$t1" 'BEGIN { printf "   both proxies ready %.1f s after the push\n", b - a }'
for n in 1 2 3; do
	echo "   worker $n: $(grep -c '"state": "ready"' "$demo/worker$n.out" || true) job(s)"
	sed 's/^/      /' "$demo/worker$n.out"
done
echo "   packs in S3: $(find "$demo/s3" -name '*.pack*' | wc -l) objects under $STORE"

echo "== an editor clones from server 2 in proxy mode"
cd "$demo"
step clone "${urls[1]}/project" editor --mode proxy
cd editor
step mode
echo
echo "Pushed through server 1, proxies made by the workers into S3, cloned from server 2."
