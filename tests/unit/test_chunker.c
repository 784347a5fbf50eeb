/*
 * FastCDC v2020 against the fastcdc-rs 4.0.1 vectors, the gear table against
 * its definition (MD5), parameter checks, and streaming ingest (the block
 * carry-over in ingest.c) against cutting the whole buffer at once.
 */
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#include "chunker.h"
#include "odb.h"
#include "error.h"
#include "hash.h"
#include "ingest.h"
#include "object.h"

#include "check.h"
#include "util.h"

#define MiB (1024u * 1024u)

/* ---- a small MD5 (RFC 1321) ------------------------------------------ */

typedef struct md5_ctx {
	uint32_t a, b, c, d;
	uint64_t len;
	uint8_t buf[64];
	size_t n;
} md5_ctx;

static const uint32_t md5_k[64] = {
	0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
	0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
	0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
	0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
	0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
	0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
	0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
	0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
};
static const uint8_t md5_r[64] = {
	7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
	5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20,
	4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
	6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
};

static uint32_t rol32(uint32_t x, unsigned c)
{
	return (x << c) | (x >> (32 - c));
}

static void md5_block(md5_ctx *m, const uint8_t *p)
{
	uint32_t w[16];
	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 | (uint32_t)p[4 * i + 2] << 16 |
		       (uint32_t)p[4 * i + 3] << 24;
	uint32_t a = m->a, b = m->b, c = m->c, d = m->d;
	for (unsigned i = 0; i < 64; i++) {
		uint32_t f;
		unsigned g;
		if (i < 16) {
			f = (b & c) | (~b & d);
			g = i;
		} else if (i < 32) {
			f = (d & b) | (~d & c);
			g = (5 * i + 1) % 16;
		} else if (i < 48) {
			f = b ^ c ^ d;
			g = (3 * i + 5) % 16;
		} else {
			f = c ^ (b | ~d);
			g = (7 * i) % 16;
		}
		uint32_t t = d;
		d = c;
		c = b;
		b = b + rol32(a + f + md5_k[i] + w[g], md5_r[i]);
		a = t;
	}
	m->a += a;
	m->b += b;
	m->c += c;
	m->d += d;
}

static void md5_init(md5_ctx *m)
{
	m->a = 0x67452301;
	m->b = 0xefcdab89;
	m->c = 0x98badcfe;
	m->d = 0x10325476;
	m->len = 0;
	m->n = 0;
}

static void md5_update(md5_ctx *m, const uint8_t *p, size_t len)
{
	m->len += len;
	while (len) {
		size_t k = 64 - m->n;
		if (k > len)
			k = len;
		memcpy(m->buf + m->n, p, k);
		m->n += k;
		p += k;
		len -= k;
		if (m->n == 64) {
			md5_block(m, m->buf);
			m->n = 0;
		}
	}
}

static void md5_final(md5_ctx *m, uint8_t out[16])
{
	uint64_t bits = m->len * 8;
	uint8_t pad = 0x80;
	md5_update(m, &pad, 1);
	uint8_t zero = 0;
	while (m->n != 56)
		md5_update(m, &zero, 1);
	uint8_t lb[8];
	for (int i = 0; i < 8; i++)
		lb[i] = (uint8_t)(bits >> (8 * i));
	md5_update(m, lb, 8);
	uint32_t s[4] = { m->a, m->b, m->c, m->d };
	for (int i = 0; i < 4; i++)
		for (int j = 0; j < 4; j++)
			out[4 * i + j] = (uint8_t)(s[i] >> (8 * j));
}

