/*
 * mount.c - setting up a Dits mount, serving it (in the foreground or as a
 * detached server), its record in .dits/mounts/, unmounting, and the client
 * side of the control file.
 *
 * A detached server is forked before libfuse is touched: the child mounts,
 * writes its record and only then tells the parent (through a pipe) that
 * the mount is live, so `dits mount X && ls X` never races the mount. The
 * metadata database is opened by the serving process itself.
 */
#include "mount_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "fsutil.h"
#include "object.h"
#include "refs.h"
#include "worktree.h"

#define FUSE_SUPER_MAGIC 0x65735546
#define FSTYPE "fuse.dits"

int dits_mount_fuse_available(void)
{
	int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return dits_error_set(DITS_EINVALID,
			                      "FUSE is not available here: /dev/fuse does not exist");
		return dits_error_set(DITS_EINVALID, "FUSE is not available here: /dev/fuse: %s",
		                      strerror(errno));
	}
	close(fd);
	return 0;
}

/* ---- paths --------------------------------------------------------------- */

/* path made absolute (against the cwd) and lexically normalized. */
static char *abs_normal(const char *path)
{
	char cwd[PATH_MAX];
	size_t plen = strlen(path);
	char *buf;
	if (path[0] == '/') {
		buf = strdup(path);
	} else {
		if (!getcwd(cwd, sizeof cwd))
			return NULL;
		buf = malloc(strlen(cwd) + plen + 2);
		if (buf)
			sprintf(buf, "%s/%s", cwd, path);
	}
	if (!buf)
		return NULL;
	/* components, resolving "." and ".." lexically */
	char *out = malloc(strlen(buf) + 2);
	if (!out) {
		free(buf);
		return NULL;
	}
	size_t w = 0;
	char *save = NULL;
	for (char *c = strtok_r(buf, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		if (!strcmp(c, "."))
			continue;
		if (!strcmp(c, "..")) {
			while (w > 0 && out[w - 1] != '/')
				w--;
			if (w > 0)
				w--;
			continue;
		}
		out[w++] = '/';
		size_t l = strlen(c);
		memcpy(out + w, c, l);
		w += l;
	}
	if (w == 0)
		out[w++] = '/';
	out[w] = '\0';
	free(buf);
	return out;
}

/* Decodes mountinfo's octal escapes (\040 for a space) in place. */
static void unescape_mountinfo(char *s)
{
	char *w = s;
	for (char *r = s; *r;) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '7' && r[2] >= '0' && r[2] <= '7' &&
		    r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 4;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
}

/*
 * Looks mp up in /proc/self/mountinfo: 1 when it is a mount point (with its
 * fstype and source copied out, may be NULL), 0 when not.
 */
static int mountinfo_find(const char *mp, char **fstype, char **source)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return 0;
	char *line = NULL;
	size_t cap = 0;
	int found = 0;
	while (getline(&line, &cap, f) > 0) {
		/* id parent maj:min root mountpoint opts [optional...] - fstype source superopts */
		char *save = NULL, *fields[5] = { 0 };
		int nf = 0;
		for (char *tok = strtok_r(line, " \n", &save); tok;
		     tok = nf < 5 ? strtok_r(NULL, " \n", &save) : NULL)
			fields[nf++] = tok;
		if (!fields[4])
			continue;
		unescape_mountinfo(fields[4]);
		if (strcmp(fields[4], mp))
			continue;
		char *t, *src = NULL, *type = NULL;
		while ((t = strtok_r(NULL, " \n", &save))) {
			if (!strcmp(t, "-")) {
				type = strtok_r(NULL, " \n", &save);
				src = strtok_r(NULL, " \n", &save);
				break;
			}
		}
		/* the last matching line is the mount on top */
		found = 1;
		if (fstype) {
			free(*fstype);
			*fstype = type ? strdup(type) : NULL;
		}
		if (source) {
			free(*source);
			*source = NULL;
			if (src) {
				unescape_mountinfo(src);
				*source = strdup(src);
			}
		}
	}
	free(line);
	fclose(f);
	return found;
}

