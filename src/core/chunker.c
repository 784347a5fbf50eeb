/*
 * FastCDC v2020 (Xia et al., 2020), bit-exact with fastcdc-rs 4.0.1 v2020.
 *
 * Why two loops: normalized chunking uses a stricter mask (more bits) before
 * the average size and a looser one after it, so chunk sizes cluster around
 * the average. Why two bytes per step: the hash is shifted by 2 per step and
 * the even byte is added through a table pre-shifted by 1, which makes the
 * result identical to rolling one byte at a time while halving the loop
 * count; each half-step is checked with a mask shifted to match.
 */
#include "chunker.h"

#include <math.h>

#include "error.h"
#include "gear_table.h"

/* Masks per number of bits, from the reference (indices 0..4 unused). */
static const uint64_t masks[26] = {
	0, 0, 0, 0, 0,
	0x0000000001804110ULL, 0x0000000001803110ULL, 0x0000000018035100ULL,
	0x0000001800035300ULL, 0x0000019000353000ULL, 0x0000590003530000ULL,
	0x0000d90003530000ULL, 0x0000d90103530000ULL, 0x0000d90303530000ULL,
	0x0000d90313530000ULL, 0x0000d90f03530000ULL, 0x0000d90303537000ULL,
	0x0000d90703537000ULL, 0x0000d90707537000ULL, 0x0000d91707537000ULL,
	0x0000d91747537000ULL, 0x0000d91767537000ULL, 0x0000d93767537000ULL,
	0x0000d93777537000ULL, 0x0000d93777577000ULL, 0x0000db3777577000ULL,
};

void dits_chunker_params_default(dits_chunker_params *p)
{
	p->min = DITS_CHUNK_MIN_DEFAULT;
	p->avg = DITS_CHUNK_AVG_DEFAULT;
	p->max = DITS_CHUNK_MAX_DEFAULT;
	p->level = 1;
	p->seed = 0;
}

uint64_t dits_chunker_gear(unsigned i)
{
	return dits_gear[i & 255];
}

int dits_chunker_init(dits_chunker *c, const dits_chunker_params *p)
{
	if (p->min < 64 || p->min > 1048576)
		return dits_error_set(DITS_EINVALID, "chunk minimum %u is outside 64..1048576", p->min);
	if (p->avg < 256 || p->avg > 4194304)
		return dits_error_set(DITS_EINVALID, "chunk average %u is outside 256..4194304", p->avg);
	if (p->max < 1024 || p->max > 16777216)
		return dits_error_set(DITS_EINVALID, "chunk maximum %u is outside 1024..16777216", p->max);
	if (p->min > p->avg || p->avg > p->max)
		return dits_error_set(DITS_EINVALID, "chunk sizes must satisfy min <= avg <= max (%u/%u/%u)",
		                      p->min, p->avg, p->max);
	if (p->level > 3)
		return dits_error_set(DITS_EINVALID, "normalization level %u is outside 0..3", p->level);

	unsigned bits = (unsigned)lround(log2((double)p->avg));
	c->min = p->min;
	c->avg = p->avg;
	c->max = p->max;
	c->mask_s = masks[bits + p->level];
	c->mask_l = masks[bits - p->level];
	c->mask_s_ls = c->mask_s << 1;
	c->mask_l_ls = c->mask_l << 1;
	uint64_t seed_ls = p->seed << 1;
	for (int i = 0; i < 256; i++) {
		c->gear[i] = dits_gear[i] ^ p->seed;
		c->gear_ls[i] = (dits_gear[i] << 1) ^ seed_ls;
	}
	return 0;
}

size_t dits_chunker_cut(const dits_chunker *c, const uint8_t *src, size_t len,
                        uint64_t *hash_out)
{
	size_t remaining = len;
	if (remaining <= c->min) {
		if (hash_out)
			*hash_out = 0;
		return remaining;
	}
	size_t center = c->avg;
	if (remaining > c->max)
		remaining = c->max;
	else if (remaining < center)
		center = remaining;

	const uint64_t *gear = c->gear, *gear_ls = c->gear_ls;
	size_t index = c->min / 2;
	uint64_t hash = 0;
	uint64_t ms = c->mask_s, ms_ls = c->mask_s_ls;
	for (; index < center / 2; index++) {
		size_t a = index * 2;
		hash = (hash << 2) + gear_ls[src[a]];
		if ((hash & ms_ls) == 0)
			goto cut_even;
		hash += gear[src[a + 1]];
		if ((hash & ms) == 0)
			goto cut_odd;
	}
	uint64_t ml = c->mask_l, ml_ls = c->mask_l_ls;
	for (; index < remaining / 2; index++) {
		size_t a = index * 2;
		hash = (hash << 2) + gear_ls[src[a]];
		if ((hash & ml_ls) == 0)
			goto cut_even;
		hash += gear[src[a + 1]];
		if ((hash & ml) == 0)
			goto cut_odd;
	}
	if (hash_out)
		*hash_out = hash;
	return remaining;
cut_even:
	if (hash_out)
		*hash_out = hash;
	return index * 2;
cut_odd:
	if (hash_out)
		*hash_out = hash;
	return index * 2 + 1;
}
