/*
 * timeline_edl.c - CMX3600 edit decision lists.
 *
 *     TITLE: name
 *     FCM: DROP FRAME | NON-DROP FRAME
 *     NNN  REEL  TRACK  TRANS [DUR]  SRCIN SRCOUT RECIN RECOUT
 *     * FROM CLIP NAME: / * TO CLIP NAME: / * SOURCE FILE: comments
 *     M2   REEL  SPEED  SRCIN        (speed in frames per second)
 *     AUD  3 4                       (more audio channels for the event)
 *
 * An EDL carries no frame rate: the caller sets out->rate before the call
 * (dits_timeline_parse_rate), else it is 24/1, or 30000/1001 when the first
 * FCM line says DROP FRAME. Events are gathered first (comments and M2 lines
 * follow the event they belong to), then turned into clips.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "timecode.h"
#include "timeline_internal.h"

#define EDL_MAX_TOKENS 16
#define EDL_MAX_TRACKS 32

typedef struct edl_event {
	int num, line;
	char *reel;
	uint32_t video, audio;        /* track bits */
	char trans;                   /* 'C', 'D', 'W' or 'K' */
	int64_t dur;                  /* transition frames */
	int64_t src_in, src_out, rec_in, rec_out; /* timecode frames */
	char *clip_name, *path;
	bool has_speed;
	AVRational speed;
	int64_t m2_src;               /* the M2 line's source timecode */
	bool cdl, effect;
} edl_event;

typedef struct edl_state {
	const char *name;
	dits_timeline *t;
	AVRational rate;
	int fps;
	bool drop;                    /* the current FCM */
	edl_event *ev;
	size_t nev, cap;
} edl_state;

static void free_events(edl_state *s)
{
	for (size_t i = 0; i < s->nev; i++) {
		free(s->ev[i].reel);
		free(s->ev[i].clip_name);
		free(s->ev[i].path);
	}
	free(s->ev);
}

/* s with leading and trailing blanks removed, copied; NULL when empty or out of memory */
static char *trimmed_dup(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	if (!n)
		return NULL;
	char *d = malloc(n + 1);
	if (d) {
		memcpy(d, s, n);
		d[n] = 0;
	}
	return d;
}

static int set_string(char **dst, const char *value)
{
	char *v = trimmed_dup(value);
	if (!v)
		return 0; /* an empty value leaves what was there */
	free(*dst);
	*dst = v;
	return 0;
}

static int prefix_ci(const char *s, const char *p)
{
	size_t n = strlen(p);
	return strncasecmp(s, p, n) == 0 ? (int)n : 0;
}

static int tokenize(char *line, char **tok)
{
	int n = 0;
	char *p = line;
	while (*p) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		if (n == EDL_MAX_TOKENS)
			return n + 1;
		tok[n++] = p;
		while (*p && *p != ' ' && *p != '\t')
			p++;
		if (*p)
			*p++ = 0;
	}
	return n;
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

static int parse_tc(edl_state *s, int line, const char *tc, int64_t *frame)
{
	char buf[DITS_TC_MAX];
	if (strlen(tc) != 11)
		return dits_error_set(DITS_EINVALID, "%s: line %d: %s: not a timecode (HH:MM:SS:FF)", s->name, line,
		                      tc);
	memcpy(buf, tc, 12);
	/* under FCM: DROP FRAME the labels are drop-frame whatever their separator */
	if (s->drop && buf[8] == ':')
		buf[8] = ';';
	if (dits_tc_parse(buf, s->rate.num, s->rate.den, frame, NULL) < 0) {
		char why[256];
		snprintf(why, sizeof(why), "%s", dits_error_last());
		return dits_error_set(DITS_EINVALID, "%s: line %d: %s", s->name, line, why);
	}
	return 0;
}

