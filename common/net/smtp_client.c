/*
 * smtp_client.c - connect, say, read a reply: the plain SMTP (RFC 5321)
 * that the STARTTLS probe and the report submission share.  Sockets are
 * non-blocking and every wait is bounded by the caller's deadline.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "smtp_client.h"

const char *
smtp_failure(int code)
{
	switch (code) {
	case SMTP_TIMED_OUT:
		return "timed out";
	case SMTP_CLOSED:
		return "connection closed";
	case SMTP_TOO_LONG:
		return "reply too long";
	default:
		return "not a failure";
	}
}

/* address:port in ss, from an IPv4 or IPv6 literal; its length, or 0. */
static socklen_t
socket_address(const char *address, int port, struct sockaddr_storage *ss)
{
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, address, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		return sizeof(*in);
	}
	if (inet_pton(AF_INET6, address, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		return sizeof(*in6);
	}
	return 0;
}

int
smtp_connect(const char *address, int port, long timeout_ms, bool *no_route,
    char *why, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sslen = socket_address(address, port, &ss);
	struct pollfd pfd;
	int fd, err = 0;
	socklen_t errlen = sizeof(err);

	if (no_route != NULL)
		*no_route = false;
	if (sslen == 0) {
		snprintf(why, len, "bad address %s", address);
		return -1;
	}
	fd =
	    socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 ||
	    (connect(fd, (struct sockaddr *)&ss, sslen) != 0 &&
	        errno != EINPROGRESS)) {
		/* this host has no way there: no fault of the server's */
		if (no_route != NULL)
			*no_route = errno == ENETUNREACH ||
			    errno == EAFNOSUPPORT || errno == EADDRNOTAVAIL;
		snprintf(why, len, "connect: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	pfd = (struct pollfd){.fd = fd, .events = POLLOUT};
	if (poll(&pfd, 1, (int)timeout_ms) != 1 ||
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &errlen) != 0 ||
	    err != 0) {
		snprintf(why, len, "connect: %s",
		    err != 0 ? strerror(err) : "timed out");
		close(fd);
		return -1;
	}
	return fd;
}

bool
smtp_wait(int fd, short events, int64_t deadline)
{
	struct pollfd pfd = {.fd = fd, .events = events};
	int64_t left = deadline - mono_ms();

	return left > 0 && poll(&pfd, 1, (int)left) == 1;
}

bool
smtp_say(int fd, const char *text, int64_t deadline)
{
	size_t len = strlen(text), done = 0;

	/* a command fits in any socket buffer at once; a message may not */
	while (done < len) {
		ssize_t n;

		if (!smtp_wait(fd, POLLOUT, deadline))
			return false;
		n = send(fd, text + done, len - done, MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0)
			return false;
		done += (size_t)n;
	}
	return true;
}

/* The reply code that starts line (RFC 5321 §4.2: three digits), or 0.
 * Never atoi: it skips blanks and CR LF, into the next line. */
static int
reply_code(const char *line)
{
	int i, code = 0;

	for (i = 0; i < 3; i++) {
		if (line[i] < '0' || line[i] > '9')
			return 0;
		code = code * 10 + (line[i] - '0');
	}
	return code;
}

bool
smtp_reply_complete(const char *text, int *code)
{
	const char *line = text, *nl;

	while ((nl = strstr(line, "\r\n")) != NULL) {
		size_t n = (size_t)(nl - line);

		/* RFC 5321 §4.2.1: "NNN-" goes on; the last line is "NNN"
		 * or "NNN text"; any other line is not SMTP, and the end */
		if (n < 4 || line[3] != '-' || reply_code(line) == 0) {
			*code = n == 3 || (n >= 4 && line[3] == ' ')
			    ? reply_code(line)
			    : 0;
			return true;
		}
		line = nl + 2;
	}
	return false;
}

int
smtp_read_reply(int fd, char *buf, size_t cap, int64_t deadline)
{
	size_t len = 0;
	int code;

	buf[0] = '\0';
	while (len + 1 < cap) {
		ssize_t n;

		if (!smtp_wait(fd, POLLIN, deadline))
			return SMTP_TIMED_OUT;
		n = recv(fd, buf + len, cap - 1 - len, 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0)
			return SMTP_CLOSED;
		len += (size_t)n;
		buf[len] = '\0';
		if (smtp_reply_complete(buf, &code))
			return code;
	}
	return SMTP_TOO_LONG;
}

void
smtp_reply_text(const char *reply, char *out, size_t len)
{
	const char *line, *end;
	size_t o = 0;

	if (len == 0)
		return;
	for (line = reply; *line != '\0' && o + 1 < len;
	     line = end + (*end == '\n')) {
		const char *stop, *c = line;

		end = line + strcspn(line, "\n");
		stop = end > line && end[-1] == '\r' ? end - 1 : end;
		if (line != reply) { /* "NNN-" or "NNN ": said once */
			c += stop - line >= 4 ? 4 : stop - line;
			if (c == stop)
				continue;
			out[o++] = ' ';
		}
		for (; c < stop && o + 1 < len; c++)
			out[o++] = *c >= 0x20 && *c < 0x7f ? *c : '?';
	}
	out[o] = '\0';
}
