/*
 * dits remote, push, fetch, pull, clone: the sync commands (docs/SYNC.md),
 * and how the batched master fetch of a partial clone (src/net/fetch.h)
 * reports here.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client.h"
#include "commands.h"
#include "error.h"
#include "fsutil.h"
#include "hologram.h"
#include "idset.h"
#include "metadb.h"
#include "object.h"
#include "progress.h"
#include "refs.h"
#include "walk.h"
#include "wire.h"
#include "worktree.h"

static void hex_of(char out[DITS_ID_HEXLEN + 1], const dits_id *id)
{
	dits_id_hex(out, id);
}

/* ---- options shared by push, fetch, pull and clone ------------------- */

typedef struct sync_args {
	bool json, force;
	const char *mode;   /* clone: proxy or master */
	dits_xfer_opts xfer;
	char *pos[3];
	int npos;
} sync_args;

static const char USE_PUSH[] = "dits push [REMOTE] [BRANCH] [--force] [--json] [--jobs N] [--limit-rate R]";
static const char USE_FETCH[] = "dits fetch [REMOTE] [--json] [--jobs N] [--limit-rate R]";
static const char USE_PULL[] = "dits pull [REMOTE] [BRANCH] [--json] [--jobs N] [--limit-rate R]";
static const char USE_CLONE[] = "dits clone URL DIR [--mode proxy|master] [--json] [--jobs N] [--limit-rate R]";

/* The options that only some of the sync commands take: a usage error elsewhere. */
static int sync_extra(const sync_args *a, const char *use, int max_pos, bool force_ok, bool mode_ok)
{
	if (a->npos > max_pos)
		return cli_usage_error(use, "unexpected argument '%s'", a->pos[max_pos]);
	if (a->force && !force_ok)
		return cli_usage_error(use, "--force goes with push only");
	if (a->mode && !mode_ok)
		return cli_usage_error(use, "--mode goes with clone only");
	return 0;
}

/* Parses the options; 0, or an exit code after a usage message. */
static int parse_sync_args(int argc, char **argv, sync_args *a, const char *use)
{
	memset(a, 0, sizeof *a);
	const char *jobs = NULL, *rate = NULL;
	const cli_opt opts[] = {
		{ "--json", NULL, NULL, &a->json },
		{ "--force", "-f", NULL, &a->force },
		{ "--jobs", "-j", &jobs, NULL },
		{ "--limit-rate", NULL, &rate, NULL },
		{ "--mode", NULL, &a->mode, NULL },
		{ NULL, NULL, NULL, NULL },
	};
	int n, code = cli_parse(argc, argv, opts, use, &n, NULL);
	if (code)
		return code;
	if (n > 3)
		return cli_usage_error(use, "unexpected argument '%s'", argv[4]);
	for (int i = 0; i < n; i++)
		a->pos[a->npos++] = argv[1 + i];
	if (a->mode && strcmp(a->mode, "proxy") && strcmp(a->mode, "master"))
		return cli_usage_error(use, "--mode is proxy or master, not '%s'", a->mode);
	/* Names the value given and why (dits_wire_parse_rate's message). */
	if (rate && (dits_wire_parse_rate(rate, &a->xfer.rate) || a->xfer.rate == 0))
		return cli_usage_error(use, "--limit-rate %s", dits_error_last());
	if (jobs) {
		char *end;
		long v = strtol(jobs, &end, 10);
		if (*end || end == jobs || v < 1 || v > 64)
			return cli_usage_error(use, "--jobs takes a number of connections from 1 to 64, not '%s'", jobs);
		a->xfer.jobs = (int)v;
	}
	return 0;
}

static void json_bytes(dits_buf *b, const dits_remote *rm)
{
	const dits_xfer_stats *st = dits_remote_stats(rm);
	dits_buf_printf(b, ",\"bytes_sent\":%llu,\"bytes_received\":%llu,\"requests\":%llu",
	                (unsigned long long)st->bytes_sent, (unsigned long long)st->bytes_received,
	                (unsigned long long)st->requests);
}

static void print_buf(dits_buf *b)
{
	fwrite(b->data ? (void *)b->data : (void *)"", 1, b->len, stdout);
	dits_buf_free(b);
}

/* ---- dits remote ----------------------------------------------------- */

