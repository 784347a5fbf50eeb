#!/usr/bin/env bash
# dits serve as a team's server: repositories created and pushed to over
# HTTP with the wire protocol (docs/PROTOCOL.md), byte-identical objects
# back, refs moved only by fast-forward or force and by compare-and-swap,
# nothing stored from a bad, cut or oversized upload, no path out of the
# root, tokens, TLS, S3 events, proxies made by the server's own workers,
# and a server killed in the middle of an upload.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-sync.sh"

if ! command -v curl >/dev/null 2>&1; then
	test_skip 'dits serve' 'curl is not installed'
	test_done
fi

cd "$TRASH" || exit 1
mkdir root

# serve_root TAG ARGS...: start_server (lib-sync.sh) on ./root, setting URL
# and PID. The server takes its proxy settings from each repository's
# config, not from lib.sh's default.
serve_root () {
	DITS_PROXY_AUTO= start_server "$1" root "${@:2}" || return 1
	URL=$SERVER_URL
	PID=$SERVER_PID
}

# req METHOD PATH [CURL ARGS...]: the response body goes to ./resp, the
# status code to stdout.
req () {
	_m=$1
	_p=$2
	shift 2
	curl -s --path-as-is -o resp -w '%{http_code}' -X "$_m" -H 'Expect:' "$@" "$URL$_p"
}

# update_body REF OLD NEW [FORCE]
update_body () {
	printf '{"updates": [{"ref": "%s", "old": "%s", "new": "%s", "force": %s}]}' "$1" "$2" "$3" "${4:-false}"
}

packs () { # REPO: the number of visible packs
	server_packs "$TRASH/root" "$1"
}

metric () { # NAME: its value in /metrics
	curl -s "$URL/metrics" | awk -v n="$1" '$1 == n {print $2}'
}

test_expect_success 'setup: a local repository with two commits' '
	dits init client >/dev/null &&
	cd client &&
	gen_data a.bin 3000000 one &&
	mkdir -p sub &&
	gen_data sub/b.bin 400000 two &&
	dits add . >/dev/null &&
	dits commit -m one >/dev/null &&
	gen_data c.bin 700000 three &&
	dits add . >/dev/null &&
	dits commit -m two >/dev/null &&
	"$NET_TOOL" rev . HEAD~1 >../c1 &&
	"$NET_TOOL" rev . HEAD >../c2
'
C1=$(cat c1 2>/dev/null)
C2=$(cat c2 2>/dev/null)

test_expect_success 'the server starts on a free port and says where' '
	serve_root a --listen 127.0.0.1:0 --workers 0 --pid-file server.pid &&
	A_URL=$URL && A_PID=$PID &&
	assert_match "^http://127\.0\.0\.1:[0-9]+$" "$URL" &&
	assert_lines 1 server-a.out &&
	assert_eq "$PID" "$(cat server.pid)"
'

test_expect_success 'healthz' '
	assert_eq 200 "$(req GET /healthz)" &&
	assert_eq ok "$(cat resp)"
'

test_expect_success 'a repository that does not exist is 404; create makes it with the chunker asked for' '
	assert_eq 404 "$(req GET /proj/refs)" &&
	assert_match "\"error\"" "$(cat resp)" &&
	assert_eq 201 "$(req POST /proj/create -d "{\"chunker\": {\"min\": 16384, \"avg\": 65536, \"max\": 262144, \"level\": 1, \"seed\": 0}}")" &&
	assert_exists root/proj/.dits &&
	assert_eq 200 "$(req POST /proj/create -d "{\"chunker\": {\"min\": 4096, \"avg\": 16384, \"max\": 65536}}")" &&
	assert_eq 65536 "$(json_num avg <resp)" "an existing repository keeps its parameters" &&
	assert_eq 201 "$(req POST /small/create -d "{\"chunker\": {\"min\": 4096, \"avg\": 16384, \"max\": 65536}}")" &&
	assert_eq 16384 "$(cd root/small && dits config chunker.avg)" &&
	assert_eq 400 "$(req POST /bad/create -d "{\"chunker\": {\"min\": 1, \"avg\": 2, \"max\": 3}}")" &&
	assert_missing root/bad/.dits
