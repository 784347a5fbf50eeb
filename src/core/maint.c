#include "maint.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "fsutil.h"
#include "idset.h"
#include "index.h"
#include "metadb.h"
#include "object.h"
#include "odb_pack.h"
#include "refs.h"
#include "repo_internal.h"
#include "worktree.h"

/* ---- reachability --------------------------------------------------- */

typedef struct walker {
	dits_repo *r;
	dits_idset seen;          /* every reachable id: commits, trees, manifests, segments, chunks */
	dits_report_fn problem;
	void *ctx;
	long problems;
	bool check_chunks;   /* locate every chunk (fsck) */
	bool partial;        /* a partial clone: absent chunks are not fetched yet, not lost */
	uint64_t not_fetched;
	/* stats */
	dits_idset versions;      /* hash of (path, manifest) */
	uint64_t logical, commits;
} walker;

static void problemf(walker *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int partial_key(void *ctx, const char *key, const char *value)
{
	size_t n = strlen(key);
	if (n > 8 && !strcmp(key + n - 8, ".partial") && !strcmp(value, "true"))
		*(bool *)ctx = true;
	return 0;
}

/* A partial (proxy) clone records remote.NAME.partial = true. */
static bool repo_is_partial(dits_repo *r)
{
	bool partial = false;
	dits_config_foreach(r->config, "remote.", partial_key, &partial);
	return partial;
}
static void problemf(walker *w, const char *fmt, ...)
{
	char msg[1200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	w->problems++;
	if (w->problem)
		w->problem(w->ctx, msg);
}

static int walk_manifest(walker *w, const dits_id *id, const char *path)
{
	int added = dits_idset_add(&w->seen, id);
	if (added <= 0)
		return added;
	dits_manifest m;
	int rc = dits_manifest_read(w->r->odb, id, &m);
	if (rc) {
		if (rc == DITS_ENOMEM)
			return rc;
		problemf(w, "%s: %s", path, dits_error_last());
		return 0;
	}
	dits_manifest_head h;
	if (dits_manifest_read_head(w->r->odb, id, &h) == 0) {
		for (uint32_t s = 0; s < h.nsegs; s++)
			if (dits_idset_add(&w->seen, &h.segs[s]) < 0)
				rc = DITS_ENOMEM;
		dits_manifest_head_free(&h);
	}
	for (uint64_t i = 0; i < m.nchunks && !rc; i++) {
		int a = dits_idset_add(&w->seen, &m.chunks[i].id);
		if (a < 0) {
			rc = a;
			break;
		}
		if (a == 0 || !w->check_chunks)
			continue;
		uint32_t len;
		char hex[DITS_ID_HEXLEN + 1];
		if (dits_odb_read_header(w->r->odb, &m.chunks[i].id, NULL, &len)) {
			if (w->partial) {
				w->not_fetched++; /* the remote has it; a checkout fetches it */
				continue;
			}
			dits_id_hex(hex, &m.chunks[i].id);
			problemf(w, "%s: chunk %s is missing", path, hex);
		} else if (len != m.chunks[i].len) {
			dits_id_hex(hex, &m.chunks[i].id);
			problemf(w, "%s: chunk %s has the wrong length", path, hex);
		}
	}
	dits_manifest_free(&m);
	return rc;
}

static int walk_tree(walker *w, const dits_id *id, const char *prefix, int depth)
{
	int added = dits_idset_add(&w->seen, id);
	if (added < 0)
		return added;
	bool stats = w->versions.cap || !w->check_chunks;
	if (added == 0 && !stats)
		return 0;
	if (depth >= DITS_TREE_DEPTH_MAX) {
		/* The recursion stops here: what is below is not marked, so gc stops on the problem. */
		dits_tree_depth_error(id, prefix);
		problemf(w, "%s", dits_error_last());
		return 0;
	}
	dits_tree t;
	int rc = dits_tree_read(w->r->odb, id, &t);
	if (rc) {
		problemf(w, "%s%s%s", prefix, *prefix ? ": " : "", dits_error_last());
		return rc == DITS_ENOMEM ? rc : 0;
	}
	for (size_t i = 0; i < t.n && !rc; i++) {
		char *path = *prefix ? dits_strfmt("%s/%s", prefix, t.e[i].name) : strdup(t.e[i].name);
		if (!path) {
			rc = DITS_ENOMEM;
			break;
		}
		if (t.e[i].kind == DITS_KIND_TREE) {
			rc = walk_tree(w, &t.e[i].id, path, depth + 1);
		} else {
			if (stats) {
				dits_hasher hh;
				dits_id vid;
				dits_hasher_init(&hh);
				dits_hasher_update(&hh, path, strlen(path) + 1);
				dits_hasher_update(&hh, t.e[i].id.b, DITS_ID_LEN);
				dits_hasher_final(&hh, &vid);
				int a = dits_idset_add(&w->versions, &vid);
				if (a < 0)
					rc = a;
				else if (a)
					w->logical += t.e[i].size;
			}
			if (!rc)
				rc = walk_manifest(w, &t.e[i].id, path);
		}
		free(path);
	}
	dits_tree_free(&t);
	return rc;
}

static int walk_commit(walker *w, const dits_id *start, const char *name)
{
	dits_id *stack = malloc(sizeof *stack);
	size_t n = 0, cap = 1;
	if (!stack)
		return DITS_ENOMEM;
	stack[n++] = *start;
	int rc = 0;
	while (n && !rc) {
		dits_id id = stack[--n];
		int added = dits_idset_add(&w->seen, &id);
		if (added <= 0) {
			rc = added;
			continue;
		}
		dits_commit c;
		if (dits_commit_read(w->r->odb, &id, &c)) {
			problemf(w, "%s: %s", name, dits_error_last());
			continue;
		}
		w->commits++;
		rc = walk_tree(w, &c.tree, "", 0);
		for (size_t i = 0; i < c.nparents && !rc; i++) {
			if (n == cap) {
				cap *= 2;
				dits_id *ns = realloc(stack, cap * sizeof *ns);
				if (!ns) {
					rc = DITS_ENOMEM;
					break;
				}
				stack = ns;
			}
			stack[n++] = c.parents[i];
		}
		dits_commit_free(&c);
	}
	free(stack);
	return rc;
}

static int walk_ref(void *ctx, const char *ref, const dits_id *id)
{
	return walk_commit(ctx, id, ref);
}

/* Marks everything reachable from refs, HEAD and the index. */
static int walk_all(walker *w, bool include_index)
{
	dits_repo *r = w->r;
	int rc = dits_refs_foreach(r, "refs/heads/", walk_ref, w);
	if (!rc)
		rc = dits_refs_foreach(r, "refs/tags/", walk_ref, w);
	if (!rc)
		rc = dits_refs_foreach(r, "refs/remotes/", walk_ref, w);
	if (rc && rc != DITS_ENOMEM) {
		problemf(w, "refs: %s", dits_error_last());
		rc = 0;
	}
	dits_id head;
	int hrc = dits_ref_read(r, "HEAD", &head);
	if (!rc && hrc == 0)
		rc = walk_commit(w, &head, "HEAD");
	else if (hrc && hrc != DITS_ENOTFOUND)
		problemf(w, "HEAD: %s", dits_error_last());
	if (!rc && include_index) {
		/* Variants (proxies, thumbnails...) are reachable through the metadata store. */
		dits_metadb *db = NULL;
		if (dits_metadb_present(r)) {
			if (dits_metadb_open_repo(&db, r)) {
				problemf(w, "%s", dits_error_last());
			} else {
				dits_variant *vs = NULL;
				size_t nv = 0;
				if (dits_variant_list(db, NULL, &vs, &nv)) {
					problemf(w, "%s", dits_error_last());
				} else {
					for (size_t i = 0; i < nv && !rc; i++) {
						if (!vs[i].has_manifest)
							continue;
						char hex[DITS_ID_HEXLEN + 1], name[160];
						dits_id_hex(hex, &vs[i].parent);
						snprintf(name, sizeof name, "%s variant of asset %.12s", vs[i].type, hex);
						rc = walk_manifest(w, &vs[i].manifest, name);
					}
					dits_variant_list_free(vs, nv);
				}
				dits_metadb_close(db);
			}
		}
	}
	if (!rc && include_index) {
		dits_index idx;
		int irc = dits_index_load(r, &idx);
		if (irc) {
			problemf(w, "%s", dits_error_last());
		} else {
			for (size_t i = 0; i < idx.n && !rc; i++)
				rc = walk_manifest(w, &idx.e[i].id, idx.e[i].path);
			dits_index_free(&idx);
		}
	}
	return rc;
}

/* ---- fsck ----------------------------------------------------------- */

typedef struct fsck_ctx {
	walker *w;
} fsck_ctx;

static void pack_problem(void *ctx, const char *msg)
{
	walker *w = ctx;
	w->problems++;
	if (w->problem)
		w->problem(w->ctx, msg);
}

static void scan_leftovers(const char *dir, const char *pattern_a, const char *pattern_b,
                           dits_report_fn note, void *ctx, bool remove, uint64_t *count)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strstr(e->d_name, pattern_a) && !(pattern_b && strstr(e->d_name, pattern_b)))
			continue;
		char *p = dits_path_join(dir, e->d_name);
		if (!p)
			continue;
		if (remove) {
			if (unlink(p) == 0 && count)
				(*count)++;
		} else if (note) {
			char msg[1200];
			snprintf(msg, sizeof msg, "%s: left by an interrupted command (harmless; gc removes it)", p);
			note(ctx, msg);
		}
		free(p);
	}
	closedir(d);
}

