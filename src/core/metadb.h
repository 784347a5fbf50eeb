/*
 * metadb.h - the repository's metadata database: asset variants and the job
 * queue. Two backends keep it (metadb_backend.h): SQLite in WAL mode at
 * `.dits/dits.db`, the embedded default, and PostgreSQL when the
 * repository's `metadb.url` setting names one (`postgres://...` or
 * `postgresql://...`). Both give every function below the same semantics.
 *
 * A variant (a proxy, a poster, a sprite sheet, ...) is a separate asset
 * linked to its parent by the parent's manifest id; it never changes the
 * parent's identity (ARCHITECTURE.md invariant 3). One row exists per
 * (parent, type, recipe hash): the same parent with the same recipe is
 * generated once. A variant becomes `ready` in one statement that sets all
 * of its fields, so a half-registered variant is never visible.
 *
 * A job (`TRANSCODE <asset> -> proxy_1080p`) is claimed with a lease
 * (owner, expiry) and kept alive with heartbeats; a worker that dies
 * (kill -9) simply stops heartbeating, and its job is claimed again by the
 * next worker once the lease has expired. Failures are retried with
 * exponential backoff until max_attempts, then the job is `dead` with its
 * last error kept. docs/JOBS.md describes the semantics in full.
 *
 * Usage rules:
 * - Open the database once per process (and per thread that uses it): a
 *   dits_metadb must not cross fork() and is used by one thread at a time.
 *   Any number of processes may use the same file at once.
 * - Every function returns 0 or a negative DITS_E* code (error.h) and then
 *   leaves a message in dits_error_last(). Lock waits are bounded by a
 *   busy timeout of DITS_METADB_BUSY_TIMEOUT_MS; a database still locked
 *   after that gives DITS_ELOCKED.
 * - Times are seconds since the epoch. "Now" is time(NULL) unless a test
 *   overrides it: dits_metadb_set_clock() for C tests, or the environment
 *   variable DITS_TEST_NOW (an integer, read when the database is opened)
 *   for scripts. The clock hook wins over the variable.
 * - Ids are passed as dits_id and stored as 64 lowercase hex digits. Every
 *   struct filled by a getter owns its strings: release it with its _free
 *   function (safe on a zeroed struct and after a failed call).
 */
#ifndef DITS_METADB_H
#define DITS_METADB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hash.h"
#include "repo.h"

/* The schema this code writes (PRAGMA user_version). */
#define DITS_METADB_SCHEMA_VERSION 2
/* The PostgreSQL schema this code writes (table dits_schema_version): version
 * 2 adds the shared refs, reflog and repository catalog (refdb_pg.c), version
 * 3 the jobs' progress and result. */
#define DITS_METADB_PG_SCHEMA_VERSION 3
/* How long a call waits for another process's write transaction. */
#define DITS_METADB_BUSY_TIMEOUT_MS 10000
/* Upper bound of the retry backoff of a failed job, in seconds. */
#define DITS_JOB_BACKOFF_MAX 300
/* Attempts a job gets before it is dead (the jobs.max_attempts default). */
#define DITS_JOB_MAX_ATTEMPTS 3

typedef struct dits_metadb dits_metadb;

/*
 * Opens (creating it if needed) the SQLite metadata database at path (for
 * tests and tools that name a file; a repository's database is opened with
 * dits_metadb_open_repo(), which honours metadb.url), switches it to WAL
 * mode, sets the busy timeout and creates or migrates the schema.
 * *out is set to NULL on failure.
 *
 * Returns DITS_EVERSION when the file was written by a newer Dits (its
 * schema version is higher than DITS_METADB_SCHEMA_VERSION; the file is not
 * touched), DITS_ECORRUPT when the file is not an SQLite database,
 * DITS_ELOCKED when another process kept it locked past the busy timeout,
 * DITS_EIO when it cannot be opened or created.
 */
int dits_metadb_open(dits_metadb **out, const char *path);

