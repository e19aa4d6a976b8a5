/*
 * cmd_tlsrpt.c - mtasts tlsrpt show|send: what the TLS-RPT store counted, and
 * the daily reports (RFC 8460) to each policy domain's rua.
 *
 * Bookkeeping, in the store: each (day, domain, rua) has a state - sent,
 * retry N, failed - written (synced) after each attempt, so a report is
 * sent once; a domain whose _smtp._tls record is missing or malformed is
 * marked skipped and never reported.  One send runs at a time (a lock
 * beside the store): a second waits for the first, then finds its work
 * done.  In a fleet (the fleet's store), the node that claims a report
 * sends it; another finds it claimed, or sent.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "clock.h"
#include "config.h"
#include "dns.h"
#include "domain.h"
#include "mtasts.h"
#include "run_state.h"
#include "tlsrpt_txt.h"
#include "tlsrpt_deliver.h"
#include "tlsrpt_fold.h"
#include "tlsrpt_report.h"
#include "tlsrpt_spool.h"
#include "tlsrpt_store.h"

#define TRIES 5 /* temporary failures before a report is given up */
#define KEEP_DAYS 14 /* days the store keeps after they end */
#define DOMAIN_STATE "" /* the rua of a domain's own state */

static const char usage_text[] =
    "usage: mtasts tlsrpt show [--date YYYY-MM-DD] [--config FILE] [--json]\n"
    "       mtasts tlsrpt send [--date YYYY-MM-DD] [--dry-run DIR]\n"
    "                          [--config FILE] [--json]\n\n"
    "TLS-RPT (RFC 8460) as a sender, with tlsrpt = yes in mtasts.conf.\n"
    "show prints the sessions counted on a day (default today, UTC): per\n"
    "policy domain, successes and failures by result type.  send builds\n"
    "one report per policy domain for each day that has ended (or --date),\n"
    "and delivers it to each rua of _smtp._tls.<domain>: mailto: by SMTP\n"
    "to tlsrpt_relay (or through sendmail, if set), https: by POST;\n"
    "--dry-run writes the reports into DIR and sends nothing.  Exit\n"
    "status: 0 done, 1 some report not delivered yet or refused, 2 usage\n"
    "or internal error.\n";

struct run {
	struct cli cli;
	const struct mtasts_config *cfg;
	struct tlsrpt_store *store;
	struct dns *dns;
	const char *dry_run;
	json_t *out; /* send: one entry per report and rua */
	bool problem;
	bool stop; /* a state could not be kept: sending more could repeat */
	struct run_state tally; /* send: results of this run, by name */
};

static int
show_day(struct run *r, const char *day)
{
	struct mtasts_error err;
	json_t *domains = tlsrpt_store_day(r->store, day, NULL, &err), *list,
	       *p;
	const char *domain;
	size_t i;

	if (domains == NULL) {
		fprintf(stderr, "mtasts tlsrpt: %s\n", err.message);
		return CLI_ERROR;
	}
	if (r->cli.json) {
		cli_emit(&r->cli,
		    json_pack("{s:s, s:o}", "date", day, "domains", domains));
		return CLI_OK;
	}
	printf("%s (UTC): %zu policy domain%s\n", day,
	    json_object_size(domains),
	    json_object_size(domains) == 1 ? "" : "s");
	json_object_foreach(domains, domain, list) json_array_foreach(
	    list, i, p)
	{
		json_t *d;
		size_t k;

		printf("  %s (%s): %lld successful, %lld failed",
		    domain, json_string_value(json_object_get(p, "type")),
		    (long long)json_integer_value(json_object_get(p, "success")),
		    (long long)json_integer_value(json_object_get(p, "failure")));
		if (json_integer_value(json_object_get(p, "dropped")) > 0)
			printf(" (%lld without a detail row)",
			    (long long)json_integer_value(
			        json_object_get(p, "dropped")));
		printf("\n");
		json_array_foreach(json_object_get(p, "details"), k, d)
		    printf("    %s: %lld (MX %s [%s], from %s)\n",
		        json_string_value(json_object_get(d, "result")),
		        (long long)json_integer_value(json_object_get(d, "count")),
		        json_string_value(json_object_get(d, "mx_host")),
		        json_string_value(json_object_get(d, "receiving_ip")),
		        json_string_value(json_object_get(d, "sending_ip")));
	}
	json_decref(domains);
	return CLI_OK;
}

