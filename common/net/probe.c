/*
 * probe.c - an SMTP STARTTLS probe with OpenSSL.  It accepts any TLS
 * version and any certificate, so that it can say what is wrong instead
 * of just failing; the judging is done on what it records.
 */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "probe.h"
#include "smtp_client.h"

#define REPLY_MAX 65536

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
			if (!smtp_wait(fd, POLLIN, deadline))
				return false;
			break;
		case SSL_ERROR_WANT_WRITE:
			if (!smtp_wait(fd, POLLOUT, deadline))
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
	if ((fd = smtp_connect(address, port, connect_ms, &r->no_route,
	         r->error, sizeof(r->error))) < 0)
		return;
	r->connected = true;
	if ((code = smtp_read_reply(fd, reply, sizeof(reply), deadline)) !=
	    220) {
		snprintf(r->error, sizeof(r->error), "greeting: %s",
		    code >= 0 ? "not 220" : smtp_failure(code));
		close(fd);
		return;
	}
	if (!smtp_say(fd, "EHLO mtasts-check.invalid\r\n", deadline) ||
	    smtp_read_reply(fd, reply, sizeof(reply), deadline) != 250) {
		snprintf(r->error, sizeof(r->error), "EHLO refused");
		close(fd);
		return;
	}
	r->starttls = probe_offers_starttls(reply);
	if (r->starttls) {
		if (smtp_say(fd, "STARTTLS\r\n", deadline) &&
		    smtp_read_reply(fd, reply, sizeof(reply), deadline) == 220)
			handshake(fd, host, ca_file, ca_path, deadline, r);
		else
			snprintf(
			    r->error, sizeof(r->error), "STARTTLS refused");
	} else {
		smtp_say(fd, "QUIT\r\n", deadline);
	}
	close(fd);
}