static bool is_dits_mount(const char *mp, char **source)
{
	char *type = NULL;
	bool yes = mountinfo_find(mp, &type, source) && type && !strcmp(type, FSTYPE);
	free(type);
	return yes;
}

/* ---- setup --------------------------------------------------------------- */

static int check_mountpoint(const char *mp)
{
	struct stat st;
	if (stat(mp, &st)) {
		if (errno == ENOENT)
			return dits_error_set(DITS_ENOTFOUND, "%s: no such directory", mp);
		if (errno == ENOTCONN)
			return dits_error_set(DITS_EEXISTS,
			                      "%s: a mount whose server is gone is still there (dits umount %s)",
			                      mp, mp);
		return dits_error_errno("%s", mp);
	}
	if (!S_ISDIR(st.st_mode))
		return dits_error_set(DITS_EINVALID, "%s: not a directory", mp);
	if (mountinfo_find(mp, NULL, NULL))
		return dits_error_set(DITS_EEXISTS, "%s: something is already mounted there", mp);
	DIR *d = opendir(mp);
	if (!d)
		return dits_error_errno("%s", mp);
	struct dirent *de;
	bool empty = true;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			empty = false;
			break;
		}
	closedir(d);
	if (!empty)
		return dits_error_set(DITS_EINVALID, "%s: the mount point is not empty", mp);
	if (access(mp, W_OK | X_OK) && geteuid() != 0)
		return dits_error_set(DITS_EINVALID, "%s: not writable by you", mp);
	return 0;
}

int dits_mount_new(dits_mount **out, dits_repo *r, const dits_mount_opts *o)
{
	*out = NULL;
	dits_mount *m = calloc(1, sizeof *m);
	if (!m)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	pthread_mutex_init(&m->lock, NULL);
	pthread_mutex_init(&m->db_lock, NULL);
	pthread_mutex_init(&m->drop_lock, NULL);
	pthread_mutex_init(&m->switch_lock, NULL);
	pthread_rwlockattr_t rwa;
	pthread_rwlockattr_init(&rwa);
	/* opens must not starve behind a stream of reads */
	pthread_rwlockattr_setkind_np(&rwa, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&m->odb_rw, &rwa);
	pthread_rwlockattr_destroy(&rwa);
	pthread_cond_init(&m->drop_cond, NULL);
	m->repo = r;
	m->odb = dits_repo_odb(r);
	m->foreground = o->foreground;
	/* The configured proxy (type and recipe profile) unless --variant names a type. */
	char type[DITS_VARIANT_NAME_MAX];
	dits_variant_configured(r, type, m->profile);
	m->variant = strdup(o->variant ? o->variant : type);
	m->mountpoint = abs_normal(o->mountpoint);
	int rc = 0;
	if (!m->variant || !m->mountpoint)
		rc = dits_error_set(DITS_ENOMEM, "out of memory");
	if (!rc && !dits_variant_type_valid(m->variant))
		rc = dits_error_set(DITS_EINVALID, "%s: not a variant type", m->variant);
	dits_id commit;
	const char *rev = o->rev ? o->rev : "HEAD";
	if (!rc) {
		rc = dits_revparse(r, rev, &commit);
		if (rc == DITS_ENOTFOUND && !o->rev)
			rc = dits_error_set(DITS_ENOTFOUND, "HEAD: no commit yet: nothing to mount");
		else if (rc)
			rc = dits_error_set(rc, "%s: unknown revision", rev);
	}
	if (!rc) {
		char hex[DITS_ID_HEXLEN + 1];
		dits_id_hex(hex, &commit);
		m->rev_hex = strdup(hex);
		dits_commit c;
		memset(&c, 0, sizeof c);
		rc = dits_commit_read(dits_repo_odb(r), &commit, &c);
		if (rc)
			rc = dits_error_set(rc, "%s: not a commit", rev);
		else
			m->mtime = c.committer.time;
		dits_commit_free(&c);
	}
	if (!rc) {
		/* Inside the worktree, `dits add .` and `status` would walk into
		 * the mounted files. */
		size_t wl = strlen(dits_repo_workdir(r));
		if (!strncmp(m->mountpoint, dits_repo_workdir(r), wl) &&
		    (m->mountpoint[wl] == '/' || m->mountpoint[wl] == '\0'))
			rc = dits_error_set(DITS_EINVALID,
			                    "%s: inside the worktree (add and status would see the "
			                    "mounted files): mount outside it",
			                    o->mountpoint);
	}
	if (!rc)
		rc = check_mountpoint(m->mountpoint);
	dits_flat flat;
	memset(&flat, 0, sizeof flat);
	if (!rc)
		rc = dits_flat_from_commit(r, &commit, &flat);
	if (!rc)
		rc = dits_mount_build(m, &flat);
	dits_flat_free(&flat);
	if (!rc)
		rc = dits_mount_load_proxies(m);
	if (!rc && o->proxy)
		for (size_t i = NODE_CONTROL + 1; i < m->nnodes; i++)
			if (!m->nodes[i].dir)
				m->nodes[i].want_proxy = true;
	if (rc) {
		dits_mount_free(m);
		return rc;
	}
	*out = m;
	return 0;
}

