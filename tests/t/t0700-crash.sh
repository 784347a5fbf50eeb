#!/usr/bin/env bash
# t0700: the power cord. A baseline is committed; then, again and again, a
# `dits add` of a 64 MiB clip plus a card of small files, or a `dits commit`,
# is killed with SIGKILL at a growing delay that sweeps the whole operation.
# After every kill: fsck passes, the index is readable, and the baseline checks
# out byte-identical. At the end a normal add and commit still work (no stale
# lock), and every committed version is intact. Then gc and checkout are killed
# the same way: gc never loses a reachable byte, and a killed checkout leaves
# no torn file (each is the old or the new version, whole) and completes when
# the user runs it again.

. "$(dirname "$0")/lib.sh"

MiB=1048576
BIG=$((64 * MiB))
ROUNDS=${DITS_CRASH_ROUNDS:-25}
SMALL_FILES=200

# prepare_work I: fresh bytes for round I, so every round writes new chunks:
# four 1 MiB stretches of big.mov spread over the file, and every small file.
prepare_work () {
	if [ ! -f big.mov ]; then gen_data big.mov $BIG crash-big || return 1; fi
	for _k in 0 1 2 3; do
		gen_data ../stretch 1048576 "round-$1-$_k" &&
			dd if=../stretch of=big.mov bs=1048576 seek=$((_k * 16 + $1 % 15)) \
				conv=notrunc 2>/dev/null || return 1
	done
	rm -rf many && mkdir many &&
		gen_data ../many.blob $((SMALL_FILES * 2048)) "round-$1-small" &&
		split -b 2048 -a 3 ../many.blob many/card_
}

# delay_for K N MAX_MS: K-th of N delays, geometric from 1 ms to MAX_MS, in
# seconds for sleep(1)
delay_for () {
	awk -v k="$1" -v n="$2" -v m="$3" 'BEGIN {
		if (m < 2) m = 2
		if (n < 2) { printf "0.0010"; exit }
		printf "%.4f", (m ^ (k / (n - 1))) / 1000 }'
}

# kill_after SECONDS CMD...: start CMD in the background, SIGKILL it after
# SECONDS. Sets $killed to yes if it was still running.
kill_after () {
	_d=$1
	shift
	"$@" >/dev/null 2>&1 &
	_pid=$!
	sleep "$_d"
	if kill -9 "$_pid" 2>/dev/null; then killed=yes; else killed=no; fi
	wait "$_pid" 2>/dev/null
	return 0
}

# verify_after_kill: the repository is sound and the baseline is intact
verify_after_kill () {
	# fsck may note leftovers of the killed command (temporary files gc
	# removes); passing means exit 0 with "ok" as the last line
	dits fsck >../fsck.out 2>../fsck.err ||
		{ say "fsck failed:"; cat ../fsck.out ../fsck.err; return 1; }
	assert_eq ok "$(tail -n 1 ../fsck.out)" "fsck verdict" || return 1
	dits status --json >../st 2>../st.err ||
		{ say "status failed:"; cat ../st.err; return 1; }
	rm -rf base || return 1
	dits checkout baseline -- base >../co.out 2>&1 ||
		{ say "checkout baseline -- base failed:"; cat ../co.out; return 1; }
	sums_of base >../base.now &&
		assert_files_eq ../base.sums ../base.now
}

test_expect_success 'setup: a committed baseline, tagged' '
	dits init crash >/dev/null &&
	cd crash &&
	mkdir -p base/cards &&
	gen_data base/master.mov $((8 * MiB)) base-master &&
	i=0 &&
	while [ $i -lt 20 ]; do
		gen_data base/cards/c$i.mov $((3000 + i * 100)) base-card-$i || return 1
		i=$((i + 1))
	done &&
	printf "baseline notes\n" >base/notes.txt &&
	dits add base >/dev/null &&
	dits commit -m baseline >/dev/null &&
	dits tag baseline &&
	sums_of base >../base.sums &&
	assert_lines 22 ../base.sums
'

cd crash || exit 1

test_expect_success 'calibrate: time a full add and a full commit of a round of work' '
	prepare_work 0 &&
	t0=$(now_ms) &&
	dits add big.mov many >/dev/null &&
	t1=$(now_ms) &&
	dits commit -m "round 0" >/dev/null &&
	t2=$(now_ms) &&
	add_ms=$((t1 - t0)) &&
	commit_ms=$((t2 - t1)) &&
	say "add took $add_ms ms, commit took $commit_ms ms"
'

