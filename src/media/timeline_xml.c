/*
 * timeline_xml.c - the XML timelines: Final Cut Pro 7 XML (xmeml v4/v5, as
 * Premiere, Resolve and Hiero write it) and FCPXML 1.8-1.11, read with
 * libxml2 into the model of timeline.h (see docs/TIMELINES-XML.md).
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
		dits_error_set(DITS_EINVALID, "%s: line %d: the document declares entities or a DTD (not read)", name,
		               dtd->children ? (int)xmlGetLineNo(dtd->children) : 1);
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

/* every <file id> with content, in document order (a later <file id="x"/> refers back to it) */
static int xm_collect_files(xm_ctx *x, xmlNode *n)
{
	for (; n; n = n->next) {
		if (n->type != XML_ELEMENT_NODE)
			continue;
		char id[128];
		if (is_el(n, "file") && attr_of(n, "id", id, sizeof(id)) && child(n, "name") != NULL) {
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

int media_tl_parse_fcpxml(const char *data, size_t len, const char *name, dits_timeline *out)
{
	(void)data, (void)len, (void)out;
	return dits_error_set(DITS_EINVALID, "%s: FCPXML not read yet", name);
}
