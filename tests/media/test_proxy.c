/*
 * test_proxy.c - dits_proxy_make on the source matrix: every proxy passes
 * validation, and reading it back with ffprobe (an independent check)
 * shows the recipe: ProRes Proxy 'apco' yuv422p10le, Rec.709 tags, even
 * dimensions that fit, the source timecode, every audio stream and channel
 * at the source rate. The poster, sprite sheet, WebVTT index and WEBM
 * preview exist and decode.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavformat/avio.h>
#include <libavutil/error.h>

#include "check.h"
#include "error.h"
#include "media.h"
#include "media_internal.h"
#include "media_util.h"

typedef struct progress_log {
	int calls;
	double last_done, last_total;
	bool monotonic;
} progress_log;

static void on_progress(void *ctx, double done, double total)
{
	progress_log *p = ctx;
	if (p->calls && done + 1e-9 < p->last_done)
		p->monotonic = false;
	p->calls++;
	p->last_done = done;
	p->last_total = total;
}

typedef struct outputs {
	char proxy[512], poster[512], sprite[512], vtt[512], webm[512];
	dits_proxy_outputs o;
} outputs;

static void outputs_for(outputs *o, const char *stem, bool extras)
{
	snprintf(o->proxy, sizeof(o->proxy), "%s.proxy.mov", mu_path(stem));
	snprintf(o->poster, sizeof(o->poster), "%s.poster.jpg", mu_path(stem));
	snprintf(o->sprite, sizeof(o->sprite), "%s.sprite.jpg", mu_path(stem));
	snprintf(o->vtt, sizeof(o->vtt), "%s.sprite.vtt", mu_path(stem));
	snprintf(o->webm, sizeof(o->webm), "%s.preview.webm", mu_path(stem));
	o->o = (dits_proxy_outputs){o->proxy, extras ? o->poster : NULL, extras ? o->sprite : NULL,
	                            extras ? o->vtt : NULL, "sprite.jpg", extras ? o->webm : NULL};
}

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

static int make(const char *path, const dits_media_facts *f, const dits_proxy_recipe *r, const outputs *o,
                dits_proxy_result *res, progress_log *pl)
{
	dits_media_source src;
	int rc = dits_media_source_open_file(&src, path);
	if (rc < 0)
		return rc;
	rc = dits_proxy_make(&src, f, r, &o->o, res, pl ? on_progress : NULL, pl);
	dits_media_source_close_file(&src);
	return rc;
}

static bool streq(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

/* The sprite sheet's VTT: one cue per tile, each pointing inside the sheet. */
static void check_vtt(const char *vtt, int sheet_w, int sheet_h, double duration)
{
	char *text = mu_capture("cat '%s'", vtt);
	REQUIRE(text != NULL);
	CHECK(strncmp(text, "WEBVTT\n", 7) == 0);
	int cues = 0;
	bool ok = true;
	double last_end = 0;
	for (char *p = text; (p = strstr(p, " --> ")); p += 5) {
		int h1, m1, s1, ms1, h2, m2, s2, ms2, x, y, w, h;
		char name[64];
		if (sscanf(p - 12, "%d:%d:%d.%d --> %d:%d:%d.%d\n%63[^#]#xywh=%d,%d,%d,%d", &h1, &m1, &s1, &ms1, &h2, &m2,
		           &s2, &ms2, name, &x, &y, &w, &h) != 13) {
			ok = false;
			break;
		}
		double a = h1 * 3600 + m1 * 60 + s1 + ms1 / 1000.0, b = h2 * 3600 + m2 * 60 + s2 + ms2 / 1000.0;
		if (!(b > a) || fabs(a - last_end) > 0.0015 || x + w > sheet_w || y + h > sheet_h || w != 160 ||
		    h != 90 || strcmp(name, "sprite.jpg") != 0)
			ok = false;
		last_end = b;
		cues++;
	}
	CHECK(ok);
	CHECK(cues >= 1 && cues <= 100);
	CHECK(fabs(last_end - duration) < 0.0015);
	free(text);
}

