/*
 * fuzz_objects - the object parsers of src/core/object.c: trees and commits
 * (dits_tree_parse, dits_commit_parse) read straight from the bytes, and
 * manifests read back from a store (dits_manifest_read and
 * dits_manifest_read_head), since a manifest comes out of a pack. The first
 * byte picks the object kind; the rest is the object. A tree or commit that
 * parses is serialized again and must parse to the same bytes.
 */
#include "fuzz_common.h"

#include "error.h"
#include "object.h"
#include "odb.h"

/* A fresh, empty store for each input (the old one's packs removed). */
static dits_odb *fuzz_odb(void)
{
	static dits_odb *db;
	char dir[4200];
	snprintf(dir, sizeof dir, "%s/objects", fuzz_dir());
	if (db) {
		dits_odb_free(db);
		db = NULL;
		nftw(dir, fuzz_rm_one, 16, FTW_DEPTH | FTW_PHYS);
	}
	if (mkdir(dir, 0755) < 0 || dits_odb_open(&db, dir)) {
		fprintf(stderr, "fuzz_objects: cannot make a store in %s: %s\n", dir, dits_error_last());
		abort();
	}
	return db;
}

static void fuzz_tree(const uint8_t *data, size_t size)
{
	dits_tree t;
	dits_tree_init(&t);
	if (dits_tree_parse(&t, data, size) == 0) {
		dits_buf b = DITS_BUF_INIT;
		if (dits_tree_serialize(&t, &b) == 0) {
			dits_tree u;
			dits_tree_init(&u);
			/* what we write we must be able to read */
			if (dits_tree_parse(&u, b.data, b.len) != 0 || u.n != t.n)
				abort();
			dits_tree_free(&u);
		}
		dits_buf_free(&b);
	}
	dits_tree_free(&t);
}

static void fuzz_commit(const uint8_t *data, size_t size)
{
	dits_commit c;
	memset(&c, 0, sizeof c);
	if (dits_commit_parse(&c, data, size) == 0) {
		dits_buf b = DITS_BUF_INIT;
		if (dits_commit_serialize(&c, &b) == 0) {
			dits_commit d;
			memset(&d, 0, sizeof d);
			if (dits_commit_parse(&d, b.data, b.len) != 0 || d.nparents != c.nparents)
				abort();
			dits_commit_free(&d);
		}
		dits_buf_free(&b);
	}
	dits_commit_free(&c);
}

static void fuzz_manifest(const uint8_t *data, size_t size)
{
	dits_odb *db = fuzz_odb();
	dits_pack_writer *w;
	dits_id id;
	if (dits_pack_writer_new(&w, db))
		abort();
	if (dits_pack_writer_put_object(w, DITS_OBJ_MANIFEST, data, size, &id) || dits_pack_writer_finish(w)) {
		dits_pack_writer_free(w);
		return;
	}
	dits_pack_writer_free(w);
	if (dits_odb_refresh(db))
		abort();
	/* the segments a manifest names are other records: absent here, so a
	 * multi-segment manifest ends in a clean "not found" */
	dits_manifest m;
	dits_manifest_init(&m);
	if (dits_manifest_read(db, &id, &m) == 0) {
		uint64_t total = 0;
		for (uint64_t i = 0; i < m.nchunks; i++)
			total += m.chunks[i].len;
		(void)total;
	}
	dits_manifest_free(&m);
	dits_manifest_head h;
	memset(&h, 0, sizeof h);
	if (dits_manifest_read_head(db, &id, &h) == 0)
		dits_manifest_head_free(&h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0: fuzz_tree(data + 1, size - 1); break;
	case 1: fuzz_commit(data + 1, size - 1); break;
	default: fuzz_manifest(data + 1, size - 1); break;
	}
	return 0;
}
