#!/usr/bin/env bash
# t0200: going back in time. An editor cuts three versions of a sequence,
# tags the approved one, branches for an alternate grade, and checks out older
# versions; every checkout gives back exactly the committed bytes, and a
# checkout never throws away work that is not committed.

. "$(dirname "$0")/lib.sh"

# save_version NAME: keep b3sums of the worktree (outside it) as version NAME
save_version () {
	sums_of . >"$TRASH/sums.$1"
}

# assert_worktree_is NAME: the worktree holds exactly the files of version NAME
assert_worktree_is () {
	sums_of . >"$TRASH/sums.now"
	if cmp -s "$TRASH/sums.$1" "$TRASH/sums.now"; then return 0; fi
	say "worktree differs from version $1:"
	diff -u "$TRASH/sums.$1" "$TRASH/sums.now"
	return 1
}

# commit_id REV: the full id of REV, from log --json
commit_id () {
	dits log --json "$1" | json_str id
}

test_expect_success 'setup: version 1 of the sequence' '
	dits init cut >/dev/null &&
	cd cut &&
	mkdir -p media/A001 edit &&
	gen_data media/A001/A001C001.mov 1000000 v1-clip1 &&
	gen_data media/A001/A001C002.mov 400000 v1-clip2 &&
	printf "TITLE: Reel 1 v1\n" >edit/reel1.edl &&
	dits add . >/dev/null &&
	dits commit -m "Reel 1 v1" >/dev/null &&
	save_version v1 &&
	v1=$(commit_id HEAD) &&
	branch=$(dits status --json | json_str branch) &&
	assert_match "^[0-9a-f]{64}$" "$v1"
'

cd cut || exit 1

test_expect_success 'setup: version 2 changes a clip in the middle and adds one' '
	dd if=/dev/zero of=media/A001/A001C001.mov bs=1 seek=500000 count=1000 conv=notrunc 2>/dev/null &&
	gen_data media/A001/A001C003.mov 250000 v2-clip3 &&
	printf "TITLE: Reel 1 v2\n" >edit/reel1.edl &&
	dits add . >/dev/null &&
	dits commit -m "Reel 1 v2" >/dev/null &&
	save_version v2 &&
	v2=$(commit_id HEAD)
'

test_expect_success 'setup: version 3 drops a clip' '
	dits rm media/A001/A001C002.mov >/dev/null &&
	printf "TITLE: Reel 1 v3\n" >edit/reel1.edl &&
	dits add edit >/dev/null &&
	dits commit -m "Reel 1 v3" >/dev/null &&
	save_version v3 &&
	v3=$(commit_id HEAD) &&
	assert_ne "$v2" "$v3"
'

test_expect_success 'branch lists the one branch, marked current' '
	dits branch >../out &&
	assert_eq "* $branch" "$(cat ../out)"
'

test_expect_success 'branch NAME creates a branch at HEAD without switching' '
	dits branch grade-alt >/dev/null &&
	dits branch >../out &&
	assert_file_has ../out "^\* $branch$" &&
	assert_file_has ../out "^  grade-alt$" &&
	assert_lines 2 ../out &&
	assert_eq "$v3" "$(commit_id grade-alt)"
'

test_expect_success 'branch NAME REV creates a branch at REV' '
	dits branch first-cut HEAD~2 >/dev/null &&
	assert_eq "$v1" "$(commit_id first-cut)"
'

test_expect_failure_exit 'creating a branch that exists fails' 1 '
	dits branch grade-alt 2>../err
'

test_expect_success '... with a one-line error naming it, and the branch is unmoved' '
	assert_one_line_error ../err grade-alt &&
	assert_eq "$v3" "$(commit_id grade-alt)"
'

test_expect_success 'tag NAME REV creates a lightweight tag; tag lists it' '
	dits tag approved HEAD~1 >/dev/null &&
	dits tag v3-final >/dev/null &&
	dits tag >../out &&
	assert_eq "approved
v3-final" "$(cat ../out)" &&
	assert_eq "$v2" "$(commit_id approved)" &&
	assert_eq "$v3" "$(commit_id v3-final)"
'

test_expect_success 'REV~N walks first parents' '
	assert_eq "$v3" "$(commit_id HEAD~0)" &&
	assert_eq "$v2" "$(commit_id HEAD~1)" &&
	assert_eq "$v1" "$(commit_id HEAD~2)" &&
	assert_eq "$v1" "$(commit_id approved~1)" &&
	assert_eq "$v1" "$(commit_id $branch~2)"
'

test_expect_failure_exit 'REV~N past the root is an unknown revision' 1 '
	dits log HEAD~3 2>../err
'

test_expect_success '... with a one-line error naming it' '
	assert_one_line_error ../err "HEAD~3"
'

