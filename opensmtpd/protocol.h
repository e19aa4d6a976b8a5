/*
 * protocol.h - the lines of smtpd's filter protocol (smtpd-filters(7),
 * protocol 0.6 of OpenSMTPD 6.8 and 0.7 of 7.x), read without side
 * effects: filter-mtasts.c acts on what these functions find.
 */
#ifndef MTASTS_PROTOCOL_H
#define MTASTS_PROTOCOL_H

#include <stddef.h>

enum protocol_kind {
	PROTOCOL_UNKNOWN, /* no line smtpd writes */
	PROTOCOL_READY, /* "config|ready": the configuration is over */
	PROTOCOL_VERSION, /* "config|protocol|VERSION" */
	PROTOCOL_CONFIG, /* another config line, ignored */
	PROTOCOL_REPORT, /* "report|...", ignored */
	PROTOCOL_REQUEST, /* a filter request: it needs an answer */
	PROTOCOL_MALFORMED, /* a "filter|" line that is not a request */
};

/*
 * One line, its fields pointing into the line read.  version is set for
 * PROTOCOL_VERSION and PROTOCOL_REQUEST; the rest for PROTOCOL_REQUEST
 * only, where params is NULL when the request has none.
 */
struct protocol_line {
	enum protocol_kind kind;
	const char *version;
	const char *phase; /* "rcpt-to", ... */
	const char *session; /* lower-case hex */
	const char *token; /* lower-case hex */
	char *params; /* the rest, '|' included: an address may hold one
	                 (protocol_domain() cuts it) */
};

/*
 * Reads line (NUL-terminated, without its newline), which it cuts at the
 * '|' of the fields it uses, into *out.  A request is
 * filter|VERSION|TIME|SUBSYSTEM|PHASE|SESSION|TOKEN[|PARAMS] whose session
 * id and token are hex, as smtpd writes them: anything else did not come
 * from smtpd, and an answer echoing it could be malformed.
 */
void protocol_parse(char *line, struct protocol_line *out);

/*
 * The domain of a rcpt-to address, "<user@domain>" or "user@domain":
 * what follows the last '@', the address cut at the '>' after it.  NULL
 * when there is no '@' or nothing after it.
 */
char *protocol_domain(char *address);

#endif
