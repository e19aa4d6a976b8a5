/*
 * discover.c - policy discovery (RFC 8461 §3, §5) as a state machine per
 * domain, driven by one loop over libunbound and a curl multi handle:
 *
 *   TXT _mta-sts.<domain>  ->  A + AAAA mta-sts.<domain>  ->  HTTPS fetch
 *
 * Each step has its deadline; when a step fails, a known unexpired policy
 * stays in force (§5: an attacker who strips DNS or blocks HTTPS must not
 * downgrade the sender).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca.h"
#include "discover.h"
#include "dns.h"
#include "domain.h"
#include "error.h"
#include "fetch.h"

struct discoverer {
	const struct mtasts_config *cfg;
	struct dns *dns;
	const struct curl_api *curl; /* loaded at the first discovery */
	CURLM *multi;
	X509_STORE *ca; /* read at a fetch, for the next hour's fetches */
	int64_t ca_read; /* when (mono_ms) */
	int64_t now;
	size_t active;
	size_t done, total;
	void (*progress)(void *arg, size_t done, size_t total);
	void *progress_arg;
};

struct job {
	struct discoverer *d;
	char domain[MTASTS_DOMAIN_MAX + 1];
	const struct mtasts_policy *known;
	struct mtasts_lookup *out;
	int addr_pending; /* A and AAAA answers still to come */
	struct dns_answer *addr[2]; /* A, AAAA */
	struct fetch fetch;
	bool have_txt; /* the TXT record was found and parsed */
	bool fetching;
};

struct discoverer *
discoverer_new(const struct mtasts_config *cfg, struct mtasts_error *err)
{
	struct discoverer *d = calloc(1, sizeof(*d));

	if (d == NULL) {
		mtasts_error_set(err, MTASTS_ERR_NOMEM, "out of memory");
		return NULL;
	}
	d->cfg = cfg;
	if ((d->curl = curl_api(err)) == NULL) {
		free(d);
		return NULL;
	}
	if (d->curl->global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		free(d);
		mtasts_error_set(
		    err, MTASTS_ERR_INTERNAL, "could not initialise libcurl");
		return NULL;
	}
	if ((d->dns = dns_new(cfg, err)) == NULL) {
		discoverer_free(d);
		return NULL;
	}
	if ((d->multi = d->curl->multi_init()) == NULL) {
		discoverer_free(d);
		mtasts_error_set(
		    err, MTASTS_ERR_INTERNAL, "could not initialise libcurl");
		return NULL;
	}
	return d;
}

void
discoverer_free(struct discoverer *d)
{
	if (d == NULL)
		return;
	dns_free(d->dns);
	X509_STORE_free(d->ca);
	if (d->multi != NULL)
		d->curl->multi_cleanup(d->multi);
	d->curl->global_cleanup();
	free(d);
}

static void
job_done(struct job *j)
{
	if (j->fetching) {
		j->d->curl->multi_remove_handle(j->d->multi, j->fetch.easy);
		j->fetching = false;
	}
	fetch_cleanup(&j->fetch);
	dns_answer_free(j->addr[0]);
	dns_answer_free(j->addr[1]);
	j->addr[0] = j->addr[1] = NULL;
	j->d->active--;
	j->d->done++;
	if (j->d->progress != NULL)
		j->d->progress(j->d->progress_arg, j->d->done, j->d->total);
	free(j);
}

static bool
known_in_force(const struct job *j)
{
	return j->known != NULL && j->known->expires > j->d->now;
}

/* A policy for the result, in one allocation of its own. */
static void
result_take_policy(struct job *j, const struct mtasts_policy *p, int64_t expires)
{
	struct mtasts_policy *copy = mtasts_policy_dup(p);

	if (copy == NULL) {
		j->out->status = MTASTS_STATUS_ERRORED;
		mtasts_error_set(
		    &j->out->error, MTASTS_ERR_NOMEM, "out of memory");
		return;
	}
	copy->expires = expires;
	j->out->policy = copy;
}

/* The TXT records were there and were read: RFC 8461 §3.1 answers. */
static bool
is_txt_answer(mtasts_code code)
{
	return code == MTASTS_ERR_MULTI_STS_RECORDS ||
	    code == MTASTS_ERR_INVALID_STS_RECORD ||
	    code == MTASTS_ERR_INVALID_STS_ID;
}

/*
 * Discovery failed with err.  RFC 8461 §5: a known unexpired policy stays
 * in force (cached); otherwise the domain is treated as having no policy,
 * reported as not_found when DNS says so and errored when something broke.
 */
