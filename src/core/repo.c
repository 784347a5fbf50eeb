#include "repo.h"
#include "repo_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "fsutil.h"
#include "refs.h"

char *dits_repo_path(const dits_repo *r, const char *rel)
{
	return dits_path_join(r->dir, rel);
}

void dits_repo_free(dits_repo *r)
{
	if (!r)
		return;
	dits_refdb_free(r->refdb);
	dits_odb_free(r->odb);
	dits_config_free(r->config);
	if (r->lock_fd >= 0)
		close(r->lock_fd);
	free(r->workdir);
	free(r->dir);
	free(r);
}

static int load_params(dits_repo *r)
{
	uint64_t v[5];
	const char *keys[] = { "chunker.min", "chunker.avg", "chunker.max", "chunker.level", "chunker.seed" };
	uint64_t defs[] = { DITS_CHUNK_MIN_DEFAULT, DITS_CHUNK_AVG_DEFAULT, DITS_CHUNK_MAX_DEFAULT, 1, 0 };
	for (int i = 0; i < 5; i++) {
		int rc = dits_config_get_u64(r->config, keys[i], defs[i], &v[i]);
		if (rc)
			return dits_error_wrap(rc, "%s/config", r->dir);
	}
	if (v[0] > UINT32_MAX || v[1] > UINT32_MAX || v[2] > UINT32_MAX || v[3] > 3)
		return dits_error_set(DITS_ECORRUPT, "%s/config: chunker parameters out of range", r->dir);
	r->params.min = (uint32_t)v[0];
	r->params.avg = (uint32_t)v[1];
	r->params.max = (uint32_t)v[2];
	r->params.level = (uint32_t)v[3];
	r->params.seed = v[4];
	int rc = dits_chunker_init(&r->chunker, &r->params);
	return rc ? dits_error_wrap(rc, "%s/config", r->dir) : 0;
}

static dits_repo *repo_alloc(const char *workdir)
{
	dits_repo *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	r->lock_fd = -1;
	r->workdir = strdup(workdir);
	r->dir = r->workdir ? dits_path_join(workdir, ".dits") : NULL;
	if (!r->dir) {
		dits_repo_free(r);
		return NULL;
	}
	return r;
}

