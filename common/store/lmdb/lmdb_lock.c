/*
 * lmdb_lock.c - one discovery of a domain at a time across processes:
 * byte-range locks in the cache's lock file, one byte per slot.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "files.h"
#include "lmdb_map.h"

#define LOCK_SLOTS 65536 /* byte-range locks in one file, by domain hash */

int
lmdb_lock_file(struct lmdb_cache *c)
{
	char path[4096];

	if (c->lock_fd >= 0)
		return c->lock_fd;
	snprintf(path, sizeof(path), "%s/discovery.lock", c->cfg->cache_dir);
	/* not through a link a member of the cache's group put there */
	c->lock_fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
	    (mode_t)c->cfg->cache_mode);
	if (c->lock_fd >= 0)
		store_set_ownership(c->cfg, path, (mode_t)c->cfg->cache_mode);
	return c->lock_fd;
}

/* FNV-1a: spreads domains over the lock slots. */
static off_t
lock_slot(const char *domain)
{
	uint32_t h = 2166136261u;

	for (; *domain != '\0'; domain++)
		h = (h ^ (unsigned char)*domain) * 16777619u;
	return (off_t)(h % LOCK_SLOTS);
}

int
lmdb_lock(void *store, const char *domain, long timeout_ms)
{
	struct lmdb_cache *c = store;
	struct flock fl = {.l_type = F_WRLCK,
	    .l_whence = SEEK_SET,
	    .l_start = lock_slot(domain),
	    .l_len = 1};
	struct timespec pause = {0, 20 * 1000000};
	long waited = 0;
	int fd = lmdb_lock_file(c);

	if (fd < 0)
		return -1;
	/* open file description locks: per descriptor, released by the
	 * kernel when the holder dies */
	while (fcntl(fd, F_OFD_SETLK, &fl) != 0) {
		if ((errno != EAGAIN && errno != EACCES) ||
		    waited >= timeout_ms)
			return -1;
		nanosleep(&pause, NULL);
		waited += 20;
	}
	return waited > 0 ? 1 : 0;
}

void
lmdb_unlock(void *store, const char *domain)
{
	struct lmdb_cache *c = store;
	struct flock fl = {.l_type = F_UNLCK,
	    .l_whence = SEEK_SET,
	    .l_start = lock_slot(domain),
	    .l_len = 1};

	if (c->lock_fd >= 0)
		fcntl(c->lock_fd, F_OFD_SETLK, &fl);
}
