/* mx.h - the RFC 8461 §4.1 rule for MX patterns, for adapters that must
 * hand it to their MTA in its own terms (internal to libmtasts). */
#ifndef MTASTS_MX_H
#define MTASTS_MX_H

#include <stddef.h>

/*
 * Writes to out a regular expression that, anchored at both ends and
 * matched without regard to case, accepts exactly the host names
 * mtasts_mx_match(pattern, host) accepts ("*." is one label, a trailing
 * dot is ignored).  POSIX extended expressions and PCRE (Exim's host
 * lists) read it alike.  Returns its length, as snprintf does (len or
 * more: it did not fit), or 0 when the pattern matches no host: one the
 * policy parser refuses (mtasts_mx_pattern_check).
 */
size_t mx_pattern_regex(const char *pattern, char *out, size_t len);

#endif
