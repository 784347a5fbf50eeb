/*
 * transfer: moving objects between a repository and a remote - push, fetch,
 * the lazy master fetch and remote proxies (docs/PROTOCOL.md, "Client
 * behaviour"; docs/SYNC.md).
 *
 * Object requests run over several connections at once through one curl
 * multi handle, all in this thread: uploads are streamed record by record
 * from the packs (each chunk verified as it is read), downloads go through
 * the record stream parser, which hashes every record before the single
 * pack writer stores it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "client_internal.h"
#include "error.h"
#include "fsutil.h"
#include "idset.h"
#include "metadb.h"
#include "object.h"
#include "refs.h"
#include "walk.h"
#include "wire.h"

/* ---- object lists ---------------------------------------------------- */

typedef struct objent {
	dits_id id;
	uint8_t type;  /* 0: not known yet */
	uint32_t len;  /* payload bytes (0: not known) */
} objent;

typedef struct objlist {
	objent *v;
	size_t n, cap;
} objlist;

static int objlist_add(objlist *l, uint8_t type, const dits_id *id, uint32_t len)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 256;
		objent *nv = realloc(l->v, cap * sizeof *nv);
		if (!nv)
			return dits_error_set(DITS_ENOMEM, "out of memory");
		l->v = nv;
		l->cap = cap;
	}
	l->v[l->n++] = (objent){ *id, type, len };
	return 0;
}

static void objlist_free(objlist *l)
{
	free(l->v);
	memset(l, 0, sizeof *l);
}

static int collect_walk(void *ctx, uint8_t type, const dits_id *id, uint32_t len)
{
	return objlist_add(ctx, type, id, len);
}

/* ---- the parallel request engine ------------------------------------ */

typedef struct xengine {
	dits_repo *r;
	dits_remote *rm;
	int jobs;
	uint64_t rate;
	const dits_progress *p;
	dits_pack_writer *w;      /* downloads land here; created on the first record */
	uint64_t records, chunks; /* records received */
} xengine;

typedef struct xreq {
	xengine *x;
	CURL *e;
	struct curl_slist *hdrs;
	char errbuf[CURL_ERROR_SIZE];
	const char *path;
	bool upload;
	const objent *ents;   /* the records sent, or the ids asked for */
	size_t n;
	/* upload: the record being sent */
	size_t next;
	dits_buf rec;
	size_t rec_off;
	uint64_t body_len;
	/* download */
	uint8_t *ids;
	dits_wire_parser parser;
	size_t got;
	dits_buf resp;        /* an error answer (or a JSON one) */
	long status;
	int rc;
	int tries;            /* tries made before this one */
} xreq;

/* A request to send again after a transient failure, once due. */
typedef struct xretry {
	const objent *ents;
	size_t n;
	int tries;
	double due;           /* dits_now() */
} xretry;

static void advance(xengine *x, uint64_t n)
{
	if (x->p && x->p->advance)
		x->p->advance(x->p->ctx, n);
}

/* Loads the next record to send: header and payload, verified on read. */
static int load_record(xreq *q, const objent *o)
{
	uint8_t type;
	uint32_t len;
	char hex[DITS_ID_HEXLEN + 1];
	if (dits_odb_read_header(dits_repo_odb(q->x->r), &o->id, &type, &len) || len != o->len) {
		dits_id_hex(hex, &o->id);
		return dits_error_set(DITS_ENOTFOUND, "%s %s: missing from the local store while sending it",
		                      dits_otype_name(o->type), hex);
	}
	dits_buf_reset(&q->rec);
	int rc = dits_buf_grow(&q->rec, DITS_PACK_RECORD_HEADER_LEN + (size_t)len);
	if (rc)
		return rc;
	dits_wire_record_header(q->rec.data, type, len, &o->id);
	if ((rc = dits_odb_read_into(dits_repo_odb(q->x->r), &o->id, q->rec.data + DITS_PACK_RECORD_HEADER_LEN, len)))
		return rc;
	q->rec.len = DITS_PACK_RECORD_HEADER_LEN + (size_t)len;
	q->rec_off = 0;
	return 0;
}

static size_t up_read(char *buf, size_t size, size_t nitems, void *ctx)
{
	xreq *q = ctx;
	size_t cap = size * nitems, out = 0;
	while (out < cap) {
		if (q->rec_off == q->rec.len) {
			if (q->next == q->n)
				break;
			if ((q->rc = load_record(q, &q->ents[q->next++])))
				return CURL_READFUNC_ABORT;
		}
		size_t k = q->rec.len - q->rec_off;
		if (k > cap - out)
			k = cap - out;
		memcpy(buf + out, q->rec.data + q->rec_off, k);
		q->rec_off += k;
		out += k;
	}
	q->x->rm->st.bytes_sent += out;
	advance(q->x, out);
	return out;
}

static int on_record(void *ctx, uint8_t type, const dits_id *id, const uint8_t *payload, uint32_t len)
{
	xreq *q = ctx;
	xengine *x = q->x;
	char hex[DITS_ID_HEXLEN + 1];
	dits_id_hex(hex, id);
	if (q->got >= q->n || !dits_id_eq(id, &q->ents[q->got].id) ||
	    (q->ents[q->got].type && q->ents[q->got].type != type))
		return dits_error_set(DITS_EINVALID, "remote %s: sent %s %s, which was not asked for",
		                      x->rm->name, dits_otype_name(type), hex);
	q->got++;
	/* A tree that names .dits (or will not parse) is refused before it is stored. */
	int rc = dits_object_check(type, id, payload, len);
	if (rc)
		return rc;
	rc = x->w ? 0 : dits_pack_writer_new(&x->w, dits_repo_odb(x->r));
	if (!rc)
		rc = dits_pack_writer_put(x->w, type, id, payload, len, NULL);
	if (rc)
		return rc;
	x->records++;
	x->rm->st.objects_received++;
	if (type == DITS_OBJ_CHUNK)
		x->chunks++;
	/* What arrived stays, however the fetch ends. */
	if (dits_pack_writer_new_bytes(x->w) >= DITS_FETCH_PACK_BYTES) {
		rc = dits_pack_writer_finish(x->w);
		dits_pack_writer_free(x->w);
		x->w = NULL;
	}
	return rc;
}

