/* error.h - filling a struct mtasts_error (internal to libmtasts). */
#ifndef MTASTS_ERROR_H
#define MTASTS_ERROR_H

#include <stdbool.h>

#include "mtasts_core.h"

/*
 * Sets err (which may be NULL) to code with a printf-style message, and
 * returns code, so that a failing path reads
 * "return mtasts_error_set(err, CODE, ...)".
 */
mtasts_code mtasts_error_set(struct mtasts_error *err, mtasts_code code,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Sets err to http_status_<status> with a message naming url and status. */
mtasts_code mtasts_error_set_http_status(
    struct mtasts_error *err, const char *url, long status);

/*
 * The failure is this host's own (memory, configuration, cache, I/O, a
 * bug), not an answer about the domain: it says nothing of the domain's
 * policy, so it must never be read as "no policy".
 */
bool mtasts_error_is_local(mtasts_code code);

/*
 * An answer about the domain that may mean it has no policy (a missing or
 * bad record or policy, a fetch that failed), as opposed to a local
 * failure or a code that is no outcome of discovery.  Whether it does is
 * decided with what else is known (module/decide.c).
 */
bool mtasts_code_may_mean_no_policy(mtasts_code code);

/* The RFC 8460 §4.3 result type of a session reported under a discovery
 * that failed with code; NULL when none applies. */
const char *mtasts_code_tlsrpt_result(mtasts_code code);

/*
 * Writes s (len bytes of untrusted input) into dst as printable ASCII for a
 * message: other bytes become \xNN, and a long string is cut with "...".
 * Returns dst.
 */
const char *mtasts_quote(char *dst, size_t dstlen, const char *s, size_t len);

#endif
