/*
 * init.c - mtasts init: from a domain's live MX records, what to publish:
 * the policy file, the _mta-sts TXT record with a fresh id, a TLS-RPT
 * record, and the steps.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "clock.h"
#include "config.h"
#include "dns.h"
#include "domain.h"
#include "json.h"

/* The parent of a host name ("a.mail.example.com" -> "mail.example.com"). */
static const char *
parent(const char *host)
{
	const char *dot = strchr(host, '.');

	return dot != NULL ? dot + 1 : "";
}

/*
 * The mx lines: each MX name, except that two or more MX hosts under one
 * parent (with at least two labels) become "*.parent" (RFC 8461 §4.1: one
 * label exactly, so deeper hosts keep their own line).
 */
static void
patterns(const struct dns_answer *mx, char *out, size_t outlen, json_t *list)
{
	size_t i, k, o = 0;

	out[0] = '\0';
	for (i = 0; i < mx->count; i++) {
		const char *p = parent(mx->data[i]);
		size_t same = 0;
		char line[MTASTS_DOMAIN_MAX + 8];

		for (k = 0; k < mx->count; k++)
			if (strcasecmp(parent(mx->data[k]), p) == 0)
				same++;
		if (same >= 2 && strchr(p, '.') != NULL)
			snprintf(line, sizeof(line), "*.%s", p);
		else
			snprintf(line, sizeof(line), "%s", mx->data[i]);
		for (k = 0; k < json_array_size(list); k++)
			if (strcasecmp(
			        json_string_value(json_array_get(list, k)),
			        line) == 0)
				break;
		if (k < json_array_size(list))
			continue;
		json_array_append_new(list, json_string(line));
		o += (size_t)snprintf(
		    out + o, o < outlen ? outlen - o : 0, "mx: %s\r\n", line);
	}
}

/* RFC 7505: one MX record, of "." (the name comes out empty). */
static bool
has_null_mx(const struct dns_answer *mx)
{
	return mx->count == 1 && mx->data[0][0] == '\0';
}

/* A URI that fits in a TXT record's rua= (RFC 8460 §3): mailto: or
 * https:, printable ASCII, no separator of the record. */
static bool
is_rua(const char *rua)
{
	size_t i;

	if (strncmp(rua, "mailto:", 7) != 0 && strncmp(rua, "https:", 6) != 0)
		return false;
	for (i = 0; rua[i] != '\0'; i++)
		if (rua[i] <= ' ' || rua[i] >= 0x7f || rua[i] == ';')
			return false;
	return i < 250;
}

