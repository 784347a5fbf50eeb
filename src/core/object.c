#include "object.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"

#define CHUNKLIST_MAGIC "DCL1"
#define MANIFEST_MAGIC "DMF1"
#define TREE_MAGIC "DTR1"
#define COMMIT_HEADER "dits-commit 1\n"
#define SEGMENT_MAX 1024 /* chunk refs per segment at most */
#define SEGMENT_MASK 63  /* cut after a chunk whose id's last byte & 63 == 0 */

void dits_manifest_init(dits_manifest *m)
{
	memset(m, 0, sizeof *m);
}

void dits_manifest_free(dits_manifest *m)
{
	free(m->chunks);
	memset(m, 0, sizeof *m);
}

int dits_manifest_push(dits_manifest *m, const dits_id *id, uint32_t len)
{
	if (m->nchunks == m->cap) {
		uint64_t cap = m->cap ? m->cap * 2 : 64;
		dits_chunk_ref *n = realloc(m->chunks, cap * sizeof *n);
		if (!n)
			return dits_error_set(DITS_ENOMEM, "out of memory");
		m->chunks = n;
		m->cap = cap;
	}
	m->chunks[m->nchunks].id = *id;
	m->chunks[m->nchunks].len = len;
	m->nchunks++;
	return 0;
}

static bool segment_ends_after(const dits_manifest *m, uint64_t i, uint64_t start)
{
	return i + 1 == m->nchunks || i + 1 - start >= SEGMENT_MAX ||
	       (m->chunks[i].id.b[DITS_ID_LEN - 1] & SEGMENT_MASK) == 0;
}

/*
 * Walks the segments of m; for each, serializes it into seg and calls fn.
 * Then serializes the head into head.
 */
static int manifest_build(const dits_manifest *m, dits_buf *head,
                          int (*fn)(void *ctx, const dits_buf *seg, dits_id *seg_id), void *ctx)
{
	dits_buf seg = DITS_BUF_INIT, list = DITS_BUF_INIT;
	uint32_t nsegs = 0;
	int rc = 0;
	uint64_t start = 0;
	for (uint64_t i = 0; i < m->nchunks && !rc; i++) {
		if (!segment_ends_after(m, i, start))
			continue;
		dits_buf_reset(&seg);
		uint64_t bytes = 0;
		dits_buf_put(&seg, CHUNKLIST_MAGIC, 4);
		dits_buf_put_u32(&seg, (uint32_t)(i + 1 - start));
		for (uint64_t j = start; j <= i; j++) {
			dits_buf_put(&seg, m->chunks[j].id.b, DITS_ID_LEN);
			rc = dits_buf_put_u32(&seg, m->chunks[j].len);
			bytes += m->chunks[j].len;
		}
		dits_id sid;
		if (!rc)
			rc = fn(ctx, &seg, &sid);
		dits_buf_put(&list, sid.b, DITS_ID_LEN);
		dits_buf_put_u32(&list, (uint32_t)(i + 1 - start));
		rc = rc ? rc : dits_buf_put_u64(&list, bytes);
		nsegs++;
		start = i + 1;
	}
	if (!rc) {
		dits_buf_reset(head);
		dits_buf_put(head, MANIFEST_MAGIC, 4);
		dits_buf_put_u64(head, m->size);
		dits_buf_put(head, m->content.b, DITS_ID_LEN);
		dits_buf_put_u64(head, m->nchunks);
		dits_buf_put_u32(head, nsegs);
		rc = dits_buf_put(head, list.data, list.len);
	}
	dits_buf_free(&seg);
	dits_buf_free(&list);
	return rc;
}

static int seg_store(void *ctx, const dits_buf *seg, dits_id *sid)
{
	return dits_pack_writer_put_object(ctx, DITS_OBJ_CHUNKLIST, seg->data, seg->len, sid);
}

static int seg_hash_only(void *ctx, const dits_buf *seg, dits_id *sid)
{
	dits_hash_buf(sid, seg->data, seg->len);
	return 0;
}

