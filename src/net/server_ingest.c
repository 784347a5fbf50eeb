/*
 * server_ingest.c - S3-triggered ingest: an ObjectCreated event for a key
 * under a repository's ingest prefix makes the server read the object
 * from the bucket and commit it on the ingest branch (docs/SERVER.md,
 * "S3-triggered ingest").
 *
 * The object is never copied whole to disk: one thread reads it with
 * ranged GETs (DITS_INGEST_RANGE bytes each) and writes the bytes into a
 * socket pair, and the request's thread cuts and stores them from the
 * other end with dits_ingest_fd (FastCDC, BLAKE3, the pack writer), as a
 * local `dits add` does from a pipe. Memory stays at a few blocks.
 *
 * Idempotence: the commit's message carries the object's bucket, key,
 * ETag and sequencer as trailers. Before reading anything the branch's
 * first-parent history is searched for the key's latest ingest commit: the
 * same ETag is a repeat (no commit), an older sequencer is a late event
 * (no commit). After reading, a tree that does not change (the same bytes
 * under another ETag) makes no commit either. The branch moves by
 * compare-and-swap; a concurrent move makes the commit again on the new
 * tip, where a concurrent ingest of the same bytes is then a no-op.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "error.h"
#include "hologram.h"
#include "ingest.h"
#include "object.h"
#include "refs.h"
#include "s3.h"
#include "server_ingest.h"
#include "worktree.h"

#define DITS_INGEST_RANGE ((uint64_t)8 << 20)
#define DITS_INGEST_HISTORY 1000 /* first-parent commits searched for the key's last ingest */
#define DITS_INGEST_CAS_TRIES 8

/* ---- which repository ------------------------------------------------------------- */

static bool path_ok(const char *p)
{
	if (!*p || *p == '/')
		return false;
	for (const unsigned char *c = (const unsigned char *)p; *c; c++)
		if (*c < 0x20 || *c == 0x7f)
			return false;
	const char *seg = p;
	for (;;) {
		const char *end = strchr(seg, '/');
		size_t n = end ? (size_t)(end - seg) : strlen(seg);
		if (n == 0 || (n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.') ||
		    (n == 5 && !memcmp(seg, ".dits", 5)))
			return false;
		if (!end)
			return true;
		seg = end + 1;
	}
}

int ingest_route(dits_server *s, const char *bucket, const char *key, ingest_target *t)
{
	memset(t, 0, sizeof *t);
	size_t kl = strlen(key);
	if (!bucket || !kl || key[kl - 1] == '/') /* a "folder" marker holds no file */
		return 0;
	char **names;
	size_t n, best = 0;
	int rc = server_list_repos(s, &names, &n);
	if (rc)
		return rc;
	for (size_t i = 0; !rc && i < n; i++) {
		char *cpath = dits_strfmt("%s/%s/.dits/config", s->root, names[i]);
		dits_config *c = NULL;
		if (!cpath || dits_config_load(&c, cpath)) {
			dits_error_clear();
			free(cpath);
			continue;
		}
		free(cpath);
		const char *b = dits_config_get(c, "ingest.bucket");
		const char *prefix = dits_config_get(c, "ingest.prefix");
		if (!prefix)
			prefix = "";
		size_t pl = strlen(prefix);
		if (b && !strcmp(b, bucket) && !strncmp(key, prefix, pl) && key[pl] && (!t->name || pl > best)) {
			const char *pp = dits_config_get(c, "ingest.path");
			const char *br = dits_config_get(c, "ingest.branch");
			free(t->name);
			free(t->path);
			free(t->branch);
			best = pl;
			t->name = strdup(names[i]);
			t->path = dits_strfmt("%s%s%s", pp ? pp : "", pp && *pp && pp[strlen(pp) - 1] != '/' ? "/" : "",
			                      key + pl);
			t->branch = dits_strfmt("refs/heads/%s", br && *br ? br : "ingest");
			if (!t->name || !t->path || !t->branch)
				rc = dits_error_set(DITS_ENOMEM, "out of memory");
		}
		dits_config_free(c);
	}
	server_free_names(names, n);
	if (!rc && t->name) {
		if (!path_ok(t->path))
			rc = dits_error_set(DITS_EINVALID, "s3://%s/%s: maps to \"%s\" in %s, which is not a valid path",
			                    bucket, key, t->path, t->name);
		else if (!dits_ref_name_valid(t->branch + 11))
			rc = dits_error_set(DITS_EINVALID, "%s: ingest.branch \"%s\" is not a valid branch name", t->name,
			                    t->branch + 11);
	}
	if (rc)
		ingest_target_free(t);
	return rc ? rc : t->name != NULL;
}

void ingest_target_free(ingest_target *t)
{
	free(t->name);
	free(t->path);
	free(t->branch);
	memset(t, 0, sizeof *t);
}

/* ---- what was ingested already ---------------------------------------------------- */

/* The value of trailer "NAME: " in msg (malloc'd), or NULL. */
static char *trailer(const char *msg, const char *name)
{
	size_t nl = strlen(name);
	for (const char *p = msg; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (!strncmp(p, name, nl) && p[nl] == ':' && p[nl + 1] == ' ') {
			const char *v = p + nl + 2, *e = strchr(v, '\n');
			return strndup(v, e ? (size_t)(e - v) : strlen(v));
		}
	}
	return NULL;
}

/* S3's rule: left-pad the shorter sequencer with zeros, then compare as strings. */
static int seq_cmp(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), n = la > lb ? la : lb;
	for (size_t i = 0; i < n; i++) {
		char ca = i < n - la ? '0' : a[i - (n - la)], cb = i < n - lb ? '0' : b[i - (n - lb)];
		if (ca != cb)
			return ca < cb ? -1 : 1;
	}
	return 0;
}

