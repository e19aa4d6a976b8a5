/*
 * metrics.c - mtasts metrics: what an operator watches, in the Prometheus
 * text exposition format (version 0.0.4), for node-exporter's textfile
 * collector (mtasts-metrics.timer) or any scraper.
 *
 * Every figure is read from what is on disk - the cache, the TLS-RPT
 * store, the state the last refresh and report run left (run_state.h) -
 * nothing is counted in a delivery.  Every label takes its values from a
 * fixed set (modes, statuses, error codes, RFC 8460 §4.3 result types,
 * outcomes), so the number of series does not grow with the domains mail
 * goes to; --per-domain adds one series per cached domain, at the
 * operator's request.  A figure this host has no source for (a refresh
 * that never ran) is absent, not 0.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache.h"
#include "cli.h"
#include "clock.h"
#include "config.h"
#include "mtasts.h"
#include "run_state.h"
#include "tlsrpt_day.h"
#include "tlsrpt_spool.h"
#include "tlsrpt_store.h"

static const char usage_text[] =
    "usage: mtasts metrics [--config FILE] [--json] [--per-domain] "
    "[--output FILE]\n\n"
    "Prints what an operator watches in the Prometheus text format: the "
    "cached\npolicies by mode, the room the cache uses, the domains whose "
    "discovery failed\nby error code, the TLS sessions of the last UTC day "
    "by result type, the last\nrefresh and report run and their outcome.  "
    "--output writes FILE atomically\n(a new file beside it, renamed) for "
    "node-exporter's textfile collector;\n--json prints the same figures "
    "as one JSON object.  --per-domain adds a\nseries per cached domain "
    "(as many series as domains: mind your Prometheus).\nExit status: 0, "
    "1 when the cache could not be read (the rest is printed),\n2 usage "
    "or internal error.\n";

/* RFC 8460 §4.3 result types, the success the summary counts, a failure
 * counted without a detail row (tlsrpt_store.h "dropped"), and a result
 * the store holds that is none of these. */
static const char *const results[] = {"success", "starttls-not-supported",
    "certificate-host-mismatch", "certificate-expired",
    "certificate-not-trusted", "validation-failure", "tlsa-invalid",
    "dnssec-invalid", "dane-required", "sts-policy-fetch-error",
    "sts-policy-invalid", "sts-webpki-invalid", "unrecorded", "other"};
#define RESULTS (sizeof(results) / sizeof(results[0]))
#define RESULT_UNRECORDED (RESULTS - 2)
#define RESULT_OTHER (RESULTS - 1)

static const char *const outcomes[] = {"ok", "problem", "error"};

/* The metric families, in the order printed: [{"name", "help",
 * "samples": [{"labels": {...}, "value": N}]}], all gauges. */
struct out {
	json_t *families;
	bool per_domain;
};

static json_t *
family(struct out *o, const char *name, const char *help)
{
	json_t *samples = json_array();

	json_array_append_new(o->families,
	    json_pack("{s:s, s:s, s:s, s:o}", "name", name, "type", "gauge",
	        "help", help, "samples", samples));
	return samples;
}

/* A sample of value with labels given as name, value pairs, NULL
 * ended. */
static void
sample(json_t *samples, json_int_t value, ...)
{
	json_t *labels = json_object();
	const char *k, *v;
	va_list ap;

	va_start(ap, value);
	while ((k = va_arg(ap, const char *)) != NULL) {
		v = va_arg(ap, const char *);
		json_object_set_new(labels, k, json_string(v));
	}
	va_end(ap);
	json_array_append_new(
	    samples, json_pack("{s:o, s:I}", "labels", labels, "value", value));
}

/* What the walk of the cache counts. */
struct tally {
	struct cache *cache;
	int64_t now;
	json_int_t modes[3]; /* policies in force, by mtasts_mode */
	json_int_t status[5]; /* records, by mtasts_status */
	json_t *codes; /* failing domains by code: {"code": N} */
	json_int_t lost;
	json_t *expiry, *failing; /* --per-domain samples, or NULL */
};

/*
 * The label of a discovery error: the code's stable string, or
 * http_status_<n> for a three-digit status (curl reads no other).
 */