int dits_manifest_write(dits_pack_writer *w, const dits_manifest *m, dits_id *out)
{
	dits_buf head = DITS_BUF_INIT;
	int rc = manifest_build(m, &head, seg_store, w);
	if (!rc)
		rc = dits_pack_writer_put_object(w, DITS_OBJ_MANIFEST, head.data, head.len, out);
	dits_buf_free(&head);
	return rc;
}

int dits_manifest_chunks_json(const dits_manifest *m, char **out)
{
	*out = NULL;
	dits_buf b = DITS_BUF_INIT;
	int rc = dits_buf_put(&b, "[", 1);
	char hex[DITS_ID_HEXLEN + 1];
	for (uint64_t i = 0; i < m->nchunks && !rc; i++) {
		dits_id_hex(hex, &m->chunks[i].id);
		rc = dits_buf_printf(&b, "%s\"%s\"", i ? "," : "", hex);
	}
	if (!rc)
		rc = dits_buf_put(&b, "]", 1);
	if (!rc)
		rc = dits_buf_cstr(&b);
	if (rc) {
		dits_buf_free(&b);
		return rc;
	}
	*out = (char *)b.data;
	return 0;
}

void dits_manifest_id(const dits_manifest *m, dits_id *out)
{
	dits_buf head = DITS_BUF_INIT;
	if (manifest_build(m, &head, seg_hash_only, NULL) == 0)
		dits_hash_buf(out, head.data, head.len);
	else
		memset(out, 0, sizeof *out);
	dits_buf_free(&head);
}

static int corrupt(const dits_id *id, const char *what)
{
	char hex[DITS_ID_HEXLEN + 1];
	dits_id_hex(hex, id);
	return dits_error_set(DITS_ECORRUPT, "%s %s is malformed", what, hex);
}

static int head_parse(const dits_id *id, const dits_buf *b, dits_manifest_head *h,
                      uint32_t **seg_counts, uint64_t **seg_bytes)
{
	memset(h, 0, sizeof *h);
	dits_reader r = { b->data, b->data + b->len };
	const uint8_t *magic;
	if (dits_read_skip(&r, &magic, 4) || memcmp(magic, MANIFEST_MAGIC, 4) ||
	    dits_read_u64(&r, &h->size) || dits_read_bytes(&r, h->content.b, DITS_ID_LEN) ||
	    dits_read_u64(&r, &h->nchunks) || dits_read_u32(&r, &h->nsegs) ||
	    (size_t)(r.end - r.p) != (size_t)h->nsegs * 44)
		return corrupt(id, "manifest");
	h->segs = calloc(h->nsegs ? h->nsegs : 1, sizeof *h->segs);
	uint32_t *counts = seg_counts ? calloc(h->nsegs ? h->nsegs : 1, sizeof *counts) : NULL;
	uint64_t *bytes = seg_bytes ? calloc(h->nsegs ? h->nsegs : 1, sizeof *bytes) : NULL;
	if (!h->segs || (seg_counts && !counts) || (seg_bytes && !bytes)) {
		free(counts);
		free(bytes);
		dits_manifest_head_free(h);
		return dits_error_set(DITS_ENOMEM, "out of memory");
	}
	for (uint32_t i = 0; i < h->nsegs; i++) {
		uint32_t c;
		uint64_t by;
		dits_read_bytes(&r, h->segs[i].b, DITS_ID_LEN);
		dits_read_u32(&r, &c);
		dits_read_u64(&r, &by);
		if (counts)
			counts[i] = c;
		if (bytes)
			bytes[i] = by;
	}
	if (seg_counts)
		*seg_counts = counts;
	if (seg_bytes)
		*seg_bytes = bytes;
	return 0;
}

int dits_manifest_read_head(dits_odb *db, const dits_id *id, dits_manifest_head *h)
{
	dits_buf b = DITS_BUF_INIT;
	uint8_t type;
	int rc = dits_odb_read(db, id, &b, &type);
	if (!rc)
		rc = head_parse(id, &b, h, NULL, NULL);
	dits_buf_free(&b);
	return rc;
}

void dits_manifest_head_free(dits_manifest_head *h)
{
	free(h->segs);
	h->segs = NULL;
}

