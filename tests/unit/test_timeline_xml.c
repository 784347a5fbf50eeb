/*
 * The XML timeline parsers (src/media/timeline_xml.c): every fixture under
 * tests/fixtures/timelines/{xmeml,fcpxml} against values read off the
 * files by hand, the model's transition and speed forms, an .fcpxmld
 * bundle, and refused inputs: not well-formed, no sequence or project,
 * dangling references, entities.
 */
#include <string.h>

#include "error.h"
#include "timeline_internal.h"

#include "check.h"
#include "util.h"

typedef int (*parse_fn)(const char *, size_t, const char *, dits_timeline *);

/* parse + finish as dits_timeline_parse does, without the dispatcher */
static int parse_mem(parse_fn fn, const char *data, dits_timeline *t)
{
	memset(t, 0, sizeof(*t));
	int rc = fn(data, strlen(data), "test.xml", t);
	if (rc == 0)
		rc = media_tl_finish(t, "test.xml");
	if (rc < 0)
		dits_timeline_free(t);
	return rc;
}

static int parse_fixture(parse_fn fn, const char *name, dits_timeline *t)
{
	char *path = util_fixture(name);
	size_t len = 0;
	uint8_t *data = path ? util_read_file(path, &len) : NULL;
	if (!data) {
		fprintf(stderr, "  cannot read %s\n", path ? path : name);
		free(path);
		memset(t, 0, sizeof(*t));
		return DITS_ENOTFOUND;
	}
	char *s = realloc(data, len + 1);
	REQUIRE(s != NULL);
	s[len] = 0;
	memset(t, 0, sizeof(*t));
	int rc = fn(s, len, name, t);
	if (rc == 0)
		rc = media_tl_finish(t, name);
	if (rc < 0) {
		fprintf(stderr, "  %s: %s\n", name, dits_error_last());
		dits_timeline_free(t);
	}
	free(s);
	free(path);
	return rc;
}

/* the clip of kind on track that starts at rec_in */
static const dits_tl_clip *clip_at(const dits_timeline *t, int kind, int track, int64_t rec_in)
{
	for (size_t i = 0; i < t->nclips; i++)
		if (t->clips[i].kind == kind && t->clips[i].track == track && t->clips[i].rec_in == rec_in)
			return &t->clips[i];
	fprintf(stderr, "  no %s clip on track %d at %lld\n", kind ? "audio" : "video", track, (long long)rec_in);
	return NULL;
}

static size_t clips_on(const dits_timeline *t, int kind, int track)
{
	size_t n = 0;
	for (size_t i = 0; i < t->nclips; i++)
		n += t->clips[i].kind == kind && t->clips[i].track == track;
	return n;
}

static bool has_skip(const dits_timeline *t, const char *line)
{
	for (size_t i = 0; i < t->nskipped; i++)
		if (strcmp(t->skipped[i], line) == 0)
			return true;
	fprintf(stderr, "  no skipped line \"%s\" among:\n", line);
	for (size_t i = 0; i < t->nskipped; i++)
		fprintf(stderr, "    %s\n", t->skipped[i]);
	return false;
}

static bool str_is(const char *got, const char *want)
{
	if ((got == NULL) != (want == NULL) || (got && strcmp(got, want))) {
		fprintf(stderr, "  got \"%s\", want \"%s\"\n", got ? got : "(null)", want ? want : "(null)");
		return false;
	}
	return true;
}

static bool q_is(AVRational q, int num, int den)
{
	if (q.num != num || q.den != den) {
		fprintf(stderr, "  got %d/%d, want %d/%d\n", q.num, q.den, num, den);
		return false;
	}
	return true;
}

#define CLIP_IS(c, in, out, src, rnum, rden)                                                         \
	do {                                                                                           \
		REQUIRE((c) != NULL);                                                                      \
		CHECK_EQ_U64((c)->rec_in, (in));                                                           \
		CHECK_EQ_U64((c)->rec_out, (out));                                                         \
		CHECK_EQ_U64((c)->src_in, (src));                                                          \
		CHECK(q_is((c)->src_rate, (rnum), (rden)));                                                \
	} while (0)

/* ---- xmeml ---- */

