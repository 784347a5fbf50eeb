/*
 * metadb_sqlite.c - the SQLite backend of metadb.h (`.dits/dits.db`), the
 * embedded default: variants and the job queue in one file.
 *
 * Invariants kept here:
 * - Every change that reads before it writes runs in a BEGIN IMMEDIATE
 *   transaction, so the write lock is taken up front: two processes can
 *   never both see a job as free and both claim it, and no transaction has
 *   to be upgraded from reader to writer (which fails with SQLITE_BUSY
 *   without waiting in WAL mode).
 * - Values only ever reach SQL as bound parameters. The only SQL text built
 *   at run time is `PRAGMA user_version = N` with N a constant of this file
 *   (PRAGMA takes no parameters).
 * - A variant becomes `ready` in one UPDATE that writes every field, so a
 *   reader sees either the old row or the whole new one.
 * - "Now" comes from one place, db_now(), so tests can move time.
 */
#include "metadb_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "fsutil.h"

/* ---- SQL ---------------------------------------------------------------- */

/*
 * Migrations, indexed by the version they start from: migrations[v] takes
 * a database from user_version v to v + 1. Only ever append.
 */
static const char *const migrations[DITS_METADB_SCHEMA_VERSION] = {
	/* 0 -> 1: the variants table (the seed's, kept by name) and the queue. */
	"CREATE TABLE asset_variants("
	"  id TEXT PRIMARY KEY,"
	"  parent_asset_id TEXT NOT NULL,"
	"  variant_type TEXT NOT NULL,"
	"  chunk_hash_list TEXT,"
	"  manifest_id TEXT,"
	"  recipe TEXT,"
	"  recipe_hash TEXT,"
	"  facts TEXT,"
	"  status TEXT NOT NULL CHECK(status IN ('queued','running','ready','failed')),"
	"  error TEXT,"
	"  warnings TEXT,"
	"  size INTEGER,"
	"  created_at INTEGER,"
	"  updated_at INTEGER,"
	"  UNIQUE(parent_asset_id, variant_type, recipe_hash));"
	"CREATE TABLE jobs("
	"  id INTEGER PRIMARY KEY,"
	"  kind TEXT NOT NULL,"
	"  asset_id TEXT NOT NULL,"
	"  path TEXT,"
	"  target TEXT NOT NULL,"
	"  recipe TEXT,"
	"  recipe_hash TEXT,"
	"  state TEXT NOT NULL CHECK(state IN ('queued','running','done','failed','dead')),"
	"  attempts INTEGER NOT NULL DEFAULT 0,"
	"  max_attempts INTEGER NOT NULL DEFAULT 3,"
	"  lease_owner TEXT,"
	"  lease_expires INTEGER,"
	"  not_before INTEGER NOT NULL DEFAULT 0,"
	"  last_error TEXT,"
	"  created_at INTEGER,"
	"  updated_at INTEGER);"
	/* At most one live job per (asset, target, recipe). */
	"CREATE UNIQUE INDEX jobs_one_live ON jobs(asset_id, target, recipe_hash)"
	"  WHERE state IN ('queued','running');"
	"CREATE INDEX jobs_by_state ON jobs(state, id);"
	"CREATE INDEX jobs_by_asset ON jobs(asset_id);",
	/* 1 -> 2: what a job's worker reports (a render's progress and output commit). */
	"ALTER TABLE jobs ADD COLUMN progress REAL NOT NULL DEFAULT 0;"
	"ALTER TABLE jobs ADD COLUMN result TEXT;",
};

#define VARIANT_COLS                                                                      \
	"id, parent_asset_id, variant_type, chunk_hash_list, manifest_id, recipe, recipe_hash, " \
	"facts, status, error, warnings, size, created_at, updated_at"

/* The "profile" of a variant's recipe (prores_proxy, h264, ...), or NULL. */
#define RECIPE_PROFILE "(CASE WHEN json_valid(recipe) THEN json_extract(recipe, '$.profile') END)"

#define JOB_COLS                                                                           \
	"id, kind, asset_id, path, target, recipe, recipe_hash, state, attempts, max_attempts, " \
	"lease_owner, lease_expires, not_before, last_error, created_at, updated_at, progress, result"

enum stmt_id {
	S_JSON_TYPE,
	S_VARIANT_FIND,
	S_VARIANT_INSERT,
	S_VARIANT_BY_ID,
	S_VARIANT_NEWEST,
	S_VARIANT_PICK,
	S_VARIANT_LIST,
	S_VARIANT_STATUS,
	S_VARIANT_SET_RUNNING,
	S_VARIANT_FAIL,
	S_VARIANT_REGISTER,
	S_VARIANT_RESET,
	S_JOB_FIND_LIVE,
	S_JOB_INSERT,
	S_JOB_BURY_LOST,
	S_JOB_NEXT,
	S_JOB_TAKE,
	S_JOB_GET,
	S_JOB_HEARTBEAT,
	S_JOB_REPORT,
	S_JOB_COMPLETE,
	S_JOB_REQUEUE,
	S_JOB_BURY,
	S_JOB_LIST,
	S_JOB_COUNTS,
	S_JOB_PENDING,
	S_JOB_NEXT_READY,
	S_JOB_RETRY_ASSET,
	S_COUNT
};

