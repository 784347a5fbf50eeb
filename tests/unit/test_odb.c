/*
 * The pack store: write, reopen, locate, read, dedup, prefixes, verification,
 * corruption detection, and that unfinished writers leave nothing behind.
 */
#include "error.h"
#include "hash.h"
#include "odb.h"
#include "odb_pack.h"

#include <sys/file.h>

#include "check.h"
#include "util.h"

#define MiB (1024u * 1024u)
#define NREC 12

typedef struct rec {
	int type;
	size_t len;
	uint8_t *data;
	dits_id id;
} rec;

static rec recs[NREC];

static void make_records(void)
{
	static const size_t chunk_sizes[] = { 0, 1, 2, 100, 4096, 65537, 262144, 1 * MiB };
	util_rng r = { 42 };
	size_t k = 0;
	for (size_t i = 0; i < sizeof chunk_sizes / sizeof *chunk_sizes; i++, k++) {
		recs[k].type = DITS_OBJ_CHUNK;
		recs[k].len = chunk_sizes[i];
		recs[k].data = malloc(chunk_sizes[i] + 1);
		REQUIRE(recs[k].data != NULL);
		util_rng_fill(&r, recs[k].data, chunk_sizes[i]);
		dits_hash_buf(&recs[k].id, recs[k].data, recs[k].len);
	}
	const int types[] = { DITS_OBJ_CHUNKLIST, DITS_OBJ_MANIFEST, DITS_OBJ_TREE, DITS_OBJ_COMMIT };
	for (size_t i = 0; i < 4; i++, k++) {
		recs[k].type = types[i];
		recs[k].len = 50 + i * 31;
		recs[k].data = malloc(recs[k].len);
		REQUIRE(recs[k].data != NULL);
		util_rng_fill(&r, recs[k].data, recs[k].len);
		recs[k].id = (dits_id){ { 0 } }; /* filled by put_object */
	}
	REQUIRE(k == NREC);
}

static void free_records(void)
{
	for (size_t i = 0; i < NREC; i++)
		free(recs[i].data);
}

static char *join(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 2;
	char *p = malloc(n);
	REQUIRE(p != NULL);
	snprintf(p, n, "%s/%s", a, b);
	return p;
}

typedef struct reports {
	size_t n;
	char first[1024];
} reports;

static void on_report(void *ctx, const char *msg)
{
	reports *r = ctx;
	if (r->n++ == 0)
		snprintf(r->first, sizeof r->first, "%s", msg);
}

typedef struct seen {
	size_t n;
	bool hit[NREC];
} seen;

static int on_each(void *ctx, const dits_id *id, const dits_odb_loc *loc)
{
	seen *s = ctx;
	s->n++;
	for (size_t i = 0; i < NREC; i++)
		if (dits_id_eq(id, &recs[i].id) && loc->type == recs[i].type && loc->length == recs[i].len)
			s->hit[i] = true;
	return 0;
}

static int stop_each(void *ctx, const dits_id *id, const dits_odb_loc *loc)
{
	(void)id;
	(void)loc;
	++*(int *)ctx;
	return 77;
}

/* Writes recs[0..NREC) into one pack in db. */
static void write_all(dits_odb *db)
{
	dits_pack_writer *w;
	CHECK_RC(dits_pack_writer_new(&w, db), 0);
	REQUIRE(w != NULL);
	uint64_t bytes = 0;
	for (size_t i = 0; i < NREC; i++) {
		if (recs[i].type == DITS_OBJ_CHUNK) {
			bool stored = false;
			CHECK_RC(dits_pack_writer_put(w, recs[i].type, &recs[i].id, recs[i].data, recs[i].len,
			                              &stored), 0);
			CHECK(stored);
		} else {
			dits_id id;
			CHECK_RC(dits_pack_writer_put_object(w, recs[i].type, recs[i].data, recs[i].len, &id), 0);
			dits_id want;
			dits_hash_buf(&want, recs[i].data, recs[i].len);
			CHECK(dits_id_eq(&id, &want));
			recs[i].id = id;
		}
		bytes += recs[i].len;
		CHECK(dits_pack_writer_has(w, &recs[i].id));
	}
	/* The same ids again: nothing new. */
	for (size_t i = 0; i < NREC; i++) {
		bool stored = true;
		CHECK_RC(dits_pack_writer_put(w, recs[i].type, &recs[i].id, recs[i].data, recs[i].len, &stored),
		         0);
		CHECK(!stored);
	}
	dits_id again;
	CHECK_RC(dits_pack_writer_put_object(w, recs[NREC - 1].type, recs[NREC - 1].data,
	                                     recs[NREC - 1].len, &again), 0);
	CHECK(dits_id_eq(&again, &recs[NREC - 1].id));
	CHECK_EQ_U64(dits_pack_writer_new_records(w), NREC);
	CHECK_EQ_U64(dits_pack_writer_new_bytes(w), bytes);

	/* Not visible in the store before finish. */
	CHECK(!dits_odb_exists(db, &recs[0].id));
	CHECK_EQ_U64(dits_odb_pack_count(db), 0);
	CHECK_RC(dits_pack_writer_finish(w), 0);
	CHECK_RC(dits_pack_writer_finish(w), 0); /* idempotent */
	CHECK_EQ_U64(dits_odb_pack_count(db), 1);
	CHECK(dits_odb_exists(db, &recs[0].id));
	dits_pack_writer_free(w);
}

