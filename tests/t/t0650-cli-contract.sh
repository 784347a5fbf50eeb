#!/usr/bin/env bash
# The command line as a new user meets it: every command refuses an option
# it does not know (exit 2, the error and the command's usage line, nothing
# changed), `--` lets a path start with '-', counts read "1 proxy" and "0
# proxies", a failed proxy's reason is printed once, the --json keys are
# the documented ones, `proxy wait` judges only what it waited for, and
# `proxy status` works in a server's repository.
. "$(dirname "$0")/lib.sh"
. "$TEST_DIR/lib-sync.sh"

BIN=$(dirname "$DITS")
cd "$TRASH" || exit 1

# Every command and subcommand, with the words before its options.
COMMANDS='init
add
rm
commit
status
log
show
diff
checkout
branch
tag
ls-files
stats
fsck
gc
hash
debug chunks
config
proxy
proxy status
proxy generate
proxy wait
proxy retry
proxy export
proxy handoff
proxy verify
render
render status
mount
umount
mode
fetch-proxy
serve
worker
worker --root .
remote
remote add
remote remove
push
fetch
pull
clone
help'

test_expect_success 'setup: a repository with a commit and a remote' '
	dits init repo >/dev/null &&
	cd repo &&
	echo hello >a.txt &&
	dits add a.txt >/dev/null &&
	dits commit -m first >/dev/null &&
	dits remote add origin http://127.0.0.1:9/repo &&
	repo_snapshot . >../snap.before &&
	ls -lA >../ls.before
'

test_expect_success 'every command of dits, dits-net and dits-media refuses --bogus: exit 2, error, usage' '
	cd repo &&
	n=0 &&
	for prog in "$DITS" "$BIN/dits-net" "$BIN/dits-media"; do
		while IFS= read -r cmd; do
			# shellcheck disable=SC2086
			test_expect_code 2 "$prog" $cmd --bogus >../out 2>../err || { say "$prog $cmd --bogus"; return 1; }
			assert_eq "dits: error: unknown option '\''--bogus'\''" "$(sed -n 1p ../err)" "$prog $cmd" || return 1
			first=${cmd%% *}
			assert_match "^usage: dits $first( |\$)" "$(sed -n 2p ../err)" "$prog $cmd usage" || return 1
			assert_lines 2 ../err || return 1
			test ! -s ../out || { say "$prog $cmd printed on stdout"; return 1; }
			n=$((n + 1))
		done <<-LIST || return 1
		$COMMANDS
		LIST
	done &&
	assert_eq 129 "$n" "commands tried"
'

test_expect_success '--bogus=VALUE, a bogus short option and a missing value are usage errors too' '
	cd repo &&
	test_expect_code 2 dits status --bogus=1 2>../err &&
	assert_file_has ../err "^dits: error: unknown option .--bogus.$" &&
	test_expect_code 2 dits ls-files -q 2>../err &&
	assert_file_has ../err "^dits: error: unknown option .-q.$" &&
	test_expect_code 2 dits proxy wait --timeout 2>../err &&
	assert_file_has ../err "^dits: error: option .--timeout. needs a value$" &&
	assert_file_has ../err "^usage: dits proxy wait" &&
	test_expect_code 2 dits status extra 2>../err &&
	assert_file_has ../err "unexpected argument .extra." &&
	test_expect_code 2 dits proxy bogus 2>../err &&
	assert_file_has ../err "^usage: dits proxy status|generate"
'

test_expect_success 'the refused commands changed nothing in the repository or the worktree' '
	cd repo &&
	assert_repo_unchanged . ../snap.before &&
	ls -lA >../ls.after &&
	assert_files_eq ../ls.before ../ls.after &&
	test ! -e bogus && test ! -e ./--bogus
'

test_expect_success 'dits help lists each command with the usage line it prints' '
	cd repo &&
	dits help >../help.txt &&
	test_expect_code 2 dits status --bogus 2>../err &&
	u=$(sed -n "2s/^usage: dits //p" ../err) &&
	grep -qF "  $u " ../help.txt &&
	test_expect_code 2 dits fetch-proxy --bogus 2>../err &&
	u=$(sed -n "2s/^usage: dits //p" ../err) &&
	grep -qF "  $u" ../help.txt
