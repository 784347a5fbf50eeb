/*
 * timeline_internal.h - what the timeline parsers share (timeline.c): growing
 * the model, and finishing it (sorting, duration, track counts).
 */
#ifndef DITS_TIMELINE_INTERNAL_H
#define DITS_TIMELINE_INTERNAL_H

#include "timeline.h"

/*
 * The parsers: data is the whole file (NUL-terminated at data[len]), name is
 * for messages, out is zeroed but for the EDL parser's rate: out->rate when
 * set, else 24/1 (30000/1001 under a first "FCM: DROP FRAME").
 */
int media_tl_parse_edl(const char *data, size_t len, const char *name, dits_timeline *out);
int media_tl_parse_otio(const char *data, size_t len, const char *name, dits_timeline *out);
int media_tl_parse_xmeml(const char *data, size_t len, const char *name, dits_timeline *out);
int media_tl_parse_fcpxml(const char *data, size_t len, const char *name, dits_timeline *out);

/* Appends a media entry (strings copied; NULL allowed); returns its index or a negative DITS_E* code. */
int media_tl_add_media(dits_timeline *t, const char *name, const char *path, const char *reel, AVRational rate,
                       int64_t tc_start);
/* Appends a copy of *c (name copied); speed {0,0} becomes 1/1. Returns 0 or DITS_ENOMEM. */
int media_tl_add_clip(dits_timeline *t, const dits_tl_clip *c);
/* Counts one skipped item of kind ("title", "wipe", "transform") at event for the skipped lines. */
int media_tl_skip(dits_timeline *t, const char *kind, int event);
/* Sorts the clips, sets duration and track counts, builds the skipped lines; checks ranges. */
int media_tl_finish(dits_timeline *t, const char *name);

#endif
