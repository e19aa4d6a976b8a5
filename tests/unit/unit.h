/* unit.h - the main() every unit test program shares. */
#ifndef MTASTS_UNIT_H
#define MTASTS_UNIT_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>

static inline int
unit_run(Suite *suite)
{
	SRunner *sr = srunner_create(suite);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif
