/*
 * test_s3_sigv4 - the S3 client's SigV4 signatures.
 *
 * 1. An independent SigV4 implementation (OpenSSL HMAC-SHA256, written
 *    here from the algorithm, sharing no code with the client) is checked
 *    against the four S3 examples AWS publishes in "Authenticating Requests:
 *    Using the Authorization Header (AWS Signature Version 4)" (GET Object
 *    with a Range, PUT Object, GET Bucket Lifecycle, GET Bucket (List
 *    Objects); key AKIAIOSFODNN7EXAMPLE, 20130524T000000Z, us-east-1).
 * 2. The client sends those same four requests, signed by libcurl at the
 *    published time, to a listener in this test that records them: the
 *    Authorization header must carry the published signature.
 * 3. The client's requests at the current time (keys and queries with
 *    characters that need encoding, a continuation token, multipart
 *    queries, a session token) are recorded and their signatures checked
 *    with the independent implementation, which canonicalizes the request
 *    as S3 does from what arrived on the wire; and a wrong secret must not
 *    verify.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "../unit/check.h"
#include "error.h"
#include "s3_internal.h"

#define AK "AKIAIOSFODNN7EXAMPLE"
#define SK "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define EMPTY_SHA "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* ---- the independent implementation ---- */

static void hex(const unsigned char *d, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

static void sha256_hex(const void *d, size_t n, char out[65])
{
	unsigned char md[32];
	unsigned int len;
	EVP_Digest(d, n, md, &len, EVP_sha256(), NULL);
	hex(md, 32, out);
}

static void hmac(const void *key, size_t klen, const char *msg, unsigned char out[32])
{
	unsigned int len = 32;
	HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg), out, &len);
}

/* The signature of a canonical request, AWS's algorithm step by step. */
static void sign_canonical(const char *secret, const char *amz_date, const char *region,
                           const char *canonical, char sig[65])
{
	char day[9], scope[128], hash[65];
	memcpy(day, amz_date, 8);
	day[8] = 0;
	snprintf(scope, sizeof(scope), "%s/%s/s3/aws4_request", day, region);
	sha256_hex(canonical, strlen(canonical), hash);
	char sts[512];
	snprintf(sts, sizeof(sts), "AWS4-HMAC-SHA256\n%s\n%s\n%s", amz_date, scope, hash);
	char k0[128];
	snprintf(k0, sizeof(k0), "AWS4%s", secret);
	unsigned char k1[32], k2[32], k3[32], k4[32], s[32];
	hmac(k0, strlen(k0), day, k1);
	hmac(k1, 32, region, k2);
	hmac(k2, 32, "s3", k3);
	hmac(k3, 32, "aws4_request", k4);
	hmac(k4, 32, sts, s);
	hex(s, 32, sig);
}

/* ---- part 1: the published examples through the independent implementation ---- */

