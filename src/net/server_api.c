/*
 * server_api.c - the endpoints of docs/PROTOCOL.md that answer once the
 * whole (small) body is in: refs, create, have, get, walk, variants, S3
 * events and metrics. POST /NAME/objects streams and lives in server.c.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "error.h"
#include "fsutil.h"
#include "hologram.h"
#include "idset.h"
#include "metadb.h"
#include "object.h"
#include "refs.h"
#include "server_ingest.h"
#include "server_internal.h"
#include "server_json.h"
#include "walk.h"
#include "worktree.h"

/* Replies with the library's last error and the status that fits rc. */
static enum MHD_Result reply_rc(request *q, int rc)
{
	return reply_error(q, status_for(rc), dits_error_last());
}

static enum MHD_Result reply_buf(request *q, unsigned status, const char *type, dits_buf *b)
{
	if (b->len == 0) {
		dits_buf_free(b);
		char *empty = malloc(1);
		return empty ? reply_data(q, status, type, empty, 0) : MHD_NO;
	}
	void *data = b->data;
	size_t len = b->len;
	*b = (dits_buf)DITS_BUF_INIT;
	return reply_data(q, status, type, data, len);
}

static enum MHD_Result reply_json(request *q, unsigned status, dits_buf *b)
{
	return reply_buf(q, status, "application/json", b);
}

static void put_id(dits_buf *b, const dits_id *id)
{
	char hex[DITS_ID_HEXLEN + 1];
	dits_id_hex(hex, id);
	dits_buf_printf(b, "\"%s\"", hex);
}

/* ---- GET /NAME/refs, POST /NAME/create -------------------------------------- */

static int put_ref(void *ctx, const char *ref, const dits_id *id)
{
	dits_buf *b = ctx;
	if (b->data[b->len - 1] != '{')
		dits_buf_puts(b, ", ");
	dits_buf_put_json_str(b, ref);
	dits_buf_puts(b, ": ");
	put_id(b, id);
	return 0;
}

/* The body of GET /NAME/refs. */
static int refs_json(dits_repo *r, dits_buf *b)
{
	const dits_chunker_params *p = dits_repo_chunker_params(r);
	dits_buf_printf(b, "{\"format\": %d, \"chunker\": {\"min\": %u, \"avg\": %u, \"max\": %u, \"level\": %u, "
	                   "\"seed\": %llu}, \"head\": ",
	                DITS_FORMAT_VERSION, p->min, p->avg, p->max, p->level, (unsigned long long)p->seed);
	char *head = NULL;
	int rc = dits_head_target(r, &head);
	if (rc)
		return rc;
	if (head)
		dits_buf_put_json_str(b, head);
	else
		dits_buf_puts(b, "null");
	free(head);
	dits_buf_puts(b, ", \"refs\": {");
	rc = dits_refs_foreach(r, "refs/", put_ref, b);
	if (!rc && dits_buf_puts(b, "}}\n"))
		rc = dits_error_set(DITS_ENOMEM, "out of memory");
	return rc;
}

/* Answers with r's refs document (GET /NAME/refs) and closes r. */
static enum MHD_Result reply_refs(request *q, dits_repo *r, unsigned status)
{
	dits_buf b = DITS_BUF_INIT;
	int rc = refs_json(r, &b);
	dits_repo_free(r);
	if (rc) {
		dits_buf_free(&b);
		return reply_rc(q, rc);
	}
	return reply_json(q, status, &b);
}

enum MHD_Result api_refs_get(request *q)
{
	dits_repo *r;
	int rc = server_open_repo(q->srv, q->name, &r);
	if (rc)
		return reply_rc(q, rc);
	return reply_refs(q, r, MHD_HTTP_OK);
}

enum MHD_Result api_create(request *q)
{
	dits_chunker_params p;
	int rc = server_parse_create(q->body.data, q->body.len, &p);
	if (rc)
		return reply_rc(q, rc);
	dits_server *s = q->srv;
	unsigned status = MHD_HTTP_OK;
	dits_repo *r = NULL;
	/* dits_repo_init builds under a per-process temporary name: one at a time. */
	pthread_mutex_lock(&s->create_mu);
	rc = server_open_repo(s, q->name, &r);
	if (rc == DITS_ENOTFOUND && s->catalog) {
		/* A fleet: the catalog says who created it first, on whichever server. */
		dits_error_clear();
		bool created = false;
		rc = server_create_repo(s, q->name, &p, &created);
		if (!rc)
			rc = server_open_repo(s, q->name, &r);
		if (created)
			status = MHD_HTTP_CREATED;
	} else if (rc == DITS_ENOTFOUND) {
		dits_error_clear();
		char *dir = server_repo_dir(s, q->name);
		rc = dir ? dits_repo_init(&r, dir, &p) : dits_error_set(DITS_ENOMEM, "out of memory");
		free(dir);
		status = MHD_HTTP_CREATED;
	}
	pthread_mutex_unlock(&s->create_mu);
	if (rc)
		return reply_rc(q, rc);
	return reply_refs(q, r, status);
}

/* ---- POST /NAME/objects/have ------------------------------------------------- */

