#!/usr/bin/env bash
# An editor hands over the same kind of cut from four NLEs: a CMX3600 EDL,
# FCP7 XML, FCPXML and OTIO, each with cuts, a dissolve, a speed change, a
# reverse or a freeze, at 23.976, 25 or 29.97 drop-frame. `dits render`
# conforms each from the masters; every output frame is checked against
# the frame the timeline names, worked out by hand. Then `--verify-only`
# checks an existing render against a timeline, and catches an EDL whose
# event is one frame off.
. "$(dirname "$0")/lib.sh"

if ! command -v ffmpeg >/dev/null 2>&1 || ! command -v ffprobe >/dev/null 2>&1; then
	test_skip 'render formats' 'ffmpeg is not installed'
	test_done
fi

cd "$TRASH" || exit 1

# A master whose frame N has luma $2 + 2*N (flat grey) and chroma $3: a decoded frame names itself.
gray_clip () { # OUT LUMA0 CB RATE FRAMES TC REEL
	ffmpeg -nostdin -v error -y -f lavfi -i "nullsrc=s=320x180:r=$4,format=yuv422p10le,geq=lum='($2+2*N)*4':cb=$3*4:cr=512" \
		-f lavfi -i "sine=f=440:r=48000:d=5" -frames:v "$5" -c:v prores_ks -profile:v 3 -ac 2 -c:a pcm_s24le \
		-timecode "$6" -metadata:s:v:0 reel_name="$7" "$1"
}

# Expected lumas, one line per record frame: "lo hi" (equal for a frame of one source).
# show L0 FROM STEP COUNT: COUNT frames of a master of luma L0 + 2N, N = FROM, FROM + STEP, ...
show () {
	k=0; while [ $k -lt "$4" ]; do
		y=$(($1 + 2 * ($2 + $3 * k))); echo "$y $y"; k=$((k + 1))
	done
}
# mix L0 OUT_FROM IN_FROM COUNT: a dissolve from N = OUT_FROM.. to N = IN_FROM.. of one master, both forward
mix () {
	k=0; while [ $k -lt "$4" ]; do
		a=$(($1 + 2 * ($2 + k))); b=$(($1 + 2 * ($3 + k)))
		if [ $a -le $b ]; then echo "$a $b"; else echo "$b $a"; fi; k=$((k + 1))
	done
}

# check_render OUT EXPECTED TC: frame count, record timecode and every frame's luma
check_render () {
	n=$(wc -l <"$2" | tr -d " ") &&
	assert_eq "$n" "$(ffprobe -v error -count_packets -select_streams v:0 -show_entries stream=nb_read_packets -of csv=p=0 "$1")" "$1 frames" &&
	ffprobe -v error -select_streams v:0 -show_entries stream_tags=timecode -of default=nw=1 "$1" >tc.out &&
	assert_file_has tc.out "TAG:timecode=$3" &&
	frame_lumas "$1" >lumas.out &&
	assert_eq "$n" "$(wc -l <lumas.out | tr -d " ")" "$1 frames decoded" &&
	paste -d " " lumas.out "$2" >pairs.out &&
	k=0 && while read -r y lo hi; do
		assert_le $((lo - 1)) "$y" "$1 frame $k luma $y, want $lo..$hi" &&
		assert_le "$y" $((hi + 1)) "$1 frame $k luma $y, want $lo..$hi" || return 1
		k=$((k + 1))
	done <pairs.out
}

test_expect_success 'setup: masters at 23.976, 25 and 29.97 drop-frame, committed' '
	dits init project >/dev/null &&
	cd project &&
	dits config proxy.auto false &&
	mkdir -p media &&
	gray_clip media/M24.mov 20 100 24000/1001 90 01:00:00:00 M24 &&
	gray_clip media/M25.mov 30 160 25 90 10:00:00:00 M25 &&
	gray_clip media/M30.mov 16 60 30000/1001 100 "01:00:00;00" M30 &&
	dits add media >/dev/null && dits commit -m "masters" >/dev/null
'

