/*
 * tlsrpt_fold.c - the TLS-RPT spool counted into the store, for mtasts
 * tlsrpt: each session under its domain's policy (the cache, or the
 * network on a miss), with its RFC 8460 §4.3 result type.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "context.h"
#include "error.h"
#include "tlsrpt_fold.h"
#include "tlsrpt_spool.h"
#include "tlsrpt_store.h"

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
	char yesterday[TLSRPT_DAY_LEN + 1], days[64][TLSRPT_DAY_LEN + 1];
	mtasts_code rc = MTASTS_OK;
	int i, n;

	if (f == NULL)
		return mtasts_error_set(err, MTASTS_ERR_NOMEM, "out of memory");
	if ((n = tlsrpt_spool_days(cfg, days, 64, err)) < 0) {
		free(f);
		return err->code;
	}
	f->ctx = ctx;
	f->index = json_object();
	tlsrpt_day(tlsrpt_day_start(today) - 86400, yesterday);
	for (i = 0; rc == MTASTS_OK && i < n; i++) {
		const char *day = days[i];
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
	free(f);
	return rc;
}
