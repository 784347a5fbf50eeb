/*
 * server.c - `dits serve`: the HTTP daemon, routing, authentication checks
 * and the streamed object upload (POST /NAME/objects). The endpoints that
 * take a small body are in server_api.c, the workers in server_workers.c.
 *
 * libmicrohttpd calls on_request several times per request: once when the
 * headers are in (we route, authenticate and check the length there, and
 * may answer at once), once per piece of body, and once more when the body
 * is complete. A response can be queued only on the first or the last call,
 * so an error found while the body arrives is kept and answered at the end
 * while the rest of the body is read and dropped.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog.h"
#include "config.h"
#include "error.h"
#include "fsutil.h"
#include "object.h"
#include "odb_backend.h"
#include "odb_s3.h"
#include "server_internal.h"
#include "server_json.h"

#define UPLOAD_LIMIT DITS_WIRE_MAX_UPLOAD
#define IDS_LIMIT ((uint64_t)DITS_WIRE_MAX_IDS * DITS_ID_LEN)
/* What is read and dropped of a refused body so the client sees the answer. */
#define DRAIN_BYTES (16u << 20)
#define DRAIN_SECONDS 2
/* A connection waiting for its header this long may be shut down when the reserve is in use. */
#define EVICT_GRACE 1.0

/* ---- responses --------------------------------------------------------- */

enum MHD_Result reply_response(request *q, unsigned status, struct MHD_Response *r, uint64_t body_len)
{
	if (!r)
		return MHD_NO;
	q->replied = true;
	enum MHD_Result res = MHD_queue_response(q->conn, status, r);
	MHD_destroy_response(r);
	if (status < 600)
		atomic_fetch_add(&q->srv->m.by_code[status], 1);
	atomic_fetch_add(&q->srv->m.bytes_sent, body_len);
	return res;
}

enum MHD_Result reply_data(request *q, unsigned status, const char *type, void *data, size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(data);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	return reply_response(q, status, r, len);
}

enum MHD_Result reply_error(request *q, unsigned status, const char *msg)
{
	dits_buf b = DITS_BUF_INIT;
	dits_buf_puts(&b, "{\"error\": ");
	dits_buf_put_json_str(&b, msg && *msg ? msg : "failed");
	if (dits_buf_puts(&b, "}\n")) {
		dits_buf_free(&b);
		return MHD_NO;
	}
	return reply_data(q, status, "application/json", b.data, b.len);
}

/*
 * Only a genuinely absent object, ref or repository is 404: the callers
 * turn an I/O failure that surfaced as "not found" (a pack file gone from
 * under its index) into DITS_EIO first. A damaged store (DITS_ECORRUPT) is
 * the server's fault: 500. An upload whose record does not hash is 422,
 * chosen where the upload is parsed.
 */
