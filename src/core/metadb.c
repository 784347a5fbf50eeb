/*
 * metadb.c - the public API of metadb.h: opens the backend that the
 * repository's `metadb.url` setting names (SQLite `.dits/dits.db` when it is
 * unset) and dispatches every call to its struct of operations
 * (metadb_backend.h). What does not need the database lives here once for
 * every backend: the clock, UUIDs, backoff, the variant types, the _free
 * functions and argument checks.
 */
#include "metadb_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "error.h"
#include "fsutil.h"
#include "repo_internal.h"

/* ---- The common part of a handle --------------------------------------- */

int metadb_base_init(dits_metadb *db, const struct dits_metadb_ops *ops, const char *where)
{
	db->ops = ops;
	if (!(db->where = strdup(where)))
		return dits_error_set(DITS_ENOMEM, "out of memory");
	const char *env = getenv("DITS_TEST_NOW");
	if (env && *env) {
		char *end;
		errno = 0;
		long long v = strtoll(env, &end, 10);
		if (!*end && !errno) {
			db->has_env_now = true;
			db->env_now = v;
		}
	}
	return 0;
}

void metadb_base_free(dits_metadb *db)
{
	free(db->where);
	db->where = NULL;
}

int64_t dits_metadb_now(const dits_metadb *db)
{
	if (db->clock)
		return db->clock();
	if (db->has_env_now)
		return db->env_now;
	return (int64_t)time(NULL);
}

void dits_metadb_set_clock(dits_metadb *db, int64_t (*now)(void))
{
	db->clock = now;
}

const char *dits_metadb_backend(const dits_metadb *db)
{
	return db->ops->name;
}

/* ---- Opening ------------------------------------------------------------ */

static bool is_pg_url(const char *url)
{
	return !strncmp(url, "postgres://", 11) || !strncmp(url, "postgresql://", 13);
}

int dits_metadb_open(dits_metadb **out, const char *path)
{
	*out = NULL;
	return metadb_sqlite_open(out, path);
}

int dits_metadb_open_url(dits_metadb **out, const char *url, const char *repo_key)
{
	*out = NULL;
	if (!url || !*url)
		return dits_error_set(DITS_EINVALID, "metadb.url is empty");
	if (is_pg_url(url)) {
		if (!repo_key || !*repo_key)
			return dits_error_set(DITS_EINVALID, "%s: no repository key to scope rows by",
			                      url);
		return metadb_pg_open(out, url, repo_key);
	}
	if (!strncmp(url, "sqlite:", 7))
		return metadb_sqlite_open(out, url + 7);
	return dits_error_set(DITS_EINVALID,
	                      "\"%s\" is not a postgres:// or postgresql:// URL (nor sqlite:PATH)",
	                      url);
}

/*
 * The URL that holds the metadata of the repository whose `.dits` directory
 * is dir with configuration cfg (metadb.url, else DITS_METADB_URL; NULL for
 * the embedded database) and, for it, the repository key (*key malloc'd).
 */
static int resolve(const char *dir, const dits_config *cfg, const char **url, bool *from_env, char **key)
{
	*url = cfg ? dits_config_get(cfg, "metadb.url") : NULL;
	*from_env = false;
	*key = NULL;
	if (!*url || !**url) {
		*url = getenv("DITS_METADB_URL");
		*from_env = true;
	}
	if (!*url || !**url) {
		*url = NULL;
		return 0;
	}
	const char *k = cfg ? dits_config_get(cfg, "metadb.repo") : NULL;
	/* The default key: the repository's `.dits` directory. */
	*key = k && *k ? strdup(k) : realpath(dir, NULL);
	if (!*key)
		return k && *k ? dits_error_set(DITS_ENOMEM, "out of memory") : dits_error_errno("%s", dir);
	return 0;
}

/*
 * Opens the backend for the repository whose `.dits` directory is dir with
 * its configuration cfg. if_exists: an embedded database that was never
 * created is not created (0 with *out NULL).
 */
