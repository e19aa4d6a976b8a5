/*
 * lookup_run.c - lookup.c from the command line, for test_lookup.py:
 *
 *   lookup_run CONFIG [--force] DOMAIN...
 *
 * looks every DOMAIN up with lookup_run() through the cache of CONFIG (at
 * the time MTASTS_TEST_NOW says, if set) and prints one line per result
 * (runner.h).  Exit status 0, or 2 on misuse.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lookup.h"
#include "runner.h"

int
main(int argc, char **argv)
{
	struct lookup_env env = {0};
	struct mtasts_config *cfg;
	struct mtasts_lookup *results;
	bool force = false;
	int first = 2, i, n;

	if (argc > 2 && strcmp(argv[2], "--force") == 0) {
		force = true;
		first = 3;
	}
	if ((n = argc - first) < 1) {
		fprintf(
		    stderr, "usage: lookup_run CONFIG [--force] DOMAIN...\n");
		return 2;
	}
	if ((results = calloc((size_t)n, sizeof(*results))) == NULL)
		return 2;
	cfg = runner_config(argv[1]);
	env.cfg = cfg;
	env.cache = cache_open(cfg, &env.cache_error);
	lookup_run(
	    &env, (const char *const *)argv + first, (size_t)n, force, results);
	for (i = 0; i < n; i++) {
		runner_print_lookup(&results[i]);
		lookup_result_clear(&results[i]);
	}
	discoverer_free(env.discoverer);
	cache_close(env.cache);
	mtasts_config_free(cfg);
	free(results);
	return 0;
}
