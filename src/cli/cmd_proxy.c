/*
 * dits config, dits worker, dits proxy ...: the Hologram layer's commands.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "mount_cmds.h"
#include "error.h"
#include "fsutil.h"
#include "hologram.h"
#include "index.h"
#include "ingest.h"
#include "metadb.h"
#include "object.h"
#include "progress.h"
#include "refs.h"
#include "worktree.h"

static char *self_exe(void)
{
	char buf[4096];
	ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
	if (n <= 0)
		return strdup("dits");
	buf[n] = '\0';
	return strdup(buf);
}

/* ---- config --------------------------------------------------------- */

static int print_kv(void *ctx, const char *key, const char *value)
{
	(void)ctx;
	printf("%s=%s\n", key, value);
	return 0;
}

int cmd_config(int argc, char **argv)
{
	bool list = false, unset = false;
	const cli_opt opts[] = {
		{ "--list", NULL, NULL, &list },
		{ "--unset", NULL, NULL, &unset },
		{ NULL, NULL, NULL, NULL },
	};
	int n, code = cli_parse(argc, argv, opts, NULL, &n, NULL);
	if (code)
		return code;
	if (list && (unset || n))
		return cli_usage_error(NULL, "config: --list takes no other argument");
	if (unset && n != 1)
		return cli_usage_error(NULL, "config: --unset takes one KEY");
	if (!list && (n < 1 || n > 2))
		return cli_usage_error(NULL, n ? "config: too many arguments" : "config: which KEY?");
	dits_repo *r;
	if (dits_repo_open(&r, "."))
		return cli_fail();
	int rc = 0;
	if (list) {
		dits_config_foreach(dits_repo_config(r), "", print_kv, NULL);
	} else if (unset) {
		if (dits_config_unset(dits_repo_config(r), argv[1]))
			rc = dits_error_set(DITS_ENOTFOUND, "%s: not set", argv[1]);
		else if (!(rc = dits_repo_lock(r)))
			rc = dits_repo_config_save(r);
	} else if (n == 1) {
		const char *v = dits_config_get(dits_repo_config(r), argv[1]);
		if (!v) {
			dits_repo_free(r);
			return 1; /* unset: like git config, silent */
		}
		printf("%s\n", v);
	} else {
		if (!strncmp(argv[1], "core.", 5) || !strncmp(argv[1], "chunker.", 8))
			rc = dits_error_set(DITS_EINVALID, "%s: fixed when the repository was created", argv[1]);
		else if (!(rc = dits_config_set(dits_repo_config(r), argv[1], argv[2])) && !(rc = dits_repo_lock(r)))
			rc = dits_repo_config_save(r);
	}
	dits_repo_free(r);
	return rc ? cli_fail() : 0;
}

/* ---- worker --------------------------------------------------------- */

typedef struct worker_ui {
	bool tty, quiet;
	double last;
} worker_ui;

#ifdef DITS_WITH_MEDIA
static void on_event(void *ctx, const dits_worker_event *ev)
{
	worker_ui *ui = ctx;
	if (!strcmp(ev->what, "progress")) {
		if (!ui->tty || ev->total <= 0)
			return;
		double now = dits_now();
		if (now - ui->last < 0.1)
			return;
		ui->last = now;
		fprintf(stderr, "\rtranscode %-40.40s %3.0f%%  %.1f / %.1f s\033[K", ev->path,
		        100 * ev->done / ev->total, ev->done, ev->total);
		return;
	}
	if (ui->tty)
		fprintf(stderr, "\r\033[K");
	if (ui->quiet && !strcmp(ev->what, "start"))
		return;
	FILE *f = !strcmp(ev->what, "failed") || !strcmp(ev->what, "retry") ? stderr : stdout;
	if (!strcmp(ev->what, "start") && ui->tty)
		return;
	const char *why = cli_reason(ev->path, ev->message);
	fprintf(f, "%s: %s%s%s\n", ev->path, ev->what, why ? ": " : "", why ? why : "");
	fflush(f);
}
#endif

static int run_worker(dits_repo *r, bool once, bool drain, int jobs, bool quiet, dits_worker_stats *st)
{
#ifndef DITS_WITH_MEDIA
	/* dits hands these commands to dits-media before they get here. */
	(void)r; (void)once; (void)drain; (void)jobs; (void)quiet;
	memset(st, 0, sizeof *st);
	return dits_error_set(DITS_ERROR, "transcoding runs in dits-media, which was not started");
#else
	worker_ui ui = { isatty(STDERR_FILENO) && !getenv("DITS_NO_PROGRESS"), quiet, 0 };
	dits_worker_opts o = { jobs, once, drain, 0, on_event, &ui, NULL };
	const char *lease = getenv("DITS_WORKER_LEASE");
	if (lease)
		o.lease_seconds = atoi(lease);
	return dits_worker_run(r, &o, st);
#endif
}

int cmd_worker(int argc, char **argv)
{
	bool once = false, drain = false, background = false;
	const char *jobs_arg = NULL;
	worker_root_opts ro = { 0 };
	const cli_opt opts[] = {
		{ "--once", NULL, NULL, &once },
		{ "--drain", NULL, NULL, &drain },
		{ "--background", NULL, NULL, &background }, /* started by commit and proxy wait */
		{ "--jobs", "-j", &jobs_arg, NULL },
		/* --root: every repository under a server's ROOT (cmd_serve.c) */
		{ "--root", NULL, &ro.root, NULL },
		{ "--workers", NULL, &ro.workers, NULL },
		{ "--lease", NULL, &ro.lease, NULL },
		{ "--store", NULL, &ro.store, NULL },
		{ "--store-cache", NULL, &ro.store_cache, NULL },
		{ "--store-cache-dir", NULL, &ro.store_cache_dir, NULL },
		{ "--db", NULL, &ro.db, NULL },
		{ "--json", NULL, NULL, &ro.json },
		{ NULL, NULL, NULL, NULL },
	};
	int code = cli_no_args(argc, argv, opts, NULL);
	if (code)
		return code;
	if (ro.root) {
		if (drain || background || jobs_arg)
			return cli_usage_error(NULL, "worker: --root runs until stopped or, with --once, until no job "
			                             "is ready; --drain, --background and --jobs are for one repository");
		ro.once = once;
#ifdef DITS_LEAN
		return cli_usage("worker: --root runs in dits-media, which was not started");
#else
		return cmd_worker_root(&ro);
#endif
	}
	if (ro.workers || ro.lease || ro.store || ro.store_cache || ro.store_cache_dir || ro.db || ro.json)
		return cli_usage_error(NULL, "worker: --workers, --lease, --store, --store-cache, --store-cache-dir, "
		                             "--db and --json need --root");
	int jobs = 1;
	if (jobs_arg) {
		char *end;
		long v = strtol(jobs_arg, &end, 10);
		if (*end || end == jobs_arg || v < 1 || v > 64)
			return cli_usage_error(NULL, "worker: --jobs takes 1..64, not '%s'", jobs_arg);
		jobs = (int)v;
	}
	dits_repo *r;
	if (dits_repo_open(&r, "."))
		return cli_fail();
	int lock_fd = -1;
	if (background) {
		/* One background worker per repository; it drains and exits. */
		if (dits_worker_lock_background(r, &lock_fd)) {
			dits_repo_free(r);
			return 0;
		}
	}
	dits_worker_stats st;
	int rc;
	for (;;) {
		rc = run_worker(r, once, drain, jobs, background, &st);
		if (rc || !background)
			break;
		/* A job queued while we were finishing must not wait for the next commit. */
		dits_metadb *db;
		int64_t pending = 0;
		if (dits_metadb_open_repo(&db, r) == 0) {
			dits_job_pending(db, &pending);
			dits_metadb_close(db);
		}
		if (!pending)
			break;
	}
	if (lock_fd >= 0)
		close(lock_fd);
	dits_repo_free(r);
	if (rc)
		return cli_fail();
	if (!background)
		printf("worker: %u done, %u failed, %u retried\n", st.done, st.failed, st.retried);
	return st.failed ? 1 : 0;
}

