# lib.sh: a tiny harness for the Dits end-to-end scripts, in the spirit of
# git's t/test-lib.sh.
#
# A script sources this file, then runs steps:
#
#   test_expect_success 'what the user sees' '
#       dits add clip.mov &&
#       dits commit -m "first cut"
#   '
#   test_expect_failure_exit 'a missing path is an error' 1 '
#       dits add nope.mov
#   '
#   test_done
#
# Each step is evaluated with eval in the script's shell (so variables set in
# one step are visible in the next), from the directory the script was in
# when the step started; the directory is restored afterwards. A step passes
# when its last command succeeds, so chain commands with &&. Its output is
# kept and shown only when it fails (or always with DITS_TEST_VERBOSE=1).
#
# Chain lint: before a step runs, its body is checked the way git's
# test-lib.sh does it: "(exit 117) && BODY" is evaluated in a subshell. When
# every command is linked by &&, nothing after the "(exit 117)" runs and the
# status is 117; any other status means some command is not chained (or the
# body does not parse), and the step fails with "broken && chain in step N"
# without being run. A body whose last command is "true" or ":" or ends in
# "|| true" / "|| :" fails the same way: such a step cannot fail. The check
# cannot see inside a subshell, a { } group, a loop or a function body that
# is itself chained (nothing of it runs): loops must propagate failure
# ("for ...; do cmd || return 1; done"), a background job is written
# "{ cmd & } && pid=$!". The unchained commands of a refused body do run
# once, in the check's subshell (as in git); DITS_TEST_CHAIN_LINT=0 turns the
# check off (for debugging a harness problem only).
#
# Environment:
#   DITS     the dits binary (meson passes it; required)
#   NET_TOOL tests/net/net_tool (meson passes it; defaults to the build's)
#   SRCDIR   the project source directory (meson passes it; defaults to ../..
#            from this file). Fixtures are read from $SRCDIR/tests/fixtures.
#   TMPDIR   where the per-script trash directory is made (default /tmp)
#   DITS_TEST_KEEP=1     keep the trash directory after the script
#   DITS_TEST_VERBOSE=1  show every step's output
#
# The last line a script prints is exactly "N passed, N failed"; the script
# exits non-zero when any step failed.

TEST_NAME=$(basename "$0" .sh)
TEST_DIR=$(cd "$(dirname "$0")" && pwd)

if [ -z "${DITS:-}" ]; then
	echo "$TEST_NAME: DITS is not set (the path of the dits binary)" >&2
	exit 1
