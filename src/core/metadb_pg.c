/*
 * metadb_pg.c - the PostgreSQL backend of metadb.h (libpq), chosen by
 * `metadb.url = postgres://...`: variants and the job queue shared by any
 * number of servers and workers on any number of machines.
 *
 * Invariants kept here:
 * - One database may hold many repositories: every row carries the
 *   repository key (metadb.h: `metadb.repo`, else the `.dits` path) in its
 *   `repo` column and every statement filters by it. Unique constraints
 *   include it.
 * - Asset ids (256-bit BLAKE3) are BYTEA of exactly 32 bytes (a CHECK says
 *   so): half the size of hex text in rows and indexes, compared as bytes,
 *   and sorted in the same order as the lowercase hex that SQLite stores.
 *   They travel as text parameters in bytea's hex form (`\x...`), with
 *   bytea_output set to hex for the session.
 * - Claiming is one UPDATE of the row that a `FOR UPDATE SKIP LOCKED`
 *   subquery picked: concurrent claimers never wait for each other and never
 *   take the same job (the row lock is held until the UPDATE commits and a
 *   locked row is skipped, not re-read).
 * - A variant is created with INSERT ... ON CONFLICT DO NOTHING on
 *   (repo, parent, type, recipe hash), so two concurrent begins return the
 *   same row; it becomes ready in one guarded UPDATE (status <> 'ready'), so
 *   of two concurrent registrations one wins and the other gets
 *   DITS_ECONFLICT. The UNIQUE constraint makes a second row (and so a
 *   second ready variant) for one recipe impossible.
 * - "Now" is dits_metadb_now(), passed as a parameter (never the server's
 *   clock), so the test clock moves leases and backoff here too.
 * - Values only reach SQL as parameters; statements are prepared once per
 *   connection.
 * - An enqueue, a retry and a re-queued failure NOTIFY channel `dits_jobs`
 *   with the repository key as payload; dits_job_wait() LISTENs.
 */
#include "metadb_backend.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "fsutil.h"

#define CHANNEL "dits_jobs"
/* Idle connections kept for the next handle of this process (see below). */
#define POOL_MAX 16

/* ---- Schema ------------------------------------------------------------- */

/*
 * Migrations, indexed by the version they start from: migrations[v] takes
 * the database from version v to v + 1 (rows of dits_schema_version). Only
 * ever append. They run under a transaction-scoped advisory lock, so
 * processes that open a fresh database at once migrate it once.
 */
static const char *const migrations[DITS_METADB_PG_SCHEMA_VERSION] = {
	/* 0 -> 1: the seed's asset_variants (kept by name) and the queue. */
	"CREATE TABLE asset_variants("
	"  id UUID PRIMARY KEY,"
	"  repo TEXT NOT NULL,"
	"  parent_asset_id BYTEA NOT NULL CHECK(length(parent_asset_id) = 32),"
	"  variant_type TEXT NOT NULL,"
	"  chunk_hash_list JSONB CHECK(chunk_hash_list IS NULL"
	"    OR jsonb_typeof(chunk_hash_list) = 'array'),"
	"  manifest_id BYTEA CHECK(manifest_id IS NULL OR length(manifest_id) = 32),"
	"  recipe JSON,"
	"  recipe_hash BYTEA NOT NULL CHECK(length(recipe_hash) = 32),"
	"  facts JSON,"
	"  status TEXT NOT NULL CHECK(status IN ('queued','running','ready','failed')),"
	"  error TEXT,"
	"  warnings TEXT,"
	"  size BIGINT,"
	"  created_at BIGINT NOT NULL,"
	"  updated_at BIGINT NOT NULL,"
	"  seq BIGINT GENERATED ALWAYS AS IDENTITY,"
	"  UNIQUE(repo, parent_asset_id, variant_type, recipe_hash));"
	"CREATE INDEX asset_variants_by_parent ON asset_variants(repo, parent_asset_id, variant_type);"
	"CREATE TABLE jobs("
	"  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
	"  repo TEXT NOT NULL,"
	"  kind TEXT NOT NULL,"
	"  asset_id BYTEA NOT NULL CHECK(length(asset_id) = 32),"
	"  path TEXT,"
	"  target TEXT NOT NULL,"
	"  recipe JSON,"
	"  recipe_hash BYTEA NOT NULL CHECK(length(recipe_hash) = 32),"
	"  state TEXT NOT NULL CHECK(state IN ('queued','running','done','failed','dead')),"
	"  attempts INTEGER NOT NULL DEFAULT 0,"
	"  max_attempts INTEGER NOT NULL DEFAULT 3,"
	"  lease_owner TEXT,"
	"  lease_expires BIGINT,"
	"  not_before BIGINT NOT NULL DEFAULT 0,"
	"  last_error TEXT,"
	"  created_at BIGINT NOT NULL,"
	"  updated_at BIGINT NOT NULL);"
	/* At most one live job per (repo, asset, target, recipe). */
	"CREATE UNIQUE INDEX jobs_one_live ON jobs(repo, asset_id, target, recipe_hash)"
	"  WHERE state IN ('queued','running');"
	"CREATE INDEX jobs_by_state ON jobs(repo, state, id);"
	"CREATE INDEX jobs_by_asset ON jobs(repo, asset_id);",
	/*
	 * 1 -> 2: refs shared by a fleet of servers (refdb_pg.c). A ref row
	 * holds a commit id (target) or, for HEAD, a branch name (symbolic);
	 * the reflog keeps every change; repos is the catalog of `dits serve
	 * --db`, each repository's config text.
	 */
	"CREATE TABLE refs("
	"  repo TEXT NOT NULL,"
	"  name TEXT NOT NULL,"
	"  target BYTEA CHECK(target IS NULL OR length(target) = 32),"
	"  symbolic TEXT,"
	"  updated_at BIGINT NOT NULL,"
	"  PRIMARY KEY(repo, name),"
	"  CHECK((target IS NULL) <> (symbolic IS NULL)));"
	"CREATE TABLE reflog("
	"  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
	"  repo TEXT NOT NULL,"
	"  name TEXT NOT NULL,"
	"  old BYTEA,"
	"  new BYTEA NOT NULL,"
	"  who TEXT NOT NULL,"
	"  message TEXT NOT NULL,"
	"  at BIGINT NOT NULL);"
	"CREATE INDEX reflog_by_ref ON reflog(repo, name, id);"
	"CREATE TABLE repos("
	"  name TEXT PRIMARY KEY,"
	"  config TEXT NOT NULL,"
	"  created_at BIGINT NOT NULL);",
	/*
	 * 2 -> 3: what a job's worker reports (a render's progress and output
	 * commit), so that every server of a fleet answers the same.
	 */
	"ALTER TABLE jobs ADD COLUMN progress DOUBLE PRECISION NOT NULL DEFAULT 0, ADD COLUMN result TEXT;",
};

#define VARIANT_COLS                                                                         \
	"id::text, parent_asset_id, variant_type, chunk_hash_list::text, manifest_id, recipe::text," \
	" recipe_hash, facts::text, status, error, warnings, size, created_at, updated_at"

#define RECIPE_PROFILE "(recipe::jsonb ->> 'profile')"

#define JOB_COLS                                                                              \
	"id, kind, asset_id, path, target, recipe::text, recipe_hash, state, attempts, max_attempts," \
	" lease_owner, lease_expires, not_before, last_error, created_at, updated_at, progress, result"

