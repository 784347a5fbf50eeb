#include "ingest.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "error.h"
#include "fsutil.h"
#include "odb_pack.h"

#define BLOCK_LEN (8u << 20)
#define NBLOCKS 4
#define WRITEBACK_STEP (32ull << 20)
#define DIRECT_MIN (32ull << 20) /* files from this size are materialized with O_DIRECT */

/* ---- a bounded queue of blocks between two threads ------------------- */

typedef struct cut {
	uint32_t off, len;
	dits_id id; /* filled by the consumer (ingest) or ignored */
} cut;

typedef struct block {
	uint8_t *data;
	size_t len, cap;
	cut *cuts;
	size_t ncuts, ccap;
	bool last;
	int err;            /* producer error: the consumer stops here */
	char errmsg[1024];
} block;

typedef struct blockq {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	block blocks[NBLOCKS];
	int free_list[NBLOCKS], nfree;
	int full[NBLOCKS], head, nfull;
	bool cancel;
} blockq;

static int blockq_init(blockq *q, size_t cap)
{
	memset(q, 0, sizeof *q);
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
	for (int i = 0; i < NBLOCKS; i++) {
		/* Page-aligned, so a materialized file can be written with O_DIRECT. */
		if (posix_memalign((void **)&q->blocks[i].data, 4096, cap) != 0)
			q->blocks[i].data = NULL;
		q->blocks[i].cap = cap;
		q->free_list[i] = i;
		if (!q->blocks[i].data)
			return dits_error_set(DITS_ENOMEM, "out of memory");
	}
	q->nfree = NBLOCKS;
	return 0;
}

static void blockq_destroy(blockq *q)
{
	for (int i = 0; i < NBLOCKS; i++) {
		free(q->blocks[i].data);
		free(q->blocks[i].cuts);
	}
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->cv);
}

/* Producer: a free block, or -1 when cancelled. */
static int blockq_take_free(blockq *q)
{
	pthread_mutex_lock(&q->mu);
	while (q->nfree == 0 && !q->cancel)
		pthread_cond_wait(&q->cv, &q->mu);
	int b = q->cancel ? -1 : q->free_list[--q->nfree];
	pthread_mutex_unlock(&q->mu);
	return b;
}