/* "V", "A", "A2", "AA", "B", "AA/V", "A1/A2": the tracks an event is on */
static int parse_tracks(edl_state *s, int line, const char *tok, edl_event *e)
{
	char part[16];
	const char *p = tok;
	while (*p) {
		size_t n = strcspn(p, "/");
		if (n == 0 || n >= sizeof(part))
			goto bad;
		memcpy(part, p, n);
		part[n] = 0;
		p += n + (p[n] == '/');
		for (char *c = part; *c; c++)
			*c = (char)toupper((unsigned char)*c);
		if (!strcmp(part, "V")) {
			e->video |= 1u;
		} else if (!strcmp(part, "A")) {
			e->audio |= 1u;
		} else if (!strcmp(part, "AA")) {
			e->audio |= 3u;
		} else if (!strcmp(part, "B")) {
			e->video |= 1u;
			e->audio |= 1u;
		} else if ((part[0] == 'A' || part[0] == 'V') && all_digits(part + 1)) {
			int k = atoi(part + 1);
			if (k < 1 || k > EDL_MAX_TRACKS || strlen(part) > 3)
				goto bad;
			if (part[0] == 'A')
				e->audio |= 1u << (k - 1);
			else
				e->video |= 1u << (k - 1);
		} else {
			goto bad;
		}
	}
	return 0;
bad:
	return dits_error_set(DITS_EINVALID, "%s: line %d: %s: not a track (V, A, A2, AA, B)", s->name, line, tok);
}

static int parse_event(edl_state *s, int line, char **tok, int ntok)
{
	if (ntok < 8)
		return dits_error_set(DITS_EINVALID, "%s: line %d: event %s: truncated (%d of 8 fields or more)",
		                      s->name, line, tok[0], ntok);
	if (ntok > 10 || strlen(tok[0]) > 6)
		return dits_error_set(DITS_EINVALID, "%s: line %d: not an event line", s->name, line);
	if (s->nev == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		edl_event *v = realloc(s->ev, cap * sizeof(*v));
		if (!v)
			return dits_error_set(DITS_ENOMEM, "out of memory");
		s->ev = v;
		s->cap = cap;
	}
	edl_event *e = &s->ev[s->nev];
	memset(e, 0, sizeof(*e));
	e->num = atoi(tok[0]);
	e->line = line;
	int rc = parse_tracks(s, line, tok[2], e);
	if (rc < 0)
		return rc;
	/* the transition, then an optional duration (and K's B/O): what lies before the 4 timecodes */
	char t = (char)toupper((unsigned char)tok[3][0]);
	if (!strchr("CDWK", t) || !t)
		return dits_error_set(DITS_EINVALID, "%s: line %d: %s: not a transition (C, D, W, K)", s->name, line,
		                      tok[3]);
	if (t == 'C' && tok[3][1])
		return dits_error_set(DITS_EINVALID, "%s: line %d: %s: not a transition (C, D, W, K)", s->name, line,
		                      tok[3]);
	e->trans = t;
	bool have_dur = false;
	for (int i = 4; i < ntok - 4; i++) {
		if (all_digits(tok[i]) && strlen(tok[i]) <= 4 && !have_dur) {
			e->dur = atoi(tok[i]);
			have_dur = true;
		} else if (!(t == 'K' && (!strcasecmp(tok[i], "B") || !strcasecmp(tok[i], "O")))) {
			return dits_error_set(DITS_EINVALID, "%s: line %d: %s: not a transition duration", s->name, line,
			                      tok[i]);
		}
	}
	if (t == 'D' && !have_dur)
		return dits_error_set(DITS_EINVALID, "%s: line %d: dissolve without a duration", s->name, line);
	int64_t *tc[4] = {&e->src_in, &e->src_out, &e->rec_in, &e->rec_out};
	for (int i = 0; i < 4; i++)
		if ((rc = parse_tc(s, line, tok[ntok - 4 + i], tc[i])) < 0)
			return rc;
	if (e->rec_out < e->rec_in)
		return dits_error_set(DITS_EINVALID, "%s: line %d: event %d: record out before record in", s->name, line,
		                      e->num);
	if (e->src_out < e->src_in)
		return dits_error_set(DITS_EINVALID, "%s: line %d: event %d: source out before source in", s->name,
		                      line, e->num);
	e->reel = strdup(tok[1]);
	if (!e->reel)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	s->nev++;
	return 0;
}