const char *dits_mount_point(const dits_mount *m)
{
	return m->mountpoint;
}

void dits_mount_counts(const dits_mount *m, size_t *files, size_t *with_proxy)
{
	*files = m->nfiles;
	*with_proxy = m->nproxies;
}

void dits_mount_free(dits_mount *m)
{
	if (!m)
		return;
	dits_mount_free_nodes(m);
	if (m->db)
		dits_metadb_close(m->db);
	for (size_t i = 0; i < m->nold_odbs; i++)
		dits_odb_free(m->old_odbs[i]);
	free(m->old_odbs);
	if (m->odb && m->odb != dits_repo_odb(m->repo))
		dits_odb_free(m->odb);
	free(m->drop_queue);
	pthread_mutex_destroy(&m->lock);
	pthread_mutex_destroy(&m->db_lock);
	pthread_mutex_destroy(&m->drop_lock);
	pthread_mutex_destroy(&m->switch_lock);
	pthread_rwlock_destroy(&m->odb_rw);
	pthread_cond_destroy(&m->drop_cond);
	free(m->mountpoint);
	free(m->rev_hex);
	free(m->variant);
	free(m);
}

/* ---- records ------------------------------------------------------------- */

static char *record_path(const char *repo_dir, const char *mountpoint)
{
	dits_id h;
	char hex[DITS_ID_HEXLEN + 1];
	dits_hash_buf(&h, mountpoint, strlen(mountpoint));
	dits_id_hex(hex, &h);
	hex[16] = '\0';
	char *p = malloc(strlen(repo_dir) + 40);
	if (p)
		sprintf(p, "%s/mounts/%s", repo_dir, hex);
	return p;
}

static int record_write(dits_mount *m)
{
	char *dir = dits_repo_path(m->repo, "mounts");
	char *path = record_path(dits_repo_dir(m->repo), m->mountpoint);
	int rc = 0;
	dits_buf b = DITS_BUF_INIT;
	if (!dir || !path)
		rc = dits_error_set(DITS_ENOMEM, "out of memory");
	if (!rc)
		rc = dits_mkdir_p(dir, 0755);
	if (!rc)
		rc = dits_buf_printf(&b, "pid %ld\nrev %s\nvariant %s\nmountpoint %s\n", (long)getpid(),
		                     m->rev_hex, m->variant, m->mountpoint);
	if (!rc)
		rc = dits_atomic_write(path, b.data, b.len);
	dits_buf_free(&b);
	free(dir);
	free(path);
	return rc;
}

