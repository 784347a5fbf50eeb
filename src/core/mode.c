/*
 * Proxy mode: swapping working files between a master and its proxy at the
 * same path (ARCHITECTURE.md invariants 4 and 6).
 *
 * The swap is crash-safe by writing the index twice. Before any file is
 * touched, every file about to change is recorded as "in proxy mode, stat
 * unknown": with the proxy flag set, status and add accept either the
 * master's or the proxy's content at that path as clean, so whatever a
 * kill leaves there is never taken for a change, and never committed as a
 * master. Then each file is written beside its target, fsynced and renamed
 * over it (a reader never sees the path missing or half-written), and the
 * index is written again with the final modes and fresh stat data.
 *
 * As in checkout, no write follows a symbolic link: a planned path with a
 * link among its leading directories is refused before the first index
 * write, and files are staged and renamed relative to directory fds opened
 * without following links (checkout.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "fsutil.h"
#include "metadb.h"
#include "object.h"
#include "repo_internal.h"
#include "worktree.h"

typedef struct swap {
	size_t entry;      /* index of the entry at planning time (paths are sorted) */
	char *path;
	bool to_proxy;
	dits_id target;    /* manifest to write */
	dits_id proxy_id;  /* the proxy's manifest (wt_id while swapping) */
	uint64_t size;
} swap;


static void report(dits_mode_report_fn fn, void *ctx, const char *path, int outcome, const char *why)
{
	if (fn)
		fn(ctx, path, outcome, why);
}

