/*
 * mtasts_exim.c - the Exim adapter, loaded by ${dlfunc}.  Each function
 * turns a decision of libmtasts (module/decide.c) into a string for Exim's
 * configuration (exim/exim.conf):
 *
 *   mtasts_mode    {domain}{config}  none | testing | enforce | defer
 *   mtasts_recheck {domain}{config}  the same, enforce and defer looked up
 *                                    again first (a deferral is coming)
 *   mtasts_ignore  {domain}{config}  a host list for ignore_target_hosts:
 *                                    every host the policy does not name
 *   mtasts_reason  {domain}{config}  one line for a :defer: message
 *   mtasts_testing_mx {domain}{config}
 *                                    a testing policy's mx patterns, for
 *                                    the report (router mtasts_testing)
 *   mtasts_report  {domain}{host}{tls_cipher}{verified}{config}{patterns}
 *                                    logs what enforce would have refused
 *   mtasts_tlsrpt  {domain}{host}{host_ip}{local_ip}{tls_cipher}
 *                  {verified}{certificate, base64 DER}{config}
 *                                    counts the session for TLS-RPT,
 *                                    under the policy the routers
 *                                    applied (see "applied" below)
 *
 * Exim treats a failed expansion of a host list as "no match", which could
 * let mail go in the clear: so no function here ever fails.  When anything
 * goes wrong the answer is the safe one (defer, ignore every host).
 */
#define DLFUNC_IMPL
#include <exim4/local_scan.h>

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mtasts.h"
#include "mx.h"

/* ignore_target_hosts that drops every address: the router declines and
 * the next router defers */
#define IGNORE_ALL "0.0.0.0/0 ; ::/0"

/* One context per process: every delivery is a fork of Exim, and a
 * context must be made in the process that uses it. */
static struct {
	pid_t pid;
	char config[1024];
	struct mtasts_config *cfg;
	struct mtasts_ctx *ctx;
	char logged[256]; /* the last domain whose decision was logged */
} state;

/*
 * TLS-RPT (RFC 8460 §4): a session is reported under the policy its
 * delivery applied.  The routers decide (as root, reading the cache);
 * the transport runs in a process forked from the one that ran them, as
 * Exim's user without the cache's group.  So the routers' decisions
 * leave here, per domain, the word of the policy they applied
 * (mtasts_tlsrpt_applied_of), and the transport's tcp:close event finds
 * it in the memory it inherited: no Exim variable, no change to the
 * configuration.  Bounded: the newest replaces the oldest.  A domain
 * decided otherwise since (none, defer, an override) is forgotten.  Not
 * reset when the context is made anew after fork: surviving the fork is
 * its purpose.
 */
#define APPLIED_SLOTS 16
static struct {
	char domain[254]; /* as the decision normalized it; "" = free */
	char raw[256]; /* $domain as the router had it ("" when longer) */
	char word[2048];
} applied[APPLIED_SLOTS];
static size_t applied_next;

/* ASCII case-insensitive, one trailing dot of b ignored. */
static bool
same_domain(const char *a, const char *b)
{
	size_t n = strlen(b);

	if (n > 0 && b[n - 1] == '.')
		n--;
	if (strlen(a) != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];

		if (x >= 'A' && x <= 'Z')
			x += 'a' - 'A';
		if (y >= 'A' && y <= 'Z')
			y += 'a' - 'A';
		if (x != y)
			return false;
	}
	return true;
}

/* The slot of domain (as a decision normalized it), or APPLIED_SLOTS. */
static size_t
applied_slot(const char *domain)
{
	size_t i;

	for (i = 0; i < APPLIED_SLOTS; i++)
		if (applied[i].domain[0] != '\0' &&
		    strcmp(applied[i].domain, domain) == 0)
			break;
	return i;
}

/* After a router's decision: keep the policy it applied for the
 * transport, or forget what an earlier decision kept for the domain. */
static void
applied_keep(
    struct mtasts_ctx *ctx, const char *raw, const struct mtasts_decision *d)
{
	char word[sizeof(applied[0].word)];
	size_t i;

	if (d->lookup->domain[0] == '\0')
		return; /* no domain: nothing was kept for it either */
	mtasts_tlsrpt_applied_of(ctx, d, word, sizeof(word));
	i = applied_slot(d->lookup->domain);
	if (word[0] == '\0') {
		if (i < APPLIED_SLOTS)
			applied[i].domain[0] = '\0';
		return;
	}
	if (i == APPLIED_SLOTS) {
		i = applied_next;
		applied_next = (applied_next + 1) % APPLIED_SLOTS;
		memcpy(applied[i].domain, d->lookup->domain,
		    strlen(d->lookup->domain) + 1);
	}
	memcpy(applied[i].word, word, strlen(word) + 1);
	if (strlen(raw) < sizeof(applied[i].raw))
		memcpy(applied[i].raw, raw, strlen(raw) + 1);
	else
		applied[i].raw[0] = '\0';
}

