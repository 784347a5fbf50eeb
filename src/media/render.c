/*
 * render.c - the conform: one pass over the record frames of a timeline.
 *
 *   for each record frame r:
 *     the top enabled video clip at r ─ its reader (demux ─ decoder ─ scale
 *       into the output canvas, letter/pillarboxed) ─ source frame per the
 *       speed formula [─ mixed with the outgoing clip's reader in a dissolve]
 *       ─ encoder ─ MOV muxer (tmcd at the record start)
 *     each audio clip at r ─ its reader (demux ─ decoder ─ swresample to the
 *       output rate) ─ samples [S(r), S(r + 1)) summed into its track's
 *       channel ─ PCM s24le ─ MOV muxer
 *
 * A video reader keeps its decoder between frames, so a clip played forward
 * decodes each frame once and never seeks; a jump backwards (reverse, or a
 * freeze's first frame) seeks to the key frame before it and decodes forward,
 * keeping the scaled frames just below the target in a small cache sized
 * from a byte budget, so reverse play decodes each GOP once per cache-full.
 * Nothing depends on the timeline's length: one output frame, one audio
 * frame and each open reader's cache are alive at a time.
 */
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/audio_fifo.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
#include <libswresample/swresample.h>
#include <libswscale/swscale.h>

#include "error.h"
#include "media_internal.h"
#include "render.h"
#include "timecode.h"

/* Scaled frames a video reader may keep for reverse play; two readers (a dissolve) are alive per render. */
#define READER_CACHE_BUDGET (512LL << 20)
#define READER_CACHE_MAX 256
/* Decode forward up to this many frames to reach a later one; further, seek. */
#define FORWARD_LIMIT 96
/* Seconds of audio decoded before a clip's first sample and dropped. */
#define AUDIO_PREROLL 0.2

/* ---- arithmetic -------------------------------------------------------------- */

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	if ((a % b != 0) && ((a < 0) != (b < 0)))
		q--;
	return q;
}

/* The source frame (timecode frame number) record frame r of c shows. */
static int64_t clip_source(const dits_tl_clip *c, int64_t r)
{
	return c->src_in + floor_div((r - c->rec_in) * c->speed.num, c->speed.den);
}

/* The first sample of record frame r. */
static int64_t frame_sample(int64_t r, AVRational rate, int sr)
{
	return av_rescale_rnd(r, (int64_t)sr * rate.den, rate.num, AV_ROUND_NEAR_INF);
}

/* The master's start timecode in frames at src_rate, 0 when it has none. */
static int64_t master_tc(const dits_media_facts *f, AVRational src_rate)
{
	int64_t t = 0;
	if (f->timecode[0] && dits_tc_parse(f->timecode, src_rate.num, src_rate.den, &t, NULL) < 0)
		t = 0;
	return t;
}

static AVRational clip_rate(const dits_tl_clip *c, const dits_timeline *tl)
{
	return c->src_rate.num > 0 && c->src_rate.den > 0 ? c->src_rate : tl->rate;
}

/* Frame index in the master (0 = its first frame) of source frame s counted at src_rate. */
static int64_t master_index(const dits_media_facts *f, AVRational src_rate, int64_t s)
{
	int64_t rel = s - master_tc(f, src_rate);
	if (av_cmp_q(src_rate, f->frame_rate) == 0 || f->frame_rate.num <= 0)
		return rel;
	return av_rescale_q_rnd(rel, av_inv_q(src_rate), av_inv_q(f->frame_rate), AV_ROUND_NEAR_INF);
}

static const char *clip_name(const dits_timeline *tl, const dits_tl_clip *c)
{
	if (c->name)
		return c->name;
	const dits_tl_media *m = &tl->media[c->media];
	return m->name ? m->name : m->path ? m->path : m->reel ? m->reel : "";
}

/* Source frames [s0 .. s1] of c (one frame when equal) do not all lie in the master. */
static int outside(const dits_timeline *tl, const dits_media_facts *facts, const dits_tl_clip *c, int64_t s0,
                   int64_t s1)
{
	char a[DITS_TC_MAX] = "?", b[DITS_TC_MAX] = "?";
	AVRational sr = clip_rate(c, tl);
	dits_tc_format(s0, sr.num, sr.den, false, a);
	dits_tc_format(s1, sr.num, sr.den, false, b);
	const dits_media_facts *f = &facts[c->media];
	const char *start = f->timecode[0] ? f->timecode : "00:00:00:00";
	if (s0 == s1)
		return dits_error_set(DITS_EINVALID, "event %d (%s): source frame %s is outside the master (%" PRId64
		                      " frames from %s)", c->event, clip_name(tl, c), a, f->frame_count, start);
	return dits_error_set(DITS_EINVALID, "event %d (%s): source frames %s-%s reach outside the master (%" PRId64
	                      " frames from %s)", c->event, clip_name(tl, c), a, b, f->frame_count, start);
}

/* ---- the canvas ----------------------------------------------------------------- */

typedef struct canvas {
	int w, h;
	enum AVPixelFormat fmt; /* 10-bit planar Y'CbCr in 16-bit words */
	int cw;                 /* chroma shift in x */
	AVBufferPool *pool[3];  /* per plane: a UHD frame is 33 MB, allocated once and recycled */
	int linesize[3];
} canvas;

/*
 * Frames come from per-plane pools once canvas_pools() has run: the encoder
 * holds references to the frames it was given, and a frame returns to its
 * pool when the last reference goes, so steady-state rendering allocates
 * (and page-faults) nothing.
 */
static int canvas_pools(canvas *cv)
{
	for (int p = 0; p < 3; p++) {
		int w = p ? AV_CEIL_RSHIFT(cv->w, cv->cw) : cv->w;
		cv->linesize[p] = FFALIGN(w * 2, 64);
		cv->pool[p] = av_buffer_pool_init((size_t)cv->linesize[p] * (size_t)cv->h + 64, av_buffer_alloc);
		if (!cv->pool[p])
			return dits_error_set(DITS_ENOMEM, "out of memory");
	}
	return 0;
}

/* The pools go when their last frame does. */
static void canvas_pools_free(canvas *cv)
{
	for (int p = 0; p < 3; p++)
		av_buffer_pool_uninit(&cv->pool[p]);
}

/* Gives f (unreferenced) a canvas picture, contents undefined. */
static int canvas_get(const canvas *cv, AVFrame *f)
{
	f->width = cv->w;
	f->height = cv->h;
	f->format = cv->fmt;
	if (!cv->pool[0])
		return av_frame_get_buffer(f, 0) < 0 ? -1 : 0;
	for (int p = 0; p < 3; p++) {
		f->buf[p] = av_buffer_pool_get(cv->pool[p]);
		if (!f->buf[p]) {
			av_frame_unref(f);
			return -1;
		}
		f->data[p] = f->buf[p]->data;
		f->linesize[p] = cv->linesize[p];
	}
	f->extended_data = f->data;
	return 0;
}

static AVFrame *canvas_frame(const canvas *cv)
{
	AVFrame *f = av_frame_alloc();
	if (f && canvas_get(cv, f) < 0)
		av_frame_free(&f);
	return f;
}

/* Video-range black: Y 64, Cb Cr 512. */
static void canvas_black(const canvas *cv, AVFrame *f)
{
	for (int p = 0; p < 3; p++) {
		int w = p ? cv->w >> cv->cw : cv->w;
		uint16_t v = p ? 512 : 64;
		for (int y = 0; y < cv->h; y++) {
			uint16_t *row = (uint16_t *)(f->data[p] + (ptrdiff_t)y * f->linesize[p]);
			for (int x = 0; x < w; x++)
				row[x] = v;
		}
	}
}

/* out = a + (b - a) * num / den per sample, rounded (num/den = (k + 1) / (D + 1)). */
static void canvas_mix(const canvas *cv, AVFrame *out, const AVFrame *a, const AVFrame *b, int64_t num, int64_t den)
{
	for (int p = 0; p < 3; p++) {
		int w = p ? cv->w >> cv->cw : cv->w;
		for (int y = 0; y < cv->h; y++) {
			const uint16_t *ra = (const uint16_t *)(a->data[p] + (ptrdiff_t)y * a->linesize[p]);
			const uint16_t *rb = (const uint16_t *)(b->data[p] + (ptrdiff_t)y * b->linesize[p]);
			uint16_t *ro = (uint16_t *)(out->data[p] + (ptrdiff_t)y * out->linesize[p]);
			for (int x = 0; x < w; x++)
				ro[x] = (uint16_t)((ra[x] * (den - num) + rb[x] * num + den / 2) / den);
		}
	}
}

