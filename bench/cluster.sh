#!/usr/bin/env bash
# Server storage (issue 18, first part): push and full clone of the same
# data through `dits serve` keeping packs in S3 (--store s3://...) versus
# the embedded server keeping them on local disk, as a throughput ratio
# (goal: at least 0.7x).
#
# The data: SIZE_MB of media-like random bytes in 4 files (incompressible,
# no duplicate chunks), made once and cached under /tmp/dits-bench/cluster.
# The S3 server is tests/s3/server.mjs (s3rver behind a SigV4-verifying
# proxy, single-threaded Node.js) on loopback, so the S3 figures are a
# floor, not what a real object store gives.
#
# Each run starts a fresh server (and, for S3, an empty bucket and cache),
# pushes the repository from a fresh clone of the data, then clones it
# into an empty directory. Reported: MB/s of push and clone (median of
# RUNS), and S3 / local for each.
#
# The ceiling: the same S3 server alone, without dits serve, through the
# S3 client of dits (build/tests/net/net_tool s3put / s3get): the data as one
# object uploaded with the client's multipart defaults (8 MiB parts, four
# in flight), read back whole in one GET and by ranged GETs of 4 MiB in
# order. Reported as MB/s, and the S3 figures as a fraction of it.
#
# Usage: bench/cluster.sh [--size-mb N] [--runs N]
# Env:   DITS (default build/src/cli/dits), NET_TOOL (default build/tests/net/net_tool).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/.." && pwd)
DITS=${DITS:-$here/../build/src/cli/dits}
NET_TOOL=${NET_TOOL:-$here/../build/tests/net/net_tool}
case $DITS in /*) ;; *) DITS=$PWD/$DITS ;; esac
size_mb=256
runs=3
while [ $# -gt 0 ]; do
  case $1 in
    --size-mb) size_mb=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    *) echo "usage: bench/cluster.sh [--size-mb N] [--runs N]" >&2; exit 2 ;;
  esac
done
[ -d "$src/tests/s3/node_modules/s3rver" ] || { echo "tests/s3/node_modules is missing (npm ci in tests/s3)" >&2; exit 1; }

data=/tmp/dits-bench/cluster/data-$size_mb
if [ ! -f "$data/.done" ]; then
  rm -rf "$data" && mkdir -p "$data"
  for i in 1 2 3 4; do
    head -c $((size_mb * 1048576 / 4)) /dev/urandom >"$data/clip$i.bin"
  done
  touch "$data/.done"
fi

work=$(mktemp -d /tmp/dits-bench-cluster.XXXXXX)
pids=()
cleanup () {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "# machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')"
echo "# dits: $(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "# data: $size_mb MB random in 4 files; $runs runs each"

# The repository to push, made once.
"$DITS" init "$work/repo" >/dev/null
cp "$data"/clip*.bin "$work/repo/"
(cd "$work/repo" && "$DITS" add . >/dev/null && "$DITS" commit -m data >/dev/null)

export AWS_ACCESS_KEY_ID=DITSTESTKEY AWS_SECRET_ACCESS_KEY='dits-test-secret/KEY+1' AWS_REGION=us-east-1
now () { date +%s.%N; }

# start_s3 DIR: the loopback S3 server; sets AWS_ENDPOINT_URL
start_s3 () {
  node --openssl-legacy-provider "$src/tests/s3/server.mjs" --dir "$1/data" --port-file "$1/port" \
    --bucket bench >"$1.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 300); do [ -s "$1/port" ] && break; sleep 0.1; done
  export AWS_ENDPOINT_URL=http://127.0.0.1:$(cat "$1/port")
}

# one KIND RUN: prints "push_seconds clone_seconds"
one () {
  local kind=$1 run=$2 d=$work/$1-$2
  mkdir -p "$d/root" "$d/s3"
  local store=()
  if [ "$kind" = s3 ]; then
    start_s3 "$d/s3"
    store=(--store s3://bench/dits --store-cache-dir "$d/cache")
  fi
  "$DITS" serve --root "$d/root" --listen 127.0.0.1:0 --workers 0 "${store[@]}" >"$d/serve.out" 2>"$d/serve.err" &
  local spid=$!
  pids+=($spid)
  for _ in $(seq 100); do grep -q "listening on" "$d/serve.out" 2>/dev/null && break; sleep 0.1; done
  local url
  url=$(sed -n 's/^listening on //p' "$d/serve.out")
  (cd "$work/repo" && "$DITS" remote remove origin >/dev/null 2>&1 || true)
  (cd "$work/repo" && "$DITS" remote add origin "$url/data")
  local t0 t1 t2
  t0=$(now)
  (cd "$work/repo" && "$DITS" push >/dev/null)
  t1=$(now)
  "$DITS" clone "$url/data" "$d/clone" >/dev/null
  t2=$(now)
  for i in 1 2 3 4; do cmp -s "$data/clip$i.bin" "$d/clone/clip$i.bin" || { echo "clone differs: clip$i.bin" >&2; exit 1; }; done
  kill "$spid"
  wait "$spid" 2>/dev/null || true
  if [ "$kind" = s3 ]; then kill "${pids[-2]}" 2>/dev/null || true; fi
  rm -rf "$d"
  echo "$(echo "$t1 - $t0" | bc) $(echo "$t2 - $t1" | bc)"
}

# ceiling RUN: prints "put_seconds get_seconds ranged_get_seconds"
ceiling () {
  local d=$work/raw-$1
  mkdir -p "$d"
  start_s3 "$d"
  cat "$data"/clip*.bin >"$d/all.bin"
  local bytes put get ranged
  bytes=$(stat -c %s "$d/all.bin")
  put=$("$NET_TOOL" s3put bench raw/all.bin "$d/all.bin" | cut -d' ' -f2)
  get=$("$NET_TOOL" s3get bench raw/all.bin "$bytes" | cut -d' ' -f2)
  ranged=$("$NET_TOOL" s3get bench raw/all.bin "$bytes" 4194304 | cut -d' ' -f2)
  kill "${pids[-1]}" 2>/dev/null || true
  rm -rf "$d"
  echo "$put $get $ranged"
}

median () { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

for kind in local s3; do
  : >"$work/$kind.times"
  for r in $(seq "$runs"); do
    one "$kind" "$r" >>"$work/$kind.times"
  done
done
: >"$work/raw.times"
for r in $(seq "$runs"); do
  ceiling "$r" >>"$work/raw.times"
done
rp=$(cut -d' ' -f1 "$work/raw.times" | median); rg=$(cut -d' ' -f2 "$work/raw.times" | median)
rr=$(cut -d' ' -f3 "$work/raw.times" | median)
lp=$(cut -d' ' -f1 "$work/local.times" | median); lc=$(cut -d' ' -f2 "$work/local.times" | median)
sp=$(cut -d' ' -f1 "$work/s3.times" | median); sc=$(cut -d' ' -f2 "$work/s3.times" | median)
mbs () { echo "scale=1; $size_mb / $1" | bc; }
printf '%-8s %10s %10s\n' "" "push MB/s" "clone MB/s"
printf '%-8s %10s %10s\n' local "$(mbs "$lp")" "$(mbs "$lc")"
printf '%-8s %10s %10s\n' s3 "$(mbs "$sp")" "$(mbs "$sc")"
printf '%-8s %10s %10s\n' "s3/local" "$(echo "scale=2; $lp / $sp" | bc)x" "$(echo "scale=2; $lc / $sc" | bc)x"
printf '%-8s %10s %10s   (S3 server alone: PUT multipart; GET whole, ranged 4 MiB %s)\n' ceiling "$(mbs "$rp")" "$(mbs "$rg")" "$(mbs "$rr")"
printf '%-8s %10s %10s   (of the ceiling; clone against the whole GET)\n' "s3/ceil" "$(echo "scale=2; $rp / $sp" | bc)x" "$(echo "scale=2; $rg / $sc" | bc)x"
