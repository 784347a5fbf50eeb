/*
 * A render job of the server's queue (docs/RENDER.md, "On the server"):
 * the request's timeline parsed and resolved against the branch, rendered
 * from the stored masters into the repository's tmp directory, stored, and
 * committed on the branch as renders/NAME.mov with one ref update checked
 * against the parent. Progress and the output commit go to the job's row
 * of the metadata database (dits_job_report), which GET /NAME/render/ID
 * reads on any server of a fleet.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "conform.h"
#include "error.h"
#include "fsutil.h"
#include "hologram.h"
#include "ingest.h"
#include "metadb.h"
#include "object.h"
#include "refs.h"
#include "render.h"
#include "worktree.h"

typedef struct job_state {
	dits_metadb *db;
	int64_t id;
	double last;  /* when progress was last written */
} job_state;

static void write_state(job_state *s, double progress, const char *commit_hex, const char *path)
{
	char *result = NULL;
	if (commit_hex) {
		cJSON *o = cJSON_CreateObject();
		if (o && cJSON_AddStringToObject(o, "commit", commit_hex) && cJSON_AddStringToObject(o, "path", path))
			result = cJSON_PrintUnformatted(o);
		cJSON_Delete(o);
	}
	/* only progress is lost when this fails (the commit is on the branch) */
	if ((commit_hex && !result) || dits_job_report(s->db, s->id, progress, result)) {
		fprintf(stderr, "dits: warning: render job %lld: progress not recorded: %s\n", (long long)s->id,
		        dits_error_last());
		dits_error_clear();
	}
	free(result);
}

static void on_progress(void *ctx, double done, double total)
{
	job_state *s = ctx;
	double now = dits_now();
	if (total <= 0 || (now - s->last < 0.5 && done < total))
		return;
	s->last = now;
	/* the render is 90 %, storing and committing the rest */
	write_state(s, 0.9 * done / total, NULL, NULL);
}

