/*
 * timeline_otio.c - OpenTimelineIO JSON (.otio) through cJSON.
 *
 * Timeline.1 > Stack.1 > Track.1 (kind Video or Audio) > Clip.1 / Clip.2,
 * Gap.1, Transition.1. OTIO writes rates and times as doubles: rates are
 * made exact (29.97 is 30000/1001), times are rounded to whole frames. Each
 * item of a track is an "event", numbered from 1 in file order.
 *
 * The timeline's rate is global_start_time's, else that of the first
 * item's range. A clip's source_range counts at its own rate (src_rate);
 * its record length is its duration at the timeline's rate, and a source
 * rate other than the timeline's shows in speed (15 fps in a 30 fps
 * timeline is 1/2). Centred transitions (in_offset before the cut,
 * out_offset after) become the model's form: the outgoing clip ends at the
 * cut minus in_offset, the incoming one starts there with dissolve
 * in_offset + out_offset.
 */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "error.h"
#include "timeline_internal.h"

#define OTIO_MAX_DEPTH 64

enum { ENT_CLIP, ENT_TRANS };

typedef struct otio_entry {
	int type;
	int event;
	dits_tl_clip clip;        /* ENT_CLIP; clip.name points into the JSON */
	int64_t in, out;          /* ENT_TRANS: offsets in timeline frames */
	bool dissolve;            /* ENT_TRANS: an SMPTE_Dissolve */
	int64_t at;               /* ENT_TRANS: the cut, in track frames */
} otio_entry;

typedef struct otio_state {
	const char *name;
	dits_timeline *t;
	int item;
	int nvideo, naudio;
	otio_entry *ent;
	size_t nent, cap;
} otio_state;

static const char *schema_of(const cJSON *o)
{
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, "OTIO_SCHEMA");
	return cJSON_IsString(s) ? s->valuestring : "";
}

/* "Clip.2" is a "Clip" */
static bool is_schema(const cJSON *o, const char *base)
{
	const char *s = schema_of(o);
	size_t n = strlen(base);
	return strncmp(s, base, n) == 0 && s[n] == '.';
}

static const char *string_of(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
}

/* A rate OTIO writes as a double, exact: whole numbers, and the NTSC x/1.001 rates. */
static int exact_rate(double r, AVRational *out)
{
	if (!isfinite(r) || r <= 0 || r > 1e6)
		return -1;
	double whole = round(r);
	if (fabs(r - whole) < 1e-6) {
		*out = (AVRational){(int)whole, 1};
		return 0;
	}
	double ntsc = round(r * 1.001);
	if (ntsc >= 1 && fabs(r * 1.001 - ntsc) < 0.005 * 1.001 && ntsc * 1000 < INT32_MAX) {
		*out = (AVRational){(int)ntsc * 1000, 1001};
		return 0;
	}
	*out = av_d2q(r, 1000000);
	return out->num > 0 && out->den > 0 ? 0 : -1;
}

/* A RationalTime.1: its value and exact rate. */
static int rational_time(const cJSON *o, double *value, AVRational *rate)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "value");
	const cJSON *r = cJSON_GetObjectItemCaseSensitive(o, "rate");
	if (!cJSON_IsNumber(v) || !cJSON_IsNumber(r) || !isfinite(v->valuedouble) || fabs(v->valuedouble) > 1e12)
		return -1;
	*value = v->valuedouble;
	return exact_rate(r->valuedouble, rate);
}

/* Whole frames, held to +-2^60 so that sums of a few stay in range. */
#define OTIO_FRAMES_MAX ((int64_t)1 << 60)
static int64_t whole(long double f)
{
	if (!(f > -(long double)OTIO_FRAMES_MAX))
		return -OTIO_FRAMES_MAX;
	if (!(f < (long double)OTIO_FRAMES_MAX))
		return OTIO_FRAMES_MAX;
	return (int64_t)floorl(f);
}

/* value at rate from, in whole frames (rounded) at rate to */
static int64_t frames_at(double value, AVRational from, AVRational to)
{
	return whole((long double)value * to.num * from.den / ((long double)to.den * from.num) + 0.5L);
}

typedef struct otio_range {
	double start, dur;
	AVRational start_rate, dur_rate;
} otio_range;

static int time_range(const cJSON *o, otio_range *r)
{
	if (!cJSON_IsObject(o))
		return -1;
	if (rational_time(cJSON_GetObjectItemCaseSensitive(o, "start_time"), &r->start, &r->start_rate) < 0 ||
	    rational_time(cJSON_GetObjectItemCaseSensitive(o, "duration"), &r->dur, &r->dur_rate) < 0)
		return -1;
	return r->dur >= 0 ? 0 : -1;
}

