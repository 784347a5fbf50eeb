/*
 * test_probe.c - dits_media_probe on the source matrix, checked against
 * ffprobe; clear reasons for bad inputs; dits_proxy_validate rejecting
 * facts that differ; the LUT math; the recipe JSON.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "error.h"
#include "media.h"
#include "media_internal.h"
#include "media_util.h"

static int probe_path(const char *path, dits_media_facts *f)
{
	dits_media_source src;
	int rc = dits_media_source_open_file(&src, path);
	if (rc < 0)
		return rc;
	rc = dits_media_probe(&src, f);
	dits_media_source_close_file(&src);
	return rc;
}

static void test_matrix(void)
{
	for (int i = 0; i < mu_nsources; i++) {
		const mu_source *s = &mu_sources[i];
		const char *path = mu_make_source(s);
		REQUIRE(path != NULL);
		dits_media_facts f;
		int rc = probe_path(path, &f);
		CHECK_RC(rc, 0);
		if (rc < 0)
			continue;
		fprintf(stderr, "%s: %d/%d %lld frames tc '%s' %d audio\n", s->name, f.frame_rate.num,
		        f.frame_rate.den, (long long)f.frame_count, f.timecode, f.naudio);
		CHECK(f.has_video && !f.still_image);
		CHECK_EQ_U64(f.frame_rate.num, s->rate_num);
		CHECK_EQ_U64(f.frame_rate.den, s->rate_den);
		CHECK(strcmp(f.timecode, s->timecode) == 0);
		CHECK_EQ_U64(f.dar.num, s->dar_num);
		CHECK_EQ_U64(f.dar.den, s->dar_den);
		CHECK(f.vfr == s->vfr);
		CHECK(f.field_order == (strncmp(s->name, "sd_interlaced", 13) == 0 ? AV_FIELD_TT : AV_FIELD_PROGRESSIVE));
		CHECK(strcmp(f.log_curve, s->log_curve) == 0);
		CHECK(strcmp(f.container, strstr(s->name, ".mxf") ? "mxf" : strstr(s->name, ".mkv") ? "matroska" : "mov") == 0);
		/* the audio timeline, from the first video frame */
		for (int a = 0; a < f.naudio; a++) {
			if (strcmp(s->name, "audio_gap.mkv") == 0)
				CHECK(f.audio[a].gap > 0.49 && f.audio[a].gap < 0.53 && f.audio[a].gap_at > 0.98 &&
				      f.audio[a].gap_at < 1.03);
			else
				CHECK(f.audio[a].gap == 0 && fabs(f.audio[a].end - f.audio[a].start - f.audio[a].duration) < 1e-6);
			if (strcmp(s->name, "video_delay.mkv") == 0)
				CHECK(f.audio[a].start < -0.49 && f.audio[a].start > -0.53);
			else if (strcmp(s->name, "audio_delay.mov") == 0)
				CHECK(fabs(f.audio[a].start - 0.5) < 0.001);
			else
				CHECK(fabs(f.audio[a].start) < 0.001);
		}
		/* Independent counts from the ffmpeg tools. */
		CHECK_EQ_U64(f.frame_count, mu_count_packets(path, "v", 0));
		CHECK_EQ_U64(f.naudio, s->naudio);
		for (int a = 0; a < f.naudio && a < s->naudio; a++) {
			CHECK_EQ_U64(f.audio[a].channels, s->channels[a]);
			CHECK_EQ_U64(f.audio[a].samples, mu_count_samples(path, a, f.audio[a].channels));
			CHECK(fabs(f.audio[a].duration - (double)f.audio[a].samples / f.audio[a].sample_rate) < 1e-9);
		}
		char *json = mu_ffprobe(path);
		char *vs = mu_stream(json, "video", 0);
		CHECK(vs && mu_json_long(vs, "width", 0) == f.width && mu_json_long(vs, "height", 0) == f.height);
		for (int a = 0; a < f.naudio; a++) {
			char *as = mu_stream(json, "audio", a);
			CHECK(as && mu_json_long(as, "sample_rate", 0) == f.audio[a].sample_rate);
			char lay[64];
			if (as && mu_json_str(as, "channel_layout", lay, sizeof(lay)) && strcmp(lay, "unknown") != 0)
				CHECK(strcmp(lay, f.audio[a].layout) == 0);
			else
				CHECK(strstr(f.audio[a].layout, "channels") != NULL);
			free(as);
		}
		/* the reel: ffprobe's reel_name tag, wherever the container puts it */
		char reel[64] = "";
		mu_json_str(json, "reel_name", reel, sizeof(reel));
		CHECK(strcmp(f.reel_name, reel) == 0);
		free(vs);
		free(json);
		char *fj = dits_media_facts_json(&f);
		CHECK(fj && strstr(fj, "\"frame_rate\":") && fj[0] == '{' && fj[strlen(fj) - 1] == '}');
		free(fj);
	}
}