static const char *const stmt_sql[S_COUNT] = {
	/* NULL when ?1 is not JSON, else its type ('array', 'object', ...). */
	[S_JSON_TYPE] = "SELECT CASE WHEN json_valid(?1) THEN json_type(?1) END",

	[S_VARIANT_FIND] = "SELECT " VARIANT_COLS " FROM asset_variants"
	                   " WHERE parent_asset_id = ?1 AND variant_type = ?2 AND recipe_hash = ?3",
	[S_VARIANT_INSERT] = "INSERT INTO asset_variants(id, parent_asset_id, variant_type, recipe,"
	                     " recipe_hash, status, created_at, updated_at)"
	                     " VALUES(?1, ?2, ?3, ?4, ?5, 'queued', ?6, ?6)",
	[S_VARIANT_BY_ID] = "SELECT " VARIANT_COLS " FROM asset_variants WHERE id = ?1",
	[S_VARIANT_NEWEST] = "SELECT " VARIANT_COLS " FROM asset_variants"
	                     " WHERE parent_asset_id = ?1 AND variant_type = ?2"
	                     " ORDER BY created_at DESC, rowid DESC LIMIT 1",
	/* ?2 type, ?3 profile: the configured recipe's, then the default
	 * recipe's, then any ready one of type; newest first, then by id. */
	[S_VARIANT_PICK] = "SELECT " VARIANT_COLS " FROM asset_variants"
	                   " WHERE parent_asset_id = ?1 AND status = 'ready' AND manifest_id IS NOT NULL"
	                   " AND (variant_type = ?2 OR (variant_type = 'proxy_1080p' AND " RECIPE_PROFILE
	                   " = 'prores_proxy'))"
	                   " ORDER BY CASE WHEN variant_type = ?2 AND " RECIPE_PROFILE " = ?3 THEN 0"
	                   " WHEN variant_type = 'proxy_1080p' AND " RECIPE_PROFILE " = 'prores_proxy' THEN 1"
	                   " ELSE 2 END, created_at DESC, id LIMIT 1",
	[S_VARIANT_LIST] = "SELECT " VARIANT_COLS " FROM asset_variants"
	                   " WHERE ?1 IS NULL OR parent_asset_id = ?1"
	                   " ORDER BY parent_asset_id, variant_type, created_at, rowid",
	[S_VARIANT_STATUS] = "SELECT status FROM asset_variants WHERE id = ?1",
	[S_VARIANT_SET_RUNNING] = "UPDATE asset_variants SET status = 'running', error = NULL,"
	                          " updated_at = ?2 WHERE id = ?1 AND status <> 'ready'",
	[S_VARIANT_FAIL] = "UPDATE asset_variants SET status = 'failed', error = ?2, updated_at = ?3"
	                   " WHERE id = ?1 AND status <> 'ready'",
	[S_VARIANT_REGISTER] = "UPDATE asset_variants SET status = 'ready', manifest_id = ?2,"
	                       " chunk_hash_list = ?3, facts = ?4, warnings = ?5, size = ?6,"
	                       " error = NULL, updated_at = ?7 WHERE id = ?1 AND status <> 'ready'",
	[S_VARIANT_RESET] = "UPDATE asset_variants SET status = 'queued', error = NULL,"
	                    " updated_at = ?2 WHERE id = ?1 AND status <> 'ready'",

	[S_JOB_FIND_LIVE] = "SELECT id FROM jobs WHERE asset_id = ?1 AND target = ?2"
	                    " AND recipe_hash = ?3 AND state IN ('queued','running') LIMIT 1",
	[S_JOB_INSERT] = "INSERT INTO jobs(kind, asset_id, path, target, recipe, recipe_hash, state,"
	                 " max_attempts, created_at, updated_at)"
	                 " VALUES(?1, ?2, ?3, ?4, ?5, ?6, 'queued', ?7, ?8, ?8)",
	[S_JOB_BURY_LOST] = "UPDATE jobs SET state = 'dead', lease_expires = NULL, updated_at = ?1,"
	                    " last_error = 'worker ' || coalesce(lease_owner, '?')"
	                    " || ' lost its lease on attempt ' || attempts || ' of ' || max_attempts"
	                    " || ' (killed or hung?)'"
	                    " WHERE state = 'running' AND lease_expires < ?1 AND attempts >= max_attempts",
	/*
	 * The lowest ready id, as the smaller of two searches that each walk
	 * jobs_by_state in id order and stop at the first match: one OR
	 * search would visit every queued row and sort them, at every claim.
	 * NULL when nothing is ready.
	 */
	[S_JOB_NEXT] = "SELECT min(id) FROM ("
	               "SELECT * FROM (SELECT id FROM jobs WHERE state = 'queued' AND not_before <= ?1"
	               " ORDER BY id LIMIT 1) UNION ALL"
	               " SELECT * FROM (SELECT id FROM jobs WHERE state = 'running'"
	               " AND lease_expires < ?1 ORDER BY id LIMIT 1))",
	[S_JOB_TAKE] = "UPDATE jobs SET state = 'running', lease_owner = ?2, lease_expires = ?3,"
	               " attempts = attempts + 1, updated_at = ?4 WHERE id = ?1",
	[S_JOB_GET] = "SELECT " JOB_COLS " FROM jobs WHERE id = ?1",
	[S_JOB_HEARTBEAT] = "UPDATE jobs SET lease_expires = ?3, updated_at = ?4"
	                    " WHERE id = ?1 AND lease_owner = ?2 AND state = 'running'",
	[S_JOB_REPORT] = "UPDATE jobs SET progress = ?2, result = coalesce(?3, result) WHERE id = ?1",
	[S_JOB_COMPLETE] = "UPDATE jobs SET state = 'done', lease_expires = NULL, updated_at = ?3"
	                   " WHERE id = ?1 AND lease_owner = ?2 AND state = 'running'",
	[S_JOB_REQUEUE] = "UPDATE jobs SET state = 'queued', not_before = ?2, last_error = ?3,"
	                  " lease_owner = NULL, lease_expires = NULL, updated_at = ?4 WHERE id = ?1",
	[S_JOB_BURY] = "UPDATE jobs SET state = 'dead', last_error = ?2, lease_expires = NULL,"
	               " updated_at = ?3 WHERE id = ?1",
	[S_JOB_LIST] = "SELECT " JOB_COLS " FROM jobs"
	               " WHERE (?1 IS NULL OR asset_id = ?1) AND (?2 IS NULL OR state = ?2)"
	               " ORDER BY id",
	[S_JOB_COUNTS] = "SELECT state, count(*) FROM jobs GROUP BY state",
	[S_JOB_PENDING] = "SELECT count(*) FROM jobs WHERE state IN ('queued','running')",
	[S_JOB_NEXT_READY] = "SELECT min(CASE state WHEN 'queued' THEN not_before"
	                     " ELSE coalesce(lease_expires, 0) + 1 END)"
	                     " FROM jobs WHERE state IN ('queued','running')",
	/*
	 * Only the newest dead job per (target, recipe) is revived, and only
	 * when no live job has the same key: the partial unique index allows
	 * one live job per key.
	 */
	[S_JOB_RETRY_ASSET] =
		"UPDATE jobs SET state = 'queued', attempts = 0, not_before = 0, lease_owner = NULL,"
		" lease_expires = NULL, updated_at = ?2"
		" WHERE asset_id = ?1 AND state IN ('dead','failed')"
		" AND id = (SELECT max(d.id) FROM jobs d WHERE d.asset_id = jobs.asset_id"
		"   AND d.target = jobs.target AND d.recipe_hash = jobs.recipe_hash"
		"   AND d.state IN ('dead','failed'))"
		" AND NOT EXISTS (SELECT 1 FROM jobs l WHERE l.asset_id = jobs.asset_id"
		"   AND l.target = jobs.target AND l.recipe_hash = jobs.recipe_hash"
		"   AND l.state IN ('queued','running'))",
};

/* ---- The handle ------------------------------------------------------- */

struct sq_db {
	dits_metadb base; /* first: a dits_metadb * is a struct sq_db * */
	sqlite3 *h;
	sqlite3_stmt *stmt[S_COUNT];
};

#define SQ(db) ((struct sq_db *)(db))


