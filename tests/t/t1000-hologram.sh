#!/usr/bin/env bash
# The Hologram flow as an assistant editor meets it: commit camera masters,
# the command returns at once, proxies appear in the background, validated;
# the masters' identities never change; a worker killed mid-job is replaced;
# bad media fails with a reason and registers nothing.
. "$(dirname "$0")/lib.sh"

if ! command -v ffmpeg >/dev/null 2>&1 || ! command -v ffprobe >/dev/null 2>&1; then
	say "ffmpeg/ffprobe not installed: this story makes its media with them"
	test_skip 'the Hologram flow' 'ffmpeg is not installed'
	test_done
fi

# state PATH: the proxy state `dits proxy status --json` reports for PATH
state () {
	dits proxy status --json "$1" | json_str state
}

cd "$TRASH" || exit 1
unset DITS_PROXY_AUTO # lib.sh turns automatic proxies off for the core stories

test_expect_success 'setup: a repository with automatic proxies off, two masters' '
	dits init project >/dev/null &&
	cd project &&
	dits config proxy.auto false &&
	mkdir -p A001 &&
	make_master A001/A001C001.mov 640x360 2 01:00:00:00 2 &&
	make_master A001/A001C002.mov 854x480 2 10:59:59:12 4 &&
	dits add . >/dev/null &&
	dits commit -m "Day 1" >../commit.out &&
	dits ls-files --json >../ids.before &&
	dits log --json >../log.before
'

test_expect_success 'with proxy.auto off, commit queues the jobs and transcodes nothing' '
	cd project &&
	assert_file_lacks ../commit.out "queued" &&
	assert_eq none "$(state A001/A001C001.mov)" &&
	dits proxy generate --background A001/A001C001.mov >/dev/null
'

test_expect_success 'proxy wait makes them: a worker starts, the queue drains' '
	cd project &&
	dits proxy wait --timeout 120 >../wait.out &&
	assert_eq ready "$(state A001/A001C001.mov)"
'

test_expect_success 'proxy.auto on: commit returns at once and says the jobs are queued' '
	cd project &&
	dits config --unset proxy.auto &&
	make_master A001/A001C003.mov 640x360 2 02:00:00:00 1 &&
	dits add A001/A001C003.mov >/dev/null &&
	t0=$(now_ms) &&
	dits commit -m "Day 1, card 2" >../commit2.out &&
	t1=$(now_ms) &&
	assert_file_has ../commit2.out "queued 1 proxy job" &&
	assert_le $((t1 - t0)) 3000 "commit milliseconds" &&
	dits proxy wait --timeout 120 >/dev/null &&
	assert_eq ready "$(state A001/A001C003.mov)" &&
	assert_exists .dits/worker.log
'

test_expect_success 'proxy status --json: the facts an NLE relinks by match the master' '
	cd project &&
	dits proxy generate A001/A001C002.mov >/dev/null &&
	dits proxy status --json A001/A001C002.mov >../st.json &&
	assert_eq ready "$(json_str state <../st.json)" &&
	assert_eq 24000/1001 "$(json_str frame_rate <../st.json)" &&
	assert_eq 48 "$(json_num frame_count <../st.json)" &&
	assert_eq "10:59:59:12" "$(json_str timecode <../st.json)" &&
	assert_eq 4 "$(json_num channels <../st.json)" &&
	assert_eq 48000 "$(json_num sample_rate <../st.json)"
'

test_expect_success 'the exported proxy is ProRes 422 Proxy with the master timecode, read by ffprobe' '
	cd project &&
	dits proxy generate >/dev/null &&
	dits proxy export A001/A001C002.mov ../p2.mov &&
	ffprobe -v error -select_streams v:0 -show_entries stream=codec_tag_string,width,height,nb_frames,r_frame_rate:stream_tags=timecode \
		-of default=nw=1 ../p2.mov >../probe.txt &&
	assert_file_has ../probe.txt "codec_tag_string=apco" &&
	assert_file_has ../probe.txt "nb_frames=48" &&
	assert_file_has ../probe.txt "r_frame_rate=24000/1001" &&
	assert_file_has ../probe.txt "TAG:timecode=10:59:59:12" &&
	w=$(sed -n "s/^width=//p" ../probe.txt) && h=$(sed -n "s/^height=//p" ../probe.txt) &&
	assert_le "$w" 1920 width && assert_le "$h" 1080 height &&
	assert_eq 0 $((w % 2)) "even width" && assert_eq 0 $((h % 2)) "even height" &&
	ffprobe -v error -select_streams a -show_entries stream=channels -of csv=p=0 ../p2.mov >../ch.txt &&
	assert_eq 4 "$(cat ../ch.txt)"