static void md5_hex(const char *s, char out[33])
{
	md5_ctx m;
	uint8_t d[16];
	md5_init(&m);
	md5_update(&m, (const uint8_t *)s, strlen(s));
	md5_final(&m, d);
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void test_md5_self(void)
{
	char hex[33];
	md5_hex("", hex);
	CHECK(strcmp(hex, "d41d8cd98f00b204e9800998ecf8427e") == 0);
	md5_hex("abc", hex);
	CHECK(strcmp(hex, "900150983cd24fb0d6963f7d28e17f72") == 0);
	md5_hex("12345678901234567890123456789012345678901234567890123456789012345678901234567890", hex);
	CHECK(strcmp(hex, "57edf4a22be3c955ac49da2e2107b67a") == 0);
}

static void test_gear_table(void)
{
	CHECK_EQ_U64(dits_chunker_gear(0), 0x3b5d3c7d207e37dcULL);
	CHECK_EQ_U64(dits_chunker_gear(255), 0xaabd2b2a451504e1ULL);
	unsigned bad = 0;
	for (unsigned i = 0; i < 256; i++) {
		uint8_t in[64], d[16];
		memset(in, (int)i, sizeof in);
		md5_ctx m;
		md5_init(&m);
		md5_update(&m, in, sizeof in);
		md5_final(&m, d);
		uint64_t want = 0;
		for (int k = 0; k < 8; k++)
			want = want << 8 | d[k];
		if (dits_chunker_gear(i) != want) {
			bad++;
			CHECK_EQ_U64(dits_chunker_gear(i), want);
		}
	}
	CHECK(bad == 0);
}

/* ---- vectors ---------------------------------------------------------- */

typedef struct vec {
	const char *name;
	uint32_t min, avg, max, level;
	uint64_t seed;
	size_t n;
	uint32_t len[8];
	uint64_t hash[8]; /* all zero: not checked */
} vec;

static const vec sekien[] = {
	{ "16k level 1", 4096, 16384, 65535, 1, 0, 5,
	  { 21325, 17140, 28084, 18217, 24700 },
	  { 17968276318003433923ULL, 8197189939299398838ULL, 13019990849178155730ULL,
	    4509236223063678303ULL, 2504464741100432583ULL } },
	{ "32k level 1", 8192, 32768, 131072, 1, 0, 2, { 66549, 42917 }, { 0 } },
	{ "64k level 1", 16384, 65536, 262144, 1, 0, 1, { 109466 }, { 2504464741100432583ULL } },
	{ "16k level 0", 4096, 16384, 65535, 0, 0, 5, { 6634, 59915, 25597, 5237, 12083 }, { 0 } },
	{ "16k level 3", 8192, 16384, 32768, 3, 0, 6,
	  { 17350, 19911, 17426, 17519, 19940, 17320 }, { 0 } },
	{ "16k level 1 seed 666", 4096, 16384, 65535, 1, 666, 6,
	  { 10605, 55745, 11346, 5883, 11586, 14301 }, { 0 } },
};

static void run_vec(const vec *v, const uint8_t *data, size_t len)
{
	dits_chunker c;
	dits_chunker_params p = { v->min, v->avg, v->max, v->level, v->seed };
	CHECK_RC(dits_chunker_init(&c, &p), 0);
	size_t pos = 0, k = 0;
	int ok = 1;
	while (pos < len) {
		uint64_t h = 0;
		size_t n = dits_chunker_cut(&c, data + pos, len - pos, &h);
		if (n == 0) {
			CHECK(n > 0);
			ok = 0;
			break;
		}
		if (k < v->n) {
			if (!CHECK_EQ_U64(n, v->len[k]))
				ok = 0;
			if (v->hash[0] && !CHECK_EQ_U64(h, v->hash[k]))
				ok = 0;
		}
		pos += n;
		k++;
	}
	if (!CHECK_EQ_U64(k, v->n))
		ok = 0;
	if (!ok)
		fprintf(stderr, "  (vector %s)\n", v->name);
}

static void test_sekien(void)
{
	char *path = util_fixture("SekienAkashita.jpg");
	size_t len = 0;
	uint8_t *data = path ? util_read_file(path, &len) : NULL;
	REQUIRE(data != NULL);
	CHECK_EQ_U64(len, 109466);
	for (size_t i = 0; i < sizeof sekien / sizeof *sekien; i++)
		run_vec(&sekien[i], data, len);
	free(data);
	free(path);
}

static void test_zeros(void)
{
	static uint8_t zeros[10240];
	dits_chunker c;
	dits_chunker_params p = { 64, 256, 1024, 1, 0 };
	CHECK_RC(dits_chunker_init(&c, &p), 0);
	size_t pos = 0, k = 0;
	while (pos < sizeof zeros) {
		uint64_t h = 0;
		size_t n = dits_chunker_cut(&c, zeros + pos, sizeof zeros - pos, &h);
		CHECK_EQ_U64(n, 1024);
		CHECK_EQ_U64(h, 14169102344523991076ULL);
		if (n == 0)
			break;
		pos += n;
		k++;
	}
	CHECK_EQ_U64(k, 10);
}

static void test_small_inputs(void)
{
	dits_chunker c;
	dits_chunker_params p;
	dits_chunker_params_default(&p);
	CHECK_RC(dits_chunker_init(&c, &p), 0);
	uint8_t buf[100] = { 1, 2, 3 };
	uint64_t h = 123;
	/* At most min bytes: the whole remainder, hash 0. */
	CHECK_EQ_U64(dits_chunker_cut(&c, buf, 0, &h), 0);
	CHECK_EQ_U64(h, 0);
	CHECK_EQ_U64(dits_chunker_cut(&c, buf, 1, NULL), 1);
	CHECK_EQ_U64(dits_chunker_cut(&c, buf, sizeof buf, NULL), sizeof buf);
}

static void test_params(void)
{
	dits_chunker c;
	dits_chunker_params p;
	dits_chunker_params_default(&p);
	CHECK_EQ_U64(p.min, 16384);
	CHECK_EQ_U64(p.avg, 65536);
	CHECK_EQ_U64(p.max, 262144);
	CHECK_EQ_U64(p.level, 1);
	CHECK_EQ_U64(p.seed, 0);
	CHECK_RC(dits_chunker_init(&c, &p), 0);

	dits_chunker_params q;
	q = p; q.min = 63;
	CHECK_RC(dits_chunker_init(&c, &q), DITS_EINVALID);
	q = p; q.min = 0;
	CHECK_RC(dits_chunker_init(&c, &q), DITS_EINVALID);
	q = p; q.min = 1048577; q.avg = 2 * MiB; q.max = 4 * MiB;
	CHECK_RC(dits_chunker_init(&c, &q), DITS_EINVALID);
	q = p; q.avg = p.max + 1;
	CHECK_RC(dits_chunker_init(&c, &q), DITS_EINVALID);
	q = p; q.min = 4096; q.avg = 2048; q.max = 8192; /* min > avg */
	CHECK_RC(dits_chunker_init(&c, &q), DITS_EINVALID);
	q = p; q.avg = 255; q.min = 64;
	CHECK_RC(dits_chunker_init(&c, &q), DITS_EINVALID);
	q = p; q.avg = 4194305; q.max = 16 * MiB;
	CHECK_RC(dits_chunker_init(&c, &q), DITS_EINVALID);
	q = p; q.max = 16 * MiB + 1;
	CHECK_RC(dits_chunker_init(&c, &q), DITS_EINVALID);
	q = p; q.level = 4;
	CHECK_RC(dits_chunker_init(&c, &q), DITS_EINVALID);
	q = p; q.level = 0xffffffffu;
	CHECK_RC(dits_chunker_init(&c, &q), DITS_EINVALID);
	CHECK(strstr(dits_error_last(), "level") != NULL);

	/* The edges of the allowed ranges are accepted, at every level. */
	for (uint32_t level = 0; level <= 3; level++) {
		dits_chunker_params lo = { 64, 256, 1024, level, 0 };
		dits_chunker_params hi = { 1048576, 4194304, 16777216, level, 7 };
		CHECK_RC(dits_chunker_init(&c, &lo), 0);
		CHECK_RC(dits_chunker_init(&c, &hi), 0);
	}
}

/* ---- streaming ingest vs whole-buffer cuts ----------------------------- */

typedef struct progress_sum {
	uint64_t total;
} progress_sum;

static void on_progress(void *ctx, uint64_t delta)
{
	((progress_sum *)ctx)->total += delta;
}

/* Compares an ingest result with cutting data[0..len) in one go. */
static int compare_manifest(const dits_chunker *c, const uint8_t *data, size_t len,
                            const dits_manifest *m, const char *what)
{
	int ok = 1;
	size_t pos = 0, k = 0;
	while (pos < len) {
		size_t n = dits_chunker_cut(c, data + pos, len - pos, NULL);
		if (k >= m->nchunks) {
			ok = 0;
			break;
		}
		if (m->chunks[k].len != n) {
			if (ok)
				fprintf(stderr, "  %s: chunk %zu at offset %zu: ingest %u, whole buffer %zu\n",
				        what, k, pos, m->chunks[k].len, n);
			ok = 0;
		} else {
			dits_id id;
			dits_hash_buf(&id, data + pos, n);
			if (!dits_id_eq(&id, &m->chunks[k].id)) {
				if (ok)
					fprintf(stderr, "  %s: chunk %zu: id differs\n", what, k);
				ok = 0;
			}
		}
		pos += n;
		k++;
	}
	if (k != m->nchunks) {
		fprintf(stderr, "  %s: ingest gave %llu chunks, whole buffer %zu\n", what,
		        (unsigned long long)m->nchunks, k);
		ok = 0;
	}
	dits_id whole;
	dits_hash_buf(&whole, data, len);
	if (m->size != len || !dits_id_eq(&whole, &m->content)) {
		fprintf(stderr, "  %s: size/content hash differ (size %llu, want %zu)\n", what,
		        (unsigned long long)m->size, len);
		ok = 0;
	}
	return ok;
}

static int ingest_file(const dits_chunker *c, const char *dir, const uint8_t *data, size_t len,
                       const char *what)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/data", dir);
	if (util_write_file(path, data, len) != 0) {
		CHECK(!"cannot write the test file");
		return 0;
	}
	int fd = open(path, O_RDONLY);
	REQUIRE(fd >= 0);
	dits_manifest m;
	progress_sum ps = { 0 };
	int rc = dits_ingest_fd(NULL, c, fd, path, &m, NULL, on_progress, &ps);
	close(fd);
	unlink(path);
	CHECK_RC(rc, 0);
	if (rc) {
		fprintf(stderr, "  (%s)\n", what);
		return 0;
	}
	int ok = compare_manifest(c, data, len, &m, what);
	CHECK(ok);
	CHECK_EQ_U64(ps.total, len);
	dits_manifest_free(&m);
	return ok;
}

