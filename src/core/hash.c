#include "hash.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"

#ifdef DITS_BLAKE3_SUBTREES
#include "blake3_impl.h"
#endif

void dits_hasher_init(dits_hasher *h)
{
	blake3_hasher_init(&h->h);
}

void dits_hasher_update(dits_hasher *h, const void *data, size_t len)
{
	blake3_hasher_update(&h->h, data, len);
}

void dits_hasher_final(dits_hasher *h, dits_id *out)
{
	blake3_hasher_finalize(&h->h, out->b, DITS_ID_LEN);
}

void dits_hash_buf(dits_id *out, const void *data, size_t len)
{
	blake3_hasher h;
	blake3_hasher_init(&h);
	blake3_hasher_update(&h, data, len);
	blake3_hasher_finalize(&h, out->b, DITS_ID_LEN);
}

#ifdef DITS_BLAKE3_SUBTREES
#define SUBTREE_CHUNKS (DITS_SUBTREE_LEN / BLAKE3_CHUNK_LEN)

bool dits_hash_subtrees_supported(void)
{
	return true;
}

/*
 * The chunk chaining values of the subtree with the SIMD many-input
 * compression, then its parent levels the same way, down to the root's two
 * children: what compress_subtree_to_parent_node in blake3.c returns for a
 * power-of-two number of chunks.
 */
void dits_hash_subtree(const uint8_t *data, uint64_t off, uint8_t pair[64], void *scratch)
{
	const uint8_t **inputs = scratch;
	uint8_t(*cvs)[SUBTREE_CHUNKS * BLAKE3_OUT_LEN] = (void *)((uint8_t *)scratch + SUBTREE_CHUNKS * sizeof *inputs);
	for (size_t i = 0; i < SUBTREE_CHUNKS; i++)
		inputs[i] = data + i * BLAKE3_CHUNK_LEN;
	blake3_hash_many(inputs, SUBTREE_CHUNKS, BLAKE3_CHUNK_LEN / BLAKE3_BLOCK_LEN, IV,
	                 off / BLAKE3_CHUNK_LEN, true, 0, CHUNK_START, CHUNK_END, cvs[0]);
	size_t n = SUBTREE_CHUNKS;
	int cur = 0;
	while (n > 2) {
		for (size_t i = 0; i < n / 2; i++)
			inputs[i] = cvs[cur] + i * 2 * BLAKE3_OUT_LEN;
		blake3_hash_many(inputs, n / 2, 1, IV, 0, false, PARENT, 0, 0, cvs[cur ^ 1]);
		cur ^= 1;
		n /= 2;
	}
	memcpy(pair, cvs[cur], 2 * BLAKE3_OUT_LEN);
}

/* hasher_merge_cv_stack and hasher_push_cv of blake3.c: lazy merging, so the
 * last subtree pushed can still become the root at finalization. */
static void merge_cv_stack(blake3_hasher *h, uint64_t total_chunks)
{
	size_t keep = (size_t)__builtin_popcountll(total_chunks);
	while (h->cv_stack_len > keep) {
		uint8_t *parent = &h->cv_stack[(h->cv_stack_len - 2) * BLAKE3_OUT_LEN];
		uint32_t cv[8];
		memcpy(cv, h->key, sizeof cv);
		blake3_compress_in_place(cv, parent, BLAKE3_BLOCK_LEN, 0, (uint8_t)(h->chunk.flags | PARENT));
		store_cv_words(parent, cv);
		h->cv_stack_len -= 1;
	}
}

static void push_cv(blake3_hasher *h, const uint8_t cv[BLAKE3_OUT_LEN], uint64_t chunk_counter)
{
	merge_cv_stack(h, chunk_counter);
	memcpy(&h->cv_stack[h->cv_stack_len * BLAKE3_OUT_LEN], cv, BLAKE3_OUT_LEN);
	h->cv_stack_len += 1;
}

void dits_hasher_push_subtree(dits_hasher *dh, const uint8_t pair[64])
{
	blake3_hasher *h = &dh->h;
	uint64_t counter = h->chunk.chunk_counter;
	push_cv(h, pair, counter);
	push_cv(h, pair + BLAKE3_OUT_LEN, counter + SUBTREE_CHUNKS / 2);
	h->chunk.chunk_counter = counter + SUBTREE_CHUNKS;
}
#else
bool dits_hash_subtrees_supported(void)
{
	return false;
}

void dits_hash_subtree(const uint8_t *data, uint64_t off, uint8_t pair[64], void *scratch)
{
	(void)data;
	(void)off;
	(void)scratch;
	memset(pair, 0, 64);
	abort(); /* callers check dits_hash_subtrees_supported() */
}

void dits_hasher_push_subtree(dits_hasher *h, const uint8_t pair[64])
{
	(void)h;
	(void)pair;
	abort();
}
#endif

void dits_id_hex(char out[DITS_ID_HEXLEN + 1], const dits_id *id)
{
	static const char digits[] = "0123456789abcdef";
	for (int i = 0; i < DITS_ID_LEN; i++) {
		out[2 * i] = digits[id->b[i] >> 4];
		out[2 * i + 1] = digits[id->b[i] & 15];
	}
	out[DITS_ID_HEXLEN] = '\0';
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int dits_id_from_hex(dits_id *out, const char *hex)
{
	for (int i = 0; i < DITS_ID_LEN; i++) {
		int hi = hexval((unsigned char)hex[2 * i]);
		int lo = hi < 0 ? -1 : hexval((unsigned char)hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return dits_error_set(DITS_EINVALID, "'%.64s' is not a 64-digit hex id", hex);
		out->b[i] = (uint8_t)(hi << 4 | lo);
	}
	if (hex[DITS_ID_HEXLEN] != '\0' && hex[DITS_ID_HEXLEN] != '\n')
		return dits_error_set(DITS_EINVALID, "'%s' is not a 64-digit hex id", hex);
	return 0;
}

bool dits_is_hex_prefix(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > DITS_ID_HEXLEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if (hexval((unsigned char)s[i]) < 0)
			return false;
	return true;
}

bool dits_id_is_zero(const dits_id *id)
{
	for (int i = 0; i < DITS_ID_LEN; i++)
		if (id->b[i])
			return false;
	return true;
}
