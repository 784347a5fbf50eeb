#!/usr/bin/env bash
# Regenerates the seed corpora of the fuzz targets (tests/fuzz/corpus/NAME/)
# from a real repository made with the dits binary, so every seed is what
# the program really writes. A one-off for developers: the seeds are
# committed; run it again when a format changes, then review and commit.
#   scripts/fuzz-seeds.sh [DITS_BINARY]   (default build-release/src/cli/dits)
# Needs python3 (to cut records out of a pack).
set -euo pipefail
cd "$(dirname "$0")/.."
DITS=$(realpath "${1:-build-release/src/cli/dits}")
OUT=$PWD/tests/fuzz/corpus
work=$(mktemp -d "${TMPDIR:-/tmp}/dits-seeds.XXXXXX")
trap 'rm -rf "$work"' EXIT
export HOME=$work DITS_PROXY_AUTO=0 LC_ALL=C
export DITS_AUTHOR_NAME="A U Thor" DITS_AUTHOR_EMAIL=author@example.com
export DITS_COMMITTER_NAME="C O Mitter" DITS_COMMITTER_EMAIL=committer@example.com

# A small repository: small chunker sizes so files of a few KB make several
# chunks (and a manifest with more than one), two commits, nested trees.
cd "$work"
"$DITS" init --chunk-min 64 --chunk-avg 256 --chunk-max 1024 repo >/dev/null
cd repo
mkdir -p A001/sub
head -c 3000 /dev/urandom >A001/clip.mov
printf 'notes\n' >notes.txt
head -c 700 /dev/urandom >A001/sub/x.bin
"$DITS" add . >/dev/null
"$DITS" commit -m "first cut" >/dev/null
printf 'more notes\n' >>notes.txt
"$DITS" add notes.txt >/dev/null
"$DITS" commit -m "second cut" >/dev/null
"$DITS" config remote.origin.url http://127.0.0.1:7780/proj >/dev/null

for t in wire_records pack_records index objects config client_json; do
	mkdir -p "$OUT/$t"
	rm -f "$OUT/$t"/seed-*
done

cp .dits/config "$OUT/config/seed-config"
printf '[core]\n\tformat = 1\n# comment\n; other\n[remote "x"]\n\turl = a=b\n' >"$OUT/config/seed-quoted"

python3 - "$PWD/.dits" "$OUT" <<'PY'
import os, sys, glob, struct
dits, out = sys.argv[1], sys.argv[2]
def put(t, name, data):
    with open(os.path.join(out, t, 'seed-' + name), 'wb') as f:
        f.write(data)
# index: the target appends the checksum itself; 0xff + raw keeps it
idx = open(os.path.join(dits, 'index'), 'rb').read()
put('index', 'index', idx[:-32])
put('index', 'raw', b'\xff' + idx)
kinds = {3: 2, 4: 0, 5: 1}   # manifest, tree, commit -> the target's selector
seen = {}
for i, pack in enumerate(sorted(glob.glob(os.path.join(dits, 'objects', 'pack', 'pack-*.pack')))):
    data = open(pack, 'rb').read()
    if len(data) <= 8192:
        put('pack_records', 'pack%d' % i, b'\x02' + data)      # the pack as it is
        put('wire_records', 'stream%d' % i, b'\x05\x3f' + data[16:])  # verified, fed in 64-byte pieces
        put('wire_records', 'whole%d' % i, b'\x01\x00' + data[16:])
    off = 16
    while off + 40 <= len(data):
        typ, ln = data[off], struct.unpack_from('<I', data, off + 4)[0]
        payload = data[off + 40: off + 40 + ln]
        if typ in kinds and seen.get(typ, 0) < 3 and len(payload) <= 4096:
            seen[typ] = seen.get(typ, 0) + 1
            put('objects', '%d-%d' % (typ, seen[typ]), bytes([kinds[typ]]) + payload)
        off += 40 + ln
PY

# client JSON answers, in the shapes of the protocol (GET refs, a refusal,
# GET variants)
tip=$(cat .dits/refs/heads/main)
printf '{"format": 1, "chunker": {"min": 16384, "avg": 65536, "max": 262144, "level": 1, "seed": 0}, "head": "refs/heads/main", "refs": {"refs/heads/main": "%s", "refs/tags/v1": "%s"}}' \
	"$tip" "$tip" >"$OUT/client_json/seed-refs"
printf '{"error": "non-fast-forward: refs/heads/main is at %s"}' "$tip" >"$OUT/client_json/seed-error"
printf '{"variants": [{"id": "0b6c3f1e-1111-4222-8333-944455556666", "parent": "%s", "type": "proxy_1080p", "status": "ready", "manifest": "%s", "size": 123, "recipe": {"codec": "prores_proxy", "max_height": 1080}, "recipe_hash": "%s", "facts": {"frame_rate": "24000/1001"}, "error": null, "warnings": null, "created_at": 0, "updated_at": 0}, {"id": "x", "parent": "%s", "type": "poster", "status": "failed", "error": "no video stream"}]}' \
	"$tip" "$tip" "$tip" "$tip" >"$OUT/client_json/seed-variants"
ls -l "$OUT"/*/seed-* | awk '{print $5, $NF}'
