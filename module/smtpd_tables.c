/*
 * smtpd_tables.c - OpenSMTPD's two tables of the domains under enforce: the list
 * (PATH, "table mtasts_enforce file:PATH", one key per line) that
 * smtpd.conf matches to route a domain through the "relay_tls" action, and
 * the routes (PATH.routes, "domain smtp+tls://MX:25") that action relays
 * by ("relay domain <mtasts_routes> tls"): smtpd then does no MX lookup of
 * its own at delivery, so a DNS change after a message was accepted can
 * never send it to a host outside the policy (RFC 8461 §4.1); STARTTLS is
 * required and the certificate checked against the MX name the route
 * names.  A domain on the list without a route waits in the queue
 * ("Cannot retrieve smarthost").
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "context.h"
#include "dns.h"
#include "domain.h"
#include "error.h"
#include "policy.h"
#include "smtpd_tables.h"

/* A route kept from the routes file as it was: domain -> host. */
struct old_route {
	char domain[MTASTS_DOMAIN_MAX + 1];
	char host[MTASTS_DOMAIN_MAX + 1];
};

/* An enforce domain found in the cache, its route chosen after the walk. */
struct pending {
	char domain[MTASTS_DOMAIN_MAX + 1];
	struct mtasts_policy *policy; /* a copy: the walk's is gone after it */
};

struct collect {
	struct mtasts_ctx *ctx;
	const struct mtasts_config *cfg;
	int64_t now;
	char *text; /* the list */
	size_t len, cap;
	char *routes; /* the routes */
	size_t rlen, rcap;
	struct old_route *old; /* what the routes file held */
	size_t old_count;
	struct pending *pending; /* the cache's enforce domains */
	size_t pending_count;
	bool recheck_mx; /* ask DNS even where an old route still holds */
	bool failed;
};

/* Appends a line to a growing text. */
static void
add_line(struct collect *c, char **text, size_t *len, size_t *cap,
    const char *line)
{
	size_t n = strlen(line) + 1;
	char *grown;

	if (*len + n + 1 > *cap) {
		*cap = (*len + n + 1) * 2;
		if ((grown = realloc(*text, *cap)) == NULL) {
			c->failed = true;
			return;
		}
		*text = grown;
	}
	memcpy(*text + *len, line, n - 1);
	(*text)[*len + n - 1] = '\n';
	*len += n;
	(*text)[*len] = '\0';
}

static void
append(struct collect *c, const char *domain)
{
	add_line(c, &c->text, &c->len, &c->cap, domain);
}

/* The old route of domain, if it still names a host the policy allows. */
static const char *
old_route(const struct collect *c, const char *domain,
    const struct mtasts_policy *p)
{
	struct mtasts_mx_result r;
	size_t i;

	for (i = 0; i < c->old_count; i++)
		if (strcmp(c->old[i].domain, domain) == 0) {
			mtasts_validate_mx(p, c->old[i].host, &r);
			/* as choose_mx: a pattern must match (a policy of
			 * mode none, under an enforce override, allows none) */
			return r.valid && r.match != NULL ? c->old[i].host
			                                  : NULL;
		}
	return NULL;
}

/*
 * The MX host mail to domain goes to under policy p: the most preferred
 * one the policy allows (RFC 8461 §4.1), asked of DNS; when DNS does not
 * answer, the old route while the policy still allows it.  NULL when no
 * MX qualifies: the domain gets no route and its mail waits.
 */
static const char *
choose_mx(struct collect *c, const char *domain,
    const struct mtasts_policy *p, char *out, size_t outlen)
{
	const char *old = old_route(c, domain, p);
	struct mtasts_error err;
	struct dns_answer *mx;
	struct dns *dns;
	struct mtasts_mx_result r;
	size_t i, best = SIZE_MAX;

	if (old != NULL && !c->recheck_mx)
		return old;
	if ((dns = ctx_dns(c->ctx, &err)) == NULL ||
	    (mx = dns_lookup(dns, domain, DNS_TYPE_MX, c->cfg->dns_timeout_ms)) ==
	        NULL)
		return old;
	if (mx->code != MTASTS_OK) {
		/* NXDOMAIN and NODATA are answers: no MX, no route */
		bool answered = mx->code == MTASTS_ERR_DNS_NXDOMAIN ||
		    mx->code == MTASTS_ERR_DNS_NODATA;

		dns_answer_free(mx);
		return answered ? NULL : old;
	}
	for (i = 0; i < mx->count; i++) {
		mtasts_validate_mx(p, mx->data[i], &r);
		if (r.valid && r.match != NULL &&
		    (best == SIZE_MAX || mx->pref[i] < mx->pref[best]))
			best = i;
	}
	if (best != SIZE_MAX)
		snprintf(out, outlen, "%s", mx->data[best]);
	dns_answer_free(mx);
	return best != SIZE_MAX ? out : NULL;
}

