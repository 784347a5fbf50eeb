/*
 * fuzz_index - the index file loader (src/core/index.c, dits_index_load).
 * The index ends in the BLAKE3 of everything before it, which random bytes
 * never match; the target appends that checksum to the input so the fuzzer
 * reaches the entries. An input whose first byte is 0xff is written as it
 * is (the checksum path). A loaded index is used the way commands use it.
 */
#include "fuzz_common.h"

#include "error.h"
#include "hash.h"
#include "index.h"
#include "repo.h"

static dits_repo *fuzz_repo(void)
{
	static dits_repo *r;
	if (!r) {
		char dir[4200];
		snprintf(dir, sizeof dir, "%s/repo", fuzz_dir());
		if (dits_repo_init(&r, dir, NULL)) {
			fprintf(stderr, "fuzz_index: %s\n", dits_error_last());
			abort();
		}
	}
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	dits_repo *r = fuzz_repo();
	char *path = dits_repo_path(r, "index");
	if (!path)
		abort();
	if (size && data[0] == 0xff) {
		fuzz_write(path, data + 1, size - 1);
	} else {
		uint8_t *file = malloc(size + DITS_ID_LEN);
		if (!file)
			abort();
		if (size)
			memcpy(file, data, size);
		dits_id sum;
		dits_hash_buf(&sum, data, size);
		memcpy(file + size, sum.b, DITS_ID_LEN);
		fuzz_write(path, file, size + DITS_ID_LEN);
		free(file);
	}
	free(path);
	dits_index idx;
	if (dits_index_load(r, &idx) == 0) {
		for (size_t i = 0; i < idx.n; i++) {
			if (dits_index_find(&idx, idx.e[i].path) == NULL)
				abort(); /* a loaded entry must be found by its path */
		}
		dits_id d;
		dits_index_digest(&idx, &d);
		dits_index_free(&idx);
	}
	return 0;
}
