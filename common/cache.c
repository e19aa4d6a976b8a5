/*
 * cache.c - the policy cache on LMDB.  LMDB gives what many mail processes
 * need: readers that never block, one writer at a time, and a file that a
 * process killed at any moment leaves consistent.  Records carry a version
 * byte; a record that does not decode is an error, never "no policy".
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "clock.h"
#include "error.h"

#define LOCK_SLOTS 65536 /* byte-range locks in one file, by domain hash */
/* percent of the map any record may fill; one with a policy in force */
#define ROOM_FOR_ANSWERS 90
#define ROOM_FOR_POLICIES 97

struct cache {
	MDB_env *env;
	MDB_dbi dbi;
	int lock_fd;
};

static mtasts_code
lmdb_error(struct mtasts_error *err, const char *what, const char *dir, int rc)
{
	return mtasts_error_set(err, MTASTS_ERR_CACHE, "cache %s: %s: %s", dir,
	    what, mdb_strerror(rc));
}

/*
 * Gives a file of the cache the configured group and mode.  Failing is no
 * error: a process that does not own the file finds it as its owner set it
 * up.
 */
static void
set_ownership(const struct mtasts_config *cfg, const char *path, mode_t mode)
{
	struct group *g;

	/* each on its own: a group that cannot be set leaves the mode due */
	if (cfg->cache_group != NULL &&
	    (g = getgrnam(cfg->cache_group)) != NULL &&
	    chown(path, (uid_t)-1, g->gr_gid) != 0) {
		/* not the owner, or not in the group: as set up before */
	}
	if (chmod(path, mode) != 0) {
		/* not the owner: as set up before */
	}
}

/*
 * mdb_txn_begin, once more after adopting the map size when another
 * process (with a larger cache_size) has grown the map.
 */
static int
begin(struct cache *c, unsigned flags, MDB_txn **txn)
{
	int rc = mdb_txn_begin(c->env, NULL, flags, txn);

	if (rc == MDB_MAP_RESIZED && mdb_env_set_mapsize(c->env, 0) == 0)
		rc = mdb_txn_begin(c->env, NULL, flags, txn);
	return rc;
}

/* The directory's mode: searchable where the files are readable, and
 * set-group-ID so that new files take its group. */
static mode_t
dir_mode(unsigned file_mode)
{
	mode_t m = (mode_t)file_mode | S_ISGID;

	if (file_mode & 0040)
		m |= 0010;
	if (file_mode & 0004)
		m |= 0001;
	return m | 0700;
}

static int
open_files(
    struct cache *c, const struct mtasts_config *cfg, struct mtasts_error *err)
{
	const char *dir = cfg->cache_dir;
	char path[4096];
	int rc, dead;
	MDB_txn *txn;

	if (mkdir(dir, 0700) == 0)
		set_ownership(cfg, dir, dir_mode(cfg->cache_mode));
	else if (errno != EEXIST)
		return mtasts_error_set(err, MTASTS_ERR_CACHE,
		    "cache %s: cannot create it: %s", dir, strerror(errno));
	if ((rc = mdb_env_create(&c->env)) != 0)
		return lmdb_error(err, "create", dir, rc);
	mdb_env_set_mapsize(c->env, cfg->cache_size);
	/* every Exim delivery is a reader for a moment */
	mdb_env_set_maxreaders(c->env, 1024);
	/* NOTLS: read transactions are not tied to threads */
	rc = mdb_env_open(c->env, dir, MDB_NOTLS, (mdb_mode_t)cfg->cache_mode);
	if (rc != 0)
		return lmdb_error(err, "open", dir, rc);
	/* clear reader slots of processes that died holding them */
	mdb_reader_check(c->env, &dead);
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	set_ownership(cfg, path, (mode_t)cfg->cache_mode);
	snprintf(path, sizeof(path), "%s/lock.mdb", dir);
	set_ownership(cfg, path, (mode_t)cfg->cache_mode);
	if ((rc = begin(c, MDB_RDONLY, &txn)) != 0)
		return lmdb_error(err, "read", dir, rc);
	rc = mdb_dbi_open(txn, NULL, 0, &c->dbi);
	mdb_txn_abort(txn);
	if (rc != 0)
		return lmdb_error(err, "open", dir, rc);
	snprintf(path, sizeof(path), "%s/discovery.lock", dir);
	c->lock_fd =
	    open(path, O_RDWR | O_CREAT | O_CLOEXEC, (mode_t)cfg->cache_mode);
	if (c->lock_fd < 0)
		return mtasts_error_set(err, MTASTS_ERR_CACHE,
		    "cache %s: %s: %s", dir, path, strerror(errno));
	set_ownership(cfg, path, (mode_t)cfg->cache_mode);
	return 0;
}