/* The word the routers left for the transport's $domain, or NULL. */
static const char *
applied_find(const char *domain)
{
	size_t i;

	for (i = 0; i < APPLIED_SLOTS; i++)
		if (applied[i].domain[0] != '\0' &&
		    (same_domain(applied[i].domain, domain) ||
		        (applied[i].raw[0] != '\0' &&
		            strcmp(applied[i].raw, domain) == 0)))
			return applied[i].word;
	return NULL;
}

static struct mtasts_ctx *
context(const char *config)
{
	struct mtasts_error err;

	if (config == NULL)
		config = mtasts_config_default_path();
	if (state.pid == getpid() && strcmp(state.config, config) == 0)
		return state.ctx;
	/* after fork the parent's context is left alone, not freed: its
	 * resolver thread does not exist in this process */
	state.ctx = NULL;
	state.cfg = NULL;
	state.pid = getpid();
	state.logged[0] = '\0';
	snprintf(state.config, sizeof(state.config), "%s", config);
	/* a file that cannot be read, the default one included, defers
	 * every domain: its overrides may be what protects one */
	if (mtasts_config_load(config, &state.cfg, &err) != MTASTS_OK ||
	    mtasts_ctx_new(state.cfg, &state.ctx, &err) != MTASTS_OK) {
		log_write(0, LOG_MAIN | LOG_PANIC,
		    "MTA-STS: every domain defers: %s", err.message);
		state.ctx = NULL;
	}
	return state.ctx;
}

static int
answer(uschar **yield, const char *s)
{
	*yield = string_copy((const uschar *)s);
	return OK;
}

/* The decision for argv[0] with the configuration at argv[argc - 1] (when
 * given); NULL when there is none (no context, no memory), which the
 * callers read as defer (verdict(), no_decision()).  keep: a router's
 * decision, whose policy the transport reports under (see applied
 * above).  The caller frees it. */
static struct mtasts_decision *
decide(int argc, uschar *argv[], int nargs, bool recheck, bool log, bool keep)
{
	const char *config = argc > nargs ? (const char *)argv[nargs]
	                                  : mtasts_config_default_path();
	struct mtasts_decision *d = NULL;
	struct mtasts_ctx *ctx;

	if (argc < 1 || (ctx = context(config)) == NULL)
		return NULL;
	mtasts_decide(ctx, (const char *)argv[0], recheck, &d);
	if (d == NULL) {
		log_write(0, LOG_MAIN | LOG_PANIC, "MTA-STS %s: defer: %s",
		    argv[0], mtasts_strerror(MTASTS_ERR_NOMEM));
		return NULL;
	}
	if (keep)
		applied_keep(ctx, (const char *)argv[0], d);
	/* one line per decision that asks something of the delivery, or
	 * whose cache failed (the fleet out of reach: said, not hidden) */
	if (log &&
	    (d->verdict != MTASTS_VERDICT_NONE ||
	        d->lookup->cache_error.code != MTASTS_OK) &&
	    strcmp(state.logged, d->lookup->domain) != 0) {
		log_write(0, LOG_MAIN, "MTA-STS %s", d->reason);
		snprintf(state.logged, sizeof(state.logged), "%s",
		    d->lookup->domain);
	}
	return d;
}

/* A decision's verdict; defer without one. */
static enum mtasts_verdict
verdict(const struct mtasts_decision *d)
{
	return d != NULL ? d->verdict : MTASTS_VERDICT_DEFER;
}

/* The reason of a decision decide() could not make: without a context,
 * or (with one) without the memory for it. */
static void
no_decision(char *out, size_t len, int argc, uschar *argv[])
{
	snprintf(out, len, "%s: defer: %s (see the main log)",
	    argc > 0 ? (const char *)argv[0] : "?",
	    state.ctx == NULL ? "mtasts is not configured"
	                      : "mtasts could not decide");
}

static int
mode(uschar **yield, int argc, uschar *argv[], bool recheck)
{
	struct mtasts_decision *d = decide(argc, argv, 1, recheck, true, true);

	answer(yield, mtasts_verdict_name(verdict(d)));
	mtasts_decision_free(d);
	return OK;
}

int mtasts_mode(uschar **yield, int argc, uschar *argv[]);
int mtasts_recheck(uschar **yield, int argc, uschar *argv[]);
int mtasts_ignore(uschar **yield, int argc, uschar *argv[]);
int mtasts_reason(uschar **yield, int argc, uschar *argv[]);
int mtasts_report(uschar **yield, int argc, uschar *argv[]);
int mtasts_testing_mx(uschar **yield, int argc, uschar *argv[]);
int mtasts_tlsrpt(uschar **yield, int argc, uschar *argv[]);

