/*
 * dits/hash.h - object ids: the BLAKE3-256 of a chunk's bytes or of an
 * object's canonical serialization.
 */
#ifndef DITS_PUBLIC_HASH_H
#define DITS_PUBLIC_HASH_H

#include <stdbool.h>
#include <stdint.h>

#define DITS_ID_LEN 32
#define DITS_ID_HEXLEN 64

typedef struct dits_id {
	uint8_t b[DITS_ID_LEN];
} dits_id;

/* Writes 64 lowercase hex digits and a NUL into out. */
void dits_id_hex(char out[DITS_ID_HEXLEN + 1], const dits_id *id);
/* Parses exactly 64 hex digits. Returns 0 or DITS_EINVALID. */
int dits_id_from_hex(dits_id *out, const char *hex);
/* True when s is 1..64 hex digits (a possible id prefix). */
bool dits_is_hex_prefix(const char *s);

static inline int dits_id_cmp(const dits_id *a, const dits_id *b)
{
	for (int i = 0; i < DITS_ID_LEN; i++)
		if (a->b[i] != b->b[i])
			return a->b[i] < b->b[i] ? -1 : 1;
	return 0;
}

static inline bool dits_id_eq(const dits_id *a, const dits_id *b)
{
	return dits_id_cmp(a, b) == 0;
}

bool dits_id_is_zero(const dits_id *id);

#endif
