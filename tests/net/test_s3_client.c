/*
 * test_s3_client - the S3 client against a real S3 server on loopback.
 *
 * The test starts tests/s3/server.mjs: s3rver behind a proxy that checks
 * every request's SigV4 signature with the AWS SDK's own signer (403 when
 * it does not match) and injects faults on request. It then exercises
 * every operation: PUT, streamed and file uploads, multipart (20 MiB in
 * 5 MiB parts), whole and ranged GETs at odd offsets, HEAD, DELETE, LIST
 * with continuation tokens, errors (a missing key, a wrong secret),
 * retries on injected 503/SlowDown/dropped connections, no retry on other
 * 4xx, and aborted uploads that leave nothing visible.
 *
 *   test_s3_client           the client on its own
 *   test_s3_client interop   with the AWS SDK for JavaScript: an object this
 *                            client wrote is read back by the SDK byte for
 *                            byte, and one the SDK wrote is read by this client
 *
 * SRCDIR is the source tree (tests/s3 with its node_modules, from
 * `npm ci` in scripts/install-deps.sh).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "../unit/check.h"
#include "error.h"
#include "s3.h"
#include "s3_test_server.h"

extern char **environ;

static size_t into_buf(char *d, size_t s, size_t n, void *ud)
{
	dits_buf_put(ud, d, s * n);
	return s * n;
}

/* A control request to the proxy (not S3, not signed). */
static int control(const char *method, const char *path, const char *body, dits_buf *out)
{
	CURL *c = curl_easy_init();
	char url[256];
	snprintf(url, sizeof(url), "%s%s", s3_test_endpoint, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (body)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, into_buf);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	CURLcode rc = curl_easy_perform(c);
	long status = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	return rc == CURLE_OK && status / 100 == 2 ? 0 : -1;
}

static void fault_q(const char *match, const char *method, const char *query, const char *status,
                    const char *code, int count)
{
	char body[512];
	snprintf(body, sizeof(body),
	         "{\"match\":\"%s\",\"method\":\"%s\",\"query\":\"%s\",\"status\":%s,\"code\":\"%s\",\"count\":%d}",
	         match, method, query, status, code, count);
	dits_buf out = DITS_BUF_INIT;
	CHECK(control("POST", "/__control/fault", body, &out) == 0);
	dits_buf_free(&out);
}

static void fault(const char *match, const char *method, const char *status, const char *code, int count)
{
	fault_q(match, method, "", status, code, count);
}

typedef struct stats {
	double requests, verified, rejected, faults;
} stats;

static stats get_stats(void)
{
	stats s = {0};
	dits_buf out = DITS_BUF_INIT;
	if (control("GET", "/__control/stats", NULL, &out) == 0) {
		dits_buf_cstr(&out);
		cJSON *j = cJSON_Parse((const char *)out.data);
		s.requests = cJSON_GetNumberValue(cJSON_GetObjectItem(j, "requests"));
		s.verified = cJSON_GetNumberValue(cJSON_GetObjectItem(j, "verified"));
		s.rejected = cJSON_GetNumberValue(cJSON_GetObjectItem(j, "rejected"));
		s.faults = cJSON_GetNumberValue(cJSON_GetObjectItem(j, "faults"));
		cJSON_Delete(j);
	}
	dits_buf_free(&out);
	return s;
}

/* ---- helpers ---- */

static dits_s3 *client(const char *prefix, const char *secret, size_t part_size, unsigned list_page, int attempts)
{
	dits_s3_config cfg = {0};
	cfg.endpoint = s3_test_endpoint;
	cfg.region = "us-east-1";
	cfg.bucket = S3_TEST_BUCKET;
	cfg.prefix = prefix;
	cfg.access_key = S3_TEST_KEY_ID;
	cfg.secret_key = secret ? secret : S3_TEST_SECRET;
	cfg.part_size = part_size;
	cfg.list_page = list_page;
	cfg.max_attempts = attempts;
	cfg.retry_base_ms = 10;
	dits_s3 *s3 = NULL;
	CHECK_RC(dits_s3_open(&cfg, &s3), 0);
	if (!s3) {
		fprintf(stderr, "cannot open the client: %s\n", dits_error_last());
		exit(1);
	}
	return s3;
}

