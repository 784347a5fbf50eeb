/*
 * dits - the command-line client. It parses arguments, calls the library in
 * src/core and prints; it never reaches around the library.
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

#include "buf.h"
#include "commands.h"
#include "mount_cmds.h"
#include "chunker.h"
#include "diff.h"
#include "error.h"
#include "fsutil.h"
#include "hash.h"
#include "index.h"
#include "maint.h"
#include "object.h"
#include "progress.h"
#include "refs.h"
#include "repo.h"
#include "worktree.h"
#ifndef DITS_LEAN
#include "odb_s3.h"
#endif

#define EXIT_USAGE 2

static int fail(int rc)
{
	const char *msg = dits_error_last();
	fprintf(stderr, "dits: error: %s\n", *msg ? msg : "failed");
	(void)rc;
	return 1;
}

/* An unexpected positional argument: a usage error. */
static int extra_arg(const char *arg)
{
	return cli_usage_error(NULL, "unexpected argument '%s'", arg);
}

static int open_repo(dits_repo **r)
{
	int rc = dits_repo_open(r, ".");
	return rc ? fail(rc) : 0;
}

static void short_hex(char out[13], const dits_id *id)
{
	char hex[DITS_ID_HEXLEN + 1];
	dits_id_hex(hex, id);
	memcpy(out, hex, 12);
	out[12] = '\0';
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || *s == '-')
		return -1;
	*out = v;
	return 0;
}

/* ---- init ----------------------------------------------------------- */

static int cmd_init(int argc, char **argv)
{
	dits_chunker_params p;
	dits_chunker_params_default(&p);
	const char *val[3] = { NULL, NULL, NULL };
	const cli_opt opts[] = {
		{ "--chunk-min", NULL, &val[0], NULL },
		{ "--chunk-avg", NULL, &val[1], NULL },
		{ "--chunk-max", NULL, &val[2], NULL },
		{ NULL, NULL, NULL, NULL },
	};
	int n, code = cli_parse(argc, argv, opts, NULL, &n, NULL);
	if (code)
		return code;
	if (n > 1)
		return extra_arg(argv[2]);
	uint32_t *dst[3] = { &p.min, &p.avg, &p.max };
	for (int i = 0; i < 3; i++) {
		uint64_t v;
		if (!val[i])
			continue;
		if (parse_u64(val[i], &v) || v > UINT32_MAX)
			return cli_usage_error(NULL, "%s: '%s' is not a number of bytes", opts[i].name, val[i]);
		*dst[i] = (uint32_t)v;
	}
	const char *dir = n ? argv[1] : ".";
	dits_repo *r;
	int rc = dits_repo_init(&r, dir, &p);
	if (rc)
		return fail(rc);
	printf("Initialized empty Dits repository in %s\n", dits_repo_dir(r));
	dits_repo_free(r);
	return 0;
}

/* ---- add / rm ------------------------------------------------------- */

static int cmd_add(int argc, char **argv)
{
	int n, code = cli_parse(argc, argv, NULL, NULL, &n, NULL);
	if (code)
		return code;
	if (n == 0)
		return cli_usage_error(NULL, "add: no path given");
	dits_repo *r;
	if (open_repo(&r))
		return 1;
	dits_progress p;
	cli_progress_init(&p);
	dits_add_result res;
	int rc = dits_add(r, (const char *const *)argv + 1, (size_t)n, &p, &res);
	dits_repo_free(r);
	if (rc)
		return fail(rc);
	printf("added %llu %s, %llu %s (%llu new %s stored)", (unsigned long long)res.files,
	       cli_plural(res.files, "file", "files"), (unsigned long long)res.bytes, cli_plural(res.bytes, "byte", "bytes"),
	       (unsigned long long)res.new_bytes, cli_plural(res.new_bytes, "byte", "bytes"));
	if (res.removed)
		printf(", %llu removal%s staged", (unsigned long long)res.removed, res.removed == 1 ? "" : "s");
	printf("\n");
	return 0;
}

static void print_rm(void *ctx, const char *path)
{
	(void)ctx;
	printf("rm '%s'\n", path);
}

static int cmd_rm(int argc, char **argv)
{
	bool cached = false;
	const cli_opt opts[] = { { "--cached", NULL, NULL, &cached }, { NULL, NULL, NULL, NULL } };
	int n, code = cli_parse(argc, argv, opts, NULL, &n, NULL);
	if (code)
		return code;
	if (n == 0)
		return cli_usage_error(NULL, "rm: no path given");
	dits_repo *r;
	if (open_repo(&r))
		return 1;
	int rc = dits_rm(r, (const char *const *)argv + 1, (size_t)n, cached, print_rm, NULL);
	dits_repo_free(r);
	return rc ? fail(rc) : 0;
}

/* ---- commit --------------------------------------------------------- */

static int cmd_commit(int argc, char **argv)
{
	const char *msg = NULL;
	bool allow_empty = false;
	const cli_opt opts[] = {
		{ "--message", "-m", &msg, NULL },
		{ "--allow-empty", NULL, NULL, &allow_empty },
		{ NULL, NULL, NULL, NULL },
	};
	int n, code = cli_parse(argc, argv, opts, NULL, &n, NULL);
	if (code)
		return code;
	if (n)
		return extra_arg(argv[1]);
	if (!msg || !*msg)
		return cli_usage_error(NULL, "commit: a message is required (-m MSG)");
	dits_repo *r;
	if (open_repo(&r))
		return 1;
	dits_id id;
	char *msgnl = dits_strfmt("%s%s", msg, msg[strlen(msg) - 1] == '\n' ? "" : "\n");
	dits_progress p;
	cli_progress_init(&p);
	int rc = dits_commit_create(r, msgnl, allow_empty, &id, &p);
	free(msgnl);
	if (rc) {
		dits_repo_free(r);
		return fail(rc);
	}
	char *target = NULL;
	dits_head_target(r, &target);
	char sh[13];
	short_hex(sh, &id);
	const char *nl = strchr(msg, '\n');
	printf("[%s %s] %.*s\n", target && !strncmp(target, "refs/heads/", 11) ? target + 11 : "detached HEAD", sh,
	       nl ? (int)(nl - msg) : (int)strlen(msg), msg);
	fflush(stdout);
	free(target);
	/* Proxies are made in the background: the command returns now. */
	cli_after_commit(r, &id);
	dits_repo_free(r);
	return 0;
}