test_expect_success 'a unique prefix of a commit id works (8 and 4 hex digits)' '
	assert_eq "$v1" "$(commit_id $(printf %.8s "$v1"))" &&
	assert_eq "$v2" "$(commit_id $(printf %.4s "$v2"))" &&
	assert_eq "$v1" "$(commit_id "$(printf %.6s "$v1")~0")"
'

test_expect_success 'a full commit id works' '
	assert_eq "$v2" "$(commit_id "$v2")"
'

test_expect_failure_exit 'a prefix shorter than 4 hex digits is refused' 1 '
	dits log --oneline "$(printf %.3s "$v1")" 2>../err
'

test_expect_success 'log REV starts from REV' '
	dits log --oneline approved >../out &&
	assert_lines 2 ../out &&
	assert_file_has ../out "Reel 1 v2$" &&
	assert_file_has ../out "Reel 1 v1$"
'

test_expect_success 'checkout of a tag restores that version exactly' '
	dits checkout approved >/dev/null 2>../err &&
	assert_worktree_is v2
'

test_expect_success '... status is clean there' '
	dits status --json >../st &&
	assert_eq true "$(json_raw clean <../st)"
'

test_expect_success '... and ls-files is that version'"'"'s index' '
	dits ls-files >../ls &&
	assert_eq "edit/reel1.edl
media/A001/A001C001.mov
media/A001/A001C002.mov
media/A001/A001C003.mov" "$(cut -f2 ../ls)"
'

test_expect_success 'checkout of a commit id (prefix) restores version 1 exactly' '
	dits checkout "$(printf %.10s "$v1")" >/dev/null &&
	assert_worktree_is v1 &&
	assert_missing media/A001/A001C003.mov
'

test_expect_success 'checkout of the branch returns to version 3 exactly' '
	dits checkout "$branch" >/dev/null &&
	assert_worktree_is v3 &&
	dits status --json >../st &&
	assert_eq "$branch" "$(json_str branch <../st)"
'

test_expect_success 'HEAD~N works for checkout' '
	dits checkout HEAD~2 >/dev/null &&
	assert_worktree_is v1 &&
	dits checkout "$branch" >/dev/null &&
	assert_worktree_is v3
'

test_expect_success 'checkout restores bytes b3sum-identical to copies saved at commit time' '
	mkdir -p ../saved &&
	cp media/A001/A001C001.mov ../saved/C001-v3 &&
	dits checkout first-cut >/dev/null &&
	assert_ne "$(b3 ../saved/C001-v3)" "$(b3 media/A001/A001C001.mov)" &&
	assert_eq "$(grep " media/A001/A001C001.mov$" ../sums.v1 | cut -d" " -f1)" \
		"$(b3 media/A001/A001C001.mov)" &&
	dits checkout "$branch" >/dev/null &&
	assert_eq "$(b3 ../saved/C001-v3)" "$(b3 media/A001/A001C001.mov)"
'

test_expect_success 'checkout REV -- PATH restores one file from an older version' '
	dits checkout first-cut -- edit/reel1.edl >/dev/null &&
	assert_eq "TITLE: Reel 1 v1" "$(cat edit/reel1.edl)" &&
	assert_eq "$(grep " media/A001/A001C001.mov$" ../sums.v3 | cut -d" " -f1)" \
		"$(b3 media/A001/A001C001.mov)" "other files untouched"
'

test_expect_success '... and the branch did not move' '
	dits status --json >../st &&
	assert_eq "$branch" "$(json_str branch <../st)" &&
	assert_eq "$v3" "$(commit_id HEAD)"
'

test_expect_success 'checkout HEAD -- PATH throws away an edit to that file' '
	printf "scribble" >>media/A001/A001C001.mov &&
	dits checkout HEAD -- media/A001/A001C001.mov edit/reel1.edl >/dev/null &&
	assert_worktree_is v3
'

test_expect_success 'checkout REV -- DIR restores a deleted directory' '
	rm -r media &&
	dits checkout HEAD -- media >/dev/null &&
	assert_worktree_is v3
'

test_expect_success 'checkout REV -- PATH from a subdirectory takes relative paths' '
	rm media/A001/A001C003.mov &&
	cd media/A001 &&
	dits checkout HEAD -- A001C003.mov >/dev/null &&
	cd ../.. &&
	assert_worktree_is v3
'

test_expect_success 'checkout refuses to switch over an uncommitted edit' '
	printf "my unsaved grade" >>media/A001/A001C001.mov &&
	cp media/A001/A001C001.mov ../edited &&
	test_expect_code 1 dits checkout first-cut >../out 2>../err &&
	assert_one_line_error ../err "media/A001/A001C001.mov"
'

test_expect_success '... and leaves the edit, the other files and HEAD alone' '
	assert_files_eq ../edited media/A001/A001C001.mov &&
	assert_eq "$(grep " media/A001/A001C003.mov$" ../sums.v3 | cut -d" " -f1)" \
		"$(b3 media/A001/A001C003.mov)" &&
	assert_missing media/A001/A001C002.mov &&
	assert_eq "$v3" "$(commit_id HEAD)"