static size_t down_write(char *data, size_t size, size_t nmemb, void *ctx)
{
	xreq *q = ctx;
	size_t n = size * nmemb;
	q->x->rm->st.bytes_received += n;
	if (!q->status)
		curl_easy_getinfo(q->e, CURLINFO_RESPONSE_CODE, &q->status);
	if (q->status != 200 || q->upload) {
		/* An error or a JSON answer: small; keep the first 64 KiB. */
		if (q->resp.len < 65536 && dits_buf_put(&q->resp, data, n)) {
			q->rc = DITS_ENOMEM;
			return 0;
		}
		return n;
	}
	int rc = dits_wire_parser_feed(&q->parser, data, n);
	if (rc) {
		q->rc = rc;
		return 0;
	}
	advance(q->x, n);
	return n;
}

static void xreq_free(xreq *q)
{
	if (!q)
		return;
	if (q->e)
		curl_easy_cleanup(q->e);
	curl_slist_free_all(q->hdrs);
	dits_buf_free(&q->rec);
	dits_buf_free(&q->resp);
	dits_wire_parser_free(&q->parser);
	free(q->ids);
	free(q);
}

static int xreq_start(xengine *x, CURLM *multi, const objent *ents, size_t n, bool upload, xreq **out)
{
	xreq *q = calloc(1, sizeof *q);
	if (!q || !(q->e = curl_easy_init())) {
		free(q);
		return dits_error_set(DITS_ENOMEM, "out of memory");
	}
	q->x = x;
	q->ents = ents;
	q->n = n;
	q->upload = upload;
	q->path = upload ? "objects" : "objects/get";
	dits_wire_parser_init(&q->parser, true, on_record, q);
	int rc = dits_client_setup(x->rm, q->e, q->path,
	                           upload ? "application/x-dits-records" : "application/x-dits-ids", &q->hdrs,
	                           q->errbuf);
	if (rc) {
		xreq_free(q);
		return rc;
	}
	curl_easy_setopt(q->e, CURLOPT_POST, 1L);
	curl_easy_setopt(q->e, CURLOPT_PRIVATE, q);
	curl_easy_setopt(q->e, CURLOPT_WRITEFUNCTION, down_write);
	curl_easy_setopt(q->e, CURLOPT_WRITEDATA, q);
	/* --limit-rate is over all connections together. */
	curl_off_t per = x->rate ? (curl_off_t)(x->rate / (uint64_t)x->jobs) : 0;
	if (per == 0 && x->rate)
		per = 1;
	if (upload) {
		for (size_t i = 0; i < n; i++)
			q->body_len += DITS_PACK_RECORD_HEADER_LEN + (uint64_t)ents[i].len;
		curl_easy_setopt(q->e, CURLOPT_READFUNCTION, up_read);
		curl_easy_setopt(q->e, CURLOPT_READDATA, q);
		curl_easy_setopt(q->e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->body_len);
		if (per)
			curl_easy_setopt(q->e, CURLOPT_MAX_SEND_SPEED_LARGE, per);
	} else {
		q->ids = malloc(n * DITS_ID_LEN);
		if (!q->ids) {
			xreq_free(q);
			return dits_error_set(DITS_ENOMEM, "out of memory");
		}
		for (size_t i = 0; i < n; i++)
			memcpy(q->ids + i * DITS_ID_LEN, ents[i].id.b, DITS_ID_LEN);
		curl_easy_setopt(q->e, CURLOPT_POSTFIELDS, q->ids);
		curl_easy_setopt(q->e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(n * DITS_ID_LEN));
		x->rm->st.bytes_sent += n * DITS_ID_LEN;
		if (per)
			curl_easy_setopt(q->e, CURLOPT_MAX_RECV_SPEED_LARGE, per);
	}
	if (curl_multi_add_handle(multi, q->e) != CURLM_OK) {
		xreq_free(q);
		return dits_error_set(DITS_ERROR, "cannot start a transfer");
	}
	x->rm->st.requests++;
	*out = q;
	return 0;
}

/* Checks a finished request; the first error is returned. */
static int xreq_done(xreq *q, CURLcode cc)
{
	xengine *x = q->x;
	if (q->rc)
		return dits_error_wrap(q->rc, "remote %s: %s", x->rm->name, q->path);
	if (cc != CURLE_OK)
		return dits_error_set(DITS_EIO, "%s: %s", x->rm->url, *q->errbuf ? q->errbuf : curl_easy_strerror(cc));
	curl_easy_getinfo(q->e, CURLINFO_RESPONSE_CODE, &q->status);
	if (q->status != 200)
		return dits_client_http_error(x->rm, q->path, q->status, &q->resp);
	if (q->upload) {
		x->rm->st.objects_sent += q->n;
		return 0;
	}
	int rc = dits_wire_parser_finish(&q->parser);
	if (rc)
		return dits_error_wrap(rc, "remote %s: objects/get", x->rm->name);
	if (q->got != q->n)
		return dits_error_set(DITS_EINVALID, "remote %s: objects/get: %zu of %zu records came back", x->rm->name,
		                      q->got, q->n);
	return 0;
}

/*
 * Sends (upload) or fetches the records of ents, cut into requests of about
 * max_bytes (and at most DITS_WIRE_MAX_IDS records), over x->jobs
 * connections. Every record's length must be known for an upload.
 */