static void published_vectors(void)
{
	const char *host = "host:examplebucket.s3.amazonaws.com\n";
	char c[2048], sig[65];
	char put_hash[65];
	sha256_hex("Welcome to Amazon S3.", 21, put_hash);
	CHECK(!strcmp(put_hash, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"));

	snprintf(c, sizeof(c), "GET\n/test.txt\n\n%srange:bytes=0-9\nx-amz-content-sha256:%s\nx-amz-date:20130524T000000Z\n\n"
	         "host;range;x-amz-content-sha256;x-amz-date\n%s", host, EMPTY_SHA, EMPTY_SHA);
	sign_canonical(SK, "20130524T000000Z", "us-east-1", c, sig);
	CHECK(!strcmp(sig, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"));

	snprintf(c, sizeof(c), "PUT\n/test%%24file.text\n\ndate:Fri, 24 May 2013 00:00:00 GMT\n%s"
	         "x-amz-content-sha256:%s\nx-amz-date:20130524T000000Z\nx-amz-storage-class:REDUCED_REDUNDANCY\n\n"
	         "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class\n%s", host, put_hash, put_hash);
	sign_canonical(SK, "20130524T000000Z", "us-east-1", c, sig);
	CHECK(!strcmp(sig, "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"));

	snprintf(c, sizeof(c), "GET\n/\nlifecycle=\n%sx-amz-content-sha256:%s\nx-amz-date:20130524T000000Z\n\n"
	         "host;x-amz-content-sha256;x-amz-date\n%s", host, EMPTY_SHA, EMPTY_SHA);
	sign_canonical(SK, "20130524T000000Z", "us-east-1", c, sig);
	CHECK(!strcmp(sig, "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"));

	snprintf(c, sizeof(c), "GET\n/\nmax-keys=2&prefix=J\n%sx-amz-content-sha256:%s\nx-amz-date:20130524T000000Z\n\n"
	         "host;x-amz-content-sha256;x-amz-date\n%s", host, EMPTY_SHA, EMPTY_SHA);
	sign_canonical(SK, "20130524T000000Z", "us-east-1", c, sig);
	CHECK(!strcmp(sig, "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"));

	/* and it can fail: one byte of the secret changed */
	sign_canonical("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEz", "20130524T000000Z", "us-east-1", c, sig);
	CHECK(strcmp(sig, "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7") != 0);
}

/* ---- the recording listener ---- */

typedef struct rec {
	char method[16];
	char target[4096];       /* path?query as sent */
	char headers[64][2][1024];
	int nheaders;
	unsigned char *body;
	size_t body_len;
} rec;

static rec last;
static int listen_fd;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int nrequests;

static const char *header(const rec *r, const char *name)
{
	for (int i = 0; i < r->nheaders; i++)
		if (!strcasecmp(r->headers[i][0], name))
			return r->headers[i][1];
	return NULL;
}

static int count_header(const rec *r, const char *name)
{
	int n = 0;
	for (int i = 0; i < r->nheaders; i++)
		n += !strcasecmp(r->headers[i][0], name);
	return n;
}

static void send_all(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t k = write(fd, s, n);
		if (k <= 0)
			return;
		s += k;
		n -= (size_t)k;
	}
}

static void answer(int fd, const rec *r)
{
	char resp[4096];
	const char *body = "";
	const char *status = "200 OK";
	char extra[256] = "";
	if (strstr(r->target, "uploads=")) {
		body = "<?xml version=\"1.0\"?><InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key>"
		       "<UploadId>up/load+id=1</UploadId></InitiateMultipartUploadResult>";
	} else if (strstr(r->target, "partNumber=")) {
		snprintf(extra, sizeof(extra), "ETag: \"etag-part\"\r\n");
	} else if (!strcmp(r->method, "POST") && strstr(r->target, "uploadId=")) {
		body = "<CompleteMultipartUploadResult><ETag>\"x-2\"</ETag></CompleteMultipartUploadResult>";
	} else if (strstr(r->target, "list-type=2") && !strstr(r->target, "continuation-token")) {
		body = "<ListBucketResult><IsTruncated>true</IsTruncated><Contents><Key>J x/1</Key><Size>1</Size>"
		       "<ETag>\"e\"</ETag></Contents><NextContinuationToken>a+b/c==&amp;d</NextContinuationToken></ListBucketResult>";
	} else if (strstr(r->target, "list-type=2")) {
		body = "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>J x/2</Key><Size>2</Size>"
		       "<ETag>\"f\"</ETag></Contents></ListBucketResult>";
	} else if (!strcmp(r->method, "GET") && header(r, "range")) {
		status = "206 Partial Content";
		body = "0123456789";
	}
	int n = snprintf(resp, sizeof(resp), "HTTP/1.1 %s\r\nContent-Length: %zu\r\nConnection: close\r\n%s\r\n%s",
	                 status, strcmp(r->method, "HEAD") ? strlen(body) : 0, extra,
	                 strcmp(r->method, "HEAD") ? body : "");
	send_all(fd, resp, (size_t)n);
}

static void copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, src, n);
	dst[n] = 0;
}

static void *listener(void *arg)
{
	(void)arg;
	for (;;) {
		int fd = accept(listen_fd, NULL, NULL);
		if (fd < 0)
			return NULL;
		static char buf[1 << 20];
		size_t got = 0;
		char *end = NULL;
		while (!end && got < sizeof(buf) - 1) {
			ssize_t k = read(fd, buf + got, sizeof(buf) - 1 - got);
			if (k <= 0)
				break;
			got += (size_t)k;
			buf[got] = 0;
			end = strstr(buf, "\r\n\r\n");
		}
		if (!end) {
			close(fd);
			continue;
		}
		rec r;
		memset(&r, 0, sizeof(r));
		*end = 0;
		char *line = buf, *next;
		int first = 1;
		for (; line; line = next) {
			next = strstr(line, "\r\n");
			if (next) {
				*next = 0;
				next += 2;
			}
			if (first) {
				sscanf(line, "%15s %4095s", r.method, r.target);
				first = 0;
			} else if (r.nheaders < 64) {
				char *colon = strchr(line, ':');
				if (!colon)
					continue;
				*colon = 0;
				char *v = colon + 1;
				while (*v == ' ')
					v++;
				copy_str(r.headers[r.nheaders][0], 1024, line);
				for (char *p = r.headers[r.nheaders][0]; *p; p++)
					*p = (char)tolower((unsigned char)*p);
				copy_str(r.headers[r.nheaders][1], 1024, v);
				r.nheaders++;
			}
		}
		const char *cl = header(&r, "content-length");
		size_t want = cl ? strtoul(cl, NULL, 10) : 0;
		const char *expect = header(&r, "expect");
		size_t have = got - (size_t)(end + 4 - buf);
		r.body = malloc(want + 1);
		memcpy(r.body, end + 4, have < want ? have : want);
		if (expect && have < want)
			send_all(fd, "HTTP/1.1 100 Continue\r\n\r\n", 25);
		while (have < want) {
			ssize_t k = read(fd, r.body + have, want - have);
			if (k <= 0)
				break;
			have += (size_t)k;
		}
		r.body_len = have;
		pthread_mutex_lock(&mu);
		free(last.body);
		last = r;
		nrequests++;
		pthread_mutex_unlock(&mu);
		answer(fd, &r);
		close(fd);
	}
}

/* "SignedHeaders=a;b" and "Signature=hex" of an Authorization header */
static int auth_parts(const char *auth, char *signed_headers, size_t cap, char sig[65], char *cred, size_t ccap)
{
	const char *sh = auth ? strstr(auth, "SignedHeaders=") : NULL;
	const char *sg = auth ? strstr(auth, "Signature=") : NULL;
	const char *cr = auth ? strstr(auth, "Credential=") : NULL;
	if (!sh || !sg || !cr || strncmp(auth, "AWS4-HMAC-SHA256 ", 17))
		return -1;
	sh += 14;
	size_t n = strcspn(sh, ", ");
	if (n >= cap)
		return -1;
	memcpy(signed_headers, sh, n);
	signed_headers[n] = 0;
	cr += 11;
	n = strcspn(cr, ", ");
	if (n >= ccap)
		return -1;
	memcpy(cred, cr, n);
	cred[n] = 0;
	snprintf(sig, 65, "%s", sg + 10);
	return strlen(sig) == 64 ? 0 : -1;
}

/* ---- part 2: libcurl, driven by the client, at the published time ---- */

static dits_s3 *open_example(int port, const char *amz_date)
{
	dits_s3_config cfg = {0};
	cfg.endpoint = "http://s3.amazonaws.com";
	cfg.region = "us-east-1";
	cfg.bucket = "examplebucket";
	cfg.access_key = AK;
	cfg.secret_key = SK;
	cfg.virtual_host = 1;
	cfg.max_attempts = 1;
	dits_s3 *s3 = NULL;
	CHECK_RC(dits_s3_open(&cfg, &s3), 0);
	char to[128];
	snprintf(to, sizeof(to), "examplebucket.s3.amazonaws.com:80:127.0.0.1:%d", port);
	CHECK_RC(s3_set_test_hooks(s3, amz_date, to), 0);
	return s3;
}

static void check_published(const char *what, const char *want_signed, const char *want_sig)
{
	char sh[512], sig[65], cred[256];
	pthread_mutex_lock(&mu);
	int ok = auth_parts(header(&last, "authorization"), sh, sizeof(sh), sig, cred, sizeof(cred)) == 0;
	pthread_mutex_unlock(&mu);
	CHECK(ok);
	if (!ok)
		return;
	if (strcmp(sh, want_signed) || strcmp(sig, want_sig) ||
	    strcmp(cred, AK "/20130524/us-east-1/s3/aws4_request")) {
		fprintf(stderr, "%s: signed %s sig %s cred %s\n  want %s sig %s\n", what, sh, sig, cred, want_signed, want_sig);
		CHECK(!"libcurl's signature is the published one");
	} else {
		CHECK(1);
	}
}

static void libcurl_at_published_time(int port)
{
	dits_s3 *s3 = open_example(port, "20130524T000000Z");
	if (!s3)
		return;
	dits_buf b = DITS_BUF_INIT;
	CHECK_RC(dits_s3_get_range(s3, "test.txt", 0, 10, &b), 0);
	CHECK(b.len == 10 && !memcmp(b.data, "0123456789", 10));
	CHECK(!strcmp(last.target, "/test.txt"));
	CHECK(header(&last, "range") && !strcmp(header(&last, "range"), "bytes=0-9"));
	check_published("GET Object", "host;range;x-amz-content-sha256;x-amz-date",
	                "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");

	static const char *const put_hdrs[] = {"Date: Fri, 24 May 2013 00:00:00 GMT",
	                                       "x-amz-storage-class: REDUCED_REDUNDANCY", NULL};
	s3_req put = {.op = "PUT", .method = "PUT", .key = "test$file.text", .headers = put_hdrs,
	              .body = "Welcome to Amazon S3.", .body_len = 21};
	CHECK_RC(s3_perform(s3, &put), 0);
	CHECK(!strcmp(last.target, "/test%24file.text"));
	CHECK(last.body_len == 21 && !memcmp(last.body, "Welcome to Amazon S3.", 21));
	check_published("PUT Object", "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
	                "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");

	s3_req lc = {.op = "GET", .method = "GET", .query = "lifecycle="};
	CHECK_RC(s3_perform(s3, &lc), 0);
	CHECK(!strcmp(last.target, "/?lifecycle="));
	check_published("GET Bucket Lifecycle", "host;x-amz-content-sha256;x-amz-date",
	                "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");

	s3_req ls = {.op = "LIST", .method = "GET", .query = "max-keys=2&prefix=J"};
	CHECK_RC(s3_perform(s3, &ls), 0);
	check_published("GET Bucket (List Objects)", "host;x-amz-content-sha256;x-amz-date",
	                "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
	dits_buf_free(&b);
	dits_s3_close(s3);
}

/* ---- part 3: requests at the current time, verified independently ---- */

static int from_hex(int c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decodes %XX in s[0..n) and encodes the result the S3 way into out. */
static void recode(const char *s, size_t n, int keep_slash, dits_buf *out)
{
	char *dec = malloc(n + 1);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n + 0 + 1 && from_hex(s[i + 1]) >= 0 && from_hex(s[i + 2]) >= 0) {
			dec[k++] = (char)(from_hex(s[i + 1]) * 16 + from_hex(s[i + 2]));
			i += 2;
		} else {
			dec[k++] = s[i];
		}
	}
	dec[k] = 0;
	for (size_t i = 0; i < k; i++) {
		unsigned char c = (unsigned char)dec[i];
		if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || (keep_slash && c == '/'))
			dits_buf_put_u8(out, c);
		else
			dits_buf_printf(out, "%%%02X", c);
	}
	free(dec);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Rebuilds the canonical request of what arrived and checks its signature with secret. */
static int verify_recorded(const rec *r, const char *secret, const char *region)
{
	char sh[512], sig[65], cred[256];
	if (auth_parts(header(r, "authorization"), sh, sizeof(sh), sig, cred, sizeof(cred)))
		return -1;
	const char *date = header(r, "x-amz-date");
	const char *ph = header(r, "x-amz-content-sha256");
	if (!date || !ph || count_header(r, "x-amz-date") != 1)
		return -1;
	char body_hash[65];
	sha256_hex(r->body ? (const void *)r->body : "", r->body_len, body_hash);
	if (strcmp(ph, body_hash))
		return -2;
	dits_buf c = DITS_BUF_INIT;
	dits_buf_printf(&c, "%s\n", r->method);
	const char *q = strchr(r->target, '?');
	size_t plen = q ? (size_t)(q - r->target) : strlen(r->target);
	recode(r->target, plen, 1, &c);
	dits_buf_puts(&c, "\n");
	/* the query: each name and value decoded, encoded, then sorted */
	char *parts[64];
	int np = 0;
	if (q) {
		char *dup = strdup(q + 1);
		for (char *save, *t = strtok_r(dup, "&", &save); t && np < 64; t = strtok_r(NULL, "&", &save)) {
			dits_buf p = DITS_BUF_INIT;
			char *eq = strchr(t, '=');
			recode(t, eq ? (size_t)(eq - t) : strlen(t), 0, &p);
			dits_buf_puts(&p, "=");
			if (eq)
				recode(eq + 1, strlen(eq + 1), 0, &p);
			dits_buf_cstr(&p);
			parts[np++] = (char *)p.data;
		}
		free(dup);
	}
	qsort(parts, (size_t)np, sizeof(*parts), cmp_str);
	for (int i = 0; i < np; i++) {
		dits_buf_printf(&c, "%s%s", i ? "&" : "", parts[i]);
		free(parts[i]);
	}
	dits_buf_puts(&c, "\n");
	char list[512];
	snprintf(list, sizeof(list), "%s", sh);
	for (char *save, *h = strtok_r(list, ";", &save); h; h = strtok_r(NULL, ";", &save)) {
		const char *v = header(r, h);
		if (!v || count_header(r, h) != 1) {
			dits_buf_free(&c);
			return -1;
		}
		dits_buf_printf(&c, "%s:%s\n", h, v);
	}
	dits_buf_printf(&c, "\n%s\n%s", sh, ph);
	dits_buf_cstr(&c);
	char want[65];
	sign_canonical(secret, date, region, (const char *)c.data, want);
	dits_buf_free(&c);
	char scope[128];
	snprintf(scope, sizeof(scope), "/%.8s/%s/s3/aws4_request", date, region);
	if (!strstr(cred, scope) || !strstr(sh, "host") || !strstr(sh, "x-amz-content-sha256") || !strstr(sh, "x-amz-date"))
		return -1;
	return strcmp(want, sig) ? -3 : 0;
}

static void check_recorded(const char *what, const char *secret)
{
	pthread_mutex_lock(&mu);
	int v = verify_recorded(&last, secret, "eu-west-3");
	int wrong = verify_recorded(&last, "not-the-secret", "eu-west-3");
	pthread_mutex_unlock(&mu);
	if (v != 0)
		fprintf(stderr, "%s: %s %s does not verify (%d)\n", what, last.method, last.target, v);
	CHECK(v == 0);
	CHECK(wrong == -3);
}

static int count_list(void *ctx, const dits_s3_object *o)
{
	int *n = ctx;
	(*n)++;
	return strncmp(o->key, "x/", 2) ? dits_error_set(DITS_ERROR, "key %s", o->key) : 0;
}

static void current_time(int port)
{
	char ep[64];
	snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", port);
	dits_s3_config cfg = {0};
	cfg.endpoint = ep;
	cfg.region = "eu-west-3";
	cfg.bucket = "dits-bucket";
	cfg.prefix = "pre fix/";
	cfg.access_key = "AKIDTEST";
	cfg.secret_key = "sec/ret+KEY";
	cfg.session_token = "token/with+chars==";
	cfg.max_attempts = 1;
	dits_s3 *s3 = NULL;
	CHECK_RC(dits_s3_open(&cfg, &s3), 0);
	if (!s3)
		return;
	const char *key = "dir/a b+c=d&e$f~g(h)\xc3\xa9!*'.bin";
	CHECK_RC(dits_s3_put(s3, key, "payload", 7), 0);
	CHECK(!strcmp(last.target, "/dits-bucket/pre%20fix/dir/a%20b%2Bc%3Dd%26e%24f~g%28h%29%C3%A9%21%2A%27.bin"));
	CHECK(header(&last, "x-amz-security-token") && !strcmp(header(&last, "x-amz-security-token"), "token/with+chars=="));
	CHECK(strstr(header(&last, "authorization"), "x-amz-security-token") != NULL);
	check_recorded("PUT", "sec/ret+KEY");

	dits_buf b = DITS_BUF_INIT;
	CHECK_RC(dits_s3_get_range(s3, key, 3, 10, &b), 0);
	CHECK(header(&last, "range") && !strcmp(header(&last, "range"), "bytes=3-12"));
	check_recorded("GET range", "sec/ret+KEY");

	int n = 0;
	CHECK_RC(dits_s3_list(s3, "J x/", count_list, &n), 0); /* two pages; the keys lack the prefix, so none counted */
	CHECK(strstr(last.target, "continuation-token=a%2Bb%2Fc%3D%3D%26d&list-type=2&max-keys=1000&prefix=pre%20fix%2FJ%20x%2F") != NULL);
	check_recorded("LIST page 2", "sec/ret+KEY");
	CHECK(n == 0);

	dits_s3_upload *up = NULL;
	CHECK_RC(dits_s3_upload_begin(s3, "big", &up), 0);
	CHECK(strstr(last.target, "?uploads=") != NULL);
	check_recorded("CreateMultipartUpload", "sec/ret+KEY");
	if (up) {
		CHECK(!strcmp(dits_s3_upload_id(up), "up/load+id=1"));
		CHECK_RC(dits_s3_upload_part(up, "part", 4), 0);
		CHECK(strstr(last.target, "?partNumber=1&uploadId=up%2Fload%2Bid%3D1") != NULL);
		check_recorded("UploadPart", "sec/ret+KEY");
		CHECK_RC(dits_s3_upload_complete(up), 0);
		CHECK(!strcmp(last.method, "POST") && strstr(last.target, "?uploadId=up%2Fload%2Bid%3D1") != NULL);
		CHECK(last.body_len > 0 && strstr((char *)last.body, "<ETag>&quot;etag-part&quot;</ETag>") != NULL);
		check_recorded("CompleteMultipartUpload", "sec/ret+KEY");
	}
	dits_s3_stat st;
	CHECK_RC(dits_s3_head(s3, key, &st), 0);
	check_recorded("HEAD", "sec/ret+KEY");
	CHECK_RC(dits_s3_delete(s3, key), 0);
	CHECK(!strcmp(last.method, "DELETE"));
	check_recorded("DELETE", "sec/ret+KEY");
	dits_buf_free(&b);
	dits_s3_close(s3);
}

static void parse_urls(void)
{
	char *b, *p;
	CHECK_RC(dits_s3_parse_url("s3://media-bucket/packs/main", &b, &p), 0);
	CHECK(b && p && !strcmp(b, "media-bucket") && !strcmp(p, "packs/main/"));
	free(b);
	free(p);
	CHECK_RC(dits_s3_parse_url("s3://media-bucket", &b, &p), 0);
	CHECK(b && p && !strcmp(b, "media-bucket") && !strcmp(p, ""));
	free(b);
	free(p);
	CHECK_RC(dits_s3_parse_url("s3://Media/x", &b, &p), DITS_EINVALID);
	CHECK(strstr(dits_error_last(), "s3://Media/x") != NULL);
	CHECK_RC(dits_s3_parse_url("http://x/y", &b, &p), DITS_EINVALID);
	CHECK_RC(dits_s3_parse_url("s3://ok-bucket//x", &b, &p), DITS_EINVALID);
}

/* LastModified in listings: with or without fraction, else unknown (0). */
static void list_times(void)
{
	const char *xml = "<ListBucketResult><IsTruncated>false</IsTruncated>"
	                  "<Contents><Key>a</Key><LastModified>2026-12-06T22:01:46.123Z</LastModified><ETag>e</ETag><Size>1</Size></Contents>"
	                  "<Contents><Key>b</Key><LastModified>1970-01-02T00:00:00Z</LastModified><ETag>e</ETag><Size>1</Size></Contents>"
	                  "<Contents><Key>c</Key><LastModified>yesterday</LastModified><ETag>e</ETag><Size>1</Size></Contents>"
	                  "<Contents><Key>d</Key><LastModified>2026-12-06T22:01:46+01:00</LastModified><ETag>e</ETag><Size>1</Size></Contents>"
	                  "<Contents><Key>e</Key><ETag>e</ETag><Size>1</Size></Contents></ListBucketResult>";
	s3_list_page page;
	CHECK_RC(s3_xml_list(xml, strlen(xml), &page), 0);
	CHECK_EQ_U64(page.n, 5);
	if (page.n == 5) {
		CHECK(page.items[0].mtime == 1796594506);
		CHECK(page.items[1].mtime == 86400);
		CHECK(page.items[2].mtime == 0);
		CHECK(page.items[3].mtime == 0);
		CHECK(page.items[4].mtime == 0);
	}
	s3_list_page_free(&page);
}

int main(void)
{
	published_vectors();
	parse_urls();
	list_times();

	listen_fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	if (bind(listen_fd, (struct sockaddr *)&a, sizeof(a)) || listen(listen_fd, 16) ||
	    getsockname(listen_fd, (struct sockaddr *)&a, &alen)) {
		perror("listener");
		return 1;
	}
	int port = ntohs(a.sin_port);
	pthread_t th;
	pthread_create(&th, NULL, listener, NULL);

	libcurl_at_published_time(port);
	current_time(port);
	CHECK(nrequests >= 13);

	shutdown(listen_fd, SHUT_RDWR);
	close(listen_fd);
	pthread_join(th, NULL);
	free(last.body);
	return check_done();
}