/* ---- video readers -------------------------------------------------------------- */

typedef struct vreader {
	dits_media_source src;
	dits_render_close_fn close;
	void *ctx;
	bool src_open, in_open;
	media_input in;
	const dits_media_facts *f;
	const canvas *cv;
	int si;
	AVStream *st;
	AVCodecContext *dec;
	AVPacket *pkt;
	AVFrame *cur;        /* the last decoded frame */
	int64_t cur_idx;     /* its index in the master, -1 when none */
	bool draining;
	struct SwsContext *sws;
	int sws_w, sws_h, sws_fmt;
	int x0, y0, fw, fh;  /* where the picture goes in the canvas */
	AVFrame **slot;      /* scaled frames */
	int64_t *slot_idx;
	int nslots, next, nalloc;
} vreader;

static void vr_free(vreader *v)
{
	if (!v)
		return;
	for (int i = 0; i < v->nalloc; i++)
		av_frame_free(&v->slot[i]);
	free(v->slot);
	free(v->slot_idx);
	sws_freeContext(v->sws);
	av_frame_free(&v->cur);
	av_packet_free(&v->pkt);
	avcodec_free_context(&v->dec);
	if (v->in_open)
		media_input_close(&v->in);
	if (v->src_open && v->close)
		v->close(v->ctx, &v->src);
	free(v);
}

/* Takes over src (closed with close(ctx, src) when the reader is freed). */
static int vr_open(const dits_media_source *src, dits_render_close_fn close, void *ctx, const dits_media_facts *f,
                   const canvas *cv, vreader **out)
{
	vreader *v = calloc(1, sizeof(*v));
	if (!v) {
		if (close)
			close(ctx, (dits_media_source *)src);
		return dits_error_set(DITS_ENOMEM, "out of memory");
	}
	v->src = *src;
	v->close = close;
	v->ctx = ctx;
	v->src_open = true;
	v->f = f;
	v->cv = cv;
	v->cur_idx = -1;
	int rc = media_input_open_fast(&v->in, &v->src);
	if (rc < 0)
		goto fail;
	v->in_open = true;
	v->si = media_video_stream(v->in.fmt);
	if (v->si < 0) {
		rc = dits_error_set(DITS_EINVALID, "%s: no video stream", src->name);
		goto fail;
	}
	v->st = v->in.fmt->streams[v->si];
	for (unsigned i = 0; i < v->in.fmt->nb_streams; i++)
		if ((int)i != v->si)
			v->in.fmt->streams[i]->discard = AVDISCARD_ALL;
	const AVCodec *codec = avcodec_find_decoder(v->st->codecpar->codec_id);
	if (!codec) {
		rc = dits_error_set(DITS_EINVALID, "%s: no decoder for %s", src->name,
		                    avcodec_get_name(v->st->codecpar->codec_id));
		goto fail;
	}
	v->dec = avcodec_alloc_context3(codec);
	v->pkt = av_packet_alloc();
	v->cur = av_frame_alloc();
	if (!v->dec || !v->pkt || !v->cur) {
		rc = dits_error_set(DITS_ENOMEM, "out of memory");
		goto fail;
	}
	int err = avcodec_parameters_to_context(v->dec, v->st->codecpar);
	if (err >= 0) {
		v->dec->pkt_timebase = v->st->time_base;
		/*
		 * An intra-only master (ProRes, DNxHR) is decoded a frame at a time with
		 * its slices spread over the cores: a conform seeks every few frames, and
		 * frame threading would decode ahead past each event's end (work thrown
		 * away at the seek) and hold a frame per thread (133 MB each at 8K).
		 * Long-GOP masters decode forward from a key frame: frame threads.
		 */
		const AVCodecDescriptor *desc = avcodec_descriptor_get(codec->id);
		bool intra = desc && (desc->props & AV_CODEC_PROP_INTRA_ONLY);
		v->dec->thread_count = media_ncpu();
		v->dec->thread_type = intra && (codec->capabilities & AV_CODEC_CAP_SLICE_THREADS)
		                          ? FF_THREAD_SLICE
		                          : FF_THREAD_FRAME | FF_THREAD_SLICE;
		err = avcodec_open2(v->dec, codec, NULL);
	}
	if (err < 0) {
		rc = media_av_error(DITS_EINVALID, src->name, "opening the video decoder", err);
		goto fail;
	}
	int64_t fbytes = av_image_get_buffer_size(cv->fmt, cv->w, cv->h, 1);
	v->nslots = (int)(fbytes > 0 ? READER_CACHE_BUDGET / fbytes : 2);
	if (v->nslots < 2)
		v->nslots = 2;
	if (v->nslots > READER_CACHE_MAX)
		v->nslots = READER_CACHE_MAX;
	v->slot = calloc((size_t)v->nslots, sizeof(*v->slot));
	v->slot_idx = calloc((size_t)v->nslots, sizeof(*v->slot_idx));
	if (!v->slot || !v->slot_idx) {
		rc = dits_error_set(DITS_ENOMEM, "out of memory");
		goto fail;
	}
	*out = v;
	return 0;
fail:
	vr_free(v);
	return rc;
}

static int64_t vr_frame_index(const vreader *v, const AVFrame *fr)
{
	int64_t pts = fr->best_effort_timestamp != AV_NOPTS_VALUE ? fr->best_effort_timestamp : fr->pts;
	double t = pts * av_q2d(v->st->time_base) - v->f->video_start;
	return llround(t * av_q2d(v->f->frame_rate));
}

/* Decodes the next frame into cur: 0, 1 at the end, or DITS_E*. */
static int vr_next(vreader *v)
{
	for (;;) {
		int err = avcodec_receive_frame(v->dec, v->cur);
		if (err == 0) {
			v->cur_idx = vr_frame_index(v, v->cur);
			return 0;
		}
		if (err == AVERROR_EOF)
			return 1;
		if (err != AVERROR(EAGAIN))
			return media_av_error(DITS_EINVALID, v->src.name, "decoding", err);
		err = av_read_frame(v->in.fmt, v->pkt);
		if (err == AVERROR_EOF) {
			if (!v->draining) {
				v->draining = true;
				avcodec_send_packet(v->dec, NULL);
			}
			continue;
		}
		if (err < 0)
			return media_av_error(media_read_error_code(v->in.pb, err), v->src.name, "reading", err);
		if (v->pkt->stream_index == v->si)
			err = avcodec_send_packet(v->dec, v->pkt);
		av_packet_unref(v->pkt);
		if (err < 0 && err != AVERROR(EAGAIN))
			return media_av_error(DITS_EINVALID, v->src.name, "decoding", err);
	}
}

/* Seeks to the key frame at or before idx and decodes its first frame into cur. */
static int vr_seek(vreader *v, int64_t idx)
{
	int64_t back = 0;
	int64_t start = llround(v->f->video_start / av_q2d(v->st->time_base));
	for (int attempt = 0; attempt < 8; attempt++) {
		int64_t t = idx - back < 0 ? 0 : idx - back;
		int64_t ts = start + av_rescale_q(t, av_inv_q(v->f->frame_rate), v->st->time_base);
		int err = av_seek_frame(v->in.fmt, v->si, ts, AVSEEK_FLAG_BACKWARD);
		if (err < 0)
			err = av_seek_frame(v->in.fmt, v->si, start, AVSEEK_FLAG_BACKWARD);
		if (err < 0)
			return media_av_error(DITS_EINVALID, v->src.name, "seeking", err);
		avcodec_flush_buffers(v->dec);
		v->draining = false;
		v->cur_idx = -1;
		int rc = vr_next(v);
		if (rc < 0)
			return rc;
		if (rc == 0 && (v->cur_idx <= idx || t == 0))
			return 0;
		back = back ? back * 4 : 16;
	}
	return dits_error_set(DITS_EINVALID, "%s: cannot seek to frame %" PRId64, v->src.name, idx);
}

/* True when the scaled picture leaves black borders in the canvas. */
static bool vr_letterboxed(const vreader *v)
{
	return v->fw != v->cv->w || v->fh != v->cv->h;
}

