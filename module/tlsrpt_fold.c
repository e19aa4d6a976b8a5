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
#include "lookup.h"
#include "policy.h"
#include "tlsrpt_fold.h"
#include "tlsrpt_spool.h"
#include "tlsrpt_store.h"

/* A domain's policy, looked up once per fold (in place: the fold is the
 * library's own, not a caller of mtasts.h). */
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
	ctx_lookups(f->ctx, &domain, 1, false, &k->lookup);
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
		lookup_result_clear(&f->known[k]->lookup);
		free(f->known[k]);
	}
	f->known_count = 0;
	json_object_clear(f->index);
}

/* The RFC 8460 §4.3 result of a session under an sts policy. */
static const char *
sts_result(const struct mtasts_policy *p, const struct spool_session *x)
{
	struct mtasts_mx_result mx;

	mtasts_validate_mx(p, x->mx_host, &mx);
	if (!mx.valid)
		return "validation-failure";
	if (!x->tls)
		return "starttls-not-supported";
	if (!x->verified)
		return x->cert_result[0] != '\0' ? x->cert_result
		                                 : "certificate-not-trusted";
	return NULL;
}

/*
 * The session under the policy its delivery applied (RFC 8460 §4: each
 * session under the policy it applied, not the one in force when the
 * report is made), text its lines: false when it is not counted that
 * way (the line does not say, or its text does not fit).
 */
static bool
classify_applied(const struct spool_session *x, char *text, size_t len,
    struct tlsrpt_session *out)
{
	struct mtasts_policy *p;
	bool ok;

	if (x->applied[0] == '\0' ||
	    (p = tlsrpt_applied_parse(x->applied)) == NULL)
		return false;
	ok = policy_text(p, text, len);
	out->mx_host = x->mx_host;
	out->receiving_ip = x->mx_ip;
	out->sending_ip = x->local_ip;
	out->sts = true;
	out->policy = text;
	out->result = sts_result(p, x);
	mtasts_policy_free(p);
	return ok;
}

/*
 * The session under the domain's policy as looked up now (RFC 8460
 * §4.3), for a line that does not say what its delivery applied: false
 * when it is not counted - an operator's override (not the domain's
 * policy) or no answer about the domain.
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
	if (k->sts)
		out->result = sts_result(r->policy, x);
	/* §4.3.2.2: a policy announced in DNS that could not be had */
	else if (r->policy == NULL && r->status == MTASTS_STATUS_ERRORED &&
	    mtasts_code_tlsrpt_result(r->error.code) != NULL)
		out->result = mtasts_code_tlsrpt_result(r->error.code);
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
	char **texts = calloc(f->count + 1, sizeof(*texts));
	size_t i, n = 0;
	mtasts_code rc = MTASTS_OK;

	if (xs == NULL || texts == NULL) {
		rc = mtasts_error_set(err, MTASTS_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < f->count; i++) {
		const struct spool_session *x = &f->lines[i];
		struct known *k;

		xs[n].domain = x->domain;
		/* what the delivery applied (a policy of at most
		 * TLSRPT_APPLIED_MAX bytes of patterns: its lines fit in
		 * twice that) */
		if (x->applied[0] != '\0') {
			if ((texts[i] = malloc(2 * TLSRPT_APPLIED_MAX)) ==
			    NULL) {
				rc = mtasts_error_set(
				    err, MTASTS_ERR_NOMEM, "out of memory");
				goto out;
			}
			if (classify_applied(
			        x, texts[i], 2 * TLSRPT_APPLIED_MAX, &xs[n]))
				n++;
			continue;
		}
		if ((k = known_of(f, x->domain)) == NULL) {
			rc = mtasts_error_set(
			    err, MTASTS_ERR_NOMEM, "out of memory");
			goto out;
		}
		if (classify(k, x, &xs[n]))
			n++;
	}
	rc = tlsrpt_store_fold(store, day, xs, n, offset, err);
out:
	for (i = 0; texts != NULL && i < f->count; i++)
		free(texts[i]);
	free(texts);
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
