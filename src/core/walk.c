/*
 * walk.c - the object graph walk (walk.h).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "idset.h"
#include "object.h"
#include "walk.h"

typedef struct walk {
	dits_odb *db;
	unsigned flags;
	dits_idset skip;  /* what the other side has */
	dits_idset seen;  /* listed already */
	/* The height of each tree walked or marked (the longest chain of
	 * trees below it, 0 for a tree of files only), so that a tree met
	 * again, or one the other side has, is checked against the depth
	 * limit at the depth it is met now without being walked again. */
	dits_idset height;
	dits_walk_fn fn;
	void *ctx;
} walk;

static int missing(const dits_id *id, const char *what)
{
	char hex[DITS_ID_HEXLEN + 1];
	dits_id_hex(hex, id);
	return dits_error_set(DITS_ENOTFOUND, "%s %s is missing", what, hex);
}

/* A stack of commit ids still to visit. */
typedef struct idstack {
	dits_id *v;
	size_t n, cap;
} idstack;

static int idstack_push(idstack *s, const dits_id *id)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 64;
		dits_id *nv = realloc(s->v, cap * sizeof *nv);
		if (!nv)
			return dits_error_set(DITS_ENOMEM, "out of memory");
		s->v = nv;
		s->cap = cap;
	}
	s->v[s->n++] = *id;
	return 0;
}

/*
 * Marks the trees and manifests of tree as held by the other side, and
 * notes each tree's height (*height: -1 when unknown). At
 * DITS_TREE_DEPTH_MAX the marking stops: what is not marked is only sent
 * (or refused by walk_tree) again.
 */
static int mark_tree(walk *w, const dits_id *id, int depth, int *height)
{
	*height = dits_idset_get(&w->height, id);
	if (*height >= 0)
		return 0;
	if (depth >= DITS_TREE_DEPTH_MAX)
		return 0;
	int added = dits_idset_add(&w->skip, id);
	if (added <= 0)
		return added;
	dits_tree t;
	if (dits_tree_read(w->db, id, &t)) {
		dits_error_clear();
		return 0;
	}
	int rc = 0, h = 0;
	for (size_t i = 0; i < t.n && !rc; i++) {
		int ch;
		if (t.e[i].kind != DITS_KIND_TREE) {
			if (dits_idset_add(&w->skip, &t.e[i].id) < 0)
				rc = DITS_ENOMEM;
		} else if (!(rc = mark_tree(w, &t.e[i].id, depth + 1, &ch))) {
			h = ch < 0 || h < 0 ? -1 : ch + 1 > h ? ch + 1 : h;
		}
	}
	dits_tree_free(&t);
	if (!rc && h >= 0 && (rc = dits_idset_put(&w->height, id, (uint16_t)h)) == 0)
		*height = h;
	return rc;
}

/* Marks have and its ancestors, and have's own tree. */
static int mark_have(walk *w, const dits_id *have)
{
	dits_commit c;
	if (dits_commit_read(w->db, have, &c)) {
		dits_error_clear();
		return 0; /* unknown to this store: ignored */
	}
	int h;
	int rc = mark_tree(w, &c.tree, 0, &h);
	dits_commit_free(&c);
	if (rc)
		return rc;
	idstack st = { 0 };
	rc = idstack_push(&st, have);
	while (st.n && !rc) {
		dits_id id = st.v[--st.n];
		int added = dits_idset_add(&w->skip, &id);
		if (added <= 0) {
			rc = added;
			continue;
		}
		if (dits_commit_read(w->db, &id, &c)) {
			dits_error_clear();
			continue;
		}
		for (size_t p = 0; p < c.nparents && !rc; p++)
			rc = idstack_push(&st, &c.parents[p]);
		dits_commit_free(&c);
	}
	free(st.v);
	return rc;
}

static int emit(walk *w, uint8_t type, const dits_id *id, uint32_t len)
{
	return w->fn ? w->fn(w->ctx, type, id, len) : 0;
}

static int walk_manifest(walk *w, const dits_id *id)
{
	if (dits_idset_has(&w->skip, id))
		return 0;
	int added = dits_idset_add(&w->seen, id);
	if (added <= 0)
		return added;
	dits_manifest_head h;
	int rc = dits_manifest_read_head(w->db, id, &h);
	if (rc)
		return rc == DITS_ENOTFOUND ? missing(id, "manifest") : rc;
	rc = emit(w, DITS_OBJ_MANIFEST, id, 0);
	for (uint32_t s = 0; s < h.nsegs && !rc; s++)
		if ((added = dits_idset_add(&w->seen, &h.segs[s])) > 0)
			rc = emit(w, DITS_OBJ_CHUNKLIST, &h.segs[s], 0);
		else if (added < 0)
			rc = added;
	dits_manifest_head_free(&h);
	if (rc || !(w->flags & DITS_WALK_CHUNKS))
		return rc;
	dits_manifest m;
	if ((rc = dits_manifest_read(w->db, id, &m)))
		return rc == DITS_ENOTFOUND ? missing(id, "chunk list of manifest") : rc;
	for (uint64_t i = 0; i < m.nchunks && !rc; i++)
		if ((added = dits_idset_add(&w->seen, &m.chunks[i].id)) > 0)
			rc = emit(w, DITS_OBJ_CHUNK, &m.chunks[i].id, m.chunks[i].len);
		else if (added < 0)
			rc = added;
	dits_manifest_free(&m);
	return rc;
}

