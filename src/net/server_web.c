/*
 * server_web.c - the web page of `dits serve` (docs/WEB.md): the embedded
 * page itself, the login exchange that puts a token in a cookie, the JSON
 * endpoints the page draws from (docs/PROTOCOL.md, "Web endpoints") and
 * stored files with HTTP range requests.
 *
 * Everything here is read-only. The page is a shell rendered in the
 * browser from the JSON endpoints; names that come from a repository are
 * only ever set as text there, and every response carries a strict
 * Content-Security-Policy (no inline script, nothing from elsewhere).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "blob.h"
#include "diff.h"
#include "error.h"
#include "fsutil.h"
#include "hologram.h"
#include "metadb.h"
#include "object.h"
#include "refs.h"
#include "server_internal.h"
#include "server_json.h"
#include "web_assets.h"
#include "worktree.h"

#define CSP "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; " \
            "media-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
#define COOKIE "dits_token"
#define TREE_LIMIT_MAX 1000u
#define LOG_LIMIT_MAX 200u
#define QUEUE_DONE_MAX 50u

/* ---- responses -------------------------------------------------------------- */

static void web_headers(struct MHD_Response *r)
{
	MHD_add_response_header(r, "Content-Security-Policy", CSP);
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "Referrer-Policy", "same-origin");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
}

static enum MHD_Result web_static_reply(request *q, unsigned status, const dits_web_asset *a)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(a->len, (void *)a->data, MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, a->type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	web_headers(r);
	return reply_response(q, status, r, a->len);
}

static const dits_web_asset *asset_named(const char *name)
{
	for (const dits_web_asset *a = dits_web_assets; a->name; a++)
		if (!strcmp(a->name, name))
			return a;
	return NULL;
}

/* Answers with j (consumed) as JSON. */
static enum MHD_Result reply_cjson(request *q, cJSON *j)
{
	char *s = j ? cJSON_PrintUnformatted(j) : NULL;
	cJSON_Delete(j);
	if (!s)
		return reply_error(q, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	size_t len = strlen(s);
	struct MHD_Response *r = MHD_create_response_from_buffer(len, s, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(s);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	web_headers(r);
	return reply_response(q, MHD_HTTP_OK, r, len);
}

static enum MHD_Result reply_rc(request *q, int rc)
{
	return reply_error(q, status_for(rc), dits_error_last());
}

static const char *arg(request *q, const char *key)
{
	return MHD_lookup_connection_value(q->conn, MHD_GET_ARGUMENT_KIND, key);
}

static void add_id(cJSON *o, const char *key, const dits_id *id)
{
	char hex[DITS_ID_HEXLEN + 1];
	dits_id_hex(hex, id);
	cJSON_AddStringToObject(o, key, hex);
}

static void add_str(cJSON *o, const char *key, const char *v)
{
	if (v)
		cJSON_AddStringToObject(o, key, v);
	else
		cJSON_AddNullToObject(o, key);
}

/* A non-negative integer query argument, dflt when absent or malformed, at most max. */
static size_t num_arg(request *q, const char *key, size_t dflt, size_t max)
{
	const char *v = arg(q, key);
	if (!v || !*v || strspn(v, "0123456789") != strlen(v) || strlen(v) > 9)
		return dflt;
	size_t n = (size_t)strtoul(v, NULL, 10);
	return n > max ? max : n;
}

/* ---- the token: header, cookie, or ?token= ---------------------------------- */

/* A token a cookie can carry unquoted (auth file tokens are words; most are base64 or hex). */
static bool cookie_safe(const char *t)
{
	if (!*t || strlen(t) > 512)
		return false;
	for (const char *p = t; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("-._~+/=", *p))
			return false;
	return true;
}

const char *web_cookie_token(struct MHD_Connection *c)
{
	const char *v = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, COOKIE);
	return v && *v ? v : NULL;
}

/* Where to go after the login: a path on this server, never another host. */
static const char *safe_next(const char *next)
{
	if (!next || next[0] != '/' || next[1] == '/' || next[1] == '\\' || strpbrk(next, "\r\n"))
		return "/";
	return next;
}

/* Appends path percent-encoded (all but unreserved characters and '/'), for a Location header. */
static void put_path(dits_buf *b, const char *path)
{
	for (const char *p = path; *p; p++) {
		unsigned char ch = (unsigned char)*p;
		if (isalnum(ch) || strchr("/-._~", ch))
			dits_buf_put(b, p, 1);
		else
			dits_buf_printf(b, "%%%02X", ch);
	}
}

static enum MHD_Result redirect(request *q, const char *location, const char *cookie)
{
	static const char empty[] = "";
	struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)empty, MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, location);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (cookie)
		MHD_add_response_header(r, MHD_HTTP_HEADER_SET_COOKIE, cookie);
	web_headers(r);
	return reply_response(q, MHD_HTTP_SEE_OTHER, r, 0);
}

/*
 * Sets the cookie for token and goes to next, or back to the login form
 * when the token is unknown. Without --auth there is nothing to log in to.
 */
