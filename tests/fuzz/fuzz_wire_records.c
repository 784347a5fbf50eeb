/*
 * fuzz_wire_records - the record stream parser of the wire protocol
 * (src/net/wire.c), as a server reads a POST /NAME/objects body and a client
 * a fetch answer. The input is the stream; its first byte picks how it is
 * split into fed pieces (the network splits a stream anywhere), and whether
 * payload hashes are checked. A small max_len makes the "too long" path
 * reachable with small inputs.
 */
#include "fuzz_common.h"

#include "error.h"
#include "wire.h"

typedef struct sink {
	uint64_t records, bytes;
	int stop_after; /* the callback fails on this record (0: never) */
} sink;

static int on_record(void *ctx, uint8_t type, const dits_id *id, const uint8_t *payload, uint32_t len)
{
	sink *s = ctx;
	(void)type;
	(void)id;
	/* touch every payload byte: a payload pointer past its buffer shows */
	uint64_t sum = 0;
	for (uint32_t i = 0; i < len; i++)
		sum += payload[i];
	s->bytes += len + (sum & 1);
	s->records++;
	if (s->stop_after && s->records == (uint64_t)s->stop_after)
		return dits_error_set(DITS_ERROR, "stop");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	uint8_t mode = data[0], split = data[1];
	data += 2;
	size -= 2;
	sink s = { 0, 0, (mode >> 4) & 3 };
	dits_wire_parser p;
	dits_wire_parser_init(&p, mode & 1, on_record, &s);
	if (mode & 2)
		p.max_len = 4096;
	/* pieces of 1..256 bytes, or the whole stream at once */
	size_t step = (mode & 4) ? (size_t)split + 1 : size;
	int rc = 0;
	for (size_t off = 0; off < size; off += step) {
		size_t n = size - off < step ? size - off : step;
		/* each piece in its own allocation, so reads past it are caught */
		uint8_t *piece = malloc(n);
		if (!piece)
			abort();
		memcpy(piece, data + off, n);
		rc = dits_wire_parser_feed(&p, piece, n);
		free(piece);
		if (rc)
			break;
	}
	if (!rc)
		rc = dits_wire_parser_finish(&p);
	/* errors are sticky: feeding more after one must fail the same way */
	if (rc && dits_wire_parser_feed(&p, data, size < 8 ? size : 8) == 0 && size)
		abort();
	if (p.records != s.records)
		abort();
	dits_wire_parser_free(&p);
	return 0;
}