# 25 fps, M25 starts at 10:00:00:00 (N = 0), luma 30 + 2N
test_expect_success 'CMX3600 EDL at 25: cuts, a dissolve, M2 at 2x, reverse, freeze' '
	cat >cut.edl <<-\EOF &&
	TITLE: FORMATS EDL
	FCM: NON-DROP FRAME

	001  M25      V     C        10:00:00:10 10:00:00:20 01:00:00:00 01:00:00:10
	* FROM CLIP NAME: M25.mov

	002  M25      V     C        10:00:01:00 10:00:01:10 01:00:00:10 01:00:00:20
	* FROM CLIP NAME: M25.mov

	003  M25      V     C        10:00:01:10 10:00:01:10 01:00:00:20 01:00:00:20
	003  M25      V     D    010 10:00:02:00 10:00:02:20 01:00:00:20 01:00:01:15
	* FROM CLIP NAME: M25.mov
	* TO CLIP NAME: M25.mov

	004  M25      V     C        10:00:00:00 10:00:00:20 01:00:01:15 01:00:02:00
	M2   M25       050.0                10:00:00:00
	* FROM CLIP NAME: M25.mov

	005  M25      V     C        10:00:03:00 10:00:03:10 01:00:02:00 01:00:02:10
	M2   M25      -025.0                10:00:03:00
	* FROM CLIP NAME: M25.mov

	006  M25      V     C        10:00:01:20 10:00:01:21 01:00:02:10 01:00:02:15
	M2   M25       000.0                10:00:01:20
	* FROM CLIP NAME: M25.mov
	EOF
	{
		show 30 10 1 10 && show 30 25 1 10 && mix 30 35 50 10 && show 30 60 1 10 &&
		show 30 0 2 10 && show 30 84 -1 10 && show 30 45 0 5
	} >edl.want &&
	cd project &&
	dits render ../cut.edl --rate 25 --target 320x180 --codec ffv1 --verify --out ../edl.mov >../edl.out &&
	assert_file_has ../edl.out "^verified: " &&
	assert_file_lacks ../edl.out "FAIL" &&
	cd .. &&
	check_render edl.mov edl.want 01:00:00:00
'

test_expect_success '--verify-only: the right EDL passes, one event a frame off fails naming it' '
	cd project &&
	dits render ../cut.edl --rate 25 --verify-only ../edl.mov >../vo.out &&
	assert_file_has ../vo.out "^verified ../edl.mov: " &&
	assert_file_lacks ../vo.out "FAIL" &&
	sed "s/^002  M25      V     C        10:00:01:00 10:00:01:10/002  M25      V     C        10:00:01:01 10:00:01:11/" \
		../cut.edl >../shifted.edl &&
	assert_file_has ../shifted.edl "10:00:01:01 10:00:01:11" &&
	test_expect_code 1 dits render ../shifted.edl --rate 25 --verify-only ../edl.mov >../vs.out 2>../vs.err &&
	assert_one_line_error ../vs.err "shifted.edl" "event 2" &&
	assert_file_has ../vs.out "^  2 +M25.mov +[0-9]+ +[0-9]+ .*FAIL$" &&
	test_expect_code 1 dits render ../shifted.edl --rate 25 --verify-only ../edl.mov --json >../vs.json 2>/dev/null &&
	assert_eq false "$(json_raw pass <../vs.json)" &&
	assert_file_has ../vs.json "\"failed\":\[\{\"event\":2," &&
	test_expect_code 1 dits render ../cut.edl --rate 25 --verify-only ../nothing.mov 2>../vn.err &&
	assert_one_line_error ../vn.err "nothing.mov" &&
	test_expect_code 1 dits render ../cut.edl --rate 25 --target 640x360 --verify-only ../edl.mov 2>../vt.err &&
	assert_one_line_error ../vt.err "edl.mov" "320x180" &&
	dits status --json >../st.json &&
	assert_eq true "$(json_raw clean <../st.json)" &&
	assert_missing renders
'