static void check_all_readable(dits_odb *db)
{
	dits_buf b = DITS_BUF_INIT;
	for (size_t i = 0; i < NREC; i++) {
		dits_odb_loc loc;
		CHECK_RC(dits_odb_locate(db, &recs[i].id, &loc), 0);
		CHECK_EQ_U64(loc.type, recs[i].type);
		CHECK_EQ_U64(loc.length, recs[i].len);
		CHECK(dits_odb_exists(db, &recs[i].id));
		uint8_t type = 0;
		dits_buf_puts(&b, "leftover"); /* read replaces, not appends */
		CHECK_RC(dits_odb_read(db, &recs[i].id, &b, &type), 0);
		CHECK_EQ_U64(b.len, recs[i].len);
		CHECK(b.len != recs[i].len || recs[i].len == 0 || memcmp(b.data, recs[i].data, b.len) == 0);
		CHECK_EQ_U64(type, recs[i].type);
		dits_buf_free(&b);

		uint8_t *raw = malloc(loc.length + 1);
		REQUIRE(raw != NULL);
		CHECK_RC(dits_odb_read_at(db, &loc, &recs[i].id, raw), 0);
		CHECK(loc.length == 0 || memcmp(raw, recs[i].data, loc.length) == 0);
		free(raw);
	}
	dits_id missing;
	memset(missing.b, 0xab, sizeof missing.b);
	CHECK_RC(dits_odb_locate(db, &missing, NULL), DITS_ENOTFOUND);
	CHECK(!dits_odb_exists(db, &missing));
	CHECK_RC(dits_odb_read(db, &missing, &b, NULL), DITS_ENOTFOUND);
	dits_buf_free(&b);
}

static size_t common_hex_prefix(const dits_id *a, const dits_id *b)
{
	char ha[DITS_ID_HEXLEN + 1], hb[DITS_ID_HEXLEN + 1];
	dits_id_hex(ha, a);
	dits_id_hex(hb, b);
	size_t n = 0;
	while (n < DITS_ID_HEXLEN && ha[n] == hb[n])
		n++;
	return n;
}

static void test_prefix(dits_odb *db)
{
	char hex[DITS_ID_HEXLEN + 1];
	dits_id out;
	/* Unique: each full id, and the shortest prefix longer than any shared one. */
	for (size_t i = 0; i < NREC; i++) {
		dits_id_hex(hex, &recs[i].id);
		memset(&out, 0, sizeof out);
		CHECK_RC(dits_odb_resolve_prefix(db, hex, 0, &out), 0);
		CHECK(dits_id_eq(&out, &recs[i].id));
		size_t longest = 0;
		for (size_t j = 0; j < NREC; j++) {
			if (j == i)
				continue;
			size_t c = common_hex_prefix(&recs[i].id, &recs[j].id);
			if (c > longest)
				longest = c;
		}
		char pre[DITS_ID_HEXLEN + 1];
		memcpy(pre, hex, longest + 1);
		pre[longest + 1] = '\0';
		memset(&out, 0, sizeof out);
		CHECK_RC(dits_odb_resolve_prefix(db, pre, 0, &out), 0);
		CHECK(dits_id_eq(&out, &recs[i].id));
		/* Upper case works too. */
		for (size_t k = 0; pre[k]; k++)
			if (pre[k] >= 'a' && pre[k] <= 'f')
				pre[k] = (char)(pre[k] - 'a' + 'A');
		memset(&out, 0, sizeof out);
		CHECK_RC(dits_odb_resolve_prefix(db, pre, 0, &out), 0);
		CHECK(dits_id_eq(&out, &recs[i].id));
		/* With the right type, and with a wrong one. */
		CHECK_RC(dits_odb_resolve_prefix(db, hex, recs[i].type, &out), 0);
		int other = recs[i].type == DITS_OBJ_COMMIT ? DITS_OBJ_TREE : DITS_OBJ_COMMIT;
		CHECK_RC(dits_odb_resolve_prefix(db, hex, other, &out), DITS_ENOTFOUND);
	}
	/* Ambiguous: 12 ids over 16 first digits, so two share a prefix. */
	size_t bi = 0, bj = 1, best = 0;
	for (size_t i = 0; i < NREC; i++)
		for (size_t j = i + 1; j < NREC; j++) {
			size_t c = common_hex_prefix(&recs[i].id, &recs[j].id);
			if (c > best) {
				best = c;
				bi = i;
				bj = j;
			}
		}
	REQUIRE(best >= 1);
	dits_id_hex(hex, &recs[bi].id);
	hex[best] = '\0';
	CHECK_RC(dits_odb_resolve_prefix(db, hex, 0, &out), DITS_EAMBIGUOUS);
	CHECK(strstr(dits_error_last(), hex) != NULL);
	if (recs[bi].type != recs[bj].type) {
		CHECK_RC(dits_odb_resolve_prefix(db, hex, recs[bi].type, &out), 0);
		CHECK(dits_id_eq(&out, &recs[bi].id));
	}
	/* A prefix nothing has. */
	char none[9] = "00000000";
	for (int t = 0; t < 16; t++) {
		bool used = false;
		none[0] = "0123456789abcdef"[t];
		for (size_t i = 0; i < NREC; i++) {
			dits_id_hex(hex, &recs[i].id);
			if (!strncmp(hex, none, 8))
				used = true;
		}
		if (!used)
			break;
	}
	CHECK_RC(dits_odb_resolve_prefix(db, none, 0, &out), DITS_ENOTFOUND);
	CHECK_RC(dits_odb_resolve_prefix(db, "", 0, &out), DITS_EINVALID);
	CHECK_RC(dits_odb_resolve_prefix(db, "xyz", 0, &out), DITS_EINVALID);
}