enum MHD_Result api_have(request *q)
{
	dits_id *ids;
	size_t n;
	int rc = server_parse_ids(q->body.data, q->body.len, false, &ids, &n);
	if (rc)
		return reply_rc(q, rc);
	dits_repo *r;
	if ((rc = server_open_repo(q->srv, q->name, &r))) {
		free(ids);
		return reply_rc(q, rc);
	}
	size_t len = (n + 7) / 8;
	uint8_t *bits = calloc(len, 1);
	if (!bits) {
		free(ids);
		dits_repo_free(r);
		return MHD_NO;
	}
	for (size_t i = 0; i < n; i++)
		if (dits_odb_exists(dits_repo_odb(r), &ids[i]))
			dits_wire_set_bit(bits, i);
	free(ids);
	dits_repo_free(r);
	return reply_data(q, MHD_HTTP_OK, "application/octet-stream", bits, len);
}

/* ---- POST /NAME/objects/get: records straight from the store ---------------- */

/*
 * The records are sent one after the other, each lent by the store
 * (dits_odb_borrow, as a relay: checked whole and under its id, without a
 * copy where the backend maps its data, and hashed by the client that
 * receives it) only while it is being sent. The response owns the repository's
 * store until it is done: what it lends stays readable even if gc deletes a
 * pack meanwhile.
 */
typedef struct get_stream {
	dits_odb *odb;
	dits_id *ids;
	size_t n, cur;
	dits_odb_view view; /* of ids[cur] while it is being sent */
	bool lent;
	uint8_t hdr[DITS_PACK_RECORD_HEADER_LEN];
	uint64_t done;      /* bytes of ids[cur] (header and payload) already sent */
} get_stream;

static void get_stream_free(void *cls)
{
	get_stream *g = cls;
	if (g->lent)
		dits_odb_view_release(&g->view);
	dits_odb_free(g->odb);
	free(g->ids);
	free(g);
}

static ssize_t get_stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	(void)pos; /* libmicrohttpd reads a callback response in order */
	get_stream *g = cls;
	size_t out = 0;
	while (out < max && g->cur < g->n) {
		if (!g->lent) {
			if (dits_odb_borrow(g->odb, &g->ids[g->cur], DITS_ODB_RELAY, &g->view)) {
				fprintf(stderr, "dits serve: %s\n", dits_error_last());
				return out ? (ssize_t)out : MHD_CONTENT_READER_END_WITH_ERROR;
			}
			g->lent = true;
			g->done = 0;
			dits_wire_record_header(g->hdr, g->view.type, g->view.len, &g->ids[g->cur]);
		}
		uint64_t rec = DITS_PACK_RECORD_HEADER_LEN + (uint64_t)g->view.len;
		while (out < max && g->done < rec) {
			const uint8_t *src = g->done < DITS_PACK_RECORD_HEADER_LEN
			                             ? g->hdr + g->done
			                             : g->view.data + (g->done - DITS_PACK_RECORD_HEADER_LEN);
			uint64_t left = g->done < DITS_PACK_RECORD_HEADER_LEN ? DITS_PACK_RECORD_HEADER_LEN - g->done
			                                                      : rec - g->done;
			size_t take = left < max - out ? (size_t)left : max - out;
			memcpy(buf + out, src, take);
			out += take;
			g->done += take;
		}
		if (g->done == rec) {
			dits_odb_view_release(&g->view);
			g->lent = false;
			g->cur++;
		}
	}
	return out ? (ssize_t)out : MHD_CONTENT_READER_END_OF_STREAM;
}

/* Finds every id and sums the records' sizes; 404 naming the first missing id. */
static int get_prepare(dits_odb *odb, const dits_id *ids, size_t n, uint64_t *total)
{
	*total = 0;
	for (size_t i = 0; i < n; i++) {
		uint32_t len;
		if (dits_odb_read_header(odb, &ids[i], NULL, &len)) {
			char hex[DITS_ID_HEXLEN + 1];
			dits_id_hex(hex, &ids[i]);
			return dits_error_set(DITS_ENOTFOUND, "object %s is not in the store", hex);
		}
		*total += DITS_PACK_RECORD_HEADER_LEN + (uint64_t)len;
	}
	return 0;
}

