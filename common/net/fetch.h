/*
 * fetch.h - the HTTPS policy fetch of RFC 8461 §3.3 on one libcurl easy
 * handle (internal to libmtasts).  The caller drives the transfer (a multi
 * handle), then asks fetch_finish() what came of it.
 */
#ifndef MTASTS_FETCH_H
#define MTASTS_FETCH_H

#include <openssl/x509.h>
#include <stdbool.h>

#include "config.h"
#include "curl_load.h"
#include "domain.h"
#include "mtasts_core.h"

struct fetch {
	const struct curl_api *curl; /* libcurl, loaded (curl_load.h) */
	CURL *easy;
	char url[MTASTS_DOMAIN_MAX + 64];
	char *body;
	size_t len;
	bool too_large;
	struct curl_slist *resolve;
	struct curl_slist *connect_to;
	char errbuf[CURL_ERROR_SIZE];
	X509_STORE *ca; /* a reference of its own */
	bool via_proxy; /* the configured proxy carries the transfer */
	bool nomem; /* the body could not be kept: this host's failure */
};

/*
 * Prepares f to fetch the policy of domain from the given addresses
 * (text, as DNS gave them), the certificate verified against ca (see
 * ca.h; f takes a reference).  Returns 0, or -1 with err set.
 */
int fetch_init(struct fetch *f, const struct mtasts_config *cfg,
    X509_STORE *ca, const char *domain, char *const *addrs, size_t naddrs,
    struct mtasts_error *err);

/*
 * After the transfer ended with rc: the policy (new, caller frees) or the
 * error, with the codes of DESIGN.md (http_status_<n>, http_redirect,
 * http_content_type, http_error, tls_error, timeout, policy_too_large, or
 * a policy parse error).
 */
mtasts_code fetch_finish(struct fetch *f, CURLcode rc,
    struct mtasts_policy **out, struct mtasts_error *err);

/*
 * The whole fetch at once, blocking (for mtasts check): the CA store read,
 * fetch_init, the transfer, fetch_finish.  Without user_agent no User-Agent is sent, as
 * some large senders fetch.  The body stays in f until fetch_cleanup().
 */
mtasts_code fetch_now(struct fetch *f, const struct mtasts_config *cfg,
    const char *domain, char *const *addrs, size_t naddrs, bool user_agent,
    struct mtasts_policy **out, struct mtasts_error *err);

void fetch_cleanup(struct fetch *f);

/* For CURLOPT_SSL_CTX_FUNCTION, with an X509_STORE as CURLOPT_SSL_CTX_DATA:
 * every handshake verifies against that store (shared, counted by
 * OpenSSL), not curl's defaults. */
CURLcode fetch_use_store(CURL *easy, void *ssl_ctx, void *store);

/* The options of every HTTPS transfer of mtasts on e: https only, no
 * redirect, TLS 1.2 or newer verified against ca (PKIX and the host
 * name), the configured proxy or none, the connect timeout. */
CURLcode fetch_set_https(const struct curl_api *curl, CURL *e,
    const struct mtasts_config *cfg, X509_STORE *ca);

#endif
