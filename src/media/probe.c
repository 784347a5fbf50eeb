/*
 * probe.c - measuring a media file: the facts a proxy must reproduce.
 *
 * Frame and sample counts are counted, never taken from headers: video by
 * counting packets (one packet per frame for every codec FFmpeg muxes into
 * MOV/MXF, intra or long-GOP), audio by decoding every packet, because MOV
 * edit lists and AAC priming make header durations disagree by ~21 ms.
 * For MOV, whose sample table lists every video sample with its size and
 * timestamp, the table is read instead of the video packets, and the video
 * payload is skipped by seeking: probing an 8K master then reads only its
 * audio.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>

#include "buf.h"
#include "error.h"
#include "media_internal.h"

static void copy_str(char *dst, size_t cap, const char *s)
{
	snprintf(dst, cap, "%s", s ? s : "");
}

/* ---- timecode and log-curve metadata ------------------------------------ */

/* The video stream's tag, else any stream's (MOV: the tmcd track; MXF: every track), else the file's. */
static const char *find_tag(AVFormatContext *fmt, int vidx, const char *key)
{
	const AVDictionaryEntry *e = av_dict_get(fmt->streams[vidx]->metadata, key, NULL, 0);
	if (e && e->value[0])
		return e->value;
	for (unsigned i = 0; i < fmt->nb_streams; i++) {
		e = av_dict_get(fmt->streams[i]->metadata, key, NULL, 0);
		if (e && e->value[0])
			return e->value;
	}
	e = av_dict_get(fmt->metadata, key, NULL, 0);
	return e && e->value[0] ? e->value : NULL;
}

static const char *find_timecode(AVFormatContext *fmt, int vidx)
{
	const AVDictionaryEntry *e = av_dict_get(fmt->streams[vidx]->metadata, "timecode", NULL, 0);
	if (e && e->value[0])
		return e->value;
	/* MOV: the tmcd data stream carries it; MXF: some streams do. */
	for (unsigned i = 0; i < fmt->nb_streams; i++) {
		e = av_dict_get(fmt->streams[i]->metadata, "timecode", NULL, 0);
		if (e && e->value[0])
			return e->value;
	}
	e = av_dict_get(fmt->metadata, "timecode", NULL, 0);
	return e && e->value[0] ? e->value : NULL;
}

/* Lowercase s with everything but letters and digits removed. */
static void squash(char *out, size_t cap, const char *s)
{
	size_t n = 0;
	for (; *s && n + 1 < cap; s++)
		if (isalnum((unsigned char)*s))
			out[n++] = (char)tolower((unsigned char)*s);
	out[n] = 0;
}

/*
 * Log curves show up only in vendor metadata (FFmpeg has no transfer enum
 * for them): Sony writes "s-log3-cine", Panasonic "V-Log", ARRI "LogC" or
 * "LOG-C". Every key and value of the format and stream dictionaries is
 * matched case- and punctuation-insensitively.
 */
static const char *log_curve_of(const char *text)
{
	char s[512];
	squash(s, sizeof(s), text);
	if (strstr(s, "slog3"))
		return "slog3";
	if (strstr(s, "vlog") && !strstr(s, "vlogger"))
		return "vlog";
	if (strstr(s, "logc"))
		return "logc3";
	return NULL;
}

bool media_is_log_tag(const char *key, const char *value)
{
	return log_curve_of(key) || log_curve_of(value);
}

static const char *log_curve_in_dict(const AVDictionary *d)
{
	const AVDictionaryEntry *e = NULL;
	while ((e = av_dict_get(d, "", e, AV_DICT_IGNORE_SUFFIX))) {
		const char *c = log_curve_of(e->value);
		if (!c)
			c = log_curve_of(e->key);
		if (c)
			return c;
	}
	return NULL;
}

static const char *detect_log_curve(AVFormatContext *fmt)
{
	const char *c = log_curve_in_dict(fmt->metadata);
	for (unsigned i = 0; !c && i < fmt->nb_streams; i++)
		c = log_curve_in_dict(fmt->streams[i]->metadata);
	return c;
}

/* ---- frame rate --------------------------------------------------------- */