enum stmt_id {
	Q_JSON_TYPE,
	Q_VARIANT_INSERT,
	Q_VARIANT_FIND,
	Q_VARIANT_BY_ID,
	Q_VARIANT_NEWEST,
	Q_VARIANT_PICK,
	Q_VARIANT_LIST,
	Q_VARIANT_STATUS,
	Q_VARIANT_SET_RUNNING,
	Q_VARIANT_FAIL,
	Q_VARIANT_REGISTER,
	Q_VARIANT_RESET,
	Q_JOB_INSERT,
	Q_JOB_FIND_LIVE,
	Q_JOB_BURY_LOST,
	Q_JOB_TAKE,
	Q_JOB_GET,
	Q_JOB_GET_LOCKED,
	Q_JOB_HEARTBEAT,
	Q_JOB_REPORT,
	Q_JOB_COMPLETE,
	Q_JOB_REQUEUE,
	Q_JOB_BURY,
	Q_JOB_LIST,
	Q_JOB_COUNTS,
	Q_JOB_PENDING,
	Q_JOB_NEXT_READY,
	Q_JOB_RETRY_ASSET,
	Q_NOTIFY,
	Q_COUNT
};

/* $1 is the repository key in every statement that touches rows. */
static const char *const stmt_sql[Q_COUNT] = {
	[Q_JSON_TYPE] = "SELECT json_typeof($1::json)",

	[Q_VARIANT_INSERT] = "INSERT INTO asset_variants(id, repo, parent_asset_id, variant_type, recipe,"
	                     " recipe_hash, status, created_at, updated_at)"
	                     " VALUES($2::uuid, $1, $3::bytea, $4, $5::json, $6::bytea, 'queued', $7, $7)"
	                     " ON CONFLICT (repo, parent_asset_id, variant_type, recipe_hash) DO NOTHING",
	[Q_VARIANT_FIND] = "SELECT " VARIANT_COLS " FROM asset_variants WHERE repo = $1"
	                   " AND parent_asset_id = $2::bytea AND variant_type = $3 AND recipe_hash = $4::bytea",
	[Q_VARIANT_BY_ID] = "SELECT " VARIANT_COLS " FROM asset_variants WHERE repo = $1 AND id = $2::uuid",
	[Q_VARIANT_NEWEST] = "SELECT " VARIANT_COLS " FROM asset_variants"
	                     " WHERE repo = $1 AND parent_asset_id = $2::bytea AND variant_type = $3"
	                     " ORDER BY created_at DESC, seq DESC LIMIT 1",
	[Q_VARIANT_PICK] = "SELECT " VARIANT_COLS " FROM asset_variants"
	                   " WHERE repo = $1 AND parent_asset_id = $2::bytea AND status = 'ready'"
	                   " AND manifest_id IS NOT NULL"
	                   " AND (variant_type = $3 OR (variant_type = 'proxy_1080p' AND " RECIPE_PROFILE
	                   " = 'prores_proxy'))"
	                   " ORDER BY CASE WHEN variant_type = $3 AND " RECIPE_PROFILE " = $4 THEN 0"
	                   " WHEN variant_type = 'proxy_1080p' AND " RECIPE_PROFILE " = 'prores_proxy' THEN 1"
	                   " ELSE 2 END, created_at DESC, id LIMIT 1",
	[Q_VARIANT_LIST] = "SELECT " VARIANT_COLS " FROM asset_variants"
	                   " WHERE repo = $1 AND ($2::bytea IS NULL OR parent_asset_id = $2::bytea)"
	                   " ORDER BY parent_asset_id, variant_type, created_at, seq",
	[Q_VARIANT_STATUS] = "SELECT status FROM asset_variants WHERE repo = $1 AND id = $2::uuid",
	[Q_VARIANT_SET_RUNNING] = "UPDATE asset_variants SET status = 'running', error = NULL,"
	                          " updated_at = $3 WHERE repo = $1 AND id = $2::uuid AND status <> 'ready'",
	[Q_VARIANT_FAIL] = "UPDATE asset_variants SET status = 'failed', error = $3, updated_at = $4"
	                   " WHERE repo = $1 AND id = $2::uuid AND status <> 'ready'",
	[Q_VARIANT_REGISTER] = "UPDATE asset_variants SET status = 'ready', manifest_id = $3::bytea,"
	                       " chunk_hash_list = $4::jsonb, facts = $5::json, warnings = $6, size = $7,"
	                       " error = NULL, updated_at = $8"
	                       " WHERE repo = $1 AND id = $2::uuid AND status <> 'ready'",
	[Q_VARIANT_RESET] = "UPDATE asset_variants SET status = 'queued', error = NULL,"
	                    " updated_at = $3 WHERE repo = $1 AND id = $2::uuid AND status <> 'ready'",

	/* The insert and its NOTIFY in one round trip. */
	[Q_JOB_INSERT] = "WITH ins AS (INSERT INTO jobs(repo, kind, asset_id, path, target, recipe,"
	                 " recipe_hash, state, max_attempts, created_at, updated_at)"
	                 " VALUES($1, $2, $3::bytea, $4, $5, $6::json, $7::bytea, 'queued', $8, $9, $9)"
	                 " ON CONFLICT (repo, asset_id, target, recipe_hash)"
	                 " WHERE state IN ('queued','running') DO NOTHING RETURNING id)"
	                 " SELECT id, pg_notify('" CHANNEL "', $1) FROM ins",
	[Q_JOB_FIND_LIVE] = "SELECT id FROM jobs WHERE repo = $1 AND asset_id = $2::bytea AND target = $3"
	                    " AND recipe_hash = $4::bytea AND state IN ('queued','running') LIMIT 1",
	[Q_JOB_BURY_LOST] = "UPDATE jobs SET state = 'dead', lease_expires = NULL, updated_at = $2,"
	                    " last_error = 'worker ' || coalesce(lease_owner, '?')"
	                    " || ' lost its lease on attempt ' || attempts || ' of ' || max_attempts"
	                    " || ' (killed or hung?)'"
	                    " WHERE id IN (SELECT id FROM jobs WHERE repo = $1 AND state = 'running'"
	                    " AND lease_expires < $2 AND attempts >= max_attempts"
	                    " FOR UPDATE SKIP LOCKED)",
	/*
	 * The lowest ready id: the smaller of the first free queued job and
	 * the first free running job whose lease expired, each found by
	 * walking jobs_by_state in id order (one OR search would visit every
	 * queued row and sort them, at every claim).
	 */
	[Q_JOB_TAKE] = "WITH q AS (SELECT id FROM jobs WHERE repo = $1 AND state = 'queued'"
	               " AND not_before <= $4 ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED),"
	               " r AS (SELECT id FROM jobs WHERE repo = $1 AND state = 'running'"
	               " AND lease_expires < $4 AND attempts < max_attempts"
	               " ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)"
	               " UPDATE jobs SET state = 'running', lease_owner = $2, lease_expires = $3,"
	               " attempts = attempts + 1, updated_at = $4"
	               " WHERE id = (SELECT min(id) FROM (SELECT id FROM q UNION ALL SELECT id FROM r) c)"
	               " RETURNING " JOB_COLS,
	[Q_JOB_GET] = "SELECT " JOB_COLS " FROM jobs WHERE repo = $1 AND id = $2",
	[Q_JOB_GET_LOCKED] = "SELECT " JOB_COLS " FROM jobs WHERE repo = $1 AND id = $2 FOR UPDATE",
	[Q_JOB_HEARTBEAT] = "UPDATE jobs SET lease_expires = $4, updated_at = $5"
	                    " WHERE repo = $1 AND id = $2 AND lease_owner = $3 AND state = 'running'",
	[Q_JOB_REPORT] = "UPDATE jobs SET progress = $3::double precision, result = coalesce($4, result)"
	                 " WHERE repo = $1 AND id = $2",
	[Q_JOB_COMPLETE] = "UPDATE jobs SET state = 'done', lease_expires = NULL, updated_at = $4"
	                   " WHERE repo = $1 AND id = $2 AND lease_owner = $3 AND state = 'running'",
	[Q_JOB_REQUEUE] = "UPDATE jobs SET state = 'queued', not_before = $3, last_error = $4,"
	                  " lease_owner = NULL, lease_expires = NULL, updated_at = $5"
	                  " WHERE repo = $1 AND id = $2",
	[Q_JOB_BURY] = "UPDATE jobs SET state = 'dead', last_error = $3, lease_expires = NULL,"
	               " updated_at = $4 WHERE repo = $1 AND id = $2",
	[Q_JOB_LIST] = "SELECT " JOB_COLS " FROM jobs WHERE repo = $1"
	               " AND ($2::bytea IS NULL OR asset_id = $2::bytea)"
	               " AND ($3::text IS NULL OR state = $3::text) ORDER BY id",
	[Q_JOB_COUNTS] = "SELECT state, count(*) FROM jobs WHERE repo = $1 GROUP BY state",
	[Q_JOB_PENDING] = "SELECT count(*) FROM jobs WHERE repo = $1 AND state IN ('queued','running')",
	[Q_JOB_NEXT_READY] = "SELECT min(CASE state WHEN 'queued' THEN not_before"
	                     " ELSE coalesce(lease_expires, 0) + 1 END)"
	                     " FROM jobs WHERE repo = $1 AND state IN ('queued','running')",
	/* As in SQLite: the newest dead job per key, when no live one has it. */
	[Q_JOB_RETRY_ASSET] =
		"UPDATE jobs SET state = 'queued', attempts = 0, not_before = 0, lease_owner = NULL,"
		" lease_expires = NULL, updated_at = $3"
		" WHERE repo = $1 AND asset_id = $2::bytea AND state IN ('dead','failed')"
		" AND id = (SELECT max(d.id) FROM jobs d WHERE d.repo = jobs.repo"
		"   AND d.asset_id = jobs.asset_id AND d.target = jobs.target"
		"   AND d.recipe_hash = jobs.recipe_hash AND d.state IN ('dead','failed'))"
		" AND NOT EXISTS (SELECT 1 FROM jobs l WHERE l.repo = jobs.repo"
		"   AND l.asset_id = jobs.asset_id AND l.target = jobs.target"
		"   AND l.recipe_hash = jobs.recipe_hash AND l.state IN ('queued','running'))",
	[Q_NOTIFY] = "SELECT pg_notify('" CHANNEL "', $1)",
};