fi
case $DITS in
/*) ;;
*) DITS=$(cd "$(dirname "$DITS")" && pwd)/$(basename "$DITS") ;;
esac
if [ ! -x "$DITS" ]; then
	echo "$TEST_NAME: DITS=$DITS is not an executable" >&2
	exit 1
fi
export DITS
# the test helper for wire records and servers (meson passes it), and the
# all-zero id of an absent ref
NET_TOOL=${NET_TOOL:-$(dirname "$DITS")/../../tests/net/net_tool}
case $NET_TOOL in
/*) ;;
*) NET_TOOL=$(cd "$(dirname "$NET_TOOL")" && pwd)/$(basename "$NET_TOOL") ;;
esac
ZERO=0000000000000000000000000000000000000000000000000000000000000000
# The core stories store random bytes under video names: no proxy jobs for
# them (t1000 turns this back on).
export DITS_PROXY_AUTO=0
SRCDIR=${SRCDIR:-$(cd "$TEST_DIR/../.." && pwd)}
FIXTURES=$SRCDIR/tests/fixtures

if ! command -v b3sum >/dev/null 2>&1; then
	echo "$TEST_NAME: b3sum is required (Debian package b3sum)" >&2
	exit 1
fi

TRASH=$(mktemp -d "${TMPDIR:-/tmp}/dits-$TEST_NAME.XXXXXX") || exit 1
TRASH=$(cd "$TRASH" && pwd -P)

# Commands registered with test_at_end run (in reverse order) before the trash
# directory is removed: unmounts, killing helpers.
_test_cleanup_cmds=
test_at_end () {
	_test_cleanup_cmds="$1
$_test_cleanup_cmds"
}
_test_done_called=
_test_cleanup () {
	_test_exit=$?
	cd /
	if [ -z "$_test_done_called" ]; then
		# the script stopped before test_done (a top-level command failed,
		# or a step called exit): count that as a failure
		say "not ok - $TEST_NAME stopped early (exit status $_test_exit) after $test_count steps"
		say "$test_passed passed, $((test_failed + 1)) failed"
		_test_exit=1
	fi
	if [ -n "$_test_cleanup_cmds" ]; then
		eval "$_test_cleanup_cmds" >/dev/null 2>&1
	fi
	if [ -n "${DITS_TEST_KEEP:-}" ]; then
		echo "# kept $TRASH" >&2
	else
		chmod -R u+rwx "$TRASH" 2>/dev/null
		rm -rf "$TRASH"
	fi
	exit $_test_exit
}
trap _test_cleanup EXIT
trap 'exit 130' INT TERM

# A predictable environment: no user configuration, no locale surprises.
export HOME="$TRASH/home"
mkdir -p "$HOME"
export LC_ALL=C LANG=C TZ=UTC
export USER=tester LOGNAME=tester
export DITS_AUTHOR_NAME="A U Thor" DITS_AUTHOR_EMAIL="author@example.com"
export DITS_COMMITTER_NAME="C O Mitter" DITS_COMMITTER_EMAIL="committer@example.com"
unset DITS_DIR DITS_WORK_TREE DITS_PROGRESS DITS_METADB_URL 2>/dev/null

# PostgreSQL metadata: with DITS_TEST_METADB_URL set to a server's URL
# (tests/pg/pg.sh run sets it; the *-pg meson tests use that), every
# repository of the script, its clones and the ones a server creates keep
# their variants and jobs in PostgreSQL (DITS_METADB_URL), in a database of
# the script's own, created here and dropped at the end.
if [ -n "${DITS_TEST_METADB_URL:-}" ]; then
	_test_pg_db=t_$(printf '%s' "$TEST_NAME" | tr -c 'a-zA-Z0-9' _)_$$
	_test_psql=${PGBIN:-/usr/lib/postgresql/15/bin}/psql
	if ! "$_test_psql" -qAt -d "$DITS_TEST_METADB_URL" -c "CREATE DATABASE $_test_pg_db" >/dev/null; then
		echo "$TEST_NAME: cannot create database $_test_pg_db at $DITS_TEST_METADB_URL" >&2
		exit 1
	fi
	export DITS_METADB_URL=${DITS_TEST_METADB_URL%/*}/$_test_pg_db
	echo "# metadata in PostgreSQL: $DITS_METADB_URL" >&2
	test_at_end "\"\$_test_psql\" -qAt -d \"\$DITS_TEST_METADB_URL\" -c 'DROP DATABASE IF EXISTS $_test_pg_db WITH (FORCE)'"
fi
# A fleet server: with DITS_TEST_FLEET=1 every `dits serve` of the script
# keeps its data in PostgreSQL and S3 (tests/fleet/fleet.sh).
if [ "${DITS_TEST_FLEET:-}" = 1 ]; then
	. "$SRCDIR/tests/fleet/fleet.sh"
fi
cd "$TRASH" || exit 1

test_count=0
test_passed=0
test_failed=0
test_skipped=0

# dits ARGS...: the binary under test.
dits () {
	"$DITS" "$@"
}

say () {
	printf '%s\n' "$*"
}

# Show a step's body and output, indented, after a failure.
_test_show () {
	sed 's/^/#	/' "$TRASH/.step-body"
	if [ -s "$TRASH/.step-out" ]; then
		echo "#	--- output ---"
		sed 's/^/#	/' "$TRASH/.step-out"
	fi
}

# The body runs inside its own function so that a "return" in it ends the step.
_test_eval () {
	eval "$1"
}

# _test_lint BODY: 0 when every command of BODY is chained with && and its
# result is not thrown away; otherwise 1 with the reason in .step-out.
_test_lint () {
	if [ "${DITS_TEST_CHAIN_LINT:-1}" = 0 ]; then return 0; fi
	# the last non-blank line, trailing blanks and the closing quote's
	# indentation stripped
	_test_last=$(printf '%s\n' "$1" | sed -e 's/[[:space:]]*$//' -e '/^$/d' | tail -n 1 |
		sed 's/^[[:space:]]*//')
	if [ -z "$_test_last" ] || printf '%s\n' "$_test_last" |
		grep -Eq '(^|\|\||&&|;)[[:space:]]*(true|:)[[:space:]]*;?$'; then
		say "broken && chain in step $test_count: the step ends in '${_test_last:-nothing}', so it cannot fail"
		return 1
	fi
	(_test_eval "(exit 117) && $1") >"$TRASH/.step-lint" 2>&1 </dev/null
	_test_lint_rc=$?
	if [ "$_test_lint_rc" -eq 117 ]; then return 0; fi
	say "broken && chain in step $test_count: a command is not linked by && (or the body does not parse); the check ran it and got exit status $_test_lint_rc"
	if [ -s "$TRASH/.step-lint" ]; then
		say "what the unchained commands printed:"
		cat "$TRASH/.step-lint"
	fi
	return 1
}