/* Sets up the scaler for src's geometry; a change drops every kept frame (their borders differ). */
static int vr_scaler(vreader *v, const AVFrame *src)
{
	if (!v->sws || v->sws_w != src->width || v->sws_h != src->height || v->sws_fmt != src->format) {
		sws_freeContext(v->sws);
		const canvas *cv = v->cv;
		AVRational sar = src->sample_aspect_ratio.num > 0 ? src->sample_aspect_ratio : v->f->sar;
		if (sar.num <= 0 || sar.den <= 0)
			sar = (AVRational){1, 1};
		double dw = (double)src->width * sar.num / sar.den, dh = src->height;
		double k = fmin(cv->w / dw, cv->h / dh);
		int fw = (int)lrint(dw * k) & ~1, fh = (int)lrint(dh * k) & ~1;
		if (fw > cv->w)
			fw = cv->w & ~1;
		if (fh > cv->h)
			fh = cv->h & ~1;
		if (fw < 2)
			fw = 2;
		if (fh < 2)
			fh = 2;
		v->fw = fw, v->fh = fh;
		v->x0 = ((cv->w - fw) / 2) & ~1;
		v->y0 = ((cv->h - fh) / 2) & ~1;
		/* sliced over the cores: an 8K picture scaled on one thread would leave the others idle */
		int full = src->color_range == AVCOL_RANGE_JPEG;
		v->sws = sws_alloc_context();
		if (!v->sws || av_opt_set_int(v->sws, "srcw", src->width, 0) < 0 ||
		    av_opt_set_int(v->sws, "srch", src->height, 0) < 0 ||
		    av_opt_set_int(v->sws, "src_format", src->format, 0) < 0 ||
		    av_opt_set_int(v->sws, "dstw", fw, 0) < 0 || av_opt_set_int(v->sws, "dsth", fh, 0) < 0 ||
		    av_opt_set_int(v->sws, "dst_format", cv->fmt, 0) < 0 ||
		    av_opt_set_int(v->sws, "sws_flags", SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT, 0) < 0 ||
		    av_opt_set_int(v->sws, "src_range", full, 0) < 0 || av_opt_set_int(v->sws, "dst_range", 0, 0) < 0 ||
		    av_opt_set_int(v->sws, "threads", media_ncpu(), 0) < 0 || sws_init_context(v->sws, NULL, NULL) < 0) {
			sws_freeContext(v->sws);
			v->sws = NULL;
			return dits_error_set(DITS_EINVALID, "%s: cannot scale %s %dx%d", v->src.name,
			                      av_get_pix_fmt_name(src->format), src->width, src->height);
		}
		int cs = src->colorspace == AVCOL_SPC_BT470BG || src->colorspace == AVCOL_SPC_SMPTE170M ? SWS_CS_ITU601
		         : SWS_CS_ITU709;
		sws_setColorspaceDetails(v->sws, sws_getCoefficients(cs), full, sws_getCoefficients(SWS_CS_ITU709), 0, 0,
		                         1 << 16, 1 << 16);
		v->sws_w = src->width, v->sws_h = src->height, v->sws_fmt = src->format;
		for (int i = 0; i < v->nalloc; i++) {
			av_frame_unref(v->slot[i]);
			v->slot_idx[i] = -1;
		}
	}
	return 0;
}

/* Scales src into dst's picture area (a view of dst: the borders stay as they are). */
static int vr_scale(vreader *v, const AVFrame *src, AVFrame *dst)
{
	AVFrame *view = av_frame_alloc();
	if (!view || av_frame_ref(view, dst) < 0) {
		av_frame_free(&view);
		return dits_error_set(DITS_ENOMEM, "out of memory");
	}
	for (int p = 0; p < 3; p++) {
		int x = p ? v->x0 >> v->cv->cw : v->x0;
		view->data[p] += (ptrdiff_t)v->y0 * view->linesize[p] + (ptrdiff_t)x * 2;
	}
	view->width = v->fw;
	view->height = v->fh;
	int err = sws_scale_frame(v->sws, view, src);
	av_frame_free(&view);
	if (err < 0)
		return media_av_error(DITS_EINVALID, v->src.name, "scaling", err);
	return 0;
}

/*
 * Scales cur into a slot: when keep, the next one of the ring (reverse play
 * fills it), else the current one, overwritten by the next frame, so forward
 * play holds one scaled frame whatever the budget. A slot whose picture the
 * encoder still holds gets a new buffer instead of being overwritten.
 */
static int vr_keep(vreader *v, bool keep, AVFrame **out)
{
	int i = v->next;
	if (keep)
		v->next = (v->next + 1) % v->nslots;
	if (i >= v->nalloc) {
		v->slot[i] = av_frame_alloc();
		if (!v->slot[i])
			return dits_error_set(DITS_ENOMEM, "out of memory");
		v->nalloc = i + 1;
	}
	v->slot_idx[i] = -1;
	int rc = vr_scaler(v, v->cur);
	if (rc < 0)
		return rc;
	AVFrame *dst = v->slot[i];
	if (!dst->buf[0] || !av_frame_is_writable(dst)) {
		av_frame_unref(dst);
		if (canvas_get(v->cv, dst) < 0)
			return dits_error_set(DITS_ENOMEM, "out of memory");
		if (vr_letterboxed(v))
			canvas_black(v->cv, dst);
	}
	rc = vr_scale(v, v->cur, dst);
	if (rc < 0)
		return rc;
	v->slot_idx[i] = v->cur_idx;
	*out = dst;
	return 0;
}

/* The scaled master frame idx (0-based). A frame the stream lacks shows the next one. */
static int vr_get(vreader *v, int64_t idx, const AVFrame **out)
{
	for (int i = 0; i < v->nalloc; i++)
		if (v->slot_idx[i] == idx) {
			*out = v->slot[i];
			return 0;
		}
	int64_t lo = idx;
	if (v->cur_idx < 0 || idx < v->cur_idx || idx > v->cur_idx + FORWARD_LIMIT) {
		if (v->cur_idx >= 0 && idx < v->cur_idx)
			lo = idx - v->nslots + 1; /* going backwards: keep what reverse play needs next */
		int rc = vr_seek(v, idx);
		if (rc < 0)
			return rc;
	} else if (v->cur_idx < idx) {
		int rc = vr_next(v);
		if (rc < 0)
			return rc;
		if (rc == 1)
			return dits_error_set(DITS_EINVALID, "%s: frame %" PRId64 " is past the end", v->src.name, idx);
	}
	AVFrame *kept = NULL;
	for (;;) {
		if (v->cur_idx >= idx)
			break;
		if (v->cur_idx >= lo) {
			int rc = vr_keep(v, true, &kept);
			if (rc < 0)
				return rc;
		}
		int rc = vr_next(v);
		if (rc < 0)
			return rc;
		if (rc == 1)
			return dits_error_set(DITS_EINVALID, "%s: frame %" PRId64 " is past the end", v->src.name, idx);
	}
	int rc = vr_keep(v, lo < idx, &kept);
	if (rc < 0)
		return rc;
	*out = kept;
	return 0;
}

/* ---- audio readers --------------------------------------------------------------- */

typedef struct areader {
	dits_media_source src;
	dits_render_close_fn close;
	void *ctx;
	bool src_open, in_open;
	media_input in;
	int si;
	AVStream *st;
	AVCodecContext *dec;
	SwrContext *swr;
	AVAudioFifo *fifo;   /* mono float at the output rate */
	AVPacket *pkt;
	AVFrame *fr;
	int chan;            /* source channel, -1 all mixed */
	int sr;
	double speed;        /* source seconds per output second, > 0 (varispeed: pitch follows) */
	double t0;           /* media time of the clip's first sample */
	bool started, draining, done;
	float *tmp[64];
	int tmpcap;
} areader;

static void ar_free(areader *a)
{
	if (!a)
		return;
	for (int i = 0; i < 64; i++)
		av_freep(&a->tmp[i]);
	av_audio_fifo_free(a->fifo);
	swr_free(&a->swr);
	av_frame_free(&a->fr);
	av_packet_free(&a->pkt);
	avcodec_free_context(&a->dec);
	if (a->in_open)
		media_input_close(&a->in);
	if (a->src_open && a->close)
		a->close(a->ctx, &a->src);
	free(a);
}

