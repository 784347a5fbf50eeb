/*
 * The staging index: set/find/remove against a model, write and reload, the
 * stat cache's racy-clean rule, and rejection of damaged index files.
 */
#include <sys/time.h>
#include <time.h>

#include "error.h"
#include "hash.h"
#include "index.h"
#include "repo.h"

#include "check.h"
#include "util.h"

#define NPATHS 3000

static dits_repo *repo;
static char *index_path;

typedef struct model {
	char path[64];
	bool present;
	bool with_stat;
	dits_id id;
	uint64_t size;
	uint32_t mode;
	int64_t mtime_s;
	uint32_t mtime_ns;
} model;

static model mdl[NPATHS];

static void fake_stat(struct stat *st, uint64_t i)
{
	memset(st, 0, sizeof *st);
	st->st_mode = S_IFREG | (i % 3 == 0 ? 0755 : 0644);
	st->st_size = (off_t)(i * 1013);
	st->st_mtim.tv_sec = (time_t)(1000000000 + i);
	st->st_mtim.tv_nsec = (long)(i * 7919 % 1000000000);
	st->st_ctim.tv_sec = (time_t)(1000000100 + i);
	st->st_ctim.tv_nsec = (long)(i * 31 % 1000000000);
	st->st_ino = (ino_t)(50000 + i);
	st->st_dev = 42;
}

static bool entry_matches(const dits_index_entry *e, const model *m)
{
	if (!e || strcmp(e->path, m->path) || !dits_id_eq(&e->id, &m->id) || e->size != m->size ||
	    e->mode != m->mode)
		return false;
	if (m->with_stat && (e->mtime_s != m->mtime_s || e->mtime_ns != m->mtime_ns))
		return false;
	return true;
}

static size_t check_model(dits_index *idx, const char *when)
{
	size_t bad = 0, present = 0;
	for (size_t i = 0; i < NPATHS; i++) {
		dits_index_entry *e = dits_index_find(idx, mdl[i].path);
		if (mdl[i].present) {
			present++;
			if (!entry_matches(e, &mdl[i])) {
				if (bad++ == 0)
					fprintf(stderr, "  %s: entry for %s is %s\n", when, mdl[i].path,
					        e ? "wrong" : "missing");
			}
		} else if (e) {
			if (bad++ == 0)
				fprintf(stderr, "  %s: removed entry %s is still found\n", when, mdl[i].path);
		}
	}
	if (idx->n != present) {
		fprintf(stderr, "  %s: index holds %zu entries, want %zu\n", when, idx->n, present);
		bad++;
	}
	return bad;
}

