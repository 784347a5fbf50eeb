/*
 * proxy.c - one decode pass of a master feeds every output.
 *
 *   demux ─┬─ video packets ─ decoder (frame threads) ─ buffersrc
 *          │     scale to the proxy size (square pixels) [─ LUT | BT.601->709] [─ fps]
 *          │     ─ split ─┬─ proxy encoder ─────────────── MOV muxer
 *          │              ├─ select 10..50 % ─ scale ─ JPEG ── poster (first not black)
 *          │              ├─ select every N s ─ scale ─ pad ─ tile ─ JPEG ── sprite (+ VTT)
 *          │              └─ scale ─ VP9 ───────────────── WEBM preview
 *          └─ audio packets ─ decoder ─ (sample format only) ─ PCM ─ MOV muxer
 *
 * The expensive step, 8K -> 1080p, happens once; the poster, sprite and
 * preview branches scale down from the proxy-size frame. Every video frame
 * the decoder returns becomes exactly one proxy frame, restamped at the
 * nominal rate, so the frame count and the timecode line up with the
 * master; only a VFR source goes through the fps filter. Audio is decoded
 * and written as PCM sample for sample (no resampling), so each stream's
 * sample count equals the master's.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavfilter/avfilter.h>
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
#include <libavformat/avformat.h>
#include <libavutil/avstring.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
#include <libswresample/swresample.h>

#include "buf.h"
#include "error.h"
#include "fsutil.h"
#include "media_internal.h"
#include "proxy_settings.h"

/* Decoded frames the decoder may hold, as bytes (keeps 8K under 1 GiB). */
#define DECODE_MEMORY_BUDGET (640LL << 20)

typedef struct audio_path {
	int in_index;
	AVCodecContext *dec;
	SwrContext *swr; /* NULL when the decoder already gives the encoder's format */
	AVCodecContext *enc;
	AVStream *st;
	AVFrame *conv, *part;
	AVRational tb;  /* the source stream's time base */
	int64_t origin; /* the first video frame, in samples on the source stream's timeline */
	bool started;
	int64_t next_pts; /* the proxy's next sample position (0 = the first video frame) */
	int64_t filled;   /* samples of silence written into holes */
} audio_path;

enum { SINK_PROXY, SINK_POSTER, SINK_SPRITE, SINK_PREVIEW, NSINKS };

typedef struct proxy_job {
	const char *name;
	const dits_media_facts *facts;
	const dits_proxy_recipe *recipe;
	const dits_proxy_outputs *out;
	dits_proxy_result *res;
	proxy_settings ps;

	media_input in;
	int vidx;
	AVStream *vst;
	AVCodecContext *vdec;
	AVRational rate;
	bool vfr, interlaced, tff;
	const char *sd_matrix; /* colorspace filter's name for a tagged BT.601 source */
	int pw, ph; /* proxy frame size, in stored pixels of the master's pixel aspect */
	double dw, dh; /* its display size */
	int64_t frames_in, first_pts, last_pts, frame_dur;

	AVFormatContext *oc;
	AVCodecContext *venc;
	AVStream *vost;
	int64_t frames_out;

	audio_path audio[DITS_MEDIA_MAX_AUDIO];
	int naudio;

	AVFilterGraph *graph;
	AVFilterContext *src;
	AVFilterContext *sink[NSINKS];
	bool want[NSINKS]; /* which outputs this run makes */
	bool eof[NSINKS];

	/* poster and sprite: JPEGs written once */
	bool poster_done, sprite_done;
	int poster_candidates;
	AVFrame *poster_first; /* the 10 % frame, used when every candidate is black */
	int tile_every, ntiles, tile_cols, tile_rows, sprite_frames;

	AVFormatContext *woc;
	AVCodecContext *wenc;
	AVStream *wst;
	int64_t wframes;

	char tmpdir[64];
	dits_media_progress_fn progress;
	void *pctx;
	AVPacket *pkt;
	AVFrame *frame, *filt;
} proxy_job;

static int even(double x)
{
	int v = 2 * (int)lround(x / 2.0);
	return v < 2 ? 2 : v;
}

/* Fit dw x dh inside bw x bh keeping its aspect; never upscale unless up. */
static void fit(double dw, double dh, int bw, int bh, bool up, int *w, int *h)
{
	double s = fmin((double)bw / dw, (double)bh / dh);
	if (!up && s > 1.0)
		s = 1.0;
	*w = even(dw * s);
	*h = even(dh * s);
	if (*w > bw)
		*w = bw & ~1;
	if (*h > bh)
		*h = bh & ~1;
}

/*
 * The attach rule for the frame size (docs/MEDIA.md "Frame size"): the
 * largest integer divisor of the master's size that fits the recipe's box
 * with even dimensions, so every proxy pixel maps onto whole master pixels;
 * otherwise (or when that divisor is at most three quarters of the fitted
 * height) the largest even size inside the box with the master's shape.
 * The box is 16:9 (1920x1080 at 1080) or, for a master wider than 16:9,
 * DCI (2048x1080 at 1080). The pixel aspect is the master's: sizes are in
 * stored pixels, never upscaled.
 */
void dits_proxy_frame_size(int width, int height, AVRational sar, int max_height, int *pw, int *ph)
{
	if (sar.num <= 0 || sar.den <= 0)
		sar = (AVRational){1, 1};
	int bh = max_height;
	bool wide = (int64_t)width * sar.num * 9 > (int64_t)height * sar.den * 16;
	int bw = wide ? even((double)max_height * 2048.0 / 1080.0) : (int)((max_height * 16 + 9) / 18) * 2;
	int fw, fh;
	fit(width, height, bw, bh, false, &fw, &fh);
	for (int k = 1; k <= height / 2 && k <= width / 2; k++) {
		if (width % k || height % k)
			continue;
		int w = width / k, h = height / k;
		if (w > bw || h > bh)
			continue;
		if (w % 2 || h % 2)
			continue;
		if ((int64_t)h * 4 > (int64_t)fh * 3) {
			*pw = w, *ph = h;
			return;
		}
		break;
	}
	*pw = fw, *ph = fh;
}

static int av_fail(proxy_job *j, const char *what, int err)
{
	return media_av_error(DITS_ERROR, j->name, what, err);
}

/* ---- output: muxing ------------------------------------------------------- */

static int write_packets(proxy_job *j, AVCodecContext *enc, AVFormatContext *oc, AVStream *st,
                         const AVFrame *frame)
{
	int err = avcodec_send_frame(enc, frame);
	if (err < 0 && err != AVERROR_EOF)
		return av_fail(j, "encoding", err);
	for (;;) {
		err = avcodec_receive_packet(enc, j->pkt);
		if (err == AVERROR(EAGAIN) || err == AVERROR_EOF)
			return 0;
		if (err < 0)
			return av_fail(j, "encoding", err);
		if (j->pkt->duration == 0 && enc->codec_type == AVMEDIA_TYPE_VIDEO)
			j->pkt->duration = 1;
		av_packet_rescale_ts(j->pkt, enc->time_base, st->time_base);
		j->pkt->stream_index = st->index;
		err = av_interleaved_write_frame(oc, j->pkt);
		if (err < 0)
			return av_fail(j, "writing", err);
	}
}