/* ---- helpers over the tracked files --------------------------------- */

/* Video files of the index under the given user paths (all when n == 0). */
typedef struct asset_ref {
	char *path;
	dits_id id;
} asset_ref;

typedef struct tracked_file {
	const char *path;
	dits_id id;
} tracked_file;

/* The files of all[] under the user paths (all when n == 0), videos only when asked. */
static int select_from(dits_repo *r, const tracked_file *all, size_t nall, char **paths, int n, bool videos_only,
                       asset_ref **out, size_t *count)
{
	*out = NULL;
	*count = 0;
	int rc = 0;
	char **rels = calloc((size_t)n + 1, sizeof *rels);
	asset_ref *v = calloc(nall + 1, sizeof *v);
	bool *matched = calloc((size_t)n + 1, sizeof *matched);
	if (!rels || !v || !matched)
		rc = dits_error_set(DITS_ENOMEM, "out of memory");
	for (int i = 0; i < n && !rc; i++)
		rc = dits_repo_relpath(r, paths[i], &rels[i]);
	size_t k = 0;
	for (size_t e = 0; !rc && e < nall; e++) {
		const char *p = all[e].path;
		bool want = n == 0;
		for (int i = 0; i < n && !want; i++) {
			if (dits_path_is_under(p, rels[i])) {
				want = true;
				matched[i] = true;
			}
		}
		if (!want || (videos_only && !dits_hologram_is_video_path(p)))
			continue;
		if (!(v[k].path = strdup(p))) {
			rc = dits_error_set(DITS_ENOMEM, "out of memory");
			break;
		}
		v[k].id = all[e].id;
		k++;
	}
	for (int i = 0; i < n && !rc; i++)
		if (!matched[i])
			rc = dits_error_set(DITS_ENOTFOUND, "%s: not tracked by dits", paths[i]);
	for (int i = 0; rels && i < n; i++)
		free(rels[i]);
	free(rels);
	free(matched);
	if (rc) {
		for (size_t i = 0; i < k; i++)
			free(v[i].path);
		free(v);
		return rc;
	}
	*out = v;
	*count = k;
	return 0;
}

static int select_assets_in(dits_repo *r, const dits_index *idx, char **paths, int n, bool videos_only,
                            asset_ref **out, size_t *count)
{
	tracked_file *all = calloc(idx->n + 1, sizeof *all);
	if (!all)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	for (size_t i = 0; i < idx->n; i++) {
		all[i].path = idx->e[i].path;
		all[i].id = idx->e[i].id;
	}
	int rc = select_from(r, all, idx->n, paths, n, videos_only, out, count);
	free(all);
	return rc;
}

/* The files of commit's tree under the user paths. */
static int select_assets_at(dits_repo *r, const dits_id *commit, char **paths, int n, bool videos_only,
                            asset_ref **out, size_t *count)
{
	dits_flat f = { 0 };
	int rc = dits_flat_from_commit(r, commit, &f);
	tracked_file *all = rc ? NULL : calloc(f.n + 1, sizeof *all);
	if (!rc && !all)
		rc = dits_error_set(DITS_ENOMEM, "out of memory");
	for (size_t i = 0; !rc && i < f.n; i++) {
		all[i].path = f.e[i].path;
		all[i].id = f.e[i].id;
	}
	if (!rc)
		rc = select_from(r, all, f.n, paths, n, videos_only, out, count);
	free(all);
	dits_flat_free(&f);
	return rc;
}

/*
 * The tracked files under paths: those of REV's tree when rev is given, of
 * HEAD's tree in a repository without a worktree (a server's, which has no
 * index), else of the index.
 */
static int select_tracked(dits_repo *r, const char *rev, char **paths, int n, bool videos_only, asset_ref **out,
                          size_t *count)
{
	if (rev || !dits_index_exists(r)) {
		dits_id c = { { 0 } };
		int rc = dits_revparse(r, rev ? rev : "HEAD", &c);
		if (rc == DITS_ENOTFOUND && !rev) {
			dits_error_clear(); /* no commit yet: nothing is tracked */
			memset(&c, 0, sizeof c);
			rc = 0;
		}
		return rc ? rc : select_assets_at(r, &c, paths, n, videos_only, out, count);
	}
	dits_index idx;
	int rc = dits_index_load(r, &idx);
	if (rc)
		return rc;
	rc = select_assets_in(r, &idx, paths, n, videos_only, out, count);
	dits_index_free(&idx);
	return rc;
}

static int select_assets(dits_repo *r, char **paths, int n, bool videos_only, asset_ref **out, size_t *count)
{
	return select_tracked(r, NULL, paths, n, videos_only, out, count);
}

static void free_assets(asset_ref *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].path);
	free(v);
}

typedef struct proxy_state {
	char state[16];   /* ready, queued, running, failed, none */
	dits_variant v;
	bool has_variant;
	char *job_error;
} proxy_state;

static void proxy_state_free(proxy_state *s)
{
	if (s->has_variant)
		dits_variant_free(&s->v);
	free(s->job_error);
	memset(s, 0, sizeof *s);
}

static void proxy_state_of(dits_metadb *db, const dits_id *asset, const char *type, proxy_state *s)
{
	memset(s, 0, sizeof *s);
	snprintf(s->state, sizeof s->state, "none");
	if (dits_variant_get(db, asset, type, &s->v) == 0) {
		s->has_variant = true;
		snprintf(s->state, sizeof s->state, "%s", s->v.status);
	}
	dits_job *jobs = NULL;
	size_t nj = 0;
	if (dits_job_list(db, asset, NULL, &jobs, &nj) == 0) {
		for (size_t i = nj; i-- > 0;) {
			if (strcmp(jobs[i].target, type))
				continue;
			bool live = !strcmp(jobs[i].state, "queued") || !strcmp(jobs[i].state, "running");
			if (live && strcmp(s->state, "ready") && strcmp(s->state, "running"))
				snprintf(s->state, sizeof s->state, "%s", jobs[i].state);
			if (!strcmp(jobs[i].state, "dead") && !strcmp(s->state, "none")) {
				snprintf(s->state, sizeof s->state, "failed");
				if (jobs[i].last_error)
					s->job_error = strdup(jobs[i].last_error);
			}
			break;
		}
		dits_job_list_free(jobs, nj);
	}
	dits_error_clear();
}