# 23.976, M24 starts at 01:00:00:00 (N = 0), luma 20 + 2N; a centred dissolve of 5 + 5 frames at 20
test_expect_success 'OTIO at 23.976: cuts, a dissolve, LinearTimeWarp 2 and -1, a freeze' '
	cat >cut.otio <<-\EOF &&
	{"OTIO_SCHEMA": "Timeline.1", "name": "formats otio",
	 "global_start_time": {"OTIO_SCHEMA": "RationalTime.1", "rate": 23.976023976023978, "value": 86400},
	 "tracks": {"OTIO_SCHEMA": "Stack.1", "children": [{"OTIO_SCHEMA": "Track.1", "kind": "Video", "children": [
	  {"OTIO_SCHEMA": "Clip.1", "name": "one",
	   "source_range": {"OTIO_SCHEMA": "TimeRange.1", "start_time": {"OTIO_SCHEMA": "RationalTime.1", "rate": 23.976023976023978, "value": 86410},
	    "duration": {"OTIO_SCHEMA": "RationalTime.1", "rate": 23.976023976023978, "value": 10}},
	   "media_reference": {"OTIO_SCHEMA": "ExternalReference.1",
	    "target_url": "file:///Volumes/RAID/proj/media/M24.mov"}},
	  {"OTIO_SCHEMA": "Clip.1", "name": "two",
	   "source_range": {"OTIO_SCHEMA": "TimeRange.1", "start_time": {"OTIO_SCHEMA": "RationalTime.1", "rate": 23.976023976023978, "value": 86430},
	    "duration": {"OTIO_SCHEMA": "RationalTime.1", "rate": 23.976023976023978, "value": 10}},
	   "media_reference": {"OTIO_SCHEMA": "ExternalReference.1",
	    "target_url": "file:///Volumes/RAID/proj/media/M24.mov"}},
	  {"OTIO_SCHEMA": "Transition.1", "name": "Cross Dissolve", "transition_type": "SMPTE_Dissolve",
	   "in_offset": {"OTIO_SCHEMA": "RationalTime.1", "rate": 23.976023976023978, "value": 5}, "out_offset": {"OTIO_SCHEMA": "RationalTime.1", "rate": 23.976023976023978, "value": 5}},
	  {"OTIO_SCHEMA": "Clip.1", "name": "three",
	   "source_range": {"OTIO_SCHEMA": "TimeRange.1", "start_time": {"OTIO_SCHEMA": "RationalTime.1", "rate": 23.976023976023978, "value": 86460},
	    "duration": {"OTIO_SCHEMA": "RationalTime.1", "rate": 23.976023976023978, "value": 15}},
	   "media_reference": {"OTIO_SCHEMA": "ExternalReference.1",
	    "target_url": "file:///Volumes/RAID/proj/media/M24.mov"}},
	  {"OTIO_SCHEMA": "Clip.1", "name": "fast",
	   "source_range": {"OTIO_SCHEMA": "TimeRange.1", "start_time": {"OTIO_SCHEMA": "RationalTime.1", "rate": 23.976023976023978, "value": 86400},
	    "duration": {"OTIO_SCHEMA": "RationalTime.1", "rate": 23.976023976023978, "value": 10}},
	   "effects": [{"OTIO_SCHEMA": "LinearTimeWarp.1", "name": "", "effect_name": "LinearTimeWarp", "time_scalar": 2.0}],
	   "media_reference": {"OTIO_SCHEMA": "ExternalReference.1",
	    "target_url": "file:///Volumes/RAID/proj/media/M24.mov"}},
	  {"OTIO_SCHEMA": "Clip.1", "name": "back",
	   "source_range": {"OTIO_SCHEMA": "TimeRange.1", "start_time": {"OTIO_SCHEMA": "RationalTime.1", "rate": 23.976023976023978, "value": 86470},
	    "duration": {"OTIO_SCHEMA": "RationalTime.1", "rate": 23.976023976023978, "value": 10}},
	   "effects": [{"OTIO_SCHEMA": "LinearTimeWarp.1", "name": "", "effect_name": "LinearTimeWarp", "time_scalar": -1.0}],
	   "media_reference": {"OTIO_SCHEMA": "ExternalReference.1",
	    "target_url": "file:///Volumes/RAID/proj/media/M24.mov"}},
	  {"OTIO_SCHEMA": "Clip.1", "name": "hold",
	   "source_range": {"OTIO_SCHEMA": "TimeRange.1", "start_time": {"OTIO_SCHEMA": "RationalTime.1", "rate": 23.976023976023978, "value": 86450},
	    "duration": {"OTIO_SCHEMA": "RationalTime.1", "rate": 23.976023976023978, "value": 5}},
	   "effects": [{"OTIO_SCHEMA": "FreezeFrame.1", "name": "", "effect_name": "FreezeFrame", "time_scalar": 0.0}],
	   "media_reference": {"OTIO_SCHEMA": "ExternalReference.1",
	    "target_url": "file:///Volumes/RAID/proj/media/M24.mov"}}]}]}}
	EOF
	{
		show 20 10 1 10 && show 20 30 1 5 && mix 20 35 55 10 && show 20 65 1 10 &&
		show 20 0 2 10 && show 20 79 -1 10 && show 20 50 0 5
	} >otio.want &&
	cd project &&
	dits render ../cut.otio --target 320x180 --codec ffv1 --verify --out ../otio.mov >../otio.out &&
	assert_file_has ../otio.out "^verified: " &&
	assert_file_lacks ../otio.out "FAIL" &&
	cd .. &&
	check_render otio.mov otio.want 01:00:00:00
