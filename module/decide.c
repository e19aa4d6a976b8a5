/*
 * decide.c - the decision engine both MTA adapters load: from a lookup to
 * a verdict (RFC 8461 §5), and a connection checked against a policy
 * (§4).  Adapters act on verdicts and hold no policy logic of their own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "context.h"
#include "error.h"
#include "lookup.h"
#include "mtasts.h"

const char *
mtasts_verdict_name(enum mtasts_verdict verdict)
{
	switch (verdict) {
	case MTASTS_VERDICT_TESTING:
		return "testing";
	case MTASTS_VERDICT_ENFORCE:
		return "enforce";
	case MTASTS_VERDICT_DEFER:
		return "defer";
	case MTASTS_VERDICT_NONE:
		break;
	}
	return "none";
}

enum mtasts_verdict
mtasts_verdict_of(const struct mtasts_lookup *r)
{
	if (r == NULL)
		return MTASTS_VERDICT_DEFER;
	if (r->policy != NULL) {
		switch (r->policy->mode) {
		case MTASTS_MODE_ENFORCE:
			return MTASTS_VERDICT_ENFORCE;
		case MTASTS_MODE_TESTING:
			return MTASTS_VERDICT_TESTING;
		case MTASTS_MODE_NONE:
			return MTASTS_VERDICT_NONE;
		}
		return MTASTS_VERDICT_DEFER;
	}
	if (r->override == MTASTS_OVERRIDE_SKIP)
		return MTASTS_VERDICT_NONE;
	/*
	 * No policy.  Only the network may say there is none; a cache that
	 * could not say whether the domain had one (io_error: it said, but
	 * the new answer could not be kept), an override that failed, or
	 * an undecided result say nothing of the domain: it may have been
	 * enforce.  Never guess towards cleartext.
	 */
	if (r->undecided || r->source == MTASTS_SOURCE_OVERRIDE ||
	    (r->cache_error.code != MTASTS_OK &&
	        r->cache_error.code != MTASTS_ERR_IO) ||
	    mtasts_error_is_local(r->error.code) ||
	    /* the network's answers that say a domain has no usable
	     * policy: no STSv1 TXT record (RFC 8461 §3.1), a malformed one
	     * (§3.1: "MUST assume the recipient domain does not have an
	     * available MTA-STS policy"), or a policy that could not be
	     * fetched or parsed "for any reason" (§5): common/error.c's
	     * table, where a new code must say what it is */
	    !mtasts_code_may_mean_no_policy(r->error.code))
		return MTASTS_VERDICT_DEFER;
	if (r->status == MTASTS_STATUS_NOT_FOUND ||
	    r->status == MTASTS_STATUS_ERRORED)
		return MTASTS_VERDICT_NONE;
	/* found, renewed or cached without a policy: a bug path */
	return MTASTS_VERDICT_DEFER;
}

/* A decision and its lookup, in one allocation (mtasts.h, Stability). */
struct decision {
	struct mtasts_decision d; /* first: what the caller holds */
	struct mtasts_lookup lookup;
};

static void
describe(struct mtasts_decision *d)
{
	const struct mtasts_lookup *r = d->lookup;
	char why[400] = "", cache[240] = "";

	if (d->verdict == MTASTS_VERDICT_DEFER &&
	    r->cache_error.code != MTASTS_OK)
		snprintf(why, sizeof(why),
		    ": the policy cache failed (%.200s) and discovery gave no "
		    "policy (%.32s)",
		    r->cache_error.message, r->error.name);
	else if (d->verdict == MTASTS_VERDICT_DEFER)
		snprintf(why, sizeof(why), ": no policy known (%.32s: %.200s)",
		    r->error.name, r->error.message);
	else if (r->policy != NULL)
		snprintf(why, sizeof(why), ", policy %s (%s%s%.32s)",
		    r->policy->id, mtasts_source_name(r->source),
		    r->error.code != MTASTS_OK ? "; refresh failed: " : "",
		    r->error.name);
	else if (r->override == MTASTS_OVERRIDE_SKIP)
		snprintf(why, sizeof(why), " (skip override)");
	else if (r->error.code != MTASTS_OK)
		snprintf(why, sizeof(why), " (%s: %.32s)",
		    mtasts_status_name(r->status), r->error.name);
	/* a cache that failed without deciding anything (io_error: the
	 * answer was not kept, or not shared with the fleet) is said with
	 * the decision: the operator's one line about it */
	if (d->verdict != MTASTS_VERDICT_DEFER &&
	    r->cache_error.code != MTASTS_OK)
		snprintf(cache, sizeof(cache), "; cache: %.220s",
		    r->cache_error.message);
	snprintf(d->reason, sizeof(d->reason), "%.253s: %s%s%s", r->domain,
	    mtasts_verdict_name(d->verdict), why, cache);
}

mtasts_code
mtasts_decide(struct mtasts_ctx *ctx, const char *domain, bool recheck,
    struct mtasts_decision **out)
{
	struct decision *dl;
	struct mtasts_decision *d;
	mtasts_code rc;

	if (out == NULL)
		return MTASTS_ERR_USAGE;
	if ((dl = calloc(1, sizeof(*dl))) == NULL) {
		*out = NULL;
		return MTASTS_ERR_NOMEM;
	}
	d = *out = &dl->d;
	d->lookup = &dl->lookup;
	rc = ctx_lookups(ctx, &domain, 1, false, &dl->lookup);
	if (rc != MTASTS_OK) {
		/* a bad argument: nothing safe to say but "later" */
		d->verdict = MTASTS_VERDICT_DEFER;
		snprintf(d->reason, sizeof(d->reason), "%s: defer: %s",
		    domain != NULL ? domain : "(null)", mtasts_strerror(rc));
		return rc;
	}
	d->verdict = mtasts_verdict_of(&dl->lookup);
	/* a discovery just made is as new as a re-check would be */
	if (recheck && dl->lookup.source == MTASTS_SOURCE_CACHE &&
	    (d->verdict == MTASTS_VERDICT_ENFORCE ||
	        d->verdict == MTASTS_VERDICT_DEFER)) {
		lookup_result_clear(&dl->lookup);
		ctx_lookups(ctx, &domain, 1, true, &dl->lookup);
		d->verdict = mtasts_verdict_of(&dl->lookup);
	}
	describe(d);
	return MTASTS_OK;
}

