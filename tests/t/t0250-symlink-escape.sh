#!/usr/bin/env bash
# t0250: a worktree where someone replaced a tracked directory by a symbolic
# link (to a folder outside the project, or into .dits/). No command that
# writes files - checkout of paths, a branch switch, a mode switch, rm, a
# clone into a directory - may write, rename, chmod or remove anything
# through that link: it refuses with one line naming the link, exit 1,
# before the first change. A link where a file goes is replaced itself; its
# target is never written.

. "$(dirname "$0")/lib.sh"

# outside_snapshot: every entry (type, mode, size, path, link target) and the
# BLAKE3 of every file under $TRASH/outside
outside_snapshot () {
	(cd "$TRASH/outside" && find . -printf '%y %m %s %P %l\n' | LC_ALL=C sort &&
		find . -type f -print | LC_ALL=C sort | while IFS= read -r _p; do
			printf '%s  %s\n' "$(b3sum --no-names "$_p")" "$_p" || return 1
		done)
}

# assert_outside_unchanged: the outside folder is as the setup left it
assert_outside_unchanged () {
	outside_snapshot >"$TRASH/outside.now" &&
	if cmp -s "$TRASH/outside.before" "$TRASH/outside.now"; then return 0; fi
	say "the folder outside the worktree changed:"
	diff -u "$TRASH/outside.before" "$TRASH/outside.now"
	return 1
}

# assert_refused FILE TEXT...: the captured stderr FILE holds one error line
# naming every TEXT (the status walk's warnings about the link, "not a
# regular file, skipped", and a mode switch's "kept the master" notes may
# come before it and are left aside)
assert_refused () {
	_f=$1
	shift
	grep -v -e "^dits: warning: .*: not a regular file, skipped$" -e "^dits: .*: kept the master: " "$_f" >"$_f.error"
	assert_one_line_error "$_f.error" "$@"
}

cd "$TRASH" || exit 1

test_expect_success 'setup: two commits of a project; a folder outside it' '
	mkdir -p outside/sub outside/deep &&
	gen_data outside/clip.mov 300000 out-clip &&
	gen_data outside/sub/notes.txt 2000 out-notes &&
	gen_data outside/deep/B.mov 5000 out-deep &&
	chmod 600 outside/sub/notes.txt &&
	ln -s clip.mov outside/alias.mov &&
	dits init proj >/dev/null &&
	cd proj &&
	mkdir -p media/A001 media/B002 edit &&
	gen_data media/A001/clip.mov 300000 v1-a &&
	gen_data media/B002/B.mov 200000 v1-b &&
	gen_data edit/cut.edl 3000 v1-edl &&
	dits add . >/dev/null &&
	dits commit -m v1 >/dev/null &&
	gen_data media/A001/clip.mov 310000 v2-a &&
	gen_data media/A001/new.mov 1000 v2-new &&
	gen_data media/B002/B.mov 210000 v2-b &&
	mkdir grade &&
	gen_data grade/look.cube 4000 v2-look &&
	dits add . >/dev/null &&
	dits commit -m v2 >/dev/null &&
	dits branch v1 HEAD~1 &&
	sums_of . >"$TRASH/sums.v2" &&
	cd .. &&
	outside_snapshot >outside.before &&
	test -s outside.before
'

test_expect_success 'checkout REV -- DIR where DIR is a link out: refused, nothing written' '
	cd proj &&
	rm -rf media &&
	ln -s ../outside media &&
	repo_snapshot . >../repo.before &&
	test_expect_code 1 dits checkout HEAD~1 -- media 2>../err &&
	assert_refused ../err "media" "is a symbolic link" &&
	assert_outside_unchanged &&
	assert_repo_unchanged . ../repo.before &&
	test -L media &&
	dits fsck >/dev/null
'

test_expect_success 'checkout REV -- FILE under the link: refused, nothing written' '
	cd proj &&
	test_expect_code 1 dits checkout HEAD~1 -- media/A001/clip.mov 2>../err &&
	assert_refused ../err "media: is a symbolic link" &&
	assert_outside_unchanged
'

