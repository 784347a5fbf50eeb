#!/usr/bin/env bash
# A team syncing through `dits serve`: push, clone, fetch and pull; a
# refused non-fast-forward push; an editor's proxy clone that fetches one
# master on demand; a killed push that resumes; and errors that change
# nothing.
. "$(dirname "$0")/lib.sh"

# The server makes proxies of pushed videos (lib.sh turns that off for
# local commits; the server is started with it on).
# The server under test (DITS_SERVE overrides, e.g. another build's dits).
SERVE=${DITS_SERVE:-$DITS}
cd "$TRASH" || exit 1
mkdir -p server

test_expect_success 'setup: a server on a free loopback port' '
	(DITS_PROXY_AUTO=1 "$SERVE" serve --root "$TRASH/server" --listen 127.0.0.1:0 --workers 2 >serve.log 2>&1 & echo $! >serve.pid) &&
	for i in $(seq 300); do grep -q "listening on" serve.log && break; sleep 0.1; done &&
	URL=$(sed -n "s/.*listening on \(http:[^ ]*\).*/\1/p" serve.log | head -n 1) &&
	assert_match "^http://127.0.0.1:[0-9]+$" "$URL"
'
test_at_end 'kill $(cat "$TRASH/serve.pid")'

test_expect_success 'remote add, list and remove' '
	dits init alice >/dev/null && cd alice &&
	dits remote add origin "$URL/proj" &&
	dits remote add spare "$URL/other" &&
	assert_eq "origin
spare" "$(dits remote)" &&
	dits remote -v >../remotes &&
	assert_file_has ../remotes "^origin	$URL/proj$" &&
	dits remote remove spare &&
	assert_eq origin "$(dits remote)"
'

test_expect_failure_exit 'a malformed URL is refused with one line' 1 '
	cd alice &&
	{ dits remote add bad "ftp://example.com/proj" 2>../err; rc=$?; } &&
	assert_one_line_error ../err "not a Dits remote URL" && return $rc
'

test_expect_success 'push a small repository to a fresh server' '
	cd alice &&
	gen_data clip.mov 3000000 a1 &&
	mkdir -p docs && echo "cut list" >docs/notes.txt &&
	dits add . >/dev/null && dits commit -m "day 1" >/dev/null &&
	dits push --json >../push1.json &&
	assert_eq true "$(json_raw created <../push1.json)" &&
	sent=$(json_num bytes_sent <../push1.json) &&
	assert_ge "$sent" 3000000 "bytes_sent of the first push" &&
	assert_eq "$(dits log --oneline | head -n 1 | cut -c1-12)" "$(dits log --oneline refs/remotes/origin/main | head -n 1 | cut -c1-12)"
'

test_expect_success 'clone --mode master is byte-identical, fsck clean on both sides' '
	dits clone "$URL/proj" bob --json >clone1.json &&
	assert_eq "$(sums_of alice)" "$(sums_of bob)" &&
	(cd bob && dits fsck && dits status --json >../st.json) &&
	assert_eq "" "$(status_entries unstaged M <st.json)" &&
	(cd alice && dits fsck)
'

test_expect_success 'a second push sends only the delta' '
	cd alice &&
	echo "more notes" >>docs/notes.txt &&
	dits add docs >/dev/null && dits commit -m "notes" >/dev/null &&
	dits push --json >../push2.json &&
	sent=$(json_num bytes_sent <../push2.json) &&
	assert_le "$sent" 20000 "bytes_sent of the second push"
'

test_expect_success 'fetch and pull bring a teammate'"'"'s commit' '
	(cd bob && dits pull >/dev/null && gen_data b.bin 100000 b1 && dits add b.bin >/dev/null &&
	 dits commit -m "from bob" >/dev/null && dits push >/dev/null) &&
	cd alice &&
	dits fetch --json >../fetch.json &&
	assert_ge "$(json_num refs_updated <../fetch.json)" 1 &&
	assert_missing b.bin &&
	dits pull >/dev/null &&
	assert_eq "$(b3 ../bob/b.bin)" "$(b3 b.bin)" &&
	dits status --json >../st.json && assert_eq "" "$(status_entries unstaged M <../st.json)"