enum MHD_Result api_get(request *q)
{
	/* Each id is served once, however often the list names it. */
	dits_id *ids;
	size_t n;
	int rc = server_parse_ids(q->body.data, q->body.len, true, &ids, &n);
	if (rc)
		return reply_rc(q, rc);
	dits_repo *r;
	if ((rc = server_open_repo(q->srv, q->name, &r))) {
		free(ids);
		return reply_rc(q, rc);
	}
	get_stream *g = calloc(1, sizeof *g);
	uint64_t total = 0;
	if (!g) {
		free(ids);
		dits_repo_free(r);
		return reply_rc(q, dits_error_set(DITS_ENOMEM, "out of memory"));
	}
	/* The response keeps the store (see get_stream). */
	g->odb = dits_repo_take_odb(r);
	dits_repo_free(r);
	g->ids = ids;
	g->n = n;
	rc = get_prepare(g->odb, ids, n, &total);
	if (rc) {
		get_stream_free(g);
		return reply_rc(q, rc);
	}
	struct MHD_Response *resp = MHD_create_response_from_callback(total, 256 * 1024, get_stream_read, g,
	                                                              get_stream_free);
	if (!resp) {
		get_stream_free(g);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/x-dits-records");
	return reply_response(q, MHD_HTTP_OK, resp, total);
}

/* ---- POST /NAME/walk ---------------------------------------------------------- */

static int walk_entry(void *ctx, uint8_t type, const dits_id *id, uint32_t len)
{
	(void)len;
	dits_buf *b = ctx;
	int rc = dits_buf_put_u8(b, type);
	return rc ? rc : dits_buf_put(b, id->b, DITS_ID_LEN);
}

/*
 * The status of a failed walk over the objects a request names. Every
 * object was hash-checked and parsed when it was uploaded, so a walk that
 * finds them malformed as a whole (trees nested past DITS_TREE_DEPTH_MAX)
 * is the request's fault: 422. An I/O failure stays a 5xx.
 */
static unsigned graph_status(int rc)
{
	return rc == DITS_ECORRUPT ? MHD_HTTP_UNPROCESSABLE_CONTENT : status_for(rc);
}

enum MHD_Result api_walk(request *q)
{
	server_walk_req w;
	int rc = server_parse_walk(q->body.data, q->body.len, &w);
	dits_repo *r = NULL;
	if (!rc)
		rc = server_open_repo(q->srv, q->name, &r);
	dits_buf b = DITS_BUF_INIT;
	if (!rc)
		rc = dits_walk(dits_repo_odb(r), w.want, w.nwant, w.have, w.nhave, 0, walk_entry, &b);
	/* Packs another server of a fleet (or another connection) finished since the
	 * listing: the walk's lookups do not refresh it themselves. */
	if (rc == DITS_ENOTFOUND && dits_odb_refresh(dits_repo_odb(r)) > 0) {
		dits_error_clear();
		dits_buf_reset(&b);
		rc = dits_walk(dits_repo_odb(r), w.want, w.nwant, w.have, w.nhave, 0, walk_entry, &b);
	}
	dits_repo_free(r);
	server_walk_req_free(&w);
	if (rc) {
		dits_buf_free(&b);
		return reply_error(q, graph_status(rc), dits_error_last());
	}
	return reply_buf(q, MHD_HTTP_OK, "application/octet-stream", &b);
}

/* ---- POST /NAME/refs ------------------------------------------------------------ */

typedef server_ref_update ref_update;

typedef struct id_vec {
	dits_id *v;
	size_t n, cap;
} id_vec;

static int id_vec_push(id_vec *a, const dits_id *id)
{
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 16;
		dits_id *v = realloc(a->v, cap * sizeof *v);
		if (!v)
			return dits_error_set(DITS_ENOMEM, "out of memory");
		a->v = v;
		a->cap = cap;
	}
	a->v[a->n++] = *id;
	return 0;
}

static int collect_tip(void *ctx, const char *ref, const dits_id *id)
{
	(void)ref;
	return id_vec_push(ctx, id);
}

typedef struct chunk_check {
	dits_odb *odb;
	dits_id missing;
	bool found_missing;
} chunk_check;

static int check_chunk(void *ctx, uint8_t type, const dits_id *id, uint32_t len)
{
	(void)len;
	chunk_check *c = ctx;
	if (type == DITS_OBJ_CHUNK && !dits_odb_exists(c->odb, id)) {
		c->missing = *id;
		c->found_missing = true;
		return 1;
	}
	return 0;
}

/* Everything want (a commit or manifest) needs is in the store, excluding what have reaches. */
static int check_closure(dits_odb *odb, const dits_id *want, const dits_id *have, size_t nhave)
{
	chunk_check c = { odb, { { 0 } }, false };
	int rc = dits_walk(odb, want, 1, have, nhave, DITS_WALK_CHUNKS, check_chunk, &c);
	if (c.found_missing) {
		char hex[DITS_ID_HEXLEN + 1];
		dits_id_hex(hex, &c.missing);
		return dits_error_set(DITS_ENOTFOUND, "chunk %s is missing", hex);
	}
	return rc;
}

/*
 * Checks one update under the repository lock without moving anything:
 * new is a commit whose objects are all here, the ref is where old says
 * (compare-and-swap) and, unless forced, new fast-forwards old. Returns an
 * HTTP status (0: it may be applied) with msg naming the ref.
 */
