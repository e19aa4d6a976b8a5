/* cli.h - what the mtasts subcommands share: options, input, output. */
#ifndef MTASTS_CLI_H
#define MTASTS_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Exit statuses (DESIGN.md): success, problem found, usage or internal. */
enum { CLI_OK = 0, CLI_PROBLEM = 1, CLI_ERROR = 2 };

/* Options every subcommand takes. */
struct cli {
	const char *name; /* subcommand */
	const char *usage; /* its synopsis and help text */
	const char *config; /* --config FILE, or NULL */
	bool json; /* --json */
};

/* Long options every subcommand accepts; end a subcommand's table with it. */
#define CLI_COMMON_OPTIONS                                                     \
	{"config", required_argument, NULL, 'c'},                              \
	    {"json", no_argument, NULL, 'j'},                                  \
	    {"help", no_argument, NULL, 'h'},                                  \
	{                                                                      \
		NULL, 0, NULL, 0                                               \
	}
#define CLI_COMMON_SHORT "c:jh"

/*
 * Handles a common option returned by getopt_long.  Returns -1 when opt is
 * not a common one, otherwise the exit status to leave with (after --help
 * or a bad option) or CLI_OK to go on.  Sets *done when the caller must
 * return that status now.
 */
int cli_common_option(struct cli *cli, int opt, bool *done);

/* Prints the subcommand's usage to stderr and returns CLI_ERROR. */
int cli_usage_error(const struct cli *cli, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Reads at most cap bytes of path ("-" for standard input) into a new
 * buffer (*buf, caller frees, NUL-terminated) and sets *over when the input
 * goes on past cap.  Returns 0, or -1 with a message printed.
 */
int cli_read_capped(const struct cli *cli, const char *path, size_t cap,
    char **buf, size_t *len, bool *over);

/*
 * Prints a result object: with --json as one JSON object on stdout, else
 * as indented "key: value" lines.  Takes the reference.
 */
void cli_emit(const struct cli *cli, json_t *obj);

struct mtasts_config;

/* A progress bar on stderr: "WHAT [#####     ] done/total". */
void cli_progress(const char *what, size_t done, size_t total);

/* Appends argv[first..argc) to *list; -1 when memory runs out. */
int cli_push_operands(
    int argc, char **argv, int first, char ***list, size_t *count);

/* Appends domain to *list (of *count); -1 when memory runs out. */
int cli_push(char ***list, size_t *count, char *domain);

/*
 * Appends the domains of a file (one per line, # comments, at most 16 MiB)
 * to *list; they point into *text, which the caller frees.  -1 with the
 * error printed.
 */
int cli_read_domains(const struct cli *cli, const char *path, char ***list,
    size_t *count, char **text);

/*
 * Loads the configuration: --config FILE, else $MTASTS_CONFIG, else
 * mtasts_config_default_path() when it exists, else the defaults.  Returns 0, or
 * -1 with the error printed.
 */
int cli_load_config(const struct cli *cli, struct mtasts_config **cfg);

/* The configuration file named: --config FILE, else $MTASTS_CONFIG, else
 * mtasts_config_default_path() (which may not exist). */
const char *cli_config_path(const struct cli *cli);

struct mtasts_ctx;

/* Loads the configuration and makes a context; -1 with the error printed. */
int cli_open(
    const struct cli *cli, struct mtasts_config **cfg, struct mtasts_ctx **ctx);

/* Parses only the common options; the index of the first operand, or -1
 * with *status set when the command must end now. */
int cli_parse_common(struct cli *cli, int argc, char **argv, int *status);

struct cache;

/* Whether the cache holds a policy for domain in force at now (a record
 * that cannot be read may: it counts as holding one). */
bool cli_cache_holds_policy(struct cache *c, const char *domain, int64_t now);

int cmd_cache(int argc, char **argv);
int cmd_metrics(int argc, char **argv);
int cmd_config_lint(int argc, char **argv);
int cmd_smtpd_reload(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_lookup(int argc, char **argv);
int cmd_refresh(int argc, char **argv);
int cmd_policy_lint(int argc, char **argv);
int cmd_txt_lint(int argc, char **argv);
int cmd_mx_match(int argc, char **argv);
int cmd_tlsrpt(int argc, char **argv);

#endif
