/*
 * OpenTimelineIO JSON (src/media/timeline_otio.c): every sample in
 * tests/fixtures/timelines/otio against values worked out from its text;
 * exact rates, speeds, centred transitions moved to the incoming clip,
 * references, and the one-line errors for bad input. Also the format
 * dispatch of dits_timeline_parse and dits_timeline_parse_rate.
 *
 * "Events" are the items of the tracks numbered from 1 in file order
 * (clips, gaps, transitions, nested stacks).
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "error.h"
#include "fsutil.h"
#include "timeline_internal.h"

#include "check.h"

static int parse_text(const char *text, const char *name, dits_timeline *t)
{
	memset(t, 0, sizeof(*t));
	int rc = media_tl_parse_otio(text, strlen(text), name, t);
	if (rc == 0)
		rc = media_tl_finish(t, name);
	if (rc < 0)
		dits_timeline_free(t);
	return rc;
}

static char *read_fixture(const char *dir, const char *file)
{
	const char *src = getenv("SRCDIR");
	char *path = dits_strfmt("%s/tests/fixtures/timelines/%s/%s", src ? src : ".", dir, file);
	dits_buf b = DITS_BUF_INIT;
	REQUIRE(path && dits_read_file(path, &b) == 0 && dits_buf_cstr(&b) == 0);
	free(path);
	return (char *)b.data;
}

static int parse_fixture(const char *file, dits_timeline *t)
{
	char *text = read_fixture("otio", file);
	int rc = parse_text(text, file, t);
	if (rc < 0)
		fprintf(stderr, "  %s: %s\n", file, dits_error_last());
	free(text);
	return rc;
}

static const dits_tl_clip *clip_of(const dits_timeline *t, int kind, int track, int ev)
{
	for (size_t i = 0; i < t->nclips; i++)
		if (t->clips[i].kind == kind && t->clips[i].track == track && t->clips[i].event == ev)
			return &t->clips[i];
	fprintf(stderr, "  no clip kind %d track %d event %d\n", kind, track, ev);
	return NULL;
}

static bool str_is(const char *got, const char *want)
{
	if (got == want || (got && want && !strcmp(got, want)))
		return true;
	fprintf(stderr, "  got \"%s\", want \"%s\"\n", got ? got : "(null)", want ? want : "(null)");
	return false;
}

static bool q_is(AVRational q, int num, int den)
{
	if (q.num == num && q.den == den)
		return true;
	fprintf(stderr, "  got %d/%d, want %d/%d\n", q.num, q.den, num, den);
	return false;
}

/* A clip's record range, source, dissolve, and its media's names. */
static void check_clip(const dits_timeline *t, int kind, int track, int ev, int64_t rec_in, int64_t rec_out,
                       int64_t src_in, int64_t dissolve, const char *name, const char *media_name, const char *path)
{
	const dits_tl_clip *c = clip_of(t, kind, track, ev);
	CHECK(c != NULL);
	if (!c)
		return;
	CHECK_EQ_U64(c->rec_in, rec_in);
	CHECK_EQ_U64(c->rec_out, rec_out);
	CHECK_EQ_U64(c->src_in, src_in);
	CHECK_EQ_U64(c->dissolve, dissolve);
	CHECK(str_is(c->name, name));
	REQUIRE(c->media >= 0 && (size_t)c->media < t->nmedia);
	CHECK(str_is(t->media[c->media].name, media_name));
	CHECK(str_is(t->media[c->media].path, path));
}

static void check_skipped(const dits_timeline *t, const char *line)
{
	bool found = false;
	for (size_t i = 0; i < t->nskipped; i++)
		found |= !strcmp(t->skipped[i], line);
	if (!found)
		fprintf(stderr, "  skipped has no \"%s\" (%zu lines)\n", line, t->nskipped);
	CHECK(found);
}

