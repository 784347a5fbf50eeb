/*
 * Upgrading a PostgreSQL metadata database made by an older dits, and
 * refusing one made by a newer dits.
 *
 * A database of its own on the test server (tests/pg/pg.sh run sets
 * DITS_TEST_PG_URL) is taken to schema version 2 by the migrations of
 * metadb_pg.c themselves (metadb_pg_migrate_to), so it has exactly the
 * tables a version-2 dits made. It is filled the way version 2 wrote its
 * rows: queued, running and dead jobs (without progress or result),
 * a ready and a failed variant, refs with a reflog line and a repository
 * in the catalog. Opening it with the current code must take it to the
 * current version (3) in place: every old row read back through the API
 * with its values, the constraints and sequences still working on them,
 * and the columns version 3 adds (a job's progress and result,
 * dits_job_report) usable on old jobs.
 *
 * Then a newer dits's migration is faked (a row for the version after this
 * code's and a column it does not know): every way of opening the database
 * (a pooled connection, a new one, the catalog, a repository's refs) fails
 * with DITS_EVERSION and one line naming the database and both versions,
 * nothing in the database changes (a digest of its schema and rows), and
 * no refused connection stays open.
 */
#include <libpq-fe.h>
#include <string.h>
#include <unistd.h>

#include "catalog.h"
#include "config.h"
#include "error.h"
#include "fsutil.h"
#include "hash.h"
#include "metadb.h"
#include "metadb_backend.h"
#include "refs.h"
#include "repo.h"

#include "check.h"
#include "util.h"

/* The repository key of the rows (a fleet keys a repository by its name). */
#define KEY "shot"
#define OLD_NOW 1600000000LL /* when version 2 was made and filled */
#define NOW 1700000500LL     /* when the current code opens it */

static char *url; /* the database of this test */

static int64_t fake_now = NOW;

static int64_t fake_clock(void)
{
	return fake_now;
}

static dits_id make_id(uint8_t seed)
{
	dits_id id;
	dits_hash_buf(&id, &seed, 1);
	return id;
}

/* An id as bytea's hex input, "\x" and 64 digits. */
static void bytea(char out[2 + DITS_ID_HEXLEN + 1], const dits_id *id)
{
	out[0] = '\\';
	out[1] = 'x';
	dits_id_hex(out + 2, id);
}

/* Runs sql with n text parameters v on u; the result (NULL on failure, with the reason printed). */
static PGresult *pq(const char *u, const char *sql, int n, const char *const *v)
{
	PGconn *c = PQconnectdb(u);
	PGresult *r = NULL;
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "pq: %s", PQerrorMessage(c));
	} else {
		r = PQexecParams(c, sql, n, NULL, v, NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK) {
			fprintf(stderr, "pq: %s: %s", sql, PQresultErrorMessage(r));
			PQclear(r);
			r = NULL;
		}
	}
	PQfinish(c);
	return r;
}

static bool pq_ok(const char *sql, int n, const char *const *v)
{
	PGresult *r = pq(url, sql, n, v);
	PQclear(r);
	return r != NULL;
}

/* The first value of sql on the test's database as an integer; -1 when there is none. */
static int64_t pq_int(const char *sql, int n, const char *const *v)
{
	PGresult *r = pq(url, sql, n, v);
	int64_t x = r && PQntuples(r) && !PQgetisnull(r, 0, 0) ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : -1;
	PQclear(r);
	return x;
}

/* The first value of sql as text (malloc'd); NULL when there is none. */
static char *pq_text(const char *sql, int n, const char *const *v)
{
	PGresult *r = pq(url, sql, n, v);
	char *s = r && PQntuples(r) && !PQgetisnull(r, 0, 0) ? strdup(PQgetvalue(r, 0, 0)) : NULL;
	PQclear(r);
	return s;
}

