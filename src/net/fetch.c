/*
 * fetch.c - the batched fetches of a partial clone (fetch.h).
 */
#include "fetch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "hologram.h"
#include "idset.h"
#include "index.h"
#include "metadb.h"
#include "object.h"
#include "worktree.h"

void dits_fetch_opts_configured(dits_repo *r, dits_remote *rm, dits_fetch_opts *o)
{
	memset(o, 0, sizeof *o);
	char key[300];
	snprintf(key, sizeof key, "remote.%s.partial", dits_remote_name(rm));
	const char *v = dits_config_get(dits_repo_config(r), key);
	o->partial = v && !strcmp(v, "true");
	o->proxy_type = dits_hologram_configured_type(r);
}

static void ignore_file(void *ctx, const char *path, const char *why)
{
	(void)ctx;
	(void)path;
	(void)why;
}

int dits_fetch_configured(dits_repo *r, dits_remote *rm, uint64_t *chunks)
{
	dits_fetch_opts o;
	dits_fetch_opts_configured(r, rm, &o);
	o.fallback = ignore_file;
	o.pending = ignore_file;
	dits_fetch_result res = { 0 };
	int rc = dits_fetch(r, rm, &o, &res);
	if (!rc && chunks)
		*chunks = res.chunks;
	dits_fetch_result_free(&res);
	return rc;
}


/* ---- the batched fetch of masters ------------------------------------ */

/* True when every chunk of manifest is here. */
bool dits_contents_local(dits_repo *r, const dits_id *manifest)
{
	dits_manifest m;
	if (dits_manifest_read(dits_repo_odb(r), manifest, &m)) {
		dits_error_clear();
		return false;
	}
	bool ok = true;
	for (uint64_t i = 0; i < m.nchunks && ok; i++)
		ok = dits_odb_exists(dits_repo_odb(r), &m.chunks[i].id);
	dits_manifest_free(&m);
	return ok;
}

int dits_fetch_masters(dits_repo *r, const dits_id *ids, size_t n, const dits_fetch_report *rep)
{
	char *remote = NULL;
	if (!dits_repo_partial_remote(r, &remote))
		return 0;
	dits_id *need = calloc(n + 1, sizeof *need);
	size_t k = 0;
	dits_idset seen = { 0 };
	int rc = need ? 0 : dits_error_set(DITS_ENOMEM, "out of memory");
	for (size_t i = 0; i < n && !rc; i++) {
		int added = dits_idset_add(&seen, &ids[i]);
		if (added < 0)
			rc = added;
		else if (added && !dits_contents_local(r, &ids[i]))
			need[k++] = ids[i];
	}
	if (!rc && k) {
		dits_remote *rm = NULL;
		dits_xfer_opts o = { 0, 0, rep ? rep->progress : NULL };
		uint64_t got = 0;
		rc = dits_remote_open(&rm, r, remote);
		if (!rc)
			rc = dits_fetch_contents(r, rm, need, k, &o, &got);
		if (!rc && rep && rep->fetched)
			rep->fetched(rep->ctx, k, remote, got);
		else if (rc)
			dits_error_wrap(rc, "fetching masters from %s (partial clone)", remote);
		dits_remote_free(rm);
	}
	dits_idset_free(&seen);
	free(need);
	free(remote);
	return rc;
}

int dits_fetch_masters_of(dits_repo *r, const dits_id *ids, char **names, size_t n, const dits_fetch_report *rep)
{
	dits_id *need = calloc(n + 1, sizeof *need);
	const char *first = NULL;
	size_t k = 0;
	if (!need)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		if (dits_contents_local(r, &ids[i]))
			continue;
		if (!first)
			first = names[i];
		need[k++] = ids[i];
	}
	char more[48] = "";
	if (k > 1)
		snprintf(more, sizeof more, " (and %zu more)", k - 1);
	char *remote = NULL;
	int rc = 0;
	if (k && !dits_repo_partial_remote(r, &remote)) {
		rc = dits_error_set(DITS_ENOTFOUND, "%s%s: the master's chunks are not here and there is no remote "
		                    "to fetch them from", first, more);
	} else if (k && (rc = dits_fetch_masters(r, need, k, rep))) {
		char *why = strdup(dits_error_last());
		rc = dits_error_set(rc, "%s%s: the master's chunks are not here and could not be fetched: %s", first,
		                    more, why ? why : "out of memory");
		free(why);
	}
	free(remote);
	free(need);
	return rc;
}