/*
 * Walks tree, met at depth; *height gets its height. Recursion is bounded:
 * a tree at depth DITS_TREE_DEPTH_MAX is an error, and so is a tree met
 * again (or held by the other side) whose height would reach that depth
 * from here, so the limit holds on every path, not only the first.
 */
static int walk_tree(walk *w, const dits_id *id, int depth, int *height)
{
	*height = 0;
	if (depth >= DITS_TREE_DEPTH_MAX)
		return dits_tree_depth_error(id, NULL);
	int known = dits_idset_get(&w->height, id);
	if (known >= 0) {
		if (depth + known >= DITS_TREE_DEPTH_MAX)
			return dits_tree_depth_error(id, NULL);
		*height = known;
		return 0;
	}
	if (dits_idset_has(&w->skip, id))
		return 0;
	int added = dits_idset_add(&w->seen, id);
	if (added <= 0)
		return added;
	dits_tree t;
	int rc = dits_tree_read(w->db, id, &t);
	if (rc)
		return rc == DITS_ENOTFOUND ? missing(id, "tree") : rc;
	rc = emit(w, DITS_OBJ_TREE, id, 0);
	int h = 0;
	for (size_t i = 0; i < t.n && !rc; i++) {
		int ch;
		if (t.e[i].kind != DITS_KIND_TREE)
			rc = walk_manifest(w, &t.e[i].id);
		else if (!(rc = walk_tree(w, &t.e[i].id, depth + 1, &ch)) && ch + 1 > h)
			h = ch + 1;
	}
	dits_tree_free(&t);
	if (!rc && !(rc = dits_idset_put(&w->height, id, (uint16_t)h)))
		*height = h;
	return rc;
}

static int walk_commits(walk *w, const dits_id *start)
{
	idstack st = { 0 };
	int rc = idstack_push(&st, start);
	while (st.n && !rc) {
		dits_id id = st.v[--st.n];
		if (dits_idset_has(&w->skip, &id))
			continue;
		int added = dits_idset_add(&w->seen, &id);
		if (added <= 0) {
			rc = added;
			continue;
		}
		dits_commit c;
		if ((rc = dits_commit_read(w->db, &id, &c))) {
			if (rc == DITS_ENOTFOUND)
				rc = missing(&id, "commit");
			break;
		}
		rc = emit(w, DITS_OBJ_COMMIT, &id, 0);
		int h;
		if (!rc)
			rc = walk_tree(w, &c.tree, 0, &h);
		for (size_t p = 0; p < c.nparents && !rc; p++)
			rc = idstack_push(&st, &c.parents[p]);
		dits_commit_free(&c);
	}
	free(st.v);
	return rc;
}

int dits_walk(dits_odb *db, const dits_id *want, size_t nwant, const dits_id *have, size_t nhave,
              unsigned flags, dits_walk_fn fn, void *ctx)
{
	walk w = { .db = db, .flags = flags, .fn = fn, .ctx = ctx };
	int rc = 0;
	for (size_t i = 0; i < nhave && !rc; i++)
		rc = mark_have(&w, &have[i]);
	for (size_t i = 0; i < nwant && !rc; i++) {
		uint8_t type;
		if (dits_odb_read_header(db, &want[i], &type, NULL)) {
			rc = missing(&want[i], "object");
			break;
		}
		switch (type) {
		case DITS_OBJ_COMMIT: rc = walk_commits(&w, &want[i]); break;
		case DITS_OBJ_TREE: {
			int h;
			rc = walk_tree(&w, &want[i], 0, &h);
			break;
		}
		case DITS_OBJ_MANIFEST: rc = walk_manifest(&w, &want[i]); break;
		default: {
			char hex[DITS_ID_HEXLEN + 1];
			dits_id_hex(hex, &want[i]);
			rc = dits_error_set(DITS_EINVALID, "%s: a %s, not a commit, tree or manifest", hex,
			                    dits_otype_name(type));
		}
		}
	}
	dits_idset_free(&w.skip);
	dits_idset_free(&w.seen);
	dits_idset_free(&w.height);
	return rc;
}

int dits_is_ancestor(dits_odb *db, const dits_id *anc, const dits_id *commit, bool *yes)
{
	*yes = false;
	dits_idset seen = { 0 };
	idstack st = { 0 };
	int rc = idstack_push(&st, commit);
	while (!rc && st.n) {
		dits_id id = st.v[--st.n];
		if (dits_id_eq(&id, anc)) {
			*yes = true;
			break;
		}
		int added = dits_idset_add(&seen, &id);
		if (added <= 0) {
			rc = added;
			continue;
		}
		dits_commit c;
		if ((rc = dits_commit_read(db, &id, &c)))
			break;
		for (size_t p = 0; p < c.nparents && !rc; p++)
			rc = idstack_push(&st, &c.parents[p]);
		dits_commit_free(&c);
	}
	dits_idset_free(&seen);
	free(st.v);
	return rc;
}
