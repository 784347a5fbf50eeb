#!/usr/bin/env bash
# t0300: small edits to big media cost small storage. Inserting one byte in
# the middle of a 32 MiB clip re-stores at most 512 KiB; diff --stat shows the
# chunks the two versions share; appending to a clip (a growing recording)
# reuses every chunk before the tail.

. "$(dirname "$0")/lib.sh"

MiB=1048576
SIZE=$((32 * MiB))

stored () {
	dits stats --json | json_num stored_bytes
}

# numbers_in LINE: the integers in LINE, one per line
numbers_in () {
	printf '%s\n' "$1" | grep -oE '[0-9]+'
}

# shared_chunks LINE, added_chunks LINE: the chunk counts in a diff --stat
# line. The contract says "bytes and chunks added and shared" without fixing
# the layout; these read "N chunks (BYTES) shared" / "N chunks (BYTES) new"
# (the parenthesis optional, "added" as good as "new").
shared_chunks () {
	printf '%s\n' "$1" | grep -oE '[0-9]+ chunks?( \([^)]*\))?,? shared' |
		head -n 1 | grep -oE '^[0-9]+'
}
added_chunks () {
	printf '%s\n' "$1" | grep -oE '[0-9]+ chunks?( \([^)]*\))?,? (new|added)' |
		head -n 1 | grep -oE '^[0-9]+'
}

test_expect_success 'setup: a 32 MiB clip committed' '
	dits init reel >/dev/null &&
	cd reel &&
	gen_data clip.mov $SIZE reel-clip &&
	gen_data sound.wav 3000000 reel-sound &&
	dits add clip.mov sound.wav >/dev/null &&
	dits commit -m "Original" >/dev/null &&
	dits stats --json >../stats1.json
'

cd reel || exit 1

test_expect_success 'stored bytes are about the content (no more than 1% overhead)' '
	s=$(json_num stored_bytes <../stats1.json) &&
	assert_ge "$s" $((SIZE + 3000000)) &&
	assert_le "$s" $(( (SIZE + 3000000) * 101 / 100 ))
'

test_expect_success 'insert one byte in the middle and commit: at most 512 KiB more stored' '
	cp clip.mov ../clip.v1 &&
	insert_byte clip.mov $((SIZE / 2)) X &&
	assert_eq $((SIZE + 1)) "$(file_size clip.mov)" &&
	dits add clip.mov >../out &&
	dits commit -m "One byte" >/dev/null &&
	dits stats --json >../stats2.json &&
	grow=$(( $(json_num stored_bytes <../stats2.json) - $(json_num stored_bytes <../stats1.json) )) &&
	assert_le "$grow" 524288 "stored bytes growth"
'

test_expect_success '... and add itself reported at most 512 KiB of new bytes' '
	new=$(add_new_bytes ../out) &&
	assert_le "$new" 524288 "new bytes stored"
'

test_expect_success 'logical bytes count both versions in full; dedup ratio near 2' '
	l1=$(json_num logical_bytes <../stats1.json) &&
	l2=$(json_num logical_bytes <../stats2.json) &&
	assert_eq $((SIZE + 3000000)) "$l1" "logical after the first commit" &&
	assert_ge "$l2" $((2 * SIZE + 3000000)) "logical after the second commit" &&
	assert_match "^1\.[89]|^2\." "$(json_num dedup_ratio <../stats2.json)" "dedup_ratio"
'

test_expect_success 'chunk count grows by only a few chunks' '
	c1=$(json_num chunks <../stats1.json) &&
	c2=$(json_num chunks <../stats2.json) &&
	assert_ge "$c1" 400 "chunks of 35 MB at 64 KiB average" &&
	assert_le $((c2 - c1)) 8 "new chunks"
'

test_expect_success 'diff --stat HEAD~1 HEAD: one line for the clip, then a total line' '
	dits diff --stat HEAD~1 HEAD >../diff &&
	assert_lines 2 ../diff &&
	assert_file_has ../diff "clip\.mov" &&
	assert_file_lacks ../diff "sound\.wav"
'

