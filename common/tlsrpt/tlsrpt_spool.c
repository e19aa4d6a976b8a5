/*
 * tlsrpt_spool.c - sessions appended, one line each, to the day's spool
 * file "sessions-YYYY-MM-DD" in tlsrpt_spool:
 *
 *   S2 DOMAIN MX-HOST MX-IP LOCAL-IP TLS VERIFIED CERT-RESULT APPLIED
 *
 * TLS and VERIFIED are 0 or 1, an unknown field is "-".  APPLIED is the
 * policy the delivery applied (RFC 8460 §4: a session is reported under
 * it), "ID:MODE:MAX_AGE:MX,MX,...[:V,M,A]", or "-" when the MTA did not
 * say; V,M,A is where the version, mode and max_age lines stood among the
 * policy's lines (its line_of), when not in the canonical order (words
 * of earlier versions have none).
 * Lines of version 1 (before 0.2: no APPLIED) are still read, as "-".
 * Read back by mtasts tlsrpt, which trusts nothing in it: a line that
 * does not parse is skipped.
 *
 * The directory is made by the installer, not here: owned by the user
 * that reads it (mtasts), writable by the MTA's group, readable by nobody
 * else (2730).  The MTA's transports thus write sessions without being
 * able to write the cache.  Files are 0644, for the directory's owner.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "domain.h"
#include "error.h"
#include "policy.h"
#include "tlsrpt_spool.h"
#include "tlsrpt_day.h"

#define PREFIX "sessions-"

int
tlsrpt_dir_of(const struct mtasts_config *cfg, char *dir, size_t len)
{
	int n;

	if (cfg->tlsrpt_dir != NULL)
		n = snprintf(dir, len, "%s", cfg->tlsrpt_dir);
	else if (cfg->cache_dir != NULL)
		n = snprintf(dir, len, "%s/tlsrpt", cfg->cache_dir);
	else
		return -1;
	return n > 0 && (size_t)n < len ? 0 : -1;
}

static int
spool_path(const struct mtasts_config *cfg, const char *day, char *path,
    size_t len)
{
	int n = snprintf(path, len, "%s/" PREFIX "%s", cfg->tlsrpt_spool, day);

	return n > 0 && (size_t)n < len ? 0 : -1;
}

static const char *
or_dash(const char *f)
{
	return f[0] != '\0' ? f : "-";
}

/* A field of a line: printable ASCII without spaces (the separator). */
static bool
field_ok(const char *f)
{
	for (; *f != '\0'; f++)
		if ((unsigned char)*f <= ' ' || (unsigned char)*f >= 0x7f)
			return false;
	return true;
}

mtasts_code
tlsrpt_spool_add(const struct mtasts_config *cfg, const char *day,
    const struct spool_session *x, struct mtasts_error *err)
{
	char path[4200], line[TLSRPT_LINE_MAX];
	struct stat st;
	ssize_t w;
	int fd, n;

	if (x->domain[0] == '\0' || x->mx_host[0] == '\0' ||
	    !field_ok(x->domain) || !field_ok(x->mx_host) ||
	    !field_ok(x->mx_ip) || !field_ok(x->local_ip) ||
	    !field_ok(x->cert_result) || !field_ok(x->applied))
		return mtasts_error_set(err, MTASTS_ERR_USAGE,
		    "TLS-RPT: a session with a malformed field");
	n = snprintf(line, sizeof(line), "S2 %s %s %s %s %d %d %s %s\n",
	    x->domain, x->mx_host, or_dash(x->mx_ip), or_dash(x->local_ip),
	    x->tls, x->verified, or_dash(x->cert_result),
	    or_dash(x->applied));
	if (n <= 0 || (size_t)n >= sizeof(line))
		return mtasts_error_set(err, MTASTS_ERR_USAGE,
		    "TLS-RPT: a session with a malformed field");
	if (spool_path(cfg, day, path, sizeof(path)) != 0)
		return mtasts_error_set(err, MTASTS_ERR_CONFIG,
		    "TLS-RPT: tlsrpt_spool is too long");
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
	    0644);
	if (fd < 0)
		return mtasts_error_set(err, MTASTS_ERR_CACHE, "%s: %s%s", path,
		    strerror(errno),
		    errno == ENOENT ? " (make the directory as mtasts.conf(5) "
		                      "says under tlsrpt_spool)"
		                    : "");
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (size_t)st.st_size + (size_t)n > cfg->tlsrpt_size) {
		close(fd);
		return mtasts_error_set(err, MTASTS_ERR_CACHE,
		    "%s: full (tlsrpt_size)", path);
	}
	/* made just now under a umask: readable by the directory's owner */
	if ((st.st_mode & 0777) != 0644 && st.st_uid == geteuid())
		fchmod(fd, 0644);
	/* one write: O_APPEND puts it whole after every other */
	w = write(fd, line, (size_t)n);
	close(fd);
	if (w != n)
		return mtasts_error_set(err, MTASTS_ERR_CACHE, "%s: %s", path,
		    w < 0 ? strerror(errno) : "short write");
	return MTASTS_OK;
}