'

test_expect_success 'push: upload every object, then move the branch' '
	"$NET_TOOL" records client --all-from "$C1" >push1.rec &&
	"$NET_TOOL" list <push1.rec >push1.list &&
	n=$(wc -l <push1.list) &&
	assert_eq 200 "$(req POST /proj/objects -H "Content-Type: application/x-dits-records" --data-binary @push1.rec)" &&
	assert_eq "$n" "$(json_num received <resp)" &&
	assert_eq "$n" "$(json_num stored <resp)" &&
	assert_eq 200 "$(req POST /proj/refs -d "$(update_body refs/heads/main $ZERO "$C1")")" &&
	assert_eq "$C1" "$(json_str new <resp)" &&
	assert_eq 200 "$(req GET /proj/refs)" &&
	assert_eq "$C1" "$(json_str refs/heads/main <resp)" &&
	assert_eq refs/heads/main "$(json_str head <resp)"
'

test_expect_success 'the same upload again stores nothing new' '
	before=$(packs proj) &&
	assert_eq 200 "$(req POST /proj/objects --data-binary @push1.rec)" &&
	assert_eq 0 "$(json_num stored <resp)" &&
	assert_eq "$before" "$(packs proj)"
'

test_expect_success 'have: a bit per id, set for what the server holds' '
	cut -d" " -f2 push1.list | head -n 9 >have.hex &&
	echo 1111111111111111111111111111111111111111111111111111111111111111 >>have.hex &&
	"$NET_TOOL" ids - <have.hex >have.ids &&
	assert_eq 200 "$(req POST /proj/objects/have --data-binary @have.ids)" &&
	assert_eq "255 1" "$(od -An -tu1 resp | tr -s " " | sed "s/^ //; s/ $//")" &&
	printf "abc" >odd.ids &&
	assert_eq 400 "$(req POST /proj/objects/have --data-binary @odd.ids)"
'

test_expect_success 'walk lists the metadata of a commit, each once, without chunks' '
	assert_eq 200 "$(req POST /proj/walk -d "{\"want\": [\"$C1\"], \"have\": []}")" &&
	"$NET_TOOL" entries <resp | LC_ALL=C sort >walk.list &&
	grep -v "^chunk " push1.list | cut -d" " -f1,2 | LC_ALL=C sort >meta.list &&
	assert_files_eq meta.list walk.list &&
	assert_eq 200 "$(req POST /proj/walk -d "{\"want\": [\"$C1\"], \"have\": [\"$C1\"]}")" &&
	assert_eq 0 "$(file_size resp)"
'

test_expect_success 'objects/get returns the very bytes that were pushed; a clone of them matches' '
	cut -d" " -f2 push1.list | "$NET_TOOL" ids - >all.ids &&
	assert_eq 200 "$(req POST /proj/objects/get --data-binary @all.ids)" &&
	assert_files_eq push1.rec resp &&
	cp resp clone.rec &&
	dits init cloned >/dev/null &&
	"$NET_TOOL" store cloned <clone.rec &&
	"$NET_TOOL" setref cloned refs/heads/main "$C1" &&
	(cd cloned && dits checkout "$C1" -- . >/dev/null && dits fsck >/dev/null) &&
	(cd client && dits checkout "$C1" -- . >/dev/null) &&
	sums_of client | grep -v " c.bin$" >client.sums && sums_of cloned >cloned.sums &&
	(cd client && dits checkout main -- . >/dev/null) &&
	assert_files_eq client.sums cloned.sums
'

test_expect_success 'objects/get of a missing id is 404 and sends nothing' '
	"$NET_TOOL" ids "$(head -n1 have.hex)" 2222222222222222222222222222222222222222222222222222222222222222 >miss.ids &&
	assert_eq 404 "$(req POST /proj/objects/get --data-binary @miss.ids)" &&
	assert_match "2222222222" "$(cat resp)"