int dits_manifest_read(dits_odb *db, const dits_id *id, dits_manifest *m)
{
	dits_manifest_init(m);
	dits_buf b = DITS_BUF_INIT;
	dits_manifest_head h;
	uint32_t *counts = NULL;
	uint64_t *bytes = NULL;
	int rc = dits_odb_read(db, id, &b, NULL);
	if (rc)
		goto out;
	if ((rc = head_parse(id, &b, &h, &counts, &bytes)))
		goto out;
	m->size = h.size;
	m->content = h.content;
	uint64_t total = 0;
	for (uint32_t s = 0; s < h.nsegs && !rc; s++) {
		rc = dits_odb_read(db, &h.segs[s], &b, NULL);
		if (rc)
			break;
		dits_reader r = { b.data, b.data + b.len };
		const uint8_t *magic;
		uint32_t n;
		if (dits_read_skip(&r, &magic, 4) || memcmp(magic, CHUNKLIST_MAGIC, 4) ||
		    dits_read_u32(&r, &n) || n != counts[s] || (size_t)(r.end - r.p) != (size_t)n * 36) {
			rc = corrupt(&h.segs[s], "chunk list");
			break;
		}
		uint64_t segbytes = 0;
		for (uint32_t i = 0; i < n && !rc; i++) {
			dits_id cid;
			uint32_t len;
			dits_read_bytes(&r, cid.b, DITS_ID_LEN);
			dits_read_u32(&r, &len);
			segbytes += len;
			rc = dits_manifest_push(m, &cid, len);
		}
		if (!rc && segbytes != bytes[s])
			rc = corrupt(&h.segs[s], "chunk list");
		total += segbytes;
	}
	if (!rc && (total != m->size || m->nchunks != h.nchunks))
		rc = corrupt(id, "manifest");
	dits_manifest_head_free(&h);
out:
	free(counts);
	free(bytes);
	dits_buf_free(&b);
	if (rc)
		dits_manifest_free(m);
	return rc;
}

/* ---- trees -------------------------------------------------------- */

int dits_tree_depth_error(const dits_id *id, const char *path)
{
	char hex[DITS_ID_HEXLEN + 1];
	dits_id_hex(hex, id);
	if (path && *path)
		return dits_error_set(DITS_ECORRUPT, "tree %s at %s: trees nest deeper than %d levels", hex, path,
		                      DITS_TREE_DEPTH_MAX);
	return dits_error_set(DITS_ECORRUPT, "tree %s: trees nest deeper than %d levels", hex, DITS_TREE_DEPTH_MAX);
}

void dits_name_escape(char *out, size_t cap, const char *name, size_t len)
{
	static const char hexd[] = "0123456789abcdef";
	size_t o = 0;
	if (!cap)
		return;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		bool plain = c >= 0x20 && c < 0x7f && c != '\\' && c != '\'';
		if (o + (plain ? 1 : 4) + 4 > cap) { /* room for "..." and the NUL */
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		if (plain) {
			out[o++] = (char)c;
		} else {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hexd[c >> 4];
			out[o++] = hexd[c & 15];
		}
	}
	out[o] = '\0';
}

/* Code points HFS+ leaves out when it compares names (as git's is_hfs_dotgit). */
static bool hfs_ignorable(uint32_t cp)
{
	return (cp >= 0x200c && cp <= 0x200f) || (cp >= 0x202a && cp <= 0x202e) ||
	       (cp >= 0x206a && cp <= 0x206f) || cp == 0xfeff;
}

/* Decodes the UTF-8 sequence at p (n bytes left) into *cp; its length, 0 if malformed. */
static size_t utf8_decode(const unsigned char *p, size_t n, uint32_t *cp)
{
	size_t len;
	uint32_t v;
	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	} else if ((p[0] & 0xe0) == 0xc0) {
		len = 2;
		v = p[0] & 0x1f;
	} else if ((p[0] & 0xf0) == 0xe0) {
		len = 3;
		v = p[0] & 0x0f;
	} else if ((p[0] & 0xf8) == 0xf0) {
		len = 4;
		v = p[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		v = v << 6 | (p[i] & 0x3f);
	}
	*cp = v;
	return len;
}