/* The nine editing rates (conform_rate relies on their order), then high-speed ones. */
static const AVRational standard_rates[] = {
	{24000, 1001}, {24, 1}, {25, 1}, {30000, 1001}, {30, 1}, {48, 1}, {50, 1},
	{60000, 1001}, {60, 1}, {100, 1}, {120000, 1001}, {120, 1},
};

/* The standard rate within tol (relative) of r, or r itself. */
static AVRational snap_rate(AVRational r, double tol)
{
	double v = av_q2d(r);
	for (size_t i = 0; i < sizeof(standard_rates) / sizeof(standard_rates[0]); i++) {
		double s = av_q2d(standard_rates[i]);
		if (fabs(v - s) <= s * tol)
			return standard_rates[i];
	}
	return r;
}

/*
 * The rate a variable-frame-rate clip is conformed to: the nearest of the
 * editing rates 23.976, 24, 25, 29.97, 30, 48, 50, 59.94 and 60, so a
 * phone clip averaging 30.2 fps becomes 30 and one at 29.3 becomes 29.97.
 * High-speed clips (an average above 75 fps) take the nearest of 100,
 * 119.88 and 120 instead, so they are not halved to 60.
 */
static AVRational conform_rate(double avg)
{
	/* standard_rates: the nine editing rates first, then the high-speed ones */
	const size_t nedit = 9, nall = sizeof(standard_rates) / sizeof(standard_rates[0]);
	size_t from = avg > 75.0 ? nedit : 0, to = avg > 75.0 ? nall : nedit;
	AVRational best = standard_rates[from];
	for (size_t i = from + 1; i < to; i++)
		if (fabs(av_q2d(standard_rates[i]) - avg) < fabs(av_q2d(best) - avg))
			best = standard_rates[i];
	return best;
}

static bool rate_ok(AVRational r)
{
	return r.num > 0 && r.den > 0 && av_q2d(r) < 1000.0;
}

static AVRational nominal_rate(const AVStream *st)
{
	AVRational r = st->r_frame_rate, a = st->avg_frame_rate;
	if (rate_ok(r) && rate_ok(a) && av_cmp_q(r, av_mul_q(a, (AVRational){2, 1})) == 0)
		return a; /* r_frame_rate is the field rate of an interlaced stream */
	if (rate_ok(r))
		return r;
	if (rate_ok(a))
		return snap_rate(a, 0.001);
	return (AVRational){0, 1};
}

/* ---- video timing ------------------------------------------------------- */

typedef struct pts_list {
	int64_t *v;
	size_t n, cap;
} pts_list;

static int pts_push(pts_list *l, int64_t v)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 1024;
		int64_t *nv = realloc(l->v, cap * sizeof(*nv));
		if (!nv)
			return dits_error_set(DITS_ENOMEM, "out of memory");
		l->v = nv;
		l->cap = cap;
	}
	l->v[l->n++] = v;
	return 0;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/*
 * VFR when the presentation-order deltas are not all equal: each may differ
 * from the median by one tick (rounded time bases such as 1/1000 for 29.97)
 * or 0.2 %. Sets *span to the timestamp span including the last frame.
 */
static bool detect_vfr(pts_list *l, AVRational tb, double *span)
{
	*span = 0;
	if (l->n < 3)
		return false;
	qsort(l->v, l->n, sizeof(int64_t), cmp_i64);
	size_t nd = l->n - 1;
	int64_t *d = malloc(nd * sizeof(*d));
	if (!d)
		return false;
	for (size_t i = 0; i < nd; i++)
		d[i] = l->v[i + 1] - l->v[i];
	qsort(d, nd, sizeof(int64_t), cmp_i64);
	int64_t median = d[nd / 2];
	double tol = fmax(1.0, (double)median * 0.002);
	bool vfr = (double)(median - d[0]) > tol || (double)(d[nd - 1] - median) > tol;
	free(d);
	*span = (double)(l->v[l->n - 1] - l->v[0] + median) * av_q2d(tb);
	return vfr;
}

/* ---- audio counting ----------------------------------------------------- */

typedef struct audio_counter {
	int stream;
	AVCodecContext *dec;
	AVRational tb;       /* the stream's time base */
	int sample_rate;
	int64_t samples;
	bool started;
	int64_t first, next; /* positions in samples on the stream's timeline */
	int64_t gap, gap_at; /* samples missing between frames, and where the first hole starts */
} audio_counter;

