/*
 * checkout: switching the worktree to another commit, and restoring paths.
 *
 * Every conflict is found before the first file is touched, so a refused
 * checkout changes nothing. Each file is staged in .dits/tmp, fsynced and
 * renamed over its target (dits_materialize_at), so a reader never sees a
 * half-written file; the index and HEAD move last.
 *
 * No write follows a symbolic link out of the worktree: directories are
 * opened from the worktree root component by component without following
 * links, and files are created, renamed and removed relative to them. A
 * path whose leading directory is a symbolic link is refused before the
 * first change ("DIR: is a symbolic link"); a link where a file goes is
 * replaced itself (renameat), its target is never written.
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
#include "refs.h"
#include "repo_internal.h"
#include "worktree.h"

static void co_advance(void *ctx, uint64_t delta)
{
	const dits_progress *p = ctx;
	if (p && p->advance)
		p->advance(p->ctx, delta);
}

int dits_wt_fds_open(dits_repo *r, dits_wt_fds *f)
{
	f->root = open(r->workdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (f->root < 0) {
		f->tmp = -1;
		dits_dircache_init(&f->dir, -1);
		return dits_error_errno("%s", r->workdir);
	}
	/* Staging in .dits/tmp keeps a killed checkout's leftovers out of the
	 * worktree; without it (or if it is a link) files are staged beside
	 * their targets. */
	char *tmp = dits_path_join(r->dir, "tmp");
	f->tmp = tmp ? open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW) : -1;
	free(tmp);
	dits_dircache_init(&f->dir, f->root);
	return 0;
}

void dits_wt_fds_close(dits_wt_fds *f)
{
	dits_dircache_close(&f->dir);
	if (f->tmp >= 0)
		close(f->tmp);
	if (f->root >= 0)
		close(f->root);
	f->tmp = f->root = -1;
}

int dits_wt_check(dits_wt_fds *f, const char *rel)
{
	return dits_check_beneath(f->root, rel);
}

int dits_wt_unlink(dits_wt_fds *f, const char *rel)
{
	int dfd;
	const char *name;
	int rc = dits_dircache_parent(&f->dir, rel, false, &dfd, &name);
	if (rc == DITS_ENOTFOUND) { /* its directory is gone: so is the file */
		dits_error_clear();
		return 0;
	}
	if (rc)
		return rc;
	if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
		return dits_error_errno("%s: cannot remove", rel);
	return 0;
}

/*
 * Writes one file from its manifest and updates its index entry. With proxy
 * set, the proxy's bytes go to the master's path and the entry keeps the
 * master's id and size in proxy mode (invariant 4).
 */
