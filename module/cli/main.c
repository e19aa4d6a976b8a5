/* main.c - the mtasts command: subcommand dispatch and shared plumbing. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "mtasts.h"
#include "mtasts_version.h"

#define DOMAIN_LIST_MAX (16 * 1024 * 1024)

static const struct {
	const char *name;
	int (*run)(int, char **);
	const char *summary;
} commands[] = {
    {"lookup", cmd_lookup, "discover the policy of domains (RFC 8461 §3)"},
    {"check", cmd_check,
        "the report a domain owner wants: records, policy, every MX"},
    {"init", cmd_init, "print the policy and records to publish"},
    {"refresh", cmd_refresh,
        "refresh cached policies before they expire (RFC 8461 §5.1)"},
    {"cache", cmd_cache,
        "list, show, purge, rebuild the cache; lost, forget policies it lost"},
    {"metrics", cmd_metrics,
        "what an operator watches, in the Prometheus text format"},
    {"tlsrpt", cmd_tlsrpt,
        "TLS reports (RFC 8460): show what was counted, send the reports"},
    {"smtpd-reload", cmd_smtpd_reload,
        "have OpenSMTPD load the enforce table (as root)"},
    {"policy-lint", cmd_policy_lint, "parse a policy file (RFC 8461 §3.2)"},
    {"txt-lint", cmd_txt_lint,
        "parse the TXT records of _mta-sts.<domain> (§3.1)"},
    {"mx-match", cmd_mx_match, "check an MX host name against a policy (§4.1)"},
    {"config-lint", cmd_config_lint,
        "read the configuration as the adapters do: refused, or read"},
};

static int
usage(FILE *f)
{
	size_t i;

	fprintf(f,
	    "usage: mtasts SUBCOMMAND [--config FILE] [--json] ...\n\n"
	    "MTA-STS (RFC 8461) for mail operators.  Subcommands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(
		    f, "  %-12s %s\n", commands[i].name, commands[i].summary);
	fprintf(f,
	    "\n'mtasts SUBCOMMAND --help' says more.  Exit status: "
	    "0 success, 1 problem found, 2 usage or internal error.\n");
	return f == stdout ? CLI_OK : CLI_ERROR;
}

int
main(int argc, char **argv)
{
	size_t i;

	if (argc < 2)
		return usage(stderr);
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0)
		return usage(stdout);
	if (strcmp(argv[1], "--version") == 0) {
		printf("mtasts %s\n", MTASTS_VERSION);
		return CLI_OK;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "mtasts: unknown subcommand \"%s\"\n\n", argv[1]);
	return usage(stderr);
}

int
cli_common_option(struct cli *cli, int opt, bool *done)
{
	*done = false;
	switch (opt) {
	case 'c':
		cli->config = optarg;
		return CLI_OK;
	case 'j':
		cli->json = true;
		return CLI_OK;
	case 'h':
		*done = true;
		printf("%s", cli->usage);
		return CLI_OK;
	case '?':
		*done = true;
		return cli_usage_error(cli, NULL);
	}
	return -1;
}

int
cli_usage_error(const struct cli *cli, const char *fmt, ...)
{
	va_list ap;

	if (fmt != NULL) {
		fprintf(stderr, "mtasts %s: ", cli->name);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
	fprintf(stderr, "%s", cli->usage);
	return CLI_ERROR;
}

const char *
cli_config_path(const struct cli *cli)
{
	const char *path = cli->config;

	if (path == NULL)
		path = getenv("MTASTS_CONFIG");
	return path != NULL ? path : mtasts_config_default_path();
}

int
cli_load_config(const struct cli *cli, struct mtasts_config **cfg)
{
	const char *path = cli_config_path(cli);
	struct mtasts_error err;

	/* only the default file may be absent: the command then runs on
	 * the defaults (a named file that cannot be read is an error) */
	if (cli->config == NULL && getenv("MTASTS_CONFIG") == NULL &&
	    access(path, F_OK) != 0)
		path = NULL;
	if (mtasts_config_load(path, cfg, &err) != MTASTS_OK) {
		fprintf(stderr, "mtasts %s: %s\n", cli->name, err.message);
		return -1;
	}
	return 0;
}

int
cli_open(
    const struct cli *cli, struct mtasts_config **cfg, struct mtasts_ctx **ctx)
{
	struct mtasts_error err;

	if (cli_load_config(cli, cfg) != 0)
		return -1;
	if (mtasts_ctx_new(*cfg, ctx, &err) != MTASTS_OK) {
		fprintf(stderr, "mtasts %s: %s\n", cli->name, err.message);
		mtasts_config_free(*cfg);
		*cfg = NULL;
		return -1;
	}
	return 0;
}

