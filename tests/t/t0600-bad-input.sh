#!/usr/bin/env bash
# t0600: mistakes and bad luck. A missing path, an unreadable file, a path
# outside the project, a mistyped revision, a directory that is not a
# repository, a repository from a newer Dits, a full disk: each gives exit 1,
# one line "dits: error: <what>: <reason>" naming the thing, and leaves the
# repository byte-for-byte as it was.

. "$(dirname "$0")/lib.sh"

MiB=1048576

test_expect_success 'setup: a repository with one commit' '
	dits init repo >/dev/null &&
	cd repo &&
	gen_data good.mov 500000 good &&
	mkdir -p sub &&
	gen_data sub/inner.mov 20000 inner &&
	dits add . >/dev/null &&
	dits commit -m "base" >/dev/null &&
	gen_data staged.mov 30000 staged &&
	dits add staged.mov >/dev/null &&
	gen_data new.mov 40000 new
'

cd repo || exit 1

# bad_input DESC EXIT 'COMMAND' NAME...: COMMAND (run in the worktree) exits
# EXIT with a one-line error naming each NAME, and .dits is unchanged. The
# first NAME must be the thing named first ("dits: error: <what>: <reason>",
# NAME inside <what>) unless it starts with '*' (then anywhere in the line).
bad_input () {
	_desc=$1 _code=$2 _cmd=$3
	shift 3
	_names= _first=
	for _n in "$@"; do
		_names="$_names \"${_n#\*}\""
		if [ -z "$_first" ]; then _first=$_n; fi
	done
	case $_first in
	'*'*|'') _first_check=: ;;
	*) _first_check="assert_error_names_first ../err \"$_first\"" ;;
	esac
	test_expect_success "$_desc" "
		repo_snapshot . >../snap &&
		test_expect_code $_code $_cmd >../out 2>../err &&
		assert_one_line_error ../err $_names &&
		$_first_check &&
		assert_repo_unchanged . ../snap
	"
}

# assert_error_names_first FILE NAME: in "dits: error: <what>: <reason>",
# <what> contains NAME
assert_error_names_first () {
	_what=$(sed -n '1s/^dits: error: \([^:]*\):.*/\1/p' "$1")
	case $_what in
	*"$2"*) return 0 ;;
	esac
	say "the error does not name '$2' first (<what> is '$_what'):"
	sed 's/^/  | /' "$1"
	return 1
}

# ---- missing path -----------------------------------------------------------

bad_input 'add of a missing path' 1 'dits add nope.mov' nope.mov
bad_input 'add of a missing path next to a good one stages neither' 1 \
	'dits add new.mov nope.mov' nope.mov
bad_input 'add of a missing path in a subdirectory' 1 'dits add sub/nope.mov' nope.mov
bad_input 'rm of a path that is not tracked' 1 'dits rm nope.mov' nope.mov
bad_input 'checkout -- of a path not in the revision' 1 'dits checkout HEAD -- nope.mov' nope.mov
bad_input 'hash of a missing file' 1 'dits hash nope.mov' nope.mov
bad_input 'debug chunks of a missing file' 1 'dits debug chunks nope.mov' nope.mov

test_expect_success 'the good file named with a missing one was not staged' '
	dits status --json >../st &&
	assert_eq "new.mov" "$(untracked_paths <../st)"
'

# ---- unreadable file ----------------------------------------------------------

test_expect_success 'setup: an unreadable file' '
	gen_data secret.mov 10000 secret &&
	chmod 000 secret.mov
'

if cat secret.mov >/dev/null 2>&1; then
	# root reads through mode 000; run dits as an unprivileged user instead
	if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null 2>&1 &&
		setpriv --reuid=65534 --regid=65534 --clear-groups true 2>/dev/null; then
		test_expect_success 'setup: hand the repository to an unprivileged user (we are root)' '
			chmod 755 "$TRASH" &&
			chown -R 65534:65534 "$TRASH/repo" &&
			chmod 000 secret.mov &&
			! setpriv --reuid=65534 --regid=65534 --clear-groups cat secret.mov >/dev/null 2>&1
		'
		bad_input 'add of an unreadable file (as an unprivileged user)' 1 \
			'setpriv --reuid=65534 --regid=65534 --clear-groups "$DITS" add secret.mov' secret.mov
		bad_input 'add of a directory holding an unreadable file' 1 \
			'setpriv --reuid=65534 --regid=65534 --clear-groups "$DITS" add .' secret.mov
		test_expect_success 'hand the repository back' '
			chown -R 0:0 "$TRASH/repo"
		'
	else
		test_skip 'add of an unreadable file' 'running as root, chmod 000 does not block reads and setpriv cannot drop privileges'
		test_skip 'add of a directory holding an unreadable file' 'as above'
	fi