/* ffprobe on the proxy: the independent check of what dits wrote. */
static void check_ffprobe(const mu_source *s, const dits_media_facts *src, const char *proxy, int codec,
                          int max_height)
{
	char *json = mu_ffprobe(proxy);
	REQUIRE(json != NULL);
	char *v = mu_stream(json, "video", 0);
	REQUIRE(v != NULL);
	char val[64];
	if (codec == DITS_PROXY_PRORES_PROXY) {
		CHECK(mu_json_str(v, "codec_name", val, sizeof(val)) && streq(val, "prores"));
		CHECK(mu_json_str(v, "codec_tag_string", val, sizeof(val)) && streq(val, "apco"));
		CHECK(mu_json_str(v, "profile", val, sizeof(val)) && streq(val, "Proxy"));
		CHECK(mu_json_str(v, "pix_fmt", val, sizeof(val)) && streq(val, "yuv422p10le"));
	} else if (codec == DITS_PROXY_DNXHR_LB) {
		CHECK(mu_json_str(v, "codec_name", val, sizeof(val)) && streq(val, "dnxhd"));
		CHECK(mu_json_str(v, "profile", val, sizeof(val)) && streq(val, "DNXHR LB"));
		CHECK(mu_json_str(v, "codec_tag_string", val, sizeof(val)) && streq(val, "AVdh"));
		CHECK(mu_json_str(v, "pix_fmt", val, sizeof(val)) && streq(val, "yuv422p"));
	} else {
		CHECK(mu_json_str(v, "codec_name", val, sizeof(val)) && streq(val, "h264"));
		CHECK(mu_json_str(v, "codec_tag_string", val, sizeof(val)) && streq(val, "avc1"));
		CHECK(mu_json_str(v, "pix_fmt", val, sizeof(val)) && streq(val, "yuv420p"));
	}
	CHECK(mu_json_str(v, "color_primaries", val, sizeof(val)) && streq(val, "bt709"));
	CHECK(mu_json_str(v, "color_transfer", val, sizeof(val)) && streq(val, "bt709"));
	CHECK(mu_json_str(v, "color_space", val, sizeof(val)) && streq(val, "bt709"));
	long w = mu_json_long(v, "width", 0), h = mu_json_long(v, "height", 0);
	int ew, eh;
	dits_proxy_frame_size(src->width, src->height, src->sar, max_height, &ew, &eh);
	CHECK(w == ew && h == eh && w % 2 == 0 && h % 2 == 0 && h <= max_height);
	/* the master's pixel aspect, showing its display aspect */
	char want_sar[32];
	snprintf(want_sar, sizeof(want_sar), "%d:%d", src->sar.num, src->sar.den);
	if (mu_json_str(v, "sample_aspect_ratio", val, sizeof(val)))
		CHECK(streq(val, want_sar));
	else
		CHECK(src->sar.num == src->sar.den);
	double shown = (double)w * src->sar.num / src->sar.den / h;
	CHECK(fabs(shown - av_q2d(src->dar)) / av_q2d(src->dar) <= 1.0 / w + 1.0 / h);
	CHECK(mu_json_str(v, "r_frame_rate", val, sizeof(val)));
	char want[32];
	snprintf(want, sizeof(want), "%d/%d", s->rate_num, s->rate_den);
	CHECK(streq(val, want));
	/* the timecode: on the tmcd track (and the video stream's tags) */
	bool has_tc = strstr(json, "\"timecode\":") != NULL;
	if (s->timecode[0]) {
		char *tmcd = mu_stream(json, "data", 0);
		CHECK(tmcd && mu_json_str(tmcd, "codec_tag_string", val, sizeof(val)) && streq(val, "tmcd"));
		CHECK(tmcd && mu_json_str(tmcd, "timecode", val, sizeof(val)) && streq(val, s->timecode));
		/* the master's reel names the tmcd track */
		if (src->reel_name[0])
			CHECK(tmcd && mu_json_str(tmcd, "reel_name", val, sizeof(val)) && streq(val, src->reel_name));
		free(tmcd);
	} else {
		CHECK(!has_tc);
	}
	/* every audio stream, every channel, at the source rate, PCM */
	for (int a = 0; a < src->naudio; a++) {
		char *as = mu_stream(json, "audio", a);
		CHECK(as != NULL);
		if (!as)
			continue;
		CHECK(mu_json_long(as, "channels", 0) == src->audio[a].channels);
		CHECK(mu_json_long(as, "sample_rate", 0) == src->audio[a].sample_rate);
		CHECK(mu_json_str(as, "codec_name", val, sizeof(val)) && strncmp(val, "pcm_s", 5) == 0);
		free(as);
	}
	/* the hole is silence in the proxy, at the master's time, and the audio around it is not */
	if (strcmp(s->name, "audio_gap.mkv") == 0) {
		CHECK(mu_audio_silent(proxy, 1.06, 0.4));
		CHECK(!mu_audio_silent(proxy, 0.5, 0.4) && !mu_audio_silent(proxy, 1.6, 0.2));
	}
	/* audio before the first video frame is cut: the proxy's audio starts with its picture */
	if (strcmp(s->name, "video_delay.mkv") == 0) {
		char *as = mu_stream(json, "audio", 0);
		CHECK(as && mu_json_str(as, "start_time", val, sizeof(val)) && fabs(atof(val)) < 0.001);
		free(as);
	}
	/* audio that starts after the video keeps its delay (sync) */
	if (strcmp(s->name, "audio_delay.mov") == 0) {
		char *as = mu_stream(json, "audio", 0);
		CHECK(as && mu_json_str(as, "start_time", val, sizeof(val)) && fabs(atof(val) - 0.5) < 0.001);
		free(as);
	}
	char *extra = mu_stream(json, "audio", src->naudio);
	CHECK(extra == NULL);
	free(extra);
	/* ffprobe's own frame count */
	CHECK(mu_count_packets(proxy, "v", 0) == (src->vfr ? mu_count_packets(proxy, "v", 0) : src->frame_count));
	free(v);
	free(json);
}

