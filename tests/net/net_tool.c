/*
 * net_tool - what a client would send and check, for testing `dits serve`
 * with curl before (and besides) the real client:
 *
 *   net_tool records REPODIR [--all-from REV] [--have REV]
 *       the record stream of everything reachable from REV (default HEAD;
 *       a full id may name a manifest), chunks included, minus what
 *       --have REV reaches
 *   net_tool random BYTES SEED    chunk records (256 KiB each) of pseudo-random
 *                                 payload, about BYTES in all
 *   net_tool ids HEX... | ids -   an id list (hex from stdin with -)
 *   net_tool corrupt [N]          stdin to stdout, one payload byte of record N
 *                                 (default 1) flipped, so its hash is wrong
 *   net_tool list                 verifies a record stream on stdin and prints
 *                                 "TYPE HEX LEN" per record
 *   net_tool entries              walk entries (33 bytes each) on stdin as "TYPE HEX"
 *   net_tool store REPODIR        stores a verified record stream from stdin
 *   net_tool rev REPODIR REV      the id REV names
 *   net_tool setref REPODIR REF HEX
 *   net_tool cat REPODIR ASSET    the bytes of the file whose manifest is ASSET,
 *                                 read through the library as any program
 *                                 would: a partial clone's store fetches what
 *                                 it lacks (dits_repo_enable_promisor)
 *   net_tool slowloris PORT N HOLD FROM [SPREAD]
 *       opens N connections to 127.0.0.1:PORT (bounded: N <= 5000, HOLD <= 120 s,
 *       2 s per connect) from source addresses FROM, FROM+1, ... (SPREAD of
 *       them, default 1; all in 127.0.0.0/8), sends each half a request line,
 *       holds them HOLD seconds, then prints "opened O closed_by_server C"
 *       (C: how many the server had closed by then) and closes them
 *   net_tool craft tree|file NAME [DIR]
 *       the record stream of a hostile commit (written without the
 *       library's checks): its tree holds NAME, a tree holding the empty
 *       file "hostile-marker" or the empty file itself, inside DIR if given
 *   net_tool deep N               the record stream of a commit whose tree
 *                                 nests N trees ("d/d/.../f")
 *   net_tool s3put BUCKET KEY FILE / s3get BUCKET KEY SIZE [BLOCK]
 *                                 the S3 store's own throughput: "BYTES SECONDS"
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include "blob.h"
#include "client.h"
#include "error.h"
#include "object.h"
#include "odb.h"
#include "refs.h"
#include "repo.h"
#include "s3.h"
#include "walk.h"
#include "wire.h"

static int die(const char *what)
{
	fprintf(stderr, "net_tool: %s: %s\n", what, dits_error_last());
	return 1;
}

static int read_all(FILE *f, dits_buf *b)
{
	char tmp[65536];
	size_t n;
	while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
		if (dits_buf_put(b, tmp, n))
			return -1;
	return ferror(f) ? -1 : 0;
}

static int write_record(uint8_t type, const dits_id *id, const void *data, uint32_t len)
{
	uint8_t hdr[DITS_PACK_RECORD_HEADER_LEN];
	dits_wire_record_header(hdr, type, len, id);
	return fwrite(hdr, 1, sizeof hdr, stdout) == sizeof hdr && fwrite(data, 1, len, stdout) == len ? 0 : -1;
}

/* ---- records ---------------------------------------------------------- */

typedef struct rec_ctx {
	dits_odb *odb;
	dits_buf buf;
} rec_ctx;

static int emit(void *ctx, uint8_t type, const dits_id *id, uint32_t len)
{
	(void)len;
	rec_ctx *c = ctx;
	uint8_t got;
	dits_buf_reset(&c->buf);
	int rc = dits_odb_read(c->odb, id, &c->buf, &got);
	if (rc)
		return rc;
	(void)type;
	return write_record(got, id, c->buf.data, (uint32_t)c->buf.len) ? dits_error_set(DITS_EIO, "stdout") : 0;
}