int
cli_parse_common(struct cli *cli, int argc, char **argv, int *status)
{
	static const struct option opts[] = {CLI_COMMON_OPTIONS};
	bool done;
	int opt;

	while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORT, opts, NULL)) !=
	    -1) {
		*status = cli_common_option(cli, opt, &done);
		if (done)
			return -1;
	}
	return optind;
}

int
cli_read_capped(const struct cli *cli, const char *path, size_t cap, char **buf,
    size_t *len, bool *over)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	char *b;
	size_t n;

	if (f == NULL) {
		fprintf(stderr, "mtasts %s: %s: %s\n", cli->name, path,
		    strerror(errno));
		return -1;
	}
	/* one byte more than the cap tells "exactly cap" from "more" */
	if ((b = malloc(cap + 2)) == NULL) {
		fprintf(stderr, "mtasts %s: out of memory\n", cli->name);
		if (f != stdin)
			fclose(f);
		return -1;
	}
	n = fread(b, 1, cap + 1, f);
	if (ferror(f)) {
		fprintf(stderr, "mtasts %s: %s: read error\n", cli->name, path);
		free(b);
		if (f != stdin)
			fclose(f);
		return -1;
	}
	if (f != stdin)
		fclose(f);
	*over = n > cap;
	b[n] = '\0';
	*buf = b;
	*len = n;
	return 0;
}

static void
print_value(const char *key, json_t *v, int depth)
{
	const char *k;
	json_t *item;
	size_t i;

	/* key is NULL for an array item */
	printf("%*s%s%s", depth * 2, "", key != NULL ? key : "-",
	    key != NULL ? ":" : "");
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		printf("\n");
		json_object_foreach(v, k, item) if (!json_is_null(item))
		    print_value(k, item, depth + 1);
		return;
	case JSON_ARRAY:
		if (json_array_size(v) == 0) {
			printf(" (none)\n");
			return;
		}
		printf("\n");
		json_array_foreach(v, i, item)
		    print_value(NULL, item, depth + 1);
		return;
	case JSON_STRING:
		printf(" %s\n", json_string_value(v));
		return;
	case JSON_INTEGER:
		printf(" %" JSON_INTEGER_FORMAT "\n", json_integer_value(v));
		return;
	case JSON_TRUE:
		printf(" yes\n");
		return;
	case JSON_FALSE:
		printf(" no\n");
		return;
	default:
		printf(" -\n");
		return;
	}
}

void
cli_emit(const struct cli *cli, json_t *obj)
{
	const char *k;
	json_t *v;

	if (obj == NULL) {
		fprintf(stderr, "mtasts %s: out of memory\n", cli->name);
		return;
	}
	if (cli->json) {
		if (json_dumpf(
		        obj, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0)
			fprintf(stderr,
			    "mtasts %s: the JSON could not be written\n",
			    cli->name);
		fputc('\n', stdout);
	} else {
		json_object_foreach(obj, k, v) if (!json_is_null(v))
		    print_value(k, v, 0);
	}
	json_decref(obj);
}

int
cli_push(char ***list, size_t *count, char *domain)
{
	char **grown = realloc(*list, (*count + 1) * sizeof(**list));

	if (grown == NULL)
		return -1;
	*list = grown;
	(*list)[(*count)++] = domain;
	return 0;
}

int
cli_read_domains(const struct cli *cli, const char *path, char ***list,
    size_t *count, char **text)
{
	size_t len;
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
		line += strspn(line, " \t");
		line[strcspn(line, " \t#")] = '\0';
		if (line[0] != '\0' && cli_push(list, count, line) != 0)
			return -1;
	}
	return 0;
}

void
cli_progress(const char *what, size_t done, size_t total)
{
	int width = 40,
	    filled = total ? (int)(done * (size_t)width / total) : 0;

	fprintf(stderr, "\r%s [%.*s%*s] %zu/%zu", what, filled,
	    "########################################", width - filled, "",
	    done, total);
	if (done == total)
		fputc('\n', stderr);
}

int
cli_push_operands(int argc, char **argv, int first, char ***list, size_t *count)
{
	int i;

	for (i = first; i < argc; i++)
		if (cli_push(list, count, argv[i]) != 0)
			return -1;
	return 0;
}