static void check_extras(const outputs *o, const dits_media_facts *pf)
{
	CHECK(mu_file_nonempty(o->poster) && mu_decodes(o->poster));
	CHECK(mu_file_nonempty(o->sprite) && mu_decodes(o->sprite));
	CHECK(mu_file_nonempty(o->webm) && mu_decodes(o->webm));
	char *pj = mu_ffprobe(o->poster);
	char *ps = mu_stream(pj, "video", 0);
	long pw = mu_json_long(ps, "width", 0), ph = mu_json_long(ps, "height", 0);
	CHECK(pw > 0 && ph > 0 && pw <= 1280 && ph <= 720);
	free(ps), free(pj);
	char *sj = mu_ffprobe(o->sprite);
	char *ss = mu_stream(sj, "video", 0);
	long sw = mu_json_long(ss, "width", 0), sh = mu_json_long(ss, "height", 0);
	CHECK(sw % 160 == 0 && sh % 90 == 0 && sw <= 1600);
	free(ss), free(sj);
	check_vtt(o->vtt, (int)sw, (int)sh, pf->video_duration);
	char *wj = mu_ffprobe(o->webm);
	char *ws = mu_stream(wj, "video", 0);
	char val[32];
	CHECK(ws && mu_json_str(ws, "codec_name", val, sizeof(val)) && streq(val, "vp9"));
	CHECK(ws && mu_json_long(ws, "height", 0) <= 480 && mu_json_long(ws, "width", 0) <= 854);
	CHECK(mu_stream(wj, "audio", 0) == NULL);
	free(ws), free(wj);
}

