#!/usr/bin/env bash
# t0500: trusting the store. fsck says ok on a healthy repository; a flipped
# byte in a pack is found and named, and reading the damaged clip fails
# loudly without writing bad bytes over the worktree. gc drops chunks nothing
# refers to and keeps every committed byte.

. "$(dirname "$0")/lib.sh"

MiB=1048576

# gc_objects FILE, gc_bytes FILE: the figures of a gc summary
# "removed N objects, X bytes" (X read with any unit)
gc_objects () {
	sed -n 's/^removed \([0-9]*\) objects\{0,1\}, .*/\1/p' "$1"
}
gc_bytes () {
	_q=$(sed -n 's/^removed [0-9]* objects\{0,1\}, \([0-9.]*\( [KMGT]i\{0,1\}B\| B\| bytes\)\{0,1\}\).*/\1/p' "$1")
	[ -n "$_q" ] && to_bytes "$_q"
}

# largest_pack DIR: the biggest .pack file of the repository at DIR
largest_pack () {
	ls -S "$1"/.dits/objects/pack/*.pack | head -n 1
}

test_expect_success 'fsck on a fresh repository prints ok' '
	dits init fresh >/dev/null &&
	cd fresh &&
	dits fsck >../out 2>../err &&
	assert_eq ok "$(cat ../out)" &&
	test ! -s ../err
'

# ---- corruption ---------------------------------------------------------

test_expect_success 'setup: clip v1 committed' '
	dits init damaged >/dev/null &&
	cd damaged &&
	gen_data clip.mov $((2 * MiB)) clip-v1 &&
	gen_data other.mov 300000 other &&
	cp clip.mov ../clip.v1 &&
	dits add clip.mov other.mov >/dev/null &&
	dits commit -m "v1" >/dev/null &&
	v1=$(dits log --json | json_str id)
'

test_expect_success 'fsck after a commit prints ok' '
	cd damaged &&
	dits fsck >../out &&
	assert_eq ok "$(cat ../out)"
'

test_expect_success 'chunks live in pack files, not a file per chunk' '
	n=$(ls damaged/.dits/objects/pack/*.pack | wc -l) &&
	assert_ge "$n" 1 "pack files" &&
	assert_le "$n" 4 "pack files for 2 files"
'

test_expect_success 'setup: flip one byte in the middle of the pack holding v1, then commit v2' '
	pack=$(largest_pack "$TRASH/damaged") &&
	psize=$(file_size "$pack") &&
	assert_ge "$psize" $((2 * MiB)) "pack size" &&
	off=$((psize / 2)) &&
	cp "$pack" pack.orig &&
	flip_byte "$pack" $off &&
	! cmp -s pack.orig "$pack" &&
	cd damaged &&
	gen_data clip.mov $((2 * MiB)) clip-v2 &&
	cp clip.mov ../clip.v2 &&
	dits add clip.mov >/dev/null &&
	dits commit -m "v2" >/dev/null
'

test_expect_failure_exit 'fsck fails on the flipped byte' 1 '
	cd damaged &&
	dits fsck >../out 2>../err
'

test_expect_success '... naming the damaged pack or object, one line per problem' '
	cat out err >fsck &&
	pname=$(basename "$pack" .pack) &&
	(cd damaged && dits debug chunks ../clip.v1) | awk "{print \$4}" >v1-chunks &&
	if grep -qF "$pname" fsck; then
		:
	elif grep -oE "[0-9a-f]{12,}" fsck >named && [ -s named ]; then
		found= &&
		while read -r h; do
			if grep -q "^$h" v1-chunks; then found=$h; fi
		done <named &&
		assert_ne "" "$found" "a v1 chunk id named by fsck"
	else
		say "fsck names neither the pack ($pname) nor a chunk of clip v1:" && cat fsck && false
	fi &&
	assert_file_lacks fsck "^ok$"
'

test_expect_success 'checkout of v1 fails with a one-line error and leaves clip v2 intact' '
	cd damaged &&
	sums_of . >../wt-before &&
	test_expect_code 1 dits checkout "$v1" >../out 2>../err &&
	assert_one_line_error ../err &&
	assert_files_eq ../clip.v2 clip.mov &&
	sums_of . >../wt-after &&
	assert_files_eq ../wt-before ../wt-after
'

test_expect_success '... and HEAD did not move' '
	cd damaged &&
	dits log --oneline >../log &&
	assert_file_has ../log "v2$" &&
	assert_eq 2 "$(wc -l <../log | tr -d " ")"
'

test_expect_success 'checkout v1 -- clip.mov fails too and leaves clip v2 intact, no temp files' '
	cd damaged &&
	test_expect_code 1 dits checkout "$v1" -- clip.mov >../out 2>../err &&
	assert_one_line_error ../err &&
	assert_files_eq ../clip.v2 clip.mov &&
	sums_of . >../wt-after &&
	assert_files_eq ../wt-before ../wt-after
'

test_expect_success 'a deleted worktree file whose chunks are damaged is not recreated with bad bytes' '
	cd damaged &&
	rm clip.mov &&
	cp ../clip.v2 ../keep.v2 &&
	test_expect_code 1 dits checkout "$v1" -- clip.mov 2>../err &&
	assert_one_line_error ../err &&
	if [ -e clip.mov ]; then assert_files_eq ../clip.v1 clip.mov; fi &&
	cp ../keep.v2 clip.mov
'

test_expect_success 'undamaged files still check out: other.mov from v1' '
	cd damaged &&
	rm other.mov &&
	dits checkout "$v1" -- other.mov >/dev/null &&
	assert_eq "$(b3 ../clip.v2)" "$(b3 clip.mov)" &&
	gen_data ../other.ref 300000 other &&
	assert_files_eq ../other.ref other.mov
'

test_expect_success 'repairing the byte makes fsck ok again' '
	cp pack.orig "$pack" &&
	cd damaged &&
	dits fsck >../out &&
	assert_eq ok "$(cat ../out)"
'

# ---- gc ------------------------------------------------------------------

test_expect_success 'setup: three commits, a branch and a tag' '
	dits init lib >/dev/null &&
	cd lib &&
	gen_data a.mov $((3 * MiB)) gc-a &&
	gen_data b.mov 500000 gc-b &&
	dits add . >/dev/null && dits commit -m one >/dev/null &&
	insert_byte a.mov 1000000 Q &&
	dits add . >/dev/null && dits commit -m two >/dev/null &&
	dits tag rough-cut &&
	dits checkout -b alt >/dev/null &&
	gen_data c.mov 400000 gc-c &&
	dits add . >/dev/null && dits commit -m three-alt >/dev/null &&
	main=$(dits log --json rough-cut | json_str id) &&
	dits checkout rough-cut >/dev/null &&
	dits log --json alt | json_objects | json_str_lines id >../all-ids &&
	assert_lines 3 ../all-ids &&
	for id in $(cat ../all-ids); do
		dits checkout "$id" >/dev/null &&
		sums_of . >../sums.$id || return 1
	done &&
	dits checkout alt >/dev/null
'

test_expect_success 'gc with nothing unreachable removes nothing' '
	cd lib &&
	dits stats --json >../s0.json &&
	dits gc >../out &&
	assert_eq 0 "$(gc_objects ../out)" "objects removed" &&
	assert_eq 0 "$(gc_bytes ../out)" "bytes removed" &&
	dits stats --json >../s0b.json &&
	assert_eq "$(json_num chunks <../s0.json)" "$(json_num chunks <../s0b.json)" "chunks" &&
	assert_eq "$(json_num chunk_bytes <../s0.json)" "$(json_num chunk_bytes <../s0b.json)" "chunk_bytes"
'

test_expect_success '... and says so in the documented form "removed N objects, X bytes"' '
	assert_eq "removed 0 objects, 0 bytes" "$(cat out)"
'

test_expect_success 'add a file, then rm --cached it without committing' '
	cd lib &&
	gen_data junk.mov $((2 * MiB)) gc-junk &&
	dits add junk.mov >/dev/null &&
	dits stats --json >../s1.json &&
	assert_ge "$(json_num chunk_bytes <../s1.json)" $(( $(json_num chunk_bytes <../s0.json) + 2 * MiB )) "junk stored" &&
	dits rm --cached junk.mov >/dev/null &&
	rm junk.mov
'

test_expect_success 'gc removes its chunks' '
	cd lib &&
	dits gc --prune=now >../out &&
	assert_ge "$(gc_objects ../out)" 1 "objects removed" &&
	assert_ge "$(gc_bytes ../out)" $((2 * MiB)) "bytes removed" &&
	dits stats --json >../s2.json &&
	assert_eq "$(json_num chunks <../s0.json)" "$(json_num chunks <../s2.json)" "chunks" &&
	assert_eq "$(json_num chunk_bytes <../s0.json)" "$(json_num chunk_bytes <../s2.json)" "chunk_bytes" &&
	assert_le "$(json_num stored_bytes <../s2.json)" "$(( $(json_num stored_bytes <../s1.json) - 2 * MiB ))" "stored_bytes"
'

test_expect_success 'fsck is ok after gc' '
	cd lib &&
	dits fsck >../out &&
	assert_eq ok "$(cat ../out)"
'

test_expect_success 'every commit still checks out byte-exact after gc' '
	cd lib &&
	for id in $(cat ../all-ids); do
		dits checkout "$id" >/dev/null &&
		sums_of . >../now &&
		assert_files_eq ../sums.$id ../now || return 1
	done &&
	dits checkout alt >/dev/null
'

test_expect_success 'gc keeps what only the index refers to (staged, uncommitted)' '
	cd lib &&
	gen_data staged.mov $((1 * MiB)) gc-staged &&
	cp staged.mov ../staged.ref &&
	dits add staged.mov >/dev/null &&
	dits gc --prune=now >/dev/null &&
	dits fsck >../out &&
	assert_eq ok "$(cat ../out)" &&
	dits commit -m staged >/dev/null &&
	rm staged.mov &&
	dits checkout HEAD -- staged.mov >/dev/null &&
	assert_files_eq ../staged.ref staged.mov
'

test_expect_success 'gc keeps a commit only a tag refers to, and one only HEAD refers to' '
	cd lib &&
	dits checkout rough-cut >/dev/null &&
	gen_data tagged.mov 600000 gc-tagged &&
	dits add tagged.mov >/dev/null &&
	dits commit -m "detached, tagged" >/dev/null &&
	dits tag only-tag &&
	sums_of . >../sums.tagged &&
	gen_data head-only.mov 500000 gc-head-only &&
	dits add head-only.mov >/dev/null &&
	dits commit -m "detached, HEAD only" >/dev/null &&
	sums_of . >../sums.head-only &&
	dits gc --prune=now >/dev/null &&
	dits fsck >../out &&
	assert_eq ok "$(cat ../out)" &&
	rm -f tagged.mov head-only.mov &&
	dits checkout HEAD -- . >/dev/null &&
	sums_of . >../now &&
	assert_files_eq ../sums.head-only ../now &&
	dits checkout only-tag >/dev/null &&
	sums_of . >../now &&
	assert_files_eq ../sums.tagged ../now &&
	dits checkout alt >/dev/null
'

test_expect_success 'leaving the detached HEAD-only commit: gc removes it, about 500000 bytes' '
	cd lib &&
	dits gc --prune=now >../out &&
	assert_ge "$(gc_objects ../out)" 1 "objects removed" &&
	assert_ge "$(gc_bytes ../out)" 480000 "bytes removed" &&
	assert_le "$(gc_bytes ../out)" 600000 "bytes removed"
'

test_expect_success 'a second gc removes nothing' '
	cd lib &&
	dits gc --prune=now >../out &&
	assert_eq 0 "$(gc_objects ../out)" "objects removed" &&
	assert_eq 0 "$(gc_bytes ../out)" "bytes removed" &&
	dits fsck >../out &&
	assert_eq ok "$(cat ../out)"
'

# ---- gc grace period -------------------------------------------------------
# Uploads land in a temporary pack, then a finished pack, and only then does
# a ref update make them reachable. gc keeps anything written within
# gc.pruneExpire (2 weeks unless set); --prune=now drops it.

test_expect_success 'setup: a fresh unreferenced pack and a temporary pack of a live writer' '
	dits init grace >/dev/null &&
	cd grace &&
	gen_data kept.mov 300000 grace-kept &&
	dits add kept.mov >/dev/null &&
	dits commit -m kept >/dev/null &&
	gen_data kept.mov 700000 grace-fresh &&
	dits add kept.mov >/dev/null &&
	dits checkout HEAD -- kept.mov >/dev/null &&
	printf "DITSPACK partial upload" >.dits/objects/pack/tmp-$$-0x1.pack &&
	ls .dits/objects/pack >../packs.before &&
	assert_ge "$(grep -c "^pack-.*\.pack$" ../packs.before)" 2 "packs"
'

test_expect_success 'gc keeps both: they are inside the grace period' '
	cd grace &&
	dits gc >../out &&
	assert_eq 0 "$(gc_objects ../out)" "objects removed" &&
	ls .dits/objects/pack >../packs.after &&
	assert_files_eq ../packs.before ../packs.after &&
	dits fsck >../out &&
	assert_eq ok "$(cat ../out)"
'

test_expect_success 'gc --prune=now removes the fresh objects and the temporary pack' '
	cd grace &&
	dits gc --prune=now >../out &&
	assert_ge "$(gc_objects ../out)" 1 "objects removed" &&
	assert_ge "$(gc_bytes ../out)" 600000 "bytes removed" &&
	assert_missing .dits/objects/pack/tmp-$$-0x1.pack &&
	dits fsck >../out &&
	assert_eq ok "$(cat ../out)" &&
	rm -f kept.mov &&
	dits checkout HEAD -- kept.mov >/dev/null &&
	gen_data ../kept.v1 300000 grace-kept &&
	cmp ../kept.v1 kept.mov
'

test_expect_success 'a temporary pack locked by its writer survives even --prune=now' '
	cd grace &&
	tmp=.dits/objects/pack/tmp-999999999-0x2.pack &&
	printf "DITSPACK" >$tmp &&
	flock $tmp "$DITS" gc --prune=now >../out &&
	assert_exists $tmp &&
	dits gc --prune=now >../out &&
	assert_missing $tmp
'

test_expect_success 'gc.pruneExpire sets the grace; a bad value is one line naming the key' '
	cd grace &&
	gen_data kept.mov 500000 grace-fresh-2 &&
	dits add kept.mov >/dev/null &&
	dits checkout HEAD -- kept.mov >/dev/null &&
	dits config gc.pruneExpire 1.hour.ago &&
	dits gc >../out &&
	assert_eq 0 "$(gc_objects ../out)" "objects removed" &&
	dits config gc.pruneExpire soon &&
	test_expect_code 1 dits gc >../out 2>../err &&
	assert_one_line_error ../err gc.pruneExpire soon &&
	test_expect_code 1 dits gc --prune=yesterday >../out 2>../err &&
	assert_one_line_error ../err yesterday &&
	dits config gc.pruneExpire now &&
	dits gc >../out &&
	assert_ge "$(gc_objects ../out)" 1 "objects removed"
'

# ---- crafted pack index ----------------------------------------------------
# An index whose checksum is right but whose fan-out points past its
# entries: every command refuses the repository with one line naming the
# index, never a crash.

test_expect_success 'setup: a pack index with fan-out beyond its count, checksum recomputed' '
	dits init crafted >/dev/null &&
	cd crafted &&
	gen_data a.mov 200000 crafted-a &&
	dits add a.mov >/dev/null &&
	dits commit -m a >/dev/null &&
	idx=$(ls .dits/objects/pack/*.idx | head -n 1) &&
	size=$(file_size "$idx") &&
	head -c 24 "$idx" >../body &&
	i=0 &&
	while [ $i -lt 255 ]; do printf "\377\377\377\377" >>../body || return 1; i=$((i + 1)); done &&
	tail -c +1045 "$idx" | head -c $((size - 1044 - 32)) >>../body &&
	cp ../body ../craft &&
	b3sum --raw ../body >>../craft &&
	assert_eq "$size" "$(file_size ../craft)" "crafted index size" &&
	rm -f "$idx" &&
	cp ../craft "$idx" &&
	basename "$idx" >../idx.name
'

test_expect_failure_exit 'fsck on it exits 1' 1 '
	cd crafted &&
	dits fsck >../out 2>../err
'

test_expect_success '... with one line naming the index and the fan-out' '
	assert_one_line_error err "$(cat idx.name)" fan-out
'

test_expect_success 'status, log, checkout and gc fail cleanly: exit 1, one line naming the index' '
	cd crafted &&
	for c in status log "checkout HEAD" "ls-files" gc; do
		test_expect_code 1 dits $c >../out 2>../err &&
		assert_one_line_error ../err "$(cat ../idx.name)" || return 1
	done
'

test_done