unsigned status_for(int rc)
{
	switch (rc) {
	case DITS_ENOTFOUND:
		return MHD_HTTP_NOT_FOUND;
	case DITS_ECONFLICT:
	case DITS_EEXISTS:
		return MHD_HTTP_CONFLICT;
	case DITS_EINVALID:
	case DITS_EAMBIGUOUS:
		return MHD_HTTP_BAD_REQUEST;
	case DITS_ELOCKED:
		return MHD_HTTP_SERVICE_UNAVAILABLE;
	case DITS_ENOSPC:
		return MHD_HTTP_INSUFFICIENT_STORAGE;
	default:
		return MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
}

/* Keeps the first error of a request whose body is still arriving. */
static void defer_error(request *q, unsigned status, const char *msg)
{
	if (q->err_status)
		return;
	q->err_status = (int)status;
	q->err_msg = strdup(msg && *msg ? msg : "failed");
}

/* ---- repositories -------------------------------------------------------- */

char *server_repo_dir(dits_server *s, const char *name)
{
	return dits_strfmt("%s/%s", s->root, name);
}

static bool repo_exists(dits_server *s, const char *name)
{
	char *p = dits_strfmt("%s/%s/.dits", s->root, name);
	struct stat st;
	bool ok = p && stat(p, &st) == 0 && S_ISDIR(st.st_mode);
	free(p);
	return ok;
}

static int attach_store(dits_server *s, const char *name, dits_repo **out);

/* ---- a fleet: repositories in the catalog (--db), materialized under ROOT ---- */

/* Removes a directory tree that materialize() built and did not publish. */
static void remove_tree(const char *dir)
{
	const char *rel[] = { "config", "objects/pack", "objects", "tmp" };
	for (size_t i = 0; i < sizeof rel / sizeof *rel; i++) {
		char *p = dits_path_join(dir, rel[i]);
		if (p && unlink(p) < 0)
			rmdir(p);
		free(p);
	}
	rmdir(dir);
}

/*
 * Makes ROOT/NAME/.dits for repository name of the catalog, unless it is
 * there: its config is the catalog's text plus where the shared state is
 * (metadb.url, refs.url: the --db URL; metadb.repo: the name, which keys
 * its rows). Built under a temporary name and renamed into place, so a
 * concurrent request (or server on the same ROOT) sees all of it or
 * nothing; the loser of a race removes its copy. DITS_ENOTFOUND when the
 * catalog has no such repository.
 */
static int materialize(dits_server *s, const char *name)
{
	if (repo_exists(s, name))
		return 0;
	char *text = NULL;
	pthread_mutex_lock(&s->catalog_mu);
	int rc = dits_catalog_get(s->catalog, name, &text);
	pthread_mutex_unlock(&s->catalog_mu);
	if (rc)
		return rc;
	unsigned seq = atomic_fetch_add(&s->materialize_seq, 1);
	char *dir = server_repo_dir(s, name);
	char *dits = dir ? dits_path_join(dir, ".dits") : NULL;
	char *tmp = dir ? dits_strfmt("%s/.dits-fleet-%ld-%u", dir, (long)getpid(), seq) : NULL;
	char *cfgpath = tmp ? dits_path_join(tmp, "config") : NULL;
	char *packs = tmp ? dits_path_join(tmp, "objects/pack") : NULL;
	char *scratch = tmp ? dits_path_join(tmp, "tmp") : NULL;
	dits_config *cfg = NULL;
	if (!scratch)
		rc = dits_error_set(DITS_ENOMEM, "out of memory");
	if (!rc)
		rc = dits_mkdir_p(packs, 0755);
	if (!rc)
		rc = dits_mkdir_p(scratch, 0755);
	if (!rc)
		rc = dits_atomic_write(cfgpath, text, strlen(text));
	if (!rc)
		rc = dits_config_load(&cfg, cfgpath);
	if (!rc && !(rc = dits_config_set(cfg, "metadb.url", s->db_url)) &&
	    !(rc = dits_config_set(cfg, "metadb.repo", name)) && !(rc = dits_config_set(cfg, "refs.url", s->db_url)))
		rc = dits_config_write(cfg, cfgpath);
	if (!rc && rename(tmp, dits) < 0) {
		if (repo_exists(s, name)) /* made meanwhile by another request */
			remove_tree(tmp);
		else
			rc = dits_error_errno("%s: cannot create", dits);
	}
	if (rc && tmp)
		remove_tree(tmp);
	dits_config_free(cfg);
	free(text);
	free(dir);
	free(dits);
	free(tmp);
	free(cfgpath);
	free(packs);
	free(scratch);
	return rc ? dits_error_wrap(rc, "repository %s", name) : 0;
}

int server_create_repo(dits_server *s, const char *name, const dits_chunker_params *p, bool *created)
{
	*created = false;
	/* The config text a new repository gets: dits_repo_init's. */
	unsigned seq = atomic_fetch_add(&s->materialize_seq, 1);
	char *path = dits_strfmt("%s/.dits-new-%ld-%u.config", s->root, (long)getpid(), seq);
	if (!path)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	dits_config *cfg = NULL;
	dits_buf text = DITS_BUF_INIT;
	int rc = dits_repo_new_config(p, &cfg);
	if (!rc)
		rc = dits_config_write(cfg, path);
	if (!rc)
		rc = dits_read_file(path, &text);
	if (!rc)
		rc = dits_buf_cstr(&text);
	unlink(path);
	free(path);
	dits_config_free(cfg);
	if (!rc) {
		pthread_mutex_lock(&s->catalog_mu);
		rc = dits_catalog_create(s->catalog, name, (const char *)text.data, "refs/heads/main", created);
		pthread_mutex_unlock(&s->catalog_mu);
	}
	dits_buf_free(&text);
	return rc;
}

int server_open_repo(dits_server *s, const char *name, dits_repo **out)
{
	*out = NULL;
	if (!dits_wire_repo_name_valid(name))
		return dits_error_set(DITS_ENOTFOUND, "repository %s does not exist", name);
	if (s->catalog) {
		int rc = materialize(s, name);
		if (rc == DITS_ENOTFOUND)
			return dits_error_set(DITS_ENOTFOUND, "repository %s does not exist", name);
		if (rc)
			return rc == DITS_ENOMEM ? rc : dits_error_wrap(DITS_EIO, "repository %s cannot be opened", name);
	}
	/* Check first: dits_repo_open walks up, and ROOT itself may lie inside
	 * some repository. */
	if (!repo_exists(s, name))
		return dits_error_set(DITS_ENOTFOUND, "repository %s does not exist", name);
	char *dir = server_repo_dir(s, name);
	if (!dir)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	int rc = dits_repo_open(out, dir);
	free(dir);
	if (!rc)
		rc = attach_store(s, name, out);
	/* The repository is there: failing to open it is an I/O failure (5xx), never 404. */
	if (rc && rc != DITS_ENOMEM && rc != DITS_ELOCKED)
		rc = dits_error_wrap(DITS_EIO, "repository %s cannot be opened", name);
	return rc;
}

int dits_server_open_repo_dir(dits_server *s, const char *repo_dir, dits_repo **out)
{
	*out = NULL;
	int rc = dits_repo_open(out, repo_dir);
	const char *name = strrchr(repo_dir, '/');
	if (!rc)
		rc = attach_store(s, name ? name + 1 : repo_dir, out);
	return rc;
}

/* With a store, the repository's odb is the S3 backend alone: its packs live there. */
static int attach_store(dits_server *s, const char *name, dits_repo **out)
{
	int rc = 0;
	if (s->store) {
		/* The packs live in the object store: the repository's odb is the S3 backend alone. */
		dits_odb *db = NULL;
		dits_odb_backend *b = NULL;
		rc = dits_odb_new(&db);
		if (!rc && !(rc = dits_s3_store_backend(s->store, name, &b)))
			rc = dits_odb_add_backend(db, b);
		if (rc) {
			dits_odb_free(db);
			dits_repo_free(*out);
			*out = NULL;
		} else {
			dits_repo_set_odb(*out, db);
		}
	}
	return rc;
}

/* The catalog's repositories (valid names), each materialized under ROOT. */
static int list_catalog(dits_server *s, char ***names, size_t *n)
{
	pthread_mutex_lock(&s->catalog_mu);
	int rc = dits_catalog_list(s->catalog, names, n);
	pthread_mutex_unlock(&s->catalog_mu);
	if (rc)
		return rc;
	size_t k = 0;
	for (size_t i = 0; i < *n; i++) {
		char *name = (*names)[i];
		if (dits_wire_repo_name_valid(name) && materialize(s, name) == 0) {
			(*names)[k++] = name;
		} else {
			fprintf(stderr, "dits: serve: %s: left out: %s\n", name, dits_error_last());
			dits_error_clear();
			free(name);
		}
	}
	*n = k;
	return 0;
}

int server_list_repos(dits_server *s, char ***names, size_t *n)
{
	*names = NULL;
	*n = 0;
	if (s->catalog)
		return list_catalog(s, names, n);
	DIR *d = opendir(s->root);
	if (!d)
		return dits_error_errno("%s", s->root);
	struct dirent *e;
	size_t cap = 0;
	int rc = 0;
	while (!rc && (e = readdir(d))) {
		if (!dits_wire_repo_name_valid(e->d_name) || !repo_exists(s, e->d_name))
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			char **v = realloc(*names, cap * sizeof *v);
			if (!v) {
				rc = dits_error_set(DITS_ENOMEM, "out of memory");
				break;
			}
			*names = v;
		}
		if (!((*names)[*n] = strdup(e->d_name)))
			rc = dits_error_set(DITS_ENOMEM, "out of memory");
		else
			(*n)++;
	}
	closedir(d);
	if (rc) {
		server_free_names(*names, *n);
		*names = NULL;
		*n = 0;
	}
	return rc;
}

