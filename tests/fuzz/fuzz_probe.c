/*
 * fuzz_probe - the media probe (dits_media_probe) over arbitrary bytes: a
 * file added to a repository is probed before anything else looks at it,
 * and the probe's own code reads what FFmpeg's demuxers make of it (the
 * sample tables it counts frames and PCM audio from, timestamps, tags).
 * Seeds are tiny MOV files: PCM with the table counted, audio before the
 * picture, and a faststart file.
 */
#include "fuzz_common.h"

#include <libavformat/avio.h>
#include <libavutil/error.h>
#include <libavutil/log.h>

#include "error.h"
#include "media.h"

typedef struct mem {
	const uint8_t *data;
	int64_t size, pos;
} mem;

static int mem_read(void *opaque, uint8_t *buf, int size)
{
	mem *m = opaque;
	if (m->pos >= m->size)
		return AVERROR_EOF;
	int64_t n = m->size - m->pos;
	if (n > size)
		n = size;
	memcpy(buf, m->data + m->pos, (size_t)n);
	m->pos += n;
	return (int)n;
}

static int64_t mem_seek(void *opaque, int64_t offset, int whence)
{
	mem *m = opaque;
	whence &= ~AVSEEK_FORCE;
	if (whence == AVSEEK_SIZE)
		return m->size;
	int64_t p = whence == SEEK_SET ? offset : whence == SEEK_CUR ? m->pos + offset : m->size + offset;
	if (p < 0)
		return -1;
	m->pos = p;
	return p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool quiet;
	if (!quiet) {
		av_log_set_level(AV_LOG_QUIET);
		quiet = true;
	}
	mem m = {data, (int64_t)size, 0};
	dits_media_source src = {&m, mem_read, mem_seek, "fuzz.mov"};
	dits_media_facts f;
	if (dits_media_probe(&src, &f) == 0) {
		/* what the probe found is written and read back as the proxy records do */
		char *json = dits_media_facts_json(&f);
		dits_media_facts back;
		if (!json || dits_media_facts_parse(json, NULL, &back) != 0 || back.frame_count != f.frame_count ||
		    back.naudio != f.naudio || (f.naudio && back.audio[0].samples != f.audio[0].samples))
			abort();
		free(json);
	}
	dits_error_clear();
	return 0;
}