'

test_expect_success 'poster, sprite sheet with its WebVTT index, and WEBM preview are variants too' '
	cd project &&
	dits proxy export A001/A001C001.mov ../poster.jpg --variant thumbnail &&
	dits proxy export A001/A001C001.mov ../sprite.jpg --variant sprite &&
	dits proxy export A001/A001C001.mov ../sprite.vtt --variant sprite_vtt &&
	dits proxy export A001/A001C001.mov ../preview.webm --variant preview_webm &&
	assert_file_has ../sprite.vtt "^WEBVTT" &&
	assert_file_has ../sprite.vtt "#xywh=" &&
	ffprobe -v error -show_entries stream=codec_name -of csv=p=0 ../poster.jpg | grep -q mjpeg &&
	ffprobe -v error -show_entries stream=codec_name -of csv=p=0 ../preview.webm | grep -q vp9
'

test_expect_success 'the masters keep their identities: asset, tree and commit ids are unchanged' '
	cd project &&
	dits ls-files --json >../ids.after &&
	for f in A001/A001C001.mov A001/A001C002.mov; do
		grep -o "\"path\":\"$f\"[^}]*" ../ids.before >../a && grep -o "\"path\":\"$f\"[^}]*" ../ids.after >../b &&
		assert_files_eq ../a ../b || return 1
	done &&
	dits log --json HEAD~1 >../log.now &&
	assert_eq "$(json_str id <../log.before)" "$(json_str id <../log.now)" &&
	assert_eq "$(json_str tree <../log.before)" "$(json_str tree <../log.now)"
'

test_expect_success 'same master, same recipe: generated once' '
	cd project &&
	id1=$(dits proxy status --json A001/A001C001.mov | json_str variant_id) &&
	dits proxy generate A001/A001C001.mov >../again.out &&
	assert_file_has ../again.out "already made" &&
	assert_eq "$id1" "$(dits proxy status --json A001/A001C001.mov | json_str variant_id)"
'

test_expect_success 'status and log report the proxies' '
	cd project &&
	dits status >../status.txt &&
	assert_file_has ../status.txt "^Proxies .proxy_1080p.:" &&
	assert_file_has ../status.txt "ready    A001/A001C001.mov" &&
	dits log >../log.txt &&
	assert_file_has ../log.txt "Proxies: 1 ready, 0 pending, 0 failed" &&
	dits log --json | tr -d "\n" | grep -q "\"proxies\":{\"ready\":2,\"pending\":0,\"failed\":0,\"none\":0}"
'

test_expect_success 'gc keeps every proxy; fsck verifies their chunks' '
	cd project &&
	dits gc >/dev/null &&
	dits fsck >../fsck.out &&
	assert_eq ok "$(cat ../fsck.out)" &&
	dits proxy export A001/A001C002.mov ../p2b.mov &&
	cmp ../p2.mov ../p2b.mov
'

test_expect_success 'setup: proxies off again, a longer master for the kill test' '
	cd project &&
	dits config proxy.auto false &&
	make_master A001/A001C004.mov 1920x1080 6 03:00:00:00 2 &&
	dits add A001/A001C004.mov >/dev/null &&
	dits commit -m "long take" >/dev/null &&
	dits proxy generate --queue A001/A001C004.mov >/dev/null
'

