/*
 * cache_lock.c - one discovery of a domain at a time across processes:
 * byte-range locks in the cache's lock file, one byte per slot.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <time.h>

#include "cache_files.h"

#define LOCK_SLOTS 65536 /* byte-range locks in one file, by domain hash */

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
cache_lock(struct cache *c, const char *domain, long timeout_ms)
{
	struct flock fl = {.l_type = F_WRLCK,
	    .l_whence = SEEK_SET,
	    .l_start = lock_slot(domain),
	    .l_len = 1};
	struct timespec pause = {0, 20 * 1000000};
	long waited = 0;
	int fd = cache_lock_file(c);

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
cache_unlock(struct cache *c, const char *domain)
{
	struct flock fl = {.l_type = F_UNLCK,
	    .l_whence = SEEK_SET,
	    .l_start = lock_slot(domain),
	    .l_len = 1};

	if (c->lock_fd >= 0)
		fcntl(c->lock_fd, F_OFD_SETLK, &fl);
}