/* ---- proxy status --------------------------------------------------- */

static void json_kv_str(dits_buf *b, const char *key, const char *v, bool comma)
{
	dits_buf_printf(b, "%s\"%s\":", comma ? "," : "", key);
	if (v)
		dits_buf_put_json_str(b, v);
	else
		dits_buf_puts(b, "null");
}

static const char USE_STATUS[] = "dits proxy status [--json] [--rev REV] [--] [PATH...]";
static const char USE_GENERATE[] =
	"dits proxy generate [--profile prores_proxy|dnxhr_lb|h264] [--resolution 1080|720|540] [--lut L] "
	"[--no-extras] [--background|--queue] [--] [PATH...]";
static const char USE_WAIT[] = "dits proxy wait [--timeout SECONDS] [--] [PATH...]";
static const char USE_RETRY[] = "dits proxy retry [--] PATH...";
static const char USE_EXPORT[] = "dits proxy export [--variant TYPE] [--] PATH OUT";
static const char USE_PROXY[] = "dits proxy status|generate|wait|retry|export|verify|handoff [ARGS]";

/* The LUT a ready proxy was made with ("slog3", "cube:<hex>"), from its facts JSON. */
static bool facts_lut(const char *facts, char *out, size_t cap)
{
	const char *k = facts ? strstr(facts, "\"lut_applied\":\"") : NULL;
	if (!k)
		return false;
	k += strlen("\"lut_applied\":\"");
	size_t n = strcspn(k, "\"");
	if (n == 0 || n >= cap)
		return false;
	memcpy(out, k, n);
	out[n] = 0;
	return true;
}

static int open_here(dits_repo **r)
{
	return dits_repo_open(r, ".") ? cli_fail() : 0;
}

/* The repository, its video files under paths (of REV when given) and its job database, for status and verify. */
static int open_videos(const char *rev, char **paths, int np, dits_repo **r, asset_ref **assets, size_t *n,
                       dits_metadb **db)
{
	if (open_here(r))
		return 1;
	if (select_tracked(*r, rev, paths, np, true, assets, n)) {
		dits_repo_free(*r);
		return cli_fail();
	}
	if (dits_metadb_open_repo(db, *r)) {
		free_assets(*assets, *n);
		dits_repo_free(*r);
		return cli_fail();
	}
	return 0;
}

static int proxy_status(int argc, char **argv)
{
	bool json = false;
	const char *rev = NULL;
	const cli_opt opts[] = {
		{ "--json", NULL, NULL, &json },
		{ "--rev", NULL, &rev, NULL },
		{ NULL, NULL, NULL, NULL },
	};
	int np, code = cli_parse(argc, argv, opts, USE_STATUS, &np, NULL);
	if (code)
		return code;
	dits_repo *r;
	asset_ref *assets;
	size_t n;
	dits_metadb *db;
	if (open_videos(rev, argv + 1, np, &r, &assets, &n, &db))
		return 1;
	const char *type = dits_hologram_configured_type(r);
	dits_buf b = DITS_BUF_INIT;
	if (json)
		dits_buf_puts(&b, "[");
	for (size_t i = 0; i < n; i++) {
		proxy_state s;
		proxy_state_of(db, &assets[i].id, type, &s);
		char hex[DITS_ID_HEXLEN + 1];
		dits_id_hex(hex, &assets[i].id);
		const char *err = cli_reason(assets[i].path, s.has_variant && s.v.error ? s.v.error : s.job_error);
		if (json) {
			dits_buf_puts(&b, i ? ",{" : "{");
			json_kv_str(&b, "path", assets[i].path, false);
			json_kv_str(&b, "asset_id", hex, true);
			json_kv_str(&b, "variant", type, true);
			json_kv_str(&b, "state", s.state, true);
			json_kv_str(&b, "variant_id", s.has_variant ? s.v.id : NULL, true);
			dits_buf_puts(&b, ",\"facts\":");
			dits_buf_puts(&b, s.has_variant && s.v.facts ? s.v.facts : "null");
			json_kv_str(&b, "warnings", s.has_variant && s.v.warnings && *s.v.warnings ? s.v.warnings : NULL, true);
			json_kv_str(&b, "error", err, true);
			if (s.has_variant && s.v.has_manifest) {
				char mh[DITS_ID_HEXLEN + 1];
				dits_id_hex(mh, &s.v.manifest);
				json_kv_str(&b, "manifest_id", mh, true);
				dits_buf_printf(&b, ",\"size\":%llu", (unsigned long long)s.v.size);
			}
			dits_buf_puts(&b, "}");
		} else {
			dits_buf_printf(&b, "%-8s %s", s.state, assets[i].path);
			if (s.has_variant && !strcmp(s.v.status, "ready") && s.v.facts) {
				/* A few facts an editor checks at a glance. */
				const char *w = strstr(s.v.facts, "\"width\":"), *h = strstr(s.v.facts, "\"height\":");
				const char *tc = strstr(s.v.facts, "\"timecode\":\"");
				if (w && h)
					dits_buf_printf(&b, "  %dx%d", atoi(w + 8), atoi(h + 9));
				if (tc && tc[12] != '"')
					dits_buf_printf(&b, "  TC %.11s", tc + 12);
				dits_buf_printf(&b, "  %llu %s  validated", (unsigned long long)s.v.size,
				                cli_plural(s.v.size, "byte", "bytes"));
				char lut[64];
				if (facts_lut(s.v.facts, lut, sizeof(lut)))
					dits_buf_printf(&b, "\n         LUT applied: %s", lut);
			}
			if (s.has_variant && s.v.warnings && *s.v.warnings)
				dits_buf_printf(&b, "\n         warning: %s", s.v.warnings);
			if (err && strcmp(s.state, "ready"))
				dits_buf_printf(&b, "\n         error: %s", err);
			dits_buf_puts(&b, "\n");
		}
		proxy_state_free(&s);
	}
	if (json)
		dits_buf_puts(&b, "]\n");
	else if (n == 0)
		dits_buf_puts(&b, "no video files\n");
	fwrite(b.data ? (void *)b.data : (void *)"", 1, b.len, stdout);
	dits_buf_free(&b);
	dits_metadb_close(db);
	free_assets(assets, n);
	dits_repo_free(r);
	return 0;
}

/* ---- proxy verify ---------------------------------------------------- */

static const char USE_VERIFY[] = "dits proxy verify [--json] [--rev REV] [--] [PATH...]";

#ifdef DITS_WITH_MEDIA
/*
 * Facts of one side: probed from the stored bytes when they are here (the
 * proxy and the master both, independently of the worker that made the
 * proxy), else the facts recorded with the variant (a proxy clone has no
 * master). *how says which. A stored file that does not probe is an error.
 */
