/*
 * client: remotes, connections and control requests (GET refs, create).
 * The object transfers built on them are in transfer.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "client_internal.h"
#include "error.h"
#include "fsutil.h"
#include "refs.h"
#include "wire.h"

/* curl_global_init is not thread-safe and wants one cleanup per init. */
static int curl_users;

static int curl_acquire(void)
{
	if (curl_users++ == 0 && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		curl_users--;
		return dits_error_set(DITS_ERROR, "cannot initialize libcurl");
	}
	return 0;
}

static void curl_release(void)
{
	if (curl_users > 0 && --curl_users == 0)
		curl_global_cleanup();
}

bool dits_remote_url_valid(const char *url, const char **why)
{
	const char *dummy;
	if (!why)
		why = &dummy;
	const char *p;
	if (!strncmp(url, "http://", 7))
		p = url + 7;
	else if (!strncmp(url, "https://", 8))
		p = url + 8;
	else
		return *why = "not an http:// or https:// URL", false;
	const char *slash = strchr(p, '/');
	if (!slash || slash == p)
		return *why = "no host", false;
	for (const char *c = p; c < slash; c++)
		if (*c == '@' || *c == '?' || *c == '#' || *c == ' ')
			return *why = "the host part holds characters Dits does not accept", false;
	/* An IPv6 literal [::1] has colons of its own: the port follows the ']'. */
	const char *host_end = p;
	if (p[0] == '[') {
		const char *close = memchr(p, ']', (size_t)(slash - p));
		if (!close)
			return *why = "an unterminated [IPv6] host", false;
		host_end = close;
	}
	const char *colon = memchr(host_end, ':', (size_t)(slash - host_end));
	if (colon) {
		if (colon + 1 == slash)
			return *why = "empty port", false;
		long port = 0;
		for (const char *c = colon + 1; c < slash; c++) {
			if (*c < '0' || *c > '9')
				return *why = "the port is not a number", false;
			port = port * 10 + (*c - '0');
			if (port > 65535)
				return *why = "the port is out of range", false;
		}
		if (port == 0)
			return *why = "the port is out of range", false;
	}
	if (!dits_wire_repo_name_valid(slash + 1))
		return *why = "the path is not one repository name (A-Z a-z 0-9 . _ -)", false;
	return true;
}

static char *dup_or_null(const char *s)
{
	return s && *s ? strdup(s) : NULL;
}

static int remote_new(dits_remote **out, const char *name, const char *url, const char *token,
                      const char *cainfo)
{
	*out = NULL;
	const char *why;
	if (!dits_remote_url_valid(url, &why))
		return dits_error_set(DITS_EINVALID, "%s: not a Dits remote URL: %s", url, why);
	int rc = curl_acquire();
	if (rc)
		return rc;
	dits_remote *rm = calloc(1, sizeof *rm);
	if (rm) {
		rm->name = strdup(name);
		rm->url = strdup(url);
		rm->token = dup_or_null(token);
		rm->cainfo = dup_or_null(cainfo);
		rm->easy = curl_easy_init();
	}
	if (!rm || !rm->name || !rm->url || !rm->easy || (token && *token && !rm->token) ||
	    (cainfo && *cainfo && !rm->cainfo)) {
		dits_remote_free(rm);
		if (!rm)
			curl_release();
		return dits_error_set(DITS_ENOMEM, "out of memory");
	}
	*out = rm;
	return 0;
}

int dits_remote_open_url(dits_remote **out, const char *name, const char *url)
{
	return remote_new(out, name, url, getenv("DITS_TOKEN"), getenv("DITS_CAINFO"));
}