'

# 23.976 again, M24 from an FCP7 XML: the clips either side of the dissolve end and start at -1
test_expect_success 'FCP7 XML at 23.976: cuts, a dissolve, a time remap at 200% and reversed' '
	cat >cut.xml <<-\EOF &&
	<?xml version="1.0" encoding="UTF-8"?>
	<xmeml version="4">
	<sequence id="sequence-1"><name>formats xml</name><duration>60</duration><rate><timebase>24</timebase><ntsc>TRUE</ntsc></rate>
	<timecode><rate><timebase>24</timebase><ntsc>TRUE</ntsc></rate><string>01:00:00:00</string><frame>86400</frame><displayformat>NDF</displayformat></timecode>
	<media><video><track>
	<clipitem id="clipitem-1"><name>one</name><enabled>TRUE</enabled><rate><timebase>24</timebase><ntsc>TRUE</ntsc></rate><start>0</start><end>10</end><in>10</in><out>20</out>
	 <file id="file-1"><name>M24.mov</name><pathurl>file://localhost/Volumes/RAID/proj/media/M24.mov</pathurl><rate><timebase>24</timebase><ntsc>TRUE</ntsc></rate><duration>90</duration><timecode><rate><timebase>24</timebase><ntsc>TRUE</ntsc></rate><string>01:00:00:00</string><frame>86400</frame><displayformat>NDF</displayformat></timecode><media><video><samplecharacteristics><width>320</width><height>180</height></samplecharacteristics></video></media></file></clipitem>
	<clipitem id="clipitem-2"><name>two</name><enabled>TRUE</enabled><rate><timebase>24</timebase><ntsc>TRUE</ntsc></rate><start>10</start><end>-1</end><in>30</in><out>45</out>
	 <file id="file-1"/></clipitem>
	<transitionitem><start>15</start><end>25</end><alignment>center</alignment><rate><timebase>24</timebase><ntsc>TRUE</ntsc></rate><effect><name>Cross Dissolve</name><effectid>Cross Dissolve</effectid><effectcategory>Dissolve</effectcategory><effecttype>transition</effecttype><mediatype>video</mediatype></effect></transitionitem>
	<clipitem id="clipitem-3"><name>three</name><enabled>TRUE</enabled><rate><timebase>24</timebase><ntsc>TRUE</ntsc></rate><start>-1</start><end>35</end><in>55</in><out>75</out>
	 <file id="file-1"/></clipitem>
	<clipitem id="clipitem-4"><name>fast</name><enabled>TRUE</enabled><rate><timebase>24</timebase><ntsc>TRUE</ntsc></rate><start>35</start><end>45</end><in>0</in><out>10</out>
	 <file id="file-1"/>
	 <filter><effect><name>Time Remap</name><effectid>timeremap</effectid><effecttype>motion</effecttype><mediatype>video</mediatype>
	  <parameter><parameterid>variablespeed</parameterid><name>variablespeed</name><value>0</value></parameter>
	  <parameter><parameterid>speed</parameterid><name>speed</name><value>200</value></parameter>
	  <parameter><parameterid>reverse</parameterid><name>reverse</name><value>FALSE</value></parameter>
	 </effect></filter></clipitem>
	<clipitem id="clipitem-5"><name>back</name><enabled>TRUE</enabled><rate><timebase>24</timebase><ntsc>TRUE</ntsc></rate><start>45</start><end>55</end><in>70</in><out>80</out>
	 <file id="file-1"/>
	 <filter><effect><name>Time Remap</name><effectid>timeremap</effectid><effecttype>motion</effecttype><mediatype>video</mediatype>
	  <parameter><parameterid>variablespeed</parameterid><name>variablespeed</name><value>0</value></parameter>
	  <parameter><parameterid>speed</parameterid><name>speed</name><value>100</value></parameter>
	  <parameter><parameterid>reverse</parameterid><name>reverse</name><value>TRUE</value></parameter>
	 </effect></filter></clipitem>
	<clipitem id="clipitem-6"><name>last</name><enabled>TRUE</enabled><rate><timebase>24</timebase><ntsc>TRUE</ntsc></rate><start>55</start><end>60</end><in>50</in><out>55</out>
	 <file id="file-1"/></clipitem>
	</track></video></media></sequence></xmeml>
	EOF
	{
		show 20 10 1 10 && show 20 30 1 5 && mix 20 35 55 10 && show 20 65 1 10 &&
		show 20 0 2 10 && show 20 79 -1 10 && show 20 50 1 5
	} >xml.want &&
	cd project &&
	dits render ../cut.xml --target 320x180 --codec ffv1 --verify --out ../xml.mov >../xml.out &&
	assert_file_has ../xml.out "^verified: " &&
	assert_file_lacks ../xml.out "FAIL" &&
	cd .. &&
	check_render xml.mov xml.want 01:00:00:00
