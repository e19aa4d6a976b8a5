/*
 * lint.c - the offline subcommands: policy-lint, txt-lint, mx-match,
 * config-lint.  They parse what they are given and answer in the JSON
 * shapes of DESIGN.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "error.h"
#include "json.h"
#include "mtasts.h"

/* {"ok":false,"error":{...}} */
static json_t *
lint_failure(const struct mtasts_error *err)
{
	return json_pack(
	    "{s:b, s:o}", "ok", 0, "error", mtasts_json_error(err));
}

/* Reads and parses a policy file; *policy is NULL and err set on failure.
 * Returns -1 when the file could not be read at all. */
static int
load_policy(const struct cli *cli, const char *path,
    struct mtasts_policy **policy, struct mtasts_error *err)
{
	char *body;
	size_t len;
	bool over;

	if (cli_read_capped(
	        cli, path, MTASTS_POLICY_MAX_BYTES, &body, &len, &over) != 0)
		return -1;
	/* over the cap, the parser sees cap + 1 bytes and says too large */
	mtasts_policy_parse(body, len, policy, err);
	free(body);
	return 0;
}

int
cmd_policy_lint(int argc, char **argv)
{
	struct cli cli = {.name = "policy-lint",
	    .usage = "usage: mtasts policy-lint [--json] FILE|-\n"
	             "Parses an MTA-STS policy (RFC 8461 §3.2) and prints it, "
	             "or the first error\nwith its code.  Exit 0 when valid, 1 "
	             "when not, 2 when FILE cannot be read.\n"};
	struct mtasts_policy *policy = NULL;
	struct mtasts_error err;
	int first, status = CLI_OK;

	if ((first = cli_parse_common(&cli, argc, argv, &status)) < 0)
		return status;
	if (argc - first != 1)
		return cli_usage_error(&cli, "expected one FILE (or -)");
	if (load_policy(&cli, argv[first], &policy, &err) != 0)
		return CLI_ERROR;
	if (policy == NULL) {
		cli_emit(&cli, lint_failure(&err));
		return CLI_PROBLEM;
	}
	cli_emit(&cli,
	    json_pack(
	        "{s:b, s:o}", "ok", 1, "policy", mtasts_json_policy(policy)));
	mtasts_policy_free(policy);
	return CLI_OK;
}

int
cmd_txt_lint(int argc, char **argv)
{
	struct cli cli = {.name = "txt-lint",
	    .usage = "usage: mtasts txt-lint [--json] RECORD...\n"
	             "Parses the TXT records found at _mta-sts.<domain> "
	             "(RFC 8461 §3.1), one\nargument per record, and prints "
	             "the policy id.  Exit 0 when valid, 1 when not.\n"};
	char id[MTASTS_ID_MAX + 1];
	struct mtasts_error err;
	size_t *lens, i, n;
	int first, status = CLI_OK;

	if ((first = cli_parse_common(&cli, argc, argv, &status)) < 0)
		return status;
	if (argc - first < 1)
		return cli_usage_error(&cli, "expected at least one RECORD");
	n = (size_t)(argc - first);
	if ((lens = calloc(n, sizeof(*lens))) == NULL)
		return CLI_ERROR;
	for (i = 0; i < n; i++)
		lens[i] = strlen(argv[first + (int)i]);
	if (mtasts_txt_parse((const char *const *)argv + first, lens, n, id,
	        &err) != MTASTS_OK) {
		free(lens);
		cli_emit(&cli, lint_failure(&err));
		return CLI_PROBLEM;
	}
	free(lens);
	cli_emit(&cli, json_pack("{s:b, s:s}", "ok", 1, "id", id));
	return CLI_OK;
}

/* Builds a policy from --pattern arguments (mode enforce). */
static struct mtasts_policy *
policy_from_patterns(char **patterns, size_t n, struct mtasts_error *err)
{
	struct mtasts_policy *policy;
	size_t i, size = strlen("version: STSv1\nmode: enforce\nmax_age: 0\n");
	char *body, *p;

	/* each pattern is checked alone first, so none can smuggle in a
	 * line of its own */
	for (i = 0; i < n; i++) {
		if (mtasts_mx_pattern_check(
		        patterns[i], strlen(patterns[i]), err) != MTASTS_OK)
			return NULL;
		size += strlen("mx: \n") + strlen(patterns[i]);
	}
	if ((body = malloc(size + 1)) == NULL) {
		mtasts_error_set(err, MTASTS_ERR_NOMEM, "out of memory");
		return NULL;
	}
	p = body + sprintf(body, "version: STSv1\nmode: enforce\nmax_age: 0\n");
	for (i = 0; i < n; i++)
		p += sprintf(p, "mx: %s\n", patterns[i]);
	mtasts_policy_parse(body, (size_t)(p - body), &policy, err);
	free(body);
	return policy;
}

