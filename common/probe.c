/*
 * probe.c - an SMTP STARTTLS probe with OpenSSL.  It accepts any TLS
 * version and any certificate, so that it can say what is wrong instead
 * of just failing; the judging is done on what it records.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "probe.h"

#define REPLY_MAX 65536

/* Connects with a deadline; -1 on failure with r->error set. */
static int
connect_to(
    const char *address, int port, long timeout_ms, struct probe_result *r)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct pollfd pfd;
	int fd, err = 0;
	socklen_t errlen = sizeof(err);

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, address,
	        &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		ss.ss_family = AF_INET;
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
		sslen = sizeof(struct sockaddr_in);
	} else if (inet_pton(AF_INET6, address,
	               &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		ss.ss_family = AF_INET6;
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
		sslen = sizeof(struct sockaddr_in6);
	} else {
		snprintf(r->error, sizeof(r->error), "bad address %s", address);
		return -1;
	}
	fd =
	    socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 ||
	    (connect(fd, (struct sockaddr *)&ss, sslen) != 0 &&
	        errno != EINPROGRESS)) {
		/* this host has no way there: no fault of the server's */
		r->no_route = errno == ENETUNREACH || errno == EAFNOSUPPORT ||
		    errno == EADDRNOTAVAIL;
		snprintf(
		    r->error, sizeof(r->error), "connect: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	pfd = (struct pollfd){.fd = fd, .events = POLLOUT};
	if (poll(&pfd, 1, (int)timeout_ms) != 1 ||
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &errlen) != 0 ||
	    err != 0) {
		snprintf(r->error, sizeof(r->error), "connect: %s",
		    err != 0 ? strerror(err) : "timed out");
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Waits until fd is ready for events, at most until deadline (mono_ms):
 * every read and write of the probe goes through here, so a server that
 * answers a byte at a time still cannot hold it past the deadline.
 */
static bool
ready(int fd, short events, int64_t deadline)
{
	struct pollfd pfd = {.fd = fd, .events = events};
	int64_t left = deadline - mono_ms();

	return left > 0 && poll(&pfd, 1, (int)left) == 1;
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
probe_reply_complete(const char *text, int *code)
{
	const char *line = text, *nl;

	/* RFC 5321 §4.2.1: "NNN-" goes on, "NNN " is the last line */
	while ((nl = strstr(line, "\r\n")) != NULL) {
		if (nl - line >= 4 && line[3] == ' ') {
			*code = reply_code(line);
			return true;
		}
		line = nl + 2;
	}
	return false;
}

bool
probe_offers_starttls(const char *reply)
{
	const char *p;

	/* "250-STARTTLS" or "250 STARTTLS", in any case */
	for (p = reply; (p = strcasestr(p, "STARTTLS")) != NULL; p++)
		if (p >= reply + 4 && (p[-1] == '-' || p[-1] == ' ') &&
		    (p[8] == '\r' || p[8] == ' '))
			return true;
	return false;
}

/* Reads one SMTP reply (all its lines) into buf; its code, or -1. */
static int
read_reply(int fd, char *buf, size_t cap, int64_t deadline)
{
	size_t len = 0;
	int code;

	buf[0] = '\0';
	while (len + 1 < cap) {
		ssize_t n;

		if (!ready(fd, POLLIN, deadline))
			return -1;
		n = recv(fd, buf + len, cap - 1 - len, 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0)
			return -1;
		len += (size_t)n;
		buf[len] = '\0';
		if (probe_reply_complete(buf, &code))
			return code;
	}
	return -1;
}

static bool
say(int fd, const char *line, int64_t deadline)
{
	size_t n = strlen(line);

	/* a few bytes: they fit in any socket buffer at once */
	return ready(fd, POLLOUT, deadline) &&
	    send(fd, line, n, MSG_NOSIGNAL) == (ssize_t)n;
}

static void
asn1_time(const ASN1_TIME *t, char *out, size_t outlen)
{
	struct tm tm;

	if (ASN1_TIME_to_tm(t, &tm) == 1)
		strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm);
	else
		snprintf(out, outlen, "?");
}

static void
read_certificate(SSL *ssl, const char *host, struct probe_result *r)
{
	X509 *cert = SSL_get1_peer_certificate(ssl);
	GENERAL_NAMES *names;
	long verify;
	int i;

	if (cert == NULL) {
		snprintf(
		    r->verify_error, sizeof(r->verify_error), "no certificate");
		return;
	}
	X509_NAME_oneline(
	    X509_get_subject_name(cert), r->subject, sizeof(r->subject));
	X509_NAME_oneline(
	    X509_get_issuer_name(cert), r->issuer, sizeof(r->issuer));
	asn1_time(X509_get0_notAfter(cert), r->not_after, sizeof(r->not_after));
	r->expired = X509_cmp_current_time(X509_get0_notAfter(cert)) < 0;
	names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	for (i = 0; names != NULL && i < sk_GENERAL_NAME_num(names) &&
	     r->san_count < PROBE_MAX_SANS;
	     i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);

		if (g->type == GEN_DNS)
			snprintf(r->sans[r->san_count++], sizeof(r->sans[0]),
			    "%.*s", ASN1_STRING_length(g->d.dNSName),
			    (const char *)ASN1_STRING_get0_data(g->d.dNSName));
	}
	GENERAL_NAMES_free(names);
	/* RFC 8461 §4.2: valid for the MX host name (RFC 6125 rules) */
	r->name_ok = X509_check_host(cert, host, 0, 0, NULL) == 1;
	verify = SSL_get_verify_result(ssl);
	r->trusted = verify == X509_V_OK;
	if (!r->trusted)
		snprintf(r->verify_error, sizeof(r->verify_error), "%s",
		    X509_verify_cert_error_string(verify));
	X509_free(cert);
}

static SSL_CTX *
make_ctx(const char *ca_file, const char *ca_path)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL)
		return NULL;
	/* see every version and certificate: the report judges them */
	SSL_CTX_set_security_level(ctx, 0);
	SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	if (ca_file != NULL || ca_path != NULL)
		SSL_CTX_load_verify_locations(ctx, ca_file, ca_path);
	else
		SSL_CTX_set_default_verify_paths(ctx);
	return ctx;
}

