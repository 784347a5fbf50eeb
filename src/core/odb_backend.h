/*
 * odb_backend.h - what an object database backend implements.
 *
 * A dits_odb (odb.h) consults an ordered list of backends. Each backend is a
 * versioned struct of operations, embedded as the first member of the
 * backend's own state. Operations a backend cannot do are NULL; dits_odb
 * supplies the fallbacks named below. Every operation that hands out bytes
 * has verified them against their id (BLAKE3) first.
 *
 * Errors: DITS_ENOTFOUND with no message set when the backend lacks the
 * object (cheap: the next backend is asked); anything else is an error with
 * a message naming the object and where it is stored.
 */
#ifndef DITS_ODB_BACKEND_H
#define DITS_ODB_BACKEND_H

#include "odb.h"

#define DITS_ODB_BACKEND_VERSION 1

/* A promisor backend holds nothing itself: it is asked to fetch objects that
 * every other backend lacks (see fetch), and is skipped by lookups. */
#define DITS_ODB_BACKEND_PROMISOR 1u

struct dits_odb_backend {
	unsigned version; /* DITS_ODB_BACKEND_VERSION */
	unsigned flags;   /* DITS_ODB_BACKEND_* */
	dits_odb *odb;    /* set by dits_odb_add_backend */

	/* The type and payload length of id. Required unless PROMISOR. */
	int (*read_header)(dits_odb_backend *b, const dits_id *id, uint8_t *type, uint32_t *len);
	/* Reads the len payload bytes of id (len from read_header) into buf and
	 * verifies them. Required unless PROMISOR. */
	int (*read)(dits_odb_backend *b, const dits_id *id, void *buf, uint32_t len);
	/*
	 * Optional zero-copy read: points view->data at the verified payload
	 * (view->len, view->type filled in) and may use view->priv; valid until
	 * release. A backend that cannot lend this object sets view->data to
	 * NULL and returns 0: dits_odb then reads a copy. flags: see
	 * dits_odb_borrow (DITS_ODB_RELAY).
	 */
	int (*borrow)(dits_odb_backend *b, const dits_id *id, unsigned flags, dits_odb_view *view);
	void (*release)(dits_odb_backend *b, dits_odb_view *view);
	/* Optional: passes the verified payload of id to sink in one or more
	 * pieces. Fallback: borrow (or read) and one call of sink. */
	int (*stream)(dits_odb_backend *b, const dits_id *id, dits_odb_sink_fn sink, void *ctx);
	/* Optional: the objects of type (0 = any) whose id starts with the
	 * bytes lo..hi bounds; *found counts distinct matches (stops at 2). */
	int (*resolve_prefix)(dits_odb_backend *b, const uint8_t lo[DITS_ID_LEN], const uint8_t hi[DITS_ID_LEN],
	                      int type, dits_id *out, int *found);
	/* Optional: visits every object held. Stops on a non-zero return. */
	int (*foreach)(dits_odb_backend *b, dits_odb_each_fn fn, void *ctx);
	/* Optional (a writable backend): a pack writer whose finished packs
	 * this backend holds. */
	int (*writer_new)(dits_odb_backend *b, dits_pack_writer **out);
	/* Optional: picks up what other processes stored since; returns the
	 * number of new units (packs) found. */
	int (*refresh)(dits_odb_backend *b);
	/* Optional: deletes what interrupted writers left behind (see
	 * dits_odb_remove_leftovers). */
	void (*remove_leftovers)(dits_odb_backend *b);
	/* Optional: deletes the objects for which live returns false (see
	 * dits_odb_remove_unreachable); adds its counts to *res. */
	int (*remove_unreachable)(dits_odb_backend *b, dits_odb_live_fn live, void *ctx,
	                          dits_odb_prune_result *res);
	/*
	 * Optional, for backends whose units carry no local file time (an
	 * object store): gc tells the grace cutoff (nanoseconds since 1970)
	 * before its sweep. The backend visits every object of the units
	 * written after it (gc keeps them and what they reach) and remembers
	 * the cutoff for its remove_unreachable.
	 */
	int (*gc_begin)(dits_odb_backend *b, int64_t cutoff_ns, dits_odb_each_fn recent, void *ctx);
	/* PROMISOR only: makes ids present in the odb's writable backend. */
	int (*fetch)(dits_odb_backend *b, const dits_id *ids, size_t n);
	/* Frees the backend. Required. */
	void (*free)(dits_odb_backend *b);
};

/*
 * The first backend of db whose free operation is free_fn (the way a backend
 * finds its own kind in an odb), or NULL.
 */
dits_odb_backend *dits_odb_find_backend(dits_odb *db, void (*free_fn)(dits_odb_backend *));

#endif