static int xengine_run(xengine *x, const objent *ents, size_t n, bool upload, uint64_t max_bytes)
{
	if (n == 0)
		return 0;
	CURLM *multi = curl_multi_init();
	xreq **active = calloc((size_t)x->jobs, sizeof *active);
	if (!multi || !active) {
		if (multi)
			curl_multi_cleanup(multi);
		free(active);
		return dits_error_set(DITS_ENOMEM, "out of memory");
	}
	int rc = 0, nactive = 0;
	size_t next = 0;
	/* A request waiting to be retried holds its connection's place: at
	 * most x->jobs are active or waiting. */
	xretry *retry = calloc((size_t)x->jobs, sizeof *retry);
	size_t nretry = 0;
	if (!retry)
		rc = dits_error_set(DITS_ENOMEM, "out of memory");
	while (!rc && (next < n || nactive || nretry)) {
		double now = dits_now(), wait = 0.5;
		while (!rc && nactive < x->jobs && (next < n || nretry)) {
			const objent *start;
			size_t k = 0;
			int tries = 0;
			size_t due = nretry;
			for (size_t i = 0; i < nretry; i++)
				if (retry[i].due <= now) {
					due = i;
					break;
				}
			if (due < nretry) {
				start = retry[due].ents;
				k = retry[due].n;
				tries = retry[due].tries;
				retry[due] = retry[--nretry];
			} else if (next < n && nactive + (int)nretry < x->jobs) {
				uint64_t bytes = 0;
				while (next + k < n && k < DITS_WIRE_MAX_IDS && (k == 0 || bytes < max_bytes)) {
					bytes += DITS_PACK_RECORD_HEADER_LEN + (uint64_t)ents[next + k].len;
					k++;
				}
				/* An upload ends before it would pass the server's limit. */
				while (upload && k > 1 && bytes > DITS_WIRE_MAX_UPLOAD) {
					k--;
					bytes -= DITS_PACK_RECORD_HEADER_LEN + (uint64_t)ents[next + k].len;
				}
				start = ents + next;
				next += k;
			} else {
				break; /* only retries that are not due yet */
			}
			xreq *q = NULL;
			if ((rc = xreq_start(x, multi, start, k, upload, &q)))
				break;
			q->tries = tries;
			for (int s = 0; s < x->jobs; s++)
				if (!active[s]) {
					active[s] = q;
					break;
				}
			nactive++;
		}
		if (rc)
			break;
		int still;
		if (curl_multi_perform(multi, &still) != CURLM_OK) {
			rc = dits_error_set(DITS_EIO, "remote %s: the transfer failed", x->rm->name);
			break;
		}
		CURLMsg *m;
		int left;
		while (!rc && (m = curl_multi_info_read(multi, &left))) {
			if (m->msg != CURLMSG_DONE)
				continue;
			xreq *q = NULL;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&q);
			CURLcode cc = m->data.result;
			long st = 0;
			if (cc == CURLE_OK)
				curl_easy_getinfo(q->e, CURLINFO_RESPONSE_CODE, &st);
			/* Object transfers may be repeated: an upload is content
			 * addressed, and a download asks again for what did not come. */
			if (!q->rc && q->tries + 1 < DITS_CLIENT_TRIES && dits_client_transient(cc, st, true) &&
			    q->got < q->n) {
				retry[nretry++] = (xretry){ upload ? q->ents : q->ents + q->got,
				                            upload ? q->n : q->n - q->got, q->tries + 1,
				                            dits_now() + dits_client_backoff_ms(q->tries + 1) / 1e3 };
			} else {
				rc = xreq_done(q, cc);
			}
			curl_multi_remove_handle(multi, q->e);
			for (int s = 0; s < x->jobs; s++)
				if (active[s] == q)
					active[s] = NULL;
			xreq_free(q);
			nactive--;
		}
		now = dits_now();
		for (size_t i = 0; i < nretry; i++)
			if (retry[i].due - now < wait)
				wait = retry[i].due - now > 0 ? retry[i].due - now : 0;
		if (!rc && nactive)
			curl_multi_poll(multi, NULL, 0, (int)(wait * 1e3), NULL);
		else if (!rc && nretry && wait > 0)
			dits_sleep_ms((unsigned)(wait * 1e3));
	}
	free(retry);
	/* After an error the other requests are abandoned; what they stored stays. */
	for (int s = 0; s < x->jobs; s++) {
		if (!active[s])
			continue;
		curl_multi_remove_handle(multi, active[s]->e);
		xreq_free(active[s]);
	}
	free(active);
	curl_multi_cleanup(multi);
	return rc;
}

static void xengine_init(xengine *x, dits_repo *r, dits_remote *rm, const dits_xfer_opts *o)
{
	memset(x, 0, sizeof *x);
	x->r = r;
	x->rm = rm;
	x->jobs = dits_client_jobs(r, o);
	x->rate = o ? o->rate : 0;
	x->p = o ? o->progress : NULL;
}

/* Makes what arrived durable and visible; the repository lock is held. */
static int xengine_flush(xengine *x)
{
	if (!x->w)
		return 0;
	int rc = dits_pack_writer_finish(x->w);
	dits_pack_writer_free(x->w);
	x->w = NULL;
	return rc;
}

static void xengine_free(xengine *x)
{
	/* An unfinished pack is removed: only an error gets here with one. */
	dits_pack_writer_free(x->w);
	x->w = NULL;
}

/* ---- JSON helpers ---------------------------------------------------- */

static int put_hex(dits_buf *b, const dits_id *id)
{
	char hex[DITS_ID_HEXLEN + 1];
	dits_id_hex(hex, id);
	return dits_buf_printf(b, "\"%s\"", hex);
}

static int put_id_array(dits_buf *b, const dits_id *ids, size_t n)
{
	int rc = dits_buf_puts(b, "[");
	for (size_t i = 0; i < n && !rc; i++) {
		if (i)
			rc = dits_buf_puts(b, ",");
		if (!rc)
			rc = put_hex(b, &ids[i]);
	}
	return rc ? rc : dits_buf_puts(b, "]");
}

/* POST walk: what want brings that have does not; appended to out. */
static int remote_walk(dits_remote *rm, const dits_id *want, size_t nwant, const dits_id *have, size_t nhave,
                       objlist *out)
{
	if (nwant == 0)
		return 0;
	if (nhave > DITS_WIRE_MAX_WALK)
		nhave = DITS_WIRE_MAX_WALK; /* fewer haves only cost bytes, never correctness */
	dits_buf body = DITS_BUF_INIT, resp = DITS_BUF_INIT;
	int rc = 0;
	for (size_t off = 0; off < nwant && !rc; off += DITS_WIRE_MAX_WALK) {
		size_t k = nwant - off < DITS_WIRE_MAX_WALK ? nwant - off : DITS_WIRE_MAX_WALK;
		dits_buf_reset(&body);
		rc = dits_buf_puts(&body, "{\"want\":");
		if (!rc)
			rc = put_id_array(&body, want + off, k);
		if (!rc)
			rc = dits_buf_puts(&body, ",\"have\":");
		if (!rc)
			rc = put_id_array(&body, have, nhave);
		if (!rc)
			rc = dits_buf_puts(&body, "}");
		if (!rc)
			rc = dits_client_call(rm, "POST", "walk", body.data, body.len, "application/json", &resp, NULL);
		if (!rc && resp.len % 33)
			rc = dits_error_set(DITS_EINVALID, "remote %s: walk: the answer is not a list of 33-byte entries",
			                    rm->name);
		for (size_t i = 0; !rc && i < resp.len; i += 33) {
			dits_id id;
			memcpy(id.b, resp.data + i + 1, DITS_ID_LEN);
			uint8_t t = resp.data[i];
			if (t < DITS_OBJ_CHUNKLIST || t > DITS_OBJ_COMMIT)
				rc = dits_error_set(DITS_EINVALID, "remote %s: walk: an entry of unknown type %u", rm->name, t);
			else
				rc = objlist_add(out, t, &id, 0);
		}
	}
	dits_buf_free(&body);
	dits_buf_free(&resp);
	return rc;
}

