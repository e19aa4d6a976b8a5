/*
 * check.c - mtasts check: the report a domain owner wants.  It looks at
 * everything a sender looks at (RFC 8461 §3-§4), and at what the web
 * checkers cannot: every MX on port 25, the policy host over IPv4 and IPv6
 * apart, and without a User-Agent.  Every finding has a stable code, a
 * severity, a sentence and the fix (README: "mtasts check").
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "cli.h"
#include "config.h"
#include "dns.h"
#include "domain.h"
#include "error.h"
#include "fetch.h"
#include "json.h"
#include "probe.h"
#include "tlsrpt_txt.h"

static json_t *
check_domain(const struct mtasts_config *cfg, struct dns *dns, const char *arg,
    int *errors)
{
	char domain[MTASTS_DOMAIN_MAX + 1];
	struct report r = {.cfg = cfg, .dns = dns, .domain = domain};
	bool have_txt;

	if (domain_normalize(arg, domain) != 0) {
		struct mtasts_error err;
		char q[80];

		/* a usage error: said back as printable ASCII */
		mtasts_quote(q, sizeof(q), arg, strlen(arg));
		mtasts_error_set(
		    &err, MTASTS_ERR_USAGE, "\"%s\" is not a domain name", q);
		*errors = -1;
		return json_pack("{s:s, s:o}", "domain", q, "error",
		    mtasts_json_error(&err));
	}
	r.obj = json_pack("{s:s}", "domain", domain);
	r.issues = json_array();
	r.recommendations = json_array();
	have_txt = check_txt(&r);
	check_policy(&r, have_txt);
	json_object_set_new(
	    r.obj, "has_mta_sts", json_boolean(have_txt && r.policy != NULL));
	json_object_set_new(r.obj, "mode",
	    r.policy != NULL ? json_string(mtasts_mode_name(r.policy->mode))
	                     : json_null());
	check_mx(&r);
	check_tlsrpt(&r);
	json_object_set_new(r.obj, "issues", r.issues);
	json_object_set_new(r.obj, "recommendations", r.recommendations);
	json_object_set_new(r.obj, "summary",
	    json_pack(
	        "{s:i, s:i}", "errors", r.errors, "warnings", r.warnings));
	mtasts_policy_free(r.policy);
	*errors = r.errors;
	return r.obj;
}

/* ---- text for a terminal ---- */

static bool colour;

static const char *
paint(const char *severity)
{
	if (!colour)
		return "";
	if (strcmp(severity, "error") == 0)
		return "\033[31m";
	if (strcmp(severity, "warning") == 0)
		return "\033[33m";
	return "\033[36m";
}

static void
print_findings(json_t *list, const char *mark)
{
	json_t *f;
	size_t i;

	json_array_foreach(list, i, f)
	{
		const char *sev =
		    json_string_value(json_object_get(f, "severity"));

		printf("  %s%s %s%s [%s]\n      %s\n      fix: %s\n",
		    paint(sev), mark, sev, colour ? "\033[0m" : "",
		    json_string_value(json_object_get(f, "code")),
		    json_string_value(json_object_get(f, "message")),
		    json_string_value(json_object_get(f, "fix")));
	}
}

static void
print_report(json_t *rep)
{
	json_t *summary = json_object_get(rep, "summary"), *h, *v;
	const char *mode = json_string_value(json_object_get(rep, "mode"));
	json_t *error = json_object_get(rep, "error");
	size_t i;

	if (error != NULL) {
		printf("%s: %s\n",
		    json_string_value(json_object_get(rep, "domain")),
		    json_string_value(json_object_get(error, "message")));
		return;
	}
	printf("%s%s%s: MTA-STS %s (%lld errors, %lld warnings)\n",
	    colour ? "\033[1m" : "",
	    json_string_value(json_object_get(rep, "domain")),
	    colour ? "\033[0m" : "", mode != NULL ? mode : "not published",
	    json_integer_value(json_object_get(summary, "errors")),
	    json_integer_value(json_object_get(summary, "warnings")));
	json_array_foreach(
	    json_object_get(json_object_get(rep, "dns_record"), "raw"), i, v)
	{
		printf("  TXT      %s\n", json_string_value(v));
	}
	printf("  policy   %s\n",
	    json_string_value(json_object_get(rep, "policy_url")));
	json_array_foreach(json_object_get(rep, "mx_hosts"), i, h)
	{
		json_t *cert = json_object_get(h, "certificate");

		printf("  MX       %s: %s%s%s\n",
		    json_string_value(json_object_get(h, "host")),
		    json_is_true(json_object_get(h, "starttls"))
		        ? "STARTTLS "
		        : "no STARTTLS",
		    json_string_value(json_object_get(h, "tls_version"))
		        ? json_string_value(json_object_get(h, "tls_version"))
		        : "",
		    json_is_object(cert)
		        ? (json_is_true(json_object_get(cert, "trusted")) &&
		                      json_is_true(json_object_get(
		                          cert, "valid_for_name"))
		                  ? ", certificate valid"
		                  : ", certificate NOT valid")
		        : "");
	}
	json_array_foreach(
	    json_object_get(json_object_get(rep, "tls_rpt"), "rua"), i, v)
	{
		printf("  TLS-RPT  %s\n", json_string_value(v));
	}
	print_findings(json_object_get(rep, "issues"), "x");
	print_findings(json_object_get(rep, "recommendations"), "i");
}