typedef struct last_ingest {
	bool found;
	dits_id commit;
	char *etag, *sequencer;
} last_ingest;

/* The latest commit on the first-parent chain from tip whose S3-Object is object. */
static int find_last(dits_repo *r, const dits_id *tip, const char *object, last_ingest *out)
{
	memset(out, 0, sizeof *out);
	dits_id cur = *tip;
	for (int depth = 0; depth < DITS_INGEST_HISTORY; depth++) {
		dits_commit c;
		int rc = dits_commit_read(dits_repo_odb(r), &cur, &c);
		if (rc)
			return rc;
		char *obj = c.message ? trailer(c.message, "S3-Object") : NULL;
		if (obj && !strcmp(obj, object)) {
			out->found = true;
			out->commit = cur;
			out->etag = trailer(c.message, "S3-ETag");
			out->sequencer = trailer(c.message, "S3-Sequencer");
			if (out->sequencer && !*out->sequencer) { /* not known for that version */
				free(out->sequencer);
				out->sequencer = NULL;
			}
		}
		free(obj);
		bool more = c.nparents > 0;
		if (more)
			cur = c.parents[0];
		dits_commit_free(&c);
		if (out->found || !more)
			break;
	}
	return 0;
}

/* ---- streaming the object --------------------------------------------------------- */

typedef struct feeder {
	dits_s3 *s3;
	const char *key;
	uint64_t size, sent;
	int fd;
	int rc;
	char err[1024];
} feeder;

static int feed_sink(void *ctx, const void *data, size_t len)
{
	feeder *f = ctx;
	const char *p = data;
	while (len) {
		ssize_t n = send(f->fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) /* the chunker stopped reading: it failed, and says why */
			return dits_error_errno("stream to the chunker");
		p += n;
		len -= (size_t)n;
		f->sent += (uint64_t)n;
	}
	return 0;
}

