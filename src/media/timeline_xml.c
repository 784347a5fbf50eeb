/*
 * timeline_xml.c - the XML timelines: Final Cut Pro 7 XML (xmeml v4/v5, as
 * Premiere, Resolve and Hiero write it) and FCPXML 1.8-1.11, read with
 * libxml2 into the model of timeline.h (see docs/RENDER.md).
 *
 * Documents are parsed without network access, without loading external
 * DTDs and without substituting entities; a document that declares
 * entities is refused, so neither an external entity (a local file) nor
 * nested expansions ("billion laughs") reach the model.
 */
#include <ctype.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "buf.h"
#include "error.h"
#include "timecode.h"
#include "timeline_internal.h"

/* Positions beyond this many frames (about 3 years at 120 fps) are refused. */
#define MAX_FRAMES ((int64_t)1 << 40)

/* ---- reading the document ---- */

static xmlDocPtr read_doc(const char *data, size_t len, const char *name)
{
	if (len > INT_MAX) {
		dits_error_set(DITS_EINVALID, "%s: too large for a timeline", name);
		return NULL;
	}
	xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
	if (!ctxt) {
		dits_error_set(DITS_ENOMEM, "out of memory");
		return NULL;
	}
	/* no XML_PARSE_NOENT (entities stay references), no DTD loading, no network */
	xmlDocPtr doc = xmlCtxtReadMemory(ctxt, data, (int)len, NULL, NULL,
	                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!doc || !ctxt->wellFormed) {
		const xmlError *e = xmlCtxtGetLastError(ctxt);
		char msg[160] = "not well-formed";
		int line = 0;
		if (e && e->message) {
			snprintf(msg, sizeof(msg), "%s", e->message);
			msg[strcspn(msg, "\r\n")] = 0;
			line = e->line;
		}
		if (line > 0)
			dits_error_set(DITS_EINVALID, "%s: line %d: not well-formed XML: %s", name, line, msg);
		else
			dits_error_set(DITS_EINVALID, "%s: not well-formed XML: %s", name, msg);
		xmlFreeDoc(doc);
		xmlFreeParserCtxt(ctxt);
		return NULL;
	}
	xmlFreeParserCtxt(ctxt);
	xmlDtdPtr dtd = doc->intSubset;
	if (dtd && (dtd->entities || dtd->pentities || dtd->children)) {
		dits_error_set(DITS_EINVALID, "%s: the document declares entities or an internal DTD (not read)", name);
		xmlFreeDoc(doc);
		return NULL;
	}
	if (!xmlDocGetRootElement(doc)) {
		dits_error_set(DITS_EINVALID, "%s: no root element", name);
		xmlFreeDoc(doc);
		return NULL;
	}
	return doc;
}