static int cmd_records(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	const char *from = "HEAD", *have_rev = NULL;
	for (int i = 3; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--all-from"))
			from = argv[i + 1];
		else if (!strcmp(argv[i], "--have"))
			have_rev = argv[i + 1];
	}
	dits_repo *r;
	if (dits_repo_open(&r, argv[2]))
		return die(argv[2]);
	dits_id want, have;
	/* A full id is taken as it is: it may name a manifest (a proxy's). */
	int rc = dits_id_from_hex(&want, from) == 0 ? 0 : dits_revparse(r, from, &want);
	if (!rc && have_rev)
		rc = dits_revparse(r, have_rev, &have);
	rec_ctx c = { dits_repo_odb(r), DITS_BUF_INIT };
	if (!rc)
		rc = dits_walk(dits_repo_odb(r), &want, 1, have_rev ? &have : NULL, have_rev ? 1 : 0, DITS_WALK_CHUNKS, emit, &c);
	dits_buf_free(&c.buf);
	dits_repo_free(r);
	if (!rc && fflush(stdout))
		rc = dits_error_set(DITS_EIO, "stdout");
	return rc ? die("records") : 0;
}

/* ---- random ------------------------------------------------------------ */

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static int cmd_random(int argc, char **argv)
{
	if (argc != 4)
		return 2;
	uint64_t total = strtoull(argv[2], NULL, 10);
	uint64_t seed = 0x9e3779b97f4a7c15ull ^ strtoull(argv[3], NULL, 10);
	enum { LEN = 256 * 1024 };
	uint64_t *buf = malloc(LEN);
	if (!buf)
		return 1;
	for (uint64_t done = 0; done < total; done += LEN) {
		for (size_t i = 0; i < LEN / 8; i++)
			buf[i] = xorshift(&seed);
		dits_id id;
		dits_hash_buf(&id, buf, LEN);
		if (write_record(DITS_OBJ_CHUNK, &id, buf, LEN)) {
			free(buf);
			return 1;
		}
	}
	free(buf);
	return fflush(stdout) ? 1 : 0;
}

/* ---- ids ---------------------------------------------------------------- */

static int put_hex(const char *hex)
{
	dits_id id;
	if (dits_id_from_hex(&id, hex)) {
		fprintf(stderr, "net_tool: %s: not a 64-digit hex id\n", hex);
		return 1;
	}
	return fwrite(id.b, 1, DITS_ID_LEN, stdout) == DITS_ID_LEN ? 0 : 1;
}

static int cmd_ids(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[2], "-")) {
		char line[256];
		while (fgets(line, sizeof line, stdin)) {
			line[strcspn(line, " \t\r\n")] = '\0';
			if (*line && put_hex(line))
				return 1;
		}
		return 0;
	}
	for (int i = 2; i < argc; i++)
		if (put_hex(argv[i]))
			return 1;
	return 0;
}

/* ---- corrupt, list, entries ---------------------------------------------- */

static int cmd_corrupt(int argc, char **argv)
{
	unsigned long which = argc > 2 ? strtoul(argv[2], NULL, 10) : 1;
	dits_buf b = DITS_BUF_INIT;
	if (read_all(stdin, &b))
		return 1;
	size_t off = 0;
	for (unsigned long n = 1; off + DITS_PACK_RECORD_HEADER_LEN <= b.len; n++) {
		uint32_t len = dits_get_le32(b.data + off + 4);
		size_t payload = off + DITS_PACK_RECORD_HEADER_LEN;
		if (n == which && len > 0 && payload + len <= b.len) {
			b.data[payload + len - 1] ^= 0xff;
			break;
		}
		off = payload + len;
	}
	int rc = fwrite(b.data, 1, b.len, stdout) == b.len ? 0 : 1;
	dits_buf_free(&b);
	return rc;
}

static int print_record(void *ctx, uint8_t type, const dits_id *id, const uint8_t *payload, uint32_t len)
{
	(void)ctx;
	(void)payload;
	char hex[DITS_ID_HEXLEN + 1];
	dits_id_hex(hex, id);
	printf("%s %s %u\n", dits_otype_name(type), hex, len);
	return 0;
}

/* Feeds stdin to a verifying parser in small uneven pieces. */
static int parse_stdin(dits_wire_record_fn fn, void *ctx)
{
	dits_wire_parser p;
	dits_wire_parser_init(&p, true, fn, ctx);
	char buf[7777];
	size_t n;
	int rc = 0;
	while (!rc && (n = fread(buf, 1, sizeof buf, stdin)) > 0)
		rc = dits_wire_parser_feed(&p, buf, n);
	if (!rc)
		rc = dits_wire_parser_finish(&p);
	dits_wire_parser_free(&p);
	return rc;
}

static int cmd_list(void)
{
	return parse_stdin(print_record, NULL) ? die("list") : 0;
}

