/*
 * The worker: claim a job, read the master from its chunks, make and
 * validate the proxy and its companions in one decode pass, store their
 * bytes as chunks, and only then register the variants. A worker killed at
 * any point leaves its job leased; when the lease expires another worker
 * takes it, and no variant is ever registered half-made.
 */
#include "hologram.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libavformat/avio.h>
#include <libavutil/error.h>

#include "error.h"
#include "fsutil.h"
#include "ingest.h"
#include "metadb.h"
#include "object.h"
#include "refs.h"
#include "render.h"
#include "worktree.h"

/* ---- a media source over stored chunks ------------------------------- */

typedef struct blob_source {
	dits_blob *blob;
	uint64_t pos;
} blob_source;

static int blob_read(void *opaque, uint8_t *buf, int size)
{
	blob_source *s = opaque;
	ssize_t n = dits_blob_pread(s->blob, buf, (size_t)size, s->pos);
	if (n < 0)
		return AVERROR(EIO);
	if (n == 0)
		return AVERROR_EOF;
	s->pos += (uint64_t)n;
	return (int)n;
}

static int64_t blob_seek(void *opaque, int64_t offset, int whence)
{
	blob_source *s = opaque;
	int64_t size = (int64_t)dits_blob_size(s->blob);
	switch (whence & ~AVSEEK_FORCE) {
	case AVSEEK_SIZE: return size;
	case SEEK_SET: break;
	case SEEK_CUR: offset += (int64_t)s->pos; break;
	case SEEK_END: offset += size; break;
	default: return AVERROR(EINVAL);
	}
	if (offset < 0)
		return AVERROR(EINVAL);
	s->pos = (uint64_t)offset;
	return offset;
}

int dits_media_source_open_blob(dits_media_source *src, dits_odb *db, const dits_id *asset,
                                const char *name)
{
	memset(src, 0, sizeof *src);
	blob_source *s = calloc(1, sizeof *s);
	if (!s)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	int rc = dits_blob_open(&s->blob, db, asset);
	if (rc) {
		free(s);
		return dits_error_wrap(rc, "%s", name);
	}
	src->opaque = s;
	src->read = blob_read;
	src->seek = blob_seek;
	src->name = name;
	return 0;
}

void dits_media_source_close_blob(dits_media_source *src)
{
	blob_source *s = src->opaque;
	if (s) {
		dits_blob_close(s->blob);
		free(s);
	}
	memset(src, 0, sizeof *src);
}

/* ---- the worker ------------------------------------------------------ */

typedef struct heartbeat {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop, lost;
	char dir[4096]; /* the repository's .dits directory */
	int64_t job;
	const char *owner;
	int lease;
} heartbeat;

static void *heartbeat_main(void *arg)
{
	heartbeat *hb = arg;
	dits_metadb *db = NULL;
	if (dits_metadb_open_dir(&db, hb->dir, false))
		return NULL;
	pthread_mutex_lock(&hb->mu);
	while (!hb->stop) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += hb->lease / 3 > 0 ? hb->lease / 3 : 1;
		pthread_cond_timedwait(&hb->cv, &hb->mu, &ts);
		if (hb->stop)
			break;
		pthread_mutex_unlock(&hb->mu);
		int rc = dits_job_heartbeat(db, hb->job, hb->owner, hb->lease);
		pthread_mutex_lock(&hb->mu);
		if (rc == DITS_ECONFLICT)
			hb->lost = true;
	}
	pthread_mutex_unlock(&hb->mu);
	dits_metadb_close(db);
	return NULL;
}

typedef struct output {
	const char *type;  /* variant type */
	char path[4096];
	bool wanted;
	dits_variant v;
	bool begun;
} output;

enum { OUT_PROXY, OUT_POSTER, OUT_SPRITE, OUT_VTT, OUT_PREVIEW, NOUT };

typedef struct job_ctx {
	const dits_worker_opts *o;
	const char *path;
	pthread_mutex_t *event_mu;
	dits_metadb *db; /* where progress is recorded for every server (NULL: nowhere) */
	int64_t id;
	double last; /* when progress was last recorded */
} job_ctx;

static void emit(job_ctx *j, const char *what, double done, double total, const char *msg)
{
	if (!j->o->on_event)
		return;
	dits_worker_event ev = { j->path, what, done, total, msg };
	pthread_mutex_lock(j->event_mu);
	j->o->on_event(j->o->ctx, &ev);
	pthread_mutex_unlock(j->event_mu);
}

