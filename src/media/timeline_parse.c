/*
 * timeline_parse.c - reading a timeline: the format from the content, then
 * its parser (timeline_edl.c, timeline_otio.c, timeline_xml.c). Apart from
 * timeline.c so that a parser's tests link that parser alone.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "buf.h"
#include "error.h"
#include "fsutil.h"
#include "timeline_internal.h"

/* The format from the content: XML by its root element, JSON by OTIO's schema key, else EDL. */
static int detect(const char *d, size_t len)
{
	size_t i = 0;
	if (len >= 3 && (unsigned char)d[0] == 0xef && (unsigned char)d[1] == 0xbb && (unsigned char)d[2] == 0xbf)
		i = 3; /* UTF-8 BOM */
	while (i < len && isspace((unsigned char)d[i]))
		i++;
	if (i < len && d[i] == '<') {
		if (strstr(d + i, "<fcpxml"))
			return DITS_TL_FCPXML;
		if (strstr(d + i, "<xmeml"))
			return DITS_TL_XMEML;
		return 0;
	}
	if (i < len && d[i] == '{')
		return strstr(d + i, "\"OTIO_SCHEMA\"") ? DITS_TL_OTIO : 0;
	return DITS_TL_EDL;
}

int dits_timeline_parse(const char *data, size_t len, const char *name, dits_timeline *out)
{
	return dits_timeline_parse_rate(data, len, name, (AVRational){0, 1}, out);
}

int dits_timeline_parse_rate(const char *data, size_t len, const char *name, AVRational edl_rate,
                             dits_timeline *out)
{
	memset(out, 0, sizeof(*out));
	/* the parsers get a NUL-terminated copy */
	char *copy = malloc(len + 1);
	if (!copy)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	memcpy(copy, data, len);
	copy[len] = 0;
	if (memchr(data, 0, len)) {
		free(copy);
		return dits_error_set(DITS_EINVALID, "%s: not a timeline (binary data)", name);
	}
	int fmt = detect(copy, len), rc;
	switch (fmt) {
	case DITS_TL_EDL:
		/* the EDL parser reads the rate it is told from out->rate */
		if (edl_rate.num > 0 && edl_rate.den > 0)
			out->rate = edl_rate;
		rc = media_tl_parse_edl(copy, len, name, out);
		break;
	case DITS_TL_OTIO: rc = media_tl_parse_otio(copy, len, name, out); break;
	case DITS_TL_XMEML: rc = media_tl_parse_xmeml(copy, len, name, out); break;
	case DITS_TL_FCPXML: rc = media_tl_parse_fcpxml(copy, len, name, out); break;
	default:
		rc = dits_error_set(DITS_EINVALID,
		                    "%s: not a timeline (EDL, FCP7 XML, FCPXML or OpenTimelineIO expected)", name);
	}
	free(copy);
	if (rc == 0) {
		out->format = fmt;
		rc = media_tl_finish(out, name);
	}
	if (rc < 0)
		dits_timeline_free(out);
	return rc;
}

int dits_timeline_parse_file(const char *path, dits_timeline *out)
{
	return dits_timeline_parse_file_rate(path, (AVRational){0, 1}, out);
}

int dits_timeline_parse_file_rate(const char *path, AVRational edl_rate, dits_timeline *out)
{
	memset(out, 0, sizeof(*out));
	struct stat st;
	if (stat(path, &st) < 0)
		return dits_error_set(DITS_ENOTFOUND, "%s: no such file", path);
	char *file = NULL;
	if (S_ISDIR(st.st_mode)) {
		/* an .fcpxmld bundle: the document is Info.fcpxml inside it */
		file = dits_strfmt("%s/Info.fcpxml", path);
		if (!file)
			return dits_error_set(DITS_ENOMEM, "out of memory");
		if (stat(file, &st) < 0 || !S_ISREG(st.st_mode)) {
			free(file);
			return dits_error_set(DITS_EINVALID, "%s: a directory, not an .fcpxmld bundle (no Info.fcpxml)",
			                      path);
		}
	}
	if (st.st_size > (64 << 20)) {
		free(file);
		return dits_error_set(DITS_EINVALID, "%s: too large for a timeline (%lld bytes)", path,
		                      (long long)st.st_size);
	}
	dits_buf b = DITS_BUF_INIT;
	int rc = dits_read_file(file ? file : path, &b);
	free(file);
	if (rc < 0) {
		dits_buf_free(&b);
		return dits_error_wrap(rc, "%s", path);
	}
	rc = dits_timeline_parse_rate((const char *)b.data, b.len, path, edl_rate, out);
	dits_buf_free(&b);
	return rc;
}
