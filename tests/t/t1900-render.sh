#!/usr/bin/env bash
# The editor cut on proxies; finishing needs the same cut from the
# originals. `dits render` reads the NLE's EDL, finds each clip's master in
# the repository (by file name, path or reel and timecode), conforms it from
# the chunk store frame-accurately, and commits renders/NAME.mov.
. "$(dirname "$0")/lib.sh"

if ! command -v ffmpeg >/dev/null 2>&1 || ! command -v ffprobe >/dev/null 2>&1; then
	test_skip 'render' 'ffmpeg is not installed'
	test_done
fi

cd "$TRASH" || exit 1
unset DITS_PROXY_AUTO # the render step below wants automatic proxies; setup turns them off

test_expect_success 'setup: two camera masters committed, an EDL from the cutting room' '
	dits init project >/dev/null &&
	cd project &&
	dits config proxy.auto false &&
	mkdir -p media/day1 &&
	gray_master media/day1/A001C001.mov 20 3 100 01:00:00:00 A001C001 440 &&
	gray_master media/day1/B002C001.mov 130 2 160 02:00:00:00 B002C001 880 &&
	dits add media >/dev/null && dits commit -m "day 1" >/dev/null &&
	cat >../cut1.edl <<-\EOF
	TITLE: CUT 1
	FCM: NON-DROP FRAME

	001  A001C001 V     C        01:00:00:10 01:00:01:10 01:00:00:00 01:00:01:00
	* FROM CLIP NAME: A001C001.mov

	002  B002C001 V     C        02:00:00:05 02:00:00:20 01:00:01:00 01:00:01:15
	* FROM CLIP NAME: B002C001.mov
	EOF
'

test_expect_success 'render conforms the EDL from the masters and commits renders/cut1.mov' '
	cd project &&
	dits render ../cut1.edl --rate 25 --target 320x180 --codec ffv1 --json >../render.json &&
	assert_eq 40 "$(json_num frames <../render.json)" &&
	assert_eq renders/cut1.mov "$(json_str output <../render.json)" &&
	assert_exists renders/cut1.mov &&
	dits log --oneline >../log.out &&
	assert_file_has ../log.out "Render ../cut1.edl" &&
	dits status --json >../st.json &&
	assert_eq true "$(json_raw clean <../st.json)"
'

test_expect_success 'every frame is the master frame the EDL names, with the record timecode' '
	cd project &&
	frame_lumas renders/cut1.mov >../lumas &&
	assert_eq 40 "$(wc -l <../lumas | tr -d " ")" &&
	k=0 && while read -r y; do
		if [ $k -lt 25 ]; then want=$((20 + 3 * (10 + k))); else want=$((130 + 2 * (5 + k - 25))); fi
		d=$((y - want)); [ $d -lt 0 ] && d=$((-d))
		assert_le $d 1 "frame $k luma $y, want $want" || return 1
		k=$((k + 1))
	done <../lumas &&
	ffprobe -v error -show_entries stream_tags=timecode -of default=nw=1 renders/cut1.mov >../tc.out &&
	assert_file_has ../tc.out "TAG:timecode=01:00:00:00"
'

test_expect_success '--verify: a ProRes HQ render compared frame by frame with the masters' '
	cd project &&
	dits render ../cut1.edl --rate 25 --target 640x360 --codec prores_hq --verify --out ../cut1_hq.mov >../verify.out &&
	assert_file_has ../verify.out "^verified: " &&
	assert_file_has ../verify.out "^  2 +B002C001.mov +[0-9]+ +[0-9]+ +(exact|PSNR [0-9.]+ dB) +pass$" &&
	assert_file_lacks ../verify.out "FAIL" &&
	assert_eq 40 "$(ffprobe -v error -count_packets -select_streams v:0 -show_entries stream=nb_read_packets -of csv=p=0 ../cut1_hq.mov)" &&
	ffprobe -v error -select_streams v:0 -show_entries stream=codec_tag_string,width -of csv=p=0 ../cut1_hq.mov >../hq.out &&
	assert_eq "apch,640" "$(cat ../hq.out)"
'