_test_run () {
	printf '%s\n' "$1" >"$TRASH/.step-body"
	_test_broken=
	if ! _test_lint "$1" >"$TRASH/.step-out" 2>&1; then
		_test_broken=yes
		_test_rc=1
		return 1
	fi
	_test_saved_pwd=$PWD
	_test_eval "$1" >"$TRASH/.step-out" 2>&1 </dev/null
	_test_rc=$?
	cd "$_test_saved_pwd" || exit 1
	return $_test_rc
}

_test_ok () {
	test_passed=$((test_passed + 1))
	say "ok $test_count - $1"
	if [ -n "${DITS_TEST_VERBOSE:-}" ]; then _test_show; fi
}

_test_not_ok () {
	test_failed=$((test_failed + 1))
	say "not ok $test_count - $1"
	_test_show
}

# test_expect_success DESC BODY: BODY must exit 0.
test_expect_success () {
	test_count=$((test_count + 1))
	if _test_run "$2"; then
		_test_ok "$1"
	elif [ -n "$_test_broken" ]; then
		_test_not_ok "$1"
	else
		echo "# exit status $_test_rc" >>"$TRASH/.step-out"
		_test_not_ok "$1"
	fi
}

# test_expect_failure_exit DESC CODE BODY: BODY must exit with CODE ("any"
# accepts 1..125: a failure that is neither a crash nor a shell error).
test_expect_failure_exit () {
	test_count=$((test_count + 1))
	_test_run "$3"
	_rc=$?
	if [ -n "$_test_broken" ]; then
		_test_not_ok "$1"
	elif _exit_code_matches "$2" "$_rc"; then
		_test_ok "$1"
	else
		echo "# expected exit status $2, got $_rc" >>"$TRASH/.step-out"
		_test_not_ok "$1"
	fi
}

_exit_code_matches () {
	case $1 in
	any) [ "$2" -ge 1 ] && [ "$2" -le 125 ] ;;
	*) [ "$2" -eq "$1" ] ;;
	esac
}

# test_skip DESC REASON: a step that cannot run here; counted as neither.
test_skip () {
	test_count=$((test_count + 1))
	test_skipped=$((test_skipped + 1))
	say "ok $test_count # skip $1 ($2)"
}

# not_in_fleet WHY CMD...: runs CMD (a test_expect_* call), except against a
# fleet server (DITS_TEST_FLEET=1), where the step is skipped with WHY
# printed: for steps that look into the server's own files, which a fleet
# server keeps in PostgreSQL and S3 instead.
not_in_fleet () {
	_nf_why=$1
	shift
	if [ "${DITS_TEST_FLEET:-}" = 1 ]; then
		test_count=$((test_count + 1))
		test_skipped=$((test_skipped + 1))
		say "ok $test_count # skipped in fleet mode: $2 ($_nf_why)"
		return 0
	fi
	"$@"
}

# server_packs ROOT NAME: the number of packs of repository NAME of the
# server whose root is ROOT; against a fleet server, the packs published
# under its prefix in the S3 test server's files (a pack counts once its
# index is there whole: the index is written last and its metadata file
# after its bytes).
server_packs () {
	if [ "${DITS_TEST_FLEET:-}" = 1 ]; then
		find "$DITS_FLEET_S3_DATA/$2/packs" -name 'pack-*.idx._S3rver_metadata.json' 2>/dev/null |
			wc -l | tr -d ' '
	else
		ls "$1/$2/.dits/objects/pack" | grep -c '^pack-.*\.pack$'
	fi
}

