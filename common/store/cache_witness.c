/*
 * cache_witness.c - the witness of enforce policies, kept apart from
 * data.mdb: the folder "enforced" beside it holds a file per domain whose
 * enforce policy the cache stored, with that policy's expiry.  A data.mdb
 * truncated, deleted, rebuilt without a record or restored from an older
 * copy forgets policies; the witness does not, so a "no policy" for such a
 * domain is known for a loss of this host (RFC 8461 §5: a policy in force
 * stays in force until it expires), never taken for the domain's word.
 *
 * A file holds the expiry as 20 digits and a newline, written in place
 * (one pwrite of 21 bytes: a reader sees the old value or the new one).
 * Testing policies have no witness: their mail goes out either way.
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

#include "cache_witness.h"
#include "files.h"
#include "error.h"

#define WITNESS_DIR "enforced"
#define WITNESS_LEN 21 /* "%020" PRId64 "\n" */

/* The witness's folder, or its file for domain (NULL: the folder).
 * -1 when the name cannot be a file's (no domain name is). */
static int
witness_path(const struct mtasts_config *cfg, const char *domain,
    char *path, size_t len)
{
	int n;

	if (domain != NULL &&
	    (domain[0] == '\0' || domain[0] == '.' || strchr(domain, '/')))
		return -1;
	n = domain == NULL
	    ? snprintf(path, len, "%s/" WITNESS_DIR, cfg->cache_dir)
	    : snprintf(path, len, "%s/" WITNESS_DIR "/%s", cfg->cache_dir,
	          domain);
	return n > 0 && (size_t)n < len ? 0 : -1;
}

/* The expiry a witness file holds; INT64_MAX when it does not read as
 * one (damaged: it says a policy was held, not until when). */
static int64_t
parse_expiry(const char *buf, ssize_t n)
{
	int64_t v = 0;
	ssize_t i;

	if (n != WITNESS_LEN || buf[WITNESS_LEN - 1] != '\n')
		return INT64_MAX;
	for (i = 0; i < WITNESS_LEN - 1; i++) {
		if (buf[i] < '0' || buf[i] > '9' ||
		    v > (INT64_MAX - 9) / 10)
			return INT64_MAX;
		v = v * 10 + (buf[i] - '0');
	}
	return v;
}

int64_t
cache_witnessed(const struct mtasts_config *cfg, const char *domain,
    struct mtasts_error *err)
{
	char path[4096], buf[WITNESS_LEN + 1];
	ssize_t n;
	int fd;

	if (cfg->cache_dir == NULL)
		return 0;
	if (witness_path(cfg, domain, path, sizeof(path)) != 0)
		return 0;
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		if (errno == ENOENT)
			return 0; /* never held under enforce */
		mtasts_error_set(err, MTASTS_ERR_CACHE,
		    "the witness of enforce policies %s cannot be read: %s",
		    path, strerror(errno));
		return -1;
	}
	n = pread(fd, buf, sizeof(buf), 0);
	close(fd);
	return parse_expiry(buf, n);
}

int
cache_witness_keep(const struct mtasts_config *cfg, const char *domain,
    int64_t expires, struct mtasts_error *err)
{
	char path[4096], buf[WITNESS_LEN + 1];
	bool made = false;
	int fd;

	if (witness_path(cfg, domain, path, sizeof(path)) != 0)
		return 0;
	fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		char dir[4096];

		witness_path(cfg, NULL, dir, sizeof(dir));
		if (store_make_dir(cfg, dir, err) != 0)
			return -1;
		fd = open(path,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		    (mode_t)cfg->cache_mode);
		if ((made = fd >= 0))
			store_set_ownership(cfg, path, (mode_t)cfg->cache_mode);
	}
	snprintf(buf, sizeof(buf), "%020" PRId64 "\n", expires);
	if (fd >= 0 && pwrite(fd, buf, WITNESS_LEN, 0) == WITNESS_LEN) {
		close(fd);
		return 0;
	}
	mtasts_error_set(err, MTASTS_ERR_IO,
	    "the witness of %s's enforce policy (%s) cannot be written: %s",
	    domain, path, strerror(errno));
	if (fd >= 0)
		close(fd);
	/* an empty witness would hold the domain for ever (a damaged one
	 * says no expiry) */
	if (made)
		unlink(path);
	return -1;
}

int
cache_witness_forget(const struct mtasts_config *cfg, const char *domain,
    struct mtasts_error *err)
{
	char path[4096];

	if (witness_path(cfg, domain, path, sizeof(path)) != 0)
		return 1;
	if (unlink(path) == 0)
		return 0;
	if (errno == ENOENT)
		return 1;
	mtasts_error_set(err, MTASTS_ERR_IO, "%s: cannot be removed: %s", path,
	    strerror(errno));
	return -1;
}

int
cache_witness_each(const struct mtasts_config *cfg,
    int (*fn)(void *arg, const char *domain, int64_t expires), void *arg,
    struct mtasts_error *err)
{
	char dir[4096];
	struct dirent *d;
	DIR *dp;
	int stop = 0;

	if (cfg->cache_dir == NULL ||
	    witness_path(cfg, NULL, dir, sizeof(dir)) != 0)
		return 0;
	if ((dp = opendir(dir)) == NULL) {
		if (errno == ENOENT)
			return 0;
		mtasts_error_set(err, MTASTS_ERR_CACHE, "%s: %s", dir,
		    strerror(errno));
		return -1;
	}
	while (!stop && (d = readdir(dp)) != NULL) {
		int64_t expires;

		if (d->d_name[0] == '.')
			continue;
		expires = cache_witnessed(cfg, d->d_name, err);
		if (expires < 0) {
			closedir(dp);
			return -1;
		}
		stop = fn(arg, d->d_name, expires);
	}
	closedir(dp);
	return 0;
}