/*
 * The one way to open a repository's metadata: the backend that its
 * `metadb.url` setting names, else the one the environment variable
 * DITS_METADB_URL names (a default for every repository that sets none, e.g.
 * for a fleet's workers or the test suite), else SQLite at `.dits/dits.db`
 * (dits_metadb_open()). A PostgreSQL database may hold many repositories:
 * every row carries a repository key, the `metadb.repo` setting when set
 * (set the same key on every machine that shares a repository's queue),
 * else the absolute path of the repository's `.dits` directory.
 */
int dits_metadb_open_repo(dits_metadb **out, const dits_repo *r);

/*
 * Like dits_metadb_open_repo(), but an embedded database that was never
 * created stays absent: 0 with *out NULL (nothing to read from it). A
 * PostgreSQL database is always opened.
 */
int dits_metadb_open_repo_if_exists(dits_metadb **out, const dits_repo *r);

/*
 * True when the repository has metadata to read: `metadb.url` is set or
 * `.dits/dits.db` exists (so a caller can skip opening it when it does not).
 */
bool dits_metadb_present(const dits_repo *r);

/*
 * dits_metadb_open_repo() (if_exists: _if_exists()) for the repository whose
 * `.dits` directory is dits_dir, reading its config file (for a server that
 * visits repositories without opening them).
 */
int dits_metadb_open_dir(dits_metadb **out, const char *dits_dir, bool if_exists);

/*
 * Opens the backend that url names: `postgres://...` or `postgresql://...`
 * (a libpq URI; rows scoped by repo_key), or `sqlite:PATH`. DITS_EINVALID
 * for anything else.
 */
int dits_metadb_open_url(dits_metadb **out, const char *url, const char *repo_key);

/*
 * Where dits_metadb_open_dir() finds the metadata of the repository whose
 * `.dits` directory is dits_dir: *url the PostgreSQL URL (metadb.url, else
 * DITS_METADB_URL) and *key the repository key its rows carry, both
 * malloc'd; both NULL when it is the embedded SQLite database. For a
 * process that listens for the jobs of many repositories and must tell
 * which one a notification names.
 */
int dits_metadb_locate_dir(const char *dits_dir, char **url, char **key);

/* "sqlite" or "postgresql". */
const char *dits_metadb_backend(const dits_metadb *db);

/* Closes the database and frees db. NULL is allowed. */
void dits_metadb_close(dits_metadb *db);

/*
 * Replaces the clock used for "now" (timestamps, leases, backoff) by now(),
 * or restores the default (DITS_TEST_NOW if it was set at open, else
 * time(NULL)) when now is NULL. For tests.
 */
void dits_metadb_set_clock(dits_metadb *db, int64_t (*now)(void));

/* The time the database uses as "now", in seconds since the epoch. */
int64_t dits_metadb_now(const dits_metadb *db);

/* ---- Asset variants (table asset_variants) ---------------------------- */

/*
 * One row of asset_variants. The strings are malloc'd and owned by the
 * struct (NULL when the column is NULL). chunk_hash_list, recipe and facts
 * are JSON text; warnings is free text (NULL when there were none).
 */
typedef struct dits_variant {
	char id[37];           /* UUID v4, "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx" */
	dits_id parent;        /* manifest id of the original */
	char type[32];         /* proxy_1080p, thumbnail, ... */
	char *chunk_hash_list; /* JSON array of hex chunk ids (set once ready) */
	bool has_manifest;     /* manifest is meaningful (only once ready) */
	dits_id manifest;      /* the variant's own manifest id */
	char *recipe;          /* JSON: encoder, settings, LUT, libav versions */
	dits_id recipe_hash;   /* BLAKE3 of the recipe */
	char *facts;           /* JSON: measured media facts (set once ready) */
	char status[16];       /* queued | running | ready | failed */
	char *error;           /* why it failed (status failed), else NULL */
	char *warnings;        /* e.g. "possible +/-1 frame drift", or NULL */
	uint64_t size;         /* bytes of the variant's content (once ready) */
	int64_t created_at, updated_at;
} dits_variant;

/* Frees the strings of v and zeroes it. NULL is allowed. */
void dits_variant_free(dits_variant *v);