static void test_simple_cut(void)
{
	dits_timeline t;
	CHECK_RC(parse_fixture("simple_cut.otio", &t), 0);
	CHECK(str_is(t.name, "Figure 1 - Simple Cut List"));
	CHECK(q_is(t.rate, 24, 1));
	CHECK_EQ_U64(t.nclips, 4);
	CHECK_EQ_U64(t.rec_start, 0);
	check_clip(&t, DITS_TL_VIDEO, 0, 1, 0, 3, 3, 0, "Clip-001", "Media-001", "/folder/titles.mov");
	/* 3 + 6 = 9, 9 + 4 = 13 */
	check_clip(&t, DITS_TL_VIDEO, 0, 3, 9, 13, 0, 0, "Clip-003", "Media-003", "/folder/punchline.mov");
	/* no source_range: the available range 100 + 6 */
	check_clip(&t, DITS_TL_VIDEO, 0, 4, 13, 19, 100, 0, "Clip-004", "Media-004", "/folder/credits.mov");
	const dits_tl_clip *c = clip_of(&t, DITS_TL_VIDEO, 0, 4);
	CHECK(c && q_is(t.media[c->media].rate, 24, 1) && t.media[c->media].tc_start == 100);
	CHECK(c && q_is(c->speed, 1, 1) && q_is(c->src_rate, 24, 1) && c->enabled);
	CHECK_EQ_U64(t.duration, 19);
	CHECK_EQ_U64(t.nskipped, 0);
	dits_timeline_free(&t);
}

static void test_transition(void)
{
	dits_timeline t;
	CHECK_RC(parse_fixture("transition.otio", &t), 0);
	CHECK_EQ_U64(t.nclips, 4);
	/* the cut at 3 + 6 = 9, in_offset 2, out_offset 3: Clip-002 ends at 9 - 2 = 7,
	   Clip-003 starts there on source 3 - 2 = 1 with a dissolve of 2 + 3 = 5 */
	check_clip(&t, DITS_TL_VIDEO, 0, 2, 3, 7, 2, 0, "Clip-002", "Media-002", "/folder/wind-up.mov");
	check_clip(&t, DITS_TL_VIDEO, 0, 4, 7, 13, 1, 5, "Clip-003", "Media-003", "/folder/punchline.mov");
	check_clip(&t, DITS_TL_VIDEO, 0, 5, 13, 19, 100, 0, "Clip-004", "Media-004", "/folder/credits.mov");
	dits_timeline_free(&t);
}

static void test_transition_test(void)
{
	dits_timeline t;
	CHECK_RC(parse_fixture("transition_test.otio", &t), 0);
	CHECK_EQ_U64(t.nclips, 3);
	/* t0 before A: from black over its out_offset, 10 */
	check_clip(&t, DITS_TL_VIDEO, 0, 2, 0, 40, 0, 10, "A", "A", NULL);
	/* t1 at 50, 10 + 10: A ends at 40, B starts there 10 frames earlier in its source */
	check_clip(&t, DITS_TL_VIDEO, 0, 4, 40, 100, -10, 20, "B", "B", NULL);
	check_clip(&t, DITS_TL_VIDEO, 0, 5, 100, 150, 0, 0, "C", "C", NULL);
	/* t3 after C: a fade out, not in the model */
	check_skipped(&t, "1 fade out (event 6)");
	dits_timeline_free(&t);
}

static void test_clip_example(void)
{
	dits_timeline t;
	CHECK_RC(parse_fixture("clip_example.otio", &t), 0);
	CHECK_EQ_U64(t.nclips, 1);
	/* after Gap A (8 frames); MissingReference: the clip's name */
	check_clip(&t, DITS_TL_VIDEO, 0, 2, 8, 11, 3, 0, "Clip-001", "Clip-001", NULL);
	check_skipped(&t, "1 fade out (event 3)");
	dits_timeline_free(&t);
}