/* Deterministic bytes: byte i of stream seed. */
static uint8_t byte_at(uint64_t seed, uint64_t i)
{
	uint64_t x = (i / 8 + 1) * 0x9e3779b97f4a7c15ull ^ seed;
	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	return (uint8_t)(x >> ((i % 8) * 8));
}

static uint8_t *make_bytes(uint64_t seed, size_t n)
{
	uint8_t *b = malloc(n ? n : 1);
	for (size_t i = 0; i < n; i++)
		b[i] = byte_at(seed, i);
	return b;
}

typedef struct gen {
	uint64_t seed, pos, size, fail_at;
	unsigned step;
} gen;

/* A source that hands out odd-sized pieces (and fails at fail_at when set). */
static ssize_t gen_read(void *ctx, void *buf, size_t cap)
{
	gen *g = ctx;
	if (g->fail_at && g->pos >= g->fail_at)
		return dits_error_set(DITS_EIO, "generator: failing on purpose at byte %llu", (unsigned long long)g->pos);
	size_t n = 1 + (size_t)((g->step++ * 7919u) % 300000u);
	if (n > cap)
		n = cap;
	if (n > g->size - g->pos)
		n = (size_t)(g->size - g->pos);
	for (size_t i = 0; i < n; i++)
		((uint8_t *)buf)[i] = byte_at(g->seed, g->pos + i);
	g->pos += n;
	return (ssize_t)n;
}

static int same_bytes(const dits_buf *b, uint64_t seed, uint64_t off, uint64_t n)
{
	if (b->len != n)
		return 0;
	for (uint64_t i = 0; i < n; i++)
		if (b->data[i] != byte_at(seed, off + i))
			return 0;
	return 1;
}

typedef struct counting {
	uint64_t seed, pos;
	int bad;
} counting;

static int check_sink(void *ctx, const void *data, size_t len)
{
	counting *c = ctx;
	for (size_t i = 0; i < len; i++)
		if (((const uint8_t *)data)[i] != byte_at(c->seed, c->pos + i))
			c->bad = 1;
	c->pos += len;
	return 0;
}

