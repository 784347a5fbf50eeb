#!/usr/bin/env bash
# Handing a checkout to an editor: `dits proxy handoff` writes, for each
# NLE, what it needs to open the masters with their proxies attached.
# Every document is well-formed XML (or a tab-separated ALE) with the
# elements its format requires, every path in it names a file that
# exists, every timecode and frame count is the one worked out by hand
# below, and the proxies it writes are the stored proxies' bytes.
# FCPXML_DTD=/path/to/FCPXMLv1_10.dtd also validates the FCPXML against
# Apple's DTD (not shipped here).
#
# The two clips:
#   A001/A001C001.mov    29.97 fps (30000/1001), drop-frame 01:00:00;00,
#                        reel A001, 30 frames, 2 channels
#     01:00:00;00 = frame 107892 (108000 labels less 2 dropped in each of
#     54 minutes not a multiple of ten); FCPXML start 107892 * 1001/30000 s
#     = 8999991/2500s; duration 30 * 1001/30000 s = 1001/1000s; the end
#     label is frame 107922 = 01:00:01;00.
#   B roll/take #2.mov   25 fps, 10:00:00:00 = frame 900000 = 36000s,
#                        50 frames = 2s, no reel tag (the reel is the file
#                        name's stem, "take #2"), 1 channel
. "$(dirname "$0")/lib.sh"

if ! command -v ffmpeg >/dev/null 2>&1 || ! command -v xmllint >/dev/null 2>&1; then
	test_skip 'NLE handoff' 'ffmpeg or xmllint is not installed'
	test_done
fi

cd "$TRASH" || exit 1
unset DITS_PROXY_AUTO

# xp FILE XPATH: the string value of XPATH in FILE
xp () {
	xmllint --xpath "string($2)" "$1"
}