static void test_multitrack(void)
{
	dits_timeline t;
	CHECK_RC(parse_fixture("multitrack.otio", &t), 0);
	CHECK_EQ_U64(t.nclips, 5);
	CHECK_EQ_U64(t.nvideo_tracks, 3);
	/* 720 + 83 = 803, + 722 = 1525 */
	check_clip(&t, DITS_TL_VIDEO, 0, 3, 803, 1525, 0, 0, "out-b (loop)-HD.mp4", "out-b (loop)-HD.mp4", NULL);
	/* 1525 + 432 = 1957, + 720 = 2677 */
	check_clip(&t, DITS_TL_VIDEO, 0, 5, 1957, 2677, 0, 0, "brokchrd (loop)-HD.mp4", "brokchrd (loop)-HD.mp4",
	           NULL);
	check_clip(&t, DITS_TL_VIDEO, 1, 8, 482, 962, 0, 0, "t-hawk (loop)-HD.mp4", "t-hawk (loop)-HD.mp4", NULL);
	check_clip(&t, DITS_TL_VIDEO, 2, 11, 1198, 1838, 0, 0, "KOLL-HD.mp4", "KOLL-HD.mp4", NULL);
	CHECK_EQ_U64(t.duration, 2677);
	dits_timeline_free(&t);
}

static void test_preflattened(void)
{
	dits_timeline t;
	CHECK_RC(parse_fixture("preflattened.otio", &t), 0);
	CHECK_EQ_U64(t.nclips, 5);
	CHECK_EQ_U64(t.nvideo_tracks, 1);
	/* 482 + 480 = 962, source 159 for 236 */
	check_clip(&t, DITS_TL_VIDEO, 0, 3, 962, 1198, 159, 0, "out-b (loop)-HD.mp4", "out-b (loop)-HD.mp4", NULL);
	/* 1198 + 640 + 119 (Filler 2) = 1957 */
	check_clip(&t, DITS_TL_VIDEO, 0, 6, 1957, 2677, 0, 0, "brokchrd (loop)-HD.mp4", "brokchrd (loop)-HD.mp4",
	           NULL);
	dits_timeline_free(&t);
}

static void test_multiple_track(void)
{
	dits_timeline t;
	CHECK_RC(parse_fixture("multiple_track.otio", &t), 0);
	CHECK_EQ_U64(t.nclips, 5);
	CHECK_EQ_U64(t.nmedia, 4); /* Clip-003 and Clip-005 share Media-003 */
	check_clip(&t, DITS_TL_VIDEO, 0, 1, 0, 3, 3, 0, "Clip-001", "triangle.mp4", "/folder/titles.mov");
	/* 3 + 6 + 4 (gap) = 13 */
	check_clip(&t, DITS_TL_VIDEO, 0, 4, 13, 19, 100, 0, "Clip-004", "Media-004", "/folder/credits.mov");
	check_clip(&t, DITS_TL_VIDEO, 1, 6, 7, 16, 100, 0, "Clip-003", "Media-003", "/folder/punchline.mov");
	/* Track-003's source_range starts at -7 for 16: its clip at 0 shows at 7, until 16 */
	check_clip(&t, DITS_TL_VIDEO, 2, 7, 7, 16, 100, 0, "Clip-005", "Media-003", "/folder/punchline.mov");
	dits_timeline_free(&t);
}

static void test_nested(void)
{
	dits_timeline t;
	CHECK_RC(parse_fixture("nested_example.otio", &t), 0);
	CHECK(str_is(t.name, "My Timeline"));
	CHECK_EQ_U64(t.nclips, 4);
	/* 238 + 31 (Nested Stack 1) = 269 */
	check_clip(&t, DITS_TL_VIDEO, 0, 3, 269, 302, 101, 0, "Normal Clip 2", "Normal Clip 2", NULL);
	/* 302 + 29 (Nested Stack 2) = 331, + 63 = 394, + 4 (Nested Track) = 398, + 238 = 636 */
	check_clip(&t, DITS_TL_VIDEO, 0, 5, 331, 394, 179, 0, "Normal Clip 3", "Normal Clip 3", NULL);
	check_clip(&t, DITS_TL_VIDEO, 0, 7, 398, 636, 135, 0, "Normal Clip 4", "Normal Clip 4", NULL);
	CHECK_EQ_U64(t.nskipped, 2);
	check_skipped(&t, "2 nested stacks (events 2, 4)");
	check_skipped(&t, "1 nested track (event 6)");
	dits_timeline_free(&t);
}

