/*
 * fs.c - the FUSE low-level operations of a Dits mount, and its control
 * file.
 *
 * Invariants kept here:
 * - A kernel inode never changes content. A file is two FUSE nodes: node i
 *   serves its master, node i + nnodes its proxy. lookup() hands out the
 *   node of what the path serves now; a switch re-points the path by
 *   invalidating its directory entry (fuse_lowlevel_notify_inval_entry),
 *   then the old node's cached pages and attributes are dropped
 *   (fuse_lowlevel_notify_inval_inode, on the dropper thread). So pages may
 *   be kept across opens
 *   (keep_cache), an open handle keeps reading the content it opened (its
 *   own blob, its own inode, its own size), and a reopen reads the new
 *   content. Both nodes report the same st_ino, derived from the path.
 * - Node numbers never change while mounted, so FORGET needs no work.
 * - Invalidations are sent after m->lock is released, from the thread that
 *   serves the control write; the loop is multi-threaded, so the lookups,
 *   opens and reads the kernel must finish meanwhile are served by other
 *   threads.
 * - Before a name is re-pointed, its old node is pinned by an open from the
 *   server itself, so the kernel does not evict it (and drop its pages)
 *   inside the invalidation; the dropper thread drops the pages and closes
 *   the pin afterwards. A switch thus takes the same time whatever is
 *   cached.
 */
#include "mount_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "blob.h"
#include "buf.h"
#include "error.h"
#include "object.h"
#include "worktree.h"

/* Names and node attributes never change while mounted (a switch changes
 * which node a name points at, and says so to the kernel): both may be
 * cached for long. */
#define ENTRY_TIMEOUT 3600.0
#define ATTR_TIMEOUT 3600.0

enum { H_FILE = 1, H_CONTROL = 2 };

typedef struct open_file_handle {
	int kind;
	pthread_mutex_t mu;
	dits_blob *blob;
} open_file_handle;

typedef struct control_handle {
	int kind;
	dits_buf listing; /* snapshot taken at open, for reads */
	dits_buf pending; /* written bytes not yet ending in a newline */
} control_handle;

static dits_mount *mount_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* ---- building the tree ------------------------------------------------- */

static int add_node(dits_mount *m, const char *name, const char *path, fuse_ino_t parent, bool dir,
                    fuse_ino_t *out)
{
	if (m->nnodes == m->capnodes) {
		size_t cap = m->capnodes ? m->capnodes * 2 : 64;
		mount_node *p = realloc(m->nodes, cap * sizeof *p);
		if (!p)
			return dits_error_set(DITS_ENOMEM, "out of memory");
		m->nodes = p;
		m->capnodes = cap;
	}
	mount_node *n = &m->nodes[m->nnodes];
	memset(n, 0, sizeof *n);
	n->name = strdup(name);
	n->path = strdup(path);
	if (!n->name || !n->path) {
		free(n->name);
		free(n->path);
		return dits_error_set(DITS_ENOMEM, "out of memory");
	}
	n->parent = parent;
	n->dir = dir;
	dits_id h;
	dits_hash_buf(&h, path, strlen(path));
	uint64_t ino = 0;
	for (int i = 0; i < 8; i++)
		ino = (ino << 8) | h.b[i];
	ino &= 0x7fffffffffffffffULL; /* positive as a signed 64-bit value too */
	if (ino < 16)
		ino += 16; /* stay clear of the root's conventional numbers */
	n->st_ino = path[0] ? ino : 1;
	*out = (fuse_ino_t)m->nnodes++;
	if (parent) {
		mount_node *pn = &m->nodes[parent];
		if (pn->nkids == pn->capkids) {
			size_t cap = pn->capkids ? pn->capkids * 2 : 8;
			fuse_ino_t *k = realloc(pn->kids, cap * sizeof *k);
			if (!k)
				return dits_error_set(DITS_ENOMEM, "out of memory");
			pn->kids = k;
			pn->capkids = cap;
		}
		pn->kids[pn->nkids++] = *out;
	}
	return 0;
}

static const dits_mount *sort_mount; /* qsort has no context argument */

static int cmp_kids(const void *a, const void *b)
{
	const mount_node *x = &sort_mount->nodes[*(const fuse_ino_t *)a];
	const mount_node *y = &sort_mount->nodes[*(const fuse_ino_t *)b];
	return strcmp(x->name, y->name);
}

