/*
 * tlsrpt_session.c - a TLS session of a delivery for RFC 8460 reports: what the
 * MTA saw, appended to the spool (common/tlsrpt/tlsrpt_spool.c).  Only what a
 * delivery needs: the counting is tlsrpt_fold.c's, in the command.
 */
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "context.h"
#include "domain.h"
#include "error.h"
#include "tlsrpt_day.h"
#include "tlsrpt_spool.h"

/*
 * Why a certificate the MTA did not accept failed (§4.3.1's types); NULL
 * when cert is not a certificate.
 */
static const char *
certificate_failure(
    const char *host, const unsigned char *cert, size_t cert_len)
{
	const unsigned char *p = cert;
	const char *result = "certificate-not-trusted";
	X509 *x;

	if (cert == NULL || cert_len == 0 ||
	    (x = d2i_X509(NULL, &p, (long)cert_len)) == NULL)
		return NULL;
	if (X509_check_host(x, host, strlen(host), 0, NULL) != 1)
		result = "certificate-host-mismatch";
	else if (X509_cmp_current_time(X509_get0_notAfter(x)) < 0 ||
	    X509_cmp_current_time(X509_get0_notBefore(x)) > 0)
		result = "certificate-expired";
	X509_free(x);
	return result;
}

mtasts_code
mtasts_tlsrpt_applied_of(struct mtasts_ctx *ctx,
    const struct mtasts_decision *d, char *out, size_t len)
{
	if (out == NULL || len == 0)
		return MTASTS_ERR_USAGE;
	out[0] = '\0';
	if (ctx == NULL || d == NULL)
		return MTASTS_ERR_USAGE;
	if (!ctx_config(ctx)->tlsrpt)
		return MTASTS_OK;
	/* the domain's own policy only: an operator's override is not
	 * reported (the fold says so from the domain's lookup) */
	if ((d->verdict == MTASTS_VERDICT_TESTING ||
	        d->verdict == MTASTS_VERDICT_ENFORCE) &&
	    d->lookup->policy != NULL &&
	    d->lookup->override == MTASTS_OVERRIDE_NONE &&
	    tlsrpt_applied_format(d->lookup->policy, out, len) != 0)
		out[0] = '\0'; /* too long to hand on: the fold's policy */
	return MTASTS_OK;
}

mtasts_code
mtasts_tlsrpt_session(struct mtasts_ctx *ctx, const char *domain,
    const char *host, const char *ip, const char *local_ip, bool tls,
    bool verified, const unsigned char *cert, size_t cert_len,
    struct mtasts_error *err)
{
	return mtasts_tlsrpt_session_applied(ctx, domain, host, ip, local_ip,
	    tls, verified, cert, cert_len, NULL, err);
}

mtasts_code
mtasts_tlsrpt_session_applied(struct mtasts_ctx *ctx, const char *domain,
    const char *host, const char *ip, const char *local_ip, bool tls,
    bool verified, const unsigned char *cert, size_t cert_len,
    const char *applied, struct mtasts_error *err)
{
	const struct mtasts_config *cfg;
	char day[TLSRPT_DAY_LEN + 1];
	struct spool_session x;

	if (ctx == NULL || domain == NULL || host == NULL)
		return mtasts_error_set(
		    err, MTASTS_ERR_USAGE, "a session needs a domain and a host");
	cfg = ctx_config(ctx);
	if (!cfg->tlsrpt)
		return MTASTS_OK;
	memset(&x, 0, sizeof(x));
	if (domain_normalize(domain, x.domain) != 0)
		return mtasts_error_set(err, MTASTS_ERR_USAGE,
		    "TLS-RPT: \"%s\" is not a domain", domain);
	snprintf(x.mx_host, sizeof(x.mx_host), "%s", host);
	snprintf(x.mx_ip, sizeof(x.mx_ip), "%s", ip != NULL ? ip : "");
	snprintf(x.local_ip, sizeof(x.local_ip), "%s",
	    local_ip != NULL ? local_ip : "");
	x.tls = tls;
	x.verified = verified;
	/* what the MTA handed on (an Exim variable: any string); one that
	 * is not a policy leaves the session to the fold's policy */
	if (applied != NULL && applied[0] != '\0') {
		struct mtasts_policy *p = tlsrpt_applied_parse(applied);

		if (p != NULL)
			snprintf(x.applied, sizeof(x.applied), "%s", applied);
		mtasts_policy_free(p);
	}
	/* the certificate is here and now, not in the spool; an MTA that
	 * gave up the handshake over it may report no cipher: the session
	 * got as far as TLS all the same */
	if (!verified) {
		const char *why = certificate_failure(host, cert, cert_len);

		if (why != NULL)
			x.tls = true;
		if (x.tls)
			snprintf(x.cert_result, sizeof(x.cert_result), "%s",
			    why != NULL ? why : "certificate-not-trusted");
	}
	tlsrpt_day(wall_now(), day);
	return tlsrpt_spool_add(cfg, day, &x, err);
}