static bool remote_name_valid(const char *name)
{
	return dits_wire_repo_name_valid(name) && dits_ref_name_valid(name);
}

typedef struct list_ctx {
	dits_repo *r;
	bool verbose;
} list_ctx;

static int list_remote(void *ctx, const char *key, const char *value)
{
	list_ctx *l = ctx;
	size_t n = strlen(key);
	if (n < 12 || strcmp(key + n - 4, ".url"))
		return 0;
	int len = (int)(n - 7 - 4);
	if (l->verbose) {
		char pk[300];
		snprintf(pk, sizeof pk, "remote.%.*s.partial", len, key + 7);
		const char *partial = dits_config_get(dits_repo_config(l->r), pk);
		printf("%.*s\t%s%s\n", len, key + 7, value, partial && !strcmp(partial, "true") ? " (partial)" : "");
	} else {
		printf("%.*s\n", len, key + 7);
	}
	return 0;
}

typedef struct unset_ctx {
	char prefix[300];
	char **keys;
	size_t n;
} unset_ctx;

static int collect_key(void *ctx, const char *key, const char *value)
{
	(void)value;
	unset_ctx *u = ctx;
	char **nk = realloc(u->keys, (u->n + 1) * sizeof *nk);
	if (!nk)
		return DITS_ENOMEM;
	u->keys = nk;
	u->keys[u->n] = strdup(key);
	if (!u->keys[u->n])
		return DITS_ENOMEM;
	u->n++;
	return 0;
}

int cmd_remote(int argc, char **argv)
{
	bool verbose = false;
	const cli_opt opts[] = { { "--verbose", "-v", NULL, &verbose }, { NULL, NULL, NULL, NULL } };
	int n, code = cli_parse(argc, argv, opts, NULL, &n, NULL);
	if (code)
		return code;
	if (n && verbose)
		return cli_usage_error(NULL, "remote: -v goes with the list only");
	if (n && strcmp(argv[1], "add") && strcmp(argv[1], "remove") && strcmp(argv[1], "rm"))
		return cli_usage_error(NULL, "remote: '%s' is not a remote command (add, remove)", argv[1]);
	if (n && !strcmp(argv[1], "add") && n != 3)
		return cli_usage_error(NULL, "remote add takes a NAME and a URL");
	if (n && strcmp(argv[1], "add") && n != 2)
		return cli_usage_error(NULL, "remote %s takes a NAME", argv[1]);
	dits_repo *r;
	if (dits_repo_open(&r, "."))
		return cli_fail();
	int rc = 0;
	if (n == 0) {
		list_ctx l = { r, verbose };
		dits_config_foreach(dits_repo_config(r), "remote.", list_remote, &l);
	} else if (!strcmp(argv[1], "add")) {
		const char *name = argv[2], *url = argv[3], *why;
		char key[300];
		snprintf(key, sizeof key, "remote.%s.url", name);
		if (!remote_name_valid(name))
			rc = dits_error_set(DITS_EINVALID, "'%s' is not a valid remote name", name);
		else if (!dits_remote_url_valid(url, &why))
			rc = dits_error_set(DITS_EINVALID, "%s: not a Dits remote URL (http(s)://HOST:PORT/NAME): %s", url, why);
		else if (dits_config_get(dits_repo_config(r), key))
			rc = dits_error_set(DITS_EEXISTS, "remote '%s' already exists", name);
		if (!rc)
			rc = dits_config_set(dits_repo_config(r), key, url);
		if (!rc)
			rc = dits_repo_config_save(r);
		rc = rc ? cli_fail() : 0;
	} else {
		unset_ctx u = { "", NULL, 0 };
		snprintf(u.prefix, sizeof u.prefix, "remote.%s.", argv[2]);
		if (!remote_name_valid(argv[2]))
			rc = dits_error_set(DITS_EINVALID, "'%s' is not a valid remote name", argv[2]);
		else if (dits_config_foreach(dits_repo_config(r), u.prefix, collect_key, &u))
			rc = dits_error_set(DITS_ENOMEM, "out of memory");
		else if (!u.n)
			rc = dits_error_set(DITS_ENOTFOUND, "%s: no remote of that name", argv[2]);
		for (size_t i = 0; i < u.n && !rc; i++)
			rc = dits_config_unset(dits_repo_config(r), u.keys[i]);
		if (!rc && !(rc = dits_repo_lock(r)))
			rc = dits_repo_config_save(r);
		if (!rc) /* its remote-tracking refs go with it */
			rc = dits_refs_remove_remote(r, argv[2]);
		for (size_t i = 0; i < u.n; i++)
			free(u.keys[i]);
		free(u.keys);
		rc = rc ? cli_fail() : 0;
	}
	dits_repo_free(r);
	return rc;
}

