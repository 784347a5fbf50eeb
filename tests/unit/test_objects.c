/*
 * Manifests (segmented chunk lists), trees and commits: round trips,
 * canonical bytes, and rejection of malformed input.
 */
#include "error.h"
#include "hash.h"
#include "object.h"
#include "odb.h"
#include "odb_pack.h"
#include "worktree.h"

#include "check.h"
#include "util.h"

static dits_odb *db;

static void id_of_counter(dits_id *id, uint64_t salt, uint64_t i)
{
	uint64_t v[2] = { salt, i };
	dits_hash_buf(id, v, sizeof v);
}

static void make_manifest(dits_manifest *m, uint64_t n, uint64_t salt)
{
	dits_manifest_init(m);
	util_rng r = { salt * 2654435761u + 1 };
	dits_hasher h;
	dits_hasher_init(&h);
	for (uint64_t i = 0; i < n; i++) {
		dits_id id;
		id_of_counter(&id, salt, i);
		uint32_t len = (uint32_t)(util_rng_next(&r) % 262144) + 1;
		REQUIRE(dits_manifest_push(m, &id, len) == 0);
		m->size += len;
		dits_hasher_update(&h, id.b, sizeof id.b);
	}
	dits_hasher_final(&h, &m->content);
}

static bool manifest_equal(const dits_manifest *a, const dits_manifest *b)
{
	if (a->size != b->size || a->nchunks != b->nchunks || !dits_id_eq(&a->content, &b->content))
		return false;
	for (uint64_t i = 0; i < a->nchunks; i++)
		if (!dits_id_eq(&a->chunks[i].id, &b->chunks[i].id) || a->chunks[i].len != b->chunks[i].len)
			return false;
	return true;
}

static int write_manifest(const dits_manifest *m, dits_id *out)
{
	dits_pack_writer *w;
	int rc = dits_pack_writer_new(&w, db);
	if (rc)
		return rc;
	rc = dits_manifest_write(w, m, out);
	if (!rc)
		rc = dits_pack_writer_finish(w);
	dits_pack_writer_free(w);
	return rc;
}

static void test_manifest_roundtrip(void)
{
	const uint64_t counts[] = { 0, 1, 2, 1000, 1024, 1025, 5000 };
	for (size_t k = 0; k < sizeof counts / sizeof *counts; k++) {
		uint64_t n = counts[k];
		dits_manifest m;
		make_manifest(&m, n, 100 + k);
		dits_id pre, id;
		dits_manifest_id(&m, &pre);
		CHECK(!dits_id_is_zero(&pre));
		CHECK_RC(write_manifest(&m, &id), 0);
		CHECK(dits_id_eq(&pre, &id));
		dits_odb_loc loc;
		CHECK_RC(dits_odb_locate(db, &id, &loc), 0);
		CHECK_EQ_U64(loc.type, DITS_OBJ_MANIFEST);

		dits_manifest back;
		CHECK_RC(dits_manifest_read(db, &id, &back), 0);
		CHECK(manifest_equal(&m, &back));
		if (!manifest_equal(&m, &back))
			fprintf(stderr, "  manifest of %llu chunks differs after the round trip\n",
			        (unsigned long long)n);
		dits_manifest_free(&back);

		dits_manifest_head h;
		CHECK_RC(dits_manifest_read_head(db, &id, &h), 0);
		CHECK_EQ_U64(h.size, m.size);
		CHECK_EQ_U64(h.nchunks, n);
		CHECK(dits_id_eq(&h.content, &m.content));
		if (n == 0)
			CHECK_EQ_U64(h.nsegs, 0);
		else
			CHECK(h.nsegs >= 1 && h.nsegs <= n);
		if (n >= 1025)
			CHECK(h.nsegs > 1);
		for (uint32_t s = 0; s < h.nsegs; s++) {
			CHECK_RC(dits_odb_locate(db, &h.segs[s], &loc), 0);
			CHECK_EQ_U64(loc.type, DITS_OBJ_CHUNKLIST);
		}
		dits_manifest_head_free(&h);

		/* Writing it again stores nothing new. */
		dits_pack_writer *w;
		CHECK_RC(dits_pack_writer_new(&w, db), 0);
		dits_id again;
		CHECK_RC(dits_manifest_write(w, &m, &again), 0);
		CHECK(dits_id_eq(&again, &id));
		CHECK_EQ_U64(dits_pack_writer_new_records(w), 0);
		dits_pack_writer_free(w);
		dits_manifest_free(&m);
	}

	/* Same chunks, different size or content hash: different ids. */
	dits_manifest a, b;
	make_manifest(&a, 10, 1);
	make_manifest(&b, 10, 1);
	dits_id ia, ib;
	dits_manifest_id(&a, &ia);
	dits_manifest_id(&b, &ib);
	CHECK(dits_id_eq(&ia, &ib));
	b.content.b[0] ^= 1;
	dits_manifest_id(&b, &ib);
	CHECK(!dits_id_eq(&ia, &ib));
	b.content.b[0] ^= 1;
	b.chunks[3].len++;
	b.size++;
	dits_manifest_id(&b, &ib);
	CHECK(!dits_id_eq(&ia, &ib));
	dits_manifest_free(&a);
	dits_manifest_free(&b);
}

static bool has_seg(const dits_manifest_head *h, const dits_id *id)
{
	for (uint32_t i = 0; i < h->nsegs; i++)
		if (dits_id_eq(&h->segs[i], id))
			return true;
	return false;
}

static uint32_t segs_not_in(const dits_manifest_head *a, const dits_manifest_head *b)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < a->nsegs; i++)
		n += !has_seg(b, &a->segs[i]);
	return n;
}