static void test_xmeml_premiere_example(void)
{
	dits_timeline t;
	REQUIRE(parse_fixture(media_tl_parse_xmeml, "timelines/xmeml/premiere_example.xml", &t) == 0);
	CHECK(str_is(t.name, "sc01_sh010_layerA"));
	CHECK(q_is(t.rate, 30, 1));
	CHECK(!t.drop_frame);
	CHECK_EQ_U64(t.rec_start, 0);
	CHECK_EQ_U64(t.nvideo_tracks, 4);
	CHECK_EQ_U64(t.naudio_tracks, 8);
	CHECK_EQ_U64(t.nclips, 19);
	CHECK_EQ_U64(clips_on(&t, DITS_TL_VIDEO, 0), 1);
	CHECK_EQ_U64(clips_on(&t, DITS_TL_VIDEO, 1), 3);
	CHECK_EQ_U64(clips_on(&t, DITS_TL_VIDEO, 2), 1);
	CHECK_EQ_U64(clips_on(&t, DITS_TL_VIDEO, 3), 2);
	CHECK_EQ_U64(t.duration, 1258);
	/* clipitem-1: 50 frames of a 15 fps clip over 100 record frames at 30 */
	const dits_tl_clip *c = clip_at(&t, DITS_TL_VIDEO, 0, 536);
	CLIP_IS(c, 536, 636, 0, 15, 1);
	CHECK(q_is(c->speed, 1, 2));
	CHECK(str_is(t.media[c->media].name, "sc01_sh010_anim.mov"));
	CHECK(str_is(t.media[c->media].path, "D:/media/sc01_sh010_anim.mov"));
	CHECK(q_is(t.media[c->media].rate, 30, 1));
	CHECK_EQ_U64(t.media[c->media].tc_start, 0);
	/* clipitem-2 refers back to file-1 */
	const dits_tl_clip *c2 = clip_at(&t, DITS_TL_VIDEO, 1, 13);
	REQUIRE(c2 != NULL);
	CHECK(c2->media == c->media);
	CHECK(q_is(c2->speed, 1, 1));
	/* clipitem-4 ends at -1: the end of the fade to black after it (538..557) */
	CLIP_IS(clip_at(&t, DITS_TL_VIDEO, 1, 322), 322, 557, 0, 30, 1);
	/* clipitem-11 (in 34, file timecode 00:00:03:09) dissolves into clipitem-12 over 1152..1177 */
	const dits_tl_clip *a = clip_at(&t, DITS_TL_VIDEO, 3, 956);
	CLIP_IS(a, 956, 1152, 99 + 34, 30, 1);
	CHECK_EQ_U64(a->dissolve, 0);
	CHECK_EQ_U64(t.media[a->media].tc_start, 99);
	const dits_tl_clip *b = clip_at(&t, DITS_TL_VIDEO, 3, 1152);
	CLIP_IS(b, 1152, 1246, 6, 30, 1);
	CHECK_EQ_U64(b->dissolve, 25);
	CHECK(b->enabled);
	/* the title's file has no pathurl; its timecode is drop-frame "00;00;00;00" */
	const dits_tl_clip *title = clip_at(&t, DITS_TL_VIDEO, 2, 15);
	CLIP_IS(title, 15, 956, 108000, 30, 1);
	CHECK(str_is(t.media[title->media].path, NULL));
	/* audio: the source channel from sourcetrack/trackindex */
	const dits_tl_clip *au = clip_at(&t, DITS_TL_AUDIO, 2, 335);
	CLIP_IS(au, 335, 505, 8497, 30, 1);
	CHECK_EQ_U64(au->src_channel, 0);
	CHECK(str_is(t.media[au->media].name, "sc01_placeholder.wav"));
	CHECK_EQ_U64(clip_at(&t, DITS_TL_AUDIO, 1, 13)->src_channel, 1);
	CHECK(has_skip(&t, "3 nested sequences (events 6, 16, 18)"));
	CHECK(has_skip(&t, "1 fade (event 5)"));
	CHECK_EQ_U64(t.nskipped, 2);
	dits_timeline_free(&t);
}

static void test_xmeml_hiero(void)
{
	dits_timeline t;
	REQUIRE(parse_fixture(media_tl_parse_xmeml, "timelines/xmeml/hiero_xml_export.xml", &t) == 0);
	CHECK(str_is(t.name, "hiero_xml_export"));
	CHECK(q_is(t.rate, 24, 1));
	CHECK_EQ_U64(t.rec_start, 86400); /* 01:00:00:00 */
	CHECK_EQ_U64(t.nclips, 2);
	CHECK_EQ_U64(t.naudio_tracks, 0);
	/* in 0.0 of a file whose timecode is 12:44:37:23 */
	const dits_tl_clip *c = clip_at(&t, DITS_TL_VIDEO, 0, 14);
	CLIP_IS(c, 14, 1069, 1101071, 24, 1);
	CHECK(q_is(c->speed, 1, 1));
	CHECK(str_is(t.media[c->media].path, "/A160R0MN/A160R0MN/A160C005_171213_R0MN.mxf"));
	CHECK(str_is(t.media[c->media].name, "A160C005_171213_R0MN"));
	CHECK_EQ_U64(t.media[c->media].tc_start, 1101071);
	/* time remap speed 0.25 (percent): in 326400 retimed is source frame 816 */
	const dits_tl_clip *s = clip_at(&t, DITS_TL_VIDEO, 0, 1085);
	CLIP_IS(s, 1085, 1324, 816, 24, 1);
	CHECK(q_is(s->speed, 1, 400));
	CHECK_EQ_U64(t.nskipped, 0);
	dits_timeline_free(&t);
}

static void test_xmeml_generators(void)
{
	dits_timeline t;
	REQUIRE(parse_fixture(media_tl_parse_xmeml, "timelines/xmeml/premiere_generators.xml", &t) == 0);
	CHECK(str_is(t.name, "Generators"));
	CHECK(q_is(t.rate, 24000, 1001));
	CHECK_EQ_U64(t.nclips, 8);
	CHECK_EQ_U64(clips_on(&t, DITS_TL_VIDEO, 0), 5);
	CHECK_EQ_U64(t.naudio_tracks, 2);
	/* "Black Video": 24000/1001 clip of a 29.97 DF file at timecode 00;00;00;00 */
	const dits_tl_clip *c = clip_at(&t, DITS_TL_VIDEO, 0, 264);
	CLIP_IS(c, 264, 383, 86313, 24000, 1001);
	CHECK(q_is(t.media[c->media].rate, 30000, 1001));
	CHECK(str_is(t.media[c->media].name, "Black Video"));
	CHECK(has_skip(&t, "1 generator (event 3)"));
	CHECK(has_skip(&t, "1 filter (event 6)"));
	dits_timeline_free(&t);
}

