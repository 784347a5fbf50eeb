/*
 * dits/refs.h - HEAD, branches (refs/heads/NAME) and tags (refs/tags/NAME).
 *
 * A ref holds a commit id. HEAD holds either the name of a branch
 * ("refs/heads/NAME") or a commit id (detached). Updates are
 * compare-and-swap: the caller states the value it expects, and the change
 * and its reflog line are made together or not at all.
 *
 * Where refs live is the repository's choice: by default files under
 * `.dits` (a ref is a file holding the id in hex, HEAD holds
 * "ref: refs/heads/NAME" or an id, updates are written to a temporary file,
 * fsynced and renamed under the repository lock, the reflog is
 * `.dits/logs/<ref>`); with `refs.url = postgres://...` in the repository's
 * config, rows of a PostgreSQL database (tables refs and reflog, keyed by
 * `metadb.repo`), so that several servers share one repository's refs.
 */
#ifndef DITS_PUBLIC_REFS_H
#define DITS_PUBLIC_REFS_H

#include <stdbool.h>
#include <stddef.h>

#include "dits/hash.h"
#include "dits/repo.h"

/* True when name is acceptable as a branch or tag name. */
bool dits_ref_name_valid(const char *name);

/*
 * Reads a ref ("HEAD", "refs/heads/main", ...), following HEAD's symbolic
 * link. DITS_ENOTFOUND when it does not exist yet (an unborn branch).
 */
int dits_ref_read(dits_repo *r, const char *ref, dits_id *out);

/*
 * The ref HEAD points at ("refs/heads/main"), malloc'd, or NULL in *out when
 * HEAD is detached.
 */
int dits_head_target(dits_repo *r, char **out);

/*
 * Sets ref to new_id if its current value equals *expected (NULL: any
 * value; a zero id: the ref must not exist). DITS_ECONFLICT otherwise.
 */
int dits_ref_update(dits_repo *r, const char *ref, const dits_id *new_id,
                    const dits_id *expected, const char *log_msg);

/* One compare-and-swap of dits_ref_update_all(). */
typedef struct dits_ref_change {
	const char *ref;
	dits_id new_id;
	dits_id expected; /* zero: the ref must not exist */
} dits_ref_change;

/*
 * Moves every ref of v (n of them) from its expected value to its new one,
 * all or nothing: DITS_ECONFLICT, naming the first ref that is not where
 * expected, and no ref moved. With refs in PostgreSQL the updates are one
 * transaction, so no other process ever sees some moved and not the
 * others; with refs in files they are made one by one and, should one fail,
 * those already made are put back (a reader may see them meanwhile).
 */
int dits_ref_update_all(dits_repo *r, const dits_ref_change *v, size_t n, const char *log_msg);

/*
 * Removes ref if its current value equals *expected (NULL: any value).
 * Removing a ref that does not exist is not an error.
 */
int dits_ref_delete(dits_repo *r, const char *ref, const dits_id *expected);

/* "files" or "postgresql": the store the repository's refs live in. */
const char *dits_refs_backend(dits_repo *r);

int dits_head_set_branch(dits_repo *r, const char *ref);
int dits_head_set_detached(dits_repo *r, const dits_id *id, const char *log_msg);

/* Calls fn for every ref under prefix ("refs/heads/"), sorted by name. */
typedef int (*dits_ref_fn)(void *ctx, const char *ref, const dits_id *id);
/* Deletes the remote-tracking refs of remote (refs/remotes/REMOTE/...). */
int dits_refs_remove_remote(dits_repo *r, const char *remote);
int dits_refs_foreach(dits_repo *r, const char *prefix, dits_ref_fn fn, void *ctx);

/*
 * Resolves a revision: a full id or unique prefix of a commit, a branch, a
 * tag or HEAD, each optionally followed by ~N (Nth first parent).
 */
int dits_revparse(dits_repo *r, const char *spec, dits_id *out);

#endif
