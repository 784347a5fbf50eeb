#!/usr/bin/env bash
# Installs what Dits needs to build and test on Debian 12, from Debian's packages
# (with --bench, also what bench/run.sh compares dits with).
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
pkgs=(
  gcc meson ninja-build pkg-config
  librust-blake3-dev      # the official BLAKE3 C sources (compiled in when no libblake3 exists)
  libsqlite3-dev          # variants and the job queue (.dits/dits.db)
  libpq-dev               # the same in PostgreSQL (metadb.url = postgres://...)
  postgresql              # the PostgreSQL tests start a server (initdb, pg_ctl) in a temporary directory
  libavformat-dev libavcodec-dev libavfilter-dev libswscale-dev libswresample-dev libavutil-dev
  ffmpeg                  # the tests make source media with it and check proxies with ffprobe
  b3sum                   # independent BLAKE3 reference for the tests
  strace                  # status test: proves no file content is read
  util-linux              # script(1): progress bar test on a pseudo-terminal
  libclang-rt-14-dev      # sanitizer runtimes (ASan, UBSan, TSan, libFuzzer)
  clang                   # the fuzz targets (libFuzzer is clang's)
  libfuse3-dev fuse3      # dits mount (FUSE, low-level API); fuse3 brings fusermount3
  libmicrohttpd-dev       # dits serve (HTTP server, TLS through GnuTLS)
  libcurl4-openssl-dev    # push, fetch, clone (HTTP client); the S3 client (SigV4 signing)
  libssl-dev              # the S3 client hashes payloads with libcrypto (x-amz-content-sha256)
  libcjson-dev            # JSON of the wire protocol, and proxy facts read by proxy handoff
  libxml2-dev             # proxy handoff writes FCPXML and FCP7 XML through libxml2
  libxml2-utils           # xmllint: the handoff test checks those files' structure
  curl rsync openssl      # the sync tests and benchmarks: peers, malformed requests, a test certificate
  chromium                # the web page's browser tests (t2000-web), headless
)
# --bench: also the peers and tools of bench/run.sh, which the tests do not
# need (CI does not pass it)
if [ "${1:-}" = --bench ]; then
  pkgs+=(hyperfine borgbackup restic git-lfs time jq)
elif [ $# -gt 0 ]; then
  echo "usage: scripts/install-deps.sh [--bench]" >&2
  exit 2
fi
# The S3 and browser tests run on Node (tests/s3, tests/web): Debian's
# nodejs and npm unless they are already there.
command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
command -v npm >/dev/null 2>&1 || pkgs+=(npm)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# npm packages the tests pin in their package-lock.json files:
# tests/s3 (s3rver, the AWS SDK's SigV4 signer and S3 client for JavaScript,
# docs/S3.md) and tests/web (puppeteer-core, no browser download: the tests
# use Debian's chromium).
here=$(cd "$(dirname "$0")/.." && pwd)
(cd "$here/tests/s3" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
(cd "$here/tests/web" && PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error >/dev/null)