static void test_store(const char *base)
{
	char *dir = join(base, "store");
	dits_odb *db = NULL;
	CHECK_RC(dits_odb_open(&db, dir), 0); /* created when missing */
	REQUIRE(db != NULL);
	CHECK(strcmp(dits_odb_dir(db), dir) == 0);
	CHECK_EQ_U64(dits_odb_pack_count(db), 0);

	/* A writer with nothing to write leaves nothing. */
	dits_pack_writer *w;
	CHECK_RC(dits_pack_writer_new(&w, db), 0);
	CHECK_RC(dits_pack_writer_finish(w), 0);
	dits_pack_writer_free(w);
	CHECK_EQ_U64(dits_odb_pack_count(db), 0);
	CHECK_EQ_U64(util_count_dir(dir), 0);

	write_all(db);
	CHECK_EQ_U64(util_count_dir(dir), 2); /* .pack + .idx, no temporaries */
	CHECK_EQ_U64(dits_odb_pack_records(db, 0), NREC);
	check_all_readable(db);
	dits_odb_free(db);

	/* Reopen. */
	CHECK_RC(dits_odb_open(&db, dir), 0);
	REQUIRE(db != NULL);
	CHECK_EQ_U64(dits_odb_pack_count(db), 1);
	CHECK_EQ_U64(dits_odb_pack_records(db, 0), NREC);
	uint64_t want_size = DITS_PACK_HEADER_LEN;
	for (size_t i = 0; i < NREC; i++)
		want_size += DITS_PACK_RECORD_HEADER_LEN + recs[i].len;
	CHECK_EQ_U64(dits_odb_pack_size(db, 0), want_size);
	const char *pp = dits_odb_pack_path(db, 0);
	CHECK(strncmp(pp, dir, strlen(dir)) == 0);
	CHECK(strlen(pp) > 5 && strcmp(pp + strlen(pp) - 5, ".pack") == 0);
	check_all_readable(db);

	seen s = { 0 };
	CHECK_RC(dits_odb_pack_foreach(db, on_each, &s), 0);
	CHECK_EQ_U64(s.n, NREC);
	for (size_t i = 0; i < NREC; i++)
		CHECK(s.hit[i]);
	int calls = 0;
	CHECK_RC(dits_odb_pack_foreach(db, stop_each, &calls), 77);
	CHECK_EQ_U64(calls, 1);

	reports rep = { 0 };
	CHECK_EQ_U64(dits_odb_verify_pack(db, 0, on_report, &rep), 0);
	CHECK_EQ_U64(rep.n, 0);

	test_prefix(db);

	/* Dedup against an earlier pack: a writer putting only known ids stores nothing. */
	CHECK_RC(dits_pack_writer_new(&w, db), 0);
	for (size_t i = 0; i < NREC; i++) {
		bool stored = true;
		CHECK(dits_pack_writer_has(w, &recs[i].id));
		CHECK_RC(dits_pack_writer_put(w, recs[i].type, &recs[i].id, recs[i].data, recs[i].len, &stored),
		         0);
		CHECK(!stored);
	}
	CHECK_EQ_U64(dits_pack_writer_new_records(w), 0);
	CHECK_EQ_U64(dits_pack_writer_new_bytes(w), 0);
	CHECK_RC(dits_pack_writer_finish(w), 0);
	dits_pack_writer_free(w);
	CHECK_EQ_U64(dits_odb_pack_count(db), 1);
	CHECK_EQ_U64(util_count_dir(dir), 2);

	/* A mix of old and new: only the new go into the second pack. */
	uint8_t fresh[3][300];
	dits_id fresh_id[3];
	util_rng r = { 7 };
	CHECK_RC(dits_pack_writer_new(&w, db), 0);
	for (int i = 0; i < 3; i++) {
		util_rng_fill(&r, fresh[i], sizeof fresh[i]);
		dits_hash_buf(&fresh_id[i], fresh[i], sizeof fresh[i]);
		bool stored = false;
		CHECK_RC(dits_pack_writer_put(w, DITS_OBJ_CHUNK, &fresh_id[i], fresh[i], sizeof fresh[i], &stored), 0);
		CHECK(stored);
		CHECK_RC(dits_pack_writer_put(w, recs[i].type, &recs[i].id, recs[i].data, recs[i].len, &stored), 0);
		CHECK(!stored);
	}
	CHECK_RC(dits_pack_writer_finish(w), 0);
	dits_pack_writer_free(w);
	CHECK_EQ_U64(dits_odb_pack_count(db), 2);
	CHECK_EQ_U64(dits_odb_pack_records(db, 1), 3);
	CHECK_EQ_U64(util_count_dir(dir), 4);
	dits_odb_free(db);

	CHECK_RC(dits_odb_open(&db, dir), 0);
	REQUIRE(db != NULL);
	CHECK_EQ_U64(dits_odb_pack_count(db), 2);
	uint64_t total = 0;
	for (size_t i = 0; i < dits_odb_pack_count(db); i++) {
		total += dits_odb_pack_records(db, i);
		CHECK_EQ_U64(dits_odb_verify_pack(db, i, on_report, &rep), 0);
	}
	CHECK_EQ_U64(total, NREC + 3);
	check_all_readable(db);
	for (int i = 0; i < 3; i++) {
		dits_buf b = DITS_BUF_INIT;
		CHECK_RC(dits_odb_read(db, &fresh_id[i], &b, NULL), 0);
		CHECK(b.len == sizeof fresh[i] && memcmp(b.data, fresh[i], b.len) == 0);
		dits_buf_free(&b);
	}

	/* Flip one payload byte of the 1 MiB chunk. */
	size_t victim = 7;
	REQUIRE(recs[victim].len == 1 * MiB);
	dits_odb_loc loc;
	REQUIRE(dits_odb_locate(db, &recs[victim].id, &loc) == 0);
	char *pack_path = strdup(dits_odb_pack_path(db, loc.pack));
	REQUIRE(pack_path != NULL);
	REQUIRE(util_flip_byte(pack_path, (off_t)(loc.offset + 12345), 0x10) == 0);
	dits_buf b = DITS_BUF_INIT;
	CHECK_RC(dits_odb_read(db, &recs[victim].id, &b, NULL), DITS_ECORRUPT);
	CHECK(strstr(dits_error_last(), pack_path) != NULL);
	char hex[DITS_ID_HEXLEN + 1];
	dits_id_hex(hex, &recs[victim].id);
	CHECK(strstr(dits_error_last(), hex) != NULL);
	uint8_t *raw = malloc(loc.length);
	REQUIRE(raw != NULL);
	CHECK_RC(dits_odb_read_at(db, &loc, &recs[victim].id, raw), DITS_ECORRUPT);
	free(raw);
	/* The other records are still fine. */
	CHECK_RC(dits_odb_read(db, &recs[victim - 1].id, &b, NULL), 0);
	memset(&rep, 0, sizeof rep);
	CHECK(dits_odb_verify_pack(db, loc.pack, on_report, &rep) >= 1);
	CHECK(rep.n >= 1);
	CHECK(strstr(rep.first, pack_path) != NULL);
	dits_odb_free(db);

	/* The same after reopening. */
	CHECK_RC(dits_odb_open(&db, dir), 0);
	REQUIRE(db != NULL);
	CHECK_RC(dits_odb_read(db, &recs[victim].id, &b, NULL), DITS_ECORRUPT);
	CHECK(strstr(dits_error_last(), pack_path) != NULL);
	memset(&rep, 0, sizeof rep);
	CHECK(dits_odb_verify_pack(db, loc.pack, on_report, &rep) >= 1);
	dits_odb_free(db);

	/* Restore, then cut the pack short: the last record lies past the end. */
	REQUIRE(util_flip_byte(pack_path, (off_t)(loc.offset + 12345), 0x10) == 0);
	CHECK_RC(dits_odb_open(&db, dir), 0);
	REQUIRE(db != NULL);
	CHECK_RC(dits_odb_read(db, &recs[victim].id, &b, NULL), 0);
	memset(&rep, 0, sizeof rep);
	CHECK_EQ_U64(dits_odb_verify_pack(db, loc.pack, on_report, &rep), 0);
	dits_odb_free(db);
	struct stat st;
	REQUIRE(stat(pack_path, &st) == 0);
	REQUIRE(truncate(pack_path, st.st_size - 10) == 0);
	CHECK_RC(dits_odb_open(&db, dir), 0);
	REQUIRE(db != NULL);
	/* Records are in put order: the last record of pack 0 is recs[NREC-1]. */
	CHECK_RC(dits_odb_read(db, &recs[NREC - 1].id, &b, NULL), DITS_ECORRUPT);
	CHECK(strstr(dits_error_last(), pack_path) != NULL);
	memset(&rep, 0, sizeof rep);
	CHECK(dits_odb_verify_pack(db, loc.pack, on_report, &rep) >= 1);
	CHECK_RC(dits_odb_read(db, &recs[0].id, &b, NULL), 0);
	dits_odb_free(db);

	dits_buf_free(&b);
	free(pack_path);
	free(dir);
}