static void test_screening(void)
{
	dits_timeline t;
	CHECK_RC(parse_fixture("screening_example.otio", &t), 0);
	CHECK(str_is(t.name, "Example_Screening.01"));
	CHECK_EQ_U64(t.nclips, 9);
	/* the track's source_range starts at -86243: the record start, 00:59:53:11 at 24 */
	CHECK_EQ_U64(t.rec_start, 86243);
	check_clip(&t, DITS_TL_VIDEO, 0, 4, 109, 224, 86641, 0, "ZZ100_504C (LAY1)", "ZZ100_504C (LAY1)", NULL);
	const dits_tl_clip *c = clip_of(&t, DITS_TL_VIDEO, 0, 8);
	CHECK(c && str_is(t.media[c->media].reel, "ZZ100_51"));
	check_clip(&t, DITS_TL_VIDEO, 0, 9, 792, 1049, 86501, 0, "ZZ100_510B (LAY1)", "ZZ100_510B (LAY1)", NULL);
	dits_timeline_free(&t);
}

static void test_premiere(void)
{
	dits_timeline t;
	CHECK_RC(parse_fixture("premiere_example.otio", &t), 0);
	CHECK(str_is(t.name, "sc01_sh010_layerA"));
	CHECK(q_is(t.rate, 30, 1));
	CHECK_EQ_U64(t.nvideo_tracks, 4);
	CHECK_EQ_U64(t.naudio_tracks, 4);
	CHECK_EQ_U64(t.nclips, 12);
	/* 50 frames at 15 fps after a 536-frame gap: 100 frames at 30, source at half speed */
	const dits_tl_clip *c = clip_of(&t, DITS_TL_VIDEO, 0, 2);
	CHECK(c && c->rec_in == 536 && c->rec_out == 636 && q_is(c->src_rate, 15, 1) && q_is(c->speed, 1, 2));
	/* file://localhost/D%3a/media/... */
	check_clip(&t, DITS_TL_VIDEO, 0, 2, 536, 636, 0, 0, "sc01_sh010_anim.mov", "sc01_sh010_anim.mov",
	           "D:/media/sc01_sh010_anim.mov");
	/* track 4: gap 956, clip 208 frames to 1164; dissolve in 12, out 13:
	   the outgoing ends at 1164 - 12 = 1152, the incoming starts there on source 18 - 12 = 6 */
	check_clip(&t, DITS_TL_VIDEO, 3, 14, 956, 1152, 133, 0, "sc01_master_layerA_sh030_temp.mov",
	           "sc01_master_layerA_sh030_temp.mov", "D:/media/sc01_master_layerA_sh030_temp.mov");
	check_clip(&t, DITS_TL_VIDEO, 3, 16, 1152, 1246, 6, 25, "sc01_sh010_anim.mov", "sc01_sh010_anim.mov",
	           "D:/media/sc01_sh010_anim.mov");
	/* the media's available range starts at 99 */
	c = clip_of(&t, DITS_TL_VIDEO, 3, 14);
	CHECK(c && t.media[c->media].tc_start == 99);
	/* audio track 2: gap 335, 170 frames of source 8497 */
	check_clip(&t, DITS_TL_AUDIO, 1, 22, 335, 505, 8497, 0, "sc01_placeholder.wav", "sc01_placeholder.wav",
	           "D:/media/sc01_placeholder.wav");
	c = clip_of(&t, DITS_TL_AUDIO, 1, 22);
	CHECK(c && c->src_channel == -1);
	check_skipped(&t, "2 nested stacks (events 10, 24)");
	check_skipped(&t, "1 fade out (event 8)");
	check_skipped(&t, "1 generator (event 12)");
	dits_timeline_free(&t);
}

