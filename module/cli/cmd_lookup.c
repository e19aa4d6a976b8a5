/*
 * cmd_lookup.c - mtasts lookup: policy discovery for one or many domains,
 * concurrently, printed as lookup results.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "json.h"
#include "mtasts.h"

/* The result, and what an MTA would make of it. */
static json_t *
with_verdict(const struct mtasts_lookup *r)
{
	json_t *obj = mtasts_json_lookup(r);

	if (obj != NULL)
		json_object_set_new(obj, "verdict",
		    json_string(mtasts_verdict_name(mtasts_verdict_of(r))));
	return obj;
}

static int
run_lookups(struct cli *cli, char **domains, size_t n, bool no_cache)
{
	struct mtasts_config *cfg = NULL;
	struct mtasts_ctx *ctx = NULL;
	struct mtasts_lookup **results;
	mtasts_code rc;
	json_t *all;
	size_t i;
	int status = CLI_OK;

	if (cli_open(cli, &cfg, &ctx) != 0)
		return CLI_ERROR;
	if ((results = calloc(n, sizeof(*results))) == NULL) {
		mtasts_ctx_free(ctx);
		mtasts_config_free(cfg);
		return CLI_ERROR;
	}
	if (no_cache)
		rc = mtasts_get_policies(
		    ctx, (const char *const *)domains, n, NULL, results);
	else
		rc = mtasts_lookups(
		    ctx, (const char *const *)domains, n, false, results);
	if (rc != MTASTS_OK) {
		fprintf(
		    stderr, "mtasts %s: %s\n", cli->name, mtasts_strerror(rc));
		free(results);
		mtasts_ctx_free(ctx);
		mtasts_config_free(cfg);
		return CLI_ERROR;
	}
	all = json_array();
	for (i = 0; i < n; i++) {
		/* an operand that is not a domain is a usage error */
		if (results[i]->error.code == MTASTS_ERR_USAGE)
			status = CLI_ERROR;
		else if (results[i]->status == MTASTS_STATUS_ERRORED &&
		    status == CLI_OK)
			status = CLI_PROBLEM;
		/* the cache is one for all: say it once */
		if (i == 0 && results[i]->cache_error.code != MTASTS_OK)
			fprintf(stderr, "mtasts %s: warning: %s\n", cli->name,
			    results[i]->cache_error.message);
		json_array_append_new(all, with_verdict(results[i]));
		mtasts_lookup_free(results[i]);
	}
	/* one domain: its result; several: {"results": [...]} */
	if (n == 1) {
		cli_emit(cli, json_incref(json_array_get(all, 0)));
		json_decref(all);
	} else {
		cli_emit(cli, json_pack("{s:o}", "results", all));
	}
	free(results);
	mtasts_ctx_free(ctx);
	mtasts_config_free(cfg);
	return status;
}

int
cmd_lookup(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"file", required_argument, NULL, 'f'},
	    {"no-cache", no_argument, NULL, 'n'}, CLI_COMMON_OPTIONS};
	struct cli cli = {.name = "lookup",
	    .usage =
	        "usage: mtasts lookup [--config FILE] [--json] [--no-cache] "
	        "[--file LIST]\n"
	        "                     DOMAIN...\n"
	        "Finds the MTA-STS policy of each DOMAIN (RFC 8461 §3): the "
	        "TXT "
	        "record at\n_mta-sts.DOMAIN, then "
	        "https://mta-sts.DOMAIN/.well-known/mta-sts.txt.\n"
	        "Lookups go through the cache and update it, unless "
	        "--no-cache.  Domains are\nlooked up concurrently; --file "
	        "reads more, one per line.  Status: found,\nnot_found, "
	        "renewed, cached, errored; verdict: what an MTA does (none, "
	        "testing,\nenforce, defer).  Exit 0, or 1 when a lookup "
	        "errored,\n2 on a usage or configuration error (an operand "
	        "that is not "
	        "a domain).\n"};
	char **domains = NULL, *text = NULL;
	size_t n = 0;
	bool done, no_cache = false;
	int opt, status = CLI_OK;

	while ((opt = getopt_long(
	            argc, argv, "f:n" CLI_COMMON_SHORT, opts, NULL)) != -1) {
		if (opt == 'n') {
			no_cache = true;
		} else if (opt == 'f') {
			if (text != NULL) {
				status = cli_usage_error(
				    &cli, "--file may be given once");
				goto out;
			}
			if (cli_read_domains(
			        &cli, optarg, &domains, &n, &text) != 0) {
				status = CLI_ERROR;
				goto out;
			}
		} else {
			status = cli_common_option(&cli, opt, &done);
			if (done)
				goto out;
		}
	}
	if (cli_push_operands(argc, argv, optind, &domains, &n) != 0)
		status = CLI_ERROR;
	else if (n == 0)
		status = cli_usage_error(&cli, "expected at least one DOMAIN");
	else
		status = run_lookups(&cli, domains, n, no_cache);
out:
	free(domains);
	free(text);
	return status;
}