static void test_xmeml_enabled(void)
{
	dits_timeline t;
	REQUIRE(parse_fixture(media_tl_parse_xmeml, "timelines/xmeml/premiere_enable_property.xml", &t) == 0);
	CHECK(str_is(t.name, "disabled_test_sequence"));
	CHECK(q_is(t.rate, 25, 1));
	CHECK_EQ_U64(t.nclips, 16);
	CHECK_EQ_U64(t.nvideo_tracks, 3);
	CHECK_EQ_U64(t.naudio_tracks, 4);
	CHECK_EQ_U64(clips_on(&t, DITS_TL_VIDEO, 0), 4);
	const dits_tl_clip *on = clip_at(&t, DITS_TL_VIDEO, 0, 0);
	CLIP_IS(on, 0, 81, 353, 25, 1); /* file timecode 00:00:14:03 */
	CHECK(on->enabled);
	CHECK(str_is(t.media[on->media].path, "/source.mp4"));
	const dits_tl_clip *off = clip_at(&t, DITS_TL_VIDEO, 0, 81);
	CLIP_IS(off, 81, 177, 434, 25, 1); /* 00:00:17:09 */
	CHECK(!off->enabled);
	CHECK(str_is(off->name, "video_track_1_disabled_1"));
	CHECK(!clip_at(&t, DITS_TL_AUDIO, 0, 177)->enabled);
	CHECK(clip_at(&t, DITS_TL_AUDIO, 0, 220)->enabled);
	CHECK_EQ_U64(t.nskipped, 0);
	dits_timeline_free(&t);
}

static void test_xmeml_empty_names(void)
{
	dits_timeline t;
	REQUIRE(parse_fixture(media_tl_parse_xmeml, "timelines/xmeml/empty_name_tags.xml", &t) == 0);
	CHECK(str_is(t.name, "myshow"));
	CHECK(q_is(t.rate, 24000, 1001));
	CHECK_EQ_U64(t.nclips, 216);
	CHECK_EQ_U64(t.nvideo_tracks, 10);
	CHECK_EQ_U64(t.naudio_tracks, 2);
	CHECK_EQ_U64(t.duration, 3517);
	const dits_tl_clip *c = clip_at(&t, DITS_TL_VIDEO, 0, 15);
	CLIP_IS(c, 15, 90, 120717, 24000, 1001);
	CHECK(str_is(t.media[c->media].path, "/Volumes/mydisk/mymovie.mov"));
	/* reel names come from file/timecode/reel/name */
	size_t reels = 0;
	for (size_t i = 0; i < t.nmedia; i++)
		reels += t.media[i].reel && strcmp(t.media[i].reel, "reel_name") == 0;
	CHECK(reels > 0);
	CHECK(has_skip(&t, "1 generator (event 1)"));
	CHECK(has_skip(&t, "2 nested sequences (events 38, 54)"));
	dits_timeline_free(&t);
}

static void test_xmeml_small(void)
{
	dits_timeline t;
	/* a sequence without media: a valid, empty timeline */
	REQUIRE(parse_fixture(media_tl_parse_xmeml, "timelines/xmeml/sample_just_track.xml", &t) == 0);
	CHECK(str_is(t.name, "sc01_sh010_layerA"));
	CHECK(q_is(t.rate, 30, 1));
	CHECK_EQ_U64(t.nclips, 0);
	CHECK_EQ_U64(t.duration, 0);
	dits_timeline_free(&t);
	/* a lone <filter> is not an xmeml document */
	CHECK_RC(parse_fixture(media_tl_parse_xmeml, "timelines/xmeml/premiere_example_filter.xml", &t), DITS_EINVALID);
	CHECK(strstr(dits_error_last(), "premiere_example_filter.xml: line 2: <filter>") != NULL);
}

#define XM_HEAD                                                                                              \
	"<?xml version=\"1.0\"?>\n<xmeml version=\"5\"><sequence><name>s</name>"                               \
	"<rate><timebase>30</timebase><ntsc>TRUE</ntsc></rate>"                                                  \
	"<timecode><string>01:00:00;00</string><displayformat>DF</displayformat></timecode>"
#define XM_FILE_A                                                                                            \
	"<file id=\"a\"><name>a.mov</name><pathurl>file:///media/a%20b.mov</pathurl>"                            \
	"<rate><timebase>30</timebase><ntsc>TRUE</ntsc></rate>"                                                  \
	"<timecode><string>00:00:10;00</string><reel><name>R001</name></reel></timecode></file>"