'

test_expect_success 'checkout refuses to switch over a staged but uncommitted edit' '
	dits add media >/dev/null &&
	test_expect_code 1 dits checkout first-cut 2>../err &&
	assert_one_line_error ../err "media/A001/A001C001.mov" &&
	assert_files_eq ../edited media/A001/A001C001.mov &&
	dits checkout HEAD -- media >/dev/null &&
	assert_worktree_is v3
'

test_expect_success 'checkout HEAD -- PATH also resets the staged entry: status is clean' '
	dits status --json >../st &&
	assert_eq true "$(json_raw clean <../st)"
'

test_expect_success 'checkout refuses to overwrite an untracked file at a path the target has' '
	printf "not under version control, but precious" >media/A001/A001C002.mov &&
	cp media/A001/A001C002.mov ../precious &&
	test_expect_code 1 dits checkout first-cut 2>../err &&
	assert_one_line_error ../err "media/A001/A001C002.mov" &&
	assert_files_eq ../precious media/A001/A001C002.mov &&
	rm media/A001/A001C002.mov
'

test_expect_success 'checkout -b NAME creates a branch at HEAD and switches to it' '
	dits checkout -b grade-warm >/dev/null &&
	dits branch >../out &&
	assert_file_has ../out "^\* grade-warm$" &&
	assert_file_has ../out "^  $branch$" &&
	assert_eq "$v3" "$(commit_id grade-warm)" &&
	assert_worktree_is v3
'

test_expect_success 'a commit on the new branch moves only that branch' '
	gen_data media/A001/A001C001.mov 1000000 warm-grade &&
	dits add media >/dev/null &&
	dits commit -m "Warm grade" >../out &&
	assert_match "^\[grade-warm [0-9a-f]{4,}\] Warm grade$" "$(cat ../out)" &&
	save_version warm &&
	warm=$(commit_id HEAD) &&
	assert_eq "$v3" "$(commit_id "$branch")" &&
	assert_eq "$v3" "$(commit_id grade-warm~1)"
'

test_expect_success 'switching between branches swaps the file content both ways' '
	dits checkout "$branch" >/dev/null &&
	assert_worktree_is v3 &&
	dits checkout grade-warm >/dev/null &&
	assert_worktree_is warm &&
	dits checkout "$branch" >/dev/null &&
	assert_worktree_is v3
'

test_expect_success 'odd but real files survive a round trip: empty, spaces, UTF-8 names, executable' '
	mkdir -p "media/Day 2 (pickups)" &&
	: >edit/empty.marker &&
	gen_data "media/Day 2 (pickups)/A002 C001 take 2.mov" 70000 odd-1 &&
	gen_data "media/Day 2 (pickups)/Prise_été_Ω.wav" 30000 odd-2 &&
	printf "#!/bin/sh\necho render\n" >edit/render.sh &&
	chmod 755 edit/render.sh &&
	dits add . >/dev/null &&
	dits commit -m "Odd files" >/dev/null &&
	save_version odd &&
	dits ls-files >../ls &&
	assert_file_has ../ls "	media/Day 2 \(pickups\)/A002 C001 take 2\.mov$" &&
	assert_file_has ../ls "	media/Day 2 \(pickups\)/Prise_été_Ω\.wav$" &&
	assert_file_has ../ls " 0 \[M\]	edit/empty\.marker$" &&
	dits checkout first-cut >/dev/null &&
	assert_missing edit/empty.marker &&
	assert_missing "media/Day 2 (pickups)/A002 C001 take 2.mov" &&
	dits checkout "$branch" >/dev/null &&
	assert_worktree_is odd
'

test_expect_success '... the executable bit comes back with the file' '
	test -x edit/render.sh &&
	rm edit/render.sh &&
	dits checkout HEAD -- edit/render.sh >/dev/null &&
	test -x edit/render.sh &&
	test ! -x edit/reel1.edl
'

test_expect_success '... an empty file comes back as an empty file' '
	rm edit/empty.marker &&
	dits checkout HEAD -- edit/empty.marker >/dev/null &&
	test -f edit/empty.marker &&
	test ! -s edit/empty.marker
'

test_expect_failure_exit 'checkout -b of an existing branch fails' 1 '
	dits checkout -b grade-warm 2>../err
'

test_expect_success '... and does not switch' '
	dits status --json >../st &&
	assert_eq "$branch" "$(json_str branch <../st)"
'

test_expect_failure_exit 'checkout of an unknown revision fails' 1 '
	dits checkout no-such-branch 2>../err
'

test_expect_success '... with a one-line error naming it, worktree untouched' '
	assert_one_line_error ../err no-such-branch &&
	assert_worktree_is odd
'

test_done
