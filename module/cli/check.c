/*
 * check.c - mtasts check: the report a domain owner wants.  It looks at
 * everything a sender looks at (RFC 8461 §3-§4), and at what the web
 * checkers cannot: every MX on port 25, the policy host over IPv4 and IPv6
 * apart, and without a User-Agent.  Every finding has a stable code, a
 * severity, a sentence and the fix (README: "mtasts check").
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "dns.h"
#include "domain.h"
#include "error.h"
#include "fetch.h"
#include "json.h"
#include "probe.h"
#include "tlsrpt.h"

struct report {
	const struct mtasts_config *cfg;
	struct dns *dns;
	const char *domain;
	json_t *obj;
	json_t *issues; /* errors and warnings */
	json_t *recommendations; /* advice (info) */
	int errors, warnings;
	struct mtasts_policy *policy;
};

/* One finding: severity "error", "warning" or "info". */
static void finding(struct report *r, const char *severity, const char *code,
    const char *fix, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void
finding(struct report *r, const char *severity, const char *code,
    const char *fix, const char *fmt, ...)
{
	char message[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	json_array_append_new(
	    strcmp(severity, "info") == 0 ? r->recommendations : r->issues,
	    json_pack("{s:s, s:s, s:o, s:s}", "code", code, "severity",
	        severity, "message", mtasts_json_text(message, strlen(message)),
	        "fix", fix));
	if (strcmp(severity, "error") == 0)
		r->errors++;
	else if (strcmp(severity, "warning") == 0)
		r->warnings++;
}

static struct dns_answer *
ask(struct report *r, const char *prefix, const char *name, int type)
{
	char full[MTASTS_DOMAIN_MAX + 32];

	snprintf(full, sizeof(full), "%s%s", prefix, name);
	return dns_lookup(r->dns, full, type, r->cfg->dns_timeout_ms);
}

static json_t *
strings(const struct dns_answer *a)
{
	json_t *list = json_array();
	size_t i;

	for (i = 0; a != NULL && a->code == MTASTS_OK && i < a->count; i++)
		json_array_append_new(
		    list, mtasts_json_text(a->data[i], a->len[i]));
	return list;
}

/* TXT _mta-sts.<domain> (RFC 8461 §3.1); true when a valid record is
 * there. */
static bool
check_txt(struct report *r)
{
	struct dns_answer *a = ask(r, "_mta-sts.", r->domain, DNS_TYPE_TXT);
	struct dns_answer *cname =
	    ask(r, "_mta-sts.", r->domain, DNS_TYPE_CNAME);
	struct dns_answer *apex = ask(r, "", r->domain, DNS_TYPE_TXT);
	struct mtasts_error err = {0};
	char id[MTASTS_ID_MAX + 1] = "", name[MTASTS_DOMAIN_MAX + 16];
	bool ok = false;
	size_t i;

	if (a != NULL && a->dnssec == MTASTS_DNSSEC_BOGUS) {
		/* said below: the record may be there, but cannot be trusted */
	} else if (a == NULL || a->code != MTASTS_OK) {
		finding(r, "error", "txt_missing",
		    "Publish a TXT record at _mta-sts.DOMAIN: "
		    "\"v=STSv1; id=YYYYMMDDHHMMSS\" (mtasts init prints one).",
		    "There is no TXT record at _mta-sts.%s (%s), so senders "
		    "do not know the domain has a policy.",
		    r->domain, a != NULL ? a->message : "no answer");
	} else if (mtasts_txt_parse((const char *const *)a->data, a->len,
	               a->count, id, &err) == MTASTS_OK) {
		ok = true;
	} else if (err.code == MTASTS_ERR_MULTI_STS_RECORDS) {
		finding(r, "error", "txt_multiple",
		    "Keep exactly one v=STSv1 record at _mta-sts.DOMAIN.",
		    "%s: with more than one, senders treat the domain as "
		    "having "
		    "no policy (RFC 8461 §3.1).",
		    err.message);
	} else {
		finding(r, "error",
		    err.code == MTASTS_ERR_NO_STS_RECORD ? "txt_missing"
		                                         : "txt_invalid",
		    "The record must read \"v=STSv1; id=ID;\" with an id of 1 "
		    "to 32 letters and digits.",
		    "The TXT record at _mta-sts.%s is not usable: %s.",
		    r->domain, err.message);
	}
	if (cname != NULL && cname->code == MTASTS_OK && cname->count > 0)
		finding(r, "info", "txt_cname",
		    "Nothing to do: senders follow it.",
		    "_mta-sts.%s is a CNAME to %s; the record is read there.",
		    r->domain, cname->data[0]);
	if (a != NULL && a->dnssec == MTASTS_DNSSEC_BOGUS)
		finding(r, "error", "dnssec_bogus",
		    "Fix the zone's DNSSEC signatures or its DS record.",
		    "The DNSSEC signatures of _mta-sts.%s do not validate: "
		    "validating resolvers cannot read the record.",
		    r->domain);
	else if (a != NULL && a->dnssec == MTASTS_DNSSEC_SECURE)
		finding(r, "info", "dnssec_secure", "Nothing to do.",
		    "The TXT record is signed with DNSSEC and validates.");
	for (i = 0; apex != NULL && apex->code == MTASTS_OK && i < apex->count;
	     i++)
		if (strncmp(apex->data[i], "v=STSv1", 7) == 0)
			finding(r, "warning", "txt_at_apex",
			    "Move the record to _mta-sts.DOMAIN and remove it "
			    "from the domain itself.",
			    "A v=STSv1 record is published at %s itself; "
			    "senders only look at _mta-sts.%s.",
			    r->domain, r->domain);
	snprintf(name, sizeof(name), "_mta-sts.%s", r->domain);
	json_object_set_new(r->obj, "dns_record",
	    json_pack("{s:s, s:o, s:o, s:s}", "name", name, "raw", strings(a),
	        "parsed",
	        ok ? json_pack("{s:s, s:s}", "v", "STSv1", "id", id)
	           : json_null(),
	        "dnssec",
	        mtasts_dnssec_name(
	            a != NULL ? a->dnssec : MTASTS_DNSSEC_INSECURE)));
	dns_answer_free(a);
	dns_answer_free(cname);
	dns_answer_free(apex);
	return ok;
}

/* The addresses of mta-sts.<domain>: A in v4, AAAA in v6. */
static void
policy_addresses(
    struct report *r, struct dns_answer **v4, struct dns_answer **v6)
{
	*v4 = ask(r, "mta-sts.", r->domain, DNS_TYPE_A);
	*v6 = ask(r, "mta-sts.", r->domain, DNS_TYPE_AAAA);
}

static size_t
count_of(const struct dns_answer *a)
{
	return a != NULL && a->code == MTASTS_OK ? a->count : 0;
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
static void
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
static void
judge_probe(struct report *r, const char *host, const struct probe_result *p)
{
	static const char *fix_tls = "Offer STARTTLS with TLS 1.2 or newer "
	                             "and a certificate from a public CA that "
	                             "names the MX host.";

	if (!p->connected)
		finding(r, "error", "mx_unreachable",
		    "Make the MX accept SMTP on port 25, or remove it from "
		    "the MX records.",
		    "MX %s does not answer on port 25 (%s).", host, p->error);
	else if (!p->starttls && p->error[0] != '\0')
		finding(r, "error", "mx_unreachable",
		    "Make the MX answer SMTP promptly on port 25, or remove it "
		    "from the MX records.",
		    "MX %s accepts connections on port 25 but does not hold an "
		    "SMTP conversation (%s).",
		    host, p->error);
	else if (!p->starttls)
		finding(r, "error", "mx_no_starttls", fix_tls,
		    "MX %s does not offer STARTTLS: under enforce no mail "
		    "can go to it.",
		    host);
	else if (!p->tls)
		finding(r, "error", "mx_tls_failed", fix_tls,
		    "MX %s offers STARTTLS but TLS fails (%s).", host,
		    p->error);
	if (!p->tls)
		return;
	if (strcmp(p->tls_version, "TLSv1.2") != 0 &&
	    strcmp(p->tls_version, "TLSv1.3") != 0)
		finding(r, "error", "mx_tls_old", fix_tls,
		    "MX %s speaks %s; RFC 8461 §4.2 needs TLS 1.2 or newer.",
		    host, p->tls_version);
	if (p->expired)
		finding(r, "error", "mx_cert_expired",
		    "Renew the certificate (and automate its renewal).",
		    "The certificate of MX %s expired on %s.", host,
		    p->not_after);
	else if (!p->trusted)
		finding(r, "error", "mx_cert_untrusted",
		    "Use a certificate from a public CA, with its chain.",
		    "The certificate of MX %s is not trusted (%s).", host,
		    p->verify_error);
	if (!p->name_ok)
		finding(r, "error", "mx_cert_name",
		    "Get a certificate whose names include the MX host name.",
		    "The certificate of MX %s is not valid for that name.",
		    host);
}

static json_t *
probe_json(const struct probe_result *p, const json_t *matched)
{
	json_t *sans = json_array();
	int i;

	for (i = 0; i < p->san_count; i++)
		json_array_append_new(
		    sans, mtasts_json_text(p->sans[i], strlen(p->sans[i])));
	return json_pack("{s:O, s:b, s:b, s:s?, s:o, s:s?}", "patterns_matched",
	    matched, "reachable", p->connected, "starttls", p->starttls,
	    "tls_version", p->tls ? p->tls_version : NULL, "certificate",
	    p->tls ? json_pack("{s:s, s:o, s:s, s:s, s:b, s:b, s:b}", "subject",
	                 p->subject, "sans", sans, "issuer", p->issuer,
	                 "not_after", p->not_after, "trusted", p->trusted,
	                 "expired", p->expired, "valid_for_name", p->name_ok)
	           : (json_decref(sans), json_null()),
	    "error", p->error[0] != '\0' ? p->error : NULL);
}

/* Patterns that cover no live MX, and wildcards meant for deeper names. */
static void
check_patterns(struct report *r, const struct dns_answer *mx)
{
	size_t i, k;

	if (count_of(mx) == 0)
		return; /* mx_missing says it all */
	for (i = 0; r->policy != NULL && i < r->policy->mx_count; i++) {
		const char *p = r->policy->mx[i];
		bool used = false, deeper = false;

		for (k = 0; k < count_of(mx); k++) {
			size_t hl = strlen(mx->data[k]), pl = strlen(p);

			if (mtasts_mx_match(p, mx->data[k]))
				used = true;
			else if (p[0] == '*' && hl > pl &&
			    strcasecmp(mx->data[k] + hl - (pl - 1), p + 1) == 0)
				deeper = true;
		}
		if (deeper && !used)
			finding(r, "warning", "pattern_wildcard_depth",
			    "List the deeper names, or one \"*.\" pattern per "
			    "level: a wildcard covers exactly one label.",
			    "mx \"%s\" looks meant for MX hosts several labels "
			    "deep, but \"*.\" matches one label only (RFC 8461 "
			    "§4.1).",
			    p);
		else if (!used)
			finding(r, "warning", "pattern_stale",
			    "Remove the pattern, or add the MX it was for.",
			    "mx \"%s\" matches none of the domain's MX hosts.",
			    p);
	}
}

/* Every MX: covered by the policy?  STARTTLS and certificate on port 25. */
/* SMTP with STARTTLS and a TLS session: what a sender needs of an MX. */
static bool
probe_works(const struct probe_result *p)
{
	return p->connected && p->starttls && p->tls;
}

/*
 * Probes host on port 25 at its first IPv4 address (into *p) and its first
 * IPv6 address (into *p6); a family without an address says "no address".
 */
static void
probe_host(struct report *r, const char *host, const struct dns_answer *a,
    const struct dns_answer *a6, struct probe_result *p,
    struct probe_result *p6)
{
	const struct dns_answer *fam[2] = {a, a6};
	struct probe_result *out[2] = {p, p6};
	int k;

	for (k = 0; k < 2; k++) {
		if (count_of(fam[k]) == 0) {
			memset(out[k], 0, sizeof(*out[k]));
			snprintf(
			    out[k]->error, sizeof(out[k]->error), "no address");
			continue;
		}
		probe_smtp(host, fam[k]->data[0], 25,
		    r->cfg->connect_timeout_ms,
		    r->cfg->connect_timeout_ms + r->cfg->fetch_timeout_ms,
		    r->cfg->ca_bundle, r->cfg->ca_path, out[k]);
	}
}

/* "ok", what failed over IPv6, or null when the MX has no IPv6 address. */
static json_t *
ipv6_state(const struct dns_answer *a6, const struct probe_result *p6)
{
	if (count_of(a6) == 0)
		return json_null();
	if (p6->no_route)
		return json_string("not probed: no IPv6 route from this host");
	if (probe_works(p6))
		return json_string("ok");
	return json_string(p6->error[0] != '\0' ? p6->error : "no STARTTLS");
}

static void
check_mx(struct report *r)
{
	struct dns_answer *mx = ask(r, "", r->domain, DNS_TYPE_MX);
	json_t *hosts = json_array();
	bool dane = false;
	size_t i, k;

	if (count_of(mx) == 0)
		finding(r, "error", "mx_missing",
		    "Publish MX records for the domain.",
		    "%s has no MX records (%s).", r->domain,
		    mx != NULL ? mx->message : "no answer");
	for (i = 0; i < count_of(mx); i++) {
		const char *host = mx->data[i];
		struct dns_answer *a = ask(r, "", host, DNS_TYPE_A);
		struct dns_answer *a6 = ask(r, "", host, DNS_TYPE_AAAA);
		struct dns_answer *tlsa =
		    ask(r, "_25._tcp.", host, DNS_TYPE_TLSA);
		json_t *matched = json_array(), *h;
		struct probe_result p, p6;
		const struct probe_result *best;

		for (k = 0; r->policy != NULL && k < r->policy->mx_count; k++)
			if (mtasts_mx_match(r->policy->mx[k], host))
				json_array_append_new(
				    matched, json_string(r->policy->mx[k]));
		if (r->policy != NULL && r->policy->mode != MTASTS_MODE_NONE &&
		    json_array_size(matched) == 0)
			finding(r,
			    r->policy->mode == MTASTS_MODE_ENFORCE ? "error"
			                                           : "warning",
			    "mx_not_covered",
			    "Add the MX host (or a \"*.\" pattern for it) to "
			    "the "
			    "policy, with a new id in the TXT record.",
			    "MX %s matches no mx pattern of the policy: under "
			    "enforce, senders will not deliver to it.",
			    host);
		probe_host(r, host, a, a6, &p, &p6);
		/* judged by IPv4, unless only IPv6 has an address or answers */
		best = count_of(a) > 0 && (p.connected || !p6.connected) ? &p
		                                                         : &p6;
		judge_probe(r, host, best);
		/* a family this host cannot reach says nothing of the MX */
		if (count_of(a) > 0 && count_of(a6) > 0 && !p.no_route &&
		    !p6.no_route && probe_works(&p) != probe_works(&p6))
			finding(r, "warning",
			    probe_works(&p) ? "mx_ipv4_only" : "mx_ipv6_only",
			    "Make the MX answer SMTP with STARTTLS on both its "
			    "IPv4 and IPv6 addresses, or publish only the one "
			    "that works.",
			    "MX %s works over %s only (%s: %s): senders that "
			    "use the other fail.",
			    host, probe_works(&p) ? "IPv4" : "IPv6",
			    probe_works(&p) ? a6->data[0] : a->data[0],
			    probe_works(&p) ? p6.error : p.error);
		dane = dane || count_of(tlsa) > 0;
		if (count_of(tlsa) > 0)
			finding(r, "info", "dane_present",
			    "Nothing to do: senders with DANE use it first "
			    "(RFC 8461 §2).",
			    "MX %s has TLSA records: DANE governs the senders "
			    "that support it.",
			    host);
		h = probe_json(best, matched);
		json_object_set_new(h, "host", json_string(host));
		json_object_set_new(h, "preference", json_integer(mx->pref[i]));
		json_object_set_new(h, "address",
		    count_of(a) ? json_string(a->data[0]) : json_null());
		json_object_set_new(h, "address6",
		    count_of(a6) ? json_string(a6->data[0]) : json_null());
		json_object_set_new(h, "ipv6", ipv6_state(a6, &p6));
		json_object_set_new(h, "tlsa", json_boolean(count_of(tlsa)));
		json_array_append_new(hosts, h);
		json_decref(matched);
		dns_answer_free(a);
		dns_answer_free(a6);
		dns_answer_free(tlsa);
	}
	json_object_set_new(r->obj, "mx_hosts", hosts);
	json_object_set_new(r->obj, "dane", json_boolean(dane));
	check_patterns(r, mx);
	dns_answer_free(mx);
}

/* _smtp._tls.<domain> (RFC 8460 §3). */
static void
check_tlsrpt(struct report *r)
{
	struct dns_answer *a = ask(r, "_smtp._tls.", r->domain, DNS_TYPE_TXT);
	struct mtasts_error err;
	struct tlsrpt t;
	json_t *rua = json_array();
	mtasts_code rc = count_of(a) == 0
	    ? MTASTS_ERR_NO_TLSRPT_RECORD
	    : tlsrpt_parse(
	          (const char *const *)a->data, a->len, a->count, &t, &err);
	size_t i;

	if (rc == MTASTS_ERR_NO_TLSRPT_RECORD)
		finding(r, "warning", "tlsrpt_missing",
		    "Publish \"v=TLSRPTv1; rua=mailto:tls-reports@DOMAIN\" at "
		    "_smtp._tls.DOMAIN.",
		    "No TLS-RPT record at _smtp._tls.%s: senders cannot tell "
		    "you when TLS to your MX fails.",
		    r->domain);
	else if (rc != MTASTS_OK)
		finding(r, "error", "tlsrpt_invalid",
		    "The record must read \"v=TLSRPTv1; rua=URI[,URI]\".",
		    "The TLS-RPT record is not valid: %s.", err.message);
	else if (t.bad_scheme >= 0)
		finding(r, "error", "tlsrpt_rua_scheme",
		    "Use rua=mailto:... or rua=https://... (RFC 8460 §3).",
		    "TLS-RPT rua \"%s\" is neither mailto: nor https:.",
		    t.rua[t.bad_scheme]);
	for (i = 0; rc == MTASTS_OK && i < t.rua_count; i++)
		json_array_append_new(
		    rua, mtasts_json_text(t.rua[i], strlen(t.rua[i])));
	json_object_set_new(r->obj, "tls_rpt",
	    json_pack("{s:o, s:o}", "raw", strings(a), "rua", rua));
	dns_answer_free(a);
}

/* The whole report for one domain; *errors counts the errors. */
static json_t *
check_domain(const struct mtasts_config *cfg, struct dns *dns, const char *arg,
    int *errors)
{
	char domain[MTASTS_DOMAIN_MAX + 1];
	struct report r = {.cfg = cfg, .dns = dns, .domain = domain};
	bool have_txt;

	if (domain_normalize(arg, domain) != 0) {
		struct mtasts_error err;
		char q[80];

		/* a usage error: said back as printable ASCII */
		mtasts_quote(q, sizeof(q), arg, strlen(arg));
		mtasts_error_set(
		    &err, MTASTS_ERR_USAGE, "\"%s\" is not a domain name", q);
		*errors = -1;
		return json_pack("{s:s, s:o}", "domain", q, "error",
		    mtasts_json_error(&err));
	}
	r.obj = json_pack("{s:s}", "domain", domain);
	r.issues = json_array();
	r.recommendations = json_array();
	have_txt = check_txt(&r);
	check_policy(&r, have_txt);
	json_object_set_new(
	    r.obj, "has_mta_sts", json_boolean(have_txt && r.policy != NULL));
	json_object_set_new(r.obj, "mode",
	    r.policy != NULL ? json_string(mtasts_mode_name(r.policy->mode))
	                     : json_null());
	check_mx(&r);
	check_tlsrpt(&r);
	json_object_set_new(r.obj, "issues", r.issues);
	json_object_set_new(r.obj, "recommendations", r.recommendations);
	json_object_set_new(r.obj, "summary",
	    json_pack(
	        "{s:i, s:i}", "errors", r.errors, "warnings", r.warnings));
	mtasts_policy_free(r.policy);
	*errors = r.errors;
	return r.obj;
}

/* ---- text for a terminal ---- */

static bool colour;

static const char *
paint(const char *severity)
{
	if (!colour)
		return "";
	if (strcmp(severity, "error") == 0)
		return "\033[31m";
	if (strcmp(severity, "warning") == 0)
		return "\033[33m";
	return "\033[36m";
}

static void
print_findings(json_t *list, const char *mark)
{
	json_t *f;
	size_t i;

	json_array_foreach(list, i, f)
	{
		const char *sev =
		    json_string_value(json_object_get(f, "severity"));

		printf("  %s%s %s%s [%s]\n      %s\n      fix: %s\n",
		    paint(sev), mark, sev, colour ? "\033[0m" : "",
		    json_string_value(json_object_get(f, "code")),
		    json_string_value(json_object_get(f, "message")),
		    json_string_value(json_object_get(f, "fix")));
	}
}

static void
print_report(json_t *rep)
{
	json_t *summary = json_object_get(rep, "summary"), *h, *v;
	const char *mode = json_string_value(json_object_get(rep, "mode"));
	json_t *error = json_object_get(rep, "error");
	size_t i;

	if (error != NULL) {
		printf("%s: %s\n",
		    json_string_value(json_object_get(rep, "domain")),
		    json_string_value(json_object_get(error, "message")));
		return;
	}
	printf("%s%s%s: MTA-STS %s (%lld errors, %lld warnings)\n",
	    colour ? "\033[1m" : "",
	    json_string_value(json_object_get(rep, "domain")),
	    colour ? "\033[0m" : "", mode != NULL ? mode : "not published",
	    json_integer_value(json_object_get(summary, "errors")),
	    json_integer_value(json_object_get(summary, "warnings")));
	json_array_foreach(
	    json_object_get(json_object_get(rep, "dns_record"), "raw"), i, v)
	{
		printf("  TXT      %s\n", json_string_value(v));
	}
	printf("  policy   %s\n",
	    json_string_value(json_object_get(rep, "policy_url")));
	json_array_foreach(json_object_get(rep, "mx_hosts"), i, h)
	{
		json_t *cert = json_object_get(h, "certificate");

		printf("  MX       %s: %s%s%s\n",
		    json_string_value(json_object_get(h, "host")),
		    json_is_true(json_object_get(h, "starttls"))
		        ? "STARTTLS "
		        : "no STARTTLS",
		    json_string_value(json_object_get(h, "tls_version"))
		        ? json_string_value(json_object_get(h, "tls_version"))
		        : "",
		    json_is_object(cert)
		        ? (json_is_true(json_object_get(cert, "trusted")) &&
		                      json_is_true(json_object_get(
		                          cert, "valid_for_name"))
		                  ? ", certificate valid"
		                  : ", certificate NOT valid")
		        : "");
	}
	json_array_foreach(
	    json_object_get(json_object_get(rep, "tls_rpt"), "rua"), i, v)
	{
		printf("  TLS-RPT  %s\n", json_string_value(v));
	}
	print_findings(json_object_get(rep, "issues"), "x");
	print_findings(json_object_get(rep, "recommendations"), "i");
}

static int
run_checks(struct cli *cli, char **domains, size_t n)
{
	struct mtasts_config *cfg = NULL;
	struct mtasts_error err;
	struct dns *dns;
	json_t *all = json_array();
	int status = CLI_OK, errors;
	size_t i;

	if (cli_load_config(cli, &cfg) != 0)
		return CLI_ERROR;
	if ((dns = dns_new(cfg, &err)) == NULL) {
		fprintf(stderr, "mtasts check: %s\n", err.message);
		mtasts_config_free(cfg);
		return CLI_ERROR;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	colour = !cli->json && isatty(STDOUT_FILENO);
	for (i = 0; i < n; i++) {
		json_t *rep = check_domain(cfg, dns, domains[i], &errors);

		if (errors < 0)
			status = CLI_ERROR; /* not a domain: a usage error */
		else if (errors > 0 && status == CLI_OK)
			status = CLI_PROBLEM;
		if (n > 1 && isatty(STDERR_FILENO))
			cli_progress("checking", i + 1, n);
		json_array_append_new(all, rep);
	}
	if (cli->json) {
		cli_emit(cli,
		    n == 1 ? json_incref(json_array_get(all, 0))
		           : json_pack("{s:O}", "results", all));
	} else {
		json_t *rep;

		json_array_foreach(all, i, rep)
		{
			print_report(rep);
			printf("\n");
		}
		if (n > 1) {
			printf("%-40s %-10s %6s %8s\n", "domain", "mode",
			    "errors", "warnings");
			json_array_foreach(all, i, rep)
			{
				json_t *sum = json_object_get(rep, "summary");
				const char *mode = json_string_value(
				    json_object_get(rep, "mode"));

				printf("%-40s %-10s %6lld %8lld\n",
				    json_string_value(
				        json_object_get(rep, "domain")),
				    mode != NULL ? mode : "-",
				    json_integer_value(
				        json_object_get(sum, "errors")),
				    json_integer_value(
				        json_object_get(sum, "warnings")));
			}
		}
	}
	json_decref(all);
	curl_global_cleanup();
	dns_free(dns);
	mtasts_config_free(cfg);
	return status;
}

int
cmd_check(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"file", required_argument, NULL, 'f'}, CLI_COMMON_OPTIONS};
	struct cli cli = {.name = "check",
	    .usage =
	        "usage: mtasts check [--config FILE] [--json] [--file LIST] "
	        "DOMAIN...\n"
	        "The report a domain owner wants: the _mta-sts TXT record, the "
	        "policy (over\nIPv4 and IPv6, with and without a User-Agent), "
	        "its content, the MX records\nagainst its patterns, STARTTLS "
	        "and the certificate of every MX on port 25,\nTLS-RPT and "
	        "DANE.  Every finding has a code, a severity and the fix.\n"
	        "--file checks the domains of a file (one per line) with a "
	        "summary table.\nExit 0 when nothing is an error, 1 "
	        "otherwise, 2 when an operand is not a domain.\n"};
	char **domains = NULL, *text = NULL;
	size_t n = 0;
	bool done;
	int opt, status = CLI_OK;

	while ((opt = getopt_long(
	            argc, argv, "f:" CLI_COMMON_SHORT, opts, NULL)) != -1) {
		if (opt == 'f') {
			if (text != NULL) {
				status = cli_usage_error(
				    &cli, "--file may be given once");
				goto out;
			}
			if (cli_read_domains(
			        &cli, optarg, &domains, &n, &text) != 0) {
				status = CLI_ERROR;
				goto out;
			}
			continue;
		}
		status = cli_common_option(&cli, opt, &done);
		if (done)
			goto out;
	}
	if (cli_push_operands(argc, argv, optind, &domains, &n) != 0)
		status = CLI_ERROR;
	else if (n == 0)
		status = cli_usage_error(&cli, "expected a DOMAIN or --file");
	else
		status = run_checks(&cli, domains, n);
out:
	free(domains);
	free(text);
	return status;
}
