/*
 * cmd_mount.c - `dits mount`, `dits umount`, and `dits mode` on a mounted
 * tree. The work is done by src/mount (mount.h); this file parses and prints.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "buf.h"
#include "commands.h"
#include "error.h"
#include "hash.h"
#include "mount.h"
#include "mount_cmds.h"
#include "repo.h"
#include "worktree.h"

static int mount_fail(void)
{
	const char *msg = dits_error_last();
	fprintf(stderr, "dits: error: %s\n", *msg ? msg : "failed");
	return 1;
}

static int list_mounts(void)
{
	dits_repo *r;
	int rc = dits_repo_open(&r, ".");
	if (rc)
		return mount_fail();
	dits_mount_record *list;
	size_t n;
	rc = dits_mount_list(r, &list, &n);
	dits_repo_free(r);
	if (rc)
		return mount_fail();
	for (size_t i = 0; i < n; i++)
		printf("%s\t%.12s\tpid %ld\n", list[i].mountpoint, list[i].rev ? list[i].rev : "",
		       (long)list[i].pid);
	dits_mount_list_free(list, n);
	return 0;
}

int cmd_mount(int argc, char **argv)
{
	dits_mount_opts o;
	memset(&o, 0, sizeof o);
	const char *mode = NULL, *variant = NULL;
	bool foreground = false;
	const cli_opt opts[] = {
		{ "--mode", NULL, &mode, NULL },
		{ "--variant", NULL, &variant, NULL },
		{ "--foreground", "-f", NULL, &foreground },
		{ NULL, NULL, NULL, NULL },
	};
	int npos, code = cli_parse(argc, argv, opts, NULL, &npos, NULL);
	if (code)
		return code;
	if (mode && strcmp(mode, "proxy") && strcmp(mode, "master"))
		return cli_usage_error(NULL, "mount: --mode must be proxy or master, not '%s'", mode);
	if (npos > 2)
		return cli_usage_error(NULL, "unexpected argument '%s'", argv[3]);
	if (npos == 0 && (mode || variant || foreground))
		return cli_usage_error(NULL, "mount: which MOUNTPOINT?");
	o.proxy = mode && !strcmp(mode, "proxy");
	o.variant = variant;
	o.foreground = foreground;
	const char *pos[2] = { npos > 0 ? argv[1] : NULL, npos > 1 ? argv[2] : NULL };
	if (npos == 0)
		return list_mounts();
	o.mountpoint = pos[0];
	o.rev = pos[1];

	if (dits_mount_fuse_available())
		return mount_fail();
	dits_repo *r;
	if (dits_repo_open(&r, "."))
		return mount_fail();
	dits_mount *m;
	if (dits_mount_new(&m, r, &o)) {
		dits_repo_free(r);
		return mount_fail();
	}
	size_t files, proxies;
	dits_mount_counts(m, &files, &proxies);
	if (o.foreground) {
		printf("serving %s at %s (%zu %s, %zu with a ready proxy; mode %s); Ctrl-C or "
		       "'dits umount %s' ends it\n",
		       o.rev ? o.rev : "HEAD", dits_mount_point(m), files, cli_plural(files, "file", "files"), proxies,
		       o.proxy ? "proxy" : "master", dits_mount_point(m));
		fflush(stdout);
	}
	pid_t pid;
	int rc = dits_mount_serve(m, &pid);
	if (!rc && !o.foreground)
		printf("mounted %s at %s (%zu %s, %zu with a ready proxy; mode %s; server pid %ld)\n",
		       o.rev ? o.rev : "HEAD", dits_mount_point(m), files, cli_plural(files, "file", "files"), proxies,
		       o.proxy ? "proxy" : "master", (long)pid);
	if (rc)
		rc = mount_fail();
	dits_mount_free(m);
	dits_repo_free(r);
	return rc;
}

int cmd_umount(int argc, char **argv)
{
	bool lazy = false;
	const cli_opt opts[] = { { "--lazy", "-l", NULL, &lazy }, { NULL, NULL, NULL, NULL } };
	int n, code = cli_parse(argc, argv, opts, NULL, &n, NULL);
	if (code)
		return code;
	if (n != 1)
		return n ? cli_usage_error(NULL, "unexpected argument '%s'", argv[2])
		         : cli_usage_error(NULL, "umount: which MOUNTPOINT?");
	const char *mp = argv[1];
	if (dits_umount(mp, lazy))
		return mount_fail();
	return 0;
}

/* ---- dits mode inside a mount ------------------------------------------- */

static const char *mode_word(char c)
{
	return c == 'P' ? "proxy" : c == 'M' ? "master" : "pending";
}

/* True when path (relative to the root) lies under one of rels ("" = all). */
static bool under_any(const char *path, char **rels, size_t n)
{
	if (n == 0)
		return true;
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(rels[i]);
		if (!l || (!strncmp(path, rels[i], l) && (path[l] == '\0' || path[l] == '/')))
			return true;
	}
	return false;
}