static unsigned check_update(dits_repo *r, const ref_update *u, const id_vec *tips, char *msg, size_t msgcap)
{
	char nhex[DITS_ID_HEXLEN + 1], ohex[DITS_ID_HEXLEN + 1];
	dits_id_hex(nhex, &u->new_);
	dits_id_hex(ohex, &u->old);
	uint8_t type;
	int rc;
	if (dits_odb_read_header(dits_repo_odb(r), &u->new_, &type, NULL) || type != DITS_OBJ_COMMIT) {
		snprintf(msg, msgcap, "%s: %s is not a commit in the store", u->ref, nhex);
		return MHD_HTTP_BAD_REQUEST;
	}
	if ((rc = check_closure(dits_repo_odb(r), &u->new_, tips->v, tips->n))) {
		snprintf(msg, msgcap, "%s: %s", u->ref, dits_error_last());
		return rc == DITS_ENOTFOUND ? MHD_HTTP_BAD_REQUEST : graph_status(rc);
	}
	dits_id cur;
	rc = dits_ref_read(r, u->ref, &cur);
	if (rc && rc != DITS_ENOTFOUND) {
		snprintf(msg, msgcap, "%s: %s", u->ref, dits_error_last());
		return MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
	bool absent = rc == DITS_ENOTFOUND;
	dits_error_clear();
	if (absent != dits_id_is_zero(&u->old) || (!absent && !dits_id_eq(&cur, &u->old))) {
		char chex[DITS_ID_HEXLEN + 1] = "nothing";
		if (!absent)
			dits_id_hex(chex, &cur);
		snprintf(msg, msgcap, "ref %s is at %s, not %s", u->ref, chex, dits_id_is_zero(&u->old) ? "absent" : ohex);
		return MHD_HTTP_CONFLICT;
	}
	bool ff = true;
	if (!u->force && !absent) {
		if ((rc = dits_is_ancestor(dits_repo_odb(r), &u->old, &u->new_, &ff))) {
			snprintf(msg, msgcap, "%s: %s", u->ref, dits_error_last());
			return rc == DITS_ENOTFOUND ? MHD_HTTP_INTERNAL_SERVER_ERROR : status_for(rc);
		}
		if (!ff) {
			snprintf(msg, msgcap, "non-fast-forward: %s %s is not an ancestor of %s", u->ref, ohex, nhex);
			return MHD_HTTP_CONFLICT;
		}
	}
	return 0;
}

/*
 * All or nothing: every update is checked under the repository lock before
 * any ref moves, then all move by dits_ref_update_all (one transaction with
 * refs in PostgreSQL; with files, the ones moved go back should one fail).
 * Returns an HTTP status (0: all applied).
 */
static unsigned apply_updates(dits_repo *r, const server_refs_req *req, char *msg, size_t msgcap)
{
	int rc = dits_repo_lock(r);
	if (rc) {
		snprintf(msg, msgcap, "%s", dits_error_last());
		return status_for(rc);
	}
	dits_odb_refresh(dits_repo_odb(r)); /* packs other connections finished */
	id_vec tips = { 0 };
	unsigned st = 0;
	if ((rc = dits_refs_foreach(r, "refs/", collect_tip, &tips))) {
		snprintf(msg, msgcap, "%s", dits_error_last());
		st = MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
	for (size_t i = 0; !st && i < req->n; i++)
		st = check_update(r, &req->v[i], &tips, msg, msgcap);
	dits_ref_change *ch = st ? NULL : calloc(req->n, sizeof *ch);
	if (!st && !ch) {
		snprintf(msg, msgcap, "out of memory");
		st = MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
	for (size_t i = 0; ch && i < req->n; i++)
		ch[i] = (dits_ref_change){ req->v[i].ref, req->v[i].new_, req->v[i].old };
	if (ch && (rc = dits_ref_update_all(r, ch, req->n, "push"))) {
		snprintf(msg, msgcap, "%s (no ref of this request was moved)", dits_error_last());
		st = rc == DITS_ECONFLICT ? MHD_HTTP_CONFLICT : status_for(rc);
		if (st < 500 && st != MHD_HTTP_CONFLICT)
			st = MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
	free(ch);
	dits_repo_unlock(r);
	free(tips.v);
	return st;
}

static int collect_commit(void *ctx, uint8_t type, const dits_id *id, uint32_t len)
{
	(void)len;
	return type == DITS_OBJ_COMMIT ? id_vec_push(ctx, id) : 0;
}

/* TRANSCODE jobs for the video files the commits between old and new add or change. */
static size_t enqueue_new_commits(dits_repo *r, const ref_update *u)
{
	if (!dits_repo_proxy_auto(r))
		return 0;
	id_vec commits = { 0 };
	dits_proxy_recipe rec;
	size_t total = 0;
	bool has_old = !dits_id_is_zero(&u->old);
	int rc = dits_hologram_recipe_from_config(r, &rec);
	if (!rc)
		rc = dits_walk(dits_repo_odb(r), &u->new_, 1, has_old ? &u->old : NULL, has_old ? 1 : 0, 0, collect_commit,
		               &commits);
	for (size_t i = 0; !rc && i < commits.n; i++) {
		size_t n = 0;
		rc = dits_hologram_enqueue_commit(r, &commits.v[i], &rec, &n);
		total += n;
	}
	if (rc) /* the ref landed; the jobs can be asked for again with an S3 event or proxy generate */
		fprintf(stderr, "dits: warning: %s: proxies not queued: %s\n", u->ref, dits_error_last());
	free(commits.v);
	return total;
}

enum MHD_Result api_refs_post(request *q)
{
	server_refs_req req;
	int rc = server_parse_refs(q->body.data, q->body.len, &req);
	if (rc)
		return reply_rc(q, rc);
	dits_repo *r;
	if ((rc = server_open_repo(q->srv, q->name, &r))) {
		server_refs_req_free(&req);
		return reply_rc(q, rc);
	}
	char msg[1024] = "";
	unsigned st = apply_updates(r, &req, msg, sizeof msg);
	dits_buf b = DITS_BUF_INIT;
	size_t jobs_total = 0;
	dits_buf_puts(&b, "{\"updated\": [");
	for (size_t i = 0; !st && i < req.n; i++) {
		const ref_update *up = &req.v[i];
		size_t jobs = !strncmp(up->ref, "refs/heads/", 11) ? enqueue_new_commits(r, up) : 0;
		jobs_total += jobs;
		dits_buf_printf(&b, "%s{\"ref\": ", i ? ", " : "");
		dits_buf_put_json_str(&b, up->ref);
		dits_buf_puts(&b, ", \"old\": ");
		put_id(&b, &up->old);
		dits_buf_puts(&b, ", \"new\": ");
		put_id(&b, &up->new_);
		dits_buf_printf(&b, ", \"jobs\": %zu}", jobs);
	}
	server_refs_req_free(&req);
	dits_repo_free(r);
	if (!st)
		atomic_fetch_add(&q->srv->m.pushes, 1);
	if (jobs_total)
		workers_wake(q->srv, q->name);
	if (st) {
		dits_buf_free(&b);
		return reply_error(q, st, msg);
	}
	if (dits_buf_puts(&b, "]}\n")) {
		dits_buf_free(&b);
		return MHD_NO;
	}
	return reply_json(q, MHD_HTTP_OK, &b);
}

/* ---- GET/POST /NAME/variants ------------------------------------------------------ */

enum MHD_Result api_variants_get(request *q)
{
	const char *parent_hex = MHD_lookup_connection_value(q->conn, MHD_GET_ARGUMENT_KIND, "parent");
	dits_id parent;
	if (parent_hex && dits_id_from_hex(&parent, parent_hex))
		return reply_error(q, MHD_HTTP_BAD_REQUEST, "parent must be a 64-digit hex id");
	dits_repo *r;
	int rc = server_open_repo(q->srv, q->name, &r);
	if (rc)
		return reply_rc(q, rc);
	dits_metadb *db = NULL;
	dits_variant *v = NULL;
	dits_job *jobs = NULL, *running = NULL;
	size_t n = 0, nj = 0, nr = 0;
	rc = dits_metadb_open_repo(&db, r);
	if (!rc)
		rc = dits_variant_list(db, parent_hex ? &parent : NULL, &v, &n);
	if (!rc)
		rc = dits_job_list(db, parent_hex ? &parent : NULL, "queued", &jobs, &nj);
	if (!rc)
		rc = dits_job_list(db, parent_hex ? &parent : NULL, "running", &running, &nr);
	if (!rc && nr) {
		dits_job *all = realloc(jobs, (nj + nr) * sizeof *all);
		if (!all) {
			rc = dits_error_set(DITS_ENOMEM, "out of memory");
		} else {
			jobs = all;
			memcpy(jobs + nj, running, nr * sizeof *running);
			nj += nr;
			free(running); /* the entries moved into jobs */
			running = NULL;
			nr = 0;
		}
	}
	dits_job_list_free(running, nr);
	dits_metadb_close(db);
	dits_repo_free(r);
	dits_buf b = DITS_BUF_INIT;
	dits_buf_puts(&b, "{\"variants\": [");
	for (size_t i = 0; !rc && i < n; i++) {
		if (i)
			dits_buf_puts(&b, ", ");
		rc = dits_wire_variant_json(&b, &v[i]);
	}
	/* A job a worker has not started yet has no variant record: it is
	 * listed as a variant in the job's state (id "job-N", no manifest), so a client
	 * can tell "not ready yet" from "none". */
	size_t listed = n;
	for (size_t i = 0; !rc && i < nj; i++) {
		bool known = false;
		for (size_t k = 0; k < n && !known; k++)
			known = dits_id_eq(&v[k].parent, &jobs[i].asset) && !strcmp(v[k].type, jobs[i].target) &&
			        strcmp(v[k].status, "failed");
		if (known || strcmp(jobs[i].kind, "TRANSCODE") || !dits_variant_type_valid(jobs[i].target))
			continue; /* render jobs make commits, not variants */
		dits_variant jv;
		memset(&jv, 0, sizeof jv);
		snprintf(jv.id, sizeof jv.id, "job-%lld", (long long)jobs[i].id);
		jv.parent = jobs[i].asset;
		snprintf(jv.type, sizeof jv.type, "%s", jobs[i].target);
		snprintf(jv.status, sizeof jv.status, "%s", jobs[i].state);
		jv.recipe = jobs[i].recipe;
		jv.recipe_hash = jobs[i].recipe_hash;
		jv.created_at = jobs[i].created_at;
		jv.updated_at = jobs[i].updated_at;
		if (listed++)
			dits_buf_puts(&b, ", ");
		rc = dits_wire_variant_json(&b, &jv);
	}
	dits_job_list_free(jobs, nj);
	dits_variant_list_free(v, n);
	if (!rc && dits_buf_puts(&b, "]}\n"))
		rc = dits_error_set(DITS_ENOMEM, "out of memory");
	if (rc) {
		dits_buf_free(&b);
		return reply_rc(q, rc);
	}
	return reply_json(q, MHD_HTTP_OK, &b);
}

/* The variant's manifest and all its chunks must be here before it is registered. */
static int variant_complete(dits_odb *odb, const cJSON *v)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(v, "manifest");
	const cJSON *status = cJSON_GetObjectItemCaseSensitive(v, "status");
	if (!cJSON_IsString(status) || strcmp(status->valuestring, "ready"))
		return 0; /* not registered anyway */
	dits_id id;
	if (!cJSON_IsString(m) || dits_id_from_hex(&id, m->valuestring))
		return dits_error_set(DITS_EINVALID, "variant: \"manifest\" is not a 64-digit hex id");
	uint8_t type;
	if (dits_odb_read_header(odb, &id, &type, NULL) || type != DITS_OBJ_MANIFEST)
		return dits_error_set(DITS_ENOTFOUND, "variant: manifest %s is not in the store", m->valuestring);
	return check_closure(odb, &id, NULL, 0);
}

enum MHD_Result api_variants_post(request *q)
{
	server_variants_req req;
	int rc = server_parse_variants(q->body.data, q->body.len, &req);
	if (rc)
		return reply_rc(q, rc);
	dits_repo *r;
	dits_metadb *db = NULL;
	if ((rc = server_open_repo(q->srv, q->name, &r))) {
		server_variants_req_free(&req);
		return reply_rc(q, rc);
	}
	rc = dits_metadb_open_repo(&db, r);
	size_t registered = 0;
	for (size_t i = 0; !rc && i < req.n; i++) {
		bool imported = false;
		if ((rc = variant_complete(dits_repo_odb(r), req.items[i])) ||
		    (rc = dits_wire_variant_import(dits_repo_odb(r), db, req.items[i], &imported)))
			break;
		registered += imported;
	}
	dits_metadb_close(db);
	dits_repo_free(r);
	server_variants_req_free(&req);
	if (rc)
		return reply_error(q, rc == DITS_ENOTFOUND ? MHD_HTTP_BAD_REQUEST : graph_status(rc), dits_error_last());
	char *body = dits_strfmt("{\"registered\": %zu}\n", registered);
	return body ? reply_data(q, MHD_HTTP_OK, "application/json", body, strlen(body)) : MHD_NO;
}

/* ---- POST /_events/s3 ----------------------------------------------------------------- */

/*
 * Enqueues the jobs one key asks for: 1 when a job was queued, 0 when the
 * key names nothing Dits knows, or an error.
 */
static int s3_key(request *q, char *key, int *status)
{
	char *slash = strchr(key, '/');
	if (!slash || !slash[1])
		return 0;
	*slash = '\0';
	const char *name = key, *path = slash + 1;
	dits_repo *r;
	if (!dits_wire_repo_name_valid(name) || server_open_repo(q->srv, name, &r)) {
		dits_error_clear();
		return 0;
	}
	if (q->srv->auth_on) {
		bool known;
		if (auth_perm(&q->srv->auth, q->token, name, &known) < PERM_WRITE) {
			dits_repo_free(r);
			*status = MHD_HTTP_FORBIDDEN;
			return dits_error_set(DITS_EINVALID, "this token may not write to %s", name);
		}
	}
	dits_proxy_recipe rec;
	dits_id asset;
	bool found = false;
	int rc = dits_hologram_recipe_from_config(r, &rec);
	if (!rc && !strncmp(path, "assets/", 7) && dits_id_from_hex(&asset, path + 7) == 0) {
		uint8_t type;
		found = dits_odb_read_header(dits_repo_odb(r), &asset, &type, NULL) == 0 && type == DITS_OBJ_MANIFEST;
	} else if (!rc && dits_hologram_is_video_path(path)) {
		dits_flat flat = { 0 };
		bool has_head = false;
		dits_id head;
		if (dits_flat_from_head(r, &flat, &has_head, &head) == 0 && has_head) {
			const dits_flat_entry *e = dits_flat_find(&flat, path);
			if (e) {
				asset = e->id;
				found = true;
			}
		}
		dits_flat_free(&flat);
		dits_error_clear();
	}
	if (!rc && found)
		rc = dits_hologram_enqueue_asset(r, &asset, path, &rec);
	dits_repo_free(r);
	if (rc)
		return rc;
	if (found)
		workers_wake(q->srv, name);
	return found ? 1 : 0;
}

/* Ingests one record's object into the repository t names: its JSON result appended to b. */
static int s3_ingest(request *q, const ingest_target *t, const server_s3_record *rec, dits_buf *b, int *status)
{
	if (q->srv->auth_on) {
		bool known;
		if (auth_perm(&q->srv->auth, q->token, t->name, &known) < PERM_WRITE) {
			*status = MHD_HTTP_FORBIDDEN;
			return dits_error_set(DITS_EINVALID, "this token may not write to %s", t->name);
		}
	}
	dits_repo *r;
	int rc = server_open_repo(q->srv, t->name, &r);
	if (rc)
		return rc;
	ingest_result res;
	rc = ingest_object(r, t, rec, &res);
	dits_repo_free(r);
	if (rc)
		return rc;
	if (res.jobs)
		workers_wake(q->srv, t->name);
	dits_buf_puts(b, b->len ? ", {\"repository\": " : "{\"repository\": ");
	dits_buf_put_json_str(b, t->name);
	dits_buf_puts(b, ", \"path\": ");
	dits_buf_put_json_str(b, t->path);
	dits_buf_puts(b, ", \"branch\": ");
	dits_buf_put_json_str(b, t->branch + 11);
	dits_buf_printf(b, ", \"state\": \"%s\", \"commit\": ", res.state);
	put_id(b, &res.commit);
	dits_buf_printf(b, ", \"size\": %llu, \"jobs\": %zu}", (unsigned long long)res.size, res.jobs);
	return 0;
}

enum MHD_Result api_s3(request *q)
{
	server_s3_req req;
	int rc = server_parse_s3(q->body.data, q->body.len, &req);
	if (rc)
		return reply_error(q, rc == DITS_EINVALID ? MHD_HTTP_BAD_REQUEST : status_for(rc), dits_error_last());
	size_t enqueued = 0, ignored = 0;
	int status = 0;
	dits_buf ing = DITS_BUF_INIT;
	for (size_t i = 0; i < req.n; i++) {
		server_s3_record *rec = &req.recs[i];
		if (!rec->created) {
			ignored++;
			continue;
		}
		ingest_target t;
		if ((rc = ingest_route(q->srv, rec->bucket, rec->key, &t)) < 0) {
			status = MHD_HTTP_BAD_REQUEST;
			break;
		}
		if (rc == 1) {
			rc = s3_ingest(q, &t, rec, &ing, &status);
			ingest_target_free(&t);
			if (rc)
				break;
			continue;
		}
		if ((rc = s3_key(q, rec->key, &status)) < 0)
			break;
		enqueued += (size_t)rc;
		ignored += rc == 0;
		rc = 0;
	}
	server_s3_req_free(&req);
	if (rc) {
		dits_buf_free(&ing);
		return reply_error(q, status ? (unsigned)status : status_for(rc), dits_error_last());
	}
	dits_buf b = DITS_BUF_INIT;
	dits_buf_printf(&b, "{\"enqueued\": %zu, \"ignored\": %zu, \"ingested\": [", enqueued, ignored);
	if (ing.len)
		dits_buf_put(&b, ing.data, ing.len);
	dits_buf_free(&ing);
	if (dits_buf_puts(&b, "]}\n")) {
		dits_buf_free(&b);
		return MHD_NO;
	}
	return reply_json(q, MHD_HTTP_OK, &b);
}

/* ---- GET /metrics ------------------------------------------------------------------------ */

/* Jobs by state over every repository that has a metadata database (none is created here). */
static void sum_jobs(dits_server *s, size_t *repos, struct dits_job_counts *sum)
{
	char **names;
	size_t n;
	memset(sum, 0, sizeof *sum);
	*repos = 0;
	if (server_list_repos(s, &names, &n)) {
		dits_error_clear();
		return;
	}
	*repos = n;
	for (size_t i = 0; i < n; i++) {
		char *dir = dits_strfmt("%s/%s/.dits", s->root, names[i]);
		dits_metadb *db = NULL;
		struct dits_job_counts c;
		if (dir && dits_metadb_open_dir(&db, dir, true) == 0 && db) {
			if (dits_job_counts(db, &c) == 0) {
				sum->queued += c.queued;
				sum->running += c.running;
				sum->done += c.done;
				sum->failed += c.failed;
				sum->dead += c.dead;
			}
			dits_metadb_close(db);
		}
		dits_error_clear();
		free(dir);
	}
	server_free_names(names, n);
}

enum MHD_Result api_metrics(request *q)
{
	dits_server *s = q->srv;
	size_t repos;
	struct dits_job_counts jc;
	sum_jobs(s, &repos, &jc);
	dits_buf b = DITS_BUF_INIT;
	dits_buf_puts(&b, "# TYPE dits_http_requests_total counter\n");
	for (unsigned code = 100; code < 600; code++) {
		uint64_t v = atomic_load(&s->m.by_code[code]);
		if (v)
			dits_buf_printf(&b, "dits_http_requests_total{code=\"%u\"} %llu\n", code, (unsigned long long)v);
	}
	dits_buf_printf(&b,
	                "# TYPE dits_http_bytes_received_total counter\n"
	                "dits_http_bytes_received_total %llu\n"
	                "# TYPE dits_http_bytes_sent_total counter\n"
	                "dits_http_bytes_sent_total %llu\n"
	                "# TYPE dits_repositories gauge\n"
	                "dits_repositories %zu\n"
	                "# TYPE dits_jobs gauge\n"
	                "dits_jobs{state=\"queued\"} %lld\n"
	                "dits_jobs{state=\"running\"} %lld\n"
	                "dits_jobs{state=\"done\"} %lld\n"
	                "dits_jobs{state=\"dead\"} %lld\n"
	                "# TYPE dits_queue_depth gauge\n"
	                "dits_queue_depth %lld\n"
	                "# TYPE dits_objects_received_total counter\n"
	                "dits_objects_received_total %llu\n"
	                "# TYPE dits_pushes_total counter\n"
	                "dits_pushes_total %llu\n",
	                (unsigned long long)atomic_load(&s->m.bytes_received),
	                (unsigned long long)atomic_load(&s->m.bytes_sent), repos, (long long)jc.queued,
	                (long long)jc.running, (long long)jc.done, (long long)(jc.dead + jc.failed),
	                (long long)(jc.queued + jc.running), (unsigned long long)atomic_load(&s->m.objects_received),
	                (unsigned long long)atomic_load(&s->m.pushes));
	return reply_buf(q, MHD_HTTP_OK, "text/plain; version=0.0.4", &b);
}

/* ---- POST /NAME/render, GET /NAME/render[/ID] -------------------------------------------- */

/* renders/<timeline_name without its extension>.mov (the name has no '/': server_parse_render) */
static char *render_out(const char *timeline_name)
{
	char stem[256];
	snprintf(stem, sizeof stem, "%s", timeline_name);
	char *dot = strrchr(stem, '.');
	if (dot && dot != stem)
		*dot = 0;
	if (!stem[0] || !strcmp(stem, ".") || !strcmp(stem, ".."))
		snprintf(stem, sizeof stem, "render");
	return dits_strfmt("renders/%s.mov", stem);
}

static void json_member(cJSON *o, const char *key, const char *v)
{
	if (v)
		cJSON_AddStringToObject(o, key, v);
}

enum MHD_Result api_render_post(request *q)
{
	server_render_req req;
	int rc = server_parse_render(q->body.data, q->body.len, &req);
	if (rc)
		return reply_rc(q, rc);
	dits_repo *r = NULL;
	dits_metadb *db = NULL;
	char *branch = NULL, *out = NULL, *recipe = NULL;
	cJSON *j = NULL;
	unsigned st = 0;
	char msg[512] = "";
	dits_id head, commit;
	if ((rc = server_open_repo(q->srv, q->name, &r)))
		goto fail;
	if (req.branch)
		branch = strdup(req.branch);
	else if ((rc = dits_head_target(r, &branch)))
		goto fail;
	if (!branch) {
		rc = dits_error_set(DITS_ENOMEM, "out of memory");
		goto fail;
	}
	/* what the job needs that is cheap to check now: the branch and the revision */
	if (dits_ref_read(r, branch, &head)) {
		st = MHD_HTTP_UNPROCESSABLE_CONTENT;
		snprintf(msg, sizeof msg, "%s: no such branch", branch);
		goto fail;
	}
	if (req.rev && dits_revparse(r, req.rev, &commit)) {
		st = MHD_HTTP_UNPROCESSABLE_CONTENT;
		snprintf(msg, sizeof msg, "%s", dits_error_last());
		goto fail;
	}
	if (!(out = render_out(req.timeline_name)) || !(j = cJSON_CreateObject())) {
		rc = dits_error_set(DITS_ENOMEM, "out of memory");
		goto fail;
	}
	json_member(j, "timeline_name", req.timeline_name);
	json_member(j, "timeline", req.timeline);
	json_member(j, "branch", branch);
	json_member(j, "rev", req.rev);
	json_member(j, "target", req.target);
	json_member(j, "codec", req.codec);
	json_member(j, "rate", req.rate);
	cJSON_AddBoolToObject(j, "verify", req.verify);
	json_member(j, "out", out);
	if (!(recipe = cJSON_PrintUnformatted(j))) {
		rc = dits_error_set(DITS_ENOMEM, "out of memory");
		goto fail;
	}
	/* the same request while its job is queued or running is that job */
	dits_id key;
	dits_hash_buf(&key, recipe, strlen(recipe));
	int64_t id = 0;
	if ((rc = dits_metadb_open_repo(&db, r)) ||
	    (rc = dits_job_enqueue(db, "RENDER", &key, out, "render", recipe, NULL, &id)))
		goto fail;
	dits_metadb_close(db);
	dits_repo_free(r);
	server_render_req_free(&req);
	cJSON_Delete(j);
	free(recipe);
	free(branch);
	free(out);
	workers_wake(q->srv, q->name);
	char *body = dits_strfmt("{\"job\": %lld}\n", (long long)id);
	return body ? reply_data(q, MHD_HTTP_ACCEPTED, "application/json", body, strlen(body)) : MHD_NO;
fail:
	if (!st)
		snprintf(msg, sizeof msg, "%s", dits_error_last());
	dits_metadb_close(db);
	dits_repo_free(r);
	server_render_req_free(&req);
	cJSON_Delete(j);
	free(recipe);
	free(branch);
	free(out);
	return st ? reply_error(q, st, msg) : reply_rc(q, rc);
}

/* One render job as GET /NAME/render/ID answers it, from its row: the state, what the worker reported. */
static void render_job_json(const dits_job *job, dits_buf *b)
{
	const char *state = job->state;
	if (!strcmp(state, "dead"))
		state = "failed"; /* a retry waiting for its backoff stays queued */
	double progress = !strcmp(state, "done") ? 1 : !strcmp(state, "running") ? job->progress : 0;
	const char *commit = NULL;
	cJSON *j = job->result ? cJSON_Parse(job->result) : NULL;
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "commit");
	if (!strcmp(state, "done") && cJSON_IsString(c))
		commit = c->valuestring;
	dits_buf_printf(b, "{\"job\": %lld, \"state\": \"%s\", \"progress\": %.3f, \"error\": ", (long long)job->id,
	                state, progress);
	if (!strcmp(state, "done") || !job->last_error)
		dits_buf_puts(b, "null");
	else
		dits_buf_put_json_str(b, job->last_error);
	dits_buf_puts(b, ", \"commit\": ");
	if (commit)
		dits_buf_put_json_str(b, commit);
	else
		dits_buf_puts(b, "null");
	dits_buf_puts(b, ", \"path\": ");
	if (job->path)
		dits_buf_put_json_str(b, job->path);
	else
		dits_buf_puts(b, "null");
	dits_buf_printf(b, ", \"created\": %lld, \"updated\": %lld}", (long long)job->created_at,
	                (long long)job->updated_at);
	cJSON_Delete(j);
}

#define RENDER_LIST_MAX 20

enum MHD_Result api_render_get(request *q)
{
	dits_repo *r;
	int rc = server_open_repo(q->srv, q->name, &r);
	if (rc)
		return reply_rc(q, rc);
	dits_metadb *db = NULL;
	dits_buf b = DITS_BUF_INIT;
	if ((rc = dits_metadb_open_repo(&db, r)))
		goto out;
	if (q->render_id) {
		dits_job job;
		if ((rc = dits_job_get(db, q->render_id, &job)))
			goto out;
		if (strcmp(job.kind, "RENDER")) {
			dits_job_free(&job);
			rc = dits_error_set(DITS_ENOTFOUND, "no render job %lld", (long long)q->render_id);
			goto out;
		}
		render_job_json(&job, &b);
		dits_buf_puts(&b, "\n");
		dits_job_free(&job);
	} else {
		dits_job *list = NULL;
		size_t n = 0;
		if ((rc = dits_job_list(db, NULL, NULL, &list, &n)))
			goto out;
		size_t shown = 0, first = n;
		/* the most recent RENDER_LIST_MAX, oldest first */
		while (first > 0 && shown < RENDER_LIST_MAX)
			if (!strcmp(list[--first].kind, "RENDER"))
				shown++;
		dits_buf_puts(&b, "{\"renders\": [");
		bool any = false;
		for (size_t i = first; i < n; i++) {
			if (strcmp(list[i].kind, "RENDER"))
				continue;
			dits_buf_puts(&b, any ? ", " : "");
			render_job_json(&list[i], &b);
			any = true;
		}
		dits_buf_puts(&b, "]}\n");
		dits_job_list_free(list, n);
	}
out:
	if (rc == DITS_ENOTFOUND && q->render_id)
		dits_error_set(DITS_ENOTFOUND, "no render job %lld", (long long)q->render_id);
	dits_metadb_close(db);
	dits_repo_free(r);
	if (rc) {
		dits_buf_free(&b);
		return reply_rc(q, rc);
	}
	return reply_json(q, MHD_HTTP_OK, &b);
}
