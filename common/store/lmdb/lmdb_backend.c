/* lmdb_backend.c - the LMDB cache as a cache_backend (cache.c's table). */
#include "lmdb_map.h"

const struct cache_backend lmdb_cache_backend = {
	.name = "lmdb",
	.open = lmdb_cache_open,
	.close = lmdb_cache_close,
	.get = lmdb_cache_get,
	.put_if_newer = lmdb_cache_put_if_newer,
	.del = lmdb_cache_del,
	.each = lmdb_cache_each,
	.room = lmdb_room,
	.lock = lmdb_lock,
	.unlock = lmdb_unlock,
	.rebuild = lmdb_rebuild,
};
