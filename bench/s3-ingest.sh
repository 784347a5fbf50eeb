#!/usr/bin/env bash
# S3-triggered ingest against a local commit, on the same machine and data.
#
#   event -> commit   POST /_events/s3 for an object already in the bucket,
#                     until the answer (the server has read the object with
#                     ranged GETs, chunked, stored and committed it)
#   local add+commit  `dits add` + `dits commit` of the same file in a fresh
#                     repository (DITS_PROXY_AUTO=0)
#   event -> proxy    the event for a ProRes clip until the server's worker
#                     lists its proxy as ready (GET /NAME/variants, polled
#                     every 0.1 s)
#   local -> proxy    `dits add` + `dits commit` of the clip, then
#                     `dits proxy wait`
#
# The bucket is tests/s3/server.mjs (s3rver behind the signature-checking
# proxy) on loopback: one Node.js process, which limits the GET rate.
#
# Usage: bench/s3-ingest.sh [--size MIB] [--clip FILE] [--data DIR]
#   --clip FILE   the clip for the proxy times instead of the 1080p one
#                 (e.g. the 8K ProRes HQ master bench/proxy.sh makes)
# Env:   DITS (default build/src/cli/dits)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$here/..
DITS=${DITS:-$src/build/src/cli/dits}
case $DITS in /*) ;; *) DITS=$PWD/$DITS ;; esac
size=200
data=/tmp/dits-bench/s3-ingest
clip=
while [ $# -gt 0 ]; do
  case $1 in
    --size) size=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --clip) clip=$(cd "$(dirname "$2")" && pwd)/$(basename "$2"); shift 2 ;;
    *) echo "usage: $0 [--size MIB] [--clip FILE] [--data DIR]" >&2; exit 2 ;;
  esac
done
rm -rf "$data/run" && mkdir -p "$data/run" && cd "$data/run"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
export AWS_ACCESS_KEY_ID=DITSTESTKEY AWS_SECRET_ACCESS_KEY='dits-test-secret/KEY+1' AWS_REGION=us-east-1
node --openssl-legacy-provider "$src/tests/s3/server.mjs" --dir s3data --port-file s3.port --bucket cards >s3.log 2>&1 &
pids+=($!)
while [ ! -s s3.port ]; do sleep 0.05; done
export AWS_ENDPOINT_URL="http://127.0.0.1:$(cat s3.port)"
sdk () { node "$src/tests/s3/sdk.mjs" "$AWS_ENDPOINT_URL" cards "$@"; }
ms () { date +%s%3N; }

mkdir root && "$DITS" init root/studio >/dev/null
(cd root/studio && "$DITS" config ingest.bucket cards && "$DITS" config ingest.prefix card/)
DITS_PROXY_AUTO= "$DITS" serve --listen 127.0.0.1:0 --root root --workers 1 >serve.out 2>serve.err &
pids+=($!)
while ! grep -q '^listening on ' serve.out; do sleep 0.05; done
URL=$(sed -n 's/^listening on //p' serve.out)

event () {
  h=$(sdk head "$1")
  printf '{"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "cards"}, "object": {"key": "%s", "size": %s, "eTag": %s}}}]}' \
    "$1" "${h%% *}" "${h#* }"
}

head -c $((size << 20)) /dev/urandom >big.bin
sdk put card/big.bin big.bin
event card/big.bin >big.json
t0=$(ms); curl -s -o big.resp --data-binary @big.json "$URL/_events/s3"; t1=$(ms)
grep -q '"state": "committed"' big.resp || { cat big.resp; exit 1; }
"$DITS" init local >/dev/null && cp big.bin local/
t2=$(ms); (cd local && DITS_PROXY_AUTO=0 "$DITS" add big.bin >/dev/null && DITS_PROXY_AUTO=0 "$DITS" commit -m big >/dev/null); t3=$(ms)

if [ -n "$clip" ]; then
  ln -s "$clip" clip.mov
else
  ffmpeg -nostdin -v error -y -f lavfi -i "testsrc2=s=1920x1080:r=25:d=3" -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=3" \
    -map 0:v -map 1:a -c:v prores_ks -profile:v 3 -pix_fmt yuv422p10le -c:a pcm_s24le -timecode 01:00:00:00 clip.mov
fi
sdk put card/clip.mov clip.mov
event card/clip.mov >clip.json
t4=$(ms); curl -s -o clip.resp --data-binary @clip.json "$URL/_events/s3"
until curl -s "$URL/studio/variants" | grep -q '"status": *"ready"'; do sleep 0.1; done; t5=$(ms)
"$DITS" init localclip >/dev/null && cp -L clip.mov localclip/
t6=$(ms); (cd localclip && "$DITS" add clip.mov >/dev/null && "$DITS" commit -m clip >/dev/null && "$DITS" proxy wait >/dev/null); t7=$(ms)

printf '%-34s %8s\n' "measure" "ms"
printf '%-34s %8d\n' "event -> commit ($size MiB)" $((t1 - t0)) "local add+commit ($size MiB)" $((t3 - t2)) \
  "event -> ready proxy (clip)" $((t5 - t4)) "local commit -> ready proxy" $((t7 - t6))
echo "clip: $(wc -c <clip.mov) bytes"