/* The facts of path as JSON, with PCM audio counted from the sample table or decoded. */
static char *facts_json(const char *path, bool use_index)
{
	dits_media_facts f;
	media_probe_use_index = use_index;
	int rc = probe_path(path, &f);
	media_probe_use_index = true;
	return rc == 0 ? dits_media_facts_json(&f) : NULL;
}

/*
 * A MOV's PCM audio is counted from its sample table, not read: the facts
 * must be the very ones decoding every packet gives, for every source of
 * the matrix and for the MOV cases the table cannot settle alone (audio
 * before the picture, trimmed by an edit list; audio that stops early).
 */
static void test_index_counts(void)
{
	const char *extra[][2] = {
		{"lead.mov", "-f lavfi -i testsrc2=s=320x180:r=25 -f lavfi -itsoffset -0.5 -i sine=r=48000 -t 2 "
		             "-c:v prores_ks -profile:v 0 -ac 2 -c:a pcm_s16le"},
		{"lead_edit.mov", "-itsoffset 0.3 -f lavfi -i testsrc2=s=320x180:r=25 -f lavfi -i sine=r=48000 -t 2 "
		                  "-c:v prores_ks -profile:v 0 -ac 2 -c:a pcm_s24le"},
		{"short_audio.mov", "-f lavfi -i testsrc2=s=320x180:r=30000/1001:d=2 -f lavfi -i sine=r=44100:d=1.3 "
		                    "-c:v prores_ks -profile:v 0 -ac 6 -c:a pcm_s32le"},
		{"float_audio.mov", "-f lavfi -i testsrc2=s=320x180:r=24:d=1 -f lavfi -i sine=r=96000:d=1 "
		                    "-c:v prores_ks -profile:v 0 -c:a pcm_f32le"},
	};
	for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++)
		REQUIRE(mu_sh("ffmpeg -nostdin -v error -y %s '%s'", extra[i][1], mu_path(extra[i][0])) == 0);
	int compared = 0;
	for (int i = 0; i < mu_nsources + (int)(sizeof(extra) / sizeof(extra[0])); i++) {
		const char *path = i < mu_nsources ? mu_make_source(&mu_sources[i]) : mu_path(extra[i - mu_nsources][0]);
		REQUIRE(path);
		char *a = facts_json(path, true), *b = facts_json(path, false);
		CHECK(a && b);
		if (a && b && strcmp(a, b) != 0) {
			fprintf(stderr, "%s: sample table gives\n%s\ndecoding gives\n%s\n", path, a, b);
			CHECK(0);
		}
		compared += a && b;
		free(a);
		free(b);
	}
	CHECK(compared == mu_nsources + (int)(sizeof(extra) / sizeof(extra[0])));
}

static void expect_invalid(const char *path, const char *reason)
{
	dits_media_facts f;
	int rc = probe_path(path, &f);
	CHECK_RC(rc, DITS_EINVALID);
	if (!strstr(dits_error_last(), reason)) {
		fprintf(stderr, "%s: reason '%s' does not say '%s'\n", path, dits_error_last(), reason);
		CHECK(0);
	} else {
		CHECK(1);
	}
}

