/*
 * fetch.h - the batched fetches of a partial clone: before a checkout, a
 * mount or a render reads masters, what they lack is fetched from the
 * partial remote in one transfer with progress, rather than one object at
 * a time through the promisor (dits_repo_enable_promisor).
 *
 * Every function is a no-op in a repository without a partial remote. They
 * print nothing: the caller supplies a dits_fetch_report.
 */
#ifndef DITS_FETCH_H
#define DITS_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client.h"

/* How a batched fetch reports; every member may be NULL. */
typedef struct dits_fetch_report {
	const dits_progress *progress; /* the transfer's progress */
	/* After a batch: masters fetched from remote, chunk records received. */
	void (*fetched)(void *ctx, size_t masters, const char *remote, uint64_t chunks);
	void *ctx;
} dits_fetch_report;

/* True when every chunk of manifest is in r's store. */
bool dits_contents_local(dits_repo *r, const dits_id *manifest);

/*
 * The options of a fetch from rm as r is configured: partial when
 * remote.NAME.partial is true, the proxy type of proxy.resolution.
 */
void dits_fetch_opts_configured(dits_repo *r, dits_remote *rm, dits_fetch_opts *o);

/*
 * dits_fetch with the configured options and nothing reported: masters
 * whose proxy rm is still making are left out (partial). *chunks (may be
 * NULL) receives the chunk records received.
 */
int dits_fetch_configured(dits_repo *r, dits_remote *rm, uint64_t *chunks);

/* Fetches from the partial remote what these manifests' contents lack. */
int dits_fetch_masters(dits_repo *r, const dits_id *ids, size_t n, const dits_fetch_report *rep);
/*
 * ... for the masters ids (files names, for errors) whose chunks are not
 * all here; an error, naming the first such file, when there is no partial
 * remote or the fetch fails.
 */
int dits_fetch_masters_of(dits_repo *r, const dits_id *ids, char **names, size_t n, const dits_fetch_report *rep);
/* ... for the files commit changes against HEAD, except those with a local
 * ready skip_variant (may be NULL) that a checkout will write instead. */
int dits_fetch_for_commit(dits_repo *r, const dits_id *commit, const char *skip_variant,
                          const dits_fetch_report *rep);
/* ... for the files under paths (user paths; all when npaths is 0) of
 * commit, or of the index when commit is NULL (only those in proxy mode
 * when proxies_only). */
int dits_fetch_for_paths(dits_repo *r, const dits_id *commit, char **paths, int npaths, bool proxies_only,
                         const dits_fetch_report *rep);

#endif
