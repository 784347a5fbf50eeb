/*
 * wire.c - the record stream parser and small shared rules (wire.h).
 */
#include <ctype.h>
#include <stdlib.h>
#include <strings.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "error.h"
#include "object.h"
#include "wire.h"

bool dits_wire_repo_name_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	if (n < 1 || n > 100 || name[0] == '.' || name[0] == '_' || name[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		if (!isalnum(c) && c != '.' && c != '_' && c != '-')
			return false;
	}
	return true;
}

void dits_wire_record_header(uint8_t out[DITS_PACK_RECORD_HEADER_LEN], uint8_t type,
                             uint32_t len, const dits_id *id)
{
	out[0] = type;
	out[1] = out[2] = out[3] = 0;
	dits_put_le32(out + 4, len);
	memcpy(out + 8, id->b, DITS_ID_LEN);
}

void dits_wire_parser_init(dits_wire_parser *p, bool verify, dits_wire_record_fn fn, void *ctx)
{
	memset(p, 0, sizeof *p);
	p->fn = fn;
	p->ctx = ctx;
	p->verify = verify;
	p->max_len = DITS_OBJECT_MAX;
}

void dits_wire_parser_free(dits_wire_parser *p)
{
	free(p->buf);
	p->buf = NULL;
	p->buf_cap = 0;
}

static int check_header(dits_wire_parser *p, const uint8_t *h, uint8_t *type, uint32_t *len, dits_id *id)
{
	*type = h[0];
	*len = dits_get_le32(h + 4);
	memcpy(id->b, h + 8, DITS_ID_LEN);
	if (*type < DITS_OBJ_CHUNK || *type > DITS_OBJ_COMMIT || h[1] || h[2] || h[3])
		return dits_error_set(DITS_EINVALID, "record %llu: not a record header (type %u)",
		                      (unsigned long long)p->records + 1, *type);
	if (*len > p->max_len)
		return dits_error_set(DITS_EINVALID, "record %llu: payload of %u bytes is over the limit of %u",
		                      (unsigned long long)p->records + 1, *len, p->max_len);
	return 0;
}

static int deliver(dits_wire_parser *p, uint8_t type, const dits_id *id, const uint8_t *data, uint32_t len)
{
	if (p->verify) {
		dits_id got;
		dits_hash_buf(&got, data, len);
		if (!dits_id_eq(&got, id)) {
			char hex[DITS_ID_HEXLEN + 1];
			dits_id_hex(hex, id);
			return dits_error_set(DITS_ECORRUPT, "%s %s: payload does not hash to its id",
			                      dits_otype_name(type), hex);
		}
	}
	p->records++;
	return p->fn ? p->fn(p->ctx, type, id, data, len) : 0;
}

int dits_wire_parser_feed(dits_wire_parser *p, const void *data, size_t len)
{
	const uint8_t *d = data;
	if (p->failed)
		return p->failed;
	p->bytes += len;
	int rc = 0;
	while (len && !rc) {
		if (!p->in_payload) {
			if (p->hdr_have == 0 && len >= DITS_PACK_RECORD_HEADER_LEN) {
				/* Fast path: the whole record may be in this buffer. */
				uint8_t type;
				uint32_t plen;
				dits_id id;
				if ((rc = check_header(p, d, &type, &plen, &id)))
					break;
				if (len - DITS_PACK_RECORD_HEADER_LEN >= plen) {
					rc = deliver(p, type, &id, d + DITS_PACK_RECORD_HEADER_LEN, plen);
					d += DITS_PACK_RECORD_HEADER_LEN + plen;
					len -= DITS_PACK_RECORD_HEADER_LEN + plen;
					continue;
				}
			}
			size_t take = DITS_PACK_RECORD_HEADER_LEN - p->hdr_have;
			if (take > len)
				take = len;
			memcpy(p->hdr + p->hdr_have, d, take);
			p->hdr_have += take;
			d += take;
			len -= take;
			if (p->hdr_have < DITS_PACK_RECORD_HEADER_LEN)
				break;
			uint8_t type;
			uint32_t plen;
			dits_id id;
			if ((rc = check_header(p, p->hdr, &type, &plen, &id)))
				break;
			if (plen > p->buf_cap) {
				size_t cap = p->buf_cap ? p->buf_cap : 65536;
				while (cap < plen)
					cap *= 2;
				uint8_t *nb = realloc(p->buf, cap);
				if (!nb) {
					rc = dits_error_set(DITS_ENOMEM, "out of memory");
					break;
				}
				p->buf = nb;
				p->buf_cap = cap;
			}
			p->need = plen;
			p->have = 0;
			p->in_payload = true;
			if (plen == 0) {
				p->in_payload = false;
				p->hdr_have = 0;
				rc = deliver(p, type, &id, p->buf, 0);
			}
			continue;
		}
		size_t take = p->need - p->have;
		if (take > len)
			take = len;
		memcpy(p->buf + p->have, d, take);
		p->have += (uint32_t)take;
		d += take;
		len -= take;
		if (p->have == p->need) {
			dits_id id;
			memcpy(id.b, p->hdr + 8, DITS_ID_LEN);
			p->in_payload = false;
			p->hdr_have = 0;
			rc = deliver(p, p->hdr[0], &id, p->buf, p->need);
		}
	}
	if (rc)
		p->failed = rc;
	return rc;
}

