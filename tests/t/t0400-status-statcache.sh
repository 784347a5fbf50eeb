#!/usr/bin/env bash
# t0400: status is cheap on a big project. With the stat cache matching,
# `dits status` opens none of the tracked files; a touched but unchanged file
# is still clean; an edit that keeps the size (and even the mtime) is caught.

. "$(dirname "$0")/lib.sh"

# tracked_opens TRACE: lines of an strace log that open a tracked file (by its
# unique basename), excluding directory opens.
tracked_opens () {
	grep -E 'open(at2?)?\(' "$1" | grep -v 'O_DIRECTORY' | grep -E 'clip_[0-9]{3}\.mov|master\.mov|dailies\.txt'
}

# trace_opens LOG ARGS...: run dits ARGS under strace, logging open calls to
# LOG. LeakSanitizer cannot run under ptrace, so it is switched off for an
# ASan build (AddressSanitizer itself stays on).
trace_opens () {
	_log=$1
	shift
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
		strace -f -qq -e trace=open,openat -o "$_log" "$DITS" "$@"
}

have_strace=
if command -v strace >/dev/null 2>&1 && strace -f -o /dev/null true 2>/dev/null; then
	have_strace=yes
fi

test_expect_success 'setup: 60 small clips, one 8 MiB master, a text file, all with old mtimes' '
	dits init proj >/dev/null &&
	mkdir -p proj/cards/A proj/cards/B &&
	i=0 &&
	while [ $i -lt 60 ]; do
		n=$(printf %03d $i) &&
		if [ $((i % 2)) -eq 0 ]; then d=A; else d=B; fi &&
		gen_data proj/cards/$d/clip_$n.mov $((2000 + i * 37)) clip-$i || return 1
		i=$((i + 1))
	done &&
	gen_data proj/master.mov 8388608 master &&
	printf "day 1 dailies\n" >proj/dailies.txt &&
	find proj -path proj/.dits -prune -o -type f -exec touch -d "@$(( $(date +%s) - 3600 ))" {} + &&
	cd proj &&
	dits add . >/dev/null &&
	dits commit -m "Dailies" >/dev/null
'

cd proj || exit 1

test_expect_success 'status right after the commit is clean' '
	dits status --json >../st &&
	assert_eq true "$(json_raw clean <../st)"
'

if [ -n "$have_strace" ]; then
	test_expect_success 'status on unchanged files opens none of them (strace)' '
		trace_opens ../trace status >/dev/null &&
		assert_file_has ../trace "open" &&
		{ tracked_opens ../trace >../opened || :; } &&
		if [ -s ../opened ]; then say "tracked files were opened:"; cat ../opened; false; fi
	'

	test_expect_success 'status --json on unchanged files opens none of them either' '
		trace_opens ../trace status --json >/dev/null &&
		{ tracked_opens ../trace >../opened || :; } &&
		if [ -s ../opened ]; then say "tracked files were opened:"; cat ../opened; false; fi
	'

	test_expect_success 'status from a subdirectory opens none of them' '
		cd cards/A &&
		trace_opens ../../../trace status >/dev/null &&
		{ tracked_opens ../../../trace >../../../opened || :; } &&
		if [ -s ../../../opened ]; then say "tracked files were opened:"; cat ../../../opened; false; fi
	'
else
	test_skip 'status on unchanged files opens none of them (strace)' 'strace is not available or not permitted here'
	test_skip 'status --json on unchanged files opens none of them either' 'strace is not available'
	test_skip 'status from a subdirectory opens none of them' 'strace is not available'
fi

if [ -n "$have_strace" ]; then
	test_expect_success 'control: a touched file is re-read by status (the trace sees content opens)' '
		touch -d "@$(( $(date +%s) - 60 ))" dailies.txt &&
		trace_opens ../trace status >/dev/null &&
		{ tracked_opens ../trace >../opened || :; } &&
		assert_file_has ../opened "dailies\.txt"
	'
fi

test_expect_success 'touch (new mtime, same content): status is still clean' '
	touch master.mov cards/A/clip_000.mov &&
	dits status --json >../st &&
	assert_eq true "$(json_raw clean <../st)" &&
	assert_eq "" "$(json_array unstaged <../st | json_objects)" "unstaged"
'

test_expect_success 'text status on the touched tree exits 0 and names no file' '
	dits status >../st.txt &&
	assert_file_lacks ../st.txt "master\.mov|clip_000\.mov"
'

test_expect_success 'an edit that keeps the size is reported modified' '
	printf "Z" | dd of=cards/B/clip_011.mov bs=1 seek=100 conv=notrunc 2>/dev/null &&
	dits status --json >../st &&
	assert_eq "cards/B/clip_011.mov" "$(status_entries unstaged modified <../st)" &&
	assert_eq false "$(json_raw clean <../st)"
'

test_expect_success 'an edit that keeps the size and the mtime is reported modified' '
	touch -r dailies.txt ../mtime-ref &&
	printf "day 2 dailies\n" >dailies.txt &&
	touch -r ../mtime-ref dailies.txt &&
	dits status --json >../st &&
	assert_eq "cards/B/clip_011.mov
dailies.txt" "$(status_entries unstaged modified <../st)"
'

test_expect_success 'a file replaced by another of the same size and mtime is reported modified' '
	cp master.mov ../master.orig &&
	gen_data ../master.new 8388608 another-master &&
	touch -r master.mov ../master.new &&
	mv ../master.new master.mov &&
	dits status --json >../st &&
	assert_eq "cards/B/clip_011.mov