'

test_expect_success 'a non-fast-forward push is refused with one line; --force overwrites' '
	(cd bob && dits pull >/dev/null && echo b >bob.txt && dits add bob.txt >/dev/null &&
	 dits commit -m bob >/dev/null && dits push >/dev/null) &&
	cd alice &&
	echo a >alice.txt && dits add alice.txt >/dev/null && dits commit -m alice >/dev/null &&
	test_expect_code 1 dits push 2>../err &&
	assert_one_line_error ../err "rejected" "pull" &&
	test_expect_code 1 dits pull 2>../err &&
	assert_one_line_error ../err "diverged" "merging is not supported" &&
	assert_exists alice.txt && assert_missing bob.txt &&
	dits push --force --json >../force.json &&
	assert_eq true "$(json_raw forced <../force.json)"
'

test_expect_success 'errors change nothing: unreachable server, bad URL, unknown remote' '
	cd alice &&
	repo_snapshot . >../snap &&
	dits remote add dead "http://127.0.0.1:1/proj" &&
	repo_snapshot . >../snap &&
	test_expect_code 1 dits push dead 2>../err && assert_one_line_error ../err "127.0.0.1:1" &&
	test_expect_code 1 dits fetch dead 2>../err && assert_one_line_error ../err "127.0.0.1:1" &&
	test_expect_code 1 dits fetch nosuch 2>../err && assert_one_line_error ../err "nosuch" &&
	test_expect_code 1 dits push nosuch 2>../err && assert_one_line_error ../err "nosuch" &&
	test_expect_code 2 dits push origin --limit-rate fast 2>../err && grep -q "fast" ../err &&
	test_expect_code 2 dits fetch origin --jobs 0 2>../err && grep -q "jobs" ../err &&
	assert_repo_unchanged . ../snap &&
	cd .. &&
	test_expect_code 1 dits clone "http://127.0.0.1:1/proj" nowhere 2>err && assert_one_line_error err &&
	test_expect_code 1 dits clone "$URL/no-such-repo" nowhere 2>err && assert_one_line_error err "no such repository" &&
	test_expect_code 1 dits clone "gopher://x/y" nowhere 2>err && assert_one_line_error err "not a Dits remote URL" &&
	assert_missing nowhere
'

test_expect_success 'a push killed with -9 resumes and sends only what the server lacks' '
	dits init big >/dev/null && cd big &&
	dits remote add origin "$URL/big" &&
	gen_data big.bin 80000000 big1 &&
	dits add big.bin >/dev/null && dits commit -m big >/dev/null &&
	("$DITS" push --jobs 1 --limit-rate 16M >../kill.out 2>&1 & echo $! >../push.pid) &&
	sleep 3.5 &&
	kill -0 $(cat ../push.pid) &&
	kill -9 $(cat ../push.pid) &&
	sleep 0.3 &&
	dits push --json >../resume.json &&
	sent=$(json_num bytes_sent <../resume.json) &&
	assert_le "$sent" 60000000 "bytes_sent of the resumed push (of 80 MB)" &&
	cd .. && dits clone "$URL/big" big2 >/dev/null &&
	assert_eq "$(b3 big/big.bin)" "$(b3 big2/big.bin)"
'

if ! command -v ffmpeg >/dev/null 2>&1 || ! command -v ffprobe >/dev/null 2>&1; then
	test_skip 'proxy clone' 'ffmpeg is not installed'
	test_done
fi

# ready_proxies NAME: the number of ready proxy_1080p variants on the server
ready_proxies () {
	curl -s "$URL/$1/variants" | tr -d '\n ' | grep -o '"type":"proxy_1080p","status":"ready"' | wc -l
}
height () { ffprobe -v error -select_streams v:0 -show_entries stream=height -of csv=p=0 "$1"; }
timecode () { ffprobe -v error -show_entries format_tags=timecode:stream_tags=timecode -of default=nw=1:nk=1 "$1" | head -n 1; }

