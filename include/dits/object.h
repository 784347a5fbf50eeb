/*
 * dits/object.h - reading trees and commits. A tree lists its entries
 * sorted by name: files (their manifest id and size) and subtrees.
 */
#ifndef DITS_PUBLIC_OBJECT_H
#define DITS_PUBLIC_OBJECT_H

#include <stddef.h>
#include <stdint.h>

#include "dits/hash.h"
#include "dits/odb.h"

/* ---- trees -------------------------------------------------------- */

enum { DITS_KIND_FILE = 1, DITS_KIND_TREE = 2 };

typedef struct dits_tree_entry {
	char *name;
	uint8_t kind;
	uint32_t mode;   /* 0100644, 0100755 or 040000 */
	uint64_t size;   /* file size; 0 for trees */
	dits_id id;      /* manifest id or tree id */
} dits_tree_entry;

typedef struct dits_tree {
	dits_tree_entry *e;
	size_t n, cap;
} dits_tree;

void dits_tree_init(dits_tree *t);
void dits_tree_free(dits_tree *t);
int dits_tree_read(dits_odb *db, const dits_id *id, dits_tree *t);

/* ---- commits ------------------------------------------------------ */

typedef struct dits_signature {
	char *name, *email;
	int64_t time;
	int tz_minutes;
} dits_signature;

typedef struct dits_commit {
	dits_id tree;
	dits_id *parents;
	size_t nparents;
	dits_signature author, committer;
	char *message;
} dits_commit;

int dits_commit_read(dits_odb *db, const dits_id *id, dits_commit *c);
void dits_commit_free(dits_commit *c);

#endif
