#!/usr/bin/env bash
# t0800: progress is for people, logs are for machines. In a pipe, add,
# commit and checkout print no carriage returns or escape codes; on a terminal
# the add (and checkout) of a 50 MiB clip shows a progress line with a rate
# or a percentage.

. "$(dirname "$0")/lib.sh"

MiB=1048576

CR=$(printf '\r')
ESC=$(printf '\033')

# assert_plain FILE: no carriage return, no escape character, no backspace
assert_plain () {
	if LC_ALL=C grep -q "[$CR$ESC$(printf '\b')]" "$1"; then
		say "$1 holds terminal control characters:"
		od -c "$1" | head -20
		return 1
	fi
	return 0
}

have_script=
if command -v script >/dev/null 2>&1 &&
	script -qfc "true" /dev/null </dev/null >/dev/null 2>&1; then
	have_script=yes
fi

# on_tty CMD: run the shell command CMD with a pseudo-terminal as its stdin,
# stdout and stderr (util-linux script); what it printed goes to stdout
on_tty () {
	script -qfec "$1" /dev/null </dev/null
}

test_expect_success 'setup: a repository and a 50 MiB clip' '
	dits init pipe >/dev/null &&
	gen_data pipe/clip.mov $((50 * MiB)) progress-clip &&
	gen_data pipe/small.mov 100000 progress-small
'

test_expect_success 'add in a pipe: stderr is empty, stdout is the one summary line' '
	cd pipe &&
	dits add clip.mov small.mov 2>../err | cat >../out &&
	assert_plain ../err &&
	assert_plain ../out &&
	test ! -s ../err &&
	assert_lines 1 ../out &&
	assert_match "^added 2 files, " "$(cat ../out)"
'

test_expect_success 'commit in a pipe: no control characters' '
	cd pipe &&
	dits commit -m "clip" 2>../err | cat >../out &&
	assert_plain ../err &&
	assert_plain ../out &&
	test ! -s ../err &&
	assert_lines 1 ../out
'

test_expect_success 'checkout in a pipe: no control characters' '
	cd pipe &&
	rm clip.mov &&
	dits checkout HEAD -- clip.mov 2>../err | cat >../out &&
	assert_plain ../err &&
	assert_plain ../out &&
	gen_data ../clip.ref $((50 * MiB)) progress-clip &&
	assert_files_eq ../clip.ref clip.mov
'

test_expect_success 'status, log, ls-files, stats in a pipe: no control characters' '
	cd pipe &&
	for c in "status" "log" "log --oneline" "ls-files" "stats" "fsck" "diff --stat"; do
		dits $c >../out 2>../err &&
		assert_plain ../out && assert_plain ../err || return 1
	done
'

test_expect_success 'add with stderr redirected to a file: no control characters' '
	cd pipe &&
	printf x >>small.mov &&
	dits add small.mov >../out 2>../err &&
	assert_plain ../err &&
	test ! -s ../err
'

if [ -n "$have_script" ]; then
	test_expect_success 'setup: a second repository for the terminal runs' '
		dits init tty >/dev/null &&
		gen_data tty/clip.mov $((50 * MiB)) progress-clip-tty
	'

	test_expect_success 'add on a terminal shows a progress line with a rate or percentage' '
		cd tty &&
		on_tty "\"$DITS\" add clip.mov" >../tty.out &&
		tr "\r" "\n" <../tty.out >../tty.lines &&
		assert_file_has ../tty.lines "[0-9]+(\.[0-9]+)? ?([KMGT]i?B|B)/s|[0-9]+(\.[0-9]+)?%"
	'

	test_expect_success '... and still ends with the summary line' '
		assert_file_has tty.lines "added 1 file"
	'

	test_expect_success 'checkout on a terminal shows a progress line too' '
		cd tty &&
		dits commit -m clip >/dev/null &&
		rm clip.mov &&
		on_tty "\"$DITS\" checkout HEAD -- clip.mov" >../tty.out &&
		tr "\r" "\n" <../tty.out >../tty.lines &&
		assert_file_has ../tty.lines "[0-9]+(\.[0-9]+)? ?([KMGT]i?B|B)/s|[0-9]+(\.[0-9]+)?%" &&
		gen_data ../clip.ref $((50 * MiB)) progress-clip-tty &&
		assert_files_eq ../clip.ref clip.mov
	'

	test_expect_success 'on a terminal, progress goes to stderr: stdout redirected holds just the summary' '
		cd tty &&
		printf z >>clip.mov &&
		on_tty "\"$DITS\" add clip.mov >../tty.stdout" >../tty.out &&
		assert_plain ../tty.stdout &&
		assert_lines 1 ../tty.stdout &&
		assert_match "^added 1 file" "$(cat ../tty.stdout)"
	'

	test_expect_success 'on a terminal, but stderr redirected to a file: no progress in the file' '
		cd tty &&
		printf y >>clip.mov &&
		on_tty "\"$DITS\" add clip.mov 2>../tty.err" >../tty.out &&
		assert_plain ../tty.err &&
		test ! -s ../tty.err
	'
else
	test_skip 'add on a terminal shows a progress line' 'script(1) from util-linux is not available'
fi

test_done
