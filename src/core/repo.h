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

struct dits_repo {
	char *workdir; /* absolute path of the worktree, no trailing slash */
	char *dir;     /* workdir/.dits */
	dits_odb *odb;
	dits_config *config;
	dits_chunker_params params;
	dits_chunker chunker;
	int lock_fd;
};

/* Opens another view of r's local object store (the pack backend on
 * .dits/objects/pack), e.g. to see packs finished since r was opened. */
int dits_repo_odb_open(const dits_repo *r, dits_odb **out);

/* A malloc'd path inside .dits/. */
char *dits_repo_path(const dits_repo *r, const char *rel);

#endif