void server_free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* ---- routing --------------------------------------------------------------- */

typedef struct route_def {
	const char *method;
	const char *rest; /* after /NAME/ */
	route route;
	int perm;
} route_def;

static const route_def repo_routes[] = {
	{ "GET", "refs", R_REFS_GET, PERM_READ },
	{ "POST", "refs", R_REFS_POST, PERM_WRITE },
	{ "POST", "create", R_CREATE, PERM_WRITE },
	{ "POST", "objects", R_OBJECTS, PERM_WRITE },
	{ "POST", "objects/have", R_HAVE, PERM_READ },
	{ "POST", "objects/get", R_GET, PERM_READ },
	{ "POST", "walk", R_WALK, PERM_READ },
	{ "GET", "variants", R_VARIANTS_GET, PERM_READ },
	{ "POST", "variants", R_VARIANTS_POST, PERM_WRITE },
	{ "POST", "render", R_RENDER_POST, PERM_WRITE },
	{ "GET", "render", R_RENDER_GET, PERM_READ },
	{ "GET", "tree", R_WEB_TREE, PERM_READ },
	{ "GET", "asset", R_WEB_ASSET, PERM_READ },
	{ "GET", "log", R_WEB_LOG, PERM_READ },
	{ "GET", "commit", R_WEB_COMMIT, PERM_READ },
	{ "GET", "queue", R_WEB_QUEUE, PERM_READ },
};

/*
 * Finds the route of url (already percent-decoded by libmicrohttpd, so an
 * encoded slash or dot arrives as itself and meets the same checks).
 * Returns 0 and sets q->route, q->name and *perm, or an HTTP status with
 * *why set.
 */
static unsigned find_route(request *q, const char *url, const char *method, int *perm, const char **why)
{
	*perm = PERM_NONE;
	*why = "no such endpoint";
	bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
	if (!strcmp(url, "/healthz") || !strcmp(url, "/metrics") || !strcmp(url, "/_events/s3")) {
		bool s3 = !strcmp(url, "/_events/s3");
		if (s3 ? strcmp(method, "POST") : !get) {
			*why = "method not allowed";
			return MHD_HTTP_METHOD_NOT_ALLOWED;
		}
		q->route = s3 ? R_S3 : url[1] == 'h' ? R_HEALTHZ : R_METRICS;
		*perm = s3 ? PERM_WRITE : url[1] == 'm' ? PERM_READ : PERM_NONE;
		return 0;
	}
	/* the web page (docs/WEB.md): its shell and files, the login, the repository list */
	bool login = !strcmp(url, "/_login");
	if (!strcmp(url, "/") || !strncmp(url, "/_web/", 6) || login || !strcmp(url, "/_logout") ||
	    !strcmp(url, "/_repos")) {
		if (!get && !(login && !strcmp(method, "POST"))) {
			*why = "method not allowed";
			return MHD_HTTP_METHOD_NOT_ALLOWED;
		}
		q->route = !url[1] ? R_WEB_PAGE : url[2] == 'w' ? R_WEB_STATIC : login ? R_WEB_LOGIN
		         : url[2] == 'l' ? R_WEB_LOGOUT : R_WEB_REPOS;
		return 0;
	}
	if (url[0] != '/')
		return MHD_HTTP_BAD_REQUEST;
	const char *slash = strchr(url + 1, '/');
	size_t nlen = slash ? (size_t)(slash - url - 1) : strlen(url + 1);
	if (nlen == 0 || nlen >= sizeof q->name) {
		*why = nlen >= sizeof q->name ? "invalid repository name" : "no such endpoint";
		return nlen >= sizeof q->name ? MHD_HTTP_BAD_REQUEST : MHD_HTTP_NOT_FOUND;
	}
	memcpy(q->name, url + 1, nlen);
	q->name[nlen] = '\0';
	if (!dits_wire_repo_name_valid(q->name)) {
		q->name[0] = '\0';
		*why = slash ? "invalid repository name" : "no such endpoint";
		return slash ? MHD_HTTP_BAD_REQUEST : MHD_HTTP_NOT_FOUND;
	}
	/* /NAME and /NAME/-/...: the page of one repository; /NAME/content/ID: a stored file */
	bool page = !slash || !strcmp(slash + 1, "-") || !strncmp(slash + 1, "-/", 2);
	if (page || !strncmp(slash + 1, "content/", 8)) {
		if (!get) {
			*why = "method not allowed";
			return MHD_HTTP_METHOD_NOT_ALLOWED;
		}
		q->route = page ? R_WEB_PAGE : R_WEB_CONTENT;
		*perm = page ? PERM_NONE : PERM_READ;
		return 0;
	}
	/* GET /NAME/render/ID: one render job */
	if (!strncmp(slash + 1, "render/", 7)) {
		const char *id = slash + 8;
		size_t nd = strspn(id, "0123456789");
		if (nd == 0 || nd > 15 || id[nd] || id[0] == '0')
			return MHD_HTTP_NOT_FOUND;
		if (!get) {
			*why = "method not allowed";
			return MHD_HTTP_METHOD_NOT_ALLOWED;
		}
		q->render_id = strtoll(id, NULL, 10);
		q->route = R_RENDER_GET;
		*perm = PERM_READ;
		return 0;
	}
	bool known_rest = false;
	for (size_t i = 0; i < sizeof repo_routes / sizeof *repo_routes; i++) {
		const route_def *d = &repo_routes[i];
		if (strcmp(slash + 1, d->rest))
			continue;
		known_rest = true;
		if (strcmp(method, d->method) && !(get && !strcmp(d->method, "GET")))
			continue;
		q->route = d->route;
		*perm = d->perm;
		return 0;
	}
	if (known_rest) {
		*why = "method not allowed";
		return MHD_HTTP_METHOD_NOT_ALLOWED;
	}
	return MHD_HTTP_NOT_FOUND;
}

