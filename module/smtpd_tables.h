/* smtpd_tables.h - OpenSMTPD's tables of the enforce domains and their
 * routes: written by the filter and mtasts refresh, read back by the
 * filter (internal to libmtasts: the OpenSMTPD adapter's, not the API). */
#ifndef MTASTS_SMTPD_TABLES_H
#define MTASTS_SMTPD_TABLES_H

#include <stdbool.h>
#include <stddef.h>

#include "domain.h" /* MTASTS_DOMAIN_MAX */
#include "mtasts.h"

/*
 * OpenSMTPD's tables of the domains mail must go to under enforce (cached
 * enforce policies that have not expired, and enforce overrides): path,
 * one domain per line ("table mtasts_enforce file:PATH", matched to route
 * them through the relay_tls action), and path.routes, one
 * "domain smtp+tls://MX:25" per domain ("relay domain <mtasts_routes>
 * tls"): the most preferred MX host the policy allows, so that smtpd
 * delivers there and nowhere else whatever DNS says later.  A domain with
 * no qualifying MX gets no route (its mail waits).  Each file is written
 * atomically (a new file renamed over the old), the routes first; *changed
 * says whether either differs from what was there.
 *
 * smtpd_tables_write() keeps a domain's route while its policy
 * still allows the host (no DNS query: the filter calls it at RCPT);
 * smtpd_tables_refresh() asks DNS for every domain (mtasts
 * refresh --smtpd-table), keeping the old route only when DNS does not
 * answer.
 */
mtasts_code smtpd_tables_write(struct mtasts_ctx *ctx, const char *path,
    bool *changed, struct mtasts_error *err);
mtasts_code smtpd_tables_refresh(struct mtasts_ctx *ctx,
    const char *path, bool *changed, struct mtasts_error *err);

/*
 * The one reader of a routes file's line ("domain smtp+tls://host:25"):
 * true, with domain and host (each MTASTS_DOMAIN_MAX + 1 bytes), when the
 * line is one and both names are valid.
 */
bool smtpd_route_parse(const char *line, char *domain, char *host);

/* The host the routes file beside table (table.routes) names for domain,
 * into host (MTASTS_DOMAIN_MAX + 1 bytes); false when none. */
bool smtpd_route_of(const char *table, const char *domain, char *host);

#endif
