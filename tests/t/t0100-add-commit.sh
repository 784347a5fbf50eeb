#!/usr/bin/env bash
# t0100: a day of ingest. An assistant editor adds the day's camera cards and
# sound, commits, looks at status, log, ls-files and show, works from inside
# the footage folders, keeps render caches out with .ditsignore, removes a
# file, and sees that identical media is stored once.

. "$(dirname "$0")/lib.sh"

HEX64='[0-9a-f]{64}'

test_expect_success 'setup: a project with nested card folders' '
	dits init show >/dev/null &&
	mkdir -p show/footage/day1/A001 show/footage/day1/B001 show/audio &&
	gen_data show/footage/day1/A001/A001C001.mov 300000 a1 &&
	gen_data show/footage/day1/A001/A001C002.mov 200000 a2 &&
	gen_data show/footage/day1/B001/B001C001.mov 150000 b1 &&
	gen_data show/audio/take1.wav 70000 w1 &&
	printf "Scene 1, take 3 is the keeper\n" >show/notes.txt
'

cd show || exit 1

test_expect_success 'before add, every file is untracked' '
	dits status --json >../status.json &&
	assert_eq "audio/take1.wav
footage/day1/A001/A001C001.mov
footage/day1/A001/A001C002.mov
footage/day1/B001/B001C001.mov
notes.txt" "$(untracked_paths <../status.json)"
'

test_expect_success 'add . prints one summary line, nothing on stderr' '
	dits add . >../out 2>../err &&
	assert_lines 1 ../out &&
	assert_match "^added 5 files, " "$(cat ../out)" &&
	test ! -s ../err
'

test_expect_success '... in the documented form "added N files, X bytes (Y new bytes stored)"' '
	assert_match "^added 5 files, 720030 bytes \([0-9]+ new bytes stored\)$" "$(cat ../out)"
'

test_expect_success '... counting the bytes added (read with any unit)' '
	total=$(add_total_bytes ../out) &&
	assert_ge "$total" 719000 "bytes added" &&
	assert_le "$total" 721000 "bytes added"
'

test_expect_success 'the new bytes stored are about the bytes added (random data does not shrink)' '
	new=$(add_new_bytes ../out) &&
	assert_ge "$new" 700000 "new bytes stored" &&
	assert_le "$new" 800000 "new bytes stored"
'

test_expect_success 'status --json lists the five files as staged "added" and is not clean' '
	dits status --json >../status.json &&
	assert_eq "audio/take1.wav
footage/day1/A001/A001C001.mov
footage/day1/A001/A001C002.mov
footage/day1/B001/B001C001.mov
notes.txt" "$(status_entries staged added <../status.json)" &&
	assert_eq "" "$(untracked_paths <../status.json)" "untracked" &&
	assert_eq false "$(json_raw clean <../status.json)" "clean"
'

test_expect_success 'text status exits 0 and mentions a staged file' '
	dits status >../status.txt &&
	assert_file_has ../status.txt "footage/day1/A001/A001C001.mov"
'

test_expect_success 'ls-files lists the index: MODE ASSET_ID SIZE [X]<TAB>PATH, sorted by path' '
	dits ls-files >../ls &&
	assert_lines 5 ../ls &&
	assert_eq "audio/take1.wav
footage/day1/A001/A001C001.mov
footage/day1/A001/A001C002.mov
footage/day1/B001/B001C001.mov
notes.txt" "$(cut -f2 ../ls)" &&
	while IFS= read -r line; do
		assert_match "^[0-7]+ $HEX64 [0-9]+ \[[PM~!]\]	[^ ]" "$line" "ls-files line" || return 1
	done <../ls &&
	assert_eq "70000 300000 200000 150000 30" "$(cut -f1 ../ls | cut -d" " -f3 | paste -sd" " -)"
'