'

test_expect_success 'fsck on the server repository is clean' '
	server_fsck root proj "$URL"
'

test_expect_success 'a ref to a commit whose objects are missing is refused (400)' '
	assert_eq 400 "$(req POST /proj/refs -d "$(update_body refs/heads/main "$C1" "$C2")")" &&
	assert_match "$(echo "$C2" | cut -c1-12)|missing|not" "$(cat resp)" &&
	assert_eq 200 "$(req GET /proj/refs)" && assert_eq "$C1" "$(json_str refs/heads/main <resp)"
'

test_expect_success 'an incremental push (only what is new) fast-forwards main' '
	"$NET_TOOL" records client --all-from "$C2" --have "$C1" >push2.rec &&
	"$NET_TOOL" list <push2.rec >push2.list &&
	assert_match "^commit $C2 " "$(grep "^commit" push2.list)" &&
	assert_le "$(grep -vc "^chunk " push2.list)" 4 "only the new metadata" &&
	assert_eq 0 "$(cut -d" " -f2 push2.list | grep -cFf - push1.list)" "nothing the server has" &&
	assert_eq 200 "$(req POST /proj/objects --data-binary @push2.rec)" &&
	assert_eq 200 "$(req POST /proj/refs -d "$(update_body refs/heads/main "$C1" "$C2")")" &&
	assert_eq 200 "$(req GET /proj/refs)" && assert_eq "$C2" "$(json_str refs/heads/main <resp)"
'

test_expect_success 'non-fast-forward is 409 and the ref stays' '
	assert_eq 409 "$(req POST /proj/refs -d "$(update_body refs/heads/main "$C2" "$C1")")" &&
	assert_match "non-fast-forward" "$(cat resp)" &&
	req GET /proj/refs >/dev/null && assert_eq "$C2" "$(json_str refs/heads/main <resp)"
'

test_expect_success 'a stale compare-and-swap is 409 and names where the ref is' '
	assert_eq 409 "$(req POST /proj/refs -d "$(update_body refs/heads/main "$C1" "$C2")")" &&
	assert_match "is at $C2" "$(cat resp)" &&
	assert_eq 409 "$(req POST /proj/refs -d "$(update_body refs/heads/main $ZERO "$C2")")"
'

test_expect_success 'force moves a branch backwards; tags and new branches work' '
	assert_eq 200 "$(req POST /proj/refs -d "$(update_body refs/heads/main "$C2" "$C1" true)")" &&
	req GET /proj/refs >/dev/null && assert_eq "$C1" "$(json_str refs/heads/main <resp)" &&
	assert_eq 200 "$(req POST /proj/refs -d "$(update_body refs/heads/main "$C1" "$C2")")" &&
	assert_eq 200 "$(req POST /proj/refs -d "$(update_body refs/tags/v1 $ZERO "$C1")")" &&
	assert_eq 200 "$(req POST /proj/refs -d "$(update_body refs/heads/old $ZERO "$C1")")" &&
	req GET /proj/refs >/dev/null && assert_eq "$C1" "$(json_str refs/tags/v1 <resp)" &&
	assert_eq 400 "$(req POST /proj/refs -d "$(update_body refs/heads/../x $ZERO "$C1")")" &&
	assert_eq 400 "$(req POST /proj/refs -d "$(update_body HEAD $ZERO "$C1")")"
'

test_expect_success 'a record whose payload does not hash to its id: 422, nothing stored' '
	"$NET_TOOL" random 1048576 7 >rand.rec &&
	"$NET_TOOL" corrupt 3 <rand.rec >bad.rec &&
	before=$(packs proj) &&
	assert_eq 422 "$(req POST /proj/objects --data-binary @bad.rec)" &&
	assert_match "does not hash" "$(cat resp)" &&
	assert_eq "$before" "$(packs proj)" &&
	"$NET_TOOL" list <rand.rec | head -n1 | cut -d" " -f2 | "$NET_TOOL" ids - >first.ids &&
	req POST /proj/objects/have --data-binary @first.ids >/dev/null &&
	assert_eq 0 "$(od -An -tu1 resp | tr -d " ")" "the records before the bad one are not stored either"
