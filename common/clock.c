/* clock.c - monotonic time for deadlines, wall time for expiry. */
#include <stdlib.h>
#include <time.h>

#include "clock.h"

int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
wall_now(void)
{
	/* never in a set-user-ID program (Exim): no one who can set a
	 * variable there may move its clock past a policy's expiry */
	const char *test = secure_getenv("MTASTS_TEST_NOW");
	char *end;
	long long t;

	if (test != NULL) {
		t = strtoll(test, &end, 10);
		if (end != test && *end == '\0' && t > 0)
			return (int64_t)t;
	}
	return (int64_t)time(NULL);
}
