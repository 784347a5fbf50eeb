/*
 * Worktree operations. The order of writes is what keeps a killed command
 * harmless: chunks and objects are made durable in a pack first, then the
 * index is replaced, then refs move. A crash before the last step leaves
 * the previous state, plus at most an unreferenced pack that gc removes.
 */
#include "worktree.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "fsutil.h"
#include "refs.h"
#include "repo_internal.h"

/* ---- flattened trees ------------------------------------------------ */

void dits_flat_free(dits_flat *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->e[i].path);
	free(f->e);
	memset(f, 0, sizeof *f);
}

static int flat_push(dits_flat *f, char *path, uint32_t mode, uint64_t size, const dits_id *id)
{
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 64;
		dits_flat_entry *n = realloc(f->e, cap * sizeof *n);
		if (!n)
			return dits_error_set(DITS_ENOMEM, "out of memory");
		f->e = n;
		f->cap = cap;
	}
	f->e[f->n++] = (dits_flat_entry){ path, mode, size, *id };
	return 0;
}

static int flatten(dits_repo *r, const dits_id *tree, const char *prefix, dits_flat *out, int depth)
{
	if (depth >= DITS_TREE_DEPTH_MAX)
		return dits_tree_depth_error(tree, prefix);
	dits_tree t;
	int rc = dits_tree_read(r->odb, tree, &t);
	if (rc)
		return rc;
	for (size_t i = 0; i < t.n && !rc; i++) {
		const dits_tree_entry *e = &t.e[i];
		char *path = dits_path_join(prefix, e->name);
		if (!path) {
			rc = dits_error_set(DITS_ENOMEM, "out of memory");
			break;
		}
		if (e->kind == DITS_KIND_TREE) {
			rc = flatten(r, &e->id, path, out, depth + 1);
			free(path);
		} else if ((rc = flat_push(out, path, e->mode, e->size, &e->id))) {
			free(path);
		}
	}
	dits_tree_free(&t);
	return rc;
}

static int cmp_flat(const void *a, const void *b)
{
	return strcmp(((const dits_flat_entry *)a)->path, ((const dits_flat_entry *)b)->path);
}

int dits_flat_from_tree(dits_repo *r, const dits_id *tree, dits_flat *out)
{
	memset(out, 0, sizeof *out);
	int rc = flatten(r, tree, "", out, 0);
	if (rc) {
		dits_flat_free(out);
		return rc;
	}
	/* Tree order is path order unless a name is a prefix of a sibling's
	 * followed by a byte below '/' ("clip" beside "clip.mov"): sort only then. */
	for (size_t i = 1; i < out->n; i++)
		if (strcmp(out->e[i - 1].path, out->e[i].path) > 0) {
			qsort(out->e, out->n, sizeof *out->e, cmp_flat);
			break;
		}
	return 0;
}

int dits_flat_from_commit(dits_repo *r, const dits_id *commit, dits_flat *out)
{
	memset(out, 0, sizeof *out);
	if (dits_id_is_zero(commit))
		return 0;
	dits_commit c;
	int rc = dits_commit_read(r->odb, commit, &c);
	if (rc)
		return rc;
	rc = dits_flat_from_tree(r, &c.tree, out);
	dits_commit_free(&c);
	return rc;
}

int dits_flat_from_head(dits_repo *r, dits_flat *out, bool *has_head, dits_id *head)
{
	memset(out, 0, sizeof *out);
	dits_id id;
	int rc = dits_ref_read(r, "HEAD", &id);
	if (rc == DITS_ENOTFOUND) {
		if (has_head)
			*has_head = false;
		if (head)
			memset(head, 0, sizeof *head);
		return 0;
	}
	if (rc)
		return rc;
	if (has_head)
		*has_head = true;
	if (head)
		*head = id;
	return dits_flat_from_commit(r, &id, out);
}

const dits_flat_entry *dits_flat_find(const dits_flat *f, const char *path)
{
	size_t lo = 0, hi = f->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(f->e[mid].path, path);
		if (c == 0)
			return &f->e[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* ---- ignore rules --------------------------------------------------- */

typedef struct ignore_rule {
	char *pat;
	bool dir_only, anchored, negate;
} ignore_rule;

typedef struct ignore {
	ignore_rule *v;
	size_t n;
} ignore;

static void ignore_free(ignore *ig)
{
	for (size_t i = 0; i < ig->n; i++)
		free(ig->v[i].pat);
	free(ig->v);
	memset(ig, 0, sizeof *ig);
}

static int ignore_load(dits_repo *r, ignore *ig)
{
	memset(ig, 0, sizeof *ig);
	char *path = dits_path_join(r->workdir, ".ditsignore");
	dits_buf b = DITS_BUF_INIT;
	int rc = path ? dits_read_file(path, &b) : DITS_ENOMEM;
	free(path);
	if (rc == DITS_ENOTFOUND) {
		dits_buf_free(&b);
		return 0;
	}
	if (rc) {
		dits_buf_free(&b);
		return rc;
	}
	char *save = NULL;
	for (char *line = strtok_r((char *)b.data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		size_t l = strlen(line);
		while (l && (line[l - 1] == '\r' || line[l - 1] == ' ' || line[l - 1] == '\t'))
			line[--l] = '\0';
		if (!l || line[0] == '#')
			continue;
		ignore_rule rule = { 0 };
		if (line[0] == '!') {
			rule.negate = true;
			line++;
			l--;
		}
		if (l && line[l - 1] == '/') {
			rule.dir_only = true;
			line[--l] = '\0';
		}
		if (line[0] == '/') {
			rule.anchored = true;
			line++;
		}
		if (strchr(line, '/'))
			rule.anchored = true;
		if (!*line)
			continue;
		ignore_rule *nv = realloc(ig->v, (ig->n + 1) * sizeof *nv);
		if (!nv || !(rule.pat = strdup(line))) {
			free(nv == ig->v ? NULL : NULL);
			if (nv)
				ig->v = nv;
			dits_buf_free(&b);
			return dits_error_set(DITS_ENOMEM, "out of memory");
		}
		ig->v = nv;
		ig->v[ig->n++] = rule;
	}
	dits_buf_free(&b);
	return 0;
}

static bool ignored(const ignore *ig, const char *rel, bool is_dir)
{
	const char *base = strrchr(rel, '/');
	base = base ? base + 1 : rel;
	bool result = false;
	for (size_t i = 0; i < ig->n; i++) {
		const ignore_rule *ru = &ig->v[i];
		if (ru->dir_only && !is_dir)
			continue;
		bool m = ru->anchored ? fnmatch(ru->pat, rel, FNM_PATHNAME) == 0
		                      : fnmatch(ru->pat, base, 0) == 0;
		if (m)
			result = !ru->negate;
	}
	return result;
}

/* ---- walking the worktree ------------------------------------------ */

typedef struct wt_file {
	char *path;
	struct stat st;
} wt_file;

typedef struct wt_list {
	wt_file *v;
	size_t n, cap;
} wt_list;

static void wt_free(wt_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].path);
	free(l->v);
	memset(l, 0, sizeof *l);
}

static int wt_push(wt_list *l, char *path, const struct stat *st)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 256;
		wt_file *n = realloc(l->v, cap * sizeof *n);
		if (!n)
			return dits_error_set(DITS_ENOMEM, "out of memory");
		l->v = n;
		l->cap = cap;
	}
	l->v[l->n].path = path;
	l->v[l->n].st = *st;
	l->n++;
	return 0;
}

static int cmp_wt(const void *a, const void *b)
{
	return strcmp(((const wt_file *)a)->path, ((const wt_file *)b)->path);
}

