#!/usr/bin/env bash
# bench/wake.sh - how long a job queued by one process waits before an idle
# worker of another process claims it: `dits serve --workers 1` with its
# repositories' metadata in PostgreSQL (tests/pg/pg.sh on loopback), and
# `dits proxy generate --queue` from the CLI. A PL/pgSQL loop inside the
# database times each job from the moment its row is visible to the moment
# it is no longer queued (0.5 ms polling), so no client's start-up counts.
#
# usage: bench/wake.sh [N]         N jobs (default 6), one at a time, queued
#                                  at random offsets from the server's looks
# env: BUILD=build directory (default build); SERVE=the dits that serves
#      (default $BUILD/src/cli/dits; give an older build to compare)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
N=${1:-6}
DITS=$PWD/$BUILD/src/cli/dits
SERVE=${SERVE:-$DITS}
PSQL=${PGBIN:-/usr/lib/postgresql/15/bin}/psql
src=$PWD
d=$(mktemp -d /tmp/dits-wake.XXXXXX)
chmod 755 "$d"
sp=
cleanup () {
	[ -z "$sp" ] || { kill "$sp" 2>/dev/null; wait "$sp" 2>/dev/null || true; }
	bash "$src/tests/pg/pg.sh" stop "$d/pg"
	rm -rf "$d"
}
trap cleanup EXIT
url=$(bash tests/pg/pg.sh start "$d/pg")
export DITS_METADB_URL=$url DITS_PROXY_AUTO=0
mkdir "$d/root"
"$DITS" init "$d/root/r" >/dev/null
cd "$d/root/r"
for i in $(seq "$N"); do
	ffmpeg -nostdin -loglevel error -f lavfi -i testsrc2=size=160x90:rate=24:duration=0.5 -c:v prores_ks "c$i.mov"
done
"$DITS" add . >/dev/null
"$DITS" commit -m clips >/dev/null
"$SERVE" serve --root "$d/root" --listen 127.0.0.1:0 --workers 1 >"$d/s.out" 2>"$d/s.err" &
sp=$!
sleep 2
for i in $(seq "$N"); do
	"$PSQL" -qAt -d "$url" -c "DO \$\$ DECLARE t0 timestamptz; BEGIN
	  LOOP EXIT WHEN EXISTS(SELECT 1 FROM jobs WHERE id = $i); PERFORM pg_sleep(0.0005); END LOOP;
	  t0 := clock_timestamp();
	  LOOP EXIT WHEN EXISTS(SELECT 1 FROM jobs WHERE id = $i AND state <> 'queued'); PERFORM pg_sleep(0.0005); END LOOP;
	  RAISE NOTICE 'job $i: queued -> claimed in % ms', round(extract(epoch from clock_timestamp() - t0) * 1000);
	END \$\$" 2>&1 | sed 's/.*NOTICE: *//' &
	w=$!
	sleep "0.$((RANDOM % 9 + 1))"
	"$DITS" proxy generate --queue --no-extras "c$i.mov" >/dev/null
	wait "$w"
	while [ "$("$PSQL" -qAt -d "$url" -c "SELECT count(*) FROM jobs WHERE state <> 'done'")" != 0 ]; do sleep 0.2; done
	sleep "1.$((RANDOM % 9))"
done