test_expect_success 'ls-files --json carries the same path, size, mode and asset id' '
	dits ls-files --json >../ls.json &&
	json_objects <../ls.json >../ls.objs &&
	assert_lines 5 ../ls.objs &&
	while IFS= read -r obj; do
		p=$(printf "%s" "$obj" | json_str path) &&
		id=$(printf "%s" "$obj" | json_str asset_id) &&
		sz=$(printf "%s" "$obj" | json_num size) &&
		line=$(grep -F "	$p" ../ls) &&
		assert_eq "$line" "$(printf "%s" "$line" | cut -d" " -f1) $id $sz [$(printf "%s" "$obj" | json_str worktree | cut -c1 | tr m M)]	$p" "entry for $p" || return 1
	done <../ls.objs
'

test_expect_success 'first commit prints [BRANCH SHORTID] MSG' '
	dits commit -m "Day 1 ingest" >../out &&
	assert_lines 1 ../out &&
	assert_match "^\[[^ ]+ [0-9a-f]{4,}\] Day 1 ingest$" "$(cat ../out)" &&
	branch=$(sed "s/^\[\([^ ]*\) .*/\1/" ../out) &&
	short1=$(sed "s/^\[[^ ]* \([0-9a-f]*\)\].*/\1/" ../out)
'

test_expect_success 'the branch in the commit line is the current branch' '
	dits status --json >../status.json &&
	assert_eq "$branch" "$(json_str branch <../status.json)" &&
	dits branch >../branches &&
	assert_eq "* $branch" "$(cat ../branches)"
'

test_expect_success 'after the commit the tree is clean' '
	dits status --json >../status.json &&
	assert_eq true "$(json_raw clean <../status.json)" &&
	assert_eq "" "$(json_array staged <../status.json | json_objects)" "staged" &&
	assert_eq "" "$(json_array unstaged <../status.json | json_objects)" "unstaged" &&
	assert_eq "" "$(untracked_paths <../status.json)" "untracked"
'

test_expect_success 'status --json names the HEAD commit' '
	dits log --json >../log.json &&
	assert_eq "$(json_str id <../log.json)" "$(json_str head <../status.json)" "head"
'

test_expect_success 'log --oneline shows SHORTID subject' '
	dits log --oneline >../log &&
	assert_eq "$short1 Day 1 ingest" "$(cat ../log)"
'

test_expect_success 'log --json has id, tree, parents, author, committer, time, message' '
	dits log --json >../log.json &&
	json_objects <../log.json >../log.objs &&
	assert_lines 1 ../log.objs &&
	id1=$(json_str id <../log.json) &&
	assert_match "^$HEX64$" "$id1" "id" &&
	assert_match "^$short1" "$id1" "short id is a prefix of the id" &&
	assert_match "^$HEX64$" "$(json_str tree <../log.json)" "tree" &&
	assert_eq "[]" "$(json_array parents <../log.json | tr -d " ")" "parents of the root commit" &&
	assert_match "." "$(json_str author <../log.json)" "author" &&
	assert_match "." "$(json_str committer <../log.json)" "committer" &&
	assert_match "^[0-9]+$" "$(json_raw time <../log.json)" "time" &&
	assert_eq "Day 1 ingest" "$(json_str message <../log.json)" "message"
'

test_expect_success 'the commit time is now (seconds since the epoch)' '
	t=$(json_raw time <../log.json) &&
	now=$(date +%s) &&
	assert_le "$t" "$now" &&
	assert_ge "$t" "$((now - 600))"
'

test_expect_success 'show HEAD names the commit, its message and the files it added' '
	dits show HEAD >../show.out &&
	assert_file_has ../show.out "$short1" &&
	assert_file_has ../show.out "Day 1 ingest" &&
	assert_file_has ../show.out "footage/day1/B001/B001C001.mov" &&
	assert_file_has ../show.out "notes.txt"
'

test_expect_success 'from a subdirectory: add a new clip by a relative path' '
	cd footage/day1/A001 &&
	gen_data A001C003.mov 120000 a3 &&
	dits add A001C003.mov >../../../../out &&
	assert_match "^added 1 files?, " "$(cat ../../../../out)" &&
	assert_ge "$(add_total_bytes ../../../../out)" 119000 "bytes added" &&
	assert_le "$(add_total_bytes ../../../../out)" 121000 "bytes added" &&
	dits ls-files >../../../../ls &&
	assert_file_has ../../../../ls "	footage/day1/A001/A001C003.mov$"
