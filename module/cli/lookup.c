/*
 * lookup.c - mtasts lookup: policy discovery for one or many domains,
 * concurrently, printed as lookup results.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "json.h"
#include "mtasts.h"

#define DOMAIN_LIST_MAX (16 * 1024 * 1024)

/* Appends the domains of a file (one per line, # comments) to *list. */
static int
read_domain_file(const struct cli *cli, const char *path, char ***list,
    size_t *count, char **text)
{
	size_t len, cap = *count;
	bool over;
	char *line, *save = NULL;

	if (cli_read_capped(cli, path, DOMAIN_LIST_MAX, text, &len, &over) != 0)
		return -1;
	if (over) {
		fprintf(stderr, "mtasts %s: %s: larger than %d bytes\n",
		    cli->name, path, DOMAIN_LIST_MAX);
		return -1;
	}
	for (line = strtok_r(*text, "\r\n", &save); line != NULL;
	     line = strtok_r(NULL, "\r\n", &save)) {
		char **grown;

		line += strspn(line, " \t");
		line[strcspn(line, " \t#")] = '\0';
		if (line[0] == '\0')
			continue;
		if (*count == cap) {
			cap = cap ? cap * 2 : 64;
			if ((grown = realloc(*list, cap * sizeof(**list))) ==
			    NULL)
				return -1;
			*list = grown;
		}
		(*list)[(*count)++] = line;
	}
	return 0;
}

static int
run_lookups(struct cli *cli, char **domains, size_t n)
{
	struct mtasts_config *cfg = NULL;
	struct mtasts_ctx *ctx = NULL;
	struct mtasts_lookup *results;
	struct mtasts_error err;
	json_t *all;
	size_t i;
	int status = CLI_OK;

	if (cli_load_config(cli, &cfg) != 0)
		return CLI_ERROR;
	if (mtasts_ctx_new(cfg, &ctx, &err) != MTASTS_OK) {
		fprintf(stderr, "mtasts %s: %s\n", cli->name, err.message);
		mtasts_config_free(cfg);
		return CLI_ERROR;
	}
	if ((results = calloc(n, sizeof(*results))) == NULL) {
		mtasts_ctx_free(ctx);
		mtasts_config_free(cfg);
		return CLI_ERROR;
	}
	mtasts_get_policies(
	    ctx, (const char *const *)domains, n, NULL, results);
	all = json_array();
	for (i = 0; i < n; i++) {
		if (results[i].status == MTASTS_STATUS_ERRORED)
			status = CLI_PROBLEM;
		json_array_append_new(all, mtasts_json_lookup(&results[i]));
		mtasts_lookup_clear(&results[i]);
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
	    {"file", required_argument, NULL, 'f'}, CLI_COMMON_OPTIONS};
	struct cli cli = {.name = "lookup",
	    .usage = "usage: mtasts lookup [--config FILE] [--json] "
	             "[--file LIST] DOMAIN...\n"
	             "Discovers the MTA-STS policy of each DOMAIN (RFC 8461 "
	             "§3): the TXT record at\n_mta-sts.DOMAIN, then "
	             "https://mta-sts.DOMAIN/.well-known/mta-sts.txt.\n"
	             "Domains are looked up concurrently; --file reads more, "
	             "one per line.\nStatus: found, not_found, renewed, "
	             "cached, errored.  Exit 0, or 1 when a\nlookup errored, "
	             "2 on a usage or configuration error.\n"};
	char **domains, *text = NULL;
	size_t n = 0;
	bool done;
	int opt, status, i;

	if ((domains = calloc((size_t)argc + 1, sizeof(*domains))) == NULL)
		return CLI_ERROR;
	while ((opt = getopt_long(
	            argc, argv, "f:" CLI_COMMON_SHORT, opts, NULL)) != -1) {
		if (opt == 'f') {
			if (text != NULL) {
				free(domains);
				free(text);
				return cli_usage_error(
				    &cli, "--file may be given once");
			}
			if (read_domain_file(
			        &cli, optarg, &domains, &n, &text) != 0) {
				free(domains);
				free(text);
				return CLI_ERROR;
			}
			continue;
		}
		status = cli_common_option(&cli, opt, &done);
		if (done) {
			free(domains);
			free(text);
			return status;
		}
	}
	for (i = optind; i < argc; i++) {
		char **grown = realloc(domains, (n + 1) * sizeof(*domains));

		if (grown == NULL) {
			free(domains);
			free(text);
			return CLI_ERROR;
		}
		domains = grown;
		domains[n++] = argv[i];
	}
	if (n == 0) {
		free(domains);
		free(text);
		return cli_usage_error(&cli, "expected at least one DOMAIN");
	}
	status = run_lookups(&cli, domains, n);
	free(domains);
	free(text);
	return status;
}
