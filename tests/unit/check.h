/*
 * check.h - a tiny test harness for the unit tests.
 *
 *     CHECK(cond);               counts a pass, or prints file:line and cond
 *     CHECK_EQ_U64(got, want);   the same, printing both values on failure
 *     CHECK_RC(expr, want);      an int return code against an expected one,
 *                                printing dits_error_last() on failure
 *     return check_done();       prints "N passed, N failed", returns 0 or 1
 *
 * Everything is static so each test binary gets its own counters.
 */
#ifndef DITS_TEST_CHECK_H
#define DITS_TEST_CHECK_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static unsigned long check_passed_, check_failed_;

static inline void check_report_(int ok, const char *file, int line, const char *expr)
{
	if (ok) {
		check_passed_++;
		return;
	}
	check_failed_++;
	fprintf(stderr, "%s:%d: CHECK failed: %s\n", file, line, expr);
	fflush(stderr);
}

static inline int check_u64_(uint64_t got, uint64_t want, const char *file, int line,
                             const char *gexpr, const char *wexpr)
{
	if (got == want) {
		check_passed_++;
		return 1;
	}
	check_failed_++;
	fprintf(stderr, "%s:%d: CHECK_EQ_U64 failed: %s == %s (got %" PRIu64 ", want %" PRIu64 ")\n",
	        file, line, gexpr, wexpr, got, want);
	fflush(stderr);
	return 0;
}

#define CHECK(cond) check_report_(!!(cond), __FILE__, __LINE__, #cond)

#define CHECK_EQ_U64(got, want) \
	check_u64_((uint64_t)(got), (uint64_t)(want), __FILE__, __LINE__, #got, #want)

/* Needs error.h for dits_error_last(). */
#define CHECK_RC(expr, want)                                                                   \
	do {                                                                                       \
		int check_rc_ = (expr);                                                                \
		int check_want_ = (want);                                                              \
		if (check_rc_ == check_want_) {                                                        \
			check_passed_++;                                                                   \
		} else {                                                                               \
			check_failed_++;                                                                   \
			fprintf(stderr, "%s:%d: CHECK_RC failed: %s returned %d, want %s (%d); last error: %s\n", \
			        __FILE__, __LINE__, #expr, check_rc_, #want, check_want_,                  \
			        dits_error_last());                                                       \
			fflush(stderr);                                                                    \
		}                                                                                      \
	} while (0)

/* For setup steps the rest of a test cannot do without. */
#define REQUIRE(cond)                                                                          \
	do {                                                                                       \
		if (!(cond)) {                                                                         \
			check_report_(0, __FILE__, __LINE__, #cond);                                       \
			fprintf(stderr, "%s:%d: cannot continue\n", __FILE__, __LINE__);                   \
			printf("%lu passed, %lu failed\n", check_passed_, check_failed_);                  \
			exit(1);                                                                           \
		}                                                                                      \
		check_passed_++;                                                                       \
	} while (0)

static inline int check_done(void)
{
	printf("%lu passed, %lu failed\n", check_passed_, check_failed_);
	fflush(stdout);
	return check_failed_ ? 1 : 0;
}

#endif
