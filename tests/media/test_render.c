/*
 * test_render.c - dits_render_run on masters whose every frame is a flat
 * grey level that names it (master A: 16 + 7n mod 200, master B: 16 +
 * (11n + 50) mod 200, long-GOP H.264 so reverse and seeks are exercised),
 * with start timecodes and a sine each. A timeline of cuts, a gap, a second
 * video track, a dissolve, speed 2, a freeze and a reverse is rendered to
 * FFV1 and every output frame's centre is checked against the formula in
 * timeline.h, the pillarbox of the 4:3 master is black, the frame count,
 * tmcd and audio length come out right (ffprobe, ffmpeg's astats), and
 * dits_render_verify passes the render and fails it against a timeline
 * shifted by one frame. ProRes HQ once; a source range beyond the master
 * fails naming the event and leaves nothing.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "error.h"
#include "media.h"
#include "media_util.h"
#include "render.h"
#include "timecode.h"
#include "timeline_internal.h"

#define W 320
#define H 180
#define NFRAMES 100

static char master_path[2][512];
static dits_media_facts facts[2];
static int64_t tc_a, tc_b;

static int level_a(int64_t n)
{
	return 16 + (int)((n * 7) % 200);
}

static int level_b(int64_t n)
{
	return 16 + (int)((n * 11 + 50) % 200);
}

static int open_master(void *ctx, int media, dits_media_source *src)
{
	(void)ctx;
	return dits_media_source_open_file(src, master_path[media]);
}

static void close_master(void *ctx, dits_media_source *src)
{
	(void)ctx;
	dits_media_source_close_file(src);
}

static bool make_masters(void)
{
	snprintf(master_path[0], sizeof(master_path[0]), "%s", mu_path("A.mov"));
	snprintf(master_path[1], sizeof(master_path[1]), "%s", mu_path("B.mov"));
	if (mu_sh("ffmpeg -nostdin -y -v error -f lavfi -i \"nullsrc=s=320x180:r=25:d=4,format=yuv420p,"
	          "geq=lum='16+mod(N*7,200)':cb=128:cr=128\" -f lavfi -i \"sine=f=440:r=48000:d=4\" "
	          "-c:v libx264 -qp 0 -g 10 -bf 2 -c:a pcm_s16le -timecode 01:00:00:00 '%s'",
	          master_path[0]) != 0)
		return false;
	if (mu_sh("ffmpeg -nostdin -y -v error -f lavfi -i \"nullsrc=s=240x180:r=25:d=4,format=yuv420p,"
	          "geq=lum='16+mod(N*11+50,200)':cb=128:cr=128\" -f lavfi -i \"sine=f=1000:r=44100:d=4\" "
	          "-c:v libx264 -qp 0 -g 12 -bf 2 -c:a pcm_s16le -timecode 02:00:00:00 '%s'",
	          master_path[1]) != 0)
		return false;
	for (int i = 0; i < 2; i++) {
		dits_media_source src;
		if (dits_media_source_open_file(&src, master_path[i]) < 0)
			return false;
		int rc = dits_media_probe(&src, &facts[i]);
		dits_media_source_close_file(&src);
		if (rc < 0)
			return false;
	}
	dits_tc_parse("01:00:00:00", 25, 1, &tc_a, NULL);
	dits_tc_parse("02:00:00:00", 25, 1, &tc_b, NULL);
	return facts[0].frame_count == NFRAMES && facts[1].frame_count == NFRAMES;
}

static void add(dits_timeline *tl, int kind, int track, int event, int media, int64_t rin, int64_t rout,
                int64_t src, int speed, int64_t dissolve)
{
	dits_tl_clip c = {0};
	c.kind = kind;
	c.track = track;
	c.event = event;
	c.media = media;
	c.rec_in = rin;
	c.rec_out = rout;
	c.src_in = src;
	c.src_rate = (AVRational){25, 1};
	c.speed = (AVRational){speed, 1};
	c.dissolve = dissolve;
	c.src_channel = 0;
	c.enabled = true;
	CHECK(media_tl_add_clip(tl, &c) == 0);
}

/* The conform under test; shift moves every source in by that many frames. */
static void build(dits_timeline *tl, int shift)
{
	memset(tl, 0, sizeof(*tl));
	tl->format = DITS_TL_EDL;
	tl->rate = (AVRational){25, 1};
	dits_tc_parse("10:00:00:00", 25, 1, &tl->rec_start, NULL);
	CHECK(media_tl_add_media(tl, "A.mov", master_path[0], "A", (AVRational){25, 1}, tc_a) == 0);
	CHECK(media_tl_add_media(tl, "B.mov", master_path[1], "B", (AVRational){25, 1}, tc_b) == 1);
	add(tl, DITS_TL_VIDEO, 0, 1, 0, 0, 20, tc_a + 10 + shift, 1, 0);
	add(tl, DITS_TL_VIDEO, 0, 2, 1, 25, 45, tc_b + 5 + shift, 1, 0);
	add(tl, DITS_TL_VIDEO, 0, 3, 0, 45, 65, tc_a + 50 + shift, 1, 5);
	add(tl, DITS_TL_VIDEO, 0, 4, 0, 65, 75, tc_a + 0 + shift, 2, 0);
	add(tl, DITS_TL_VIDEO, 0, 5, 1, 75, 80, tc_b + 30 + shift, 0, 0);
	add(tl, DITS_TL_VIDEO, 0, 6, 0, 80, 100, tc_a + 90 + shift, -1, 0);
	add(tl, DITS_TL_VIDEO, 1, 7, 1, 5, 10, tc_b + 60 + shift, 1, 0);
	add(tl, DITS_TL_AUDIO, 0, 8, 0, 0, 20, tc_a + 10, 1, 0);
	add(tl, DITS_TL_AUDIO, 1, 9, 1, 25, 45, tc_b + 5, 1, 0);
	CHECK(media_tl_finish(tl, "test") == 0);
}