static void
note(struct run *r, const char *day, const char *domain, const char *rua,
    const char *result, const char *why)
{
	/* skipped is the usual case: most domains publish no TLSRPT record */
	long long n = 0;

	if (strcmp(result, "retry") == 0 || strcmp(result, "failed") == 0 ||
	    strcmp(result, "error") == 0 || strcmp(result, "waiting") == 0)
		r->problem = true;
	run_state_get(&r->tally, result, &n);
	run_state_set(&r->tally, result, n + 1);
	if (r->cli.json)
		json_array_append_new(r->out,
		    json_pack("{s:s, s:s, s:s, s:s, s:s}", "date", day,
		        "domain", domain, "rua", rua, "result", result, "why",
		        why));
	else
		printf("%s %s %s: %s (%s)\n", day, domain,
		    rua[0] != '\0' ? rua : "-", result, why);
}

/* Writes the report into the --dry-run directory. */
static void
write_out(struct run *r, const struct report *rep, const char *rua)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", r->dry_run, rep->filename);
	if ((f = fopen(path, "wb")) == NULL ||
	    fwrite(rep->gz, 1, rep->gz_len, f) != rep->gz_len) {
		if (f != NULL)
			fclose(f);
		note(r, rep->day, rep->domain, rua, "failed", strerror(errno));
		return;
	}
	fclose(f);
	note(r, rep->day, rep->domain, rua, "written", path);
}

/* The claim of a report: 1 taken (and state read again: another node
 * may have sent it meanwhile), 0 not to be sent now (said why), -1 on an
 * error (said). */
static int
claim(struct run *r, const struct report *rep, const char *rua, char *state,
    size_t len)
{
	struct mtasts_error err;
	int taken = tlsrpt_store_claim(r->store, rep->day, rep->domain, rua,
	    &err);

	if (taken == 0) {
		note(r, rep->day, rep->domain, rua, "claimed",
		    "another node of the fleet is sending it");
		return 0;
	}
	if (taken < 0 ||
	    tlsrpt_store_state(r->store, rep->day, rep->domain, rua, state, len,
	        &err) != MTASTS_OK) {
		note(r, rep->day, rep->domain, rua, "error", err.message);
		if (taken > 0)
			tlsrpt_store_release(r->store, rep->day, rep->domain, rua);
		return -1;
	}
	if (strncmp(state, "sent", 4) == 0 || strncmp(state, "failed", 6) == 0) {
		tlsrpt_store_release(r->store, rep->day, rep->domain, rua);
		return 0; /* done by another node */
	}
	return 1;
}

/* One attempt at a report whose state is state, and its new state. */
static void
attempt(struct run *r, const struct report *rep, const char *rua,
    const char *state)
{
	char why[512], next[600];
	struct mtasts_error err;
	enum delivery d;
	int tries = 0;

	sscanf(state, "retry %d", &tries);
	d = report_deliver(r->cfg, rep, rua, why, sizeof(why));
	if (d == DELIVERED)
		snprintf(next, sizeof(next), "sent %lld: %s",
		    (long long)wall_now(), why);
	else if (d == REFUSED || tries + 1 >= TRIES)
		snprintf(next, sizeof(next), "failed after %d tr%s: %s",
		    tries + 1, tries ? "ies" : "y", why);
	else
		snprintf(next, sizeof(next), "retry %d: %s", tries + 1, why);
	/* written before anything else is tried: a crash after a delivery
	 * is the only way to send a report twice */
	if (tlsrpt_store_set_state(r->store, rep->day, rep->domain, rua, next,
	        &err) != MTASTS_OK) {
		note(r, rep->day, rep->domain, rua, "error", err.message);
		r->stop = true;
	}
	note(r, rep->day, rep->domain, rua,
	    d == DELIVERED                              ? "sent"
	        : d == REFUSED || tries + 1 >= TRIES ? "failed"
	                                                : "retry",
	    why);
}

