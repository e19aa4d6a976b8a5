/*
 * config.c - reads the INI configuration file (libinih): global settings
 * in [mtasts].  mtasts.conf(5) documents every key.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "redis_soname.h" /* MTASTS_HIREDIS_SSL: rediss:// */
#include "domain.h"
#include "error.h"

#define DEFAULT_TRUST_ANCHOR "/usr/share/dns/root.key"
#define DEFAULT_CACHE_DIR "/var/lib/mtasts"
/* apart from the cache: the MTA's transports write it, and they must
 * not be able to write the cache */
#define DEFAULT_TLSRPT_SPOOL "/var/spool/mtasts"
/* the local MTA: Debian's Exim, OpenSMTPD and Postfix listen there and
 * relay for it */
#define DEFAULT_TLSRPT_RELAY "127.0.0.1"

/* Settings given once per section (the others, lists, repeat). */
struct seen {
	char names[64][32]; /* 40 names are known, none over 28 bytes */
	size_t count;
};

struct reader {
	struct mtasts_config *cfg;
	int failed;
	char msg[160];
	/* the section being read, whole (libinih keeps 49 bytes of it) */
	char header[MTASTS_DOMAIN_MAX + 16];
	char section[300]; /* the section the last override was made for */
	struct seen global, domain; /* [mtasts]'s, this [domain]'s */
	int line, failed_line; /* the line being read, the one refused */
	bool named_mtasts; /* the file has its [mtasts] section */
};

static int
set_string(char **slot, const char *value)
{
	char *copy;

	/* "proxy =" is no proxy to the reader, a proxy to the code */
	if (value[0] == '\0' || (copy = strdup(value)) == NULL)
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

/* A whole number of seconds, min..max. */
static int
parse_whole(const char *value, long min, long max, long *out)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(value, &end, 10);
	if (errno != 0 || end == value || *end != '\0' || n < min || n > max)
		return -1;
	*out = n;
	return 0;
}

/*
 * A store's backend: a name, looked up in its door's table when the store
 * is opened (store/cache.c, tlsrpt/tlsrpt_store.c), which says "no such
 * backend"; the configuration sits below the stores and knows none.
 */
static int
set_backend(char **out, const char *value)
{
	if (value[0] == '\0' ||
	    strspn(value, "abcdefghijklmnopqrstuvwxyz0123456789") !=
	        strlen(value))
		return -1;
	return set_string(out, value);
}

static int
set_cache(struct mtasts_config *cfg, const char *name, const char *value)
{
	long n;
	char *end;

	if (strcmp(name, "cache_dir") == 0) {
		if (strcmp(value, "none") == 0) {
			free(cfg->cache_dir);
			cfg->cache_dir = NULL;
			return 0;
		}
		return value[0] == '/' ? set_string(&cfg->cache_dir, value)
		                       : -1;
	}
	if (strcmp(name, "cache_size") == 0) { /* MiB */
		if (parse_whole(value, 1, 65536, &n) != 0)
			return -1;
		cfg->cache_size = (size_t)n << 20;
		return 0;
	}
	if (strcmp(name, "cache_mode") == 0) {
		errno = 0;
		n = strtol(value, &end, 8);
		if (errno != 0 || *end != '\0' || n < 0600 || n > 0666)
			return -1;
		cfg->cache_mode = (unsigned)n;
		return 0;
	}
	if (strcmp(name, "cache_group") == 0)
		return set_string(&cfg->cache_group, value);
	if (strcmp(name, "cache_backend") == 0)
		return set_backend(&cfg->cache_backend, value);
	if (strcmp(name, "txt_recheck") == 0)
		return parse_whole(value, 0, 86400, &cfg->txt_recheck);
	if (strcmp(name, "negative_ttl") == 0)
		return parse_whole(value, 0, 86400, &cfg->negative_ttl);
	if (strcmp(name, "error_retry") == 0)
		return parse_whole(value, 0, 3600, &cfg->error_retry);
	if (strcmp(name, "refresh_interval") == 0)
		return parse_whole(value, 60, 31557600, &cfg->refresh_interval);
	if (strcmp(name, "refresh_window") == 0)
		return parse_whole(value, 0, 315576000, &cfg->refresh_window);
	return -2;
}

static int parse_bool(const char *value, bool *out);

/* HOST[:PORT]: an IPv4 literal, or an IPv6 one in brackets ([::1]:25; a
 * bare ::1:25 would read as an address), the port 25 unless given. */
