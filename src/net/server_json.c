/*
 * server_json.c - parsing and type-checking the request bodies of
 * `dits serve` (server_json.h). Pure functions: bytes in, a struct or a
 * message naming the wrong field out.
 */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "error.h"
#include "fsutil.h"
#include "idset.h"
#include "refs.h"
#include "server_json.h"
#include "wire.h"

/* "an array", "a number", ... for "expected X, not Y" messages. */
static const char *jtype(const cJSON *j)
{
	if (cJSON_IsObject(j))
		return "an object";
	if (cJSON_IsArray(j))
		return "an array";
	if (cJSON_IsString(j))
		return "a string";
	if (cJSON_IsNumber(j))
		return "a number";
	if (cJSON_IsBool(j))
		return "a boolean";
	if (cJSON_IsNull(j))
		return "null";
	return "something else";
}

/* The body as a JSON object; DITS_EINVALID for anything else. */
static int parse_object(const void *data, size_t len, cJSON **out)
{
	*out = NULL;
	if (len == 0)
		return dits_error_set(DITS_EINVALID, "the body is empty: expected a JSON object");
	const char *end = NULL;
	cJSON *j = cJSON_ParseWithLengthOpts((const char *)data, len, &end, false);
	if (!j)
		return dits_error_set(DITS_EINVALID, "the body is not valid JSON");
	/* Only white space may follow the value. */
	const char *p = end, *stop = (const char *)data + len;
	while (p && p < stop && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	if (p && p < stop && *p) {
		cJSON_Delete(j);
		return dits_error_set(DITS_EINVALID, "the body has bytes after its JSON value");
	}
	if (!cJSON_IsObject(j)) {
		const char *t = jtype(j);
		cJSON_Delete(j);
		return dits_error_set(DITS_EINVALID, "the body: expected a JSON object, not %s", t);
	}
	*out = j;
	return 0;
}

/* A 64-hex id string at path. */
static int get_id(const cJSON *e, const char *path, dits_id *out)
{
	if (!cJSON_IsString(e) || strlen(e->valuestring) != DITS_ID_HEXLEN || dits_id_from_hex(out, e->valuestring))
		return dits_error_set(DITS_EINVALID, "%s: expected a 64-hex id", path);
	return 0;
}

/* An optional array member: NULL when absent, else it must be an array of at most max elements. */
static int get_array(const cJSON *obj, const char *key, const char *path, size_t max, const cJSON **out)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(obj, key);
	*out = NULL;
	if (!a)
		return 0;
	if (!cJSON_IsArray(a))
		return dits_error_set(DITS_EINVALID, "%s: expected an array, not %s", path, jtype(a));
	if ((size_t)cJSON_GetArraySize(a) > max)
		return dits_error_set(DITS_EINVALID, "%s: more than %zu elements", path, max);
	*out = a;
	return 0;
}

/* ---- create -------------------------------------------------------------- */

/* One member of "chunker": absent keeps the default; a whole number below limit. */
static int chunker_field(const cJSON *c, const char *key, double limit, uint64_t *v)
{
	const cJSON *f = cJSON_GetObjectItemCaseSensitive(c, key);
	if (!f)
		return 0;
	double d = cJSON_IsNumber(f) ? f->valuedouble : -1;
	if (!(d >= 0 && d < limit) || d != (double)(uint64_t)d)
		return dits_error_set(DITS_EINVALID, "chunker.%s: expected a whole number from 0 to %.0f", key,
		                      limit - 1);
	*v = (uint64_t)d;
	return 0;
}