static int ar_open(const dits_timeline *tl, const dits_media_facts *facts, const dits_tl_clip *c,
                   dits_render_open_fn open, dits_render_close_fn close, void *ctx, int sr, areader **out)
{
	areader *a = calloc(1, sizeof(*a));
	if (!a)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	a->close = close;
	a->ctx = ctx;
	a->chan = c->src_channel;
	a->sr = sr;
	a->speed = av_q2d(c->speed);
	int rc = open(ctx, c->media, &a->src);
	if (rc < 0)
		goto fail;
	a->src_open = true;
	rc = media_input_open_fast(&a->in, &a->src);
	if (rc < 0)
		goto fail;
	a->in_open = true;
	/*
	 * Source channel k counts through the audio streams in order, so a
	 * master with a mono stream per channel (MXF cameras, many recorders)
	 * gives its k-th stream; the mix of all channels (-1) and a channel past
	 * the last stream's read the first stream, as a single-stream master does.
	 */
	a->si = -1;
	int first = -1, base = 0;
	for (unsigned i = 0; i < a->in.fmt->nb_streams; i++) {
		const AVStream *st = a->in.fmt->streams[i];
		if (!media_is_audio_stream(st))
			continue;
		if (first < 0)
			first = (int)i;
		int n = st->codecpar->ch_layout.nb_channels;
		if (a->si < 0 && a->chan >= base && n > 0 && a->chan < base + n) {
			a->si = (int)i;
			a->chan -= base;
		}
		base += n > 0 ? n : 0;
	}
	if (a->si < 0)
		a->si = first;
	for (unsigned i = 0; i < a->in.fmt->nb_streams; i++)
		if ((int)i != a->si)
			a->in.fmt->streams[i]->discard = AVDISCARD_ALL;
	if (a->si < 0) {
		rc = dits_error_set(DITS_EINVALID, "event %d (%s): %s has no audio", c->event, clip_name(tl, c),
		                    a->src.name);
		goto fail;
	}
	a->st = a->in.fmt->streams[a->si];
	a->dec = media_open_audio_decoder(a->st);
	a->pkt = av_packet_alloc();
	a->fr = av_frame_alloc();
	a->fifo = av_audio_fifo_alloc(AV_SAMPLE_FMT_FLT, 1, 4096);
	if (!a->dec) {
		rc = dits_error_set(DITS_EINVALID, "%s: cannot decode audio stream %d", a->src.name, a->si);
		goto fail;
	}
	if (!a->pkt || !a->fr || !a->fifo) {
		rc = dits_error_set(DITS_ENOMEM, "out of memory");
		goto fail;
	}
	const dits_media_facts *f = &facts[c->media];
	AVRational srate = clip_rate(c, tl);
	int64_t rel = c->src_in - master_tc(f, srate);
	a->t0 = (double)rel * srate.den / srate.num + f->video_start;
	/* a little early: a compressed stream's first frames after a seek prime the decoder (dropped by ar_push) */
	int64_t ts = (int64_t)floor((a->t0 - AUDIO_PREROLL) / av_q2d(a->st->time_base));
	if (av_seek_frame(a->in.fmt, a->si, ts, AVSEEK_FLAG_BACKWARD) < 0)
		av_seek_frame(a->in.fmt, a->si, 0, AVSEEK_FLAG_BACKWARD);
	*out = a;
	return 0;
fail:
	ar_free(a);
	return rc;
}

/* Puts n mono samples into the fifo from the decoded frame (resampled). */
static int ar_push(areader *a, AVFrame *fr)
{
	int ch = a->dec->ch_layout.nb_channels;
	if (ch > 64)
		ch = 64;
	if (!a->swr) {
		/*
		 * Varispeed, as a tape or an NLE without pitch correction plays it:
		 * the source's samples are taken as if recorded at speed times their
		 * rate, so they last 1 / speed as long and the pitch follows.
		 */
		double in = a->dec->sample_rate * a->speed;
		int in_rate = in < 1 ? 1 : in > INT_MAX ? INT_MAX : (int)lrint(in);
		int err = swr_alloc_set_opts2(&a->swr, &a->dec->ch_layout, AV_SAMPLE_FMT_FLTP, a->sr, &a->dec->ch_layout,
		                              a->dec->sample_fmt, in_rate, 0, NULL);
		if (err >= 0)
			err = swr_init(a->swr);
		if (err < 0)
			return media_av_error(DITS_EINVALID, a->src.name, "setting up the resampler", err);
	}
	int cap = swr_get_out_samples(a->swr, fr ? fr->nb_samples : 0);
	if (cap > a->tmpcap) {
		for (int i = 0; i < ch; i++) {
			av_freep(&a->tmp[i]);
			a->tmp[i] = av_malloc((size_t)cap * sizeof(float));
			if (!a->tmp[i])
				return dits_error_set(DITS_ENOMEM, "out of memory");
		}
		a->tmpcap = cap;
	}
	/* output samples still inside the resampler come out before this frame's */
	int64_t delay = swr_get_delay(a->swr, a->sr);
	int n = swr_convert(a->swr, (uint8_t **)a->tmp, cap, fr ? (const uint8_t **)fr->extended_data : NULL,
	                    fr ? fr->nb_samples : 0);
	if (n < 0)
		return media_av_error(DITS_EINVALID, a->src.name, "resampling", n);
	float *mono = a->tmp[0];
	if (a->chan >= 0 && a->chan < ch) {
		mono = a->tmp[a->chan];
	} else if (a->chan < 0 && ch > 1) {
		for (int i = 0; i < n; i++) {
			float s = 0;
			for (int k = 0; k < ch; k++)
				s += a->tmp[k][i];
			a->tmp[0][i] = s / (float)ch;
		}
	} else if (a->chan >= ch) {
		memset(a->tmp[0], 0, (size_t)n * sizeof(float));
	}
	int off = 0;
	if (!a->started && fr) {
		/* place the first decoded sample against the clip's first */
		int64_t pts = fr->best_effort_timestamp != AV_NOPTS_VALUE ? fr->best_effort_timestamp : fr->pts;
		/* the resampler's delay is in output samples: source seconds are speed times theirs */
		double t = pts == AV_NOPTS_VALUE ? a->t0 : pts * av_q2d(a->st->time_base) - (double)delay / a->sr * a->speed;
		int64_t skip = llround((a->t0 - t) / a->speed * a->sr);
		a->started = true;
		if (skip < 0) {
			float zero[1024] = {0};
			for (int64_t left = -skip; left > 0;) {
				int m = left > 1024 ? 1024 : (int)left;
				void *z = zero;
				if (av_audio_fifo_write(a->fifo, &z, m) < m)
					return dits_error_set(DITS_ENOMEM, "out of memory");
				left -= m;
			}
		} else {
			off = skip > n ? n : (int)skip;
			if (skip > n) {
				a->started = false; /* still before the clip */
				return 0;
			}
		}
	}
	if (n - off > 0) {
		void *p = mono + off;
		if (av_audio_fifo_write(a->fifo, &p, n - off) < n - off)
			return dits_error_set(DITS_ENOMEM, "out of memory");
	}
	return 0;
}

/* A dissolve's gain ramp over output samples [start, start + len): the incoming
   clip's weight on sample start + j is (j + 1) / (len + 1), the outgoing's the rest. */
typedef struct ramp {
	int64_t start, len; /* len 0: no ramp, gain 1 */
	bool out;           /* the outgoing clip */
} ramp;

/* Adds the next n samples of the clip into dst, the first at output sample
   at, through the ramp (silence past the master's end). */
static int ar_pull(areader *a, double *dst, int n, int64_t at, const ramp *rp)
{
	while (av_audio_fifo_size(a->fifo) < n && !a->done) {
		int err = avcodec_receive_frame(a->dec, a->fr);
		if (err == 0) {
			int rc = ar_push(a, a->fr);
			av_frame_unref(a->fr);
			if (rc < 0)
				return rc;
			continue;
		}
		if (err == AVERROR_EOF) {
			if (a->swr && a->started) {
				int rc = ar_push(a, NULL);
				if (rc < 0)
					return rc;
			}
			a->done = true;
			break;
		}
		if (err != AVERROR(EAGAIN))
			return media_av_error(DITS_EINVALID, a->src.name, "decoding audio", err);
		err = av_read_frame(a->in.fmt, a->pkt);
		if (err == AVERROR_EOF) {
			if (!a->draining) {
				a->draining = true;
				avcodec_send_packet(a->dec, NULL);
			}
			continue;
		}
		if (err < 0)
			return media_av_error(media_read_error_code(a->in.pb, err), a->src.name, "reading", err);
		if (a->pkt->stream_index == a->si)
			err = avcodec_send_packet(a->dec, a->pkt);
		av_packet_unref(a->pkt);
		if (err < 0 && err != AVERROR(EAGAIN))
			return media_av_error(DITS_EINVALID, a->src.name, "decoding audio", err);
	}
	float buf[2048];
	for (int done = 0; done < n;) {
		int m = n - done > 2048 ? 2048 : n - done;
		void *p = buf;
		int got = av_audio_fifo_read(a->fifo, &p, m);
		if (got <= 0)
			break;
		for (int i = 0; i < got; i++) {
			double g = 1;
			if (rp->len > 0) {
				double w = (double)(at + done + i - rp->start + 1) / (double)(rp->len + 1);
				g = rp->out ? 1 - w : w;
			}
			dst[done + i] += buf[i] * g;
		}
		done += got;
	}
	return 0;
}

