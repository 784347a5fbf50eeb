/*
 * mount_internal.h - the served tree, shared by fs.c (the FUSE operations
 * and the control file) and mount.c (setup, daemon, records, unmount).
 *
 * Node ids: nodes[i] is served as FUSE node i when it serves its master
 * and as node i + nnodes ("the proxy view") when it serves its proxy, so
 * each kernel inode has one content for its whole life (see fs.c).
 *
 * Locking: m->lock guards the fields of a file node that can change
 * (want_proxy, has_proxy, proxy, proxy_size, opened) and m->odb;
 * everything else is fixed once the tree is built. m->switch_lock makes
 * switches run one at a time; m->drop_lock guards the dropper's queue. A file handle's blob is guarded by the handle's own mutex (a
 * dits_blob has one reader at a time). m->db_lock guards the metadata
 * database, which is opened by the serving process itself (never across a
 * fork).
 */
#ifndef DITS_MOUNT_INTERNAL_H
#define DITS_MOUNT_INTERNAL_H

#define FUSE_USE_VERSION 312

#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "hash.h"
#include "metadb.h"
#include "mount.h"
#include "odb.h"
#include "repo.h"

#define NODE_ROOT 1    /* FUSE_ROOT_ID */
#define NODE_CONTROL 2 /* the hidden control file */
#define DITS_MOUNT_MAX_READ (1u << 20) /* bytes per FUSE read request */

typedef struct mount_node {
	char *name;  /* last component ("" for the root) */
	char *path;  /* relative to the mount root ("" for the root) */
	uint64_t st_ino; /* stable: from the BLAKE3 of the path */
	fuse_ino_t parent;
	bool dir;
	uint32_t mode; /* tree mode (0100644, 0100755) for files */
	/* directories: children sorted by name */
	fuse_ino_t *kids;
	size_t nkids, capkids;
	/* files */
	dits_id master;
	uint64_t master_size;
	bool has_proxy; /* a ready proxy variant is known (never unset) */
	dits_id proxy;
	uint64_t proxy_size;
	bool want_proxy;
	bool opened[2]; /* the master (0) / proxy (1) node was ever opened: it may have cached pages */
} mount_node;

struct dits_mount {
	dits_repo *repo;
	char *mountpoint;
	char *rev_hex;
	char *variant; /* the proxy type served */
	char profile[DITS_VARIANT_NAME_MAX]; /* the configured recipe's profile: picks among ready proxies */
	bool foreground;
	int64_t mtime; /* the commit's time: every file's mtime */
	mount_node *nodes; /* nodes[0] unused; index = FUSE node id */
	size_t nnodes, capnodes;
	size_t nfiles, nproxies;
	uint64_t control_size; /* bytes of the control file's listing (one mode byte per file: constant) */
	pthread_mutex_t lock;
	dits_odb *odb;      /* current object store (r->odb, or a newer view) */
	/* Reads of the store run in parallel (rdlock); opening a blob takes
	 * the write side, because dits_odb_read may load new packs into the
	 * store (dits_odb_refresh) when an object seems missing. */
	pthread_rwlock_t odb_rw;
	dits_odb **old_odbs; /* older views, kept for open handles */
	size_t nold_odbs;
	pthread_mutex_t db_lock;
	dits_metadb *db;
	struct fuse_session *se;
	/* The page dropper: old nodes whose cached pages are released after a
	 * switch, off the control write's path (fs.c). */
	pthread_t dropper;
	bool dropper_running, dropper_stop;
	pthread_mutex_t drop_lock;
	pthread_cond_t drop_cond;
	struct mount_drop *drop_queue;
	size_t ndrop, capdrop;
	/* Switches run one at a time; while one pins old nodes (fs.c), opens
	 * from this thread id are the server's own. */
	pthread_mutex_t switch_lock;
	pid_t pinner_tid;
};

/* A node whose cached pages the dropper releases; fd (or -1) pins it. */
struct mount_drop {
	fuse_ino_t ino;
	int fd;
};

/* fs.c */
extern const struct fuse_lowlevel_ops dits_mount_ops;
/* Builds the node table from the flattened tree. */
int dits_mount_build(dits_mount *m, const void *flat);
/* Looks up ready proxies for every file (opens and closes the database). */
int dits_mount_load_proxies(dits_mount *m);
void dits_mount_free_nodes(dits_mount *m);
/* Starts and stops the page dropper thread (around the session loop). */
int dits_mount_dropper_start(dits_mount *m);
void dits_mount_dropper_stop(dits_mount *m);

#endif
