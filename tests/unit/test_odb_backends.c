/*
 * The object database's list of backends: first hit wins, writes go to the
 * first writable backend, enumeration and prefixes cover every backend,
 * borrowed views (without a copy from packs, a verified copy from a backend
 * that cannot lend), the version check, gc's sweep through the interface,
 * and the promisor: a miss is fetched
 * from another store, lookups never fetch, a fetch is never re-entered.
 */
#include "error.h"
#include "hash.h"
#include "odb.h"
#include "odb_backend.h"
#include "odb_pack.h"

#include <string.h>

#include "check.h"
#include "util.h"

/* ---- a second kind of backend: objects held in memory ---------------- */

typedef struct mem_obj {
	dits_id id;
	uint8_t type;
	uint8_t *data;
	uint32_t len;
} mem_obj;

typedef struct mem_backend {
	dits_odb_backend base;
	mem_obj v[8];
	size_t n;
} mem_backend;

static mem_obj *mem_find(mem_backend *m, const dits_id *id)
{
	for (size_t i = 0; i < m->n; i++)
		if (dits_id_eq(&m->v[i].id, id))
			return &m->v[i];
	return NULL;
}

static int mem_read_header(dits_odb_backend *b, const dits_id *id, uint8_t *type, uint32_t *len)
{
	mem_obj *o = mem_find((mem_backend *)b, id);
	if (!o)
		return DITS_ENOTFOUND;
	if (type)
		*type = o->type;
	if (len)
		*len = o->len;
	return 0;
}

static int mem_read(dits_odb_backend *b, const dits_id *id, void *buf, uint32_t len)
{
	mem_obj *o = mem_find((mem_backend *)b, id);
	if (!o)
		return DITS_ENOTFOUND;
	if (o->len != len)
		return dits_error_set(DITS_ECORRUPT, "length differs");
	memcpy(buf, o->data, len);
	dits_id got;
	dits_hash_buf(&got, buf, len);
	return dits_id_eq(&got, id) ? 0 : dits_error_set(DITS_ECORRUPT, "memory object does not match its hash");
}

static int mem_foreach(dits_odb_backend *b, dits_odb_each_fn fn, void *ctx)
{
	mem_backend *m = (mem_backend *)b;
	for (size_t i = 0; i < m->n; i++) {
		int rc = fn(ctx, &m->v[i].id, m->v[i].type, m->v[i].len);
		if (rc)
			return rc;
	}
	return 0;
}

static int mem_resolve_prefix(dits_odb_backend *b, const uint8_t lo[DITS_ID_LEN], const uint8_t hi[DITS_ID_LEN],
                              int type, dits_id *out, int *found)
{
	mem_backend *m = (mem_backend *)b;
	for (size_t i = 0; i < m->n && *found < 2; i++) {
		const dits_id *id = &m->v[i].id;
		if (memcmp(id->b, lo, DITS_ID_LEN) < 0 || memcmp(id->b, hi, DITS_ID_LEN) > 0 ||
		    (type && m->v[i].type != type) || (*found && dits_id_eq(out, id)))
			continue;
		if (*found) {
			*found = 2;
			break;
		}
		*out = *id;
		*found = 1;
	}
	return 0;
}

static void mem_free(dits_odb_backend *b)
{
	mem_backend *m = (mem_backend *)b;
	for (size_t i = 0; i < m->n; i++)
		free(m->v[i].data);
	free(m);
}

static mem_backend *mem_new(void)
{
	mem_backend *m = calloc(1, sizeof *m);
	REQUIRE(m != NULL);
	m->base.version = DITS_ODB_BACKEND_VERSION;
	m->base.read_header = mem_read_header;
	m->base.read = mem_read;
	m->base.foreach = mem_foreach;
	m->base.resolve_prefix = mem_resolve_prefix;
	m->base.free = mem_free;
	return m;
}

