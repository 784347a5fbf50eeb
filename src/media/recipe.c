/*
 * recipe.c - proxy recipes (what is made, and how, as canonical JSON) and
 * proxy validation (what an NLE needs to relink a proxy to its master).
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavfilter/avfilter.h>
#include <libavformat/avformat.h>
#include <libavutil/avutil.h>
#include <libswresample/swresample.h>
#include <libswscale/swscale.h>

#include "buf.h"
#include "error.h"
#include "fsutil.h"
#include "hash.h"
#include "media_internal.h"
#include "proxy_settings.h"

int media_lut_id(const char *lut, char *out, size_t cap)
{
	if (!lut[0]) {
		snprintf(out, cap, "detect");
		return 0;
	}
	if (strcmp(lut, "none") == 0 || media_lut_known(lut)) {
		snprintf(out, cap, "%s", lut);
		return 0;
	}
	dits_buf b = DITS_BUF_INIT;
	int rc = dits_read_file(lut, &b);
	if (rc < 0)
		return dits_error_wrap(rc, "LUT");
	dits_id id;
	dits_hash_buf(&id, b.data, b.len);
	dits_buf_free(&b);
	char hex[DITS_ID_HEXLEN + 1];
	dits_id_hex(hex, &id);
	snprintf(out, cap, "cube:%s", hex);
	return 0;
}

static void put_version(dits_buf *b, const char *name, unsigned v, bool comma)
{
	dits_buf_printf(b, "\"%s\":\"%u.%u.%u\"%s", name, v >> 16, (v >> 8) & 0xff, v & 0xff,
	                comma ? "," : "");
}

char *dits_proxy_recipe_json(const dits_proxy_recipe *r)
{
	const char *cname = dits_proxy_codec_name(r->codec);
	if (!cname) {
		dits_error_set(DITS_EINVALID, "unknown proxy codec %d", r->codec);
		return NULL;
	}
	if (r->max_height < 16 || r->max_height > 4320) {
		dits_error_set(DITS_EINVALID, "proxy height %d out of range", r->max_height);
		return NULL;
	}
	char lut[80];
	if (media_lut_id(r->lut, lut, sizeof(lut)) < 0)
		return NULL;
	proxy_settings ps;
	proxy_settings_for(r, &ps);

	dits_buf b = DITS_BUF_INIT;
	dits_buf_printf(&b, "{\"recipe\":1,\"profile\":\"%s\",\"container\":\"mov\",", cname);
	dits_buf_printf(&b, "\"video\":{\"encoder\":\"%s\"", ps.encoder);
	if (ps.profile[0])
		dits_buf_printf(&b, ",\"profile\":\"%s\"", ps.profile);
	if (ps.codec_tag[0])
		dits_buf_printf(&b, ",\"codec_tag\":\"%s\"", ps.codec_tag);
	if (ps.vendor[0])
		dits_buf_printf(&b, ",\"vendor\":\"%s\"", ps.vendor);
	dits_buf_printf(&b, ",\"pix_fmt\":\"%s\"", ps.pix_fmt);
	if (ps.qscale)
		dits_buf_printf(&b, ",\"qscale\":%d", ps.qscale);
	if (ps.preset[0])
		dits_buf_printf(&b, ",\"preset\":\"%s\",\"crf\":%d", ps.preset, ps.crf);
	dits_buf_printf(&b, ",\"threads\":\"cpus\",\"color\":\"bt709/bt709/bt709\","
	                    "\"max_height\":%d,\"size\":\"integer divisor inside %dx%d (DCI box when wider)\","
	                    "\"keep\":\"pixel_aspect\",\"even\":true,\"upscale\":false,\"scaler\":\"%s\",\"interlaced\":\"kept\","
	                    "\"vfr\":\"fps filter to the nominal rate\"},",
	                r->max_height, ps.box_w, ps.box_h, PROXY_SCALER);
	dits_buf_puts(&b, "\"lut\":");
	dits_buf_put_json_str(&b, lut);
	dits_buf_printf(&b, ",\"lut_size\":%d,", PROXY_LUT_SIZE);
	dits_buf_puts(&b, "\"audio\":{\"codec\":\"pcm_s16le|pcm_s24le by source depth\","
	                  "\"streams\":\"all\",\"channels\":\"all\",\"resample\":false},"
	                  "\"timecode\":\"source start timecode as tmcd\",\"metadata\":\"copied\",");
	if (r->poster)
		dits_buf_printf(&b, "\"poster\":{\"encoder\":\"mjpeg\",\"q\":%d,\"fit\":\"%dx%d\",\"at\":0.1},",
		                PROXY_JPEG_Q, PROXY_POSTER_W, PROXY_POSTER_H);
	if (r->sprite)
		dits_buf_printf(&b, "\"sprite\":{\"encoder\":\"mjpeg\",\"q\":%d,\"tile\":\"%dx%d\",\"columns\":%d,"
		                    "\"max_tiles\":%d,\"min_interval\":1,\"index\":\"webvtt\"},",
		                PROXY_JPEG_Q, PROXY_TILE_W, PROXY_TILE_H, PROXY_SPRITE_COLS, PROXY_SPRITE_MAX);
	if (r->preview)
		dits_buf_printf(&b, "\"preview\":{\"encoder\":\"libvpx-vp9\",\"container\":\"webm\","
		                    "\"deadline\":\"realtime\",\"cpu_used\":%d,\"bitrate\":%d,\"fit\":\"%dx%d\","
		                    "\"audio\":false},",
		                PROXY_VP9_SPEED, PROXY_VP9_BITRATE, PROXY_PREVIEW_W, PROXY_PREVIEW_H);
	dits_buf_puts(&b, "\"libav\":{");
	put_version(&b, "avformat", avformat_version(), true);
	put_version(&b, "avcodec", avcodec_version(), true);
	put_version(&b, "avfilter", avfilter_version(), true);
	put_version(&b, "swscale", swscale_version(), true);
	put_version(&b, "swresample", swresample_version(), true);
	put_version(&b, "avutil", avutil_version(), false);
	dits_buf_puts(&b, "}}");
	if (dits_buf_cstr(&b) < 0) {
		dits_buf_free(&b);
		dits_error_set(DITS_ENOMEM, "out of memory");
		return NULL;
	}
	return (char *)b.data;
}

/* ---- validation: the attach rules --------------------------------------- */

