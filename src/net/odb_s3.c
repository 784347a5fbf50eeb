/*
 * The S3 pack backend (odb_s3.h). Invariants kept here:
 *  - a pack is published pack first, index last; only packs whose index
 *    and pack are both listed are read;
 *  - a block of a pack in the cache is the bytes the store returned for
 *    that range (packs never change once their index exists), and is
 *    re-checked through every record's hash when read;
 *  - the cached blocks never exceed the cache bound (a block larger than
 *    the bound is used once and not kept).
 */
#include "odb_s3.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "fsutil.h"
#include "odb_backend.h"
#include "odb_pack.h"
#include "s3.h"

typedef struct s3pack {
	char *name; /* pack-HEX */
	uint64_t size;
	dits_pack_index *idx;
} s3pack;

typedef struct s3repo {
	char *name;
	s3pack **packs; /* each allocated once: a pointer stays valid while the lock is let go */
	size_t npacks, cap;
	bool listed;
	struct s3repo *next;
} s3repo;

typedef struct cblock {
	char *pack;   /* pack-HEX */
	uint64_t no;  /* block number */
	uint64_t len;
	uint64_t tick; /* last use */
} cblock;

struct dits_s3_store {
	pthread_mutex_t mu;
	char *bucket, *prefix;
	dits_s3_config cfg;
	dits_s3 *s3; /* listings and indexes, under mu */
	dits_s3 **idle; /* connections for block GETs, taken out of mu */
	size_t nidle, idle_cap;
	char *cache_dir, *block_dir, *stage_dir;
	uint64_t cache_max, block;
	s3repo *repos;
	cblock *blocks;
	size_t nblocks, bcap;
	uint64_t tick;
	/* The last block read, in memory: consecutive records of a pack. */
	char *cur_pack;
	uint64_t cur_no;
	dits_buf cur;
	dits_s3_store_stats stats;
};

typedef struct s3_backend {
	dits_odb_backend base; /* first */
	dits_s3_store *st;
	s3repo *repo;
} s3_backend;

/* ---- keys and names ---------------------------------------------------- */

static char *pack_key(const s3repo *r, const char *name, const char *ext)
{
	return dits_strfmt("%s/packs/%s.%s", r->name, name, ext);
}

/* s3://BUCKET/PREFIXREPO/packs/NAME.pack, for messages. */
static char *pack_url(const dits_s3_store *st, const s3repo *r, const char *name)
{
	return dits_strfmt("s3://%s/%s%s/packs/%s.pack", st->bucket, st->prefix, r->name, name);
}

static char *block_path(const dits_s3_store *st, const char *pack, uint64_t no)
{
	return dits_strfmt("%s/%s.%llu", st->block_dir, pack, (unsigned long long)no);
}

/* ---- the cache of blocks ------------------------------------------------ */

static void cache_drop(dits_s3_store *st, size_t i)
{
	char *p = block_path(st, st->blocks[i].pack, st->blocks[i].no);
	if (p)
		unlink(p);
	free(p);
	st->stats.cached_bytes -= st->blocks[i].len;
	st->stats.cached_blocks--;
	free(st->blocks[i].pack);
	st->blocks[i] = st->blocks[--st->nblocks];
}

/* Evicts least recently used blocks until need more bytes fit. */
static void cache_make_room(dits_s3_store *st, uint64_t need)
{
	while (st->nblocks && st->stats.cached_bytes + need > st->cache_max) {
		size_t lru = 0;
		for (size_t i = 1; i < st->nblocks; i++)
			if (st->blocks[i].tick < st->blocks[lru].tick)
				lru = i;
		cache_drop(st, lru);
		st->stats.evictions++;
	}
}

static cblock *cache_find(dits_s3_store *st, const char *pack, uint64_t no)
{
	for (size_t i = 0; i < st->nblocks; i++)
		if (st->blocks[i].no == no && !strcmp(st->blocks[i].pack, pack))
			return &st->blocks[i];
	return NULL;
}

