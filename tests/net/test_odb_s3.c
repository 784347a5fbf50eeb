/*
 * test_odb_s3 - the S3 pack backend (odb_s3.h) against a real S3 server.
 *
 * Starts tests/s3/server.mjs (s3rver behind a SigV4-verifying proxy) on
 * loopback and checks: packs written through the backend appear in the
 * bucket as pack and index; a second store (fresh cache) lists them, reads
 * every record back byte for byte; the block cache never holds more than
 * its bound, evicts the least recently used block, and serves hits without
 * a GET (the backend's request counter); a pack uploaded without its index
 * stays invisible; a pack whose bytes were changed in the bucket gives
 * DITS_ECORRUPT naming s3://BUCKET/KEY, never the bytes.
 *
 * SRCDIR is the source tree (tests/s3 with its node_modules).
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../unit/check.h"
#include "error.h"
#include "fsutil.h"
#include "odb.h"
#include "odb_backend.h"
#include "odb_s3.h"
#include "s3.h"
#include "s3_test_server.h"

#define BLOCK (32u << 10) /* the pack spans more blocks than the store keeps in memory */
#define NREC 40
#define RECLEN (16u << 10)

static int count_each(void *ctx, const dits_id *id, uint8_t type, uint32_t len)
{
	(void)id; (void)type; (void)len;
	(*(size_t *)ctx)++;
	return 0;
}

typedef struct keys { int packs, idx; char pack[256]; } keys;

static int list_keys(void *ctx, const dits_s3_object *o)
{
	keys *k = ctx;
	size_t l = strlen(o->key);
	if (l > 5 && !strcmp(o->key + l - 5, ".pack")) {
		k->packs++;
		snprintf(k->pack, sizeof k->pack, "%s", o->key);
	}
	if (l > 4 && !strcmp(o->key + l - 4, ".idx"))
		k->idx++;
	return 0;
}

/* Threads reading every record through one odb each, sharing one store. */
typedef struct reader {
	dits_s3_store *st;
	const dits_id *ids;
	const uint8_t (*data)[RECLEN];
	int start, same;
} reader;

static void *read_all(void *arg)
{
	reader *rd = arg;
	dits_odb *db = NULL;
	dits_odb_backend *b = NULL;
	if (dits_s3_store_backend(rd->st, "r1", &b) || dits_odb_new(&db) || dits_odb_add_backend(db, b))
		return NULL;
	static _Thread_local uint8_t got[RECLEN];
	for (int k = 0; k < NREC; k++) {
		int i = (rd->start + k) % NREC;
		if (dits_odb_read_into(db, &rd->ids[i], got, RECLEN) == 0 && !memcmp(got, rd->data[i], RECLEN))
			rd->same++;
	}
	dits_odb_free(db);
	return NULL;
}

static int open_store_ahead(dits_s3_store **st, const char *cache, uint64_t cache_bytes, int ahead, dits_odb **db)
{
	dits_s3_store_opts o = { .url = "s3://" S3_TEST_BUCKET "/t/", .cache_dir = cache, .cache_bytes = cache_bytes,
	                         .block_bytes = BLOCK, .read_ahead = ahead };
	int rc = dits_s3_store_open(st, &o);
	dits_odb_backend *b = NULL;
	if (!rc)
		rc = dits_s3_store_backend(*st, "r1", &b);
	if (!rc)
		rc = dits_odb_new(db);
	if (!rc)
		rc = dits_odb_add_backend(*db, b);
	return rc;
}

/* Without read-ahead: every GET is one a reader waited for. */
static int open_store(dits_s3_store **st, const char *cache, uint64_t cache_bytes, dits_odb **db)
{
	return open_store_ahead(st, cache, cache_bytes, -1, db);
}

