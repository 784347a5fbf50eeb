#!/usr/bin/env bash
# The editor cut on proxies in a proxy clone; the masters live on the
# server. `dits render --remote origin` makes the conform a job of the
# server's queue: its workers render from the server's originals and commit
# renders/NAME.mov there, and the clone fetches the new commit and the
# render's proxy, never the masters.
. "$(dirname "$0")/lib.sh"
. "$TEST_DIR/lib-sync.sh"

if ! command -v ffmpeg >/dev/null 2>&1 || ! command -v ffprobe >/dev/null 2>&1; then
	test_skip 'render-remote' 'ffmpeg is not installed'
	test_done
fi

cd "$TRASH" || exit 1

# server_head: the server's main branch, from GET refs
server_head () {
	curl -s "$SERVER_URL/film/refs" | sed -n 's/.*"refs\/heads\/main": *"\([0-9a-f]*\)".*/\1/p'
}

test_expect_success 'a server with one worker has two masters and their proxies' '
	DITS_PROXY_AUTO=1 start_server main "$TRASH/srv" --workers 1 &&
	dits init room >/dev/null && cd room &&
	mkdir -p media/day1 &&
	gray_master media/day1/A001C001.mov 20 3 100 01:00:00:00 A001C001 440 &&
	gray_master media/day1/B002C001.mov 130 2 160 02:00:00:00 B002C001 880 &&
	dits add media >/dev/null && dits commit -m "day 1" >/dev/null &&
	dits remote add origin "$SERVER_URL/film" &&
	dits push origin main >/dev/null &&
	wait_proxies "$SERVER_URL" film 2 120
'

test_expect_success 'an editor clones in proxy mode and cuts an EDL' '
	dits clone "$SERVER_URL/film" edit --mode proxy >/dev/null &&
	cat >cut.edl <<-\EOF &&
	TITLE: CUT
	FCM: NON-DROP FRAME

	001  A001C001 V     C        01:00:00:10 01:00:01:10 01:00:00:00 01:00:01:00
	* FROM CLIP NAME: A001C001.mov

	002  B002C001 V     C        02:00:00:05 02:00:00:20 01:00:01:00 01:00:01:15
	* FROM CLIP NAME: B002C001.mov
	EOF
	server_head >head.before &&
	test -s head.before
'

test_expect_success 'render --remote: the server renders and commits, the clone fetches the commit' '
	cd edit &&
	dits render ../cut.edl --remote origin --rate 25 --target 320x180 --codec ffv1 --json >../render.json &&
	assert_eq done "$(json_str state <../render.json)" &&
	assert_eq renders/cut.mov "$(json_str output <../render.json)" &&
	commit=$(json_str commit <../render.json) &&
	assert_eq "$commit" "$(server_head)" &&
	srepo=$(server_repo "$TRASH/srv" film "$SERVER_URL") &&
	(cd "$srepo" && dits log --oneline) >../srvlog &&
	assert_file_has ../srvlog "Render cut.edl" &&
	(cd "$srepo" && dits show "$commit") >../srvshow &&
	assert_file_has ../srvshow "renders/cut.mov" &&
	dits log --oneline origin/main >../log.out &&
	assert_file_has ../log.out "Render cut.edl"
'

test_expect_success 'the clone received the commit and the render'"'"'s proxy, never a master'"'"'s chunks' '
	got=$(json_num bytes_received <render.json) &&
	srepo=$(server_repo "$TRASH/srv" film "$SERVER_URL") &&
	proxy=$(cd "$srepo" && dits proxy status | awk "\$2 == \"renders/cut.mov\" { print \$6 }") &&
	a=$(file_size room/media/day1/A001C001.mov) &&
	say "render --remote received $got bytes; the render'"'"'s proxy is $proxy, a master $a" &&
	assert_ge "$got" "$proxy" &&
	assert_le "$got" $((proxy + a / 2)) &&
	cd edit &&
	dits pull origin >/dev/null &&
	assert_exists renders/cut.mov &&
	dits mode >../mode.txt &&
	assert_file_has ../mode.txt "^\\[P\\] renders/cut.mov$" &&
	assert_file_has ../mode.txt "^\\[P\\] media/day1/A001C001.mov$" &&
	assert_file_has ../mode.txt "^\\[P\\] media/day1/B002C001.mov$" &&
	dits fsck >../fsck.err 2>&1 &&
	assert_file_has ../fsck.err "chunks not fetched \\(partial clone\\)"