/* Fetches the records of l that the store lacks (metadata: lengths unknown). */
static int fetch_missing(xengine *x, const objlist *l)
{
	objlist need = { 0 };
	dits_idset seen = { 0 };
	int rc = 0;
	for (size_t i = 0; i < l->n && !rc; i++) {
		int a = dits_idset_add(&seen, &l->v[i].id);
		if (a < 0)
			rc = a;
		else if (a && !dits_odb_exists(dits_repo_odb(x->r), &l->v[i].id))
			rc = objlist_add(&need, l->v[i].type, &l->v[i].id, l->v[i].len);
	}
	/* Metadata lengths are unknown: count each record as ~4 KiB. */
	for (size_t i = 0; i < need.n; i++)
		if (!need.v[i].len)
			need.v[i].len = 4096;
	if (!rc)
		rc = xengine_run(x, need.v, need.n, false, DITS_DOWNLOAD_REQUEST_BYTES);
	if (!rc)
		rc = xengine_flush(x);
	dits_idset_free(&seen);
	objlist_free(&need);
	return rc;
}

/* Adds the chunks of manifest that the store lacks to need. */
static int want_chunks(dits_repo *r, const dits_id *manifest, dits_idset *seen, objlist *need, uint64_t *bytes)
{
	dits_manifest m;
	int rc = dits_manifest_read(dits_repo_odb(r), manifest, &m);
	if (rc)
		return rc;
	for (uint64_t i = 0; i < m.nchunks && !rc; i++) {
		int a = dits_idset_add(seen, &m.chunks[i].id);
		if (a < 0)
			rc = a;
		else if (a && !dits_odb_exists(dits_repo_odb(r), &m.chunks[i].id)) {
			rc = objlist_add(need, DITS_OBJ_CHUNK, &m.chunks[i].id, m.chunks[i].len);
			*bytes += m.chunks[i].len + DITS_PACK_RECORD_HEADER_LEN;
		}
	}
	dits_manifest_free(&m);
	return rc;
}

static int fetch_chunks(xengine *x, const objlist *need, uint64_t bytes, const char *what)
{
	if (x->p && x->p->start)
		x->p->start(x->p->ctx, what, bytes, 0);
	int rc = xengine_run(x, need->v, need->n, false, DITS_DOWNLOAD_REQUEST_BYTES);
	if (x->p && x->p->finish)
		x->p->finish(x->p->ctx);
	if (!rc)
		rc = xengine_flush(x);
	return rc;
}

/* Manifests whose head or chunk lists are not (all) local. */
static bool manifest_incomplete(dits_repo *r, const dits_id *id)
{
	dits_manifest_head h;
	if (dits_manifest_read_head(dits_repo_odb(r), id, &h)) {
		dits_error_clear();
		return true;
	}
	bool missing = false;
	for (uint32_t s = 0; s < h.nsegs && !missing; s++)
		missing = !dits_odb_exists(dits_repo_odb(r), &h.segs[s]);
	dits_manifest_head_free(&h);
	return missing;
}

/* Fetches the metadata of the manifests that are not complete locally. */
static int fetch_manifests(xengine *x, const dits_id *ids, size_t n)
{
	dits_id *want = calloc(n + 1, sizeof *want);
	size_t nw = 0;
	if (!want)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++)
		if (manifest_incomplete(x->r, &ids[i]))
			want[nw++] = ids[i];
	objlist l = { 0 };
	int rc = remote_walk(x->rm, want, nw, NULL, 0, &l);
	if (!rc)
		rc = fetch_missing(x, &l);
	objlist_free(&l);
	free(want);
	return rc;
}

/* ---- variants -------------------------------------------------------- */

typedef struct rvariants {
	cJSON *root;
	const cJSON *list;   /* the "variants" array */
} rvariants;

static int get_variants(dits_remote *rm, rvariants *out)
{
	memset(out, 0, sizeof *out);
	dits_buf resp = DITS_BUF_INIT;
	int rc = dits_client_call(rm, "GET", "variants", NULL, 0, NULL, &resp, NULL);
	if (!rc) {
		out->root = cJSON_ParseWithLength((const char *)resp.data, resp.len);
		out->list = out->root ? cJSON_GetObjectItemCaseSensitive(out->root, "variants") : NULL;
		if (!cJSON_IsArray(out->list))
			rc = dits_error_set(DITS_EINVALID, "remote %s: GET variants: the answer is malformed", rm->name);
	}
	dits_buf_free(&resp);
	if (rc) {
		cJSON_Delete(out->root);
		memset(out, 0, sizeof *out);
	}
	return rc;
}

static const char *vstr(const cJSON *v, const char *key)
{
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(v, key);
	return cJSON_IsString(s) ? s->valuestring : NULL;
}

static bool vid(const cJSON *v, const char *key, dits_id *out)
{
	const char *s = vstr(v, key);
	return s && dits_id_from_hex(out, s) == 0;
}

/* A ready variant: its manifest in *manifest. */
static bool vready(const cJSON *v, dits_id *manifest)
{
	const char *st = vstr(v, "status"), *type = vstr(v, "type");
	return st && type && !strcmp(st, "ready") && dits_variant_type_valid(type) && vid(v, "manifest", manifest);
}

/* The "profile" of a listed variant's recipe (prores_proxy, h264, ...), or NULL. */
static const char *vprofile(const cJSON *v)
{
	const cJSON *rec = cJSON_GetObjectItemCaseSensitive(v, "recipe");
	return cJSON_IsObject(rec) ? vstr(rec, "profile") : NULL;
}

/*
 * The ready variant to use as parent's proxy of type in the server's list,
 * made with a recipe of profile: the same choice as dits_variant_pick makes
 * locally (that profile, else the default recipe, else any of type; newest,
 * then smallest id). NULL when there is none.
 */