/* ---- The handle --------------------------------------------------------- */

struct pg_db {
	dits_metadb base; /* first: a dits_metadb * is a struct pg_db * */
	PGconn *conn;
	char *key;       /* the repository key */
	char *url;       /* as given to metadb_pg_open, the pool's key */
	pid_t pid;       /* the process that connected */
	bool prepared[Q_COUNT];
	bool listening;
};

#define PG(db) ((struct pg_db *)(db))

/* Up to 10 text parameters; $1 is always the repository key. */
#define MAXP 10
typedef struct params {
	const char *v[MAXP];
	char buf[MAXP][72];
	int n;
} params;

static void p_init(params *p, dits_metadb *db)
{
	p->n = 0;
	p->v[p->n++] = PG(db)->key;
}

static void p_text(params *p, const char *s)
{
	p->v[p->n++] = s;
}

static void p_i64(params *p, int64_t x)
{
	snprintf(p->buf[p->n], sizeof p->buf[p->n], "%lld", (long long)x);
	p->v[p->n] = p->buf[p->n];
	p->n++;
}

/* An id as bytea's hex input form, or NULL. */
static void p_id(params *p, const dits_id *id)
{
	if (!id) {
		p->v[p->n++] = NULL;
		return;
	}
	char *b = p->buf[p->n];
	b[0] = '\\';
	b[1] = 'x';
	dits_id_hex(b + 2, id);
	p->v[p->n] = b;
	p->n++;
}

static int code_of_sqlstate(const char *st)
{
	if (!st)
		return DITS_EIO;
	if (!strcmp(st, "23505"))
		return DITS_ECONFLICT; /* unique_violation */
	if (!strcmp(st, "40001") || !strcmp(st, "40P01") || !strcmp(st, "55P03"))
		return DITS_ELOCKED; /* serialization, deadlock, lock not available */
	if (!strcmp(st, "53100"))
		return DITS_ENOSPC;
	if (!strcmp(st, "53200"))
		return DITS_ENOMEM;
	if (!strncmp(st, "22", 2))
		return DITS_EINVALID; /* data exception: bad JSON, bad UUID, ... */
	return DITS_EIO;
}

/* "<url>: <what>: <the server's message>", with the code its SQLSTATE maps to. */
static int pg_fail(dits_metadb *db, const PGresult *res, const char *what)
{
	const char *msg = res ? PQresultErrorMessage(res) : NULL;
	if (!msg || !*msg)
		msg = PG(db)->conn ? PQerrorMessage(PG(db)->conn) : "no connection";
	/* One line: libpq's messages span several, with tabs. */
	char line[512];
	size_t n = 0;
	for (const char *p = msg; *p && n < sizeof line - 1; p++) {
		char c = *p == '\n' || *p == '\t' ? ' ' : *p;
		if (c == ' ' && (n == 0 || line[n - 1] == ' '))
			continue;
		line[n++] = c;
	}
	while (n && line[n - 1] == ' ')
		n--;
	line[n] = '\0';
	int code = res ? code_of_sqlstate(PQresultErrorField(res, PG_DIAG_SQLSTATE)) : DITS_EIO;
	return dits_error_set(code, "%s: %s: %s", db->where, what, line);
}

/* Reconnects a broken connection (the server restarted); prepared statements go with it. */
static int ensure_conn(dits_metadb *db)
{
	struct pg_db *pg = PG(db);
	if (PQstatus(pg->conn) == CONNECTION_OK)
		return 0;
	PQreset(pg->conn);
	memset(pg->prepared, 0, sizeof pg->prepared);
	pg->listening = false;
	if (PQstatus(pg->conn) != CONNECTION_OK)
		return pg_fail(db, NULL, "lost the connection to the metadata database");
	return 0;
}

int metadb_pg_conn(dits_metadb *db, PGconn **out)
{
	*out = PG(db)->conn;
	return ensure_conn(db);
}

/*
 * Takes res, the result of a statement (NULL when libpq had no memory): a
 * failed statement's error is set (what) and res freed. Otherwise *changes
 * (may be NULL) receives the number of rows changed, and *out (may be
 * NULL) the result, which the caller PQclear()s; without out res is freed.
 */
static int take_result(dits_metadb *db, PGresult *res, PGresult **out, int *changes, const char *what)
{
	ExecStatusType st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		int rc = pg_fail(db, res, what);
		PQclear(res);
		return rc;
	}
	if (changes) {
		const char *t = PQcmdTuples(res);
		*changes = t && *t ? atoi(t) : 0;
	}
	if (out)
		*out = res;
	else
		PQclear(res);
	return 0;
}

int metadb_pg_exec(dits_metadb *db, const char *sql, int n, const char *const *v, PGresult **out, int *changes,
                   const char *what)
{
	if (out)
		*out = NULL;
	int rc = ensure_conn(db);
	if (rc)
		return rc;
	return take_result(db, PQexecParams(PG(db)->conn, sql, n, NULL, v, NULL, NULL, 0), out, changes, what);
}

/* Runs SQL without parameters (BEGIN, COMMIT, DDL). */
static int exec_simple(dits_metadb *db, const char *sql, const char *what)
{
	return take_result(db, PQexec(PG(db)->conn, sql), NULL, NULL, what);
}

