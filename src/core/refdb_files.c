/*
 * refdb_files.c - the files backend of refdb_backend.h, the default: a ref
 * is a file under `.dits` holding a commit id in hex, HEAD holds either
 * "ref: refs/heads/NAME" or a commit id, and every change appends a line to
 * the ref's reflog (`.dits/logs/<ref>`). Updates are compare-and-swap under
 * the repository lock (repo.h): the new value is written to a temporary
 * file, fsynced and renamed.
 */
#include "refdb_backend.h"
#include "repo_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "error.h"
#include "fsutil.h"
#include "object.h"

static int read_ref_file(dits_repo *r, const char *ref, dits_buf *b)
{
	char *path = dits_repo_path(r, ref);
	if (!path)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	int rc = dits_read_file(path, b);
	free(path);
	return rc;
}

static int files_read(dits_refdb *db, const char *ref, dits_id *out)
{
	dits_repo *r = db->repo;
	char *path = dits_repo_path(r, ref);
	if (!path)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	/* Only a regular file is a ref: "refs/heads" is a directory. */
	struct stat st;
	int rc = 0;
	if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
		rc = DITS_ENOTFOUND;
	free(path);
	if (rc)
		return rc;
	dits_buf b = DITS_BUF_INIT;
	rc = read_ref_file(r, ref, &b);
	if (!rc && (b.len < DITS_ID_HEXLEN || dits_id_from_hex(out, (char *)b.data)))
		rc = dits_error_set(DITS_ECORRUPT, "%s/%s: ref does not hold a commit id", r->dir, ref);
	dits_buf_free(&b);
	return rc;
}

static int files_head(dits_refdb *db, char **target, dits_id *id)
{
	*target = NULL;
	dits_repo *r = db->repo;
	dits_buf b = DITS_BUF_INIT;
	int rc = read_ref_file(r, "HEAD", &b);
	if (!rc)
		rc = dits_buf_cstr(&b);
	if (rc) {
		dits_buf_free(&b);
		return rc;
	}
	char *s = (char *)b.data;
	if (!strncmp(s, "ref: ", 5)) {
		char *nl = strchr(s, '\n');
		if (nl)
			*nl = '\0';
		*target = strdup(s + 5);
		rc = *target ? 0 : dits_error_set(DITS_ENOMEM, "out of memory");
	} else if (b.len < DITS_ID_HEXLEN || dits_id_from_hex(id, s)) {
		rc = dits_error_set(DITS_ECORRUPT, "%s/HEAD: neither a ref nor a commit id", r->dir);
	}
	dits_buf_free(&b);
	return rc;
}

int refdb_who(char **out)
{
	dits_signature sig;
	int rc = dits_signature_default(&sig, NULL, NULL);
	if (rc)
		return rc;
	*out = dits_strfmt("%s <%s>", sig.name, sig.email);
	dits_signature_free(&sig);
	return *out ? 0 : dits_error_set(DITS_ENOMEM, "out of memory");
}

static int append_reflog(dits_repo *r, const char *ref, const dits_id *old, const dits_id *new_id,
                         const char *msg)
{
	char *path = dits_strfmt("%s/logs/%s", r->dir, ref);
	if (!path)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	char *slash = strrchr(path, '/');
	*slash = '\0';
	int rc = dits_mkdir_p(path, 0755);
	*slash = '/';
	if (rc) {
		free(path);
		return rc;
	}
	dits_signature sig;
	if ((rc = dits_signature_default(&sig, NULL, NULL))) {
		free(path);
		return rc;
	}
	char ho[DITS_ID_HEXLEN + 1], hn[DITS_ID_HEXLEN + 1];
	dits_id zero = { { 0 } };
	dits_id_hex(ho, old ? old : &zero);
	dits_id_hex(hn, new_id);
	dits_buf line = DITS_BUF_INIT;
	dits_buf_printf(&line, "%s %s %s <%s> %lld +0000\t", ho, hn, sig.name, sig.email, (long long)time(NULL));
	for (const char *p = msg ? msg : ""; *p && *p != '\n'; p++)
		dits_buf_put_u8(&line, (uint8_t)*p);
	dits_buf_put_u8(&line, '\n');
	dits_signature_free(&sig);
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = dits_error_errno("%s", path);
	} else {
		rc = dits_write_all(fd, line.data, line.len, path);
		if (!rc && fsync(fd) < 0)
			rc = dits_error_errno("%s: fsync failed", path);
		close(fd);
	}
	dits_buf_free(&line);
	free(path);
	return rc;
}

static int check_expected(const char *ref, const dits_id *expected, const dits_id *cur, bool exists)
{
	if (!expected)
		return 0;
	bool want_absent = dits_id_is_zero(expected);
	if (want_absent ? exists : (!exists || !dits_id_eq(cur, expected)))
		return dits_error_set(DITS_ECONFLICT, "%s: changed by another process (compare-and-swap failed)", ref);
	return 0;
}

/*
 * What an update and a removal do first: take the repository's lock, read
 * the ref's current value under it (*exists false when absent) and check
 * that value against expected (check_expected).
 */
