/*
 * source.c - dits_media_source over a file, and the seekable custom
 * AVIOContext every reader in src/media goes through.
 *
 * The AVIOContext is seekable on purpose: FFmpeg's MOV demuxer reads the
 * tmcd timecode track (and the moov atom at the end of a file) only when it
 * can seek, and a worker reading from stored chunks can always seek.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libavutil/error.h>
#include <libavutil/log.h>

#include "error.h"
#include "media_internal.h"

#define AVIO_BUFFER_SIZE (1 << 20)

typedef struct file_source {
	int fd;
	int64_t size;
} file_source;

static int file_read(void *opaque, uint8_t *buf, int size)
{
	file_source *fs = opaque;
	for (;;) {
		ssize_t n = read(fs->fd, buf, (size_t)size);
		if (n > 0)
			return (int)n;
		if (n == 0)
			return AVERROR_EOF;
		if (errno != EINTR)
			return AVERROR(errno);
	}
}

static int64_t file_seek(void *opaque, int64_t offset, int whence)
{
	file_source *fs = opaque;
	if (whence & AVSEEK_SIZE)
		return fs->size;
	off_t r = lseek(fs->fd, (off_t)offset, whence & ~AVSEEK_FORCE);
	return r < 0 ? AVERROR(errno) : (int64_t)r;
}

int dits_media_source_open_file(dits_media_source *src, const char *path)
{
	memset(src, 0, sizeof(*src));
	file_source *fs = calloc(1, sizeof(*fs));
	if (!fs)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	fs->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fs->fd < 0) {
		int rc = dits_error_errno("%s", path);
		free(fs);
		return rc;
	}
	struct stat st;
	if (fstat(fs->fd, &st) < 0) {
		int rc = dits_error_errno("%s", path);
		close(fs->fd);
		free(fs);
		return rc;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fs->fd);
		free(fs);
		return dits_error_set(DITS_EINVALID, "%s: not a regular file", path);
	}
	fs->size = st.st_size;
	src->opaque = fs;
	src->read = file_read;
	src->seek = file_seek;
	src->name = path;
	return 0;
}

void dits_media_source_close_file(dits_media_source *src)
{
	file_source *fs = src->opaque;
	if (fs) {
		close(fs->fd);
		free(fs);
	}
	memset(src, 0, sizeof(*src));
}

int media_av_error(int code, const char *name, const char *what, int err)
{
	char msg[AV_ERROR_MAX_STRING_SIZE];
	av_strerror(err, msg, sizeof(msg));
	return dits_error_set(code, "%s: %s: %s", name, what, msg);
}

int media_read_error_code(const AVIOContext *pb, int err)
{
	if (err == AVERROR(EIO) || (pb && pb->error < 0 && pb->error != AVERROR_EOF &&
	                            pb->error != AVERROR_INVALIDDATA))
		return DITS_EIO;
	return DITS_EINVALID;
}

int media_ncpu(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > 64 ? 64 : (int)n;
}

int media_video_stream(AVFormatContext *fmt)
{
	int best = -1;
	int64_t best_area = -1;
	for (unsigned i = 0; i < fmt->nb_streams; i++) {
		const AVStream *st = fmt->streams[i];
		if (st->codecpar->codec_type != AVMEDIA_TYPE_VIDEO ||
		    (st->disposition & AV_DISPOSITION_ATTACHED_PIC))
			continue;
		int64_t area = (int64_t)st->codecpar->width * st->codecpar->height;
		if (area > best_area) {
			best = (int)i;
			best_area = area;
		}
	}
	return best;
}

bool media_is_audio_stream(const AVStream *st)
{
	return st->codecpar->codec_type == AVMEDIA_TYPE_AUDIO && st->codecpar->ch_layout.nb_channels > 0 &&
	       st->codecpar->sample_rate > 0;
}

void media_input_close(media_input *in)
{
	if (in->fmt)
		avformat_close_input(&in->fmt);
	if (in->pb) {
		av_freep(&in->pb->buffer);
		avio_context_free(&in->pb);
	}
}

static int input_open(media_input *in, const dits_media_source *src, bool fast);

int media_input_open(media_input *in, const dits_media_source *src)
{
	return input_open(in, src, false);
}

int media_input_open_fast(media_input *in, const dits_media_source *src)
{
	return input_open(in, src, true);
}

/* True when the header alone gave what the proxy pass needs of every stream. */
static bool header_complete(const AVFormatContext *fmt)
{
	const char *name = fmt->iformat->name;
	if (strncmp(name, "mov", 3) != 0 && strcmp(name, "mxf") != 0)
		return false;
	for (unsigned i = 0; i < fmt->nb_streams; i++) {
		const AVCodecParameters *p = fmt->streams[i]->codecpar;
		if (p->codec_type == AVMEDIA_TYPE_VIDEO && (p->width <= 0 || p->height <= 0))
			return false;
		if (p->codec_type == AVMEDIA_TYPE_AUDIO && (p->sample_rate <= 0 || p->ch_layout.nb_channels <= 0))
			return false;
		if ((p->codec_type == AVMEDIA_TYPE_VIDEO || p->codec_type == AVMEDIA_TYPE_AUDIO) &&
		    p->codec_id == AV_CODEC_ID_NONE)
			return false;
	}
	return true;
}

