#!/usr/bin/env bash
# Proxy mode as an editor on a weak link uses it: proxies at the masters'
# own paths, never missing or half-written during a swap, never committed
# as masters; then the masters back in place, byte for byte.
. "$(dirname "$0")/lib.sh"

if ! command -v ffmpeg >/dev/null 2>&1 || ! command -v ffprobe >/dev/null 2>&1; then
	test_skip 'proxy mode' 'ffmpeg is not installed'
	test_done
fi

# poll_start FILE...: stat()s the paths in a tight loop until poll_stop;
# every failure is written to ../poll.fail
poll_start () {
	: >../poll.fail
	(
		while [ ! -e ../poll.stop ]; do
			for f in "$@"; do
				stat -c %s "$f" >/dev/null 2>>../poll.fail || echo "missing: $f" >>../poll.fail
			done
		done
	) &
	poll_pid=$!
}
poll_stop () {
	: >../poll.stop
	wait $poll_pid
	rm -f ../poll.stop
}

mode_of () { # PATH: its marker in `dits mode`
	dits mode | grep " $1\$" | cut -c2
}

cd "$TRASH" || exit 1
CLIPS="A001/A001C001.mov A001/A001C002.mov A001/A001C003.mov"

test_expect_success 'setup: masters committed; proxies for two of the three clips' '
	dits init project >/dev/null &&
	cd project &&
	mkdir -p A001 audio &&
	make_master A001/A001C001.mov 1280x720 2 01:00:00:00 2 25 &&
	make_master A001/A001C002.mov 1280x720 2 01:00:02:00 4 25 &&
	make_master A001/A001C003.mov 640x360 1 01:00:04:00 1 25 &&
	gen_data audio/sound.wav 200000 snd &&
	dits add . >/dev/null &&
	dits commit -m "Day 1" >/dev/null &&
	dits proxy generate A001/A001C001.mov A001/A001C002.mov >/dev/null &&
	b3sum $CLIPS audio/sound.wav >../masters.b3 &&
	dits ls-files --json >../ids.before
'

test_expect_success 'checkout --mode proxy: proxies at the same paths; no path missing at any instant' '
	cd project &&
	poll_start $CLIPS audio/sound.wav &&
	{ dits checkout --mode proxy >../co.out 2>../co.err; rc=$?; } &&
	poll_stop &&
	assert_eq 0 $rc "checkout exit" &&
	if [ -s ../poll.fail ]; then cat ../poll.fail; false; fi
'

