/*
 * s3.h - a client for S3-compatible object stores (AWS S3, MinIO, s3rver).
 *
 * One dits_s3 talks to one bucket under one key prefix. Every request is
 * signed with AWS Signature Version 4 by libcurl (CURLOPT_AWS_SIGV4) with
 * the payload's SHA-256 in x-amz-content-sha256, addressed path-style
 * (ENDPOINT/BUCKET/KEY) unless virtual-host addressing is asked for, and
 * retried with exponential backoff and jitter on 5xx, throttling (429,
 * SlowDown), RequestTimeout and connection errors; never on other 4xx.
 * docs/S3.md describes the settings and the signing details.
 *
 * Every call returns 0 or a negative DITS_E* code (error.h) and leaves one
 * line in dits_error_last() naming the operation, s3://BUCKET/KEY, and the
 * store's error code and message, e.g.
 *   s3: GET s3://media/packs/p1.pack: NoSuchKey: The specified key does not exist. (HTTP 404)
 * A missing key or upload is DITS_ENOTFOUND; other failures are DITS_EIO
 * (DITS_EINVALID for bad settings or arguments).
 *
 * A dits_s3 is not thread-safe: it keeps one connection (a libcurl handle)
 * for reuse. Use one per thread.
 */
#ifndef DITS_NET_S3_H
#define DITS_NET_S3_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"

typedef struct dits_s3 dits_s3;

#define DITS_S3_MIN_PART_SIZE ((size_t)5 << 20)     /* S3's minimum for all but the last part */
#define DITS_S3_DEFAULT_PART_SIZE ((size_t)8 << 20)

/*
 * Settings. A NULL string (or 0 number) takes the value from the
 * environment, then the default:
 *   endpoint       AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, else https://s3.REGION.amazonaws.com
 *   region         AWS_REGION, AWS_DEFAULT_REGION, else us-east-1
 *   access_key     AWS_ACCESS_KEY_ID (required)
 *   secret_key     AWS_SECRET_ACCESS_KEY (required)
 *   session_token  AWS_SESSION_TOKEN (optional; sent as x-amz-security-token)
 */
typedef struct dits_s3_config {
	const char *endpoint;      /* scheme://host[:port], no path */
	const char *region;
	const char *bucket;        /* required */
	const char *prefix;        /* put before every key: "packs/" makes "x" packs/x; NULL or "" none */
	const char *access_key;
	const char *secret_key;
	const char *session_token;
	int virtual_host;          /* 1: BUCKET.host/KEY instead of host/BUCKET/KEY */
	size_t part_size;          /* multipart part size; default 8 MiB, at least 5 MiB */
	int upload_parallel;       /* parts put_stream/put_file send at once, each on its own
	                            * connection; default 4, at most 32 (memory: that many parts + 1) */
	int max_attempts;          /* tries per request, first included; default 5 */
	unsigned retry_base_ms;    /* first backoff; doubles each retry, capped at 20 s; default 200 */
	unsigned list_page;        /* max-keys of each ListObjectsV2 page; default 1000 */
	long timeout_s;            /* a request with no progress for this long fails; default 60 */
} dits_s3_config;

/*
 * Splits "s3://BUCKET/PREFIX" into its bucket and prefix (malloc'd; the
 * prefix is "" when absent, and ends in "/" when not empty). Bucket names
 * follow S3's rules: 3 to 63 of [a-z0-9.-], starting and ending with a
 * letter or digit.
 */
int dits_s3_parse_url(const char *url, char **bucket, char **prefix);

int dits_s3_open(const dits_s3_config *cfg, dits_s3 **out);
void dits_s3_close(dits_s3 *s3);

/* Receives a body's bytes in order; a non-zero return stops the transfer
 * and is returned by the call. */
typedef int (*dits_s3_sink_fn)(void *ctx, const void *data, size_t len);
/* Fills buf with up to cap bytes: returns the count, 0 at the end, or a
 * negative DITS_E* code (with its message set) to stop. */
typedef ssize_t (*dits_s3_source_fn)(void *ctx, void *buf, size_t cap);

/* Writes an object in one PUT (up to 5 GiB). */
int dits_s3_put(dits_s3 *s3, const char *key, const void *data, size_t len);
/*
 * Writes an object from a source: one PUT when it all fits in a part, else
 * a multipart upload with upload_parallel parts in flight (threads of
 * their own, each with its own connection; the source is read on the
 * calling thread only), aborted on any failure. Either way the object
 * appears whole or not at all.
 */
int dits_s3_put_stream(dits_s3 *s3, const char *key, dits_s3_source_fn src, void *ctx);
/* The same from a file. */
int dits_s3_put_file(dits_s3 *s3, const char *key, const char *path);

#define DITS_S3_TO_END UINT64_MAX
/*
 * Reads bytes [off, off+len) of an object (len DITS_S3_TO_END: to its end;
 * off 0 and len DITS_S3_TO_END: the whole object, without a Range header)
 * into a sink. A range past the end is cut short at the end; one starting
 * at or past the end fails (InvalidRange). A transfer broken midway is
 * retried from the first byte the sink has not had.
 */
int dits_s3_get_to(dits_s3 *s3, const char *key, uint64_t off, uint64_t len,
                   dits_s3_sink_fn sink, void *ctx);
/* The same, appended to out. */
int dits_s3_get(dits_s3 *s3, const char *key, dits_buf *out);
int dits_s3_get_range(dits_s3 *s3, const char *key, uint64_t off, uint64_t len, dits_buf *out);

typedef struct dits_s3_stat {
	uint64_t size;
	char etag[128]; /* as the store gives it, quotes included */
} dits_s3_stat;
int dits_s3_head(dits_s3 *s3, const char *key, dits_s3_stat *st);

/* Deletes an object; deleting a missing key succeeds, as in S3. */
int dits_s3_delete(dits_s3 *s3, const char *key);

typedef struct dits_s3_object {
	const char *key;  /* without the client's prefix */
	uint64_t size;
	const char *etag;
	int64_t mtime;    /* LastModified, seconds since 1970; 0 when the store gave none */
} dits_s3_object;
/* Called for each object in key order; a non-zero return stops and is returned. */
typedef int (*dits_s3_list_fn)(void *ctx, const dits_s3_object *obj);
/* Lists the keys that start with prefix (after the client's own prefix),
 * following continuation tokens page by page (ListObjectsV2). */
int dits_s3_list(dits_s3 *s3, const char *prefix, dits_s3_list_fn fn, void *ctx);

/*
 * Multipart upload, for callers that produce the parts themselves
 * (dits_s3_put_stream uses it). Parts are numbered 1, 2, ... in the order
 * given; each but the last must be at least 5 MiB. Nothing is visible
 * under the key until complete succeeds. complete and abort free the
 * upload whatever they return; abort removes the parts from the store.
 */
typedef struct dits_s3_upload dits_s3_upload;
int dits_s3_upload_begin(dits_s3 *s3, const char *key, dits_s3_upload **out);
int dits_s3_upload_part(dits_s3_upload *up, const void *data, size_t len);
int dits_s3_upload_complete(dits_s3_upload *up);
int dits_s3_upload_abort(dits_s3_upload *up);
const char *dits_s3_upload_id(const dits_s3_upload *up);

#endif
