/*
 * conform.c - resolving a timeline's media to the masters of a commit, and
 * checking every clip's source range against its master (conform.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "conform.h"
#include "error.h"
#include "hologram.h"
#include "metadb.h"
#include "object.h"
#include "odb.h"
#include "timecode.h"
#include "worktree.h"

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

int64_t dits_conform_src_frame(const dits_tl_clip *c, int64_t rec)
{
	return c->src_in + floor_div((rec - c->rec_in) * c->speed.num, c->speed.den);
}

/* ---- the commit's video files and their facts ------------------------- */

typedef struct candidate {
	const char *path;
	dits_id asset;
	bool probed, ok, recorded;
	dits_media_facts facts;
	int64_t tc_start;
} candidate;

typedef struct ctx {
	dits_repo *r;
	dits_metadb *db;
	candidate *c;
	size_t n;
} ctx;

static bool chunks_here(dits_odb *odb, const dits_id *id)
{
	dits_manifest m;
	dits_manifest_init(&m);
	bool here = dits_manifest_read(odb, id, &m) == 0;
	for (uint64_t i = 0; here && i < m.nchunks; i++)
		here = dits_odb_exists(odb, &m.chunks[i].id);
	dits_manifest_free(&m);
	dits_error_clear();
	return here;
}

/* The master's facts: probed from the store, else those recorded with one of its proxies. */
static bool facts_of(ctx *x, candidate *c)
{
	if (c->probed)
		return c->ok;
	c->probed = true;
	if (chunks_here(dits_repo_odb(x->r), &c->asset)) {
		dits_media_source src;
		if (dits_media_source_open_blob(&src, dits_repo_odb(x->r), &c->asset, c->path) == 0) {
			c->ok = dits_media_probe(&src, &c->facts) == 0;
			dits_media_source_close_blob(&src);
		}
	} else if (x->db) {
		static const char *const types[] = {"proxy_1080p", "proxy_720p", "proxy_540p"};
		for (size_t i = 0; i < 3 && !c->ok; i++) {
			dits_variant v;
			if (dits_variant_get(x->db, &c->asset, types[i], &v) == 0) {
				c->ok = v.facts && dits_media_facts_parse(v.facts, "master", &c->facts) == 0;
				c->recorded = c->ok;
				dits_variant_free(&v);
			}
		}
	}
	dits_error_clear();
	if (c->ok) {
		c->tc_start = 0;
		if (c->facts.timecode[0] &&
		    dits_tc_parse(c->facts.timecode, c->facts.frame_rate.num, c->facts.frame_rate.den, &c->tc_start,
		                  NULL) < 0) {
			c->tc_start = 0;
			dits_error_clear();
		}
	}
	return c->ok;
}

/* ---- names --------------------------------------------------------------- */

static const char *base_of(const char *p)
{
	const char *s = strrchr(p, '/');
	return s ? s + 1 : p;
}

/* a == b, or equal once b's extension (or a's) is dropped; case-insensitive, as NLEs and file systems often are */
static bool same_name(const char *a, const char *b)
{
	if (strcasecmp(a, b) == 0)
		return true;
	const char *da = strrchr(a, '.'), *db = strrchr(b, '.');
	size_t la = da ? (size_t)(da - a) : strlen(a), lb = db ? (size_t)(db - b) : strlen(b);
	if (!da && db)
		return strlen(a) == lb && strncasecmp(a, b, lb) == 0;
	if (da && !db)
		return strlen(b) == la && strncasecmp(a, b, la) == 0;
	return false;
}

/* true when tracked path p ends the timeline's path q at a '/' boundary (or equals it) */
static bool path_suffix(const char *q, const char *p)
{
	size_t lq = strlen(q), lp = strlen(p);
	if (lp > lq || strcmp(q + lq - lp, p) != 0)
		return false;
	return lp == lq || q[lq - lp - 1] == '/';
}