'

test_expect_success 'a stream cut inside a record: 400, nothing stored' '
	before=$(packs proj) &&
	head -c 600000 rand.rec >cut.rec &&
	assert_eq 400 "$(req POST /proj/objects --data-binary @cut.rec)" &&
	assert_match "truncated" "$(cat resp)" &&
	printf "garbage that is not a record header at all......" >junk.rec &&
	assert_eq 400 "$(req POST /proj/objects --data-binary @junk.rec)" &&
	assert_eq "$before" "$(packs proj)"
'

test_expect_success 'a body shorter than its Content-Length (client gone): nothing stored, no temporary left' '
	before=$(packs proj) &&
	size=$(file_size rand.rec) &&
	test_expect_code any curl -s -o /dev/null --max-time 2 -X POST -H "Expect:" \
		-H "Content-Length: $((size + 100000))" --data-binary @rand.rec "$URL/proj/objects" &&
	sleep 0.5 &&
	assert_eq "$before" "$(packs proj)" &&
	assert_eq 0 "$(ls root/proj/.dits/objects/pack | grep -c tmp)"
'

test_expect_success 'limits: 413 over 256 MiB (before reading it), 411 without length, 400 for bad JSON' '
	before=$(packs proj) &&
	assert_eq 413 "$(req POST /proj/objects -H "Content-Length: 268435457" -d x)" &&
	assert_match "over the limit of 268435456" "$(cat resp)" &&
	assert_eq 411 "$(req POST /proj/objects -H "Transfer-Encoding: chunked" -d x)" &&
	assert_eq 400 "$(req POST /proj/refs -d "{\"updates\": [")" &&
	assert_eq 400 "$(req POST /proj/walk -d "{not json")" &&
	assert_eq 400 "$(req POST /proj/create -d "[1, 2")" &&
	assert_eq 400 "$(req POST /proj/create -d "[1, 2]")" &&
	assert_match "expected a JSON object, not an array" "$(cat resp)" &&
	assert_eq 400 "$(req POST /proj/walk -d "{\"want\": [\"nothex\"]}")" &&
	assert_match "want\[0\]: expected a 64-hex id" "$(cat resp)" &&
	assert_eq 400 "$(req POST /_events/s3 -d "{\"foo\": 1}")" &&
	assert_eq 200 "$(req GET /healthz)" &&
	assert_eq "$before" "$(packs proj)"
'

# The server answers an oversized body before reading it and then drains
# what the client still sends, so the answer is never lost to a reset:
# the same request ten times gets its 413 every time.
test_expect_success 'a JSON body over 1 MiB: 413 every time, with the limit named' '
	head -c 1100000 /dev/zero >big.json &&
	for i in 1 2 3 4 5 6 7 8 9 10; do
		code=$(req POST /proj/refs --data-binary @big.json) &&
		assert_eq 413 "$code" "try $i" &&
		assert_match "over the limit of 1048576" "$(cat resp)" || return 1
	done &&
	assert_eq 413 "$(req POST /proj/refs -H "Transfer-Encoding: chunked" --data-binary @big.json)" &&
	assert_eq 200 "$(req GET /proj/refs)" && assert_eq "$C2" "$(json_str refs/heads/main <resp)"
'

test_expect_success 'no path leads out of the root' '
	outside_before=$(ls -a "$TRASH") &&
	for p in /../etc/passwd/refs /%2e%2e/refs /a%2fb/refs /.dits/refs /..%2f..%2fetc/refs \
		/%2e%2e%2f%2e%2e%2ftmp/create /..%2fescape/create //etc/create /proj/../../create \
		/_events/refs /proj/%2e%2e/refs; do
		code=$(req GET "$p") &&
		assert_match "^4" "$code" "GET $p" || return 1
		code=$(req POST "$p" -d "{}") &&
		assert_match "^4" "$code" "POST $p" || return 1
	done &&
	assert_eq "$outside_before" "$(ls -a "$TRASH")" &&
	assert_missing root/escape && assert_missing escape &&
	assert_eq "proj small" "$(ls root | tr "\n" " " | sed "s/ $//")"
'

test_expect_success 'metrics count requests, bytes, objects and pushes' '
	ok=$(metric "dits_http_requests_total{code=\"200\"}") &&
	req GET /healthz >/dev/null && req GET /healthz >/dev/null &&
	assert_eq $((ok + 3)) "$(metric "dits_http_requests_total{code=\"200\"}")" "two healthz and one metrics" &&
	assert_ge "$(metric dits_objects_received_total)" "$(wc -l <push1.list)" &&
	assert_ge "$(metric dits_http_bytes_received_total)" "$(file_size push1.rec)" &&
	assert_ge "$(metric dits_http_bytes_sent_total)" "$(file_size push1.rec)" &&
	assert_eq 2 "$(metric dits_repositories)" &&
	assert_ge "$(metric dits_pushes_total)" 4 &&
	assert_match "^[0-9]+$" "$(metric "dits_jobs{state=\"queued\"}")"
'

test_expect_success '64 clients at once' '
	seq 64 | xargs -P 64 -I{} curl -s -o /dev/null -w "%{http_code}\n" "$URL/proj/refs" >many.out &&
	assert_eq 64 "$(grep -c "^200$" many.out)"
'

test_expect_success 'without --auth the server refuses to listen beyond loopback' '
	test_expect_code 1 timeout 10 "$DITS" serve --listen 0.0.0.0:0 --root root >nl.out 2>nl.err &&
	assert_one_line_error nl.err "loopback" &&
	test ! -s nl.out
'

test_expect_success 'auth: tokens for read and write, anonymous read where configured' '
	cat >auth.conf <<-EOF &&
	# tokens of the team
	token rtok-123 read *
	token wtok-456 write proj*

	anonymous read pub*
	EOF
	assert_eq 201 "$(req POST /pub1/create -d "{}")" &&
	serve_root auth --listen 0.0.0.0:0 --workers 0 --auth auth.conf &&
	URL=$(echo "$URL" | sed "s/0\.0\.0\.0/127.0.0.1/") &&
	assert_eq 200 "$(req GET /healthz)" &&
	assert_eq 401 "$(req GET /proj/refs)" &&
	assert_eq 401 "$(req GET /proj/refs -H "Authorization: Bearer nope")" &&
	assert_eq 200 "$(req GET /proj/refs -H "Authorization: Bearer rtok-123")" &&
	assert_eq 403 "$(req POST /proj/objects -H "Authorization: Bearer rtok-123" --data-binary @push2.rec)" &&
	assert_eq 403 "$(req POST /proj/refs -H "Authorization: Bearer rtok-123" -d "$(update_body refs/heads/x $ZERO "$C1")")" &&
	assert_eq 200 "$(req POST /proj/objects -H "Authorization: Bearer wtok-456" --data-binary @push2.rec)" &&
	assert_eq 200 "$(req POST /proj/refs -H "Authorization: Bearer wtok-456" -d "$(update_body refs/heads/x $ZERO "$C1")")" &&
	assert_eq 403 "$(req POST /other/create -H "Authorization: Bearer wtok-456" -d "{}")" &&
	assert_missing root/other &&
	assert_eq 200 "$(req GET /pub1/refs)" &&
	assert_eq 401 "$(req POST /pub1/walk -d "{}" -H "Authorization: Bearer bad")" &&
	assert_eq 401 "$(req GET /metrics)" &&
	assert_eq 200 "$(req GET /metrics -H "Authorization: Bearer rtok-123")"
'

test_expect_success 'SIGTERM stops the auth server; back to the first one' '
	{ kill -TERM $PID && wait $PID; rc=$?; URL=$A_URL; PID=$A_PID; } &&
	assert_eq 0 $rc "exit status"
'

test_expect_success 'a malformed auth file stops the server from starting' '
	echo "token onlytwo" >bad-auth.conf &&
	test_expect_code 1 timeout 10 "$DITS" serve --listen 127.0.0.1:0 --root root --auth bad-auth.conf 2>ba.err &&
	assert_one_line_error ba.err "bad-auth.conf:1"
'

if command -v openssl >/dev/null 2>&1; then
	test_expect_success 'TLS: https with a certificate curl trusts' '
		openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
			-days 2 -keyout key.pem -out cert.pem 2>/dev/null &&
		serve_root tls --listen 127.0.0.1:0 --workers 0 --tls-cert cert.pem --tls-key key.pem &&
		assert_match "^https://127\.0\.0\.1:[0-9]+$" "$URL" &&
		assert_eq ok "$(curl -s --cacert cert.pem "$URL/healthz")" &&
		assert_eq "$C2" "$(curl -s --cacert cert.pem "$URL/proj/refs" | json_str refs/heads/main)" &&
		test_expect_code any curl -s "$URL/healthz"
	'

	test_expect_success 'SIGTERM stops the TLS server; back to the first one' '
		{ kill -TERM $PID && wait $PID; rc=$?; URL=$A_URL; PID=$A_PID; } &&
		assert_eq 0 $rc "exit status"
	'
else
	test_skip 'TLS' 'openssl is not installed'
fi

HAVE_FFMPEG=
if command -v ffmpeg >/dev/null 2>&1; then HAVE_FFMPEG=yes; fi

# push_repo DIR NAME: creates NAME on the server and pushes DIR's main to it.
push_repo () {
	"$NET_TOOL" records "$1" >"$TRASH/$2.rec" &&
	assert_eq 200 "$(req POST "/$2/objects" --data-binary @"$TRASH/$2.rec")" &&
	assert_eq 200 "$(req POST "/$2/refs" -d "$(update_body refs/heads/main $ZERO "$("$NET_TOOL" rev "$1" HEAD)")")"
}

if [ -n "$HAVE_FFMPEG" ]; then
	test_expect_success 'an S3 event naming a pushed video enqueues its proxy job' '
		dits init video >/dev/null &&
		(cd video && make_master clip.mov 320x240 1 01:00:00:00 1 25 && gen_data notes.txt 100 n &&
			dits add . >/dev/null && dits commit -m clip >/dev/null) &&
		assert_eq 201 "$(req POST /media/create -d "{}")" &&
		(cd root/media && dits config proxy.auto false) &&
		push_repo video media &&
		assert_eq 0 "$(json_num jobs <resp)" "proxy.auto is off: the push queued nothing" &&
		q0=$(metric "dits_jobs{state=\"queued\"}") &&
		assert_eq 200 "$(req POST /_events/s3 -d "{\"Records\": [
			{\"eventName\": \"ObjectCreated:Put\", \"s3\": {\"object\": {\"key\": \"media/clip.mov\"}}},
			{\"eventName\": \"ObjectCreated:Put\", \"s3\": {\"object\": {\"key\": \"media/none.mov\"}}},
			{\"eventName\": \"ObjectCreated:Put\", \"s3\": {\"object\": {\"key\": \"nosuchrepo/clip.mov\"}}},
			{\"eventName\": \"ObjectRemoved:Delete\", \"s3\": {\"object\": {\"key\": \"media/clip.mov\"}}}]}")" &&
		assert_eq 1 "$(json_num enqueued <resp)" &&
		assert_eq 3 "$(json_num ignored <resp)" &&
		assert_eq $((q0 + 1)) "$(metric "dits_jobs{state=\"queued\"}")" &&
		assert_ge "$(metric dits_queue_depth)" 1
	'

	test_expect_success 'a push of a video queues its proxy job (proxy.auto on)' '
		assert_eq 201 "$(req POST /film/create -d "{}")" &&
		push_repo video film &&
		assert_eq 1 "$(json_num jobs <resp)"
	'
else
	test_skip 'S3 events and pushed videos' 'ffmpeg is not installed'
fi

test_expect_success 'kill -9 in the middle of a large upload: restart, fsck clean, the upload completes' '
	"$NET_TOOL" random 209715200 9 >big.rec &&
	before=$(packs proj) &&
	{ curl -s -o /dev/null --limit-rate 25M -H "Expect:" -X POST -T big.rec "$URL/proj/objects" & } &&
	cpid=$! &&
	sleep 2 &&
	kill -9 $PID &&
	test_expect_code any wait $cpid &&
	ls root/proj/.dits/objects/pack >pack.ls &&
	assert_eq "$before" "$(packs proj)" "the half upload is not a pack" &&
	serve_root b --listen 127.0.0.1:0 --workers 1 &&
	assert_eq 0 "$(ls root/proj/.dits/objects/pack | grep -c tmp)" "start-up removed the leftovers" &&
	server_fsck root proj "$URL" &&
	assert_eq 200 "$(req POST /proj/objects -T big.rec)" &&
	assert_eq 800 "$(json_num stored <resp)" &&
	assert_eq $((before + 1)) "$(packs proj)" &&
	server_fsck root proj "$URL"
'

# wait_ready NAME: polls /NAME/variants until a proxy is ready (120 s)
wait_ready () {
	_t=0
	while [ $_t -lt 240 ]; do
		curl -s "$URL/$1/variants" >"$TRASH/variants.json"
		if grep -q '"status": *"ready"' "$TRASH/variants.json"; then return 0; fi
		sleep 0.5
		_t=$((_t + 1))
	done
	cat "$TRASH/variants.json"
	return 1
}

if [ -n "$HAVE_FFMPEG" ]; then
	test_expect_success 'the workers make the proxies: a pushed video, and the S3 job from before the restart' '
		wait_ready film &&
		assert_match "proxy_1080p" "$(cat variants.json)" &&
		wait_ready media &&
		m=$(json_str manifest <variants.json) &&
		"$NET_TOOL" ids "$m" >m.ids &&
		assert_eq 200 "$(req POST /media/objects/have --data-binary @m.ids)" &&
		assert_eq 1 "$(od -An -tu1 resp | tr -d " ")" &&
		server_fsck root film "$URL" >/dev/null
	'

	not_in_fleet 'it reads the variants objects from the server repository packs, in S3 in a fleet' \
	test_expect_success 'a client registers a ready variant once its manifest and chunks are there' '
		assert_eq 201 "$(req POST /copy/create -d "{}")" &&
		(cd root/copy && dits config proxy.auto false) &&
		push_repo video copy &&
		assert_eq 0 "$(json_num jobs <resp)" "no worker makes the proxy of copy itself" &&
		body=$(curl -s "$URL/media/variants") &&
		assert_eq 400 "$(req POST /copy/variants -d "$body")" "the proxy is not in copy yet" &&
		printf "%s" "$body" | grep -o "\"manifest\": *\"[0-9a-f]*\"" | grep -o "[0-9a-f]\{64\}" >pm.hex &&
		: >pm.rec &&
		while read -r m; do "$NET_TOOL" records root/media --all-from "$m" >>pm.rec || return 1; done <pm.hex &&
		assert_eq 200 "$(req POST /copy/objects --data-binary @pm.rec)" &&
		assert_eq 200 "$(req POST /copy/variants -d "$body")" &&
		assert_ge "$(json_num registered <resp)" 1 &&
		curl -s "$URL/copy/variants" >copy.json &&
		assert_match "\"status\": *\"ready\"" "$(cat copy.json)" &&
		assert_eq 200 "$(req POST /copy/variants -d "$body")" &&
		assert_eq 0 "$(json_num registered <resp)" "a second time changes nothing"
	'
else
	test_skip 'proxies made by the server' 'ffmpeg is not installed'
fi

test_expect_success 'SIGTERM stops the server cleanly' '
	kill -TERM $PID &&
	wait $PID
'

test_done
