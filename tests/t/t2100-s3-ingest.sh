#!/usr/bin/env bash
# A camera card uploaded into a bucket: the AWS SDK for JavaScript puts a
# clip under the ingest prefix of a real S3 server (tests/s3/server.mjs,
# every request's signature checked), its event notification is POSTed to
# `dits serve`, and the server reads the object from the bucket, commits it
# on the ingest branch and makes its proxy. Repeats are no-ops, a new
# version is a new commit, a missing object and a bad token change nothing,
# and the object is never copied whole to disk or memory: while a 160 MiB
# object is ingested no file over 40 MiB appears outside the packs (in the
# repositories or the server's TMPDIR), and the server's peak RSS (VmHWM,
# reset first through /proc/PID/clear_refs) grows by less than 100 MiB
# (about 57 MiB is measured: the chunker's four 8 MiB blocks and buffers;
# a copy in memory adds at least the object's size).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-sync.sh"

for tool in curl node ffmpeg; do
	if ! command -v $tool >/dev/null 2>&1; then
		test_skip 'S3-triggered ingest' "$tool is not installed"
		test_done
	fi
done
if [ ! -d "$SRCDIR/tests/s3/node_modules/s3rver" ]; then
	test_skip 'S3-triggered ingest' 'tests/s3/node_modules is not installed (npm ci)'
	test_done
fi

cd "$TRASH" || exit 1
unset AWS_ENDPOINT_URL_S3 AWS_SESSION_TOKEN AWS_DEFAULT_REGION

# the S3 server, on a free port
start_s3 "$TRASH/s3" cards || exit 1
test_at_end "stop_s3 $S3_PID"

sdk () { # OP KEY [FILE]: the AWS SDK on bucket cards
	node "$SRCDIR/tests/s3/sdk.mjs" "$AWS_ENDPOINT_URL" cards "$@"
}

# event KEY [SEQUENCER]: the notification S3 sends for KEY as it is now in
# the bucket (its key URL-encoded the way S3 does: '+' for a space)
event () {
	_head=$(sdk head "$1") &&
	_enc=$(node -e 'process.stdout.write(encodeURIComponent(process.argv[1]).replace(/%20/g, "+").replace(/%2F/g, "/"))' "$1") &&
	printf '{"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1", "eventName": "ObjectCreated:Put", "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": "cards", "arn": "arn:aws:s3:::cards"}, "object": {"key": "%s", "size": %s, "eTag": %s, "sequencer": "%s"}}}]}' \
		"$_enc" "${_head%% *}" "${_head#* }" "${2:-0055AED6DCD90281E5}"
}

# post BODY [TOKEN]: POST /_events/s3; the body answered goes to ./resp, the status to stdout
post () {
	curl -s -o resp -w '%{http_code}' -X POST -H 'Expect:' -H "Authorization: Bearer ${2:-wtok}" \
		--data-binary "$1" "$URL/_events/s3"
}

tip () { cat root/studio/.dits/refs/heads/ingest 2>/dev/null; }
moves () { wc -l <root/studio/.dits/logs/refs/heads/ingest | tr -d ' '; }

wait_ready () { # polls /studio/variants until a proxy is ready (120 s)
	_t=0
	while [ $_t -lt 240 ]; do
		curl -s -H 'Authorization: Bearer rtok' "$URL/studio/variants" >"$TRASH/variants.json"
		if grep -q '"status": *"ready"' "$TRASH/variants.json"; then return 0; fi
		sleep 0.5
		_t=$((_t + 1))
	done
	cat "$TRASH/variants.json"
	return 1
}

test_expect_success 'setup: a studio repository that ingests s3://cards/card01/ into footage/' '
	mkdir root &&
	dits init root/studio >/dev/null &&
	(cd root/studio && gen_data README 100 r && dits add README >/dev/null && dits commit -m start >/dev/null &&
		dits config ingest.bucket cards && dits config ingest.prefix card01/ && dits config ingest.path footage) &&
	printf "token wtok write *\ntoken rtok read *\n" >auth.conf &&
	mkdir srvtmp &&
	DITS_PROXY_AUTO= TMPDIR="$TRASH/srvtmp" start_server serve root --workers 1 --auth auth.conf &&
	URL=$SERVER_URL && PID=$SERVER_PID &&
	make_master clip.mov 320x240 3 01:00:00:00 2 25 &&
	sdk put "card01/A001 clip.mov" clip.mov