/* Frees an array returned by dits_variant_list(). */
void dits_variant_list_free(dits_variant *list, size_t count);

/*
 * True for the variant types Dits knows: proxy_1080p, proxy_720p,
 * proxy_540p, thumbnail, sprite, sprite_vtt, preview_webm.
 */
bool dits_variant_type_valid(const char *type);

/*
 * Finds or creates the variant (parent, type, recipe_hash) and copies it to
 * *out. When a row exists it is returned as it is, whatever its status
 * (a `ready` one means there is nothing to do; a `failed` one stays failed
 * until dits_variant_reset()). Otherwise a `queued` row with a new UUID v4
 * is inserted. recipe_json may be NULL; when recipe_hash is NULL the hash
 * is the BLAKE3 of recipe_json's bytes (of "" when that is NULL too).
 *
 * Returns DITS_EINVALID for an unknown type or a recipe that is not JSON.
 */
int dits_variant_begin(dits_metadb *db, const dits_id *parent, const char *type,
                       const char *recipe_json, const dits_id *recipe_hash, dits_variant *out);

/*
 * Marks the variant `running` (from queued, running or failed) and clears
 * its error. DITS_ENOTFOUND for an unknown id, DITS_ECONFLICT when it is
 * already ready.
 */
int dits_variant_set_running(dits_metadb *db, const char *id);

/*
 * Marks the variant `failed` with error (the reason the user will see).
 * DITS_ENOTFOUND for an unknown id, DITS_ECONFLICT when it is already
 * ready (a registered variant is never failed afterwards).
 */
int dits_variant_fail(dits_metadb *db, const char *id, const char *error);

/*
 * Registers a generated and validated variant: sets manifest,
 * chunk_hash_list (a JSON array, required), facts (JSON or NULL), warnings
 * (or NULL), size and status `ready`, all in one transaction. Call it only
 * after the variant's chunks and manifest are durable in the store.
 *
 * DITS_ENOTFOUND for an unknown id, DITS_ECONFLICT when it is already ready
 * (another worker registered it first: its result stands), DITS_EINVALID
 * when the JSON arguments are not what is described above.
 */
int dits_variant_register(dits_metadb *db, const char *id, const dits_id *manifest,
                          const char *chunk_hash_list_json, const char *facts_json,
                          const char *warnings, uint64_t size);

/*
 * The newest variant (by creation) of the given type for parent, whatever
 * its recipe and status. DITS_ENOTFOUND (with a message) when there is none.
 */
int dits_variant_get(dits_metadb *db, const dits_id *parent, const char *type, dits_variant *out);

/*
 * The proxy the repository's configuration asks for: its variant type
 * (proxy.resolution: proxy_1080p, proxy_720p, proxy_540p) and its recipe's
 * profile (proxy.profile: prores_proxy, dnxhr_lb, h264), into type and
 * profile (DITS_VARIANT_NAME_MAX bytes each). Unset or unknown values give
 * the default recipe's: proxy_1080p, prores_proxy.
 */
#define DITS_VARIANT_NAME_MAX 32
void dits_variant_configured(const dits_repo *r, char *type, char *profile);

/*
 * The ready variant to serve as parent's proxy when type is asked for with
 * a recipe of this profile (NULL: the default, prores_proxy), whichever
 * recipes made the ready ones: first one of type made with profile, else
 * one of the default recipe (proxy_1080p, prores_proxy), else any of type.
 * Among equals the newest, then the smallest id: the choice is the same on
 * every call. DITS_ENOTFOUND (with a message) when there is none.
 */
int dits_variant_pick(dits_metadb *db, const dits_id *parent, const char *type, const char *profile,
                      dits_variant *out);

/* The variant with the given UUID; DITS_ENOTFOUND when there is none. */
int dits_variant_get_by_id(dits_metadb *db, const char *id, dits_variant *out);

/*
 * All variants of parent (of every parent when parent is NULL), ordered by
 * parent, type and creation. *out is a malloc'd array of *count entries
 * (NULL and 0 when there are none); free it with dits_variant_list_free().
 */