# server_fsck ROOT NAME URL: `dits fsck` in repository NAME of the server
# whose root is ROOT; a fleet server's repository has no packs of its own
# (they are in S3), so there a fresh clone of URL/NAME is checked instead:
# every object its refs reach, read back from the bucket.
server_fsck () {
	if [ "${DITS_TEST_FLEET:-}" = 1 ]; then
		rm -rf "$TRASH/.fleet-fsck" &&
			"$DITS" clone "$3/$2" "$TRASH/.fleet-fsck" >/dev/null &&
			(cd "$TRASH/.fleet-fsck" && "$DITS" fsck) &&
			rm -rf "$TRASH/.fleet-fsck"
	else
		(cd "$1/$2" && "$DITS" fsck)
	fi
}

# server_repo ROOT NAME URL: a directory holding repository NAME of the
# server whose root is ROOT, for read-only commands (log, show, proxy
# status): ROOT/NAME itself, or against a fleet server, whose objects are in
# S3, a fresh proxy clone of URL/NAME (\$TRASH/.fleet-repo).
server_repo () {
	if [ "${DITS_TEST_FLEET:-}" = 1 ]; then
		rm -rf "$TRASH/.fleet-repo" &&
			"$DITS" clone --mode proxy "$3/$2" "$TRASH/.fleet-repo" >/dev/null &&
			echo "$TRASH/.fleet-repo"
	else
		echo "$1/$2"
	fi
}

# server_ref ROOT NAME REF URL: the id REF points to in repository NAME of
# the server whose root is ROOT; a fleet server keeps its refs in
# PostgreSQL, so there the refs document of URL/NAME is asked.
server_ref () {
	if [ "${DITS_TEST_FLEET:-}" = 1 ]; then
		curl -sf "$4/$2/refs" | tr -d ' \n' | grep -o "\"$3\":\"[0-9a-f]*\"" | head -n 1 |
			sed 's/.*:"//; s/"$//'
	else
		cat "$1/$2/.dits/$3"
	fi
}

# fleet_skip_check WHAT WHY: in fleet mode, a check inside a step that cannot
# apply there; test_done prints "# skipped in fleet mode: WHAT (WHY)" once.
fleet_skip_check () {
	if ! grep -qxF "$1 ($2)" "$TRASH/.fleet-skips" 2>/dev/null; then
		printf '%s (%s)\n' "$1" "$2" >>"$TRASH/.fleet-skips"
	fi
}

test_done () {
	_test_done_called=yes
	if [ -s "$TRASH/.fleet-skips" ]; then
		sed 's/^/# skipped in fleet mode: /' "$TRASH/.fleet-skips"
	fi
	if [ "$test_skipped" -gt 0 ]; then
		say "# $test_skipped skipped"
	fi
	say "$test_passed passed, $test_failed failed"
	[ "$test_failed" -eq 0 ]
	exit $?
}

# ---- assertions: each prints what differed and returns 1 ------------------

# assert_eq EXPECTED ACTUAL [WHAT]
assert_eq () {
	if [ "$1" = "$2" ]; then return 0; fi
	say "assert_eq failed${3:+ ($3)}:"
	say "  expected: '$1'"
	say "  actual:   '$2'"
	return 1
}

# assert_ne UNEXPECTED ACTUAL [WHAT]
assert_ne () {
	if [ "$1" != "$2" ]; then return 0; fi
	say "assert_ne failed${3:+ ($3)}: both are '$1'"
	return 1
}

# assert_le A B [WHAT]: integers, A <= B
assert_le () {
	if [ "$1" -le "$2" ] 2>/dev/null; then return 0; fi
	say "assert_le failed${3:+ ($3)}: $1 is not <= $2"
	return 1
}

# assert_ge A B [WHAT]: integers, A >= B
assert_ge () {
	if [ "$1" -ge "$2" ] 2>/dev/null; then return 0; fi
	say "assert_ge failed${3:+ ($3)}: $1 is not >= $2"
	return 1
}

# assert_match ERE STRING [WHAT]
assert_match () {
	if printf '%s\n' "$2" | grep -Eq -- "$1"; then return 0; fi
	say "assert_match failed${3:+ ($3)}: '$2' does not match /$1/"
	return 1
}

# assert_no_match ERE STRING [WHAT]
assert_no_match () {
	if ! printf '%s\n' "$2" | grep -Eq -- "$1"; then return 0; fi
	say "assert_no_match failed${3:+ ($3)}: '$2' matches /$1/"
	return 1
}