else
	bad_input 'add of an unreadable file' 1 'dits add secret.mov' secret.mov
	bad_input 'add of a directory holding an unreadable file' 1 'dits add .' secret.mov
fi

test_expect_success 'cleanup: remove the unreadable file' '
	chmod 644 secret.mov &&
	rm secret.mov
'

# ---- outside the worktree ------------------------------------------------------

test_expect_success 'setup: files outside the worktree' '
	gen_data ../outside.mov 1000 outside &&
	mkdir -p ../elsewhere &&
	gen_data ../elsewhere/x.mov 1000 x
'

bad_input 'add of a file outside the worktree (relative)' 1 'dits add ../outside.mov' outside.mov
bad_input 'add of a file outside the worktree (absolute)' 1 "dits add $TRASH/outside.mov" outside.mov
bad_input 'add of a directory outside the worktree' 1 'dits add ../elsewhere' elsewhere
bad_input 'add of a path that climbs out through a subdirectory' 1 \
	'dits add sub/../../outside.mov' outside.mov
bad_input 'rm of a path outside the worktree' 1 'dits rm ../outside.mov' outside.mov
bad_input 'checkout -- of a path outside the worktree' 1 'dits checkout HEAD -- ../outside.mov' outside.mov

test_expect_success 'the file outside was not touched' '
	gen_data ../outside.ref 1000 outside &&
	assert_files_eq ../outside.ref ../outside.mov
'

test_expect_success 'a path that leaves and re-enters the worktree is accepted' '
	dits add ../repo/new.mov >/dev/null &&
	dits ls-files >../ls &&
	assert_file_has ../ls "	new.mov$" &&
	dits rm --cached new.mov >/dev/null
'

# ---- unknown revision -------------------------------------------------------------

bad_input 'checkout of an unknown branch' 1 'dits checkout nosuchbranch' nosuchbranch
bad_input 'log of an unknown revision' 1 'dits log nosuchrev' nosuchrev
bad_input 'show of an id that matches nothing' 1 'dits show deadbeefdeadbeef' deadbeefdeadbeef
bad_input 'show of HEAD~5 in a one-commit history' 1 'dits show HEAD~5' 'HEAD~5'
bad_input 'diff --stat of an unknown revision' 1 'dits diff --stat nosuchrev' nosuchrev
bad_input 'branch at an unknown revision' 1 'dits branch newbranch nosuchrev' nosuchrev
bad_input 'tag at an unknown revision' 1 'dits tag newtag nosuchrev' nosuchrev
bad_input 'checkout of an unknown revision with paths' 1 'dits checkout nosuchrev -- good.mov' nosuchrev

test_expect_success 'no branch or tag was created by the failed commands' '
	dits branch >../out &&
	assert_file_lacks ../out newbranch &&
	dits tag >../out &&
	assert_file_lacks ../out newtag
'

# ---- not a repository ---------------------------------------------------------------

test_expect_success 'status outside any repository fails with one line naming the directory' '
	mkdir -p "$TRASH/plain/dir" &&
	cd "$TRASH/plain/dir" &&
	test_expect_code 1 dits status >../out 2>../err &&
	assert_one_line_error ../err "plain/dir" &&
	assert_match "repositor" "$(cat ../err)" "says it is not a repository"
'

test_expect_success '... and every repository command says the same' '
	cd "$TRASH/plain/dir" &&
	for c in "add ." "commit -m x" "log" "ls-files" "fsck" "gc" "stats" "checkout HEAD" "branch" "tag" "rm x"; do
		test_expect_code 1 dits $c >../out 2>../err &&
		assert_one_line_error ../err "plain/dir" || return 1
	done &&
	test ! -e .dits && test ! -e ../.dits
'

test_expect_success 'a .dits file that is not a directory is not a repository' '
	mkdir -p "$TRASH/fake" &&
	cd "$TRASH/fake" &&
	echo "not a repo" >.dits &&
	test_expect_code 1 dits status 2>../err &&
	assert_one_line_error ../err
'

# ---- newer format version ------------------------------------------------------------

test_expect_success 'setup: the config says format = 99' '
	cp .dits/config ../config.orig &&
	sed -E "s/^([[:space:]]*format[[:space:]]*=[[:space:]]*)1[[:space:]]*\$/\\199/" ../config.orig >.dits/config &&
	assert_file_has .dits/config "format[[:space:]]*=[[:space:]]*99"
'

bad_input 'status of a newer-format repository' 1 'dits status' '*99'
bad_input 'add into a newer-format repository' 1 'dits add new.mov' '*99'
bad_input 'commit into a newer-format repository' 1 'dits commit -m x' '*99'
bad_input 'checkout in a newer-format repository' 1 'dits checkout HEAD -- good.mov' '*99'
bad_input 'gc of a newer-format repository' 1 'dits gc' '*99'
bad_input 'fsck of a newer-format repository' 1 'dits fsck' '*99'

