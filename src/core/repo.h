/*
 * repo.h - a repository: its worktree, its `.dits/` directory, its object
 * store and its configuration.
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
#include "odb.h"

#define DITS_FORMAT_VERSION 1

typedef struct dits_repo {
	char *workdir; /* absolute path of the worktree, no trailing slash */
	char *dir;     /* workdir/.dits */
	dits_odb *odb;
	dits_config *config;
	dits_chunker_params params;
	dits_chunker chunker;
	int lock_fd;
} dits_repo;

/*
 * Creates DIR/.dits with the given chunker parameters (NULL = defaults).
 * DITS_EEXISTS when DIR already holds a repository.
 */
int dits_repo_init(dits_repo **out, const char *dir, const dits_chunker_params *params);
/* Finds the repository containing start (walking up) and opens it. */
int dits_repo_open(dits_repo **out, const char *start);
/* Opens another view of r's local object store (the pack backend on
 * .dits/objects/pack), e.g. to see packs finished since r was opened. */
int dits_repo_odb_open(const dits_repo *r, dits_odb **out);
void dits_repo_free(dits_repo *r);

/* Takes the write lock; DITS_ELOCKED when another process holds it. */
int dits_repo_lock(dits_repo *r);
void dits_repo_unlock(dits_repo *r);

/* Writes r's configuration (as changed with dits_config_set) to .dits/config. */
int dits_repo_config_save(dits_repo *r);

/*
 * Deletes r's .dits directory: a repository that was never finished (a
 * clone that failed). r may then only be freed.
 */
int dits_repo_remove(dits_repo *r);

/* A malloc'd path inside .dits/. */
char *dits_repo_path(const dits_repo *r, const char *rel);

/*
 * Converts a user path (relative to cwd or absolute) to a path relative to
 * the worktree ("" for the worktree itself). DITS_EINVALID when it lies
 * outside the worktree or inside .dits.
 */
int dits_repo_relpath(const dits_repo *r, const char *user_path, char **out);

/*
 * True when a new commit gets its proxy jobs queued: proxy.auto (on by
 * default), overridden by DITS_PROXY_AUTO in the environment (for one
 * command, or for a whole server). false, off, 0 and no turn it off.
 */
bool dits_repo_proxy_auto(const dits_repo *r);

#endif