typedef struct pipe_feed {
	int fd;
	const uint8_t *data;
	size_t len;
} pipe_feed;

static void *pipe_writer(void *arg)
{
	pipe_feed *f = arg;
	size_t off = 0;
	while (off < f->len) {
		/* Odd-sized writes so reads come back short and uneven. */
		size_t n = f->len - off;
		if (n > 100003)
			n = 100003;
		ssize_t w = write(f->fd, f->data + off, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		off += (size_t)w;
	}
	close(f->fd);
	return NULL;
}

static void ingest_pipe(const dits_chunker *c, const uint8_t *data, size_t len, const char *what)
{
	int fds[2];
	REQUIRE(pipe(fds) == 0);
	pipe_feed f = { fds[1], data, len };
	pthread_t th;
	REQUIRE(pthread_create(&th, NULL, pipe_writer, &f) == 0);
	dits_manifest m;
	int rc = dits_ingest_fd(NULL, c, fds[0], what, &m, NULL, NULL, NULL);
	close(fds[0]); /* unblocks the writer if ingest stopped early */
	pthread_join(th, NULL);
	CHECK_RC(rc, 0);
	if (rc) {
		fprintf(stderr, "  (%s: dits_ingest_fd on a pipe)\n", what);
		return;
	}
	CHECK(compare_manifest(c, data, len, &m, what));
	dits_manifest_free(&m);
}

/*
 * Random bytes with runs of zeros (which cut at max size) placed across the
 * 8 MiB block boundaries, so both hash cuts and max-size cuts meet them.
 */
static uint8_t *make_data(size_t len)
{
	uint8_t *d = malloc(len ? len : 1);
	REQUIRE(d != NULL);
	util_rng r = { 0x9e3779b97f4a7c15ULL };
	util_rng_fill(&r, d, len);
	size_t runs[][2] = {
		{ 8 * MiB - 300000, 600000 },  { 16 * MiB - 1000, 2000 },   { 20 * MiB, 3 * MiB },
		{ 24 * MiB - 262144, 262144 }, { 32 * MiB - 5, 1 * MiB },  { 39 * MiB, 262145 },
	};
	for (size_t i = 0; i < sizeof runs / sizeof *runs; i++) {
		size_t a = runs[i][0], n = runs[i][1];
		if (a >= len)
			continue;
		if (a + n > len)
			n = len - a;
		memset(d + a, 0, n);
	}
	return d;
}

static void test_streaming(void)
{
	char *dir = util_mkdtemp("chunker");
	REQUIRE(dir != NULL);
	const size_t total = 40 * MiB + 777;
	uint8_t *data = make_data(total);

	dits_chunker def, small;
	dits_chunker_params p;
	dits_chunker_params_default(&p);
	REQUIRE(dits_chunker_init(&def, &p) == 0);
	dits_chunker_params ps = { 64, 256, 1024, 1, 0 };
	REQUIRE(dits_chunker_init(&small, &ps) == 0);

	const size_t sizes[] = {
		0, 1, 16384, 16385, 262144, 1 * MiB + 3,
		8 * MiB - 1, 8 * MiB, 8 * MiB + 1, 16 * MiB + 12345, 24 * MiB, total,
	};
	for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
		char what[64];
		snprintf(what, sizeof what, "file of %zu bytes", sizes[i]);
		ingest_file(&def, dir, data, sizes[i], what);
	}
	/* Many small chunks: the cut lists of a block grow large. */
	ingest_file(&small, dir, data, 17 * MiB + 3, "file of 17 MiB + 3, 64/256/1024");

	/* Different data at the same sizes: a second generator seed. */
	{
		uint8_t *d2 = malloc(16 * MiB + 12345);
		REQUIRE(d2 != NULL);
		util_rng r = { 12345 };
		util_rng_fill(&r, d2, 16 * MiB + 12345);
		ingest_file(&def, dir, d2, 16 * MiB + 12345, "second data, 16 MiB + 12345");
		free(d2);
	}

	/* A pipe: fstat gives no size, reads come back short. */
	ingest_pipe(&def, data, 100000, "pipe, 100000 bytes");
	ingest_pipe(&def, data, 16 * MiB + 12345, "pipe, 16 MiB + 12345 bytes");

	free(data);
	util_rm_rf(dir);
	free(dir);
}