/* 0 when the caller may do what the route needs, else 401 or 403. */
static unsigned check_auth(request *q, int need, const char **why)
{
	dits_server *s = q->srv;
	if (!s->auth_on || need == PERM_NONE)
		return 0;
	bool known;
	int perm = auth_perm(&s->auth, q->token, q->name[0] ? q->name : NULL, &known);
	/* /metrics needs a token that may read some repository, not just anonymous access */
	if (q->route == R_METRICS && !q->token)
		perm = PERM_NONE;
	if (q->token && !known) {
		*why = "unknown token";
		return MHD_HTTP_UNAUTHORIZED;
	}
	if (perm >= need)
		return 0;
	if (!q->token) {
		*why = "authentication required (Authorization: Bearer TOKEN)";
		return MHD_HTTP_UNAUTHORIZED;
	}
	*why = need == PERM_WRITE ? "this token may not write here" : "this token may not read here";
	return MHD_HTTP_FORBIDDEN;
}

static uint64_t body_limit(route r)
{
	switch (r) {
	case R_OBJECTS:
		return UPLOAD_LIMIT;
	case R_HAVE:
	case R_GET:
		return IDS_LIMIT;
	case R_RENDER_POST:
		return DITS_SERVER_MAX_RENDER;
	default:
		return DITS_WIRE_MAX_JSON;
	}
}

/* ---- POST /NAME/objects ------------------------------------------------------ */

static int store_record(void *ctx, uint8_t type, const dits_id *id, const uint8_t *payload, uint32_t len)
{
	request *q = ctx;
	/* A tree or commit that would not parse (a reserved name...) fails the whole upload. */
	int rc = dits_object_check(type, id, payload, len);
	return rc ? rc : dits_pack_writer_put(q->writer, type, id, payload, len, NULL);
}

static void upload_drop(request *q)
{
	dits_pack_writer_free(q->writer); /* an unfinished pack is removed */
	q->writer = NULL;
	if (q->parser_on)
		dits_wire_parser_free(&q->parser);
	q->parser_on = false;
}

static unsigned upload_begin(request *q, const char **why)
{
	int rc = server_open_repo(q->srv, q->name, &q->repo);
	if (!rc)
		rc = dits_pack_writer_new(&q->writer, dits_repo_odb(q->repo));
	if (rc) {
		*why = dits_error_last();
		return status_for(rc);
	}
	dits_wire_parser_init(&q->parser, true, store_record, q);
	q->parser_on = true;
	return 0;
}

/* The status of a record stream the client sent wrong: 400 malformed, 422 a record that does not hash. */
static unsigned upload_status(int rc)
{
	return rc == DITS_EINVALID ? MHD_HTTP_BAD_REQUEST
	     : rc == DITS_ECORRUPT ? MHD_HTTP_UNPROCESSABLE_CONTENT
	                           : status_for(rc);
}

static void upload_feed(request *q, const char *data, size_t n)
{
	int rc = dits_wire_parser_feed(&q->parser, data, n);
	if (rc) {
		defer_error(q, upload_status(rc), dits_error_last());
		upload_drop(q);
	}
}

static enum MHD_Result upload_end(request *q)
{
	int rc = dits_wire_parser_finish(&q->parser);
	uint64_t received = q->parser.records;
	uint64_t stored = 0, bytes = 0;
	unsigned st = rc ? upload_status(rc) : 0;
	if (!rc && !(rc = dits_repo_lock(q->repo))) {
		stored = dits_pack_writer_new_records(q->writer);
		bytes = dits_pack_writer_new_bytes(q->writer);
		rc = dits_pack_writer_finish(q->writer);
		dits_repo_unlock(q->repo);
	}
	if (rc) {
		if (!st)
			st = status_for(rc);
		char msg[1024];
		snprintf(msg, sizeof msg, "%s", dits_error_last());
		upload_drop(q);
		return reply_error(q, st, msg);
	}
	upload_drop(q);
	atomic_fetch_add(&q->srv->m.objects_received, received);
	char *body = dits_strfmt("{\"received\": %llu, \"stored\": %llu, \"bytes\": %llu}\n",
	                         (unsigned long long)received, (unsigned long long)stored,
	                         (unsigned long long)bytes);
	if (!body)
		return MHD_NO;
	return reply_data(q, MHD_HTTP_OK, "application/json", body, strlen(body));
}

/* ---- connections: header deadline and reserve ------------------------------- */

/*
 * libmicrohttpd's timeout is an idle timeout: a client that trickles its
 * header, or a thousand that each send half a request line, would hold
 * their connections for as long as they like. The guard thread keeps a
 * slot per connection and shuts down (SHUT_RDWR: the connection's own
 * thread then sees the end and closes it) any connection that has waited
 * header_timeout seconds for a complete request header, counted from
 * when it opened or its previous answer went out. When fewer than
 * `reserve` connections are left, it shuts down the connections that
 * have waited longest (EVICT_GRACE seconds at least) until the reserve
 * is free again, so /healthz and real clients still get in.
 */