/* "[ .]*" then the end or an NTFS stream (':'), from s[i] on. */
static bool only_dots_spaces_then_end(const char *s, size_t i, size_t n)
{
	for (; i < n; i++) {
		if (s[i] == ':')
			return true;
		if (s[i] != '.' && s[i] != ' ')
			return false;
	}
	return true;
}

/*
 * Whether a case-insensitive or normalizing file system (NTFS, FAT, HFS+,
 * APFS) could take name for ".dits": the name folded (ASCII lower case,
 * HFS+ ignorable code points left out, other non-ASCII as a byte no ASCII
 * matches) is ".dits" or the short name "dits~N", then only dots and spaces
 * (which Windows strips) up to the end or a ':' (an NTFS stream).
 */
static bool is_dotdits_alias(const char *name, size_t len, char *fold, size_t *flen)
{
	size_t n = 0;
	for (size_t i = 0; i < len;) {
		unsigned char c = (unsigned char)name[i];
		uint32_t cp;
		size_t l = c < 0x80 ? 1 : utf8_decode((const unsigned char *)name + i, len - i, &cp);
		if (c < 0x80) {
			fold[n++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
		} else if (l && hfs_ignorable(cp)) {
			/* left out */
		} else {
			fold[n++] = (char)0x80;
		}
		i += l ? l : 1;
	}
	*flen = n;
	if (n >= 5 && !memcmp(fold, ".dits", 5) && only_dots_spaces_then_end(fold, 5, n))
		return true;
	if (n >= 6 && !memcmp(fold, "dits~", 5) && fold[5] >= '0' && fold[5] <= '9') {
		size_t i = 6;
		while (i < n && fold[i] >= '0' && fold[i] <= '9')
			i++;
		return only_dots_spaces_then_end(fold, i, n);
	}
	return false;
}

static bool only_dots_spaces(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != '.' && s[i] != ' ')
			return false;
	return true;
}

const char *dits_tree_name_refused(const char *name, size_t len)
{
	if (len == 0)
		return "an empty name";
	if (len > 65535)
		return "a name longer than 65535 bytes";
	if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
		return "'.' and '..' cannot be entries";
	if (memchr(name, '/', len))
		return "a name holding '/'";
	if (memchr(name, '\\', len))
		return "a name holding '\\' (a separator on Windows)";
	if (memchr(name, 0, len))
		return "a name holding a NUL byte";
	char small[256];
	char *fold = len <= sizeof small ? small : malloc(len);
	if (!fold)
		return "a name too long to check (out of memory)";
	size_t flen = 0;
	const char *why = NULL;
	if (is_dotdits_alias(name, len, fold, &flen))
		why = "the repository's own directory .dits (or a name a file system takes for it)";
	else if (only_dots_spaces(fold, flen))
		why = "a name of only dots and spaces (Windows strips them)";
	if (fold != small)
		free(fold);
	return why;
}

void dits_tree_init(dits_tree *t)
{
	memset(t, 0, sizeof *t);
}

void dits_tree_free(dits_tree *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->e[i].name);
	free(t->e);
	memset(t, 0, sizeof *t);
}

/* NULL when kind, mode and size fit together, else why not. */
static const char *entry_refused(uint8_t kind, uint32_t mode, uint64_t size)
{
	if (kind == DITS_KIND_FILE)
		return mode == 0100644 || mode == 0100755 ? NULL : "a file whose mode is not 0100644 or 0100755";
	if (kind == DITS_KIND_TREE)
		return mode == 040000 && size == 0 ? NULL : "a tree whose mode is not 040000 or whose size is not 0";
	return "an unknown kind";
}

static int refuse_entry(int code, const dits_id *tree, const char *name, size_t len, const char *why)
{
	char esc[160];
	dits_name_escape(esc, sizeof esc, name, len);
	if (!tree)
		return dits_error_set(code, "file name '%s' cannot be stored: %s", esc, why);
	char hex[DITS_ID_HEXLEN + 1];
	dits_id_hex(hex, tree);
	return dits_error_set(code, "tree %s: entry '%s' is refused: %s", hex, esc, why);
}