test_expect_success '... each proxied path decodes as a 1080p-fitting ProRes Proxy with the master timecode, frames, channels' '
	cd project &&
	for f in A001/A001C001.mov:01:00:00:00:2 A001/A001C002.mov:01:00:02:00:4; do
		p=${f%%:*}; rest=${f#*:}; tc=${rest%:*}; ch=${rest##*:}
		ffprobe -v error -select_streams v:0 -show_entries stream=codec_tag_string,nb_frames:stream_tags=timecode \
			-of default=nw=1 "$p" >../pr.txt &&
		assert_file_has ../pr.txt "codec_tag_string=apco" &&
		assert_file_has ../pr.txt "nb_frames=50" &&
		assert_file_has ../pr.txt "TAG:timecode=$tc" &&
		assert_eq "$ch" "$(ffprobe -v error -select_streams a:0 -show_entries stream=channels -of csv=p=0 "$p")" || return 1
	done
'

test_expect_success '... the clip without a proxy kept its master, and checkout said so' '
	cd project &&
	assert_file_has ../co.err "A001/A001C003.mov: kept the master" &&
	b3sum -c ../masters.b3 2>/dev/null | grep -q "A001/A001C003.mov: OK"
'

test_expect_success 'mode and ls-files mark each file: [P] proxy, [M] master' '
	cd project &&
	assert_eq P "$(mode_of A001/A001C001.mov)" &&
	assert_eq P "$(mode_of A001/A001C002.mov)" &&
	assert_eq M "$(mode_of A001/A001C003.mov)" &&
	assert_eq M "$(mode_of audio/sound.wav)" &&
	dits ls-files >../ls &&
	assert_file_has ../ls " \[P\]	A001/A001C001.mov$" &&
	dits mode --json | json_objects | grep "A001C002" | grep -q "\"mode\":\"proxy\""
'

test_expect_success 'proxy mode survives status, add . and commit: the masters keep their asset ids' '
	cd project &&
	dits status --json >../st.json &&
	assert_eq true "$(json_raw clean <../st.json)" &&
	dits add . >/dev/null &&
	test_expect_code 1 dits commit -m "nothing to record" >/dev/null 2>&1 &&
	dits ls-files --json | sed "s/,\"worktree\":\"[a-z]*\"//g" >../ids.now &&
	sed "s/,\"worktree\":\"[a-z]*\"//g" ../ids.before >../ids.was &&
	assert_files_eq ../ids.was ../ids.now &&
	dits diff --stat >../diff.out &&
	assert_file_has ../diff.out "^ 0 files changed"
'

test_expect_success 'mixed state: a pending proxy shows [~] and a failed one [!]' '
	cd project &&
	make_master A001/A001C004.mov 640x360 1 02:00:00:00 2 25 &&
	gen_data A001/broken.mov 50000 broken &&
	dits add . >/dev/null && dits commit -m "more" >/dev/null &&
	test_expect_code any dits proxy generate A001/broken.mov >/dev/null 2>&1 &&
	dits proxy generate --queue A001/A001C004.mov >/dev/null &&
	assert_eq "~" "$(mode_of A001/A001C004.mov)" &&
	assert_eq "!" "$(mode_of A001/broken.mov)" &&
	dits status >../st.txt &&
	assert_file_has ../st.txt "\[~\] A001/A001C004.mov" &&
	assert_file_has ../st.txt "\[!\] A001/broken.mov" &&
	dits worker --drain >/dev/null 2>&1 &&
	assert_eq M "$(mode_of A001/A001C004.mov)"
'

test_expect_success 'fetch-proxy --checkout makes the missing proxy and switches that path only' '
	cd project &&
	dits fetch-proxy A001/A001C003.mov --checkout >../fp.out 2>&1 &&
	assert_eq P "$(mode_of A001/A001C003.mov)" &&
	assert_eq M "$(mode_of A001/A001C004.mov)"
'

test_expect_success 'a switch is refused, changing nothing, when a file has local changes' '
	cd project &&
	printf "x" >>A001/A001C004.mov &&
	dits ls-files >../ls.before &&
	test_expect_code 1 dits checkout --mode proxy -- A001/A001C004.mov 2>../refuse.err &&
	assert_one_line_error ../refuse.err "A001/A001C004.mov" &&
	dits ls-files >../ls.after &&
	assert_files_eq ../ls.before ../ls.after &&
	dits checkout HEAD -- A001/A001C004.mov
'

test_expect_success 'a file really changed while in proxy mode is committed as a new master, with a warning' '
	cd project &&
	old=$(dits ls-files --json | json_objects | grep A001C003 | json_str asset_id) &&
	make_master A001/A001C003.mov 640x360 1 05:00:00:00 1 25 &&
	dits status --json >../st2.json &&
	status_entries unstaged modified <../st2.json | grep -q A001/A001C003.mov &&
	dits add A001/A001C003.mov >/dev/null 2>../add.err &&
	assert_file_has ../add.err "changed while in proxy mode" &&
	new=$(dits ls-files --json | json_objects | grep A001C003 | json_str asset_id) &&
	assert_ne "$old" "$new" "asset id" &&
	assert_eq M "$(mode_of A001/A001C003.mov)" &&
	dits commit -m "regraded A001C003" >/dev/null &&
	b3sum A001/A001C003.mov >../c3.b3
'

test_expect_success 'kill -9 during swaps never makes a proxy look like a change' '
	cd project &&
	for d in 0.02 0.05 0.1 0.2; do
		{ "$DITS" checkout --mode proxy >/dev/null 2>&1 & } &&
		p=$! && sleep $d &&
		{ kill -9 $p 2>/dev/null; wait $p; true; } &&
		dits status --json >../k.json &&
		assert_eq true "$(json_raw clean <../k.json)" "clean after a kill at ${d}s" &&
		{ "$DITS" checkout --mode master >/dev/null 2>&1 & } &&
		p=$! && sleep $d &&
		{ kill -9 $p 2>/dev/null; wait $p; true; } &&
		dits status --json >../k.json &&
		assert_eq true "$(json_raw clean <../k.json)" "clean after a kill at ${d}s (to master)" || return 1
	done &&
	dits add . >/dev/null &&
	test_expect_code 1 dits commit -m "nothing" >/dev/null 2>&1 &&
	dits fsck >../fsck.out && assert_eq ok "$(cat ../fsck.out)"
'

test_expect_success 'checkout --mode master: every path byte-identical to its master; none missing meanwhile' '
	cd project &&
	dits checkout --mode proxy >/dev/null 2>&1 &&
	poll_start $CLIPS audio/sound.wav &&
	{ dits checkout --mode master >/dev/null 2>&1; rc=$?; } &&
	poll_stop &&
	assert_eq 0 $rc &&
	test ! -s ../poll.fail &&
	grep -v A001C003 ../masters.b3 | b3sum -c >/dev/null &&
	b3sum -c ../c3.b3 >/dev/null &&
	assert_eq M "$(mode_of A001/A001C001.mov)"
'

test_done
