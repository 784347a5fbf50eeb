/*
 * chunker.h - FastCDC v2020 content-defined chunking.
 *
 * Cut points are identical to the reference implementation (fastcdc-rs 4.0.1,
 * module v2020): gear hash rolled two bytes per step with a left-shifted gear
 * table, normalized chunking with masks MASKS[bits +/- level] where
 * bits = round(log2(avg)), and an optional seed XORed into the gear tables.
 */
#ifndef DITS_CHUNKER_H
#define DITS_CHUNKER_H

#include <stddef.h>
#include <stdint.h>

#define DITS_CHUNK_MIN_DEFAULT 16384u
#define DITS_CHUNK_AVG_DEFAULT 65536u
#define DITS_CHUNK_MAX_DEFAULT 262144u

typedef struct dits_chunker_params {
	uint32_t min, avg, max;
	uint32_t level; /* normalization level 0..3 */
	uint64_t seed;  /* 0 = the reference gear table */
} dits_chunker_params;

/* Exposed so callers can keep one on the stack; fill with dits_chunker_init. */
typedef struct dits_chunker {
	size_t min, avg, max;
	uint64_t mask_s, mask_l, mask_s_ls, mask_l_ls;
	uint64_t gear[256], gear_ls[256];
} dits_chunker;

/* Default parameters: 16 KiB / 64 KiB / 256 KiB, level 1, no seed. */
void dits_chunker_params_default(dits_chunker_params *p);

/*
 * Checks the parameters against the reference's limits (min 64..1 MiB,
 * avg 256..4 MiB, max 1 KiB..16 MiB, min <= avg <= max, level <= 3) and
 * prepares c. Returns 0 or DITS_EINVALID.
 */
int dits_chunker_init(dits_chunker *c, const dits_chunker_params *p);

/*
 * Length of the next chunk at the start of data[0..len). When len is no more
 * than min the whole remainder is one chunk (gear hash 0). When hash_out is
 * not NULL it receives the gear hash at the cut point.
 */
size_t dits_chunker_cut(const dits_chunker *c, const uint8_t *data, size_t len,
                        uint64_t *hash_out);

/* The reference gear table entry i (for tests and documentation). */
uint64_t dits_chunker_gear(unsigned i);

#endif
