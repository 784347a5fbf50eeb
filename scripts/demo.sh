#!/usr/bin/env bash
# Installs the dependencies, builds Dits, and runs the main job on the
# embedded default: a local repository (SQLite, local background worker)
# of camera masters it generates. Commit returns at once, proxies appear in
# the background and are validated; an edit then re-stores only the chunks
# it touched. Then the repository is pushed to a `dits serve` on loopback
# (started here) and cloned in proxy mode, as an editor on a weak link would.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
[ -d build ] || meson setup build --buildtype=release >/dev/null
ninja -C build >/dev/null
DITS=$PWD/build/src/cli/dits
demo=${DITS_DEMO_DIR:-$(mktemp -d /tmp/dits-demo.XXXXXX)}
mkdir -p "$demo" && cd "$demo"
echo "== demo repository: $demo"

step() { echo; echo "\$ dits $(printf '%q ' "$@")"; "$DITS" "$@"; }

# Camera masters: UHD ProRes 422 HQ at 23.976 with a start timecode and four
# PCM channels, the way a cinema camera card looks (made with ffmpeg here).
make_master() { # name timecode hue
  ffmpeg -nostdin -loglevel error -y \
    -f lavfi -i "testsrc2=size=3840x2160:rate=24000/1001:duration=3,hue=h=$3" \
    -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=3" \
    -filter_complex "[1:a]pan=4c|c0=c0|c1=c0|c2=c0|c3=c0[a]" -map 0:v -map "[a]" \
    -c:v prores_ks -profile:v 3 -pix_fmt yuv422p10le -c:a pcm_s24le \
    -timecode "$2" "$1"
}

step init project
cd project
mkdir -p A001 audio
echo "== generating two UHD ProRes 422 HQ masters"
make_master A001/A001C001.mov 01:00:00:00 0
make_master A001/A001C002.mov 01:00:10:00 90
head -c $((32 << 20)) /dev/urandom > audio/scene1.wav
printf '*.tmp\n.DS_Store\n' > .ditsignore
touch scratch.tmp
step add .
t0=$(date +%s.%N)
step commit -m "Day 1 camera originals"
t1=$(date +%s.%N)
awk -v a="$t0" -v b="$t1" 'BEGIN { printf "\n(commit returned in %.2f s; proxies are being made in the background)\n", b - a }'
step proxy status
step proxy wait --timeout 600
step proxy status
step status

echo
echo "== re-wrapping A001C001.mov with a corrected reel name (same essence, new container bytes)"
ffmpeg -nostdin -loglevel error -y -i A001/A001C001.mov -map 0 -c copy \
  -metadata reel_name=A001_FIXED A001/A001C001.fixed.mov.tmp.mov
mv A001/A001C001.fixed.mov.tmp.mov A001/A001C001.mov
step add .
step commit -m "Fix reel metadata on A001C001"
step diff --stat HEAD~1 HEAD
step log
step stats
step proxy wait --timeout 600
step fsck

echo
echo "== the editor's side: proxies at the masters' own paths, then back"
b3sum A001/*.mov >"$demo/masters.b3"
echo "masters on disk: $(du -sb A001 | cut -f1) bytes"
step checkout --mode proxy
echo "proxies on disk: $(du -sb A001 | cut -f1) bytes, same paths:"
ls -1 A001
step mode
step status
step checkout --mode master
b3sum -c "$demo/masters.b3"
step proxy export A001/A001C002.mov "$demo/A001C002_proxy.mov"
echo
ffprobe -v error -show_entries stream=codec_name,codec_tag_string,profile,width,height,r_frame_rate,channels:stream_tags=timecode \
  -of compact "$demo/A001C002_proxy.mov" || true
echo
echo "== sharing: a server on loopback (its own workers, SQLite, the same pack store)"
cd "$demo"
mkdir -p "$demo/server"
"$DITS" serve --root "$demo/server" --listen 127.0.0.1:0 --workers 1 >"$demo/serve.out" 2>"$demo/serve.log" &
server=$!
trap 'kill $server 2>/dev/null' EXIT
for _ in $(seq 100); do grep -q '^listening on' "$demo/serve.out" && break; sleep 0.1; done
url=$(sed -n 's/^listening on //p' "$demo/serve.out")
[ -n "$url" ] || { cat "$demo/serve.log" >&2; exit 1; }
cd project
step remote add origin "$url/project"
step push origin main
cd "$demo"
echo
echo "== an editor on a weak link clones in proxy mode: proxies at the masters' paths"
step clone "$url/project" editor --mode proxy --json
cd editor
ls -l A001
step mode
echo
echo "== finishing: one master back at its path, fetched on demand, byte-identical"
step checkout --mode master A001/A001C001.mov
b3sum A001/A001C001.mov
grep A001C001 "$demo/masters.b3"
cd "$demo/project"

echo
echo "The edit re-stored only the chunks it touched; the proxies are 1080p ProRes 422 Proxy"
echo "with the masters' frame rate, frame count, timecode and audio channels, swapped in"
echo "and out at the masters' paths."