/* ---- dits push ------------------------------------------------------- */

static char *current_branch(dits_repo *r)
{
	char *target = NULL;
	if (dits_head_target(r, &target) || !target) {
		free(target);
		dits_error_set(DITS_EINVALID, "HEAD is detached; name the branch to push");
		return NULL;
	}
	char *b = strdup(target + strlen("refs/heads/"));
	free(target);
	return b;
}

int cmd_push(int argc, char **argv)
{
	sync_args a;
	int code = parse_sync_args(argc, argv, &a, USE_PUSH);
	if (!code)
		code = sync_extra(&a, USE_PUSH, 2, true, false);
	if (code)
		return code;
	dits_repo *r;
	if (dits_repo_open(&r, "."))
		return cli_fail();
	const char *remote = a.npos > 0 ? a.pos[0] : "origin";
	char *branch = a.npos > 1 ? strdup(a.pos[1]) : current_branch(r);
	dits_remote *rm = NULL;
	dits_progress p;
	cli_progress_init(&p);
	if (!a.json)
		a.xfer.progress = &p;
	dits_push_result res;
	int rc = branch ? dits_remote_open(&rm, r, remote) : DITS_EINVALID;
	if (!rc)
		rc = dits_push(r, rm, branch, a.force, &a.xfer, &res);
	if (rc) {
		code = cli_fail();
	} else {
		char oh[DITS_ID_HEXLEN + 1], nh[DITS_ID_HEXLEN + 1];
		hex_of(oh, &res.old);
		hex_of(nh, &res.new);
		dits_buf b = DITS_BUF_INIT;
		if (a.json) {
			dits_buf_puts(&b, "{\"remote\":");
			dits_buf_put_json_str(&b, remote);
			dits_buf_puts(&b, ",\"url\":");
			dits_buf_put_json_str(&b, dits_remote_url(rm));
			dits_buf_printf(&b, ",\"ref\":\"%s\",\"old\":\"%s\",\"new\":\"%s\",\"created\":%s,\"up_to_date\":%s,"
			                "\"forced\":%s,\"objects_sent\":%llu,\"variants_registered\":%llu",
			                res.ref, oh, nh, res.created ? "true" : "false", res.up_to_date ? "true" : "false",
			                a.force ? "true" : "false", (unsigned long long)res.objects,
			                (unsigned long long)res.variants);
			json_bytes(&b, rm);
			dits_buf_puts(&b, "}\n");
		} else if (res.up_to_date) {
			dits_buf_printf(&b, "To %s\n   %s is up to date\n", dits_remote_url(rm), branch);
		} else {
			char human[32];
			cli_human_bytes(human, sizeof human, (double)dits_remote_stats(rm)->bytes_sent);
			dits_buf_printf(&b, "To %s\n   %.12s..%.12s  %s -> %s%s (%llu %s, %s sent)\n",
			                dits_remote_url(rm), dits_id_is_zero(&res.old) ? "(new)" : oh, nh, branch, branch,
			                a.force ? " (forced)" : "", (unsigned long long)res.objects,
			                cli_plural(res.objects, "object", "objects"), human);
		}
		print_buf(&b);
		if (*res.variant_warning)
			fprintf(stderr, "dits: warning: variants were not registered on %s: %s\n", remote, res.variant_warning);
	}
	dits_remote_free(rm);
	free(branch);
	dits_repo_free(r);
	return code;
}

/* ---- dits fetch ------------------------------------------------------ */

typedef struct fallback_list {
	char **path, **why;
	size_t n;
	/* partial fetch and pull: the files whose proxy the remote is still
	 * making, left out (the master stays on the server) */
	char **pend_path, **pend_why;
	size_t npend;
} fallback_list;

