/*
 * blob.h - random access to a stored file's bytes, straight from its chunks.
 *
 * A dits_blob maps offsets to chunks through the manifest's chunk lengths
 * (prefix sums, binary search) and reads chunks from the pack store,
 * verifying each chunk's hash as it is read. A few recently read chunks are
 * cached, so a demuxer that seeks back and forth (MOV atoms, MXF partitions)
 * does not re-read and re-hash. No temporary copy of the file is made: an
 * 8K master is transcoded, or served by a FUSE mount, from its chunks.
 */
#ifndef DITS_BLOB_H
#define DITS_BLOB_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "hash.h"
#include "odb.h"

typedef struct dits_blob dits_blob;

/* Opens the content whose manifest id is id. */
int dits_blob_open(dits_blob **out, dits_odb *db, const dits_id *manifest_id);
void dits_blob_close(dits_blob *b);

uint64_t dits_blob_size(const dits_blob *b);

/*
 * Copies up to len bytes at off into buf. Returns the number of bytes
 * copied (0 at or past the end) or a negative DITS_E* code (DITS_ECORRUPT
 * when a chunk does not match its hash). Not thread-safe: one reader per
 * blob.
 */
ssize_t dits_blob_pread(dits_blob *b, void *buf, size_t len, uint64_t off);

#endif
