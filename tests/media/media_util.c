#include "media_util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char tmpdir[256];

static char *vfmt(const char *fmt, va_list ap)
{
	char *s = NULL;
	if (vasprintf(&s, fmt, ap) < 0)
		return NULL;
	return s;
}

int mu_sh(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *cmd = vfmt(fmt, ap);
	va_end(ap);
	if (!cmd)
		return -1;
	char *full = NULL;
	bool verbose = getenv("VERBOSE") != NULL;
	if (asprintf(&full, verbose ? "%s" : "{ %s ; } >/dev/null 2>&1", cmd) < 0) {
		free(cmd);
		return -1;
	}
	if (verbose)
		fprintf(stderr, "+ %s\n", cmd);
	int rc = system(full);
	free(cmd);
	free(full);
	return rc == 0 ? 0 : -1;
}

char *mu_capture(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *cmd = vfmt(fmt, ap);
	va_end(ap);
	if (!cmd)
		return NULL;
	FILE *p = popen(cmd, "r");
	free(cmd);
	if (!p)
		return NULL;
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	size_t n;
	while (buf && (n = fread(buf + len, 1, cap - len - 1, p)) > 0) {
		len += n;
		if (cap - len < 2) {
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap *= 2;
		}
	}
	int rc = pclose(p);
	if (!buf)
		return NULL;
	buf[len] = 0;
	if (rc != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

const char *mu_tmpdir(void)
{
	if (!tmpdir[0]) {
		const char *t = getenv("TMPDIR");
		snprintf(tmpdir, sizeof(tmpdir), "%s/dits-media-test-XXXXXX", t && t[0] ? t : "/tmp");
		if (!mkdtemp(tmpdir)) {
			perror("mkdtemp");
			exit(1);
		}
		atexit(mu_tmpdir_remove); /* also when a REQUIRE gives up */
	}
	return tmpdir;
}

void mu_tmpdir_remove(void)
{
	if (tmpdir[0] && !getenv("KEEP_TMP"))
		mu_sh("rm -rf '%s'", tmpdir);
	else if (tmpdir[0])
		fprintf(stderr, "kept %s\n", tmpdir);
	tmpdir[0] = 0;
}

const char *mu_path(const char *name)
{
	static char bufs[64][512]; /* rotating: a returned path survives 63 more calls */
	static int k;
	char *b = bufs[k++ % 64];
	snprintf(b, 512, "%s/%s", mu_tmpdir(), name);
	return b;
}

char *mu_ffprobe(const char *path)
{
	return mu_capture("ffprobe -v error -show_streams -show_format -of json '%s' 2>/dev/null", path);
}

/* The end of the JSON value starting at p (object, array, string or scalar). */
static const char *value_end(const char *p)
{
	if (*p == '"') {
		for (p++; *p && *p != '"'; p++)
			if (*p == '\\' && p[1])
				p++;
		return *p ? p + 1 : p;
	}
	if (*p == '{' || *p == '[') {
		int depth = 0;
		bool in_str = false;
		for (; *p; p++) {
			if (in_str) {
				if (*p == '\\' && p[1])
					p++;
				else if (*p == '"')
					in_str = false;
			} else if (*p == '"') {
				in_str = true;
			} else if (*p == '{' || *p == '[') {
				depth++;
			} else if (*p == '}' || *p == ']') {
				if (--depth == 0)
					return p + 1;
			}
		}
		return p;
	}
	while (*p && *p != ',' && *p != '}' && *p != ']' && *p != '\n')
		p++;
	return p;
}

char *mu_stream(const char *json, const char *type, int idx)
{
	const char *p = json ? strstr(json, "\"streams\"") : NULL;
	if (!p || !(p = strchr(p, '[')))
		return NULL;
	p++;
	int seen = 0;
	for (;;) {
		while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r' || *p == ',')
			p++;
		if (*p != '{')
			return NULL;
		const char *e = value_end(p);
		char *obj = strndup(p, (size_t)(e - p));
		char t[32];
		if (!type || (mu_json_str(obj, "codec_type", t, sizeof(t)) && strcmp(t, type) == 0)) {
			if (seen++ == idx)
				return obj;
		}
		free(obj);
		p = e;
	}
}

bool mu_json_str(const char *json, const char *key, char *out, size_t cap)
{
	char pat[128];
	snprintf(pat, sizeof(pat), "\"%s\":", key);
	const char *p = json ? strstr(json, pat) : NULL;
	if (!p)
		return false;
	p += strlen(pat);
	while (*p == ' ')
		p++;
	const char *e = value_end(p);
	if (*p == '"') {
		p++;
		e--;
	}
	size_t n = (size_t)(e - p);
	if (n >= cap)
		n = cap - 1;
	memcpy(out, p, n);
	out[n] = 0;
	return true;
}

long mu_json_long(const char *json, const char *key, long dflt)
{
	char v[64];
	return mu_json_str(json, key, v, sizeof(v)) ? strtol(v, NULL, 10) : dflt;
}

bool mu_file_nonempty(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && st.st_size > 0;
}

bool mu_decodes(const char *path)
{
	return mu_sh("ffmpeg -v error -xerror -i '%s' -f null -", path) == 0;
}

/* Video: testsrc2; audio: sine, made N channels with -ac. */
#define V(size, rate, frames) "-f lavfi -i testsrc2=s=" size ":r=" rate " "
#define F(frames) "-frames:v " frames " "
#define A1 "-f lavfi -i sine=f=440:r=48000:d=3 "
#define A1_441 "-f lavfi -i sine=f=440:r=44100:d=3 "
#define PRORES "-c:v prores_ks -profile:v 3 -qscale:v 8 "
/* 60 frames on a 1/90000 time base, every third 4 ms late, averaging avg fps */
#define PHONE_VFR(avg)                                                                                      \
	V("320x180", "30", "60") A1 F("60") PRORES                                                           \
	"-vf \"settb=1/90000,setpts='(N/" avg "+if(eq(mod(N\\,3)\\,1)\\,0.004\\,0))/TB'\" -fps_mode passthrough " \
	"-enc_time_base:v 1/90000 -video_track_timescale 90000 -ac 2 -c:a pcm_s16le %s"

const mu_source mu_sources[] = {
	{"r2398_tc.mov", V("320x180", "24000/1001", "48") A1 F("48") PRORES "-ac 2 -c:a pcm_s24le -timecode '01:00:00:00' %s",
	 24000, 1001, "01:00:00:00", 1, {2}, 16, 9, false, "", 540},
	{"r25_notc.mov", V("320x180", "25", "50") A1 F("50") PRORES "-ac 1 -c:a pcm_s16le %s",
	 25, 1, "", 1, {1}, 16, 9, false, "", 540},
	{"r2997df.mov", V("320x180", "30000/1001", "60") A1 F("60") PRORES "-ac 4 -c:a pcm_s16le -timecode '01:00:00;00' %s",
	 30000, 1001, "01:00:00;00", 1, {4}, 16, 9, false, "", 540},
	{"r50_8ch.mov", V("320x180", "50", "50") A1 F("50") PRORES "-ac 8 -c:a pcm_s24le -timecode '00:59:59:00' %s",
	 50, 1, "00:59:59:00", 1, {8}, 16, 9, false, "", 540},
	{"r5994_2streams.mov",
	 V("320x180", "60000/1001", "60") A1 A1_441 F("60") PRORES
	 "-map 0:v -map 1:a -map 2:a -ac:a:0 2 -c:a pcm_s16le -timecode '10:00:00;00' "
	 "-metadata:s:v:0 reel_name=A001C003 %s",
	 60000, 1001, "10:00:00;00", 2, {2, 1}, 16, 9, false, "", 540},
	{"mxf25_tc.mxf", V("320x180", "25", "50") A1 F("50") "-c:v mpeg2video -g 1 -ac 2 -c:a pcm_s16le -timecode '01:00:00:00' %s",
	 25, 1, "01:00:00:00", 1, {2}, 16, 9, false, "", 540},
	{"mxf2997df.mxf",
	 V("320x180", "30000/1001", "60") A1 F("60")
	 "-c:v mpeg2video -ac 8 -c:a pcm_s24le -timecode '01:00:00;00' -metadata reel_name=B002 %s",
	 30000, 1001, "01:00:00;00", 1, {8}, 16, 9, false, "", 540},
	{"ar4x3.mov", V("240x180", "25", "25") A1 F("25") PRORES "-ac 2 -c:a pcm_s16le %s",
	 25, 1, "", 1, {2}, 4, 3, false, "", 540},
	{"dci_17x9.mov", V("1024x540", "24", "24") A1 F("24") PRORES "-ac 2 -c:a pcm_s24le -timecode '01:00:00:00' %s",
	 24, 1, "01:00:00:00", 1, {2}, 256, 135, false, "", 540},
	{"dci2k_1080.mov", V("2048x1080", "24", "24") A1 F("24") PRORES "-ac 2 -c:a pcm_s24le -timecode '12:34:56:12' %s",
	 24, 1, "12:34:56:12", 1, {2}, 256, 135, false, "", 1080},
	{"anamorphic.mov", V("360x288", "25", "25") A1 F("25") PRORES "-vf setsar=64/45 -ac 2 -c:a pcm_s16le %s",
	 25, 1, "", 1, {2}, 16, 9, false, "", 540},
	{"vfr.mov",
	 V("320x180", "25", "50") A1 F("50") PRORES
	 "-vf \"settb=1/1000,setpts='(N+if(eq(mod(N\\,3)\\,1)\\,0.4\\,0))/(25*TB)'\" -fps_mode passthrough "
	 "-enc_time_base:v 1/1000 -ac 2 -c:a pcm_s16le %s",
	 25, 1, "", 1, {2}, 16, 9, true, "", 540},
	/* Phone-like VFR: a 1/90000 time base, jittered, averaging 30.2 and 29.3 fps.
	   The conform rate is the editing rate nearest the average (30, 29.97);
	   r_frame_rate (88/3 for the second) is not used. */
	{"vfr_phone30.mov", PHONE_VFR("30.2"), 30, 1, "", 1, {2}, 16, 9, true, "", 540},
	{"vfr_phone2993.mov", PHONE_VFR("29.3"), 30000, 1001, "", 1, {2}, 16, 9, true, "", 540},
	{"slog3.mov", V("320x180", "25", "25") A1 F("25") PRORES
	 "-ac 2 -c:a pcm_s16le -movflags use_metadata_tags -metadata com.sony.gamma=s-log3-cine %s",
	 25, 1, "", 1, {2}, 16, 9, false, "slog3", 540},
	{"sd_interlaced.mov",
	 V("720x576", "25", "25") A1 F("25")
	 "-vf setsar=16/15 -flags +ildct+ilme -field_order tt -colorspace bt470bg -color_primaries bt470bg "
	 "-color_trc smpte170m -c:v mpeg2video -ac 2 -c:a pcm_s16le -timecode '09:59:50:00' %s",
	 25, 1, "09:59:50:00", 1, {2}, 4, 3, false, "", 540},
	{"fade_in.mov",
	 "-f lavfi -i \"color=black:s=320x180:r=25:d=1[a];testsrc2=s=320x180:r=25:d=1[b];[a][b]concat=n=2\" "
	 A1 "-frames:v 50 " PRORES "-ac 2 -c:a pcm_s16le -metadata title='Dits test' %s",
	 25, 1, "", 1, {2}, 16, 9, false, "", 540},
	{"audio_delay.mov", V("320x180", "25", "50") "-itsoffset 0.5 " A1 F("50") PRORES "-ac 2 -c:a pcm_s16le %s",
	 25, 1, "", 1, {2}, 16, 9, false, "", 540},
	/* A hole in the audio (0.5 s from 1 s: whole frames dropped, timestamps kept),
	   and audio that starts half a second before the picture. */
	{"audio_gap.mkv", V("320x180", "25", "50") A1 F("50") PRORES
	 "-af \"aselect='not(between(t\\,1\\,1.5))'\" -ac 2 -c:a pcm_s16le %s",
	 25, 1, "", 1, {2}, 16, 9, false, "", 540},
	{"video_delay.mkv", "-itsoffset 0.5 " V("320x180", "25", "50") A1 F("50") PRORES "-ac 2 -c:a pcm_s16le %s",
	 25, 1, "", 1, {2}, 16, 9, false, "", 540},
	{"h264_aac.mov", V("320x180", "25", "50") A1 F("50") "-c:v libx264 -preset ultrafast -ac 2 -c:a aac %s",
	 25, 1, "", 1, {2}, 16, 9, false, "", 540},
};
const int mu_nsources = (int)(sizeof(mu_sources) / sizeof(mu_sources[0]));

const char *mu_make_source(const mu_source *s)
{
	const char *out = mu_path(s->name);
	if (mu_file_nonempty(out))
		return out;
	char *args = NULL;
	if (asprintf(&args, s->ffmpeg, out) < 0)
		return NULL;
	int rc = mu_sh("ffmpeg -nostdin -v error -y %s", args);
	free(args);
	return rc == 0 ? out : NULL;
}

long mu_count_packets(const char *path, const char *type, int idx)
{
	char sel = type[0];
	char *out = mu_capture("ffprobe -v error -count_packets -select_streams %c:%d "
	                       "-show_entries stream=nb_read_packets -of csv=p=0 '%s' 2>/dev/null",
	                       sel, idx, path);
	if (!out)
		return -1;
	long n = strtol(out, NULL, 10);
	free(out);
	return n;
}

long mu_count_samples(const char *path, int idx, int channels)
{
	char *out = mu_capture("ffmpeg -nostdin -v error -i '%s' -map 0:a:%d -c:a pcm_s16le -f s16le - 2>/dev/null | wc -c",
	                       path, idx);
	if (!out)
		return -1;
	long n = strtol(out, NULL, 10);
	free(out);
	return n / (2L * channels);
}

bool mu_audio_silent(const char *path, double at, double len)
{
	char *out = mu_capture("ffmpeg -nostdin -v error -ss %.3f -t %.3f -i '%s' -map 0:a:0 "
	                       "-af astats=metadata=1:reset=0,ametadata=print:key=lavfi.astats.Overall.Peak_level:file=- "
	                       "-f null - 2>/dev/null | tail -1",
	                       at, len, path);
	if (!out)
		return false;
	/* "lavfi.astats.Overall.Peak_level=-inf" for digital silence */
	bool silent = strstr(out, "=-inf") != NULL;
	free(out);
	return silent;
}
