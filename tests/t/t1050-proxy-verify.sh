#!/usr/bin/env bash
# A post engineer checks, before handing a project to an editor, that every
# proxy will attach in the editor's NLE: `dits proxy verify` compares each
# master with its proxy, rule by rule (size, pixel aspect, rate, frame count,
# timecode, drop-frame, reel, audio streams, layouts, the audio timeline),
# on the sources a studio brings: DCI 8K, 4:3 open gate, drop-frame MXF with
# eight channels and a reel, two audio streams, audio with a hole, audio
# that starts before the picture, a phone clip with a variable frame rate.
. "$(dirname "$0")/lib.sh"

if ! command -v ffmpeg >/dev/null 2>&1 || ! command -v ffprobe >/dev/null 2>&1; then
	test_skip 'proxy verify' 'ffmpeg is not installed'
	test_done
fi

cd "$TRASH" || exit 1
unset DITS_PROXY_AUTO

V () { # OUT SIZE RATE FRAMES ARGS...
	local out=$1 size=$2 rate=$3 frames=$4
	shift 4
	ffmpeg -nostdin -v error -y -f lavfi -i "testsrc2=s=$size:r=$rate" \
		-f lavfi -i "sine=f=440:r=48000:d=4" -frames:v "$frames" "$@" "$out"
}

# row FILE RULE: the master, proxy and verdict columns of RULE's row for the file's table
row () {
	awk -v f="$2" -v r="$3" '
		/^[^ ]/ { cur = ($0 ~ "^" f ": ") }
		cur && substr($0, 3, 26) == sprintf("%-26s", r) { print substr($0, 30) }' "$1" | tr -s ' '
}

test_expect_success 'setup: a studio'"'"'s sources, committed, proxies made' '
	dits init project >/dev/null &&
	cd project &&
	dits config proxy.auto false &&
	V dci8k.mov 8192x4320 24 3 -c:v prores_ks -profile:v 0 -qscale:v 31 -ac 2 -c:a pcm_s24le \
		-timecode 01:00:00:00 -metadata:s:v:0 reel_name=A001C001 &&
	V opengate.mov 2880x2160 25 3 -c:v prores_ks -profile:v 0 -qscale:v 31 -ac 2 -c:a pcm_s16le &&
	V df8ch.mxf 640x360 30000/1001 30 -c:v mpeg2video -ac 8 -c:a pcm_s24le \
		-timecode "01:00:00;00" -metadata reel_name=B002 &&
	ffmpeg -nostdin -v error -y -f lavfi -i testsrc2=s=640x360:r=60000/1001 -f lavfi -i sine=r=48000:d=2 \
		-f lavfi -i sine=f=880:r=44100:d=2 -frames:v 60 -map 0:v -map 1:a -map 2:a -ac:a:0 2 \
		-c:v prores_ks -profile:v 0 -c:a pcm_s16le -timecode "10:00:00;00" twostreams.mov &&
	V gap.mkv 320x180 25 50 -c:v prores_ks -profile:v 0 -af "aselect='"'"'not(between(t,1,1.5))'"'"'" \
		-ac 2 -c:a pcm_s16le &&
	ffmpeg -nostdin -v error -y -itsoffset 0.5 -f lavfi -i testsrc2=s=320x180:r=25 \
		-f lavfi -i sine=r=48000:d=3 -frames:v 50 -c:v prores_ks -profile:v 0 -ac 2 -c:a pcm_s16le lead.mkv &&
	ffmpeg -nostdin -v error -y -f lavfi -i testsrc2=s=320x180:r=30 -f lavfi -i sine=r=48000:d=3 -frames:v 60 \
		-vf "settb=1/90000,setpts='"'"'(N/30.2+if(eq(mod(N,3),1),0.004,0))/TB'"'"'" -fps_mode passthrough \
		-enc_time_base:v 1/90000 -video_track_timescale 90000 -c:v prores_ks -profile:v 0 -ac 2 \
		-c:a pcm_s16le phone.mov &&
	dits add . >/dev/null &&
	dits commit -m "Day 1" >/dev/null &&
	DITS_NO_PROGRESS=1 dits proxy generate >../generate.out 2>&1 &&
	assert_eq 7 "$(grep -c ": ready" ../generate.out)"
'

test_expect_success 'every proxy passes every rule, masters and proxies probed from the store' '
	cd project &&
	dits proxy verify >../verify.out &&
	assert_file_has ../verify.out "7 proxies pass, 0 fail, 0 without a ready proxy" &&
	for f in dci8k.mov opengate.mov df8ch.mxf twostreams.mov gap.mkv lead.mkv phone.mov; do
		assert_file_has ../verify.out "^$f: pass \(master probed, proxy probed\)$" || return 1
	done &&
	assert_file_lacks ../verify.out "FAIL"
