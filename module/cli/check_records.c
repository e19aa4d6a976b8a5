/*
 * check_records.c - mtasts check: the DNS records a domain owner
 * publishes, _mta-sts (RFC 8461 §3.1) and _smtp._tls (RFC 8460).
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

bool
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

void
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