int server_parse_create(const void *data, size_t len, dits_chunker_params *p)
{
	dits_chunker_params_default(p);
	cJSON *j;
	int rc = parse_object(data, len, &j);
	if (rc)
		return rc;
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "chunker");
	if (!c) {
		cJSON_Delete(j);
		return 0;
	}
	uint64_t min = p->min, avg = p->avg, max = p->max, level = p->level, seed = p->seed;
	if (!cJSON_IsObject(c))
		rc = dits_error_set(DITS_EINVALID, "chunker: expected an object, not %s", jtype(c));
	if (!rc && !(rc = chunker_field(c, "min", 0x1p32, &min)) && !(rc = chunker_field(c, "avg", 0x1p32, &avg)) &&
	    !(rc = chunker_field(c, "max", 0x1p32, &max)) && !(rc = chunker_field(c, "level", 4, &level)))
		rc = chunker_field(c, "seed", 0x1p64, &seed);
	cJSON_Delete(j);
	if (rc) {
		dits_chunker_params_default(p);
		return rc;
	}
	p->min = (uint32_t)min;
	p->avg = (uint32_t)avg;
	p->max = (uint32_t)max;
	p->level = (uint32_t)level;
	p->seed = seed;
	dits_chunker probe;
	if ((rc = dits_chunker_init(&probe, p))) {
		dits_chunker_params_default(p);
		return rc == DITS_ENOMEM ? rc : dits_error_wrap(DITS_EINVALID, "chunker");
	}
	return 0;
}

/* ---- walk ---------------------------------------------------------------- */

/* An optional array of at most max hex ids. */
static int json_ids(const cJSON *obj, const char *key, size_t max, dits_id **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	const cJSON *arr;
	int rc = get_array(obj, key, key, max, &arr);
	if (rc || !arr)
		return rc;
	size_t cnt = (size_t)cJSON_GetArraySize(arr);
	dits_id *v = calloc(cnt + 1, sizeof *v);
	if (!v)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	const cJSON *e;
	size_t i = 0;
	cJSON_ArrayForEach(e, arr)
	{
		char path[64];
		snprintf(path, sizeof path, "%s[%zu]", key, i);
		if ((rc = get_id(e, path, &v[i]))) {
			free(v);
			return rc;
		}
		i++;
	}
	*out = v;
	*n = i;
	return 0;
}

int server_parse_walk(const void *data, size_t len, server_walk_req *w)
{
	memset(w, 0, sizeof *w);
	cJSON *j;
	int rc = parse_object(data, len, &j);
	if (rc)
		return rc;
	if (!(rc = json_ids(j, "want", DITS_WIRE_MAX_WALK, &w->want, &w->nwant)))
		rc = json_ids(j, "have", DITS_WIRE_MAX_WALK, &w->have, &w->nhave);
	cJSON_Delete(j);
	if (rc)
		server_walk_req_free(w);
	return rc;
}

void server_walk_req_free(server_walk_req *w)
{
	free(w->want);
	free(w->have);
	memset(w, 0, sizeof *w);
}

/* ---- refs ---------------------------------------------------------------- */

static int parse_update(const cJSON *u, size_t i, server_ref_update *out)
{
	char path[64];
	if (!cJSON_IsObject(u))
		return dits_error_set(DITS_EINVALID, "updates[%zu]: expected an object, not %s", i, jtype(u));
	const cJSON *ref = cJSON_GetObjectItemCaseSensitive(u, "ref");
	const cJSON *force = cJSON_GetObjectItemCaseSensitive(u, "force");
	if (!cJSON_IsString(ref))
		return dits_error_set(DITS_EINVALID, "updates[%zu].ref: expected a string", i);
	const char *name = ref->valuestring;
	bool heads = !strncmp(name, "refs/heads/", 11), tags = !strncmp(name, "refs/tags/", 10);
	if ((!heads && !tags) || !dits_ref_name_valid(name + (heads ? 11 : 10)))
		return dits_error_set(DITS_EINVALID, "updates[%zu].ref: %.200s is not a branch or tag name", i, name);
	int rc;
	snprintf(path, sizeof path, "updates[%zu].old", i);
	if ((rc = get_id(cJSON_GetObjectItemCaseSensitive(u, "old"), path, &out->old)))
		return rc;
	snprintf(path, sizeof path, "updates[%zu].new", i);
	if ((rc = get_id(cJSON_GetObjectItemCaseSensitive(u, "new"), path, &out->new_)))
		return rc;
	if (force && !cJSON_IsBool(force))
		return dits_error_set(DITS_EINVALID, "updates[%zu].force: expected true or false", i);
	out->force = cJSON_IsTrue(force);
	if (!(out->ref = strdup(name)))
		return dits_error_set(DITS_ENOMEM, "out of memory");
	return 0;
}

