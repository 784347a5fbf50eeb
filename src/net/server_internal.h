/*
 * server_internal.h - what the parts of the server share: the server
 * itself, one request's state, the authentication rules and the workers.
 */
#ifndef DITS_SERVER_INTERNAL_H
#define DITS_SERVER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <microhttpd.h>

#include "buf.h"
#include "odb.h"
#include "repo.h"
#include "server.h"
#include "wire.h"

/* ---- authentication (server_auth.c) ------------------------------------ */

enum { PERM_NONE = 0, PERM_READ = 1, PERM_WRITE = 2 };

typedef struct auth_rule {
	bool anonymous;
	dits_id token_hash; /* BLAKE3 of the token: compared in constant time */
	int perm;
	char *pattern;      /* fnmatch glob over repository names */
} auth_rule;

typedef struct auth_table {
	auth_rule *rules;
	size_t n;
} auth_table;

/* Parses an auth file (docs/PROTOCOL.md). DITS_EINVALID naming file:line. */
int auth_load(auth_table *t, const char *path);
void auth_free(auth_table *t);

/*
 * Who is asking: token is the bearer token or NULL. *known tells whether a
 * given token is in the table. Returns the permission on repository name
 * (name NULL: the best permission on any repository).
 */
int auth_perm(const auth_table *t, const char *token, const char *name, bool *known);

/* One open connection, for the header deadline and the reserve (server.c). */
typedef struct conn_slot {
	struct conn_slot *prev, *next;
	int fd;
	bool waiting;  /* no complete request header yet (new, or between requests) */
	bool evicted;  /* shut down by the guard */
	double since;  /* when it began waiting (monotonic seconds) */
} conn_slot;

/* ---- the server ---------------------------------------------------------- */

typedef struct metrics {
	atomic_uint_fast64_t by_code[600];
	atomic_uint_fast64_t bytes_received, bytes_sent;
	atomic_uint_fast64_t objects_received, pushes;
} metrics;

struct dits_server {
	char *root;          /* absolute, no trailing slash */
	struct dits_s3_store *store; /* packs in S3 (odb_s3.h); NULL: local packs */
	struct dits_catalog *catalog; /* --db: the fleet's repositories (catalog.h); NULL: ROOT's */
	char *db_url;                  /* --db as given */
	pthread_mutex_t catalog_mu;    /* one user of the catalog's connection at a time */
	atomic_uint materialize_seq;   /* temporary names of repositories being materialized */
	char url[320];
	bool tls, loopback;
	bool auth_on;
	auth_table auth;
	char *tls_cert_pem, *tls_key_pem;
	int listen_fd;
	struct MHD_Daemon *mhd;
	metrics m;
	atomic_int in_flight;          /* requests between first call and completion */
	pthread_mutex_t create_mu;     /* dits_repo_init uses a per-process temporary name */

	/* connection limits (docs/SERVER.md, "Limits") */
	unsigned max_conns, per_client, reserve;
	unsigned header_timeout, idle_timeout;
	pthread_mutex_t gmu;           /* guards slots, nconns, guard_stop */
	pthread_cond_t gcv;
	conn_slot *slots;
	size_t nconns;
	bool guard_on, guard_stop;
	pthread_t guard;

	/* workers (server_workers.c) */
	dits_server_job_fn run_job;
	void *job_ctx;
	dits_server_checks_fn attach_checks;
	int nworkers;
	pthread_t *workers;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stopping;
	char **wake;                   /* repository names to look at, FIFO */
	size_t nwake, capwake;
	double next_scan;
	double last_scan;
	double scan_seconds;           /* between looks through ROOT: 5, or DITS_WORKER_SCAN */
	int busy;                      /* workers running a job */
	bool once, drained;            /* headless --once: stop when nothing is ready */
	char **skip;                   /* --once: repositories whose job function failed */
	size_t nskip;
	/* LISTEN/NOTIFY (server_workers.c): one thread per PostgreSQL URL the
	 * repositories' metadata is in, and the repository keys it may name */
	struct pg_listener *listeners;
	size_t nlisteners;
	struct key_name *keys;
	size_t nkeys;

	/* progress of running jobs as the workers report it (server_web.c) */
	struct progress_entry *progress;
	size_t nprogress;
};

/* ---- one request (server.c) ---------------------------------------------- */

