/*
 * cmd_refresh.c - mtasts refresh: the daily refresh of cached policies
 * (RFC 8461 §5.1), shared between the nodes of a fleet.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "cli.h"
#include "clock.h"
#include "context.h"
#include "json.h"
#include "mtasts.h"
#include "run_state.h"
#include "smtpd_tables.h"

/* The domains mtasts refresh works on. */
struct due {
	const struct mtasts_config *cfg;
	int64_t now;
	bool all;
	char **domains;
	size_t count, cap;
	size_t cached;
	size_t unused; /* not asked for within refresh_window */
	size_t lost;   /* enforce policies the cache lost, looked for */
	size_t counts[5]; /* refreshed, by mtasts_status */
	size_t shared; /* renewed with a fleet peer's answer, no fetch */
	struct cache *cache;
};

static int
add_due(struct due *d, const char *domain)
{
	char **grown;

	if (d->count == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 64;
		grown = realloc(d->domains, d->cap * sizeof(*grown));
		if (grown == NULL)
			return 1;
		d->domains = grown;
	}
	if ((d->domains[d->count] = strdup(domain)) == NULL)
		return 1;
	d->count++;
	return 0;
}

/*
 * The witness's domains: one whose enforce policy would have expired is
 * let go of; one whose policy the cache lost is looked for again (until
 * it is found, its mail waits: lookup.c vouch()).  A record that holds a
 * policy is collect_due()'s.
 */
static int
collect_lost(void *arg, const char *domain, int64_t until)
{
	struct due *d = arg;
	struct cache_entry e;
	struct mtasts_error err;
	mtasts_code rc;

	if (until <= d->now) {
		cache_witness_forget(d->cfg, domain, &err);
		return 0;
	}
	rc = cache_get(d->cache, domain, &e, &err);
	if (rc == MTASTS_OK && e.policy != NULL) {
		cache_entry_clear(&e);
		return 0;
	}
	if (rc == MTASTS_OK)
		cache_entry_clear(&e);
	else if (rc != MTASTS_ERR_NOT_CACHED)
		return 0; /* a record that does not read: rebuild's */
	d->lost++;
	return add_due(d, domain);
}

/*
 * RFC 8461 §5.1: refresh cached policies before they expire, about once a
 * day.  Due: a policy whose TXT record was checked half a refresh interval
 * ago or more, or that expires within a refresh interval.
 */
static bool
is_due(const struct due *d, const struct cache_entry *e)
{
	long interval = d->cfg->refresh_interval;

	return d->now - e->checked >= interval / 2 ||
	    e->policy->expires - d->now <= interval;
}

/* A fleet peer's record checked since its domain was last due: as good
 * as this node's own refresh would be (a short max_age keeps a policy
 * due however fresh it is). */
static bool
fresh(void *arg, const struct cache_entry *e)
{
	const struct due *d = arg;

	return d->now - e->checked < d->cfg->refresh_interval / 2;
}

static int
collect_due(void *arg, const char *domain, const struct cache_entry *e)
{
	struct due *d = arg;

	if (e->policy == NULL)
		return 0;
	d->cached++;
	/* not asked for in refresh_window: left to expire, not fetched */
	if (!d->all && d->cfg->refresh_window > 0 &&
	    d->now - e->used > d->cfg->refresh_window) {
		d->unused++;
		return 0;
	}
	if (!d->all && !is_due(d, e))
		return 0;
	return add_due(d, domain);
}

/* Domains refreshed per call of mtasts_lookups(): the results of one
 * batch are in memory at a time (a result is about 2 KiB; a site with
 * 100,000 cached domains would otherwise hold 400 MiB). */
#define REFRESH_BATCH 1024

/* A progress bar on a terminal, over the batches. */
struct progress {
	size_t before, total; /* domains of the batches before this one */
};

static void
progress_bar(void *arg, size_t done, size_t total)
{
	const struct progress *p = arg;

	(void)total;
	cli_progress("refreshing", p->before + done, p->total);
}

