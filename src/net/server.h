/*
 * server.h - `dits serve`: repositories over HTTP (docs/PROTOCOL.md,
 * docs/SERVER.md).
 *
 * The server keeps repository NAME at ROOT/NAME/.dits and answers the wire
 * protocol with libmicrohttpd, one thread per connection. Each request opens
 * the repository it names (a dits_repo is never shared between threads), so
 * nothing is cached that another process could change underneath.
 *
 * Proxy jobs are run by worker threads that the server owns but does not
 * implement: the media layer (FFmpeg) stays out of src/net, and the caller
 * hands in a function that runs one job of a given repository.
 */
#ifndef DITS_SERVER_H
#define DITS_SERVER_H

#include <stdbool.h>

#define DITS_SERVER_MAX_CONNECTIONS 1000u
#define DITS_SERVER_MAX_PER_CLIENT 256u
#define DITS_SERVER_HEADER_TIMEOUT 10u
#define DITS_SERVER_IDLE_TIMEOUT 60u

/*
 * Runs at most one ready job of the repository whose worktree is repo_dir
 * (ROOT/NAME). Returns 1 when it ran (or tried) a job, 0 when none was
 * ready, a negative DITS_E* code on error. Called from worker threads.
 */
typedef struct dits_server dits_server;
typedef int (*dits_server_job_fn)(void *ctx, dits_server *s, const char *repo_dir);

/*
 * The attach rules (docs/MEDIA.md) between a proxy and its master, from the
 * facts the proxy's variant record keeps (facts_json, with the master's in
 * its "master" member) for a proxy of variant type type: a malloc'd JSON
 * array of {"rule", "master", "proxy", "pass"}, or NULL when they cannot
 * be told. For the web page's asset view; the media layer computes them.
 */
typedef char *(*dits_server_checks_fn)(const char *facts_json, const char *type);

typedef struct dits_server_opts {
	const char *listen;     /* "ADDR:PORT" ("[::1]:PORT" for IPv6); NULL: 127.0.0.1:7780 */
	const char *root;       /* directory holding the repositories */
	int workers;            /* worker threads; 0 disables them */
	const char *auth_file;  /* NULL: no authentication, loopback only */
	const char *tls_cert;   /* PEM files; both or neither */
	const char *tls_key;
	/* Connection limits (docs/SERVER.md); 0 takes the default in brackets. */
	unsigned max_connections; /* open connections at once [1000] */
	unsigned max_per_client;  /* open connections from one address [64] */
	unsigned header_timeout;  /* seconds for a complete request header [10] */
	unsigned idle_timeout;    /* seconds without traffic before a connection is closed [60] */
	/* Packs in an object store (docs/SERVER.md, "Packs in S3"): NULL keeps
	 * them in each repository. Refs, config and metadata stay local unless
	 * db is set too. */
	const char *store;           /* s3://BUCKET/PREFIX */
	const char *store_cache_dir; /* NULL: ROOT/.store-cache */
	uint64_t store_cache;        /* bytes of cached pack blocks; 0: 2 GiB */
	/* Workers only (`dits worker --root`): no HTTP listener, so listen,
	 * auth and TLS are ignored and dits_server_url() is "". */
	bool headless;
	/* With headless: the workers stop once no job is ready in any
	 * repository (dits_server_drained() tells when). */
	bool once;
	/* A fleet (docs/SERVER.md, "A fleet"): the list of repositories, their
	 * config, refs and metadata in this PostgreSQL database, so that every
	 * server started on the same db and store serves the same repositories;
	 * ROOT is then a cache. Needs store. NULL: all of it under ROOT. */
	const char *db;              /* postgres://... or postgresql://... */
	dits_server_job_fn run_job; /* NULL: no workers whatever workers says */
	dits_server_checks_fn attach_checks; /* NULL: the web page shows no rule verdicts */
	void *job_ctx;
} dits_server_opts;

/*
 * Opens the repository whose worktree is repo_dir (ROOT/NAME) as the server
 * does, with its packs in the server's store when it has one (a worker's
 * job must read and write where the server does).
 */
struct dits_repo;
int dits_server_open_repo_dir(dits_server *s, const char *repo_dir, struct dits_repo **out);

/*
 * Checks the options, reads the auth file and the TLS files, cleans what
 * interrupted uploads left in the repositories, binds and starts serving.
 * DITS_EINVALID (with a one-line message) for a non-loopback address
 * without auth, a malformed auth file or listen address; DITS_EIO when the
 * address cannot be bound.
 */
int dits_server_start(dits_server **out, const dits_server_opts *o);

/* "http://127.0.0.1:7780" (https with TLS), with the port actually bound. */
const char *dits_server_url(const dits_server *s);

/*
 * A worker's progress on the job of path in the repository whose worktree
 * is repo_dir (ROOT/NAME), 0..1, shown by the web page's queue. Safe from
 * any thread; s NULL is ignored.
 */
void dits_server_progress(dits_server *s, const char *repo_dir, const char *path, double fraction);

/*
 * True once a server started with once has stopped its workers because no
 * job was ready anywhere and none was running. Safe from any thread.
 */
bool dits_server_drained(dits_server *s);

/*
 * Stops accepting connections, lets the requests in progress finish (for a
 * few seconds at most), stops the workers after their current job, and
 * frees s. NULL is allowed.
 */
void dits_server_stop(dits_server *s);

#endif