static int open_at(dits_repo **out, const char *workdir)
{
	dits_repo *r = repo_alloc(workdir);
	if (!r)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	char *cfg = dits_repo_path(r, "config");
	int rc = cfg ? dits_config_load(&r->config, cfg) : dits_error_set(DITS_ENOMEM, "out of memory");
	free(cfg);
	uint64_t format = 0;
	if (!rc && !(rc = dits_config_get_u64(r->config, "core.format", 0, &format)) &&
	    format > DITS_FORMAT_VERSION)
		rc = dits_error_set(DITS_EVERSION,
		                    "%s: repository format version %llu is newer than this dits supports (%d)",
		                    r->dir, (unsigned long long)format, DITS_FORMAT_VERSION);
	if (!rc && format == 0)
		rc = dits_error_set(DITS_ECORRUPT, "%s/config: no core.format version", r->dir);
	if (!rc)
		rc = load_params(r);
	if (!rc)
		rc = dits_repo_odb_open(r, &r->odb);
	if (rc) {
		dits_repo_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

int dits_repo_odb_open(const dits_repo *r, dits_odb **out)
{
	char *packs = dits_repo_path(r, "objects/pack");
	int rc = packs ? dits_odb_open(out, packs) : dits_error_set(DITS_ENOMEM, "out of memory");
	free(packs);
	return rc;
}

int dits_repo_open(dits_repo **out, const char *start)
{
	*out = NULL;
	char path[PATH_MAX];
	if (!realpath(start, path))
		return dits_error_errno("%s", start);
	for (;;) {
		char probe[PATH_MAX + 16];
		struct stat st;
		snprintf(probe, sizeof probe, "%s%s.dits", path, strcmp(path, "/") ? "/" : "");
		if (stat(probe, &st) == 0 && S_ISDIR(st.st_mode))
			return open_at(out, path);
		char *slash = strrchr(path, '/');
		if (!slash || slash == path) {
			if (strcmp(path, "/") == 0)
				break;
			path[1] = '\0';
			continue;
		}
		*slash = '\0';
	}
	char abs[PATH_MAX];
	if (!realpath(start, abs))
		snprintf(abs, sizeof abs, "%s", start);
	return dits_error_set(DITS_ENOTFOUND, "%s: not a dits repository (nor is any parent directory)", abs);
}

/* The settings of a new repository: its format and chunker parameters. */
static int fill_config(dits_config *c, const dits_chunker_params *p)
{
	char num[32];
	snprintf(num, sizeof num, "%d", DITS_FORMAT_VERSION);
	int rc = dits_config_set(c, "core.format", num);
	snprintf(num, sizeof num, "%u", p->min);
	if (!rc)
		rc = dits_config_set(c, "chunker.min", num);
	snprintf(num, sizeof num, "%u", p->avg);
	if (!rc)
		rc = dits_config_set(c, "chunker.avg", num);
	snprintf(num, sizeof num, "%u", p->max);
	if (!rc)
		rc = dits_config_set(c, "chunker.max", num);
	snprintf(num, sizeof num, "%u", p->level);
	if (!rc)
		rc = dits_config_set(c, "chunker.level", num);
	snprintf(num, sizeof num, "%llu", (unsigned long long)p->seed);
	if (!rc)
		rc = dits_config_set(c, "chunker.seed", num);
	return rc;
}

int dits_repo_new_config(const dits_chunker_params *params, dits_config **out)
{
	*out = NULL;
	dits_chunker_params p;
	if (params)
		p = *params;
	else
		dits_chunker_params_default(&p);
	dits_chunker probe;
	int rc = dits_chunker_init(&probe, &p);
	if (rc)
		return rc;
	dits_config *c = dits_config_new();
	if (!c)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	if ((rc = fill_config(c, &p))) {
		dits_config_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

int dits_repo_init(dits_repo **out, const char *dir, const dits_chunker_params *params)
{
	*out = NULL;
	/* The configuration first: it checks the chunker parameters before
	 * anything is created. */
	dits_config *c = NULL;
	int rc = dits_repo_new_config(params, &c);
	if (rc)
		return rc;
	char abs[PATH_MAX];
	dits_repo *r = NULL;
	rc = dits_mkdir_p(dir, 0755);
	if (!rc && !realpath(dir, abs))
		rc = dits_error_errno("%s", dir);
	if (!rc && !(r = repo_alloc(abs)))
		rc = dits_error_set(DITS_ENOMEM, "out of memory");
	struct stat st;
	if (!rc && stat(r->dir, &st) == 0)
		rc = dits_error_set(DITS_EEXISTS, "%s: a dits repository already exists here", r->dir);
	if (rc) {
		dits_repo_free(r);
		dits_config_free(c);
		return rc;
	}
	/* Build in a temporary directory and rename it into place. */
	char *tmp = dits_strfmt("%s/.dits-init-%ld", abs, (long)getpid());
	const char *subdirs[] = { "objects/pack", "refs/heads", "refs/tags", "logs/refs/heads", "tmp" };
	rc = tmp ? dits_mkdir_p(tmp, 0755) : dits_error_set(DITS_ENOMEM, "out of memory");
	for (size_t i = 0; i < sizeof subdirs / sizeof *subdirs && !rc; i++) {
		char *d = dits_path_join(tmp, subdirs[i]);
		rc = d ? dits_mkdir_p(d, 0755) : DITS_ENOMEM;
		free(d);
	}
	char *cfg = tmp ? dits_path_join(tmp, "config") : NULL;
	char *head = tmp ? dits_path_join(tmp, "HEAD") : NULL;
	if (!rc)
		rc = dits_config_write(c, cfg);
	if (!rc)
		rc = dits_atomic_write(head, "ref: refs/heads/main\n", 21);
	if (!rc && rename(tmp, r->dir) < 0)
		rc = dits_error_errno("%s: cannot create", r->dir);
	if (!rc)
		rc = dits_fsync_dir(abs);
	if (rc && tmp) {
		char *cmd_paths[] = { cfg, head };
		for (int i = 0; i < 2; i++)
			if (cmd_paths[i])
				unlink(cmd_paths[i]);
		for (size_t i = sizeof subdirs / sizeof *subdirs; i-- > 0;) {
			char *d = dits_path_join(tmp, subdirs[i]);
			if (d) {
				rmdir(d);
				char *s = strrchr(d, '/');
				if (s) {
					*s = '\0';
					rmdir(d);
				}
			}
			free(d);
		}
		rmdir(tmp);
	}
	free(cfg);
	free(head);
	free(tmp);
	dits_config_free(c);
	if (rc) {
		dits_repo_free(r);
		return rc;
	}
	rc = open_at(out, abs);
	dits_repo_free(r);
	return rc;
}

/* Removes a directory of plain files (a dead worker's scratch space). */
static void remove_flat_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		char *f = dits_path_join(dir, e->d_name);
		if (f)
			unlink(f);
		free(f);
	}
	if (d)
		closedir(d);
	rmdir(dir);
}

int dits_repo_lock(dits_repo *r)
{
	if (r->lock_fd >= 0)
		return 0;
	char *p = dits_repo_path(r, "lock");
	if (!p)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		int rc = dits_error_errno("%s", p);
		free(p);
		return rc;
	}
	/* Wait a little: a background worker holds the lock only for the
	 * moment it takes to publish a proxy. */
	double limit = 10;
	const char *env = getenv("DITS_LOCK_TIMEOUT");
	if (env && *env)
		limit = atof(env);
	double start = dits_now();
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int rc = 0;
		if (errno != EWOULDBLOCK && errno != EINTR)
			rc = dits_error_errno("%s: lock failed", p);
		else if (dits_now() - start >= limit)
			rc = dits_error_set(DITS_ELOCKED, "%s: another dits process is changing this repository", r->dir);
		if (rc) {
			close(fd);
			free(p);
			return rc;
		}
		usleep(20000);
	}
	free(p);
	r->lock_fd = fd;
	/* No other writer can be running now: what a killed one left goes. */
	dits_odb_remove_leftovers(r->odb);
	char *tmp = dits_repo_path(r, "tmp");
	if (tmp) {
		DIR *d = opendir(tmp);
		struct dirent *e;
		while (d && (e = readdir(d))) {
			if (e->d_name[0] == '.' || dits_tmp_owner_alive(e->d_name, "-"))
				continue;
			char *f = dits_path_join(tmp, e->d_name);
			/* unlink of a directory: EISDIR on Linux, EPERM in POSIX */
			if (f && unlink(f) < 0 && (errno == EISDIR || errno == EPERM))
				remove_flat_dir(f);
			free(f);
		}
		if (d)
			closedir(d);
		else if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			fprintf(stderr, "dits: warning: %s: cannot create: %s\n", tmp, strerror(errno));
	}
	free(tmp);
	return 0;
}