static enum MHD_Result login_with(request *q, const char *token, const char *next)
{
	dits_server *s = q->srv;
	next = safe_next(next);
	bool known = !s->auth_on; /* without --auth there is nothing to log in to */
	if (s->auth_on && token && cookie_safe(token))
		auth_perm(&s->auth, token, NULL, &known);
	/* where to go, encoded (next is a decoded path: names may hold anything) */
	dits_buf loc = DITS_BUF_INIT;
	if (!known)
		dits_buf_puts(&loc, "/_login?failed=1&next="); /* back to the form, which keeps where the user was going */
	put_path(&loc, next);
	char *cookie = known && s->auth_on
		? dits_strfmt(COOKIE "=%s; Path=/; HttpOnly; SameSite=Strict%s", token, s->tls ? "; Secure" : "")
		: NULL;
	enum MHD_Result res = MHD_NO;
	if (dits_buf_cstr(&loc) == 0 && (!(known && s->auth_on) || cookie))
		res = redirect(q, (const char *)loc.data, cookie);
	dits_buf_free(&loc);
	free(cookie);
	return res;
}

enum MHD_Result web_login(request *q, bool post)
{
	if (!post) {
		const char *token = arg(q, "token");
		if (token)
			return login_with(q, token, arg(q, "next"));
		return web_static_reply(q, MHD_HTTP_OK, asset_named("index.html"));
	}
	char *token = server_form_value(q->body.data, q->body.len, "token");
	char *next = server_form_value(q->body.data, q->body.len, "next");
	enum MHD_Result res = login_with(q, token, next);
	free(token);
	free(next);
	return res;
}