static void blockq_push_full(blockq *q, int b)
{
	pthread_mutex_lock(&q->mu);
	q->full[(q->head + q->nfull) % NBLOCKS] = b;
	q->nfull++;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

static int blockq_take_full(blockq *q)
{
	pthread_mutex_lock(&q->mu);
	while (q->nfull == 0)
		pthread_cond_wait(&q->cv, &q->mu);
	int b = q->full[q->head];
	q->head = (q->head + 1) % NBLOCKS;
	q->nfull--;
	pthread_mutex_unlock(&q->mu);
	return b;
}

static void blockq_give_free(blockq *q, int b)
{
	pthread_mutex_lock(&q->mu);
	q->free_list[q->nfree++] = b;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

static void blockq_cancel(blockq *q)
{
	pthread_mutex_lock(&q->mu);
	q->cancel = true;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

static int block_add_cut(block *b, size_t off, size_t len)
{
	if (b->ncuts == b->ccap) {
		size_t cap = b->ccap ? b->ccap * 2 : 256;
		cut *n = realloc(b->cuts, cap * sizeof *n);
		if (!n)
			return dits_error_set(DITS_ENOMEM, "out of memory");
		b->cuts = n;
		b->ccap = cap;
	}
	b->cuts[b->ncuts].off = (uint32_t)off;
	b->cuts[b->ncuts].len = (uint32_t)len;
	b->ncuts++;
	return 0;
}

/* ---- ingest --------------------------------------------------------- */

/* Fills p with up to n bytes; returns bytes read (short only at the end) or <0. */
static ssize_t read_full(int fd, uint8_t *p, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, p + got, n - got);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

/*
 * Cuts b->data[0..len): complete chunks become cuts; the tail that might
 * continue in the next block is left uncut unless eof. Returns the number of
 * bytes consumed.
 */
static size_t cut_block(const dits_chunker *c, block *b, bool eof, int *err)
{
	size_t pos = 0;
	while (pos < b->len) {
		size_t avail = b->len - pos;
		if (!eof && avail < c->max)
			break;
		size_t n = dits_chunker_cut(c, b->data + pos, avail, NULL);
		if ((*err = block_add_cut(b, pos, n)))
			break;
		pos += n;
	}
	return pos;
}

typedef struct consumer {
	dits_pack_writer *w;
	dits_manifest *m;
	dits_hasher whole;
	bool hash_whole; /* false when the pipeline hashes the whole content */
	bool have_ids;   /* the cuts' ids were computed by the hash workers */
	dits_ingest_stats *stats;
	dits_progress_fn progress;
	void *pctx;
} consumer;

static int consume_block(consumer *cs, block *b)
{
	/* The cuts of a block are back to back: the whole-content hash takes
	 * them in one update (BLAKE3 hashes long inputs many lanes at a time). */
	if (cs->hash_whole && b->ncuts) {
		const cut *last = &b->cuts[b->ncuts - 1];
		dits_hasher_update(&cs->whole, b->data + b->cuts[0].off,
		                   (size_t)last->off + last->len - b->cuts[0].off);
	}
	for (size_t i = 0; i < b->ncuts; i++) {
		const uint8_t *p = b->data + b->cuts[i].off;
		uint32_t len = b->cuts[i].len;
		dits_id id;
		if (cs->have_ids)
			id = b->cuts[i].id;
		else
			dits_hash_buf(&id, p, len);
		int rc;
		if (cs->w) {
			bool stored;
			rc = dits_pack_writer_put(cs->w, DITS_OBJ_CHUNK, &id, p, len, &stored);
			if (rc)
				return rc;
			if (stored && cs->stats) {
				cs->stats->new_chunks++;
				cs->stats->new_bytes += len;
			}
		}
		if ((rc = dits_manifest_push(cs->m, &id, len)))
			return rc;
		cs->m->size += len;
		if (cs->progress)
			cs->progress(cs->pctx, len);
	}
	return 0;
}

/*
 * ---- the pipeline for long inputs ----------------------------------------
 *
 * One reader thread reads and cuts; hash workers (one per core) compute the
 * chunk ids of whole blocks and, for each block, the BLAKE3 subtree of the
 * DITS_SUBTREE_LEN bytes it read; the calling thread takes the blocks back in
 * input order, folds the subtrees into the whole-content hash and stores the
 * chunks. Cutting is sequential by nature; the two hashes, most of the CPU
 * time, are not, so on n cores they run n ways.
 *
 * Every block holds exactly DITS_SUBTREE_LEN new bytes (fewer at the end)
 * after the tail carried over from the block before, which was not yet cut:
 * so the new bytes of block k are the input's [k * L, (k + 1) * L), a whole
 * BLAKE3 subtree, hashable on any thread.
 *
 * A block goes FREE -> READING (the reader's) -> CUT -> HASHING (a worker's)
 * -> HASHED -> FREE (after the consumer). The consumer waits for the block
 * with the next sequence number; the reader never holds more than two
 * blocks and the workers one each, so with PL_BLOCKS >= 3 + workers the
 * pipeline cannot stall.
 */
#define PL_MAX_WORKERS 4
#define PL_BLOCKS (PL_MAX_WORKERS + 4)

enum { PB_FREE, PB_READING, PB_CUT, PB_HASHING, PB_HASHED };

typedef struct pblock {
	block b;
	int state;
	uint64_t seq;
	size_t new_off, new_len; /* the bytes read into this block */
	uint64_t in_off;         /* their offset in the input */
	bool has_pair;
	uint8_t pair[64];        /* the subtree of those bytes, when whole */
} pblock;

typedef struct pipeline {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pblock blocks[PL_BLOCKS];
	int nblocks;
	bool stop;      /* the consumer is done (or failed): everyone leaves */
	bool subtrees;  /* workers hash the whole content as subtrees */
	const dits_chunker *c;
	int fd;
	const char *path;
} pipeline;

static pblock *pl_wait_state(pipeline *pl, int state)
{
	for (;;) {
		if (pl->stop)
			return NULL;
		pblock *best = NULL;
		for (int i = 0; i < pl->nblocks; i++)
			if (pl->blocks[i].state == state && (!best || pl->blocks[i].seq < best->seq))
				best = &pl->blocks[i];
		if (best)
			return best;
		pthread_cond_wait(&pl->cv, &pl->mu);
	}
}

static void pl_set(pipeline *pl, pblock *pb, int state)
{
	pthread_mutex_lock(&pl->mu);
	pb->state = state;
	pthread_cond_broadcast(&pl->cv);
	pthread_mutex_unlock(&pl->mu);
}

static void *pl_reader(void *arg)
{
	pipeline *pl = arg;
	pblock *prev = NULL;
	size_t carry_off = 0, carry_len = 0;
	uint64_t seq = 0, in_off = 0;
	for (;;) {
		pthread_mutex_lock(&pl->mu);
		pblock *pb = pl_wait_state(pl, PB_FREE);
		if (pb)
			pb->state = PB_READING;
		pthread_mutex_unlock(&pl->mu);
		if (!pb)
			return NULL;
		block *b = &pb->b;
		b->ncuts = 0;
		b->last = false;
		b->err = 0;
		b->len = 0;
		pb->seq = seq++;
		pb->has_pair = false;
		if (carry_len) {
			memcpy(b->data, prev->b.data + carry_off, carry_len);
			b->len = carry_len;
		}
		if (prev)
			pl_set(pl, prev, PB_CUT);
		prev = NULL;
		pb->new_off = b->len;
		pb->in_off = in_off;
		ssize_t n = read_full(pl->fd, b->data + b->len, DITS_SUBTREE_LEN);
		if (n < 0) {
			b->err = dits_error_errno("%s: read failed", pl->path);
			snprintf(b->errmsg, sizeof b->errmsg, "%s", dits_error_last());
			b->last = true;
			pb->new_len = 0;
			pl_set(pl, pb, PB_CUT);
			return NULL;
		}
		pb->new_len = (size_t)n;
		in_off += (uint64_t)n;
		b->len += (size_t)n;
		bool eof = (size_t)n < DITS_SUBTREE_LEN;
		size_t used = cut_block(pl->c, b, eof, &b->err);
		if (b->err) {
			snprintf(b->errmsg, sizeof b->errmsg, "%s", dits_error_last());
			eof = true;
		}
		if (eof) {
			b->last = true;
			pl_set(pl, pb, PB_CUT);
			return NULL;
		}
		carry_off = used;
		carry_len = b->len - used;
		prev = pb;
	}
}

typedef struct pl_worker {
	pipeline *pl;
	void *scratch;
} pl_worker;

static void *pl_hasher(void *arg)
{
	pl_worker *wk = arg;
	pipeline *pl = wk->pl;
	for (;;) {
		pthread_mutex_lock(&pl->mu);
		pblock *pb = pl_wait_state(pl, PB_CUT);
		if (pb)
			pb->state = PB_HASHING;
		pthread_mutex_unlock(&pl->mu);
		if (!pb)
			return NULL;
		block *b = &pb->b;
		if (!b->err) {
			for (size_t i = 0; i < b->ncuts; i++)
				dits_hash_buf(&b->cuts[i].id, b->data + b->cuts[i].off, b->cuts[i].len);
			if (pl->subtrees && pb->new_len == DITS_SUBTREE_LEN) {
				dits_hash_subtree(b->data + pb->new_off, pb->in_off, pb->pair, wk->scratch);
				pb->has_pair = true;
			}
		}
		pl_set(pl, pb, PB_HASHED);
	}
}

static int hash_workers(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > PL_MAX_WORKERS ? PL_MAX_WORKERS : (int)n;
}

static int ingest_pipeline(consumer *cs, const dits_chunker *c, int fd, const char *path)
{
	pipeline *pl = calloc(1, sizeof *pl);
	if (!pl)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	int nworkers = hash_workers();
	pl_worker wk[PL_MAX_WORKERS];
	memset(wk, 0, sizeof wk);
	pthread_mutex_init(&pl->mu, NULL);
	pthread_cond_init(&pl->cv, NULL);
	pl->nblocks = nworkers + 4;
	pl->subtrees = dits_hash_subtrees_supported();
	pl->c = c;
	pl->fd = fd;
	pl->path = path;
	int rc = 0;
	/* A block holds the carried tail (less than one maximum chunk) and the
	 * new bytes; page-aligned like every I/O buffer here. */
	size_t cap = DITS_SUBTREE_LEN + c->max;
	for (int i = 0; i < pl->nblocks && !rc; i++) {
		pl->blocks[i].b.cap = cap;
		if (posix_memalign((void **)&pl->blocks[i].b.data, 4096, cap) != 0) {
			pl->blocks[i].b.data = NULL;
			rc = dits_error_set(DITS_ENOMEM, "out of memory");
		}
	}
	for (int i = 0; i < nworkers && !rc && pl->subtrees; i++)
		if (!(wk[i].scratch = malloc(DITS_SUBTREE_SCRATCH)))
			rc = dits_error_set(DITS_ENOMEM, "out of memory");
	pthread_t reader, workers[PL_MAX_WORKERS];
	int started = 0;
	bool reader_started = false;
	if (!rc) {
		if (pthread_create(&reader, NULL, pl_reader, pl) != 0)
			rc = dits_error_set(DITS_ERROR, "%s: cannot start the reader thread", path);
		else
			reader_started = true;
	}
	for (int i = 0; i < nworkers && !rc; i++) {
		wk[i].pl = pl;
		if (pthread_create(&workers[i], NULL, pl_hasher, &wk[i]) != 0)
			break;
		started++;
	}
	if (!rc && started == 0)
		rc = dits_error_set(DITS_ERROR, "%s: cannot start the hashing threads", path);
	cs->hash_whole = false;
	cs->have_ids = true;
	for (uint64_t next = 0; !rc; next++) {
		pthread_mutex_lock(&pl->mu);
		pblock *pb = NULL;
		for (;;) {
			for (int i = 0; i < pl->nblocks && !pb; i++)
				if (pl->blocks[i].state == PB_HASHED && pl->blocks[i].seq == next)
					pb = &pl->blocks[i];
			if (pb)
				break;
			pthread_cond_wait(&pl->cv, &pl->mu);
		}
		pthread_mutex_unlock(&pl->mu);
		block *b = &pb->b;
		if (b->err) {
			rc = dits_error_set(b->err, "%s", b->errmsg);
			break;
		}
		/* The whole-content hash, in input order. */
		if (pb->has_pair)
			dits_hasher_push_subtree(&cs->whole, pb->pair);
		else
			dits_hasher_update(&cs->whole, b->data + pb->new_off, pb->new_len);
		if ((rc = consume_block(cs, b)))
			break;
		bool last = b->last;
		pl_set(pl, pb, PB_FREE);
		if (last)
			break;
	}
	pthread_mutex_lock(&pl->mu);
	pl->stop = true;
	pthread_cond_broadcast(&pl->cv);
	pthread_mutex_unlock(&pl->mu);
	if (reader_started)
		pthread_join(reader, NULL);
	for (int i = 0; i < started; i++)
		pthread_join(workers[i], NULL);
	for (int i = 0; i < nworkers; i++)
		free(wk[i].scratch);
	for (int i = 0; i < pl->nblocks; i++) {
		free(pl->blocks[i].b.data);
		free(pl->blocks[i].b.cuts);
	}
	pthread_mutex_destroy(&pl->mu);
	pthread_cond_destroy(&pl->cv);
	free(pl);
	return rc;
}

int dits_ingest_fd(dits_pack_writer *w, const dits_chunker *c, int fd, const char *path,
                   dits_manifest *m, dits_ingest_stats *stats, dits_progress_fn progress,
                   void *pctx)
{
	dits_manifest_init(m);
	consumer cs;
	memset(&cs, 0, sizeof cs);
	cs.w = w;
	cs.m = m;
	cs.hash_whole = true;
	cs.stats = stats;
	cs.progress = progress;
	cs.pctx = pctx;
	dits_hasher_init(&cs.whole);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return dits_error_errno("%s", path);

	int rc = 0;
	/* A block must hold at least two maximum chunks, or the carried tail
	 * could fill it and no cut would ever be made. */
	size_t block_len = BLOCK_LEN;
	if (block_len < 2 * c->max)
		block_len = 2 * c->max;
	/* A pipe or device reports no size: stream it. */
	if (S_ISREG(st.st_mode) && st.st_size <= (off_t)block_len) {
		/* Small file: one block, no thread. */
		block b = { 0 };
		b.cap = (size_t)st.st_size + 1;
		b.data = malloc(b.cap);
		if (!b.data)
			return dits_error_set(DITS_ENOMEM, "out of memory");
		ssize_t n = read_full(fd, b.data, b.cap);
		if (n < 0)
			rc = dits_error_errno("%s: read failed", path);
		if (!rc && (size_t)n == b.cap) {
			/* Grew while we read: start again on the streaming path. */
			free(b.data);
			if (lseek(fd, 0, SEEK_SET) < 0)
				return dits_error_errno("%s: seek failed", path);
			dits_hasher_init(&cs.whole);
			goto stream;
		}
		if (!rc) {
			b.len = (size_t)n;
			cut_block(c, &b, true, &rc);
		}
		if (!rc)
			rc = consume_block(&cs, &b);
		free(b.data);
		free(b.cuts);
		goto done;
	}
stream:
	rc = ingest_pipeline(&cs, c, fd, path);
done:
	if (!rc)
		dits_hasher_final(&cs.whole, &m->content);
	else
		dits_manifest_free(m);
	return rc;
}

/* ---- materialize ---------------------------------------------------- */

/*
 * The reader verifies chunks where they lie (hashing the mapped pack) and
 * hands the writer ranges of pack files; the writer copies them with
 * copy_file_range, one copy inside the kernel, as cp does. A pack that is
 * not mapped is read into the block's buffer instead.
 */
typedef struct range {
	const uint8_t *mapped; /* verified bytes in a mapped pack, or NULL: in the block buffer */
	uint64_t off;          /* in the block buffer */
	uint32_t len;
} range;

typedef struct mat_block {
	range *r;
	size_t n, cap;
} mat_block;

typedef struct mat_reader {
	blockq *q;
	mat_block *ranges; /* one per queue block */
	dits_odb *db;
	const dits_manifest *m;
	bool packed;       /* fill every block to its capacity (direct I/O), no ranges */
} mat_reader;

static int push_range(mat_block *mb, const uint8_t *mapped, uint64_t off, uint32_t len)
{
	if (mb->n == mb->cap) {
		size_t cap = mb->cap ? mb->cap * 2 : 256;
		range *n = realloc(mb->r, cap * sizeof *n);
		if (!n)
			return dits_error_set(DITS_ENOMEM, "out of memory");
		mb->r = n;
		mb->cap = cap;
	}
	mb->r[mb->n++] = (range){ mapped, off, len };
	return 0;
}

static void reader_fail(blockq *q, int bi)
{
	block *b = &q->blocks[bi];
	snprintf(b->errmsg, sizeof b->errmsg, "%s", dits_error_last());
	b->last = true;
	blockq_push_full(q, bi);
}

/*
 * For direct I/O: verified chunk bytes copied back to back into blocks that
 * are filled to their (page-multiple) capacity, a chunk split across two
 * blocks where it falls, so every block but the last is one aligned write.
 */
static void *mat_reader_packed(mat_reader *r)
{
	blockq *q = r->q;
	uint8_t *scratch = NULL;
	int bi = -1;
	for (uint64_t i = 0; i < r->m->nchunks; i++) {
		const dits_chunk_ref *cr = &r->m->chunks[i];
		dits_odb_loc loc;
		char hex[DITS_ID_HEXLEN + 1];
		const uint8_t *src = NULL;
		int err = 0;
		if (dits_odb_locate(r->db, &cr->id, &loc)) {
			dits_id_hex(hex, &cr->id);
			err = dits_error_set(DITS_ENOTFOUND, "chunk %s is missing from the store", hex);
		} else if (loc.length != cr->len) {
			dits_id_hex(hex, &cr->id);
			err = dits_error_set(DITS_ECORRUPT, "chunk %s has length %u in the store, %u in the manifest",
			                     hex, loc.length, cr->len);
		} else if ((err = dits_odb_verify_at(r->db, &loc, &cr->id, &src)) == DITS_ENOTFOUND) {
			uint8_t *ns = realloc(scratch, cr->len ? cr->len : 1);
			err = ns ? dits_odb_read_at(r->db, &loc, &cr->id, ns) : dits_error_set(DITS_ENOMEM, "out of memory");
			if (ns)
				scratch = ns;
			src = scratch;
		}
		if (bi < 0 && (bi = blockq_take_free(q)) >= 0) {
			q->blocks[bi].len = 0;
			q->blocks[bi].err = 0;
			q->blocks[bi].last = false;
		}
		if (bi < 0)
			break;
		if (err) {
			q->blocks[bi].err = err;
			reader_fail(q, bi);
			free(scratch);
			return NULL;
		}
		uint32_t done = 0;
		while (done < cr->len) {
			block *b = &q->blocks[bi];
			size_t n = b->cap - b->len;
			if (n > cr->len - done)
				n = cr->len - done;
			memcpy(b->data + b->len, src + done, n);
			b->len += n;
			done += (uint32_t)n;
			if (b->len == b->cap && (i + 1 < r->m->nchunks || done < cr->len)) {
				blockq_push_full(q, bi);
				if ((bi = blockq_take_free(q)) < 0)
					break;
				q->blocks[bi].len = 0;
				q->blocks[bi].err = 0;
				q->blocks[bi].last = false;
			}
		}
		if (src != scratch)
			dits_odb_release(src, cr->len);
		if (bi < 0)
			break;
	}
	if (bi >= 0) {
		q->blocks[bi].last = true;
		blockq_push_full(q, bi);
	}
	free(scratch);
	return NULL;
}

static void *mat_reader_main(void *arg)
{
	mat_reader *r = arg;
	if (r->packed)
		return mat_reader_packed(r);
	blockq *q = r->q;
	uint64_t i = 0;
	while (i < r->m->nchunks) {
		int bi = blockq_take_free(q);
		if (bi < 0)
			return NULL;
		block *b = &q->blocks[bi];
		mat_block *mb = &r->ranges[bi];
		b->len = 0;
		b->err = 0;
		b->last = false;
		mb->n = 0;
		uint64_t batch = 0;
		while (i < r->m->nchunks) {
			const dits_chunk_ref *cr = &r->m->chunks[i];
			if (batch + cr->len > b->cap && batch > 0)
				break;
			dits_odb_loc loc;
			char hex[DITS_ID_HEXLEN + 1];
			const uint8_t *mapped = NULL;
			if (dits_odb_locate(r->db, &cr->id, &loc)) {
				dits_id_hex(hex, &cr->id);
				b->err = dits_error_set(DITS_ENOTFOUND, "chunk %s is missing from the store", hex);
			} else if (loc.length != cr->len) {
				dits_id_hex(hex, &cr->id);
				b->err = dits_error_set(DITS_ECORRUPT, "chunk %s has length %u in the store, %u in the manifest",
				                        hex, loc.length, cr->len);
			} else {
				b->err = dits_odb_verify_at(r->db, &loc, &cr->id, &mapped);
				if (b->err == 0) {
					b->err = push_range(mb, mapped, 0, cr->len);
				} else if (b->err == DITS_ENOTFOUND) {
					b->err = dits_odb_read_at(r->db, &loc, &cr->id, b->data + b->len);
					if (!b->err)
						b->err = push_range(mb, NULL, b->len, cr->len);
					b->len += cr->len;
				}
			}
			if (b->err) {
				snprintf(b->errmsg, sizeof b->errmsg, "%s", dits_error_last());
				b->last = true;
				blockq_push_full(q, bi);
				return NULL;
			}
			batch += cr->len;
			i++;
		}
		b->last = i == r->m->nchunks;
		blockq_push_full(q, bi);
	}
	return NULL;
}

/*
 * Writes a packed block at offset off. Large files are written with O_DIRECT
 * where the filesystem allows it, like packs: a checkout of gigabytes then
 * goes to the device at its speed instead of through the page cache, whose
 * allocation and writeback made the same checkout take anywhere from 0.6 to
 * 3.8 s here; the fsync before the rename has little left to do. Whole pages
 * go direct; the file's tail is written through the page cache.
 */
static int write_packed(int fd, const block *b, uint64_t off, bool *direct, const char *path)
{
	size_t aligned = *direct ? b->len & ~(size_t)4095 : 0;
	if (aligned) {
		int rc = dits_write_all(fd, b->data, aligned, path);
		if (rc && errno == EINVAL) { /* refused after all: carry on buffered */
			dits_error_clear();
			*direct = false;
			fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_DIRECT);
			if (lseek(fd, (off_t)off, SEEK_SET) < 0)
				return dits_error_errno("%s: seek failed", path);
			aligned = 0;
		} else if (rc) {
			return rc;
		}
	}
	if (aligned == b->len)
		return 0;
	if (*direct) {
		*direct = false;
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_DIRECT);
	}
	return dits_write_all(fd, b->data + aligned, b->len - aligned, path);
}

/* Writes a block's ranges with as few writev calls as it takes. */
static int write_ranges(int out, const block *b, const mat_block *mb, const char *path)
{
	struct iovec iov[IOV_MAX < 1024 ? IOV_MAX : 1024];
	size_t k = 0;
	while (k < mb->n) {
		int cnt = 0;
		size_t want = 0;
		for (size_t j = k; j < mb->n && cnt < (int)(sizeof iov / sizeof *iov); j++, cnt++) {
			const range *rg = &mb->r[j];
			iov[cnt].iov_base = (void *)(rg->mapped ? rg->mapped : b->data + rg->off);
			iov[cnt].iov_len = rg->len;
			want += rg->len;
		}
		struct iovec *v = iov;
		int vn = cnt;
		while (want > 0) {
			ssize_t n = writev(out, v, vn);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				if (n == 0)
					errno = ENOSPC;
				return dits_error_errno("%s: write failed", path);
			}
			want -= (size_t)n;
			while (n > 0 && vn > 0) {
				if ((size_t)n >= v->iov_len) {
					n -= (ssize_t)v->iov_len;
					v++;
					vn--;
				} else {
					v->iov_base = (uint8_t *)v->iov_base + n;
					v->iov_len -= (size_t)n;
					n = 0;
				}
			}
		}
		for (size_t j = k; j < k + (size_t)cnt; j++)
			if (mb->r[j].mapped)
				dits_odb_release(mb->r[j].mapped, mb->r[j].len);
		k += (size_t)cnt;
	}
	return 0;
}

