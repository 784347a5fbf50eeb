/*
 * dits serve: repositories over HTTP (docs/SERVER.md). It runs in
 * dits-media, so the server's workers make proxies in this process; the
 * server itself (src/net) links no FFmpeg and gets the worker as a callback.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "repo.h"
#include "commands.h"
#include "error.h"
#include "fsutil.h"
#include "odb_s3.h"
#include "server.h"
#ifdef DITS_WITH_MEDIA
#include "hologram.h"
#include "media.h"
#endif

#ifdef DITS_WITH_MEDIA
/* What `dits worker --root` prints about the jobs its workers run. */
typedef struct worker_out {
	bool json, tty;
	int lease;                 /* --lease, else DITS_WORKER_LEASE, else 0 (the default) */
	pthread_mutex_t mu;
	unsigned done, failed, retried;
	unsigned errors;           /* repositories that could not be worked on (reported on stderr) */
	double last_progress;
} worker_out;

typedef struct job_dir {
	const char *dir;
	dits_server *s;
	worker_out *out; /* NULL in dits serve */
} job_dir;

/* A job's repository, opened as the server opens it (its packs may be in S3). */
static int open_job_repo(void *ctx, const char *workdir, dits_repo **out)
{
	const job_dir *jd = ctx;
	return dits_server_open_repo_dir(jd->s, workdir, out);
}

/* One line per finished job, and a progress line on a terminal. */
static void report_job(worker_out *wo, const char *dir, const dits_worker_event *ev)
{
	const char *name = strrchr(dir, '/');
	name = name ? name + 1 : dir;
	bool ready = !strcmp(ev->what, "ready"), failed = !strcmp(ev->what, "failed"),
	     retry = !strcmp(ev->what, "retry");
	pthread_mutex_lock(&wo->mu);
	if (!strcmp(ev->what, "progress") && wo->tty && !wo->json && ev->total > 0) {
		double now = dits_now();
		if (now - wo->last_progress >= 0.2) {
			wo->last_progress = now;
			fprintf(stderr, "\r%s: %-40.40s %3.0f%%\033[K", name, ev->path, 100 * ev->done / ev->total);
		}
	} else if (ready || failed || retry) {
		wo->done += ready;
		wo->failed += failed;
		wo->retried += retry;
		if (wo->tty && !wo->json)
			fprintf(stderr, "\r\033[K");
		const char *why = cli_reason(ev->path, ev->message);
		if (wo->json) {
			dits_buf b = DITS_BUF_INIT;
			dits_buf_puts(&b, "{\"repo\": ");
			dits_buf_put_json_str(&b, name);
			dits_buf_puts(&b, ", \"path\": ");
			dits_buf_put_json_str(&b, ev->path);
			dits_buf_printf(&b, ", \"state\": \"%s\", \"message\": ", ev->what);
			if (why)
				dits_buf_put_json_str(&b, why);
			else
				dits_buf_puts(&b, "null");
			if (dits_buf_puts(&b, "}\n") == 0)
				fwrite(b.data, 1, b.len, stdout);
			dits_buf_free(&b);
			fflush(stdout);
		} else {
			FILE *f = ready ? stdout : stderr;
			fprintf(f, "%s: %s: %s%s%s\n", name, ev->path, ev->what, why ? ": " : "", why ? why : "");
			fflush(f);
		}
	}
	pthread_mutex_unlock(&wo->mu);
}

/* Hands a worker's progress to the server, whose web page shows it in the queue. */
static void on_job_event(void *ctx, const dits_worker_event *ev)
{
	const job_dir *jd = ctx;
	if (!strcmp(ev->what, "progress") && ev->total > 0)
		dits_server_progress(jd->s, jd->dir, ev->path, ev->done / ev->total);
	else if (!strcmp(ev->what, "start"))
		dits_server_progress(jd->s, jd->dir, ev->path, 0);
	if (jd->out)
		report_job(jd->out, jd->dir, ev);
}

/* The lease of the workers' jobs: DITS_WORKER_LEASE (seconds) when set, else the default. */
static int env_lease(void)
{
	const char *v = getenv("DITS_WORKER_LEASE");
	return v && *v ? atoi(v) : 0;
}

/* One job of the repository at dir, in the calling worker thread. */
static int run_one_job(void *ctx, dits_server *s, const char *dir)
{
	worker_out *wo = ctx;
	dits_repo *r;
	int rc = dits_server_open_repo_dir(s, dir, &r);
	if (rc && wo) {
		pthread_mutex_lock(&wo->mu);
		wo->errors++;
		pthread_mutex_unlock(&wo->mu);
	}
	if (rc)
		return rc;
	dits_worker_stats st;
	job_dir jd = { dir, s, wo };
	dits_worker_opts o = { .jobs = 1, .once = true, .drain = true, .on_event = on_job_event, .ctx = &jd,
	                       .open_repo = open_job_repo, .lease_seconds = wo ? wo->lease : env_lease() };
	rc = dits_worker_run(r, &o, &st);
	dits_repo_free(r);
	if (rc && wo) {
		pthread_mutex_lock(&wo->mu);
		wo->errors++;
		pthread_mutex_unlock(&wo->mu);
	}
	if (rc)
		return rc;
	return st.done + st.failed + st.retried > 0 ? 1 : 0;
}
#endif