dailies.txt
master.mov" "$(status_entries unstaged modified <../st)"
'

test_expect_success 'a deleted file is reported deleted, a new one untracked' '
	rm cards/A/clip_002.mov &&
	gen_data cards/A/clip_900.mov 1000 new-clip &&
	dits status --json >../st &&
	assert_eq "cards/A/clip_002.mov" "$(status_entries unstaged deleted <../st)" &&
	assert_eq "cards/A/clip_900.mov" "$(untracked_paths <../st)"
'

test_expect_success 'putting the original bytes back makes the file clean again' '
	cp ../master.orig master.mov &&
	dits status --json >../st &&
	assert_eq "cards/B/clip_011.mov
dailies.txt" "$(status_entries unstaged modified <../st)"
'

test_expect_success 'after add, the edits are staged modified, no longer unstaged' '
	dits rm --cached cards/A/clip_002.mov >/dev/null &&
	dits add cards dailies.txt >/dev/null &&
	dits status --json >../st &&
	assert_eq "cards/B/clip_011.mov
dailies.txt" "$(status_entries staged modified <../st)" &&
	assert_eq "cards/A/clip_900.mov" "$(status_entries staged added <../st)" &&
	assert_eq "cards/A/clip_002.mov" "$(status_entries staged deleted <../st)" &&
	assert_eq "" "$(json_array unstaged <../st | json_objects)" "unstaged"
'

test_expect_success 'after commit, status is clean' '
	dits commit -m "Day 2" >/dev/null &&
	dits status --json >../st &&
	assert_eq true "$(json_raw clean <../st)"
'

if [ -n "$have_strace" ]; then
	test_expect_success 'after a checkout, status again opens no tracked file' '
		dits checkout HEAD~1 >/dev/null &&
		dits status >/dev/null &&
		sleep 1 &&
		trace_opens ../trace status >/dev/null &&
		{ tracked_opens ../trace >../opened || :; } &&
		if [ -s ../opened ]; then say "tracked files were opened:"; cat ../opened; false; fi
	'
else
	test_skip 'after a checkout, status again opens no tracked file' 'strace is not available'
fi

# The index remembers the tree it matched, so the next status need not read
# HEAD's trees; that memory must never hide a difference from HEAD.
test_expect_success 'setup: back on main, clean, a branch one commit behind' '
	dits checkout main >/dev/null &&
	dits branch behind HEAD~1 &&
	dits status --json >../st &&
	assert_eq true "$(json_raw clean <../st)"
'

test_expect_success 'HEAD moved by hand to the older branch: the staged differences are seen' '
	cp .dits/HEAD ../HEAD.main &&
	printf "ref: refs/heads/behind\n" >.dits/HEAD &&
	dits status --json >../st &&
	cp ../HEAD.main .dits/HEAD &&
	assert_eq "cards/B/clip_011.mov
dailies.txt" "$(status_entries staged modified <../st)" &&
	assert_eq "cards/A/clip_900.mov" "$(status_entries staged added <../st)" &&
	assert_eq "cards/A/clip_002.mov" "$(status_entries staged deleted <../st)"
'

test_expect_success '... and back on main it is clean again' '
	dits status --json >../st &&
	assert_eq true "$(json_raw clean <../st)"
'

test_expect_success 'a file staged after a clean status is reported staged' '
	printf "more notes\n" >>dailies.txt &&
	dits add dailies.txt >/dev/null &&
	dits status --json >../st &&
	assert_eq "dailies.txt" "$(status_entries staged modified <../st)"
'

test_expect_success 'a wide and deep tree with a 1200-frame sequence: status lists every untracked file once, in path order' '
	mkdir -p ../wide && (cd ../wide && dits init . >/dev/null &&
		mkdir -p clip clip-b "clip b" deep/1/2/3/4/5/6 empty/ &&
		for n in clip.mov clip0 clip/a clip-b/x "clip b/y" deep/1/f deep/1/2/3/4/5/6/g top.txt; do
			printf "%s\n" "$n" >"$n" || return 1
		done &&
		i=0 &&
		while [ $i -lt 150 ]; do
			d=$(printf "cards/%03d" $((149 - i))) && mkdir -p "$d/sub" &&
			printf "%s\n" $i >"$d/f.mov" && printf "%s\n" $i >"$d/sub/g.mov" || return 1
			i=$((i + 1))
		done &&
		mkdir -p seq/frame && printf "x\n" >seq/frame/x &&
		i=0 &&
		while [ $i -lt 1200 ]; do
			printf -v f "seq/frame.%04d.exr" $((1199 - i)) && : >"$f" || return 1
			i=$((i + 1))
		done &&
		find . -path ./.dits -prune -o -type f -print | sed "s|^\./||" | LC_ALL=C sort >../wide.expect &&
		dits status --json | json_array untracked | json_strings >../wide.got) &&
	assert_eq 1509 "$(wc -l <../wide.expect)" &&
	assert_files_eq ../wide.expect ../wide.got
'

test_expect_success '... once added and committed, ls-files has them in the same order and status is clean' '
	(cd ../wide && dits add . >/dev/null && dits commit -m wide >/dev/null &&
		dits ls-files --json | grep -o "\"path\":\"[^\"]*\"" | sed "s/^\"path\":\"//; s/\"\$//" >../wide.ls &&
		dits status --json >../wide.st) &&
	assert_files_eq ../wide.expect ../wide.ls &&
	assert_eq true "$(json_raw clean <../wide.st)"
'

test_done