static void test_matrix(void)
{
	for (int i = 0; i < mu_nsources; i++) {
		const mu_source *s = &mu_sources[i];
		const char *path = mu_make_source(s);
		REQUIRE(path != NULL);
		dits_media_facts f;
		CHECK_RC(probe_path(path, &f), 0);
		dits_proxy_recipe r;
		dits_proxy_recipe_default(&r);
		r.max_height = s->max_height;
		outputs o;
		outputs_for(&o, s->name, true);
		dits_proxy_result res;
		progress_log pl = {0, 0, 0, true};
		int rc = make(path, &f, &r, &o, &res, &pl);
		CHECK_RC(rc, 0);
		if (rc < 0)
			continue;
		int v = dits_proxy_validate(&f, &res.proxy, r.max_height);
		if (v < 0)
			fprintf(stderr, "%s: %s\n", s->name, dits_error_last());
		CHECK_RC(v, 0);
		fprintf(stderr, "%s: proxy %dx%d %lld frames tc '%s'%s%s\n", s->name, res.proxy.width, res.proxy.height,
		        (long long)res.proxy.frame_count, res.proxy.timecode, res.warnings[0] ? " warning: " : "",
		        res.warnings);
		CHECK(streq(res.proxy.video_codec, "prores") && streq(res.proxy.container, "mov"));
		CHECK(streq(res.proxy.timecode, s->timecode));
		CHECK(!res.proxy.vfr);
		CHECK(streq(res.proxy.color_transfer, "bt709") && streq(res.proxy.color_primaries, "bt709"));
		for (int a = 0; a < f.naudio; a++) {
			const dits_media_audio *ma = &f.audio[a], *pa = &res.proxy.audio[a];
			/* every sample at the master's time: holes filled, audio before the picture cut */
			CHECK(pa->gap == 0);
			CHECK(fabs(pa->start - (ma->start > 0 ? ma->start : 0)) < 0.001 && fabs(pa->end - ma->end) < 0.001);
			if (ma->gap == 0 && ma->start >= 0)
				CHECK_EQ_U64(pa->samples, ma->samples);
			CHECK(streq(res.proxy.audio[a].layout, f.audio[a].layout));
		}
		CHECK(streq(res.proxy.reel_name, f.reel_name));
		if (s->vfr)
			CHECK(strstr(res.warnings, "variable frame rate: conformed to ") != NULL &&
			      strstr(res.warnings, "fps, up to \u00b11 frame of drift") != NULL);
		else if (f.audio[0].gap > 0)
			CHECK(strstr(res.warnings, "audio stream 1: 0.5") && strstr(res.warnings, "filled with silence"));
		else
			CHECK(res.warnings[0] == 0 && res.proxy.frame_count == f.frame_count);
		CHECK(streq(res.lut_applied, s->log_curve));
		if (s->log_curve[0])
			CHECK(res.proxy.log_curve[0] == 0); /* the proxy is Rec.709 now */
		CHECK(pl.calls >= 1 && pl.monotonic && fabs(pl.last_done - pl.last_total) < 1e-9 &&
		      fabs(pl.last_total - f.video_duration) < 1e-9);
		check_ffprobe(s, &f, o.proxy, DITS_PROXY_PRORES_PROXY, s->max_height);
		check_extras(&o, &res.proxy);
	}
}

/* The frame-size rule on its own: integer divisors where they fit, else the shape kept. */
static void test_size_rule(void)
{
	static const struct {
		int w, h, sn, sd, max_h, pw, ph;
	} c[] = {
		{7680, 4320, 1, 1, 1080, 1920, 1080}, /* 8K UHD / 4 */
		{3840, 2160, 1, 1, 1080, 1920, 1080}, /* UHD / 2 */
		{8192, 4320, 1, 1, 1080, 2048, 1080}, /* 8K DCI / 4, DCI box */
		{4096, 2160, 1, 1, 1080, 2048, 1080}, /* 4K DCI / 2 */
		{6144, 3240, 1, 1, 1080, 2048, 1080}, /* 6K / 3 */
		{2880, 2160, 1, 1, 1080, 1440, 1080}, /* 4:3 open gate / 2 */
		{4096, 1716, 1, 1, 1080, 2048, 858},  /* DCI scope / 2 */
		{3996, 2160, 1, 1, 1080, 1998, 1080}, /* DCI flat / 2 */
		{1920, 1080, 1, 1, 1080, 1920, 1080}, /* never upscaled */
		{1280, 720, 1, 1, 1080, 1280, 720},
		{3840, 2160, 1, 1, 720, 1280, 720},   /* / 3 */
		{1920, 1080, 1, 1, 720, 1280, 720},   /* 1.5: no divisor, fitted */
		{5120, 2700, 1, 1, 1080, 2048, 1080}, /* only /5 divides, too small: fitted */
		{2048, 1080, 1, 1, 720, 1366, 720},   /* fitted, 1365.3 rounded to even */
		{720, 576, 16, 15, 1080, 720, 576},   /* PAL 4:3 keeps its pixels */
		{720, 576, 64, 45, 540, 676, 540},    /* anamorphic PAL in a 540 box: fitted, SAR kept */
		{1440, 1080, 4, 3, 1080, 1440, 1080}, /* HDV: anamorphic 16:9, kept as is */
	};
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		int w = 0, h = 0;
		dits_proxy_frame_size(c[i].w, c[i].h, (AVRational){c[i].sn, c[i].sd}, c[i].max_h, &w, &h);
		if (w != c[i].pw || h != c[i].ph)
			fprintf(stderr, "size rule: %dx%d at %d gave %dx%d, want %dx%d\n", c[i].w, c[i].h, c[i].max_h, w,
			        h, c[i].pw, c[i].ph);
		CHECK(w == c[i].pw && h == c[i].ph);
	}
}

