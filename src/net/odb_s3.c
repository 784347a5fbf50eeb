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
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "fsutil.h"
#include "odb_backend.h"
#include "odb_pack.h"
#include "s3.h"

/* The read path's bounds (see "the cache of blocks"). */
#define MEM_BLOCKS 16
#define AHEAD_BLOCKS 6
#define PREFETCH_THREADS 4
#define PREFETCH_QUEUE 32

typedef struct s3pack {
	char *name; /* pack-HEX */
	uint64_t size;
	int64_t mtime; /* when its index was written, seconds since 1970; 0 unknown */
	bool gone;     /* its index was deleted (gc): no longer read, kept until the store is freed */
	dits_pack_index *idx;
} s3pack;

typedef struct s3repo {
	char *name;
	s3pack **packs; /* each allocated once: a pointer stays valid while the lock is let go */
	size_t npacks, cap;
	bool listed;
	struct s3repo *next;
} s3repo;

typedef struct mblock {
	char *pack;   /* NULL: free */
	uint64_t no;
	dits_buf data;
	uint64_t tick;
	bool seen;    /* read by a request (not only fetched ahead) */
} mblock;

typedef struct fetch_item {
	const struct s3repo *r;
	const s3pack *p;
	uint64_t no;
} fetch_item;

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
	uint64_t ahead; /* blocks to read ahead */
	s3repo *repos;
	cblock *blocks;
	size_t nblocks, bcap;
	uint64_t tick;
	mblock mem[MEM_BLOCKS];
	fetch_item *inflight; /* blocks being fetched */
	size_t ninflight, inflight_cap;
	pthread_cond_t fetched; /* an in-flight block arrived (or failed) */
	fetch_item queue[PREFETCH_QUEUE]; /* blocks to read ahead */
	size_t nqueue;
	pthread_cond_t queued;
	pthread_t threads[PREFETCH_THREADS];
	size_t nthreads;
	bool stopping;
	dits_s3_store_stats stats;
};

