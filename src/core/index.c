#include "index.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "error.h"
#include "fsutil.h"

#define INDEX_MAGIC "DIDX"
#define INDEX_VERSION 3 /* 2 added the proxy-mode flag and its content id, 3 the tree note */

uint32_t dits_mode_from_stat(const struct stat *st)
{
	return (st->st_mode & 0111) ? 0100755 : 0100644;
}

void dits_index_entry_set_stat(dits_index_entry *e, const struct stat *st)
{
	e->mode = dits_mode_from_stat(st);
	e->size = (uint64_t)st->st_size;
	e->mtime_s = st->st_mtim.tv_sec;
	e->mtime_ns = (uint32_t)st->st_mtim.tv_nsec;
	e->ctime_s = st->st_ctim.tv_sec;
	e->ctime_ns = (uint32_t)st->st_ctim.tv_nsec;
	e->ino = st->st_ino;
	e->dev = st->st_dev;
}

void dits_index_entry_set_proxy_stat(dits_index_entry *e, const struct stat *st, const dits_id *proxy)
{
	uint64_t master_size = e->size;
	dits_index_entry_set_stat(e, st);
	e->size = master_size;
	e->wt_size = (uint64_t)st->st_size;
	e->wt_id = *proxy;
	e->flags |= DITS_INDEX_PROXY;
}

bool dits_index_stat_clean(const dits_index *idx, const dits_index_entry *e, const struct stat *st)
{
	uint64_t size = (e->flags & DITS_INDEX_PROXY) ? e->wt_size : e->size;
	if (size != (uint64_t)st->st_size || e->mode != dits_mode_from_stat(st) ||
	    e->mtime_s != st->st_mtim.tv_sec || e->mtime_ns != (uint32_t)st->st_mtim.tv_nsec ||
	    e->ctime_s != st->st_ctim.tv_sec || e->ctime_ns != (uint32_t)st->st_ctim.tv_nsec ||
	    e->ino != st->st_ino || e->dev != st->st_dev)
		return false;
	/* Racy: modified in the same instant the index was written. */
	if (e->mtime_s > idx->stamp_s || (e->mtime_s == idx->stamp_s && e->mtime_ns >= idx->stamp_ns))
		return false;
	return true;
}

void dits_index_free(dits_index *idx)
{
	for (size_t i = 0; i < idx->n; i++)
		free(idx->e[i].path);
	free(idx->e);
	memset(idx, 0, sizeof *idx);
}

void dits_index_clear(dits_index *idx)
{
	for (size_t i = 0; i < idx->n; i++)
		free(idx->e[i].path);
	idx->n = 0;
	idx->sorted_n = 0;
	idx->sorted = true;
	idx->dirty = true;
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const dits_index_entry *)a)->path, ((const dits_index_entry *)b)->path);
}

void dits_index_sort(dits_index *idx)
{
	if (!idx->sorted) {
		if (idx->n > 1)
			qsort(idx->e, idx->n, sizeof *idx->e, cmp_entry);
		idx->sorted = true;
	}
	idx->sorted_n = idx->n;
}

static int push_entry(dits_index *idx, dits_index_entry *e)
{
	if (idx->n == idx->cap) {
		size_t cap = idx->cap ? idx->cap * 2 : 64;
		dits_index_entry *n = realloc(idx->e, cap * sizeof *n);
		if (!n)
			return dits_error_set(DITS_ENOMEM, "out of memory");
		idx->e = n;
		idx->cap = cap;
	}
	if (idx->n && strcmp(idx->e[idx->n - 1].path, e->path) >= 0)
		idx->sorted = false;
	idx->e[idx->n++] = *e;
	if (idx->sorted)
		idx->sorted_n = idx->n;
	return 0;
}