'

test_expect_success 'from a subdirectory: status sees the staged clip' '
	cd footage/day1 &&
	dits status --json >../../../status.json &&
	assert_eq "footage/day1/A001/A001C003.mov" "$(status_entries staged added <../../../status.json)"
'

test_expect_success 'from a subdirectory: commit and log work' '
	cd footage &&
	dits commit -m "Pickup shot" >../../out &&
	assert_match "^\[$branch [0-9a-f]{4,}\] Pickup shot$" "$(cat ../../out)" &&
	short2=$(sed "s/^\[[^ ]* \([0-9a-f]*\)\].*/\1/" ../../out) &&
	dits log --oneline >../../log &&
	assert_eq "$short2 Pickup shot
$short1 Day 1 ingest" "$(cat ../../log)"
'

test_expect_success 'the second commit has the first as its only parent' '
	dits log --json >../log.json &&
	json_objects <../log.json >../log.objs &&
	assert_lines 2 ../log.objs &&
	assert_eq "[\"$id1\"]" "$(head -n 1 ../log.objs | json_array parents | tr -d " ")"
'

test_expect_success 'show of the second commit lists the new clip and not the old ones' '
	dits show HEAD >../show.out &&
	assert_file_has ../show.out "A001C003.mov" &&
	assert_file_lacks ../show.out "B001C001.mov"
'

test_expect_success 'from a subdirectory: "add ." adds only that directory' '
	gen_data audio/take2.wav 5000 w2 &&
	gen_data footage/day1/B001/B001C002.mov 6000 b2 &&
	(cd audio && dits add . >/dev/null) &&
	dits status --json >../status.json &&
	assert_eq "audio/take2.wav" "$(status_entries staged added <../status.json)" &&
	assert_eq "footage/day1/B001/B001C002.mov" "$(untracked_paths <../status.json)" &&
	dits add footage >/dev/null &&
	dits commit -m "More material" >/dev/null
'

test_expect_success '.ditsignore: globs, directory-only patterns and comments' '
	printf "# render caches never go in\n*.tmp\ncache/\n" >.ditsignore &&
	mkdir -p renders/cache footage/day1/cache-notes &&
	gen_data renders/cache/frame0001.exr 4000 c1 &&
	gen_data renders/cut.tmp 4000 c2 &&
	gen_data renders/cut_v1.mov 4000 c3 &&
	printf "a file named cache is not a directory\n" >footage/cache &&
	dits add . >../out &&
	dits ls-files >../ls &&
	assert_file_has ../ls "	renders/cut_v1.mov$" &&
	assert_file_has ../ls "	footage/cache$" &&
	assert_file_lacks ../ls "frame0001.exr" &&
	assert_file_lacks ../ls "cut\.tmp"
'

test_expect_success '.ditsignore: a leading / anchors to the top, a middle / matches from the top' '
	printf "/scratch.mov\nproxies/*.mp4\n" >>.ditsignore &&
	mkdir -p footage/proxies proxies &&
	gen_data scratch.mov 1000 s1 &&
	gen_data footage/scratch.mov 1000 s2 &&
	gen_data proxies/A001.mp4 1000 s3 &&
	gen_data footage/proxies/A001.mp4 1000 s4 &&
	dits add . >/dev/null &&
	dits ls-files >../ls &&
	assert_file_lacks ../ls "	scratch\.mov$" &&
	assert_file_has ../ls "	footage/scratch\.mov$" &&
	assert_file_lacks ../ls "	proxies/A001\.mp4$" &&
	assert_file_has ../ls "	footage/proxies/A001\.mp4$"
'

test_expect_success 'ignored files are not reported as untracked' '
	dits status --json >../status.json &&
	assert_eq "" "$(untracked_paths <../status.json)"
'

test_expect_success 'adding the parent directory of ignored files still skips them' '
	dits add renders >/dev/null &&
	dits ls-files >../ls &&
	assert_file_lacks ../ls "cut\.tmp"