void
mtasts_decision_free(struct mtasts_decision *d)
{
	struct decision *dl = (struct decision *)d;

	if (dl == NULL)
		return;
	lookup_result_clear(&dl->lookup);
	free(dl);
}

/* Appends one violation to out. */
static void
add(char *out, size_t outlen, int *n, const char *what)
{
	size_t used = strlen(out);

	if (used < outlen)
		snprintf(out + used, outlen - used, "%s%s", *n > 0 ? "; " : "",
		    what);
	(*n)++;
}

mtasts_code
mtasts_check_connection(const struct mtasts_policy *policy, const char *host,
    bool tls, bool verified, size_t *violations, char *out, size_t outlen)
{
	struct mtasts_mx_result mx;
	char what[400];
	int n = 0;

	if (violations == NULL || (out == NULL && outlen > 0))
		return MTASTS_ERR_USAGE;
	*violations = 0;
	if (outlen > 0)
		out[0] = '\0';
	if (policy == NULL || policy->mode == MTASTS_MODE_NONE)
		return MTASTS_OK;
	/* RFC 8461 §4.1: the MX host must match a pattern */
	mtasts_validate_mx(policy, host, &mx);
	if (!mx.valid) {
		snprintf(what, sizeof(what), "MX %s is not in the policy",
		    host != NULL ? host : "(unknown)");
		add(out, outlen, &n, what);
	}
	/* RFC 8461 §4.2: STARTTLS, and a certificate valid for the MX name */
	if (!tls)
		add(out, outlen, &n, "no STARTTLS");
	else if (!verified)
		add(out, outlen, &n, "certificate not valid for the MX host");
	*violations = (size_t)n;
	return MTASTS_OK;
}

mtasts_code
mtasts_mx_allowed(struct mtasts_ctx *ctx, const struct mtasts_decision *d,
    size_t *allowed, char *out, size_t outlen, struct mtasts_error *err)
{
	struct mtasts_error e;
	struct dns_answer *mx;
	struct dns *dns;
	char what[400];
	mtasts_code rc;
	int n = 0;
	size_t i;

	if (ctx == NULL || d == NULL || allowed == NULL ||
	    (out == NULL && outlen > 0))
		return mtasts_error_set(err, MTASTS_ERR_USAGE, "bad argument");
	*allowed = 0;
	if (outlen > 0)
		out[0] = '\0';
	if ((dns = ctx_dns(ctx, &e)) == NULL) {
		snprintf(out, outlen, "%s", e.message);
		if (err != NULL)
			*err = e;
		return e.code;
	}
	mx = dns_lookup(dns, d->lookup->domain, DNS_TYPE_MX,
	    ctx_config(ctx)->dns_timeout_ms);
	if (mx == NULL || mx->code != MTASTS_OK) {
		rc = mx != NULL ? mx->code : MTASTS_ERR_NOMEM;
		snprintf(out, outlen, "%s",
		    mx != NULL ? mx->message : "out of memory");
		mtasts_error_set(err, rc, "%s", out);
		dns_answer_free(mx);
		return rc;
	}
	for (i = 0; i < mx->count; i++) {
		struct mtasts_mx_result r;

		/* RFC 8461 §4.1 */
		mtasts_validate_mx(d->lookup->policy, mx->data[i], &r);
		if (r.valid && r.match != NULL) {
			(*allowed)++;
			continue;
		}
		snprintf(what, sizeof(what), "MX %s is not in the policy",
		    mx->data[i]);
		add(out, outlen, &n, what);
	}
	dns_answer_free(mx);
	return MTASTS_OK;
}

mtasts_code
mtasts_decide_mx(struct mtasts_ctx *ctx, const char *domain,
    struct mtasts_decision **d, size_t *allowed, char *why, size_t whylen)
{
	mtasts_code rc;

	if (d == NULL || allowed == NULL || (why == NULL && whylen > 0)) {
		if (d != NULL)
			*d = NULL;
		return MTASTS_ERR_USAGE;
	}
	*allowed = 0;
	if (whylen > 0)
		why[0] = '\0';
	if ((rc = mtasts_decide(ctx, domain, false, d)) != MTASTS_OK)
		return rc;
	if ((*d)->verdict == MTASTS_VERDICT_ENFORCE &&
	    ((rc = mtasts_mx_allowed(ctx, *d, allowed, why, whylen, NULL)) !=
	            MTASTS_OK ||
	        *allowed == 0)) {
		/* RFC 8461 §5: look for an updated policy before refusing */
		mtasts_decision_free(*d);
		if ((rc = mtasts_decide(ctx, domain, true, d)) == MTASTS_OK &&
		    (*d)->verdict == MTASTS_VERDICT_ENFORCE)
			rc = mtasts_mx_allowed(
			    ctx, *d, allowed, why, whylen, NULL);
	} else if ((*d)->verdict == MTASTS_VERDICT_TESTING) {
		/* what enforce would refuse, for the report */
		rc = mtasts_mx_allowed(ctx, *d, allowed, why, whylen, NULL);
	}
	return rc;
}
