/* domain.h - DNS name syntax (internal to libmtasts). */
#ifndef MTASTS_DOMAIN_H
#define MTASTS_DOMAIN_H

#include <stdbool.h>
#include <stddef.h>

/* The longest domain name in presentation form, without the final dot. */
#define MTASTS_DOMAIN_MAX 253

/*
 * RFC 5321 §4.1.2 Domain: labels of letters, digits and hyphens, neither
 * starting nor ending with a hyphen, at most 63 bytes each and 253 in all.
 * s has len bytes and no trailing dot.
 */
bool domain_is_valid(const char *s, size_t len);

/* len without one trailing dot, if s has one. */
size_t domain_trim_dot(const char *s, size_t len);

/* ASCII case-insensitive equality of two byte strings. */
bool domain_equal(const char *a, size_t alen, const char *b, size_t blen);

/*
 * Writes domain in the form keys and URLs use: A-labels (a name in UTF-8
 * is converted, IDNA 2008), lower case, no trailing dot, short enough
 * that "_mta-sts." fits before it.  Returns 0, or -1 when it is not a
 * domain name (a U-label libidn2 refuses included).
 */
int domain_normalize(const char *domain, char out[MTASTS_DOMAIN_MAX + 1]);

#endif