test_expect_success 'branch switch with a changed file under the link: refused as a local change' '
	cd proj &&
	head=$(dits log --oneline | head -n 1) &&
	test_expect_code 1 dits checkout v1 2>../err &&
	assert_refused ../err "media/" &&
	assert_outside_unchanged &&
	assert_eq "$head" "$(dits log --oneline | head -n 1)"
'

test_expect_success 'the link removed: checkout -- media restores real folders; fsck passes' '
	cd proj &&
	rm media &&
	dits checkout HEAD -- media &&
	test -d media && ! test -L media &&
	sums_of . >../sums.now &&
	assert_files_eq ../sums.v2 ../sums.now &&
	assert_outside_unchanged &&
	dits fsck >/dev/null
'

test_expect_success 'a link at a deeper component (media/B002): refused, named' '
	cd proj &&
	rm -rf media/B002 &&
	ln -s ../../outside/deep media/B002 &&
	test_expect_code 1 dits checkout HEAD~1 -- media 2>../err &&
	assert_refused ../err "media/B002: is a symbolic link" &&
	assert_outside_unchanged &&
	test -L media/B002 &&
	gen_data ../want.mov 310000 v2-a &&
	assert_eq "$(b3sum --no-names ../want.mov)" "$(b3sum --no-names media/A001/clip.mov)" &&
	rm media/B002 && dits checkout HEAD -- media/B002 >/dev/null
'

test_expect_success 'a branch switch that writes a new folder where a link is: refused, nothing changed' '
	cd proj &&
	dits checkout v1 >/dev/null &&
	! test -e grade &&
	ln -s ../outside grade &&
	sums_of . >../sums.v1 &&
	head=$(dits log --oneline | head -n 1) &&
	test_expect_code 1 dits checkout main 2>../err &&
	assert_refused ../err "grade: is a symbolic link" &&
	assert_outside_unchanged &&
	assert_eq "$head" "$(dits log --oneline | head -n 1)" &&
	sums_of . >../sums.now &&
	assert_files_eq ../sums.v1 ../sums.now &&
	rm grade && dits checkout main >/dev/null
'

test_expect_success 'a branch switch that would remove a file through a linked folder: refused' '
	cd proj &&
	dits checkout v1 >/dev/null &&
	dits checkout main >/dev/null &&
	rm -rf grade &&
	ln -s ../outside/deep grade &&
	test_expect_code 1 dits checkout v1 2>../err &&
	assert_refused ../err "grade: is a symbolic link" &&
	assert_outside_unchanged &&
	rm grade && dits checkout HEAD -- grade >/dev/null
'

test_expect_success 'a link into .dits/ where a folder goes: refused; the repository unchanged' '
	cd proj &&
	rm -rf media/A001 &&
	ln -s ../.dits/tmp media/A001 &&
	repo_snapshot . >../repo.before &&
	test_expect_code 1 dits checkout HEAD~1 -- media/A001 2>../err &&
	assert_refused ../err "media/A001: is a symbolic link" &&
	assert_repo_unchanged . ../repo.before &&
	dits fsck >/dev/null &&
	rm media/A001 && dits checkout HEAD -- media >/dev/null
'

test_expect_success 'a link where a file goes is replaced itself; its target is never written' '
	cd proj &&
	rm media/A001/clip.mov &&
	ln -s ../../../outside/clip.mov media/A001/clip.mov &&
	dits checkout HEAD -- media/A001/clip.mov &&
	! test -L media/A001/clip.mov &&
	test -f media/A001/clip.mov &&
	gen_data ../want.mov 310000 v2-a &&
	assert_eq "$(b3sum --no-names ../want.mov)" "$(b3sum --no-names media/A001/clip.mov)" &&
	rm -f media/A001/new.mov &&
	ln -s ../../../outside/sub media/A001/new.mov &&
	dits checkout HEAD -- media/A001/new.mov &&
	! test -L media/A001/new.mov &&
	assert_outside_unchanged &&
	sums_of . >../sums.now &&
	assert_files_eq ../sums.v2 ../sums.now &&
	dits fsck >/dev/null
'