/* One rua: its state, then an attempt when one is due. */
static void
to_rua(struct run *r, const struct report *rep, const char *rua)
{
	char state[600];
	struct mtasts_error err;

	if (tlsrpt_store_state(r->store, rep->day, rep->domain, rua, state,
	        sizeof(state), &err) != MTASTS_OK) {
		note(r, rep->day, rep->domain, rua, "error", err.message);
		return;
	}
	if (strncmp(state, "sent", 4) == 0 || strncmp(state, "failed", 6) == 0)
		return; /* done before */
	if (r->dry_run != NULL) {
		write_out(r, rep, rua);
		return;
	}
	/* in a fleet, the node that claims it sends it */
	switch (claim(r, rep, rua, state, sizeof(state))) {
	case -1:
		return;
	case 0:
		break;
	default:
		attempt(r, rep, rua, state);
		/* a state not kept: the claim stays until it expires, so
		 * that no other node sends it again meanwhile */
		if (!r->stop)
			tlsrpt_store_release(r->store, rep->day, rep->domain, rua);
	}
}

/* The rua of domain's TLSRPT record; false when there is none to send
 * to now (said why; marked skipped when DNS said so for good). */
static bool
find_rua(struct run *r, const char *day, const char *domain, struct tlsrpt *t)
{
	char name[MTASTS_DOMAIN_MAX + 16];
	struct dns_answer *a;
	struct mtasts_error err;
	mtasts_code rc;

	snprintf(name, sizeof(name), "_smtp._tls.%s", domain);
	a = dns_lookup(r->dns, name, DNS_TYPE_TXT, r->cfg->dns_timeout_ms);
	if (a == NULL || (a->code != MTASTS_OK &&
	                     a->code != MTASTS_ERR_DNS_NXDOMAIN &&
	                     a->code != MTASTS_ERR_DNS_NODATA)) {
		note(r, day, domain, DOMAIN_STATE, "retry",
		    a != NULL ? a->message : "out of memory");
		dns_answer_free(a);
		return false;
	}
	rc = a->code != MTASTS_OK || a->count == 0
	    ? MTASTS_ERR_NO_TLSRPT_RECORD
	    : tlsrpt_parse(
	          (const char *const *)a->data, a->len, a->count, t, &err);
	dns_answer_free(a);
	if (rc == MTASTS_OK)
		return true;
	if (r->dry_run == NULL &&
	    tlsrpt_store_set_state(r->store, day, domain, DOMAIN_STATE,
	        "skipped", &err) != MTASTS_OK)
		note(r, day, domain, DOMAIN_STATE, "error", err.message);
	note(r, day, domain, DOMAIN_STATE, "skipped",
	    rc == MTASTS_ERR_NO_TLSRPT_RECORD
	        ? "no TLSRPT record"
	        : (rc == MTASTS_ERR_MULTI_STS_RECORDS
	                  ? "several TLSRPT records"
	                  : "a malformed TLSRPT record"));
	return false;
}