'

test_expect_success '.dits/ is never added' '
	dits add . >/dev/null &&
	dits ls-files >../ls &&
	assert_file_lacks ../ls "	\.dits(/|$)"
'

test_expect_success 'commit the ignore rules and renders' '
	dits commit -m "Renders, ignore rules" >/dev/null &&
	dits status --json >../status.json &&
	assert_eq true "$(json_raw clean <../status.json)"
'

test_expect_success 'every read-only command works from a subdirectory' '
	cd footage/day1 &&
	for c in "status" "status --json" "log" "log --oneline" "ls-files" "ls-files --json" \
		"show HEAD" "diff --stat" "branch" "tag" "stats" "stats --json" "fsck"; do
		dits $c >/dev/null 2>../../../err || { say "dits $c failed:"; cat ../../../err; return 1; }
	done
'

test_expect_failure_exit 'commit with nothing to commit fails with exit 1' 1 '
	dits commit -m "Nothing new" >../out 2>../err
'

test_expect_success '... saying "nothing to commit", and no commit is made' '
	cat ../out ../err >../both &&
	assert_file_has ../both "nothing to commit" &&
	dits log --oneline >../log &&
	assert_lines 4 ../log &&
	assert_file_lacks ../log "Nothing new"
'

test_expect_success 'commit --allow-empty records a commit with the same tree' '
	dits commit --allow-empty -m "Checkpoint" >../out &&
	assert_match "^\[$branch [0-9a-f]{4,}\] Checkpoint$" "$(cat ../out)" &&
	dits log --json >../log.json &&
	json_objects <../log.json >../log.objs &&
	assert_lines 5 ../log.objs &&
	assert_eq "$(sed -n 2p ../log.objs | json_str tree)" "$(sed -n 1p ../log.objs | json_str tree)"
'

test_expect_success 'rm PATH unstages and deletes the file, printing rm '"'"'PATH'"'"'' '
	dits rm notes.txt >../out &&
	assert_eq "rm '"'"'notes.txt'"'"'" "$(cat ../out)" &&
	assert_missing notes.txt &&
	dits ls-files >../ls &&
	assert_file_lacks ../ls "	notes.txt$" &&
	dits status --json >../status.json &&
	assert_eq "notes.txt" "$(status_entries staged deleted <../status.json)"
'

test_expect_success 'rm --cached unstages but keeps the file on disk' '
	dits rm --cached audio/take2.wav >../out &&
	assert_eq "rm '"'"'audio/take2.wav'"'"'" "$(cat ../out)" &&
	assert_exists audio/take2.wav &&
	dits ls-files >../ls &&
	assert_file_lacks ../ls "	audio/take2.wav$" &&
	dits status --json >../status.json &&
	assert_eq "audio/take2.wav
notes.txt" "$(status_entries staged deleted <../status.json)" &&
	assert_eq "audio/take2.wav" "$(untracked_paths <../status.json)"
'

test_expect_success 'rm from a subdirectory takes paths relative to it' '
	cd footage/day1/B001 &&
	dits rm B001C002.mov >../../../../out &&
	assert_eq "rm '"'"'footage/day1/B001/B001C002.mov'"'"'" "$(cat ../../../../out)" &&
	assert_missing B001C002.mov
'

test_expect_success 'commit the removals; the removed files are gone from ls-files' '
	dits commit -m "Drop notes and take 2" >/dev/null &&
	rm audio/take2.wav &&
	dits ls-files >../ls &&
	assert_file_lacks ../ls "notes.txt|take2.wav|B001C002.mov" &&
	dits show HEAD >../show.out &&
	assert_file_has ../show.out "notes.txt"
'

test_expect_success 'asset ids are stable: re-adding identical content gives the same id' '
	id_before=$(grep "	footage/day1/A001/A001C001.mov$" ../ls | cut -d" " -f2) &&
	dits rm --cached footage/day1/A001/A001C001.mov >/dev/null &&
	dits add footage/day1/A001/A001C001.mov >/dev/null &&
	dits ls-files >../ls2 &&
	assert_eq "$id_before" "$(grep "	footage/day1/A001/A001C001.mov$" ../ls2 | cut -d" " -f2)" &&
	dits status --json >../status.json &&
	assert_eq true "$(json_raw clean <../status.json)" "re-adding the same bytes changes nothing"
