/*
 * smtp_submit.h - one message handed by SMTP (RFC 5321) to a server that
 * relays it on: the local MTA, on loopback, so plain SMTP without TLS or
 * AUTH.  Within a deadline, every reply capped (internal to libmtasts;
 * used by mtasts tlsrpt send for mailto: reports).
 */
#ifndef MTASTS_SMTP_SUBMIT_H
#define MTASTS_SMTP_SUBMIT_H

#include <stdbool.h>
#include <stddef.h>

/* The steps of a submission, in order: where one ended. */
enum smtp_step {
	SMTP_STEP_CONNECT,
	SMTP_STEP_GREETING, /* 220 wanted */
	SMTP_STEP_EHLO,
	SMTP_STEP_MAIL,
	SMTP_STEP_RCPT,
	SMTP_STEP_DATA, /* 354 wanted */
	SMTP_STEP_MESSAGE, /* the reply to the message's final "." */
};

struct smtp_submission {
	const char *address; /* the server: an IPv4 or IPv6 literal */
	int port;
	const char *helo; /* this client's name (smtp_helo_name()) */
	const char *from; /* the envelope's addresses, without <> */
	const char *rcpt;
	const char *message; /* header and body, lines ended by LF or CRLF */
	long connect_ms; /* to connect */
	long reply_ms; /* to wait for each reply */
	long total_ms; /* for the whole exchange */
};

struct smtp_outcome {
	enum smtp_step step; /* the last step tried */
	int code; /* the server's reply to it; 0 when none came (connection
	             refused, lost, timed out) or it was not SMTP */
	char text[300]; /* what happened, printable ASCII: "RCPT TO: 550
	                   5.1.1 unknown user", "greeting: timed out"; on
	                   success the server's last reply */
};

/*
 * Submits s->message from s->from to s->rcpt: greeting, EHLO, MAIL FROM,
 * RCPT TO, DATA, the message (smtp_data()), QUIT.  Returns true when the
 * server accepted the message (a 2xx to its final "."); *out says where
 * the exchange ended and what the server said (always set).  An address
 * with a byte that could end or change the command (a control character,
 * a space, <, >) is not sent: step MAIL or RCPT, code 0.
 */
bool smtp_submit(const struct smtp_submission *s, struct smtp_outcome *out);

/*
 * The DATA of message as sent on the wire (RFC 5321 §4.5.2, §2.3.8):
 * every line ended by CRLF (an LF, a CRLF and a bare CR each end one), a
 * "." before every line that starts with ".", and the ".\r\n" that ends
 * the data.  A new string (the caller frees it), or NULL when memory ran
 * out.
 */
char *smtp_data(const char *message);

/* This host's name for EHLO (RFC 5321 §4.1.1.1): its name when that is
 * a fully qualified domain name, else "localhost". */
void smtp_helo_name(char *out, size_t len);

#endif
