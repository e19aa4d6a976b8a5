/*
 * check.h - the report of mtasts check, shared by its parts: the model
 * (check_report.c), the DNS records (check_records.c: _mta-sts and
 * _smtp._tls), the policy host (check_policy.c), the MX hosts
 * (check_mx.c), and the command that runs them and prints (check.c).
 */
#ifndef MTASTS_CLI_CHECK_H
#define MTASTS_CLI_CHECK_H

#include <jansson.h>
#include <stdbool.h>

#include "config.h"
#include "dns.h"
#include "mtasts.h"

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

/* One finding: severity "error", "warning" or "info", with its stable
 * code, the fix, and a sentence. */
void finding(struct report *r, const char *severity, const char *code,
    const char *fix, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* A DNS question about prefix + name (the answer for the caller to free). */
struct dns_answer *ask(
    struct report *r, const char *prefix, const char *name, int type);

/* The strings of an answer, as JSON (printable ASCII where not UTF-8). */
json_t *strings(const struct dns_answer *a);

/* How many records an answer has (0 for a failed one). */
size_t count_of(const struct dns_answer *a);

/* The _mta-sts TXT record (RFC 8461 §3.1); true when one is there. */
bool check_txt(struct report *r);

/* The policy host and the policy (RFC 8461 §3.2, §3.3). */
void check_policy(struct report *r, bool have_txt);

/* Every MX host: the patterns, STARTTLS and the certificate (§4). */
void check_mx(struct report *r);

/* The TLS-RPT record (RFC 8460). */
void check_tlsrpt(struct report *r);

#endif
