/* abnf.h - the core rules of RFC 5234 that every record grammar here uses
 * (internal to libmtasts). */
#ifndef MTASTS_ABNF_H
#define MTASTS_ABNF_H

#include <stdbool.h>

/* WSP = SP / HTAB (RFC 5234 Appendix B.1) */
static inline bool
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

#endif