static void test_unfinished_writer(const char *base)
{
	char *dir = join(base, "unfinished");
	dits_odb *db = NULL;
	CHECK_RC(dits_odb_open(&db, dir), 0);
	REQUIRE(db != NULL);

	/* Small: everything still buffered. */
	dits_pack_writer *w;
	CHECK_RC(dits_pack_writer_new(&w, db), 0);
	for (size_t i = 0; i < 6; i++)
		CHECK_RC(dits_pack_writer_put(w, recs[i].type, &recs[i].id, recs[i].data, recs[i].len, NULL), 0);
	dits_pack_writer_free(w);
	CHECK_EQ_U64(util_count_dir(dir), 0);

	/* Large: more than the 8 MiB write buffer, so bytes reached the file. */
	CHECK_RC(dits_pack_writer_new(&w, db), 0);
	uint8_t *big = malloc(1 * MiB);
	REQUIRE(big != NULL);
	util_rng r = { 99 };
	for (int i = 0; i < 12; i++) {
		util_rng_fill(&r, big, 1 * MiB);
		dits_id id;
		CHECK_RC(dits_pack_writer_put_object(w, DITS_OBJ_CHUNK, big, 1 * MiB, &id), 0);
	}
	CHECK(util_count_dir(dir) >= 1); /* the temporary pack exists meanwhile */
	dits_pack_writer_free(w);
	CHECK_EQ_U64(util_count_dir(dir), 0);
	CHECK_EQ_U64(dits_odb_pack_count(db), 0);
	free(big);

	/* A record larger than a pack may hold is refused. */
	CHECK_RC(dits_pack_writer_new(&w, db), 0);
	size_t huge = (size_t)DITS_OBJECT_MAX + 1;
	uint8_t *hp = malloc(huge); /* never touched: refused before reading */
	REQUIRE(hp != NULL);
	dits_id hid;
	memset(hid.b, 0x5a, sizeof hid.b);
	CHECK_RC(dits_pack_writer_put(w, DITS_OBJ_CHUNK, &hid, hp, huge, NULL), DITS_EINVALID);
	free(hp);
	dits_pack_writer_free(w);
	CHECK_EQ_U64(util_count_dir(dir), 0);

	dits_odb_free(db);
	free(dir);
}

