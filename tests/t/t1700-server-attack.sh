#!/usr/bin/env bash
# An attacker against dits serve, one class of attack per step: bodies of
# the wrong shape, bodies past their limit however they are framed, an
# early answer under load, ref updates that fail half way, amplified
# object requests, a store that cannot be read, and a slowloris flood.
# Each time the server answers 4xx (or the right 5xx), stays up (the same
# process, /healthz 200) and stores nothing (packs and refs unchanged).
. "$(dirname "$0")/lib.sh"
. "$TEST_DIR/lib-sync.sh"

if ! command -v curl >/dev/null 2>&1; then
	test_skip 'server attacks' 'curl is not installed'
	test_done
fi

cd "$TRASH" || exit 1
mkdir root

# req METHOD PATH [CURL ARGS...]: the body goes to ./resp, the status to stdout.
req () {
	_m=$1
	_p=$2
	shift 2
	curl -s --max-time 20 -o resp -w '%{http_code}' -X "$_m" -H 'Expect:' "$@" "$URL$_p"
}

packs () { # REPO: the number of visible packs
	ls "$TRASH/root/$1/.dits/objects/pack" | grep -c '^pack-.*\.pack$'
}

# snapshot: what must not change (packs and refs of proj)
snapshot () {
	{ ls root/proj/.dits/objects/pack && curl -s "$URL/proj/refs"; } >"$TRASH/snap.$1"
}

# alive: the same server process answers /healthz
alive () {
	kill -0 "$SERVER_PID" &&
	assert_eq 200 "$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' "$URL/healthz")" "healthz"
}

test_expect_success 'setup: a server with a repository holding two commits on main' '
	dits init client >/dev/null &&
	(cd client && gen_data a.bin 300000 one && dits add . >/dev/null && dits commit -m one >/dev/null &&
		gen_data b.bin 200000 two && dits add . >/dev/null && dits commit -m two >/dev/null) &&
	C1=$("$NET_TOOL" rev client HEAD~1) && C2=$("$NET_TOOL" rev client HEAD) &&
	echo "$C1" >c1 && echo "$C2" >c2 &&
	start_server a root --workers 0 &&
	URL=$SERVER_URL && PORT=$SERVER_PORT &&
	echo "$SERVER_PID" >server.pid &&
	assert_eq 201 "$(req POST /proj/create -d "{}")" &&
	"$NET_TOOL" records client >all.rec &&
	assert_eq 200 "$(req POST /proj/objects --data-binary @all.rec)" &&
	assert_eq 200 "$(req POST /proj/refs -d "{\"updates\": [{\"ref\": \"refs/heads/main\", \"old\": \"$ZERO\", \"new\": \"$C2\"}]}")" &&
	snapshot before
'
C1=$(cat c1 2>/dev/null)
C2=$(cat c2 2>/dev/null)
SERVER_PID=$(cat server.pid 2>/dev/null)

test_expect_success 'valid JSON that is not an object, on every JSON endpoint: 400, the server stays up' '
	for path in /proj/create /proj/walk /proj/refs /proj/variants /_events/s3; do
		for body in "[1, 2]" "[]" "42" "\"text\"" "null" "true"; do
			code=$(req POST "$path" -d "$body") &&
			assert_eq 400 "$code" "POST $path $body" &&
			assert_match "expected a JSON object" "$(cat resp)" || return 1
		done
	done &&
	alive
'