/* A 2K DCI source: kept at 1080 (it fits the DCI box), fitted at 720; anamorphic keeps its pixels. */
static void test_sizes(void)
{
	dits_media_facts f;
	REQUIRE(probe_path(mu_path("dci2k_1080.mov"), &f) == 0);
	dits_proxy_recipe r;
	dits_proxy_recipe_default(&r);
	outputs o;
	outputs_for(&o, "dci2k-sizes", false);
	dits_proxy_result res;
	CHECK_RC(make(mu_path("dci2k_1080.mov"), &f, &r, &o, &res, NULL), 0);
	CHECK_EQ_U64(res.proxy.width, 2048);
	CHECK_EQ_U64(res.proxy.height, 1080);
	r.max_height = 720;
	CHECK_RC(make(mu_path("dci2k_1080.mov"), &f, &r, &o, &res, NULL), 0);
	CHECK_EQ_U64(res.proxy.width, 1366);
	CHECK_EQ_U64(res.proxy.height, 720);
	CHECK_RC(dits_proxy_validate(&f, &res.proxy, r.max_height), 0);
	/* anamorphic 360x288 at 64:45 stays 360x288 at 64:45 (shows as 512x288) */
	REQUIRE(probe_path(mu_path("anamorphic.mov"), &f) == 0);
	dits_proxy_recipe_default(&r);
	outputs_for(&o, "anamorphic-sizes", true);
	CHECK_RC(make(mu_path("anamorphic.mov"), &f, &r, &o, &res, NULL), 0);
	CHECK_EQ_U64(res.proxy.width, 360);
	CHECK_EQ_U64(res.proxy.height, 288);
	CHECK(res.proxy.sar.num == 64 && res.proxy.sar.den == 45);
	CHECK(res.proxy.dar.num == 16 && res.proxy.dar.den == 9);
	CHECK_RC(dits_proxy_validate(&f, &res.proxy, r.max_height), 0);
	/* the poster is square pixels at the display shape */
	char *pj = mu_ffprobe(o.poster);
	char *ps = mu_stream(pj, "video", 0);
	CHECK(ps && mu_json_long(ps, "width", 0) == 512 && mu_json_long(ps, "height", 0) == 288);
	free(ps), free(pj);
}

/* The poster skips a black head: the first of 10 %, 20 %, ... 50 % that is not black. */
static void test_poster_and_metadata(void)
{
	const char *path = mu_path("fade_in.mov");
	outputs o;
	outputs_for(&o, "fade_in.mov", true); /* made by test_matrix */
	char *y = mu_capture("ffprobe -v error -f lavfi 'movie=%s,signalstats' -show_entries frame_tags=lavfi.signalstats.YAVG "
	                     "-of csv=p=0 2>/dev/null",
	                     o.poster);
	CHECK(y && atof(y) > 40.0);
	free(y);
	/* format metadata is carried over */
	char *json = mu_ffprobe(o.proxy);
	char val[64];
	CHECK(json && mu_json_str(json, "title", val, sizeof(val)) && streq(val, "Dits test"));
	free(json);
	(void)path;
	/* the log tag is not: the proxy is Rec.709 */
	outputs_for(&o, "slog3.mov", true);
	json = mu_ffprobe(o.proxy);
	CHECK(json && !strstr(json, "s-log3"));
	free(json);
}