/* Writes recs[from..to) into one finished pack of db. */
static void put_pack(dits_odb *db, size_t from, size_t to)
{
	dits_pack_writer *w;
	CHECK_RC(dits_pack_writer_new(&w, db), 0);
	for (size_t i = from; i < to; i++)
		CHECK_RC(dits_pack_writer_put(w, recs[i].type, &recs[i].id, recs[i].data, recs[i].len, NULL), 0);
	CHECK_RC(dits_pack_writer_finish(w), 0);
	dits_pack_writer_free(w);
}

static void test_corrupt_idx(const char *base)
{
	char *dir = join(base, "badidx");
	dits_odb *db = NULL;
	CHECK_RC(dits_odb_open(&db, dir), 0);
	REQUIRE(db != NULL);
	put_pack(db, 1, 4);
	char *idx_path = strdup(dits_odb_pack_path(db, 0));
	REQUIRE(idx_path != NULL);
	strcpy(idx_path + strlen(idx_path) - 5, ".idx");
	dits_odb_free(db);

	size_t len = 0;
	uint8_t *orig = util_read_file(idx_path, &len);
	REQUIRE(orig != NULL);
	CHECK_EQ_U64(len, 24 + 1024 + 3 * 48 + 32);

	/* One flipped byte in an entry. */
	REQUIRE(util_flip_byte(idx_path, 24 + 1024 + 48 + 40, 0x01) == 0);
	db = NULL;
	CHECK_RC(dits_odb_open(&db, dir), DITS_ECORRUPT);
	CHECK(db == NULL);
	CHECK(strstr(dits_error_last(), idx_path) != NULL);
	dits_odb_free(db);

	/* Every other byte position, one at a time. */
	size_t not_rejected = 0, wrong_code = 0;
	uint8_t *copy = malloc(len);
	REQUIRE(copy != NULL);
	for (size_t off = 0; off < len; off++) {
		memcpy(copy, orig, len);
		copy[off] ^= 0x80;
		REQUIRE(util_write_file(idx_path, copy, len) == 0);
		db = NULL;
		int rc = dits_odb_open(&db, dir);
		if (rc == 0) {
			if (not_rejected++ == 0)
				fprintf(stderr, "  idx with byte %zu flipped was accepted\n", off);
			dits_odb_free(db);
		} else if (rc != DITS_ECORRUPT && !(off >= 8 && off < 12 && rc == DITS_EVERSION)) {
			if (wrong_code++ == 0)
				fprintf(stderr, "  idx with byte %zu flipped: rc %d (%s)\n", off, rc, dits_error_last());
		}
	}
	CHECK_EQ_U64(not_rejected, 0);
	CHECK_EQ_U64(wrong_code, 0);

	/* Truncated at several lengths. */
	const size_t cuts[] = { 0, 8, 24, 24 + 1024, len - 33, len - 1 };
	for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
		REQUIRE(util_write_file(idx_path, orig, cuts[i]) == 0);
		db = NULL;
		CHECK_RC(dits_odb_open(&db, dir), DITS_ECORRUPT);
		dits_odb_free(db);
	}

	/* Restored: opens again. */
	REQUIRE(util_write_file(idx_path, orig, len) == 0);
	db = NULL;
	CHECK_RC(dits_odb_open(&db, dir), 0);
	dits_odb_free(db);

	free(copy);
	free(orig);
	free(idx_path);
	free(dir);
}

/* Writes idx with its checksum recomputed, opens the store, expects rc and a message naming name. */
static void expect_crafted(const char *dir, const char *idx_path, uint8_t *idx, size_t len, int rc,
                           const char *name, const char *what)
{
	if (len >= 32)
		dits_hash_buf((dits_id *)(void *)(idx + len - 32), idx, len - 32);
	REQUIRE(util_write_file(idx_path, idx, len) == 0);
	dits_odb *db = NULL;
	int got = dits_odb_open(&db, dir);
	if (got != rc)
		fprintf(stderr, "  %s: rc %d, want %d (%s)\n", what, got, rc, dits_error_last());
	CHECK_RC(got, rc);
	CHECK(db == NULL);
	CHECK(strstr(dits_error_last(), name) != NULL);
	dits_odb_free(db);
}