/*
 * Where each decoded frame sits on the stream's timeline: a frame that
 * starts more than 1 ms after the previous one ended leaves a hole (a
 * recorder that dropped audio, a stream cut and rejoined), which a proxy
 * must keep as silence to stay in sync. Small jitter and overlaps are not
 * holes: the position then runs on by the sample count.
 */
static void audio_place_at(audio_counter *ac, bool known, int64_t pos, int64_t nb_samples)
{
	if (!ac->started) {
		ac->started = true;
		ac->first = ac->next = known ? pos : 0;
	} else if (known && pos - ac->next > ac->sample_rate / 1000) {
		if (ac->gap == 0)
			ac->gap_at = ac->next;
		ac->gap += pos - ac->next;
		ac->next = pos;
	}
	ac->next += nb_samples;
	ac->samples += nb_samples;
}

static void audio_place(audio_counter *ac, const AVFrame *frame)
{
	int64_t ts = frame->best_effort_timestamp;
	bool known = ts != AV_NOPTS_VALUE;
	audio_place_at(ac, known, known ? av_rescale_q(ts, ac->tb, (AVRational){1, ac->sample_rate}) : 0,
	               frame->nb_samples);
}

static int audio_count(audio_counter *ac, const AVPacket *pkt, AVFrame *frame, const char *name)
{
	int err = avcodec_send_packet(ac->dec, pkt);
	if (err < 0 && err != AVERROR_EOF)
		return media_av_error(DITS_EINVALID, name, "truncated or corrupt (audio)", err);
	for (;;) {
		err = avcodec_receive_frame(ac->dec, frame);
		if (err == AVERROR(EAGAIN) || err == AVERROR_EOF)
			return 0;
		if (err < 0)
			return media_av_error(DITS_EINVALID, name, "truncated or corrupt (audio)", err);
		audio_place(ac, frame);
		av_frame_unref(frame);
	}
}

void media_layout_name(const AVChannelLayout *l, char *out, size_t cap)
{
	/* "stereo", "5.1(side)", "8 channels" when the order is unspecified */
	if (av_channel_layout_describe(l, out, cap) < 0)
		snprintf(out, cap, "%d channels", l->nb_channels);
}

AVCodecContext *media_open_audio_decoder(const AVStream *st)
{
	const AVCodec *codec = avcodec_find_decoder(st->codecpar->codec_id);
	if (!codec)
		return NULL;
	AVCodecContext *dec = avcodec_alloc_context3(codec);
	if (!dec)
		return NULL;
	if (avcodec_parameters_to_context(dec, st->codecpar) < 0 ||
	    avcodec_open2(dec, codec, NULL) < 0) {
		avcodec_free_context(&dec);
		return NULL;
	}
	dec->pkt_timebase = st->time_base;
	return dec;
}

/* ---- the probe ----------------------------------------------------------- */

static bool is_image_demuxer(const char *name)
{
	/* png_pipe, jpeg_pipe, image2, ... (an animated GIF is judged by its frame count) */
	return strstr(name, "_pipe") || strncmp(name, "image2", 6) == 0;
}

/* Video frames and timestamps from a MOV sample table, when it is complete. */
static bool count_from_index(media_input *in, AVStream *st, pts_list *pts, int64_t *count,
                             bool *truncated)
{
	const char *fname = in->fmt->iformat->name;
	if (strncmp(fname, "mov", 3) != 0)
		return false;
	int n = avformat_index_get_entries_count(st);
	if (n <= 0 || st->nb_frames != n)
		return false;
	int64_t size = avio_size(in->pb);
	*count = 0;
	*truncated = false;
	for (int i = 0; i < n; i++) {
		const AVIndexEntry *e = avformat_index_get_entry(st, i);
		if (e->flags & AVINDEX_DISCARD_FRAME)
			continue;
		if (size > 0 && e->pos + e->size > size)
			*truncated = true;
		(*count)++;
		if (pts_push(pts, e->timestamp) < 0) {
			pts->n = 0; /* count the packets instead */
			*count = 0;
			return false;
		}
	}
	return true;
}

/* Off only in tests, which compare the sample-table counts with decoded ones. */
bool media_probe_use_index = true;

static bool is_pcm(enum AVCodecID id)
{
	return id >= AV_CODEC_ID_PCM_S16LE && id < AV_CODEC_ID_ADPCM_IMA_QT && av_get_bits_per_sample(id) > 0;
}