int dits_worktree_set_mode(dits_repo *r, const char *const *paths, size_t n, bool proxy,
                           const char *variant_type, const dits_progress *p, dits_mode_report_fn fn,
                           void *ctx)
{
	int rc = dits_repo_lock(r);
	if (rc)
		return rc;
	dits_index idx;
	if ((rc = dits_index_load(r, &idx)))
		return rc;
	char **rels = calloc(n + 1, sizeof *rels);
	char *state = calloc(idx.n + 1, 1);
	bool *selected = calloc(idx.n + 1, sizeof *selected);
	swap *plan = calloc(idx.n + 1, sizeof *plan);
	size_t nplan = 0;
	dits_metadb *db = NULL;
	if (!rels || !state || !selected || !plan) {
		rc = dits_error_set(DITS_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n && !rc; i++) {
		rc = dits_repo_relpath(r, paths[i], &rels[i]);
		bool any = false;
		for (size_t k = 0; !rc && k < idx.n && !any; k++)
			any = dits_path_is_under(idx.e[k].path, rels[i]);
		if (!rc && !any)
			rc = dits_error_set(DITS_ENOTFOUND, "%s: not tracked by dits", paths[i]);
	}
	if (rc)
		goto out;
	for (size_t k = 0; k < idx.n; k++) {
		selected[k] = n == 0;
		for (size_t i = 0; i < n && !selected[k]; i++)
			selected[k] = dits_path_is_under(idx.e[k].path, rels[i]);
	}
	/* Local changes are the user's work: refuse before touching anything. */
	if ((rc = dits_worktree_state(r, &idx, state, NULL)))
		goto out;
	for (size_t k = 0; k < idx.n && !rc; k++)
		if (selected[k] && state[k] == DITS_ST_MODIFIED)
			rc = dits_error_set(DITS_ECONFLICT,
			                    "%s: has changes that are not committed; commit or restore it before switching modes",
			                    idx.e[k].path);
	if (rc)
		goto out;

	char ctype[DITS_VARIANT_NAME_MAX], profile[DITS_VARIANT_NAME_MAX];
	dits_variant_configured(r, ctype, profile);
	if ((rc = dits_metadb_open_repo_if_exists(&db, r)))
		goto out;

	uint64_t total = 0;
	for (size_t k = 0; k < idx.n; k++) {
		if (!selected[k])
			continue;
		dits_index_entry *e = &idx.e[k];
		bool is_proxy = e->flags & DITS_INDEX_PROXY;
		bool missing = state[k] == DITS_ST_DELETED;
		swap s = { k, e->path, proxy, e->id, e->wt_id, e->size };
		if (proxy) {
			/* The ready proxy the configured recipe names (else, to say
			 * why there is none, the newest variant of that type). */
			dits_variant v;
			int vr = db ? dits_variant_pick(db, &e->id, variant_type, profile, &v) : DITS_ENOTFOUND;
			if (vr == DITS_ENOTFOUND && db)
				vr = dits_variant_get(db, &e->id, variant_type, &v);
			dits_error_clear();
			if (vr || strcmp(v.status, "ready") || !v.has_manifest) {
				char why[600];
				if (vr)
					snprintf(why, sizeof why, "no %s variant", variant_type);
				else
					snprintf(why, sizeof why, "its %s is %s%s%s", variant_type, v.status,
					         v.error ? ": " : "", v.error ? v.error : "");
				if (!vr)
					dits_variant_free(&v);
				report(fn, ctx, e->path, is_proxy ? DITS_MODE_ALREADY : DITS_MODE_KEPT_MASTER, why);
				if (!missing || is_proxy)
					continue;
				/* A deleted file comes back as its master. */
				s.to_proxy = false;
				s.target = e->id;
			} else {
				s.target = v.manifest;
				s.proxy_id = v.manifest;
				s.size = v.size;
				dits_variant_free(&v);
				if (is_proxy && dits_id_eq(&e->wt_id, &s.target) && !missing) {
					report(fn, ctx, e->path, DITS_MODE_ALREADY, NULL);
					continue;
				}
			}
		} else {
			if (!is_proxy && !missing) {
				report(fn, ctx, e->path, DITS_MODE_ALREADY, NULL);
				continue;
			}
			s.target = e->id;
		}
		total += s.size;
		plan[nplan++] = s;
	}

	/* No swap may write through a link: refused before anything changes. */
	dits_wt_fds f;
	if ((rc = dits_wt_fds_open(r, &f))) {
		dits_wt_fds_close(&f);
		goto out;
	}
	for (size_t i = 0; i < nplan && !rc; i++)
		rc = dits_wt_check(&f, plan[i].path);
	if (rc) {
		dits_wt_fds_close(&f);
		goto out;
	}

	/* 1. Intent: every file about to change accepts either content. */
	for (size_t i = 0; i < nplan; i++) {
		dits_index_entry *e = &idx.e[plan[i].entry];
		if (!(e->flags & DITS_INDEX_PROXY) && !plan[i].to_proxy)
			continue; /* a deleted master coming back: nothing ambiguous */
		e->flags |= DITS_INDEX_PROXY;
		e->wt_id = plan[i].proxy_id;
		e->mtime_s = 0; /* stat unknown: re-checked by content */
		e->mtime_ns = 0;
		e->wt_size = 0;
		idx.dirty = true;
	}
	if (nplan && (rc = dits_index_write(r, &idx))) {
		dits_wt_fds_close(&f);
		goto out;
	}

	/* 2. The swaps. */
	if (p && p->start)
		p->start(p->ctx, proxy ? "to proxy" : "to master", total, nplan);
	for (size_t i = 0; i < nplan && !rc; i++) {
		swap *s = &plan[i];
		dits_index_entry *e = &idx.e[s->entry];
		dits_manifest m;
		if ((rc = dits_manifest_read(r->odb, &s->target, &m))) {
			dits_error_wrap(rc, "%s", s->path);
			break;
		}
		char tmp[64];
		snprintf(tmp, sizeof tmp, "mode-%ld-%zu", (long)getpid(), i);
		int dfd = -1, old_fd = -1;
		const char *name = NULL;
		struct stat st;
		rc = dits_dircache_parent(&f.dir, s->path, true, &dfd, &name);
		if (!rc) {
			old_fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
			rc = dits_materialize_at(r->odb, &m, dfd, name, s->path, f.tmp, tmp,
			                         (e->mode & 0111) ? 0755 : 0644, &st, p ? p->advance : NULL,
			                         p ? p->ctx : NULL);
		}
		/* The replaced content is not needed in the page cache any more. */
		if (old_fd >= 0) {
			posix_fadvise(old_fd, 0, 0, POSIX_FADV_DONTNEED);
			close(old_fd);
		}
		if (!rc) {
			if (s->to_proxy) {
				dits_index_entry_set_proxy_stat(e, &st, &s->target);
			} else {
				dits_index_entry_set_stat(e, &st);
				e->flags &= ~DITS_INDEX_PROXY;
				memset(&e->wt_id, 0, sizeof e->wt_id);
				e->wt_size = 0;
			}
			idx.dirty = true;
			report(fn, ctx, s->path, DITS_MODE_SWAPPED, NULL);
		}
		if (p && p->file_done)
			p->file_done(p->ctx);
		dits_manifest_free(&m);
	}
	dits_wt_fds_close(&f);
	if (p && p->finish)
		p->finish(p->ctx);
	/* 3. Final modes and stat data (also after a failure: what was done stands). */
	if (nplan) {
		int wrc = dits_fsync_dir(r->workdir);
		if (!wrc)
			wrc = dits_index_write(r, &idx);
		if (!rc)
			rc = wrc;
	}
out:
	if (db)
		dits_metadb_close(db);
	for (size_t i = 0; rels && i < n; i++)
		free(rels[i]);
	free(rels);
	free(state);
	free(selected);
	free(plan);
	dits_index_free(&idx);
	return rc;
}