/* ---- the render -------------------------------------------------------------------- */

typedef struct track_span {
	size_t first, count;   /* clips of one video track in tl->clips */
	size_t cursor;
} track_span;

typedef struct render_job {
	const dits_timeline *tl;
	const dits_media_facts *facts;
	dits_render_open_fn open;
	dits_render_close_fn close;
	void *ctx;
	const dits_render_opts *o;
	canvas cv;
	track_span *vt;
	int nvt;
	vreader **vr;          /* per clip, open while needed */
	areader **ar;
	AVFormatContext *oc;
	AVCodecContext *venc, *aenc;
	AVStream *vst, *ast;
	AVPacket *pkt;
	double *mix;           /* channels x frame samples */
	int mixcap;
	AVFrame *black;        /* the black canvas, once needed */
} render_job;

static int pix_setup(int codec, canvas *cv, const char **enc, const char **profile)
{
	*profile = NULL;
	cv->fmt = AV_PIX_FMT_YUV422P10LE;
	cv->cw = 1;
	switch (codec) {
	case DITS_RENDER_PRORES_HQ:
		*enc = "prores_ks", *profile = "hq";
		return 0;
	case DITS_RENDER_PRORES_4444:
		*enc = "prores_ks", *profile = "4444";
		cv->fmt = AV_PIX_FMT_YUV444P10LE;
		cv->cw = 0;
		return 0;
	case DITS_RENDER_DNXHR_HQX:
		*enc = "dnxhd", *profile = "dnxhr_hqx";
		if (cv->w < 256 || cv->h < 120)
			return dits_error_set(DITS_EINVALID, "DNxHR needs at least 256x120, not %dx%d", cv->w, cv->h);
		return 0;
	case DITS_RENDER_FFV1:
		*enc = "ffv1";
		return 0;
	}
	return dits_error_set(DITS_EINVALID, "unknown render codec %d", codec);
}

static int write_packets(render_job *j, AVCodecContext *enc, AVStream *st, const AVFrame *frame, const char *out)
{
	int err = avcodec_send_frame(enc, frame);
	if (err < 0 && err != AVERROR_EOF)
		return media_av_error(DITS_ERROR, out, "encoding", err);
	for (;;) {
		err = avcodec_receive_packet(enc, j->pkt);
		if (err == AVERROR(EAGAIN) || err == AVERROR_EOF)
			return 0;
		if (err < 0)
			return media_av_error(DITS_ERROR, out, "encoding", err);
		if (j->pkt->duration == 0 && enc->codec_type == AVMEDIA_TYPE_VIDEO)
			j->pkt->duration = 1;
		av_packet_rescale_ts(j->pkt, enc->time_base, st->time_base);
		j->pkt->stream_index = st->index;
		err = av_interleaved_write_frame(j->oc, j->pkt);
		if (err < 0)
			return media_av_error(DITS_EIO, out, "writing", err);
	}
}

static int open_output(render_job *j, const char *out)
{
	const dits_timeline *tl = j->tl;
	const dits_render_opts *o = j->o;
	const char *encname = NULL, *profile = NULL;
	int rc = pix_setup(o->codec, &j->cv, &encname, &profile);
	if (rc == 0)
		rc = canvas_pools(&j->cv);
	if (rc < 0)
		return rc;
	int err = avformat_alloc_output_context2(&j->oc, NULL, "mov", out);
	if (err < 0)
		return media_av_error(DITS_ERROR, out, "creating the render", err);
	const AVCodec *codec = avcodec_find_encoder_by_name(encname);
	if (!codec)
		return dits_error_set(DITS_ERROR, "encoder %s is not available", encname);
	AVCodecContext *e = j->venc = avcodec_alloc_context3(codec);
	if (!e)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	e->width = j->cv.w;
	e->height = j->cv.h;
	e->sample_aspect_ratio = (AVRational){1, 1};
	e->pix_fmt = j->cv.fmt;
	e->time_base = av_inv_q(tl->rate);
	e->framerate = tl->rate;
	e->color_primaries = AVCOL_PRI_BT709;
	e->color_trc = AVCOL_TRC_BT709;
	e->colorspace = AVCOL_SPC_BT709;
	e->color_range = AVCOL_RANGE_MPEG;
	e->field_order = AV_FIELD_PROGRESSIVE;
	e->thread_count = media_ncpu();
	e->thread_type = FF_THREAD_SLICE | FF_THREAD_FRAME;
	if (profile)
		av_opt_set(e->priv_data, "profile", profile, 0);
	if (o->codec == DITS_RENDER_PRORES_HQ || o->codec == DITS_RENDER_PRORES_4444)
		av_opt_set(e->priv_data, "vendor", "apl0", 0);
	if (o->codec == DITS_RENDER_FFV1) {
		av_opt_set_int(e, "level", 3, 0);
		av_opt_set_int(e->priv_data, "slices", 16, 0);
		av_opt_set_int(e->priv_data, "slicecrc", 1, 0);
	}
	if (j->oc->oformat->flags & AVFMT_GLOBALHEADER)
		e->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
	err = avcodec_open2(e, codec, NULL);
	if (err < 0)
		return media_av_error(DITS_ERROR, out, "opening the video encoder", err);
	j->vst = avformat_new_stream(j->oc, NULL);
	if (!j->vst)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	err = avcodec_parameters_from_context(j->vst->codecpar, e);
	if (err < 0)
		return media_av_error(DITS_ERROR, out, "video stream parameters", err);
	j->vst->time_base = e->time_base;
	j->vst->avg_frame_rate = tl->rate;
	char tc[DITS_TC_MAX];
	rc = dits_tc_format(tl->rec_start, tl->rate.num, tl->rate.den, tl->drop_frame, tc);
	if (rc < 0)
		return rc;
	av_dict_set(&j->vst->metadata, "timecode", tc, 0);

	const AVCodec *pcm = avcodec_find_encoder(AV_CODEC_ID_PCM_S24LE);
	AVCodecContext *a = j->aenc = avcodec_alloc_context3(pcm);
	if (!a)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	a->sample_fmt = AV_SAMPLE_FMT_S32;
	a->sample_rate = o->sample_rate;
	a->time_base = (AVRational){1, o->sample_rate};
	a->bits_per_raw_sample = 24;
	av_channel_layout_default(&a->ch_layout, o->channels);
	err = avcodec_open2(a, pcm, NULL);
	if (err < 0)
		return media_av_error(DITS_ERROR, out, "opening the PCM encoder", err);
	j->ast = avformat_new_stream(j->oc, NULL);
	if (!j->ast)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	err = avcodec_parameters_from_context(j->ast->codecpar, a);
	if (err < 0)
		return media_av_error(DITS_ERROR, out, "audio stream parameters", err);
	j->ast->time_base = a->time_base;
	if (tl->name)
		av_dict_set(&j->oc->metadata, "title", tl->name, 0);
	err = avio_open(&j->oc->pb, out, AVIO_FLAG_WRITE);
	if (err < 0)
		return media_av_error(DITS_EIO, out, "opening", err);
	err = avformat_write_header(j->oc, NULL);
	if (err < 0)
		return media_av_error(DITS_ERROR, out, "writing the header", err);
	return 0;
}

/* The top enabled video clip at r (index into tl->clips), or -1 for black. */
static ssize_t top_clip(render_job *j, int64_t r)
{
	const dits_tl_clip *cl = j->tl->clips;
	for (int t = j->nvt - 1; t >= 0; t--) {
		track_span *s = &j->vt[t];
		while (s->cursor < s->count && cl[s->first + s->cursor].rec_out <= r)
			s->cursor++;
		for (size_t i = s->cursor; i < s->count; i++) {
			const dits_tl_clip *c = &cl[s->first + i];
			if (c->rec_in > r)
				break;
			if (c->enabled && c->rec_out > r)
				return (ssize_t)(s->first + i);
		}
	}
	return -1;
}

