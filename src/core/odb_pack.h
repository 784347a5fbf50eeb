/*
 * odb_pack.h - the pack backend: append-only pack files with sorted indexes.
 *
 * A 10 GB clip is ~150 000 chunks, so there is no file per object: records
 * are appended to pack files and found through each pack's index. What this
 * backend guarantees:
 *  - packs are written by a dits_pack_writer under a temporary name and
 *    become visible only when the writer finishes: pack fsynced and renamed,
 *    then its index fsynced and renamed (a pack without an index is
 *    invisible, and is a leftover);
 *  - packs are never modified once visible (gc writes new packs and deletes
 *    old ones), so they are memory-mapped read-only and borrowed views
 *    (dits_odb_borrow) point into the mapping without a copy;
 *  - every read verifies the record's hash; a mismatch is DITS_ECORRUPT
 *    naming the object and the pack.
 * The formats are in docs/FORMATS.md.
 *
 * The functions below are the backend's own API for code that works on
 * packs as such - gc, fsck, the chunk readers of checkout - and stay inside
 * src/core: everything else uses odb.h. They act on the first pack backend
 * of db (none: nothing found, no packs).
 */
#ifndef DITS_ODB_PACK_H
#define DITS_ODB_PACK_H

#include "odb.h"

/* A pack backend on dir (created if missing), with the packs found there. */
int dits_odb_pack_backend_new(dits_odb_backend **out, const char *dir);

typedef struct dits_odb_loc {
	uint32_t pack;   /* index into the backend's pack list */
	uint8_t type;
	uint32_t length; /* payload bytes */
	uint64_t offset; /* of the payload within the pack file */
} dits_odb_loc;

/* Finds id in the packs. Returns 0, or DITS_ENOTFOUND (no message set: cheap). */
int dits_odb_locate(dits_odb *db, const dits_id *id, dits_odb_loc *loc);
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

/* Visits every indexed record (in pack order, then id order). Stops on a non-zero return. */
typedef int (*dits_odb_pack_each_fn)(void *ctx, const dits_id *id, const dits_odb_loc *loc);
int dits_odb_pack_foreach(dits_odb *db, dits_odb_pack_each_fn fn, void *ctx);

size_t dits_odb_pack_count(dits_odb *db);
const char *dits_odb_pack_path(dits_odb *db, size_t i); /* the .pack file */
uint64_t dits_odb_pack_size(dits_odb *db, size_t i);
uint64_t dits_odb_pack_records(dits_odb *db, size_t i);
const char *dits_odb_dir(dits_odb *db); /* the pack directory (NULL: no pack backend) */

/*
 * Checks one pack end to end: the index checksum, that every record parses,
 * that every index entry points at a record with the same id, type and
 * length, and that every payload hashes to its id. report is called once per
 * problem with a one-line message. Returns the number of problems.
 */
typedef void (*dits_odb_report_fn)(void *ctx, const char *msg);
size_t dits_odb_verify_pack(dits_odb *db, size_t i, dits_odb_report_fn report, void *ctx);

/*
 * gc's variant of dits_odb_remove_leftovers: deletes temporary files and
 * index-less packs last modified at or before cutoff_ns (CLOCK_REALTIME
 * nanoseconds) that no writer holds locked, whatever process they name.
 * Returns the number deleted.
 *
 * dits_odb_remove_leftovers (odb.h) deletes, in the pack directory,
 * temporary files of processes that no longer run and packs that never got
 * their index. A writer holds a lock (flock) on its temporary pack from
 * creation until its index is in place; a locked file is never deleted.
 * Packs are finished (renamed into place) only under the repository lock.
 */
uint64_t dits_odb_remove_old_leftovers(dits_odb *db, int64_t cutoff_ns);
/* True when some process holds a lock (flock) on path: a writer is at work. */
bool dits_odb_file_in_use(const char *path);
/* Modification time in CLOCK_REALTIME nanoseconds, -1 when path cannot be read. */
int64_t dits_file_mtime_ns(const char *path);
/* The .pack file's modification time: when its newest record was written. */
int64_t dits_odb_pack_mtime_ns(dits_odb *db, size_t i);

/* ---- for backends that keep packs elsewhere (an object store) ------ */

/*
 * One pack index read on its own, without its pack (whose records are read
 * by the caller): idx_path is a local copy of the index, pack_label names
 * the pack in messages, pack_size is the pack's size. The index gets the
 * same checks as a local pack's (checksum, order, fan-out, types, lengths).
 * Locations have pack 0.
 */
typedef struct dits_pack_index dits_pack_index;
int dits_pack_index_load(dits_pack_index **out, const char *idx_path, const char *pack_label, uint64_t pack_size);
int dits_pack_index_find(const dits_pack_index *x, const dits_id *id, dits_odb_loc *loc); /* DITS_ENOTFOUND, no message */
uint64_t dits_pack_index_count(const dits_pack_index *x);
void dits_pack_index_entry(const dits_pack_index *x, uint64_t i, dits_id *id, dits_odb_loc *loc);
void dits_pack_index_free(dits_pack_index *x);

/*
 * Called by a staged writer's finish with the complete, fsynced pack and
 * its index in the staging directory, and their name without extension
 * ("pack-HEX"). It makes them visible wherever the backend keeps packs
 * (pack first, index last); the staging files are deleted afterwards
 * (rename the index away to keep it). Its error is finish's.
 */
typedef int (*dits_pack_publish_fn)(void *ctx, const char *pack_path, const char *idx_path, const char *name);
/*
 * A pack writer that writes into dir (created if missing) and hands each
 * finished pack to publish instead of adding it to a local store. Records
 * that odb already has are skipped, as by dits_pack_writer_new.
 */
int dits_pack_writer_new_staged(dits_pack_writer **out, dits_odb *odb, const char *dir,
                                dits_pack_publish_fn publish, void *ctx);

/*
 * Streaming a staged pack while it is written (an object store uploads it
 * as it arrives). The pack's name is fixed when the stream is set (a
 * random "pack-HEX": names are unique, not derived from the records) and
 * is the one publish later gets. fn is called with every byte of the pack,
 * in order, in pieces of up to 8 MiB, before they go to the staging file;
 * the last piece is sent by finish before publish is called. The bytes go
 * to the stream only: the staging file publish gets is then empty (it
 * still names the pack; the index is complete). A non-zero return fails
 * the put or finish that caused it. done is called once by
 * dits_pack_writer_free (published or not: an unpublished stream is
 * abandoned there). Set it before the first put.
 */
typedef int (*dits_pack_stream_fn)(void *ctx, const char *name, const void *data, size_t len);
typedef void (*dits_pack_stream_done_fn)(void *ctx, bool published);
int dits_pack_writer_set_stream(dits_pack_writer *w, dits_pack_stream_fn fn, dits_pack_stream_done_fn done,
                                void *ctx);

#endif
