/*
 * s3: the S3 client (s3.h). Requests go through libcurl, which signs each
 * with SigV4 (CURLOPT_AWS_SIGV4 "aws:amz:REGION:s3"). Two things libcurl
 * 7.88 (Debian 12) leaves to the caller, described in docs/S3.md:
 *   - the payload hash: the x-amz-content-sha256 header is set here to the
 *     SHA-256 of the body (OpenSSL), and libcurl signs with that value;
 *   - the canonical query: libcurl signs the query string as written, so
 *     every query here is written already sorted by name, URI-encoded, and
 *     with "=" after a name without value ("uploads=", not "uploads").
 * Keys are URI-encoded the way S3 canonicalizes a path (only unreserved
 * characters and '/' left as they are), and CURLOPT_PATH_AS_IS keeps
 * libcurl from rewriting "." and ".." segments.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "error.h"
#include "s3_internal.h"

#define MAX_ERROR_BODY ((size_t)64 << 10)
#define MAX_BACKOFF_MS 20000u
#define MAX_PARTS 10000

struct dits_s3 {
	char *scheme;    /* "http" or "https" */
	char *hostport;  /* "host[:port]" */
	char *region, *bucket, *prefix;
	char *access_key, *secret_key, *token;
	char *sigv4;     /* "aws:amz:REGION:s3" */
	int virtual_host;
	size_t part_size;
	int upload_parallel;
	int max_attempts;
	unsigned retry_base_ms;
	unsigned list_page;
	long timeout_s;
	CURL *curl;
	uint64_t rng;
	char *amz_date;    /* test hook: fixed signing time */
	char *connect_to;  /* test hook */
};

struct dits_s3_upload {
	dits_s3 *s3;
	char *key;
	char *id;
	char **etags;
	size_t nparts, cap;
};