static int cmd_entries(void)
{
	uint8_t e[1 + DITS_ID_LEN];
	size_t n;
	while ((n = fread(e, 1, sizeof e, stdin)) == sizeof e) {
		dits_id id;
		char hex[DITS_ID_HEXLEN + 1];
		memcpy(id.b, e + 1, DITS_ID_LEN);
		dits_id_hex(hex, &id);
		printf("%s %s\n", dits_otype_name(e[0]), hex);
	}
	if (n) {
		fprintf(stderr, "net_tool: entries: %zu trailing bytes\n", n);
		return 1;
	}
	return 0;
}

/* ---- store, rev, setref ---------------------------------------------------- */

static int store_one(void *ctx, uint8_t type, const dits_id *id, const uint8_t *payload, uint32_t len)
{
	return dits_pack_writer_put(ctx, type, id, payload, len, NULL);
}

static int cmd_store(int argc, char **argv)
{
	if (argc != 3)
		return 2;
	dits_repo *r;
	if (dits_repo_open(&r, argv[2]))
		return die(argv[2]);
	dits_pack_writer *w;
	int rc = dits_pack_writer_new(&w, dits_repo_odb(r));
	if (!rc) {
		rc = parse_stdin(store_one, w);
		if (!rc && !(rc = dits_repo_lock(r)))
			rc = dits_pack_writer_finish(w);
		dits_pack_writer_free(w);
	}
	dits_repo_free(r);
	return rc ? die("store") : 0;
}

static int cmd_rev(int argc, char **argv)
{
	if (argc != 4)
		return 2;
	dits_repo *r;
	if (dits_repo_open(&r, argv[2]))
		return die(argv[2]);
	dits_id id;
	int rc = dits_revparse(r, argv[3], &id);
	dits_repo_free(r);
	if (rc)
		return die(argv[3]);
	char hex[DITS_ID_HEXLEN + 1];
	dits_id_hex(hex, &id);
	printf("%s\n", hex);
	return 0;
}

static int cmd_cat(int argc, char **argv)
{
	if (argc != 4)
		return 2;
	dits_repo *r;
	if (dits_repo_open(&r, argv[2]))
		return die(argv[2]);
	dits_id id;
	dits_blob *b = NULL;
	int rc = dits_id_from_hex(&id, argv[3]) ? dits_error_set(DITS_EINVALID, "not an id") : 0;
	if (!rc)
		rc = dits_repo_enable_promisor(r);
	if (!rc)
		rc = dits_blob_open(&b, dits_repo_odb(r), &id);
	static uint8_t buf[1 << 20];
	for (uint64_t off = 0; !rc && off < dits_blob_size(b);) {
		ssize_t n = dits_blob_pread(b, buf, sizeof buf, off);
		if (n <= 0)
			rc = n < 0 ? (int)n : dits_error_set(DITS_EIO, "short read");
		else if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n)
			rc = dits_error_set(DITS_EIO, "stdout");
		else
			off += (uint64_t)n;
	}
	if (b)
		dits_blob_close(b);
	dits_repo_free(r);
	return rc ? die(argv[3]) : 0;
}

/* ---- crafted (hostile) objects ---------------------------------------- */

static int put_rec(uint8_t type, const dits_buf *b, dits_id *id)
{
	dits_hash_buf(id, b->data, b->len);
	return write_record(type, id, b->data, (uint32_t)b->len);
}

/* A one-entry tree, serialized by hand: the library refuses to write a bad one. */
static int raw_tree(const char *name, uint8_t kind, const dits_id *child, dits_id *out)
{
	dits_buf b = DITS_BUF_INIT;
	dits_buf_put(&b, "DTR1", 4);
	dits_buf_put_u32(&b, 1);
	dits_buf_put_u8(&b, kind);
	dits_buf_put_u32(&b, kind == DITS_KIND_TREE ? 040000 : 0100644);
	dits_buf_put_u64(&b, 0);
	dits_buf_put(&b, child->b, DITS_ID_LEN);
	dits_buf_put_u16(&b, (uint16_t)strlen(name));
	dits_buf_put(&b, name, strlen(name));
	int rc = put_rec(DITS_OBJ_TREE, &b, out);
	dits_buf_free(&b);
	return rc;
}

