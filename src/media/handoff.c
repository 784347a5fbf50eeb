/*
 * NLE handoff: the model of the checkout's clips and its writers (see
 * handoff.h and docs/NLE.md).
 */
#include "handoff.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <libxml/xmlwriter.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "buf.h"
#include "error.h"
#include "fsutil.h"
#include "hologram.h"
#include "index.h"
#include "ingest.h"
#include "metadb.h"

static const char *const nle_names[] = { "resolve", "premiere", "fcpx", "avid" };

int dits_nle_from_name(const char *name)
{
	for (int i = 0; name && i < (int)(sizeof nle_names / sizeof *nle_names); i++)
		if (!strcmp(name, nle_names[i]))
			return i;
	return -1;
}

const char *dits_nle_name(int nle)
{
	return nle >= 0 && nle < (int)(sizeof nle_names / sizeof *nle_names) ? nle_names[nle] : "?";
}

/* ---- helpers ------------------------------------------------------------- */

char *dits_file_url(const char *prefix, const char *abs_path)
{
	static const char hex[] = "0123456789ABCDEF";
	dits_buf b = DITS_BUF_INIT;
	dits_buf_puts(&b, prefix);
	for (const unsigned char *p = (const unsigned char *)abs_path; *p; p++) {
		unsigned char c = *p;
		bool keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
		            c == '.' || c == '_' || c == '~' || c == '/';
		if (keep)
			dits_buf_printf(&b, "%c", c);
		else
			dits_buf_printf(&b, "%%%c%c", hex[c >> 4], hex[c & 15]);
	}
	if (dits_buf_cstr(&b) < 0) {
		dits_buf_free(&b);
		dits_error_set(DITS_ENOMEM, "out of memory");
		return NULL;
	}
	return (char *)b.data;
}

void dits_ale_fps(int num, int den, char *out, size_t cap)
{
	if (den == 1) {
		snprintf(out, cap, "%d", num);
		return;
	}
	/* 30000/1001 -> 29.97, 24000/1001 -> 23.976: three decimals, trailing zeros dropped. */
	snprintf(out, cap, "%.3f", (double)num / den);
	size_t n = strlen(out);
	while (n > 0 && out[n - 1] == '0')
		out[--n] = 0;
	if (n > 0 && out[n - 1] == '.')
		out[--n] = 0;
}

static bool parse_rational(const char *s, int *num, int *den)
{
	char *end;
	long n = strtol(s, &end, 10);
	if (end == s || *end != '/')
		return false;
	const char *d0 = end + 1;
	long d = strtol(d0, &end, 10);
	if (end == d0 || *end || n <= 0 || d <= 0 || n > INT_MAX || d > INT_MAX)
		return false;
	*num = (int)n;
	*den = (int)d;
	return true;
}

/* The file name of path without its directory and extension. */
static char *stem_of(const char *path)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	const char *dot = strrchr(base, '.');
	size_t n = dot && dot != base ? (size_t)(dot - base) : strlen(base);
	return strndup(base, n);
}

/* ---- the model ----------------------------------------------------------- */

static int add_missing(dits_handoff *h, const char *path, const char *why)
{
	dits_handoff_missing *m = realloc(h->missing, (h->nmissing + 1) * sizeof *m);
	if (!m)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	h->missing = m;
	m[h->nmissing].path = strdup(path);
	m[h->nmissing].why = strdup(why);
	if (!m[h->nmissing].path || !m[h->nmissing].why) {
		free(m[h->nmissing].path);
		free(m[h->nmissing].why);
		return dits_error_set(DITS_ENOMEM, "out of memory");
	}
	h->nmissing++;
	return 0;
}