/* The expected luma (8-bit) at record frame r, per timeline.h, written out by hand. */
static double expected_level(int64_t r)
{
	if (r >= 5 && r < 10)
		return level_b(60 + (r - 5));
	if (r < 20)
		return level_a(10 + r);
	if (r < 25)
		return 16;
	if (r < 45)
		return level_b(5 + (r - 25));
	if (r < 50) {
		double w = (double)(r - 45 + 1) / 6;
		return level_b(5 + (r - 25)) * (1 - w) + level_a(50 + (r - 45)) * w;
	}
	if (r < 65)
		return level_a(50 + (r - 45));
	if (r < 75)
		return level_a(2 * (r - 65));
	if (r < 80)
		return level_b(30);
	return level_a(90 - (r - 80));
}

static bool shows_b(int64_t r)
{
	return (r >= 5 && r < 10) || (r >= 25 && r < 45) || (r >= 75 && r < 80);
}

static void progress_cb(void *ctx, double done, double total)
{
	double *last = ctx;
	CHECK(done >= last[0] && done <= total + 1e-9);
	last[0] = done;
	last[1] = total;
}

static void check_frames(const char *out)
{
	const char *raw = mu_path("out.y");
	CHECK(mu_sh("ffmpeg -nostdin -y -v error -i '%s' -map 0:v:0 -f rawvideo -pix_fmt yuv422p10le '%s'", out, raw) == 0);
	FILE *f = fopen(raw, "rb");
	CHECK(f != NULL);
	if (!f)
		return;
	/* the planes as rendered (a grey format would expand video range) */
	uint16_t *fr = malloc(W * H * 4);
	int64_t r = 0, bad = 0;
	while (fread(fr, 2, W * H * 2, f) == W * H * 2) {
		double got = fr[(H / 2) * W + W / 2] / 4.0;
		double want = expected_level(r);
		if (fabs(got - want) > 1.0) {
			if (bad++ < 10)
				fprintf(stderr, "frame %lld: level %.2f, want %.2f\n", (long long)r, got, want);
		}
		/* B is 4:3: pillarboxed in black */
		double edge = fr[(H / 2) * W + 5] / 4.0;
		if (shows_b(r) && fabs(edge - 16) > 0.5) {
			if (bad++ < 10)
				fprintf(stderr, "frame %lld: pillar %.2f\n", (long long)r, edge);
		}
		r++;
	}
	fclose(f);
	free(fr);
	CHECK(bad == 0);
	CHECK(r == NFRAMES);
}