static void
send_day(struct run *r, const char *day)
{
	struct mtasts_error err;
	json_t *domains, *list;
	const char *domain;
	char who[80], why[200];

	/* in a fleet, not before every node counted its sessions of it */
	switch (tlsrpt_store_ready(
	    r->store, day, wall_now(), who, sizeof(who), &err)) {
	case -1:
		note(r, day, "-", DOMAIN_STATE, "error", err.message);
		return;
	case 0:
		snprintf(why, sizeof(why),
		    "fleet_node %s has not counted its sessions of the day yet",
		    who);
		note(r, day, "-", DOMAIN_STATE, "waiting", why);
		return;
	}
	if ((domains = tlsrpt_store_day(r->store, day, NULL, &err)) == NULL) {
		note(r, day, "-", DOMAIN_STATE, "error", err.message);
		return;
	}
	json_object_foreach(domains, domain, list)
	{
		char state[64];
		struct report rep;
		struct tlsrpt t;
		size_t i;

		if (r->stop)
			break;

		if (tlsrpt_store_state(r->store, day, domain, DOMAIN_STATE,
		        state, sizeof(state), &err) != MTASTS_OK ||
		    strcmp(state, "skipped") == 0 ||
		    !find_rua(r, day, domain, &t))
			continue;
		if (report_build(&rep, r->cfg, day, domain, list) != 0) {
			note(r, day, domain, DOMAIN_STATE, "error",
			    "out of memory");
			continue;
		}
		for (i = 0; i < t.rua_count && !r->stop; i++)
			to_rua(r, &rep, t.rua[i]);
		report_clear(&rep);
	}
	json_decref(domains);
}

