/*
 * wire.h - what the server and the client share: the record stream parser,
 * id lists and the rules for repository names (docs/PROTOCOL.md).
 */
#ifndef DITS_WIRE_H
#define DITS_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "hash.h"
#include "metadb.h"
#include "odb.h"

#define DITS_WIRE_MAX_IDS 65536u               /* ids in one id list */
#define DITS_WIRE_MAX_JSON (1u << 20)          /* bytes of a JSON body */
#define DITS_WIRE_MAX_UPLOAD (256ull << 20)    /* bytes of one POST /NAME/objects */
#define DITS_WIRE_MAX_WALK 10000u              /* ids in want or have */
#define DITS_WIRE_DEFAULT_PORT 7780

/* True when name is a valid repository name (one safe path segment). */
bool dits_wire_repo_name_valid(const char *name);

/* Writes the 40-byte record header (type, reserved, length, id). */
void dits_wire_record_header(uint8_t out[DITS_PACK_RECORD_HEADER_LEN], uint8_t type,
                             uint32_t len, const dits_id *id);

/*
 * An incremental parser of a record stream. Feed it bytes as they arrive in
 * any split; fn is called once per complete record, after the payload's hash
 * was checked against the id (when verify is set). A record that lies whole
 * inside one fed buffer is passed without a copy; others are assembled in a
 * buffer that grows to the largest record seen (at most DITS_OBJECT_MAX).
 */
typedef int (*dits_wire_record_fn)(void *ctx, uint8_t type, const dits_id *id,
                                   const uint8_t *payload, uint32_t len);

typedef struct dits_wire_parser {
	dits_wire_record_fn fn;
	void *ctx;
	bool verify;
	uint32_t max_len;      /* largest payload accepted (DITS_OBJECT_MAX by default) */
	uint64_t records;      /* complete records so far */
	uint64_t bytes;        /* bytes fed so far */
	/* private */
	uint8_t hdr[DITS_PACK_RECORD_HEADER_LEN];
	size_t hdr_have;
	uint8_t *buf;
	size_t buf_cap;
	uint32_t need, have;   /* payload bytes of the current record */
	bool in_payload;
	int failed;            /* sticky error code */
} dits_wire_parser;

void dits_wire_parser_init(dits_wire_parser *p, bool verify, dits_wire_record_fn fn, void *ctx);
void dits_wire_parser_free(dits_wire_parser *p);
/*
 * Returns 0, the callback's non-zero return, DITS_EINVALID for a malformed
 * header (unknown type, reserved bytes, length over max_len) or
 * DITS_ECORRUPT for a payload that does not hash to its id; the message
 * names the record. Errors are sticky.
 */
int dits_wire_parser_feed(dits_wire_parser *p, const void *data, size_t len);
/* 0 when the stream ended on a record boundary, else DITS_EINVALID ("truncated"). */
int dits_wire_parser_finish(dits_wire_parser *p);

/* Bit i of a have-bitmap (least significant bit first within each byte). */
static inline bool dits_wire_bit(const uint8_t *bitmap, size_t i)
{
	return (bitmap[i / 8] >> (i % 8)) & 1u;
}
static inline void dits_wire_set_bit(uint8_t *bitmap, size_t i)
{
	bitmap[i / 8] = (uint8_t)(bitmap[i / 8] | (1u << (i % 8)));
}

/* Parses a byte count with an optional suffix: 1000, 512K, 6.25M, 1G (binary
 * multiples), or a bit rate: 50Mbit, 50mbps, 1Gbit (decimal, divided by 8).
 * Returns 0 or DITS_EINVALID. */
int dits_wire_parse_rate(const char *s, uint64_t *bytes_per_second);

#endif

/* ---- variants on the wire (GET/POST /NAME/variants) ----------------- */

struct cJSON;

/* Appends v as the JSON object of docs/PROTOCOL.md (recipe and facts as JSON values). */
int dits_wire_variant_json(dits_buf *out, const dits_variant *v);

/*
 * Registers a ready variant described by obj (one element of "variants")
 * in db, unless one for the same parent, type and recipe hash is ready
 * already. The variant's manifest (head and chunk lists, not its chunks)
 * must be in odb: its chunk_hash_list is computed from it. *imported (may
 * be NULL) tells whether a row became ready. Variants that are not ready
 * are skipped (0, not imported). DITS_EINVALID for a malformed object,
 * DITS_ENOTFOUND when the manifest is not in the store.
 */
int dits_wire_variant_import(dits_odb *odb, dits_metadb *db, const struct cJSON *obj, bool *imported);