/* ---- status --------------------------------------------------------- */

static const char *status_word(char s)
{
	switch (s) {
	case DITS_ST_ADDED: return "added";
	case DITS_ST_MODIFIED: return "modified";
	case DITS_ST_DELETED: return "deleted";
	default: return "untracked";
	}
}

static void json_list(dits_buf *b, const char *key, const dits_status_list *l, bool with_status)
{
	dits_buf_printf(b, "\"%s\":[", key);
	for (size_t i = 0; i < l->n; i++) {
		if (i)
			dits_buf_puts(b, ",");
		if (with_status) {
			dits_buf_puts(b, "{\"path\":");
			dits_buf_put_json_str(b, l->v[i].path);
			dits_buf_printf(b, ",\"status\":\"%s\"}", status_word(l->v[i].status));
		} else {
			dits_buf_put_json_str(b, l->v[i].path);
		}
	}
	dits_buf_puts(b, "]");
}

static int cmd_status(int argc, char **argv)
{
	bool json = false;
	const cli_opt opts[] = { { "--json", NULL, NULL, &json }, { NULL, NULL, NULL, NULL } };
	int code = cli_no_args(argc, argv, opts, NULL);
	if (code)
		return code;
	dits_repo *r;
	if (open_repo(&r))
		return 1;
	dits_status st;
	int rc = dits_status_compute(r, &st);
	if (rc) {
		dits_repo_free(r);
		return fail(rc);
	}
	dits_buf proxies = DITS_BUF_INIT;
	dits_index idx = *st.idx; /* the index status compared: loaded once */
	cli_status_proxies(r, &idx, &proxies, json);
	/* Each file's working mode: listed in text only when some file is not a plain master. */
	{
		char *marks = calloc(idx.n + 1, 1);
		cli_mode_markers(r, &idx, marks);
		bool mixed = false;
		for (size_t i = 0; i < idx.n; i++)
			mixed = mixed || marks[i] != 'M';
		if (json) {
			dits_buf_puts(&proxies, ",\"modes\":[");
			for (size_t i = 0; i < idx.n; i++) {
				dits_buf_puts(&proxies, i ? ",{\"path\":" : "{\"path\":");
				dits_buf_put_json_str(&proxies, idx.e[i].path);
				dits_buf_printf(&proxies, ",\"worktree\":\"%s\"}", cli_marker_word(marks[i]));
			}
			dits_buf_puts(&proxies, "]");
		} else if (mixed) {
			dits_buf_puts(&proxies, "\nWorking files ([P] proxy, [M] master, [~] proxy pending, [!] proxy failed):\n");
			for (size_t i = 0; i < idx.n; i++)
				dits_buf_printf(&proxies, "\t[%c] %s\n", marks[i], idx.e[i].path);
		}
		free(marks);
	}
	dits_error_clear();
	dits_repo_free(r);
	bool clean = !st.staged.n && !st.unstaged.n && !st.untracked.n;
	if (json) {
		dits_buf b = DITS_BUF_INIT;
		char hex[DITS_ID_HEXLEN + 1];
		dits_id_hex(hex, &st.head);
		dits_buf_puts(&b, "{\"branch\":");
		if (st.branch)
			dits_buf_put_json_str(&b, st.branch);
		else
			dits_buf_puts(&b, "null");
		if (st.has_head)
			dits_buf_printf(&b, ",\"head\":\"%s\",", hex);
		else
			dits_buf_puts(&b, ",\"head\":null,");
		json_list(&b, "staged", &st.staged, true);
		dits_buf_puts(&b, ",");
		json_list(&b, "unstaged", &st.unstaged, true);
		dits_buf_puts(&b, ",");
		json_list(&b, "untracked", &st.untracked, false);
		dits_buf_printf(&b, ",\"clean\":%s", clean ? "true" : "false");
		dits_buf_put(&b, proxies.data, proxies.len);
		dits_buf_puts(&b, "}\n");
		fwrite(b.data, 1, b.len, stdout);
		dits_buf_free(&b);
	} else {
		if (st.branch)
			printf("On branch %s\n", st.branch);
		else
			printf("HEAD detached\n");
		if (!st.has_head)
			printf("\nNo commits yet\n");
		if (st.staged.n) {
			printf("\nChanges to be committed:\n");
			for (size_t i = 0; i < st.staged.n; i++)
				printf("\t%-10s %s\n", st.staged.v[i].status == 'A' ? "new file:" :
				       st.staged.v[i].status == 'D' ? "deleted:" : "modified:", st.staged.v[i].path);
		}
		if (st.unstaged.n) {
			printf("\nChanges not staged for commit:\n");
			for (size_t i = 0; i < st.unstaged.n; i++)
				printf("\t%-10s %s\n", st.unstaged.v[i].status == 'D' ? "deleted:" : "modified:",
				       st.unstaged.v[i].path);
		}
		if (st.untracked.n) {
			printf("\nUntracked files:\n");
			for (size_t i = 0; i < st.untracked.n; i++)
				printf("\t%s\n", st.untracked.v[i].path);
		}
		if (clean)
			printf("\nnothing to commit, working tree clean\n");
		fwrite(proxies.data ? (void *)proxies.data : (void *)"", 1, proxies.len, stdout);
	}
	dits_buf_free(&proxies);
	dits_status_free(&st);
	return 0;
}

/* ---- log / show ----------------------------------------------------- */

static void format_time(char *buf, size_t len, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M:%S +0000", &tm);
}