static bool reel_matches(const char *reel, const candidate *c)
{
	char stem[256];
	snprintf(stem, sizeof(stem), "%s", base_of(c->path));
	char *dot = strrchr(stem, '.');
	if (dot)
		*dot = 0;
	const char *names[] = {c->facts.reel_name, stem};
	for (int i = 0; i < 2; i++) {
		if (!names[i][0])
			continue;
		if (strcasecmp(reel, names[i]) == 0)
			return true;
		/* EDL reels are cut to 8 characters */
		if (strlen(reel) == 8 && strlen(names[i]) > 8 && strncasecmp(reel, names[i], 8) == 0)
			return true;
	}
	return false;
}

/* ---- source ranges ------------------------------------------------------- */

/* the clips' lowest and highest source frames of media m, dissolve handles included */
static void used_range(const dits_timeline *tl, int m, const dits_tl_clip **first, int64_t *lo, int64_t *hi)
{
	*first = NULL;
	*lo = INT64_MAX, *hi = INT64_MIN;
	for (size_t i = 0; i < tl->nclips; i++) {
		const dits_tl_clip *c = &tl->clips[i];
		if (c->media != m)
			continue;
		int64_t end = c->rec_out;
		/* the outgoing clip of a dissolve plays on past its out point */
		for (size_t j = 0; j < tl->nclips; j++) {
			const dits_tl_clip *d = &tl->clips[j];
			if (d->kind == c->kind && d->track == c->track && d->rec_in == c->rec_out && d->dissolve > 0)
				end = c->rec_out + d->dissolve;
		}
		if (end <= c->rec_in)
			continue;
		int64_t a = dits_conform_src_frame(c, c->rec_in), b = dits_conform_src_frame(c, end - 1);
		if (a > b) {
			int64_t t = a;
			a = b, b = t;
		}
		if (!*first)
			*first = c;
		if (a < *lo)
			*lo = a;
		if (b > *hi)
			*hi = b;
	}
}

/* the master frame index of source frame s counted at src_rate */
static int64_t master_index(const candidate *c, int64_t s, AVRational src_rate)
{
	AVRational mr = c->facts.frame_rate;
	if (av_cmp_q(mr, src_rate) == 0)
		return s - c->tc_start;
	/* timecode frames to seconds at src_rate, then to the master's frames */
	int64_t num = s * (int64_t)mr.num * src_rate.den, den = (int64_t)mr.den * src_rate.num;
	return floor_div(num, den) - c->tc_start;
}

static bool range_inside(const candidate *c, int64_t lo, int64_t hi, AVRational src_rate)
{
	int64_t n = c->facts.vfr ? c->facts.cfr_frame_count : c->facts.frame_count;
	return master_index(c, lo, src_rate) >= 0 && master_index(c, hi, src_rate) < n;
}

static void tc_label(int64_t frames, AVRational rate, char *out)
{
	bool drop = dits_tc_can_drop(rate.num, rate.den);
	if (dits_tc_format(frames, rate.num, rate.den, drop, out) < 0) {
		snprintf(out, DITS_TC_MAX, "%" PRId64, frames);
		dits_error_clear();
	}
}

/* ---- resolution -------------------------------------------------------------- */

