/*
 * redis_tls.c - rediss://: TLS between a node and the fleet's Redis.
 * The SSL object is made here, not by hiredis' redisCreateSSLContext:
 * hiredis 1.2 sends the host's name (SNI) but never checks it against the
 * certificate, so any certificate of any host the CA signed would pass.
 * Here the certificate must chain to fleet_ca_file (or the system's
 * bundle) and name the host of the URL (SSL_set1_host, or its address),
 * and the handshake is finished here, on the non-blocking socket, under
 * the step's deadline: left to hiredis, it would happen within the first
 * command's reads and writes, its failure said as the command's.
 * redisInitiateSSL hands the session to hiredis, whose reads and writes
 * (redis_io.c) then go through it.  Debian 12's hiredis 0.14
 * has no TLS: config.c refuses rediss:// there, and this refuses too.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "redis.h"
#include "redis_soname.h"

#ifdef MTASTS_HIREDIS_SSL
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/* Debian's bundle of the system's CAs (ca-certificates) */
#define SYSTEM_CA_FILE "/etc/ssl/certs/ca-certificates.crt"

static const char *
ca_file(const struct mtasts_config *cfg)
{
	return cfg->fleet_ca_file != NULL ? cfg->fleet_ca_file
	                                  : SYSTEM_CA_FILE;
}

/* The context of one connection: the CAs read anew at each connection,
 * which the link makes once per process and after a failure only. */
static SSL_CTX *
tls_context(const struct mtasts_config *cfg, char *why, size_t len)
{
	const char *ca = ca_file(cfg);
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL) {
		snprintf(why, len, "out of memory");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* a certificate that fails ends the handshake: no command is sent */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	errno = 0;
	if (SSL_CTX_load_verify_file(ctx, ca) != 1) {
		snprintf(why, len, "%s %s cannot be read or holds no "
		    "certificate (%s)",
		    cfg->fleet_ca_file != NULL ? "fleet_ca_file"
		                               : "the system's CA bundle",
		    ca, errno != 0 ? strerror(errno) : "no PEM certificate");
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/* The session's peer must be host: its address when it is one, else its
 * name (also sent as SNI). */
static int
expect_peer(SSL *ssl, const char *host)
{
	unsigned char addr[sizeof(struct in6_addr)];

	if (inet_pton(AF_INET, host, addr) == 1 ||
	    inet_pton(AF_INET6, host, addr) == 1)
		return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host)
		    ? 0
		    : -1;
	SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	return SSL_set_tlsext_host_name(ssl, host) == 1 &&
	        SSL_set1_host(ssl, host) == 1
	    ? 0
	    : -1;
}

/* Why the handshake failed (its last SSL_get_error() in e). */
static void
handshake_error(const struct mtasts_config *cfg, SSL *ssl, int e, char *why,
    size_t len)
{
	long verify = SSL_get_verify_result(ssl);
	const char *reason = ERR_reason_error_string(ERR_peek_last_error());

	if (verify != X509_V_OK)
		snprintf(why, len,
		    "TLS: the server's certificate is refused: %s (CAs of %s)",
		    X509_verify_cert_error_string(verify), ca_file(cfg));
	else if (e == SSL_ERROR_SSL && reason != NULL)
		snprintf(why, len, "TLS handshake failed: %s (is it Redis' "
		    "TLS port?)", reason);
	else
		snprintf(why, len, "TLS handshake failed: %s",
		    errno != 0 ? strerror(errno)
		               : "the server closed the connection");
}

/* SSL_connect on the non-blocking socket until done or deadline. */
static int
handshake(const struct mtasts_config *cfg, SSL *ssl, int fd, long timeout_ms,
    char *why, size_t len)
{
	int64_t deadline = mono_ms() + timeout_ms;
	int rc, e, waited;

	for (;;) {
		ERR_clear_error();
		errno = 0;
		if ((rc = SSL_connect(ssl)) == 1)
			return 0;
		e = SSL_get_error(ssl, rc);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
			handshake_error(cfg, ssl, e, why, len);
			break;
		}
		waited = redis_io_wait(fd,
		    e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline);
		if (waited <= 0) {
			if (waited == 0)
				snprintf(why, len,
				    "no TLS handshake within %ld ms",
				    timeout_ms);
			else
				snprintf(why, len, "poll: %s", strerror(errno));
			break;
		}
	}
	ERR_clear_error();
	return -1;
}

int
redis_tls_start(struct redis_store *s, const char *host, long timeout_ms,
    char *why, size_t whylen)
{
	struct mtasts_error err;
	hiredis_initiate_ssl initiate = hiredis_ssl_api(&err);
	SSL_CTX *ctx;
	SSL *ssl = NULL;

	if (initiate == NULL) {
		snprintf(why, whylen, "%s", err.message);
		return -1;
	}
	if ((ctx = tls_context(s->cfg, why, whylen)) == NULL)
		return -1;
	ssl = SSL_new(ctx);
	SSL_CTX_free(ctx); /* the session holds its own reference */
	if (ssl == NULL || SSL_set_fd(ssl, s->ctx->fd) != 1 ||
	    expect_peer(ssl, host) != 0) {
		snprintf(why, whylen, "TLS: cannot set up the session");
		SSL_free(ssl);
		ERR_clear_error();
		return -1;
	}
	/* hiredis starts the handshake (it restarts one done before: its
	 * SSL_set_connect_state) and, the socket being non-blocking, leaves
	 * it under way; a refusal this early is said as the handshake's */
	ERR_clear_error();
	errno = 0;
	if (initiate(s->ctx, ssl) != REDIS_OK) {
		handshake_error(s->cfg, ssl,
		    ERR_peek_last_error() != 0 ? SSL_ERROR_SSL
		                               : SSL_ERROR_SYSCALL,
		    why, whylen);
		SSL_free(ssl);
		ERR_clear_error();
		return -1;
	}
	/* the session is the connection's now, freed with it */
	return handshake(s->cfg, ssl, s->ctx->fd, timeout_ms, why, whylen);
}

#else

int
redis_tls_start(struct redis_store *s, const char *host, long timeout_ms,
    char *why, size_t whylen)
{
	(void)s;
	(void)host;
	(void)timeout_ms;
	snprintf(why, whylen,
	    "rediss://: this build's hiredis has no TLS (Debian 12); use a "
	    "unix socket or a private network");
	return -1;
}

#endif