static int
parse_relay(struct mtasts_config *cfg, const char *value)
{
	char host[INET6_ADDRSTRLEN];
	unsigned char address[sizeof(struct in6_addr)];
	bool v6 = value[0] == '[';
	const char *start = value + v6, *rest;
	long port = 25;
	size_t n;

	n = v6 ? strcspn(start, "]") : strcspn(start, ":");
	rest = start + n + v6;
	if (n == 0 || n >= sizeof(host) || (v6 && start[n] != ']'))
		return -1;
	memcpy(host, start, n);
	host[n] = '\0';
	if (inet_pton(v6 ? AF_INET6 : AF_INET, host, address) != 1)
		return -1;
	if (rest[0] == ':' &&
	    (rest[1] < '0' || rest[1] > '9' ||
	        parse_whole(rest + 1, 1, 65535, &port) != 0))
		return -1;
	if (rest[0] != ':' && rest[0] != '\0')
		return -1;
	cfg->tlsrpt_relay_port = (int)port;
	return set_string(&cfg->tlsrpt_relay, host);
}

static int
set_tlsrpt(struct mtasts_config *cfg, const char *name, const char *value)
{
	long n;

	if (strcmp(name, "tlsrpt") == 0)
		return parse_bool(value, &cfg->tlsrpt);
	if (strcmp(name, "tlsrpt_dir") == 0)
		return value[0] == '/' ? set_string(&cfg->tlsrpt_dir, value)
		                       : -1;
	if (strcmp(name, "tlsrpt_backend") == 0)
		return set_backend(&cfg->tlsrpt_backend, value);
	if (strcmp(name, "tlsrpt_spool") == 0)
		return value[0] == '/' ? set_string(&cfg->tlsrpt_spool, value)
		                       : -1;
	if (strcmp(name, "tlsrpt_size") == 0) { /* MiB */
		if (parse_whole(value, 1, 4096, &n) != 0)
			return -1;
		cfg->tlsrpt_size = (size_t)n << 20;
		return 0;
	}
	if (strcmp(name, "tlsrpt_details") == 0)
		return parse_whole(value, 0, 10000, &cfg->tlsrpt_details);
	/* text that goes into JSON and mail headers: no quote, no escape
	 * (read_line refuses control characters) */
	if (strcmp(name, "tlsrpt_organization") == 0)
		return strcspn(value, "\"\\") == strlen(value)
		    ? set_string(&cfg->tlsrpt_org, value)
		    : -1;
	if (strcmp(name, "tlsrpt_contact") == 0)
		return strcspn(value, "\"\\") == strlen(value)
		    ? set_string(&cfg->tlsrpt_contact, value)
		    : -1;
	if (strcmp(name, "tlsrpt_submitter") == 0)
		return domain_is_valid(value, strlen(value))
		    ? set_string(&cfg->tlsrpt_submitter, value)
		    : -1;
	if (strcmp(name, "tlsrpt_from") == 0)
		return strchr(value, '@') != NULL && strcspn(value, " <>") == strlen(value)
		    ? set_string(&cfg->tlsrpt_from, value) : -1;
	if (strcmp(name, "tlsrpt_relay") == 0)
		return parse_relay(cfg, value);
	if (strcmp(name, "sendmail") == 0)
		return value[0] == '/' ? set_string(&cfg->sendmail, value) : -1;
	return -2;
}

/* The fleet's host: a DNS name, an IPv4 literal or an IPv6 one in
 * brackets, into host (of size 256); *rest is what follows it. */
static int
fleet_host(const char *start, char *host, const char **rest)
{
	unsigned char address[sizeof(struct in6_addr)];
	bool v6 = start[0] == '[';
	size_t n;

	start += v6;
	n = v6 ? strcspn(start, "]") : strcspn(start, ":/,");
	if (n == 0 || n >= 256 || (v6 && start[n] != ']'))
		return -1;
	memcpy(host, start, n);
	host[n] = '\0';
	if (v6 ? inet_pton(AF_INET6, host, address) != 1
	       : strspn(host, "abcdefghijklmnopqrstuvwxyz"
	                      "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") != n)
		return -1;
	*rest = start + n + v6;
	return 0;
}

/* [:PORT] after a host: *port (left as it is without one), *rest after */
static int
fleet_port(const char **rest, long *port)
{
	const char *p = *rest;
	char digits[8];
	size_t n;

	if (p[0] != ':')
		return 0;
	n = strspn(p + 1, "0123456789");
	if (n == 0 || n >= sizeof(digits))
		return -1;
	memcpy(digits, p + 1, n);
	digits[n] = '\0';
	if (parse_whole(digits, 1, 65535, port) != 0)
		return -1;
	*rest = p + 1 + n;
	return 0;
}