/* "047.6", "-030.0", "000.0": a decimal as num/10^k */
static int parse_decimal(const char *p, int64_t *num, int64_t *den)
{
	bool neg = false, dot = false;
	int digits = 0;
	*num = 0;
	*den = 1;
	if (*p == '-' || *p == '+')
		neg = *p++ == '-';
	for (; *p; p++) {
		if (*p == '.' && !dot) {
			dot = true;
		} else if (isdigit((unsigned char)*p) && digits < 9) {
			*num = *num * 10 + (*p - '0');
			digits++;
			if (dot)
				*den *= 10;
		} else {
			return -1;
		}
	}
	if (!digits)
		return -1;
	if (neg)
		*num = -*num;
	return 0;
}

/* M2 REEL SPEED SRCIN: the speed of the last event on REEL (or the last event) */
static int parse_m2(edl_state *s, int line, char **tok, int ntok)
{
	if (ntok < 4)
		return dits_error_set(DITS_EINVALID, "%s: line %d: M2: truncated (REEL SPEED SOURCE-IN expected)", s->name,
		                      line);
	if (!s->nev)
		return dits_error_set(DITS_EINVALID, "%s: line %d: M2 before any event", s->name, line);
	/* a reel can be blank in the M2 line: the last three fields are what count */
	const char *speed = tok[ntok - 2], *tc = tok[ntok - 1], *reel = ntok >= 4 ? tok[1] : NULL;
	int64_t num, den;
	if (parse_decimal(speed, &num, &den) < 0)
		return dits_error_set(DITS_EINVALID, "%s: line %d: M2: %s: not a speed", s->name, line, speed);
	edl_event *e = &s->ev[s->nev - 1];
	for (size_t i = s->nev; i-- > 0 && s->ev[i].num == e->num;)
		if (reel && !strcmp(s->ev[i].reel, reel)) {
			e = &s->ev[i];
			break;
		}
	int64_t frame;
	int rc = parse_tc(s, line, tc, &frame);
	if (rc < 0)
		return rc;
	/* frames per second at the timeline's nominal timecode rate: 048.0 at 24 is 2/1 */
	int n, d;
	av_reduce(&n, &d, num, den * s->fps, INT32_MAX);
	e->has_speed = true;
	e->speed = (AVRational){n, d};
	e->m2_src = frame;
	return 0;
}

/* AUD 3 4: the event also takes audio channels 3 and 4 */
static int parse_aud(edl_state *s, int line, char **tok, int ntok)
{
	if (!s->nev)
		return 0;
	edl_event *e = &s->ev[s->nev - 1];
	for (int i = 1; i < ntok; i++) {
		int k = all_digits(tok[i]) && strlen(tok[i]) <= 2 ? atoi(tok[i]) : 0;
		if (k < 1 || k > EDL_MAX_TRACKS)
			return dits_error_set(DITS_EINVALID, "%s: line %d: AUD: %s: not an audio channel", s->name, line,
			                      tok[i]);
		e->audio |= 1u << (k - 1);
	}
	return 0;
}

static int parse_comment(edl_state *s, const char *c)
{
	while (*c == '*' || *c == ' ' || *c == '\t')
		c++;
	if (!s->nev)
		return 0;
	edl_event *e = &s->ev[s->nev - 1];
	int n;
	if ((n = prefix_ci(c, "FROM CLIP NAME:"))) {
		/* after a transition it names the outgoing clip: the event before */
		if (e->trans != 'C' && s->nev >= 2) {
			edl_event *prev = &s->ev[s->nev - 2];
			return prev->clip_name ? 0 : set_string(&prev->clip_name, c + n);
		}
		return set_string(&e->clip_name, c + n);
	}
	if ((n = prefix_ci(c, "TO CLIP NAME:")))
		return set_string(&e->clip_name, c + n);
	if ((n = prefix_ci(c, "SOURCE FILE:")) || (n = prefix_ci(c, "FROM CLIP:")) || (n = prefix_ci(c, "FROM FILE:")))
		return set_string(&e->path, c + n);
	if (prefix_ci(c, "ASC_SOP") || prefix_ci(c, "ASC_SAT"))
		e->cdl = true;
	else if (prefix_ci(c, "AVX") || prefix_ci(c, "EFFECT,"))
		e->effect = true;
	return 0;
}