/* ---- setup ---- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static const char *env(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

static const char *pick(const char *given, const char *env1, const char *env2)
{
	if (given && *given)
		return given;
	const char *v = env1 ? env(env1) : NULL;
	if (!v && env2)
		v = env(env2);
	return v;
}

static int bucket_name_ok(const char *b)
{
	size_t n = strlen(b);
	if (n < 3 || n > 63)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = b[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-'))
			return 0;
	}
	return b[0] != '.' && b[0] != '-' && b[n - 1] != '.' && b[n - 1] != '-';
}

int dits_s3_parse_url(const char *url, char **bucket, char **prefix)
{
	*bucket = *prefix = NULL;
	if (strncmp(url, "s3://", 5))
		return dits_error_set(DITS_EINVALID, "%s: not an s3://BUCKET/PREFIX URL", url);
	const char *b = url + 5;
	size_t blen = strcspn(b, "/");
	const char *p = b[blen] == '/' ? b + blen + 1 : b + blen;
	char *bk = strndup(b, blen);
	if (!bk)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	if (!bucket_name_ok(bk)) {
		free(bk);
		return dits_error_set(DITS_EINVALID,
		                      "%s: the bucket name is not 3 to 63 of a-z 0-9 . - starting and ending with a letter or digit",
		                      url);
	}
	size_t plen = strlen(p);
	char *pf = malloc(plen + 2);
	if (!pf) {
		free(bk);
		return dits_error_set(DITS_ENOMEM, "out of memory");
	}
	memcpy(pf, p, plen);
	if (plen && p[plen - 1] != '/')
		pf[plen++] = '/';
	pf[plen] = 0;
	if (strstr(pf, "//") || pf[0] == '/') {
		free(bk);
		free(pf);
		return dits_error_set(DITS_EINVALID, "%s: the prefix has an empty path segment", url);
	}
	*bucket = bk;
	*prefix = pf;
	return 0;
}

void dits_s3_close(dits_s3 *s3)
{
	if (!s3)
		return;
	if (s3->curl)
		curl_easy_cleanup(s3->curl);
	free(s3->scheme);
	free(s3->hostport);
	free(s3->region);
	free(s3->bucket);
	free(s3->prefix);
	free(s3->access_key);
	if (s3->secret_key) {
		explicit_bzero(s3->secret_key, strlen(s3->secret_key));
		free(s3->secret_key);
	}
	free(s3->token);
	free(s3->sigv4);
	free(s3->amz_date);
	free(s3->connect_to);
	free(s3);
}

static char *xstrdup(const char *s, int *bad)
{
	char *d = strdup(s ? s : "");
	if (!d)
		*bad = 1;
	return d;
}

int dits_s3_open(const dits_s3_config *cfg, dits_s3 **out)
{
	*out = NULL;
	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK)
		return dits_error_set(DITS_ERROR, "s3: cannot initialize libcurl");
	if (!cfg->bucket || !bucket_name_ok(cfg->bucket))
		return dits_error_set(DITS_EINVALID, "s3: bucket name \"%s\" is not 3 to 63 of a-z 0-9 . -",
		                      cfg->bucket ? cfg->bucket : "");
	const char *region = pick(cfg->region, "AWS_REGION", "AWS_DEFAULT_REGION");
	if (!region)
		region = "us-east-1";
	for (const char *c = region; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-'))
			return dits_error_set(DITS_EINVALID, "s3: region \"%s\" is not a region name", region);
	const char *ak = pick(cfg->access_key, "AWS_ACCESS_KEY_ID", NULL);
	const char *sk = pick(cfg->secret_key, "AWS_SECRET_ACCESS_KEY", NULL);
	const char *tok = pick(cfg->session_token, "AWS_SESSION_TOKEN", NULL);
	if (!ak || !sk)
		return dits_error_set(DITS_EINVALID,
		                      "s3://%s: no credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)", cfg->bucket);
	const char *ep = pick(cfg->endpoint, "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL");
	char defep[128];
	if (!ep) {
		snprintf(defep, sizeof(defep), "https://s3.%s.amazonaws.com", region);
		ep = defep;
	}
	const char *hp;
	char scheme[8];
	if (!strncmp(ep, "http://", 7)) {
		strcpy(scheme, "http");
		hp = ep + 7;
	} else if (!strncmp(ep, "https://", 8)) {
		strcpy(scheme, "https");
		hp = ep + 8;
	} else {
		return dits_error_set(DITS_EINVALID, "s3: endpoint %s is not an http:// or https:// URL", ep);
	}
	size_t hlen = strlen(hp);
	while (hlen && hp[hlen - 1] == '/')
		hlen--;
	if (!hlen || memchr(hp, '/', hlen) || memchr(hp, '?', hlen) || memchr(hp, '@', hlen) || memchr(hp, ' ', hlen))
		return dits_error_set(DITS_EINVALID, "s3: endpoint %s must be scheme://host[:port] with no path", ep);
	if (cfg->part_size && cfg->part_size < DITS_S3_MIN_PART_SIZE)
		return dits_error_set(DITS_EINVALID, "s3: part size %zu is below S3's minimum of 5 MiB", cfg->part_size);
	if (cfg->part_size > ((size_t)5 << 30))
		return dits_error_set(DITS_EINVALID, "s3: part size %zu is above S3's maximum of 5 GiB", cfg->part_size);

	dits_s3 *s3 = calloc(1, sizeof(*s3));
	if (!s3)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	int bad = 0;
	s3->scheme = xstrdup(scheme, &bad);
	s3->hostport = strndup(hp, hlen);
	bad |= !s3->hostport;
	s3->region = xstrdup(region, &bad);
	s3->bucket = xstrdup(cfg->bucket, &bad);
	s3->prefix = xstrdup(cfg->prefix, &bad);
	s3->access_key = xstrdup(ak, &bad);
	s3->secret_key = xstrdup(sk, &bad);
	s3->token = tok ? xstrdup(tok, &bad) : NULL;
	if (!bad && asprintf(&s3->sigv4, "aws:amz:%s:s3", region) < 0) {
		s3->sigv4 = NULL;
		bad = 1;
	}
	s3->curl = curl_easy_init();
	if (bad || !s3->curl) {
		dits_s3_close(s3);
		return dits_error_set(DITS_ENOMEM, "out of memory");
	}
	s3->virtual_host = cfg->virtual_host;
	s3->part_size = cfg->part_size ? cfg->part_size : DITS_S3_DEFAULT_PART_SIZE;
	s3->upload_parallel = cfg->upload_parallel > 0 ? cfg->upload_parallel : 4;
	if (s3->upload_parallel > 32)
		s3->upload_parallel = 32;
	s3->max_attempts = cfg->max_attempts > 0 ? cfg->max_attempts : 5;
	s3->retry_base_ms = cfg->retry_base_ms ? cfg->retry_base_ms : 200;
	s3->list_page = cfg->list_page ? cfg->list_page : 1000;
	s3->timeout_s = cfg->timeout_s > 0 ? cfg->timeout_s : 60;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	s3->rng = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)getpid() << 40) ^ (uintptr_t)s3;
	if (!s3->rng)
		s3->rng = 0x9e3779b97f4a7c15ull;
	*out = s3;
	return 0;
}

/* Another handle on the same store and settings, with a connection of its own. */
static int s3_clone(const dits_s3 *s, dits_s3 **out)
{
	*out = NULL;
	dits_s3 *c = calloc(1, sizeof(*c));
	if (!c)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	int bad = 0;
	c->scheme = xstrdup(s->scheme, &bad);
	c->hostport = xstrdup(s->hostport, &bad);
	c->region = xstrdup(s->region, &bad);
	c->bucket = xstrdup(s->bucket, &bad);
	c->prefix = xstrdup(s->prefix, &bad);
	c->access_key = xstrdup(s->access_key, &bad);
	c->secret_key = xstrdup(s->secret_key, &bad);
	c->token = s->token ? xstrdup(s->token, &bad) : NULL;
	c->sigv4 = xstrdup(s->sigv4, &bad);
	c->amz_date = s->amz_date ? xstrdup(s->amz_date, &bad) : NULL;
	c->connect_to = s->connect_to ? xstrdup(s->connect_to, &bad) : NULL;
	c->curl = curl_easy_init();
	if (bad || !c->curl) {
		dits_s3_close(c);
		return dits_error_set(DITS_ENOMEM, "out of memory");
	}
	c->virtual_host = s->virtual_host;
	c->part_size = s->part_size;
	c->upload_parallel = s->upload_parallel;
	c->max_attempts = s->max_attempts;
	c->retry_base_ms = s->retry_base_ms;
	c->list_page = s->list_page;
	c->timeout_s = s->timeout_s;
	c->rng = s->rng ^ ((uintptr_t)c * 0x9e3779b97f4a7c15ull);
	if (!c->rng)
		c->rng = 0x2545f4914f6cdd1dull;
	*out = c;
	return 0;
}

int s3_set_test_hooks(dits_s3 *s3, const char *amz_date, const char *connect_to)
{
	free(s3->amz_date);
	free(s3->connect_to);
	s3->amz_date = amz_date ? strdup(amz_date) : NULL;
	s3->connect_to = connect_to ? strdup(connect_to) : NULL;
	if ((amz_date && !s3->amz_date) || (connect_to && !s3->connect_to))
		return dits_error_set(DITS_ENOMEM, "out of memory");
	return 0;
}

/* ---- one request ---- */

typedef struct xfer {
	const s3_req *req;
	CURL *curl;
	int ranged_req;           /* this attempt sent a Range header */
	long status;
	int status_known;
	dits_buf err;             /* the body of an answer that is not 2xx */
	dits_buf body;            /* the body when the request checks it for <Error> */
	uint64_t delivered;       /* bytes given to the sink/out so far (all attempts) */
	uint64_t skip, left;      /* a 200 to a ranged GET: bytes to drop, bytes to keep */
	int clip;                 /* skip/left apply */
	int sink_rc;
	size_t up_pos;
	char etag[128];
	uint64_t clen;
	int have_clen;
} xfer;