static const cJSON *find_ready(const rvariants *rv, const dits_id *parent, const char *type, const char *profile,
                               dits_id *manifest)
{
	const cJSON *v, *best = NULL;
	int best_rank = 3;
	double best_created = 0;
	const char *best_id = "";
	cJSON_ArrayForEach(v, rv->list) {
		dits_id p, m;
		const char *t = vstr(v, "type"), *prof = vprofile(v), *id = vstr(v, "id");
		if (!t || !vid(v, "parent", &p) || !dits_id_eq(&p, parent) || !vready(v, &m))
			continue;
		int rank = !strcmp(t, type) && prof && !strcmp(prof, profile)                 ? 0
		           : !strcmp(t, "proxy_1080p") && prof && !strcmp(prof, "prores_proxy") ? 1
		           : !strcmp(t, type)                                                  ? 2
		                                                                               : 3;
		const cJSON *c = cJSON_GetObjectItemCaseSensitive(v, "created_at");
		double created = cJSON_IsNumber(c) ? c->valuedouble : 0;
		if (!id)
			id = "";
		if (rank == 3 || (best && (rank > best_rank || (rank == best_rank && (created < best_created ||
		                                                                     (created == best_created &&
		                                                                      strcmp(id, best_id) >= 0))))))
			continue;
		best = v;
		best_rank = rank;
		best_created = created;
		best_id = id;
		*manifest = m;
	}
	return best;
}

/* Imports every ready variant whose manifest is local (a partial repository fetched only the proxies'). */
static int import_variants(dits_repo *r, const rvariants *rv, uint64_t *imported)
{
	dits_metadb *db;
	int rc = dits_metadb_open_repo(&db, r);
	if (rc)
		return rc;
	const cJSON *v;
	cJSON_ArrayForEach(v, rv->list) {
		dits_id m;
		if (!vready(v, &m) || manifest_incomplete(r, &m))
			continue;
		bool got;
		if ((rc = dits_wire_variant_import(dits_repo_odb(r), db, v, &got)))
			break;
		if (got)
			(*imported)++;
	}
	dits_metadb_close(db);
	return rc;
}

static bool is_proxy_type(const char *type)
{
	return type && !strncmp(type, "proxy_", 6);
}

/* ---- push ----------------------------------------------------------- */

static int put_chunker_json(dits_buf *b, const dits_chunker_params *p)
{
	return dits_buf_printf(b, "{\"min\":%u,\"avg\":%u,\"max\":%u,\"level\":%u,\"seed\":%llu}", p->min, p->avg,
	                       p->max, p->level, (unsigned long long)p->seed);
}

static int create_remote(dits_repo *r, dits_remote *rm)
{
	dits_buf body = DITS_BUF_INIT, resp = DITS_BUF_INIT;
	int rc = dits_buf_puts(&body, "{\"chunker\":");
	if (!rc)
		rc = put_chunker_json(&body, dits_repo_chunker_params(r));
	if (!rc)
		rc = dits_buf_puts(&body, "}");
	if (!rc)
		rc = dits_client_call(rm, "POST", "create", body.data, body.len, "application/json", &resp, NULL);
	dits_buf_free(&body);
	dits_buf_free(&resp);
	return rc;
}

/* Asks the server which of l it has; appends the others to missing. */
static int ask_have(dits_remote *rm, const objlist *l, objlist *missing)
{
	dits_buf resp = DITS_BUF_INIT;
	uint8_t *body = malloc((size_t)DITS_WIRE_MAX_IDS * DITS_ID_LEN);
	int rc = body ? 0 : dits_error_set(DITS_ENOMEM, "out of memory");
	for (size_t off = 0; off < l->n && !rc; off += DITS_WIRE_MAX_IDS) {
		size_t k = l->n - off < DITS_WIRE_MAX_IDS ? l->n - off : DITS_WIRE_MAX_IDS;
		for (size_t i = 0; i < k; i++)
			memcpy(body + i * DITS_ID_LEN, l->v[off + i].id.b, DITS_ID_LEN);
		rc = dits_client_call(rm, "POST", "objects/have", body, k * DITS_ID_LEN, "application/x-dits-ids", &resp,
		                      NULL);
		if (!rc && resp.len != (k + 7) / 8)
			rc = dits_error_set(DITS_EINVALID, "remote %s: objects/have: a bitmap of %zu bytes for %zu ids",
			                    rm->name, resp.len, k);
		for (size_t i = 0; i < k && !rc; i++)
			if (!dits_wire_bit(resp.data, i))
				rc = objlist_add(missing, l->v[off + i].type, &l->v[off + i].id, l->v[off + i].len);
	}
	free(body);
	dits_buf_free(&resp);
	return rc;
}

/*
 * Uploads what the server lacks of l. Objects missing on both sides are an
 * error naming the first of them (a partial clone lacks masters it never
 * fetched; that is fine only while the server has them).
 */
static int upload_missing(xengine *x, const objlist *l, uint64_t *sent)
{
	objlist missing = { 0 };
	int rc = ask_have(x->rm, l, &missing);
	uint64_t total = 0;
	for (size_t i = 0; i < missing.n && !rc; i++) {
		uint8_t type;
		uint32_t len;
		if (dits_odb_read_header(dits_repo_odb(x->r), &missing.v[i].id, &type, &len)) {
			char hex[DITS_ID_HEXLEN + 1];
			dits_id_hex(hex, &missing.v[i].id);
			rc = dits_error_set(DITS_ENOTFOUND, "%s %s: missing here and on remote %s; it cannot be pushed",
			                    dits_otype_name(missing.v[i].type), hex, x->rm->name);
			break;
		}
		missing.v[i].type = type;
		missing.v[i].len = len;
		total += DITS_PACK_RECORD_HEADER_LEN + (uint64_t)len;
	}
	if (!rc) {
		if (x->p && x->p->start)
			x->p->start(x->p->ctx, "push", total, 0);
		rc = xengine_run(x, missing.v, missing.n, true, DITS_UPLOAD_REQUEST_BYTES);
		if (x->p && x->p->finish)
			x->p->finish(x->p->ctx);
	}
	if (!rc && sent)
		*sent += missing.n;
	objlist_free(&missing);
	return rc;
}