test_expect_success '... the clip line reports most chunks shared and a few added' '
	line=$(grep "clip\.mov" ../diff) &&
	assert_match "shared" "$line" &&
	sh=$(shared_chunks "$line") &&
	ad=$(added_chunks "$line") &&
	assert_match "^[0-9]+$" "$sh" "shared chunks in: $line" &&
	assert_match "^[0-9]+$" "$ad" "added chunks in: $line" &&
	assert_ge "$sh" 400 "shared chunks" &&
	assert_le "$ad" 8 "added chunks" &&
	assert_ge "$ad" 1 "added chunks"
'

test_expect_success '... the total line agrees with the one file line' '
	tot=$(tail -n 1 ../diff) &&
	line=$(grep "clip\.mov" ../diff) &&
	assert_eq "$(shared_chunks "$line")" "$(shared_chunks "$tot")" "total shared chunks" &&
	assert_eq "$(added_chunks "$line")" "$(added_chunks "$tot")" "total added chunks"
'

test_expect_success 'diff --stat with no change in the worktree lists no file' '
	dits diff --stat >../diff0 &&
	assert_file_lacks ../diff0 "clip\.mov|sound\.wav"
'

test_expect_success 'diff --stat (no REV) shows an uncommitted edit against HEAD' '
	printf "tail" >>sound.wav &&
	dits diff --stat >../diff1 &&
	assert_file_has ../diff1 "sound\.wav" &&
	assert_file_lacks ../diff1 "clip\.mov"
'

test_expect_success 'diff --stat REV compares REV with the worktree' '
	dits diff --stat HEAD~1 >../diff2 &&
	assert_file_has ../diff2 "sound\.wav" &&
	assert_file_has ../diff2 "clip\.mov" &&
	dits checkout HEAD -- sound.wav >/dev/null
'

test_expect_success 'appending 1 MiB to the clip re-stores little more than the new tail' '
	before=$(stored) &&
	gen_data ../tail.bin $MiB appended-tail &&
	cat ../tail.bin >>clip.mov &&
	dits add clip.mov >/dev/null &&
	dits commit -m "Recording continued" >/dev/null &&
	after=$(stored) &&
	assert_le $((after - before)) $((MiB + 524288)) "stored growth for a 1 MiB append"
'

test_expect_success 'diff --stat of the append: chunks shared, tail chunks added' '
	dits diff --stat HEAD~1 HEAD >../diff3 &&
	line=$(grep "clip\.mov" ../diff3) &&
	assert_ge "$(shared_chunks "$line")" 400 "shared chunks" &&
	assert_le "$(added_chunks "$line")" 24 "added chunks (1 MiB at 64 KiB average, plus the old last chunk)"
'

test_expect_success 'a new file and a deleted file each get a line' '
	gen_data b-roll.mov 200000 broll &&
	dits add b-roll.mov >/dev/null &&
	dits rm sound.wav >/dev/null &&
	dits commit -m "B-roll in, sound out" >/dev/null &&
	dits diff --stat HEAD~1 HEAD >../diff4 &&
	assert_lines 3 ../diff4 &&
	assert_file_has ../diff4 "b-roll\.mov" &&
	assert_file_has ../diff4 "sound\.wav"
'

test_expect_success 'every version checks out byte-exact' '
	branch=$(dits status --json | json_str branch) &&
	dits log --json | json_objects | json_str_lines id >../ids &&
	assert_lines 4 ../ids &&
	dits checkout "$(sed -n 4p ../ids)" >/dev/null &&
	assert_files_eq ../clip.v1 clip.mov &&
	assert_eq 3000000 "$(file_size sound.wav)" &&
	assert_missing b-roll.mov &&
	cp ../clip.v1 ../clip.v2 &&
	insert_byte ../clip.v2 $((SIZE / 2)) X &&
	dits checkout "$(sed -n 3p ../ids)" >/dev/null &&
	assert_files_eq ../clip.v2 clip.mov &&
	cat ../clip.v2 ../tail.bin >../clip.v3 &&
	dits checkout "$(sed -n 2p ../ids)" >/dev/null &&
	assert_files_eq ../clip.v3 clip.mov &&
	dits checkout "$branch" >/dev/null &&
	assert_files_eq ../clip.v3 clip.mov &&
	assert_missing sound.wav &&
	assert_eq 200000 "$(file_size b-roll.mov)"
'

test_done