/*
 * Path order is strcmp order of whole paths, in which a directory's
 * children sort as if its name ended in '/' ("clip/a" after "clip.mov").
 * Each directory's entries are sorted that way before they are walked, so
 * the walk yields the paths already in order and the callers' sortedness
 * check leaves them as they are. Names cannot hold '/', so the virtual '/'
 * is met only at the end of a directory's name.
 */
static int cmp_dirent_order(const char *a, bool a_dir, const char *b, bool b_dir)
{
	size_t i = 0;
	while (a[i] && a[i] == b[i])
		i++;
	unsigned ca = a[i] ? (unsigned char)a[i] : a_dir ? '/' : 0;
	unsigned cb = b[i] ? (unsigned char)b[i] : b_dir ? '/' : 0;
	return (ca > cb) - (ca < cb);
}

/* One directory's entries, read before any is walked. */
typedef struct dir_ent {
	size_t path; /* offset into dir_list.paths of "rel/name" */
	struct stat st;
} dir_ent;

typedef struct dir_list {
	dir_ent *v;
	size_t n, cap;
	dits_buf paths; /* NUL-terminated relative paths, all with the same rel/ prefix */
	size_t name_at; /* where the name starts in each path: rel's length, plus the '/' */
} dir_list;

static void dir_list_free(dir_list *l)
{
	free(l->v);
	dits_buf_free(&l->paths);
	memset(l, 0, sizeof *l);
}

static const char *dir_list_path(const dir_list *l, size_t i)
{
	return (const char *)l->paths.data + l->v[i].path;
}

static int dir_list_push(dir_list *l, const char *path, const struct stat *st)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 32;
		dir_ent *v = realloc(l->v, cap * sizeof *v);
		if (!v)
			return dits_error_set(DITS_ENOMEM, "out of memory");
		l->v = v;
		l->cap = cap;
	}
	size_t at = l->paths.len;
	if (dits_buf_put(&l->paths, path, strlen(path) + 1)) /* with its NUL */
		return dits_error_set(DITS_ENOMEM, "out of memory");
	l->v[l->n].path = at;
	l->v[l->n].st = *st;
	l->n++;
	return 0;
}

/* An entry as the sort sees it: its name (after the shared rel/ prefix,
 * so whole paths compare as the names do) and whether it is a directory. */
typedef struct sort_key {
	const char *name;
	size_t i;
	bool dir;
} sort_key;

static int cmp_sort_key(const void *a, const void *b)
{
	const sort_key *x = a, *y = b;
	/* Between two files, or names that differ before either ends, the
	 * virtual '/' never counts: strcmp's order is path order. */
	if (!x->dir && !y->dir)
		return strcmp(x->name, y->name);
	return cmp_dirent_order(x->name, x->dir, y->name, y->dir);
}

/* The same order on the entries of the dir_list given as ctx. */
static int cmp_dir_ent(const void *a, const void *b, void *ctx)
{
	const dir_ent *x = a, *y = b;
	const dir_list *l = ctx;
	const char *p = (const char *)l->paths.data + l->name_at;
	sort_key kx = { p + x->path, 0, S_ISDIR(x->st.st_mode) };
	sort_key ky = { p + y->path, 0, S_ISDIR(y->st.st_mode) };
	return cmp_sort_key(&kx, &ky);
}

/*
 * Reading a directory is three steps, so that the stats of a directory of
 * thousands of files (an image sequence) can be shared between threads:
 * list_names reads the names, stat_range stats a range of them, and
 * keep_sorted drops what the walk does not keep and sorts the rest.
 */

/* The names in the directory open on dirfd (rel, "" = root), without .,
 * .., the root's .dits and our temporary files; each entry's stat is
 * zero until stat_range fills it. dirfd stays open. */
static int list_names(int dirfd, const char *rel, dir_list *out)
{
	int fd = dup(dirfd);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	if (!d) {
		if (fd >= 0)
			close(fd);
		return dits_error_errno("%s", *rel ? rel : ".");
	}
	int rc = 0;
	struct dirent *e;
	char *path = NULL;
	size_t relen = strlen(rel), pcap = 0;
	out->name_at = relen ? relen + 1 : 0;
	struct stat none;
	memset(&none, 0, sizeof none);
	while (!rc && (e = readdir(d))) {
		const char *name = e->d_name;
		if (name[0] == '.' && (!name[1] || (name[1] == '.' && !name[2])))
			continue;
		if (!*rel && !strcmp(name, ".dits"))
			continue;
		if (strstr(name, ".dits-tmp-"))
			continue;
		/* rel/name, in one buffer reused for every entry */
		size_t need = relen + strlen(name) + 2;
		if (need > pcap) {
			char *np = realloc(path, need * 2);
			if (!np) {
				rc = dits_error_set(DITS_ENOMEM, "out of memory");
				break;
			}
			path = np;
			pcap = need * 2;
		}
		char *q = path;
		if (relen) {
			memcpy(q, rel, relen);
			q += relen;
			*q++ = '/';
		}
		memcpy(q, name, need - relen - 1); /* with its NUL */
		/* readdir's type, for sorting while the stats run; the stat decides */
		none.st_mode = e->d_type == DT_DIR ? S_IFDIR : e->d_type == DT_REG ? S_IFREG : 0;
		rc = dir_list_push(out, path, &none);
	}
	free(path);
	closedir(d);
	return rc;
}

/* Stats entries [lo, hi) of l, listed from the directory open on dirfd.
 * An entry that vanished meanwhile keeps a zero mode. */
static int stat_range(int dirfd, dir_list *l, size_t lo, size_t hi)
{
	for (size_t i = lo; i < hi; i++) {
		const char *path = dir_list_path(l, i);
		if (fstatat(dirfd, path + l->name_at, &l->v[i].st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno != ENOENT)
				return dits_error_errno("%s", path);
			l->v[i].st.st_mode = 0;
		}
	}
	return 0;
}

/* The sort keys of l's entries, in list order: whether each is a
 * directory comes from its mode (before the stats, readdir's type).
 * NULL when short of memory. */
static sort_key *sort_keys(const dir_list *l)
{
	sort_key *keys = malloc((l->n ? l->n : 1) * sizeof *keys);
	for (size_t i = 0; keys && i < l->n; i++)
		keys[i] = (sort_key){ dir_list_path(l, i) + l->name_at, i, S_ISDIR(l->v[i].st.st_mode) };
	return keys;
}

/* Whether the walk keeps an entry of mode m at path: a regular file or a
 * directory that is not ignored. Anything else but a vanished entry (mode
 * 0) is warned about, once per walk thread. */
static bool walk_keeps(const char *path, mode_t m, const ignore *ig, bool *warned)
{
	if (S_ISDIR(m) || S_ISREG(m))
		return !ignored(ig, path, S_ISDIR(m));
	if (m != 0 && !*warned) {
		fprintf(stderr, "dits: warning: %s: not a regular file, skipped\n", path);
		*warned = true;
	}
	return false;
}

/*
 * Keeps what walk_keeps keeps and puts it in path order. keys, if not NULL, are l's entries already sorted by sort_keys'
 * types; they are checked against the stats (sorted again when a type
 * differs) and freed.
 */
