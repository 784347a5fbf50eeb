/*
 * The wire protocol's record stream parser: any split of the bytes gives
 * the same records, a payload that does not hash to its id is
 * DITS_ECORRUPT, a stream cut inside a record or a bad header is an error;
 * and the rules for repository names.
 */
#include <string.h>

#include "error.h"
#include "hash.h"
#include "wire.h"

#include "check.h"

typedef struct seen {
	size_t n;
	uint8_t types[8];
	dits_id ids[8];
	uint32_t lens[8];
	uint64_t sum; /* of payload bytes, to see the payload itself arrived */
} seen;

static int on_record(void *ctx, uint8_t type, const dits_id *id, const uint8_t *payload, uint32_t len)
{
	seen *s = ctx;
	if (s->n < 8) {
		s->types[s->n] = type;
		s->ids[s->n] = *id;
		s->lens[s->n] = len;
	}
	s->n++;
	for (uint32_t i = 0; i < len; i++)
		s->sum += payload[i];
	return 0;
}

/* A stream of three records: 100 bytes, empty, 300 bytes. */
static size_t make_stream(uint8_t *out, dits_id ids[3], uint64_t *sum)
{
	static const uint32_t lens[3] = { 100, 0, 300 };
	static const uint8_t types[3] = { 1, 3, 5 };
	size_t off = 0;
	*sum = 0;
	for (int r = 0; r < 3; r++) {
		uint8_t payload[300];
		for (uint32_t i = 0; i < lens[r]; i++) {
			payload[i] = (uint8_t)(i * 7 + (uint32_t)r);
			*sum += payload[i];
		}
		dits_hash_buf(&ids[r], payload, lens[r]);
		dits_wire_record_header(out + off, types[r], lens[r], &ids[r]);
		off += DITS_PACK_RECORD_HEADER_LEN;
		memcpy(out + off, payload, lens[r]);
		off += lens[r];
	}
	return off;
}

static void check_records(const seen *s, const dits_id ids[3], uint64_t sum)
{
	CHECK_EQ_U64(s->n, 3);
	CHECK_EQ_U64(s->types[0], 1);
	CHECK_EQ_U64(s->types[1], 3);
	CHECK_EQ_U64(s->types[2], 5);
	CHECK_EQ_U64(s->lens[0], 100);
	CHECK_EQ_U64(s->lens[1], 0);
	CHECK_EQ_U64(s->lens[2], 300);
	for (int i = 0; i < 3; i++)
		CHECK(dits_id_eq(&s->ids[i], &ids[i]));
	CHECK_EQ_U64(s->sum, sum);
}

static void test_splits(void)
{
	uint8_t stream[1024];
	dits_id ids[3];
	uint64_t sum;
	size_t len = make_stream(stream, ids, &sum);
	/* One split point at every byte boundary. */
	for (size_t cut = 0; cut <= len; cut++) {
		seen s = { 0 };
		dits_wire_parser p;
		dits_wire_parser_init(&p, true, on_record, &s);
		int rc = dits_wire_parser_feed(&p, stream, cut);
		if (!rc)
			rc = dits_wire_parser_feed(&p, stream + cut, len - cut);
		if (!rc)
			rc = dits_wire_parser_finish(&p);
		CHECK_RC(rc, 0);
		check_records(&s, ids, sum);
		CHECK_EQ_U64(p.bytes, len);
		dits_wire_parser_free(&p);
	}
	/* One byte at a time. */
	seen s = { 0 };
	dits_wire_parser p;
	dits_wire_parser_init(&p, true, on_record, &s);
	int rc = 0;
	for (size_t i = 0; i < len && !rc; i++)
		rc = dits_wire_parser_feed(&p, stream + i, 1);
	CHECK_RC(rc, 0);
	CHECK_RC(dits_wire_parser_finish(&p), 0);
	check_records(&s, ids, sum);
	dits_wire_parser_free(&p);
}

static int feed_all(uint8_t *stream, size_t len, size_t piece, seen *s)
{
	dits_wire_parser p;
	dits_wire_parser_init(&p, true, on_record, s);
	int rc = 0;
	for (size_t off = 0; off < len && !rc; off += piece)
		rc = dits_wire_parser_feed(&p, stream + off, off + piece < len ? piece : len - off);
	if (!rc)
		rc = dits_wire_parser_finish(&p);
	dits_wire_parser_free(&p);
	return rc;
}