/* The proxy's facts into c: rate, frame count, timecode, audio, reel_name when present. */
static int clip_from_facts(dits_handoff_clip *c, const char *facts, const char *path)
{
	cJSON *j = cJSON_Parse(facts ? facts : "");
	if (!j)
		return dits_error_set(DITS_ECORRUPT, "%s: the proxy's facts are not JSON", path);
	int rc = 0;
	const cJSON *rate = cJSON_GetObjectItemCaseSensitive(j, "frame_rate");
	const cJSON *count = cJSON_GetObjectItemCaseSensitive(j, "frame_count");
	const cJSON *tc = cJSON_GetObjectItemCaseSensitive(j, "timecode");
	const cJSON *audio = cJSON_GetObjectItemCaseSensitive(j, "audio");
	const cJSON *reel = cJSON_GetObjectItemCaseSensitive(j, "reel_name");
	if (!cJSON_IsString(rate) || !parse_rational(rate->valuestring, &c->rate_num, &c->rate_den) ||
	    !dits_tc_fps(c->rate_num, c->rate_den))
		rc = dits_error_set(DITS_ECORRUPT, "%s: the proxy's facts have no frame rate", path);
	else if (!cJSON_IsNumber(count) || count->valuedouble < 0)
		rc = dits_error_set(DITS_ECORRUPT, "%s: the proxy's facts have no frame count", path);
	if (!rc) {
		c->frames = (int64_t)count->valuedouble;
		const char *label = cJSON_IsString(tc) && tc->valuestring[0] ? tc->valuestring : NULL;
		if (label) {
			rc = dits_tc_parse(label, c->rate_num, c->rate_den, &c->start_frame, &c->drop);
			if (rc)
				rc = dits_error_set(DITS_ECORRUPT, "%s: start timecode: %s", path, dits_error_last());
		} else {
			/* No timecode track: NLEs start such clips at zero, drop-frame at 29.97 and 59.94. */
			c->drop = dits_tc_can_drop(c->rate_num, c->rate_den);
			c->start_frame = 0;
		}
	}
	if (!rc)
		rc = dits_tc_format(c->start_frame, c->rate_num, c->rate_den, c->drop, c->timecode);
	const cJSON *a, *streams = cJSON_IsArray(audio) ? audio : NULL;
	cJSON_ArrayForEach(a, streams) {
		if (rc || c->naudio >= DITS_MEDIA_MAX_AUDIO)
			break;
		const cJSON *ch = cJSON_GetObjectItemCaseSensitive(a, "channels");
		const cJSON *sr = cJSON_GetObjectItemCaseSensitive(a, "sample_rate");
		c->channels[c->naudio] = cJSON_IsNumber(ch) ? ch->valueint : 0;
		if (c->naudio == 0 && cJSON_IsNumber(sr))
			c->audio_rate = sr->valueint;
		c->naudio++;
	}
	if (!rc && cJSON_IsString(reel) && reel->valuestring[0])
		snprintf(c->reel, sizeof c->reel, "%s", reel->valuestring);
	cJSON_Delete(j);
	return rc;
}

static void clip_free(dits_handoff_clip *c)
{
	free(c->path);
	free(c->master);
	free(c->proxy);
	free(c->name);
	memset(c, 0, sizeof *c);
}

/*
 * One video file into h: a clip, or a missing entry with the reason.
 * A failure to allocate is the only error.
 */
