/*
 * timeline.c - the timeline model's common part: the
 * helpers the parsers grow it with, and freeing. The formats are in
 * timeline_edl.c, timeline_otio.c and timeline_xml.c.
 */
#include <ctype.h>
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "buf.h"
#include "error.h"
#include "fsutil.h"
#include "timeline_internal.h"

const char *dits_timeline_format_name(int format)
{
	switch (format) {
	case DITS_TL_EDL: return "EDL";
	case DITS_TL_XMEML: return "FCP7 XML";
	case DITS_TL_FCPXML: return "FCPXML";
	case DITS_TL_OTIO: return "OTIO";
	default: return "timeline";
	}
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

int media_tl_add_media(dits_timeline *t, const char *name, const char *path, const char *reel, AVRational rate,
                       int64_t tc_start)
{
	dits_tl_media *m = realloc(t->media, (t->nmedia + 1) * sizeof(*m));
	if (!m)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	t->media = m;
	dits_tl_media *e = &m[t->nmedia];
	*e = (dits_tl_media){dup_or_null(name), dup_or_null(path), dup_or_null(reel), rate, tc_start};
	if ((name && !e->name) || (path && !e->path) || (reel && !e->reel)) {
		free(e->name), free(e->path), free(e->reel);
		return dits_error_set(DITS_ENOMEM, "out of memory");
	}
	return (int)t->nmedia++;
}

int media_tl_add_clip(dits_timeline *t, const dits_tl_clip *c)
{
	dits_tl_clip *v = realloc(t->clips, (t->nclips + 1) * sizeof(*v));
	if (!v)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	t->clips = v;
	dits_tl_clip *e = &v[t->nclips];
	*e = *c;
	e->name = dup_or_null(c->name);
	if (c->name && !e->name)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	if (e->speed.num == 0 && e->speed.den == 0)
		e->speed = (AVRational){1, 1};
	if (e->speed.den == 0)
		e->speed.den = 1;
	t->nclips++;
	return 0;
}

/* skipped items are kept as "kind\tevent" lines until finish groups them */
int media_tl_skip(dits_timeline *t, const char *kind, int event)
{
	char **v = realloc(t->skipped, (t->nskipped + 1) * sizeof(*v));
	if (!v)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	t->skipped = v;
	char *line = dits_strfmt("%s\t%d", kind, event);
	if (!line)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	v[t->nskipped++] = line;
	return 0;
}

static int cmp_clip(const void *a, const void *b)
{
	const dits_tl_clip *x = a, *y = b;
	if (x->kind != y->kind)
		return x->kind - y->kind;
	if (x->track != y->track)
		return x->track - y->track;
	if (x->rec_in != y->rec_in)
		return x->rec_in < y->rec_in ? -1 : 1;
	return x->event - y->event;
}

/* "3 titles (events 4, 7, 9)": one line per kind, in the order kinds first appear */
static int group_skipped(dits_timeline *t)
{
	size_t n = t->nskipped;
	char **lines = t->skipped;
	char **out = calloc(n + 1, sizeof(*out));
	bool *done = calloc(n + 1, sizeof(*done));
	size_t nout = 0;
	int rc = out && done ? 0 : dits_error_set(DITS_ENOMEM, "out of memory");
	for (size_t i = 0; i < n && !rc; i++) {
		if (done[i])
			continue;
		size_t klen = strcspn(lines[i], "\t");
		dits_buf b = DITS_BUF_INIT;
		size_t count = 0;
		for (size_t j = i; j < n; j++)
			if (!done[j] && strncmp(lines[j], lines[i], klen + 1) == 0)
				count++;
		dits_buf_printf(&b, "%zu %.*s%s (event%s ", count, (int)klen, lines[i], count == 1 ? "" : "s",
		                count == 1 ? "" : "s");
		size_t k = 0;
		for (size_t j = i; j < n; j++) {
			if (done[j] || strncmp(lines[j], lines[i], klen + 1) != 0)
				continue;
			done[j] = true;
			if (k < 10)
				dits_buf_printf(&b, "%s%s", k ? ", " : "", lines[j] + klen + 1);
			else if (k == 10)
				dits_buf_puts(&b, ", ...");
			k++;
		}
		dits_buf_puts(&b, ")");
		if (dits_buf_cstr(&b) < 0) {
			dits_buf_free(&b);
			rc = dits_error_set(DITS_ENOMEM, "out of memory");
			break;
		}
		out[nout++] = (char *)b.data;
	}
	for (size_t i = 0; i < n; i++)
		free(lines[i]);
	free(lines);
	free(done);
	t->skipped = out;
	t->nskipped = rc ? 0 : nout;
	if (rc) {
		for (size_t i = 0; i < nout; i++)
			free(out[i]);
	}
	return rc;
}

int media_tl_finish(dits_timeline *t, const char *name)
{
	if (t->rate.num <= 0 || t->rate.den <= 0)
		return dits_error_set(DITS_EINVALID, "%s: no frame rate", name);
	if (t->nclips)
		qsort(t->clips, t->nclips, sizeof(*t->clips), cmp_clip);
	t->duration = 0;
	t->nvideo_tracks = t->naudio_tracks = 0;
	for (size_t i = 0; i < t->nclips; i++) {
		const dits_tl_clip *c = &t->clips[i];
		if (c->rec_out < c->rec_in || c->rec_in < 0)
			return dits_error_set(DITS_EINVALID, "%s: event %d: record out before record in", name, c->event);
		if (c->media < -1 || c->media >= (int)t->nmedia)
			return dits_error_set(DITS_EINVALID, "%s: event %d: no such media", name, c->event);
		if (c->dissolve < 0 || c->dissolve > c->rec_out - c->rec_in)
			return dits_error_set(DITS_EINVALID, "%s: event %d: dissolve longer than the clip", name, c->event);
		if (c->src_rate.num <= 0 || c->src_rate.den <= 0 || c->speed.den <= 0)
			return dits_error_set(DITS_EINVALID, "%s: event %d: no source rate", name, c->event);
		if (c->rec_out > t->duration)
			t->duration = c->rec_out;
		int *ntracks = c->kind == DITS_TL_VIDEO ? &t->nvideo_tracks : &t->naudio_tracks;
		if (c->track + 1 > *ntracks)
			*ntracks = c->track + 1;
	}
	return group_skipped(t);
}

void dits_timeline_free(dits_timeline *t)
{
	if (!t)
		return;
	free(t->name);
	for (size_t i = 0; i < t->nclips; i++)
		free(t->clips[i].name);
	free(t->clips);
	for (size_t i = 0; i < t->nmedia; i++) {
		free(t->media[i].name);
		free(t->media[i].path);
		free(t->media[i].reel);
	}
	free(t->media);
	for (size_t i = 0; i < t->nskipped; i++)
		free(t->skipped[i]);
	free(t->skipped);
	memset(t, 0, sizeof(*t));
}