int
mtasts_mode(uschar **yield, int argc, uschar *argv[])
{
	return mode(yield, argc, argv, false);
}

int
mtasts_recheck(uschar **yield, int argc, uschar *argv[])
{
	return mode(yield, argc, argv, true);
}

/*
 * A host list that keeps the hosts the policy names and drops the rest:
 * "!^(?i)mx1\.example\.com\.?$ ; !^(?i)[^.*]+\.example\.net\.?$ ;
 * 0.0.0.0/0 ; ::/0".  Exim matches the names against the MX host names
 * (RFC 8461 §4.1, as mx_pattern_regex writes it: "*." is one label).
 */
int
mtasts_ignore(uschar **yield, int argc, uschar *argv[])
{
	struct mtasts_decision *d = decide(argc, argv, 1, false, true, true);
	const struct mtasts_policy *p;
	char list[16384];
	size_t i, o = 0;

	if (verdict(d) == MTASTS_VERDICT_DEFER) {
		mtasts_decision_free(d);
		return answer(yield, IGNORE_ALL);
	}
	if (d->verdict != MTASTS_VERDICT_ENFORCE || d->lookup->policy == NULL) {
		/* not (or no longer) enforce: the transport still demands
		 * verified TLS, so keeping every host is safe */
		mtasts_decision_free(d);
		return answer(yield, "");
	}
	p = d->lookup->policy;
	for (i = 0; i < p->mx_count; i++) {
		/* the library's rule (common/policy/mx.c), in Exim's terms */
		char re[600]; /* a name's 253 bytes, each dot escaped */
		size_t n = mx_pattern_regex(p->mx[i], re, sizeof(re));

		if (n == 0)
			continue; /* a pattern that names no host */
		if (n >= sizeof(re) || o + n + 48 >= sizeof(list)) {
			/* too many patterns to say: keep none, defer */
			mtasts_decision_free(d);
			return answer(yield, IGNORE_ALL);
		}
		o += (size_t)snprintf(
		    list + o, sizeof(list) - o, "!^(?i)%s$ ; ", re);
	}
	snprintf(list + o, sizeof(list) - o, IGNORE_ALL);
	mtasts_decision_free(d);
	return answer(yield, list);
}

int
mtasts_reason(uschar **yield, int argc, uschar *argv[])
{
	struct mtasts_decision *d = decide(argc, argv, 1, false, true, false);
	char line[1024], none[640];

	if (d == NULL) {
		no_decision(none, sizeof(none), argc, argv);
		snprintf(line, sizeof(line), "MTA-STS: %s", none);
	} else if (d->verdict == MTASTS_VERDICT_ENFORCE) {
		snprintf(line, sizeof(line),
		    "MTA-STS: no MX host of %s qualifies under its policy "
		    "(%s); retrying",
		    d->lookup->domain, d->reason);
	} else {
		snprintf(line, sizeof(line), "MTA-STS: %s", d->reason);
	}
	mtasts_decision_free(d);
	return answer(yield, line);
}

/*
 * The mx patterns of a testing policy, separated by spaces ("" for any
 * other verdict): the router hands them to the transport in
 * $address_data, because the transport runs as Exim's user without its
 * supplementary groups and may not be able to read the cache.
 */
int
mtasts_testing_mx(uschar **yield, int argc, uschar *argv[])
{
	struct mtasts_decision *d = decide(argc, argv, 1, false, false, true);
	char list[8192];
	size_t i, o = 0;

	list[0] = '\0';
	/* the verdict changed since the router's condition: a failed
	 * expansion of address_data defers the address, which the next
	 * routing then decides anew - never the unverified testing
	 * transport for an enforce domain */
	if (verdict(d) == MTASTS_VERDICT_ENFORCE ||
	    verdict(d) == MTASTS_VERDICT_DEFER) {
		*yield = string_copy((const uschar *)"MTA-STS: the verdict "
		                                       "changed while routing");
		mtasts_decision_free(d);
		return FAIL;
	}
	if (d->verdict == MTASTS_VERDICT_TESTING && d->lookup->policy != NULL)
		for (i = 0; i < d->lookup->policy->mx_count; i++) {
			const char *p = d->lookup->policy->mx[i];

			if (o + strlen(p) + 2 > sizeof(list)) {
				o = 0; /* too many to hand on: report afresh */
				break;
			}
			o += (size_t)snprintf(
			    list + o, sizeof(list) - o, "%s%s", o ? " " : "", p);
		}
	list[o] = '\0';
	mtasts_decision_free(d);
	return answer(yield, list);
}