static void expect_valid_again(const char *path)
{
	dits_media_facts f;
	CHECK_RC(probe_path(path, &f), 0);
}

static void test_bad_inputs(void)
{
	char good[512];
	REQUIRE(mu_make_source(&mu_sources[0]) != NULL);
	snprintf(good, sizeof(good), "%s", mu_make_source(&mu_sources[0]));
	/* random bytes, several seeds (xorshift, so every run sees the same files) */
	for (uint64_t seed = 1; seed <= 8; seed++) {
		FILE *f = fopen(mu_path("random.bin"), "wb");
		REQUIRE(f != NULL);
		uint64_t x = seed * 0x9E3779B97F4A7C15ull;
		for (int i = 0; i < 300000; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			fputc((int)(x >> 24) & 0xff, f);
		}
		fclose(f);
		expect_invalid(mu_path("random.bin"), "not a media file");
	}
	REQUIRE(mu_sh(": > '%s'", mu_path("empty.mov")) == 0);
	expect_invalid(mu_path("empty.mov"), "not a media file");
	REQUIRE(mu_sh("printf 'hello, not a video\\n' > '%s'", mu_path("text.mov")) == 0);
	expect_invalid(mu_path("text.mov"), "not a media file");
	/* moov at the end: cutting the file loses it */
	REQUIRE(mu_sh("head -c $(( $(stat -c %%s '%s') / 2 )) '%s' > '%s'", good, good, mu_path("trunc_moov.mov")) == 0);
	expect_invalid(mu_path("trunc_moov.mov"), "truncated or corrupt");
	/* moov first: the index points past the end of the cut file */
	REQUIRE(mu_sh("ffmpeg -nostdin -v error -y -i '%s' -c copy -map 0 -movflags +faststart '%s'", good,
	              mu_path("faststart.mov")) == 0);
	expect_valid_again(mu_path("faststart.mov"));
	REQUIRE(mu_sh("head -c $(( $(stat -c %%s '%s') * 2 / 3 )) '%s' > '%s'", mu_path("faststart.mov"),
	              mu_path("faststart.mov"), mu_path("trunc_mdat.mov")) == 0);
	expect_invalid(mu_path("trunc_mdat.mov"), "truncated or corrupt");
	REQUIRE(mu_sh("ffmpeg -nostdin -v error -y -f lavfi -i sine=d=1 '%s'", mu_path("audio.wav")) == 0);
	expect_invalid(mu_path("audio.wav"), "audio only: no video stream");
	REQUIRE(mu_sh("ffmpeg -nostdin -v error -y -f lavfi -i sine=d=1 -c:a pcm_s16le '%s'", mu_path("audio.mov")) == 0);
	expect_invalid(mu_path("audio.mov"), "audio only: no video stream");
	REQUIRE(mu_sh("ffmpeg -nostdin -v error -y -f lavfi -i testsrc2=s=320x180 -frames:v 1 '%s'", mu_path("still.png")) == 0);
	expect_invalid(mu_path("still.png"), "a still image, not video");
	REQUIRE(mu_sh("ffmpeg -nostdin -v error -y -f lavfi -i testsrc2=s=320x180 -frames:v 1 '%s'", mu_path("still.jpg")) == 0);
	expect_invalid(mu_path("still.jpg"), "a still image, not video");
	/* an MP3 with cover art: the picture is not video */
	REQUIRE(mu_sh("ffmpeg -nostdin -v error -y -f lavfi -i sine=d=1 -i '%s' -map 0 -map 1 -c:a libmp3lame -c:v copy "
	              "-disposition:v attached_pic -id3v2_version 3 '%s'",
	              mu_path("still.jpg"), mu_path("cover.mp3")) == 0);
	expect_invalid(mu_path("cover.mp3"), "audio only: no video stream");
	/* a one-frame MOV */
	REQUIRE(mu_sh("ffmpeg -nostdin -v error -y -f lavfi -i testsrc2=s=320x180 -frames:v 1 -c:v prores_ks '%s'",
	              mu_path("one.mov")) == 0);
	expect_invalid(mu_path("one.mov"), "a still image, not video");
	/* fixtures: a real JPEG */
	const char *srcdir = getenv("SRCDIR");
	if (srcdir) {
		char p[1024];
		snprintf(p, sizeof(p), "%s/tests/fixtures/SekienAkashita.jpg", srcdir);
		expect_invalid(p, "a still image, not video");
	}
	dits_media_source src;
	CHECK_RC(dits_media_source_open_file(&src, mu_path("does-not-exist.mov")), DITS_ENOTFOUND);
}

