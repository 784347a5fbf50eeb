/*
 * Timecode labels and frame counts (see timecode.h).
 */
#include "timecode.h"

#include <inttypes.h>
#include <stdio.h>

#include "error.h"

int dits_tc_fps(int num, int den)
{
	if (num <= 0 || den <= 0)
		return 0;
	int64_t fps = ((int64_t)num + den / 2) / den;
	return fps >= 1 && fps <= 999 ? (int)fps : 0;
}

bool dits_tc_can_drop(int num, int den)
{
	return den > 0 && ((int64_t)num * 1001 == (int64_t)den * 30000 || (int64_t)num * 1001 == (int64_t)den * 60000);
}

/* Labels dropped at each minute but every tenth: 2 at 29.97, 4 at 59.94. */
static int drop_per_minute(int fps)
{
	return fps / 15;
}

int dits_tc_format(int64_t frame, int num, int den, bool drop, char out[DITS_TC_MAX])
{
	int fps = dits_tc_fps(num, den);
	out[0] = 0;
	if (!fps)
		return dits_error_set(DITS_EINVALID, "%d/%d: not a frame rate", num, den);
	if (drop && !dits_tc_can_drop(num, den))
		return dits_error_set(DITS_EINVALID, "%d/%d: no drop-frame timecode at this rate", num, den);
	int64_t label = frame;
	if (drop) {
		int d = drop_per_minute(fps);
		int64_t per_min = (int64_t)fps * 60 - d;        /* 1798 frames in a dropping minute */
		int64_t per_10min = per_min * 10 + d;           /* 17982 */
		int64_t per_day = per_10min * 6 * 24;
		frame %= per_day;
		if (frame < 0)
			frame += per_day;
		int64_t tens = frame / per_10min, rem = frame % per_10min;
		label = frame + (int64_t)d * 9 * tens;
		if (rem >= d)
			label += (int64_t)d * ((rem - d) / per_min);
	} else {
		int64_t per_day = (int64_t)fps * 86400;
		label %= per_day;
		if (label < 0)
			label += per_day;
	}
	int64_t ff = label % fps, secs = label / fps;
	snprintf(out, DITS_TC_MAX, "%02d:%02d:%02d%c%02d", (int)(secs / 3600 % 24), (int)(secs / 60 % 60),
	         (int)(secs % 60), drop ? ';' : ':', (int)(ff % 1000));
	return 0;
}

static int two_digits(const char *s, int *v)
{
	if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
		return -1;
	*v = (s[0] - '0') * 10 + (s[1] - '0');
	return 0;
}

int dits_tc_parse(const char *tc, int num, int den, int64_t *frame, bool *drop)
{
	int fps = dits_tc_fps(num, den);
	if (!fps)
		return dits_error_set(DITS_EINVALID, "%d/%d: not a frame rate", num, den);
	int hh, mm, ss, ff;
	if (!tc || two_digits(tc, &hh) || tc[2] != ':' || two_digits(tc + 3, &mm) || tc[5] != ':' ||
	    two_digits(tc + 6, &ss) || !(tc[8] == ':' || tc[8] == ';' || tc[8] == '.' || tc[8] == ',') ||
	    two_digits(tc + 9, &ff) || tc[11])
		return dits_error_set(DITS_EINVALID, "%s: not a timecode (HH:MM:SS:FF)", tc ? tc : "(null)");
	bool df = tc[8] == ';' || tc[8] == ',';
	if (mm > 59 || ss > 59 || ff >= fps)
		return dits_error_set(DITS_EINVALID, "%s: a field is out of range at %d fps", tc, fps);
	if (df && !dits_tc_can_drop(num, den))
		return dits_error_set(DITS_EINVALID, "%s: no drop-frame timecode at %d/%d", tc, num, den);
	int64_t mins = (int64_t)hh * 60 + mm;
	int64_t n = (mins * 60 + ss) * fps + ff;
	if (df) {
		int d = drop_per_minute(fps);
		if (ss == 0 && ff < d && mm % 10)
			return dits_error_set(DITS_EINVALID, "%s: drop-frame timecode skips this label", tc);
		n -= (int64_t)d * (mins - mins / 10);
	}
	*frame = n;
	if (drop)
		*drop = df;
	return 0;
}

static int64_t gcd64(int64_t a, int64_t b)
{
	if (a < 0)
		a = -a;
	while (b) {
		int64_t t = a % b;
		a = b;
		b = t;
	}
	return a ? a : 1;
}

int dits_tc_rational_seconds(int64_t frames, int num, int den, char *out, size_t cap)
{
	if (num <= 0 || den <= 0 || frames < 0 || frames > INT64_MAX / den)
		return dits_error_set(DITS_EINVALID, "%" PRId64 " frames at %d/%d: not a time", frames, num, den);
	int64_t n = frames * den, d = num, g = gcd64(n, d);
	n /= g;
	d /= g;
	if (d == 1)
		snprintf(out, cap, "%" PRId64 "s", n);
	else
		snprintf(out, cap, "%" PRId64 "/%" PRId64 "s", n, d);
	return 0;
}