/* A fresh id whose last byte does (boundary) or does not end a segment. */
static void pick_id(dits_id *id, bool boundary, uint64_t salt)
{
	for (uint64_t i = 0;; i++) {
		id_of_counter(id, 0xfeed0000u + salt, i);
		if (((id->b[DITS_ID_LEN - 1] & 63) == 0) == boundary)
			return;
	}
}

static void test_manifest_locality(void)
{
	const uint64_t n = 5000;
	dits_manifest base;
	make_manifest(&base, n, 777);
	dits_id base_id;
	CHECK_RC(write_manifest(&base, &base_id), 0);
	dits_manifest_head hb;
	CHECK_RC(dits_manifest_read_head(db, &base_id, &hb), 0);
	CHECK(hb.nsegs > 1);

	/* Find one chunk in the middle that ends a segment and one that does not. */
	uint64_t at_boundary = 0, inside = 0;
	for (uint64_t i = n / 2; i < n - 1 && (!at_boundary || !inside); i++) {
		bool b = (base.chunks[i].id.b[DITS_ID_LEN - 1] & 63) == 0;
		if (b && !at_boundary)
			at_boundary = i;
		if (!b && !inside)
			inside = i;
	}
	REQUIRE(at_boundary && inside);

	struct {
		const char *what;
		uint64_t i;
		bool new_boundary;
		bool len_only;
	} cases[] = {
		{ "inside -> inside", inside, false, false },
		{ "inside -> boundary", inside, true, false },
		{ "boundary -> inside", at_boundary, false, false },
		{ "boundary -> boundary", at_boundary, true, false },
		{ "length only", inside, false, true },
	};
	for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
		dits_manifest m;
		make_manifest(&m, n, 777);
		if (cases[k].len_only) {
			m.chunks[cases[k].i].len += 5;
			m.size += 5;
		} else {
			pick_id(&m.chunks[cases[k].i].id, cases[k].new_boundary, k);
		}
		dits_id id;
		CHECK_RC(write_manifest(&m, &id), 0);
		CHECK(!dits_id_eq(&id, &base_id));
		dits_manifest_head h;
		CHECK_RC(dits_manifest_read_head(db, &id, &h), 0);
		uint32_t added = segs_not_in(&h, &hb), removed = segs_not_in(&hb, &h);
		if (!(added >= 1 && added <= 2 && removed >= 1 && removed <= 2))
			fprintf(stderr, "  %s: %u segments new, %u gone (of %u)\n", cases[k].what, added, removed,
			        hb.nsegs);
		CHECK(added >= 1 && added <= 2);
		CHECK(removed >= 1 && removed <= 2);
		dits_manifest back;
		CHECK_RC(dits_manifest_read(db, &id, &back), 0);
		CHECK(manifest_equal(&m, &back));
		dits_manifest_free(&back);
		dits_manifest_head_free(&h);
		dits_manifest_free(&m);
	}
	dits_manifest_head_free(&hb);
	dits_manifest_free(&base);
}

static void test_manifest_bad(void)
{
	dits_pack_writer *w;
	CHECK_RC(dits_pack_writer_new(&w, db), 0);
	const char junk[] = "DMF1 this is not a manifest";
	dits_id bad, tree_id;
	CHECK_RC(dits_pack_writer_put_object(w, DITS_OBJ_MANIFEST, junk, sizeof junk, &bad), 0);

	/* A head naming a segment whose counts disagree with it. */
	dits_manifest m;
	make_manifest(&m, 3, 5);
	dits_id good;
	CHECK_RC(dits_manifest_write(w, &m, &good), 0);
	CHECK_RC(dits_pack_writer_put_object(w, DITS_OBJ_TREE, "DTR1\0\0\0\0", 8, &tree_id), 0);
	CHECK_RC(dits_pack_writer_finish(w), 0);
	dits_pack_writer_free(w);

	dits_manifest out;
	CHECK_RC(dits_manifest_read(db, &bad, &out), DITS_ECORRUPT);
	dits_manifest_head h;
	CHECK_RC(dits_manifest_read_head(db, &bad, &h), DITS_ECORRUPT);
	CHECK_RC(dits_manifest_read(db, &tree_id, &out), DITS_ECORRUPT);
	dits_id missing;
	memset(missing.b, 0x33, sizeof missing.b);
	CHECK_RC(dits_manifest_read(db, &missing, &out), DITS_ENOTFOUND);

	/* Read the good head, alter its size field, store it: size no longer adds up. */
	dits_buf b = DITS_BUF_INIT;
	CHECK_RC(dits_odb_read(db, &good, &b, NULL), 0);
	REQUIRE(b.len >= 12);
	b.data[4] ^= 1;
	CHECK_RC(dits_pack_writer_new(&w, db), 0);
	dits_id altered;
	CHECK_RC(dits_pack_writer_put_object(w, DITS_OBJ_MANIFEST, b.data, b.len, &altered), 0);
	/* And one cut short by a byte. */
	dits_id shorter;
	CHECK_RC(dits_pack_writer_put_object(w, DITS_OBJ_MANIFEST, b.data, b.len - 1, &shorter), 0);
	CHECK_RC(dits_pack_writer_finish(w), 0);
	dits_pack_writer_free(w);
	CHECK_RC(dits_manifest_read(db, &altered, &out), DITS_ECORRUPT);
	CHECK_RC(dits_manifest_read(db, &shorter, &out), DITS_ECORRUPT);
	CHECK_RC(dits_manifest_read_head(db, &shorter, &h), DITS_ECORRUPT);
	dits_buf_free(&b);
	dits_manifest_free(&m);
}

