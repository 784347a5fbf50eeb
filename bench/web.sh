#!/usr/bin/env bash
# Web page weight and speed (issue 19): what a browser downloads to show a
# repository page before any thumbnail (goal: under 200 KB), and how long
# the page takes to render for a repository of 1 000 assets.
#
# The repository: N_DISTINCT small real clips (160x90, 1 s, ffmpeg testsrc2
# with different hues), each committed under 1000 / N_DISTINCT names
# (shot0001.mov ...), so there are 1 000 video assets in one folder, all
# with a ready proxy, poster and sprite, while the store and the workers
# deal with N_DISTINCT distinct contents only (equal content is one asset).
#
# Measured in Debian's chromium (headless, puppeteer-core from tests/web),
# against a real `dits serve` on loopback, cold cache each run:
#   first-load bytes   every response the repository page needs before its
#                      thumbnails (HTML, CSS, JS, the JSON of refs and the
#                      first page of the tree), as bytes on the wire
#   first render       navigation start to the grid being drawn (the page's
#                      performance mark 'dits-rendered'), median of RUNS
#   tree JSON          GET /NAME/tree for all 1 000 entries (limit=1000) and
#                      for the page's first 120, with curl, median of RUNS
#
# Usage: bench/web.sh [--runs N]
# Env:   DITS (default build/src/cli/dits), CHROMIUM (default /usr/bin/chromium).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
DITS=${DITS:-$here/../build/src/cli/dits}
case $DITS in /*) ;; *) DITS=$PWD/$DITS ;; esac
runs=5
while [ $# -gt 0 ]; do
  case $1 in
    --runs) runs=$2; shift 2 ;;
    *) echo "usage: bench/web.sh [--runs N]" >&2; exit 2 ;;
  esac
done
N_ASSETS=1000
N_DISTINCT=10
work=$(mktemp -d /tmp/dits-bench-web.XXXXXX)
server_pid=
cleanup () {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

echo "# machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')"
echo "# dits: $(git -C "$here/.." rev-parse --short HEAD 2>/dev/null || echo unknown)"

mkdir -p "$work/room/shots" "$work/srv"
cd "$work/room"
"$DITS" init . >/dev/null
for i in $(seq 1 $N_DISTINCT); do
  ffmpeg -nostdin -loglevel error -y -f lavfi -i "testsrc2=size=160x90:rate=24:duration=1,hue=h=$((i * 36))" \
    -c:v mpeg4 -q:v 5 "$work/clip$i.mov"
done
for n in $(seq 1 $N_ASSETS); do
  cp "$work/clip$(( (n - 1) % N_DISTINCT + 1 )).mov" "shots/shot$(printf %04d "$n").mov"
done
"$DITS" add . >/dev/null && "$DITS" commit -m "1000 shots" >/dev/null

DITS_PROXY_AUTO=1 "$DITS" serve --root "$work/srv" --listen 127.0.0.1:0 --workers 2 >"$work/serve.out" 2>"$work/serve.err" &
server_pid=$!
for _ in $(seq 1 100); do grep -q '^listening on ' "$work/serve.out" && break; sleep 0.05; done
url=$(sed -n 's/^listening on //p' "$work/serve.out")
"$DITS" remote add origin "$url/shots" >/dev/null
"$DITS" push origin main >/dev/null 2>&1
for _ in $(seq 1 600); do
  q=$(curl -s "$url/shots/queue")
  case $q in *'"queued":0,"running":0'*) break ;; esac
  sleep 0.5
done
ready=$(curl -s "$url/shots/tree?path=shots&limit=1" | grep -o '"proxies_ready":[0-9]*' | cut -d: -f2)
echo "# repository: $N_ASSETS video assets in shots/ ($N_DISTINCT distinct clips), $ready with a ready proxy"

median () { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
for limit in 1000 120; do
  for _ in $(seq 1 "$runs"); do
    curl -s -o /dev/null -w '%{time_total}\n' "$url/shots/tree?path=shots&limit=$limit"
  done | median | awk -v l=$limit '{ printf "tree JSON, %d entries: %.1f ms\n", l, $1 * 1000 }'
done
curl -s -o "$work/tree.json" "$url/shots/tree?path=shots&limit=1000"
echo "tree JSON, 1000 entries: $(wc -c <"$work/tree.json") bytes"

BASE=$url RUNS=$runs CHROMIUM=${CHROMIUM:-/usr/bin/chromium} NODE_PATH="$here/../tests/web/node_modules" node - <<'JS'
const puppeteer = require('puppeteer-core');
const fs = require('fs'), os = require('os'), path = require('path');
(async () => {
  const results = [];
  for (let run = 0; run < +process.env.RUNS; run++) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dits-bench-chromium-'));
    const browser = await puppeteer.launch({ executablePath: process.env.CHROMIUM, headless: true,
      args: ['--headless=new', '--no-sandbox', '--user-data-dir=' + dir, '--disable-gpu'] });
    const page = await browser.newPage();
    await page.setViewport({ width: 1366, height: 768 });
    const cdp = await page.createCDPSession();
    await cdp.send('Network.enable');
    const urls = new Map();
    let before = 0, thumbs = 0;
    cdp.on('Network.requestWillBeSent', (e) => urls.set(e.requestId, e.request.url));
    cdp.on('Network.loadingFinished', (e) => {
      const u = urls.get(e.requestId) || '';
      if (/\/content\//.test(u)) thumbs += e.encodedDataLength; else before += e.encodedDataLength;
    });
    await page.goto(process.env.BASE + '/shots/-/tree/HEAD/shots', { waitUntil: 'load' });
    await page.waitForSelector('main[data-ready="1"]');
    const ms = await page.evaluate(() => performance.getEntriesByName('dits-rendered')[0].startTime);
    const fcp = await page.evaluate(() => (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime || 0);
    const cards = await page.$$eval('.asset-card', (c) => c.length);
    await new Promise((r) => setTimeout(r, 500));
    results.push({ ms, fcp, before, thumbs, cards });
    await browser.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const med = (k) => results.map((r) => r[k]).sort((a, b) => a - b)[Math.floor(results.length / 2)];
  console.log('first load before thumbnails: ' + med('before') + ' bytes (' + (med('before') / 1024).toFixed(1) + ' KiB)');
  console.log('thumbnails of the first page: ' + med('thumbs') + ' bytes, ' + med('cards') + ' cards drawn');
  console.log('first contentful paint: ' + med('fcp').toFixed(0) + ' ms');
  console.log('first render of the grid (1000 assets): ' + med('ms').toFixed(0) + ' ms (median of ' + results.length + ')');
})().catch((e) => { console.error(e); process.exit(1); });
JS