static void list_add(char ***path, char ***why, size_t *n, const char *p, const char *w)
{
	char **np = realloc(*path, (*n + 1) * sizeof *np);
	if (np)
		*path = np;
	char **nw = realloc(*why, (*n + 1) * sizeof *nw);
	if (nw)
		*why = nw;
	if (!np || !nw)
		return;
	(*path)[*n] = strdup(p);
	(*why)[*n] = strdup(w);
	if ((*path)[*n] && (*why)[*n]) {
		(*n)++;
	} else {
		free((*path)[*n]);
		free((*why)[*n]);
	}
}

static void on_fallback(void *ctx, const char *path, const char *why)
{
	fallback_list *f = ctx;
	if (!dits_hologram_is_video_path(path))
		return; /* only videos are expected to have proxies */
	list_add(&f->path, &f->why, &f->n, path, why);
}

static void on_pending(void *ctx, const char *path, const char *why)
{
	fallback_list *f = ctx;
	list_add(&f->pend_path, &f->pend_why, &f->npend, path, why);
}

static void fallback_free(fallback_list *f)
{
	for (size_t i = 0; i < f->n; i++) {
		free(f->path[i]);
		free(f->why[i]);
	}
	for (size_t i = 0; i < f->npend; i++) {
		free(f->pend_path[i]);
		free(f->pend_why[i]);
	}
	free(f->path);
	free(f->why);
	free(f->pend_path);
	free(f->pend_why);
}

/* One line per file whose proxy is not ready on the remote yet. */
static void print_pending(const fallback_list *f, const char *remote)
{
	for (size_t i = 0; i < f->npend; i++)
		fprintf(stderr, "dits: %s: proxy not ready on %s yet (%s); its master was left out\n", f->pend_path[i],
		        remote, f->pend_why[i]);
}

static void json_fetch(dits_buf *b, const dits_fetch_result *res, const fallback_list *fb)
{
	dits_buf_printf(b, ",\"refs_updated\":%llu,\"objects_received\":%llu,\"chunks_received\":%llu,"
	                "\"variants_imported\":%llu,\"masters_instead_of_proxies\":[",
	                (unsigned long long)res->refs_updated, (unsigned long long)res->objects,
	                (unsigned long long)res->chunks, (unsigned long long)res->variants);
	for (size_t i = 0; fb && i < fb->n; i++) {
		dits_buf_puts(b, i ? ",{\"path\":" : "{\"path\":");
		dits_buf_put_json_str(b, fb->path[i]);
		dits_buf_puts(b, ",\"why\":");
		dits_buf_put_json_str(b, fb->why[i]);
		dits_buf_puts(b, "}");
	}
	dits_buf_puts(b, "]");
	if (!fb || !fb->npend)
		return;
	dits_buf_puts(b, ",\"proxies_not_ready\":[");
	for (size_t i = 0; i < fb->npend; i++) {
		dits_buf_puts(b, i ? ",{\"path\":" : "{\"path\":");
		dits_buf_put_json_str(b, fb->pend_path[i]);
		dits_buf_puts(b, ",\"why\":");
		dits_buf_put_json_str(b, fb->pend_why[i]);
		dits_buf_puts(b, "}");
	}
	dits_buf_puts(b, "]");
}

/* Fetches from remote into r; prints nothing. leave_pending: a master whose
 * proxy the remote is still making is left out (fetch and pull; a clone
 * needs every file it checks out). */
static int do_fetch(dits_repo *r, dits_remote *rm, const sync_args *a, dits_progress *p, fallback_list *fb,
                    bool leave_pending, dits_fetch_result *res)
{
	dits_fetch_opts o;
	dits_fetch_opts_configured(r, rm, &o);
	o.xfer = a->xfer;
	o.fallback = on_fallback;
	o.ctx = fb;
	o.pending = leave_pending ? on_pending : NULL;
	if (!a->json)
		o.xfer.progress = p;
	return dits_fetch(r, rm, &o, res);
}