/* One JPEG (a whole file) from one frame. */
static int write_jpeg(proxy_job *j, const AVFrame *frame, const char *path)
{
	const AVCodec *codec = avcodec_find_encoder(AV_CODEC_ID_MJPEG);
	AVCodecContext *enc = codec ? avcodec_alloc_context3(codec) : NULL;
	if (!enc)
		return dits_error_set(DITS_ERROR, "no JPEG encoder");
	enc->width = frame->width;
	enc->height = frame->height;
	enc->pix_fmt = frame->format;
	enc->color_range = AVCOL_RANGE_JPEG;
	enc->time_base = (AVRational){1, 25};
	enc->flags |= AV_CODEC_FLAG_QSCALE;
	enc->global_quality = PROXY_JPEG_Q * FF_QP2LAMBDA;
	int rc = 0;
	int err = avcodec_open2(enc, codec, NULL);
	AVFrame *f = av_frame_clone(frame);
	if (err < 0 || !f) {
		rc = av_fail(j, "opening the JPEG encoder", err);
		goto out;
	}
	f->quality = enc->global_quality;
	f->pict_type = AV_PICTURE_TYPE_NONE;
	f->pts = 0;
	dits_buf b = DITS_BUF_INIT;
	err = avcodec_send_frame(enc, f);
	if (err >= 0)
		err = avcodec_send_frame(enc, NULL);
	while (err >= 0) {
		err = avcodec_receive_packet(enc, j->pkt);
		if (err < 0)
			break;
		dits_buf_put(&b, j->pkt->data, (size_t)j->pkt->size);
		av_packet_unref(j->pkt);
	}
	if (err != AVERROR_EOF || b.len == 0)
		rc = av_fail(j, "encoding a JPEG", err);
	else
		rc = dits_atomic_write(path, b.data, b.len);
	dits_buf_free(&b);
out:
	av_frame_free(&f);
	avcodec_free_context(&enc);
	return rc;
}

static int ts_str(char *out, size_t cap, double s)
{
	int64_t ms = llround(s * 1000.0);
	return snprintf(out, cap, "%02" PRId64 ":%02" PRId64 ":%02" PRId64 ".%03" PRId64, ms / 3600000,
	                ms / 60000 % 60, ms / 1000 % 60, ms % 1000);
}

static int write_vtt(proxy_job *j)
{
	dits_buf b = DITS_BUF_INIT;
	dits_buf_puts(&b, "WEBVTT\n");
	double fd = av_q2d(av_inv_q(j->rate));
	int64_t total = j->frames_out;
	const char *name = j->out->sprite_name ? j->out->sprite_name : "sprite.jpg";
	for (int i = 0; i < j->sprite_frames && i < j->ntiles; i++) {
		int64_t f0 = (int64_t)i * j->tile_every, f1 = f0 + j->tile_every;
		if (f1 > total)
			f1 = total;
		char a[32], z[32];
		ts_str(a, sizeof(a), (double)f0 * fd);
		ts_str(z, sizeof(z), (double)f1 * fd);
		dits_buf_printf(&b, "\n%s --> %s\n%s#xywh=%d,%d,%d,%d\n", a, z, name,
		                i % j->tile_cols * PROXY_TILE_W, i / j->tile_cols * PROXY_TILE_H, PROXY_TILE_W,
		                PROXY_TILE_H);
	}
	int rc = dits_atomic_write(j->out->sprite_vtt, b.data, b.len);
	dits_buf_free(&b);
	return rc;
}

/* ---- the filter graph ---------------------------------------------------- */

static const char *matrix_name(enum AVColorSpace cs, int height)
{
	switch (cs) {
	case AVCOL_SPC_BT709: return "bt709";
	case AVCOL_SPC_BT470BG: return "bt470";
	case AVCOL_SPC_SMPTE170M: return "smpte170m";
	case AVCOL_SPC_SMPTE240M: return "smpte240m";
	case AVCOL_SPC_BT2020_NCL:
	case AVCOL_SPC_BT2020_CL: return "bt2020";
	default: return height > 576 ? "bt709" : "smpte170m";
	}
}

/* The LUT this run applies: the recipe's, else the detected curve's; NULL for none. */
static const char *lut_choice(const proxy_job *j)
{
	const char *want = j->recipe->lut[0] ? j->recipe->lut : j->facts->log_curve;
	return !want[0] || strcmp(want, "none") == 0 ? NULL : want;
}