static bool is_el(const xmlNode *n, const char *name)
{
	return n && n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

static xmlNode *child(const xmlNode *n, const char *name)
{
	if (!n)
		return NULL;
	for (xmlNode *c = n->children; c; c = c->next)
		if (is_el(c, name))
			return c;
	return NULL;
}

/* the next sibling element named name after n */
static xmlNode *next_el(xmlNode *n, const char *name)
{
	for (n = n ? n->next : NULL; n; n = n->next)
		if (is_el(n, name))
			return n;
	return NULL;
}

/* The first element named name at or below n, in document order. */
static xmlNode *find(xmlNode *n, const char *name)
{
	for (; n; n = n->next) {
		if (n->type != XML_ELEMENT_NODE)
			continue;
		if (is_el(n, name))
			return n;
		xmlNode *f = find(n->children, name);
		if (f)
			return f;
	}
	return NULL;
}

static int line_of(const xmlNode *n)
{
	return n ? (int)xmlGetLineNo(n) : 0;
}

/*
 * The element's own text (text and CDATA children only: entity references
 * are not followed), whitespace trimmed, into buf; false when there is no
 * element or the text does not fit.
 */
static bool text_of(const xmlNode *n, char *buf, size_t cap)
{
	if (!n || cap == 0)
		return false;
	size_t len = 0;
	for (const xmlNode *c = n->children; c; c = c->next) {
		if ((c->type != XML_TEXT_NODE && c->type != XML_CDATA_SECTION_NODE) || !c->content)
			continue;
		size_t l = strlen((const char *)c->content);
		if (len + l >= cap)
			return false;
		memcpy(buf + len, c->content, l);
		len += l;
	}
	buf[len] = 0;
	size_t s = 0;
	while (isspace((unsigned char)buf[s]))
		s++;
	while (len > s && isspace((unsigned char)buf[len - 1]))
		len--;
	memmove(buf, buf + s, len - s);
	buf[len - s] = 0;
	return true;
}

static bool child_text(const xmlNode *n, const char *name, char *buf, size_t cap)
{
	return text_of(child(n, name), buf, cap);
}

/* An attribute's value into buf; false when absent or too long. */
static bool attr_of(const xmlNode *n, const char *name, char *buf, size_t cap)
{
	if (!n)
		return false;
	for (const xmlAttr *a = n->properties; a; a = a->next) {
		if (strcmp((const char *)a->name, name) != 0)
			continue;
		size_t len = 0;
		for (const xmlNode *c = a->children; c; c = c->next) {
			if (c->type != XML_TEXT_NODE || !c->content)
				continue;
			size_t l = strlen((const char *)c->content);
			if (len + l >= cap)
				return false;
			memcpy(buf + len, c->content, l);
			len += l;
		}
		buf[len] = 0;
		return true;
	}
	return false;
}

/* "123", "-1", "1055.0": a whole number, a decimal part of zeros only */
static bool parse_int(const char *s, int64_t *v)
{
	const char *p = s;
	bool neg = *p == '-';
	if (neg)
		p++;
	if (!isdigit((unsigned char)*p))
		return false;
	int64_t x = 0;
	for (; isdigit((unsigned char)*p); p++) {
		x = x * 10 + (*p - '0');
		if (x > MAX_FRAMES)
			return false;
	}
	if (*p == '.') {
		for (p++; *p == '0'; p++)
			;
	}
	if (*p)
		return false;
	*v = neg ? -x : x;
	return true;
}

/* A decimal "108.451", "-50", "0.25" as an exact rational. */
static bool parse_decimal(const char *s, AVRational *v)
{
	const char *p = s;
	bool neg = *p == '-';
	if (neg || *p == '+')
		p++;
	int64_t num = 0, den = 1;
	int digits = 0;
	for (; isdigit((unsigned char)*p); p++, digits++) {
		num = num * 10 + (*p - '0');
		if (num > 1000000000)
			return false;
	}
	if (*p == '.') {
		for (p++; isdigit((unsigned char)*p); p++, digits++) {
			if (den >= 1000000000)
				continue; /* beyond nine decimals: dropped */
			num = num * 10 + (*p - '0');
			den *= 10;
			if (num > 1000000000000000LL)
				return false;
		}
	}
	if (*p || digits == 0)
		return false;
	int n, d;
	av_reduce(&n, &d, neg ? -num : num, den, INT_MAX);
	*v = (AVRational){n, d};
	return true;
}

static bool ieq(const char *a, const char *b)
{
	return strcasecmp(a, b) == 0;
}

static bool icontains(const char *hay, const char *needle)
{
	size_t n = strlen(needle);
	for (; *hay; hay++)
		if (strncasecmp(hay, needle, n) == 0)
			return true;
	return false;
}

/* a * b as a rational, reduced (approximated only beyond int range) */
static AVRational mul_q(AVRational a, AVRational b)
{
	int n, d;
	av_reduce(&n, &d, (int64_t)a.num * b.num, (int64_t)a.den * b.den, INT_MAX);
	return (AVRational){n, d};
}

__extension__ typedef __int128 i128;

/* floor(x * q) for q > 0 or q < 0, without overflow for our ranges */
static int64_t floor_mul(int64_t x, AVRational q)
{
	if (q.den <= 0)
		return 0;
	i128 p = (i128)x * q.num;
	i128 r = p / q.den;
	if (p % q.den != 0 && (p < 0) != (q.den < 0))
		r--;
	return (int64_t)r;
}

/* ceil(x * q) */
static int64_t ceil_mul(int64_t x, AVRational q)
{
	return -floor_mul(-x, q);
}

/* "file://localhost/D%3a/media/a.mov" -> "D:/media/a.mov"; other strings are kept */
static char *url_to_path(const char *url)
{
	const char *p = url;
	if (strncasecmp(p, "file://", 7) != 0)
		return strdup(url);
	p += 7;
	if (strncasecmp(p, "localhost/", 10) == 0)
		p += 9;
	char *out = malloc(strlen(p) + 1);
	if (!out)
		return NULL;
	size_t n = 0;
	for (; *p; p++) {
		if (*p == '%' && isxdigit((unsigned char)p[1]) && isxdigit((unsigned char)p[2])) {
			char h[3] = {p[1], p[2], 0};
			char c = (char)strtol(h, NULL, 16);
			if (c == 0)
				c = '?';
			out[n++] = c;
			p += 2;
		} else {
			out[n++] = *p;
		}
	}
	out[n] = 0;
	/* "/D:/media" is a Windows drive */
	if (n >= 3 && out[0] == '/' && isalpha((unsigned char)out[1]) && out[2] == ':')
		memmove(out, out + 1, n);
	return out;
}

/* Timecode frames counted at one rate's whole frames per second, re-counted at another's. */
static int64_t tc_recount(int64_t frames, AVRational from, AVRational to)
{
	int f = dits_tc_fps(from.num, from.den), t = dits_tc_fps(to.num, to.den);
	if (f <= 0 || t <= 0 || f == t)
		return frames;
	return floor_mul(frames, (AVRational){t, f});
}

/* ---- Final Cut Pro 7 XML (xmeml) ---- */

/* <rate><timebase>30</timebase><ntsc>TRUE</ntsc></rate> under n; {0, 1} when absent or bad. */
static AVRational xm_rate(const xmlNode *n)
{
	const xmlNode *r = child(n, "rate");
	char tb[32], ntsc[16];
	int64_t v;
	if (!r || !child_text(r, "timebase", tb, sizeof(tb)) || !parse_int(tb, &v) || v <= 0 || v > 1000)
		return (AVRational){0, 1};
	if (child_text(r, "ntsc", ntsc, sizeof(ntsc)) && ieq(ntsc, "TRUE"))
		return (AVRational){(int)v * 1000, 1001};
	return (AVRational){(int)v, 1};
}

/*
 * <timecode> under n: its frame number at its rate (from <string>, else
 * <frame>), the rate, and whether it is drop-frame. False when absent.
 */
static bool xm_timecode(const xmlNode *n, AVRational fallback, int64_t *frame, AVRational *rate, bool *drop)
{
	const xmlNode *tc = child(n, "timecode");
	if (!tc)
		return false;
	AVRational r = xm_rate(tc);
	if (r.num <= 0)
		r = fallback;
	if (r.num <= 0)
		return false;
	char s[64], fmt[16];
	bool df = false, sdrop = false;
	if (child_text(tc, "displayformat", fmt, sizeof(fmt)) && ieq(fmt, "DF"))
		df = true;
	int64_t f;
	if (child_text(tc, "string", s, sizeof(s)) && dits_tc_parse(s, r.num, r.den, &f, &sdrop) == 0) {
		df = df || sdrop;
	} else if (!child_text(tc, "frame", s, sizeof(s)) || !parse_int(s, &f) || f < 0) {
		dits_error_clear();
		return false;
	}
	*frame = f;
	*rate = r;
	*drop = df && dits_tc_can_drop(r.num, r.den);
	return true;
}

typedef struct xm_file {
	char id[128];
	const xmlNode *node; /* the full definition */
	int media;           /* index in the model once used, else -1 */
	AVRational rate;     /* the file's rate, {0, 1} unknown */
	AVRational tc_rate;
	int64_t tc_start;    /* -1 unknown */
} xm_file;

typedef struct xm_ctx {
	const char *name;
	dits_timeline *t;
	xm_file *files;
	size_t nfiles;
	int event;
} xm_ctx;

static bool has_elements(const xmlNode *n)
{
	for (const xmlNode *c = n->children; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE)
			return true;
	return false;
}

/* every <file id> with content, in document order (a later <file id="x"/> refers back to it) */
static int xm_collect_files(xm_ctx *x, xmlNode *n)
{
	for (; n; n = n->next) {
		if (n->type != XML_ELEMENT_NODE)
			continue;
		char id[128];
		if (is_el(n, "file") && attr_of(n, "id", id, sizeof(id)) && has_elements(n)) {
			bool dup = false;
			for (size_t i = 0; i < x->nfiles && !dup; i++)
				dup = strcmp(x->files[i].id, id) == 0;
			if (!dup) {
				xm_file *v = realloc(x->files, (x->nfiles + 1) * sizeof(*v));
				if (!v)
					return dits_error_set(DITS_ENOMEM, "out of memory");
				x->files = v;
				xm_file *f = &v[x->nfiles++];
				memset(f, 0, sizeof(*f));
				snprintf(f->id, sizeof(f->id), "%s", id);
				f->node = n;
				f->media = -1;
				f->rate = xm_rate(n);
				bool drop;
				if (!xm_timecode(n, f->rate, &f->tc_start, &f->tc_rate, &drop))
					f->tc_start = -1;
			}
			continue;
		}
		int rc = xm_collect_files(x, n->children);
		if (rc)
			return rc;
	}
	return 0;
}

/* The file a clipitem's <file> names, its media entry added on first use; NULL with the error set. */
static xm_file *xm_file_of(xm_ctx *x, const xmlNode *file)
{
	char id[128];
	if (!attr_of(file, "id", id, sizeof(id)))
		id[0] = 0;
	xm_file *f = NULL;
	for (size_t i = 0; i < x->nfiles && !f; i++)
		if (strcmp(x->files[i].id, id) == 0)
			f = &x->files[i];
	if (!f) {
		dits_error_set(DITS_EINVALID, "%s: line %d: <file id=\"%s\"> refers to no file defined in the document",
		               x->name, line_of(file), id);
		return NULL;
	}
	if (f->media >= 0)
		return f;
	char name[1024], url[4096], reel[256];
	bool has_name = child_text(f->node, "name", name, sizeof(name)) && name[0];
	bool has_url = child_text(f->node, "pathurl", url, sizeof(url)) && url[0];
	bool has_reel = text_of(child(child(child(f->node, "timecode"), "reel"), "name"), reel, sizeof(reel)) && reel[0];
	char *path = has_url ? url_to_path(url) : NULL;
	if (has_url && !path) {
		dits_error_set(DITS_ENOMEM, "out of memory");
		return NULL;
	}
	AVRational rate = f->rate.num > 0 ? f->rate : f->tc_rate;
	int64_t tc = f->tc_start >= 0 && rate.num > 0 ? tc_recount(f->tc_start, f->tc_rate, rate) : -1;
	int m = media_tl_add_media(x->t, has_name ? name : NULL, path, has_reel ? reel : NULL,
	                           rate.num > 0 ? rate : (AVRational){0, 1}, tc);
	free(path);
	if (m < 0)
		return NULL;
	f->media = m;
	return f;
}

enum { XM_CLIP, XM_TRANSITION, XM_OTHER };

typedef struct xm_item {
	int type;
	const xmlNode *node;
	int64_t start, end;
	dits_tl_clip clip;
	bool dissolve;       /* a transition: a cross dissolve / cross fade */
} xm_item;

static int xm_need_int(xm_ctx *x, const xmlNode *n, const char *el, int64_t *v)
{
	char s[64];
	if (!child_text(n, el, s, sizeof(s)) || !parse_int(s, v) || *v < -1)
		return dits_error_set(DITS_EINVALID, "%s: line %d: <%s> without a valid <%s>", x->name, line_of(n),
		                      (const char *)n->name, el);
	return 0;
}

/*
 * A clipitem's filters: the time remap's speed (percent, negative or with
 * "reverse" for reverse; a variable speed is reported), others skipped.
 */
static int xm_filters(xm_ctx *x, const xmlNode *ci, AVRational *pct, int event)
{
	*pct = (AVRational){1, 1};
	for (const xmlNode *fl = child(ci, "filter"); fl; fl = next_el((xmlNode *)fl, "filter")) {
		const xmlNode *ef = child(fl, "effect");
		char id[128] = "", ename[128] = "";
		child_text(ef, "effectid", id, sizeof(id));
		child_text(ef, "name", ename, sizeof(ename));
		if (ieq(id, "timeremap") || ieq(ename, "Time Remap")) {
			bool reverse = false, variable = false;
			for (const xmlNode *p = child(ef, "parameter"); p; p = next_el((xmlNode *)p, "parameter")) {
				char pid[64] = "", val[64] = "";
				if (!child_text(p, "parameterid", pid, sizeof(pid)) || !pid[0])
					child_text(p, "name", pid, sizeof(pid));
				child_text(p, "value", val, sizeof(val));
				AVRational v;
				if (ieq(pid, "speed") && parse_decimal(val, &v))
					*pct = mul_q(v, (AVRational){1, 100});
				else if (ieq(pid, "reverse"))
					reverse = ieq(val, "TRUE");
				else if (ieq(pid, "variablespeed"))
					variable = strcmp(val, "0") != 0 && !ieq(val, "FALSE") && val[0];
			}
			if (reverse)
				pct->num = -pct->num;
			if (variable && media_tl_skip(x->t, "variable speed", event) < 0)
				return DITS_ENOMEM;
			continue;
		}
		if (media_tl_skip(x->t, "filter", event) < 0)
			return DITS_ENOMEM;
	}
	return 0;
}

/* One clipitem into it->clip; sets it->type XM_OTHER when it is skipped. */
static int xm_clipitem(xm_ctx *x, const xmlNode *ci, int kind, int track, bool track_on, xm_item *it)
{
	int event = it->clip.event;
	const xmlNode *file = child(ci, "file");
	if (!file) {
		/* a nested sequence (or a clip of nothing): not flattened */
		it->type = XM_OTHER;
		return media_tl_skip(x->t, child(ci, "sequence") ? "nested sequence" : "clip without media", event);
	}
	int rc;
	int64_t in, out;
	if ((rc = xm_need_int(x, ci, "start", &it->start)) || (rc = xm_need_int(x, ci, "end", &it->end)) ||
	    (rc = xm_need_int(x, ci, "in", &in)) || (rc = xm_need_int(x, ci, "out", &out)))
		return rc;
	if (in < 0 || out < in)
		return dits_error_set(DITS_EINVALID, "%s: line %d: <clipitem> with <in> %" PRId64 " and <out> %" PRId64,
		                      x->name, line_of(ci), in, out);
	xm_file *f = xm_file_of(x, file);
	if (!f)
		return DITS_EINVALID;
	AVRational pct;
	if ((rc = xm_filters(x, ci, &pct, event)))
		return rc;
	AVRational src_rate = xm_rate(ci);
	if (src_rate.num <= 0)
		src_rate = f->rate;
	if (src_rate.num <= 0)
		src_rate = x->t->rate;
	int64_t tc = f->tc_start >= 0 ? tc_recount(f->tc_start, f->tc_rate, src_rate) : 0;
	char en[16];
	bool on = !(child_text(ci, "enabled", en, sizeof(en)) && ieq(en, "FALSE"));
	char cname[1024];
	bool has_name = child_text(ci, "name", cname, sizeof(cname)) && cname[0];
	/* in/out count the clip as retimed; the source moves pct source frames per clip frame */
	AVRational apct = {pct.num < 0 ? -pct.num : pct.num, pct.den};
	int64_t src_in = pct.num < 0 ? tc + ceil_mul(out, apct) - 1 : tc + floor_mul(in, apct);
	if (pct.num < 0 && src_in < tc + floor_mul(in, apct))
		src_in = tc + floor_mul(in, apct);
	it->type = XM_CLIP;
	it->node = ci;
	it->clip = (dits_tl_clip){
		.kind = kind,
		.track = track,
		.event = event,
		.media = f->media,
		.name = has_name ? strdup(cname) : NULL,
		.src_in = src_in,
		.src_rate = src_rate,
		.speed = mul_q(pct, av_div_q(src_rate, x->t->rate)),
		.src_channel = -1,
		.enabled = on && track_on,
	};
	if (has_name && !it->clip.name)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	if (kind == DITS_TL_AUDIO) {
		char ti[32];
		int64_t v;
		if (child_text(child(ci, "sourcetrack"), "trackindex", ti, sizeof(ti)) && parse_int(ti, &v) && v >= 1 &&
		    v <= 64)
			it->clip.src_channel = (int)v - 1;
	}
	return 0;
}

/* Moves a clip's record start to r, its source start following: the clip shows the same frames. */
static void move_in(dits_tl_clip *c, int64_t r)
{
	c->src_in += floor_mul(r - c->rec_in, c->speed);
	c->rec_in = r;
}

/* One <track>'s items into the model: -1 starts and ends at transitions, dissolves to the model's form. */
static int xm_track(xm_ctx *x, const xmlNode *tr, int kind, int track)
{
	char en[16];
	bool track_on = !(child_text(tr, "enabled", en, sizeof(en)) && ieq(en, "FALSE"));
	xm_item *items = NULL;
	size_t n = 0;
	int rc = 0;
	for (const xmlNode *c = tr->children; c && !rc; c = c->next) {
		bool clip = is_el(c, "clipitem"), trans = is_el(c, "transitionitem"), gen = is_el(c, "generatoritem");
		if (!clip && !trans && !gen)
			continue;
		xm_item *v = realloc(items, (n + 1) * sizeof(*v));
		if (!v) {
			rc = dits_error_set(DITS_ENOMEM, "out of memory");
			break;
		}
		items = v;
		xm_item *it = &items[n++];
		memset(it, 0, sizeof(*it));
		it->clip.event = ++x->event;
		it->node = c;
		if (clip) {
			rc = xm_clipitem(x, c, kind, track, track_on, it);
		} else if (gen) {
			it->type = XM_OTHER;
			rc = media_tl_skip(x->t, "generator", it->clip.event);
		} else {
			it->type = XM_TRANSITION;
			if (!(rc = xm_need_int(x, c, "start", &it->start)) && !(rc = xm_need_int(x, c, "end", &it->end)) &&
			    (it->start < 0 || it->end < it->start))
				rc = dits_error_set(DITS_EINVALID, "%s: line %d: <transitionitem> from %" PRId64 " to %" PRId64,
				                    x->name, line_of(c), it->start, it->end);
			const xmlNode *ef = child(c, "effect");
			char id[128] = "", ename[128] = "";
			child_text(ef, "effectid", id, sizeof(id));
			child_text(ef, "name", ename, sizeof(ename));
			it->dissolve = icontains(id, "dissolve") || icontains(ename, "dissolve") ||
			               icontains(id, "cross fade") || icontains(ename, "cross fade") ||
			               icontains(id, "crossfade");
		}
	}
	/* -1: the clip starts at the transition before it, or ends at the one after it */
	for (size_t i = 0; i < n && !rc; i++) {
		xm_item *it = &items[i];
		if (it->type != XM_CLIP)
			continue;
		if (it->start == -1) {
			if (i == 0 || items[i - 1].type != XM_TRANSITION)
				rc = dits_error_set(DITS_EINVALID, "%s: line %d: <clipitem> starts at -1 with no transition before it",
				                    x->name, line_of(it->node));
			else
				it->start = items[i - 1].start;
		}
		if (!rc && it->end == -1) {
			if (i + 1 == n || items[i + 1].type != XM_TRANSITION)
				rc = dits_error_set(DITS_EINVALID, "%s: line %d: <clipitem> ends at -1 with no transition after it",
				                    x->name, line_of(it->node));
			else
				it->end = items[i + 1].end;
		}
		if (!rc && it->end < it->start)
			rc = dits_error_set(DITS_EINVALID, "%s: line %d: <clipitem> ends before it starts", x->name,
			                    line_of(it->node));
		it->clip.rec_in = it->start;
		it->clip.rec_out = it->end;
	}
	/* transitions: a dissolve between two clips is carried by the incoming one; others become cuts */
	for (size_t i = 0; i < n && !rc; i++) {
		xm_item *tr_it = &items[i];
		if (tr_it->type != XM_TRANSITION)
			continue;
		xm_item *a = i > 0 && items[i - 1].type == XM_CLIP ? &items[i - 1] : NULL;
		xm_item *b = i + 1 < n && items[i + 1].type == XM_CLIP ? &items[i + 1] : NULL;
		int64_t ts = tr_it->start, te = tr_it->end;
		if (!a || !b) {
			rc = media_tl_skip(x->t, tr_it->dissolve ? "fade" : "transition", tr_it->clip.event);
			continue;
		}
		int64_t cut = tr_it->dissolve ? ts : ts + (te - ts) / 2;
		if (cut < a->clip.rec_in)
			cut = a->clip.rec_in;
		if (a->clip.rec_out > cut)
			a->clip.rec_out = cut;
		if (b->clip.rec_in != cut && cut < b->clip.rec_out)
			move_in(&b->clip, cut);
		if (tr_it->dissolve) {
			int64_t d = te - b->clip.rec_in;
			if (d > b->clip.rec_out - b->clip.rec_in)
				d = b->clip.rec_out - b->clip.rec_in;
			b->clip.dissolve = d > 0 ? d : 0;
		} else {
			rc = media_tl_skip(x->t, "transition", tr_it->clip.event);
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (!rc && items[i].type == XM_CLIP)
			rc = media_tl_add_clip(x->t, &items[i].clip);
		free(items[i].clip.name);
	}
	free(items);
	return rc;
}

int media_tl_parse_xmeml(const char *data, size_t len, const char *name, dits_timeline *out)
{
	xmlDocPtr doc = read_doc(data, len, name);
	if (!doc)
		return DITS_EINVALID;
	xm_ctx x = {.name = name, .t = out};
	xmlNode *root = xmlDocGetRootElement(doc);
	xmlNode *seq = is_el(root, "xmeml") ? find(root->children, "sequence") : NULL;
	int rc = 0;
	if (!is_el(root, "xmeml"))
		rc = dits_error_set(DITS_EINVALID, "%s: line %d: <%s> is not an FCP7 XML document (<xmeml> expected)", name,
		                    line_of(root), (const char *)root->name);
	else if (!seq)
		rc = dits_error_set(DITS_EINVALID, "%s: no <sequence> in the document", name);
	if (!rc) {
		out->rate = xm_rate(seq);
		if (out->rate.num <= 0)
			rc = dits_error_set(DITS_EINVALID, "%s: line %d: <sequence> without a valid <rate>", name,
			                    line_of(seq));
	}
	if (!rc) {
		char sname[1024];
		if (child_text(seq, "name", sname, sizeof(sname)) && sname[0] && !(out->name = strdup(sname)))
			rc = dits_error_set(DITS_ENOMEM, "out of memory");
		int64_t f;
		AVRational r;
		bool drop;
		if (xm_timecode(seq, out->rate, &f, &r, &drop)) {
			out->rec_start = tc_recount(f, r, out->rate);
			out->drop_frame = drop && dits_tc_can_drop(out->rate.num, out->rate.den);
		}
	}
	if (!rc)
		rc = xm_collect_files(&x, root);
	const xmlNode *media = child(seq, "media");
	for (int k = 0; k < 2 && !rc; k++) {
		const xmlNode *kn = child(media, k == 0 ? "video" : "audio");
		int track = 0;
		for (const xmlNode *tr = child(kn, "track"); tr && !rc; tr = next_el((xmlNode *)tr, "track"))
			rc = xm_track(&x, tr, k == 0 ? DITS_TL_VIDEO : DITS_TL_AUDIO, track++);
	}
	free(x.files);
	xmlFreeDoc(doc);
	return rc;
}

/* ---- FCPXML ---- */

/* An exact time in seconds; arithmetic that leaves int64 sets the context's overflow flag. */
typedef struct fx_time {
	int64_t n, d; /* d > 0 */
} fx_time;

typedef struct fx_asset {
	char id[128];
	const xmlNode *node;
	int media;         /* index in the model once used, else -1 */
	AVRational rate;   /* from its format's frameDuration, {0, 1} when none */
	fx_time start;     /* the media's first time (its start timecode) */
	bool video, audio;
} fx_asset;

typedef struct fx_ctx {
	const char *name;
	dits_timeline *t;
	xmlNode *resources;
	fx_asset *assets;
	size_t nassets;
	char **roles; /* audio roles in order of first use: role k is audio track k */
	size_t nroles;
	int event;
	bool overflow;
	int min_lane;
} fx_ctx;

/*
 * Where an element's local time sits: local(seq) = l + (seq - p) * s, seq
 * being the sequence's time from its first frame; content outside the
 * window [w0, w1) is hidden (trimmed by an enclosing clip).
 */
typedef struct fx_map {
	fx_time p, l, s;
	fx_time w0, w1;
	bool bounded; /* the window applies */
	int lane;     /* video lane of the storyline this element is on */
	bool enabled;
	const char *name; /* the enclosing clip's name, for <video> and <audio> that have none */
} fx_map;

static int64_t gcd64(int64_t a, int64_t b)
{
	if (a < 0)
		a = -a;
	while (b) {
		int64_t r = a % b;
		a = b;
		b = r;
	}
	return a ? a : 1;
}

static fx_time fx_make(fx_ctx *x, i128 n, i128 d)
{
	if (d < 0)
		n = -n, d = -d;
	if (d == 0) {
		x->overflow = true;
		return (fx_time){0, 1};
	}
	/* reduce in 128 bits, then it must fit */
	i128 a = n < 0 ? -n : n, b = d;
	while (b) {
		i128 r = a % b;
		a = b;
		b = r;
	}
	if (a > 1)
		n /= a, d /= a;
	if (n > INT64_MAX / 4 || n < -INT64_MAX / 4 || d > INT64_MAX / 4) {
		x->overflow = true;
		return (fx_time){0, 1};
	}
	return (fx_time){(int64_t)n, (int64_t)d};
}

static fx_time fx_add(fx_ctx *x, fx_time a, fx_time b)
{
	int64_t g = gcd64(a.d, b.d);
	return fx_make(x, (i128)a.n * (b.d / g) + (i128)b.n * (a.d / g), (i128)a.d * (b.d / g));
}

static fx_time fx_sub(fx_ctx *x, fx_time a, fx_time b)
{
	return fx_add(x, a, (fx_time){-b.n, b.d});
}

static fx_time fx_mul(fx_ctx *x, fx_time a, fx_time b)
{
	int64_t g1 = gcd64(a.n, b.d), g2 = gcd64(b.n, a.d);
	return fx_make(x, (i128)(a.n / g1) * (b.n / g2), (i128)(a.d / g2) * (b.d / g1));
}

static fx_time fx_div(fx_ctx *x, fx_time a, fx_time b)
{
	if (b.n == 0) {
		x->overflow = true;
		return (fx_time){0, 1};
	}
	return fx_mul(x, a, (fx_time){b.d, b.n});
}

static int fx_cmp(fx_time a, fx_time b)
{
	i128 l = (i128)a.n * b.d, r = (i128)b.n * a.d;
	return l < r ? -1 : l > r;
}

/* Frames at rate of time t, rounded to the nearest (halves up). */
static int64_t fx_frames(fx_ctx *x, fx_time t, AVRational rate)
{
	fx_time f = fx_mul(x, t, (fx_time){rate.num, rate.den});
	i128 num = (i128)f.n * 2 + f.d, den = (i128)f.d * 2;
	i128 q = num / den;
	if (num % den != 0 && num < 0)
		q--;
	if (q > MAX_FRAMES || q < -MAX_FRAMES) {
		x->overflow = true;
		return 0;
	}
	return (int64_t)q;
}

/* "1001/24000s", "10s", "0s" (and "10.5s"); false when malformed. */
static bool fx_parse_time(fx_ctx *x, const char *s, fx_time *out)
{
	const char *p = s;
	bool neg = *p == '-';
	if (neg)
		p++;
	if (!isdigit((unsigned char)*p))
		return false;
	int64_t n = 0, d = 1;
	for (; isdigit((unsigned char)*p); p++) {
		if (n > INT64_MAX / 100)
			return false;
		n = n * 10 + (*p - '0');
	}
	if (*p == '.') {
		for (p++; isdigit((unsigned char)*p); p++) {
			if (n > INT64_MAX / 100 || d > INT64_MAX / 100)
				return false;
			n = n * 10 + (*p - '0');
			d *= 10;
		}
	} else if (*p == '/') {
		p++;
		if (!isdigit((unsigned char)*p))
			return false;
		int64_t dd = 0;
		for (; isdigit((unsigned char)*p); p++) {
			if (dd > INT64_MAX / 100)
				return false;
			dd = dd * 10 + (*p - '0');
		}
		if (dd == 0)
			return false;
		d = dd;
	}
	if (*p == 's')
		p++;
	if (*p)
		return false;
	bool was = x->overflow;
	x->overflow = false;
	*out = fx_make(x, neg ? -(i128)n : n, d);
	bool ok = !x->overflow;
	x->overflow = was;
	return ok;
}

/* A time attribute: *v untouched and true when absent; false (error set) when malformed. */
static bool fx_attr_time(fx_ctx *x, const xmlNode *n, const char *attr, fx_time *v)
{
	char s[96];
	if (!attr_of(n, attr, s, sizeof(s)))
		return true;
	if (fx_parse_time(x, s, v))
		return true;
	dits_error_set(DITS_EINVALID, "%s: line %d: <%s %s=\"%s\">: not a time", x->name, line_of(n),
	               (const char *)n->name, attr, s);
	return false;
}

/* the resource element with id */
static const xmlNode *fx_resource(fx_ctx *x, const char *id)
{
	for (const xmlNode *c = x->resources ? x->resources->children : NULL; c; c = c->next) {
		char rid[128];
		if (c->type == XML_ELEMENT_NODE && attr_of(c, "id", rid, sizeof(rid)) && strcmp(rid, id) == 0)
			return c;
	}
	return NULL;
}

/* a <format>'s frameDuration as a rate; {0, 1} when it has none */
static AVRational fx_format_rate(fx_ctx *x, const char *id)
{
	const xmlNode *f = fx_resource(x, id);
	char s[96];
	fx_time fd;
	if (!is_el(f, "format") || !attr_of(f, "frameDuration", s, sizeof(s)) || !fx_parse_time(x, s, &fd) ||
	    fd.n <= 0 || fd.n > INT_MAX || fd.d > INT_MAX)
		return (AVRational){0, 1};
	int n, d;
	av_reduce(&n, &d, fd.d, fd.n, INT_MAX);
	return (AVRational){n, d};
}

/* The asset an element's ref names, its media entry added on first use; NULL with the error set. */
static fx_asset *fx_asset_of(fx_ctx *x, const xmlNode *el)
{
	char ref[128];
	if (!attr_of(el, "ref", ref, sizeof(ref))) {
		dits_error_set(DITS_EINVALID, "%s: line %d: <%s> without a ref", x->name, line_of(el),
		               (const char *)el->name);
		return NULL;
	}
	for (size_t i = 0; i < x->nassets; i++)
		if (strcmp(x->assets[i].id, ref) == 0)
			return &x->assets[i];
	const xmlNode *a = fx_resource(x, ref);
	if (!is_el(a, "asset")) {
		dits_error_set(DITS_EINVALID, "%s: line %d: <%s ref=\"%s\"> names no asset in the resources", x->name,
		               line_of(el), (const char *)el->name, ref);
		return NULL;
	}
	fx_asset *v = realloc(x->assets, (x->nassets + 1) * sizeof(*v));
	if (!v) {
		dits_error_set(DITS_ENOMEM, "out of memory");
		return NULL;
	}
	x->assets = v;
	fx_asset *as = &v[x->nassets];
	memset(as, 0, sizeof(*as));
	snprintf(as->id, sizeof(as->id), "%s", ref);
	as->node = a;
	as->start = (fx_time){0, 1};
	if (!fx_attr_time(x, a, "start", &as->start))
		return NULL;
	char s[4096], fmt[128], aname[1024];
	as->rate = attr_of(a, "format", fmt, sizeof(fmt)) ? fx_format_rate(x, fmt) : (AVRational){0, 1};
	/* without hasVideo / hasAudio: video when its format has a frame rate, else audio */
	as->video = attr_of(a, "hasVideo", s, sizeof(s)) ? strcmp(s, "1") == 0 : as->rate.num > 0;
	as->audio = attr_of(a, "hasAudio", s, sizeof(s)) ? strcmp(s, "1") == 0 : !as->video;
	bool has_src = attr_of(a, "src", s, sizeof(s));
	if (!has_src) /* FCPXML 1.9+: <media-rep kind="original-media" src=...> */
		for (const xmlNode *m = child(a, "media-rep"); m && !has_src; m = next_el((xmlNode *)m, "media-rep")) {
			char kind[64];
			if (!attr_of(m, "kind", kind, sizeof(kind)) || strcmp(kind, "original-media") == 0)
				has_src = attr_of(m, "src", s, sizeof(s));
		}
	char *path = has_src && s[0] ? url_to_path(s) : NULL;
	if (has_src && s[0] && !path) {
		dits_error_set(DITS_ENOMEM, "out of memory");
		return NULL;
	}
	bool has_name = attr_of(a, "name", aname, sizeof(aname)) && aname[0];
	int64_t tc = as->rate.num > 0 ? fx_frames(x, as->start, as->rate) : -1;
	int m = media_tl_add_media(x->t, has_name ? aname : NULL, path, NULL, as->rate, tc);
	free(path);
	if (m < 0)
		return NULL;
	as->media = m;
	x->nassets++;
	return as;
}

/* the audio track of a role ("dialogue.dialogue-1" and "dialogue" are different tracks) */
static int fx_role_track(fx_ctx *x, const char *role)
{
	for (size_t i = 0; i < x->nroles; i++)
		if (strcmp(x->roles[i], role) == 0)
			return (int)i;
	char **v = realloc(x->roles, (x->nroles + 1) * sizeof(*v));
	if (!v)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	x->roles = v;
	if (!(v[x->nroles] = strdup(role)))
		return dits_error_set(DITS_ENOMEM, "out of memory");
	return (int)x->nroles++;
}

static fx_time fx_to_seq(fx_ctx *x, const fx_map *m, fx_time local)
{
	return fx_add(x, m->p, fx_div(x, fx_sub(x, local, m->l), m->s));
}

static fx_time fx_to_local(fx_ctx *x, const fx_map *m, fx_time seq)
{
	return fx_add(x, m->l, fx_mul(x, fx_sub(x, seq, m->p), m->s));
}

/* what an element placed on a storyline left behind: its main video and audio clips */
typedef struct fx_made {
	long video, audio; /* indices in t->clips, -1 none */
} fx_made;

/*
 * One media clip: the element covers [b, e) in sequence time, its content
 * time at sequence time seq is content(seq) (map cm). Added when visible.
 */
static int fx_add_clip(fx_ctx *x, const xmlNode *el, const fx_map *cm, fx_time b, fx_time e, fx_asset *as,
                       int kind, int track, int event, long *idx)
{
	*idx = -1;
	if (b.n < 0) /* nothing before the sequence's first frame is shown */
		b = (fx_time){0, 1};
	if (cm->bounded) {
		if (fx_cmp(b, cm->w0) < 0)
			b = cm->w0;
		if (fx_cmp(e, cm->w1) > 0)
			e = cm->w1;
	}
	AVRational rate = x->t->rate;
	int64_t rin = fx_frames(x, b, rate), rout = fx_frames(x, e, rate);
	if (rout <= rin)
		return 0; /* hidden by its container, or shorter than a frame */
	AVRational src_rate = as->rate.num > 0 ? as->rate : rate;
	fx_time at = fx_make(x, (i128)rin * rate.den, rate.num);
	int64_t src_in = fx_frames(x, fx_to_local(x, cm, at), src_rate);
	char cname[1024];
	bool has_name = attr_of(el, "name", cname, sizeof(cname)) && cname[0];
	if (!has_name && cm->name && cm->name[0]) {
		snprintf(cname, sizeof(cname), "%s", cm->name);
		has_name = true;
	}
	char en[8];
	bool on = cm->enabled && !(attr_of(el, "enabled", en, sizeof(en)) && strcmp(en, "0") == 0);
	/* source frames per record frame: content seconds per sequence second, in frames */
	fx_time sp = fx_mul(x, cm->s, fx_make(x, (i128)src_rate.num * rate.den, (i128)src_rate.den * rate.num));
	int sn, sd;
	av_reduce(&sn, &sd, sp.n, sp.d, INT_MAX);
	if (x->overflow)
		return dits_error_set(DITS_EINVALID, "%s: line %d: <%s>: time out of range", x->name, line_of(el),
		                      (const char *)el->name);
	dits_tl_clip c = {
		.kind = kind,
		.track = track,
		.event = event,
		.media = as->media,
		.name = has_name ? cname : NULL,
		.rec_in = rin,
		.rec_out = rout,
		.src_in = src_in,
		.src_rate = src_rate,
		.speed = {sn, sd},
		.src_channel = -1,
		.enabled = on,
	};
	if (kind == DITS_TL_VIDEO && track < x->min_lane)
		x->min_lane = track;
	int rc = media_tl_add_clip(x->t, &c);
	if (rc)
		return rc;
	*idx = (long)x->t->nclips - 1;
	return 0;
}

static int fx_items(fx_ctx *x, const xmlNode *first, const fx_map *m, bool storyline);

/*
 * The content map of an element at [b, ...) whose local time starts at
 * start: a linear timeMap or a conform-rate scales it.
 */
static int fx_content(fx_ctx *x, const xmlNode *el, const fx_map *m, fx_time b, fx_time start, int event,
                      fx_map *cm)
{
	*cm = *m;
	cm->p = b;
	cm->l = start;
	const xmlNode *tm = child(el, "timeMap");
	if (tm) {
		const xmlNode *p0 = child(tm, "timept");
		const xmlNode *p1 = p0 ? next_el((xmlNode *)p0, "timept") : NULL;
		char interp[32];
		fx_time t0 = {0, 1}, v0 = {0, 1}, t1 = {0, 1}, v1 = {0, 1};
		bool linear = p0 && p1 && !next_el((xmlNode *)p1, "timept");
		if (linear && attr_of(p0, "interp", interp, sizeof(interp)) && strcmp(interp, "linear") != 0)
			linear = false;
		if (linear && (!fx_attr_time(x, p0, "time", &t0) || !fx_attr_time(x, p0, "value", &v0) ||
		               !fx_attr_time(x, p1, "time", &t1) || !fx_attr_time(x, p1, "value", &v1)))
			return DITS_EINVALID;
		if (linear && fx_cmp(t1, t0) > 0) {
			fx_time k = fx_div(x, fx_sub(x, v1, v0), fx_sub(x, t1, t0));
			/* content(local) = v0 + (local - t0) * k */
			cm->l = fx_add(x, v0, fx_mul(x, fx_sub(x, start, t0), k));
			cm->s = fx_mul(x, m->s, k);
		} else {
			int rc = media_tl_skip(x->t, "retime", event);
			if (rc)
				return rc;
		}
	}
	const xmlNode *cr = child(el, "conform-rate");
	char s[64], se[8];
	fx_time src;
	if (cr && attr_of(cr, "srcFrameRate", s, sizeof(s)) && fx_parse_time(x, s, &src) && src.n > 0 &&
	    !(attr_of(cr, "scaleEnabled", se, sizeof(se)) && strcmp(se, "0") == 0)) {
		/* frame for frame: the source's rate played at the sequence's */
		fx_time k = fx_div(x, (fx_time){x->t->rate.num, x->t->rate.den}, src);
		cm->l = start;
		cm->s = fx_mul(x, cm->s, k);
	}
	return 0;
}

/* One story element on a storyline or inside a clip; made gets its main clips. */
static int fx_item(fx_ctx *x, const xmlNode *el, const fx_map *m, fx_made *made)
{
	made->video = made->audio = -1;
	const char *en = (const char *)el->name;
	bool asset_clip = strcmp(en, "asset-clip") == 0, clip = strcmp(en, "clip") == 0;
	bool video = strcmp(en, "video") == 0, audio = strcmp(en, "audio") == 0, gap = strcmp(en, "gap") == 0;
	bool spine = strcmp(en, "spine") == 0;
	int event = ++x->event;
	if (strncmp(en, "filter-", 7) == 0)
		return media_tl_skip(x->t, "filter", event);
	if (strcmp(en, "title") == 0)
		return media_tl_skip(x->t, "title", event);
	if (strcmp(en, "ref-clip") == 0)
		return media_tl_skip(x->t, "compound clip", event);
	if (strcmp(en, "sync-clip") == 0)
		return media_tl_skip(x->t, "sync clip", event);
	if (strcmp(en, "mc-clip") == 0)
		return media_tl_skip(x->t, "multicam clip", event);
	if (!asset_clip && !clip && !video && !audio && !gap && !spine)
		return 0; /* markers, keywords, notes, metadata, adjustments */
	char s[64];
	int64_t lane = 0;
	if (attr_of(el, "lane", s, sizeof(s)) && (!parse_int(s, &lane) || lane < -1000 || lane > 1000))
		return dits_error_set(DITS_EINVALID, "%s: line %d: <%s lane=\"%s\">", x->name, line_of(el), en, s);
	fx_time o = {0, 1}, d = {0, 1}, st = {0, 1};
	if (!fx_attr_time(x, el, "offset", &o) || !fx_attr_time(x, el, "duration", &d))
		return DITS_EINVALID;
	fx_asset *as = NULL;
	if (asset_clip || video || audio) {
		if (!(as = fx_asset_of(x, el)))
			return DITS_EINVALID;
		st = as->start; /* no start: the media's first frame */
	}
	if (!fx_attr_time(x, el, "start", &st))
		return DITS_EINVALID;
	if (d.n < 0)
		return dits_error_set(DITS_EINVALID, "%s: line %d: <%s> with a negative duration", x->name, line_of(el), en);
	fx_time b = fx_to_seq(x, m, o);
	fx_time e = fx_add(x, b, fx_div(x, d, m->s));
	if (m->s.n < 0) {
		fx_time tmp = b;
		b = e, e = tmp;
	}
	fx_map cm;
	int rc = fx_content(x, el, m, b, st, event, &cm);
	if (rc)
		return rc;
	cm.lane = m->lane + (int)lane;
	char own_name[1024];
	if ((clip || asset_clip) && attr_of(el, "name", own_name, sizeof(own_name)) && own_name[0])
		cm.name = own_name;
	char en_attr[8];
	if (attr_of(el, "enabled", en_attr, sizeof(en_attr)) && strcmp(en_attr, "0") == 0)
		cm.enabled = false;
	if (spine) {
		/* a secondary storyline: its items' offsets count from its own zero */
		cm.l = (fx_time){0, 1};
		cm.s = m->s;
		return fx_items(x, el->children, &cm, true);
	}
	if (as) {
		char sen[16] = "all", role[256];
		attr_of(el, "srcEnable", sen, sizeof(sen));
		bool want_v = (asset_clip || video) && as->video && strcmp(sen, "audio") != 0;
		bool want_a = (asset_clip && as->audio && strcmp(sen, "video") != 0) || audio;
		if (want_v && (rc = fx_add_clip(x, el, &cm, b, e, as, DITS_TL_VIDEO, cm.lane, event, &made->video)))
			return rc;
		if (want_a) {
			if (!attr_of(el, audio ? "role" : "audioRole", role, sizeof(role)) || !role[0])
				snprintf(role, sizeof(role), "dialogue");
			int track = fx_role_track(x, role);
			if (track < 0)
				return track;
			if ((rc = fx_add_clip(x, el, &cm, b, e, as, DITS_TL_AUDIO, track, event, &made->audio)))
				return rc;
		}
	}
	/* what the element holds: a clip's own content is trimmed to the clip; connected clips are not */
	fx_map inner = cm;
	if (clip) {
		if (!inner.bounded || fx_cmp(b, inner.w0) > 0)
			inner.w0 = b;
		if (!inner.bounded || fx_cmp(e, inner.w1) < 0)
			inner.w1 = e;
		inner.bounded = true;
	} else {
		inner = cm;
		inner.l = st; /* connected clips' offsets count in the element's own time, before any retime */
		inner.s = m->s;
	}
	if (clip) {
		/* the clip's primary video is its main clip */
		for (const xmlNode *c = el->children; c && !rc; c = c->next) {
			if (c->type != XML_ELEMENT_NODE)
				continue;
			fx_made sub;
			rc = fx_item(x, c, &inner, &sub);
			char l[16];
			if (!rc && !attr_of(c, "lane", l, sizeof(l)) && made->video < 0 && sub.video >= 0)
				made->video = sub.video;
		}
		return rc;
	}
	return fx_items(x, el->children, &inner, false);
}

/* Carries a transition over [ts, te) between the clips before and after it. */
static void fx_dissolve(dits_timeline *t, long a, long b, int64_t ts, int64_t te)
{
	dits_tl_clip *ca = &t->clips[a], *cb = &t->clips[b];
	if (ca->kind != cb->kind || ca->track != cb->track || ca->rec_out != cb->rec_in)
		return;
	if (ts < ca->rec_in)
		ts = ca->rec_in;
	if (ts >= cb->rec_in || te <= cb->rec_in)
		return;
	ca->rec_out = ts;
	move_in(cb, ts);
	int64_t d = te - ts;
	cb->dissolve = d < cb->rec_out - cb->rec_in ? d : cb->rec_out - cb->rec_in;
}

/*
 * The elements from first on: on a storyline (a spine) a transition mixes
 * the items either side of it, in the model's form (carried by the
 * incoming clip); anything else there is a fade, reported.
 */
static int fx_items(fx_ctx *x, const xmlNode *first, const fx_map *m, bool storyline)
{
	int rc = 0;
	fx_made prev = {-1, -1};
	const xmlNode *pend = NULL; /* a transition waiting for the item after it */
	fx_made pend_prev = {-1, -1};
	int pend_event = 0;
	bool prev_item = false;
	for (const xmlNode *c = first; c && !rc; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (storyline && is_el(c, "transition")) {
			if (pend)
				rc = media_tl_skip(x->t, "fade", pend_event);
			pend = c;
			pend_prev = prev_item ? prev : (fx_made){-1, -1};
			pend_event = ++x->event;
			continue;
		}
		fx_made made;
		char l[16];
		bool connected = attr_of(c, "lane", l, sizeof(l));
		rc = fx_item(x, c, m, &made);
		if (rc || connected || !storyline)
			continue;
		if (pend) {
			fx_time o = {0, 1}, d = {0, 1};
			char nm[128] = "";
			attr_of(pend, "name", nm, sizeof(nm));
			const xmlNode *fv = child(pend, "filter-video");
			char fvn[128] = "";
			attr_of(fv, "name", fvn, sizeof(fvn));
			bool dissolve = !fv || icontains(fvn, "dissolve") || (!fvn[0] && icontains(nm, "dissolve"));
			if (!fx_attr_time(x, pend, "offset", &o) || !fx_attr_time(x, pend, "duration", &d)) {
				rc = DITS_EINVALID;
				break;
			}
			fx_time tb = fx_to_seq(x, m, o), tend = fx_add(x, tb, fx_div(x, d, m->s));
			int64_t ts = fx_frames(x, tb, x->t->rate), te = fx_frames(x, tend, x->t->rate);
			bool done = false;
			if (pend_prev.video >= 0 && made.video >= 0) {
				if (dissolve)
					fx_dissolve(x->t, pend_prev.video, made.video, ts, te);
				done = true;
			}
			if (pend_prev.audio >= 0 && made.audio >= 0) {
				fx_dissolve(x->t, pend_prev.audio, made.audio, ts, te);
				done = true;
			}
			if (!done || !dissolve)
				rc = media_tl_skip(x->t, done ? "transition" : "fade", pend_event);
			pend = NULL;
		}
		prev = made;
		prev_item = true;
	}
	if (!rc && pend)
		rc = media_tl_skip(x->t, "fade", pend_event);
	return rc;
}

int media_tl_parse_fcpxml(const char *data, size_t len, const char *name, dits_timeline *out)
{
	xmlDocPtr doc = read_doc(data, len, name);
	if (!doc)
		return DITS_EINVALID;
	fx_ctx x = {.name = name, .t = out};
	xmlNode *root = xmlDocGetRootElement(doc);
	int rc = 0;
	xmlNode *project = is_el(root, "fcpxml") ? find(root->children, "project") : NULL;
	xmlNode *seq = project ? child(project, "sequence") : NULL;
	xmlNode *spine = seq ? child(seq, "spine") : NULL;
	x.resources = is_el(root, "fcpxml") ? child(root, "resources") : NULL;
	char s[1024];
	if (!is_el(root, "fcpxml"))
		rc = dits_error_set(DITS_EINVALID, "%s: line %d: <%s> is not an FCPXML document (<fcpxml> expected)", name,
		                    line_of(root), (const char *)root->name);
	else if (!project)
		rc = dits_error_set(DITS_EINVALID, "%s: no <project> in the document (clips only, no timeline)", name);
	else if (!seq || !spine)
		rc = dits_error_set(DITS_EINVALID, "%s: line %d: <project> without a <sequence> and its <spine>", name,
		                    line_of(project));
	fx_time tc = {0, 1};
	if (!rc) {
		out->rate = attr_of(seq, "format", s, sizeof(s)) ? fx_format_rate(&x, s) : (AVRational){0, 1};
		if (out->rate.num <= 0)
			rc = dits_error_set(DITS_EINVALID, "%s: line %d: <sequence> without a format with a frameDuration",
			                    name, line_of(seq));
	}
	if (!rc) {
		if (attr_of(project, "name", s, sizeof(s)) && s[0] && !(out->name = strdup(s)))
			rc = dits_error_set(DITS_ENOMEM, "out of memory");
		if (!rc && !fx_attr_time(&x, seq, "tcStart", &tc))
			rc = DITS_EINVALID;
		if (!rc) {
			out->rec_start = fx_frames(&x, tc, out->rate);
			out->drop_frame = attr_of(seq, "tcFormat", s, sizeof(s)) && strcmp(s, "DF") == 0 &&
			                  dits_tc_can_drop(out->rate.num, out->rate.den);
			if (out->rec_start < 0 || x.overflow)
				rc = dits_error_set(DITS_EINVALID, "%s: line %d: <sequence tcStart>: out of range", name,
				                    line_of(seq));
		}
	}
	if (!rc) {
		fx_map m = {.p = {0, 1}, .l = {0, 1}, .s = {1, 1}, .w0 = {0, 1}, .w1 = {0, 1}, .enabled = true};
		/*
		 * The sequence's time starts at tcStart: Final Cut Pro and Resolve
		 * put the spine's first item at offset tcStart, so record frame 0
		 * is there. A spine that starts before tcStart counts from zero.
		 */
		fx_time o0;
		const xmlNode *first = spine->children;
		while (first && first->type != XML_ELEMENT_NODE)
			first = first->next;
		if (first && attr_of(first, "offset", s, sizeof(s)) && fx_parse_time(&x, s, &o0) && fx_cmp(o0, tc) >= 0)
			m.l = tc;
		rc = fx_items(&x, spine->children, &m, true);
		if (!rc && x.overflow)
			rc = dits_error_set(DITS_EINVALID, "%s: a time out of range", name);
	}
	/* lanes below the storyline: the lowest video lane is track 0 */
	if (!rc && x.min_lane < 0)
		for (size_t i = 0; i < out->nclips; i++)
			if (out->clips[i].kind == DITS_TL_VIDEO)
				out->clips[i].track -= x.min_lane;
	free(x.assets);
	for (size_t i = 0; i < x.nroles; i++)
		free(x.roles[i]);
	free(x.roles);
	xmlFreeDoc(doc);
	return rc;
}