int dits_variant_list(dits_metadb *db, const dits_id *parent, dits_variant **out, size_t *count);

/*
 * Puts a queued, running or failed variant back to `queued` and clears its
 * error (for `dits proxy retry`). DITS_ENOTFOUND for an unknown id,
 * DITS_ECONFLICT when it is ready.
 */
int dits_variant_reset(dits_metadb *db, const char *id);

/* ---- Jobs (table jobs) ------------------------------------------------ */

/*
 * One row of jobs. state is queued | running | done | failed | dead
 * ("failed" is accepted by the schema but not produced: a failed attempt is
 * either queued again with a backoff or dead). lease_owner is "" and
 * lease_expires 0 when nobody holds the job.
 */
typedef struct dits_job {
	int64_t id;
	char kind[16];        /* "TRANSCODE" */
	dits_id asset;        /* manifest id of the source */
	char *path;           /* worktree path at enqueue time, for messages; may be NULL */
	char target[32];      /* "proxy_1080p", ... */
	char *recipe;         /* JSON or NULL */
	dits_id recipe_hash;
	char state[8];
	int attempts, max_attempts;
	char lease_owner[64];
	int64_t lease_expires, not_before;
	char *last_error;     /* the error of the last failed attempt, or NULL */
	int64_t created_at, updated_at;
	double progress;      /* 0..1 as the worker last reported it (dits_job_report) */
	char *result;         /* what the job made, JSON as its worker reported it, or NULL */
} dits_job;

/* Counts of jobs per state. */
struct dits_job_counts {
	int64_t queued, running, done, failed, dead;
};

/* Frees the strings of job and zeroes it. NULL is allowed. */
void dits_job_free(dits_job *job);

/* Frees an array returned by dits_job_list(). */
void dits_job_list_free(dits_job *list, size_t count);

/*
 * Queues a job (kind, e.g. "TRANSCODE") to make target from asset with the
 * given recipe. Idempotent: when a queued or running job for the same
 * (asset, target, recipe hash) exists, nothing is inserted and its id is
 * returned. recipe_json and path may be NULL; a NULL recipe_hash is
 * computed as in dits_variant_begin(). *job_id (when job_id is not NULL)
 * receives the job's id.
 *
 * DITS_EINVALID when kind or target is empty or too long for dits_job, or
 * the recipe is not JSON.
 */
int dits_job_enqueue(dits_metadb *db, const char *kind, const dits_id *asset, const char *path,
                     const char *target, const char *recipe_json, const dits_id *recipe_hash,
                     int64_t *job_id);

/*
 * Claims the oldest job (lowest id) that is ready: queued with
 * not_before <= now, or running with lease_expires < now (its worker died).
 * In one IMMEDIATE transaction the job becomes running, owned by owner,
 * with lease_expires = now + lease_seconds and attempts + 1, and is copied
 * to *out.
 *
 * A running job whose lease expired after its last allowed attempt is not
 * run again: it is made dead ("worker ... lost its lease ...") so that an
 * input that kills its worker cannot loop forever.
 *
 * DITS_ENOTFOUND when no job is ready (no message is set); DITS_EINVALID
 * for an empty or too long owner (at most 63 bytes) or lease_seconds < 1.
 * An owner should be unique per worker, e.g. "host:pid:random".
 */
int dits_job_claim(dits_metadb *db, const char *owner, int lease_seconds, dits_job *out);

/*
 * Extends the lease of job id held by owner to now + lease_seconds. Call it
 * well within the lease (e.g. every lease/3). DITS_ECONFLICT when owner no
 * longer holds the job (its lease expired and another worker claimed it,
 * or the job is no longer running); DITS_ENOTFOUND for an unknown id.
 * A lease that expired but was not yet claimed by anyone is still held.
 */
int dits_job_heartbeat(dits_metadb *db, int64_t id, const char *owner, int lease_seconds);