static void
undash(char *f)
{
	if (strcmp(f, "-") == 0)
		f[0] = '\0';
}

/* The result a delivery may have seen in a certificate, or "". */
static bool
cert_result_ok(const char *r)
{
	return r[0] == '\0' || strcmp(r, "certificate-host-mismatch") == 0 ||
	    strcmp(r, "certificate-expired") == 0 ||
	    strcmp(r, "certificate-not-trusted") == 0;
}

int
tlsrpt_applied_format(const struct mtasts_policy *p, char *out, size_t len)
{
	uint32_t at[3];
	size_t o, i;
	int n;

	n = snprintf(out, len, "%s:%s:%" PRIu32 ":",
	    p->id[0] != '\0' ? p->id : "-", mtasts_mode_name(p->mode),
	    p->max_age);
	if (n < 0 || (size_t)n >= len)
		return -1;
	o = (size_t)n;
	for (i = 0; i < p->mx_count; i++) {
		n = snprintf(out + o, len - o, "%s%s", i > 0 ? "," : "",
		    p->mx[i]);
		if (n < 0 || (size_t)n >= len - o)
			return -1;
		o += (size_t)n;
	}
	if (policy_line_order(p, at)) {
		n = snprintf(out + o, len - o, ":%" PRIu32 ",%" PRIu32
		    ",%" PRIu32, at[0], at[1], at[2]);
		if (n < 0 || (size_t)n >= len - o)
			return -1;
	}
	return 0;
}

/* A position of the order part: 1 to 5 digits, no leading zero; its
 * end in *end.  0 when it is not one. */
static uint32_t
position_of(const char *at, const char **end)
{
	uint32_t v = 0;
	size_t n = 0;

	if (*at < '1' || *at > '9')
		return 0;
	for (; at[n] >= '0' && at[n] <= '9'; n++) {
		if (n == 5)
			return 0;
		v = v * 10 + (uint32_t)(at[n] - '0');
	}
	*end = at + n;
	return v;
}

struct mtasts_policy *
tlsrpt_applied_parse(const char *word)
{
	const char *mx[TLSRPT_APPLIED_MAX / 2], *at, *end;
	size_t lens[TLSRPT_APPLIED_MAX / 2], count = 0, idlen, k;
	uint32_t line_of[3] = {0, 0, 0};
	bool ordered = false;
	struct mtasts_policy *p;
	enum mtasts_mode mode;
	unsigned long max_age;
	char *rest;

	if (strlen(word) >= TLSRPT_APPLIED_MAX || !field_ok(word))
		return NULL;
	/* ID: 1-32 alphanumerics (RFC 8461 §3.1), or "-" */
	idlen = strcspn(word, ":");
	if (word[idlen] != ':' || idlen == 0 || idlen > MTASTS_ID_MAX)
		return NULL;
	for (at = word; at < word + idlen; at++)
		if (!(*at >= '0' && *at <= '9') && !(*at >= 'a' && *at <= 'z') &&
		    !(*at >= 'A' && *at <= 'Z') && !(idlen == 1 && *at == '-'))
			return NULL;
	at = word + idlen + 1;
	if (strncmp(at, "testing:", 8) == 0)
		mode = MTASTS_MODE_TESTING, at += 8;
	else if (strncmp(at, "enforce:", 8) == 0)
		mode = MTASTS_MODE_ENFORCE, at += 8;
	else
		return NULL;
	if (*at < '0' || *at > '9')
		return NULL;
	errno = 0;
	max_age = strtoul(at, &rest, 10);
	if (errno != 0 || *rest != ':' || rest - at > 8 ||
	    max_age > MTASTS_MAX_AGE_LIMIT)
		return NULL;
	/* MX,MX,...: policy_from_values checks each as the parser does */
	for (at = rest + 1; *at != '\0' && *at != ':';
	     at = *end == ',' ? end + 1 : end) {
		end = at + strcspn(at, ",:");
		if (end == at || count == sizeof(mx) / sizeof(mx[0]))
			return NULL;
		mx[count] = at;
		lens[count++] = (size_t)(end - at);
		if (*end == ',' && (end[1] == '\0' || end[1] == ':'))
			return NULL;
	}
	/* :V,M,A (words of earlier versions end with the patterns): three
	 * positions policy_from_values checks, nothing after them */
	if (*at == ':') {
		for (k = 0, at++; k < 3; k++) {
			if ((line_of[k] = position_of(at, &end)) == 0 ||
			    *end != (k < 2 ? ',' : '\0'))
				return NULL;
			at = end + (k < 2);
		}
		ordered = true;
	}
	if ((p = policy_from_values(mode, (uint32_t)max_age, mx, lens, count,
	         ordered ? line_of : NULL)) != NULL &&
	    word[0] != '-')
		memcpy(p->id, word, idlen); /* policy_pack wrote the NUL */
	return p;
}

/* The applied field of a line: "-", or a policy. */
static bool
applied_ok(const char *f)
{
	struct mtasts_policy *p;

	if (f[0] == '\0')
		return true;
	if ((p = tlsrpt_applied_parse(f)) == NULL)
		return false;
	mtasts_policy_free(p);
	return true;
}

