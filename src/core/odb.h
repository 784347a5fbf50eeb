/*
 * odb.h - the object database: an ordered list of backends.
 *
 * Every stored thing - a chunk of file bytes, a manifest, a tree, a commit -
 * is a record found by its BLAKE3 id. A dits_odb asks its backends in order
 * and the first that has the object answers; new objects are written through
 * a pack writer of the first writable backend. The default store has one
 * backend, the local pack store (odb_pack.h: append-only pack files with
 * sorted indexes). A partial clone adds a promisor backend last, which
 * fetches what no other backend has from the remote when it is read
 * (dits_odb_promisor_new). The interface backends implement is in
 * odb_backend.h.
 *
 * Every read verifies the record's hash; a mismatch is DITS_ECORRUPT naming
 * the object and where it is stored. Lookups (exists, read_header,
 * resolve_prefix, foreach) never consult a promisor: they stay cheap and
 * local. The formats are in docs/FORMATS.md.
 */
#ifndef DITS_ODB_H
#define DITS_ODB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "dits/odb.h"
#include "hash.h"

#define DITS_PACK_HEADER_LEN 16
#define DITS_PACK_RECORD_HEADER_LEN 40
#define DITS_OBJECT_MAX (64u << 20) /* largest record a pack accepts */

typedef struct dits_odb_backend dits_odb_backend;
typedef struct dits_pack_writer dits_pack_writer;

/* A borrowed, verified payload (dits_odb_borrow). Only data, len and type
 * are for the caller. */
typedef struct dits_odb_view {
	const uint8_t *data;
	uint32_t len;
	uint8_t type;
	dits_odb_backend *owner; /* NULL: data is a copy owned by the view */
	void *priv;
} dits_odb_view;

typedef int (*dits_odb_sink_fn)(void *ctx, const void *data, size_t len);
typedef int (*dits_odb_each_fn)(void *ctx, const dits_id *id, uint8_t type, uint32_t len);

/* Opens the default store: one pack backend on dir (created if missing). */
int dits_odb_open(dits_odb **out, const char *dir);
/* An empty store; add backends with dits_odb_add_backend. */
int dits_odb_new(dits_odb **out);
/*
 * Appends b to the backends of db, which owns it from now on (freed with db,
 * or here when the version is not one this dits knows). Backends are asked
 * in the order they were added.
 */
int dits_odb_add_backend(dits_odb *db, dits_odb_backend *b);
void dits_odb_free(dits_odb *db);

/*
 * Asks every backend to pick up what other processes (a background worker,
 * a concurrent add) stored since it was opened. dits_odb_read does this by
 * itself before it reports an object missing. Returns the number of new
 * packs found.
 */
int dits_odb_refresh(dits_odb *db);

/*
 * Reads and verifies a record: out receives the payload, type (may be NULL)
 * its type. On a miss the backends are refreshed, then promisors fetch it.
 * DITS_ENOTFOUND or DITS_ECORRUPT with a message naming the id.
 */
int dits_odb_read(dits_odb *db, const dits_id *id, dits_buf *out, uint8_t *type);
/* Reads exactly len payload bytes of id into buf (len from read_header, or
 * known otherwise); a different stored length is DITS_ECORRUPT. */
int dits_odb_read_into(dits_odb *db, const dits_id *id, void *buf, uint32_t len);

/*
 * Lends the verified payload of id without copying it where the backend can
 * (the pack store maps its packs), else a verified copy. The view stays
 * valid until dits_odb_view_release, and while db is open. Misses are
 * handled as by dits_odb_read.
 *
 * flags DITS_ODB_RELAY: the caller only passes the bytes on to a receiver
 * that hashes every record itself (the server sending records to a client),
 * so a backend that lends in place may skip hashing them; it still checks
 * that the record is whole and is the one asked for. 0 otherwise.
 */
#define DITS_ODB_RELAY 1u
int dits_odb_borrow(dits_odb *db, const dits_id *id, unsigned flags, dits_odb_view *view);
void dits_odb_view_release(dits_odb_view *view);
/* Passes the verified payload of id to sink (one or more calls). */
int dits_odb_stream(dits_odb *db, const dits_id *id, dits_odb_sink_fn sink, void *ctx);

/*
 * Makes ids present in the local backends: those missing are fetched by the
 * promisor backends (in one request where the promisor can). 0 when every
 * id is here afterwards; DITS_ENOTFOUND naming the first one that is not.
 */
int dits_odb_fetch_missing(dits_odb *db, const dits_id *ids, size_t n);
/* True when db has a promisor backend (a partial clone's store). */
bool dits_odb_has_promisor(dits_odb *db);

/* Resolves a hex prefix among records of the given type (0 = any). */
int dits_odb_resolve_prefix(dits_odb *db, const char *hex, int type, dits_id *out);

/* Visits every record of every backend (in the backends' order). Stops on a non-zero return. */
int dits_odb_foreach(dits_odb *db, dits_odb_each_fn fn, void *ctx);

/* What gc keeps: true when id is reachable (or otherwise to be kept). */
typedef bool (*dits_odb_live_fn)(void *ctx, const dits_id *id);

typedef struct dits_odb_prune_result {
	uint64_t kept_objects, removed_objects, removed_bytes;
	uint64_t units_before, units_after; /* packs, for the pack backend */
} dits_odb_prune_result;

/*
 * gc's sweep: every backend that can deletes the objects for which live
 * returns false, durably keeping the others (the pack backend copies the
 * live records of packs holding garbage into a new pack, then deletes the
 * old packs). Counts are added to *res. Call it holding the repository lock.
 */
int dits_odb_remove_unreachable(dits_odb *db, dits_odb_live_fn live, void *ctx, dits_odb_prune_result *res);
/*
 * Before the sweep: backends that keep their own times (an object store)
 * visit the objects of the units written after cutoff_ns, which gc keeps
 * with everything they reach (the grace period), and remember the cutoff.
 */
int dits_odb_gc_begin(dits_odb *db, int64_t cutoff_ns, dits_odb_each_fn recent, void *ctx);

/*
 * Deletes what interrupted writers left behind, in every backend that
 * keeps such things (see odb_pack.h). Call it holding the repository lock.
 */
void dits_odb_remove_leftovers(dits_odb *db);

/* ---- writing ------------------------------------------------------ */

/*
 * A writer of one new pack in the first writable backend of db
 * (DITS_EINVALID when db has none).
 */
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
 * Makes the pack durable and visible and adds it to its backend. A writer
 * that wrote nothing leaves nothing. The caller holds the repository lock
 * (see dits_odb_remove_leftovers).
 */
int dits_pack_writer_finish(dits_pack_writer *w);
/* Frees w; an unfinished pack is removed. */
void dits_pack_writer_free(dits_pack_writer *w);

/* ---- promisor ----------------------------------------------------- */

/*
 * Stores ids (which the local backends lack) into the odb, e.g. by fetching
 * them from a remote through dits_pack_writer_new(db). Objects the source
 * lacks are left out (not an error); an error is a failure to fetch.
 */
typedef int (*dits_promisor_fetch_fn)(void *ctx, dits_odb *db, const dits_id *ids, size_t n);

/*
 * A promisor backend: on a miss, fetch is called (never re-entered: reads it
 * makes that miss stay misses) and the object is read from the local
 * backends. ctx_free (may be NULL) frees ctx with the backend.
 */
int dits_odb_promisor_new(dits_odb_backend **out, dits_promisor_fetch_fn fetch, void *ctx,
                          void (*ctx_free)(void *ctx));

#endif
