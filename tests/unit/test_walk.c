/*
 * The object graph walk that push, fetch and the server share: what a
 * commit brings with it, each object once, minus what the other side has.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diff.h"
#include "error.h"
#include "hash.h"
#include "idset.h"
#include "maint.h"
#include "object.h"
#include "odb.h"
#include "odb_pack.h"
#include "refs.h"
#include "repo.h"
#include "walk.h"
#include "worktree.h"

#include "check.h"
#include "util.h"

static dits_odb *db;
static dits_repo *repo;

typedef struct seen {
	dits_idset ids;
	size_t n[6];     /* per type */
	size_t dups;
	uint64_t chunk_bytes;
} seen;

static int collect(void *ctx, uint8_t type, const dits_id *id, uint32_t len)
{
	seen *s = ctx;
	if (dits_idset_add(&s->ids, id) == 0)
		s->dups++;
	if (type < 6)
		s->n[type]++;
	s->chunk_bytes += len;
	return 0;
}

static void put_chunk(dits_pack_writer *w, const char *text, dits_id *id)
{
	REQUIRE(dits_pack_writer_put_object(w, DITS_OBJ_CHUNK, text, strlen(text), id) == 0);
}

static void put_manifest(dits_pack_writer *w, const dits_id *chunks, const char *const *texts, size_t n,
                         dits_id *out)
{
	dits_manifest m;
	dits_manifest_init(&m);
	dits_hasher h;
	dits_hasher_init(&h);
	for (size_t i = 0; i < n; i++) {
		REQUIRE(dits_manifest_push(&m, &chunks[i], (uint32_t)strlen(texts[i])) == 0);
		m.size += strlen(texts[i]);
		dits_hasher_update(&h, texts[i], strlen(texts[i]));
	}
	dits_hasher_final(&h, &m.content);
	REQUIRE(dits_manifest_write(w, &m, out) == 0);
	dits_manifest_free(&m);
}

static void put_tree(dits_pack_writer *w, dits_tree *t, dits_id *out)
{
	dits_buf b = DITS_BUF_INIT;
	REQUIRE(dits_tree_serialize(t, &b) == 0);
	REQUIRE(dits_pack_writer_put_object(w, DITS_OBJ_TREE, b.data, b.len, out) == 0);
	dits_buf_free(&b);
	dits_tree_free(t);
}

static void put_commit(dits_pack_writer *w, const dits_id *tree, const dits_id *parent, dits_id *out)
{
	dits_commit c = { 0 };
	c.tree = *tree;
	c.parents = (dits_id *)parent;
	c.nparents = parent ? 1 : 0;
	c.author = c.committer = (dits_signature){ (char *)"A", (char *)"a@example.com", 1700000000, 0 };
	c.message = (char *)"m\n";
	dits_buf b = DITS_BUF_INIT;
	REQUIRE(dits_commit_serialize(&c, &b) == 0);
	REQUIRE(dits_pack_writer_put_object(w, DITS_OBJ_COMMIT, b.data, b.len, out) == 0);
	dits_buf_free(&b);
}

/*
 * A commit whose tree nests n trees: "d/d/.../d/f" with n - 1 "d"s. *inner
 * gets the innermost tree (at depth n - 1).
 */
static void put_chain(dits_pack_writer *w, size_t n, const dits_id *manifest, uint64_t size, dits_id *commit,
                      dits_id *inner)
{
	dits_tree t;
	dits_id id;
	dits_tree_init(&t);
	REQUIRE(dits_tree_add(&t, "f", DITS_KIND_FILE, 0100644, size, manifest) == 0);
	put_tree(w, &t, &id);
	if (inner)
		*inner = id;
	for (size_t i = 1; i < n; i++) {
		dits_tree_init(&t);
		REQUIRE(dits_tree_add(&t, "d", DITS_KIND_TREE, 040000, 0, &id) == 0);
		put_tree(w, &t, &id);
	}
	put_commit(w, &id, NULL, commit);
}

/* Keeps the last problem fsck reports. */
static void report_problem(void *ctx, const char *msg)
{
	char **last = ctx;
	free(*last);
	*last = strdup(msg);
}

/*
 * Trees nested DITS_TREE_DEPTH_MAX levels are fine; one more, or 50 000
 * more, is an error naming the tree in every walk, never a crash.
 */
