/*
 * server_json.h - the request bodies of `dits serve` (docs/PROTOCOL.md),
 * parsed and type-checked into plain C structs.
 *
 * Each parser takes the body's bytes and nothing else (no HTTP server, no
 * repository), so it can be tested and fuzzed on its own. It returns 0
 * and fills its struct, DITS_EINVALID with a one-line message naming the
 * field that is wrong (e.g. `updates[1].old: expected a 64-hex id`), which
 * the server answers as 400, or DITS_ENOMEM. On error the struct is left
 * empty; the matching _free is safe on an empty or zeroed struct.
 *
 * Every field is checked for its type, nested objects, arrays and their
 * elements too; members the protocol does not name are ignored.
 */
#ifndef DITS_SERVER_JSON_H
#define DITS_SERVER_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chunker.h"
#include "hash.h"

/* Most updates in one POST /NAME/refs. */
#define DITS_SERVER_MAX_UPDATES 1000u
/* Most records in one POST /_events/s3, variants in one POST /NAME/variants. */
#define DITS_SERVER_MAX_ITEMS 10000u

/* POST /NAME/create: {"chunker": {"min", "avg", "max", "level", "seed"}}, all optional. */
int server_parse_create(const void *data, size_t len, dits_chunker_params *out);

/* POST /NAME/walk: {"want": [hex...], "have": [hex...]}, each optional, at most 10 000 ids. */
typedef struct server_walk_req {
	dits_id *want, *have;
	size_t nwant, nhave;
} server_walk_req;
int server_parse_walk(const void *data, size_t len, server_walk_req *out);
void server_walk_req_free(server_walk_req *w);

/*
 * POST /NAME/refs: {"updates": [{"ref", "old", "new", "force"?}, ...]}:
 * 1 to DITS_SERVER_MAX_UPDATES updates, each ref a branch (refs/heads/X)
 * or tag (refs/tags/X) named once in the request.
 */
typedef struct server_ref_update {
	char *ref;
	dits_id old, new_;
	bool force;
} server_ref_update;
typedef struct server_refs_req {
	server_ref_update *v;
	size_t n;
} server_refs_req;
int server_parse_refs(const void *data, size_t len, server_refs_req *out);
void server_refs_req_free(server_refs_req *r);

/*
 * POST /NAME/variants: {"variants": [VARIANT...]} as GET /NAME/variants
 * lists them. Each element is an object with "status" and "type"
 * strings; a "ready" one also needs "parent", "manifest" and
 * "recipe_hash" hex ids and a "size" byte count; "recipe" and "facts"
 * are objects (or null), "warnings" a string (or null). The checked
 * elements stay cJSON nodes of root, for dits_wire_variant_import.
 */
typedef struct server_variants_req {
	struct cJSON *root;
	const struct cJSON **items;
	size_t n;
} server_variants_req;
int server_parse_variants(const void *data, size_t len, server_variants_req *out);
void server_variants_req_free(server_variants_req *v);

/*
 * POST /_events/s3: {"Records": [{"eventName": S, "s3": {"object": {"key": S}}}...]}.
 * keys[i] is the key of an ObjectCreated:* record, URL-decoded, or NULL
 * for a record that names no such event (it is counted as ignored).
 */
typedef struct server_s3_req {
	char **keys;
	size_t n;
} server_s3_req;
int server_parse_s3(const void *data, size_t len, server_s3_req *out);
void server_s3_req_free(server_s3_req *s);

/* Most bytes of a POST /NAME/render body (the timeline's text is in it). */
#define DITS_SERVER_MAX_RENDER (4u << 20)

/*
 * POST /NAME/render: {"timeline_name": S, "timeline": S, "branch"?: S,
 * "rev"?: S, "target"?: S, "codec"?: S, "rate"?: S, "verify"?: B}. The
 * timeline's text is not parsed here (the job does it); timeline_name is
 * reduced to its last path component and must leave a name a tree takes.
 * branch is a branch name ("main" or "refs/heads/main", stored in the
 * second form) or NULL; absent strings are NULL.
 */
typedef struct server_render_req {
	char *timeline_name, *timeline, *branch, *rev, *target, *codec, *rate;
	bool verify;
} server_render_req;
int server_parse_render(const void *data, size_t len, server_render_req *out);
void server_render_req_free(server_render_req *r);

/*
 * POST /NAME/objects/have and /objects/get: N x 32 bytes, 1 <= N <= 65 536.
 * *out is an aligned copy; with dedup, an id named again is dropped (the
 * first occurrence keeps its place).
 */
int server_parse_ids(const void *data, size_t len, bool dedup, dits_id **out, size_t *n);

/*
 * The Range header of a download, for a file of size bytes: one range,
 * "bytes=A-B", "bytes=A-" or "bytes=-N". Returns 1 with [*from, *to]
 * (inclusive, clipped to the file), 0 when the header asks for anything
 * else (several ranges, another unit, malformed: the whole file is sent),
 * -1 when the range lies past the end (416).
 */
int server_parse_range(const char *h, uint64_t size, uint64_t *from, uint64_t *to);

/*
 * The value of key in an application/x-www-form-urlencoded body (the web
 * page's login form), '+' and %XX decoded, malloc'd; NULL when absent, when
 * it would hold a NUL byte, or out of memory.
 */
char *server_form_value(const void *data, size_t len, const char *key);

#endif