int dits_remote_open(dits_remote **out, dits_repo *r, const char *name)
{
	*out = NULL;
	char key[300];
	snprintf(key, sizeof key, "remote.%s.url", name);
	const char *url = dits_config_get(dits_repo_config(r), key);
	if (!url)
		return dits_error_set(DITS_ENOTFOUND, "%s: no remote of that name (see 'dits remote -v')", name);
	snprintf(key, sizeof key, "remote.%s.token", name);
	const char *token = getenv("DITS_TOKEN");
	if (!token || !*token)
		token = dits_config_get(dits_repo_config(r), key);
	snprintf(key, sizeof key, "remote.%s.cainfo", name);
	const char *cainfo = dits_config_get(dits_repo_config(r), key);
	if (!cainfo || !*cainfo)
		cainfo = getenv("DITS_CAINFO");
	return remote_new(out, name, url, token, cainfo);
}

void dits_remote_free(dits_remote *rm)
{
	if (!rm)
		return;
	if (rm->easy)
		curl_easy_cleanup(rm->easy);
	free(rm->name);
	free(rm->url);
	free(rm->token);
	free(rm->cainfo);
	free(rm);
	curl_release();
}

const char *dits_remote_name(const dits_remote *rm) { return rm->name; }
const char *dits_remote_url(const dits_remote *rm) { return rm->url; }
const dits_xfer_stats *dits_remote_stats(const dits_remote *rm) { return &rm->st; }

int dits_client_jobs(dits_repo *r, const dits_xfer_opts *o)
{
	if (o && o->jobs > 0)
		return o->jobs > 64 ? 64 : o->jobs;
	uint64_t v = DITS_DEFAULT_CONNECTIONS;
	if (r && dits_config_get_u64(dits_repo_config(r), "transfer.connections", DITS_DEFAULT_CONNECTIONS, &v))
		dits_error_clear();
	return v < 1 ? 1 : v > 64 ? 64 : (int)v;
}

/* ---- requests ------------------------------------------------------- */

int dits_client_setup(dits_remote *rm, CURL *e, const char *path, const char *content_type,
                      struct curl_slist **hdrs, char *errbuf)
{
	*hdrs = NULL;
	char *url = dits_strfmt("%s/%s", rm->url, path);
	if (!url)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	curl_easy_reset(e);
	curl_easy_setopt(e, CURLOPT_URL, url);
	free(url); /* libcurl keeps its own copy */
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 15L);
	/* A stalled server is given up on; a slow (rate-limited) one is not. */
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, 120L);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "dits/0.1.0");
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	if (rm->cainfo)
		curl_easy_setopt(e, CURLOPT_CAINFO, rm->cainfo);
	errbuf[0] = '\0';
	struct curl_slist *h = NULL, *t;
	/* No "Expect: 100-continue" round trip before each upload. */
	h = curl_slist_append(h, "Expect:");
	if (h && content_type) {
		char line[128];
		snprintf(line, sizeof line, "Content-Type: %s", content_type);
		t = curl_slist_append(h, line);
		h = t ? t : (curl_slist_free_all(h), NULL);
	}
	if (h && rm->token) {
		char *line = dits_strfmt("Authorization: Bearer %s", rm->token);
		t = line ? curl_slist_append(h, line) : NULL;
		free(line);
		h = t ? t : (curl_slist_free_all(h), NULL);
	}
	if (!h)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	*hdrs = h;
	return 0;
}

typedef struct call_sink {
	dits_remote *rm;
	dits_buf *resp;
	int rc;
} call_sink;

static size_t call_write(char *data, size_t size, size_t nmemb, void *ctx)
{
	call_sink *s = ctx;
	size_t n = size * nmemb;
	s->rm->st.bytes_received += n;
	/* Control answers are small; a walk of a large history is the biggest. */
	if (s->resp->len + n > (1ull << 31) || dits_buf_put(s->resp, data, n)) {
		s->rc = dits_error_set(DITS_ENOMEM, "%s: answer too large", s->rm->url);
		return 0;
	}
	return n;
}