/* The clip c dissolves from at r, or -1 (none: from black, or not in a dissolve). */
static ssize_t dissolve_from(const dits_timeline *tl, size_t ci, int64_t r)
{
	const dits_tl_clip *c = &tl->clips[ci];
	if (c->dissolve <= 0 || r >= c->rec_in + c->dissolve)
		return -1;
	for (size_t i = ci; i-- > 0;) {
		const dits_tl_clip *p = &tl->clips[i];
		if (p->kind != c->kind || p->track != c->track)
			break;
		if (p->enabled && p->rec_out == c->rec_in)
			return (ssize_t)i;
		if (p->rec_out < c->rec_in)
			break;
	}
	return -1;
}

static bool in_dissolve(const dits_tl_clip *c, int64_t r)
{
	return c->dissolve > 0 && r < c->rec_in + c->dissolve;
}

/* The scaled frame clip ci shows at r, opening its reader when needed. */
static int clip_frame(render_job *j, size_t ci, int64_t r, const AVFrame **out)
{
	const dits_tl_clip *c = &j->tl->clips[ci];
	const dits_media_facts *f = &j->facts[c->media];
	int64_t s = clip_source(c, r);
	int64_t idx = master_index(f, clip_rate(c, j->tl), s);
	if (idx < 0 || idx >= f->frame_count)
		return outside(j->tl, j->facts, c, s, s);
	if (!j->vr[ci]) {
		dits_media_source src;
		memset(&src, 0, sizeof(src));
		int rc = j->open(j->ctx, c->media, &src);
		if (rc < 0)
			return rc;
		rc = vr_open(&src, j->close, j->ctx, f, &j->cv, &j->vr[ci]);
		if (rc < 0)
			return rc;
	}
	int rc = vr_get(j->vr[ci], idx, out);
	if (rc < 0)
		return dits_error_wrap(rc, "event %d (%s)", c->event, clip_name(j->tl, c));
	return 0;
}

/* A reference to the black canvas, painted once per render. */
static int black_frame(render_job *j, AVFrame *fr)
{
	if (!j->black) {
		j->black = canvas_frame(&j->cv);
		if (!j->black)
			return dits_error_set(DITS_ENOMEM, "out of memory");
		canvas_black(&j->cv, j->black);
	}
	return av_frame_ref(fr, j->black) < 0 ? dits_error_set(DITS_ENOMEM, "out of memory") : 0;
}

static int video_frame(render_job *j, int64_t r, const char *out)
{
	ssize_t ci = top_clip(j, r);
	ssize_t pi = ci >= 0 ? dissolve_from(j->tl, (size_t)ci, r) : -1;
	/* readers not needed for this frame are closed */
	for (size_t i = 0; i < j->tl->nclips; i++)
		if (j->vr[i] && (ssize_t)i != ci && (ssize_t)i != pi) {
			vr_free(j->vr[i]);
			j->vr[i] = NULL;
		}
	/* the encoder gets references: a cut's frame is the reader's scaled picture, not a copy */
	AVFrame *fr = av_frame_alloc();
	if (!fr)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	int rc = 0;
	if (ci < 0) {
		rc = black_frame(j, fr);
	} else {
		const dits_tl_clip *c = &j->tl->clips[ci];
		const AVFrame *b = NULL;
		rc = clip_frame(j, (size_t)ci, r, &b);
		if (rc == 0 && in_dissolve(c, r)) {
			const AVFrame *a = NULL;
			AVFrame *blk = NULL;
			if (pi >= 0) {
				rc = clip_frame(j, (size_t)pi, r, &a);
			} else {
				blk = av_frame_alloc();
				rc = blk ? black_frame(j, blk) : dits_error_set(DITS_ENOMEM, "out of memory");
				a = blk;
			}
			if (rc == 0 && canvas_get(&j->cv, fr) < 0)
				rc = dits_error_set(DITS_ENOMEM, "out of memory");
			if (rc == 0)
				canvas_mix(&j->cv, fr, a, b, r - c->rec_in + 1, c->dissolve + 1);
			av_frame_free(&blk);
		} else if (rc == 0) {
			rc = av_frame_ref(fr, b) < 0 ? dits_error_set(DITS_ENOMEM, "out of memory") : 0;
		}
	}
	if (rc == 0) {
		fr->pts = r;
		fr->color_primaries = AVCOL_PRI_BT709;
		fr->color_trc = AVCOL_TRC_BT709;
		fr->colorspace = AVCOL_SPC_BT709;
		fr->color_range = AVCOL_RANGE_MPEG;
		fr->sample_aspect_ratio = (AVRational){1, 1};
		rc = write_packets(j, j->venc, j->vst, fr, out);
	}
	av_frame_free(&fr);
	return rc;
}

static int audio_frame(render_job *j, int64_t r, const char *out)
{
	const dits_timeline *tl = j->tl;
	int sr = j->o->sample_rate, nch = j->o->channels;
	int64_t s0 = frame_sample(r, tl->rate, sr), s1 = frame_sample(r + 1, tl->rate, sr);
	int n = (int)(s1 - s0);
	if (n <= 0)
		return 0;
	if (n > j->mixcap) {
		free(j->mix);
		j->mix = malloc((size_t)n * (size_t)nch * sizeof(double));
		if (!j->mix)
			return dits_error_set(DITS_ENOMEM, "out of memory");
		j->mixcap = n;
	}
	memset(j->mix, 0, (size_t)n * (size_t)nch * sizeof(double));
	for (size_t i = 0; i < tl->nclips; i++) {
		const dits_tl_clip *c = &tl->clips[i];
		if (c->kind != DITS_TL_AUDIO)
			continue;
		/* in a dissolve the outgoing clip goes on past rec_out, on its handles */
		const dits_tl_clip *in = i + 1 < tl->nclips ? &tl->clips[i + 1] : NULL;
		if (in && !(in->kind == c->kind && in->track == c->track && in->enabled && in->dissolve > 0 &&
		            in->rec_in == c->rec_out))
			in = NULL;
		bool body = c->rec_in <= r && r < c->rec_out;
		bool tail = in && r >= c->rec_out && r < in->rec_in + in->dissolve;
		/* forward speeds play varispeed; a freeze or reverse is silent */
		bool active = c->enabled && (body || tail) && c->track < nch && av_q2d(c->speed) > 0;
		ramp rp = {0, 0, false};
		if (body && in_dissolve(c, r)) {
			rp.start = frame_sample(c->rec_in, tl->rate, sr);
			rp.len = frame_sample(c->rec_in + c->dissolve, tl->rate, sr) - rp.start;
		} else if (tail) {
			rp.start = frame_sample(in->rec_in, tl->rate, sr);
			rp.len = frame_sample(in->rec_in + in->dissolve, tl->rate, sr) - rp.start;
			rp.out = true;
		}
		if (!active) {
			if (j->ar[i]) {
				ar_free(j->ar[i]);
				j->ar[i] = NULL;
			}
			continue;
		}
		if (!j->ar[i]) {
			int rc = ar_open(tl, j->facts, c, j->open, j->close, j->ctx, sr, &j->ar[i]);
			if (rc < 0)
				return rc;
		}
		int rc = ar_pull(j->ar[i], j->mix + (size_t)c->track * (size_t)n, n, s0, &rp);
		if (rc < 0)
			return dits_error_wrap(rc, "event %d (%s)", c->event, clip_name(tl, c));
	}
	AVFrame *fr = av_frame_alloc();
	if (!fr)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	fr->nb_samples = n;
	fr->format = AV_SAMPLE_FMT_S32;
	fr->sample_rate = sr;
	av_channel_layout_copy(&fr->ch_layout, &j->aenc->ch_layout);
	if (av_frame_get_buffer(fr, 0) < 0) {
		av_frame_free(&fr);
		return dits_error_set(DITS_ENOMEM, "out of memory");
	}
	int32_t *d = (int32_t *)fr->data[0];
	for (int i = 0; i < n; i++)
		for (int k = 0; k < nch; k++) {
			double x = j->mix[(size_t)k * (size_t)n + (size_t)i];
			long v = lrint(x * 8388608.0);
			if (v > 8388607)
				v = 8388607;
			if (v < -8388608)
				v = -8388608;
			d[(size_t)i * (size_t)nch + (size_t)k] = (int32_t)((uint32_t)v << 8);
		}
	fr->pts = s0;
	int rc = write_packets(j, j->aenc, j->ast, fr, out);
	av_frame_free(&fr);
	return rc;
}