static int materialize_file(dits_repo *r, dits_wt_fds *f, dits_index *idx, const char *path, uint32_t mode,
                            const dits_id *id, uint64_t size, const dits_id *proxy, const dits_progress *p)
{
	dits_manifest m;
	int rc = dits_manifest_read(r->odb, proxy ? proxy : id, &m);
	if (rc)
		return dits_error_wrap(rc, "%s", path);
	struct stat st;
	int dfd = -1;
	const char *name = NULL;
	rc = dits_dircache_parent(&f->dir, path, true, &dfd, &name);
	if (!rc) {
		/* A directory where the file goes (left over from another tree). */
		struct stat cur;
		if (fstatat(dfd, name, &cur, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(cur.st_mode) &&
		    unlinkat(dfd, name, AT_REMOVEDIR) < 0)
			rc = dits_error_errno("%s: a directory is in the way", path);
	}
	/* Staged inside .dits/tmp, so a killed checkout leaves nothing in the
	 * worktree; the lock holder of the next command removes it. */
	static unsigned seq;
	char tmp[64];
	snprintf(tmp, sizeof tmp, "co-%ld-%u", (long)getpid(), seq++);
	if (!rc)
		rc = dits_materialize_at(r->odb, &m, dfd, name, path, f->tmp, tmp, (mode & 0111) ? 0755 : 0644, &st,
		                         co_advance, (void *)p);
	if (!rc && proxy) {
		rc = dits_index_set_nostat(idx, path, mode, size, id);
		if (!rc)
			dits_index_entry_set_proxy_stat(dits_index_find(idx, path), &st, proxy);
	} else if (!rc) {
		rc = dits_index_set(idx, path, &st, id);
	}
	if (p && p->file_done)
		p->file_done(p->ctx);
	dits_manifest_free(&m);
	return rc;
}

/*
 * The ready variant of type for asset when all of its bytes are here (a
 * partial clone has the proxies but not every master).
 */
static bool local_variant(dits_repo *r, dits_metadb *db, const dits_id *asset, const char *type, dits_id *out)
{
	char ctype[DITS_VARIANT_NAME_MAX], profile[DITS_VARIANT_NAME_MAX];
	dits_variant_configured(r, ctype, profile);
	dits_variant v;
	if (dits_variant_pick(db, asset, type, profile, &v)) {
		dits_error_clear();
		return false;
	}
	bool ok = v.has_manifest;
	if (ok)
		*out = v.manifest;
	dits_variant_free(&v);
	dits_manifest m;
	if (!ok || dits_manifest_read(r->odb, out, &m)) {
		dits_error_clear();
		return false;
	}
	for (uint64_t i = 0; i < m.nchunks && ok; i++)
		ok = dits_odb_exists(r->odb, &m.chunks[i].id);
	dits_manifest_free(&m);
	return ok;
}

/* True when the worktree file at path already holds exactly t's content
 * (a previous, interrupted checkout got that far). */
static bool already_target(dits_repo *r, const char *path, const dits_flat_entry *t)
{
	if (!t)
		return false;
	char *abs = dits_path_join(r->workdir, path);
	int fd = abs ? open(abs, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) : -1;
	free(abs);
	if (fd < 0)
		return false;
	struct stat st;
	bool same = false;
	dits_manifest m;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size == t->size &&
	    dits_ingest_fd(NULL, &r->chunker, fd, path, &m, NULL, NULL, NULL) == 0) {
		dits_id id;
		dits_manifest_id(&m, &id);
		same = dits_id_eq(&id, &t->id) && (dits_mode_from_stat(&st) == t->mode);
		dits_manifest_free(&m);
	}
	close(fd);
	dits_error_clear();
	return same;
}

static bool same_entry(const dits_flat_entry *a, const dits_flat_entry *b)
{
	return a && b && dits_id_eq(&a->id, &b->id) && a->mode == b->mode;
}

int dits_checkout_commit(dits_repo *r, const dits_id *commit, const char *branch_ref,
                         const dits_progress *p)
{
	return dits_checkout_commit_opts(r, commit, branch_ref, p, NULL);
}