static const char *
code_label(const struct mtasts_error *e)
{
	if (e->code == MTASTS_ERR_HTTP_STATUS &&
	    strncmp(e->name, "http_status_", 12) == 0 &&
	    strspn(e->name + 12, "0123456789") == 3 && e->name[15] == '\0')
		return e->name;
	return mtasts_code_name(e->code);
}

/*
 * A discovery that failed: an error other than the answer that says the
 * domain publishes no policy (no TXT record, the common case).  A policy
 * host that refused or botched the fetch counts, also when it left the
 * domain without a policy (RFC 8461 §3.3).
 */
static bool
failed_discovery(const struct cache_entry *e)
{
	if (e->error.code == MTASTS_OK)
		return false;
	return !(e->status == MTASTS_STATUS_NOT_FOUND &&
	    (e->error.code == MTASTS_ERR_DNS_NXDOMAIN ||
	        e->error.code == MTASTS_ERR_DNS_NODATA ||
	        e->error.code == MTASTS_ERR_NO_STS_RECORD));
}

static int
count_entry(void *arg, const char *domain, const struct cache_entry *e)
{
	struct tally *t = arg;
	const char *code;

	if ((unsigned)e->status < 5)
		t->status[e->status]++;
	if (e->policy != NULL && e->policy->expires > t->now &&
	    (unsigned)e->policy->mode < 3) {
		t->modes[e->policy->mode]++;
		if (t->expiry != NULL)
			sample(t->expiry, (json_int_t)e->policy->expires,
			    "domain", domain, "mode",
			    mtasts_mode_name(e->policy->mode), NULL);
	}
	if (failed_discovery(e)) {
		code = code_label(&e->error);
		json_object_set_new(t->codes, code,
		    json_integer(
		        json_integer_value(json_object_get(t->codes, code)) +
		        1));
		if (t->failing != NULL)
			sample(t->failing, (json_int_t)e->failures, "domain",
			    domain, "code", code, NULL);
	}
	return 0;
}

/* The witness's enforce policies the cache lost (mtasts cache lost):
 * mail to those domains waits until the policy is found again. */
static int
count_lost(void *arg, const char *domain, int64_t until)
{
	struct tally *t = arg;

	if (until > t->now && !cli_cache_holds_policy(t->cache, domain, t->now))
		t->lost++;
	return 0;
}

/* The cache's figures; false when it cannot be read (then only
 * mtasts_cache_readable 0 is said of it). */
static bool
cache_metrics(struct out *o, const struct mtasts_config *cfg)
{
	static const char *const statuses[5] = {[MTASTS_STATUS_FOUND] = "found",
	    [MTASTS_STATUS_NOT_FOUND] = "not_found",
	    [MTASTS_STATUS_RENEWED] = "renewed",
	    [MTASTS_STATUS_CACHED] = "cached",
	    [MTASTS_STATUS_ERRORED] = "errored"};
	struct tally t = {.now = wall_now(), .codes = json_object()};
	struct mtasts_error err;
	json_t *s, *v;
	const char *k;
	uint64_t used = 0, size = 0;
	bool ok, room;
	int i;

	if (o->per_domain) {
		t.expiry = json_array();
		t.failing = json_array();
	}
	t.cache = cache_open(cfg, &err);
	ok = t.cache != NULL &&
	    cache_each(t.cache, count_entry, &t, &err) == MTASTS_OK &&
	    cache_witness_each(cfg, count_lost, &t, &err) == 0;
	if (!ok)
		fprintf(stderr, "mtasts metrics: %s\n", err.message);
	room = ok && cache_room(t.cache, &used, &size) == 0;
	cache_close(t.cache);
	sample(family(o, "mtasts_cache_readable",
	           "Whether mtasts metrics could read the policy cache (1) or "
	           "not (0)."),
	    ok, NULL);
	if (ok) {
		s = family(o, "mtasts_cache_policies",
		    "Policies in force in the cache (unexpired), by mode.");
		for (i = 2; i >= 0; i--)
			sample(s, t.modes[i], "mode",
			    mtasts_mode_name((enum mtasts_mode)i), NULL);
		s = family(o, "mtasts_cache_records",
		    "Domains the cache holds a record of, by the status of "
		    "their last discovery.");
		for (i = 0; i < 5; i++)
			sample(s, t.status[i], "status", statuses[i], NULL);
		s = family(o, "mtasts_discovery_failures",
		    "Cached domains whose last discovery failed, by error "
		    "code.");
		json_object_foreach(t.codes, k, v)
		    sample(s, json_integer_value(v), "code", k, NULL);
		sample(family(o, "mtasts_cache_lost_enforce_policies",
		           "Enforce policies the cache lost before they "
		           "expired: mail to those domains waits (mtasts cache "
		           "lost)."),
		    t.lost, NULL);
	}
	if (room) {
		sample(family(o, "mtasts_cache_map_bytes",
		           "Size of the cache's LMDB map (cache_size)."),
		    (json_int_t)size, NULL);
		sample(
		    family(o, "mtasts_cache_used_bytes",
		        "Bytes of the cache's map in use; past 90% of the "
		        "map only policies in force are stored, past 97% the "
		        "least used records are evicted."),
		    (json_int_t)used, NULL);
	}
	if (ok && o->per_domain) {
		json_array_append_new(o->families,
		    json_pack("{s:s, s:s, s:s, s:O}", "name",
		        "mtasts_domain_policy_expiry_timestamp_seconds", "type",
		        "gauge", "help",
		        "When each cached domain's policy expires "
		        "(--per-domain: "
		        "one series per domain).",
		        "samples", t.expiry));
		json_array_append_new(o->families,
		    json_pack("{s:s, s:s, s:s, s:O}", "name",
		        "mtasts_domain_discovery_failures", "type", "gauge",
		        "help",
		        "Discoveries failed in a row, per failing domain and "
		        "its last error code (--per-domain: one series per "
		        "domain).",
		        "samples", t.failing));
	}
	json_decref(t.expiry);
	json_decref(t.failing);
	json_decref(t.codes);
	return ok;
}