test_expect_success 'cleanup: restore format = 1' '
	cp ../config.orig .dits/config &&
	dits status >/dev/null
'

# ---- disk full ------------------------------------------------------------------------

# run_limited BLOCKS CMD...: run CMD with the file size limit at BLOCKS KiB and
# SIGXFSZ ignored, so writes fail with EFBIG; stderr goes to ../err (written
# from outside the limit), the exit status is returned.
run_limited () {
	_blocks=$1
	shift
	_msg=$( (trap '' XFSZ; ulimit -f "$_blocks" && exec "$@" 2>&1 >/dev/null) )
	_rc=$?
	printf '%s\n' "$_msg" | sed '/^$/d' >../err
	return $_rc
}

test_expect_success 'setup: a 4 MiB clip to add' '
	gen_data big.mov $((4 * MiB)) big
'

test_expect_success 'add with writes failing (EFBIG, 1 MiB file limit): exit 1, one line, repo unchanged' '
	repo_snapshot . >../snap &&
	test_expect_code 1 run_limited 1024 "$DITS" add big.mov &&
	assert_one_line_error ../err &&
	assert_repo_unchanged . ../snap
'

test_expect_success '... the error names what could not be written and why' '
	assert_match "too large|File too large|EFBIG|space|write" "$(cat ../err)" "reason"
'

test_expect_success 'commit with every write failing (limit 0): exit 1, one line, repo unchanged' '
	repo_snapshot . >../snap &&
	test_expect_code 1 run_limited 0 "$DITS" commit -m "never" &&
	assert_one_line_error ../err &&
	assert_repo_unchanged . ../snap
'

test_expect_success 'checkout with every write failing: exit 1, one line, the worktree file intact' '
	cp good.mov ../good.ref &&
	printf "x" >>good.mov &&
	cp good.mov ../good.edited &&
	repo_snapshot . >../snap &&
	test_expect_code 1 run_limited 0 "$DITS" checkout HEAD -- good.mov &&
	assert_one_line_error ../err &&
	assert_files_eq ../good.edited good.mov &&
	assert_repo_unchanged . ../snap
'

test_expect_success 'with the limit lifted the same commands work' '
	dits checkout HEAD -- good.mov >/dev/null &&
	assert_files_eq ../good.ref good.mov &&
	dits add big.mov >/dev/null &&
	dits commit -m "big" >/dev/null &&
	dits fsck >../out &&
	assert_eq ok "$(cat ../out)"
'

small=$TRASH/small
if mkdir -p "$small" && mount -t tmpfs -o size=6m tmpfs "$small" 2>/dev/null; then
	test_at_end "umount '$small'"
	test_expect_success 'setup: a repository on a 6 MiB filesystem, a 4 MiB clip in its worktree' '
		cd "$small" &&
		dits init >/dev/null &&
		gen_data small.mov 100000 small &&
		dits add small.mov >/dev/null &&
		dits commit -m small >/dev/null &&
		gen_data big.mov $((4 * MiB)) full-disk
	'
	test_expect_success 'add on a full disk (ENOSPC): exit 1, one line naming the reason' '
		cd "$small" &&
		repo_snapshot . >"$TRASH/snap" &&
		test_expect_code 1 dits add big.mov >"$TRASH/out" 2>"$TRASH/err" &&
		assert_one_line_error "$TRASH/err" &&
		assert_match "space" "$(cat "$TRASH/err")" "No space left on device"
	'
	test_expect_success '... and the repository is unchanged, nothing half-written left' '
		cd "$small" &&
		assert_repo_unchanged . "$TRASH/snap"
	'
	test_expect_success '... and it still works once space is freed' '
		cd "$small" &&
		head -c $((1 * MiB)) big.mov >big.part && mv big.part big.mov &&
		dits add big.mov >/dev/null &&
		dits commit -m "smaller" >/dev/null &&
		dits fsck >"$TRASH/out" &&
		assert_eq ok "$(cat "$TRASH/out")"
	'
else
	rmdir "$small" 2>/dev/null
	test_skip 'add on a full disk (ENOSPC)' 'cannot mount a small tmpfs here (needs root)'
fi

# ---- corrupted pack --------------------------------------------------------------------

