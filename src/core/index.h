/*
 * index.h - the staging index: what the next commit will record.
 *
 * One entry per tracked file, sorted by path, with the file's asset id
 * (manifest id) and a stat cache (size, mtime, ctime, inode, device, mode),
 * so `status` and `add` skip files whose stat has not changed without reading
 * their content. An entry whose mtime is not older than the index file itself
 * is "racy" (the file may have changed within the timestamp's granularity
 * after it was hashed) and is always re-checked.
 *
 * The file is written whole to a temporary name, fsynced and renamed.
 */
#ifndef DITS_INDEX_H
#define DITS_INDEX_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "hash.h"
#include "repo.h"

typedef struct dits_index_entry {
	char *path;
	uint32_t mode; /* 0100644 or 0100755 */
	uint64_t size;
	int64_t mtime_s, ctime_s;
	uint32_t mtime_ns, ctime_ns;
	uint64_t ino, dev;
	dits_id id;         /* the master's manifest id: what commits record */
	uint32_t flags;     /* DITS_INDEX_PROXY */
	dits_id wt_id;      /* with DITS_INDEX_PROXY: manifest id of the proxy on disk */
	uint64_t wt_size;   /* with DITS_INDEX_PROXY: its size (size stays the master's) */
} dits_index_entry;

/*
 * The working file holds a proxy variant, not the master (proxy mode). The
 * stat cache then describes the proxy file, and wt_id names its content;
 * commits still record id, the master (ARCHITECTURE.md invariant 4).
 */
#define DITS_INDEX_PROXY 0x1u

typedef struct dits_index {
	dits_index_entry *e;
	size_t n, cap;
	bool sorted, dirty;
	size_t sorted_n; /* entries [0, sorted_n) are sorted; the rest were appended */
	int64_t stamp_s; /* mtime of the index file when loaded */
	uint32_t stamp_ns;
	/*
	 * A remembered fact: the entry list whose digest is tree_digest records
	 * as the tree tree_id (both zero: nothing remembered). It names the
	 * list by content, so no change to the entries can make it false: a
	 * changed list simply no longer has that digest. status uses it to skip
	 * reading HEAD's trees when the index still matches them.
	 */
	dits_id tree_digest, tree_id;
	/* The loaded entries' paths, one after another in one allocation of
	 * paths_len bytes; entries added later have paths of their own. */
	char *paths;
	size_t paths_len;
} dits_index;

/* Loads .dits/index (an empty index when there is none). */
int dits_index_load(dits_repo *r, dits_index *idx);
/* False when r has no index file: a server's repository (no worktree). */
bool dits_index_exists(dits_repo *r);
int dits_index_write(dits_repo *r, dits_index *idx);
void dits_index_free(dits_index *idx);

dits_index_entry *dits_index_find(dits_index *idx, const char *path);
/* Inserts or replaces the entry for path. */
int dits_index_set(dits_index *idx, const char *path, const struct stat *st, const dits_id *id);
/* Inserts or replaces without stat data (the entry will be re-checked). */
int dits_index_set_nostat(dits_index *idx, const char *path, uint32_t mode, uint64_t size,
                          const dits_id *id);
int dits_index_remove(dits_index *idx, const char *path);
void dits_index_sort(dits_index *idx);
/* Drops all entries. */
void dits_index_clear(dits_index *idx);

/* The digest of what a tree records of the entries: each path, mode and id. */
void dits_index_digest(dits_index *idx, dits_id *out);
/* Remembers that the entries as they are now record as tree. */
void dits_index_note_tree(dits_index *idx, const dits_id *tree);
/* True when the entries as they are now are known to record as tree. */
bool dits_index_matches_tree(dits_index *idx, const dits_id *tree);

/* Git-style file mode for a stat: 0100755 when any execute bit is set. */
uint32_t dits_mode_from_stat(const struct stat *st);
/* True when st matches the entry's stat cache and the entry is not racy. */
bool dits_index_stat_clean(const dits_index *idx, const dits_index_entry *e, const struct stat *st);
void dits_index_entry_set_stat(dits_index_entry *e, const struct stat *st);
/* The same for a file in proxy mode: the stat is the proxy's, size stays the master's. */
void dits_index_entry_set_proxy_stat(dits_index_entry *e, const struct stat *st, const dits_id *proxy);

#endif