/* Keeps data as block no of pack when it fits the bound; failures only lose the copy. */
static void cache_put(dits_s3_store *st, const char *pack, uint64_t no, const void *data, uint64_t len)
{
	if (len > st->cache_max)
		return;
	cache_make_room(st, len);
	if (st->nblocks == st->bcap) {
		size_t cap = st->bcap ? st->bcap * 2 : 64;
		cblock *nb = realloc(st->blocks, cap * sizeof *nb);
		if (!nb)
			return;
		st->blocks = nb;
		st->bcap = cap;
	}
	char *path = block_path(st, pack, no);
	char *name = strdup(pack);
	if (!path || !name || dits_atomic_write(path, data, len)) {
		dits_error_clear();
		free(path);
		free(name);
		return;
	}
	free(path);
	st->blocks[st->nblocks++] = (cblock){ name, no, len, ++st->tick };
	st->stats.cached_bytes += len;
	st->stats.cached_blocks++;
}

/* A connection for a GET made without the lock (one per thread at a time). */
static int take_conn(dits_s3_store *st, dits_s3 **out)
{
	if (st->nidle) {
		*out = st->idle[--st->nidle];
		return 0;
	}
	return dits_s3_open(&st->cfg, out);
}

static void give_conn(dits_s3_store *st, dits_s3 *s3)
{
	if (st->nidle == st->idle_cap) {
		size_t cap = st->idle_cap ? st->idle_cap * 2 : 8;
		dits_s3 **v = realloc(st->idle, cap * sizeof *v);
		if (!v) {
			dits_s3_close(s3);
			return;
		}
		st->idle = v;
		st->idle_cap = cap;
	}
	st->idle[st->nidle++] = s3;
}

/*
 * Makes st->cur block no of pack p: from memory, the cache, or one ranged
 * GET. Called under st->mu, which is let go during the GET so that other
 * requests read meanwhile (each GET on a connection of its own).
 */
static int load_block(dits_s3_store *st, const s3repo *r, const s3pack *p, uint64_t no)
{
	if (st->cur_pack && st->cur_no == no && !strcmp(st->cur_pack, p->name)) {
		st->stats.hits++;
		cblock *b = cache_find(st, p->name, no);
		if (b)
			b->tick = ++st->tick;
		return 0;
	}
	free(st->cur_pack);
	st->cur_pack = NULL;
	dits_buf_reset(&st->cur);
	uint64_t off = no * st->block;
	uint64_t len = p->size - off < st->block ? p->size - off : st->block;
	int rc;
	cblock *b = cache_find(st, p->name, no);
	if (b) {
		char *path = block_path(st, p->name, no);
		rc = path ? dits_read_file(path, &st->cur) : dits_error_set(DITS_ENOMEM, "out of memory");
		free(path);
		if (!rc && st->cur.len == len) {
			b->tick = ++st->tick;
			st->stats.hits++;
			goto done;
		}
		/* A cache file gone or cut short: fetch the block again. */
		dits_error_clear();
		dits_buf_reset(&st->cur);
		cache_drop(st, (size_t)(b - st->blocks));
	}
	char *key = pack_key(r, p->name, "pack");
	dits_s3 *conn = NULL;
	rc = key ? take_conn(st, &conn) : dits_error_set(DITS_ENOMEM, "out of memory");
	dits_buf got = DITS_BUF_INIT;
	if (!rc) {
		pthread_mutex_unlock(&st->mu);
		rc = dits_s3_get_range(conn, key, off, len, &got);
		pthread_mutex_lock(&st->mu);
		give_conn(st, conn);
	}
	free(key);
	if (rc) {
		dits_buf_free(&got);
		return rc;
	}
	/* Another thread may have set cur meanwhile: this block replaces it. */
	free(st->cur_pack);
	st->cur_pack = NULL;
	dits_buf_free(&st->cur);
	st->cur = got;
	st->stats.gets++;
	st->stats.get_bytes += st->cur.len;
	if (st->cur.len != len) {
		char *url = pack_url(st, r, p->name);
		rc = dits_error_set(DITS_ECORRUPT, "%s: bytes %llu..%llu: the store returned %zu bytes, not %llu",
		                    url ? url : p->name, (unsigned long long)off, (unsigned long long)(off + len),
		                    st->cur.len, (unsigned long long)len);
		free(url);
		dits_buf_reset(&st->cur);
		return rc;
	}
	if (!cache_find(st, p->name, no)) /* not fetched by another thread meanwhile */
		cache_put(st, p->name, no, st->cur.data, len);
done:
	if (!(st->cur_pack = strdup(p->name))) {
		dits_buf_reset(&st->cur);
		return dits_error_set(DITS_ENOMEM, "out of memory");
	}
	st->cur_no = no;
	return 0;
}