/* The first rate of a track item's range in the tracks, depth first. */
static bool find_rate(const cJSON *o, AVRational *rate, int depth)
{
	if (!o || depth > OTIO_MAX_DEPTH)
		return false;
	otio_range r;
	if (time_range(cJSON_GetObjectItemCaseSensitive(o, "source_range"), &r) == 0) {
		*rate = r.dur_rate;
		return true;
	}
	const cJSON *c;
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(o, "children"))
		if (find_rate(c, rate, depth + 1))
			return true;
	return false;
}

/* The record length of an item: its source_range, else what it holds. */
static int64_t item_length(otio_state *s, const cJSON *o, int depth)
{
	otio_range r;
	if (time_range(cJSON_GetObjectItemCaseSensitive(o, "source_range"), &r) == 0)
		return frames_at(r.dur, r.dur_rate, s->t->rate);
	if (is_schema(o, "Clip")) {
		const cJSON *ref = cJSON_GetObjectItemCaseSensitive(o, "media_reference");
		if (!ref) {
			const cJSON *refs = cJSON_GetObjectItemCaseSensitive(o, "media_references");
			ref = cJSON_GetObjectItemCaseSensitive(refs, string_of(o, "active_media_reference_key"));
		}
		if (time_range(cJSON_GetObjectItemCaseSensitive(ref, "available_range"), &r) == 0)
			return frames_at(r.dur, r.dur_rate, s->t->rate);
		return -1;
	}
	if (depth > OTIO_MAX_DEPTH)
		return -1;
	bool stack = is_schema(o, "Stack");
	int64_t len = 0;
	const cJSON *c;
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(o, "children")) {
		if (is_schema(c, "Transition"))
			continue;
		int64_t n = item_length(s, c, depth + 1);
		if (n < 0)
			return -1;
		if (stack)
			len = n > len ? n : len;
		else if ((len += n) > INT64_MAX / 4)
			return -1;
	}
	return len;
}

/* file://host/D%3a/x.mov -> D:/x.mov, file:///a%20b -> /a b; other URLs as given */
static char *url_to_path(const char *url)
{
	if (strncasecmp(url, "file://", 7) != 0)
		return strdup(url);
	const char *p = url + 7;
	if (strncasecmp(p, "localhost/", 10) == 0)
		p += 9;
	else if (*p != '/')
		p += strcspn(p, "/"); /* another host: keep its path */
	char *out = malloc(strlen(p) + 1), *o = out;
	if (!out)
		return NULL;
	for (; *p; p++) {
		if (*p == '%' && isxdigit((unsigned char)p[1]) && isxdigit((unsigned char)p[2])) {
			char hex[3] = {p[1], p[2], 0};
			char ch = (char)strtol(hex, NULL, 16);
			if (ch) {
				*o++ = ch;
				p += 2;
				continue;
			}
		}
		*o++ = *p;
	}
	*o = 0;
	/* a Windows drive: /D:/media -> D:/media */
	if (out[0] == '/' && isalpha((unsigned char)out[1]) && out[2] == ':')
		memmove(out, out + 1, strlen(out));
	return out;
}

static int find_or_add_media(dits_timeline *t, const char *name, const char *path, const char *reel, AVRational rate,
                             int64_t tc_start)
{
	for (size_t i = 0; i < t->nmedia; i++) {
		const dits_tl_media *m = &t->media[i];
		bool same = (m->name ? name && !strcmp(m->name, name) : !name) &&
		            (m->path ? path && !strcmp(m->path, path) : !path) &&
		            (m->reel ? reel && !strcmp(m->reel, reel) : !reel) && av_cmp_q(m->rate, rate) == 0 &&
		            m->tc_start == tc_start;
		if (same)
			return (int)i;
	}
	return media_tl_add_media(t, name, path, reel, rate, tc_start);
}

static int add_entry(otio_state *s, const otio_entry *e)
{
	if (s->nent == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 32;
		otio_entry *v = realloc(s->ent, cap * sizeof(*v));
		if (!v)
			return dits_error_set(DITS_ENOMEM, "out of memory");
		s->ent = v;
		s->cap = cap;
	}
	s->ent[s->nent++] = *e;
	return 0;
}

static int bad_item(otio_state *s, int event, const cJSON *o, const char *why)
{
	const char *n = string_of(o, "name");
	if (n)
		return dits_error_set(DITS_EINVALID, "%s: event %d (%.64s): %s", s->name, event, n, why);
	return dits_error_set(DITS_EINVALID, "%s: event %d: %s", s->name, event, why);
}