/* The result index of a detail row's result type. */
static size_t
result_index(const char *r)
{
	size_t i;

	for (i = 1; i < RESULT_UNRECORDED; i++)
		if (r != NULL && strcmp(r, results[i]) == 0)
			return i;
	return RESULT_OTHER;
}

/* The mode of a policy-string (RFC 8460 §4.4, "mode: X" one of its
 * lines): its mtasts_mode, none when it says none of them. */
static int
mode_of(const char *policy)
{
	const char *p = policy, *name;
	size_t len;
	int m;

	while (p != NULL && *p != '\0') {
		for (m = 0; m < 3 && strncmp(p, "mode: ", 6) == 0; m++) {
			name = mtasts_mode_name((enum mtasts_mode)m);
			len = strlen(name);
			if (strncmp(p + 6, name, len) == 0 &&
			    (p[6 + len] == '\n' || p[6 + len] == '\0'))
				return m;
		}
		if ((p = strchr(p, '\n')) != NULL)
			p++;
	}
	return MTASTS_MODE_NONE;
}

/* Adds one domain's policies of the day to sum[type][mode][result]. */
static void
add_day(json_int_t sum[2][3][RESULTS], json_t *list)
{
	json_t *p, *d;
	size_t i, k;
	int type, mode;

	json_array_foreach(list, i, p)
	{
		type = strcmp(json_string_value(json_object_get(p, "type")),
		           "sts") == 0;
		mode = type
		    ? mode_of(json_string_value(json_object_get(p, "policy")))
		    : MTASTS_MODE_NONE;
		sum[type][mode][0] +=
		    json_integer_value(json_object_get(p, "success"));
		sum[type][mode][RESULT_UNRECORDED] +=
		    json_integer_value(json_object_get(p, "dropped"));
		json_array_foreach(json_object_get(p, "details"), k, d)
		    sum[type][mode][result_index(
		        json_string_value(json_object_get(d, "result")))] +=
		    json_integer_value(json_object_get(d, "count"));
	}
}

/*
 * The TLS sessions of the last UTC day that has ended, as the store
 * counted them - the day the daily report covers.  The store is read,
 * never written: sessions still in the spool are counted when mtasts
 * tlsrpt send (or show) folds them.  Nothing when TLS-RPT is off or no
 * store was made yet.
 */