int dits_index_load(dits_repo *r, dits_index *idx)
{
	memset(idx, 0, sizeof *idx);
	idx->sorted = true;
	char *path = dits_repo_path(r, "index");
	if (!path)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	struct stat st;
	if (stat(path, &st) < 0) {
		int rc = errno == ENOENT ? 0 : dits_error_errno("%s", path);
		free(path);
		return rc;
	}
	idx->stamp_s = st.st_mtim.tv_sec;
	idx->stamp_ns = (uint32_t)st.st_mtim.tv_nsec;
	dits_buf b = DITS_BUF_INIT;
	int rc = dits_read_file(path, &b);
	if (rc)
		goto out;
	rc = dits_error_set(DITS_ECORRUPT, "%s: index file is damaged", path);
	if (b.len < 16 + DITS_ID_LEN || memcmp(b.data, INDEX_MAGIC, 4))
		goto out;
	dits_id sum;
	dits_hash_buf(&sum, b.data, b.len - DITS_ID_LEN);
	if (memcmp(sum.b, b.data + b.len - DITS_ID_LEN, DITS_ID_LEN))
		goto out;
	dits_reader rd = { b.data + 4, b.data + b.len - DITS_ID_LEN };
	uint32_t version, count, reserved;
	dits_read_u32(&rd, &version);
	dits_read_u32(&rd, &count);
	dits_read_u32(&rd, &reserved);
	if (version < 1 || version > INDEX_VERSION) {
		rc = dits_error_set(DITS_EVERSION, "%s: index version %u is not supported", path, version);
		goto out;
	}
	if (version >= 3 && (dits_read_bytes(&rd, idx->tree_digest.b, DITS_ID_LEN) ||
	                     dits_read_bytes(&rd, idx->tree_id.b, DITS_ID_LEN)))
		goto out;
	for (uint32_t i = 0; i < count; i++) {
		dits_index_entry e = { 0 };
		uint64_t ms, cs;
		uint16_t plen;
		const uint8_t *p;
		if (dits_read_u32(&rd, &e.mode) || dits_read_u64(&rd, &e.size) || dits_read_u64(&rd, &ms) ||
		    dits_read_u32(&rd, &e.mtime_ns) || dits_read_u64(&rd, &cs) || dits_read_u32(&rd, &e.ctime_ns) ||
		    dits_read_u64(&rd, &e.ino) || dits_read_u64(&rd, &e.dev) ||
		    dits_read_bytes(&rd, e.id.b, DITS_ID_LEN) || dits_read_u32(&rd, &e.flags) ||
		    dits_read_u16(&rd, &plen) || dits_read_skip(&rd, &p, plen) || plen == 0 ||
		    (version == 1 && e.flags) || (e.flags & ~DITS_INDEX_PROXY) ||
		    ((e.flags & DITS_INDEX_PROXY) &&
		     (dits_read_bytes(&rd, e.wt_id.b, DITS_ID_LEN) || dits_read_u64(&rd, &e.wt_size))))
			goto out;
		e.mtime_s = (int64_t)ms;
		e.ctime_s = (int64_t)cs;
		if (!(e.path = strndup((const char *)p, plen)) || push_entry(idx, &e)) {
			free(e.path);
			rc = dits_error_set(DITS_ENOMEM, "out of memory");
			goto out;
		}
	}
	if (rd.p != rd.end)
		goto out;
	dits_index_sort(idx);
	rc = 0;
out:
	dits_buf_free(&b);
	free(path);
	if (rc)
		dits_index_free(idx);
	return rc;
}

/*
 * File times come from the kernel's coarse clock. An entry whose mtime is
 * not older than the index file is racy and must be re-hashed by the next
 * command (for a freshly checked-out 2 GiB master, a second of hashing).
 * Waiting until the coarse clock has moved past the newest mtime before
 * writing the index (a few milliseconds at most) makes every entry trusted.
 */
static void wait_past_newest_mtime(const dits_index *idx)
{
	int64_t s = 0;
	uint32_t ns = 0;
	for (size_t i = 0; i < idx->n; i++) {
		const dits_index_entry *e = &idx->e[i];
		if (e->mtime_s > s || (e->mtime_s == s && e->mtime_ns > ns)) {
			s = e->mtime_s;
			ns = e->mtime_ns;
		}
	}
	for (int tries = 0; tries < 100; tries++) {
		struct timespec now;
		clock_gettime(CLOCK_REALTIME_COARSE, &now);
		if (now.tv_sec > s || (now.tv_sec == s && (uint32_t)now.tv_nsec > ns))
			return;
		struct timespec nap = { 0, 1000000 };
		nanosleep(&nap, NULL);
	}
}

int dits_index_write(dits_repo *r, dits_index *idx)
{
	dits_index_sort(idx);
	wait_past_newest_mtime(idx);
	dits_buf b = DITS_BUF_INIT;
	dits_buf_put(&b, INDEX_MAGIC, 4);
	dits_buf_put_u32(&b, INDEX_VERSION);
	dits_buf_put_u32(&b, (uint32_t)idx->n);
	dits_buf_put_u32(&b, 0);
	dits_buf_put(&b, idx->tree_digest.b, DITS_ID_LEN);
	int rc = dits_buf_put(&b, idx->tree_id.b, DITS_ID_LEN);
	for (size_t i = 0; i < idx->n && !rc; i++) {
		const dits_index_entry *e = &idx->e[i];
		dits_buf_put_u32(&b, e->mode);
		dits_buf_put_u64(&b, e->size);
		dits_buf_put_u64(&b, (uint64_t)e->mtime_s);
		dits_buf_put_u32(&b, e->mtime_ns);
		dits_buf_put_u64(&b, (uint64_t)e->ctime_s);
		dits_buf_put_u32(&b, e->ctime_ns);
		dits_buf_put_u64(&b, e->ino);
		dits_buf_put_u64(&b, e->dev);
		dits_buf_put(&b, e->id.b, DITS_ID_LEN);
		dits_buf_put_u32(&b, e->flags);
		size_t pl = strlen(e->path);
		if (pl > 65535) {
			rc = dits_error_set(DITS_EINVALID, "%s: path too long", e->path);
			break;
		}
		dits_buf_put_u16(&b, (uint16_t)pl);
		rc = dits_buf_put(&b, e->path, pl);
		if (!rc && (e->flags & DITS_INDEX_PROXY)) {
			dits_buf_put(&b, e->wt_id.b, DITS_ID_LEN);
			rc = dits_buf_put_u64(&b, e->wt_size);
		}
	}
	if (!rc) {
		dits_id sum;
		dits_hash_buf(&sum, b.data, b.len);
		rc = dits_buf_put(&b, sum.b, DITS_ID_LEN);
	}
	char *path = dits_repo_path(r, "index");
	if (!rc)
		rc = path ? dits_atomic_write(path, b.data, b.len) : DITS_ENOMEM;
	if (!rc) {
		struct stat st;
		if (stat(path, &st) == 0) {
			idx->stamp_s = st.st_mtim.tv_sec;
			idx->stamp_ns = (uint32_t)st.st_mtim.tv_nsec;
		}
		idx->dirty = false;
	}
	free(path);
	dits_buf_free(&b);
	return rc;
}

