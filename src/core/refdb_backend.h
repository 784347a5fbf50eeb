/*
 * refdb_backend.h - the interface between refs.c (the public API of refs.h)
 * and the stores that keep a repository's refs: files under `.dits`
 * (refdb_files.c, the default) and PostgreSQL (refdb_pg.c, chosen by the
 * repository's `refs.url = postgres://...`, so that any number of servers
 * share one repository's refs). Internal to src/core.
 *
 * A backend is a versioned struct of operations in the spirit of libgit2's
 * git_refdb_backend. Each handle starts with struct dits_refdb (the common
 * part) and the backend keeps its own state after it. refs.c validates
 * names and follows HEAD; every operation keeps the semantics below, so one
 * unit test body (tests/unit/test_refdb.c) runs against every backend.
 *
 * - read: the id a ref ("refs/heads/main", never "HEAD") holds;
 *   DITS_ENOTFOUND when it does not exist.
 * - head: HEAD's symbolic target (malloc'd, "refs/heads/main") in *target,
 *   or *target NULL and the commit id in *id when HEAD is detached.
 *   DITS_ENOTFOUND when the repository has no HEAD.
 * - update: compare-and-swap. expected NULL: any current value; a zero id:
 *   the ref must not exist; else it must hold exactly *expected.
 *   DITS_ECONFLICT when it does not, and nothing changes. The change and
 *   its reflog line are made together: no update is ever lost between
 *   processes, however many share the store.
 * - remove: deletes a ref if it holds *expected (DITS_ECONFLICT otherwise).
 * - set_head: HEAD becomes symbolic (target) or detached at *id (target
 *   NULL), with a reflog line for the detached case.
 * - foreach: every ref under prefix, sorted by name (byte order), with its id.
 * - update_all (may be NULL): the compare-and-swaps of v in one transaction,
 *   all or nothing (dits_ref_update_all); NULL makes refs.c apply them one
 *   by one and put back the moved ones when one fails.
 */
#ifndef DITS_REFDB_BACKEND_H
#define DITS_REFDB_BACKEND_H

#include "refs.h"

/* Bump when struct dits_refdb_ops changes shape. */
#define DITS_REFDB_OPS_VERSION 2

typedef struct dits_refdb dits_refdb;

struct dits_refdb_ops {
	int version;      /* DITS_REFDB_OPS_VERSION */
	const char *name; /* "files", "postgresql" */
	int (*read)(dits_refdb *db, const char *ref, dits_id *out);
	int (*head)(dits_refdb *db, char **target, dits_id *id);
	int (*update)(dits_refdb *db, const char *ref, const dits_id *new_id, const dits_id *expected,
	              const char *log_msg);
	int (*remove)(dits_refdb *db, const char *ref, const dits_id *expected);
	int (*set_head)(dits_refdb *db, const char *target, const dits_id *id, const char *log_msg);
	int (*foreach)(dits_refdb *db, const char *prefix, dits_ref_fn fn, void *ctx);
	int (*update_all)(dits_refdb *db, const dits_ref_change *v, size_t n, const char *log_msg);
	void (*free)(dits_refdb *db);
};

/* The part of every handle that refs.c owns. */
struct dits_refdb {
	const struct dits_refdb_ops *ops;
	dits_repo *repo; /* the repository the handle belongs to (not owned) */
};

/* The backends' open functions. */
int refdb_files_open(dits_refdb **out, dits_repo *r);
/* url: postgres://... or postgresql://...; repo_key scopes every row. */
int refdb_pg_open(dits_refdb **out, dits_repo *r, const char *url, const char *repo_key);

/* A reflog line's "Name <email>" (malloc'd in *out), as the files backend writes it. */
int refdb_who(char **out);

#endif