/*
 * Audio samples and timeline from a MOV sample table, for PCM: a packet
 * holds its size over the block size in samples, so the count is exact
 * without reading the file (a probe of an 8K master would otherwise touch
 * every stretch of it where audio is interleaved). Refused, so the packets
 * are decoded instead, for anything the table does not settle: an edit that
 * drops samples, a size that is not whole samples, a time base finer than
 * a sample. Entries past the end of the file mark it truncated.
 */
static bool audio_from_index(media_input *in, AVStream *st, audio_counter *ac, bool *truncated)
{
	if (!media_probe_use_index || strncmp(in->fmt->iformat->name, "mov", 3) != 0)
		return false;
	const AVCodecParameters *p = st->codecpar;
	int block = p->ch_layout.nb_channels * (av_get_bits_per_sample(p->codec_id) / 8);
	if (!is_pcm(p->codec_id) || block <= 0 || (p->block_align && p->block_align != block) || p->initial_padding ||
	    st->time_base.num != 1 || st->time_base.den != p->sample_rate)
		return false;
	int n = avformat_index_get_entries_count(st);
	if (n <= 0)
		return false;
	int64_t size = avio_size(in->pb);
	audio_counter c = *ac;
	bool past_end = false;
	for (int i = 0; i < n; i++) {
		const AVIndexEntry *e = avformat_index_get_entry(st, i);
		/* a timestamp far out (a hostile table) is left to the decoding path's own checks */
		if ((e->flags & AVINDEX_DISCARD_FRAME) || e->size <= 0 || e->size % block ||
		    e->timestamp < -(INT64_C(1) << 48) || e->timestamp > (INT64_C(1) << 48))
			return false;
		past_end |= size > 0 && e->pos + e->size > size;
		audio_place_at(&c, true, e->timestamp, e->size / block);
	}
	*ac = c;
	*truncated |= past_end;
	return true;
}