/* ---- trees ------------------------------------------------------------ */

static void fill_id(dits_id *id, uint8_t v)
{
	for (int i = 0; i < DITS_ID_LEN; i++)
		id->b[i] = (uint8_t)(v + i);
}

static void test_tree_roundtrip(void)
{
	dits_tree t;
	dits_tree_init(&t);
	const char *names[] = { "zeta", "alpha", "Beta", "mid.txt", "dir", "a-b", "a.b", "a0", "\xc3\xa9t\xc3\xa9" };
	const size_t nn = sizeof names / sizeof *names;
	for (size_t i = 0; i < nn; i++) {
		dits_id id;
		fill_id(&id, (uint8_t)(i * 10));
		bool dir = !strcmp(names[i], "dir");
		CHECK_RC(dits_tree_add(&t, names[i], dir ? DITS_KIND_TREE : DITS_KIND_FILE,
		                       dir ? 040000 : (i % 2 ? 0100755 : 0100644), dir ? 0 : 1000 * i + 7, &id), 0);
	}
	dits_buf b = DITS_BUF_INIT;
	CHECK_RC(dits_tree_serialize(&t, &b), 0);
	/* Serializing sorted the entries by name (bytewise). */
	for (size_t i = 1; i < t.n; i++)
		CHECK(strcmp(t.e[i - 1].name, t.e[i].name) < 0);

	dits_tree p;
	CHECK_RC(dits_tree_parse(&p, b.data, b.len), 0);
	CHECK_EQ_U64(p.n, nn);
	for (size_t i = 0; i < p.n && i < t.n; i++) {
		CHECK(strcmp(p.e[i].name, t.e[i].name) == 0);
		CHECK_EQ_U64(p.e[i].kind, t.e[i].kind);
		CHECK_EQ_U64(p.e[i].mode, t.e[i].mode);
		CHECK_EQ_U64(p.e[i].size, t.e[i].size);
		CHECK(dits_id_eq(&p.e[i].id, &t.e[i].id));
	}
	/* Canonical: the same tree added in another order gives the same bytes. */
	dits_tree r;
	dits_tree_init(&r);
	for (size_t i = p.n; i-- > 0;)
		CHECK_RC(dits_tree_add(&r, p.e[i].name, p.e[i].kind, p.e[i].mode, p.e[i].size, &p.e[i].id), 0);
	dits_buf b2 = DITS_BUF_INIT;
	CHECK_RC(dits_tree_serialize(&r, &b2), 0);
	CHECK(b.len == b2.len && memcmp(b.data, b2.data, b.len) == 0);
	dits_tree_free(&r);
	dits_tree_free(&p);

	/* Truncated at every length, and with a byte too many. */
	size_t accepted = 0;
	for (size_t len = 0; len < b.len; len++) {
		dits_tree q;
		if (dits_tree_parse(&q, b.data, len) == 0) {
			accepted++;
			dits_tree_free(&q);
		}
	}
	CHECK_EQ_U64(accepted, 0);
	dits_buf_put_u8(&b, 0);
	dits_tree q;
	CHECK(dits_tree_parse(&q, b.data, b.len) != 0);
	b.len--;

	/* Stored and read back through the odb. */
	dits_pack_writer *w;
	CHECK_RC(dits_pack_writer_new(&w, db), 0);
	dits_id tid;
	CHECK_RC(dits_pack_writer_put_object(w, DITS_OBJ_TREE, b.data, b.len, &tid), 0);
	CHECK_RC(dits_pack_writer_finish(w), 0);
	dits_pack_writer_free(w);
	CHECK_RC(dits_tree_read(db, &tid, &q), 0);
	CHECK_EQ_U64(q.n, nn);
	dits_tree_free(&q);

	/* The empty tree. */
	dits_tree e;
	dits_tree_init(&e);
	CHECK_RC(dits_tree_serialize(&e, &b2), 0);
	CHECK_EQ_U64(b2.len, 8);
	CHECK_RC(dits_tree_parse(&q, b2.data, b2.len), 0);
	CHECK_EQ_U64(q.n, 0);
	dits_tree_free(&q);
	dits_tree_free(&e);

	dits_tree_free(&t);
	dits_buf_free(&b);
	dits_buf_free(&b2);
}

/* Serializes a one-entry tree named name (bypassing any checks) into b. */
static void one_entry(dits_buf *b, const char *name, size_t nl, uint8_t kind)
{
	dits_id id;
	fill_id(&id, 1);
	dits_buf_reset(b);
	dits_buf_put(b, "DTR1", 4);
	dits_buf_put_u32(b, 1);
	dits_buf_put_u8(b, kind);
	dits_buf_put_u32(b, kind == DITS_KIND_TREE ? 040000 : 0100644);
	dits_buf_put_u64(b, kind == DITS_KIND_TREE ? 0 : 5);
	dits_buf_put(b, id.b, DITS_ID_LEN);
	dits_buf_put_u16(b, (uint16_t)nl);
	dits_buf_put(b, name, nl);
}