/* Writes the chosen LUT as a .cube in a private temporary directory for lut3d. */
static int prepare_lut(proxy_job *j, char *cube, size_t cap)
{
	const char *want = lut_choice(j);
	cube[0] = 0;
	if (!want)
		return 0;
	const char *tmp = getenv("TMPDIR");
	if (!tmp || !tmp[0] || strspn(tmp, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/_.-") !=
	                           strlen(tmp) || strlen(tmp) > 40)
		tmp = "/tmp";
	snprintf(j->tmpdir, sizeof(j->tmpdir), "%s/dits-lut-XXXXXX", tmp);
	if (!mkdtemp(j->tmpdir)) {
		j->tmpdir[0] = 0;
		return dits_error_errno("creating a LUT directory in %s", tmp);
	}
	snprintf(cube, cap, "%s/lut.cube", j->tmpdir);
	int rc;
	if (media_lut_known(want)) {
		rc = media_lut_write_cube(want, PROXY_LUT_SIZE, cube);
		snprintf(j->res->lut_applied, sizeof(j->res->lut_applied), "%.15s", want);
	} else {
		/* A user .cube: copied under a plain name (no escaping in the graph). */
		dits_buf b = DITS_BUF_INIT;
		rc = dits_read_file(want, &b);
		if (rc == 0)
			rc = dits_atomic_write(cube, b.data, b.len);
		dits_buf_free(&b);
		char id[80];
		if (rc == 0)
			rc = media_lut_id(want, id, sizeof(id));
		if (rc == 0)
			snprintf(j->res->lut_applied, sizeof(j->res->lut_applied), "%.63s", id);
		else
			dits_error_wrap(rc, "LUT %s", want);
	}
	return rc;
}

static void remove_lut(proxy_job *j)
{
	if (!j->tmpdir[0])
		return;
	char *p = dits_strfmt("%s/lut.cube", j->tmpdir);
	if (p)
		unlink(p);
	free(p);
	rmdir(j->tmpdir);
	j->tmpdir[0] = 0;
}

/*
 * Built when the first frame arrives, so the source's size and pixel format
 * are the decoder's real ones (some decoders know them only then).
 */
static int build_graph(proxy_job *j, const AVFrame *first)
{
	const bool *want = j->want;
	char cube[128];
	int rc = prepare_lut(j, cube, sizeof(cube));
	if (rc < 0)
		return rc;

	j->graph = avfilter_graph_alloc();
	if (!j->graph)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	j->graph->nb_threads = media_ncpu();

	/* buffersrc: CFR frames are restamped 0,1,2,... at 1/rate; VFR keep their times. */
	AVRational tb = j->vfr ? j->vst->time_base : av_inv_q(j->rate);
	AVRational sar = j->facts->sar;
	char args[512];
	snprintf(args, sizeof(args),
	         "video_size=%dx%d:pix_fmt=%d:time_base=%d/%d:pixel_aspect=%d/%d:frame_rate=%d/%d", first->width,
	         first->height, first->format, tb.num, tb.den, sar.num, sar.den, j->rate.num, j->rate.den);
	int err = avfilter_graph_create_filter(&j->src, avfilter_get_by_name("buffer"), "in", args, NULL,
	                                       j->graph);
	if (err < 0)
		return av_fail(j, "creating the filter graph source", err);

	static const char *const sink_names[NSINKS] = {"proxy", "poster", "sprite", "preview"};
	for (int i = 0; i < NSINKS; i++) {
		if (!want[i])
			continue;
		err = avfilter_graph_create_filter(&j->sink[i], avfilter_get_by_name("buffersink"), sink_names[i],
		                                   NULL, NULL, j->graph);
		if (err < 0)
			return av_fail(j, "creating a filter graph sink", err);
	}

	/* The main chain: one scale from the source size straight to the proxy size. */
	dits_buf g = DITS_BUF_INIT;
	dits_buf_printf(&g, "[in]scale=w=%d:h=%d:flags=%s:interl=%d:out_range=tv", j->pw, j->ph,
	                PROXY_SCALER, j->interlaced ? 1 : 0);
	enum AVColorSpace cs = first->colorspace != AVCOL_SPC_UNSPECIFIED ? first->colorspace
	                                                                  : j->vst->codecpar->color_space;
	j->sd_matrix = cs == AVCOL_SPC_BT470BG ? "bt601-6-625" : cs == AVCOL_SPC_SMPTE170M ? "bt601-6-525" : NULL;
	if (cube[0]) {
		const char *m = matrix_name(cs, first->height);
		dits_buf_printf(&g, ":in_color_matrix=%s,format=gbrp16le,lut3d=file=%s:interp=tetrahedral,"
		                    "scale=out_color_matrix=bt709:out_range=tv",
		                m, cube);
	} else if (j->sd_matrix) {
		/* a tagged BT.601 source: convert matrix, primaries and transfer to Rec.709 */
		dits_buf_printf(&g, ",colorspace=all=bt709:iall=%s:fast=1", j->sd_matrix);
	}
	dits_buf_printf(&g, ",setsar=%d/%d", sar.num, sar.den);
	if (j->vfr)
		dits_buf_printf(&g, ",fps=%d/%d", j->rate.num, j->rate.den);
	dits_buf_printf(&g, ",format=%s", j->ps.pix_fmt);
	int nbr = 0;
	for (int i = 0; i < NSINKS; i++)
		nbr += want[i];
	dits_buf_printf(&g, ",split=%d[proxy]", nbr);
	for (int i = 1; i < NSINKS; i++)
		if (want[i])
			dits_buf_printf(&g, "[b%d]", i);


	int64_t total = j->facts->cfr_frame_count > 0 ? j->facts->cfr_frame_count : j->facts->frame_count;
	if (want[SINK_POSTER]) {
		int w, h;
		fit(j->dw, j->dh, PROXY_POSTER_W, PROXY_POSTER_H, false, &w, &h);
		/* candidates at 10 %, 20 %, ... 50 %: the first that is not black wins */
		dits_buf_printf(&g, ";[b%d]select='", SINK_POSTER);
		int64_t prev = -1;
		for (int k = 1; k <= POSTER_CANDIDATES; k++) {
			int64_t n = total * k / 10;
			if (n == prev)
				continue;
			dits_buf_printf(&g, "%seq(n\\,%" PRId64 ")", prev >= 0 ? "+" : "", n);
			prev = n;
			j->poster_candidates++;
		}
		dits_buf_printf(&g, "',scale=%d:%d:flags=bicubic,setsar=1,format=yuvj420p[poster]", w, h);
	}
	if (want[SINK_SPRITE]) {
		double dur = (double)total / av_q2d(j->rate);
		int every_s = (int)ceil(dur / PROXY_SPRITE_MAX);
		if (every_s < 1)
			every_s = 1;
		j->tile_every = (int)lround(every_s * av_q2d(j->rate));
		if (j->tile_every < 1)
			j->tile_every = 1;
		j->ntiles = (int)((total + j->tile_every - 1) / j->tile_every);
		while (j->ntiles > PROXY_SPRITE_MAX) {
			j->tile_every++;
			j->ntiles = (int)((total + j->tile_every - 1) / j->tile_every);
		}
		if (j->ntiles < 1)
			j->ntiles = 1;
		j->tile_cols = j->ntiles < PROXY_SPRITE_COLS ? j->ntiles : PROXY_SPRITE_COLS;
		j->tile_rows = (j->ntiles + j->tile_cols - 1) / j->tile_cols;
		int w, h;
		fit(j->dw, j->dh, PROXY_TILE_W, PROXY_TILE_H, true, &w, &h);
		dits_buf_printf(&g, ";[b%d]select='not(mod(n\\,%d))',scale=%d:%d:flags=bicubic,setsar=1,"
		                    "pad=%d:%d:(ow-iw)/2:(oh-ih)/2,tile=layout=%dx%d,format=yuvj420p[sprite]",
		                SINK_SPRITE, j->tile_every, w, h, PROXY_TILE_W, PROXY_TILE_H, j->tile_cols,
		                j->tile_rows);
	}
	if (want[SINK_PREVIEW]) {
		int w, h;
		fit(j->dw, j->dh, PROXY_PREVIEW_W, PROXY_PREVIEW_H, false, &w, &h);
		dits_buf_printf(&g, ";[b%d]scale=%d:%d:flags=bilinear,format=yuv420p[preview]", SINK_PREVIEW, w, h);
	}
	if (dits_buf_cstr(&g) < 0) {
		dits_buf_free(&g);
		return dits_error_set(DITS_ENOMEM, "out of memory");
	}

	AVFilterInOut *outputs = avfilter_inout_alloc();
	AVFilterInOut *inputs = NULL;
	if (!outputs) {
		dits_buf_free(&g);
		return dits_error_set(DITS_ENOMEM, "out of memory");
	}
	outputs->name = av_strdup("in");
	outputs->filter_ctx = j->src;
	outputs->pad_idx = 0;
	outputs->next = NULL;
	for (int i = NSINKS - 1; i >= 0; i--) {
		if (!want[i])
			continue;
		AVFilterInOut *io = avfilter_inout_alloc();
		if (!io)
			break;
		io->name = av_strdup(sink_names[i]);
		io->filter_ctx = j->sink[i];
		io->pad_idx = 0;
		io->next = inputs;
		inputs = io;
	}
	if (getenv("DITS_AV_LOG"))
		fprintf(stderr, "filter graph: %s\n", (const char *)g.data);
	err = avfilter_graph_parse_ptr(j->graph, (const char *)g.data, &inputs, &outputs, NULL);
	if (err >= 0)
		err = avfilter_graph_config(j->graph, NULL);
	avfilter_inout_free(&inputs);
	avfilter_inout_free(&outputs);
	if (err < 0)
		rc = media_av_error(DITS_ERROR, j->name, "setting up the filter graph", err);
	dits_buf_free(&g);
	remove_lut(j); /* lut3d has read it */
	for (int i = 0; i < NSINKS; i++)
		j->eof[i] = !want[i];
	return rc;
}

/* ---- encoders --------------------------------------------------------------- */

static int open_video_encoder(proxy_job *j)
{
	const AVCodec *codec = avcodec_find_encoder_by_name(j->ps.encoder);
	if (!codec)
		return dits_error_set(DITS_ERROR, "encoder %s is not available", j->ps.encoder);
	AVCodecContext *e = j->venc = avcodec_alloc_context3(codec);
	if (!e)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	e->width = j->pw;
	e->height = j->ph;
	e->sample_aspect_ratio = j->facts->sar;
	e->pix_fmt = av_get_pix_fmt(j->ps.pix_fmt);
	e->time_base = av_inv_q(j->rate);
	e->framerate = j->rate;
	e->color_primaries = AVCOL_PRI_BT709;
	e->color_trc = AVCOL_TRC_BT709;
	e->colorspace = AVCOL_SPC_BT709;
	e->color_range = AVCOL_RANGE_MPEG;
	e->thread_count = media_ncpu();
	e->thread_type = FF_THREAD_SLICE | FF_THREAD_FRAME;
	if (j->interlaced) {
		e->field_order = j->tff ? AV_FIELD_TT : AV_FIELD_BB;
		e->flags |= AV_CODEC_FLAG_INTERLACED_DCT | AV_CODEC_FLAG_INTERLACED_ME;
	} else {
		e->field_order = AV_FIELD_PROGRESSIVE;
	}
	if (j->ps.profile[0])
		av_opt_set(e->priv_data, "profile", j->ps.profile, 0);
	if (j->ps.vendor[0])
		av_opt_set(e->priv_data, "vendor", j->ps.vendor, 0);
	if (j->ps.qscale) {
		e->flags |= AV_CODEC_FLAG_QSCALE;
		e->global_quality = j->ps.qscale * FF_QP2LAMBDA;
	}
	if (j->ps.preset[0]) {
		av_opt_set(e->priv_data, "preset", j->ps.preset, 0);
		av_opt_set_int(e->priv_data, "crf", j->ps.crf, 0);
	}
	if (j->oc->oformat->flags & AVFMT_GLOBALHEADER)
		e->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
	int err = avcodec_open2(e, codec, NULL);
	if (err < 0)
		return av_fail(j, "opening the proxy encoder", err);
	j->vost = avformat_new_stream(j->oc, NULL);
	if (!j->vost)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	err = avcodec_parameters_from_context(j->vost->codecpar, e);
	if (err < 0)
		return av_fail(j, "proxy stream parameters", err);
	j->vost->time_base = e->time_base;
	j->vost->avg_frame_rate = j->rate;
	j->vost->sample_aspect_ratio = e->sample_aspect_ratio;
	/* The MOV muxer writes a tmcd track from this tag (';' = drop-frame). */
	if (j->facts->timecode[0])
		av_dict_set(&j->vost->metadata, "timecode", j->facts->timecode, 0);
	/* ... and names that track after the master's reel, which Avid and Resolve match on */
	if (j->facts->reel_name[0])
		av_dict_set(&j->vost->metadata, "reel_name", j->facts->reel_name, 0);
	return 0;
}

static bool wants_24bit(const AVStream *st, const AVCodecContext *dec)
{
	int bits = av_get_bits_per_sample(st->codecpar->codec_id);
	if (bits > 0)
		return bits > 16;
	if (st->codecpar->bits_per_raw_sample > 16)
		return true;
	return av_get_bytes_per_sample(dec->sample_fmt) > 2;
}

static int open_audio(proxy_job *j, audio_path *a, AVStream *ist)
{
	a->in_index = ist->index;
	a->dec = media_open_audio_decoder(ist);
	if (!a->dec)
		return dits_error_set(DITS_EINVALID, "%s: cannot decode audio stream %d", j->name, ist->index);
	bool s24 = wants_24bit(ist, a->dec);
	const AVCodec *codec = avcodec_find_encoder(s24 ? AV_CODEC_ID_PCM_S24LE : AV_CODEC_ID_PCM_S16LE);
	AVCodecContext *e = a->enc = avcodec_alloc_context3(codec);
	if (!e)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	e->sample_fmt = s24 ? AV_SAMPLE_FMT_S32 : AV_SAMPLE_FMT_S16;
	e->sample_rate = a->dec->sample_rate;
	e->time_base = (AVRational){1, e->sample_rate};
	if (a->dec->ch_layout.nb_channels > 0)
		av_channel_layout_copy(&e->ch_layout, &a->dec->ch_layout);
	else
		av_channel_layout_copy(&e->ch_layout, &ist->codecpar->ch_layout);
	if (s24)
		e->bits_per_raw_sample = 24;
	int err = avcodec_open2(e, codec, NULL);
	if (err < 0)
		return av_fail(j, "opening a PCM encoder", err);
	a->st = avformat_new_stream(j->oc, NULL);
	if (!a->st)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	err = avcodec_parameters_from_context(a->st->codecpar, e);
	if (err < 0)
		return av_fail(j, "audio stream parameters", err);
	a->st->time_base = e->time_base;
	const AVDictionaryEntry *lang = av_dict_get(ist->metadata, "language", NULL, 0);
	if (lang)
		av_dict_set(&a->st->metadata, "language", lang->value, 0);
	/* Sample positions are measured from the master's first video frame
	   (audio_frame keeps the audio's timeline there). */
	a->tb = ist->time_base;
	a->origin = llround(j->facts->video_start * e->sample_rate);
	a->conv = av_frame_alloc();
	a->part = av_frame_alloc();
	return a->conv && a->part ? 0 : dits_error_set(DITS_ENOMEM, "out of memory");
}

static int open_preview(proxy_job *j)
{
	int w, h;
	fit(j->dw, j->dh, PROXY_PREVIEW_W, PROXY_PREVIEW_H, false, &w, &h);
	int err = avformat_alloc_output_context2(&j->woc, NULL, "webm", j->out->preview);
	if (err < 0)
		return av_fail(j, "creating the WEBM preview", err);
	const AVCodec *codec = avcodec_find_encoder_by_name("libvpx-vp9");
	if (!codec)
		return dits_error_set(DITS_ERROR, "encoder libvpx-vp9 is not available");
	AVCodecContext *e = j->wenc = avcodec_alloc_context3(codec);
	if (!e)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	e->width = w;
	e->height = h;
	e->pix_fmt = AV_PIX_FMT_YUV420P;
	e->time_base = av_inv_q(j->rate);
	e->framerate = j->rate;
	e->bit_rate = PROXY_VP9_BITRATE;
	e->thread_count = media_ncpu();
	e->color_primaries = AVCOL_PRI_BT709;
	e->color_trc = AVCOL_TRC_BT709;
	e->colorspace = AVCOL_SPC_BT709;
	av_opt_set(e->priv_data, "deadline", "realtime", 0);
	av_opt_set_int(e->priv_data, "cpu-used", PROXY_VP9_SPEED, 0);
	av_opt_set_int(e->priv_data, "row-mt", 1, 0);
	if (j->woc->oformat->flags & AVFMT_GLOBALHEADER)
		e->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
	err = avcodec_open2(e, codec, NULL);
	if (err < 0)
		return av_fail(j, "opening the VP9 encoder", err);
	j->wst = avformat_new_stream(j->woc, NULL);
	if (!j->wst)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	avcodec_parameters_from_context(j->wst->codecpar, e);
	j->wst->time_base = e->time_base;
	err = avio_open(&j->woc->pb, j->out->preview, AVIO_FLAG_WRITE);
	if (err < 0)
		return av_fail(j, j->out->preview, err);
	err = avformat_write_header(j->woc, NULL);
	return err < 0 ? av_fail(j, "writing the WEBM header", err) : 0;
}

/* Format tags worth carrying over (the muxer writes its own brand and encoder). */
static bool sensible_tag(const char *key)
{
	static const char *const skip[] = {"timecode", "major_brand", "minor_version", "compatible_brands",
	                                   "encoder", "handler_name", "vendor_id"};
	for (size_t i = 0; i < sizeof(skip) / sizeof(skip[0]); i++)
		if (av_strcasecmp(key, skip[i]) == 0)
			return false;
	return true;
}

static int open_output(proxy_job *j)
{
	int err = avformat_alloc_output_context2(&j->oc, NULL, "mov", j->out->proxy);
	if (err < 0)
		return av_fail(j, "creating the proxy", err);
	int rc = open_video_encoder(j);
	if (rc < 0)
		return rc;
	AVFormatContext *fmt = j->in.fmt;
	for (unsigned i = 0; i < fmt->nb_streams && j->naudio < DITS_MEDIA_MAX_AUDIO; i++) {
		if (!media_is_audio_stream(fmt->streams[i]))
			continue;
		rc = open_audio(j, &j->audio[j->naudio++], fmt->streams[i]);
		if (rc < 0)
			return rc;
	}
	bool lut = lut_choice(j) != NULL;
	const AVDictionaryEntry *e = NULL;
	while ((e = av_dict_get(fmt->metadata, "", e, AV_DICT_IGNORE_SUFFIX)))
		/* after a LUT the proxy is Rec.709: drop the tags that said "log" */
		if (sensible_tag(e->key) && !(lut && media_is_log_tag(e->key, e->value)))
			av_dict_set(&j->oc->metadata, e->key, e->value, 0);
	err = avio_open(&j->oc->pb, j->out->proxy, AVIO_FLAG_WRITE);
	if (err < 0)
		return av_fail(j, j->out->proxy, err);
	err = avformat_write_header(j->oc, NULL);
	if (err < 0)
		return av_fail(j, "writing the proxy header", err);
	return 0;
}

/* ---- frames through the pipeline ----------------------------------------- */

static int on_proxy_frame(proxy_job *j, AVFrame *f)
{
	f->pts = j->frames_out++;
	f->pict_type = AV_PICTURE_TYPE_NONE;
	f->sample_aspect_ratio = j->facts->sar;
	f->color_primaries = AVCOL_PRI_BT709;
	f->color_trc = AVCOL_TRC_BT709;
	f->colorspace = AVCOL_SPC_BT709;
	f->color_range = AVCOL_RANGE_MPEG;
	if (j->interlaced) {
		f->interlaced_frame = 1;
		f->top_field_first = j->tff;
	}
	return write_packets(j, j->venc, j->oc, j->vost, f);
}

static int on_preview_frame(proxy_job *j, AVFrame *f)
{
	f->pts = j->wframes++;
	f->pict_type = AV_PICTURE_TYPE_NONE;
	return write_packets(j, j->wenc, j->woc, j->wst, f);
}

/* Mean luma under 8 % of full range: a fade, a slate-less black head. */
static bool is_black(const AVFrame *f)
{
	uint64_t sum = 0;
	for (int y = 0; y < f->height; y++) {
		const uint8_t *row = f->data[0] + (ptrdiff_t)y * f->linesize[0];
		for (int x = 0; x < f->width; x++)
			sum += row[x];
	}
	return sum < (uint64_t)f->width * f->height * 20;
}

static int on_sink_frame(proxy_job *j, int which, AVFrame *f)
{
	switch (which) {
	case SINK_PROXY:
		return on_proxy_frame(j, f);
	case SINK_POSTER:
		if (j->poster_done)
			return 0;
		if (--j->poster_candidates > 0 && is_black(f)) {
			if (!j->poster_first)
				j->poster_first = av_frame_clone(f);
			return 0;
		}
		j->poster_done = true;
		return write_jpeg(j, j->poster_first && is_black(f) ? j->poster_first : f, j->out->poster);
	case SINK_SPRITE:
		if (j->sprite_done)
			return 0;
		j->sprite_done = true;
		return write_jpeg(j, f, j->out->sprite);
	default:
		return on_preview_frame(j, f);
	}
}

static int drain_sinks(proxy_job *j)
{
	for (int i = 0; i < NSINKS; i++) {
		while (!j->eof[i]) {
			int err = av_buffersink_get_frame(j->sink[i], j->filt);
			if (err == AVERROR(EAGAIN))
				break;
			if (err == AVERROR_EOF) {
				j->eof[i] = true;
				break;
			}
			if (err < 0)
				return av_fail(j, "filtering", err);
			int rc = on_sink_frame(j, i, j->filt);
			av_frame_unref(j->filt);
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

/* Tiles used = frames the sprite branch selected, known once all went through. */
static void count_sprite_frames(proxy_job *j)
{
	j->sprite_frames = (int)((j->frames_out + j->tile_every - 1) / j->tile_every);
}

static bool rate_ok_q(AVRational r)
{
	return r.num > 0 && r.den > 0;
}

static int push_video_frame(proxy_job *j, AVFrame *f)
{
	if (j->vfr) {
		int64_t t = f->best_effort_timestamp;
		if (t == AV_NOPTS_VALUE || (j->frames_in > 0 && t <= j->last_pts))
			t = j->frames_in > 0 ? j->last_pts + j->frame_dur : 0;
		f->pts = t;
		if (j->frames_in == 0)
			j->first_pts = t;
		j->last_pts = t;
	} else {
		f->pts = j->frames_in;
	}
	f->sample_aspect_ratio = j->facts->sar;
	if (!j->graph) {
		int rc = build_graph(j, f);
		if (rc < 0)
			return rc;
	}
	j->frames_in++;
	int err = av_buffersrc_add_frame_flags(j->src, f, 0);
	if (err < 0)
		return av_fail(j, "filtering", err);
	int rc = drain_sinks(j);
	if (rc == 0 && j->progress) {
		double done = (double)j->frames_in / av_q2d(j->facts->frame_rate);
		if (j->vfr && j->frames_in > 0)
			done = (double)(j->last_pts - j->first_pts) * av_q2d(j->vst->time_base);
		j->progress(j->pctx, done, j->facts->video_duration);
	}
	return rc;
}

/*
 * A read of the source that failed (the store, not the bytes) leaves a short
 * packet the decoder calls invalid: that is DITS_EIO, worth a retry, not a
 * corrupt master. 0 when reading went well.
 */
static int read_failed(proxy_job *j)
{
	if (j->in.pb && media_read_error_code(j->in.pb, 0) == DITS_EIO)
		return media_av_error(DITS_EIO, j->name, "reading", j->in.pb->error);
	return 0;
}

/*
 * A stream that does not decode is a verdict on the source, not a reason to
 * try again: DITS_EINVALID naming the first frame that did not come out.
 * Frames leave the decoder in presentation order, so frames_in counts the
 * good frames before it (frames are counted from 0, as ffprobe lists them).
 */
static int corrupt_video(proxy_job *j, int err)
{
	int rc = read_failed(j);
	if (rc < 0)
		return rc;
	char why[AV_ERROR_MAX_STRING_SIZE] = "";
	if (err < 0)
		av_strerror(err, why, sizeof(why));
	return dits_error_set(DITS_EINVALID, "%s: frame %" PRId64 " of stream %d is corrupt%s%s%s", j->name,
	                      j->frames_in, j->vidx, why[0] ? " (" : "", why, why[0] ? ")" : "");
}

static int decode_video(proxy_job *j, const AVPacket *pkt)
{
	int err = avcodec_send_packet(j->vdec, pkt);
	if (err < 0 && err != AVERROR_EOF)
		return corrupt_video(j, err);
	for (;;) {
		err = avcodec_receive_frame(j->vdec, j->frame);
		if (err == AVERROR(EAGAIN) || err == AVERROR_EOF)
			return 0;
		if (err < 0)
			return corrupt_video(j, err);
		/* A decoder that concealed damage says so; a proxy of it would hide it. */
		if (j->frame->decode_error_flags || (j->frame->flags & AV_FRAME_FLAG_CORRUPT)) {
			av_frame_unref(j->frame);
			return corrupt_video(j, 0);
		}
		int rc = push_video_frame(j, j->frame);
		av_frame_unref(j->frame);
		if (rc < 0)
			return rc;
	}
}

/* n samples of silence at the proxy's next position: a hole in the master's audio. */
static int audio_silence(proxy_job *j, audio_path *a, int64_t n)
{
	while (n > 0) {
		int chunk = n > 4096 ? 4096 : (int)n;
		av_frame_unref(a->part);
		a->part->format = a->enc->sample_fmt;
		a->part->nb_samples = chunk;
		a->part->sample_rate = a->enc->sample_rate;
		av_channel_layout_copy(&a->part->ch_layout, &a->enc->ch_layout);
		int err = av_frame_get_buffer(a->part, 0);
		if (err < 0)
			return av_fail(j, "filling an audio hole", err);
		av_samples_set_silence(a->part->extended_data, 0, chunk, a->enc->ch_layout.nb_channels,
		                       a->enc->sample_fmt);
		a->part->pts = a->next_pts;
		a->next_pts += chunk;
		a->filled += chunk;
		n -= chunk;
		int rc = write_packets(j, a->enc, j->oc, a->st, a->part);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/*
 * Places a decoded frame on the proxy's timeline, which starts at the
 * master's first video frame: audio that starts later keeps its delay (the
 * muxer writes an empty edit), audio before the first frame is cut there
 * (no NLE plays it: clips start at their first frame's timecode), and a
 * hole of more than 1 ms between frames becomes silence of the same length,
 * so every sample plays at the master's time. Sets *skip to the samples to
 * drop from the frame's head; false when the whole frame is dropped.
 */
static int audio_place(proxy_job *j, audio_path *a, const AVFrame *f, int *skip)
{
	*skip = 0;
	int sr = a->enc->sample_rate;
	int64_t ts = f->best_effort_timestamp;
	if (ts == AV_NOPTS_VALUE) {
		a->started = true;
		return 1;
	}
	int64_t pos = av_rescale_q(ts, a->tb, (AVRational){1, sr}) - a->origin;
	if (pos + f->nb_samples <= 0)
		return 0;
	if (pos < 0) {
		*skip = (int)-pos;
		pos = 0;
	}
	if (!a->started) {
		a->started = true;
		a->next_pts = pos;
		return 1;
	}
	if (pos - a->next_pts > sr / 1000) {
		int rc = audio_silence(j, a, pos - a->next_pts);
		if (rc < 0)
			return rc;
	}
	return 1;
}

static int audio_frame(proxy_job *j, audio_path *a, AVFrame *f)
{
	int skip;
	int placed = audio_place(j, a, f, &skip);
	if (placed <= 0)
		return placed;
	AVFrame *out = f;
	if (f->format != a->enc->sample_fmt) {
		if (!a->swr) {
			int err = swr_alloc_set_opts2(&a->swr, &a->enc->ch_layout, a->enc->sample_fmt,
			                              a->enc->sample_rate, &f->ch_layout, f->format, f->sample_rate, 0,
			                              NULL);
			if (err >= 0)
				err = swr_init(a->swr);
			if (err < 0)
				return av_fail(j, "converting audio samples", err);
		}
		av_frame_unref(a->conv);
		a->conv->format = a->enc->sample_fmt;
		a->conv->nb_samples = f->nb_samples;
		a->conv->sample_rate = a->enc->sample_rate;
		av_channel_layout_copy(&a->conv->ch_layout, &a->enc->ch_layout);
		int err = av_frame_get_buffer(a->conv, 0);
		if (err < 0)
			return av_fail(j, "converting audio samples", err);
		int n = swr_convert(a->swr, a->conv->data, f->nb_samples, (const uint8_t **)f->extended_data,
		                    f->nb_samples);
		if (n != f->nb_samples)
			return dits_error_set(DITS_ERROR, "%s: audio conversion returned %d of %d samples", j->name, n,
			                      f->nb_samples);
		out = a->conv;
	}
	if (skip > 0) {
		/* the part of the frame from the first video frame on */
		int n = out->nb_samples - skip;
		av_frame_unref(a->part);
		a->part->format = out->format;
		a->part->nb_samples = n;
		a->part->sample_rate = out->sample_rate;
		av_channel_layout_copy(&a->part->ch_layout, &out->ch_layout);
		int err = av_frame_get_buffer(a->part, 0);
		if (err < 0)
			return av_fail(j, "trimming audio", err);
		av_samples_copy(a->part->extended_data, out->extended_data, 0, skip, n, out->ch_layout.nb_channels,
		                out->format);
		out = a->part;
	}
	out->pts = a->next_pts;
	a->next_pts += out->nb_samples;
	return write_packets(j, a->enc, j->oc, a->st, out);
}

static int corrupt_audio(proxy_job *j, const audio_path *a, int err)
{
	int rc = read_failed(j);
	if (rc < 0)
		return rc;
	char why[AV_ERROR_MAX_STRING_SIZE];
	av_strerror(err, why, sizeof(why));
	return dits_error_set(DITS_EINVALID, "%s: audio of stream %d is corrupt at %.3f s (%s)", j->name,
	                      a->in_index, (double)a->next_pts / a->enc->sample_rate, why);
}

static int decode_audio(proxy_job *j, audio_path *a, const AVPacket *pkt)
{
	int err = avcodec_send_packet(a->dec, pkt);
	if (err < 0 && err != AVERROR_EOF)
		return corrupt_audio(j, a, err);
	for (;;) {
		err = avcodec_receive_frame(a->dec, j->frame);
		if (err == AVERROR(EAGAIN) || err == AVERROR_EOF)
			return 0;
		if (err < 0)
			return corrupt_audio(j, a, err);
		int rc = audio_frame(j, a, j->frame);
		av_frame_unref(j->frame);
		if (rc < 0)
			return rc;
	}
}

/* ---- set-up and the pass ---------------------------------------------------- */

static int open_video_decoder(proxy_job *j)
{
	const AVCodecParameters *par = j->vst->codecpar;
	const AVCodec *codec = avcodec_find_decoder(par->codec_id);
	if (!codec)
		return dits_error_set(DITS_EINVALID, "%s: no decoder for %s", j->name, avcodec_get_name(par->codec_id));
	AVCodecContext *d = j->vdec = avcodec_alloc_context3(codec);
	if (!d)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	int err = avcodec_parameters_to_context(d, par);
	if (err < 0)
		return av_fail(j, "video decoder parameters", err);
	d->pkt_timebase = j->vst->time_base;
	/* Frame threads overlap decoding with everything after it, but each holds
	   a frame: when CPUs + 1 frames do not fit the budget (8K on a big
	   machine), slice threads (one frame, all cores) are used instead. */
	int64_t fbytes = av_image_get_buffer_size(par->format >= 0 ? par->format : AV_PIX_FMT_YUV422P10LE,
	                                          par->width, par->height, 1);
	int ncpu = media_ncpu();
	int64_t fit_frames = fbytes > 0 ? DECODE_MEMORY_BUDGET / fbytes : ncpu + 1;
	if (ncpu + 1 <= fit_frames) {
		d->thread_count = ncpu + 1;
		d->thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE;
	} else if (codec->capabilities & AV_CODEC_CAP_SLICE_THREADS) {
		d->thread_count = ncpu;
		d->thread_type = FF_THREAD_SLICE;
	} else {
		d->thread_count = fit_frames < 1 ? 1 : (int)fit_frames;
		d->thread_type = FF_THREAD_FRAME;
	}
	err = avcodec_open2(d, codec, NULL);
	if (err < 0)
		return av_fail(j, "opening the video decoder", err);
	return 0;
}

static void job_free(proxy_job *j)
{
	remove_lut(j);
	avfilter_graph_free(&j->graph);
	avcodec_free_context(&j->vdec);
	avcodec_free_context(&j->venc);
	for (int i = 0; i < DITS_MEDIA_MAX_AUDIO; i++) {
		audio_path *a = &j->audio[i];
		avcodec_free_context(&a->dec);
		avcodec_free_context(&a->enc);
		swr_free(&a->swr);
		av_frame_free(&a->conv);
		av_frame_free(&a->part);
	}
	if (j->oc) {
		if (j->oc->pb)
			avio_closep(&j->oc->pb);
		avformat_free_context(j->oc);
		j->oc = NULL;
	}
	avcodec_free_context(&j->wenc);
	if (j->woc) {
		if (j->woc->pb)
			avio_closep(&j->woc->pb);
		avformat_free_context(j->woc);
		j->woc = NULL;
	}
	av_packet_free(&j->pkt);
	av_frame_free(&j->frame);
	av_frame_free(&j->filt);
	av_frame_free(&j->poster_first);
	media_input_close(&j->in);
}

static void remove_outputs(const dits_proxy_outputs *o)
{
	const char *paths[] = {o->proxy, o->poster, o->sprite, o->sprite_vtt, o->preview};
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (paths[i])
			unlink(paths[i]);
}

static int run(proxy_job *j, const dits_media_source *src)
{
	int rc = media_input_open_fast(&j->in, src);
	if (rc < 0)
		return rc;
	AVFormatContext *fmt = j->in.fmt;
	j->vidx = media_video_stream(fmt);
	if (j->vidx < 0)
		return dits_error_set(DITS_EINVALID, "%s: audio only: no video stream", j->name);
	j->vst = fmt->streams[j->vidx];
	for (unsigned i = 0; i < fmt->nb_streams; i++)
		fmt->streams[i]->discard =
		    ((int)i == j->vidx || media_is_audio_stream(fmt->streams[i])) ? AVDISCARD_DEFAULT : AVDISCARD_ALL;

	const dits_media_facts *f = j->facts;
	j->rate = f->frame_rate;
	j->vfr = f->vfr;
	int fo = f->field_order;
	j->interlaced = fo == AV_FIELD_TT || fo == AV_FIELD_BB || fo == AV_FIELD_TB || fo == AV_FIELD_BT;
	j->tff = fo == AV_FIELD_TT || fo == AV_FIELD_TB;
	j->frame_dur = av_rescale_q(1, av_inv_q(j->rate), j->vst->time_base);
	if (j->frame_dur < 1)
		j->frame_dur = 1;
	dits_proxy_frame_size(f->width, f->height, f->sar, j->recipe->max_height, &j->pw, &j->ph);
	/* the side outputs (poster, sprite, preview) are square-pixel pictures of the display size */
	j->dw = (double)j->pw * f->sar.num / f->sar.den;
	j->dh = j->ph;
	if (j->vfr) {
		/* "30", "29.97", "23.976": how editors name the rates */
		char rate[32];
		if (j->rate.den == 1)
			snprintf(rate, sizeof(rate), "%d", j->rate.num);
		else if (j->rate.den == 1001 && j->rate.num % 1000 == 0 && j->rate.num != 24000)
			snprintf(rate, sizeof(rate), "%.2f", av_q2d(j->rate));
		else
			snprintf(rate, sizeof(rate), "%.3f", av_q2d(j->rate));
		snprintf(j->res->warnings, sizeof(j->res->warnings),
		         "variable frame rate: conformed to %s fps, up to \u00b11 frame of drift", rate);
	}

	j->pkt = av_packet_alloc();
	j->frame = av_frame_alloc();
	j->filt = av_frame_alloc();
	if (!j->pkt || !j->frame || !j->filt)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	const dits_proxy_outputs *o = j->out;
	const dits_proxy_recipe *r = j->recipe;
	j->want[SINK_PROXY] = true;
	j->want[SINK_POSTER] = r->poster && o->poster;
	j->want[SINK_SPRITE] = r->sprite && o->sprite && o->sprite_vtt;
	j->want[SINK_PREVIEW] = r->preview && o->preview;
	/* A LUT file that cannot be read fails before anything is written. */
	if (r->lut[0] && strcmp(r->lut, "none") != 0 && !media_lut_known(r->lut)) {
		char id[80];
		if ((rc = media_lut_id(r->lut, id, sizeof(id))) < 0)
			return rc;
	}
	if ((rc = open_video_decoder(j)) < 0 || (rc = open_output(j)) < 0)
		return rc;
	if (j->want[SINK_PREVIEW] && (rc = open_preview(j)) < 0)
		return rc;

	/* The pass. */
	AVPacket *pkt = av_packet_alloc();
	if (!pkt)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	while (rc == 0) {
		int err = av_read_frame(fmt, pkt);
		if (err == AVERROR_EOF)
			break;
		if (err < 0) {
			rc = media_av_error(media_read_error_code(j->in.pb, err), j->name, "reading", err);
			break;
		}
		if (pkt->stream_index == j->vidx) {
			rc = decode_video(j, pkt);
		} else {
			for (int i = 0; i < j->naudio; i++)
				if (j->audio[i].in_index == pkt->stream_index)
					rc = decode_audio(j, &j->audio[i], pkt);
		}
		av_packet_unref(pkt);
	}
	av_packet_free(&pkt);
	if (rc == 0 && j->in.pb->error < 0 && j->in.pb->error != AVERROR_EOF)
		rc = media_av_error(media_read_error_code(j->in.pb, j->in.pb->error), j->name, "reading",
		                    j->in.pb->error);

	/* Flush: decoders, then the graph (EOF at the end of the last frame), then encoders. */
	if (rc == 0)
		rc = decode_video(j, NULL);
	for (int i = 0; rc == 0 && i < j->naudio; i++)
		rc = decode_audio(j, &j->audio[i], NULL);
	if (rc == 0 && !j->graph)
		rc = dits_error_set(DITS_EINVALID, "%s: truncated or corrupt (no video frame decoded)", j->name);
	if (rc == 0) {
		int64_t eof_pts = j->vfr ? j->last_pts + j->frame_dur : j->frames_in;
		int err = av_buffersrc_close(j->src, eof_pts, 0);
		if (err < 0)
			rc = av_fail(j, "filtering", err);
	}
	if (rc == 0)
		rc = drain_sinks(j);
	if (rc == 0)
		rc = write_packets(j, j->venc, j->oc, j->vost, NULL);
	for (int i = 0; rc == 0 && i < j->naudio; i++)
		rc = write_packets(j, j->audio[i].enc, j->oc, j->audio[i].st, NULL);
	if (rc == 0) {
		int err = av_write_trailer(j->oc);
		if (err >= 0)
			err = avio_closep(&j->oc->pb);
		if (err < 0)
			rc = av_fail(j, "finishing the proxy", err);
	}
	if (rc == 0 && j->woc) {
		rc = write_packets(j, j->wenc, j->woc, j->wst, NULL);
		int err = rc == 0 ? av_write_trailer(j->woc) : 0;
		if (err >= 0)
			err = avio_closep(&j->woc->pb);
		if (rc == 0 && err < 0)
			rc = av_fail(j, "finishing the WEBM preview", err);
	}
	if (rc == 0 && j->sink[SINK_POSTER] && !j->poster_done) {
		if (j->poster_first) {
			j->poster_done = true;
			rc = write_jpeg(j, j->poster_first, j->out->poster);
		} else {
			rc = dits_error_set(DITS_ERROR, "%s: no frame for the poster", j->name);
		}
	}
	if (rc == 0 && j->sink[SINK_SPRITE]) {
		count_sprite_frames(j);
		if (!j->sprite_done)
			rc = dits_error_set(DITS_ERROR, "%s: no frame for the sprite sheet", j->name);
		else
			rc = write_vtt(j);
	}
	for (int i = 0; rc == 0 && i < j->naudio; i++) {
		const audio_path *a = &j->audio[i];
		const dits_media_audio *fa = &f->audio[i];
		if (a->filled == 0)
			continue;
		size_t len = strlen(j->res->warnings);
		snprintf(j->res->warnings + len, sizeof(j->res->warnings) - len,
		         "%saudio stream %d: %.3f s of holes from %.3f s filled with silence", len ? "; " : "", i + 1,
		         (double)a->filled / a->enc->sample_rate, fa->gap_at);
	}
	if (rc == 0 && j->progress)
		j->progress(j->pctx, f->video_duration, f->video_duration);
	return rc;
}

int dits_proxy_make(const dits_media_source *src, const dits_media_facts *src_facts,
                    const dits_proxy_recipe *r, const dits_proxy_outputs *out,
                    dits_proxy_result *res, dits_media_progress_fn progress, void *pctx)
{
	memset(res, 0, sizeof(*res));
	if (!out || !out->proxy)
		return dits_error_set(DITS_EINVALID, "no proxy output path");
	if (!dits_proxy_codec_name(r->codec))
		return dits_error_set(DITS_EINVALID, "unknown proxy codec %d", r->codec);
	if (r->max_height < 16 || r->max_height > 4320)
		return dits_error_set(DITS_EINVALID, "proxy height %d out of range", r->max_height);
	if (!src_facts->has_video || src_facts->frame_count < 2 || !rate_ok_q(src_facts->frame_rate))
		return dits_error_set(DITS_EINVALID, "%s: no video to make a proxy of",
		                      src->name ? src->name : "(media)");

	proxy_job *j = calloc(1, sizeof(*j));
	if (!j)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	j->name = src->name ? src->name : "(media)";
	j->facts = src_facts;
	j->recipe = r;
	j->out = out;
	j->res = res;
	j->progress = progress;
	j->pctx = pctx;
	proxy_settings_for(r, &j->ps);

	int rc = run(j, src);
	job_free(j);
	free(j);
	if (rc == 0) {
		dits_media_source ps;
		rc = dits_media_source_open_file(&ps, out->proxy);
		if (rc == 0) {
			rc = dits_media_probe(&ps, &res->proxy);
			dits_media_source_close_file(&ps);
		}
		if (rc < 0)
			dits_error_wrap(rc, "reading back the proxy");
	}
	if (rc < 0)
		remove_outputs(out);
	return rc;
}
