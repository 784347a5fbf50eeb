/*
 * The metadata database: schema creation and versioning, variants (one per
 * parent + type + recipe, registered all at once) and the job queue
 * (idempotent enqueue, claim order, leases that expire, backoff, dead jobs,
 * retry, 4 processes draining 200 jobs with each claimed exactly once, and
 * two processes registering the same ready variant at once).
 *
 * The same assertions run against both backends: SQLite files in a
 * temporary directory, and PostgreSQL when DITS_TEST_PG_URL names a server
 * (tests/pg/pg.sh starts one; the meson test unit-metadb-pg does that).
 * There each "database" of a test is its own repository key in the shared
 * database, and what the API does not show is checked with libpq.
 */
#include <libpq-fe.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "error.h"
#include "fsutil.h"
#include "hash.h"
#include "metadb.h"
#include "metadb_backend.h"

#include "check.h"
#include "util.h"

static char *tmpdir;
static const char *pg_url; /* NULL: SQLite */
static int64_t fake_now = 1700000000;

static int64_t fake_clock(void)
{
	return fake_now;
}

/* A fresh database path in the test's directory. */
static char *db_path(const char *name)
{
	size_t n = strlen(tmpdir) + strlen(name) + 2;
	char *p = malloc(n);
	REQUIRE(p);
	snprintf(p, n, "%s/%s", tmpdir, name);
	return p;
}

/*
 * Opens the test database name on the backend under test; on PostgreSQL
 * its repository key is the path it would have as a file (unique per run).
 */
static int open_named(dits_metadb **db, const char *name)
{
	char *path = db_path(name);
	int rc;
	if (pg_url)
		rc = dits_metadb_open_url(db, pg_url, path);
	else
		rc = dits_metadb_open(db, path);
	free(path);
	return rc;
}

/*
 * Runs SQL straight on the storage of test database name (for what the
 * API cannot do): sqlite_sql on the file, or pg_sql with $1 = its key.
 */
static bool raw_exec(const char *name, const char *sqlite_sql, const char *pg_sql)
{
	char *path = db_path(name);
	bool ok = false;
	if (pg_url) {
		PGconn *c = PQconnectdb(pg_url);
		const char *v[1] = { path };
		PGresult *r = PQstatus(c) == CONNECTION_OK ? PQexecParams(c, pg_sql, 1, NULL, v, NULL, NULL, 0) : NULL;
		ok = r && (PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK);
		if (!ok)
			fprintf(stderr, "raw_exec: %s\n", r ? PQresultErrorMessage(r) : PQerrorMessage(c));
		PQclear(r);
		PQfinish(c);
	} else {
		sqlite3 *h = NULL;
		ok = sqlite3_open(path, &h) == SQLITE_OK &&
		     sqlite3_exec(h, sqlite_sql, NULL, NULL, NULL) == SQLITE_OK;
		sqlite3_close(h);
	}
	free(path);
	return ok;
}

