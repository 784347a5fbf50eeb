/*
 * object.h - manifests, trees and commits: canonical serializations.
 *
 * A manifest is one file content: its chunks in order, its size and the
 * BLAKE3 of the whole content. The chunk list is stored as "chunklist"
 * segments cut where a chunk id's low bits are zero (content-defined), so a
 * one-byte insert into a 1 GiB file re-stores one or two small segments and
 * the manifest head, not a 600 KB list. The manifest id (the asset id) is
 * the BLAKE3 of the manifest head, which names every segment by id and so
 * commits to every chunk. Byte layouts are in docs/FORMATS.md.
 */
#ifndef DITS_OBJECT_H
#define DITS_OBJECT_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"
#include "dits/object.h"
#include "hash.h"
#include "odb.h"

typedef struct dits_chunk_ref {
	dits_id id;
	uint32_t len;
} dits_chunk_ref;

typedef struct dits_manifest {
	uint64_t size;
	dits_id content;    /* BLAKE3 of the whole file */
	dits_chunk_ref *chunks;
	uint64_t nchunks, cap;
} dits_manifest;

void dits_manifest_init(dits_manifest *m);
void dits_manifest_free(dits_manifest *m);
int dits_manifest_push(dits_manifest *m, const dits_id *id, uint32_t len);

/* Stores m's segments and head through w; *out receives the manifest id. */
int dits_manifest_write(dits_pack_writer *w, const dits_manifest *m, dits_id *out);
/*
 * The id m would get, without storing anything (for status and diff on
 * files that are not added).
 */
void dits_manifest_id(const dits_manifest *m, dits_id *out);
/*
 * m's chunk ids in order as a JSON array of hex strings (malloc'd into *out):
 * a variant's chunk_hash_list.
 */
int dits_manifest_chunks_json(const dits_manifest *m, char **out);
/* Reads and checks a manifest (segments included). */
int dits_manifest_read(dits_odb *db, const dits_id *id, dits_manifest *m);
/* Reads only the head: size and content hash, and the segment ids. */
typedef struct dits_manifest_head {
	uint64_t size, nchunks;
	dits_id content;
	uint32_t nsegs;
	dits_id *segs;
} dits_manifest_head;
int dits_manifest_read_head(dits_odb *db, const dits_id *id, dits_manifest_head *h);
void dits_manifest_head_free(dits_manifest_head *h);

/* ---- trees -------------------------------------------------------- */

/*
 * How deep trees nest. A commit's root tree is at depth 0, a tree it holds
 * at depth 1, and so on. A tree at depth DITS_TREE_DEPTH_MAX is refused by
 * every walk over stored trees (checkout, diff, status, fsck, gc, the mount,
 * push, fetch and the server's checks), as DITS_ECORRUPT naming the tree:
 * a path in a commit has at most DITS_TREE_DEPTH_MAX components, and no
 * walk recurses deeper than that.
 */
#define DITS_TREE_DEPTH_MAX 256

/* The error for a tree found at depth DITS_TREE_DEPTH_MAX (path may be NULL). */
int dits_tree_depth_error(const dits_id *id, const char *path);

/*
 * NULL when name (len bytes) may be a tree entry's name, else why not.
 * Refused: empty names, "." and "..", names holding '/', '\\' or NUL, names
 * of only dots and spaces, and every name a file system might take for the
 * repository's own directory ".dits": any case (".DITS"), with trailing dots
 * or spaces (".dits. "), an NTFS stream (".dits::$DATA"), the NTFS short
 * name ("DITS~1"), and with code points HFS+ ignores (U+200C...) inside.
 */
const char *dits_tree_name_refused(const char *name, size_t len);
/* name as a message shows it: printable ASCII kept, other bytes as \xNN. */
void dits_name_escape(char *out, size_t cap, const char *name, size_t len);

/*
 * Adds an entry; a refused name (dits_tree_name_refused), an unknown kind,
 * or a mode other than 0100644/0100755 for a file and 040000 (size 0) for a
 * tree is DITS_EINVALID: the library never writes a tree it would refuse
 * to read.
 */
int dits_tree_add(dits_tree *t, const char *name, uint8_t kind, uint32_t mode,
                  uint64_t size, const dits_id *id);
/*
 * Sorts the entries by name and serializes them; an entry dits_tree_add
 * would refuse, or a name twice, is DITS_EINVALID.
 */
int dits_tree_serialize(dits_tree *t, dits_buf *out);
/*
 * Parses a tree in canonical form only: entries sorted by name (bytewise),
 * each name once, no refused name, kinds and modes as dits_tree_add takes
 * them. Anything else is DITS_ECORRUPT with a message naming the tree's id
 * (the hash of data) and the bad entry.
 */
int dits_tree_parse(dits_tree *t, const uint8_t *data, size_t len);

/*
 * Checks an object's payload before it is stored from elsewhere (an upload,
 * a fetch): a tree must parse (dits_tree_parse), a commit too. Other types
 * are not looked into. id is the payload's id (NULL: computed). Returns 0
 * or DITS_ECORRUPT naming the object and the reason.
 */
int dits_object_check(uint8_t type, const dits_id *id, const void *data, size_t len);

/* ---- commits ------------------------------------------------------ */

int dits_commit_serialize(const dits_commit *c, dits_buf *out);
int dits_commit_parse(dits_commit *c, const uint8_t *data, size_t len);
/* Fills sig from DITS_AUTHOR_NAME/EMAIL/DATE, or the user and host names. */
int dits_signature_default(dits_signature *sig, const char *name, const char *email);
void dits_signature_free(dits_signature *sig);

#endif