static void test_set_find_remove(void)
{
	dits_index idx;
	CHECK_RC(dits_index_load(repo, &idx), 0);
	CHECK_EQ_U64(idx.n, 0);

	for (size_t i = 0; i < NPATHS; i++) {
		snprintf(mdl[i].path, sizeof mdl[i].path, "d%02zu/s%zu/f%04zu.bin", i % 37, i % 5, i);
		dits_hash_buf(&mdl[i].id, &i, sizeof i);
	}
	/* A random insertion order. */
	size_t order[NPATHS];
	for (size_t i = 0; i < NPATHS; i++)
		order[i] = i;
	util_rng r = { 2024 };
	for (size_t i = NPATHS - 1; i > 0; i--) {
		size_t j = (size_t)(util_rng_next(&r) % (i + 1));
		size_t t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	size_t lost = 0;
	for (size_t k = 0; k < NPATHS; k++) {
		size_t i = order[k];
		model *m = &mdl[i];
		if (i % 2) {
			struct stat st;
			fake_stat(&st, i);
			CHECK_RC(dits_index_set(&idx, m->path, &st, &m->id), 0);
			m->with_stat = true;
			m->size = (uint64_t)st.st_size;
			m->mode = dits_mode_from_stat(&st);
			m->mtime_s = st.st_mtim.tv_sec;
			m->mtime_ns = (uint32_t)st.st_mtim.tv_nsec;
		} else {
			m->size = i;
			m->mode = 0100644;
			CHECK_RC(dits_index_set_nostat(&idx, m->path, m->mode, m->size, &m->id), 0);
		}
		m->present = true;
		/* Look up something inserted earlier, and the one just inserted. */
		size_t back = order[(size_t)(util_rng_next(&r) % (k + 1))];
		if (!entry_matches(dits_index_find(&idx, mdl[back].path), &mdl[back]))
			lost++;
		if (!entry_matches(dits_index_find(&idx, m->path), m))
			lost++;
		if (k % 500 == 0)
			CHECK(dits_index_find(&idx, "not/there") == NULL);
	}
	CHECK_EQ_U64(lost, 0);
	CHECK_EQ_U64(idx.n, NPATHS);
	CHECK(idx.dirty);
	CHECK_EQ_U64(check_model(&idx, "after inserts"), 0);

	/* Replacing keeps one entry per path. */
	for (size_t i = 0; i < NPATHS; i += 10) {
		dits_hash_buf(&mdl[i].id, mdl[i].path, strlen(mdl[i].path));
		mdl[i].size = 999999;
		mdl[i].mode = 0100755;
		mdl[i].with_stat = false;
		CHECK_RC(dits_index_set_nostat(&idx, mdl[i].path, mdl[i].mode, mdl[i].size, &mdl[i].id), 0);
	}
	CHECK_EQ_U64(idx.n, NPATHS);
	CHECK_EQ_U64(check_model(&idx, "after replacing"), 0);

	/* Remove a tenth, interleaved with new inserts (sorted and appended regions mixed). */
	for (size_t i = 3; i < NPATHS; i += 10) {
		CHECK_RC(dits_index_remove(&idx, mdl[i].path), 0);
		mdl[i].present = false;
	}
	CHECK_RC(dits_index_remove(&idx, mdl[3].path), DITS_ENOTFOUND);
	CHECK_RC(dits_index_remove(&idx, "never/was"), DITS_ENOTFOUND);
	CHECK_EQ_U64(check_model(&idx, "after removals"), 0);
	for (size_t i = 3; i < NPATHS; i += 20) {
		CHECK_RC(dits_index_set_nostat(&idx, mdl[i].path, mdl[i].mode, mdl[i].size, &mdl[i].id), 0);
		mdl[i].present = true;
		mdl[i].with_stat = false;
		if (i + 10 < NPATHS) {
			size_t j = i + 7;
			if (mdl[j].present) {
				CHECK_RC(dits_index_remove(&idx, mdl[j].path), 0);
				mdl[j].present = false;
			}
		}
	}
	CHECK_EQ_U64(check_model(&idx, "after mixed"), 0);

	/* Write and reload. */
	CHECK_RC(dits_index_write(repo, &idx), 0);
	CHECK(!idx.dirty);
	size_t n = idx.n;
	dits_index_free(&idx);

	dits_index again;
	CHECK_RC(dits_index_load(repo, &again), 0);
	CHECK_EQ_U64(again.n, n);
	size_t unsorted = 0;
	for (size_t i = 1; i < again.n; i++)
		if (strcmp(again.e[i - 1].path, again.e[i].path) >= 0)
			unsorted++;
	CHECK_EQ_U64(unsorted, 0);
	CHECK_EQ_U64(check_model(&again, "after reload"), 0);
	/* Stat fields survive the round trip. */
	size_t stat_bad = 0;
	for (size_t i = 1; i < NPATHS; i += 2) {
		if (!mdl[i].present || !mdl[i].with_stat)
			continue;
		struct stat st;
		fake_stat(&st, i);
		dits_index_entry *e = dits_index_find(&again, mdl[i].path);
		if (!e || e->ctime_s != st.st_ctim.tv_sec || e->ctime_ns != (uint32_t)st.st_ctim.tv_nsec ||
		    e->ino != (uint64_t)st.st_ino || e->dev != (uint64_t)st.st_dev)
			stat_bad++;
	}
	CHECK_EQ_U64(stat_bad, 0);

	/* A second write of the reloaded index gives the same bytes. */
	size_t len1 = 0, len2 = 0;
	uint8_t *b1 = util_read_file(index_path, &len1);
	CHECK_RC(dits_index_write(repo, &again), 0);
	uint8_t *b2 = util_read_file(index_path, &len2);
	CHECK(b1 && b2 && len1 == len2 && memcmp(b1, b2, len1) == 0);
	free(b1);
	free(b2);

	/* A few bit flips in the big file. */
	for (int k = 0; k < 5; k++) {
		off_t off = (off_t)(util_rng_next(&r) % len2);
		REQUIRE(util_flip_byte(index_path, off, 0x04) == 0);
		dits_index bad;
		CHECK_RC(dits_index_load(repo, &bad), DITS_ECORRUPT);
		REQUIRE(util_flip_byte(index_path, off, 0x04) == 0);
	}
	dits_index ok;
	CHECK_RC(dits_index_load(repo, &ok), 0);
	CHECK_EQ_U64(ok.n, n);
	dits_index_free(&ok);

	/* Clear. */
	dits_index_clear(&again);
	CHECK_EQ_U64(again.n, 0);
	CHECK(dits_index_find(&again, mdl[1].path) == NULL);
	CHECK_RC(dits_index_write(repo, &again), 0);
	dits_index_free(&again);
	CHECK_RC(dits_index_load(repo, &again), 0);
	CHECK_EQ_U64(again.n, 0);
	dits_index_free(&again);
}

static void test_mode(void)
{
	struct stat st = { 0 };
	st.st_mode = S_IFREG | 0644;
	CHECK_EQ_U64(dits_mode_from_stat(&st), 0100644);
	st.st_mode = S_IFREG | 0755;
	CHECK_EQ_U64(dits_mode_from_stat(&st), 0100755);
	st.st_mode = S_IFREG | 0744;
	CHECK_EQ_U64(dits_mode_from_stat(&st), 0100755);
	st.st_mode = S_IFREG | 0600;
	CHECK_EQ_U64(dits_mode_from_stat(&st), 0100644);
}

static void set_mtime(const char *path, time_t s, long ns)
{
	struct timespec ts[2] = { { s, ns }, { s, ns } };
	REQUIRE(utimensat(AT_FDCWD, path, ts, 0) == 0);
}

static void test_stat_clean(void)
{
	char *file = malloc(strlen(dits_repo_workdir(repo)) + 16);
	REQUIRE(file != NULL);
	sprintf(file, "%s/f.txt", dits_repo_workdir(repo));
	REQUIRE(util_write_file(file, "hello\n", 6) == 0);
	set_mtime(file, 1500000000, 123456789);
	struct stat st;
	REQUIRE(stat(file, &st) == 0);
	dits_id id;
	dits_hash_buf(&id, "hello\n", 6);

	dits_index idx;
	memset(&idx, 0, sizeof idx);
	idx.sorted = true;
	CHECK_RC(dits_index_set(&idx, "f.txt", &st, &id), 0);
	dits_index_entry *e = dits_index_find(&idx, "f.txt");
	REQUIRE(e != NULL);

	/* The index stamp decides whether a matching stat can be trusted. */
	idx.stamp_s = st.st_mtim.tv_sec + 1;
	idx.stamp_ns = 0;
	CHECK(dits_index_stat_clean(&idx, e, &st));
	idx.stamp_s = st.st_mtim.tv_sec;
	idx.stamp_ns = (uint32_t)st.st_mtim.tv_nsec + 1;
	CHECK(dits_index_stat_clean(&idx, e, &st));
	idx.stamp_ns = (uint32_t)st.st_mtim.tv_nsec; /* same instant: racy */
	CHECK(!dits_index_stat_clean(&idx, e, &st));
	idx.stamp_ns = (uint32_t)st.st_mtim.tv_nsec - 1;
	CHECK(!dits_index_stat_clean(&idx, e, &st));
	idx.stamp_s = st.st_mtim.tv_sec - 1;
	idx.stamp_ns = 999999999;
	CHECK(!dits_index_stat_clean(&idx, e, &st));
	idx.stamp_s = 0;
	idx.stamp_ns = 0;
	CHECK(!dits_index_stat_clean(&idx, e, &st)); /* never written: everything racy */

	/* Any stat difference is not clean, even with an old mtime. */
	idx.stamp_s = st.st_mtim.tv_sec + 100;
	struct stat d;
	d = st; d.st_size++;
	CHECK(!dits_index_stat_clean(&idx, e, &d));
	d = st; d.st_mtim.tv_nsec++;
	CHECK(!dits_index_stat_clean(&idx, e, &d));
	d = st; d.st_mtim.tv_sec--;
	CHECK(!dits_index_stat_clean(&idx, e, &d));
	d = st; d.st_ctim.tv_sec++;
	CHECK(!dits_index_stat_clean(&idx, e, &d));
	d = st; d.st_ino++;
	CHECK(!dits_index_stat_clean(&idx, e, &d));
	d = st; d.st_dev++;
	CHECK(!dits_index_stat_clean(&idx, e, &d));
	d = st; d.st_mode |= 0100;
	CHECK(!dits_index_stat_clean(&idx, e, &d));
	CHECK(dits_index_stat_clean(&idx, e, &st));

	/* A nostat entry is never clean. */
	CHECK_RC(dits_index_set_nostat(&idx, "f.txt", 0100644, 6, &id), 0);
	e = dits_index_find(&idx, "f.txt");
	CHECK(!dits_index_stat_clean(&idx, e, &st));
	dits_index_entry_set_stat(e, &st);
	CHECK(dits_index_stat_clean(&idx, e, &st));

	/* End to end: written index, old file: clean after reload. */
	CHECK_RC(dits_index_write(repo, &idx), 0);
	dits_index_free(&idx);
	CHECK_RC(dits_index_load(repo, &idx), 0);
	struct stat ist;
	REQUIRE(stat(index_path, &ist) == 0);
	CHECK(idx.stamp_s == ist.st_mtim.tv_sec && idx.stamp_ns == (uint32_t)ist.st_mtim.tv_nsec);
	e = dits_index_find(&idx, "f.txt");
	REQUIRE(e != NULL);
	CHECK(dits_index_stat_clean(&idx, e, &st));

	/* Changed size: not clean. */
	REQUIRE(util_write_file(file, "hello world\n", 12) == 0);
	set_mtime(file, 1500000000, 123456789);
	struct stat st2;
	REQUIRE(stat(file, &st2) == 0);
	CHECK(!dits_index_stat_clean(&idx, e, &st2));

	/* A file stamped at or after the index itself is racy. */
	time_t future = time(NULL) + 3600;
	set_mtime(file, future, 0);
	REQUIRE(stat(file, &st2) == 0);
	CHECK_RC(dits_index_set(&idx, "f.txt", &st2, &id), 0);
	CHECK_RC(dits_index_write(repo, &idx), 0);
	dits_index_free(&idx);
	CHECK_RC(dits_index_load(repo, &idx), 0);
	e = dits_index_find(&idx, "f.txt");
	REQUIRE(e != NULL);
	CHECK(!dits_index_stat_clean(&idx, e, &st2));
	dits_index_free(&idx);
	free(file);
}

static void test_damaged(void)
{
	dits_index idx;
	memset(&idx, 0, sizeof idx);
	idx.sorted = true;
	const char *paths[] = { "b", "a/x", "c d" };
	for (int i = 0; i < 3; i++) {
		dits_id id;
		dits_hash_buf(&id, paths[i], strlen(paths[i]));
		CHECK_RC(dits_index_set_nostat(&idx, paths[i], 0100644, (uint64_t)i, &id), 0);
	}
	CHECK_RC(dits_index_write(repo, &idx), 0);
	dits_index_free(&idx);
	size_t len = 0;
	uint8_t *orig = util_read_file(index_path, &len);
	REQUIRE(orig != NULL && len > 48);

	size_t wrong = 0;
	for (size_t cut = 0; cut < len; cut++) {
		REQUIRE(util_write_file(index_path, orig, cut) == 0);
		int rc = dits_index_load(repo, &idx);
		if (rc != DITS_ECORRUPT) {
			if (wrong++ == 0)
				fprintf(stderr, "  index truncated to %zu bytes: rc %d\n", cut, rc);
			if (rc == 0)
				dits_index_free(&idx);
		}
	}
	CHECK_EQ_U64(wrong, 0);

	uint8_t *copy = malloc(len);
	REQUIRE(copy != NULL);
	wrong = 0;
	for (size_t off = 0; off < len; off++) {
		memcpy(copy, orig, len);
		copy[off] ^= (uint8_t)(1u << (off % 8));
		REQUIRE(util_write_file(index_path, copy, len) == 0);
		int rc = dits_index_load(repo, &idx);
		if (rc != DITS_ECORRUPT) {
			if (wrong++ == 0)
				fprintf(stderr, "  index with byte %zu flipped: rc %d\n", off, rc);
			if (rc == 0)
				dits_index_free(&idx);
		}
	}
	CHECK_EQ_U64(wrong, 0);

	/* One byte too many. */
	memcpy(copy, orig, len);
	uint8_t *longer = malloc(len + 1);
	REQUIRE(longer != NULL);
	memcpy(longer, orig, len);
	longer[len] = 0;
	REQUIRE(util_write_file(index_path, longer, len + 1) == 0);
	CHECK_RC(dits_index_load(repo, &idx), DITS_ECORRUPT);
	CHECK(strstr(dits_error_last(), "index") != NULL);

	/* Restored: loads, sorted. */
	REQUIRE(util_write_file(index_path, orig, len) == 0);
	CHECK_RC(dits_index_load(repo, &idx), 0);
	CHECK_EQ_U64(idx.n, 3);
	if (idx.n == 3) {
		CHECK(!strcmp(idx.e[0].path, "a/x"));
		CHECK(!strcmp(idx.e[1].path, "b"));
		CHECK(!strcmp(idx.e[2].path, "c d"));
	}
	dits_index_free(&idx);
	free(longer);
	free(copy);
	free(orig);
}

/* Writes an index file by hand, with a valid checksum. */
static void put_entry(dits_buf *b, const char *path, size_t plen)
{
	dits_id id;
	dits_hash_buf(&id, path, plen);
	dits_buf_put_u32(b, 0100644);
	dits_buf_put_u64(b, 3);
	dits_buf_put_u64(b, 1000);
	dits_buf_put_u32(b, 5);
	dits_buf_put_u64(b, 1001);
	dits_buf_put_u32(b, 6);
	dits_buf_put_u64(b, 77);
	dits_buf_put_u64(b, 88);
	dits_buf_put(b, id.b, DITS_ID_LEN);
	dits_buf_put_u32(b, 0);
	dits_buf_put_u16(b, (uint16_t)plen);
	dits_buf_put(b, path, plen);
}

/* lens: each path's length (NULL: strlen), so a path may hold a NUL. */
static int load_crafted_len(uint32_t version, uint32_t count, const char *const *paths,
                            const size_t *lens, size_t n, dits_index *idx)
{
	dits_buf b = DITS_BUF_INIT;
	dits_buf_put(&b, "DIDX", 4);
	dits_buf_put_u32(&b, version);
	dits_buf_put_u32(&b, count);
	dits_buf_put_u32(&b, 0);
	for (size_t i = 0; i < n; i++)
		put_entry(&b, paths[i], lens ? lens[i] : strlen(paths[i]));
	dits_id sum;
	dits_hash_buf(&sum, b.data, b.len);
	dits_buf_put(&b, sum.b, DITS_ID_LEN);
	REQUIRE(util_write_file(index_path, b.data, b.len) == 0);
	dits_buf_free(&b);
	return dits_index_load(repo, idx);
}

static int load_crafted(uint32_t version, uint32_t count, const char *const *paths, size_t n,
                        dits_index *idx)
{
	return load_crafted_len(version, count, paths, NULL, n, idx);
}

static void test_crafted(void)
{
	dits_index idx;
	const char *three[] = { "b", "a", "c/d" };
	CHECK_RC(load_crafted(1, 3, three, 3, &idx), 0);
	CHECK_EQ_U64(idx.n, 3);
	if (idx.n == 3) { /* stored unsorted, loaded sorted */
		CHECK(!strcmp(idx.e[0].path, "a"));
		CHECK(!strcmp(idx.e[1].path, "b"));
		CHECK(!strcmp(idx.e[2].path, "c/d"));
		CHECK(dits_index_find(&idx, "c/d") == &idx.e[2]);
		CHECK_EQ_U64(idx.e[0].mtime_s, 1000);
		CHECK_EQ_U64(idx.e[0].ctime_ns, 6);
		CHECK_EQ_U64(idx.e[0].ino, 77);
		CHECK_EQ_U64(idx.e[0].dev, 88);
	}
	dits_index_free(&idx);
	CHECK_RC(load_crafted(1, 4, three, 3, &idx), DITS_ECORRUPT); /* fewer entries than counted */
	CHECK_RC(load_crafted(1, 2, three, 3, &idx), DITS_ECORRUPT); /* more entries than counted */
	CHECK_RC(load_crafted(2, 3, three, 3, &idx), 0); /* version 2: the same, plus proxy mode */
	dits_index_free(&idx);
	CHECK_RC(load_crafted(3, 3, three, 3, &idx), DITS_ECORRUPT); /* version 3 without its tree note */
	CHECK_RC(load_crafted(4, 3, three, 3, &idx), DITS_EVERSION);
	CHECK_RC(load_crafted(0, 3, three, 3, &idx), DITS_EVERSION);
	const char *empty_name[] = { "a", "" };
	CHECK_RC(load_crafted(1, 2, empty_name, 2, &idx), DITS_ECORRUPT);
	/* A path with a NUL inside cannot be a file's. */
	{
		const char *nul[] = { "a\0b" };
		const size_t nul_len[] = { 3 };
		CHECK_RC(load_crafted_len(1, 1, nul, nul_len, 1, &idx), DITS_ECORRUPT);
	}
	/* Loaded paths share one allocation; removing, replacing, adding and
	 * clearing entries mixes them with paths of their own (ASan checks
	 * every free). */
	CHECK_RC(load_crafted(1, 3, three, 3, &idx), 0);
	{
		dits_id id;
		dits_hash_buf(&id, "x", 1);
		CHECK_RC(dits_index_remove(&idx, "b"), 0);
		CHECK_RC(dits_index_set_nostat(&idx, "a", 0100755, 9, &id), 0);
		CHECK_RC(dits_index_set_nostat(&idx, "new/file", 0100644, 1, &id), 0);
		CHECK_EQ_U64(idx.n, 3);
		dits_index_entry *e = dits_index_find(&idx, "a");
		CHECK(e != NULL && e->size == 9 && e->mode == 0100755);
		CHECK(dits_index_find(&idx, "new/file") != NULL);
		CHECK(dits_index_find(&idx, "b") == NULL);
		CHECK_RC(dits_index_write(repo, &idx), 0);
		dits_index_clear(&idx);
		CHECK_RC(dits_index_set_nostat(&idx, "after/clear", 0100644, 2, &id), 0);
		dits_index_free(&idx);
		CHECK_RC(dits_index_load(repo, &idx), 0);
		CHECK_EQ_U64(idx.n, 3);
		if (idx.n == 3) {
			CHECK(!strcmp(idx.e[0].path, "a"));
			CHECK(!strcmp(idx.e[1].path, "c/d"));
			CHECK(!strcmp(idx.e[2].path, "new/file"));
		}
		dits_index_free(&idx);
	}
	CHECK_RC(load_crafted(1, 0, NULL, 0, &idx), 0);
	CHECK_EQ_U64(idx.n, 0);
	dits_index_free(&idx);
	CHECK_RC(load_crafted(1, 0xffffffffu, three, 3, &idx), DITS_ECORRUPT);
	unlink(index_path);
	/* No index file at all: an empty index. */
	CHECK_RC(dits_index_load(repo, &idx), 0);
	CHECK_EQ_U64(idx.n, 0);
	dits_index_free(&idx);
}

/* The tree note holds only for the entry list it was taken of. */
static void test_tree_note(void)
{
	dits_index idx;
	remove(index_path);
	CHECK_RC(dits_index_load(repo, &idx), 0);
	dits_id a, b, tree, other;
	dits_hash_buf(&a, "a", 1);
	dits_hash_buf(&b, "b", 1);
	dits_hash_buf(&tree, "tree", 4);
	dits_hash_buf(&other, "other", 5);
	CHECK_RC(dits_index_set_nostat(&idx, "x/one", 0100644, 1, &a), 0);
	CHECK_RC(dits_index_set_nostat(&idx, "two", 0100755, 2, &b), 0);
	CHECK(!dits_index_matches_tree(&idx, &tree)); /* nothing noted yet */
	dits_index_note_tree(&idx, &tree);
	CHECK(dits_index_matches_tree(&idx, &tree));
	CHECK(!dits_index_matches_tree(&idx, &other));
	CHECK_RC(dits_index_write(repo, &idx), 0);
	dits_index_free(&idx);

	CHECK_RC(dits_index_load(repo, &idx), 0); /* kept across a write and a load */
	CHECK(dits_index_matches_tree(&idx, &tree));
	dits_index_entry *e = dits_index_find(&idx, "two");
	REQUIRE(e != NULL);
	e->id = a; /* a changed id */
	CHECK(!dits_index_matches_tree(&idx, &tree));
	e->id = b;
	CHECK(dits_index_matches_tree(&idx, &tree));
	e->mode = 0100644; /* a changed mode */
	CHECK(!dits_index_matches_tree(&idx, &tree));
	e->mode = 0100755;
	struct stat st;
	fake_stat(&st, 7); /* a stat refresh changes nothing a tree records */
	dits_index_entry_set_stat(e, &st);
	e->mode = 0100755;
	CHECK(dits_index_matches_tree(&idx, &tree));
	CHECK_RC(dits_index_set_nostat(&idx, "three", 0100644, 3, &a), 0); /* an added path */
	CHECK(!dits_index_matches_tree(&idx, &tree));
	CHECK_RC(dits_index_remove(&idx, "three"), 0);
	CHECK(dits_index_matches_tree(&idx, &tree));
	CHECK_RC(dits_index_remove(&idx, "x/one"), 0); /* a removed path */
	CHECK(!dits_index_matches_tree(&idx, &tree));
	dits_index_free(&idx);
	remove(index_path);
}

int main(void)
{
	char *dir = util_mkdtemp("index");
	REQUIRE(dir != NULL);
	CHECK_RC(dits_repo_init(&repo, dir, NULL), 0);
	REQUIRE(repo != NULL);
	index_path = dits_repo_path(repo, "index");
	REQUIRE(index_path != NULL);
	test_mode();
	test_set_find_remove();
	test_stat_clean();
	test_damaged();
	test_crafted();
	test_tree_note();
	free(index_path);
	dits_repo_free(repo);
	util_rm_rf(dir);
	free(dir);
	return check_done();
}