int server_parse_refs(const void *data, size_t len, server_refs_req *r)
{
	memset(r, 0, sizeof *r);
	cJSON *j;
	int rc = parse_object(data, len, &j);
	if (rc)
		return rc;
	const cJSON *ups;
	if (!(rc = get_array(j, "updates", "updates", DITS_SERVER_MAX_UPDATES, &ups)) &&
	    (!ups || cJSON_GetArraySize(ups) == 0))
		rc = dits_error_set(DITS_EINVALID, "updates: expected an array of 1 to %u updates",
		                    DITS_SERVER_MAX_UPDATES);
	if (!rc && !(r->v = calloc((size_t)cJSON_GetArraySize(ups), sizeof *r->v)))
		rc = dits_error_set(DITS_ENOMEM, "out of memory");
	const cJSON *u;
	if (!rc) {
		cJSON_ArrayForEach(u, ups)
		{
			if ((rc = parse_update(u, r->n, &r->v[r->n])))
				break;
			r->n++;
			for (size_t k = 0; k + 1 < r->n; k++)
				if (!strcmp(r->v[k].ref, r->v[r->n - 1].ref)) {
					rc = dits_error_set(DITS_EINVALID, "updates[%zu].ref: %s is already updates[%zu]",
					                    r->n - 1, r->v[k].ref, k);
					break;
				}
			if (rc)
				break;
		}
	}
	cJSON_Delete(j);
	if (rc)
		server_refs_req_free(r);
	return rc;
}

void server_refs_req_free(server_refs_req *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->v[i].ref);
	free(r->v);
	memset(r, 0, sizeof *r);
}

/* ---- variants ------------------------------------------------------------ */

static int check_variant(const cJSON *v, size_t i)
{
	if (!cJSON_IsObject(v))
		return dits_error_set(DITS_EINVALID, "variants[%zu]: expected an object, not %s", i, jtype(v));
	static const char *const strs[] = { "status", "type" };
	for (size_t k = 0; k < 2; k++)
		if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(v, strs[k])))
			return dits_error_set(DITS_EINVALID, "variants[%zu].%s: expected a string", i, strs[k]);
	static const char *const objs[] = { "recipe", "facts" };
	for (size_t k = 0; k < 2; k++) {
		const cJSON *o = cJSON_GetObjectItemCaseSensitive(v, objs[k]);
		if (o && !cJSON_IsObject(o) && !cJSON_IsNull(o))
			return dits_error_set(DITS_EINVALID, "variants[%zu].%s: expected an object or null, not %s", i,
			                      objs[k], jtype(o));
	}
	const cJSON *w = cJSON_GetObjectItemCaseSensitive(v, "warnings");
	if (w && !cJSON_IsString(w) && !cJSON_IsNull(w))
		return dits_error_set(DITS_EINVALID, "variants[%zu].warnings: expected a string or null", i);
	if (strcmp(cJSON_GetObjectItemCaseSensitive(v, "status")->valuestring, "ready"))
		return 0; /* not registered: the rest may be absent */
	static const char *const ids[] = { "parent", "manifest", "recipe_hash" };
	for (size_t k = 0; k < 3; k++) {
		char path[64];
		dits_id id;
		snprintf(path, sizeof path, "variants[%zu].%s", i, ids[k]);
		int rc = get_id(cJSON_GetObjectItemCaseSensitive(v, ids[k]), path, &id);
		if (rc)
			return rc;
	}
	const cJSON *size = cJSON_GetObjectItemCaseSensitive(v, "size");
	if (!cJSON_IsNumber(size) || !(size->valuedouble >= 0 && size->valuedouble < 0x1p63))
		return dits_error_set(DITS_EINVALID, "variants[%zu].size: expected a byte count", i);
	return 0;
}