/* Registers the local ready variants of the pushed manifests on the server. */
static int push_variants(xengine *x, const objlist *pushed, uint64_t *count)
{
	dits_repo *r = x->r;
	dits_metadb *db;
	int rc = dits_metadb_open_repo_if_exists(&db, r);
	if (rc)
		return rc;
	if (!db)
		return 0; /* no variants were ever made here */
	dits_buf body = DITS_BUF_INIT;
	objlist vm = { 0 };
	size_t nv = 0;
	rc = dits_buf_puts(&body, "{\"variants\":[");
	for (size_t i = 0; i < pushed->n && !rc; i++) {
		if (pushed->v[i].type != DITS_OBJ_MANIFEST)
			continue;
		dits_variant *vs = NULL;
		size_t n = 0;
		if ((rc = dits_variant_list(db, &pushed->v[i].id, &vs, &n)))
			break;
		for (size_t k = 0; k < n && !rc; k++) {
			if (strcmp(vs[k].status, "ready") || !vs[k].has_manifest)
				continue;
			/* Only variants whose bytes are all here can be sent. */
			objlist one = { 0 };
			rc = dits_walk(dits_repo_odb(r), &vs[k].manifest, 1, NULL, 0, DITS_WALK_CHUNKS, collect_walk, &one);
			bool complete = !rc;
			for (size_t j = 0; complete && j < one.n; j++)
				complete = dits_odb_exists(dits_repo_odb(r), &one.v[j].id);
			dits_error_clear();
			rc = 0;
			for (size_t j = 0; complete && j < one.n && !rc; j++)
				rc = objlist_add(&vm, one.v[j].type, &one.v[j].id, one.v[j].len);
			objlist_free(&one);
			if (complete && !rc) {
				if (nv++)
					rc = dits_buf_puts(&body, ",");
				if (!rc)
					rc = dits_wire_variant_json(&body, &vs[k]);
			}
		}
		dits_variant_list_free(vs, n);
	}
	dits_metadb_close(db);
	if (!rc)
		rc = dits_buf_puts(&body, "]}");
	if (!rc && nv)
		rc = upload_missing(x, &vm, NULL);
	dits_buf resp = DITS_BUF_INIT;
	if (!rc && nv)
		rc = dits_client_call(x->rm, "POST", "variants", body.data, body.len, "application/json", &resp, NULL);
	if (!rc && nv) {
		cJSON *j = cJSON_ParseWithLength((const char *)resp.data, resp.len);
		const cJSON *reg = j ? cJSON_GetObjectItemCaseSensitive(j, "registered") : NULL;
		*count = cJSON_IsNumber(reg) && reg->valuedouble >= 0 && reg->valuedouble < 18446744073709551616.0
		       ? (uint64_t)reg->valuedouble : 0;
		cJSON_Delete(j);
	}
	dits_buf_free(&resp);
	dits_buf_free(&body);
	objlist_free(&vm);
	return rc;
}

/* Parses a POST refs refusal into one line telling the user what to do. */
static int refs_refused(dits_remote *rm, const char *ref, const dits_buf *resp)
{
	char msg[300] = "";
	cJSON *j = cJSON_ParseWithLength((const char *)resp->data, resp->len);
	const cJSON *e = j ? cJSON_GetObjectItemCaseSensitive(j, "error") : NULL;
	if (cJSON_IsString(e))
		snprintf(msg, sizeof msg, "%s", e->valuestring);
	cJSON_Delete(j);
	/* The server names both ids; the user needs only what to do. */
	if (strstr(msg, "non-fast-forward") || strstr(msg, "not an ancestor"))
		snprintf(msg, sizeof msg, "not a fast-forward of the remote's branch");
	return dits_error_set(DITS_ECONFLICT,
	                      "push to %s rejected: %s: %s; run 'dits pull %s' first (or push --force to overwrite)",
	                      rm->name, ref, *msg ? msg : "non-fast-forward", rm->name);
}

int dits_push(dits_repo *r, dits_remote *rm, const char *branch, bool force, const dits_xfer_opts *o,
              dits_push_result *res)
{
	memset(res, 0, sizeof *res);
	snprintf(res->ref, sizeof res->ref, "refs/heads/%s", branch);
	if (!dits_ref_name_valid(branch))
		return dits_error_set(DITS_EINVALID, "'%s' is not a valid branch name", branch);
	dits_id tip;
	int rc = dits_ref_read(r, res->ref, &tip);
	if (rc)
		return dits_error_set(rc, "branch '%s': no such branch here", branch);
	res->new = tip;
	dits_remote_refs refs;
	if ((rc = dits_remote_get_refs(rm, &refs)))
		return rc;
	if (!refs.exists) {
		if ((rc = create_remote(r, rm)))
			return rc;
		res->created = true;
	}
	const dits_id *found = dits_remote_refs_find(&refs, res->ref);
	bool exists = found != NULL;
	if (found)
		res->old = *found;
	const dits_id *cur = exists ? &res->old : NULL; /* refs is freed below */
	/* The server's tip is ours already: not a fast-forward when we lack it. */
	if (cur && !force && !dits_odb_exists(dits_repo_odb(r), cur)) {
		dits_remote_refs_free(&refs);
		return dits_error_set(DITS_ECONFLICT,
		                      "push to %s rejected: %s: the remote has commits you do not have; run 'dits pull %s' first (or push --force to overwrite)",
		                      rm->name, res->ref, rm->name);
	}
	/* What the server has already: its tips that we know. */
	dits_id *have = calloc(refs.n + 1, sizeof *have);
	size_t nhave = 0;
	for (size_t i = 0; have && i < refs.n; i++)
		if (dits_odb_exists(dits_repo_odb(r), &refs.ids[i]))
			have[nhave++] = refs.ids[i];
	dits_remote_refs_free(&refs);
	if (!have)
		return dits_error_set(DITS_ENOMEM, "out of memory");

	xengine x;
	xengine_init(&x, r, rm, o);
	objlist l = { 0 };
	if (cur && dits_id_eq(cur, &tip)) {
		res->up_to_date = true;
	} else {
		rc = dits_walk(dits_repo_odb(r), &tip, 1, have, nhave, DITS_WALK_CHUNKS, collect_walk, &l);
		if (!rc)
			rc = upload_missing(&x, &l, &res->objects);
		if (!rc) {
			/* Compare-and-swap from the value we saw: a concurrent push makes this fail. */
			dits_buf body = DITS_BUF_INIT, resp = DITS_BUF_INIT;
			rc = dits_buf_printf(&body, "{\"updates\":[{\"ref\":\"%s\",\"old\":", res->ref);
			if (!rc)
				rc = put_hex(&body, &res->old);
			if (!rc)
				rc = dits_buf_puts(&body, ",\"new\":");
			if (!rc)
				rc = put_hex(&body, &tip);
			if (!rc)
				rc = dits_buf_printf(&body, ",\"force\":%s}]}", force ? "true" : "false");
			long status = 0;
			if (!rc)
				rc = dits_client_call(rm, "POST", "refs", body.data, body.len, "application/json", &resp, &status);
			if (rc && status == 409)
				rc = refs_refused(rm, res->ref, &resp);
			dits_buf_free(&body);
			dits_buf_free(&resp);
		}
	}
	if (!rc) {
		char *track = dits_strfmt("refs/remotes/%s/%s", rm->name, branch);
		rc = track ? dits_ref_update(r, track, &tip, NULL, "push") : dits_error_set(DITS_ENOMEM, "out of memory");
		free(track);
	}
	/* Variants are a courtesy to the team: a failure does not undo the push. */
	if (!rc && l.n) {
		dits_xfer_opts quiet = { x.jobs, x.rate, NULL };
		xengine vx;
		xengine_init(&vx, r, rm, &quiet);
		if (push_variants(&vx, &l, &res->variants)) {
			snprintf(res->variant_warning, sizeof res->variant_warning, "%s", dits_error_last());
			dits_error_clear();
		}
	}
	xengine_free(&x);
	objlist_free(&l);
	free(have);
	return rc;
}

