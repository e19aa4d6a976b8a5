/*
 * lmdb_map.c - the LMDB cache's map: opened read-only for a decision,
 * writable for a write, opened again when mtasts cache rebuild replaced
 * the file, set aside when LMDB or a memory fault says it is damaged.
 */
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "error.h"
#include "files.h"
#include "guard.h"
#include "lmdb_map.h"

mtasts_code
lmdb_error(struct mtasts_error *err, const char *what, const char *dir, int rc)
{
	return mtasts_error_set(err, MTASTS_ERR_CACHE, "cache %s: %s: %s", dir,
	    what, mdb_strerror(rc));
}

/*
 * mdb_txn_begin, once more after adopting the map size when another
 * process (with a larger cache_size) has grown the map.
 */
int
lmdb_begin(struct lmdb_cache *c, unsigned flags, MDB_txn **txn)
{
	int rc = mdb_txn_begin(c->env, NULL, flags, txn);

	if (rc == MDB_MAP_RESIZED && mdb_env_set_mapsize(c->env, 0) == 0)
		rc = mdb_txn_begin(c->env, NULL, flags, txn);
	return rc;
}

/*
 * LMDB opens data.mdb and lock.mdb as it finds them, and writes to them:
 * a link a member of the cache's group put there would have a root
 * process (Exim's routers) write wherever it points.  Only regular files.
 */
int
lmdb_links_in(const char *dir, struct mtasts_error *err)
{
	static const char *const names[] = {"data.mdb", "lock.mdb"};
	char path[4096];
	struct stat st;
	size_t i;

	for (i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
			mtasts_error_set(err, MTASTS_ERR_CACHE,
			    "%s: not a regular file (a link?): not opened",
			    path);
			return -1;
		}
	}
	return 0;
}

/*
 * LMDB makes lock.mdb with ftruncate, which gives it no blocks, and writes
 * its lock table through a shared map: on a full file system the first
 * write to a page without blocks is a SIGBUS in whatever process made it
 * (an Exim delivery, the filter, the command).  The blocks are given here,
 * before LMDB maps the file; when there is no room for them the store is
 * not opened, with a message that says so.  A file that has its blocks
 * costs one lstat.
 */
#define LOCK_FILE_SIZE (128 * 1024) /* LMDB's table for 1,024 readers
                                       takes 65,664 bytes; it takes a
                                       larger file as it is */
int
lmdb_lock_room(const char *dir, unsigned mode, struct mtasts_error *err)
{
	char path[4096];
	struct stat st;
	off_t size = LOCK_FILE_SIZE;
	int fd, rc = 0;

	snprintf(path, sizeof(path), "%s/lock.mdb", dir);
	if (lstat(path, &st) == 0) {
		if (!S_ISREG(st.st_mode) ||
		    (st.st_size > 0 && (off_t)st.st_blocks * 512 >= st.st_size))
			return 0; /* links_in() refuses the first */
		if (st.st_size > size)
			size = st.st_size;
	}
	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
	    (mode_t)mode);
	if (fd < 0)
		return 0; /* LMDB says why when it opens it */
	/* fallocate(2), not posix_fallocate(): where the file system has
	 * none, glibc would write zeros over a lock table in use */
	if (fallocate(fd, 0, 0, size) != 0)
		rc = errno;
	close(fd);
	if (rc == ENOSPC || rc == EDQUOT) {
		mtasts_error_set(err, MTASTS_ERR_CACHE,
		    "%s: no room for its lock table on the file system (%s): "
		    "not opened",
		    path, strerror(rc));
		return -1;
	}
	return 0;
}

/* A file of the cache, for a name beside it (data.mdb.damaged). */
static void
path_of(const struct lmdb_cache *c, const char *name, char *path, size_t len)
{
	snprintf(path, len, "%s/%s", c->cfg->cache_dir, name);
}