test_expect_success 'setup: two videos and an EDL pushed; the server makes their proxies' '
	dits init film >/dev/null && cd film &&
	mkdir -p A001 &&
	make_master A001/C001.mov 2560x1440 1 01:00:00:00 2 25 &&
	make_master A001/C002.mov 2560x1440 2 02:00:00:00 2 25 &&
	printf "TITLE: cut\n001 A001C001 V C 01:00:00:00 01:00:01:00 00:00:00:00 00:00:01:00\n" >cut.edl &&
	dits add . >/dev/null && dits commit -m "day 1" >/dev/null &&
	dits remote add origin "$URL/film" && dits push >/dev/null &&
	cd .. && dits clone "$URL/film" editor-master --json >master.json &&
	for i in $(seq 600); do [ "$(ready_proxies film)" -ge 2 ] && break; sleep 0.2; done &&
	assert_eq 2 "$(ready_proxies film)"
'

test_expect_success 'fetch imports the proxies the server made into an existing clone' '
	cd editor-master &&
	dits fetch --json >../fetch-v.json &&
	dits checkout --mode proxy >../co.out 2>&1 &&
	assert_eq 2 "$(dits mode | grep -c "^\[P\]")"
'

test_expect_success 'clone --mode proxy: proxies at the masters'"'"' paths, the EDL, a fraction of the bytes' '
	dits clone "$URL/film" editor --mode proxy --json >proxy.json 2>proxy.err &&
	cd editor &&
	for f in A001/C001.mov A001/C002.mov; do
		assert_le "$(height $f)" 1080 "height of $f" &&
		assert_eq "$(timecode ../film/$f)" "$(timecode $f)" "timecode of $f" &&
		assert_ne "$(b3 ../film/$f)" "$(b3 $f)" "$f is a proxy" || return 1
	done &&
	assert_eq "$(b3 ../film/cut.edl)" "$(b3 cut.edl)" &&
	assert_eq "[P] A001/C001.mov
[P] A001/C002.mov
[M] cut.edl" "$(dits mode)" &&
	full=$(json_num bytes_received <../master.json) &&
	part=$(json_num bytes_received <../proxy.json) &&
	assert_le $((part * 4)) "$full" "4 x the proxy clone'"'"'s bytes vs the master clone'"'"'s" &&
	dits status --json >../st.json &&
	assert_eq "" "$(status_entries unstaged M <../st.json)" &&
	assert_eq "" "$(status_entries staged M <../st.json)" &&
	dits fsck 2>../fsck.err && assert_file_has ../fsck.err "not fetched \(partial clone\)"
'

test_expect_success 'checkout --mode master PATH in the proxy clone fetches that master' '
	cd editor &&
	dits checkout --mode master A001/C001.mov >../co.out 2>&1 &&
	assert_eq "$(b3 ../film/A001/C001.mov)" "$(b3 A001/C001.mov)" &&
	assert_eq "[M] A001/C001.mov
[P] A001/C002.mov
[M] cut.edl" "$(dits mode)" &&
	dits status --json >../st.json &&
	assert_eq "" "$(status_entries unstaged M <../st.json)" &&
	dits fsck >/dev/null 2>&1 && dits gc >/dev/null && dits fsck >/dev/null 2>&1
'

test_expect_success 'fetch-proxy asks the remote for a path'"'"'s ready proxy' '
	dits clone "$URL/film" editor2 --mode master >/dev/null &&
	cd editor2 &&
	dits fetch-proxy --checkout A001/C002.mov >../fp.out 2>&1 &&
	assert_file_has ../fp.out "1 proxy ready" &&
	assert_eq "[M] A001/C001.mov
[P] A001/C002.mov
[M] cut.edl" "$(dits mode)"
'

test_expect_success 'a pull into the proxy clone keeps proxies and fetches new masters only' '
	(cd film && echo "v2" >>cut.edl && dits add cut.edl >/dev/null && dits commit -m v2 >/dev/null && dits push >/dev/null) &&
	cd editor && dits pull >/dev/null &&
	assert_eq "$(b3 ../film/cut.edl)" "$(b3 cut.edl)" &&
	assert_eq "[M] A001/C001.mov
[P] A001/C002.mov
[M] cut.edl" "$(dits mode)"
'

test_done
