/*
 * queue.c - the Hologram layer's side that needs no FFmpeg: which files get
 * proxies, the recipe a job asks for, queueing jobs, and starting the
 * background worker. The `dits` program links only this; the transcoding
 * itself runs in `dits-media` (hologram.c), so everyday commands do not pay
 * for loading FFmpeg's libraries.
 */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error.h"
#include "fsutil.h"
#include "hologram.h"
#include "metadb.h"
#include "object.h"
#include "worktree.h"

static const char *const codec_names[] = {"prores_proxy", "dnxhr_lb", "h264"};

void dits_proxy_recipe_default(dits_proxy_recipe *r)
{
	memset(r, 0, sizeof(*r));
	r->codec = DITS_PROXY_PRORES_PROXY;
	r->max_height = 1080;
	r->poster = r->sprite = r->preview = true;
}

int dits_proxy_codec_from_name(const char *name)
{
	for (int i = 0; i < 3; i++)
		if (name && strcmp(name, codec_names[i]) == 0)
			return i;
	return -1;
}

const char *dits_proxy_codec_name(int codec)
{
	return codec >= 0 && codec < 3 ? codec_names[codec] : NULL;
}

/* ---- which files, which recipe --------------------------------------- */

bool dits_hologram_is_video_path(const char *path)
{
	static const char *const exts[] = {
		".mov", ".mp4", ".m4v", ".mxf", ".mkv", ".avi", ".mts", ".m2ts", ".mpg", ".mpeg",
		".webm", ".dv", ".ts", ".y4m", ".r3d", ".braw", ".ari", ".crm", NULL,
	};
	const char *dot = strrchr(path, '.');
	const char *slash = strrchr(path, '/');
	if (!dot || (slash && dot < slash))
		return false;
	for (int i = 0; exts[i]; i++)
		if (!strcasecmp(dot, exts[i]))
			return true;
	return false;
}

const char *dits_hologram_proxy_type(const dits_proxy_recipe *r)
{
	return r->max_height <= 540 ? "proxy_540p" : r->max_height <= 720 ? "proxy_720p" : "proxy_1080p";
}

int dits_hologram_recipe_from_config(dits_repo *r, dits_proxy_recipe *out)
{
	dits_proxy_recipe_default(out);
	const char *profile = dits_config_get(dits_repo_config(r), "proxy.profile");
	if (profile) {
		int c = dits_proxy_codec_from_name(profile);
		if (c < 0)
			return dits_error_set(DITS_EINVALID, "config proxy.profile = '%s' is not prores_proxy, dnxhr_lb or h264",
			                      profile);
		out->codec = c;
	}
	uint64_t h;
	int rc = dits_config_get_u64(dits_repo_config(r), "proxy.resolution", 1080, &h);
	if (rc)
		return rc;
	if (h != 1080 && h != 720 && h != 540)
		return dits_error_set(DITS_EINVALID, "config proxy.resolution = %llu is not 1080, 720 or 540",
		                      (unsigned long long)h);
	out->max_height = (int)h;
	return 0;
}

/*
 * The job's recipe field: a small JSON object the worker turns back into a
 * recipe: {"codec":"prores_proxy","height":1080,"poster":1,"sprite":1,
 * "preview":1,"lut":"..."}. (The variant records the full description from
 * dits_proxy_recipe_json, libav versions included.)
 */
static char *recipe_spec(const dits_proxy_recipe *r)
{
	dits_buf b = DITS_BUF_INIT;
	dits_buf_printf(&b, "{\"codec\":\"%s\",\"height\":%d,\"poster\":%d,\"sprite\":%d,\"preview\":%d,\"lut\":",
	                dits_proxy_codec_name(r->codec), r->max_height, r->poster, r->sprite, r->preview);
	dits_buf_put_json_str(&b, r->lut);
	if (dits_buf_puts(&b, "}") || dits_buf_cstr(&b)) {
		dits_buf_free(&b);
		return NULL;
	}
	return (char *)b.data;
}

/* The value after "key": in a flat JSON object we wrote ourselves. */
static const char *spec_field(const char *spec, const char *key)
{
	char pat[64];
	snprintf(pat, sizeof pat, "\"%s\":", key);
	const char *p = strstr(spec, pat);
	return p ? p + strlen(pat) : NULL;
}

int dits_hologram_recipe_from_spec(const char *spec, dits_proxy_recipe *r)
{
	dits_proxy_recipe_default(r);
	const char *codec = spec_field(spec, "codec"), *h = spec_field(spec, "height");
	const char *poster = spec_field(spec, "poster"), *sprite = spec_field(spec, "sprite");
	const char *preview = spec_field(spec, "preview"), *lut = spec_field(spec, "lut");
	if (!codec || *codec != '"' || !h || !poster || !sprite || !preview || !lut || *lut != '"')
		return dits_error_set(DITS_EINVALID, "job recipe '%s' is malformed", spec);
	char name[64] = "";
	sscanf(codec + 1, "%63[^\"]", name);
	r->codec = dits_proxy_codec_from_name(name);
	if (r->codec < 0)
		return dits_error_set(DITS_EINVALID, "job recipe names unknown codec '%s'", name);
	r->max_height = atoi(h);
	r->poster = atoi(poster) != 0;
	r->sprite = atoi(sprite) != 0;
	r->preview = atoi(preview) != 0;
	size_t n = 0;
	for (const char *p = lut + 1; *p && *p != '"' && n + 1 < sizeof r->lut; p++) {
		if (*p == '\\' && p[1]) {
			p++;
			r->lut[n++] = *p == 'n' ? '\n' : *p == 't' ? '\t' : *p;
		} else {
			r->lut[n++] = *p;
		}
	}
	r->lut[n] = '\0';
	return 0;
}