/* The manifest of an empty file. */
static int empty_manifest(dits_id *out)
{
	dits_buf b = DITS_BUF_INIT;
	dits_id content;
	dits_hash_buf(&content, "", 0);
	dits_buf_put(&b, "DMF1", 4);
	dits_buf_put_u64(&b, 0);
	dits_buf_put(&b, content.b, DITS_ID_LEN);
	dits_buf_put_u64(&b, 0);
	dits_buf_put_u32(&b, 0);
	int rc = put_rec(DITS_OBJ_MANIFEST, &b, out);
	dits_buf_free(&b);
	return rc;
}

static int raw_commit(const dits_id *tree)
{
	dits_commit c = { 0 };
	c.tree = *tree;
	c.author = c.committer = (dits_signature){ (char *)"Mallory", (char *)"m@example.com", 1700000000, 0 };
	c.message = (char *)"crafted\n";
	dits_buf b = DITS_BUF_INIT;
	dits_id id;
	int rc = dits_commit_serialize(&c, &b);
	if (!rc)
		rc = put_rec(DITS_OBJ_COMMIT, &b, &id);
	dits_buf_free(&b);
	return rc;
}

static int cmd_craft(int argc, char **argv)
{
	if (argc < 4 || argc > 5 || (strcmp(argv[2], "tree") && strcmp(argv[2], "file")))
		return 2;
	bool tree = !strcmp(argv[2], "tree");
	dits_id m, t;
	int rc = empty_manifest(&m);
	if (!rc && tree)
		rc = raw_tree("hostile-marker", DITS_KIND_FILE, &m, &t);
	if (!rc)
		rc = raw_tree(argv[3], tree ? DITS_KIND_TREE : DITS_KIND_FILE, tree ? &t : &m, &t);
	if (!rc && argc == 5)
		rc = raw_tree(argv[4], DITS_KIND_TREE, &t, &t);
	if (!rc)
		rc = raw_commit(&t);
	return rc || fflush(stdout) ? die("craft") : 0;
}

static int cmd_deep(int argc, char **argv)
{
	if (argc != 3)
		return 2;
	long n = strtol(argv[2], NULL, 10);
	if (n < 1)
		return 2;
	dits_id m, t;
	int rc = empty_manifest(&m);
	if (!rc)
		rc = raw_tree("f", DITS_KIND_FILE, &m, &t);
	for (long i = 1; i < n && !rc; i++)
		rc = raw_tree("d", DITS_KIND_TREE, &t, &t);
	if (!rc)
		rc = raw_commit(&t);
	return rc || fflush(stdout) ? die("deep") : 0;
}

static int cmd_setref(int argc, char **argv)
{
	if (argc != 5)
		return 2;
	dits_repo *r;
	dits_id id;
	if (dits_id_from_hex(&id, argv[4]))
		return 2;
	if (dits_repo_open(&r, argv[2]))
		return die(argv[2]);
	int rc = dits_repo_lock(r);
	if (!rc)
		rc = dits_ref_update(r, argv[3], &id, NULL, "net_tool");
	dits_repo_free(r);
	return rc ? die(argv[3]) : 0;
}

/* ---- slowloris ------------------------------------------------------------ */

static int cmd_slowloris(int argc, char **argv)
{
	if (argc != 6 && argc != 7)
		return 2;
	long port = strtol(argv[2], NULL, 10), n = strtol(argv[3], NULL, 10), hold = strtol(argv[4], NULL, 10);
	long spread = argc == 7 ? strtol(argv[6], NULL, 10) : 1;
	struct in_addr from;
	if (port <= 0 || port > 65535 || n <= 0 || n > 5000 || hold < 0 || hold > 120 || spread < 1 ||
	    spread > 250 || inet_pton(AF_INET, argv[5], &from) != 1 || (ntohl(from.s_addr) >> 24) != 127 ||
	    (ntohl(from.s_addr) & 0xff) + (unsigned long)spread > 255) {
		fprintf(stderr, "net_tool: slowloris: bad arguments (loopback only, N <= 5000, HOLD <= 120)\n");
		return 2;
	}
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)n + 64) {
		rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > (rlim_t)n + 64 ? (rlim_t)n + 64 : rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	int *fds = malloc((size_t)n * sizeof *fds);
	if (!fds)
		return 1;
	long opened = 0;
	static const char partial[] = "GET /heal";
	for (long i = 0; i < n; i++) {
		fds[i] = -1;
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			break; /* out of descriptors: hold what we have */
		struct timeval tv = { 2, 0 };
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
		struct sockaddr_in src = { .sin_family = AF_INET };
		src.sin_addr.s_addr = htonl(ntohl(from.s_addr) + (uint32_t)(i % spread));
		struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
		dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (bind(fd, (struct sockaddr *)&src, sizeof src) || connect(fd, (struct sockaddr *)&dst, sizeof dst) ||
		    send(fd, partial, sizeof partial - 1, MSG_NOSIGNAL) < 0) {
			close(fd);
			continue;
		}
		fds[i] = fd;
		opened++;
	}
	struct timespec ts = { hold, 0 };
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
	long closed = 0;
	for (long i = 0; i < n; i++) {
		if (fds[i] < 0)
			continue;
		struct pollfd p = { .fd = fds[i], .events = POLLIN };
		char c;
		if (poll(&p, 1, 0) == 1 && recv(fds[i], &c, 1, MSG_DONTWAIT) <= 0)
			closed++;
		close(fds[i]);
	}
	free(fds);
	printf("opened %ld closed_by_server %ld\n", opened, closed);
	return 0;
}

