/*
 * server_workers.c - the server's proxy workers. N threads wait on a
 * condition variable; a ref update or an S3 event names the repository
 * that got jobs, and every few seconds (and at start-up) the threads look
 * through ROOT for repositories with jobs that became ready meanwhile: jobs
 * from before a restart, retries whose backoff ran out, leases of a killed
 * worker. Each job runs in the thread that claimed it, through the function
 * the caller handed in (the media layer is not linked here).
 *
 * When repositories keep their metadata in PostgreSQL, a listener thread
 * per database URL LISTENs for the notification every enqueue sends (from
 * any process: another server, a push's commit, a CLI) and wakes the
 * workers for the repository its payload names, so a job queued elsewhere
 * is claimed in milliseconds instead of at the next look through ROOT. The
 * look stays: leases expire and backoffs run out without a notification.
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
/* A look through ROOT at most this often when notifications name unknown keys. */
#define RESCAN_SECONDS 1.0
/* How long a listener waits per call: the longest it takes to notice a stop. */
#define LISTEN_MS 250
#define MAX_LISTENERS 8

typedef struct key_name {
	char *key;  /* repository key (metadb.h) */
	char *name; /* repository name under ROOT */
} key_name;

typedef struct pg_listener {
	dits_server *s;
	char *url;
	char *key; /* any repository's key: a handle needs one */
	pthread_t th;
	bool running;
} pg_listener;

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

static void free_keys(key_name *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].key);
		free(v[i].name);
	}
	free(v);
}

/* ---- LISTEN/NOTIFY ------------------------------------------------------- */

