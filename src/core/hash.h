/*
 * hash.h - BLAKE3-256 ids.
 *
 * A chunk's id is the unkeyed BLAKE3-256 of its bytes; an object's id is the
 * BLAKE3-256 of its canonical serialization (ARCHITECTURE.md invariant 1).
 * The hashing itself is the official BLAKE3 C implementation.
 */
#ifndef DITS_HASH_H
#define DITS_HASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blake3.h"
#include "dits/hash.h"

/* Incremental hasher; the struct is exposed only so callers can allocate it. */
typedef struct dits_hasher {
	blake3_hasher h;
} dits_hasher;

void dits_hasher_init(dits_hasher *h);
void dits_hasher_update(dits_hasher *h, const void *data, size_t len);
void dits_hasher_final(dits_hasher *h, dits_id *out);

void dits_hash_buf(dits_id *out, const void *data, size_t len);

/*
 * The whole-content hash of a long input in independent pieces, so that
 * several threads can hash one file at once and the result is still exactly
 * BLAKE3 of the whole. A piece is DITS_SUBTREE_LEN bytes at an offset that is
 * a multiple of DITS_SUBTREE_LEN: a complete subtree of BLAKE3's tree. Any
 * thread may compute its two child chaining values (dits_hash_subtree); the
 * owner of the hasher pushes them in input order (dits_hasher_push_subtree)
 * and may then go on with dits_hasher_update for a shorter last piece. This
 * is what blake3_hasher_update does internally for a long input, done with
 * the official implementation's own primitives. Only available when the
 * official sources are compiled in (dits_hash_subtrees_supported()); with a
 * system libblake3 callers hash the pieces in order with dits_hasher_update.
 */
#define DITS_SUBTREE_LEN (8u << 20)
/* Working space of one dits_hash_subtree call, the caller's. */
#define DITS_SUBTREE_SCRATCH ((DITS_SUBTREE_LEN / 1024) * (2 * 32 + sizeof(void *)))
bool dits_hash_subtrees_supported(void);
/* data: DITS_SUBTREE_LEN bytes at input offset off (a multiple of it). */
void dits_hash_subtree(const uint8_t *data, uint64_t off, uint8_t pair[64], void *scratch);
/* The hasher must have taken exactly a multiple of DITS_SUBTREE_LEN bytes,
 * all of them through dits_hasher_push_subtree. */
void dits_hasher_push_subtree(dits_hasher *h, const uint8_t pair[64]);

#endif