static void test_ffv1(void)
{
	dits_timeline tl, shifted;
	build(&tl, 0);
	build(&shifted, 1);
	CHECK(tl.duration == NFRAMES);
	const char *out = mu_path("conform.mov");
	double last[2] = {0, 0};
	dits_render_opts o = {W, H, DITS_RENDER_FFV1, 48000, 2, progress_cb, last};
	CHECK_RC(dits_render_run(&tl, facts, open_master, close_master, NULL, &o, out), 0);
	CHECK(fabs(last[0] - 4.0) < 1e-9 && fabs(last[1] - 4.0) < 1e-9);
	check_frames(out);
	CHECK(mu_count_packets(out, "v", 0) == NFRAMES);
	char *json = mu_ffprobe(out);
	char v[64] = "";
	CHECK(json && mu_json_str(json, "timecode", v, sizeof(v)) && strcmp(v, "10:00:00:00") == 0);
	char *vs = json ? mu_stream(json, "video", 0) : NULL;
	CHECK(vs && mu_json_str(vs, "codec_name", v, sizeof(v)) && strcmp(v, "ffv1") == 0);
	CHECK(vs && mu_json_str(vs, "color_primaries", v, sizeof(v)) && strcmp(v, "bt709") == 0);
	CHECK(vs && mu_json_str(vs, "r_frame_rate", v, sizeof(v)) && strcmp(v, "25/1") == 0);
	char *as = json ? mu_stream(json, "audio", 0) : NULL;
	CHECK(as && mu_json_str(as, "codec_name", v, sizeof(v)) && strcmp(v, "pcm_s24le") == 0);
	CHECK(as && mu_json_long(as, "channels", 0) == 2 && mu_json_long(as, "sample_rate", 0) == 48000);
	free(vs);
	free(as);
	free(json);
	CHECK(mu_count_samples(out, 0, 2) == 4 * 48000);
	/* the gap [20, 25) is silent on both channels; the clips are not */
	CHECK(mu_audio_silent(out, 0.82, 0.16));
	CHECK(!mu_audio_silent(out, 0.1, 0.6));
	CHECK(!mu_audio_silent(out, 1.1, 0.6));
	CHECK(mu_audio_silent(out, 1.85, 2.1));

	dits_render_report rep;
	CHECK_RC(dits_render_verify(&tl, facts, open_master, close_master, NULL, &o, out, &rep), 0);
	CHECK(rep.pass && rep.frames_ok && rep.timecode_ok && rep.audio_ok);
	CHECK(rep.nchecks >= 15);
	for (size_t i = 0; i < rep.nchecks; i++)
		if (!rep.checks[i].pass)
			fprintf(stderr, "event %d frame %lld: psnr %.2f\n", rep.checks[i].event,
			        (long long)rep.checks[i].frame, rep.checks[i].psnr);
	dits_render_report_free(&rep);
	CHECK_RC(dits_render_verify(&shifted, facts, open_master, close_master, NULL, &o, out, &rep), 0);
	CHECK(!rep.pass);
	size_t failed = 0;
	for (size_t i = 0; i < rep.nchecks; i++)
		failed += !rep.checks[i].pass;
	/* every clip is off by one, so every compared frame differs */
	CHECK(failed == rep.nchecks);
	dits_render_report_free(&rep);
	dits_timeline_free(&tl);
	dits_timeline_free(&shifted);
}

static void test_prores(void)
{
	dits_timeline tl, shifted;
	build(&tl, 0);
	build(&shifted, 1);
	const char *out = mu_path("conform_hq.mov");
	dits_render_opts o = {W, H, DITS_RENDER_PRORES_HQ, 48000, 2, NULL, NULL};
	CHECK_RC(dits_render_run(&tl, facts, open_master, close_master, NULL, &o, out), 0);
	char *json = mu_ffprobe(out);
	char *vs = json ? mu_stream(json, "video", 0) : NULL;
	char v[64] = "";
	CHECK(vs && mu_json_str(vs, "codec_tag_string", v, sizeof(v)) && strcmp(v, "apch") == 0);
	CHECK(vs && mu_json_str(vs, "pix_fmt", v, sizeof(v)) && strcmp(v, "yuv422p10le") == 0);
	free(vs);
	free(json);
	check_frames(out);
	dits_render_report rep;
	CHECK_RC(dits_render_verify(&tl, facts, open_master, close_master, NULL, &o, out, &rep), 0);
	CHECK(rep.pass);
	for (size_t i = 0; i < rep.nchecks; i++)
		if (!rep.checks[i].pass)
			fprintf(stderr, "prores: event %d frame %lld: psnr %.2f\n", rep.checks[i].event,
			        (long long)rep.checks[i].frame, rep.checks[i].psnr);
	dits_render_report_free(&rep);
	CHECK_RC(dits_render_verify(&shifted, facts, open_master, close_master, NULL, &o, out, &rep), 0);
	CHECK(!rep.pass);
	dits_render_report_free(&rep);
	dits_timeline_free(&tl);
	dits_timeline_free(&shifted);
}