static void test_deep(const dits_id *manifest, uint64_t size)
{
	dits_pack_writer *w;
	REQUIRE(dits_pack_writer_new(&w, db) == 0);
	dits_id ok, over, deep, inner_over;
	put_chain(w, DITS_TREE_DEPTH_MAX, manifest, size, &ok, NULL);
	put_chain(w, DITS_TREE_DEPTH_MAX + 1, manifest, size, &over, &inner_over);
	put_chain(w, 50000, manifest, size, &deep, NULL);
	REQUIRE(dits_pack_writer_finish(w) == 0);
	dits_pack_writer_free(w);
	char hex[DITS_ID_HEXLEN + 1], depth_msg[64];
	dits_id_hex(hex, &inner_over);
	snprintf(depth_msg, sizeof depth_msg, "deeper than %d levels", DITS_TREE_DEPTH_MAX);

	/* dits_walk (push, fetch, the server's checks). */
	seen s = { 0 };
	CHECK_RC(dits_walk(db, &ok, 1, NULL, 0, DITS_WALK_CHUNKS, collect, &s), 0);
	CHECK_EQ_U64(s.n[DITS_OBJ_TREE], DITS_TREE_DEPTH_MAX);
	dits_idset_free(&s.ids);
	CHECK_RC(dits_walk(db, &over, 1, NULL, 0, 0, NULL, NULL), DITS_ECORRUPT);
	CHECK(strstr(dits_error_last(), hex) && strstr(dits_error_last(), depth_msg));
	CHECK_RC(dits_walk(db, &deep, 1, NULL, 0, DITS_WALK_CHUNKS, NULL, NULL), DITS_ECORRUPT);
	CHECK(strstr(dits_error_last(), depth_msg) != NULL);
	dits_commit c;
	REQUIRE(dits_commit_read(db, &deep, &c) == 0);
	CHECK_RC(dits_walk(db, &c.tree, 1, NULL, 0, 0, NULL, NULL), DITS_ECORRUPT);
	/* over's root holds ok's root: met again, or held by the other side, ok's trees are not
	 * walked again, yet one level deeper they are refused all the same. */
	CHECK_RC(dits_walk(db, (dits_id[]){ ok, over }, 2, NULL, 0, 0, NULL, NULL), DITS_ECORRUPT);
	CHECK(strstr(dits_error_last(), depth_msg) != NULL);
	CHECK_RC(dits_walk(db, &over, 1, &ok, 1, 0, NULL, NULL), DITS_ECORRUPT);
	CHECK(strstr(dits_error_last(), depth_msg) != NULL);
	memset(&s, 0, sizeof s);
	CHECK_RC(dits_walk(db, &ok, 1, &over, 1, 0, collect, &s), 0); /* the other side has it all */
	CHECK_EQ_U64(s.n[DITS_OBJ_TREE], 0);
	dits_idset_free(&s.ids);
	/* Marking what the other side has stops at the limit too; the deep part is walked (and refused). */
	memset(&s, 0, sizeof s);
	CHECK_RC(dits_walk(db, &ok, 1, &deep, 1, 0, collect, &s), 0);
	CHECK_EQ_U64(s.n[DITS_OBJ_COMMIT], 1);
	dits_idset_free(&s.ids);
	CHECK_RC(dits_walk(db, &deep, 1, &deep, 1, 0, NULL, NULL), 0);

	/* Flattening (checkout, diff, status, the mount). */
	dits_flat f;
	CHECK_RC(dits_flat_from_commit(repo, &ok, &f), 0);
	CHECK_EQ_U64(f.n, 1);
	if (f.n == 1) {
		size_t slashes = 0;
		for (const char *p = f.e[0].path; *p; p++)
			slashes += *p == '/';
		CHECK_EQ_U64(slashes + 1, DITS_TREE_DEPTH_MAX);
	}
	dits_flat_free(&f);
	CHECK_RC(dits_flat_from_commit(repo, &over, &f), DITS_ECORRUPT);
	CHECK(strstr(dits_error_last(), hex) && strstr(dits_error_last(), depth_msg));
	CHECK_RC(dits_flat_from_commit(repo, &deep, &f), DITS_ECORRUPT);
	CHECK_RC(dits_flat_from_tree(repo, &c.tree, &f), DITS_ECORRUPT);
	CHECK(strstr(dits_error_last(), depth_msg) != NULL);
	dits_commit_free(&c);
	dits_diff d;
	CHECK_RC(dits_diff_compute(repo, &ok, &deep, &d), DITS_ECORRUPT);
	CHECK(strstr(dits_error_last(), depth_msg) != NULL);
	CHECK_RC(dits_diff_compute(repo, &deep, &ok, &d), DITS_ECORRUPT);

	/* fsck and gc: the 256 levels are clean; the deep chain is a problem naming the tree, and gc stops. */
	char *last = NULL;
	CHECK_RC(dits_ref_update(repo, "refs/heads/main", &ok, NULL, "test"), 0);
	CHECK_EQ_U64(dits_fsck(repo, report_problem, NULL, &last), 0);
	CHECK_RC(dits_ref_update(repo, "refs/heads/main", &over, NULL, "test"), 0);
	long np = dits_fsck(repo, report_problem, NULL, &last);
	if (np != 1)
		fprintf(stderr, "  fsck: %ld problems, the last: %s\n", np, last ? last : "none");
	CHECK(np == 1);
	CHECK(last && strstr(last, hex) && strstr(last, depth_msg));
	CHECK_RC(dits_ref_update(repo, "refs/heads/main", &deep, NULL, "test"), 0);
	CHECK_RC(dits_ref_update(repo, "refs/heads/over", &over, NULL, "test"), 0);
	CHECK(dits_fsck(repo, report_problem, NULL, &last) == 2);
	CHECK(last && strstr(last, depth_msg));
	size_t packs = dits_odb_pack_count(db);
	dits_gc_result gr;
	CHECK_RC(dits_gc(repo, "now", &gr), DITS_ECORRUPT);
	CHECK_EQ_U64(dits_odb_pack_count(db), packs);
	dits_stats st;
	CHECK_RC(dits_stats_compute(repo, &st), DITS_ECORRUPT); /* HEAD's files cannot be listed */
	free(last);
	CHECK_RC(dits_ref_update(repo, "refs/heads/over", &ok, NULL, "test"), 0);
	CHECK_RC(dits_ref_update(repo, "refs/heads/main", &ok, NULL, "test"), 0);
	CHECK_EQ_U64(dits_fsck(repo, NULL, NULL, NULL), 0);
}