/* Indexes whose checksum is right but whose structure lies: each is refused at open. */
static void test_crafted_idx(const char *base)
{
	char *dir = join(base, "crafted");
	dits_odb *db = NULL;
	CHECK_RC(dits_odb_open(&db, dir), 0);
	REQUIRE(db != NULL);
	put_pack(db, 1, 6);
	char *pack_path = strdup(dits_odb_pack_path(db, 0));
	char *idx_path = strdup(pack_path);
	REQUIRE(idx_path != NULL && pack_path != NULL);
	strcpy(idx_path + strlen(idx_path) - 5, ".idx");
	dits_odb_free(db);
	size_t len = 0;
	uint8_t *orig = util_read_file(idx_path, &len);
	REQUIRE(orig != NULL);
	const size_t n = 5, fan = 24, ent = 24 + 1024;
	CHECK_EQ_U64(len, ent + n * 48 + 32);
	uint8_t *c = malloc(len + 4096);
	REQUIRE(c != NULL);

	/* The untouched bytes with a recomputed checksum open. */
	memcpy(c, orig, len);
	dits_hash_buf((dits_id *)(void *)(c + len - 32), c, len - 32);
	REQUIRE(memcmp(c, orig, len) == 0);

	/* Fan-out that decreases. */
	memcpy(c, orig, len);
	dits_put_le32(c + fan + 10 * 4, 4);
	dits_put_le32(c + fan + 11 * 4, 0);
	expect_crafted(dir, idx_path, c, len, DITS_ECORRUPT, idx_path, "decreasing fan-out");
	/* Fan-out beyond the count (a lookup would read past the entries). */
	memcpy(c, orig, len);
	for (int b = 0; b < 255; b++)
		dits_put_le32(c + fan + b * 4, 0xffffffffu);
	expect_crafted(dir, idx_path, c, len, DITS_ECORRUPT, idx_path, "fan-out beyond the count");
	/* Last fan-out entry not the count. */
	memcpy(c, orig, len);
	dits_put_le32(c + fan + 255 * 4, (uint32_t)n - 1);
	expect_crafted(dir, idx_path, c, len, DITS_ECORRUPT, idx_path, "fan-out end");
	/* Count that does not match the file size, both ways. */
	memcpy(c, orig, len);
	dits_put_le64(c + 16, n + 1);
	expect_crafted(dir, idx_path, c, len, DITS_ECORRUPT, idx_path, "count too large");
	memcpy(c, orig, len);
	dits_put_le64(c + 16, UINT64_MAX / 48 + 2); /* overflows count * 48 */
	expect_crafted(dir, idx_path, c, len, DITS_ECORRUPT, idx_path, "count overflowing");
	/* Truncated: the checksum is then taken over the shorter file. */
	for (size_t cut = 0; cut < len; cut += 37) {
		memcpy(c, orig, len);
		expect_crafted(dir, idx_path, c, cut, DITS_ECORRUPT, idx_path, "truncated");
	}
	/* Unsorted ids: two entries swapped (fan-out still right when they share a bucket,
	 * otherwise a bucket error: either is refused). */
	memcpy(c, orig, len);
	uint8_t tmp[48];
	memcpy(tmp, c + ent + 48, 48);
	memcpy(c + ent + 48, c + ent + 2 * 48, 48);
	memcpy(c + ent + 2 * 48, tmp, 48);
	expect_crafted(dir, idx_path, c, len, DITS_ECORRUPT, idx_path, "unsorted ids");
	/* A duplicate id. */
	memcpy(c, orig, len);
	memcpy(c + ent + 48, c + ent, 32);
	expect_crafted(dir, idx_path, c, len, DITS_ECORRUPT, idx_path, "duplicate id");
	/* An id outside its fan-out bucket. */
	memcpy(c, orig, len);
	c[ent + 4 * 48] = 0x00;
	c[ent + 4 * 48 + 1] = 0x00;
	expect_crafted(dir, idx_path, c, len, DITS_ECORRUPT, idx_path, "id outside its bucket");
	/* Unknown type, oversized length, offset into the pack header. */
	memcpy(c, orig, len);
	c[ent + 44] = 9;
	expect_crafted(dir, idx_path, c, len, DITS_ECORRUPT, idx_path, "unknown type");
	memcpy(c, orig, len);
	dits_put_le32(c + ent + 40, DITS_OBJECT_MAX + 1);
	expect_crafted(dir, idx_path, c, len, DITS_ECORRUPT, idx_path, "length above the record limit");
	memcpy(c, orig, len);
	dits_put_le64(c + ent + 32, 3);
	expect_crafted(dir, idx_path, c, len, DITS_ECORRUPT, idx_path, "offset in the pack header");
	/* More records than the pack can hold: a longer index for a 16-byte pack header. */
	memcpy(c, orig, len);
	REQUIRE(util_write_file(idx_path, orig, len) == 0);

	/* Offsets and lengths past the end of the pack: the store opens, that record
	 * is DITS_ECORRUPT naming the pack, never a read outside it. */
	dits_buf b = DITS_BUF_INIT;
	struct stat st;
	REQUIRE(stat(pack_path, &st) == 0);
	const uint64_t bad_off[] = { (uint64_t)st.st_size + 1, UINT64_MAX - 3, (uint64_t)st.st_size - 1 };
	for (size_t k = 0; k < 3; k++) {
		memcpy(c, orig, len);
		dits_put_le64(c + ent + 32, bad_off[k]);
		if (k == 2)
			dits_put_le32(c + ent + 40, 1000);
		dits_hash_buf((dits_id *)(void *)(c + len - 32), c, len - 32);
		REQUIRE(util_write_file(idx_path, c, len) == 0);
		db = NULL;
		CHECK_RC(dits_odb_open(&db, dir), 0);
		REQUIRE(db != NULL);
		dits_id first;
		memcpy(first.b, c + ent, 32);
		CHECK_RC(dits_odb_read(db, &first, &b, NULL), DITS_ECORRUPT);
		CHECK(strstr(dits_error_last(), pack_path) != NULL);
		dits_odb_loc loc;
		CHECK_RC(dits_odb_locate(db, &first, &loc), 0);
		const uint8_t *data = NULL;
		CHECK_RC(dits_odb_verify_at(db, &loc, &first, &data), DITS_ECORRUPT);
		dits_odb_free(db);
	}
	/* An entry pointing at another record: the record header gives it away. */
	memcpy(c, orig, len);
	memcpy(c + ent + 32, c + ent + 48 + 32, 12);
	dits_hash_buf((dits_id *)(void *)(c + len - 32), c, len - 32);
	REQUIRE(util_write_file(idx_path, c, len) == 0);
	db = NULL;
	CHECK_RC(dits_odb_open(&db, dir), 0);
	REQUIRE(db != NULL);
	dits_id first;
	memcpy(first.b, c + ent, 32);
	CHECK_RC(dits_odb_read(db, &first, &b, NULL), DITS_ECORRUPT);
	CHECK(strstr(dits_error_last(), pack_path) != NULL);
	dits_odb_free(db);

	/* A pack that is not a dits pack. */
	REQUIRE(util_write_file(idx_path, orig, len) == 0);
	size_t plen = 0;
	uint8_t *porig = util_read_file(pack_path, &plen);
	REQUIRE(porig != NULL);
	REQUIRE(util_write_file(pack_path, "NOTAPACK", 8) == 0);
	db = NULL;
	CHECK_RC(dits_odb_open(&db, dir), DITS_ECORRUPT);
	CHECK(strstr(dits_error_last(), pack_path) != NULL);
	porig[0] ^= 0xff;
	REQUIRE(util_write_file(pack_path, porig, plen) == 0);
	db = NULL;
	CHECK_RC(dits_odb_open(&db, dir), DITS_ECORRUPT);
	CHECK(strstr(dits_error_last(), pack_path) != NULL);
	porig[0] ^= 0xff;
	/* An index listing more records than its pack can hold. */
	REQUIRE(util_write_file(pack_path, porig, 16 + 40 * 4) == 0);
	db = NULL;
	CHECK_RC(dits_odb_open(&db, dir), DITS_ECORRUPT);
	CHECK(strstr(dits_error_last(), idx_path) != NULL);
	REQUIRE(util_write_file(pack_path, porig, plen) == 0);
	db = NULL;
	CHECK_RC(dits_odb_open(&db, dir), 0);
	for (size_t i = 1; i < 6; i++)
		CHECK_RC(dits_odb_read(db, &recs[i].id, &b, NULL), 0);
	dits_odb_free(db);

	dits_buf_free(&b);
	free(porig);
	free(c);
	free(orig);
	free(idx_path);
	free(pack_path);
	free(dir);
}