static void test_tree_bad(void)
{
	dits_buf b = DITS_BUF_INIT;
	dits_tree t;

	one_entry(&b, "ok", 2, DITS_KIND_FILE);
	CHECK_RC(dits_tree_parse(&t, b.data, b.len), 0);
	dits_tree_free(&t);

	one_entry(&b, "a/b", 3, DITS_KIND_FILE);
	CHECK(dits_tree_parse(&t, b.data, b.len) != 0);
	one_entry(&b, "/", 1, DITS_KIND_FILE);
	CHECK(dits_tree_parse(&t, b.data, b.len) != 0);
	one_entry(&b, "ab/", 3, DITS_KIND_TREE);
	CHECK(dits_tree_parse(&t, b.data, b.len) != 0);
	one_entry(&b, "a\0b", 3, DITS_KIND_FILE);
	CHECK(dits_tree_parse(&t, b.data, b.len) != 0);
	one_entry(&b, "", 0, DITS_KIND_FILE);
	CHECK(dits_tree_parse(&t, b.data, b.len) != 0);
	one_entry(&b, "ok", 2, 3);
	CHECK(dits_tree_parse(&t, b.data, b.len) != 0);
	one_entry(&b, "ok", 2, 0);
	CHECK(dits_tree_parse(&t, b.data, b.len) != 0);
	one_entry(&b, "ok", 2, DITS_KIND_FILE);
	b.data[0] = 'X';
	CHECK(dits_tree_parse(&t, b.data, b.len) != 0);
	/* Count larger than the entries present. */
	one_entry(&b, "ok", 2, DITS_KIND_FILE);
	b.data[4] = 2;
	CHECK(dits_tree_parse(&t, b.data, b.len) != 0);
	/* Name length running past the end. */
	one_entry(&b, "ok", 2, DITS_KIND_FILE);
	b.data[b.len - 4] = 0xff;
	CHECK(dits_tree_parse(&t, b.data, b.len) != 0);
	CHECK(dits_tree_parse(&t, (const uint8_t *)"", 0) != 0);

	/* A name with '/' cannot be added, nor serialized if put in by hand: it could never be read back. */
	dits_tree w;
	dits_tree_init(&w);
	dits_id id;
	fill_id(&id, 9);
	CHECK_RC(dits_tree_add(&w, "a/b", DITS_KIND_FILE, 0100644, 1, &id), DITS_EINVALID);
	CHECK_EQ_U64(w.n, 0);
	CHECK_RC(dits_tree_add(&w, "", DITS_KIND_FILE, 0100644, 1, &id), DITS_EINVALID);
	CHECK_EQ_U64(w.n, 0);
	dits_tree_free(&w);

	dits_buf_free(&b);
}

/* Appends one entry to b (no checks); the count in b's header is bumped. */
static void put_entry(dits_buf *b, const char *name, size_t nl, uint8_t kind, uint32_t mode, uint64_t size)
{
	dits_id id;
	fill_id(&id, (uint8_t)nl);
	if (b->len == 0) {
		dits_buf_put(b, "DTR1", 4);
		dits_buf_put_u32(b, 0);
	}
	b->data[4]++;
	dits_buf_put_u8(b, kind);
	dits_buf_put_u32(b, mode);
	dits_buf_put_u64(b, size);
	dits_buf_put(b, id.b, DITS_ID_LEN);
	dits_buf_put_u16(b, (uint16_t)nl);
	dits_buf_put(b, name, nl);
}

/* parse refuses b with DITS_ECORRUPT, naming the tree's id and, if want, the text want. */
static void check_refused(const dits_buf *b, const char *want, int line)
{
	dits_tree t;
	int rc = dits_tree_parse(&t, b->data, b->len);
	if (rc == 0)
		dits_tree_free(&t);
	dits_id tid;
	char hex[DITS_ID_HEXLEN + 1];
	dits_hash_buf(&tid, b->data, b->len);
	dits_id_hex(hex, &tid);
	const char *msg = dits_error_last();
	bool ok = rc == DITS_ECORRUPT && strstr(msg, hex) && (!want || strstr(msg, want));
	if (!ok)
		fprintf(stderr, "  line %d: parse returned %d, message: %s (want %s)\n", line, rc, msg,
		        want ? want : "the tree id");
	CHECK(ok);
	/* dits_object_check (the server's and the fetch's check) says the same. */
	CHECK_RC(dits_object_check(DITS_OBJ_TREE, NULL, b->data, b->len), DITS_ECORRUPT);
}

typedef struct named {
	const char *s;
	size_t len;   /* 0: strlen(s) */
	const char *shown; /* how the message shows it */
} named;

