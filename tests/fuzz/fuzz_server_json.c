/*
 * fuzz_server_json - a libFuzzer target for the request-body parsers of
 * `dits serve` (src/net/server_json.h), the web page's Range header and
 * login form included: every parser gets the same bytes;
 * none may crash, leak or read out of bounds, whatever they are.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "server_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	dits_chunker_params p;
	(void)server_parse_create(data, size, &p);

	server_walk_req w;
	if (server_parse_walk(data, size, &w) == 0)
		server_walk_req_free(&w);

	server_refs_req r;
	if (server_parse_refs(data, size, &r) == 0)
		server_refs_req_free(&r);

	server_variants_req v;
	if (server_parse_variants(data, size, &v) == 0)
		server_variants_req_free(&v);

	server_s3_req s;
	if (server_parse_s3(data, size, &s) == 0)
		server_s3_req_free(&s);

	server_render_req rr;
	if (server_parse_render(data, size, &rr) == 0)
		server_render_req_free(&rr);

	dits_id *ids;
	size_t n;
	if (server_parse_ids(data, size, false, &ids, &n) == 0)
		free(ids);
	if (server_parse_ids(data, size, true, &ids, &n) == 0)
		free(ids);

	/* the web page's Range header and login form */
	char *h = malloc(size + 1);
	if (h) {
		memcpy(h, data, size);
		h[size] = '\0';
		uint64_t from, to;
		if (server_parse_range(h, size * 7919u, &from, &to) == 1 && (from > to || to >= size * 7919u))
			abort();
		free(h);
	}
	free(server_form_value(data, size, "token"));
	free(server_form_value(data, size, "next"));
	dits_error_clear();
	return 0;
}