/*
 * With a fleet, the nodes share the work (RFC 8461 §5.1's refresh done
 * once per fleet, not once per node): of names[n], those a peer renewed
 * since they were due are copied from the fleet and counted; those a
 * peer claimed go to later[]; the rest, which this node claims (or which
 * no fleet can be asked about), go to mine[], whose count is returned.  A claim
 * is held for SHARE_HOLD_MS (a batch's work with room to spare): a peer that
 * dies holding it delays, never prevents, the refresh (later[] is done by this
 * node if no answer comes).
 */
#define SHARE_HOLD_MS (15 * 60 * 1000)

static size_t
share(struct due *d, struct cache *c, char **names, size_t n, char **mine,
    char **later, size_t *nlater)
{
	size_t i, m = 0;

	for (i = 0; i < n; i++)
		switch (d->all
		        ? CACHE_SHARE_MINE
		        : cache_share(c, names[i], fresh, d, SHARE_HOLD_MS)) {
		case CACHE_SHARE_TAKEN:
			d->shared++;
			break;
		case CACHE_SHARE_PEER:
			later[(*nlater)++] = names[i];
			break;
		default:
			mine[m++] = names[i];
		}
	return m;
}

/*
 * The domains a peer claimed: its answer is awaited for as long as one
 * discovery may take, then this node refreshes those still waiting.  One
 * whose claim this node takes meanwhile (the peer died and its claim
 * lapsed, or it let go without an answer) is this node's at once: it is
 * not awaited further, and its claim is let go of once refreshed
 * (refresh_due).  Those to refresh are first in later[]; their count is
 * returned.
 */
static size_t
await_peers(struct due *d, const struct mtasts_config *cfg, struct cache *c,
    char **later, size_t n)
{
	struct timespec pause = {0, 200 * 1000000};
	int64_t end = mono_ms() + 2 * cfg->dns_timeout_ms +
	    cfg->connect_timeout_ms + cfg->fetch_timeout_ms + 1000;
	enum cache_share share;
	size_t i, left, mine = 0;
	char *name;

	/* later[]: [0, mine) claimed here, [mine, left) still a peer's */
	do {
		for (i = left = mine; i < n; i++) {
			name = later[i];
			share = cache_share(c, name, fresh, d, SHARE_HOLD_MS);
			if (share == CACHE_SHARE_TAKEN) {
				d->shared++;
			} else if (share == CACHE_SHARE_PEER) {
				later[left++] = name;
			} else { /* before those still a peer's */
				later[left++] = later[mine];
				later[mine++] = name;
			}
		}
		n = left;
	} while (n > mine && mono_ms() < end && nanosleep(&pause, NULL) == 0);
	return n;
}

/* Refreshes names[n] from the network, counting what each became. */
static int
refresh_from_network(struct mtasts_ctx *ctx, struct due *d, char **names,
    size_t n, struct mtasts_lookup **results, json_t *errors)
{
	size_t i;
	int status = CLI_OK;

	if (n == 0)
		return CLI_OK;
	if (mtasts_lookups(ctx, (const char *const *)names, n, true, results) !=
	    MTASTS_OK)
		return CLI_ERROR; /* out of memory: the rest later */
	for (i = 0; i < n; i++) {
		struct mtasts_lookup *r = results[i];

		d->counts[r->status]++;
		if (r->error.code != MTASTS_OK)
			json_array_append_new(errors,
			    json_pack("{s:s, s:s, s:o}", "domain", r->domain,
			        "status", mtasts_status_name(r->status),
			        "error", mtasts_json_error(&r->error)));
		if (r->status == MTASTS_STATUS_ERRORED ||
		    r->cache_error.code != MTASTS_OK)
			status = CLI_PROBLEM;
		mtasts_lookup_free(r);
	}
	return status;
}

