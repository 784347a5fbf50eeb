/*
 * The object database: asks its backends in order (odb.h, odb_backend.h).
 * Local backends answer lookups; promisor backends are asked only to fetch
 * what every local backend lacks, and never twice at once (a fetch that
 * reads the store must not fetch again).
 */
#include "odb.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "odb_backend.h"
#include "odb_pack.h"

struct dits_odb {
	dits_odb_backend **b;
	size_t n, cap;
	bool fetching; /* a promisor is at work: misses stay misses */
};

const char *dits_otype_name(int type)
{
	switch (type) {
	case DITS_OBJ_CHUNK: return "chunk";
	case DITS_OBJ_CHUNKLIST: return "chunklist";
	case DITS_OBJ_MANIFEST: return "manifest";
	case DITS_OBJ_TREE: return "tree";
	case DITS_OBJ_COMMIT: return "commit";
	default: return "unknown";
	}
}

int dits_odb_new(dits_odb **out)
{
	*out = calloc(1, sizeof **out);
	return *out ? 0 : dits_error_set(DITS_ENOMEM, "out of memory");
}

int dits_odb_add_backend(dits_odb *db, dits_odb_backend *b)
{
	if (b->version != DITS_ODB_BACKEND_VERSION || !b->free) {
		unsigned v = b->version;
		if (b->free)
			b->free(b);
		return dits_error_set(DITS_EVERSION, "object store backend version %u is not supported (%d)", v,
		                      DITS_ODB_BACKEND_VERSION);
	}
	if (db->n == db->cap) {
		size_t cap = db->cap ? db->cap * 2 : 4;
		dits_odb_backend **nb = realloc(db->b, cap * sizeof *nb);
		if (!nb) {
			b->free(b);
			return dits_error_set(DITS_ENOMEM, "out of memory");
		}
		db->b = nb;
		db->cap = cap;
	}
	b->odb = db;
	db->b[db->n++] = b;
	return 0;
}

int dits_odb_open(dits_odb **out, const char *dir)
{
	dits_odb *db;
	dits_odb_backend *packs;
	int rc = dits_odb_new(&db);
	if (rc)
		return rc;
	if ((rc = dits_odb_pack_backend_new(&packs, dir)) || (rc = dits_odb_add_backend(db, packs))) {
		dits_odb_free(db);
		*out = NULL;
		return rc;
	}
	*out = db;
	return 0;
}

void dits_odb_free(dits_odb *db)
{
	if (!db)
		return;
	for (size_t i = db->n; i-- > 0;)
		db->b[i]->free(db->b[i]);
	free(db->b);
	free(db);
}

dits_odb_backend *dits_odb_find_backend(dits_odb *db, void (*free_fn)(dits_odb_backend *))
{
	for (size_t i = 0; i < db->n; i++)
		if (db->b[i]->free == free_fn)
			return db->b[i];
	return NULL;
}

static bool is_promisor(const dits_odb_backend *b)
{
	return b->flags & DITS_ODB_BACKEND_PROMISOR;
}

bool dits_odb_has_promisor(dits_odb *db)
{
	for (size_t i = 0; i < db->n; i++)
		if (is_promisor(db->b[i]))
			return true;
	return false;
}

int dits_odb_refresh(dits_odb *db)
{
	int added = 0;
	for (size_t i = 0; i < db->n; i++)
		if (db->b[i]->refresh)
			added += db->b[i]->refresh(db->b[i]);
	return added;
}

/* The first local backend that has id. */
static int find_local(dits_odb *db, const dits_id *id, uint8_t *type, uint32_t *len, dits_odb_backend **which)
{
	for (size_t i = 0; i < db->n; i++) {
		dits_odb_backend *b = db->b[i];
		if (is_promisor(b))
			continue;
		int rc = b->read_header(b, id, type, len);
		if (rc != DITS_ENOTFOUND) {
			if (!rc && which)
				*which = b;
			return rc;
		}
	}
	return DITS_ENOTFOUND;
}

int dits_odb_read_header(dits_odb *db, const dits_id *id, uint8_t *type, uint32_t *len)
{
	return find_local(db, id, type, len, NULL);
}

bool dits_odb_exists(dits_odb *db, const dits_id *id)
{
	return find_local(db, id, NULL, NULL, NULL) == 0;
}

/* Asks the promisors for ids; 0 also when they did not have them all. */
static int promise(dits_odb *db, const dits_id *ids, size_t n)
{
	int rc = 0;
	for (size_t i = 0; i < db->n && !rc && !db->fetching; i++) {
		dits_odb_backend *b = db->b[i];
		if (!is_promisor(b) || !b->fetch)
			continue;
		db->fetching = true;
		rc = b->fetch(b, ids, n);
		db->fetching = false;
	}
	return rc;
}

/* Finds id for reading: local backends, then again after a refresh, then
 * after the promisors fetched it. A miss sets a message. */
