/*
 * check_mx.c - mtasts check: every MX host against the patterns, and
 * on port 25: STARTTLS and the certificate (RFC 8461 §4).
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

void
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