'

test_expect_success 'the event makes a commit on a new ingest branch from main, and queues the proxy' '
	main=$(cat root/studio/.dits/refs/heads/main) &&
	assert_eq 200 "$(post "$(event "card01/A001 clip.mov")")" &&
	assert_eq committed "$(json_str state <resp)" &&
	assert_eq "footage/A001 clip.mov" "$(json_str path <resp)" &&
	assert_eq ingest "$(json_str branch <resp)" &&
	assert_eq "$(file_size clip.mov)" "$(json_num size <resp)" &&
	assert_eq 1 "$(json_num jobs <resp)" &&
	C1=$(json_str commit <resp) && echo "$C1" >c1 &&
	assert_eq "$C1" "$(tip)" &&
	assert_eq "$main" "$(cat root/studio/.dits/refs/heads/main)" "main did not move" &&
	(cd root/studio && dits log ingest) >log &&
	assert_match "Ingest s3://cards/card01/A001 clip.mov" "$(cat log)" &&
	assert_match "start" "$(cat log)"
'

test_expect_success 'a clone of the ingest branch has the clip byte for byte, and the proxy becomes ready' '
	DITS_TOKEN=rtok dits clone "$URL/studio" copy >/dev/null &&
	(cd copy && dits checkout -b ingest >/dev/null && DITS_TOKEN=rtok dits pull origin ingest >/dev/null) &&
	cmp clip.mov "copy/footage/A001 clip.mov" &&
	wait_ready &&
	assert_match "proxy_1080p" "$(cat variants.json)"
'

test_expect_success 'the same event again, or another for the same ETag: no new commit' '
	before=$(moves) &&
	assert_eq 200 "$(post "$(event "card01/A001 clip.mov")")" &&
	assert_eq unchanged "$(json_str state <resp)" &&
	assert_eq "$(cat c1)" "$(json_str commit <resp)" &&
	assert_eq 200 "$(post "$(event "card01/A001 clip.mov" 0055AED6DCD90281F0)")" &&
	assert_eq unchanged "$(json_str state <resp)" &&
	assert_eq "$(cat c1)" "$(tip)" &&
	assert_eq "$before" "$(moves)"
'

test_expect_success 'a new version of the key is a new commit on top; its late twin is stale' '
	make_master clip2.mov 320x240 2 02:00:00:00 2 25 &&
	sdk put "card01/A001 clip.mov" clip2.mov &&
	assert_eq 200 "$(post "$(event "card01/A001 clip.mov" 0055AED6DCD9028200)")" &&
	assert_eq committed "$(json_str state <resp)" &&
	C2=$(json_str commit <resp) &&
	assert_ne "$(cat c1)" "$C2" &&
	assert_eq "$C2" "$(tip)" &&
	(cd copy && DITS_TOKEN=rtok dits pull origin ingest >/dev/null) &&
	cmp clip2.mov "copy/footage/A001 clip.mov" &&
	before=$(moves) &&
	assert_eq 200 "$(post "$(event "card01/A001 clip.mov" 0055AED6DCD90281E5 | sed "s/\"eTag\": \"[^\"]*\"/\"eTag\": \"0123\"/")")" &&
	assert_eq stale "$(json_str state <resp)" &&
	assert_eq "$before" "$(moves)"
'

test_expect_success 'a key with spaces and non-ASCII letters' '
	key="card01/Día 2/B001 ünïcode+plus.mov" &&
	sdk put "$key" clip.mov &&
	event "$key" >ev.json &&
	grep -qF "D%C3%ADa+2/B001+%C3%BCn%C3%AFcode%2Bplus.mov" ev.json &&
	assert_eq 200 "$(post "$(cat ev.json)")" &&
	assert_eq committed "$(json_str state <resp)" &&
	(cd copy && DITS_TOKEN=rtok dits pull origin ingest >/dev/null) &&
	cmp clip.mov "copy/footage/Día 2/B001 ünïcode+plus.mov"
