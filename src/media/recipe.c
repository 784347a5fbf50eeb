/*
 * recipe.c - proxy recipes (what is made, and how, as canonical JSON) and
 * proxy validation (what an NLE needs to relink a proxy to its master).
 */
#include <math.h>
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

/* ---- validation ------------------------------------------------------------ */

static int progressive(int fo)
{
	return fo == AV_FIELD_UNKNOWN ? AV_FIELD_PROGRESSIVE : fo;
}

static const char *fo_name(int fo)
{
	static const char *const n[] = {"unknown", "progressive", "tt", "bb", "tb", "bt"};
	return fo >= 0 && fo <= 5 ? n[fo] : "?";
}

int dits_proxy_validate(const dits_media_facts *src, const dits_media_facts *p)
{
	if (av_cmp_q(src->frame_rate, p->frame_rate) != 0)
		return dits_error_set(DITS_EINVALID, "frame rate %d/%d != source %d/%d", p->frame_rate.num,
		                      p->frame_rate.den, src->frame_rate.num, src->frame_rate.den);
	if (p->vfr)
		return dits_error_set(DITS_EINVALID, "proxy has a variable frame rate");
	if (src->vfr) {
		/* A constant-rate conform of a VFR source may land one frame either way. */
		if (llabs(p->frame_count - src->cfr_frame_count) > 1)
			return dits_error_set(DITS_EINVALID,
			                      "frame count %" PRId64 " != source %" PRId64
			                      " (VFR source at its nominal rate, +/-1 allowed)",
			                      p->frame_count, src->cfr_frame_count);
	} else if (p->frame_count != src->frame_count) {
		return dits_error_set(DITS_EINVALID, "frame count %" PRId64 " != source %" PRId64,
		                      p->frame_count, src->frame_count);
	}
	if (strcmp(src->timecode, p->timecode) != 0)
		return dits_error_set(DITS_EINVALID, "start timecode %s != source %s",
		                      p->timecode[0] ? p->timecode : "none",
		                      src->timecode[0] ? src->timecode : "none");
	if (src->naudio != p->naudio)
		return dits_error_set(DITS_EINVALID, "audio streams %d != source %d", p->naudio, src->naudio);
	for (int i = 0; i < src->naudio; i++) {
		const dits_media_audio *a = &src->audio[i], *b = &p->audio[i];
		if (a->channels != b->channels)
			return dits_error_set(DITS_EINVALID, "audio stream %d channels %d != source %d", i + 1,
			                      b->channels, a->channels);
		if (a->sample_rate != b->sample_rate)
			return dits_error_set(DITS_EINVALID, "audio stream %d sample rate %d != source %d", i + 1,
			                      b->sample_rate, a->sample_rate);
	}
	if (progressive(src->field_order) != progressive(p->field_order))
		return dits_error_set(DITS_EINVALID, "field order %s != source %s", fo_name(p->field_order),
		                      fo_name(src->field_order));
	/* Display aspect: the proxy's even dimensions are each within 1 px of exact. */
	double sd = av_q2d(src->dar), pd = av_q2d(p->dar);
	double tol = (p->width > 0 && p->height > 0 ? 1.0 / p->width + 1.0 / p->height : 0) + 1e-9;
	if (!(sd > 0) || fabs(pd - sd) / sd > tol)
		return dits_error_set(DITS_EINVALID, "display aspect %d/%d != source %d/%d", p->dar.num,
		                      p->dar.den, src->dar.num, src->dar.den);
	double vtol = src->vfr ? 1.0 / av_q2d(src->frame_rate) + 0.001 : 0.001;
	if (fabs(p->video_duration - src->video_duration) > vtol)
		return dits_error_set(DITS_EINVALID, "video duration %.6f s != source %.6f s (more than %s apart)",
		                      p->video_duration, src->video_duration, src->vfr ? "a frame" : "1 ms");
	for (int i = 0; i < src->naudio; i++)
		if (fabs(p->audio[i].duration - src->audio[i].duration) > 0.001)
			return dits_error_set(DITS_EINVALID,
			                      "audio stream %d duration %.6f s != source %.6f s (more than 1 ms apart)",
			                      i + 1, p->audio[i].duration, src->audio[i].duration);
	return 0;
}