static int uploads_left(void)
{
	char path[400];
	snprintf(path, sizeof(path), "%s/data/%s/._S3rver_uploads", s3_test_dir, S3_TEST_BUCKET);
	DIR *d = opendir(path);
	if (!d)
		return 0;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* ---- the client on its own ---- */

static void basics(void)
{
	dits_s3 *s3 = client("t/", NULL, 0, 0, 0);
	dits_buf b = DITS_BUF_INIT;
	CHECK_RC(dits_s3_put(s3, "hello.txt", "hello, world", 12), 0);
	CHECK_RC(dits_s3_get(s3, "hello.txt", &b), 0);
	CHECK(b.len == 12 && !memcmp(b.data, "hello, world", 12));
	dits_s3_stat st;
	CHECK_RC(dits_s3_head(s3, "hello.txt", &st), 0);
	CHECK_EQ_U64(st.size, 12);
	CHECK(st.etag[0] == '"' && strlen(st.etag) > 2);

	/* an empty object, and keys that need encoding */
	CHECK_RC(dits_s3_put(s3, "empty", "", 0), 0);
	dits_buf_reset(&b);
	CHECK_RC(dits_s3_get(s3, "empty", &b), 0);
	CHECK(b.len == 0);
	const char *odd = "dir/a b+c=d&e$f~(g)!*'\xc3\xa9.bin";
	CHECK_RC(dits_s3_put(s3, odd, "odd", 3), 0);
	dits_buf_reset(&b);
	CHECK_RC(dits_s3_get(s3, odd, &b), 0);
	CHECK(b.len == 3 && !memcmp(b.data, "odd", 3));

	/* overwrite */
	CHECK_RC(dits_s3_put(s3, "hello.txt", "bye", 3), 0);
	dits_buf_reset(&b);
	CHECK_RC(dits_s3_get(s3, "hello.txt", &b), 0);
	CHECK(b.len == 3 && !memcmp(b.data, "bye", 3));

	/* a missing key: not found, naming the object and the store's code */
	dits_buf_reset(&b);
	CHECK_RC(dits_s3_get(s3, "no/such/key", &b), DITS_ENOTFOUND);
	CHECK(strstr(dits_error_last(), "s3://" S3_TEST_BUCKET "/t/no/such/key") != NULL);
	CHECK(strstr(dits_error_last(), "NoSuchKey") != NULL);
	CHECK(strstr(dits_error_last(), "404") != NULL);
	CHECK(strchr(dits_error_last(), '\n') == NULL);
	CHECK_RC(dits_s3_head(s3, "no/such/key", &st), DITS_ENOTFOUND);
	CHECK(strstr(dits_error_last(), "HEAD s3://" S3_TEST_BUCKET "/t/no/such/key") != NULL);

	/* delete */
	CHECK_RC(dits_s3_delete(s3, odd), 0);
	CHECK_RC(dits_s3_head(s3, odd, &st), DITS_ENOTFOUND);
	CHECK_RC(dits_s3_delete(s3, odd), 0); /* a missing key deletes fine, as in S3 */
	CHECK_RC(dits_s3_get(s3, "", &b), DITS_EINVALID);
	dits_buf_free(&b);
	dits_s3_close(s3);
}

static void ranges(void)
{
	dits_s3 *s3 = client("r/", NULL, 0, 0, 0);
	const size_t n = (3u << 20) + 7;
	uint8_t *data = make_bytes(11, n);
	CHECK_RC(dits_s3_put(s3, "ranged.bin", data, n), 0);
	free(data);
	static const uint64_t cases[][2] = {
		{0, 1}, {1, 1}, {12345, 67891}, {(1u << 20) - 3, 9}, {(3u << 20) + 6, 1}, {(3u << 20), 7},
	};
	dits_buf b = DITS_BUF_INIT;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		dits_buf_reset(&b);
		CHECK_RC(dits_s3_get_range(s3, "ranged.bin", cases[i][0], cases[i][1], &b), 0);
		if (!same_bytes(&b, 11, cases[i][0], cases[i][1])) {
			fprintf(stderr, "range %llu+%llu: got %zu bytes\n", (unsigned long long)cases[i][0],
			        (unsigned long long)cases[i][1], b.len);
			CHECK(!"the range's bytes");
		}
	}
	/* a range past the end is cut at the end */
	dits_buf_reset(&b);
	CHECK_RC(dits_s3_get_range(s3, "ranged.bin", n - 10, 100, &b), 0);
	CHECK(same_bytes(&b, 11, n - 10, 10));
	/* to the end, from an odd offset, through a sink */
	counting c = {11, 777777, 0};
	CHECK_RC(dits_s3_get_to(s3, "ranged.bin", 777777, DITS_S3_TO_END, check_sink, &c), 0);
	CHECK(!c.bad);
	CHECK_EQ_U64(c.pos, n);
	/* whole */
	dits_buf_reset(&b);
	CHECK_RC(dits_s3_get(s3, "ranged.bin", &b), 0);
	CHECK(same_bytes(&b, 11, 0, n));
	/* starting at the end: InvalidRange */
	dits_buf_reset(&b);
	CHECK(dits_s3_get_range(s3, "ranged.bin", n, 1, &b) < 0);
	CHECK(strstr(dits_error_last(), "416") != NULL);
	CHECK(strstr(dits_error_last(), "s3://" S3_TEST_BUCKET "/r/ranged.bin") != NULL);
	dits_buf_free(&b);
	dits_s3_close(s3);
}