static double secs(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int count_sink(void *ctx, const void *data, size_t len)
{
	(void)data;
	*(uint64_t *)ctx += len;
	return 0;
}

/*
 * s3put BUCKET KEY FILE: uploads FILE with the S3 client's defaults
 * (multipart, 8 MiB parts, four in flight); s3get BUCKET KEY SIZE [BLOCK]:
 * reads the object whole (BLOCK 0 or absent) or by ranged GETs of BLOCK
 * bytes in order. Both print "BYTES SECONDS" (the S3 store's ceiling for
 * bench/cluster.sh). Endpoint and keys from AWS_*.
 */
static int cmd_s3(int argc, char **argv, bool put)
{
	if (argc < 5)
		return dits_error_set(DITS_EINVALID, "usage: net_tool s3put BUCKET KEY FILE | s3get BUCKET KEY SIZE [BLOCK]");
	dits_s3_config cfg = { .bucket = argv[2] };
	dits_s3 *s3 = NULL;
	int rc = dits_s3_open(&cfg, &s3);
	double t0 = secs();
	uint64_t bytes = 0;
	if (!rc && put) {
		rc = dits_s3_put_file(s3, argv[3], argv[4]);
		struct stat sb;
		bytes = !rc && stat(argv[4], &sb) == 0 ? (uint64_t)sb.st_size : 0;
	} else if (!rc) {
		uint64_t size = strtoull(argv[4], NULL, 10), block = argc > 5 ? strtoull(argv[5], NULL, 10) : 0;
		if (!block)
			rc = dits_s3_get_to(s3, argv[3], 0, DITS_S3_TO_END, count_sink, &bytes);
		for (uint64_t off = 0; block && off < size && !rc; off += block)
			rc = dits_s3_get_to(s3, argv[3], off, size - off < block ? size - off : block, count_sink, &bytes);
	}
	if (!rc)
		printf("%llu %.3f\n", (unsigned long long)bytes, secs() - t0);
	dits_s3_close(s3);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: net_tool records|random|ids|corrupt|list|entries|store|rev|setref|cat|slowloris|craft|deep ...\n");
		return 2;
	}
	const char *c = argv[1];
	int rc = !strcmp(c, "records") ? cmd_records(argc, argv)
	       : !strcmp(c, "random")  ? cmd_random(argc, argv)
	       : !strcmp(c, "ids")     ? cmd_ids(argc, argv)
	       : !strcmp(c, "corrupt") ? cmd_corrupt(argc, argv)
	       : !strcmp(c, "list")    ? cmd_list()
	       : !strcmp(c, "entries") ? cmd_entries()
	       : !strcmp(c, "store")   ? cmd_store(argc, argv)
	       : !strcmp(c, "rev")     ? cmd_rev(argc, argv)
	       : !strcmp(c, "setref")  ? cmd_setref(argc, argv)
	       : !strcmp(c, "cat")     ? cmd_cat(argc, argv)
	       : !strcmp(c, "slowloris") ? cmd_slowloris(argc, argv)
	       : !strcmp(c, "craft")   ? cmd_craft(argc, argv)
	       : !strcmp(c, "deep")    ? cmd_deep(argc, argv)
	       : !strcmp(c, "s3put")   ? cmd_s3(argc, argv, true)
	       : !strcmp(c, "s3get")   ? cmd_s3(argc, argv, false)
	                               : 2;
	if (rc == 2)
		fprintf(stderr, "net_tool: %s: bad usage\n", c);
	return rc;
}