'

test_expect_success 'asset ids depend on content only: a copy elsewhere gets the same id' '
	mkdir -p selects &&
	cp footage/day1/A001/A001C001.mov selects/hero.mov &&
	dits stats --json >../stats-before.json &&
	dits add selects/hero.mov >../out &&
	dits ls-files >../ls &&
	assert_eq "$id_before" "$(grep "	selects/hero.mov$" ../ls | cut -d" " -f2)"
'

test_expect_success 'the copy stores no new chunk bytes' '
	assert_eq 0 "$(add_new_bytes ../out)" "new bytes stored"
'

test_expect_success 'after committing the copy: same chunks, same chunk bytes, more logical bytes' '
	dits commit -m "Selects" >/dev/null &&
	dits stats --json >../stats-after.json &&
	assert_eq "$(json_num chunks <../stats-before.json)" "$(json_num chunks <../stats-after.json)" "chunks" &&
	assert_eq "$(json_num chunk_bytes <../stats-before.json)" "$(json_num chunk_bytes <../stats-after.json)" "chunk_bytes" &&
	assert_ge "$(json_num logical_bytes <../stats-after.json)" \
		"$(( $(json_num logical_bytes <../stats-before.json) + 300000 ))" "logical_bytes" &&
	assert_le "$(json_num stored_bytes <../stats-after.json)" \
		"$(( $(json_num stored_bytes <../stats-before.json) + 65536 ))" "stored_bytes grows only by metadata"
'

test_expect_success 'stats --json has every documented field' '
	for k in logical_bytes stored_bytes chunk_bytes chunks objects packs dedup_ratio; do
		assert_match "^[0-9]" "$(json_num $k <../stats-after.json)" "$k" || return 1
	done
'

test_expect_success 'dedup ratio is logical / chunk bytes' '
	l=$(json_num logical_bytes <../stats-after.json) &&
	c=$(json_num chunk_bytes <../stats-after.json) &&
	r=$(json_num dedup_ratio <../stats-after.json) &&
	assert_eq "$(awk -v l=$l -v c=$c "BEGIN{printf \"%.2f\", l/c}")" \
		"$(awk -v r=$r "BEGIN{printf \"%.2f\", r}")" "dedup_ratio"
'

test_expect_success 'chunk bytes are exactly the distinct contents stored so far' '
	# every file content ever added, each once (hero.mov is a copy); the
	# first, 41-byte .ditsignore was added before it grew, so it counts too
	expect=$((300000 + 200000 + 150000 + 70000 + 30 + 120000 + 5000 + 6000 + 4000 +
		38 + 1000 + 1000 + 41 + $(file_size .ditsignore))) &&
	assert_eq "$expect" "$(json_num chunk_bytes <../stats-after.json)" "chunk_bytes"
'

test_expect_success 'an executable file is recorded with an executable mode' '
	printf "#!/bin/sh\necho conform\n" >conform.sh &&
	chmod 755 conform.sh &&
	dits add conform.sh >/dev/null &&
	dits ls-files >../ls &&
	assert_match "755$" "$(grep "	conform.sh$" ../ls | cut -d" " -f1)" "mode of conform.sh" &&
	assert_match "644$" "$(grep "	selects/hero.mov$" ../ls | cut -d" " -f1)" "mode of hero.mov"
'

test_expect_success 'log --json lists commits newest first' '
	dits commit -m "Conform script" >/dev/null &&
	dits log --json >../log.json &&
	json_objects <../log.json | json_str_lines message | sed "s/\\\\n\$//" >../messages &&
	assert_eq "Conform script
Selects
Drop notes and take 2
Checkpoint
Renders, ignore rules
More material
Pickup shot
Day 1 ingest" "$(cat ../messages)"
'

test_done