static int open_with_config(dits_metadb **out, const char *dir, const dits_config *cfg,
                            bool if_exists)
{
	*out = NULL;
	const char *url;
	bool from_env;
	char *key;
	int rc = resolve(dir, cfg, &url, &from_env, &key);
	if (rc)
		return rc;
	if (url) {
		rc = dits_metadb_open_url(out, url, key);
		free(key);
		if (rc && from_env)
			rc = dits_error_wrap(rc, "DITS_METADB_URL");
		else if (rc)
			rc = dits_error_wrap(rc, "%s/config: metadb.url", dir);
		return rc;
	}
	char *path = dits_path_join(dir, "dits.db");
	if (!path)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	struct stat st;
	if (!if_exists || stat(path, &st) == 0)
		rc = metadb_sqlite_open(out, path);
	free(path);
	return rc;
}

int dits_metadb_open_repo(dits_metadb **out, const dits_repo *r)
{
	return open_with_config(out, r->dir, r->config, false);
}

int dits_metadb_open_repo_if_exists(dits_metadb **out, const dits_repo *r)
{
	return open_with_config(out, r->dir, r->config, true);
}

/* The repository's configuration, from dits_dir/config. */
static int load_dir_config(const char *dits_dir, dits_config **cfg)
{
	*cfg = NULL;
	char *cfgpath = dits_path_join(dits_dir, "config");
	if (!cfgpath)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	int rc = dits_config_load(cfg, cfgpath);
	free(cfgpath);
	return rc;
}

int dits_metadb_locate_dir(const char *dits_dir, char **url, char **key)
{
	*url = *key = NULL;
	dits_config *cfg;
	int rc = load_dir_config(dits_dir, &cfg);
	const char *u = NULL;
	bool from_env;
	if (!rc)
		rc = resolve(dits_dir, cfg, &u, &from_env, key);
	if (!rc && u && !is_pg_url(u)) {
		/* sqlite:PATH: one file, one repository, nobody notifies */
		free(*key);
		*key = NULL;
		u = NULL;
	}
	if (!rc && u && !(*url = strdup(u))) {
		free(*key);
		*key = NULL;
		rc = dits_error_set(DITS_ENOMEM, "out of memory");
	}
	dits_config_free(cfg);
	return rc;
}

int dits_metadb_open_dir(dits_metadb **out, const char *dits_dir, bool if_exists)
{
	*out = NULL;
	dits_config *cfg;
	int rc = load_dir_config(dits_dir, &cfg);
	if (!rc)
		rc = open_with_config(out, dits_dir, cfg, if_exists);
	dits_config_free(cfg);
	return rc;
}

bool dits_metadb_present(const dits_repo *r)
{
	const char *url = dits_config_get(r->config, "metadb.url");
	const char *env = getenv("DITS_METADB_URL");
	if ((url && *url) || (env && *env))
		return true;
	char *path = dits_repo_path(r, "dits.db");
	struct stat st;
	bool ok = path && stat(path, &st) == 0;
	free(path);
	return ok;
}

void dits_metadb_close(dits_metadb *db)
{
	if (db)
		db->ops->close(db);
}

/* ---- Shared helpers ----------------------------------------------------- */




static const char *const variant_types[] = {
	"proxy_1080p", "proxy_720p", "proxy_540p",   "thumbnail",
	"sprite",      "sprite_vtt", "preview_webm",
};

bool dits_variant_type_valid(const char *type)
{
	for (size_t i = 0; i < sizeof variant_types / sizeof *variant_types; i++)
		if (type && !strcmp(type, variant_types[i]))
			return true;
	return false;
}

void dits_variant_free(dits_variant *v)
{
	if (!v)
		return;
	free(v->chunk_hash_list);
	free(v->recipe);
	free(v->facts);
	free(v->error);
	free(v->warnings);
	memset(v, 0, sizeof *v);
}

void dits_variant_list_free(dits_variant *list, size_t count)
{
	for (size_t i = 0; i < count; i++)
		dits_variant_free(&list[i]);
	free(list);
}