struct cache *
cache_open(const struct mtasts_config *cfg, struct mtasts_error *err)
{
	struct cache *c;

	if (cfg->cache_dir == NULL) {
		mtasts_error_set(err, MTASTS_ERR_CACHE, "no cache_dir is set");
		return NULL;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		mtasts_error_set(err, MTASTS_ERR_NOMEM, "out of memory");
		return NULL;
	}
	c->lock_fd = -1;
	if (open_files(c, cfg, err) != 0) {
		cache_close(c);
		return NULL;
	}
	return c;
}

void
cache_close(struct cache *c)
{
	if (c == NULL)
		return;
	if (c->env != NULL)
		mdb_env_close(c->env);
	if (c->lock_fd >= 0)
		close(c->lock_fd);
	free(c);
}


mtasts_code
cache_get(struct cache *c, const char *domain, struct cache_entry *e,
    struct mtasts_error *err)
{
	MDB_txn *txn;
	MDB_val key = {strlen(domain), (void *)domain}, val;
	int rc;

	memset(e, 0, sizeof(*e));
	if ((rc = begin(c, MDB_RDONLY, &txn)) != 0)
		return lmdb_error(err, "read", domain, rc);
	rc = mdb_get(txn, c->dbi, &key, &val);
	if (rc == MDB_NOTFOUND) {
		mdb_txn_abort(txn);
		return MTASTS_ERR_DNS_NXDOMAIN;
	}
	if (rc != 0) {
		mdb_txn_abort(txn);
		return lmdb_error(err, "read", domain, rc);
	}
	rc = record_decode(val.mv_data, val.mv_size, e);
	mdb_txn_abort(txn);
	if (rc != 0) {
		cache_entry_clear(e);
		return mtasts_error_set(err, MTASTS_ERR_CACHE,
		    "cache: the record of %s is damaged or of another version",
		    domain);
	}
	return MTASTS_OK;
}


/* A record that says nothing any more: its policy expired, or its "no
 * policy" or error is past its retry time. */
static bool
is_stale(const unsigned char *data, size_t len, int64_t now)
{
	struct cache_entry e;
	bool stale;

	if (record_decode(data, len, &e) != 0) {
		cache_entry_clear(&e);
		return false; /* may hold a policy: never dropped unasked */
	}
	stale = e.policy != NULL ? e.policy->expires <= now : e.next_try <= now;
	cache_entry_clear(&e);
	return stale;
}

/* Deletes the stale records; how many went. */
static size_t
drop_stale(struct cache *c)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val key, val;
	int64_t now = wall_now();
	size_t n = 0;

	if (begin(c, 0, &txn) != 0)
		return 0;
	if (mdb_cursor_open(txn, c->dbi, &cur) != 0) {
		mdb_txn_abort(txn);
		return 0;
	}
	while (mdb_cursor_get(cur, &key, &val, MDB_NEXT) == 0)
		if (is_stale(val.mv_data, val.mv_size, now) &&
		    mdb_cursor_del(cur, 0) == 0)
			n++;
	mdb_cursor_close(cur);
	if (mdb_txn_commit(txn) != 0)
		return 0;
	return n;
}

