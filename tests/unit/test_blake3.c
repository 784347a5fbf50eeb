/*
 * BLAKE3 against the official test vectors (one-shot and incremental), and
 * the hex encoding of ids.
 */
#include <ctype.h>

#include "error.h"
#include "hash.h"

#include "check.h"
#include "util.h"

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

/* Parses the first 64 hex digits of s into want. */
static int parse_hash32(const char *s, uint8_t want[32])
{
	for (int i = 0; i < 32; i++) {
		int hi = hexval((unsigned char)s[2 * i]);
		int lo = hi < 0 ? -1 : hexval((unsigned char)s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		want[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

static void check_one(size_t len, const uint8_t want[32])
{
	uint8_t *in = malloc(len ? len : 1);
	REQUIRE(in != NULL);
	for (size_t i = 0; i < len; i++)
		in[i] = (uint8_t)(i % 251);

	dits_id got;
	dits_hash_buf(&got, in, len);
	CHECK(memcmp(got.b, want, 32) == 0);
	if (memcmp(got.b, want, 32) != 0)
		fprintf(stderr, "  dits_hash_buf, input_len %zu\n", len);

	/* Incremental, in odd-sized pieces of several patterns. */
	static const size_t steps[][4] = {
		{ 1, 1, 1, 1 }, { 7, 13, 1, 63 }, { 65, 1023, 3, 1 }, { 1025, 2047, 5, 4097 },
	};
	for (size_t s = 0; s < sizeof steps / sizeof *steps; s++) {
		dits_hasher h;
		dits_hasher_init(&h);
		size_t off = 0, k = 0;
		while (off < len) {
			size_t n = steps[s][k++ % 4];
			if (n > len - off)
				n = len - off;
			dits_hasher_update(&h, in + off, n);
			off += n;
		}
		dits_hasher_update(&h, in, 0); /* empty updates change nothing */
		dits_id inc;
		dits_hasher_final(&h, &inc);
		if (memcmp(inc.b, want, 32) != 0) {
			CHECK(!"incremental hash matches the vector");
			fprintf(stderr, "  incremental pattern %zu, input_len %zu\n", s, len);
		} else {
			CHECK(1);
		}
	}
	free(in);
}

static void test_vectors(void)
{
	char *path = util_fixture("blake3_test_vectors.json");
	size_t len = 0;
	uint8_t *raw = path ? util_read_file(path, &len) : NULL;
	REQUIRE(raw != NULL);
	char *text = malloc(len + 1);
	REQUIRE(text != NULL);
	memcpy(text, raw, len);
	text[len] = '\0';
	free(raw);

	size_t cases = 0;
	const char *p = text;
	bool saw_big = false;
	while ((p = strstr(p, "\"input_len\""))) {
		p += strlen("\"input_len\"");
		while (*p == ' ' || *p == ':')
			p++;
		char *end;
		unsigned long n = strtoul(p, &end, 10);
		REQUIRE(end != p);
		p = end;
		const char *h = strstr(p, "\"hash\"");
		REQUIRE(h != NULL);
		h += strlen("\"hash\"");
		while (*h == ' ' || *h == ':')
			h++;
		REQUIRE(*h == '"');
		h++;
		uint8_t want[32];
		REQUIRE(parse_hash32(h, want) == 0);
		check_one(n, want);
		if (n >= 102400)
			saw_big = true;
		cases++;
		p = h;
	}
	CHECK(cases >= 35);
	CHECK(saw_big);
	free(text);
	free(path);
}

static void test_hex(void)
{
	dits_id id, back;
	for (int i = 0; i < DITS_ID_LEN; i++)
		id.b[i] = (uint8_t)(i * 37 + 11);
	char hex[DITS_ID_HEXLEN + 1];
	memset(hex, 'x', sizeof hex);
	dits_id_hex(hex, &id);
	CHECK(hex[DITS_ID_HEXLEN] == '\0');
	CHECK(strlen(hex) == DITS_ID_HEXLEN);
	for (int i = 0; i < DITS_ID_HEXLEN; i++)
		if (!isxdigit((unsigned char)hex[i]) || isupper((unsigned char)hex[i])) {
			CHECK(!"lowercase hex digits");
			break;
		}
	CHECK_RC(dits_id_from_hex(&back, hex), 0);
	CHECK(dits_id_eq(&id, &back));

	/* Every byte value survives. */
	int bad = 0;
	for (int v = 0; v < 256; v++) {
		memset(id.b, v, sizeof id.b);
		dits_id_hex(hex, &id);
		memset(&back, 0, sizeof back);
		if (dits_id_from_hex(&back, hex) || !dits_id_eq(&id, &back))
			bad++;
	}
	CHECK(bad == 0);

	/* Known value: the BLAKE3 of "" */
	dits_hash_buf(&id, "", 0);
	dits_id_hex(hex, &id);
	CHECK(strcmp(hex, "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262") == 0);

	/* Upper case is accepted. */
	char up[DITS_ID_HEXLEN + 1];
	for (int i = 0; i <= DITS_ID_HEXLEN; i++)
		up[i] = (char)toupper((unsigned char)hex[i]);
	CHECK_RC(dits_id_from_hex(&back, up), 0);
	CHECK(dits_id_eq(&id, &back));

	/* Rejections. */
	char bad_s[DITS_ID_HEXLEN + 8];
	CHECK_RC(dits_id_from_hex(&back, ""), DITS_EINVALID);
	CHECK_RC(dits_id_from_hex(&back, "abc"), DITS_EINVALID);
	memcpy(bad_s, hex, DITS_ID_HEXLEN + 1);
	bad_s[63] = '\0'; /* 63 digits */
	CHECK_RC(dits_id_from_hex(&back, bad_s), DITS_EINVALID);
	memcpy(bad_s, hex, DITS_ID_HEXLEN);
	bad_s[64] = 'a';
	bad_s[65] = '\0'; /* 65 digits */
	CHECK_RC(dits_id_from_hex(&back, bad_s), DITS_EINVALID);
	memcpy(bad_s, hex, DITS_ID_HEXLEN + 1);
	bad_s[10] = 'g';
	CHECK_RC(dits_id_from_hex(&back, bad_s), DITS_EINVALID);
	memcpy(bad_s, hex, DITS_ID_HEXLEN + 1);
	bad_s[0] = ' ';
	CHECK_RC(dits_id_from_hex(&back, bad_s), DITS_EINVALID);
	memcpy(bad_s, hex, DITS_ID_HEXLEN + 1);
	bad_s[63] = 'Z';
	CHECK_RC(dits_id_from_hex(&back, bad_s), DITS_EINVALID);
	memcpy(bad_s, hex, DITS_ID_HEXLEN + 1);
	bad_s[31] = '-';
	CHECK_RC(dits_id_from_hex(&back, bad_s), DITS_EINVALID);
	memcpy(bad_s, hex, DITS_ID_HEXLEN);
	bad_s[64] = 'x';
	bad_s[65] = '\0'; /* trailing garbage */
	CHECK_RC(dits_id_from_hex(&back, bad_s), DITS_EINVALID);

	/* Prefix test. */
	CHECK(dits_is_hex_prefix("a"));
	CHECK(dits_is_hex_prefix("0123456789abcdefABCDEF"));
	CHECK(dits_is_hex_prefix(hex));
	CHECK(!dits_is_hex_prefix(""));
	CHECK(!dits_is_hex_prefix("abcg"));
	CHECK(!dits_is_hex_prefix("HEAD"));
	memcpy(bad_s, hex, DITS_ID_HEXLEN);
	bad_s[64] = 'a';
	bad_s[65] = '\0';
	CHECK(!dits_is_hex_prefix(bad_s));

	dits_id zero = { { 0 } };
	CHECK(dits_id_is_zero(&zero));
	zero.b[31] = 1;
	CHECK(!dits_id_is_zero(&zero));
	dits_id a = { { 0 } }, b = { { 0 } };
	a.b[0] = 1;
	b.b[31] = 0xff;
	CHECK(dits_id_cmp(&a, &b) > 0);
	CHECK(dits_id_cmp(&b, &a) < 0);
	CHECK(dits_id_cmp(&a, &a) == 0);
}

/*
 * Subtree hashing (several threads hashing one input) must give exactly the
 * one-pass hash, whatever the length: a multiple of the subtree, one byte
 * either side of it, a lone subtree, and the last subtree's root promotion.
 */
static void test_subtrees(void)
{
	if (!dits_hash_subtrees_supported()) {
		fprintf(stderr, "note: system libblake3, subtree hashing not built\n");
		return;
	}
	const size_t L = DITS_SUBTREE_LEN;
	size_t max = 5 * L + 4096;
	uint8_t *buf = malloc(max);
	void *scratch = malloc(DITS_SUBTREE_SCRATCH);
	CHECK(buf && scratch);
	if (!buf || !scratch)
		return;
	uint64_t x = 0x9e3779b97f4a7c15ull;
	for (size_t i = 0; i < max; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		buf[i] = (uint8_t)x;
	}
	const size_t lens[] = { L, L + 1, 2 * L - 1, 2 * L, 2 * L + 1, 3 * L, 3 * L + 1023, 3 * L + 1024,
	                        3 * L + 1025, 4 * L, 5 * L + 4096 };
	for (size_t k = 0; k < sizeof lens / sizeof *lens; k++) {
		size_t len = lens[k];
		dits_id want, got;
		dits_hash_buf(&want, buf, len);
		dits_hasher h;
		dits_hasher_init(&h);
		size_t off = 0;
		/* Subtrees out of order into slots, pushed in order, as the workers do. */
		size_t n = len / L;
		uint8_t (*pairs)[64] = calloc(n ? n : 1, 64);
		for (size_t j = n; j-- > 0;)
			dits_hash_subtree(buf + j * L, j * L, pairs[j], scratch);
		for (size_t j = 0; j < n; j++, off += L)
			dits_hasher_push_subtree(&h, pairs[j]);
		free(pairs);
		dits_hasher_update(&h, buf + off, len - off);
		dits_hasher_final(&h, &got);
		if (!dits_id_eq(&got, &want))
			fprintf(stderr, "subtree hash differs at length %zu\n", len);
		CHECK(dits_id_eq(&got, &want));
	}
	free(scratch);
	free(buf);
}

int main(void)
{
	test_vectors();
	test_hex();
	test_subtrees();
	return check_done();
}