void dits_variant_configured(const dits_repo *r, char *type, char *profile)
{
	const char *res = dits_config_get(r->config, "proxy.resolution");
	const char *prof = dits_config_get(r->config, "proxy.profile");
	const char *t = "proxy_1080p";
	if (res && !strcmp(res, "720"))
		t = "proxy_720p";
	else if (res && !strcmp(res, "540"))
		t = "proxy_540p";
	if (!prof || (strcmp(prof, "prores_proxy") && strcmp(prof, "dnxhr_lb") && strcmp(prof, "h264")))
		prof = "prores_proxy";
	snprintf(type, DITS_VARIANT_NAME_MAX, "%s", t);
	snprintf(profile, DITS_VARIANT_NAME_MAX, "%s", prof);
}

void dits_job_free(dits_job *job)
{
	if (!job)
		return;
	free(job->path);
	free(job->recipe);
	free(job->last_error);
	free(job->result);
	memset(job, 0, sizeof *job);
}

void dits_job_list_free(dits_job *list, size_t count)
{
	for (size_t i = 0; i < count; i++)
		dits_job_free(&list[i]);
	free(list);
}

/* Writes a random (version 4) UUID. */
int metadb_uuid_v4(char out[37])
{
	uint8_t b[16];
	size_t got = 0;
	while (got < sizeof b) {
		ssize_t n = getrandom(b + got, sizeof b - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		got += (size_t)n;
	}
	if (got < sizeof b) {
		int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return dits_error_errno("/dev/urandom");
		while (got < sizeof b) {
			ssize_t n = read(fd, b + got, sizeof b - got);
			if (n <= 0) {
				if (n < 0 && errno == EINTR)
					continue;
				close(fd);
				return dits_error_set(DITS_EIO, "/dev/urandom: cannot read random bytes");
			}
			got += (size_t)n;
		}
		close(fd);
	}
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* variant 10xx (RFC 4122) */
	static const char hex[] = "0123456789abcdef";
	char *p = out;
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		*p++ = hex[b[i] >> 4];
		*p++ = hex[b[i] & 15];
	}
	*p = '\0';
	return 0;
}

/* Seconds to wait before attempt attempts + 1: 2^attempts, capped. */
int64_t metadb_backoff_seconds(int attempts)
{
	if (attempts < 0)
		attempts = 0;
	if (attempts >= 30)
		return DITS_JOB_BACKOFF_MAX;
	int64_t b = (int64_t)1 << attempts;
	return b < DITS_JOB_BACKOFF_MAX ? b : DITS_JOB_BACKOFF_MAX;
}

int metadb_check_name(const char *s, size_t size, const char *what)
{
	if (!s || !*s)
		return dits_error_set(DITS_EINVALID, "%s is empty", what);
	if (strlen(s) >= size)
		return dits_error_set(DITS_EINVALID, "%s \"%.40s...\" is longer than %zu bytes", what,
		                      s, size - 1);
	return 0;
}

/* The recipe hash given, or the BLAKE3 of the recipe's text. */
void metadb_recipe_hash(dits_id *out, const dits_id *given, const char *recipe_json)
{
	if (given)
		*out = *given;
	else
		dits_hash_buf(out, recipe_json ? recipe_json : "",
		              recipe_json ? strlen(recipe_json) : 0);
}

/* ---- Dispatch ----------------------------------------------------------- */

int dits_variant_begin(dits_metadb *db, const dits_id *parent, const char *type,
                       const char *recipe_json, const dits_id *recipe_hash, dits_variant *out)
{
	memset(out, 0, sizeof *out);
	return db->ops->variant_begin(db, parent, type, recipe_json, recipe_hash, out);
}

int dits_variant_set_running(dits_metadb *db, const char *id)
{
	return db->ops->variant_set_running(db, id);
}

int dits_variant_fail(dits_metadb *db, const char *id, const char *error)
{
	return db->ops->variant_fail(db, id, error);
}

