/*
 * fuzz_pack_records - pack records as src/core/odb_pack.c reads them from a pack
 * file: dits_odb_verify_pack (what fsck runs: it walks every record) and
 * dits_odb_read / dits_odb_verify_at through the index. The input after its
 * first byte is the pack file. The target writes an index for it the simple
 * way, listing the records a naive walk finds (lengths as the headers claim,
 * even past the end), so the reader meets hostile records through a
 * well-formed index; the index format itself is another target's.
 * First byte: bit 0 set rewrites each record's id to the hash of its
 * payload (so records can verify and the read paths go past the hash check);
 * bit 1 set leaves the pack header as it is, else "DITSPACK" + version 1 is
 * put in front.
 */
#include "fuzz_common.h"

#include "buf.h"
#include "error.h"
#include "hash.h"
#include "odb.h"
#include "odb_pack.h"

#define MAX_ENTRIES 256

typedef struct ent {
	uint8_t id[DITS_ID_LEN];
	uint64_t off;
	uint32_t len;
	uint8_t type;
} ent;

static int cmp_ent(const void *a, const void *b)
{
	return memcmp(((const ent *)a)->id, ((const ent *)b)->id, DITS_ID_LEN);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void report(void *ctx, const char *msg)
{
	(*(size_t *)ctx) += strlen(msg) > 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > (1u << 20))
		return 0;
	uint8_t mode = data[0];
	data++;
	size--;
	/* the pack: input bytes, with a header in front unless asked not to */
	size_t hdr = (mode & 2) ? 0 : DITS_PACK_HEADER_LEN;
	uint8_t *pack = malloc(size + hdr + 1);
	if (!pack)
		abort();
	if (hdr) {
		memset(pack, 0, hdr);
		memcpy(pack, "DITSPACK", 8);
		put_le32(pack + 8, 1);
	}
	memcpy(pack + hdr, data, size);
	size_t plen = size + hdr;

	ent *e = calloc(MAX_ENTRIES, sizeof *e);
	if (!e)
		abort();
	size_t n = 0;
	uint64_t off = DITS_PACK_HEADER_LEN;
	while (n < MAX_ENTRIES && off + DITS_PACK_RECORD_HEADER_LEN <= plen) {
		uint8_t *h = pack + off;
		uint32_t len = get_le32(h + 4);
		uint64_t payload = off + DITS_PACK_RECORD_HEADER_LEN;
		if ((mode & 1) && payload + len <= plen) {
			dits_id sum;
			dits_hash_buf(&sum, pack + payload, len);
			memcpy(h + 8, sum.b, DITS_ID_LEN);
		}
		memcpy(e[n].id, h + 8, DITS_ID_LEN);
		e[n].off = payload;
		/* A length past the end stays past the end, but small: a reader
		 * that allocates what the index claims before checking it
		 * against the pack is the pack index's finding, not this one's. */
		e[n].len = len > plen ? (uint32_t)plen + 1 : len;
		e[n].type = h[0];
		n++;
		off = payload + len;
	}
	qsort(e, n, sizeof *e, cmp_ent);
	size_t u = 0; /* an index lists each id once */
	for (size_t i = 0; i < n; i++)
		if (u == 0 || memcmp(e[u - 1].id, e[i].id, DITS_ID_LEN))
			e[u++] = e[i];
	n = u;

	size_t ilen = 24 + 1024 + n * 48 + DITS_ID_LEN;
	uint8_t *idx = calloc(1, ilen);
	if (!idx)
		abort();
	memcpy(idx, "DITSIDX1", 8);
	put_le32(idx + 8, 1);
	put_le64(idx + 16, n);
	for (unsigned b = 0; b < 256; b++) {
		uint32_t c = 0;
		for (size_t i = 0; i < n; i++)
			c += e[i].id[0] <= b;
		put_le32(idx + 24 + 4 * b, c);
	}
	for (size_t i = 0; i < n; i++) {
		uint8_t *p = idx + 24 + 1024 + 48 * i;
		memcpy(p, e[i].id, DITS_ID_LEN);
		put_le64(p + 32, e[i].off);
		put_le32(p + 40, e[i].len);
		p[44] = e[i].type;
	}
	dits_id sum;
	dits_hash_buf(&sum, idx, ilen - DITS_ID_LEN);
	memcpy(idx + ilen - DITS_ID_LEN, sum.b, DITS_ID_LEN);

	char dir[4200], path[4300];
	snprintf(dir, sizeof dir, "%s/objects", fuzz_dir());
	mkdir(dir, 0755);
	const char *name = "pack-0000000000000000000000000000000000000000000000000000000000000000";
	snprintf(path, sizeof path, "%s/%s.pack", dir, name);
	fuzz_write(path, pack, plen);
	snprintf(path, sizeof path, "%s/%s.idx", dir, name);
	fuzz_write(path, idx, ilen);
	free(pack);
	free(idx);

	dits_odb *db;
	if (dits_odb_open(&db, dir) == 0) {
		size_t msgs = 0;
		for (size_t i = 0; i < dits_odb_pack_count(db); i++)
			(void)dits_odb_verify_pack(db, i, report, &msgs);
		for (size_t i = 0; i < n; i++) {
			dits_id id;
			memcpy(id.b, e[i].id, DITS_ID_LEN);
			dits_buf b = DITS_BUF_INIT;
			uint8_t type;
			if (dits_odb_read(db, &id, &b, &type) == 0 && b.len != e[i].len)
				abort(); /* a read returns what the index says */
			dits_buf_free(&b);
			dits_odb_loc loc;
			const uint8_t *mapped;
			if (dits_odb_locate(db, &id, &loc) == 0 && dits_odb_verify_at(db, &loc, &id, &mapped) == 0) {
				uint64_t s = 0;
				for (uint32_t k = 0; k < loc.length; k++)
					s += mapped[k];
				(void)s;
			}
		}
		dits_odb_free(db);
	}
	free(e);
	return 0;
}
