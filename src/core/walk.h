/*
 * walk.h - what a commit, tree or manifest brings with it: the object graph
 * walk that push, fetch and the server's ref checks share.
 */
#ifndef DITS_WALK_H
#define DITS_WALK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hash.h"
#include "odb.h"

enum {
	DITS_WALK_CHUNKS = 1, /* also list every chunk of every manifest listed */
};

/* type is a DITS_OBJ_* value; len is the chunk's length for chunks, else 0. */
typedef int (*dits_walk_fn)(void *ctx, uint8_t type, const dits_id *id, uint32_t len);

/*
 * Lists, each once, every commit, tree, manifest and chunk list reachable
 * from want (commit, tree or manifest ids; commits through their parents),
 * and with DITS_WALK_CHUNKS every chunk of those manifests, without walking
 * into a commit of have or its ancestors, nor into the trees and manifests
 * of the have commits' own trees (the other side has those already). Ids in
 * have that the store does not hold are ignored. A missing object reachable
 * from want is DITS_ENOTFOUND naming it; a tree nested DITS_TREE_DEPTH_MAX
 * levels below a want (object.h) is DITS_ECORRUPT naming it, so the walk's
 * recursion is bounded. Each tree is walked once; its height (the longest
 * chain of trees below it) is kept, so a tree met again, or held by the other
 * side, is refused all the same when it would reach the limit from where it
 * is met. Stops on fn's non-zero return.
 */
int dits_walk(dits_odb *db, const dits_id *want, size_t nwant, const dits_id *have, size_t nhave,
              unsigned flags, dits_walk_fn fn, void *ctx);

/*
 * *yes tells whether anc is commit or one of its ancestors (a fast-forward
 * from anc to commit). A missing commit on the way is DITS_ENOTFOUND.
 */
int dits_is_ancestor(dits_odb *db, const dits_id *anc, const dits_id *commit, bool *yes);

#endif