# assert_file_has FILE ERE: some line of FILE matches
assert_file_has () {
	if grep -Eq -- "$2" "$1"; then return 0; fi
	say "assert_file_has failed: no line of $1 matches /$2/; it holds:"
	sed 's/^/  | /' "$1"
	return 1
}

# assert_file_lacks FILE ERE: no line of FILE matches
assert_file_lacks () {
	if ! grep -Eq -- "$2" "$1"; then return 0; fi
	say "assert_file_lacks failed: $1 has lines matching /$2/:"
	grep -E -- "$2" "$1" | sed 's/^/  | /'
	return 1
}

# assert_files_eq EXPECTED_FILE ACTUAL_FILE: byte equality, diff on failure
assert_files_eq () {
	if cmp -s "$1" "$2"; then return 0; fi
	say "assert_files_eq failed: $1 and $2 differ"
	if [ "$(wc -c <"$1")" -lt 65536 ] && [ "$(wc -c <"$2")" -lt 65536 ]; then
		diff -u "$1" "$2" | head -40
	fi
	return 1
}

assert_exists () {
	if [ -e "$1" ] || [ -L "$1" ]; then return 0; fi
	say "assert_exists failed: $1 does not exist"
	return 1
}

assert_missing () {
	if [ ! -e "$1" ] && [ ! -L "$1" ]; then return 0; fi
	say "assert_missing failed: $1 exists"
	return 1
}

# assert_lines N FILE
assert_lines () {
	_n=$(wc -l <"$2" | tr -d ' ')
	if [ "$_n" -eq "$1" ]; then return 0; fi
	say "assert_lines failed: $2 has $_n lines, expected $1:"
	sed 's/^/  | /' "$2"
	return 1
}

# test_expect_code CODE CMD...: run CMD, its exit status must be CODE ("any":
# 1..125, i.e. a clean failure, not a crash).
test_expect_code () {
	_want=$1
	shift
	"$@"
	_got=$?
	if _exit_code_matches "$_want" "$_got"; then return 0; fi
	say "test_expect_code: '$*' exited $_got, expected $_want" >&2
	return 1
}

# assert_one_line_error FILE [TEXT...]: FILE (a captured stderr) is a single
# line of the form "dits: error: ..." that contains every TEXT (fixed
# strings, case-insensitive).
assert_one_line_error () {
	_f=$1
	shift
	_n=$(wc -l <"$_f" | tr -d ' ')
	# A last line without newline still counts as a line.
	if [ -s "$_f" ] && [ "$(tail -c 1 "$_f" | od -An -c | tr -d ' ')" != '\n' ]; then
		_n=$((_n + 1))
	fi
	if [ "$_n" -ne 1 ]; then
		say "assert_one_line_error: expected exactly one line in $_f, got $_n:"
		sed 's/^/  | /' "$_f"
		return 1
	fi
	if ! grep -q '^dits: error: ' "$_f"; then
		say "assert_one_line_error: not of the form 'dits: error: <what>: <reason>':"
		sed 's/^/  | /' "$_f"
		return 1
	fi
	for _t in "$@"; do
		if ! grep -qiF -- "$_t" "$_f"; then
			say "assert_one_line_error: the error does not name '$_t':"
			sed 's/^/  | /' "$_f"
			return 1
		fi
	done
	return 0
}

# ---- data and repository helpers ------------------------------------------

# gen_data FILE SIZE SEED: SIZE pseudo-random bytes, the same for the same SEED
# (BLAKE3's extendable output, so runs are reproducible and fast).
gen_data () {
	if [ "$2" -eq 0 ]; then
		: >"$1"
	else
		printf '%s' "$3" | b3sum --raw --length "$2" >"$1"
	fi
}

# b3 FILE: the BLAKE3 hex of FILE, computed by b3sum (the independent reference)
b3 () {
	b3sum --no-names "$1"
}

# sums_of DIR: "hash  relpath" for every regular file under DIR, sorted,
# excluding .dits/. Two worktrees with the same files give the same output.
sums_of () {
	(cd "$1" && find . -path ./.dits -prune -o -type f -print | LC_ALL=C sort |
		while IFS= read -r _p; do
			printf '%s  %s\n' "$(b3sum --no-names "$_p")" "${_p#./}"
		done)
}