int dits_media_probe(const dits_media_source *src, dits_media_facts *out)
{
	memset(out, 0, sizeof(*out));
	media_input in;
	int rc = media_input_open(&in, src);
	if (rc < 0)
		return rc;
	AVFormatContext *fmt = in.fmt;
	const char *name = in.name;

	/* container: the first name of the demuxer ("mov,mp4,m4a,..." -> "mov") */
	copy_str(out->container, sizeof(out->container), fmt->iformat->name);
	out->container[strcspn(out->container, ",")] = 0;

	int vidx = media_video_stream(fmt);
	int naudio = 0;
	for (unsigned i = 0; i < fmt->nb_streams; i++)
		if (media_is_audio_stream(fmt->streams[i]))
			naudio++;
	if (vidx < 0) {
		media_input_close(&in);
		if (naudio)
			return dits_error_set(DITS_EINVALID, "%s: audio only: no video stream", name);
		return dits_error_set(DITS_EINVALID, "%s: not a media file (no video or audio stream)", name);
	}
	if (is_image_demuxer(fmt->iformat->name)) {
		out->still_image = true;
		media_input_close(&in);
		return dits_error_set(DITS_EINVALID, "%s: a still image, not video", name);
	}
	if (naudio > DITS_MEDIA_MAX_AUDIO) {
		media_input_close(&in);
		return dits_error_set(DITS_EINVALID, "%s: %d audio streams, at most %d supported", name,
		                      naudio, DITS_MEDIA_MAX_AUDIO);
	}

	AVStream *vst = fmt->streams[vidx];
	const AVCodecParameters *vp = vst->codecpar;
	out->has_video = true;
	copy_str(out->video_codec, sizeof(out->video_codec), avcodec_get_name(vp->codec_id));
	out->width = vp->width;
	out->height = vp->height;
	if (out->width <= 0 || out->height <= 0) {
		media_input_close(&in);
		return dits_error_set(DITS_EINVALID, "%s: truncated or corrupt (no frame size)", name);
	}
	out->sar = av_guess_sample_aspect_ratio(fmt, vst, NULL);
	if (out->sar.num <= 0 || out->sar.den <= 0)
		out->sar = (AVRational){1, 1};
	av_reduce(&out->sar.num, &out->sar.den, out->sar.num, out->sar.den, INT_MAX);
	av_reduce(&out->dar.num, &out->dar.den, (int64_t)out->width * out->sar.num,
	          (int64_t)out->height * out->sar.den, INT_MAX);
	out->frame_rate = nominal_rate(vst);
	out->field_order = vp->field_order;
	if (vp->color_trc != AVCOL_TRC_UNSPECIFIED)
		copy_str(out->color_transfer, sizeof(out->color_transfer), av_color_transfer_name(vp->color_trc));
	if (vp->color_primaries != AVCOL_PRI_UNSPECIFIED)
		copy_str(out->color_primaries, sizeof(out->color_primaries),
		         av_color_primaries_name(vp->color_primaries));
	copy_str(out->log_curve, sizeof(out->log_curve), detect_log_curve(fmt));
	const char *tc = find_timecode(fmt, vidx);
	copy_str(out->timecode, sizeof(out->timecode), tc);
	copy_str(out->reel_name, sizeof(out->reel_name), find_tag(fmt, vidx, "reel_name"));

	/* Which streams to read: those the sample table does not settle (none, for a MOV with PCM). */
	pts_list pts = {0};
	int64_t vcount = 0;
	bool truncated = false;
	bool from_index = count_from_index(&in, vst, &pts, &vcount, &truncated);
	audio_counter ac[DITS_MEDIA_MAX_AUDIO];
	int nac = 0;
	for (unsigned i = 0; i < fmt->nb_streams; i++) {
		AVStream *st = fmt->streams[i];
		st->discard = AVDISCARD_ALL;
		if ((int)i == vidx && !from_index)
			st->discard = AVDISCARD_DEFAULT;
		if (!media_is_audio_stream(st))
			continue;
		st->discard = AVDISCARD_DEFAULT;
		dits_media_audio *a = &out->audio[nac];
		a->channels = st->codecpar->ch_layout.nb_channels;
		a->sample_rate = st->codecpar->sample_rate;
		media_layout_name(&st->codecpar->ch_layout, a->layout, sizeof(a->layout));
		copy_str(a->codec, sizeof(a->codec), avcodec_get_name(st->codecpar->codec_id));
		ac[nac] = (audio_counter){.stream = (int)i, .tb = st->time_base, .sample_rate = a->sample_rate};
		if (audio_from_index(&in, st, &ac[nac], &truncated)) {
			st->discard = AVDISCARD_ALL;
			nac++;
			continue;
		}
		ac[nac].dec = media_open_audio_decoder(st);
		if (!ac[nac].dec) {
			for (int k = 0; k < nac; k++)
				avcodec_free_context(&ac[k].dec);
			free(pts.v);
			media_input_close(&in);
			return dits_error_set(DITS_EINVALID, "%s: cannot decode audio stream %u (%s)", name, i,
			                      a->codec);
		}
		nac++;
	}
	out->naudio = nac;

	AVPacket *pkt = av_packet_alloc();
	AVFrame *frame = av_frame_alloc();
	rc = pkt && frame ? 0 : dits_error_set(DITS_ENOMEM, "out of memory");
	if (rc == 0 && truncated)
		rc = dits_error_set(DITS_EINVALID, "%s: truncated or corrupt (video data past the end of the file)",
		                    name);
	bool need_read = !from_index;
	for (int k = 0; k < nac; k++)
		need_read |= ac[k].dec != NULL;
	while (rc == 0 && need_read) {
		int err = av_read_frame(fmt, pkt);
		if (err == AVERROR_EOF)
			break;
		if (err < 0) {
			int code = media_read_error_code(in.pb, err);
			rc = media_av_error(code, name, code == DITS_EIO ? "reading" : "truncated or corrupt (reading)",
			                    err);
			break;
		}
		if (pkt->flags & AV_PKT_FLAG_CORRUPT) {
			rc = dits_error_set(DITS_EINVALID, "%s: truncated or corrupt (a corrupt packet in stream %d)",
			                    name, pkt->stream_index);
		} else if (pkt->stream_index == vidx && !from_index) {
			if (!(pkt->flags & AV_PKT_FLAG_DISCARD)) {
				vcount++;
				int64_t t = pkt->pts != AV_NOPTS_VALUE ? pkt->pts : pkt->dts;
				if (t != AV_NOPTS_VALUE)
					rc = pts_push(&pts, t);
			}
		} else {
			for (int k = 0; k < nac; k++)
				if (ac[k].stream == pkt->stream_index && ac[k].dec)
					rc = audio_count(&ac[k], pkt, frame, name);
		}
		av_packet_unref(pkt);
	}
	for (int k = 0; k < nac; k++) {
		if (rc == 0 && ac[k].dec)
			rc = audio_count(&ac[k], NULL, frame, name);
		dits_media_audio *a = &out->audio[k];
		a->samples = ac[k].samples;
		a->duration = (double)ac[k].samples / a->sample_rate;
		a->start = (double)ac[k].first / a->sample_rate;
		a->end = (double)ac[k].next / a->sample_rate;
		a->gap = (double)ac[k].gap / a->sample_rate;
		a->gap_at = ac[k].gap ? (double)ac[k].gap_at / a->sample_rate : 0;
		avcodec_free_context(&ac[k].dec);
	}
	if (rc == 0 && in.pb->error < 0)
		rc = media_av_error(media_read_error_code(in.pb, in.pb->error), name, "reading", in.pb->error);
	if (rc == 0 && !from_index && vst->nb_frames > 0 && vcount < vst->nb_frames)
		rc = dits_error_set(DITS_EINVALID,
		                    "%s: truncated or corrupt (%" PRId64 " of %" PRId64 " video frames present)",
		                    name, vcount, (int64_t)vst->nb_frames);

	out->frame_count = vcount;
	double span = 0;
	out->vfr = detect_vfr(&pts, vst->time_base, &span); /* sorts pts */
	if (vst->start_time != AV_NOPTS_VALUE)
		out->video_start = (double)vst->start_time * av_q2d(vst->time_base);
	else if (pts.n)
		out->video_start = (double)pts.v[0] * av_q2d(vst->time_base);
	/* audio positions relative to the first video frame, where every NLE anchors the clip */
	for (int k = 0; k < nac; k++) {
		dits_media_audio *a = &out->audio[k];
		a->start -= out->video_start;
		a->end -= out->video_start;
		if (a->gap > 0)
			a->gap_at -= out->video_start;
	}
	if (out->vfr) {
		/* VFR: the conform rate is the standard rate nearest the average
		   (frame count over the measured span); r_frame_rate is often a
		   time-base artifact (60/1, 240/1, 90000/1) for such clips. */
		double avg = span > 0 ? (double)vcount / span : av_q2d(vst->avg_frame_rate);
		if (avg > 0)
			out->frame_rate = conform_rate(avg);
	}
	if (rc == 0 && !rate_ok(out->frame_rate))
		rc = dits_error_set(DITS_EINVALID, "%s: truncated or corrupt (no frame rate)", name);
	if (rc == 0) {
		if (out->vfr) {
			out->vfr_span = span;
			out->cfr_frame_count = llround(span * av_q2d(out->frame_rate));
			out->video_duration = span;
		} else {
			out->cfr_frame_count = vcount;
			out->video_duration = (double)vcount * av_q2d(av_inv_q(out->frame_rate));
		}
	}
	if (rc == 0 && vcount == 0)
		rc = dits_error_set(DITS_EINVALID, "%s: truncated or corrupt (no video frames)", name);
	if (rc == 0 && vcount == 1) {
		out->still_image = true;
		rc = dits_error_set(DITS_EINVALID, "%s: a still image, not video", name);
	}

	free(pts.v);
	av_packet_free(&pkt);
	av_frame_free(&frame);
	media_input_close(&in);
	return rc;
}