void dits_repo_unlock(dits_repo *r)
{
	if (r->lock_fd >= 0) {
		close(r->lock_fd);
		r->lock_fd = -1;
	}
}

/* Lexically normalizes an absolute path: removes ".", "..", "//". */
static void normalize(char *p)
{
	char *out = p, *in = p;
	while (*in) {
		while (*in == '/')
			in++;
		if (!*in)
			break;
		char *seg = in;
		while (*in && *in != '/')
			in++;
		size_t len = (size_t)(in - seg);
		if (len == 1 && seg[0] == '.')
			continue;
		if (len == 2 && seg[0] == '.' && seg[1] == '.') {
			while (out > p && out[-1] != '/')
				out--;
			if (out > p)
				out--;
			continue;
		}
		*out++ = '/';
		memmove(out, seg, len);
		out += len;
	}
	if (out == p)
		*out++ = '/';
	*out = '\0';
}

int dits_repo_relpath(const dits_repo *r, const char *user_path, char **out)
{
	*out = NULL;
	char *abs;
	if (user_path[0] == '/') {
		abs = strdup(user_path);
	} else {
		char cwd[PATH_MAX];
		if (!getcwd(cwd, sizeof cwd))
			return dits_error_errno("current directory");
		abs = dits_path_join(cwd, user_path);
	}
	if (!abs)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	normalize(abs);
	/* Resolve symlinks in the directory part so /tmp vs /private/tmp style
	 * aliases still land inside the worktree. */
	char resolved[PATH_MAX];
	char *slash = strrchr(abs, '/');
	if (slash && slash != abs) {
		*slash = '\0';
		if (realpath(abs, resolved)) {
			char *j = dits_strfmt("%s/%s", resolved, slash + 1);
			free(abs);
			abs = j;
			if (!abs)
				return dits_error_set(DITS_ENOMEM, "out of memory");
			normalize(abs);
		} else {
			*slash = '/';
		}
	} else if (realpath(abs, resolved)) {
		free(abs);
		abs = strdup(resolved);
		if (!abs)
			return dits_error_set(DITS_ENOMEM, "out of memory");
	}
	size_t wl = strlen(r->workdir);
	int rc = 0;
	if (strcmp(abs, r->workdir) == 0) {
		*out = strdup("");
	} else if (strncmp(abs, r->workdir, wl) == 0 && (abs[wl] == '/' || wl == 1)) {
		const char *rel = abs + (wl == 1 ? 1 : wl + 1);
		if (strcmp(rel, ".dits") == 0 || strncmp(rel, ".dits/", 6) == 0)
			rc = dits_error_set(DITS_EINVALID, "%s: path is inside the repository's .dits directory", user_path);
		else
			*out = strdup(rel);
	} else {
		rc = dits_error_set(DITS_EINVALID, "%s: path is outside the worktree %s", user_path, r->workdir);
	}
	free(abs);
	if (!rc && !*out)
		rc = dits_error_set(DITS_ENOMEM, "out of memory");
	return rc;
}