static void test_big_int(void)
{
	dits_timeline t;
	/* metadata with Inf, -Infinity, NaN and integers past 64 bits */
	CHECK_RC(parse_fixture("big_int.otio", &t), 0);
	CHECK(str_is(t.name, "testdata"));
	CHECK_EQ_U64(t.nclips, 1);
	check_clip(&t, DITS_TL_VIDEO, 0, 1, 0, 24, 1, 0, "black", "black", "black.mov");
	dits_timeline_free(&t);
}

#define RT(v, r) "{\"OTIO_SCHEMA\": \"RationalTime.1\", \"value\": " #v ", \"rate\": " #r "}"
#define TR(s, d, r) "{\"OTIO_SCHEMA\": \"TimeRange.1\", \"start_time\": " RT(s, r) ", \"duration\": " RT(d, r) "}"
#define TIMELINE(gst, tracks)                                                                          \
	"{\"OTIO_SCHEMA\": \"Timeline.1\", \"name\": \"t\", \"global_start_time\": " gst ",\n"              \
	"\"tracks\": {\"OTIO_SCHEMA\": \"Stack.1\", \"children\": [" tracks "]}}"
#define TRACK(kind, en, items) \
	"{\"OTIO_SCHEMA\": \"Track.1\", \"kind\": \"" kind "\", \"enabled\": " #en ", \"children\": [" items "]}"
#define CLIP(name, range, fx) \
	"{\"OTIO_SCHEMA\": \"Clip.1\", \"name\": \"" name "\", \"source_range\": " range ", \"effects\": [" fx "]}"

static void test_rates_and_speeds(void)
{
	dits_timeline t;
	const char *ntsc = TIMELINE(RT(86313, 23.976),
	                            TRACK("Video", true, CLIP("a", TR(3600, 48, 23.976), "")
	                                  "," CLIP("b", TR(100, 100, 47.952), "")));
	CHECK_RC(parse_text(ntsc, "ntsc.otio", &t), 0);
	CHECK(q_is(t.rate, 24000, 1001));
	CHECK_EQ_U64(t.rec_start, 86313);
	const dits_tl_clip *c = clip_of(&t, DITS_TL_VIDEO, 0, 1);
	CHECK(c && c->rec_in == 0 && c->rec_out == 48 && c->src_in == 3600 && q_is(c->src_rate, 24000, 1001));
	/* 100 frames at 47.952 are 50 at 23.976, two source frames a record frame */
	c = clip_of(&t, DITS_TL_VIDEO, 0, 2);
	CHECK(c && c->rec_in == 48 && c->rec_out == 98 && q_is(c->src_rate, 48000, 1001) && q_is(c->speed, 2, 1));
	dits_timeline_free(&t);

	const char *df = TIMELINE(RT(0, 29.97), TRACK("Video", true, CLIP("a", TR(0, 30, 59.94), "")));
	CHECK_RC(parse_text(df, "df.otio", &t), 0);
	CHECK(q_is(t.rate, 30000, 1001));
	c = clip_of(&t, DITS_TL_VIDEO, 0, 1);
	CHECK(c && c->rec_out == 15 && q_is(c->src_rate, 60000, 1001) && q_is(c->speed, 2, 1));
	dits_timeline_free(&t);

	const char *fx = TIMELINE(RT(0, 25),
	    TRACK("Video", true,
	          CLIP("fast", TR(10, 20, 25), "{\"OTIO_SCHEMA\": \"LinearTimeWarp.1\", \"time_scalar\": 2.0}") ","
	          CLIP("rev", TR(100, 10, 25), "{\"OTIO_SCHEMA\": \"LinearTimeWarp.1\", \"time_scalar\": -1.0}") ","
	          CLIP("hold", TR(50, 5, 25), "{\"OTIO_SCHEMA\": \"FreezeFrame.1\", \"time_scalar\": 0.0}") ","
	          CLIP("blur", TR(0, 5, 25), "{\"OTIO_SCHEMA\": \"Effect.1\", \"effect_name\": \"Blur\"}"))
	    "," TRACK("Audio", false, CLIP("snd", TR(0, 25, 25), "")));
	CHECK_RC(parse_text(fx, "fx.otio", &t), 0);
	CHECK(q_is(t.rate, 25, 1));
	c = clip_of(&t, DITS_TL_VIDEO, 0, 1);
	CHECK(c && q_is(c->speed, 2, 1) && c->src_in == 10 && c->rec_out == 20);
	/* reverse over 10 record frames from source 100: the first shown is 100 + 9 */
	c = clip_of(&t, DITS_TL_VIDEO, 0, 2);
	CHECK(c && q_is(c->speed, -1, 1) && c->src_in == 109 && c->rec_in == 20 && c->rec_out == 30);
	c = clip_of(&t, DITS_TL_VIDEO, 0, 3);
	CHECK(c && q_is(c->speed, 0, 1) && c->src_in == 50);
	c = clip_of(&t, DITS_TL_VIDEO, 0, 4);
	CHECK(c && q_is(c->speed, 1, 1) && c->enabled);
	check_skipped(&t, "1 effect (event 4)");
	/* a disabled track's clips are disabled */
	c = clip_of(&t, DITS_TL_AUDIO, 0, 5);
	CHECK(c && !c->enabled && c->rec_out == 25);
	dits_timeline_free(&t);
}