static void sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	static const char hex[] = "0123456789abcdef";
	EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = 0;
}

static size_t on_header(char *buf, size_t size, size_t n, void *ud)
{
	xfer *x = ud;
	size_t len = size * n;
	if (len >= 5 && !strncmp(buf, "HTTP/", 5)) {
		/* a new answer (after a 100 Continue, say): forget the last one's headers */
		x->etag[0] = 0;
		x->have_clen = 0;
		return len;
	}
	const char *colon = memchr(buf, ':', len);
	if (!colon)
		return len;
	size_t nlen = (size_t)(colon - buf);
	const char *v = colon + 1;
	const char *end = buf + len;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
		end--;
	size_t vlen = (size_t)(end - v);
	if (nlen == 4 && !strncasecmp(buf, "ETag", 4)) {
		if (vlen >= sizeof(x->etag))
			vlen = sizeof(x->etag) - 1;
		memcpy(x->etag, v, vlen);
		x->etag[vlen] = 0;
	} else if (nlen == 14 && !strncasecmp(buf, "Content-Length", 14)) {
		char tmp[32];
		if (vlen && vlen < sizeof(tmp)) {
			memcpy(tmp, v, vlen);
			tmp[vlen] = 0;
			char *e;
			errno = 0;
			unsigned long long c = strtoull(tmp, &e, 10);
			if (!errno && !*e && tmp[0] >= '0' && tmp[0] <= '9') {
				x->clen = c;
				x->have_clen = 1;
			}
		}
	}
	return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
	xfer *x = ud;
	size_t len = size * n;
	const s3_req *r = x->req;
	if (!x->status_known) {
		curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &x->status);
		x->status_known = 1;
		/* never more than was asked for: a server that ignores Range answers
		 * 200 with the whole object, and s3rver answers "bytes=0-0" with a
		 * 206 of the whole object */
		x->clip = x->ranged_req;
		if (x->status != 200)
			x->skip = 0;
	}
	if (x->status < 200 || x->status > 299) {
		size_t room = MAX_ERROR_BODY - x->err.len;
		if (room && dits_buf_put(&x->err, data, len < room ? len : room) < 0)
			return 0;
		return len;
	}
	if (r->error_in_body) {
		if (x->body.len + len > MAX_ERROR_BODY * 16 || dits_buf_put(&x->body, data, len) < 0)
			return 0;
		return len;
	}
	const char *p = data;
	size_t keep = len;
	if (x->clip) {
		size_t drop = x->skip < keep ? (size_t)x->skip : keep;
		x->skip -= drop;
		p += drop;
		keep -= drop;
		if (keep > x->left)
			keep = (size_t)x->left;
		x->left -= keep;
	}
	if (!keep)
		return len;
	if (r->sink) {
		int rc = r->sink(r->sink_ctx, p, keep);
		if (rc) {
			x->sink_rc = rc;
			return 0;
		}
	} else if (r->out) {
		if (dits_buf_put(r->out, p, keep) < 0) {
			x->sink_rc = dits_error_set(DITS_ENOMEM, "out of memory");
			return 0;
		}
	}
	x->delivered += keep;
	return len;
}

static size_t on_read(char *buf, size_t size, size_t n, void *ud)
{
	xfer *x = ud;
	size_t room = size * n;
	size_t left = x->req->body_len - x->up_pos;
	size_t k = left < room ? left : room;
	memcpy(buf, (const char *)x->req->body + x->up_pos, k);
	x->up_pos += k;
	return k;
}

static int on_seek(void *ud, curl_off_t off, int origin)
{
	xfer *x = ud;
	if (origin != SEEK_SET || off < 0 || (uint64_t)off > x->req->body_len)
		return CURL_SEEKFUNC_FAIL;
	x->up_pos = (size_t)off;
	return CURL_SEEKFUNC_OK;
}

/* The object's name in messages: s3://BUCKET/PREFIXKEY */
static void where(const dits_s3 *s3, const char *key, char *out, size_t cap)
{
	if (key)
		snprintf(out, cap, "s3://%s/%s%s", s3->bucket, s3->prefix, key);
	else
		snprintf(out, cap, "s3://%s/%s", s3->bucket, s3->prefix);
}

static int build_url(const dits_s3 *s3, const s3_req *r, dits_buf *url)
{
	int rc = 0;
	if (s3->virtual_host)
		rc = dits_buf_printf(url, "%s://%s.%s/", s3->scheme, s3->bucket, s3->hostport);
	else
		rc = dits_buf_printf(url, "%s://%s/%s%s", s3->scheme, s3->hostport, s3->bucket, r->key ? "/" : "");
	if (rc == 0 && r->key) {
		dits_buf full = DITS_BUF_INIT;
		rc = dits_buf_printf(&full, "%s%s", s3->prefix, r->key);
		if (rc == 0)
			rc = dits_buf_cstr(&full);
		if (rc == 0)
			rc = s3_uri_encode(url, (const char *)full.data, 1);
		dits_buf_free(&full);
	}
	if (rc == 0 && r->query && *r->query)
		rc = dits_buf_printf(url, "?%s", r->query);
	if (rc == 0)
		rc = dits_buf_cstr(url);
	return rc;
}

static int retryable_code(const char *code)
{
	static const char *const codes[] = {"SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable",
	                                    "Throttling", "ThrottlingException", "RequestLimitExceeded"};
	for (size_t i = 0; i < sizeof(codes) / sizeof(*codes); i++)
		if (!strcmp(code, codes[i]))
			return 1;
	return 0;
}

static int retryable_curl(CURLcode c)
{
	switch (c) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_SSL_CONNECT_ERROR:
		return 1;
	default:
		return 0;
	}
}

static uint64_t next_rand(dits_s3 *s3)
{
	uint64_t x = s3->rng;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return s3->rng = x;
}

