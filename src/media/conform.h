/*
 * conform.h - from a parsed timeline to the masters it names: each piece of
 * media the editor had (a proxy at a master's path, a file name, a reel and
 * a timecode range) resolved to one master of a commit, its source ranges
 * checked against the master's timecode extent (docs/RENDER.md).
 */
#ifndef DITS_CONFORM_H
#define DITS_CONFORM_H

#include <stdbool.h>

#include "hash.h"
#include "media.h"
#include "repo.h"
#include "timeline.h"

typedef struct dits_conform_master {
	char *path;             /* the master's path in the commit */
	dits_id asset;          /* its manifest id */
	dits_media_facts facts; /* probed from the store, or recorded with its proxy */
	bool recorded;          /* facts from the proxy record: the master's bytes are not here */
	const char *how;        /* "path", "name", "reel+timecode": how it was found */
	int64_t tc_start;       /* the master's start timecode, frames at its rate (0 without one) */
} dits_conform_master;

/*
 * Resolves every media entry of tl that a clip uses to a video file of
 * commit: by path (the longest tracked path that ends the timeline's path
 * at a '/'), then by file name (with or without extension), then by reel
 * (the master's reel name or file name, also cut to 8 characters as EDLs
 * write reels) whose timecode extent holds the clip's source range. Then
 * checks every clip's source range, dissolve handles included, lies inside
 * its master. *out gets tl->nmedia entries (path NULL for unused media).
 * On failure: DITS_EINVALID with one line that lists every unresolved,
 * ambiguous or out-of-range clip (event, name, reason); *out is NULL.
 */
int dits_conform_resolve(dits_repo *r, const dits_id *commit, const dits_timeline *tl, const char *tl_name,
                         dits_conform_master **out);
void dits_conform_masters_free(dits_conform_master *m, size_t n);

/*
 * What dits_render_run and dits_render_verify take from resolved masters:
 * their facts, one per timeline media (zeroed for unused media; free() the
 * array), and sources opened on the masters' stored bytes (ctx is a
 * dits_conform_store).
 */
int dits_conform_facts(const dits_timeline *tl, const dits_conform_master *m, dits_media_facts **out);
typedef struct dits_conform_store {
	dits_repo *r;
	const dits_conform_master *m;
} dits_conform_store;
int dits_conform_open(void *ctx, int media, dits_media_source *src);
void dits_conform_close(void *ctx, dits_media_source *src);

/* The source frame (timecode frame number at src_rate) a clip shows at record frame rec. */
int64_t dits_conform_src_frame(const dits_tl_clip *c, int64_t rec);

/*
 * The output size of --target: "4k_master" (3840x2160), "8k_master"
 * (7680x4320), "source" (the first video clip's master), or "WxH" (even,
 * 16..16384). -1 for anything else.
 */
int dits_conform_target_size(const char *target, const dits_timeline *tl, const dits_conform_master *m, int *w,
                             int *h);

#endif