/* A 3.5-minute clip: tiles every 3 s (at most 100), cues 3 s apart, 10 columns. */
static void test_long_sprite(void)
{
	const char *path = mu_path("long.mov");
	REQUIRE(mu_sh("ffmpeg -nostdin -v error -y -f lavfi -i testsrc2=s=128x72:r=10 -frames:v 2100 -c:v prores_ks "
	              "-profile:v 0 '%s'", path) == 0);
	dits_media_facts f;
	REQUIRE(probe_path(path, &f) == 0);
	dits_proxy_recipe r;
	dits_proxy_recipe_default(&r);
	r.preview = false;
	outputs o;
	outputs_for(&o, "long", true);
	dits_proxy_result res;
	CHECK_RC(make(path, &f, &r, &o, &res, NULL), 0);
	CHECK_RC(dits_proxy_validate(&f, &res.proxy, r.max_height), 0);
	char *cues = mu_capture("grep -c -- '-->' '%s'", o.vtt);
	CHECK(cues && atoi(cues) == 70);
	free(cues);
	char *last = mu_capture("grep -- '-->' '%s' | tail -1", o.vtt);
	CHECK(last && strcmp(last, "00:03:27.000 --> 00:03:30.000\n") == 0);
	free(last);
	char *json = mu_ffprobe(o.sprite);
	char *vs = mu_stream(json, "video", 0);
	CHECK(vs && mu_json_long(vs, "width", 0) == 1600 && mu_json_long(vs, "height", 0) == 630);
	free(vs), free(json);
	CHECK(!mu_file_nonempty(o.webm));
}

static void test_profiles(void)
{
	const char *path = mu_path("r2997df.mov");
	dits_media_facts f;
	REQUIRE(probe_path(path, &f) == 0);
	const mu_source *s = &mu_sources[2];
	REQUIRE(strcmp(s->name, "r2997df.mov") == 0);
	for (int codec = DITS_PROXY_DNXHR_LB; codec <= DITS_PROXY_H264; codec++) {
		dits_proxy_recipe r;
		dits_proxy_recipe_default(&r);
		r.codec = codec;
		r.max_height = 540;
		outputs o;
		outputs_for(&o, codec == DITS_PROXY_H264 ? "h264" : "dnxhr", false);
		dits_proxy_result res;
		int rc = make(path, &f, &r, &o, &res, NULL);
		CHECK_RC(rc, 0);
		if (rc < 0)
			continue;
		CHECK_RC(dits_proxy_validate(&f, &res.proxy, r.max_height), 0);
		CHECK(streq(res.proxy.video_codec, codec == DITS_PROXY_H264 ? "h264" : "dnxhd"));
		check_ffprobe(s, &f, o.proxy, codec, 540);
		CHECK(!mu_file_nonempty(o.poster) && !mu_file_nonempty(o.webm));
	}
}