static int64_t monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int code_of_sqlite(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return DITS_ELOCKED;
	case SQLITE_FULL:
		return DITS_ENOSPC;
	case SQLITE_NOMEM:
		return DITS_ENOMEM;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return DITS_ECORRUPT;
	case SQLITE_CONSTRAINT:
		return DITS_ECONFLICT;
	default:
		return DITS_EIO;
	}
}

/* Records "<db path>: <what>: <sqlite's message>" and returns the code. */
static int db_fail(dits_metadb *db, int src, const char *what)
{
	const char *msg = SQ(db)->h ? sqlite3_errmsg(SQ(db)->h) : sqlite3_errstr(src);
	if ((src & 0xff) == SQLITE_BUSY)
		msg = "database is locked by another process (gave up after the busy timeout)";
	return dits_error_set(code_of_sqlite(src), "%s: %s: %s", db->where, what, msg);
}

/*
 * Only SQLITE_BUSY (another connection holds a lock) is worth waiting for;
 * SQLITE_LOCKED comes from this connection itself and would not go away.
 */
static bool is_busy(int rc)
{
	return (rc & 0xff) == SQLITE_BUSY;
}

/*
 * Runs a statement without values (BEGIN, COMMIT, DDL). sqlite's busy
 * handler already waits for most locks; a few cases return SQLITE_BUSY at
 * once (e.g. while another connection recovers the WAL), so those are
 * retried here until the same deadline.
 */
static int exec_retry(dits_metadb *db, const char *sql, const char *what)
{
	int64_t deadline = monotonic_ms() + DITS_METADB_BUSY_TIMEOUT_MS;
	for (;;) {
		int rc = sqlite3_exec(SQ(db)->h, sql, NULL, NULL, NULL);
		if (rc == SQLITE_OK)
			return 0;
		if (!is_busy(rc) || monotonic_ms() >= deadline)
			return db_fail(db, rc, what);
		dits_sleep_ms(5);
	}
}

static int tx_begin(dits_metadb *db)
{
	return exec_retry(db, "BEGIN IMMEDIATE", "cannot start a write transaction");
}

static void tx_rollback(dits_metadb *db)
{
	if (!sqlite3_get_autocommit(SQ(db)->h))
		sqlite3_exec(SQ(db)->h, "ROLLBACK", NULL, NULL, NULL);
}

static int tx_commit(dits_metadb *db)
{
	int rc = exec_retry(db, "COMMIT", "cannot commit");
	if (rc)
		tx_rollback(db);
	return rc;
}

/* Ends a transaction: commits when rc is 0, else rolls back. Returns rc. */
static int tx_end(dits_metadb *db, int rc)
{
	if (rc == 0)
		return tx_commit(db);
	tx_rollback(db);
	return rc;
}

/* The cached prepared statement for id, reset and ready to bind. */
static int stmt(dits_metadb *db, enum stmt_id id, sqlite3_stmt **out)
{
	if (!SQ(db)->stmt[id]) {
		int rc = sqlite3_prepare_v3(SQ(db)->h, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
		                            &SQ(db)->stmt[id], NULL);
		if (rc != SQLITE_OK)
			return db_fail(db, rc, "cannot prepare a query");
	}
	*out = SQ(db)->stmt[id];
	return 0;
}

/* Makes a statement reusable and drops its bound values (and their copies). */
static void stmt_done(sqlite3_stmt *s)
{
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
}

