/*
 * client.h - the sync client: remotes, push, fetch, lazy master fetch and
 * remote proxies over the wire protocol of docs/PROTOCOL.md (libcurl).
 *
 * Every response is read through the record stream parser, which hashes
 * each record before it is stored; received records go into a local pack
 * that is finished every DITS_FETCH_PACK_BYTES, so an interrupted fetch
 * keeps what arrived. Uploads are streamed from the packs (constant memory)
 * and every chunk read from them is verified too. docs/SYNC.md describes
 * the commands built on this.
 */
#ifndef DITS_CLIENT_H
#define DITS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chunker.h"
#include "hash.h"
#include "repo.h"
#include "worktree.h"

#define DITS_UPLOAD_REQUEST_BYTES (32ull << 20)   /* body of one POST objects */
#define DITS_DOWNLOAD_REQUEST_BYTES (16ull << 20) /* records asked in one objects/get */
#define DITS_FETCH_PACK_BYTES (256ull << 20)      /* a fetch finishes its pack this often */
#define DITS_DEFAULT_CONNECTIONS 4

/* How a transfer runs; every member may be zero. */
typedef struct dits_xfer_opts {
	int jobs;                     /* parallel connections (0: transfer.connections or 4) */
	uint64_t rate;                /* bytes per second over all connections, 0 = unlimited */
	const dits_progress *progress;
} dits_xfer_opts;

/* Payload bytes on the wire: request and response bodies, not headers. */
typedef struct dits_xfer_stats {
	uint64_t bytes_sent, bytes_received;
	uint64_t objects_sent, objects_received;
	uint64_t requests;
} dits_xfer_stats;

/* One remote repository and the connection settings to reach it. */
typedef struct dits_remote dits_remote;

/*
 * True when url is http(s)://HOST[:PORT]/NAME with a valid repository name;
 * otherwise why (may be NULL) receives a static reason.
 */
bool dits_remote_url_valid(const char *url, const char **why);

/*
 * Opens remote name of r: its URL from remote.NAME.url, the token from
 * DITS_TOKEN or remote.NAME.token, the CA file from remote.NAME.cainfo or
 * DITS_CAINFO. DITS_ENOTFOUND "no remote named ..." when it is not set.
 */
int dits_remote_open(dits_remote **out, dits_repo *r, const char *name);
/* The same for a URL not yet in any configuration (clone). */
int dits_remote_open_url(dits_remote **out, const char *name, const char *url);
void dits_remote_free(dits_remote *rm);
const char *dits_remote_name(const dits_remote *rm);
const char *dits_remote_url(const dits_remote *rm);
/* Totals of every request made through rm. */
const dits_xfer_stats *dits_remote_stats(const dits_remote *rm);

/* GET /NAME/refs. */
typedef struct dits_remote_refs {
	bool exists;                 /* false: the server has no such repository (404) */
	dits_chunker_params chunker;
	char *head;                  /* "refs/heads/main" or NULL */
	size_t n;
	char **names;
	dits_id *ids;
} dits_remote_refs;

int dits_remote_get_refs(dits_remote *rm, dits_remote_refs *out);
void dits_remote_refs_free(dits_remote_refs *refs);
/* The value of ref in refs, or NULL. */
const dits_id *dits_remote_refs_find(const dits_remote_refs *refs, const char *ref);

/* ---- push ----------------------------------------------------------- */

typedef struct dits_push_result {
	char ref[256];           /* refs/heads/BRANCH */
	dits_id old, new;        /* the server's value before (zero: new branch), and after */
	bool created;            /* the repository was created on the server */
	bool up_to_date;         /* nothing to do */
	uint64_t objects;        /* records uploaded */
	uint64_t variants;       /* variants registered */
	char variant_warning[512]; /* why registering variants failed, or "" */
} dits_push_result;

/*
 * Pushes refs/heads/BRANCH to the remote branch of the same name and moves
 * refs/remotes/REMOTE/BRANCH. A refused update (not a fast-forward, or the
 * branch moved meanwhile) is DITS_ECONFLICT with a one-line message.
 */