/* Inserts one job row of repository key repo with version 2's columns; its id. */
static int64_t insert_job(const char *repo, const dits_id *asset, const char *path, const char *target,
                          const char *recipe, const dits_id *recipe_hash, const char *state, const char *attempts,
                          const char *owner, const char *expires, const char *last_error, const char *created,
                          const char *updated)
{
	char a[80], h[80];
	bytea(a, asset);
	bytea(h, recipe_hash);
	const char *v[] = { repo, a, path, target, recipe, h, state, attempts, owner, expires, last_error, created, updated };
	/* Only the columns version 2 had. */
	return pq_int("INSERT INTO jobs(repo, kind, asset_id, path, target, recipe, recipe_hash, state,"
	              " attempts, max_attempts, lease_owner, lease_expires, not_before, last_error,"
	              " created_at, updated_at)"
	              " VALUES($1, 'TRANSCODE', $2::bytea, $3, $4, $5::json, $6::bytea, $7, $8::int, 3, $9,"
	              " $10::bigint, 0, $11, $12::bigint, $13::bigint) RETURNING id",
	              13, v);
}

/*
 * A digest of everything in the database that dits owns: the columns and
 * indexes of its tables and every row of them. Equal digests: nothing
 * changed.
 */
static char *digest(void)
{
	return pq_text("SELECT md5(string_agg(x, E'\\n' ORDER BY x)) FROM ("
	               " SELECT 'c ' || table_name || '.' || column_name || ' ' || data_type || ' '"
	               "   || coalesce(column_default, '') AS x"
	               "   FROM information_schema.columns WHERE table_schema = 'public'"
	               " UNION ALL SELECT 'i ' || indexdef FROM pg_indexes WHERE schemaname = 'public'"
	               " UNION ALL SELECT 'v ' || t::text FROM dits_schema_version t"
	               " UNION ALL SELECT 'j ' || t::text FROM jobs t"
	               " UNION ALL SELECT 'a ' || t::text FROM asset_variants t"
	               " UNION ALL SELECT 'r ' || t::text FROM refs t"
	               " UNION ALL SELECT 'l ' || t::text FROM reflog t"
	               " UNION ALL SELECT 'p ' || t::text FROM repos t) s",
	               0, NULL);
}

static bool has_column(const char *table, const char *column)
{
	const char *v[] = { table, column };
	return pq_int("SELECT count(*) FROM information_schema.columns WHERE table_schema = 'public'"
	              " AND table_name = $1 AND column_name = $2",
	              2, v) == 1;
}

/* A repository whose refs are KEY's rows in the test's database. */
static char *make_repo(void)
{
	char *dir = util_mkdtemp("metadb-upgrade");
	REQUIRE(dir);
	dits_repo *r = NULL;
	CHECK_RC(dits_repo_init(&r, dir, NULL), 0);
	REQUIRE(r);
	dits_config_set(dits_repo_config(r), "refs.url", url);
	dits_config_set(dits_repo_config(r), "metadb.repo", KEY);
	char *cfg = dits_repo_path(r, "config");
	CHECK_RC(dits_config_write(dits_repo_config(r), cfg), 0);
	free(cfg);
	dits_repo_free(r);
	return dir;
}

typedef struct seen {
	char names[8][64];
	dits_id ids[8];
	size_t n;
} seen;

static int collect(void *ctx, const char *ref, const dits_id *id)
{
	seen *s = ctx;
	if (s->n < 8) {
		snprintf(s->names[s->n], sizeof s->names[s->n], "%s", ref);
		s->ids[s->n] = *id;
	}
	s->n++;
	return 0;
}

/* The one-line error of a refused newer schema, with both versions and the database in it. */
static void check_newer_message(const char *msg)
{
	char theirs[32], ours[16];
	snprintf(theirs, sizeof theirs, "version %d ", DITS_METADB_PG_SCHEMA_VERSION + 1);
	snprintf(ours, sizeof ours, "(%d)", DITS_METADB_PG_SCHEMA_VERSION);
	CHECK(msg && !strchr(msg, '\n'));
	CHECK(msg && strstr(msg, "newer"));
	CHECK(msg && strstr(msg, theirs));
	CHECK(msg && strstr(msg, ours));
	CHECK(msg && strstr(msg, "/dits_v2"));
	if (msg)
		fprintf(stderr, "# refused: %s\n", msg);
}

/*
 * Waits up to 10 s for the number of other connections to the test's
 * database to be want (a closed connection's server process leaves
 * pg_stat_activity a moment after the client closed it); true when it is.
 */