/* SSL_connect on the non-blocking socket, within the deadline. */
static bool
tls_connect(SSL *ssl, int fd, int64_t deadline)
{
	int rc;

	/* SSL_get_error reads the thread's error queue: start it empty, so
	 * that no error left by someone else turns a WANT_READ into a fail */
	ERR_clear_error();
	while ((rc = SSL_connect(ssl)) != 1) {
		switch (SSL_get_error(ssl, rc)) {
		case SSL_ERROR_WANT_READ:
			if (!ready(fd, POLLIN, deadline))
				return false;
			break;
		case SSL_ERROR_WANT_WRITE:
			if (!ready(fd, POLLOUT, deadline))
				return false;
			break;
		default:
			return false;
		}
	}
	return true;
}

static void
handshake(int fd, const char *host, const char *ca_file, const char *ca_path,
    int64_t deadline, struct probe_result *r)
{
	SSL_CTX *ctx = make_ctx(ca_file, ca_path);
	SSL *ssl = ctx != NULL ? SSL_new(ctx) : NULL;

	if (ssl == NULL) {
		snprintf(r->error, sizeof(r->error), "OpenSSL setup failed");
		SSL_CTX_free(ctx);
		return;
	}
	SSL_set_fd(ssl, fd);
	SSL_set_tlsext_host_name(ssl, host); /* SNI */
	if (!tls_connect(ssl, fd, deadline)) {
		unsigned long e = ERR_get_error();

		snprintf(r->error, sizeof(r->error), "TLS handshake: %s",
		    e != 0                      ? ERR_reason_error_string(e)
		        : mono_ms() >= deadline ? "timed out"
		                                : "failed");
	} else {
		r->tls = true;
		snprintf(r->tls_version, sizeof(r->tls_version), "%s",
		    SSL_get_version(ssl));
		read_certificate(ssl, host, r);
		/* a goodbye without waiting: the socket is non-blocking */
		SSL_write(ssl, "QUIT\r\n", 6);
		SSL_shutdown(ssl);
		ERR_clear_error();
	}
	SSL_free(ssl);
	SSL_CTX_free(ctx);
}

void
probe_smtp(const char *host, const char *address, int port, long connect_ms,
    long total_ms, const char *ca_file, const char *ca_path,
    struct probe_result *r)
{
	static char reply[REPLY_MAX];
	int64_t deadline = mono_ms() + total_ms;
	int fd, code;

	memset(r, 0, sizeof(*r));
	if ((fd = connect_to(address, port, connect_ms, r)) < 0)
		return;
	r->connected = true;
	if ((code = read_reply(fd, reply, sizeof(reply), deadline)) != 220) {
		snprintf(r->error, sizeof(r->error), "greeting: %s",
		    code >= 0                   ? "not 220"
		        : mono_ms() >= deadline ? "timed out"
		                                : "none");
		close(fd);
		return;
	}
	if (!say(fd, "EHLO mtasts-check.invalid\r\n", deadline) ||
	    read_reply(fd, reply, sizeof(reply), deadline) != 250) {
		snprintf(r->error, sizeof(r->error), "EHLO refused");
		close(fd);
		return;
	}
	r->starttls = probe_offers_starttls(reply);
	if (r->starttls) {
		if (say(fd, "STARTTLS\r\n", deadline) &&
		    read_reply(fd, reply, sizeof(reply), deadline) == 220)
			handshake(fd, host, ca_file, ca_path, deadline, r);
		else
			snprintf(
			    r->error, sizeof(r->error), "STARTTLS refused");
	} else {
		say(fd, "QUIT\r\n", deadline);
	}
	close(fd);
}