int dits_client_http_error(dits_remote *rm, const char *path, long status, const dits_buf *resp)
{
	char msg[400] = "";
	cJSON *j = resp && resp->len ? cJSON_ParseWithLength((const char *)resp->data, resp->len) : NULL;
	const cJSON *err = j ? cJSON_GetObjectItemCaseSensitive(j, "error") : NULL;
	if (cJSON_IsString(err))
		snprintf(msg, sizeof msg, "%s", err->valuestring);
	cJSON_Delete(j);
	for (char *c = msg; *c; c++)
		if (*c == '\n' || *c == '\r')
			*c = ' ';
	int code = status == 404 ? DITS_ENOTFOUND : status == 409 ? DITS_ECONFLICT
	         : status == 401 || status == 403 ? DITS_EINVALID : DITS_ERROR;
	const char *what = status == 401 ? "not authorized (set DITS_TOKEN or remote.NAME.token)"
	                 : status == 403 ? "permission denied" : "request failed";
	return dits_error_set(code, "remote %s: %s: %s (HTTP %ld)", rm->name, path, *msg ? msg : what, status);
}

bool dits_client_transient(CURLcode cc, long status, bool replayable)
{
	switch (cc) {
	case CURLE_OK:
		return status == 503 || (replayable && (status == 502 || status == 504));
	case CURLE_COULDNT_CONNECT:
		return true;
	case CURLE_GOT_NOTHING:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_PARTIAL_FILE:
		return replayable;
	default:
		return false;
	}
}

unsigned dits_client_backoff_ms(int tries)
{
	/* 100 ms doubling to 3.2 s, plus up to half again at random, so that
	 * clients turned away together do not come back together. */
	unsigned base = 100u << (tries < 1 ? 0 : tries > 6 ? 5 : tries - 1);
	return base + (unsigned)(rand() % (int)(base / 2 + 1));
}

/* One try of a control request; *cc and *st receive curl's code and the status. */
static int call_once(dits_remote *rm, const char *method, const char *path, const void *body, size_t len,
                     const char *content_type, dits_buf *resp, CURLcode *cc, long *st)
{
	char errbuf[CURL_ERROR_SIZE];
	struct curl_slist *hdrs;
	*cc = CURLE_OK;
	*st = 0;
	dits_buf_reset(resp);
	int rc = dits_client_setup(rm, rm->easy, path, content_type, &hdrs, errbuf);
	if (rc)
		return rc;
	call_sink sink = { rm, resp, 0 };
	curl_easy_setopt(rm->easy, CURLOPT_WRITEFUNCTION, call_write);
	curl_easy_setopt(rm->easy, CURLOPT_WRITEDATA, &sink);
	if (!strcmp(method, "POST")) {
		curl_easy_setopt(rm->easy, CURLOPT_POST, 1L);
		curl_easy_setopt(rm->easy, CURLOPT_POSTFIELDS, body ? body : "");
		curl_easy_setopt(rm->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
		rm->st.bytes_sent += len;
	}
	*cc = curl_easy_perform(rm->easy);
	rm->st.requests++;
	curl_slist_free_all(hdrs);
	if (sink.rc)
		return sink.rc;
	if (*cc != CURLE_OK)
		return dits_error_set(DITS_EIO, "%s: %s", rm->url, *errbuf ? errbuf : curl_easy_strerror(*cc));
	curl_easy_getinfo(rm->easy, CURLINFO_RESPONSE_CODE, st);
	if (*st >= 400 || *st < 200)
		return dits_client_http_error(rm, path, *st, resp);
	return 0;
}

int dits_client_call(dits_remote *rm, const char *method, const char *path, const void *body, size_t len,
                     const char *content_type, dits_buf *resp, long *status)
{
	/* A ref update or a repository creation that may have landed is not
	 * sent again: its second answer (409) would misreport the first. */
	bool replayable = strcmp(method, "POST") || (strcmp(path, "refs") && strcmp(path, "create"));
	CURLcode cc;
	long st;
	int rc;
	for (int tries = 1;; tries++) {
		rc = call_once(rm, method, path, body, len, content_type, resp, &cc, &st);
		if (!rc || tries >= DITS_CLIENT_TRIES || !dits_client_transient(cc, st, replayable))
			break;
		dits_error_clear();
		dits_sleep_ms(dits_client_backoff_ms(tries));
	}
	if (status)
		*status = st;
	return rc;
}

int dits_remote_json(dits_remote *rm, const char *method, const char *path, const char *body, size_t len,
                     dits_buf *resp)
{
	return dits_client_call(rm, method, path, body, len, body ? "application/json" : NULL, resp, NULL);
}

/* ---- refs ----------------------------------------------------------- */

void dits_remote_refs_free(dits_remote_refs *refs)
{
	for (size_t i = 0; i < refs->n; i++)
		free(refs->names[i]);
	free(refs->names);
	free(refs->ids);
	free(refs->head);
	memset(refs, 0, sizeof *refs);
}

const dits_id *dits_remote_refs_find(const dits_remote_refs *refs, const char *ref)
{
	for (size_t i = 0; i < refs->n; i++)
		if (!strcmp(refs->names[i], ref))
			return &refs->ids[i];
	return NULL;
}

static int json_u32(const cJSON *obj, const char *key, uint32_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 4294967295.0)
		return -1;
	*out = (uint32_t)v->valuedouble;
	return 0;
}