static void test_references(void)
{
	dits_timeline t;
	const char *refs = TIMELINE("null", TRACK("Video", true,
	    "{\"OTIO_SCHEMA\": \"Clip.2\", \"name\": \"c\", \"source_range\": " TR(0, 10, 24) ","
	    " \"metadata\": {\"cmx_3600\": {\"reel\": \"A001\"}},"
	    " \"active_media_reference_key\": \"HIGH\", \"media_references\": {"
	    "  \"DEFAULT_MEDIA\": {\"OTIO_SCHEMA\": \"ExternalReference.1\", \"target_url\": \"file:///proxy.mov\"},"
	    "  \"HIGH\": {\"OTIO_SCHEMA\": \"ExternalReference.1\", \"name\": \"A001C003\","
	    "           \"target_url\": \"file:///Volumes/My%20Drive/A001C003.mov\","
	    "           \"available_range\": " TR(86400, 240, 24) "}}}"));
	CHECK_RC(parse_text(refs, "refs.otio", &t), 0);
	CHECK_EQ_U64(t.nmedia, 1);
	const dits_tl_media *m = &t.media[0];
	CHECK(str_is(m->name, "A001C003") && str_is(m->path, "/Volumes/My Drive/A001C003.mov") &&
	      str_is(m->reel, "A001"));
	CHECK(q_is(m->rate, 24, 1) && m->tc_start == 86400);
	dits_timeline_free(&t);
}

static void check_error(const char *text, const char *want)
{
	dits_timeline t;
	CHECK_RC(parse_text(text, "bad.otio", &t), DITS_EINVALID);
	const char *msg = dits_error_last();
	if (!strstr(msg, want))
		fprintf(stderr, "  error \"%s\" has no \"%s\"\n", msg, want);
	CHECK(strstr(msg, want) != NULL);
	CHECK(strchr(msg, '\n') == NULL);
}

