#!/usr/bin/env bash
# Render benchmark (issue 17: render a timeline from its masters). One run,
# side by side, on the same machine: a 10-event CMX3600 EDL (90 frames, events
# of 6 to 12 frames, cutting between three masters with sources spread
# through them, so seeking matters) over three 8K (7680x4320) ProRes 422 HQ
# masters, 3 s (72 frames) each at 24000/1001 with timecodes 01:00:00:00,
# 02:00:00:00, 03:00:00:00 and 4 PCM channels, made once and cached outside
# the repository. The conform: UHD (3840x2160) ProRes 422 HQ, 4 channels of
# PCM (the EDL's events are AA/V with AUD 3 4), timecode 01:00:00:00.
#
#   dits render     `dits render cut.edl --rate 24000/1001 --target 4k_master
#                   --codec prores_hq --out OUT`: the masters read from the
#                   chunk store of a repository holding them (proxy.auto false)
#   ffmpeg conform  (a) the ffmpeg program doing the same conform: one input
#                   per event on the same master files, trim/atrim, concat,
#                   scale to 3840x2160 (bicubic), prores_ks profile hq, PCM
#                   s24le, -timecode; the filter graph is written by this
#                   script from the same event list as the EDL
#   decode+encode   (b) the floor without the conform's bookkeeping: for each
#                   event one ffmpeg process seeking to the event's first
#                   source frame (-ss before -i; ProRes is all intra), decoding
#                   exactly its frames (-frames:v N), scaling to 3840x2160 and
#                   encoding them as ProRes 422 HQ to the null muxer (-f null,
#                   nothing written; no audio, no timecode, no container); the
#                   ten processes run one after the other and their wall time
#                   is summed (one timed shell). Same source frames decoded,
#                   same number of UHD ProRes HQ frames encoded.
#
# Goals: dits at least 1.5x faster than (a); within 1.25x of (b)'s time.
# Peak memory (max RSS, /usr/bin/time -f %M) of each is reported; for (b) it
# is that of the largest of its ten processes.
#
# --repeat K makes the masters K times as long (the 72 frames K times over,
# copied, not encoded again: 3 s x K), and each event's first source frame
# K times further in, so the cut reaches as far into longer camera clips.
# Only (a) depends on it: its trim decodes each master from the start.
#
# Usage: bench/render.sh [--runs N] [--data DIR] [--repeat K]
# Env:   DITS (default build/src/cli/dits)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
DITS=${DITS:-$here/../build/src/cli/dits}
case $DITS in /*) ;; *) DITS=$PWD/$DITS ;; esac
runs=3
data=/tmp/dits-bench/render
repeat=1
while [ $# -gt 0 ]; do
  case $1 in
    --runs) runs=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    *) echo "usage: $0 [--runs N] [--data DIR] [--repeat K]" >&2; exit 2 ;;
  esac
done
case $repeat in ''|*[!0-9]*|0) echo "--repeat: a whole number from 1 on" >&2; exit 2 ;; esac
command -v ffmpeg >/dev/null || { echo "ffmpeg is required" >&2; exit 1; }
command -v ffprobe >/dev/null || { echo "ffprobe is required" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "/usr/bin/time is required (Debian package time)" >&2; exit 1; }
export DITS_PROXY_AUTO=0 DITS_NO_PROGRESS=1
mkdir -p "$data"

# The masters: name, start timecode, sine frequency, hue shift.
masters="A001 01:00:00:00 440 0
B001 02:00:00:00 550 120
C001 03:00:00:00 660 240"
nframes=72   # per master; 72 frames at 24000/1001 = 3.003 s
spf=2002     # 48000 Hz samples per frame at 24000/1001, exactly
while read -r name tc freq hue; do
  src=$data/$name.mov
  [ -s "$src" ] && continue
  echo "making the 8K ProRes 422 HQ master $name (once) ..." >&2
  ffmpeg -nostdin -v error -y -f lavfi -i "testsrc2=s=7680x4320:r=24000/1001:d=3.003" \
    -f lavfi -i "sine=frequency=$freq:sample_rate=48000:duration=3.003" \
    -filter_complex "[0:v]hue=h=$hue[v];[1:a]atrim=end_sample=$((nframes * spf)),pan=4c|c0=c0|c1=c0|c2=c0|c3=c0[a]" \
    -map "[v]" -map "[a]" -frames:v "$nframes" \
    -c:v prores_ks -profile:v 3 -vendor apl0 -pix_fmt yuv422p10le -c:a pcm_s24le -timecode "$tc" "$src.tmp.mov"
  mv "$src.tmp.mov" "$src"
done <<<"$masters"

# master NAME: the file the run reads for master NAME
master() { if [ "$repeat" = 1 ]; then echo "$data/$1.mov"; else echo "$data/${1}_x$repeat.mov"; fi; }
if [ "$repeat" != 1 ]; then
  while read -r name tc _; do
    long=$(master "$name")
    [ -s "$long" ] && continue
    echo "making $name $repeat times as long (once, by copying) ..." >&2
    ffmpeg -nostdin -v error -y -stream_loop $((repeat - 1)) -i "$data/$name.mov" -map 0:v -map 0:a -c copy \
      -frames:v $((nframes * repeat)) -timecode "$tc" "$long.tmp.mov"
    mv "$long.tmp.mov" "$long"
  done <<<"$masters"
fi

# The events: master, first source frame (index in the master), frames.
events="A001 4 8
B001 30 10
C001 55 7
A001 40 12
C001 10 9
B001 60 6
A001 20 11
C001 35 8
B001 5 10
A001 58 9"

# Timecode at 24 fps counting (23.976 non-drop) of frame F from hour H.
tc() { local f=$2; printf '%02d:%02d:%02d:%02d' $(( $1 + f / 86400 )) $(( f / 1440 % 60 )) $(( f / 24 % 60 )) $(( f % 24 )); }
hour() { case $1 in A001) echo 1 ;; B001) echo 2 ;; C001) echo 3 ;; esac; }

# The EDL, the ffmpeg filter graph and the decode+encode script, from $events.
edl=$data/cut.edl
{
  echo "TITLE: RENDER BENCH"
  echo "FCM: NON-DROP FRAME"
  echo
} >"$edl"
inputs=() graph="" cat="" rec=0 n=0 total=0
: >"$data/decenc.sh"
while read -r m s len; do
  s=$((s * repeat))
  n=$((n + 1))
  h=$(hour "$m")
  printf '%03d  %-8s AA/V  C        %s %s %s %s\n' "$n" "$m" \
    "$(tc "$h" "$s")" "$(tc "$h" $((s + len)))" "$(tc 1 "$rec")" "$(tc 1 $((rec + len)))" >>"$edl"
  echo "AUD  3    4" >>"$edl"
  echo "* FROM CLIP NAME: $m.mov" >>"$edl"
  echo >>"$edl"
  i=$((n - 1))
  inputs+=(-i "$(master "$m")")
  graph+="[$i:v]trim=start_frame=$s:end_frame=$((s + len)),setpts=PTS-STARTPTS[v$i];"
  graph+="[$i:a]atrim=start_sample=$((s * spf)):end_sample=$(((s + len) * spf)),asetpts=PTS-STARTPTS[a$i];"
  cat+="[v$i][a$i]"
  t=$(awk -v f="$s" 'BEGIN { printf "%.6f", f * 1001 / 24000 }')
  echo "ffmpeg -nostdin -v error -ss $t -i '$(master "$m")' -frames:v $len -an -vf scale=3840:2160:flags=bicubic,format=yuv422p10le -c:v prores_ks -profile:v hq -f null -" >>"$data/decenc.sh"
  rec=$((rec + len))
done <<<"$events"
total=$rec
graph+="${cat}concat=n=$n:v=1:a=1[cv][ca];[cv]scale=3840:2160:flags=bicubic,format=yuv422p10le[ov]"

# A repository holding the masters; the render writes outside it (--out), so
# it is not changed by a run and every run starts from the same state.
repo=$data/repo
[ "$repeat" = 1 ] || repo=$data/repo_x$repeat
if [ ! -d "$repo/.dits" ] || [ "$repo/.dits" -ot "$DITS" ]; then
  rm -rf "$repo"
  "$DITS" init "$repo" >/dev/null
  ( cd "$repo" && "$DITS" config proxy.auto false )
  while read -r name _; do
    ln "$(master "$name")" "$repo/$name.mov" 2>/dev/null || cp "$(master "$name")" "$repo/$name.mov"
  done <<<"$masters"
  ( cd "$repo" && "$DITS" add A001.mov B001.mov C001.mov >/dev/null && "$DITS" commit -m masters >/dev/null )
fi
cp "$edl" "$repo/cut.edl"

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# measure NAME CMD...: runs CMD $runs times; records seconds, CPU seconds
# (user + system, of the run whose wall time is the median) and peak RSS (KiB)
declare -A secs cpu rss
measure() {
  local name=$1; shift
  local t=() m=() c=()
  for i in $(seq "$runs"); do
    rm -f "$data/dits_render.mov" "$data/ffmpeg_conform.mov"
    sync
    /usr/bin/time -f "%e %M %U %S" -o "$data/time.out" "$@" >/dev/null 2>"$data/err.out" || {
      echo "$name failed:" >&2; cat "$data/err.out" >&2; exit 1; }
    read -r s k u y <"$data/time.out"
    t+=("$s"); m+=("$k"); c+=("$s $(awk -v a="$u" -v b="$y" 'BEGIN { printf "%.2f", a + b }')")
  done
  secs[$name]=$(printf '%s\n' "${t[@]}" | median)
  cpu[$name]=$(printf '%s\n' "${c[@]}" | sort -n | awk '{ v[NR] = $2 } END { print v[int((NR + 1) / 2)] }')
  rss[$name]=$(printf '%s\n' "${m[@]}" | sort -n | tail -n 1)
}

# frames FILE: the number of video frames in FILE
frames() { ffprobe -v error -select_streams v:0 -count_packets -show_entries stream=nb_read_packets -of csv=p=0 "$1"; }
check() {
  local f; f=$(frames "$1")
  [ "$f" = "$total" ] || { echo "$1: $f frames, the EDL has $total" >&2; exit 1; }
}

cd "$data"
measure ffmpeg_conform ffmpeg -nostdin -v error -y "${inputs[@]}" -filter_complex "$graph" \
  -map "[ov]" -map "[ca]" -c:v prores_ks -profile:v hq -vendor apl0 -c:a pcm_s24le \
  -timecode 01:00:00:00 "$data/ffmpeg_conform.mov"
check "$data/ffmpeg_conform.mov"
measure decode_encode sh "$data/decenc.sh"
measure dits_render sh -c "cd '$repo' && '$DITS' render cut.edl --rate 24000/1001 --target 4k_master --codec prores_hq --out '$data/dits_render.mov'"
check "$data/dits_render.mov"
ffprobe -v error -show_entries stream=codec_name,width,height,r_frame_rate,channels:stream_tags=timecode \
  -of compact "$data/dits_render.mov" >&2

r() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
{
  echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(free -g | awk '/Mem:/ {print $2}') GiB; load $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "masters: 3 x 8K ProRes 422 HQ, $((nframes * repeat)) frames, 4 ch PCM ($(stat -c %s "$(master A001)") bytes each or so)"
  echo "timeline: $n events, $total frames to UHD ProRes 422 HQ; median of $runs runs"
  printf '%-34s %8s %12s %10s\n' "command" "seconds" "CPU seconds" "peak MiB"
  for k in dits_render ffmpeg_conform decode_encode; do
    printf '%-34s %8s %12s %10d\n' "$k" "${secs[$k]}" "${cpu[$k]}" $(( ${rss[$k]} / 1024 ))
  done
  echo
  echo "dits render vs (a) ffmpeg conform:   $(r "${secs[ffmpeg_conform]}" "${secs[dits_render]}")x faster (goal >= 1.5x)"
  echo "dits render vs (b) decode+encode:    $(r "${secs[dits_render]}" "${secs[decode_encode]}")x its time (goal <= 1.25x)"
  echo "dits render peak memory:             $(( ${rss[dits_render]} / 1024 )) MiB"
  echo "CPU seconds, (a) over dits render:    $(r "${cpu[ffmpeg_conform]}" "${cpu[dits_render]}")x"
} | tee "$data/results.txt"
