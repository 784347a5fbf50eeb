#!/usr/bin/env bash
# Installs the dependencies, builds Dits, and runs the main job on the
# embedded default: a local repository of media-sized files, committed,
# edited and committed again, with the deduplication figures.
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

step init project
cd project
mkdir -p A001/CLIP audio
# Camera-original-sized stand-ins: incompressible bytes, like encoded video.
head -c $((384 << 20)) /dev/urandom > A001/CLIP/A001C001.mov
head -c $((256 << 20)) /dev/urandom > A001/CLIP/A001C002.mov
head -c $((64 << 20)) /dev/urandom > audio/scene1.wav
printf '*.tmp\n.DS_Store\n' > .ditsignore
touch scratch.tmp
step add .
step commit -m "Day 1 camera originals"
step stats

echo
echo "== editing A001C001.mov: 4 KiB of metadata rewritten in the middle"
head -c 4096 /dev/urandom | dd of=A001/CLIP/A001C001.mov bs=1 seek=$((200 << 20)) conv=notrunc status=none
step status
step add .
step commit -m "Fix reel metadata on A001C001"
step diff --stat HEAD~1 HEAD
step log --oneline
step stats
step fsck
echo
echo "The edit re-stored only the chunks it touched; everything else is shared."