/* Packs without an index: invisible, and safe to delete. */
static void scan_orphan_packs(dits_repo *r, dits_report_fn note, void *ctx, bool remove, uint64_t *count)
{
	const char *dir = dits_odb_dir(r->odb);
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		if (l < 6 || strncmp(e->d_name, "pack-", 5) || strcmp(e->d_name + l - 5, ".pack"))
			continue;
		char *pack = dits_path_join(dir, e->d_name);
		char *idx = pack ? dits_strfmt("%.*s.idx", (int)(strlen(pack) - 5), pack) : NULL;
		struct stat st;
		if (idx && stat(idx, &st) < 0) {
			if (remove) {
				if (unlink(pack) == 0 && count)
					(*count)++;
			} else if (note) {
				char msg[1200];
				snprintf(msg, sizeof msg, "%s: pack without an index, left by an interrupted command (harmless; gc removes it)", pack);
				note(ctx, msg);
			}
		}
		free(pack);
		free(idx);
	}
	closedir(d);
}

long dits_fsck(dits_repo *r, dits_report_fn problem, dits_report_fn note, void *ctx)
{
	return dits_fsck_partial(r, problem, note, ctx, NULL);
}

long dits_fsck_partial(dits_repo *r, dits_report_fn problem, dits_report_fn note, void *ctx, uint64_t *not_fetched)
{
	walker w = { 0 };
	w.r = r;
	w.problem = problem;
	w.ctx = ctx;
	w.check_chunks = true;
	w.partial = repo_is_partial(r);
	for (size_t i = 0; i < dits_odb_pack_count(r->odb); i++)
		dits_odb_verify_pack(r->odb, i, pack_problem, &w);
	int rc = walk_all(&w, true);
	scan_leftovers(dits_odb_dir(r->odb), "tmp-", NULL, note, ctx, false, NULL);
	scan_orphan_packs(r, note, ctx, false, NULL);
	scan_leftovers(r->dir, ".tmp-", NULL, note, ctx, false, NULL);
	if (not_fetched)
		*not_fetched = w.not_fetched;
	dits_idset_free(&w.seen);
	dits_idset_free(&w.versions);
	return rc ? rc : w.problems;
}

