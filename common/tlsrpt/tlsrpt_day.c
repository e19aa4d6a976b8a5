/*
 * tlsrpt_day.c - UTC days, the unit of TLS reports (RFC 8460 §4.1: a
 * report covers a day, in UTC).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "tlsrpt_day.h"

/* Counted, not asked of gmtime(): glibc reads the time zone file at its
 * first call, and a delivery process makes one call. */
void
tlsrpt_day(int64_t t, char day[TLSRPT_DAY_LEN + 1])
{
	/* days since 1970-01-01 to a civil date (the proleptic Gregorian
	 * calendar, in eras of 400 years from 0000-03-01) */
	int64_t z = (t >= 0 ? t : t - 86399) / 86400 + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	int64_t d = doy - (153 * mp + 2) / 5 + 1;
	int64_t m = mp < 10 ? mp + 3 : mp - 9;
	int64_t y = yoe + era * 400 + (m <= 2);

	snprintf(day, TLSRPT_DAY_LEN + 1, "%04d-%02d-%02d",
	    (int)(y % 10000 + 10000) % 10000, (int)m, (int)d);
}

int64_t
tlsrpt_day_start(const char *day)
{
	struct tm tm = {0};

	if (sscanf(day, "%4d-%2d-%2d", &tm.tm_year, &tm.tm_mon,
	        &tm.tm_mday) != 3)
		return 0;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm);
}

bool
tlsrpt_is_day(const char *day)
{
	char again[TLSRPT_DAY_LEN + 1];
	int64_t t;

	if (strlen(day) != TLSRPT_DAY_LEN ||
	    strspn(day, "0123456789-") != TLSRPT_DAY_LEN ||
	    (t = tlsrpt_day_start(day)) == 0)
		return false;
	tlsrpt_day(t, again);
	return strcmp(again, day) == 0;
}
