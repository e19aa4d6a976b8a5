/* cache_files.h - what the files of the cache share (cache.c, its space
 * management in cache_space.c, its locks in cache_lock.c, its rebuild in
 * cache_rebuild.c); internal to the cache. */
#ifndef MTASTS_CACHE_FILES_H
#define MTASTS_CACHE_FILES_H

#include <lmdb.h>
#include <stdbool.h>
#include <sys/types.h>

#include "cache.h"

struct cache {
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
	                  opened read-only: cache.c writable()) */
	MDB_txn *volatile writing; /* the write transaction under way */
};

/* mdb_txn_begin, once more after adopting the map size when another
 * process (with a larger cache_size) has grown the map. */
int cache_begin(struct cache *c, unsigned flags, MDB_txn **txn);

/* Gives a file of the cache the configured group and mode (failing is no
 * error: a process that does not own it finds it as its owner set it);
 * one lstat when it has them already. */
void cache_set_ownership(
    const struct mtasts_config *cfg, const char *path, mode_t mode);

/* The mode of a directory of files of mode file_mode: searchable where
 * they are readable, and set-group-ID so that new files take its group
 * (the cache's, and the TLS-RPT store's beside it). */
mode_t cache_dir_mode(unsigned file_mode);

/* Makes directory dir (when it is not there) with the cache's group and
 * cache_dir_mode().  Returns 0, or -1 with err set. */
int cache_make_dir(
    const struct mtasts_config *cfg, const char *dir, struct mtasts_error *err);

/* -1 with err set when data.mdb or lock.mdb in dir is there but not a
 * regular file (a link LMDB would follow and write through). */
int links_in(const char *dir, struct mtasts_error *err);

/* Gives dir/lock.mdb its blocks before LMDB maps it (on a full file
 * system, a write to a page without blocks is a SIGBUS).  -1 with err set
 * when there is no room; 0 otherwise (LMDB says what else is wrong). */
int lock_room(const char *dir, unsigned mode, struct mtasts_error *err);

/* The descriptor of discovery.lock (the discovery locks, the time of the
 * last sweep), opened at its first use: a decision from the cache needs
 * none.  -1 when it cannot be opened. */
int cache_lock_file(struct cache *c);

/* Whether a record fits (policy: one that keeps a policy in force, which
 * is never refused while less used records can go). */
bool cache_has_room(struct cache *c, bool policy);

#endif
