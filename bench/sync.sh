#!/usr/bin/env bash
# Sync benchmark (issue 5). Over loopback, in one run:
#  - push of a 2 GiB file to `dits serve` against `rsync` of the file to a
#    local directory;
#  - full clone of that repository against a plain HTTP download of the same
#    number of bytes (`curl -o` of a static file served by nginx with
#    sendfile), as throughput ratios; the clone is also split into its fetch
#    (network, verify, store) and its checkout (write the working file);
#  - the weak link: a proxy clone and a full clone of two 8K ProRes 4444 XQ
#    masters (with the proxies the server's worker made), both at 50 Mbit/s
#    (`--limit-rate 50Mbit`), bytes and seconds.
#
# Usage: bench/sync.sh [--runs N] [--size-mib N] [--data DIR] [--skip-weak]
# Env:   DITS (default build/src/cli/dits)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
DITS=${DITS:-$here/../build/src/cli/dits}
case $DITS in /*) ;; *) DITS=$PWD/$DITS ;; esac
runs=3 size_mib=2048 data=/tmp/dits-bench/sync weak=1
while [ $# -gt 0 ]; do
  case $1 in
    --runs) runs=$2; shift 2 ;;
    --size-mib) size_mib=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --skip-weak) weak=0; shift ;;
    *) echo "usage: $0 [--runs N] [--size-mib N] [--data DIR] [--skip-weak]" >&2; exit 2 ;;
  esac
done
for p in nginx rsync curl b3sum; do
  command -v "$p" >/dev/null || [ -x "/usr/sbin/$p" ] || {
    echo "installing the peers (nginx-light rsync curl b3sum)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx-light rsync curl b3sum >/dev/null
    break
  }
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
mkdir -p "$data"
export DITS_PROXY_AUTO=0 LC_ALL=C
now() { date +%s.%N; }
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

start_server() { # ROOT LOG -> URL in $url
  rm -rf "$1"; mkdir -p "$1"
  "$DITS" serve --root "$1" --listen 127.0.0.1:0 --workers "${2:-0}" >"$1.out" 2>"$1.log" &
  pids+=($!); srv_pid=$!
  for _ in $(seq 200); do grep -q '^listening on' "$1.out" && break; sleep 0.05; done
  url=$(sed -n 's/^listening on //p' "$1.out")
}

# ---- inputs -----------------------------------------------------------
big=$data/big-$size_mib.bin
bytes=$((size_mib * 1048576))
[ -s "$big" ] || printf 'sync-bench' | b3sum --raw --length "$bytes" >"$big"
repo=$data/repo
if [ ! -d "$repo/.dits" ]; then
  rm -rf "$repo"; "$DITS" init "$repo" >/dev/null
  cp "$big" "$repo/big.bin"
  (cd "$repo" && "$DITS" add big.bin >/dev/null && "$DITS" commit -m big >/dev/null)
fi

# ---- push vs rsync ----------------------------------------------------
push_t=() rsync_t=() clone_t=() curl_t=() fetch_t=() sent=0 recv=0
for r in $(seq "$runs"); do
  start_server "$data/srv"
  (cd "$repo" && "$DITS" remote remove bench >/dev/null 2>&1 || true; "$DITS" remote add bench "$url/big" >/dev/null)
  sync; t0=$(now)
  out=$(cd "$repo" && "$DITS" push bench main --json)
  push_t+=("$(echo "$(now) - $t0" | bc)")
  sent=$(printf '%s' "$out" | grep -o '"bytes_sent":[0-9]*' | cut -d: -f2)
  rm -rf "$data/rsync-dst"; mkdir -p "$data/rsync-dst"; sync
  t0=$(now); rsync "$big" "$data/rsync-dst/"; sync -f "$data/rsync-dst"
  rsync_t+=("$(echo "$(now) - $t0" | bc)")

  # ---- clone vs curl of a static file -----------------------------------
  rm -rf "$data/clone"; sync
  t0=$(now)
  out=$("$DITS" clone "$url/big" "$data/clone" --json)
  clone_t+=("$(echo "$(now) - $t0" | bc)")
  recv=$(printf '%s' "$out" | grep -o '"bytes_received":[0-9]*' | cut -d: -f2)
  cmp -s "$data/clone/big.bin" "$big" || { echo "clone differs from the source" >&2; exit 1; }
  # fetch alone: a fresh repository fetching the same objects, no checkout
  rm -rf "$data/fetch"; "$DITS" init "$data/fetch" >/dev/null
  (cd "$data/fetch" && "$DITS" remote add origin "$url/big" >/dev/null)
  sync; t0=$(now); (cd "$data/fetch" && "$DITS" fetch origin >/dev/null)
  fetch_t+=("$(echo "$(now) - $t0" | bc)")
  kill "$srv_pid" 2>/dev/null || true; wait "$srv_pid" 2>/dev/null || true

  mkdir -p "$data/www"; ln -f "$big" "$data/www/big.bin" 2>/dev/null || cp "$big" "$data/www/big.bin"
  port=$((20000 + RANDOM % 20000))
  cat >"$data/nginx.conf" <<EOF
daemon off; worker_processes 1; error_log $data/nginx-error.log; pid $data/nginx.pid;
events { worker_connections 64; }
http { access_log off; sendfile on; tcp_nopush on;
  server { listen 127.0.0.1:$port; root $data/www; } }
EOF
  "$NGINX" -c "$data/nginx.conf" -p "$data" & pids+=($!); ng=$!
  for _ in $(seq 100); do curl -sfI "http://127.0.0.1:$port/big.bin" >/dev/null && break; sleep 0.05; done
  rm -f "$data/curl.out"; sync
  t0=$(now); curl -s -o "$data/curl.out" "http://127.0.0.1:$port/big.bin"
  curl_t+=("$(echo "$(now) - $t0" | bc)")
  kill "$ng" 2>/dev/null || true; wait "$ng" 2>/dev/null || true
  rm -f "$data/curl.out"
done
P=$(printf '%s\n' "${push_t[@]}" | median); R=$(printf '%s\n' "${rsync_t[@]}" | median)
C=$(printf '%s\n' "${clone_t[@]}" | median); U=$(printf '%s\n' "${curl_t[@]}" | median)
F=$(printf '%s\n' "${fetch_t[@]}" | median)

# ---- the weak link ----------------------------------------------------
W=""
if [ "$weak" = 1 ]; then
  wrepo=$data/weak-repo
  if [ ! -d "$wrepo/.dits" ]; then
    rm -rf "$wrepo"; "$DITS" init "$wrepo" >/dev/null; mkdir -p "$wrepo/media"
    i=0
    for tc in 01:00:00:00 02:00:00:00; do
      i=$((i + 1))
      ffmpeg -nostdin -loglevel error -y -f lavfi -i "testsrc2=size=7680x4320:rate=24000/1001:duration=1,hue=h=$((i * 90)),noise=alls=3:allf=t" \
        -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=1" -filter_complex "[1:a]pan=2c|c0=c0|c1=c0[a]" \
        -map 0:v -map "[a]" -c:v prores_ks -profile:v 5 -qscale:v 4 -pix_fmt yuv444p10le -c:a pcm_s24le \
        -timecode "$tc" "$wrepo/media/C00$i.mov"
    done
    (cd "$wrepo" && "$DITS" add media >/dev/null && "$DITS" commit -m masters >/dev/null)
  fi
  DITS_PROXY_AUTO=1 start_server "$data/wsrv" 1
  (cd "$wrepo" && "$DITS" remote remove w >/dev/null 2>&1 || true; "$DITS" remote add w "$url/weak" >/dev/null && "$DITS" push w main >/dev/null)
  for _ in $(seq 600); do
    [ "$(curl -s "$url/weak/variants" | grep -o '"type":"proxy_1080p","status":"ready"' | wc -l)" -ge 2 ] && break; sleep 0.5
  done
  rm -rf "$data/wp" "$data/wf"
  t0=$(now); pj=$("$DITS" clone "$url/weak" "$data/wp" --mode proxy --limit-rate 50Mbit --json); wpt=$(echo "$(now) - $t0" | bc)
  t0=$(now); fj=$("$DITS" clone "$url/weak" "$data/wf" --mode master --limit-rate 50Mbit --json); wft=$(echo "$(now) - $t0" | bc)
  wpb=$(printf '%s' "$pj" | grep -o '"bytes_received":[0-9]*' | cut -d: -f2)
  wfb=$(printf '%s' "$fj" | grep -o '"bytes_received":[0-9]*' | cut -d: -f2)
  W=$(printf '| proxy clone at 50 Mbit/s | %s bytes | %.1f s |\n| full clone at 50 Mbit/s | %s bytes | %.1f s |\n| proxy / full | %.2f %% of the bytes | %.3fx the time |\n' \
    "$wpb" "$wpt" "$wfb" "$wft" "$(echo "100 * $wpb / $wfb" | bc -l)" "$(echo "$wpt / $wft" | bc -l)")
fi

mib=$((bytes / 1048576))
echo "# Sync benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) x $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1 /proc/loadavg)"
echo "command: bench/sync.sh --runs $runs --size-mib $size_mib; medians of $runs runs"
echo
echo "| what | dits | peer | ratio |"
echo "|---|---|---|---|"
printf '| push %d MiB (%s bytes sent) | %.2f s | rsync to a local dir %.2f s | %.2fx rsync time |\n' "$mib" "$sent" "$P" "$R" "$(echo "$P / $R" | bc -l)"
printf '| full clone %d MiB (%s bytes received) | %.2f s = %.0f MiB/s | curl of a static file (nginx) %.2f s = %.0f MiB/s | %.2fx curl throughput |\n' \
  "$mib" "$recv" "$C" "$(echo "$mib / $C" | bc -l)" "$U" "$(echo "$mib / $U" | bc -l)" "$(echo "$U / $C" | bc -l)"
printf '| fetch alone (no checkout) | %.2f s = %.0f MiB/s | | %.2fx curl throughput |\n' "$F" "$(echo "$mib / $F" | bc -l)" "$(echo "$U / $F" | bc -l)"
if [ -n "$W" ]; then echo; echo "| weak link | bytes | time |"; echo "|---|---|---|"; printf '%s\n' "$W"; fi