int cmd_fetch(int argc, char **argv)
{
	sync_args a;
	int code = parse_sync_args(argc, argv, &a, USE_FETCH);
	if (!code)
		code = sync_extra(&a, USE_FETCH, 1, false, false);
	if (code)
		return code;
	dits_repo *r;
	if (dits_repo_open(&r, "."))
		return cli_fail();
	const char *remote = a.npos ? a.pos[0] : "origin";
	dits_remote *rm = NULL;
	dits_progress p;
	cli_progress_init(&p);
	fallback_list fb = { 0 };
	dits_fetch_result res = { 0 };
	int rc = dits_remote_open(&rm, r, remote);
	if (!rc)
		rc = do_fetch(r, rm, &a, &p, &fb, true, &res);
	if (rc) {
		code = cli_fail();
	} else {
		dits_buf b = DITS_BUF_INIT;
		if (a.json) {
			dits_buf_puts(&b, "{\"remote\":");
			dits_buf_put_json_str(&b, remote);
			json_fetch(&b, &res, &fb);
			json_bytes(&b, rm);
			dits_buf_puts(&b, "}\n");
		} else {
			char human[32];
			cli_human_bytes(human, sizeof human, (double)dits_remote_stats(rm)->bytes_received);
			dits_buf_printf(&b, "From %s: %llu %s updated, %llu %s and %llu %s received (%s), %llu %s imported\n",
			                dits_remote_url(rm), (unsigned long long)res.refs_updated,
			                cli_plural(res.refs_updated, "ref", "refs"), (unsigned long long)res.objects,
			                cli_plural(res.objects, "object", "objects"), (unsigned long long)res.chunks,
			                cli_plural(res.chunks, "chunk", "chunks"), human, (unsigned long long)res.variants,
			                cli_plural(res.variants, "variant", "variants"));
		}
		print_buf(&b);
		fflush(stdout);
		print_pending(&fb, remote);
	}
	dits_fetch_result_free(&res);
	fallback_free(&fb);
	dits_remote_free(rm);
	dits_repo_free(r);
	return code;
}

/* ---- the batched fetch of a partial clone's masters ------------------ */

static void on_fetched(void *ctx, size_t k, const char *remote, uint64_t got)
{
	(void)ctx;
	fprintf(stderr, "fetched %zu master%s from %s (%llu chunks)\n", k, k == 1 ? "" : "s", remote,
	        (unsigned long long)got);
}

const dits_fetch_report *cli_fetch_report(void)
{
	static dits_progress p;
	static dits_fetch_report rep;
	cli_progress_init(&p);
	rep.progress = &p;
	rep.fetched = on_fetched;
	return &rep;
}

/* ---- dits pull ------------------------------------------------------- */

/*
 * A file the pull would write whose master is not here while the remote is
 * still making its proxy stops the pull before anything is written:
 * fetching that master is what the proxy is for. A later pull brings the
 * proxy.
 */
static int pending_in_the_way(dits_repo *r, const dits_id *commit, const fallback_list *fb)
{
	if (!fb->npend)
		return 0;
	dits_flat head = { 0 }, target = { 0 };
	bool has_head;
	dits_id head_id;
	int rc = dits_flat_from_head(r, &head, &has_head, &head_id);
	if (!rc)
		rc = dits_flat_from_commit(r, commit, &target);
	for (size_t i = 0; i < fb->npend && !rc; i++) {
		const dits_flat_entry *t = dits_flat_find(&target, fb->pend_path[i]);
		const dits_flat_entry *h = dits_flat_find(&head, fb->pend_path[i]);
		if (!t || (h && dits_id_eq(&h->id, &t->id)) || dits_contents_local(r, &t->id))
			continue;
		rc = dits_error_set(DITS_ENOTFOUND,
		                    "%s: its proxy is not ready on the remote yet and its master is not here; "
		                    "nothing was checked out: pull again once it is ready",
		                    fb->pend_path[i]);
	}
	dits_flat_free(&head);
	dits_flat_free(&target);
	return rc;
}