static int cmd_log(int argc, char **argv)
{
	bool oneline = false, json = false;
	const cli_opt opts[] = {
		{ "--oneline", NULL, NULL, &oneline },
		{ "--json", NULL, NULL, &json },
		{ NULL, NULL, NULL, NULL },
	};
	int n, code = cli_parse(argc, argv, opts, NULL, &n, NULL);
	if (code)
		return code;
	if (n > 1)
		return extra_arg(argv[2]);
	const char *rev = n ? argv[1] : "HEAD";
	dits_repo *r;
	if (open_repo(&r))
		return 1;
	dits_id id;
	int rc = dits_revparse(r, rev, &id);
	if (rc == DITS_ENOTFOUND && !strcmp(rev, "HEAD")) {
		dits_repo_free(r);
		if (json)
			printf("[]\n");
		else
			fprintf(stderr, "dits: your current branch has no commits yet\n");
		return json ? 0 : 1;
	}
	if (rc) {
		dits_repo_free(r);
		return fail(rc);
	}
	dits_buf out = DITS_BUF_INIT;
	if (json)
		dits_buf_puts(&out, "[");
	bool first = true;
	for (;;) {
		dits_commit c;
		if ((rc = dits_commit_read(dits_repo_odb(r), &id, &c)))
			break;
		char hex[DITS_ID_HEXLEN + 1], th[DITS_ID_HEXLEN + 1], when[64];
		dits_id_hex(hex, &id);
		dits_id_hex(th, &c.tree);
		format_time(when, sizeof when, c.committer.time);
		const char *nl = strchr(c.message, '\n');
		int sublen = nl ? (int)(nl - c.message) : (int)strlen(c.message);
		if (json) {
			if (!first)
				dits_buf_puts(&out, ",");
			dits_buf_printf(&out, "{\"id\":\"%s\",\"tree\":\"%s\",\"parents\":[", hex, th);
			for (size_t i = 0; i < c.nparents; i++) {
				char ph[DITS_ID_HEXLEN + 1];
				dits_id_hex(ph, &c.parents[i]);
				dits_buf_printf(&out, "%s\"%s\"", i ? "," : "", ph);
			}
			dits_buf_puts(&out, "],\"author\":");
			char *au = dits_strfmt("%s <%s>", c.author.name, c.author.email);
			dits_buf_put_json_str(&out, au ? au : "");
			free(au);
			dits_buf_puts(&out, ",\"committer\":");
			char *co = dits_strfmt("%s <%s>", c.committer.name, c.committer.email);
			dits_buf_put_json_str(&out, co ? co : "");
			free(co);
			cli_log_proxies(r, &id, &out, true);
			dits_buf_printf(&out, ",\"time\":%lld,\"message\":", (long long)c.committer.time);
			size_t ml = strlen(c.message);
			while (ml && c.message[ml - 1] == '\n')
				c.message[--ml] = '\0';
			dits_buf_put_json_str(&out, c.message);
			dits_buf_puts(&out, "}");
		} else if (oneline) {
			dits_buf_printf(&out, "%.12s %.*s\n", hex, sublen, c.message);
		} else {
			dits_buf_printf(&out, "commit %s\nAuthor: %s <%s>\nDate:   %s\n", hex, c.author.name,
			                c.author.email, when);
			cli_log_proxies(r, &id, &out, false);
			dits_buf_puts(&out, "\n");
			const char *p = c.message;
			while (*p) {
				const char *e = strchr(p, '\n');
				int l = e ? (int)(e - p) : (int)strlen(p);
				dits_buf_printf(&out, "    %.*s\n", l, p);
				p += l + (e ? 1 : 0);
			}
			dits_buf_puts(&out, "\n");
		}
		first = false;
		bool more = c.nparents > 0;
		if (more)
			id = c.parents[0];
		dits_commit_free(&c);
		if (!more)
			break;
	}
	if (json)
		dits_buf_puts(&out, "]\n");
	if (!rc)
		fwrite(out.data, 1, out.len, stdout);
	dits_buf_free(&out);
	dits_repo_free(r);
	return rc ? fail(rc) : 0;
}

static void print_diff_stat(const dits_diff *d)
{
	uint64_t tn = 0, tbn = 0, ts = 0, tbs = 0;
	for (size_t i = 0; i < d->n; i++) {
		const dits_diff_file *f = &d->v[i];
		char a[32], b[32], c[32], e[32];
		printf(" %c %s | %s -> %s | +%llu %s (%s) new, %llu %s (%s) shared\n", f->status, f->path,
		       cli_human_bytes(a, sizeof a, (double)f->old_size), cli_human_bytes(b, sizeof b, (double)f->new_size),
		       (unsigned long long)f->chunks_new, cli_plural(f->chunks_new, "chunk", "chunks"),
		       cli_human_bytes(c, sizeof c, (double)f->bytes_new), (unsigned long long)f->chunks_shared,
		       cli_plural(f->chunks_shared, "chunk", "chunks"), cli_human_bytes(e, sizeof e, (double)f->bytes_shared));
		tn += f->chunks_new;
		tbn += f->bytes_new;
		ts += f->chunks_shared;
		tbs += f->bytes_shared;
	}
	char c[32], e[32];
	printf(" %zu %s changed, %llu %s (%s) new, %llu %s (%s) shared\n", d->n, cli_plural(d->n, "file", "files"),
	       (unsigned long long)tn, cli_plural(tn, "chunk", "chunks"), cli_human_bytes(c, sizeof c, (double)tbn),
	       (unsigned long long)ts, cli_plural(ts, "chunk", "chunks"), cli_human_bytes(e, sizeof e, (double)tbs));
}

static int cmd_show(int argc, char **argv)
{
	int n, code = cli_parse(argc, argv, NULL, NULL, &n, NULL);
	if (code)
		return code;
	if (n > 1)
		return extra_arg(argv[2]);
	const char *rev = n ? argv[1] : "HEAD";
	dits_repo *r;
	if (open_repo(&r))
		return 1;
	dits_id id;
	dits_commit c;
	int rc = dits_revparse(r, rev, &id);
	if (!rc)
		rc = dits_commit_read(dits_repo_odb(r), &id, &c);
	if (rc) {
		dits_repo_free(r);
		return fail(rc);
	}
	char hex[DITS_ID_HEXLEN + 1], th[DITS_ID_HEXLEN + 1], when[64];
	dits_id_hex(hex, &id);
	dits_id_hex(th, &c.tree);
	format_time(when, sizeof when, c.committer.time);
	printf("commit %s\ntree   %s\n", hex, th);
	for (size_t i = 0; i < c.nparents; i++) {
		char ph[DITS_ID_HEXLEN + 1];
		dits_id_hex(ph, &c.parents[i]);
		printf("parent %s\n", ph);
	}
	printf("Author: %s <%s>\nDate:   %s\n\n", c.author.name, c.author.email, when);
	const char *p = c.message;
	while (*p) {
		const char *e = strchr(p, '\n');
		int l = e ? (int)(e - p) : (int)strlen(p);
		printf("    %.*s\n", l, p);
		p += l + (e ? 1 : 0);
	}
	printf("\n");
	dits_diff d;
	dits_id zero = { { 0 } };
	rc = dits_diff_compute(r, c.nparents ? &c.parents[0] : &zero, &id, &d);
	if (!rc) {
		print_diff_stat(&d);
		dits_diff_free(&d);
	}
	dits_commit_free(&c);
	dits_repo_free(r);
	return rc ? fail(rc) : 0;
}