static int progressive(int fo)
{
	return fo == AV_FIELD_UNKNOWN ? AV_FIELD_PROGRESSIVE : fo;
}

static const char *fo_name(int fo)
{
	static const char *const n[] = {"unknown", "progressive", "tt", "bb", "tb", "bt"};
	return fo >= 0 && fo <= 5 ? n[fo] : "?";
}

typedef struct checks {
	dits_proxy_check *v;
	int n, cap;
} checks;

static dits_proxy_check *row(checks *c, bool pass, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static dits_proxy_check *row(checks *c, bool pass, const char *fmt, ...)
{
	static dits_proxy_check spill;
	dits_proxy_check *k = c->n < c->cap ? &c->v[c->n] : &spill;
	c->n++;
	memset(k, 0, sizeof(*k));
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(k->rule, sizeof(k->rule), fmt, ap);
	va_end(ap);
	k->pass = pass;
	return k;
}

#define SET(field, ...) snprintf(k->field, sizeof(k->field), __VA_ARGS__)

static const char *tc_or_none(const char *tc)
{
	return tc[0] ? tc : "none";
}

int dits_proxy_check_all(const dits_media_facts *src, const dits_media_facts *p, int max_height,
                         dits_proxy_check *out, int cap)
{
	checks c = {out, 0, cap};
	dits_proxy_check *k;

	/* picture */
	if (max_height > 0) {
		int w, h;
		dits_proxy_frame_size(src->width, src->height, src->sar, max_height, &w, &h);
		k = row(&c, p->width == w && p->height == h, "frame size");
		SET(master, "%dx%d (proxy %dx%d)", src->width, src->height, w, h);
		SET(proxy, "%dx%d", p->width, p->height);
	}
	k = row(&c, av_cmp_q(src->sar, p->sar) == 0, "pixel aspect");
	SET(master, "%d:%d", src->sar.num, src->sar.den);
	SET(proxy, "%d:%d", p->sar.num, p->sar.den);
	/* display aspect: a fitted proxy's even dimensions are each within 1 px of exact */
	double sd = av_q2d(src->dar), pd = av_q2d(p->dar);
	double tol = (p->width > 0 && p->height > 0 ? 1.0 / p->width + 1.0 / p->height : 0) + 1e-9;
	k = row(&c, sd > 0 && fabs(pd - sd) / sd <= tol, "display aspect");
	SET(master, "%d/%d", src->dar.num, src->dar.den);
	SET(proxy, "%d/%d", p->dar.num, p->dar.den);
	k = row(&c, progressive(src->field_order) == progressive(p->field_order), "field order");
	SET(master, "%s", fo_name(progressive(src->field_order)));
	SET(proxy, "%s", fo_name(progressive(p->field_order)));

	/* time */
	k = row(&c, av_cmp_q(src->frame_rate, p->frame_rate) == 0 && !p->vfr, "frame rate");
	SET(master, "%d/%d%s", src->frame_rate.num, src->frame_rate.den, src->vfr ? " (conformed from VFR)" : "");
	SET(proxy, "%d/%d%s", p->frame_rate.num, p->frame_rate.den, p->vfr ? " variable" : "");
	if (src->vfr) {
		/* a constant-rate conform of a VFR source may land one frame either way */
		k = row(&c, llabs(p->frame_count - src->cfr_frame_count) <= 1, "frame count");
		SET(master, "%" PRId64 " at the conform rate (+/-1)", src->cfr_frame_count);
	} else {
		k = row(&c, p->frame_count == src->frame_count, "frame count");
		SET(master, "%" PRId64, src->frame_count);
	}
	SET(proxy, "%" PRId64, p->frame_count);
	double vtol = src->vfr ? 1.0 / av_q2d(src->frame_rate) + 0.001 : 0.001;
	k = row(&c, fabs(p->video_duration - src->video_duration) <= vtol, "video duration");
	SET(master, "%.6f s", src->video_duration);
	SET(proxy, "%.6f s", p->video_duration);

	/* timecode: start, drop-frame flag, reel */
	k = row(&c, strcmp(src->timecode, p->timecode) == 0, "start timecode");
	SET(master, "%s", tc_or_none(src->timecode));
	SET(proxy, "%s", tc_or_none(p->timecode));
	if (src->timecode[0]) {
		bool sdf = strchr(src->timecode, ';') != NULL, pdf = strchr(p->timecode, ';') != NULL;
		k = row(&c, sdf == pdf, "drop-frame");
		SET(master, "%s", sdf ? "yes" : "no");
		SET(proxy, "%s", pdf ? "yes" : "no");
	}
	k = row(&c, strcmp(src->reel_name, p->reel_name) == 0, "reel name");
	SET(master, "%s", tc_or_none(src->reel_name));
	SET(proxy, "%s", tc_or_none(p->reel_name));

	/* sound */
	k = row(&c, src->naudio == p->naudio, "audio streams");
	SET(master, "%d", src->naudio);
	SET(proxy, "%d", p->naudio);
	for (int i = 0; i < src->naudio && i < p->naudio; i++) {
		const dits_media_audio *a = &src->audio[i], *b = &p->audio[i];
		k = row(&c, a->channels == b->channels, "audio stream %d channels", i + 1);
		SET(master, "%d", a->channels);
		SET(proxy, "%d", b->channels);
		k = row(&c, strcmp(a->layout, b->layout) == 0, "audio stream %d layout", i + 1);
		SET(master, "%s", a->layout[0] ? a->layout : "?");
		SET(proxy, "%s", b->layout[0] ? b->layout : "?");
		k = row(&c, a->sample_rate == b->sample_rate, "audio stream %d sample rate", i + 1);
		SET(master, "%d", a->sample_rate);
		SET(proxy, "%d", b->sample_rate);
		/* the timeline from the first video frame: audio before it is cut, holes become silence */
		double ms = a->start > 0 ? a->start : 0;
		k = row(&c, fabs(b->start - ms) <= 0.001, "audio stream %d start", i + 1);
		SET(master, "%+.6f s", a->start);
		SET(proxy, "%+.6f s", b->start);
		k = row(&c, fabs(b->end - a->end) <= 0.001, "audio stream %d end", i + 1);
		SET(master, "%.6f s", a->end);
		SET(proxy, "%.6f s", b->end);
		k = row(&c, b->gap == 0, "audio stream %d holes", i + 1);
		if (a->gap > 0)
			SET(master, "%.3f s from %.3f s", a->gap, a->gap_at);
		else
			SET(master, "none");
		if (b->gap > 0)
			SET(proxy, "%.3f s from %.3f s", b->gap, b->gap_at);
		else
			SET(proxy, "none");
	}
	return c.n;
}

int dits_proxy_validate(const dits_media_facts *src, const dits_media_facts *p, int max_height)
{
	dits_proxy_check v[DITS_PROXY_CHECKS_MAX];
	int n = dits_proxy_check_all(src, p, max_height, v, DITS_PROXY_CHECKS_MAX);
	for (int i = 0; i < n && i < DITS_PROXY_CHECKS_MAX; i++) {
		if (v[i].pass)
			continue;
		const char *why = "", *r = v[i].rule;
		size_t len = strlen(r);
		if (strcmp(r, "video duration") == 0)
			why = src->vfr ? " (more than a frame apart)" : " (more than 1 ms apart)";
		else if ((len > 6 && strcmp(r + len - 6, " start") == 0) || (len > 4 && strcmp(r + len - 4, " end") == 0))
			why = " (more than 1 ms apart)";
		return dits_error_set(DITS_EINVALID, "%s %s != source %s%s", v[i].rule, v[i].proxy, v[i].master, why);
	}
	return 0;
}