static void mem_put(mem_backend *m, const char *text, dits_id *id)
{
	REQUIRE(m->n < 8);
	mem_obj *o = &m->v[m->n++];
	o->len = (uint32_t)strlen(text);
	o->data = (uint8_t *)strdup(text);
	o->type = DITS_OBJ_CHUNK;
	REQUIRE(o->data != NULL);
	dits_hash_buf(&o->id, o->data, o->len);
	*id = o->id;
}

static void put_pack(dits_odb *db, const char *text, dits_id *id)
{
	dits_pack_writer *w;
	CHECK_RC(dits_pack_writer_new(&w, db), 0);
	CHECK_RC(dits_pack_writer_put_object(w, DITS_OBJ_CHUNK, text, strlen(text), id), 0);
	CHECK_RC(dits_pack_writer_finish(w), 0);
	dits_pack_writer_free(w);
}

static char *join(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 2;
	char *p = malloc(n);
	REQUIRE(p != NULL);
	snprintf(p, n, "%s/%s", a, b);
	return p;
}

typedef struct sink_buf {
	dits_buf b;
	int calls;
} sink_buf;

static int sink(void *ctx, const void *data, size_t len)
{
	sink_buf *s = ctx;
	s->calls++;
	return dits_buf_put(&s->b, data, len);
}

static int count_each(void *ctx, const dits_id *id, uint8_t type, uint32_t len)
{
	(void)id;
	(void)type;
	(void)len;
	(*(int *)ctx)++;
	return 0;
}