static bool is_black(const char *reel)
{
	return !strcasecmp(reel, "BL") || !strcasecmp(reel, "BLK") || !strcasecmp(reel, "BLACK");
}

static int find_media(dits_timeline *t, const edl_event *e)
{
	for (size_t i = 0; i < t->nmedia; i++) {
		const dits_tl_media *m = &t->media[i];
		if (!strcmp(m->reel, e->reel) && !(m->name ? !e->clip_name || strcmp(m->name, e->clip_name) : !!e->clip_name) &&
		    !(m->path ? !e->path || strcmp(m->path, e->path) : !!e->path))
			return (int)i;
	}
	return media_tl_add_media(t, e->clip_name, e->path, e->reel, (AVRational){0, 1}, -1);
}

/* The gathered events as clips, record positions from the earliest record in. */
static int build(edl_state *s)
{
	dits_timeline *t = s->t;
	int64_t start = INT64_MAX;
	for (size_t i = 0; i < s->nev; i++)
		if (s->ev[i].rec_in < start)
			start = s->ev[i].rec_in;
	t->rec_start = start;
	for (size_t i = 0; i < s->nev; i++) {
		const edl_event *e = &s->ev[i];
		int rc = 0;
		if (e->trans == 'W')
			rc = media_tl_skip(t, "wipe", e->num);
		else if (e->trans == 'K')
			rc = media_tl_skip(t, "key", e->num);
		if (rc == 0 && e->cdl)
			rc = media_tl_skip(t, "colour correction", e->num);
		if (rc == 0 && e->effect)
			rc = media_tl_skip(t, "effect", e->num);
		if (rc < 0)
			return rc;
		if (is_black(e->reel)) {
			if (e->trans == 'D' && e->rec_out > e->rec_in && (rc = media_tl_skip(t, "fade to black", e->num)) < 0)
				return rc;
			continue;
		}
		if (e->rec_out == e->rec_in)
			continue; /* the outgoing side of a transition, or nothing */
		int media = find_media(t, e);
		if (media < 0)
			return media;
		dits_tl_clip c = {
			.event = e->num,
			.media = media,
			.name = e->clip_name,
			.rec_in = e->rec_in - start,
			.rec_out = e->rec_out - start,
			.src_in = e->src_in,
			.src_rate = s->rate,
			.speed = {1, 1},
			.dissolve = e->trans == 'D' ? e->dur : 0,
			.enabled = true,
		};
		if (e->has_speed) {
			c.speed = e->speed;
			c.src_in = e->m2_src;
			/* reverse from the event's source range: the first frame shown is its highest */
			if (e->speed.num < 0 && e->m2_src == e->src_in && e->src_out > e->src_in)
				c.src_in = e->src_out - 1;
		}
		if (c.dissolve > c.rec_out - c.rec_in)
			return dits_error_set(DITS_EINVALID, "%s: line %d: event %d: dissolve of %" PRId64
			                      " frames longer than the event", s->name, e->line, e->num, c.dissolve);
		for (int k = 0; k < EDL_MAX_TRACKS; k++) {
			if (e->video & (1u << k)) {
				c.kind = DITS_TL_VIDEO;
				c.track = k;
				c.src_channel = -1;
				if ((rc = media_tl_add_clip(t, &c)) < 0)
					return rc;
			}
		}
		for (int k = 0; k < EDL_MAX_TRACKS; k++) {
			if (e->audio & (1u << k)) {
				c.kind = DITS_TL_AUDIO;
				c.track = k;
				c.src_channel = k;
				if ((rc = media_tl_add_clip(t, &c)) < 0)
					return rc;
			}
		}
	}
	return 0;
}