test_expect_success 'a worker killed mid-job: the job waits for its lease, then another worker makes it' '
	cd project &&
	{ DITS_WORKER_LEASE=3 "$DITS" worker --once >/dev/null 2>&1 & } &&
	pid=$! &&
	n=0 &&
	while [ "$(state A001/A001C004.mov)" != running ] && [ $n -lt 200 ]; do sleep 0.05; n=$((n + 1)); done &&
	assert_eq running "$(state A001/A001C004.mov)" &&
	sleep 0.3 &&
	kill -9 $pid &&
	test_expect_code 137 wait $pid &&
	assert_eq running "$(state A001/A001C004.mov)" "state right after the kill" &&
	DITS_WORKER_LEASE=3 dits worker --drain >../w.out 2>&1 &&
	assert_eq ready "$(state A001/A001C004.mov)" &&
	dits fsck >../fsck2.out &&
	assert_eq ok "$(cat ../fsck2.out)"
'

test_expect_success 'the killed worker left nothing half-registered, and its scratch files go' '
	cd project &&
	dits proxy status --json A001/A001C004.mov >../k.json &&
	assert_eq 144 "$(json_num frame_count <../k.json)" &&
	dits add . >/dev/null &&
	ls .dits/tmp >../tmp.list &&
	test ! -s ../tmp.list
'

test_expect_success 'a LUT rule by file name: S-Log3 footage gets a Rec.709 proxy, the master is untouched' '
	cd project &&
	dits config "proxy.lut.*_SLOG3.mov" slog3 &&
	make_master A001/A001C005_SLOG3.mov 640x360 1 04:00:00:00 2 &&
	dits add A001/A001C005_SLOG3.mov >/dev/null &&
	dits commit -m "log take" >/dev/null &&
	b3sum A001/A001C005_SLOG3.mov >../log.b3 &&
	dits proxy generate A001/A001C005_SLOG3.mov >/dev/null &&
	dits proxy status --json A001/A001C005_SLOG3.mov >../lut.json &&
	assert_eq slog3 "$(json_str lut_applied <../lut.json)" &&
	dits proxy status --json A001/A001C004.mov | grep -vq lut_applied &&
	b3sum -c ../log.b3 >/dev/null
'

test_expect_success 'text output names the LUT a proxy was made with, in proxy status and status' '
	cd project &&
	dits proxy status A001/A001C005_SLOG3.mov >../lut.txt &&
	assert_file_has ../lut.txt "LUT applied: slog3" &&
	dits status >../status-lut.txt &&
	assert_file_has ../status-lut.txt "LUT applied: slog3"
'

# A phone clip: a 1/90000 time base, jittered timestamps averaging 29.3 fps,
# r_frame_rate 88/3. Conformed to the nearest editing rate, 29.97.
test_expect_success 'a variable-frame-rate phone clip is conformed to 29.97 and says so in text' '
	cd project &&
	ffmpeg -nostdin -loglevel error -y -f lavfi -i testsrc2=s=320x180:r=30 \
		-f lavfi -i sine=f=440:r=48000:d=2 -frames:v 60 -c:v prores_ks -profile:v 3 \
		-vf "settb=1/90000,setpts='"'"'(N/29.3+if(eq(mod(N\,3)\,1)\,0.004\,0))/TB'"'"'" \
		-fps_mode passthrough -enc_time_base:v 1/90000 -video_track_timescale 90000 \
		-ac 2 -c:a pcm_s16le A001/PHONE_0001.mov &&
	dits add A001/PHONE_0001.mov >/dev/null &&
	dits commit -m "phone clip" >/dev/null &&
	dits proxy generate A001/PHONE_0001.mov >/dev/null &&
	dits proxy status --json A001/PHONE_0001.mov >../vfr.json &&
	assert_eq ready "$(json_str state <../vfr.json)" &&
	assert_file_has ../vfr.json "\"frame_rate\":\"30000/1001\"" &&
	dits proxy status A001/PHONE_0001.mov >../vfr.txt &&
	assert_file_has ../vfr.txt "warning: variable frame rate: conformed to 29.97 fps, up to ±1 frame of drift" &&
	dits status >../status-vfr.txt &&
	assert_file_has ../status-vfr.txt "warning: variable frame rate: conformed to 29.97 fps"
'