static void test_bad_hash(void)
{
	uint8_t stream[1024];
	dits_id ids[3];
	uint64_t sum;
	size_t len = make_stream(stream, ids, &sum);
	/* The last byte of the third record's payload. */
	stream[len - 1] ^= 0x01;
	size_t pieces[] = { 1, 13, 40, 41, 1024 };
	for (size_t i = 0; i < sizeof pieces / sizeof *pieces; i++) {
		seen s = { 0 };
		CHECK_RC(feed_all(stream, len, pieces[i], &s), DITS_ECORRUPT);
		CHECK_EQ_U64(s.n, 2); /* the first two were fine */
		CHECK(strstr(dits_error_last(), "does not hash") != NULL);
	}
	/* Without verification the parser passes it on. */
	seen s = { 0 };
	dits_wire_parser p;
	dits_wire_parser_init(&p, false, on_record, &s);
	CHECK_RC(dits_wire_parser_feed(&p, stream, len), 0);
	CHECK_RC(dits_wire_parser_finish(&p), 0);
	CHECK_EQ_U64(s.n, 3);
	dits_wire_parser_free(&p);
}

static void test_truncated(void)
{
	uint8_t stream[1024];
	dits_id ids[3];
	uint64_t sum;
	size_t len = make_stream(stream, ids, &sum);
	/* Every length that does not end on a record boundary is an error. */
	size_t bounds[] = { 0, 140, 180, len };
	for (size_t cut = 0; cut <= len; cut++) {
		bool boundary = false;
		for (size_t i = 0; i < 4; i++)
			boundary = boundary || cut == bounds[i];
		seen s = { 0 };
		int rc = feed_all(stream, cut, 64, &s);
		if (boundary)
			CHECK_RC(rc, 0);
		else
			CHECK_RC(rc, DITS_EINVALID);
	}
	CHECK(strstr(dits_error_last(), "truncated") != NULL);
}

static void test_bad_header(void)
{
	uint8_t stream[1024];
	dits_id ids[3];
	uint64_t sum;
	size_t len = make_stream(stream, ids, &sum);
	uint8_t bad[1024];
	struct {
		size_t off;
		uint8_t val;
	} cases[] = {
		{ 0, 0 },    /* type 0 */
		{ 0, 6 },    /* unknown type */
		{ 1, 1 },    /* reserved byte */
		{ 3, 0x80 }, /* reserved byte */
		{ 7, 0x10 }, /* length 256 MiB + 100: over the limit */
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		memcpy(bad, stream, len);
		bad[cases[i].off] = cases[i].val;
		seen s = { 0 };
		CHECK_RC(feed_all(bad, len, 7, &s), DITS_EINVALID);
		CHECK_EQ_U64(s.n, 0);
		seen s2 = { 0 };
		CHECK_RC(feed_all(bad, len, len, &s2), DITS_EINVALID);
	}
	/* Errors are sticky. */
	memcpy(bad, stream, len);
	bad[0] = 9;
	dits_wire_parser p;
	seen s = { 0 };
	dits_wire_parser_init(&p, true, on_record, &s);
	CHECK_RC(dits_wire_parser_feed(&p, bad, len), DITS_EINVALID);
	CHECK_RC(dits_wire_parser_feed(&p, stream, len), DITS_EINVALID);
	CHECK_RC(dits_wire_parser_finish(&p), DITS_EINVALID);
	dits_wire_parser_free(&p);
}

static int stop_at_second(void *ctx, uint8_t type, const dits_id *id, const uint8_t *payload, uint32_t len)
{
	int *n = ctx;
	(void)type, (void)id, (void)payload, (void)len;
	return ++*n == 2 ? 42 : 0;
}

static void test_callback_error(void)
{
	uint8_t stream[1024];
	dits_id ids[3];
	uint64_t sum;
	size_t len = make_stream(stream, ids, &sum);
	int n = 0;
	dits_wire_parser p;
	dits_wire_parser_init(&p, true, stop_at_second, &n);
	CHECK_RC(dits_wire_parser_feed(&p, stream, len), 42);
	CHECK_EQ_U64(n, 2);
	dits_wire_parser_free(&p);
}

static void test_names(void)
{
	const char *good[] = { "a", "proj-1", "Film_2024.v2", "x.y-z", "A0" };
	const char *bad[] = { "", ".", "..", ".dits", "_events", "-x", "a/b", "a b", "a%2fb", "a\\b", "é" };
	for (size_t i = 0; i < sizeof good / sizeof *good; i++)
		CHECK(dits_wire_repo_name_valid(good[i]));
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		CHECK(!dits_wire_repo_name_valid(bad[i]));
	char longname[102];
	memset(longname, 'a', sizeof longname - 1);
	longname[101] = '\0';
	CHECK(!dits_wire_repo_name_valid(longname));
	longname[100] = '\0';
	CHECK(dits_wire_repo_name_valid(longname));
}

int main(void)
{
	test_splits();
	test_bad_hash();
	test_truncated();
	test_bad_header();
	test_callback_error();
	test_names();
	return check_done();
}