/* Full jitter over the upper half: sleeps between d/2 and d, d = base * 2^attempt. */
static void backoff(dits_s3 *s3, int attempt)
{
	uint64_t d = s3->retry_base_ms;
	for (int i = 0; i < attempt && d < MAX_BACKOFF_MS; i++)
		d *= 2;
	if (d > MAX_BACKOFF_MS)
		d = MAX_BACKOFF_MS;
	uint64_t ms = d / 2 + next_rand(s3) % (d / 2 + 1);
	struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int status_code_rc(long status, const char *code)
{
	if (status == 404 || !strcmp(code, "NoSuchKey") || !strcmp(code, "NoSuchUpload") || !strcmp(code, "NoSuchBucket"))
		return DITS_ENOTFOUND;
	if (status == 412)
		return DITS_ECONFLICT;
	return DITS_EIO;
}

static const char *status_word(long status)
{
	switch (status) {
	case 400: return "BadRequest";
	case 403: return "Forbidden";
	case 404: return "NotFound";
	case 412: return "PreconditionFailed";
	case 416: return "InvalidRange";
	case 500: return "InternalError";
	case 503: return "ServiceUnavailable";
	default: return "HTTPError";
	}
}

int s3_perform(dits_s3 *s3, const s3_req *r)
{
	char name[1200];
	where(s3, r->key, name, sizeof(name));
	if (r->ranged && r->len == 0)
		return dits_error_set(DITS_EINVALID, "s3: %s %s: an empty range", r->op, name);
	char hash[65];
	sha256_hex(r->body ? r->body : "", r->body ? r->body_len : 0, hash);

	xfer x;
	memset(&x, 0, sizeof(x));
	x.req = r;
	int rc = 0;
	char last[600] = "";
	for (int attempt = 0;; attempt++) {
		if (attempt && r->ranged && r->len != DITS_S3_TO_END && x.delivered >= r->len) {
			/* the connection broke after the last byte asked for: nothing is missing */
			dits_error_clear();
			rc = 0;
			break;
		}
		CURL *c = s3->curl;
		curl_easy_reset(c);
		x.curl = c;
		dits_buf url = DITS_BUF_INIT;
		struct curl_slist *hdrs = NULL, *connect = NULL;
		char line[1100];
		int fail = build_url(s3, r, &url);
		if (fail) {
			dits_buf_free(&url);
			return dits_error_set(DITS_ENOMEM, "out of memory");
		}
		snprintf(line, sizeof(line), "x-amz-content-sha256: %s", hash);
		hdrs = curl_slist_append(hdrs, line);
		if (s3->token) {
			dits_buf t = DITS_BUF_INIT;
			if (dits_buf_printf(&t, "x-amz-security-token: %s", s3->token) == 0 && dits_buf_cstr(&t) == 0)
				hdrs = curl_slist_append(hdrs, (const char *)t.data);
			dits_buf_free(&t);
		}
		if (s3->amz_date) {
			snprintf(line, sizeof(line), "x-amz-date: %s", s3->amz_date);
			hdrs = curl_slist_append(hdrs, line);
		}
		/* what a broken transfer delivered is not asked for again */
		uint64_t from = r->off + x.delivered;
		x.clip = 0;
		x.ranged_req = r->ranged || x.delivered;
		if (x.ranged_req) {
			int open_end = !r->ranged || r->len == DITS_S3_TO_END;
			uint64_t want = open_end ? UINT64_MAX : r->len - x.delivered;
			if (open_end)
				snprintf(line, sizeof(line), "Range: bytes=%" PRIu64 "-", from);
			else
				snprintf(line, sizeof(line), "Range: bytes=%" PRIu64 "-%" PRIu64, from, from + want - 1);
			hdrs = curl_slist_append(hdrs, line);
			x.skip = from;
			x.left = want;
		}
		for (const char *const *h = r->headers; h && *h; h++)
			hdrs = curl_slist_append(hdrs, *h);

		curl_easy_setopt(c, CURLOPT_URL, (const char *)url.data);
		curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
		curl_easy_setopt(c, CURLOPT_AWS_SIGV4, s3->sigv4);
		curl_easy_setopt(c, CURLOPT_USERNAME, s3->access_key);
		curl_easy_setopt(c, CURLOPT_PASSWORD, s3->secret_key);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
		curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
		curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, s3->timeout_s);
		curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
		curl_easy_setopt(c, CURLOPT_HEADERDATA, &x);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
		if (s3->connect_to) {
			connect = curl_slist_append(NULL, s3->connect_to);
			curl_easy_setopt(c, CURLOPT_CONNECT_TO, connect);
		}
		if (!strcmp(r->method, "PUT")) {
			curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
			curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
			curl_easy_setopt(c, CURLOPT_READDATA, &x);
			curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, on_seek);
			curl_easy_setopt(c, CURLOPT_SEEKDATA, &x);
			curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body_len);
		} else if (!strcmp(r->method, "POST")) {
			curl_easy_setopt(c, CURLOPT_POST, 1L);
			curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->body ? (const char *)r->body : "");
			curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(r->body ? r->body_len : 0));
		} else if (!strcmp(r->method, "HEAD")) {
			curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
		} else if (strcmp(r->method, "GET")) {
			curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, r->method);
		}
		x.up_pos = 0;
		x.status = 0;
		x.status_known = 0;
		x.sink_rc = 0;
		x.etag[0] = 0;
		x.have_clen = 0;
		dits_buf_reset(&x.err);
		dits_buf_reset(&x.body);

		CURLcode cc = curl_easy_perform(c);
		long status = 0;
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		curl_slist_free_all(hdrs);
		curl_slist_free_all(connect);
		dits_buf_free(&url);

		if (x.sink_rc) {
			rc = x.sink_rc;
			break;
		}
		int retry = 0;
		char *code = NULL, *msg = NULL;
		if (cc != CURLE_OK) {
			retry = retryable_curl(cc);
			snprintf(last, sizeof(last), "%s", curl_easy_strerror(cc));
			rc = DITS_EIO;
		} else if (status >= 200 && status <= 299 && !(r->error_in_body && x.body.len &&
		                                             s3_xml_error((const char *)x.body.data, x.body.len, &code, &msg) == 0)) {
			if (r->error_in_body && r->out && dits_buf_put(r->out, x.body.data, x.body.len) < 0) {
				rc = dits_error_set(DITS_ENOMEM, "out of memory");
				break;
			}
			if (r->stat) {
				r->stat->size = x.have_clen ? x.clen : 0;
				snprintf(r->stat->etag, sizeof(r->stat->etag), "%s", x.etag);
			}
			rc = 0;
			break;
		} else {
			const dits_buf *eb = status >= 200 && status <= 299 ? &x.body : &x.err;
			if (!code && eb->len)
				s3_xml_error((const char *)eb->data, eb->len, &code, &msg);
			const char *cd = code && *code ? code : status_word(status);
			retry = status >= 500 || status == 429 || retryable_code(cd);
			if (msg && *msg)
				snprintf(last, sizeof(last), "%s: %.400s (HTTP %ld)", cd, msg, status);
			else
				snprintf(last, sizeof(last), "%s (HTTP %ld)", cd, status);
			rc = status_code_rc(status, cd);
		}
		free(code);
		free(msg);
		dits_error_clear();
		if (!retry || attempt + 1 >= s3->max_attempts) {
			if (attempt > 0)
				rc = dits_error_set(rc, "s3: %s %s: %s, after %d attempts", r->op, name, last, attempt + 1);
			else
				rc = dits_error_set(rc, "s3: %s %s: %s", r->op, name, last);
			break;
		}
		backoff(s3, attempt);
	}
	dits_buf_free(&x.err);
	dits_buf_free(&x.body);
	return rc;
}

