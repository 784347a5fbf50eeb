/*
 * proxy_settings.h - every setting of a proxy recipe in one place, so the
 * encoder set-up (proxy.c) and the recipe description (recipe.c) cannot
 * disagree.
 */
#ifndef DITS_PROXY_SETTINGS_H
#define DITS_PROXY_SETTINGS_H

#include <stdio.h>

#include "media.h"

/*
 * prores_ks's default rate search re-encodes each slice at several quants;
 * a fixed quant is several times faster. 8 gives about the size of the rate
 * search's target for ProRes Proxy at 1080p.
 */
#define PROXY_PRORES_QSCALE 8
#define PROXY_X264_CRF 23
#define PROXY_SCALER "bilinear"
#define PROXY_LUT_SIZE 33

#define PROXY_JPEG_Q 3
#define PROXY_POSTER_W 1280
#define PROXY_POSTER_H 720
#define POSTER_CANDIDATES 5 /* frames at 10 %, 20 %, ... of the duration */
#define PROXY_TILE_W 160
#define PROXY_TILE_H 90
#define PROXY_SPRITE_COLS 10
#define PROXY_SPRITE_MAX 100
#define PROXY_PREVIEW_W 854
#define PROXY_PREVIEW_H 480
#define PROXY_VP9_SPEED 8
#define PROXY_VP9_BITRATE 500000

typedef struct proxy_settings {
	const char *encoder;  /* libavcodec encoder name */
	char profile[16];     /* encoder "profile" option, "" for none */
	char codec_tag[8];    /* expected MOV sample description tag */
	char vendor[8];       /* prores_ks "vendor" */
	const char *pix_fmt;
	int qscale;           /* fixed quantizer, 0 for none */
	char preset[16];      /* libx264 */
	int crf;
	int box_w, box_h;     /* fit inside */
} proxy_settings;

static inline void proxy_settings_for(const dits_proxy_recipe *r, proxy_settings *s)
{
	*s = (proxy_settings){0};
	s->box_h = r->max_height;
	/* W = round(H * 16 / 9), even */
	s->box_w = (int)((r->max_height * 16 + 9) / 18) * 2;
	switch (r->codec) {
	case DITS_PROXY_DNXHR_LB:
		s->encoder = "dnxhd";
		snprintf(s->profile, sizeof(s->profile), "dnxhr_lb");
		snprintf(s->codec_tag, sizeof(s->codec_tag), "AVdh");
		s->pix_fmt = "yuv422p";
		break;
	case DITS_PROXY_H264:
		s->encoder = "libx264";
		snprintf(s->codec_tag, sizeof(s->codec_tag), "avc1");
		s->pix_fmt = "yuv420p";
		snprintf(s->preset, sizeof(s->preset), "veryfast");
		s->crf = PROXY_X264_CRF;
		break;
	default:
		s->encoder = "prores_ks";
		snprintf(s->profile, sizeof(s->profile), "proxy");
		snprintf(s->codec_tag, sizeof(s->codec_tag), "apco");
		snprintf(s->vendor, sizeof(s->vendor), "apl0");
		s->pix_fmt = "yuv422p10le";
		s->qscale = PROXY_PRORES_QSCALE;
		break;
	}
}

/* "detect", "none", a curve name, or "cube:<blake3 of the file>". */
int media_lut_id(const char *lut, char *out, size_t cap);

#endif
