/*
 * repo_internal.h - what a dits_repo holds. Only src/core sees inside it;
 * every other layer uses the accessors of dits/repo.h and repo.h.
 */
#ifndef DITS_REPO_INTERNAL_H
#define DITS_REPO_INTERNAL_H

#include "repo.h"

struct dits_repo {
	char *workdir; /* absolute path of the worktree, no trailing slash */
	char *dir;     /* workdir/.dits */
	dits_odb *odb;
	dits_config *config;
	dits_chunker_params params;
	dits_chunker chunker;
	int lock_fd;
	struct dits_refdb *refdb; /* the ref store (refs.h), opened on first use */
};

#endif