static void test_order(const char *base)
{
	char *dir = join(base, "order");
	dits_odb *db;
	CHECK_RC(dits_odb_new(&db), 0);
	mem_backend *m = mem_new();
	dits_id in_mem, in_both, in_pack, got;
	mem_put(m, "only in memory", &in_mem);
	mem_put(m, "in both backends", &in_both);
	CHECK_RC(dits_odb_add_backend(db, &m->base), 0);
	dits_odb_backend *packs;
	CHECK_RC(dits_odb_pack_backend_new(&packs, dir), 0);
	CHECK_RC(dits_odb_add_backend(db, packs), 0);

	/* The memory backend cannot write: the pack writer is the pack backend's. */
	put_pack(db, "only in a pack", &in_pack);
	dits_pack_writer *w;
	CHECK_RC(dits_pack_writer_new(&w, db), 0);
	bool stored = true;
	/* A writer skips what any backend of the store has. */
	CHECK_RC(dits_pack_writer_put(w, DITS_OBJ_CHUNK, &in_mem, "only in memory", 14, &stored), 0);
	CHECK(!stored);
	dits_id again;
	CHECK_RC(dits_pack_writer_put_object(w, DITS_OBJ_CHUNK, "in both backends", 16, &again), 0);
	CHECK(dits_id_eq(&again, &in_both));
	CHECK_RC(dits_pack_writer_finish(w), 0);
	dits_pack_writer_free(w);
	CHECK_EQ_U64(dits_odb_pack_count(db), 1); /* the skipped record made no pack */
	CHECK_RC(dits_odb_locate(db, &in_both, NULL), DITS_ENOTFOUND);

	dits_buf b = DITS_BUF_INIT;
	uint8_t type = 0;
	CHECK_RC(dits_odb_read(db, &in_mem, &b, &type), 0);
	CHECK(b.len == 14 && !memcmp(b.data, "only in memory", 14) && type == DITS_OBJ_CHUNK);
	CHECK_RC(dits_odb_read(db, &in_pack, &b, NULL), 0);
	CHECK(b.len == 14 && !memcmp(b.data, "only in a pack", 14));

	/* Views: a verified copy from memory (no borrow), the mapping of a pack. */
	dits_odb_view v;
	CHECK_RC(dits_odb_borrow(db, &in_mem, 0, &v), 0);
	CHECK(v.owner == NULL && v.len == 14 && !memcmp(v.data, "only in memory", 14));
	dits_odb_view_release(&v);
	CHECK(v.data == NULL);
	CHECK_RC(dits_odb_borrow(db, &in_pack, 0, &v), 0);
	CHECK(v.owner == packs && v.len == 14 && !memcmp(v.data, "only in a pack", 14));
	dits_odb_view_release(&v);

	sink_buf s = { DITS_BUF_INIT, 0 };
	CHECK_RC(dits_odb_stream(db, &in_pack, sink, &s), 0);
	CHECK(s.calls == 1 && s.b.len == 14 && !memcmp(s.b.data, "only in a pack", 14));
	dits_buf_free(&s.b);

	char buf[32];
	CHECK_RC(dits_odb_read_into(db, &in_pack, buf, 14), 0);
	CHECK(!memcmp(buf, "only in a pack", 14));
	CHECK_RC(dits_odb_read_into(db, &in_pack, buf, 13), DITS_ECORRUPT);

	uint32_t len = 0;
	CHECK_RC(dits_odb_read_header(db, &in_mem, &type, &len), 0);
	CHECK(len == 14);
	int n = 0;
	CHECK_RC(dits_odb_foreach(db, count_each, &n), 0);
	CHECK(n == 3); /* two in memory, one in the pack */
	char hex[DITS_ID_HEXLEN + 1];
	dits_id_hex(hex, &in_mem);
	hex[10] = '\0';
	CHECK_RC(dits_odb_resolve_prefix(db, hex, 0, &got), 0);
	CHECK(dits_id_eq(&got, &in_mem));
	dits_id_hex(hex, &in_pack);
	hex[10] = '\0';
	CHECK_RC(dits_odb_resolve_prefix(db, hex, 0, &got), 0);
	CHECK(dits_id_eq(&got, &in_pack));

	/* A backend of a version this dits does not know is refused (and freed). */
	mem_backend *future = mem_new();
	future->base.version = DITS_ODB_BACKEND_VERSION + 1;
	CHECK_RC(dits_odb_add_backend(db, &future->base), DITS_EVERSION);

	dits_buf_free(&b);
	dits_odb_free(db);

	/* The pack backend first: it answers for what both have, without a copy. */
	CHECK_RC(dits_odb_open(&db, dir), 0);
	m = mem_new();
	mem_put(m, "only in a pack", &got);
	CHECK_RC(dits_odb_add_backend(db, &m->base), 0);
	CHECK_RC(dits_odb_borrow(db, &in_pack, 0, &v), 0);
	CHECK(v.owner != NULL && v.owner != &m->base);
	dits_odb_view_release(&v);
	dits_odb_free(db);
	free(dir);
}

static bool live_if_listed(void *ctx, const dits_id *id)
{
	const dits_id *keep = ctx;
	return dits_id_eq(keep, id);
}