static void slot_waiting(dits_server *s, struct MHD_Connection *c, bool waiting)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	conn_slot *k = ci ? ci->socket_context : NULL;
	if (!k)
		return;
	pthread_mutex_lock(&s->gmu);
	k->waiting = waiting;
	k->since = dits_now();
	pthread_mutex_unlock(&s->gmu);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
	dits_server *s = cls;
	conn_slot *k = *socket_context;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		if (!ci || !(k = calloc(1, sizeof *k)))
			return;
		k->fd = ci->connect_fd;
		k->waiting = true;
		k->since = dits_now();
		pthread_mutex_lock(&s->gmu);
		k->next = s->slots;
		if (s->slots)
			s->slots->prev = k;
		s->slots = k;
		s->nconns++;
		pthread_mutex_unlock(&s->gmu);
		*socket_context = k;
		return;
	}
	if (!k)
		return;
	/* Called before the socket is closed: the guard never shuts down a reused fd. */
	pthread_mutex_lock(&s->gmu);
	if (k->prev)
		k->prev->next = k->next;
	else
		s->slots = k->next;
	if (k->next)
		k->next->prev = k->prev;
	s->nconns--;
	pthread_mutex_unlock(&s->gmu);
	free(k);
	*socket_context = NULL;
}

static int by_since(const void *a, const void *b)
{
	double x = (*(conn_slot *const *)a)->since, y = (*(conn_slot *const *)b)->since;
	return x < y ? -1 : x > y;
}

static void evict(conn_slot *k)
{
	k->evicted = true;
	shutdown(k->fd, SHUT_RDWR);
}

/*
 * Called by libmicrohttpd before it takes a new connection. The guard
 * works in 200 ms steps and spares connections younger than EVICT_GRACE,
 * so a burst of sockets that arrive together (a flood fills the listen
 * backlog at once) can use up the reserve between two steps, and the next
 * newcomer, /healthz included, would be refused. So once the reserve is in
 * use, each newcomer is let in at the cost of the connection that has
 * waited longest for its header: an attacker's held sockets go first, and
 * a client whose request is in flight is the newest, hence the last. When
 * no connection is waiting (every slot busy with a real request), the
 * newcomer is refused as before.
 */
static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
	(void)addr;
	(void)addrlen;
	dits_server *s = cls;
	enum MHD_Result ok = MHD_YES;
	pthread_mutex_lock(&s->gmu);
	size_t open = 0;
	conn_slot *oldest = NULL;
	for (conn_slot *k = s->slots; k; k = k->next) {
		if (k->evicted)
			continue;
		open++;
		if (k->waiting && (!oldest || k->since < oldest->since))
			oldest = k;
	}
	if (open + s->reserve >= s->max_conns) {
		if (oldest)
			evict(oldest);
		else if (s->nconns >= s->max_conns)
			ok = MHD_NO;
	}
	pthread_mutex_unlock(&s->gmu);
	return ok;
}

static void *guard_main(void *arg)
{
	dits_server *s = arg;
	conn_slot **v = NULL;
	size_t cap = 0;
	pthread_mutex_lock(&s->gmu);
	while (!s->guard_stop) {
		double now = dits_now();
		size_t open = 0, nv = 0;
		for (conn_slot *k = s->slots; k; k = k->next) {
			if (k->evicted)
				continue;
			open++;
			if (!k->waiting)
				continue;
			if (now - k->since > s->header_timeout) {
				evict(k);
				open--;
			} else if (now - k->since >= EVICT_GRACE) {
				if (nv == cap) {
					size_t nc = cap ? cap * 2 : 64;
					conn_slot **nvv = realloc(v, nc * sizeof *nvv);
					if (!nvv)
						continue;
					v = nvv;
					cap = nc;
				}
				v[nv++] = k;
			}
		}
		if (open + s->reserve >= s->max_conns && nv) {
			qsort(v, nv, sizeof *v, by_since);
			for (size_t i = 0; i < nv && open + s->reserve >= s->max_conns; i++, open--)
				evict(v[i]);
		}
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 200 * 1000 * 1000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&s->gcv, &s->gmu, &ts);
	}
	pthread_mutex_unlock(&s->gmu);
	free(v);
	return NULL;
}

/* ---- the request handler --------------------------------------------------- */

static const char *bearer_token(struct MHD_Connection *c)
{
	const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	if (!h || strncasecmp(h, "Bearer ", 7))
		return NULL;
	h += 7;
	while (*h == ' ')
		h++;
	return *h ? h : NULL;
}

/* Content-Length as a number; false when absent or malformed. */
static bool content_length(struct MHD_Connection *c, uint64_t *out)
{
	const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (!h || !*h)
		return false;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(h, &end, 10);
	if (errno || *end || *h == '-')
		return false;
	*out = v;
	return true;
}

/*
 * An answer before the body: libmicrohttpd then reads no more of it and
 * closes the connection, and closing a socket with unread data sends a
 * reset that can destroy the answer on its way. So the connection is
 * drained when the answer is out (on_completed).
 */
static enum MHD_Result reply_early(request *q, unsigned status, const char *msg)
{
	q->drain = q->expect_body;
	return reply_error(q, status, msg);
}