int dits_mount_build(dits_mount *m, const void *flatp)
{
	const dits_flat *flat = flatp;
	fuse_ino_t id;
	m->nnodes = 1; /* node 0 is not a node */
	if (!m->capnodes) {
		m->nodes = calloc(64, sizeof *m->nodes);
		if (!m->nodes)
			return dits_error_set(DITS_ENOMEM, "out of memory");
		m->capnodes = 64;
	}
	int rc = add_node(m, "", "", 0, true, &id);
	if (!rc)
		rc = add_node(m, DITS_MOUNT_CONTROL, DITS_MOUNT_CONTROL, 0, false, &id);
	for (size_t i = 0; !rc && i < flat->n; i++) {
		const dits_flat_entry *e = &flat->e[i];
		fuse_ino_t parent = NODE_ROOT;
		const char *p = e->path;
		for (;;) {
			const char *slash = strchr(p, '/');
			size_t len = slash ? (size_t)(slash - p) : strlen(p);
			char *name = strndup(p, len);
			char *path = strndup(e->path, (size_t)(p - e->path) + len);
			if (!name || !path) {
				free(name);
				free(path);
				rc = dits_error_set(DITS_ENOMEM, "out of memory");
				break;
			}
			if (!slash) {
				rc = add_node(m, name, path, parent, false, &id);
				if (!rc) {
					mount_node *n = &m->nodes[id];
					n->mode = e->mode;
					n->master = e->id;
					n->master_size = e->size;
					m->nfiles++;
					m->control_size += strlen(e->path) + 3; /* "M PATH\n" */
				}
				free(name);
				free(path);
				break;
			}
			/* Paths are sorted, so a directory's entries are
			 * contiguous: it is the parent's last child if it exists. */
			mount_node *pn = &m->nodes[parent];
			fuse_ino_t found = 0;
			if (pn->nkids) {
				fuse_ino_t last = pn->kids[pn->nkids - 1];
				if (m->nodes[last].dir && !strcmp(m->nodes[last].name, name))
					found = last;
			}
			if (!found)
				rc = add_node(m, name, path, parent, true, &found);
			free(name);
			free(path);
			if (rc)
				break;
			parent = found;
			p = slash + 1;
		}
	}
	if (rc)
		return rc;
	sort_mount = m;
	for (size_t i = 1; i < m->nnodes; i++)
		if (m->nodes[i].dir && m->nodes[i].nkids > 1)
			qsort(m->nodes[i].kids, m->nodes[i].nkids, sizeof(fuse_ino_t), cmp_kids);
	sort_mount = NULL;
	return 0;
}

void dits_mount_free_nodes(dits_mount *m)
{
	for (size_t i = 1; i < m->nnodes; i++) {
		free(m->nodes[i].name);
		free(m->nodes[i].path);
		free(m->nodes[i].kids);
	}
	free(m->nodes);
	m->nodes = NULL;
	m->nnodes = m->capnodes = 0;
}

/* The ready proxy of n's master, if any (caller holds db_lock). */
static int lookup_proxy(dits_mount *m, dits_metadb *db, const mount_node *n, bool *has,
                        dits_id *id, uint64_t *size)
{
	dits_variant v;
	memset(&v, 0, sizeof v);
	*has = false;
	int rc = dits_variant_pick(db, &n->master, m->variant, m->profile, &v);
	if (rc == DITS_ENOTFOUND) {
		dits_error_clear();
		return 0;
	}
	if (rc)
		return rc;
	if (v.has_manifest) {
		*has = true;
		*id = v.manifest;
		*size = v.size;
	}
	dits_variant_free(&v);
	return 0;
}

int dits_mount_load_proxies(dits_mount *m)
{
	dits_metadb *db;
	int rc = dits_metadb_open_repo(&db, m->repo);
	if (rc)
		return rc;
	m->nproxies = 0;
	for (size_t i = NODE_CONTROL + 1; !rc && i < m->nnodes; i++) {
		mount_node *n = &m->nodes[i];
		if (n->dir)
			continue;
		rc = lookup_proxy(m, db, n, &n->has_proxy, &n->proxy, &n->proxy_size);
		if (!rc && n->has_proxy)
			m->nproxies++;
	}
	dits_metadb_close(db);
	return rc;
}

/* ---- nodes and attributes --------------------------------------------- */

static bool serves_proxy(const mount_node *n)
{
	return n->want_proxy && n->has_proxy;
}

/*
 * Decodes a FUSE node id into the tree node and the view (master or
 * proxy). False when ino names nothing. Caller holds m->lock for a proxy
 * view (has_proxy may change).
 */
static bool decode(const dits_mount *m, fuse_ino_t ino, size_t *idx, bool *proxy)
{
	if (ino >= 1 && ino < m->nnodes) {
		*idx = ino;
		*proxy = false;
		return true;
	}
	if (ino >= m->nnodes && ino < 2 * m->nnodes) {
		size_t i = ino - m->nnodes;
		if (i <= NODE_CONTROL || m->nodes[i].dir || !m->nodes[i].has_proxy)
			return false;
		*idx = i;
		*proxy = true;
		return true;
	}
	return false;
}

/* The node id that serves path node i now. Caller holds m->lock. */
static fuse_ino_t served_ino(const dits_mount *m, size_t i)
{
	const mount_node *n = &m->nodes[i];
	return !n->dir && serves_proxy(n) ? (fuse_ino_t)(i + m->nnodes) : (fuse_ino_t)i;
}