void dits_index_digest(dits_index *idx, dits_id *out)
{
	dits_index_sort(idx);
	dits_hasher h;
	dits_hasher_init(&h);
	/* Whole 64 KiB runs go to the hasher, so its SIMD paths take them. */
	uint8_t buf[65536];
	size_t n = 0;
	for (size_t i = 0; i < idx->n; i++) {
		const dits_index_entry *e = &idx->e[i];
		size_t pl = strlen(e->path) + 1; /* with its NUL */
		if (n + pl + 4 + DITS_ID_LEN > sizeof buf) {
			dits_hasher_update(&h, buf, n);
			n = 0;
		}
		if (pl + 4 + DITS_ID_LEN > sizeof buf) { /* a path near the 64 KiB limit goes by itself */
			dits_hasher_update(&h, e->path, pl);
		} else {
			memcpy(buf + n, e->path, pl);
			n += pl;
		}
		uint32_t m = e->mode;
		buf[n++] = (uint8_t)m;
		buf[n++] = (uint8_t)(m >> 8);
		buf[n++] = (uint8_t)(m >> 16);
		buf[n++] = (uint8_t)(m >> 24);
		memcpy(buf + n, e->id.b, DITS_ID_LEN);
		n += DITS_ID_LEN;
	}
	dits_hasher_update(&h, buf, n);
	dits_hasher_final(&h, out);
}

void dits_index_note_tree(dits_index *idx, const dits_id *tree)
{
	dits_id d;
	dits_index_digest(idx, &d);
	if (!dits_id_eq(&d, &idx->tree_digest) || !dits_id_eq(tree, &idx->tree_id)) {
		idx->tree_digest = d;
		idx->tree_id = *tree;
		idx->dirty = true;
	}
}

bool dits_index_matches_tree(dits_index *idx, const dits_id *tree)
{
	if (dits_id_is_zero(&idx->tree_id) || !dits_id_eq(&idx->tree_id, tree))
		return false;
	dits_id d;
	dits_index_digest(idx, &d);
	return dits_id_eq(&d, &idx->tree_digest);
}

dits_index_entry *dits_index_find(dits_index *idx, const char *path)
{
	/* Appended entries are searched linearly until there are enough of them
	 * to be worth a sort; a bulk add stays near O(n log n). */
	if (idx->n - idx->sorted_n > 64)
		dits_index_sort(idx);
	for (size_t i = idx->sorted_n; i < idx->n; i++)
		if (!strcmp(idx->e[i].path, path))
			return &idx->e[i];
	size_t lo = 0, hi = idx->sorted_n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(idx->e[mid].path, path);
		if (c == 0)
			return &idx->e[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

int dits_index_set_nostat(dits_index *idx, const char *path, uint32_t mode, uint64_t size,
                          const dits_id *id)
{
	idx->dirty = true;
	dits_index_entry *e = dits_index_find(idx, path);
	if (e) {
		char *keep = e->path;
		memset(e, 0, sizeof *e);
		e->path = keep;
		e->mode = mode;
		e->size = size;
		e->id = *id;
		return 0;
	}
	dits_index_entry ne = { 0 };
	ne.path = strdup(path);
	if (!ne.path)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	ne.mode = mode;
	ne.size = size;
	ne.id = *id;
	int rc = push_entry(idx, &ne);
	if (rc)
		free(ne.path);
	return rc;
}

int dits_index_set(dits_index *idx, const char *path, const struct stat *st, const dits_id *id)
{
	int rc = dits_index_set_nostat(idx, path, dits_mode_from_stat(st), (uint64_t)st->st_size, id);
	if (rc)
		return rc;
	dits_index_entry *e = dits_index_find(idx, path);
	dits_index_entry_set_stat(e, st);
	return 0;
}

int dits_index_remove(dits_index *idx, const char *path)
{
	dits_index_entry *e = dits_index_find(idx, path);
	if (!e)
		return DITS_ENOTFOUND;
	free(e->path);
	size_t i = (size_t)(e - idx->e);
	memmove(&idx->e[i], &idx->e[i + 1], (idx->n - i - 1) * sizeof *e);
	idx->n--;
	if (i < idx->sorted_n)
		idx->sorted_n--;
	idx->dirty = true;
	return 0;
}
