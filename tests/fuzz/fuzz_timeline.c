/*
 * fuzz_timeline - timelines (dits_timeline_parse): EDLs and OTIO files come
 * from other people's tools and machines, so their bytes are outside input.
 * Whatever parses must satisfy the model's invariants, which
 * media_tl_finish has checked: sorted clips within the duration, media
 * indices in range, dissolves within their clips.
 */
#include "fuzz_common.h"

#include "error.h"
#include "timeline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	dits_timeline t;
	/* the default rate, and one an EDL is given */
	for (int pass = 0; pass < 2; pass++) {
		AVRational rate = pass ? (AVRational){30000, 1001} : (AVRational){0, 1};
		if (dits_timeline_parse_rate((const char *)data, size, "fuzz", rate, &t) < 0)
			continue;
		if (t.rate.num <= 0 || t.rate.den <= 0)
			abort();
		for (size_t i = 0; i < t.nclips; i++) {
			const dits_tl_clip *c = &t.clips[i];
			if (c->rec_in < 0 || c->rec_out < c->rec_in || c->rec_out > t.duration)
				abort();
			if (c->media < -1 || c->media >= (int)t.nmedia)
				abort();
			if (c->dissolve < 0 || c->dissolve > c->rec_out - c->rec_in)
				abort();
			if (i && c[-1].kind == c->kind && c[-1].track == c->track && c[-1].rec_in > c->rec_in)
				abort();
		}
		dits_timeline_free(&t);
	}
	dits_error_clear();
	return 0;
}