static void test_errors(void)
{
	check_error("{\"OTIO_SCHEMA\": \"Timeline.1\",\n\"tracks\": {\n\"children\": [,]}}", "bad.otio: line 3: not JSON");
	check_error("{\"OTIO_SCHEMA\": \"Timeline.1\", \"tracks\": ", "bad.otio: line 1: not JSON");
	check_error("{\"OTIO_SCHEMA\": \"Clip.1\"}", "bad.otio: not an OTIO timeline (Clip.1 at the top)");
	check_error("{\"OTIO_SCHEMA\": \"Timeline.1\"}", "bad.otio: the timeline has no tracks");
	check_error(TIMELINE("null", TRACK("Video", true, CLIP("a", TR(0, 10, 24), "") ","
	                                   "{\"OTIO_SCHEMA\": \"Clip.1\", \"name\": \"norange\"}")),
	            "bad.otio: event 2 (norange): no source_range or available_range");
	check_error(TIMELINE("null", TRACK("Video", true, CLIP("zero", TR(0, 10, 0), ""))),
	            "bad.otio: event 1 (zero): bad source_range");
	check_error(TIMELINE("null", TRACK("Video", true, CLIP("neg", TR(0, -10, 24), ""))),
	            "bad.otio: event 1 (neg): bad source_range");
	check_error(TIMELINE("null", TRACK("Video", true, "{\"OTIO_SCHEMA\": \"Gap.1\"}")),
	            "bad.otio: event 1: gap without a source_range");
	check_error(TIMELINE("null", TRACK("Video", true, CLIP("a", TR(0, 4, 24), "") ","
	                                   "{\"OTIO_SCHEMA\": \"Transition.1\", \"transition_type\": \"SMPTE_Dissolve\","
	                                   " \"in_offset\": " RT(6, 24) ", \"out_offset\": " RT(2, 24) "}," CLIP(
	                                       "b", TR(0, 10, 24), ""))),
	            "bad.otio: event 2: transition longer than the clip before it");
	check_error(TIMELINE("null", TRACK("Video", true, CLIP("a", TR(0, 4, 24), "") ","
	                                   "{\"OTIO_SCHEMA\": \"Transition.1\", \"transition_type\": \"SMPTE_Dissolve\","
	                                   " \"in_offset\": " RT(0, 24) ", \"out_offset\": " RT(20, 24) "}," CLIP(
	                                       "b", TR(0, 10, 24), ""))),
	            "bad.otio: event 3: dissolve longer than the clip");
	check_error(TIMELINE(RT(-5, 24), TRACK("Video", true, "")), "bad.otio: negative global_start_time");
	check_error("[1, 2, 3]", "bad.otio: not an OTIO timeline (no OTIO_SCHEMA at the top)");
}

/* dits_timeline_parse: the format from the content, the EDL's rate from the caller. */
static void test_dispatch(void)
{
	dits_timeline t;
	char *otio = read_fixture("otio", "simple_cut.otio");
	CHECK_RC(dits_timeline_parse(otio, strlen(otio), "simple_cut.otio", &t), 0);
	CHECK(t.format == DITS_TL_OTIO && t.nclips == 4);
	dits_timeline_free(&t);
	free(otio);

	char *edl = read_fixture("edl", "25fps.edl");
	CHECK_RC(dits_timeline_parse(edl, strlen(edl), "25fps.edl", &t), DITS_EINVALID);
	CHECK(strstr(dits_error_last(), "25fps.edl: line 13: ") != NULL);
	CHECK_RC(dits_timeline_parse_rate(edl, strlen(edl), "25fps.edl", (AVRational){25, 1}, &t), 0);
	CHECK(t.format == DITS_TL_EDL && q_is(t.rate, 25, 1) && t.nclips == 4);
	/* 00:00:19:21 at 25 = 496 */
	CHECK_EQ_U64(t.duration, 496);
	dits_timeline_free(&t);
	free(edl);

	/* the EDL rate does not apply to OTIO */
	const char *small = TIMELINE("null", TRACK("Video", true, CLIP("a", TR(0, 10, 24), "")));
	CHECK_RC(dits_timeline_parse_rate(small, strlen(small), "s.otio", (AVRational){25, 1}, &t), 0);
	CHECK(q_is(t.rate, 24, 1));
	dits_timeline_free(&t);

	const char *garbage = "{\"not\": \"otio\"}";
	CHECK_RC(dits_timeline_parse(garbage, strlen(garbage), "g.json", &t), DITS_EINVALID);
	CHECK(strstr(dits_error_last(), "g.json: not a timeline") != NULL);
}

int main(void)
{
	test_simple_cut();
	test_transition();
	test_transition_test();
	test_clip_example();
	test_multitrack();
	test_preflattened();
	test_multiple_track();
	test_nested();
	test_screening();
	test_premiere();
	test_big_int();
	test_rates_and_speeds();
	test_references();
	test_errors();
	test_dispatch();
	return check_done();
}