static void test_sweep(const char *base)
{
	char *dir = join(base, "sweep");
	dits_odb *db;
	CHECK_RC(dits_odb_open(&db, dir), 0);
	dits_id keep, drop1, drop2, old;
	put_pack(db, "kept", &keep);
	put_pack(db, "dropped one", &drop1);
	dits_pack_writer *w;
	CHECK_RC(dits_pack_writer_new(&w, db), 0);
	CHECK_RC(dits_pack_writer_put_object(w, DITS_OBJ_CHUNK, "dropped two", 11, &drop2), 0);
	CHECK_RC(dits_pack_writer_finish(w), 0);
	dits_pack_writer_free(w);
	CHECK_EQ_U64(dits_odb_pack_count(db), 3);
	old = keep;
	dits_odb_prune_result pr = { 0 };
	CHECK_RC(dits_odb_remove_unreachable(db, live_if_listed, &keep, &pr), 0);
	CHECK_EQ_U64(pr.kept_objects, 1);
	CHECK_EQ_U64(pr.removed_objects, 2);
	CHECK_EQ_U64(pr.removed_bytes, 22);
	CHECK_EQ_U64(pr.units_before, 3);
	dits_odb_free(db);
	/* What the sweep left is what a fresh open sees: the kept record only. */
	CHECK_RC(dits_odb_open(&db, dir), 0);
	CHECK_EQ_U64(dits_odb_pack_count(db), 1);
	CHECK(dits_odb_exists(db, &old));
	CHECK(!dits_odb_exists(db, &drop1) && !dits_odb_exists(db, &drop2));
	dits_buf b = DITS_BUF_INIT;
	CHECK_RC(dits_odb_read(db, &old, &b, NULL), 0);
	CHECK(b.len == 4 && !memcmp(b.data, "kept", 4));
	/* Nothing to drop: nothing is rewritten. */
	memset(&pr, 0, sizeof pr);
	CHECK_RC(dits_odb_remove_unreachable(db, live_if_listed, &keep, &pr), 0);
	CHECK(pr.removed_objects == 0 && pr.units_before == 1 && pr.units_after == 1);
	dits_buf_free(&b);
	dits_odb_free(db);
	free(dir);
}

/* A damaged record: every read refuses it; a relay lends it (its receiver hashes it). */
static void test_damaged(const char *base)
{
	char *dir = join(base, "damaged");
	dits_odb *db;
	CHECK_RC(dits_odb_open(&db, dir), 0);
	dits_id id;
	put_pack(db, "a record whose payload will be damaged", &id);
	dits_odb_loc loc;
	CHECK_RC(dits_odb_locate(db, &id, &loc), 0);
	char *pack = strdup(dits_odb_pack_path(db, loc.pack));
	REQUIRE(pack != NULL);
	dits_odb_free(db);
	REQUIRE(util_flip_byte(pack, (off_t)loc.offset + 3, 0x20) == 0);
	CHECK_RC(dits_odb_open(&db, dir), 0);
	dits_buf b = DITS_BUF_INIT;
	dits_odb_view v;
	CHECK_RC(dits_odb_read(db, &id, &b, NULL), DITS_ECORRUPT);
	CHECK_RC(dits_odb_borrow(db, &id, 0, &v), DITS_ECORRUPT);
	CHECK(v.data == NULL);
	sink_buf s = { DITS_BUF_INIT, 0 };
	CHECK_RC(dits_odb_stream(db, &id, sink, &s), DITS_ECORRUPT);
	CHECK(s.calls == 0);
	CHECK_RC(dits_odb_borrow(db, &id, DITS_ODB_RELAY, &v), 0);
	CHECK(v.len == loc.length && v.data[3] != "a record whose payload will be damaged"[3]);
	dits_odb_view_release(&v);
	dits_buf_free(&s.b);
	dits_buf_free(&b);
	dits_odb_free(db);
	free(pack);
	free(dir);
}

/* ---- the promisor ------------------------------------------------------ */

typedef struct remote_store {
	dits_odb *src;   /* what the "remote" holds */
	int calls;
	size_t asked;    /* ids asked for, over all calls */
	dits_id nowhere; /* read from inside a fetch: must not fetch again */
	int inner_rc;
} remote_store;

static int copy_from(void *ctx, dits_odb *db, const dits_id *ids, size_t n)
{
	remote_store *rs = ctx;
	rs->calls++;
	rs->asked += n;
	dits_buf b = DITS_BUF_INIT;
	rs->inner_rc = dits_odb_read(db, &rs->nowhere, &b, NULL);
	dits_pack_writer *w;
	int rc = dits_pack_writer_new(&w, db);
	for (size_t i = 0; i < n && !rc; i++) {
		uint8_t type;
		if (dits_odb_read(rs->src, &ids[i], &b, &type)) {
			dits_error_clear();
			continue; /* the remote lacks it too */
		}
		rc = dits_pack_writer_put(w, type, &ids[i], b.data, b.len, NULL);
	}
	if (!rc)
		rc = dits_pack_writer_finish(w);
	dits_pack_writer_free(w);
	dits_buf_free(&b);
	return rc;
}