/* Caller holds m->lock. */
static void fill_attr(const dits_mount *m, size_t i, bool proxy, struct stat *st)
{
	const mount_node *n = &m->nodes[i];
	memset(st, 0, sizeof *st);
	st->st_ino = (ino_t)n->st_ino;
	st->st_uid = getuid();
	st->st_gid = getgid();
	st->st_blksize = 1 << 20;
	st->st_mtim.tv_sec = m->mtime;
	st->st_atim.tv_sec = m->mtime;
	st->st_ctim.tv_sec = m->mtime;
	if (n->dir) {
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
	} else if (i == NODE_CONTROL) {
		st->st_mode = S_IFREG | 0644;
		st->st_nlink = 1;
		st->st_size = (off_t)m->control_size;
	} else {
		st->st_mode = S_IFREG | ((n->mode & 0111) ? 0555 : 0444);
		st->st_nlink = 1;
		st->st_size = (off_t)(proxy ? n->proxy_size : n->master_size);
		st->st_blocks = (st->st_size + 511) / 512;
	}
}

/* ---- operations -------------------------------------------------------- */

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	/* Reads of one file may run in parallel (each handle serializes its
	 * own blob); the kernel keeps pages only as the open flags say. */
	if (conn->capable & FUSE_CAP_ASYNC_READ)
		conn->want |= FUSE_CAP_ASYNC_READ;
	/* We invalidate explicitly; no GETATTR round trip before cached reads. */
	conn->want &= ~(unsigned)FUSE_CAP_AUTO_INVAL_DATA;
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	conn->max_read = DITS_MOUNT_MAX_READ; /* must match the max_read mount option */
}

static fuse_ino_t find_kid(const dits_mount *m, fuse_ino_t parent, const char *name)
{
	const mount_node *pn = &m->nodes[parent];
	/* binary search over the children, sorted by name */
	size_t lo = 0, hi = pn->nkids;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, m->nodes[pn->kids[mid]].name);
		if (!c)
			return pn->kids[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return 0;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	dits_mount *m = mount_of(req);
	if (parent < 1 || parent >= m->nnodes || !m->nodes[parent].dir) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	size_t i = 0;
	if (parent == NODE_ROOT && !strcmp(name, DITS_MOUNT_CONTROL))
		i = NODE_CONTROL;
	else
		i = find_kid(m, parent, name);
	struct fuse_entry_param e;
	memset(&e, 0, sizeof e);
	e.entry_timeout = ENTRY_TIMEOUT;
	if (!i) {
		fuse_reply_entry(req, &e); /* a negative entry: the tree never changes */
		return;
	}
	e.generation = 1;
	e.attr_timeout = ATTR_TIMEOUT;
	pthread_mutex_lock(&m->lock);
	e.ino = served_ino(m, i);
	fill_attr(m, i, e.ino != i, &e.attr);
	pthread_mutex_unlock(&m->lock);
	fuse_reply_entry(req, &e);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	(void)ino;
	(void)nlookup;
	fuse_reply_none(req); /* nodes live as long as the mount */
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	(void)count;
	(void)forgets;
	fuse_reply_none(req);
}