int cmd_pull(int argc, char **argv)
{
	sync_args a;
	int code = parse_sync_args(argc, argv, &a, USE_PULL);
	if (!code)
		code = sync_extra(&a, USE_PULL, 2, false, false);
	if (code)
		return code;
	dits_repo *r;
	if (dits_repo_open(&r, "."))
		return cli_fail();
	const char *remote = a.npos > 0 ? a.pos[0] : "origin";
	char *target = NULL;
	int rc = dits_head_target(r, &target);
	if (!rc && !target)
		rc = dits_error_set(DITS_EINVALID, "HEAD is detached; check out a branch to pull into");
	const char *local_branch = target ? target + strlen("refs/heads/") : NULL;
	const char *branch = a.npos > 1 ? a.pos[1] : local_branch;
	dits_remote *rm = NULL;
	dits_progress p;
	cli_progress_init(&p);
	fallback_list fb = { 0 };
	dits_fetch_result res = { 0 };
	if (!rc)
		rc = dits_remote_open(&rm, r, remote);
	if (!rc)
		rc = do_fetch(r, rm, &a, &p, &fb, true, &res);
	if (!rc)
		print_pending(&fb, remote);
	dits_id theirs, ours;
	bool has_ours = false, ff = false;
	const char *outcome = "up to date";
	if (!rc) {
		char *track = dits_strfmt("refs/remotes/%s/%s", remote, branch);
		rc = track ? dits_ref_read(r, track, &theirs) : DITS_ENOMEM;
		if (rc)
			rc = dits_error_set(rc, "remote %s has no branch '%s'", remote, branch);
		free(track);
	}
	if (!rc) {
		has_ours = dits_ref_read(r, target, &ours) == 0;
		dits_error_clear();
		bool behind = false, ahead = false;
		if (has_ours && !dits_id_eq(&ours, &theirs)) {
			if (!(rc = dits_is_ancestor(dits_repo_odb(r), &ours, &theirs, &ff)) && !ff)
				rc = dits_is_ancestor(dits_repo_odb(r), &theirs, &ours, &ahead);
			behind = ff;
			if (!rc && !ff && !ahead)
				rc = dits_error_set(DITS_ECONFLICT,
				                    "%s and %s/%s have diverged; merging is not supported (nothing changed)",
				                    local_branch, remote, branch);
			if (ahead)
				outcome = "ahead: nothing to pull";
		}
		if (!rc && (!has_ours || behind)) {
			/* A partial clone keeps proxies where it has them and fetches the other masters. */
			bool partial = dits_repo_partial_remote(r, NULL);
			const char *variant = partial ? dits_hologram_configured_type(r) : NULL;
			dits_checkout_opts co = { variant, NULL, NULL };
			rc = pending_in_the_way(r, &theirs, &fb);
			if (!rc)
				rc = dits_fetch_for_commit(r, &theirs, variant, cli_fetch_report());
			if (!rc)
				rc = dits_checkout_commit_opts(r, &theirs, target, a.json ? NULL : &p, &co);
			dits_id zero = { { 0 } };
			if (!rc)
				rc = dits_ref_update(r, target, &theirs, has_ours ? &ours : &zero, "pull: fast-forward");
			outcome = "fast-forward";
		}
	}
	if (rc) {
		code = cli_fail();
	} else {
		char oh[DITS_ID_HEXLEN + 1] = "", th[DITS_ID_HEXLEN + 1];
		if (has_ours)
			hex_of(oh, &ours);
		hex_of(th, &theirs);
		dits_buf b = DITS_BUF_INIT;
		if (a.json) {
			dits_buf_puts(&b, "{\"remote\":");
			dits_buf_put_json_str(&b, remote);
			dits_buf_printf(&b, ",\"branch\":\"%s\",\"outcome\":\"%s\",\"old\":\"%s\",\"new\":\"%s\"",
			                local_branch, outcome, oh, !strcmp(outcome, "fast-forward") ? th : oh);
			json_fetch(&b, &res, &fb);
			json_bytes(&b, rm);
			dits_buf_puts(&b, "}\n");
		} else if (!strcmp(outcome, "fast-forward")) {
			dits_buf_printf(&b, "Fast-forward %s: %.12s..%.12s\n", local_branch, has_ours ? oh : "(none)", th);
		} else {
			dits_buf_printf(&b, "%s: %s\n", local_branch, outcome);
		}
		print_buf(&b);
	}
	dits_fetch_result_free(&res);
	fallback_free(&fb);
	dits_remote_free(rm);
	free(target);
	dits_repo_free(r);
	return code;
}

/* ---- dits clone ------------------------------------------------------ */

typedef struct clone_ui {
	uint64_t proxies, masters;
} clone_ui;

static void on_written(void *ctx, const char *path, int outcome, const char *why)
{
	(void)path;
	(void)why;
	clone_ui *ui = ctx;
	if (outcome == DITS_MODE_SWAPPED)
		ui->proxies++;
	else
		ui->masters++;
}