/* Copies bytes [off, off+len) of pack p into dst through the block cache. */
static int read_range(dits_s3_store *st, const s3repo *r, const s3pack *p, uint64_t off, uint64_t len, uint8_t *dst)
{
	while (len) {
		uint64_t no = off / st->block;
		int rc = load_block(st, r, p, no);
		if (rc)
			return rc;
		uint64_t in = off - no * st->block;
		uint64_t n = st->cur.len - in < len ? st->cur.len - in : len;
		memcpy(dst, st->cur.data + in, n);
		dst += n;
		off += n;
		len -= n;
	}
	return 0;
}

/* ---- the list of packs --------------------------------------------------- */

static int cmp_pack(const void *a, const void *b)
{
	return strcmp((*(s3pack *const *)a)->name, (*(s3pack *const *)b)->name);
}

static bool repo_has(const s3repo *r, const char *name)
{
	for (size_t i = 0; i < r->npacks; i++)
		if (!strcmp(r->packs[i]->name, name))
			return true;
	return false;
}

/* Adds pack name (size bytes) with its index at local path idx. */
static int repo_add(dits_s3_store *st, s3repo *r, const char *name, uint64_t size, const char *idx)
{
	if (r->npacks == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 8;
		s3pack **np = realloc(r->packs, cap * sizeof *np);
		if (!np)
			return dits_error_set(DITS_ENOMEM, "out of memory");
		r->packs = np;
		r->cap = cap;
	}
	char *url = pack_url(st, r, name);
	s3pack *p = calloc(1, sizeof *p);
	if (p) {
		p->name = strdup(name);
		p->size = size;
	}
	int rc = !url || !p || !p->name ? dits_error_set(DITS_ENOMEM, "out of memory")
	                                : dits_pack_index_load(&p->idx, idx, url, size);
	free(url);
	if (rc) {
		if (p)
			free(p->name);
		free(p);
		return rc;
	}
	r->packs[r->npacks++] = p;
	return 0;
}

typedef struct listing {
	char **names; /* pack-HEX of each .idx */
	size_t n, cap;
	char **packs; /* pack-HEX of each .pack */
	uint64_t *sizes;
	size_t np, pcap;
	int rc;
} listing;

static int push_name(char ***v, size_t *n, size_t *cap, const char *s, size_t len)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 16;
		char **nv = realloc(*v, c * sizeof *nv);
		if (!nv)
			return dits_error_set(DITS_ENOMEM, "out of memory");
		*v = nv;
		*cap = c;
	}
	if (!((*v)[*n] = strndup(s, len)))
		return dits_error_set(DITS_ENOMEM, "out of memory");
	(*n)++;
	return 0;
}

static int list_one(void *ctx, const dits_s3_object *o)
{
	listing *l = ctx;
	const char *base = strrchr(o->key, '/');
	base = base ? base + 1 : o->key;
	size_t len = strlen(base);
	if (len > 10 && !strncmp(base, "pack-", 5) && !strcmp(base + len - 4, ".idx"))
		return push_name(&l->names, &l->n, &l->cap, base, len - 4);
	if (len > 11 && !strncmp(base, "pack-", 5) && !strcmp(base + len - 5, ".pack")) {
		size_t before = l->np;
		int rc = push_name(&l->packs, &l->np, &l->pcap, base, len - 5);
		if (rc)
			return rc;
		uint64_t *ns = realloc(l->sizes, l->pcap * sizeof *ns);
		if (!ns)
			return dits_error_set(DITS_ENOMEM, "out of memory");
		l->sizes = ns;
		l->sizes[before] = o->size;
	}
	return 0;
}

/*
 * Lists REPO/packs/ and adds every pack whose index and pack are both
 * there and not yet known, downloading its index unless a local copy
 * checks out. An index that cannot be read or fails its checks is left
 * out (that pack stays invisible). Returns the number added, or an error
 * when the listing fails. Under st->mu.
 */
