/* tlsrpt_day.h - UTC days, written YYYY-MM-DD (internal to libmtasts). */
#ifndef MTASTS_TLSRPT_DAY_H
#define MTASTS_TLSRPT_DAY_H

#include <stdbool.h>
#include <stdint.h>

#define TLSRPT_DAY_LEN 10 /* "YYYY-MM-DD" */

/* The UTC day of Unix time t, and the time the day starts at (0 when
 * day is not YYYY-MM-DD). */
void tlsrpt_day(int64_t t, char day[TLSRPT_DAY_LEN + 1]);
int64_t tlsrpt_day_start(const char *day);

/* Whether day is a real day written YYYY-MM-DD (as tlsrpt_day() writes
 * it), not only something sscanf reads as one. */
bool tlsrpt_is_day(const char *day);

#endif