/* The rate when the caller gave none: 30000/1001 when the first FCM says DROP FRAME, else 24/1. */
static AVRational default_rate(const char *data)
{
	for (const char *p = data; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (prefix_ci(p, "FCM:")) {
			const char *v = p + 4;
			while (*v == ' ' || *v == '\t')
				v++;
			return prefix_ci(v, "DROP") ? (AVRational){30000, 1001} : (AVRational){24, 1};
		}
		if (isdigit((unsigned char)*p))
			break; /* an FCM after the first event does not choose the rate */
	}
	return (AVRational){24, 1};
}

int media_tl_parse_edl(const char *data, size_t len, const char *name, dits_timeline *out)
{
	edl_state s = {.name = name, .t = out};
	s.rate = out->rate.num > 0 && out->rate.den > 0 ? out->rate : default_rate(data);
	s.fps = dits_tc_fps(s.rate.num, s.rate.den);
	if (!s.fps)
		return dits_error_set(DITS_EINVALID, "%s: %d/%d: not a frame rate", name, s.rate.num, s.rate.den);
	out->rate = s.rate;
	out->rec_start = 0;
	bool seen_fcm = false;
	int rc = 0, lineno = 0;
	char *buf = NULL;
	size_t bufcap = 0;
	const char *p = data, *end = data + len;
	while (p < end && rc == 0) {
		lineno++;
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if (n + 1 > bufcap) {
			char *b = realloc(buf, n + 1);
			if (!b) {
				rc = dits_error_set(DITS_ENOMEM, "out of memory");
				break;
			}
			buf = b;
			bufcap = n + 1;
		}
		memcpy(buf, p, n);
		buf[n] = 0;
		p = nl ? nl + 1 : end;
		while (n && isspace((unsigned char)buf[n - 1]))
			buf[--n] = 0;
		char *line = buf;
		if (lineno == 1 && (unsigned char)line[0] == 0xef && (unsigned char)line[1] == 0xbb &&
		    (unsigned char)line[2] == 0xbf)
			line += 3;
		while (*line == ' ' || *line == '\t')
			line++;
		if (!*line)
			continue;
		int k;
		if ((k = prefix_ci(line, "TITLE:"))) {
			if (!out->name)
				out->name = trimmed_dup(line + k);
			continue;
		}
		if ((k = prefix_ci(line, "FCM:"))) {
			const char *v = line + k;
			while (*v == ' ' || *v == '\t')
				v++;
			s.drop = prefix_ci(v, "DROP") != 0;
			if (s.drop && !dits_tc_can_drop(s.rate.num, s.rate.den))
				rc = dits_error_set(DITS_EINVALID, "%s: line %d: drop-frame timecode at %d/%d (only at 29.97 and 59.94)",
				                    name, lineno, s.rate.num, s.rate.den);
			if (!seen_fcm)
				out->drop_frame = s.drop;
			seen_fcm = true;
			continue;
		}
		if (*line == '*' || prefix_ci(line, "FROM CLIP") || prefix_ci(line, "TO CLIP") ||
		    prefix_ci(line, "SOURCE FILE:")) {
			rc = parse_comment(&s, line);
			continue;
		}
		char *tok[EDL_MAX_TOKENS];
		int ntok = tokenize(line, tok);
		if (ntok > EDL_MAX_TOKENS) {
			if (isdigit((unsigned char)*line))
				rc = dits_error_set(DITS_EINVALID, "%s: line %d: not an event line", name, lineno);
			continue;
		}
		if (all_digits(tok[0]))
			rc = parse_event(&s, lineno, tok, ntok);
		else if (!strcasecmp(tok[0], "M2"))
			rc = parse_m2(&s, lineno, tok, ntok);
		else if (!strcasecmp(tok[0], "AUD"))
			rc = parse_aud(&s, lineno, tok, ntok);
		else if (isdigit((unsigned char)*line))
			rc = dits_error_set(DITS_EINVALID, "%s: line %d: %s: not an event number", name, lineno, tok[0]);
		/* anything else (SPLIT:, EFFECTS NAME IS, >>> SOURCE, notes) says nothing the model holds */
	}
	free(buf);
	if (rc == 0 && s.nev == 0)
		rc = dits_error_set(DITS_EINVALID, "%s: not an EDL (no events)", name);
	if (rc == 0)
		rc = build(&s);
	free_events(&s);
	return rc;
}
