/*
 * tlsrpt.c - what one TLS session of a delivery says for RFC 8460
 * reports: the policy it ran under, as the cache holds it, and its
 * result type (§4.3), counted in the store (common/tlsrpt_store.c).
 */
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

#include "cache.h"
#include "clock.h"
#include "context.h"
#include "domain.h"
#include "error.h"
#include "tlsrpt_store.h"

/* Why a certificate the MTA did not accept failed: §4.3.1's types. */
static const char *
certificate_failure(
    const char *host, const unsigned char *cert, size_t cert_len)
{
	const unsigned char *p = cert;
	const char *result = "certificate-not-trusted";
	X509 *x;

	if (cert == NULL || cert_len == 0 ||
	    (x = d2i_X509(NULL, &p, (long)cert_len)) == NULL)
		return result;
	if (X509_check_host(x, host, strlen(host), 0, NULL) != 1)
		result = "certificate-host-mismatch";
	else if (X509_cmp_current_time(X509_get0_notAfter(x)) < 0 ||
	    X509_cmp_current_time(X509_get0_notBefore(x)) > 0)
		result = "certificate-expired";
	X509_free(x);
	return result;
}

/* §4.3.2.2: a policy announced in DNS that could not be had. */
static const char *
policy_failure(mtasts_code code)
{
	switch (code) {
	case MTASTS_ERR_INVALID_STS_POLICY:
	case MTASTS_ERR_INVALID_STS_VERSION:
	case MTASTS_ERR_INVALID_STS_MODE:
	case MTASTS_ERR_INVALID_STS_MAX_AGE:
	case MTASTS_ERR_INVALID_STS_MX:
	case MTASTS_ERR_POLICY_TOO_LARGE:
	case MTASTS_ERR_HTTP_CONTENT_TYPE:
		return "sts-policy-invalid";
	case MTASTS_ERR_TLS:
	case MTASTS_ERR_TLS_CERT_TIME:
		return "sts-webpki-invalid";
	case MTASTS_ERR_HTTP_STATUS:
	case MTASTS_ERR_HTTP_REDIRECT:
	case MTASTS_ERR_HTTP:
	case MTASTS_ERR_HTTP_CONNECT:
	case MTASTS_ERR_HTTP_CUT:
	case MTASTS_ERR_TIMEOUT:
	case MTASTS_ERR_DNS:
	case MTASTS_ERR_DNS_NXDOMAIN:
	case MTASTS_ERR_DNS_NODATA:
		return "sts-policy-fetch-error";
	default:
		return NULL;
	}
}

/* The policy as text (§4.4 policy-string: its lines); false when it
 * does not fit. */
static bool
policy_text(const struct mtasts_policy *p, char *out, size_t len)
{
	size_t o, i;

	o = (size_t)snprintf(out, len, "version: STSv1\nmode: %s\n",
	    mtasts_mode_name(p->mode));
	for (i = 0; i < p->mx_count && o < len; i++)
		o += (size_t)snprintf(out + o, len - o, "mx: %s\n", p->mx[i]);
	if (o < len)
		o += (size_t)snprintf(
		    out + o, len - o, "max_age: %u", (unsigned)p->max_age);
	return o < len;
}

mtasts_code
mtasts_tlsrpt_session(struct mtasts_ctx *ctx, const char *domain,
    const char *host, const char *ip, const char *local_ip, bool tls,
    bool verified, const unsigned char *cert, size_t cert_len,
    struct mtasts_error *err)
{
	const struct mtasts_config *cfg;
	char name[MTASTS_DOMAIN_MAX + 1], day[TLSRPT_DAY_LEN + 1];
	char text[8192];
	struct tlsrpt_session x = {0};
	struct tlsrpt_store *store;
	struct cache_entry e;
	struct cache *cache;
	mtasts_code rc;

	if (ctx == NULL || domain == NULL || host == NULL)
		return mtasts_error_set(
		    err, MTASTS_ERR_USAGE, "a session needs a domain and a host");
	cfg = ctx_config(ctx);
	if (!cfg->tlsrpt)
		return MTASTS_OK;
	if (domain_normalize(domain, name) != 0)
		return mtasts_error_set(err, MTASTS_ERR_USAGE,
		    "TLS-RPT: \"%s\" is not a domain", domain);
	/* the operator's word is not the domain's policy */
	if (config_override(cfg, name) != NULL)
		return MTASTS_OK;
	if ((cache = ctx_cache(ctx, err)) == NULL)
		return MTASTS_ERR_CACHE;
	if ((rc = cache_get(cache, name, &e, err)) != MTASTS_OK)
		return rc == MTASTS_ERR_NOT_CACHED ? MTASTS_OK : rc;
	x.domain = name;
	x.mx_host = host;
	x.receiving_ip = ip;
	x.sending_ip = local_ip;
	if (e.policy != NULL && e.policy->mode != MTASTS_MODE_NONE) {
		struct mtasts_mx_result mx;

		x.sts = policy_text(e.policy, text, sizeof(text));
		x.policy = text;
		mtasts_validate_mx(e.policy, host, &mx);
		if (!mx.valid)
			x.result = "validation-failure";
		else if (!tls)
			x.result = "starttls-not-supported";
		else if (!verified)
			x.result = certificate_failure(host, cert, cert_len);
	} else if (e.policy == NULL && e.status == MTASTS_STATUS_ERRORED &&
	    policy_failure(e.error.code) != NULL)
		x.result = policy_failure(e.error.code);
	else if (!tls)
		x.result = "starttls-not-supported";
	cache_entry_clear(&e);
	if ((store = ctx_tlsrpt(ctx, err)) == NULL)
		return MTASTS_ERR_CACHE;
	tlsrpt_day(wall_now(), day);
	return tlsrpt_store_add(store, day, &x, err);
}