test_expect_success 'a field of the wrong type is 400 naming the field' '
	assert_eq 400 "$(req POST /proj/refs -d "{\"updates\": [{\"ref\": \"refs/heads/x\", \"old\": \"$ZERO\", \"new\": \"$C1\"}, {\"ref\": \"refs/heads/y\", \"old\": 5, \"new\": \"$C1\"}]}")" &&
	assert_match "updates\[1\]\.old: expected a 64-hex id" "$(cat resp)" &&
	assert_eq 400 "$(req POST /proj/refs -d "{\"updates\": [7]}")" &&
	assert_match "updates\[0\]: expected an object" "$(cat resp)" &&
	assert_eq 400 "$(req POST /proj/refs -d "{\"updates\": {\"ref\": 1}}")" &&
	assert_match "updates: expected an array" "$(cat resp)" &&
	assert_eq 400 "$(req POST /proj/refs -d "{\"updates\": [{\"ref\": \"refs/heads/x\", \"old\": \"$ZERO\", \"new\": \"$C1\", \"force\": \"yes\"}]}")" &&
	assert_match "updates\[0\]\.force" "$(cat resp)" &&
	assert_eq 400 "$(req POST /proj/walk -d "{\"want\": [\"$C1\", {}]}")" &&
	assert_match "want\[1\]: expected a 64-hex id" "$(cat resp)" &&
	assert_eq 400 "$(req POST /proj/walk -d "{\"have\": \"$C1\"}")" &&
	assert_match "have: expected an array" "$(cat resp)" &&
	assert_eq 400 "$(req POST /proj/create -d "{\"chunker\": [1]}")" &&
	assert_match "chunker: expected an object" "$(cat resp)" &&
	assert_eq 400 "$(req POST /proj/create -d "{\"chunker\": {\"seed\": 1e30}}")" &&
	assert_match "chunker\.seed" "$(cat resp)" &&
	assert_eq 400 "$(req POST /proj/variants -d "{\"variants\": [{\"status\": 3}]}")" &&
	assert_match "variants\[0\]\.status: expected a string" "$(cat resp)" &&
	assert_eq 400 "$(req POST /_events/s3 -d "{\"Records\": [{\"eventName\": \"ObjectCreated:Put\", \"s3\": []}]}")" &&
	assert_match "Records\[0\]\.s3: expected an object" "$(cat resp)" &&
	assert_eq 400 "$(req POST /proj/walk -d "{} trailing")" &&
	snapshot after && assert_files_eq snap.before snap.after &&
	alive
'

test_expect_success 'a chunked body past the limit: 413, nothing stored; an upload framed by chunks: 411' '
	head -c 1100000 /dev/zero | tr "\0" " " >big.json &&
	assert_eq 413 "$(req POST /proj/refs -H "Transfer-Encoding: chunked" --data-binary @big.json)" &&
	assert_match "over the limit" "$(cat resp)" &&
	"$NET_TOOL" random 600000 3 >rand.rec &&
	assert_eq 411 "$(req POST /proj/objects -H "Transfer-Encoding: chunked" -H "Content-Length: 10" --data-binary @rand.rec)" &&
	snapshot after && assert_files_eq snap.before snap.after &&
	alive
'

test_expect_success 'an early 413 reaches the client every time, even under CPU load' '
	{ timeout 120 yes >/dev/null & } && y1=$! &&
	{ timeout 120 yes >/dev/null & } && y2=$! &&
	test_at_end "kill $y1 $y2 2>/dev/null" &&
	for i in $(seq 20); do
		code=$(req POST /proj/refs --data-binary @big.json) &&
		assert_eq 413 "$code" "try $i" || return 1
	done &&
	kill $y1 $y2 &&
	snapshot after && assert_files_eq snap.before snap.after &&
	alive
'