/* speed from the clip's effects; others are counted as skipped */
static int clip_effects(otio_state *s, const cJSON *clip, int event, AVRational *speed)
{
	const cJSON *e;
	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(clip, "effects")) {
		if (is_schema(e, "FreezeFrame")) {
			*speed = (AVRational){0, 1};
		} else if (is_schema(e, "LinearTimeWarp")) {
			const cJSON *ts = cJSON_GetObjectItemCaseSensitive(e, "time_scalar");
			double v = cJSON_IsNumber(ts) ? ts->valuedouble : 1;
			if (!isfinite(v) || fabs(v) > 1000)
				return bad_item(s, event, clip, "time_scalar out of range");
			*speed = av_mul_q(*speed, av_d2q(v, 100000));
		} else {
			int rc = media_tl_skip(s->t, "effect", event);
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

static int read_clip(otio_state *s, const cJSON *o, int event, int kind, int track, bool enabled, int64_t pos,
                     int64_t *len)
{
	const cJSON *ref = cJSON_GetObjectItemCaseSensitive(o, "media_reference");
	if (!ref) {
		const char *key = string_of(o, "active_media_reference_key");
		ref = key ? cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "media_references"), key)
		          : NULL;
	}
	otio_range avail, r;
	bool has_avail = time_range(cJSON_GetObjectItemCaseSensitive(ref, "available_range"), &avail) == 0;
	const cJSON *sr = cJSON_GetObjectItemCaseSensitive(o, "source_range");
	if (sr && !cJSON_IsNull(sr)) {
		if (time_range(sr, &r) < 0)
			return bad_item(s, event, o, "bad source_range");
	} else if (has_avail) {
		r = avail;
	} else {
		return bad_item(s, event, o, "no source_range or available_range");
	}
	*len = frames_at(r.dur, r.dur_rate, s->t->rate);
	if (*len > INT64_MAX / 4 - pos)
		return bad_item(s, event, o, "too long a duration");
	if (is_schema(ref, "GeneratorReference"))
		return media_tl_skip(s->t, "generator", event);

	const char *clip_name = string_of(o, "name");
	const char *ref_name = string_of(ref, "name");
	const char *url = is_schema(ref, "ExternalReference") ? string_of(ref, "target_url") : NULL;
	const cJSON *cmx = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "metadata"), "cmx_3600");
	const char *reel = string_of(cmx, "reel");
	char *path = url ? url_to_path(url) : NULL;
	if (url && !path)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	AVRational mrate = has_avail ? avail.start_rate : (AVRational){0, 1};
	int64_t tc = has_avail ? whole(avail.start + 0.5L) : -1;
	int media = find_or_add_media(s->t, ref_name ? ref_name : clip_name, path, reel, mrate, tc);
	free(path);
	if (media < 0)
		return media;

	AVRational speed = av_div_q(r.start_rate, s->t->rate);
	int rc = clip_effects(s, o, event, &speed);
	if (rc < 0)
		return rc;
	const cJSON *en = cJSON_GetObjectItemCaseSensitive(o, "enabled");
	otio_entry e = {
		.type = ENT_CLIP,
		.event = event,
		.clip = {
			.kind = kind,
			.track = track,
			.event = event,
			.media = media,
			.name = (char *)clip_name,
			.rec_in = pos,
			.rec_out = pos + *len,
			.src_in = whole(r.start + 0.5L),
			.src_rate = r.start_rate,
			.speed = speed,
			.src_channel = -1,
			.enabled = enabled && !cJSON_IsFalse(en),
		},
	};
	/* reverse: OTIO gives the lowest source frame, the model the first shown */
	if (speed.num < 0 && *len > 0)
		e.clip.src_in += whole((long double)(*len - 1) * -av_q2d(speed));
	return add_entry(s, &e);
}

