/*
 * dits/odb.h - a repository's object database, seen from outside: whether
 * an object is there and what it is. Reading objects goes through
 * dits/object.h; every read verifies the object's hash.
 */
#ifndef DITS_PUBLIC_ODB_H
#define DITS_PUBLIC_ODB_H

#include <stdbool.h>
#include <stdint.h>

#include "dits/hash.h"

typedef enum dits_otype {
	DITS_OBJ_CHUNK = 1,
	DITS_OBJ_CHUNKLIST = 2,
	DITS_OBJ_MANIFEST = 3,
	DITS_OBJ_TREE = 4,
	DITS_OBJ_COMMIT = 5,
} dits_otype;

/* "chunk", "chunklist", "manifest", "tree", "commit". */
const char *dits_otype_name(int type);

typedef struct dits_odb dits_odb;

/* Type and payload length of id. Returns 0, or DITS_ENOTFOUND (no message set: cheap). */
int dits_odb_read_header(dits_odb *db, const dits_id *id, uint8_t *type, uint32_t *len);
bool dits_odb_exists(dits_odb *db, const dits_id *id);

#endif
