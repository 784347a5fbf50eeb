/*
 * CMX3600 EDLs (src/media/timeline_edl.c): every sample in
 * tests/fixtures/timelines/edl against values worked out from its text,
 * rates, drop-frame, tracks, speeds, transitions, gaps, and the one-line
 * errors for bad input.
 *
 * Timecodes are at 24 fps unless said: HH:MM:SS:FF is
 * ((HH * 60 + MM) * 60 + SS) * 24 + FF, so 01:00:00:00 = 86400.
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "error.h"
#include "fsutil.h"
#include "timeline_internal.h"

#include "check.h"

static char *fixture_path(const char *file)
{
	const char *src = getenv("SRCDIR");
	return dits_strfmt("%s/tests/fixtures/timelines/edl/%s", src ? src : ".", file);
}

/* Parses text as an EDL at rate ({0, 1}: the default) and finishes the model. */
static int parse_text(const char *text, const char *name, AVRational rate, dits_timeline *t)
{
	memset(t, 0, sizeof(*t));
	t->rate = rate;
	int rc = media_tl_parse_edl(text, strlen(text), name, t);
	if (rc == 0)
		rc = media_tl_finish(t, name);
	if (rc < 0)
		dits_timeline_free(t);
	return rc;
}

static int parse_fixture(const char *file, AVRational rate, dits_timeline *t)
{
	char *path = fixture_path(file);
	dits_buf b = DITS_BUF_INIT;
	REQUIRE(path && dits_read_file(path, &b) == 0 && dits_buf_cstr(&b) == 0);
	int rc = parse_text((const char *)b.data, file, rate, t);
	if (rc < 0)
		fprintf(stderr, "  %s: %s\n", file, dits_error_last());
	dits_buf_free(&b);
	free(path);
	return rc;
}

static const AVRational deflt = {0, 1};

/* The first clip of kind on track from event number ev, or NULL. */
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

/* A video cut's place on the record and the source, its names and reel. */
static void check_clip(const dits_timeline *t, int ev, int64_t rec_in, int64_t rec_out, int64_t src_in,
                       int64_t dissolve, const char *name, const char *reel, const char *path)
{
	const dits_tl_clip *c = clip_of(t, DITS_TL_VIDEO, 0, ev);
	CHECK(c != NULL);
	if (!c)
		return;
	CHECK_EQ_U64(c->rec_in, rec_in);
	CHECK_EQ_U64(c->rec_out, rec_out);
	CHECK_EQ_U64(c->src_in, src_in);
	CHECK_EQ_U64(c->dissolve, dissolve);
	CHECK(av_cmp_q(c->src_rate, t->rate) == 0);
	CHECK(str_is(c->name, name));
	CHECK(c->enabled);
	REQUIRE(c->media >= 0 && (size_t)c->media < t->nmedia);
	CHECK(str_is(t->media[c->media].name, name));
	CHECK(str_is(t->media[c->media].reel, reel));
	CHECK(str_is(t->media[c->media].path, path));
	CHECK_EQ_U64(t->media[c->media].tc_start, (uint64_t)-1);
}

