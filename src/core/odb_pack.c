/*
 * Pack store. Invariants kept here:
 *  - a pack is visible only through its index, and its index is renamed into
 *    place only after the pack is complete, fsynced and renamed;
 *  - packs are never modified after they become visible (gc writes new packs
 *    and deletes old ones);
 *  - every read hashes the payload and compares it with the id asked for.
 */
#include "odb_pack.h"
#include "odb_backend.h"

#include <dirent.h>
#include <pthread.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "fsutil.h"

#define IDX_MAGIC "DITSIDX1"
#define PACK_MAGIC "DITSPACK"
#define IDX_HEADER_LEN 24
#define IDX_FANOUT_LEN 1024
#define IDX_ENTRY_LEN 48
#define WRITE_BUF_LEN (8u << 20)
#define WRITEBACK_STEP (32ull << 20)

typedef struct pack {
	char *pack_path;
	char *idx_path;
	int fd;
	uint64_t size;
	const uint8_t *map; /* whole idx file */
	size_t map_len;
	const uint8_t *data; /* whole pack file, read-only (NULL when it could not be mapped) */
	uint64_t count;
	const uint8_t *fanout;  /* 256 u32 */
	const uint8_t *entries; /* count * IDX_ENTRY_LEN */
} pack;

typedef struct pack_store {
	dits_odb_backend base; /* first: the backend is the store */
	char *dir;
	pack *packs;
	size_t npacks, cap;
} pack_store;

static void pack_close(pack *p)
{
	if (p->map)
		munmap((void *)p->map, p->map_len);
	if (p->data)
		munmap((void *)p->data, (size_t)p->size);
	if (p->fd >= 0)
		close(p->fd);
	free(p->pack_path);
	free(p->idx_path);
	memset(p, 0, sizeof *p);
	p->fd = -1;
}

/* The pack's own header: magic, version, and room for the records the index lists. */
static int pack_check_header(const pack *p)
{
	uint8_t hdr[DITS_PACK_HEADER_LEN];
	if (p->size < DITS_PACK_HEADER_LEN)
		return dits_error_set(DITS_ECORRUPT, "%s: pack is shorter than its header", p->pack_path);
	if (p->data)
		memcpy(hdr, p->data, sizeof hdr);
	else {
		int rc = dits_pread_all(p->fd, hdr, sizeof hdr, 0, p->pack_path);
		if (rc)
			return rc;
	}
	if (memcmp(hdr, PACK_MAGIC, 8) != 0)
		return dits_error_set(DITS_ECORRUPT, "%s: not a dits pack", p->pack_path);
	uint32_t version = dits_get_le32(hdr + 8);
	if (version != 1)
		return dits_error_set(DITS_EVERSION, "%s: pack version %u is newer than this dits supports (1)",
		                      p->pack_path, version);
	if (p->count > (p->size - DITS_PACK_HEADER_LEN) / DITS_PACK_RECORD_HEADER_LEN)
		return dits_error_set(DITS_ECORRUPT, "%s: index lists %llu records, more than its pack of %llu bytes can hold",
		                      p->idx_path, (unsigned long long)p->count, (unsigned long long)p->size);
	return 0;
}

/*
 * One pass over the index, so that lookups may trust it: the fan-out rises
 * and ends at the count, ids are strictly increasing (binary search) and each
 * sits in its fan-out bucket, every entry has a known type, a length a record
 * may have, and an offset after the pack header and its record header.
 * Whether a record lies inside the pack is checked when it is read
 * (check_bounds): a pack cut short loses the records past the cut, not all.
 */
static int idx_check(const pack *p)
{
	uint32_t fan[256];
	uint32_t prev = 0;
	for (unsigned b = 0; b < 256; b++) {
		fan[b] = dits_get_le32(p->fanout + b * 4);
		if (fan[b] < prev)
			return dits_error_set(DITS_ECORRUPT, "%s: pack index fan-out decreases at byte %02x",
			                      p->idx_path, b);
		prev = fan[b];
	}
	if (prev != p->count)
		return dits_error_set(DITS_ECORRUPT, "%s: pack index fan-out ends at %u but the index lists %llu records",
		                      p->idx_path, prev, (unsigned long long)p->count);
	const uint8_t *e = p->entries;
	unsigned bucket = 0;
	for (uint64_t i = 0; i < p->count; i++, e += IDX_ENTRY_LEN) {
		if (i > 0 && memcmp(e - IDX_ENTRY_LEN, e, DITS_ID_LEN) >= 0)
			return dits_error_set(DITS_ECORRUPT, "%s: pack index entry %llu is not in id order",
			                      p->idx_path, (unsigned long long)i);
		/* Sorted ids have non-decreasing first bytes: the bucket only moves on. */
		while (bucket < 255 && fan[bucket] <= i)
			bucket++;
		if (e[0] != bucket)
			return dits_error_set(DITS_ECORRUPT, "%s: pack index entry %llu lies outside its fan-out bucket",
			                      p->idx_path, (unsigned long long)i);
		uint64_t off = dits_get_le64(e + 32);
		uint32_t len = dits_get_le32(e + 40);
		if (e[44] < DITS_OBJ_CHUNK || e[44] > DITS_OBJ_COMMIT)
			return dits_error_set(DITS_ECORRUPT, "%s: pack index entry %llu has unknown type %u",
			                      p->idx_path, (unsigned long long)i, e[44]);
		if (len > DITS_OBJECT_MAX)
			return dits_error_set(DITS_ECORRUPT, "%s: pack index entry %llu is %u bytes long, more than a record may be",
			                      p->idx_path, (unsigned long long)i, len);
		if (off < DITS_PACK_HEADER_LEN + DITS_PACK_RECORD_HEADER_LEN)
			return dits_error_set(DITS_ECORRUPT, "%s: pack index entry %llu points into the pack header",
			                      p->idx_path, (unsigned long long)i);
	}
	return 0;
}

/* Maps p->idx_path and checks its header, size and checksum. */
static int idx_map(pack *p)
{
	int rc = 0;
	int ifd = open(p->idx_path, O_RDONLY | O_CLOEXEC);
	if (ifd < 0) {
		rc = dits_error_errno("%s", p->idx_path);
		goto fail;
	}
	struct stat st;
	if (fstat(ifd, &st) < 0) {
		rc = dits_error_errno("%s", p->idx_path);
		close(ifd);
		goto fail;
	}
	size_t len = (size_t)st.st_size;
	if (len < IDX_HEADER_LEN + IDX_FANOUT_LEN + DITS_ID_LEN) {
		close(ifd);
		rc = dits_error_set(DITS_ECORRUPT, "%s: pack index is truncated", p->idx_path);
		goto fail;
	}
	void *m = mmap(NULL, len, PROT_READ, MAP_PRIVATE, ifd, 0);
	close(ifd);
	if (m == MAP_FAILED) {
		rc = dits_error_errno("%s: mmap failed", p->idx_path);
		goto fail;
	}
	p->map = m;
	p->map_len = len;
	if (memcmp(p->map, IDX_MAGIC, 8) != 0) {
		rc = dits_error_set(DITS_ECORRUPT, "%s: not a dits pack index", p->idx_path);
		goto fail;
	}
	uint32_t version = dits_get_le32(p->map + 8);
	if (version != 1) {
		rc = dits_error_set(DITS_EVERSION, "%s: pack index version %u is newer than this dits supports (1)",
		                    p->idx_path, version);
		goto fail;
	}
	p->count = dits_get_le64(p->map + 16);
	if (p->count > (len - IDX_HEADER_LEN - IDX_FANOUT_LEN - DITS_ID_LEN) / IDX_ENTRY_LEN ||
	    IDX_HEADER_LEN + IDX_FANOUT_LEN + p->count * IDX_ENTRY_LEN + DITS_ID_LEN != len) {
		rc = dits_error_set(DITS_ECORRUPT, "%s: pack index size does not match its count", p->idx_path);
		goto fail;
	}
	dits_id sum;
	dits_hash_buf(&sum, p->map, len - DITS_ID_LEN);
	if (memcmp(sum.b, p->map + len - DITS_ID_LEN, DITS_ID_LEN) != 0) {
		rc = dits_error_set(DITS_ECORRUPT, "%s: pack index checksum mismatch", p->idx_path);
		goto fail;
	}
	p->fanout = p->map + IDX_HEADER_LEN;
	p->entries = p->fanout + IDX_FANOUT_LEN;
	return 0;
fail:
	return rc;
}