static int collect_one(dits_repo *r, dits_metadb *db, const char *type, const dits_index_entry *e, dits_handoff *h)
{
	char why[512];
	if (e->flags & DITS_INDEX_PROXY)
		return add_missing(h, e->path, "the worktree holds its proxy, not the master (dits mode master)");
	dits_variant v;
	int rc = dits_variant_get(db, &e->id, type, &v);
	if (rc == DITS_ENOTFOUND) {
		dits_error_clear();
		snprintf(why, sizeof why, "no %s variant", type);
		return add_missing(h, e->path, why);
	}
	if (rc) {
		snprintf(why, sizeof why, "%s", dits_error_last());
		dits_error_clear();
		return add_missing(h, e->path, why);
	}
	if (strcmp(v.status, "ready") || !v.has_manifest) {
		snprintf(why, sizeof why, "the %s variant is %s", type, v.status);
		dits_variant_free(&v);
		return add_missing(h, e->path, why);
	}
	dits_handoff_clip c = { 0 };
	c.proxy_manifest = v.manifest;
	c.proxy_size = v.size;
	rc = clip_from_facts(&c, v.facts, e->path);
	dits_variant_free(&v);
	if (!rc) {
		c.path = strdup(e->path);
		c.master = dits_strfmt("%s/%s", dits_repo_workdir(r), e->path);
		c.name = stem_of(e->path);
		const char *slash = strrchr(e->path, '/');
		c.proxy = slash ? dits_strfmt("%s/%.*s/Proxy/%s.mov", h->dir, (int)(slash - e->path), e->path, c.name)
		                : dits_strfmt("%s/Proxy/%s.mov", h->dir, c.name);
		if (!c.path || !c.master || !c.name || !c.proxy) {
			clip_free(&c);
			return dits_error_set(DITS_ENOMEM, "out of memory");
		}
	}
	for (size_t k = 0; !rc && k < h->n; k++) {
		/* A.mov and A.mxf in one directory would share Proxy/A.mov: the first keeps it. */
		if (!strcmp(h->clips[k].proxy, c.proxy)) {
			snprintf(why, sizeof why, "its proxy's name is taken by %s's (%s)", h->clips[k].path, c.proxy);
			clip_free(&c);
			return add_missing(h, e->path, why);
		}
	}
	if (!rc) {
		/* The proxy shares the master's timing; the frame size is the master's own. */
		dits_media_source src;
		dits_media_header hd;
		rc = dits_media_source_open_file(&src, c.master);
		if (!rc) {
			src.name = e->path;
			rc = dits_media_probe_header(&src, &hd);
			dits_media_source_close_file(&src);
		}
		if (!rc) {
			c.width = hd.width;
			c.height = hd.height;
			c.sar_num = hd.sar.num;
			c.sar_den = hd.sar.den;
			if (!c.reel[0])
				snprintf(c.reel, sizeof c.reel, "%s", hd.reel_name[0] ? hd.reel_name : c.name);
		}
	}
	if (rc) {
		snprintf(why, sizeof why, "%s", dits_error_last());
		dits_error_clear();
		/* The reason names the file already; keep it once. */
		size_t pl = strlen(e->path);
		const char *w = !strncmp(why, e->path, pl) && !strncmp(why + pl, ": ", 2) ? why + pl + 2 : why;
		clip_free(&c);
		return add_missing(h, e->path, w);
	}
	dits_handoff_clip *nc = realloc(h->clips, (h->n + 1) * sizeof *nc);
	if (!nc) {
		clip_free(&c);
		return dits_error_set(DITS_ENOMEM, "out of memory");
	}
	h->clips = nc;
	h->clips[h->n++] = c;
	return 0;
}

int dits_handoff_collect(dits_repo *r, const char *type, const char *dir, dits_handoff *h)
{
	memset(h, 0, sizeof *h);
	int rc = dits_mkdir_p(dir, 0755);
	if (rc)
		return rc;
	char *abs = realpath(dir, NULL);
	if (!abs)
		return dits_error_set(DITS_EIO, "%s: %s", dir, strerror(errno));
	h->dir = abs;
	const char *base = strrchr(dits_repo_workdir(r), '/');
	h->title = strdup(base && base[1] ? base + 1 : dits_repo_workdir(r));
	if (!h->title) {
		dits_handoff_free(h);
		return dits_error_set(DITS_ENOMEM, "out of memory");
	}
	dits_index idx;
	if ((rc = dits_index_load(r, &idx))) {
		dits_handoff_free(h);
		return rc;
	}
	dits_metadb *db = NULL;
	bool any = false;
	for (size_t i = 0; i < idx.n && !any; i++)
		any = dits_hologram_is_video_path(idx.e[i].path);
	if (any)
		rc = dits_metadb_open_repo(&db, r);
	for (size_t i = 0; i < idx.n && !rc; i++)
		if (dits_hologram_is_video_path(idx.e[i].path))
			rc = collect_one(r, db, type, &idx.e[i], h);
	if (db)
		dits_metadb_close(db);
	dits_index_free(&idx);
	if (rc)
		dits_handoff_free(h);
	return rc;
}