/* HOST[:PORT][/DB] after redis:// */
static int
fleet_tcp(struct mtasts_config *cfg, const char *start)
{
	char host[256];
	const char *rest;
	long port = 6379, db = 0;

	if (fleet_host(start, host, &rest) != 0 ||
	    fleet_port(&rest, &port) != 0)
		return -1;
	if (rest[0] == '/' && rest[1] != '\0') {
		if (rest[1] < '0' || rest[1] > '9' ||
		    parse_whole(rest + 1, 0, 65535, &db) != 0)
			return -1;
	} else if (rest[0] != '\0' && strcmp(rest, "/") != 0) {
		return -1;
	}
	cfg->fleet_port = (int)port;
	cfg->fleet_db = (int)db;
	return set_string(&cfg->fleet_host, host);
}

/* H1[:P1],H2[:P2]/MASTER after redis-sentinel:// (Sentinel's port
 * 26379 by default); the master's name as Sentinel's configuration
 * spells one. */
static int
fleet_sentinel(struct mtasts_config *cfg, const char *start)
{
	char host[256];
	const char *rest = start;
	long port;
	size_t n;

	do {
		port = 26379;
		if (cfg->fleet_sentinels == FLEET_SENTINELS_MAX ||
		    fleet_host(rest + (rest != start), host, &rest) != 0 ||
		    fleet_port(&rest, &port) != 0 ||
		    (rest[0] != ',' && rest[0] != '/'))
			return -1;
		n = cfg->fleet_sentinels++;
		if ((cfg->fleet_sentinel_host[n] = strdup(host)) == NULL)
			return -1;
		cfg->fleet_sentinel_port[n] = (int)port;
	} while (rest[0] == ',');
	n = strlen(++rest);
	if (n == 0 || n > FLEET_MASTER_MAX ||
	    strspn(rest, "abcdefghijklmnopqrstuvwxyz"
	                 "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != n)
		return -1;
	return set_string(&cfg->fleet_master, rest);
}

/* What a fleet = line set before: a later line replaces it whole. */
static void
fleet_clear(struct mtasts_config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->fleet_sentinels; i++)
		free(cfg->fleet_sentinel_host[i]);
	cfg->fleet_sentinels = 0;
	free(cfg->fleet_master);
	cfg->fleet_master = NULL;
	cfg->fleet = FLEET_NONE;
	cfg->fleet_tls = false;
}

/* redis+unix:///PATH[?db=DB] */
static int
fleet_socket(struct mtasts_config *cfg, const char *path)
{
	const char *query = strchr(path, '?');
	char *copy;
	long db = 0;

	if (path[0] != '/' || path[1] == '\0' || query == path + 1)
		return -1;
	if (query != NULL && (strncmp(query, "?db=", 4) != 0 ||
	                         query[4] < '0' || query[4] > '9' ||
	                         parse_whole(query + 4, 0, 65535, &db) != 0))
		return -1;
	copy = query != NULL ? strndup(path, (size_t)(query - path))
	                     : strdup(path);
	if (copy == NULL)
		return -1;
	free(cfg->fleet_socket);
	cfg->fleet_socket = copy;
	cfg->fleet_db = (int)db;
	return 0;
}

/*
 * fleet = URL.  The value is never repeated in a message: a URL may hold
 * a password (which belongs in fleet_password_file).  Returns 0, -2 for
 * another setting, or -5 with r->msg said.
 */
static int
set_fleet_url(struct reader *r, const char *value)
{
	struct mtasts_config *cfg = r->cfg;
	int rc = -1;

	if (strchr(value, '@') != NULL) {
		snprintf(r->msg, sizeof(r->msg),
		    "fleet: no password or user in the URL (not repeated "
		    "here): put them in fleet_password_file");
		return -5;
	}
#ifndef MTASTS_HIREDIS_SSL
	/* never a cleartext connection instead */
	if (strncmp(value, "rediss://", 9) == 0) {
		snprintf(r->msg, sizeof(r->msg),
		    "fleet: rediss://: this build's hiredis has no TLS "
		    "(Debian 12); use a unix socket (redis+unix:///PATH) or "
		    "a private network (redis://HOST)");
		return -5;
	}
#endif
	fleet_clear(cfg);
	if (strncmp(value, "redis://", 8) == 0) {
		cfg->fleet = FLEET_TCP;
		rc = fleet_tcp(cfg, value + 8);
	} else if (strncmp(value, "rediss://", 9) == 0) {
		cfg->fleet = FLEET_TCP;
		cfg->fleet_tls = true;
		rc = fleet_tcp(cfg, value + 9);
	} else if (strncmp(value, "redis+unix://", 13) == 0) {
		cfg->fleet = FLEET_UNIX;
		rc = fleet_socket(cfg, value + 13);
	} else if (strncmp(value, "redis-sentinel://", 17) == 0) {
		cfg->fleet = FLEET_SENTINEL;
		rc = fleet_sentinel(cfg, value + 17);
	}
	if (rc != 0) {
		fleet_clear(cfg);
		snprintf(r->msg, sizeof(r->msg),
		    "invalid value for fleet (not repeated here): "
		    "redis[s]://HOST[:PORT][/DB], redis+unix:///PATH[?db=DB] or "
		    "redis-sentinel://HOST[:PORT],.../MASTER");
		return -5;
	}
	return 0;
}

/* A word that goes into the fleet's keys: no ':' (which separates
 * them), nothing Redis' glob patterns read. */
static bool
key_word(const char *value)
{
	return value[0] != '\0' && strlen(value) <= 64 &&
	    strspn(value, "abcdefghijklmnopqrstuvwxyz"
	                  "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") ==
	        strlen(value);
}

/* The fleet's settings (store/redis/): -2 for another setting. */
static int
set_fleet(struct reader *r, const char *name, const char *value)
{
	struct mtasts_config *cfg = r->cfg;

	if (strcmp(name, "fleet") == 0)
		return set_fleet_url(r, value);
	if (strcmp(name, "fleet_name") == 0) /* a key prefix */
		return key_word(value) ? set_string(&cfg->fleet_name, value)
		                       : -1;
	/* names this node's spool offsets (redis_tlsrpt.c) */
	if (strcmp(name, "fleet_node") == 0)
		return key_word(value) ? set_string(&cfg->fleet_node, value)
		                       : -1;
	if (strcmp(name, "fleet_password_file") == 0)
		return value[0] == '/'
		    ? set_string(&cfg->fleet_password_file, value)
		    : -1;
	if (strcmp(name, "fleet_sentinel_password_file") == 0)
		return value[0] == '/'
		    ? set_string(&cfg->fleet_sentinel_password_file, value)
		    : -1;
	if (strcmp(name, "fleet_ca_file") == 0) /* rediss:// */
		return value[0] == '/' ? set_string(&cfg->fleet_ca_file, value)
		                       : -1;
	if (strcmp(name, "fleet_strict") == 0)
		return parse_bool(value, &cfg->fleet_strict);
	if (strcmp(name, "fleet_timeout") == 0)
		return parse_seconds(value, &cfg->fleet_timeout_ms);
	return -2;
}

static int
set_global(struct mtasts_config *cfg, const char *name, const char *value)
{
	char *end;
	unsigned long n;
	int rc;

	if ((rc = set_cache(cfg, name, value)) != -2 ||
	    (rc = set_tlsrpt(cfg, name, value)) != -2)
		return rc;

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

static int
parse_bool(const char *value, bool *out)
{
	if (strcmp(value, "yes") == 0 || strcmp(value, "true") == 0 ||
	    strcmp(value, "1") == 0)
		*out = true;
	else if (strcmp(value, "no") == 0 || strcmp(value, "false") == 0 ||
	    strcmp(value, "0") == 0)
		*out = false;
	else
		return -1;
	return 0;
}

/* The override of section "domain NAME", made when first seen. */
static struct override *
section_override(struct reader *r, const char *section)
{
	struct mtasts_config *cfg = r->cfg;
	const char *raw = strchr(section, ' ') + 1; /* "domain NAME" */
	char name[MTASTS_DOMAIN_MAX + 1];
	size_t i;
	struct override *grown, *o;

	if (strcmp(r->section, section) == 0)
		return &cfg->overrides[cfg->override_count - 1];
	/* as lookups name it: A-labels, lower case, no trailing dot */
	if (domain_normalize(raw, name) != 0)
		return NULL;
	for (i = 0; i < cfg->override_count; i++)
		if (strcmp(cfg->overrides[i].domain, name) == 0)
			return NULL; /* the same domain twice */
	grown =
	    realloc(cfg->overrides, (cfg->override_count + 1) * sizeof(*grown));
	if (grown == NULL)
		return NULL;
	cfg->overrides = grown;
	o = &grown[cfg->override_count];
	memset(o, 0, sizeof(*o));
	if ((o->domain = strdup(name)) == NULL)
		return NULL;
	cfg->override_count++;
	snprintf(r->section, sizeof(r->section), "%s", section);
	return o;
}

static int
set_override(struct override *o, const char *name, const char *value)
{
	char **grown;

	if (strcmp(name, "skip") == 0)
		return parse_bool(value, &o->skip);
	if (strcmp(name, "mode") == 0) {
		o->has_mode = true;
		if (strcmp(value, "enforce") == 0)
			o->mode = MTASTS_MODE_ENFORCE;
		else if (strcmp(value, "testing") == 0)
			o->mode = MTASTS_MODE_TESTING;
		else if (strcmp(value, "none") == 0)
			o->mode = MTASTS_MODE_NONE;
		else
			return -1;
		return 0;
	}
	if (strcmp(name, "mx") == 0) {
		if (mtasts_mx_pattern_check(value, strlen(value), NULL) !=
		    MTASTS_OK)
			return -1;
		grown = realloc(o->mx, (o->mx_count + 1) * sizeof(*grown));
		if (grown == NULL)
			return -1;
		o->mx = grown;
		/* as the policy parser keeps patterns: lower case, without
		 * the trailing dot (the adapters build host lists from them) */
		if ((o->mx[o->mx_count] = strndup(
		         value, domain_trim_dot(value, strlen(value)))) == NULL)
			return -1;
		for (char *c = o->mx[o->mx_count]; *c != '\0'; c++)
			if (*c >= 'A' && *c <= 'Z')
				*c = (char)(*c - 'A' + 'a');
		o->mx_count++;
		return 0;
	}
	return -2;
}

const struct override *
config_override(const struct mtasts_config *cfg, const char *domain)
{
	size_t i;

	for (i = 0; i < cfg->override_count; i++)
		if (strcmp(cfg->overrides[i].domain, domain) == 0)
			return &cfg->overrides[i];
	return NULL;
}

static bool
given(const struct seen *seen, const char *name)
{
	size_t i;

	for (i = 0; i < seen->count; i++)
		if (strcmp(seen->names[i], name) == 0)
			return true;
	return false;
}

/* Whether name is given for the first time in its section; the lists
 * (mx, connect_to) may be given again and again. */
static bool
given_first_time(struct seen *seen, const char *name)
{
	if (strcmp(name, "mx") == 0 || strcmp(name, "connect_to") == 0)
		return true;
	if (given(seen, name))
		return false;
	/* a name that could not be kept could not be told again: refused
	 * (none of the known names is so long or so many) */
	if (seen->count == sizeof(seen->names) / sizeof(seen->names[0]) ||
	    strlen(name) >= sizeof(seen->names[0]))
		return false;
	snprintf(seen->names[seen->count++], sizeof(seen->names[0]), "%s",
	    name);
	return true;
}

/* libinih calls this for every "key = value"; a 0 return makes
 * ini_parse_file() report this line. */
static int
on_setting(void *user, const char *section, const char *name, const char *value)
{
	struct reader *r = user;
	char q[64], n[32];
	int rc;

	if (r->failed)
		return 1; /* report the first error only */
	r->failed_line = r->line; /* what fails below fails here */
	/* libinih's copy of the section's name is cut at 49 bytes */
	if (strncmp(r->header, section, strlen(section)) != 0) {
		snprintf(r->msg, sizeof(r->msg), "the section was misread");
		r->failed = 1;
		return 0;
	}
	section = r->header;
	if (strncmp(section, "domain ", 7) == 0) {
		struct override *o = section_override(r, section);

		if (o == NULL) {
			snprintf(r->msg, sizeof(r->msg),
			    "[%s]: not a domain name, or given twice",
			    mtasts_quote(
			        q, sizeof(q), section, strlen(section)));
			r->failed = 1;
			return 0;
		}
		rc = set_override(o, name, value);
	} else if (strcmp(section, "mtasts") == 0) {
		if ((rc = set_fleet(r, name, value)) == -2)
			rc = set_global(r->cfg, name, value);
	} else {
		snprintf(r->msg, sizeof(r->msg), "unknown section [%s]",
		    mtasts_quote(q, sizeof(q), section, strlen(section)));
		r->failed = 1;
		return 0;
	}
	if (rc == 0 && !given_first_time(section[0] == 'd' ? &r->domain : &r->global, name))
		rc = -3;
	/* mailto: reports go one way: which one would be a guess */
	if (rc == 0 && section[0] == 'm' &&
	    ((strcmp(name, "sendmail") == 0 &&
	         given(&r->global, "tlsrpt_relay")) ||
	        (strcmp(name, "tlsrpt_relay") == 0 &&
	            given(&r->global, "sendmail"))))
		rc = -4;
	if (rc == -5)
		; /* said */
	else if (rc == -2)
		snprintf(r->msg, sizeof(r->msg), "unknown setting \"%s\"",
		    mtasts_quote(q, sizeof(q), name, strlen(name)));
	else if (rc == -3)
		snprintf(r->msg, sizeof(r->msg),
		    "%s given twice in [%s]: which one is meant?",
		    mtasts_quote(n, sizeof(n), name, strlen(name)),
		    mtasts_quote(q, sizeof(q), section, strlen(section)));
	else if (rc == -4)
		snprintf(r->msg, sizeof(r->msg),
		    "sendmail and tlsrpt_relay are both given: mailto: reports "
		    "go through one of them, say which");
	else if (rc != 0)
		snprintf(r->msg, sizeof(r->msg), "invalid value for %s: \"%s\"",
		    mtasts_quote(n, sizeof(n), name, strlen(name)),
		    mtasts_quote(q, sizeof(q), value, strlen(value)));
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
	cfg->cache_dir = strdup(DEFAULT_CACHE_DIR);
	cfg->cache_size = (size_t)64 << 20;
	cfg->cache_mode = 0660;
	cfg->txt_recheck = 900;
	cfg->negative_ttl = 3600;
	cfg->error_retry = 60;
	/* RFC 8461 §5.1 suggests refreshing cached policies once a day */
	cfg->refresh_interval = 86400;
	/* refresh what mail went to in the last 30 days; let the rest
	 * expire (a site mails many domains once) */
	cfg->refresh_window = 30 * 86400;
	cfg->tlsrpt_size = (size_t)16 << 20;
	cfg->tlsrpt_details = 100;
	cfg->tlsrpt_relay = strdup(DEFAULT_TLSRPT_RELAY);
	cfg->tlsrpt_relay_port = 25;
	cfg->tlsrpt_spool = strdup(DEFAULT_TLSRPT_SPOOL);
	cfg->fleet_name = strdup("mtasts");
	/* Redis answers in a millisecond on a sound network: a second is
	 * plenty, and what a delivery may lose to a fleet in trouble */
	cfg->fleet_timeout_ms = 1000;
	if (cfg->cache_dir == NULL || cfg->tlsrpt_relay == NULL ||
	    cfg->tlsrpt_spool == NULL || cfg->fleet_name == NULL) {
		free(cfg->fleet_name);
		free(cfg->tlsrpt_relay);
		free(cfg->tlsrpt_spool);
		free(cfg->cache_dir);
		free(cfg);
		return NULL;
	}
	return cfg;
}

/* A static policy needs both halves; skip excludes the rest. */
static mtasts_code
check_overrides(const struct mtasts_config *cfg, struct mtasts_error *err)
{
	size_t i;

	for (i = 0; i < cfg->override_count; i++) {
		const struct override *o = &cfg->overrides[i];

		if (o->skip && (o->has_mode || o->mx_count > 0))
			return mtasts_error_set(err, MTASTS_ERR_CONFIG,
			    "%s: [domain %s]: skip excludes mode and mx",
			    cfg->path, o->domain);
		if (o->mx_count > 0 && !o->has_mode)
			return mtasts_error_set(err, MTASTS_ERR_CONFIG,
			    "%s: [domain %s]: mx needs a mode (a static "
			    "policy)",
			    cfg->path, o->domain);
		if (!o->skip && !o->has_mode)
			return mtasts_error_set(err, MTASTS_ERR_CONFIG,
			    "%s: [domain %s]: say skip = yes or a mode",
			    cfg->path, o->domain);
	}
	return MTASTS_OK;
}

/* meson's sysconfdir (module/meson.build) */
#ifndef MTASTS_DEFAULT_CONFIG
#define MTASTS_DEFAULT_CONFIG "/etc/mtasts/mtasts.conf"
#endif

const char *
mtasts_config_default_path(void)
{
	return MTASTS_DEFAULT_CONFIG;
}

/*
 * The lines libinih parses, read here, for what libinih would read
 * otherwise than it looks:
 * - a line longer than libinih's buffer, or with a NUL byte: libinih would
 *   cut it in two;
 * - a control character: a terminal would show another line (has_control);
 * - indentation: libinih would read an indented line as more of the value
 *   above it; dropped, so that the line stands on its own;
 * - a UTF-8 BOM starting line 1: dropped;
 * - a section: its whole name is kept (libinih keeps 49 bytes; a domain
 *   may have 253), text after its "]" and a section that is not ours are
 *   refused even without settings, and a new section starts a new
 *   override (libinih would merge two sections of one domain).
 */
struct lines {
	FILE *f;
	struct reader *r;
	int number;       /* of the last line read */
	char problem[96]; /* with that line, which stopped the reading */
	bool unended;     /* the last line read has no newline */
};

static const char *
section_problem(struct reader *r, char *line)
{
	char *end = strchr(line, ']'), *rest;
	size_t len;

	if (end == NULL)
		return NULL; /* libinih says it */
	len = (size_t)(end - line - 1);
	rest = end + 1 + strspn(end + 1, " \t\r\n\v\f");
	if (*rest != '\0' && *rest != ';' && *rest != '#')
		return "has text after its ]";
	if (len >= sizeof(r->header))
		return "names a section longer than a domain name";
	memcpy(r->header, line + 1, len);
	r->header[len] = '\0';
	if (strncmp(r->header, "domain ", 7) == 0) {
		char name[MTASTS_DOMAIN_MAX + 1];

		if (domain_normalize(r->header + 7, name) != 0)
			return "is [domain NAME] with NAME not a domain name";
	} else if (strcmp(r->header, "mtasts") == 0) {
		r->named_mtasts = true;
	} else {
		return "names an unknown section (only [mtasts] and "
		       "[domain NAME] are)";
	}
	r->section[0] = '\0';
	r->domain.count = 0;
	return NULL;
}

/* A control character other than a tab and a CR ending the line: a bare
 * CR or an escape sequence has a terminal show another line than the one
 * read (cat prints "# a comment" over "mode = none ;\r"). */
static bool
has_control(const char *line)
{
	const unsigned char *c;

	for (c = (const unsigned char *)line; *c != '\0'; c++)
		if ((*c < 0x20 || *c == 0x7f) && *c != '\t' && *c != '\n' &&
		    !(*c == '\r' && (c[1] == '\n' || c[1] == '\0')))
			return true;
	return false;
}

static char *
read_line(char *buf, int size, void *stream)
{
	struct lines *l = stream;
	const char *problem = NULL;
	char longer[48];
	size_t len, indent, end = (size_t)size - 1;

	/* fgets() ends what it read with a NUL and leaves the rest of buf
	 * as it was: filled with '\n' first, the last NUL is the end of
	 * what was read, and a NUL before it was in the line */
	memset(buf, '\n', (size_t)size);
	if (fgets(buf, size, l->f) == NULL)
		return NULL;
	l->r->line = ++l->number;
	while (end > 0 && buf[end] == '\n')
		end--;
	if (l->number == 1 && strncmp(buf, "\xef\xbb\xbf", 3) == 0) {
		memmove(buf, buf + 3, end - 2);
		end -= 3;
	}
	len = strlen(buf);
	l->unended = len == 0 || buf[len - 1] != '\n';
	/* spaces and tabs: has_control() refuses other white space */
	indent = strspn(buf, " \t");
	if (len != end)
		problem = "holds a NUL byte";
	else if (has_control(buf))
		problem = "holds a control character (a terminal would not "
		          "show the line as it is read)";
	else if (len > 0 && buf[len - 1] != '\n' && !feof(l->f)) {
		snprintf(longer, sizeof(longer), "is longer than %d characters",
		    size - 2);
		problem = longer;
	}
	else if (buf[indent] == '[')
		problem = section_problem(l->r, buf + indent);
	if (problem != NULL) {
		snprintf(l->problem, sizeof(l->problem), "%s", problem);
		return NULL; /* libinih stops as at the end of the file */
	}
	memmove(buf, buf + indent, len - indent + 1);
	return buf;
}

/*
 * What an accident does to the whole file, read to its end without a
 * refused line: emptied (a crash mid-write, a failed configuration run, a
 * careless edit) or left with comments only, it would read as "the
 * defaults, no override" and drop every static policy in silence; cut in
 * the middle of a line, it lost what followed.  Both are refused, like a
 * missing file: every domain defers until the file is put right.
 */
static mtasts_code
whole_file_problem(const struct reader *r, const struct lines *l,
    struct mtasts_error *err)
{
	const char *path = r->cfg->path;

	if (!r->named_mtasts)
		return mtasts_error_set(err, MTASTS_ERR_CONFIG,
		    "%s: no [mtasts] section: an empty or emptied file is not "
		    "the configuration",
		    path);
	if (l->number > 0 && l->unended)
		return mtasts_error_set(err, MTASTS_ERR_CONFIG,
		    "%s:%d: the file ends inside this line (no newline): cut "
		    "short by a write that did not finish?",
		    path, l->number);
	return MTASTS_OK;
}

/* The file, if a regular one: a FIFO would hold every delivery that
 * reads it, a directory reads as nothing. */
static FILE *
open_regular(const char *path, struct mtasts_error *err)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	FILE *f;

	if (fd < 0 || fstat(fd, &st) != 0) {
		mtasts_error_set(
		    err, MTASTS_ERR_CONFIG, "%s: %s", path, strerror(errno));
	} else if (!S_ISREG(st.st_mode)) {
		mtasts_error_set(
		    err, MTASTS_ERR_CONFIG, "%s: not a regular file", path);
	} else if ((f = fdopen(fd, "r")) == NULL) {
		mtasts_error_set(
		    err, MTASTS_ERR_CONFIG, "%s: %s", path, strerror(errno));
	} else {
		return f;
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

mtasts_code
mtasts_config_load(
    const char *path, struct mtasts_config **out, struct mtasts_error *err)
{
	struct mtasts_config *cfg = config_defaults();
	struct reader r = {.cfg = cfg};
	struct lines lines = {.r = &r};
	int read_errno;
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
		if ((lines.f = f = open_regular(path, err)) == NULL) {
			mtasts_config_free(cfg);
			return MTASTS_ERR_CONFIG;
		}
		errno = 0;
		line = ini_parse_stream(read_line, &lines, on_setting, &r);
		read_errno = ferror(f) ? errno : 0;
		fclose(f);
		/* a file not read to its end is not the configuration */
		if (read_errno != 0) {
			mtasts_error_set(err, MTASTS_ERR_CONFIG,
			    "%s: cannot be read: %s", path,
			    strerror(read_errno));
			mtasts_config_free(cfg);
			return MTASTS_ERR_CONFIG;
		}
		if (!r.failed && line == 0 && lines.problem[0] == '\0' &&
		    whole_file_problem(&r, &lines, err) != MTASTS_OK) {
			mtasts_config_free(cfg);
			return MTASTS_ERR_CONFIG;
		}
		if (!r.failed && line == 0 && lines.problem[0] != '\0') {
			mtasts_error_set(err, MTASTS_ERR_CONFIG,
			    "%s:%d: the line %s", path, lines.number,
			    lines.problem);
			mtasts_config_free(cfg);
			return MTASTS_ERR_CONFIG;
		}
		if (r.failed || line != 0) {
			/* the first refused line: libinih's, or a setting's */
			bool syntax =
			    line != 0 && (!r.failed || line < r.failed_line);

			mtasts_error_set(err, MTASTS_ERR_CONFIG, "%s:%d: %s",
			    path, syntax ? line : r.failed_line,
			    syntax ? "not a \"key = value\" line or a [section]"
			           : r.msg);
			mtasts_config_free(cfg);
			return MTASTS_ERR_CONFIG;
		}
	}
	if (check_overrides(cfg, err) != MTASTS_OK) {
		mtasts_config_free(cfg);
		return MTASTS_ERR_CONFIG;
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
	free(cfg->cache_dir);
	free(cfg->cache_group);
	free(cfg->cache_backend);
	free(cfg->tlsrpt_dir);
	free(cfg->tlsrpt_backend);
	free(cfg->tlsrpt_spool);
	free(cfg->tlsrpt_org);
	free(cfg->tlsrpt_contact);
	free(cfg->tlsrpt_submitter);
	free(cfg->tlsrpt_from);
	free(cfg->tlsrpt_relay);
	free(cfg->sendmail);
	fleet_clear(cfg);
	free(cfg->fleet_host);
	free(cfg->fleet_socket);
	free(cfg->fleet_name);
	free(cfg->fleet_node);
	free(cfg->fleet_password_file);
	free(cfg->fleet_sentinel_password_file);
	free(cfg->fleet_ca_file);
	for (i = 0; i < cfg->override_count; i++) {
		size_t k;

		for (k = 0; k < cfg->overrides[i].mx_count; k++)
			free(cfg->overrides[i].mx[k]);
		free(cfg->overrides[i].mx);
		free(cfg->overrides[i].domain);
	}
	free(cfg->overrides);
	free(cfg);
}