'

test_expect_success 'two deliveries of one event at once make one commit' '
	gen_data twin.bin 3000000 twin &&
	sdk put card01/twin.bin twin.bin &&
	event card01/twin.bin >twin.json &&
	before=$(moves) &&
	{ curl -s -o r1 -w "%{http_code}" -H "Authorization: Bearer wtok" --data-binary @twin.json "$URL/_events/s3" >s1 & } &&
	p1=$! &&
	curl -s -o r2 -w "%{http_code}" -H "Authorization: Bearer wtok" --data-binary @twin.json "$URL/_events/s3" >s2 &&
	wait $p1 &&
	assert_eq 200 "$(cat s1)" && assert_eq 200 "$(cat s2)" &&
	assert_eq "$(json_str commit <r1)" "$(json_str commit <r2)" &&
	assert_eq "$((before + 1))" "$(moves)" &&
	assert_eq "$(json_str commit <r1)" "$(tip)"
'

test_expect_success 'a batch of two records, two events for other keys at once, an empty object: a commit each' '
	gen_data b1.bin 1000000 b1 && gen_data b2.bin 1000000 b2 && gen_data b3.bin 1000000 b3 && gen_data b4.bin 1000000 b4 &&
	for f in b1 b2 b3 b4; do sdk put card01/$f.bin $f.bin || return 1; done &&
	event card01/b1.bin | sed "s/]}\$//" >batch.json &&
	printf ", " >>batch.json &&
	event card01/b2.bin | sed "s/^{\"Records\": \[//" >>batch.json &&
	before=$(moves) &&
	assert_eq 200 "$(post "$(cat batch.json)")" &&
	assert_eq 2 "$(json_objects <resp | grep -c "\"state\": \"committed\"")" &&
	event card01/b3.bin >b3.json && event card01/b4.bin >b4.json &&
	{ curl -s -o r3 -H "Authorization: Bearer wtok" --data-binary @b3.json "$URL/_events/s3" & } &&
	p3=$! &&
	curl -s -o r4 -H "Authorization: Bearer wtok" --data-binary @b4.json "$URL/_events/s3" &&
	wait $p3 &&
	assert_eq committed "$(json_str state <r3)" && assert_eq committed "$(json_str state <r4)" &&
	assert_eq "$((before + 4))" "$(moves)" &&
	(cd copy && DITS_TOKEN=rtok dits pull origin ingest >/dev/null) &&
	for f in b1 b2 b3 b4; do cmp $f.bin copy/footage/$f.bin || return 1; done &&
	: >empty.bin &&
	sdk put card01/empty.bin empty.bin &&
	assert_eq 200 "$(post "$(event card01/empty.bin)")" &&
	assert_eq committed "$(json_str state <resp)" &&
	assert_eq 0 "$(json_num size <resp)" &&
	(cd copy && DITS_TOKEN=rtok dits pull origin ingest >/dev/null) &&
	cmp empty.bin copy/footage/empty.bin
'

test_expect_success 'a read cut off midway resumes; a store that keeps failing commits nothing' '
	gen_data cut.bin 20000000 cut &&
	sdk put card01/cut.bin cut.bin &&
	curl -s -X POST -d "{\"match\": \"cut.bin\", \"method\": \"GET\", \"status\": \"cut\", \"count\": 1}" \
		"$AWS_ENDPOINT_URL/__control/fault" >/dev/null &&
	assert_eq 200 "$(post "$(event card01/cut.bin)")" &&
	assert_eq committed "$(json_str state <resp)" &&
	(cd copy && DITS_TOKEN=rtok dits pull origin ingest >/dev/null) &&
	cmp cut.bin copy/footage/cut.bin &&
	gen_data cut.bin 20000000 cut2 &&
	sdk put card01/cut.bin cut.bin &&
	before=$(tip) &&
	curl -s -X POST -d "{\"match\": \"cut.bin\", \"method\": \"GET\", \"status\": 500, \"count\": 5}" \
		"$AWS_ENDPOINT_URL/__control/fault" >/dev/null &&
	code=$(post "$(event card01/cut.bin)") &&
	assert_eq 500 "$code" &&
	assert_match "ingest s3://cards/card01/cut.bin: s3: GET s3://cards/card01/cut.bin: ServiceUnavailable.*after 5 attempts" "$(cat resp)" &&
	assert_eq "$before" "$(tip)"