/*
 * Percent of the map in use: the high-water mark less the pages LMDB keeps
 * free for reuse.  Stale records must go before the map is full: then even
 * a delete fails (it copies the pages it changes).
 */
static unsigned
percent_used(struct cache *c)
{
	MDB_envinfo info;
	MDB_stat st;
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	size_t total, used, free_pages = 0, count;

	/* adopt a map another process grew (a cache_size raised since) */
	mdb_env_set_mapsize(c->env, 0);
	if (mdb_env_info(c->env, &info) != 0 ||
	    mdb_env_stat(c->env, &st) != 0 ||
	    (total = info.me_mapsize / st.ms_psize) == 0)
		return 0;
	used = info.me_last_pgno + 1;
	if (used * 100 < total * ROOM_FOR_ANSWERS)
		return (unsigned)(used * 100 / total);
	if (begin(c, MDB_RDONLY, &txn) != 0)
		return 0;
	/* the free list (database 0): each value counts its pages first */
	if (mdb_cursor_open(txn, 0, &cur) == 0) {
		while (mdb_cursor_get(cur, &k, &v, MDB_NEXT) == 0)
			if (v.mv_size >= sizeof(count)) {
				memcpy(&count, v.mv_data, sizeof(count));
				free_pages += count;
			}
		mdb_cursor_close(cur);
	}
	mdb_txn_abort(txn);
	used = used > free_pages ? used - free_pages : 0;
	return (unsigned)(used * 100 / total);
}

/*
 * Room for a record: up to ROOM_FOR_ANSWERS percent of the map for any,
 * up to ROOM_FOR_POLICIES for one that keeps a policy in force; the rest
 * is kept for the deletes that free space.  Above the limit, the stale
 * records go first, swept by one process a minute at most (the lock
 * file's time says when the last sweep was, for every process).
 */
static bool
has_room(struct cache *c, bool policy)
{
	unsigned limit = policy ? ROOM_FOR_POLICIES : ROOM_FOR_ANSWERS;
	struct stat st;

	if (percent_used(c) < limit)
		return true;
	if (fstat(c->lock_fd, &st) != 0 || st.st_mtime + 60 > time(NULL))
		return false;
	futimens(c->lock_fd, NULL);
	return drop_stale(c) > 0 && percent_used(c) < limit;
}

/*
 * A record checked at then is newer than an answer checked at now: later,
 * but not so much later that only a clock set back explains it (such a
 * record would otherwise win against every answer until the clock caught
 * up).
 */
static bool
is_newer(int64_t then, int64_t now)
{
	return then > now && then - now <= 3600;
}

/* What an old record holds that an answer without a policy must not
 * replace: a policy in force at now, or bytes that do not decode (they
 * may hold one). */
static bool
holds_policy(const MDB_val *old, int64_t now)
{
	struct cache_entry e;
	bool holds;

	if (record_decode(old->mv_data, old->mv_size, &e) != 0) {
		cache_entry_clear(&e);
		return true;
	}
	holds = e.policy != NULL && e.policy->expires > now;
	cache_entry_clear(&e);
	return holds;
}

/*
 * Writes the record, unless what the cache holds must stay: both rules
 * are checked inside the write transaction, where writers are
 * serialised, not on a read made before discovery (a peer may have
 * written since).
 */
static int
put_record(struct cache *c, MDB_val *key, MDB_val *val, int64_t checked,
    bool has_policy)
{
	MDB_txn *txn;
	MDB_val old;
	int rc;

	if ((rc = begin(c, 0, &txn)) != 0)
		return rc;
	if (mdb_get(txn, c->dbi, key, &old) == 0 &&
	    /* a peer's answer checked after this one began is newer */
	    (is_newer(record_checked(old.mv_data, old.mv_size), checked) ||
	        /* RFC 8461 §5.1: failures never end a policy early */
	        (!has_policy && holds_policy(&old, checked)))) {
		mdb_txn_abort(txn);
		return 0;
	}
	rc = mdb_put(txn, c->dbi, key, val, 0);
	if (rc == 0)
		return mdb_txn_commit(txn);
	mdb_txn_abort(txn);
	return rc;
}