'

test_expect_success 'the render'"'"'s frames are the master frames the EDL names' '
	cd edit &&
	dits checkout --mode master -- renders/cut.mov &&
	frame_lumas renders/cut.mov >../lumas &&
	assert_eq 40 "$(wc -l <../lumas | tr -d " ")" &&
	k=0 && while read -r y; do
		if [ $k -lt 25 ]; then want=$((20 + 3 * (10 + k))); else want=$((130 + 2 * (5 + k - 25))); fi
		d=$((y - want)); [ $d -lt 0 ] && d=$((-d))
		assert_le $d 1 "frame $k luma $y, want $want" || return 1
		k=$((k + 1))
	done <../lumas &&
	dits mode >../mode2.txt &&
	assert_file_has ../mode2.txt "^\\[P\\] media/day1/A001C001.mov$"
'

test_expect_success 'render status shows the job done' '
	cd edit &&
	id=$(json_num job <../render.json) &&
	dits render status --remote origin >../status.txt &&
	assert_file_has ../status.txt "^$id +done +100%  renders/cut.mov" &&
	dits render status "$id" --json >../status.json &&
	assert_eq done "$(json_str state <../status.json)" &&
	assert_eq "$(json_str commit <../render.json)" "$(json_str commit <../status.json)"
'

test_expect_success 'a timeline naming media the server lacks: one line, no commit' '
	cd edit &&
	sed "s/B002C001/Z999C001/g" ../cut.edl >../bad.edl &&
	before=$(server_head) &&
	test_expect_code 1 dits render ../bad.edl --remote origin --rate 25 --target 320x180 --codec ffv1 >../bad.out 2>../bad.err &&
	assert_lines 1 ../bad.err &&
	assert_file_has ../bad.err "^dits: error: render job [0-9]+ on origin failed: .*Z999C001" &&
	test ! -s ../bad.out &&
	assert_eq "$before" "$(server_head)" &&
	printf "not a timeline\n" >../junk.edl &&
	test_expect_code 1 dits render ../junk.edl --remote origin --rate 25 2>../junk.err &&
	assert_lines 1 ../junk.err &&
	assert_eq "$before" "$(server_head)"
'

test_expect_success '--detach prints the job; render status follows it to done' '
	cd edit &&
	cp ../cut.edl ../cut2.edl &&
	dits render ../cut2.edl --remote origin --rate 25 --target 320x180 --codec ffv1 --detach --json >../detach.json &&
	id=$(json_num job <../detach.json) &&
	test -n "$id" &&
	i=0 && while :; do
		dits render status "$id" --remote origin --json >../d.json &&
		state=$(json_str state <../d.json) &&
		case $state in done) break ;; failed) cat ../d.json; return 1 ;; esac &&
		i=$((i + 1)) && assert_le $i 600 "still $state" && sleep 0.2 || return 1
	done &&
	assert_eq renders/cut2.mov "$(json_str path <../d.json)" &&
	assert_eq "$(json_str commit <../d.json)" "$(server_head)"
'

test_expect_success 'the render endpoints: 400 for a bad body, 422 for a missing branch, 404 for an unknown job' '
	code=$(curl -s -o out.json -w "%{http_code}" -X POST --data "{\"timeline\": 1}" "$SERVER_URL/film/render") &&
	assert_eq 400 "$code" &&
	assert_file_has out.json "timeline_name: missing" &&
	code=$(curl -s -o out.json -w "%{http_code}" -X POST \
		--data "{\"timeline_name\": \"a.edl\", \"timeline\": \"x\", \"branch\": \"nope\"}" "$SERVER_URL/film/render") &&
	assert_eq 422 "$code" &&
	assert_file_has out.json "refs/heads/nope: no such branch" &&
	code=$(curl -s -o out.json -w "%{http_code}" "$SERVER_URL/film/render/999") &&
	assert_eq 404 "$code" &&
	code=$(curl -s -o out.json -w "%{http_code}" -X DELETE "$SERVER_URL/film/render/1") &&
	assert_eq 405 "$code"
'

test_expect_success 'the server'"'"'s repository is whole' '
	server_fsck "$TRASH/srv" film "$SERVER_URL"
'

test_done