static int
worse(int a, int b)
{
	return a == CLI_ERROR || b == CLI_ERROR
	    ? CLI_ERROR
	    : (a == CLI_PROBLEM || b == CLI_PROBLEM ? CLI_PROBLEM : CLI_OK);
}

static int
refresh_due(struct cli *cli, struct mtasts_ctx *ctx,
    const struct mtasts_config *cfg, struct due *d)
{
	struct mtasts_lookup **results =
	    calloc(REFRESH_BATCH, sizeof(*results));
	char **later = calloc(d->count + 1, sizeof(*later));
	char **mine = calloc(REFRESH_BATCH, sizeof(*mine));
	struct progress progress = {0, d->count};
	struct mtasts_error err;
	struct cache *c = ctx_cache(ctx, &err);
	size_t *counts = d->counts, at, n, m, i, nlater = 0;
	json_t *errors = json_array();
	int status = CLI_OK;

	if (results == NULL || later == NULL || mine == NULL ||
	    errors == NULL) {
		free(results);
		free(later);
		free(mine);
		json_decref(errors);
		return CLI_ERROR;
	}
	if (!cli->json && isatty(STDERR_FILENO) && d->count > 0)
		mtasts_ctx_set_progress(ctx, progress_bar, &progress);
	for (at = 0; at < d->count && status != CLI_ERROR; at += n) {
		n = d->count - at < REFRESH_BATCH ? d->count - at
		                                  : REFRESH_BATCH;
		progress.before = at;
		if (c != NULL) {
			m = share(
			    d, c, d->domains + at, n, mine, later, &nlater);
		} else {
			memcpy(mine, d->domains + at, n * sizeof(*mine));
			m = n;
		}
		status = worse(status,
		    refresh_from_network(ctx, d, mine, m, results, errors));
		for (i = 0; c != NULL && i < m; i++)
			cache_share_done(c, mine[i]);
	}
	if (nlater > 0 && status != CLI_ERROR) {
		nlater = await_peers(d, cfg, c, later, nlater);
		for (at = 0; at < nlater && status != CLI_ERROR; at += n) {
			n = nlater - at < REFRESH_BATCH ? nlater - at
			                                : REFRESH_BATCH;
			status = worse(status,
			    refresh_from_network(
			        ctx, d, later + at, n, results, errors));
		}
		/* this node's claims (a peer's stays: compare-and-delete) */
		for (i = 0; i < nlater; i++)
			cache_share_done(c, later[i]);
	}
	mtasts_ctx_set_progress(ctx, NULL, NULL); /* progress is ours */
	free(results);
	free(later);
	free(mine);
	cli_emit(cli,
	    json_pack("{s:i, s:i, s:i, s:i, s:i, s:{s:i, s:i, s:i, s:i, s:i}, "
	              "s:o}",
	        "cached", (int)d->cached, "unused", (int)d->unused, "lost",
	        (int)d->lost, "refreshed", (int)(d->count - d->shared),
	        "from_fleet", (int)d->shared, "status", "found",
	        (int)counts[MTASTS_STATUS_FOUND], "renewed",
	        (int)counts[MTASTS_STATUS_RENEWED], "cached",
	        (int)counts[MTASTS_STATUS_CACHED], "not_found",
	        (int)counts[MTASTS_STATUS_NOT_FOUND], "errored",
	        (int)counts[MTASTS_STATUS_ERRORED], "errors", errors));
	return status;
}

/* What mtasts metrics says of the last refresh (run_state.h): when it
 * ended, its exit status, its domains by status.  Failing to keep it is
 * said, and no failure of the refresh. */
