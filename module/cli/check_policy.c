/*
 * check_policy.c - mtasts check: the policy host and the policy
 * (RFC 8461 §3.2, §3.3), over IPv4 and IPv6 apart and without a
 * User-Agent.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "config.h"
#include "dns.h"
#include "domain.h"
#include "error.h"
#include "fetch.h"
#include "json.h"
#include "probe.h"
#include "tlsrpt_txt.h"

static void
policy_addresses(
    struct report *r, struct dns_answer **v4, struct dns_answer **v6)
{
	*v4 = ask(r, "mta-sts.", r->domain, DNS_TYPE_A);
	*v6 = ask(r, "mta-sts.", r->domain, DNS_TYPE_AAAA);
}

/* One fetch; the error code ("" when it worked). */
static const char *
try_fetch(struct report *r, const struct dns_answer *addrs, bool user_agent,
    struct mtasts_error *err)
{
	struct mtasts_policy *p = NULL;
	struct fetch f;
	mtasts_code rc = fetch_now(&f, r->cfg, r->domain, addrs->data,
	    addrs->count, user_agent, &p, err);

	fetch_cleanup(&f);
	mtasts_policy_free(p);
	return rc == MTASTS_OK ? "" : err->name;
}

/* Over IPv4 and IPv6 apart, and without a User-Agent. */
static void
check_fetch_variants(struct report *r, const struct dns_answer *v4,
    const struct dns_answer *v6, const struct dns_answer *all)
{
	struct mtasts_error e4, e6, eua;
	const char *c4 = "", *c6 = "", *cua;

	if (count_of(v4) > 0 && count_of(v6) > 0) {
		c4 = try_fetch(r, v4, true, &e4);
		c6 = try_fetch(r, v6, true, &e6);
		if (*c4 != '\0' && *c6 == '\0')
			finding(r, "warning", "policy_ipv6_only",
			    "Make the policy host answer on its IPv4 addresses "
			    "too, or remove its A records.",
			    "The policy is served over IPv6 but not over IPv4 "
			    "(%s): senders without IPv6 find no policy.",
			    e4.message);
		else if (*c4 == '\0' && *c6 != '\0')
			finding(r, "warning", "policy_ipv4_only",
			    "Make the policy host answer on its IPv6 addresses "
			    "too, or remove its AAAA records.",
			    "The policy is served over IPv4 but not over IPv6 "
			    "(%s): senders that prefer IPv6 find no policy.",
			    e6.message);
	}
	/* only a policy that is served at all can be refused for a missing
	 * User-Agent */
	cua = r->policy != NULL ? try_fetch(r, all, false, &eua) : "";
	if (*cua != '\0')
		finding(r, "warning", "policy_blocks_no_user_agent",
		    "Serve the policy whatever the User-Agent (some large "
		    "senders send none).",
		    "Without a User-Agent header the policy host refuses the "
		    "policy (%s).",
		    eua.message);
	json_object_set_new(json_object_get(r->obj, "policy"), "fetch",
	    json_pack("{s:s?, s:s?, s:s}", "ipv4",
	        count_of(v4) && count_of(v6) ? (*c4 ? c4 : "ok") : NULL, "ipv6",
	        count_of(v4) && count_of(v6) ? (*c6 ? c6 : "ok") : NULL,
	        "no_user_agent", *cua ? cua : "ok"));
}