int server_parse_variants(const void *data, size_t len, server_variants_req *out)
{
	memset(out, 0, sizeof *out);
	cJSON *j;
	int rc = parse_object(data, len, &j);
	if (rc)
		return rc;
	const cJSON *vs;
	if (!(rc = get_array(j, "variants", "variants", DITS_SERVER_MAX_ITEMS, &vs)) && !vs)
		rc = dits_error_set(DITS_EINVALID, "variants: expected an array");
	size_t cnt = rc ? 0 : (size_t)cJSON_GetArraySize(vs);
	if (!rc && !(out->items = calloc(cnt + 1, sizeof *out->items)))
		rc = dits_error_set(DITS_ENOMEM, "out of memory");
	const cJSON *v;
	if (!rc) {
		cJSON_ArrayForEach(v, vs)
		{
			if ((rc = check_variant(v, out->n)))
				break;
			out->items[out->n++] = v;
		}
	}
	out->root = j;
	if (rc)
		server_variants_req_free(out);
	return rc;
}

void server_variants_req_free(server_variants_req *v)
{
	cJSON_Delete(v->root);
	free(v->items);
	memset(v, 0, sizeof *v);
}

/* ---- S3 events ------------------------------------------------------------- */

/* S3 URL-encodes keys in event notifications ('+' for a space); %00 stays as it is. */
static void url_decode(char *s)
{
	char *o = s;
	for (char *p = s; *p; p++) {
		unsigned v;
		if (*p == '+') {
			*o++ = ' ';
		} else if (*p == '%' && p[1] && p[2] && sscanf(p + 1, "%2x", &v) == 1 && v) {
			*o++ = (char)v;
			p += 2;
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
}

/* Records[i]: the key of an ObjectCreated:* event, NULL for another record. */
static int s3_record(const cJSON *rec, size_t i, char **key_out)
{
	*key_out = NULL;
	if (!cJSON_IsObject(rec))
		return dits_error_set(DITS_EINVALID, "Records[%zu]: expected an object, not %s", i, jtype(rec));
	const cJSON *ev = cJSON_GetObjectItemCaseSensitive(rec, "eventName");
	const cJSON *s3 = cJSON_GetObjectItemCaseSensitive(rec, "s3");
	if (ev && !cJSON_IsString(ev))
		return dits_error_set(DITS_EINVALID, "Records[%zu].eventName: expected a string", i);
	if (s3 && !cJSON_IsObject(s3))
		return dits_error_set(DITS_EINVALID, "Records[%zu].s3: expected an object, not %s", i, jtype(s3));
	const cJSON *obj = cJSON_GetObjectItemCaseSensitive(s3, "object");
	if (obj && !cJSON_IsObject(obj))
		return dits_error_set(DITS_EINVALID, "Records[%zu].s3.object: expected an object, not %s", i,
		                      jtype(obj));
	const cJSON *key = cJSON_GetObjectItemCaseSensitive(obj, "key");
	if (key && !cJSON_IsString(key))
		return dits_error_set(DITS_EINVALID, "Records[%zu].s3.object.key: expected a string", i);
	if (!ev || strncmp(ev->valuestring, "ObjectCreated:", 14) || !key)
		return 0;
	if (!(*key_out = strdup(key->valuestring)))
		return dits_error_set(DITS_ENOMEM, "out of memory");
	url_decode(*key_out);
	return 0;
}

int server_parse_s3(const void *data, size_t len, server_s3_req *out)
{
	memset(out, 0, sizeof *out);
	cJSON *j;
	int rc = parse_object(data, len, &j);
	if (rc)
		return rc;
	const cJSON *recs;
	if (!(rc = get_array(j, "Records", "Records", DITS_SERVER_MAX_ITEMS, &recs)) && !recs)
		rc = dits_error_set(DITS_EINVALID, "not an S3 event notification (no \"Records\" array)");
	size_t cnt = rc ? 0 : (size_t)cJSON_GetArraySize(recs);
	if (!rc && !(out->keys = calloc(cnt + 1, sizeof *out->keys)))
		rc = dits_error_set(DITS_ENOMEM, "out of memory");
	const cJSON *rec;
	if (!rc) {
		cJSON_ArrayForEach(rec, recs)
		{
			if ((rc = s3_record(rec, out->n, &out->keys[out->n])))
				break;
			out->n++;
		}
	}
	cJSON_Delete(j);
	if (rc)
		server_s3_req_free(out);
	return rc;
}

void server_s3_req_free(server_s3_req *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->keys[i]);
	free(s->keys);
	memset(s, 0, sizeof *s);
}

/* ---- id lists ----------------------------------------------------------------- */

int server_parse_ids(const void *data, size_t len, bool dedup, dits_id **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	if (len == 0 || len % DITS_ID_LEN || len / DITS_ID_LEN > DITS_WIRE_MAX_IDS)
		return dits_error_set(DITS_EINVALID, "the body is not a list of 1 to %u ids (32 bytes each), but %zu bytes",
		                      DITS_WIRE_MAX_IDS, len);
	size_t cnt = len / DITS_ID_LEN;
	dits_id *v = malloc(cnt * sizeof *v);
	if (!v)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	memcpy(v, data, len);
	if (dedup) {
		dits_idset seen = { 0 };
		size_t k = 0;
		int rc = 0;
		for (size_t i = 0; i < cnt && rc >= 0; i++)
			if ((rc = dits_idset_add(&seen, &v[i])) == 1)
				v[k++] = v[i];
		dits_idset_free(&seen);
		if (rc < 0) {
			free(v);
			return rc;
		}
		cnt = k;
	}
	*out = v;
	*n = cnt;
	return 0;
}

/* ---- render -------------------------------------------------------------- */

void server_render_req_free(server_render_req *r)
{
	free(r->timeline_name);
	free(r->timeline);
	free(r->branch);
	free(r->rev);
	free(r->target);
	free(r->codec);
	free(r->rate);
	memset(r, 0, sizeof *r);
}

/* An optional string member of at most max bytes, without control bytes unless text; NULL when absent. */
static int get_string(const cJSON *obj, const char *key, size_t max, bool text, bool required, char **out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	*out = NULL;
	if (!v || cJSON_IsNull(v)) {
		if (required)
			return dits_error_set(DITS_EINVALID, "%s: missing", key);
		return 0;
	}
	if (!cJSON_IsString(v))
		return dits_error_set(DITS_EINVALID, "%s: expected a string, not %s", key, jtype(v));
	size_t n = strlen(v->valuestring);
	if (n > max)
		return dits_error_set(DITS_EINVALID, "%s: longer than %zu bytes", key, max);
	if (required && n == 0)
		return dits_error_set(DITS_EINVALID, "%s: empty", key);
	for (size_t i = 0; !text && i < n; i++)
		if ((unsigned char)v->valuestring[i] < 0x20)
			return dits_error_set(DITS_EINVALID, "%s: holds a control character", key);
	if (!(*out = strdup(v->valuestring)))
		return dits_error_set(DITS_ENOMEM, "out of memory");
	return 0;
}

int server_parse_render(const void *data, size_t len, server_render_req *out)
{
	memset(out, 0, sizeof *out);
	if (len > DITS_SERVER_MAX_RENDER)
		return dits_error_set(DITS_EINVALID, "the body is larger than %u bytes", DITS_SERVER_MAX_RENDER);
	cJSON *j;
	int rc = parse_object(data, len, &j);
	if (rc)
		return rc;
	server_render_req r = { 0 };
	char *branch = NULL;
	if (!(rc = get_string(j, "timeline_name", 255, false, true, &r.timeline_name)) &&
	    !(rc = get_string(j, "timeline", DITS_SERVER_MAX_RENDER, true, true, &r.timeline)) &&
	    !(rc = get_string(j, "branch", 200, false, false, &branch)) &&
	    !(rc = get_string(j, "rev", 200, false, false, &r.rev)) &&
	    !(rc = get_string(j, "target", 32, false, false, &r.target)) &&
	    !(rc = get_string(j, "codec", 32, false, false, &r.codec)))
		rc = get_string(j, "rate", 32, false, false, &r.rate);
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "verify");
	if (!rc && v && !cJSON_IsNull(v)) {
		if (!cJSON_IsBool(v))
			rc = dits_error_set(DITS_EINVALID, "verify: expected a boolean, not %s", jtype(v));
		r.verify = cJSON_IsTrue(v);
	}
	cJSON_Delete(j);
	if (!rc) {
		/* the file's name only: a client's directories mean nothing here */
		char *base = strrchr(r.timeline_name, '/');
		if (base && !base[1])
			rc = dits_error_set(DITS_EINVALID, "timeline_name: ends with '/'");
		else if (base)
			memmove(r.timeline_name, base + 1, strlen(base + 1) + 1);
		if (!rc && (!strcmp(r.timeline_name, ".") || !strcmp(r.timeline_name, "..") || strchr(r.timeline_name, '\\')))
			rc = dits_error_set(DITS_EINVALID, "timeline_name: not a file name");
	}
	if (!rc && branch) {
		r.branch = strncmp(branch, "refs/heads/", 11) ? dits_strfmt("refs/heads/%s", branch) : strdup(branch);
		if (!r.branch)
			rc = dits_error_set(DITS_ENOMEM, "out of memory");
		else if (!dits_ref_name_valid(r.branch))
			rc = dits_error_set(DITS_EINVALID, "branch: not a branch name");
	}
	free(branch);
	if (rc) {
		server_render_req_free(&r);
		return rc;
	}
	*out = r;
	return 0;
}