/* ---- gc ------------------------------------------------------------- */

static bool is_live(void *ctx, const dits_id *id)
{
	return dits_idset_has(ctx, id);
}

int dits_parse_expire(const char *s, int64_t *grace_s)
{
	if (!strcmp(s, "now")) {
		*grace_s = 0;
		return 0;
	}
	if (!strcmp(s, "never")) {
		*grace_s = INT64_MAX;
		return 0;
	}
	static const struct { const char *name; int64_t secs; } units[] = {
		{ "s", 1 }, { "sec", 1 }, { "second", 1 }, { "seconds", 1 },
		{ "m", 60 }, { "min", 60 }, { "minute", 60 }, { "minutes", 60 },
		{ "h", 3600 }, { "hour", 3600 }, { "hours", 3600 },
		{ "d", 86400 }, { "day", 86400 }, { "days", 86400 },
		{ "w", 604800 }, { "week", 604800 }, { "weeks", 604800 },
	};
	const char *p = s;
	uint64_t n = 0;
	while (*p >= '0' && *p <= '9') {
		if (n > 1000000000ull)
			goto bad;
		n = n * 10 + (uint64_t)(*p++ - '0');
	}
	if (p == s)
		goto bad;
	if (*p == '.' || *p == ' ')
		p++;
	size_t ul = strcspn(p, ". ");
	int64_t unit = ul == 0 ? 1 : -1;
	for (size_t i = 0; i < sizeof units / sizeof *units && unit < 0; i++)
		if (strlen(units[i].name) == ul && !strncmp(p, units[i].name, ul))
			unit = units[i].secs;
	if (unit < 0)
		goto bad;
	p += ul;
	if (*p && strcmp(p, ".ago") && strcmp(p, " ago"))
		goto bad;
	*grace_s = (int64_t)n * unit;
	return 0;
bad:
	return dits_error_set(DITS_EINVALID, "'%s' is not an expiry (e.g. 2.weeks.ago, 3d, 12h, now, never)", s);
}