typedef struct s3_backend {
	dits_odb_backend base; /* first */
	dits_s3_store *st;
	s3repo *repo;
	int64_t gc_cutoff_ns; /* from gc_begin; INT64_MIN: nothing is old enough to delete */
	int64_t gc_began_ns;  /* when gc_begin ran: the cutoff moves on with the clock */
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

/*
 * Three places hold blocks: MEM_BLOCKS of them in memory (least recently
 * used out), the bounded files of DIR/blocks/BLOCKSIZE/ (kept across
 * restarts: a block of an immutable pack never changes, and every record
 * read from it is checked by hash, a bad block being dropped and fetched
 * again), and the store. Reading a pack forward starts read-ahead: up to
 * AHEAD_BLOCKS after the one read are fetched by PREFETCH_THREADS threads
 * with connections of their own. Memory: MEM_BLOCKS blocks, plus one per
 * GET in flight (PREFETCH_THREADS, and one per request thread waiting
 * for its own block): 16 + 4 + requests blocks of 4 MiB with the defaults.
 */

static void cache_unlink(dits_s3_store *st, const char *pack, uint64_t no)
{
	char *p = block_path(st, pack, no);
	if (p)
		unlink(p);
	free(p);
}

static void cache_drop(dits_s3_store *st, size_t i)
{
	cache_unlink(st, st->blocks[i].pack, st->blocks[i].no);
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

/* Records a block file already on disk; drops it when it cannot be kept. Under mu. */
static void cache_register(dits_s3_store *st, const char *pack, uint64_t no, uint64_t len, uint64_t tick)
{
	if (cache_find(st, pack, no))
		return;
	if (len > st->cache_max) {
		cache_unlink(st, pack, no);
		return;
	}
	cache_make_room(st, len);
	if (st->nblocks == st->bcap) {
		size_t cap = st->bcap ? st->bcap * 2 : 64;
		cblock *nb = realloc(st->blocks, cap * sizeof *nb);
		if (!nb) {
			cache_unlink(st, pack, no);
			return;
		}
		st->blocks = nb;
		st->bcap = cap;
	}
	char *name = strdup(pack);
	if (!name) {
		cache_unlink(st, pack, no);
		return;
	}
	st->blocks[st->nblocks++] = (cblock){ name, no, len, tick };
	st->stats.cached_bytes += len;
	st->stats.cached_blocks++;
}

/*
 * Writes a block's file, without the lock. Not synced: a block torn by a
 * crash fails its records' hashes and is fetched again. Failures only lose
 * the copy.
 */
static bool cache_write(const dits_s3_store *st, const char *pack, uint64_t no, const void *data, uint64_t len)
{
	if (len > st->cache_max)
		return false;
	char *path = block_path(st, pack, no);
	char *tmp = path ? dits_strfmt("%s.tmp-%lu", path, (unsigned long)pthread_self()) : NULL;
	bool ok = false;
	if (tmp) {
		int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd >= 0) {
			ok = dits_write_all(fd, data, len, tmp) == 0;
			ok = close(fd) == 0 && ok;
			ok = ok && rename(tmp, path) == 0;
			if (!ok)
				unlink(tmp);
		}
	}
	dits_error_clear();
	free(path);
	free(tmp);
	return ok;
}

/* ---- blocks in memory ---------------------------------------------------- */

static mblock *mem_find(dits_s3_store *st, const char *pack, uint64_t no)
{
	for (size_t i = 0; i < MEM_BLOCKS; i++)
		if (st->mem[i].pack && st->mem[i].no == no && !strcmp(st->mem[i].pack, pack))
			return &st->mem[i];
	return NULL;
}

/* Keeps data (taken) as block no of pack in memory, replacing the least recently used. */
static mblock *mem_put(dits_s3_store *st, const char *pack, uint64_t no, dits_buf *data)
{
	mblock *m = mem_find(st, pack, no);
	if (!m) {
		m = &st->mem[0];
		for (size_t i = 1; i < MEM_BLOCKS && m->pack; i++)
			if (!st->mem[i].pack || st->mem[i].tick < m->tick)
				m = &st->mem[i];
		char *name = strdup(pack);
		if (!name) {
			dits_buf_free(data);
			return NULL;
		}
		free(m->pack);
		m->pack = name;
		m->no = no;
		m->seen = false;
	}
	dits_buf_free(&m->data);
	m->data = *data;
	*data = (dits_buf)DITS_BUF_INIT;
	m->tick = ++st->tick;
	return m;
}

static void mem_forget(dits_s3_store *st, const char *pack, uint64_t no)
{
	mblock *m = mem_find(st, pack, no);
	if (m) {
		free(m->pack);
		m->pack = NULL;
		dits_buf_free(&m->data);
	}
}

/* ---- connections ------------------------------------------------------- */

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

/* ---- fetching blocks ------------------------------------------------------ */

static bool inflight_has(const dits_s3_store *st, const s3pack *p, uint64_t no)
{
	for (size_t i = 0; i < st->ninflight; i++)
		if (st->inflight[i].p == p && st->inflight[i].no == no)
			return true;
	return false;
}

static int inflight_add(dits_s3_store *st, const s3pack *p, uint64_t no)
{
	if (st->ninflight == st->inflight_cap) {
		size_t cap = st->inflight_cap ? st->inflight_cap * 2 : 16;
		fetch_item *v = realloc(st->inflight, cap * sizeof *v);
		if (!v)
			return dits_error_set(DITS_ENOMEM, "out of memory");
		st->inflight = v;
		st->inflight_cap = cap;
	}
	st->inflight[st->ninflight++] = (fetch_item){ NULL, p, no };
	return 0;
}

static void inflight_remove(dits_s3_store *st, const s3pack *p, uint64_t no)
{
	for (size_t i = 0; i < st->ninflight; i++)
		if (st->inflight[i].p == p && st->inflight[i].no == no) {
			st->inflight[i] = st->inflight[--st->ninflight];
			break;
		}
	pthread_cond_broadcast(&st->fetched);
}

static uint64_t block_len(const dits_s3_store *st, const s3pack *p, uint64_t no)
{
	uint64_t off = no * st->block;
	return p->size - off < st->block ? p->size - off : st->block;
}

/*
 * One block from the store, fetched by the calling thread with the lock let
 * go (the block is marked in flight meanwhile), then kept on disk and in
 * memory. Under mu; returns the block in memory, or NULL with the error.
 */
static mblock *fetch_block(dits_s3_store *st, const s3repo *r, const s3pack *p, uint64_t no, int *rcp)
{
	uint64_t off = no * st->block, len = block_len(st, p, no);
	char *key = pack_key(r, p->name, "pack");
	dits_s3 *conn = NULL;
	int rc = !key ? dits_error_set(DITS_ENOMEM, "out of memory") : inflight_add(st, p, no);
	if (!rc && (rc = take_conn(st, &conn)))
		inflight_remove(st, p, no);
	dits_buf got = DITS_BUF_INIT;
	bool kept = false;
	if (!rc) {
		pthread_mutex_unlock(&st->mu);
		rc = dits_s3_get_range(conn, key, off, len, &got);
		if (!rc && got.len == len)
			kept = cache_write(st, p->name, no, got.data, len);
		pthread_mutex_lock(&st->mu);
		give_conn(st, conn);
		inflight_remove(st, p, no);
	}
	free(key);
	if (!rc) {
		st->stats.gets++;
		st->stats.get_bytes += got.len;
	}
	if (!rc && got.len != len) {
		char *url = pack_url(st, r, p->name);
		rc = dits_error_set(DITS_ECORRUPT, "%s: bytes %llu..%llu: the store returned %zu bytes, not %llu",
		                    url ? url : p->name, (unsigned long long)off, (unsigned long long)(off + len),
		                    got.len, (unsigned long long)len);
		free(url);
	}
	if (rc) {
		dits_buf_free(&got);
		*rcp = rc;
		return NULL;
	}
	if (kept)
		cache_register(st, p->name, no, len, ++st->tick);
	mblock *m = mem_put(st, p->name, no, &got);
	if (!m)
		*rcp = dits_error_set(DITS_ENOMEM, "out of memory");
	return m;
}

static void *prefetch_main(void *arg)
{
	dits_s3_store *st = arg;
	pthread_mutex_lock(&st->mu);
	for (;;) {
		while (!st->nqueue && !st->stopping)
			pthread_cond_wait(&st->queued, &st->mu);
		if (st->stopping)
			break;
		fetch_item it = st->queue[0];
		memmove(st->queue, st->queue + 1, (--st->nqueue) * sizeof *st->queue);
		if (mem_find(st, it.p->name, it.no) || cache_find(st, it.p->name, it.no) || inflight_has(st, it.p, it.no))
			continue;
		int rc = 0;
		if (!fetch_block(st, it.r, it.p, it.no, &rc))
			dits_error_clear(); /* a reader that needs it fetches it and reports */
		else
			st->stats.prefetched++;
	}
	pthread_mutex_unlock(&st->mu);
	return NULL;
}

/* Queues the blocks after no of p that are nowhere yet. Under mu. */
static void read_ahead(dits_s3_store *st, const s3repo *r, const s3pack *p, uint64_t no)
{
	uint64_t nblocks = (p->size + st->block - 1) / st->block;
	for (uint64_t b = no + 1; b <= no + st->ahead && b < nblocks && st->nqueue < PREFETCH_QUEUE; b++) {
		if (mem_find(st, p->name, b) || cache_find(st, p->name, b) || inflight_has(st, p, b))
			continue;
		bool queued = false;
		for (size_t i = 0; i < st->nqueue && !queued; i++)
			queued = st->queue[i].p == p && st->queue[i].no == b;
		if (queued)
			continue;
		if (st->nthreads < PREFETCH_THREADS &&
		    pthread_create(&st->threads[st->nthreads], NULL, prefetch_main, st) == 0)
			st->nthreads++;
		if (!st->nthreads)
			return;
		st->queue[st->nqueue++] = (fetch_item){ r, p, b };
		pthread_cond_signal(&st->queued);
	}
}

/*
 * Block no of pack p in memory: from memory, the disk cache, a read-ahead
 * in flight, or one ranged GET. Under mu, which is let go during a GET so
 * that other requests read meanwhile. The block stays valid until mu is
 * let go.
 */
static mblock *load_block(dits_s3_store *st, const s3repo *r, const s3pack *p, uint64_t no, int *rcp)
{
	uint64_t len = block_len(st, p, no);
	for (;;) {
		mblock *m = mem_find(st, p->name, no);
		if (m) {
			st->stats.hits++;
			m->tick = ++st->tick;
			cblock *b = cache_find(st, p->name, no);
			if (b)
				b->tick = m->tick;
			if (!m->seen) {
				m->seen = true;
				read_ahead(st, r, p, no);
			}
			return m;
		}
		if (!inflight_has(st, p, no))
			break;
		pthread_cond_wait(&st->fetched, &st->mu);
	}
	bool sequential = no == 0 || cache_find(st, p->name, no - 1) || mem_find(st, p->name, no - 1);
	mblock *m = NULL;
	cblock *b = cache_find(st, p->name, no);
	if (b) {
		dits_buf got = DITS_BUF_INIT;
		char *path = block_path(st, p->name, no);
		int rc = path ? dits_read_file(path, &got) : DITS_ENOMEM;
		if (!rc)
			utimensat(AT_FDCWD, path, NULL, 0); /* the order of eviction after a restart */
		free(path);
		dits_error_clear();
		if (!rc && got.len == len) {
			b->tick = ++st->tick;
			st->stats.hits++;
			m = mem_put(st, p->name, no, &got);
		} else {
			/* A cache file gone or cut short: fetch the block again. */
			dits_buf_free(&got);
			cache_drop(st, (size_t)(b - st->blocks));
		}
	}
	if (!m && !(m = fetch_block(st, r, p, no, rcp)))
		return NULL;
	m->seen = true;
	if (sequential)
		read_ahead(st, r, p, no);
	return m;
}

/* Copies bytes [off, off+len) of pack p into dst through the blocks. Under mu. */
static int read_range(dits_s3_store *st, const s3repo *r, const s3pack *p, uint64_t off, uint64_t len, uint8_t *dst)
{
	while (len) {
		uint64_t no = off / st->block;
		int rc = 0;
		mblock *m = load_block(st, r, p, no, &rc);
		if (!m)
			return rc;
		uint64_t in = off - no * st->block;
		uint64_t n = m->data.len - in < len ? m->data.len - in : len;
		memcpy(dst, m->data.data + in, n);
		dst += n;
		off += n;
		len -= n;
	}
	return 0;
}

/* Forgets the copies of the blocks holding [off, off+len) of p, in memory and on disk. Under mu. */
static void forget_range(dits_s3_store *st, const s3pack *p, uint64_t off, uint64_t len)
{
	for (uint64_t no = off / st->block; no * st->block < off + len; no++) {
		mem_forget(st, p->name, no);
		cblock *b = cache_find(st, p->name, no);
		if (b)
			cache_drop(st, (size_t)(b - st->blocks));
	}
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
static int repo_add(dits_s3_store *st, s3repo *r, const char *name, uint64_t size, int64_t mtime, const char *idx)
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
		p->mtime = mtime;
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
	int64_t *imtimes;
	size_t n, cap;
	char **gone; /* pack-HEX of each .gone (gc's tombstones) */
	int64_t *gmtimes;
	size_t ng, gcap;
	char **packs; /* pack-HEX of each .pack */
	uint64_t *sizes;
	int64_t *pmtimes;
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
	if (len > 10 && !strncmp(base, "pack-", 5) && !strcmp(base + len - 4, ".idx")) {
		size_t before = l->n;
		int rc = push_name(&l->names, &l->n, &l->cap, base, len - 4);
		int64_t *m = rc ? NULL : realloc(l->imtimes, l->cap * sizeof *m);
		if (rc || !m)
			return rc ? rc : dits_error_set(DITS_ENOMEM, "out of memory");
		l->imtimes = m;
		l->imtimes[before] = o->mtime;
		return 0;
	}
	if (len > 11 && !strncmp(base, "pack-", 5) && !strcmp(base + len - 5, ".gone")) {
		size_t before = l->ng;
		int rc = push_name(&l->gone, &l->ng, &l->gcap, base, len - 5);
		int64_t *m = rc ? NULL : realloc(l->gmtimes, l->gcap * sizeof *m);
		if (rc || !m)
			return rc ? rc : dits_error_set(DITS_ENOMEM, "out of memory");
		l->gmtimes = m;
		l->gmtimes[before] = o->mtime;
		return 0;
	}
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
		int64_t *m = realloc(l->pmtimes, l->pcap * sizeof *m);
		if (!m)
			return dits_error_set(DITS_ENOMEM, "out of memory");
		l->pmtimes = m;
		l->pmtimes[before] = o->mtime;
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
static void listing_free(listing *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->names[i]);
	for (size_t i = 0; i < l->np; i++)
		free(l->packs[i]);
	for (size_t i = 0; i < l->ng; i++)
		free(l->gone[i]);
	free(l->names);
	free(l->imtimes);
	free(l->packs);
	free(l->sizes);
	free(l->pmtimes);
	free(l->gone);
	free(l->gmtimes);
	memset(l, 0, sizeof *l);
}

static bool in_list(char **v, size_t n, const char *name, size_t *at)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i], name)) {
			if (at)
				*at = i;
			return true;
		}
	return false;
}