static void expect_reject(const dits_media_facts *src, const dits_media_facts *p, const char *a, const char *b)
{
	CHECK_RC(dits_proxy_validate(src, p, 0), DITS_EINVALID);
	const char *m = dits_error_last();
	if (!strstr(m, a) || (b && !strstr(m, b))) {
		fprintf(stderr, "validation reason '%s' lacks '%s' / '%s'\n", m, a, b ? b : "");
		CHECK(0);
	} else {
		CHECK(1);
	}
}

static void test_validate(void)
{
	dits_media_facts s, p;
	REQUIRE(probe_path(mu_make_source(&mu_sources[4]), &s) == 0); /* 59.94 DF, two audio streams */
	p = s;
	CHECK_RC(dits_proxy_validate(&s, &p, 0), 0);
	/* a proxy at another size with the same display aspect passes */
	p.width = 960, p.height = 540, p.sar = (AVRational){1, 1};
	CHECK_RC(dits_proxy_validate(&s, &p, 0), 0);

	p = s, p.frame_count = s.frame_count - 1;
	expect_reject(&s, &p, "frame count 59 != source 60", NULL);
	p = s, p.frame_rate = (AVRational){60, 1};
	expect_reject(&s, &p, "frame rate 60/1 != source 60000/1001", NULL);
	p = s, snprintf(p.timecode, sizeof(p.timecode), "10:00:00:00");
	expect_reject(&s, &p, "timecode 10:00:00:00 != source 10:00:00;00", NULL);
	p = s, p.timecode[0] = 0;
	expect_reject(&s, &p, "timecode none != source 10:00:00;00", NULL);
	p = s, p.naudio = 1;
	expect_reject(&s, &p, "audio streams 1 != source 2", NULL);
	p = s, p.audio[1].channels = 2;
	expect_reject(&s, &p, "audio stream 2 channels 2 != source 1", NULL);
	p = s, p.audio[0].sample_rate = 44100;
	expect_reject(&s, &p, "audio stream 1 sample rate 44100 != source 48000", NULL);
	p = s, p.audio[0].end += 0.0011;
	expect_reject(&s, &p, "audio stream 1 end", "more than 1 ms");
	p = s, p.audio[0].end += 0.0009;
	CHECK_RC(dits_proxy_validate(&s, &p, 0), 0);
	p = s, p.audio[1].start += 0.0011;
	expect_reject(&s, &p, "audio stream 2 start", "more than 1 ms");
	p = s, p.audio[1].gap = 0.5, p.audio[1].gap_at = 0.25;
	expect_reject(&s, &p, "audio stream 2 holes 0.500 s from 0.250 s != source none", NULL);
	p = s, snprintf(p.audio[0].layout, sizeof(p.audio[0].layout), "2 channels");
	expect_reject(&s, &p, "audio stream 1 layout 2 channels != source stereo", NULL);
	CHECK(strcmp(s.reel_name, "A001C003") == 0);
	p = s, p.reel_name[0] = 0;
	expect_reject(&s, &p, "reel name none != source A001C003", NULL);
	p = s, p.sar = (AVRational){4, 3};
	expect_reject(&s, &p, "pixel aspect 4:3 != source 1:1", NULL);
	/* audio before the first video frame is cut in the proxy: its start is 0 */
	dits_media_facts lead = s;
	lead.audio[0].start = -0.5;
	p = s;
	CHECK_RC(dits_proxy_validate(&lead, &p, 0), 0);
	/* the rule table: every row of a passing proxy passes, and the names are stable */
	dits_proxy_check rows[DITS_PROXY_CHECKS_MAX];
	int nr = dits_proxy_check_all(&s, &s, 540, rows, DITS_PROXY_CHECKS_MAX);
	CHECK_EQ_U64(nr, 11 + 6 * 2);
	for (int i = 0; i < nr; i++)
		CHECK(rows[i].pass);
	CHECK(strcmp(rows[0].rule, "frame size") == 0 && strcmp(rows[0].proxy, "320x180") == 0);
	CHECK(strcmp(rows[nr - 1].rule, "audio stream 2 holes") == 0);
	p = s, p.video_duration += 0.002;
	expect_reject(&s, &p, "video duration", "1 ms");
	p = s, p.field_order = 2; /* AV_FIELD_TT */
	expect_reject(&s, &p, "field order tt != source progressive", NULL);
	p = s, p.width = 960, p.height = 720, p.dar = (AVRational){4, 3};
	expect_reject(&s, &p, "display aspect 4/3 != source 16/9", NULL);
	/* a DCI frame fitted to even dimensions is within rounding */
	dits_media_facts d;
	REQUIRE(probe_path(mu_make_source(&mu_sources[9]), &d) == 0);
	p = d, p.width = 1920, p.height = 1012, p.sar = (AVRational){1, 1};
	av_reduce(&p.dar.num, &p.dar.den, 1920, 1012, 1 << 30);
	CHECK_RC(dits_proxy_validate(&d, &p, 0), 0);
	p.height = 1080, p.dar = (AVRational){16, 9};
	expect_reject(&d, &p, "display aspect 16/9 != source 256/135", NULL);
	/* with the recipe's height, the size must be the one the size rule gives */
	p = d, p.width = 1920, p.height = 1012, p.sar = (AVRational){1, 1};
	av_reduce(&p.dar.num, &p.dar.den, 1920, 1012, 1 << 30);
	CHECK_RC(dits_proxy_validate(&d, &p, 1080), DITS_EINVALID);
	CHECK(strstr(dits_error_last(), "frame size 1920x1012 != source 2048x1080 (proxy 2048x1080)") != NULL);
	/* VFR: the conform may land one frame either way, not two */
	dits_media_facts v;
	REQUIRE(probe_path(mu_make_source(&mu_sources[11]), &v) == 0);
	REQUIRE(v.vfr);
	p = v, p.vfr = false, p.frame_count = v.cfr_frame_count + 1;
	p.video_duration = (double)p.frame_count / 25.0;
	CHECK_RC(dits_proxy_validate(&v, &p, 0), 0);
	p.frame_count = v.cfr_frame_count + 2, p.video_duration = (double)p.frame_count / 25.0;
	expect_reject(&v, &p, "frame count", "+/-1");
}