static int print_modes(const char *root, char **rels, size_t n, bool json, bool only_pending)
{
	dits_buf b = DITS_BUF_INIT;
	if (dits_mount_control_list(root, &b)) {
		dits_buf_free(&b);
		return mount_fail();
	}
	dits_buf out = DITS_BUF_INIT;
	int rc = json ? dits_buf_puts(&out, "[") : 0;
	bool first = true;
	char *s = (char *)b.data;
	for (char *line = s; !rc && line && *line;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		if (strlen(line) > 2 && line[1] == ' ' && under_any(line + 2, rels, n) &&
		    (!only_pending || line[0] == '~')) {
			if (only_pending) {
				rc = dits_buf_printf(&out, "[~] %s: no ready proxy, serving the master\n",
				                     line + 2);
			} else if (json) {
				rc = dits_buf_puts(&out, first ? "{\"path\":" : ",{\"path\":");
				rc = rc ? rc : dits_buf_put_json_str(&out, line + 2);
				rc = rc ? rc : dits_buf_printf(&out, ",\"mode\":\"%s\"}", mode_word(line[0]));
			} else {
				rc = dits_buf_printf(&out, "[%c] %s\n", line[0], line + 2);
			}
			first = false;
		}
		line = nl ? nl + 1 : NULL;
	}
	if (!rc && json)
		rc = dits_buf_puts(&out, "]\n");
	if (!rc && out.len)
		fwrite(out.data, 1, out.len, stdout);
	dits_buf_free(&out);
	dits_buf_free(&b);
	if (rc) {
		fprintf(stderr, "dits: error: out of memory\n");
		return 1;
	}
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Before files of the mount at root switch to their masters: fetches the
 * masters a partial clone lacks of those now served as proxies (the mount
 * refuses content whose chunks are not here). Prints the error, naming the
 * file, and returns 1 when one cannot be fetched: nothing is switched then.
 */
static int fetch_masters(const char *root, char **rels, size_t n)
{
	char *workdir = NULL, *rev = NULL;
	dits_repo *r = NULL;
	dits_flat flat = { 0 };
	dits_buf listing = DITS_BUF_INIT;
	char **proxied = NULL;
	size_t nproxied = 0;
	dits_id commit;
	/* the files served as proxies now, from the control file's "P PATH" lines */
	int rc = dits_mount_control_list(root, &listing);
	if (!rc)
		rc = dits_buf_cstr(&listing);
	if (!rc && !(proxied = calloc(listing.len / 3 + 1, sizeof *proxied)))
		rc = dits_error_set(DITS_ENOMEM, "out of memory");
	for (char *line = rc ? NULL : (char *)listing.data; line && *line;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		if (line[0] == 'P' && line[1] == ' ' && line[2])
			proxied[nproxied++] = line + 2;
		line = nl ? nl + 1 : NULL;
	}
	if (!nproxied) {
		free(proxied);
		dits_buf_free(&listing);
		return rc ? mount_fail() : 0;
	}
	qsort(proxied, nproxied, sizeof *proxied, cmp_str);
	rc = dits_mount_source(root, &workdir, &rev);
	if (!rc)
		rc = dits_repo_open(&r, workdir);
	if (!rc && dits_id_from_hex(&commit, rev))
		rc = dits_error_set(DITS_ECORRUPT, "%s: the mount's record names no commit", root);
	if (!rc)
		rc = dits_flat_from_commit(r, &commit, &flat);
	dits_id *ids = rc ? NULL : calloc(flat.n + 1, sizeof *ids);
	char **names = rc ? NULL : calloc(flat.n + 1, sizeof *names);
	size_t k = 0;
	if (!rc && (!ids || !names))
		rc = dits_error_set(DITS_ENOMEM, "out of memory");
	for (size_t i = 0; !rc && i < flat.n; i++) {
		char *path = flat.e[i].path;
		if (!under_any(path, rels, n) || !bsearch(&path, proxied, nproxied, sizeof *proxied, cmp_str))
			continue;
		ids[k] = flat.e[i].id;
		names[k++] = path;
	}
	if (!rc && k)
		rc = dits_fetch_masters_of(r, ids, names, k, cli_fetch_report());
	free(ids);
	free(names);
	dits_flat_free(&flat);
	if (r)
		dits_repo_free(r);
	free(workdir);
	free(rev);
	free(proxied);
	dits_buf_free(&listing);
	return rc ? mount_fail() : 0;
}

int cli_mode_in_mount(bool set, bool proxy, bool json, const char *variant, char **paths, int npaths,
                      int *exit_code)
{
	size_t np = npaths > 0 ? (size_t)npaths : 0;
	char *root = NULL;
	if (dits_mount_find_root(np ? paths[0] : ".", &root, NULL) || !root) {
		dits_error_clear();
		return 0; /* not inside a mount: the worktree's `dits mode` goes on */
	}
	int rc = 0;
	char **rels = calloc(np + 1, sizeof *rels);
	if (!rels) {
		fprintf(stderr, "dits: error: out of memory\n");
		rc = 1;
	}
	if (!rc && variant) {
		fprintf(stderr, "dits: error: %s: a mount serves the variant chosen at mount time "
		                "(dits mount --variant)\n", root);
		rc = 1;
	}
	for (size_t k = 0; !rc && k < np; k++) {
		char *r2 = NULL, *rel = NULL;
		if (dits_mount_find_root(paths[k], &r2, &rel) || !r2 || strcmp(r2, root)) {
			fprintf(stderr, "dits: error: %s: not inside the mount at %s\n", paths[k], root);
			rc = 1;
		} else {
			struct stat st;
			if (stat(paths[k], &st)) {
				fprintf(stderr, "dits: error: %s: %s\n", paths[k],
				        errno == ENOENT ? "no such file in the mounted tree" : strerror(errno));
				rc = 1;
			}
		}
		rels[k] = rel;
		free(r2);
	}
	if (!rc && set && !proxy)
		rc = fetch_masters(root, rels, np);
	if (!rc && set) {
		if (dits_mount_control_set(root, proxy, (const char *const *)rels, np)) {
			rc = mount_fail();
		} else if (proxy) {
			/* say which files have no ready proxy and serve the master */
			rc = print_modes(root, rels, np, false, true);
		}
	} else if (!rc) {
		rc = print_modes(root, rels, np, json, false);
	}
	for (size_t k = 0; k < np; k++)
		free(rels[k]);
	free(rels);
	free(root);
	*exit_code = rc;
	return 1;
}