int dits_variant_register(dits_metadb *db, const char *id, const dits_id *manifest,
                          const char *chunk_hash_list_json, const char *facts_json,
                          const char *warnings, uint64_t size)
{
	return db->ops->variant_register(db, id, manifest, chunk_hash_list_json, facts_json,
	                                 warnings, size);
}

int dits_variant_get(dits_metadb *db, const dits_id *parent, const char *type, dits_variant *out)
{
	memset(out, 0, sizeof *out);
	return db->ops->variant_get(db, parent, type, out);
}

int dits_variant_pick(dits_metadb *db, const dits_id *parent, const char *type, const char *profile,
                      dits_variant *out)
{
	memset(out, 0, sizeof *out);
	return db->ops->variant_pick(db, parent, type, profile, out);
}

int dits_variant_get_by_id(dits_metadb *db, const char *id, dits_variant *out)
{
	memset(out, 0, sizeof *out);
	return db->ops->variant_get_by_id(db, id, out);
}

int dits_variant_list(dits_metadb *db, const dits_id *parent, dits_variant **out, size_t *count)
{
	*out = NULL;
	*count = 0;
	return db->ops->variant_list(db, parent, out, count);
}

int dits_variant_reset(dits_metadb *db, const char *id)
{
	return db->ops->variant_reset(db, id);
}

int dits_job_enqueue(dits_metadb *db, const char *kind, const dits_id *asset, const char *path,
                     const char *target, const char *recipe_json, const dits_id *recipe_hash,
                     int64_t *job_id)
{
	return db->ops->job_enqueue(db, kind, asset, path, target, recipe_json, recipe_hash, job_id);
}

int dits_job_claim(dits_metadb *db, const char *owner, int lease_seconds, dits_job *out)
{
	memset(out, 0, sizeof *out);
	return db->ops->job_claim(db, owner, lease_seconds, out);
}

int dits_job_heartbeat(dits_metadb *db, int64_t id, const char *owner, int lease_seconds)
{
	return db->ops->job_heartbeat(db, id, owner, lease_seconds);
}

int dits_job_report(dits_metadb *db, int64_t id, double progress, const char *result)
{
	if (!(progress >= 0 && progress <= 1))
		return dits_error_set(DITS_EINVALID, "job %lld: progress %g is not between 0 and 1", (long long)id,
		                      progress);
	return db->ops->job_report(db, id, progress, result);
}

int dits_job_complete(dits_metadb *db, int64_t id, const char *owner)
{
	return db->ops->job_complete(db, id, owner);
}

int dits_job_fail(dits_metadb *db, int64_t id, const char *owner, const char *error,
                  bool permanent)
{
	return db->ops->job_fail(db, id, owner, error, permanent);
}

int dits_job_get(dits_metadb *db, int64_t id, dits_job *out)
{
	memset(out, 0, sizeof *out);
	return db->ops->job_get(db, id, out);
}

int dits_job_list(dits_metadb *db, const dits_id *asset, const char *state, dits_job **out,
                  size_t *count)
{
	*out = NULL;
	*count = 0;
	return db->ops->job_list(db, asset, state, out, count);
}

int dits_job_counts(dits_metadb *db, struct dits_job_counts *out)
{
	memset(out, 0, sizeof *out);
	return db->ops->job_counts(db, out);
}

int dits_job_pending(dits_metadb *db, int64_t *n)
{
	*n = 0;
	return db->ops->job_pending(db, n);
}

int dits_job_next_ready(dits_metadb *db, int64_t *when)
{
	*when = 0;
	return db->ops->job_next_ready(db, when);
}

int dits_job_retry_asset(dits_metadb *db, const dits_id *asset)
{
	return db->ops->job_retry_asset(db, asset);
}

int dits_job_wait(dits_metadb *db, int timeout_ms)
{
	return db->ops->job_wait(db, timeout_ms);
}

int dits_job_wait_any(dits_metadb *db, int timeout_ms, dits_job_wake_fn on_key, void *ctx)
{
	if (!on_key)
		return dits_error_set(DITS_EINVALID, "dits_job_wait_any: no function to call");
	return db->ops->job_wait_any(db, timeout_ms, on_key, ctx);
}
