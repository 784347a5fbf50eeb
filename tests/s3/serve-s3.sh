#!/usr/bin/env bash
# A stand-in for the server program of a story (DITS_SERVE, see
# tests/t/t1400-sync.sh) that runs the story against packs in S3:
#   serve-s3.sh serve ARGS...   starts tests/s3/server.mjs on a free loopback
#                               port, then `dits serve ARGS --store s3://wrap/t`
#                               on it; SIGTERM or SIGINT stops both
#   serve-s3.sh OTHER...        runs `dits OTHER...`
# DITS and SRCDIR (absolute paths) are the story's own.
set -u
if [ "${1:-}" != serve ]; then exec "$DITS" "$@"; fi
d=$(mktemp -d /tmp/dits-serve-s3.XXXXXX)
node --openssl-legacy-provider "$SRCDIR/tests/s3/server.mjs" --dir "$d/data" --port-file "$d/port" \
	--bucket wrap >"$d/s3.log" 2>&1 &
s3pid=$!
for _ in $(seq 300); do [ -s "$d/port" ] && break; sleep 0.1; done
if [ ! -s "$d/port" ]; then
	echo "serve-s3.sh: the S3 server did not start:" >&2
	cat "$d/s3.log" >&2
	kill "$s3pid" 2>/dev/null
	rm -rf "$d"
	exit 1
fi
export AWS_ENDPOINT_URL=http://127.0.0.1:$(cat "$d/port")
export AWS_ACCESS_KEY_ID=DITSTESTKEY AWS_SECRET_ACCESS_KEY='dits-test-secret/KEY+1' AWS_REGION=us-east-1
"$DITS" "$@" --store s3://wrap/t --store-cache-dir "$d/cache" &
dpid=$!
stop () {
	kill "$dpid" 2>/dev/null
	wait "$dpid"
	kill "$s3pid" 2>/dev/null
	wait "$s3pid" 2>/dev/null
	rm -rf "$d"
}
trap 'stop; exit 0' TERM INT
wait "$dpid"
rc=$?
kill "$s3pid" 2>/dev/null
rm -rf "$d"
exit $rc