static void test_xmeml_forms(void)
{
	const char *doc = XM_HEAD
		"<media><video><track>"
		/* outgoing: 0..-1 (the transition's end, 70), in 10 */
		"<clipitem><name>A</name><start>0</start><end>-1</end><in>10</in><out>80</out>" XM_FILE_A "</clipitem>"
		"<transitionitem><start>50</start><end>70</end><alignment>center</alignment>"
		"<effect><name>Cross Dissolve</name><effectid>Cross Dissolve</effectid></effect></transitionitem>"
		"<clipitem><name>B</name><start>-1</start><end>100</end><in>0</in><out>50</out><file id=\"a\"/></clipitem>"
		/* a wipe: a cut in its middle */
		"<transitionitem><start>90</start><end>110</end><effect><name>Wipe</name></effect></transitionitem>"
		"<clipitem><name>C</name><start>100</start><end>150</end><in>0</in><out>50</out><file id=\"a\"/>"
		"<filter><effect><effectid>timeremap</effectid><parameter><parameterid>speed</parameterid>"
		"<value>-200</value></parameter></effect></filter></clipitem>"
		"<clipitem><name>D</name><start>150</start><end>160</end><in>0</in><out>10</out><file id=\"a\"/>"
		"<filter><effect><effectid>timeremap</effectid><parameter><parameterid>speed</parameterid>"
		"<value>50</value></parameter><parameter><parameterid>reverse</parameterid><value>TRUE</value>"
		"</parameter></effect></filter>"
		"<filter><effect><name>Crop</name><effectid>crop</effectid></effect></filter></clipitem>"
		"</track></video></media></sequence></xmeml>";
	dits_timeline t;
	REQUIRE(parse_mem(media_tl_parse_xmeml, doc, &t) == 0);
	CHECK(q_is(t.rate, 30000, 1001));
	CHECK(t.drop_frame);
	CHECK_EQ_U64(t.rec_start, 107892); /* 01:00:00;00 drop-frame */
	CHECK_EQ_U64(t.nmedia, 1);
	CHECK(str_is(t.media[0].path, "/media/a b.mov"));
	CHECK(str_is(t.media[0].reel, "R001"));
	CHECK_EQ_U64(t.media[0].tc_start, 300);
	CHECK_EQ_U64(t.nclips, 4);
	const dits_tl_clip *a = clip_at(&t, DITS_TL_VIDEO, 0, 0);
	CLIP_IS(a, 0, 50, 310, 30000, 1001);
	const dits_tl_clip *b = clip_at(&t, DITS_TL_VIDEO, 0, 50);
	CLIP_IS(b, 50, 100, 300, 30000, 1001);
	CHECK_EQ_U64(b->dissolve, 20);
	/* the wipe's middle is 100: C keeps its start; reverse at twice the speed shows 399 first */
	const dits_tl_clip *c = clip_at(&t, DITS_TL_VIDEO, 0, 100);
	CLIP_IS(c, 100, 150, 300 + 100 - 1, 30000, 1001);
	CHECK(q_is(c->speed, -2, 1));
	CHECK_EQ_U64(c->dissolve, 0);
	const dits_tl_clip *d = clip_at(&t, DITS_TL_VIDEO, 0, 150);
	CLIP_IS(d, 150, 160, 300 + 5 - 1, 30000, 1001);
	CHECK(q_is(d->speed, -1, 2));
	CHECK(has_skip(&t, "1 transition (event 4)"));
	CHECK(has_skip(&t, "1 filter (event 6)"));
	dits_timeline_free(&t);
}

static void test_xmeml_bad(void)
{
	dits_timeline t;
	CHECK_RC(parse_mem(media_tl_parse_xmeml, "<xmeml><sequence>", &t), DITS_EINVALID);
	CHECK(strstr(dits_error_last(), "test.xml: line 1: not well-formed XML") != NULL);
	CHECK_RC(parse_mem(media_tl_parse_xmeml, "<xmeml version=\"4\"><project/></xmeml>", &t), DITS_EINVALID);
	CHECK(strstr(dits_error_last(), "no <sequence>") != NULL);
	CHECK_RC(parse_mem(media_tl_parse_xmeml, "<xmeml><sequence><name>x</name></sequence></xmeml>", &t),
	         DITS_EINVALID);
	CHECK(strstr(dits_error_last(), "<rate>") != NULL);
	const char *dangling = XM_HEAD "<media><video><track><clipitem><start>0</start><end>10</end><in>0</in>"
	                               "<out>10</out><file id=\"nope\"/></clipitem></track></video></media></sequence></xmeml>";
	CHECK_RC(parse_mem(media_tl_parse_xmeml, dangling, &t), DITS_EINVALID);
	CHECK(strstr(dits_error_last(), "<file id=\"nope\"> refers to no file") != NULL);
	/* a file defined without a name is still a definition */
	const char *unnamed = XM_HEAD "<media><video><track><clipitem><start>0</start><end>10</end><in>0</in>"
	                              "<out>10</out><file id=\"u\"><pathurl>file:///u.mov</pathurl></file></clipitem>"
	                              "</track></video></media></sequence></xmeml>";
	REQUIRE(parse_mem(media_tl_parse_xmeml, unnamed, &t) == 0);
	CHECK(str_is(t.media[0].path, "/u.mov"));
	CHECK_EQ_U64(t.media[0].tc_start, -1);
	CHECK_EQ_U64(t.clips[0].src_in, 0);
	dits_timeline_free(&t);
	const char *no_end = XM_HEAD "<media><video><track><clipitem><start>0</start><end>-1</end><in>0</in>"
	                             "<out>10</out>" XM_FILE_A "</clipitem></track></video></media></sequence></xmeml>";
	CHECK_RC(parse_mem(media_tl_parse_xmeml, no_end, &t), DITS_EINVALID);
	CHECK(strstr(dits_error_last(), "ends at -1 with no transition") != NULL);
	const char *bad_in = XM_HEAD "<media><video><track><clipitem><start>0</start><end>10</end><in>zero</in>"
	                             "<out>10</out>" XM_FILE_A "</clipitem></track></video></media></sequence></xmeml>";
	CHECK_RC(parse_mem(media_tl_parse_xmeml, bad_in, &t), DITS_EINVALID);
	CHECK(strstr(dits_error_last(), "without a valid <in>") != NULL);
}