/* The "chunker" member of a refs or create answer. */
static int parse_chunker(dits_remote *rm, const cJSON *root, dits_chunker_params *p)
{
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(root, "chunker");
	const cJSON *seed = c ? cJSON_GetObjectItemCaseSensitive(c, "seed") : NULL;
	dits_chunker_params_default(p);
	if (!cJSON_IsObject(c) || json_u32(c, "min", &p->min) || json_u32(c, "avg", &p->avg) ||
	    json_u32(c, "max", &p->max) || json_u32(c, "level", &p->level) ||
	    (seed && !(cJSON_IsNumber(seed) && seed->valuedouble >= 0 && seed->valuedouble < 18446744073709551616.0)))
		return dits_error_set(DITS_EINVALID, "remote %s: the server's chunker parameters are malformed", rm->name);
	p->seed = seed ? (uint64_t)seed->valuedouble : 0;
	dits_chunker ck;
	if (dits_chunker_init(&ck, p))
		return dits_error_wrap(DITS_EINVALID, "remote %s: the server's chunker parameters", rm->name);
	return 0;
}

int dits_remote_get_refs(dits_remote *rm, dits_remote_refs *out)
{
	memset(out, 0, sizeof *out);
	dits_buf resp = DITS_BUF_INIT;
	long status;
	int rc = dits_client_call(rm, "GET", "refs", NULL, 0, NULL, &resp, &status);
	if (rc == DITS_ENOTFOUND && status == 404) {
		dits_error_clear();
		dits_buf_free(&resp);
		return 0;
	}
	if (!rc)
		rc = dits_remote_refs_parse(rm, resp.data, resp.len, out);
	dits_buf_free(&resp);
	return rc;
}