/* Every reserved form is refused by parse, add and serialize, at the top of a tree or beside others. */
static void test_tree_reserved(void)
{
	static const named bad[] = {
		{ "", 0, "''" },
		{ ".", 0, "'.'" },
		{ "..", 0, "'..'" },
		{ "a/b", 0, "'a/b'" },
		{ "/", 0, "'/'" },
		{ "a\\b", 0, "'a\\x5cb'" },
		{ "a\0b", 3, "'a\\x00b'" },
		{ ".dits", 0, "'.dits'" },
		{ ".DITS", 0, "'.DITS'" },
		{ ".Dits", 0, "'.Dits'" },
		{ ".dItS", 0, "'.dItS'" },
		{ ".dits.", 0, "'.dits.'" },
		{ ".dits ", 0, "'.dits '" },
		{ ".dits. . ", 0, NULL },
		{ ".DITS...", 0, NULL },
		{ ".dits::$INDEX_ALLOCATION", 0, NULL },
		{ ".Dits:stream", 0, NULL },
		{ "DITS~1", 0, "'DITS~1'" },
		{ "dits~1", 0, NULL },
		{ "Dits~4", 0, NULL },
		{ "DITS~12.", 0, NULL },
		{ "dits~1 ", 0, NULL },
		{ "DITS~1::$DATA", 0, NULL },
		{ ".d\xe2\x80\x8cits", 0, "'.d\\xe2\\x80\\x8cits'" },       /* U+200C inside */
		{ ".dits\xe2\x80\x8d", 0, NULL },                             /* U+200D after */
		{ "\xef\xbb\xbf.dits", 0, NULL },                             /* U+FEFF before */
		{ ".D\xe2\x80\x8eI\xe2\x80\xaaTS", 0, NULL },                 /* U+200E, U+202A */
		{ ".\xe2\x81\xaf" "dits", 0, NULL },                          /* U+206F */
		{ ".\xe2\x80\x8f" "DiTs\xe2\x80\xae.", 0, NULL },             /* U+200F, U+202E, a dot */
		{ "D\xe2\x80\x8cITS~1", 0, NULL },
		{ "...", 0, NULL },
		{ " ", 0, NULL },
		{ ". .", 0, NULL },
		{ "\xe2\x80\x8c", 0, NULL },                                  /* nothing but an ignorable */
		{ ".\xe2\x80\x8c.", 0, NULL },
	};
	static const char *const good[] = {
		".dits2", ".ditsignore", "dits", "x.dits", ".dit", "dits~", "dits~a", "DITS~1x", ".dits~1",
		".dits\xc3\xa9", ".d\xc3\xacts", "10:30.mov", "..a", "a..", "a.", " a", ".d its", "\xe2\x80\x8c" "a",
		"a\x01" "b",
	};
	dits_buf b = DITS_BUF_INIT, b2 = DITS_BUF_INIT;
	dits_id id;
	fill_id(&id, 3);
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		const named *n = &bad[i];
		size_t len = n->len ? n->len : strlen(n->s);
		CHECK(dits_tree_name_refused(n->s, len) != NULL);
		/* Alone, as a file and as a tree. */
		dits_buf_reset(&b);
		put_entry(&b, n->s, len, DITS_KIND_FILE, 0100644, 5);
		check_refused(&b, n->shown, (int)i);
		dits_buf_reset(&b);
		put_entry(&b, n->s, len, DITS_KIND_TREE, 040000, 0);
		check_refused(&b, n->shown, (int)i);
		/* After a good entry (sorted before every bad name but the empty one). */
		if (len) {
			dits_buf_reset(&b);
			put_entry(&b, "\x01", 1, DITS_KIND_FILE, 0100644, 5);
			put_entry(&b, n->s, len, DITS_KIND_TREE, 040000, 0);
			check_refused(&b, n->shown, (int)i);
		}
		/* add refuses it; serialize refuses it when put in by hand. */
		if (len == strlen(n->s)) {
			dits_tree t;
			dits_tree_init(&t);
			CHECK_RC(dits_tree_add(&t, n->s, DITS_KIND_FILE, 0100644, 1, &id), DITS_EINVALID);
			CHECK_RC(dits_tree_add(&t, n->s, DITS_KIND_TREE, 040000, 0, &id), DITS_EINVALID);
			CHECK_EQ_U64(t.n, 0);
			CHECK_RC(dits_tree_add(&t, "ok", DITS_KIND_FILE, 0100644, 1, &id), 0);
			char *nm = strdup(n->s);
			REQUIRE(nm != NULL);
			free(t.e[0].name);
			t.e[0].name = nm;
			CHECK_RC(dits_tree_serialize(&t, &b2), DITS_EINVALID);
			dits_tree_free(&t);
		}
	}
	/* Near misses are names like any other: added, serialized and parsed back. */
	dits_tree t;
	dits_tree_init(&t);
	for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
		CHECK(dits_tree_name_refused(good[i], strlen(good[i])) == NULL);
		CHECK_RC(dits_tree_add(&t, good[i], DITS_KIND_FILE, 0100644, 1, &id), 0);
	}
	CHECK_RC(dits_tree_serialize(&t, &b), 0);
	dits_tree p;
	CHECK_RC(dits_tree_parse(&p, b.data, b.len), 0);
	CHECK_EQ_U64(p.n, sizeof good / sizeof *good);
	CHECK_RC(dits_object_check(DITS_OBJ_TREE, NULL, b.data, b.len), 0);
	dits_tree_free(&p);
	dits_tree_free(&t);

	/* Canonical form: a name twice, entries out of order, a prefix after its extension. */
	dits_buf_reset(&b);
	put_entry(&b, "a", 1, DITS_KIND_FILE, 0100644, 5);
	put_entry(&b, "a", 1, DITS_KIND_FILE, 0100644, 5);
	check_refused(&b, "appears twice", __LINE__);
	dits_buf_reset(&b);
	put_entry(&b, "a", 1, DITS_KIND_FILE, 0100644, 5);
	put_entry(&b, "a", 1, DITS_KIND_TREE, 040000, 0);
	check_refused(&b, "appears twice", __LINE__);
	dits_buf_reset(&b);
	put_entry(&b, "b", 1, DITS_KIND_FILE, 0100644, 5);
	put_entry(&b, "a", 1, DITS_KIND_FILE, 0100644, 5);
	check_refused(&b, "not sorted", __LINE__);
	dits_buf_reset(&b);
	put_entry(&b, "ab", 2, DITS_KIND_FILE, 0100644, 5);
	put_entry(&b, "a", 1, DITS_KIND_FILE, 0100644, 5);
	check_refused(&b, "not sorted", __LINE__);
	dits_buf_reset(&b);
	put_entry(&b, "B", 1, DITS_KIND_FILE, 0100644, 5);
	put_entry(&b, "a", 1, DITS_KIND_FILE, 0100644, 5);
	put_entry(&b, "\xc3\xa9", 2, DITS_KIND_FILE, 0100644, 5);
	dits_tree q;
	CHECK_RC(dits_tree_parse(&q, b.data, b.len), 0); /* bytewise: 'B' < 'a' < 0xc3 */
	dits_tree_free(&q);
	/* Modes and sizes that do not fit the kind. */
	dits_buf_reset(&b);
	put_entry(&b, "f", 1, DITS_KIND_FILE, 0120777, 5);
	check_refused(&b, "mode", __LINE__);
	dits_buf_reset(&b);
	put_entry(&b, "f", 1, DITS_KIND_FILE, 0104755, 5);
	check_refused(&b, "mode", __LINE__);
	dits_buf_reset(&b);
	put_entry(&b, "d", 1, DITS_KIND_TREE, 0100644, 0);
	check_refused(&b, "mode", __LINE__);
	dits_buf_reset(&b);
	put_entry(&b, "d", 1, DITS_KIND_TREE, 040000, 7);
	check_refused(&b, "size", __LINE__);
	dits_tree_init(&t);
	CHECK_RC(dits_tree_add(&t, "f", DITS_KIND_FILE, 0120777, 1, &id), DITS_EINVALID);
	CHECK_RC(dits_tree_add(&t, "d", DITS_KIND_TREE, 040000, 9, &id), DITS_EINVALID);
	CHECK_RC(dits_tree_add(&t, "d", 7, 040000, 0, &id), DITS_EINVALID);
	CHECK_EQ_U64(t.n, 0);
	/* A name twice is refused by serialize. */
	CHECK_RC(dits_tree_add(&t, "x", DITS_KIND_FILE, 0100644, 1, &id), 0);
	CHECK_RC(dits_tree_add(&t, "x", DITS_KIND_FILE, 0100755, 1, &id), 0);
	CHECK_RC(dits_tree_serialize(&t, &b), DITS_EINVALID);
	CHECK(strstr(dits_error_last(), "twice") != NULL);
	dits_tree_free(&t);

	/* A long bad name is shown cut short, escaped. */
	char longname[400];
	memset(longname, 'x', sizeof longname);
	memcpy(longname, "a/", 2);
	dits_buf_reset(&b);
	put_entry(&b, longname, sizeof longname, DITS_KIND_FILE, 0100644, 5);
	check_refused(&b, "xxx...'", __LINE__);
	CHECK(strlen(dits_error_last()) < 400);

	/* Stored, a bad tree is refused by dits_tree_read, naming its id. */
	dits_buf_reset(&b);
	put_entry(&b, ".dits", 5, DITS_KIND_TREE, 040000, 0);
	dits_pack_writer *w;
	CHECK_RC(dits_pack_writer_new(&w, db), 0);
	dits_id tid;
	CHECK_RC(dits_pack_writer_put_object(w, DITS_OBJ_TREE, b.data, b.len, &tid), 0);
	CHECK_RC(dits_pack_writer_finish(w), 0);
	dits_pack_writer_free(w);
	char hex[DITS_ID_HEXLEN + 1];
	dits_id_hex(hex, &tid);
	CHECK_RC(dits_tree_read(db, &tid, &q), DITS_ECORRUPT);
	CHECK(strstr(dits_error_last(), hex) && strstr(dits_error_last(), "'.dits'"));

	/* dits_object_check: commits must parse; other types are not looked into. */
	CHECK_RC(dits_object_check(DITS_OBJ_COMMIT, NULL, "garbage", 7), DITS_ECORRUPT);
	CHECK_RC(dits_object_check(DITS_OBJ_CHUNK, NULL, "garbage", 7), 0);
	CHECK_RC(dits_object_check(DITS_OBJ_TREE, NULL, "DTR1", 4), DITS_ECORRUPT);

	dits_buf_free(&b);
	dits_buf_free(&b2);
}

