/*
 * hologram.h - the Hologram layer's glue between the store, the job queue
 * and the media pipeline: which assets get proxies, and the worker that
 * makes them straight from the stored chunks.
 */
#ifndef DITS_HOLOGRAM_H
#define DITS_HOLOGRAM_H

#include <stdbool.h>
#include <stddef.h>

#include "blob.h"
#include "media.h"
#include "repo.h"

/* A media source reading a stored asset through a dits_blob (no copy). */
int dits_media_source_open_blob(dits_media_source *src, dits_odb *db, const dits_id *asset,
                                const char *name);
void dits_media_source_close_blob(dits_media_source *src);

/* True when path names a file that gets proxies (video containers, by extension). */
bool dits_hologram_is_video_path(const char *path);

/* "proxy_1080p", "proxy_720p", "proxy_540p" for a recipe's height. */
const char *dits_hologram_proxy_type(const dits_proxy_recipe *r);

/* The type of the configured recipe's proxies (dits_hologram_recipe_from_config),
 * the default recipe's when the settings are not valid. */
const char *dits_hologram_configured_type(dits_repo *r);

/* A job's recipe field back into a recipe. */
int dits_hologram_recipe_from_spec(const char *spec, dits_proxy_recipe *r);

/* The recipe as configured for the repository (proxy.profile, proxy.resolution). */
int dits_hologram_recipe_from_config(dits_repo *r, dits_proxy_recipe *out);

/*
 * Enqueues TRANSCODE jobs for the video files that commit adds or changes
 * against its first parent. The command returns at once: no transcoding
 * happens here. *count (may be NULL) receives the number enqueued.
 */
int dits_hologram_enqueue_commit(dits_repo *r, const dits_id *commit, const dits_proxy_recipe *recipe,
                                 size_t *count);

/*
 * What follows a commit, wherever it was made (dits commit, a push, an
 * ingest, a render): with dits_repo_proxy_auto, the TRANSCODE jobs of the
 * video files commit adds or changes, with the configured recipe. *count
 * (may be NULL) receives how many were queued (0 with proxy.auto off).
 * Running them is the caller's: the CLI starts a background worker, a
 * server wakes its own.
 */
int dits_hologram_after_commit(dits_repo *r, const dits_id *commit, size_t *count);

/* Enqueues TRANSCODE jobs for asset ids given with their paths (proxy generate). */
int dits_hologram_enqueue_asset(dits_repo *r, const dits_id *asset, const char *path,
                                const dits_proxy_recipe *recipe);

typedef struct dits_worker_event {
	const char *path;      /* the asset's path when it was enqueued */
	const char *what;      /* "start", "progress", "ready", "failed", "retry" */
	double done, total;    /* seconds of media, for "progress" */
	const char *message;   /* reason or warnings */
} dits_worker_event;

typedef struct dits_worker_opts {
	int jobs;            /* jobs run at once (threads), 1 by default */
	bool once;           /* run one job, then return */
	bool drain;          /* return when the queue is empty; otherwise wait for more */
	int lease_seconds;   /* 60 by default; heartbeats every third of it */
	void (*on_event)(void *ctx, const dits_worker_event *ev);
	void *ctx;
	/* How each worker thread opens the repository at workdir; NULL:
	 * dits_repo_open (a server with packs in S3 opens it its own way). */
	int (*open_repo)(void *ctx, const char *workdir, dits_repo **out);
} dits_worker_opts;

typedef struct dits_worker_stats {
	unsigned done, failed, retried;
} dits_worker_stats;

/* Runs jobs from the repository's queue in this process. */
int dits_worker_run(dits_repo *r, const dits_worker_opts *o, dits_worker_stats *st);

/*
 * Starts a detached background worker (exe worker --drain --background)
 * unless one is already running for this repository. Its output goes to
 * .dits/worker.log.
 */
int dits_worker_spawn_background(dits_repo *r, const char *exe);

/*
 * Holds .dits/worker.lock for a background worker; 0 when taken, DITS_ELOCKED
 * when another background worker holds it.
 */
int dits_worker_lock_background(dits_repo *r, int *fd_out);

#endif
