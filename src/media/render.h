/*
 * render.h - conforms a dits_timeline from its masters: every record frame
 * decoded frame-accurately from the original, scaled to the output size,
 * dissolves mixed, audio cut at sample accuracy, written as one MOV with the
 * record start timecode. See docs/RENDER.md, "The conform engine".
 */
#ifndef DITS_RENDER_H
#define DITS_RENDER_H

#include <stdbool.h>
#include <stdint.h>

#include "media.h"
#include "metadb.h"
#include "repo.h"
#include "timeline.h"

/* Opens a source for the timeline's media index; 0 or a DITS_E* code with the error set. */
typedef int (*dits_render_open_fn)(void *ctx, int media, dits_media_source *src);
/* Closes what open opened. */
typedef void (*dits_render_close_fn)(void *ctx, dits_media_source *src);

enum dits_render_codec { DITS_RENDER_PRORES_HQ, DITS_RENDER_PRORES_4444, DITS_RENDER_DNXHR_HQX, DITS_RENDER_FFV1 };

typedef struct dits_render_opts {
	int width, height;    /* output size (the caller resolves 4k_master=3840x2160, 8k_master=7680x4320, source) */
	int codec;            /* enum dits_render_codec */
	int sample_rate;      /* output audio rate, 48000 */
	int channels;         /* output channels: >= 2 and >= the timeline's audio tracks */
	dits_media_progress_fn progress; /* may be NULL; (done, total) in seconds of the timeline */
	void *pctx;
} dits_render_opts;

/*
 * Renders tl to a MOV at out_path (written in place; the caller renames it).
 * facts has tl->nmedia entries, each master's probe. The output has the
 * timeline's rate, tl->duration frames, a tmcd track at tl->rec_start, the
 * codec's 10-bit Y'CbCr tagged Rec.709, PCM s24le audio at o->sample_rate
 * with o->channels channels (audio track k in channel k). Sources are
 * opened through open/close: at most two for video (a dissolve's two clips)
 * and one per audio track (two in a dissolve) at a time. Every clip's
 * source range is checked against its master before out_path is created
 * (DITS_EINVALID naming the event); on any failure out_path is removed and
 * the error is one line naming the event.
 */
int dits_render_run(const dits_timeline *tl, const dits_media_facts *facts, dits_render_open_fn open,
                    dits_render_close_fn close, void *ctx, const dits_render_opts *o, const char *out_path);

/* One compared frame of dits_render_verify. */
typedef struct dits_render_check {
	int event;           /* the clip's event number */
	char name[64];       /* the clip's name, or its media's, "" when none */
	int64_t frame;       /* the record frame compared */
	int64_t src_frame;   /* the source frame (timecode frame number) it must show */
	double psnr;         /* luma PSNR of the render against the expected frame, dB (INFINITY when equal) */
	bool pass;
} dits_render_check;

typedef struct dits_render_report {
	dits_render_check *checks;
	size_t nchecks;
	int64_t frames;      /* frames in the render */
	char timecode[32];   /* its start timecode */
	double audio_seconds;/* its audio length (0 without audio) */
	bool frames_ok, timecode_ok, audio_ok;
	bool pass;           /* everything above and every check */
} dits_render_report;

/*
 * Checks a render made with o against the timeline: frame count, start
 * timecode, audio length (within one frame), and for every enabled video
 * clip its first, middle and last frames that it alone shows (not hidden by
 * a higher track, not inside a dissolve): decoded from the render and the
 * expected source frame decoded from the master and scaled the same way.
 * FFV1 must match exactly; lossy codecs pass when the expected frame is
 * closer (luma PSNR) than its neighbours s-1 and s+1, or, where those look
 * the same, above 40 dB. Returns 0 with *out filled (free it with
 * dits_render_report_free) or a DITS_E* code when something cannot be read.
 */
int dits_render_verify(const dits_timeline *tl, const dits_media_facts *facts, dits_render_open_fn open,
                       dits_render_close_fn close, void *ctx, const dits_render_opts *o, const char *path,
                       dits_render_report *out);
void dits_render_report_free(dits_render_report *r);

/* The enum dits_render_codec of "prores_hq", "prores_4444", "dnxhr_hqx", "ffv1"; -1 for another name. */
int dits_render_codec_of(const char *name);
/* An EDL's --rate: "25", "23.976" (NTSC decimals are the 1001 rates, exactly), "24000/1001"; -1 if not one. */
int dits_render_parse_rate(const char *s, AVRational *out);

/*
 * Runs a render job of the queue (kind RENDER, its request as the recipe:
 * docs/RENDER.md, "On the server"): parse, resolve against the branch (or
 * rev), render into r's tmp directory, verify when asked, store, commit
 * renders/NAME.mov on the branch with its head as the only expected value
 * (tried once more when it moved), queue the new file's proxies. Progress
 * and the result ({"commit": HEX, "path": OUT}) go to the job's row in db
 * (dits_job_report), where every server on the same database reads them.
 * A job whose row already has a result (an attempt that committed and
 * died before the job was marked done) is done at once. On failure no ref
 * moved; *permanent says whether trying again could help.
 */
int dits_render_job_run(dits_repo *r, dits_metadb *db, const dits_job *job, bool *permanent);

#endif
