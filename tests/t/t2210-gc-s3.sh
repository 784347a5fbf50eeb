#!/usr/bin/env bash
# dits gc --store s3://BUCKET/PREFIX in a server repository whose packs live
# in a bucket (dits serve --store): within the grace period nothing goes;
# with --prune=now the unreachable chunks leave the bucket (their packs and
# indexes deleted, the live records copied into a new pack), the reachable
# ones still read, and clones after gc - from the server that kept running
# across it and from a restarted one - are byte-identical and fsck clean.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-sync.sh"

if ! command -v node >/dev/null 2>&1 || [ ! -d "$SRCDIR/tests/s3/node_modules/s3rver" ]; then
	test_skip 'gc --store s3' 'node or tests/s3/node_modules is missing (scripts/install-deps.sh)'
	test_done
fi

cd "$TRASH" || exit 1
mkdir -p server

STORE=s3://media/team

sdk () {
	node "$SRCDIR/tests/s3/sdk.mjs" "$AWS_ENDPOINT_URL" media "$@"
}

# start_dits TAG: `dits serve --store` on a free port; sets URL
start_dits () {
	("$DITS" serve --root "$TRASH/server" --listen 127.0.0.1:0 --workers 0 \
		--store "$STORE" --store-cache-dir "$TRASH/cache-$1" >"$1.log" 2>&1 & echo $! >serve.pid) &&
	for i in $(seq 100); do grep -q "listening on" "$1.log" && break; sleep 0.1; done &&
	URL=$(sed -n "s/.*listening on \(http:[^ ]*\).*/\1/p" "$1.log" | head -n 1) &&
	assert_match "^http://127.0.0.1:[0-9]+$" "$URL"
}
stop_dits () {
	kill "$(cat serve.pid)" && for i in $(seq 100); do kill -0 "$(cat serve.pid)" 2>/dev/null || break; sleep 0.1; done
}

# pack_bytes: the total size of the packs in the bucket; also writes keys
pack_bytes () {
	sdk list team/film/packs/ >keys && awk '/\.pack / { s += $2 } END { print s + 0 }' keys
}

test_expect_success 'setup: an S3 server, dits serve --store, two pushes' '
	start_s3 "$TRASH/s3" media && test_at_end "stop_s3 $S3_PID" &&
	start_dits serve1 &&
	dits init film >/dev/null && cd film &&
	gen_data keep.bin 2000000 keep &&
	dits add . >/dev/null && dits commit -m keep >/dev/null &&
	dits remote add origin "$URL/film" && dits push >/dev/null &&
	gen_data junk.bin 3000000 junk &&
	dits add . >/dev/null && dits commit -m junk >/dev/null && dits push >/dev/null &&
	cd .. &&
	assert_ge "$(pack_bytes)" 5000000 "bytes of packs before gc"
'
test_at_end 'kill $(cat "$TRASH/serve.pid")'

test_expect_success 'a history without the junk replaces it (push --force)' '
	dits init film2 >/dev/null && cd film2 &&
	cp ../film/keep.bin . && dits add . >/dev/null && dits commit -m "keep only" >/dev/null &&
	dits remote add origin "$URL/film" && dits push --force >/dev/null && cd ..
'

test_expect_success 'within the grace period gc removes nothing from the bucket' '
	before=$(pack_bytes) && cp keys keys.before &&
	(cd server/film && dits gc --store "$STORE" >../../gc1.out) &&
	assert_file_has gc1.out "removed 0 objects" &&
	assert_eq "$before" "$(pack_bytes)" "bytes of packs" &&
	cmp keys.before keys
'

test_expect_success 'gc --prune=now: the junk leaves the bucket, the rest stays' '
	(cd server/film && dits gc --store "$STORE" --prune=now >../../gc2.out) &&
	assert_match "^removed [1-9][0-9]* objects, [0-9]+ bytes" "$(cat gc2.out)" &&
	after=$(pack_bytes) &&
	assert_ge 2600000 "$after" "bytes of packs after gc" &&
	assert_ge "$after" 2000000 "bytes of packs after gc" &&
	assert_eq "$(grep -c "\.pack " keys)" "$(grep -c "\.idx " keys)" "indexes for the packs" &&
	! grep -q "\.gone " keys &&
	echo "gc: $(cat gc2.out); packs $before -> $after bytes" >&2
'

test_expect_success 'a clone from the server that ran across gc is byte-identical' '
	dits clone "$URL/film" c1 >/dev/null &&
	cmp film2/keep.bin c1/keep.bin && [ ! -e c1/junk.bin ] &&
	(cd c1 && dits fsck >/dev/null)
'

test_expect_success 'a clone from a restarted server is byte-identical too' '
	stop_dits && start_dits serve2 &&
	dits clone "$URL/film" c2 >/dev/null &&
	cmp film2/keep.bin c2/keep.bin && (cd c2 && dits fsck >/dev/null)
'

test_expect_success 'gc --store errors are one line: a bad URL, a cache dir alone' '
	(cd server/film && test_expect_code 1 dits gc --store http://x/y 2>../../err) &&
	assert_one_line_error err "s3://" &&
	(cd server/film && test_expect_code 2 dits gc --store-cache-dir /tmp 2>../../err) &&
	assert_file_has err "needs --store"
'

test_done