/* Replies with the attributes of node ino. */
static void reply_attr(fuse_req_t req, dits_mount *m, fuse_ino_t ino)
{
	size_t i;
	bool proxy;
	struct stat st;
	pthread_mutex_lock(&m->lock);
	bool ok = decode(m, ino, &i, &proxy);
	if (ok)
		fill_attr(m, i, proxy, &st);
	pthread_mutex_unlock(&m->lock);
	if (ok)
		fuse_reply_attr(req, &st, ATTR_TIMEOUT);
	else
		fuse_reply_err(req, ENOENT);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)fi;
	reply_attr(req, mount_of(req), ino);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                       struct fuse_file_info *fi)
{
	(void)attr;
	(void)fi;
	dits_mount *m = mount_of(req);
	/* `echo proxy > .dits-control` opens with O_TRUNC: accept a size
	 * change of the control file (it has no stored bytes to cut). */
	if (ino == NODE_CONTROL && !(to_set & ~(FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_ATIME |
	                                        FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME_NOW |
	                                        FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_CTIME))) {
		reply_attr(req, m, ino);
		return;
	}
	fuse_reply_err(req, EROFS);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	dits_mount *m = mount_of(req);
	if (ino < 1 || ino >= m->nnodes || !m->nodes[ino].dir) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	fi->cache_readdir = 1; /* listings never change while mounted */
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi)
{
	(void)fi;
	dits_mount *m = mount_of(req);
	const mount_node *n = &m->nodes[ino];
	char *buf = malloc(size ? size : 1);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	size_t used = 0;
	/* Offsets: 0 ".", 1 "..", 2 + k the k-th child. The control file is
	 * not listed (it is found by name only). */
	for (off_t i = off; i < (off_t)n->nkids + 2; i++) {
		struct stat st;
		memset(&st, 0, sizeof st);
		const char *name;
		if (i == 0) {
			name = ".";
			st.st_ino = (ino_t)n->st_ino;
			st.st_mode = S_IFDIR;
		} else if (i == 1) {
			name = "..";
			st.st_ino = (ino_t)(n->parent ? m->nodes[n->parent].st_ino : n->st_ino);
			st.st_mode = S_IFDIR;
		} else {
			const mount_node *k = &m->nodes[n->kids[i - 2]];
			name = k->name;
			st.st_ino = (ino_t)k->st_ino;
			st.st_mode = k->dir ? S_IFDIR : S_IFREG;
		}
		size_t need = fuse_add_direntry(req, buf + used, size - used, name, &st, i + 1);
		if (need > size - used)
			break;
		used += need;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	(void)ino;
	dits_mount *m = mount_of(req);
	struct statvfs sv;
	memset(&sv, 0, sizeof sv);
	uint64_t bytes = 0;
	pthread_mutex_lock(&m->lock);
	for (size_t i = NODE_CONTROL + 1; i < m->nnodes; i++)
		if (!m->nodes[i].dir)
			bytes += serves_proxy(&m->nodes[i]) ? m->nodes[i].proxy_size : m->nodes[i].master_size;
	pthread_mutex_unlock(&m->lock);
	sv.f_bsize = 4096;
	sv.f_frsize = 4096;
	sv.f_blocks = (bytes + 4095) / 4096;
	sv.f_files = m->nnodes - 1;
	sv.f_namemax = 255;
	sv.f_flag = ST_RDONLY;
	fuse_reply_statfs(req, &sv);
}

/* ---- regular files ----------------------------------------------------- */

static void open_file(fuse_req_t req, dits_mount *m, size_t i, bool proxy,
                      struct fuse_file_info *fi)
{
	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	open_file_handle *h = calloc(1, sizeof *h);
	if (!h) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	h->kind = H_FILE;
	pthread_mutex_init(&h->mu, NULL);
	pthread_mutex_lock(&m->lock);
	mount_node *n = &m->nodes[i];
	dits_id id = proxy ? n->proxy : n->master;
	dits_odb *odb = m->odb;
	bool pin = m->pinner_tid && fuse_req_ctx(req)->pid == m->pinner_tid;
	if (!pin)
		n->opened[proxy] = true;
	pthread_mutex_unlock(&m->lock);

	/* The server pinning an old node during a switch reads nothing: no blob. */
	int rc = 0;
	if (!pin) {
		pthread_rwlock_wrlock(&m->odb_rw);
		rc = dits_blob_open(&h->blob, odb, &id);
		pthread_rwlock_unlock(&m->odb_rw);
	}
	if (rc) {
		fprintf(stderr, "dits mount: %s: %s\n", n->path, dits_error_last());
		pthread_mutex_destroy(&h->mu);
		free(h);
		fuse_reply_err(req, rc == DITS_ENOMEM ? ENOMEM : EIO);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)h;
	/* This node's content never changes: its pages stay valid across
	 * opens until a switch drops them. */
	fi->keep_cache = 1;
	fi->noflush = 1;
	if (fuse_reply_open(req, fi) == -ENOENT) {
		/* the open was interrupted: nobody will release this handle */
		if (h->blob)
			dits_blob_close(h->blob);
		pthread_mutex_destroy(&h->mu);
		free(h);
	}
}

static void read_file(fuse_req_t req, dits_mount *m, open_file_handle *h, size_t size, off_t off)
{
	char *buf = malloc(size ? size : 1);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_lock(&h->mu);
	pthread_rwlock_rdlock(&m->odb_rw);
	ssize_t n = h->blob ? dits_blob_pread(h->blob, buf, size, (uint64_t)off) : 0;
	pthread_rwlock_unlock(&m->odb_rw);
	pthread_mutex_unlock(&h->mu);
	if (n < 0) {
		fprintf(stderr, "dits mount: read: %s\n", dits_error_last());
		fuse_reply_err(req, n == DITS_ENOMEM ? ENOMEM : EIO);
	} else {
		fuse_reply_buf(req, buf, (size_t)n);
	}
	free(buf);
}

static void release_file(open_file_handle *h)
{
	if (h->blob)
		dits_blob_close(h->blob);
	pthread_mutex_destroy(&h->mu);
	free(h);
}

/* ---- the control file -------------------------------------------------- */

static int list_modes(dits_mount *m, dits_buf *out)
{
	int rc = 0;
	pthread_mutex_lock(&m->lock);
	for (size_t i = NODE_CONTROL + 1; !rc && i < m->nnodes; i++) {
		const mount_node *n = &m->nodes[i];
		if (n->dir)
			continue;
		char c = !n->want_proxy ? 'M' : n->has_proxy ? 'P' : '~';
		rc = dits_buf_printf(out, "%c %s\n", c, n->path);
	}
	pthread_mutex_unlock(&m->lock);
	return rc;
}

/* Splits a control line into words; a backslash escapes the next byte
 * ("\n" is a newline). Words are written back into line in place. */
static size_t split_words(char *line, char **words, size_t max)
{
	size_t n = 0;
	char *r = line, *w = line;
	while (*r) {
		while (*r == ' ' || *r == '\t')
			r++;
		if (!*r)
			break;
		char *start = w;
		while (*r && *r != ' ' && *r != '\t') {
			if (*r == '\\' && r[1]) {
				r++;
				*w++ = *r == 'n' ? '\n' : *r;
				r++;
			} else {
				*w++ = *r++;
			}
		}
		if (*r)
			r++;
		*w++ = '\0';
		if (n < max)
			words[n] = start;
		n++;
	}
	return n;
}

/* Lexically normalizes a path relative to the mount root in place: drops
 * "." components, empty components and leading/trailing slashes. -1 for
 * a ".." component. */
static int normalize_rel(char *p)
{
	char *r = p, *w = p;
	while (*r) {
		while (*r == '/')
			r++;
		if (!*r)
			break;
		char *s = r;
		while (*r && *r != '/')
			r++;
		size_t len = (size_t)(r - s);
		if (len == 1 && s[0] == '.')
			continue;
		if (len == 2 && s[0] == '.' && s[1] == '.')
			return -1;
		if (w != p)
			*w++ = '/';
		memmove(w, s, len);
		w += len;
	}
	*w = '\0';
	return 0;
}

/* Marks the file nodes under rel ("" = all). Returns the count marked, or
 * 0 when rel names nothing. */
static size_t select_under(dits_mount *m, const char *rel, bool *sel)
{
	size_t len = strlen(rel), count = 0;
	for (size_t i = NODE_CONTROL + 1; i < m->nnodes; i++) {
		const mount_node *n = &m->nodes[i];
		if (n->dir)
			continue;
		if (!len || (!strncmp(n->path, rel, len) && (n->path[len] == '\0' || n->path[len] == '/'))) {
			sel[i] = true;
			count++;
		}
	}
	return count;
}

/* Opens the database in this process when first needed (caller holds db_lock). */
static int mount_db(dits_mount *m)
{
	if (m->db)
		return 0;
	return dits_metadb_open_repo(&m->db, m->repo);
}

/* A view of the store that holds id (packs written after the mount are
 * seen by opening the store again). Caller holds m->lock. */
static int odb_with(dits_mount *m, const dits_id *id)
{
	pthread_rwlock_rdlock(&m->odb_rw);
	bool found = dits_odb_exists(m->odb, id);
	pthread_rwlock_unlock(&m->odb_rw);
	if (found)
		return 0;
	dits_odb *db;
	int rc = dits_repo_odb_open(m->repo, &db);
	if (rc)
		return rc;
	dits_odb **o = realloc(m->old_odbs, (m->nold_odbs + 1) * sizeof *o);
	if (!o) {
		dits_odb_free(db);
		return dits_error_set(DITS_ENOMEM, "out of memory");
	}
	m->old_odbs = o;
	if (m->odb != dits_repo_odb(m->repo))
		m->old_odbs[m->nold_odbs++] = m->odb;
	m->odb = db;
	if (!dits_odb_exists(m->odb, id))
		return dits_error_set(DITS_ENOTFOUND, "a proxy's manifest is missing from the store");
	return 0;
}

/* True in *here when every chunk of manifest id is in the store: a
 * partial clone lacks the chunks it never fetched, and serving such content
 * would only fail its reads. Packs finished since (a fetch) are loaded
 * first. Runs under m->switch_lock (m->odb only changes under it). */
static int content_here(dits_mount *m, const dits_id *id, bool *here)
{
	pthread_mutex_lock(&m->lock);
	dits_odb *odb = m->odb;
	pthread_mutex_unlock(&m->lock);
	*here = false;
	pthread_rwlock_wrlock(&m->odb_rw);
	dits_manifest man;
	int rc = dits_manifest_read(odb, id, &man);
	if (rc == DITS_ENOTFOUND) {
		dits_error_clear();
		pthread_rwlock_unlock(&m->odb_rw);
		return 0;
	}
	bool refreshed = false, ok = !rc;
	for (uint64_t k = 0; ok && k < man.nchunks; k++) {
		if (dits_odb_exists(odb, &man.chunks[k].id))
			continue;
		if (!refreshed) {
			refreshed = true;
			dits_odb_refresh(odb);
		}
		ok = dits_odb_exists(odb, &man.chunks[k].id);
	}
	if (!rc) {
		dits_manifest_free(&man);
		*here = ok;
	}
	pthread_rwlock_unlock(&m->odb_rw);
	return rc;
}

static int apply_mode_locked(dits_mount *m, bool proxy, const bool *sel);

/* Switches the selected files; invalidates what the kernel cached.
 * Switches run one at a time (a proxy found by one must not slip into
 * another's list of changed nodes). */
static int apply_mode(dits_mount *m, bool proxy, const bool *sel)
{
	pthread_mutex_lock(&m->switch_lock);
	int rc = apply_mode_locked(m, proxy, sel);
	pthread_mutex_unlock(&m->switch_lock);
	return rc;
}

static int apply_mode_locked(dits_mount *m, bool proxy, const bool *sel)
{
	int rc = 0;
	size_t nn = m->nnodes;
	/* Proxies made since the mount (or since the last look) become
	 * visible here: ask the database about files that have none yet. */
	if (proxy) {
		pthread_mutex_lock(&m->db_lock);
		rc = mount_db(m);
		for (size_t i = NODE_CONTROL + 1; !rc && i < nn; i++) {
			if (!sel[i] || m->nodes[i].dir)
				continue;
			pthread_mutex_lock(&m->lock);
			bool known = m->nodes[i].has_proxy;
			pthread_mutex_unlock(&m->lock);
			if (known)
				continue;
			bool has;
			dits_id id;
			uint64_t size = 0;
			rc = lookup_proxy(m, m->db, &m->nodes[i], &has, &id, &size);
			if (!rc && has) {
				pthread_mutex_lock(&m->lock);
				rc = odb_with(m, &id);
				pthread_mutex_unlock(&m->lock);
				/* a proxy whose chunks are not here is not served */
				bool here = false;
				if (!rc)
					rc = content_here(m, &id, &here);
				if (!rc && here) {
					pthread_mutex_lock(&m->lock);
					m->nodes[i].has_proxy = true;
					m->nodes[i].proxy = id;
					m->nodes[i].proxy_size = size;
					m->nproxies++;
					pthread_mutex_unlock(&m->lock);
				}
			}
		}
		pthread_mutex_unlock(&m->db_lock);
		if (rc) {
			fprintf(stderr, "dits mount: %s\n", dits_error_last());
			return -EIO;
		}
	} else {
		/* A master whose chunks are not here (a partial clone that has
		 * not fetched it) is never switched to: its reads could only
		 * fail. The whole switch is refused, nothing changes. */
		for (size_t i = NODE_CONTROL + 1; i < nn; i++) {
			if (!sel[i] || m->nodes[i].dir)
				continue;
			pthread_mutex_lock(&m->lock);
			bool was = serves_proxy(&m->nodes[i]);
			pthread_mutex_unlock(&m->lock);
			if (!was)
				continue;
			bool here;
			if (content_here(m, &m->nodes[i].master, &here)) {
				fprintf(stderr, "dits mount: %s: %s\n", m->nodes[i].path, dits_error_last());
				return -EIO;
			}
			if (!here) {
				fprintf(stderr, "dits mount: %s: the master's chunks are not in this repository "
				                "(partial clone): not switched\n", m->nodes[i].path);
				return -ENODATA;
			}
		}
	}

	/*
	 * Which nodes the switch leaves. Before re-pointing a name, the old
	 * node is pinned by opening it from this thread (served by the other
	 * loop threads, recognised by our thread id, no blob): when its entry
	 * is invalidated the kernel would otherwise evict the inode inside the
	 * notification, dropping all its cached pages before the write
	 * returns, so a switch would take as long as the cached bytes are
	 * large. Pinned, the pages are dropped by the dropper thread, which
	 * then closes the pin. Only nodes ever opened can have pages.
	 */
	struct mount_drop *changed = malloc(nn * sizeof *changed);
	if (!changed)
		return -ENOMEM;
	size_t nchanged = 0;
	pthread_mutex_lock(&m->lock);
	for (size_t i = NODE_CONTROL + 1; i < nn; i++) {
		mount_node *n = &m->nodes[i];
		if (!sel[i] || n->dir)
			continue;
		bool was = serves_proxy(n);
		if ((proxy && n->has_proxy) == was)
			continue;
		changed[nchanged].ino = was ? (fuse_ino_t)(i + nn) : (fuse_ino_t)i;
		changed[nchanged].fd = n->opened[was] ? -2 : -1; /* -2: pin it */
		nchanged++;
	}
	pthread_mutex_unlock(&m->lock);
	if (m->se && m->mountpoint) {
		pthread_mutex_lock(&m->lock);
		m->pinner_tid = gettid();
		pthread_mutex_unlock(&m->lock);
		for (size_t k = 0; k < nchanged; k++) {
			if (changed[k].fd != -2)
				continue;
			size_t i = changed[k].ino >= nn ? changed[k].ino - nn : changed[k].ino;
			char *p = malloc(strlen(m->mountpoint) + strlen(m->nodes[i].path) + 2);
			changed[k].fd = -1;
			if (p) {
				sprintf(p, "%s/%s", m->mountpoint, m->nodes[i].path);
				changed[k].fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
				free(p);
			}
		}
		pthread_mutex_lock(&m->lock);
		m->pinner_tid = 0;
		pthread_mutex_unlock(&m->lock);
	}

	pthread_mutex_lock(&m->lock);
	for (size_t i = NODE_CONTROL + 1; i < nn; i++)
		if (sel[i] && !m->nodes[i].dir)
			m->nodes[i].want_proxy = proxy;
	pthread_mutex_unlock(&m->lock);

	for (size_t k = 0; m->se && k < nchanged; k++) {
		size_t i = changed[k].ino >= nn ? changed[k].ino - nn : changed[k].ino;
		const mount_node *n = &m->nodes[i];
		/* The name now leads to the other node: drop the cached entry, so
		 * the next lookup (the next open or stat) asks again. It stays
		 * resolvable throughout: a lookup racing this one gets either
		 * node, never ENOENT. -ENOENT: the kernel has no such entry. */
		int r = fuse_lowlevel_notify_inval_entry(m->se, n->parent, n->name, strlen(n->name));
		if (r && r != -ENOENT)
			fprintf(stderr, "dits mount: invalidating the entry %s: %s\n", n->path, strerror(-r));
	}

	/* The old nodes' pages and attributes are still right for those nodes
	 * (handles open on them keep reading them): releasing them is memory
	 * hygiene, done right after on the dropper thread. */
	if (m->se && nchanged) {
		pthread_mutex_lock(&m->drop_lock);
		if (m->ndrop + nchanged > m->capdrop) {
			size_t cap = (m->ndrop + nchanged) * 2;
			struct mount_drop *q = realloc(m->drop_queue, cap * sizeof *q);
			if (q) {
				m->drop_queue = q;
				m->capdrop = cap;
			}
		}
		for (size_t k = 0; k < nchanged; k++) {
			if (m->ndrop < m->capdrop)
				m->drop_queue[m->ndrop++] = changed[k];
			else if (changed[k].fd >= 0)
				close(changed[k].fd);
		}
		pthread_cond_signal(&m->drop_cond);
		pthread_mutex_unlock(&m->drop_lock);
	} else {
		for (size_t k = 0; k < nchanged; k++)
			if (changed[k].fd >= 0)
				close(changed[k].fd);
	}
	free(changed);
	return 0;
}

static void *dropper_main(void *arg)
{
	dits_mount *m = arg;
	/* Dropping gigabytes of pages is CPU work the switch need not wait
	 * for: let every other thread go first (nice applies per thread). */
	if (setpriority(PRIO_PROCESS, (id_t)gettid(), 19)) {
		/* not fatal: the dropper just competes on equal terms */
	}
	pthread_mutex_lock(&m->drop_lock);
	for (;;) {
		while (!m->ndrop && !m->dropper_stop)
			pthread_cond_wait(&m->drop_cond, &m->drop_lock);
		if (!m->ndrop && m->dropper_stop)
			break;
		struct mount_drop d = m->drop_queue[--m->ndrop];
		bool stopping = m->dropper_stop;
		pthread_mutex_unlock(&m->drop_lock);
		/* off 0, len 0: every cached page, and the attributes */
		int r = stopping ? 0 : fuse_lowlevel_notify_inval_inode(m->se, d.ino, 0, 0);
		if (r && r != -ENOENT)
			fprintf(stderr, "dits mount: dropping the pages of node %lu: %s\n",
			        (unsigned long)d.ino, strerror(-r));
		if (d.fd >= 0)
			close(d.fd);
		pthread_mutex_lock(&m->drop_lock);
	}
	pthread_mutex_unlock(&m->drop_lock);
	return NULL;
}

int dits_mount_dropper_start(dits_mount *m)
{
	m->dropper_stop = false;
	if (pthread_create(&m->dropper, NULL, dropper_main, m))
		return dits_error_set(DITS_ERROR, "cannot start a thread");
	m->dropper_running = true;
	return 0;
}

void dits_mount_dropper_stop(dits_mount *m)
{
	if (!m->dropper_running)
		return;
	pthread_mutex_lock(&m->drop_lock);
	m->dropper_stop = true;
	pthread_cond_signal(&m->drop_cond);
	pthread_mutex_unlock(&m->drop_lock);
	pthread_join(m->dropper, NULL);
	m->dropper_running = false;
}

/* Runs one control line. Returns 0 or a negative errno. */
static int control_line(dits_mount *m, char *line)
{
	size_t cap = 1;
	for (const char *p = line; *p; p++)
		cap += *p == ' ' || *p == '\t';
	char **words = malloc(cap * sizeof *words);
	if (!words)
		return -ENOMEM;
	size_t n = split_words(line, words, cap);
	int rc = 0;
	if (n == 0) {
		free(words);
		return 0; /* an empty line does nothing */
	}
	bool proxy;
	if (!strcmp(words[0], "proxy")) {
		proxy = true;
	} else if (!strcmp(words[0], "master")) {
		proxy = false;
	} else {
		free(words);
		return -EINVAL;
	}
	bool *sel = calloc(m->nnodes, sizeof *sel);
	if (!sel) {
		free(words);
		return -ENOMEM;
	}
	if (n == 1)
		select_under(m, "", sel);
	for (size_t i = 1; i < n && !rc; i++) {
		if (normalize_rel(words[i]))
			rc = -EINVAL;
		else if (!select_under(m, words[i], sel))
			rc = -ENOENT; /* an unknown path (or an empty directory) */
	}
	if (!rc)
		rc = apply_mode(m, proxy, sel);
	free(sel);
	free(words);
	return rc;
}

/* Runs every complete line in h->pending (and the rest too when flush). */
static int control_run(dits_mount *m, control_handle *h, bool flush)
{
	int rc = 0;
	if (dits_buf_cstr(&h->pending))
		return -ENOMEM;
	char *s = (char *)h->pending.data;
	size_t done = 0;
	for (;;) {
		char *nl = memchr(s + done, '\n', h->pending.len - done);
		if (!nl && !(flush && done < h->pending.len))
			break;
		size_t end = nl ? (size_t)(nl - s) : h->pending.len;
		s[end] = '\0';
		if (!rc)
			rc = control_line(m, s + done);
		done = nl ? end + 1 : end;
	}
	memmove(h->pending.data, h->pending.data + done, h->pending.len - done);
	h->pending.len -= done;
	return rc;
}

static void open_control(fuse_req_t req, dits_mount *m, struct fuse_file_info *fi)
{
	control_handle *h = calloc(1, sizeof *h);
	if (!h) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	h->kind = H_CONTROL;
	if ((fi->flags & O_ACCMODE) != O_WRONLY && list_modes(m, &h->listing)) {
		free(h);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)h;
	fi->direct_io = 1; /* generated content: never cached */
	fi->nonseekable = 0;
	if (fuse_reply_open(req, fi) == -ENOENT) {
		dits_buf_free(&h->listing);
		free(h);
	}
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	dits_mount *m = mount_of(req);
	size_t i;
	bool proxy;
	pthread_mutex_lock(&m->lock);
	bool ok = decode(m, ino, &i, &proxy);
	pthread_mutex_unlock(&m->lock);
	if (!ok) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (m->nodes[i].dir) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	if (i == NODE_CONTROL)
		open_control(req, m, fi);
	else
		open_file(req, m, i, proxy, fi);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
	(void)ino;
	int kind = *(int *)(uintptr_t)fi->fh;
	if (kind == H_FILE) {
		read_file(req, mount_of(req), (open_file_handle *)(uintptr_t)fi->fh, size, off);
		return;
	}
	control_handle *h = (control_handle *)(uintptr_t)fi->fh;
	if ((size_t)off >= h->listing.len) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	size_t n = h->listing.len - (size_t)off;
	fuse_reply_buf(req, (const char *)h->listing.data + off, n < size ? n : size);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                     struct fuse_file_info *fi)
{
	(void)off;
	if (ino != NODE_CONTROL) {
		fuse_reply_err(req, EROFS);
		return;
	}
	dits_mount *m = mount_of(req);
	control_handle *h = (control_handle *)(uintptr_t)fi->fh;
	if (dits_buf_put(&h->pending, buf, size)) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	int rc = control_run(m, h, false);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_write(req, size);
}

static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	int rc = 0;
	if (ino == NODE_CONTROL) {
		/* A last line written without a newline runs at close. */
		control_handle *h = (control_handle *)(uintptr_t)fi->fh;
		if (h->pending.len)
			rc = control_run(mount_of(req), h, true);
	}
	fuse_reply_err(req, -rc);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	int kind = *(int *)(uintptr_t)fi->fh;
	if (kind == H_FILE) {
		release_file((open_file_handle *)(uintptr_t)fi->fh);
	} else {
		control_handle *h = (control_handle *)(uintptr_t)fi->fh;
		dits_buf_free(&h->listing);
		dits_buf_free(&h->pending);
		free(h);
	}
	fuse_reply_err(req, 0);
}