/* Removes the record and the server's log (kept only if the server is killed). */
static void record_remove(dits_mount *m)
{
	char *path = record_path(dits_repo_dir(m->repo), m->mountpoint);
	char *log = path ? malloc(strlen(path) + 5) : NULL;
	if (path)
		unlink(path);
	if (log) {
		sprintf(log, "%s.log", path);
		unlink(log);
	}
	free(log);
	free(path);
}

static int record_read(const char *path, dits_mount_record *rec)
{
	memset(rec, 0, sizeof *rec);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	while ((len = getline(&line, &cap, f)) > 0) {
		if (line[len - 1] == '\n')
			line[len - 1] = '\0';
		if (!strncmp(line, "pid ", 4))
			rec->pid = (pid_t)atol(line + 4);
		else if (!strncmp(line, "rev ", 4) && !rec->rev)
			rec->rev = strdup(line + 4);
		else if (!strncmp(line, "variant ", 8) && !rec->variant)
			rec->variant = strdup(line + 8);
		else if (!strncmp(line, "mountpoint ", 11) && !rec->mountpoint)
			rec->mountpoint = strdup(line + 11);
	}
	free(line);
	fclose(f);
	return rec->pid > 0 && rec->mountpoint ? 0 : -1;
}

static void record_free(dits_mount_record *rec)
{
	free(rec->mountpoint);
	free(rec->rev);
	free(rec->variant);
	memset(rec, 0, sizeof *rec);
}

/* True while pid runs (a zombie has ended). */
static bool pid_alive(pid_t pid)
{
	if (pid <= 0 || (kill(pid, 0) && errno == ESRCH))
		return false;
	char p[64], buf[512];
	snprintf(p, sizeof p, "/proc/%ld/stat", (long)pid);
	FILE *f = fopen(p, "re");
	if (!f)
		return true;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *rp = strrchr(buf, ')');
	return !(rp && rp[1] == ' ' && rp[2] == 'Z');
}

int dits_mount_list(dits_repo *r, dits_mount_record **out, size_t *count)
{
	*out = NULL;
	*count = 0;
	char *dir = dits_repo_path(r, "mounts");
	if (!dir)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	DIR *d = opendir(dir);
	if (!d) {
		free(dir);
		return 0;
	}
	dits_mount_record *list = NULL;
	size_t n = 0;
	struct dirent *de;
	int rc = 0;
	while (!rc && (de = readdir(d))) {
		if (de->d_name[0] == '.' || strchr(de->d_name, '.'))
			continue;
		char *p = malloc(strlen(dir) + strlen(de->d_name) + 2);
		if (!p) {
			rc = dits_error_set(DITS_ENOMEM, "out of memory");
			break;
		}
		sprintf(p, "%s/%s", dir, de->d_name);
		dits_mount_record rec;
		if (record_read(p, &rec) || !pid_alive(rec.pid) || !is_dits_mount(rec.mountpoint, NULL)) {
			unlink(p); /* a stale record: its server is gone */
			record_free(&rec);
			free(p);
			continue;
		}
		free(p);
		dits_mount_record *nl = realloc(list, (n + 1) * sizeof *nl);
		if (!nl) {
			record_free(&rec);
			rc = dits_error_set(DITS_ENOMEM, "out of memory");
			break;
		}
		list = nl;
		list[n++] = rec;
	}
	closedir(d);
	free(dir);
	if (rc) {
		dits_mount_list_free(list, n);
		return rc;
	}
	*out = list;
	*count = n;
	return 0;
}

void dits_mount_list_free(dits_mount_record *list, size_t count)
{
	for (size_t i = 0; i < count; i++)
		record_free(&list[i]);
	free(list);
}

/* ---- serving ------------------------------------------------------------- */

