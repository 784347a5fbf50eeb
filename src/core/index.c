#include "index.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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

/* Frees an entry's path unless it lives in the loaded paths. */
static void free_path(const dits_index *idx, char *p)
{
	if (!idx->paths || p < idx->paths || p >= idx->paths + idx->paths_len)
		free(p);
}

void dits_index_free(dits_index *idx)
{
	for (size_t i = 0; i < idx->n; i++)
		free_path(idx, idx->e[i].path);
	free(idx->e);
	free(idx->paths);
	memset(idx, 0, sizeof *idx);
}

void dits_index_clear(dits_index *idx)
{
	for (size_t i = 0; i < idx->n; i++)
		free_path(idx, idx->e[i].path);
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

/* Bytes of an entry without its path, and with at least one path byte. */
#define ENTRY_FIXED (4 + 8 + 8 + 4 + 8 + 4 + 8 + 8 + DITS_ID_LEN + 4 + 2)
#define ENTRY_MIN (ENTRY_FIXED + 1)

/*
 * Parses the entries of a checked index file of the given version from
 * [p, end): count of them, into idx, their paths into idx->paths. Returns
 * 0, DITS_ECORRUPT for a malformed entry or trailing bytes, or DITS_ENOMEM.
 */
static int parse_entries(dits_index *idx, uint32_t version, uint32_t count, const uint8_t *p,
                         const uint8_t *end)
{
	if (count > (size_t)(end - p) / ENTRY_MIN)
		return DITS_ECORRUPT;
	if (count) {
		/* Every path is shorter than its entry, so the file's length bounds them. */
		idx->e = malloc((size_t)count * sizeof *idx->e);
		idx->paths = malloc((size_t)(end - p));
		if (!idx->e || !idx->paths)
			return DITS_ENOMEM;
		idx->cap = count;
		idx->paths_len = (size_t)(end - p);
	}
	char *q = idx->paths;
	for (uint32_t i = 0; i < count; i++) {
		if ((size_t)(end - p) < ENTRY_FIXED)
			return DITS_ECORRUPT;
		dits_index_entry *e = &idx->e[i];
		memset(e, 0, sizeof *e);
		e->mode = dits_get_le32(p);
		e->size = dits_get_le64(p + 4);
		e->mtime_s = (int64_t)dits_get_le64(p + 12);
		e->mtime_ns = dits_get_le32(p + 20);
		e->ctime_s = (int64_t)dits_get_le64(p + 24);
		e->ctime_ns = dits_get_le32(p + 32);
		e->ino = dits_get_le64(p + 36);
		e->dev = dits_get_le64(p + 44);
		memcpy(e->id.b, p + 52, DITS_ID_LEN);
		e->flags = dits_get_le32(p + 52 + DITS_ID_LEN);
		size_t plen = (size_t)p[56 + DITS_ID_LEN] | (size_t)p[57 + DITS_ID_LEN] << 8;
		p += ENTRY_FIXED;
		if (plen == 0 || plen > (size_t)(end - p) || memchr(p, 0, plen) ||
		    (version == 1 && e->flags) || (e->flags & ~DITS_INDEX_PROXY))
			return DITS_ECORRUPT;
		memcpy(q, p, plen);
		q[plen] = '\0';
		e->path = q;
		q += plen + 1;
		p += plen;
		if (e->flags & DITS_INDEX_PROXY) {
			if ((size_t)(end - p) < DITS_ID_LEN + 8)
				return DITS_ECORRUPT;
			memcpy(e->wt_id.b, p, DITS_ID_LEN);
			e->wt_size = dits_get_le64(p + DITS_ID_LEN);
			p += DITS_ID_LEN + 8;
		}
		idx->n = i + 1;
		if (i && idx->sorted && strcmp(idx->e[i - 1].path, e->path) >= 0)
			idx->sorted = false;
	}
	if (idx->sorted)
		idx->sorted_n = idx->n;
	return p == end ? 0 : DITS_ECORRUPT;
}

int dits_index_load(dits_repo *r, dits_index *idx)
{
	memset(idx, 0, sizeof *idx);
	idx->sorted = true;
	char *path = dits_repo_path(r, "index");
	if (!path)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int rc = errno == ENOENT ? 0 : dits_error_errno("%s", path);
		free(path);
		return rc;
	}
	/* The file is replaced by rename, never changed in place, so a map of
	 * the file opened stays what was read. */
	struct stat st;
	int rc = 0;
	const uint8_t *data = NULL;
	size_t len = 0;
	if (fstat(fd, &st) < 0) {
		rc = dits_error_errno("%s", path);
	} else if (st.st_size > 0) {
		len = (size_t)st.st_size;
		void *m = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
		if (m == MAP_FAILED)
			rc = dits_error_errno("%s: cannot map", path);
		else
			data = m;
	}
	close(fd);
	if (rc)
		goto out;
	idx->stamp_s = st.st_mtim.tv_sec;
	idx->stamp_ns = (uint32_t)st.st_mtim.tv_nsec;
	rc = dits_error_set(DITS_ECORRUPT, "%s: index file is damaged", path);
	if (len < 16 + DITS_ID_LEN || memcmp(data, INDEX_MAGIC, 4))
		goto out;
	dits_id sum;
	dits_hash_buf(&sum, data, len - DITS_ID_LEN);
	if (memcmp(sum.b, data + len - DITS_ID_LEN, DITS_ID_LEN))
		goto out;
	uint32_t version = dits_get_le32(data + 4), count = dits_get_le32(data + 8);
	const uint8_t *p = data + 16, *end = data + len - DITS_ID_LEN;
	if (version < 1 || version > INDEX_VERSION) {
		rc = dits_error_set(DITS_EVERSION, "%s: index version %u is not supported", path, version);
		goto out;
	}
	if (version >= 3) {
		if ((size_t)(end - p) < 2 * DITS_ID_LEN)
			goto out;
		memcpy(idx->tree_digest.b, p, DITS_ID_LEN);
		memcpy(idx->tree_id.b, p + DITS_ID_LEN, DITS_ID_LEN);
		p += 2 * DITS_ID_LEN;
	}
	int prc = parse_entries(idx, version, count, p, end);
	if (prc == DITS_ENOMEM)
		rc = dits_error_set(DITS_ENOMEM, "out of memory");
	if (prc)
		goto out;
	dits_index_sort(idx);
	rc = 0;
out:
	if (data)
		munmap((void *)data, len);
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
	free_path(idx, e->path);
	size_t i = (size_t)(e - idx->e);
	memmove(&idx->e[i], &idx->e[i + 1], (idx->n - i - 1) * sizeof *e);
	idx->n--;
	if (i < idx->sorted_n)
		idx->sorted_n--;
	idx->dirty = true;
	return 0;
}

bool dits_index_exists(dits_repo *r)
{
	char *p = dits_repo_path(r, "index");
	struct stat st;
	bool none = p && stat(p, &st) < 0 && errno == ENOENT;
	free(p);
	return !none;
}