/* The list line of domain, and its route when an MX qualifies. */
static void
add_domain(struct collect *c, const char *domain, const struct mtasts_policy *p)
{
	char host[MTASTS_DOMAIN_MAX + 1], line[2 * MTASTS_DOMAIN_MAX + 32];
	const char *mx = choose_mx(c, domain, p, host, sizeof(host));

	append(c, domain);
	if (mx == NULL)
		return;
	snprintf(line, sizeof(line), "%s smtp+tls://%s:25", domain, mx);
	add_line(c, &c->routes, &c->rlen, &c->rcap, line);
}

bool
smtpd_route_parse(const char *line, char *domain, char *host)
{
	int end = -1;

	/* %n: the whole of ":25" read (sscanf counts the two names whatever
	 * follows them), then only the line's end */
	return sscanf(line, "%253s smtp+tls://%253[^:]:25%n", domain, host,
	           &end) == 2 &&
	    end > 0 && strspn(line + end, "\r\n") == strlen(line + end) &&
	    domain_is_valid(domain, strlen(domain)) &&
	    domain_is_valid(host, strlen(host));
}

bool
smtpd_route_of(const char *table, const char *domain, char *host)
{
	char path[4200], line[1024], d[MTASTS_DOMAIN_MAX + 1];
	bool found = false;
	FILE *f;

	if ((size_t)snprintf(path, sizeof(path), "%s.routes", table) >=
	        sizeof(path) ||
	    (f = fopen(path, "r")) == NULL)
		return false;
	while (!found && fgets(line, sizeof(line), f) != NULL)
		found = smtpd_route_parse(line, d, host) &&
		    domain_equal(d, strlen(d), domain, strlen(domain));
	fclose(f);
	return found;
}

/* What the routes file at path holds: "domain smtp+tls://host:25". */
static void
read_old_routes(struct collect *c, const char *path)
{
	FILE *f = fopen(path, "r");
	char line[1024], d[MTASTS_DOMAIN_MAX + 1], h[MTASTS_DOMAIN_MAX + 1];
	struct old_route *grown;

	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		if (!smtpd_route_parse(line, d, h))
			continue;
		if ((grown = realloc(c->old, (c->old_count + 1) *
		                                 sizeof(*grown))) == NULL)
			break;
		c->old = grown;
		snprintf(c->old[c->old_count].domain, MTASTS_DOMAIN_MAX + 1,
		    "%s", d);
		snprintf(
		    c->old[c->old_count].host, MTASTS_DOMAIN_MAX + 1, "%s", h);
		c->old_count++;
	}
	if (f != NULL)
		fclose(f);
}

/*
 * Keeps an enforce domain of the cache for later: its route needs DNS,
 * which is never asked inside the walk (a read transaction held, and the
 * map under the fault guard, for as long as a resolver takes).
 */
static void
keep_pending(struct collect *c, const char *domain,
    const struct mtasts_policy *p)
{
	struct pending *grown, *k;
	size_t *lens, i;

	if ((grown = realloc(c->pending,
	         (c->pending_count + 1) * sizeof(*grown))) == NULL ||
	    (lens = calloc(p->mx_count + 1, sizeof(*lens))) == NULL) {
		if (grown != NULL)
			c->pending = grown;
		c->failed = true;
		return;
	}
	c->pending = grown;
	for (i = 0; i < p->mx_count; i++)
		lens[i] = strlen(p->mx[i]);
	k = &c->pending[c->pending_count];
	snprintf(k->domain, sizeof(k->domain), "%s", domain);
	k->policy = policy_from_values(p->mode, p->max_age,
	    (const char *const *)p->mx, lens, p->mx_count, NULL);
	free(lens);
	if (k->policy == NULL)
		c->failed = true;
	else
		c->pending_count++;
}

static int
add_cached(void *arg, const char *domain, const struct cache_entry *e)
{
	struct collect *c = arg;
	const struct override *o = config_override(c->cfg, domain);
	enum mtasts_mode mode;

	if (e->policy == NULL || e->policy->expires <= c->now)
		return 0;
	/* a mode override replaces the mode of the policy the domain
	 * publishes (static policies are listed from the configuration) */
	if (o != NULL && (o->skip || o->mx_count > 0))
		return 0;
	mode = o != NULL && o->has_mode ? o->mode : e->policy->mode;
	if (mode == MTASTS_MODE_ENFORCE)
		keep_pending(c, domain, e->policy);
	return c->failed;
}

/*
 * Removes what writers that died left of their new tables (PATH.PID.tmp,
 * PATH.routes.PID.tmp): a filter worker killed mid-write, a refresh cut
 * short.  A writer that may still live (its process is there, or is not
 * ours to ask) keeps its file.
 */