say "# add took ${add_ms:-?} ms, commit took ${commit_ms:-?} ms"
add_max=$(( ${add_ms:-500} * 12 / 10 + 5 ))
commit_max=$(( ${commit_ms:-50} * 15 / 10 + 5 ))

real_kills=0
n_add=$(( (ROUNDS + 1) / 2 ))
n_commit=$(( ROUNDS / 2 ))
r=1
while [ $r -le "$ROUNDS" ]; do
	if [ $((r % 2)) -eq 1 ]; then
		k=$(( (r - 1) / 2 ))
		d=$(delay_for $k $n_add $add_max)
		test_expect_success "round $r: kill -9 during add after ${d}s: fsck ok, baseline intact" '
			prepare_work $r &&
			kill_after $d "$DITS" add big.mov many &&
			if [ $killed = yes ]; then real_kills=$((real_kills + 1)); fi &&
			verify_after_kill
		'
	else
		k=$(( r / 2 - 1 ))
		d=$(delay_for $k $n_commit $commit_max)
		test_expect_success "round $r: kill -9 during commit after ${d}s: fsck ok, baseline intact" '
			prepare_work $r &&
			dits add big.mov many >/dev/null &&
			kill_after $d "$DITS" commit -m "round $r" &&
			if [ $killed = yes ]; then real_kills=$((real_kills + 1)); fi &&
			verify_after_kill
		'
	fi
	r=$((r + 1))
done

say "# $real_kills of $ROUNDS kills landed while dits was running"

test_expect_success 'most kills landed while dits was still running' '
	assert_ge "$real_kills" $((ROUNDS / 3)) "kills that interrupted dits"
'

test_expect_success 'no stale lock: a normal add and commit succeed' '
	prepare_work 99 &&
	dits add big.mov many >/dev/null &&
	dits commit -m final >../out &&
	assert_match "final$" "$(cat ../out)" &&
	sums_of . >../final.sums
'

# ---- gc killed while it removes garbage and repacks ----------------------

# make_garbage I: store fresh chunks, then drop them from the index again, so
# gc has something to remove
make_garbage () {
	prepare_work "$1" &&
		dits add big.mov many >/dev/null &&
		rm -rf big.mov many &&
		dits checkout HEAD -- big.mov many >/dev/null
}

test_expect_success 'calibrate: time a gc that has garbage to remove' '
	make_garbage 100 &&
	t0=$(now_ms) &&
	dits gc --prune=now >../out &&
	t1=$(now_ms) &&
	gc_ms=$((t1 - t0)) &&
	say "gc took $gc_ms ms: $(cat ../out)" &&
	assert_match "^removed [1-9]" "$(cat ../out)"
'

say "# gc took ${gc_ms:-?} ms"
gc_max=$(( ${gc_ms:-200} * 12 / 10 + 5 ))
GC_ROUNDS=${DITS_CRASH_GC_ROUNDS:-6}
g=0
while [ $g -lt "$GC_ROUNDS" ]; do
	d=$(delay_for $g $GC_ROUNDS $gc_max)
	test_expect_success "gc round $((g + 1)): kill -9 during gc after ${d}s: fsck ok, baseline and HEAD intact" '
		make_garbage $((101 + g)) &&
		kill_after $d "$DITS" gc --prune=now &&
		verify_after_kill &&
		rm -rf big.mov many &&
		dits checkout HEAD -- big.mov many >/dev/null &&
		sums_of . >../now &&
		assert_files_eq ../final.sums ../now
	'
	g=$((g + 1))
done

test_expect_success 'after the killed gcs, a full gc completes' '
	dits gc --prune=now >../out &&
	assert_match "^removed [0-9]+ objects?, " "$(cat ../out)"
'

# ---- checkout killed while it swaps the worktree -------------------------

