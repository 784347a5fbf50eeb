/*
 * ingest.h - file bytes into chunks and back.
 *
 * dits_ingest_fd cuts a file with FastCDC, hashes every chunk and the whole
 * content with BLAKE3 and (given a pack writer) stores the chunks it does not
 * already have. Large files run as a two-stage pipeline: one thread reads and
 * finds cut points while the caller's thread hashes and writes. Memory stays
 * bounded (a few 8 MiB blocks) whatever the file size.
 *
 * dits_materialize writes a manifest's bytes to a path: chunks are read and
 * verified by one thread and written by the caller's, into a temporary file
 * beside the target that is fsynced and renamed over it.
 */
#ifndef DITS_INGEST_H
#define DITS_INGEST_H

#include <stdint.h>
#include <sys/types.h>

#include "chunker.h"
#include "object.h"
#include "odb.h"

/* Called from the caller's thread with the number of bytes just done. */
typedef void (*dits_progress_fn)(void *ctx, uint64_t delta);

typedef struct dits_ingest_stats {
	uint64_t new_chunks, new_bytes;
} dits_ingest_stats;

/*
 * Reads fd to its end. w may be NULL (hash only: nothing is stored). m
 * receives the chunk list, size and content hash. path names the file in
 * error messages. stats (may be NULL) is incremented.
 */
int dits_ingest_fd(dits_pack_writer *w, const dits_chunker *c, int fd, const char *path,
                   dits_manifest *m, dits_ingest_stats *stats, dits_progress_fn progress,
                   void *pctx);

/*
 * Writes m's content to path with the given mode, atomically: the bytes go
 * to tmp_path (NULL: a temporary name beside path), are fsynced, and the
 * file is renamed over path. Chunks are verified as they are read; on any
 * error the target is left as it was and the temporary file is removed.
 * A tmp_path on another filesystem than path is retried beside path.
 * When st is not NULL it receives the stat of the written file.
 */
struct stat;
int dits_materialize(dits_odb *db, const dits_manifest *m, const char *path, const char *tmp_path,
                     mode_t mode, struct stat *st, dits_progress_fn progress, void *pctx);

/*
 * The same, relative to directory fds, for worktree files: the file is
 * name in dirfd (path names it in messages); the bytes are staged as
 * tmp_name in tmpdirfd (tmpdirfd < 0: beside the target in dirfd) and
 * renamed with renameat, which replaces whatever is at name (a symbolic
 * link included) without following it. The temporary file is created
 * with O_EXCL | O_NOFOLLOW.
 */
int dits_materialize_at(dits_odb *db, const dits_manifest *m, int dirfd, const char *name, const char *path,
                        int tmpdirfd, const char *tmp_name, mode_t mode, struct stat *st,
                        dits_progress_fn progress, void *pctx);

#endif