/* ---- the web page's small parsers ------------------------------------------ */

int server_parse_range(const char *h, uint64_t size, uint64_t *from, uint64_t *to)
{
	if (strncmp(h, "bytes=", 6) || strchr(h, ','))
		return 0;
	h += 6;
	char *end;
	if (*h == '-') {
		if (!isdigit((unsigned char)h[1]))
			return 0;
		errno = 0;
		unsigned long long n = strtoull(h + 1, &end, 10);
		if (*end || errno)
			return 0;
		if (n == 0 || size == 0)
			return -1;
		*from = n >= size ? 0 : size - n;
		*to = size - 1;
		return 1;
	}
	if (!isdigit((unsigned char)*h))
		return 0;
	errno = 0;
	unsigned long long a = strtoull(h, &end, 10), b = size ? size - 1 : 0;
	if (*end != '-' || errno)
		return 0;
	if (end[1]) {
		char *e2;
		if (!isdigit((unsigned char)end[1]))
			return 0;
		b = strtoull(end + 1, &e2, 10);
		if (*e2 || errno || b < a)
			return 0;
	}
	if (a >= size)
		return -1;
	*from = a;
	*to = b >= size ? size - 1 : b;
	return 1;
}

static int hex_digit(int c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

char *server_form_value(const void *data, size_t len, const char *key)
{
	size_t kl = strlen(key);
	const char *p = data, *end = p + len;
	while (p && p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *stop = amp ? amp : end;
		if ((size_t)(stop - p) > kl && !memcmp(p, key, kl) && p[kl] == '=') {
			const char *v = p + kl + 1;
			char *out = malloc((size_t)(stop - v) + 1), *o = out;
			if (!out)
				return NULL;
			while (v < stop) {
				int hi, lo;
				if (*v == '+') {
					*o++ = ' ';
					v++;
				} else if (*v == '%' && stop - v >= 3 && (hi = hex_digit(v[1])) >= 0 && (lo = hex_digit(v[2])) >= 0) {
					*o++ = (char)(hi * 16 + lo);
					v += 3;
				} else {
					*o++ = *v++;
				}
			}
			*o = '\0';
			if (memchr(out, '\0', (size_t)(o - out))) { /* a %00 inside */
				free(out);
				return NULL;
			}
			return out;
		}
		p = amp ? amp + 1 : NULL;
	}
	return NULL;
}