static void test_promisor(const char *base)
{
	char *rdir = join(base, "remote"), *ldir = join(base, "local");
	remote_store rs = { 0 };
	CHECK_RC(dits_odb_open(&rs.src, rdir), 0);
	dits_id a, b, c, here;
	put_pack(rs.src, "fetched on a read", &a);
	put_pack(rs.src, "fetched in a batch", &b);
	put_pack(rs.src, "fetched in a batch too", &c);
	dits_hash_buf(&rs.nowhere, "nowhere", 7);

	dits_odb *db;
	CHECK_RC(dits_odb_open(&db, ldir), 0);
	put_pack(db, "here already", &here);
	CHECK(!dits_odb_has_promisor(db));
	dits_odb_backend *p;
	CHECK_RC(dits_odb_promisor_new(&p, copy_from, &rs, NULL), 0);
	CHECK_RC(dits_odb_add_backend(db, p), 0);
	CHECK(dits_odb_has_promisor(db));

	/* Lookups stay local: nothing is fetched to answer them. */
	CHECK(!dits_odb_exists(db, &a));
	CHECK_RC(dits_odb_read_header(db, &a, NULL, NULL), DITS_ENOTFOUND);
	int n = 0;
	CHECK_RC(dits_odb_foreach(db, count_each, &n), 0);
	CHECK(n == 1 && rs.calls == 0);

	/* A read fetches it, once; a read made during the fetch does not fetch. */
	dits_buf buf = DITS_BUF_INIT;
	CHECK_RC(dits_odb_read(db, &a, &buf, NULL), 0);
	CHECK(buf.len == 17 && !memcmp(buf.data, "fetched on a read", 17));
	CHECK(rs.calls == 1 && rs.asked == 1);
	CHECK(rs.inner_rc == DITS_ENOTFOUND);
	CHECK(dits_odb_exists(db, &a));
	CHECK_EQ_U64(dits_odb_pack_count(db), 2);
	CHECK_RC(dits_odb_read(db, &a, &buf, NULL), 0);
	CHECK(rs.calls == 1);

	/* A batch asks once for what is missing only. */
	dits_id want[3] = { here, b, c };
	CHECK_RC(dits_odb_fetch_missing(db, want, 3), 0);
	CHECK(rs.calls == 2 && rs.asked == 3);
	CHECK(dits_odb_exists(db, &b) && dits_odb_exists(db, &c));

	/* What the remote lacks is missing, by name. */
	CHECK_RC(dits_odb_read(db, &rs.nowhere, &buf, NULL), DITS_ENOTFOUND);
	CHECK(strstr(dits_error_last(), "missing from the store") != NULL);
	CHECK_RC(dits_odb_fetch_missing(db, &rs.nowhere, 1), DITS_ENOTFOUND);
	CHECK(strstr(dits_error_last(), "could not be fetched") != NULL);

	/* Fetched objects stay: a store opened afresh (no promisor) has them. */
	dits_odb_free(db);
	CHECK_RC(dits_odb_open(&db, ldir), 0);
	CHECK(dits_odb_exists(db, &a) && dits_odb_exists(db, &b) && dits_odb_exists(db, &c));
	CHECK_RC(dits_odb_read(db, &rs.nowhere, &buf, NULL), DITS_ENOTFOUND);
	dits_odb_free(db);
	dits_odb_free(rs.src);
	dits_buf_free(&buf);
	free(rdir);
	free(ldir);
}

int main(void)
{
	char *base = util_mkdtemp("odb-backends");
	REQUIRE(base != NULL);
	test_order(base);
	test_sweep(base);
	test_damaged(base);
	test_promisor(base);
	util_rm_rf(base);
	free(base);
	return check_done();
}