/* ---- operations ---- */

static int check_key(const dits_s3 *s3, const char *op, const char *key)
{
	if (!key || !*key)
		return dits_error_set(DITS_EINVALID, "s3: %s s3://%s/%s: an empty key", op, s3->bucket, s3->prefix);
	if (strlen(s3->prefix) + strlen(key) > 1024)
		return dits_error_set(DITS_EINVALID, "s3: %s s3://%s/%s%.60s...: the key is longer than S3's 1024 bytes",
		                      op, s3->bucket, s3->prefix, key);
	return 0;
}

int dits_s3_put(dits_s3 *s3, const char *key, const void *data, size_t len)
{
	int rc = check_key(s3, "PUT", key);
	if (rc)
		return rc;
	s3_req r = {.op = "PUT", .method = "PUT", .key = key, .body = data ? data : "", .body_len = len};
	return s3_perform(s3, &r);
}

int dits_s3_get_to(dits_s3 *s3, const char *key, uint64_t off, uint64_t len,
                   dits_s3_sink_fn sink, void *ctx)
{
	int rc = check_key(s3, "GET", key);
	if (rc)
		return rc;
	s3_req r = {.op = "GET", .method = "GET", .key = key, .sink = sink, .sink_ctx = ctx,
	            .ranged = !(off == 0 && len == DITS_S3_TO_END), .off = off, .len = len};
	if (r.ranged && len != DITS_S3_TO_END && off > UINT64_MAX - len)
		return dits_error_set(DITS_EINVALID, "s3: GET s3://%s/%s%s: range %" PRIu64 "+%" PRIu64 " overflows",
		                      s3->bucket, s3->prefix, key, off, len);
	return s3_perform(s3, &r);
}

static int buf_sink(void *ctx, const void *data, size_t len)
{
	if (dits_buf_put(ctx, data, len) < 0)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	return 0;
}

int dits_s3_get(dits_s3 *s3, const char *key, dits_buf *out)
{
	return dits_s3_get_to(s3, key, 0, DITS_S3_TO_END, buf_sink, out);
}

int dits_s3_get_range(dits_s3 *s3, const char *key, uint64_t off, uint64_t len, dits_buf *out)
{
	return dits_s3_get_to(s3, key, off, len, buf_sink, out);
}

int dits_s3_head(dits_s3 *s3, const char *key, dits_s3_stat *st)
{
	int rc = check_key(s3, "HEAD", key);
	if (rc)
		return rc;
	memset(st, 0, sizeof(*st));
	s3_req r = {.op = "HEAD", .method = "HEAD", .key = key, .stat = st};
	return s3_perform(s3, &r);
}

int dits_s3_delete(dits_s3 *s3, const char *key)
{
	int rc = check_key(s3, "DELETE", key);
	if (rc)
		return rc;
	s3_req r = {.op = "DELETE", .method = "DELETE", .key = key};
	rc = s3_perform(s3, &r);
	/* S3 answers 204 for a missing key; some stores 404 */
	if (rc == DITS_ENOTFOUND && !strstr(dits_error_last(), "NoSuchBucket")) {
		dits_error_clear();
		rc = 0;
	}
	return rc;
}

