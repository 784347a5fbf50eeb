#include "hash.h"

#include <string.h>

#include "error.h"

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