int dits_push(dits_repo *r, dits_remote *rm, const char *branch, bool force, const dits_xfer_opts *o,
              dits_push_result *res);

/* ---- fetch ---------------------------------------------------------- */

/* A file of a remote tip that gets its master, not a proxy, in a partial repository. */
typedef void (*dits_fallback_fn)(void *ctx, const char *path, const char *why);

typedef struct dits_fetch_opts {
	dits_xfer_opts xfer;
	bool partial;              /* a partial (proxy) repository */
	const char *proxy_type;    /* the variant a partial repository works with (proxy_1080p) */
	dits_fallback_fn fallback; /* called for each tip file without a ready proxy (partial) */
	void *ctx;
	/* When set (partial): called instead of fallback for each tip file
	 * whose proxy the server has queued or running; that master's chunks
	 * are left out (a later fetch brings the proxy). Unset: the master is
	 * fetched as for any file without a ready proxy. */
	dits_fallback_fn pending;
} dits_fetch_opts;

typedef struct dits_fetch_result {
	uint64_t objects;          /* metadata records received */
	uint64_t chunks;           /* chunk records received */
	uint64_t variants;         /* variants imported */
	uint64_t refs_updated;
	dits_remote_refs refs;     /* what the server said (free with dits_fetch_result_free) */
} dits_fetch_result;

/* Fetches every branch and tag of the remote; see client.h's head comment. */
int dits_fetch(dits_repo *r, dits_remote *rm, const dits_fetch_opts *o, dits_fetch_result *res);
void dits_fetch_result_free(dits_fetch_result *res);

/*
 * Fetches whatever the contents of these manifests still lack locally
 * (their metadata and chunks): the lazy master fetch of a partial
 * repository. *fetched (may be NULL) receives the chunk records received.
 */
int dits_fetch_contents(dits_repo *r, dits_remote *rm, const dits_id *manifests, size_t n,
                        const dits_xfer_opts *o, uint64_t *fetched);

/*
 * Fetches and imports the ready variants of type for these parents
 * (manifest ids): variant record, manifest and chunks. state[i] receives
 * "ready", "queued", "running", "failed" or "none" (the server has no such
 * variant); error[i] (malloc'd or NULL, free each) the reason of a failed one.
 */
int dits_fetch_variants(dits_repo *r, dits_remote *rm, const dits_id *parents, size_t n, const char *type,
                        const dits_xfer_opts *o, char (*state)[16], char **error);

/*
 * A JSON request of the server's render jobs (docs/PROTOCOL.md): method
 * "GET" or "POST" on path ("render", "render/ID"), body NULL for a GET.
 * resp receives the answer; an answer >= 400 is an error with the server's
 * one-line reason.
 */
int dits_remote_json(dits_remote *rm, const char *method, const char *path, const char *body, size_t len,
                     dits_buf *resp);

/* True when some remote of r is partial (remote.NAME.partial); *name receives it (malloc'd). */
bool dits_repo_partial_remote(dits_repo *r, char **name);

/*
 * Fetches these objects (any type) from the remote into r's store, whatever
 * their kind: what a promisor asks for. An id the remote lacks is an error
 * naming it. Takes r's lock for the moment it needs it unless r holds it.
 */
int dits_fetch_objects(dits_repo *r, dits_remote *rm, const dits_id *ids, size_t n, const dits_xfer_opts *o);

/*
 * Makes r's object store fetch on a miss: when r is a partial clone
 * (remote.NAME.partial), adds a promisor backend (odb.h) that fetches the
 * objects no local backend has from that remote, so every read through the
 * library - checkout, the mount, a media job - gets them. Does nothing for
 * a repository without a partial remote, or when called again. r must
 * outlive its store (the promisor fetches through r).
 */
int dits_repo_enable_promisor(dits_repo *r);

#endif