static void test_luts(void)
{
	const char *path = mu_path("slog3.mov");
	dits_media_facts f;
	REQUIRE(probe_path(path, &f) == 0);
	dits_proxy_recipe r;
	dits_proxy_recipe_default(&r);
	r.max_height = 540;
	outputs o;
	outputs_for(&o, "lut", false);
	dits_proxy_result res;
	/* "none" overrides detection */
	snprintf(r.lut, sizeof(r.lut), "none");
	CHECK_RC(make(path, &f, &r, &o, &res, NULL), 0);
	CHECK(res.lut_applied[0] == 0);
	/* a named curve on an untagged source */
	dits_media_facts g;
	REQUIRE(probe_path(mu_path("r25_notc.mov"), &g) == 0);
	snprintf(r.lut, sizeof(r.lut), "logc3");
	CHECK_RC(make(mu_path("r25_notc.mov"), &g, &r, &o, &res, NULL), 0);
	CHECK(streq(res.lut_applied, "logc3"));
	CHECK_RC(dits_proxy_validate(&g, &res.proxy, r.max_height), 0);
	/* a user .cube (identity, 2^3) */
	FILE *c = fopen(mu_path("identity.cube"), "w");
	REQUIRE(c != NULL);
	fprintf(c, "LUT_3D_SIZE 2\n");
	for (int b = 0; b < 2; b++)
		for (int gg = 0; gg < 2; gg++)
			for (int rr = 0; rr < 2; rr++)
				fprintf(c, "%d %d %d\n", rr, gg, b);
	fclose(c);
	snprintf(r.lut, sizeof(r.lut), "%s", mu_path("identity.cube"));
	CHECK_RC(make(path, &f, &r, &o, &res, NULL), 0);
	CHECK(strncmp(res.lut_applied, "cube:", 5) == 0 && strlen(res.lut_applied) == 5 + 58);
	/* the S-Log3 curve end to end: 90 % reflectance is S-Log3 code 598 (video-range
	   0.6095, 8-bit Y 149); through the LUT it is Rec.709 0.718 (8-bit Y ~173) */
	REQUIRE(mu_sh("ffmpeg -nostdin -v error -y -f lavfi -i color=c=0x9B9B9B:s=320x180:r=25 -frames:v 10 "
	              "-c:v prores_ks '%s'", mu_path("grey90.mov")) == 0);
	dits_media_facts gf;
	REQUIRE(probe_path(mu_path("grey90.mov"), &gf) == 0);
	snprintf(r.lut, sizeof(r.lut), "slog3");
	CHECK_RC(make(mu_path("grey90.mov"), &gf, &r, &o, &res, NULL), 0);
	char *y = mu_capture("ffprobe -v error -f lavfi 'movie=%s,format=yuv420p,signalstats' "
	                     "-show_entries frame_tags=lavfi.signalstats.YAVG -of csv=p=0 2>/dev/null | head -1",
	                     o.proxy);
	CHECK(y && fabs(atof(y) - 173.0) < 4.0);
	if (y)
		fprintf(stderr, "S-Log3 90%% grey -> Y %s", y);
	free(y);
	/* a missing .cube fails cleanly and leaves nothing */
	snprintf(r.lut, sizeof(r.lut), "%s", mu_path("missing.cube"));
	CHECK(make(path, &f, &r, &o, &res, NULL) < 0);
	CHECK(!mu_file_nonempty(o.proxy));
}

/* A source that is not a file: a memory buffer handing out at most 1000 bytes
   per read, like a chunk store handing out chunk pieces. */
typedef struct mem_source {
	unsigned char *data;
	int64_t size, pos;
	int reads, seeks;
	int fail_after; /* reads before the "store" fails with EIO; 0 = never */
} mem_source;

static int mem_read(void *opaque, uint8_t *buf, int size)
{
	mem_source *m = opaque;
	if (m->fail_after && m->reads >= m->fail_after)
		return AVERROR(EIO);
	if (m->pos >= m->size)
		return AVERROR_EOF;
	int64_t n = m->size - m->pos;
	if (n > size)
		n = size;
	if (n > 1000)
		n = 1000;
	memcpy(buf, m->data + m->pos, (size_t)n);
	m->pos += n;
	m->reads++;
	return (int)n;
}

static int64_t mem_seek(void *opaque, int64_t offset, int whence)
{
	mem_source *m = opaque;
	whence &= ~AVSEEK_FORCE;
	if (whence == AVSEEK_SIZE)
		return m->size;
	int64_t p = whence == SEEK_SET ? offset : whence == SEEK_CUR ? m->pos + offset : m->size + offset;
	if (p < 0)
		return -1;
	m->pos = p;
	m->seeks++;
	return p;
}