static bool connections_become(int64_t want)
{
	for (int i = 0; i < 200; i++) {
		if (pq_int("SELECT count(*) FROM pg_stat_activity WHERE datname = 'dits_v2'"
		           " AND pid <> pg_backend_pid()",
		           0, NULL) == want)
			return true;
		usleep(50000);
	}
	return false;
}

int main(void)
{
	const char *server = getenv("DITS_TEST_PG_URL");
	if (!server || !*server) {
		fprintf(stderr, "# PostgreSQL skipped: DITS_TEST_PG_URL is not set (run under tests/pg/pg.sh run)\n");
		return check_done();
	}
	unsetenv("DITS_METADB_URL");
	setenv("DITS_AUTHOR_NAME", "Unit Tester", 1);
	setenv("DITS_AUTHOR_EMAIL", "unit@example.com", 1);

	/* A database of its own: the schema version is per database. */
	PGresult *r = pq(server, "CREATE DATABASE dits_v2", 0, NULL);
	REQUIRE(r);
	PQclear(r);
	const char *slash = strrchr(server, '/');
	REQUIRE(slash);
	url = dits_strfmt("%.*s/dits_v2", (int)(slash - server), server);
	REQUIRE(url);

	/* ---- version 2, as the migrations made it ---- */
	CHECK_RC(metadb_pg_migrate_to(url, 0), DITS_EINVALID);
	CHECK_RC(metadb_pg_migrate_to(url, DITS_METADB_PG_SCHEMA_VERSION + 1), DITS_EINVALID);
	setenv("DITS_TEST_NOW", "1600000000", 1);
	CHECK_RC(metadb_pg_migrate_to(url, 2), 0);
	CHECK_EQ_U64(pq_int("SELECT max(version) FROM dits_schema_version", 0, NULL), 2);
	CHECK_EQ_U64(pq_int("SELECT count(*) FROM dits_schema_version", 0, NULL), 2);
	CHECK(has_column("jobs", "lease_owner") && has_column("refs", "symbolic") && has_column("repos", "config"));
	CHECK(!has_column("jobs", "progress") && !has_column("jobs", "result"));
	CHECK_RC(metadb_pg_migrate_to(url, 1), 0); /* already past it: untouched */
	CHECK_EQ_U64(pq_int("SELECT max(version) FROM dits_schema_version", 0, NULL), 2);

	/* ---- rows as version 2 wrote them ---- */
	dits_id a = make_id(1), b = make_id(2), c = make_id(3), h1 = make_id(11), h2 = make_id(12),
		h3 = make_id(13), m = make_id(21), ch1 = make_id(31), ch2 = make_id(32), r1 = make_id(41),
		r2 = make_id(42), r3 = make_id(43);
	const char *recipe1 = "{\"profile\": \"prores_proxy\", \"lut\": null}";
	int64_t j1 = insert_job(KEY, &a, "shots/a.mov", "proxy_1080p", recipe1, &h1, "queued", "0", NULL, NULL,
	                        NULL, "1600000100", "1600000100");
	int64_t j2 = insert_job(KEY, &b, "b.mov", "proxy_720p", NULL, &h2, "running", "1", "old-worker:42",
	                        "1700001000", NULL, "1600000200", "1600000300");
	int64_t j3 = insert_job(KEY, &c, "c.wav", "proxy_1080p", NULL, &h3, "dead", "3", NULL, NULL,
	                        "not a video: c.wav", "1600000250", "1600000350");
	int64_t j4 = insert_job("another/repo", &a, NULL, "proxy_1080p", NULL, &h1, "queued", "0", NULL, NULL,
	                        NULL, "1600000260", "1600000260");
	REQUIRE(j1 > 0 && j2 > j1 && j3 > j2 && j4 > j3);

	const char *v1 = "0b7e4f6a-1c2d-4e3f-8a9b-0c1d2e3f4a5b", *v2 = "7d1f0c2e-5b6a-4c3d-9e8f-a0b1c2d3e4f5";
	char pa[80], pc[80], ph1[80], ph3[80], pm[80], hx1[65], hx2[65];
	bytea(pa, &a);
	bytea(pc, &c);
	bytea(ph1, &h1);
	bytea(ph3, &h3);
	bytea(pm, &m);
	dits_id_hex(hx1, &ch1);
	dits_id_hex(hx2, &ch2);
	char chunks[160];
	snprintf(chunks, sizeof chunks, "[\"%s\", \"%s\"]", hx1, hx2);
	const char *facts = "{\"width\": 1920, \"height\": 1080, \"fps\": \"24000/1001\"}";
	{
		const char *v[] = { v1, KEY, pa, chunks, pm, recipe1, ph1, facts };
		CHECK(pq_ok("INSERT INTO asset_variants(id, repo, parent_asset_id, variant_type, chunk_hash_list,"
		            " manifest_id, recipe, recipe_hash, facts, status, error, warnings, size, created_at,"
		            " updated_at) VALUES($1::uuid, $2, $3::bytea, 'proxy_1080p', $4::jsonb, $5::bytea,"
		            " $6::json, $7::bytea, $8::json, 'ready', NULL, 'possible +/-1 frame drift',"
		            " 123456789, 1600000150, 1600000160)",
		            8, v));
		const char *w[] = { v2, KEY, pc, ph3 };
		CHECK(pq_ok("INSERT INTO asset_variants(id, repo, parent_asset_id, variant_type, recipe_hash, status,"
		            " error, created_at, updated_at) VALUES($1::uuid, $2, $3::bytea, 'thumbnail', $4::bytea,"
		            " 'failed', 'not a video', 1600000170, 1600000180)",
		            4, w));
	}
	char pr1[80], pr2[80];
	bytea(pr1, &r1);
	bytea(pr2, &r2);
	{
		const char *v[] = { KEY, pr1, pr2 };
		CHECK(pq_ok("INSERT INTO refs(repo, name, target, symbolic, updated_at) VALUES"
		            " ($1, 'HEAD', NULL, 'refs/heads/main', 1600000040),"
		            " ($1, 'refs/heads/main', $2::bytea, NULL, 1600000400),"
		            " ($1, 'refs/tags/v1', $3::bytea, NULL, 1600000410)",
		            3, v));
		CHECK(pq_ok("INSERT INTO reflog(repo, name, old, new, who, message, at) VALUES"
		            " ($1, 'refs/heads/main', NULL, $2::bytea, 'Old Dits <old@example.com>', 'push', 1600000400)",
		            2, v));
		CHECK(pq_ok("INSERT INTO repos(name, config, created_at) VALUES"
		            " ($1, E'[core]\\n\\tformat = 1\\n', 1600000030)",
		            1, v));
	}

	/* ---- the current code opens it: version 3, in place ---- */
	setenv("DITS_TEST_NOW", "1700000500", 1);
	dits_metadb *db = NULL;
	CHECK_RC(dits_metadb_open_url(&db, url, KEY), 0);
	REQUIRE(db);
	dits_metadb_set_clock(db, fake_clock);
	CHECK_EQ_U64(pq_int("SELECT max(version) FROM dits_schema_version", 0, NULL), DITS_METADB_PG_SCHEMA_VERSION);
	CHECK_EQ_U64(pq_int("SELECT count(*) FROM dits_schema_version", 0, NULL), DITS_METADB_PG_SCHEMA_VERSION);
	/* the old versions' rows kept, the new ones stamped with the opener's clock */
	CHECK_EQ_U64(pq_int("SELECT sum(applied_at) FILTER (WHERE version <= 2) FROM dits_schema_version", 0, NULL),
	             2 * OLD_NOW);
	CHECK_EQ_U64(pq_int("SELECT count(*) FROM dits_schema_version WHERE version > 2 AND applied_at = 1700000500",
	                    0, NULL),
	             DITS_METADB_PG_SCHEMA_VERSION - 2);
	CHECK(has_column("jobs", "progress") && has_column("jobs", "result"));

	/* every old job, field by field; progress 0 and no result */
	dits_job j;
	CHECK_RC(dits_job_get(db, j1, &j), 0);
	CHECK(!strcmp(j.kind, "TRANSCODE") && dits_id_eq(&j.asset, &a) && j.path && !strcmp(j.path, "shots/a.mov"));
	CHECK(!strcmp(j.target, "proxy_1080p") && j.recipe && !strcmp(j.recipe, recipe1));
	CHECK(dits_id_eq(&j.recipe_hash, &h1) && !strcmp(j.state, "queued"));
	CHECK(j.attempts == 0 && j.max_attempts == 3 && !j.lease_owner[0] && j.lease_expires == 0);
	CHECK(j.not_before == 0 && !j.last_error && j.created_at == 1600000100 && j.updated_at == 1600000100);
	CHECK(j.progress == 0 && !j.result);
	dits_job_free(&j);
	CHECK_RC(dits_job_get(db, j2, &j), 0);
	CHECK(!strcmp(j.state, "running") && dits_id_eq(&j.asset, &b) && !strcmp(j.target, "proxy_720p"));
	CHECK(!j.recipe && dits_id_eq(&j.recipe_hash, &h2) && j.attempts == 1);
	CHECK(!strcmp(j.lease_owner, "old-worker:42") && j.lease_expires == 1700001000);
	CHECK(j.created_at == 1600000200 && j.updated_at == 1600000300 && j.progress == 0 && !j.result);
	dits_job_free(&j);
	CHECK_RC(dits_job_get(db, j3, &j), 0);
	CHECK(!strcmp(j.state, "dead") && j.attempts == 3 && j.last_error &&
	      !strcmp(j.last_error, "not a video: c.wav"));
	CHECK(j.progress == 0 && !j.result);
	dits_job_free(&j);
	CHECK_RC(dits_job_get(db, j4, &j), DITS_ENOTFOUND); /* another repository's: still apart */
	dits_error_clear();
	dits_job *list = NULL;
	size_t n = 0;
	CHECK_RC(dits_job_list(db, NULL, NULL, &list, &n), 0);
	CHECK_EQ_U64(n, 3);
	CHECK(n == 3 && list[0].id == j1 && list[1].id == j2 && list[2].id == j3);
	dits_job_list_free(list, n);
	struct dits_job_counts counts;
	CHECK_RC(dits_job_counts(db, &counts), 0);
	CHECK(counts.queued == 1 && counts.running == 1 && counts.dead == 1 && counts.done == 0);

	/* every old variant, field by field */
	dits_variant v;
	CHECK_RC(dits_variant_get_by_id(db, v1, &v), 0);
	char want_chunks[160];
	snprintf(want_chunks, sizeof want_chunks, "[\"%s\",\"%s\"]", hx1, hx2);
	CHECK(dits_id_eq(&v.parent, &a) && !strcmp(v.type, "proxy_1080p") && !strcmp(v.status, "ready"));
	CHECK(v.chunk_hash_list && !strcmp(v.chunk_hash_list, want_chunks));
	CHECK(v.has_manifest && dits_id_eq(&v.manifest, &m) && dits_id_eq(&v.recipe_hash, &h1));
	CHECK(v.recipe && !strcmp(v.recipe, recipe1) && v.facts && !strcmp(v.facts, facts));
	CHECK(!v.error && v.warnings && !strcmp(v.warnings, "possible +/-1 frame drift"));
	CHECK(v.size == 123456789 && v.created_at == 1600000150 && v.updated_at == 1600000160);
	dits_variant_free(&v);
	CHECK_RC(dits_variant_get_by_id(db, v2, &v), 0);
	CHECK(!strcmp(v.status, "failed") && v.error && !strcmp(v.error, "not a video") && !v.has_manifest);
	dits_variant_free(&v);
	CHECK_RC(dits_variant_pick(db, &a, "proxy_1080p", NULL, &v), 0);
	CHECK(!strcmp(v.id, v1));
	dits_variant_free(&v);
	/* the old row still holds its recipe's place: beginning it again finds it */
	CHECK_RC(dits_variant_begin(db, &a, "proxy_1080p", recipe1, &h1, &v), 0);
	CHECK(!strcmp(v.id, v1) && !strcmp(v.status, "ready"));
	dits_variant_free(&v);

	/* the old queue goes on: one live job per key, ids after the old ones */
	int64_t id = 0;
	CHECK_RC(dits_job_enqueue(db, "TRANSCODE", &a, "shots/a.mov", "proxy_1080p", recipe1, &h1, &id), 0);
	CHECK_EQ_U64(id, j1);
	CHECK_RC(dits_job_enqueue(db, "TRANSCODE", &c, "c2.mov", "proxy_540p", NULL, NULL, &id), 0);
	CHECK(id > j4);

	/* what version 3 adds, on a job version 2 left running: its worker reports and finishes */
	fake_now = 1700000900;
	CHECK_RC(dits_job_heartbeat(db, j2, "old-worker:42", 60), 0);
	CHECK_RC(dits_job_report(db, j2, 0.25, NULL), 0);
	CHECK_RC(dits_job_get(db, j2, &j), 0);
	CHECK(j.progress == 0.25 && !j.result && j.lease_expires == 1700000960);
	dits_job_free(&j);
	char result[200];
	dits_id commit = make_id(51);
	char commit_hex[65];
	dits_id_hex(commit_hex, &commit);
	snprintf(result, sizeof result, "{\"commit\":\"%s\",\"path\":\"renders/b.mov\"}", commit_hex);
	CHECK_RC(dits_job_report(db, j2, 1.0, result), 0);
	CHECK_RC(dits_job_complete(db, j2, "old-worker:42"), 0);
	CHECK_RC(dits_job_report(db, j2, 1.0, NULL), 0); /* a NULL result keeps the one recorded */
	CHECK_RC(dits_job_get(db, j2, &j), 0);
	CHECK(!strcmp(j.state, "done") && j.progress == 1.0 && j.result && !strcmp(j.result, result));
	dits_job_free(&j);
	CHECK_EQ_U64(pq_int("SELECT count(*) FROM jobs WHERE result IS NOT NULL", 0, NULL), 1);
	/* an old queued job claimed by a new worker */
	CHECK_RC(dits_job_claim(db, "new-worker:7", 60, &j), 0);
	CHECK_EQ_U64(j.id, j1);
	CHECK(j.attempts == 1 && j.progress == 0);
	dits_job_free(&j);
	CHECK_RC(dits_job_report(db, j1, 0.5, "{\"frames\":12}"), 0);
	CHECK_RC(dits_job_get(db, j1, &j), 0);
	CHECK(j.progress == 0.5 && j.result && !strcmp(j.result, "{\"frames\":12}") && !strcmp(j.state, "running"));
	dits_job_free(&j);
	/* an old dead job retried */
	CHECK_RC(dits_job_retry_asset(db, &c), 0);
	CHECK_RC(dits_job_get(db, j3, &j), 0);
	CHECK(!strcmp(j.state, "queued") && j.attempts == 0 && j.last_error &&
	      !strcmp(j.last_error, "not a video: c.wav"));
	dits_job_free(&j);
	dits_metadb_close(db);

	/* ---- the old refs, reflog and catalog through their APIs ---- */
	char *dir = make_repo();
	dits_repo *repo = NULL;
	CHECK_RC(dits_repo_open(&repo, dir), 0);
	REQUIRE(repo);
	CHECK(!strcmp(dits_refs_backend(repo), "postgresql"));
	char *head = NULL;
	CHECK_RC(dits_head_target(repo, &head), 0);
	CHECK(head && !strcmp(head, "refs/heads/main"));
	free(head);
	dits_id got;
	CHECK_RC(dits_ref_read(repo, "HEAD", &got), 0);
	CHECK(dits_id_eq(&got, &r1));
	seen s = { 0 };
	CHECK_RC(dits_refs_foreach(repo, "refs/", collect, &s), 0);
	CHECK_EQ_U64(s.n, 2);
	CHECK(s.n == 2 && !strcmp(s.names[0], "refs/heads/main") && dits_id_eq(&s.ids[0], &r1));
	CHECK(s.n == 2 && !strcmp(s.names[1], "refs/tags/v1") && dits_id_eq(&s.ids[1], &r2));
	CHECK_RC(dits_ref_update(repo, "refs/heads/main", &r3, &r1, "after the upgrade"), 0);
	dits_repo_unlock(repo);
	CHECK_RC(dits_ref_read(repo, "refs/heads/main", &got), 0);
	CHECK(dits_id_eq(&got, &r3));
	dits_repo_free(repo);
	{
		const char *k[] = { KEY };
		CHECK_EQ_U64(pq_int("SELECT count(*) FROM reflog WHERE repo = $1 AND name = 'refs/heads/main'", 1, k), 2);
		CHECK_EQ_U64(pq_int("SELECT count(*) FROM reflog WHERE repo = $1 AND who = 'Old Dits <old@example.com>'"
		                    " AND message = 'push' AND at = 1600000400 AND old IS NULL",
		                    1, k),
		             1);
	}
	dits_catalog *cat = NULL;
	CHECK_RC(dits_catalog_open(&cat, url), 0);
	REQUIRE(cat);
	char *config = NULL;
	CHECK_RC(dits_catalog_get(cat, KEY, &config), 0);
	CHECK(config && !strcmp(config, "[core]\n\tformat = 1\n"));
	free(config);
	bool created = true;
	CHECK_RC(dits_catalog_create(cat, KEY, "x", "refs/heads/main", &created), 0);
	CHECK(!created);
	CHECK_RC(dits_catalog_create(cat, "shot2", "[core]\n", "refs/heads/main", &created), 0);
	CHECK(created);
	char **names = NULL;
	CHECK_RC(dits_catalog_list(cat, &names, &n), 0);
	CHECK(n == 2 && !strcmp(names[0], "shot") && !strcmp(names[1], "shot2"));
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	dits_catalog_close(cat);

	/* Opening again migrates nothing. */
	CHECK_RC(dits_metadb_open_url(&db, url, KEY), 0);
	dits_metadb_close(db);
	CHECK_EQ_U64(pq_int("SELECT count(*) FROM dits_schema_version", 0, NULL), DITS_METADB_PG_SCHEMA_VERSION);
	/* Every handle above reused one connection, which waits in this process's pool. */
	CHECK(connections_become(1));

	/* ---- a newer dits's database ---- */
	char sql[128];
	snprintf(sql, sizeof sql, "INSERT INTO dits_schema_version VALUES (%d, 1800000000)",
	         DITS_METADB_PG_SCHEMA_VERSION + 1);
	CHECK(pq_ok(sql, 0, NULL));
	CHECK(pq_ok("ALTER TABLE jobs ADD COLUMN priority INTEGER NOT NULL DEFAULT 5", 0, NULL));
	char *before = digest();
	REQUIRE(before);
	/* the pooled connection re-reads the version, and is closed, not pooled again */
	db = (dits_metadb *)1;
	CHECK_RC(dits_metadb_open_url(&db, url, KEY), DITS_EVERSION);
	CHECK(db == NULL);
	check_newer_message(dits_error_last());
	CHECK(connections_become(0));
	/* a new connection */
	db = (dits_metadb *)1;
	CHECK_RC(dits_metadb_open_url(&db, url, "another/repo"), DITS_EVERSION);
	CHECK(db == NULL);
	check_newer_message(dits_error_last());
	/* the catalog of a fleet server */
	cat = (dits_catalog *)1;
	CHECK_RC(dits_catalog_open(&cat, url), DITS_EVERSION);
	CHECK(cat == NULL);
	check_newer_message(dits_error_last());
	/* a repository's refs: the error names its config too */
	CHECK_RC(dits_repo_open(&repo, dir), 0);
	REQUIRE(repo);
	CHECK_RC(dits_ref_read(repo, "refs/heads/main", &got), DITS_EVERSION);
	check_newer_message(dits_error_last());
	CHECK(strstr(dits_error_last(), "refs.url"));
	dits_repo_free(repo);
	char *after = digest();
	CHECK(after && !strcmp(before, after));
	CHECK_EQ_U64(pq_int("SELECT max(version) FROM dits_schema_version", 0, NULL), DITS_METADB_PG_SCHEMA_VERSION + 1);
	CHECK(connections_become(0));
	free(before);
	free(after);

	util_rm_rf(dir);
	free(dir);
	free(url);
	return check_done();
}