static int find_for_read(dits_odb *db, const dits_id *id, uint8_t *type, uint32_t *len, dits_odb_backend **which)
{
	int rc = find_local(db, id, type, len, which);
	if (rc == DITS_ENOTFOUND && dits_odb_refresh(db) > 0)
		rc = find_local(db, id, type, len, which);
	if (rc == DITS_ENOTFOUND && !db->fetching && dits_odb_has_promisor(db)) {
		if ((rc = promise(db, id, 1)))
			return rc;
		rc = find_local(db, id, type, len, which);
		if (rc == DITS_ENOTFOUND && dits_odb_refresh(db) > 0)
			rc = find_local(db, id, type, len, which);
	}
	if (rc == DITS_ENOTFOUND) {
		char hex[DITS_ID_HEXLEN + 1];
		dits_id_hex(hex, id);
		return dits_error_set(DITS_ENOTFOUND, "object %s is missing from the store", hex);
	}
	return rc;
}

int dits_odb_read(dits_odb *db, const dits_id *id, dits_buf *out, uint8_t *type)
{
	dits_odb_backend *b;
	uint8_t t;
	uint32_t len;
	int rc = find_for_read(db, id, &t, &len, &b);
	if (rc)
		return rc;
	dits_buf_reset(out);
	if (dits_buf_grow(out, len))
		return DITS_ENOMEM;
	if ((rc = b->read(b, id, out->data, len)))
		return rc;
	out->len = len;
	out->data[out->len] = '\0';
	if (type)
		*type = t;
	return 0;
}

int dits_odb_read_into(dits_odb *db, const dits_id *id, void *buf, uint32_t len)
{
	dits_odb_backend *b;
	uint8_t t;
	uint32_t have;
	int rc = find_for_read(db, id, &t, &have, &b);
	if (rc)
		return rc;
	if (have != len) {
		char hex[DITS_ID_HEXLEN + 1];
		dits_id_hex(hex, id);
		return dits_error_set(DITS_ECORRUPT, "%s %s has length %u in the store, %u expected", dits_otype_name(t),
		                      hex, have, len);
	}
	return b->read(b, id, buf, len);
}

int dits_odb_borrow(dits_odb *db, const dits_id *id, unsigned flags, dits_odb_view *view)
{
	memset(view, 0, sizeof *view);
	dits_odb_backend *b;
	uint8_t t;
	uint32_t len;
	int rc = find_for_read(db, id, &t, &len, &b);
	if (rc)
		return rc;
	if (b->borrow) {
		if ((rc = b->borrow(b, id, flags, view))) {
			memset(view, 0, sizeof *view);
			return rc;
		}
		if (view->data) {
			view->owner = b;
			return 0;
		}
	}
	/* The copying fallback: the view owns a verified copy. */
	uint8_t *copy = malloc(len ? len : 1);
	if (!copy)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	if ((rc = b->read(b, id, copy, len))) {
		free(copy);
		memset(view, 0, sizeof *view);
		return rc;
	}
	view->data = copy;
	view->len = len;
	view->type = t;
	view->owner = NULL;
	view->priv = copy;
	return 0;
}

void dits_odb_view_release(dits_odb_view *view)
{
	if (!view->data)
		return;
	if (view->owner) {
		if (view->owner->release)
			view->owner->release(view->owner, view);
	} else {
		free(view->priv);
	}
	memset(view, 0, sizeof *view);
}

int dits_odb_stream(dits_odb *db, const dits_id *id, dits_odb_sink_fn sink, void *ctx)
{
	dits_odb_backend *b;
	int rc = find_for_read(db, id, NULL, NULL, &b);
	if (rc)
		return rc;
	if (b->stream)
		return b->stream(b, id, sink, ctx);
	dits_odb_view v;
	if ((rc = dits_odb_borrow(db, id, 0, &v)))
		return rc;
	rc = sink(ctx, v.data, v.len);
	dits_odb_view_release(&v);
	return rc;
}

int dits_odb_fetch_missing(dits_odb *db, const dits_id *ids, size_t n)
{
	dits_id *need = malloc((n ? n : 1) * sizeof *need);
	if (!need)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	size_t k = 0;
	bool refreshed = false;
	for (size_t i = 0; i < n; i++) {
		if (dits_odb_exists(db, &ids[i]))
			continue;
		if (!refreshed) {
			refreshed = true;
			if (dits_odb_refresh(db) > 0 && dits_odb_exists(db, &ids[i]))
				continue;
		}
		need[k++] = ids[i];
	}
	int rc = k ? promise(db, need, k) : 0;
	for (size_t i = 0; i < k && !rc; i++) {
		if (dits_odb_exists(db, &need[i]) || (dits_odb_refresh(db) > 0 && dits_odb_exists(db, &need[i])))
			continue;
		char hex[DITS_ID_HEXLEN + 1];
		dits_id_hex(hex, &need[i]);
		rc = dits_error_set(DITS_ENOTFOUND, "object %s is missing from the store%s", hex,
		                    dits_odb_has_promisor(db) ? " and could not be fetched" : "");
	}
	free(need);
	return rc;
}