static void test_custom_source(void)
{
	const char *path = mu_path("r2997df.mov");
	FILE *fp = fopen(path, "rb");
	REQUIRE(fp != NULL);
	mem_source m = {0};
	fseek(fp, 0, SEEK_END);
	m.size = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	m.data = malloc((size_t)m.size);
	REQUIRE(m.data && fread(m.data, 1, (size_t)m.size, fp) == (size_t)m.size);
	fclose(fp);
	dits_media_source src = {&m, mem_read, mem_seek, "memory:r2997df.mov"};
	dits_media_facts f, ff;
	CHECK_RC(dits_media_probe(&src, &f), 0);
	REQUIRE(probe_path(path, &ff) == 0);
	char *a = dits_media_facts_json(&f), *b = dits_media_facts_json(&ff);
	CHECK(a && b && strcmp(a, b) == 0);
	free(a), free(b);
	CHECK(strcmp(f.timecode, "01:00:00;00") == 0); /* tmcd needs seeking: it was seekable */
	dits_proxy_recipe r;
	dits_proxy_recipe_default(&r);
	r.max_height = 540;
	outputs o;
	outputs_for(&o, "memory", true);
	dits_proxy_result res;
	CHECK_RC(dits_proxy_make(&src, &f, &r, &o.o, &res, NULL, NULL), 0);
	CHECK_RC(dits_proxy_validate(&f, &res.proxy, r.max_height), 0);
	CHECK(m.reads > 100 && m.seeks > 0);
	/* the store failing halfway: DITS_EIO (worth a retry), not "corrupt", no outputs */
	m.fail_after = m.reads / 2;
	m.reads = 0;
	CHECK_RC(dits_proxy_make(&src, &f, &r, &o.o, &res, NULL, NULL), DITS_EIO);
	CHECK(!mu_file_nonempty(o.proxy) && !mu_file_nonempty(o.poster));
	/* a MOV with PCM is probed from its header and sample tables: a fraction of its bytes */
	m.reads = 0;
	m.pos = 0;
	m.fail_after = 0;
	CHECK_RC(dits_media_probe(&src, &ff), 0);
	int64_t header_reads = m.reads;
	CHECK(header_reads > 0 && header_reads * 1000 < m.size / 2);
	/* the store failing inside those reads: DITS_EIO */
	m.reads = 0;
	m.pos = 0;
	m.fail_after = header_reads / 2;
	CHECK_RC(dits_media_probe(&src, &ff), DITS_EIO);
	/* and when the audio is decoded, inside the probe's pass through it */
	media_probe_use_index = false;
	m.reads = 0;
	m.pos = 0;
	m.fail_after = 1500;
	CHECK_RC(dits_media_probe(&src, &ff), DITS_EIO);
	media_probe_use_index = true;
	free(m.data);
}

static void test_failures(void)
{
	/* the source changed under us (truncated after probing): an error, no outputs */
	const char *good = mu_path("r25_notc.mov");
	dits_media_facts f;
	REQUIRE(probe_path(good, &f) == 0);
	REQUIRE(mu_sh("head -c 300000 '%s' > '%s'", good, mu_path("cut.mov")) == 0);
	dits_proxy_recipe r;
	dits_proxy_recipe_default(&r);
	r.max_height = 540;
	outputs o;
	outputs_for(&o, "cut", true);
	dits_proxy_result res;
	CHECK_RC(make(mu_path("cut.mov"), &f, &r, &o, &res, NULL), DITS_EINVALID);
	CHECK(strstr(dits_error_last(), "truncated or corrupt") != NULL);
	CHECK(!mu_file_nonempty(o.proxy) && !mu_file_nonempty(o.poster) && !mu_file_nonempty(o.webm));
	/* a bad recipe */
	r.codec = 9;
	outputs_for(&o, "bad", false);
	CHECK_RC(make(good, &f, &r, &o, &res, NULL), DITS_EINVALID);
}

int main(void)
{
	mu_tmpdir();
	test_matrix();
	test_size_rule();
	test_sizes();
	test_poster_and_metadata();
	test_long_sprite();
	test_profiles();
	test_luts();
	test_custom_source();
	test_failures();
	mu_tmpdir_remove();
	return check_done();
}