static int check_args(const dits_timeline *tl, const dits_render_opts *o, const char *what)
{
	if (tl->rate.num <= 0 || tl->rate.den <= 0)
		return dits_error_set(DITS_EINVALID, "%s: the timeline has no frame rate", what);
	if (o->width < 16 || o->height < 16 || (o->width & 1) || (o->height & 1))
		return dits_error_set(DITS_EINVALID, "%s: bad output size %dx%d", what, o->width, o->height);
	if (o->sample_rate <= 0 || o->channels < 2 || o->channels < tl->naudio_tracks)
		return dits_error_set(DITS_EINVALID, "%s: %d audio channels do not hold %d tracks", what, o->channels,
		                      tl->naudio_tracks);
	return 0;
}

static void job_free(render_job *j)
{
	if (j->vr)
		for (size_t i = 0; i < j->tl->nclips; i++)
			vr_free(j->vr[i]);
	if (j->ar)
		for (size_t i = 0; i < j->tl->nclips; i++)
			ar_free(j->ar[i]);
	free(j->vr);
	free(j->ar);
	free(j->vt);
	free(j->mix);
	av_frame_free(&j->black);
	avcodec_free_context(&j->venc);
	avcodec_free_context(&j->aenc);
	av_packet_free(&j->pkt);
	if (j->oc) {
		if (j->oc->pb)
			avio_closep(&j->oc->pb);
		avformat_free_context(j->oc);
	}
	canvas_pools_free(&j->cv);
}

static int setup_tracks(render_job *j)
{
	const dits_timeline *tl = j->tl;
	j->nvt = tl->nvideo_tracks;
	j->vt = calloc((size_t)(j->nvt > 0 ? j->nvt : 1), sizeof(*j->vt));
	j->vr = calloc(tl->nclips ? tl->nclips : 1, sizeof(*j->vr));
	j->ar = calloc(tl->nclips ? tl->nclips : 1, sizeof(*j->ar));
	j->pkt = av_packet_alloc();
	if (!j->vt || !j->vr || !j->ar || !j->pkt)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	for (size_t i = 0; i < tl->nclips; i++) {
		const dits_tl_clip *c = &tl->clips[i];
		if (c->media < 0 || (size_t)c->media >= tl->nmedia)
			return dits_error_set(DITS_EINVALID, "event %d: no media", c->event);
		if (c->speed.den == 0)
			return dits_error_set(DITS_EINVALID, "event %d: bad speed", c->event);
		if (c->kind != DITS_TL_VIDEO || c->track < 0 || c->track >= j->nvt)
			continue;
		track_span *s = &j->vt[c->track];
		if (s->count == 0)
			s->first = i;
		s->count = i - s->first + 1;
	}
	return 0;
}

/*
 * Every source frame the video clips will show is inside its master: the
 * formula is monotonic, so the first and last record frames of each clip
 * (for an outgoing clip, the last frame of the dissolve it continues into)
 * bound it. Checked before the output exists.
 */
static int check_ranges(const dits_timeline *tl, const dits_media_facts *facts)
{
	for (size_t i = 0; i < tl->nclips; i++) {
		const dits_tl_clip *c = &tl->clips[i];
		if (c->kind != DITS_TL_VIDEO || !c->enabled || c->rec_out <= c->rec_in)
			continue;
		int64_t last = c->rec_out - 1;
		for (size_t k = i + 1; k < tl->nclips; k++) {
			const dits_tl_clip *n = &tl->clips[k];
			if (n->kind != c->kind || n->track != c->track || n->rec_in > c->rec_out)
				break;
			if (n->enabled && n->rec_in == c->rec_out && n->dissolve > 0 && dissolve_from(tl, k, n->rec_in) ==
			    (ssize_t)i)
				last = n->rec_in + n->dissolve - 1;
		}
		const dits_media_facts *f = &facts[c->media];
		AVRational sr = clip_rate(c, tl);
		int64_t ends[2] = {clip_source(c, c->rec_in), clip_source(c, last)};
		for (int e = 0; e < 2; e++) {
			int64_t idx = master_index(f, sr, ends[e]);
			if (idx < 0 || idx >= f->frame_count)
				return outside(tl, facts, c, ends[0] < ends[1] ? ends[0] : ends[1],
				               ends[0] < ends[1] ? ends[1] : ends[0]);
		}
	}
	return 0;
}

int dits_render_run(const dits_timeline *tl, const dits_media_facts *facts, dits_render_open_fn open,
                    dits_render_close_fn close, void *ctx, const dits_render_opts *o, const char *out_path)
{
	int rc = check_args(tl, o, out_path);
	if (rc < 0)
		return rc;
	render_job j = {.tl = tl, .facts = facts, .open = open, .close = close, .ctx = ctx, .o = o};
	j.cv.w = o->width;
	j.cv.h = o->height;
	rc = setup_tracks(&j);
	if (rc == 0)
		rc = check_ranges(tl, facts);
	if (rc == 0)
		rc = open_output(&j, out_path);
	double total = (double)tl->duration * tl->rate.den / tl->rate.num;
	for (int64_t r = 0; rc == 0 && r < tl->duration; r++) {
		rc = video_frame(&j, r, out_path);
		if (rc == 0)
			rc = audio_frame(&j, r, out_path);
		if (rc == 0 && o->progress)
			o->progress(o->pctx, (double)(r + 1) * tl->rate.den / tl->rate.num, total);
	}
	if (rc == 0)
		rc = write_packets(&j, j.venc, j.vst, NULL, out_path);
	if (rc == 0)
		rc = write_packets(&j, j.aenc, j.ast, NULL, out_path);
	if (rc == 0) {
		int err = av_write_trailer(j.oc);
		if (err < 0)
			rc = media_av_error(DITS_EIO, out_path, "writing the trailer", err);
	}
	if (rc == 0) {
		int err = avio_closep(&j.oc->pb);
		if (err < 0)
			rc = media_av_error(DITS_EIO, out_path, "closing", err);
	}
	bool created = j.oc && (j.oc->pb || rc == 0);
	job_free(&j);
	if (rc < 0 && created)
		unlink(out_path);
	return rc;
}

/* ---- verification -------------------------------------------------------------------- */

static double luma_psnr(const canvas *cv, const AVFrame *a, const AVFrame *b)
{
	double se = 0;
	for (int y = 0; y < cv->h; y++) {
		const uint16_t *ra = (const uint16_t *)(a->data[0] + (ptrdiff_t)y * a->linesize[0]);
		const uint16_t *rb = (const uint16_t *)(b->data[0] + (ptrdiff_t)y * b->linesize[0]);
		for (int x = 0; x < cv->w; x++) {
			double d = (double)ra[x] - rb[x];
			se += d * d;
		}
	}
	if (se == 0)
		return INFINITY;
	double mse = se / ((double)cv->w * cv->h);
	return 10 * log10(1023.0 * 1023.0 / mse);
}

static bool frames_equal(const canvas *cv, const AVFrame *a, const AVFrame *b)
{
	for (int p = 0; p < 3; p++) {
		int w = (p ? cv->w >> cv->cw : cv->w) * 2;
		for (int y = 0; y < cv->h; y++)
			if (memcmp(a->data[p] + (ptrdiff_t)y * a->linesize[p], b->data[p] + (ptrdiff_t)y * b->linesize[p],
			           (size_t)w))
				return false;
	}
	return true;
}

/* True when clip ci alone shows record frame r. */
static bool shows_alone(render_job *j, size_t ci, int64_t r)
{
	const dits_tl_clip *c = &j->tl->clips[ci];
	if (in_dissolve(c, r))
		return false;
	/* a following clip's dissolve reaches back over nothing: it starts at rec_out */
	for (int t = j->nvt - 1; t > c->track; t--) {
		track_span *s = &j->vt[t];
		for (size_t i = 0; i < s->count; i++) {
			const dits_tl_clip *h = &j->tl->clips[s->first + i];
			if (h->enabled && h->rec_in <= r && r < h->rec_out)
				return false;
		}
	}
	return true;
}

static void close_file(void *ctx, dits_media_source *src)
{
	(void)ctx;
	dits_media_source_close_file(src);
}

/* Frame s of clip ci from its master (NULL *out when outside the master). */
static int expected(render_job *j, vreader **m, size_t ci, int64_t s, const AVFrame **out, AVFrame *copy)
{
	const dits_tl_clip *c = &j->tl->clips[ci];
	const dits_media_facts *f = &j->facts[c->media];
	int64_t idx = master_index(f, clip_rate(c, j->tl), s);
	*out = NULL;
	if (idx < 0 || idx >= f->frame_count)
		return 0;
	if (!*m) {
		dits_media_source src;
		memset(&src, 0, sizeof(src));
		int rc = j->open(j->ctx, c->media, &src);
		if (rc < 0)
			return rc;
		rc = vr_open(&src, j->close, j->ctx, f, &j->cv, m);
		if (rc < 0)
			return rc;
	}
	const AVFrame *fr;
	int rc = vr_get(*m, idx, &fr);
	if (rc < 0)
		return rc;
	if (av_frame_copy(copy, fr) < 0)
		return dits_error_set(DITS_ERROR, "copying a frame");
	*out = copy;
	return 0;
}

