/* clock.h - the two clocks of libmtasts (internal). */
#ifndef MTASTS_CLOCK_H
#define MTASTS_CLOCK_H

#include <stdint.h>

/* Milliseconds on a monotonic clock, for deadlines. */
int64_t mono_ms(void);

/*
 * Wall-clock seconds, for policy expiry.  A test may set MTASTS_TEST_NOW
 * (Unix seconds) to move this clock; nothing else reads it.
 */
int64_t wall_now(void);

#endif
