/*
 * The ref stores of refdb_backend.h: one test body runs against the files
 * backend and, when DITS_TEST_PG_URL names a server (tests/pg/pg.sh run),
 * against PostgreSQL (`refs.url`). Compare-and-swap with an expected value,
 * "must not exist", any value; removal; HEAD symbolic and detached; listing
 * in name order; and two threads with handles of their own racing to move
 * one ref from the same value, many times: exactly one wins each round and
 * the reflog has a line for every win, none for a loss.
 */
#include <libpq-fe.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "error.h"
#include "fsutil.h"
#include "hash.h"
#include "refs.h"
#include "repo.h"

#include "check.h"
#include "util.h"

#define ROUNDS 40

static const char *pg_url;
static char key[64];

static dits_id make_id(unsigned n)
{
	dits_id id;
	memset(&id, 0, sizeof id);
	id.b[0] = (uint8_t)(n >> 8);
	id.b[1] = (uint8_t)n;
	id.b[31] = 0x5a;
	return id;
}

static int open_repo(const char *dir, dits_repo **out)
{
	return dits_repo_open(out, dir);
}

/* ---- listing ---- */

typedef struct seen {
	char names[16][64];
	dits_id ids[16];
	size_t n;
} seen;

static int collect(void *ctx, const char *ref, const dits_id *id)
{
	seen *s = ctx;
	if (s->n < 16) {
		snprintf(s->names[s->n], sizeof s->names[s->n], "%s", ref);
		s->ids[s->n] = *id;
	}
	s->n++;
	return 0;
}

/* ---- the race ---- */

typedef struct racer {
	const char *dir;
	pthread_barrier_t *bar;
	int wins, losses, errors;
	unsigned tag;
} racer;

static void *race_main(void *arg)
{
	racer *rc = arg;
	dits_repo *r = NULL;
	if (open_repo(rc->dir, &r)) {
		rc->errors = ROUNDS;
		for (int i = 0; i < 2 * ROUNDS; i++)
			pthread_barrier_wait(rc->bar);
		return NULL;
	}
	for (int i = 0; i < ROUNDS; i++) {
		/* Both read the same value, then both try to move it. */
		dits_id cur;
		int rrc = dits_ref_read(r, "refs/heads/race", &cur);
		bool absent = rrc == DITS_ENOTFOUND;
		dits_error_clear();
		pthread_barrier_wait(rc->bar);
		dits_id mine = make_id(rc->tag * 1000 + (unsigned)i);
		dits_id zero = { { 0 } };
		int u = dits_ref_update(r, "refs/heads/race", &mine, absent ? &zero : &cur, "race");
		dits_repo_unlock(r);
		if (u == 0)
			rc->wins++;
		else if (u == DITS_ECONFLICT)
			rc->losses++;
		else
			rc->errors++;
		dits_error_clear();
		pthread_barrier_wait(rc->bar);
	}
	dits_repo_free(r);
	return NULL;
}

static int64_t pg_count(const char *sql)
{
	PGconn *c = PQconnectdb(pg_url);
	const char *v[] = { key };
	PGresult *res = PQexecParams(c, sql, 1, NULL, v, NULL, NULL, 0);
	int64_t n = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) ? atoll(PQgetvalue(res, 0, 0)) : -1;
	PQclear(res);
	PQfinish(c);
	return n;
}

static size_t reflog_lines(dits_repo *r, const char *ref)
{
	if (pg_url && !strcmp(dits_refs_backend(r), "postgresql")) {
		char sql[160];
		snprintf(sql, sizeof sql, "SELECT count(*) FROM reflog WHERE repo = $1 AND name = '%s'", ref);
		return (size_t)pg_count(sql);
	}
	char *p = dits_strfmt("%s/logs/%s", dits_repo_dir(r), ref);
	size_t len = 0, n = 0;
	uint8_t *b = p ? util_read_file(p, &len) : NULL;
	for (size_t i = 0; i < len; i++)
		n += b[i] == '\n';
	free(b);
	free(p);
	return n;
}