bool dits_repo_proxy_auto(const dits_repo *r)
{
	const char *v = getenv("DITS_PROXY_AUTO");
	if (!v || !*v)
		v = dits_config_get(r->config, "proxy.auto");
	return !v || !(!strcmp(v, "false") || !strcmp(v, "off") || !strcmp(v, "0") || !strcmp(v, "no"));
}

int dits_repo_config_save(dits_repo *r)
{
	char *path = dits_repo_path(r, "config");
	int rc = path ? dits_config_write(r->config, path) : dits_error_set(DITS_ENOMEM, "out of memory");
	free(path);
	return rc;
}

int dits_repo_remove(dits_repo *r)
{
	return dits_remove_tree(r->dir);
}

const char *dits_repo_workdir(const dits_repo *r)
{
	return r->workdir;
}

const char *dits_repo_dir(const dits_repo *r)
{
	return r->dir;
}

dits_config *dits_repo_config(const dits_repo *r)
{
	return r->config;
}

dits_odb *dits_repo_odb(const dits_repo *r)
{
	return r->odb;
}

const dits_chunker_params *dits_repo_chunker_params(const dits_repo *r)
{
	return &r->params;
}

const dits_chunker *dits_repo_chunker(const dits_repo *r)
{
	return &r->chunker;
}

bool dits_repo_locked(const dits_repo *r)
{
	return r->lock_fd >= 0;
}

void dits_repo_set_odb(dits_repo *r, dits_odb *db)
{
	dits_odb_free(r->odb);
	r->odb = db;
}

dits_odb *dits_repo_take_odb(dits_repo *r)
{
	dits_odb *db = r->odb;
	r->odb = NULL;
	return db;
}