static void
tlsrpt_metrics(struct out *o, const struct mtasts_config *cfg)
{
	static const char *const types[2] = {"no-policy-found", "sts"};
	json_int_t sum[2][3][RESULTS] = {{{0}}};
	char dir[4096], path[4200], day[TLSRPT_DAY_LEN + 1];
	struct tlsrpt_store *store;
	struct mtasts_error err;
	struct stat st;
	json_t *domains, *list, *s;
	const char *domain;
	size_t r;
	int t, m;

	if (!cfg->tlsrpt || tlsrpt_dir_of(cfg, dir, sizeof(dir)) != 0)
		return;
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	if (stat(path, &st) != 0)
		return;
	tlsrpt_day(wall_now() - 86400, day);
	if ((store = tlsrpt_store_open(cfg, &err)) == NULL ||
	    (domains = tlsrpt_store_day(store, day, NULL, &err)) == NULL) {
		fprintf(stderr, "mtasts metrics: %s\n", err.message);
		tlsrpt_store_close(store);
		return;
	}
	tlsrpt_store_close(store);
	json_object_foreach(domains, domain, list) add_day(sum, list);
	json_decref(domains);
	s = family(o, "mtasts_tlsrpt_sessions",
	    "TLS sessions of deliveries on the last UTC day that has ended, "
	    "by policy type, mode and RFC 8460 result type (success, or the "
	    "failure's).");
	for (t = 1; t >= 0; t--)
		for (m = 2; m >= 0; m--)
			for (r = 0; r < RESULTS; r++)
				if (sum[t][m][r] != 0)
					sample(s, sum[t][m][r], "policy_type",
					    types[t], "mode",
					    mtasts_mode_name(
					        (enum mtasts_mode)m),
					    "result", results[r], NULL);
}

/* The outcome of a run from its exit status, as an enum: one series per
 * outcome, 1 for the one that happened. */
static void
outcome(json_t *samples, long long status)
{
	size_t i;

	for (i = 0; i < 3; i++)
		sample(samples, status == (long long)i, "outcome", outcomes[i],
		    NULL);
}

