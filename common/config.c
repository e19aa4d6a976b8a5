/*
 * config.c - reads the INI configuration file (libinih): global settings
 * in [mtasts].  mtasts.conf(5) documents every key.
 */
#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "domain.h"
#include "error.h"

#define DEFAULT_TRUST_ANCHOR "/usr/share/dns/root.key"

struct reader {
	struct mtasts_config *cfg;
	int failed;
	char msg[160];
};

static int
set_string(char **slot, const char *value)
{
	char *copy = strdup(value);

	if (copy == NULL)
		return -1;
	free(*slot);
	*slot = copy;
	return 0;
}

/* "2.5" seconds -> 2500 ms; 0 < value <= 1 hour. */
static int
parse_seconds(const char *value, long *ms)
{
	char *end;
	double s;

	errno = 0;
	s = strtod(value, &end);
	if (errno != 0 || end == value || *end != '\0' || !(s > 0) || s > 3600)
		return -1;
	*ms = (long)(s * 1000 + 0.5);
	return *ms > 0 ? 0 : -1;
}

static int
parse_resolver(struct mtasts_config *cfg, const char *value)
{
	if (strcmp(value, "system") == 0) {
		cfg->resolver = RESOLVER_SYSTEM;
		return 0;
	}
	if (strcmp(value, "recursive") == 0) {
		cfg->resolver = RESOLVER_RECURSIVE;
		return 0;
	}
	/* an address, optionally @port: libunbound checks it when used */
	if (strspn(value, "0123456789abcdefABCDEF.:@") != strlen(value) ||
	    value[0] == '\0')
		return -1;
	cfg->resolver = RESOLVER_FORWARD;
	return set_string(&cfg->forwarder, value);
}

static int
add_connect_to(struct mtasts_config *cfg, const char *value)
{
	char **list;

	/* HOST:PORT:CONNECT-TO-HOST:CONNECT-TO-PORT, as curl's --connect-to */
	if (strchr(value, ':') == NULL)
		return -1;
	list = realloc(
	    cfg->connect_to, (cfg->connect_to_count + 1) * sizeof(*list));
	if (list == NULL)
		return -1;
	cfg->connect_to = list;
	if ((list[cfg->connect_to_count] = strdup(value)) == NULL)
		return -1;
	cfg->connect_to_count++;
	return 0;
}

static int
set_global(struct mtasts_config *cfg, const char *name, const char *value)
{
	char *end;
	unsigned long n;

	if (strcmp(name, "resolver") == 0)
		return parse_resolver(cfg, value);
	if (strcmp(name, "trust_anchor") == 0)
		return set_string(&cfg->trust_anchor, value);
	if (strcmp(name, "ca_bundle") == 0)
		return set_string(&cfg->ca_bundle, value);
	if (strcmp(name, "ca_path") == 0)
		return set_string(&cfg->ca_path, value);
	if (strcmp(name, "proxy") == 0)
		return set_string(&cfg->proxy, value);
	if (strcmp(name, "connect_to") == 0)
		return add_connect_to(cfg, value);
	if (strcmp(name, "dns_timeout") == 0)
		return parse_seconds(value, &cfg->dns_timeout_ms);
	if (strcmp(name, "connect_timeout") == 0)
		return parse_seconds(value, &cfg->connect_timeout_ms);
	if (strcmp(name, "fetch_timeout") == 0)
		return parse_seconds(value, &cfg->fetch_timeout_ms);
	if (strcmp(name, "concurrency") == 0) {
		errno = 0;
		n = strtoul(value, &end, 10);
		if (errno != 0 || *end != '\0' || n < 1 || n > 1024)
			return -1;
		cfg->concurrency = (unsigned)n;
		return 0;
	}
	return -2;
}

/* libinih calls this for every "key = value"; a 0 return makes
 * ini_parse_file() report this line. */
static int
on_setting(void *user, const char *section, const char *name, const char *value)
{
	struct reader *r = user;
	char q[64];
	int rc;

	if (r->failed)
		return 1; /* report the first error only */
	if (strcmp(section, "mtasts") != 0) {
		snprintf(r->msg, sizeof(r->msg), "unknown section [%s]",
		    mtasts_quote(q, sizeof(q), section, strlen(section)));
		r->failed = 1;
		return 0;
	}
	rc = set_global(r->cfg, name, value);
	if (rc == -2)
		snprintf(r->msg, sizeof(r->msg), "unknown setting \"%s\"",
		    mtasts_quote(q, sizeof(q), name, strlen(name)));
	else if (rc != 0)
		snprintf(r->msg, sizeof(r->msg), "invalid value for %s: \"%s\"",
		    name, mtasts_quote(q, sizeof(q), value, strlen(value)));
	r->failed = rc != 0;
	return rc == 0;
}

static struct mtasts_config *
config_defaults(void)
{
	struct mtasts_config *cfg = calloc(1, sizeof(*cfg));

	if (cfg == NULL)
		return NULL;
	cfg->resolver = RESOLVER_SYSTEM;
	cfg->dns_timeout_ms = 5000;
	cfg->connect_timeout_ms = 5000;
	/* RFC 8461 §3.3 suggests a minute at most; an MTA waits less */
	cfg->fetch_timeout_ms = 15000;
	cfg->concurrency = 32;
	return cfg;
}

mtasts_code
mtasts_config_load(
    const char *path, struct mtasts_config **out, struct mtasts_error *err)
{
	struct mtasts_config *cfg = config_defaults();
	struct reader r = {.cfg = cfg};
	FILE *f;
	int line;

	*out = NULL;
	if (cfg == NULL)
		return mtasts_error_set(err, MTASTS_ERR_NOMEM, "out of memory");
	if (path != NULL) {
		if ((cfg->path = strdup(path)) == NULL) {
			mtasts_config_free(cfg);
			return mtasts_error_set(
			    err, MTASTS_ERR_NOMEM, "out of memory");
		}
		if ((f = fopen(path, "r")) == NULL) {
			mtasts_error_set(err, MTASTS_ERR_CONFIG, "%s: %s", path,
			    strerror(errno));
			mtasts_config_free(cfg);
			return MTASTS_ERR_CONFIG;
		}
		line = ini_parse_file(f, on_setting, &r);
		fclose(f);
		if (r.failed || line != 0) {
			mtasts_error_set(err, MTASTS_ERR_CONFIG, "%s:%d: %s",
			    path, line,
			    r.failed
			        ? r.msg
			        : "not a \"key = value\" line or a [section]");
			mtasts_config_free(cfg);
			return MTASTS_ERR_CONFIG;
		}
	}
	if (cfg->resolver == RESOLVER_RECURSIVE && cfg->trust_anchor == NULL &&
	    set_string(&cfg->trust_anchor, DEFAULT_TRUST_ANCHOR) != 0) {
		mtasts_config_free(cfg);
		return mtasts_error_set(err, MTASTS_ERR_NOMEM, "out of memory");
	}
	*out = cfg;
	return MTASTS_OK;
}

void
mtasts_config_free(struct mtasts_config *cfg)
{
	size_t i;

	if (cfg == NULL)
		return;
	for (i = 0; i < cfg->connect_to_count; i++)
		free(cfg->connect_to[i]);
	free(cfg->connect_to);
	free(cfg->path);
	free(cfg->forwarder);
	free(cfg->trust_anchor);
	free(cfg->ca_bundle);
	free(cfg->ca_path);
	free(cfg->proxy);
	free(cfg);
}