static void multipart(void)
{
	dits_s3 *s3 = client("m/", NULL, DITS_S3_MIN_PART_SIZE, 0, 0);
	stats before = get_stats();
	const uint64_t n = (20u << 20) + 123; /* 5 parts of 5 MiB and one of 123 bytes */
	gen g = {.seed = 21, .size = n};
	CHECK_RC(dits_s3_put_stream(s3, "big.bin", gen_read, &g), 0);
	stats after = get_stats();
	/* create, 5 parts, complete */
	CHECK_EQ_U64(after.requests - before.requests, 7);
	dits_s3_stat st;
	CHECK_RC(dits_s3_head(s3, "big.bin", &st), 0);
	CHECK_EQ_U64(st.size, n);
	dits_buf b = DITS_BUF_INIT;
	CHECK_RC(dits_s3_get(s3, "big.bin", &b), 0);
	CHECK(same_bytes(&b, 21, 0, n));
	/* ranges across part boundaries */
	dits_buf_reset(&b);
	CHECK_RC(dits_s3_get_range(s3, "big.bin", (5u << 20) - 5, 11, &b), 0);
	CHECK(same_bytes(&b, 21, (5u << 20) - 5, 11));
	dits_buf_reset(&b);
	CHECK_RC(dits_s3_get_range(s3, "big.bin", (15u << 20) + 1, (5u << 20) + 100, &b), 0);
	CHECK(same_bytes(&b, 21, (15u << 20) + 1, (5u << 20) + 100));

	/* a file of 6 MiB: two parts */
	char path[300];
	snprintf(path, sizeof(path), "%s/six.bin", s3_test_dir);
	uint8_t *data = make_bytes(6, 6u << 20);
	FILE *f = fopen(path, "wb");
	CHECK(f && fwrite(data, 1, 6u << 20, f) == 6u << 20);
	if (f)
		fclose(f);
	free(data);
	CHECK_RC(dits_s3_put_file(s3, "six.bin", path), 0);
	dits_buf_reset(&b);
	CHECK_RC(dits_s3_get(s3, "six.bin", &b), 0);
	CHECK(same_bytes(&b, 6, 0, 6u << 20));
	CHECK_RC(dits_s3_put_file(s3, "x", "/nonexistent/file"), DITS_ENOTFOUND);
	CHECK(strstr(dits_error_last(), "/nonexistent/file") != NULL);

	/* an aborted upload leaves no object, and no parts */
	dits_s3_upload *up = NULL;
	CHECK_RC(dits_s3_upload_begin(s3, "aborted.bin", &up), 0);
	if (up) {
		uint8_t *part = make_bytes(3, 5u << 20);
		CHECK_RC(dits_s3_upload_part(up, part, 5u << 20), 0);
		free(part);
		CHECK(uploads_left() == 1);
		CHECK_RC(dits_s3_head(s3, "aborted.bin", &st), DITS_ENOTFOUND);
		CHECK_RC(dits_s3_upload_abort(up), 0);
	}
	CHECK(uploads_left() == 0);
	CHECK_RC(dits_s3_head(s3, "aborted.bin", &st), DITS_ENOTFOUND);

	/* a source that fails after two parts: the error is the source's, nothing is visible */
	gen bad = {.seed = 5, .size = 30u << 20, .fail_at = (11u << 20)};
	CHECK_RC(dits_s3_put_stream(s3, "failed.bin", gen_read, &bad), DITS_EIO);
	CHECK(strstr(dits_error_last(), "failing on purpose") != NULL);
	CHECK_RC(dits_s3_head(s3, "failed.bin", &st), DITS_ENOTFOUND);
	CHECK(uploads_left() == 0);
	dits_buf_free(&b);
	dits_s3_close(s3);
}

typedef struct listing {
	char keys[32][64];
	uint64_t sizes[32];
	int64_t mtimes[32];
	int n;
} listing;

static int collect(void *ctx, const dits_s3_object *o)
{
	listing *l = ctx;
	if (l->n < 32) {
		snprintf(l->keys[l->n], sizeof(l->keys[0]), "%s", o->key);
		l->sizes[l->n] = o->size;
		l->mtimes[l->n] = o->mtime;
	}
	l->n++;
	return 0;
}

static int stop_at_three(void *ctx, const dits_s3_object *o)
{
	int *n = ctx;
	(void)o;
	return ++*n == 3 ? DITS_ECONFLICT : 0;
}

