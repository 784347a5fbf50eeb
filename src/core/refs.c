#include "refs.h"
#include "refdb_backend.h"

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

/* ---- the backend of a repository ------------------------------------- */

static bool is_pg_url(const char *url)
{
	return !strncmp(url, "postgres://", 11) || !strncmp(url, "postgresql://", 13);
}

/*
 * The repository's ref store, opened on first use: PostgreSQL when its
 * config says `refs.url = postgres://...` (rows keyed by `metadb.repo`,
 * else the `.dits` path, as metadb.h does), else the files under `.dits`.
 */
static int refdb_of(dits_repo *r, dits_refdb **out)
{
	if (r->refdb) {
		*out = r->refdb;
		return 0;
	}
	const char *url = r->config ? dits_config_get(r->config, "refs.url") : NULL;
	int rc;
	if (url && *url) {
		if (!is_pg_url(url))
			return dits_error_set(DITS_EINVALID, "%s/config: refs.url: \"%s\" is not a postgres:// URL",
			                      r->dir, url);
		const char *key = dits_config_get(r->config, "metadb.repo");
		char *abs = NULL;
		if (!key || !*key) {
			if (!(abs = realpath(r->dir, NULL)))
				return dits_error_errno("%s", r->dir);
			key = abs;
		}
		rc = refdb_pg_open(&r->refdb, r, url, key);
		free(abs);
		if (rc)
			return dits_error_wrap(rc, "%s/config: refs.url", r->dir);
	} else if ((rc = refdb_files_open(&r->refdb, r))) {
		return rc;
	}
	*out = r->refdb;
	return 0;
}

void dits_refdb_free(struct dits_refdb *db)
{
	if (db)
		db->ops->free(db);
}

const char *dits_refs_backend(dits_repo *r)
{
	dits_refdb *db = NULL;
	if (refdb_of(r, &db)) {
		dits_error_clear();
		return "unavailable";
	}
	return db->ops->name;
}

/* ---- the API of refs.h -------------------------------------------------- */

int dits_head_target(dits_repo *r, char **out)
{
	*out = NULL;
	dits_refdb *db = NULL;
	dits_id id;
	int rc = refdb_of(r, &db);
	return rc ? rc : db->ops->head(db, out, &id);
}

int dits_ref_read(dits_repo *r, const char *ref, dits_id *out)
{
	dits_refdb *db = NULL;
	int rc = refdb_of(r, &db);
	if (rc)
		return rc;
	char *target = NULL;
	if (!strcmp(ref, "HEAD")) {
		if ((rc = db->ops->head(db, &target, out)))
			return rc;
		if (!target)
			return 0; /* detached */
		ref = target;
	}
	rc = db->ops->read(db, ref, out);
	if (rc == DITS_ENOTFOUND)
		rc = dits_error_set(DITS_ENOTFOUND, "%s does not exist yet", ref);
	free(target);
	return rc;
}

int dits_ref_update(dits_repo *r, const char *ref, const dits_id *new_id,
                    const dits_id *expected, const char *log_msg)
{
	dits_refdb *db = NULL;
	int rc = refdb_of(r, &db);
	return rc ? rc : db->ops->update(db, ref, new_id, expected, log_msg);
}

int dits_ref_update_all(dits_repo *r, const dits_ref_change *v, size_t n, const char *log_msg)
{
	dits_refdb *db = NULL;
	int rc = refdb_of(r, &db);
	if (rc || n == 0)
		return rc;
	if (db->ops->update_all)
		return db->ops->update_all(db, v, n, log_msg);
	for (size_t i = 0; i < n; i++) {
		if (!(rc = db->ops->update(db, v[i].ref, &v[i].new_id, &v[i].expected, log_msg)))
			continue;
		/* put back the ones this call moved, keeping the first error */
		char *err = strdup(dits_error_last());
		while (i-- > 0) {
			int undone = dits_id_is_zero(&v[i].expected)
			                     ? db->ops->remove(db, v[i].ref, &v[i].new_id)
			                     : db->ops->update(db, v[i].ref, &v[i].expected, &v[i].new_id, "undone");
			if (undone)
				fprintf(stderr, "dits: error: %s: not put back: %s\n", v[i].ref, dits_error_last());
		}
		dits_error_set(rc, "%s", err ? err : "out of memory");
		free(err);
		return rc;
	}
	return 0;
}

int dits_ref_delete(dits_repo *r, const char *ref, const dits_id *expected)
{
	dits_refdb *db = NULL;
	int rc = refdb_of(r, &db);
	return rc ? rc : db->ops->remove(db, ref, expected);
}

int dits_head_set_branch(dits_repo *r, const char *ref)
{
	dits_refdb *db = NULL;
	int rc = refdb_of(r, &db);
	return rc ? rc : db->ops->set_head(db, ref, NULL, NULL);
}

int dits_head_set_detached(dits_repo *r, const dits_id *id, const char *log_msg)
{
	dits_refdb *db = NULL;
	int rc = refdb_of(r, &db);
	return rc ? rc : db->ops->set_head(db, NULL, id, log_msg);
}

int dits_refs_foreach(dits_repo *r, const char *prefix, dits_ref_fn fn, void *ctx)
{
	dits_refdb *db = NULL;
	int rc = refdb_of(r, &db);
	return rc ? rc : db->ops->foreach(db, prefix, fn, ctx);
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
			if (!ref) {
				rc = dits_error_set(DITS_ENOMEM, "out of memory");
				break;
			}
			rc = dits_ref_read(r, ref, out);
			if (rc == DITS_ENOTFOUND)
				dits_error_clear();
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

typedef struct name_list {
	char **v;
	size_t n, cap;
} name_list;

static int collect_name(void *ctx, const char *ref, const dits_id *id)
{
	(void)id;
	name_list *l = ctx;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		char **v = realloc(l->v, cap * sizeof *v);
		if (!v)
			return dits_error_set(DITS_ENOMEM, "out of memory");
		l->v = v;
		l->cap = cap;
	}
	if (!(l->v[l->n] = strdup(ref)))
		return dits_error_set(DITS_ENOMEM, "out of memory");
	l->n++;
	return 0;
}

int dits_refs_remove_remote(dits_repo *r, const char *remote)
{
	dits_refdb *db = NULL;
	int rc = refdb_of(r, &db);
	if (rc)
		return rc;
	if (!strcmp(db->ops->name, "files")) {
		/* The whole directory, empty subdirectories included. */
		char *dir = dits_strfmt("%s/refs/remotes/%s", r->dir, remote);
		rc = dir ? dits_remove_tree(dir) : dits_error_set(DITS_ENOMEM, "out of memory");
		free(dir);
		return rc;
	}
	char *prefix = dits_strfmt("refs/remotes/%s/", remote);
	name_list l = { 0 };
	rc = prefix ? db->ops->foreach(db, prefix, collect_name, &l) : dits_error_set(DITS_ENOMEM, "out of memory");
	for (size_t i = 0; i < l.n && !rc; i++)
		rc = db->ops->remove(db, l.v[i], NULL);
	for (size_t i = 0; i < l.n; i++)
		free(l.v[i]);
	free(l.v);
	free(prefix);
	return rc;
}