/* ---- FCPXML ---- */

static void check_fcpx_project(const dits_timeline *t)
{
	CHECK(str_is(t->name, "OpenTimeline_Project"));
	CHECK(q_is(t->rate, 30, 1)); /* frameDuration 100/3000s */
	CHECK(!t->drop_frame);
	CHECK_EQ_U64(t->rec_start, 0);
	CHECK_EQ_U64(t->nclips, 16);
	CHECK_EQ_U64(t->nvideo_tracks, 3);
	CHECK_EQ_U64(t->naudio_tracks, 2);
	CHECK_EQ_U64(clips_on(t, DITS_TL_VIDEO, 0), 4);
	CHECK_EQ_U64(clips_on(t, DITS_TL_VIDEO, 1), 3);
	CHECK_EQ_U64(clips_on(t, DITS_TL_VIDEO, 2), 1);
	CHECK_EQ_U64(clips_on(t, DITS_TL_AUDIO, 0), 5);
	CHECK_EQ_U64(t->duration, 4200);
	/* the first clip's 10.8 s video trimmed to the clip's 10 s */
	const dits_tl_clip *c = clip_at(t, DITS_TL_VIDEO, 0, 0);
	CLIP_IS(c, 0, 300, 0, 30, 1);
	CHECK(str_is(c->name, "IMG_0715"));
	CHECK(str_is(t->media[c->media].path, "/Volumes/Media/otio/IMG_0715.MOV"));
	CHECK(q_is(t->media[c->media].rate, 30, 1));
	CHECK_EQ_U64(t->media[c->media].tc_start, 0);
	/* its audio (role dialogue.dialogue-1) on the first audio track */
	CLIP_IS(clip_at(t, DITS_TL_AUDIO, 0, 0), 0, 300, 0, 30, 1);
	/* lane 1 of the gap at 20 s; its audio at 648176909/180000 s - 3600 s + 20 s = 629.4 frames */
	CLIP_IS(clip_at(t, DITS_TL_VIDEO, 1, 600), 600, 900, 0, 30, 1);
	CLIP_IS(clip_at(t, DITS_TL_AUDIO, 0, 629), 629, 929, 0, 30, 1);
	/* a clip with start 2571768/720000 s on a gap: 3.57 s in, 107.2 frames */
	CLIP_IS(clip_at(t, DITS_TL_AUDIO, 0, 1200), 1200, 1500, 107, 30, 1);
	/* the secondary storyline at 50 s: a 1 s dissolve centred on the cut at 59.5 s */
	const dits_tl_clip *a = clip_at(t, DITS_TL_VIDEO, 1, 1500);
	CLIP_IS(a, 1500, 1770, 0, 30, 1);
	CHECK_EQ_U64(a->dissolve, 0);
	const dits_tl_clip *b = clip_at(t, DITS_TL_VIDEO, 1, 1770);
	CLIP_IS(b, 1770, 2070, 0, 30, 1); /* start 0.5 s, moved back half a second */
	CHECK_EQ_U64(b->dissolve, 30);
	CHECK(str_is(b->name, "IMG_0740"));
	/* the asset-clip's own audio (role dialogue) is not crossfaded: IMG_0740 has none there */
	CLIP_IS(clip_at(t, DITS_TL_AUDIO, 1, 1500), 1500, 1785, 0, 30, 1);
	/* lane 2 at 108137/30 s on a gap starting at 3600 s */
	CLIP_IS(clip_at(t, DITS_TL_VIDEO, 2, 1937), 1937, 2237, 0, 30, 1);
	/* clip start 37600/3000 s */
	CLIP_IS(clip_at(t, DITS_TL_VIDEO, 0, 3600), 3600, 3900, 376, 30, 1);
	/* asset-clip start 23200/3000 s */
	const dits_tl_clip *l = clip_at(t, DITS_TL_VIDEO, 0, 3900);
	CLIP_IS(l, 3900, 4200, 232, 30, 1);
	CHECK(q_is(l->speed, 1, 1));
	CHECK(has_skip(t, "2 fades (events 7, 26)"));
	CHECK(has_skip(t, "2 compound clips (events 35, 47)"));
	CHECK_EQ_U64(t->nskipped, 2);
}

static void test_fcpxml_fixtures(void)
{
	/* a project, an event holding it, a library holding that */
	const char *files[] = {"timelines/fcpxml/fcpx_project.fcpxml", "timelines/fcpxml/fcpx_event.fcpxml",
	                       "timelines/fcpxml/fcpx_example.fcpxml"};
	for (size_t i = 0; i < sizeof(files) / sizeof(*files); i++) {
		dits_timeline t;
		REQUIRE(parse_fixture(media_tl_parse_fcpxml, files[i], &t) == 0);
		check_fcpx_project(&t);
		dits_timeline_free(&t);
	}
	/* browser clips and a compound clip, no project: no timeline */
	dits_timeline t;
	CHECK_RC(parse_fixture(media_tl_parse_fcpxml, "timelines/fcpxml/fcpx_clips.fcpxml", &t), DITS_EINVALID);
	CHECK(strstr(dits_error_last(), "no <project>") != NULL);
}