static int
run_checks(struct cli *cli, char **domains, size_t n)
{
	struct mtasts_config *cfg = NULL;
	struct mtasts_error err;
	struct dns *dns;
	json_t *all = json_array();
	int status = CLI_OK, errors;
	size_t i;

	if (cli_load_config(cli, &cfg) != 0)
		return CLI_ERROR;
	if ((dns = dns_new(cfg, &err)) == NULL) {
		fprintf(stderr, "mtasts check: %s\n", err.message);
		mtasts_config_free(cfg);
		return CLI_ERROR;
	}
	colour = !cli->json && isatty(STDOUT_FILENO);
	for (i = 0; i < n; i++) {
		json_t *rep = check_domain(cfg, dns, domains[i], &errors);

		if (errors < 0)
			status = CLI_ERROR; /* not a domain: a usage error */
		else if (errors > 0 && status == CLI_OK)
			status = CLI_PROBLEM;
		if (n > 1 && isatty(STDERR_FILENO))
			cli_progress("checking", i + 1, n);
		json_array_append_new(all, rep);
	}
	if (cli->json) {
		cli_emit(cli,
		    n == 1 ? json_incref(json_array_get(all, 0))
		           : json_pack("{s:O}", "results", all));
	} else {
		json_t *rep;

		json_array_foreach(all, i, rep)
		{
			print_report(rep);
			printf("\n");
		}
		if (n > 1) {
			printf("%-40s %-10s %6s %8s\n", "domain", "mode",
			    "errors", "warnings");
			json_array_foreach(all, i, rep)
			{
				json_t *sum = json_object_get(rep, "summary");
				const char *mode = json_string_value(
				    json_object_get(rep, "mode"));

				printf("%-40s %-10s %6lld %8lld\n",
				    json_string_value(
				        json_object_get(rep, "domain")),
				    mode != NULL ? mode : "-",
				    json_integer_value(
				        json_object_get(sum, "errors")),
				    json_integer_value(
				        json_object_get(sum, "warnings")));
			}
		}
	}
	json_decref(all);
	dns_free(dns);
	mtasts_config_free(cfg);
	return status;
}

int
cmd_check(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"file", required_argument, NULL, 'f'}, CLI_COMMON_OPTIONS};
	struct cli cli = {.name = "check",
	    .usage =
	        "usage: mtasts check [--config FILE] [--json] [--file LIST] "
	        "DOMAIN...\n"
	        "The report a domain owner wants: the _mta-sts TXT record, the "
	        "policy (over\nIPv4 and IPv6, with and without a User-Agent), "
	        "its content, the MX records\nagainst its patterns, STARTTLS "
	        "and the certificate of every MX on port 25,\nTLS-RPT and "
	        "DANE.  Every finding has a code, a severity and the fix.\n"
	        "--file checks the domains of a file (one per line) with a "
	        "summary table.\nExit 0 when nothing is an error, 1 "
	        "otherwise, 2 when an operand is not a domain.\n"};
	char **domains = NULL, *text = NULL;
	size_t n = 0;
	bool done;
	int opt, status = CLI_OK;

	while ((opt = getopt_long(
	            argc, argv, "f:" CLI_COMMON_SHORT, opts, NULL)) != -1) {
		if (opt == 'f') {
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
			continue;
		}
		status = cli_common_option(&cli, opt, &done);
		if (done)
			goto out;
	}
	if (cli_push_operands(argc, argv, optind, &domains, &n) != 0)
		status = CLI_ERROR;
	else if (n == 0)
		status = cli_usage_error(&cli, "expected a DOMAIN or --file");
	else
		status = run_checks(&cli, domains, n);
out:
	free(domains);
	free(text);
	return status;
}
