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
#include "guard.h"

#define LOCK_SLOTS 65536 /* byte-range locks in one file, by domain hash */
/* percent of the map any record may fill; one with a policy in force */
#define ROOM_FOR_ANSWERS 90
#define ROOM_FOR_POLICIES 97

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
	MDB_txn *volatile writing; /* the write transaction under way */
};

static mtasts_code failed(struct cache *c, struct mtasts_error *err,
    const char *what, const char *domain, int rc);

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
	struct stat st;
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
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	if (stat(path, &st) == 0) {
		c->dev = st.st_dev;
		c->ino = st.st_ino;
	}
	c->looked = mono_ms();
	rc = mdb_env_open(c->env, dir, MDB_NOTLS, (mdb_mode_t)cfg->cache_mode);
	if (rc != 0)
		return failed(c, err, "open", dir, rc);
	/* clear reader slots of processes that died holding them */
	mdb_reader_check(c->env, &dead);
	if (stat(path, &st) == 0) { /* made just now */
		c->dev = st.st_dev;
		c->ino = st.st_ino;
	}
	set_ownership(cfg, path, (mode_t)cfg->cache_mode);
	snprintf(path, sizeof(path), "%s/lock.mdb", dir);
	set_ownership(cfg, path, (mode_t)cfg->cache_mode);
	if ((rc = begin(c, MDB_RDONLY, &txn)) != 0)
		return failed(c, err, "read", dir, rc);
	rc = mdb_dbi_open(txn, NULL, 0, &c->dbi);
	mdb_txn_abort(txn);
	if (rc != 0)
		return failed(c, err, "open", dir, rc);
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
	c->cfg = cfg;
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