int dits_s3_list(dits_s3 *s3, const char *prefix, dits_s3_list_fn fn, void *ctx)
{
	dits_buf full = DITS_BUF_INIT, q = DITS_BUF_INIT, body = DITS_BUF_INIT;
	char *token = NULL;
	size_t plen = strlen(s3->prefix);
	int rc = dits_buf_printf(&full, "%s%s", s3->prefix, prefix ? prefix : "");
	if (rc == 0)
		rc = dits_buf_cstr(&full);
	while (rc == 0) {
		dits_buf_reset(&q);
		dits_buf_reset(&body);
		/* sorted by name: libcurl signs the query as written */
		if (token) {
			rc = dits_buf_puts(&q, "continuation-token=");
			if (rc == 0)
				rc = s3_uri_encode(&q, token, 0);
			if (rc == 0)
				rc = dits_buf_puts(&q, "&");
		}
		if (rc == 0)
			rc = dits_buf_printf(&q, "list-type=2&max-keys=%u&prefix=", s3->list_page);
		if (rc == 0)
			rc = s3_uri_encode(&q, (const char *)full.data, 0);
		if (rc == 0)
			rc = dits_buf_cstr(&q);
		if (rc) {
			rc = dits_error_set(DITS_ENOMEM, "out of memory");
			break;
		}
		s3_req r = {.op = "LIST", .method = "GET", .key = NULL, .query = (const char *)q.data, .out = &body};
		if ((rc = s3_perform(s3, &r)) < 0)
			break;
		s3_list_page page;
		if ((rc = s3_xml_list((const char *)body.data, body.len, &page)) < 0) {
			dits_error_wrap(rc, "s3: LIST s3://%s/%s", s3->bucket, (const char *)full.data);
			break;
		}
		for (size_t i = 0; i < page.n && rc == 0; i++) {
			const s3_list_item *it = &page.items[i];
			if (strncmp(it->key, s3->prefix, plen) || !it->key[plen])
				continue;
			dits_s3_object o = {.key = it->key + plen, .size = it->size, .etag = it->etag, .mtime = it->mtime};
			rc = fn(ctx, &o);
		}
		if (rc == 0 && page.truncated) {
			if (token && !strcmp(token, page.next_token)) {
				rc = dits_error_set(DITS_EIO, "s3: LIST s3://%s/%s: the store gave the same continuation token twice",
				                    s3->bucket, (const char *)full.data);
			} else {
				free(token);
				token = page.next_token;
				page.next_token = NULL;
			}
		}
		int more = page.truncated;
		s3_list_page_free(&page);
		if (!more)
			break;
	}
	free(token);
	dits_buf_free(&full);
	dits_buf_free(&q);
	dits_buf_free(&body);
	return rc;
}

/* ---- multipart ---- */

const char *dits_s3_upload_id(const dits_s3_upload *up)
{
	return up->id;
}

static void upload_free(dits_s3_upload *up)
{
	for (size_t i = 0; i < up->cap; i++)
		free(up->etags[i]);
	free(up->etags);
	free(up->key);
	free(up->id);
	free(up);
}

static int upload_query(const dits_s3_upload *up, dits_buf *q, int part)
{
	int rc = part ? dits_buf_printf(q, "partNumber=%d&uploadId=", part) : dits_buf_puts(q, "uploadId=");
	if (rc == 0)
		rc = s3_uri_encode(q, up->id, 0);
	if (rc == 0)
		rc = dits_buf_cstr(q);
	return rc ? dits_error_set(DITS_ENOMEM, "out of memory") : 0;
}

int dits_s3_upload_begin(dits_s3 *s3, const char *key, dits_s3_upload **out)
{
	*out = NULL;
	int rc = check_key(s3, "CreateMultipartUpload", key);
	if (rc)
		return rc;
	dits_s3_upload *up = calloc(1, sizeof(*up));
	if (!up || !(up->key = strdup(key))) {
		free(up);
		return dits_error_set(DITS_ENOMEM, "out of memory");
	}
	up->s3 = s3;
	dits_buf body = DITS_BUF_INIT;
	static const char *const hdrs[] = {"Content-Type: application/octet-stream", NULL};
	/* "uploads=", not "uploads": libcurl signs the query as written */
	s3_req r = {.op = "CreateMultipartUpload", .method = "POST", .key = key, .query = "uploads=",
	            .headers = hdrs, .out = &body};
	rc = s3_perform(s3, &r);
	if (rc == 0 && (rc = s3_xml_upload_id((const char *)body.data, body.len, &up->id)) < 0)
		dits_error_wrap(rc, "s3: CreateMultipartUpload s3://%s/%s%s", s3->bucket, s3->prefix, key);
	dits_buf_free(&body);
	if (rc) {
		upload_free(up);
		return rc;
	}
	*out = up;
	return 0;
}

/* Room for part number n's ETag (parts are numbered from 1). */
static int reserve_part(dits_s3_upload *up, size_t n)
{
	const dits_s3 *s3 = up->s3;
	if (n > MAX_PARTS)
		return dits_error_set(DITS_EINVALID, "s3: UploadPart s3://%s/%s%s: more than %d parts (raise the part size)",
		                      s3->bucket, s3->prefix, up->key, MAX_PARTS);
	if (n > up->cap) {
		size_t ncap = up->cap ? up->cap * 2 : 16;
		while (ncap < n)
			ncap *= 2;
		char **e = realloc(up->etags, ncap * sizeof(*e));
		if (!e)
			return dits_error_set(DITS_ENOMEM, "out of memory");
		memset(e + up->cap, 0, (ncap - up->cap) * sizeof(*e));
		up->etags = e;
		up->cap = ncap;
	}
	return 0;
}

/* Uploads part number part through handle h; its ETag into *etag (malloc'd). */
static int upload_part_as(dits_s3 *h, const dits_s3_upload *up, int part, const void *data, size_t len,
                          char **etag)
{
	*etag = NULL;
	dits_buf q = DITS_BUF_INIT;
	int rc = upload_query(up, &q, part);
	dits_s3_stat st;
	memset(&st, 0, sizeof(st));
	char op[32];
	snprintf(op, sizeof(op), "UploadPart %d", part);
	s3_req r = {.op = op, .method = "PUT", .key = up->key, .query = (const char *)q.data,
	            .body = data ? data : "", .body_len = len, .stat = &st};
	if (rc == 0)
		rc = s3_perform(h, &r);
	dits_buf_free(&q);
	if (rc)
		return rc;
	if (!st.etag[0])
		return dits_error_set(DITS_EIO, "s3: UploadPart %d s3://%s/%s%s: the answer has no ETag",
		                      part, h->bucket, h->prefix, up->key);
	if (!(*etag = strdup(st.etag)))
		return dits_error_set(DITS_ENOMEM, "out of memory");
	return 0;
}

