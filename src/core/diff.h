/*
 * diff.h - what changed between two trees, in files, bytes and chunks.
 */
#ifndef DITS_DIFF_H
#define DITS_DIFF_H

#include <stddef.h>
#include <stdint.h>

#include "repo.h"

typedef struct dits_diff_file {
	char *path;
	char status; /* 'A' added, 'M' modified, 'D' deleted */
	uint64_t old_size, new_size;
	uint64_t chunks_new, bytes_new;       /* chunks of the new version not in the old one */
	uint64_t chunks_shared, bytes_shared; /* chunks the two versions share */
} dits_diff_file;

typedef struct dits_diff {
	dits_diff_file *v;
	size_t n, cap;
} dits_diff;

/*
 * Compares commit a with commit b; b NULL compares with the working tree
 * (tracked files as they are on disk). Files are listed in path order.
 */
int dits_diff_compute(dits_repo *r, const dits_id *a, const dits_id *b, dits_diff *out);
void dits_diff_free(dits_diff *d);

#endif