static void on_media_progress(void *ctx, double done, double total)
{
	job_ctx *j = ctx;
	emit(j, "progress", done, total, NULL);
	double now = dits_now();
	if (!j->db || total <= 0 || done < 0 || done > total || now - j->last < 0.5)
		return;
	j->last = now;
	/* the web page's queue view on any server of a fleet reads it; only progress is lost on failure */
	if (dits_job_report(j->db, j->id, done / total, NULL))
		dits_error_clear();
}

/* Stores one output file's bytes; fills the variant's manifest and chunk list. */
static int store_output(dits_repo *r, dits_pack_writer *w, const char *file, dits_id *manifest,
                        char **chunk_json, uint64_t *size)
{
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return dits_error_errno("%s", file);
	dits_manifest m;
	int rc = dits_ingest_fd(w, dits_repo_chunker(r), fd, file, &m, NULL, NULL, NULL);
	close(fd);
	if (rc)
		return rc;
	rc = dits_manifest_write(w, &m, manifest);
	if (!rc)
		rc = dits_manifest_chunks_json(&m, chunk_json);
	*size = m.size;
	dits_manifest_free(&m);
	return rc;
}

static void remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char *p = dits_path_join(dir, e->d_name);
		if (p)
			unlink(p);
		free(p);
	}
	if (d)
		closedir(d);
	rmdir(dir);
}

/*
 * Runs one claimed job. Returns 0 when the job reached a final answer
 * (variants ready, or failed for a reason that retrying cannot fix), or a
 * negative code when it should be retried.
 */