static int bind_text(sqlite3_stmt *s, int i, const char *text)
{
	return text ? sqlite3_bind_text(s, i, text, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(s, i);
}

static int bind_id(sqlite3_stmt *s, int i, const dits_id *id)
{
	char hex[DITS_ID_HEXLEN + 1];
	dits_id_hex(hex, id);
	return sqlite3_bind_text(s, i, hex, DITS_ID_HEXLEN, SQLITE_TRANSIENT);
}

/*
 * Steps a statement that changes rows and returns 0 or an error;
 * *changes (may be NULL) receives the number of rows changed.
 */
static int step_done(dits_metadb *db, sqlite3_stmt *s, const char *what, int *changes)
{
	int rc = sqlite3_step(s);
	int ret = 0;
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		ret = db_fail(db, rc, what);
	else if (changes)
		*changes = sqlite3_changes(SQ(db)->h);
	stmt_done(s);
	return ret;
}

/* ---- Open, schema, close ---------------------------------------------- */

static int read_user_version(dits_metadb *db, int *version)
{
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(SQ(db)->h, "PRAGMA user_version", -1, &s, NULL);
	if (rc != SQLITE_OK)
		return db_fail(db, rc, "cannot read the schema version");
	int64_t deadline = monotonic_ms() + DITS_METADB_BUSY_TIMEOUT_MS;
	while ((rc = sqlite3_step(s)) != SQLITE_ROW && is_busy(rc) && monotonic_ms() < deadline) {
		sqlite3_reset(s);
		dits_sleep_ms(5);
	}
	int ret = 0;
	if (rc == SQLITE_ROW)
		*version = sqlite3_column_int(s, 0);
	else
		ret = db_fail(db, rc, "cannot read the schema version");
	sqlite3_finalize(s);
	return ret;
}

static int refuse_newer(dits_metadb *db, int version)
{
	return dits_error_set(DITS_EVERSION,
	                      "%s: metadata schema version %d is newer than this dits understands "
	                      "(%d); upgrade dits to use this repository",
	                      db->where, version, DITS_METADB_SCHEMA_VERSION);
}

/* Creates or upgrades the schema, under the write lock. */
static int migrate(dits_metadb *db)
{
	int version;
	int rc = read_user_version(db, &version);
	if (rc)
		return rc;
	if (version > DITS_METADB_SCHEMA_VERSION)
		return refuse_newer(db, version);
	if (version == DITS_METADB_SCHEMA_VERSION)
		return 0;

	if ((rc = tx_begin(db)))
		return rc;
	/* Another process may have migrated while we waited for the lock. */
	rc = read_user_version(db, &version);
	if (!rc && version > DITS_METADB_SCHEMA_VERSION)
		rc = refuse_newer(db, version);
	for (; !rc && version < DITS_METADB_SCHEMA_VERSION; version++) {
		int src = sqlite3_exec(SQ(db)->h, migrations[version], NULL, NULL, NULL);
		if (src != SQLITE_OK) {
			rc = db_fail(db, src, "cannot create the schema");
			break;
		}
	}
	if (!rc) {
		char sql[64];
		snprintf(sql, sizeof sql, "PRAGMA user_version = %d", DITS_METADB_SCHEMA_VERSION);
		int src = sqlite3_exec(SQ(db)->h, sql, NULL, NULL, NULL);
		if (src != SQLITE_OK)
			rc = db_fail(db, src, "cannot record the schema version");
	}
	return tx_end(db, rc);
}

static int set_wal(dits_metadb *db)
{
	/*
	 * WAL: readers (`proxy status`) never block the worker's writes and
	 * vice versa, and a commit is one append to the log. synchronous=NORMAL
	 * keeps the database consistent across a crash or power loss; at worst
	 * the last transactions before a power loss are lost, which re-runs a
	 * job (jobs and variants are idempotent) but never shows a
	 * half-registered variant.
	 */
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(SQ(db)->h, "PRAGMA journal_mode = WAL", -1, &s, NULL);
	if (rc != SQLITE_OK)
		return db_fail(db, rc, "cannot switch to WAL mode");
	int64_t deadline = monotonic_ms() + DITS_METADB_BUSY_TIMEOUT_MS;
	while ((rc = sqlite3_step(s)) != SQLITE_ROW && is_busy(rc) && monotonic_ms() < deadline) {
		sqlite3_reset(s);
		dits_sleep_ms(5);
	}
	int ret = 0;
	if (rc != SQLITE_ROW)
		ret = db_fail(db, rc, "cannot switch to WAL mode");
	/* A file system without shared memory may refuse WAL: that still works. */
	sqlite3_finalize(s);
	if (ret)
		return ret;
	return exec_retry(db, "PRAGMA synchronous = NORMAL", "cannot set synchronous mode");
}

static const struct dits_metadb_ops sqlite_ops;
static void sq_metadb_close(dits_metadb *db);

int metadb_sqlite_open(dits_metadb **out, const char *path)
{
	*out = NULL;
	struct sq_db *sq = calloc(1, sizeof *sq);
	if (!sq)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	dits_metadb *db = &sq->base;
	int rc = metadb_base_init(db, &sqlite_ops, path);
	if (rc) {
		free(sq);
		return rc;
	}

	int src = sqlite3_open_v2(path, &SQ(db)->h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (src != SQLITE_OK) {
		rc = db_fail(db, src, "cannot open the metadata database");
		goto fail;
	}
	sqlite3_extended_result_codes(SQ(db)->h, 1);
	sqlite3_busy_timeout(SQ(db)->h, DITS_METADB_BUSY_TIMEOUT_MS);

	/* Refuse a newer schema before changing anything in the file. */
	int version;
	if ((rc = read_user_version(db, &version)))
		goto fail;
	if (version > DITS_METADB_SCHEMA_VERSION) {
		rc = refuse_newer(db, version);
		goto fail;
	}
	if ((rc = set_wal(db)) || (rc = migrate(db)))
		goto fail;
	*out = db;
	return 0;

fail:
	sq_metadb_close(db);
	return rc;
}

static void sq_metadb_close(dits_metadb *db)
{
	if (!db)
		return;
	for (int i = 0; i < S_COUNT; i++)
		sqlite3_finalize(SQ(db)->stmt[i]);
	sqlite3_close(SQ(db)->h);
	metadb_base_free(db);
	free(SQ(db));
}

/*
 * Waiting for a job: SQLite has no notifications, so a worker sleeps for
 * the time it was given and then claims again (the poll it always did).
 */
static int sq_job_wait(dits_metadb *db, int timeout_ms)
{
	if (timeout_ms > 0)
		dits_sleep_ms(timeout_ms);
	return 0;
}

static int sq_job_wait_any(dits_metadb *db, int timeout_ms, dits_job_wake_fn on_key, void *ctx)
{
	(void)on_key;
	(void)ctx;
	return sq_job_wait(db, timeout_ms);
}

/* ---- Helpers shared by variants and jobs ------------------------------- */

/*
 * Checks that json is valid JSON (of type want, e.g. "array", when want is
 * not NULL). NULL json passes unless required.
 */
static int check_json(dits_metadb *db, const char *json, const char *want, bool required,
                      const char *what)
{
	if (!json) {
		if (required)
			return dits_error_set(DITS_EINVALID, "%s is missing", what);
		return 0;
	}
	sqlite3_stmt *s = NULL;
	int rc = stmt(db, S_JSON_TYPE, &s);
	if (rc)
		return rc;
	bind_text(s, 1, json);
	int src = sqlite3_step(s);
	if (src != SQLITE_ROW) {
		rc = db_fail(db, src, "cannot check JSON");
	} else {
		const char *type = (const char *)sqlite3_column_text(s, 0);
		if (!type)
			rc = dits_error_set(DITS_EINVALID, "%s is not valid JSON", what);
		else if (want && strcmp(type, want))
			rc = dits_error_set(DITS_EINVALID, "%s must be a JSON %s, not %s", what, want,
			                    type);
	}
	stmt_done(s);
	return rc;
}


/* Copies a text column into a fixed buffer; DITS_ECORRUPT when too long. */
static int col_copy(sqlite3_stmt *s, int i, char *buf, size_t size, const char *what)
{
	const char *t = (const char *)sqlite3_column_text(s, i);
	if (!t) {
		buf[0] = '\0';
		return 0;
	}
	size_t n = strlen(t);
	if (n >= size)
		return dits_error_set(DITS_ECORRUPT, "metadata database: %s \"%.40s\" is too long",
		                      what, t);
	memcpy(buf, t, n + 1);
	return 0;
}

/* A malloc'd copy of a text column, NULL when the column is NULL. */
static int col_dup(sqlite3_stmt *s, int i, char **out)
{
	*out = NULL;
	const char *t = (const char *)sqlite3_column_text(s, i);
	if (!t)
		return 0;
	if (!(*out = strdup(t)))
		return dits_error_set(DITS_ENOMEM, "out of memory");
	return 0;
}

static int col_id(sqlite3_stmt *s, int i, dits_id *out, const char *what)
{
	const char *t = (const char *)sqlite3_column_text(s, i);
	if (!t || strlen(t) != DITS_ID_HEXLEN || dits_id_from_hex(out, t))
		return dits_error_set(DITS_ECORRUPT, "metadata database: %s is not an id", what);
	return 0;
}

static int64_t col_i64(sqlite3_stmt *s, int i)
{
	return sqlite3_column_int64(s, i);
}

/* ---- Variants ----------------------------------------------------------- */





/* Fills v from a row of VARIANT_COLS. */
static int read_variant(sqlite3_stmt *s, dits_variant *v)
{
	memset(v, 0, sizeof *v);
	int rc;
	if ((rc = col_copy(s, 0, v->id, sizeof v->id, "variant id")) ||
	    (rc = col_id(s, 1, &v->parent, "parent_asset_id")) ||
	    (rc = col_copy(s, 2, v->type, sizeof v->type, "variant_type")) ||
	    (rc = col_dup(s, 3, &v->chunk_hash_list)) || (rc = col_dup(s, 5, &v->recipe)) ||
	    (rc = col_id(s, 6, &v->recipe_hash, "recipe_hash")) || (rc = col_dup(s, 7, &v->facts)) ||
	    (rc = col_copy(s, 8, v->status, sizeof v->status, "status")) ||
	    (rc = col_dup(s, 9, &v->error)) || (rc = col_dup(s, 10, &v->warnings)))
		goto fail;
	if (sqlite3_column_type(s, 4) != SQLITE_NULL) {
		if ((rc = col_id(s, 4, &v->manifest, "manifest_id")))
			goto fail;
		v->has_manifest = true;
	}
	v->size = (uint64_t)col_i64(s, 11);
	v->created_at = col_i64(s, 12);
	v->updated_at = col_i64(s, 13);
	return 0;
fail:
	dits_variant_free(v);
	return rc;
}

static int read_variant_row(sqlite3_stmt *s, void *v)
{
	return read_variant(s, v);
}

static void free_variant_row(void *v)
{
	dits_variant_free(v);
}

/*
 * Runs a bound SELECT expected to give at most one row and decodes it with
 * read_row. DITS_ENOTFOUND (no message) when it gives none.
 */
static int query_one(dits_metadb *db, sqlite3_stmt *s, int (*read_row)(sqlite3_stmt *, void *), void *out,
                     const char *what)
{
	int src = sqlite3_step(s);
	int rc;
	if (src == SQLITE_ROW)
		rc = read_row(s, out);
	else if (src == SQLITE_DONE)
		rc = DITS_ENOTFOUND;
	else
		rc = db_fail(db, src, what);
	stmt_done(s);
	return rc;
}

/* query_one for a SELECT of VARIANT_COLS. */
static int query_variant(dits_metadb *db, sqlite3_stmt *s, dits_variant *out)
{
	return query_one(db, s, read_variant_row, out, "cannot read variants");
}


static int sq_variant_begin(dits_metadb *db, const dits_id *parent, const char *type,
                       const char *recipe_json, const dits_id *recipe_hash, dits_variant *out)
{
	memset(out, 0, sizeof *out);
	if (!dits_variant_type_valid(type))
		return dits_error_set(DITS_EINVALID, "unknown variant type \"%s\"", type ? type : "");
	int rc = check_json(db, recipe_json, NULL, false, "variant recipe");
	if (rc)
		return rc;
	dits_id rh;
	metadb_recipe_hash(&rh, recipe_hash, recipe_json);

	if ((rc = tx_begin(db)))
		return rc;
	sqlite3_stmt *s = NULL;
	if ((rc = stmt(db, S_VARIANT_FIND, &s)))
		return tx_end(db, rc);
	bind_id(s, 1, parent);
	bind_text(s, 2, type);
	bind_id(s, 3, &rh);
	rc = query_variant(db, s, out);
	if (rc != DITS_ENOTFOUND)
		return tx_end(db, rc); /* found (0) or an error */

	char id[37];
	if ((rc = metadb_uuid_v4(id)) || (rc = stmt(db, S_VARIANT_INSERT, &s)))
		return tx_end(db, rc);
	bind_text(s, 1, id);
	bind_id(s, 2, parent);
	bind_text(s, 3, type);
	bind_text(s, 4, recipe_json);
	bind_id(s, 5, &rh);
	sqlite3_bind_int64(s, 6, dits_metadb_now(db));
	if ((rc = step_done(db, s, "cannot add a variant", NULL)))
		return tx_end(db, rc);
	if ((rc = stmt(db, S_VARIANT_BY_ID, &s)))
		return tx_end(db, rc);
	bind_text(s, 1, id);
	rc = query_variant(db, s, out);
	if (rc == DITS_ENOTFOUND)
		rc = dits_error_set(DITS_ERROR, "%s: variant %s vanished after insert", db->where, id);
	return tx_end(db, rc);
}

/*
 * Explains why an UPDATE ... WHERE id = ? AND status <> 'ready' changed
 * nothing: the variant does not exist, or it is ready.
 */
static int variant_unchanged(dits_metadb *db, const char *id, const char *action)
{
	sqlite3_stmt *s = NULL;
	int rc = stmt(db, S_VARIANT_STATUS, &s);
	if (rc)
		return rc;
	bind_text(s, 1, id);
	int src = sqlite3_step(s);
	if (src == SQLITE_ROW)
		rc = dits_error_set(DITS_ECONFLICT, "variant %s is already ready: cannot %s it", id,
		                    action);
	else if (src == SQLITE_DONE)
		rc = dits_error_set(DITS_ENOTFOUND, "variant %s does not exist", id);
	else
		rc = db_fail(db, src, "cannot read variants");
	stmt_done(s);
	return rc;
}

/* Runs one of the status-changing UPDATEs (already bound) in a transaction. */
static int variant_update(dits_metadb *db, sqlite3_stmt *s, const char *id, const char *action)
{
	int changes = 0;
	int rc = step_done(db, s, "cannot update a variant", &changes);
	if (!rc && changes == 0)
		rc = variant_unchanged(db, id, action);
	return tx_end(db, rc);
}

static int sq_variant_set_running(dits_metadb *db, const char *id)
{
	int rc = tx_begin(db);
	if (rc)
		return rc;
	sqlite3_stmt *s = NULL;
	if ((rc = stmt(db, S_VARIANT_SET_RUNNING, &s)))
		return tx_end(db, rc);
	bind_text(s, 1, id);
	sqlite3_bind_int64(s, 2, dits_metadb_now(db));
	return variant_update(db, s, id, "start");
}

static int sq_variant_fail(dits_metadb *db, const char *id, const char *error)
{
	int rc = tx_begin(db);
	if (rc)
		return rc;
	sqlite3_stmt *s = NULL;
	if ((rc = stmt(db, S_VARIANT_FAIL, &s)))
		return tx_end(db, rc);
	bind_text(s, 1, id);
	bind_text(s, 2, error ? error : "failed (no reason given)");
	sqlite3_bind_int64(s, 3, dits_metadb_now(db));
	return variant_update(db, s, id, "fail");
}

static int sq_variant_register(dits_metadb *db, const char *id, const dits_id *manifest,
                          const char *chunk_hash_list_json, const char *facts_json,
                          const char *warnings, uint64_t size)
{
	int rc;
	if ((rc = check_json(db, chunk_hash_list_json, "array", true, "variant chunk list")) ||
	    (rc = check_json(db, facts_json, NULL, false, "variant facts")))
		return rc;
	if (size > INT64_MAX)
		return dits_error_set(DITS_EINVALID, "variant size %llu is too large",
		                      (unsigned long long)size);
	if ((rc = tx_begin(db)))
		return rc;
	sqlite3_stmt *s = NULL;
	if ((rc = stmt(db, S_VARIANT_REGISTER, &s)))
		return tx_end(db, rc);
	bind_text(s, 1, id);
	bind_id(s, 2, manifest);
	bind_text(s, 3, chunk_hash_list_json);
	bind_text(s, 4, facts_json);
	bind_text(s, 5, warnings);
	sqlite3_bind_int64(s, 6, (int64_t)size);
	sqlite3_bind_int64(s, 7, dits_metadb_now(db));
	return variant_update(db, s, id, "register");
}

static int sq_variant_reset(dits_metadb *db, const char *id)
{
	int rc = tx_begin(db);
	if (rc)
		return rc;
	sqlite3_stmt *s = NULL;
	if ((rc = stmt(db, S_VARIANT_RESET, &s)))
		return tx_end(db, rc);
	bind_text(s, 1, id);
	sqlite3_bind_int64(s, 2, dits_metadb_now(db));
	return variant_update(db, s, id, "reset");
}

static int sq_variant_get(dits_metadb *db, const dits_id *parent, const char *type, dits_variant *out)
{
	memset(out, 0, sizeof *out);
	sqlite3_stmt *s = NULL;
	int rc = stmt(db, S_VARIANT_NEWEST, &s);
	if (rc)
		return rc;
	bind_id(s, 1, parent);
	bind_text(s, 2, type);
	rc = query_variant(db, s, out);
	if (rc == DITS_ENOTFOUND) {
		char hex[DITS_ID_HEXLEN + 1];
		dits_id_hex(hex, parent);
		rc = dits_error_set(DITS_ENOTFOUND, "no %s variant of %.12s", type, hex);
	}
	return rc;
}


static int sq_variant_pick(dits_metadb *db, const dits_id *parent, const char *type, const char *profile,
                      dits_variant *out)
{
	memset(out, 0, sizeof *out);
	sqlite3_stmt *s = NULL;
	int rc = stmt(db, S_VARIANT_PICK, &s);
	if (rc)
		return rc;
	bind_id(s, 1, parent);
	bind_text(s, 2, type);
	bind_text(s, 3, profile ? profile : "prores_proxy");
	rc = query_variant(db, s, out);
	if (rc == DITS_ENOTFOUND) {
		char hex[DITS_ID_HEXLEN + 1];
		dits_id_hex(hex, parent);
		rc = dits_error_set(DITS_ENOTFOUND, "no ready %s variant of %.12s", type, hex);
	}
	return rc;
}

static int sq_variant_get_by_id(dits_metadb *db, const char *id, dits_variant *out)
{
	memset(out, 0, sizeof *out);
	sqlite3_stmt *s = NULL;
	int rc = stmt(db, S_VARIANT_BY_ID, &s);
	if (rc)
		return rc;
	bind_text(s, 1, id);
	rc = query_variant(db, s, out);
	if (rc == DITS_ENOTFOUND)
		rc = dits_error_set(DITS_ENOTFOUND, "variant %s does not exist", id);
	return rc;
}

/*
 * Reads every row of a bound statement into a growing array of elem-sized
 * structs with read_row; frees what it read on failure.
 */
static int collect_rows(dits_metadb *db, sqlite3_stmt *s, size_t elem,
                        int (*read_row)(sqlite3_stmt *, void *), void (*free_row)(void *),
                        void **out, size_t *count)
{
	char *arr = NULL;
	size_t n = 0, cap = 0;
	int rc = 0, src;
	while ((src = sqlite3_step(s)) == SQLITE_ROW) {
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			char *na = realloc(arr, ncap * elem);
			if (!na) {
				rc = dits_error_set(DITS_ENOMEM, "out of memory");
				break;
			}
			arr = na;
			cap = ncap;
		}
		if ((rc = read_row(s, arr + n * elem)))
			break;
		n++;
	}
	if (!rc && src != SQLITE_DONE)
		rc = db_fail(db, src, "cannot list");
	stmt_done(s);
	if (rc) {
		for (size_t i = 0; i < n; i++)
			free_row(arr + i * elem);
		free(arr);
		return rc;
	}
	*out = arr;
	*count = n;
	return 0;
}

static int sq_variant_list(dits_metadb *db, const dits_id *parent, dits_variant **out, size_t *count)
{
	*out = NULL;
	*count = 0;
	sqlite3_stmt *s = NULL;
	int rc = stmt(db, S_VARIANT_LIST, &s);
	if (rc)
		return rc;
	if (parent)
		bind_id(s, 1, parent);
	void *arr = NULL;
	rc = collect_rows(db, s, sizeof(dits_variant), read_variant_row, free_variant_row, &arr,
	                  count);
	*out = arr;
	return rc;
}

/* ---- Jobs --------------------------------------------------------------- */



/* Fills job from a row of JOB_COLS. */
static int read_job(sqlite3_stmt *s, dits_job *job)
{
	memset(job, 0, sizeof *job);
	int rc;
	job->id = col_i64(s, 0);
	if ((rc = col_copy(s, 1, job->kind, sizeof job->kind, "job kind")) ||
	    (rc = col_id(s, 2, &job->asset, "job asset_id")) || (rc = col_dup(s, 3, &job->path)) ||
	    (rc = col_copy(s, 4, job->target, sizeof job->target, "job target")) ||
	    (rc = col_dup(s, 5, &job->recipe)) ||
	    (rc = col_copy(s, 7, job->state, sizeof job->state, "job state")) ||
	    (rc = col_copy(s, 10, job->lease_owner, sizeof job->lease_owner, "lease owner")) ||
	    (rc = col_dup(s, 13, &job->last_error)))
		goto fail;
	if (sqlite3_column_type(s, 6) != SQLITE_NULL &&
	    (rc = col_id(s, 6, &job->recipe_hash, "job recipe_hash")))
		goto fail;
	job->attempts = sqlite3_column_int(s, 8);
	job->max_attempts = sqlite3_column_int(s, 9);
	job->lease_expires = col_i64(s, 11);
	job->not_before = col_i64(s, 12);
	job->created_at = col_i64(s, 14);
	job->updated_at = col_i64(s, 15);
	job->progress = sqlite3_column_double(s, 16);
	if ((rc = col_dup(s, 17, &job->result)))
		goto fail;
	return 0;
fail:
	dits_job_free(job);
	return rc;
}

static int read_job_row(sqlite3_stmt *s, void *job)
{
	return read_job(s, job);
}

static void free_job_row(void *job)
{
	dits_job_free(job);
}

/* Reads job id; DITS_ENOTFOUND (no message) when there is none. */
static int load_job(dits_metadb *db, int64_t id, dits_job *out)
{
	memset(out, 0, sizeof *out);
	sqlite3_stmt *s = NULL;
	int rc = stmt(db, S_JOB_GET, &s);
	if (rc)
		return rc;
	sqlite3_bind_int64(s, 1, id);
	return query_one(db, s, read_job_row, out, "cannot read jobs");
}

static int sq_job_get(dits_metadb *db, int64_t id, dits_job *out)
{
	int rc = load_job(db, id, out);
	if (rc == DITS_ENOTFOUND)
		rc = dits_error_set(DITS_ENOTFOUND, "job %lld does not exist", (long long)id);
	return rc;
}


static int sq_job_enqueue(dits_metadb *db, const char *kind, const dits_id *asset, const char *path,
                     const char *target, const char *recipe_json, const dits_id *recipe_hash,
                     int64_t *job_id)
{
	int rc;
	if ((rc = metadb_check_name(kind, sizeof((dits_job *)0)->kind, "job kind")) ||
	    (rc = metadb_check_name(target, sizeof((dits_job *)0)->target, "job target")) ||
	    (rc = check_json(db, recipe_json, NULL, false, "job recipe")))
		return rc;
	dits_id rh;
	metadb_recipe_hash(&rh, recipe_hash, recipe_json);

	if ((rc = tx_begin(db)))
		return rc;
	sqlite3_stmt *s = NULL;
	if ((rc = stmt(db, S_JOB_FIND_LIVE, &s)))
		return tx_end(db, rc);
	bind_id(s, 1, asset);
	bind_text(s, 2, target);
	bind_id(s, 3, &rh);
	int src = sqlite3_step(s);
	int64_t id = 0;
	if (src == SQLITE_ROW)
		id = col_i64(s, 0);
	else if (src != SQLITE_DONE)
		rc = db_fail(db, src, "cannot read jobs");
	stmt_done(s);
	if (!rc && !id) {
		if ((rc = stmt(db, S_JOB_INSERT, &s)))
			return tx_end(db, rc);
		bind_text(s, 1, kind);
		bind_id(s, 2, asset);
		bind_text(s, 3, path);
		bind_text(s, 4, target);
		bind_text(s, 5, recipe_json);
		bind_id(s, 6, &rh);
		sqlite3_bind_int(s, 7, DITS_JOB_MAX_ATTEMPTS);
		sqlite3_bind_int64(s, 8, dits_metadb_now(db));
		rc = step_done(db, s, "cannot queue a job", NULL);
		if (!rc)
			id = sqlite3_last_insert_rowid(SQ(db)->h);
	}
	rc = tx_end(db, rc);
	if (!rc && job_id)
		*job_id = id;
	return rc;
}

static int sq_job_claim(dits_metadb *db, const char *owner, int lease_seconds, dits_job *out)
{
	memset(out, 0, sizeof *out);
	int rc = metadb_check_name(owner, sizeof out->lease_owner, "lease owner");
	if (rc)
		return rc;
	if (lease_seconds < 1)
		return dits_error_set(DITS_EINVALID, "lease of %d seconds is too short", lease_seconds);
	if ((rc = tx_begin(db)))
		return rc;
	int64_t now = dits_metadb_now(db);
	sqlite3_stmt *s = NULL;

	/* Jobs whose worker died on their last attempt are not run again. */
	if ((rc = stmt(db, S_JOB_BURY_LOST, &s)))
		return tx_end(db, rc);
	sqlite3_bind_int64(s, 1, now);
	if ((rc = step_done(db, s, "cannot retire lost jobs", NULL)))
		return tx_end(db, rc);

	if ((rc = stmt(db, S_JOB_NEXT, &s)))
		return tx_end(db, rc);
	sqlite3_bind_int64(s, 1, now);
	int src = sqlite3_step(s);
	int64_t id = 0;
	if (src == SQLITE_ROW)
		id = col_i64(s, 0);
	else if (src != SQLITE_DONE)
		rc = db_fail(db, src, "cannot read jobs");
	stmt_done(s);
	if (rc || !id) {
		/* Commit even when empty: the burial above must stick. */
		rc = tx_end(db, rc);
		if (!rc)
			dits_error_clear();
		return rc ? rc : DITS_ENOTFOUND;
	}

	if ((rc = stmt(db, S_JOB_TAKE, &s)))
		return tx_end(db, rc);
	sqlite3_bind_int64(s, 1, id);
	bind_text(s, 2, owner);
	sqlite3_bind_int64(s, 3, now + lease_seconds);
	sqlite3_bind_int64(s, 4, now);
	if ((rc = step_done(db, s, "cannot claim a job", NULL)))
		return tx_end(db, rc);
	rc = load_job(db, id, out);
	if (rc == DITS_ENOTFOUND)
		rc = dits_error_set(DITS_ERROR, "%s: job %lld vanished while claimed", db->where,
		                    (long long)id);
	rc = tx_end(db, rc);
	if (rc)
		dits_job_free(out);
	return rc;
}

/*
 * Explains why an owner-guarded UPDATE of job id changed nothing: the job
 * does not exist, or owner no longer holds it.
 */
static int job_not_held(dits_metadb *db, int64_t id, const char *owner)
{
	dits_job job;
	int rc = load_job(db, id, &job);
	if (rc == DITS_ENOTFOUND)
		return dits_error_set(DITS_ENOTFOUND, "job %lld does not exist", (long long)id);
	if (rc)
		return rc;
	if (!strcmp(job.state, "running"))
		rc = dits_error_set(DITS_ECONFLICT,
		                    "job %lld: %s lost its lease; %s holds it now (attempt %d)",
		                    (long long)id, owner, job.lease_owner, job.attempts);
	else
		rc = dits_error_set(DITS_ECONFLICT, "job %lld: %s lost its lease; the job is %s now",
		                    (long long)id, owner, job.state);
	dits_job_free(&job);
	return rc;
}

/* Runs an owner-guarded UPDATE (already bound) in a transaction. */
static int job_update(dits_metadb *db, sqlite3_stmt *s, int64_t id, const char *owner,
                      const char *what)
{
	int changes = 0;
	int rc = step_done(db, s, what, &changes);
	if (!rc && changes == 0)
		rc = job_not_held(db, id, owner);
	return tx_end(db, rc);
}

static int sq_job_heartbeat(dits_metadb *db, int64_t id, const char *owner, int lease_seconds)
{
	if (lease_seconds < 1)
		return dits_error_set(DITS_EINVALID, "lease of %d seconds is too short", lease_seconds);
	int rc = tx_begin(db);
	if (rc)
		return rc;
	int64_t now = dits_metadb_now(db);
	sqlite3_stmt *s = NULL;
	if ((rc = stmt(db, S_JOB_HEARTBEAT, &s)))
		return tx_end(db, rc);
	sqlite3_bind_int64(s, 1, id);
	bind_text(s, 2, owner);
	sqlite3_bind_int64(s, 3, now + lease_seconds);
	sqlite3_bind_int64(s, 4, now);
	return job_update(db, s, id, owner, "cannot extend a lease");
}

static int sq_job_report(dits_metadb *db, int64_t id, double progress, const char *result)
{
	sqlite3_stmt *s = NULL;
	int rc = stmt(db, S_JOB_REPORT, &s);
	if (rc)
		return rc;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_double(s, 2, progress);
	bind_text(s, 3, result);
	int changes = 0;
	if ((rc = step_done(db, s, "cannot record a job's progress", &changes)))
		return rc;
	return changes ? 0 : dits_error_set(DITS_ENOTFOUND, "no job %lld", (long long)id);
}

static int sq_job_complete(dits_metadb *db, int64_t id, const char *owner)
{
	int rc = tx_begin(db);
	if (rc)
		return rc;
	sqlite3_stmt *s = NULL;
	if ((rc = stmt(db, S_JOB_COMPLETE, &s)))
		return tx_end(db, rc);
	sqlite3_bind_int64(s, 1, id);
	bind_text(s, 2, owner);
	sqlite3_bind_int64(s, 3, dits_metadb_now(db));
	return job_update(db, s, id, owner, "cannot complete a job");
}


static int sq_job_fail(dits_metadb *db, int64_t id, const char *owner, const char *error,
                  bool permanent)
{
	int rc = tx_begin(db);
	if (rc)
		return rc;
	dits_job job;
	rc = load_job(db, id, &job);
	if (rc == DITS_ENOTFOUND)
		return tx_end(db, dits_error_set(DITS_ENOTFOUND, "job %lld does not exist",
		                                 (long long)id));
	if (rc)
		return tx_end(db, rc);
	bool held = !strcmp(job.state, "running") && owner && !strcmp(job.lease_owner, owner);
	bool dead = permanent || job.attempts >= job.max_attempts;
	int attempts = job.attempts;
	dits_job_free(&job);
	if (!held)
		return tx_end(db, job_not_held(db, id, owner ? owner : "(nobody)"));

	int64_t now = dits_metadb_now(db);
	const char *msg = error ? error : "failed (no reason given)";
	sqlite3_stmt *s = NULL;
	if (dead) {
		if ((rc = stmt(db, S_JOB_BURY, &s)))
			return tx_end(db, rc);
		sqlite3_bind_int64(s, 1, id);
		bind_text(s, 2, msg);
		sqlite3_bind_int64(s, 3, now);
	} else {
		if ((rc = stmt(db, S_JOB_REQUEUE, &s)))
			return tx_end(db, rc);
		sqlite3_bind_int64(s, 1, id);
		sqlite3_bind_int64(s, 2, now + metadb_backoff_seconds(attempts));
		bind_text(s, 3, msg);
		sqlite3_bind_int64(s, 4, now);
	}
	rc = step_done(db, s, "cannot record a failed job", NULL);
	return tx_end(db, rc);
}

static int sq_job_list(dits_metadb *db, const dits_id *asset, const char *state, dits_job **out,
                  size_t *count)
{
	*out = NULL;
	*count = 0;
	sqlite3_stmt *s = NULL;
	int rc = stmt(db, S_JOB_LIST, &s);
	if (rc)
		return rc;
	if (asset)
		bind_id(s, 1, asset);
	bind_text(s, 2, state);
	void *arr = NULL;
	rc = collect_rows(db, s, sizeof(dits_job), read_job_row, free_job_row, &arr, count);
	*out = arr;
	return rc;
}

static int sq_job_counts(dits_metadb *db, struct dits_job_counts *out)
{
	memset(out, 0, sizeof *out);
	sqlite3_stmt *s = NULL;
	int rc = stmt(db, S_JOB_COUNTS, &s);
	if (rc)
		return rc;
	int src;
	while ((src = sqlite3_step(s)) == SQLITE_ROW) {
		const char *state = (const char *)sqlite3_column_text(s, 0);
		int64_t n = col_i64(s, 1);
		if (!state)
			continue;
		if (!strcmp(state, "queued"))
			out->queued = n;
		else if (!strcmp(state, "running"))
			out->running = n;
		else if (!strcmp(state, "done"))
			out->done = n;
		else if (!strcmp(state, "failed"))
			out->failed = n;
		else if (!strcmp(state, "dead"))
			out->dead = n;
	}
	if (src != SQLITE_DONE)
		rc = db_fail(db, src, "cannot count jobs");
	stmt_done(s);
	return rc;
}

/* Runs a bound one-value query; DITS_ENOTFOUND when the value is NULL. */
static int query_i64(dits_metadb *db, enum stmt_id id, int64_t *out)
{
	sqlite3_stmt *s = NULL;
	int rc = stmt(db, id, &s);
	if (rc)
		return rc;
	int src = sqlite3_step(s);
	if (src != SQLITE_ROW)
		rc = db_fail(db, src, "cannot count jobs");
	else if (sqlite3_column_type(s, 0) == SQLITE_NULL)
		rc = DITS_ENOTFOUND;
	else
		*out = col_i64(s, 0);
	stmt_done(s);
	return rc;
}

static int sq_job_pending(dits_metadb *db, int64_t *n)
{
	*n = 0;
	return query_i64(db, S_JOB_PENDING, n);
}

static int sq_job_next_ready(dits_metadb *db, int64_t *when)
{
	*when = 0;
	int rc = query_i64(db, S_JOB_NEXT_READY, when);
	if (rc == DITS_ENOTFOUND)
		dits_error_clear();
	return rc;
}

static int sq_job_retry_asset(dits_metadb *db, const dits_id *asset)
{
	int rc = tx_begin(db);
	if (rc)
		return rc;
	sqlite3_stmt *s = NULL;
	if ((rc = stmt(db, S_JOB_RETRY_ASSET, &s)))
		return tx_end(db, rc);
	bind_id(s, 1, asset);
	sqlite3_bind_int64(s, 2, dits_metadb_now(db));
	rc = step_done(db, s, "cannot re-queue jobs", NULL);
	return tx_end(db, rc);
}

static const struct dits_metadb_ops sqlite_ops = {
	.version = DITS_METADB_OPS_VERSION,
	.name = "sqlite",
	.close = sq_metadb_close,
	.variant_begin = sq_variant_begin,
	.variant_set_running = sq_variant_set_running,
	.variant_fail = sq_variant_fail,
	.variant_register = sq_variant_register,
	.variant_get = sq_variant_get,
	.variant_pick = sq_variant_pick,
	.variant_get_by_id = sq_variant_get_by_id,
	.variant_list = sq_variant_list,
	.variant_reset = sq_variant_reset,
	.job_enqueue = sq_job_enqueue,
	.job_claim = sq_job_claim,
	.job_heartbeat = sq_job_heartbeat,
	.job_report = sq_job_report,
	.job_complete = sq_job_complete,
	.job_fail = sq_job_fail,
	.job_get = sq_job_get,
	.job_list = sq_job_list,
	.job_counts = sq_job_counts,
	.job_pending = sq_job_pending,
	.job_next_ready = sq_job_next_ready,
	.job_retry_asset = sq_job_retry_asset,
	.job_wait = sq_job_wait,
	.job_wait_any = sq_job_wait_any,
};