int dits_materialize(dits_odb *db, const dits_manifest *m, const char *path, const char *tmp_path,
                     mode_t mode, struct stat *st_out, dits_progress_fn progress, void *pctx)
{
	return dits_materialize_at(db, m, AT_FDCWD, path, path, tmp_path ? AT_FDCWD : -1, tmp_path, mode,
	                           st_out, progress, pctx);
}

int dits_materialize_at(dits_odb *db, const dits_manifest *m, int dirfd, const char *name, const char *path,
                        int tmpdirfd, const char *tmp_name, mode_t mode, struct stat *st_out,
                        dits_progress_fn progress, void *pctx)
{
	/* A partial clone's store fetches the chunks it lacks first, in one go:
	 * the readers below find every chunk in a pack. */
	if (m->nchunks > 0 && dits_odb_has_promisor(db)) {
		dits_id *ids = malloc(m->nchunks * sizeof *ids);
		if (!ids)
			return dits_error_set(DITS_ENOMEM, "out of memory");
		for (uint64_t i = 0; i < m->nchunks; i++)
			ids[i] = m->chunks[i].id;
		int rc = dits_odb_fetch_missing(db, ids, (size_t)m->nchunks);
		free(ids);
		if (rc)
			return dits_error_wrap(rc, "%s", path);
	}
	bool beside = tmpdirfd < 0 || !tmp_name;
	int tdir = beside ? dirfd : tmpdirfd;
	char *tmp = beside ? dits_strfmt("%s.dits-tmp-%ld", name, (long)getpid()) : strdup(tmp_name);
	if (!tmp)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	/* Large files go around the page cache (see write_packed). The
	 * temporary name is made afresh (a leftover of a killed run with this
	 * pid goes first) and never followed if it is a link. */
	bool packed = m->size >= DIRECT_MIN, direct = packed;
	const int oflags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
	if (unlinkat(tdir, tmp, 0) < 0 && errno != ENOENT) {
		int rc = dits_error_errno("%s: cannot remove the stale temporary file %s", path, tmp);
		free(tmp);
		return rc;
	}
	int fd = openat(tdir, tmp, oflags | (direct ? O_DIRECT : 0), mode & 0777);
	if (fd < 0 && direct && errno == EINVAL) { /* no direct I/O here (tmpfs) */
		direct = false;
		fd = openat(tdir, tmp, oflags, mode & 0777);
	}
	if (fd < 0) {
		int rc = dits_error_errno("%s", path);
		free(tmp);
		return rc;
	}
	int rc = 0;
	bool cross_device = false;
	if (m->nchunks > 0) {
		blockq q;
		size_t cap = BLOCK_LEN;
		if (m->size < cap && !packed)
			cap = (size_t)m->size;
		for (uint64_t i = 0; i < m->nchunks && !packed; i++)
			if (m->chunks[i].len > cap)
				cap = m->chunks[i].len;
		if ((rc = blockq_init(&q, cap))) {
			blockq_destroy(&q);
			goto out;
		}
		mat_block ranges[NBLOCKS];
		memset(ranges, 0, sizeof ranges);
		mat_reader r = { &q, ranges, db, m, packed };
		pthread_t th;
		if (pthread_create(&th, NULL, mat_reader_main, &r) != 0) {
			blockq_destroy(&q);
			rc = dits_error_set(DITS_ERROR, "%s: cannot start the reader thread", path);
			goto out;
		}
		uint64_t written = 0, synced = 0;
		for (;;) {
			int bi = blockq_take_full(&q);
			block *b = &q.blocks[bi];
			if (b->err) {
				rc = dits_error_set(b->err, "%s: %s", path, b->errmsg);
				break;
			}
			const mat_block *mb = &ranges[bi];
			uint64_t done = 0;
			if (packed) {
				done = b->len;
				if ((rc = write_packed(fd, b, written, &direct, path)))
					break;
			} else {
				for (size_t k = 0; k < mb->n; k++)
					done += mb->r[k].len;
				if ((rc = write_ranges(fd, b, mb, path)))
					break;
			}
			written += done;
			if (written - synced >= WRITEBACK_STEP) {
				sync_file_range(fd, (off_t)synced, (off_t)(written - synced), SYNC_FILE_RANGE_WRITE);
				synced = written;
			}
			if (progress)
				progress(pctx, done);
			bool last = b->last;
			blockq_give_free(&q, bi);
			if (last)
				break;
		}
		blockq_cancel(&q);
		pthread_join(th, NULL);
		blockq_destroy(&q);
		for (int k = 0; k < NBLOCKS; k++)
			free(ranges[k].r);
	}
	if (!rc && fchmod(fd, mode & 0777) < 0)
		rc = dits_error_errno("%s: chmod failed", path);
	if (!rc && fsync(fd) < 0)
		rc = dits_error_errno("%s: fsync failed", path);
	/* renameat replaces the name itself: a link there is replaced, never
	 * followed. */
	if (!rc && renameat(tdir, tmp, dirfd, name) < 0) {
		cross_device = errno == EXDEV && !beside;
		rc = dits_error_errno("%s: rename failed", path);
	}
	/* After the rename: it changes the inode's ctime, which the stat cache compares. */
	if (!rc && st_out && fstat(fd, st_out) < 0)
		rc = dits_error_errno("%s", path);
	if (close(fd) < 0 && !rc)
		rc = dits_error_errno("%s: close failed", path);
	fd = -1;
out:
	if (fd >= 0)
		close(fd);
	if (rc)
		unlinkat(tdir, tmp, 0);
	free(tmp);
	if (cross_device) { /* path is on another mount: stage beside it instead */
		dits_error_clear();
		return dits_materialize_at(db, m, dirfd, name, path, -1, NULL, mode, st_out, progress, pctx);
	}
	return rc;
}