static int repo_list(dits_s3_store *st, dits_s3 *s3, const s3repo *r, listing *l)
{
	memset(l, 0, sizeof *l);
	char *prefix = dits_strfmt("%s/packs/", r->name);
	int rc = prefix ? dits_s3_list(s3, prefix, list_one, l) : dits_error_set(DITS_ENOMEM, "out of memory");
	free(prefix);
	(void)st;
	if (rc)
		listing_free(l);
	return rc;
}

/*
 * Lists REPO/packs/ and adds every pack whose index and pack are both
 * there and not yet known, downloading its index unless a local copy
 * checks out; a known pack whose index is no longer listed (gc removed
 * it) is marked gone and no longer read. An index that cannot be read or
 * fails its checks is left out (that pack stays invisible). Returns the
 * number added, or an error when the listing fails. Under st->mu.
 */
static int repo_refresh(dits_s3_store *st, s3repo *r)
{
	listing l = { 0 };
	char *dir = dits_strfmt("%s/idx/%s", st->cache_dir, r->name);
	int rc = !dir ? dits_error_set(DITS_ENOMEM, "out of memory") : repo_list(st, st->s3, r, &l);
	if (!rc)
		rc = dits_mkdir_p(dir, 0755);
	int added = 0;
	for (size_t i = 0; i < r->npacks && !rc; i++)
		if (!r->packs[i]->gone && !in_list(l.names, l.n, r->packs[i]->name, NULL))
			r->packs[i]->gone = true;
	for (size_t i = 0; i < l.n && !rc; i++) {
		if (repo_has(r, l.names[i]))
			continue;
		size_t j;
		if (!in_list(l.packs, l.np, l.names[i], &j))
			continue; /* an index without its pack: not published by this backend */
		char *path = dits_strfmt("%s/%s.idx", dir, l.names[i]);
		char *key = pack_key(r, l.names[i], "idx");
		if (!path || !key) {
			rc = dits_error_set(DITS_ENOMEM, "out of memory");
		} else if (repo_add(st, r, l.names[i], l.sizes[j], l.imtimes[i], path) != 0) {
			dits_buf b = DITS_BUF_INIT;
			int g = dits_s3_get(st->s3, key, &b);
			st->stats.index_gets++;
			if (!g)
				g = dits_atomic_write(path, b.data, b.len);
			if (!g)
				g = repo_add(st, r, l.names[i], l.sizes[j], l.imtimes[i], path);
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
	listing_free(&l);
	dits_error_clear();
	free(dir);
	if (!rc && added && r->npacks > 1)
		qsort(r->packs, r->npacks, sizeof *r->packs, cmp_pack);
	return rc ? rc : added;
}

/* ---- the backend's operations ------------------------------------------ */

static const s3pack *locate(const s3repo *r, const dits_id *id, dits_odb_loc *loc)
{
	for (size_t i = r->npacks; i-- > 0;)
		if (!r->packs[i]->gone && dits_pack_index_find(r->packs[i]->idx, id, loc) == 0)
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

/*
 * Reads the record under the lock, checks its hash without it. A record
 * that fails a check is read once more after its blocks are forgotten
 * (memory and disk): a block file torn by a crash is fetched again, while
 * a pack bad in the store fails twice and is reported.
 */
static int sb_read(dits_odb_backend *b, const dits_id *id, void *buf, uint32_t len)
{
	s3_backend *sb = (s3_backend *)b;
	dits_s3_store *st = sb->st;
	int rc = 0;
	for (int attempt = 0; attempt < 2; attempt++) {
		pthread_mutex_lock(&st->mu);
		dits_odb_loc loc;
		const s3pack *p = locate(sb->repo, id, &loc);
		uint8_t h[DITS_PACK_RECORD_HEADER_LEN];
		if (attempt && p && loc.offset >= sizeof h && loc.offset <= p->size && len <= p->size - loc.offset)
			forget_range(st, p, loc.offset - sizeof h, sizeof h + len);
		if (!p)
			rc = DITS_ENOTFOUND;
		else if (loc.length != len)
			rc = corrupt(st, sb->repo, p, &loc, id, "stored length differs from the one asked for");
		else if (loc.offset < sizeof h || loc.offset > p->size || loc.length > p->size - loc.offset)
			rc = corrupt(st, sb->repo, p, &loc, id, "lies past the end of the pack");
		else if (!(rc = read_range(st, sb->repo, p, loc.offset - sizeof h, sizeof h, h)) &&
		         (h[0] != loc.type || dits_get_le32(h + 4) != loc.length || memcmp(h + 8, id->b, DITS_ID_LEN)))
			rc = corrupt(st, sb->repo, p, &loc, id, "the record header does not match the pack index");
		if (!rc)
			rc = read_range(st, sb->repo, p, loc.offset, len, buf);
		if (rc == DITS_ENOTFOUND && p && !attempt) {
			/* The pack itself is gone (gc deleted it after removing its
			 * index): list again, which retires it, and look elsewhere. */
			((s3pack *)p)->gone = true;
			int lr = repo_refresh(st, sb->repo);
			pthread_mutex_unlock(&st->mu);
			if (lr < 0)
				return lr;
			dits_error_clear();
			continue;
		}
		pthread_mutex_unlock(&st->mu);
		if (!rc) {
			dits_id got;
			dits_hash_buf(&got, buf, len);
			if (!dits_id_eq(&got, id)) {
				pthread_mutex_lock(&st->mu);
				rc = corrupt(st, sb->repo, p, &loc, id, "stored bytes do not match their hash");
				pthread_mutex_unlock(&st->mu);
			}
		}
		if (rc != DITS_ECORRUPT)
			break;
	}
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
		v[i] = sb->repo->packs[i]->gone ? NULL : sb->repo->packs[i]->idx;
	pthread_mutex_unlock(&sb->st->mu);
	if (!v)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		if (!v[i])
			continue;
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

/*
 * A pack uploaded while it is written: the writer hands its bytes to
 * stream_put (dits_pack_writer_set_stream), which copies them into a ring
 * of RING_BYTES; a thread of the stream's own reads the ring as the source
 * of dits_s3_put_stream, which sends multipart parts (upload_parallel at
 * once, each on a connection of its own) as soon as each part is full. A
 * full ring makes the writer wait, so memory stays bounded: the ring plus
 * upload_parallel + 1 parts per pack being written (8 + 5 x 8 MiB with
 * the defaults). Nothing is visible until the upload completes, and the
 * index goes only after that; a writer dropped unfinished cancels the
 * source, which aborts the multipart upload.
 */
#define RING_BYTES ((size_t)8 << 20)

typedef struct s3_stream {
	s3_backend *sb;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint8_t *ring;
	size_t head, len;
	bool started, joined, eof, cancel, ended; /* ended: the upload returned */
	int rc;                                   /* the upload's result */
	char msg[1024];
	pthread_t th;
	dits_s3 *s3;
	char *key;
	uint64_t bytes;
} s3_stream;

static ssize_t stream_source(void *ctx, void *buf, size_t cap)
{
	s3_stream *s = ctx;
	pthread_mutex_lock(&s->mu);
	while (!s->len && !s->eof && !s->cancel)
		pthread_cond_wait(&s->cv, &s->mu);
	ssize_t n;
	if (s->cancel) {
		n = dits_error_set(DITS_EIO, "s3: PUT s3://%s/%s%s: the pack was abandoned before its end",
		                   s->sb->st->bucket, s->sb->st->prefix, s->key);
	} else {
		size_t take = s->len < cap ? s->len : cap;
		size_t first = RING_BYTES - s->head < take ? RING_BYTES - s->head : take;
		memcpy(buf, s->ring + s->head, first);
		memcpy((uint8_t *)buf + first, s->ring, take - first);
		s->head = (s->head + take) % RING_BYTES;
		s->len -= take;
		n = (ssize_t)take;
		pthread_cond_broadcast(&s->cv);
	}
	pthread_mutex_unlock(&s->mu);
	return n;
}

static void *stream_main(void *arg)
{
	s3_stream *s = arg;
	int rc = dits_s3_put_stream(s->s3, s->key, stream_source, s);
	pthread_mutex_lock(&s->mu);
	s->rc = rc;
	if (rc)
		snprintf(s->msg, sizeof s->msg, "%s", dits_error_last());
	s->ended = true;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

static int stream_put(void *ctx, const char *name, const void *data, size_t len)
{
	s3_stream *s = ctx;
	if (!s->started) {
		int rc = (s->key = pack_key(s->sb->repo, name, "pack")) ? 0 : dits_error_set(DITS_ENOMEM, "out of memory");
		if (!rc && !(s->ring = malloc(RING_BYTES)))
			rc = dits_error_set(DITS_ENOMEM, "out of memory");
		if (!rc)
			rc = dits_s3_open(&s->sb->st->cfg, &s->s3);
		if (!rc && pthread_create(&s->th, NULL, stream_main, s) != 0)
			rc = dits_error_set(DITS_ERROR, "s3: cannot start the upload of %s", name);
		if (rc)
			return rc;
		s->started = true;
	}
	const uint8_t *p = data;
	pthread_mutex_lock(&s->mu);
	while (len) {
		while (s->len == RING_BYTES && !s->ended)
			pthread_cond_wait(&s->cv, &s->mu);
		if (s->ended) {
			int rc = s->rc ? s->rc : DITS_EIO;
			pthread_mutex_unlock(&s->mu);
			return dits_error_set(rc, "%s", s->rc ? s->msg : "s3: the pack upload ended early");
		}
		size_t tail = (s->head + s->len) % RING_BYTES;
		size_t room = RING_BYTES - s->len;
		size_t n = len < room ? len : room;
		if (n > RING_BYTES - tail)
			n = RING_BYTES - tail;
		memcpy(s->ring + tail, p, n);
		s->len += n;
		s->bytes += n;
		p += n;
		len -= n;
		pthread_cond_broadcast(&s->cv);
	}
	pthread_mutex_unlock(&s->mu);
	return 0;
}

/* Ends the source (eof, or cancelled) and waits for the upload's result. */
static int stream_join(s3_stream *s, bool cancel)
{
	if (!s->started || s->joined)
		return s->rc;
	pthread_mutex_lock(&s->mu);
	if (cancel)
		s->cancel = true;
	else
		s->eof = true;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->th, NULL);
	s->joined = true;
	return s->rc;
}

static void stream_done(void *ctx, bool published)
{
	s3_stream *s = ctx;
	(void)published;
	stream_join(s, true);
	dits_s3_close(s->s3);
	free(s->ring);
	free(s->key);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s);
}

/* Completes the pack's upload (or uploads it whole if it was not streamed), then its index. */
static int publish(void *ctx, const char *pack_path, const char *idx_path, const char *name)
{
	s3_stream *s = ctx;
	s3_backend *sb = s->sb;
	dits_s3_store *st = sb->st;
	char *pkey = pack_key(sb->repo, name, "pack");
	char *ikey = pack_key(sb->repo, name, "idx");
	char *keep = dits_strfmt("%s/idx/%s/%s.idx", st->cache_dir, sb->repo->name, name);
	struct stat sbuf;
	int rc = !pkey || !ikey || !keep ? dits_error_set(DITS_ENOMEM, "out of memory") : 0;
	if (!rc && stat(pack_path, &sbuf) < 0)
		rc = dits_error_errno("%s", pack_path);
	if (!rc && s->started) {
		/* The staging file is empty: the stream had every byte. */
		if (stream_join(s, false))
			rc = dits_error_set(s->rc, "%s", s->msg);
		else if (strcmp(s->key, pkey))
			rc = dits_error_set(DITS_ERROR, "%s: streamed as %s", pkey, s->key);
		sbuf.st_size = (off_t)s->bytes;
	}
	if (!rc && !s->s3)
		rc = dits_s3_open(&st->cfg, &s->s3);
	if (!rc && !s->started)
		rc = dits_s3_put_file(s->s3, pkey, pack_path);
	if (!rc)
		rc = dits_s3_put_file(s->s3, ikey, idx_path);
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
			rc = repo_add(st, sb->repo, name, (uint64_t)sbuf.st_size, (int64_t)time(NULL), keep);
			if (!rc && sb->repo->npacks > 1)
				qsort(sb->repo->packs, sb->repo->npacks, sizeof *sb->repo->packs, cmp_pack);
		}
		if (!rc)
			st->stats.packs_put++;
		pthread_mutex_unlock(&st->mu);
	}
	free(pkey);
	free(ikey);
	free(keep);
	return rc;
}

static int sb_writer_new(dits_odb_backend *b, dits_pack_writer **out)
{
	s3_backend *sb = (s3_backend *)b;
	*out = NULL;
	s3_stream *s = calloc(1, sizeof *s);
	char *dir = dits_strfmt("%s/%s", sb->st->stage_dir, sb->repo->name);
	if (!s || !dir) {
		free(s);
		free(dir);
		return dits_error_set(DITS_ENOMEM, "out of memory");
	}
	s->sb = sb;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	int rc = dits_pack_writer_new_staged(out, b->odb, dir, publish, s);
	free(dir);
	if (!rc && (rc = dits_pack_writer_set_stream(*out, stream_put, stream_done, s))) {
		dits_pack_writer_free(*out); /* no stream_done yet: s is freed here */
		*out = NULL;
	}
	if (rc)
		stream_done(s, false);
	return rc;
}

/* ---- gc ------------------------------------------------------------------ */

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The packs read now (not gone), under mu: a copy of the pointers. */
static s3pack **live_packs(s3repo *r, size_t *n)
{
	s3pack **v = malloc((r->npacks ? r->npacks : 1) * sizeof *v);
	*n = 0;
	for (size_t i = 0; v && i < r->npacks; i++)
		if (!r->packs[i]->gone)
			v[(*n)++] = r->packs[i];
	return v;
}

/* Packs whose index was written after the cutoff, or at an unknown time, are recent. */
static bool pack_recent(const s3pack *p, int64_t cutoff_ns)
{
	return p->mtime == 0 || cutoff_ns == INT64_MIN || p->mtime > cutoff_ns / 1000000000;
}

static int sb_gc_begin(dits_odb_backend *b, int64_t cutoff_ns, dits_odb_each_fn recent, void *ctx)
{
	s3_backend *sb = (s3_backend *)b;
	pthread_mutex_lock(&sb->st->mu);
	int rc = repo_refresh(sb->st, sb->repo);
	size_t n = 0;
	s3pack **v = rc < 0 ? NULL : live_packs(sb->repo, &n);
	pthread_mutex_unlock(&sb->st->mu);
	if (rc < 0)
		return rc;
	if (!v)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	sb->gc_cutoff_ns = cutoff_ns;
	sb->gc_began_ns = now_ns();
	rc = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		if (!pack_recent(v[i], cutoff_ns))
			continue;
		uint64_t c = dits_pack_index_count(v[i]->idx);
		for (uint64_t j = 0; j < c && !rc; j++) {
			dits_id id;
			dits_odb_loc loc;
			dits_pack_index_entry(v[i]->idx, j, &id, &loc);
			rc = recent(ctx, &id, loc.type, loc.length);
		}
	}
	free(v);
	return rc;
}

