/*
 * lmdb_map.h - what the files of the LMDB cache share: its map, opened
 * and reopened (lmdb_map.c), its room (lmdb_space.c), its discovery locks
 * (lmdb_lock.c); private to store/lmdb/.  Calls run one way:
 * lmdb_backend.c -> lmdb_rebuild.c -> lmdb_cache.c -> lmdb_space.c ->
 * lmdb_lock.c, and each of them to lmdb_map.c.
 */
#ifndef MTASTS_LMDB_MAP_H
#define MTASTS_LMDB_MAP_H

#include <lmdb.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cache_backend.h"

struct lmdb_cache {
	const struct mtasts_config *cfg;
	MDB_env *env; /* NULL after a fault: left as it was, never touched */
	MDB_dbi dbi;
	int lock_fd;
	dev_t dev; /* data.mdb as opened: one set aside is replaced */
	ino_t ino;
	int64_t looked; /* when (mono_ms) data.mdb was last compared */
	bool faulted; /* a fault let go of the map (dev, ino): never opened
	                 again in this process, whose locks it may hold */
	bool writable; /* opened for writing (the first write reopens a map
	                  opened read-only: lmdb_writable()) */
	MDB_txn *volatile writing; /* the write transaction under way */
};

/* lmdb_map.c */

/* Opens the map of c->cfg->cache_dir (read-only unless c->writable, or
 * when there is none yet).  0, or -1 with err set. */
int lmdb_open_map(struct lmdb_cache *c, struct mtasts_error *err);

/* The map to use, reopened when this process let go of it after a fault
 * or mtasts cache rebuild replaced the file; writable, for a write.  0,
 * or -1 with err set. */
int lmdb_current(struct lmdb_cache *c, struct mtasts_error *err);
int lmdb_writable(struct lmdb_cache *c, struct mtasts_error *err);

/* mdb_txn_begin, once more after adopting the map size when another
 * process (with a larger cache_size) has grown the map. */
int lmdb_begin(struct lmdb_cache *c, unsigned flags, MDB_txn **txn);

/* Whether LMDB's rc says the map is damaged. */
bool lmdb_is_damage(int rc);

/* An LMDB failure as MTASTS_ERR_CACHE; one that says the map is damaged
 * sets the map aside (lmdb_failed), as a memory fault does
 * (lmdb_faulted). */
mtasts_code lmdb_error(
    struct mtasts_error *err, const char *what, const char *dir, int rc);
mtasts_code lmdb_failed(struct lmdb_cache *c, struct mtasts_error *err,
    const char *what, const char *domain, int rc);
mtasts_code lmdb_faulted(struct lmdb_cache *c, struct mtasts_error *err);

/* -1 with err set when data.mdb or lock.mdb in dir is there but not a
 * regular file (a link LMDB would follow and write through). */
int lmdb_links_in(const char *dir, struct mtasts_error *err);

/* Gives dir/lock.mdb its blocks before LMDB maps it (on a full file
 * system, a write to a page without blocks is a SIGBUS).  -1 with err set
 * when there is no room; 0 otherwise (LMDB says what else is wrong). */
int lmdb_lock_room(const char *dir, unsigned mode, struct mtasts_error *err);

/* lmdb_lock.c */

/* The descriptor of discovery.lock (the discovery locks, the time of the
 * last sweep), opened at its first use: a decision from the cache needs
 * none.  -1 when it cannot be opened. */
int lmdb_lock_file(struct lmdb_cache *c);
int lmdb_lock(void *store, const char *domain, long timeout_ms);
void lmdb_unlock(void *store, const char *domain);

/* lmdb_space.c */

/* Whether a record fits (policy: one that keeps a policy in force, which
 * is never refused while less used records can go). */
bool lmdb_has_room(struct lmdb_cache *c, bool policy);
int lmdb_room(void *store, uint64_t *used, uint64_t *size);

/* lmdb_cache.c: the operations of cache_backend.h */
void *lmdb_cache_open(
    const struct mtasts_config *cfg, struct mtasts_error *err);
void lmdb_cache_close(void *store);
mtasts_code lmdb_cache_get(void *store, const char *domain,
    struct cache_entry *e, struct mtasts_error *err);
mtasts_code lmdb_cache_put_if_newer(void *store, const char *domain,
    const struct cache_entry *e, bool *wrote, struct mtasts_error *err);
mtasts_code lmdb_cache_del(
    void *store, const char *domain, struct mtasts_error *err);
mtasts_code lmdb_cache_each(void *store,
    int (*fn)(void *arg, const char *domain, const struct cache_entry *e),
    void *arg, struct mtasts_error *err);

/* lmdb_rebuild.c */
mtasts_code lmdb_rebuild(const struct mtasts_config *cfg, size_t *kept,
    struct mtasts_error *err);

#endif
