/*
 * timecode.h - SMPTE timecode and frame counts at exact rational rates.
 *
 * A rate is num/den frames per second (30000/1001, 25/1). Timecode counts
 * at the rate's nominal whole number of frames per second (30 for 29.97);
 * drop-frame timecode ("HH:MM:SS;FF") exists for 30000/1001 and 60000/1001
 * and skips labels 00 and 01 (00..03 at 59.94) at the start of every minute
 * except each tenth, so the label keeps up with the clock.
 */
#ifndef DITS_TIMECODE_H
#define DITS_TIMECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DITS_TC_MAX 24 /* "HH:MM:SS;FF" and its NUL, with room */

/* Whole frames per timecode second: 30 for 30000/1001, 25 for 25/1; 0 for a bad rate. */
int dits_tc_fps(int num, int den);

/* True when the rate carries drop-frame timecode (30000/1001, 60000/1001). */
bool dits_tc_can_drop(int num, int den);

/*
 * The label of frame number frame (counted from 00:00:00:00), wrapping at
 * 24 hours; ';' before the frames when drop. DITS_EINVALID for a bad rate
 * or drop at a rate without drop-frame timecode.
 */
int dits_tc_format(int64_t frame, int num, int den, bool drop, char out[DITS_TC_MAX]);

/*
 * The frame number of a label "HH:MM:SS:FF" or "HH:MM:SS;FF" ('.' and ','
 * are read as ':' and ';'); *drop (may be NULL) says which it was.
 * DITS_EINVALID for a malformed label, a field out of range, or a label
 * drop-frame timecode skips (00:01:00;00 at 29.97).
 */
int dits_tc_parse(const char *tc, int num, int den, int64_t *frame, bool *drop);

/*
 * frames * den / num seconds as FCPXML writes time: a reduced rational
 * "N/Ds", or "Ns" when whole ("1001/30000s", "36000s", "0s").
 */
int dits_tc_rational_seconds(int64_t frames, int num, int den, char *out, size_t cap);

#endif