static int cmd_diff(int argc, char **argv)
{
	bool stat = false; /* the only format: accepted for git's spelling */
	const cli_opt opts[] = { { "--stat", NULL, NULL, &stat }, { NULL, NULL, NULL, NULL } };
	int nrev, code = cli_parse(argc, argv, opts, NULL, &nrev, NULL);
	if (code)
		return code;
	if (nrev > 2)
		return cli_usage_error(NULL, "diff: at most two revisions");
	const char *revs[2] = { nrev > 0 ? argv[1] : NULL, nrev > 1 ? argv[2] : NULL };
	dits_repo *r;
	if (open_repo(&r))
		return 1;
	dits_id a = { { 0 } }, b;
	int rc = 0;
	if (nrev == 0) {
		rc = dits_revparse(r, "HEAD", &a);
		if (rc == DITS_ENOTFOUND) {
			memset(&a, 0, sizeof a);
			rc = 0;
		}
	} else {
		rc = dits_revparse(r, revs[0], &a);
	}
	if (!rc && nrev == 2)
		rc = dits_revparse(r, revs[1], &b);
	dits_diff d;
	if (!rc)
		rc = dits_diff_compute(r, &a, nrev == 2 ? &b : NULL, &d);
	dits_repo_free(r);
	if (rc)
		return fail(rc);
	print_diff_stat(&d);
	dits_diff_free(&d);
	return 0;
}

/* ---- checkout / branch / tag ---------------------------------------- */

#ifndef DITS_LEAN

/* "refs/heads/REV" (malloc'd) when REV names an existing branch, else NULL. */
static char *branch_ref_of(dits_repo *r, const char *rev)
{
	if (!dits_ref_name_valid(rev))
		return NULL;
	char *ref = dits_strfmt("refs/heads/%s", rev);
	dits_id id;
	if (ref && dits_ref_read(r, ref, &id) == 0)
		return ref;
	free(ref);
	dits_error_clear();
	return NULL;
}

static int cmd_checkout(int argc, char **argv)
{
	const char *newbranch = NULL, *mode = NULL, *variant = NULL;
	const cli_opt opts[] = {
		{ "--mode", NULL, &mode, NULL },
		{ "--variant", NULL, &variant, NULL },
		{ "-b", NULL, &newbranch, NULL },
		{ NULL, NULL, NULL, NULL },
	};
	int n, dd;
	int code = cli_parse(argc, argv, opts, NULL, &n, &dd);
	if (code)
		return code;
	if (mode && strcmp(mode, "proxy") && strcmp(mode, "master"))
		return cli_usage_error(NULL, "checkout: --mode is proxy or master, not '%s'", mode);
	/* argv[1..nbefore]: before "--" (a revision, or with --mode paths); the rest after it. */
	int nbefore = dd < 0 ? n : dd;
	const char *rev = nbefore ? argv[1] : NULL;
	if (nbefore > 1 && (!mode || dd >= 0))
		return cli_usage_error(NULL, "checkout: unexpected argument '%s' (paths go after --)", argv[2]);
	if (mode && newbranch)
		return cli_usage_error(NULL, "checkout: --mode does not go with -b");
	if (newbranch && dd >= 0)
		return cli_usage_error(NULL, "checkout: -b does not go with paths");
	if (dd >= 0 && !mode && dd == n)
		return cli_usage_error(NULL, "checkout: no paths after --");
	if (!mode && !newbranch && !rev)
		return cli_usage_error(NULL, "checkout: which revision or branch?");
	dits_repo *r;
	int orc = cli_repo_open(&r, "."); /* a partial clone fetches what it lacks */
	if (orc)
		return fail(orc);
	char **paths = dd >= 0 ? argv + 1 + dd : NULL;
	int np = dd >= 0 ? n - dd : 0;
	/* --mode with arguments and no --: every argument is a path unless the
	 * only one is a revision that is not also a file. */
	if (mode && rev && dd < 0) {
		struct stat bst;
		dits_id probe;
		bool is_rev = nbefore == 1 && stat(rev, &bst) < 0 && dits_revparse(r, rev, &probe) == 0;
		dits_error_clear();
		if (!is_rev) {
			paths = argv + 1;
			np = nbefore;
			rev = NULL;
		}
	}
	dits_progress p;
	cli_progress_init(&p);
	int rc = 0;
	dits_id id;
	if (mode) {
		/* Switch (or restore the paths from REV) first, then swap in place. */
		if (rev) {
			rc = dits_revparse(r, rev, &id);
			if (!rc && np) {
				rc = dits_fetch_for_paths(r, &id, paths, np, false, cli_fetch_report());
				if (!rc)
					rc = dits_checkout_paths(r, &id, (const char *const *)paths, (size_t)np, &p);
			} else if (!rc) {
				dits_id head;
				bool same = dits_ref_read(r, "HEAD", &head) == 0 && dits_id_eq(&head, &id);
				char *branch_ref = branch_ref_of(r, rev);
				if (!same || branch_ref)
					rc = dits_fetch_for_commit(r, &id, NULL, cli_fetch_report());
				if (!rc && (!same || branch_ref))
					rc = dits_checkout_commit(r, &id, branch_ref, &p);
				free(branch_ref);
			}
			if (rc) {
				dits_repo_free(r);
				return fail(rc);
			}
		}
		code = cli_checkout_mode(r, !strcmp(mode, "proxy"), variant, paths, np);
		dits_repo_free(r);
		return code;
	}
	if (dd >= 0) {
		if (rev)
			rc = dits_revparse(r, rev, &id);
		if (!rc)
			rc = dits_fetch_for_paths(r, rev ? &id : NULL, paths, np, false, cli_fetch_report());
		if (!rc)
			rc = dits_checkout_paths(r, rev ? &id : NULL, (const char *const *)paths, (size_t)np, &p);
		dits_repo_free(r);
		return rc ? fail(rc) : 0;
	}
	if (newbranch) {
		if (!dits_ref_name_valid(newbranch)) {
			dits_repo_free(r);
			dits_error_set(DITS_EINVALID, "'%s' is not a valid branch name", newbranch);
			return fail(DITS_EINVALID);
		}
		rc = dits_revparse(r, rev ? rev : "HEAD", &id);
		char *ref = dits_strfmt("refs/heads/%s", newbranch);
		dits_id zero = { { 0 } };
		if (!rc && rev)
			rc = dits_fetch_for_commit(r, &id, NULL, cli_fetch_report());
		if (!rc && rev)
			rc = dits_checkout_commit(r, &id, NULL, &p);
		if (!rc)
			rc = dits_ref_update(r, ref, &id, &zero, "branch: created");
		if (rc == DITS_ECONFLICT)
			rc = dits_error_set(DITS_EEXISTS, "branch '%s' already exists", newbranch);
		if (!rc)
			rc = dits_head_set_branch(r, ref);
		if (!rc)
			fprintf(stderr, "Switched to a new branch '%s'\n", newbranch);
		free(ref);
		dits_repo_free(r);
		return rc ? fail(rc) : 0;
	}
	char *branch_ref = branch_ref_of(r, rev);
	rc = dits_revparse(r, rev, &id);
	if (!rc)
		rc = dits_fetch_for_commit(r, &id, NULL, cli_fetch_report());
	if (!rc)
		rc = dits_checkout_commit(r, &id, branch_ref, &p);
	if (!rc) {
		if (branch_ref)
			fprintf(stderr, "Switched to branch '%s'\n", rev);
		else {
			char sh[13];
			short_hex(sh, &id);
			fprintf(stderr, "HEAD is now at %s (detached)\n", sh);
		}
	}
	free(branch_ref);
	dits_repo_free(r);
	return rc ? fail(rc) : 0;
}
#endif

