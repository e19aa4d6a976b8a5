/*
 * discover_run.c - discover.c from the command line, for
 * test_discover.py:
 *
 *   discover_run CONFIG NOW DOMAIN[=ID@EXPIRES]...
 *
 * discovers every DOMAIN at once with discover_run(), expiries counted
 * from NOW (Unix seconds).  A DOMAIN given as DOMAIN=ID@EXPIRES has a
 * known policy: mode testing, mx known.example, max_age 600, fetched
 * under ID, in force until EXPIRES, unlike anything the world serves.
 * Prints "progress=DONE/TOTAL" as discoveries end, then one line per
 * result (runner.h).  Exit status 0, or 2 on misuse.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "discover.h"
#include "lookup.h"
#include "runner.h"

#define KNOWN "version: STSv1\nmode: testing\nmx: known.example\nmax_age: 600\n"

static void
on_progress(void *arg, size_t done, size_t total)
{
	(void)arg;
	printf("progress=%zu/%zu\n", done, total);
}

/* "ID@EXPIRES" to a known policy; exits 2 when it is not one. */
static struct mtasts_policy *
known_policy(const char *spec)
{
	struct mtasts_policy *p;
	struct mtasts_error err;
	const char *at = strchr(spec, '@');

	if (at == NULL || (size_t)(at - spec) > MTASTS_ID_MAX ||
	    mtasts_policy_parse(KNOWN, strlen(KNOWN), &p, &err) != MTASTS_OK)
		exit(2);
	snprintf(p->id, sizeof(p->id), "%.*s", (int)(at - spec), spec);
	p->expires = atoll(at + 1);
	return p;
}

int
main(int argc, char **argv)
{
	struct mtasts_config *cfg;
	struct mtasts_error err;
	struct discoverer *d;
	struct mtasts_policy **known;
	struct mtasts_lookup *results;
	const char **domains;
	size_t i, n = argc > 3 ? (size_t)argc - 3 : 0;

	if (n == 0) {
		fprintf(stderr,
		    "usage: discover_run CONFIG NOW "
		    "DOMAIN[=ID@EXPIRES]...\n");
		return 2;
	}
	known = calloc(n, sizeof(*known));
	results = calloc(n, sizeof(*results));
	domains = calloc(n, sizeof(*domains));
	if (known == NULL || results == NULL || domains == NULL)
		return 2;
	for (i = 0; i < n; i++) {
		char *eq = strchr(argv[i + 3], '=');

		if (eq != NULL) {
			*eq = '\0';
			known[i] = known_policy(eq + 1);
		}
		domains[i] = argv[i + 3];
	}
	cfg = runner_config(argv[1]);
	if ((d = discoverer_new(cfg, &err)) == NULL) {
		fprintf(stderr, "%s\n", err.message);
		return 2;
	}
	discoverer_set_progress(d, on_progress, NULL);
	discover_run(d, domains, n, (const struct mtasts_policy *const *)known,
	    results, atoll(argv[2]));
	for (i = 0; i < n; i++) {
		runner_print_lookup(&results[i]);
		lookup_result_clear(&results[i]);
		mtasts_policy_free(known[i]);
	}
	discoverer_free(d);
	mtasts_config_free(cfg);
	free(known);
	free(results);
	free(domains);
	return 0;
}