/* ---- JSON ---------------------------------------------------------------- */

int dits_media_probe_header(const dits_media_source *src, dits_media_header *out)
{
	memset(out, 0, sizeof(*out));
	media_input in;
	int rc = media_input_open_fast(&in, src);
	if (rc < 0)
		return rc;
	int vidx = media_video_stream(in.fmt);
	if (vidx < 0) {
		media_input_close(&in);
		return dits_error_set(DITS_EINVALID, "%s: no video stream", in.name);
	}
	AVStream *vst = in.fmt->streams[vidx];
	out->width = vst->codecpar->width;
	out->height = vst->codecpar->height;
	out->sar = av_guess_sample_aspect_ratio(in.fmt, vst, NULL);
	if (out->sar.num <= 0 || out->sar.den <= 0)
		out->sar = (AVRational){1, 1};
	av_reduce(&out->sar.num, &out->sar.den, out->sar.num, out->sar.den, INT_MAX);
	const AVDictionaryEntry *e = av_dict_get(in.fmt->metadata, "reel_name", NULL, 0);
	for (unsigned i = 0; !e && i < in.fmt->nb_streams; i++)
		e = av_dict_get(in.fmt->streams[i]->metadata, "reel_name", NULL, 0);
	if (e && e->value)
		copy_str(out->reel_name, sizeof(out->reel_name), e->value);
	media_input_close(&in);
	return 0;
}