#ifdef DITS_WITH_MEDIA
/* The attach rules between a proxy and its master, from its variant record (the web page's asset view). */
static char *attach_checks(const char *facts_json, const char *type)
{
	dits_media_facts mf, pf;
	int h = 0;
	if (dits_media_facts_parse(facts_json, NULL, &pf) || dits_media_facts_parse(facts_json, "master", &mf)) {
		dits_error_clear();
		return NULL;
	}
	if (sscanf(type, "proxy_%dp", &h) != 1)
		h = 0;
	dits_proxy_check rows[DITS_PROXY_CHECKS_MAX];
	int n = dits_proxy_check_all(&mf, &pf, h, rows, DITS_PROXY_CHECKS_MAX);
	dits_buf b = DITS_BUF_INIT;
	dits_buf_puts(&b, "[");
	for (int i = 0; i < n && i < DITS_PROXY_CHECKS_MAX; i++) {
		dits_buf_puts(&b, i ? ", {\"rule\": " : "{\"rule\": ");
		dits_buf_put_json_str(&b, rows[i].rule);
		dits_buf_puts(&b, ", \"master\": ");
		dits_buf_put_json_str(&b, rows[i].master);
		dits_buf_puts(&b, ", \"proxy\": ");
		dits_buf_put_json_str(&b, rows[i].proxy);
		dits_buf_printf(&b, ", \"pass\": %s}", rows[i].pass ? "true" : "false");
	}
	if (dits_buf_puts(&b, "]") || dits_buf_cstr(&b)) {
		dits_buf_free(&b);
		return NULL;
	}
	return (char *)b.data;
}
#endif

static int write_pid_file(const char *path)
{
	char line[32];
	int n = snprintf(line, sizeof line, "%ld\n", (long)getpid());
	return dits_atomic_write(path, line, (size_t)n);
}

/* A whole number lo..hi; -1 for anything else. */
static int number_opt(const char *arg, unsigned lo, unsigned hi, unsigned *out)
{
	char *end;
	long v = strtol(arg, &end, 10);
	if (end == arg || *end || v < (long)lo || v > (long)hi)
		return -1;
	*out = (unsigned)v;
	return 0;
}

/*
 * Every connection is a socket: lift the soft descriptor limit towards the
 * hard one so that max-connections (plus packs and databases) fit.
 */
static void raise_fd_limit(unsigned conns)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)conns * 2 + 256;
	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want)
		fprintf(stderr, "dits: warning: only %llu file descriptors for %u connections\n",
		        (unsigned long long)rl.rlim_cur, conns);
}

