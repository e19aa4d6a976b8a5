/*
 * smtp_client.h - the plain-SMTP side of a client connection (RFC 5321):
 * connect, send a command, read a reply, each within a deadline and every
 * reply within a size cap.  Shared by the STARTTLS probe of mtasts check
 * (probe.c) and the submission of report mail (smtp_submit.c); internal
 * to libmtasts.
 */
#ifndef MTASTS_SMTP_CLIENT_H
#define MTASTS_SMTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What smtp_read_reply() returns when no reply came (a reply is >= 0). */
enum {
	SMTP_TIMED_OUT = -1, /* the deadline passed first */
	SMTP_CLOSED = -2, /* the server closed the connection, or recv failed */
	SMTP_TOO_LONG = -3, /* the reply did not fit in the buffer */
};

/* Words for a code of smtp_read_reply() below 0 ("timed out"). */
const char *smtp_failure(int code);

/*
 * Connects to address (an IPv4 or IPv6 literal) at port within
 * timeout_ms.  Returns the socket (non-blocking, close-on-exec; the
 * caller closes it), or -1 with why set ("connect: Connection refused")
 * and, if no_route is not NULL, *no_route true when this host has no way
 * to the address's network (no fault of the server's).
 */
int smtp_connect(const char *address, int port, long timeout_ms, bool *no_route,
    char *why, size_t len);

/*
 * Waits until fd is ready for events (POLLIN, POLLOUT), at most until
 * deadline (mono_ms()).  Every read and write goes through here, so a
 * server that answers a byte at a time still cannot hold the client past
 * its deadline.
 */
bool smtp_wait(int fd, short events, int64_t deadline);

/* Sends text (NUL-terminated) whole before deadline; false if it could
 * not (the connection is then of no further use). */
bool smtp_say(int fd, const char *text, int64_t deadline);

/*
 * Reads one reply (all its lines) into buf (cap bytes, NUL-terminated)
 * before deadline.  Returns its code (0 when its last line does not
 * start with three digits: not SMTP), or SMTP_TIMED_OUT, SMTP_CLOSED,
 * SMTP_TOO_LONG.
 */
int smtp_read_reply(int fd, char *buf, size_t cap, int64_t deadline);

/*
 * Whether text (NUL-terminated, what has arrived so far) holds a whole
 * reply (RFC 5321 §4.2.1): lines "NNN-..." ending in CRLF, then a last
 * line ending in CRLF.  Then *code is the last line's code, or 0 when it
 * is not "NNN" or "NNN text" (a line that is not SMTP ends the reply: the
 * client need not wait for more).  Bytes after a NUL are not seen.
 */
bool smtp_reply_complete(const char *text, int *code);

/*
 * The reply's text for a message (reply as smtp_read_reply() left it):
 * the code, then the text of every line joined by spaces, each byte that
 * is not printable ASCII as '?', cut to len - 1 bytes.  "550 5.1.1 no
 * such user".
 */
void smtp_reply_text(const char *reply, char *out, size_t len);

#endif