/* ---- the body ---- */

static void body(const char *dir, const char *backend)
{
	dits_repo *r = NULL;
	CHECK_RC(open_repo(dir, &r), 0);
	REQUIRE(r);
	CHECK(!strcmp(dits_refs_backend(r), backend));
	fprintf(stderr, "# backend %s\n", dits_refs_backend(r));

	/* HEAD, symbolic */
	CHECK_RC(dits_head_set_branch(r, "refs/heads/main"), 0);
	char *head = NULL;
	CHECK_RC(dits_head_target(r, &head), 0);
	CHECK(head && !strcmp(head, "refs/heads/main"));
	free(head);
	dits_id got, a = make_id(1), b = make_id(2), c = make_id(3), zero = { { 0 } };
	CHECK_RC(dits_ref_read(r, "refs/heads/main", &got), DITS_ENOTFOUND);
	CHECK_RC(dits_ref_read(r, "HEAD", &got), DITS_ENOTFOUND);

	/* compare-and-swap */
	CHECK_RC(dits_ref_update(r, "refs/heads/main", &a, &b, "absent, expected b"), DITS_ECONFLICT);
	CHECK_RC(dits_ref_update(r, "refs/heads/main", &a, &zero, "create"), 0);
	CHECK_RC(dits_ref_update(r, "refs/heads/main", &b, &zero, "must not exist"), DITS_ECONFLICT);
	CHECK(strstr(dits_error_last(), "refs/heads/main"));
	CHECK_RC(dits_ref_read(r, "refs/heads/main", &got), 0);
	CHECK(dits_id_eq(&got, &a));
	CHECK_RC(dits_ref_read(r, "HEAD", &got), 0);
	CHECK(dits_id_eq(&got, &a));
	CHECK_RC(dits_ref_update(r, "refs/heads/main", &c, &b, "wrong expected"), DITS_ECONFLICT);
	CHECK_RC(dits_ref_read(r, "refs/heads/main", &got), 0);
	CHECK(dits_id_eq(&got, &a));
	CHECK_RC(dits_ref_update(r, "refs/heads/main", &b, &a, "a to b"), 0);
	CHECK_RC(dits_ref_update(r, "refs/heads/main", &c, NULL, "any"), 0);
	CHECK_RC(dits_ref_read(r, "refs/heads/main", &got), 0);
	CHECK(dits_id_eq(&got, &c));
	CHECK_EQ_U64(reflog_lines(r, "refs/heads/main"), 3);
	dits_repo_unlock(r);

	/* listing, in byte order, under a prefix */
	const char *names[] = { "refs/heads/zeta", "refs/heads/alpha", "refs/heads/feature/x", "refs/tags/v1",
	                        "refs/heads/a_b", "refs/heads/Big" };
	for (unsigned i = 0; i < sizeof names / sizeof *names; i++) {
		dits_id id = make_id(10 + i);
		CHECK_RC(dits_ref_update(r, names[i], &id, &zero, "list"), 0);
	}
	dits_repo_unlock(r);
	seen s = { 0 };
	CHECK_RC(dits_refs_foreach(r, "refs/heads/", collect, &s), 0);
	const char *want[] = { "refs/heads/Big", "refs/heads/a_b", "refs/heads/alpha", "refs/heads/feature/x",
	                       "refs/heads/main", "refs/heads/zeta" };
	CHECK_EQ_U64(s.n, 6);
	for (size_t i = 0; i < 6 && i < s.n; i++) {
		CHECK(!strcmp(s.names[i], want[i]));
		if (strcmp(s.names[i], want[i]))
			fprintf(stderr, "  #%zu is %s, not %s\n", i, s.names[i], want[i]);
	}
	CHECK(s.n >= 5 && dits_id_eq(&s.ids[4], &c));
	memset(&s, 0, sizeof s);
	CHECK_RC(dits_refs_foreach(r, "refs/tags/", collect, &s), 0);
	CHECK(s.n == 1 && !strcmp(s.names[0], "refs/tags/v1"));
	memset(&s, 0, sizeof s);
	CHECK_RC(dits_refs_foreach(r, "refs/remotes/", collect, &s), 0);
	CHECK_EQ_U64(s.n, 0);

	/* removal */
	dits_id alpha = make_id(11);
	CHECK_RC(dits_ref_delete(r, "refs/heads/alpha", &a), DITS_ECONFLICT);
	CHECK_RC(dits_ref_delete(r, "refs/heads/alpha", &alpha), 0);
	CHECK_RC(dits_ref_read(r, "refs/heads/alpha", &got), DITS_ENOTFOUND);
	CHECK_RC(dits_ref_delete(r, "refs/heads/alpha", NULL), 0);
	CHECK_RC(dits_ref_delete(r, "refs/heads/zeta", NULL), 0);
	memset(&s, 0, sizeof s);
	CHECK_RC(dits_refs_foreach(r, "refs/heads/", collect, &s), 0);
	CHECK_EQ_U64(s.n, 4);
	dits_repo_unlock(r);

	/* HEAD detached, then back on the branch */
	CHECK_RC(dits_head_set_detached(r, &b, "detach"), 0);
	head = (char *)1;
	CHECK_RC(dits_head_target(r, &head), 0);
	CHECK(head == NULL);
	CHECK_RC(dits_ref_read(r, "HEAD", &got), 0);
	CHECK(dits_id_eq(&got, &b));
	CHECK_EQ_U64(reflog_lines(r, "HEAD"), 1);
	CHECK_RC(dits_head_set_branch(r, "refs/heads/main"), 0);
	CHECK_RC(dits_ref_read(r, "HEAD", &got), 0);
	CHECK(dits_id_eq(&got, &c));
	CHECK_RC(dits_revparse(r, "main", &got), DITS_ENOTFOUND); /* c names no commit in the store */
	dits_repo_unlock(r);

	/* A second handle sees a change at once. */
	dits_repo *r2 = NULL;
	CHECK_RC(open_repo(dir, &r2), 0);
	REQUIRE(r2);
	CHECK_RC(dits_ref_read(r2, "refs/heads/main", &got), 0);
	CHECK(dits_id_eq(&got, &c));
	CHECK_RC(dits_ref_update(r, "refs/heads/main", &a, &c, "seen by r2"), 0);
	dits_repo_unlock(r);
	CHECK_RC(dits_ref_read(r2, "refs/heads/main", &got), 0);
	CHECK(dits_id_eq(&got, &a));
	dits_repo_free(r2);

	/* several refs at once: one that is not where expected moves none */
	dits_ref_change ch[2] = { { "refs/heads/multi", b, { { 0 } } }, { "refs/heads/main", b, c } };
	CHECK_RC(dits_ref_update_all(r, ch, 2, "push"), DITS_ECONFLICT);
	CHECK(strstr(dits_error_last(), "refs/heads/main"));
	CHECK_RC(dits_ref_read(r, "refs/heads/multi", &got), DITS_ENOTFOUND);
	CHECK_RC(dits_ref_read(r, "refs/heads/main", &got), 0);
	CHECK(dits_id_eq(&got, &a));
	if (!strcmp(backend, "postgresql")) /* one transaction rolled back: not even a reflog line */
		CHECK_EQ_U64(reflog_lines(r, "refs/heads/multi"), 0);
	ch[1].expected = a;
	CHECK_RC(dits_ref_update_all(r, ch, 2, "push"), 0);
	CHECK_RC(dits_ref_read(r, "refs/heads/multi", &got), 0);
	CHECK(dits_id_eq(&got, &b));
	CHECK_RC(dits_ref_read(r, "refs/heads/main", &got), 0);
	CHECK(dits_id_eq(&got, &b));
	/* the same again: both are at b now, neither at what is expected */
	CHECK_RC(dits_ref_update_all(r, ch, 2, "push"), DITS_ECONFLICT);
	CHECK(strstr(dits_error_last(), "refs/heads/multi"));
	CHECK_RC(dits_ref_update_all(r, ch, 0, "push"), 0);
	dits_ref_change back = { "refs/heads/main", a, b };
	CHECK_RC(dits_ref_update_all(r, &back, 1, "back"), 0);
	CHECK_RC(dits_ref_delete(r, "refs/heads/multi", &b), 0);
	dits_repo_unlock(r);

	/* two racers from the same value, ROUNDS times */
	pthread_barrier_t bar;
	pthread_barrier_init(&bar, NULL, 2);
	racer x = { .dir = dir, .bar = &bar, .tag = 1 }, y = { .dir = dir, .bar = &bar, .tag = 2 };
	pthread_t tx, ty;
	REQUIRE(pthread_create(&tx, NULL, race_main, &x) == 0);
	REQUIRE(pthread_create(&ty, NULL, race_main, &y) == 0);
	pthread_join(tx, NULL);
	pthread_join(ty, NULL);
	pthread_barrier_destroy(&bar);
	CHECK_EQ_U64((uint64_t)x.errors + (uint64_t)y.errors, 0);
	CHECK_EQ_U64((uint64_t)x.wins + (uint64_t)y.wins, ROUNDS);
	CHECK_EQ_U64((uint64_t)x.losses + (uint64_t)y.losses, ROUNDS);
	fprintf(stderr, "# race: %d + %d wins of %d rounds\n", x.wins, y.wins, ROUNDS);
	CHECK_EQ_U64(reflog_lines(r, "refs/heads/race"), ROUNDS);
	dits_repo_free(r);
}