/* The branch a clone checks out: the remote's HEAD, else its first branch. */
static const char *clone_branch(const dits_remote_refs *refs, dits_id *tip)
{
	if (refs->head && !strncmp(refs->head, "refs/heads/", 11)) {
		const dits_id *id = dits_remote_refs_find(refs, refs->head);
		if (id) {
			*tip = *id;
			return refs->head;
		}
	}
	for (size_t i = 0; i < refs->n; i++)
		if (!strncmp(refs->names[i], "refs/heads/", 11)) {
			*tip = refs->ids[i];
			return refs->names[i];
		}
	return NULL;
}

int cmd_clone(int argc, char **argv)
{
	sync_args a;
	int code = parse_sync_args(argc, argv, &a, USE_CLONE);
	if (!code)
		code = sync_extra(&a, USE_CLONE, 2, false, true);
	if (!code && a.npos < 2)
		code = cli_usage_error(USE_CLONE, "clone: name a URL and a DIR");
	if (code)
		return code;
	const char *url = a.pos[0], *dir = a.pos[1];
	bool partial = a.mode && !strcmp(a.mode, "proxy");
	dits_remote *rm = NULL;
	dits_remote_refs refs = { 0 };
	dits_repo *r = NULL;
	bool made_dir = false;
	int rc = dits_remote_open_url(&rm, "origin", url);
	/* Ask the server first: a bad URL leaves nothing behind. */
	if (!rc)
		rc = dits_remote_get_refs(rm, &refs);
	if (!rc && !refs.exists)
		rc = dits_error_set(DITS_ENOTFOUND, "%s: no such repository on the server", url);
	struct stat st;
	if (!rc && stat(dir, &st) == 0) {
		char *dots = dits_path_join(dir, ".dits");
		struct stat dst;
		if (!S_ISDIR(st.st_mode))
			rc = dits_error_set(DITS_EEXISTS, "%s: exists and is not a directory", dir);
		else if (dots && stat(dots, &dst) == 0)
			rc = dits_error_set(DITS_EEXISTS, "%s: already holds a repository", dir);
		free(dots);
	} else if (!rc) {
		made_dir = true;
	}
	if (!rc)
		rc = dits_repo_init(&r, dir, &refs.chunker);
	if (!rc)
		rc = dits_config_set(dits_repo_config(r), "remote.origin.url", url);
	if (!rc && partial)
		rc = dits_config_set(dits_repo_config(r), "remote.origin.partial", "true");
	if (!rc)
		rc = dits_repo_config_save(r);
	dits_progress p;
	cli_progress_init(&p);
	fallback_list fb = { 0 };
	dits_fetch_result res = { 0 };
	if (!rc)
		rc = do_fetch(r, rm, &a, &p, &fb, false, &res);
	dits_id tip;
	const char *branch = rc ? NULL : clone_branch(&res.refs, &tip);
	clone_ui ui = { 0, 0 };
	if (!rc && branch) {
		dits_checkout_opts co = { partial ? dits_hologram_configured_type(r) : NULL, on_written, &ui };
		dits_id zero = { { 0 } };
		rc = dits_checkout_commit_opts(r, &tip, branch, a.json ? NULL : &p, &co);
		if (!rc)
			rc = dits_ref_update(r, branch, &tip, &zero, "clone");
	}
	if (rc) {
		code = cli_fail();
		/* A clone that did not finish leaves no repository behind: in an
		 * existing directory, the .dits it made goes (nothing else was
		 * written when the checkout refused before its first file). */
		if (r && made_dir)
			dits_remove_tree(dir);
		else if (r)
			dits_repo_remove(r);
	} else {
		dits_buf b = DITS_BUF_INIT;
		char th[DITS_ID_HEXLEN + 1] = "";
		if (branch)
			hex_of(th, &tip);
		if (a.json) {
			dits_buf_puts(&b, "{\"url\":");
			dits_buf_put_json_str(&b, url);
			dits_buf_puts(&b, ",\"dir\":");
			dits_buf_put_json_str(&b, dits_repo_workdir(r));
			dits_buf_printf(&b, ",\"mode\":\"%s\",\"branch\":\"%s\",\"head\":\"%s\",\"files_proxy\":%llu,"
			                "\"files_master\":%llu",
			                partial ? "proxy" : "master", branch ? branch + 11 : "", th,
			                (unsigned long long)ui.proxies, (unsigned long long)ui.masters);
			json_fetch(&b, &res, &fb);
			json_bytes(&b, rm);
			dits_buf_puts(&b, "}\n");
		} else {
			char human[32];
			cli_human_bytes(human, sizeof human, (double)dits_remote_stats(rm)->bytes_received);
			dits_buf_printf(&b, "Cloned %s into %s (%s mode): %llu file%s", url, dir, partial ? "proxy" : "master",
			                (unsigned long long)(ui.proxies + ui.masters), ui.proxies + ui.masters == 1 ? "" : "s");
			if (partial)
				dits_buf_printf(&b, ", %llu as %s", (unsigned long long)ui.proxies,
				                cli_plural(ui.proxies, "a proxy", "proxies"));
			dits_buf_printf(&b, ", %s received\n", human);
			if (!branch)
				dits_buf_puts(&b, "the remote has no branches yet\n");
		}
		print_buf(&b);
		for (size_t i = 0; partial && !a.json && i < fb.n; i++)
			fprintf(stderr, "dits: %s: master instead of a proxy: %s\n", fb.path[i], fb.why[i]);
	}
	dits_fetch_result_free(&res);
	fallback_free(&fb);
	dits_remote_refs_free(&refs);
	dits_remote_free(rm);
	dits_repo_free(r);
	return code;
}