# After a killed checkout, sort the worktree's files against the two versions:
#   ../torn     a path of either version whose bytes are neither version's
#   ../foreign  a path in neither version (a temporary file left behind)
classify_worktree () {
	cat ../base.full ../final.sums | LC_ALL=C sort -u >../allowed
	sed 's/^[0-9a-f]*  //' ../allowed | LC_ALL=C sort -u >../allowed.paths
	sums_of . >../now.sums
	: >../torn
	: >../foreign
	while IFS= read -r _line; do
		_p=${_line#*  }
		if grep -qxF -- "$_p" ../allowed.paths; then
			grep -qxF -- "$_line" ../allowed || printf '%s\n' "$_line" >>../torn
		else
			printf '%s\n' "$_line" >>../foreign
		fi
	done <../now.sums
}

# assert_worktree_version SUMS: the worktree's files of either version are
# exactly those of SUMS (temporary leftovers are reported by another step)
assert_worktree_version () {
	classify_worktree
	grep -vxF -f ../foreign ../now.sums >../now.tracked || :
	if [ ! -s ../foreign ]; then cp ../now.sums ../now.tracked; fi
	assert_files_eq "$1" ../now.tracked
}

# reset_to REV SUMS: put HEAD, index and worktree at REV whatever an earlier
# round left, so that each round starts from a known state
reset_to () {
	rm -rf big.mov many base &&
		{ dits checkout "$1" >/dev/null 2>&1 || :; } &&
		dits checkout "$1" -- . >/dev/null &&
		sums_of . >../reset.sums &&
		assert_files_eq "$2" ../reset.sums
}

test_expect_success 'calibrate: time a checkout that writes the 64 MiB clip' '
	branch=$(dits status --json | json_str branch) &&
	sed "s|  |  base/|" ../base.sums >../base.full &&
	dits checkout baseline >/dev/null &&
	t0=$(now_ms) &&
	dits checkout "$branch" >/dev/null &&
	t1=$(now_ms) &&
	co_ms=$((t1 - t0)) &&
	say "checkout took $co_ms ms" &&
	sums_of . >../now &&
	assert_files_eq ../final.sums ../now
'

say "# checkout took ${co_ms:-?} ms"
co_max=$(( ${co_ms:-300} * 12 / 10 + 5 ))
CO_ROUNDS=${DITS_CRASH_CHECKOUT_ROUNDS:-8}
c=0
while [ $c -lt "$CO_ROUNDS" ]; do
	d=$(delay_for $((c / 2)) $((CO_ROUNDS / 2)) $co_max)
	if [ $((c % 2)) -eq 0 ]; then
		target=baseline shown="the baseline tag" expect=../base.full
		from='"$branch"' from_sums=../final.sums
	else
		target='"$branch"' shown="the branch" expect=../final.sums
		from=baseline from_sums=../base.full
	fi
	test_expect_success "checkout round $((c + 1)): kill -9 during checkout of $shown after ${d}s: fsck ok, no torn file" '
		reset_to '"$from"' '"$from_sums"' &&
		kill_after $d "$DITS" checkout '"$target"' &&
		dits fsck >../fsck.out 2>../fsck.err &&
		assert_eq ok "$(tail -n 1 ../fsck.out)" "fsck verdict" &&
		dits status --json >/dev/null &&
		classify_worktree &&
		if [ -s ../torn ]; then say "torn files:"; cat ../torn; false; fi
	'
	test_expect_success "checkout round $((c + 1)): no temporary file is left in the worktree" '
		classify_worktree &&
		if [ -s ../foreign ]; then
			say "left in the worktree:"; cat ../foreign
			# remove them so that the next round is judged on its own
			sed "s/^[0-9a-f]*  //" ../foreign | while IFS= read -r p; do rm -f "$p"; done
			false
		fi
	'
	test_expect_success "checkout round $((c + 1)): running the checkout again completes it" '
		dits checkout '"$target"' >/dev/null &&
		assert_worktree_version '"$expect"'
	'
	c=$((c + 1))
done

test_expect_success 'cleanup: remove whatever the killed checkouts left behind, back on the branch' '
	classify_worktree &&
	sed "s/^[0-9a-f]*  //" ../foreign | while IFS= read -r p; do rm -f "$p"; done &&
	reset_to "$branch" ../final.sums
'

test_expect_success 'after the killed checkouts the worktree is on the branch, clean' '
	dits checkout "$branch" >/dev/null &&
	dits status --json >../st &&
	assert_eq true "$(json_raw clean <../st)" &&
	assert_eq "$branch" "$(json_str branch <../st)"
'

test_expect_success 'fsck is ok at the end' '
	dits fsck >../out &&
	assert_eq ok "$(cat ../out)"
'

test_expect_success 'a full checkout of the baseline gives exactly the baseline files' '
	dits checkout baseline >/dev/null &&
	sums_of . >../now &&
	assert_files_eq ../base.full ../now
'

test_expect_success 'checking the branch out again gives the final round byte-exact' '
	dits checkout "$branch" >/dev/null &&
	sums_of . >../now &&
	assert_files_eq ../final.sums ../now
'

test_expect_success 'every commit made during the rounds checks out and passes fsck' '
	dits log --json | json_objects | json_str_lines id >../ids &&
	for id in $(cat ../ids); do
		dits checkout "$id" >/dev/null || { say "checkout $id failed"; return 1; }
	done &&
	dits checkout "$branch" >/dev/null &&
	dits fsck >../out &&
	assert_eq ok "$(cat ../out)"
'

test_done
