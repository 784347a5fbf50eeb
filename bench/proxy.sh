#!/usr/bin/env bash
# Proxy benchmark (issue: proxy factory). One run, side by side, on the same
# machine: an 8K (7680x4320) ProRes 422 HQ clip, 2 s at 24000/1001 with
# timecode 01:00:00:00 and 4 PCM channels, made once and cached outside the
# repository.
#
#   dits proxy      `dits proxy generate --no-extras`: read from the store,
#                   transcode, validate, chunk into the store, register
#   dits all        the same with poster, sprite sheet + WebVTT and WEBM preview
#   ffmpeg proxy    (a) the ffmpeg program making the same proxy
#   decode+scale    (b) ffmpeg decoding and scaling only (the limit)
#
# Usage: bench/proxy.sh [--runs N] [--data DIR]
# Env:   DITS (default build/src/cli/dits)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
DITS=${DITS:-$here/../build/src/cli/dits}
case $DITS in /*) ;; *) DITS=$PWD/$DITS ;; esac
runs=3
data=/tmp/dits-bench/proxy
while [ $# -gt 0 ]; do
  case $1 in
    --runs) runs=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    *) echo "usage: $0 [--runs N] [--data DIR]" >&2; exit 2 ;;
  esac
done
command -v ffmpeg >/dev/null || { echo "ffmpeg is required" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "/usr/bin/time is required (Debian package time)" >&2; exit 1; }
mkdir -p "$data"
src=$data/hq8k.mov
if [ ! -s "$src" ]; then
  echo "making the 8K ProRes 422 HQ source (once) ..." >&2
  ffmpeg -nostdin -v error -y -f lavfi -i "testsrc2=s=7680x4320:r=24000/1001:d=2" \
    -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=2" \
    -filter_complex "[1:a]pan=4c|c0=c0|c1=c0|c2=c0|c3=c0[a]" -map 0:v -map "[a]" \
    -c:v prores_ks -profile:v 3 -pix_fmt yuv422p10le -c:a pcm_s24le -timecode 01:00:00:00 "$src.tmp.mov"
  mv "$src.tmp.mov" "$src"
fi

# A pristine repository holding the clip; each run works on a fresh copy.
pristine=$data/repo
if [ ! -d "$pristine/.dits" ] || [ "$pristine/.dits" -ot "$DITS" ]; then
  rm -rf "$pristine"
  "$DITS" init "$pristine" >/dev/null
  ( cd "$pristine" && "$DITS" config proxy.auto false )
  ln "$src" "$pristine/master.mov" 2>/dev/null || cp "$src" "$pristine/master.mov"
  ( cd "$pristine" && "$DITS" add master.mov >/dev/null && "$DITS" commit -m master >/dev/null )
fi

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# measure NAME CMD...: runs CMD $runs times; records seconds and peak RSS (KiB)
declare -A secs rss
measure() {
  local name=$1; shift
  local t=() m=()
  for i in $(seq "$runs"); do
    if [ "$name" = "dits_proxy" ] || [ "$name" = "dits_all" ]; then
      rm -rf "$data/run" && cp -a "$pristine" "$data/run"
    fi
    sync
    /usr/bin/time -f "%e %M" -o "$data/time.out" "$@" >/dev/null 2>"$data/err.out" || {
      echo "$name failed:" >&2; cat "$data/err.out" >&2; exit 1; }
    read -r s k <"$data/time.out"
    t+=("$s"); m+=("$k")
  done
  secs[$name]=$(printf '%s\n' "${t[@]}" | median)
  rss[$name]=$(printf '%s\n' "${m[@]}" | sort -n | tail -n 1)
}

cd "$data"
measure ffmpeg_proxy ffmpeg -nostdin -v error -y -i "$src" -vf scale=1920:1080 -c:v prores_ks -profile:v 0 \
  -pix_fmt yuv422p10le -c:a copy "$data/ffmpeg_proxy.mov"
measure decode_scale ffmpeg -nostdin -v error -i "$src" -vf scale=1920:1080 -f null -
measure dits_proxy sh -c "cd '$data/run' && DITS_NO_PROGRESS=1 '$DITS' proxy generate --no-extras master.mov"
measure dits_all sh -c "cd '$data/run' && DITS_NO_PROGRESS=1 '$DITS' proxy generate master.mov"
# The last run's proxy, checked.
( cd "$data/run" && "$DITS" proxy status master.mov )

r() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
{
  echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(free -g | awk '/Mem:/ {print $2}') GiB"
  echo "source:  $(stat -c %s "$src") bytes, 8K ProRes 422 HQ, 48 frames, 4 ch PCM; median of $runs runs"
  printf '%-34s %8s %10s\n' "command" "seconds" "peak MiB"
  for n in ffmpeg_proxy decode_scale dits_proxy dits_all; do
    printf '%-34s %8s %10d\n' "$n" "${secs[$n]}" $(( ${rss[$n]} / 1024 ))
  done
  echo
  echo "dits proxy vs (a) ffmpeg proxy:      $(r "${secs[ffmpeg_proxy]}" "${secs[dits_proxy]}")x faster (goal >= 1.7x)"
  echo "dits proxy vs (b) decode+scale:      $(r "${secs[dits_proxy]}" "${secs[decode_scale]}")x its time (goal <= 1.25x)"
  echo "dits proxy+extras vs (b):            $(r "${secs[dits_all]}" "${secs[decode_scale]}")x its time (goal <= 1.5x)"
  echo "dits peak memory:                    $(( ${rss[dits_all]} / 1024 )) MiB (goal < 1024 MiB)"
} | tee "$data/results.txt"