typedef enum route {
	R_NONE, R_HEALTHZ, R_METRICS, R_S3, R_REFS_GET, R_REFS_POST, R_CREATE, R_OBJECTS,
	R_HAVE, R_GET, R_WALK, R_VARIANTS_GET, R_VARIANTS_POST, R_RENDER_POST, R_RENDER_GET,
	/* the web page (server_web.c) */
	R_WEB_PAGE, R_WEB_STATIC, R_WEB_LOGIN, R_WEB_LOGOUT, R_WEB_REPOS, R_WEB_TREE, R_WEB_ASSET,
	R_WEB_LOG, R_WEB_COMMIT, R_WEB_QUEUE, R_WEB_CONTENT,
} route;

typedef struct request {
	dits_server *srv;
	struct MHD_Connection *conn;
	route route;
	char name[128];          /* repository name, "" for global routes */
	int64_t render_id;       /* GET /NAME/render/ID; 0: GET /NAME/render */
	char *token;             /* bearer token (or the page's cookie) or NULL */
	char *url;               /* the decoded path, for the web routes */
	bool post;
	uint64_t length;         /* Content-Length (none when chunked) */
	uint64_t got;            /* body bytes actually received, whatever the framing */
	bool expect_body;        /* Content-Length > 0 or chunked */
	bool drain;              /* answered before its body: read and drop it before closing */
	dits_buf body;           /* small bodies (JSON, id lists), whole */
	/* an error found while the body was still arriving: answered at the end */
	bool replied;            /* a response is queued */
	int err_status;
	char *err_msg;
	/* POST /NAME/objects */
	dits_repo *repo;
	dits_pack_writer *writer;
	dits_wire_parser parser;
	bool parser_on;
} request;

/* A JSON response {"error": msg} with the given status; queues it. */
enum MHD_Result reply_error(request *q, unsigned status, const char *msg);
/* Queues a response owning data (malloc'd) of len bytes. */
enum MHD_Result reply_data(request *q, unsigned status, const char *type, void *data, size_t len);
/* Queues a prepared response; counts its status and body bytes. */
enum MHD_Result reply_response(request *q, unsigned status, struct MHD_Response *r, uint64_t body_len);
/* The HTTP status for a library error code (404 for not found, ...). */
unsigned status_for(int rc);

/* Opens ROOT/NAME's repository; DITS_ENOTFOUND with a message when there is none. */
int server_open_repo(dits_server *s, const char *name, dits_repo **out);
/*
 * --db: adds repository name to the catalog with the config dits_repo_init
 * writes for chunker parameters p, and its HEAD, unless it is there
 * already (*created false).
 */
int server_create_repo(dits_server *s, const char *name, const dits_chunker_params *p, bool *created);
/* ROOT/NAME, malloc'd. */
char *server_repo_dir(dits_server *s, const char *name);

/* ---- endpoints (server_api.c): called once the whole body is in q->body -- */

enum MHD_Result api_refs_get(request *q);
enum MHD_Result api_refs_post(request *q);
enum MHD_Result api_create(request *q);
enum MHD_Result api_have(request *q);
enum MHD_Result api_get(request *q);
enum MHD_Result api_walk(request *q);
enum MHD_Result api_variants_get(request *q);
enum MHD_Result api_variants_post(request *q);
enum MHD_Result api_s3(request *q);
enum MHD_Result api_render_post(request *q);
enum MHD_Result api_render_get(request *q);
enum MHD_Result api_metrics(request *q);

/* ---- the web page (server_web.c) ---------------------------------------- */

/* The token of the page's cookie, or NULL. */
const char *web_cookie_token(struct MHD_Connection *c);
enum MHD_Result web_page(request *q, const char *url);
enum MHD_Result web_static(request *q, const char *name);
enum MHD_Result web_login(request *q, bool post);
enum MHD_Result web_logout(request *q);
enum MHD_Result web_repos(request *q);
enum MHD_Result web_tree(request *q);
enum MHD_Result web_asset(request *q);
enum MHD_Result web_log(request *q);
enum MHD_Result web_commit(request *q);
enum MHD_Result web_queue(request *q);
/* GET /NAME/content/HEX[/FILENAME]: the stored file, with range requests. */
enum MHD_Result web_content(request *q, const char *hex, const char *filename);
/* What a worker last reported for the job of path in repository dits_dir (ROOT/NAME/.dits), 0..1. */
double server_progress_get(dits_server *s, const char *dits_dir, const char *path);
void server_progress_free(dits_server *s);

/* ---- workers (server_workers.c) ------------------------------------------ */

int workers_start(dits_server *s, int n);
/* Tells the workers that repository name may have jobs. */
void workers_wake(dits_server *s, const char *name);
void workers_stop(dits_server *s);
/* Names of the repositories under ROOT (valid names holding .dits), malloc'd. */
int server_list_repos(dits_server *s, char ***names, size_t *n);
void server_free_names(char **names, size_t n);

#endif