enum MHD_Result web_logout(request *q)
{
	return redirect(q, "/", COOKIE "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
}

/* ---- the page and its files ------------------------------------------------- */

enum MHD_Result web_page(request *q, const char *url)
{
	/* ?token=: exchanged for the cookie, then the same page without it */
	const char *token = arg(q, "token");
	if (token)
		return login_with(q, token, url);
	unsigned status = MHD_HTTP_OK;
	if (q->srv->auth_on) {
		bool known;
		int perm = auth_perm(&q->srv->auth, q->token, q->name[0] ? q->name : NULL, &known);
		if (perm < PERM_READ || (q->token && !known))
			status = MHD_HTTP_UNAUTHORIZED; /* the page shows the login form */
	}
	return web_static_reply(q, status, asset_named("index.html"));
}

enum MHD_Result web_static(request *q, const char *name)
{
	const dits_web_asset *a = asset_named(name);
	if (!a || !strcmp(name, "index.html"))
		return reply_error(q, MHD_HTTP_NOT_FOUND, "no such file");
	return web_static_reply(q, MHD_HTTP_OK, a);
}

/* ---- GET /_repos --------------------------------------------------------------- */

static int count_ref(void *ctx, const char *ref, const dits_id *id)
{
	(void)ref;
	(void)id;
	(*(int *)ctx)++;
	return 0;
}

enum MHD_Result web_repos(request *q)
{
	dits_server *s = q->srv;
	if (s->auth_on) {
		bool known;
		if (auth_perm(&s->auth, q->token, NULL, &known) < PERM_READ || (q->token && !known))
			return reply_error(q, MHD_HTTP_UNAUTHORIZED,
			                   q->token ? "unknown token" : "authentication required (log in)");
	}
	char **names;
	size_t n;
	int rc = server_list_repos(s, &names, &n);
	if (rc)
		return reply_rc(q, rc);
	cJSON *j = cJSON_CreateObject();
	cJSON *arr = cJSON_AddArrayToObject(j, "repositories");
	for (size_t i = 0; i < n; i++) {
		bool known;
		if (s->auth_on && auth_perm(&s->auth, q->token, names[i], &known) < PERM_READ)
			continue;
		dits_repo *r;
		if (server_open_repo(s, names[i], &r)) {
			dits_error_clear();
			continue;
		}
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", names[i]);
		char *head = NULL;
		dits_head_target(r, &head);
		add_str(o, "head", head);
		free(head);
		int branches = 0, tags = 0;
		dits_refs_foreach(r, "refs/heads/", count_ref, &branches);
		dits_refs_foreach(r, "refs/tags/", count_ref, &tags);
		cJSON_AddNumberToObject(o, "branches", branches);
		cJSON_AddNumberToObject(o, "tags", tags);
		dits_id h;
		if (dits_ref_read(r, "HEAD", &h) == 0) {
			dits_commit c;
			add_id(o, "commit", &h);
			if (dits_commit_read(dits_repo_odb(r), &h, &c) == 0) {
				cJSON_AddNumberToObject(o, "time", (double)c.committer.time);
				add_str(o, "message", c.message);
				dits_commit_free(&c);
			}
		}
		/* The repository's own database (PostgreSQL in a fleet); none is created here. */
		dits_metadb *db = NULL;
		struct dits_job_counts jc;
		if (dits_metadb_open_repo_if_exists(&db, r) == 0 && db) {
			if (dits_job_counts(db, &jc) == 0) {
				cJSON *jj = cJSON_AddObjectToObject(o, "jobs");
				cJSON_AddNumberToObject(jj, "queued", (double)jc.queued);
				cJSON_AddNumberToObject(jj, "running", (double)jc.running);
				cJSON_AddNumberToObject(jj, "failed", (double)(jc.failed + jc.dead));
			}
			dits_metadb_close(db);
		}
		dits_error_clear();
		dits_repo_free(r);
		cJSON_AddItemToArray(arr, o);
	}
	server_free_names(names, n);
	return reply_cjson(q, j);
}

/* ---- what the database says about assets ---------------------------------------- */

typedef struct repo_view {
	dits_repo *r;
	dits_metadb *db;
	dits_variant *v;   /* every variant, by parent, type, creation */
	size_t nv;
	dits_job *jobs;    /* every job, by id */
	size_t nj;
	char proxy_type[DITS_VARIANT_NAME_MAX], profile[DITS_VARIANT_NAME_MAX];
} repo_view;

static void view_close(repo_view *w)
{
	dits_variant_list_free(w->v, w->nv);
	dits_job_list_free(w->jobs, w->nj);
	dits_metadb_close(w->db);
	dits_repo_free(w->r);
	memset(w, 0, sizeof *w);
}

/* Opens the repository and, with_db, reads its variants and jobs (a repository without a database has none). */
static int view_open(request *q, repo_view *w, bool with_db)
{
	memset(w, 0, sizeof *w);
	int rc = server_open_repo(q->srv, q->name, &w->r);
	if (rc || !with_db)
		return rc;
	dits_variant_configured(w->r, w->proxy_type, w->profile);
	/* The embedded database only when it was made; PostgreSQL (metadb.url, a fleet's) always. */
	if ((rc = dits_metadb_open_repo_if_exists(&w->db, w->r)) || !w->db)
		return rc;
	if ((rc = dits_variant_list(w->db, NULL, &w->v, &w->nv)) ||
	    (rc = dits_job_list(w->db, NULL, NULL, &w->jobs, &w->nj)))
		view_close(w);
	return rc;
}

/* The revision of ?rev= (HEAD when absent); *empty when the repository has no commit yet. */
static int resolve_rev(request *q, dits_repo *r, const char *key, dits_id *out, bool *empty)
{
	const char *rev = arg(q, key);
	*empty = false;
	if (!rev || !*rev) {
		int rc = dits_ref_read(r, "HEAD", out);
		if (rc == DITS_ENOTFOUND) {
			dits_error_clear();
			*empty = true;
			return 0;
		}
		return rc;
	}
	return dits_revparse(r, rev, out);
}

typedef struct asset_state {
	const char *state;         /* ready | queued | running | failed | none */
	const char *reason;        /* why it failed */
	const dits_variant *proxy; /* the ready proxy, or NULL */
	const dits_variant *poster, *sprite, *vtt, *preview;
	const char *warnings;
} asset_state;

static int cmp_parent(const dits_id *a, const dits_variant *v)
{
	return memcmp(a->b, v->parent.b, DITS_ID_LEN);
}

/* The variants and jobs of asset id, summed up. */
static void asset_state_of(const repo_view *w, const dits_id *id, asset_state *st)
{
	memset(st, 0, sizeof *st);
	st->state = "none";
	size_t lo = 0, hi = w->nv;
	while (lo < hi) { /* the first variant of this parent */
		size_t mid = lo + (hi - lo) / 2;
		if (cmp_parent(id, &w->v[mid]) > 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	const dits_variant *latest_proxy = NULL, *any_ready = NULL;
	for (size_t i = lo; i < w->nv && !cmp_parent(id, &w->v[i]); i++) {
		const dits_variant *v = &w->v[i];
		bool ready = !strcmp(v->status, "ready");
		if (!strncmp(v->type, "proxy_", 6)) {
			if (!latest_proxy || v->created_at >= latest_proxy->created_at)
				latest_proxy = v;
			if (ready && (!any_ready || !strcmp(v->type, w->proxy_type)))
				any_ready = v;
		} else if (ready) {
			if (!strcmp(v->type, "thumbnail"))
				st->poster = v;
			else if (!strcmp(v->type, "sprite"))
				st->sprite = v;
			else if (!strcmp(v->type, "sprite_vtt"))
				st->vtt = v;
			else if (!strcmp(v->type, "preview_webm"))
				st->preview = v;
		}
	}
	if (any_ready) {
		st->state = "ready";
		st->proxy = any_ready;
		st->warnings = any_ready->warnings && *any_ready->warnings ? any_ready->warnings : NULL;
		return;
	}
	if (latest_proxy) {
		st->state = latest_proxy->status;
		st->reason = latest_proxy->error;
	}
	/* A job not started yet has no variant; a job waiting for its retry keeps its last error. */
	for (size_t i = w->nj; i-- > 0;) {
		const dits_job *j = &w->jobs[i];
		if (strcmp(j->kind, "TRANSCODE") || !dits_id_eq(&j->asset, id))
			continue;
		if (!strcmp(j->state, "queued") || !strcmp(j->state, "running")) {
			if (strcmp(st->state, "running"))
				st->state = j->state;
			if (j->last_error && !st->reason)
				st->reason = j->last_error;
		} else if ((!strcmp(j->state, "dead") || !strcmp(j->state, "failed")) && !strcmp(st->state, "none")) {
			st->state = "failed";
			st->reason = j->last_error;
		}
		break;
	}
}

static void add_variant_ref(cJSON *o, const char *key, const dits_variant *v)
{
	if (v && v->has_manifest)
		add_id(o, key, &v->manifest);
	else
		cJSON_AddNullToObject(o, key);
}

/* The members the grid and the asset page share. */
static void add_asset_state(cJSON *o, const asset_state *st, bool video)
{
	cJSON_AddBoolToObject(o, "video", video);
	cJSON *p = cJSON_AddObjectToObject(o, "proxy");
	cJSON_AddStringToObject(p, "state", video ? st->state : "none");
	add_str(p, "reason", st->reason);
	add_str(p, "type", st->proxy ? st->proxy->type : NULL);
	add_variant_ref(p, "manifest", st->proxy);
	if (st->proxy)
		cJSON_AddNumberToObject(p, "size", (double)st->proxy->size);
	add_str(p, "warnings", st->warnings);
	add_variant_ref(o, "poster", st->poster);
	add_variant_ref(o, "sprite", st->sprite);
	add_variant_ref(o, "vtt", st->vtt);
	add_variant_ref(o, "preview", st->preview);
}

/* ---- GET /NAME/tree ------------------------------------------------------------------ */

enum MHD_Result web_tree(request *q)
{
	repo_view w;
	int rc = view_open(q, &w, true);
	if (rc)
		return reply_rc(q, rc);
	dits_id commit = { { 0 } };
	bool empty;
	if ((rc = resolve_rev(q, w.r, "rev", &commit, &empty))) {
		view_close(&w);
		return reply_rc(q, rc);
	}
	dits_flat flat = { 0 };
	if (!empty && (rc = dits_flat_from_commit(w.r, &commit, &flat))) {
		view_close(&w);
		return reply_rc(q, rc);
	}
	const char *dir = arg(q, "path");
	if (!dir)
		dir = "";
	size_t dl = strlen(dir);
	while (dl && dir[dl - 1] == '/')
		dl--;
	size_t offset = num_arg(q, "offset", 0, (size_t)-1 / 2);
	size_t limit = num_arg(q, "limit", 200, TREE_LIMIT_MAX);
	cJSON *j = cJSON_CreateObject();
	if (empty)
		cJSON_AddNullToObject(j, "commit");
	else
		add_id(j, "commit", &commit);
	cJSON *dirs = cJSON_CreateArray(), *files = cJSON_CreateArray();
	size_t ndirs = 0, nfiles = 0, videos = 0, ready = 0;
	char last_dir[4096] = "";
	bool in_dir = dl == 0;
	for (size_t i = 0; i < flat.n; i++) {
		const dits_flat_entry *e = &flat.e[i];
		const char *rest = e->path;
		if (dl) {
			if (strncmp(e->path, dir, dl) || e->path[dl] != '/')
				continue;
			rest = e->path + dl + 1;
			in_dir = true;
		}
		const char *slash = strchr(rest, '/');
		if (slash) {
			size_t nl = (size_t)(slash - rest);
			if (nl < sizeof last_dir && (strlen(last_dir) != nl || memcmp(last_dir, rest, nl))) {
				memcpy(last_dir, rest, nl);
				last_dir[nl] = '\0';
				cJSON *d = cJSON_CreateObject();
				cJSON_AddStringToObject(d, "name", last_dir);
				cJSON_AddItemToArray(dirs, d);
				ndirs++;
			}
			continue;
		}
		bool video = dits_hologram_is_video_path(e->path);
		asset_state st;
		asset_state_of(&w, &e->id, &st);
		videos += video;
		ready += video && st.proxy;
		size_t k = nfiles++;
		if (k < offset || k >= offset + limit) /* pages cut the files; folders all come first */
			continue;
		cJSON *f = cJSON_CreateObject();
		cJSON_AddStringToObject(f, "name", rest);
		cJSON_AddStringToObject(f, "path", e->path);
		add_id(f, "id", &e->id);
		cJSON_AddNumberToObject(f, "size", (double)e->size);
		add_asset_state(f, &st, video);
		cJSON_AddItemToArray(files, f);
	}
	if (!in_dir && !empty) {
		cJSON_Delete(j);
		cJSON_Delete(dirs);
		cJSON_Delete(files);
		dits_flat_free(&flat);
		view_close(&w);
		return reply_error(q, MHD_HTTP_NOT_FOUND, "no such directory at this revision");
	}
	char *dcopy = dits_strfmt("%.*s", (int)dl, dir);
	add_str(j, "path", dcopy ? dcopy : "");
	free(dcopy);
	/* Directories come first and are always listed whole on the first page. */
	if (offset > 0) {
		cJSON_Delete(dirs);
		dirs = cJSON_CreateArray();
	}
	cJSON_AddItemToObject(j, "dirs", dirs);
	cJSON_AddItemToObject(j, "files", files);
	cJSON_AddNumberToObject(j, "total", (double)nfiles);
	cJSON_AddNumberToObject(j, "offset", (double)offset);
	cJSON_AddNumberToObject(j, "limit", (double)limit);
	cJSON_AddNumberToObject(j, "videos", (double)videos);
	cJSON_AddNumberToObject(j, "proxies_ready", (double)ready);
	dits_flat_free(&flat);
	view_close(&w);
	return reply_cjson(q, j);
}

/* ---- GET /NAME/asset ------------------------------------------------------------------ */

enum MHD_Result web_asset(request *q)
{
	const char *path = arg(q, "path");
	if (!path || !*path)
		return reply_error(q, MHD_HTTP_BAD_REQUEST, "path is required");
	repo_view w;
	int rc = view_open(q, &w, true);
	if (rc)
		return reply_rc(q, rc);
	dits_id commit;
	bool empty;
	dits_flat flat = { 0 };
	if ((rc = resolve_rev(q, w.r, "rev", &commit, &empty)) || (!empty && (rc = dits_flat_from_commit(w.r, &commit, &flat)))) {
		view_close(&w);
		return reply_rc(q, rc);
	}
	const dits_flat_entry *e = empty ? NULL : dits_flat_find(&flat, path);
	if (!e) {
		dits_flat_free(&flat);
		view_close(&w);
		return reply_error(q, MHD_HTTP_NOT_FOUND, "no such file at this revision");
	}
	cJSON *j = cJSON_CreateObject();
	add_id(j, "commit", &commit);
	cJSON_AddStringToObject(j, "path", e->path);
	add_id(j, "id", &e->id);
	cJSON_AddNumberToObject(j, "size", (double)e->size);
	bool video = dits_hologram_is_video_path(e->path);
	asset_state st;
	asset_state_of(&w, &e->id, &st);
	add_asset_state(j, &st, video);
	/* measured facts: the proxy's record carries the master's too */
	cJSON *facts = st.proxy && st.proxy->facts ? cJSON_Parse(st.proxy->facts) : NULL;
	cJSON *master = facts ? cJSON_DetachItemFromObjectCaseSensitive(facts, "master") : NULL;
	cJSON_AddItemToObject(j, "master_facts", master && cJSON_IsObject(master) ? master : cJSON_CreateNull());
	if (master && !cJSON_IsObject(master))
		cJSON_Delete(master);
	cJSON_AddItemToObject(j, "proxy_facts", facts && cJSON_IsObject(facts) ? facts : cJSON_CreateNull());
	if (facts && !cJSON_IsObject(facts))
		cJSON_Delete(facts);
	/* the attach rules' verdicts, from the same records */
	char *checks = st.proxy && st.proxy->facts && q->srv->attach_checks
		? q->srv->attach_checks(st.proxy->facts, st.proxy->type) : NULL;
	cJSON *cj = checks ? cJSON_Parse(checks) : NULL;
	free(checks);
	cJSON_AddItemToObject(j, "checks", cJSON_IsArray(cj) ? cj : cJSON_CreateNull());
	if (cj && !cJSON_IsArray(cj))
		cJSON_Delete(cj);
	cJSON *jobs = cJSON_AddArrayToObject(j, "jobs");
	for (size_t i = 0; i < w.nj; i++) {
		const dits_job *jb = &w.jobs[i];
		if (!dits_id_eq(&jb->asset, &e->id))
			continue;
		cJSON *o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "id", (double)jb->id);
		cJSON_AddStringToObject(o, "target", jb->target);
		cJSON_AddStringToObject(o, "state", !strcmp(jb->state, "dead") ? "failed" : jb->state);
		cJSON_AddNumberToObject(o, "attempts", jb->attempts);
		add_str(o, "error", jb->last_error);
		cJSON_AddItemToArray(jobs, o);
	}
	dits_flat_free(&flat);
	view_close(&w);
	return reply_cjson(q, j);
}

/* ---- GET /NAME/log ---------------------------------------------------------------------- */

static cJSON *signature_json(const dits_signature *s)
{
	cJSON *o = cJSON_CreateObject();
	add_str(o, "name", s->name);
	add_str(o, "email", s->email);
	cJSON_AddNumberToObject(o, "time", (double)s->time);
	cJSON_AddNumberToObject(o, "tz", s->tz_minutes);
	return o;
}

static cJSON *commit_json(const dits_id *id, const dits_commit *c)
{
	cJSON *o = cJSON_CreateObject();
	add_id(o, "id", id);
	cJSON *ps = cJSON_AddArrayToObject(o, "parents");
	for (size_t i = 0; i < c->nparents; i++) {
		char hex[DITS_ID_HEXLEN + 1];
		dits_id_hex(hex, &c->parents[i]);
		cJSON_AddItemToArray(ps, cJSON_CreateString(hex));
	}
	cJSON_AddItemToObject(o, "author", signature_json(&c->author));
	cJSON_AddItemToObject(o, "committer", signature_json(&c->committer));
	add_str(o, "message", c->message);
	return o;
}

enum MHD_Result web_log(request *q)
{
	repo_view w;
	int rc = view_open(q, &w, true);
	if (rc)
		return reply_rc(q, rc);
	dits_id id;
	bool empty;
	if ((rc = resolve_rev(q, w.r, "rev", &id, &empty))) {
		view_close(&w);
		return reply_rc(q, rc);
	}
	size_t limit = num_arg(q, "limit", 30, LOG_LIMIT_MAX);
	cJSON *j = cJSON_CreateObject();
	cJSON *arr = cJSON_AddArrayToObject(j, "commits");
	bool more = false;
	/* The first-parent line, newest first; ?rev=PARENT continues a page. */
	for (size_t n = 0; !empty && !rc; n++) {
		if (n == limit) {
			more = true;
			add_id(j, "next", &id);
			break;
		}
		dits_commit c;
		if ((rc = dits_commit_read(dits_repo_odb(w.r), &id, &c)))
			break;
		cJSON *o = commit_json(&id, &c);
		dits_flat flat;
		if (dits_flat_from_tree(w.r, &c.tree, &flat) == 0) {
			size_t videos = 0, ready = 0, failed = 0;
			for (size_t i = 0; i < flat.n; i++) {
				if (!dits_hologram_is_video_path(flat.e[i].path))
					continue;
				asset_state st;
				asset_state_of(&w, &flat.e[i].id, &st);
				videos++;
				ready += st.proxy != NULL;
				failed += !strcmp(st.state, "failed");
			}
			cJSON *pc = cJSON_AddObjectToObject(o, "proxies");
			cJSON_AddNumberToObject(pc, "videos", (double)videos);
			cJSON_AddNumberToObject(pc, "ready", (double)ready);
			cJSON_AddNumberToObject(pc, "failed", (double)failed);
			cJSON_AddNumberToObject(o, "files", (double)flat.n);
			dits_flat_free(&flat);
		}
		dits_error_clear();
		cJSON_AddItemToArray(arr, o);
		bool has_parent = c.nparents > 0;
		if (has_parent)
			id = c.parents[0];
		dits_commit_free(&c);
		if (!has_parent)
			break;
	}
	if (!more)
		cJSON_AddNullToObject(j, "next");
	view_close(&w);
	if (rc) {
		cJSON_Delete(j);
		return reply_rc(q, rc);
	}
	return reply_cjson(q, j);
}

/* ---- GET /NAME/commit ------------------------------------------------------------------- */

enum MHD_Result web_commit(request *q)
{
	repo_view w;
	int rc = view_open(q, &w, false);
	if (rc)
		return reply_rc(q, rc);
	dits_id id;
	bool empty;
	dits_commit c;
	if ((rc = resolve_rev(q, w.r, "id", &id, &empty)) || (empty && (rc = dits_error_set(DITS_ENOTFOUND, "no commit yet"))) ||
	    (rc = dits_commit_read(dits_repo_odb(w.r), &id, &c))) {
		view_close(&w);
		return reply_rc(q, rc);
	}
	dits_id parent = { { 0 } };
	if (c.nparents)
		parent = c.parents[0];
	dits_diff d;
	if ((rc = dits_diff_compute(w.r, &parent, &id, &d))) {
		dits_commit_free(&c);
		view_close(&w);
		return reply_rc(q, rc);
	}
	cJSON *j = commit_json(&id, &c);
	cJSON *files = cJSON_AddArrayToObject(j, "files");
	uint64_t bn = 0, bs = 0, cn = 0, cs = 0;
	for (size_t i = 0; i < d.n; i++) {
		const dits_diff_file *f = &d.v[i];
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "path", f->path);
		char st[2] = { f->status, 0 };
		cJSON_AddStringToObject(o, "status", st);
		cJSON_AddNumberToObject(o, "old_size", (double)f->old_size);
		cJSON_AddNumberToObject(o, "new_size", (double)f->new_size);
		cJSON_AddNumberToObject(o, "bytes_new", (double)f->bytes_new);
		cJSON_AddNumberToObject(o, "bytes_shared", (double)f->bytes_shared);
		cJSON_AddNumberToObject(o, "chunks_new", (double)f->chunks_new);
		cJSON_AddNumberToObject(o, "chunks_shared", (double)f->chunks_shared);
		cJSON_AddItemToArray(files, o);
		bn += f->bytes_new;
		bs += f->bytes_shared;
		cn += f->chunks_new;
		cs += f->chunks_shared;
	}
	cJSON *t = cJSON_AddObjectToObject(j, "totals");
	cJSON_AddNumberToObject(t, "files", (double)d.n);
	cJSON_AddNumberToObject(t, "bytes_new", (double)bn);
	cJSON_AddNumberToObject(t, "bytes_shared", (double)bs);
	cJSON_AddNumberToObject(t, "chunks_new", (double)cn);
	cJSON_AddNumberToObject(t, "chunks_shared", (double)cs);
	dits_diff_free(&d);
	dits_commit_free(&c);
	view_close(&w);
	return reply_cjson(q, j);
}

/* ---- GET /NAME/queue -------------------------------------------------------------------- */

enum MHD_Result web_queue(request *q)
{
	repo_view w;
	int rc = view_open(q, &w, true);
	if (rc)
		return reply_rc(q, rc);
	cJSON *j = cJSON_CreateObject();
	cJSON *counts = cJSON_AddObjectToObject(j, "counts");
	size_t nq = 0, nr = 0, nd = 0, nf = 0, done_shown = 0;
	for (size_t i = 0; i < w.nj; i++) {
		const char *s = w.jobs[i].state;
		nq += !strcmp(s, "queued");
		nr += !strcmp(s, "running");
		nd += !strcmp(s, "done");
		nf += !strcmp(s, "dead") || !strcmp(s, "failed");
	}
	cJSON_AddNumberToObject(counts, "queued", (double)nq);
	cJSON_AddNumberToObject(counts, "running", (double)nr);
	cJSON_AddNumberToObject(counts, "done", (double)nd);
	cJSON_AddNumberToObject(counts, "failed", (double)nf);
	cJSON *arr = cJSON_AddArrayToObject(j, "jobs");
	/* newest first; every unfinished or failed job, the last few done ones */
	for (size_t i = w.nj; i-- > 0;) {
		const dits_job *jb = &w.jobs[i];
		bool done = !strcmp(jb->state, "done");
		if (done && done_shown++ >= QUEUE_DONE_MAX)
			continue;
		cJSON *o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "id", (double)jb->id);
		cJSON_AddStringToObject(o, "kind", jb->kind);
		add_str(o, "path", jb->path);
		add_id(o, "asset", &jb->asset);
		cJSON_AddStringToObject(o, "target", jb->target);
		const char *state = !strcmp(jb->state, "dead") ? "failed" : jb->state;
		cJSON_AddStringToObject(o, "state", state);
		cJSON_AddNumberToObject(o, "attempts", jb->attempts);
		cJSON_AddNumberToObject(o, "max_attempts", jb->max_attempts);
		double progress = done ? 1 : 0;
		if (!strcmp(state, "running")) {
			/* this server's workers report at once, any server's through the job's row */
			progress = server_progress_get(q->srv, dits_repo_dir(w.r), jb->path);
			if (jb->progress > progress && jb->progress <= 1)
				progress = jb->progress;
		}
		cJSON_AddNumberToObject(o, "progress", progress);
		add_str(o, "error", jb->last_error);
		cJSON_AddNumberToObject(o, "created", (double)jb->created_at);
		cJSON_AddNumberToObject(o, "updated", (double)jb->updated_at);
		cJSON_AddItemToArray(arr, o);
	}
	view_close(&w);
	return reply_cjson(q, j);
}