static void *feed_main(void *arg)
{
	feeder *f = arg;
	for (uint64_t off = 0; !f->rc && off < f->size; off += DITS_INGEST_RANGE) {
		uint64_t len = f->size - off < DITS_INGEST_RANGE ? f->size - off : DITS_INGEST_RANGE;
		uint64_t before = f->sent;
		f->rc = dits_s3_get_to(f->s3, f->key, off, len, feed_sink, f);
		if (!f->rc && f->sent - before != len)
			f->rc = dits_error_set(DITS_EIO, "the object ended at %llu bytes, not %llu (changed while read?)",
			                       (unsigned long long)f->sent, (unsigned long long)f->size);
	}
	if (f->rc)
		snprintf(f->err, sizeof f->err, "%s", dits_error_last());
	close(f->fd); /* end of file for the chunker */
	f->fd = -1;
	return NULL;
}

/* Reads key (size bytes) into w; m receives its manifest. */
static int stream_object(dits_repo *r, dits_pack_writer *w, dits_s3 *s3, const char *key, const char *what,
                         uint64_t size, dits_manifest *m)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return dits_error_errno("ingest: socketpair");
	feeder f = { .s3 = s3, .key = key, .size = size, .fd = sv[1] };
	pthread_t th;
	int e = pthread_create(&th, NULL, feed_main, &f);
	if (e) {
		close(sv[0]);
		close(sv[1]);
		errno = e;
		return dits_error_errno("ingest: thread");
	}
	int rc = dits_ingest_fd(w, dits_repo_chunker(r), sv[0], what, m, NULL, NULL, NULL);
	close(sv[0]); /* a feeder still sending gets EPIPE and stops */
	pthread_join(th, NULL);
	if (rc) /* the chunker's own error (a feeder cut off by it only saw EPIPE) */
		return rc;
	if (f.rc) { /* the store's error: the chunker saw the stream end early */
		dits_manifest_free(m);
		return dits_error_set(f.rc, "ingest %s: %s", what, f.err);
	}
	if (!rc && m->size != size)
		rc = dits_error_set(DITS_EIO, "ingest %s: read %llu bytes, the store said %llu", what,
		                    (unsigned long long)m->size, (unsigned long long)size);
	return rc;
}

/* ---- committing ------------------------------------------------------------------- */

/* The tip to start the ingest branch from: HEAD's commit, absent (zero) in an empty repository. */
static int base_commit(dits_repo *r, const char *branch, dits_id *tip, bool *branch_exists)
{
	int rc = dits_ref_read(r, branch, tip);
	*branch_exists = rc == 0;
	if (rc != DITS_ENOTFOUND)
		return rc;
	dits_error_clear();
	if ((rc = dits_ref_read(r, "HEAD", tip)) == DITS_ENOTFOUND) {
		dits_error_clear();
		memset(tip, 0, sizeof *tip);
		return 0;
	}
	return rc;
}

static const char *etag_bare(const char *e, char *buf, size_t cap)
{
	size_t n = strlen(e);
	if (n >= 2 && e[0] == '"' && e[n - 1] == '"')
		snprintf(buf, cap, "%.*s", (int)(n - 2), e + 1);
	else
		snprintf(buf, cap, "%s", e);
	return buf;
}