/* ---- fetch-proxy from a remote --------------------------------------- */

int cli_remote_proxies(dits_repo *r, const dits_id *assets, char **paths, size_t n, const char *type, bool wait,
                       double timeout, size_t *missing)
{
	*missing = 0;
	char *remote = NULL;
	if (!dits_repo_partial_remote(r, &remote)) {
		if (!dits_config_get(dits_repo_config(r), "remote.origin.url"))
			return 0; /* no remote: proxies are made here */
		remote = strdup("origin");
	}
	dits_remote *rm = NULL;
	char (*state)[16] = calloc(n + 1, sizeof *state);
	char **err = calloc(n + 1, sizeof *err);
	int rc = state && err ? dits_remote_open(&rm, r, remote) : dits_error_set(DITS_ENOMEM, "out of memory");
	double start = dits_now();
	bool partial = dits_repo_partial_remote(r, NULL);
	dits_progress p;
	cli_progress_init(&p);
	dits_xfer_opts o = { 0, 0, &p };
	int code = 0;
	for (;;) {
		if (!rc)
			rc = dits_fetch_variants(r, rm, assets, n, type, &o, state, err);
		if (rc)
			break;
		size_t pending = 0;
		for (size_t i = 0; i < n; i++)
			if (!strcmp(state[i], "queued") || !strcmp(state[i], "running"))
				pending++;
		if (!pending || !wait || (timeout > 0 && dits_now() - start >= timeout)) {
			for (size_t i = 0; i < n; i++) {
				if (!strcmp(state[i], "queued") || !strcmp(state[i], "running")) {
					fprintf(stderr, "dits: %s: the proxy on %s is %s (pending)%s\n", paths[i], remote, state[i],
					        wait ? "; gave up waiting" : "; use --wait");
					code = 1;
				} else if (!strcmp(state[i], "failed")) {
					fprintf(stderr, "dits: %s: the proxy on %s failed: %s\n", paths[i], remote,
					        err[i] ? err[i] : "no reason given");
					code = 1;
				} else if (!strcmp(state[i], "none")) {
					/* The master is here: the local worker can make one. Else nothing can. */
					if (partial) {
						fprintf(stderr, "dits: %s: %s has no %s for it\n", paths[i], remote, type);
						code = 1;
					} else {
						(*missing)++;
					}
				}
			}
			break;
		}
		for (size_t i = 0; i < n; i++) {
			free(err[i]);
			err[i] = NULL;
		}
		sleep(1);
	}
	for (size_t i = 0; err && i < n; i++)
		free(err[i]);
	free(err);
	free(state);
	dits_remote_free(rm);
	free(remote);
	if (rc)
		return rc;
	return code ? 1 : 0;
}