static int side_facts(dits_repo *r, const dits_id *id, const char *path, const char *recorded,
                      const char *member, dits_media_facts *f, const char **how)
{
	/* the bytes are here when the manifest and every chunk are (a proxy clone lacks the masters') */
	dits_manifest m;
	dits_manifest_init(&m);
	int rc = dits_manifest_read(dits_repo_odb(r), id, &m);
	for (uint64_t c = 0; rc == 0 && c < m.nchunks; c++)
		if (!dits_odb_exists(dits_repo_odb(r), &m.chunks[c].id))
			rc = dits_error_set(DITS_ENOTFOUND, "%s: chunk not here", path);
	dits_manifest_free(&m);
	dits_media_source src;
	if (rc == 0)
		rc = dits_media_source_open_blob(&src, dits_repo_odb(r), id, path);
	if (rc == 0) {
		rc = dits_media_probe(&src, f);
		dits_media_source_close_blob(&src);
	}
	if (rc == 0) {
		*how = "probed";
		return 0;
	}
	if (rc != DITS_ENOTFOUND && rc != DITS_EIO)
		return rc;
	/* not here: the record */
	if (recorded && dits_media_facts_parse(recorded, member, f) == 0) {
		*how = "recorded";
		dits_error_clear();
		return 0;
	}
	return dits_error_set(DITS_ENOTFOUND, "%s: the %s is not here and its facts were not recorded", path,
	                      member ? "master" : "proxy");
}

static int height_of_type(const char *type)
{
	int h = 0;
	return sscanf(type, "proxy_%dp", &h) == 1 ? h : 0;
}

static int proxy_verify(int argc, char **argv)
{
	bool json = false;
	const char *rev = NULL;
	const cli_opt opts[] = {
		{ "--json", NULL, NULL, &json },
		{ "--rev", NULL, &rev, NULL },
		{ NULL, NULL, NULL, NULL },
	};
	int np, code = cli_parse(argc, argv, opts, USE_VERIFY, &np, NULL);
	if (code)
		return code;
	dits_repo *r;
	asset_ref *assets;
	size_t n;
	dits_metadb *db;
	if (open_videos(rev, argv + 1, np, &r, &assets, &n, &db))
		return 1;
	const char *type = dits_hologram_configured_type(r);
	int max_height = height_of_type(type);
	dits_buf b = DITS_BUF_INIT;
	unsigned npass = 0, nfail = 0, nmissing = 0;
	if (json)
		dits_buf_puts(&b, "[");
	for (size_t i = 0; i < n; i++) {
		const char *path = assets[i].path;
		proxy_state s;
		proxy_state_of(db, &assets[i].id, type, &s);
		bool ready = s.has_variant && !strcmp(s.v.status, "ready") && s.v.has_manifest;
		dits_media_facts mf, pf;
		const char *mhow = NULL, *phow = NULL;
		char *err = NULL;
		if (ready && (side_facts(r, &assets[i].id, path, s.v.facts, "master", &mf, &mhow) ||
		              side_facts(r, &s.v.manifest, path, s.v.facts, NULL, &pf, &phow)))
			err = strdup(cli_reason(path, dits_error_last()));
		dits_proxy_check rows[DITS_PROXY_CHECKS_MAX];
		int nr = ready && !err ? dits_proxy_check_all(&mf, &pf, max_height, rows, DITS_PROXY_CHECKS_MAX) : 0;
		bool pass = ready && !err;
		for (int k = 0; k < nr; k++)
			pass = pass && rows[k].pass;
		if (!ready)
			nmissing++;
		else if (pass)
			npass++;
		else
			nfail++;
		if (json) {
			dits_buf_puts(&b, i ? ",{" : "{");
			json_kv_str(&b, "path", path, false);
			json_kv_str(&b, "variant", type, true);
			json_kv_str(&b, "state", s.state, true);
			json_kv_str(&b, "master_facts", mhow, true);
			json_kv_str(&b, "proxy_facts", phow, true);
			dits_buf_printf(&b, ",\"pass\":%s", pass ? "true" : "false");
			json_kv_str(&b, "error", err ? err : !ready ? "no ready proxy" : NULL, true);
			dits_buf_puts(&b, ",\"checks\":[");
			for (int k = 0; k < nr; k++) {
				dits_buf_puts(&b, k ? ",{" : "{");
				json_kv_str(&b, "rule", rows[k].rule, false);
				json_kv_str(&b, "master", rows[k].master, true);
				json_kv_str(&b, "proxy", rows[k].proxy, true);
				dits_buf_printf(&b, ",\"pass\":%s}", rows[k].pass ? "true" : "false");
			}
			dits_buf_puts(&b, "]}");
		} else if (!ready) {
			dits_buf_printf(&b, "%s: no ready proxy (%s)\n", path, s.state);
		} else if (err) {
			dits_buf_printf(&b, "%s: FAIL: %s\n", path, err);
		} else {
			dits_buf_printf(&b, "%s: %s (master %s, proxy %s)\n", path, pass ? "pass" : "FAIL", mhow, phow);
			dits_buf_printf(&b, "  %-26s %-34s %-26s %s\n", "rule", "master", "proxy", "");
			for (int k = 0; k < nr; k++)
				dits_buf_printf(&b, "  %-26s %-34s %-26s %s\n", rows[k].rule, rows[k].master, rows[k].proxy,
				                rows[k].pass ? "pass" : "FAIL");
		}
		free(err);
		proxy_state_free(&s);
	}
	if (json)
		dits_buf_puts(&b, "]\n");
	else if (n == 0)
		dits_buf_puts(&b, "no video files\n");
	else
		dits_buf_printf(&b, "%u %s pass, %u %s, %u without a ready proxy\n", npass,
		                cli_plural(npass, "proxy", "proxies"), nfail, cli_plural(nfail, "fails", "fail"), nmissing);
	fwrite(b.data ? (void *)b.data : (void *)"", 1, b.len, stdout);
	dits_buf_free(&b);
	dits_metadb_close(db);
	free_assets(assets, n);
	dits_repo_free(r);
	return nfail || nmissing ? 1 : 0;
}
#else
static int proxy_verify(int argc, char **argv)
{
	/* dits hands this command to dits-media before it gets here */
	int np, code = cli_parse(argc, argv, NULL, USE_VERIFY, &np, NULL);
	(void)np;
	if (code)
		return code;
	dits_error_set(DITS_ERROR, "verifying proxies runs in dits-media, which was not started");
	return cli_fail();
}
#endif

/* ---- proxy generate / retry / wait / export ------------------------- */