static int tree_push(dits_tree *t, char *name, uint8_t kind, uint32_t mode, uint64_t size, const dits_id *id)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		dits_tree_entry *n = realloc(t->e, cap * sizeof *n);
		if (!n)
			return dits_error_set(DITS_ENOMEM, "out of memory");
		t->e = n;
		t->cap = cap;
	}
	t->e[t->n++] = (dits_tree_entry){ name, kind, mode, size, *id };
	return 0;
}

int dits_tree_add(dits_tree *t, const char *name, uint8_t kind, uint32_t mode,
                  uint64_t size, const dits_id *id)
{
	const char *why = dits_tree_name_refused(name, strlen(name));
	if (!why)
		why = entry_refused(kind, mode, size);
	if (why)
		return refuse_entry(DITS_EINVALID, NULL, name, strlen(name), why);
	char *s = strdup(name);
	if (!s)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	int rc = tree_push(t, s, kind, mode, size, id);
	if (rc)
		free(s);
	return rc;
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const dits_tree_entry *)a)->name, ((const dits_tree_entry *)b)->name);
}

int dits_tree_serialize(dits_tree *t, dits_buf *out)
{
	if (t->n > 1)
		qsort(t->e, t->n, sizeof *t->e, cmp_entry);
	dits_buf_reset(out);
	dits_buf_put(out, TREE_MAGIC, 4);
	int rc = dits_buf_put_u32(out, (uint32_t)t->n);
	for (size_t i = 0; i < t->n && !rc; i++) {
		const dits_tree_entry *e = &t->e[i];
		size_t nl = strlen(e->name);
		const char *why = dits_tree_name_refused(e->name, nl);
		if (!why)
			why = entry_refused(e->kind, e->mode, e->size);
		if (why)
			return refuse_entry(DITS_EINVALID, NULL, e->name, nl, why);
		if (i && !strcmp(t->e[i - 1].name, e->name))
			return refuse_entry(DITS_EINVALID, NULL, e->name, nl, "it appears twice in one directory");
		dits_buf_put_u8(out, e->kind);
		dits_buf_put_u32(out, e->mode);
		dits_buf_put_u64(out, e->size);
		dits_buf_put(out, e->id.b, DITS_ID_LEN);
		dits_buf_put_u16(out, (uint16_t)nl);
		rc = dits_buf_put(out, e->name, nl);
	}
	return rc;
}

static int tree_malformed(const dits_id *id, const char *fmt, unsigned long long n)
{
	char hex[DITS_ID_HEXLEN + 1], why[96];
	dits_id_hex(hex, id);
	snprintf(why, sizeof why, fmt, n);
	return dits_error_set(DITS_ECORRUPT, "tree %s is malformed: %s", hex, why);
}

/* dits_tree_parse, with the tree's id known (NULL: the hash of data). */
static int tree_parse(dits_tree *t, const uint8_t *data, size_t len, const dits_id *known)
{
	dits_tree_init(t);
	dits_id id;
	if (known)
		id = *known;
	else
		dits_hash_buf(&id, data, len);
	dits_reader r = { data, data + len };
	const uint8_t *magic;
	uint32_t n;
	if (dits_read_skip(&r, &magic, 4) || memcmp(magic, TREE_MAGIC, 4) || dits_read_u32(&r, &n))
		return tree_malformed(&id, "no tree header", 0);
	int rc = 0;
	for (uint32_t i = 0; i < n && !rc; i++) {
		uint8_t kind;
		uint32_t mode;
		uint64_t size;
		dits_id eid;
		uint16_t nl;
		const uint8_t *name;
		if (dits_read_u8(&r, &kind) || dits_read_u32(&r, &mode) || dits_read_u64(&r, &size) ||
		    dits_read_bytes(&r, eid.b, DITS_ID_LEN) || dits_read_u16(&r, &nl) ||
		    dits_read_skip(&r, &name, nl)) {
			rc = tree_malformed(&id, "entry %llu is cut short", (unsigned long long)i + 1);
			break;
		}
		const char *nm = (const char *)name;
		const char *why = dits_tree_name_refused(nm, nl);
		if (!why)
			why = entry_refused(kind, mode, size);
		/* Canonical form only: sorted bytewise, each name once. */
		if (!why && t->n) {
			const char *prev = t->e[t->n - 1].name;
			size_t pl = strlen(prev);
			int c = memcmp(prev, nm, pl < nl ? pl : nl);
			if (c == 0 && pl == nl)
				why = "it appears twice";
			else if (c > 0 || (c == 0 && pl > nl))
				why = "entries are not sorted by name";
		}
		if (why) {
			rc = refuse_entry(DITS_ECORRUPT, &id, nm, nl, why);
			break;
		}
		char *s = strndup(nm, nl);
		rc = s ? tree_push(t, s, kind, mode, size, &eid) : dits_error_set(DITS_ENOMEM, "out of memory");
		if (rc)
			free(s);
	}
	if (!rc && r.p != r.end)
		rc = tree_malformed(&id, "%llu bytes after the last entry", (unsigned long long)(r.end - r.p));
	if (rc)
		dits_tree_free(t);
	return rc;
}