test_expect_success 'setup: bad media under video names' '
	cd project &&
	gen_data A001/noise.mov 300000 noise &&
	head -c 20000 A001/A001C001.mov >A001/truncated.mov &&
	ffmpeg -nostdin -loglevel error -f lavfi -i "sine=frequency=1000:duration=1" -c:a pcm_s16le A001/audio_only.mov &&
	ffmpeg -nostdin -loglevel error -f lavfi -i "testsrc2=size=320x240:duration=0.04" -frames:v 1 -f image2 -c:v png A001/still.mov &&
	: >A001/empty.mov &&
	dits add . >/dev/null &&
	dits commit -m "odd files" >/dev/null
'

test_expect_success 'bad media: proxy generate fails with a reason per file and registers nothing' '
	cd project &&
	test_expect_code 1 dits proxy generate A001/noise.mov A001/truncated.mov A001/audio_only.mov A001/still.mov A001/empty.mov >../bad.out 2>../bad.err &&
	for f in noise truncated audio_only still empty; do
		assert_eq failed "$(state A001/$f.mov)" "$f state" || return 1
	done &&
	dits proxy status A001/audio_only.mov >../ao.txt &&
	assert_file_has ../ao.txt "audio" &&
	dits proxy status A001/still.mov >../still.txt &&
	assert_file_has ../still.txt "still" &&
	test_expect_code 1 dits proxy export A001/noise.mov ../nope.mov 2>../exp.err &&
	assert_missing ../nope.mov
'

test_expect_success 'proxy wait with nothing pending: old failures are a note, not a failure' '
	cd project &&
	dits proxy wait --timeout 60 >/dev/null 2>../wait.err &&
	assert_file_has ../wait.err "^dits: note: .*had already failed before this wait: .*A001/audio_only.mov"
'

test_expect_success 'proxy wait PATH judges that file: its failure exits 1 with the reason once' '
	cd project &&
	test_expect_code 1 dits proxy wait --timeout 60 A001/audio_only.mov >/dev/null 2>../wait.err &&
	assert_file_has ../wait.err "^dits: error: A001/audio_only.mov: proxy_1080p failed: audio only" &&
	assert_file_lacks ../wait.err "audio_only.mov: .*audio_only.mov"
'

test_expect_success 'proxy retry queues a failed file again (and it fails again, for the same reason)' '
	cd project &&
	dits proxy retry A001/audio_only.mov >../retry.out &&
	assert_file_has ../retry.out "requeued A001/audio_only.mov" &&
	test_expect_code 1 dits proxy wait --timeout 60 >/dev/null 2>&1 &&
	assert_eq failed "$(state A001/audio_only.mov)"
'

# Frame 37 (counted from 0) of a ProRes master overwritten in place: the
# container is intact, the picture does not decode.
test_expect_success 'a master with a corrupt frame fails on the first attempt, naming the frame' '
	cd project &&
	make_master A001/DAMAGED.mov 640x360 2 01:00:00:00 2 &&
	pos=$(ffprobe -v error -select_streams v -show_entries packet=pos -of csv=p=0 A001/DAMAGED.mov | sed -n 38p) &&
	test -n "$pos" &&
	head -c 20000 /dev/zero | tr "\0" "\377" |
		dd of=A001/DAMAGED.mov bs=1 seek=$((pos + 200)) conv=notrunc status=none &&
	dits add A001/DAMAGED.mov >/dev/null &&
	dits commit -m "damaged take" >/dev/null &&
	test_expect_code 1 dits proxy generate A001/DAMAGED.mov >../dmg.out 2>&1 &&
	assert_eq 1 "$(grep -c "DAMAGED.mov: start" ../dmg.out)" &&
	assert_file_lacks ../dmg.out "retry" &&
	assert_eq failed "$(state A001/DAMAGED.mov)" &&
	dits proxy status A001/DAMAGED.mov >../dmg.txt &&
	assert_file_has ../dmg.txt "frame 37 of stream 0 is corrupt"
'

test_expect_success 'the repository is healthy at the end' '
	cd project &&
	dits fsck >../fsck3.out &&
	assert_eq ok "$(cat ../fsck3.out)"
'

test_done