static int proxy_generate(int argc, char **argv)
{
	const char *profile = NULL, *resolution = NULL, *lut = NULL;
	bool background = false, queue_only = false, no_extras = false;
	const cli_opt opts[] = {
		{ "--profile", NULL, &profile, NULL },
		{ "--resolution", NULL, &resolution, NULL },
		{ "--lut", NULL, &lut, NULL },
		{ "--background", NULL, NULL, &background },
		{ "--queue", NULL, NULL, &queue_only },
		{ "--no-extras", NULL, NULL, &no_extras },
		{ NULL, NULL, NULL, NULL },
	};
	int np, code = cli_parse(argc, argv, opts, USE_GENERATE, &np, NULL);
	if (code)
		return code;
	if (background && queue_only)
		return cli_usage_error(USE_GENERATE, "proxy generate: --background and --queue do not go together");
	dits_repo *r;
	if (open_here(&r))
		return 1;
	dits_proxy_recipe rec;
	if (dits_hologram_recipe_from_config(r, &rec)) {
		dits_repo_free(r);
		return cli_fail();
	}
	if (profile && (rec.codec = dits_proxy_codec_from_name(profile)) < 0)
		code = cli_usage_error(USE_GENERATE, "proxy generate: --profile is prores_proxy, dnxhr_lb or h264, not '%s'",
		                       profile);
	if (!code && resolution) {
		rec.max_height = atoi(resolution);
		if (strcmp(resolution, "1080") && strcmp(resolution, "720") && strcmp(resolution, "540"))
			code = cli_usage_error(USE_GENERATE, "proxy generate: --resolution is 1080, 720 or 540, not '%s'",
			                       resolution);
	}
	if (code) {
		dits_repo_free(r);
		return code;
	}
	if (lut)
		snprintf(rec.lut, sizeof rec.lut, "%s", lut);
	if (no_extras)
		rec.poster = rec.sprite = rec.preview = false; /* the proxy alone */
	asset_ref *assets;
	size_t n;
	int rc = select_assets(r, argv + 1, np, np == 0, &assets, &n);
	for (size_t i = 0; i < n && !rc; i++)
		rc = dits_hologram_enqueue_asset(r, &assets[i].id, assets[i].path, &rec);
	free_assets(assets, n);
	if (rc) {
		dits_repo_free(r);
		return cli_fail();
	}
	if (queue_only) {
		printf("queued %zu file%s (run dits worker, or dits proxy wait)\n", n, n == 1 ? "" : "s");
	} else if (background) {
		char *exe = self_exe();
		rc = dits_worker_spawn_background(r, exe);
		free(exe);
		if (rc)
			code = cli_fail();
		else
			printf("queued %zu file%s; a background worker is making the proxies\n", n, n == 1 ? "" : "s");
	} else {
		/* In the foreground, with progress. */
		dits_worker_stats st;
		if (run_worker(r, false, true, 1, false, &st))
			code = cli_fail();
		else
			code = st.failed ? 1 : 0;
	}
	dits_repo_free(r);
	return code;
}

static int proxy_retry(int argc, char **argv)
{
	int np, code = cli_parse(argc, argv, NULL, USE_RETRY, &np, NULL);
	if (code)
		return code;
	if (np < 1)
		return cli_usage_error(USE_RETRY, "proxy retry: which files?");
	dits_repo *r;
	if (open_here(&r))
		return 1;
	asset_ref *assets;
	size_t n;
	if (select_assets(r, argv + 1, np, false, &assets, &n)) {
		dits_repo_free(r);
		return cli_fail();
	}
	dits_metadb *db = NULL;
	int rc = dits_metadb_open_repo(&db, r);
	for (size_t i = 0; i < n && !rc; i++) {
		dits_variant *vs = NULL;
		size_t nv = 0;
		rc = dits_variant_list(db, &assets[i].id, &vs, &nv);
		for (size_t k = 0; k < nv && !rc; k++)
			if (!strcmp(vs[k].status, "failed"))
				rc = dits_variant_reset(db, vs[k].id);
		dits_variant_list_free(vs, nv);
		if (!rc)
			rc = dits_job_retry_asset(db, &assets[i].id);
		if (!rc)
			printf("requeued %s\n", assets[i].path);
	}
	if (db)
		dits_metadb_close(db);
	free_assets(assets, n);
	if (rc) {
		dits_repo_free(r);
		return cli_fail();
	}
	if (dits_repo_proxy_auto(r)) {
		char *exe = self_exe();
		dits_worker_spawn_background(r, exe);
		free(exe);
	}
	dits_repo_free(r);
	return 0;
}

static bool job_live(const dits_job *j)
{
	return !strcmp(j->state, "queued") || !strcmp(j->state, "running");
}

/* Names at most this many earlier dead jobs in proxy wait's note. */
#define WAIT_NAMES_MAX 10

/*
 * proxy wait judges the jobs it waits for: those queued or running when it
 * starts, or (with paths) the newest job of each of those files per
 * target. It exits 0 when every one of them is done and 1 when one died; a
 * job that had died before the wait began is named in a note, not counted.
 */
static int proxy_wait(int argc, char **argv)
{
	const char *tmo = NULL;
	const cli_opt opts[] = { { "--timeout", NULL, &tmo, NULL }, { NULL, NULL, NULL, NULL } };
	int np, code = cli_parse(argc, argv, opts, USE_WAIT, &np, NULL);
	if (code)
		return code;
	double timeout = -1;
	if (tmo) {
		char *end;
		timeout = strtod(tmo, &end);
		if (*end || end == tmo || !(timeout >= 0) || timeout > 1e9)
			return cli_usage_error(USE_WAIT, "proxy wait: --timeout takes a number of seconds, not '%s'", tmo);
	}
	dits_repo *r;
	if (open_here(&r))
		return 1;
	asset_ref *assets = NULL;
	size_t na = 0;
	dits_metadb *db = NULL;
	dits_job *jobs = NULL;
	size_t nj = 0;
	int rc = np ? select_assets(r, argv + 1, np, false, &assets, &na) : 0;
	if (!rc)
		rc = dits_metadb_open_repo(&db, r);
	if (!rc)
		rc = dits_job_list(db, NULL, NULL, &jobs, &nj); /* in id order */
	/* watch[k]: index in jobs of the k-th job waited for. */
	size_t *watch = rc ? NULL : calloc(nj + 1, sizeof *watch);
	size_t nw = 0;
	if (!rc && !watch)
		rc = dits_error_set(DITS_ENOMEM, "out of memory");
	for (size_t i = 0; !rc && i < nj; i++) {
		if (!np) {
			if (job_live(&jobs[i]))
				watch[nw++] = i;
			continue;
		}
		bool mine = false;
		for (size_t a = 0; a < na && !mine; a++)
			mine = dits_id_eq(&assets[a].id, &jobs[i].asset);
		bool newest = true;
		for (size_t k = i + 1; k < nj && newest; k++)
			newest = !(dits_id_eq(&jobs[k].asset, &jobs[i].asset) && !strcmp(jobs[k].target, jobs[i].target));
		if (mine && newest)
			watch[nw++] = i;
	}
	/* Without paths: the dead jobs of before this wait that nothing newer replaced. */
	dits_buf old = DITS_BUF_INIT;
	size_t nold = 0;
	for (size_t i = 0; !rc && !np && i < nj; i++) {
		if (strcmp(jobs[i].state, "dead") && strcmp(jobs[i].state, "failed"))
			continue;
		bool replaced = false;
		for (size_t k = i + 1; k < nj && !replaced; k++)
			replaced = dits_id_eq(&jobs[k].asset, &jobs[i].asset) && !strcmp(jobs[k].target, jobs[i].target);
		if (replaced)
			continue;
		if (nold < WAIT_NAMES_MAX)
			dits_buf_printf(&old, "%s%s", nold ? ", " : "", jobs[i].path ? jobs[i].path : "?");
		nold++;
	}
	bool any_live = false;
	for (size_t k = 0; !rc && k < nw; k++)
		any_live = any_live || job_live(&jobs[watch[k]]);
	if (!rc && any_live) {
		/* Somebody has to do the work: start a background worker if none runs. */
		char *exe = self_exe();
		dits_worker_spawn_background(r, exe);
		free(exe);
	}
	/* Jobs finish roughly in id order: look at the first unfinished one until it is done. */
	double start = dits_now();
	size_t next = 0;
	while (!rc && next < nw) {
		dits_job *j = &jobs[watch[next]];
		if (!job_live(j)) {
			next++;
			continue;
		}
		dits_job now;
		rc = dits_job_get(db, j->id, &now);
		if (rc == DITS_ENOTFOUND) { /* removed under us: nothing left to wait for */
			dits_error_clear();
			snprintf(j->state, sizeof j->state, "done");
			rc = 0;
			continue;
		}
		if (rc)
			break;
		snprintf(j->state, sizeof j->state, "%s", now.state);
		free(j->last_error);
		j->last_error = now.last_error;
		now.last_error = NULL;
		dits_job_free(&now);
		if (!job_live(j))
			continue;
		if (timeout >= 0 && dits_now() - start >= timeout) {
			size_t left = nw - next;
			rc = dits_error_set(DITS_ERROR, "timed out after %.0f s with %zu proxy job%s still pending", timeout,
			                    left, left == 1 ? "" : "s");
			break;
		}
		usleep(100000);
	}
	size_t done = 0, dead = 0;
	for (size_t k = 0; !rc && k < nw; k++) {
		const dits_job *j = &jobs[watch[k]];
		if (!strcmp(j->state, "done")) {
			done++;
			continue;
		}
		dead++;
		const char *path = j->path ? j->path : "?";
		fprintf(stderr, "dits: error: %s: %s failed: %s\n", path, j->target,
		        j->last_error ? cli_reason(path, j->last_error) : "no reason recorded");
	}
	if (rc) {
		code = cli_fail();
	} else {
		if (nold)
			fprintf(stderr, "dits: note: %zu proxy job%s had already failed before this wait: %s%s "
			        "(dits proxy status says why; dits proxy retry PATH queues one again)\n",
			        nold, nold == 1 ? "" : "s", old.data ? (char *)old.data : "", nold > WAIT_NAMES_MAX ? ", ..." : "");
		if (dead) {
			fprintf(stderr, "dits: error: %zu of %zu proxy job%s failed\n", dead, nw, nw == 1 ? "" : "s");
			code = 1;
		} else {
			printf("all proxies done (%zu job%s)\n", done, done == 1 ? "" : "s");
		}
	}
	dits_buf_free(&old);
	free(watch);
	dits_job_list_free(jobs, nj);
	if (db)
		dits_metadb_close(db);
	free_assets(assets, na);
	dits_repo_free(r);
	return code;
}