mtasts_code
cache_put(struct cache *c, const char *domain, const struct cache_entry *e,
    struct mtasts_error *err)
{
	MDB_val key = {strlen(domain), (void *)domain}, val;
	unsigned char *data;
	size_t len;
	int rc;

	if (record_encode(e, &data, &len) != 0)
		return mtasts_error_set(err, MTASTS_ERR_NOMEM, "out of memory");
	val = (MDB_val){len, data};
	rc = has_room(c, e->policy != NULL && e->policy->expires > e->checked)
	    ? put_record(c, &key, &val, e->checked, e->policy != NULL)
	    : MDB_MAP_FULL;
	free(data);
	if (rc == MDB_MAP_FULL)
		return mtasts_error_set(err, MTASTS_ERR_CACHE,
		    "cache: full of policies in force; raise cache_size");
	if (rc != 0)
		return lmdb_error(err, "write", domain, rc);
	return MTASTS_OK;
}

mtasts_code
cache_del(struct cache *c, const char *domain, struct mtasts_error *err)
{
	MDB_txn *txn;
	MDB_val key = {strlen(domain), (void *)domain};
	int rc;

	if ((rc = begin(c, 0, &txn)) != 0)
		return lmdb_error(err, "write", domain, rc);
	rc = mdb_del(txn, c->dbi, &key, NULL);
	if (rc != 0) {
		mdb_txn_abort(txn);
		if (rc == MDB_NOTFOUND)
			return MTASTS_ERR_DNS_NXDOMAIN;
		return lmdb_error(err, "write", domain, rc);
	}
	if ((rc = mdb_txn_commit(txn)) != 0)
		return lmdb_error(err, "write", domain, rc);
	return MTASTS_OK;
}

mtasts_code
cache_each(struct cache *c,
    int (*fn)(void *arg, const char *domain, const struct cache_entry *e),
    void *arg, struct mtasts_error *err)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val key, val;
	char domain[300];
	int rc, stop = 0;

	if ((rc = begin(c, MDB_RDONLY, &txn)) != 0)
		return lmdb_error(err, "read", "all", rc);
	if ((rc = mdb_cursor_open(txn, c->dbi, &cur)) != 0) {
		mdb_txn_abort(txn);
		return lmdb_error(err, "read", "all", rc);
	}
	while (!stop && mdb_cursor_get(cur, &key, &val, MDB_NEXT) == 0) {
		struct cache_entry e;

		if (key.mv_size >= sizeof(domain))
			continue;
		memcpy(domain, key.mv_data, key.mv_size);
		domain[key.mv_size] = '\0';
		if (record_decode(val.mv_data, val.mv_size, &e) != 0) {
			cache_entry_clear(&e);
			e.status = MTASTS_STATUS_ERRORED;
			mtasts_error_set(&e.error, MTASTS_ERR_CACHE,
			    "the record is damaged or of another version");
		}
		stop = fn(arg, domain, &e);
		cache_entry_clear(&e);
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return MTASTS_OK;
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
cache_lock(struct cache *c, const char *domain, long timeout_ms)
{
	struct flock fl = {.l_type = F_WRLCK,
	    .l_whence = SEEK_SET,
	    .l_start = lock_slot(domain),
	    .l_len = 1};
	struct timespec pause = {0, 20 * 1000000};
	long waited = 0;

	/* open file description locks: per descriptor, released by the
	 * kernel when the holder dies */
	while (fcntl(c->lock_fd, F_OFD_SETLK, &fl) != 0) {
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

	fcntl(c->lock_fd, F_OFD_SETLK, &fl);
}