static void
fail(struct job *j, const struct mtasts_error *err)
{
	/* only the TXT step can say "this domain has no policy" */
	bool absent = !j->have_txt &&
	    (err->code == MTASTS_ERR_NO_STS_RECORD ||
	        err->code == MTASTS_ERR_DNS_NXDOMAIN ||
	        err->code == MTASTS_ERR_DNS_NODATA);

	/* no answer about the domain: a TXT query that went unanswered
	 * (only NXDOMAIN, NODATA or the records themselves answer it), a
	 * failure of this host, a name that is none */
	bool undecided = mtasts_error_is_local(err->code) ||
	    err->code == MTASTS_ERR_USAGE ||
	    (!j->have_txt && !absent && !is_txt_answer(err->code));

	j->out->error = *err;
	if (known_in_force(j)) {
		j->out->status = MTASTS_STATUS_CACHED;
		result_take_policy(j, j->known, j->known->expires);
	} else {
		j->out->undecided = undecided;
		j->out->status =
		    absent ? MTASTS_STATUS_NOT_FOUND : MTASTS_STATUS_ERRORED;
	}
	job_done(j);
}

static void
fail_answer(struct job *j, const struct dns_answer *a)
{
	struct mtasts_error err;

	if (a == NULL)
		mtasts_error_set(&err, MTASTS_ERR_NOMEM, "out of memory");
	else
		mtasts_error_set(&err, a->code, "%s", a->message);
	fail(j, &err);
}

#define ADDRS_PER_FAMILY 8

/*
 * The CA store, read again after an hour (a long-lived filter sees a
 * new CA bundle) or after it could not be read (a failure of this host,
 * which defers until mended).
 */
static X509_STORE *
ca_store(struct discoverer *d, struct mtasts_error *err)
{
	int64_t now = mono_ms();

	if (d->ca != NULL && now - d->ca_read < 3600 * 1000)
		return d->ca;
	X509_STORE_free(d->ca);
	d->ca = ca_store_load(d->cfg, err);
	d->ca_read = now;
	return d->ca;
}

static void
start_fetch(struct job *j)
{
	struct mtasts_error err;
	char *addrs[2 * ADDRS_PER_FAMILY];
	size_t n = 0, i, k;

	/* a few of each family: curl splits the connect deadline among the
	 * addresses it tries, so hundreds would leave each none */
	for (k = 0; k < 2; k++)
		for (i = 0; j->addr[k] != NULL && i < j->addr[k]->count &&
		     i < ADDRS_PER_FAMILY;
		     i++)
			addrs[n++] = j->addr[k]->data[i];
	if (n == 0) {
		/* report the A answer's reason, or AAAA's if A had none */
		const struct dns_answer *a = j->addr[0];

		if (a != NULL && a->code == MTASTS_ERR_DNS_NODATA &&
		    j->addr[1] != NULL)
			a = j->addr[1];
		fail_answer(j, a);
		return;
	}
	if (ca_store(j->d, &err) == NULL) {
		fail(j, &err);
		return;
	}
	if (fetch_init(&j->fetch, j->d->cfg, j->d->ca, j->domain, addrs, n,
	        &err) != 0) {
		fail(j, &err);
		return;
	}
	j->fetch.curl->easy_setopt(j->fetch.easy, CURLOPT_PRIVATE, j);
	if (j->d->curl->multi_add_handle(j->d->multi, j->fetch.easy) != CURLM_OK) {
		mtasts_error_set(&err, MTASTS_ERR_INTERNAL,
		    "could not start the HTTPS request");
		fail(j, &err);
		return;
	}
	j->fetching = true;
}

static void
on_addr(struct job *j, int which, struct dns_answer *a)
{
	j->addr[which] = a;
	if (--j->addr_pending == 0)
		start_fetch(j);
}

static void
on_a(void *arg, struct dns_answer *a)
{
	on_addr(arg, 0, a);
}

static void
on_aaaa(void *arg, struct dns_answer *a)
{
	on_addr(arg, 1, a);
}

static void
on_txt(void *arg, struct dns_answer *a)
{
	struct job *j = arg;
	struct mtasts_error err;
	char host[MTASTS_DOMAIN_MAX + 16];
	int64_t deadline;

	if (a == NULL || a->code != MTASTS_OK) {
		if (a != NULL)
			j->out->dnssec = a->dnssec;
		fail_answer(j, a);
		dns_answer_free(a);
		return;
	}
	j->out->dnssec = a->dnssec;
	/* RFC 8461 §3.1: exactly one STSv1 record, well-formed */
	if (mtasts_txt_parse((const char *const *)a->data, a->len, a->count,
	        j->out->id, &err) != MTASTS_OK) {
		dns_answer_free(a);
		fail(j, &err);
		return;
	}
	dns_answer_free(a);
	j->have_txt = true;
	/* RFC 8461 §5.1: an unchanged id means the known policy is current */
	if (j->known != NULL && strcmp(j->known->id, j->out->id) == 0) {
		j->out->status = MTASTS_STATUS_RENEWED;
		result_take_policy(j, j->known, j->d->now + j->known->max_age);
		job_done(j);
		return;
	}
	snprintf(host, sizeof(host), "mta-sts.%s", j->domain);
	deadline = mono_ms() + j->d->cfg->dns_timeout_ms;
	j->addr_pending = 2;
	/* each start calls back at once on failure: count both first */
	dns_start(j->d->dns, host, DNS_TYPE_A, deadline, on_a, j);
	dns_start(j->d->dns, host, DNS_TYPE_AAAA, deadline, on_aaaa, j);
}