'

test_expect_success '-- ends the options: a file named -dash.txt is added, hashed and removed' '
	cd repo &&
	echo dash >./-dash.txt &&
	dits add -- -dash.txt >../add.out &&
	assert_file_has ../add.out "^added 1 file, 5 bytes" &&
	dits ls-files >../ls.out &&
	assert_file_has ../ls.out "	-dash.txt$" &&
	dits hash -- -dash.txt >../hash.out &&
	assert_eq "$(b3 ./-dash.txt)  -dash.txt" "$(cat ../hash.out)" &&
	dits rm --cached -- -dash.txt >../rm.out &&
	assert_file_has ../rm.out "^rm .-dash.txt.$" &&
	assert_exists ./-dash.txt &&
	rm ./-dash.txt
'

if ! command -v ffmpeg >/dev/null 2>&1; then
	test_skip 'the proxy contract' 'ffmpeg is not installed'
	test_done
fi

test_expect_success 'setup: a tiny clip and an audio-only file under a video name' '
	dits init media >/dev/null &&
	cd media &&
	dits config proxy.auto false &&
	ffmpeg -nostdin -loglevel error -f lavfi -i "testsrc2=size=64x36:rate=24:duration=0.25" \
		-c:v mpeg4 -pix_fmt yuv420p clip.mov &&
	ffmpeg -nostdin -loglevel error -f lavfi -i "sine=frequency=1000:duration=0.2" -c:a pcm_s16le voice.mov &&
	echo notes >notes.txt &&
	dits add . >/dev/null &&
	dits commit -m "day 1" >/dev/null
'

test_expect_success 'a failed proxy: its reason is printed once, after its path, in text and JSON' '
	cd media &&
	test_expect_code 1 dits proxy generate --no-extras voice.mov >../gen.out 2>../gen.err &&
	assert_file_has ../gen.err "^voice.mov: failed: audio only: no video stream$" &&
	dits proxy status voice.mov >../ps.txt &&
	assert_file_has ../ps.txt "^failed   voice.mov$" &&
	assert_file_has ../ps.txt "^ *error: audio only: no video stream$" &&
	assert_file_lacks ../ps.txt "voice.mov: voice.mov" &&
	dits proxy status --json voice.mov >../ps.json &&
	assert_eq "audio only: no video stream" "$(json_str error <../ps.json)" &&
	dits status >../st.txt &&
	assert_file_has ../st.txt "failed   voice.mov: audio only: no video stream$" &&
	dits status --json >../st.json &&
	assert_eq "audio only: no video stream" "$(json_str error <../st.json)"
'

test_expect_success 'proxy wait: an old dead job is named in a note, the new work succeeds, exit 0' '
	cd media &&
	dits proxy generate --queue --no-extras clip.mov >../q.out &&
	assert_eq "queued 1 file (run dits worker, or dits proxy wait)" "$(cat ../q.out)" &&
	dits proxy wait --timeout 60 >../wait.out 2>../wait.err &&
	assert_eq "all proxies done (1 job)" "$(cat ../wait.out)" &&
	assert_file_has ../wait.err "^dits: note: 1 proxy job had already failed before this wait: voice.mov " &&
	assert_lines 1 ../wait.err &&
	assert_eq ready "$(dits proxy status --json clip.mov | json_str state)"
'

test_expect_success 'proxy wait: a job it waited for that dies is a failure (exit 1), named with its reason' '
	cd media &&
	dits proxy retry voice.mov >/dev/null &&
	test_expect_code 1 dits proxy wait --timeout 60 >../wait.out 2>../wait.err &&
	assert_file_has ../wait.err "^dits: error: voice.mov: proxy_1080p failed: audio only: no video stream$" &&
	assert_file_has ../wait.err "^dits: error: 1 of 1 proxy job failed$" &&
	test_expect_code 1 dits proxy wait --timeout 60 voice.mov 2>../wait.err &&
	dits proxy wait --timeout 60 clip.mov >../wait.out &&
	assert_eq "all proxies done (1 job)" "$(cat ../wait.out)"