test_expect_success 'dits rm under a linked folder: refused, the outside file stays' '
	cd proj &&
	rm -rf edit &&
	ln -s ../outside/sub edit &&
	gen_data ../outside/sub/cut.edl 3000 v1-edl &&
	test_expect_code 1 dits rm edit/cut.edl 2>../err &&
	assert_refused ../err "edit/cut.edl" "outside the worktree" &&
	test -f ../outside/sub/cut.edl && rm ../outside/sub/cut.edl &&
	assert_outside_unchanged &&
	dits ls-files | grep -q "	edit/cut.edl$" &&
	rm edit && dits checkout HEAD -- edit >/dev/null
'

if ! command -v ffmpeg >/dev/null 2>&1 || ! command -v ffprobe >/dev/null 2>&1; then
	test_skip 'mode switches through a link' 'ffmpeg is not installed'
else
	test_expect_success 'setup: a clip with a proxy' '
		cd proj &&
		mkdir -p video &&
		make_master video/C001.mov 640x360 1 01:00:00:00 1 25 &&
		dits add video >/dev/null &&
		dits commit -m video >/dev/null &&
		dits proxy generate video/C001.mov >/dev/null &&
		b3sum --no-names video/C001.mov >../master.b3
	'

	test_expect_success 'checkout --mode proxy with the clip folder a link out: refused, nothing written' '
		cd proj &&
		mv video ../video.real &&
		ln -s ../outside video &&
		test_expect_code 1 dits checkout --mode proxy 2>../err &&
		assert_refused ../err "video: is a symbolic link" &&
		assert_outside_unchanged
	'

	test_expect_success 'dits mode proxy, whole tree or a PATH through the link: refused' '
		cd proj &&
		test_expect_code 1 dits mode proxy 2>../err &&
		assert_refused ../err "video: is a symbolic link" &&
		test_expect_code 1 dits mode proxy video/C001.mov 2>../err &&
		assert_refused ../err "video/C001.mov" "outside the worktree" &&
		assert_outside_unchanged
	'

	test_expect_success 'checkout --mode master from proxy mode, folder now a link: refused' '
		cd proj &&
		rm video && mv ../video.real video &&
		dits checkout --mode proxy >/dev/null &&
		assert_ne "$(cat ../master.b3)" "$(b3sum --no-names video/C001.mov)" &&
		mv video ../video.real &&
		ln -s ../outside video &&
		test_expect_code 1 dits checkout --mode master 2>../err &&
		assert_refused ../err "video: is a symbolic link" &&
		assert_outside_unchanged &&
		rm video && mv ../video.real video && dits checkout --mode master >/dev/null &&
		assert_eq "$(cat ../master.b3)" "$(b3sum --no-names video/C001.mov)" &&
		dits fsck >/dev/null
	'
fi

test_expect_success 'setup: a server on a free loopback port with the project pushed' '
	mkdir -p server &&
	("$DITS" serve --root "$TRASH/server" --listen 127.0.0.1:0 --workers 1 >serve.log 2>&1 & echo $! >serve.pid) &&
	for i in $(seq 100); do grep -q "listening on" serve.log && break; sleep 0.1; done &&
	URL=$(sed -n "s/.*listening on \(http:[^ ]*\).*/\1/p" serve.log | head -n 1) &&
	assert_match "^http://127.0.0.1:[0-9]+$" "$URL" &&
	cd proj &&
	dits remote add origin "$URL/proj" &&
	dits push >/dev/null 2>&1
'
test_at_end 'kill $(cat "$TRASH/serve.pid")'

test_expect_success 'clone into a folder holding a link where the project has a folder: refused' '
	mkdir into &&
	ln -s ../outside into/media &&
	test_expect_code 1 dits clone "$URL/proj" into 2>err &&
	assert_refused err "media: is a symbolic link" &&
	assert_outside_unchanged &&
	! test -e into/.dits &&
	assert_eq "media" "$(ls -A into)"
'

test_expect_success 'the link removed: the clone succeeds and fsck passes' '
	rm into/media &&
	dits clone "$URL/proj" into >/dev/null &&
	cd into &&
	test -d media && ! test -L media &&
	dits fsck >/dev/null &&
	assert_outside_unchanged
'

test_done