static void put_rational(dits_buf *b, const char *key, AVRational r)
{
	dits_buf_printf(b, "\"%s\":\"%d/%d\"", key, r.num, r.den);
}

static const char *field_order_name(int fo)
{
	switch (fo) {
	case AV_FIELD_PROGRESSIVE: return "progressive";
	case AV_FIELD_TT: return "tt";
	case AV_FIELD_BB: return "bb";
	case AV_FIELD_TB: return "tb";
	case AV_FIELD_BT: return "bt";
	default: return "unknown";
	}
}

char *dits_media_facts_json(const dits_media_facts *f)
{
	dits_buf b = DITS_BUF_INIT;
	dits_buf_puts(&b, "{\"container\":");
	dits_buf_put_json_str(&b, f->container);
	dits_buf_puts(&b, ",\"video_codec\":");
	dits_buf_put_json_str(&b, f->video_codec);
	dits_buf_printf(&b, ",\"width\":%d,\"height\":%d,", f->width, f->height);
	put_rational(&b, "sar", f->sar);
	dits_buf_puts(&b, ",");
	put_rational(&b, "dar", f->dar);
	dits_buf_puts(&b, ",");
	put_rational(&b, "frame_rate", f->frame_rate);
	dits_buf_printf(&b, ",\"frame_count\":%" PRId64 ",\"video_duration\":%.6f,\"video_start\":%.6f,"
	                    "\"timecode\":",
	                f->frame_count, f->video_duration, f->video_start);
	if (f->timecode[0])
		dits_buf_put_json_str(&b, f->timecode);
	else
		dits_buf_puts(&b, "null");
	dits_buf_puts(&b, ",\"reel_name\":");
	if (f->reel_name[0])
		dits_buf_put_json_str(&b, f->reel_name);
	else
		dits_buf_puts(&b, "null");
	dits_buf_printf(&b, ",\"field_order\":\"%s\",\"vfr\":%s", field_order_name(f->field_order),
	                f->vfr ? "true" : "false");
	if (f->vfr)
		dits_buf_printf(&b, ",\"vfr_span\":%.6f,\"cfr_frame_count\":%" PRId64, f->vfr_span,
		                f->cfr_frame_count);
	dits_buf_puts(&b, ",\"color_transfer\":");
	dits_buf_put_json_str(&b, f->color_transfer);
	dits_buf_puts(&b, ",\"color_primaries\":");
	dits_buf_put_json_str(&b, f->color_primaries);
	dits_buf_puts(&b, ",\"log_curve\":");
	dits_buf_put_json_str(&b, f->log_curve);
	dits_buf_puts(&b, ",\"audio\":[");
	for (int i = 0; i < f->naudio; i++) {
		const dits_media_audio *a = &f->audio[i];
		dits_buf_printf(&b, "%s{\"codec\":", i ? "," : "");
		dits_buf_put_json_str(&b, a->codec);
		dits_buf_puts(&b, ",\"layout\":");
		dits_buf_put_json_str(&b, a->layout);
		dits_buf_printf(&b, ",\"channels\":%d,\"sample_rate\":%d,\"samples\":%" PRId64
		                    ",\"duration\":%.6f,\"start\":%.6f,\"end\":%.6f,\"gap\":%.6f,\"gap_at\":%.6f}",
		                a->channels, a->sample_rate, a->samples, a->duration, a->start, a->end, a->gap,
		                a->gap_at);
	}
	dits_buf_puts(&b, "]}");
	if (dits_buf_cstr(&b) < 0) {
		dits_buf_free(&b);
		dits_error_set(DITS_ENOMEM, "out of memory");
		return NULL;
	}
	return (char *)b.data;
}