int dits_wire_parser_finish(dits_wire_parser *p)
{
	if (p->failed)
		return p->failed;
	if (p->in_payload || p->hdr_have)
		return p->failed = dits_error_set(DITS_EINVALID, "truncated: the stream ends inside record %llu",
		                                  (unsigned long long)p->records + 1);
	return 0;
}

int dits_wire_parse_rate(const char *s, uint64_t *out)
{
	if (!s || !*s)
		return dits_error_set(DITS_EINVALID, "empty rate");
	char *end;
	double v = strtod(s, &end);
	if (end == s || v <= 0)
		return dits_error_set(DITS_EINVALID, "%s: not a rate (e.g. 50Mbit, 6M, 500K)", s);
	double mult = 1;
	const char *u = end;
	if (!strcasecmp(u, "") || !strcasecmp(u, "b"))
		mult = 1;
	else if (!strcasecmp(u, "k") || !strcasecmp(u, "kb") || !strcasecmp(u, "kib"))
		mult = 1024.0;
	else if (!strcasecmp(u, "m") || !strcasecmp(u, "mb") || !strcasecmp(u, "mib"))
		mult = 1024.0 * 1024;
	else if (!strcasecmp(u, "g") || !strcasecmp(u, "gb") || !strcasecmp(u, "gib"))
		mult = 1024.0 * 1024 * 1024;
	else if (!strcasecmp(u, "kbit") || !strcasecmp(u, "kbps"))
		mult = 1e3 / 8;
	else if (!strcasecmp(u, "mbit") || !strcasecmp(u, "mbps"))
		mult = 1e6 / 8;
	else if (!strcasecmp(u, "gbit") || !strcasecmp(u, "gbps"))
		mult = 1e9 / 8;
	else
		return dits_error_set(DITS_EINVALID, "%s: unknown unit '%s' (use K, M, G bytes or kbit, Mbit, Gbit)", s, u);
	double r = v * mult;
	if (r < 1 || r > 1e15)
		return dits_error_set(DITS_EINVALID, "%s: rate out of range", s);
	*out = (uint64_t)r;
	return 0;
}

/* ---- variants on the wire ------------------------------------------ */


static int put_id_member(dits_buf *b, const char *key, const dits_id *id)
{
	char hex[DITS_ID_HEXLEN + 1];
	dits_id_hex(hex, id);
	return dits_buf_printf(b, ",\"%s\":\"%s\"", key, hex);
}

static int put_str_member(dits_buf *b, const char *key, const char *s)
{
	int rc = dits_buf_printf(b, ",\"%s\":", key);
	if (!rc)
		rc = s ? dits_buf_put_json_str(b, s) : dits_buf_puts(b, "null");
	return rc;
}

/* A JSON text column as a JSON value (null when unset or not JSON). */
static int put_json_member(dits_buf *b, const char *key, const char *json)
{
	cJSON *v = json ? cJSON_Parse(json) : NULL;
	int rc = dits_buf_printf(b, ",\"%s\":", key);
	if (!rc) {
		char *txt = v ? cJSON_PrintUnformatted(v) : NULL;
		rc = dits_buf_puts(b, txt ? txt : "null");
		free(txt);
	}
	cJSON_Delete(v);
	return rc;
}