int dits_odb_resolve_prefix(dits_odb *db, const char *hex, int type, dits_id *out)
{
	size_t n = strlen(hex);
	if (!dits_is_hex_prefix(hex))
		return dits_error_set(DITS_EINVALID, "'%s' is not a hex id", hex);
	uint8_t lo[DITS_ID_LEN] = { 0 }, hi[DITS_ID_LEN];
	memset(hi, 0xff, sizeof hi);
	for (size_t i = 0; i < n; i++) {
		int v = hex[i] <= '9' ? hex[i] - '0' : (hex[i] | 0x20) - 'a' + 10;
		if (i % 2 == 0) {
			lo[i / 2] = (uint8_t)(v << 4);
			hi[i / 2] = (uint8_t)(v << 4 | 0x0f);
		} else {
			lo[i / 2] |= (uint8_t)v;
			hi[i / 2] = (uint8_t)((hi[i / 2] & 0xf0) | v);
		}
	}
	int found = 0;
	for (size_t i = 0; i < db->n && found < 2; i++) {
		dits_odb_backend *b = db->b[i];
		if (is_promisor(b) || !b->resolve_prefix)
			continue;
		int rc = b->resolve_prefix(b, lo, hi, type, out, &found);
		if (rc)
			return rc;
	}
	if (found > 1)
		return dits_error_set(DITS_EAMBIGUOUS, "short id '%s' is ambiguous", hex);
	if (!found)
		return dits_error_set(DITS_ENOTFOUND, "no %s matches '%s'",
		                      type ? dits_otype_name(type) : "object", hex);
	return 0;
}

int dits_odb_foreach(dits_odb *db, dits_odb_each_fn fn, void *ctx)
{
	for (size_t i = 0; i < db->n; i++) {
		dits_odb_backend *b = db->b[i];
		if (is_promisor(b) || !b->foreach)
			continue;
		int rc = b->foreach(b, fn, ctx);
		if (rc)
			return rc;
	}
	return 0;
}

void dits_odb_remove_leftovers(dits_odb *db)
{
	for (size_t i = 0; i < db->n; i++)
		if (db->b[i]->remove_leftovers)
			db->b[i]->remove_leftovers(db->b[i]);
}

int dits_odb_gc_begin(dits_odb *db, int64_t cutoff_ns, dits_odb_each_fn recent, void *ctx)
{
	for (size_t i = 0; i < db->n; i++) {
		dits_odb_backend *b = db->b[i];
		int rc = b->gc_begin && !is_promisor(b) ? b->gc_begin(b, cutoff_ns, recent, ctx) : 0;
		if (rc)
			return rc;
	}
	return 0;
}

int dits_odb_remove_unreachable(dits_odb *db, dits_odb_live_fn live, void *ctx, dits_odb_prune_result *res)
{
	for (size_t i = 0; i < db->n; i++) {
		dits_odb_backend *b = db->b[i];
		if (is_promisor(b) || !b->remove_unreachable)
			continue;
		int rc = b->remove_unreachable(b, live, ctx, res);
		if (rc)
			return rc;
	}
	return 0;
}

int dits_pack_writer_new(dits_pack_writer **out, dits_odb *db)
{
	*out = NULL;
	for (size_t i = 0; i < db->n; i++)
		if (db->b[i]->writer_new)
			return db->b[i]->writer_new(db->b[i], out);
	return dits_error_set(DITS_EINVALID, "the object store has no writable backend");
}

/* ---- promisor ------------------------------------------------------- */

typedef struct promisor {
	dits_odb_backend base;
	dits_promisor_fetch_fn fetch;
	void *ctx;
	void (*ctx_free)(void *ctx);
} promisor;

static int promisor_fetch(dits_odb_backend *b, const dits_id *ids, size_t n)
{
	promisor *p = (promisor *)b;
	return p->fetch(p->ctx, b->odb, ids, n);
}

static void promisor_free(dits_odb_backend *b)
{
	promisor *p = (promisor *)b;
	if (p->ctx_free)
		p->ctx_free(p->ctx);
	free(p);
}

int dits_odb_promisor_new(dits_odb_backend **out, dits_promisor_fetch_fn fetch, void *ctx,
                          void (*ctx_free)(void *ctx))
{
	*out = NULL;
	promisor *p = calloc(1, sizeof *p);
	if (!p)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	p->base.version = DITS_ODB_BACKEND_VERSION;
	p->base.flags = DITS_ODB_BACKEND_PROMISOR;
	p->base.fetch = promisor_fetch;
	p->base.free = promisor_free;
	p->fetch = fetch;
	p->ctx = ctx;
	p->ctx_free = ctx_free;
	*out = &p->base;
	return 0;
}
