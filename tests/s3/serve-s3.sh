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
. "$SRCDIR/tests/t/lib-sync.sh"
d=$(mktemp -d /tmp/dits-serve-s3.XXXXXX)
if ! start_s3 "$d" wrap; then
	rm -rf "$d"
	exit 1
fi
"$DITS" "$@" --store s3://wrap/t --store-cache-dir "$d/cache" &
dpid=$!
stop () {
	kill "$dpid" 2>/dev/null
	wait "$dpid"
	stop_s3 "$S3_PID"
	rm -rf "$d"
}
trap 'stop; exit 0' TERM INT
wait "$dpid"
rc=$?
stop_s3 "$S3_PID"
rm -rf "$d"
exit $rc