int dits_remote_refs_parse(dits_remote *rm, const uint8_t *data, size_t len, dits_remote_refs *out)
{
	memset(out, 0, sizeof *out);
	cJSON *j = len ? cJSON_ParseWithLength((const char *)data, len) : NULL;
	int rc;
	if (!cJSON_IsObject(j)) {
		cJSON_Delete(j);
		return dits_error_set(DITS_EINVALID, "remote %s: GET refs: the answer is not JSON", rm->name);
	}
	out->exists = true;
	rc = parse_chunker(rm, j, &out->chunker);
	const cJSON *head = cJSON_GetObjectItemCaseSensitive(j, "head");
	if (!rc && cJSON_IsString(head) && !(out->head = strdup(head->valuestring)))
		rc = dits_error_set(DITS_ENOMEM, "out of memory");
	const cJSON *refs = cJSON_GetObjectItemCaseSensitive(j, "refs");
	size_t n = (size_t)cJSON_GetArraySize(refs);
	if (!rc && refs && !cJSON_IsObject(refs))
		rc = dits_error_set(DITS_EINVALID, "remote %s: GET refs: \"refs\" is not an object", rm->name);
	if (!rc && n) {
		out->names = calloc(n, sizeof *out->names);
		out->ids = calloc(n, sizeof *out->ids);
		if (!out->names || !out->ids)
			rc = dits_error_set(DITS_ENOMEM, "out of memory");
	}
	const cJSON *it;
	cJSON_ArrayForEach(it, refs) {
		if (rc)
			break;
		if (!cJSON_IsString(it) || dits_id_from_hex(&out->ids[out->n], it->valuestring) ||
		    strncmp(it->string, "refs/", 5) || !dits_ref_name_valid(it->string + 5)) {
			rc = dits_error_set(DITS_EINVALID, "remote %s: GET refs: a malformed ref %s", rm->name,
			                    it->string ? it->string : "");
			break;
		}
		if (!(out->names[out->n] = strdup(it->string)))
			rc = dits_error_set(DITS_ENOMEM, "out of memory");
		else
			out->n++;
	}
	cJSON_Delete(j);
	if (rc)
		dits_remote_refs_free(out);
	return rc;
}

typedef struct partial_scan {
	char *name;
	int rc;
} partial_scan;

static int find_partial(void *ctx, const char *key, const char *value)
{
	partial_scan *ps = ctx;
	size_t n = strlen(key);
	if (n <= strlen("remote..partial") || strcmp(key + n - 8, ".partial") || strcmp(value, "true"))
		return 0;
	ps->name = strndup(key + 7, n - 7 - 8);
	ps->rc = ps->name ? 0 : DITS_ENOMEM;
	return 1;
}

bool dits_repo_partial_remote(dits_repo *r, char **name)
{
	partial_scan ps = { NULL, 0 };
	dits_config_foreach(dits_repo_config(r), "remote.", find_partial, &ps);
	bool found = ps.name != NULL;
	if (name)
		*name = ps.name;
	else
		free(ps.name);
	return found;
}

/* ---- the promisor of a partial clone ---------------------------------- */

typedef struct promisor_ctx {
	dits_repo *r;
	char *remote;
} promisor_ctx;

static int promisor_fetch(void *ctx, dits_odb *db, const dits_id *ids, size_t n)
{
	promisor_ctx *p = ctx;
	(void)db; /* r->odb: what dits_fetch_objects writes to */
	dits_remote *rm = NULL;
	int rc = dits_remote_open(&rm, p->r, p->remote);
	if (!rc)
		rc = dits_fetch_objects(p->r, rm, ids, n, NULL);
	if (rc)
		dits_error_wrap(rc, "fetching from %s (partial clone)", p->remote);
	dits_remote_free(rm);
	return rc;
}

static void promisor_ctx_free(void *ctx)
{
	promisor_ctx *p = ctx;
	free(p->remote);
	free(p);
}

int dits_repo_enable_promisor(dits_repo *r)
{
	if (dits_odb_has_promisor(dits_repo_odb(r)))
		return 0;
	char *remote = NULL;
	if (!dits_repo_partial_remote(r, &remote))
		return 0;
	promisor_ctx *p = calloc(1, sizeof *p);
	if (!p) {
		free(remote);
		return dits_error_set(DITS_ENOMEM, "out of memory");
	}
	p->r = r;
	p->remote = remote;
	dits_odb_backend *b;
	int rc = dits_odb_promisor_new(&b, promisor_fetch, p, promisor_ctx_free);
	if (rc) {
		promisor_ctx_free(p);
		return rc;
	}
	return dits_odb_add_backend(dits_repo_odb(r), b);
}