test_expect_success 'OTIO: a clip found by the editor'"'"'s path, another by reel and timecode alone' '
	cd project &&
	mkdir -p media/day2 &&
	gray_master media/day2/XYZ_0001.mov 40 2 60 05:00:00:00 C005 660 &&
	dits add media/day2 >/dev/null && dits commit -m "day 2" >/dev/null &&
	cat >../cut2.otio <<-\EOF &&
	{"OTIO_SCHEMA": "Timeline.1", "name": "cut2",
	 "global_start_time": {"OTIO_SCHEMA": "RationalTime.1", "rate": 25, "value": 90000},
	 "tracks": {"OTIO_SCHEMA": "Stack.1", "children": [{"OTIO_SCHEMA": "Track.1", "kind": "Video", "children": [
	  {"OTIO_SCHEMA": "Clip.1", "name": "shot 1",
	   "source_range": {"OTIO_SCHEMA": "TimeRange.1",
	    "start_time": {"OTIO_SCHEMA": "RationalTime.1", "rate": 25, "value": 90005},
	    "duration": {"OTIO_SCHEMA": "RationalTime.1", "rate": 25, "value": 10}},
	   "media_reference": {"OTIO_SCHEMA": "ExternalReference.1",
	    "target_url": "file:///Volumes/RAID/proj/media/day1/A001C001.mov"}}]}]}}
	EOF
	dits render ../cut2.otio --target 320x180 --codec ffv1 --out ../cut2.mov --json >../cut2.json &&
	assert_eq 10 "$(json_num frames <../cut2.json)" &&
	assert_file_has ../cut2.json "\"master\":\"media/day1/A001C001.mov\",\"by\":\"path\"" &&
	frame_lumas ../cut2.mov | head -1 >../first &&
	assert_eq 35 "$(cat ../first)" &&
	cat >../reel.edl <<-\EOF &&
	TITLE: REEL
	FCM: NON-DROP FRAME

	001  C005     V     C        05:00:00:20 05:00:01:00 01:00:00:00 01:00:00:05
	EOF
	dits render ../reel.edl --rate 25 --target 320x180 --codec ffv1 --out ../reel.mov --json >../reel.json &&
	assert_file_has ../reel.json "\"master\":\"media/day2/XYZ_0001.mov\",\"by\":\"reel\+timecode\"" &&
	frame_lumas ../reel.mov >../reel.lumas &&
	assert_eq "80 82 84 86 88" "$(tr "\n" " " <../reel.lumas | sed "s/ $//")"
'

test_expect_success 'a committed render gets its proxy like any master' '
	cd project &&
	dits config --unset proxy.auto &&
	cp ../cut1.edl ../cut3.edl &&
	dits render ../cut3.edl --rate 25 --target 320x180 --codec prores_hq >../cut3.out 2>&1 &&
	assert_file_has ../cut3.out "queued 1 proxy job" &&
	dits proxy wait --timeout 120 >/dev/null &&
	dits proxy status renders/cut3.mov >../cut3.status &&
	assert_file_has ../cut3.status "^ready +renders/cut3.mov" &&
	dits config proxy.auto false
'

test_expect_success 'a clip that names no master: one error listing it, nothing written' '
	cd project &&
	cat >../bad.edl <<-\EOF &&
	TITLE: BAD
	FCM: NON-DROP FRAME

	001  A001C001 V     C        01:00:00:10 01:00:01:10 01:00:00:00 01:00:01:00
	* FROM CLIP NAME: A001C001.mov

	002  C003     V     C        03:00:00:00 03:00:01:00 01:00:01:00 01:00:02:00
	* FROM CLIP NAME: C003C001.mov
	EOF
	test_expect_code 1 dits render ../bad.edl --rate 25 --target 320x180 2>../bad.err &&
	assert_one_line_error ../bad.err "bad.edl" "event 2" "C003" &&
	assert_missing renders/bad.mov &&
	ls -a renders >../renders.ls &&
	assert_file_lacks ../renders.ls "tmp"
'

test_expect_success 'a source range outside its master is refused, naming the event' '
	cd project &&
	cat >../long.edl <<-\EOF &&
	TITLE: LONG
	FCM: NON-DROP FRAME

	001  A001C001 V     C        01:00:01:00 01:00:04:00 01:00:00:00 01:00:03:00
	* FROM CLIP NAME: A001C001.mov
	EOF
	test_expect_code 1 dits render ../long.edl --rate 25 --target 320x180 2>../long.err &&
	assert_one_line_error ../long.err "event 1" "outside" &&
	assert_missing renders/long.mov
'

test_expect_success 'bad arguments are usage errors' '
	cd project &&
	test_expect_code 2 dits render ../cut1.edl --codec h265 2>/dev/null &&
	test_expect_code 2 dits render 2>/dev/null &&
	test_expect_code 2 dits render ../cut1.edl --target huge 2>/dev/null &&
	test_expect_code 1 dits render ../missing.edl 2>../missing.err &&
	assert_one_line_error ../missing.err "missing.edl"
'

test_done
