/* lookup_result.c - what a lookup found (struct mtasts_lookup): the
 * names its fields are written with, in JSON and logs, and its release. */
#include <stdlib.h>
#include <string.h>

#include "lookup.h"

void
lookup_result_clear(struct mtasts_lookup *result)
{
	if (result == NULL)
		return;
	mtasts_policy_free(result->policy);
	memset(result, 0, sizeof(*result));
}

void
mtasts_lookup_free(struct mtasts_lookup *result)
{
	lookup_result_clear(result);
	free(result);
}

const char *
mtasts_status_name(enum mtasts_status status)
{
	switch (status) {
	case MTASTS_STATUS_FOUND:
		return "found";
	case MTASTS_STATUS_NOT_FOUND:
		return "not_found";
	case MTASTS_STATUS_RENEWED:
		return "renewed";
	case MTASTS_STATUS_CACHED:
		return "cached";
	case MTASTS_STATUS_ERRORED:
		break;
	}
	return "errored";
}

const char *
mtasts_source_name(enum mtasts_source source)
{
	switch (source) {
	case MTASTS_SOURCE_CACHE:
		return "cache";
	case MTASTS_SOURCE_OVERRIDE:
		return "override";
	case MTASTS_SOURCE_NETWORK:
		break;
	}
	return "network";
}

const char *
mtasts_override_name(enum mtasts_override override)
{
	switch (override) {
	case MTASTS_OVERRIDE_SKIP:
		return "skip";
	case MTASTS_OVERRIDE_MODE:
		return "mode";
	case MTASTS_OVERRIDE_STATIC:
		return "static";
	case MTASTS_OVERRIDE_NONE:
		break;
	}
	return "none";
}

const char *
mtasts_dnssec_name(enum mtasts_dnssec state)
{
	switch (state) {
	case MTASTS_DNSSEC_SECURE:
		return "secure";
	case MTASTS_DNSSEC_BOGUS:
		return "bogus";
	case MTASTS_DNSSEC_INSECURE:
		break;
	}
	return "insecure";
}