static void listing_pages(void)
{
	dits_s3 *s3 = client("l/", NULL, 0, 2, 0); /* two keys a page */
	char key[64];
	for (int i = 0; i < 7; i++) {
		snprintf(key, sizeof(key), "d/k%02d", i);
		CHECK_RC(dits_s3_put(s3, key, "xxxxxxxxxx", (size_t)i + 1), 0);
	}
	CHECK_RC(dits_s3_put(s3, "other", "o", 1), 0);
	stats before = get_stats();
	listing l;
	memset(&l, 0, sizeof(l));
	CHECK_RC(dits_s3_list(s3, "d/", collect, &l), 0);
	stats after = get_stats();
	CHECK_EQ_U64(l.n, 7);
	for (int i = 0; i < 7 && i < l.n; i++) {
		snprintf(key, sizeof(key), "d/k%02d", i);
		CHECK(!strcmp(l.keys[i], key));
		CHECK_EQ_U64(l.sizes[i], (uint64_t)i + 1);
		/* LastModified, in seconds: written within the last minute */
		CHECK(l.mtimes[i] > (int64_t)time(NULL) - 60 && l.mtimes[i] <= (int64_t)time(NULL) + 1);
	}
	CHECK_EQ_U64(after.requests - before.requests, 4); /* 2+2+2+1 */
	/* the whole prefix: 8 keys; and a callback that stops the listing */
	memset(&l, 0, sizeof(l));
	CHECK_RC(dits_s3_list(s3, NULL, collect, &l), 0);
	CHECK_EQ_U64(l.n, 8);
	int n = 0;
	CHECK_RC(dits_s3_list(s3, "", stop_at_three, &n), DITS_ECONFLICT);
	CHECK(n == 3);
	memset(&l, 0, sizeof(l));
	CHECK_RC(dits_s3_list(s3, "nothing-here/", collect, &l), 0);
	CHECK(l.n == 0);
	dits_s3_close(s3);
}