/*
 * Runs prepared statement id with p; *out (may be NULL) receives the result
 * of a query, which the caller PQclear()s. *changes (may be NULL) receives
 * the number of rows changed.
 */
static int run(dits_metadb *db, enum stmt_id id, const params *p, PGresult **out, int *changes,
               const char *what)
{
	struct pg_db *pg = PG(db);
	if (out)
		*out = NULL;
	int rc = ensure_conn(db);
	if (rc)
		return rc;
	char name[16];
	snprintf(name, sizeof name, "dits%d", (int)id);
	if (!pg->prepared[id]) {
		PGresult *res = PQprepare(pg->conn, name, stmt_sql[id], 0, NULL);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			rc = pg_fail(db, res, "cannot prepare a query");
			PQclear(res);
			return rc;
		}
		PQclear(res);
		pg->prepared[id] = true;
	}
	return take_result(db, PQexecPrepared(pg->conn, name, p->n, p->v, NULL, NULL, 0), out, changes, what);
}

static int tx_begin(dits_metadb *db)
{
	int rc = ensure_conn(db);
	return rc ? rc : exec_simple(db, "BEGIN", "cannot start a transaction");
}

static int tx_end(dits_metadb *db, int rc)
{
	if (rc == 0)
		return exec_simple(db, "COMMIT", "cannot commit");
	PGresult *res = PQexec(PG(db)->conn, "ROLLBACK");
	PQclear(res);
	return rc;
}

static void notify(dits_metadb *db)
{
	params p;
	p_init(&p, db);
	if (run(db, Q_NOTIFY, &p, NULL, NULL, "cannot notify workers"))
		dits_error_clear(); /* a sleeping worker still polls */
}

/* ---- Columns ------------------------------------------------------------ */

static const char *col(const PGresult *r, int row, int i)
{
	return PQgetisnull(r, row, i) ? NULL : PQgetvalue(r, row, i);
}

static int col_copy(const PGresult *r, int row, int i, char *buf, size_t size, const char *what)
{
	const char *t = col(r, row, i);
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

static int col_dup(const PGresult *r, int row, int i, char **out)
{
	*out = NULL;
	const char *t = col(r, row, i);
	if (!t)
		return 0;
	if (!(*out = strdup(t)))
		return dits_error_set(DITS_ENOMEM, "out of memory");
	return 0;
}

/* A JSONB column as compact JSON text (as it was written: no spaces). */
static int col_json_compact(const PGresult *r, int row, int i, char **out)
{
	*out = NULL;
	const char *t = col(r, row, i);
	if (!t)
		return 0;
	cJSON *j = cJSON_Parse(t);
	if (!j)
		return dits_error_set(DITS_ECORRUPT, "metadata database: a JSONB value does not parse");
	*out = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	if (!*out)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	return 0;
}

/* A BYTEA column (hex output, "\x" + 64 digits) as an id. */
static int col_id(const PGresult *r, int row, int i, dits_id *out, const char *what)
{
	const char *t = col(r, row, i);
	if (!t || strlen(t) != 2 + DITS_ID_HEXLEN || t[0] != '\\' || t[1] != 'x' ||
	    dits_id_from_hex(out, t + 2))
		return dits_error_set(DITS_ECORRUPT, "metadata database: %s is not an id", what);
	return 0;
}

static int64_t col_i64(const PGresult *r, int row, int i)
{
	const char *t = col(r, row, i);
	return t ? strtoll(t, NULL, 10) : 0;
}

/* ---- Open, schema, close ------------------------------------------------ */

static const struct dits_metadb_ops pg_ops;

/*
 * A server opens the metadata database (a repository's refs, its queue)
 * for nearly every request: a new connection each time, with its schema
 * check, would cost more than the request. A closed handle's connection
 * waits here, by URL, for the next open in this process, with the
 * statements it prepared. Only an idle one is kept: not inside a
 * transaction (the statements of this file never leave one open), not
 * LISTENing (a waiting worker's), not broken. One that breaks while it
 * waits is reset on its next use (ensure_conn). A connection never crosses
 * fork(): a child (a mount's session) leaves its parent's alone and opens
 * its own.
 */
static struct {
	char *url;
	PGconn *conn;
	bool prepared[Q_COUNT];
	pid_t pid;
} pool[POOL_MAX];
static size_t pool_n;
static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;

/* Gives pg an idle connection to url of this process, if the pool has one. */
static bool pool_take(struct pg_db *pg, const char *url)
{
	bool got = false;
	pthread_mutex_lock(&pool_mu);
	for (size_t i = pool_n; i-- > 0;) {
		if (pool[i].pid != getpid() || strcmp(pool[i].url, url))
			continue;
		pg->conn = pool[i].conn;
		memcpy(pg->prepared, pool[i].prepared, sizeof pg->prepared);
		free(pool[i].url);
		pool[i] = pool[--pool_n];
		got = true;
		break;
	}
	pthread_mutex_unlock(&pool_mu);
	return got;
}

/* Keeps pg's connection for the next open when it is idle and the pool has room; true when kept. */
static bool pool_give(struct pg_db *pg)
{
	if (!pg->url || !pg->conn || pg->listening || pg->pid != getpid() ||
	    PQstatus(pg->conn) != CONNECTION_OK || PQtransactionStatus(pg->conn) != PQTRANS_IDLE)
		return false;
	bool kept = false;
	pthread_mutex_lock(&pool_mu);
	if (pool_n < POOL_MAX) {
		pool[pool_n].url = pg->url;
		pool[pool_n].conn = pg->conn;
		memcpy(pool[pool_n].prepared, pg->prepared, sizeof pg->prepared);
		pool[pool_n].pid = pg->pid;
		pool_n++;
		pg->url = NULL;
		pg->conn = NULL;
		kept = true;
	}
	pthread_mutex_unlock(&pool_mu);
	return kept;
}

static void pg_close(dits_metadb *db)
{
	if (!db)
		return;
	if (!pool_give(PG(db)))
		PQfinish(PG(db)->conn);
	free(PG(db)->url);
	free(PG(db)->key);
	metadb_base_free(db);
	free(PG(db));
}

/* The URL with its password (if any) replaced by "***", for messages. */
static char *redact(const char *url)
{
	const char *s = strstr(url, "://");
	if (!s)
		return strdup(url);
	s += 3;
	const char *end = s + strcspn(s, "/?");
	const char *at = memchr(s, '@', (size_t)(end - s));
	const char *colon = at ? memchr(s, ':', (size_t)(at - s)) : NULL;
	if (!colon)
		return strdup(url);
	return dits_strfmt("%.*s:***%s", (int)(colon - url), url, at);
}

static void quiet_notices(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

static int read_version(dits_metadb *db, int *version)
{
	*version = 0;
	PGresult *res = PQexec(PG(db)->conn, "SELECT to_regclass('dits_schema_version') IS NOT NULL");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		int rc = pg_fail(db, res, "cannot read the schema version");
		PQclear(res);
		return rc;
	}
	bool exists = !strcmp(PQgetvalue(res, 0, 0), "t");
	PQclear(res);
	if (!exists)
		return 0;
	res = PQexec(PG(db)->conn, "SELECT coalesce(max(version), 0) FROM dits_schema_version");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		int rc = pg_fail(db, res, "cannot read the schema version");
		PQclear(res);
		return rc;
	}
	*version = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	return 0;
}

static int refuse_newer(dits_metadb *db, int version)
{
	return dits_error_set(DITS_EVERSION,
	                      "%s: metadata schema version %d is newer than this dits understands "
	                      "(%d); upgrade dits to use this database",
	                      db->where, version, DITS_METADB_PG_SCHEMA_VERSION);
}