int dits_wire_variant_json(dits_buf *b, const dits_variant *v)
{
	int rc = dits_buf_puts(b, "{\"id\":");
	if (!rc) rc = dits_buf_put_json_str(b, v->id);
	if (!rc) rc = put_id_member(b, "parent", &v->parent);
	if (!rc) rc = put_str_member(b, "type", v->type);
	if (!rc) rc = put_str_member(b, "status", v->status);
	if (!rc && v->has_manifest) rc = put_id_member(b, "manifest", &v->manifest);
	if (!rc && !v->has_manifest) rc = dits_buf_puts(b, ",\"manifest\":null");
	if (!rc) rc = dits_buf_printf(b, ",\"size\":%llu", (unsigned long long)v->size);
	if (!rc) rc = put_json_member(b, "recipe", v->recipe);
	if (!rc) rc = put_id_member(b, "recipe_hash", &v->recipe_hash);
	if (!rc) rc = put_json_member(b, "facts", v->facts);
	if (!rc) rc = put_str_member(b, "error", v->error);
	if (!rc) rc = put_str_member(b, "warnings", v->warnings);
	if (!rc) rc = dits_buf_printf(b, ",\"created_at\":%lld,\"updated_at\":%lld}", (long long)v->created_at,
	                              (long long)v->updated_at);
	return rc;
}

static int member_id(const cJSON *obj, const char *key, dits_id *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (!cJSON_IsString(v) || dits_id_from_hex(out, v->valuestring))
		return dits_error_set(DITS_EINVALID, "variant: \"%s\" is not a 64-digit hex id", key);
	return 0;
}

int dits_wire_variant_import(dits_odb *odb, dits_metadb *db, const cJSON *obj, bool *imported)
{
	if (imported)
		*imported = false;
	if (!cJSON_IsObject(obj))
		return dits_error_set(DITS_EINVALID, "variant: not a JSON object");
	const cJSON *status = cJSON_GetObjectItemCaseSensitive(obj, "status");
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(obj, "type");
	const cJSON *size = cJSON_GetObjectItemCaseSensitive(obj, "size");
	if (!cJSON_IsString(status) || !cJSON_IsString(type) || !dits_variant_type_valid(type->valuestring))
		return dits_error_set(DITS_EINVALID, "variant: missing or unknown \"status\" or \"type\"");
	if (strcmp(status->valuestring, "ready"))
		return 0;
	dits_id parent, manifest, rh;
	int rc;
	if ((rc = member_id(obj, "parent", &parent)) || (rc = member_id(obj, "manifest", &manifest)) ||
	    (rc = member_id(obj, "recipe_hash", &rh)))
		return rc;
	if (!cJSON_IsNumber(size) || !(size->valuedouble >= 0 && size->valuedouble < 18446744073709551616.0))
		return dits_error_set(DITS_EINVALID, "variant: \"size\" is not a byte count");
	const cJSON *recipe = cJSON_GetObjectItemCaseSensitive(obj, "recipe");
	const cJSON *facts = cJSON_GetObjectItemCaseSensitive(obj, "facts");
	const cJSON *warnings = cJSON_GetObjectItemCaseSensitive(obj, "warnings");
	char *recipe_txt = recipe && !cJSON_IsNull(recipe) ? cJSON_PrintUnformatted(recipe) : NULL;
	char *facts_txt = facts && !cJSON_IsNull(facts) ? cJSON_PrintUnformatted(facts) : NULL;
	char *chunks = NULL;
	/* One read of the manifest: its size to check, its chunk list to record. */
	dits_manifest m;
	uint64_t msize = 0;
	if ((rc = dits_manifest_read(odb, &manifest, &m)) == 0) {
		msize = m.size;
		if (msize != (uint64_t)size->valuedouble)
			rc = dits_error_set(DITS_EINVALID, "variant: size %.0f does not match its manifest's %llu",
			                    size->valuedouble, (unsigned long long)msize);
		else
			rc = dits_manifest_chunks_json(&m, &chunks);
		dits_manifest_free(&m);
	}
	dits_variant v = { 0 };
	if (!rc)
		rc = dits_variant_begin(db, &parent, type->valuestring, recipe_txt, &rh, &v);
	if (!rc && strcmp(v.status, "ready")) {
		rc = dits_variant_register(db, v.id, &manifest, chunks, facts_txt ? facts_txt : "{}",
		                           cJSON_IsString(warnings) ? warnings->valuestring : NULL, msize);
		if (rc == DITS_ECONFLICT) { /* registered meanwhile by someone else: it stands */
			dits_error_clear();
			rc = 0;
		} else if (!rc && imported) {
			*imported = true;
		}
	}
	dits_variant_free(&v);
	free(chunks);
	free(recipe_txt);
	free(facts_txt);
	return rc;
}