static void test_lut_math(void)
{
	/* S-Log3 18 % grey is code 420: video-range (420-64)/876. Rec.709 grey ~0.40. */
	const char *curves[] = {"slog3", "vlog", "logc3"};
	const double grey_code[] = {420.0, 433.0, 400.0}; /* 10-bit codes of 18 % grey per curve */
	for (int c = 0; c < 3; c++) {
		double g = (grey_code[c] - 64.0) / 876.0;
		double in[3] = {g, g, g}, out[3];
		media_lut_eval(curves[c], in, out);
		fprintf(stderr, "%s grey -> %.4f %.4f %.4f\n", curves[c], out[0], out[1], out[2]);
		CHECK(fabs(out[0] - out[1]) < 1e-3 && fabs(out[1] - out[2]) < 1e-3); /* neutral stays neutral */
		CHECK(out[1] > 0.36 && out[1] < 0.44);
		double lo[3] = {0, 0, 0}, hi[3] = {1, 1, 1}, o2[3];
		media_lut_eval(curves[c], lo, o2);
		CHECK(o2[1] < 0.05);
		media_lut_eval(curves[c], hi, o2);
		CHECK(o2[1] > 0.9 && o2[1] <= 1.0);
		/* monotonic along the grey axis */
		double prev = -1;
		bool mono = true;
		for (int k = 0; k <= 32; k++) {
			double x[3] = {k / 32.0, k / 32.0, k / 32.0}, y[3];
			media_lut_eval(curves[c], x, y);
			if (y[1] < prev - 1e-9)
				mono = false;
			prev = y[1];
		}
		CHECK(mono);
	}
	CHECK(media_lut_known("slog3") && media_lut_known("vlog") && media_lut_known("logc3"));
	CHECK(!media_lut_known("none"));
	REQUIRE(media_lut_write_cube("vlog", 5, mu_path("vlog.cube")) == 0);
	char *lines = mu_capture("grep -c '^[0-9]' '%s'", mu_path("vlog.cube"));
	CHECK(lines && atoi(lines) == 125);
	free(lines);
}