/*
 * Takes the schema to version target (DITS_METADB_PG_SCHEMA_VERSION when
 * opening; an older one only for metadb_pg_migrate_to()). A database newer
 * than this code is refused before anything is written; one at target or
 * past it is left as it is.
 */
static int migrate_to(dits_metadb *db, int target)
{
	int version;
	int rc = read_version(db, &version);
	if (rc)
		return rc;
	if (version > DITS_METADB_PG_SCHEMA_VERSION)
		return refuse_newer(db, version);
	if (version >= target)
		return 0;
	if ((rc = tx_begin(db)))
		return rc;
	/* One migrator at a time; the others find the work done. */
	rc = exec_simple(db, "SELECT pg_advisory_xact_lock(7305320660000001)",
	                 "cannot lock the schema");
	if (!rc)
		rc = exec_simple(db,
		                 "CREATE TABLE IF NOT EXISTS dits_schema_version("
		                 "version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)",
		                 "cannot create the schema");
	if (!rc)
		rc = read_version(db, &version);
	if (!rc && version > DITS_METADB_PG_SCHEMA_VERSION)
		rc = refuse_newer(db, version);
	for (; !rc && version < target; version++) {
		rc = exec_simple(db, migrations[version], "cannot create the schema");
		if (!rc) {
			char sql[128];
			snprintf(sql, sizeof sql,
			         "INSERT INTO dits_schema_version(version, applied_at) VALUES(%d, %lld)",
			         version + 1, (long long)dits_metadb_now(db));
			rc = exec_simple(db, sql, "cannot record the schema version");
		}
	}
	return tx_end(db, rc);
}

static int migrate(dits_metadb *db)
{
	return migrate_to(db, DITS_METADB_PG_SCHEMA_VERSION);
}

int metadb_pg_migrate_to(const char *url, int version)
{
	if (version < 1 || version > DITS_METADB_PG_SCHEMA_VERSION)
		return dits_error_set(DITS_EINVALID, "no metadata schema version %d (this dits knows 1 to %d)",
		                      version, DITS_METADB_PG_SCHEMA_VERSION);
	/* A handle of its own, never pooled: pg.url stays NULL. */
	struct pg_db pg;
	memset(&pg, 0, sizeof pg);
	char *where = redact(url);
	if (!where)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	int rc = metadb_base_init(&pg.base, &pg_ops, where);
	free(where);
	if (rc)
		return rc;
	pg.pid = getpid();
	if (!(pg.conn = PQconnectdb(url)))
		rc = dits_error_set(DITS_ENOMEM, "out of memory");
	else if (PQstatus(pg.conn) != CONNECTION_OK)
		rc = pg_fail(&pg.base, NULL, "cannot connect to the metadata database");
	if (!rc) {
		PQsetNoticeProcessor(pg.conn, quiet_notices, NULL);
		rc = migrate_to(&pg.base, version);
	}
	PQfinish(pg.conn);
	metadb_base_free(&pg.base);
	return rc;
}

int metadb_pg_open(dits_metadb **out, const char *url, const char *repo_key)
{
	*out = NULL;
	struct pg_db *pg = calloc(1, sizeof *pg);
	char *where = redact(url);
	if (!pg || !where || !(pg->key = strdup(repo_key)) || !(pg->url = strdup(url))) {
		free(where);
		if (pg) {
			free(pg->key);
			free(pg->url);
		}
		free(pg);
		return dits_error_set(DITS_ENOMEM, "out of memory");
	}
	dits_metadb *db = &pg->base;
	int rc = metadb_base_init(db, &pg_ops, where);
	free(where);
	if (rc) {
		free(pg->key);
		free(pg->url);
		free(pg);
		return rc;
	}
	pg->pid = getpid();
	/*
	 * A pooled connection has its settings; the schema version is read
	 * again (one query), as a newer dits may have migrated it meanwhile.
	 */
	if (pool_take(pg, url)) {
		PGresult *res = PQexec(pg->conn, "SELECT coalesce(max(version), 0) FROM dits_schema_version");
		int version = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 ? atoi(PQgetvalue(res, 0, 0)) : -1;
		PQclear(res);
		if (version == DITS_METADB_PG_SCHEMA_VERSION) {
			*out = db;
			return 0;
		}
		if (version > 0 && (rc = migrate(db)))
			goto fail;
		if (version > 0) {
			*out = db;
			return 0;
		}
		/* broken while it waited: a new one */
		PQfinish(pg->conn);
		memset(pg->prepared, 0, sizeof pg->prepared);
	}
	pg->conn = PQconnectdb(url);
	if (!pg->conn) {
		rc = dits_error_set(DITS_ENOMEM, "out of memory");
		goto fail;
	}
	if (PQstatus(pg->conn) != CONNECTION_OK) {
		rc = pg_fail(db, NULL, "cannot connect to the metadata database");
		goto fail;
	}
	PQsetNoticeProcessor(pg->conn, quiet_notices, NULL);
	if ((rc = exec_simple(db, "SET bytea_output = 'hex'", "cannot set bytea_output")) ||
	    (rc = migrate(db)))
		goto fail;
	*out = db;
	return 0;
fail:
	/* not for the pool: its schema may be the one refused */
	free(pg->url);
	pg->url = NULL;
	pg_close(db);
	return rc;
}

/* ---- Helpers ------------------------------------------------------------ */

/* Checks JSON like the SQLite backend's check_json(), with PostgreSQL's parser. */
static int check_json(dits_metadb *db, const char *json, const char *want, bool required,
                      const char *what)
{
	if (!json) {
		if (required)
			return dits_error_set(DITS_EINVALID, "%s is missing", what);
		return 0;
	}
	params p;
	p.n = 0;
	p_text(&p, json);
	PGresult *res;
	int rc = run(db, Q_JSON_TYPE, &p, &res, NULL, "cannot check JSON");
	if (rc == DITS_EINVALID)
		return dits_error_set(DITS_EINVALID, "%s is not valid JSON", what);
	if (rc)
		return rc;
	const char *type = col(res, 0, 0);
	if (want && (!type || strcmp(type, want)))
		rc = dits_error_set(DITS_EINVALID, "%s must be a JSON %s, not %s", what, want,
		                    type ? type : "?");
	PQclear(res);
	return rc;
}

/* True when id has the shape of a UUID (else no row can have it). */
static bool uuid_shaped(const char *id)
{
	if (!id || strlen(id) != 36)
		return false;
	for (int i = 0; i < 36; i++) {
		char c = id[i];
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
		                        (c >= 'A' && c <= 'F')))
			return false;
	}
	return true;
}

/* ---- Variants ----------------------------------------------------------- */

/*
 * Decodes every row of res with read_row into a new array of elem-sized
 * structs (*out, NULL for none) and clears res; on failure frees the rows
 * decoded with free_row, and the array.
 */
static int read_rows(PGresult *res, size_t elem, int (*read_row)(const PGresult *, int, void *),
                     void (*free_row)(void *), void **out, size_t *count)
{
	int n = PQntuples(res), rc = 0, i = 0;
	char *arr = n ? calloc((size_t)n, elem) : NULL;
	if (n && !arr)
		rc = dits_error_set(DITS_ENOMEM, "out of memory");
	for (; !rc && i < n; i++)
		rc = read_row(res, i, arr + (size_t)i * elem);
	PQclear(res);
	if (rc) {
		for (int k = 0; k < i; k++)
			free_row(arr + (size_t)k * elem);
		free(arr);
		return rc;
	}
	*out = arr;
	*count = (size_t)n;
	return 0;
}

