/*
 * media_internal.h - what the files of src/media share and nobody else sees.
 */
#ifndef DITS_MEDIA_INTERNAL_H
#define DITS_MEDIA_INTERNAL_H

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>

#include "media.h"

/* An opened, stream-info'd input over a dits_media_source. */
typedef struct media_input {
	AVIOContext *pb;
	AVFormatContext *fmt;
	const char *name;
} media_input;

/*
 * Wraps src in a seekable AVIOContext (1 MiB buffer), probes the format,
 * opens it and reads stream info. DITS_EINVALID with "not a media file" or
 * "truncated or corrupt (...)" reasons.
 */
int media_input_open(media_input *in, const dits_media_source *src);
/*
 * The same, but for MOV and MXF, whose headers describe every stream, skips
 * avformat_find_stream_info (which decodes a frame single-threaded: 0.1 s
 * for 8K) unless a stream lacks its size, rate or channels.
 */
int media_input_open_fast(media_input *in, const dits_media_source *src);
void media_input_close(media_input *in);

/*
 * dits_media_probe counts a MOV's PCM audio from its sample table when this
 * is true (the default); tests turn it off to compare with decoded counts.
 */
extern bool media_probe_use_index;

/* The best video stream (attached pictures excluded), or -1. */
int media_video_stream(AVFormatContext *fmt);
/* True for the streams probe reports as audio, in stream order. */
bool media_is_audio_stream(const AVStream *st);

/* An audio decoder opened the same way by probe and proxy, so counts agree. */
/* The channel layout's name ("stereo", "5.1(side)", "8 channels"). */
void media_layout_name(const AVChannelLayout *l, char *out, size_t cap);
AVCodecContext *media_open_audio_decoder(const AVStream *st);

/* Records "<name>: <what>: <av_err2str(err)>" as code. */
int media_av_error(int code, const char *name, const char *what, int err);

/*
 * The code for a failed read: the source's own I/O failure (a chunk store
 * that cannot deliver) is DITS_EIO, worth retrying; anything the demuxer
 * says about the bytes is DITS_EINVALID.
 */
int media_read_error_code(const AVIOContext *pb, int err);

/* Number of CPUs online (>= 1). */
int media_ncpu(void);

/* True when a metadata key or value names a log curve (probe.c). */
bool media_is_log_tag(const char *key, const char *value);

/* ---- lut.c ---- */

/* Log curves we can linearize: "slog3", "vlog", "logc3". */
bool media_lut_known(const char *curve);
/* Maps one video-range R'G'B' triple of curve to display Rec.709 R'G'B' (0..1). */
void media_lut_eval(const char *curve, const double in[3], double out[3]);
/* Writes a size^3 .cube file for curve at path. 0 or DITS_E*. */
int media_lut_write_cube(const char *curve, int size, const char *path);

#endif