static void errors_and_retries(void)
{
	/* a wrong secret: 403 SignatureDoesNotMatch, not retried */
	dits_s3 *bad = client("e/", "not-the-secret", 0, 0, 0);
	stats before = get_stats();
	CHECK_RC(dits_s3_put(bad, "x", "x", 1), DITS_EIO);
	stats after = get_stats();
	CHECK(strstr(dits_error_last(), "SignatureDoesNotMatch") != NULL);
	CHECK(strstr(dits_error_last(), "403") != NULL);
	CHECK(strstr(dits_error_last(), "PUT s3://" S3_TEST_BUCKET "/e/x") != NULL);
	CHECK_EQ_U64(after.requests - before.requests, 1);
	CHECK_EQ_U64(after.rejected - before.rejected, 1);
	dits_s3_close(bad);

	dits_s3 *s3 = client("e/", NULL, DITS_S3_MIN_PART_SIZE, 0, 4);
	dits_buf b = DITS_BUF_INIT;
	CHECK_RC(dits_s3_put(s3, "retry/a", "abc", 3), 0);

	/* two 503s, then the GET goes through */
	fault("retry/a", "GET", "503", "ServiceUnavailable", 2);
	before = get_stats();
	CHECK_RC(dits_s3_get(s3, "retry/a", &b), 0);
	after = get_stats();
	CHECK(b.len == 3 && !memcmp(b.data, "abc", 3));
	CHECK_EQ_U64(after.requests - before.requests, 3);
	CHECK_EQ_U64(after.faults - before.faults, 2);

	/* SlowDown on PUT, a dropped connection on GET */
	fault("retry/a", "PUT", "503", "SlowDown", 2);
	CHECK_RC(dits_s3_put(s3, "retry/a", "abcd", 4), 0);
	fault("retry/a", "GET", "\"drop\"", "-", 1);
	before = get_stats();
	dits_buf_reset(&b);
	CHECK_RC(dits_s3_get(s3, "retry/a", &b), 0);
	after = get_stats();
	CHECK(b.len == 4 && !memcmp(b.data, "abcd", 4));
	CHECK_EQ_U64(after.requests - before.requests, 2);

	/* a body cut off midway: the retry asks only for the rest (Range), the sink
	 * sees each byte once */
	const size_t cn = (1u << 20) + 9;
	uint8_t *cdata = make_bytes(13, cn);
	CHECK_RC(dits_s3_put(s3, "retry/cut", cdata, cn), 0);
	free(cdata);
	fault("retry/cut", "GET", "\"cut\"", "-", 1);
	before = get_stats();
	counting cc = {13, 0, 0};
	CHECK_RC(dits_s3_get_to(s3, "retry/cut", 0, DITS_S3_TO_END, check_sink, &cc), 0);
	after = get_stats();
	CHECK(!cc.bad);
	CHECK_EQ_U64(cc.pos, cn);
	CHECK_EQ_U64(after.requests - before.requests, 2);
	CHECK_EQ_U64(after.faults - before.faults, 1);
	fault("retry/cut", "GET", "\"cut\"", "-", 1);
	dits_buf_reset(&b);
	CHECK_RC(dits_s3_get_range(s3, "retry/cut", 1001, 300001, &b), 0);
	CHECK(same_bytes(&b, 13, 1001, 300001));

	/* 429 and 500 are retried too */
	fault("retry/a", "HEAD", "429", "TooManyRequests", 1);
	fault("retry/a", "HEAD", "500", "InternalError", 1);
	dits_s3_stat st;
	CHECK_RC(dits_s3_head(s3, "retry/a", &st), 0);
	CHECK_EQ_U64(st.size, 4);

	/* more failures than attempts: the last error, and how many tries */
	fault("retry/a", "GET", "503", "SlowDown", 10);
	before = get_stats();
	CHECK_RC(dits_s3_get(s3, "retry/a", &b), DITS_EIO);
	after = get_stats();
	CHECK(strstr(dits_error_last(), "SlowDown") != NULL);
	CHECK(strstr(dits_error_last(), "after 4 attempts") != NULL);
	CHECK_EQ_U64(after.requests - before.requests, 4);

	/* any other 4xx is not retried */
	fault("retry/b", "PUT", "400", "InvalidArgument", 1);
	before = get_stats();
	CHECK_RC(dits_s3_put(s3, "retry/b", "x", 1), DITS_EIO);
	after = get_stats();
	CHECK(strstr(dits_error_last(), "InvalidArgument: injected fault (HTTP 400)") != NULL);
	CHECK_EQ_U64(after.requests - before.requests, 1);

	/* a part that fails once is sent again; the upload completes */
	fault("retry/mp", "PUT", "503", "ServiceUnavailable", 1);
	gen g = {.seed = 8, .size = (5u << 20) * 2 + 1};
	CHECK_RC(dits_s3_put_stream(s3, "retry/mp", gen_read, &g), 0);
	dits_buf_reset(&b);
	CHECK_RC(dits_s3_get(s3, "retry/mp", &b), 0);
	CHECK(same_bytes(&b, 8, 0, (5u << 20) * 2 + 1));

	/* CompleteMultipartUpload answering 200 with an <Error> body: retried */
	fault_q("retry/mp", "POST", "uploadId=", "200", "InternalError", 1);
	before = get_stats();
	gen g3 = {.seed = 10, .size = (5u << 20) + 2};
	CHECK_RC(dits_s3_put_stream(s3, "retry/mp", gen_read, &g3), 0);
	after = get_stats();
	CHECK_EQ_U64(after.requests - before.requests, 5); /* create, 2 parts, complete twice */
	CHECK_EQ_U64(after.faults - before.faults, 1);
	dits_buf_reset(&b);
	CHECK_RC(dits_s3_get(s3, "retry/mp", &b), 0);
	CHECK(same_bytes(&b, 10, 0, (5u << 20) + 2));
	/* and when it keeps doing so, the upload fails and is aborted */
	fault_q("retry/mp3", "POST", "uploadId=", "200", "InternalError", 10);
	gen g4 = {.seed = 10, .size = (5u << 20) + 2};
	CHECK_RC(dits_s3_put_stream(s3, "retry/mp3", gen_read, &g4), DITS_EIO);
	CHECK(strstr(dits_error_last(), "CompleteMultipartUpload s3://" S3_TEST_BUCKET "/e/retry/mp3: InternalError: injected fault (HTTP 200), after 4 attempts") != NULL);
	CHECK_RC(dits_s3_head(s3, "retry/mp3", &st), DITS_ENOTFOUND);
	CHECK(uploads_left() == 0);

	/* a part that keeps failing: the upload is aborted, nothing visible */
	fault("retry/mp2", "PUT", "503", "ServiceUnavailable", 100);
	gen g2 = {.seed = 9, .size = (5u << 20) * 2};
	CHECK_RC(dits_s3_put_stream(s3, "retry/mp2", gen_read, &g2), DITS_EIO);
	CHECK(strstr(dits_error_last(), "UploadPart ") && strstr(dits_error_last(), " s3://" S3_TEST_BUCKET "/e/retry/mp2: ServiceUnavailable") != NULL);
	CHECK_RC(dits_s3_head(s3, "retry/mp2", &st), DITS_ENOTFOUND);
	CHECK(uploads_left() == 0);

	/* a store that is not there: a connection error, retried, then reported */
	dits_s3_config cfg = {0};
	cfg.endpoint = "http://127.0.0.1:1";
	cfg.bucket = S3_TEST_BUCKET;
	cfg.access_key = S3_TEST_KEY_ID;
	cfg.secret_key = S3_TEST_SECRET;
	cfg.max_attempts = 2;
	cfg.retry_base_ms = 1;
	dits_s3 *gone = NULL;
	CHECK_RC(dits_s3_open(&cfg, &gone), 0);
	if (gone) {
		CHECK_RC(dits_s3_head(gone, "k", &st), DITS_EIO);
		CHECK(strstr(dits_error_last(), "after 2 attempts") != NULL);
		dits_s3_close(gone);
	}
	dits_buf_free(&b);
	dits_s3_close(s3);
}