static int sb_writer_new(dits_odb_backend *b, dits_pack_writer **out);

/*
 * Deletes what earlier gc runs and interrupted pushes left: a pack whose
 * index is gone, once its tombstone (REPO/packs/NAME.gone, written when gc
 * removed the index) or, without one, the pack itself is older than the
 * cutoff; then the tombstone. Readers that listed the pack before its
 * index went have had the grace period to finish with it.
 */
static int sweep_retired(s3_backend *sb, dits_s3 *s3, uint64_t *deleted)
{
	listing l;
	int rc = repo_list(sb->st, s3, sb->repo, &l);
	if (rc)
		return rc;
	/* The grace ends as long before now as before gc began: with
	 * --prune=now, the packs retired a moment ago go too. */
	int64_t cutoff_s = sb->gc_cutoff_ns == INT64_MIN ? 0
	                                                 : (sb->gc_cutoff_ns + (now_ns() - sb->gc_began_ns)) / 1000000000;
	for (size_t i = 0; i < l.np && !rc; i++) {
		if (in_list(l.names, l.n, l.packs[i], NULL))
			continue;
		size_t g;
		int64_t t = in_list(l.gone, l.ng, l.packs[i], &g) ? l.gmtimes[g] : l.pmtimes[i];
		if (sb->gc_cutoff_ns == INT64_MIN || t == 0 || t > cutoff_s)
			continue;
		char *key = pack_key(sb->repo, l.packs[i], "pack");
		rc = key ? dits_s3_delete(s3, key) : dits_error_set(DITS_ENOMEM, "out of memory");
		free(key);
		if (!rc)
			(*deleted)++;
	}
	for (size_t i = 0; i < l.ng && !rc; i++) {
		if (in_list(l.packs, l.np, l.gone[i], NULL) && !(sb->gc_cutoff_ns != INT64_MIN && l.gmtimes[i] &&
		                                                   l.gmtimes[i] <= cutoff_s))
			continue;
		char *key = pack_key(sb->repo, l.gone[i], "gone");
		rc = key ? dits_s3_delete(s3, key) : dits_error_set(DITS_ENOMEM, "out of memory");
		free(key);
	}
	listing_free(&l);
	return rc;
}

