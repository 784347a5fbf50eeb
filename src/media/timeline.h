/*
 * timeline.h - one model for the edit decision lists NLEs export: CMX3600
 * EDL, Final Cut Pro 7 XML (xmeml), FCPXML 1.8-1.11 (and .fcpxmld bundles)
 * and OpenTimelineIO JSON. Parsers fill it; `dits render` resolves its media
 * to masters and conforms it from the originals.
 *
 * Time is exact: rates are rationals (24000/1001, never 23.976) and every
 * position is an int64 frame count.
 *
 *  - Record positions (rec_in, rec_out) are frames at the timeline's rate,
 *    counted from the sequence's first frame (0); rec_start is the record
 *    start timecode as a frame count (01:00:00:00 at 24 fps = 86400), so the
 *    frame at rec position r has timecode rec_start + r.
 *  - Source positions (src_in) are *timecode frame numbers* of the source
 *    media at src_rate: 01:00:10:00 at 25 fps is 90250. A master whose start
 *    timecode is T (frames at src_rate) shows source frame s at media time
 *    (s - T) / src_rate. When a format does not say the source's rate (EDL)
 *    src_rate is the timeline's.
 *  - Record frame r of a clip shows source frame
 *        src_in + floor((r - rec_in) * speed)
 *    speed = 1/1 normal, 2/1 twice as fast, 1/2 slow motion, 0/1 freeze
 *    (src_in held), -1/1 reverse (src_in is the first frame *shown*, the
 *    highest; parsers convert formats that give the lowest).
 *  - A dissolve is carried by the incoming clip: dissolve = D frames means
 *    record frames [rec_in, rec_in + D) mix the previous clip on the same
 *    track (continued past its rec_out with the same formula, on its source
 *    handles) with this one, the incoming weight (k + 1) / (D + 1) on its
 *    k-th frame. The outgoing clip's rec_out equals the incoming's rec_in.
 *    Parsers move centred transitions (FCPXML, OTIO, xmeml) to this form.
 *  - Video tracks are stacked: the highest enabled track with a clip at a
 *    frame wins; no clip on any track is black. Audio clips are mixed per
 *    output channel; audio track k (0-based) goes to output channel k.
 */
#ifndef DITS_TIMELINE_H
#define DITS_TIMELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libavutil/rational.h>

enum dits_tl_format { DITS_TL_EDL = 1, DITS_TL_XMEML, DITS_TL_FCPXML, DITS_TL_OTIO };
enum dits_tl_kind { DITS_TL_VIDEO = 0, DITS_TL_AUDIO = 1 };

/* What the timeline says about one piece of source media. */
typedef struct dits_tl_media {
	char *name;        /* clip or file name as the timeline gives it ("A001C003.mov", "A001C003"), or NULL */
	char *path;        /* a path or file:// URL (decoded to a path) the timeline gives, or NULL */
	char *reel;        /* reel / tape name, or NULL (EDL "AX" is kept as given) */
	AVRational rate;   /* the media's rate when the timeline says it, else {0, 1} */
	int64_t tc_start;  /* the media's start timecode as frames at rate, -1 when unknown */
} dits_tl_media;

typedef struct dits_tl_clip {
	int kind;          /* enum dits_tl_kind */
	int track;         /* 0-based within its kind; for video, higher is on top */
	int event;         /* the event number (EDL) or 1-based position in the file, for messages */
	int media;         /* index into dits_timeline.media */
	char *name;        /* the clip's own name in the timeline, or NULL */
	int64_t rec_in, rec_out;   /* [rec_in, rec_out) in timeline frames from the start */
	int64_t src_in;            /* first source frame shown (timecode frame number at src_rate) */
	AVRational src_rate;       /* the rate src_in counts in */
	AVRational speed;          /* source frames per record frame (see above) */
	int64_t dissolve;          /* frames of dissolve from the previous clip on this track, 0 for a cut */
	int src_channel;           /* audio: the source channel (0-based) this track takes, -1 all mixed */
	bool enabled;
} dits_tl_clip;

typedef struct dits_timeline {
	int format;            /* enum dits_tl_format */
	char *name;            /* title / sequence / project name, or NULL */
	AVRational rate;       /* exact */
	bool drop_frame;       /* record timecode is drop-frame (30000/1001, 60000/1001 only) */
	int64_t rec_start;     /* record start timecode, frames */
	int64_t duration;      /* frames: the end of the last clip */
	int nvideo_tracks, naudio_tracks;
	dits_tl_clip *clips;   /* sorted by kind, track, rec_in */
	size_t nclips;
	dits_tl_media *media;
	size_t nmedia;
	/* What the timeline holds that is not conformed (titles, generators,
	   transforms, colour, wipes, ...): one line per kind, "3 titles (events 4, 7, 9)". */
	char **skipped;
	size_t nskipped;
} dits_timeline;

/*
 * Parses a timeline, the format detected from the content (not the name).
 * name is for messages. XML is read without network access or entity
 * expansion. DITS_EINVALID with a one-line reason naming the file and,
 * where it applies, the line or event.
 */
int dits_timeline_parse(const char *data, size_t len, const char *name, dits_timeline *out);
/*
 * The same, with the frame rate of an EDL, which does not say it (`--rate`):
 * edl_rate {0, 1} is what dits_timeline_parse uses, 24/1, or 30000/1001 when
 * the EDL's first FCM line says DROP FRAME. Other formats ignore edl_rate.
 */
int dits_timeline_parse_rate(const char *data, size_t len, const char *name, AVRational edl_rate,
                             dits_timeline *out);
/* Reads path (a file, or an .fcpxmld bundle directory: its Info.fcpxml) and parses it. */
int dits_timeline_parse_file(const char *path, dits_timeline *out);
/* The same with an EDL's rate, as dits_timeline_parse_rate. */
int dits_timeline_parse_file_rate(const char *path, AVRational edl_rate, dits_timeline *out);
void dits_timeline_free(dits_timeline *t);

/* "EDL", "FCP7 XML", "FCPXML", "OTIO" */
const char *dits_timeline_format_name(int format);

/* Timecode frames <-> "HH:MM:SS:FF" (";FF" drop-frame) at rate: see timecode.h. */

#endif
