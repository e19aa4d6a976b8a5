/*
 * table.c - the list of domains under enforce, as a file for OpenSMTPD's
 * "table NAME file:PATH" (one key per line), so that smtpd.conf can route
 * them through a "relay tls" action.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "context.h"
#include "error.h"

struct collect {
	const struct mtasts_config *cfg;
	int64_t now;
	char *text;
	size_t len, cap;
	bool failed;
};

static void
append(struct collect *c, const char *domain)
{
	size_t n = strlen(domain) + 1;
	char *grown;

	if (c->len + n + 1 > c->cap) {
		c->cap = (c->len + n + 1) * 2;
		if ((grown = realloc(c->text, c->cap)) == NULL) {
			c->failed = true;
			return;
		}
		c->text = grown;
	}
	memcpy(c->text + c->len, domain, n - 1);
	c->text[c->len + n - 1] = '\n';
	c->len += n;
	c->text[c->len] = '\0';
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
		append(c, domain);
	return c->failed;
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

mtasts_code
mtasts_enforce_table_write(struct mtasts_ctx *ctx, const char *path,
    bool *changed, struct mtasts_error *err)
{
	const struct mtasts_config *cfg = ctx_config(ctx);
	struct collect c = {.cfg = cfg, .now = wall_now()};
	struct cache *cache = ctx_cache(ctx, err);
	char tmp[4096];
	size_t i;
	FILE *f;
	bool ok;
	int saved, fd;

	*changed = false;
	/* OpenSMTPD 6.8 refuses an empty file: table as a domain list; a
	 * domain that can receive no mail (RFC 2606) keeps it a list */
	append(&c, "mtasts.invalid");
	for (i = 0; i < cfg->override_count; i++) {
		const struct override *o = &cfg->overrides[i];

		if (o->mx_count > 0 && o->mode == MTASTS_MODE_ENFORCE)
			append(&c, o->domain);
	}
	if (cache == NULL) {
		free(c.text);
		return err != NULL ? err->code : MTASTS_ERR_CACHE;
	}
	if (cache_each(cache, add_cached, &c, err) != MTASTS_OK || c.failed) {
		free(c.text);
		return c.failed
		    ? mtasts_error_set(err, MTASTS_ERR_NOMEM, "out of memory")
		    : MTASTS_ERR_CACHE;
	}
	if (same_content(path, c.text, c.len)) {
		free(c.text);
		return MTASTS_OK;
	}
	snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid());
	/* smtpd reads it as its own user: readable by all (no secret here);
	 * a new file, never through a link left in the shared directory */
	unlink(tmp);
	fd = open(
	    tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if ((f = fd >= 0 ? fdopen(fd, "w") : NULL) == NULL && fd >= 0)
		close(fd);
	ok = f != NULL && fchmod(fileno(f), 0644) == 0 &&
	    fwrite(c.text, 1, c.len, f) == c.len && fflush(f) == 0 &&
	    fsync(fileno(f)) == 0;
	if (f != NULL && fclose(f) != 0)
		ok = false;
	if (ok && rename(tmp, path) != 0)
		ok = false;
	saved = errno;
	free(c.text);
	if (!ok) {
		mtasts_error_set(
		    err, MTASTS_ERR_IO, "%s: %s", path, strerror(saved));
		unlink(tmp);
		return MTASTS_ERR_IO;
	}
	*changed = true;
	return MTASTS_OK;
}
