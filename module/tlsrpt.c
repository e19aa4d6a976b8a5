/*
 * tlsrpt.c - TLS sessions for RFC 8460 reports: a delivery appends what it
 * saw to the spool (common/tlsrpt_spool.c); mtasts tlsrpt folds the spool
 * into the store (common/tlsrpt_store.c), each session under its domain's
 * policy with its §4.3 result type.
 */
#include <jansson.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "clock.h"
#include "context.h"
#include "domain.h"
#include "error.h"
#include "tlsrpt_fold.h"
#include "tlsrpt_spool.h"
#include "tlsrpt_store.h"

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

/* A domain's policy, looked up once per fold. */
struct known {
	struct mtasts_lookup lookup;
	char text[8192]; /* the policy's lines */
	bool sts;
};

#define FOLD_BATCH 4096 /* sessions counted per transaction */

struct fold {
	struct mtasts_ctx *ctx;
	json_t *index; /* domain -> index in known */
	struct known **known; /* each apart: sessions point into them */
	size_t known_count;
	struct spool_session lines[FOLD_BATCH];
	size_t count;
};

static struct known *
known_of(struct fold *f, const char *domain)
{
	json_t *at = json_object_get(f->index, domain);
	struct known **grown, *k;

	if (at != NULL)
		return f->known[json_integer_value(at)];
	grown = realloc(f->known, (f->known_count + 1) * sizeof(*grown));
	if (grown == NULL)
		return NULL;
	f->known = grown;
	if ((k = calloc(1, sizeof(*k))) == NULL)
		return NULL;
	f->known[f->known_count] = k;
	mtasts_lookup(f->ctx, domain, &k->lookup);
	if (k->lookup.policy != NULL &&
	    k->lookup.policy->mode != MTASTS_MODE_NONE)
		k->sts = policy_text(k->lookup.policy, k->text, sizeof(k->text));
	json_object_set_new(
	    f->index, domain, json_integer((json_int_t)f->known_count++));
	return k;
}

/* The policies looked up for a batch, let go after it: a spool of many
 * domains holds no more than a batch's worth in memory. */
static void
forget_known(struct fold *f)
{
	size_t k;

	for (k = 0; k < f->known_count; k++) {
		mtasts_lookup_clear(&f->known[k]->lookup);
		free(f->known[k]);
	}
	f->known_count = 0;
	json_object_clear(f->index);
}

/*
 * The session under the domain's policy (RFC 8460 §4.3): false when it is
 * not counted - an operator's override (not the domain's policy) or no
 * answer about the domain.
 */
static bool
classify(const struct known *k, const struct spool_session *x,
    struct tlsrpt_session *out)
{
	const struct mtasts_lookup *r = &k->lookup;

	if (r->override != MTASTS_OVERRIDE_NONE ||
	    (r->undecided && r->policy == NULL))
		return false;
	out->mx_host = x->mx_host;
	out->receiving_ip = x->mx_ip;
	out->sending_ip = x->local_ip;
	out->result = NULL;
	out->sts = k->sts;
	out->policy = k->sts ? k->text : NULL;
	if (k->sts) {
		struct mtasts_mx_result mx;

		mtasts_validate_mx(r->policy, x->mx_host, &mx);
		if (!mx.valid)
			out->result = "validation-failure";
		else if (!x->tls)
			out->result = "starttls-not-supported";
		else if (!x->verified)
			out->result = x->cert_result[0] != '\0'
			    ? x->cert_result
			    : "certificate-not-trusted";
	} else if (r->policy == NULL && r->status == MTASTS_STATUS_ERRORED &&
	    policy_failure(r->error.code) != NULL)
		out->result = policy_failure(r->error.code);
	else if (!x->tls)
		out->result = "starttls-not-supported";
	return true;
}

static void
on_line(void *arg, const struct spool_session *x)
{
	struct fold *f = arg;

	f->lines[f->count++] = *x;
}

/* Counts f's lines of day in the store, up to offset. */
static mtasts_code
fold_batch(struct fold *f, struct tlsrpt_store *store, const char *day,
    uint64_t offset, struct mtasts_error *err)
{
	struct tlsrpt_session *xs = calloc(f->count + 1, sizeof(*xs));
	size_t i, n = 0;
	mtasts_code rc;

	if (xs == NULL)
		return mtasts_error_set(err, MTASTS_ERR_NOMEM, "out of memory");
	for (i = 0; i < f->count; i++) {
		struct known *k = known_of(f, f->lines[i].domain);

		if (k == NULL) {
			free(xs);
			return mtasts_error_set(
			    err, MTASTS_ERR_NOMEM, "out of memory");
		}
		xs[n].domain = f->lines[i].domain;
		if (classify(k, &f->lines[i], &xs[n]))
			n++;
	}
	rc = tlsrpt_store_fold(store, day, xs, n, offset, err);
	free(xs);
	forget_known(f);
	return rc;
}

mtasts_code
tlsrpt_fold(struct mtasts_ctx *ctx, struct tlsrpt_store *store,
    const char *today, struct mtasts_error *err)
{
	const struct mtasts_config *cfg = ctx_config(ctx);
	struct fold *f = calloc(1, sizeof(*f));
	char yesterday[TLSRPT_DAY_LEN + 1];
	mtasts_code rc = MTASTS_OK;
	json_t *days;
	size_t i;

	if (f == NULL)
		return mtasts_error_set(err, MTASTS_ERR_NOMEM, "out of memory");
	if ((days = tlsrpt_spool_days(cfg, err)) == NULL) {
		free(f);
		return err->code;
	}
	f->ctx = ctx;
	f->index = json_object();
	tlsrpt_day(tlsrpt_day_start(today) - 86400, yesterday);
	for (i = 0; rc == MTASTS_OK && i < json_array_size(days); i++) {
		const char *day = json_string_value(json_array_get(days, i));
		uint64_t offset;

		rc = tlsrpt_store_offset(store, day, &offset, err);
		do {
			f->count = 0;
			if (rc == MTASTS_OK)
				rc = tlsrpt_spool_read(cfg, day, &offset,
				    FOLD_BATCH, on_line, f, err);
			if (rc == MTASTS_OK && f->count > 0)
				rc = fold_batch(f, store, day, offset, err);
		} while (rc == MTASTS_OK && f->count == FOLD_BATCH);
		/* a day that ended before yesterday is in the store, and no
		 * delivery writes to it any more (each writes to its own
		 * day): its file can go */
		if (rc == MTASTS_OK && strcmp(day, yesterday) < 0)
			tlsrpt_spool_remove(cfg, day);
	}
	forget_known(f);
	free(f->known);
	json_decref(f->index);
	json_decref(days);
	free(f);
	return rc;
}