test_expect_success 'several ref updates are all or nothing; the reply names the failing ref' '
	body="{\"updates\": [{\"ref\": \"refs/heads/side\", \"old\": \"$ZERO\", \"new\": \"$C2\"},
		{\"ref\": \"refs/heads/main\", \"old\": \"$C2\", \"new\": \"$C1\"}]}" &&
	assert_eq 409 "$(req POST /proj/refs -d "$body")" &&
	assert_match "non-fast-forward: refs/heads/main" "$(cat resp)" &&
	assert_missing root/proj/.dits/refs/heads/side &&
	body="{\"updates\": [{\"ref\": \"refs/heads/side\", \"old\": \"$ZERO\", \"new\": \"$C2\"},
		{\"ref\": \"refs/heads/main\", \"old\": \"$C1\", \"new\": \"$C2\"}]}" &&
	assert_eq 409 "$(req POST /proj/refs -d "$body")" &&
	assert_match "refs/heads/main is at $C2" "$(cat resp)" &&
	body="{\"updates\": [{\"ref\": \"refs/heads/side\", \"old\": \"$ZERO\", \"new\": \"$C2\"},
		{\"ref\": \"refs/heads/side\", \"old\": \"$ZERO\", \"new\": \"$C1\"}]}" &&
	assert_eq 400 "$(req POST /proj/refs -d "$body")" &&
	assert_match "updates\[1\]\.ref" "$(cat resp)" &&
	snapshot after && assert_files_eq snap.before snap.after &&
	body="{\"updates\": [{\"ref\": \"refs/heads/side\", \"old\": \"$ZERO\", \"new\": \"$C1\"},
		{\"ref\": \"refs/tags/v2\", \"old\": \"$ZERO\", \"new\": \"$C2\"}]}" &&
	assert_eq 200 "$(req POST /proj/refs -d "$body")" &&
	req GET /proj/refs >/dev/null &&
	assert_eq "$C1" "$(json_str refs/heads/side <resp)" &&
	assert_eq "$C2" "$(json_str refs/tags/v2 <resp)" &&
	snapshot before &&
	alive
'

test_expect_success 'objects/get serves an id named many times once' '
	"$NET_TOOL" ids "$C2" >one.ids &&
	assert_eq 200 "$(req POST /proj/objects/get --data-binary @one.ids)" &&
	one=$(file_size resp) &&
	for i in $(seq 2000); do cat one.ids || return 1; done >many.ids &&
	assert_eq 200 "$(req POST /proj/objects/get --data-binary @many.ids)" &&
	assert_eq "$one" "$(file_size resp)" &&
	"$NET_TOOL" list <resp >got.list &&
	assert_lines 1 got.list &&
	alive
'

test_expect_success 'a store that cannot be read is 5xx, not 404, and the server stays up' '
	assert_eq 201 "$(req POST /broken/create -d "{}")" &&
	assert_eq 200 "$(req POST /broken/objects --data-binary @all.rec)" &&
	"$NET_TOOL" ids "$C2" >c2.ids &&
	assert_eq 200 "$(req POST /broken/objects/get --data-binary @c2.ids)" &&
	pack=$(ls root/broken/.dits/objects/pack/pack-*.pack) &&
	: >"$pack" &&
	code=$(req POST /broken/objects/get --data-binary @c2.ids) &&
	assert_match "^5" "$code" "get from a truncated pack" &&
	code=$(req POST /broken/walk -d "{\"want\": [\"$C2\"]}") &&
	assert_match "^5" "$code" "walk over a truncated pack" &&
	rm -f "$pack" && mkdir "$pack" &&
	code=$(req POST /broken/objects/get --data-binary @c2.ids) &&
	assert_match "^5" "$code" "get when the pack is a directory" &&
	assert_eq 404 "$(req GET /nosuch/refs)" &&
	snapshot after && assert_files_eq snap.before snap.after &&
	alive
'

# The flood needs a descriptor per socket, in net_tool and in the server.
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 2600 ]; then
	test_skip 'slowloris' "only $(ulimit -n) file descriptors"
	test_done
fi

test_expect_success 'slowloris from one address: the per-client limit holds it, others get in' '
	{ "$NET_TOOL" slowloris "$PORT" 400 3 127.0.0.2 >one.out & } &&
	flood=$! &&
	test_at_end "kill $flood 2>/dev/null" &&
	sleep 1 &&
	assert_eq 200 "$(curl -s --max-time 2 -o /dev/null -w "%{http_code}" "$URL/healthz")" "healthz during the flood" &&
	wait $flood &&
	read -r _ opened _ closed <one.out &&
	assert_ge "$closed" $((opened - 256)) "all but 256 of $opened refused" &&
	alive
'

test_expect_success 'slowloris of 1000 sockets from many addresses: /healthz answers within 2 s' '
	{ "$NET_TOOL" slowloris "$PORT" 1000 8 127.0.0.2 40 >many.out & } &&
	flood=$! &&
	test_at_end "kill $flood 2>/dev/null" &&
	sleep 3 &&
	for i in $(seq 10); do
		code=$(curl -s --interface 127.0.0.1 --max-time 2 -o /dev/null -w "%{http_code}" "$URL/healthz") &&
		assert_eq 200 "$code" "healthz $i during the flood" || return 1
	done &&
	assert_eq 200 "$(req GET /proj/refs)" &&
	wait $flood &&
	read -r _ opened _ closed <many.out &&
	assert_ge "$opened" 900 "the flood got its sockets" &&
	assert_ge "$closed" 100 "the server shed waiting sockets" &&
	alive &&
	snapshot after && assert_files_eq snap.before snap.after
'

test_expect_success 'a header never finished is cut after --header-timeout' '
	start_server t root --workers 0 --header-timeout 1 &&
	"$NET_TOOL" slowloris "$SERVER_PORT" 20 3 127.0.0.3 >slow.out &&
	assert_eq "opened 20 closed_by_server 20" "$(cat slow.out)" &&
	assert_eq 200 "$(curl -s --max-time 2 -o /dev/null -w "%{http_code}" "$SERVER_URL/healthz")" &&
	kill -TERM "$SERVER_PID" && wait "$SERVER_PID" &&
	SERVER_PID=$(cat server.pid)
'

test_expect_success 'after all of it the first server still answers everything' '
	alive &&
	assert_eq 200 "$(req GET /proj/refs)" &&
	assert_eq "$C2" "$(json_str refs/heads/main <resp)" &&
	(cd root/proj && dits fsck >/dev/null) &&
	kill -TERM "$SERVER_PID" && wait "$SERVER_PID"
'

test_done