/* A notification named key: wake the workers for its repository. */
static void on_notify(void *ctx, const char *key)
{
	dits_server *s = ctx;
	pthread_mutex_lock(&s->mu);
	bool known = false;
	for (size_t i = 0; i < s->nkeys && !known; i++) {
		if (!strcmp(s->keys[i].key, key)) {
			wake_locked(s, s->keys[i].name);
			known = true;
		}
	}
	if (!known) {
		/* A repository created since the last look (or another ROOT's):
		 * look through ROOT soon, not at once for every stranger. */
		double soon = s->last_scan + RESCAN_SECONDS;
		if (soon < s->next_scan)
			s->next_scan = soon;
	}
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

static bool is_stopping(dits_server *s)
{
	pthread_mutex_lock(&s->mu);
	bool stop = s->stopping;
	pthread_mutex_unlock(&s->mu);
	return stop;
}

static void *listener_main(void *arg)
{
	pg_listener *l = arg;
	dits_server *s = l->s;
	dits_metadb *db = NULL;
	bool reported = false;
	while (!is_stopping(s)) {
		if (!db) {
			if (dits_metadb_open_url(&db, l->url, l->key)) {
				if (!reported)
					fprintf(stderr, "dits: workers: %s (looking every %g s instead)\n",
					        dits_error_last(), s->scan_seconds);
				reported = true;
				dits_error_clear();
				db = NULL;
				for (int i = 0; i < 4 && !is_stopping(s); i++)
					dits_sleep_ms(LISTEN_MS);
				continue;
			}
			/* The first call starts listening; what was queued before
			 * it is found by a look through ROOT right after. */
			if (dits_job_wait_any(db, 0, on_notify, s) == 0) {
				reported = false;
				pthread_mutex_lock(&s->mu);
				s->next_scan = 0;
				pthread_cond_signal(&s->cv);
				pthread_mutex_unlock(&s->mu);
				continue;
			}
		} else if (dits_job_wait_any(db, LISTEN_MS, on_notify, s) == 0) {
			continue;
		}
		/* The connection broke: listen again on a new one. */
		dits_error_clear();
		dits_metadb_close(db);
		db = NULL;
	}
	dits_metadb_close(db);
	return NULL;
}

/* Starts a listener for url unless there is one. Holds s->mu. */
static void listen_url_locked(dits_server *s, const char *url, const char *key)
{
	for (size_t i = 0; i < s->nlisteners; i++)
		if (!strcmp(s->listeners[i].url, url))
			return;
	if (s->nlisteners == MAX_LISTENERS || s->stopping)
		return; /* the look through ROOT still finds their jobs */
	if (!s->listeners && !(s->listeners = calloc(MAX_LISTENERS, sizeof *s->listeners)))
		return;
	pg_listener *l = &s->listeners[s->nlisteners];
	l->s = s;
	l->url = strdup(url);
	l->key = strdup(key);
	if (!l->url || !l->key || pthread_create(&l->th, NULL, listener_main, l) != 0) {
		free(l->url);
		free(l->key);
		memset(l, 0, sizeof *l);
		return;
	}
	l->running = true;
	s->nlisteners++;
}

/* ---- looking through ROOT -------------------------------------------------- */

/*
 * Whether the repository has a job that may be claimed now; when it has
 * one that becomes claimable later (a backoff, another worker's lease),
 * *later is how many seconds from now.
 */
static bool has_ready_job(dits_server *s, const char *name, double *later)
{
	char *dir = dits_strfmt("%s/%s/.dits", s->root, name);
	bool ready = false;
	*later = -1;
	dits_metadb *db = NULL;
	if (dir && dits_metadb_open_dir(&db, dir, true) == 0 && db) {
		int64_t when;
		if (dits_job_next_ready(db, &when) == 0) {
			int64_t now = dits_metadb_now(db);
			ready = when <= now;
			if (!ready)
				*later = (double)(when - now);
		}
		dits_metadb_close(db);
	}
	dits_error_clear();
	free(dir);
	return ready;
}

/* --once: whether name failed in this run (its jobs would be tried forever). */
static bool skipped(dits_server *s, const char *name)
{
	pthread_mutex_lock(&s->mu);
	bool found = false;
	for (size_t i = 0; i < s->nskip && !found; i++)
		found = !strcmp(s->skip[i], name);
	pthread_mutex_unlock(&s->mu);
	return found;
}

/* Remembers that name failed. Holds s->mu. */
static void skip_locked(dits_server *s, const char *name)
{
	char **v = realloc(s->skip, (s->nskip + 1) * sizeof *v);
	if (!v)
		return;
	s->skip = v;
	if ((v[s->nskip] = strdup(name)))
		s->nskip++;
}

/*
 * Looks through ROOT: queues the repositories with ready jobs, learns the
 * keys that notifications name, starts listeners, and plans the next look
 * for when the earliest waiting job becomes ready (a lease of a killed
 * worker is taken over as soon as it expires).
 */
static void scan(dits_server *s)
{
	char **names;
	size_t n;
	if (server_list_repos(s, &names, &n)) {
		dits_error_clear();
		return;
	}
	key_name *keys = calloc(n + 1, sizeof *keys);
	size_t nkeys = 0;
	double soonest = -1;
	for (size_t i = 0; i < n; i++) {
		char *dir = dits_strfmt("%s/%s/.dits", s->root, names[i]);
		char *url = NULL, *key = NULL;
		if (keys && dir && dits_metadb_locate_dir(dir, &url, &key) == 0 && url) {
			keys[nkeys].key = key;
			keys[nkeys].name = strdup(names[i]);
			if (keys[nkeys].name)
				nkeys++;
			else
				free(key);
			pthread_mutex_lock(&s->mu);
			listen_url_locked(s, url, key);
			pthread_mutex_unlock(&s->mu);
		} else {
			free(key);
		}
		free(url);
		free(dir);
		dits_error_clear();
		if (s->once && skipped(s, names[i]))
			continue;
		double later;
		bool ready = has_ready_job(s, names[i], &later);
		if (later >= 0 && (soonest < 0 || later < soonest))
			soonest = later;
		if (!ready)
			continue;
		pthread_mutex_lock(&s->mu);
		wake_locked(s, names[i]);
		pthread_cond_signal(&s->cv);
		pthread_mutex_unlock(&s->mu);
	}
	server_free_names(names, n);
	pthread_mutex_lock(&s->mu);
	if (keys) {
		free_keys(s->keys, s->nkeys);
		s->keys = keys;
		s->nkeys = nkeys;
	}
	if (soonest >= 0) {
		/* Whole seconds on the database's clock: look just after. */
		double at = dits_now() + (soonest < 0.2 ? 0.2 : soonest + 0.1);
		if (at < s->next_scan)
			s->next_scan = at;
	}
	pthread_mutex_unlock(&s->mu);
}

/* ---- the workers ----------------------------------------------------------- */

/* Waits for a repository to work on; NULL when the server stops. Holds s->mu. */
static char *next_repo_locked(dits_server *s)
{
	for (;;) {
		if (s->stopping)
			return NULL;
		if (s->nwake) {
			char *name = s->wake[0];
			memmove(s->wake, s->wake + 1, (s->nwake - 1) * sizeof *s->wake);
			s->nwake--;
			s->busy++;
			return name;
		}
		double now = dits_now();
		/* --once: nothing queued and nobody busy, so look now; when the
		 * look finds nothing either, the work is done. */
		bool final = s->once && s->busy == 0;
		if (now >= s->next_scan || final) {
			/* One thread scans; the others keep waiting. */
			s->next_scan = now + s->scan_seconds;
			s->last_scan = now;
			s->busy++;
			pthread_mutex_unlock(&s->mu);
			scan(s);
			pthread_mutex_lock(&s->mu);
			s->busy--;
			if (final && !s->nwake && s->busy == 0) {
				s->drained = true;
				s->stopping = true;
				pthread_cond_broadcast(&s->cv);
			}
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
	pthread_mutex_lock(&s->mu);
	char *name;
	while ((name = next_repo_locked(s))) {
		pthread_mutex_unlock(&s->mu);
		char *dir = server_repo_dir(s, name);
		int rc = dir ? s->run_job(s->job_ctx, s, dir) : 0;
		if (rc < 0)
			fprintf(stderr, "dits: %s: %s: %s\n", s->mhd ? "serve" : "worker", name, dits_error_last());
		dits_error_clear();
		pthread_mutex_lock(&s->mu);
		s->busy--;
		if (rc < 0 && s->once)
			skip_locked(s, name); /* --once ends even when a repository keeps failing */
		/* It ran one: there may be more, for this thread or an idle one. */
		if (rc > 0) {
			wake_locked(s, name);
			pthread_cond_signal(&s->cv);
		}
		free(dir);
		free(name);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

int workers_start(dits_server *s, int n)
{
	s->workers = calloc((size_t)n, sizeof *s->workers);
	if (!s->workers)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	s->next_scan = 0; /* scan at once: jobs from before a restart */
	/* DITS_WORKER_SCAN: seconds between looks through ROOT (docs/SERVER.md) */
	const char *env = getenv("DITS_WORKER_SCAN");
	char *end;
	double v = env && *env ? strtod(env, &end) : 0;
	s->scan_seconds = v >= 0.1 && v <= 3600 && !*end ? v : SCAN_SECONDS;
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
	/* No scan runs now: nothing starts another listener. */
	for (size_t i = 0; i < s->nlisteners; i++) {
		if (s->listeners[i].running)
			pthread_join(s->listeners[i].th, NULL);
		free(s->listeners[i].url);
		free(s->listeners[i].key);
	}
	free(s->listeners);
	s->listeners = NULL;
	s->nlisteners = 0;
	free_keys(s->keys, s->nkeys);
	s->keys = NULL;
	s->nkeys = 0;
	for (size_t i = 0; i < s->nskip; i++)
		free(s->skip[i]);
	free(s->skip);
	s->skip = NULL;
	s->nskip = 0;
	free(s->workers);
	s->workers = NULL;
	s->nworkers = 0;
	for (size_t i = 0; i < s->nwake; i++)
		free(s->wake[i]);
	free(s->wake);
	s->wake = NULL;
	s->nwake = s->capwake = 0;
}
