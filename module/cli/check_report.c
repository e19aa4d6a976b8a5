/*
 * check_report.c - the report of mtasts check: findings and the DNS
 * questions every part asks.
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

void
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

struct dns_answer *
ask(struct report *r, const char *prefix, const char *name, int type)
{
	char full[MTASTS_DOMAIN_MAX + 32];

	snprintf(full, sizeof(full), "%s%s", prefix, name);
	return dns_lookup(r->dns, full, type, r->cfg->dns_timeout_ms);
}

json_t *
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

size_t
count_of(const struct dns_answer *a)
{
	return a != NULL && a->code == MTASTS_OK ? a->count : 0;
}