/*
 * max may be up to 16 MiB, more than ingest's 8 MiB block. Run in a child
 * with an alarm, so a hang is reported as a failure instead of a timeout.
 */
static void test_streaming_large_max(void)
{
	char *dir = util_mkdtemp("chunker-max");
	REQUIRE(dir != NULL);
	const size_t len = 20 * MiB + 99;
	uint8_t *data = make_data(len);
	dits_chunker c;
	dits_chunker_params p = { 1048576, 4194304, 16777216, 1, 0 };
	REQUIRE(dits_chunker_init(&c, &p) == 0);
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		alarm(3);
		if (!freopen("/dev/null", "w", stdout)) /* the parent prints the one summary line */
			_exit(2);
		check_passed_ = check_failed_ = 0;
		ingest_file(&c, dir, data, len, "20 MiB with max 16 MiB");
		_exit(check_failed_ ? 1 : 0);
	}
	int status = 0;
	waitpid(pid, &status, 0);
	bool hung = WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM;
	if (hung)
		fprintf(stderr, "  dits_ingest_fd did not finish within 3 s on a 20 MiB file with "
		                "chunker max 16 MiB (> the 8 MiB ingest block)\n");
	CHECK(!hung);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	free(data);
	util_rm_rf(dir);
	free(dir);
}