/* The first call: headers are in, no body yet. May answer at once. */
static enum MHD_Result begin(request *q, const char *url, const char *method)
{
	int perm;
	const char *why = "";
	/* With Transfer-Encoding the body is framed by it, not by Content-Length. */
	bool chunked = MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL;
	bool has_len = !chunked && content_length(q->conn, &q->length);
	q->expect_body = chunked || (has_len && q->length > 0);
	unsigned st = find_route(q, url, method, &perm, &why);
	const char *tok = bearer_token(q->conn);
	/* The page's cookie counts for reading only: a write is never made by a
	 * browser on a page's behalf (docs/SECURITY.md). */
	if (!tok && !strcmp(method, "GET"))
		tok = web_cookie_token(q->conn);
	if (!tok && !strcmp(method, "HEAD"))
		tok = web_cookie_token(q->conn);
	if (tok && !(q->token = strdup(tok)))
		return MHD_NO;
	q->post = !strcmp(method, "POST");
	if (q->route >= R_WEB_PAGE && !(q->url = strdup(url)))
		return MHD_NO;
	if (!st)
		st = check_auth(q, perm, &why);
	if (st)
		return reply_early(q, st, why);
	bool post = !strcmp(method, "POST");
	if (post && q->route == R_OBJECTS && !has_len)
		return reply_early(q, MHD_HTTP_LENGTH_REQUIRED, "an upload needs Content-Length (and no Transfer-Encoding)");
	if (post && has_len && q->length > body_limit(q->route)) {
		char msg[128];
		snprintf(msg, sizeof msg, "body of %llu bytes is over the limit of %llu",
		         (unsigned long long)q->length, (unsigned long long)body_limit(q->route));
		return reply_early(q, MHD_HTTP_CONTENT_TOO_LARGE, msg);
	}
	if (q->route == R_OBJECTS && (st = upload_begin(q, &why)))
		return reply_early(q, st, why);
	return MHD_YES;
}

/*
 * A piece of body. What arrives is counted, whatever the framing: past
 * the limit nothing more is kept or stored, the rest is dropped and 413
 * answered at the end; a body that goes on for more than DRAIN_BYTES past
 * the limit closes the connection. false: close it now.
 */
static bool take_body(request *q, const char *data, size_t n)
{
	q->got += n;
	atomic_fetch_add(&q->srv->m.bytes_received, n);
	uint64_t limit = body_limit(q->route);
	if (q->got > limit) {
		if (q->err_status != MHD_HTTP_CONTENT_TOO_LARGE) {
			char msg[128];
			snprintf(msg, sizeof msg, "body over the limit of %llu bytes", (unsigned long long)limit);
			free(q->err_msg);
			q->err_msg = NULL;
			q->err_status = 0;
			defer_error(q, MHD_HTTP_CONTENT_TOO_LARGE, msg);
			upload_drop(q);
			dits_buf_free(&q->body);
		}
		return q->got - limit <= DRAIN_BYTES;
	}
	if (q->err_status)
		return true; /* answered at the end; the rest is dropped */
	if (q->route == R_OBJECTS) {
		upload_feed(q, data, n);
		return true;
	}
	if (dits_buf_put(&q->body, data, n))
		defer_error(q, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	return true;
}

/* The last call: the whole body is in. */
static enum MHD_Result finish(request *q)
{
	if (q->err_status)
		return reply_error(q, (unsigned)q->err_status, q->err_msg);
	dits_error_clear();
	switch (q->route) {
	case R_HEALTHZ: {
		char *ok = strdup("ok\n");
		return ok ? reply_data(q, MHD_HTTP_OK, "text/plain", ok, 3) : MHD_NO;
	}
	case R_METRICS:
		return api_metrics(q);
	case R_S3:
		return api_s3(q);
	case R_REFS_GET:
		return api_refs_get(q);
	case R_REFS_POST:
		return api_refs_post(q);
	case R_CREATE:
		return api_create(q);
	case R_OBJECTS:
		return upload_end(q);
	case R_HAVE:
		return api_have(q);
	case R_GET:
		return api_get(q);
	case R_WALK:
		return api_walk(q);
	case R_VARIANTS_GET:
		return api_variants_get(q);
	case R_VARIANTS_POST:
		return api_variants_post(q);
	case R_RENDER_POST:
		return api_render_post(q);
	case R_RENDER_GET:
		return api_render_get(q);
	case R_WEB_PAGE:
		return web_page(q, q->url);
	case R_WEB_STATIC:
		return web_static(q, q->url + 6);
	case R_WEB_LOGIN:
		return web_login(q, q->post);
	case R_WEB_LOGOUT:
		return web_logout(q);
	case R_WEB_REPOS:
		return web_repos(q);
	case R_WEB_TREE:
		return web_tree(q);
	case R_WEB_ASSET:
		return web_asset(q);
	case R_WEB_LOG:
		return web_log(q);
	case R_WEB_COMMIT:
		return web_commit(q);
	case R_WEB_QUEUE:
		return web_queue(q);
	case R_WEB_CONTENT: {
		/* /NAME/content/HEX[/FILENAME] */
		char hex[DITS_ID_HEXLEN + 1] = "";
		const char *p = q->url + 1 + strlen(q->name) + 9;
		size_t hl = strcspn(p, "/");
		if (hl == DITS_ID_HEXLEN)
			memcpy(hex, p, hl);
		return web_content(q, hex, p[hl] == '/' ? p + hl + 1 : NULL);
	}
	default:
		return reply_error(q, MHD_HTTP_NOT_FOUND, "no such endpoint");
	}
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
	(void)version;
	request *q = *con_cls;
	if (!q) {
		q = calloc(1, sizeof *q);
		if (!q)
			return MHD_NO;
		q->srv = cls;
		q->conn = c;
		*con_cls = q;
		atomic_fetch_add(&q->srv->in_flight, 1);
		slot_waiting(q->srv, c, false);
		return begin(q, url, method);
	}
	if (*upload_data_size) {
		bool go_on = take_body(q, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return go_on ? MHD_YES : MHD_NO;
	}
	if (q->replied)
		return MHD_YES; /* answered early */
	return finish(q);
}

/*
 * After an early answer: tells the client we are done writing and reads
 * what it still sends until it closes, DRAIN_SECONDS and DRAIN_BYTES at
 * most, so closing sends no reset that could destroy the answer.
 */
static void drain_connection(dits_server *s, struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (!ci)
		return;
	int fd = ci->connect_fd;
	if (!s->tls) /* with TLS the library still sends its closure */
		shutdown(fd, SHUT_WR);
	char buf[65536];
	size_t total = 0;
	double end = dits_now() + DRAIN_SECONDS;
	for (;;) {
		double left = end - dits_now();
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (left <= 0 || total > DRAIN_BYTES || poll(&p, 1, (int)(left * 1000) + 1) <= 0)
			break;
		ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
		if (n <= 0 && !(n < 0 && (errno == EAGAIN || errno == EINTR)))
			break;
		if (n > 0)
			total += (size_t)n;
	}
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	request *q = *con_cls;
	if (!q)
		return;
	dits_server *s = cls;
	if (q->drain && toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
		drain_connection(s, c);
	slot_waiting(s, c, true);
	/* A body cut short (client gone, timeout) ends here too: the writer's
	 * temporary pack is removed and nothing is stored. */
	upload_drop(q);
	dits_repo_free(q->repo);
	dits_buf_free(&q->body);
	free(q->token);
	free(q->url);
	free(q->err_msg);
	free(q);
	*con_cls = NULL;
	atomic_fetch_sub(&s->in_flight, 1);
}

/* ---- start and stop ----------------------------------------------------------- */

static bool is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (IN6_IS_ADDR_LOOPBACK(a))
			return true;
		return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
	}
	return false;
}

/* Splits "ADDR:PORT" or "[ADDR]:PORT" into host and port. */
static int split_listen(const char *listen, char *host, size_t hcap, char *port, size_t pcap)
{
	const char *colon;
	const char *h = listen;
	size_t hl;
	if (listen[0] == '[') {
		const char *close = strchr(listen, ']');
		if (!close || close[1] != ':')
			return dits_error_set(DITS_EINVALID, "--listen %s: expected [ADDR]:PORT", listen);
		h = listen + 1;
		hl = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(listen, ':');
		if (!colon)
			return dits_error_set(DITS_EINVALID, "--listen %s: expected ADDR:PORT", listen);
		hl = (size_t)(colon - listen);
	}
	char *end;
	long p = strtol(colon + 1, &end, 10);
	if (hl == 0 || hl >= hcap || !colon[1] || *end || p < 0 || p > 65535 || strlen(colon + 1) >= pcap)
		return dits_error_set(DITS_EINVALID, "--listen %s: expected ADDR:PORT with a port 0..65535", listen);
	memcpy(host, h, hl);
	host[hl] = '\0';
	snprintf(port, pcap, "%ld", p);
	return 0;
}

/* Binds and listens; fills the URL with the port actually bound. */
static int open_listener(dits_server *s, const char *listen_addr, bool auth_on)
{
	char host[256], port[16];
	int rc = split_listen(listen_addr, host, sizeof host, port, sizeof port);
	if (rc)
		return rc;
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
	                          .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *ai = NULL;
	int g = getaddrinfo(host, port, &hints, &ai);
	if (g || !ai)
		return dits_error_set(DITS_EINVALID, "--listen %s: %s", listen_addr, gai_strerror(g));
	s->loopback = is_loopback(ai->ai_addr);
	if (!s->loopback && !auth_on) {
		freeaddrinfo(ai);
		return dits_error_set(DITS_EINVALID,
		                      "--listen %s: not a loopback address; serving other hosts needs --auth FILE",
		                      listen_addr);
	}
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 256) < 0) {
		rc = dits_error_errno("--listen %s: cannot listen", listen_addr);
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return rc;
	}
	int family = ai->ai_family;
	freeaddrinfo(ai);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	getsockname(fd, (struct sockaddr *)&ss, &sl);
	unsigned bound = family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
	                                    : ntohs(((struct sockaddr_in *)&ss)->sin_port);
	snprintf(s->url, sizeof s->url, "%s://%s%s%s:%u", s->tls ? "https" : "http", family == AF_INET6 ? "[" : "",
	         host, family == AF_INET6 ? "]" : "", bound);
	s->listen_fd = fd;
	return 0;
}