static int pack_load(pack *p, const char *dir, const char *idx_name)
{
	memset(p, 0, sizeof *p);
	p->fd = -1;
	p->idx_path = dits_path_join(dir, idx_name);
	size_t n = strlen(idx_name);
	char *base = strndup(idx_name, n - 4);
	char *pack_name = base ? dits_strfmt("%s.pack", base) : NULL;
	p->pack_path = pack_name ? dits_path_join(dir, pack_name) : NULL;
	free(base);
	free(pack_name);
	if (!p->idx_path || !p->pack_path) {
		pack_close(p);
		return dits_error_set(DITS_ENOMEM, "out of memory");
	}
	int rc = idx_map(p);
	struct stat st;
	if (rc)
		goto fail;
	p->fd = open(p->pack_path, O_RDONLY | O_CLOEXEC);
	if (p->fd < 0) {
		rc = dits_error_errno("%s: pack file for index", p->pack_path);
		goto fail;
	}
	if (fstat(p->fd, &st) < 0) {
		rc = dits_error_errno("%s", p->pack_path);
		goto fail;
	}
	p->size = (uint64_t)st.st_size;
	/* Packs are immutable once visible, so a shared read-only mapping is stable. */
	if (p->size > 0) {
		void *d = mmap(NULL, (size_t)p->size, PROT_READ, MAP_SHARED, p->fd, 0);
		if (d != MAP_FAILED)
			p->data = d;
	}
	if ((rc = pack_check_header(p)) || (rc = idx_check(p)))
		goto fail;
	return 0;
fail:
	pack_close(p);
	return rc;
}

/* ---- a pack index on its own (odb_pack.h) ---------------------------- */

struct dits_pack_index {
	pack p;
};

int dits_pack_index_load(dits_pack_index **out, const char *idx_path, const char *pack_label, uint64_t pack_size)
{
	*out = NULL;
	dits_pack_index *x = calloc(1, sizeof *x);
	if (!x)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	x->p.fd = -1;
	x->p.idx_path = strdup(idx_path);
	x->p.pack_path = strdup(pack_label);
	int rc = 0;
	if (!x->p.idx_path || !x->p.pack_path)
		rc = dits_error_set(DITS_ENOMEM, "out of memory");
	if (!rc)
		rc = idx_map(&x->p);
	x->p.size = pack_size;
	if (!rc && x->p.count > (pack_size < DITS_PACK_HEADER_LEN ? 0 : (pack_size - DITS_PACK_HEADER_LEN) / DITS_PACK_RECORD_HEADER_LEN))
		rc = dits_error_set(DITS_ECORRUPT, "%s: index lists %llu records, more than its pack of %llu bytes can hold",
		                    idx_path, (unsigned long long)x->p.count, (unsigned long long)pack_size);
	if (!rc)
		rc = idx_check(&x->p);
	if (rc) {
		dits_pack_index_free(x);
		return rc;
	}
	*out = x;
	return 0;
}

static const uint8_t *pack_find(const pack *p, const dits_id *id);
static void entry_loc(const pack *p, uint32_t pi, const uint8_t *e, dits_odb_loc *loc);

int dits_pack_index_find(const dits_pack_index *x, const dits_id *id, dits_odb_loc *loc)
{
	const uint8_t *e = pack_find(&x->p, id);
	if (!e)
		return DITS_ENOTFOUND;
	if (loc)
		entry_loc(&x->p, 0, e, loc);
	return 0;
}

uint64_t dits_pack_index_count(const dits_pack_index *x) { return x->p.count; }

void dits_pack_index_entry(const dits_pack_index *x, uint64_t i, dits_id *id, dits_odb_loc *loc)
{
	const uint8_t *e = x->p.entries + i * IDX_ENTRY_LEN;
	memcpy(id->b, e, DITS_ID_LEN);
	entry_loc(&x->p, 0, e, loc);
}

void dits_pack_index_free(dits_pack_index *x)
{
	if (!x)
		return;
	pack_close(&x->p);
	free(x);
}

static int odb_add_pack(pack_store *db, const char *idx_name)
{
	if (db->npacks == db->cap) {
		size_t cap = db->cap ? db->cap * 2 : 8;
		pack *np = realloc(db->packs, cap * sizeof *np);
		if (!np)
			return dits_error_set(DITS_ENOMEM, "out of memory");
		db->packs = np;
		db->cap = cap;
	}
	int rc = pack_load(&db->packs[db->npacks], db->dir, idx_name);
	if (rc)
		return rc;
	db->npacks++;
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void ps_init_ops(pack_store *db);
static void ps_free_store(pack_store *db);

int dits_odb_pack_backend_new(dits_odb_backend **out, const char *dir)
{
	*out = NULL;
	pack_store *db = calloc(1, sizeof *db);
	if (!db || !(db->dir = strdup(dir))) {
		free(db);
		return dits_error_set(DITS_ENOMEM, "out of memory");
	}
	int rc = dits_mkdir_p(dir, 0755);
	if (rc) {
		ps_free_store(db);
		return rc;
	}
	DIR *d = opendir(dir);
	if (!d) {
		rc = dits_error_errno("%s", dir);
		ps_free_store(db);
		return rc;
	}
	char **names = NULL;
	size_t nn = 0, cn = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		if (l < 10 || strncmp(e->d_name, "pack-", 5) != 0 || strcmp(e->d_name + l - 4, ".idx") != 0)
			continue;
		if (nn == cn) {
			cn = cn ? cn * 2 : 16;
			char **nb = realloc(names, cn * sizeof *nb);
			if (!nb) {
				rc = dits_error_set(DITS_ENOMEM, "out of memory");
				break;
			}
			names = nb;
		}
		if (!(names[nn] = strdup(e->d_name))) {
			rc = dits_error_set(DITS_ENOMEM, "out of memory");
			break;
		}
		nn++;
	}
	closedir(d);
	if (!rc && nn)
		if (nn > 1)
			qsort(names, nn, sizeof *names, cmp_names);
	for (size_t i = 0; i < nn && !rc; i++)
		rc = odb_add_pack(db, names[i]);
	for (size_t i = 0; i < nn; i++)
		free(names[i]);
	free(names);
	if (rc) {
		ps_free_store(db);
		return rc;
	}
	ps_init_ops(db);
	*out = &db->base;
	return 0;
}

static void ps_free_store(pack_store *db)
{
	if (!db)
		return;
	for (size_t i = 0; i < db->npacks; i++)
		pack_close(&db->packs[i]);
	free(db->packs);
	free(db->dir);
	free(db);
}

