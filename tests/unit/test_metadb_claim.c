/*
 * Job claiming under contention: W worker processes (default 8) claim and
 * complete N no-op jobs (default 2000) as fast as they can. Every job must
 * be done exactly once, on its first attempt, and no claim may hand one job
 * to two workers. Prints the rate in jobs per second.
 *
 * Backend: PostgreSQL when DITS_TEST_PG_URL is set (tests/pg/pg.sh run),
 * else an SQLite file in a temporary directory. DITS_CLAIM_JOBS and
 * DITS_CLAIM_WORKERS change N and W; bench/jobs.sh uses this program to
 * compare the two backends.
 */
#include <sys/wait.h>
#include <time.h>

#include "error.h"
#include "hash.h"
#include "metadb.h"

#include "check.h"
#include "util.h"

static char *tmpdir;
static const char *pg_url;

static int open_db(dits_metadb **db)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/claim.db", tmpdir);
	return pg_url ? dits_metadb_open_url(db, pg_url, path) : dits_metadb_open(db, path);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int env_int(const char *name, int def)
{
	const char *v = getenv(name);
	return v && atoi(v) > 0 ? atoi(v) : def;
}

static int worker(int w, int fd, int go)
{
	dits_metadb *db = NULL;
	if (open_db(&db)) {
		fprintf(stderr, "worker %d: %s\n", w, dits_error_last());
		return 2;
	}
	char c;
	while (read(go, &c, 1) > 0)
		;
	char owner[32];
	snprintf(owner, sizeof owner, "w%d:%d", w, (int)getpid());
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
		if (dits_job_complete(db, j.id, owner)) {
			fprintf(stderr, "%s: complete: %s\n", owner, dits_error_last());
			status = 4;
		} else if (write(fd, &j.id, sizeof j.id) != (ssize_t)sizeof j.id) {
			status = 5; /* 8-byte pipe writes are atomic */
		}
		dits_job_free(&j);
	}
	dits_metadb_close(db);
	return status;
}

int main(void)
{
	tmpdir = util_mkdtemp("metadb-claim");
	REQUIRE(tmpdir);
	unsetenv("DITS_TEST_NOW");
	pg_url = getenv("DITS_TEST_PG_URL");
	if (pg_url && !*pg_url)
		pg_url = NULL;
	int njobs = env_int("DITS_CLAIM_JOBS", 2000);
	int nworkers = env_int("DITS_CLAIM_WORKERS", 8);

	dits_metadb *db = NULL;
	CHECK_RC(open_db(&db), 0);
	REQUIRE(db);
	int64_t base = 0;
	for (int i = 0; i < njobs; i++) {
		dits_id a;
		int64_t id = 0;
		dits_hash_buf(&a, &i, sizeof i);
		CHECK_RC(dits_job_enqueue(db, "NOOP", &a, NULL, "proxy_1080p", NULL, NULL, &id), 0);
		if (i == 0)
			base = id - 1;
		if (id != base + i + 1) {
			CHECK_EQ_U64(id, base + i + 1);
			break;
		}
	}
	dits_metadb_close(db);

	int fds[2], go[2];
	REQUIRE(pipe(fds) == 0 && pipe(go) == 0);
	pid_t *pids = calloc((size_t)nworkers, sizeof *pids);
	int *seen = calloc((size_t)njobs + 1, sizeof *seen);
	REQUIRE(pids && seen);
	for (int w = 0; w < nworkers; w++) {
		pids[w] = fork();
		REQUIRE(pids[w] >= 0);
		if (pids[w] == 0) {
			close(fds[0]);
			close(go[1]);
			_exit(worker(w, fds[1], go[0]));
		}
	}
	close(fds[1]);
	close(go[0]);
	usleep(300000); /* every worker has connected */
	double t0 = now_s();
	close(go[1]);
	int64_t id;
	int total = 0, bad = 0;
	while (read(fds[0], &id, sizeof id) == (ssize_t)sizeof id) {
		total++;
		id -= base;
		if (id < 1 || id > njobs)
			bad++;
		else
			seen[id]++;
	}
	for (int w = 0; w < nworkers; w++) {
		int st = 0;
		CHECK(waitpid(pids[w], &st, 0) == pids[w]);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	double secs = now_s() - t0;
	close(fds[0]);

	int once = 0, twice = 0;
	for (int i = 1; i <= njobs; i++) {
		once += seen[i] == 1;
		twice += seen[i] > 1;
	}
	CHECK_EQ_U64(bad, 0);
	CHECK_EQ_U64(twice, 0); /* no double claims */
	CHECK_EQ_U64(once, njobs);
	CHECK_EQ_U64(total, njobs);

	CHECK_RC(open_db(&db), 0);
	REQUIRE(db);
	struct dits_job_counts c;
	CHECK_RC(dits_job_counts(db, &c), 0);
	CHECK_EQ_U64(c.done, njobs);
	CHECK(c.queued == 0 && c.running == 0 && c.dead == 0);
	dits_job *list;
	size_t n;
	CHECK_RC(dits_job_list(db, NULL, "done", &list, &n), 0);
	size_t first = 0;
	for (size_t i = 0; i < n; i++)
		first += list[i].attempts == 1;
	CHECK_EQ_U64(first, njobs);
	dits_job_list_free(list, n);
	dits_metadb_close(db);

	printf("claim: backend %s, %d workers, %d no-op jobs, %.3f s, %.0f jobs/s, %d double claims\n",
	       pg_url ? "postgresql" : "sqlite", nworkers, njobs, secs, njobs / secs, twice);
	free(pids);
	free(seen);
	util_rm_rf(tmpdir);
	free(tmpdir);
	return check_done();
}