static int count_files(const char *path)
{
	DIR *d = opendir(path);
	int n = 0;
	struct dirent *e;
	while (d && (e = readdir(d)))
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

static int read_every(dits_odb *db, const dits_id *ids, const uint8_t (*data)[RECLEN])
{
	static uint8_t got[RECLEN];
	int same = 0;
	for (int i = 0; i < NREC; i++)
		if (dits_odb_read_into(db, &ids[i], got, RECLEN) == 0 && !memcmp(got, data[i], RECLEN))
			same++;
	return same;
}

/* Record i of the big packs: 16 KiB from a generator seeded by i. */
static void big_record(int i, uint8_t *out, dits_id *id)
{
	uint64_t x = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
	for (unsigned j = 0; j < RECLEN; j += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(out + j, &x, 8);
	}
	dits_hash_buf(id, out, RECLEN);
}

#define NBIG 1100 /* 18 MiB: a multipart upload of three 8 MiB parts */

static int write_big(dits_odb *db, bool finish)
{
	static uint8_t rec[RECLEN];
	dits_pack_writer *w = NULL;
	int rc = dits_pack_writer_new(&w, db);
	for (int i = 0; i < NBIG && !rc; i++) {
		dits_id id;
		big_record(i, rec, &id);
		rc = dits_pack_writer_put(w, DITS_OBJ_CHUNK, &id, rec, RECLEN, NULL);
	}
	if (!rc && finish)
		rc = dits_pack_writer_finish(w);
	dits_pack_writer_free(w);
	return rc;
}

int main(void)
{
	if (s3_test_server_start())
		return 1;
	atexit(s3_test_server_stop);
	setenv("AWS_ENDPOINT_URL", s3_test_endpoint, 1);
	setenv("AWS_ACCESS_KEY_ID", S3_TEST_KEY_ID, 1);
	setenv("AWS_SECRET_ACCESS_KEY", S3_TEST_SECRET, 1);
	setenv("AWS_REGION", "us-east-1", 1);
	char c1[300], c2[300], c3[300];
	snprintf(c1, sizeof c1, "%s/cache1", s3_test_dir);
	snprintf(c2, sizeof c2, "%s/cache2", s3_test_dir);
	snprintf(c3, sizeof c3, "%s/cache3", s3_test_dir);

	/* Records of random bytes, written through the backend. */
	static uint8_t data[NREC][RECLEN];
	dits_id ids[NREC];
	srand(7);
	for (int i = 0; i < NREC; i++) {
		for (unsigned j = 0; j < RECLEN; j++)
			data[i][j] = (uint8_t)rand();
		dits_hash_buf(&ids[i], data[i], RECLEN);
	}
	dits_s3_store *st = NULL;
	dits_odb *db = NULL;
	CHECK_RC(open_store(&st, c1, 0, &db), 0);
	dits_pack_writer *w = NULL;
	CHECK_RC(dits_pack_writer_new(&w, db), 0);
	for (int i = 0; i < NREC; i++)
		CHECK_RC(dits_pack_writer_put(w, DITS_OBJ_CHUNK, &ids[i], data[i], RECLEN, NULL), 0);
	CHECK_RC(dits_pack_writer_finish(w), 0);
	dits_pack_writer_free(w);
	CHECK(dits_odb_exists(db, &ids[0]));
	dits_s3_store_stats s;
	dits_s3_store_get_stats(st, &s);
	CHECK_EQ_U64(s.packs_put, 1);
	/* A second writer skips what the store has: nothing new, no pack. */
	CHECK_RC(dits_pack_writer_new(&w, db), 0);
	bool stored = true;
	CHECK_RC(dits_pack_writer_put(w, DITS_OBJ_CHUNK, &ids[3], data[3], RECLEN, &stored), 0);
	CHECK(!stored);
	CHECK_RC(dits_pack_writer_finish(w), 0);
	dits_pack_writer_free(w);
	dits_odb_free(db);
	dits_s3_store_free(st);

	dits_s3 *s3 = NULL;
	dits_s3_config cfg = { .bucket = S3_TEST_BUCKET, .prefix = "t/" };
	CHECK_RC(dits_s3_open(&cfg, &s3), 0);
	keys k = { 0 };
	CHECK_RC(dits_s3_list(s3, "r1/packs/", list_keys, &k), 0);
	CHECK_EQ_U64(k.packs, 1);
	CHECK_EQ_U64(k.idx, 1);

	/* A reader with a fresh cache of three blocks. */
	CHECK_RC(open_store(&st, c2, 3 * BLOCK, &db), 0);
	dits_s3_store_get_stats(st, &s);
	CHECK_EQ_U64(s.index_gets, 1);
	size_t n = 0;
	CHECK_RC(dits_odb_foreach(db, count_each, &n), 0);
	CHECK_EQ_U64(n, NREC);
	static uint8_t got[RECLEN];
	int same = 0;
	uint64_t max_cached = 0;
	/* Pack order is write order: read in that order, block by block. */
	for (int i = 0; i < NREC; i++) {
		if (dits_odb_read_into(db, &ids[i], got, RECLEN) == 0 && !memcmp(got, data[i], RECLEN))
			same++;
		dits_s3_store_get_stats(st, &s);
		if (s.cached_bytes > max_cached)
			max_cached = s.cached_bytes;
	}
	CHECK_EQ_U64(same, NREC);
	uint64_t pack_blocks = (16 + (uint64_t)NREC * (40 + RECLEN) + BLOCK - 1) / BLOCK;
	dits_s3_store_get_stats(st, &s);
	CHECK_EQ_U64(s.gets, pack_blocks);
	CHECK(max_cached <= 3 * BLOCK);
	CHECK(s.cached_blocks == 3);
	CHECK_EQ_U64(s.evictions, pack_blocks - 3);
	/* Hits: the last records again, and one in a block still cached. */
	uint64_t gets = s.gets, hits = s.hits;
	CHECK_RC(dits_odb_read_into(db, &ids[NREC - 1], got, RECLEN), 0);
	CHECK_RC(dits_odb_read_into(db, &ids[NREC - 6], got, RECLEN), 0);
	CHECK(!memcmp(got, data[NREC - 6], RECLEN));
	dits_s3_store_get_stats(st, &s);
	CHECK_EQ_U64(s.gets, gets);
	CHECK(s.hits > hits);
	/* The first block was evicted: reading it fetches it again. */
	CHECK_RC(dits_odb_read_into(db, &ids[0], got, RECLEN), 0);
	dits_s3_store_get_stats(st, &s);
	CHECK_EQ_U64(s.gets, gets + 1);
	CHECK(s.cached_bytes <= 3 * BLOCK);

	/* A pack without its index (an interrupted push) stays invisible. */
	CHECK_RC(dits_s3_put(s3, "r1/packs/pack-00000000000000000000000000000000000000aa.pack", "DITSPACKjunk", 12), 0);
	CHECK_EQ_U64(dits_odb_refresh(db), 0);
	n = 0;
	CHECK_RC(dits_odb_foreach(db, count_each, &n), 0);
	CHECK_EQ_U64(n, NREC);
	dits_id missing;
	dits_hash_buf(&missing, "absent", 6);
	dits_buf out = DITS_BUF_INIT;
	CHECK_RC(dits_odb_read(db, &missing, &out, NULL), DITS_ENOTFOUND);
	dits_odb_free(db);
	dits_s3_store_free(st);

	/* Four threads at once (each GET made outside the store's lock). */
	{
		char c4[300];
		snprintf(c4, sizeof c4, "%s/cache4", s3_test_dir);
		dits_s3_store_opts o = { .url = "s3://" S3_TEST_BUCKET "/t/", .cache_dir = c4, .cache_bytes = 2 * BLOCK,
		                         .block_bytes = BLOCK };
		dits_s3_store *mt = NULL;
		CHECK_RC(dits_s3_store_open(&mt, &o), 0);
		pthread_t th[4];
		reader rd[4];
		for (int t = 0; t < 4; t++) {
			rd[t] = (reader){ mt, ids, (const uint8_t (*)[RECLEN])data, t * 10, 0 };
			pthread_create(&th[t], NULL, read_all, &rd[t]);
		}
		for (int t = 0; t < 4; t++) {
			pthread_join(th[t], NULL);
			CHECK_EQ_U64(rd[t].same, NREC);
		}
		dits_s3_store_get_stats(mt, &s);
		CHECK(s.cached_bytes <= 2 * BLOCK);
		dits_s3_store_free(mt);
	}

	/* Read-ahead: a forward reader finds the blocks after the first fetched
	 * for it, each block fetched once. */
	char c5[300], bdir[400];
	snprintf(c5, sizeof c5, "%s/cache5", s3_test_dir);
	snprintf(bdir, sizeof bdir, "%s/blocks/%u", c5, BLOCK);
	CHECK_RC(open_store_ahead(&st, c5, 0, 0, &db), 0);
	CHECK_EQ_U64(read_every(db, ids, (const uint8_t (*)[RECLEN])data), NREC);
	dits_s3_store_get_stats(st, &s);
	CHECK(s.prefetched > 0);
	CHECK_EQ_U64(s.gets, pack_blocks);
	fprintf(stderr, "read-ahead: %llu of %llu blocks fetched ahead\n", (unsigned long long)s.prefetched,
	        (unsigned long long)pack_blocks);
	dits_odb_free(db);
	dits_s3_store_free(st);

	/* The cache outlives the store: reopened, nothing is fetched again. A
	 * stray file and the blocks of another block size go. */
	char stray[500], other[500];
	snprintf(stray, sizeof stray, "%s/pack-zz.1.tmp-1", bdir);
	snprintf(other, sizeof other, "%s/blocks/123", c5);
	CHECK(dits_atomic_write(stray, "x", 1) == 0);
	CHECK(mkdir(other, 0755) == 0);
	CHECK_EQ_U64(count_files(bdir), pack_blocks + 1);
	CHECK_RC(open_store(&st, c5, 0, &db), 0);
	dits_s3_store_get_stats(st, &s);
	CHECK_EQ_U64(s.cached_blocks, pack_blocks);
	CHECK_EQ_U64(count_files(bdir), pack_blocks);
	CHECK(access(other, F_OK) != 0);
	CHECK_EQ_U64(read_every(db, ids, (const uint8_t (*)[RECLEN])data), NREC);
	dits_s3_store_get_stats(st, &s);
	CHECK_EQ_U64(s.gets, 0);
	dits_odb_free(db);
	dits_s3_store_free(st);

	/* A cached block damaged on disk: its records are read again from the
	 * store, right, and the block replaced. */
	{
		char bad[600];
		snprintf(bad, sizeof bad, "%s/%s.2", bdir, strrchr(k.pack, '/') + 1);
		bad[strlen(bad) - strlen(".pack.2")] = '\0';
		strcat(bad, ".2");
		dits_buf blk = DITS_BUF_INIT;
		CHECK(dits_read_file(bad, &blk) == 0);
		CHECK(blk.len == BLOCK);
		if (blk.len == BLOCK)
			blk.data[BLOCK / 2] ^= 0x21;
		CHECK(dits_atomic_write(bad, blk.data, blk.len) == 0);
		dits_buf_free(&blk);
	}
	CHECK_RC(open_store(&st, c5, 0, &db), 0);
	CHECK_EQ_U64(read_every(db, ids, (const uint8_t (*)[RECLEN])data), NREC);
	dits_s3_store_get_stats(st, &s);
	CHECK_EQ_U64(s.gets, 1);
	dits_odb_free(db);
	dits_s3_store_free(st);

	/* Reopened with a smaller bound: the oldest blocks go at once. */
	CHECK_RC(open_store(&st, c5, 3 * BLOCK, &db), 0);
	dits_s3_store_get_stats(st, &s);
	CHECK_EQ_U64(s.cached_blocks, 3);
	CHECK(s.cached_bytes <= 3 * BLOCK);
	CHECK_EQ_U64(count_files(bdir), 3);
	dits_odb_free(db);
	dits_s3_store_free(st);

	/* A large pack is uploaded while it is written. Dropped before its
	 * end (two parts already sent), nothing of it appears. */
	{
		char c6[300];
		snprintf(c6, sizeof c6, "%s/cache6", s3_test_dir);
		dits_s3_store_opts o = { .url = "s3://" S3_TEST_BUCKET "/t/", .cache_dir = c6, .block_bytes = BLOCK };
		dits_s3_store *bs = NULL;
		dits_odb *bdb = NULL;
		dits_odb_backend *bb = NULL;
		CHECK_RC(dits_s3_store_open(&bs, &o), 0);
		CHECK_RC(dits_s3_store_backend(bs, "r2", &bb), 0);
		CHECK_RC(dits_odb_new(&bdb), 0);
		CHECK_RC(dits_odb_add_backend(bdb, bb), 0);
		CHECK_RC(write_big(bdb, false), 0);
		keys k2 = { 0 };
		CHECK_RC(dits_s3_list(s3, "r2/", list_keys, &k2), 0);
		CHECK_EQ_U64(k2.packs, 0);
		CHECK_EQ_U64(k2.idx, 0);
		/* Finished: one pack and its index, every record readable. */
		CHECK_RC(write_big(bdb, true), 0);
		memset(&k2, 0, sizeof k2);
		CHECK_RC(dits_s3_list(s3, "r2/", list_keys, &k2), 0);
		CHECK_EQ_U64(k2.packs, 1);
		CHECK_EQ_U64(k2.idx, 1);
		dits_s3_stat ps;
		CHECK_RC(dits_s3_head(s3, k2.pack, &ps), 0);
		CHECK_EQ_U64(ps.size, 16 + (uint64_t)NBIG * (40 + RECLEN));
		dits_odb_free(bdb);
		dits_s3_store_free(bs);
		snprintf(c6, sizeof c6, "%s/cache7", s3_test_dir);
		CHECK_RC(dits_s3_store_open(&bs, &o), 0);
		CHECK_RC(dits_s3_store_backend(bs, "r2", &bb), 0);
		CHECK_RC(dits_odb_new(&bdb), 0);
		CHECK_RC(dits_odb_add_backend(bdb, bb), 0);
		static uint8_t want[RECLEN], have[RECLEN];
		same = 0;
		for (int i = 0; i < NBIG; i += 37) {
			dits_id id;
			big_record(i, want, &id);
			same += dits_odb_read_into(bdb, &id, have, RECLEN) == 0 && !memcmp(want, have, RECLEN);
		}
		CHECK_EQ_U64(same, (NBIG + 36) / 37);
		dits_odb_free(bdb);
		dits_s3_store_free(bs);
	}

	/* A pack changed in the bucket: a byte of record 5's payload. */
	dits_buf pk = DITS_BUF_INIT;
	CHECK_RC(dits_s3_get(s3, k.pack, &pk), 0);
	size_t at = 16 + 5 * (40 + RECLEN) + 40 + 100;
	CHECK(pk.len > at);
	if (pk.len > at)
		pk.data[at] ^= 0x55;
	CHECK_RC(dits_s3_put(s3, k.pack, pk.data, pk.len), 0);
	CHECK_RC(open_store(&st, c3, 0, &db), 0);
	dits_buf_reset(&out);
	CHECK_RC(dits_odb_read(db, &ids[5], &out, NULL), DITS_ECORRUPT);
	CHECK(out.len == 0);
	const char *msg = dits_error_last();
	char want[512];
	snprintf(want, sizeof want, "s3://" S3_TEST_BUCKET "/t/%s: chunk", k.pack);
	CHECK(strstr(msg, want) != NULL);
	CHECK(strstr(msg, "do not match their hash") != NULL);
	fprintf(stderr, "corrupt record: %s\n", msg);
	/* The others still read. */
	CHECK_RC(dits_odb_read(db, &ids[6], &out, NULL), 0);
	dits_odb_free(db);
	dits_s3_store_free(st);
	dits_buf_free(&out);
	dits_buf_free(&pk);
	dits_s3_close(s3);
	return check_done();
}