static void settings(void)
{
	dits_s3_config cfg = {0};
	dits_s3 *s3 = NULL;
	cfg.bucket = "Bad_Bucket";
	CHECK_RC(dits_s3_open(&cfg, &s3), DITS_EINVALID);
	cfg.bucket = S3_TEST_BUCKET;
	cfg.endpoint = "http://127.0.0.1:9/path";
	cfg.access_key = "a";
	cfg.secret_key = "b";
	CHECK_RC(dits_s3_open(&cfg, &s3), DITS_EINVALID);
	cfg.endpoint = s3_test_endpoint;
	cfg.part_size = 1 << 20;
	CHECK_RC(dits_s3_open(&cfg, &s3), DITS_EINVALID);
	CHECK(strstr(dits_error_last(), "5 MiB") != NULL);

	/* everything from the environment */
	setenv("AWS_ENDPOINT_URL", s3_test_endpoint, 1);
	setenv("AWS_ACCESS_KEY_ID", S3_TEST_KEY_ID, 1);
	setenv("AWS_SECRET_ACCESS_KEY", S3_TEST_SECRET, 1);
	setenv("AWS_DEFAULT_REGION", "us-east-1", 1);
	unsetenv("AWS_REGION");
	unsetenv("AWS_SESSION_TOKEN");
	unsetenv("AWS_ENDPOINT_URL_S3");
	char *bucket, *prefix;
	CHECK_RC(dits_s3_parse_url("s3://" S3_TEST_BUCKET "/from/env", &bucket, &prefix), 0);
	dits_s3_config env = {0};
	env.bucket = bucket;
	env.prefix = prefix;
	CHECK_RC(dits_s3_open(&env, &s3), 0);
	if (s3) {
		CHECK_RC(dits_s3_put(s3, "k", "env", 3), 0);
		dits_s3_close(s3);
	}
	dits_s3 *plain = client(NULL, NULL, 0, 0, 0);
	dits_buf b = DITS_BUF_INIT;
	CHECK_RC(dits_s3_get(plain, "from/env/k", &b), 0);
	CHECK(b.len == 3 && !memcmp(b.data, "env", 3));
	/* a wrong region is refused by the server's signature check */
	setenv("AWS_REGION", "eu-north-1", 1);
	CHECK_RC(dits_s3_open(&env, &s3), 0);
	if (s3) {
		CHECK_RC(dits_s3_put(s3, "k", "env", 3), DITS_EIO);
		CHECK(strstr(dits_error_last(), "403") != NULL);
		dits_s3_close(s3);
	}
	unsetenv("AWS_REGION");
	free(bucket);
	free(prefix);
	dits_buf_free(&b);
	dits_s3_close(plain);
}

/* ---- with the AWS SDK ---- */