typedef struct list_ctx {
	const char *current;
	size_t prefix_len;
} list_ctx;

static int print_ref(void *ctx, const char *ref, const dits_id *id)
{
	list_ctx *l = ctx;
	(void)id;
	bool cur = l->current && !strcmp(l->current, ref);
	printf("%s%s\n", l->current ? (cur ? "* " : "  ") : "", ref + l->prefix_len);
	return 0;
}

static int create_ref(const char *kind, const char *prefix, int argc, char **argv)
{
	int n, code = cli_parse(argc, argv, NULL, NULL, &n, NULL);
	if (code)
		return code;
	if (n > 2)
		return extra_arg(argv[3]);
	dits_repo *r;
	if (open_repo(&r))
		return 1;
	int rc;
	if (n < 1) {
		char *target = NULL;
		dits_head_target(r, &target);
		list_ctx l = { !strcmp(kind, "branch") ? (target ? target : "") : NULL, strlen(prefix) };
		rc = dits_refs_foreach(r, prefix, print_ref, &l);
		free(target);
		dits_repo_free(r);
		return rc ? fail(rc) : 0;
	}
	const char *name = argv[1];
	if (!dits_ref_name_valid(name)) {
		dits_repo_free(r);
		dits_error_set(DITS_EINVALID, "'%s' is not a valid %s name", name, kind);
		return fail(DITS_EINVALID);
	}
	dits_id id, zero = { { 0 } };
	rc = dits_revparse(r, n > 1 ? argv[2] : "HEAD", &id);
	char *ref = dits_strfmt("%s%s", prefix, name);
	if (!rc)
		rc = dits_ref_update(r, ref, &id, &zero, kind);
	if (rc == DITS_ECONFLICT)
		rc = dits_error_set(DITS_EEXISTS, "%s '%s' already exists", kind, name);
	free(ref);
	dits_repo_free(r);
	return rc ? fail(rc) : 0;
}

static int cmd_branch(int argc, char **argv) { return create_ref("branch", "refs/heads/", argc, argv); }
static int cmd_tag(int argc, char **argv) { return create_ref("tag", "refs/tags/", argc, argv); }

/* ---- ls-files / stats ----------------------------------------------- */

static int cmd_ls_files(int argc, char **argv)
{
	bool json = false;
	const cli_opt opts[] = { { "--json", NULL, NULL, &json }, { NULL, NULL, NULL, NULL } };
	int code = cli_no_args(argc, argv, opts, NULL);
	if (code)
		return code;
	dits_repo *r;
	if (open_repo(&r))
		return 1;
	dits_index idx;
	int rc = dits_index_load(r, &idx);
	if (rc) {
		dits_repo_free(r);
		return fail(rc);
	}
	char *marks = calloc(idx.n + 1, 1);
	cli_mode_markers(r, &idx, marks);
	dits_repo_free(r);
	dits_buf b = DITS_BUF_INIT;
	if (json)
		dits_buf_puts(&b, "[");
	for (size_t i = 0; i < idx.n; i++) {
		char hex[DITS_ID_HEXLEN + 1];
		dits_id_hex(hex, &idx.e[i].id);
		if (json) {
			dits_buf_puts(&b, i ? ",{\"path\":" : "{\"path\":");
			dits_buf_put_json_str(&b, idx.e[i].path);
			dits_buf_printf(&b, ",\"size\":%llu,\"mode\":\"%06o\",\"asset_id\":\"%s\",\"worktree\":\"%s\"}",
			                (unsigned long long)idx.e[i].size, idx.e[i].mode, hex, cli_marker_word(marks[i]));
		} else {
			dits_buf_printf(&b, "%06o %s %llu [%c]\t%s\n", idx.e[i].mode, hex, (unsigned long long)idx.e[i].size,
			                marks[i], idx.e[i].path);
		}
	}
	free(marks);
	if (json)
		dits_buf_puts(&b, "]\n");
	fwrite(b.data ? (void *)b.data : (void *)"", 1, b.len, stdout);
	dits_buf_free(&b);
	dits_index_free(&idx);
	return 0;
}