static void entry_loc(const pack *p, uint32_t pi, const uint8_t *e, dits_odb_loc *loc)
{
	loc->pack = pi;
	loc->offset = dits_get_le64(e + 32);
	loc->length = dits_get_le32(e + 40);
	loc->type = e[44];
}

static const uint8_t *pack_find(const pack *p, const dits_id *id)
{
	unsigned first = id->b[0];
	uint64_t lo = first ? dits_get_le32(p->fanout + (first - 1) * 4) : 0;
	uint64_t hi = dits_get_le32(p->fanout + first * 4);
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		const uint8_t *e = p->entries + mid * IDX_ENTRY_LEN;
		int c = memcmp(e, id->b, DITS_ID_LEN);
		if (c == 0)
			return e;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int ps_locate(pack_store *db, const dits_id *id, dits_odb_loc *loc)
{
	for (size_t i = db->npacks; i-- > 0;) {
		const uint8_t *e = pack_find(&db->packs[i], id);
		if (e) {
			if (loc)
				entry_loc(&db->packs[i], (uint32_t)i, e, loc);
			return 0;
		}
	}
	return DITS_ENOTFOUND;
}

static bool ps_exists(pack_store *db, const dits_id *id)
{
	return ps_locate(db, id, NULL) == 0;
}

/* The record must lie inside its pack. */
static int check_bounds(const pack *p, const dits_odb_loc *loc, const dits_id *id)
{
	if (loc->offset <= p->size && loc->length <= p->size - loc->offset)
		return 0;
	char hex[DITS_ID_HEXLEN + 1];
	dits_id_hex(hex, id);
	return dits_error_set(DITS_ECORRUPT, "%s: %s %s lies past the end of the pack", p->pack_path,
	                      dits_otype_name(loc->type), hex);
}

/* The record header in front of a mapped payload must repeat the index entry. */
static int check_record_header(const pack *p, const dits_odb_loc *loc, const dits_id *id)
{
	const uint8_t *h = p->data + loc->offset - DITS_PACK_RECORD_HEADER_LEN;
	if (h[0] == loc->type && dits_get_le32(h + 4) == loc->length && !memcmp(h + 8, id->b, DITS_ID_LEN))
		return 0;
	char hex[DITS_ID_HEXLEN + 1];
	dits_id_hex(hex, id);
	return dits_error_set(DITS_ECORRUPT, "%s: the record header of %s %s does not match the pack index",
	                      p->pack_path, dits_otype_name(loc->type), hex);
}

/* The payload must hash to the id it is stored under. */
static int check_hash(const pack *p, const dits_odb_loc *loc, const dits_id *id, const void *data)
{
	dits_id got;
	dits_hash_buf(&got, data, loc->length);
	if (dits_id_eq(&got, id))
		return 0;
	char hex[DITS_ID_HEXLEN + 1];
	dits_id_hex(hex, id);
	return dits_error_set(DITS_ECORRUPT, "%s %s in %s: stored bytes do not match their hash",
	                      dits_otype_name(loc->type), hex, p->pack_path);
}

static int ps_verify_at(pack_store *db, const dits_odb_loc *loc, const dits_id *id, const uint8_t **data_out)
{
	const pack *p = &db->packs[loc->pack];
	int rc = check_bounds(p, loc, id);
	if (rc)
		return rc;
	if (!p->data)
		return DITS_ENOTFOUND; /* not mapped: the caller reads and verifies instead */
	const uint8_t *start = p->data + loc->offset;
	if ((rc = check_record_header(p, loc, id)) || (rc = check_hash(p, loc, id, start)))
		return rc;
	*data_out = start;
	return 0;
}

void dits_odb_release(const void *data, size_t len)
{
	/* The bytes stay in the page cache; they need not stay in this process. */
	long pg = sysconf(_SC_PAGESIZE);
	uintptr_t a = (uintptr_t)data & ~(uintptr_t)(pg - 1);
	uintptr_t b = ((uintptr_t)data + len + (uintptr_t)pg - 1) & ~(uintptr_t)(pg - 1);
	madvise((void *)a, b - a, MADV_DONTNEED);
}

static int ps_read_at(pack_store *db, const dits_odb_loc *loc, const dits_id *id, void *buf)
{
	const pack *p = &db->packs[loc->pack];
	int rc = check_bounds(p, loc, id);
	if (!rc && p->data)
		rc = check_record_header(p, loc, id);
	if (!rc)
		rc = dits_pread_all(p->fd, buf, loc->length, loc->offset, p->pack_path);
	if (!rc)
		rc = check_hash(p, loc, id, buf);
	return rc;
}

static int ps_refresh(pack_store *db)
{
	DIR *d = opendir(db->dir);
	if (!d)
		return 0;
	int added = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		if (l < 10 || strncmp(e->d_name, "pack-", 5) != 0 || strcmp(e->d_name + l - 4, ".idx") != 0)
			continue;
		bool known = false;
		for (size_t i = 0; i < db->npacks && !known; i++) {
			const char *base = strrchr(db->packs[i].idx_path, '/');
			known = base && !strcmp(base + 1, e->d_name);
		}
		if (!known && odb_add_pack(db, e->d_name) == 0)
			added++;
	}
	closedir(d);
	dits_error_clear();
	return added;
}

static int ps_resolve_prefix(pack_store *db, const uint8_t lo[DITS_ID_LEN], const uint8_t hi[DITS_ID_LEN],
                             int type, dits_id *out, int *found)
{
	for (size_t pi = 0; pi < db->npacks && *found < 2; pi++) {
		const pack *p = &db->packs[pi];
		/* first entry >= lo */
		uint64_t a = 0, b = p->count;
		while (a < b) {
			uint64_t mid = a + (b - a) / 2;
			if (memcmp(p->entries + mid * IDX_ENTRY_LEN, lo, DITS_ID_LEN) < 0)
				a = mid + 1;
			else
				b = mid;
		}
		for (; a < p->count; a++) {
			const uint8_t *e = p->entries + a * IDX_ENTRY_LEN;
			if (memcmp(e, hi, DITS_ID_LEN) > 0)
				break;
			if (type && e[44] != type)
				continue;
			if (*found && memcmp(out->b, e, DITS_ID_LEN) == 0)
				continue;
			if (*found) {
				*found = 2;
				break;
			}
			memcpy(out->b, e, DITS_ID_LEN);
			*found = 1;
		}
	}
	return 0;
}

static int ps_foreach(pack_store *db, dits_odb_pack_each_fn fn, void *ctx)
{
	for (size_t pi = 0; pi < db->npacks; pi++) {
		const pack *p = &db->packs[pi];
		for (uint64_t i = 0; i < p->count; i++) {
			const uint8_t *e = p->entries + i * IDX_ENTRY_LEN;
			dits_id id;
			dits_odb_loc loc;
			memcpy(id.b, e, DITS_ID_LEN);
			entry_loc(p, (uint32_t)pi, e, &loc);
			int rc = fn(ctx, &id, &loc);
			if (rc)
				return rc;
		}
	}
	return 0;
}

static size_t ps_pack_count(const pack_store *db) { return db->npacks; }
static const char *ps_pack_path(const pack_store *db, size_t i) { return db->packs[i].pack_path; }
static uint64_t ps_pack_size(const pack_store *db, size_t i) { return db->packs[i].size; }
static uint64_t ps_pack_records(const pack_store *db, size_t i) { return db->packs[i].count; }
static const char *ps_dir(const pack_store *db) { return db->dir; }

