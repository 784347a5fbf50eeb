/*
 * repo.h - a repository: its worktree, its `.dits/` directory, its object
 * store and its configuration. The public API is dits/repo.h; this adds
 * what only the library uses.
 *
 * Commands that change the repository hold its write lock (flock on
 * `.dits/lock`), so two writers never interleave; the lock dies with its
 * process, so a killed command never leaves the repository locked.
 */
#ifndef DITS_REPO_H
#define DITS_REPO_H

#include <stdbool.h>

#include "chunker.h"
#include "config.h"
#include "dits/repo.h"
#include "odb.h"

#define DITS_FORMAT_VERSION 1

/* The config dits_repo_init() writes for params (NULL = defaults). */
int dits_repo_new_config(const dits_chunker_params *params, dits_config **out);

/* The chunker parameters the repository was created with. */
const dits_chunker_params *dits_repo_chunker_params(const dits_repo *r);

/* Its content-defined chunker, for ingesting files into it. */
const dits_chunker *dits_repo_chunker(const dits_repo *r);
/* True while r holds its write lock (dits_repo_lock). */
bool dits_repo_locked(const dits_repo *r);
/* Replaces r's object store with db, which r then owns (a server whose
 * packs live in S3); the old store is freed. */
void dits_repo_set_odb(dits_repo *r, dits_odb *db);
/* Hands r's object store to the caller, who frees it; r keeps none and
 * may then only be freed. */
dits_odb *dits_repo_take_odb(dits_repo *r);

/* Opens another view of r's local object store (the pack backend on
 * .dits/objects/pack), e.g. to see packs finished since r was opened. */
int dits_repo_odb_open(const dits_repo *r, dits_odb **out);

/* A malloc'd path inside .dits/. */
char *dits_repo_path(const dits_repo *r, const char *rel);

#endif
