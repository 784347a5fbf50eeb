#!/usr/bin/env bash
# Proxy-mode swap benchmark (issue: proxy mode). Ten 8K masters in proxy
# mode are switched to master and back (`dits checkout --mode master`,
# `--mode proxy`), against `cp` of the same bytes (and `cp` + `sync`, since
# every swapped file is fsynced before it is renamed into place).
#
# Usage: bench/swap.sh [--runs N] [--data DIR]
# Env:   DITS (default build/src/cli/dits)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
DITS=${DITS:-$here/../build/src/cli/dits}
case $DITS in /*) ;; *) DITS=$PWD/$DITS ;; esac
runs=3
data=/tmp/dits-bench/swap
while [ $# -gt 0 ]; do
  case $1 in
    --runs) runs=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    *) echo "usage: $0 [--runs N] [--data DIR]" >&2; exit 2 ;;
  esac
done
mkdir -p "$data"
src=/tmp/dits-bench/proxy/hq8k.mov
if [ ! -s "$src" ]; then
  echo "the 8K source is made by bench/proxy.sh; run it first" >&2
  exit 1
fi
repo=$data/repo
rm -rf "$repo" "$data/cp"
"$DITS" init "$repo" >/dev/null
cd "$repo"
"$DITS" config proxy.auto false
mkdir -p A001 "$data/cp"
for i in $(seq -w 1 10); do cp "$src" "A001/A001C0$i.mov"; done
"$DITS" add A001 >/dev/null
"$DITS" commit -m "ten 8K masters" >/dev/null
DITS_NO_PROGRESS=1 "$DITS" proxy generate --no-extras >/dev/null
"$DITS" checkout --mode proxy >/dev/null 2>&1
master_bytes=$(( $(stat -c %s "$src") * 10 ))
proxy_bytes=$(du -cb A001/*.mov | tail -n 1 | cut -f1)

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
t() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); awk -v a="$s" -v b="$e" 'BEGIN { printf "%.3f\n", b - a }'; }

to_master=(); to_proxy=(); cp_t=(); cp_sync=(); b3=()
for r in $(seq "$runs"); do
  sync
  to_master+=("$(t "$DITS" checkout --mode master)")
  sync
  to_proxy+=("$(t "$DITS" checkout --mode proxy)")
  rm -f "$data"/cp/*; sync
  cp_t+=("$(t cp A001/../A001/*.mov "$data/cp/" )")
  rm -f "$data"/cp/*; sync
  # the same bytes as the masters: copy the source ten times
  cp_t[-1]=$(t sh -c "for i in 1 2 3 4 5 6 7 8 9 10; do cp '$src' '$data/cp/m\$i.mov'; done")
  rm -f "$data"/cp/*; sync
  cp_sync+=("$(t sh -c "for i in 1 2 3 4 5 6 7 8 9 10; do cp '$src' '$data/cp/m\$i.mov'; done; sync")")
  b3+=("$(t sh -c "for i in 1 2 3 4 5 6 7 8 9 10; do b3sum --num-threads 1 '$src'; done")")
  rm -f "$data"/cp/*
done
m=$(printf '%s\n' "${to_master[@]}" | median)
p=$(printf '%s\n' "${to_proxy[@]}" | median)
c=$(printf '%s\n' "${cp_t[@]}" | median)
cs=$(printf '%s\n' "${cp_sync[@]}" | median)
bh=$(printf '%s\n' "${b3[@]}" | median)
r() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
{
  echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(df -T "$data" | awk 'NR==2 {print $2}')"
  echo "ten 8K masters: $master_bytes bytes; their proxies: $proxy_bytes bytes ($(r "$proxy_bytes" "$master_bytes" | awk '{printf "%.1f", $1 * 100}') %); median of $runs runs"
  printf '%-40s %8s\n' "command" "seconds"
  printf '%-40s %8s\n' "dits checkout --mode master (10 files)" "$m"
  printf '%-40s %8s\n' "dits checkout --mode proxy (10 files)" "$p"
  printf '%-40s %8s\n' "cp of the master bytes" "$c"
  printf '%-40s %8s\n' "cp + sync of the master bytes" "$cs"
  printf '%-40s %8s\n' "b3sum (1 thread) of the master bytes" "$bh"
  echo
  echo "to master vs cp:        $(r "$m" "$c")x its time (goal <= 1.2x)"
  echo "to master vs cp + sync: $(r "$m" "$cs")x its time"
  echo "to master vs cp + b3sum: $(r "$m" "$(awk -v a="$c" -v b="$bh" 'BEGIN { print a + b }')")x (a swap verifies every chunk it writes)"
} | tee "$data/results.txt"