/* One value of a query on PostgreSQL (on url, NULL: the test server); -1 on failure. */
static int64_t pg_int(const char *url, const char *sql)
{
	PGconn *c = PQconnectdb(url ? url : pg_url);
	PGresult *r = PQstatus(c) == CONNECTION_OK ? PQexec(c, sql) : NULL;
	int64_t v = -1;
	if (r && PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
		v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	else if (r && PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK)
		fprintf(stderr, "pg_int: %s\n", PQresultErrorMessage(r));
	PQclear(r);
	PQfinish(c);
	return v;
}

static dits_metadb *open_fresh(const char *name)
{
	dits_metadb *db = NULL;
	CHECK_RC(open_named(&db, name), 0);
	REQUIRE(db);
	dits_metadb_set_clock(db, fake_clock);
	return db;
}

static dits_id make_id(uint8_t seed)
{
	dits_id id;
	dits_hash_buf(&id, &seed, 1);
	return id;
}

/* Runs one-value SQL on the file directly (for what the API does not show). */
static int64_t sql_int(const char *path, const char *sql)
{
	sqlite3 *h = NULL;
	sqlite3_stmt *s = NULL;
	int64_t v = -1;
	if (sqlite3_open(path, &h) == SQLITE_OK && sqlite3_prepare_v2(h, sql, -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(h);
	return v;
}

static bool sql_text_is(const char *path, const char *sql, const char *want)
{
	sqlite3 *h = NULL;
	sqlite3_stmt *s = NULL;
	bool ok = false;
	if (sqlite3_open(path, &h) == SQLITE_OK && sqlite3_prepare_v2(h, sql, -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(s, 0);
		ok = t && !strcmp(t, want);
	}
	sqlite3_finalize(s);
	sqlite3_close(h);
	return ok;
}

/* The schema version as the backend records it. */
static int64_t schema_version(const char *path)
{
	if (pg_url)
		return pg_int(NULL, "SELECT max(version) FROM dits_schema_version");
	return sql_int(path, "PRAGMA user_version");
}

static void test_schema_and_reopen(void)
{
	char *path = db_path("schema.db");
	dits_metadb *db = NULL;
	CHECK_RC(open_named(&db, "schema.db"), 0);
	REQUIRE(db);
	CHECK(!strcmp(dits_metadb_backend(db), pg_url ? "postgresql" : "sqlite"));
	CHECK_EQ_U64(schema_version(path), pg_url ? DITS_METADB_PG_SCHEMA_VERSION : DITS_METADB_SCHEMA_VERSION);
	if (pg_url) {
		CHECK_EQ_U64(pg_int(NULL, "SELECT count(*) FROM pg_class WHERE relname IN "
		                          "('asset_variants', 'jobs', 'jobs_one_live')"),
		             3);
		/* Ids are 32-byte BYTEA, the variant id a UUID, the chunk list JSONB. */
		CHECK_EQ_U64(pg_int(NULL, "SELECT count(*) FROM information_schema.columns WHERE "
		                          "table_name = 'asset_variants' AND ("
		                          "(column_name = 'id' AND data_type = 'uuid') OR "
		                          "(column_name = 'parent_asset_id' AND data_type = 'bytea') OR "
		                          "(column_name = 'chunk_hash_list' AND data_type = 'jsonb'))"),
		             3);
	} else {
		CHECK(sql_text_is(path, "PRAGMA journal_mode", "wal"));
		CHECK_EQ_U64(sql_int(path, "SELECT count(*) FROM sqlite_master WHERE name IN "
		                           "('asset_variants', 'jobs', 'jobs_one_live')"),
		             3);
	}

	dits_id parent = make_id(1);
	dits_variant v;
	CHECK_RC(dits_variant_begin(db, &parent, "proxy_1080p", "{\"codec\":\"prores_ks\"}", NULL, &v),
	         0);
	int64_t job = 0;
	CHECK_RC(dits_job_enqueue(db, "TRANSCODE", &parent, "a.mov", "proxy_1080p", NULL, NULL, &job), 0);
	dits_metadb_close(db);

	/* Reopening finds the same rows and does not touch the schema. */
	CHECK_RC(open_named(&db, "schema.db"), 0);
	REQUIRE(db);
	dits_variant w;
	CHECK_RC(dits_variant_get_by_id(db, v.id, &w), 0);
	CHECK(!strcmp(w.type, "proxy_1080p") && dits_id_eq(&w.parent, &parent));
	dits_job j;
	CHECK_RC(dits_job_get(db, job, &j), 0);
	CHECK(!strcmp(j.state, "queued") && j.path && !strcmp(j.path, "a.mov"));
	dits_job_free(&j);
	dits_variant_free(&w);
	dits_variant_free(&v);
	dits_metadb_close(db);
	CHECK_EQ_U64(schema_version(path), pg_url ? DITS_METADB_PG_SCHEMA_VERSION : DITS_METADB_SCHEMA_VERSION);
	free(path);
}

/*
 * PostgreSQL: a database whose dits_schema_version says 99 is refused, and
 * left as it was; a URL that names no server fails cleanly.
 */
static void test_pg_newer_version_refused(void)
{
	CHECK_EQ_U64(pg_int(NULL, "SELECT count(*) FROM (SELECT 1) x"), 1);
	PGconn *c = PQconnectdb(pg_url);
	PGresult *r = PQexec(c, "CREATE DATABASE dits_newer");
	REQUIRE(PQresultStatus(r) == PGRES_COMMAND_OK);
	PQclear(r);
	PQfinish(c);
	char *url = NULL;
	const char *slash = strrchr(pg_url, '/');
	REQUIRE(slash);
	size_t n = (size_t)(slash - pg_url);
	url = malloc(n + 16);
	REQUIRE(url);
	snprintf(url, n + 16, "%.*s/dits_newer", (int)n, pg_url);

	dits_metadb *db = NULL;
	CHECK_RC(dits_metadb_open_url(&db, url, "k"), 0);
	dits_metadb_close(db);
	CHECK_EQ_U64(pg_int(url, "SELECT max(version) FROM dits_schema_version"),
	             DITS_METADB_PG_SCHEMA_VERSION);
	CHECK_EQ_U64(pg_int(url, "INSERT INTO dits_schema_version VALUES (99, 0) RETURNING version"), 99);
	db = (dits_metadb *)1;
	CHECK_RC(dits_metadb_open_url(&db, url, "k"), DITS_EVERSION);
	CHECK(db == NULL);
	CHECK(strstr(dits_error_last(), "newer"));
	CHECK(strstr(dits_error_last(), "99"));
	CHECK(!strchr(dits_error_last(), '\n')); /* one line */
	CHECK_EQ_U64(pg_int(url, "SELECT max(version) FROM dits_schema_version"), 99);
	free(url);

	/* Nobody listens there (port 1), and a password never shows in messages. */
	CHECK(dits_metadb_open_url(&db, "postgres://u:secret@127.0.0.1:1/x", "k") < 0);
	CHECK(db == NULL);
	CHECK(strstr(dits_error_last(), "127.0.0.1"));
	CHECK(!strstr(dits_error_last(), "secret"));
	/* Not a URL of any backend. */
	CHECK_RC(dits_metadb_open_url(&db, "mysql://x/y", "k"), DITS_EINVALID);
}

static void test_newer_version_refused(void)
{
	char *path = db_path("newer.db");
	dits_metadb *db = NULL;
	CHECK_RC(dits_metadb_open(&db, path), 0);
	dits_metadb_close(db);
	CHECK_EQ_U64(sql_int(path, "PRAGMA user_version = 99"), (uint64_t)-1); /* no row */
	CHECK_EQ_U64(sql_int(path, "PRAGMA user_version"), 99);
	char *wal = dits_strfmt("%s-wal", path);
	REQUIRE(wal);
	size_t before_len = 0, after_len = 0, wal_before_len = 0, wal_after_len = 0;
	uint8_t *before = util_read_file(path, &before_len);
	REQUIRE(before && before_len > 0);
	uint8_t *wal_before = util_read_file(wal, &wal_before_len); /* NULL: none */

	db = (dits_metadb *)1;
	CHECK_RC(dits_metadb_open(&db, path), DITS_EVERSION);
	CHECK(db == NULL);
	CHECK(strstr(dits_error_last(), "newer"));
	CHECK(strstr(dits_error_last(), "99"));
	CHECK(strstr(dits_error_last(), path));
	CHECK(!strchr(dits_error_last(), '\n')); /* one line */
	/* untouched, byte for byte: the file and its write-ahead log */
	uint8_t *after = util_read_file(path, &after_len);
	CHECK(after && after_len == before_len && !memcmp(before, after, before_len));
	uint8_t *wal_after = util_read_file(wal, &wal_after_len);
	CHECK(!wal_before == !wal_after && wal_after_len == wal_before_len &&
	      (!wal_after || !memcmp(wal_before, wal_after, wal_before_len)));
	free(before);
	free(after);
	free(wal_before);
	free(wal_after);
	free(wal);
	CHECK_EQ_U64(sql_int(path, "PRAGMA user_version"), 99);
	free(path);

	/* Not a database at all. */
	path = db_path("garbage.db");
	char junk[4096];
	memset(junk, 'x', sizeof junk);
	REQUIRE(util_write_file(path, junk, sizeof junk) == 0);
	CHECK_RC(dits_metadb_open(&db, path), DITS_ECORRUPT);
	CHECK(db == NULL);
	free(path);

	/* A directory that does not exist. */
	path = db_path("no/such/dir/dits.db");
	CHECK(dits_metadb_open(&db, path) < 0);
	CHECK(db == NULL);
	free(path);
}

/* SQLite: a version 1 database (jobs without progress and result) is migrated, its jobs kept. */
static void test_sqlite_upgrade_from_1(void)
{
	dits_metadb *db = open_fresh("v1.db");
	dits_id a = make_id(95);
	int64_t id;
	CHECK_RC(dits_job_enqueue(db, "TRANSCODE", &a, "a.mov", "proxy_1080p", NULL, NULL, &id), 0);
	dits_metadb_close(db);
	/* back to version 1's shape */
	CHECK(raw_exec("v1.db", "ALTER TABLE jobs DROP COLUMN progress; ALTER TABLE jobs DROP COLUMN result;"
	                        "PRAGMA user_version = 1", NULL));
	char *path = db_path("v1.db");
	CHECK_EQ_U64(sql_int(path, "PRAGMA user_version"), 1);
	db = open_fresh("v1.db");
	CHECK_EQ_U64(sql_int(path, "PRAGMA user_version"), DITS_METADB_SCHEMA_VERSION);
	dits_job j;
	CHECK_RC(dits_job_get(db, id, &j), 0);
	CHECK(j.progress == 0 && !j.result && !strcmp(j.path, "a.mov"));
	dits_job_free(&j);
	CHECK_RC(dits_job_report(db, id, 0.5, "{}"), 0);
	dits_metadb_close(db);
	free(path);
}

static bool is_uuid_v4(const char *s)
{
	if (strlen(s) != 36)
		return false;
	for (int i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (!strchr("0123456789abcdef", s[i])) {
			return false;
		}
	}
	return s[14] == '4' && strchr("89ab", s[19]);
}

static void test_variants(void)
{
	dits_metadb *db = open_fresh("variants.db");
	dits_id parent = make_id(2), other = make_id(3), rh1 = make_id(4), rh2 = make_id(5);
	const char *recipe = "{\"codec\":\"prores_ks\",\"profile\":0}";

	/* Same parent + type + recipe hash: the same row, inserted once. */
	dits_variant a, b, c;
	CHECK_RC(dits_variant_begin(db, &parent, "proxy_1080p", recipe, &rh1, &a), 0);
	CHECK(is_uuid_v4(a.id));
	CHECK(!strcmp(a.status, "queued"));
	CHECK(dits_id_eq(&a.recipe_hash, &rh1) && !a.has_manifest && !a.chunk_hash_list);
	CHECK(a.recipe && !strcmp(a.recipe, recipe));
	CHECK_EQ_U64(a.created_at, fake_now);
	fake_now += 10;
	CHECK_RC(dits_variant_begin(db, &parent, "proxy_1080p", recipe, &rh1, &b), 0);
	CHECK(!strcmp(a.id, b.id));
	CHECK_EQ_U64(b.created_at, a.created_at);
	dits_variant_free(&b);
	/* Another recipe or another type: another row. */
	CHECK_RC(dits_variant_begin(db, &parent, "proxy_1080p", recipe, &rh2, &b), 0);
	CHECK(strcmp(a.id, b.id) != 0 && is_uuid_v4(b.id));
	CHECK_RC(dits_variant_begin(db, &parent, "thumbnail", NULL, NULL, &c), 0);
	CHECK(strcmp(c.id, a.id) && strcmp(c.id, b.id));
	dits_id empty_hash;
	dits_hash_buf(&empty_hash, "", 0);
	CHECK(dits_id_eq(&c.recipe_hash, &empty_hash));
	dits_variant_free(&c);
	/* A NULL recipe hash is the recipe's BLAKE3, so it deduplicates too. */
	dits_variant d1, d2;
	CHECK_RC(dits_variant_begin(db, &other, "sprite", recipe, NULL, &d1), 0);
	CHECK_RC(dits_variant_begin(db, &other, "sprite", recipe, NULL, &d2), 0);
	CHECK(!strcmp(d1.id, d2.id));
	dits_id want_rh;
	dits_hash_buf(&want_rh, recipe, strlen(recipe));
	CHECK(dits_id_eq(&d1.recipe_hash, &want_rh));
	dits_variant_free(&d1);
	dits_variant_free(&d2);

	/* Bad arguments. */
	CHECK_RC(dits_variant_begin(db, &parent, "proxy_4k", NULL, NULL, &c), DITS_EINVALID);
	CHECK_RC(dits_variant_begin(db, &parent, "proxy_1080p", "{not json", NULL, &c), DITS_EINVALID);
	CHECK(!dits_variant_type_valid("") && dits_variant_type_valid("sprite_vtt"));

	/* Register sets every field at once. */
	CHECK_RC(dits_variant_set_running(db, a.id), 0);
	dits_variant r;
	CHECK_RC(dits_variant_get_by_id(db, a.id, &r), 0);
	CHECK(!strcmp(r.status, "running"));
	dits_variant_free(&r);
	/* A chunk list that is not an array changes nothing. */
	dits_id man = make_id(6);
	CHECK_RC(dits_variant_register(db, a.id, &man, "{\"a\":1}", NULL, NULL, 10), DITS_EINVALID);
	CHECK_RC(dits_variant_register(db, a.id, &man, NULL, NULL, NULL, 10), DITS_EINVALID);
	CHECK_RC(dits_variant_register(db, a.id, &man, "[]", "{bad", NULL, 10), DITS_EINVALID);
	CHECK_RC(dits_variant_get_by_id(db, a.id, &r), 0);
	CHECK(!strcmp(r.status, "running") && !r.has_manifest && !r.chunk_hash_list && !r.facts);
	dits_variant_free(&r);

	fake_now += 5;
	const char *chunks = "[\"aa\",\"bb\"]";
	const char *facts = "{\"width\":1920,\"height\":1080,\"rate\":\"24000/1001\"}";
	CHECK_RC(dits_variant_register(db, a.id, &man, chunks, facts, "possible +/-1 frame drift",
	                               123456789012ULL),
	         0);
	CHECK_RC(dits_variant_get_by_id(db, a.id, &r), 0);
	CHECK(!strcmp(r.status, "ready"));
	CHECK(r.has_manifest && dits_id_eq(&r.manifest, &man));
	CHECK(r.chunk_hash_list && !strcmp(r.chunk_hash_list, chunks));
	CHECK(r.facts && !strcmp(r.facts, facts));
	CHECK(r.warnings && !strcmp(r.warnings, "possible +/-1 frame drift"));
	CHECK_EQ_U64(r.size, 123456789012ULL);
	CHECK(r.error == NULL);
	CHECK(dits_id_eq(&r.parent, &parent) && dits_id_eq(&r.recipe_hash, &rh1));
	CHECK(!strcmp(r.type, "proxy_1080p") && r.recipe && !strcmp(r.recipe, recipe));
	CHECK_EQ_U64(r.updated_at, fake_now);
	CHECK(r.created_at < r.updated_at);
	dits_variant_free(&r);
	/* begin on a ready variant returns it: nothing to generate. */
	CHECK_RC(dits_variant_begin(db, &parent, "proxy_1080p", recipe, &rh1, &r), 0);
	CHECK(!strcmp(r.id, a.id) && !strcmp(r.status, "ready"));
	dits_variant_free(&r);
	/* A ready variant is final. */
	CHECK_RC(dits_variant_register(db, a.id, &man, chunks, facts, NULL, 1), DITS_ECONFLICT);
	CHECK_RC(dits_variant_fail(db, a.id, "late"), DITS_ECONFLICT);
	CHECK_RC(dits_variant_set_running(db, a.id), DITS_ECONFLICT);
	CHECK_RC(dits_variant_reset(db, a.id), DITS_ECONFLICT);
	CHECK_RC(dits_variant_set_running(db, "00000000-0000-4000-8000-000000000000"), DITS_ENOTFOUND);
	CHECK_RC(dits_variant_get_by_id(db, "nope", &r), DITS_ENOTFOUND);

	/* Fail stores the error; reset puts it back to queued. */
	CHECK_RC(dits_variant_set_running(db, b.id), 0);
	CHECK_RC(dits_variant_fail(db, b.id, "frame count 47 != 48"), 0);
	CHECK_RC(dits_variant_get_by_id(db, b.id, &r), 0);
	CHECK(!strcmp(r.status, "failed") && r.error && !strcmp(r.error, "frame count 47 != 48"));
	CHECK(!r.has_manifest && !r.chunk_hash_list);
	dits_variant_free(&r);
	CHECK_RC(dits_variant_begin(db, &parent, "proxy_1080p", recipe, &rh2, &r), 0);
	CHECK(!strcmp(r.status, "failed")); /* stays failed until reset */
	dits_variant_free(&r);
	CHECK_RC(dits_variant_reset(db, b.id), 0);
	CHECK_RC(dits_variant_get_by_id(db, b.id, &r), 0);
	CHECK(!strcmp(r.status, "queued") && r.error == NULL);
	dits_variant_free(&r);

	/* get: the newest row of the type, whatever the recipe. */
	CHECK_RC(dits_variant_get(db, &parent, "proxy_1080p", &r), 0);
	CHECK(!strcmp(r.id, b.id));
	dits_variant_free(&r);
	CHECK_RC(dits_variant_get(db, &parent, "preview_webm", &r), DITS_ENOTFOUND);
	CHECK(strstr(dits_error_last(), "preview_webm"));

	/* list */
	dits_variant *list;
	size_t n;
	CHECK_RC(dits_variant_list(db, &parent, &list, &n), 0);
	CHECK_EQ_U64(n, 3);
	if (n == 3)
		CHECK(!strcmp(list[0].type, "proxy_1080p") && !strcmp(list[2].type, "thumbnail"));
	dits_variant_list_free(list, n);
	CHECK_RC(dits_variant_list(db, NULL, &list, &n), 0);
	CHECK_EQ_U64(n, 4);
	dits_variant_list_free(list, n);
	dits_id none = make_id(99);
	CHECK_RC(dits_variant_list(db, &none, &list, &n), 0);
	CHECK(n == 0 && list == NULL);

	dits_variant_free(&a);
	dits_variant_free(&b);
	dits_metadb_close(db);
}

static void test_enqueue_idempotent(void)
{
	dits_metadb *db = open_fresh("enqueue.db");
	dits_id asset = make_id(10), rh = make_id(11), rh2 = make_id(12);
	int64_t id1 = 0, id2 = 0, id3 = 0;
	CHECK_RC(dits_job_enqueue(db, "TRANSCODE", &asset, "clip.mov", "proxy_1080p", "{}", &rh, &id1), 0);
	CHECK_RC(dits_job_enqueue(db, "TRANSCODE", &asset, "other/path.mov", "proxy_1080p", "{}", &rh, &id2),
	         0);
	CHECK(id1 > 0 && id1 == id2);
	CHECK_RC(dits_job_enqueue(db, "TRANSCODE", &asset, NULL, "proxy_1080p", NULL, &rh, NULL), 0);
	int64_t pending = -1;
	CHECK_RC(dits_job_pending(db, &pending), 0);
	CHECK_EQ_U64(pending, 1);
	/* A different target or recipe is another job. */
	CHECK_RC(dits_job_enqueue(db, "TRANSCODE", &asset, "clip.mov", "thumbnail", "{}", &rh, &id3), 0);
	CHECK(id3 != id1);
	CHECK_RC(dits_job_enqueue(db, "TRANSCODE", &asset, "clip.mov", "proxy_1080p", "{}", &rh2, &id3), 0);
	CHECK(id3 != id1);
	CHECK_RC(dits_job_pending(db, &pending), 0);
	CHECK_EQ_U64(pending, 3);

	/* Still one job while it runs; a new one once it is done. */
	dits_job j;
	CHECK_RC(dits_job_claim(db, "w1", 60, &j), 0);
	CHECK_EQ_U64(j.id, id1);
	CHECK_RC(dits_job_enqueue(db, "TRANSCODE", &asset, "clip.mov", "proxy_1080p", "{}", &rh, &id2), 0);
	CHECK_EQ_U64(id2, id1);
	CHECK_RC(dits_job_complete(db, j.id, "w1"), 0);
	dits_job_free(&j);
	CHECK_RC(dits_job_enqueue(db, "TRANSCODE", &asset, "clip.mov", "proxy_1080p", "{}", &rh, &id2), 0);
	CHECK(id2 != id1 && id2 > id3);

	/* Bad arguments. */
	char longname[64];
	memset(longname, 'k', sizeof longname - 1);
	longname[sizeof longname - 1] = '\0';
	CHECK_RC(dits_job_enqueue(db, "", &asset, NULL, "proxy_1080p", NULL, NULL, NULL), DITS_EINVALID);
	CHECK_RC(dits_job_enqueue(db, longname, &asset, NULL, "proxy_1080p", NULL, NULL, NULL), DITS_EINVALID);
	CHECK_RC(dits_job_enqueue(db, "TRANSCODE", &asset, NULL, longname, NULL, NULL, NULL), DITS_EINVALID);
	CHECK_RC(dits_job_enqueue(db, "TRANSCODE", &asset, NULL, "proxy_1080p", "[", NULL, NULL),
	         DITS_EINVALID);
	dits_metadb_close(db);
}

static void test_claim_order_and_empty(void)
{
	dits_metadb *db = open_fresh("claim.db");
	dits_job j;
	CHECK_RC(dits_job_claim(db, "w1", 60, &j), DITS_ENOTFOUND);
	int64_t when;
	CHECK_RC(dits_job_next_ready(db, &when), DITS_ENOTFOUND);

	int64_t ids[3];
	for (int i = 0; i < 3; i++) {
		dits_id a = make_id((uint8_t)(20 + i));
		CHECK_RC(dits_job_enqueue(db, "TRANSCODE", &a, NULL, "proxy_1080p", NULL, NULL, &ids[i]), 0);
	}
	CHECK_RC(dits_job_next_ready(db, &when), 0);
	CHECK_EQ_U64(when, 0);
	for (int i = 0; i < 3; i++) {
		CHECK_RC(dits_job_claim(db, "w1", 60, &j), 0);
		CHECK_EQ_U64(j.id, ids[i]);
		CHECK(!strcmp(j.state, "running") && !strcmp(j.lease_owner, "w1"));
		CHECK_EQ_U64(j.attempts, 1);
		CHECK_EQ_U64(j.max_attempts, DITS_JOB_MAX_ATTEMPTS);
		CHECK_EQ_U64(j.lease_expires, fake_now + 60);
		CHECK(!strcmp(j.kind, "TRANSCODE") && !strcmp(j.target, "proxy_1080p"));
		dits_job_free(&j);
	}
	CHECK_RC(dits_job_claim(db, "w1", 60, &j), DITS_ENOTFOUND);
	CHECK_RC(dits_job_next_ready(db, &when), 0);
	CHECK_EQ_U64(when, fake_now + 61);
	struct dits_job_counts c;
	CHECK_RC(dits_job_counts(db, &c), 0);
	CHECK(c.queued == 0 && c.running == 3 && c.done == 0 && c.dead == 0);
	for (int i = 0; i < 3; i++)
		CHECK_RC(dits_job_complete(db, ids[i], "w1"), 0);
	CHECK_RC(dits_job_counts(db, &c), 0);
	CHECK(c.done == 3 && c.running == 0);
	CHECK_RC(dits_job_complete(db, ids[0], "w1"), DITS_ECONFLICT); /* already done */
	CHECK_RC(dits_job_complete(db, 9999, "w1"), DITS_ENOTFOUND);

	/* Only a job whose not_before lies in the future: nothing to claim. */
	dits_id a = make_id(30);
	int64_t id;
	CHECK_RC(dits_job_enqueue(db, "TRANSCODE", &a, NULL, "proxy_1080p", NULL, NULL, &id), 0);
	CHECK_RC(dits_job_claim(db, "w1", 60, &j), 0);
	dits_job_free(&j);
	CHECK_RC(dits_job_fail(db, id, "w1", "decoder hiccup", false), 0);
	CHECK_RC(dits_job_claim(db, "w1", 60, &j), DITS_ENOTFOUND);
	CHECK_RC(dits_job_next_ready(db, &when), 0);
	CHECK_EQ_U64(when, fake_now + 2);
	fake_now += 1;
	CHECK_RC(dits_job_claim(db, "w1", 60, &j), DITS_ENOTFOUND);
	fake_now += 1;
	CHECK_RC(dits_job_claim(db, "w1", 60, &j), 0);
	CHECK_EQ_U64(j.id, id);
	dits_job_free(&j);

	CHECK_RC(dits_job_claim(db, "", 60, &j), DITS_EINVALID);
	CHECK_RC(dits_job_claim(db, "w1", 0, &j), DITS_EINVALID);
	dits_metadb_close(db);
}

static void test_lease_expiry(void)
{
	dits_metadb *db = open_fresh("lease.db");
	dits_id a = make_id(40);
	int64_t id;
	CHECK_RC(dits_job_enqueue(db, "TRANSCODE", &a, NULL, "proxy_1080p", NULL, NULL, &id), 0);
	dits_job j;
	CHECK_RC(dits_job_claim(db, "worker-A", 30, &j), 0);
	dits_job_free(&j);

	/* Heartbeats keep the lease. */
	fake_now += 20;
	CHECK_RC(dits_job_heartbeat(db, id, "worker-A", 30), 0);
	fake_now += 20; /* 40 s after the claim, 20 after the heartbeat */
	CHECK_RC(dits_job_claim(db, "worker-B", 30, &j), DITS_ENOTFOUND);
	/* Expired but not yet claimed by anyone: A still holds it. */
	fake_now += 11;
	CHECK_RC(dits_job_heartbeat(db, id, "worker-A", 30), 0);
	CHECK_RC(dits_job_heartbeat(db, id, "worker-B", 30), DITS_ECONFLICT);

	/* A stops (kill -9): after expiry B claims it. */
	fake_now += 30; /* lease_expires == now: not yet */
	CHECK_RC(dits_job_claim(db, "worker-B", 30, &j), DITS_ENOTFOUND);
	fake_now += 1;
	CHECK_RC(dits_job_claim(db, "worker-B", 30, &j), 0);
	CHECK_EQ_U64(j.id, id);
	CHECK_EQ_U64(j.attempts, 2);
	CHECK(!strcmp(j.lease_owner, "worker-B"));
	dits_job_free(&j);

	/* A comes back: its lease is gone. */
	CHECK_RC(dits_job_heartbeat(db, id, "worker-A", 30), DITS_ECONFLICT);
	CHECK(strstr(dits_error_last(), "worker-B"));
	CHECK_RC(dits_job_complete(db, id, "worker-A"), DITS_ECONFLICT);
	CHECK_RC(dits_job_fail(db, id, "worker-A", "boom", false), DITS_ECONFLICT);
	CHECK_RC(dits_job_get(db, id, &j), 0);
	CHECK(!strcmp(j.state, "running") && !strcmp(j.lease_owner, "worker-B") && !j.last_error);
	dits_job_free(&j);
	CHECK_RC(dits_job_heartbeat(db, id, "worker-B", 30), 0);
	CHECK_RC(dits_job_complete(db, id, "worker-B"), 0);
	CHECK_RC(dits_job_get(db, id, &j), 0);
	CHECK(!strcmp(j.state, "done"));
	dits_job_free(&j);
	CHECK_RC(dits_job_heartbeat(db, id, "worker-B", 30), DITS_ECONFLICT);
	CHECK_RC(dits_job_heartbeat(db, 12345, "worker-B", 30), DITS_ENOTFOUND);

	/* A job whose worker dies on every attempt ends dead, not in a loop. */
	dits_id b = make_id(41);
	CHECK_RC(dits_job_enqueue(db, "TRANSCODE", &b, NULL, "proxy_1080p", NULL, NULL, &id), 0);
	for (int i = 1; i <= DITS_JOB_MAX_ATTEMPTS; i++) {
		CHECK_RC(dits_job_claim(db, "crashy", 10, &j), 0);
		CHECK_EQ_U64(j.attempts, i);
		dits_job_free(&j);
		fake_now += 11;
	}
	CHECK_RC(dits_job_claim(db, "crashy", 10, &j), DITS_ENOTFOUND);
	CHECK_RC(dits_job_get(db, id, &j), 0);
	CHECK(!strcmp(j.state, "dead"));
	CHECK(j.last_error && strstr(j.last_error, "lost its lease"));
	dits_job_free(&j);
	dits_metadb_close(db);
}

/*
 * A worker's report (progress, result) is seen by another handle on the
 * same database, a NULL result keeps the last one, and the result stays
 * through a failed attempt so the next claim sees it.
 */
static void test_job_report(void)
{
	dits_metadb *db = open_fresh("report.db"), *other = open_fresh("report.db");
	dits_id a = make_id(45);
	int64_t id;
	CHECK_RC(dits_job_enqueue(db, "RENDER", &a, "renders/x.mov", "render", "{}", NULL, &id), 0);
	dits_job j;
	CHECK_RC(dits_job_get(other, id, &j), 0);
	CHECK(j.progress == 0 && !j.result);
	dits_job_free(&j);
	CHECK_RC(dits_job_claim(db, "worker-A", 30, &j), 0);
	CHECK(!j.result);
	dits_job_free(&j);
	CHECK_RC(dits_job_report(db, id, 0.25, NULL), 0);
	CHECK_RC(dits_job_get(other, id, &j), 0);
	CHECK(j.progress > 0.2499 && j.progress < 0.2501 && !j.result && !strcmp(j.state, "running"));
	dits_job_free(&j);
	CHECK_RC(dits_job_report(db, id, 1, "{\"commit\": \"abc\"}"), 0);
	CHECK_RC(dits_job_report(db, id, 1, NULL), 0);
	CHECK_RC(dits_job_get(other, id, &j), 0);
	CHECK(j.progress == 1 && j.result && strstr(j.result, "\"abc\""));
	dits_job_free(&j);
	/* the attempt dies after its result: the next claim sees what it made */
	CHECK_RC(dits_job_fail(db, id, "worker-A", "lost", false), 0);
	fake_now += 3600;
	CHECK_RC(dits_job_claim(other, "worker-B", 30, &j), 0);
	CHECK_EQ_U64(j.id, id);
	CHECK(j.result && strstr(j.result, "\"abc\""));
	dits_job_free(&j);
	CHECK_RC(dits_job_report(db, id, 1.5, NULL), DITS_EINVALID);
	CHECK(strstr(dits_error_last(), "between 0 and 1"));
	CHECK_RC(dits_job_report(db, id, -0.1, NULL), DITS_EINVALID);
	CHECK_RC(dits_job_report(db, 99999, 0.5, NULL), DITS_ENOTFOUND);
	dits_metadb_close(other);
	dits_metadb_close(db);
}

static void test_fail_backoff_dead_retry(void)
{
	dits_metadb *db = open_fresh("fail.db");
	dits_id a = make_id(50);
	int64_t id;
	CHECK_RC(dits_job_enqueue(db, "TRANSCODE", &a, "x.mov", "proxy_1080p", NULL, NULL, &id), 0);
	dits_job j;
	int64_t expect_backoff[] = { 2, 4 };
	for (int attempt = 1; attempt <= 3; attempt++) {
		CHECK_RC(dits_job_claim(db, "w", 60, &j), 0);
		CHECK_EQ_U64(j.attempts, attempt);
		dits_job_free(&j);
		char msg[64];
		snprintf(msg, sizeof msg, "attempt %d failed", attempt);
		CHECK_RC(dits_job_fail(db, id, "w", msg, false), 0);
		CHECK_RC(dits_job_get(db, id, &j), 0);
		CHECK(j.last_error && !strcmp(j.last_error, msg));
		if (attempt < 3) {
			CHECK(!strcmp(j.state, "queued"));
			CHECK_EQ_U64(j.not_before, fake_now + expect_backoff[attempt - 1]);
			CHECK(j.lease_owner[0] == '\0');
			fake_now = j.not_before;
		} else {
			CHECK(!strcmp(j.state, "dead"));
		}
		dits_job_free(&j);
	}
	struct dits_job_counts c;
	CHECK_RC(dits_job_counts(db, &c), 0);
	CHECK(c.dead == 1 && c.queued == 0 && c.running == 0);
	fake_now += 1000;
	CHECK_RC(dits_job_claim(db, "w", 60, &j), DITS_ENOTFOUND);
	int64_t pending;
	CHECK_RC(dits_job_pending(db, &pending), 0);
	CHECK_EQ_U64(pending, 0);

	/* A permanent failure is dead at once. */
	dits_id b = make_id(51);
	int64_t idb;
	CHECK_RC(dits_job_enqueue(db, "TRANSCODE", &b, "y.txt", "proxy_1080p", NULL, NULL, &idb), 0);
	CHECK_RC(dits_job_claim(db, "w", 60, &j), 0);
	dits_job_free(&j);
	CHECK_RC(dits_job_fail(db, idb, "w", "not a video file", true), 0);
	CHECK_RC(dits_job_get(db, idb, &j), 0);
	CHECK(!strcmp(j.state, "dead") && j.attempts == 1 && !strcmp(j.last_error, "not a video file"));
	dits_job_free(&j);

	/* The list shows both; filtered by state and asset. */
	dits_job *list;
	size_t n;
	CHECK_RC(dits_job_list(db, NULL, "dead", &list, &n), 0);
	CHECK_EQ_U64(n, 2);
	dits_job_list_free(list, n);
	CHECK_RC(dits_job_list(db, &a, NULL, &list, &n), 0);
	CHECK(n == 1 && list[0].id == id && !strcmp(list[0].path, "x.mov"));
	dits_job_list_free(list, n);

	/* retry_asset re-queues the dead job of that asset only. */
	CHECK_RC(dits_job_retry_asset(db, &a), 0);
	CHECK_RC(dits_job_get(db, id, &j), 0);
	CHECK(!strcmp(j.state, "queued") && j.attempts == 0 && j.not_before == 0);
	dits_job_free(&j);
	CHECK_RC(dits_job_get(db, idb, &j), 0);
	CHECK(!strcmp(j.state, "dead"));
	dits_job_free(&j);
	CHECK_RC(dits_job_claim(db, "w", 60, &j), 0);
	CHECK(j.id == id && j.attempts == 1);
	dits_job_free(&j);
	CHECK_RC(dits_job_complete(db, id, "w"), 0);
	CHECK_RC(dits_job_retry_asset(db, &a), 0); /* nothing dead: no change */
	CHECK_RC(dits_job_get(db, id, &j), 0);
	CHECK(!strcmp(j.state, "done"));
	dits_job_free(&j);

	/* A dead job is not revived next to a live one with the same key. */
	int64_t idb2;
	CHECK_RC(dits_job_enqueue(db, "TRANSCODE", &b, "y.txt", "proxy_1080p", NULL, NULL, &idb2), 0);
	CHECK(idb2 != idb);
	CHECK_RC(dits_job_retry_asset(db, &b), 0);
	CHECK_RC(dits_job_get(db, idb, &j), 0);
	CHECK(!strcmp(j.state, "dead"));
	dits_job_free(&j);
	CHECK_RC(dits_job_pending(db, &pending), 0);
	CHECK_EQ_U64(pending, 1);
	dits_metadb_close(db);

	/* The backoff is capped. */
	db = open_fresh("backoff.db");
	dits_id d = make_id(52);
	CHECK_RC(dits_job_enqueue(db, "TRANSCODE", &d, NULL, "proxy_1080p", NULL, NULL, &id), 0);
	REQUIRE(raw_exec("backoff.db", "UPDATE jobs SET max_attempts = 20",
	                 "UPDATE jobs SET max_attempts = 20 WHERE repo = $1"));
	for (int attempt = 1; attempt <= 10; attempt++) {
		CHECK_RC(dits_job_claim(db, "w", 60, &j), 0);
		dits_job_free(&j);
		CHECK_RC(dits_job_fail(db, id, "w", "again", false), 0);
		CHECK_RC(dits_job_get(db, id, &j), 0);
		int64_t want = (int64_t)1 << attempt;
		if (want > DITS_JOB_BACKOFF_MAX)
			want = DITS_JOB_BACKOFF_MAX;
		CHECK_EQ_U64(j.not_before - fake_now, want);
		fake_now = j.not_before;
		dits_job_free(&j);
	}
	dits_metadb_close(db);
}

static void test_test_now_env(void)
{
	setenv("DITS_TEST_NOW", "1234567", 1);
	dits_metadb *db = NULL;
	CHECK_RC(open_named(&db, "env.db"), 0);
	REQUIRE(db);
	CHECK_EQ_U64(dits_metadb_now(db), 1234567);
	dits_metadb_set_clock(db, fake_clock);
	CHECK_EQ_U64(dits_metadb_now(db), fake_now);
	dits_metadb_set_clock(db, NULL);
	CHECK_EQ_U64(dits_metadb_now(db), 1234567);
	dits_metadb_close(db);
	unsetenv("DITS_TEST_NOW");
	CHECK_RC(open_named(&db, "env.db"), 0);
	REQUIRE(db);
	int64_t t = (int64_t)time(NULL);
	CHECK(dits_metadb_now(db) >= t - 1 && dits_metadb_now(db) <= t + 1);
	dits_metadb_close(db);
}

/*
 * A worker killed with SIGKILL after claiming a job and in the middle of a
 * write transaction: its lock dies with it, its uncommitted write is never
 * seen, and another worker claims the job once the lease has expired.
 */
static void test_killed_worker(void)
{
	char *path = db_path("killed.db");
	dits_metadb *db = NULL;
	CHECK_RC(open_named(&db, "killed.db"), 0);
	REQUIRE(db);
	dits_id a = make_id(60);
	int64_t id;
	CHECK_RC(dits_job_enqueue(db, "TRANSCODE", &a, "k.mov", "proxy_1080p", NULL, NULL, &id), 0);
	dits_metadb_close(db);

	int ready[2];
	REQUIRE(pipe(ready) == 0);
	pid_t pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		close(ready[0]);
		dits_metadb *cdb = NULL;
		dits_job j;
		sqlite3 *h = NULL;
		if (open_named(&cdb, "killed.db") || dits_job_claim(cdb, "victim", 30, &j))
			_exit(2);
		/* Half of some write, never committed (holding the job's row lock). */
		if (pg_url) {
			PGconn *c = PQconnectdb(pg_url);
			const char *v[1] = { path };
			PGresult *r = PQexec(c, "BEGIN");
			PQclear(r);
			r = PQexecParams(c, "UPDATE jobs SET last_error = 'half-written' WHERE repo = $1",
			                 1, NULL, v, NULL, NULL, 0);
			if (PQresultStatus(r) != PGRES_COMMAND_OK)
				_exit(3);
		} else if (sqlite3_open(path, &h) != SQLITE_OK ||
		           sqlite3_exec(h, "BEGIN IMMEDIATE; UPDATE jobs SET last_error = 'half-written'",
		                        NULL, NULL, NULL) != SQLITE_OK) {
			_exit(3);
		}
		if (write(ready[1], "x", 1) != 1)
			_exit(4);
		for (;;)
			pause();
	}
	close(ready[1]);
	char c;
	CHECK(read(ready[0], &c, 1) == 1);
	close(ready[0]);
	kill(pid, SIGKILL);
	int st = 0;
	CHECK(waitpid(pid, &st, 0) == pid && WIFSIGNALED(st));

	CHECK_RC(open_named(&db, "killed.db"), 0);
	REQUIRE(db);
	dits_job j;
	int64_t start = (int64_t)time(NULL);
	fake_now = start + 10; /* lease (30 s) not yet expired */
	dits_metadb_set_clock(db, fake_clock);
	CHECK_RC(dits_job_claim(db, "rescuer", 30, &j), DITS_ENOTFOUND);
	fake_now = start + 32;
	int rc = dits_job_claim(db, "rescuer", 30, &j);
	/* PostgreSQL ends the dead client's transaction when it sees the
	 * socket close; until then SKIP LOCKED passes over the row. */
	for (int i = 0; pg_url && rc == DITS_ENOTFOUND && i < 200; i++) {
		usleep(10000);
		rc = dits_job_claim(db, "rescuer", 30, &j);
	}
	CHECK_RC(rc, 0);
	CHECK(j.id == id && j.attempts == 2 && !strcmp(j.lease_owner, "rescuer"));
	CHECK(j.last_error == NULL);
	dits_job_free(&j);
	CHECK((int64_t)time(NULL) - start < 5); /* no wait for the dead process's lock */
	CHECK_RC(dits_job_complete(db, id, "rescuer"), 0);
	dits_metadb_close(db);
	free(path);
}

/*
 * Four processes drain 200 jobs, each claiming and completing in a loop
 * with the real clock. Each reports the ids it completed through a pipe;
 * every job must be completed exactly once, by one worker, on attempt 1.
 */
#define NJOBS 200
#define NWORKERS 4

static int worker_main(const char *name, int w, int fd, int go)
{
	dits_metadb *db = NULL;
	if (open_named(&db, name))
		return 2;
	/* Start together: wait until the parent closes the "go" pipe. */
	char c;
	while (read(go, &c, 1) > 0)
		;
	char owner[32];
	snprintf(owner, sizeof owner, "worker-%d:%d", w, (int)getpid());
	int status = 0;
	for (;;) {
		dits_job j;
		int rc = dits_job_claim(db, owner, 60, &j);
		if (rc == DITS_ENOTFOUND)
			break;
		if (rc) {
			fprintf(stderr, "%s: claim: %s\n", owner, dits_error_last());
			status = 3;
			break;
		}
		rc = dits_job_complete(db, j.id, owner);
		if (rc) {
			fprintf(stderr, "%s: complete: %s\n", owner, dits_error_last());
			status = 4;
		} else if (write(fd, &j.id, sizeof j.id) != (ssize_t)sizeof j.id) {
			/* 8-byte writes to a pipe are atomic (PIPE_BUF). */
			status = 5;
		}
		dits_job_free(&j);
		usleep(500); /* "work", so the workers interleave */
	}
	dits_metadb_close(db);
	return status;
}

static void test_concurrent_claims(void)
{
	const char *name = "concurrent.db";
	dits_metadb *db = NULL;
	CHECK_RC(open_named(&db, name), 0);
	REQUIRE(db);
	/* Ids are consecutive from the first (PostgreSQL's may not start at 1). */
	int64_t base = 0;
	for (int i = 0; i < NJOBS; i++) {
		dits_id a;
		int64_t jid = 0;
		dits_hash_buf(&a, &i, sizeof i);
		CHECK_RC(dits_job_enqueue(db, "TRANSCODE", &a, NULL, "proxy_1080p", NULL, NULL, &jid), 0);
		if (i == 0)
			base = jid - 1;
		CHECK_EQ_U64(jid, base + i + 1);
	}
	/* A connection must not cross fork(): the children open their own. */
	dits_metadb_close(db);

	int fds[2], go[2];
	REQUIRE(pipe(fds) == 0 && pipe(go) == 0);
	pid_t pids[NWORKERS];
	for (int w = 0; w < NWORKERS; w++) {
		pids[w] = fork();
		REQUIRE(pids[w] >= 0);
		if (pids[w] == 0) {
			close(fds[0]);
			close(go[1]);
			_exit(worker_main(name, w, fds[1], go[0]));
		}
	}
	close(fds[1]);
	close(go[0]);
	close(go[1]);
	int seen[NJOBS + 1] = { 0 };
	int64_t id;
	size_t total = 0;
	bool bad_id = false;
	while (read(fds[0], &id, sizeof id) == (ssize_t)sizeof id) {
		total++;
		id -= base;
		if (id < 1 || id > NJOBS)
			bad_id = true;
		else
			seen[id]++;
	}
	close(fds[0]);
	for (int w = 0; w < NWORKERS; w++) {
		int st = 0;
		CHECK(waitpid(pids[w], &st, 0) == pids[w]);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	CHECK(!bad_id);
	CHECK_EQ_U64(total, NJOBS);
	int once = 0;
	for (int i = 1; i <= NJOBS; i++)
		once += seen[i] == 1;
	CHECK_EQ_U64(once, NJOBS);

	CHECK_RC(open_named(&db, name), 0);
	REQUIRE(db);
	struct dits_job_counts c;
	CHECK_RC(dits_job_counts(db, &c), 0);
	CHECK_EQ_U64(c.done, NJOBS);
	CHECK(c.queued == 0 && c.running == 0 && c.dead == 0 && c.failed == 0);
	dits_job *list;
	size_t n;
	CHECK_RC(dits_job_list(db, NULL, NULL, &list, &n), 0);
	CHECK_EQ_U64(n, NJOBS);
	int first_attempt = 0, per_worker[NWORKERS] = { 0 };
	for (size_t i = 0; i < n; i++) {
		first_attempt += list[i].attempts == 1;
		int w = -1;
		if (sscanf(list[i].lease_owner, "worker-%d:", &w) == 1 && w >= 0 && w < NWORKERS)
			per_worker[w]++;
	}
	CHECK_EQ_U64(first_attempt, NJOBS);
	/* For information: how the jobs were shared (not checked, timing decides). */
	fprintf(stderr, "concurrent claims: jobs per worker %d %d %d %d\n", per_worker[0],
	        per_worker[1], per_worker[2], per_worker[3]);
	dits_job_list_free(list, n);
	dits_metadb_close(db);
}

/*
 * Two processes register a ready variant for the same recipe at the same
 * moment: both begin (and get the same row), both register; exactly one
 * wins and the other is told DITS_ECONFLICT. The storage itself refuses a
 * second row for the same (parent, type, recipe hash).
 */
static int racer_main(int w, int go)
{
	dits_metadb *db = NULL;
	if (open_named(&db, "race.db"))
		return 2;
	dits_id parent = make_id(70), rh = make_id(71), man = make_id((uint8_t)(72 + w));
	dits_variant v;
	if (dits_variant_begin(db, &parent, "proxy_1080p", NULL, &rh, &v))
		return 3;
	char c;
	while (read(go, &c, 1) > 0)
		;
	int rc = dits_variant_register(db, v.id, &man, "[]", NULL, NULL, 1);
	dits_variant_free(&v);
	dits_metadb_close(db);
	return rc == 0 ? 0 : rc == DITS_ECONFLICT ? 1 : 4;
}

static void test_register_race(void)
{
	int wins = 0, conflicts = 0;
	for (int round = 0; round < 5; round++) {
		if (round > 0)
			REQUIRE(raw_exec("race.db", "DELETE FROM asset_variants",
			                 "DELETE FROM asset_variants WHERE repo = $1"));
		int go[2];
		REQUIRE(pipe(go) == 0);
		pid_t pids[2];
		for (int w = 0; w < 2; w++) {
			pids[w] = fork();
			REQUIRE(pids[w] >= 0);
			if (pids[w] == 0) {
				close(go[1]);
				_exit(racer_main(w, go[0]));
			}
		}
		close(go[0]);
		usleep(100000); /* both have begun and wait on the pipe */
		close(go[1]);
		for (int w = 0; w < 2; w++) {
			int st = 0;
			CHECK(waitpid(pids[w], &st, 0) == pids[w] && WIFEXITED(st));
			wins += WEXITSTATUS(st) == 0;
			conflicts += WEXITSTATUS(st) == 1;
		}
		dits_metadb *db = NULL;
		CHECK_RC(open_named(&db, "race.db"), 0);
		REQUIRE(db);
		dits_variant *list;
		size_t n;
		CHECK_RC(dits_variant_list(db, NULL, &list, &n), 0);
		CHECK_EQ_U64(n, 1);
		CHECK(n == 1 && !strcmp(list[0].status, "ready"));
		dits_variant_list_free(list, n);
		dits_metadb_close(db);
	}
	CHECK_EQ_U64(wins, 5);
	CHECK_EQ_U64(conflicts, 5);
	/* A second row for the key, written past the API, is refused. */
	CHECK(!raw_exec("race.db",
	                "INSERT INTO asset_variants(id, parent_asset_id, variant_type, recipe_hash,"
	                " status) SELECT 'x', parent_asset_id, variant_type, recipe_hash, 'ready'"
	                " FROM asset_variants",
	                "INSERT INTO asset_variants(id, repo, parent_asset_id, variant_type,"
	                " recipe_hash, status, created_at, updated_at) SELECT gen_random_uuid(), repo,"
	                " parent_asset_id, variant_type, recipe_hash, 'ready', 0, 0"
	                " FROM asset_variants WHERE repo = $1"));
}

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * dits_job_wait(): on PostgreSQL an enqueue by another process wakes the
 * waiter at once (LISTEN/NOTIFY), long before the timeout; a notification
 * for another repository does not. On SQLite it sleeps the timeout.
 */
static void test_job_wait(void)
{
	dits_metadb *db = open_fresh("wait.db");
	CHECK_RC(dits_job_wait(db, 0), 0); /* PostgreSQL: starts listening */
	if (!pg_url) {
		double t0 = mono_s();
		CHECK_RC(dits_job_wait(db, 200), 0);
		CHECK(mono_s() - t0 >= 0.19);
		dits_metadb_close(db);
		return;
	}
	/* Nothing queued: the wait runs to its timeout. */
	double t0 = mono_s();
	CHECK_RC(dits_job_wait(db, 300), 0);
	CHECK(mono_s() - t0 >= 0.29);

	pid_t pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		dits_metadb *other = NULL, *cdb = NULL;
		dits_id a = make_id(80);
		usleep(300000);
		/* First a job of another repository, then one of ours. */
		if (open_named(&other, "wait-other.db") ||
		    dits_job_enqueue(other, "TRANSCODE", &a, NULL, "proxy_1080p", NULL, NULL, NULL))
			_exit(2);
		usleep(300000);
		if (open_named(&cdb, "wait.db") ||
		    dits_job_enqueue(cdb, "TRANSCODE", &a, NULL, "proxy_1080p", NULL, NULL, NULL))
			_exit(3);
		_exit(0);
	}
	t0 = mono_s();
	CHECK_RC(dits_job_wait(db, 10000), 0);
	double waited = mono_s() - t0;
	CHECK(waited >= 0.5);  /* the other repository's job did not wake it */
	CHECK(waited < 5.0);   /* ours did, long before the timeout */
	int st = 0;
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	dits_job j;
	CHECK_RC(dits_job_claim(db, "waiter", 30, &j), 0);
	dits_job_free(&j);
	dits_metadb_close(db);
}

typedef struct keys_seen {
	char keys[4][512];
	int n;
} keys_seen;

static void on_key(void *ctx, const char *key)
{
	keys_seen *k = ctx;
	if (k->n < 4)
		snprintf(k->keys[k->n++], sizeof k->keys[0], "%s", key);
}

/*
 * dits_job_wait_any(): on PostgreSQL an enqueue of any repository wakes
 * the waiter at once and names that repository's key; on SQLite it sleeps
 * the timeout and names nothing.
 */
static void test_job_wait_any(void)
{
	dits_metadb *db = open_fresh("any.db");
	keys_seen seen = { 0 };
	CHECK_RC(dits_job_wait_any(db, 0, NULL, NULL), DITS_EINVALID);
	dits_error_clear();
	CHECK_RC(dits_job_wait_any(db, 0, on_key, &seen), 0); /* PostgreSQL: starts listening */
	if (!pg_url) {
		double t0 = mono_s();
		CHECK_RC(dits_job_wait_any(db, 200, on_key, &seen), 0);
		CHECK(mono_s() - t0 >= 0.19);
		CHECK(seen.n == 0);
		dits_metadb_close(db);
		return;
	}
	pid_t pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		dits_metadb *other = NULL;
		dits_id a = make_id(81);
		usleep(300000);
		if (open_named(&other, "any-other.db") ||
		    dits_job_enqueue(other, "TRANSCODE", &a, NULL, "proxy_1080p", NULL, NULL, NULL))
			_exit(2);
		_exit(0);
	}
	double t0 = mono_s();
	CHECK_RC(dits_job_wait_any(db, 10000, on_key, &seen), 0);
	double waited = mono_s() - t0;
	CHECK(waited >= 0.25); /* nothing before the other process queued */
	CHECK(waited < 5.0);   /* its job woke us, long before the timeout */
	int st = 0;
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	char *other_key = db_path("any-other.db");
	CHECK(seen.n == 1);
	CHECK(seen.n >= 1 && strcmp(seen.keys[0], other_key) == 0);
	free(other_key);
	dits_metadb_close(db);
}

/* Writes text to dir/name. */
static void write_text(const char *dir, const char *name, const char *text)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	REQUIRE(f);
	fputs(text, f);
	fclose(f);
}

/*
 * dits_metadb_locate_dir(): the URL and key a repository's rows carry, as
 * dits_metadb_open_dir() would use them; nothing for the embedded database.
 */
/* The server process id of handle db's PostgreSQL connection. */
static int backend_pid(dits_metadb *db)
{
	PGconn *c = NULL;
	if (metadb_pg_conn(db, &c) || !c)
		return -1;
	return PQbackendPID(c);
}

/*
 * PostgreSQL: a closed handle's connection serves the next open of the
 * process, but only when idle: not one left inside a transaction, not one
 * that LISTENs, and never in a forked child.
 */
static void test_pg_pool(void)
{
	dits_metadb *a = NULL, *b = NULL;
	CHECK_RC(open_named(&a, "pool.db"), 0);
	int first = backend_pid(a);
	CHECK(first > 0);
	dits_metadb_close(a);
	CHECK_RC(open_named(&b, "pool-other.db"), 0);
	CHECK_EQ_U64(backend_pid(b), first); /* the same URL, another repository key: reused */
	/* its key is b's own: rows written through it are b's */
	dits_id x = make_id(90);
	int64_t id;
	CHECK_RC(dits_job_enqueue(b, "TRANSCODE", &x, NULL, "proxy_1080p", NULL, NULL, &id), 0);
	CHECK_RC(open_named(&a, "pool.db"), 0); /* the pool is empty: a new connection */
	CHECK(backend_pid(a) != first);
	dits_job j;
	CHECK_RC(dits_job_get(a, id, &j), DITS_ENOTFOUND);
	dits_metadb_close(a);

	/* left inside a transaction: dropped, not reused */
	PGconn *c = NULL;
	CHECK_RC(metadb_pg_conn(b, &c), 0);
	PQclear(PQexec(c, "BEGIN"));
	int in_tx = backend_pid(b);
	dits_metadb_close(b);
	for (int i = 0; i < 3; i++) {
		dits_metadb *d = NULL;
		CHECK_RC(open_named(&d, "pool.db"), 0);
		CHECK(backend_pid(d) != in_tx);
		CHECK_RC(dits_job_get(d, id, &j), DITS_ENOTFOUND); /* a working connection */
		dits_metadb_close(d);
	}

	/* one that listens: dropped */
	CHECK_RC(open_named(&a, "pool.db"), 0);
	CHECK_RC(dits_job_wait(a, 0), 0);
	int listening = backend_pid(a);
	dits_metadb_close(a);
	CHECK_RC(open_named(&a, "pool.db"), 0);
	CHECK(backend_pid(a) != listening);
	int pooled = backend_pid(a);
	dits_metadb_close(a);

	/* a forked child connects on its own and leaves the parent's pooled connection working */
	pid_t pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		dits_metadb *d = NULL;
		int ok = open_named(&d, "pool.db") == 0 && backend_pid(d) > 0 && backend_pid(d) != pooled;
		dits_metadb_close(d);
		_exit(ok ? 0 : 1);
	}
	int status = 0;
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK_RC(open_named(&a, "pool-other.db"), 0);
	CHECK_EQ_U64(backend_pid(a), pooled);
	CHECK_RC(dits_job_get(a, id, &j), 0);
	CHECK_EQ_U64(j.id, id);
	dits_job_free(&j);
	dits_metadb_close(a);
}