/* Moves centred transitions to the incoming clip (see the top of the file). */
static int apply_transitions(otio_state *s)
{
	for (size_t i = 0; i < s->nent; i++) {
		otio_entry *tr = &s->ent[i];
		if (tr->type != ENT_TRANS)
			continue;
		otio_entry *prev = i > 0 && s->ent[i - 1].type == ENT_CLIP && s->ent[i - 1].clip.rec_out == tr->at
		                       ? &s->ent[i - 1] : NULL;
		otio_entry *next = i + 1 < s->nent && s->ent[i + 1].type == ENT_CLIP &&
		                           s->ent[i + 1].clip.rec_in == tr->at
		                       ? &s->ent[i + 1] : NULL;
		int rc = 0;
		if (!tr->dissolve) {
			rc = media_tl_skip(s->t, "transition", tr->event); /* conformed as a cut */
		} else if (!next) {
			rc = media_tl_skip(s->t, "fade out", tr->event);
		} else if (!prev) {
			/* from black: the dissolve runs from the cut */
			next->clip.dissolve = tr->out;
		} else {
			dits_tl_clip *a = &prev->clip, *b = &next->clip;
			if (a->rec_out - tr->in < a->rec_in)
				return dits_error_set(DITS_EINVALID, "%s: event %d: transition longer than the clip before it",
				                      s->name, tr->event);
			a->rec_out -= tr->in;
			b->rec_in -= tr->in;
			b->src_in -= whole((long double)tr->in * av_q2d(b->speed));
			b->dissolve = tr->in + tr->out;
		}
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int read_track(otio_state *s, const cJSON *tr)
{
	const char *kname = string_of(tr, "kind");
	int kind = kname && !strcmp(kname, "Audio") ? DITS_TL_AUDIO : DITS_TL_VIDEO;
	int track = kind == DITS_TL_AUDIO ? s->naudio++ : s->nvideo++;
	bool enabled = !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(tr, "enabled"));
	s->nent = 0;
	int64_t pos = 0;
	int rc = 0;
	const cJSON *c;
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(tr, "children")) {
		int event = ++s->item;
		int64_t len = 0;
		if (!cJSON_IsObject(c)) {
			return bad_item(s, event, c, "not an OTIO object");
		} else if (is_schema(c, "Clip")) {
			rc = read_clip(s, c, event, kind, track, enabled, pos, &len);
		} else if (is_schema(c, "Gap")) {
			otio_range r;
			if (time_range(cJSON_GetObjectItemCaseSensitive(c, "source_range"), &r) < 0)
				return bad_item(s, event, c, "gap without a source_range");
			len = frames_at(r.dur, r.dur_rate, s->t->rate);
		} else if (is_schema(c, "Transition")) {
			double in, out;
			AVRational rin, rout;
			if (rational_time(cJSON_GetObjectItemCaseSensitive(c, "in_offset"), &in, &rin) < 0 ||
			    rational_time(cJSON_GetObjectItemCaseSensitive(c, "out_offset"), &out, &rout) < 0 || in < 0 ||
			    out < 0)
				return bad_item(s, event, c, "transition without in_offset and out_offset");
			const char *type = string_of(c, "transition_type");
			otio_entry e = {.type = ENT_TRANS, .event = event, .at = pos,
			                .in = frames_at(in, rin, s->t->rate), .out = frames_at(out, rout, s->t->rate),
			                .dissolve = type && !strcmp(type, "SMPTE_Dissolve")};
			rc = add_entry(s, &e);
		} else if (is_schema(c, "Stack") || is_schema(c, "Track")) {
			len = item_length(s, c, 0);
			if (len < 0)
				return bad_item(s, event, c, "nested composition without a length");
			rc = media_tl_skip(s->t, is_schema(c, "Stack") ? "nested stack" : "nested track", event);
		} else {
			len = item_length(s, c, 0);
			rc = media_tl_skip(s->t, "unknown item", event);
			if (len < 0)
				len = 0;
		}
		if (rc < 0)
			return rc;
		if (len < 0 || len > INT64_MAX / 4 - pos)
			return bad_item(s, event, c, "negative or too long a duration");
		pos += len;
	}
	if ((rc = apply_transitions(s)) < 0)
		return rc;

	/* the track's own source_range: a window on its items */
	otio_range w;
	bool trim = time_range(cJSON_GetObjectItemCaseSensitive(tr, "source_range"), &w) == 0;
	int64_t ws = 0, wd = 0;
	if (trim) {
		ws = frames_at(w.start, w.start_rate, s->t->rate);
		wd = frames_at(w.dur, w.dur_rate, s->t->rate);
		bool any = false;
		for (size_t i = 0; i < s->nent; i++)
			if (s->ent[i].type == ENT_CLIP && s->ent[i].clip.rec_out > ws && s->ent[i].clip.rec_in < ws + wd)
				any = true;
		/* older cmx_3600 adapters write the record start timecode as a negative start that shows nothing */
		if (!any && ws < 0) {
			if (s->t->rec_start == 0)
				s->t->rec_start = -ws;
			trim = false;
		}
	}
	for (size_t i = 0; i < s->nent; i++) {
		dits_tl_clip *k = &s->ent[i].clip;
		if (s->ent[i].type != ENT_CLIP)
			continue;
		if (trim) {
			k->rec_in -= ws;
			k->rec_out -= ws;
			if (k->rec_out <= 0 || k->rec_in >= wd)
				continue;
			if (k->rec_in < 0) {
				k->src_in += whole((long double)-k->rec_in * av_q2d(k->speed));
				k->dissolve = k->dissolve > -k->rec_in ? k->dissolve + k->rec_in : 0;
				k->rec_in = 0;
			}
			if (k->rec_out > wd)
				k->rec_out = wd;
			if (k->dissolve > k->rec_out - k->rec_in)
				k->dissolve = k->rec_out - k->rec_in;
		}
		if ((rc = media_tl_add_clip(s->t, k)) < 0)
			return rc;
	}
	return 0;
}