static int run_job(dits_repo *r, dits_metadb *db, const dits_job *job, const char *owner,
                   const dits_worker_opts *o, pthread_mutex_t *event_mu, bool *permanent, bool *lost)
{
	*permanent = false;
	*lost = false;
	job_ctx jc = { o, job->path ? job->path : "?", event_mu, db, job->id, 0 };
	dits_proxy_recipe rec;
	int rc = dits_hologram_recipe_from_spec(job->recipe ? job->recipe : "", &rec);
	if (rc) {
		*permanent = true;
		return rc;
	}
	char *recipe_json = dits_proxy_recipe_json(&rec);
	if (!recipe_json)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	dits_id rhash;
	dits_hash_buf(&rhash, recipe_json, strlen(recipe_json));

	output out[NOUT];
	memset(out, 0, sizeof out);
	const char *types[NOUT] = { job->target, "thumbnail", "sprite", "sprite_vtt", "preview_webm" };
	bool wanted[NOUT] = { true, rec.poster, rec.sprite, rec.sprite, rec.preview };
	for (int i = 0; i < NOUT; i++) {
		out[i].type = types[i];
		out[i].wanted = wanted[i];
	}
	const char *names[NOUT] = { "proxy.mov", "poster.jpg", "sprite.jpg", "sprite.vtt", "preview.webm" };
	char *tmpdir = dits_strfmt("%s/tmp/worker-%ld-%lld", dits_repo_dir(r), (long)getpid(), (long long)job->id);
	dits_media_source src = { 0 };
	bool src_open = false;
	dits_media_facts facts;
	dits_proxy_result res;
	dits_pack_writer *w = NULL;
	bool all_ready = true;
	if (!tmpdir) {
		rc = dits_error_set(DITS_ENOMEM, "out of memory");
		goto out;
	}
	for (int i = 0; i < NOUT && !rc; i++) {
		if (!out[i].wanted)
			continue;
		rc = dits_variant_begin(db, &job->asset, out[i].type, recipe_json, &rhash, &out[i].v);
		out[i].begun = rc == 0;
		if (!rc && strcmp(out[i].v.status, "ready") != 0)
			all_ready = false;
	}
	if (rc)
		goto out;
	if (all_ready) { /* same parent, same recipe: made once */
		emit(&jc, "ready", 0, 0, "already made");
		goto out;
	}
	for (int i = 0; i < NOUT; i++)
		if (out[i].begun)
			dits_variant_set_running(db, out[i].v.id);
	emit(&jc, "start", 0, 0, NULL);

	if ((rc = dits_mkdir_p(tmpdir, 0755)))
		goto out;
	for (int i = 0; i < NOUT; i++)
		snprintf(out[i].path, sizeof out[i].path, "%s/%s", tmpdir, names[i]);
	if ((rc = dits_media_source_open_blob(&src, dits_repo_odb(r), &job->asset, jc.path)))
		goto out;
	src_open = true;
	if ((rc = dits_media_probe(&src, &facts))) {
		*permanent = rc == DITS_EINVALID;
		goto out;
	}
	dits_proxy_outputs po = {
		out[OUT_PROXY].path,
		rec.poster ? out[OUT_POSTER].path : NULL,
		rec.sprite ? out[OUT_SPRITE].path : NULL,
		rec.sprite ? out[OUT_VTT].path : NULL,
		"sprite.jpg",
		rec.preview ? out[OUT_PREVIEW].path : NULL,
	};
	memset(&res, 0, sizeof res);
	/* The demuxer reads from the start again. */
	src.seek(src.opaque, 0, SEEK_SET);
	if ((rc = dits_proxy_make(&src, &facts, &rec, &po, &res, on_media_progress, &jc))) {
		/* Bytes that do not decode will not decode next time either; a
		   store that could not deliver them (DITS_EIO) is worth a retry. */
		*permanent = rc == DITS_EINVALID;
		goto out;
	}
	if ((rc = dits_proxy_validate(&facts, &res.proxy, rec.max_height))) {
		*permanent = true; /* the same inputs give the same proxy */
		goto out;
	}

	/* Publish: chunks durable first, then the variants, under the lock. */
	if ((rc = dits_repo_lock(r)))
		goto out;
	if ((rc = dits_pack_writer_new(&w, dits_repo_odb(r))))
		goto unlock;
	dits_id manifests[NOUT];
	char *chunks[NOUT] = { 0 };
	uint64_t sizes[NOUT] = { 0 };
	for (int i = 0; i < NOUT && !rc; i++)
		if (out[i].wanted)
			rc = store_output(r, w, out[i].path, &manifests[i], &chunks[i], &sizes[i]);
	if (!rc)
		rc = dits_pack_writer_finish(w);
	char *facts_json = rc ? NULL : dits_media_facts_json(&res.proxy);
	char *master_json = rc ? NULL : dits_media_facts_json(&facts);
	if (facts_json && master_json) {
		/* Record which LUT the proxy carries, and the master's facts it was
		   validated against (a proxy clone verifies without the master). */
		size_t fl = strlen(facts_json);
		char *with = fl && facts_json[fl - 1] == '}'
			? dits_strfmt("%.*s%s%s%s,\"master\":%s}", (int)(fl - 1), facts_json,
			              res.lut_applied[0] ? ",\"lut_applied\":\"" : "", res.lut_applied,
			              res.lut_applied[0] ? "\"" : "", master_json)
			: NULL;
		if (with) {
			free(facts_json);
			facts_json = with;
		}
	}
	free(master_json);
	for (int i = 0; i < NOUT && !rc; i++) {
		if (!out[i].wanted)
			continue;
		char *fj = i == OUT_PROXY ? facts_json : NULL;
		rc = dits_variant_register(db, out[i].v.id, &manifests[i], chunks[i], fj ? fj : "{}",
		                           i == OUT_PROXY ? res.warnings : "", sizes[i]);
	}
	free(facts_json);
	for (int i = 0; i < NOUT; i++)
		free(chunks[i]);
unlock:
	dits_repo_unlock(r);
	if (!rc)
		emit(&jc, "ready", 0, 0, res.warnings[0] ? res.warnings : NULL);
out:
	if (rc && (*permanent || job->attempts >= job->max_attempts)) {
		char msg[1024];
		snprintf(msg, sizeof msg, "%s", dits_error_last());
		for (int i = 0; i < NOUT; i++)
			if (out[i].begun && strcmp(out[i].v.status, "ready") != 0)
				dits_variant_fail(db, out[i].v.id, msg);
		dits_error_set(rc, "%s", msg);
	}
	dits_pack_writer_free(w);
	if (src_open)
		dits_media_source_close_blob(&src);
	for (int i = 0; i < NOUT; i++)
		if (out[i].begun)
			dits_variant_free(&out[i].v);
	if (tmpdir)
		remove_dir(tmpdir);
	free(tmpdir);
	free(recipe_json);
	return rc;
}

typedef struct worker_thread {
	pthread_t th;
	const char *workdir;
	const dits_worker_opts *o;
	pthread_mutex_t *event_mu;
	dits_worker_stats st;
	int index;
	int rc;
} worker_thread;