#define FX_HEAD                                                                                              \
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE fcpxml>\n<fcpxml version=\"1.10\"><resources>"      \
	"<format id=\"r1\" frameDuration=\"1001/30000s\"/><format id=\"r2\" frameDuration=\"1/25s\"/>"           \
	"<asset id=\"a1\" name=\"A001\" start=\"3600s\" duration=\"100s\" hasVideo=\"1\" hasAudio=\"1\" "        \
	"format=\"r1\"><media-rep kind=\"original-media\" src=\"file:///Volumes/M/A%20001.mov\"/></asset>"       \
	"<asset id=\"a2\" name=\"B002\" start=\"0s\" duration=\"100s\" hasVideo=\"1\" format=\"r2\" "            \
	"src=\"file:///Volumes/M/B002.mov\"/>"                                                                     \
	"<asset id=\"a3\" name=\"mus\" start=\"0s\" duration=\"300s\" src=\"file:///Volumes/M/mus.wav\"/>"       \
	"</resources><library><event name=\"e\"><project name=\"P\">"                                            \
	"<sequence format=\"r1\" tcStart=\"3600s\" tcFormat=\"DF\"><spine>"
#define FX_TAIL "</spine></sequence></project></event></library></fcpxml>"

static void test_fcpxml_forms(void)
{
	const char *doc = FX_HEAD
		"<asset-clip name=\"one\" ref=\"a1\" offset=\"0s\" start=\"3601s\" duration=\"10010/30000s\" audioRole=\"dialogue\">"
		"<title name=\"Basic Title\" lane=\"1\" offset=\"3601s\" duration=\"1001/30000s\"/>"
		"<asset-clip name=\"mus\" ref=\"a3\" lane=\"-1\" offset=\"3601s\" duration=\"5s\" audioRole=\"music\"/>"
		"</asset-clip>"
		"<transition name=\"Cross Dissolve\" offset=\"9009/30000s\" duration=\"2002/30000s\"/>"
		"<asset-clip name=\"two\" ref=\"a1\" offset=\"10010/30000s\" start=\"3610s\" duration=\"10010/30000s\" audioRole=\"dialogue\"/>"
		"<transition name=\"Wipe\" offset=\"19019/30000s\" duration=\"2002/30000s\"><filter-video name=\"Wipe\"/></transition>"
		"<asset-clip name=\"fast\" ref=\"a1\" offset=\"20020/30000s\" start=\"3620s\" duration=\"10010/30000s\" srcEnable=\"video\">"
		"<timeMap><timept time=\"3620s\" value=\"3620s\" interp=\"linear\"/><timept time=\"3630s\" value=\"3640s\" interp=\"linear\"/></timeMap>"
		"</asset-clip>"
		"<asset-clip name=\"ramp\" ref=\"a1\" offset=\"30030/30000s\" start=\"0s\" duration=\"10010/30000s\" srcEnable=\"video\" enabled=\"0\">"
		"<timeMap><timept time=\"0s\" value=\"0s\"/><timept time=\"1s\" value=\"2s\" interp=\"smooth2\"/><timept time=\"2s\" value=\"3s\"/></timeMap>"
		"<filter-video name=\"Colorize\"/></asset-clip>"
		"<clip name=\"pal\" offset=\"40040/30000s\" duration=\"10010/30000s\"><conform-rate srcFrameRate=\"25\"/>"
		"<video ref=\"a2\" offset=\"0s\" duration=\"10s\"/></clip>"
		"<ref-clip name=\"cc\" ref=\"r9\" offset=\"50050/30000s\" duration=\"1s\"/>"
		FX_TAIL;
	dits_timeline t;
	REQUIRE(parse_mem(media_tl_parse_fcpxml, doc, &t) == 0);
	CHECK(str_is(t.name, "P"));
	CHECK(q_is(t.rate, 30000, 1001));
	CHECK(t.drop_frame);
	CHECK_EQ_U64(t.rec_start, 107892); /* 3600 s at 29.97 is 01:00:00;00 */
	CHECK_EQ_U64(t.nmedia, 3);
	CHECK(str_is(t.media[0].path, "/Volumes/M/A 001.mov")); /* media-rep */
	CHECK_EQ_U64(t.media[0].tc_start, 107892);
	CHECK_EQ_U64(t.nvideo_tracks, 1);
	CHECK_EQ_U64(t.naudio_tracks, 2);
	CHECK_EQ_U64(t.nclips, 8);
	/* 3601 s into media starting at 3600 s: frame 107922 (3601 * 30000 / 1001 = 107922.08) */
	const dits_tl_clip *one = clip_at(&t, DITS_TL_VIDEO, 0, 0);
	CLIP_IS(one, 0, 9, 107922, 30000, 1001);
	/* the dissolve [9, 11) around the cut at 10: "two" starts a frame early, on its handle */
	const dits_tl_clip *two = clip_at(&t, DITS_TL_VIDEO, 0, 9);
	CLIP_IS(two, 9, 20, 108192 - 1, 30000, 1001);
	CHECK_EQ_U64(two->dissolve, 2);
	const dits_tl_clip *two_a = clip_at(&t, DITS_TL_AUDIO, 0, 9);
	REQUIRE(two_a != NULL);
	CHECK_EQ_U64(two_a->dissolve, 2);
	/* connected audio-only asset at lane -1 on the music role's track */
	const dits_tl_clip *mus = clip_at(&t, DITS_TL_AUDIO, 1, 0);
	CLIP_IS(mus, 0, 150, 0, 30000, 1001);
	CHECK_EQ_U64(t.media[mus->media].tc_start, -1);
	/* the wipe stays a cut at 20; a linear time map of 10 s onto 20 s is speed 2 */
	const dits_tl_clip *fast = clip_at(&t, DITS_TL_VIDEO, 0, 20);
	CLIP_IS(fast, 20, 30, 108492, 30000, 1001);
	CHECK(q_is(fast->speed, 2, 1));
	CHECK_EQ_U64(fast->dissolve, 0);
	const dits_tl_clip *ramp = clip_at(&t, DITS_TL_VIDEO, 0, 30);
	CLIP_IS(ramp, 30, 40, 0, 30000, 1001);
	CHECK(!ramp->enabled);
	CHECK(q_is(ramp->speed, 1, 1));
	/* 25 fps conformed frame for frame */
	const dits_tl_clip *pal = clip_at(&t, DITS_TL_VIDEO, 0, 40);
	CLIP_IS(pal, 40, 50, 0, 25, 1);
	CHECK(q_is(pal->speed, 1, 1));
	CHECK(str_is(pal->name, "pal"));
	CHECK(has_skip(&t, "1 title (event 2)"));
	CHECK(has_skip(&t, "1 transition (event 6)"));
	CHECK(has_skip(&t, "1 retime (event 9)"));
	CHECK(has_skip(&t, "1 filter (event 11)"));
	CHECK(has_skip(&t, "1 compound clip (event 15)"));
	dits_timeline_free(&t);
}

