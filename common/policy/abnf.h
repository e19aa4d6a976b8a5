/* abnf.h - the core rules of RFC 5234 that every record grammar here uses
 * (internal to libmtasts). */
#ifndef MTASTS_ABNF_H
#define MTASTS_ABNF_H

#include <stdbool.h>
#include <stddef.h>

/* WSP = SP / HTAB (RFC 5234 Appendix B.1) */
static inline bool
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* ALPHA / DIGIT (RFC 5234 Appendix B.1) */
static inline bool
is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

/* RFC 8461 §3.1 sts-ext-name and §3.2 sts-policy-ext-name, one rule:
 * (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".") */
static inline bool
is_sts_ext_name(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > 32 || !is_alnum(s[0]))
		return false;
	for (i = 1; i < len; i++)
		if (!is_alnum(s[i]) && s[i] != '_' && s[i] != '-' &&
		    s[i] != '.')
			return false;
	return true;
}

#endif
