/*
 * dits/repo.h - a repository: its worktree, its `.dits/` directory, its
 * object store and its settings. The struct is opaque: what a program
 * needs of it is read through the accessors below, and everything under
 * `.dits/` is written by the library only.
 *
 * Commands that change the repository hold its write lock (flock on
 * `.dits/lock`), so two writers never interleave; the lock dies with its
 * process, so a killed command never leaves the repository locked.
 */
#ifndef DITS_PUBLIC_REPO_H
#define DITS_PUBLIC_REPO_H

#include <stdbool.h>

#include "dits/config.h"
#include "dits/odb.h"

typedef struct dits_repo dits_repo;
struct dits_chunker_params;

/*
 * Creates DIR/.dits with the given chunker parameters (NULL = defaults).
 * DITS_EEXISTS when DIR already holds a repository.
 */
int dits_repo_init(dits_repo **out, const char *dir, const struct dits_chunker_params *params);
/* Finds the repository containing start (walking up) and opens it. */
int dits_repo_open(dits_repo **out, const char *start);
void dits_repo_free(dits_repo *r);

/* The absolute path of the worktree, without a trailing slash. */
const char *dits_repo_workdir(const dits_repo *r);
/* The absolute path of its .dits directory (to name it in messages: the
 * library alone writes there). */
const char *dits_repo_dir(const dits_repo *r);
/* Its settings; dits_repo_config_save writes them. */
dits_config *dits_repo_config(const dits_repo *r);
/* Its object store. */
dits_odb *dits_repo_odb(const dits_repo *r);

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