static void *worker_main(void *arg)
{
	worker_thread *wt = arg;
	const dits_worker_opts *o = wt->o;
	dits_repo *r = NULL;
	dits_metadb *db = NULL;
	char owner[96];
	char host[64] = "host";
	gethostname(host, sizeof host - 1);
	snprintf(owner, sizeof owner, "%s:%ld:%d", host, (long)getpid(), wt->index);
	int lease = o->lease_seconds > 0 ? o->lease_seconds : 60;
	wt->rc = o->open_repo ? o->open_repo(o->ctx, wt->workdir, &r) : dits_repo_open(&r, wt->workdir);
	if (!wt->rc)
		wt->rc = dits_metadb_open_repo(&db, r);
	int idle = 0;
	while (!wt->rc) {
		dits_job job;
		int rc = dits_job_claim(db, owner, lease, &job);
		if (rc == DITS_ENOTFOUND) {
			if (o->once)
				break;
			int64_t pending = 0;
			dits_job_pending(db, &pending);
			if (o->drain && pending == 0)
				break;
			/* Jobs in backoff or leased by others: look again shortly
			 * (PostgreSQL wakes the wait at once when a job is queued). */
			if ((rc = dits_job_wait(db, idle < 10 ? 100 : 500))) {
				wt->rc = rc;
				break;
			}
			idle++;
			continue;
		}
		if (rc) {
			wt->rc = rc;
			break;
		}
		idle = 0;
		heartbeat hb;
		memset(&hb, 0, sizeof hb);
		pthread_mutex_init(&hb.mu, NULL);
		pthread_cond_init(&hb.cv, NULL);
		snprintf(hb.dir, sizeof hb.dir, "%s", dits_repo_dir(r));
		hb.job = job.id;
		hb.owner = owner;
		hb.lease = lease;
		bool hb_running = pthread_create(&hb.th, NULL, heartbeat_main, &hb) == 0;
		bool permanent, lost;
		if (!strcmp(job.kind, "RENDER")) {
			lost = false;
			rc = dits_render_job_run(r, db, &job, &permanent);
		} else {
			rc = run_job(r, db, &job, owner, o, wt->event_mu, &permanent, &lost);
		}
		pthread_mutex_lock(&hb.mu);
		hb.stop = true;
		pthread_cond_signal(&hb.cv);
		pthread_mutex_unlock(&hb.mu);
		if (hb_running)
			pthread_join(hb.th, NULL);
		job_ctx jc = { o, job.path ? job.path : "?", wt->event_mu, NULL, 0, 0 };
		if (hb.lost) {
			/* Another worker owns it now; what we made (if anything) is harmless. */
		} else if (rc == 0) {
			dits_job_complete(db, job.id, owner);
			wt->st.done++;
		} else {
			char msg[1024];
			snprintf(msg, sizeof msg, "%s", dits_error_last());
			dits_job_fail(db, job.id, owner, msg, permanent);
			if (permanent || job.attempts >= job.max_attempts) {
				wt->st.failed++;
				emit(&jc, "failed", 0, 0, msg);
			} else {
				wt->st.retried++;
				emit(&jc, "retry", 0, 0, msg);
			}
		}
		pthread_mutex_destroy(&hb.mu);
		pthread_cond_destroy(&hb.cv);
		dits_job_free(&job);
		if (o->once)
			break;
	}
	dits_metadb_close(db);
	dits_repo_free(r);
	return NULL;
}

int dits_worker_run(dits_repo *r, const dits_worker_opts *o, dits_worker_stats *st)
{
	memset(st, 0, sizeof *st);
	int n = o->jobs > 0 ? o->jobs : 1;
	if (o->once)
		n = 1;
	worker_thread *wt = calloc((size_t)n, sizeof *wt);
	if (!wt)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	pthread_mutex_t event_mu = PTHREAD_MUTEX_INITIALIZER;
	for (int i = 0; i < n; i++) {
		wt[i].workdir = dits_repo_workdir(r);
		wt[i].o = o;
		wt[i].event_mu = &event_mu;
		wt[i].index = i;
		if (pthread_create(&wt[i].th, NULL, worker_main, &wt[i]) != 0) {
			wt[i].rc = dits_error_set(DITS_ERROR, "cannot start worker thread");
			n = i;
			break;
		}
	}
	int rc = 0;
	for (int i = 0; i < n; i++) {
		pthread_join(wt[i].th, NULL);
		st->done += wt[i].st.done;
		st->failed += wt[i].st.failed;
		st->retried += wt[i].st.retried;
		if (wt[i].rc && !rc)
			rc = wt[i].rc;
	}
	free(wt);
	return rc;
}