static void
keep_state(const struct mtasts_config *cfg, const struct due *d, int status)
{
	static const char *const names[5] = {
	    [MTASTS_STATUS_FOUND] = "found",
	    [MTASTS_STATUS_NOT_FOUND] = "not_found",
	    [MTASTS_STATUS_RENEWED] = "renewed",
	    [MTASTS_STATUS_CACHED] = "cached",
	    [MTASTS_STATUS_ERRORED] = "errored"};
	struct run_state s = {0};
	char path[4200];
	size_t i;

	if (run_state_path(cfg, "refresh", path, sizeof(path)) != 0)
		return;
	run_state_set(&s, "finished", (long long)wall_now());
	run_state_set(&s, "exit", status);
	run_state_set(&s, "refreshed", (long long)(d->count - d->shared));
	run_state_set(&s, "from_fleet", (long long)d->shared);
	for (i = 0; i < 5; i++)
		run_state_set(&s, names[i], (long long)d->counts[i]);
	if (run_state_write(path, &s) != 0)
		fprintf(stderr, "mtasts refresh: %s: %s\n", path,
		    strerror(errno));
}

int
cmd_refresh(int argc, char **argv)
{
	static const struct option opts[] = {{"all", no_argument, NULL, 'a'},
	    {"smtpd-table", required_argument, NULL, 't'}, CLI_COMMON_OPTIONS};
	struct cli cli = {.name = "refresh",
	    .usage =
	        "usage: mtasts refresh [--config FILE] [--json] [--all] "
	        "[--smtpd-table FILE]\n"
	        "Checks again, concurrently, every cached policy whose TXT "
	        "record was checked\nhalf a refresh_interval ago or that "
	        "expires within one (--all: every cached\npolicy), as RFC 8461 "
	        "§5.1 asks; run it daily (mtasts-refresh.timer).\nA policy "
	        "that cannot be refreshed stays in force until it expires.\n"
	        "--smtpd-table rewrites OpenSMTPD's table of enforce domains "
	        "afterwards.\nExit 0, or 1 when a refresh errored.\n"};
	struct mtasts_config *cfg = NULL;
	struct mtasts_ctx *ctx = NULL;
	struct mtasts_error err;
	struct cache *c;
	struct due due = {0};
	const char *table = NULL;
	bool done, changed;
	int opt, status = CLI_OK;
	size_t i;

	while ((opt = getopt_long(
	            argc, argv, "at:" CLI_COMMON_SHORT, opts, NULL)) != -1) {
		if (opt == 'a')
			due.all = true;
		else if (opt == 't')
			table = optarg;
		else if ((status = cli_common_option(&cli, opt, &done)), done)
			return status;
	}
	if (optind != argc)
		return cli_usage_error(&cli, "unexpected argument");
	if (cli_load_config(&cli, &cfg) != 0)
		return CLI_ERROR;
	if ((c = cache_open(cfg, &err)) == NULL) {
		fprintf(stderr, "mtasts refresh: %s\n", err.message);
		keep_state(cfg, &due, CLI_ERROR);
		mtasts_config_free(cfg);
		return CLI_ERROR;
	}
	due.cfg = cfg;
	due.now = wall_now();
	due.cache = c;
	if (cache_each(c, collect_due, &due, &err) != MTASTS_OK ||
	    cache_witness_each(cfg, collect_lost, &due, &err) != 0) {
		fprintf(stderr, "mtasts refresh: %s\n", err.message);
		status = CLI_ERROR;
	}
	cache_close(c);
	if (status == CLI_OK) {
		if (mtasts_ctx_new(cfg, &ctx, &err) != MTASTS_OK) {
			fprintf(stderr, "mtasts refresh: %s\n", err.message);
			status = CLI_ERROR;
		} else {
			status = refresh_due(&cli, ctx, cfg, &due);
		}
	}
	/* OpenSMTPD routes enforce domains by this table: keep it current */
	if (ctx != NULL && table != NULL &&
	    smtpd_tables_refresh(ctx, table, &changed, &err) !=
	        MTASTS_OK) {
		fprintf(stderr, "mtasts refresh: %s\n", err.message);
		status = CLI_ERROR;
	}
	keep_state(cfg, &due, status);
	for (i = 0; i < due.count; i++)
		free(due.domains[i]);
	free(due.domains);
	mtasts_ctx_free(ctx);
	mtasts_config_free(cfg);
	return status;
}