/*
 * gc's sweep in the bucket: the live records of every pack holding garbage
 * are copied into one new pack (uploaded, then its index), then each old
 * pack is retired: a tombstone is written and its index deleted, so that
 * readers listing from then on ignore it; the pack object itself stays for
 * readers that listed it before, and a later gc deletes it once the
 * tombstone is older than the grace period (sweep_retired). A kill at any
 * point leaves every live record in some visible pack.
 */
static int sb_remove_unreachable(dits_odb_backend *b, dits_odb_live_fn live, void *ctx, dits_odb_prune_result *res)
{
	s3_backend *sb = (s3_backend *)b;
	dits_s3_store *st = sb->st;
	pthread_mutex_lock(&st->mu);
	int rc = repo_refresh(st, sb->repo);
	size_t n = 0;
	s3pack **v = rc < 0 ? NULL : live_packs(sb->repo, &n);
	pthread_mutex_unlock(&st->mu);
	if (rc < 0)
		return rc;
	bool *rewrite = v ? calloc(n ? n : 1, sizeof *rewrite) : NULL;
	if (!rewrite) {
		free(v);
		return dits_error_set(DITS_ENOMEM, "out of memory");
	}
	rc = 0;
	res->units_before += n;
	size_t nrewrite = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t c = dits_pack_index_count(v[i]->idx), dead = 0;
		for (uint64_t j = 0; j < c; j++) {
			dits_id id;
			dits_odb_loc loc;
			dits_pack_index_entry(v[i]->idx, j, &id, &loc);
			if (live(ctx, &id)) {
				res->kept_objects++;
			} else {
				dead++;
				res->removed_bytes += loc.length;
			}
		}
		if (dead) {
			rewrite[i] = true;
			nrewrite++;
			res->removed_objects += dead;
		}
	}
	dits_s3 *s3 = NULL;
	rc = dits_s3_open(&st->cfg, &s3);
	dits_pack_writer *w = NULL;
	dits_buf buf = DITS_BUF_INIT;
	if (!rc && nrewrite && !(rc = sb_writer_new(b, &w)))
		dits_pack_writer_ignore_store(w); /* the store still lists what is copied */
	for (size_t i = 0; i < n && !rc && nrewrite; i++) {
		uint64_t c = dits_pack_index_count(v[i]->idx);
		for (uint64_t j = 0; rewrite[i] && j < c && !rc; j++) {
			dits_id id;
			dits_odb_loc loc;
			dits_pack_index_entry(v[i]->idx, j, &id, &loc);
			if (!live(ctx, &id))
				continue;
			dits_buf_reset(&buf);
			if (!(rc = dits_buf_grow(&buf, loc.length)) && !(rc = sb_read(b, &id, buf.data, loc.length)))
				rc = dits_pack_writer_put(w, loc.type, &id, buf.data, loc.length, NULL);
		}
	}
	if (!rc && w)
		rc = dits_pack_writer_finish(w);
	dits_pack_writer_free(w);
	dits_buf_free(&buf);
	/* The live copies are published: retire the old packs, index last gone. */
	for (size_t i = 0; i < n && !rc; i++) {
		if (!rewrite[i])
			continue;
		char *gone = pack_key(sb->repo, v[i]->name, "gone");
		char *idx = pack_key(sb->repo, v[i]->name, "idx");
		char *local = dits_strfmt("%s/idx/%s/%s.idx", st->cache_dir, sb->repo->name, v[i]->name);
		rc = !gone || !idx || !local ? dits_error_set(DITS_ENOMEM, "out of memory") : dits_s3_put(s3, gone, "", 0);
		if (!rc)
			rc = dits_s3_delete(s3, idx);
		if (!rc) {
			unlink(local);
			pthread_mutex_lock(&st->mu);
			v[i]->gone = true;
			pthread_mutex_unlock(&st->mu);
		}
		free(gone);
		free(idx);
		free(local);
	}
	uint64_t deleted = 0;
	if (!rc)
		rc = sweep_retired(sb, s3, &deleted);
	res->units_after += n - nrewrite + (nrewrite ? 1 : 0);
	dits_s3_close(s3);
	free(rewrite);
	free(v);
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