/* Many records in one writer: its hash table grows, the index gets every fanout bucket. */
static void test_many(const char *base)
{
	enum { N = 5000 };
	char *dir = join(base, "many");
	dits_odb *db = NULL;
	CHECK_RC(dits_odb_open(&db, dir), 0);
	REQUIRE(db != NULL);
	static dits_id ids[N];
	dits_pack_writer *w;
	CHECK_RC(dits_pack_writer_new(&w, db), 0);
	size_t not_stored = 0, not_has = 0;
	for (uint64_t i = 0; i < N; i++) {
		uint64_t v[2] = { i, ~i };
		dits_hash_buf(&ids[i], v, sizeof v);
		bool stored = false;
		CHECK_RC(dits_pack_writer_put(w, DITS_OBJ_CHUNK, &ids[i], v, sizeof v, &stored), 0);
		not_stored += !stored;
		/* Everything written so far is still found as the table grows. */
		if (i % 97 == 0)
			for (uint64_t k = 0; k <= i; k += 13)
				not_has += !dits_pack_writer_has(w, &ids[k]);
	}
	CHECK_EQ_U64(not_stored, 0);
	CHECK_EQ_U64(not_has, 0);
	size_t dup_stored = 0;
	for (uint64_t i = 0; i < N; i++) {
		uint64_t v[2] = { i, ~i };
		bool stored = true;
		CHECK_RC(dits_pack_writer_put(w, DITS_OBJ_CHUNK, &ids[i], v, sizeof v, &stored), 0);
		dup_stored += stored;
	}
	CHECK_EQ_U64(dup_stored, 0);
	CHECK_EQ_U64(dits_pack_writer_new_records(w), N);
	CHECK_EQ_U64(dits_pack_writer_new_bytes(w), N * 16);
	CHECK_RC(dits_pack_writer_finish(w), 0);
	dits_pack_writer_free(w);
	dits_odb_free(db);

	CHECK_RC(dits_odb_open(&db, dir), 0);
	REQUIRE(db != NULL);
	CHECK_EQ_U64(dits_odb_pack_records(db, 0), N);
	size_t bad = 0;
	dits_buf b = DITS_BUF_INIT;
	for (uint64_t i = 0; i < N; i++) {
		uint64_t v[2] = { i, ~i };
		if (dits_odb_read(db, &ids[i], &b, NULL) || b.len != sizeof v || memcmp(b.data, v, sizeof v))
			bad++;
	}
	CHECK_EQ_U64(bad, 0);
	/* 8-digit prefixes of 5000 random ids are unique (collision odds ~3e-3 per run, fixed data). */
	size_t wrong = 0;
	for (uint64_t i = 0; i < N; i += 7) {
		char hex[DITS_ID_HEXLEN + 1];
		dits_id_hex(hex, &ids[i]);
		hex[8] = '\0';
		dits_id out;
		if (dits_odb_resolve_prefix(db, hex, DITS_OBJ_CHUNK, &out) || !dits_id_eq(&out, &ids[i]))
			wrong++;
	}
	CHECK_EQ_U64(wrong, 0);
	dits_id out;
	CHECK_RC(dits_odb_resolve_prefix(db, "a", 0, &out), DITS_EAMBIGUOUS);
	CHECK_RC(dits_odb_resolve_prefix(db, "a", DITS_OBJ_COMMIT, &out), DITS_ENOTFOUND);
	reports rep = { 0 };
	CHECK_EQ_U64(dits_odb_verify_pack(db, 0, on_report, &rep), 0);
	seen s = { 0 };
	CHECK_RC(dits_odb_pack_foreach(db, on_each, &s), 0);
	CHECK_EQ_U64(s.n, N);
	dits_buf_free(&b);
	dits_odb_free(db);
	free(dir);
}

