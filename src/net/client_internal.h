/*
 * client_internal.h - what client.c (connections, control requests) and
 * transfer.c (parallel object transfers, push, fetch) share.
 */
#ifndef DITS_CLIENT_INTERNAL_H
#define DITS_CLIENT_INTERNAL_H

#include <curl/curl.h>

#include "buf.h"
#include "client.h"

struct dits_remote {
	char *name;
	char *url;     /* http(s)://HOST:PORT/NAME, no trailing slash */
	char *token;   /* NULL: no Authorization header */
	char *cainfo;  /* NULL: the system's CA store */
	CURL *easy;    /* control requests reuse one connection */
	dits_xfer_stats st;
};

/*
 * Prepares e for a request to rm's URL + "/" + path: auth, TLS, timeouts.
 * *hdrs receives the header list to free after the request.
 */
int dits_client_setup(dits_remote *rm, CURL *e, const char *path, const char *content_type,
                      struct curl_slist **hdrs, char *errbuf);

/*
 * One control request with a body in memory: method "GET" or "POST". resp
 * receives the response body. Returns 0 for a 2xx answer; otherwise a
 * one-line error naming the remote (the server's "error" text for >= 400)
 * and *status (may be NULL) holds the HTTP status (0: no answer).
 */
int dits_client_call(dits_remote *rm, const char *method, const char *path, const void *body, size_t len,
                     const char *content_type, dits_buf *resp, long *status);

/* The error of an HTTP answer >= 400 with body resp, naming the remote. */
/*
 * Parses the JSON answer of GET refs (data, len bytes) into *out; the
 * errors name rm. Split from dits_remote_get_refs so it can be fed any bytes.
 */
int dits_remote_refs_parse(dits_remote *rm, const uint8_t *data, size_t len, dits_remote_refs *out);
int dits_client_http_error(dits_remote *rm, const char *path, long status, const dits_buf *resp);

/*
 * Retries. A request is tried up to DITS_CLIENT_TRIES times when its
 * failure is transient: dits_client_transient() says so for a failure with
 * curl code cc (CURLE_OK: an answer with HTTP status came): no connection
 * could be made, or the server answered 503 (it did nothing: busy, or
 * shedding load); and, for a request that may be repeated whatever the
 * server did with it (replayable: reads, object uploads, which are content
 * addressed), a connection closed or reset before the whole answer came.
 * Between tries the client waits dits_client_backoff_ms(tries done).
 */
#define DITS_CLIENT_TRIES 8
bool dits_client_transient(CURLcode cc, long status, bool replayable);
unsigned dits_client_backoff_ms(int tries);

/* transfer.connections of r, or the default, overridden by o->jobs. */
int dits_client_jobs(dits_repo *r, const dits_xfer_opts *o);

#endif