'

# 29.97 drop-frame, M30 starts at 01:00:00;00 (frame 107892, N = 0), luma 16 + 2N; times are frames * 1001/30000 s
test_expect_success 'FCPXML 1.10 at 29.97 DF: cuts, a dissolve, linear timeMaps at 2 and -1' '
	cat >cut.fcpxml <<-\EOF &&
	<?xml version="1.0" encoding="UTF-8"?>
	<fcpxml version="1.10">
	<resources>
	<format id="r1" name="FFVideoFormat1080p2997" frameDuration="1001/30000s" width="320" height="180"/>
	<asset id="r2" name="M30" start="107999892/30000s" duration="100100/30000s" hasVideo="1" hasAudio="1" format="r1" audioSources="1" audioChannels="2" audioRate="48000">
	 <media-rep kind="original-media" src="file:///Volumes/RAID/proj/media/M30.mov"/></asset>
	<effect id="r3" name="Cross Dissolve" uid="FxPlug:4731E73A-8DAC-4113-9A30-AE85B1761265"/>
	</resources>
	<library><event name="formats"><project name="formats fcpxml">
	<sequence format="r1" duration="60060/30000s" tcStart="107999892/30000s" tcFormat="DF" audioLayout="stereo" audioRate="48k"><spine>
	<asset-clip name="one" ref="r2" offset="107999892/30000s" start="108009902/30000s" duration="10010/30000s" tcFormat="DF" audioRole="dialogue"></asset-clip>
	<asset-clip name="two" ref="r2" offset="108009902/30000s" start="108029922/30000s" duration="10010/30000s" tcFormat="DF" audioRole="dialogue"></asset-clip>
	<transition name="Cross Dissolve" offset="108014907/30000s" duration="10010/30000s"><filter-video ref="r3" name="Cross Dissolve"/></transition>
	<asset-clip name="three" ref="r2" offset="108019912/30000s" start="108059952/30000s" duration="15015/30000s" tcFormat="DF" audioRole="dialogue"></asset-clip>
	<asset-clip name="fast" ref="r2" offset="108034927/30000s" start="107999892/30000s" duration="10010/30000s" tcFormat="DF" audioRole="dialogue"><timeMap><timept time="107999892/30000s" value="107999892/30000s" interp="linear"/><timept time="108009902/30000s" value="108019912/30000s" interp="linear"/></timeMap></asset-clip>
	<asset-clip name="back" ref="r2" offset="108044937/30000s" start="108069962/30000s" duration="10010/30000s" tcFormat="DF" audioRole="dialogue"><timeMap><timept time="108069962/30000s" value="108078971/30000s" interp="linear"/><timept time="108079972/30000s" value="108068961/30000s" interp="linear"/></timeMap></asset-clip>
	<asset-clip name="last" ref="r2" offset="108054947/30000s" start="108049942/30000s" duration="5005/30000s" tcFormat="DF" audioRole="dialogue"></asset-clip>
	</spine></sequence></project></event></library></fcpxml>
	EOF
	{
		show 16 10 1 10 && show 16 30 1 5 && mix 16 35 55 10 && show 16 65 1 10 &&
		show 16 0 2 10 && show 16 79 -1 10 && show 16 50 1 5
	} >fcpxml.want &&
	cd project &&
	dits render ../cut.fcpxml --target 320x180 --codec ffv1 --verify --out ../fcpxml.mov >../fcpxml.out &&
	assert_file_has ../fcpxml.out "^verified: " &&
	assert_file_lacks ../fcpxml.out "FAIL" &&
	cd .. &&
	check_render fcpxml.mov fcpxml.want "01:00:00;00"
'

test_done
