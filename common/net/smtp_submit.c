/*
 * smtp_submit.c - a message handed to the local MTA by SMTP (RFC 5321
 * §3.3: MAIL, RCPT, DATA), one command at a time (no PIPELINING).  Every
 * reply has its own deadline and the whole exchange one more, so that a
 * relay that stops answering costs a bounded wait.
 */
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "domain.h"
#include "smtp_client.h"
#include "smtp_submit.h"

#define REPLY_MAX 16384 /* RFC 5321 §4.5.3.1.5: 512 a line; EHLO has many */

/* One exchange in progress. */
struct exchange {
	const struct smtp_submission *s;
	struct smtp_outcome *out;
	int fd;
	int64_t deadline; /* of the whole exchange */
	char reply[REPLY_MAX];
};

static const char *
step_name(enum smtp_step step)
{
	switch (step) {
	case SMTP_STEP_CONNECT:
		return "connect";
	case SMTP_STEP_GREETING:
		return "greeting";
	case SMTP_STEP_EHLO:
		return "EHLO";
	case SMTP_STEP_MAIL:
		return "MAIL FROM";
	case SMTP_STEP_RCPT:
		return "RCPT TO";
	case SMTP_STEP_DATA:
		return "DATA";
	case SMTP_STEP_MESSAGE:
		return "end of data";
	}
	return "?";
}

/* The reply each step wants (RFC 5321 §4.3.2). */
static bool
wanted(enum smtp_step step, int code)
{
	if (step == SMTP_STEP_GREETING)
		return code == 220;
	if (step == SMTP_STEP_DATA)
		return code == 354;
	return code >= 200 && code < 300;
}

/* An envelope address that cannot end or change its command line, and
 * fits one (RFC 5321 §4.5.3.1.3: a path is 256 bytes with its <>). */
static bool
plain_address(const char *address)
{
	const unsigned char *c = (const unsigned char *)address;

	for (; *c != '\0'; c++)
		if (*c <= ' ' || *c >= 0x7f || *c == '<' || *c == '>')
			return false;
	return address[0] != '\0' && strlen(address) <= 254;
}

/*
 * Sends text (none for the greeting) and reads the reply, for step; true
 * when it is the one wanted.  x->out says what came.
 */
static bool
step(struct exchange *x, enum smtp_step step, const char *text)
{
	int64_t deadline = mono_ms() + x->s->reply_ms;
	struct smtp_outcome *out = x->out;
	char said[sizeof(out->text) - 32]; /* after the step's name */
	int code;

	if (deadline > x->deadline)
		deadline = x->deadline;
	out->step = step;
	out->code = 0;
	if (text != NULL && !smtp_say(x->fd, text, deadline)) {
		snprintf(out->text, sizeof(out->text), "%s: %s while sending",
		    step_name(step),
		    mono_ms() >= deadline ? "timed out" : "connection lost");
		return false;
	}
	code = smtp_read_reply(x->fd, x->reply, sizeof(x->reply), deadline);
	if (code < 0) {
		snprintf(out->text, sizeof(out->text), "%s: %s",
		    step_name(step), smtp_failure(code));
		return false;
	}
	smtp_reply_text(x->reply, said, sizeof(said));
	out->code = code;
	if (code == 0)
		snprintf(out->text, sizeof(out->text), "%s: not SMTP: %s",
		    step_name(step), said);
	else if (!wanted(step, code))
		snprintf(out->text, sizeof(out->text), "%s: %s",
		    step_name(step), said);
	else
		snprintf(out->text, sizeof(out->text), "%s", said);
	return code != 0 && wanted(step, code);
}

/* The exchange on a connected socket, up to the reply to the data. */
static bool
exchange(struct exchange *x, const char *data)
{
	const struct smtp_submission *s = x->s;
	char command[600];

	if (!step(x, SMTP_STEP_GREETING, NULL))
		return false;
	snprintf(command, sizeof(command), "EHLO %s\r\n", s->helo);
	if (!step(x, SMTP_STEP_EHLO, command))
		return false;
	snprintf(command, sizeof(command), "MAIL FROM:<%s>\r\n", s->from);
	if (!step(x, SMTP_STEP_MAIL, command))
		return false;
	snprintf(command, sizeof(command), "RCPT TO:<%s>\r\n", s->rcpt);
	if (!step(x, SMTP_STEP_RCPT, command) ||
	    !step(x, SMTP_STEP_DATA, "DATA\r\n"))
		return false;
	return step(x, SMTP_STEP_MESSAGE, data);
}

bool
smtp_submit(const struct smtp_submission *s, struct smtp_outcome *out)
{
	struct exchange *x;
	char *data = NULL;
	bool accepted;

	memset(out, 0, sizeof(*out));
	/* a command line holds each address: nothing may end or change it */
	if (!plain_address(s->from) || !plain_address(s->rcpt)) {
		out->step =
		    plain_address(s->from) ? SMTP_STEP_RCPT : SMTP_STEP_MAIL;
		snprintf(out->text, sizeof(out->text), "%s: bad address",
		    step_name(out->step));
		return false;
	}
	if ((x = calloc(1, sizeof(*x))) == NULL ||
	    (data = smtp_data(s->message)) == NULL) {
		free(x);
		snprintf(out->text, sizeof(out->text), "out of memory");
		return false;
	}
	x->s = s;
	x->out = out;
	x->deadline = mono_ms() + s->total_ms;
	x->fd = smtp_connect(s->address, s->port,
	    s->connect_ms < s->total_ms ? s->connect_ms : s->total_ms, NULL,
	    out->text, sizeof(out->text));
	accepted = x->fd >= 0 && exchange(x, data);
	if (x->fd >= 0) {
		/* a goodbye to a server that answers (§4.1.1.10); what it
		 * says changes nothing, so it is waited for a second only */
		int64_t bye = mono_ms() + 1000;

		if (out->code != 0 && smtp_say(x->fd, "QUIT\r\n", bye))
			smtp_read_reply(x->fd, x->reply, sizeof(x->reply), bye);
		close(x->fd);
	}
	free(data);
	free(x);
	return accepted;
}

char *
smtp_data(const char *message)
{
	size_t len = strlen(message);
	bool line_start = true;
	const char *p;
	char *out, *o;

	/* at worst every byte doubles, then CRLF ".\r\n" and the NUL */
	if (len > (SIZE_MAX - 6) / 2 || (out = malloc(2 * len + 6)) == NULL)
		return NULL;
	o = out;
	for (p = message; *p != '\0'; p++) {
		if (*p == '\r' && p[1] == '\n')
			continue; /* the LF ends the line */
		if (*p == '\r' || *p == '\n') {
			/* §2.3.8: no bare CR or LF on the wire */
			*o++ = '\r';
			*o++ = '\n';
			line_start = true;
			continue;
		}
		/* §4.5.2: transparency, so that no line reads as the end */
		if (line_start && *p == '.')
			*o++ = '.';
		*o++ = *p;
		line_start = false;
	}
	if (!line_start) {
		*o++ = '\r';
		*o++ = '\n';
	}
	memcpy(o, ".\r\n", 4);
	return out;
}

void
smtp_helo_name(char *out, size_t len)
{
	char name[MTASTS_DOMAIN_MAX + 2];

	/* §4.1.1.1: a fully qualified domain name, or none of ours */
	if (gethostname(name, sizeof(name)) != 0 ||
	    (name[sizeof(name) - 1] = '\0', strchr(name, '.') == NULL) ||
	    !domain_is_valid(name, strlen(name)))
		snprintf(out, len, "localhost");
	else
		snprintf(out, len, "%s", name);
}
