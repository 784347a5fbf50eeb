#include "blob.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "object.h"
#include "odb_pack.h"

#define CACHE_SLOTS 4

typedef struct slot {
	uint64_t chunk; /* index + 1; 0 = empty */
	uint64_t used;  /* LRU tick */
	uint8_t *data;
	size_t cap;
} slot;

struct dits_blob {
	dits_odb *db;
	dits_manifest m;
	uint64_t *start; /* start[i] = offset of chunk i; start[n] = size */
	slot cache[CACHE_SLOTS];
	uint64_t tick;
	uint64_t last; /* chunk index of the last read, to try its neighbour first */
};

int dits_blob_open(dits_blob **out, dits_odb *db, const dits_id *manifest_id)
{
	*out = NULL;
	dits_blob *b = calloc(1, sizeof *b);
	if (!b)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	b->db = db;
	int rc = dits_manifest_read(db, manifest_id, &b->m);
	if (rc) {
		free(b);
		return rc;
	}
	b->start = malloc((b->m.nchunks + 1) * sizeof *b->start);
	if (!b->start) {
		dits_blob_close(b);
		return dits_error_set(DITS_ENOMEM, "out of memory");
	}
	uint64_t off = 0;
	for (uint64_t i = 0; i < b->m.nchunks; i++) {
		b->start[i] = off;
		off += b->m.chunks[i].len;
	}
	b->start[b->m.nchunks] = off;
	*out = b;
	return 0;
}

void dits_blob_close(dits_blob *b)
{
	if (!b)
		return;
	for (int i = 0; i < CACHE_SLOTS; i++)
		free(b->cache[i].data);
	free(b->start);
	dits_manifest_free(&b->m);
	free(b);
}

uint64_t dits_blob_size(const dits_blob *b)
{
	return b->m.size;
}

static uint64_t chunk_at(const dits_blob *b, uint64_t off)
{
	uint64_t n = b->m.nchunks;
	if (b->last < n && b->start[b->last] <= off && off < b->start[b->last + 1])
		return b->last;
	if (b->last + 1 < n && b->start[b->last + 1] <= off && off < b->start[b->last + 2])
		return b->last + 1;
	uint64_t lo = 0, hi = n;
	while (hi - lo > 1) {
		uint64_t mid = lo + (hi - lo) / 2;
		if (b->start[mid] <= off)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

#define FETCH_AHEAD 64 /* chunks fetched at once on a miss */

/* Fetches chunk i of b and the next ones, those the store lacks. */
static int fetch_ahead(dits_blob *b, uint64_t i)
{
	dits_id ids[FETCH_AHEAD];
	size_t n = 0;
	for (uint64_t k = i; k < b->m.nchunks && n < FETCH_AHEAD; k++)
		ids[n++] = b->m.chunks[k].id;
	return dits_odb_fetch_missing(b->db, ids, n);
}

/* The verified bytes of chunk i, from the cache or the store. */
static int load_chunk(dits_blob *b, uint64_t i, const uint8_t **data)
{
	slot *victim = &b->cache[0];
	for (int s = 0; s < CACHE_SLOTS; s++) {
		if (b->cache[s].chunk == i + 1) {
			b->cache[s].used = ++b->tick;
			*data = b->cache[s].data;
			return 0;
		}
		if (b->cache[s].used < victim->used)
			victim = &b->cache[s];
	}
	const dits_chunk_ref *cr = &b->m.chunks[i];
	dits_odb_loc loc;
	char hex[DITS_ID_HEXLEN + 1];
	bool in_pack = true;
	if (dits_odb_locate(b->db, &cr->id, &loc)) {
		/* A partial clone's store fetches it (odb.h), with the chunks that
		 * follow it (a read goes on), in one request; then it is in a pack. */
		int rc = dits_odb_has_promisor(b->db) ? fetch_ahead(b, i) : DITS_ENOTFOUND;
		if (rc && rc != DITS_ENOTFOUND)
			return rc;
		if (rc || dits_odb_locate(b->db, &cr->id, &loc)) {
			/* Not in a local pack: another backend (an object store) may hold it. */
			uint32_t len = 0;
			if (dits_odb_read_header(b->db, &cr->id, NULL, &len)) {
				dits_id_hex(hex, &cr->id);
				return dits_error_set(DITS_ENOTFOUND, "chunk %s is missing from the store", hex);
			}
			loc.length = len;
			in_pack = false;
		}
	}
	if (loc.length != cr->len) {
		dits_id_hex(hex, &cr->id);
		return dits_error_set(DITS_ECORRUPT, "chunk %s has the wrong length in the store", hex);
	}
	if (victim->cap < cr->len) {
		uint8_t *p = realloc(victim->data, cr->len);
		if (!p)
			return dits_error_set(DITS_ENOMEM, "out of memory");
		victim->data = p;
		victim->cap = cr->len;
	}
	victim->chunk = 0;
	int rc = in_pack ? dits_odb_read_at(b->db, &loc, &cr->id, victim->data)
	                 : dits_odb_read_into(b->db, &cr->id, victim->data, cr->len);
	if (rc)
		return rc;
	victim->chunk = i + 1;
	victim->used = ++b->tick;
	*data = victim->data;
	return 0;
}

ssize_t dits_blob_pread(dits_blob *b, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;
	uint8_t *out = buf;
	while (done < len && off < b->m.size) {
		uint64_t i = chunk_at(b, off);
		const uint8_t *data = NULL;
		int rc = load_chunk(b, i, &data);
		if (rc)
			return rc;
		b->last = i;
		uint64_t in = off - b->start[i];
		size_t n = (size_t)(b->m.chunks[i].len - in);
		if (n > len - done)
			n = len - done;
		memcpy(out + done, data + in, n);
		done += n;
		off += n;
	}
	return (ssize_t)done;
}
