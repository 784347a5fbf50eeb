#include "diff.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "fsutil.h"
#include "index.h"
#include "ingest.h"
#include "object.h"
#include "repo_internal.h"
#include "worktree.h"

void dits_diff_free(dits_diff *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->v[i].path);
	free(d->v);
	memset(d, 0, sizeof *d);
}

static int cmp_ref(const void *a, const void *b)
{
	return dits_id_cmp(&((const dits_chunk_ref *)a)->id, &((const dits_chunk_ref *)b)->id);
}

static bool has_chunk(const dits_chunk_ref *sorted, uint64_t n, const dits_id *id)
{
	uint64_t lo = 0, hi = n;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		int c = dits_id_cmp(&sorted[mid].id, id);
		if (!c)
			return true;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static int push(dits_diff *d, const char *path, char status, const dits_manifest *oldm,
                const dits_manifest *newm)
{
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 16;
		dits_diff_file *v = realloc(d->v, cap * sizeof *v);
		if (!v)
			return dits_error_set(DITS_ENOMEM, "out of memory");
		d->v = v;
		d->cap = cap;
	}
	dits_diff_file *f = &d->v[d->n];
	memset(f, 0, sizeof *f);
	if (!(f->path = strdup(path)))
		return dits_error_set(DITS_ENOMEM, "out of memory");
	f->status = status;
	f->old_size = oldm ? oldm->size : 0;
	f->new_size = newm ? newm->size : 0;
	if (newm) {
		dits_chunk_ref *sorted = NULL;
		uint64_t on = oldm ? oldm->nchunks : 0;
		if (on) {
			sorted = malloc(on * sizeof *sorted);
			if (!sorted) {
				free(f->path);
				return dits_error_set(DITS_ENOMEM, "out of memory");
			}
			memcpy(sorted, oldm->chunks, on * sizeof *sorted);
			if (on > 1)
				qsort(sorted, on, sizeof *sorted, cmp_ref);
		}
		for (uint64_t i = 0; i < newm->nchunks; i++) {
			if (sorted && has_chunk(sorted, on, &newm->chunks[i].id)) {
				f->chunks_shared++;
				f->bytes_shared += newm->chunks[i].len;
			} else {
				f->chunks_new++;
				f->bytes_new += newm->chunks[i].len;
			}
		}
		free(sorted);
	}
	d->n++;
	return 0;
}

/* The manifest of a worktree file, computed without storing anything. */
static int worktree_manifest(dits_repo *r, const char *path, dits_manifest *m)
{
	char *abs = dits_path_join(r->workdir, path);
	int fd = abs ? open(abs, O_RDONLY | O_CLOEXEC) : -1;
	free(abs);
	if (fd < 0)
		return dits_error_errno("%s", path);
	int rc = dits_ingest_fd(NULL, &r->chunker, fd, path, m, NULL, NULL, NULL);
	close(fd);
	return rc;
}

int dits_diff_compute(dits_repo *r, const dits_id *a, const dits_id *b, dits_diff *out)
{
	memset(out, 0, sizeof *out);
	dits_flat fa, fb = { 0 };
	int rc = dits_flat_from_commit(r, a, &fa);
	if (rc)
		return rc;
	dits_index idx = { 0 };
	char *state = NULL;
	if (b) {
		rc = dits_flat_from_commit(r, b, &fb);
	} else {
		/* The working tree: index entries, with their on-disk state. */
		rc = dits_index_load(r, &idx);
		if (!rc) {
			state = calloc(idx.n ? idx.n : 1, 1);
			rc = state ? dits_worktree_state(r, &idx, state, NULL) : DITS_ENOMEM;
		}
		for (size_t k = 0; !rc && k < idx.n; k++) {
			if (state[k] == 'D')
				continue;
			if (fb.n == fb.cap) {
				fb.cap = fb.cap ? fb.cap * 2 : 64;
				dits_flat_entry *ne = realloc(fb.e, fb.cap * sizeof *ne);
				if (!ne) {
					rc = DITS_ENOMEM;
					break;
				}
				fb.e = ne;
			}
			dits_flat_entry *e = &fb.e[fb.n];
			e->path = strdup(idx.e[k].path);
			e->mode = idx.e[k].mode;
			e->size = idx.e[k].size;
			/* A modified file gets a zero id: its manifest is computed below. */
			memset(&e->id, 0, sizeof e->id);
			if (!state[k])
				e->id = idx.e[k].id;
			fb.n++;
		}
	}
	size_t i = 0, k = 0;
	while (!rc && (i < fa.n || k < fb.n)) {
		int c = i == fa.n ? 1 : k == fb.n ? -1 : strcmp(fa.e[i].path, fb.e[k].path);
		dits_manifest om, nm;
		dits_manifest_init(&om);
		dits_manifest_init(&nm);
		const char *path = c <= 0 ? fa.e[i].path : fb.e[k].path;
		if (c <= 0 && (rc = dits_manifest_read(r->odb, &fa.e[i].id, &om)))
			break;
		if (c >= 0) {
			if (dits_id_is_zero(&fb.e[k].id))
				rc = worktree_manifest(r, fb.e[k].path, &nm);
			else if (!(c == 0 && dits_id_eq(&fa.e[i].id, &fb.e[k].id)))
				rc = dits_manifest_read(r->odb, &fb.e[k].id, &nm);
			else
				rc = 0;
		}
		if (!rc) {
			if (c < 0)
				rc = push(out, path, 'D', &om, NULL);
			else if (c > 0)
				rc = push(out, path, 'A', NULL, &nm);
			else if (nm.nchunks || nm.size || om.size != 0) {
				bool same = dits_id_eq(&fa.e[i].id, &fb.e[k].id) ||
				            (om.size == nm.size && dits_id_eq(&om.content, &nm.content) &&
				             nm.nchunks == om.nchunks);
				if (!same && (nm.nchunks || om.nchunks))
					rc = push(out, path, 'M', &om, &nm);
			}
		}
		dits_manifest_free(&om);
		dits_manifest_free(&nm);
		if (c <= 0)
			i++;
		if (c >= 0)
			k++;
	}
	free(state);
	dits_index_free(&idx);
	dits_flat_free(&fa);
	dits_flat_free(&fb);
	if (rc)
		dits_diff_free(out);
	return rc;
}