static void op_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	dits_mount *m = mount_of(req);
	if ((mask & W_OK) && ino != NODE_CONTROL)
		fuse_reply_err(req, EROFS);
	else
		fuse_reply_err(req, 0);
	(void)m;
}

/* Everything that would change the tree. */
static void op_mknod(fuse_req_t req, fuse_ino_t p, const char *name, mode_t mode, dev_t rdev)
{
	(void)p, (void)name, (void)mode, (void)rdev;
	fuse_reply_err(req, EROFS);
}
static void op_mkdir(fuse_req_t req, fuse_ino_t p, const char *name, mode_t mode)
{
	(void)p, (void)name, (void)mode;
	fuse_reply_err(req, EROFS);
}
static void op_unlink(fuse_req_t req, fuse_ino_t p, const char *name)
{
	(void)p, (void)name;
	fuse_reply_err(req, EROFS);
}
static void op_rename(fuse_req_t req, fuse_ino_t p, const char *name, fuse_ino_t np,
                      const char *nname, unsigned int flags)
{
	(void)p, (void)name, (void)np, (void)nname, (void)flags;
	fuse_reply_err(req, EROFS);
}
static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t p, const char *name)
{
	(void)link, (void)p, (void)name;
	fuse_reply_err(req, EROFS);
}
static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t np, const char *nname)
{
	(void)ino, (void)np, (void)nname;
	fuse_reply_err(req, EROFS);
}
static void op_create(fuse_req_t req, fuse_ino_t p, const char *name, mode_t mode,
                      struct fuse_file_info *fi)
{
	(void)p, (void)name, (void)mode, (void)fi;
	fuse_reply_err(req, EROFS);
}

const struct fuse_lowlevel_ops dits_mount_ops = {
	.init = op_init,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.statfs = op_statfs,
	.open = op_open,
	.read = op_read,
	.write = op_write,
	.flush = op_flush,
	.release = op_release,
	.access = op_access,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.unlink = op_unlink,
	.rmdir = op_unlink,
	.rename = op_rename,
	.symlink = op_symlink,
	.link = op_link,
	.create = op_create,
};
