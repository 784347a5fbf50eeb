/*
 * Refs: name validation, compare-and-swap updates and their reflog, HEAD,
 * listing, and revision parsing over a few real commits.
 */
#include "error.h"
#include "hash.h"
#include "object.h"
#include "refs.h"
#include "repo.h"
#include "worktree.h"

#include "check.h"
#include "util.h"

static dits_repo *repo;

static void test_names(void)
{
	const char *good[] = { "main", "feature/x", "v1.0", "a-b_c", "A/B/C", "x.lockfile", "release-2024.1",
	                       "HEADS", "a.b" };
	const char *bad[] = { "a..b", "-x", "x.lock", "HEAD", "a b", "", "/x", "x/", "x//y", ".x",
	                      "x/.y", "x.", "a~b", "a^b", "a:b", "a\\b", "a*b", "a?b", "a[b", "a\tb",
	                      "feature/x.lock", "..", "." };
	for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
		bool ok = dits_ref_name_valid(good[i]);
		CHECK(ok);
		if (!ok)
			fprintf(stderr, "  \"%s\" should be a valid name\n", good[i]);
	}
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		bool ok = dits_ref_name_valid(bad[i]);
		CHECK(!ok);
		if (ok)
			fprintf(stderr, "  \"%s\" should be rejected\n", bad[i]);
	}
	char longname[300];
	memset(longname, 'a', sizeof longname - 1);
	longname[sizeof longname - 1] = '\0';
	CHECK(!dits_ref_name_valid(longname));
}

static void write_text(const char *rel, const char *text)
{
	REQUIRE(util_write_file(rel, text, strlen(text)) == 0);
}

static int add_and_commit(const char *file, const char *text, const char *msg, dits_id *out)
{
	write_text(file, text);
	const char *paths[] = { file };
	dits_add_result res;
	int rc = dits_add(repo, paths, 1, NULL, &res);
	if (rc)
		return rc;
	return dits_commit_create(repo, msg, false, out, NULL);
}

static size_t count_lines(const char *path, char lines[][300], size_t max)
{
	size_t len = 0;
	uint8_t *b = util_read_file(path, &len);
	if (!b)
		return 0;
	size_t n = 0, start = 0;
	for (size_t i = 0; i < len; i++) {
		if (b[i] != '\n')
			continue;
		if (n < max) {
			size_t l = i - start < 299 ? i - start : 299;
			memcpy(lines[n], b + start, l);
			lines[n][l] = '\0';
		}
		n++;
		start = i + 1;
	}
	free(b);
	return n;
}

static char *repo_file(const char *rel)
{
	char *p = dits_repo_path(repo, rel);
	REQUIRE(p != NULL);
	return p;
}

typedef struct listed {
	size_t n;
	char names[8][64];
	dits_id ids[8];
} listed;

static int on_ref(void *ctx, const char *ref, const dits_id *id)
{
	listed *l = ctx;
	if (l->n < 8) {
		snprintf(l->names[l->n], sizeof l->names[l->n], "%s", ref);
		l->ids[l->n] = *id;
	}
	l->n++;
	return 0;
}

static void expect_rev(const char *spec, const dits_id *want)
{
	dits_id got;
	memset(&got, 0, sizeof got);
	int rc = dits_revparse(repo, spec, &got);
	CHECK_RC(rc, 0);
	CHECK(rc != 0 || dits_id_eq(&got, want));
	if (rc == 0 && !dits_id_eq(&got, want))
		fprintf(stderr, "  revparse \"%s\" gave the wrong commit\n", spec);
	if (rc)
		fprintf(stderr, "  (revparse \"%s\")\n", spec);
}

static void expect_rev_fail(const char *spec, int want)
{
	dits_id got;
	int rc = dits_revparse(repo, spec, &got);
	if (rc != want)
		fprintf(stderr, "  revparse \"%s\": rc %d, want %d (%s)\n", spec, rc, want, dits_error_last());
	CHECK(rc == want);
}

