/*
 * tlsrpt_spool.c - sessions appended, one line each, to the day's spool
 * file "sessions-YYYY-MM-DD" in tlsrpt_spool:
 *
 *   S1 DOMAIN MX-HOST MX-IP LOCAL-IP TLS VERIFIED CERT-RESULT
 *
 * TLS and VERIFIED are 0 or 1, an unknown field is "-".  Read back by
 * mtasts tlsrpt, which trusts nothing in it: a line that does not parse is
 * skipped.
 *
 * The directory is made by the installer, not here: owned by the user
 * that reads it (mtasts), writable by the MTA's group, readable by nobody
 * else (2730).  The MTA's transports thus write sessions without being
 * able to write the cache.  Files are 0644, for the directory's owner.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "domain.h"
#include "error.h"
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
	    !field_ok(x->cert_result))
		return mtasts_error_set(err, MTASTS_ERR_USAGE,
		    "TLS-RPT: a session with a malformed field");
	n = snprintf(line, sizeof(line), "S1 %s %s %s %s %d %d %s\n",
	    x->domain, x->mx_host, or_dash(x->mx_ip), or_dash(x->local_ip),
	    x->tls, x->verified, or_dash(x->cert_result));
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

/* One line (NUL-terminated, without its newline) into x; -1 if not. */
static int
parse_line(char *line, struct spool_session *x)
{
	char domain[256];
	int tls, verified, used = 0;

	memset(x, 0, sizeof(*x));
	if (sscanf(line, "S1 %255s %253s %63s %63s %d %d %39s%n", domain,
	        x->mx_host, x->mx_ip, x->local_ip, &tls, &verified,
	        x->cert_result, &used) != 7 ||
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
	return cert_result_ok(x->cert_result) ? 0 : -1;
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
