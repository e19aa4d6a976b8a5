/*
 * tlsrpt_spool.h - the delivery path's side of TLS-RPT: each session is one
 * line appended to the day's spool file beside the store (internal to
 * libmtasts).  An append is one write(2) of a short line to a file opened
 * O_APPEND: concurrent writers do not interleave, a killed one leaves a
 * whole line or none, and nothing is mapped or locked - a delivery pays a
 * few microseconds.  mtasts tlsrpt folds the lines into the store
 * (tlsrpt_store.h), where the policy of each domain is looked up.
 *
 * A day's file is bounded by tlsrpt_size: a session past it is not written
 * (MTASTS_ERR_CACHE).  The spool is tlsrpt_spool, apart from the cache:
 * the MTA's transports write here and nowhere else.
 */
#ifndef MTASTS_TLSRPT_SPOOL_H
#define MTASTS_TLSRPT_SPOOL_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "mtasts_core.h"
#include "tlsrpt_day.h"

#define TLSRPT_LINE_MAX 3072
#define TLSRPT_APPLIED_MAX 2048 /* an applied policy, as a line holds it */

/* One session as the MTA saw it. */
struct spool_session {
	char domain[254]; /* the recipient domain, an A-label */
	char mx_host[254];
	char mx_ip[64]; /* "" when unknown */
	char local_ip[64];
	bool tls;
	bool verified;
	/* when not verified: certificate-host-mismatch, -expired or
	 * -not-trusted from the certificate seen; "" otherwise */
	char cert_result[40];
	/* the policy the delivery applied, as tlsrpt_applied_format() wrote
	 * it; "" when the MTA did not say (a line of version 1, a transport
	 * without it): then the policy the fold finds counts */
	char applied[TLSRPT_APPLIED_MAX];
};

/*
 * The policy a delivery applied, as one word of a spool line:
 * "ID:MODE:MAX_AGE:MX,MX,..." (id "-" when unknown), followed by
 * ":V,M,A", the positions of its version, mode and max_age lines (its
 * line_of), when they are not in the canonical order.  0, or -1 when it
 * does not fit in len.
 */
int tlsrpt_applied_format(
    const struct mtasts_policy *p, char *out, size_t len);

/* The policy such a word stands for (a new one, the caller frees it), or
 * NULL when it is not one: its id, mode (testing or enforce), max_age
 * and patterns each checked as a policy's own are, and the order part,
 * when there is one, three distinct positions within the policy's lines
 * (a word without it, as earlier versions wrote: the canonical order). */
struct mtasts_policy *tlsrpt_applied_parse(const char *word);

/* The store's directory (tlsrpt_dir, or tlsrpt in cache_dir); -1 when
 * neither is set or it does not fit. */
int tlsrpt_dir_of(const struct mtasts_config *cfg, char *dir, size_t len);

/* Appends x to day's spool file (made when missing, in the directory the
 * installer made). */
mtasts_code tlsrpt_spool_add(const struct mtasts_config *cfg,
    const char *day, const struct spool_session *x, struct mtasts_error *err);

/*
 * Reads day's spool file from byte *offset: fn for each whole line that
 * parses (others are skipped), max lines at most; *offset moves past the
 * last line read.  A file shorter than *offset is another one, read
 * from its start.  MTASTS_OK (also when there is no such file), or
 * MTASTS_ERR_IO.
 */
mtasts_code tlsrpt_spool_read(const struct mtasts_config *cfg,
    const char *day, uint64_t *offset, size_t max,
    void (*fn)(void *arg, const struct spool_session *x), void *arg,
    struct mtasts_error *err);

/* The days that have a spool file (max at most), oldest first: their
 * number, or -1 with err set. */
int tlsrpt_spool_days(const struct mtasts_config *cfg,
    char days[][TLSRPT_DAY_LEN + 1], size_t max, struct mtasts_error *err);

/* Removes day's spool file. */
void tlsrpt_spool_remove(const struct mtasts_config *cfg, const char *day);

#endif