/* Escapes ',' and '\' for libfuse's option parser. */
static char *escape_opt(const char *s)
{
	char *o = malloc(strlen(s) * 2 + 1), *w = o;
	if (!o)
		return NULL;
	for (; *s; s++) {
		if (*s == ',' || *s == '\\')
			*w++ = '\\';
		*w++ = *s;
	}
	*w = '\0';
	return o;
}

/*
 * Creates the session and mounts it. libfuse reports failures on stderr;
 * they are caught and turned into one error line.
 */
static int session_mount(dits_mount *m)
{
	char *fsname = escape_opt(dits_repo_workdir(m->repo));
	char *opts = fsname ? malloc(strlen(fsname) + 128) : NULL;
	if (!opts) {
		free(fsname);
		return dits_error_set(DITS_ENOMEM, "out of memory");
	}
	/* subtype "dits" makes the type fuse.dits in /proc/mounts; the
	 * source is the repository; max_read lets a read be 1 MiB. */
	sprintf(opts, "fsname=%s,subtype=dits,default_permissions,max_read=%u", fsname,
	        DITS_MOUNT_MAX_READ);
	free(fsname);
	char *argv[] = { (char *)"dits", (char *)"-o", opts, NULL };
	struct fuse_args args = FUSE_ARGS_INIT(3, argv);

	int saved = dup(2);
	int cap = memfd_create("dits-mount-err", MFD_CLOEXEC);
	if (saved >= 0 && cap >= 0)
		dup2(cap, 2);
	int rc = 0;
	m->se = fuse_session_new(&args, &dits_mount_ops, sizeof dits_mount_ops, m);
	fuse_opt_free_args(&args); /* the parser may have copied them */
	if (!m->se) {
		rc = DITS_ERROR;
	} else if (fuse_session_mount(m->se, m->mountpoint)) {
		fuse_session_destroy(m->se);
		m->se = NULL;
		rc = DITS_ERROR;
	}
	if (saved >= 0 && cap >= 0) {
		fflush(stderr);
		dup2(saved, 2);
	}
	if (saved >= 0)
		close(saved);
	if (rc) {
		char msg[512] = "";
		if (cap >= 0) {
			ssize_t n = pread(cap, msg, sizeof msg - 1, 0);
			msg[n > 0 ? n : 0] = '\0';
			char *nl = strchr(msg, '\n');
			if (nl)
				*nl = '\0';
		}
		const char *why = msg;
		if (!strncmp(why, "fuse: ", 6))
			why += 6;
		if (strstr(msg, "ermission") || strstr(msg, "EPERM") || strstr(msg, "not permitted"))
			rc = dits_error_set(DITS_EINVALID, "%s: cannot mount (FUSE mounts are not permitted here): %s",
			                    m->mountpoint, why);
		else
			rc = dits_error_set(DITS_ERROR, "%s: cannot mount: %s", m->mountpoint,
			                    *why ? why : "libfuse failed");
	}
	if (cap >= 0)
		close(cap);
	free(opts);
	return rc;
}

static int session_loop(dits_mount *m)
{
	int rc = 0;
	if (fuse_set_signal_handlers(m->se))
		rc = dits_error_set(DITS_ERROR, "cannot set signal handlers");
	struct fuse_loop_config *cfg = fuse_loop_cfg_create();
	if (!rc && !cfg)
		rc = dits_error_set(DITS_ENOMEM, "out of memory");
	if (!rc)
		rc = dits_mount_dropper_start(m);
	if (!rc) {
		/* Several threads: a page invalidation waits for reads in flight,
		 * which other threads must be free to answer. */
		fuse_loop_cfg_set_max_threads(cfg, 16);
		fuse_loop_cfg_set_idle_threads(cfg, 4);
		if (fuse_session_loop_mt(m->se, cfg) < 0)
			rc = dits_error_set(DITS_ERROR, "%s: the FUSE loop failed", m->mountpoint);
	}
	dits_mount_dropper_stop(m);
	if (cfg)
		fuse_loop_cfg_destroy(cfg);
	fuse_remove_signal_handlers(m->se);
	fuse_session_unmount(m->se);
	fuse_session_destroy(m->se);
	m->se = NULL;
	record_remove(m);
	return rc;
}