/* ---- commits ---------------------------------------------------------- */

static void set_sig(dits_signature *s, const char *name, const char *email, int64_t t, int tz)
{
	s->name = strdup(name);
	s->email = strdup(email);
	s->time = t;
	s->tz_minutes = tz;
}

static void check_commit_eq(const dits_commit *a, const dits_commit *b)
{
	CHECK(dits_id_eq(&a->tree, &b->tree));
	CHECK_EQ_U64(a->nparents, b->nparents);
	for (size_t i = 0; i < a->nparents && i < b->nparents; i++)
		CHECK(dits_id_eq(&a->parents[i], &b->parents[i]));
	CHECK(a->author.name && b->author.name && !strcmp(a->author.name, b->author.name));
	CHECK(a->author.email && b->author.email && !strcmp(a->author.email, b->author.email));
	CHECK(a->author.time == b->author.time);
	CHECK(a->author.tz_minutes == b->author.tz_minutes);
	CHECK(a->committer.name && b->committer.name && !strcmp(a->committer.name, b->committer.name));
	CHECK(a->committer.email && b->committer.email && !strcmp(a->committer.email, b->committer.email));
	CHECK(a->committer.time == b->committer.time);
	CHECK(a->committer.tz_minutes == b->committer.tz_minutes);
	CHECK(a->message && b->message && !strcmp(a->message, b->message));
}

