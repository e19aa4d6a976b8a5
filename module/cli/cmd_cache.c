/*
 * cmd_cache.c - mtasts cache (list, show, purge, lost, forget, rebuild):
 * the operator's view of the policy cache.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "cli.h"
#include "clock.h"
#include "domain.h"
#include "json.h"
#include "mtasts.h"

static json_t *
entry_json(const char *domain, const struct cache_entry *e)
{
	json_t *obj = json_pack("{s:s, s:s, s:o, s:s, s:o, s:o, s:o, s:i}",
	    "domain", domain, "status", mtasts_status_name(e->status), "policy",
	    e->policy != NULL ? mtasts_json_policy(e->policy) : json_null(),
	    "dnssec", mtasts_dnssec_name(e->dnssec), "fetched",
	    e->fetched != 0 ? mtasts_json_time(e->fetched) : json_null(),
	    "checked",
	    e->checked != 0 ? mtasts_json_time(e->checked) : json_null(),
	    "next_try",
	    e->next_try != 0 ? mtasts_json_time(e->next_try) : json_null(),
	    "failures", (int)e->failures);

	if (obj != NULL && e->error.code != MTASTS_OK)
		json_object_set_new(obj, "error", mtasts_json_error(&e->error));
	return obj;
}

static int
add_entry(void *arg, const char *domain, const struct cache_entry *e)
{
	json_array_append_new(arg, entry_json(domain, e));
	return 0;
}

static struct cache *
open_cache(const struct cli *cli, struct mtasts_config **cfg)
{
	struct mtasts_error err;
	struct cache *c;

	if (cli_load_config(cli, cfg) != 0)
		return NULL;
	if ((c = cache_open(*cfg, &err)) == NULL) {
		fprintf(stderr, "mtasts %s: %s\n", cli->name, err.message);
		mtasts_config_free(*cfg);
	}
	return c;
}

/* mtasts cache show DOMAIN / purge DOMAIN */
static int
one_domain(
    const struct cli *cli, struct cache *c, const char *verb, const char *arg)
{
	char domain[MTASTS_DOMAIN_MAX + 1];
	struct cache_entry e;
	struct mtasts_error err;
	mtasts_code rc;

	if (domain_normalize(arg, domain) != 0)
		return cli_usage_error(cli, "\"%s\" is not a domain name", arg);
	if (strcmp(verb, "purge") == 0) {
		rc = cache_del(c, domain, &err);
		if (rc == MTASTS_OK || rc == MTASTS_ERR_NOT_CACHED) {
			cli_emit(cli,
			    json_pack("{s:s, s:b}", "domain", domain, "purged",
			        rc == MTASTS_OK));
			return CLI_OK;
		}
	} else {
		rc = cache_get(c, domain, &e, &err);
		if (rc == MTASTS_OK) {
			cli_emit(cli, entry_json(domain, &e));
			cache_entry_clear(&e);
			return CLI_OK;
		}
		if (rc == MTASTS_ERR_NOT_CACHED) {
			fprintf(stderr, "mtasts %s: %s is not in the cache\n",
			    cli->name, domain);
			return CLI_PROBLEM;
		}
	}
	fprintf(stderr, "mtasts %s: %s\n", cli->name, err.message);
	return CLI_ERROR;
}

/* Whether the cache holds a policy for domain in force at now (a
 * record that cannot be read may: it counts as holding one). */
bool
cli_cache_holds_policy(struct cache *c, const char *domain, int64_t now)
{
	struct cache_entry e;
	struct mtasts_error err;
	mtasts_code rc = cache_get(c, domain, &e, &err);
	bool holds = rc != MTASTS_OK && rc != MTASTS_ERR_NOT_CACHED;

	if (rc == MTASTS_OK) {
		holds = e.policy != NULL && e.policy->expires > now;
		cache_entry_clear(&e);
	}
	return holds;
}

/* The witness's domains whose enforce policy the cache lost: their
 * policy would be in force, and the cache holds none. */
struct lost {
	struct cache *c;
	int64_t now;
	json_t *list;
	size_t count;
};

static int
add_lost(void *arg, const char *domain, int64_t until)
{
	struct lost *l = arg;

	if (until <= l->now || cli_cache_holds_policy(l->c, domain, l->now))
		return 0;
	l->count++;
	if (l->list != NULL)
		json_array_append_new(l->list,
		    json_pack("{s:s, s:o}", "domain", domain, "until",
		        until == INT64_MAX ? json_null()
		                           : mtasts_json_time(until)));
	return 0;
}

/* mtasts cache lost: exit 1 when a domain waits for its policy. */
static int
list_lost(const struct cli *cli, struct cache *c,
    const struct mtasts_config *cfg)
{
	struct lost l = {c, wall_now(), json_array(), 0};
	struct mtasts_error err;

	if (cache_witness_each(cfg, add_lost, &l, &err) != 0) {
		fprintf(stderr, "mtasts %s: %s\n", cli->name, err.message);
		json_decref(l.list);
		return CLI_ERROR;
	}
	cli_emit(cli, json_pack("{s:o}", "lost", l.list));
	return l.count > 0 ? CLI_PROBLEM : CLI_OK;
}

