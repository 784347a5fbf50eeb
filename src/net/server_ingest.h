/*
 * server_ingest.h - S3-triggered ingest (server_ingest.c, docs/SERVER.md).
 */
#ifndef DITS_SERVER_INGEST_H
#define DITS_SERVER_INGEST_H

#include "server_internal.h"
#include "server_json.h"

/* Where an object goes: repository NAME, PATH in its tree, BRANCH (refs/heads/...). */
typedef struct ingest_target {
	char *name, *path, *branch;
} ingest_target;

/*
 * Finds the repository whose ingest.bucket is bucket and whose
 * ingest.prefix starts key (the longest such prefix wins). Returns 1 with
 * t filled, 0 when no repository ingests the key (or the key ends in '/',
 * the zero-byte "folder" marker S3 consoles create), or an error
 * (DITS_EINVALID when the key maps to a path a tree cannot hold).
 */
int ingest_route(dits_server *s, const char *bucket, const char *key, ingest_target *t);
void ingest_target_free(ingest_target *t);

typedef struct ingest_result {
	const char *state;   /* "committed", "unchanged" (a repeat, or the same bytes) or "stale" */
	dits_id commit;      /* the new commit, or the one that already holds this version */
	uint64_t size;       /* bytes read from the store (0 when nothing was read) */
	size_t jobs;         /* proxy jobs queued */
} ingest_result;

/*
 * Reads rec's object from its bucket (credentials and endpoint from the
 * server's AWS_* environment) and commits it at t->path on t->branch of r.
 */
int ingest_object(dits_repo *r, const ingest_target *t, const server_s3_record *rec, ingest_result *res);

#endif