static int lock_current(dits_refdb *db, const char *ref, const dits_id *expected, dits_id *cur, bool *exists)
{
	int rc = dits_repo_lock(db->repo);
	if (rc)
		return rc;
	*exists = false;
	rc = files_read(db, ref, cur);
	if (rc == DITS_ENOTFOUND) {
		dits_error_clear();
		rc = 0;
	} else if (!rc) {
		*exists = true;
	}
	return rc ? rc : check_expected(ref, expected, cur, *exists);
}

static int files_update(dits_refdb *db, const char *ref, const dits_id *new_id, const dits_id *expected,
                        const char *log_msg)
{
	dits_repo *r = db->repo;
	dits_id cur;
	bool exists;
	int rc = lock_current(db, ref, expected, &cur, &exists);
	if (rc)
		return rc;
	char *path = dits_repo_path(r, ref);
	if (!path)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	char *slash = strrchr(path, '/');
	*slash = '\0';
	rc = dits_mkdir_p(path, 0755);
	*slash = '/';
	char hex[DITS_ID_HEXLEN + 2];
	dits_id_hex(hex, new_id);
	hex[DITS_ID_HEXLEN] = '\n';
	if (!rc)
		rc = dits_atomic_write(path, hex, DITS_ID_HEXLEN + 1);
	free(path);
	if (!rc)
		rc = append_reflog(r, ref, exists ? &cur : NULL, new_id, log_msg);
	return rc;
}

static int files_remove(dits_refdb *db, const char *ref, const dits_id *expected)
{
	dits_id cur;
	bool exists;
	int rc = lock_current(db, ref, expected, &cur, &exists);
	if (rc || !exists)
		return rc;
	char *path = dits_repo_path(db->repo, ref);
	if (!path)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	if (unlink(path) < 0 && errno != ENOENT)
		rc = dits_error_errno("%s", path);
	free(path);
	return rc;
}

static int files_set_head(dits_refdb *db, const char *target, const dits_id *id, const char *log_msg)
{
	dits_repo *r = db->repo;
	int rc = dits_repo_lock(r);
	if (rc)
		return rc;
	char *path = dits_repo_path(r, "HEAD");
	if (!path)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	if (target) {
		char *content = dits_strfmt("ref: %s\n", target);
		rc = content ? dits_atomic_write(path, content, strlen(content))
		             : dits_error_set(DITS_ENOMEM, "out of memory");
		free(content);
		free(path);
		return rc;
	}
	dits_id old;
	bool had = dits_ref_read(r, "HEAD", &old) == 0;
	dits_error_clear();
	char hex[DITS_ID_HEXLEN + 2];
	dits_id_hex(hex, id);
	hex[DITS_ID_HEXLEN] = '\n';
	rc = dits_atomic_write(path, hex, DITS_ID_HEXLEN + 1);
	free(path);
	if (!rc)
		rc = append_reflog(r, "HEAD", had ? &old : NULL, id, log_msg);
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int collect_refs(const char *dir, const char *prefix, char ***names, size_t *n, size_t *cap)
{
	DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : dits_error_errno("%s", dir);
	struct dirent *e;
	int rc = 0;
	while ((e = readdir(d)) && !rc) {
		if (e->d_name[0] == '.' || strstr(e->d_name, ".tmp-"))
			continue;
		char *full = dits_path_join(dir, e->d_name);
		char *name = dits_strfmt("%s%s", prefix, e->d_name);
		struct stat st;
		if (!full || !name) {
			rc = dits_error_set(DITS_ENOMEM, "out of memory");
		} else if (stat(full, &st) == 0 && S_ISDIR(st.st_mode)) {
			char *sub = dits_strfmt("%s/", name);
			rc = sub ? collect_refs(full, sub, names, n, cap) : DITS_ENOMEM;
			free(sub);
		} else {
			if (*n == *cap) {
				*cap = *cap ? *cap * 2 : 16;
				char **nn = realloc(*names, *cap * sizeof *nn);
				if (!nn) {
					rc = dits_error_set(DITS_ENOMEM, "out of memory");
					free(full);
					free(name);
					break;
				}
				*names = nn;
			}
			(*names)[(*n)++] = name;
			name = NULL;
		}
		free(full);
		free(name);
	}
	closedir(d);
	return rc;
}

static int files_foreach(dits_refdb *db, const char *prefix, dits_ref_fn fn, void *ctx)
{
	dits_repo *r = db->repo;
	char *dir = dits_repo_path(r, prefix);
	if (!dir)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = collect_refs(dir, prefix, &names, &n, &cap);
	free(dir);
	if (!rc && n > 1)
		qsort(names, n, sizeof *names, cmp_str);
	for (size_t i = 0; i < n && !rc; i++) {
		dits_id id;
		rc = files_read(db, names[i], &id);
		if (rc == DITS_ENOTFOUND) /* removed meanwhile */
			rc = 0;
		else if (!rc)
			rc = fn(ctx, names[i], &id);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

static void files_free(dits_refdb *db)
{
	free(db);
}

static const struct dits_refdb_ops files_ops = {
	.version = DITS_REFDB_OPS_VERSION,
	.name = "files",
	.read = files_read,
	.head = files_head,
	.update = files_update,
	.remove = files_remove,
	.set_head = files_set_head,
	.foreach = files_foreach,
	.free = files_free,
};

int refdb_files_open(dits_refdb **out, dits_repo *r)
{
	*out = calloc(1, sizeof **out);
	if (!*out)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	(*out)->ops = &files_ops;
	(*out)->repo = r;
	return 0;
}