/* Ingest with a pack writer: chunks stored once each, and readable. */
static void test_store(void)
{
	char *dir = util_mkdtemp("chunker-store");
	REQUIRE(dir != NULL);
	char odir[4096], src[4096];
	snprintf(odir, sizeof odir, "%s/packs", dir);
	snprintf(src, sizeof src, "%s/src", dir);
	const size_t len = 17 * MiB + 4321;
	uint8_t *data = make_data(len);
	REQUIRE(util_write_file(src, data, len) == 0);

	dits_chunker c;
	dits_chunker_params p;
	dits_chunker_params_default(&p);
	REQUIRE(dits_chunker_init(&c, &p) == 0);
	dits_odb *db = NULL;
	REQUIRE(dits_odb_open(&db, odir) == 0);
	dits_pack_writer *w = NULL;
	REQUIRE(dits_pack_writer_new(&w, db) == 0);
	int fd = open(src, O_RDONLY);
	REQUIRE(fd >= 0);
	dits_manifest m;
	dits_ingest_stats st = { 0, 0 };
	CHECK_RC(dits_ingest_fd(w, &c, fd, src, &m, &st, NULL, NULL), 0);
	close(fd);
	CHECK(compare_manifest(&c, data, len, &m, "stored ingest"));
	/* Zero runs repeat chunks: fewer new chunks than chunks, bytes add up. */
	CHECK(st.new_chunks > 0 && st.new_chunks <= m.nchunks);
	CHECK(st.new_bytes <= len);
	uint64_t unique = 0;
	for (uint64_t i = 0; i < m.nchunks; i++) {
		bool dup = false;
		for (uint64_t k = 0; k < i && !dup; k++)
			dup = dits_id_eq(&m.chunks[k].id, &m.chunks[i].id);
		unique += !dup;
	}
	CHECK_EQ_U64(st.new_chunks, unique);
	CHECK_RC(dits_pack_writer_finish(w), 0);
	dits_pack_writer_free(w);

	/* Ingesting again stores nothing. */
	REQUIRE(dits_pack_writer_new(&w, db) == 0);
	fd = open(src, O_RDONLY);
	REQUIRE(fd >= 0);
	dits_manifest m2;
	dits_ingest_stats st2 = { 0, 0 };
	CHECK_RC(dits_ingest_fd(w, &c, fd, src, &m2, &st2, NULL, NULL), 0);
	close(fd);
	CHECK_EQ_U64(st2.new_chunks, 0);
	CHECK_EQ_U64(dits_pack_writer_new_records(w), 0);
	dits_pack_writer_free(w);
	dits_manifest_free(&m2);

	/* Every chunk reads back from the store with its bytes. */
	dits_buf b = DITS_BUF_INIT;
	size_t off = 0, bad = 0;
	for (uint64_t i = 0; i < m.nchunks; i++) {
		uint8_t type = 0;
		if (dits_odb_read(db, &m.chunks[i].id, &b, &type) || type != DITS_OBJ_CHUNK ||
		    b.len != m.chunks[i].len || memcmp(b.data, data + off, b.len) != 0)
			bad++;
		off += m.chunks[i].len;
	}
	CHECK_EQ_U64(bad, 0);
	CHECK_EQ_U64(off, len);
	dits_buf_free(&b);
	CHECK_EQ_U64(util_count_dir(dir), 2); /* packs, src */

	dits_manifest_free(&m);
	dits_odb_free(db);
	free(data);
	util_rm_rf(dir);
	free(dir);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN); /* a pipe reader that stops early must not kill us */
	test_md5_self();
	test_gear_table();
	test_sekien();
	test_zeros();
	test_small_inputs();
	test_params();
	test_streaming();
	test_store();
	test_streaming_large_max();
	return check_done();
}