static void
remove_leftovers(const char *path)
{
	char dir[4200], file[4200], base[4200], *end;
	struct dirent *de;
	size_t blen;
	DIR *d;
	long pid;

	/* dirname() and basename() may write to what they are given */
	snprintf(dir, sizeof(dir), "%s", path);
	snprintf(file, sizeof(file), "%s", path);
	snprintf(base, sizeof(base), "%s", basename(file));
	if ((d = opendir(dirname(dir))) == NULL)
		return;
	blen = strlen(base);
	while ((de = readdir(d)) != NULL) {
		const char *rest = de->d_name + blen;

		if (strncmp(de->d_name, base, blen) != 0)
			continue;
		if (strncmp(rest, ".routes", 7) == 0)
			rest += 7;
		if (*rest++ != '.' || *rest < '1' || *rest > '9')
			continue;
		pid = strtol(rest, &end, 10);
		if (strcmp(end, ".tmp") != 0 || (pid_t)pid == getpid() ||
		    kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		unlinkat(dirfd(d), de->d_name, 0);
	}
	closedir(d);
}

/* Whether path holds exactly text. */
static bool
same_content(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "r");
	char *old;
	size_t n;
	bool same;

	if (f == NULL)
		return false;
	old = malloc(len + 2);
	n = old != NULL ? fread(old, 1, len + 1, f) : 0;
	same = old != NULL && n == len && memcmp(old, text, len) == 0;
	free(old);
	fclose(f);
	return same;
}

/* Writes text to path unless it holds it already: a new file renamed over
 * it, readable by all (smtpd reads it as its own user; no secret here),
 * never through a link left in the shared directory. */
static mtasts_code
write_file(const char *path, const char *text, size_t len, bool *changed,
    struct mtasts_error *err)
{
	char tmp[4200];
	FILE *f;
	bool ok;
	int saved, fd;

	if (same_content(path, text, len))
		return MTASTS_OK;
	snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid());
	unlink(tmp);
	fd = open(
	    tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if ((f = fd >= 0 ? fdopen(fd, "w") : NULL) == NULL && fd >= 0)
		close(fd);
	ok = f != NULL && fchmod(fileno(f), 0644) == 0 &&
	    fwrite(text, 1, len, f) == len && fflush(f) == 0 &&
	    fsync(fileno(f)) == 0;
	if (f != NULL && fclose(f) != 0)
		ok = false;
	if (ok && rename(tmp, path) != 0)
		ok = false;
	saved = errno;
	if (!ok) {
		unlink(tmp);
		return mtasts_error_set(
		    err, MTASTS_ERR_IO, "%s: %s", path, strerror(saved));
	}
	*changed = true;
	return MTASTS_OK;
}

static mtasts_code
write_tables(struct mtasts_ctx *ctx, const char *path, bool recheck_mx,
    bool *changed, struct mtasts_error *err)
{
	const struct mtasts_config *cfg = ctx_config(ctx);
	struct collect c = {.ctx = ctx, .cfg = cfg, .now = wall_now(),
	    .recheck_mx = recheck_mx};
	struct cache *cache = ctx_cache(ctx, err);
	char routes[4200];
	mtasts_code rc;
	size_t i;

	*changed = false;
	snprintf(routes, sizeof(routes), "%s.routes", path);
	remove_leftovers(path);
	read_old_routes(&c, routes);
	/* OpenSMTPD 6.8 refuses an empty file table: a domain that can
	 * receive no mail (RFC 2606) keeps each what it is, a list and a
	 * mapping */
	append(&c, "mtasts.invalid");
	add_line(&c, &c.routes, &c.rlen, &c.rcap,
	    "mtasts.invalid smtp+tls://mtasts.invalid:25");
	for (i = 0; i < cfg->override_count; i++) {
		const struct override *o = &cfg->overrides[i];
		struct mtasts_policy p = {.mode = o->mode,
		    .mx_count = o->mx_count, .mx = o->mx};

		if (o->mx_count > 0 && o->mode == MTASTS_MODE_ENFORCE)
			add_domain(&c, o->domain, &p);
	}
	if (cache == NULL)
		rc = err != NULL ? err->code : MTASTS_ERR_CACHE;
	else if (cache_each(cache, add_cached, &c, err) != MTASTS_OK)
		rc = MTASTS_ERR_CACHE;
	else
		rc = MTASTS_OK;
	/* the routes of the cache's domains, now that the walk is over */
	for (i = 0; i < c.pending_count; i++) {
		if (rc == MTASTS_OK && !c.failed)
			add_domain(&c, c.pending[i].domain, c.pending[i].policy);
		mtasts_policy_free(c.pending[i].policy);
	}
	free(c.pending);
	if (rc == MTASTS_OK && c.failed)
		rc = mtasts_error_set(err, MTASTS_ERR_NOMEM, "out of memory");
	/* the routes first: a domain on the list before its route waits,
	 * one routed before it is listed is relayed as before */
	if (rc == MTASTS_OK &&
	    (rc = write_file(routes, c.routes, c.rlen, changed, err)) ==
	        MTASTS_OK)
		rc = write_file(path, c.text, c.len, changed, err);
	free(c.text);
	free(c.routes);
	free(c.old);
	return rc;
}

mtasts_code
smtpd_tables_write(struct mtasts_ctx *ctx, const char *path,
    bool *changed, struct mtasts_error *err)
{
	return write_tables(ctx, path, false, changed, err);
}

mtasts_code
smtpd_tables_refresh(struct mtasts_ctx *ctx, const char *path,
    bool *changed, struct mtasts_error *err)
{
	return write_tables(ctx, path, true, changed, err);
}