static int repo_refresh(dits_s3_store *st, s3repo *r)
{
	listing l = { 0 };
	char *prefix = dits_strfmt("%s/packs/", r->name);
	char *dir = dits_strfmt("%s/idx/%s", st->cache_dir, r->name);
	int rc = !prefix || !dir ? dits_error_set(DITS_ENOMEM, "out of memory") : dits_s3_list(st->s3, prefix, list_one, &l);
	if (!rc)
		rc = dits_mkdir_p(dir, 0755);
	int added = 0;
	for (size_t i = 0; i < l.n && !rc; i++) {
		if (repo_has(r, l.names[i]))
			continue;
		size_t j = 0;
		while (j < l.np && strcmp(l.packs[j], l.names[i]))
			j++;
		if (j == l.np)
			continue; /* an index without its pack: not published by this backend */
		char *path = dits_strfmt("%s/%s.idx", dir, l.names[i]);
		char *key = pack_key(r, l.names[i], "idx");
		if (!path || !key) {
			rc = dits_error_set(DITS_ENOMEM, "out of memory");
		} else if (repo_add(st, r, l.names[i], l.sizes[j], path) != 0) {
			dits_buf b = DITS_BUF_INIT;
			int g = dits_s3_get(st->s3, key, &b);
			st->stats.index_gets++;
			if (!g)
				g = dits_atomic_write(path, b.data, b.len);
			if (!g)
				g = repo_add(st, r, l.names[i], l.sizes[j], path);
			if (!g)
				added++;
			else
				fprintf(stderr, "dits: %s: index left out: %s\n", key, dits_error_last());
			dits_buf_free(&b);
		} else {
			added++;
		}
		free(path);
		free(key);
	}
	dits_error_clear();
	for (size_t i = 0; i < l.n; i++)
		free(l.names[i]);
	for (size_t i = 0; i < l.np; i++)
		free(l.packs[i]);
	free(l.names);
	free(l.packs);
	free(l.sizes);
	free(prefix);
	free(dir);
	if (!rc && added && r->npacks > 1)
		qsort(r->packs, r->npacks, sizeof *r->packs, cmp_pack);
	return rc ? rc : added;
}

/* ---- the backend's operations ------------------------------------------ */

static const s3pack *locate(const s3repo *r, const dits_id *id, dits_odb_loc *loc)
{
	for (size_t i = r->npacks; i-- > 0;)
		if (dits_pack_index_find(r->packs[i]->idx, id, loc) == 0)
			return r->packs[i];
	return NULL;
}

static int sb_read_header(dits_odb_backend *b, const dits_id *id, uint8_t *type, uint32_t *len)
{
	s3_backend *sb = (s3_backend *)b;
	pthread_mutex_lock(&sb->st->mu);
	dits_odb_loc loc;
	const s3pack *p = locate(sb->repo, id, &loc);
	pthread_mutex_unlock(&sb->st->mu);
	if (!p)
		return DITS_ENOTFOUND;
	if (type)
		*type = loc.type;
	if (len)
		*len = loc.length;
	return 0;
}

static int corrupt(dits_s3_store *st, const s3repo *r, const s3pack *p, const dits_odb_loc *loc,
                   const dits_id *id, const char *why)
{
	char hex[DITS_ID_HEXLEN + 1];
	dits_id_hex(hex, id);
	char *url = pack_url(st, r, p->name);
	int rc = dits_error_set(DITS_ECORRUPT, "%s: %s %s: %s", url ? url : p->name, dits_otype_name(loc->type), hex, why);
	free(url);
	return rc;
}

static int sb_read(dits_odb_backend *b, const dits_id *id, void *buf, uint32_t len)
{
	s3_backend *sb = (s3_backend *)b;
	dits_s3_store *st = sb->st;
	pthread_mutex_lock(&st->mu);
	dits_odb_loc loc;
	const s3pack *p = locate(sb->repo, id, &loc);
	int rc = 0;
	uint8_t h[DITS_PACK_RECORD_HEADER_LEN];
	if (!p)
		rc = DITS_ENOTFOUND;
	else if (loc.length != len)
		rc = corrupt(st, sb->repo, p, &loc, id, "stored length differs from the one asked for");
	else if (loc.offset > p->size || loc.length > p->size - loc.offset)
		rc = corrupt(st, sb->repo, p, &loc, id, "lies past the end of the pack");
	else if (!(rc = read_range(st, sb->repo, p, loc.offset - sizeof h, sizeof h, h)) &&
	         (h[0] != loc.type || dits_get_le32(h + 4) != loc.length || memcmp(h + 8, id->b, DITS_ID_LEN)))
		rc = corrupt(st, sb->repo, p, &loc, id, "the record header does not match the pack index");
	if (!rc)
		rc = read_range(st, sb->repo, p, loc.offset, len, buf);
	if (!rc) {
		dits_id got;
		dits_hash_buf(&got, buf, len);
		if (!dits_id_eq(&got, id))
			rc = corrupt(st, sb->repo, p, &loc, id, "stored bytes do not match their hash");
	}
	pthread_mutex_unlock(&st->mu);
	return rc;
}