/* Channel ch of the render's audio as the s24 samples (in s32), n of them in *n. */
static int32_t *read_channel(const char *path, int ch, int nch, long *n)
{
	const char *raw = mu_path("pcm.raw");
	*n = 0;
	if (mu_sh("ffmpeg -nostdin -y -v error -i '%s' -map 0:a:0 -f s32le -c:a pcm_s32le '%s'", path, raw) != 0)
		return NULL;
	FILE *f = fopen(raw, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long frames = ftell(f) / 4 / nch;
	fseek(f, 0, SEEK_SET);
	int32_t *all = malloc((size_t)frames * (size_t)nch * 4), *out = malloc((size_t)frames * 4);
	if (all && out && fread(all, 4, (size_t)frames * (size_t)nch, f) == (size_t)frames * (size_t)nch) {
		for (long i = 0; i < frames; i++)
			out[i] = all[i * nch + ch];
		*n = frames;
	}
	fclose(f);
	free(all);
	return out;
}

/* Audio is cut at sample accuracy: channel 0 is master A's samples 19200.. (src_in + 10 frames) exactly. */
static void test_audio_samples(void)
{
	const char *out = mu_path("conform.mov");
	const char *araw = mu_path("a.raw");
	CHECK(mu_sh("ffmpeg -nostdin -y -v error -i '%s' -map 0:a:0 -f s16le -c:a pcm_s16le '%s'", master_path[0],
	            araw) == 0);
	FILE *f = fopen(araw, "rb");
	CHECK(f != NULL);
	if (!f)
		return;
	int16_t *a = malloc(4 * 48000 * 2);
	size_t na = fread(a, 2, 4 * 48000, f);
	fclose(f);
	long n0 = 0, n1 = 0;
	int32_t *c0 = read_channel(out, 0, 2, &n0), *c1 = read_channel(out, 1, 2, &n1);
	CHECK(c0 && c1 && n0 == 4 * 48000 && n1 == n0 && na == 4 * 48000);
	if (c0 && c1 && n0 == 4 * 48000 && na == 4 * 48000) {
		long bad = 0, outside = 0;
		for (long i = 0; i < 38400; i++)
			bad += c0[i] != (int32_t)((uint32_t)(int32_t)a[19200 + i] << 16);
		for (long i = 38400; i < n0; i++)
			outside += c0[i] != 0;
		for (long i = 0; i < 48000; i++)
			outside += c1[i] != 0;
		for (long i = 86400; i < n1; i++)
			outside += c1[i] != 0;
		double e = 0;
		for (long i = 48000; i < 86400; i++)
			e += (double)c1[i] * c1[i];
		CHECK(bad == 0);
		CHECK(outside == 0);
		CHECK(sqrt(e / 38400) > 1e8); /* B's sine, resampled from 44.1 kHz, is there */
		/* ... in phase: sample i is B's 1 kHz sine (amplitude 1/8) at 0.2 s + (i - 48000) / 48000 */
		double worst = 0;
		for (long i = 48000 + 64; i < 86400 - 64; i++) {
			double want = 0.125 * sin(2 * M_PI * 1000 * (0.2 + (i - 48000) / 48000.0));
			double d = fabs(c1[i] / 2147483648.0 - want);
			if (d > worst)
				worst = d;
		}
		fprintf(stderr, "resampled audio: worst error %.5f of full scale\n", worst);
		CHECK(worst < 0.0025); /* a sample late or early is 0.016 */
	}
	free(a);
	free(c0);
	free(c1);
}

static int open_ctx_path(void *ctx, int media, dits_media_source *src)
{
	(void)media;
	return dits_media_source_open_file(src, ctx);
}

/*
 * The master of the audio stream tests: 2 s of picture and two mono audio
 * streams, silence then a 1 kHz sine, as MXF cameras and many MOV recorders
 * write one stream per channel. Made and probed once.
 */
static const char *streams_path;
static dits_media_facts streams_facts;

static bool streams_master(void)
{
	if (streams_path)
		return true;
	const char *m = mu_path("streams.mov");
	if (mu_sh("ffmpeg -nostdin -y -v error -f lavfi -i testsrc2=s=320x180:r=25:d=2 "
	          "-f lavfi -i anullsrc=r=48000:cl=mono -f lavfi -i sine=f=1000:r=48000:d=2 "
	          "-map 0:v -map 1:a -map 2:a -t 2 -c:v prores_ks -profile:v 0 -c:a pcm_s16le '%s'",
	          m) != 0)
		return false;
	dits_media_source src;
	if (dits_media_source_open_file(&src, m) < 0)
		return false;
	int rc = dits_media_probe(&src, &streams_facts);
	dits_media_source_close_file(&src);
	if (rc < 0)
		return false;
	streams_path = m;
	return true;
}

/* An empty 25 fps timeline over the streams master (media 0). */
static void streams_timeline(dits_timeline *tl)
{
	memset(tl, 0, sizeof(*tl));
	tl->format = DITS_TL_EDL;
	tl->rate = (AVRational){25, 1};
	CHECK(media_tl_add_media(tl, "streams.mov", streams_path, "S", (AVRational){25, 1}, 0) == 0);
}

/* Renders tl (finished as name) to out in FFV1 with two channels; *c0 and *c1 are those channels, n samples long. */
static void streams_render(dits_timeline *tl, const char *name, const char *out, int32_t **c0, int32_t **c1, long *n)
{
	CHECK(media_tl_finish(tl, name) == 0);
	dits_render_opts o = {W, H, DITS_RENDER_FFV1, 48000, 2, NULL, NULL};
	CHECK_RC(dits_render_run(tl, &streams_facts, open_ctx_path, close_master, (void *)streams_path, &o, out), 0);
	long n1 = 0;
	*c0 = read_channel(out, 0, 2, n);
	*c1 = read_channel(out, 1, 2, &n1);
	if (n1 != *n)
		*n = -1;
}

/*
 * Source channel k is the k-th channel counting through the master's audio
 * streams in order. Channel 1 (the second stream: the sine) goes to output
 * channel 0, channel 0 (the first stream: silence) to output channel 1.
 */
static void test_audio_streams(void)
{
	REQUIRE(streams_master());
	const dits_media_facts *mf = &streams_facts;
	CHECK(mf->naudio == 2 && mf->audio[0].channels == 1 && mf->audio[1].channels == 1);
	dits_timeline tl;
	streams_timeline(&tl);
	add(&tl, DITS_TL_VIDEO, 0, 1, 0, 0, 25, 10, 1, 0);
	add(&tl, DITS_TL_AUDIO, 0, 1, 0, 0, 25, 10, 1, 0);
	add(&tl, DITS_TL_AUDIO, 1, 1, 0, 0, 25, 10, 1, 0);
	tl.clips[1].src_channel = 1;
	tl.clips[2].src_channel = 0;
	long n0 = 0;
	int32_t *c0 = NULL, *c1 = NULL;
	streams_render(&tl, "streams", mu_path("streams_out.mov"), &c0, &c1, &n0);
	CHECK(c0 && c1 && n0 == 48000);
	if (c0 && c1 && n0 == 48000) {
		double e = 0;
		long loud = 0;
		for (long i = 0; i < n0; i++) {
			e += (double)c0[i] * c0[i];
			loud += c1[i] != 0;
		}
		CHECK(sqrt(e / (double)n0) > 1e8); /* the sine of the second stream */
		CHECK(loud == 0);                  /* the silence of the first */
	}
	free(c0);
	free(c1);
	dits_timeline_free(&tl);
}

/* Sign changes in x[from, to): twice the frequency of a sine, per length. */
static long crossings(const int32_t *x, long from, long to)
{
	long n = 0;
	for (long i = from + 1; i < to; i++)
		n += (x[i - 1] < 0) != (x[i] < 0);
	return n;
}

/*
 * Audio under a speed change plays varispeed: the 1 kHz sine of the second
 * stream at twice the speed is a 2 kHz sine, at half the speed 500 Hz, each
 * filling its clip to the end; a freeze (speed 0) and reverse are silent.
 */
static void test_audio_varispeed(void)
{
	REQUIRE(streams_master());
	dits_timeline tl;
	streams_timeline(&tl);
	add(&tl, DITS_TL_VIDEO, 0, 1, 0, 0, 50, 0, 1, 0);
	add(&tl, DITS_TL_AUDIO, 0, 1, 0, 0, 25, 0, 2, 0);   /* 1 s of record from 2 s of source */
	add(&tl, DITS_TL_AUDIO, 1, 2, 0, 0, 25, 10, 1, 0);  /* made half speed below */
	add(&tl, DITS_TL_AUDIO, 0, 3, 0, 25, 50, 10, 0, 0); /* a freeze */
	add(&tl, DITS_TL_AUDIO, 1, 4, 0, 25, 50, 40, -1, 0); /* reverse */
	for (size_t i = 1; i < tl.nclips; i++)
		tl.clips[i].src_channel = 1;
	tl.clips[2].speed = (AVRational){1, 2};
	long n0 = 0;
	int32_t *c0 = NULL, *c1 = NULL;
	streams_render(&tl, "varispeed", mu_path("varispeed.mov"), &c0, &c1, &n0);
	CHECK(c0 && c1 && n0 == 96000);
	if (c0 && c1 && n0 == 96000) {
		/* the first second, less the resampler's edges: 2 kHz and 500 Hz */
		long x0 = crossings(c0, 480, 47520), x1 = crossings(c1, 480, 47520);
		fprintf(stderr, "varispeed: %ld and %ld sign changes in 0.98 s\n", x0, x1);
		CHECK(labs(x0 - 3920) <= 8);
		CHECK(labs(x1 - 980) <= 4);
		/* up to the end of each clip: the source ran long enough */
		CHECK(crossings(c0, 47000, 47990) > 30);
		CHECK(crossings(c1, 47000, 47990) > 6);
		long loud = 0;
		for (long i = 48000; i < n0; i++)
			loud += c0[i] != 0 || c1[i] != 0;
		CHECK(loud == 0);
	}
	free(c0);
	free(c1);
	dits_timeline_free(&tl);
}

/* 29.97 drop-frame record timecode, a smaller output (scaled down), DNxHR HQX and ProRes 4444. */
static void test_ntsc_and_codecs(void)
{
	static const struct {
		int codec;
		const char *tag;
	} codecs[] = {{DITS_RENDER_FFV1, "FFV1"}, {DITS_RENDER_DNXHR_HQX, "AVdh"}, {DITS_RENDER_PRORES_4444, "ap4h"}};
	dits_timeline tl;
	memset(&tl, 0, sizeof(tl));
	tl.format = DITS_TL_EDL;
	tl.rate = (AVRational){30000, 1001};
	tl.drop_frame = true;
	CHECK(dits_tc_parse("00:59:59;28", 30000, 1001, &tl.rec_start, NULL) == 0);
	CHECK(media_tl_add_media(&tl, "A.mov", master_path[0], NULL, (AVRational){25, 1}, tc_a) == 0);
	add(&tl, DITS_TL_VIDEO, 0, 1, 0, 0, 31, tc_a + 3, 1, 0);
	add(&tl, DITS_TL_AUDIO, 0, 2, 0, 0, 31, tc_a + 3, 1, 0);
	CHECK(media_tl_finish(&tl, "ntsc") == 0);
	for (size_t k = 0; k < sizeof(codecs) / sizeof(codecs[0]); k++) {
		char name[64];
		snprintf(name, sizeof(name), "ntsc%zu.mov", k);
		const char *out = mu_path(name);
		dits_render_opts o = {256, 144, codecs[k].codec, 48000, 2, NULL, NULL};
		CHECK_RC(dits_render_run(&tl, facts, open_master, close_master, NULL, &o, out), 0);
		char *json = mu_ffprobe(out);
		char *vs = json ? mu_stream(json, "video", 0) : NULL;
		char v[64] = "";
		CHECK(json && mu_json_str(json, "timecode", v, sizeof(v)) && strcmp(v, "00:59:59;28") == 0);
		CHECK(vs && mu_json_str(vs, "codec_tag_string", v, sizeof(v)) && strcmp(v, codecs[k].tag) == 0);
		CHECK(vs && mu_json_str(vs, "r_frame_rate", v, sizeof(v)) && strcmp(v, "30000/1001") == 0);
		CHECK(vs && mu_json_long(vs, "width", 0) == 256 && mu_json_long(vs, "height", 0) == 144);
		free(vs);
		free(json);
		CHECK(mu_count_packets(out, "v", 0) == 31);
		/* S(31) = round(31 * 48000 * 1001 / 30000) */
		CHECK(mu_count_samples(out, 0, 2) == 49650);
		dits_render_report rep;
		CHECK_RC(dits_render_verify(&tl, facts, open_master, close_master, NULL, &o, out, &rep), 0);
		CHECK(rep.pass && rep.nchecks == 3);
		dits_render_report_free(&rep);
	}
	/* DNxHR has a minimum frame size: refused before anything is written */
	dits_render_opts small = {160, 90, DITS_RENDER_DNXHR_HQX, 48000, 2, NULL, NULL};
	CHECK_RC(dits_render_run(&tl, facts, open_master, close_master, NULL, &small, mu_path("small.mov")),
	         DITS_EINVALID);
	CHECK(access(mu_path("small.mov"), F_OK) != 0);
	dits_timeline_free(&tl);
}

/* An audio dissolve: the outgoing clip continues on its handles, the gains ramp per sample. */
static void test_audio_dissolve(void)
{
	dits_timeline tl;
	memset(&tl, 0, sizeof(tl));
	tl.format = DITS_TL_EDL;
	tl.rate = (AVRational){25, 1};
	CHECK(media_tl_add_media(&tl, "A.mov", master_path[0], NULL, (AVRational){25, 1}, tc_a) == 0);
	add(&tl, DITS_TL_AUDIO, 0, 1, 0, 0, 20, tc_a + 10, 1, 0);
	add(&tl, DITS_TL_AUDIO, 0, 2, 0, 20, 40, tc_a + 60, 1, 5);
	CHECK(media_tl_finish(&tl, "xfade") == 0);
	const char *out = mu_path("xfade.mov");
	dits_render_opts o = {256, 144, DITS_RENDER_FFV1, 48000, 2, NULL, NULL};
	CHECK_RC(dits_render_run(&tl, facts, open_master, close_master, NULL, &o, out), 0);
	const char *araw = mu_path("a.raw");
	CHECK(mu_sh("ffmpeg -nostdin -y -v error -i '%s' -map 0:a:0 -f s16le -c:a pcm_s16le '%s'", master_path[0],
	            araw) == 0);
	FILE *f = fopen(araw, "rb");
	int16_t *a = malloc(4 * 48000 * 2);
	size_t na = f ? fread(a, 2, 4 * 48000, f) : 0;
	if (f)
		fclose(f);
	long n0 = 0;
	int32_t *c0 = read_channel(out, 0, 2, &n0);
	CHECK(c0 && n0 == 40 * 1920 && na == 4 * 48000);
	if (c0 && n0 == 40 * 1920 && na == 4 * 48000) {
		long bad = 0;
		for (long i = 0; i < n0; i++) {
			/* outgoing: A from sample 19200 (frame 10); incoming: A from 115200 (frame 60) at sample 38400 */
			double out_s = i < 38400 + 9600 ? a[19200 + i] : 0;
			double in_s = i >= 38400 ? a[115200 + (i - 38400)] : 0;
			double w = i < 38400 ? 0 : i >= 48000 ? 1 : (double)(i - 38400 + 1) / 9601;
			double want = (out_s * (1 - w) + in_s * w) * 256; /* s16 -> s24 */
			if (fabs(c0[i] / 256.0 - want) > 2 && bad++ < 5)
				fprintf(stderr, "xfade sample %ld: %.1f, want %.1f\n", i, c0[i] / 256.0, want);
		}
		CHECK(bad == 0);
	}
	free(a);
	free(c0);
	dits_timeline_free(&tl);
}

/* A reverse longer than a reader's cache (64 frames at 1080p): the reader refills it from earlier GOPs. */
static void test_long_reverse(void)
{
	dits_timeline tl;
	memset(&tl, 0, sizeof(tl));
	tl.format = DITS_TL_EDL;
	tl.rate = (AVRational){25, 1};
	CHECK(media_tl_add_media(&tl, "A.mov", master_path[0], NULL, (AVRational){25, 1}, tc_a) == 0);
	add(&tl, DITS_TL_VIDEO, 0, 1, 0, 0, NFRAMES, tc_a + NFRAMES - 1, -1, 0);
	CHECK(media_tl_finish(&tl, "reverse") == 0);
	const char *out = mu_path("reverse.mov");
	dits_render_opts o = {1920, 1080, DITS_RENDER_FFV1, 48000, 2, NULL, NULL};
	CHECK_RC(dits_render_run(&tl, facts, open_master, close_master, NULL, &o, out), 0);
	const char *raw = mu_path("reverse.y");
	CHECK(mu_sh("ffmpeg -nostdin -y -v error -i '%s' -map 0:v:0 -vf crop=2:2:958:538 -f rawvideo "
	            "-pix_fmt yuv422p10le '%s'", out, raw) == 0);
	FILE *f = fopen(raw, "rb");
	CHECK(f != NULL);
	if (!f)
		return;
	uint16_t px[8];
	int64_t r = 0, bad = 0;
	while (fread(px, 2, 8, f) == 8) {
		if (fabs(px[0] / 4.0 - level_a(NFRAMES - 1 - r)) > 1 && bad++ < 5)
			fprintf(stderr, "reverse frame %lld: %.2f, want %d\n", (long long)r, px[0] / 4.0,
			        level_a(NFRAMES - 1 - r));
		r++;
	}
	fclose(f);
	CHECK(bad == 0);
	CHECK(r == NFRAMES);
	dits_timeline_free(&tl);
}

static void test_beyond_master(void)
{
	dits_timeline tl;
	memset(&tl, 0, sizeof(tl));
	tl.format = DITS_TL_EDL;
	tl.rate = (AVRational){25, 1};
	CHECK(media_tl_add_media(&tl, "A.mov", master_path[0], NULL, (AVRational){25, 1}, tc_a) == 0);
	add(&tl, DITS_TL_VIDEO, 0, 1, 0, 0, 10, tc_a, 1, 0);
	add(&tl, DITS_TL_VIDEO, 0, 2, 0, 10, 20, tc_a + 95, 1, 0);
	CHECK(media_tl_finish(&tl, "test") == 0);
	const char *out = mu_path("bad.mov");
	dits_render_opts o = {W, H, DITS_RENDER_FFV1, 48000, 2, NULL, NULL};
	CHECK_RC(dits_render_run(&tl, facts, open_master, close_master, NULL, &o, out), DITS_EINVALID);
	const char *msg = dits_error_last();
	CHECK(strstr(msg, "event 2") != NULL && strchr(msg, '\n') == NULL);
	CHECK(strstr(msg, "01:00:03:20-01:00:04:04") != NULL);
	CHECK(access(out, F_OK) != 0);
	/* before the master's start too */
	tl.clips[1].src_in = tc_a - 1;
	CHECK_RC(dits_render_run(&tl, facts, open_master, close_master, NULL, &o, out), DITS_EINVALID);
	CHECK(strstr(dits_error_last(), "event 2") != NULL);
	CHECK(access(out, F_OK) != 0);
	/* a dissolve needs the outgoing clip's handles: A ends at frame 99, the dissolve wants 100..104 */
	tl.clips[0].src_in = tc_a + 90;
	tl.clips[1].src_in = tc_a;
	tl.clips[1].dissolve = 5;
	CHECK_RC(dits_render_run(&tl, facts, open_master, close_master, NULL, &o, out), DITS_EINVALID);
	CHECK(strstr(dits_error_last(), "event 1 (A.mov)") != NULL);
	CHECK(strstr(dits_error_last(), "01:00:03:15-01:00:04:04") != NULL);
	CHECK(access(out, F_OK) != 0);
	dits_timeline_free(&tl);
}

int main(void)
{
	mu_tmpdir();
	if (!make_masters()) {
		fprintf(stderr, "cannot make the masters\n");
		return 1;
	}
	test_ffv1();
	test_audio_samples();
	test_audio_streams();
	test_audio_varispeed();
	test_audio_dissolve();
	test_long_reverse();
	test_ntsc_and_codecs();
	test_prores();
	test_beyond_master();
	mu_tmpdir_remove();
	return check_done();
}