static int read_pem(const char *path, char **out)
{
	dits_buf b = DITS_BUF_INIT;
	int rc = dits_read_file(path, &b);
	if (!rc)
		rc = dits_buf_cstr(&b);
	if (rc) {
		dits_buf_free(&b);
		return dits_error_wrap(rc, "TLS");
	}
	*out = (char *)b.data;
	return 0;
}

/*
 * What interrupted uploads left (temporary packs of a killed server) goes
 * before anyone can see it: taking the repository lock cleans it.
 */
static void clean_leftovers(dits_server *s)
{
	char **names;
	size_t n;
	if (server_list_repos(s, &names, &n)) {
		dits_error_clear();
		return;
	}
	for (size_t i = 0; i < n; i++) {
		dits_repo *r;
		if (server_open_repo(s, names[i], &r) == 0) {
			if (dits_repo_lock(r) == 0)
				dits_repo_unlock(r);
			dits_repo_free(r);
		}
		dits_error_clear();
	}
	server_free_names(names, n);
}

static void server_free(dits_server *s)
{
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	auth_free(&s->auth);
	server_progress_free(s);
	free(s->tls_cert_pem);
	free(s->tls_key_pem);
	free(s->root);
	dits_s3_store_free(s->store);
	dits_catalog_close(s->catalog);
	free(s->db_url);
	pthread_mutex_destroy(&s->catalog_mu);
	pthread_mutex_destroy(&s->create_mu);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->gmu);
	pthread_cond_destroy(&s->gcv);
	free(s);
}