/* OTIO's JSON may hold Infinity, -Infinity, Inf and NaN: null for cJSON. */
static char *nonfinite_to_null(const char *data, size_t len)
{
	/* "NaN" (3 bytes) grows to "null" (4) */
	char *out = malloc(len + len / 3 + 2);
	if (!out)
		return NULL;
	size_t o = 0;
	bool in_str = false;
	static const char *words[] = {"-Infinity", "Infinity", "-Inf", "Inf", "NaN"};
	for (size_t i = 0; i < len;) {
		char ch = data[i];
		if (in_str) {
			out[o++] = ch;
			i++;
			if (ch == '\\' && i < len)
				out[o++] = data[i++];
			else if (ch == '"')
				in_str = false;
			continue;
		}
		if (ch == '"') {
			in_str = true;
			out[o++] = data[i++];
			continue;
		}
		size_t w = 0;
		for (size_t k = 0; k < sizeof(words) / sizeof(*words) && !w; k++) {
			size_t n = strlen(words[k]);
			if (len - i >= n && !memcmp(data + i, words[k], n) &&
			    !(i + n < len && isalnum((unsigned char)data[i + n])))
				w = n;
		}
		if (w) {
			memcpy(out + o, "null", 4);
			o += 4;
			i += w;
		} else {
			out[o++] = data[i++];
		}
	}
	out[o] = 0;
	return out;
}

int media_tl_parse_otio(const char *data, size_t len, const char *name, dits_timeline *out)
{
	char *clean = nonfinite_to_null(data, len);
	if (!clean)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithOpts(clean, &end, 1);
	if (!root) {
		int line = 1;
		const char *stop = end && end >= clean && end <= clean + strlen(clean) ? end : clean;
		for (const char *p = clean; p < stop; p++)
			line += *p == '\n';
		free(clean);
		return dits_error_set(DITS_EINVALID, "%s: line %d: not JSON", name, line);
	}
	int rc = 0;
	otio_state s = {.name = name, .t = out};
	const cJSON *stack = cJSON_GetObjectItemCaseSensitive(root, "tracks");
	if (!is_schema(root, "Timeline")) {
		rc = dits_error_set(DITS_EINVALID, "%s: not an OTIO timeline (%s at the top)", name,
		                    schema_of(root)[0] ? schema_of(root) : "no OTIO_SCHEMA");
		goto done;
	}
	if (!is_schema(stack, "Stack")) {
		rc = dits_error_set(DITS_EINVALID, "%s: the timeline has no tracks (Stack)", name);
		goto done;
	}
	const char *title = string_of(root, "name");
	if (title && !(out->name = strdup(title))) {
		rc = dits_error_set(DITS_ENOMEM, "out of memory");
		goto done;
	}
	double gst;
	AVRational grate;
	const cJSON *g = cJSON_GetObjectItemCaseSensitive(root, "global_start_time");
	bool has_gst = g && !cJSON_IsNull(g);
	if (has_gst && rational_time(g, &gst, &grate) < 0) {
		rc = dits_error_set(DITS_EINVALID, "%s: bad global_start_time", name);
		goto done;
	}
	if (has_gst)
		out->rate = grate;
	else if (!find_rate(stack, &out->rate, 0))
		out->rate = (AVRational){24, 1}; /* nothing in it has a time */
	out->rec_start = has_gst ? frames_at(gst, grate, out->rate) : 0;
	if (out->rec_start < 0) {
		rc = dits_error_set(DITS_EINVALID, "%s: negative global_start_time", name);
		goto done;
	}
	out->drop_frame = false;
	const cJSON *c;
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(stack, "children")) {
		if (is_schema(c, "Track")) {
			rc = read_track(&s, c);
		} else {
			int event = ++s.item;
			rc = media_tl_skip(out, is_schema(c, "Stack") ? "nested stack" : "unknown item", event);
		}
		if (rc < 0)
			break;
	}
done:
	free(s.ent);
	cJSON_Delete(root);
	free(clean);
	return rc;
}