# repo_snapshot DIR: every entry under DIR/.dits (type, mode, size, path) and
# the BLAKE3 of every regular file; nothing is ignored. Equal snapshots mean
# an unchanged repository.
repo_snapshot () {
	(cd "$1/.dits" && find . -printf '%y %m %s %P\n' | LC_ALL=C sort &&
		find . -type f -print | LC_ALL=C sort | while IFS= read -r _p; do
			printf '%s  %s\n' "$(b3sum --no-names "$_p")" "$_p"
		done)
}

# assert_repo_unchanged DIR SNAPSHOT_FILE
assert_repo_unchanged () {
	repo_snapshot "$1" >"$TRASH/.snapshot-now"
	if cmp -s "$2" "$TRASH/.snapshot-now"; then return 0; fi
	say "assert_repo_unchanged: $1/.dits changed:"
	diff -u "$2" "$TRASH/.snapshot-now" | head -40
	return 1
}

# insert_byte FILE OFFSET BYTE: insert one byte at OFFSET (file grows by one)
insert_byte () {
	{ head -c "$2" "$1" && printf '%s' "$3" && tail -c +"$(($2 + 1))" "$1"; } >"$1.ins" &&
		mv "$1.ins" "$1"
}

# flip_byte FILE OFFSET: invert one byte in place
flip_byte () {
	_old=$(dd if="$1" bs=1 skip="$2" count=1 2>/dev/null | od -An -tu1 | tr -d ' ')
	_new=$(( 255 - _old ))
	printf "\\$(printf '%03o' "$_new")" |
		dd of="$1" bs=1 seek="$2" count=1 conv=notrunc 2>/dev/null
}

file_size () {
	wc -c <"$1" | tr -d ' '
}

# ---- JSON without jq or python (the outputs are flat enough) --------------

# json_num KEY < JSON: the first numeric value of "KEY"
json_num () {
	tr -d '\n' | grep -o "\"$1\"[[:space:]]*:[[:space:]]*-\{0,1\}[0-9][0-9.eE+-]*" |
		head -n 1 | sed 's/.*:[[:space:]]*//'
}

# json_str KEY < JSON: the first string value of "KEY" (no escapes handled)
json_str () {
	tr -d '\n' | grep -o "\"$1\"[[:space:]]*:[[:space:]]*\"[^\"]*\"" |
		head -n 1 | sed 's/^[^:]*:[[:space:]]*"//; s/"$//'
}

# json_raw KEY < JSON: the literal after "KEY": (true, false, null, a number)
json_raw () {
	tr -d '\n' | grep -o "\"$1\"[[:space:]]*:[[:space:]]*[a-z0-9.+-]*" |
		head -n 1 | sed 's/.*:[[:space:]]*//'
}

# json_array KEY < JSON: the text of the array value of "KEY" (flat contents)
json_array () {
	tr -d '\n' | grep -o "\"$1\"[[:space:]]*:[[:space:]]*\[[^]]*\]" | head -n 1 |
		sed 's/^[^[]*//'
}

# json_objects < JSON: every {...} object that is an element of an array,
# one per line, as written (objects nested inside them stay in their line)
json_objects () {
	tr -d '\n' | LC_ALL=C awk '{
		n = length($0); depth = 0; instr = 0; esc = 0; start = 0
		for (i = 1; i <= n; i++) {
			c = substr($0, i, 1)
			if (instr) {
				if (esc) esc = 0
				else if (c == "\\") esc = 1
				else if (c == "\"") instr = 0
				continue
			}
			if (c == "\"") { instr = 1; continue }
			if (c == "[" || c == "{") {
				if (c == "{" && depth > 0 && kind[depth] == "[" && !start) {
					start = i; sdepth = depth
				}
				kind[++depth] = c
			} else if (c == "]" || c == "}") {
				depth--
				if (c == "}" && start && depth == sdepth) {
					print substr($0, start, i - start + 1); start = 0
				}
			}
		}
	}'
}

# json_strings < JSON-ARRAY: every string element, one per line, unquoted
json_strings () {
	grep -o '"[^"]*"' | sed 's/^"//; s/"$//'
}

# status_entries KIND STATUS: paths in `dits status --json` under KIND
# (staged|unstaged) whose status is STATUS, sorted. Reads JSON on stdin.
status_entries () {
	json_array "$1" | json_objects | grep "\"status\"[[:space:]]*:[[:space:]]*\"$2\"" |
		json_str_lines path | LC_ALL=C sort
}