int dits_mount_serve(dits_mount *m, pid_t *server_pid)
{
	if (server_pid)
		*server_pid = 0;
	int rc = dits_mount_fuse_available();
	if (rc)
		return rc;
	if (m->foreground) {
		rc = session_mount(m);
		if (!rc)
			rc = record_write(m);
		if (rc && m->se) {
			fuse_session_unmount(m->se);
			fuse_session_destroy(m->se);
			m->se = NULL;
			return rc;
		}
		return rc ? rc : session_loop(m);
	}

	int p[2];
	if (pipe2(p, O_CLOEXEC))
		return dits_error_errno("pipe");
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return dits_error_errno("fork");
	}
	if (pid == 0) {
		close(p[0]);
		setsid();
		int nul = open("/dev/null", O_RDWR);
		if (nul >= 0) {
			dup2(nul, 0);
			dup2(nul, 1);
		}
		rc = session_mount(m);
		if (!rc)
			rc = record_write(m);
		if (rc) {
			const char *msg = dits_error_last();
			if (write(p[1], "E", 1) == 1 && write(p[1], msg, strlen(msg)) < 0)
				_exit(1);
			if (m->se) {
				fuse_session_unmount(m->se);
				fuse_session_destroy(m->se);
			}
			_exit(1);
		}
		/* The server's errors go to .dits/mounts/KEY.log. */
		char *path = record_path(dits_repo_dir(m->repo), m->mountpoint);
		int log = -1;
		if (path) {
			char *lp = malloc(strlen(path) + 5);
			if (lp) {
				sprintf(lp, "%s.log", path);
				log = open(lp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
				free(lp);
			}
			free(path);
		}
		if (log >= 0)
			dup2(log, 2), close(log);
		else if (nul >= 0)
			dup2(nul, 2);
		if (nul > 2)
			close(nul);
		if (chdir("/")) {
			/* stays where it is; nothing depends on the cwd */
		}
		if (write(p[1], "O", 1) != 1) {
			/* the parent is gone; keep serving */
		}
		close(p[1]);
		rc = session_loop(m);
		_exit(rc ? 1 : 0);
	}
	close(p[1]);
	char msg[600];
	size_t got = 0;
	ssize_t n;
	while (got < sizeof msg - 1 && (n = read(p[0], msg + got, sizeof msg - 1 - got)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		got += (size_t)n;
		if (msg[0] == 'O')
			break;
	}
	close(p[0]);
	msg[got] = '\0';
	if (got && msg[0] == 'O') {
		if (server_pid)
			*server_pid = pid;
		return 0;
	}
	waitpid(pid, NULL, 0);
	if (got > 1)
		return dits_error_set(DITS_ERROR, "%s", msg + 1);
	return dits_error_set(DITS_ERROR, "%s: the mount server ended before the mount was live",
	                      m->mountpoint);
}

/* ---- unmounting ---------------------------------------------------------- */

static int run_fusermount(const char *mp, bool lazy)
{
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int nul = open("/dev/null", O_RDWR);
		if (nul >= 0)
			dup2(nul, 1), dup2(nul, 2);
		execlp("fusermount3", "fusermount3", lazy ? "-uz" : "-u", "--", mp, (char *)NULL);
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int dits_umount(const char *mountpoint, bool lazy)
{
	char *mp = abs_normal(mountpoint);
	if (!mp)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	char *source = NULL;
	if (!is_dits_mount(mp, &source)) {
		struct stat st;
		int rc = stat(mp, &st) && errno == ENOENT
		                 ? dits_error_set(DITS_ENOTFOUND, "%s: no such directory", mountpoint)
		                 : dits_error_set(DITS_EINVALID, "%s: not a Dits mount", mountpoint);
		free(source);
		free(mp);
		return rc;
	}
	/* the server, from the repository named as the mount's source */
	dits_mount_record rec;
	memset(&rec, 0, sizeof rec);
	char *rpath = NULL;
	if (source) {
		char *dits_dir = malloc(strlen(source) + 8);
		if (dits_dir) {
			sprintf(dits_dir, "%s/.dits", source);
			rpath = record_path(dits_dir, mp);
			free(dits_dir);
		}
	}
	if (rpath && record_read(rpath, &rec))
		record_free(&rec);

	int rc = 0;
	if (geteuid() == 0) {
		/* A switch pins old nodes for a few milliseconds: a busy mount is
		 * tried again for a second before it counts as busy. */
		int tries = 0, e = 0;
		while (umount2(mp, lazy ? MNT_DETACH : 0) && (e = errno) == EBUSY && ++tries < 20) {
			struct timespec ts = { 0, 50 * 1000 * 1000 };
			nanosleep(&ts, NULL);
		}
		if (tries >= 20 || (e && e != EBUSY)) {
			errno = e;
			if (errno == EBUSY)
				rc = dits_error_set(DITS_ELOCKED,
				                    "%s: busy: a file inside is open (close it, or use --lazy)",
				                    mountpoint);
			else
				rc = dits_error_errno("%s: umount", mountpoint);
		}
	} else {
		int st = run_fusermount(mp, lazy);
		for (int tries = 1; st > 0 && st != 127 && tries < 20; tries++) {
			struct timespec ts = { 0, 50 * 1000 * 1000 };
			nanosleep(&ts, NULL);
			st = run_fusermount(mp, lazy);
		}
		if (st == 127 || st < 0)
			rc = dits_error_set(DITS_ERROR, "%s: fusermount3 is not installed", mountpoint);
		else if (st)
			rc = dits_error_set(DITS_ELOCKED,
			                    "%s: fusermount3 -u failed (busy: a file inside is open?)",
			                    mountpoint);
	}
	if (!rc && rec.pid > 0) {
		/* Wait for the server to finish (it removes its record). */
		for (int i = 0; i < 500 && pid_alive(rec.pid); i++) {
			struct timespec ts = { 0, 10 * 1000 * 1000 };
			nanosleep(&ts, NULL);
		}
	}
	if (!rc && rpath)
		unlink(rpath); /* gone already, unless the server was killed */
	record_free(&rec);
	free(rpath);
	free(source);
	free(mp);
	return rc;
}

/* ---- the control file, from a client ------------------------------------- */

int dits_mount_source(const char *root, char **workdir, char **rev_hex)
{
	*workdir = NULL;
	*rev_hex = NULL;
	char *source = NULL;
	if (!is_dits_mount(root, &source) || !source) {
		free(source);
		return dits_error_set(DITS_EINVALID, "%s: not a Dits mount", root);
	}
	char *dits_dir = malloc(strlen(source) + 8);
	char *rpath = NULL;
	if (dits_dir) {
		sprintf(dits_dir, "%s/.dits", source);
		rpath = record_path(dits_dir, root);
		free(dits_dir);
	}
	dits_mount_record rec;
	memset(&rec, 0, sizeof rec);
	if (!rpath || record_read(rpath, &rec) || !rec.rev) {
		record_free(&rec);
		free(rpath);
		free(source);
		return dits_error_set(DITS_ENOTFOUND, "%s: the mount's record is missing from its repository", root);
	}
	free(rpath);
	*workdir = source;
	*rev_hex = rec.rev;
	rec.rev = NULL;
	record_free(&rec);
	return 0;
}

static bool holds_control(const char *dir)
{
	struct statfs sf;
	if (statfs(dir, &sf) || sf.f_type != FUSE_SUPER_MAGIC)
		return false;
	char *p = malloc(strlen(dir) + sizeof DITS_MOUNT_CONTROL + 2);
	if (!p)
		return false;
	sprintf(p, "%s/%s", strcmp(dir, "/") ? dir : "", DITS_MOUNT_CONTROL);
	struct stat st;
	bool yes = !stat(p, &st) && S_ISREG(st.st_mode);
	free(p);
	return yes;
}

int dits_mount_find_root(const char *path, char **root, char **rel)
{
	*root = NULL;
	if (rel)
		*rel = NULL;
	char *abs = abs_normal(path);
	if (!abs)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	char *dir = strdup(abs);
	if (!dir) {
		free(abs);
		return dits_error_set(DITS_ENOMEM, "out of memory");
	}
	for (;;) {
		if (holds_control(dir)) {
			size_t dl = strlen(dir);
			const char *r = abs + (dl == 1 ? 1 : dl);
			if (*r == '/')
				r++;
			if (rel && !(*rel = strdup(r))) {
				free(dir);
				free(abs);
				return dits_error_set(DITS_ENOMEM, "out of memory");
			}
			*root = dir;
			free(abs);
			return 0;
		}
		char *slash = strrchr(dir, '/');
		if (!slash || slash == dir) {
			if (strcmp(dir, "/")) {
				strcpy(dir, "/");
				continue;
			}
			break;
		}
		*slash = '\0';
	}
	free(dir);
	free(abs);
	return 0;
}

static char *control_path(const char *root)
{
	char *p = malloc(strlen(root) + sizeof DITS_MOUNT_CONTROL + 2);
	if (p)
		sprintf(p, "%s/%s", strcmp(root, "/") ? root : "", DITS_MOUNT_CONTROL);
	return p;
}

int dits_mount_control_set(const char *root, bool proxy, const char *const *rels, size_t n)
{
	dits_buf line = DITS_BUF_INIT;
	int rc = dits_buf_puts(&line, proxy ? "proxy" : "master");
	for (size_t i = 0; !rc && i < n; i++) {
		rc = dits_buf_put_u8(&line, ' ');
		if (!rels[i][0])
			rc = rc ? rc : dits_buf_put_u8(&line, '.');
		for (const char *s = rels[i]; !rc && *s; s++) {
			if (*s == '\n')
				rc = dits_buf_puts(&line, "\\n");
			else if (*s == ' ' || *s == '\t' || *s == '\\')
				rc = dits_buf_put_u8(&line, '\\') || dits_buf_put_u8(&line, (uint8_t)*s);
			else
				rc = dits_buf_put_u8(&line, (uint8_t)*s);
		}
	}
	if (!rc)
		rc = dits_buf_put_u8(&line, '\n');
	char *cp = control_path(root);
	if (rc || !cp) {
		free(cp);
		dits_buf_free(&line);
		return dits_error_set(DITS_ENOMEM, "out of memory");
	}
	int fd = open(cp, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = dits_error_errno("%s", cp);
	} else {
		ssize_t w = write(fd, line.data, line.len);
		if (w < 0) {
			int e = errno;
			if (e == ENOENT)
				rc = dits_error_set(DITS_ENOTFOUND, "%s: a path is not in the mounted tree", root);
			else if (e == ENODATA)
				rc = dits_error_set(DITS_ENOTFOUND,
				                    "%s: a master's chunks are not in this repository (partial "
				                    "clone); nothing was switched", root);
			else
				rc = dits_error_set(DITS_EIO, "%s: switching failed: %s", root, strerror(e));
		} else if ((size_t)w != line.len) {
			rc = dits_error_set(DITS_EIO, "%s: short write to the control file", root);
		}
		if (close(fd) && !rc)
			rc = dits_error_errno("%s", cp);
	}
	free(cp);
	dits_buf_free(&line);
	return rc;
}

int dits_mount_control_list(const char *root, dits_buf *out)
{
	char *cp = control_path(root);
	if (!cp)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	int rc = dits_read_file(cp, out);
	free(cp);
	return rc;
}