int ingest_object(dits_repo *r, const ingest_target *t, const server_s3_record *rec, ingest_result *res)
{
	memset(res, 0, sizeof *res);
	char *object = dits_strfmt("s3://%s/%s", rec->bucket, rec->key);
	if (!object)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	dits_s3 *s3 = NULL;
	dits_s3_config cfg = { .bucket = rec->bucket };
	dits_pack_writer *w = NULL;
	dits_manifest m;
	dits_manifest_init(&m);
	last_ingest last = { 0 };
	char *message = NULL;
	dits_id tip, manifest;
	bool exists;
	char etag[160];
	const char *rseq = rec->sequencer && *rec->sequencer ? rec->sequencer : NULL; /* "" is none */
	int rc = base_commit(r, t->branch, &tip, &exists);
	if (!rc && exists)
		rc = find_last(r, &tip, object, &last);
	if (rc)
		goto out;
	/* the event's own facts first: a repeat or a late event costs no request */
	if (last.found && rec->etag && last.etag && !strcmp(last.etag, rec->etag) &&
	    (!rseq || !last.sequencer || !seq_cmp(rseq, last.sequencer))) {
		res->state = "unchanged";
		res->commit = last.commit;
		goto out;
	}
	if (last.found && rseq && last.sequencer && seq_cmp(rseq, last.sequencer) < 0) {
		res->state = "stale";
		res->commit = last.commit;
		goto out;
	}
	dits_s3_stat st;
	if ((rc = dits_s3_open(&cfg, &s3)) || (rc = dits_s3_head(s3, rec->key, &st))) {
		rc = dits_error_wrap(rc, "ingest %s", object);
		goto out;
	}
	etag_bare(st.etag, etag, sizeof etag);
	if (last.found && last.etag && !strcmp(last.etag, etag)) { /* the same version, another event */
		res->state = "unchanged";
		res->commit = last.commit;
		goto out;
	}
	if ((rc = dits_pack_writer_new(&w, dits_repo_odb(r))) || (rc = stream_object(r, w, s3, rec->key, object, st.size, &m)) ||
	    (rc = dits_manifest_write(w, &m, &manifest)))
		goto out;
	/* the event's sequencer belongs to the version it announced: keep it only for that one */
	bool same_version = !rec->etag || !strcmp(rec->etag, etag);
	const char *seq = same_version ? rseq : NULL;
	message = dits_strfmt("Ingest %s\n\nS3-Object: %s\nS3-ETag: %s\n%s%s%sS3-Size: %llu\n", object, object, etag,
	                      seq ? "S3-Sequencer: " : "", seq ? seq : "", seq ? "\n" : "",
	                      (unsigned long long)st.size);
	if (!message) {
		rc = dits_error_set(DITS_ENOMEM, "out of memory");
		goto out;
	}
	res->size = st.size;
	for (int tries = 0;; tries++) {
		if ((rc = dits_repo_lock(r)))
			break;
		bool unchanged = false;
		dits_id made;
		dits_odb_refresh(dits_repo_odb(r));
		dits_id zero = { 0 };
		dits_file_commit f = { .path = t->path, .size = m.size, .manifest = &manifest, .message = message };
		if (!(rc = base_commit(r, t->branch, &tip, &exists)))
			rc = dits_commit_put_file(r, w, &f, &tip, t->branch, exists ? &tip : &zero, "ingest", &made,
			                          &unchanged);
		if (!rc && unchanged) {
			/* the branch already has these bytes there (another ETag, or a concurrent event) */
			dits_repo_unlock(r);
			if (!exists) { /* the default branch has them: the ingest branch starts there */
				if ((rc = dits_ref_update(r, t->branch, &tip, &(dits_id){ 0 }, "ingest: branch")) == DITS_ECONFLICT &&
				    tries < DITS_INGEST_CAS_TRIES) {
					dits_error_clear();
					continue;
				}
			}
			res->state = "unchanged";
			res->commit = tip;
			break;
		}
		dits_repo_unlock(r);
		if (!rc) {
			res->state = "committed";
			res->commit = made;
			break;
		}
		if (rc != DITS_ECONFLICT || tries >= DITS_INGEST_CAS_TRIES)
			break;
		/* moved meanwhile: the same object on the new tip, with a new writer */
		dits_error_clear();
		dits_pack_writer_free(w);
		w = NULL;
		if ((rc = dits_pack_writer_new(&w, dits_repo_odb(r))))
			break;
		if ((rc = dits_manifest_write(w, &m, &manifest)))
			break;
	}
	if (!rc && !strcmp(res->state, "committed") && dits_hologram_after_commit(r, &res->commit, &res->jobs)) {
		fprintf(stderr, "dits: warning: %s: proxies not queued: %s\n", object, dits_error_last());
		dits_error_clear();
	}
out:
	free(message);
	free(last.etag);
	free(last.sequencer);
	dits_manifest_free(&m);
	dits_pack_writer_free(w);
	dits_s3_close(s3);
	free(object);
	return rc;
}