static void test_locate_dir(void)
{
	char *dir = db_path("loc.dits");
	REQUIRE(mkdir(dir, 0755) == 0);
	char *saved = getenv("DITS_METADB_URL") ? strdup(getenv("DITS_METADB_URL")) : NULL;
	unsetenv("DITS_METADB_URL");
	char *url = (char *)"x", *key = (char *)"x";
	write_text(dir, "config", "[proxy]\n\tauto = false\n");
	CHECK_RC(dits_metadb_locate_dir(dir, &url, &key), 0);
	CHECK(url == NULL && key == NULL);
	/* from the environment: the key is the .dits directory's real path */
	setenv("DITS_METADB_URL", "postgres://db.example/dits", 1);
	CHECK_RC(dits_metadb_locate_dir(dir, &url, &key), 0);
	char *real = realpath(dir, NULL);
	CHECK(url && !strcmp(url, "postgres://db.example/dits"));
	CHECK(key && real && !strcmp(key, real));
	free(url);
	free(key);
	free(real);
	/* the repository's own settings win */
	write_text(dir, "config", "[metadb]\n\turl = postgresql://other/q\n\trepo = team/shot\n");
	CHECK_RC(dits_metadb_locate_dir(dir, &url, &key), 0);
	CHECK(url && !strcmp(url, "postgresql://other/q"));
	CHECK(key && !strcmp(key, "team/shot"));
	free(url);
	free(key);
	/* sqlite:PATH is one file for one repository: nothing to listen to */
	write_text(dir, "config", "[metadb]\n\turl = sqlite:/tmp/x.db\n");
	CHECK_RC(dits_metadb_locate_dir(dir, &url, &key), 0);
	CHECK(url == NULL && key == NULL);
	if (saved)
		setenv("DITS_METADB_URL", saved, 1);
	else
		unsetenv("DITS_METADB_URL");
	free(saved);
	free(dir);
}

int main(void)
{
	tmpdir = util_mkdtemp("metadb");
	REQUIRE(tmpdir);
	unsetenv("DITS_TEST_NOW");
	pg_url = getenv("DITS_TEST_PG_URL");
	if (pg_url && !*pg_url)
		pg_url = NULL;
	fprintf(stderr, "backend: %s\n", pg_url ? pg_url : "sqlite");
	test_schema_and_reopen();
	if (pg_url)
		test_pg_newer_version_refused();
	else
		test_newer_version_refused();
	if (!pg_url)
		test_sqlite_upgrade_from_1();
	test_variants();
	test_enqueue_idempotent();
	test_claim_order_and_empty();
	test_lease_expiry();
	test_job_report();
	test_fail_backoff_dead_retry();
	test_test_now_env();
	test_killed_worker();
	test_concurrent_claims();
	test_register_race();
	test_job_wait();
	test_job_wait_any();
	if (pg_url)
		test_pg_pool();
	test_locate_dir();
	util_rm_rf(tmpdir);
	free(tmpdir);
	return check_done();
}