/* ---- GET /NAME/content/ID[/FILENAME]: stored bytes, with ranges ------------------------ */

typedef struct content_stream {
	dits_repo *r;
	dits_blob *b;
	uint64_t start;
} content_stream;

static ssize_t content_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	content_stream *c = cls;
	ssize_t n = dits_blob_pread(c->b, buf, max, c->start + pos);
	if (n < 0)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	return n ? n : MHD_CONTENT_READER_END_OF_STREAM;
}

static void content_free(void *cls)
{
	content_stream *c = cls;
	dits_blob_close(c->b);
	dits_repo_free(c->r);
	free(c);
}

static const char *type_for(const char *name)
{
	const char *dot = name ? strrchr(name, '.') : NULL;
	static const char *const map[][2] = {
		{ ".jpg", "image/jpeg" }, { ".jpeg", "image/jpeg" }, { ".png", "image/png" },
		{ ".vtt", "text/vtt; charset=utf-8" }, { ".webm", "video/webm" }, { ".mov", "video/quicktime" },
		{ ".mp4", "video/mp4" }, { ".m4v", "video/mp4" }, { ".mxf", "application/mxf" },
		{ ".wav", "audio/wav" }, { ".txt", "text/plain; charset=utf-8" },
	};
	for (size_t i = 0; dot && i < sizeof map / sizeof *map; i++)
		if (!strcasecmp(dot, map[i][0]))
			return map[i][1];
	return "application/octet-stream";
}