/* ---- fetch ---------------------------------------------------------- */

void dits_fetch_result_free(dits_fetch_result *res)
{
	dits_remote_refs_free(&res->refs);
}

typedef struct have_ctx {
	dits_repo *r;
	dits_id *v;
	size_t n, cap;
} have_ctx;

static int add_have(void *ctx, const char *ref, const dits_id *id)
{
	(void)ref;
	have_ctx *h = ctx;
	if (h->n >= DITS_WIRE_MAX_WALK || !dits_odb_exists(dits_repo_odb(h->r), id))
		return 0;
	for (size_t i = 0; i < h->n; i++)
		if (dits_id_eq(&h->v[i], id))
			return 0;
	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 16;
		dits_id *nv = realloc(h->v, cap * sizeof *nv);
		if (!nv)
			return dits_error_set(DITS_ENOMEM, "out of memory");
		h->v = nv;
		h->cap = cap;
	}
	h->v[h->n++] = *id;
	return 0;
}

/* The chunks a partial repository wants of one tip: proxies, else masters. */
static int partial_tip_chunks(dits_repo *r, const dits_id *tip, const rvariants *rv, const dits_fetch_opts *o,
                              const char *profile, dits_idset *seen, dits_idset *reported, objlist *need,
                              uint64_t *bytes)
{
	dits_flat f = { 0 };
	int rc = dits_flat_from_commit(r, tip, &f);
	for (size_t i = 0; i < f.n && !rc; i++) {
		dits_id pm;
		if (find_ready(rv, &f.e[i].id, o->proxy_type, profile, &pm))
			continue; /* its proxy's chunks come with the proxies */
		int a = dits_idset_add(reported, &f.e[i].id);
		if (a < 0) {
			rc = a;
			break;
		}
		/* The server's variant of that type, whatever its state (work in
		 * progress wins over an old failure), and why there is no proxy. */
		char why[400];
		const char *state = NULL;
		snprintf(why, sizeof why, "no %s on the remote", o->proxy_type);
		const cJSON *v;
		cJSON_ArrayForEach(v, rv->list) {
			dits_id p;
			const char *t = vstr(v, "type"), *st = vstr(v, "status"), *err = vstr(v, "error");
			if (!t || !st || strcmp(t, o->proxy_type) || !vid(v, "parent", &p) || !dits_id_eq(&p, &f.e[i].id))
				continue;
			if (state && (!strcmp(state, "queued") || !strcmp(state, "running")))
				continue;
			state = st;
			snprintf(why, sizeof why, "its %s on the remote is %s%s%.300s", o->proxy_type, st,
			         err ? ": " : "", err ? err : "");
		}
		if (o->pending && state && (!strcmp(state, "queued") || !strcmp(state, "running"))) {
			/* Its proxy is on the way: the master stays on the server, a
			 * later fetch brings the proxy. */
			if (a)
				o->pending(o->ctx, f.e[i].path, why);
			continue;
		}
		if (a && o->fallback)
			o->fallback(o->ctx, f.e[i].path, why);
		rc = want_chunks(r, &f.e[i].id, seen, need, bytes);
	}
	dits_flat_free(&f);
	return rc;
}