static void check_speed(const dits_timeline *t, int ev, int num, int den)
{
	const dits_tl_clip *c = clip_of(t, DITS_TL_VIDEO, 0, ev);
	CHECK(c && c->speed.num == num && c->speed.den == den);
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

static void test_25fps(void)
{
	dits_timeline t;
	/* frames 24 (01:00:01:24) exist only at 25 fps and up: line 13 */
	CHECK_RC(parse_fixture("25fps.edl", deflt, &t), DITS_EINVALID);
	CHECK(strstr(dits_error_last(), "25fps.edl: line 13: ") != NULL);
	CHECK_RC(parse_fixture("25fps.edl", (AVRational){25, 1}, &t), 0);
	CHECK(str_is(t.name, "SQ0002_A2"));
	CHECK(t.rate.num == 25 && t.rate.den == 1 && !t.drop_frame);
	CHECK_EQ_U64(t.nclips, 4);
	CHECK_EQ_U64(t.nmedia, 4);
	CHECK_EQ_U64(t.rec_start, 0);
	/* record 00:00:00:00-00:00:06:11 = 6 * 25 + 11 = 161; source 01:00:00:00 = 3600 * 25 = 90000 */
	check_clip(&t, 1, 0, 161, 90000, 0, "sq001_s001", "SC00.JPG", NULL);
	/* 00:00:17:22 = 17 * 25 + 22 = 447, 00:00:19:21 = 496 */
	check_clip(&t, 4, 447, 496, 90000, 0, "sq001_s004", "SC00.JPG", NULL);
	CHECK_EQ_U64(t.duration, 496);
	CHECK_EQ_U64(t.nvideo_tracks, 1);
	CHECK_EQ_U64(t.naudio_tracks, 0);
	dits_timeline_free(&t);
}

static void test_timecode_mismatch(void)
{
	dits_timeline t;
	CHECK_RC(parse_fixture("timecode_mismatch.edl", (AVRational){25, 1}, &t), 0);
	CHECK_EQ_U64(t.nclips, 20);
	/* the record range governs when the source range disagrees:
	   source 01:00:00:00-01:00:01:24 is 49 frames, record 00:00:17:22-00:00:19:19 = [447, 494) */
	check_clip(&t, 4, 447, 494, 90000, 0, "sq001_s004", "SC00.JPG", NULL);
	/* 00:00:19:21 = 496: two frames of black after event 4; 00:00:22:02 = 22 * 25 + 2 = 552 */
	check_clip(&t, 5, 496, 552, 90000, 0, "sq001_s005", "SC00.JPG", NULL);
	/* event 020 ends at 00:01:11:14 = 71 * 25 + 14 = 1789 */
	CHECK_EQ_U64(t.duration, 1789);
	dits_timeline_free(&t);
}

/* Avid, Nucoda and Premiere write the same two events. */
static void test_two_events(const char *file, const char *title, const char *name1, const char *name2,
                            const char *reel, const char *path1, const char *path2)
{
	dits_timeline t;
	CHECK_RC(parse_fixture(file, deflt, &t), 0);
	CHECK(str_is(t.name, title));
	CHECK(t.rate.num == 24 && t.rate.den == 1 && !t.drop_frame);
	CHECK_EQ_U64(t.nclips, 2);
	/* record start 00:59:53:11 = (59 * 60 + 53) * 24 + 11 = 86243 */
	CHECK_EQ_U64(t.rec_start, 86243);
	/* 00:59:54:18 = 86274 - 86243 = 31; source 01:00:04:05 = 86400 + 4 * 24 + 5 = 86501 */
	check_clip(&t, 1, 0, 31, 86501, 0, name1, reel, path1);
	/* 00:59:56:20 = 86324 -> 81; source 01:00:06:13 = 86557 */
	check_clip(&t, 2, 31, 81, 86557, 0, name2, reel, path2);
	CHECK_EQ_U64(t.duration, 81);
	CHECK_EQ_U64(t.nskipped, 0);
	dits_timeline_free(&t);
}

static void test_cdl(void)
{
	dits_timeline t;
	CHECK_RC(parse_fixture("cdl.edl", deflt, &t), 0);
	CHECK(str_is(t.name, "CDL_Example_Formatted_Many_Ways.01"));
	CHECK_EQ_U64(t.nclips, 2);
	CHECK_EQ_U64(t.nmedia, 1); /* the same reel, name and file twice */
	check_clip(&t, 1, 0, 31, 86501, 0, "ZZ100_501 (LAY3)", "AX", "ZZ100_501.LAY3.01");
	check_clip(&t, 2, 31, 62, 86501, 0, "ZZ100_501 (LAY3)", "AX", "ZZ100_501.LAY3.01");
	CHECK_EQ_U64(t.nskipped, 1);
	check_skipped(&t, "2 colour corrections (events 1, 2)");
	dits_timeline_free(&t);
}

/*
 * 001 clip_A record [0, 9); 002 a zero-length cut of the outgoing clip, then
 * 002 D 010 clip_B from 01:00:00:09: the incoming clip carries the dissolve.
 */
static void test_dissolve(const char *file)
{
	dits_timeline t;
	CHECK_RC(parse_fixture(file, deflt, &t), 0);
	CHECK(str_is(t.name, "dissolve test"));
	CHECK_EQ_U64(t.nclips, 3);
	CHECK_EQ_U64(t.nmedia, 2);
	CHECK_EQ_U64(t.rec_start, 86400);
	check_clip(&t, 1, 0, 9, 86501, 0, "clip_A", "TST", NULL);
	/* source 01:00:08:08 = 86400 + 8 * 24 + 8 = 86600 */
	check_clip(&t, 2, 9, 19, 86600, 10, "clip_B", "TST", NULL);
	check_clip(&t, 3, 19, 20, 86610, 0, "clip_B", "TST", NULL);
	CHECK_EQ_U64(t.nskipped, 0);
	dits_timeline_free(&t);
}

static void test_dissolve_2(void)
{
	dits_timeline t;
	CHECK_RC(parse_fixture("dissolve_test_2.edl", deflt, &t), 0);
	CHECK_EQ_U64(t.nclips, 3);
	check_clip(&t, 1, 0, 5, 86501, 0, "clip_A", "TST", NULL);
	/* 01:00:08:04 = 86596 */
	check_clip(&t, 2, 5, 15, 86596, 10, "clip_B", "TST", NULL);
	check_clip(&t, 3, 15, 20, 86606, 0, "clip_B", "TST", NULL);
	dits_timeline_free(&t);
}

static void test_dissolve_3(void)
{
	dits_timeline t;
	CHECK_RC(parse_fixture("dissolve_test_3.edl", deflt, &t), 0); /* CRLF, an FCM between events */
	CHECK(str_is(t.name, "dissolve test 3"));
	CHECK_EQ_U64(t.nclips, 3);
	/* 01:00:02:13 = 86461 -> 61; source 01:00:03:23 = 86495 */
	check_clip(&t, 1, 0, 61, 86495, 0, "Clip_A.mov", "AX", NULL);
	/* TO CLIP NAME is the incoming clip; 01:00:03:19 -> 91; 01:00:33:22 = 86400 + 792 + 22 = 87214 */
	check_clip(&t, 2, 61, 91, 87214, 30, "Clip_C.mov", "AX", NULL);
	/* 01:00:05:17 = 86537 -> 137 */
	check_clip(&t, 3, 91, 137, 86400, 0, "Clip_D.mov", "AX", NULL);
	dits_timeline_free(&t);
}

static void test_dissolve_4(void)
{
	dits_timeline t;
	CHECK_RC(parse_fixture("dissolve_test_4.edl", deflt, &t), 0);
	CHECK(str_is(t.name, "TRANSITION_TEST_2"));
	CHECK_EQ_U64(t.nclips, 6);
	/* start 01:04:11:17 = 86400 + 4 * 1440 + 11 * 24 + 17 = 92441 */
	CHECK_EQ_U64(t.rec_start, 92441);
	/* 01:04:15:02 = 92522 -> 81, 01:04:18:11 = 92603 -> 162; 01:00:06:22 = 86566 */
	check_clip(&t, 3, 81, 162, 86566, 35, NULL, "ABC0020.", NULL);
	/* 01:04:21:23 = 92687 -> 246 */
	check_clip(&t, 4, 162, 246, 86554, 64, NULL, "ABC0030.", NULL);
	/* event 060: 01:04:25:23 = 92783 -> 342, 01:04:31:14 = 92918 -> 477 */
	check_clip(&t, 60, 342, 477, 86694, 0, NULL, "ABC0050.", NULL);
	CHECK_EQ_U64(t.duration, 477);
	dits_timeline_free(&t);
}

static void test_transition_duration(void)
{
	dits_timeline t;
	CHECK_RC(parse_fixture("transition_duration.edl", deflt, &t), 0);
	CHECK_EQ_U64(t.nclips, 4);
	/* start 01:00:48:20 = 86400 + 1152 + 20 = 87572 */
	CHECK_EQ_U64(t.rec_start, 87572);
	/* 01:00:56:08 = 87752 -> 180, 01:00:59:09 = 87825 -> 253; source 01:00:10:08 = 86648 */
	check_clip(&t, 3, 180, 253, 86648, 26, NULL, "ABC0300.", NULL);
	check_clip(&t, 2, 106, 180, 86671, 0, NULL, "ABC0200.", NULL);
	dits_timeline_free(&t);
}

static void test_wipe(void)
{
	dits_timeline t;
	CHECK_RC(parse_fixture("wipe_test.edl", deflt, &t), 0);
	CHECK_EQ_U64(t.nclips, 3);
	/* W001 010 is conformed as a cut at its start */
	check_clip(&t, 2, 9, 19, 86600, 0, "clip_B", "TST", NULL);
	CHECK_EQ_U64(t.nskipped, 1);
	check_skipped(&t, "1 wipe (event 2)");
	dits_timeline_free(&t);
}

static void test_gap(void)
{
	dits_timeline t;
	CHECK_RC(parse_fixture("gap_test.edl", deflt, &t), 0); /* FROM CLIP NAME without its '*' */
	CHECK_EQ_U64(t.nclips, 3);
	CHECK_EQ_U64(t.rec_start, 0);
	/* source 00:10:00:00 = 600 * 24 = 14400 */
	check_clip(&t, 1, 0, 24, 14400, 0, "shot1", "SHOT1", NULL);
	/* record 00:00:01:16 = 40; source 23:00:00:00 = 23 * 86400 = 1987200 */
	check_clip(&t, 2, 40, 64, 1987200, 0, "shot2", "SHOT2", NULL);
	/* record 00:00:04:06 = 102; source 10:00:00:00 = 864000 */
	check_clip(&t, 3, 102, 126, 864000, 0, "shot3", "SHOT3", NULL);
	CHECK_EQ_U64(t.duration, 126);
	dits_timeline_free(&t);
}

static void test_multi_audio(void)
{
	dits_timeline t;
	CHECK_RC(parse_fixture("multi_audio.edl", deflt, &t), 0);
	/* AA and "AUD 3": audio tracks 0, 1 and 2 */
	CHECK_EQ_U64(t.nclips, 3);
	CHECK_EQ_U64(t.nvideo_tracks, 0);
	CHECK_EQ_U64(t.naudio_tracks, 3);
	for (int k = 0; k < 3; k++) {
		const dits_tl_clip *c = clip_of(&t, DITS_TL_AUDIO, k, 1);
		CHECK(c != NULL);
		if (!c)
			continue;
		CHECK_EQ_U64(c->src_channel, k);
		CHECK_EQ_U64(c->rec_in, 0);
		/* 00:56:55:22 = (56 * 60 + 55) * 24 + 22 = 81982 */
		CHECK_EQ_U64(c->rec_out, 81982);
		CHECK(str_is(t.media[c->media].reel, "AX"));
	}
	dits_timeline_free(&t);
}

static void test_screening(const char *file)
{
	dits_timeline t;
	CHECK_RC(parse_fixture(file, deflt, &t), 0);
	CHECK(str_is(t.name, "Example_Screening.01"));
	CHECK_EQ_U64(t.nclips, 9);
	CHECK_EQ_U64(t.nmedia, 9);
	CHECK_EQ_U64(t.rec_start, 86243);
	/* 00:59:58:00 = 86352 -> 109, 01:00:02:19 = 86467 -> 224; source 01:00:10:01 = 86641 */
	check_clip(&t, 4, 109, 224, 86641, 0, "ZZ100_504C (LAY1)", "ZZ100_50", "ZZ100_504C.LAY1.02");
	/* 01:00:26:11 = 87035 -> 792, 01:00:37:04 = 87292 -> 1049 */
	check_clip(&t, 9, 792, 1049, 86501, 0, "ZZ100_510B (LAY1)", "ZZ100_51", "ZZ100_510B.LAY1.02");
	CHECK_EQ_U64(t.duration, 1049);
	check_skipped(&t, "1 effect (event 9)");
	dits_timeline_free(&t);
}

static void test_speed_small(void)
{
	dits_timeline t;
	CHECK_RC(parse_fixture("speed_effects_small.edl", deflt, &t), 0);
	CHECK_EQ_U64(t.nclips, 5);
	/* M2 000.0: a freeze on 01:00:10:21 = 86661; record 01:08:30:00 = 98640 - 86400 = 12240 */
	check_clip(&t, 2, 12240, 12257, 86661, 0, "Z682_156 (LAY3) FF", "Z682_156", NULL);
	check_speed(&t, 2, 0, 1);
	check_speed(&t, 4, 1, 1);
	/* M2 047.6 at 24 fps: 47.6 / 24 = 476 / 240 = 119 / 60 */
	check_speed(&t, 5, 119, 60);
	/* record 01:11:31:16 = (71 * 60 + 31) * 24 + 16 - 86400 = 16600 */
	check_clip(&t, 5, 16600, 16636, 86544, 0, "Z686_5A (LAY2) (47.56 FPS)", "Z686_5A.", NULL);
	dits_timeline_free(&t);
}

static void test_speed_large(void)
{
	dits_timeline t;
	CHECK_RC(parse_fixture("speed_effects.edl", deflt, &t), 0);
	CHECK_EQ_U64(t.nclips, 548);
	/* event 000474, M2 068.0: 68 / 24 = 17 / 6; record 01:17:20:04 = 111364 - 86400 = 24964;
	   source 01:00:15:13 = 86773 */
	check_clip(&t, 474, 24964, 24970, 86773, 0, "Z694_51B (LAY2) (68.00 FPS)", "Z694_51B", NULL);
	check_speed(&t, 474, 17, 6);
	/* the last event ends at 01:21:03:18 = 116730 - 86400 = 30330 */
	CHECK_EQ_U64(t.duration, 30330);
	const dits_tl_clip *c = clip_of(&t, DITS_TL_VIDEO, 0, 548);
	CHECK(c && str_is(c->name, "LG_BLACK239 (REN2)"));
	dits_timeline_free(&t);
}

/* FCM: DROP FRAME chooses 30000/1001 and reads ':' labels as drop-frame. */
static void test_drop_frame(void)
{
	dits_timeline t;
	const char *df = "TITLE: df\nFCM: DROP FRAME\n"
	                 "001  AX       V     C        01:00:00:00 01:00:10:00 01:00:00:00 01:00:10:00\n";
	CHECK_RC(parse_text(df, "df.edl", deflt, &t), 0);
	CHECK(t.rate.num == 30000 && t.rate.den == 1001 && t.drop_frame);
	/* an hour of drop-frame labels: 108000 - 2 * (60 - 6) = 107892 */
	CHECK_EQ_U64(t.rec_start, 107892);
	check_clip(&t, 1, 0, 300, 107892, 0, NULL, "AX", NULL);
	dits_timeline_free(&t);

	/* the same labels at 25 fps: no drop-frame there */
	CHECK_RC(parse_text(df, "df.edl", (AVRational){25, 1}, &t), DITS_EINVALID);
	CHECK(strstr(dits_error_last(), "df.edl: line 2: drop-frame") != NULL);

	/* 00:01:00:00 is a label drop-frame skips */
	const char *skip = "FCM: DROP FRAME\n"
	                   "001  AX       V     C        00:01:00:00 00:01:10:00 01:00:00:00 01:00:10:00\n";
	CHECK_RC(parse_text(skip, "skip.edl", deflt, &t), DITS_EINVALID);
	CHECK(strstr(dits_error_last(), "skip.edl: line 2: ") != NULL);

	/* NON-DROP FRAME at 30000/1001 given: ':' labels count 30 a second */
	const char *ndf = "FCM: NON-DROP FRAME\n"
	                  "001  AX       V     C        00:00:00:00 00:00:01:00 00:01:00:00 00:01:01:00\n";
	CHECK_RC(parse_text(ndf, "ndf.edl", (AVRational){30000, 1001}, &t), 0);
	CHECK(!t.drop_frame);
	CHECK_EQ_U64(t.rec_start, 1800);
	check_clip(&t, 1, 0, 30, 0, 0, NULL, "AX", NULL);
	dits_timeline_free(&t);
}

static void test_tracks_black_keys_reverse(void)
{
	dits_timeline t;
	const char *edl = "TITLE: tracks\n"
	                  "001  BL       V     C        00:00:00:00 00:00:01:00 01:00:00:00 01:00:01:00\n"
	                  "002  R1       A2    C        00:00:10:00 00:00:11:00 01:00:01:00 01:00:02:00\n"
	                  "003  R1       B     C        00:00:20:00 00:00:21:00 01:00:02:00 01:00:03:00\n"
	                  "004  R2       AA/V  C        00:00:30:00 00:00:31:00 01:00:03:00 01:00:04:00\n"
	                  "005  R2       A     K B 000  00:00:40:00 00:00:41:00 01:00:04:00 01:00:05:00\n"
	                  "006  R3       V     C        00:00:50:00 00:00:51:00 01:00:05:00 01:00:06:00\n"
	                  "M2   R3       -024.0                00:00:50:00\n";
	CHECK_RC(parse_text(edl, "tracks.edl", deflt, &t), 0);
	/* BL is black: no clip, but it starts the record at 01:00:00:00 */
	CHECK_EQ_U64(t.rec_start, 86400);
	/* 002 A2; 003 B = V + A; 004 AA/V = V + A1 + A2; 005 A; 006 V */
	CHECK_EQ_U64(t.nclips, 1 + 2 + 3 + 1 + 1);
	CHECK_EQ_U64(t.nvideo_tracks, 1);
	CHECK_EQ_U64(t.naudio_tracks, 2);
	const dits_tl_clip *c = clip_of(&t, DITS_TL_AUDIO, 1, 2);
	CHECK(c && c->rec_in == 24 && c->rec_out == 48 && c->src_in == 240 && c->src_channel == 1);
	CHECK(clip_of(&t, DITS_TL_VIDEO, 0, 3) && clip_of(&t, DITS_TL_AUDIO, 0, 3));
	CHECK(!clip_of(&t, DITS_TL_AUDIO, 1, 3));
	CHECK(clip_of(&t, DITS_TL_VIDEO, 0, 4) && clip_of(&t, DITS_TL_AUDIO, 0, 4) && clip_of(&t, DITS_TL_AUDIO, 1, 4));
	c = clip_of(&t, DITS_TL_AUDIO, 0, 5);
	CHECK(c && c->rec_in == 96 && c->dissolve == 0);
	check_skipped(&t, "1 key (event 5)");
	/* M2 -024.0: reverse at speed 1; the first frame shown is the last of 00:00:50:00-00:00:51:00 */
	check_speed(&t, 6, -1, 1);
	c = clip_of(&t, DITS_TL_VIDEO, 0, 6);
	CHECK(c && c->src_in == 51 * 24 - 1);
	CHECK(!clip_of(&t, DITS_TL_VIDEO, 0, 1));
	dits_timeline_free(&t);
}

/* One line naming the file, and the line. */
static void check_error(const char *text, const char *want)
{
	dits_timeline t;
	CHECK_RC(parse_text(text, "bad.edl", deflt, &t), DITS_EINVALID);
	const char *msg = dits_error_last();
	if (!strstr(msg, want))
		fprintf(stderr, "  error \"%s\" has no \"%s\"\n", msg, want);
	CHECK(strstr(msg, want) != NULL);
	CHECK(strchr(msg, '\n') == NULL);
}

static void test_errors(void)
{
	check_error("TITLE: t\n001  AX  V  C  01:00:00:00 01:00:01:00 00:00\n", "bad.edl: line 2: event 001: truncated");
	check_error("TITLE: t\n\n001  AX  V  C  01:00:00:00 01:00:0X:00 00:00:00:00 00:00:01:00\n",
	            "bad.edl: line 3: 01:00:0X:00: not a timecode");
	check_error("001  AX  V  C  01:00:00:00 01:00:01:00 00:00:00:00 00:00:00:30\n",
	            "bad.edl: line 1: 00:00:00:30: a field is out of range at 24 fps");
	check_error("001  AX  V  C  01:00:00:00 01:00:01:00 00:00:02:00 00:00:01:00\n",
	            "bad.edl: line 1: event 1: record out before record in");
	check_error("TITLE: t\n001  AX  V  C  01:00:00:00 01:00:01:00 00:00:00:00 00:00:01:00\n"
	            "002  AX  V  D  01:00:00:00 01:00:01:00 00:00:01:00 00:00:02:00\n",
	            "bad.edl: line 3: dissolve without a duration");
	check_error("001  AX  V  D  030  01:00:00:00 01:00:01:00 00:00:00:00 00:00:00:10\n",
	            "bad.edl: line 1: event 1: dissolve of 30 frames longer than the event");
	check_error("001  AX  Q  C  01:00:00:00 01:00:01:00 00:00:00:00 00:00:01:00\n", "bad.edl: line 1: Q: not a track");
	check_error("001  AX  V  X  01:00:00:00 01:00:01:00 00:00:00:00 00:00:01:00\n",
	            "bad.edl: line 1: X: not a transition");
	check_error("001  AX  V  C  01:00:00:00 01:00:01:00 00:00:00:00 00:00:01:00\nM2  AX  fast  01:00:00:00\n",
	            "bad.edl: line 2: M2: fast: not a speed");
	check_error("12ab garbage here\n", "bad.edl: line 1: 12ab: not an event number");
	check_error("hello world\nthis is not an edl\n", "bad.edl: not an EDL (no events)");
	check_error("", "bad.edl: not an EDL (no events)");
}

int main(void)
{
	test_25fps();
	test_timecode_mismatch();
	test_two_events("avid_example.edl", "Avid_Example.01", "take_1", "take_2", "ZZ100_50",
	                "S:\\path\\to\\ZZ100_501.take_1.0001.exr", "S:\\path\\to\\ZZ100_502A.take_2.0101.exr");
	test_two_events("nucoda_example.edl", "Nucoda_Example.01", "take_1", "take_2", "ZZ100_50",
	                "S:\\path\\to\\ZZ100_501.take_1.0001.exr", "S:\\path\\to\\ZZ100_502A.take_2.0101.exr");
	test_two_events("premiere_example.edl", "Premiere_Example.01", "ZZ100_501.take_1.0001.exr",
	                "ZZ100_502A.take_2.0101.exr", "AX", NULL, NULL);
	test_cdl();
	test_dissolve("dissolve_test.edl");
	/* event 001 twice: read as the same cut and dissolve */
	test_dissolve("dissolve_test_fail.edl");
	test_dissolve_2();
	test_dissolve_3();
	test_dissolve_4();
	test_transition_duration();
	test_wipe();
	test_gap();
	test_multi_audio();
	test_screening("screening_example.edl");
	test_screening("no_spaces_test.edl");
	test_speed_small();
	test_speed_large();
	test_drop_frame();
	test_tracks_black_keys_reverse();
	test_errors();
	return check_done();
}