'

test_expect_success 'counts agree with their nouns: 1 proxy, 0 proxies' '
	cd media &&
	dits fetch-proxy clip.mov >../fp.out &&
	assert_eq "1 proxy ready" "$(tail -n 1 ../fp.out)" &&
	dits fetch-proxy notes.txt >../fp.out &&
	assert_eq "0 proxies ready" "$(tail -n 1 ../fp.out)" &&
	! grep -rn "proxyies" ../*.out ../*.err
'

test_expect_success '--json keys are the documented ones (docs/CLI.md)' '
	cd media &&
	dits log --json >../log.json &&
	tr -d "\n" <../log.json | grep -q "^\[{\"id\":\"[0-9a-f]*\",\"tree\":\"[0-9a-f]*\",\"parents\":\[\],\"author\":\"[^\"]*\",\"committer\":\"[^\"]*\",\"proxies\":{\"ready\":1,\"pending\":0,\"failed\":1,\"none\":0},\"time\":[0-9]*,\"message\":\"day 1\"}\]$" &&
	dits status --json | tr -d "\n" | grep -q "^{\"branch\":\"main\",\"head\":\"[0-9a-f]*\",\"staged\":\[\],\"unstaged\":\[\],\"untracked\":\[\],\"clean\":true,\"proxies\":\[{\"path\":\"clip.mov\",\"state\":\"ready\",\"error\":null},{\"path\":\"voice.mov\",\"state\":\"failed\",\"error\":\"audio only: no video stream\"}\],\"modes\":\[{\"path\":\"clip.mov\",\"worktree\":\"master\"}" &&
	dits ls-files --json | grep -q "^\[{\"path\":\"clip.mov\",\"size\":[0-9]*,\"mode\":\"100644\",\"asset_id\":\"[0-9a-f]*\",\"worktree\":\"master\"}" &&
	dits stats --json | grep -q "^{\"logical_bytes\":[0-9]*,\"stored_bytes\":[0-9]*,\"chunk_bytes\":[0-9]*,\"chunks\":[0-9]*,\"objects\":[0-9]*,\"packs\":[0-9]*,\"commits\":1,\"head_files\":3,\"head_bytes\":[0-9]*,\"dedup_ratio\":[0-9.]*}$" &&
	dits proxy status --json notes.txt clip.mov | grep -q "^\[{\"path\":\"clip.mov\",\"asset_id\":\"[0-9a-f]*\",\"variant\":\"proxy_1080p\",\"state\":\"ready\",\"variant_id\":\"[0-9a-f-]*\",\"facts\":{.*},\"warnings\":null,\"error\":null,\"manifest_id\":\"[0-9a-f]*\",\"size\":[0-9]*}\]$" &&
	dits proxy status --json voice.mov | grep -q "\"variant_id\":\"[0-9a-f-]*\",\"facts\":null,\"warnings\":null,\"error\":\"audio only: no video stream\"}\]$"
'

test_expect_success 'setup: a server; the clip pushed to it' '
	start_server a srv --workers 0 &&
	cd media &&
	"$BIN/dits-net" remote add origin "$SERVER_URL/media" &&
	dits push origin >/dev/null 2>&1 &&
	assert_exists ../srv/media/.dits &&
	assert_missing ../srv/media/.dits/index
'

test_expect_success 'proxy status in the server repository lists the videos of HEAD (no index there)' '
	cd srv/media &&
	dits proxy status >../../srv.txt &&
	assert_file_has ../../srv.txt "^[a-z]* *clip.mov" &&
	assert_file_has ../../srv.txt "^[a-z]* *voice.mov" &&
	assert_file_lacks ../../srv.txt "no video files" &&
	dits proxy status --json clip.mov | grep -q "\"path\":\"clip.mov\"" &&
	dits proxy status --rev main voice.mov >../../srv2.txt &&
	assert_file_has ../../srv2.txt "voice.mov" &&
	test_expect_code 1 dits proxy status nope.mov 2>../../srv.err &&
	assert_one_line_error ../../srv.err "nope.mov" "not tracked"
'

test_done
