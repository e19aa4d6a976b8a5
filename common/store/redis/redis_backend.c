/*
 * redis_backend.c - the fleet's Redis as a cache_backend: the door
 * (cache.c) asks it after the local cache, never in its place.
 */
#include "redis.h"

const struct cache_backend redis_cache_backend = {
	.name = "redis",
	.open = redis_cache_open,
	.close = redis_cache_close,
	.get = redis_cache_get,
	.put_if_newer = redis_cache_put_if_newer,
	.del = redis_cache_del,
	.each = redis_cache_each,
	.room = redis_cache_room,
	.lock = redis_cache_lock,
	.unlock = redis_cache_unlock,
	.claim = redis_cache_claim,
	.unclaim = redis_cache_unclaim,
	.rebuild = NULL,
};
