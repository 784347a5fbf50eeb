/*
 * refs.h - HEAD, branches and tags: the whole API is public (dits/refs.h).
 */
#ifndef DITS_REFS_H
#define DITS_REFS_H

#include "dits/refs.h"
#include "hash.h"
#include "repo.h"

/* Closes a repository's ref store (dits_repo_free() does). NULL is allowed. */
struct dits_refdb;
void dits_refdb_free(struct dits_refdb *db);

#endif