/* gc's helpers: a writer that copies records the store has, and leftover cleanup. */
static void test_gc_helpers(const char *base)
{
	char *dir = join(base, "gc");
	dits_odb *db = NULL;
	CHECK_RC(dits_odb_open(&db, dir), 0);
	REQUIRE(db != NULL);
	put_pack(db, 0, 4);
	dits_pack_writer *w;

	CHECK_RC(dits_pack_writer_new(&w, db), 0);
	dits_pack_writer_ignore_store(w);
	for (size_t i = 1; i < 3; i++) {
		bool stored = false;
		CHECK(!dits_pack_writer_has(w, &recs[i].id));
		CHECK_RC(dits_pack_writer_put(w, recs[i].type, &recs[i].id, recs[i].data, recs[i].len, &stored), 0);
		CHECK(stored);
		CHECK(dits_pack_writer_has(w, &recs[i].id));
		CHECK_RC(dits_pack_writer_put(w, recs[i].type, &recs[i].id, recs[i].data, recs[i].len, &stored), 0);
		CHECK(!stored); /* but not twice in the same pack */
	}
	CHECK_RC(dits_pack_writer_finish(w), 0);
	dits_pack_writer_free(w);
	CHECK_EQ_U64(dits_odb_pack_count(db), 2);
	CHECK_EQ_U64(dits_odb_pack_records(db, 1), 2);
	/* An id held by two packs is still one object to a prefix lookup. */
	char hex[DITS_ID_HEXLEN + 1];
	dits_id_hex(hex, &recs[1].id);
	dits_id out;
	CHECK_RC(dits_odb_resolve_prefix(db, hex, 0, &out), 0);
	hex[20] = '\0';
	CHECK_RC(dits_odb_resolve_prefix(db, hex, 0, &out), 0);
	CHECK(dits_id_eq(&out, &recs[1].id));
	dits_buf b = DITS_BUF_INIT;
	CHECK_RC(dits_odb_read(db, &recs[1].id, &b, NULL), 0);

	/* Leftovers: temporary files and a pack without an index. */
	/* Owners that cannot be running: above any pid_max. */
	const char *junk[] = { "tmp-999999999-0x1.pack", "pack-0123456789abcdef.pack",
	                       "pack-0123456789abcdef.idx.tmp-999999998" };
	for (size_t i = 0; i < 3; i++) {
		char *p = join(dir, junk[i]);
		REQUIRE(util_write_file(p, "junk", 4) == 0);
		free(p);
	}
	CHECK_EQ_U64(util_count_dir(dir), 7);
	dits_odb_remove_leftovers(db);
	CHECK_EQ_U64(util_count_dir(dir), 4); /* the two real packs and their indexes */

	/* A temporary pack of a live process, and one locked by its writer: kept at
	 * lock time; gc's variant drops the unlocked one only once it is older than
	 * the cutoff, and never the locked one. */
	char live[64];
	snprintf(live, sizeof live, "tmp-%ld-0x2.pack", (long)getpid());
	char *lp = join(dir, live), *kp = join(dir, "tmp-999999999-0x3.pack"), *op = join(dir, "pack-00ff.pack");
	REQUIRE(util_write_file(lp, "junk", 4) == 0);
	REQUIRE(util_write_file(kp, "junk", 4) == 0);
	REQUIRE(util_write_file(op, "junk", 4) == 0);
	int kfd = open(kp, O_RDONLY);
	REQUIRE(kfd >= 0 && flock(kfd, LOCK_EX) == 0);
	CHECK(dits_odb_file_in_use(kp));
	CHECK(!dits_odb_file_in_use(lp));
	int ofd = open(op, O_RDONLY);
	REQUIRE(ofd >= 0 && flock(ofd, LOCK_EX) == 0);
	dits_odb_remove_leftovers(db);
	CHECK_EQ_U64(util_count_dir(dir), 7);
	int64_t m = dits_file_mtime_ns(lp);
	CHECK(m > 0);
	CHECK_EQ_U64(dits_odb_remove_old_leftovers(db, m - 1), 0);
	CHECK_EQ_U64(util_count_dir(dir), 7);
	CHECK_EQ_U64(dits_odb_remove_old_leftovers(db, INT64_MAX), 1); /* only the unlocked one */
	CHECK(access(lp, F_OK) != 0);
	close(ofd); /* the writer of the index-less pack died: it goes at lock time */
	dits_odb_remove_leftovers(db);
	CHECK(access(op, F_OK) != 0);
	CHECK(access(kp, F_OK) == 0);
	close(kfd);
	CHECK_EQ_U64(dits_odb_remove_old_leftovers(db, INT64_MAX), 1);
	CHECK_EQ_U64(util_count_dir(dir), 4);
	free(lp);
	free(kp);
	free(op);
	for (size_t i = 0; i < 4; i++)
		CHECK_RC(dits_odb_read(db, &recs[i].id, &b, NULL), 0);
	dits_odb_free(db);
	CHECK_RC(dits_odb_open(&db, dir), 0);
	CHECK(db && dits_odb_pack_count(db) == 2);
	dits_odb_free(db);
	dits_buf_free(&b);
	free(dir);
}

int main(void)
{
	char *base = util_mkdtemp("odb");
	REQUIRE(base != NULL);
	make_records();
	test_store(base);
	test_unfinished_writer(base);
	test_corrupt_idx(base);
	test_crafted_idx(base);
	test_many(base);
	test_gc_helpers(base);
	free_records();
	util_rm_rf(base);
	free(base);
	return check_done();
}