static int sdk(const char *op, const char *key, const char *file)
{
	const char *src = getenv("SRCDIR");
	char script[1024];
	snprintf(script, sizeof(script), "%s/tests/s3/sdk.mjs", src ? src : ".");
	setenv("AWS_ACCESS_KEY_ID", S3_TEST_KEY_ID, 1);
	setenv("AWS_SECRET_ACCESS_KEY", S3_TEST_SECRET, 1);
	setenv("AWS_REGION", "us-east-1", 1);
	char *argv[] = {"node", script, s3_test_endpoint, S3_TEST_BUCKET, (char *)op, (char *)key, (char *)file, NULL};
	pid_t pid;
	if (posix_spawnp(&pid, "node", NULL, NULL, argv, environ))
		return -1;
	int st;
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int file_is(const char *path, uint64_t seed, size_t n)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return 0;
	int ok = 1;
	size_t i = 0;
	int c;
	while ((c = fgetc(f)) != EOF) {
		if (i >= n || (uint8_t)c != byte_at(seed, i))
			ok = 0;
		i++;
	}
	fclose(f);
	return ok && i == n;
}

static void interop(void)
{
	dits_s3 *s3 = client("interop/", NULL, DITS_S3_MIN_PART_SIZE, 0, 0);
	char path[300];
	snprintf(path, sizeof(path), "%s/from-dits", s3_test_dir);

	/* dits writes (one PUT, and a multipart upload); the SDK reads */
	const size_t small = 100003, large = (12u << 20) + 5;
	uint8_t *data = make_bytes(31, small);
	CHECK_RC(dits_s3_put(s3, "dits/small bin+1", data, small), 0);
	free(data);
	CHECK(sdk("get", "interop/dits/small bin+1", path) == 0);
	CHECK(file_is(path, 31, small));
	gen g = {.seed = 32, .size = large};
	CHECK_RC(dits_s3_put_stream(s3, "dits/large.bin", gen_read, &g), 0);
	CHECK(sdk("get", "interop/dits/large.bin", path) == 0);
	CHECK(file_is(path, 32, large));

	/* the SDK writes; dits reads, whole and a range */
	snprintf(path, sizeof(path), "%s/from-sdk", s3_test_dir);
	const size_t n = (1u << 20) + 3;
	data = make_bytes(33, n);
	FILE *f = fopen(path, "wb");
	CHECK(f && fwrite(data, 1, n, f) == n);
	if (f)
		fclose(f);
	free(data);
	CHECK(sdk("put", "interop/sdk/obj (1).bin", path) == 0);
	dits_buf b = DITS_BUF_INIT;
	CHECK_RC(dits_s3_get(s3, "sdk/obj (1).bin", &b), 0);
	CHECK(same_bytes(&b, 33, 0, n));
	dits_buf_reset(&b);
	CHECK_RC(dits_s3_get_range(s3, "sdk/obj (1).bin", 4097, 65537, &b), 0);
	CHECK(same_bytes(&b, 33, 4097, 65537));
	dits_s3_stat st;
	CHECK_RC(dits_s3_head(s3, "sdk/obj (1).bin", &st), 0);
	CHECK_EQ_U64(st.size, n);
	/* the SDK fails on a missing key too (the script's exit status means something) */
	CHECK(sdk("get", "interop/no-such-key", path) != 0);
	dits_buf_free(&b);
	dits_s3_close(s3);
}

int main(int argc, char **argv)
{
	int with_sdk = argc > 1 && !strcmp(argv[1], "interop");
	signal(SIGPIPE, SIG_IGN);
	if (s3_test_server_start() < 0) {
		s3_test_server_stop();
		fprintf(stderr, "0 passed, 1 failed\n");
		return 1;
	}
	if (with_sdk) {
		interop();
	} else {
		basics();
		ranges();
		multipart();
		listing_pages();
		errors_and_retries();
		settings();
	}
	stats s = get_stats();
	/* every request reached the server signed; the only rejections were the wrong keys' */
	CHECK(s.requests > 0);
	CHECK_EQ_U64(s.rejected, with_sdk ? 0 : 2);
	if (check_failed_)
		s3_test_server_show_log();
	s3_test_server_stop();
	return check_done();
}
