/*
 * fuzz_pack_index: a libFuzzer target for the pack index loader.
 *
 * The input is written as the index of a small valid pack (four records made
 * at start-up) with its trailing BLAKE3 checksum recomputed, so that the
 * mutations reach the structural checks behind the checksum. The store is
 * then opened; when it opens, every entry is located, read, verified in place
 * and iterated, prefixes are resolved and the pack is verified end to end.
 * The index is also loaded on its own (dits_pack_index_load, as the S3 pack
 * backend does) and every entry is found again by its id.
 * Any outcome but a crash or a sanitizer report is fine.
 *
 * Seeds: tests/fuzz/corpus/pack_index/ (indexes of a real small repository).
 */
#include "fuzz_common.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "fsutil.h"
#include "hash.h"
#include "odb.h"
#include "odb_pack.h"

static char *g_dir;
static char *g_idx;

static void setup(void)
{
	g_dir = strdup(fuzz_dir());
	dits_odb *db = NULL;
	dits_pack_writer *w = NULL;
	if (dits_odb_open(&db, g_dir) || dits_pack_writer_new(&w, db))
		abort();
	static const char *payloads[] = { "a chunk of bytes", "", "tree-ish", "dits-commit 1\n" };
	const int types[] = { DITS_OBJ_CHUNK, DITS_OBJ_CHUNK, DITS_OBJ_TREE, DITS_OBJ_COMMIT };
	for (int i = 0; i < 4; i++) {
		dits_id id;
		if (dits_pack_writer_put_object(w, types[i], payloads[i], strlen(payloads[i]), &id))
			abort();
	}
	if (dits_pack_writer_finish(w))
		abort();
	const char *pp = dits_odb_pack_path(db, 0);
	g_idx = dits_strfmt("%.*s.idx", (int)(strlen(pp) - 5), pp);
	dits_pack_writer_free(w);
	dits_odb_free(db);
	if (!g_idx)
		abort();
}

static void ignore_report(void *ctx, const char *msg)
{
	(void)ctx;
	(void)msg;
}

static int visit(void *ctx, const dits_id *id, const dits_odb_loc *loc)
{
	dits_odb *db = ctx;
	dits_odb_loc found;
	if (dits_odb_locate(db, id, &found) == 0 && found.length <= (1u << 20)) {
		uint8_t *buf = malloc(found.length + 1);
		if (buf) {
			dits_odb_read_at(db, &found, id, buf);
			free(buf);
		}
		const uint8_t *data;
		dits_odb_verify_at(db, &found, id, &data);
	}
	(void)loc;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!g_dir)
		setup();
	uint8_t *idx = malloc(size ? size : 1);
	if (!idx)
		return 0;
	memcpy(idx, data, size);
	if (size >= DITS_ID_LEN)
		dits_hash_buf((dits_id *)(void *)(idx + size - DITS_ID_LEN), idx, size - DITS_ID_LEN);
	FILE *f = fopen(g_idx, "wb");
	if (!f) {
		free(idx);
		return 0;
	}
	size_t wrote = fwrite(idx, 1, size, f);
	free(idx);
	if (fclose(f) != 0 || wrote != size)
		return 0;
	dits_odb *db = NULL;
	if (dits_odb_open(&db, g_dir) == 0) {
		dits_odb_pack_foreach(db, visit, db);
		dits_id out;
		dits_odb_resolve_prefix(db, "0", 0, &out);
		dits_odb_resolve_prefix(db, "ff", DITS_OBJ_CHUNK, &out);
		dits_id probe;
		memset(probe.b, 0x80, sizeof probe.b);
		dits_odb_exists(db, &probe);
		dits_buf b = DITS_BUF_INIT;
		dits_odb_read(db, &probe, &b, NULL);
		dits_buf_free(&b);
		for (size_t i = 0; i < dits_odb_pack_count(db); i++)
			dits_odb_verify_pack(db, i, ignore_report, NULL);
		dits_odb_free(db);
	}
	/* The same index alone, as the S3 pack backend reads a downloaded one,
	 * against a pack size taken from the input (small, or any). */
	dits_pack_index *x = NULL;
	uint64_t pack_size = size >= 8 ? dits_get_le64(data) : 4096;
	if (dits_pack_index_load(&x, g_idx, "s3://fuzz/pack.pack", pack_size) == 0) {
		uint64_t n = dits_pack_index_count(x);
		for (uint64_t i = 0; i < n; i++) {
			dits_id id;
			dits_odb_loc loc, found;
			dits_pack_index_entry(x, i, &id, &loc);
			if (dits_pack_index_find(x, &id, &found) == 0 && found.offset != loc.offset)
				abort(); /* an id listed once is found where it is listed */
		}
		dits_pack_index_free(x);
	}
	dits_error_clear();
	return 0;
}
