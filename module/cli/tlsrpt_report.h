/* tlsrpt_report.h - one RFC 8460 report: its JSON (§4), gzip and file
 * name (§5.1), and the mail that carries it (§5.3). */
#ifndef MTASTS_TLSRPT_REPORT_H
#define MTASTS_TLSRPT_REPORT_H

#include <jansson.h>
#include <stddef.h>

#include "config.h"

struct report {
	char day[11]; /* YYYY-MM-DD, UTC */
	char domain[254]; /* the policy domain */
	char submitter[254];
	char id[600]; /* report-id */
	char filename[700]; /* §5.1, .json.gz */
	char *json; /* the report, compact */
	unsigned char *gz; /* gzipped */
	size_t gz_len;
};

/*
 * Builds the report of domain for day from the store's policies of that
 * day (tlsrpt_store_day()'s list for the domain).  Returns 0, or -1 when
 * memory ran out.  report_clear() frees what it holds.
 */
int report_build(struct report *r, const struct mtasts_config *cfg,
    const char *day, const char *domain, json_t *policies);
void report_clear(struct report *r);

/*
 * The §5.3 message for rcpt, From from: multipart/report with the
 * gzipped report attached.  A new string (caller frees), or NULL.
 */
char *report_mail(const struct report *r, const struct mtasts_config *cfg,
    const char *rcpt);

/* The reports' sender: tlsrpt_from, else
 * noreply-smtp-tls-reporting@submitter. */
void report_from(const struct mtasts_config *cfg, const struct report *r,
    char *out, size_t len);

/* The submitter domain: tlsrpt_submitter, else this host's name. */
void report_submitter(const struct mtasts_config *cfg, char *out, size_t len);

#endif