/*
 * Whether readers of the map are seen by its writers, through a lock table
 * of this very data.mdb: LMDB reads without one where lock.mdb cannot be
 * written (a read-only file system), and writers then reuse pages under
 * the reader; and a lock table set up from another data.mdb (a process
 * that opened while mtasts cache rebuild swapped the files) hands readers
 * a transaction the file does not have, so that they read an old root,
 * empty for a rebuilt file: "not cached" where a policy is.  txn: a read
 * transaction of the map.
 */
static bool
lock_table_pairs(MDB_env *env, MDB_txn *txn)
{
	MDB_envinfo info;

	return mdb_env_info(env, &info) == 0 && info.me_numreaders > 0 &&
	    mdb_txn_id(txn) <= info.me_last_txnid;
}

int
lmdb_open_map(struct lmdb_cache *c, struct mtasts_error *err)
{
	const struct mtasts_config *cfg = c->cfg;
	const char *dir = cfg->cache_dir;
	char path[4096];
	struct stat st;
	struct store_group group;
	int rc, dead;
	mdb_filehandle_t fd;
	bool paired;
	MDB_txn *txn;

	if (store_make_dir(cfg, dir, err) != 0)
		return -1;
	if (lmdb_links_in(dir, err) != 0 ||
	    lmdb_lock_room(dir, cfg->cache_mode, err) != 0)
		return -1;
	group = store_group_for(cfg, dir);
	if ((rc = mdb_env_create(&c->env)) != 0)
		return lmdb_error(err, "create", dir, rc);
	mdb_env_set_mapsize(c->env, cfg->cache_size);
	/* every Exim delivery is a reader for a moment */
	mdb_env_set_maxreaders(c->env, 1024);
	/* NOTLS: read transactions are not tied to threads */
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	c->looked = mono_ms();
	rc = mdb_env_open(c->env, dir,
	    MDB_NOTLS | (c->writable ? 0 : MDB_RDONLY),
	    (mdb_mode_t)cfg->cache_mode);
	if (rc != 0 && !c->writable && !lmdb_is_damage(rc)) {
		/* no data.mdb yet, or an empty one (its maker died): made or
		 * set up by a writable open, as is any other failure */
		mdb_env_close(c->env);
		c->env = NULL;
		c->writable = true;
		return lmdb_open_map(c, err);
	}
	if (rc != 0)
		return lmdb_failed(c, err, "open", dir, rc);
	/* clear reader slots of processes that died holding them */
	mdb_reader_check(c->env, &dead);
	if (mdb_env_get_fd(c->env, &fd) == 0 && fstat(fd, &st) == 0) {
		c->dev = st.st_dev; /* as opened (or made) */
		c->ino = st.st_ino;
	}
	store_own(path, &group, (mode_t)cfg->cache_mode);
	snprintf(path, sizeof(path), "%s/lock.mdb", dir);
	store_own(path, &group, (mode_t)cfg->cache_mode);
	if ((rc = lmdb_begin(c, MDB_RDONLY, &txn)) != 0)
		return lmdb_failed(c, err, "read", dir, rc);
	rc = mdb_dbi_open(txn, NULL, 0, &c->dbi);
	paired = lock_table_pairs(c->env, txn);
	mdb_txn_abort(txn);
	if (rc != 0)
		return lmdb_failed(c, err, "open", dir, rc);
	if (!paired)
		return mtasts_error_set(err, MTASTS_ERR_CACHE,
		    "cache %s: no lock table for data.mdb (a read-only file "
		    "system?) or one of another data.mdb (a rebuild under "
		    "way): not read",
		    dir);
	return 0;
}

/*
 * The map is damaged (a memory fault while reading it, or LMDB saw a page
 * that cannot be): this process lets go of its view of it - a write under
 * way first, under a guard of its own (the writer lock would hold every
 * other writer) - and never touches it again.  The file stays: it may
 * hold enforce policies that "no policy" answers must not replace, so
 * domains without a policy from the network defer until the operator
 * runs mtasts cache rebuild, which keeps every record still readable.
 */
