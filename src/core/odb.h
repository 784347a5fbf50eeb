/*
 * odb.h - the object database: append-only pack files with sorted indexes.
 *
 * Every stored thing - a chunk of file bytes, a manifest, a tree, a commit -
 * is a record in a pack file, found through the pack's index by its BLAKE3
 * id. A 10 GB clip is ~150 000 chunks, so there is no file per chunk.
 *
 * Packs are written by a dits_pack_writer under a temporary name and become
 * visible only when the writer finishes: pack fsynced and renamed, then its
 * index fsynced and renamed (a pack without an index is invisible). Every
 * read verifies the record's hash; a mismatch is DITS_ECORRUPT naming the
 * object and the pack. The formats are in docs/FORMATS.md.
 */
#ifndef DITS_ODB_H
#define DITS_ODB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "hash.h"

typedef enum dits_otype {
	DITS_OBJ_CHUNK = 1,
	DITS_OBJ_CHUNKLIST = 2,
	DITS_OBJ_MANIFEST = 3,
	DITS_OBJ_TREE = 4,
	DITS_OBJ_COMMIT = 5,
} dits_otype;

const char *dits_otype_name(int type);

#define DITS_PACK_HEADER_LEN 16
#define DITS_PACK_RECORD_HEADER_LEN 40
#define DITS_OBJECT_MAX (64u << 20) /* largest record a pack accepts */

typedef struct dits_odb dits_odb;

typedef struct dits_odb_loc {
	uint32_t pack;   /* index into the odb's pack list */
	uint8_t type;
	uint32_t length; /* payload bytes */
	uint64_t offset; /* of the payload within the pack file */
} dits_odb_loc;

/* Opens the store whose packs live in dir (created if missing). */
int dits_odb_open(dits_odb **out, const char *dir);
void dits_odb_free(dits_odb *db);

/*
 * Loads packs that other processes (a background worker, a concurrent add)
 * finished since the store was opened. dits_odb_read does this by itself
 * before it reports an object missing. Returns the number of packs added.
 */
int dits_odb_refresh(dits_odb *db);

/* Finds id. Returns 0, or DITS_ENOTFOUND (no message set: cheap). */
int dits_odb_locate(dits_odb *db, const dits_id *id, dits_odb_loc *loc);
bool dits_odb_exists(dits_odb *db, const dits_id *id);

/*
 * Reads and verifies a record: out receives the payload, type (may be NULL)
 * its type. DITS_ENOTFOUND or DITS_ECORRUPT with a message naming the id.
 */
int dits_odb_read(dits_odb *db, const dits_id *id, dits_buf *out, uint8_t *type);
/* Reads loc->length bytes into buf (which must hold them) and verifies them. */
int dits_odb_read_at(dits_odb *db, const dits_odb_loc *loc, const dits_id *id, void *buf);

/*
 * Verifies a record in place, hashing the memory-mapped pack (no copy), and
 * points *data_out at the verified payload, valid while db is open. 0 when
 * verified; DITS_ENOTFOUND when the pack is not mapped (use
 * dits_odb_read_at); DITS_ECORRUPT on a mismatch.
 */
int dits_odb_verify_at(dits_odb *db, const dits_odb_loc *loc, const dits_id *id, const uint8_t **data_out);
/* Drops mapped payload pages from this process (they stay in the page cache). */
void dits_odb_release(const void *data, size_t len);

/* Resolves a hex prefix among records of the given type (0 = any). */
int dits_odb_resolve_prefix(dits_odb *db, const char *hex, int type, dits_id *out);

/* Visits every indexed record (in pack order, then id order). Stops on a non-zero return. */
typedef int (*dits_odb_each_fn)(void *ctx, const dits_id *id, const dits_odb_loc *loc);
int dits_odb_foreach(dits_odb *db, dits_odb_each_fn fn, void *ctx);

size_t dits_odb_pack_count(const dits_odb *db);
const char *dits_odb_pack_path(const dits_odb *db, size_t i); /* the .pack file */
uint64_t dits_odb_pack_size(const dits_odb *db, size_t i);
uint64_t dits_odb_pack_records(const dits_odb *db, size_t i);
const char *dits_odb_dir(const dits_odb *db);

/*
 * Checks one pack end to end: the index checksum, that every record parses,
 * that every index entry points at a record with the same id, type and
 * length, and that every payload hashes to its id. report is called once per
 * problem with a one-line message. Returns the number of problems.
 */
typedef void (*dits_odb_report_fn)(void *ctx, const char *msg);
size_t dits_odb_verify_pack(dits_odb *db, size_t i, dits_odb_report_fn report, void *ctx);

/*
 * Deletes what interrupted writers left in the pack directory: temporary
 * files of processes that no longer run, and packs that never got their
 * index. A writer holds a lock (flock) on its temporary pack from creation
 * until its index is in place; a locked file is never deleted. Call it
 * holding the repository lock: packs are finished (renamed into place) only
 * under that lock.
 */
void dits_odb_remove_leftovers(dits_odb *db);
/*
 * gc's variant: deletes temporary files and index-less packs last modified
 * at or before cutoff_ns (CLOCK_REALTIME nanoseconds) that no writer holds
 * locked, whatever process they name. Returns the number deleted.
 */
uint64_t dits_odb_remove_old_leftovers(dits_odb *db, int64_t cutoff_ns);
/* True when some process holds a lock (flock) on path: a writer is at work. */
bool dits_odb_file_in_use(const char *path);
/* Modification time in CLOCK_REALTIME nanoseconds, -1 when path cannot be read. */
int64_t dits_file_mtime_ns(const char *path);
/* The .pack file's modification time: when its newest record was written. */
int64_t dits_odb_pack_mtime_ns(const dits_odb *db, size_t i);

/* ---- writing ------------------------------------------------------ */

typedef struct dits_pack_writer dits_pack_writer;

int dits_pack_writer_new(dits_pack_writer **out, dits_odb *db);
/*
 * Appends a record unless the store or this writer already has id; *stored
 * (may be NULL) tells which. The caller vouches that id is the BLAKE3 of data.
 */
int dits_pack_writer_put(dits_pack_writer *w, int type, const dits_id *id,
                         const void *data, size_t len, bool *stored);
/* Hashes data, then puts it; the id is returned in out_id. */
int dits_pack_writer_put_object(dits_pack_writer *w, int type, const void *data,
                                size_t len, dits_id *out_id);
/*
 * Makes w skip records only when w itself already wrote them, not when the
 * store has them (gc copies live records out of packs it will delete).
 */
void dits_pack_writer_ignore_store(dits_pack_writer *w);
/* True when id is in the store (unless ignored) or already written by w. */
bool dits_pack_writer_has(dits_pack_writer *w, const dits_id *id);
/* Payload bytes written to this pack so far (new records only). */
uint64_t dits_pack_writer_new_bytes(const dits_pack_writer *w);
uint64_t dits_pack_writer_new_records(const dits_pack_writer *w);
/*
 * Makes the pack durable and visible (fsync, index, renames, directory
 * fsync) and adds it to the odb. A writer that wrote nothing leaves nothing.
 * The caller holds the repository lock (see dits_odb_remove_leftovers).
 */
int dits_pack_writer_finish(dits_pack_writer *w);
/* Frees w; an unfinished pack is removed. */
void dits_pack_writer_free(dits_pack_writer *w);

#endif
