/*
 * maint.h - whole-repository checks and upkeep: fsck, gc, stats.
 */
#ifndef DITS_MAINT_H
#define DITS_MAINT_H

#include <stdint.h>

#include "repo.h"

typedef void (*dits_report_fn)(void *ctx, const char *msg);

/*
 * Verifies every pack (every record's hash, index agreement), the config,
 * the index, every ref, and that every object and chunk reachable from refs,
 * HEAD and the index is present and well formed. Calls problem() once per
 * problem and note() for harmless leftovers (temporary files of a killed
 * command). Returns the number of problems (0 = healthy), or <0 on an
 * error that stopped the check.
 */
long dits_fsck(dits_repo *r, dits_report_fn problem, dits_report_fn note, void *ctx);
/*
 * The same; in a partial clone (remote.NAME.partial = true) chunks that are
 * absent are not problems but counted in *not_fetched (may be NULL): the
 * remote has them and a checkout fetches them. Everything present is
 * verified all the same.
 */
long dits_fsck_partial(dits_repo *r, dits_report_fn problem, dits_report_fn note, void *ctx,
                       uint64_t *not_fetched);

typedef struct dits_gc_result {
	uint64_t removed_objects, removed_bytes, kept_objects, packs_before, packs_after;
	uint64_t leftovers;    /* temporary files removed */
	uint64_t recent_packs; /* packs inside the grace period, kept whole as roots */
	int64_t grace_seconds;
} dits_gc_result;

/* gc.pruneExpire when unset: like git's gc.pruneExpire. */
#define DITS_GC_PRUNE_EXPIRE_DEFAULT "2.weeks.ago"

/*
 * Parses an expiry: "now" (0), "never", or N with a unit (s, m/min, h, d, w
 * or their English words), optionally joined by '.' or ' ' and followed by
 * "ago": 2.weeks.ago, 3d, 12h, 3600.
 */
int dits_parse_expire(const char *s, int64_t *grace_s);

/*
 * Removes what refs, HEAD and the index cannot reach, except what is in its
 * grace period: every record of a pack written within the grace (and all it
 * reaches) is kept, and temporary packs and index-less packs modified within
 * the grace, or locked by their writer, are not deleted. The grace is prune
 * ("now", "2.weeks.ago"...) or, when prune is NULL, the config key
 * gc.pruneExpire, else DITS_GC_PRUNE_EXPIRE_DEFAULT.
 */
int dits_gc(dits_repo *r, const char *prune, dits_gc_result *res);

typedef struct dits_stats {
	uint64_t logical_bytes;  /* every committed version of every file, counted in full */
	uint64_t head_bytes;     /* files in HEAD */
	uint64_t head_files;
	uint64_t commits;
	uint64_t chunk_bytes;    /* unique chunk payload bytes stored */
	uint64_t chunks;
	uint64_t objects;        /* records of every type */
	uint64_t stored_bytes;   /* pack and index files on disk */
	uint64_t packs;
} dits_stats;

int dits_stats_compute(dits_repo *r, dits_stats *st);

#endif