static void keep_sorted(dir_list *l, sort_key *keys, const ignore *ig, bool *warned)
{
	bool again = keys == NULL;
	size_t k = 0;
	if (!keys && !(keys = sort_keys(l)))
		goto short_of_memory;
	for (size_t j = 0; j < l->n; j++) {
		mode_t m = l->v[keys[j].i].st.st_mode;
		if ((S_ISDIR(m) || S_ISREG(m)) && keys[j].dir != (bool)S_ISDIR(m)) {
			again = true;
			keys[j].dir = S_ISDIR(m);
		}
	}
	if (again && l->n > 1)
		qsort(keys, l->n, sizeof *keys, cmp_sort_key);
	dir_ent *v = malloc((l->n ? l->n : 1) * sizeof *v);
	if (!v) {
		free(keys);
		goto short_of_memory;
	}
	for (size_t j = 0; j < l->n; j++) {
		const dir_ent *e = &l->v[keys[j].i];
		if (walk_keeps((const char *)l->paths.data + e->path, e->st.st_mode, ig, warned))
			v[k++] = *e;
	}
	free(keys);
	free(l->v);
	l->v = v;
	l->n = k;
	l->cap = l->n ? l->n : 1;
	return;

short_of_memory: /* sort the entries themselves, in place */
	for (size_t i = 0; i < l->n; i++)
		if (walk_keeps(dir_list_path(l, i), l->v[i].st.st_mode, ig, warned))
			l->v[k++] = l->v[i];
	l->n = k;
	if (l->n > 1)
		qsort_r(l->v, l->n, sizeof *l->v, cmp_dir_ent, l);
}

/*
 * Reads the entries of the directory open on dirfd (rel, "" = root) that
 * the walk keeps: regular files and directories that are not ignored, not
 * .dits and not our temporary files; anything else is warned about once
 * and skipped. The list comes back in path order. dirfd stays open.
 */
static int read_dir(int dirfd, const char *rel, const ignore *ig, dir_list *out, bool *warned)
{
	int rc = list_names(dirfd, rel, out);
	if (!rc)
		rc = stat_range(dirfd, out, 0, out->n);
	if (!rc)
		keep_sorted(out, NULL, ig, warned);
	return rc;
}

/* Collects regular files below rel (a directory, "" = root) in path order,
 * skipping .dits and ignored paths. dirfd is open on rel; closes it. */
