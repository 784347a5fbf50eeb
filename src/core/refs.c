#include "refs.h"

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
#include "repo_internal.h"

bool dits_ref_name_valid(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > 200 || name[0] == '-' || name[0] == '/' || name[n - 1] == '/' ||
	    name[n - 1] == '.' || strstr(name, "..") || strstr(name, "//") || strstr(name, "/.") ||
	    name[0] == '.' || (n >= 5 && !strcmp(name + n - 5, ".lock")) || !strcmp(name, "HEAD") ||
	    strstr(name, ".tmp-")) /* the suffix of ref files being written */
		return false;
	for (const char *p = name; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (!(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') && !(c >= '0' && c <= '9') &&
		    c != '-' && c != '_' && c != '.' && c != '/')
			return false;
	}
	return true;
}

static int read_ref_file(dits_repo *r, const char *ref, dits_buf *b)
{
	char *path = dits_repo_path(r, ref);
	if (!path)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	int rc = dits_read_file(path, b);
	free(path);
	return rc;
}

int dits_head_target(dits_repo *r, char **out)
{
	*out = NULL;
	dits_buf b = DITS_BUF_INIT;
	int rc = read_ref_file(r, "HEAD", &b);
	if (rc) {
		dits_buf_free(&b);
		return rc;
	}
	char *s = (char *)b.data;
	if (!strncmp(s, "ref: ", 5)) {
		char *nl = strchr(s, '\n');
		if (nl)
			*nl = '\0';
		*out = strdup(s + 5);
		rc = *out ? 0 : dits_error_set(DITS_ENOMEM, "out of memory");
	}
	dits_buf_free(&b);
	return rc;
}