/* One line (NUL-terminated, without its newline) into x; -1 if not.
 * Version 2, or version 1 (no applied policy: written before 0.2). */
static int
parse_line(char *line, struct spool_session *x)
{
	char domain[256];
	int tls, verified, used = 0, fields;

	memset(x, 0, sizeof(*x));
	if (strncmp(line, "S1 ", 3) == 0)
		fields = sscanf(line, "S1 %255s %253s %63s %63s %d %d %39s%n",
		             domain, x->mx_host, x->mx_ip, x->local_ip, &tls,
		             &verified, x->cert_result, &used) == 7
		    ? 8
		    : 0;
	else
		fields = sscanf(line,
		    "S2 %255s %253s %63s %63s %d %d %39s %2047s%n", domain,
		    x->mx_host, x->mx_ip, x->local_ip, &tls, &verified,
		    x->cert_result, x->applied, &used);
	if (fields != 8 ||
	    line[used] != '\0' || (tls != 0 && tls != 1) ||
	    (verified != 0 && verified != 1) || !field_ok(x->mx_host) ||
	    !field_ok(x->mx_ip) || !field_ok(x->local_ip) ||
	    !field_ok(domain) || domain_normalize(domain, x->domain) != 0)
		return -1;
	x->tls = tls;
	x->verified = verified;
	undash(x->mx_ip);
	undash(x->local_ip);
	undash(x->cert_result);
	undash(x->applied);
	return cert_result_ok(x->cert_result) && applied_ok(x->applied) ? 0
	                                                                : -1;
}

mtasts_code
tlsrpt_spool_read(const struct mtasts_config *cfg, const char *day,
    uint64_t *offset, size_t max,
    void (*fn)(void *arg, const struct spool_session *x), void *arg,
    struct mtasts_error *err)
{
	char path[4200], buf[65536];
	size_t have = 0, lines = 0;
	struct stat st;
	ssize_t n = 0;
	int fd;

	if (spool_path(cfg, day, path, sizeof(path)) != 0)
		return mtasts_error_set(err, MTASTS_ERR_CONFIG,
		    "TLS-RPT: tlsrpt_spool is too long");
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return errno == ENOENT
		    ? MTASTS_OK
		    : mtasts_error_set(err, MTASTS_ERR_IO, "%s: %s", path,
		          strerror(errno));
	/* not the file the offset was of (made anew by hand?) */
	if (fstat(fd, &st) == 0 && (uint64_t)st.st_size < *offset)
		*offset = 0;
	if (lseek(fd, (off_t)*offset, SEEK_SET) < 0) {
		close(fd);
		return mtasts_error_set(
		    err, MTASTS_ERR_IO, "%s: %s", path, strerror(errno));
	}
	while (lines < max &&
	    (n = read(fd, buf + have, sizeof(buf) - have)) > 0) {
		char *start = buf, *nl;

		have += (size_t)n;
		while (lines < max &&
		    (nl = memchr(start, '\n', have - (size_t)(start - buf))) !=
		        NULL) {
			struct spool_session x;

			*nl = '\0';
			if ((size_t)(nl - start) < TLSRPT_LINE_MAX &&
			    parse_line(start, &x) == 0) {
				fn(arg, &x);
				lines++;
			}
			*offset += (uint64_t)(nl - start) + 1;
			start = nl + 1;
		}
		have -= (size_t)(start - buf);
		memmove(buf, start, have);
		if (have == sizeof(buf)) { /* no line is this long: skip it */
			*offset += have;
			have = 0;
		}
	}
	close(fd);
	if (n < 0)
		return mtasts_error_set(
		    err, MTASTS_ERR_IO, "%s: %s", path, strerror(errno));
	return MTASTS_OK;
}

static int
by_day(const void *a, const void *b)
{
	return strcmp(a, b);
}

int
tlsrpt_spool_days(const struct mtasts_config *cfg,
    char days[][TLSRPT_DAY_LEN + 1], size_t max, struct mtasts_error *err)
{
	struct dirent *e;
	size_t n = 0;
	DIR *d;

	if ((d = opendir(cfg->tlsrpt_spool)) == NULL) {
		if (errno == ENOENT)
			return 0;
		mtasts_error_set(err, MTASTS_ERR_IO, "%s: %s",
		    cfg->tlsrpt_spool, strerror(errno));
		return -1;
	}
	/* max days a run at most: the rest wait for the next */
	while ((e = readdir(d)) != NULL && n < max)
		if (strncmp(e->d_name, PREFIX, strlen(PREFIX)) == 0 &&
		    tlsrpt_is_day(e->d_name + strlen(PREFIX)))
			snprintf(days[n++], TLSRPT_DAY_LEN + 1, "%s",
			    e->d_name + strlen(PREFIX));
	closedir(d);
	qsort(days, n, sizeof(days[0]), by_day);
	return (int)n;
}

void
tlsrpt_spool_remove(const struct mtasts_config *cfg, const char *day)
{
	char path[4200];

	if (spool_path(cfg, day, path, sizeof(path)) == 0)
		unlink(path);
}