static const char *member(const cJSON *j, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/*
 * Stores file's bytes and commits them as out on branch (its head was
 * head when the render began), moving the branch only from the commit
 * the new one was made on; a branch that moved meanwhile is tried once
 * more on its new head.
 */
static int publish(dits_repo *r, const char *file, const char *branch, const char *out, const char *message,
                   dits_id *made)
{
	int rc = dits_repo_lock(r);
	if (rc)
		return rc;
	dits_pack_writer *w = NULL;
	dits_manifest m;
	dits_manifest_init(&m);
	dits_id manifest, head;
	int fd = -1;
	if ((rc = dits_pack_writer_new(&w, dits_repo_odb(r))))
		goto out;
	if ((fd = open(file, O_RDONLY | O_CLOEXEC)) < 0) {
		rc = dits_error_errno("%s", file);
		goto out;
	}
	if ((rc = dits_ingest_fd(w, dits_repo_chunker(r), fd, file, &m, NULL, NULL, NULL)) ||
	    (rc = dits_manifest_write(w, &m, &manifest)))
		goto out;
	bool raced = false;
	for (int tries = 0; tries < 2; tries++) {
		if ((rc = dits_ref_read(r, branch, &head))) {
			rc = dits_error_wrap(rc, "%s", branch);
			break;
		}
		char subject[200];
		snprintf(subject, sizeof subject, "render: %s", out);
		dits_file_commit f = { .path = out, .size = m.size, .manifest = &manifest, .message = message };
		rc = dits_commit_put_file(r, w, &f, &head, branch, &head, subject, made, NULL);
		if (!(raced = rc == DITS_ECONFLICT))
			break;
		/* the branch moved since it was read: the same file on its new head */
		dits_error_clear();
		dits_pack_writer_free(w);
		w = NULL;
		if ((rc = dits_pack_writer_new(&w, dits_repo_odb(r)))) {
			raced = false;
			break;
		}
	}
	if (raced)
		rc = dits_error_set(DITS_ECONFLICT, "%s moved twice while %s was committed", branch, out);
out:
	if (fd >= 0)
		close(fd);
	dits_manifest_free(&m);
	dits_pack_writer_free(w);
	dits_repo_unlock(r);
	return rc;
}

int dits_render_job_run(dits_repo *r, dits_metadb *db, const dits_job *job, bool *permanent)
{
	*permanent = true; /* the same request fails the same way, unless said otherwise below */
	cJSON *j = job->recipe ? cJSON_Parse(job->recipe) : NULL;
	const char *name = member(j, "timeline_name"), *text = member(j, "timeline"), *branch = member(j, "branch"),
	           *rev = member(j, "rev"), *target = member(j, "target"), *codec = member(j, "codec"),
	           *rate = member(j, "rate"), *out = member(j, "out");
	bool verify = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "verify"));
	if (!name || !text || !branch || !out) {
		cJSON_Delete(j);
		return dits_error_set(DITS_EINVALID, "render job %lld: its request is incomplete", (long long)job->id);
	}
	if (!target)
		target = "4k_master";
	if (!codec)
		codec = "prores_hq";
	/* a worker that committed and died before marking the job done: it is done */
	if (job->result) {
		cJSON_Delete(j);
		return 0;
	}
	job_state js = { db, job->id, 0 };
	char *tmpdir = dits_strfmt("%s/tmp/render-%ld-%lld", dits_repo_dir(r), (long)getpid(), (long long)job->id);
	char *tmp = tmpdir ? dits_strfmt("%s/out.mov", tmpdir) : NULL;
	dits_timeline tl;
	memset(&tl, 0, sizeof tl);
	bool parsed = false;
	dits_conform_master *m = NULL;
	dits_media_facts *facts = NULL;
	char *msg = NULL;
	AVRational edl_rate = { 0, 1 };
	int vcodec = dits_render_codec_of(codec), w = 0, h = 0, rc = 0;
	dits_id head, commit, made;
	if (!tmp)
		rc = dits_error_set(DITS_ENOMEM, "out of memory");
	if (!rc)
		write_state(&js, 0, NULL, NULL);
	if (!rc && vcodec < 0)
		rc = dits_error_set(DITS_EINVALID, "codec: prores_hq, prores_4444, dnxhr_hqx or ffv1, not '%s'", codec);
	if (!rc && rate && dits_render_parse_rate(rate, &edl_rate) < 0)
		rc = dits_error_set(DITS_EINVALID, "rate: a frame rate (24, 23.976, 24000/1001), not '%s'", rate);
	if (!rc && !(rc = dits_timeline_parse_rate(text, strlen(text), name, edl_rate, &tl)))
		parsed = true;
	if (!rc && (rc = dits_ref_read(r, branch, &head)))
		rc = dits_error_wrap(rc, "%s", branch);
	if (!rc && rev)
		rc = dits_revparse(r, rev, &commit);
	else if (!rc)
		commit = head;
	if (!rc)
		rc = dits_conform_resolve(r, &commit, &tl, name, &m);
	if (!rc && dits_conform_target_size(target, &tl, m, &w, &h) < 0)
		rc = dits_error_set(DITS_EINVALID, "target %s: not a size (WxH, even, 16..16384)", target);
	if (!rc)
		rc = dits_conform_facts(&tl, m, &facts);
	dits_conform_store oc = { r, m };
	dits_render_opts ro = { .width = w, .height = h, .codec = vcodec, .sample_rate = 48000,
		                .channels = tl.naudio_tracks > 2 ? tl.naudio_tracks : 2,
		                .progress = on_progress, .pctx = &js };
	if (!rc) {
		/* from here on a failure may be the machine's (disk, store): worth another attempt */
		*permanent = false;
		rc = dits_mkdir_p(tmpdir, 0755);
	}
	if (!rc && (rc = dits_render_run(&tl, facts, dits_conform_open, dits_conform_close, &oc, &ro, tmp)))
		*permanent = rc == DITS_EINVALID;
	if (!rc && verify) {
		dits_render_report rep;
		memset(&rep, 0, sizeof rep);
		rc = dits_render_verify(&tl, facts, dits_conform_open, dits_conform_close, &oc, &ro, tmp, &rep);
		if (!rc && !rep.pass) {
			*permanent = true;
			rc = dits_error_set(DITS_EINVALID, "%s: the render does not match the timeline; nothing kept", name);
		}
		dits_render_report_free(&rep);
	}
	if (!rc && !(msg = dits_strfmt("Render %s (%s, %zu %s) at %dx%d\n", name, dits_timeline_format_name(tl.format),
	                               tl.nclips, tl.nclips == 1 ? "clip" : "clips", w, h)))
		rc = dits_error_set(DITS_ENOMEM, "out of memory");
	if (!rc)
		rc = publish(r, tmp, branch, out, msg, &made);
	if (!rc) {
		char hex[DITS_ID_HEXLEN + 1];
		dits_id_hex(hex, &made);
		write_state(&js, 1, hex, out);
		/* its proxies, like a pushed master's: the ref landed whatever happens here */
		size_t n = 0;
		if (dits_hologram_after_commit(r, &made, &n)) {
			fprintf(stderr, "dits: warning: %s: proxies not queued: %s\n", out, dits_error_last());
			dits_error_clear();
		}
	}
	if (tmp)
		unlink(tmp);
	if (tmpdir)
		rmdir(tmpdir);
	free(msg);
	free(facts);
	dits_conform_masters_free(m, tl.nmedia);
	if (parsed)
		dits_timeline_free(&tl);
	free(tmp);
	free(tmpdir);
	cJSON_Delete(j);
	return rc;
}