enum MHD_Result web_content(request *q, const char *hex, const char *filename)
{
	dits_id id;
	if (dits_id_from_hex(&id, hex))
		return reply_error(q, MHD_HTTP_NOT_FOUND, "no such content");
	content_stream *c = calloc(1, sizeof *c);
	if (!c)
		return MHD_NO;
	int rc = server_open_repo(q->srv, q->name, &c->r);
	uint8_t type = 0;
	if (!rc && (dits_odb_read_header(dits_repo_odb(c->r), &id, &type, NULL) || type != DITS_OBJ_MANIFEST))
		rc = dits_error_set(DITS_ENOTFOUND, "content %s is not in %s", hex, q->name);
	if (!rc)
		rc = dits_blob_open(&c->b, dits_repo_odb(c->r), &id);
	if (rc) {
		dits_repo_free(c->r);
		free(c);
		return reply_rc(q, rc);
	}
	uint64_t size = dits_blob_size(c->b), from = 0, to = size ? size - 1 : 0;
	const char *rh = MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_RANGE);
	int ranged = rh ? server_parse_range(rh, size, &from, &to) : 0;
	if (ranged < 0) {
		content_free(c);
		struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
		if (!r)
			return MHD_NO;
		char cr[64];
		snprintf(cr, sizeof cr, "bytes */%llu", (unsigned long long)size);
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
		web_headers(r);
		return reply_response(q, MHD_HTTP_RANGE_NOT_SATISFIABLE, r, 0);
	}
	uint64_t len = size ? to - from + 1 : 0;
	c->start = from;
	struct MHD_Response *r = MHD_create_response_from_callback(len, 256 * 1024, content_read, c, content_free);
	if (!r) {
		content_free(c);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type_for(filename));
	MHD_add_response_header(r, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
	/* content-addressed: the bytes behind an id never change */
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "private, max-age=31536000, immutable");
	char etag[DITS_ID_HEXLEN + 3];
	snprintf(etag, sizeof etag, "\"%s\"", hex);
	MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, etag);
	if (ranged) {
		char cr[96];
		snprintf(cr, sizeof cr, "bytes %llu-%llu/%llu", (unsigned long long)from, (unsigned long long)to,
		         (unsigned long long)size);
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
	}
	const char *dl = arg(q, "download");
	if (dl && filename && *filename) {
		char safe[256];
		size_t k = 0;
		for (const char *p = filename; *p && k + 1 < sizeof safe; p++)
			safe[k++] = (unsigned char)*p < 0x20 || *p == '"' || *p == '\\' || *p == 0x7f ? '_' : *p;
		safe[k] = '\0';
		char *cd = dits_strfmt("attachment; filename=\"%s\"", safe);
		if (cd)
			MHD_add_response_header(r, "Content-Disposition", cd);
		free(cd);
	}
	web_headers(r);
	return reply_response(q, ranged ? MHD_HTTP_PARTIAL_CONTENT : MHD_HTTP_OK, r, len);
}