static int cmd_stats(int argc, char **argv)
{
	bool json = false;
	const cli_opt opts[] = { { "--json", NULL, NULL, &json }, { NULL, NULL, NULL, NULL } };
	int code = cli_no_args(argc, argv, opts, NULL);
	if (code)
		return code;
	dits_repo *r;
	if (open_repo(&r))
		return 1;
	dits_stats st;
	int rc = dits_stats_compute(r, &st);
	dits_repo_free(r);
	if (rc)
		return fail(rc);
	double ratio = st.chunk_bytes ? (double)st.logical_bytes / (double)st.chunk_bytes : 0;
	if (json) {
		printf("{\"logical_bytes\":%llu,\"stored_bytes\":%llu,\"chunk_bytes\":%llu,\"chunks\":%llu,"
		       "\"objects\":%llu,\"packs\":%llu,\"commits\":%llu,\"head_files\":%llu,\"head_bytes\":%llu,"
		       "\"dedup_ratio\":%.4f}\n",
		       (unsigned long long)st.logical_bytes, (unsigned long long)st.stored_bytes,
		       (unsigned long long)st.chunk_bytes, (unsigned long long)st.chunks,
		       (unsigned long long)st.objects, (unsigned long long)st.packs, (unsigned long long)st.commits,
		       (unsigned long long)st.head_files, (unsigned long long)st.head_bytes, ratio);
	} else {
		char a[32], b[32], c[32], d[32];
		printf("commits:        %llu\n", (unsigned long long)st.commits);
		printf("files in HEAD:  %llu (%s)\n", (unsigned long long)st.head_files,
		       cli_human_bytes(d, sizeof d, (double)st.head_bytes));
		printf("logical bytes:  %s (every committed version in full)\n",
		       cli_human_bytes(a, sizeof a, (double)st.logical_bytes));
		printf("chunk bytes:    %s in %llu unique %s\n", cli_human_bytes(b, sizeof b, (double)st.chunk_bytes),
		       (unsigned long long)st.chunks, cli_plural(st.chunks, "chunk", "chunks"));
		printf("stored bytes:   %s in %llu %s (%llu %s)\n", cli_human_bytes(c, sizeof c, (double)st.stored_bytes),
		       (unsigned long long)st.packs, cli_plural(st.packs, "pack", "packs"), (unsigned long long)st.objects,
		       cli_plural(st.objects, "record", "records"));
		printf("dedup ratio:    %.2fx\n", ratio);
	}
	return 0;
}

/* ---- fsck / gc ------------------------------------------------------ */

static void print_problem(void *ctx, const char *msg)
{
	(void)ctx;
	printf("error: %s\n", msg);
}

static void print_note(void *ctx, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "dits: note: %s\n", msg);
}

static int cmd_fsck(int argc, char **argv)
{
	/* Leftovers of killed commands are harmless; they are listed on request. */
	bool verbose = false;
	const cli_opt opts[] = { { "--verbose", "-v", NULL, &verbose }, { NULL, NULL, NULL, NULL } };
	int code = cli_no_args(argc, argv, opts, NULL);
	if (code)
		return code;
	dits_repo *r;
	if (open_repo(&r))
		return 1;
	uint64_t not_fetched = 0;
	long n = dits_fsck_partial(r, print_problem, verbose ? print_note : NULL, NULL, &not_fetched);
	dits_repo_free(r);
	if (not_fetched)
		fprintf(stderr, "dits: note: %llu chunk%s not fetched (partial clone): the remote has them\n",
		        (unsigned long long)not_fetched, not_fetched == 1 ? "" : "s");
	if (n < 0)
		return fail((int)n);
	if (n > 0) {
		fprintf(stderr, "dits: error: fsck found %ld problem%s\n", n, n == 1 ? "" : "s");
		return 1;
	}
	printf("ok\n");
	return 0;
}

static int cmd_gc(int argc, char **argv)
{
	const char *prune = NULL, *store = NULL, *cache_dir = NULL;
	const cli_opt opts[] = { { "--prune", NULL, &prune, NULL },
		                 { "--store", NULL, &store, NULL },
		                 { "--store-cache-dir", NULL, &cache_dir, NULL },
		                 { NULL, NULL, NULL, NULL } };
	int code = cli_no_args(argc, argv, opts, NULL);
	if (code)
		return code;
	if (cache_dir && !store)
		return cli_usage_error(NULL, "gc: --store-cache-dir needs --store");
	dits_repo *r;
	if (open_repo(&r))
		return 1;
	dits_gc_result res;
	int rc = 0;
#ifndef DITS_LEAN
	/* The packs of a server repository kept in a bucket (dits serve --store). */
	dits_s3_store *st = NULL;
	if (store)
		rc = dits_s3_store_attach(r, store, cache_dir, &st);
#endif
	if (!rc)
		rc = dits_gc(r, prune, &res);
	dits_repo_free(r);
#ifndef DITS_LEAN
	dits_s3_store_free(st);
#endif
	if (rc)
		return fail(rc);
	printf("removed %llu %s, %llu %s\n", (unsigned long long)res.removed_objects,
	       cli_plural(res.removed_objects, "object", "objects"), (unsigned long long)res.removed_bytes,
	       cli_plural(res.removed_bytes, "byte", "bytes"));
	if (res.packs_before != res.packs_after)
		fprintf(stderr, "repacked: %llu %s -> %llu\n", (unsigned long long)res.packs_before,
		        cli_plural(res.packs_before, "pack", "packs"), (unsigned long long)res.packs_after);
	return 0;
}

/* ---- hash / debug chunks -------------------------------------------- */

static int cmd_hash(int argc, char **argv)
{
	int nfiles, status = cli_parse(argc, argv, NULL, NULL, &nfiles, NULL);
	if (status)
		return status;
	if (nfiles == 0)
		return cli_usage_error(NULL, "hash: no file given");
	uint8_t *buf = malloc(1 << 20);
	if (!buf)
		return fail(dits_error_set(DITS_ENOMEM, "out of memory"));
	for (int i = 1; i <= nfiles; i++) {
		int fd = open(argv[i], O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			status = fail(dits_error_errno("%s", argv[i]));
			continue;
		}
		dits_hasher h;
		dits_hasher_init(&h);
		ssize_t n;
		while ((n = read(fd, buf, 1 << 20)) > 0)
			dits_hasher_update(&h, buf, (size_t)n);
		if (n < 0) {
			status = fail(dits_error_errno("%s: read failed", argv[i]));
			close(fd);
			continue;
		}
		close(fd);
		dits_id id;
		char hex[DITS_ID_HEXLEN + 1];
		dits_hasher_final(&h, &id);
		dits_id_hex(hex, &id);
		printf("%s  %s\n", hex, argv[i]);
	}
	free(buf);
	return status;
}