static int read_variant(const PGresult *r, int row, dits_variant *v)
{
	memset(v, 0, sizeof *v);
	int rc;
	if ((rc = col_copy(r, row, 0, v->id, sizeof v->id, "variant id")) ||
	    (rc = col_id(r, row, 1, &v->parent, "parent_asset_id")) ||
	    (rc = col_copy(r, row, 2, v->type, sizeof v->type, "variant_type")) ||
	    (rc = col_json_compact(r, row, 3, &v->chunk_hash_list)) ||
	    (rc = col_dup(r, row, 5, &v->recipe)) ||
	    (rc = col_id(r, row, 6, &v->recipe_hash, "recipe_hash")) ||
	    (rc = col_dup(r, row, 7, &v->facts)) ||
	    (rc = col_copy(r, row, 8, v->status, sizeof v->status, "status")) ||
	    (rc = col_dup(r, row, 9, &v->error)) || (rc = col_dup(r, row, 10, &v->warnings)))
		goto fail;
	if (col(r, row, 4)) {
		if ((rc = col_id(r, row, 4, &v->manifest, "manifest_id")))
			goto fail;
		v->has_manifest = true;
	}
	v->size = (uint64_t)col_i64(r, row, 11);
	v->created_at = col_i64(r, row, 12);
	v->updated_at = col_i64(r, row, 13);
	return 0;
fail:
	dits_variant_free(v);
	return rc;
}

static int read_variant_row(const PGresult *r, int row, void *v)
{
	return read_variant(r, row, v);
}

static void free_variant_row(void *v)
{
	dits_variant_free(v);
}

/* Runs a query of VARIANT_COLS giving at most one row; DITS_ENOTFOUND (no message) for none. */
static int query_variant(dits_metadb *db, enum stmt_id id, const params *p, dits_variant *out)
{
	PGresult *res;
	int rc = run(db, id, p, &res, NULL, "cannot read variants");
	if (rc)
		return rc;
	rc = PQntuples(res) > 0 ? read_variant(res, 0, out) : DITS_ENOTFOUND;
	PQclear(res);
	return rc;
}

static int pg_variant_begin(dits_metadb *db, const dits_id *parent, const char *type,
                            const char *recipe_json, const dits_id *recipe_hash, dits_variant *out)
{
	if (!dits_variant_type_valid(type))
		return dits_error_set(DITS_EINVALID, "unknown variant type \"%s\"", type ? type : "");
	int rc = check_json(db, recipe_json, NULL, false, "variant recipe");
	if (rc)
		return rc;
	dits_id rh;
	metadb_recipe_hash(&rh, recipe_hash, recipe_json);
	char id[37];
	if ((rc = metadb_uuid_v4(id)))
		return rc;
	params p;
	p_init(&p, db);
	p_text(&p, id);
	p_id(&p, parent);
	p_text(&p, type);
	p_text(&p, recipe_json);
	p_id(&p, &rh);
	p_i64(&p, dits_metadb_now(db));
	/* Insert unless a row has the key; either way, read the row that has it. */
	if ((rc = run(db, Q_VARIANT_INSERT, &p, NULL, NULL, "cannot add a variant")))
		return rc;
	p_init(&p, db);
	p_id(&p, parent);
	p_text(&p, type);
	p_id(&p, &rh);
	rc = query_variant(db, Q_VARIANT_FIND, &p, out);
	if (rc == DITS_ENOTFOUND)
		rc = dits_error_set(DITS_ERROR, "%s: variant %s vanished after insert", db->where, id);
	return rc;
}

/* Why a guarded variant UPDATE changed nothing: no such variant, or it is ready. */
static int variant_unchanged(dits_metadb *db, const char *id, const char *action)
{
	params p;
	p_init(&p, db);
	p_text(&p, id);
	PGresult *res;
	int rc = run(db, Q_VARIANT_STATUS, &p, &res, NULL, "cannot read variants");
	if (rc)
		return rc;
	if (PQntuples(res) > 0)
		rc = dits_error_set(DITS_ECONFLICT, "variant %s is already ready: cannot %s it", id,
		                    action);
	else
		rc = dits_error_set(DITS_ENOTFOUND, "variant %s does not exist", id);
	PQclear(res);
	return rc;
}

static int variant_update(dits_metadb *db, enum stmt_id q, const params *p, const char *id,
                          const char *action)
{
	if (!uuid_shaped(id))
		return dits_error_set(DITS_ENOTFOUND, "variant %s does not exist", id ? id : "");
	int changes = 0;
	int rc = run(db, q, p, NULL, &changes, "cannot update a variant");
	if (!rc && changes == 0)
		rc = variant_unchanged(db, id, action);
	return rc;
}

static int pg_variant_set_running(dits_metadb *db, const char *id)
{
	params p;
	p_init(&p, db);
	p_text(&p, id);
	p_i64(&p, dits_metadb_now(db));
	return variant_update(db, Q_VARIANT_SET_RUNNING, &p, id, "start");
}

static int pg_variant_fail(dits_metadb *db, const char *id, const char *error)
{
	params p;
	p_init(&p, db);
	p_text(&p, id);
	p_text(&p, error ? error : "failed (no reason given)");
	p_i64(&p, dits_metadb_now(db));
	return variant_update(db, Q_VARIANT_FAIL, &p, id, "fail");
}

static int pg_variant_register(dits_metadb *db, const char *id, const dits_id *manifest,
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
	params p;
	p_init(&p, db);
	p_text(&p, id);
	p_id(&p, manifest);
	p_text(&p, chunk_hash_list_json);
	p_text(&p, facts_json);
	p_text(&p, warnings);
	p_i64(&p, (int64_t)size);
	p_i64(&p, dits_metadb_now(db));
	return variant_update(db, Q_VARIANT_REGISTER, &p, id, "register");
}

static int pg_variant_reset(dits_metadb *db, const char *id)
{
	params p;
	p_init(&p, db);
	p_text(&p, id);
	p_i64(&p, dits_metadb_now(db));
	return variant_update(db, Q_VARIANT_RESET, &p, id, "reset");
}

static int pg_variant_get(dits_metadb *db, const dits_id *parent, const char *type,
                          dits_variant *out)
{
	params p;
	p_init(&p, db);
	p_id(&p, parent);
	p_text(&p, type);
	int rc = query_variant(db, Q_VARIANT_NEWEST, &p, out);
	if (rc == DITS_ENOTFOUND) {
		char hex[DITS_ID_HEXLEN + 1];
		dits_id_hex(hex, parent);
		rc = dits_error_set(DITS_ENOTFOUND, "no %s variant of %.12s", type, hex);
	}
	return rc;
}

static int pg_variant_pick(dits_metadb *db, const dits_id *parent, const char *type,
                           const char *profile, dits_variant *out)
{
	params p;
	p_init(&p, db);
	p_id(&p, parent);
	p_text(&p, type);
	p_text(&p, profile ? profile : "prores_proxy");
	int rc = query_variant(db, Q_VARIANT_PICK, &p, out);
	if (rc == DITS_ENOTFOUND) {
		char hex[DITS_ID_HEXLEN + 1];
		dits_id_hex(hex, parent);
		rc = dits_error_set(DITS_ENOTFOUND, "no ready %s variant of %.12s", type, hex);
	}
	return rc;
}

static int pg_variant_get_by_id(dits_metadb *db, const char *id, dits_variant *out)
{
	int rc = DITS_ENOTFOUND;
	if (uuid_shaped(id)) {
		params p;
		p_init(&p, db);
		p_text(&p, id);
		rc = query_variant(db, Q_VARIANT_BY_ID, &p, out);
	}
	if (rc == DITS_ENOTFOUND)
		rc = dits_error_set(DITS_ENOTFOUND, "variant %s does not exist", id ? id : "");
	return rc;
}

