#!/usr/bin/env bash
# t1100-mount: an editor mounts the project through FUSE in proxy mode,
# cuts on the proxies, then switches the same paths to the masters live,
# while a player keeps a file open and a watcher polls every path.
. "$(dirname "$0")/lib.sh"

# facts FILE: "timecode frames channels..." of a clip, as ffprobe decodes it
facts () {
	_tc=$(ffprobe -v error -show_entries stream_tags=timecode -of default=nw=1:nk=1 "$1" | head -n 1)
	_frames=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames -of csv=p=0 "$1")
	_ch=$(ffprobe -v error -select_streams a -show_entries stream=channels -of csv=p=0 "$1" | tr '\n' ' ')
	printf '%s %s %s\n' "$_tc" "$_frames" "$_ch"
}

# video_tag FILE: the video codec tag (apco: ProRes 422 Proxy)
video_tag () {
	ffprobe -v error -select_streams v:0 -show_entries stream=codec_tag_string -of csv=p=0 "$1"
}

CLIPS="A001/A001C001.mov A001/A001C002.mov B002/B002C001.mov"
MNT=$TRASH/mnt

cd "$TRASH" || exit 1

# FUSE needs /dev/fuse and the right to mount; without them every step is
# skipped with the reason (the command itself must still say so in one line).
fuse_reason=
if [ ! -e /dev/fuse ]; then
	fuse_reason="/dev/fuse is not available here"
elif ! command -v ffmpeg >/dev/null 2>&1; then
	fuse_reason="ffmpeg is not installed"
fi

test_expect_success 'setup: three masters committed, proxies made for two of them' '
	dits init project >/dev/null &&
	cd project &&
	mkdir -p A001 B002 &&
	make_master A001/A001C001.mov 640x360 1 01:00:00:00 2 &&
	make_master A001/A001C002.mov 854x480 1 10:59:59:12 4 &&
	make_master B002/B002C001.mov 640x360 1 02:00:00:00 1 &&
	echo "scene 1, take 3" >notes.txt &&
	dits add . >/dev/null &&
	dits commit -m "Day 1" >/dev/null &&
	dits proxy generate --no-extras A001/A001C001.mov A001/A001C002.mov >/dev/null &&
	dits proxy export A001/A001C001.mov ../C001.proxy >/dev/null &&
	dits proxy export A001/A001C002.mov ../C002.proxy >/dev/null &&
	sums_of . >../masters.sums &&
	mkdir "$MNT"
'

if [ -z "$fuse_reason" ]; then
	# A probe mount: EPERM (no CAP_SYS_ADMIN, no setuid fusermount3) skips.
	mkdir -p "$TRASH/probe"
	if (cd "$TRASH/project" && dits mount "$TRASH/probe" >"$TRASH/probe.out" 2>&1); then
		(cd "$TRASH/project" && dits umount "$TRASH/probe" >/dev/null 2>&1)
	else
		fuse_reason="mounting is not permitted here: $(head -n 1 "$TRASH/probe.out")"
	fi
fi
if [ -n "$fuse_reason" ]; then
	if [ ! -e /dev/fuse ]; then
		test_expect_success 'without /dev/fuse, mount says so in one line' '
			cd project &&
			test_expect_code 1 dits mount "$MNT" 2>../nofuse.err &&
			assert_one_line_error ../nofuse.err "/dev/fuse"
		'
	fi
	for step in 'mount in proxy mode' 'every path decodes as its proxy' 'mode lists the mount' \
		'switch to masters live' 'masters byte-identical' 'open reader keeps its bytes' \
		'mixed modes' 'control file errors' 'read-only' 'umount' 'foreground' 'stale records' \
		'bad input'; do
		test_skip "$step" "$fuse_reason"
	done
	test_done
fi
test_at_end "dits umount --lazy '$MNT'; fusermount3 -uz '$MNT'"

test_expect_success 'mount in proxy mode: the mount is live when the command returns' '
	cd project &&
	dits mount "$MNT" --mode proxy >../mount.out &&
	assert_file_has ../mount.out "mounted HEAD at $MNT \(4 files, 2 with a ready proxy; mode proxy" &&
	(cd "$MNT" && find . -type f | sed "s|^\./||" | LC_ALL=C sort) >../listed &&
	printf "%s\n" $CLIPS notes.txt | LC_ALL=C sort >../expected &&
	assert_files_eq ../expected ../listed &&
	dits mount >../mounts &&
	assert_file_has ../mounts "^$MNT	"
'