/* A size in bytes with an optional K, M, G or T suffix (powers of 1024); -1 for anything else. */
static int size_opt(const char *arg, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(arg, &end, 10);
	if (end == arg || errno || arg[0] == '-')
		return -1;
	unsigned shift = 0;
	switch (*end) {
	case 'K': case 'k': shift = 10; end++; break;
	case 'M': case 'm': shift = 20; end++; break;
	case 'G': case 'g': shift = 30; end++; break;
	case 'T': case 't': shift = 40; end++; break;
	default: break;
	}
	if (*end || v == 0 || v > (UINT64_MAX >> shift))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

int cmd_serve(int argc, char **argv)
{
	dits_server_opts o = { .listen = "127.0.0.1:7780", .root = ".", .workers = 1 };
	const char *pid_file = NULL;
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "root", required_argument, NULL, 'r' },
		{ "workers", required_argument, NULL, 'w' },
		{ "auth", required_argument, NULL, 'a' },
		{ "tls-cert", required_argument, NULL, 'c' },
		{ "tls-key", required_argument, NULL, 'k' },
		{ "pid-file", required_argument, NULL, 'p' },
		{ "max-connections", required_argument, NULL, 'M' },
		{ "max-per-client", required_argument, NULL, 'P' },
		{ "header-timeout", required_argument, NULL, 'H' },
		{ "idle-timeout", required_argument, NULL, 'I' },
		{ "store", required_argument, NULL, 's' },
		{ "store-cache", required_argument, NULL, 'C' },
		{ "store-cache-dir", required_argument, NULL, 'D' },
		{ "db", required_argument, NULL, 'B' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	opterr = 0; /* an unknown option is reported below, in the usage format of every command */
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		char *end;
		switch (c) {
		case 'l': o.listen = optarg; break;
		case 'r': o.root = optarg; break;
		case 'a': o.auth_file = optarg; break;
		case 'c': o.tls_cert = optarg; break;
		case 'k': o.tls_key = optarg; break;
		case 'p': pid_file = optarg; break;
		case 's': o.store = optarg; break;
		case 'D': o.store_cache_dir = optarg; break;
		case 'B': o.db = optarg; break;
		case 'C':
			if (size_opt(optarg, &o.store_cache))
				return cli_usage("serve: --store-cache takes a size such as 512M or 4G");
			break;
		case 'w':
			o.workers = (int)strtol(optarg, &end, 10);
			if (*end || end == optarg || o.workers < 0 || o.workers > 64)
				return cli_usage("serve: --workers takes 0..64");
			break;
		case 'M':
			if (number_opt(optarg, 2, 100000, &o.max_connections))
				return cli_usage("serve: --max-connections takes 2..100000");
			break;
		case 'P':
			if (number_opt(optarg, 1, 100000, &o.max_per_client))
				return cli_usage("serve: --max-per-client takes 1..100000");
			break;
		case 'H':
			if (number_opt(optarg, 1, 3600, &o.header_timeout))
				return cli_usage("serve: --header-timeout takes 1..3600 seconds");
			break;
		case 'I':
			if (number_opt(optarg, 1, 86400, &o.idle_timeout))
				return cli_usage("serve: --idle-timeout takes 1..86400 seconds");
			break;
		case ':':
			return cli_usage_error(NULL, "option '%s' needs a value", argv[optind - 1]);
		default:
			return cli_usage_error(NULL, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage("serve: unexpected argument");
#ifdef DITS_WITH_MEDIA
	o.run_job = run_one_job;
	o.attach_checks = attach_checks;
#else
	o.workers = 0;
#endif
	/* Wait for the stop signals in this thread only; the server's threads
	 * inherit the mask. */
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	raise_fd_limit(o.max_connections ? o.max_connections : DITS_SERVER_MAX_CONNECTIONS);
	dits_server *s;
	if (dits_server_start(&s, &o))
		return cli_fail();
	if (pid_file && write_pid_file(pid_file)) {
		dits_server_stop(s);
		return cli_fail();
	}
	printf("listening on %s\n", dits_server_url(s));
	fflush(stdout);
	int sig;
	sigwait(&stop, &sig);
	dits_server_stop(s);
	if (pid_file)
		unlink(pid_file);
	return 0;
}

#ifdef DITS_WITH_MEDIA
/* A second SIGTERM or SIGINT while the current jobs finish: leave them. */
static void *second_signal(void *arg)
{
	sigset_t *stop = arg;
	int sig;
	if (sigwait(stop, &sig) == 0) {
		fprintf(stderr, "dits: worker: stopping now; the jobs in progress are taken over when their leases expire\n");
		_exit(0);
	}
	return NULL;
}
#endif

int cmd_worker_root(const worker_root_opts *wo)
{
#ifndef DITS_WITH_MEDIA
	(void)wo;
	return cli_usage("worker: runs in dits-media, which was not started");
#else
	dits_server_opts o = { .root = wo->root, .workers = 1, .headless = true, .once = wo->once,
	                       .store = wo->store, .store_cache_dir = wo->store_cache_dir, .db = wo->db };
	if (wo->workers) {
		unsigned n;
		if (number_opt(wo->workers, 1, 64, &n))
			return cli_usage_error(NULL, "worker: --workers takes 1..64, not '%s'", wo->workers);
		o.workers = (int)n;
	}
	if (wo->store_cache && size_opt(wo->store_cache, &o.store_cache))
		return cli_usage_error(NULL, "worker: --store-cache takes a size such as 512M or 4G, not '%s'",
		                       wo->store_cache);
	if ((wo->store_cache || wo->store_cache_dir) && !wo->store)
		return cli_usage_error(NULL, "worker: --store-cache and --store-cache-dir need --store");
	worker_out out = { .json = wo->json, .tty = isatty(STDERR_FILENO) && !getenv("DITS_NO_PROGRESS") };
	unsigned lease = 0;
	if (wo->lease && number_opt(wo->lease, 1, 86400, &lease))
		return cli_usage_error(NULL, "worker: --lease takes 1..86400 seconds, not '%s'", wo->lease);
	out.lease = lease ? (int)lease : env_lease();
	pthread_mutex_init(&out.mu, NULL);
	o.run_job = run_one_job;
	o.job_ctx = &out;
	/* The stop signals are waited for in this thread only; the workers
	 * inherit the mask. */
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	dits_server *s;
	if (dits_server_start(&s, &o)) {
		pthread_mutex_destroy(&out.mu);
		return cli_fail();
	}
	bool signalled = false;
	for (;;) {
		struct timespec tick = { 0, 200 * 1000000L };
		int sig = sigtimedwait(&stop, NULL, &tick);
		if (sig == SIGTERM || sig == SIGINT) {
			signalled = true;
			break;
		}
		if (wo->once && dits_server_drained(s))
			break;
	}
	pthread_t second;
	if (signalled && pthread_create(&second, NULL, second_signal, &stop) == 0)
		pthread_detach(second);
	/* The jobs in progress finish and are recorded; no new one is claimed. */
	dits_server_stop(s);
	if (!wo->json && (wo->once || out.done + out.failed + out.retried)) {
		printf("worker: %u done, %u failed, %u retried\n", out.done, out.failed, out.retried);
		fflush(stdout);
	}
	pthread_mutex_destroy(&out.mu);
	/* --once: a job that failed for good or a repository that could not
	 * be worked on is a failure of the run. */
	return wo->once && !signalled && (out.failed || out.errors) ? 1 : 0;
#endif
}