int dits_checkout_commit_opts(dits_repo *r, const dits_id *commit, const char *branch_ref,
                              const dits_progress *p, const dits_checkout_opts *o)
{
	int rc = dits_repo_lock(r);
	if (rc)
		return rc;
	dits_metadb *db = NULL;
	if (o && o->proxy_variant) {
		if ((rc = dits_metadb_open_repo_if_exists(&db, r)))
			return rc;
	}
	dits_flat head = { 0 }, target = { 0 };
	dits_index idx;
	bool idx_loaded = false, has_head = false;
	dits_id head_id;
	char *state = NULL;
	bool *need = NULL;
	dits_wt_fds f;
	if ((rc = dits_wt_fds_open(r, &f)))
		goto out;
	if ((rc = dits_flat_from_head(r, &head, &has_head, &head_id)))
		goto out;
	if ((rc = dits_flat_from_commit(r, commit, &target)))
		goto out;
	if ((rc = dits_index_load(r, &idx)))
		goto out;
	idx_loaded = true;

	/* Local changes: staged (index != HEAD) or in the worktree. */
	for (size_t k = 0; k < idx.n && !rc; k++) {
		const dits_index_entry *e = &idx.e[k];
		const dits_flat_entry *h = dits_flat_find(&head, e->path);
		const dits_flat_entry *t = dits_flat_find(&target, e->path);
		bool staged = !h || !dits_id_eq(&h->id, &e->id) || h->mode != e->mode;
		bool changes_here = !same_entry(h, t);
		if (staged && changes_here && !(t && dits_id_eq(&t->id, &e->id)))
			rc = dits_error_set(DITS_ECONFLICT,
			                    "%s: your staged changes would be overwritten by checkout; commit them first",
			                    e->path);
	}
	for (size_t i = 0; i < head.n && !rc; i++)
		if (!dits_index_find(&idx, head.e[i].path) && !same_entry(&head.e[i], dits_flat_find(&target, head.e[i].path)) &&
		    dits_flat_find(&target, head.e[i].path))
			rc = dits_error_set(DITS_ECONFLICT,
			                    "%s: its staged removal would be lost by checkout; commit it first",
			                    head.e[i].path);
	if (rc)
		goto out;
	/* Worktree modifications of files the checkout would change. */
	{
		state = calloc(idx.n ? idx.n : 1, 1);
		dits_status_list untracked = { 0 };
		if (!state) {
			rc = dits_error_set(DITS_ENOMEM, "out of memory");
			goto out;
		}
		rc = dits_worktree_state(r, &idx, state, &untracked);
		for (size_t k = 0; k < idx.n && !rc; k++) {
			if (!state[k])
				continue;
			const dits_flat_entry *h = dits_flat_find(&head, idx.e[k].path);
			const dits_flat_entry *t = dits_flat_find(&target, idx.e[k].path);
			if (!same_entry(h, t) && !(state[k] == 'D' && !t) &&
			    !(state[k] == 'M' && already_target(r, idx.e[k].path, t)))
				rc = dits_error_set(DITS_ECONFLICT,
				                    "%s: your local changes would be overwritten by checkout; commit them first",
				                    idx.e[k].path);
		}
		for (size_t u = 0; u < untracked.n && !rc; u++)
			if (dits_flat_find(&target, untracked.v[u].path) &&
			    !already_target(r, untracked.v[u].path, dits_flat_find(&target, untracked.v[u].path)))
				rc = dits_error_set(DITS_ECONFLICT,
				                    "%s: an untracked file would be overwritten by checkout; move it first",
				                    untracked.v[u].path);
		for (size_t u = 0; u < untracked.n; u++)
			free(untracked.v[u].path);
		free(untracked.v);
	}
	if (rc)
		goto out;

	/* Plan: files to write and bytes to move. */
	uint64_t total = 0, nfiles = 0;
	need = calloc(target.n ? target.n : 1, sizeof *need);
	if (!need) {
		rc = dits_error_set(DITS_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < target.n; i++) {
		const dits_flat_entry *h = dits_flat_find(&head, target.e[i].path);
		dits_index_entry *e = dits_index_find(&idx, target.e[i].path);
		bool missing = false;
		if (e) {
			size_t k = (size_t)(e - idx.e);
			missing = state[k] == 'D';
		}
		if (!same_entry(h, &target.e[i]) || !e || missing) {
			need[i] = true;
			total += target.e[i].size;
			nfiles++;
		}
	}
	/* No path written or removed may go through a symbolic link: refused
	 * here, before the first change. */
	for (size_t i = 0; i < head.n && !rc; i++)
		if (!dits_flat_find(&target, head.e[i].path))
			rc = dits_wt_check(&f, head.e[i].path);
	for (size_t i = 0; i < target.n && !rc; i++)
		if (need[i])
			rc = dits_wt_check(&f, target.e[i].path);
	if (rc)
		goto out;
	/* Removals first: a file may be in the way of a directory. */
	for (size_t i = 0; i < head.n; i++) {
		if (dits_flat_find(&target, head.e[i].path))
			continue;
		if ((rc = dits_wt_unlink(&f, head.e[i].path)))
			goto out;
		dits_index_remove(&idx, head.e[i].path);
	}
	/* A directory just emptied may be the cached one: reopen from the root. */
	dits_dircache_close(&f.dir);
	if (p && p->start)
		p->start(p->ctx, "checkout", total, nfiles);
	for (size_t i = 0; i < target.n && !rc; i++) {
		const dits_flat_entry *t = &target.e[i];
		if (!need[i])
			continue;
		dits_id proxy;
		bool use_proxy = db && local_variant(r, db, &t->id, o->proxy_variant, &proxy);
		rc = materialize_file(r, &f, &idx, t->path, t->mode, &t->id, t->size, use_proxy ? &proxy : NULL, p);
		if (!rc && o && o->report)
			o->report(o->ctx, t->path, use_proxy ? DITS_MODE_SWAPPED : DITS_MODE_KEPT_MASTER, NULL);
	}
	if (p && p->finish)
		p->finish(p->ctx);
	dits_dircache_close(&f.dir);
	if (rc)
		goto out;
	for (size_t i = 0; i < head.n; i++)
		if (!dits_flat_find(&target, head.e[i].path))
			dits_prune_empty_dirs(r, head.e[i].path);
	if ((rc = dits_fsync_dir(r->workdir)))
		goto out;
	if ((rc = dits_index_write(r, &idx)))
		goto out;
	char hex[DITS_ID_HEXLEN + 1];
	dits_id_hex(hex, commit);
	char *msg = dits_strfmt("checkout: moving to %s", branch_ref ? branch_ref : hex);
	if (branch_ref)
		rc = dits_head_set_branch(r, branch_ref);
	else
		rc = dits_head_set_detached(r, commit, msg ? msg : "checkout");
	free(msg);
out:
	dits_wt_fds_close(&f);
	if (db)
		dits_metadb_close(db);
	free(state);
	free(need);
	if (idx_loaded)
		dits_index_free(&idx);
	dits_flat_free(&head);
	dits_flat_free(&target);
	return rc;
}


int dits_checkout_paths(dits_repo *r, const dits_id *commit, const char *const *paths, size_t n,
                        const dits_progress *p)
{
	int rc = dits_repo_lock(r);
	if (rc)
		return rc;
	dits_flat src = { 0 };
	dits_index idx;
	if ((rc = dits_index_load(r, &idx)))
		return rc;
	if (commit) {
		rc = dits_flat_from_commit(r, commit, &src);
	} else {
		for (size_t k = 0; k < idx.n && !rc; k++) {
			char *pth = strdup(idx.e[k].path);
			rc = pth ? 0 : dits_error_set(DITS_ENOMEM, "out of memory");
			if (!rc) {
				if (src.n == src.cap) {
					size_t cap = src.cap ? src.cap * 2 : 64;
					dits_flat_entry *ne = realloc(src.e, cap * sizeof *ne);
					if (!ne) {
						free(pth);
						rc = dits_error_set(DITS_ENOMEM, "out of memory");
						break;
					}
					src.e = ne;
					src.cap = cap;
				}
				src.e[src.n++] = (dits_flat_entry){ pth, idx.e[k].mode, idx.e[k].size, idx.e[k].id };
			}
		}
	}
	char **rels = calloc(n ? n : 1, sizeof *rels);
	if (!rels && !rc)
		rc = dits_error_set(DITS_ENOMEM, "out of memory");
	for (size_t i = 0; i < n && !rc; i++) {
		rc = dits_repo_relpath(r, paths[i], &rels[i]);
		bool any = false;
		for (size_t k = 0; !rc && k < src.n && !any; k++)
			any = dits_path_is_under(src.e[k].path, rels[i]);
		if (!rc && !any)
			rc = dits_error_set(DITS_ENOTFOUND, "%s: did not match any file %s", paths[i],
			                    commit ? "in that revision" : "known to dits");
	}
	uint64_t total = 0, nfiles = 0;
	for (size_t k = 0; !rc && k < src.n; k++)
		for (size_t i = 0; i < n; i++)
			if (dits_path_is_under(src.e[k].path, rels[i])) {
				total += src.e[k].size;
				nfiles++;
				break;
			}
	dits_wt_fds f;
	if (!rc)
		rc = dits_wt_fds_open(r, &f);
	else
		f = (dits_wt_fds){ -1, -1, { -1, NULL, -1 } };
	/* Every path is checked for links before the first is written. */
	for (size_t k = 0; !rc && k < src.n; k++)
		for (size_t i = 0; i < n; i++)
			if (dits_path_is_under(src.e[k].path, rels[i])) {
				rc = dits_wt_check(&f, src.e[k].path);
				break;
			}
	if (!rc && p && p->start)
		p->start(p->ctx, "checkout", total, nfiles);
	for (size_t k = 0; !rc && k < src.n; k++)
		for (size_t i = 0; i < n; i++)
			if (dits_path_is_under(src.e[k].path, rels[i])) {
				rc = materialize_file(r, &f, &idx, src.e[k].path, src.e[k].mode, &src.e[k].id, 0, NULL, p);
				break;
			}
	dits_wt_fds_close(&f);
	if (p && p->finish)
		p->finish(p->ctx);
	if (!rc)
		rc = dits_fsync_dir(r->workdir);
	if (!rc)
		rc = dits_index_write(r, &idx);
	for (size_t i = 0; rels && i < n; i++)
		free(rels[i]);
	free(rels);
	dits_flat_free(&src);
	dits_index_free(&idx);
	return rc;
}