int dits_s3_upload_part(dits_s3_upload *up, const void *data, size_t len)
{
	int rc = reserve_part(up, up->nparts + 1);
	if (rc)
		return rc;
	int part = (int)up->nparts + 1;
	if ((rc = upload_part_as(up->s3, up, part, data, len, &up->etags[part - 1])) < 0)
		return rc;
	up->nparts++;
	return 0;
}

static int put_xml_text(dits_buf *b, const char *s)
{
	int rc = 0;
	for (; *s && rc == 0; s++) {
		switch (*s) {
		case '&': rc = dits_buf_puts(b, "&amp;"); break;
		case '<': rc = dits_buf_puts(b, "&lt;"); break;
		case '>': rc = dits_buf_puts(b, "&gt;"); break;
		case '"': rc = dits_buf_puts(b, "&quot;"); break;
		default: rc = dits_buf_put_u8(b, (uint8_t)*s);
		}
	}
	return rc;
}

int dits_s3_upload_complete(dits_s3_upload *up)
{
	dits_s3 *s3 = up->s3;
	if (up->nparts == 0) {
		char saved[1200];
		snprintf(saved, sizeof(saved), "s3: CompleteMultipartUpload s3://%s/%s%s: no part was uploaded",
		         s3->bucket, s3->prefix, up->key);
		dits_s3_upload_abort(up);
		return dits_error_set(DITS_EINVALID, "%s", saved);
	}
	dits_buf xml = DITS_BUF_INIT, q = DITS_BUF_INIT;
	int rc = dits_buf_puts(&xml, "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
	for (size_t i = 0; i < up->nparts && rc == 0; i++) {
		rc = dits_buf_printf(&xml, "<Part><PartNumber>%zu</PartNumber><ETag>", i + 1);
		if (rc == 0)
			rc = put_xml_text(&xml, up->etags[i]);
		if (rc == 0)
			rc = dits_buf_puts(&xml, "</ETag></Part>");
	}
	if (rc == 0)
		rc = dits_buf_puts(&xml, "</CompleteMultipartUpload>");
	if (rc)
		rc = dits_error_set(DITS_ENOMEM, "out of memory");
	if (rc == 0)
		rc = upload_query(up, &q, 0);
	static const char *const hdrs[] = {"Content-Type: application/xml", NULL};
	if (rc == 0) {
		s3_req r = {.op = "CompleteMultipartUpload", .method = "POST", .key = up->key,
		            .query = (const char *)q.data, .headers = hdrs, .body = xml.data,
		            .body_len = xml.len, .error_in_body = 1};
		rc = s3_perform(s3, &r);
	}
	dits_buf_free(&xml);
	dits_buf_free(&q);
	if (rc) {
		/* the parts would otherwise stay (and be billed) until a lifecycle rule removes them */
		char saved[1024];
		snprintf(saved, sizeof(saved), "%s", dits_error_last());
		dits_s3_upload_abort(up);
		return dits_error_set(rc, "%s", saved);
	}
	upload_free(up);
	return 0;
}

int dits_s3_upload_abort(dits_s3_upload *up)
{
	if (!up)
		return 0;
	dits_buf q = DITS_BUF_INIT;
	int rc = upload_query(up, &q, 0);
	if (rc == 0) {
		s3_req r = {.op = "AbortMultipartUpload", .method = "DELETE", .key = up->key,
		            .query = (const char *)q.data};
		rc = s3_perform(up->s3, &r);
	}
	dits_buf_free(&q);
	upload_free(up);
	return rc;
}

/* Fills buf from src until it is full or src ends: the count, or a negative code. */
static ssize_t fill(dits_s3_source_fn src, void *ctx, uint8_t *buf, size_t cap, int *ended)
{
	size_t got = 0;
	*ended = 0;
	while (got < cap) {
		ssize_t n = src(ctx, buf + got, cap - got);
		if (n < 0)
			return n;
		if (n == 0) {
			*ended = 1;
			break;
		}
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/*
 * Parallel parts. The calling thread reads the source into part buffers
 * and queues them; workers, each with a handle (a connection) of its own,
 * upload them. At most upload_parallel + 1 buffers exist. The first
 * failure (a part, or the source) stops the others after their current
 * part; its message is kept, since dits_error_last() is per thread.
 */
typedef struct par_item {
	uint8_t *data;
	size_t len;
	int part;
} par_item;

typedef struct par {
	pthread_mutex_t mu;
	pthread_cond_t work, room;
	dits_s3_upload *up;
	par_item *queue;        /* a ring of upload_parallel + 1 */
	size_t qcap, qhead, qlen;
	uint8_t **spare;        /* buffers done with */
	size_t nspare;
	int reading_done;
	int rc;                 /* the first failure */
	char msg[1024];
} par;

typedef struct par_worker {
	par *p;
	dits_s3 *h;
} par_worker;

static void par_fail(par *p, int rc, const char *msg)
{
	/* under p->mu */
	if (!p->rc) {
		p->rc = rc;
		snprintf(p->msg, sizeof(p->msg), "%s", msg);
	}
	pthread_cond_broadcast(&p->work);
	pthread_cond_broadcast(&p->room);
}

static void *par_run(void *arg)
{
	par_worker *w = arg;
	par *p = w->p;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->qlen && !p->reading_done && !p->rc)
			pthread_cond_wait(&p->work, &p->mu);
		if (p->rc || !p->qlen)
			break;
		par_item it = p->queue[p->qhead];
		p->qhead = (p->qhead + 1) % p->qcap;
		p->qlen--;
		pthread_mutex_unlock(&p->mu);
		char *etag = NULL;
		int rc = upload_part_as(w->h, p->up, it.part, it.data, it.len, &etag);
		pthread_mutex_lock(&p->mu);
		if (rc)
			par_fail(p, rc, dits_error_last());
		else
			p->up->etags[it.part - 1] = etag;
		p->spare[p->nspare++] = it.data;
		pthread_cond_broadcast(&p->room);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* Uploads first (n bytes, a full part) and the rest of src as parts 1, 2, ... */
static int upload_parts(dits_s3 *s3, dits_s3_upload *up, dits_s3_source_fn src, void *ctx,
                        uint8_t *first, size_t n)
{
	int nw = s3->upload_parallel;
	par p;
	memset(&p, 0, sizeof(p));
	p.up = up;
	p.qcap = (size_t)nw + 1;
	p.queue = calloc(p.qcap, sizeof(*p.queue));
	p.spare = calloc(p.qcap + 1, sizeof(*p.spare));
	par_worker *ws = calloc((size_t)nw, sizeof(*ws));
	pthread_t *th = calloc((size_t)nw, sizeof(*th));
	if (!p.queue || !p.spare || !ws || !th) {
		free(p.queue);
		free(p.spare);
		free(ws);
		free(th);
		free(first);
		return dits_error_set(DITS_ENOMEM, "out of memory");
	}
	pthread_mutex_init(&p.mu, NULL);
	pthread_cond_init(&p.work, NULL);
	pthread_cond_init(&p.room, NULL);
	int started = 0, rc = 0;
	for (; started < nw; started++) {
		ws[started].p = &p;
		if ((rc = s3_clone(s3, &ws[started].h)) < 0)
			break;
		if (pthread_create(&th[started], NULL, par_run, &ws[started])) {
			dits_s3_close(ws[started].h);
			rc = dits_error_set(DITS_ERROR, "s3: cannot start an upload thread");
			break;
		}
	}
	size_t made = 1; /* buffers allocated */
	uint8_t *buf = first;
	int part = 1, ended = 0;
	pthread_mutex_lock(&p.mu);
	if (rc)
		par_fail(&p, rc, dits_error_last());
	while (!p.rc && started > 0) {
		if ((rc = reserve_part(up, (size_t)part)) < 0) {
			par_fail(&p, rc, dits_error_last());
			break;
		}
		p.queue[(p.qhead + p.qlen) % p.qcap] = (par_item){buf, n, part};
		p.qlen++;
		buf = NULL;
		part++;
		pthread_cond_signal(&p.work);
		if (ended)
			break;
		/* the next buffer: a spare one, a new one, or wait for one */
		while (!p.rc && !p.nspare && made >= p.qcap)
			pthread_cond_wait(&p.room, &p.mu);
		if (p.rc)
			break;
		if (p.nspare) {
			buf = p.spare[--p.nspare];
		} else {
			if (!(buf = malloc(s3->part_size))) {
				par_fail(&p, DITS_ENOMEM, "out of memory");
				break;
			}
			made++;
		}
		pthread_mutex_unlock(&p.mu);
		ssize_t got = fill(src, ctx, buf, s3->part_size, &ended);
		pthread_mutex_lock(&p.mu);
		if (got < 0) {
			par_fail(&p, (int)got, dits_error_last());
			break;
		}
		if (got == 0)
			break; /* the previous part was the last */
		n = (size_t)got;
	}
	p.reading_done = 1;
	pthread_cond_broadcast(&p.work);
	pthread_mutex_unlock(&p.mu);
	for (int i = 0; i < started; i++) {
		pthread_join(th[i], NULL);
		dits_s3_close(ws[i].h);
	}
	free(buf);
	for (size_t i = 0; i < p.nspare; i++)
		free(p.spare[i]);
	for (size_t i = 0; i < p.qlen; i++)
		free(p.queue[(p.qhead + i) % p.qcap].data);
	rc = p.rc;
	if (rc)
		dits_error_set(rc, "%s", p.msg);
	else
		up->nparts = (size_t)part - 1;
	pthread_mutex_destroy(&p.mu);
	pthread_cond_destroy(&p.work);
	pthread_cond_destroy(&p.room);
	free(p.queue);
	free(p.spare);
	free(ws);
	free(th);
	return rc;
}

int dits_s3_put_stream(dits_s3 *s3, const char *key, dits_s3_source_fn src, void *ctx)
{
	int rc = check_key(s3, "PUT", key);
	if (rc)
		return rc;
	uint8_t *buf = malloc(s3->part_size);
	if (!buf)
		return dits_error_set(DITS_ENOMEM, "out of memory (a %zu-byte part)", s3->part_size);
	int ended;
	ssize_t n = fill(src, ctx, buf, s3->part_size, &ended);
	if (n < 0) {
		free(buf);
		return (int)n;
	}
	if (ended) {
		rc = dits_s3_put(s3, key, buf, (size_t)n);
		free(buf);
		return rc;
	}
	/* a full part and perhaps more: multipart (an object of exactly one part
	 * size becomes a one-part upload, which S3 accepts) */
	dits_s3_upload *up;
	if ((rc = dits_s3_upload_begin(s3, key, &up)) < 0) {
		free(buf);
		return rc;
	}
	rc = upload_parts(s3, up, src, ctx, buf, (size_t)n);
	if (rc) {
		char saved[1024];
		snprintf(saved, sizeof(saved), "%s", dits_error_last());
		dits_s3_upload_abort(up);
		return dits_error_set(rc, "%s", saved);
	}
	return dits_s3_upload_complete(up);
}

typedef struct file_src {
	int fd;
	const char *path;
} file_src;

static ssize_t read_file(void *ctx, void *buf, size_t cap)
{
	file_src *f = ctx;
	for (;;) {
		ssize_t n = read(f->fd, buf, cap);
		if (n >= 0)
			return n;
		if (errno != EINTR)
			return dits_error_errno("%s: read", f->path);
	}
}

int dits_s3_put_file(dits_s3 *s3, const char *key, const char *path)
{
	file_src f = {open(path, O_RDONLY | O_CLOEXEC), path};
	if (f.fd < 0)
		return dits_error_errno("%s: open", path);
	int rc = dits_s3_put_stream(s3, key, read_file, &f);
	close(f.fd);
	return rc;
}