static void test_commit_roundtrip(void)
{
	const char *messages[] = {
		"one line\n",
		"subject\n\nbody line one\nbody line two\n\n  indented\n",
		"",
		"no newline at end",
	};
	const int tzs[] = { 0, 120, -300, -30 };
	for (size_t np = 0; np <= 2; np++) {
		for (size_t k = 0; k < 4; k++) {
			dits_commit c = { 0 };
			fill_id(&c.tree, (uint8_t)(np * 7 + k));
			dits_id parents[2];
			fill_id(&parents[0], 100);
			fill_id(&parents[1], 200);
			c.parents = parents;
			c.nparents = np;
			set_sig(&c.author, "A. U. Thor", "author@example.com", 1700000000 + (int64_t)k, tzs[k]);
			set_sig(&c.committer, "Com Mitter", "c@example.org", k == 3 ? -5 : 1234567890, tzs[3 - k]);
			c.message = (char *)messages[k];

			dits_buf b = DITS_BUF_INIT;
			CHECK_RC(dits_commit_serialize(&c, &b), 0);
			CHECK(b.len > 14 && !memcmp(b.data, "dits-commit 1\n", 14));
			dits_commit p;
			CHECK_RC(dits_commit_parse(&p, b.data, b.len), 0);
			check_commit_eq(&c, &p);
			dits_buf b2 = DITS_BUF_INIT;
			CHECK_RC(dits_commit_serialize(&p, &b2), 0);
			CHECK(b.len == b2.len && !memcmp(b.data, b2.data, b.len));

			/* Every cut before the message is rejected. */
			const uint8_t *blank = NULL;
			for (size_t i = 0; i + 1 < b.len; i++)
				if (b.data[i] == '\n' && b.data[i + 1] == '\n') {
					blank = b.data + i + 1;
					break;
				}
			REQUIRE(blank != NULL);
			size_t accepted = 0;
			for (size_t len = 0; len <= (size_t)(blank - b.data); len++) {
				dits_commit q;
				if (dits_commit_parse(&q, b.data, len) == 0) {
					accepted++;
					dits_commit_free(&q);
				}
			}
			CHECK_EQ_U64(accepted, 0);

			dits_commit_free(&p);
			dits_buf_free(&b);
			dits_buf_free(&b2);
			c.parents = NULL;
			c.message = NULL;
			dits_commit_free(&c);
		}
	}
}

static void test_commit_bad(void)
{
	const char tree[] = "tree 0000000000000000000000000000000000000000000000000000000000000000\n";
	const char sig[] = "author A <a@b> 1 +0000\ncommitter C <c@d> 2 -0100\n";
	char buf[1024];
	dits_commit c;

	snprintf(buf, sizeof buf, "dits-commit 1\n%s%s\nmsg\n", tree, sig);
	CHECK_RC(dits_commit_parse(&c, (const uint8_t *)buf, strlen(buf)), 0);
	CHECK_EQ_U64(c.nparents, 0);
	CHECK(c.committer.tz_minutes == -60);
	dits_commit_free(&c);

	const char *bad[] = {
		"",
		"garbage",
		"dits-commit 1\n",
		"dits-commit 2\ntree 0000000000000000000000000000000000000000000000000000000000000000\n"
		"author A <a@b> 1 +0000\ncommitter C <c@d> 2 +0000\n\nm",
		/* no tree */
		"dits-commit 1\nauthor A <a@b> 1 +0000\ncommitter C <c@d> 2 +0000\n\nm",
		/* no author */
		"dits-commit 1\ntree 0000000000000000000000000000000000000000000000000000000000000000\n"
		"committer C <c@d> 2 +0000\n\nm",
		/* no committer */
		"dits-commit 1\ntree 0000000000000000000000000000000000000000000000000000000000000000\n"
		"author A <a@b> 1 +0000\n\nm",
		/* short tree id */
		"dits-commit 1\ntree 00000000\nauthor A <a@b> 1 +0000\ncommitter C <c@d> 2 +0000\n\nm",
		/* bad hex in parent */
		"dits-commit 1\ntree 0000000000000000000000000000000000000000000000000000000000000000\n"
		"parent zz00000000000000000000000000000000000000000000000000000000000000\n"
		"author A <a@b> 1 +0000\ncommitter C <c@d> 2 +0000\n\nm",
		/* signature without an email */
		"dits-commit 1\ntree 0000000000000000000000000000000000000000000000000000000000000000\n"
		"author A 1 +0000\ncommitter C <c@d> 2 +0000\n\nm",
		/* signature without a time */
		"dits-commit 1\ntree 0000000000000000000000000000000000000000000000000000000000000000\n"
		"author A <a@b>\ncommitter C <c@d> 2 +0000\n\nm",
		/* no blank line before the message */
		"dits-commit 1\ntree 0000000000000000000000000000000000000000000000000000000000000000\n"
		"author A <a@b> 1 +0000\ncommitter C <c@d> 2 +0000\n",
		/* a second author (the first one's strings once leaked) */
		"dits-commit 1\ntree 0000000000000000000000000000000000000000000000000000000000000000\n"
		"author A <a@b> 1 +0000\nauthor B <b@c> 1 +0000\ncommitter C <c@d> 2 +0000\n\nm",
		/* a second committer */
		"dits-commit 1\ntree 0000000000000000000000000000000000000000000000000000000000000000\n"
		"author A <a@b> 1 +0000\ncommitter C <c@d> 2 +0000\ncommitter D <d@e> 2 +0000\n\nm",
		/* a second tree */
		"dits-commit 1\ntree 0000000000000000000000000000000000000000000000000000000000000000\n"
		"tree 1111111111111111111111111111111111111111111111111111111111111111\n"
		"author A <a@b> 1 +0000\ncommitter C <c@d> 2 +0000\n\nm",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		int rc = dits_commit_parse(&c, (const uint8_t *)bad[i], strlen(bad[i]));
		if (rc == 0) {
			fprintf(stderr, "  garbage case %zu was accepted\n", i);
			dits_commit_free(&c);
		}
		CHECK(rc != 0);
	}
	/* An embedded NUL. */
	snprintf(buf, sizeof buf, "dits-commit 1\n%s%s\nmsg\n", tree, sig);
	size_t len = strlen(buf);
	buf[20] = '\0';
	CHECK(dits_commit_parse(&c, (const uint8_t *)buf, len) != 0);
	/* Random bytes. */
	util_rng r = { 5 };
	uint8_t rnd[300];
	for (int i = 0; i < 50; i++) {
		util_rng_fill(&r, rnd, sizeof rnd);
		int rc = dits_commit_parse(&c, rnd, sizeof rnd);
		CHECK(rc != 0);
		if (rc == 0)
			dits_commit_free(&c);
	}

	/* dits_commit_read wants a commit. */
	dits_pack_writer *w;
	CHECK_RC(dits_pack_writer_new(&w, db), 0);
	dits_id tid, cid;
	CHECK_RC(dits_pack_writer_put_object(w, DITS_OBJ_TREE, "DTR1\0\0\0\0", 8, &tid), 0);
	CHECK_RC(dits_pack_writer_put_object(w, DITS_OBJ_COMMIT, "garbage", 7, &cid), 0);
	CHECK_RC(dits_pack_writer_finish(w), 0);
	dits_pack_writer_free(w);
	CHECK_RC(dits_commit_read(db, &tid, &c), DITS_EINVALID);
	CHECK_RC(dits_commit_read(db, &cid, &c), DITS_ECORRUPT);
}