int
cmd_mx_match(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"policy", required_argument, NULL, 'p'},
	    {"pattern", required_argument, NULL, 'P'}, CLI_COMMON_OPTIONS};
	struct cli cli = {.name = "mx-match",
	    .usage = "usage: mtasts mx-match [--json] (--policy FILE | "
	             "--pattern P...) HOST\n"
	             "Checks an MX host name against a policy's mx patterns "
	             "(RFC 8461 §4.1):\nvalid, mode, the pattern that matched, "
	             "testing.  With --pattern (repeatable)\nthe mode reads "
	             "enforce.  Exit 0 when valid, 1 when not, 2 when the "
	             "policy\nor a pattern cannot be used.\n"};
	struct mtasts_policy *policy = NULL;
	struct mtasts_mx_result result;
	struct mtasts_error err;
	const char *policy_file = NULL;
	char **patterns;
	size_t npatterns = 0;
	bool done;
	int opt, status;

	if ((patterns = calloc((size_t)argc, sizeof(*patterns))) == NULL)
		return CLI_ERROR;
	while ((opt = getopt_long(
	            argc, argv, "p:P:" CLI_COMMON_SHORT, opts, NULL)) != -1) {
		if (opt == 'p')
			policy_file = optarg;
		else if (opt == 'P')
			patterns[npatterns++] = optarg;
		else if ((status = cli_common_option(&cli, opt, &done)), done) {
			free(patterns);
			return status;
		}
	}
	if (argc - optind != 1 || (policy_file == NULL) == (npatterns == 0)) {
		free(patterns);
		return cli_usage_error(&cli,
		    "expected --policy FILE or "
		    "--pattern P, and one HOST");
	}
	if (policy_file != NULL) {
		if (load_policy(&cli, policy_file, &policy, &err) != 0) {
			free(patterns);
			return CLI_ERROR;
		}
	} else {
		policy = policy_from_patterns(patterns, npatterns, &err);
	}
	free(patterns);
	if (policy == NULL) {
		cli_emit(&cli, lint_failure(&err));
		return CLI_ERROR;
	}
	mtasts_validate_mx(policy, argv[optind], &result);
	cli_emit(&cli, mtasts_json_mx_result(&result));
	mtasts_policy_free(policy);
	return result.valid ? CLI_OK : CLI_PROBLEM;
}

int
cmd_config_lint(int argc, char **argv)
{
	struct cli cli = {.name = "config-lint",
	    .usage = "usage: mtasts config-lint [--config FILE] [--json]\n"
	             "Reads the configuration as the Exim module and the "
	             "OpenSMTPD filter do\n(--config FILE, else $MTASTS_CONFIG, "
	             "else the default file) and says\nwhether it is read, or "
	             "refused with the line: then they defer every\ndomain.  Exit "
	             "0 when read, 1 when refused or missing.\n"};
	struct mtasts_config *cfg;
	struct mtasts_error err;
	const char *path;
	int first, status = CLI_OK;

	if ((first = cli_parse_common(&cli, argc, argv, &status)) < 0)
		return status;
	if (argc != first)
		return cli_usage_error(&cli, "expected no operand");
	path = cli_config_path(&cli);
	if (mtasts_config_load(path, &cfg, &err) != MTASTS_OK) {
		json_t *out = lint_failure(&err);

		json_object_set_new(out, "config", json_string(path));
		cli_emit(&cli, out);
		return CLI_PROBLEM;
	}
	cli_emit(&cli, json_pack("{s:b, s:s, s:I}", "ok", 1, "config", path,
	                   "overrides", (json_int_t)cfg->override_count));
	mtasts_config_free(cfg);
	return CLI_OK;
}