/*
 * Records how far job id is (progress, 0..1) and, when result is not NULL,
 * what it made (a JSON text, e.g. a render's output commit), so that every
 * process on the same database sees them (dits_job_get). A NULL result keeps
 * the one recorded before. Neither the state nor the lease changes; the
 * result stays through retries, so a later attempt can tell that an earlier
 * one finished its work. DITS_ENOTFOUND for an unknown id.
 */
int dits_job_report(dits_metadb *db, int64_t id, double progress, const char *result);

/*
 * Marks job id `done`. DITS_ECONFLICT when owner no longer holds it (the
 * result must then be treated as a duplicate); DITS_ENOTFOUND for an
 * unknown id.
 */
int dits_job_complete(dits_metadb *db, int64_t id, const char *owner);

/*
 * Records a failed attempt of job id with its error. When permanent is
 * true (the input can never succeed, e.g. not a video) or the job has used
 * max_attempts, it becomes `dead`; otherwise it is queued again with
 * not_before = now + min(2^attempts, DITS_JOB_BACKOFF_MAX) seconds. The
 * error is kept in last_error either way. DITS_ECONFLICT when owner no
 * longer holds the job; DITS_ENOTFOUND for an unknown id.
 */
int dits_job_fail(dits_metadb *db, int64_t id, const char *owner, const char *error,
                  bool permanent);

/* The job with the given id; DITS_ENOTFOUND when there is none. */
int dits_job_get(dits_metadb *db, int64_t id, dits_job *out);

/*
 * Jobs in id order, filtered by asset and by state (NULL = any). *out is a
 * malloc'd array of *count entries (NULL and 0 when there are none); free
 * it with dits_job_list_free().
 */
int dits_job_list(dits_metadb *db, const dits_id *asset, const char *state, dits_job **out,
                  size_t *count);

/* Number of jobs in each state. */
int dits_job_counts(dits_metadb *db, struct dits_job_counts *out);

/* Number of jobs still to do: queued + running. */
int dits_job_pending(dits_metadb *db, int64_t *n);

/*
 * The earliest time at which dits_job_claim() may find a job: the smallest
 * not_before of a queued job or lease_expires + 1 of a running one (may be
 * in the past). For a worker deciding how long to sleep. DITS_ENOTFOUND
 * (no message) when no job is queued or running.
 */
int dits_job_next_ready(dits_metadb *db, int64_t *when);

/*
 * Waits until a job may have become claimable or timeout_ms passed, for an
 * idle worker between two dits_job_claim() calls; returns 0 either way (or
 * an error when the connection broke). PostgreSQL: LISTEN/NOTIFY, woken at
 * once by an enqueue or a released job of this repository anywhere (the
 * first call only starts listening and returns at once, so a worker that
 * claims again after it misses no job). SQLite: sleeps timeout_ms.
 */
int dits_job_wait(dits_metadb *db, int timeout_ms);

/* Called by dits_job_wait_any() with the key of a repository that got a job. */
typedef void (*dits_job_wake_fn)(void *ctx, const char *repo_key);

/*
 * Like dits_job_wait() for a process that works for many repositories (a
 * server's or `dits worker --root`'s workers): waits up to timeout_ms and
 * calls on_key once for each notification, whatever repository of db's
 * database it names, with that repository's key (see
 * dits_metadb_locate_dir()). PostgreSQL: LISTEN/NOTIFY, the first call only
 * starts listening and returns at once; it returns as soon as at least one
 * notification came. SQLite: sleeps timeout_ms and calls nothing (its
 * database holds one repository and nobody notifies). 0 on a timeout too;
 * an error when the connection broke (open a new handle to listen again).
 */
int dits_job_wait_any(dits_metadb *db, int timeout_ms, dits_job_wake_fn on_key, void *ctx);

/*
 * Queues the dead (or failed) jobs of asset again with attempts reset to
 * 0, at most one per (target, recipe hash) and none where a queued or
 * running job for the same target and recipe already exists. last_error is
 * kept until the next attempt replaces it. Returns 0 also when there was
 * nothing to re-queue.
 */
int dits_job_retry_asset(dits_metadb *db, const dits_id *asset);

#endif
