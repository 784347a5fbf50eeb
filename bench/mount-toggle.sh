#!/usr/bin/env bash
# FUSE mode toggle benchmark (issue 4): how long switching 10 files of a
# `dits mount` from proxy to master and back takes, for two master sizes,
# to show the latency does not depend on the file size.
#
# Two clip sets, 10 files each (hard links of one clip, so the store keeps it
# once and one proxy serves all ten; every path is still its own file in
# the mount, with its own kernel inodes and page cache):
#   small   640x360 ProRes 422 HQ, 1 s at 24000/1001
#   large   7680x4320 (8K) ProRes 422 HQ, 10 s at 24000/1001, about 1 GB
#           (--quick: 1920x1080, 1 s)
#
# Timed (each run, every figure is for the 10 files at once):
#   control p->m   `echo master PATHS > .dits-control` (bash builtin): the
#                  write returns once the switch and the invalidations are done
#   control m->p   the same back to proxy, after 64 MiB of each master was
#                  read (so there are cached master pages to drop)
#   cli p->m/m->p  `dits mode master|proxy PATHS` run inside the mount
#                  (process start, finding the mount, the switch)
#   first read     after a switch: open + read the first 64 KiB of all 10
#                  (10 `head` processes)
#   dits startup   `dits --version`: the process start alone, the floor under
#                  every cli figure (the binary loads FFmpeg's libraries)
# Once per set, the worst case: m->p after all 10 masters were read in full
# (the whole of each master in the page cache, then dropped).
#
# Usage: bench/mount-toggle.sh [--runs N] [--data DIR] [--quick]
# Env:   DITS (default build/src/cli/dits). Needs /dev/fuse, ffmpeg, bash 5.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
DITS=${DITS:-$here/../build/src/cli/dits}
case $DITS in /*) ;; *) DITS=$PWD/$DITS ;; esac
runs=20
data=/tmp/dits-bench-mount
large=7680x4320
large_seconds=10
while [ $# -gt 0 ]; do
  case $1 in
    --runs) runs=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --quick) runs=3; large=1920x1080; large_seconds=1; shift ;;
    *) echo "usage: $0 [--runs N] [--data DIR] [--quick]" >&2; exit 2 ;;
  esac
done
command -v ffmpeg >/dev/null || { echo "ffmpeg is required" >&2; exit 1; }
[ -e /dev/fuse ] || { echo "/dev/fuse is not available: no FUSE benchmark here" >&2; exit 1; }
[ -x "$DITS" ] || { echo "DITS=$DITS is not an executable" >&2; exit 1; }
export DITS_PROXY_AUTO=0
mkdir -p "$data/cache"

now_us () { local t=${EPOCHREALTIME/./}; echo "$t"; }
# stats: "median max" (ms, 1 decimal) of the microsecond figures on stdin
stats () { sort -n | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
  printf "%.1f %.1f\n", m / 1000, v[NR] / 1000 }'; }

make_clip () { # FILE SIZE SECONDS: one second encoded, repeated by stream copy
  [ -s "$1" ] && return 0
  ffmpeg -nostdin -loglevel error -y \
    -f lavfi -i "testsrc2=size=$2:rate=24000/1001:duration=1" \
    -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=1" \
    -map 0:v -map 1:a -c:v prores_ks -profile:v 3 -pix_fmt yuv422p10le -c:a pcm_s24le \
    -timecode 01:00:00:00 "$1.1s.mov"
  for _ in $(seq "$3"); do echo "file '$1.1s.mov'"; done >"$1.list"
  ffmpeg -nostdin -loglevel error -y -f concat -safe 0 -i "$1.list" -c copy \
    -timecode 01:00:00:00 "$1.tmp.mov"
  mv "$1.tmp.mov" "$1"
  rm -f "$1.1s.mov" "$1.list"
}

mounts=()
cleanup () { for m in "${mounts[@]}"; do "$DITS" umount --lazy "$m" >/dev/null 2>&1 || true; done; }
trap cleanup EXIT

results=$data/results.md
{
  echo "| set | master bytes | proxy bytes | control p->m (median / max ms) | control m->p | cli p->m | cli m->p | first read after switch | m->p, masters fully cached | dits startup |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
} >"$results"

for set in small large; do
  size=640x360 seconds=1
  [ "$set" = large ] && size=$large seconds=$large_seconds
  clip=$data/cache/$size-${seconds}s.mov
  echo "== $set: $size, $seconds s" >&2
  make_clip "$clip" "$size" "$seconds"
  w=$data/$set
  if mountpoint -q "$w/mnt" 2>/dev/null; then "$DITS" umount --lazy "$w/mnt" || true; fi
  rm -rf "$w"
  mkdir -p "$w/mnt"
  "$DITS" init "$w/repo" >/dev/null
  (cd "$w/repo" && mkdir A && for i in 00 01 02 03 04 05 06 07 08 09; do ln "$clip" "A/clip$i.mov"; done &&
    "$DITS" add . >/dev/null && "$DITS" commit -m clips >/dev/null &&
    "$DITS" proxy generate --no-extras A/clip00.mov >/dev/null)
  (cd "$w/repo" && "$DITS" mount "$w/mnt" --mode proxy >/dev/null)
  mounts+=("$w/mnt")
  M=$w/mnt
  paths=""
  for i in 00 01 02 03 04 05 06 07 08 09; do paths="$paths A/clip$i.mov"; done
  master_bytes=$(stat -c %s "$clip")
  proxy_bytes=$(stat -c %s "$M/A/clip00.mov")
  cat "$M"/A/*.mov >/dev/null # proxies in the page cache
  : >"$w/pm" ; : >"$w/mp" ; : >"$w/clipm" ; : >"$w/climp" ; : >"$w/first" ; : >"$w/start"
  for r in $(seq "$runs"); do
    t0=$(now_us); echo "master$paths" >"$M/.dits-control"; t1=$(now_us)
    echo $((t1 - t0)) >>"$w/pm"
    t0=$(now_us); for i in 00 01 02 03 04 05 06 07 08 09; do head -c 65536 "$M/A/clip$i.mov" >/dev/null; done; t1=$(now_us)
    echo $((t1 - t0)) >>"$w/first"
    for i in 00 01 02 03 04 05 06 07 08 09; do head -c 67108864 "$M/A/clip$i.mov" >/dev/null; done
    t0=$(now_us); echo "proxy$paths" >"$M/.dits-control"; t1=$(now_us)
    echo $((t1 - t0)) >>"$w/mp"
    t0=$(now_us); (cd "$M" && "$DITS" mode master $paths >/dev/null); t1=$(now_us)
    echo $((t1 - t0)) >>"$w/clipm"
    t0=$(now_us); (cd "$M" && "$DITS" mode proxy $paths >/dev/null); t1=$(now_us)
    echo $((t1 - t0)) >>"$w/climp"
    t0=$(now_us); "$DITS" --version >/dev/null; t1=$(now_us)
    echo $((t1 - t0)) >>"$w/start"
  done
  # the worst case: every master wholly in the page cache, then dropped
  echo "master$paths" >"$M/.dits-control"
  cat "$M"/A/*.mov >/dev/null
  t0=$(now_us); echo "proxy$paths" >"$M/.dits-control"; t1=$(now_us)
  full=$(echo $((t1 - t0)) | stats | cut -d" " -f1)
  read -r pm_med pm_max < <(stats <"$w/pm")
  read -r mp_med mp_max < <(stats <"$w/mp")
  read -r cpm_med cpm_max < <(stats <"$w/clipm")
  read -r cmp_med cmp_max < <(stats <"$w/climp")
  read -r fr_med fr_max < <(stats <"$w/first")
  read -r st_med st_max < <(stats <"$w/start")
  echo "| $set ($size, $seconds s) | $master_bytes | $proxy_bytes | $pm_med / $pm_max | $mp_med / $mp_max | $cpm_med / $cpm_max | $cmp_med / $cmp_max | $fr_med / $fr_max | $full | $st_med / $st_max |" >>"$results"
done

{
  echo
  echo "10 files per set, $runs runs, times in ms for all 10 files together."
  echo "Machine: $(nproc) x $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/ {print $2}') GiB RAM, kernel $(uname -r), libfuse $(pkg-config --modversion fuse3 2>/dev/null || echo '?')."
} >>"$results"
cat "$results"