static void reportf(dits_odb_report_fn report, void *ctx, size_t *n, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void reportf(dits_odb_report_fn report, void *ctx, size_t *n, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	report(ctx, msg);
	(*n)++;
}

typedef struct idx_entry {
	dits_id id;
	uint64_t offset;
	uint32_t length;
	uint8_t type;
} idx_entry;

static int cmp_idx_entry(const void *a, const void *b)
{
	return dits_id_cmp(&((const idx_entry *)a)->id, &((const idx_entry *)b)->id);
}

static size_t ps_verify_pack(pack_store *db, size_t pi, dits_odb_report_fn report, void *ctx)
{
	const pack *p = &db->packs[pi];
	size_t problems = 0;
	uint8_t hdr[DITS_PACK_RECORD_HEADER_LEN];
	if (p->size < DITS_PACK_HEADER_LEN || dits_pread_all(p->fd, hdr, DITS_PACK_HEADER_LEN, 0, p->pack_path) ||
	    memcmp(hdr, PACK_MAGIC, 8) != 0) {
		reportf(report, ctx, &problems, "%s: bad pack header", p->pack_path);
		return problems;
	}
	/* Walk the records and check each against the index. */
	size_t cap = 1 << 20;
	uint8_t *buf = malloc(cap);
	uint64_t off = DITS_PACK_HEADER_LEN, seen = 0;
	while (buf && off < p->size) {
		if (p->size - off < DITS_PACK_RECORD_HEADER_LEN ||
		    dits_pread_all(p->fd, hdr, DITS_PACK_RECORD_HEADER_LEN, off, p->pack_path)) {
			reportf(report, ctx, &problems, "%s: truncated record header at offset %llu",
			        p->pack_path, (unsigned long long)off);
			break;
		}
		uint32_t len = dits_get_le32(hdr + 4);
		dits_id id;
		memcpy(id.b, hdr + 8, DITS_ID_LEN);
		char hex[DITS_ID_HEXLEN + 1];
		dits_id_hex(hex, &id);
		uint64_t payload = off + DITS_PACK_RECORD_HEADER_LEN;
		if (len > DITS_OBJECT_MAX || payload + len > p->size) {
			reportf(report, ctx, &problems, "%s: record %s at offset %llu runs past the end",
			        p->pack_path, hex, (unsigned long long)off);
			break;
		}
		if (len > cap) {
			uint8_t *nb = realloc(buf, len);
			if (!nb)
				break;
			buf = nb;
			cap = len;
		}
		dits_id got;
		if (dits_pread_all(p->fd, buf, len, payload, p->pack_path)) {
			reportf(report, ctx, &problems, "%s", dits_error_last());
			break;
		}
		dits_hash_buf(&got, buf, len);
		if (!dits_id_eq(&got, &id))
			reportf(report, ctx, &problems, "%s: %s %s at offset %llu: stored bytes do not match their hash",
			        p->pack_path, dits_otype_name(hdr[0]), hex, (unsigned long long)off);
		const uint8_t *e = pack_find(p, &id);
		if (!e)
			reportf(report, ctx, &problems, "%s: record %s is not in the index", p->pack_path, hex);
		else if (dits_get_le64(e + 32) != payload || dits_get_le32(e + 40) != len || e[44] != hdr[0])
			reportf(report, ctx, &problems, "%s: index entry for %s does not match the record",
			        p->pack_path, hex);
		seen++;
		off = payload + len;
	}
	free(buf);
	if (seen != p->count)
		reportf(report, ctx, &problems, "%s: pack holds %llu records but its index lists %llu",
		        p->pack_path, (unsigned long long)seen, (unsigned long long)p->count);
	return problems;
}

bool dits_odb_file_in_use(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
	if (fd < 0)
		return false;
	bool busy = flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK;
	close(fd);
	return busy;
}

int64_t dits_file_mtime_ns(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return -1;
	return (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
}

static int64_t ps_pack_mtime_ns(const pack_store *db, size_t i)
{
	return dits_file_mtime_ns(db->packs[i].pack_path);
}

/* A leftover: a temporary file, or a pack that has no index (never became visible). */
static bool is_leftover_name(const pack_store *db, const char *n, bool *temporary)
{
	size_t l = strlen(n);
	*temporary = !strncmp(n, "tmp-", 4) || strstr(n, ".tmp-");
	if (*temporary)
		return true;
	if (l > 10 && !strncmp(n, "pack-", 5) && !strcmp(n + l - 5, ".pack")) {
		char *idx = dits_strfmt("%s/%.*s.idx", db->dir, (int)(l - 5), n);
		struct stat st;
		bool orphan = idx && stat(idx, &st) < 0 && errno == ENOENT;
		free(idx);
		return orphan;
	}
	return false;
}

/*
 * Writers hold a lock (flock) on their temporary pack from its creation until
 * its index is in place, so a leftover that is locked is being written, on
 * this host or another, and is never touched. Otherwise at lock time: a
 * temporary file goes when the process named in it is gone; a pack without
 * its index goes (its writer finishes only under the repository lock).
 */
static void ps_remove_leftovers(pack_store *db)
{
	DIR *d = opendir(db->dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		const char *n = e->d_name;
		bool temporary;
		if (!is_leftover_name(db, n, &temporary))
			continue;
		if (temporary && (dits_tmp_owner_alive(n, strncmp(n, "tmp-", 4) ? ".tmp-" : "tmp-")))
			continue;
		char *p = dits_path_join(db->dir, n);
		if (p && !dits_odb_file_in_use(p))
			unlink(p);
		free(p);
	}
	closedir(d);
}

static uint64_t ps_remove_old_leftovers(pack_store *db, int64_t cutoff_ns)
{
	DIR *d = opendir(db->dir);
	if (!d)
		return 0;
	uint64_t removed = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		bool temporary;
		if (!is_leftover_name(db, e->d_name, &temporary))
			continue;
		char *p = dits_path_join(db->dir, e->d_name);
		int64_t m = p ? dits_file_mtime_ns(p) : -1;
		if (m >= 0 && m <= cutoff_ns && !dits_odb_file_in_use(p) && unlink(p) == 0)
			removed++;
		free(p);
	}
	closedir(d);
	return removed;
}

/* ---- writer -------------------------------------------------------- */

struct dits_pack_writer {
	pack_store *db;
	dits_odb *odb;        /* the store whose objects need not be written again */
	char *tmp_path;
	int fd;
	uint8_t *wbuf;
	size_t wlen;
	uint64_t size;        /* bytes in the pack so far (written + buffered) */
	uint64_t flushed;     /* bytes handed to the kernel */
	uint64_t synced_to;   /* writeback started up to here */
	idx_entry *entries;
	size_t n, cap;
	uint32_t *table;      /* open addressing: entry index + 1, 0 = empty */
	size_t tcap;
	uint64_t new_bytes;
	bool finished;
	bool ignore_store;
	bool direct; /* the descriptor has O_DIRECT */
	/*
	 * Full buffers are written by an I/O thread while the caller fills the
	 * other buffer: with O_DIRECT a write waits for the device, and hashing
	 * the next chunks need not wait with it.
	 */
	uint8_t *bufs[2];
	pthread_t io_th;
	pthread_mutex_t io_mu;
	pthread_cond_t io_cv;
	bool io_started, io_busy, io_stop;
	uint8_t *io_buf;
	size_t io_len;
	uint64_t io_off;
	int io_rc;            /* sticky: the first failed write */
	char io_msg[512];
	/* A staged writer (dits_pack_writer_new_staged): its own store, and
	 * where finished packs go instead of that store. */
	pack_store *owned;
	dits_pack_publish_fn publish;
	void *publish_ctx;
	/* dits_pack_writer_set_stream */
	dits_pack_stream_fn stream;
	dits_pack_stream_done_fn stream_done;
	void *stream_ctx;
	char stream_hex[DITS_ID_HEXLEN + 1];
	bool published;
};

static int ps_writer_new(dits_odb_backend *b, dits_pack_writer **out)
{
	pack_store *db = (pack_store *)b;
	*out = NULL;
	dits_pack_writer *w = calloc(1, sizeof *w);
	if (!w)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	w->db = db;
	w->odb = b->odb;
	w->fd = -1;
	/* Aligned for O_DIRECT (see writer_flush). */
	for (int i = 0; i < 2; i++)
		if (posix_memalign((void **)&w->bufs[i], 4096, WRITE_BUF_LEN) != 0)
			w->bufs[i] = NULL;
	w->wbuf = w->bufs[0] && w->bufs[1] ? w->bufs[0] : NULL;
	pthread_mutex_init(&w->io_mu, NULL);
	pthread_cond_init(&w->io_cv, NULL);
	w->tcap = 1024;
	w->table = calloc(w->tcap, sizeof *w->table);
	w->tmp_path = dits_strfmt("%s/tmp-%ld-%p.pack", db->dir, (long)getpid(), (void *)w);
	if (!w->wbuf || !w->table || !w->tmp_path) {
		dits_pack_writer_free(w);
		return dits_error_set(DITS_ENOMEM, "out of memory");
	}
	*out = w;
	return 0;
}

/*
 * Packs are written with O_DIRECT where the filesystem allows it: media
 * packs are gigabytes that nobody reads back soon, and going around the
 * page cache saves the kernel copying and reclaiming them (the cost that
 * dominated ingest). Only whole aligned buffers go direct; the tail is
 * written through the page cache at finish.
 */
static int writer_write_out(dits_pack_writer *w, const uint8_t *buf, size_t len, uint64_t off)
{
	if (w->stream)
		return 0; /* the stream has the bytes: the staging file stays empty */
	int rc = dits_write_all(w->fd, buf, len, w->tmp_path);
	if (rc && w->direct && errno == EINVAL) {
		/* The filesystem refused direct I/O after all: carry on buffered. */
		w->direct = false;
		fcntl(w->fd, F_SETFL, fcntl(w->fd, F_GETFL) & ~O_DIRECT);
		if (lseek(w->fd, (off_t)off, SEEK_SET) < 0)
			return dits_error_errno("%s: seek failed", w->tmp_path);
		rc = dits_write_all(w->fd, buf, len, w->tmp_path);
	}
	return rc;
}

static void *writer_io_main(void *arg)
{
	dits_pack_writer *w = arg;
	pthread_mutex_lock(&w->io_mu);
	for (;;) {
		while (!w->io_busy && !w->io_stop)
			pthread_cond_wait(&w->io_cv, &w->io_mu);
		if (!w->io_busy)
			break;
		pthread_mutex_unlock(&w->io_mu);
		int rc = w->io_rc ? 0 : writer_write_out(w, w->io_buf, w->io_len, w->io_off);
		pthread_mutex_lock(&w->io_mu);
		if (rc && !w->io_rc) {
			w->io_rc = rc;
			snprintf(w->io_msg, sizeof w->io_msg, "%s", dits_error_last());
		}
		w->io_busy = false;
		pthread_cond_broadcast(&w->io_cv);
	}
	pthread_mutex_unlock(&w->io_mu);
	return NULL;
}

/* Waits for the write in flight; its error, if any, is this call's. */
static int writer_io_wait(dits_pack_writer *w)
{
	if (!w->io_started)
		return 0;
	pthread_mutex_lock(&w->io_mu);
	while (w->io_busy)
		pthread_cond_wait(&w->io_cv, &w->io_mu);
	int rc = w->io_rc;
	pthread_mutex_unlock(&w->io_mu);
	return rc ? dits_error_set(rc, "%s", w->io_msg) : 0;
}

static void writer_io_stop(dits_pack_writer *w)
{
	if (!w->io_started)
		return;
	pthread_mutex_lock(&w->io_mu);
	w->io_stop = true;
	pthread_cond_broadcast(&w->io_cv);
	pthread_mutex_unlock(&w->io_mu);
	pthread_join(w->io_th, NULL);
	w->io_started = false;
}

/* Hands bytes leaving the write buffer to the stream, if any. */
static int writer_stream(dits_pack_writer *w, const uint8_t *buf, size_t len)
{
	if (!w->stream || !len)
		return 0;
	char name[DITS_ID_HEXLEN + 8];
	snprintf(name, sizeof name, "pack-%s", w->stream_hex);
	return w->stream(w->stream_ctx, name, buf, len);
}

static int writer_flush_full(dits_pack_writer *w)
{
	int src = writer_stream(w, w->wbuf, w->wlen);
	if (src)
		return src;
	if (!w->io_started && pthread_create(&w->io_th, NULL, writer_io_main, w) == 0)
		w->io_started = true;
	int rc = writer_io_wait(w);
	if (rc)
		return rc;
	if (!w->io_started) { /* no thread to be had: write it here */
		if ((rc = writer_write_out(w, w->wbuf, w->wlen, w->flushed)))
			return rc;
	} else {
		pthread_mutex_lock(&w->io_mu);
		w->io_buf = w->wbuf;
		w->io_len = w->wlen;
		w->io_off = w->flushed;
		w->io_busy = true;
		pthread_cond_broadcast(&w->io_cv);
		pthread_mutex_unlock(&w->io_mu);
		w->wbuf = w->wbuf == w->bufs[0] ? w->bufs[1] : w->bufs[0];
	}
	w->flushed += w->wlen;
	w->wlen = 0;
	return 0;
}

static int writer_flush(dits_pack_writer *w)
{
	int rc = writer_io_wait(w);
	if (rc)
		return rc;
	if (w->wlen == 0)
		return 0;
	if ((rc = writer_stream(w, w->wbuf, w->wlen)))
		return rc;
	if (w->direct && w->wlen % 4096 != 0) {
		/* A tail: from here on the pack is written through the page cache. */
		w->direct = false;
		fcntl(w->fd, F_SETFL, fcntl(w->fd, F_GETFL) & ~O_DIRECT);
	}
	if ((rc = writer_write_out(w, w->wbuf, w->wlen, w->flushed)))
		return rc;
	w->flushed += w->wlen;
	w->wlen = 0;
	if (w->direct)
		return 0;
	/* Start writeback early so the final fsync does not wait for gigabytes. */
	if (w->flushed - w->synced_to >= WRITEBACK_STEP) {
		sync_file_range(w->fd, (off_t)w->synced_to, (off_t)(w->flushed - w->synced_to),
		                SYNC_FILE_RANGE_WRITE);
		w->synced_to = w->flushed;
	}
	return 0;
}

static int writer_emit(dits_pack_writer *w, const void *data, size_t len)
{
	const uint8_t *p = data;
	while (len) {
		size_t room = WRITE_BUF_LEN - w->wlen;
		if (room == 0) {
			int rc = writer_flush_full(w);
			if (rc)
				return rc;
			continue;
		}
		size_t n = len < room ? len : room;
		memcpy(w->wbuf + w->wlen, p, n);
		w->wlen += n;
		p += n;
		len -= n;
	}
	return 0;
}

static size_t slot_of(const dits_id *id, size_t tcap)
{
	uint64_t h;
	memcpy(&h, id->b, sizeof h);
	return (size_t)(h & (tcap - 1));
}

static bool writer_lookup(const dits_pack_writer *w, const dits_id *id)
{
	for (size_t s = slot_of(id, w->tcap);; s = (s + 1) & (w->tcap - 1)) {
		uint32_t v = w->table[s];
		if (!v)
			return false;
		if (dits_id_eq(&w->entries[v - 1].id, id))
			return true;
	}
}

static int writer_insert(dits_pack_writer *w, size_t idx)
{
	if ((w->n + 1) * 2 > w->tcap) {
		size_t ncap = w->tcap * 2;
		uint32_t *nt = calloc(ncap, sizeof *nt);
		if (!nt)
			return dits_error_set(DITS_ENOMEM, "out of memory");
		for (size_t i = 0; i < w->n; i++) {
			size_t s = slot_of(&w->entries[i].id, ncap);
			while (nt[s])
				s = (s + 1) & (ncap - 1);
			nt[s] = (uint32_t)(i + 1);
		}
		free(w->table);
		w->table = nt;
		w->tcap = ncap;
	}
	size_t s = slot_of(&w->entries[idx].id, w->tcap);
	while (w->table[s])
		s = (s + 1) & (w->tcap - 1);
	w->table[s] = (uint32_t)(idx + 1);
	return 0;
}

void dits_pack_writer_ignore_store(dits_pack_writer *w)
{
	w->ignore_store = true;
}

bool dits_pack_writer_has(dits_pack_writer *w, const dits_id *id)
{
	return writer_lookup(w, id) || (!w->ignore_store && (w->odb ? dits_odb_exists(w->odb, id) : ps_exists(w->db, id)));
}

int dits_pack_writer_put(dits_pack_writer *w, int type, const dits_id *id,
                         const void *data, size_t len, bool *stored)
{
	if (stored)
		*stored = false;
	if (dits_pack_writer_has(w, id))
		return 0;
	if (len > DITS_OBJECT_MAX)
		return dits_error_set(DITS_EINVALID, "object of %zu bytes is larger than a pack record may be", len);
	int rc;
	if (w->fd < 0) {
		w->fd = open(w->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_DIRECT, 0644);
		w->direct = w->fd >= 0;
		if (w->fd < 0 && errno == EINVAL) /* no direct I/O here (tmpfs) */
			w->fd = open(w->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (w->fd < 0)
			return dits_error_errno("%s", w->tmp_path);
		/* Held until the index is in place: cleaners leave a locked pack alone. */
		if (flock(w->fd, LOCK_EX | LOCK_NB) < 0)
			return dits_error_errno("%s: lock failed", w->tmp_path);
		uint8_t hdr[DITS_PACK_HEADER_LEN] = { 0 };
		memcpy(hdr, PACK_MAGIC, 8);
		dits_put_le32(hdr + 8, 1);
		if ((rc = writer_emit(w, hdr, sizeof hdr)))
			return rc;
		w->size = DITS_PACK_HEADER_LEN;
	}
	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 1024;
		idx_entry *ne = realloc(w->entries, cap * sizeof *ne);
		if (!ne)
			return dits_error_set(DITS_ENOMEM, "out of memory");
		w->entries = ne;
		w->cap = cap;
	}
	uint8_t rh[DITS_PACK_RECORD_HEADER_LEN] = { 0 };
	rh[0] = (uint8_t)type;
	dits_put_le32(rh + 4, (uint32_t)len);
	memcpy(rh + 8, id->b, DITS_ID_LEN);
	if ((rc = writer_emit(w, rh, sizeof rh)))
		return rc;
	if ((rc = writer_emit(w, data, len)))
		return rc;
	idx_entry *e = &w->entries[w->n];
	e->id = *id;
	e->offset = w->size + DITS_PACK_RECORD_HEADER_LEN;
	e->length = (uint32_t)len;
	e->type = (uint8_t)type;
	w->size += DITS_PACK_RECORD_HEADER_LEN + len;
	w->new_bytes += len;
	if ((rc = writer_insert(w, w->n)))
		return rc;
	w->n++;
	if (stored)
		*stored = true;
	return 0;
}

int dits_pack_writer_put_object(dits_pack_writer *w, int type, const void *data,
                                size_t len, dits_id *out_id)
{
	dits_hash_buf(out_id, data, len);
	return dits_pack_writer_put(w, type, out_id, data, len, NULL);
}

uint64_t dits_pack_writer_new_bytes(const dits_pack_writer *w) { return w->new_bytes; }
uint64_t dits_pack_writer_new_records(const dits_pack_writer *w) { return w->n; }

int dits_pack_writer_finish(dits_pack_writer *w)
{
	if (w->finished)
		return 0;
	if (w->fd < 0) { /* nothing written */
		w->finished = true;
		return 0;
	}
	int rc = writer_flush(w);
	if (!rc && fsync(w->fd) < 0)
		rc = dits_error_errno("%s: fsync failed", w->tmp_path);
	if (rc)
		return rc;

	if (w->n > 1)
		qsort(w->entries, w->n, sizeof *w->entries, cmp_idx_entry);
	dits_buf idx = DITS_BUF_INIT;
	dits_hasher names;
	dits_hasher_init(&names);
	rc = dits_buf_grow(&idx, IDX_HEADER_LEN + IDX_FANOUT_LEN + w->n * IDX_ENTRY_LEN + DITS_ID_LEN);
	if (rc)
		return rc;
	dits_buf_put(&idx, IDX_MAGIC, 8);
	dits_buf_put_u32(&idx, 1);
	dits_buf_put_u32(&idx, 0);
	dits_buf_put_u64(&idx, w->n);
	uint32_t fan[256] = { 0 };
	for (size_t i = 0; i < w->n; i++)
		fan[w->entries[i].id.b[0]]++;
	uint32_t acc = 0;
	for (int i = 0; i < 256; i++) {
		acc += fan[i];
		dits_buf_put_u32(&idx, acc);
	}
	for (size_t i = 0; i < w->n; i++) {
		const idx_entry *e = &w->entries[i];
		dits_buf_put(&idx, e->id.b, DITS_ID_LEN);
		dits_buf_put_u64(&idx, e->offset);
		dits_buf_put_u32(&idx, e->length);
		uint8_t tail[4] = { e->type, 0, 0, 0 };
		dits_buf_put(&idx, tail, 4);
		dits_hasher_update(&names, e->id.b, DITS_ID_LEN);
	}
	dits_id sum, name_id;
	dits_hash_buf(&sum, idx.data, idx.len);
	dits_buf_put(&idx, sum.b, DITS_ID_LEN);
	/* Two packs never share a name, even with the same records (gc). */
	struct { long pid; double t; const void *w; } salt = { (long)getpid(), dits_now(), (void *)w };
	dits_hasher_update(&names, &salt, sizeof salt);
	dits_hasher_final(&names, &name_id);
	char hex[DITS_ID_HEXLEN + 1];
	dits_id_hex(hex, &name_id);
	if (w->stream)
		memcpy(hex, w->stream_hex, sizeof hex);
	hex[40] = '\0';
	char *pack_path = dits_strfmt("%s/pack-%s.pack", w->db->dir, hex);
	char *idx_path = dits_strfmt("%s/pack-%s.idx", w->db->dir, hex);
	char *idx_name = dits_strfmt("pack-%s.idx", hex);
	if (!pack_path || !idx_path || !idx_name) {
		rc = dits_error_set(DITS_ENOMEM, "out of memory");
		goto out;
	}
	/* Pack first: an index must never name a pack that is not there. The
	 * descriptor (and its lock) stays open until the index is written. */
	if (rename(w->tmp_path, pack_path) < 0) {
		rc = dits_error_errno("%s: rename failed", pack_path);
		goto out;
	}
	rc = dits_atomic_write(idx_path, idx.data, idx.len);
	if (!rc && w->publish) {
		close(w->fd);
		w->fd = -1;
		w->finished = true;
		char *name = dits_strfmt("pack-%s", hex);
		rc = name ? w->publish(w->publish_ctx, pack_path, idx_path, name)
		          : dits_error_set(DITS_ENOMEM, "out of memory");
		w->published = !rc;
		free(name);
		/* The publisher took what it keeps; the staging copies go. */
		unlink(idx_path);
		unlink(pack_path);
		goto out;
	}
	if (rc) {
		unlink(pack_path);
		close(w->fd);
		w->fd = -1;
		w->finished = true; /* nothing left under the temporary name */
		goto out;
	}
	close(w->fd);
	w->fd = -1;
	w->finished = true;
	rc = odb_add_pack(w->db, idx_name);
out:
	free(pack_path);
	free(idx_path);
	free(idx_name);
	dits_buf_free(&idx);
	return rc;
}

void dits_pack_writer_free(dits_pack_writer *w)
{
	if (!w)
		return;
	writer_io_stop(w);
	if (w->stream_done)
		w->stream_done(w->stream_ctx, w->published);
	pthread_mutex_destroy(&w->io_mu);
	pthread_cond_destroy(&w->io_cv);
	if (w->fd >= 0)
		close(w->fd);
	if (!w->finished && w->tmp_path)
		unlink(w->tmp_path);
	free(w->tmp_path);
	free(w->bufs[0]);
	free(w->bufs[1]);
	free(w->entries);
	free(w->table);
	ps_free_store(w->owned);
	free(w);
}

int dits_pack_writer_new_staged(dits_pack_writer **out, dits_odb *odb, const char *dir,
                                dits_pack_publish_fn publish, void *ctx)
{
	*out = NULL;
	pack_store *st = calloc(1, sizeof *st);
	if (!st || !(st->dir = strdup(dir))) {
		free(st);
		return dits_error_set(DITS_ENOMEM, "out of memory");
	}
	st->base.odb = odb;
	int rc = dits_mkdir_p(dir, 0755);
	if (!rc)
		rc = ps_writer_new(&st->base, out);
	if (rc) {
		ps_free_store(st);
		return rc;
	}
	(*out)->owned = st;
	(*out)->publish = publish;
	(*out)->publish_ctx = ctx;
	return 0;
}

int dits_pack_writer_set_stream(dits_pack_writer *w, dits_pack_stream_fn fn, dits_pack_stream_done_fn done,
                                void *ctx)
{
	if (!w->publish || w->fd >= 0 || w->stream)
		return dits_error_set(DITS_EINVALID, "a pack stream needs a staged writer before its first record");
	dits_id id;
	struct { long pid; double t; const void *w; uint8_t r[32]; } salt = { (long)getpid(), dits_now(), (void *)w, { 0 } };
	/* pid, time and address already make the name unique here; the random
	 * bytes keep two servers sharing a bucket apart. */
	if (getrandom(salt.r, sizeof salt.r, 0) < 0)
		memset(salt.r, 0, sizeof salt.r);
	dits_hash_buf(&id, &salt, sizeof salt);
	dits_id_hex(w->stream_hex, &id);
	w->stream_hex[40] = '\0';
	w->stream = fn;
	w->stream_done = done;
	w->stream_ctx = ctx;
	return 0;
}

/* ---- gc's sweep ------------------------------------------------------- */

/*
 * Copies the live records of every pack that holds garbage into one new
 * pack, makes it durable, gives it the age of the newest pack it replaces
 * (the copies must not get a new grace period), then deletes the old packs,
 * index first. A kill at any point leaves every live record in some
 * visible pack.
 */
static int pb_remove_unreachable(dits_odb_backend *b, dits_odb_live_fn live, void *ctx, dits_odb_prune_result *res)
{
	pack_store *db = (pack_store *)b;
	size_t np = db->npacks;
	res->units_before += np;
	bool *rewrite = calloc(np ? np : 1, sizeof *rewrite);
	if (!rewrite)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	size_t nrewrite = 0;
	int64_t newest_rewritten = INT64_MIN;
	for (size_t pi = 0; pi < np; pi++) {
		const pack *p = &db->packs[pi];
		uint64_t dead = 0;
		for (uint64_t i = 0; i < p->count; i++) {
			const uint8_t *e = p->entries + i * IDX_ENTRY_LEN;
			dits_id id;
			memcpy(id.b, e, DITS_ID_LEN);
			if (live(ctx, &id)) {
				res->kept_objects++;
			} else {
				dead++;
				res->removed_bytes += dits_get_le32(e + 40);
			}
		}
		if (dead) {
			rewrite[pi] = true;
			int64_t m = ps_pack_mtime_ns(db, pi);
			if (m > newest_rewritten)
				newest_rewritten = m;
			nrewrite++;
			res->removed_objects += dead;
		}
	}
	if (!nrewrite) {
		res->units_after += np;
		free(rewrite);
		return 0;
	}
	dits_pack_writer *w;
	dits_buf buf = DITS_BUF_INIT;
	int rc = ps_writer_new(b, &w);
	if (!rc)
		dits_pack_writer_ignore_store(w); /* the store still lists what is copied */
	for (size_t pi = 0; pi < np && !rc; pi++) {
		const pack *p = &db->packs[pi];
		for (uint64_t i = 0; rewrite[pi] && i < p->count && !rc; i++) {
			const uint8_t *e = p->entries + i * IDX_ENTRY_LEN;
			dits_id id;
			memcpy(id.b, e, DITS_ID_LEN);
			if (!live(ctx, &id))
				continue;
			dits_odb_loc loc;
			entry_loc(p, (uint32_t)pi, e, &loc);
			dits_buf_reset(&buf);
			if (!(rc = dits_buf_grow(&buf, loc.length)) && !(rc = ps_read_at(db, &loc, &id, buf.data)))
				rc = dits_pack_writer_put(w, loc.type, &id, buf.data, loc.length, NULL);
		}
	}
	/* Remember the old packs before finish() appends the new one. */
	char **doomed = calloc(np, sizeof *doomed);
	if (!rc && !doomed)
		rc = dits_error_set(DITS_ENOMEM, "out of memory");
	for (size_t i = 0; i < np && !rc; i++)
		if (rewrite[i] && !(doomed[i] = strdup(db->packs[i].pack_path)))
			rc = dits_error_set(DITS_ENOMEM, "out of memory");
	if (!rc)
		rc = dits_pack_writer_finish(w);
	if (!rc && db->npacks > np && newest_rewritten > 0) {
		struct timespec ts[2] = { { 0, UTIME_OMIT },
		                          { newest_rewritten / 1000000000, newest_rewritten % 1000000000 } };
		utimensat(AT_FDCWD, db->packs[np].pack_path, ts, 0);
	}
	dits_pack_writer_free(w);
	dits_buf_free(&buf);
	/* The live copies are durable: now the old packs can go, index first. */
	for (size_t i = 0; i < np && !rc; i++) {
		if (!doomed[i])
			continue;
		char *idx = dits_strfmt("%.*s.idx", (int)(strlen(doomed[i]) - 5), doomed[i]);
		if (idx && unlink(idx) < 0 && errno != ENOENT)
			rc = dits_error_errno("%s: cannot remove", idx);
		if (!rc && unlink(doomed[i]) < 0 && errno != ENOENT)
			rc = dits_error_errno("%s: cannot remove", doomed[i]);
		free(idx);
	}
	if (!rc)
		rc = dits_fsync_dir(db->dir);
	res->units_after += np - nrewrite + 1;
	for (size_t i = 0; doomed && i < np; i++)
		free(doomed[i]);
	free(doomed);
	free(rewrite);
	return rc;
}

/* ---- the backend's operations --------------------------------------- */

static int pb_read_header(dits_odb_backend *b, const dits_id *id, uint8_t *type, uint32_t *len)
{
	dits_odb_loc loc;
	int rc = ps_locate((pack_store *)b, id, &loc);
	if (rc)
		return rc;
	if (type)
		*type = loc.type;
	if (len)
		*len = loc.length;
	return 0;
}

static int pb_read(dits_odb_backend *b, const dits_id *id, void *buf, uint32_t len)
{
	pack_store *db = (pack_store *)b;
	dits_odb_loc loc;
	int rc = ps_locate(db, id, &loc);
	if (rc)
		return rc;
	if (loc.length != len) {
		char hex[DITS_ID_HEXLEN + 1];
		dits_id_hex(hex, id);
		return dits_error_set(DITS_ECORRUPT, "%s: %s %s is %u bytes long, not %u", db->packs[loc.pack].pack_path,
		                      dits_otype_name(loc.type), hex, loc.length, len);
	}
	return ps_read_at(db, &loc, id, buf);
}

static int pb_borrow(dits_odb_backend *b, const dits_id *id, unsigned flags, dits_odb_view *view)
{
	pack_store *db = (pack_store *)b;
	dits_odb_loc loc;
	int rc = ps_locate(db, id, &loc);
	if (rc)
		return rc;
	const uint8_t *data = NULL;
	const pack *p = &db->packs[loc.pack];
	if ((flags & DITS_ODB_RELAY) && p->data) {
		/* Relayed to a receiver that hashes it: the record must be whole
		 * and be the one asked for; its hash is the receiver's to check. */
		if ((rc = check_bounds(p, &loc, id)) || (rc = check_record_header(p, &loc, id)))
			return rc;
		data = p->data + loc.offset;
		/* Its pages stay mapped until the store is closed: a relay (one
		 * response) closes it soon, and dropping each record's pages
		 * would cost a TLB shootdown per record in a threaded server. */
		view->priv = view;
	} else {
		rc = ps_verify_at(db, &loc, id, &data);
	}
	if (rc == DITS_ENOTFOUND) /* not mapped: dits_odb reads a copy */
		data = NULL;
	else if (rc)
		return rc;
	view->data = data;
	view->len = loc.length;
	view->type = loc.type;
	return 0;
}

static void pb_release(dits_odb_backend *b, dits_odb_view *view)
{
	(void)b;
	if (view->data && view->len && view->priv != view)
		dits_odb_release(view->data, view->len);
}

static int pb_resolve_prefix(dits_odb_backend *b, const uint8_t lo[DITS_ID_LEN], const uint8_t hi[DITS_ID_LEN],
                             int type, dits_id *out, int *found)
{
	return ps_resolve_prefix((pack_store *)b, lo, hi, type, out, found);
}

typedef struct each_adapter {
	dits_odb_each_fn fn;
	void *ctx;
} each_adapter;

static int each_adapt(void *ctx, const dits_id *id, const dits_odb_loc *loc)
{
	each_adapter *a = ctx;
	return a->fn(a->ctx, id, loc->type, loc->length);
}

static int pb_foreach(dits_odb_backend *b, dits_odb_each_fn fn, void *ctx)
{
	each_adapter a = { fn, ctx };
	return ps_foreach((pack_store *)b, each_adapt, &a);
}

static int pb_refresh(dits_odb_backend *b) { return ps_refresh((pack_store *)b); }
static void pb_remove_leftovers(dits_odb_backend *b) { ps_remove_leftovers((pack_store *)b); }
static void pb_free(dits_odb_backend *b) { ps_free_store((pack_store *)b); }

static void ps_init_ops(pack_store *db)
{
	dits_odb_backend *b = &db->base;
	b->version = DITS_ODB_BACKEND_VERSION;
	b->read_header = pb_read_header;
	b->read = pb_read;
	b->borrow = pb_borrow;
	b->release = pb_release;
	b->resolve_prefix = pb_resolve_prefix;
	b->foreach = pb_foreach;
	b->writer_new = ps_writer_new;
	b->refresh = pb_refresh;
	b->remove_leftovers = pb_remove_leftovers;
	b->remove_unreachable = pb_remove_unreachable;
	b->free = pb_free;
}

/* ---- the pack API (odb_pack.h): the first pack backend of an odb ------ */

static pack_store *store_of(dits_odb *db)
{
	return (pack_store *)dits_odb_find_backend(db, pb_free);
}

int dits_odb_locate(dits_odb *db, const dits_id *id, dits_odb_loc *loc)
{
	pack_store *s = store_of(db);
	return s ? ps_locate(s, id, loc) : DITS_ENOTFOUND;
}

int dits_odb_read_at(dits_odb *db, const dits_odb_loc *loc, const dits_id *id, void *buf)
{
	return ps_read_at(store_of(db), loc, id, buf);
}

int dits_odb_verify_at(dits_odb *db, const dits_odb_loc *loc, const dits_id *id, const uint8_t **data_out)
{
	return ps_verify_at(store_of(db), loc, id, data_out);
}

int dits_odb_pack_foreach(dits_odb *db, dits_odb_pack_each_fn fn, void *ctx)
{
	pack_store *s = store_of(db);
	return s ? ps_foreach(s, fn, ctx) : 0;
}

size_t dits_odb_pack_count(dits_odb *db)
{
	pack_store *s = store_of(db);
	return s ? ps_pack_count(s) : 0;
}

const char *dits_odb_pack_path(dits_odb *db, size_t i) { return ps_pack_path(store_of(db), i); }
uint64_t dits_odb_pack_size(dits_odb *db, size_t i) { return ps_pack_size(store_of(db), i); }
uint64_t dits_odb_pack_records(dits_odb *db, size_t i) { return ps_pack_records(store_of(db), i); }
int64_t dits_odb_pack_mtime_ns(dits_odb *db, size_t i) { return ps_pack_mtime_ns(store_of(db), i); }

const char *dits_odb_dir(dits_odb *db)
{
	pack_store *s = store_of(db);
	return s ? ps_dir(s) : NULL;
}

size_t dits_odb_verify_pack(dits_odb *db, size_t i, dits_odb_report_fn report, void *ctx)
{
	return ps_verify_pack(store_of(db), i, report, ctx);
}

uint64_t dits_odb_remove_old_leftovers(dits_odb *db, int64_t cutoff_ns)
{
	pack_store *s = store_of(db);
	return s ? ps_remove_old_leftovers(s, cutoff_ns) : 0;
}
