/* runner.c - see runner.h. */
#include <stdio.h>
#include <stdlib.h>

#include "runner.h"

struct mtasts_config *
runner_config(const char *path)
{
	struct mtasts_config *cfg;
	struct mtasts_error err;

	if (mtasts_config_load(path, &cfg, &err) != MTASTS_OK) {
		fprintf(stderr, "%s\n", err.message);
		exit(2);
	}
	return cfg;
}

void
runner_print_policy(const struct mtasts_policy *p)
{
	size_t i;

	printf(" id=%s mode=%s max_age=%lu expires=%lld mx=", p->id,
	    mtasts_mode_name(p->mode), (unsigned long)p->max_age,
	    (long long)p->expires);
	for (i = 0; i < p->mx_count; i++)
		printf("%s%s", i > 0 ? "," : "", p->mx[i]);
}

void
runner_print_lookup(const struct mtasts_lookup *r)
{
	printf("domain=%s status=%s code=%s undecided=%d dnssec=%s "
	       "source=%s override=%s seen_id=%s cache_error=%s",
	    r->domain, mtasts_status_name(r->status),
	    r->error.code == MTASTS_OK ? "ok" : r->error.name, r->undecided,
	    mtasts_dnssec_name(r->dnssec), mtasts_source_name(r->source),
	    mtasts_override_name(r->override), r->id[0] ? r->id : "-",
	    r->cache_error.code == MTASTS_OK ? "ok" : r->cache_error.name);
	if (r->policy != NULL)
		runner_print_policy(r->policy);
	printf(" message=%s\n", r->error.message);
}