/* The grace: --prune=WHEN, else gc.pruneExpire, else DITS_GC_PRUNE_EXPIRE_DEFAULT. */
static int gc_grace(dits_repo *r, const char *prune, int64_t *grace_s)
{
	if (prune)
		return dits_parse_expire(prune, grace_s);
	const char *v = dits_config_get(r->config, "gc.pruneExpire");
	int rc = dits_parse_expire(v ? v : DITS_GC_PRUNE_EXPIRE_DEFAULT, grace_s);
	if (rc) {
		char msg[512];
		snprintf(msg, sizeof msg, "%s", dits_error_last());
		return dits_error_set(rc, "%s/config: gc.pruneExpire: %s", r->dir, msg);
	}
	return 0;
}

static int64_t realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

typedef struct gc_recent_ctx {
	walker *w;
	size_t pack;
} gc_recent_ctx;

/* A record of a recent pack is a root: kept, with everything it reaches. */
static int keep_recent(void *ctx, const dits_id *id, const dits_odb_loc *loc)
{
	gc_recent_ctx *g = ctx;
	if (loc->pack != g->pack)
		return 0;
	switch (loc->type) {
	case DITS_OBJ_COMMIT: return walk_commit(g->w, id, "recent commit");
	case DITS_OBJ_TREE: return walk_tree(g->w, id, "", 0);
	case DITS_OBJ_MANIFEST: return walk_manifest(g->w, id, "recent manifest");
	default: {
		int a = dits_idset_add(&g->w->seen, id);
		return a < 0 ? a : 0;
	}
	}
}

/* The same for an object of a recent unit of a backend with its own times (dits_odb_gc_begin). */
static int keep_recent_object(void *ctx, const dits_id *id, uint8_t type, uint32_t len)
{
	(void)len;
	gc_recent_ctx g = { ctx, 0 };
	dits_odb_loc loc = { .pack = 0, .type = type };
	return keep_recent(&g, id, &loc);
}

/* The repository's top-level temporary files (atomic writes) no one holds and older than cutoff. */
static void remove_old_tmp(const char *dir, int64_t cutoff_ns, uint64_t *count)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strstr(e->d_name, ".tmp-"))
			continue;
		char *p = dits_path_join(dir, e->d_name);
		int64_t m = p ? dits_file_mtime_ns(p) : -1;
		if (m >= 0 && m <= cutoff_ns && !dits_odb_file_in_use(p) && unlink(p) == 0)
			(*count)++;
		free(p);
	}
	closedir(d);
}