static int input_open(media_input *in, const dits_media_source *src, bool fast)
{
	memset(in, 0, sizeof(*in));
	in->name = src->name ? src->name : "(media)";
	/* libav* is quiet inside the library; DITS_AV_LOG=debug|info|warning|error shows it. */
	const char *lvl = getenv("DITS_AV_LOG");
	av_log_set_level(!lvl ? AV_LOG_QUIET : strcmp(lvl, "debug") == 0 ? AV_LOG_DEBUG : strcmp(lvl, "info") == 0 ? AV_LOG_INFO : strcmp(lvl, "warning") == 0 ? AV_LOG_WARNING : AV_LOG_ERROR);

	int64_t size = src->seek ? src->seek(src->opaque, 0, AVSEEK_SIZE) : -1;
	if (size == 0)
		return dits_error_set(DITS_EINVALID, "%s: not a media file (empty)", in->name);
	if (src->seek && src->seek(src->opaque, 0, SEEK_SET) < 0)
		return dits_error_set(DITS_EIO, "%s: cannot seek to the start", in->name);

	uint8_t *buf = av_malloc(AVIO_BUFFER_SIZE);
	if (!buf)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	in->pb = avio_alloc_context(buf, AVIO_BUFFER_SIZE, 0, src->opaque, src->read, NULL, src->seek);
	if (!in->pb) {
		av_free(buf);
		return dits_error_set(DITS_ENOMEM, "out of memory");
	}

	/* A score at or below AVPROBE_SCORE_RETRY is a guess (random bytes
	   often look a little like MP3 or MPEG-TS): not media. */
	const AVInputFormat *ifmt = NULL;
	int err = av_probe_input_buffer2(in->pb, &ifmt, in->name, NULL, 0, 0);
	if (err <= AVPROBE_SCORE_RETRY || !ifmt) {
		media_input_close(in);
		return dits_error_set(DITS_EINVALID, "%s: not a media file", in->name);
	}

	in->fmt = avformat_alloc_context();
	if (!in->fmt) {
		media_input_close(in);
		return dits_error_set(DITS_ENOMEM, "out of memory");
	}
	in->fmt->pb = in->pb;
	in->fmt->flags |= AVFMT_FLAG_CUSTOM_IO;
	err = avformat_open_input(&in->fmt, in->name, ifmt, NULL);
	if (err < 0) {
		/* avformat_open_input frees the context on failure. */
		in->fmt = NULL;
		media_input_close(in);
		char msg[AV_ERROR_MAX_STRING_SIZE];
		av_strerror(err, msg, sizeof(msg));
		return dits_error_set(DITS_EINVALID, "%s: truncated or corrupt (%s: %s)", in->name,
		                      ifmt->name, msg);
	}
	if (fast && header_complete(in->fmt))
		return 0;
	err = avformat_find_stream_info(in->fmt, NULL);
	if (err < 0) {
		media_input_close(in);
		char msg[AV_ERROR_MAX_STRING_SIZE];
		av_strerror(err, msg, sizeof(msg));
		return dits_error_set(DITS_EINVALID, "%s: truncated or corrupt (stream info: %s)",
		                      in->name, msg);
	}
	return 0;
}