int dits_fetch(dits_repo *r, dits_remote *rm, const dits_fetch_opts *o, dits_fetch_result *res)
{
	memset(res, 0, sizeof *res);
	int rc = dits_remote_get_refs(rm, &res->refs);
	if (rc)
		return rc;
	if (!res->refs.exists)
		return dits_error_set(DITS_ENOTFOUND, "remote %s: %s: no such repository on the server", rm->name, rm->url);
	if ((rc = dits_repo_lock(r)))
		return rc;
	/* Leftovers of a fetch that was killed: its finished packs stay, the rest goes. */
	dits_odb_remove_leftovers(dits_repo_odb(r));

	xengine x;
	xengine_init(&x, r, rm, &o->xfer);
	have_ctx h = { r, NULL, 0, 0 };
	rc = dits_refs_foreach(r, "refs/heads/", add_have, &h);
	if (!rc)
		rc = dits_refs_foreach(r, "refs/remotes/", add_have, &h);
	objlist meta = { 0 }, need = { 0 };
	rvariants rv = { 0 };
	dits_idset seen = { 0 }, reported = { 0 };
	uint64_t bytes = 0;
	if (!rc)
		rc = remote_walk(rm, res->refs.ids, res->refs.n, h.v, h.n, &meta);
	if (!rc)
		rc = fetch_missing(&x, &meta);
	res->objects = x.records;
	if (!rc)
		rc = get_variants(rm, &rv);
	/* The ready variants' manifests: every one in a full repository; in a
	 * partial one, for each master the proxy its checkout will use (the
	 * configured recipe's, see find_ready). */
	char ctype[DITS_VARIANT_NAME_MAX], profile[DITS_VARIANT_NAME_MAX];
	dits_variant_configured(r, ctype, profile);
	dits_id *vman = NULL;
	size_t nvman = 0;
	if (!rc) {
		vman = calloc((size_t)cJSON_GetArraySize(rv.list) + 1, sizeof *vman);
		rc = vman ? 0 : dits_error_set(DITS_ENOMEM, "out of memory");
		const cJSON *v;
		cJSON_ArrayForEach(v, rv.list) {
			dits_id m, p, pm;
			if (rc || !vready(v, &m))
				continue;
			if (o->partial && (!is_proxy_type(vstr(v, "type")) || !vid(v, "parent", &p) ||
			                   find_ready(&rv, &p, o->proxy_type, profile, &pm) != v))
				continue;
			vman[nvman++] = m;
		}
	}
	if (!rc)
		rc = fetch_manifests(&x, vman, nvman);
	res->objects = x.records;
	/* The chunks: all of every fetched manifest, or for a partial repository
	 * the proxies' and the masters of tip files without one. */
	for (size_t i = 0; i < meta.n && !rc && !o->partial; i++)
		if (meta.v[i].type == DITS_OBJ_MANIFEST)
			rc = want_chunks(r, &meta.v[i].id, &seen, &need, &bytes);
	for (size_t i = 0; i < nvman && !rc; i++)
		rc = want_chunks(r, &vman[i], &seen, &need, &bytes);
	for (size_t i = 0; i < res->refs.n && !rc && o->partial; i++)
		rc = partial_tip_chunks(r, &res->refs.ids[i], &rv, o, profile, &seen, &reported, &need, &bytes);
	if (!rc)
		rc = fetch_chunks(&x, &need, bytes, "fetch");
	res->chunks = x.chunks;
	res->objects = x.records - x.chunks;
	if (!rc)
		rc = import_variants(r, &rv, &res->variants);
	/* The remote-tracking refs move last: they promise everything above is here. */
	for (size_t i = 0; i < res->refs.n && !rc; i++) {
		const char *name = res->refs.names[i];
		char *local = NULL;
		const dits_id *expected = NULL;
		dits_id zero = { { 0 } }, cur;
		if (!strncmp(name, "refs/heads/", 11)) {
			local = dits_strfmt("refs/remotes/%s/%s", rm->name, name + 11);
		} else if (!strncmp(name, "refs/tags/", 10) && dits_ref_read(r, name, &cur) == DITS_ENOTFOUND) {
			local = strdup(name); /* a new tag; an existing one is the user's */
			expected = &zero;
		} else {
			dits_error_clear();
			continue;
		}
		if (!local) {
			rc = dits_error_set(DITS_ENOMEM, "out of memory");
			break;
		}
		bool same = dits_ref_read(r, local, &cur) == 0 && dits_id_eq(&cur, &res->refs.ids[i]);
		dits_error_clear();
		if (!same) {
			rc = dits_ref_update(r, local, &res->refs.ids[i], expected, "fetch");
			res->refs_updated++;
		}
		free(local);
	}
	dits_idset_free(&seen);
	dits_idset_free(&reported);
	free(vman);
	cJSON_Delete(rv.root);
	objlist_free(&meta);
	objlist_free(&need);
	free(h.v);
	xengine_free(&x);
	return rc;
}

int dits_fetch_contents(dits_repo *r, dits_remote *rm, const dits_id *manifests, size_t n,
                        const dits_xfer_opts *o, uint64_t *fetched)
{
	if (fetched)
		*fetched = 0;
	int rc = dits_repo_lock(r);
	if (rc)
		return rc;
	xengine x;
	xengine_init(&x, r, rm, o);
	objlist need = { 0 };
	dits_idset seen = { 0 };
	uint64_t bytes = 0;
	rc = fetch_manifests(&x, manifests, n);
	for (size_t i = 0; i < n && !rc; i++)
		rc = want_chunks(r, &manifests[i], &seen, &need, &bytes);
	if (!rc && need.n)
		rc = fetch_chunks(&x, &need, bytes, "fetch masters");
	if (fetched)
		*fetched = x.chunks;
	dits_idset_free(&seen);
	objlist_free(&need);
	xengine_free(&x);
	return rc;
}

int dits_fetch_objects(dits_repo *r, dits_remote *rm, const dits_id *ids, size_t n, const dits_xfer_opts *o)
{
	/* Packs are finished only under the lock; a caller that holds it keeps it. */
	bool locked = dits_repo_locked(r);
	int rc = dits_repo_lock(r);
	if (rc)
		return rc;
	xengine x;
	xengine_init(&x, r, rm, o);
	objlist l = { 0 };
	for (size_t i = 0; i < n && !rc; i++)
		rc = objlist_add(&l, 0, &ids[i], 0);
	if (!rc)
		rc = fetch_missing(&x, &l);
	objlist_free(&l);
	xengine_free(&x);
	if (!locked)
		dits_repo_unlock(r);
	return rc;
}

int dits_fetch_variants(dits_repo *r, dits_remote *rm, const dits_id *parents, size_t n, const char *type,
                        const dits_xfer_opts *o, char (*state)[16], char **error)
{
	rvariants rv;
	int rc = get_variants(rm, &rv);
	if (rc)
		return rc;
	char ctype[DITS_VARIANT_NAME_MAX], profile[DITS_VARIANT_NAME_MAX];
	dits_variant_configured(r, ctype, profile);
	dits_id *man = calloc(n + 1, sizeof *man);
	size_t nman = 0;
	if (!man)
		rc = dits_error_set(DITS_ENOMEM, "out of memory");
	for (size_t i = 0; i < n && !rc; i++) {
		error[i] = NULL;
		snprintf(state[i], sizeof state[i], "none");
		dits_id m;
		if (find_ready(&rv, &parents[i], type, profile, &m)) {
			snprintf(state[i], sizeof state[i], "ready");
			man[nman++] = m;
			continue;
		}
		const cJSON *v;
		cJSON_ArrayForEach(v, rv.list) {
			dits_id p;
			const char *t = vstr(v, "type"), *st = vstr(v, "status"), *err = vstr(v, "error");
			if (!t || !st || strcmp(t, type) || !vid(v, "parent", &p) || !dits_id_eq(&p, &parents[i]))
				continue;
			/* Work in progress wins over an old failure. */
			if (strcmp(state[i], "queued") && strcmp(state[i], "running")) {
				snprintf(state[i], sizeof state[i], "%s", st);
				free(error[i]);
				error[i] = err ? strdup(err) : NULL;
			}
		}
	}
	if (!rc && nman)
		rc = dits_fetch_contents(r, rm, man, nman, o, NULL);
	if (!rc && nman) {
		/* Import only the variants asked for. */
		dits_metadb *db;
		if (!(rc = dits_metadb_open_repo(&db, r))) {
			for (size_t i = 0; i < n && !rc; i++) {
				dits_id m;
				const cJSON *v = find_ready(&rv, &parents[i], type, profile, &m);
				if (v)
					rc = dits_wire_variant_import(dits_repo_odb(r), db, v, NULL);
			}
			dits_metadb_close(db);
		}
	}
	free(man);
	cJSON_Delete(rv.root);
	return rc;
}