static int cmd_debug(int argc, char **argv)
{
	const char *val[5] = { NULL, NULL, NULL, NULL, NULL };
	const cli_opt opts[] = {
		{ "--min", NULL, &val[0], NULL },
		{ "--avg", NULL, &val[1], NULL },
		{ "--max", NULL, &val[2], NULL },
		{ "--level", NULL, &val[3], NULL },
		{ "--seed", NULL, &val[4], NULL },
		{ NULL, NULL, NULL, NULL },
	};
	int npos, code = cli_parse(argc, argv, opts, NULL, &npos, NULL);
	if (code)
		return code;
	if (npos < 1 || strcmp(argv[1], "chunks"))
		return cli_usage_error(NULL, "debug: the only debug command is 'chunks'");
	if (npos < 2)
		return cli_usage_error(NULL, "debug chunks: no file given");
	if (npos > 2)
		return extra_arg(argv[3]);
	const char *file = argv[2];
	dits_chunker_params p;
	dits_chunker_params_default(&p);
	dits_repo *r = NULL;
	if (dits_repo_open(&r, ".") == 0) {
		p = *dits_repo_chunker_params(r);
		dits_repo_free(r);
	}
	dits_error_clear();
	for (int i = 0; i < 5; i++) {
		uint64_t v;
		if (!val[i])
			continue;
		if (parse_u64(val[i], &v) || (i < 4 && v > UINT32_MAX))
			return cli_usage_error(NULL, "debug chunks: %s needs a number, not '%s'", opts[i].name, val[i]);
		if (i == 0)
			p.min = (uint32_t)v;
		else if (i == 1)
			p.avg = (uint32_t)v;
		else if (i == 2)
			p.max = (uint32_t)v;
		else if (i == 3)
			p.level = (uint32_t)v;
		else
			p.seed = v;
	}
	dits_chunker c;
	int rc = dits_chunker_init(&c, &p);
	if (rc)
		return fail(rc);
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(dits_error_errno("%s", file));
	/* A window of two maximum chunks is enough to find every cut. */
	size_t cap = 2 * c.max + (1 << 20);
	uint8_t *buf = malloc(cap);
	size_t len = 0;
	uint64_t offset = 0;
	bool eof = false;
	if (!buf) {
		close(fd);
		return fail(dits_error_set(DITS_ENOMEM, "out of memory"));
	}
	for (;;) {
		while (!eof && len < cap) {
			ssize_t n = read(fd, buf + len, cap - len);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				rc = dits_error_errno("%s: read failed", file);
				break;
			}
			if (n == 0)
				eof = true;
			len += (size_t)n;
		}
		if (rc || len == 0)
			break;
		size_t pos = 0;
		while (pos < len && (eof || len - pos >= c.max)) {
			uint64_t gear;
			size_t n = dits_chunker_cut(&c, buf + pos, len - pos, &gear);
			dits_id id;
			char hex[DITS_ID_HEXLEN + 1];
			dits_hash_buf(&id, buf + pos, n);
			dits_id_hex(hex, &id);
			printf("%llu %zu %llu %s\n", (unsigned long long)(offset + pos), n, (unsigned long long)gear, hex);
			pos += n;
		}
		memmove(buf, buf + pos, len - pos);
		len -= pos;
		offset += pos;
		if (eof && len == 0)
			break;
	}
	free(buf);
	close(fd);
	return rc ? fail(rc) : 0;
}

/* ---- dispatch ------------------------------------------------------- */

typedef struct command {
	const char *name;
	int (*fn)(int, char **);
	const char *usage; /* the synopsis, after "dits " */
	const char *what;
} command;

static int cmd_help(int argc, char **argv);

/*
 * The lean dits (DITS_LEAN, installed as `dits`) links only the core and the
 * queue, so the commands run most often (status, add, commit, log ...) start
 * without loading libcurl, GnuTLS, libmicrohttpd and FUSE. The commands that
 * reach a remote or FUSE have no function here (NET() is NULL): main() hands
 * them to dits-net, installed beside it, which is this program with the
 * network and mount layers linked in.
 */
#ifdef DITS_LEAN
#define NET(fn) NULL
#else
#define NET(fn) fn
#endif