static int proxy_export(int argc, char **argv)
{
	const char *type = NULL;
	const cli_opt opts[] = { { "--variant", NULL, &type, NULL }, { NULL, NULL, NULL, NULL } };
	int np, code = cli_parse(argc, argv, opts, USE_EXPORT, &np, NULL);
	if (code)
		return code;
	if (np < 2)
		return cli_usage_error(USE_EXPORT, "proxy export: name a PATH and an OUT file");
	if (np > 2)
		return cli_usage_error(USE_EXPORT, "proxy export: unexpected argument '%s'", argv[3]);
	const char *path = argv[1], *out = argv[2];
	dits_repo *r;
	if (open_here(&r))
		return 1;
	if (!type)
		type = dits_hologram_configured_type(r);
	char *pv[1] = { (char *)path };
	asset_ref *assets;
	size_t n;
	if (select_assets(r, pv, 1, false, &assets, &n)) {
		dits_repo_free(r);
		return cli_fail();
	}
	int rc = 0;
	if (n != 1)
		rc = dits_error_set(DITS_EINVALID, "%s: names %zu %s; name one", path, n, cli_plural(n, "file", "files"));
	dits_metadb *db = NULL;
	dits_variant v;
	bool have = false;
	if (!rc)
		rc = dits_metadb_open_repo(&db, r);
	if (!rc) {
		rc = dits_variant_get(db, &assets[0].id, type, &v);
		have = rc == 0;
		if (rc == DITS_ENOTFOUND)
			rc = dits_error_set(DITS_ENOTFOUND, "%s: no %s variant", path, type);
	}
	if (!rc && strcmp(v.status, "ready")) {
		const char *why = cli_reason(assets[0].path, v.error);
		rc = dits_error_set(DITS_ENOTFOUND, "%s: the %s variant is %s%s%s", path, type, v.status,
		                    why ? ": " : "", why ? why : "");
	}
	if (!rc) {
		dits_manifest m;
		rc = dits_manifest_read(dits_repo_odb(r), &v.manifest, &m);
		if (!rc) {
			rc = dits_materialize(dits_repo_odb(r), &m, out, NULL, 0644, NULL, NULL, NULL);
			dits_manifest_free(&m);
		}
	}
	if (have)
		dits_variant_free(&v);
	if (db)
		dits_metadb_close(db);
	free_assets(assets, n);
	dits_repo_free(r);
	return rc ? cli_fail() : 0;
}

int cmd_proxy(int argc, char **argv)
{
	if (argc < 2)
		return cli_usage_error(USE_PROXY, "proxy: which proxy command?");
	const char *sub = argv[1];
	if (!strcmp(sub, "status"))
		return proxy_status(argc - 1, argv + 1);
	if (!strcmp(sub, "generate"))
		return proxy_generate(argc - 1, argv + 1);
	if (!strcmp(sub, "wait"))
		return proxy_wait(argc - 1, argv + 1);
	if (!strcmp(sub, "retry"))
		return proxy_retry(argc - 1, argv + 1);
	if (!strcmp(sub, "export"))
		return proxy_export(argc - 1, argv + 1);
	if (!strcmp(sub, "verify"))
		return proxy_verify(argc - 1, argv + 1);
	if (!strcmp(sub, "handoff"))
		return proxy_handoff(argc - 1, argv + 1);
	if (sub[0] == '-')
		return cli_usage_error(USE_PROXY, "unknown option '%s'", sub);
	return cli_usage_error(USE_PROXY, "proxy: '%s' is not a proxy command", sub);
}

/* ---- hooks used by main.c ------------------------------------------- */

size_t cli_queue_proxies(dits_repo *r, const dits_id *commit)
{
	size_t n = 0;
	if (dits_hologram_after_commit(r, commit, &n)) {
		fprintf(stderr, "dits: warning: proxies not queued: %s\n", dits_error_last());
		return 0;
	}
	if (n == 0)
		return 0;
	char *exe = self_exe();
	if (dits_worker_spawn_background(r, exe))
		fprintf(stderr, "dits: warning: background worker not started: %s\n", dits_error_last());
	free(exe);
	return n;
}

void cli_after_commit(dits_repo *r, const dits_id *commit)
{
	size_t n = cli_queue_proxies(r, commit);
	if (n)
		printf("queued %zu proxy job%s; a background worker is making them (dits proxy status)\n", n,
		       n == 1 ? "" : "s");
}