static void test_recipe(void)
{
	dits_proxy_recipe r;
	dits_proxy_recipe_default(&r);
	CHECK(r.codec == DITS_PROXY_PRORES_PROXY && r.max_height == 1080 && r.poster && r.sprite && r.preview);
	char *a = dits_proxy_recipe_json(&r);
	REQUIRE(a != NULL);
	CHECK(strstr(a, "\"encoder\":\"prores_ks\"") && strstr(a, "\"codec_tag\":\"apco\"") &&
	      strstr(a, "\"vendor\":\"apl0\"") && strstr(a, "\"pix_fmt\":\"yuv422p10le\"") &&
	      strstr(a, "\"qscale\":") && strstr(a, "\"max_height\":1080,\"size\":\"integer divisor inside 1920x1080") && strstr(a, "\"avcodec\":\"59."));
	char *a2 = dits_proxy_recipe_json(&r);
	CHECK(a2 && strcmp(a, a2) == 0);
	r.max_height = 540;
	char *b = dits_proxy_recipe_json(&r);
	CHECK(b && strstr(b, "\"max_height\":540,\"size\":\"integer divisor inside 960x540") && strcmp(a, b) != 0);
	r.codec = DITS_PROXY_DNXHR_LB;
	char *c = dits_proxy_recipe_json(&r);
	CHECK(c && strstr(c, "dnxhr_lb") && strstr(c, "\"pix_fmt\":\"yuv422p\""));
	r.codec = DITS_PROXY_H264;
	char *d = dits_proxy_recipe_json(&r);
	CHECK(d && strstr(d, "libx264") && strstr(d, "\"crf\":23") && strstr(d, "veryfast"));
	snprintf(r.lut, sizeof(r.lut), "%s", mu_path("vlog.cube"));
	char *e = dits_proxy_recipe_json(&r);
	CHECK(e && strstr(e, "\"lut\":\"cube:"));
	snprintf(r.lut, sizeof(r.lut), "%s", mu_path("missing.cube"));
	CHECK(dits_proxy_recipe_json(&r) == NULL);
	CHECK(dits_proxy_codec_from_name("prores_proxy") == 0 && dits_proxy_codec_from_name("dnxhr_lb") == 1 &&
	      dits_proxy_codec_from_name("h264") == 2 && dits_proxy_codec_from_name("x") == -1);
	CHECK(strcmp(dits_proxy_codec_name(1), "dnxhr_lb") == 0 && dits_proxy_codec_name(7) == NULL);
	free(a), free(a2), free(b), free(c), free(d), free(e);
}

int main(void)
{
	mu_tmpdir();
	test_matrix();
	test_index_counts();
	test_bad_inputs();
	test_validate();
	test_lut_math();
	test_recipe();
	mu_tmpdir_remove();
	return check_done();
}