/* The state the last mtasts refresh left. */
static void
refresh_metrics(struct out *o, const struct mtasts_config *cfg)
{
	static const char *const statuses[] = {
	    "found", "renewed", "cached", "not_found", "errored"};
	struct run_state rs;
	char path[4200];
	long long v;
	json_t *s;
	size_t i;

	if (run_state_path(cfg, "refresh", path, sizeof(path)) != 0 ||
	    run_state_read(path, &rs) != 0 ||
	    !run_state_get(&rs, "finished", &v))
		return;
	sample(family(o, "mtasts_refresh_last_run_timestamp_seconds",
	           "When the last mtasts refresh ended."),
	    v, NULL);
	if (run_state_get(&rs, "exit", &v))
		outcome(family(o, "mtasts_refresh_last_outcome",
		            "Outcome of the last mtasts refresh: ok, problem "
		            "(a discovery errored), error (it could not run)."),
		    v);
	s = family(o, "mtasts_refresh_last_domains",
	    "Domains the last mtasts refresh looked up, by the status of the "
	    "lookup.");
	for (i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
		if (run_state_get(&rs, statuses[i], &v))
			sample(s, v, "status", statuses[i], NULL);
}

/* The state the last mtasts tlsrpt send left. */
static void
send_metrics(struct out *o, const struct mtasts_config *cfg)
{
	static const char *const names[] = TLSRPT_SEND_RESULTS;
	struct run_state rs;
	char path[4200];
	long long v;
	json_t *s;
	size_t i;

	if (!cfg->tlsrpt ||
	    run_state_path(cfg, "send", path, sizeof(path)) != 0 ||
	    run_state_read(path, &rs) != 0 ||
	    !run_state_get(&rs, "finished", &v))
		return;
	sample(family(o, "mtasts_tlsrpt_send_last_run_timestamp_seconds",
	           "When the last mtasts tlsrpt send ended."),
	    v, NULL);
	if (run_state_get(&rs, "exit", &v))
		outcome(
		    family(o, "mtasts_tlsrpt_send_last_outcome",
		        "Outcome of the last mtasts tlsrpt send: ok, problem "
		        "(a report to retry or refused), error."),
		    v);
	s = family(o, "mtasts_tlsrpt_send_last_reports",
	    "Reports (per policy domain and rua) of the last mtasts tlsrpt "
	    "send, by result.");
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (run_state_get(&rs, names[i], &v))
			sample(s, v, "result", names[i], NULL);
	if (run_state_get(&rs, "last_sent", &v))
		sample(family(o,
		           "mtasts_tlsrpt_last_report_sent_timestamp_seconds",
		           "When a TLS report was last delivered."),
		    v, NULL);
}

/* A label value or HELP text as the text format escapes it: backslash,
 * newline, and (in a label value) the double quote. */
static void
put_escaped(FILE *f, const char *s, bool quote)
{
	for (; *s != '\0'; s++)
		if (*s == '\\')
			fputs("\\\\", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else if (quote && *s == '"')
			fputs("\\\"", f);
		else
			fputc(*s, f);
}

static void
put_text(FILE *f, json_t *families)
{
	json_t *fam, *smp, *v;
	const char *name, *k;
	size_t i, j;
	bool first;

	json_array_foreach(families, i, fam)
	{
		/* a family without a sample says nothing: left out */
		if (json_array_size(json_object_get(fam, "samples")) == 0)
			continue;
		name = json_string_value(json_object_get(fam, "name"));
		fprintf(f, "# HELP %s ", name);
		put_escaped(
		    f, json_string_value(json_object_get(fam, "help")), false);
		fprintf(f, "\n# TYPE %s %s\n", name,
		    json_string_value(json_object_get(fam, "type")));
		json_array_foreach(json_object_get(fam, "samples"), j, smp)
		{
			fputs(name, f);
			first = true;
			json_object_foreach(
			    json_object_get(smp, "labels"), k, v)
			{
				fprintf(f, "%s%s=\"", first ? "{" : ",", k);
				put_escaped(f, json_string_value(v), true);
				fputc('"', f);
				first = false;
			}
			fprintf(f, "%s %" JSON_INTEGER_FORMAT "\n",
			    first ? "" : "}",
			    json_integer_value(json_object_get(smp, "value")));
		}
	}
}

static void
put_families(FILE *f, const void *families)
{
	put_text(f, (json_t *)families);
}

/* Writes the text into path (file_replace: the textfile collector reads
 * the old figures or the new ones; the new file's name does not end in
 * .prom, so the collector passes over it meanwhile). */
static int
write_output(const char *path, json_t *families)
{
	return file_replace(path, put_families, families);
}

int
cmd_metrics(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"per-domain", no_argument, NULL, 'p'},
	    {"output", required_argument, NULL, 'o'}, CLI_COMMON_OPTIONS};
	struct cli cli = {.name = "metrics", .usage = usage_text};
	struct out o = {0};
	struct mtasts_config *cfg = NULL;
	const char *output = NULL;
	int opt, status = CLI_OK;
	bool done;

	while ((opt = getopt_long(
	            argc, argv, "po:" CLI_COMMON_SHORT, opts, NULL)) != -1) {
		if (opt == 'p')
			o.per_domain = true;
		else if (opt == 'o')
			output = optarg;
		else if ((status = cli_common_option(&cli, opt, &done)), done)
			return status;
	}
	if (optind != argc)
		return cli_usage_error(&cli, "unexpected argument");
	if (output != NULL && cli.json)
		return cli_usage_error(&cli,
		    "--output writes the text format: "
		    "not with --json");
	if (cli_load_config(&cli, &cfg) != 0)
		return CLI_ERROR;
	if ((o.families = json_array()) == NULL) {
		mtasts_config_free(cfg);
		return CLI_ERROR;
	}
	if (!cache_metrics(&o, cfg))
		status = CLI_PROBLEM;
	tlsrpt_metrics(&o, cfg);
	refresh_metrics(&o, cfg);
	send_metrics(&o, cfg);
	if (cli.json) {
		cli_emit(&cli, json_pack("{s:O}", "metrics", o.families));
	} else if (output == NULL) {
		put_text(stdout, o.families);
	} else if (write_output(output, o.families) != 0) {
		fprintf(stderr, "mtasts metrics: %s: %s\n", output,
		    strerror(errno));
		status = CLI_ERROR;
	}
	json_decref(o.families);
	mtasts_config_free(cfg);
	return status;
}