static int walk_dir(int dirfd, const char *rel, const ignore *ig, wt_list *out, bool *warned)
{
	dir_list l = { 0 };
	int rc = read_dir(dirfd, rel, ig, &l, warned);
	for (size_t i = 0; !rc && i < l.n; i++) {
		const char *rpath = dir_list_path(&l, i);
		char *path = strdup(rpath);
		if (!path) {
			rc = dits_error_set(DITS_ENOMEM, "out of memory");
		} else if (S_ISDIR(l.v[i].st.st_mode)) {
			int sub = openat(dirfd, rpath + l.name_at, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
			if (sub < 0)
				rc = errno == ENOENT ? 0 : dits_error_errno("%s", path); /* ENOENT: vanished */
			else
				rc = walk_dir(sub, path, ig, out, warned);
			free(path);
		} else if ((rc = wt_push(out, path, &l.v[i].st))) {
			free(path);
		}
	}
	dir_list_free(&l);
	close(dirfd);
	return rc;
}

/*
 * Walking the whole worktree is a stat per file; like git's preload-index,
 * the work is shared out between threads (one per core, at most four).
 * The unit of work is one directory: a thread reads and stats its entries,
 * keeps them in the directory's node in path order, and queues a node for
 * each subdirectory, so any shape of tree (one folder holding every card,
 * or a thousand) keeps every thread busy. When the queue is empty and no
 * directory is being read, the nodes are visited depth first, which gives
 * the files in path order.
 *
 * The walk runs in the background between walk_start and walk_finish:
 * status loads the index and reads HEAD meanwhile, then joins the walk as
 * one more thread.
 */
#define WALK_MAX_THREADS 4
#define WALK_HELD_FDS 64 /* queued directories kept open; the rest are opened by path */

#define WALK_STAT_RUN 512 /* a directory of more entries has its stats shared out in runs of this many */

typedef struct walk_node {
	const char *rel;        /* "" for the root; else in the parent's list */
	int fd;                 /* open on the directory until it is read, or -1 */
	dir_list l;             /* its entries, in path order */
	struct walk_node **sub; /* for each entry that is a directory, its node */
	size_t runs_left;       /* runs of stats not yet done (under the walk's lock) */
	sort_key *keys;         /* its entries sorted while the runs stat them, or NULL */
} walk_node;

/* Read directory n, or (stats) stat its entries [lo, hi). */
typedef struct walk_task {
	walk_node *n;
	size_t lo, hi;
	bool stats;
} walk_task;

typedef struct wt_walk wt_walk;

typedef struct walk_share {
	pthread_t th;
	wt_walk *w;
	int rc;
	char err[1024];
} walk_share;

struct wt_walk {
	int rootfd;
	ignore own;       /* the rules, when the caller gave none */
	const ignore *ig; /* the rules the walk follows */
	walk_node *root;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	walk_task *queue; /* what is left to do, taken from the end */
	size_t nqueue, capqueue;
	size_t pending; /* queued or being read */
	size_t held;    /* queued nodes holding an fd */
	bool failed;
	size_t started; /* threads running shares[0, started) */
	bool threaded;  /* threads were to be started (set before any runs) */
	walk_share shares[WALK_MAX_THREADS + 1]; /* the last one is the caller's */
	int rc;
};

/* Opens rel (a directory below the root, "a/b") without following any
 * symbolic link on the way. */
static int open_below(int rootfd, const char *rel)
{
	int fd = dup(rootfd);
	const char *p = rel;
	while (fd >= 0 && *p) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		char name[NAME_MAX + 1];
		if (n > NAME_MAX) {
			close(fd);
			errno = ENAMETOOLONG;
			return -1;
		}
		memcpy(name, p, n);
		name[n] = '\0';
		int sub = openat(fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		int e = errno;
		close(fd);
		errno = e;
		fd = sub;
		p += n;
		if (*p == '/')
			p++;
	}
	return fd;
}

static void walk_node_free(walk_node *n)
{
	if (!n)
		return;
	if (n->sub)
		for (size_t i = 0; i < n->l.n; i++)
			walk_node_free(n->sub[i]);
	free(n->sub);
	free(n->keys);
	if (n->fd >= 0)
		close(n->fd);
	dir_list_free(&n->l);
	free(n);
}

/* Makes room for more tasks in the queue; under the lock. */
static int queue_reserve(wt_walk *w, size_t more)
{
	if (w->nqueue + more <= w->capqueue)
		return 0;
	size_t cap = w->capqueue ? w->capqueue : 64;
	while (cap < w->nqueue + more)
		cap *= 2;
	walk_task *q = realloc(w->queue, cap * sizeof *q);
	if (!q)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	w->queue = q;
	w->capqueue = cap;
	return 0;
}

/* Finishes directory n, all its entries statted, on fd (closed here):
 * keeps and sorts its entries and queues its subdirectories. */
static int walk_done(wt_walk *w, walk_node *n, int fd, bool *warned)
{
	keep_sorted(&n->l, n->keys, w->ig, warned);
	n->keys = NULL;
	int rc = 0;
	size_t ndirs = 0;
	for (size_t i = 0; i < n->l.n; i++)
		ndirs += S_ISDIR(n->l.v[i].st.st_mode);
	if (ndirs && !(n->sub = calloc(n->l.n, sizeof *n->sub)))
		rc = dits_error_set(DITS_ENOMEM, "out of memory");
	for (size_t i = 0; !rc && ndirs && i < n->l.n; i++) {
		if (!S_ISDIR(n->l.v[i].st.st_mode))
			continue;
		walk_node *c = calloc(1, sizeof *c);
		if (!c) {
			rc = dits_error_set(DITS_ENOMEM, "out of memory");
			break;
		}
		c->rel = dir_list_path(&n->l, i);
		c->fd = -1;
		n->sub[i] = c;
	}
	if (!rc && ndirs) {
		pthread_mutex_lock(&w->mu);
		rc = queue_reserve(w, ndirs);
		/* Last entry first: the first subdirectory is taken next. */
		for (size_t i = n->l.n; !rc && i-- > 0;) {
			walk_node *c = n->sub[i];
			if (!c)
				continue;
			if (w->held < WALK_HELD_FDS) {
				c->fd = openat(fd, c->rel + n->l.name_at, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
				w->held += c->fd >= 0;
			}
			w->queue[w->nqueue++] = (walk_task){ c, 0, 0, false };
			w->pending++;
		}
		pthread_cond_broadcast(&w->cv);
		pthread_mutex_unlock(&w->mu);
	}
	close(fd);
	return rc;
}

/* Reads the names of directory n; stats them here, or queues runs of
 * stats for the other threads when there are many. */
static int walk_read(wt_walk *w, walk_node *n, bool *warned)
{
	int fd = n->fd;
	n->fd = -1;
	if (fd < 0 && (fd = *n->rel ? open_below(w->rootfd, n->rel) : dup(w->rootfd)) < 0)
		return errno == ENOENT ? 0 : dits_error_errno("%s", *n->rel ? n->rel : "."); /* ENOENT: vanished */
	int rc = list_names(fd, n->rel, &n->l);
	if (!rc && (n->l.n <= WALK_STAT_RUN || !w->threaded)) {
		if (!(rc = stat_range(fd, &n->l, 0, n->l.n)))
			return walk_done(w, n, fd, warned);
	} else if (!rc) {
		size_t runs = (n->l.n + WALK_STAT_RUN - 1) / WALK_STAT_RUN;
		/* Keys taken before the runs write the stats; sorted here meanwhile. */
		sort_key *keys = sort_keys(&n->l);
		pthread_mutex_lock(&w->mu);
		rc = queue_reserve(w, runs);
		if (!rc) {
			n->fd = fd; /* kept open for the runs; the last to end closes it */
			n->runs_left = runs + 1; /* and the sort */
			for (size_t r = runs; r-- > 0;) {
				size_t lo = r * WALK_STAT_RUN, hi = lo + WALK_STAT_RUN < n->l.n ? lo + WALK_STAT_RUN : n->l.n;
				w->queue[w->nqueue++] = (walk_task){ n, lo, hi, true };
			}
			w->pending += runs;
			pthread_cond_broadcast(&w->cv);
		}
		pthread_mutex_unlock(&w->mu);
		if (rc) {
			free(keys);
		} else {
			if (keys && n->l.n > 1)
				qsort(keys, n->l.n, sizeof *keys, cmp_sort_key);
			n->keys = keys;
			pthread_mutex_lock(&w->mu);
			bool last = --n->runs_left == 0;
			pthread_mutex_unlock(&w->mu);
			if (!last)
				return 0;
			n->fd = -1;
			return walk_done(w, n, fd, warned);
		}
	}
	close(fd);
	return rc;
}

/* One run of a directory's stats; the last run to end finishes it. */
static int walk_stat_run(wt_walk *w, const walk_task *t, bool *warned)
{
	walk_node *n = t->n;
	int rc = stat_range(n->fd, &n->l, t->lo, t->hi);
	pthread_mutex_lock(&w->mu);
	bool last = --n->runs_left == 0;
	pthread_mutex_unlock(&w->mu);
	if (rc || !last)
		return rc; /* after an error the fd stays in n, closed with it */
	int fd = n->fd;
	n->fd = -1;
	return walk_done(w, n, fd, warned);
}

static void *walk_share_main(void *arg)
{
	walk_share *s = arg;
	wt_walk *w = s->w;
	bool warned = false;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->failed && !w->nqueue && w->pending)
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->failed || !w->nqueue)
			break;
		walk_task t = w->queue[--w->nqueue];
		if (!t.stats)
			w->held -= t.n->fd >= 0;
		pthread_mutex_unlock(&w->mu);
		int rc = t.stats ? walk_stat_run(w, &t, &warned) : walk_read(w, t.n, &warned);
		pthread_mutex_lock(&w->mu);
		if (rc && !w->failed) {
			s->rc = rc;
			snprintf(s->err, sizeof s->err, "%s", dits_error_last());
			w->failed = true;
		}
		if (--w->pending == 0 || w->failed)
			pthread_cond_broadcast(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* Queues the root and starts the threads, following ig (NULL: the
 * repository's .ditsignore). On an error nothing runs, and walk_finish
 * reports it. */
static void walk_start(dits_repo *r, const ignore *ig, wt_walk *w)
{
	memset(w, 0, sizeof *w);
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	w->rootfd = -1;
	w->ig = ig ? ig : &w->own;
	if (!ig && (w->rc = ignore_load(r, &w->own)))
		return;
	w->rootfd = open(r->workdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (w->rootfd < 0) {
		w->rc = dits_error_errno("%s", r->workdir);
		return;
	}
	if (!(w->root = calloc(1, sizeof *w->root)) || !(w->queue = malloc(64 * sizeof *w->queue))) {
		w->rc = dits_error_set(DITS_ENOMEM, "out of memory");
		return;
	}
	w->root->rel = "";
	w->root->fd = -1;
	w->queue[0] = (walk_task){ w->root, 0, 0, false };
	w->nqueue = w->pending = 1;
	w->capqueue = 64;
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	size_t nthreads = cores < 2 ? 0 : cores > WALK_MAX_THREADS ? WALK_MAX_THREADS : (size_t)cores;
	for (size_t t = 0; t <= WALK_MAX_THREADS; t++)
		w->shares[t].w = w;
	w->threaded = nthreads > 0;
	while (w->started < nthreads &&
	       pthread_create(&w->shares[w->started].th, NULL, walk_share_main, &w->shares[w->started]) == 0)
		w->started++;
}

/* Appends node n's files and its subdirectories' files, in path order. */
static int walk_collect(walk_node *n, wt_list *out)
{
	int rc = 0;
	for (size_t i = 0; !rc && i < n->l.n; i++) {
		if (n->sub && n->sub[i]) {
			rc = walk_collect(n->sub[i], out);
			continue;
		}
		char *p = strdup(dir_list_path(&n->l, i));
		if (!p || (rc = wt_push(out, p, &n->l.v[i].st))) {
			free(p);
			rc = dits_error_set(DITS_ENOMEM, "out of memory");
		}
	}
	return rc;
}

/* Reads what the threads have not, joins them and hands over the
 * worktree's files in path order. Frees everything else. */
static int walk_finish(wt_walk *w, wt_list *out)
{
	int rc = w->rc;
	walk_share *mine = &w->shares[WALK_MAX_THREADS];
	mine->w = w;
	if (!rc && w->root)
		walk_share_main(mine);
	for (size_t t = 0; t < w->started; t++)
		pthread_join(w->shares[t].th, NULL);
	for (size_t t = 0; t <= WALK_MAX_THREADS; t++)
		if (!rc && w->shares[t].rc)
			rc = dits_error_set(w->shares[t].rc, "%s", w->shares[t].err);
	if (!rc && w->root)
		rc = walk_collect(w->root, out);
	walk_node_free(w->root);
	free(w->queue);
	if (w->rootfd >= 0)
		close(w->rootfd);
	ignore_free(&w->own);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	memset(w, 0, sizeof *w);
	return rc;
}

/* Stops a started walk whose result is not wanted, after an error rc that
 * stays the one reported. */
static void walk_cancel(wt_walk *w, int rc)
{
	char err[1024];
	snprintf(err, sizeof err, "%s", dits_error_last());
	pthread_mutex_lock(&w->mu);
	w->failed = true;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	wt_list none = { 0 };
	walk_finish(w, &none);
	wt_free(&none);
	dits_error_set(rc, "%s", err);
}

/* Sorts a walk's list into path order unless it already is (the walk
 * yields path order; a file named on the command line may not). */
static void wt_sort(wt_list *l)
{
	for (size_t i = 1; i < l->n; i++)
		if (strcmp(l->v[i - 1].path, l->v[i].path) > 0) {
			qsort(l->v, l->n, sizeof *l->v, cmp_wt);
			return;
		}
}

/* Files at or below rel (a file or directory relative to the worktree). */
static int collect(dits_repo *r, const char *rel, const ignore *ig, wt_list *out)
{
	if (!*rel) {
		wt_walk w;
		walk_start(r, ig, &w);
		return walk_finish(&w, out);
	}
	char *abs = *rel ? dits_path_join(r->workdir, rel) : strdup(r->workdir);
	if (!abs)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	struct stat st;
	int rc = 0;
	if (lstat(abs, &st) < 0) {
		rc = dits_error_errno("%s", *rel ? rel : ".");
	} else if (S_ISDIR(st.st_mode)) {
		int fd = open(abs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		bool warned = false;
		rc = fd < 0 ? dits_error_errno("%s", rel) : walk_dir(fd, rel, ig, out, &warned);
	} else if (S_ISREG(st.st_mode)) {
		char *p = strdup(rel);
		rc = p ? wt_push(out, p, &st) : DITS_ENOMEM;
		if (rc)
			free(p);
	} else {
		rc = dits_error_set(DITS_EINVALID, "%s: not a regular file or directory", rel);
	}
	free(abs);
	return rc;
}

bool dits_path_is_under(const char *path, const char *dir)
{
	size_t l = strlen(dir);
	return l == 0 || (!strncmp(path, dir, l) && (path[l] == '/' || path[l] == '\0'));
}

/* ---- add ------------------------------------------------------------ */

typedef struct add_progress {
	const dits_progress *p;
} add_progress;

static void add_advance(void *ctx, uint64_t delta)
{
	const dits_progress *p = ctx;
	if (p && p->advance)
		p->advance(p->ctx, delta);
}

/* Chunks and stores one file; st receives the stat taken before reading. */
static int ingest_path(dits_repo *r, dits_pack_writer *w, const char *rel, struct stat *st,
                       dits_id *id, dits_ingest_stats *stats, const dits_progress *p)
{
	char *abs = dits_path_join(r->workdir, rel);
	if (!abs)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	int fd = open(abs, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	free(abs);
	if (fd < 0)
		return dits_error_errno("%s", rel);
	int rc = 0;
	if (fstat(fd, st) < 0)
		rc = dits_error_errno("%s", rel);
	dits_manifest m;
	if (!rc && !(rc = dits_ingest_fd(w, &r->chunker, fd, rel, &m, stats, p ? add_advance : NULL,
	                                 (void *)p))) {
		rc = w ? dits_manifest_write(w, &m, id) : (dits_manifest_id(&m, id), 0);
		struct stat after;
		if (!rc && fstat(fd, &after) == 0 &&
		    (after.st_size != st->st_size || after.st_mtim.tv_sec != st->st_mtim.tv_sec ||
		     after.st_mtim.tv_nsec != st->st_mtim.tv_nsec))
			/* Changed while we read it: what we stored is one consistent read,
			 * but the stat cache must not vouch for it. */
			st->st_mtim.tv_sec = 0;
		if (!rc)
			st->st_size = (off_t)m.size;
		dits_manifest_free(&m);
	}
	close(fd);
	return rc;
}

int dits_add(dits_repo *r, const char *const *paths, size_t n, const dits_progress *p,
             dits_add_result *res)
{
	memset(res, 0, sizeof *res);
	int rc = dits_repo_lock(r);
	if (rc)
		return rc;
	char **rels = calloc(n ? n : 1, sizeof *rels);
	if (!rels)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	dits_index idx;
	ignore ig = { 0 };
	wt_list files = { 0 };
	dits_pack_writer *w = NULL;
	bool idx_loaded = false;

	/* Validate every argument before touching anything. */
	for (size_t i = 0; i < n && !rc; i++)
		rc = dits_repo_relpath(r, paths[i], &rels[i]);
	if (rc)
		goto out;
	if ((rc = dits_index_load(r, &idx)))
		goto out;
	idx_loaded = true;
	if ((rc = ignore_load(r, &ig)))
		goto out;
	for (size_t i = 0; i < n && !rc; i++) {
		struct stat st;
		char *abs = *rels[i] ? dits_path_join(r->workdir, rels[i]) : strdup(r->workdir);
		if (!abs) {
			rc = dits_error_set(DITS_ENOMEM, "out of memory");
			break;
		}
		if (lstat(abs, &st) < 0) {
			/* A tracked path deleted from the worktree stages its removal. */
			bool tracked = false;
			for (size_t k = 0; k < idx.n && !tracked; k++)
				tracked = dits_path_is_under(idx.e[k].path, rels[i]);
			if (!tracked)
				rc = dits_error_errno("%s", paths[i]);
		} else if (S_ISREG(st.st_mode) && access(abs, R_OK) < 0) {
			rc = dits_error_errno("%s", paths[i]);
		} else {
			rc = collect(r, rels[i], &ig, &files);
		}
		free(abs);
	}
	if (rc)
		goto out;
	wt_sort(&files);

	/* Which files must be read: those whose stat cache does not match. */
	uint64_t total = 0, nread = 0;
	bool *need = calloc(files.n ? files.n : 1, sizeof *need);
	if (!need) {
		rc = dits_error_set(DITS_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < files.n; i++) {
		if (i && !strcmp(files.v[i].path, files.v[i - 1].path))
			continue;
		dits_index_entry *e = dits_index_find(&idx, files.v[i].path);
		need[i] = !e || !dits_index_stat_clean(&idx, e, &files.v[i].st) ||
		          !dits_odb_exists(r->odb, &e->id);
		if (need[i]) {
			total += (uint64_t)files.v[i].st.st_size;
			nread++;
		}
		res->files++;
		res->bytes += (uint64_t)files.v[i].st.st_size;
	}
	if ((rc = dits_pack_writer_new(&w, r->odb))) {
		free(need);
		goto out;
	}
	if (p && p->start)
		p->start(p->ctx, "add", total, nread);
	dits_ingest_stats stats = { 0, 0 };
	for (size_t i = 0; i < files.n && !rc; i++) {
		if (!need[i])
			continue;
		struct stat st;
		dits_id id;
		rc = ingest_path(r, w, files.v[i].path, &st, &id, &stats, p);
		dits_index_entry *e = rc ? NULL : dits_index_find(&idx, files.v[i].path);
		if (e && (e->flags & DITS_INDEX_PROXY) && dits_id_eq(&id, &e->wt_id)) {
			/* The proxy in proxy mode: the master stays what is staged. */
			dits_index_entry_set_proxy_stat(e, &st, &e->wt_id);
			idx.dirty = true;
		} else if (!rc) {
			if (e && (e->flags & DITS_INDEX_PROXY) && !dits_id_eq(&id, &e->id)) {
				fprintf(stderr, "dits: warning: %s: changed while in proxy mode (neither the master nor "
				                "its proxy); staged as a new master\n", files.v[i].path);
				res->new_masters++;
			}
			rc = dits_index_set(&idx, files.v[i].path, &st, &id);
		}
		res->hashed_files++;
		res->hashed_bytes += (uint64_t)st.st_size;
		if (p && p->file_done)
			p->file_done(p->ctx);
	}
	free(need);
	if (p && p->finish)
		p->finish(p->ctx);
	if (rc)
		goto out;

	/* Tracked files under the named paths that are gone: stage removal. */
	for (size_t k = 0; k < idx.n;) {
		bool named = false;
		for (size_t i = 0; i < n && !named; i++)
			named = dits_path_is_under(idx.e[k].path, rels[i]);
		struct stat st;
		char *abs = named ? dits_path_join(r->workdir, idx.e[k].path) : NULL;
		if (named && abs && lstat(abs, &st) < 0 && errno == ENOENT) {
			free(abs);
			dits_index_remove(&idx, idx.e[k].path);
			res->removed++;
			continue;
		}
		free(abs);
		k++;
	}
	res->new_chunks = stats.new_chunks;
	res->new_bytes = stats.new_bytes;
	/* Durable objects first, then the index that names them. */
	if ((rc = dits_pack_writer_finish(w)))
		goto out;
	if (idx.dirty)
		rc = dits_index_write(r, &idx);
out:
	dits_pack_writer_free(w);
	wt_free(&files);
	ignore_free(&ig);
	if (idx_loaded)
		dits_index_free(&idx);
	for (size_t i = 0; i < n; i++)
		free(rels[i]);
	free(rels);
	return rc;
}

/* ---- rm ------------------------------------------------------------- */

void dits_prune_empty_dirs(dits_repo *r, const char *rel)
{
	char *p = strdup(rel);
	int root = p ? open(r->workdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	/* Each directory is removed from its parent's fd, opened without
	 * following links: an emptied directory behind a link is never removed. */
	for (char *s = root >= 0 ? strrchr(p, '/') : NULL; s; s = strrchr(p, '/')) {
		*s = '\0';
		char *slash = strrchr(p, '/');
		int dfd = root;
		if (slash) {
			*slash = '\0';
			int rc = dits_open_beneath(root, p, false, &dfd);
			*slash = '/';
			if (rc) {
				dits_error_clear();
				break;
			}
		}
		int ok = unlinkat(dfd, slash ? slash + 1 : p, AT_REMOVEDIR);
		if (dfd != root)
			close(dfd);
		if (ok < 0)
			break;
	}
	if (root >= 0)
		close(root);
	free(p);
}

int dits_rm(dits_repo *r, const char *const *paths, size_t n, bool cached, dits_path_fn fn, void *ctx)
{
	int rc = dits_repo_lock(r);
	if (rc)
		return rc;
	dits_index idx;
	if ((rc = dits_index_load(r, &idx)))
		return rc;
	char **rels = calloc(n ? n : 1, sizeof *rels);
	if (!rels) {
		dits_index_free(&idx);
		return dits_error_set(DITS_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < n && !rc; i++) {
		rc = dits_repo_relpath(r, paths[i], &rels[i]);
		if (rc)
			break;
		bool any = false;
		for (size_t k = 0; k < idx.n && !any; k++)
			any = dits_path_is_under(idx.e[k].path, rels[i]);
		if (!any)
			rc = dits_error_set(DITS_ENOTFOUND, "%s: not tracked by dits", paths[i]);
	}
	/* Collect first, then change: the index is written before files go. */
	char **gone = NULL;
	size_t ng = 0;
	if (!rc) {
		gone = calloc(idx.n ? idx.n : 1, sizeof *gone);
		if (!gone)
			rc = dits_error_set(DITS_ENOMEM, "out of memory");
	}
	for (size_t k = 0; !rc && k < idx.n;) {
		bool named = false;
		for (size_t i = 0; i < n && !named; i++)
			named = dits_path_is_under(idx.e[k].path, rels[i]);
		if (!named) {
			k++;
			continue;
		}
		gone[ng] = strdup(idx.e[k].path);
		if (!gone[ng]) {
			rc = dits_error_set(DITS_ENOMEM, "out of memory");
			break;
		}
		dits_index_remove(&idx, gone[ng++]);
	}
	/* Removal never goes through a link: refused before the index moves. */
	dits_wt_fds f = { -1, -1, { -1, NULL, -1 } };
	if (!rc && !cached)
		rc = dits_wt_fds_open(r, &f);
	for (size_t i = 0; i < ng && !rc && !cached; i++)
		rc = dits_wt_check(&f, gone[i]);
	if (!rc)
		rc = dits_index_write(r, &idx);
	for (size_t i = 0; i < ng; i++) {
		if (!rc) {
			if (!cached) {
				if (dits_wt_unlink(&f, gone[i]))
					dits_error_clear(); /* as before: the index has moved */
				dits_dircache_close(&f.dir);
				dits_prune_empty_dirs(r, gone[i]);
			}
			if (fn)
				fn(ctx, gone[i]);
		}
		free(gone[i]);
	}
	dits_wt_fds_close(&f);
	free(gone);
	for (size_t i = 0; i < n; i++)
		free(rels[i]);
	free(rels);
	dits_index_free(&idx);
	return rc;
}

/* ---- status --------------------------------------------------------- */

static int st_push(dits_status_list *l, const char *path, char status)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 32;
		dits_status_item *v = realloc(l->v, cap * sizeof *v);
		if (!v)
			return dits_error_set(DITS_ENOMEM, "out of memory");
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n].path = strdup(path);
	l->v[l->n].status = status;
	if (!l->v[l->n].path)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	l->n++;
	return 0;
}

static void st_list_free(dits_status_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].path);
	free(l->v);
	memset(l, 0, sizeof *l);
}

void dits_status_free(dits_status *st)
{
	free(st->branch);
	st_list_free(&st->staged);
	st_list_free(&st->unstaged);
	st_list_free(&st->untracked);
	if (st->idx) {
		dits_index_free(st->idx);
		free(st->idx);
	}
	memset(st, 0, sizeof *st);
}

/*
 * Compares the worktree, as the walk w (started, finished here) finds it,
 * with the index. For each index entry, *wt_state is 0 clean, 'M'
 * modified or 'D' deleted; untracked files are appended to untracked (may
 * be NULL). Refreshes stat caches of files found unchanged.
 */
static int worktree_diff(dits_repo *r, wt_walk *w, dits_index *idx, char *wt_state,
                         dits_status_list *untracked, uint64_t *hashed)
{
	wt_list files = { 0 };
	int rc = walk_finish(w, &files);
	if (rc) {
		wt_free(&files);
		return rc;
	}
	wt_sort(&files);
	dits_index_sort(idx);
	size_t i = 0, k = 0;
	while (!rc && (i < files.n || k < idx->n)) {
		int c = i == files.n ? 1 : k == idx->n ? -1 : strcmp(files.v[i].path, idx->e[k].path);
		if (c < 0) {
			if (untracked)
				rc = st_push(untracked, files.v[i].path, DITS_ST_UNTRACKED);
			i++;
			continue;
		}
		if (c > 0) {
			wt_state[k++] = DITS_ST_DELETED;
			continue;
		}
		dits_index_entry *e = &idx->e[k];
		const struct stat *fst = &files.v[i].st;
		wt_state[k] = 0;
		bool proxy = e->flags & DITS_INDEX_PROXY;
		if (!dits_index_stat_clean(idx, e, fst)) {
			/* In proxy mode the file on disk is the proxy; its stat cache and
			 * wt_id describe it. The master's content there is clean too. */
			if (!proxy && (e->size != (uint64_t)fst->st_size || e->mode != dits_mode_from_stat(fst))) {
				wt_state[k] = DITS_ST_MODIFIED;
			} else {
				struct stat st2;
				dits_id id;
				rc = ingest_path(r, NULL, e->path, &st2, &id, NULL, NULL);
				if (hashed)
					(*hashed)++;
				if (rc)
					break;
				bool same = dits_id_eq(&id, &e->id) || (proxy && dits_id_eq(&id, &e->wt_id));
				if (!same) {
					wt_state[k] = DITS_ST_MODIFIED;
					/* Forget its stat: if this index is written (a refresh of other
					 * entries, the tree note), a file changed within the same
					 * timestamp as its stat must not turn trusted. */
					e->mtime_s = 0;
					e->mtime_ns = 0;
				} else if (st2.st_mtim.tv_sec != 0 && !proxy) {
					dits_index_entry_set_stat(e, &st2);
					idx->dirty = true;
				} else if (st2.st_mtim.tv_sec != 0 && dits_id_eq(&id, &e->wt_id)) {
					dits_index_entry_set_proxy_stat(e, &st2, &e->wt_id);
					idx->dirty = true;
				}
			}
		}
		i++;
		k++;
	}
	wt_free(&files);
	return rc;
}

int dits_worktree_state(dits_repo *r, dits_index *idx, char *state, dits_status_list *untracked)
{
	wt_walk w;
	walk_start(r, NULL, &w);
	return worktree_diff(r, &w, idx, state, untracked, NULL);
}

int dits_status_compute(dits_repo *r, dits_status *st)
{
	memset(st, 0, sizeof *st);
	char *target = NULL;
	int rc = dits_head_target(r, &target);
	if (rc)
		return rc;
	if (target && !strncmp(target, "refs/heads/", 11))
		st->branch = strdup(target + 11);
	free(target);
	/* The worktree's stats run in the background while the index and
	 * HEAD are read. */
	wt_walk walk;
	walk_start(r, NULL, &walk);
	dits_index idx;
	if ((rc = dits_index_load(r, &idx))) {
		walk_cancel(&walk, rc);
		return rc;
	}
	dits_flat head = { 0 };
	dits_id head_tree = { { 0 } };
	bool same_tree = false;
	rc = dits_ref_read(r, "HEAD", &st->head);
	if (rc == DITS_ENOTFOUND) {
		rc = 0;
	} else if (!rc) {
		st->has_head = true;
		dits_commit c;
		if (!(rc = dits_commit_read(r->odb, &st->head, &c))) {
			head_tree = c.tree;
			dits_commit_free(&c);
			/* The index remembers matching this tree: nothing is staged, and
			 * HEAD's trees need not be read. */
			same_tree = dits_index_matches_tree(&idx, &head_tree);
			if (!same_tree)
				rc = dits_flat_from_tree(r, &head_tree, &head);
		}
	}
	if (rc) {
		walk_cancel(&walk, rc);
		dits_index_free(&idx);
		return rc;
	}
	/* staged: index against HEAD */
	size_t i = 0, k = same_tree ? idx.n : 0;
	while (!rc && (i < head.n || k < idx.n)) {
		int c = i == head.n ? 1 : k == idx.n ? -1 : strcmp(head.e[i].path, idx.e[k].path);
		if (c < 0) {
			rc = st_push(&st->staged, head.e[i++].path, DITS_ST_DELETED);
		} else if (c > 0) {
			rc = st_push(&st->staged, idx.e[k++].path, DITS_ST_ADDED);
		} else {
			if (!dits_id_eq(&head.e[i].id, &idx.e[k].id) || head.e[i].mode != idx.e[k].mode)
				rc = st_push(&st->staged, idx.e[k].path, DITS_ST_MODIFIED);
			i++;
			k++;
		}
	}
	/* Remember a match for the next status (written with the stat refresh). */
	if (!rc && st->has_head && !same_tree && st->staged.n == 0)
		dits_index_note_tree(&idx, &head_tree);
	char *state = rc ? NULL : calloc(idx.n ? idx.n : 1, 1);
	if (!rc && !state)
		rc = dits_error_set(DITS_ENOMEM, "out of memory");
	if (!rc) {
		rc = worktree_diff(r, &walk, &idx, state, &st->untracked, &st->hashed_files);
	} else {
		walk_cancel(&walk, rc);
	}
	for (size_t j = 0; !rc && j < idx.n; j++)
		if (state[j])
			rc = st_push(&st->unstaged, idx.e[j].path, state[j]);
	/* Refresh the stat cache opportunistically, when nobody else writes. */
	if (!rc && idx.dirty && dits_repo_lock(r) == 0) {
		dits_index fresh;
		if (dits_index_load(r, &fresh) == 0) {
			/* Only if the index did not change under us. */
			if (fresh.stamp_s == idx.stamp_s && fresh.stamp_ns == idx.stamp_ns)
				dits_index_write(r, &idx);
			dits_index_free(&fresh);
		}
		dits_repo_unlock(r);
	}
	dits_error_clear();
	free(state);
	/* The caller may want the index too (modes, proxies): hand it over. */
	if (!rc && (st->idx = malloc(sizeof *st->idx)))
		*st->idx = idx;
	else
		dits_index_free(&idx);
	dits_flat_free(&head);
	if (rc)
		dits_status_free(st);
	return rc;
}

/* ---- commit --------------------------------------------------------- */

/*
 * Writes the tree for index entries [*pos, end) that lie under prefix (at
 * depth trees below the root): never one that flatten would refuse.
 */
static int write_tree(dits_pack_writer *w, dits_index *idx, size_t *pos, const char *prefix, int depth,
                      dits_id *out)
{
	if (depth >= DITS_TREE_DEPTH_MAX)
		return dits_error_set(DITS_EINVALID, "%s: directories nest deeper than %d levels", prefix,
		                      DITS_TREE_DEPTH_MAX);
	size_t pl = strlen(prefix);
	dits_tree t;
	dits_tree_init(&t);
	int rc = 0;
	while (!rc && *pos < idx->n) {
		const dits_index_entry *e = &idx->e[*pos];
		if (pl && (strncmp(e->path, prefix, pl) || e->path[pl] != '/'))
			break;
		const char *rest = e->path + (pl ? pl + 1 : 0);
		const char *slash = strchr(rest, '/');
		if (!slash) {
			rc = dits_tree_add(&t, rest, DITS_KIND_FILE, e->mode, e->size, &e->id);
			(*pos)++;
			continue;
		}
		char *sub = strndup(e->path, (size_t)(slash - e->path));
		char *name = strndup(rest, (size_t)(slash - rest));
		dits_id sid;
		if (!sub || !name)
			rc = dits_error_set(DITS_ENOMEM, "out of memory");
		else if (!(rc = write_tree(w, idx, pos, sub, depth + 1, &sid)))
			rc = dits_tree_add(&t, name, DITS_KIND_TREE, 040000, 0, &sid);
		free(sub);
		free(name);
	}
	dits_buf b = DITS_BUF_INIT;
	if (!rc)
		rc = dits_tree_serialize(&t, &b);
	if (!rc)
		rc = dits_pack_writer_put_object(w, DITS_OBJ_TREE, b.data, b.len, out);
	dits_buf_free(&b);
	dits_tree_free(&t);
	return rc;
}


/* One level of dits_tree_put_file: path is relative to the tree base (NULL: empty). */
static int put_file(dits_odb *odb, dits_pack_writer *w, const dits_id *base, const char *path, uint32_t mode,
                    uint64_t size, const dits_id *manifest, int depth, dits_id *out)
{
	if (depth >= DITS_TREE_DEPTH_MAX)
		return dits_error_set(DITS_EINVALID, "%s: directories nest deeper than %d levels", path,
		                      DITS_TREE_DEPTH_MAX);
	dits_tree t;
	dits_tree_init(&t);
	int rc = base ? dits_tree_read(odb, base, &t) : 0;
	const char *slash = strchr(path, '/');
	size_t nl = slash ? (size_t)(slash - path) : strlen(path);
	char *name = strndup(path, nl);
	if (!rc && !name)
		rc = dits_error_set(DITS_ENOMEM, "out of memory");
	size_t at = t.n;
	for (size_t i = 0; !rc && i < t.n; i++)
		if (!strcmp(t.e[i].name, name))
			at = i;
	dits_id sub;
	if (!rc && slash) {
		bool dir = at < t.n && t.e[at].kind == DITS_KIND_TREE;
		if (at < t.n && !dir)
			rc = dits_error_set(DITS_ECONFLICT, "%s: a file is in the way of %s", name, path);
		else
			rc = put_file(odb, w, dir ? &t.e[at].id : NULL, slash + 1, mode, size, manifest, depth + 1, &sub);
	}
	if (!rc && at < t.n && !slash && t.e[at].kind != DITS_KIND_FILE)
		rc = dits_error_set(DITS_ECONFLICT, "%s: a directory is in the way", path);
	if (!rc && at < t.n) {
		/* replaced in place: the entry keeps its name */
		dits_tree_entry *e = &t.e[at];
		e->kind = slash ? DITS_KIND_TREE : DITS_KIND_FILE;
		e->mode = slash ? 040000 : mode;
		e->size = slash ? 0 : size;
		e->id = slash ? sub : *manifest;
	} else if (!rc) {
		rc = slash ? dits_tree_add(&t, name, DITS_KIND_TREE, 040000, 0, &sub)
		           : dits_tree_add(&t, name, DITS_KIND_FILE, mode, size, manifest);
	}
	dits_buf b = DITS_BUF_INIT;
	if (!rc)
		rc = dits_tree_serialize(&t, &b);
	if (!rc)
		rc = dits_pack_writer_put_object(w, DITS_OBJ_TREE, b.data, b.len, out);
	dits_buf_free(&b);
	dits_tree_free(&t);
	free(name);
	return rc;
}

int dits_tree_put_file(dits_odb *odb, dits_pack_writer *w, const dits_id *base, const char *path, uint32_t mode,
                       uint64_t size, const dits_id *manifest, dits_id *out)
{
	if (!path[0] || path[0] == '/' || path[strlen(path) - 1] == '/' || strstr(path, "//"))
		return dits_error_set(DITS_EINVALID, "%s: not a path in a tree", path);
	return put_file(odb, w, base, path, mode, size, manifest, 0, out);
}

int dits_commit_put_file(dits_repo *r, dits_pack_writer *w, const dits_file_commit *f, const dits_id *parent,
                         const char *ref, const dits_id *old, const char *log_msg, dits_id *made,
                         bool *unchanged)
{
	if (unchanged)
		*unchanged = false;
	dits_commit pc = { 0 };
	bool has_parent = !dits_id_is_zero(parent);
	int rc = has_parent ? dits_commit_read(r->odb, parent, &pc) : 0;
	if (rc)
		return rc;
	dits_commit c = { 0 };
	dits_buf b = DITS_BUF_INIT;
	rc = dits_tree_put_file(r->odb, w, has_parent ? &pc.tree : NULL, f->path, 0100644, f->size, f->manifest,
	                        &c.tree);
	bool same = !rc && has_parent && unchanged && dits_id_eq(&c.tree, &pc.tree);
	dits_commit_free(&pc);
	if (rc || same) {
		if (same)
			*unchanged = true;
		dits_commit_free(&c);
		return rc;
	}
	c.parents = has_parent ? (dits_id *)parent : NULL;
	c.nparents = has_parent ? 1 : 0;
	if (!(rc = dits_signature_default(&c.author, NULL, NULL)))
		rc = dits_signature_default(&c.committer, NULL, NULL);
	c.message = (char *)f->message;
	if (!rc)
		rc = dits_commit_serialize(&c, &b);
	if (!rc)
		rc = dits_pack_writer_put_object(w, DITS_OBJ_COMMIT, b.data, b.len, made);
	c.parents = NULL;
	c.message = NULL;
	dits_commit_free(&c);
	dits_buf_free(&b);
	if (!rc)
		rc = dits_pack_writer_finish(w);
	if (!rc)
		rc = dits_ref_update(r, ref, made, old, log_msg);
	return rc;
}

int dits_commit_create(dits_repo *r, const char *message, bool allow_empty, dits_id *out,
                       const dits_progress *p)
{
	int rc = dits_repo_lock(r);
	if (rc)
		return rc;
	dits_index idx;
	if ((rc = dits_index_load(r, &idx)))
		return rc;
	char *target = NULL;
	dits_pack_writer *w = NULL;
	dits_commit c = { 0 };
	dits_buf b = DITS_BUF_INIT;
	dits_id parent, tree;
	bool has_parent = false;
	if ((rc = dits_head_target(r, &target)))
		goto out;
	rc = dits_ref_read(r, "HEAD", &parent);
	if (rc == 0)
		has_parent = true;
	else if (rc == DITS_ENOTFOUND)
		rc = 0;
	else
		goto out;
	uint64_t total = 0;
	for (size_t i = 0; i < idx.n; i++)
		total += idx.e[i].size;
	if (p && p->start)
		p->start(p->ctx, "commit", total, idx.n);
	for (size_t i = 0; i < idx.n; i++) {
		if (!dits_odb_exists(r->odb, &idx.e[i].id)) {
			rc = dits_error_set(DITS_ECORRUPT, "%s: staged content is missing from the store; add it again",
			                    idx.e[i].path);
			goto out;
		}
		if (p && p->advance)
			p->advance(p->ctx, idx.e[i].size);
		if (p && p->file_done)
			p->file_done(p->ctx);
	}
	if (p && p->finish)
		p->finish(p->ctx);
	if ((rc = dits_pack_writer_new(&w, r->odb)))
		goto out;
	size_t pos = 0;
	dits_index_sort(&idx);
	if ((rc = write_tree(w, &idx, &pos, "", 0, &tree)))
		goto out;
	if (!allow_empty) {
		bool same;
		if (has_parent) {
			dits_commit pc;
			if ((rc = dits_commit_read(r->odb, &parent, &pc)))
				goto out;
			same = dits_id_eq(&pc.tree, &tree);
			dits_commit_free(&pc);
		} else {
			same = idx.n == 0;
		}
		if (same) {
			rc = dits_error_set(DITS_EINVALID, "nothing to commit, working tree clean");
			goto out;
		}
	}
	c.tree = tree;
	c.parents = has_parent ? &parent : NULL;
	c.nparents = has_parent ? 1 : 0;
	if ((rc = dits_signature_default(&c.author, NULL, NULL)) ||
	    (rc = dits_signature_default(&c.committer, NULL, NULL)))
		goto out;
	c.message = (char *)message;
	if ((rc = dits_commit_serialize(&c, &b)))
		goto out;
	if ((rc = dits_pack_writer_put_object(w, DITS_OBJ_COMMIT, b.data, b.len, out)))
		goto out;
	if ((rc = dits_pack_writer_finish(w)))
		goto out;
	char subject[120];
	snprintf(subject, sizeof subject, "commit%s: %s", has_parent ? "" : " (initial)", message);
	dits_id zero = { { 0 } };
	if (target)
		rc = dits_ref_update(r, target, out, has_parent ? &parent : &zero, subject);
	else
		rc = dits_head_set_detached(r, out, subject);
out:
	c.parents = NULL;
	c.message = NULL;
	dits_commit_free(&c);
	dits_buf_free(&b);
	dits_pack_writer_free(w);
	free(target);
	dits_index_free(&idx);
	return rc;
}