int main(void)
{
	char *dir = util_mkdtemp("walk");
	REQUIRE(dits_repo_init(&repo, dir, NULL) == 0);
	db = dits_repo_odb(repo);
	dits_pack_writer *w;
	REQUIRE(dits_pack_writer_new(&w, db) == 0);

	const char *texts[] = { "chunk one", "chunk two", "chunk three", "chunk four" };
	dits_id c[4];
	for (int i = 0; i < 4; i++)
		put_chunk(w, texts[i], &c[i]);
	dits_id m1, m2, m3;
	put_manifest(w, (dits_id[]){ c[0], c[1] }, (const char *[]){ texts[0], texts[1] }, 2, &m1);
	put_manifest(w, (dits_id[]){ c[1], c[2] }, (const char *[]){ texts[1], texts[2] }, 2, &m2);
	put_manifest(w, (dits_id[]){ c[3] }, (const char *[]){ texts[3] }, 1, &m3);

	dits_tree t;
	dits_id t1, t2, tsub, k1, k2;
	dits_tree_init(&t);
	dits_tree_add(&t, "a.mov", DITS_KIND_FILE, 0100644, 18, &m1);
	put_tree(w, &t, &t1);
	dits_tree_init(&t);
	dits_tree_add(&t, "c.edl", DITS_KIND_FILE, 0100644, 10, &m3);
	put_tree(w, &t, &tsub);
	dits_tree_init(&t);
	dits_tree_add(&t, "a.mov", DITS_KIND_FILE, 0100644, 18, &m1);
	dits_tree_add(&t, "b.mov", DITS_KIND_FILE, 0100644, 20, &m2);
	dits_tree_add(&t, "edit", DITS_KIND_TREE, 040000, 0, &tsub);
	put_tree(w, &t, &t2);
	put_commit(w, &t1, NULL, &k1);
	put_commit(w, &t2, &k1, &k2);
	REQUIRE(dits_pack_writer_finish(w) == 0);
	dits_pack_writer_free(w);

	/* Everything from the tip: 2 commits, 3 trees, 3 manifests, their chunk
	 * lists and the 4 distinct chunks, each once. */
	seen s = { 0 };
	CHECK_RC(dits_walk(db, &k2, 1, NULL, 0, DITS_WALK_CHUNKS, collect, &s), 0);
	CHECK_EQ_U64(s.n[DITS_OBJ_COMMIT], 2);
	CHECK_EQ_U64(s.n[DITS_OBJ_TREE], 3);
	CHECK_EQ_U64(s.n[DITS_OBJ_MANIFEST], 3);
	CHECK(s.n[DITS_OBJ_CHUNKLIST] >= 3);
	CHECK_EQ_U64(s.n[DITS_OBJ_CHUNK], 4);
	CHECK_EQ_U64(s.dups, 0);
	CHECK_EQ_U64(s.chunk_bytes, strlen(texts[0]) + strlen(texts[1]) + strlen(texts[2]) + strlen(texts[3]));
	CHECK(dits_idset_has(&s.ids, &k1) && dits_idset_has(&s.ids, &m3) && dits_idset_has(&s.ids, &c[3]));
	dits_idset_free(&s.ids);

	/* Without chunks: metadata only. */
	memset(&s, 0, sizeof s);
	CHECK_RC(dits_walk(db, &k2, 1, NULL, 0, 0, collect, &s), 0);
	CHECK_EQ_U64(s.n[DITS_OBJ_CHUNK], 0);
	CHECK_EQ_U64(s.n[DITS_OBJ_MANIFEST], 3);
	dits_idset_free(&s.ids);

	/* The other side has k1: neither k1, its tree nor a.mov's manifest. */
	memset(&s, 0, sizeof s);
	CHECK_RC(dits_walk(db, &k2, 1, &k1, 1, DITS_WALK_CHUNKS, collect, &s), 0);
	CHECK_EQ_U64(s.n[DITS_OBJ_COMMIT], 1);
	CHECK(!dits_idset_has(&s.ids, &k1) && !dits_idset_has(&s.ids, &t1) && !dits_idset_has(&s.ids, &m1));
	CHECK(dits_idset_has(&s.ids, &m2) && dits_idset_has(&s.ids, &m3) && dits_idset_has(&s.ids, &tsub));
	CHECK(!dits_idset_has(&s.ids, &c[0]) && dits_idset_has(&s.ids, &c[2]));
	dits_idset_free(&s.ids);

	/* Wanting what the other side has lists nothing. */
	memset(&s, 0, sizeof s);
	CHECK_RC(dits_walk(db, &k1, 1, &k2, 1, DITS_WALK_CHUNKS, collect, &s), 0);
	CHECK_EQ_U64(s.ids.n, 0);
	dits_idset_free(&s.ids);

	/* A manifest alone: its chunk lists and chunks. */
	memset(&s, 0, sizeof s);
	CHECK_RC(dits_walk(db, &m2, 1, NULL, 0, DITS_WALK_CHUNKS, collect, &s), 0);
	CHECK_EQ_U64(s.n[DITS_OBJ_MANIFEST], 1);
	CHECK_EQ_U64(s.n[DITS_OBJ_CHUNK], 2);
	dits_idset_free(&s.ids);

	/* Unknown haves are ignored; an unknown want is an error naming it;
	 * a chunk is not something to walk from. */
	dits_id unknown;
	dits_hash_buf(&unknown, "nothing", 7);
	memset(&s, 0, sizeof s);
	CHECK_RC(dits_walk(db, &k2, 1, &unknown, 1, 0, collect, &s), 0);
	CHECK_EQ_U64(s.n[DITS_OBJ_COMMIT], 2);
	dits_idset_free(&s.ids);
	CHECK_RC(dits_walk(db, &unknown, 1, NULL, 0, 0, NULL, NULL), DITS_ENOTFOUND);
	char hex[DITS_ID_HEXLEN + 1];
	dits_id_hex(hex, &unknown);
	CHECK(strstr(dits_error_last(), hex) != NULL);
	CHECK_RC(dits_walk(db, &c[0], 1, NULL, 0, 0, NULL, NULL), DITS_EINVALID);

	/* Fast-forward checks: k1 is an ancestor of k2, not the other way round. */
	bool yes = false;
	CHECK_RC(dits_is_ancestor(db, &k1, &k2, &yes), 0);
	CHECK(yes);
	CHECK_RC(dits_is_ancestor(db, &k2, &k1, &yes), 0);
	CHECK(!yes);
	CHECK_RC(dits_is_ancestor(db, &k2, &k2, &yes), 0);
	CHECK(yes);
	CHECK_RC(dits_is_ancestor(db, &k1, &unknown, &yes), DITS_ENOTFOUND);

	test_deep(&m1, strlen(texts[0]) + strlen(texts[1]));

	dits_repo_free(repo);
	util_rm_rf(dir);
	free(dir);
	return check_done();
}
