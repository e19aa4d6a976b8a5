/* tlsrpt_deliver.h - a report to one rua (RFC 8460 §3, §5): mailto: by
 * SMTP to the local MTA (or through its sendmail), https: by POST. */
#ifndef MTASTS_TLSRPT_DELIVER_H
#define MTASTS_TLSRPT_DELIVER_H

#include <stddef.h>

#include "config.h"
#include "tlsrpt_report.h"

enum delivery {
	DELIVERED,
	TRY_LATER, /* a temporary failure: the next run tries again */
	REFUSED, /* for good: an unsupported scheme, a bad address, an HTTP
	            4xx, the relay's 5xx to the mail */
};

/* Delivers r to rua; why says what happened (always set). */
enum delivery report_deliver(const struct mtasts_config *cfg,
    const struct report *r, const char *rua, char *why, size_t len);

#endif
