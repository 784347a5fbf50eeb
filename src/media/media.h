/*
 * media.h - the media layer: probing, proxy transcoding and validation on
 * FFmpeg's libraries, in-process.
 *
 * Everything reads its input through a dits_media_source (read/seek
 * callbacks, wrapped in a custom AVIOContext), so a worker can transcode an
 * 8K master straight from its stored chunks with no temporary copy.
 * Errors are reported like the rest of the library: a negative DITS_E* code
 * and a one-line reason in dits_error_last() naming the source.
 */
#ifndef DITS_MEDIA_H
#define DITS_MEDIA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libavutil/rational.h>

/* ---- sources ----------------------------------------------------------- */

typedef struct dits_media_source {
	void *opaque;
	/* Like AVIOContext's read_packet: bytes read, AVERROR_EOF at the end, <0 on error. */
	int (*read)(void *opaque, uint8_t *buf, int size);
	/* Like AVIOContext's seek: whence is SEEK_SET/SEEK_CUR/SEEK_END or AVSEEK_SIZE. */
	int64_t (*seek)(void *opaque, int64_t offset, int whence);
	const char *name; /* the path, for messages */
} dits_media_source;

/* A source over a plain file (tests, and probing files before they are added). */
int dits_media_source_open_file(dits_media_source *src, const char *path);
void dits_media_source_close_file(dits_media_source *src);

/* ---- facts --------------------------------------------------------------- */

#define DITS_MEDIA_MAX_AUDIO 16

typedef struct dits_media_audio {
	int channels;
	int sample_rate;
	int64_t samples;       /* decoded sample count per channel */
	double duration;       /* samples / sample_rate, seconds */
	char codec[32];
	char layout[64];       /* channel layout as libavutil names it: "stereo", "5.1(side)", "8 channels" */
	/* The stream's timeline, seconds from the first video frame: where its first
	   sample plays (negative: before the picture), where its last ends, and the
	   total length of holes between frames (more than 1 ms each) with the first's
	   position. A continuous stream has end - start = duration and gap 0. */
	double start, end, gap, gap_at;
} dits_media_audio;

typedef struct dits_media_facts {
	char container[32];    /* "mov", "mxf", ... */
	bool has_video;
	bool still_image;
	char video_codec[32];
	int width, height;
	AVRational sar;        /* sample aspect ratio, 1/1 when unknown */
	AVRational dar;        /* display aspect ratio, reduced */
	AVRational frame_rate; /* exact nominal rate, e.g. 24000/1001 */
	int64_t frame_count;   /* counted */
	double video_duration; /* frame_count / frame_rate, seconds (VFR: vfr_span) */
	double video_start;    /* the first frame's presentation time in the file, seconds */
	char timecode[32];     /* start timecode "HH:MM:SS:FF" (";FF" drop-frame), "" when none */
	char reel_name[64];    /* the timecode's reel (MOV tmcd track name, MXF reel_name), "" when none */
	int field_order;       /* enum AVFieldOrder */
	bool vfr;              /* variable frame rate detected from packet timestamps */
	double vfr_span;       /* VFR only: seconds from the first frame's timestamp to the end of the last */
	int64_t cfr_frame_count; /* frames at frame_rate over the stream (VFR: round(vfr_span * rate),
	                            what a constant-rate conform yields; CFR: frame_count) */
	char color_transfer[32];
	char color_primaries[32];
	char log_curve[16];    /* "slog3", "vlog", "logc3", or "" */
	int naudio;
	dits_media_audio audio[DITS_MEDIA_MAX_AUDIO];
} dits_media_facts;

/*
 * Opens src and measures it (frame and sample counts are counted by
 * reading packets / decoding audio). DITS_EINVALID with a clear reason for
 * non-media, truncated/corrupt, audio-only and still-image inputs.
 */
int dits_media_probe(const dits_media_source *src, dits_media_facts *out);

/* What a file's headers say of its picture, read without counting anything. */
typedef struct dits_media_header {
	int width, height;
	AVRational sar;        /* 1/1 when unknown */
	char reel_name[64];    /* a "reel_name" tag of any stream or the file (MOV tmcd), "" when none */
} dits_media_header;

/*
 * Opens src and reads its headers only (MOV and MXF: no packet is read):
 * the video stream's frame size, sample aspect ratio and reel name.
 * DITS_EINVALID, naming the source, when there is no video stream.
 */
int dits_media_probe_header(const dits_media_source *src, dits_media_header *out);

/* The facts as one JSON object (for the variant record and --json output). */
char *dits_media_facts_json(const dits_media_facts *f);

/*
 * Reads facts back from their JSON (a variant record's), or from its member
 * object when member is not NULL ("master": the master's facts a proxy
 * record carries). DITS_EINVALID when json is not an object, DITS_ENOTFOUND
 * when member is absent. Missing members keep zero values.
 */