typedef struct lut_match {
	const char *workdir;
	const char *path;
	dits_proxy_recipe *rec;
	bool done;
} lut_match;

static int lut_rule(void *ctx, const char *key, const char *value)
{
	lut_match *m = ctx;
	const char *glob = key + strlen("proxy.lut.");
	const char *base = strrchr(m->path, '/');
	base = base ? base + 1 : m->path;
	/* A glob with '/' matches the whole path; without, the file name. */
	bool hit = strchr(glob, '/') ? fnmatch(glob, m->path, FNM_PATHNAME) == 0 : fnmatch(glob, base, 0) == 0;
	if (!hit)
		return 0;
	/* A relative .cube path is relative to the worktree. */
	if (strlen(value) > 5 && !strcmp(value + strlen(value) - 5, ".cube") && value[0] != '/')
		snprintf(m->rec->lut, sizeof m->rec->lut, "%s/%s", m->workdir, value);
	else
		snprintf(m->rec->lut, sizeof m->rec->lut, "%s", value);
	m->done = true;
	return 1; /* first match wins */
}

/* proxy.lut.<glob> = slog3|vlog|logc3|none|FILE.cube picks the LUT by path. */
static void apply_lut_rules(dits_repo *r, const char *path, dits_proxy_recipe *rec)
{
	if (rec->lut[0])
		return; /* given explicitly */
	lut_match m = { dits_repo_workdir(r), path, rec, false };
	dits_config_foreach(dits_repo_config(r), "proxy.lut.", lut_rule, &m);
}

int dits_hologram_enqueue_asset(dits_repo *r, const dits_id *asset, const char *path,
                                const dits_proxy_recipe *recipe)
{
	dits_proxy_recipe rec = *recipe;
	apply_lut_rules(r, path, &rec);
	char *spec = recipe_spec(&rec);
	if (!spec)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	/* The job is keyed by what was asked for; the worker records the full
	 * recipe (encoder settings, library versions) on the variant. */
	dits_id hash;
	dits_hash_buf(&hash, spec, strlen(spec));
	dits_metadb *db;
	int rc = dits_metadb_open_repo(&db, r);
	if (!rc) {
		rc = dits_job_enqueue(db, "TRANSCODE", asset, path, dits_hologram_proxy_type(&rec), spec, &hash, NULL);
		dits_metadb_close(db);
	}
	free(spec);
	return rc;
}

int dits_hologram_enqueue_commit(dits_repo *r, const dits_id *commit, const dits_proxy_recipe *recipe,
                                 size_t *count)
{
	if (count)
		*count = 0;
	dits_commit c;
	int rc = dits_commit_read(dits_repo_odb(r), commit, &c);
	if (rc)
		return rc;
	dits_flat now, before = { 0 };
	rc = dits_flat_from_tree(r, &c.tree, &now);
	if (!rc && c.nparents)
		rc = dits_flat_from_commit(r, &c.parents[0], &before);
	for (size_t i = 0; !rc && i < now.n; i++) {
		const dits_flat_entry *e = &now.e[i];
		if (!dits_hologram_is_video_path(e->path))
			continue;
		const dits_flat_entry *old = dits_flat_find(&before, e->path);
		if (old && dits_id_eq(&old->id, &e->id))
			continue;
		rc = dits_hologram_enqueue_asset(r, &e->id, e->path, recipe);
		if (!rc && count)
			(*count)++;
	}
	dits_flat_free(&now);
	dits_flat_free(&before);
	dits_commit_free(&c);
	return rc;
}

const char *dits_hologram_configured_type(dits_repo *r)
{
	dits_proxy_recipe rec;
	if (dits_hologram_recipe_from_config(r, &rec)) {
		dits_error_clear();
		dits_proxy_recipe_default(&rec);
	}
	return dits_hologram_proxy_type(&rec);
}

int dits_hologram_after_commit(dits_repo *r, const dits_id *commit, size_t *count)
{
	if (count)
		*count = 0;
	if (!dits_repo_proxy_auto(r))
		return 0;
	dits_proxy_recipe rec;
	int rc = dits_hologram_recipe_from_config(r, &rec);
	return rc ? rc : dits_hologram_enqueue_commit(r, commit, &rec, count);
}

int dits_worker_lock_background(dits_repo *r, int *fd_out)
{
	char *p = dits_repo_path(r, "worker.lock");
	if (!p)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	free(p);
	if (fd < 0)
		return dits_error_errno("%s/worker.lock", dits_repo_dir(r));
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		close(fd);
		return dits_error_set(DITS_ELOCKED, "a background worker is already running");
	}
	*fd_out = fd;
	return 0;
}

int dits_worker_spawn_background(dits_repo *r, const char *exe)
{
	/* Cheap check first: is one running already? */
	int fd;
	if (dits_worker_lock_background(r, &fd) == DITS_ELOCKED) {
		dits_error_clear();
		return 0;
	}
	close(fd);
	char *log = dits_repo_path(r, "worker.log");
	if (!log)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	pid_t pid = fork();
	if (pid < 0) {
		free(log);
		return dits_error_errno("fork");
	}
	if (pid == 0) {
		/* Detach: new session, second fork, stdio to the log. */
		setsid();
		if (fork() != 0)
			_exit(0);
		int nul = open("/dev/null", O_RDONLY);
		int lg = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (nul >= 0)
			dup2(nul, 0);
		if (lg >= 0) {
			dup2(lg, 1);
			dup2(lg, 2);
		}
		if (chdir(dits_repo_workdir(r)) < 0)
			_exit(1);
		execl(exe, exe, "worker", "--drain", "--background", (char *)NULL);
		_exit(127);
	}
	free(log);
	int status;
	waitpid(pid, &status, 0);
	return 0;
}