int dits_gc(dits_repo *r, const char *prune, dits_gc_result *res)
{
	memset(res, 0, sizeof *res);
	int64_t grace_s;
	int rc = gc_grace(r, prune, &grace_s);
	if (rc)
		return rc;
	if ((rc = dits_repo_lock(r)))
		return rc;
	/* Everything written after cutoff is in the grace period: uploads whose
	 * ref update has not landed yet, temporary packs still being received. */
	int64_t now = realtime_ns();
	int64_t cutoff = grace_s >= now / 1000000000 ? INT64_MIN : now - grace_s * 1000000000;
	res->grace_seconds = grace_s;
	walker w = { 0 };
	w.r = r;
	w.check_chunks = true;
	w.partial = repo_is_partial(r); /* what is not here cannot be collected either */
	rc = walk_all(&w, true);
	if (!rc && w.problems)
		rc = dits_error_set(DITS_ECORRUPT, "gc stopped: the repository has %ld problem(s); run dits fsck",
		                    w.problems);
	size_t np = dits_odb_pack_count(r->odb);
	for (size_t i = 0; i < np && !rc; i++) {
		if (dits_odb_pack_mtime_ns(r->odb, i) <= cutoff)
			continue;
		/* What a recent record reaches may be incomplete (an upload still in
		 * flight): that is not a problem of the repository. */
		long problems = w.problems;
		gc_recent_ctx g = { &w, i };
		rc = dits_odb_pack_foreach(r->odb, keep_recent, &g);
		w.problems = problems;
		res->recent_packs++;
	}
	if (!rc) {
		long problems = w.problems;
		rc = dits_odb_gc_begin(r->odb, cutoff, keep_recent_object, &w);
		w.problems = problems;
	}
	dits_odb_prune_result pr = { 0 };
	if (!rc)
		rc = dits_odb_remove_unreachable(r->odb, is_live, &w.seen, &pr);
	res->kept_objects = pr.kept_objects;
	res->removed_objects = pr.removed_objects;
	res->removed_bytes = pr.removed_bytes;
	res->packs_before = rc ? np : pr.units_before;
	res->packs_after = rc ? np : pr.units_after;
	if (!rc) {
		res->leftovers += dits_odb_remove_old_leftovers(r->odb, cutoff);
		remove_old_tmp(r->dir, cutoff, &res->leftovers);
	}
	dits_idset_free(&w.seen);
	return rc;
}

/* ---- stats ---------------------------------------------------------- */

typedef struct stat_ctx {
	dits_idset chunks;
	dits_stats *st;
} stat_ctx;

static int count_record(void *ctx, const dits_id *id, const dits_odb_loc *loc)
{
	stat_ctx *s = ctx;
	s->st->objects++;
	if (loc->type == DITS_OBJ_CHUNK) {
		int a = dits_idset_add(&s->chunks, id);
		if (a < 0)
			return a;
		if (a) {
			s->st->chunks++;
			s->st->chunk_bytes += loc->length;
		}
	}
	return 0;
}

int dits_stats_compute(dits_repo *r, dits_stats *st)
{
	memset(st, 0, sizeof *st);
	walker w = { 0 };
	w.r = r;
	w.check_chunks = false;
	/* Marking versions turns on logical byte counting. */
	int rc = dits_idset_add(&w.versions, &(dits_id){ { 0 } });
	if (rc > 0)
		rc = walk_all(&w, false);
	st->logical_bytes = w.logical;
	st->commits = w.commits;
	dits_idset_free(&w.seen);
	dits_idset_free(&w.versions);
	if (rc < 0)
		return rc;
	dits_flat flat;
	if ((rc = dits_flat_from_head(r, &flat, NULL, NULL)))
		return rc;
	st->head_files = flat.n;
	for (size_t i = 0; i < flat.n; i++)
		st->head_bytes += flat.e[i].size;
	dits_flat_free(&flat);
	stat_ctx s = { { 0 }, st };
	rc = dits_odb_pack_foreach(r->odb, count_record, &s);
	dits_idset_free(&s.chunks);
	for (size_t i = 0; i < dits_odb_pack_count(r->odb); i++) {
		st->packs++;
		st->stored_bytes += dits_odb_pack_size(r->odb, i);
		struct stat sb;
		const char *pp = dits_odb_pack_path(r->odb, i);
		char *idx = dits_strfmt("%.*s.idx", (int)(strlen(pp) - 5), pp);
		if (idx && stat(idx, &sb) == 0)
			st->stored_bytes += (uint64_t)sb.st_size;
		free(idx);
	}
	return rc < 0 ? rc : 0;
}
