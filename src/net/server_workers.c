/*
 * server_workers.c - the server's proxy workers. N threads wait on a
 * condition variable; a ref update or an S3 event names the repository
 * that got jobs, and every few seconds (and at start-up) the threads look
 * through ROOT for repositories with jobs that became ready meanwhile: jobs
 * from before a restart, retries whose backoff ran out, leases of a killed
 * worker. Each job runs in the thread that claimed it, through the function
 * the caller handed in (the media layer is not linked here).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "error.h"
#include "fsutil.h"
#include "metadb.h"
#include "server_internal.h"

#define SCAN_SECONDS 5.0

/* Appends name unless it is queued already. Holds s->mu. */
static void wake_locked(dits_server *s, const char *name)
{
	for (size_t i = 0; i < s->nwake; i++)
		if (!strcmp(s->wake[i], name))
			return;
	if (s->nwake == s->capwake) {
		size_t cap = s->capwake ? s->capwake * 2 : 8;
		char **v = realloc(s->wake, cap * sizeof *v);
		if (!v)
			return; /* the next scan finds it */
		s->wake = v;
		s->capwake = cap;
	}
	char *copy = strdup(name);
	if (copy)
		s->wake[s->nwake++] = copy;
}

void workers_wake(dits_server *s, const char *name)
{
	/* nworkers under the lock: request threads may run while
	 * workers_start is still starting them */
	pthread_mutex_lock(&s->mu);
	if (s->nworkers) {
		wake_locked(s, name);
		pthread_cond_signal(&s->cv);
	}
	pthread_mutex_unlock(&s->mu);
}

/* True when the repository has a job that may be claimed now. */
static bool has_ready_job(dits_server *s, const char *name)
{
	char *dir = dits_strfmt("%s/%s/.dits", s->root, name);
	bool ready = false;
	dits_metadb *db = NULL;
	if (dir && dits_metadb_open_dir(&db, dir, true) == 0 && db) {
		int64_t when;
		ready = dits_job_next_ready(db, &when) == 0 && when <= dits_metadb_now(db);
		dits_metadb_close(db);
	}
	dits_error_clear();
	free(dir);
	return ready;
}

/* Looks through ROOT and queues the repositories with ready jobs. */
static void scan(dits_server *s)
{
	char **names;
	size_t n;
	if (server_list_repos(s, &names, &n)) {
		dits_error_clear();
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (!has_ready_job(s, names[i]))
			continue;
		pthread_mutex_lock(&s->mu);
		wake_locked(s, names[i]);
		pthread_cond_signal(&s->cv);
		pthread_mutex_unlock(&s->mu);
	}
	server_free_names(names, n);
}

/* Waits for a repository to work on; NULL when the server stops. */
static char *next_repo(dits_server *s)
{
	pthread_mutex_lock(&s->mu);
	for (;;) {
		if (s->stopping) {
			pthread_mutex_unlock(&s->mu);
			return NULL;
		}
		if (s->nwake) {
			char *name = s->wake[0];
			memmove(s->wake, s->wake + 1, (s->nwake - 1) * sizeof *s->wake);
			s->nwake--;
			pthread_mutex_unlock(&s->mu);
			return name;
		}
		double now = dits_now();
		if (now >= s->next_scan) {
			/* One thread scans; the others keep waiting. */
			s->next_scan = now + SCAN_SECONDS;
			pthread_mutex_unlock(&s->mu);
			scan(s);
			pthread_mutex_lock(&s->mu);
			continue;
		}
		/* The condition variable waits on the real-time clock. */
		double wait = s->next_scan - now;
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		long ns = ts.tv_nsec + (long)((wait - (double)(long)wait) * 1e9);
		ts.tv_sec += (time_t)wait + ns / 1000000000L;
		ts.tv_nsec = ns % 1000000000L;
		pthread_cond_timedwait(&s->cv, &s->mu, &ts);
	}
}

static void *worker_main(void *arg)
{
	dits_server *s = arg;
	char *name;
	while ((name = next_repo(s))) {
		char *dir = server_repo_dir(s, name);
		int rc = dir ? s->run_job(s->job_ctx, s, dir) : 0;
		if (rc < 0)
			fprintf(stderr, "dits: serve: %s: %s\n", name, dits_error_last());
		dits_error_clear();
		/* It ran one: there may be more, for this thread or an idle one. */
		if (rc > 0)
			workers_wake(s, name);
		free(dir);
		free(name);
	}
	return NULL;
}

int workers_start(dits_server *s, int n)
{
	s->workers = calloc((size_t)n, sizeof *s->workers);
	if (!s->workers)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	s->next_scan = 0; /* scan at once: jobs from before a restart */
	for (int i = 0; i < n; i++) {
		if (pthread_create(&s->workers[i], NULL, worker_main, s) != 0)
			return dits_error_set(DITS_ERROR, "cannot start worker thread %d", i + 1);
		pthread_mutex_lock(&s->mu);
		s->nworkers++;
		pthread_mutex_unlock(&s->mu);
	}
	return 0;
}

void workers_stop(dits_server *s)
{
	pthread_mutex_lock(&s->mu);
	s->stopping = true;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	for (int i = 0; i < s->nworkers; i++)
		pthread_join(s->workers[i], NULL);
	free(s->workers);
	s->workers = NULL;
	s->nworkers = 0;
	for (size_t i = 0; i < s->nwake; i++)
		free(s->wake[i]);
	free(s->wake);
	s->wake = NULL;
	s->nwake = s->capwake = 0;
}