void cli_status_proxies(dits_repo *r, const struct dits_index *idx, dits_buf *out, bool json)
{
	asset_ref *assets = NULL;
	size_t n = 0;
	/* No proxy ever queued, or no video files: nothing to say, and no database to open. */
	bool have_db = dits_metadb_present(r);
	if (have_db && select_assets_in(r, idx, NULL, 0, true, &assets, &n)) {
		dits_error_clear();
		return;
	}
	dits_metadb *db;
	if (n == 0 || !have_db || dits_metadb_open_repo(&db, r)) {
		free_assets(assets, n);
		if (json)
			dits_buf_puts(out, ",\"proxies\":[]");
		dits_error_clear();
		return;
	}
	const char *type = dits_hologram_configured_type(r);
	bool any = false;
	for (size_t i = 0; i < n; i++) {
		proxy_state s;
		proxy_state_of(db, &assets[i].id, type, &s);
		any = any || strcmp(s.state, "none") != 0;
		proxy_state_free(&s);
	}
	/* A repository that makes no proxies sees no proxy section. */
	size_t shown = any ? n : 0;
	if (json)
		dits_buf_puts(out, ",\"proxies\":[");
	else if (shown)
		dits_buf_printf(out, "\nProxies (%s):\n", type);
	for (size_t i = 0; i < shown; i++) {
		proxy_state s;
		proxy_state_of(db, &assets[i].id, type, &s);
		const char *err = cli_reason(assets[i].path, s.has_variant && s.v.error ? s.v.error : s.job_error);
		if (json) {
			dits_buf_puts(out, i ? ",{" : "{");
			json_kv_str(out, "path", assets[i].path, false);
			json_kv_str(out, "state", s.state, true);
			json_kv_str(out, "error", err, true);
			dits_buf_puts(out, "}");
		} else {
			dits_buf_printf(out, "\t%-8s %s%s%s\n", s.state, assets[i].path, err && strcmp(s.state, "ready") ? ": " : "",
			                err && strcmp(s.state, "ready") ? err : "");
			/* What an editor must know about a ready proxy: a conformed rate, a LUT. */
			if (s.has_variant && !strcmp(s.state, "ready")) {
				char lut[64];
				if (s.v.warnings && *s.v.warnings)
					dits_buf_printf(out, "\t         warning: %s\n", s.v.warnings);
				if (facts_lut(s.v.facts, lut, sizeof(lut)))
					dits_buf_printf(out, "\t         LUT applied: %s\n", lut);
			}
		}
		proxy_state_free(&s);
	}
	if (json)
		dits_buf_puts(out, "]");
	dits_metadb_close(db);
	free_assets(assets, n);
}

void cli_log_proxies(dits_repo *r, const dits_id *commit, dits_buf *out, bool json)
{
	dits_commit c;
	if (dits_commit_read(dits_repo_odb(r), commit, &c)) {
		dits_error_clear();
		return;
	}
	dits_flat now, before = { 0 };
	int rc = dits_flat_from_tree(r, &c.tree, &now);
	if (!rc && c.nparents)
		rc = dits_flat_from_commit(r, &c.parents[0], &before);
	dits_commit_free(&c);
	dits_metadb *db = NULL;
	if (!rc)
		rc = dits_metadb_open_repo(&db, r);
	unsigned ready = 0, pending = 0, failed = 0, none = 0;
	const char *type = dits_hologram_configured_type(r);
	for (size_t i = 0; !rc && i < now.n; i++) {
		if (!dits_hologram_is_video_path(now.e[i].path))
			continue;
		const dits_flat_entry *o = dits_flat_find(&before, now.e[i].path);
		if (o && dits_id_eq(&o->id, &now.e[i].id))
			continue;
		proxy_state s;
		proxy_state_of(db, &now.e[i].id, type, &s);
		if (!strcmp(s.state, "ready"))
			ready++;
		else if (!strcmp(s.state, "failed"))
			failed++;
		else if (!strcmp(s.state, "none"))
			none++;
		else
			pending++;
		proxy_state_free(&s);
	}
	if (db)
		dits_metadb_close(db);
	dits_flat_free(&now);
	dits_flat_free(&before);
	dits_error_clear();
	if (json)
		dits_buf_printf(out, ",\"proxies\":{\"ready\":%u,\"pending\":%u,\"failed\":%u,\"none\":%u}", ready,
		                pending, failed, none);
	else if (!rc && ready + pending + failed > 0)
		dits_buf_printf(out, "Proxies: %u ready, %u pending, %u failed%s\n", ready, pending, failed,
		                none ? " (some not queued)" : "");
}

/* ---- proxy mode ------------------------------------------------------ */

const char *cli_marker_word(char m)
{
	switch (m) {
	case 'P': return "proxy";
	case '~': return "pending";
	case '!': return "failed";
	default: return "master";
	}
}

void cli_mode_markers(dits_repo *r, struct dits_index *idx, char *out)
{
	dits_metadb *db = NULL;
	if (dits_metadb_open_repo_if_exists(&db, r))
		db = NULL;
	const char *type = db ? dits_hologram_configured_type(r) : NULL;
	for (size_t i = 0; i < idx->n; i++) {
		dits_index_entry *e = &idx->e[i];
		out[i] = 'M';
		if (e->flags & DITS_INDEX_PROXY) {
			out[i] = 'P';
			continue;
		}
		if (!db || !dits_hologram_is_video_path(e->path))
			continue;
		proxy_state s;
		proxy_state_of(db, &e->id, type, &s);
		if (!strcmp(s.state, "queued") || !strcmp(s.state, "running"))
			out[i] = '~';
		else if (!strcmp(s.state, "failed"))
			out[i] = '!';
		proxy_state_free(&s);
	}
	if (db)
		dits_metadb_close(db);
	dits_error_clear();
}

#ifndef DITS_LEAN
/* The commands below may fetch from a partial clone's remote: they live in
 * dits-net (the lean dits hands them over, see main.c). */
typedef struct mode_ui {
	bool proxy;
	unsigned swapped, already, kept;
} mode_ui;

static void on_mode(void *ctx, const char *path, int outcome, const char *why)
{
	mode_ui *ui = ctx;
	switch (outcome) {
	case DITS_MODE_SWAPPED:
		ui->swapped++;
		printf("%s %s\n", ui->proxy ? "[P]" : "[M]", path);
		break;
	case DITS_MODE_ALREADY:
		ui->already++;
		break;
	default:
		/* Only video files are expected to have proxies: say why for those. */
		if (dits_hologram_is_video_path(path)) {
			ui->kept++;
			fflush(stdout);
			fprintf(stderr, "dits: %s: kept the master: %s\n", path, why ? why : "no ready proxy");
		}
		break;
	}
}