/* A connected clip starting before the sequence: only what follows frame 0 is shown. */
static void test_fcpxml_before_start(void)
{
	const char *doc =
		"<fcpxml version=\"1.9\"><resources><format id=\"r1\" frameDuration=\"1/25s\"/>"
		"<asset id=\"a\" name=\"x\" start=\"0s\" format=\"r1\" hasVideo=\"1\" src=\"file:///x.mov\"/></resources>"
		"<project name=\"p\"><sequence format=\"r1\"><spine><gap offset=\"0s\" duration=\"10s\" start=\"0s\">"
		"<asset-clip ref=\"a\" lane=\"1\" offset=\"-1s\" start=\"0s\" duration=\"2s\"/></gap></spine></sequence>"
		"</project></fcpxml>";
	dits_timeline t;
	REQUIRE(parse_mem(media_tl_parse_fcpxml, doc, &t) == 0);
	CHECK_EQ_U64(t.nclips, 1);
	CLIP_IS(clip_at(&t, DITS_TL_VIDEO, 1, 0), 0, 25, 25, 25, 1);
	CHECK_EQ_U64(t.nvideo_tracks, 2);
	dits_timeline_free(&t);
}

/* As Final Cut Pro and Resolve write it: the spine's time starts at tcStart, record frame 0 is there. */
static void test_fcpxml_offsets_from_tcstart(void)
{
	const char *doc = FX_HEAD
		"<asset-clip name=\"one\" ref=\"a1\" offset=\"3600s\" start=\"108009902/30000s\" "
		"duration=\"10010/30000s\" srcEnable=\"video\"/>"
		"<transition name=\"Cross Dissolve\" offset=\"108005005/30000s\" duration=\"10010/30000s\"/>"
		"<asset-clip name=\"two\" ref=\"a1\" offset=\"108010010/30000s\" start=\"108029922/30000s\" "
		"duration=\"10010/30000s\" srcEnable=\"video\"/>"
		FX_TAIL;
	dits_timeline t;
	REQUIRE(parse_mem(media_tl_parse_fcpxml, doc, &t) == 0);
	CHECK_EQ_U64(t.rec_start, 107892);
	CHECK_EQ_U64(t.duration, 20);
	/* 01:00:00;10 of media starting at 3600 s (frame 107892.1) */
	CLIP_IS(clip_at(&t, DITS_TL_VIDEO, 0, 0), 0, 5, 107902, 30000, 1001);
	const dits_tl_clip *two = clip_at(&t, DITS_TL_VIDEO, 0, 5);
	CLIP_IS(two, 5, 20, 107922 - 5, 30000, 1001);
	CHECK_EQ_U64(two->dissolve, 10);
	dits_timeline_free(&t);
}

static void test_fcpxml_bad(void)
{
	dits_timeline t;
	CHECK_RC(parse_mem(media_tl_parse_fcpxml, "<fcpxml version=\"1.8\"><resources>", &t), DITS_EINVALID);
	CHECK(strstr(dits_error_last(), "not well-formed XML") != NULL);
	CHECK_RC(parse_mem(media_tl_parse_fcpxml, "<fcpxml version=\"1.8\"><resources/></fcpxml>", &t), DITS_EINVALID);
	CHECK(strstr(dits_error_last(), "no <project>") != NULL);
	CHECK_RC(parse_mem(media_tl_parse_fcpxml, FX_HEAD "<asset-clip ref=\"a9\" offset=\"0s\" duration=\"1s\"/>" FX_TAIL, &t),
	         DITS_EINVALID);
	CHECK(strstr(dits_error_last(), "test.xml: line 3: <asset-clip ref=\"a9\"> names no asset") != NULL);
	CHECK_RC(parse_mem(media_tl_parse_fcpxml, FX_HEAD "<gap offset=\"1/0s\" duration=\"1s\"/>" FX_TAIL, &t),
	         DITS_EINVALID);
	CHECK(strstr(dits_error_last(), "offset=\"1/0s\">: not a time") != NULL);
	const char *no_rate = "<fcpxml version=\"1.8\"><resources><format id=\"r1\"/></resources>"
	                      "<project name=\"p\"><sequence format=\"r1\"><spine/></sequence></project></fcpxml>";
	CHECK_RC(parse_mem(media_tl_parse_fcpxml, no_rate, &t), DITS_EINVALID);
	CHECK(strstr(dits_error_last(), "frameDuration") != NULL);
}