/* ---- progress of running jobs, as the workers report it ------------------------------- */

typedef struct progress_entry {
	char *dir, *path;
	double fraction;
} progress_entry;

static pthread_mutex_t progress_mu = PTHREAD_MUTEX_INITIALIZER;

void dits_server_progress(dits_server *s, const char *repo_dir, const char *path, double fraction)
{
	if (!s || !repo_dir || !path)
		return;
	char real[PATH_MAX];
	/* the worker names the worktree; the server knows ROOT/NAME and reads ROOT/NAME/.dits */
	char *dits_dir = dits_strfmt("%s/.dits", repo_dir);
	if (!dits_dir || !realpath(dits_dir, real)) {
		free(dits_dir);
		return;
	}
	free(dits_dir);
	pthread_mutex_lock(&progress_mu);
	progress_entry *v = s->progress;
	size_t i = 0;
	for (; i < s->nprogress; i++)
		if (!strcmp(v[i].dir, real) && !strcmp(v[i].path, path))
			break;
	if (i == s->nprogress) {
		progress_entry *nv = realloc(s->progress, (s->nprogress + 1) * sizeof *nv);
		char *d = strdup(real), *p = strdup(path);
		if (!nv || !d || !p) {
			if (nv)
				s->progress = nv;
			free(d);
			free(p);
			pthread_mutex_unlock(&progress_mu);
			return;
		}
		s->progress = v = nv;
		v[i] = (progress_entry){ d, p, 0 };
		s->nprogress++;
	}
	v[i].fraction = fraction < 0 ? 0 : fraction > 1 ? 1 : fraction;
	pthread_mutex_unlock(&progress_mu);
}

double server_progress_get(dits_server *s, const char *dits_dir, const char *path)
{
	double f = 0;
	char real[PATH_MAX];
	if (!path || !realpath(dits_dir, real))
		return 0;
	pthread_mutex_lock(&progress_mu);
	progress_entry *v = s->progress;
	for (size_t i = 0; i < s->nprogress; i++)
		if (!strcmp(v[i].dir, real) && !strcmp(v[i].path, path))
			f = v[i].fraction;
	pthread_mutex_unlock(&progress_mu);
	return f;
}

void server_progress_free(dits_server *s)
{
	progress_entry *v = s->progress;
	for (size_t i = 0; i < s->nprogress; i++) {
		free(v[i].dir);
		free(v[i].path);
	}
	free(s->progress);
	s->progress = NULL;
	s->nprogress = 0;
}