static void
abandon_damaged_map(struct lmdb_cache *c, bool faulted)
{
	MDB_txn *txn = c->writing;
	sigjmp_buf jump;

	c->writing = NULL;
	if (txn != NULL && sigsetjmp(jump, 0) == 0) {
		guard_enter(&jump);
		mdb_txn_abort(txn);
		guard_leave();
	}
	/* after an error LMDB returned, every transaction is closed and the
	 * map can be let go of properly; after a fault, nothing of it is
	 * touched again (a leak, once per damage) */
	if (!faulted && c->env != NULL)
		mdb_env_close(c->env);
	c->env = NULL;
}

bool
lmdb_is_damage(int rc)
{
	return rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND ||
	    rc == MDB_INVALID || rc == MDB_BAD_TXN;
}

/* An LMDB failure; one that says the map is damaged sets it aside. */
mtasts_code
lmdb_failed(struct lmdb_cache *c, struct mtasts_error *err, const char *what,
    const char *domain, int rc)
{
	if (!lmdb_is_damage(rc))
		return lmdb_error(err, what, domain, rc);
	abandon_damaged_map(c, false);
	return mtasts_error_set(err, MTASTS_ERR_CACHE,
	    "cache %s: damaged (%s): run mtasts cache rebuild",
	    c->cfg->cache_dir, mdb_strerror(rc));
}

mtasts_code
lmdb_faulted(struct lmdb_cache *c, struct mtasts_error *err)
{
	c->faulted = true;
	abandon_damaged_map(c, true);
	return mtasts_error_set(err, MTASTS_ERR_CACHE,
	    "cache %s: damaged (a memory fault reading it): run mtasts cache "
	    "rebuild",
	    c->cfg->cache_dir);
}

/*
 * The map to use: the one open, unless this process let go of it after a
 * fault, or mtasts cache rebuild replaced the file (looked at once a
 * second): then the file there now.
 */
int
lmdb_current(struct lmdb_cache *c, struct mtasts_error *err)
{
	char path[4096];
	struct stat st;
	int64_t now = mono_ms();

	if (c->env != NULL) {
		if (now - c->looked < 1000)
			return 0;
		c->looked = now;
		path_of(c, "data.mdb", path, sizeof(path));
		if (stat(path, &st) == 0 && st.st_dev == c->dev &&
		    st.st_ino == c->ino)
			return 0;
		mdb_env_close(c->env);
		c->env = NULL;
	} else if (c->faulted) {
		/* the map that faulted is not opened twice in one process
		 * (LMDB forbids it; this one may hold its locks): only a
		 * rebuilt file is */
		path_of(c, "data.mdb", path, sizeof(path));
		if (stat(path, &st) != 0 ||
		    (st.st_dev == c->dev && st.st_ino == c->ino)) {
			mtasts_error_set(err, MTASTS_ERR_CACHE,
			    "cache %s: damaged: run mtasts cache rebuild",
			    c->cfg->cache_dir);
			return -1;
		}
		c->faulted = false;
	}
	if (c->lock_fd >= 0)
		close(c->lock_fd);
	c->lock_fd = -1;
	if (lmdb_open_map(c, err) == 0)
		return 0;
	if (c->env != NULL)
		mdb_env_close(c->env);
	c->env = NULL;
	return -1;
}

/*
 * The map, writable: a map opened read-only (as a decision from the cache
 * needs: a writable one costs LMDB 3 MB of write buffers, mapped in every
 * Exim process) is closed and opened again writable.  LMDB allows one
 * environment per file in a process; no transaction is open between the
 * calls of this file, and discovery.lock, whose locks a discovery may be
 * holding, is left open.
 */
int
lmdb_writable(struct lmdb_cache *c, struct mtasts_error *err)
{
	if (lmdb_current(c, err) != 0)
		return -1;
	if (c->writable)
		return 0;
	mdb_env_close(c->env);
	c->env = NULL;
	c->writable = true;
	if (lmdb_open_map(c, err) == 0)
		return 0;
	if (c->env != NULL)
		mdb_env_close(c->env);
	c->env = NULL;
	/* a process that may read but not write still reads: the next
	 * read opens the map read-only again */
	c->writable = false;
	return -1;
}
