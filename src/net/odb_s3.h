/*
 * odb_s3.h - an object database backend that keeps packs in an S3 bucket.
 *
 * Packs and their indexes are objects under s3://BUCKET/PREFIX/REPO/packs/
 * (pack-HEX.pack and pack-HEX.idx, the formats of docs/FORMATS.md). What
 * this backend guarantees:
 *  - a pack is uploaded while it is written (a multipart upload fed as
 *    the bytes arrive, with no local copy of the pack),
 *    and only once the upload completes is its index uploaded: readers
 *    list the indexes, so a pack without its index (an interrupted push)
 *    is never seen;
 *  - indexes are downloaded once, checked as a local pack's are (checksum,
 *    order, fan-out) and kept on local disk; records are read by ranged GETs
 *    of fixed-size blocks of the pack (the next ones fetched ahead when a
 *    pack is read forward), kept in a local cache of bounded size with
 *    least-recently-used eviction that outlives the process, so repeated
 *    reads do not refetch;
 *  - every record read is checked against its index entry and its BLAKE3
 *    id; a mismatch is DITS_ECORRUPT naming the object and s3://BUCKET/KEY.
 *
 * One dits_s3_store serves many repositories and many odbs at once (a
 * server opens an odb per request): the indexes and the cache are shared,
 * behind one lock. It is thread-safe.
 */
#ifndef DITS_NET_ODB_S3_H
#define DITS_NET_ODB_S3_H

#include <stdint.h>

#include "odb.h"

#define DITS_S3_STORE_DEFAULT_CACHE ((uint64_t)2 << 30)
#define DITS_S3_STORE_DEFAULT_BLOCK ((uint64_t)4 << 20)

typedef struct dits_s3_store_opts {
	const char *url;       /* s3://BUCKET/PREFIX; endpoint, region, keys from AWS_* (docs/S3.md) */
	const char *cache_dir; /* local indexes, cached blocks, staging packs (created) */
	uint64_t cache_bytes;  /* bound on the cached blocks; 0: DITS_S3_STORE_DEFAULT_CACHE */
	uint64_t block_bytes;  /* the unit of ranged reads and of the cache; 0: DITS_S3_STORE_DEFAULT_BLOCK */
	int read_ahead;        /* blocks fetched ahead of a forward reader; 0: 6, negative: none */
} dits_s3_store_opts;

typedef struct dits_s3_store dits_s3_store;

/* Checks the URL and the settings and opens a connection (no request yet). */
int dits_s3_store_open(dits_s3_store **out, const dits_s3_store_opts *o);
/* Frees the store; every backend made from it must be freed first. */
void dits_s3_store_free(dits_s3_store *st);

/*
 * A backend for the packs of repository repo (a valid repository name).
 * The first backend of a repository lists the bucket and loads the
 * indexes; later ones share them. Writers of this backend publish to S3.
 */
int dits_s3_store_backend(dits_s3_store *st, const char *repo, dits_odb_backend **out);

typedef struct dits_s3_store_stats {
	uint64_t gets;          /* ranged GETs of pack blocks */
	uint64_t get_bytes;
	uint64_t hits;          /* blocks served from memory or the disk cache */
	uint64_t prefetched;    /* blocks fetched ahead of their reader */
	uint64_t cached_bytes;  /* bytes in the cache now */
	uint64_t cached_blocks;
	uint64_t evictions;
	uint64_t index_gets;    /* index downloads */
	uint64_t packs_put;     /* packs published */
} dits_s3_store_stats;
void dits_s3_store_get_stats(dits_s3_store *st, dits_s3_store_stats *out);

#endif
