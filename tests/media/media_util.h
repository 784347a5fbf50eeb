/*
 * media_util.h - helpers for the media tests: run the ffmpeg program to make
 * sources, capture ffprobe's JSON, and pick values out of it.
 */
#ifndef DITS_TEST_MEDIA_UTIL_H
#define DITS_TEST_MEDIA_UTIL_H

#include <stdbool.h>
#include <stddef.h>

/* Runs a shell command (stdout/stderr to /dev/null unless verbose). 0 on exit status 0. */
int mu_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Runs a shell command and returns its stdout (malloc'd), NULL on failure. */
char *mu_capture(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Creates a temporary directory; returns its path (static storage). */
const char *mu_tmpdir(void);
/* Removes the directory from mu_tmpdir() unless KEEP_TMP is set. */
void mu_tmpdir_remove(void);
/* path inside the temporary directory (rotating static buffers) */
const char *mu_path(const char *name);

/*
 * ffprobe -show_streams -show_format -of json. mu_stream() returns a copy of
 * the text of the idx-th stream object (of codec_type type, or any when
 * NULL), or NULL. mu_json_str() finds "key": value in a JSON text (nested
 * objects included) and copies the value without quotes; false when absent.
 */
char *mu_ffprobe(const char *path);
char *mu_stream(const char *json, const char *type, int idx);
bool mu_json_str(const char *json, const char *key, char *out, size_t cap);
long mu_json_long(const char *json, const char *key, long dflt);

bool mu_file_nonempty(const char *path);
/* Decodes every frame of path with the ffmpeg program: true when it decodes cleanly. */
bool mu_decodes(const char *path);


/* ---- the source matrix (issue 3 "Tests") ---- */

typedef struct mu_source {
	const char *name;     /* file name in the temporary directory */
	const char *ffmpeg;   /* ffmpeg arguments; %s is the output path */
	int rate_num, rate_den;
	const char *timecode; /* "" when none */
	int naudio;
	int channels[4];
	int dar_num, dar_den;
	bool vfr;
	const char *log_curve;
	int max_height;       /* the recipe height the proxy test uses */
} mu_source;

extern const mu_source mu_sources[];
extern const int mu_nsources;

/* Makes the source in the temporary directory; returns its path or NULL. */
const char *mu_make_source(const mu_source *s);
/* ffprobe's independent count of a stream's packets (video: frames). */
long mu_count_packets(const char *path, const char *type, int idx);
/* True when the first audio stream is digital silence from `at` for `len` seconds (ffmpeg's astats). */
bool mu_audio_silent(const char *path, double at, double len);
/* Samples per channel in the idx-th audio stream, decoded by the ffmpeg program. */
long mu_count_samples(const char *path, int idx, int channels);

#endif