'

test_expect_success 'frame size: integer divisors, the DCI box for wide masters' '
	assert_eq "8192x4320 (proxy 2048x1080) 2048x1080 pass" "$(row verify.out dci8k.mov "frame size")" &&
	assert_eq "2880x2160 (proxy 1440x1080) 1440x1080 pass" "$(row verify.out opengate.mov "frame size")" &&
	assert_eq "4/3 4/3 pass" "$(row verify.out opengate.mov "display aspect")" &&
	cd project &&
	dits proxy export dci8k.mov ../dci8k.proxy.mov &&
	ffprobe -v error -select_streams v:0 -show_entries stream=width,height -of csv=p=0 ../dci8k.proxy.mov >../size.out &&
	assert_eq "2048,1080" "$(cat ../size.out)"
'

test_expect_success 'timecode, drop-frame and reel carried over (also as ffprobe reads the proxy)' '
	assert_eq "01:00:00;00 01:00:00;00 pass" "$(row verify.out df8ch.mxf "start timecode")" &&
	assert_eq "yes yes pass" "$(row verify.out df8ch.mxf "drop-frame")" &&
	assert_eq "B002 B002 pass" "$(row verify.out df8ch.mxf "reel name")" &&
	assert_eq "A001C001 A001C001 pass" "$(row verify.out dci8k.mov "reel name")" &&
	ffprobe -v error -show_entries stream_tags=reel_name,timecode -of default=nw=1 dci8k.proxy.mov >reel.out &&
	assert_file_has reel.out "TAG:reel_name=A001C001" &&
	assert_file_has reel.out "TAG:timecode=01:00:00:00"
'

test_expect_success 'audio: eight channels, two streams, layouts and rates kept' '
	assert_eq "8 8 pass" "$(row verify.out df8ch.mxf "audio stream 1 channels")" &&
	assert_eq "2 2 pass" "$(row verify.out twostreams.mov "audio streams")" &&
	assert_eq "stereo stereo pass" "$(row verify.out twostreams.mov "audio stream 1 layout")" &&
	assert_eq "mono mono pass" "$(row verify.out twostreams.mov "audio stream 2 layout")" &&
	assert_eq "44100 44100 pass" "$(row verify.out twostreams.mov "audio stream 2 sample rate")"
'

test_expect_success 'the audio timeline: a hole kept as silence, audio before the picture cut' '
	row verify.out gap.mkv "audio stream 1 holes" >holes.out &&
	assert_match "^0.51[0-9] s from 1.00[0-9] s none pass$" "$(cat holes.out)" &&
	row verify.out lead.mkv "audio stream 1 start" >lead.out &&
	assert_match "^-0.5[0-9]* s \+0.000000 s pass$" "$(cat lead.out)" &&
	cd project &&
	dits proxy status gap.mkv >../gapstatus.out &&
	assert_file_has ../gapstatus.out "filled with silence"
'

test_expect_success 'VFR: conformed to 30 fps, the count within a frame' '
	assert_eq "30/1 (conformed from VFR) 30/1 pass" "$(row verify.out phone.mov "frame rate")"
'

test_expect_success 'JSON: one object per file with every rule' '
	cd project &&
	dits proxy verify --json df8ch.mxf >../verify.json &&
	assert_eq true "$(json_raw pass <../verify.json)" &&
	assert_eq probed "$(json_str master_facts <../verify.json)" &&
	grep -o "\"rule\":" ../verify.json | wc -l >../rules.count &&
	assert_eq 17 "$(tr -d " " <../rules.count)"
'

test_expect_success 'a master without a ready proxy fails verify, named' '
	cd project &&
	V late.mov 320x180 25 25 -c:v prores_ks -profile:v 0 -ac 2 -c:a pcm_s16le &&
	dits add late.mov >/dev/null && dits commit -m late >/dev/null &&
	test_expect_code 1 dits proxy verify >../late.out &&
	assert_file_has ../late.out "^late.mov: no ready proxy \(none\)$" &&
	assert_file_has ../late.out "7 proxies pass, 0 fail, 1 without a ready proxy" &&
	dits proxy verify dci8k.mov gap.mkv >/dev/null
'

test_expect_success 'bad arguments: an untracked path is an error, an unknown option a usage error' '
	cd project &&
	test_expect_code 1 dits proxy verify nothere.mov 2>../err.out &&
	assert_file_has ../err.out "nothere.mov: not tracked by dits" &&
	test_expect_code 2 dits proxy verify --strict 2>../usage.out &&
	assert_file_has ../usage.out "usage: dits proxy verify"
'

test_done