static void test_history(void)
{
	dits_id c1, c2, c3, got, zero = { { 0 } };
	char hex[DITS_ID_HEXLEN + 1];

	char *target = NULL;
	CHECK_RC(dits_head_target(repo, &target), 0);
	CHECK(target && !strcmp(target, "refs/heads/main"));
	free(target);
	CHECK_RC(dits_ref_read(repo, "HEAD", &got), DITS_ENOTFOUND);
	expect_rev_fail("HEAD", DITS_ENOTFOUND);
	expect_rev_fail("main", DITS_ENOTFOUND);

	CHECK_RC(add_and_commit("a.txt", "one\n", "first", &c1), 0);
	CHECK_RC(dits_commit_create(repo, "nothing", false, &got, NULL), DITS_EINVALID);
	CHECK_RC(add_and_commit("b.txt", "two\n", "second\n\nwith a body\n", &c2), 0);
	CHECK(!dits_id_eq(&c1, &c2));

	CHECK_RC(dits_ref_read(repo, "HEAD", &got), 0);
	CHECK(dits_id_eq(&got, &c2));
	CHECK_RC(dits_ref_read(repo, "refs/heads/main", &got), 0);
	CHECK(dits_id_eq(&got, &c2));
	dits_commit c;
	CHECK_RC(dits_commit_read(dits_repo_odb(repo), &c2, &c), 0);
	CHECK_EQ_U64(c.nparents, 1);
	CHECK(c.nparents == 1 && dits_id_eq(&c.parents[0], &c1));
	CHECK(c.author.name && !strcmp(c.author.name, "Unit Tester"));
	CHECK(c.author.time == 1700000000);
	CHECK(c.message && !strcmp(c.message, "second\n\nwith a body\n"));
	dits_commit_free(&c);

	expect_rev("HEAD", &c2);
	expect_rev("main", &c2);
	expect_rev("refs/heads/main", &c2);
	expect_rev("HEAD~1", &c1);
	expect_rev("HEAD~", &c1);
	expect_rev("main~1", &c1);
	expect_rev("HEAD~0", &c2);
	expect_rev_fail("HEAD~2", DITS_ENOTFOUND);
	expect_rev_fail("HEAD~1~1", DITS_ENOTFOUND);
	expect_rev_fail("main~5", DITS_ENOTFOUND);

	/* The branch's reflog has one line per commit. */
	char lines[4][300];
	char *mainlog = repo_file("logs/refs/heads/main");
	CHECK_EQ_U64(count_lines(mainlog, lines, 4), 2);
	free(mainlog);

	/* A third commit, then deeper history. */
	CHECK_RC(add_and_commit("a.txt", "one, changed\n", "third", &c3), 0);
	expect_rev("HEAD~2", &c1);
	expect_rev("HEAD~1~1", &c1);
	expect_rev("HEAD~~", &c1);
	expect_rev_fail("HEAD~3", DITS_ENOTFOUND);

	/* Ids and prefixes. */
	dits_id_hex(hex, &c1);
	expect_rev(hex, &c1);
	char pre[16];
	memcpy(pre, hex, 10);
	pre[10] = '\0';
	expect_rev(pre, &c1);
	for (char *p = pre; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	expect_rev(pre, &c1);
	char hex3[DITS_ID_HEXLEN + 1];
	dits_id_hex(hex3, &c3);
	memcpy(pre, hex3, 8);
	strcpy(pre + 8, "~2");
	expect_rev(pre, &c1);
	/* The tree of c1 is no commit: not found by prefix. */
	CHECK_RC(dits_commit_read(dits_repo_odb(repo), &c1, &c), 0);
	char thex[DITS_ID_HEXLEN + 1];
	dits_id_hex(thex, &c.tree);
	dits_commit_free(&c);
	thex[12] = '\0';
	expect_rev_fail(thex, DITS_ENOTFOUND);

	/* Tags. */
	CHECK_RC(dits_ref_update(repo, "refs/tags/v1", &c1, &zero, "tag v1"), 0);
	expect_rev("v1", &c1);
	expect_rev("refs/tags/v1", &c1);
	expect_rev_fail("v1~1", DITS_ENOTFOUND);

	/* Unknown and malformed. */
	expect_rev_fail("nosuch", DITS_ENOTFOUND);
	expect_rev_fail("feature/none", DITS_ENOTFOUND);
	expect_rev_fail("refs/heads/nosuch", DITS_ENOTFOUND);
	expect_rev_fail("0000", DITS_ENOTFOUND);
	expect_rev_fail("HEAD~x", DITS_EINVALID);
	expect_rev_fail("HEAD~-1", DITS_EINVALID);
	expect_rev_fail("", DITS_EINVALID);
	expect_rev_fail("~1", DITS_EINVALID);
	/* Names of files inside .dits are not revisions. */
	expect_rev_fail("config", DITS_ENOTFOUND);
	expect_rev_fail("index", DITS_ENOTFOUND);

	/* Compare-and-swap. */
	const char *ref = "refs/heads/cas";
	char *log = repo_file("logs/refs/heads/cas");
	char *reffile = repo_file(ref);
	CHECK_RC(dits_ref_update(repo, ref, &c1, &zero, "create"), 0);
	CHECK_EQ_U64(count_lines(log, lines, 4), 1);
	CHECK_RC(dits_ref_update(repo, ref, &c2, &zero, "again"), DITS_ECONFLICT);
	CHECK_RC(dits_ref_update(repo, ref, &c2, &c3, "wrong"), DITS_ECONFLICT);
	CHECK_RC(dits_ref_read(repo, ref, &got), 0);
	CHECK(dits_id_eq(&got, &c1));
	CHECK_EQ_U64(count_lines(log, lines, 4), 1);
	CHECK_RC(dits_ref_update(repo, ref, &c2, &c1, "move\nsecond line dropped"), 0);
	CHECK_RC(dits_ref_read(repo, ref, &got), 0);
	CHECK(dits_id_eq(&got, &c2));
	CHECK_EQ_U64(count_lines(log, lines, 4), 2);
	{
		char h1[DITS_ID_HEXLEN + 1], h2[DITS_ID_HEXLEN + 1], want[200];
		dits_id_hex(h1, &c1);
		dits_id_hex(h2, &c2);
		snprintf(want, sizeof want, "%064d %s ", 0, h1);
		CHECK(!strncmp(lines[0], want, strlen(want)));
		snprintf(want, sizeof want, "%s %s ", h1, h2);
		CHECK(!strncmp(lines[1], want, strlen(want)));
		const char *tab = strchr(lines[1], '\t');
		CHECK(tab && !strcmp(tab + 1, "move"));
		CHECK(strstr(lines[1], "Unit Tester <unit@example.com>") != NULL);
	}
	/* The ref file holds the id and a newline. */
	size_t rlen = 0;
	uint8_t *rb = util_read_file(reffile, &rlen);
	dits_id_hex(hex, &c2);
	CHECK(rb && rlen == 65 && !memcmp(rb, hex, 64) && rb[64] == '\n');
	free(rb);
	/* NULL expected: any value. */
	CHECK_RC(dits_ref_update(repo, ref, &c3, NULL, "force"), 0);
	CHECK_EQ_U64(count_lines(log, lines, 4), 3);
	/* An absent ref with a non-zero expectation. */
	CHECK_RC(dits_ref_update(repo, "refs/heads/absent", &c1, &c1, "x"), DITS_ECONFLICT);
	CHECK_RC(dits_ref_read(repo, "refs/heads/absent", &got), DITS_ENOTFOUND);
	free(log);
	free(reffile);

	/* Listing. */
	CHECK_RC(dits_ref_update(repo, "refs/heads/feature/x", &c2, &zero, "branch"), 0);
	expect_rev("feature/x", &c2);
	listed l = { 0 };
	CHECK_RC(dits_refs_foreach(repo, "refs/heads/", on_ref, &l), 0);
	CHECK_EQ_U64(l.n, 3);
	if (l.n == 3) {
		CHECK(!strcmp(l.names[0], "refs/heads/cas") && dits_id_eq(&l.ids[0], &c3));
		CHECK(!strcmp(l.names[1], "refs/heads/feature/x") && dits_id_eq(&l.ids[1], &c2));
		CHECK(!strcmp(l.names[2], "refs/heads/main") && dits_id_eq(&l.ids[2], &c3));
	}
	memset(&l, 0, sizeof l);
	CHECK_RC(dits_refs_foreach(repo, "refs/tags/", on_ref, &l), 0);
	CHECK_EQ_U64(l.n, 1);

	/*
	 * Every name dits_ref_name_valid accepts must show up in the listing
	 * (gc and fsck find their roots through dits_refs_foreach).
	 */
	const char *odd[] = { "wip.tmp-1", "x.tmp-", "a-b.c" };
	for (size_t i = 0; i < sizeof odd / sizeof *odd; i++) {
		if (!dits_ref_name_valid(odd[i]))
			continue;
		char full[128];
		snprintf(full, sizeof full, "refs/heads/%s", odd[i]);
		CHECK_RC(dits_ref_update(repo, full, &c1, &zero, "odd"), 0);
		memset(&l, 0, sizeof l);
		CHECK_RC(dits_refs_foreach(repo, "refs/heads/", on_ref, &l), 0);
		bool found = false;
		for (size_t k = 0; k < l.n && k < 8; k++)
			found = found || !strcmp(l.names[k], full);
		CHECK(found);
		if (!found)
			fprintf(stderr, "  branch \"%s\" is a valid name but dits_refs_foreach does not list it\n",
			        odd[i]);
		char *f = repo_file(full);
		unlink(f);
		free(f);
	}

	/* A branch and a tag of the same name: the branch wins. */
	CHECK_RC(dits_ref_update(repo, "refs/tags/feature/x", &c1, &zero, "tag"), 0);
	expect_rev("feature/x", &c2);
	expect_rev("refs/tags/feature/x", &c1);

	/* Detached HEAD, a commit on it, and back. */
	CHECK_RC(dits_head_set_detached(repo, &c2, "detach"), 0);
	target = (char *)"unchanged";
	CHECK_RC(dits_head_target(repo, &target), 0);
	CHECK(target == NULL);
	expect_rev("HEAD", &c2);
	dits_id c4;
	CHECK_RC(add_and_commit("c.txt", "three\n", "detached work", &c4), 0);
	expect_rev("HEAD", &c4);
	expect_rev("HEAD~1", &c2);
	expect_rev("main", &c3); /* the branch did not move */
	char *headlog = repo_file("logs/HEAD");
	CHECK(count_lines(headlog, lines, 4) >= 2);
	free(headlog);
	CHECK_RC(dits_head_set_branch(repo, "refs/heads/main"), 0);
	CHECK_RC(dits_head_target(repo, &target), 0);
	CHECK(target && !strcmp(target, "refs/heads/main"));
	free(target);
	expect_rev("HEAD", &c3);

	/* A damaged ref file. */
	char *bad = repo_file("refs/heads/broken");
	REQUIRE(util_write_file(bad, "not an id\n", 10) == 0);
	CHECK_RC(dits_ref_read(repo, "refs/heads/broken", &got), DITS_ECORRUPT);
	CHECK_RC(dits_ref_update(repo, "refs/heads/broken", &c1, NULL, "x"), DITS_ECORRUPT);
	unlink(bad);
	free(bad);
}

int main(void)
{
	setenv("DITS_AUTHOR_NAME", "Unit Tester", 1);
	setenv("DITS_AUTHOR_EMAIL", "unit@example.com", 1);
	setenv("DITS_AUTHOR_DATE", "1700000000", 1);
	test_names();
	char *dir = util_mkdtemp("refs");
	REQUIRE(dir != NULL);
	CHECK_RC(dits_repo_init(&repo, dir, NULL), 0);
	REQUIRE(repo != NULL);
	char oldcwd[4096];
	REQUIRE(getcwd(oldcwd, sizeof oldcwd) != NULL);
	REQUIRE(chdir(dits_repo_workdir(repo)) == 0);
	test_history();
	REQUIRE(chdir(oldcwd) == 0);
	dits_repo_free(repo);
	util_rm_rf(dir);
	free(dir);
	return check_done();
}