'

test_expect_success 'an event for a missing object: 404 naming it, no commit' '
	before=$(tip) &&
	body=$(event "card01/A001 clip.mov" | sed "s/A001+clip.mov/gone.mov/") &&
	assert_eq 404 "$(post "$body")" &&
	assert_match "ingest s3://cards/card01/gone.mov: s3: HEAD s3://cards/card01/gone.mov: NotFound \(HTTP 404\)" "$(cat resp)" &&
	assert_eq "$before" "$(tip)"
'

test_expect_success 'without a token 401, with a read token 403, a malformed event 400: nothing moves' '
	before=$(tip) &&
	body=$(event "card01/A001 clip.mov" 0055AED6DCD90299FF) &&
	assert_eq 401 "$(curl -s -o resp -w "%{http_code}" --data-binary "$body" "$URL/_events/s3")" &&
	assert_eq 403 "$(post "$body" rtok)" &&
	assert_eq 400 "$(post "{\"Records\": [{\"eventName\": \"ObjectCreated:Put\", \"s3\": {\"bucket\": {\"name\": \"cards\"}, \"object\": {\"key\": \"card01/x%zz\"}}}]}")" &&
	assert_match "Records\[0\]\.s3\.object\.key: a malformed" "$(cat resp)" &&
	assert_eq 400 "$(post "{\"Records\": [{\"eventName\": \"ObjectCreated:Put\", \"s3\": {\"bucket\": {\"name\": \"cards\"}, \"object\": {\"key\": \"card01/x\", \"size\": \"12\"}}}]}")" &&
	assert_match "Records\[0\]\.s3\.object\.size" "$(cat resp)" &&
	assert_eq 400 "$(post "{\"Records\": [{\"eventName\": \"ObjectCreated:Put\", \"s3\": {\"bucket\": {\"name\": \"cards\"}, \"object\": {\"key\": \"card01/../x\"}}}]}")" &&
	assert_match "not a valid path" "$(cat resp)" &&
	assert_eq 200 "$(post "{\"Records\": [{\"eventName\": \"ObjectCreated:Put\", \"s3\": {\"bucket\": {\"name\": \"cards\"}, \"object\": {\"key\": \"card01/Day+3/\", \"size\": 0}}}]}")" &&
	assert_eq 1 "$(json_num ignored <resp)" "a folder marker is no file" &&
	assert_eq "$before" "$(tip)"
'

test_expect_success 'a 160 MiB object is streamed: no whole copy on disk or in memory' '
	"$NET_TOOL" random 167772160 5 >big.bin &&
	sdk put card01/big.bin big.bin &&
	event card01/big.bin >big.json &&
	echo 5 >/proc/$PID/clear_refs &&
	hwm0=$(awk "/^VmHWM/ {print \$2}" /proc/$PID/status) &&
	: >seen &&
	{ while kill -0 $PID 2>/dev/null && [ ! -e done ]; do
		find root srvtmp -type f -size +40M ! -path "*/objects/pack/*" 2>/dev/null >>seen; sleep 0.1
	done & } &&
	watcher=$! &&
	assert_eq 200 "$(post "$(cat big.json)")" &&
	touch done && wait $watcher &&
	assert_eq committed "$(json_str state <resp)" &&
	assert_eq "" "$(sort -u seen)" "large files outside packs" &&
	hwm1=$(awk "/^VmHWM/ {print \$2}" /proc/$PID/status) &&
	assert_le "$((hwm1 - hwm0))" 102400 "peak memory grew by less than 100 MiB for a 160 MiB object" &&
	(cd copy && DITS_TOKEN=rtok dits pull origin ingest >/dev/null) &&
	cmp big.bin copy/footage/big.bin
'

test_expect_success 'the server stops cleanly after all that (under ASan: no leak)' '
	kill -TERM $PID &&
	wait $PID &&
	assert_eq "" "$(grep -i "sanitizer\|runtime error" server-serve.log)"
'

test_done