test_expect_success 'every path decodes as its proxy, with the master timecode, frames, channels' '
	for c in A001/A001C001.mov A001/A001C002.mov; do
		assert_eq apco "$(video_tag "$MNT/$c")" "$c is ProRes 422 Proxy" &&
		assert_eq "$(facts "project/$c")" "$(facts "$MNT/$c")" "$c timecode, frames, channels" ||
			return 1
	done &&
	assert_eq "10:59:59:12 24 4 " "$(facts "$MNT/A001/A001C002.mov")" &&
	assert_eq "$(b3 C001.proxy)" "$(b3 "$MNT/A001/A001C001.mov")" &&
	assert_eq "$(b3 C002.proxy)" "$(b3 "$MNT/A001/A001C002.mov")" &&
	assert_eq "$(file_size C001.proxy)" "$(stat -c %s "$MNT/A001/A001C001.mov")" "size is the proxy size" &&
	assert_eq "$(b3 project/B002/B002C001.mov)" "$(b3 "$MNT/B002/B002C001.mov")" "no proxy: the master" &&
	assert_eq "$(b3 project/notes.txt)" "$(b3 "$MNT/notes.txt")"
'

test_expect_success 'dits mode inside the mount lists each file: [P], [~]' '
	cd "$MNT" &&
	dits mode >"$TRASH/modes" &&
	cat >"$TRASH/modes.expected" <<-EOF &&
	[P] A001/A001C001.mov
	[P] A001/A001C002.mov
	[~] B002/B002C001.mov
	[~] notes.txt
	EOF
	assert_files_eq "$TRASH/modes.expected" "$TRASH/modes" &&
	cat .dits-control >"$TRASH/control" &&
	assert_file_has "$TRASH/control" "^P A001/A001C001.mov$" &&
	assert_file_has "$TRASH/control" "^~ B002/B002C001.mov$" &&
	assert_lines 4 "$TRASH/control" &&
	ls -a >"$TRASH/root.ls" &&
	assert_file_lacks "$TRASH/root.ls" "dits-control"
'

test_expect_success 'switch to masters live: a reader holds a file open, a poller never sees ENOENT' '
	exec 3<"$MNT/A001/A001C001.mov" &&
	dd bs=65536 count=2 <&3 2>/dev/null >held.before &&
	rm -f poll.stop poll.fail poll.count &&
	{ ( n=0; while [ ! -e poll.stop ]; do
		for c in $CLIPS notes.txt; do
			stat -c %s "$MNT/$c" >/dev/null 2>>poll.fail || echo "$c missing" >>poll.fail
		done
		n=$((n + 1))
	  done; echo $n >poll.count ) & } &&
	poller=$! &&
	sleep 0.3 &&
	(cd "$MNT/A001" && dits mode master) >switch.out &&
	sleep 0.3 &&
	touch poll.stop && wait $poller &&
	dd bs=65536 count=2 <&3 2>/dev/null >held.after &&
	cat <&3 >held.rest &&
	exec 3<&- &&
	assert_eq "" "$(cat poll.fail 2>/dev/null)" "poller failures" &&
	assert_ge "$(cat poll.count)" 2 "poll rounds"
'

test_expect_success 'every path is now byte-identical to its committed master' '
	sums_of "$MNT" >mount.sums &&
	assert_files_eq masters.sums mount.sums &&
	assert_eq "$(file_size project/A001/A001C001.mov)" "$(stat -c %s "$MNT/A001/A001C001.mov")" &&
	(cd "$MNT" && dits mode) >modes2 &&
	assert_lines 4 modes2 && assert_file_lacks modes2 "^\[[P~]\]"
'

test_expect_success 'the reader kept reading valid proxy bytes across the switch; a reopen reads the master' '
	cat held.before held.after held.rest >held.all &&
	assert_files_eq C001.proxy held.all &&
	assert_eq "$(b3 project/A001/A001C001.mov)" "$(b3 "$MNT/A001/A001C001.mov")"
'

test_expect_success 'mixed modes: some proxy, some master, one without a proxy [~]' '
	(cd "$MNT" && dits mode proxy A001/A001C001.mov B002) >mixed.out &&
	assert_file_has mixed.out "^\[~\] B002/B002C001.mov: no ready proxy, serving the master$" &&
	(cd "$MNT" && dits mode) >modes3 &&
	cat >modes3.expected <<-EOF &&
	[P] A001/A001C001.mov
	[M] A001/A001C002.mov
	[~] B002/B002C001.mov
	[M] notes.txt
	EOF
	assert_files_eq modes3.expected modes3 &&
	(cd "$MNT/B002" && dits mode --json) >modes3.json &&
	assert_eq "{\"path\":\"A001/A001C001.mov\",\"mode\":\"proxy\"}" "$(json_objects <modes3.json | head -n 1)" &&
	assert_eq "{\"path\":\"B002/B002C001.mov\",\"mode\":\"pending\"}" "$(json_objects <modes3.json | sed -n 3p)" &&
	(dits mode --json "$MNT/A001") >modes4.json &&
	assert_eq 2 "$(json_objects <modes4.json | wc -l | tr -d " ")" &&
	assert_eq "$(b3 C001.proxy)" "$(b3 "$MNT/A001/A001C001.mov")" &&
	assert_eq "$(b3 project/A001/A001C002.mov)" "$(b3 "$MNT/A001/A001C002.mov")"