static int pg_variant_list(dits_metadb *db, const dits_id *parent, dits_variant **out,
                           size_t *count)
{
	params p;
	p_init(&p, db);
	p_id(&p, parent);
	PGresult *res;
	int rc = run(db, Q_VARIANT_LIST, &p, &res, NULL, "cannot list");
	if (rc)
		return rc;
	void *arr = NULL;
	if ((rc = read_rows(res, sizeof(dits_variant), read_variant_row, free_variant_row, &arr, count)))
		return rc;
	*out = arr;
	return 0;
}

/* ---- Jobs --------------------------------------------------------------- */

static int read_job(const PGresult *r, int row, dits_job *job)
{
	memset(job, 0, sizeof *job);
	int rc;
	job->id = col_i64(r, row, 0);
	if ((rc = col_copy(r, row, 1, job->kind, sizeof job->kind, "job kind")) ||
	    (rc = col_id(r, row, 2, &job->asset, "job asset_id")) ||
	    (rc = col_dup(r, row, 3, &job->path)) ||
	    (rc = col_copy(r, row, 4, job->target, sizeof job->target, "job target")) ||
	    (rc = col_dup(r, row, 5, &job->recipe)) ||
	    (rc = col_copy(r, row, 7, job->state, sizeof job->state, "job state")) ||
	    (rc = col_copy(r, row, 10, job->lease_owner, sizeof job->lease_owner, "lease owner")) ||
	    (rc = col_dup(r, row, 13, &job->last_error)))
		goto fail;
	if (col(r, row, 6) && (rc = col_id(r, row, 6, &job->recipe_hash, "job recipe_hash")))
		goto fail;
	job->attempts = (int)col_i64(r, row, 8);
	job->max_attempts = (int)col_i64(r, row, 9);
	job->lease_expires = col_i64(r, row, 11);
	job->not_before = col_i64(r, row, 12);
	job->created_at = col_i64(r, row, 14);
	job->updated_at = col_i64(r, row, 15);
	job->progress = col(r, row, 16) ? strtod(col(r, row, 16), NULL) : 0;
	if ((rc = col_dup(r, row, 17, &job->result)))
		goto fail;
	return 0;
fail:
	dits_job_free(job);
	return rc;
}

static int read_job_row(const PGresult *r, int row, void *job)
{
	return read_job(r, row, job);
}

static void free_job_row(void *job)
{
	dits_job_free(job);
}

/* Reads job id (locked FOR UPDATE when lock); DITS_ENOTFOUND (no message) when there is none. */
static int load_job(dits_metadb *db, int64_t id, bool lock, dits_job *out)
{
	memset(out, 0, sizeof *out);
	params p;
	p_init(&p, db);
	p_i64(&p, id);
	PGresult *res;
	int rc = run(db, lock ? Q_JOB_GET_LOCKED : Q_JOB_GET, &p, &res, NULL, "cannot read jobs");
	if (rc)
		return rc;
	rc = PQntuples(res) > 0 ? read_job(res, 0, out) : DITS_ENOTFOUND;
	PQclear(res);
	return rc;
}

static int pg_job_get(dits_metadb *db, int64_t id, dits_job *out)
{
	int rc = load_job(db, id, false, out);
	if (rc == DITS_ENOTFOUND)
		rc = dits_error_set(DITS_ENOTFOUND, "job %lld does not exist", (long long)id);
	return rc;
}

static int pg_job_enqueue(dits_metadb *db, const char *kind, const dits_id *asset,
                          const char *path, const char *target, const char *recipe_json,
                          const dits_id *recipe_hash, int64_t *job_id)
{
	int rc;
	if ((rc = metadb_check_name(kind, sizeof((dits_job *)0)->kind, "job kind")) ||
	    (rc = metadb_check_name(target, sizeof((dits_job *)0)->target, "job target")) ||
	    (rc = check_json(db, recipe_json, NULL, false, "job recipe")))
		return rc;
	dits_id rh;
	metadb_recipe_hash(&rh, recipe_hash, recipe_json);
	/*
	 * Insert unless a live job has the key, else return that job's id. A
	 * live job may finish between the two statements: then insert again.
	 */
	for (int tries = 0; tries < 5; tries++) {
		params p;
		p_init(&p, db);
		p_text(&p, kind);
		p_id(&p, asset);
		p_text(&p, path);
		p_text(&p, target);
		p_text(&p, recipe_json);
		p_id(&p, &rh);
		p_i64(&p, DITS_JOB_MAX_ATTEMPTS);
		p_i64(&p, dits_metadb_now(db));
		PGresult *res;
		if ((rc = run(db, Q_JOB_INSERT, &p, &res, NULL, "cannot queue a job")))
			return rc;
		int64_t id = PQntuples(res) > 0 ? col_i64(res, 0, 0) : 0;
		PQclear(res);
		if (!id) {
			p_init(&p, db);
			p_id(&p, asset);
			p_text(&p, target);
			p_id(&p, &rh);
			if ((rc = run(db, Q_JOB_FIND_LIVE, &p, &res, NULL, "cannot read jobs")))
				return rc;
			id = PQntuples(res) > 0 ? col_i64(res, 0, 0) : 0;
			PQclear(res);
		}
		if (id) {
			if (job_id)
				*job_id = id;
			return 0;
		}
	}
	return dits_error_set(DITS_ELOCKED, "%s: cannot queue a job: its key keeps changing state",
	                      db->where);
}

static int pg_job_claim(dits_metadb *db, const char *owner, int lease_seconds, dits_job *out)
{
	int rc = metadb_check_name(owner, sizeof out->lease_owner, "lease owner");
	if (rc)
		return rc;
	if (lease_seconds < 1)
		return dits_error_set(DITS_EINVALID, "lease of %d seconds is too short", lease_seconds);
	int64_t now = dits_metadb_now(db);
	params p;
	/* Jobs whose worker died on their last attempt are not run again. */
	p_init(&p, db);
	p_i64(&p, now);
	if ((rc = run(db, Q_JOB_BURY_LOST, &p, NULL, NULL, "cannot retire lost jobs")))
		return rc;
	p_init(&p, db);
	p_text(&p, owner);
	p_i64(&p, now + lease_seconds);
	p_i64(&p, now);
	PGresult *res;
	if ((rc = run(db, Q_JOB_TAKE, &p, &res, NULL, "cannot claim a job")))
		return rc;
	if (PQntuples(res) == 0) {
		PQclear(res);
		dits_error_clear();
		return DITS_ENOTFOUND;
	}
	rc = read_job(res, 0, out);
	PQclear(res);
	return rc;
}