static int check_frame(render_job *j, vreader *rv, size_t ci, int64_t r, dits_render_check *ck)
{
	const dits_tl_clip *c = &j->tl->clips[ci];
	memset(ck, 0, sizeof(*ck));
	ck->event = c->event;
	snprintf(ck->name, sizeof(ck->name), "%s", clip_name(j->tl, c));
	ck->frame = r;
	ck->src_frame = clip_source(c, r);
	AVFrame *got = canvas_frame(&j->cv), *e[3] = {canvas_frame(&j->cv), canvas_frame(&j->cv), canvas_frame(&j->cv)};
	vreader *m = NULL;
	int rc = got && e[0] && e[1] && e[2] ? 0 : dits_error_set(DITS_ENOMEM, "out of memory");
	const AVFrame *rf = NULL, *ef[3] = {NULL, NULL, NULL};
	if (rc == 0)
		rc = vr_get(rv, r, &rf);
	if (rc == 0 && av_frame_copy(got, rf) < 0)
		rc = dits_error_set(DITS_ERROR, "copying a frame");
	/* s - 1, s, s + 1 in decode order, so the master reader goes forward */
	for (int k = 0; rc == 0 && k < 3; k++)
		rc = expected(j, &m, ci, ck->src_frame + k - 1, &ef[k], e[k]);
	if (rc == 0) {
		if (!ef[1]) {
			rc = outside(j->tl, j->facts, c, ck->src_frame, ck->src_frame);
		} else if (j->o->codec == DITS_RENDER_FFV1) {
			ck->pass = frames_equal(&j->cv, got, ef[1]);
			ck->psnr = luma_psnr(&j->cv, got, ef[1]);
		} else {
			ck->psnr = luma_psnr(&j->cv, got, ef[1]);
			bool closer = true, distinct = false;
			for (int k = 0; k < 3; k += 2) {
				if (!ef[k])
					continue;
				double pn = luma_psnr(&j->cv, got, ef[k]);
				if (pn > ck->psnr)
					closer = false;
				if (pn < ck->psnr)
					distinct = true;
			}
			ck->pass = closer && (distinct || ck->psnr >= 40);
		}
	}
	vr_free(m);
	av_frame_free(&got);
	for (int k = 0; k < 3; k++)
		av_frame_free(&e[k]);
	return rc;
}

void dits_render_report_free(dits_render_report *r)
{
	free(r->checks);
	memset(r, 0, sizeof(*r));
}

int dits_render_verify(const dits_timeline *tl, const dits_media_facts *facts, dits_render_open_fn open,
                       dits_render_close_fn close, void *ctx, const dits_render_opts *o, const char *path,
                       dits_render_report *out)
{
	memset(out, 0, sizeof(*out));
	int rc = check_args(tl, o, path);
	if (rc < 0)
		return rc;
	render_job j = {.tl = tl, .facts = facts, .open = open, .close = close, .ctx = ctx, .o = o};
	j.cv.w = o->width;
	j.cv.h = o->height;
	const char *encname = NULL, *profile = NULL;
	rc = pix_setup(o->codec, &j.cv, &encname, &profile);
	if (rc == 0)
		rc = canvas_pools(&j.cv);
	if (rc == 0)
		rc = setup_tracks(&j);
	dits_media_facts rf;
	dits_media_source src;
	if (rc == 0)
		rc = dits_media_source_open_file(&src, path);
	if (rc == 0) {
		rc = dits_media_probe(&src, &rf);
		dits_media_source_close_file(&src);
	}
	vreader *rv = NULL;
	if (rc == 0)
		rc = dits_media_source_open_file(&src, path);
	if (rc == 0)
		rc = vr_open(&src, close_file, NULL, &rf, &j.cv, &rv);
	if (rc == 0) {
		char tc[DITS_TC_MAX] = "";
		dits_tc_format(tl->rec_start, tl->rate.num, tl->rate.den, tl->drop_frame, tc);
		out->frames = rf.frame_count;
		snprintf(out->timecode, sizeof(out->timecode), "%s", rf.timecode);
		out->audio_seconds = rf.naudio ? rf.audio[0].duration : 0;
		double secs = (double)tl->duration * tl->rate.den / tl->rate.num;
		out->frames_ok = rf.frame_count == tl->duration && av_cmp_q(rf.frame_rate, tl->rate) == 0;
		out->timecode_ok = strcmp(rf.timecode, tc) == 0;
		out->audio_ok = rf.naudio == 1 && rf.audio[0].channels == o->channels &&
		                fabs(rf.audio[0].duration - secs) <= (double)tl->rate.den / tl->rate.num;
		out->checks = calloc(tl->nclips * 3 + 1, sizeof(*out->checks));
		if (!out->checks)
			rc = dits_error_set(DITS_ENOMEM, "out of memory");
	}
	bool all = true;
	for (size_t ci = 0; rc == 0 && ci < tl->nclips; ci++) {
		const dits_tl_clip *c = &tl->clips[ci];
		if (c->kind != DITS_TL_VIDEO || !c->enabled || c->rec_out <= c->rec_in)
			continue;
		int64_t first = c->rec_in, last = c->rec_out - 1;
		while (first <= last && !shows_alone(&j, ci, first))
			first++;
		while (last >= first && !shows_alone(&j, ci, last))
			last--;
		if (first > last)
			continue;
		int64_t mid = first + (last - first) / 2;
		if (!shows_alone(&j, ci, mid))
			mid = first;
		int64_t at[3] = {first, mid, last};
		for (int k = 0; rc == 0 && k < 3; k++) {
			if (k && at[k] == at[k - 1])
				continue;
			if (at[k] >= out->frames) {
				dits_render_check *ck = &out->checks[out->nchecks++];
				memset(ck, 0, sizeof(*ck));
				ck->event = c->event;
				snprintf(ck->name, sizeof(ck->name), "%s", clip_name(tl, c));
				ck->frame = at[k];
				ck->src_frame = clip_source(c, at[k]);
				all = false;
				continue;
			}
			rc = check_frame(&j, rv, ci, at[k], &out->checks[out->nchecks]);
			if (rc == 0 && !out->checks[out->nchecks++].pass)
				all = false;
		}
	}
	vr_free(rv);
	job_free(&j);
	if (rc < 0) {
		dits_render_report_free(out);
		return rc;
	}
	out->pass = all && out->frames_ok && out->timecode_ok && out->audio_ok;
	return 0;
}

int dits_render_codec_of(const char *c)
{
	if (!strcmp(c, "prores_hq"))
		return DITS_RENDER_PRORES_HQ;
	if (!strcmp(c, "prores_4444"))
		return DITS_RENDER_PRORES_4444;
	if (!strcmp(c, "dnxhr_hqx"))
		return DITS_RENDER_DNXHR_HQX;
	if (!strcmp(c, "ffv1"))
		return DITS_RENDER_FFV1;
	return -1;
}

/* "25", "23.976", "29.97", "59.94", "24000/1001": NTSC decimals are the 1001 rates, exactly */
int dits_render_parse_rate(const char *s, AVRational *out)
{
	int num, den;
	char x;
	if (sscanf(s, "%d/%d%c", &num, &den, &x) == 2 && num > 0 && den > 0 && num / den <= 1000) {
		*out = (AVRational){num, den};
		return 0;
	}
	char *end;
	double v = strtod(s, &end);
	if (*end || !(v > 0 && v <= 1000))
		return -1;
	static const struct { double v; int num, den; } ntsc[] = {
		{23.976, 24000, 1001}, {29.97, 30000, 1001}, {47.952, 48000, 1001}, {59.94, 60000, 1001},
		{119.88, 120000, 1001},
	};
	for (size_t i = 0; i < sizeof(ntsc) / sizeof(ntsc[0]); i++)
		if (fabs(v - ntsc[i].v) < 0.006) {
			*out = (AVRational){ntsc[i].num, ntsc[i].den};
			return 0;
		}
	if (fabs(v - (double)lround(v)) > 1e-9)
		return -1;
	*out = (AVRational){(int)lround(v), 1};
	return 0;
}