'

test_expect_success 'the control file: unknown paths and bad lines are errors, nothing switches' '
	cat "$MNT/.dits-control" >before.ctl &&
	test_expect_code 1 sh -c "echo \"proxy nope.mov\" >\"$MNT/.dits-control\"" &&
	test_expect_code 1 sh -c "echo \"sideways A001\" >\"$MNT/.dits-control\"" &&
	assert_files_eq before.ctl "$MNT/.dits-control" &&
	(cd "$MNT" && test_expect_code 1 dits mode proxy nope.mov 2>../mode.err) &&
	assert_one_line_error mode.err "nope.mov" &&
	printf "master A001/A001C001.mov" >"$MNT/.dits-control" &&
	assert_file_has "$MNT/.dits-control" "^M A001/A001C001.mov$"
'

test_expect_success 'the mount is read-only' '
	test_expect_code any sh -c "echo x >>\"$MNT/notes.txt\"" 2>/dev/null &&
	test_expect_code any touch "$MNT/new.txt" 2>/dev/null &&
	test_expect_code any rm -f "$MNT/notes.txt" 2>/dev/null &&
	test_expect_code any mkdir "$MNT/A001/sub" 2>/dev/null &&
	assert_eq "$(b3 project/notes.txt)" "$(b3 "$MNT/notes.txt")"
'

test_expect_success 'umount: the mount point is empty again, the record is gone' '
	dits umount "$MNT" &&
	assert_eq "" "$(ls -A "$MNT")" &&
	assert_eq "" "$(ls -A project/.dits/mounts)" &&
	(cd project && dits mount) >mounts.after &&
	assert_lines 0 mounts.after &&
	test_expect_code 1 dits umount "$MNT" 2>umount.err &&
	assert_one_line_error umount.err "not a Dits mount"
'

test_expect_success 'foreground: stays attached until unmounted' '
	cd project &&
	{ (dits mount --foreground "$MNT" >../fg.out 2>&1; echo $? >../fg.rc) & } &&
	server=$! &&
	for i in $(seq 100); do [ -e "$MNT/.dits-control" ] && break; sleep 0.05; done &&
	assert_exists "$MNT/notes.txt" &&
	dits umount "$MNT" &&
	wait $server &&
	assert_eq 0 "$(cat ../fg.rc)" &&
	assert_file_has ../fg.out "^serving HEAD at"
'

test_expect_success 'stale records: a killed server is ignored, and its mount can be unmounted' '
	cd project &&
	dits mount "$MNT" >../m.out &&
	pid=$(sed -n "s/.*server pid \([0-9]*\).*/\1/p" ../m.out) &&
	kill -9 "$pid" &&
	while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done &&
	dits mount >../mounts.stale &&
	assert_lines 0 ../mounts.stale &&
	dits umount "$MNT" &&
	assert_eq "" "$(ls -A .dits/mounts | grep -v "\.log$")"
'

test_expect_success 'bad input: each is one line of error' '
	cd project &&
	rm -f .dits/mounts/*.log &&
	test_expect_code 1 dits mount "$TRASH/nowhere" 2>../e1 &&
	assert_one_line_error ../e1 "nowhere" "no such directory" &&
	mkdir -p ../full && echo x >../full/x &&
	test_expect_code 1 dits mount ../full 2>../e2 &&
	assert_one_line_error ../e2 "full" "not empty" &&
	test_expect_code 1 dits mount A001 2>../e5 &&
	assert_one_line_error ../e5 "A001" "inside the worktree" &&
	test_expect_code 1 dits mount "$MNT" no-such-rev 2>../e3 &&
	assert_one_line_error ../e3 "no-such-rev" "unknown revision" &&
	test_expect_code 2 dits mount "$MNT" --mode sideways 2>/dev/null &&
	(cd "$TRASH" && test_expect_code 1 dits mount "$MNT" 2>e4) &&
	assert_one_line_error ../e4 &&
	assert_eq "" "$(ls -A "$MNT")"
'

# When a step failed, show what the mount servers logged (a crash names itself there).
if [ "$test_failed" -gt 0 ]; then
	for log in "$TRASH"/*/.dits/mounts/*.log; do
		[ -f "$log" ] && { say "# server log $log:"; sed 's/^/#   /' "$log"; }
	done
fi

test_done