static int
init_domain(struct cli *cli, const char *arg, const char *mode, const char *rua,
    long max_age)
{
	struct mtasts_config *cfg = NULL;
	struct mtasts_error err;
	struct dns *dns;
	struct dns_answer *mx;
	char domain[MTASTS_DOMAIN_MAX + 1], lines[8192], policy[9000], id[32];
	char url[MTASTS_DOMAIN_MAX + 64], rua_buf[300];
	char txt_name[300], txt_value[64], rpt_name[300], rpt_value[400];
	char step1[800], step2[1400], step3[400];
	json_t *mxl = json_array(), *result;
	time_t now = (time_t)wall_now();
	struct tm tm;
	int status;

	if (domain_normalize(arg, domain) != 0)
		return cli_usage_error(cli, "\"%s\" is not a domain name", arg);
	if (cli_load_config(cli, &cfg) != 0)
		return CLI_ERROR;
	if ((dns = dns_new(cfg, &err)) == NULL) {
		fprintf(stderr, "mtasts init: %s\n", err.message);
		mtasts_config_free(cfg);
		return CLI_ERROR;
	}
	mx = dns_lookup(dns, domain, DNS_TYPE_MX, cfg->dns_timeout_ms);
	if (mx != NULL && mx->code == MTASTS_OK && has_null_mx(mx)) {
		fprintf(stderr,
		    "mtasts init: %s publishes a null MX (RFC 7505): it "
		    "receives no mail, so it has no policy to publish\n",
		    domain);
		status = CLI_PROBLEM;
		goto out;
	}
	if (mx == NULL || mx->code != MTASTS_OK || mx->count == 0) {
		fprintf(stderr, "mtasts init: %s has no MX records (%s)\n",
		    domain, mx != NULL ? mx->message : "no answer");
		status = CLI_PROBLEM;
		goto out;
	}
	patterns(mx, lines, sizeof(lines), mxl);
	/* RFC 8461 §3.2, with CRLF as its text shows */
	snprintf(policy, sizeof(policy),
	    "version: STSv1\r\nmode: %s\r\n%smax_age: %ld\r\n", mode, lines,
	    max_age);
	/* a fresh id: the time, in the 1-32 letters and digits of §3.1 */
	gmtime_r(&now, &tm);
	strftime(id, sizeof(id), "%Y%m%d%H%M%S", &tm);
	snprintf(url, sizeof(url), "https://mta-sts.%s/.well-known/mta-sts.txt",
	    domain);
	if (rua == NULL) {
		snprintf(
		    rua_buf, sizeof(rua_buf), "mailto:tls-reports@%s", domain);
		rua = rua_buf;
	}
	snprintf(txt_name, sizeof(txt_name), "_mta-sts.%s", domain);
	snprintf(txt_value, sizeof(txt_value), "v=STSv1; id=%s", id);
	snprintf(rpt_name, sizeof(rpt_name), "_smtp._tls.%s", domain);
	snprintf(rpt_value, sizeof(rpt_value), "v=TLSRPTv1; rua=%s", rua);
	snprintf(step1, sizeof(step1),
	    "Serve the policy at %s over HTTPS, with a certificate valid for "
	    "mta-sts.%s, as Content-Type text/plain, keeping its CRLF line "
	    "ends.",
	    url, domain);
	snprintf(step2, sizeof(step2),
	    "Publish TXT %s \"%s\" and TXT %s \"%s\"; change the id "
	    "whenever the policy changes.",
	    txt_name, txt_value, rpt_name, rpt_value);
	snprintf(step3, sizeof(step3),
	    "Run mtasts check %s; in testing mode, read the TLS-RPT reports "
	    "before moving to enforce.",
	    domain);
	result = json_pack("{s:s, s:s, s:s, s:O, s:{s:s, s:s}, s:{s:s, s:s}, "
	                   "s:[s, s, s]}",
	    "domain", domain, "policy", policy, "policy_url", url, "mx", mxl,
	    "mta_sts_txt", "name", txt_name, "value", txt_value, "tls_rpt_txt",
	    "name", rpt_name, "value", rpt_value, "steps", step1, step2, step3);
	status = result != NULL ? CLI_OK : CLI_ERROR;
	cli_emit(cli, result);
out:
	json_decref(mxl);
	dns_answer_free(mx);
	dns_free(dns);
	mtasts_config_free(cfg);
	return status;
}

int
cmd_init(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"mode", required_argument, NULL, 'm'},
	    {"rua", required_argument, NULL, 'r'},
	    {"max-age", required_argument, NULL, 'a'}, CLI_COMMON_OPTIONS};
	struct cli cli = {.name = "init",
	    .usage =
	        "usage: mtasts init [--config FILE] [--json] "
	        "[--mode testing|enforce] [--rua URI]\n"
	        "                   [--max-age SECONDS] DOMAIN\n"
	        "From DOMAIN's live MX records, prints what to publish: the "
	        "policy file (mode\ntesting unless --mode enforce; "
	        "several MX under one parent become \"*.\"),\nthe "
	        "_mta-sts TXT record with a fresh id, a TLS-RPT record "
	        "(--rua, default\nmailto:tls-reports@DOMAIN) and the "
	        "steps.  max_age: a day in testing, two\nweeks in "
	        "enforce.\n"};
	const char *mode = "testing", *rua = NULL;
	long max_age = -1;
	bool done, bad_max_age = false;
	int opt, status;
	char *end;

	while ((opt = getopt_long(
	            argc, argv, "m:r:a:" CLI_COMMON_SHORT, opts, NULL)) != -1) {
		if (opt == 'm')
			mode = optarg;
		else if (opt == 'r')
			rua = optarg;
		else if (opt == 'a') {
			errno = 0;
			max_age = strtol(optarg, &end, 10);
			bad_max_age = end == optarg || *end != '\0' ||
			    errno != 0 || max_age < 0;
		} else if ((status = cli_common_option(&cli, opt, &done)), done)
			return status;
	}
	if (strcmp(mode, "testing") != 0 && strcmp(mode, "enforce") != 0)
		return cli_usage_error(&cli, "--mode is testing or enforce");
	if (rua != NULL && !is_rua(rua))
		return cli_usage_error(&cli,
		    "--rua is one mailto: or https: URI, without spaces or "
		    "';'");
	if (max_age == -1 && !bad_max_age)
		max_age = strcmp(mode, "enforce") == 0 ? 1209600 : 86400;
	if (bad_max_age || max_age > (long)MTASTS_MAX_AGE_LIMIT)
		return cli_usage_error(
		    &cli, "--max-age is 0 to %u", MTASTS_MAX_AGE_LIMIT);
	if (argc - optind != 1)
		return cli_usage_error(&cli, "expected one DOMAIN");
	return init_domain(&cli, argv[optind], mode, rua, max_age);
}