static int job_not_held(dits_metadb *db, int64_t id, const char *owner)
{
	dits_job job;
	int rc = load_job(db, id, false, &job);
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

static int pg_job_heartbeat(dits_metadb *db, int64_t id, const char *owner, int lease_seconds)
{
	if (lease_seconds < 1)
		return dits_error_set(DITS_EINVALID, "lease of %d seconds is too short", lease_seconds);
	int64_t now = dits_metadb_now(db);
	params p;
	p_init(&p, db);
	p_i64(&p, id);
	p_text(&p, owner);
	p_i64(&p, now + lease_seconds);
	p_i64(&p, now);
	int changes = 0;
	int rc = run(db, Q_JOB_HEARTBEAT, &p, NULL, &changes, "cannot extend a lease");
	if (!rc && changes == 0)
		rc = job_not_held(db, id, owner);
	return rc;
}

static int pg_job_report(dits_metadb *db, int64_t id, double progress, const char *result)
{
	params p;
	p_init(&p, db);
	p_i64(&p, id);
	snprintf(p.buf[p.n], sizeof p.buf[p.n], "%.6f", progress);
	p.v[p.n] = p.buf[p.n];
	p.n++;
	p_text(&p, result);
	int changes = 0;
	int rc = run(db, Q_JOB_REPORT, &p, NULL, &changes, "cannot record a job's progress");
	if (!rc && changes == 0)
		rc = dits_error_set(DITS_ENOTFOUND, "no job %lld", (long long)id);
	return rc;
}

static int pg_job_complete(dits_metadb *db, int64_t id, const char *owner)
{
	params p;
	p_init(&p, db);
	p_i64(&p, id);
	p_text(&p, owner);
	p_i64(&p, dits_metadb_now(db));
	int changes = 0;
	int rc = run(db, Q_JOB_COMPLETE, &p, NULL, &changes, "cannot complete a job");
	if (!rc && changes == 0)
		rc = job_not_held(db, id, owner);
	return rc;
}

static int pg_job_fail(dits_metadb *db, int64_t id, const char *owner, const char *error,
                       bool permanent)
{
	int rc = tx_begin(db);
	if (rc)
		return rc;
	dits_job job;
	rc = load_job(db, id, true, &job);
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
	params p;
	p_init(&p, db);
	p_i64(&p, id);
	if (dead) {
		p_text(&p, msg);
		p_i64(&p, now);
		rc = run(db, Q_JOB_BURY, &p, NULL, NULL, "cannot record a failed job");
	} else {
		p_i64(&p, now + metadb_backoff_seconds(attempts));
		p_text(&p, msg);
		p_i64(&p, now);
		rc = run(db, Q_JOB_REQUEUE, &p, NULL, NULL, "cannot record a failed job");
	}
	rc = tx_end(db, rc);
	if (!rc && !dead)
		notify(db);
	return rc;
}

static int pg_job_list(dits_metadb *db, const dits_id *asset, const char *state, dits_job **out,
                       size_t *count)
{
	params p;
	p_init(&p, db);
	p_id(&p, asset);
	p_text(&p, state);
	PGresult *res;
	int rc = run(db, Q_JOB_LIST, &p, &res, NULL, "cannot list");
	if (rc)
		return rc;
	void *arr = NULL;
	if ((rc = read_rows(res, sizeof(dits_job), read_job_row, free_job_row, &arr, count)))
		return rc;
	*out = arr;
	return 0;
}

static int pg_job_counts(dits_metadb *db, struct dits_job_counts *out)
{
	params p;
	p_init(&p, db);
	PGresult *res;
	int rc = run(db, Q_JOB_COUNTS, &p, &res, NULL, "cannot count jobs");
	if (rc)
		return rc;
	for (int i = 0; i < PQntuples(res); i++) {
		const char *state = col(res, i, 0);
		int64_t n = col_i64(res, i, 1);
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
	PQclear(res);
	return 0;
}

static int query_i64(dits_metadb *db, enum stmt_id id, int64_t *out)
{
	params p;
	p_init(&p, db);
	PGresult *res;
	int rc = run(db, id, &p, &res, NULL, "cannot count jobs");
	if (rc)
		return rc;
	if (PQntuples(res) < 1 || PQgetisnull(res, 0, 0))
		rc = DITS_ENOTFOUND;
	else
		*out = col_i64(res, 0, 0);
	PQclear(res);
	return rc;
}

static int pg_job_pending(dits_metadb *db, int64_t *n)
{
	return query_i64(db, Q_JOB_PENDING, n);
}

static int pg_job_next_ready(dits_metadb *db, int64_t *when)
{
	int rc = query_i64(db, Q_JOB_NEXT_READY, when);
	if (rc == DITS_ENOTFOUND)
		dits_error_clear();
	return rc;
}

static int pg_job_retry_asset(dits_metadb *db, const dits_id *asset)
{
	params p;
	p_init(&p, db);
	p_id(&p, asset);
	p_i64(&p, dits_metadb_now(db));
	int changes = 0;
	int rc = run(db, Q_JOB_RETRY_ASSET, &p, NULL, &changes, "cannot re-queue jobs");
	if (!rc && changes > 0)
		notify(db);
	return rc;
}

/* Consumes pending notifications; true when one was for this repository. */
static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * The wait of both job_wait operations. The first call LISTENs and returns
 * at once, so the caller claims again and nothing queued between its last
 * claim and the LISTEN is missed. Later calls hand each notification's
 * payload to wanted and return when it says one was wanted, or when
 * timeout_ms has passed.
 */
static int wait_notifies(dits_metadb *db, int timeout_ms, bool (*wanted)(void *ctx, const char *payload),
                         void *ctx)
{
	struct pg_db *pg = PG(db);
	int rc = ensure_conn(db);
	if (rc)
		return rc;
	if (!pg->listening) {
		if ((rc = exec_simple(db, "LISTEN " CHANNEL, "cannot listen for jobs")))
			return rc;
		pg->listening = true;
		return 0;
	}
	int64_t deadline = mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	for (;;) {
		if (!PQconsumeInput(pg->conn))
			return pg_fail(db, NULL, "lost the connection while waiting for jobs");
		bool done = false;
		PGnotify *n;
		while ((n = PQnotifies(pg->conn))) {
			if (wanted(ctx, n->extra ? n->extra : ""))
				done = true;
			PQfreemem(n);
		}
		int64_t left = deadline - mono_ms();
		if (done || left <= 0)
			return 0;
		struct pollfd pfd = { .fd = PQsocket(pg->conn), .events = POLLIN };
		if (pfd.fd < 0)
			return pg_fail(db, NULL, "lost the connection while waiting for jobs");
		int k = poll(&pfd, 1, (int)left);
		if (k < 0 && errno != EINTR)
			return dits_error_errno("%s: poll", db->where);
	}
}

/* A notification for this handle's repository ends the wait. */
static bool is_mine(void *ctx, const char *payload)
{
	return !strcmp(payload, PG((dits_metadb *)ctx)->key);
}

static int pg_job_wait(dits_metadb *db, int timeout_ms)
{
	return wait_notifies(db, timeout_ms, is_mine, db);
}

struct wake_any {
	dits_job_wake_fn on_key;
	void *ctx;
};

/* Any notification ends the wait; each repository key goes to on_key. */
static bool hand_on(void *ctx, const char *payload)
{
	struct wake_any *w = ctx;
	if (*payload)
		w->on_key(w->ctx, payload);
	return true;
}

/*
 * Every repository's notifications, for a process that works for many:
 * the same LISTEN as pg_job_wait(), each payload handed to on_key.
 */
static int pg_job_wait_any(dits_metadb *db, int timeout_ms, dits_job_wake_fn on_key, void *ctx)
{
	struct wake_any w = { on_key, ctx };
	return wait_notifies(db, timeout_ms, hand_on, &w);
}

static const struct dits_metadb_ops pg_ops = {
	.version = DITS_METADB_OPS_VERSION,
	.name = "postgresql",
	.close = pg_close,
	.variant_begin = pg_variant_begin,
	.variant_set_running = pg_variant_set_running,
	.variant_fail = pg_variant_fail,
	.variant_register = pg_variant_register,
	.variant_get = pg_variant_get,
	.variant_pick = pg_variant_pick,
	.variant_get_by_id = pg_variant_get_by_id,
	.variant_list = pg_variant_list,
	.variant_reset = pg_variant_reset,
	.job_enqueue = pg_job_enqueue,
	.job_claim = pg_job_claim,
	.job_heartbeat = pg_job_heartbeat,
	.job_report = pg_job_report,
	.job_complete = pg_job_complete,
	.job_fail = pg_job_fail,
	.job_get = pg_job_get,
	.job_list = pg_job_list,
	.job_counts = pg_job_counts,
	.job_pending = pg_job_pending,
	.job_next_ready = pg_job_next_ready,
	.job_retry_asset = pg_job_retry_asset,
	.job_wait = pg_job_wait,
	.job_wait_any = pg_job_wait_any,
};