/* A testing policy of the patterns mtasts_testing_mx handed on (the
 * parser checks them again: $address_data is only a string); NULL when
 * they do not make one. */
static struct mtasts_policy *
testing_policy(const char *patterns)
{
	static const char head[] = "version: STSv1\nmode: testing\n"
	                           "max_age: 86400\n";
	/* each pattern, at worst one byte and a space, becomes "mx: P\n" */
	size_t cap = sizeof(head) + strlen(patterns) * 3 + 8, o;
	struct mtasts_policy *p = NULL;
	const char *at = patterns;
	char *body = malloc(cap);

	if (body == NULL)
		return NULL;
	o = (size_t)snprintf(body, cap, "%s", head);
	while (*at != '\0' && o < cap) {
		size_t n = strcspn(at, " ");

		if (n > 0)
			o += (size_t)snprintf(
			    body + o, cap - o, "mx: %.*s\n", (int)n, at);
		at += n + (at[n] == ' ');
	}
	if (o < cap)
		mtasts_policy_parse(body, o, &p, NULL);
	free(body);
	return p;
}

/* Testing mode: logs, once per connection, what enforce would refuse. */
int
mtasts_report(uschar **yield, int argc, uschar *argv[])
{
	struct mtasts_decision *d = NULL;
	struct mtasts_policy *handed = NULL;
	const struct mtasts_policy *policy = NULL;
	const char *domain = argc > 0 ? (const char *)argv[0] : "";
	char violations[600];
	bool tls, verified;
	size_t broken;

	if (argc < 4)
		return answer(yield, "");
	/* the policy the router found, when it handed it on; else the
	 * decision again (the routing process logged it already) */
	if (argc > 5 && argv[5][0] != '\0')
		policy = handed = testing_policy((const char *)argv[5]);
	if (policy == NULL &&
	    (d = decide(argc, argv, 4, false, false, false)) != NULL &&
	    d->verdict == MTASTS_VERDICT_TESTING) {
		policy = d->lookup->policy;
		domain = d->lookup->domain;
	}
	tls = argv[2][0] != '\0';
	verified = strcmp((const char *)argv[3], "1") == 0;
	if (policy != NULL &&
	    mtasts_check_connection(policy, (const char *)argv[1], tls,
	        verified, &broken, violations,
	        sizeof(violations)) == MTASTS_OK &&
	    broken > 0)
		log_write(0, LOG_MAIN,
		    "MTA-STS testing: %s: MX %s: enforce would refuse: %s",
		    domain, argv[1], violations);
	mtasts_policy_free(handed);
	mtasts_decision_free(d);
	return answer(yield, "");
}

/* base64 (Exim's ${base64:$tls_out_peercert}) into out; its length, or 0
 * when it is not base64 of a size that fits. */
static size_t
unbase64(const char *in, unsigned char *out, size_t cap)
{
	size_t n = strlen(in), pad = 0;
	int len;

	if (n == 0 || n % 4 != 0 || n / 4 * 3 > cap)
		return 0;
	pad = (in[n - 1] == '=') + (n > 1 && in[n - 2] == '=');
	len = EVP_DecodeBlock(out, (const unsigned char *)in, (int)n);
	return len < (int)pad ? 0 : (size_t)len - pad;
}

/*
 * TLS-RPT: counts the session that just closed (event tcp:close of the
 * transports) for the daily reports, under the policy the routers of
 * this delivery applied to $domain when they left one here (applied
 * above); else under the one mtasts tlsrpt finds when it counts.
 * Answers "" whatever happens: a session left uncounted costs a report a
 * line, never a delivery; a store that cannot take it is said once per
 * process in the main log.
 */
int
mtasts_tlsrpt(uschar **yield, int argc, uschar *argv[])
{
	static pid_t said;
	static unsigned char cert[65536];
	struct mtasts_ctx *ctx;
	struct mtasts_error err;
	size_t cert_len;

	if (argc < 7)
		return answer(yield, "");
	ctx = context(argc > 7 ? (const char *)argv[7] : NULL);
	cert_len = unbase64((const char *)argv[6], cert, sizeof(cert));
	if (ctx != NULL &&
	    mtasts_tlsrpt_session_applied(ctx, (const char *)argv[0],
	        (const char *)argv[1], (const char *)argv[2],
	        (const char *)argv[3], argv[4][0] != '\0',
	        strcmp((const char *)argv[5], "1") == 0,
	        cert_len > 0 ? cert : NULL, cert_len,
	        applied_find((const char *)argv[0]), &err) != MTASTS_OK &&
	    said != getpid()) {
		said = getpid();
		log_write(0, LOG_MAIN, "MTA-STS TLS-RPT: session to %s not counted: %s",
		    argv[1], err.message);
	}
	return answer(yield, "");
}