/* A fresh repository; with url, its refs in PostgreSQL under the key. */
static char *make_repo(const char *tag, const char *url)
{
	char *dir = util_mkdtemp(tag);
	REQUIRE(dir);
	dits_repo *r = NULL;
	CHECK_RC(dits_repo_init(&r, dir, NULL), 0);
	REQUIRE(r);
	if (url) {
		snprintf(key, sizeof key, "refdb-test-%ld", (long)getpid());
		dits_config_set(dits_repo_config(r), "refs.url", url);
		dits_config_set(dits_repo_config(r), "metadb.repo", key);
		char *cfg = dits_repo_path(r, "config");
		CHECK_RC(dits_config_write(dits_repo_config(r), cfg), 0);
		free(cfg);
	}
	dits_repo_free(r);
	return dir;
}

int main(void)
{
	setenv("DITS_AUTHOR_NAME", "Unit Tester", 1);
	setenv("DITS_AUTHOR_EMAIL", "unit@example.com", 1);
	char *dir = make_repo("refdb-files", NULL);
	body(dir, "files");
	util_rm_rf(dir);
	free(dir);

	pg_url = getenv("DITS_TEST_PG_URL");
	if (pg_url && *pg_url) {
		dir = make_repo("refdb-pg", pg_url);
		body(dir, "postgresql");
		/* Nothing of the repository went to files. */
		char *p = dits_strfmt("%s/.dits/refs/heads/main", dir);
		CHECK(access(p, F_OK) != 0);
		free(p);
		CHECK_EQ_U64((uint64_t)pg_count("SELECT count(*) FROM refs WHERE repo = $1 AND name = 'HEAD'"), 1);
		/* A bad URL is an error naming the config, not a silent fallback to files. */
		dits_repo *r = NULL;
		CHECK_RC(dits_repo_open(&r, dir), 0);
		dits_config_set(dits_repo_config(r), "refs.url", "mysql://nowhere/x");
		dits_id got;
		CHECK_RC(dits_ref_read(r, "HEAD", &got), DITS_EINVALID);
		CHECK(strstr(dits_error_last(), "refs.url"));
		dits_repo_free(r);
		util_rm_rf(dir);
		free(dir);
	} else {
		fprintf(stderr, "# PostgreSQL skipped: DITS_TEST_PG_URL is not set\n");
	}
	return check_done();
}