/* RFC 8461 §3.2-3.3: the policy itself. */
static void
check_policy_content(struct report *r, const char *body, size_t len)
{
	const struct mtasts_policy *p = r->policy;
	size_t i;

	for (i = 0; i < len; i++)
		if (body[i] == '\n' && (i == 0 || body[i - 1] != '\r'))
			break;
	if (i < len)
		finding(r, "info", "policy_lf_line_endings",
		    "Nothing needs doing: RFC 8461 erratum 6253 allows LF; "
		    "CRLF is what the RFC's text shows.",
		    "The policy's lines end in LF, not CRLF.");
	if (p->mode == MTASTS_MODE_TESTING)
		finding(r, "warning", "mode_testing",
		    "Read the TLS-RPT reports; when they show no failures, "
		    "publish \"mode: enforce\" with a new id in the TXT "
		    "record.",
		    "The policy is in testing mode: senders report failures "
		    "but still deliver in the clear.");
	else if (p->mode == MTASTS_MODE_NONE)
		finding(r, "warning", "mode_none",
		    "To revoke MTA-STS safely keep this policy (with a new id) "
		    "published for the old max_age, then remove the records; "
		    "otherwise publish testing or enforce.",
		    "The policy's mode is none: senders apply no MTA-STS.");
	if (p->mode == MTASTS_MODE_ENFORCE && p->max_age < 604800)
		finding(r, "warning", "max_age_short",
		    "Use a max_age of weeks (1209600 is two weeks): RFC 8461 "
		    "§3.2 expects weeks or more.",
		    "max_age is %u seconds: an attacker who blocks the policy "
		    "host gets a window as soon as it runs out.",
		    p->max_age);
	else if (p->mode == MTASTS_MODE_TESTING && p->max_age < 86400)
		finding(r, "warning", "max_age_short",
		    "Use a max_age of at least a day (86400).",
		    "max_age is %u seconds: senders must fetch the policy "
		    "again and again.",
		    p->max_age);
	if (p->mode == MTASTS_MODE_ENFORCE && p->max_age > 15778800)
		finding(r, "info", "max_age_long",
		    "A max_age of weeks to a few months (1209600 to 7776000) "
		    "protects as well and forgives more.",
		    "max_age is %u seconds (%u days): a sender that cannot "
		    "reach the policy host when it changes keeps the old one, "
		    "and defers mail to MX hosts it does not name, that long.",
		    p->max_age, p->max_age / 86400);
	else if (p->mode == MTASTS_MODE_TESTING && p->max_age > 1209600)
		finding(r, "info", "max_age_long",
		    "While testing, a day to a week (86400 to 604800) is "
		    "enough; raise max_age when you move to enforce.",
		    "max_age is %u seconds (%u days) for a testing policy: if "
		    "you withdraw MTA-STS, senders keep the policy that long.",
		    p->max_age, p->max_age / 86400);
	for (i = 0; i < p->mx_count; i++)
		if (strspn(p->mx[i], "0123456789.") == strlen(p->mx[i]))
			finding(r, "error", "pattern_ip_address",
			    "List MX host names, as the MX records name them.",
			    "mx \"%s\" is an IP address: senders match MX host "
			    "names, so it matches nothing.",
			    p->mx[i]);
}

/* https://mta-sts.<domain>/.well-known/mta-sts.txt (RFC 8461 §3.3). */
void
check_policy(struct report *r, bool have_txt)
{
	struct dns_answer *v4, *v6, all = {0};
	struct mtasts_error err;
	struct fetch f;
	char url[MTASTS_DOMAIN_MAX + 64], *joined[64];
	size_t i, n = 0;
	mtasts_code rc;

	snprintf(url, sizeof(url), "https://mta-sts.%s/.well-known/mta-sts.txt",
	    r->domain);
	json_object_set_new(r->obj, "policy_url", json_string(url));
	json_object_set_new(
	    r->obj, "policy", json_pack("{s:n, s:n}", "raw", "parsed"));
	policy_addresses(r, &v4, &v6);
	for (i = 0; i < count_of(v4) && n < 64; i++)
		joined[n++] = v4->data[i];
	for (i = 0; i < count_of(v6) && n < 64; i++)
		joined[n++] = v6->data[i];
	if (n == 0) {
		if (have_txt)
			finding(r, "error", "policy_host_missing",
			    "Give mta-sts.DOMAIN an A (and AAAA) record and "
			    "serve the policy there over HTTPS.",
			    "mta-sts.%s has no address (%s).", r->domain,
			    v4 != NULL ? v4->message : "no answer");
		goto out;
	}
	rc =
	    fetch_now(&f, r->cfg, r->domain, joined, n, true, &r->policy, &err);
	if (f.body != NULL)
		json_object_set_new(json_object_get(r->obj, "policy"), "raw",
		    mtasts_json_text(f.body, f.len));
	if (rc == MTASTS_OK) {
		json_object_set_new(json_object_get(r->obj, "policy"), "parsed",
		    mtasts_json_policy(r->policy));
		check_policy_content(r, f.body, f.len);
	} else {
		char code[64];

		snprintf(code, sizeof(code), "policy_%s", err.name);
		finding(r, "error", code,
		    "Serve the policy at the URL over HTTPS with a valid "
		    "certificate for mta-sts.DOMAIN, status 200, Content-Type "
		    "text/plain, no redirect, under 64 KiB, in the RFC 8461 "
		    "§3.2 syntax.",
		    "Senders cannot use the policy: %s.", err.message);
	}
	fetch_cleanup(&f);
	all.code = MTASTS_OK;
	all.data = joined;
	all.count = n;
	check_fetch_variants(r, v4, v6, &all);
out:
	dns_answer_free(v4);
	dns_answer_free(v6);
}

/* The TLS facts of one MX, as findings; enforce makes them errors. */