/* The entry name of t, or NULL. */
static const dits_tree_entry *tree_find(const dits_tree *t, const char *name)
{
	for (size_t i = 0; i < t->n; i++)
		if (!strcmp(t->e[i].name, name))
			return &t->e[i];
	return NULL;
}

static void test_tree_put_file(void)
{
	dits_id a, b, root1, root2, root3, x;
	id_of_counter(&a, 77, 1);
	id_of_counter(&b, 77, 2);
	dits_pack_writer *w;
	REQUIRE(dits_pack_writer_new(&w, db) == 0);
	/* into an empty tree: the directory is made */
	CHECK_RC(dits_tree_put_file(db, w, NULL, "renders/cut.mov", 0100644, 10, &a, &root1), 0);
	/* beside it, and a top-level file */
	CHECK_RC(dits_tree_put_file(db, w, NULL, "notes.txt", 0100644, 3, &b, &x), 0);
	REQUIRE(dits_pack_writer_finish(w) == 0);
	dits_pack_writer_free(w);
	REQUIRE(dits_pack_writer_new(&w, db) == 0);
	CHECK_RC(dits_tree_put_file(db, w, &root1, "renders/cut2.mov", 0100644, 20, &b, &root2), 0);
	/* a base tree is read from the store: what w holds is there once it is finished */
	REQUIRE(dits_pack_writer_finish(w) == 0);
	dits_pack_writer_free(w);
	REQUIRE(dits_pack_writer_new(&w, db) == 0);
	/* replaced: same name, new content */
	CHECK_RC(dits_tree_put_file(db, w, &root2, "renders/cut.mov", 0100755, 30, &b, &root3), 0);
	REQUIRE(dits_pack_writer_finish(w) == 0);
	dits_pack_writer_free(w);
	REQUIRE(dits_pack_writer_new(&w, db) == 0);
	/* a file where a directory must go, a directory where a file must go, a refused name */
	CHECK_RC(dits_tree_put_file(db, w, &root3, "renders/cut.mov/x", 0100644, 1, &a, &x), DITS_ECONFLICT);
	CHECK_RC(dits_tree_put_file(db, w, &root3, "renders", 0100644, 1, &a, &x), DITS_ECONFLICT);
	CHECK_RC(dits_tree_put_file(db, w, &root3, "renders/.dits", 0100644, 1, &a, &x), DITS_EINVALID);
	CHECK_RC(dits_tree_put_file(db, w, &root3, "renders//a", 0100644, 1, &a, &x), DITS_EINVALID);
	CHECK_RC(dits_tree_put_file(db, w, &root3, "/a", 0100644, 1, &a, &x), DITS_EINVALID);
	REQUIRE(dits_pack_writer_finish(w) == 0);
	dits_pack_writer_free(w);

	dits_tree t, sub;
	dits_tree_init(&t);
	dits_tree_init(&sub);
	REQUIRE(dits_tree_read(db, &root3, &t) == 0);
	CHECK_EQ_U64(t.n, 1);
	const dits_tree_entry *e = tree_find(&t, "renders");
	REQUIRE(e && e->kind == DITS_KIND_TREE);
	REQUIRE(dits_tree_read(db, &e->id, &sub) == 0);
	CHECK_EQ_U64(sub.n, 2);
	const dits_tree_entry *c1 = tree_find(&sub, "cut.mov"), *c2 = tree_find(&sub, "cut2.mov");
	REQUIRE(c1 && c2);
	CHECK(dits_id_eq(&c1->id, &b) && c1->size == 30 && c1->mode == 0100755);
	CHECK(dits_id_eq(&c2->id, &b) && c2->size == 20);
	dits_tree_free(&sub);
	dits_tree_free(&t);
	dits_error_clear();
}

int main(void)
{
	char *dir = util_mkdtemp("objects");
	REQUIRE(dir != NULL);
	REQUIRE(dits_odb_open(&db, dir) == 0);
	test_manifest_roundtrip();
	test_manifest_locality();
	test_manifest_bad();
	test_tree_roundtrip();
	test_tree_bad();
	test_tree_reserved();
	test_tree_put_file();
	test_commit_roundtrip();
	test_commit_bad();
	dits_odb_free(db);
	util_rm_rf(dir);
	free(dir);
	return check_done();
}