int dits_fetch_for_commit(dits_repo *r, const dits_id *commit, const char *skip_variant,
                          const dits_fetch_report *rep)
{
	if (!dits_repo_partial_remote(r, NULL))
		return 0;
	dits_flat head = { 0 }, target = { 0 };
	bool has_head;
	dits_id head_id;
	dits_metadb *db = NULL;
	int rc = dits_flat_from_head(r, &head, &has_head, &head_id);
	if (!rc)
		rc = dits_flat_from_commit(r, commit, &target);
	if (!rc && skip_variant && dits_metadb_open_repo(&db, r))
		db = NULL;
	char ctype[DITS_VARIANT_NAME_MAX], profile[DITS_VARIANT_NAME_MAX];
	dits_variant_configured(r, ctype, profile);
	dits_id *ids = calloc(target.n + 1, sizeof *ids);
	size_t n = 0;
	if (!rc && !ids)
		rc = dits_error_set(DITS_ENOMEM, "out of memory");
	for (size_t i = 0; i < target.n && !rc; i++) {
		const dits_flat_entry *h = dits_flat_find(&head, target.e[i].path);
		if (h && dits_id_eq(&h->id, &target.e[i].id))
			continue;
		dits_variant v;
		if (db && dits_variant_pick(db, &target.e[i].id, skip_variant, profile, &v) == 0) {
			bool ready = v.has_manifest && dits_contents_local(r, &v.manifest);
			dits_variant_free(&v);
			if (ready)
				continue; /* its proxy will be written instead */
		}
		dits_error_clear();
		ids[n++] = target.e[i].id;
	}
	if (!rc)
		rc = dits_fetch_masters(r, ids, n, rep);
	if (db)
		dits_metadb_close(db);
	free(ids);
	dits_flat_free(&head);
	dits_flat_free(&target);
	return rc;
}

int dits_fetch_for_paths(dits_repo *r, const dits_id *commit, char **paths, int npaths, bool proxies_only,
                         const dits_fetch_report *rep)
{
	if (!dits_repo_partial_remote(r, NULL))
		return 0;
	dits_flat src = { 0 };
	dits_index idx;
	bool idx_loaded = false;
	int rc;
	if (commit) {
		rc = dits_flat_from_commit(r, commit, &src);
	} else {
		rc = dits_index_load(r, &idx);
		idx_loaded = !rc;
	}
	size_t total = commit ? src.n : (idx_loaded ? idx.n : 0);
	dits_id *ids = calloc(total + 1, sizeof *ids);
	char **rels = calloc((size_t)npaths + 1, sizeof *rels);
	size_t n = 0;
	if (!rc && (!ids || !rels))
		rc = dits_error_set(DITS_ENOMEM, "out of memory");
	for (int i = 0; i < npaths && !rc; i++)
		rc = dits_repo_relpath(r, paths[i], &rels[i]);
	for (size_t k = 0; k < total && !rc; k++) {
		const char *path = commit ? src.e[k].path : idx.e[k].path;
		bool want = npaths == 0;
		for (int i = 0; i < npaths && !want; i++)
			want = dits_path_is_under(path, rels[i]);
		/* A master already on disk needs nothing. */
		if (want && !commit && proxies_only && !(idx.e[k].flags & DITS_INDEX_PROXY))
			want = false;
		if (want)
			ids[n++] = commit ? src.e[k].id : idx.e[k].id;
	}
	if (!rc)
		rc = dits_fetch_masters(r, ids, n, rep);
	for (int i = 0; rels && i < npaths; i++)
		free(rels[i]);
	free(rels);
	free(ids);
	if (idx_loaded)
		dits_index_free(&idx);
	dits_flat_free(&src);
	return rc;
}
