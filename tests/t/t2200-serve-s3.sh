#!/usr/bin/env bash
# dits serve --store s3://BUCKET/PREFIX: a team's server that keeps its
# packs in an S3 bucket (tests/s3/server.mjs: s3rver behind a proxy that
# verifies every SigV4 signature). Media pushed through it lands in the
# bucket as packs and indexes; full and proxy clones are byte-identical
# and fsck clean, also from a restarted server with an empty cache; a pack
# uploaded without its index, or left so by a push whose index upload
# failed, is ignored; a pack changed in the bucket is
# reported as corrupt, naming the object, and never served.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-sync.sh"

if ! command -v node >/dev/null 2>&1 || [ ! -d "$SRCDIR/tests/s3/node_modules/s3rver" ]; then
	test_skip 'serve --store s3' 'node or tests/s3/node_modules is missing (scripts/install-deps.sh)'
	test_done
fi
if ! command -v ffmpeg >/dev/null 2>&1 || ! command -v ffprobe >/dev/null 2>&1; then
	test_skip 'serve --store s3' 'ffmpeg is not installed'
	test_done
fi

cd "$TRASH" || exit 1
mkdir -p server

STORE=s3://media/team

# sdk OP KEY [FILE]: the AWS SDK for JavaScript on the test bucket
sdk () {
	node "$SRCDIR/tests/s3/sdk.mjs" "$AWS_ENDPOINT_URL" media "$@"
}

# start_dits TAG CACHE_DIR: `dits serve --store` on a free port; sets URL
start_dits () {
	(DITS_PROXY_AUTO=1 "$DITS" serve --root "$TRASH/server" --listen 127.0.0.1:0 --workers 1 \
		--store "$STORE" --store-cache 32M --store-cache-dir "$TRASH/$2" >"$1.log" 2>&1 & echo $! >serve.pid) &&
	for i in $(seq 100); do grep -q "listening on" "$1.log" && break; sleep 0.1; done &&
	URL=$(sed -n "s/.*listening on \(http:[^ ]*\).*/\1/p" "$1.log" | head -n 1) &&
	assert_match "^http://127.0.0.1:[0-9]+$" "$URL"
}
stop_dits () {
	kill "$(cat serve.pid)" && for i in $(seq 100); do kill -0 "$(cat serve.pid)" 2>/dev/null || break; sleep 0.1; done
}

# ready_proxies NAME: the number of ready proxy_1080p variants on the server
ready_proxies () {
	curl -s "$URL/$1/variants" | tr -d '\n ' | grep -o '"type":"proxy_1080p","status":"ready"' | wc -l
}

test_expect_success 'setup: an S3 server and dits serve --store on it' '
	start_s3 "$TRASH/s3" media && test_at_end "stop_s3 $S3_PID" &&
	start_dits serve1 cache1
'
test_at_end 'kill $(cat "$TRASH/serve.pid")'

test_expect_success 'a bad --store is one line and exit 1, leaving nothing' '
	mkdir bad &&
	test_expect_code 1 "$DITS" serve --root bad --listen 127.0.0.1:0 --store http://media/x 2>err &&
	assert_one_line_error err "not an s3://BUCKET/PREFIX URL" &&
	test_expect_code 1 env -u AWS_ACCESS_KEY_ID "$DITS" serve --root bad --listen 127.0.0.1:0 --store s3://media/x 2>err &&
	assert_one_line_error err "AWS_ACCESS_KEY_ID" &&
	test_expect_code 2 "$DITS" serve --root bad --store s3://media/x --store-cache 12Q 2>err &&
	assert_file_has err "store-cache" &&
	assert_eq "" "$(ls -A bad)"
'

test_expect_success 'push media: packs and indexes land in the bucket, none on the server' '
	dits init film >/dev/null && cd film &&
	mkdir -p A001 &&
	make_master A001/C001.mov 2560x1440 1 01:00:00:00 2 25 &&
	make_master A001/C002.mov 2560x1440 1 02:00:00:00 2 25 &&
	gen_data A001/raw.bin 12000000 raw1 &&
	dits add . >/dev/null && dits commit -m "day 1" >/dev/null &&
	dits remote add origin "$URL/film" && dits push >/dev/null &&
	cd .. &&
	sdk list team/film/packs/ >keys &&
	packs=$(grep -c "\.pack " keys) && idx=$(grep -c "\.idx " keys) &&
	assert_ge "$packs" 1 "packs in the bucket" && assert_eq "$packs" "$idx" "indexes for the packs" &&
	big=$(awk "/\\.pack /{ if (\$2 > m) m = \$2 } END { print m }" keys) &&
	assert_ge "$big" 12000000 "bytes of the largest pack (multipart: over one 8 MiB part)" &&
	assert_eq 0 "$(find server/film/.dits -name "pack-*.pack" | wc -l)"