int cli_checkout_mode(dits_repo *r, bool proxy, const char *variant, char **paths, int npaths)
{
	/* A partial clone fetches the masters it is about to write first. */
	if (!proxy && dits_fetch_for_paths(r, NULL, paths, npaths, true, cli_fetch_report()))
		return cli_fail();
	dits_progress p;
	cli_progress_init(&p);
	mode_ui ui = { proxy, 0, 0, 0 };
	int rc = dits_worktree_set_mode(r, (const char *const *)paths, (size_t)npaths, proxy,
	                                variant ? variant : dits_hologram_configured_type(r), &p, on_mode, &ui);
	fflush(stdout);
	if (rc)
		return cli_fail();
	fprintf(stderr, "%u file%s switched to %s, %u already %s", ui.swapped, ui.swapped == 1 ? "" : "s",
	        proxy ? "proxy" : "master", ui.already, proxy ? "in proxy mode" : "masters");
	if (proxy && ui.kept)
		fprintf(stderr, ", %u video file%s kept the master (see above)", ui.kept, ui.kept == 1 ? "" : "s");
	fprintf(stderr, "\n");
	return 0;
}

static int mode_list(dits_repo *r, bool json)
{
	dits_index idx;
	if (dits_index_load(r, &idx))
		return cli_fail();
	char *m = calloc(idx.n + 1, 1);
	cli_mode_markers(r, &idx, m);
	dits_buf b = DITS_BUF_INIT;
	if (json)
		dits_buf_puts(&b, "[");
	for (size_t i = 0; i < idx.n; i++) {
		if (json) {
			dits_buf_puts(&b, i ? ",{\"path\":" : "{\"path\":");
			dits_buf_put_json_str(&b, idx.e[i].path);
			dits_buf_printf(&b, ",\"mode\":\"%s\"}", cli_marker_word(m[i]));
		} else {
			dits_buf_printf(&b, "[%c] %s\n", m[i], idx.e[i].path);
		}
	}
	if (json)
		dits_buf_puts(&b, "]\n");
	fwrite(b.data ? (void *)b.data : (void *)"", 1, b.len, stdout);
	dits_buf_free(&b);
	free(m);
	dits_index_free(&idx);
	return 0;
}

int cmd_mode(int argc, char **argv)
{
	bool json = false;
	const char *variant = NULL;
	const cli_opt opts[] = {
		{ "--json", NULL, NULL, &json },
		{ "--variant", NULL, &variant, NULL },
		{ NULL, NULL, NULL, NULL },
	};
	int np, dd, code = cli_parse(argc, argv, opts, NULL, &np, &dd);
	if (code)
		return code;
	/* `mode proxy|master [PATH...]` switches; otherwise every argument is a path to list. */
	bool set = np > 0 && dd != 0 && (!strcmp(argv[1], "proxy") || !strcmp(argv[1], "master"));
	bool proxy = set && !strcmp(argv[1], "proxy");
	char **paths = argv + 1 + (set ? 1 : 0);
	int npaths = np - (set ? 1 : 0);
	if (set && json)
		return cli_usage_error(NULL, "mode: --json lists; it does not go with %s", argv[1]);
	if (!set && variant)
		return cli_usage_error(NULL, "mode: --variant goes with mode proxy");
	/* Inside a Dits mount (not a worktree), the mount switches live. */
	int in_mount_rc;
	if (cli_mode_in_mount(set, proxy, json, variant, paths, npaths, &in_mount_rc))
		return in_mount_rc;
	if (!set && npaths)
		return cli_usage_error(NULL, "mode: unexpected argument '%s' (mode proxy|master PATH... switches)", paths[0]);
	dits_repo *r;
	if (dits_repo_open(&r, "."))
		return cli_fail();
	int rc = set ? cli_checkout_mode(r, proxy, variant, paths, npaths) : mode_list(r, json);
	dits_repo_free(r);
	return rc;
}

int cmd_fetch_proxy(int argc, char **argv)
{
	bool checkout = false, wait = false; /* local proxies are made in the foreground: always waited for */
	const char *tmo = NULL;
	const cli_opt opts[] = {
		{ "--checkout", NULL, NULL, &checkout },
		{ "--wait", NULL, NULL, &wait },
		{ "--timeout", NULL, &tmo, NULL },
		{ NULL, NULL, NULL, NULL },
	};
	int np, code = cli_parse(argc, argv, opts, NULL, &np, NULL);
	if (code)
		return code;
	double timeout = 0;
	if (tmo) {
		char *end;
		timeout = strtod(tmo, &end);
		if (*end || end == tmo || !(timeout > 0) || timeout > 1e9)
			return cli_usage_error(NULL, "fetch-proxy: --timeout takes a number of seconds above 0, not '%s'", tmo);
	}
	if (np == 0)
		return cli_usage_error(NULL, "fetch-proxy: which files?");
	char **paths = calloc((size_t)np + 1, sizeof *paths);
	if (!paths)
		return cli_fail();
	memcpy(paths, argv + 1, (size_t)np * sizeof *paths);
	dits_repo *r;
	if (dits_repo_open(&r, ".")) {
		free(paths);
		return cli_fail();
	}
	dits_proxy_recipe rec;
	asset_ref *assets = NULL;
	size_t n = 0;
	int rc = dits_hologram_recipe_from_config(r, &rec) || select_assets(r, paths, np, true, &assets, &n);
	if (rc) {
		free(paths);
		dits_repo_free(r);
		return cli_fail();
	}
	/* With a remote, its proxies come first: made once, on the server. */
	if (n) {
		dits_id *ids = calloc(n, sizeof *ids);
		char **names = calloc(n, sizeof *names);
		size_t missing = 0;
		int rrc = ids && names ? 0 : dits_error_set(DITS_ENOMEM, "out of memory");
		for (size_t i = 0; i < n && !rrc; i++) {
			ids[i] = assets[i].id;
			names[i] = assets[i].path;
		}
		if (!rrc)
			rrc = cli_remote_proxies(r, ids, names, n, dits_hologram_proxy_type(&rec), wait, timeout, &missing);
		free(ids);
		free(names);
		if (rrc) {
			code = rrc < 0 ? cli_fail() : 1;
			free_assets(assets, n);
			free(paths);
			dits_repo_free(r);
			return code;
		}
	}
	/* Make whatever is not ready yet, here and now (the master is local). */
	dits_metadb *db = NULL;
	unsigned queued = 0;
	if (!(rc = dits_metadb_open_repo(&db, r))) {
		const char *type = dits_hologram_proxy_type(&rec);
		for (size_t i = 0; i < n && !rc; i++) {
			proxy_state s;
			proxy_state_of(db, &assets[i].id, type, &s);
			if (strcmp(s.state, "ready")) {
				rc = dits_hologram_enqueue_asset(r, &assets[i].id, assets[i].path, &rec);
				queued++;
			}
			proxy_state_free(&s);
		}
		dits_metadb_close(db);
	}
	if (rc) {
		code = cli_fail();
	} else if (queued) {
		dits_worker_stats st;
		if (run_worker(r, false, true, 1, false, &st))
			code = cli_fail();
		else if (st.failed)
			code = 1;
	}
	if (!code)
		printf("%zu %s ready\n", n, cli_plural(n, "proxy", "proxies"));
	if (!code && checkout)
		code = cli_checkout_mode(r, true, NULL, paths, np);
	free_assets(assets, n);
	free(paths);
	dits_repo_free(r);
	return code;
}
#endif