int dits_ref_read(dits_repo *r, const char *ref, dits_id *out)
{
	char *target = NULL;
	if (!strcmp(ref, "HEAD")) {
		int rc = dits_head_target(r, &target);
		if (rc)
			return rc;
		if (target)
			ref = target;
	}
	dits_buf b = DITS_BUF_INIT;
	int rc = read_ref_file(r, ref, &b);
	if (rc == DITS_ENOTFOUND)
		rc = dits_error_set(DITS_ENOTFOUND, "%s does not exist yet", ref);
	else if (!rc && (b.len < DITS_ID_HEXLEN || dits_id_from_hex(out, (char *)b.data)))
		rc = dits_error_set(DITS_ECORRUPT, "%s/%s: ref does not hold a commit id", r->dir, ref);
	dits_buf_free(&b);
	free(target);
	return rc;
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

int dits_ref_update(dits_repo *r, const char *ref, const dits_id *new_id,
                    const dits_id *expected, const char *log_msg)
{
	int rc = dits_repo_lock(r);
	if (rc)
		return rc;
	dits_id cur;
	bool exists = false;
	dits_buf b = DITS_BUF_INIT;
	rc = read_ref_file(r, ref, &b);
	if (rc == 0) {
		if (b.len < DITS_ID_HEXLEN || dits_id_from_hex(&cur, (char *)b.data))
			rc = dits_error_set(DITS_ECORRUPT, "%s/%s: ref does not hold a commit id", r->dir, ref);
		else
			exists = true;
	} else if (rc == DITS_ENOTFOUND) {
		rc = 0;
	}
	dits_buf_free(&b);
	if (rc)
		return rc;
	if (expected) {
		bool want_absent = dits_id_is_zero(expected);
		if (want_absent ? exists : (!exists || !dits_id_eq(&cur, expected)))
			return dits_error_set(DITS_ECONFLICT, "%s: changed by another process (compare-and-swap failed)", ref);
	}
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

int dits_head_set_branch(dits_repo *r, const char *ref)
{
	int rc = dits_repo_lock(r);
	if (rc)
		return rc;
	char *path = dits_repo_path(r, "HEAD");
	char *content = dits_strfmt("ref: %s\n", ref);
	rc = path && content ? dits_atomic_write(path, content, strlen(content))
	                     : dits_error_set(DITS_ENOMEM, "out of memory");
	free(path);
	free(content);
	return rc;
}

int dits_head_set_detached(dits_repo *r, const dits_id *id, const char *log_msg)
{
	int rc = dits_repo_lock(r);
	if (rc)
		return rc;
	dits_id old;
	bool had = dits_ref_read(r, "HEAD", &old) == 0;
	char *path = dits_repo_path(r, "HEAD");
	char hex[DITS_ID_HEXLEN + 2];
	dits_id_hex(hex, id);
	hex[DITS_ID_HEXLEN] = '\n';
	rc = path ? dits_atomic_write(path, hex, DITS_ID_HEXLEN + 1) : DITS_ENOMEM;
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

int dits_refs_foreach(dits_repo *r, const char *prefix, dits_ref_fn fn, void *ctx)
{
	char *dir = dits_repo_path(r, prefix);
	if (!dir)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = collect_refs(dir, prefix, &names, &n, &cap);
	free(dir);
	if (!rc)
		if (n > 1)
			qsort(names, n, sizeof *names, cmp_str);
	for (size_t i = 0; i < n && !rc; i++) {
		dits_id id;
		rc = dits_ref_read(r, names[i], &id);
		if (!rc)
			rc = fn(ctx, names[i], &id);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

int dits_revparse(dits_repo *r, const char *spec, dits_id *out)
{
	char *base = strdup(spec);
	if (!base)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	char *tilde = strchr(base, '~');
	if (tilde)
		*tilde = '\0';
	int rc;
	char *ref = NULL;
	if (!*base) {
		rc = dits_error_set(DITS_EINVALID, "'%s': empty revision", spec);
	} else if (!strcmp(base, "HEAD")) {
		rc = dits_ref_read(r, "HEAD", out);
		if (rc == DITS_ENOTFOUND)
			rc = dits_error_set(DITS_ENOTFOUND, "HEAD: no commits yet");
	} else {
		rc = DITS_ENOTFOUND;
		struct stat st;
		/* Branches, tags, remote-tracking branches ("origin/main"), full names. */
		const char *prefixes[] = { "refs/heads/", "refs/tags/", "refs/remotes/", "" };
		for (size_t i = 0; i < 4 && rc == DITS_ENOTFOUND; i++) {
			/* A full ref name only when it says so: "config" is not .dits/config. */
			if (i == 3 ? strncmp(base, "refs/", 5) != 0 : !dits_ref_name_valid(base))
				break;
			if (i == 2 && !strchr(base, '/'))
				continue;
			free(ref);
			ref = dits_strfmt("%s%s", prefixes[i], base);
			char *p = ref ? dits_repo_path(r, ref) : NULL;
			if (p && stat(p, &st) == 0 && S_ISREG(st.st_mode))
				rc = dits_ref_read(r, ref, out);
			free(p);
		}
		if (rc == DITS_ENOTFOUND && dits_is_hex_prefix(base) && strlen(base) >= 4)
			rc = dits_odb_resolve_prefix(r->odb, base, DITS_OBJ_COMMIT, out);
		if (rc == DITS_ENOTFOUND)
			rc = dits_error_set(DITS_ENOTFOUND, "%s: unknown revision", spec);
	}
	free(ref);
	/* ~N suffixes, possibly repeated: HEAD~2~1 */
	char *p = tilde ? strchr(spec, '~') : NULL;
	while (!rc && p) {
		p++;
		char *end;
		long n = strtol(p, &end, 10);
		if (end == p)
			n = 1;
		if (n < 0 || (*end && *end != '~')) {
			rc = dits_error_set(DITS_EINVALID, "%s: bad revision suffix", spec);
			break;
		}
		for (long i = 0; i < n && !rc; i++) {
			dits_commit c;
			rc = dits_commit_read(r->odb, out, &c);
			if (rc)
				break;
			if (c.nparents == 0)
				rc = dits_error_set(DITS_ENOTFOUND, "%s: history is not that deep", spec);
			else
				*out = c.parents[0];
			dits_commit_free(&c);
		}
		p = *end == '~' ? end : NULL;
	}
	if (!rc) {
		/* The result must be a commit. */
		uint8_t type;
		char hex[DITS_ID_HEXLEN + 1];
		dits_id_hex(hex, out);
		if (dits_odb_read_header(r->odb, out, &type, NULL))
			rc = dits_error_set(DITS_ENOTFOUND, "%s: commit %s is missing from the store", spec, hex);
		else if (type != DITS_OBJ_COMMIT)
			rc = dits_error_set(DITS_EINVALID, "%s: %s is a %s, not a commit", spec, hex,
			                    dits_otype_name(type));
	}
	free(base);
	return rc;
}

int dits_refs_remove_remote(dits_repo *r, const char *remote)
{
	char *dir = dits_strfmt("%s/refs/remotes/%s", r->dir, remote);
	int rc = dir ? dits_remove_tree(dir) : dits_error_set(DITS_ENOMEM, "out of memory");
	free(dir);
	return rc;
}