static const command commands[] = {
	{ "init", cmd_init, "init [DIR] [--chunk-min N] [--chunk-avg N] [--chunk-max N]", "create a repository" },
	{ "add", cmd_add, "add [--] PATH...", "stage files (directories recurse, .ditsignore honoured)" },
	{ "rm", cmd_rm, "rm [--cached] [--] PATH...", "stop tracking (and delete) files" },
	{ "commit", cmd_commit, "commit -m MSG [--allow-empty]", "record the staged tree" },
	{ "status", cmd_status, "status [--json]", "staged, unstaged and untracked changes" },
	{ "log", cmd_log, "log [--oneline] [--json] [REV]", "history" },
	{ "show", cmd_show, "show [REV]", "a commit and what it changed" },
	{ "diff", cmd_diff, "diff [--stat] [REV [REV]]", "bytes and chunks added and shared per file" },
	{ "checkout", NET(cmd_checkout),
	  "checkout REV | -b NAME [REV] | [REV] -- PATH... | [REV] --mode proxy|master [--variant TYPE] [[--] PATH...]",
	  "switch the worktree, restore paths, or swap proxies and masters" },
	{ "branch", cmd_branch, "branch [NAME [REV]]", "list or create branches" },
	{ "tag", cmd_tag, "tag [NAME [REV]]", "list or create tags" },
	{ "ls-files", cmd_ls_files, "ls-files [--json]", "the index: mode, asset id, size, path" },
	{ "stats", cmd_stats, "stats [--json]", "logical and stored bytes, chunks, dedup ratio" },
	{ "fsck", cmd_fsck, "fsck [-v]", "verify every stored byte and reference (-v: list leftovers of killed commands)" },
	{ "gc", cmd_gc, "gc [--prune=WHEN] [--store s3://BUCKET/PREFIX [--store-cache-dir DIR]]", "remove unreachable chunks and objects older than WHEN (gc.pruneExpire, 2.weeks.ago; now)" },
	{ "hash", cmd_hash, "hash [--] FILE...", "BLAKE3 of files (b3sum's format)" },
	{ "debug", cmd_debug, "debug chunks FILE [--min N] [--avg N] [--max N] [--level L] [--seed S]", "FastCDC cut points" },
	{ "config", cmd_config, "config KEY [VALUE] | config --unset KEY | config --list",
	  "repository settings (proxy.auto, proxy.profile, proxy.lut.GLOB ...)" },
	{ "proxy", cmd_proxy, "proxy status|generate|wait|retry|export|verify|handoff ...", "the Hologram layer's proxies" },
	{ "render", cmd_render, "render TIMELINE [--target 4k_master|8k_master|source|WxH] [--codec C] [--rev REV] [--out PATH] [--rate FPS] [--verify] [--verify-only FILE] [--strict] [--json] [--remote NAME [--detach]] | render status [ID] [--remote NAME] [--json]",
	  "conform an EDL, FCP7 XML, FCPXML or OTIO edit from the masters (here or on a server)" },
	{ "mount", NET(cmd_mount), "mount [MOUNTPOINT [--mode proxy|master] [--variant TYPE] [--foreground] [REV]]",
	  "serve a commit read-only through FUSE (no argument: list mounts)" },
	{ "umount", NET(cmd_umount), "umount [--lazy] MOUNTPOINT", "unmount a Dits mount" },
	{ "mode", NET(cmd_mode), "mode [--json] [PATH...] | mode proxy|master [--variant TYPE] [--] [PATH...]",
	  "list or switch what each working file holds" },
	{ "fetch-proxy", NET(cmd_fetch_proxy), "fetch-proxy [--wait [--timeout SECS]] [--checkout] [--] PATH...",
	  "get ready proxies from the remote, or make them here (and switch to them)" },
	{ "serve", NET(cmd_serve),
	  "serve [--listen ADDR:PORT] [--root DIR] [--workers N] [--auth FILE] [--tls-cert FILE --tls-key FILE] [--pid-file FILE]"
	  " [--max-connections N] [--max-per-client N] [--header-timeout SECS] [--idle-timeout SECS]"
	  " [--store s3://BUCKET/PREFIX [--store-cache SIZE] [--store-cache-dir DIR] [--db postgres://...]]",
	  "serve repositories over HTTP" },
	{ "worker", cmd_worker,
	  "worker [--once|--drain] [--jobs N] | worker --root DIR [--workers N] [--once] [--lease SECS] [--json]"
	  " [--store s3://BUCKET/PREFIX [--store-cache SIZE] [--store-cache-dir DIR] [--db postgres://...]]",
	  "run proxy jobs in the foreground (--root: a server's repositories, without HTTP)" },
	{ "remote", NET(cmd_remote), "remote [-v] | remote add NAME URL | remote remove NAME",
	  "the servers this repository syncs with" },
	{ "push", NET(cmd_push), "push [REMOTE] [BRANCH] [--force] [--json] [--jobs N] [--limit-rate R]", "send a branch to a remote" },
	{ "fetch", NET(cmd_fetch), "fetch [REMOTE] [--json] [--jobs N] [--limit-rate R]",
	  "get a remote's branches, tags and ready variants" },
	{ "pull", NET(cmd_pull), "pull [REMOTE] [BRANCH] [--json] [--jobs N] [--limit-rate R]",
	  "fetch, then fast-forward the current branch" },
	{ "clone", NET(cmd_clone), "clone URL DIR [--mode proxy|master] [--json] [--jobs N] [--limit-rate R]",
	  "copy a remote repository (proxy: a partial clone with proxies)" },
	{ "help", cmd_help, "help", "this list" },
};

static int cmd_help(int argc, char **argv)
{
	if (argc > 1) {
		int code = cli_no_args(argc, argv, NULL, NULL);
		if (code)
			return code;
	}
	printf("usage: dits COMMAND [ARGS]\n\nversion control for large media\n\n");
	for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
		if (strlen(commands[i].usage) <= 27)
			printf("  %-27s %s\n", commands[i].usage, commands[i].what);
		else
			printf("  %s\n  %-27s %s\n", commands[i].usage, "", commands[i].what);
	return 0;
}

#ifndef DITS_WITH_MEDIA
/* The commands that transcode (and proxy handoff, which reads media headers) run in dits-media. */
static bool needs_media(int argc, char **argv)
{
	return !strcmp(argv[1], "worker") || !strcmp(argv[1], "fetch-proxy") || !strcmp(argv[1], "serve") ||
	       !strcmp(argv[1], "render") ||
	       (!strcmp(argv[1], "proxy") && argc > 2 && (!strcmp(argv[2], "generate") || !strcmp(argv[2], "verify") ||
	                                               !strcmp(argv[2], "handoff")));
}
#endif

/* Runs argv in the program named sibling, installed beside this one. */
static int exec_sibling(char **argv, const char *sibling)
{
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 16);
	if (n <= 0) {
		fprintf(stderr, "dits: error: cannot find this program's path to start %s\n", sibling);
		return 1;
	}
	self[n] = '\0';
	char *slash = strrchr(self, '/');
	snprintf(slash ? slash + 1 : self, sizeof self - (size_t)(slash ? slash + 1 - self : 0), "%s", sibling);
	argv[0] = self;
	execv(self, argv);
	fprintf(stderr, "dits: error: %s: cannot start it (%s); it is installed with dits\n", self, strerror(errno));
	return 1;
}

int main(int argc, char **argv)
{
#ifndef DITS_WITH_MEDIA
	if (argc > 1 && needs_media(argc, argv))
		return exec_sibling(argv, "dits-media");
#endif
#ifdef DITS_LEAN
	/* gc of packs in a bucket needs the S3 client. */
	for (int i = 2; argc > 2 && !strcmp(argv[1], "gc") && i < argc; i++)
		if (!strncmp(argv[i], "--store", 7))
			return exec_sibling(argv, "dits-net");
#endif
	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN); /* a file size limit becomes EFBIG, reported as an error */
	if (argc < 2)
		return cmd_help(0, NULL), EXIT_USAGE;
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("dits 0.1.0\n");
		return 0;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
		return cmd_help(0, NULL);
	for (size_t i = 0; i < sizeof commands / sizeof *commands; i++) {
		if (!strcmp(argv[1], commands[i].name)) {
			if (!commands[i].fn)
				return exec_sibling(argv, "dits-net");
			char *usage = dits_strfmt("dits %s", commands[i].usage);
			if (usage)
				cli_cmd_usage = usage;
			int rc = commands[i].fn(argc - 1, argv + 1);
			free(usage);
			if (fflush(stdout) != 0 || ferror(stdout)) {
				if (errno != EPIPE) {
					fprintf(stderr, "dits: error: writing output: %s\n", strerror(errno));
					return 1;
				}
			}
			return rc;
		}
	}
	fprintf(stderr, "dits: '%s' is not a dits command (see 'dits help')\n", argv[1]);
	return EXIT_USAGE;
}