/* mtasts cache forget DOMAIN: the operator accepts that the cache lost
 * the domain's enforce policy; a "no policy" from the network is taken
 * again. */
static int
forget(const struct cli *cli, const struct mtasts_config *cfg,
    const char *arg)
{
	char domain[MTASTS_DOMAIN_MAX + 1];
	struct mtasts_error err;
	int rc;

	if (domain_normalize(arg, domain) != 0)
		return cli_usage_error(cli, "\"%s\" is not a domain name", arg);
	if ((rc = cache_witness_forget(cfg, domain, &err)) < 0) {
		fprintf(stderr, "mtasts %s: %s\n", cli->name, err.message);
		return CLI_ERROR;
	}
	cli_emit(cli, json_pack("{s:s, s:b}", "domain", domain, "forgotten",
	                  rc == 0));
	return CLI_OK;
}

/* mtasts cache rebuild: what still reads, in a new file. */
static int
rebuild(const struct cli *cli)
{
	struct mtasts_config *cfg = NULL;
	struct mtasts_error err;
	size_t kept;

	if (cli_load_config(cli, &cfg) != 0)
		return CLI_ERROR;
	if (cache_rebuild(cfg, &kept, &err) != MTASTS_OK) {
		fprintf(stderr, "mtasts %s: %s\n", cli->name, err.message);
		mtasts_config_free(cfg);
		return CLI_ERROR;
	}
	cli_emit(cli, json_pack("{s:b, s:I}", "rebuilt", 1, "kept",
	                  (json_int_t)kept));
	mtasts_config_free(cfg);
	return CLI_OK;
}

int
cmd_cache(int argc, char **argv)
{
	struct cli cli = {.name = "cache",
	    .usage =
	        "usage: mtasts cache [--config FILE] [--json] list|fleet\n"
	        "       mtasts cache [--config FILE] [--json] show DOMAIN\n"
	        "       mtasts cache [--config FILE] [--json] purge "
	        "DOMAIN\n"
	        "       mtasts cache [--config FILE] [--json] lost\n"
	        "       mtasts cache [--config FILE] [--json] forget "
	        "DOMAIN\n"
	        "       mtasts cache [--config FILE] [--json] rebuild\n"
	        "Lists the cached policies (fleet: those of the fleet's "
	        "Redis), shows one\ndomain's record "
	        "(policy, when fetched\nand checked, errors), or removes "
	        "a domain so that its next lookup discovers\nit afresh.  "
	        "rebuild: after the cache was damaged, keeps every record that "
	        "still\nreads in a new file (the old one stays beside it as "
	        "data.mdb.damaged).\n"
	        "lost: the domains whose enforce policy the cache held and "
	        "lost (their mail\nwaits until it is found again); forget: "
	        "accept that loss for DOMAIN.\n"};
	struct mtasts_config *cfg = NULL;
	struct mtasts_error err;
	struct cache *c;
	json_t *list;
	int first, status = CLI_OK, n;

	if ((first = cli_parse_common(&cli, argc, argv, &status)) < 0)
		return status;
	n = argc - first;
	if (n == 1 && strcmp(argv[first], "rebuild") == 0)
		return rebuild(&cli);
	if (n == 2 && strcmp(argv[first], "forget") == 0) {
		if (cli_load_config(&cli, &cfg) != 0)
			return CLI_ERROR;
		status = forget(&cli, cfg, argv[first + 1]);
		mtasts_config_free(cfg);
		return status;
	}
	if (n < 1 ||
	    ((strcmp(argv[first], "list") == 0 ||
	         strcmp(argv[first], "fleet") == 0 ||
	         strcmp(argv[first], "lost") == 0) &&
	        n != 1) ||
	    (strcmp(argv[first], "list") != 0 &&
	        strcmp(argv[first], "fleet") != 0 &&
	        strcmp(argv[first], "lost") != 0 &&
	        ((strcmp(argv[first], "show") != 0 &&
	             strcmp(argv[first], "purge") != 0) ||
	            n != 2)))
		return cli_usage_error(&cli,
		    "expected list, fleet, show DOMAIN, purge DOMAIN, lost, "
		    "forget DOMAIN or rebuild");
	if ((c = open_cache(&cli, &cfg)) == NULL)
		return CLI_ERROR;
	if (n == 2) {
		status = one_domain(&cli, c, argv[first], argv[first + 1]);
	} else if (strcmp(argv[first], "lost") == 0) {
		status = list_lost(&cli, c, cfg);
	} else {
		list = json_array();
		if ((strcmp(argv[first], "fleet") == 0
		            ? cache_fleet_each(c, add_entry, list, &err)
		            : cache_each(c, add_entry, list, &err)) !=
		    MTASTS_OK) {
			fprintf(stderr, "mtasts cache: %s\n", err.message);
			status = CLI_ERROR;
		}
		cli_emit(&cli, json_pack("{s:o}", "domains", list));
	}
	cache_close(c);
	mtasts_config_free(cfg);
	return status;
}