/* An .fcpxmld bundle directory through the dispatcher: its Info.fcpxml. */
static void test_fcpxml_bundle(void)
{
	char *dir = util_mkdtemp("tlxml");
	REQUIRE(dir != NULL);
	char bundle[1024], info[1100];
	snprintf(bundle, sizeof(bundle), "%s/cut.fcpxmld", dir);
	snprintf(info, sizeof(info), "%s/Info.fcpxml", bundle);
	REQUIRE(mkdir(bundle, 0755) == 0);
	const char *doc = FX_HEAD "<asset-clip name=\"one\" ref=\"a2\" offset=\"0s\" duration=\"1001/30000s\"/>" FX_TAIL;
	REQUIRE(util_write_file(info, doc, strlen(doc)) == 0);
	dits_timeline t;
	CHECK_RC(dits_timeline_parse_file(bundle, &t), 0);
	CHECK(t.format == DITS_TL_FCPXML);
	CHECK_EQ_U64(t.nclips, 1);
	CHECK(str_is(dits_timeline_format_name(t.format), "FCPXML"));
	dits_timeline_free(&t);
	/* a directory without Info.fcpxml is not a bundle */
	remove(info);
	CHECK_RC(dits_timeline_parse_file(bundle, &t), DITS_EINVALID);
	util_rm_rf(dir);
	free(dir);
}

/* ---- hostile XML (both formats) ---- */

/* "billion laughs": ten levels of ten-fold entity expansion */
#define LAUGHS(root)                                                                                         \
	"<?xml version=\"1.0\"?>\n<!DOCTYPE " root " [\n<!ENTITY a \"aaaaaaaaaa\">\n"                          \
	"<!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">\n<!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">\n"        \
	"<!ENTITY d \"&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;\">\n<!ENTITY e \"&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;\">\n"        \
	"<!ENTITY f \"&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;\">\n<!ENTITY g \"&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;\">\n"        \
	"<!ENTITY h \"&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;\">\n<!ENTITY i \"&h;&h;&h;&h;&h;&h;&h;&h;&h;&h;\">\n]>\n"

static void test_hostile(void)
{
	dits_timeline t;
	CHECK_RC(parse_mem(media_tl_parse_xmeml,
	                   LAUGHS("xmeml") "<xmeml><sequence><name>&i;</name><rate><timebase>25</timebase></rate>"
	                                   "</sequence></xmeml>\n",
	                   &t),
	         DITS_EINVALID);
	CHECK_RC(parse_mem(media_tl_parse_fcpxml,
	                   LAUGHS("fcpxml") "<fcpxml version=\"1.8\"><project name=\"&i;\"><sequence><spine/></sequence>"
	                                    "</project></fcpxml>\n",
	                   &t),
	         DITS_EINVALID);
	/* an external entity naming a local file: refused, its content never read */
	const char *xxe = "<?xml version=\"1.0\"?>\n<!DOCTYPE xmeml [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\n"
	                  "<xmeml><sequence><name>&x;</name><rate><timebase>25</timebase></rate></sequence></xmeml>";
	CHECK_RC(parse_mem(media_tl_parse_xmeml, xxe, &t), DITS_EINVALID);
	CHECK(strstr(dits_error_last(), "test.xml: the document declares entities") != NULL);
	const char *xxe2 = "<?xml version=\"1.0\"?>\n<!DOCTYPE fcpxml [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\n"
	                   "<fcpxml version=\"1.8\"><project name=\"&x;\"/></fcpxml>";
	CHECK_RC(parse_mem(media_tl_parse_fcpxml, xxe2, &t), DITS_EINVALID);
	CHECK(strstr(dits_error_last(), "root:") == NULL);
	/* an external DTD is not loaded: the document parses, nothing from the file */
	const char *ext = "<?xml version=\"1.0\"?>\n<!DOCTYPE xmeml SYSTEM \"file:///etc/passwd\">\n"
	                  "<xmeml><sequence><name>n</name><rate><timebase>25</timebase></rate></sequence></xmeml>";
	CHECK_RC(parse_mem(media_tl_parse_xmeml, ext, &t), 0);
	CHECK(str_is(t.name, "n"));
	dits_timeline_free(&t);
}

int main(void)
{
	test_xmeml_premiere_example();
	test_xmeml_hiero();
	test_xmeml_generators();
	test_xmeml_enabled();
	test_xmeml_empty_names();
	test_xmeml_small();
	test_xmeml_forms();
	test_xmeml_bad();
	test_fcpxml_fixtures();
	test_fcpxml_forms();
	test_fcpxml_before_start();
	test_fcpxml_offsets_from_tcstart();
	test_fcpxml_bad();
	test_fcpxml_bundle();
	test_hostile();
	return check_done();
}