static void
on_fetched(struct job *j, CURLcode rc)
{
	struct mtasts_policy *policy;
	struct mtasts_error err;

	if (fetch_finish(&j->fetch, rc, &policy, &err) != MTASTS_OK) {
		fail(j, &err);
		return;
	}
	/* the policy is in force for max_age from now (RFC 8461 §3.2) */
	snprintf(policy->id, sizeof(policy->id), "%s", j->out->id);
	policy->expires = j->d->now + policy->max_age;
	j->out->policy = policy;
	j->out->status = MTASTS_STATUS_FOUND;
	job_done(j);
}

static void
start_job(struct discoverer *d, const char *domain,
    const struct mtasts_policy *known, struct mtasts_lookup *out)
{
	struct job *j = calloc(1, sizeof(*j));
	struct mtasts_error err;
	char name[MTASTS_DOMAIN_MAX + 16];
	char q[80];

	memset(out, 0, sizeof(*out));
	snprintf(out->domain, sizeof(out->domain), "%s", domain);
	if (j == NULL) {
		out->status = MTASTS_STATUS_ERRORED;
		mtasts_error_set(
		    &out->error, MTASTS_ERR_NOMEM, "out of memory");
		return;
	}
	d->active++;
	j->d = d;
	j->known = known;
	j->out = out;
	if (domain_normalize(domain, j->domain) != 0) {
		/* said back as printable ASCII: it may be any bytes */
		mtasts_quote(q, sizeof(q), domain, strlen(domain));
		snprintf(out->domain, sizeof(out->domain), "%s", q);
		mtasts_error_set(
		    &err, MTASTS_ERR_USAGE, "\"%s\" is not a domain name", q);
		fail(j, &err);
		return;
	}
	snprintf(out->domain, sizeof(out->domain), "%s", j->domain);
	snprintf(name, sizeof(name), "_mta-sts.%s", j->domain);
	dns_start(d->dns, name, DNS_TYPE_TXT,
	    mono_ms() + d->cfg->dns_timeout_ms, on_txt, j);
}

/* Waits for the resolver or curl, at most until the next deadline. */
static void
wait_for_events(struct discoverer *d)
{
	struct curl_waitfd extra = {
	    .fd = dns_fd(d->dns), .events = CURL_WAIT_POLLIN};
	int64_t next = dns_next_deadline(d->dns);
	long curl_ms = -1;
	int timeout = 1000;

	d->curl->multi_timeout(d->multi, &curl_ms);
	if (curl_ms >= 0 && curl_ms < timeout)
		timeout = (int)curl_ms;
	if (next >= 0) {
		int64_t left = next - mono_ms();

		if (left < timeout)
			timeout = left > 0 ? (int)left : 0;
	}
	d->curl->multi_poll(d->multi, extra.fd >= 0 ? &extra : NULL,
	    extra.fd >= 0 ? 1 : 0, timeout, NULL);
}

static void
drive_curl(struct discoverer *d)
{
	struct CURLMsg *msg;
	int running, left;

	d->curl->multi_perform(d->multi, &running);
	while ((msg = d->curl->multi_info_read(d->multi, &left)) != NULL) {
		char *job = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		d->curl->easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &job);
		on_fetched((struct job *)job, msg->data.result);
	}
}

void
discoverer_set_progress(struct discoverer *d,
    void (*fn)(void *arg, size_t done, size_t total), void *arg)
{
	d->progress = fn;
	d->progress_arg = arg;
}

void
discover_run(struct discoverer *d, const char *const *domains, size_t count,
    const struct mtasts_policy *const *known, struct mtasts_lookup *results,
    int64_t now)
{
	size_t next = 0;

	d->now = now;
	d->active = 0;
	d->done = 0;
	d->total = count;
	while (next < count || d->active > 0) {
		while (next < count && d->active < d->cfg->concurrency) {
			start_job(d, domains[next],
			    known != NULL ? known[next] : NULL, &results[next]);
			next++;
		}
		if (d->active == 0)
			continue;
		wait_for_events(d);
		dns_process(d->dns, mono_ms());
		drive_curl(d);
	}
}
