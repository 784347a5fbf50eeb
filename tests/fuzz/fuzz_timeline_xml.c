/*
 * fuzz_timeline_xml - the XML timeline parsers (media_tl_parse_xmeml and
 * media_tl_parse_fcpxml): timelines come from other people's machines, and
 * `dits render` reads them. Each input goes to both parsers, then through
 * media_tl_finish as dits_timeline_parse does.
 */
#include "fuzz_common.h"

#include "error.h"
#include "timeline_internal.h"

typedef int (*parse_fn)(const char *, size_t, const char *, dits_timeline *);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = 0;
	parse_fn fns[] = {media_tl_parse_xmeml, media_tl_parse_fcpxml};
	for (size_t i = 0; i < sizeof(fns) / sizeof(*fns); i++) {
		dits_timeline t;
		memset(&t, 0, sizeof(t));
		int rc = fns[i](text, size, "fuzz", &t);
		if (rc == 0)
			rc = media_tl_finish(&t, "fuzz");
		if (rc == 0) {
			/* what finish accepts holds together */
			for (size_t k = 0; k < t.nclips; k++) {
				const dits_tl_clip *c = &t.clips[k];
				if (c->rec_out < c->rec_in || c->media >= (int)t.nmedia || c->speed.den <= 0)
					abort();
			}
		}
		dits_timeline_free(&t);
		dits_error_clear();
	}
	free(text);
	return 0;
}