# url_path URL: the absolute path of a file:// or file://localhost URL, percent-decoded
url_path () {
	_p=${1#file://}
	_p=${_p#localhost}
	printf '%b' "$(printf '%s' "$_p" | sed 's/%\([0-9A-Fa-f][0-9A-Fa-f]\)/\\x\1/g')"
}

# ale_field FILE ROW COLUMN_NAME: a Data row's value (row 1 = the first) by the Column line's name
ale_field () {
	tr -d '\r' <"$1" | awk -F '\t' -v row="$2" -v name="$3" '
		sec == "Column" && NF > 1 { for (i = 1; i <= NF; i++) col[$i] = i }
		/^(Heading|Column|Data)$/ { sec = $0; n = 0; next }
		sec == "Data" && NF > 1 { n++; if (n == row) print $col[name] }'
}

test_expect_success 'setup: two camera clips committed, their proxies made' '
	dits init show >/dev/null &&
	cd show &&
	mkdir -p A001 "B roll" &&
	ffmpeg -nostdin -v error -y -f lavfi -i "testsrc2=size=320x180:rate=30000/1001:duration=1" \
		-f lavfi -i "sine=sample_rate=48000:duration=1" -c:v mpeg4 -c:a pcm_s16le -ac 2 \
		-timecode "01:00:00;00" -metadata:s:v:0 reel_name=A001 A001/A001C001.mov &&
	ffmpeg -nostdin -v error -y -f lavfi -i "testsrc2=size=320x240:rate=25:duration=2" \
		-f lavfi -i "sine=sample_rate=48000:duration=2" -c:v mpeg4 -c:a pcm_s16le -ac 1 \
		-timecode "10:00:00:00" "B roll/take #2.mov" &&
	dits add . >/dev/null &&
	dits commit -m "Day 1" >/dev/null &&
	dits proxy wait --timeout 120 >/dev/null &&
	dits proxy export A001/A001C001.mov ../p1.mov &&
	dits proxy export "B roll/take #2.mov" ../p2.mov
'

test_expect_success 'fcpx: an FCPXML 1.10 event, each asset with its original and proxy media' '
	cd show &&
	dits proxy handoff --nle fcpx ../fcpx >../fcpx.out &&
	f=../fcpx/handoff.fcpxml &&
	assert_file_has ../fcpx.out "^$TRASH/fcpx/handoff.fcpxml\$" &&
	xmllint --noout "$f" &&
	if [ -n "${FCPXML_DTD:-}" ]; then
		xmllint --noout --dtdvalid "$FCPXML_DTD" "$f"
	fi &&
	assert_eq 1.10 "$(xp "$f" "/fcpxml/@version")" &&
	assert_eq "resources library" "$(xp "$f" "concat(name(/fcpxml/*[1]), \" \", name(/fcpxml/*[2]))")" &&
	assert_eq 2 "$(xp "$f" "count(/fcpxml/*)")" &&
	assert_eq 2 "$(xp "$f" "count(/fcpxml/resources/asset)")" &&
	assert_eq 2 "$(xp "$f" "count(/fcpxml/resources/format)")" &&
	a="/fcpxml/resources/asset[@name=\"A001C001\"]" &&
	b="/fcpxml/resources/asset[@name=\"take #2\"]" &&
	assert_eq "8999991/2500s" "$(xp "$f" "$a/@start")" &&
	assert_eq "1001/1000s" "$(xp "$f" "$a/@duration")" &&
	assert_eq "36000s" "$(xp "$f" "$b/@start")" &&
	assert_eq "2s" "$(xp "$f" "$b/@duration")" &&
	assert_eq "1 1 2 1 48000" "$(xp "$f" "concat($a/@hasVideo, \" \", $a/@hasAudio, \" \", $a/@audioChannels, \" \", $a/@audioSources, \" \", $a/@audioRate)")" &&
	assert_eq 1 "$(xp "$f" "$b/@audioChannels")" &&
	fa=$(xp "$f" "$a/@format") && fb=$(xp "$f" "$b/@format") &&
	assert_eq "1001/30000s 320 180" "$(xp "$f" "concat(//format[@id=\"$fa\"]/@frameDuration, \" \", //format[@id=\"$fa\"]/@width, \" \", //format[@id=\"$fa\"]/@height)")" &&
	assert_eq "1/25s 320 240" "$(xp "$f" "concat(//format[@id=\"$fb\"]/@frameDuration, \" \", //format[@id=\"$fb\"]/@width, \" \", //format[@id=\"$fb\"]/@height)")" &&
	for x in "$a" "$b"; do
		assert_eq "media-rep media-rep" "$(xp "$f" "concat(name($x/*[1]), \" \", name($x/*[2]))")" &&
		assert_eq 2 "$(xp "$f" "count($x/*)")" &&
		assert_eq "original-media proxy-media" "$(xp "$f" "concat($x/media-rep[1]/@kind, \" \", $x/media-rep[2]/@kind)")" || return 1
	done &&
	assert_eq "file://$TRASH/show/B%20roll/take%20%232.mov" "$(xp "$f" "$b/media-rep[1]/@src")" &&
	assert_eq "$TRASH/show/A001/A001C001.mov" "$(url_path "$(xp "$f" "$a/media-rep[1]/@src")")" &&
	assert_eq "$TRASH/show/B roll/take #2.mov" "$(url_path "$(xp "$f" "$b/media-rep[1]/@src")")" &&
	assert_eq "$TRASH/fcpx/A001/Proxy/A001C001.mov" "$(url_path "$(xp "$f" "$a/media-rep[2]/@src")")" &&
	assert_eq "$TRASH/fcpx/B roll/Proxy/take #2.mov" "$(url_path "$(xp "$f" "$b/media-rep[2]/@src")")" &&
	assert_files_eq ../p1.mov "$(url_path "$(xp "$f" "$a/media-rep[2]/@src")")" &&
	assert_files_eq ../p2.mov "$(url_path "$(xp "$f" "$b/media-rep[2]/@src")")" &&
	e="/fcpxml/library/event[@name=\"show\"]" &&
	assert_eq 2 "$(xp "$f" "count($e/asset-clip)")" &&
	ca="$e/asset-clip[@ref=\"$(xp "$f" "$a/@id")\"]" &&
	cb="$e/asset-clip[@ref=\"$(xp "$f" "$b/@id")\"]" &&
	assert_eq "A001C001 8999991/2500s 1001/1000s DF" "$(xp "$f" "concat($ca/@name, \" \", $ca/@start, \" \", $ca/@duration, \" \", $ca/@tcFormat)")" &&
	assert_eq "take #2 36000s 2s NDF" "$(xp "$f" "concat($cb/@name, \" \", $cb/@start, \" \", $cb/@duration, \" \", $cb/@tcFormat)")"
'

test_expect_success 'premiere: FCP7 XML (xmeml 4) of the masters, timecode, reel and rate' '
	cd show &&
	dits proxy handoff --nle premiere ../prem >/dev/null &&
	f=../prem/handoff.xml &&
	xmllint --noout "$f" &&
	assert_eq 4 "$(xp "$f" "/xmeml/@version")" &&
	assert_eq show "$(xp "$f" "/xmeml/bin/name")" &&
	assert_eq 2 "$(xp "$f" "count(/xmeml/bin/children/clip)")" &&
	a="/xmeml/bin/children/clip[name=\"A001C001\"]" &&
	b="/xmeml/bin/children/clip[name=\"take #2\"]" &&
	fa="$a/media/video/track/clipitem/file" &&
	fb="$b/media/video/track/clipitem/file" &&
	assert_eq "30 30 TRUE" "$(xp "$f" "concat($a/duration, \" \", $a/rate/timebase, \" \", $a/rate/ntsc)")" &&
	assert_eq "50 25 FALSE" "$(xp "$f" "concat($b/duration, \" \", $b/rate/timebase, \" \", $b/rate/ntsc)")" &&
	assert_eq "01:00:00;00 107892 DF A001 30 TRUE" "$(xp "$f" "concat($fa/timecode/string, \" \", $fa/timecode/frame, \" \", $fa/timecode/displayformat, \" \", $fa/timecode/reel/name, \" \", $fa/timecode/rate/timebase, \" \", $fa/timecode/rate/ntsc)")" &&
	assert_eq "10:00:00:00 900000 NDF take #2 25 FALSE" "$(xp "$f" "concat($fb/timecode/string, \" \", $fb/timecode/frame, \" \", $fb/timecode/displayformat, \" \", $fb/timecode/reel/name, \" \", $fb/timecode/rate/timebase, \" \", $fb/timecode/rate/ntsc)")" &&
	assert_eq "320 180 30" "$(xp "$f" "concat($fa/media/video/samplecharacteristics/width, \" \", $fa/media/video/samplecharacteristics/height, \" \", $fa/duration)")" &&
	assert_eq "48000 2" "$(xp "$f" "concat($fa/media/audio/samplecharacteristics/samplerate, \" \", $fa/media/audio/channelcount)")" &&
	assert_eq "A001C001.mov take #2.mov" "$(xp "$f" "concat($fa/name, \" \", $fb/name)")" &&
	assert_eq "file://localhost$TRASH/show/B%20roll/take%20%232.mov" "$(xp "$f" "$fb/pathurl")" &&
	assert_files_eq A001/A001C001.mov "$(url_path "$(xp "$f" "$fa/pathurl")")" &&
	assert_files_eq "B roll/take #2.mov" "$(url_path "$(xp "$f" "$fb/pathurl")")" &&
	assert_eq "2 1" "$(xp "$f" "concat(count($a/media/audio/track), \" \", count($b/media/audio/track))")" &&
	assert_eq "file-1" "$(xp "$f" "$a/media/audio/track[2]/clipitem/file/@id")" &&
	assert_eq "$(xp "$f" "$fa/@id")" "$(xp "$f" "$a/media/audio/track[1]/clipitem/file/@id")" &&
	assert_files_eq ../p1.mov ../prem/A001/Proxy/A001C001.mov &&
	assert_files_eq ../p2.mov "../prem/B roll/Proxy/take #2.mov"
'

test_expect_success 'avid: one ALE per frame rate, heading, columns and every value' '
	cd show &&
	dits proxy handoff --nle avid ../avid >../avid.out &&
	a=../avid/handoff-29.97.ale && b=../avid/handoff-25.ale &&
	assert_file_has ../avid.out "handoff-29.97.ale\$" &&
	assert_file_has ../avid.out "handoff-25.ale\$" &&
	tr -d "\r" <"$a" >../a.txt &&
	assert_eq "$(printf "Heading\nFIELD_DELIM\tTABS\nVIDEO_FORMAT\tCUSTOM\nAUDIO_FORMAT\t48khz\nFPS\t29.97\n\nColumn\nName\tTape\tStart\tEnd\tDuration\tTracks\tAudio SR\tSource File\tProxy File\n\nData")" "$(sed -n 1,10p ../a.txt)" &&
	assert_lines 11 ../a.txt &&
	assert_eq 11 "$(grep -c "$(printf "\r")\$" "$a")" &&
	assert_eq "FPS	25" "$(tr -d "\r" <"$b" | grep ^FPS)" &&
	assert_eq "A001C001|A001|01:00:00;00|01:00:01;00|00:00:01;00|VA1A2|48000" \
		"$(for c in Name Tape Start End Duration Tracks "Audio SR"; do ale_field "$a" 1 "$c"; done | paste -sd "|")" &&
	assert_eq "take #2|take #2|10:00:00:00|10:00:02:00|00:00:02:00|VA1|48000" \
		"$(for c in Name Tape Start End Duration Tracks "Audio SR"; do ale_field "$b" 1 "$c"; done | paste -sd "|")" &&
	assert_eq "$TRASH/show/A001/A001C001.mov" "$(ale_field "$a" 1 "Source File")" &&
	assert_eq "$TRASH/show/B roll/take #2.mov" "$(ale_field "$b" 1 "Source File")" &&
	assert_files_eq ../p1.mov "$(ale_field "$a" 1 "Proxy File")" &&
	assert_files_eq ../p2.mov "$(ale_field "$b" 1 "Proxy File")"
'

test_expect_success 'resolve: Proxy/ beside each relative path (the worktree itself too), the proxies bytes' '
	cd show &&
	dits proxy handoff --nle resolve ../res >../res.out &&
	assert_eq "$TRASH/res/A001/Proxy/A001C001.mov" "$(sed -n 1p ../res.out)" &&
	assert_eq "$TRASH/res/B roll/Proxy/take #2.mov" "$(sed -n 2p ../res.out)" &&
	assert_file_has ../res.out "^2 clips handed off for resolve in $TRASH/res\$" &&
	assert_files_eq ../p1.mov ../res/A001/Proxy/A001C001.mov &&
	assert_files_eq ../p2.mov "../res/B roll/Proxy/take #2.mov" &&
	assert_eq "A001 B roll" "$(ls ../res | paste -sd " ")" &&
	dits proxy handoff --nle resolve . >/dev/null &&
	assert_files_eq ../p1.mov A001/Proxy/A001C001.mov &&
	assert_files_eq ../p2.mov "B roll/Proxy/take #2.mov" &&
	dits status --json >../st.json &&
	assert_file_lacks ../st.json "modified"
'

test_expect_success 'a master without a ready proxy: named on stderr and in --json, exit 1, the others written' '
	cd show &&
	rm -rf A001/Proxy "B roll/Proxy" &&
	mkdir -p C001 &&
	ffmpeg -nostdin -v error -y -f lavfi -i "testsrc2=size=320x180:rate=25:duration=1" -c:v mpeg4 C001/late.mov &&
	dits add C001/late.mov >/dev/null &&
	DITS_PROXY_AUTO=0 dits commit -m "late" >/dev/null &&
	test_expect_code 1 dits proxy handoff --nle fcpx --json ../miss >../miss.json 2>../miss.err &&
	assert_file_has ../miss.err "^dits: warning: C001/late.mov: left out: no proxy_1080p variant\$" &&
	assert_file_has ../miss.err "^dits: error: 1 video file without a ready proxy left out" &&
	assert_lines 2 ../miss.err &&
	assert_eq "C001/late.mov" "$(sed "s/.*\"missing\"://" ../miss.json | json_str path)" &&
	assert_eq "no proxy_1080p variant" "$(json_str why <../miss.json)" &&
	assert_eq fcpx "$(json_str nle <../miss.json)" &&
	xmllint --noout ../miss/handoff.fcpxml &&
	assert_eq 2 "$(xp ../miss/handoff.fcpxml "count(//asset)")" &&
	assert_eq 0 "$(xp ../miss/handoff.fcpxml "count(//asset[@name=\"late\"])")" &&
	assert_exists ../miss/A001/Proxy/A001C001.mov &&
	assert_missing ../miss/C001
'

test_expect_success 'two masters that would share a proxy name: the second is left out, saying why' '
	cd show &&
	ffmpeg -nostdin -v error -y -f lavfi -i "testsrc2=size=320x180:rate=25:duration=1" -c:v mpeg4 A001/A001C001.mp4 &&
	dits add A001/A001C001.mp4 >/dev/null &&
	DITS_PROXY_AUTO=0 dits commit -m "same name" >/dev/null &&
	dits proxy generate --no-extras A001/A001C001.mp4 >/dev/null &&
	test_expect_code 1 dits proxy handoff --nle resolve ../dup >/dev/null 2>../dup.err &&
	assert_file_has ../dup.err "^dits: warning: A001/A001C001.mp4: left out: its proxy.s name is taken by A001/A001C001.mov.s" &&
	assert_files_eq ../p1.mov ../dup/A001/Proxy/A001C001.mov
'

test_expect_success 'usage errors exit 2 before anything is written' '
	cd show &&
	test_expect_code 2 dits proxy handoff --nle lightworks ../bad 2>../bad.err &&
	assert_eq "dits: error: proxy handoff: --nle takes resolve, premiere, fcpx or avid, not '\''lightworks'\''" "$(sed -n 1p ../bad.err)" &&
	assert_match "^usage: dits proxy handoff --nle " "$(sed -n 2p ../bad.err)" &&
	test_expect_code 2 dits proxy handoff ../bad 2>../bad2.err &&
	assert_file_has ../bad2.err "which NLE" &&
	test_expect_code 2 dits proxy handoff --nle avid 2>../bad3.err &&
	test_expect_code 2 dits proxy handoff --nle avid ../bad extra 2>../bad4.err &&
	test_expect_code 2 dits proxy handoff --nle avid --bogus ../bad 2>../bad5.err &&
	assert_missing ../bad
'

test_done