'

test_expect_success 'a full clone is byte-identical and fsck clean' '
	dits clone "$URL/film" c1 >/dev/null &&
	assert_eq "$(sums_of film)" "$(sums_of c1)" &&
	(cd c1 && dits fsck >/dev/null)
'

test_expect_success 'the server makes proxies into the bucket; a proxy clone gets them' '
	for i in $(seq 600); do [ "$(ready_proxies film)" -ge 2 ] && break; sleep 0.2; done &&
	assert_eq 2 "$(ready_proxies film)" &&
	assert_eq 0 "$(find server/film/.dits -name "pack-*.pack" | wc -l)" &&
	dits clone "$URL/film" editor --mode proxy >/dev/null &&
	assert_le "$(ffprobe -v error -select_streams v:0 -show_entries stream=height -of csv=p=0 editor/A001/C001.mov)" 1080 &&
	assert_ne "$(b3 film/A001/C001.mov)" "$(b3 editor/A001/C001.mov)" "C001.mov is a proxy" &&
	(cd editor && dits checkout --mode master A001/C001.mov >/dev/null 2>&1) &&
	assert_eq "$(b3 film/A001/C001.mov)" "$(b3 editor/A001/C001.mov)"
'

test_expect_success 'a pack without its index (an interrupted push) is ignored' '
	gen_data stray.pack 3000000 stray &&
	sdk put team/film/packs/pack-00000000000000000000000000000000000000aa.pack stray.pack &&
	stop_dits && start_dits serve2 cache2 &&
	cd film && echo "cut list" >notes.txt && dits add notes.txt >/dev/null && dits commit -m notes >/dev/null &&
	dits remote remove origin && dits remote add origin "$URL/film" && dits push >/dev/null && cd .. &&
	dits clone "$URL/film" c2 >/dev/null &&
	assert_eq "$(sums_of film)" "$(sums_of c2)" &&
	(cd c2 && dits fsck >/dev/null) &&
	assert_file_lacks serve2.log "pack-0000000000000000000000000000000000000aa"
'

test_expect_success 'a push whose index upload fails leaves an invisible pack; a retry publishes' '
	sdk list team/film/packs/ >before &&
	orphans=$(( $(grep -c "\.pack " before) - $(grep -c "\.idx " before) )) &&
	curl -sf -X POST -d "{\"match\":\".idx\",\"method\":\"PUT\",\"status\":503,\"code\":\"SlowDown\",\"count\":5}" \
		"$AWS_ENDPOINT_URL/__control/fault" >/dev/null &&
	cd film && gen_data A001/more.bin 3000000 more1 && dits add A001/more.bin >/dev/null &&
	dits commit -m more >/dev/null &&
	{ dits push >/dev/null 2>../push.err || dits push >/dev/null; } &&
	cd .. &&
	assert_file_has push.err "PUT s3://media/team/film/packs/pack-[0-9a-f]+\.idx: SlowDown" &&
	sdk list team/film/packs/ >after &&
	assert_eq $((orphans + 1)) $(( $(grep -c "\.pack " after) - $(grep -c "\.idx " after) )) "packs without an index" &&
	dits clone "$URL/film" c4 >/dev/null &&
	assert_eq "$(sums_of film)" "$(sums_of c4)" &&
	(cd c4 && dits fsck >/dev/null)
'

test_expect_success 'a pack changed in the bucket is reported as corrupt, naming the object' '
	sdk list team/film/packs/ >keys &&
	key=$(awk "/\\.pack /{ if (\$2 > m) { m = \$2; k = \$1 } } END { print k }" keys) &&
	sdk get "$key" big.pack &&
	flip_byte big.pack 6000000 &&
	sdk put "$key" big.pack &&
	stop_dits && start_dits serve3 cache3 &&
	test_expect_code 1 dits clone "$URL/film" c3 2>err &&
	assert_one_line_error err "$URL/film" &&
	assert_file_has serve3.log "s3://media/$key: chunk [0-9a-f]+: stored bytes do not match their hash" &&
	assert_missing c3/A001/raw.bin
'

test_done