/* A block file's name, pack-HEX.NO: its pack and number. */
static bool block_name(const char *f, char *pack, size_t cap, uint64_t *no)
{
	const char *dot = strrchr(f, '.');
	size_t plen = dot ? (size_t)(dot - f) : 0;
	if (!dot || plen < 6 || plen >= cap || strncmp(f, "pack-", 5) || !dot[1] || strlen(dot + 1) > 19)
		return false;
	for (size_t i = 5; i < plen; i++)
		if (!((f[i] >= '0' && f[i] <= '9') || (f[i] >= 'a' && f[i] <= 'f')))
			return false;
	uint64_t v = 0;
	for (const char *d = dot + 1; *d; d++) {
		if (*d < '0' || *d > '9')
			return false;
		v = v * 10 + (uint64_t)(*d - '0');
	}
	memcpy(pack, f, plen);
	pack[plen] = '\0';
	*no = v;
	return true;
}

typedef struct found_block {
	char pack[64];
	uint64_t no, len;
	int64_t mtime;
} found_block;

static int cmp_found(const void *a, const void *b)
{
	const found_block *x = a, *y = b;
	return x->mtime < y->mtime ? -1 : x->mtime > y->mtime;
}

/*
 * Takes over the blocks a previous run left in block_dir, oldest first
 * (by modification time, which a read from the cache refreshes), so the
 * bound and the eviction order carry over. Anything else there (a
 * temporary file of a killed run, a stray name) is deleted; so are the
 * blocks of other block sizes (sibling directories).
 */