static int sb_foreach(dits_odb_backend *b, dits_odb_each_fn fn, void *ctx)
{
	s3_backend *sb = (s3_backend *)b;
	/* Packs are only added, never removed, while the store is open: the
	 * indexes stay valid without the lock, but the array may move. */
	pthread_mutex_lock(&sb->st->mu);
	size_t n = sb->repo->npacks;
	dits_pack_index **v = malloc((n ? n : 1) * sizeof *v);
	for (size_t i = 0; v && i < n; i++)
		v[i] = sb->repo->packs[i]->idx;
	pthread_mutex_unlock(&sb->st->mu);
	if (!v)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		uint64_t c = dits_pack_index_count(v[i]);
		for (uint64_t j = 0; j < c && !rc; j++) {
			dits_id id;
			dits_odb_loc loc;
			dits_pack_index_entry(v[i], j, &id, &loc);
			rc = fn(ctx, &id, loc.type, loc.length);
		}
	}
	free(v);
	return rc;
}

static int sb_refresh(dits_odb_backend *b)
{
	s3_backend *sb = (s3_backend *)b;
	pthread_mutex_lock(&sb->st->mu);
	int rc = repo_refresh(sb->st, sb->repo);
	pthread_mutex_unlock(&sb->st->mu);
	if (rc < 0) {
		dits_error_clear();
		return 0;
	}
	return rc;
}

/* Uploads the pack, then its index (its own connection: reads go on meanwhile). */
static int publish(void *ctx, const char *pack_path, const char *idx_path, const char *name)
{
	s3_backend *sb = ctx;
	dits_s3_store *st = sb->st;
	dits_s3 *s3 = NULL;
	char *pkey = pack_key(sb->repo, name, "pack");
	char *ikey = pack_key(sb->repo, name, "idx");
	char *keep = dits_strfmt("%s/idx/%s/%s.idx", st->cache_dir, sb->repo->name, name);
	struct stat sbuf;
	int rc = !pkey || !ikey || !keep ? dits_error_set(DITS_ENOMEM, "out of memory") : 0;
	if (!rc && stat(pack_path, &sbuf) < 0)
		rc = dits_error_errno("%s", pack_path);
	if (!rc)
		rc = dits_s3_open(&st->cfg, &s3);
	if (!rc)
		rc = dits_s3_put_file(s3, pkey, pack_path);
	if (!rc)
		rc = dits_s3_put_file(s3, ikey, idx_path);
	if (!rc) {
		char *dir = dits_strfmt("%s/idx/%s", st->cache_dir, sb->repo->name);
		rc = dir ? dits_mkdir_p(dir, 0755) : dits_error_set(DITS_ENOMEM, "out of memory");
		free(dir);
	}
	if (!rc && rename(idx_path, keep) < 0)
		rc = dits_error_errno("%s: rename failed", keep);
	if (!rc) {
		pthread_mutex_lock(&st->mu);
		if (!repo_has(sb->repo, name)) {
			rc = repo_add(st, sb->repo, name, (uint64_t)sbuf.st_size, keep);
			if (!rc && sb->repo->npacks > 1)
				qsort(sb->repo->packs, sb->repo->npacks, sizeof *sb->repo->packs, cmp_pack);
		}
		if (!rc)
			st->stats.packs_put++;
		pthread_mutex_unlock(&st->mu);
	}
	dits_s3_close(s3);
	free(pkey);
	free(ikey);
	free(keep);
	return rc;
}

static int sb_writer_new(dits_odb_backend *b, dits_pack_writer **out)
{
	s3_backend *sb = (s3_backend *)b;
	char *dir = dits_strfmt("%s/%s", sb->st->stage_dir, sb->repo->name);
	int rc = dir ? dits_pack_writer_new_staged(out, b->odb, dir, publish, sb) : dits_error_set(DITS_ENOMEM, "out of memory");
	free(dir);
	return rc;
}

static void sb_free(dits_odb_backend *b)
{
	free(b);
}

/* ---- the store ------------------------------------------------------------ */

static int remove_files(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char *p = dits_path_join(dir, e->d_name);
		struct stat s;
		if (p && lstat(p, &s) == 0) {
			if (S_ISDIR(s.st_mode)) {
				remove_files(p);
				rmdir(p);
			} else {
				unlink(p);
			}
		}
		free(p);
	}
	closedir(d);
	return 0;
}