static int collect(ctx *x, const dits_id *commit)
{
	dits_flat f = {0};
	int rc = dits_flat_from_commit(x->r, commit, &f);
	if (rc)
		return rc;
	x->c = calloc(f.n + 1, sizeof(*x->c));
	if (!x->c) {
		dits_flat_free(&f);
		return dits_error_set(DITS_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < f.n; i++) {
		if (!dits_hologram_is_video_path(f.e[i].path))
			continue;
		candidate *c = &x->c[x->n];
		if (!(c->path = strdup(f.e[i].path))) {
			dits_flat_free(&f);
			return dits_error_set(DITS_ENOMEM, "out of memory");
		}
		c->asset = f.e[i].id;
		x->n++;
	}
	dits_flat_free(&f);
	return 0;
}

static void ctx_free(ctx *x)
{
	for (size_t i = 0; i < x->n; i++)
		free((char *)x->c[i].path);
	free(x->c);
	if (x->db)
		dits_metadb_close(x->db);
}

/*
 * One media entry: the unique candidate by path, else by name, else by reel
 * and range. Appends the reason to *why when none or several match.
 */
static candidate *resolve_one(ctx *x, const dits_tl_media *m, int64_t lo, int64_t hi, AVRational src_rate,
                              const char **how, dits_buf *why)
{
	candidate *hit = NULL;
	size_t nhit = 0, best = 0;
	/* 1. path */
	if (m->path && m->path[0]) {
		for (size_t i = 0; i < x->n; i++) {
			if (!path_suffix(m->path, x->c[i].path))
				continue;
			size_t l = strlen(x->c[i].path);
			if (l > best)
				best = l, hit = &x->c[i], nhit = 1;
			else if (l == best)
				nhit++;
		}
		if (nhit == 1) {
			*how = "path";
			return hit;
		}
	}
	/* 2. file name */
	const char *names[] = {m->path ? base_of(m->path) : NULL, m->name};
	for (int k = 0; k < 2; k++) {
		if (!names[k] || !names[k][0])
			continue;
		hit = NULL, nhit = 0;
		for (size_t i = 0; i < x->n; i++)
			if (same_name(names[k], base_of(x->c[i].path)))
				hit = &x->c[i], nhit++;
		if (nhit == 1) {
			*how = "name";
			return hit;
		}
		if (nhit > 1) {
			dits_buf_printf(why, "ambiguous: %zu files named %s", nhit, names[k]);
			return NULL;
		}
	}
	/* 3. reel + timecode range */
	if (m->reel && m->reel[0] && strcasecmp(m->reel, "AX") != 0) {
		hit = NULL, nhit = 0;
		for (size_t i = 0; i < x->n; i++) {
			candidate *c = &x->c[i];
			if (!facts_of(x, c) || !reel_matches(m->reel, c) || !range_inside(c, lo, hi, src_rate))
				continue;
			if (nhit++ == 0)
				hit = c;
		}
		if (nhit == 1) {
			*how = "reel+timecode";
			return hit;
		}
		if (nhit > 1) {
			dits_buf_printf(why, "ambiguous: %zu masters of reel %s hold the range", nhit, m->reel);
			return NULL;
		}
	}
	dits_buf_puts(why, "no master by path, file name or reel and timecode");
	return NULL;
}

int dits_conform_resolve(dits_repo *r, const dits_id *commit, const dits_timeline *tl, const char *tl_name,
                         dits_conform_master **out)
{
	*out = NULL;
	ctx x = {r, NULL, NULL, 0};
	if (dits_metadb_open_repo(&x.db, r) < 0) {
		x.db = NULL; /* no proxies recorded: masters are probed */
		dits_error_clear();
	}
	int rc = collect(&x, commit);
	dits_conform_master *res = rc ? NULL : calloc(tl->nmedia + 1, sizeof(*res));
	if (!rc && !res)
		rc = dits_error_set(DITS_ENOMEM, "out of memory");
	dits_buf bad = DITS_BUF_INIT;
	size_t nbad = 0;
	for (size_t m = 0; !rc && m < tl->nmedia; m++) {
		const dits_tl_clip *first;
		int64_t lo, hi;
		used_range(tl, (int)m, &first, &lo, &hi);
		if (!first)
			continue; /* no clip uses it */
		const dits_tl_media *tm = &tl->media[m];
		const char *label = first->name ? first->name : tm->name ? tm->name : tm->reel ? tm->reel : "?";
		dits_buf why = DITS_BUF_INIT;
		const char *how = NULL;
		candidate *c = resolve_one(&x, tm, lo, hi, first->src_rate, &how, &why);
		if (c && !facts_of(&x, c)) {
			dits_buf_printf(&why, "%s: cannot read the master (not here and no recorded facts)", c->path);
			c = NULL;
		}
		if (c && !range_inside(c, lo, hi, first->src_rate)) {
			char a[DITS_TC_MAX], b[DITS_TC_MAX], s[DITS_TC_MAX], e[DITS_TC_MAX];
			tc_label(lo, first->src_rate, a);
			tc_label(hi, first->src_rate, b);
			int64_t n = c->facts.vfr ? c->facts.cfr_frame_count : c->facts.frame_count;
			tc_label(c->tc_start, c->facts.frame_rate, s);
			tc_label(c->tc_start + n - 1, c->facts.frame_rate, e);
			dits_buf_printf(&why, "source %s-%s is outside %s (%s-%s)", a, b, c->path, s, e);
			c = NULL;
		}
		if (!c) {
			dits_buf_cstr(&why);
			/* every clip of this media fails the same way: name each event */
			for (size_t i = 0; i < tl->nclips; i++) {
				if (tl->clips[i].media != (int)m)
					continue;
				dits_buf_printf(&bad, "%sevent %d %s: %s", nbad ? "; " : "", tl->clips[i].event, label,
				                why.data ? (const char *)why.data : "unresolved");
				nbad++;
			}
			dits_buf_free(&why);
			continue;
		}
		dits_buf_free(&why);
		dits_conform_master *o = &res[m];
		if (!(o->path = strdup(c->path))) {
			rc = dits_error_set(DITS_ENOMEM, "out of memory");
			break;
		}
		o->asset = c->asset;
		o->facts = c->facts;
		o->recorded = c->recorded;
		o->how = how;
		o->tc_start = c->tc_start;
	}
	if (!rc && nbad) {
		dits_buf_cstr(&bad);
		rc = dits_error_set(DITS_EINVALID, "%s: %zu clip%s did not resolve: %s", tl_name, nbad,
		                    nbad == 1 ? "" : "s", bad.data ? (const char *)bad.data : "");
	}
	dits_buf_free(&bad);
	ctx_free(&x);
	if (rc) {
		dits_conform_masters_free(res, tl->nmedia);
		return rc;
	}
	*out = res;
	return 0;
}

void dits_conform_masters_free(dits_conform_master *m, size_t n)
{
	if (!m)
		return;
	for (size_t i = 0; i < n; i++)
		free(m[i].path);
	free(m);
}

/* "4k_master", "8k_master", "source", "WxH": the output size (conform.h) */
int dits_conform_target_size(const char *t, const dits_timeline *tl, const dits_conform_master *m, int *w, int *h)
{
	if (!strcmp(t, "4k_master"))
		*w = 3840, *h = 2160;
	else if (!strcmp(t, "8k_master"))
		*w = 7680, *h = 4320;
	else if (!strcmp(t, "source")) {
		*w = *h = 0;
		for (size_t i = 0; i < tl->nclips && !*w; i++)
			if (tl->clips[i].kind == DITS_TL_VIDEO && tl->clips[i].media >= 0 && m[tl->clips[i].media].path)
				*w = m[tl->clips[i].media].facts.width, *h = m[tl->clips[i].media].facts.height;
		if (!*w)
			return -1;
	} else {
		char x;
		if (sscanf(t, "%dx%d%c", w, h, &x) != 2 || *w < 16 || *h < 16 || *w > 16384 || *h > 16384 || *w % 2 ||
		    *h % 2)
			return -1;
	}
	return 0;
}

int dits_conform_facts(const dits_timeline *tl, const dits_conform_master *m, dits_media_facts **out)
{
	dits_media_facts *f = calloc(tl->nmedia + 1, sizeof(*f));
	if (!(*out = f))
		return dits_error_set(DITS_ENOMEM, "out of memory");
	for (size_t i = 0; i < tl->nmedia; i++)
		if (m[i].path)
			f[i] = m[i].facts;
	return 0;
}

int dits_conform_open(void *store, int media, dits_media_source *src)
{
	const dits_conform_store *s = store;
	return dits_media_source_open_blob(src, dits_repo_odb(s->r), &s->m[media].asset, s->m[media].path);
}

void dits_conform_close(void *store, dits_media_source *src)
{
	(void)store;
	dits_media_source_close_blob(src);
}