static void cache_load(dits_s3_store *st)
{
	char *top = dits_strfmt("%s/blocks", st->cache_dir);
	const char *mine = strrchr(st->block_dir, '/') + 1;
	DIR *d = top ? opendir(top) : NULL;
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.' || !strcmp(e->d_name, mine))
			continue;
		char *p = dits_path_join(top, e->d_name);
		struct stat sb;
		if (p && lstat(p, &sb) == 0) {
			if (S_ISDIR(sb.st_mode)) {
				remove_files(p);
				rmdir(p);
			} else {
				unlink(p);
			}
		}
		free(p);
	}
	if (d)
		closedir(d);
	free(top);
	found_block *v = NULL;
	size_t n = 0, cap = 0;
	d = opendir(st->block_dir);
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char *p = dits_path_join(st->block_dir, e->d_name);
		struct stat sb;
		found_block f;
		bool ok = p && lstat(p, &sb) == 0 && S_ISREG(sb.st_mode) &&
		          block_name(e->d_name, f.pack, sizeof f.pack, &f.no);
		if (ok && n == cap) {
			size_t c = cap ? cap * 2 : 256;
			found_block *nv = realloc(v, c * sizeof *nv);
			if (nv) {
				v = nv;
				cap = c;
			}
		}
		if (ok && n < cap) {
			f.len = (uint64_t)sb.st_size;
			f.mtime = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
			v[n++] = f;
		} else if (p) {
			unlink(p);
		}
		free(p);
	}
	if (d)
		closedir(d);
	if (n > 1)
		qsort(v, n, sizeof *v, cmp_found);
	for (size_t i = 0; i < n; i++)
		cache_register(st, v[i].pack, v[i].no, v[i].len, ++st->tick);
	free(v);
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
	pthread_cond_init(&st->fetched, NULL);
	pthread_cond_init(&st->queued, NULL);
	int rc = dits_s3_parse_url(o->url ? o->url : "", &st->bucket, &st->prefix);
	if (!rc) {
		st->cfg.bucket = st->bucket;
		st->cfg.prefix = st->prefix;
		st->cache_max = o->cache_bytes ? o->cache_bytes : DITS_S3_STORE_DEFAULT_CACHE;
		st->block = o->block_bytes ? o->block_bytes : DITS_S3_STORE_DEFAULT_BLOCK;
		st->ahead = o->read_ahead < 0 ? 0 : o->read_ahead ? (uint64_t)o->read_ahead : AHEAD_BLOCKS;
		st->cache_dir = strdup(o->cache_dir);
		/* Block numbers mean something only for one block size. */
		st->block_dir = dits_strfmt("%s/blocks/%llu", o->cache_dir, (unsigned long long)st->block);
		st->stage_dir = dits_strfmt("%s/staging", o->cache_dir);
		if (!st->cache_dir || !st->block_dir || !st->stage_dir)
			rc = dits_error_set(DITS_ENOMEM, "out of memory");
	}
	/* Settings first: a store that cannot be used leaves nothing on disk. */
	if (!rc)
		rc = dits_s3_open(&st->cfg, &st->s3);
	/* Blocks carry over from the last run; staged packs of a run that was
	 * killed are leftovers. */
	if (!rc) {
		remove_files(st->stage_dir);
		rc = dits_mkdir_p(st->block_dir, 0755);
	}
	if (!rc)
		cache_load(st);
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
	pthread_mutex_lock(&st->mu);
	st->stopping = true;
	pthread_cond_broadcast(&st->queued);
	pthread_mutex_unlock(&st->mu);
	for (size_t i = 0; i < st->nthreads; i++)
		pthread_join(st->threads[i], NULL);
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
	for (size_t i = 0; i < MEM_BLOCKS; i++) {
		free(st->mem[i].pack);
		dits_buf_free(&st->mem[i].data);
	}
	free(st->inflight);
	dits_s3_close(st->s3);
	for (size_t i = 0; i < st->nidle; i++)
		dits_s3_close(st->idle[i]);
	free(st->idle);
	free(st->bucket);
	free(st->prefix);
	free(st->cache_dir);
	free(st->block_dir);
	free(st->stage_dir);
	pthread_cond_destroy(&st->fetched);
	pthread_cond_destroy(&st->queued);
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
	sb->gc_cutoff_ns = INT64_MIN;
	dits_odb_backend *b = &sb->base;
	b->version = DITS_ODB_BACKEND_VERSION;
	b->read_header = sb_read_header;
	b->read = sb_read;
	b->foreach = sb_foreach;
	b->writer_new = sb_writer_new;
	b->refresh = sb_refresh;
	b->gc_begin = sb_gc_begin;
	b->remove_unreachable = sb_remove_unreachable;
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