void dits_handoff_free(dits_handoff *h)
{
	for (size_t i = 0; i < h->n; i++)
		clip_free(&h->clips[i]);
	for (size_t i = 0; i < h->nmissing; i++) {
		free(h->missing[i].path);
		free(h->missing[i].why);
	}
	free(h->clips);
	free(h->missing);
	free(h->title);
	free(h->dir);
	memset(h, 0, sizeof *h);
}

int dits_handoff_write_proxies(dits_repo *r, const dits_handoff *h)
{
	for (size_t i = 0; i < h->n; i++) {
		const dits_handoff_clip *c = &h->clips[i];
		char *parent = strdup(c->proxy);
		if (!parent)
			return dits_error_set(DITS_ENOMEM, "out of memory");
		*strrchr(parent, '/') = 0;
		int rc = dits_mkdir_p(parent, 0755);
		free(parent);
		dits_manifest m;
		if (!rc && !(rc = dits_manifest_read(dits_repo_odb(r), &c->proxy_manifest, &m))) {
			rc = dits_materialize(dits_repo_odb(r), &m, c->proxy, NULL, 0644, NULL, NULL, NULL);
			dits_manifest_free(&m);
		}
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- XML ------------------------------------------------------------------ */

typedef struct xml_out {
	xmlBufferPtr buf;
	xmlTextWriterPtr w;
	int err;
} xml_out;

static int xml_begin(xml_out *x, const char *root_dtd)
{
	memset(x, 0, sizeof *x);
	x->buf = xmlBufferCreate();
	x->w = x->buf ? xmlNewTextWriterMemory(x->buf, 0) : NULL;
	if (!x->w) {
		if (x->buf)
			xmlBufferFree(x->buf);
		return dits_error_set(DITS_ENOMEM, "out of memory");
	}
	xmlTextWriterSetIndent(x->w, 1);
	xmlTextWriterSetIndentString(x->w, BAD_CAST "\t");
	if (xmlTextWriterStartDocument(x->w, "1.0", "UTF-8", NULL) < 0 ||
	    xmlTextWriterWriteDTD(x->w, BAD_CAST root_dtd, NULL, NULL, NULL) < 0)
		x->err = 1;
	return 0;
}

static void el_start(xml_out *x, const char *name)
{
	if (!x->err && xmlTextWriterStartElement(x->w, BAD_CAST name) < 0)
		x->err = 1;
}

static void el_end(xml_out *x)
{
	if (!x->err && xmlTextWriterEndElement(x->w) < 0)
		x->err = 1;
}

static void attr(xml_out *x, const char *name, const char *value)
{
	if (!x->err && xmlTextWriterWriteAttribute(x->w, BAD_CAST name, BAD_CAST value) < 0)
		x->err = 1;
}

static void attrf(xml_out *x, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void attrf(xml_out *x, const char *name, const char *fmt, ...)
{
	char v[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(v, sizeof v, fmt, ap);
	va_end(ap);
	attr(x, name, v);
}

static void text_el(xml_out *x, const char *name, const char *value)
{
	if (!x->err && xmlTextWriterWriteElement(x->w, BAD_CAST name, BAD_CAST value) < 0)
		x->err = 1;
}

static void text_elf(xml_out *x, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void text_elf(xml_out *x, const char *name, const char *fmt, ...)
{
	char v[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(v, sizeof v, fmt, ap);
	va_end(ap);
	text_el(x, name, v);
}

/* Ends the document and writes it to path atomically. */
static int xml_finish(xml_out *x, const char *path)
{
	if (!x->err && xmlTextWriterEndDocument(x->w) < 0)
		x->err = 1;
	xmlFreeTextWriter(x->w);
	int rc = x->err ? dits_error_set(DITS_ERROR, "%s: the XML writer failed", path)
	                : dits_atomic_write(path, xmlBufferContent(x->buf), (size_t)xmlBufferLength(x->buf));
	xmlBufferFree(x->buf);
	return rc;
}

/* ---- FCPXML 1.10 ---------------------------------------------------------- */

/* The index of the first clip with c's format (frame size, aspect, rate). */
static size_t format_of(const dits_handoff *h, size_t i)
{
	const dits_handoff_clip *c = &h->clips[i];
	for (size_t k = 0; k < i; k++) {
		const dits_handoff_clip *o = &h->clips[k];
		if (o->width == c->width && o->height == c->height && o->sar_num == c->sar_num &&
		    o->sar_den == c->sar_den && o->rate_num == c->rate_num && o->rate_den == c->rate_den)
			return k;
	}
	return i;
}

int dits_handoff_write_fcpxml(const dits_handoff *h, const char *path)
{
	xml_out x;
	int rc = xml_begin(&x, "fcpxml");
	if (rc)
		return rc;
	char t[64];
	el_start(&x, "fcpxml");
	attr(&x, "version", "1.10");
	el_start(&x, "resources");
	/* Formats "r<i+1>" (one per distinct frame size, aspect and rate), assets "a<i+1>". */
	for (size_t i = 0; i < h->n && !rc; i++) {
		const dits_handoff_clip *c = &h->clips[i];
		if (format_of(h, i) != i)
			continue;
		el_start(&x, "format");
		attrf(&x, "id", "r%zu", i + 1);
		rc = dits_tc_rational_seconds(1, c->rate_num, c->rate_den, t, sizeof t);
		attr(&x, "frameDuration", t);
		attrf(&x, "width", "%d", c->width);
		attrf(&x, "height", "%d", c->height);
		if (c->sar_num != c->sar_den) {
			attrf(&x, "paspH", "%d", c->sar_num);
			attrf(&x, "paspV", "%d", c->sar_den);
		}
		el_end(&x);
	}
	for (size_t i = 0; i < h->n && !rc; i++) {
		const dits_handoff_clip *c = &h->clips[i];
		char start[64], dur[64];
		if ((rc = dits_tc_rational_seconds(c->start_frame, c->rate_num, c->rate_den, start, sizeof start)) ||
		    (rc = dits_tc_rational_seconds(c->frames, c->rate_num, c->rate_den, dur, sizeof dur)))
			break;
		char *orig = dits_file_url("file://", c->master), *prox = dits_file_url("file://", c->proxy);
		if (!orig || !prox) {
			free(orig);
			free(prox);
			rc = DITS_ENOMEM;
			break;
		}
		el_start(&x, "asset");
		attrf(&x, "id", "a%zu", i + 1);
		attr(&x, "name", c->name);
		attr(&x, "start", start);
		attr(&x, "duration", dur);
		attr(&x, "hasVideo", "1");
		attrf(&x, "format", "r%zu", format_of(h, i) + 1);
		attr(&x, "videoSources", "1");
		attr(&x, "hasAudio", c->naudio ? "1" : "0");
		if (c->naudio) {
			attrf(&x, "audioSources", "%d", c->naudio);
			attrf(&x, "audioChannels", "%d", c->channels[0]);
			attrf(&x, "audioRate", "%d", c->audio_rate);
		}
		el_start(&x, "media-rep");
		attr(&x, "kind", "original-media");
		attr(&x, "src", orig);
		el_end(&x);
		el_start(&x, "media-rep");
		attr(&x, "kind", "proxy-media");
		attr(&x, "src", prox);
		el_end(&x);
		el_end(&x);
		free(orig);
		free(prox);
	}
	el_end(&x); /* resources */
	el_start(&x, "library");
	el_start(&x, "event");
	attr(&x, "name", h->title);
	for (size_t i = 0; i < h->n && !rc; i++) {
		const dits_handoff_clip *c = &h->clips[i];
		char start[64], dur[64];
		dits_tc_rational_seconds(c->start_frame, c->rate_num, c->rate_den, start, sizeof start);
		dits_tc_rational_seconds(c->frames, c->rate_num, c->rate_den, dur, sizeof dur);
		el_start(&x, "asset-clip");
		attrf(&x, "ref", "a%zu", i + 1);
		attr(&x, "name", c->name);
		attr(&x, "start", start);
		attr(&x, "duration", dur);
		attrf(&x, "format", "r%zu", format_of(h, i) + 1);
		attr(&x, "tcFormat", c->drop ? "DF" : "NDF");
		el_end(&x);
	}
	el_end(&x); /* event */
	el_end(&x); /* library */
	el_end(&x); /* fcpxml */
	if (rc) {
		xmlFreeTextWriter(x.w);
		xmlBufferFree(x.buf);
		return rc == DITS_ENOMEM ? dits_error_set(DITS_ENOMEM, "out of memory") : rc;
	}
	return xml_finish(&x, path);
}

/* ---- FCP7 XML (xmeml 4) --------------------------------------------------- */

static void xmeml_rate(xml_out *x, const dits_handoff_clip *c)
{
	el_start(x, "rate");
	text_elf(x, "timebase", "%d", dits_tc_fps(c->rate_num, c->rate_den));
	text_el(x, "ntsc", c->rate_den == 1001 ? "TRUE" : "FALSE");
	el_end(x);
}

/* The <file> of clip i: in full the first time, by id after. */
static void xmeml_file(xml_out *x, const dits_handoff_clip *c, size_t i, bool full)
{
	el_start(x, "file");
	attrf(x, "id", "file-%zu", i + 1);
	if (!full) {
		el_end(x);
		return;
	}
	const char *base = strrchr(c->master, '/');
	text_el(x, "name", base ? base + 1 : c->master);
	char *url = dits_file_url("file://localhost", c->master);
	text_el(x, "pathurl", url ? url : "");
	if (!url)
		x->err = 1;
	free(url);
	xmeml_rate(x, c);
	text_elf(x, "duration", "%" PRId64, c->frames);
	el_start(x, "timecode");
	xmeml_rate(x, c);
	text_el(x, "string", c->timecode);
	text_elf(x, "frame", "%" PRId64, c->start_frame);
	text_el(x, "displayformat", c->drop ? "DF" : "NDF");
	el_start(x, "reel");
	text_el(x, "name", c->reel);
	el_end(x);
	el_end(x); /* timecode */
	el_start(x, "media");
	el_start(x, "video");
	el_start(x, "samplecharacteristics");
	xmeml_rate(x, c);
	text_elf(x, "width", "%d", c->width);
	text_elf(x, "height", "%d", c->height);
	text_el(x, "anamorphic", c->sar_num > c->sar_den ? "TRUE" : "FALSE");
	text_el(x, "pixelaspectratio", c->sar_num == c->sar_den ? "square" : "non-square");
	text_el(x, "fielddominance", "none");
	el_end(x);
	el_end(x); /* video */
	for (int a = 0; a < c->naudio; a++) {
		el_start(x, "audio");
		el_start(x, "samplecharacteristics");
		text_elf(x, "samplerate", "%d", c->audio_rate);
		el_end(x);
		text_elf(x, "channelcount", "%d", c->channels[a]);
		el_end(x);
	}
	el_end(x); /* media */
	el_end(x); /* file */
}

static void xmeml_clipitem(xml_out *x, const dits_handoff_clip *c, size_t i, const char *kind, int n, bool full)
{
	el_start(x, "clipitem");
	attrf(x, "id", "clipitem-%zu-%s%d", i + 1, kind, n);
	text_elf(x, "masterclipid", "masterclip-%zu", i + 1);
	text_el(x, "name", c->name);
	xmeml_rate(x, c);
	text_elf(x, "duration", "%" PRId64, c->frames);
	text_el(x, "in", "0");
	text_elf(x, "out", "%" PRId64, c->frames);
	text_el(x, "start", "0");
	text_elf(x, "end", "%" PRId64, c->frames);
	xmeml_file(x, c, i, full);
	if (*kind == 'a') {
		el_start(x, "sourcetrack");
		text_el(x, "mediatype", "audio");
		text_elf(x, "trackindex", "%d", n);
		el_end(x);
	}
	el_end(x);
}

int dits_handoff_write_xmeml(const dits_handoff *h, const char *path)
{
	xml_out x;
	int rc = xml_begin(&x, "xmeml");
	if (rc)
		return rc;
	el_start(&x, "xmeml");
	attr(&x, "version", "4");
	el_start(&x, "bin");
	text_el(&x, "name", h->title);
	el_start(&x, "children");
	for (size_t i = 0; i < h->n; i++) {
		const dits_handoff_clip *c = &h->clips[i];
		el_start(&x, "clip");
		attrf(&x, "id", "masterclip-%zu", i + 1);
		text_el(&x, "name", c->name);
		text_elf(&x, "duration", "%" PRId64, c->frames);
		xmeml_rate(&x, c);
		text_el(&x, "in", "-1");
		text_el(&x, "out", "-1");
		text_el(&x, "ismasterclip", "TRUE");
		el_start(&x, "media");
		el_start(&x, "video");
		el_start(&x, "track");
		xmeml_clipitem(&x, c, i, "v", 1, true);
		el_end(&x);
		el_end(&x); /* video */
		if (c->naudio) {
			el_start(&x, "audio");
			int track = 0;
			for (int a = 0; a < c->naudio; a++) {
				for (int ch = 0; ch < c->channels[a]; ch++) {
					el_start(&x, "track");
					xmeml_clipitem(&x, c, i, "a", ++track, false);
					el_end(&x);
				}
			}
			el_end(&x); /* audio */
		}
		el_end(&x); /* media */
		el_end(&x); /* clip */
	}
	el_end(&x); /* children */
	el_end(&x); /* bin */
	el_end(&x); /* xmeml */
	return xml_finish(&x, path);
}

/* ---- ALE ------------------------------------------------------------------ */

int dits_handoff_write_ale(const dits_handoff *h, int num, int den, const char *path)
{
	dits_buf b = DITS_BUF_INIT;
	char fps[32];
	dits_ale_fps(num, den, fps, sizeof fps);
	int height = -1, arate = 0;
	for (size_t i = 0; i < h->n; i++) {
		const dits_handoff_clip *c = &h->clips[i];
		if (c->rate_num != num || c->rate_den != den)
			continue;
		height = height < 0 || height == c->height ? c->height : 0;
		if (!arate && c->audio_rate)
			arate = c->audio_rate;
	}
	/* Lines end in CR LF, as Media Composer writes them. */
	dits_buf_puts(&b, "Heading\r\nFIELD_DELIM\tTABS\r\n");
	dits_buf_printf(&b, "VIDEO_FORMAT\t%s\r\n", height == 1080 ? "1080" : height == 720 ? "720" : "CUSTOM");
	dits_buf_printf(&b, "AUDIO_FORMAT\t%s\r\n", arate == 44100 ? "44khz" : "48khz");
	dits_buf_printf(&b, "FPS\t%s\r\n\r\n", fps);
	dits_buf_puts(&b, "Column\r\nName\tTape\tStart\tEnd\tDuration\tTracks\tAudio SR\tSource File\tProxy File\r\n\r\n");
	dits_buf_puts(&b, "Data\r\n");
	int rc = 0;
	for (size_t i = 0; i < h->n && !rc; i++) {
		const dits_handoff_clip *c = &h->clips[i];
		if (c->rate_num != num || c->rate_den != den)
			continue;
		char end[DITS_TC_MAX], dur[DITS_TC_MAX];
		if ((rc = dits_tc_format(c->start_frame + c->frames, num, den, c->drop, end)) ||
		    (rc = dits_tc_format(c->frames, num, den, c->drop, dur)))
			break;
		dits_buf b2 = DITS_BUF_INIT;
		dits_buf_puts(&b2, "V");
		int t = 0;
		for (int a = 0; a < c->naudio; a++)
			for (int ch = 0; ch < c->channels[a]; ch++)
				dits_buf_printf(&b2, "A%d", ++t);
		dits_buf_cstr(&b2);
		/* A tab or line break inside a field would break the row: spaces instead. */
		const char *fields[] = { c->name, c->reel, c->master, c->proxy };
		char *clean[4];
		for (int k = 0; k < 4; k++) {
			clean[k] = strdup(fields[k]);
			for (char *p = clean[k]; p && *p; p++)
				if (*p == '\t' || *p == '\r' || *p == '\n')
					*p = ' ';
		}
		if (!b2.data || !clean[0] || !clean[1] || !clean[2] || !clean[3])
			rc = dits_error_set(DITS_ENOMEM, "out of memory");
		else
			dits_buf_printf(&b, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\r\n", clean[0], clean[1], c->timecode, end, dur,
			                (char *)b2.data, c->audio_rate, clean[2], clean[3]);
		for (int k = 0; k < 4; k++)
			free(clean[k]);
		dits_buf_free(&b2);
	}
	if (!rc && dits_buf_cstr(&b) < 0)
		rc = dits_error_set(DITS_ENOMEM, "out of memory");
	if (!rc)
		rc = dits_atomic_write(path, b.data, b.len);
	dits_buf_free(&b);
	return rc;
}

/* ---- all of it ------------------------------------------------------------ */

static int push_file(char ***files, size_t *n, const char *path)
{
	if (!files)
		return 0;
	char **f = realloc(*files, (*n + 1) * sizeof *f);
	if (!f)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	*files = f;
	if (!(f[*n] = strdup(path)))
		return dits_error_set(DITS_ENOMEM, "out of memory");
	(*n)++;
	return 0;
}

void dits_handoff_files_free(char **files, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(files[i]);
	free(files);
}

int dits_handoff_write(dits_repo *r, const dits_handoff *h, int nle, char ***files, size_t *nfiles)
{
	size_t dummy = 0;
	if (files) {
		*files = NULL;
		*nfiles = 0;
	} else {
		nfiles = &dummy;
	}
	int rc = dits_handoff_write_proxies(r, h);
	for (size_t i = 0; i < h->n && !rc; i++)
		rc = push_file(files, nfiles, h->clips[i].proxy);
	char *doc = NULL;
	if (!rc && nle == DITS_NLE_FCPX) {
		if (!(doc = dits_strfmt("%s/handoff.fcpxml", h->dir)))
			rc = dits_error_set(DITS_ENOMEM, "out of memory");
		else if (!(rc = dits_handoff_write_fcpxml(h, doc)))
			rc = push_file(files, nfiles, doc);
	} else if (!rc && nle == DITS_NLE_PREMIERE) {
		if (!(doc = dits_strfmt("%s/handoff.xml", h->dir)))
			rc = dits_error_set(DITS_ENOMEM, "out of memory");
		else if (!(rc = dits_handoff_write_xmeml(h, doc)))
			rc = push_file(files, nfiles, doc);
	} else if (!rc && nle == DITS_NLE_AVID) {
		/* An ALE has one FPS: one file per frame rate, in the clips' order. */
		for (size_t i = 0; i < h->n && !rc; i++) {
			const dits_handoff_clip *c = &h->clips[i];
			bool seen = false;
			for (size_t k = 0; k < i && !seen; k++)
				seen = h->clips[k].rate_num == c->rate_num && h->clips[k].rate_den == c->rate_den;
			if (seen)
				continue;
			char fps[32];
			dits_ale_fps(c->rate_num, c->rate_den, fps, sizeof fps);
			free(doc);
			if (!(doc = dits_strfmt("%s/handoff-%s.ale", h->dir, fps)))
				rc = dits_error_set(DITS_ENOMEM, "out of memory");
			else if (!(rc = dits_handoff_write_ale(h, c->rate_num, c->rate_den, doc)))
				rc = push_file(files, nfiles, doc);
		}
	}
	free(doc);
	if (rc && files) {
		dits_handoff_files_free(*files, *nfiles);
		*files = NULL;
		*nfiles = 0;
	}
	return rc;
}