/* One fold and send at a time: a lock file beside the store. */
static int
run_lock(const struct mtasts_config *cfg)
{
	char dir[4096], path[4200];
	int fd;

	if (tlsrpt_dir_of(cfg, dir, sizeof(dir)) != 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	snprintf(path, sizeof(path), "%s/run.lock", dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0660);
	if (fd >= 0 && flock(fd, LOCK_EX) != 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

static int
send_reports(struct run *r, const char *date, const char *today)
{
	struct mtasts_error err;
	json_t *days, *d;
	size_t i;

	if ((r->dns = dns_new(r->cfg, &err)) == NULL ||
	    (days = tlsrpt_store_days(r->store, &err)) == NULL) {
		fprintf(stderr, "mtasts tlsrpt: %s\n", err.message);
		return CLI_ERROR;
	}
	r->out = json_array();
	/* every day that has ended (retries of earlier ones included), or
	 * the one asked for */
	json_array_foreach(days, i, d)
	{
		const char *day = json_string_value(d);

		if (!r->stop && (date != NULL ? strcmp(day, date) == 0
		                              : strcmp(day, today) < 0))
			send_day(r, day);
	}
	json_decref(days);
	if (r->cli.json)
		cli_emit(&r->cli, json_pack("{s:o}", "reports", r->out));
	else
		json_decref(r->out);
	return r->stop ? CLI_ERROR : r->problem ? CLI_PROBLEM : CLI_OK;
}

/* What mtasts metrics says of the last send (run_state.h): when it ended,
 * its exit status, its reports by result, and when a report was last
 * delivered (kept from an earlier run when this one delivered none). */
static void
keep_state(const struct run *r, int status)
{
	static const char *const results[] = TLSRPT_SEND_RESULTS;
	struct run_state old, s = {0};
	char path[4200];
	long long n, last = 0;
	size_t i;

	if (run_state_path(r->cfg, "send", path, sizeof(path)) != 0)
		return;
	if (run_state_read(path, &old) == 0)
		run_state_get(&old, "last_sent", &last);
	run_state_set(&s, "finished", (long long)wall_now());
	run_state_set(&s, "exit", status);
	for (i = 0; i < sizeof(results) / sizeof(results[0]); i++) {
		n = 0;
		run_state_get(&r->tally, results[i], &n);
		run_state_set(&s, results[i], n);
	}
	if (run_state_get(&r->tally, "sent", &n) && n > 0)
		last = wall_now();
	if (last > 0)
		run_state_set(&s, "last_sent", last);
	if (run_state_write(path, &s) != 0)
		fprintf(stderr, "mtasts tlsrpt: %s: %s\n", path,
		    strerror(errno));
}

/* Before counting and sending: days older than KEEP_DAYS go, so that a
 * full store makes room (failing is said, not fatal). */
static void
prune(struct run *r, const char *today)
{
	char oldest[TLSRPT_DAY_LEN + 1];
	struct mtasts_error err;

	tlsrpt_day(tlsrpt_day_start(today) - (int64_t)KEEP_DAYS * 86400, oldest);
	if (tlsrpt_store_prune(r->store, oldest, &err) != MTASTS_OK)
		fprintf(stderr, "mtasts tlsrpt: %s\n", err.message);
}

int
cmd_tlsrpt(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"date", required_argument, NULL, 'd'},
	    {"dry-run", required_argument, NULL, 'n'}, CLI_COMMON_OPTIONS};
	struct run r = {.cli = {.name = "tlsrpt", .usage = usage_text}};
	struct mtasts_config *cfg = NULL;
	struct mtasts_ctx *ctx = NULL;
	struct mtasts_error err;
	const char *date = NULL, *what;
	char today[TLSRPT_DAY_LEN + 1];
	int opt, status, lock = -1;
	bool done;

	while ((opt = getopt_long(argc, argv, "d:n:" CLI_COMMON_SHORT, opts,
	            NULL)) != -1) {
		if (opt == 'd')
			date = optarg;
		else if (opt == 'n')
			r.dry_run = optarg;
		else if ((status = cli_common_option(&r.cli, opt, &done)),
		    done)
			return status;
	}
	if (optind + 1 != argc)
		return cli_usage_error(&r.cli, "say show or send");
	what = argv[optind];
	if (strcmp(what, "show") != 0 && strcmp(what, "send") != 0)
		return cli_usage_error(&r.cli, "unknown action \"%s\"", what);
	if (date != NULL && !tlsrpt_is_day(date))
		return cli_usage_error(&r.cli, "--date wants YYYY-MM-DD");
	if (r.dry_run != NULL && strcmp(what, "send") != 0)
		return cli_usage_error(&r.cli, "--dry-run is for send");
	if (cli_open(&r.cli, &cfg, &ctx) != 0)
		return CLI_ERROR;
	r.cfg = cfg;
	if (!cfg->tlsrpt)
		fprintf(stderr, "mtasts tlsrpt: note: tlsrpt = yes is not set "
		                "in the configuration: nothing is counted\n");
	tlsrpt_day(wall_now(), today);
	/* the store is opened first (it makes its directory), then one
	 * command at a time folds and sends: two folding at once would
	 * count the same lines twice */
	if ((r.store = tlsrpt_store_open(cfg, &err)) == NULL) {
		fprintf(stderr, "mtasts tlsrpt: %s\n", err.message);
		mtasts_ctx_free(ctx);
		mtasts_config_free(cfg);
		return CLI_ERROR;
	}
	if ((lock = run_lock(cfg)) < 0) {
		fprintf(stderr, "mtasts tlsrpt: cannot lock: %s\n",
		    strerror(errno));
		status = CLI_ERROR;
		goto out;
	}
	if (strcmp(what, "send") == 0 && r.dry_run == NULL)
		prune(&r, today);
	/* what the deliveries spooled, counted in the store first; what
	 * could not be counted does not keep what was from being sent */
	if (tlsrpt_fold(ctx, r.store, today, &err) != MTASTS_OK ||
	    tlsrpt_store_folded(r.store, wall_now(), &err) != MTASTS_OK) {
		fprintf(stderr, "mtasts tlsrpt: %s\n", err.message);
		r.problem = true;
		if (strcmp(what, "show") == 0) {
			status = CLI_ERROR;
			goto out;
		}
	}
	status = strcmp(what, "show") == 0 ? show_day(&r, date ? date : today)
	                                   : send_reports(&r, date, today);
out:
	if (strcmp(what, "send") == 0 && r.dry_run == NULL)
		keep_state(&r, status);
	if (lock >= 0)
		close(lock);
	dns_free(r.dns);
	tlsrpt_store_close(r.store);
	mtasts_ctx_free(ctx);
	mtasts_config_free(cfg);
	return status;
}