int dits_s3_store_open(dits_s3_store **out, const dits_s3_store_opts *o)
{
	*out = NULL;
	if (!o->cache_dir)
		return dits_error_set(DITS_EINVALID, "the S3 store needs a cache directory");
	dits_s3_store *st = calloc(1, sizeof *st);
	if (!st)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	pthread_mutex_init(&st->mu, NULL);
	int rc = dits_s3_parse_url(o->url ? o->url : "", &st->bucket, &st->prefix);
	if (!rc) {
		st->cfg.bucket = st->bucket;
		st->cfg.prefix = st->prefix;
		st->cache_max = o->cache_bytes ? o->cache_bytes : DITS_S3_STORE_DEFAULT_CACHE;
		st->block = o->block_bytes ? o->block_bytes : DITS_S3_STORE_DEFAULT_BLOCK;
		st->cache_dir = strdup(o->cache_dir);
		st->block_dir = dits_strfmt("%s/blocks", o->cache_dir);
		st->stage_dir = dits_strfmt("%s/staging", o->cache_dir);
		if (!st->cache_dir || !st->block_dir || !st->stage_dir)
			rc = dits_error_set(DITS_ENOMEM, "out of memory");
	}
	/* Settings first: a store that cannot be used leaves nothing on disk. */
	if (!rc)
		rc = dits_s3_open(&st->cfg, &st->s3);
	/* Blocks are not remembered across runs, and staged packs of a run
	 * that was killed are leftovers. */
	if (!rc) {
		remove_files(st->block_dir);
		remove_files(st->stage_dir);
		rc = dits_mkdir_p(st->block_dir, 0755);
	}
	if (rc) {
		dits_s3_store_free(st);
		return rc;
	}
	*out = st;
	return 0;
}

void dits_s3_store_free(dits_s3_store *st)
{
	if (!st)
		return;
	for (s3repo *r = st->repos, *next; r; r = next) {
		next = r->next;
		for (size_t i = 0; i < r->npacks; i++) {
			free(r->packs[i]->name);
			dits_pack_index_free(r->packs[i]->idx);
			free(r->packs[i]);
		}
		free(r->packs);
		free(r->name);
		free(r);
	}
	for (size_t i = 0; i < st->nblocks; i++)
		free(st->blocks[i].pack);
	free(st->blocks);
	free(st->cur_pack);
	dits_buf_free(&st->cur);
	dits_s3_close(st->s3);
	for (size_t i = 0; i < st->nidle; i++)
		dits_s3_close(st->idle[i]);
	free(st->idle);
	free(st->bucket);
	free(st->prefix);
	free(st->cache_dir);
	free(st->block_dir);
	free(st->stage_dir);
	pthread_mutex_destroy(&st->mu);
	free(st);
}

int dits_s3_store_backend(dits_s3_store *st, const char *repo, dits_odb_backend **out)
{
	*out = NULL;
	if (!repo[0] || strchr(repo, '/') || repo[0] == '.')
		return dits_error_set(DITS_EINVALID, "%s: not a repository name for the S3 store", repo);
	pthread_mutex_lock(&st->mu);
	s3repo *r = st->repos;
	while (r && strcmp(r->name, repo))
		r = r->next;
	int rc = 0;
	if (!r) {
		r = calloc(1, sizeof *r);
		if (!r || !(r->name = strdup(repo))) {
			free(r);
			r = NULL;
			rc = dits_error_set(DITS_ENOMEM, "out of memory");
		} else {
			r->next = st->repos;
			st->repos = r;
		}
	}
	if (!rc && !r->listed) {
		rc = repo_refresh(st, r);
		if (rc >= 0) {
			r->listed = true;
			rc = 0;
		}
	}
	pthread_mutex_unlock(&st->mu);
	if (rc)
		return rc;
	s3_backend *sb = calloc(1, sizeof *sb);
	if (!sb)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	sb->st = st;
	sb->repo = r;
	dits_odb_backend *b = &sb->base;
	b->version = DITS_ODB_BACKEND_VERSION;
	b->read_header = sb_read_header;
	b->read = sb_read;
	b->foreach = sb_foreach;
	b->writer_new = sb_writer_new;
	b->refresh = sb_refresh;
	b->free = sb_free;
	*out = b;
	return 0;
}

void dits_s3_store_get_stats(dits_s3_store *st, dits_s3_store_stats *out)
{
	pthread_mutex_lock(&st->mu);
	*out = st->stats;
	pthread_mutex_unlock(&st->mu);
}
