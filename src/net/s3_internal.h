/*
 * s3_internal.h - the parts of the S3 client that the tests and the fuzz
 * target reach directly: the XML response parsers (no network, no DTD, no
 * entity expansion), key encoding, and one signed request with extra
 * headers and a fixed signing time (the SigV4 test vectors).
 */
#ifndef DITS_NET_S3_INTERNAL_H
#define DITS_NET_S3_INTERNAL_H

#include <stdint.h>

#include "s3.h"

/* ---- XML responses (s3_xml.c) ---- */

/*
 * An <Error> document: sets *code and *message (malloc'd; "" when the
 * element is absent) and returns 0. DITS_ENOTFOUND when the document is
 * well-formed but its root is not <Error>; DITS_EINVALID when it is not a
 * well-formed document without a DTD.
 */
int s3_xml_error(const char *xml, size_t len, char **code, char **message);

typedef struct s3_list_item {
	char *key, *etag;
	uint64_t size;
	int64_t mtime; /* LastModified, seconds since 1970; 0 unknown */
} s3_list_item;

typedef struct s3_list_page {
	s3_list_item *items;
	size_t n;
	int truncated;
	char *next_token; /* NextContinuationToken, or NULL */
} s3_list_page;

/* A <ListBucketResult> (ListObjectsV2). 0, or DITS_EINVALID with the reason. */
int s3_xml_list(const char *xml, size_t len, s3_list_page *page);
void s3_list_page_free(s3_list_page *page);

/* The UploadId of an <InitiateMultipartUploadResult>. */
int s3_xml_upload_id(const char *xml, size_t len, char **upload_id);

/* Appends s URI-encoded as SigV4 wants: every byte but A-Z a-z 0-9 - . _ ~
 * as %XX (upper case), and '/' too unless keep_slash. */
int s3_uri_encode(dits_buf *b, const char *s, int keep_slash);

/* ---- one request (s3.c) ---- */

typedef struct s3_req {
	const char *op;                /* for messages: "GET", "PUT", "LIST", ... */
	const char *method;            /* HTTP method */
	const char *key;               /* NULL: the bucket itself; else after the client's prefix */
	const char *query;             /* sorted and encoded, without '?'; NULL none */
	const char *const *headers;    /* more "Name: value" lines, NULL-terminated; NULL none */
	const void *body;              /* PUT and POST */
	size_t body_len;
	int ranged;                    /* send Range: bytes=off-(off+len-1) */
	uint64_t off, len;
	dits_s3_sink_fn sink;          /* 2xx body; NULL: into out */
	void *sink_ctx;
	dits_buf *out;                 /* 2xx body when no sink; NULL: dropped */
	int error_in_body;             /* a 200 whose body is an <Error> fails (CompleteMultipartUpload) */
	dits_s3_stat *stat;            /* Content-Length and ETag of the answer */
} s3_req;

int s3_perform(dits_s3 *s3, const s3_req *req);

/*
 * For the signing tests: every request is signed as at amz_date
 * ("20130524T000000Z", sent as the x-amz-date header, which libcurl then
 * signs with) and its connection goes to connect_to (libcurl's
 * CURLOPT_CONNECT_TO syntax, "HOST:PORT:ADDR:PORT") while the Host header
 * keeps the endpoint's name. NULL clears each.
 */
int s3_set_test_hooks(dits_s3 *s3, const char *amz_date, const char *connect_to);

#endif