int dits_media_facts_parse(const char *json, const char *member, dits_media_facts *out);

/* ---- proxies ------------------------------------------------------------- */

enum dits_proxy_codec {
	DITS_PROXY_PRORES_PROXY = 0, /* prores_ks profile 0 (apco), yuv422p10le, vendor apl0, MOV */
	DITS_PROXY_DNXHR_LB = 1,     /* dnxhd profile dnxhr_lb, yuv422p, MOV */
	DITS_PROXY_H264 = 2,         /* libx264, yuv420p, MOV */
};

typedef struct dits_proxy_recipe {
	int codec;            /* enum dits_proxy_codec */
	int max_height;       /* 1080, 720 or 540: fit inside (max_height*16/9) x max_height */
	char lut[256];        /* "" detect from metadata, "none", "slog3", "vlog", "logc3", or a .cube path */
	bool poster, sprite, preview;
} dits_proxy_recipe;

void dits_proxy_recipe_default(dits_proxy_recipe *r);
/* "prores_proxy", "dnxhr_lb", "h264" <-> codec; -1 when unknown. */
int dits_proxy_codec_from_name(const char *name);
const char *dits_proxy_codec_name(int codec);

/*
 * The proxy's frame size for a master of width x height stored pixels with
 * pixel aspect sar, under a recipe of max_height: the largest integer
 * divisor of the master's size inside the box (1920x1080 at 1080; 2048x1080
 * for masters wider than 16:9), else the largest even size inside it with
 * the master's shape. The proxy keeps the master's pixel aspect.
 */
void dits_proxy_frame_size(int width, int height, AVRational sar, int max_height, int *pw, int *ph);

/*
 * The recipe as canonical JSON: encoder, every encoder setting, scale,
 * LUT (by name or the BLAKE3 of a .cube file), and the libav library
 * versions. Same parent + same description = the same variant.
 */
char *dits_proxy_recipe_json(const dits_proxy_recipe *r);

typedef struct dits_proxy_outputs {
	const char *proxy;      /* .mov */
	const char *poster;     /* .jpg, or NULL */
	const char *sprite;     /* .jpg, or NULL */
	const char *sprite_vtt; /* .vtt with #xywh= cues pointing at sprite_name, or NULL */
	const char *sprite_name;/* the file name the VTT cues refer to */
	const char *preview;    /* .webm (VP9), or NULL */
} dits_proxy_outputs;

typedef struct dits_proxy_result {
	dits_media_facts proxy;   /* measured from the written proxy */
	char warnings[512];       /* e.g. VFR: "variable frame rate: conformed to 29.97 fps, up to ±1 frame of drift" */
	char lut_applied[64];     /* "", "slog3", ... or "cube:<hex>" */
} dits_proxy_result;

typedef void (*dits_media_progress_fn)(void *ctx, double done_seconds, double total_seconds);

/*
 * One decode pass of src feeds every requested output (split filter
 * graph). Writes the files named in out, then measures the proxy into
 * res->proxy. Does not validate: see dits_proxy_validate.
 * The files are written in place (give temporary names and rename after
 * validation); on failure every path in out is removed. src_facts must be
 * dits_media_probe's facts of the same source. progress may be NULL.
 * docs/MEDIA.md describes the pipeline and every setting.
 */
int dits_proxy_make(const dits_media_source *src, const dits_media_facts *src_facts,
                    const dits_proxy_recipe *r, const dits_proxy_outputs *out,
                    dits_proxy_result *res, dits_media_progress_fn progress, void *pctx);

/*
 * The attach rules (docs/MEDIA.md "Validation"): what Resolve, Premiere,
 * Final Cut and Avid need to attach a proxy to its master and keep a cut
 * made on it on the same frames and samples. One row per rule, in table
 * order: frame size (when max_height > 0: the size dits_proxy_frame_size
 * gives), pixel aspect, display aspect, field order, frame rate, frame count,
 * video duration, start timecode, drop-frame, reel name, audio streams, and
 * per audio stream its channels, layout, sample rate, start, end and holes.
 * Returns the number of rows (at most DITS_PROXY_CHECKS_MAX; only the first
 * cap are written).
 */
typedef struct dits_proxy_check {
	char rule[40];
	char master[64];
	char proxy[64];
	bool pass;
} dits_proxy_check;

#define DITS_PROXY_CHECKS_MAX (12 + 6 * DITS_MEDIA_MAX_AUDIO)

int dits_proxy_check_all(const dits_media_facts *src, const dits_media_facts *proxy, int max_height,
                         dits_proxy_check *out, int cap);

/* 0 when every rule holds, or DITS_EINVALID naming the first that does not
   ("frame count 59 != source 60"). */
int dits_proxy_validate(const dits_media_facts *src, const dits_media_facts *proxy, int max_height);

#endif