int dits_tree_parse(dits_tree *t, const uint8_t *data, size_t len)
{
	return tree_parse(t, data, len, NULL);
}

int dits_tree_read(dits_odb *db, const dits_id *id, dits_tree *t)
{
	dits_buf b = DITS_BUF_INIT;
	uint8_t type = 0;
	int rc = dits_odb_read(db, id, &b, &type);
	if (!rc && type != DITS_OBJ_TREE) {
		char hex[DITS_ID_HEXLEN + 1];
		dits_id_hex(hex, id);
		rc = dits_error_set(DITS_ECORRUPT, "%s is a %s, not a tree", hex, dits_otype_name(type));
	}
	if (!rc)
		rc = tree_parse(t, b.data, b.len, id);
	dits_buf_free(&b);
	return rc;
}

int dits_object_check(uint8_t type, const dits_id *id, const void *data, size_t len)
{
	dits_id h;
	if (!id) {
		dits_hash_buf(&h, data, len);
		id = &h;
	}
	if (type == DITS_OBJ_TREE) {
		dits_tree t;
		int rc = tree_parse(&t, data, len, id);
		if (!rc)
			dits_tree_free(&t);
		return rc;
	}
	if (type == DITS_OBJ_COMMIT) {
		dits_commit c;
		if (dits_commit_parse(&c, data, len))
			return corrupt(id, "commit");
		dits_commit_free(&c);
	}
	return 0;
}

/* ---- commits ------------------------------------------------------ */

void dits_signature_free(dits_signature *sig)
{
	free(sig->name);
	free(sig->email);
	sig->name = sig->email = NULL;
}

void dits_commit_free(dits_commit *c)
{
	free(c->parents);
	dits_signature_free(&c->author);
	dits_signature_free(&c->committer);
	free(c->message);
	memset(c, 0, sizeof *c);
}

static int put_sig(dits_buf *b, const char *key, const dits_signature *s)
{
	int tz = s->tz_minutes;
	char sign = tz < 0 ? '-' : '+';
	if (tz < 0)
		tz = -tz;
	return dits_buf_printf(b, "%s %s <%s> %lld %c%02d%02d\n", key, s->name, s->email,
	                       (long long)s->time, sign, tz / 60, tz % 60);
}

int dits_commit_serialize(const dits_commit *c, dits_buf *out)
{
	char hex[DITS_ID_HEXLEN + 1];
	dits_buf_reset(out);
	dits_buf_puts(out, COMMIT_HEADER);
	dits_id_hex(hex, &c->tree);
	dits_buf_printf(out, "tree %s\n", hex);
	for (size_t i = 0; i < c->nparents; i++) {
		dits_id_hex(hex, &c->parents[i]);
		dits_buf_printf(out, "parent %s\n", hex);
	}
	put_sig(out, "author", &c->author);
	put_sig(out, "committer", &c->committer);
	dits_buf_puts(out, "\n");
	return dits_buf_puts(out, c->message ? c->message : "");
}

static int parse_sig(const char *line, dits_signature *s)
{
	const char *lt = strchr(line, '<'), *gt = lt ? strchr(lt, '>') : NULL;
	if (!lt || !gt || lt == line)
		return -1;
	s->name = strndup(line, (size_t)(lt - line - 1));
	s->email = strndup(lt + 1, (size_t)(gt - lt - 1));
	long long t;
	char sign;
	int hh, mm;
	if (sscanf(gt + 1, " %lld %c%2d%2d", &t, &sign, &hh, &mm) != 4)
		return -1;
	s->time = t;
	s->tz_minutes = (sign == '-' ? -1 : 1) * (hh * 60 + mm);
	return s->name && s->email ? 0 : -1;
}

