/*
 * runner.h - what the runners of this folder (dns_run.c, fetch_run.c,
 * discover_run.c, lookup_run.c) share: the world's configuration read,
 * and their results printed as one line of "key=value" words that the
 * Python tests split, a free-text message last.
 */
#ifndef MTASTS_TEST_RUNNER_H
#define MTASTS_TEST_RUNNER_H

#include "mtasts_core.h"

/* The configuration at path; on failure says why and exits 2. */
struct mtasts_config *runner_config(const char *path);

/* " id=... mode=... max_age=... expires=... mx=a,b" (no newline). */
void runner_print_policy(const struct mtasts_policy *p);

/* One line: the result's fields, its policy, " message=..." last. */
void runner_print_lookup(const struct mtasts_lookup *r);

#endif
