/*
 * Timecode: labels <-> frame numbers at exact rational rates, drop-frame
 * at 29.97 and 59.94 across minute and ten-minute boundaries, and the
 * rational seconds FCPXML writes.
 */
#include <string.h>

#include "error.h"
#include "timecode.h"

#include "check.h"

static int tc_is(int64_t frame, int num, int den, bool drop, const char *want)
{
	char got[DITS_TC_MAX];
	if (dits_tc_format(frame, num, den, drop, got) || strcmp(got, want)) {
		fprintf(stderr, "  frame %lld at %d/%d%s: got \"%s\", want \"%s\"\n", (long long)frame, num, den,
		        drop ? " DF" : "", got, want);
		return 0;
	}
	return 1;
}

static int64_t frame_of(const char *tc, int num, int den)
{
	int64_t f = -1;
	if (dits_tc_parse(tc, num, den, &f, NULL))
		fprintf(stderr, "  %s: %s\n", tc, dits_error_last());
	return f;
}

static void test_drop_frame_2997(void)
{
	/* The minute boundary skips ;00 and ;01, the tenth minute does not. */
	CHECK(tc_is(1799, 30000, 1001, true, "00:00:59;29"));
	CHECK(tc_is(1800, 30000, 1001, true, "00:01:00;02"));
	CHECK(tc_is(17981, 30000, 1001, true, "00:09:59;29"));
	CHECK(tc_is(17982, 30000, 1001, true, "00:10:00;00"));
	CHECK(tc_is(17983, 30000, 1001, true, "00:10:00;01"));
	CHECK(tc_is(19780, 30000, 1001, true, "00:10:59;28"));
	CHECK(tc_is(19782, 30000, 1001, true, "00:11:00;02"));
	CHECK(tc_is(107892, 30000, 1001, true, "01:00:00;00"));
	CHECK(tc_is(0, 30000, 1001, true, "00:00:00;00"));
	/* 24 hours of drop-frame labels are 2589408 frames; then it wraps. */
	CHECK(tc_is(2589407, 30000, 1001, true, "23:59:59;29"));
	CHECK(tc_is(2589408, 30000, 1001, true, "00:00:00;00"));
	CHECK_EQ_U64(frame_of("00:01:00;02", 30000, 1001), 1800);
	CHECK_EQ_U64(frame_of("00:10:00;00", 30000, 1001), 17982);
	CHECK_EQ_U64(frame_of("01:00:00;00", 30000, 1001), 107892);
	CHECK_EQ_U64(frame_of("00:00:59;29", 30000, 1001), 1799);
	/* Every label round-trips over the first 20 minutes and around the hour. */
	bool ok = true;
	for (int64_t f = 0; f < 40000 && ok; f++) {
		char s[DITS_TC_MAX];
		int64_t back = -1;
		ok = !dits_tc_format(f, 30000, 1001, true, s) && !dits_tc_parse(s, 30000, 1001, &back, NULL) && back == f;
		if (!ok)
			fprintf(stderr, "  frame %lld -> %s -> %lld\n", (long long)f, s, (long long)back);
	}
	CHECK(ok);
	int64_t f;
	CHECK_RC(dits_tc_parse("00:01:00;00", 30000, 1001, &f, NULL), DITS_EINVALID);
	CHECK_RC(dits_tc_parse("00:01:00;01", 30000, 1001, &f, NULL), DITS_EINVALID);
	CHECK_RC(dits_tc_parse("00:10:00;00", 30000, 1001, &f, NULL), 0);
}

static void test_drop_frame_5994(void)
{
	CHECK(tc_is(3599, 60000, 1001, true, "00:00:59;59"));
	CHECK(tc_is(3600, 60000, 1001, true, "00:01:00;04"));
	CHECK(tc_is(35964, 60000, 1001, true, "00:10:00;00"));
	CHECK_EQ_U64(frame_of("00:01:00;04", 60000, 1001), 3600);
	int64_t f;
	CHECK_RC(dits_tc_parse("00:01:00;03", 60000, 1001, &f, NULL), DITS_EINVALID);
}

static void test_non_drop(void)
{
	CHECK(tc_is(900000, 25, 1, false, "10:00:00:00"));
	CHECK(tc_is(900049, 25, 1, false, "10:00:01:24"));
	CHECK(tc_is(108000, 30000, 1001, false, "01:00:00:00"));
	CHECK(tc_is(86400 * 24 + 5, 24000, 1001, false, "00:00:00:05"));
	CHECK(tc_is(12, 24, 1, false, "00:00:00:12"));
	CHECK_EQ_U64(frame_of("10:00:00:00", 25, 1), 900000);
	CHECK_EQ_U64(frame_of("10:59:59:12", 24000, 1001), 950388);
	bool drop = true;
	int64_t f;
	CHECK_RC(dits_tc_parse("01:00:00:00", 30000, 1001, &f, &drop), 0);
	CHECK(!drop && f == 108000);
	CHECK_RC(dits_tc_parse("00:00:00:25", 25, 1, &f, NULL), DITS_EINVALID);
	CHECK_RC(dits_tc_parse("00:60:00:00", 25, 1, &f, NULL), DITS_EINVALID);
	CHECK_RC(dits_tc_parse("00:00:00;00", 25, 1, &f, NULL), DITS_EINVALID);
	CHECK_RC(dits_tc_parse("0:00:00:00", 25, 1, &f, NULL), DITS_EINVALID);
	CHECK_RC(dits_tc_parse("00:00:00:000", 25, 1, &f, NULL), DITS_EINVALID);
	char s[DITS_TC_MAX];
	CHECK_RC(dits_tc_format(0, 25, 1, true, s), DITS_EINVALID);
	CHECK_RC(dits_tc_format(0, 0, 1, false, s), DITS_EINVALID);
	CHECK(!dits_tc_can_drop(24000, 1001) && dits_tc_can_drop(30000, 1001) && dits_tc_can_drop(60000, 1001));
	CHECK(dits_tc_fps(30000, 1001) == 30 && dits_tc_fps(24000, 1001) == 24 && dits_tc_fps(25, 1) == 25);
}

static int secs_is(int64_t frames, int num, int den, const char *want)
{
	char got[64];
	if (dits_tc_rational_seconds(frames, num, den, got, sizeof got) || strcmp(got, want)) {
		fprintf(stderr, "  %lld frames at %d/%d: got \"%s\", want \"%s\"\n", (long long)frames, num, den, got, want);
		return 0;
	}
	return 1;
}

static void test_rational_seconds(void)
{
	CHECK(secs_is(1, 30000, 1001, "1001/30000s"));
	CHECK(secs_is(1, 25, 1, "1/25s"));
	CHECK(secs_is(900000, 25, 1, "36000s"));
	CHECK(secs_is(0, 25, 1, "0s"));
	CHECK(secs_is(107892, 30000, 1001, "8999991/2500s"));
	CHECK(secs_is(108000, 30000, 1001, "18018/5s"));
	CHECK(secs_is(60, 30000, 1001, "1001/500s"));
	CHECK(secs_is(50, 25, 1, "2s"));
}

int main(void)
{
	test_drop_frame_2997();
	test_drop_frame_5994();
	test_non_drop();
	test_rational_seconds();
	return check_done();
}