/* A file of the cache, for a name beside it (data.mdb.damaged). */
static void
path_of(const struct cache *c, const char *name, char *path, size_t len)
{
	snprintf(path, len, "%s/%s", c->cfg->cache_dir, name);
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
let_go(struct cache *c, bool faulted)
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

static bool
is_damage(int rc)
{
	return rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND ||
	    rc == MDB_INVALID || rc == MDB_BAD_TXN;
}

/* An LMDB failure; one that says the map is damaged sets it aside. */
static mtasts_code
failed(struct cache *c, struct mtasts_error *err, const char *what,
    const char *domain, int rc)
{
	if (!is_damage(rc))
		return lmdb_error(err, what, domain, rc);
	let_go(c, false);
	return mtasts_error_set(err, MTASTS_ERR_CACHE,
	    "cache %s: damaged (%s): run mtasts cache rebuild",
	    c->cfg->cache_dir, mdb_strerror(rc));
}

static mtasts_code
faulted(struct cache *c, struct mtasts_error *err)
{
	c->faulted = true;
	let_go(c, true);
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
static int
current(struct cache *c, struct mtasts_error *err)
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
	if (open_files(c, c->cfg, err) == 0)
		return 0;
	if (c->env != NULL)
		mdb_env_close(c->env);
	c->env = NULL;
	return -1;
}

mtasts_code
cache_get(struct cache *c, const char *domain, struct cache_entry *e,
    struct mtasts_error *err)
{
	MDB_txn *txn;
	MDB_val key = {strlen(domain), (void *)domain}, val;
	sigjmp_buf jump;
	int rc;

	memset(e, 0, sizeof(*e));
	if (current(c, err) != 0)
		return MTASTS_ERR_CACHE;
	if (sigsetjmp(jump, 0) != 0)
		return faulted(c, err);
	guard_enter(&jump);
	if ((rc = begin(c, MDB_RDONLY, &txn)) != 0) {
		guard_leave();
		return failed(c, err, "read", domain, rc);
	}
	rc = mdb_get(txn, c->dbi, &key, &val);
	if (rc == MDB_NOTFOUND) {
		mdb_txn_abort(txn);
		guard_leave();
		return MTASTS_ERR_NOT_CACHED;
	}
	if (rc != 0) {
		mdb_txn_abort(txn);
		guard_leave();
		return failed(c, err, "read", domain, rc);
	}
	rc = record_decode(val.mv_data, val.mv_size, e);
	mdb_txn_abort(txn);
	guard_leave();
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
	c->writing = txn;
	if (mdb_cursor_open(txn, c->dbi, &cur) != 0) {
		mdb_txn_abort(txn);
		c->writing = NULL;
		return 0;
	}
	while (mdb_cursor_get(cur, &key, &val, MDB_NEXT) == 0)
		if (is_stale(val.mv_data, val.mv_size, now) &&
		    mdb_cursor_del(cur, 0) == 0)
			n++;
	mdb_cursor_close(cur);
	c->writing = NULL;
	if (mdb_txn_commit(txn) != 0)
		return 0;
	return n;
}

static int
by_time(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * A record's rank for eviction, lowest first: the hours it was used in,
 * then when it was last used (a domain mail goes to every day outranks a
 * flood of domains asked for once, however recent).  INT64_MAX for one
 * that does not decode: it may hold a policy, never evicted unasked.
 */
static int64_t
used_of(const MDB_val *val)
{
	struct cache_entry e;
	int64_t rank = INT64_MAX;

	if (record_decode(val->mv_data, val->mv_size, &e) == 0)
		rank = ((int64_t)e.uses << 40) + (e.used & (((int64_t)1 << 40) - 1));
	cache_entry_clear(&e);
	return rank;
}

/* Deletes the least used tenth of the records (at least one; never one
 * that does not decode); how many went. */
static size_t
evict_least_used(struct cache *c)
{
	MDB_txn *txn;
	MDB_cursor *cur = NULL;
	MDB_val key, val;
	MDB_stat st;
	int64_t *times = NULL, cut, used;
	size_t n = 0, gone = 0;

	if (begin(c, 0, &txn) != 0)
		return 0;
	c->writing = txn;
	if (mdb_stat(txn, c->dbi, &st) != 0 || st.ms_entries == 0 ||
	    (times = malloc(st.ms_entries * sizeof(*times))) == NULL ||
	    mdb_cursor_open(txn, c->dbi, &cur) != 0) {
		free(times);
		c->writing = NULL;
		mdb_txn_abort(txn);
		return 0;
	}
	while (n < st.ms_entries &&
	    mdb_cursor_get(cur, &key, &val, MDB_NEXT) == 0)
		times[n++] = used_of(&val);
	qsort(times, n, sizeof(*times), by_time);
	cut = n > 0 ? times[n / 10] : INT64_MIN;
	free(times);
	if (mdb_cursor_get(cur, &key, &val, MDB_FIRST) == 0)
		do {
			used = used_of(&val);
			if (used <= cut && used != INT64_MAX &&
			    mdb_cursor_del(cur, 0) == 0)
				gone++;
		} while (mdb_cursor_get(cur, &key, &val, MDB_NEXT) == 0);
	mdb_cursor_close(cur);
	c->writing = NULL;
	if (mdb_txn_commit(txn) != 0)
		return 0;
	return gone;
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
	if (fstat(c->lock_fd, &st) == 0 && st.st_mtime + 60 <= time(NULL)) {
		futimens(c->lock_fd, NULL);
		if (drop_stale(c) > 0 && percent_used(c) < limit)
			return true;
	}
	/* a policy in force is never refused: the least used records go
	 * (a cache filled on purpose with an attacker's domains, each used
	 * once, loses those before the domains mail goes to every day) */
	while (policy && percent_used(c) >= limit)
		if (evict_least_used(c) == 0)
			return false;
	return policy;
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
	c->writing = txn;
	if (mdb_get(txn, c->dbi, key, &old) == 0 &&
	    /* a peer's answer checked after this one began is newer */
	    (is_newer(record_checked(old.mv_data, old.mv_size), checked) ||
	        /* RFC 8461 §5.1: failures never end a policy early */
	        (!has_policy && holds_policy(&old, checked)))) {
		mdb_txn_abort(txn);
		c->writing = NULL;
		return 0;
	}
	rc = mdb_put(txn, c->dbi, key, val, 0);
	c->writing = NULL;
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
	unsigned char *volatile data = NULL;
	size_t len;
	sigjmp_buf jump;
	int rc;

	if (current(c, err) != 0)
		return MTASTS_ERR_CACHE;
	if (sigsetjmp(jump, 0) != 0) {
		free(data);
		return faulted(c, err);
	}
	if (record_encode(e, (unsigned char **)&data, &len) != 0)
		return mtasts_error_set(err, MTASTS_ERR_NOMEM, "out of memory");
	val = (MDB_val){len, data};
	guard_enter(&jump);
	rc = has_room(c, e->policy != NULL && e->policy->expires > e->checked)
	    ? put_record(c, &key, &val, e->checked, e->policy != NULL)
	    : MDB_MAP_FULL;
	guard_leave();
	free(data);
	if (is_damage(rc))
		return failed(c, err, "write", domain, rc);
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
	sigjmp_buf jump;
	int rc;

	if (current(c, err) != 0)
		return MTASTS_ERR_CACHE;
	if (sigsetjmp(jump, 0) != 0)
		return faulted(c, err);
	guard_enter(&jump);
	if ((rc = begin(c, 0, &txn)) == 0) {
		c->writing = txn;
		rc = mdb_del(txn, c->dbi, &key, NULL);
		c->writing = NULL;
		if (rc == 0)
			rc = mdb_txn_commit(txn);
		else
			mdb_txn_abort(txn);
	}
	guard_leave();
	if (rc == MDB_NOTFOUND)
		return MTASTS_ERR_NOT_CACHED;
	if (rc != 0)
		return failed(c, err, "write", domain, rc);
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
	sigjmp_buf jump;
	int rc;
	volatile int stop = 0; /* kept across the fault guard */

	if (current(c, err) != 0)
		return MTASTS_ERR_CACHE;
	if (sigsetjmp(jump, 0) != 0)
		return faulted(c, err);
	guard_enter(&jump);
	if ((rc = begin(c, MDB_RDONLY, &txn)) != 0) {
		guard_leave();
		return failed(c, err, "read", "all", rc);
	}
	if ((rc = mdb_cursor_open(txn, c->dbi, &cur)) != 0) {
		mdb_txn_abort(txn);
		guard_leave();
		return failed(c, err, "read", "all", rc);
	}
	while (!stop && (rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) == 0) {
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
	guard_leave();
	/* a walk cut short by damage is no listing */
	if (!stop && rc != MDB_NOTFOUND)
		return failed(c, err, "read", "all", rc);
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

/* ---- mtasts cache rebuild ---- */

struct salvage {
	char **domains;
	unsigned char **records;
	size_t *lens;
	size_t count, cap;
	bool failed;
};

/* Every record that still decodes, re-encoded (a cache_each walker). */
static int
salvage_one(void *arg, const char *domain, const struct cache_entry *e)
{
	struct salvage *s = arg;

	if (e->status == MTASTS_STATUS_ERRORED &&
	    e->error.code == MTASTS_ERR_CACHE)
		return 0; /* did not decode: lost */
	if (s->count == s->cap) {
		size_t cap = s->cap * 2 + 64;
		char **d = realloc(s->domains, cap * sizeof(*d));
		unsigned char **r = d == NULL
		    ? NULL
		    : realloc(s->records, cap * sizeof(*r));
		size_t *l = r == NULL ? NULL : realloc(s->lens, cap * sizeof(*l));

		if (d != NULL)
			s->domains = d;
		if (r != NULL)
			s->records = r;
		if (l == NULL) {
			s->failed = true;
			return 1;
		}
		s->lens = l;
		s->cap = cap;
	}
	if ((s->domains[s->count] = strdup(domain)) == NULL ||
	    record_encode(e, &s->records[s->count], &s->lens[s->count]) != 0) {
		free(s->domains[s->count]);
		s->failed = true;
		return 1;
	}
	s->count++;
	return 0;
}

/* The salvaged records into a new map in dir. */
static int
write_fresh(const struct mtasts_config *cfg, const char *dir,
    const struct salvage *s)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	size_t i;
	int rc;

	if ((rc = mdb_env_create(&env)) != 0)
		return rc;
	mdb_env_set_mapsize(env, cfg->cache_size);
	if ((rc = mdb_env_open(env, dir, MDB_NOTLS,
	         (mdb_mode_t)cfg->cache_mode)) != 0 ||
	    (rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0) {
		mdb_env_close(env);
		return rc;
	}
	rc = mdb_dbi_open(txn, NULL, 0, &dbi);
	for (i = 0; rc == 0 && i < s->count; i++) {
		MDB_val key = {strlen(s->domains[i]), s->domains[i]};
		MDB_val val = {s->lens[i], s->records[i]};

		rc = mdb_put(txn, dbi, &key, &val, 0);
	}
	rc = rc == 0 ? mdb_txn_commit(txn) : (mdb_txn_abort(txn), rc);
	mdb_env_close(env);
	return rc;
}

mtasts_code
cache_rebuild(const struct mtasts_config *cfg, size_t *kept,
    struct mtasts_error *err)
{
	struct salvage s = {0};
	struct mtasts_error ignored;
	struct cache *old;
	char fresh[4096], from[4200], to[4300];
	const char *files[] = {"data.mdb", "lock.mdb"};
	size_t i;
	int rc;

	*kept = 0;
	if (cfg->cache_dir == NULL)
		return mtasts_error_set(err, MTASTS_ERR_CACHE, "no cache_dir is set");
	snprintf(fresh, sizeof(fresh), "%s/rebuild", cfg->cache_dir);
	for (i = 0; i < 2; i++) {
		snprintf(from, sizeof(from), "%s/%s", fresh, files[i]);
		unlink(from);
	}
	if (mkdir(fresh, 0700) != 0 && errno != EEXIST)
		return mtasts_error_set(err, MTASTS_ERR_CACHE, "%s: %s", fresh,
		    strerror(errno));
	/* what can be read, up to where the damage stops the walk */
	if ((old = cache_open(cfg, &ignored)) != NULL) {
		cache_each(old, salvage_one, &s, &ignored);
		cache_close(old); /* a map let go of stays unmapped */
	}
	rc = s.failed ? ENOMEM : write_fresh(cfg, fresh, &s);
	*kept = s.count;
	for (i = 0; i < s.count; i++) {
		free(s.domains[i]);
		free(s.records[i]);
	}
	free(s.domains);
	free(s.records);
	free(s.lens);
	if (rc != 0)
		return mtasts_error_set(err, MTASTS_ERR_CACHE,
		    "cache %s: rebuild: %s", cfg->cache_dir,
		    rc == ENOMEM ? "out of memory" : mdb_strerror(rc));
	/*
	 * The damaged files aside, the new map in their place; data.mdb is
	 * there at every moment (the damaged one, then the new one, renamed
	 * over it), so that no process opens an empty cache in between and
	 * reads "not cached" where a policy was.  Processes that have the old
	 * map open move to the new one within a second.
	 */
	snprintf(from, sizeof(from), "%s/data.mdb", cfg->cache_dir);
	snprintf(to, sizeof(to), "%s.damaged", from);
	unlink(to);
	if (link(from, to) != 0 && errno != ENOENT)
		return mtasts_error_set(err, MTASTS_ERR_CACHE,
		    "cache %s: rebuild: %s", cfg->cache_dir, strerror(errno));
	snprintf(from, sizeof(from), "%s/lock.mdb", cfg->cache_dir);
	snprintf(to, sizeof(to), "%s.damaged", from);
	rename(from, to);
	snprintf(from, sizeof(from), "%s/data.mdb", fresh);
	snprintf(to, sizeof(to), "%s/data.mdb", cfg->cache_dir);
	if (rename(from, to) != 0)
		return mtasts_error_set(err, MTASTS_ERR_CACHE,
		    "cache %s: rebuild: %s", cfg->cache_dir, strerror(errno));
	set_ownership(cfg, to, (mode_t)cfg->cache_mode);
	snprintf(from, sizeof(from), "%s/lock.mdb", fresh);
	unlink(from);
	rmdir(fresh);
	return MTASTS_OK;
}