static int prepare(dits_server *s, const dits_server_opts *o)
{
	char abs[PATH_MAX];
	if (!o->root || !realpath(o->root, abs))
		return dits_error_errno("--root %s", o->root ? o->root : "(none)");
	struct stat st;
	if (stat(abs, &st) < 0 || !S_ISDIR(st.st_mode))
		return dits_error_set(DITS_EINVALID, "--root %s: not a directory", o->root);
	if (o->db && !o->store)
		return dits_error_set(DITS_EINVALID,
		                      "--db needs --store s3://BUCKET/PREFIX: the servers of a fleet share packs there");
	if (o->db) {
		int rc = dits_catalog_open(&s->catalog, o->db);
		if (rc)
			return dits_error_wrap(rc, "--db");
		if (!(s->db_url = strdup(o->db)))
			return dits_error_set(DITS_ENOMEM, "out of memory");
	}
	if (o->store) {
		char *cache = o->store_cache_dir ? strdup(o->store_cache_dir) : dits_strfmt("%s/.store-cache", abs);
		dits_s3_store_opts so = { .url = o->store, .cache_dir = cache, .cache_bytes = o->store_cache };
		int rc = cache ? dits_s3_store_open(&s->store, &so) : dits_error_set(DITS_ENOMEM, "out of memory");
		free(cache);
		if (rc)
			return dits_error_wrap(rc, "--store %s", o->store);
	}
	if (!(s->root = strdup(abs)))
		return dits_error_set(DITS_ENOMEM, "out of memory");
	int rc;
	if (o->headless)
		return 0; /* workers only: no address, no auth, no TLS */
	if (o->auth_file) {
		if ((rc = auth_load(&s->auth, o->auth_file)))
			return rc;
		s->auth_on = true;
	}
	if (!o->tls_cert != !o->tls_key)
		return dits_error_set(DITS_EINVALID, "TLS needs both --tls-cert and --tls-key");
	if (o->tls_cert) {
		if ((rc = read_pem(o->tls_cert, &s->tls_cert_pem)) || (rc = read_pem(o->tls_key, &s->tls_key_pem)))
			return rc;
		s->tls = true;
	}
	return open_listener(s, o->listen ? o->listen : "127.0.0.1:7780", s->auth_on);
}

int dits_server_start(dits_server **out, const dits_server_opts *o)
{
	*out = NULL;
	dits_server *s = calloc(1, sizeof *s);
	if (!s)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	s->listen_fd = -1;
	pthread_mutex_init(&s->create_mu, NULL);
	pthread_mutex_init(&s->catalog_mu, NULL);
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	pthread_mutex_init(&s->gmu, NULL);
	pthread_cond_init(&s->gcv, NULL);
	s->max_conns = o->max_connections ? o->max_connections : DITS_SERVER_MAX_CONNECTIONS;
	s->per_client = o->max_per_client ? o->max_per_client : DITS_SERVER_MAX_PER_CLIENT;
	s->header_timeout = o->header_timeout ? o->header_timeout : DITS_SERVER_HEADER_TIMEOUT;
	s->idle_timeout = o->idle_timeout ? o->idle_timeout : DITS_SERVER_IDLE_TIMEOUT;
	s->reserve = s->max_conns / 10 ? s->max_conns / 10 : 1;
	int rc = prepare(s, o);
	if (rc) {
		server_free(s);
		return rc;
	}
	s->run_job = o->run_job;
	s->job_ctx = o->job_ctx;
	s->attach_checks = o->attach_checks;
	if (o->headless) {
		/* Workers only: the uploads (and their leftovers) are a server's. */
		s->once = o->once;
		if (o->run_job && o->workers > 0 && (rc = workers_start(s, o->workers))) {
			dits_server_stop(s);
			return rc;
		}
		if (!o->run_job || o->workers <= 0) {
			pthread_mutex_lock(&s->mu);
			s->drained = true;
			pthread_mutex_unlock(&s->mu);
		}
		*out = s;
		return 0;
	}
	clean_leftovers(s);
	unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC;
	if (s->tls)
		flags |= MHD_USE_TLS;
	struct MHD_OptionItem tls_opts[] = {
		{ MHD_OPTION_HTTPS_MEM_CERT, 0, s->tls_cert_pem },
		{ MHD_OPTION_HTTPS_MEM_KEY, 0, s->tls_key_pem },
		{ MHD_OPTION_END, 0, NULL },
	};
	s->mhd = MHD_start_daemon(flags, 0, on_accept, s, on_request, s,
	                          MHD_OPTION_LISTEN_SOCKET, s->listen_fd,
	                          MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
	                          MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
	                          MHD_OPTION_CONNECTION_LIMIT, s->max_conns,
	                          MHD_OPTION_PER_IP_CONNECTION_LIMIT, s->per_client,
	                          MHD_OPTION_CONNECTION_TIMEOUT, s->idle_timeout,
	                          MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(512 * 1024),
	                          MHD_OPTION_ARRAY, s->tls ? tls_opts : tls_opts + 2,
	                          MHD_OPTION_END);
	if (!s->mhd) {
		rc = dits_error_set(DITS_EIO, "%s: the HTTP server did not start%s", s->url,
		                    s->tls ? " (is the TLS key or certificate malformed?)" : "");
		server_free(s);
		return rc;
	}
	if (pthread_create(&s->guard, NULL, guard_main, s)) {
		rc = dits_error_set(DITS_EIO, "%s: cannot start the connection guard", s->url);
		MHD_stop_daemon(s->mhd);
		server_free(s);
		return rc;
	}
	s->guard_on = true;
	if (o->run_job && o->workers > 0 && (rc = workers_start(s, o->workers))) {
		dits_server_stop(s);
		return rc;
	}
	*out = s;
	return 0;
}

bool dits_server_drained(dits_server *s)
{
	pthread_mutex_lock(&s->mu);
	bool d = s->drained;
	pthread_mutex_unlock(&s->mu);
	return d;
}

const char *dits_server_url(const dits_server *s)
{
	return s->url;
}

void dits_server_stop(dits_server *s)
{
	if (!s)
		return;
	if (s->mhd) {
		/* Stop accepting; let requests in progress end, a few seconds at most. */
		MHD_quiesce_daemon(s->mhd);
		for (int i = 0; i < 500 && atomic_load(&s->in_flight) > 0; i++)
			usleep(10000);
		MHD_stop_daemon(s->mhd);
	}
	if (s->guard_on) {
		pthread_mutex_lock(&s->gmu);
		s->guard_stop = true;
		pthread_cond_signal(&s->gcv);
		pthread_mutex_unlock(&s->gmu);
		pthread_join(s->guard, NULL);
	}
	workers_stop(s);
	server_free(s);
}
