/*
 * dits_blob: random access to stored content, verified chunk by chunk.
 */
#include "blob.h"
#include "check.h"
#include "chunker.h"
#include "error.h"
#include "ingest.h"
#include "odb.h"
#include "odb_pack.h"
#include "util.h"

#include <fcntl.h>
#include <unistd.h>

int main(void)
{
	char *dir = util_mkdtemp("blob");
	REQUIRE(dir);
	char packs[4096];
	snprintf(packs, sizeof packs, "%s/pack", dir);
	dits_odb *db;
	REQUIRE(dits_odb_open(&db, packs) == 0);

	/* 5 MiB + 321 of pseudo-random data, chunked small so there are many chunks. */
	size_t n = (5u << 20) + 321;
	uint8_t *data = malloc(n);
	util_rng rng = { 0x1234567 };
	util_rng_fill(&rng, data, n);
	char src[4096];
	snprintf(src, sizeof src, "%s/src.bin", dir);
	REQUIRE(util_write_file(src, data, n) == 0);
	dits_chunker_params p = { 4096, 16384, 65536, 1, 0 };
	dits_chunker c;
	REQUIRE(dits_chunker_init(&c, &p) == 0);
	dits_pack_writer *w;
	REQUIRE(dits_pack_writer_new(&w, db) == 0);
	int fd = open(src, O_RDONLY);
	REQUIRE(fd >= 0);
	dits_manifest m;
	REQUIRE(dits_ingest_fd(w, &c, fd, src, &m, NULL, NULL, NULL) == 0);
	close(fd);
	dits_id mid;
	REQUIRE(dits_manifest_write(w, &m, &mid) == 0);
	REQUIRE(dits_pack_writer_finish(w) == 0);
	dits_pack_writer_free(w);
	CHECK(m.nchunks > 100);

	dits_blob *b;
	REQUIRE(dits_blob_open(&b, db, &mid) == 0);
	CHECK_EQ_U64(dits_blob_size(b), n);

	/* Sequential read in odd-sized pieces gives the bytes back. */
	uint8_t *back = malloc(n);
	size_t got = 0;
	while (got < n) {
		ssize_t r = dits_blob_pread(b, back + got, 7777, got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	CHECK_EQ_U64(got, n);
	CHECK(memcmp(back, data, n) == 0);

	/* Random reads, including ones that straddle chunks and run past the end. */
	int bad = 0;
	for (int i = 0; i < 2000; i++) {
		uint64_t off = util_rng_next(&rng) % (n + 100);
		size_t len = (size_t)(util_rng_next(&rng) % 200000);
		ssize_t r = dits_blob_pread(b, back, len, off);
		size_t want = off >= n ? 0 : (n - off < len ? n - off : len);
		if (r != (ssize_t)want || (want && memcmp(back, data + off, want) != 0))
			bad++;
	}
	CHECK(bad == 0);
	CHECK(dits_blob_pread(b, back, 10, n) == 0);
	dits_blob_close(b);

	/* A flipped byte in a chunk: reads that touch it fail with ECORRUPT. */
	dits_odb_loc loc;
	REQUIRE(dits_odb_locate(db, &m.chunks[10].id, &loc) == 0);
	REQUIRE(util_flip_byte(dits_odb_pack_path(db, loc.pack), (off_t)loc.offset + 5, 0x40) == 0);
	REQUIRE(dits_blob_open(&b, db, &mid) == 0);
	uint64_t off10 = 0;
	for (int i = 0; i < 10; i++)
		off10 += m.chunks[i].len;
	CHECK(dits_blob_pread(b, back, 100, 0) == 100); /* chunk 0 is fine */
	CHECK(dits_blob_pread(b, back, 100, off10 + 1) == DITS_ECORRUPT);
	CHECK(strstr(dits_error_last(), "do not match") != NULL);
	dits_blob_close(b);

	dits_manifest_free(&m);
	free(back);
	free(data);
	dits_odb_free(db);
	util_rm_rf(dir);
	free(dir);
	return check_done();
}