int dits_commit_parse(dits_commit *c, const uint8_t *data, size_t len)
{
	memset(c, 0, sizeof *c);
	char *text = strndup((const char *)data, len);
	if (!text || strlen(text) != len || strncmp(text, COMMIT_HEADER, strlen(COMMIT_HEADER))) {
		free(text);
		return -1;
	}
	char *p = text + strlen(COMMIT_HEADER);
	bool have_tree = false, have_author = false, have_committer = false;
	int rc = -1;
	for (;;) {
		char *nl = strchr(p, '\n');
		if (!nl)
			goto out;
		*nl = '\0';
		if (*p == '\0') {
			p = nl + 1;
			break;
		}
		/* tree, author and committer appear once: a second one is malformed */
		if (!strncmp(p, "tree ", 5)) {
			if (have_tree || dits_id_from_hex(&c->tree, p + 5))
				goto out;
			have_tree = true;
		} else if (!strncmp(p, "parent ", 7)) {
			dits_id *np = realloc(c->parents, (c->nparents + 1) * sizeof *np);
			if (!np)
				goto out;
			c->parents = np;
			if (dits_id_from_hex(&c->parents[c->nparents], p + 7))
				goto out;
			c->nparents++;
		} else if (!strncmp(p, "author ", 7)) {
			if (have_author || parse_sig(p + 7, &c->author))
				goto out;
			have_author = true;
		} else if (!strncmp(p, "committer ", 10)) {
			if (have_committer || parse_sig(p + 10, &c->committer))
				goto out;
			have_committer = true;
		}
		p = nl + 1;
	}
	c->message = strdup(p);
	rc = have_tree && have_author && have_committer && c->message ? 0 : -1;
out:
	free(text);
	if (rc)
		dits_commit_free(c);
	return rc;
}

int dits_commit_read(dits_odb *db, const dits_id *id, dits_commit *c)
{
	dits_buf b = DITS_BUF_INIT;
	uint8_t type = 0;
	int rc = dits_odb_read(db, id, &b, &type);
	if (!rc && (type != DITS_OBJ_COMMIT || dits_commit_parse(c, b.data, b.len))) {
		char hex[DITS_ID_HEXLEN + 1];
		dits_id_hex(hex, id);
		rc = type != DITS_OBJ_COMMIT
			? dits_error_set(DITS_EINVALID, "%s is a %s, not a commit", hex, dits_otype_name(type))
			: corrupt(id, "commit");
	}
	dits_buf_free(&b);
	return rc;
}

int dits_signature_default(dits_signature *sig, const char *name, const char *email)
{
	const char *n = getenv("DITS_AUTHOR_NAME");
	const char *e = getenv("DITS_AUTHOR_EMAIL");
	const char *d = getenv("DITS_AUTHOR_DATE");
	char host[256] = "localhost", user[256] = "dits";
	const char *u = getenv("USER");
	if (u && *u)
		snprintf(user, sizeof user, "%s", u);
	gethostname(host, sizeof host - 1);
	char fallback_email[600];
	snprintf(fallback_email, sizeof fallback_email, "%s@%s", user, host);
	sig->name = strdup(n && *n ? n : name && *name ? name : user);
	sig->email = strdup(e && *e ? e : email && *email ? email : fallback_email);
	sig->time = d && *d ? strtoll(d, NULL, 10) : (int64_t)time(NULL);
	sig->tz_minutes = 0;
	if (!sig->name || !sig->email) {
		dits_signature_free(sig);
		return dits_error_set(DITS_ENOMEM, "out of memory");
	}
	/* Angle brackets and newlines would break the commit header. */
	for (char *p = sig->name; *p; p++)
		if (*p == '<' || *p == '>' || *p == '\n')
			*p = ' ';
	for (char *p = sig->email; *p; p++)
		if (*p == '<' || *p == '>' || *p == '\n')
			*p = '_';
	return 0;
}