# json_str_lines KEY: json_str on each input line
json_str_lines () {
	while IFS= read -r _l; do
		printf '%s\n' "$_l" | json_str "$1"
	done
}

# untracked_paths: the "untracked" array of `dits status --json` on stdin
untracked_paths () {
	_arr=$(json_array untracked)
	case $_arr in
	*'{'*) printf '%s\n' "$_arr" | json_objects | json_str_lines path ;;
	*) printf '%s\n' "$_arr" | json_strings ;;
	esac | LC_ALL=C sort
}

# to_bytes QUANTITY: "123", "123 bytes", "703.2 KiB", "1.5 MB", "0 B" -> an
# integer byte count (human units are rounded, so compare with some slack)
to_bytes () {
	printf '%s\n' "$1" | awk '{
		v = $1; u = $2
		m = 1
		if (u ~ /^Ki?B$/ || u == "K") m = (u == "KB") ? 1000 : 1024
		else if (u ~ /^Mi?B$/ || u == "M") m = (u == "MB") ? 1000000 : 1048576
		else if (u ~ /^Gi?B$/ || u == "G") m = (u == "GB") ? 1000000000 : 1073741824
		printf "%.0f\n", v * m }'
}

# add_new_bytes FILE: the "new bytes stored" figure of an add summary line,
# in bytes, whether printed as "(Y new bytes stored)" or "(703.2 KiB new stored)"
add_new_bytes () {
	_q=$(sed -n 's/.*(\([0-9.]*\( [KMGT]i\{0,1\}B\| B\)\{0,1\}\) new\( bytes\)\{0,1\} stored).*/\1/p' "$1")
	[ -n "$_q" ] && to_bytes "$_q"
}

# add_total_bytes FILE: the "X bytes" figure of an add summary line, in bytes
add_total_bytes () {
	_q=$(sed -n 's/^added [0-9]* files\{0,1\}, \([0-9.]*\( [KMGT]i\{0,1\}B\| B\| bytes\)\{0,1\}\) (.*/\1/p' "$1")
	[ -n "$_q" ] && to_bytes "$_q"
}

# now_ms: milliseconds since the epoch
now_ms () {
	echo $(( $(date +%s%N) / 1000000 ))
}

# make_master FILE SIZE SECONDS TIMECODE CHANNELS [RATE]: a camera-master-like
# clip made with the ffmpeg program: ProRes 422 HQ at RATE (default
# 24000/1001), a start timecode, and CHANNELS channels of 24-bit PCM.
make_master () {
	ffmpeg -nostdin -loglevel error -y \
		-f lavfi -i "testsrc2=size=$2:rate=${6:-24000/1001}:duration=$3" \
		-f lavfi -i "sine=frequency=440:sample_rate=48000:duration=$3" \
		-filter_complex "[1:a]pan=${5}c|c0=c0$(i=1; while [ $i -lt "$5" ]; do printf '|c%d=c0' $i; i=$((i + 1)); done)[a]" \
		-map 0:v -map "[a]" -c:v prores_ks -profile:v 3 -pix_fmt yuv422p10le -c:a pcm_s24le \
		-timecode "$4" "$1"
}

# gray_master OUT LUMA0 STEP CB TC REEL FREQ: a 3 s 320x180 ProRes HQ master at
# 25 fps whose frame N has luma LUMA0 + STEP*N (flat grey) and chroma CB, with
# start timecode TC, reel name REEL and a FREQ Hz tone: a decoded frame names itself.
gray_master () {
	ffmpeg -nostdin -v error -y -f lavfi -i "nullsrc=s=320x180:r=25,format=yuv422p10le,geq=lum='($2+$3*N)*4':cb=$4*4:cr=512" \
		-f lavfi -i "sine=f=$7:r=48000:d=3" -frames:v 60 -c:v prores_ks -profile:v 3 -ac 2 -c:a pcm_s24le \
		-timecode "$5" -metadata:s:v:0 reel_name="$6" "$1"
}

# frame_lumas FILE: the mean luma of every frame, one per line, rounded
frame_lumas () {
	ffmpeg -nostdin -v error -i "$1" -vf "format=yuv422p,signalstats,metadata=print:key=lavfi.signalstats.YAVG:file=-" \
		-an -f null - | sed -n 's/.*YAVG=\([0-9.]*\).*/\1/p' | awk '{ printf "%d\n", $1 + 0.5 }'
}