test_expect_success 'setup: a committed clip whose pack then gets one byte flipped' '
	dits init "$TRASH/rot" >/dev/null &&
	cd "$TRASH/rot" &&
	gen_data rot.mov $((2 * MiB)) rot &&
	dits add rot.mov >/dev/null &&
	dits commit -m rot >/dev/null &&
	pack=$(ls -S "$TRASH"/rot/.dits/objects/pack/*.pack | head -n 1) &&
	flip_byte "$pack" $(( $(file_size "$pack") / 2 )) &&
	rm rot.mov
'

test_expect_success 'checkout of the damaged clip: exit 1, one line naming the chunk, object or pack' '
	cd "$TRASH/rot" &&
	repo_snapshot . >"$TRASH/snap" &&
	test_expect_code 1 dits checkout HEAD -- rot.mov >"$TRASH/out" 2>"$TRASH/err" &&
	assert_one_line_error "$TRASH/err" &&
	assert_match "[0-9a-f]{12}|$(basename "$pack" .pack)|rot\.mov" "$(cat "$TRASH/err")" "names the damaged thing"
'

test_expect_success '... no damaged bytes in the worktree, repository unchanged' '
	cd "$TRASH/rot" &&
	assert_missing rot.mov &&
	assert_eq "" "$(ls -A | grep -v "^\.dits$")" "files left in the worktree" &&
	assert_repo_unchanged . "$TRASH/snap"
'

test_expect_success 'fsck of the damaged repository: exit 1, the repository unchanged' '
	cd "$TRASH/rot" &&
	test_expect_code 1 dits fsck >"$TRASH/out" 2>"$TRASH/err" &&
	assert_repo_unchanged . "$TRASH/snap"
'

# ---- two writers at once ---------------------------------------------------------------

test_expect_success 'two adds at once: each succeeds or fails cleanly, and the repository stays sound' '
	cd "$TRASH/repo" &&
	gen_data race1.mov $((24 * MiB)) race-1 &&
	gen_data race2.mov 200000 race-2 &&
	{ "$DITS" add race1.mov >../race1.out 2>../race1.err & } &&
	pid=$! &&
	sleep 0.02 &&
	{ dits add race2.mov >../race2.out 2>../race2.err; rc2=$?; } &&
	{ wait $pid; rc1=$?; } &&
	say "first add exit $rc1, second add exit $rc2" &&
	case $rc1 in 0|1) ;; *) say "first add: exit $rc1"; false ;; esac &&
	case $rc2 in 0|1) ;; *) say "second add: exit $rc2"; false ;; esac &&
	if [ $rc1 -ne 0 ]; then assert_one_line_error ../race1.err; fi &&
	if [ $rc2 -ne 0 ]; then assert_one_line_error ../race2.err; fi &&
	dits fsck >../out &&
	assert_eq ok "$(tail -n 1 ../out)" &&
	dits ls-files >../ls &&
	if [ $rc1 -eq 0 ]; then assert_file_has ../ls "	race1\.mov$"; fi &&
	if [ $rc2 -eq 0 ]; then assert_file_has ../ls "	race2\.mov$"; fi
'

test_expect_success '... and afterwards both can be added and committed' '
	cd "$TRASH/repo" &&
	dits add race1.mov race2.mov >/dev/null &&
	dits commit -m race >/dev/null &&
	dits ls-files >../ls &&
	assert_file_has ../ls "	race1\.mov$" &&
	assert_file_has ../ls "	race2\.mov$"
'

# ---- the programs dits hands commands to ---------------------------------------------

test_expect_success 'setup: a dits copied alone, without dits-net and dits-media beside it' '
	mkdir -p "$TRASH/lone" &&
	cp "$DITS" "$TRASH/lone/dits" &&
	dits status >/dev/null &&
	repo_snapshot . >../snap-lone
'

test_expect_success 'the lone dits still runs the local commands itself' '
	"$TRASH/lone/dits" status >../lone-status &&
	dits status >../status &&
	assert_files_eq ../lone-status ../status
'

test_expect_success 'a network command without dits-net is one error naming it, exit 1' '
	test_expect_code 1 "$TRASH/lone/dits" push origin main 2>../err &&
	assert_one_line_error ../err "$TRASH/lone/dits-net" "installed with dits"
'

test_expect_success 'a transcoding command without dits-media is one error naming it, exit 1' '
	test_expect_code 1 "$TRASH/lone/dits" worker --once 2>../err &&
	assert_one_line_error ../err "$TRASH/lone/dits-media"
'

test_expect_success 'the missing programs left the repository unchanged' '
	assert_repo_unchanged . ../snap-lone
'

# ---- usage errors -----------------------------------------------------------------------

test_expect_success 'setup: snapshot before the usage errors' '
	repo_snapshot . >../snap-usage
'

test_expect_failure_exit 'commit without -m is a usage error' 2 'dits commit'
test_expect_failure_exit 'commit -m without a message is a usage error' 2 'dits commit -m'
test_expect_failure_exit 'add without a path is a usage error' 2 'dits add'
test_expect_failure_exit 'an unknown option is a usage error' 2 'dits log --no-such-option'
test_expect_failure_exit 'dits with no command is a usage error' 2 'dits'

test_expect_success 'the usage errors left the repository unchanged' '
	assert_repo_unchanged . ../snap-usage
'

test_done
