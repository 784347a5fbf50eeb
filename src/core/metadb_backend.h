/*
 * metadb_backend.h - the interface between metadb.c (the public API of
 * metadb.h) and the storage engines behind it: SQLite (metadb_sqlite.c,
 * the embedded default, `.dits/dits.db`) and PostgreSQL (metadb_pg.c,
 * `metadb.url = postgres://...`). Internal to src/core.
 *
 * A backend is a versioned struct of operations in the spirit of libgit2's
 * git_odb_backend. Each handle starts with struct dits_metadb (the common
 * part: operations, the name used in messages, the clock) and the backend
 * keeps its own state after it. metadb.c checks arguments that do not need
 * the database and zeroes output structs before it calls an operation; every
 * operation keeps the semantics that metadb.h documents for its public
 * function, so the same unit test runs against every backend.
 */
#ifndef DITS_METADB_BACKEND_H
#define DITS_METADB_BACKEND_H

#include "metadb.h"

/* Bump when struct dits_metadb_ops changes shape. */
#define DITS_METADB_OPS_VERSION 3

struct dits_metadb_ops {
	int version;      /* DITS_METADB_OPS_VERSION */
	const char *name; /* "sqlite", "postgresql" */
	void (*close)(dits_metadb *db);

	int (*variant_begin)(dits_metadb *db, const dits_id *parent, const char *type,
	                     const char *recipe_json, const dits_id *recipe_hash, dits_variant *out);
	int (*variant_set_running)(dits_metadb *db, const char *id);
	int (*variant_fail)(dits_metadb *db, const char *id, const char *error);
	int (*variant_register)(dits_metadb *db, const char *id, const dits_id *manifest,
	                        const char *chunk_hash_list_json, const char *facts_json,
	                        const char *warnings, uint64_t size);
	int (*variant_get)(dits_metadb *db, const dits_id *parent, const char *type,
	                   dits_variant *out);
	int (*variant_pick)(dits_metadb *db, const dits_id *parent, const char *type,
	                    const char *profile, dits_variant *out);
	int (*variant_get_by_id)(dits_metadb *db, const char *id, dits_variant *out);
	int (*variant_list)(dits_metadb *db, const dits_id *parent, dits_variant **out,
	                    size_t *count);
	int (*variant_reset)(dits_metadb *db, const char *id);

	int (*job_enqueue)(dits_metadb *db, const char *kind, const dits_id *asset,
	                   const char *path, const char *target, const char *recipe_json,
	                   const dits_id *recipe_hash, int64_t *job_id);
	int (*job_claim)(dits_metadb *db, const char *owner, int lease_seconds, dits_job *out);
	int (*job_heartbeat)(dits_metadb *db, int64_t id, const char *owner, int lease_seconds);
	int (*job_report)(dits_metadb *db, int64_t id, double progress, const char *result);
	int (*job_complete)(dits_metadb *db, int64_t id, const char *owner);
	int (*job_fail)(dits_metadb *db, int64_t id, const char *owner, const char *error,
	                bool permanent);
	int (*job_get)(dits_metadb *db, int64_t id, dits_job *out);
	int (*job_list)(dits_metadb *db, const dits_id *asset, const char *state, dits_job **out,
	                size_t *count);
	int (*job_counts)(dits_metadb *db, struct dits_job_counts *out);
	int (*job_pending)(dits_metadb *db, int64_t *n);
	int (*job_next_ready)(dits_metadb *db, int64_t *when);
	int (*job_retry_asset)(dits_metadb *db, const dits_id *asset);
	/* Blocks up to timeout_ms or until a job may have become claimable. */
	int (*job_wait)(dits_metadb *db, int timeout_ms);
	/* Blocks up to timeout_ms; calls on_key with each notified repository key. */
	int (*job_wait_any)(dits_metadb *db, int timeout_ms, dits_job_wake_fn on_key, void *ctx);
};

/* The part of every handle that metadb.c owns. */
struct dits_metadb {
	const struct dits_metadb_ops *ops;
	char *where; /* the file path or the URL without its password, for messages */
	int64_t (*clock)(void);
	bool has_env_now;
	int64_t env_now;
};

/* Fills the common part (ops, where, the DITS_TEST_NOW clock). */
int metadb_base_init(dits_metadb *db, const struct dits_metadb_ops *ops, const char *where);
/* Frees what metadb_base_init() allocated (not db itself). */
void metadb_base_free(dits_metadb *db);

/* Shared helpers of the backends. */
int metadb_uuid_v4(char out[37]);
int64_t metadb_backoff_seconds(int attempts);
int metadb_check_name(const char *s, size_t size, const char *what);
void metadb_recipe_hash(dits_id *out, const dits_id *given, const char *recipe_json);

/* The backends' open functions. */
int metadb_sqlite_open(dits_metadb **out, const char *path);
/* url: postgres://... or postgresql://...; repo_key scopes every row. */
int metadb_pg_open(dits_metadb **out, const char *url, const char *repo_key);

/*
 * For tests of upgrades: connects to url, applies the PostgreSQL migrations
 * of metadb_pg.c in order up to version (1 to DITS_METADB_PG_SCHEMA_VERSION)
 * exactly as opening would, and disconnects, so that a test can fill a
 * database of an older version and open it with the current code. A
 * database already at version or past it is left as it is (one newer than
 * this code is refused with DITS_EVERSION, as by opening).
 */
int metadb_pg_migrate_to(const char *url, int version);

/*
 * For the other users of a PostgreSQL handle's connection (refdb_pg.c):
 * metadb_pg_conn gives the connection, reconnected if it broke (an error
 * when it cannot be). metadb_pg_exec runs sql with n text parameters v on
 * it, the statement runner the handle's own queries share: *out (may be
 * NULL) receives a query's result, which the caller PQclear()s, and
 * *changes (may be NULL) the number of rows changed; a failed statement's
 * error is "<url>: what: <the server's message>" with the DITS_E* code its
 * SQLSTATE maps to.
 */
struct pg_conn;
struct pg_result;
int metadb_pg_conn(dits_metadb *db, struct pg_conn **out);
int metadb_pg_exec(dits_metadb *db, const char *sql, int n, const char *const *v, struct pg_result **out,
                   int *changes, const char *what);

#endif
