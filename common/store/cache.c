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
#include "cache_files.h"
#include "clock.h"
#include "error.h"
#include "guard.h"

static mtasts_code failed(struct cache *c, struct mtasts_error *err,
    const char *what, const char *domain, int rc);
static bool is_damage(int rc);

static mtasts_code
lmdb_error(struct mtasts_error *err, const char *what, const char *dir, int rc)
{
	return mtasts_error_set(err, MTASTS_ERR_CACHE, "cache %s: %s: %s", dir,
	    what, mdb_strerror(rc));
}

/*
 * Gives a file of the cache the configured group and mode.  Failing is no
 * error: a process that does not own the file finds it as its owner set it
 * up.  A link is not followed (a member of the group may have put one
 * there for a root process to follow), and the file is not opened: closing
 * a descriptor of lock.mdb would drop the locks LMDB holds on it through
 * another, and the next process would take the environment for unused and
 * reset its lock table under the others.  A file already as it should be
 * costs one lstat (every Exim delivery opens the cache): the directory is
 * set-group-ID with the cache's group (cache_make_dir), so a file of its
 * directory's group has the right one, and only another group is looked
 * up (getgrnam reads /etc/group: tens of microseconds in every process).
 */
/* The configured group, looked up at most once for the files of one open
 * and only by a process that may change them. */
struct group_id {
	const char *name; /* NULL: no group configured */
	bool looked, known;
	gid_t gid;
	gid_t dir_gid; /* the group of the file's directory */
};

/* For the files of directory dir (or of the directory itself: its own
 * group is not taken as right). */
static struct group_id
group_for(const struct mtasts_config *cfg, const char *dir)
{
	struct group_id g = {cfg->cache_group, false, false, 0, (gid_t)-1};
	struct stat st;

	/* a directory made by hand, without set-group-ID, is no guide */
	if (dir != NULL && stat(dir, &st) == 0 && (st.st_mode & S_ISGID))
		g.dir_gid = st.st_gid;
	return g;
}

static bool
group_id(struct group_id *g)
{
	const struct group *gr;

	if (!g->looked && g->name != NULL) {
		g->looked = true;
		if ((gr = getgrnam(g->name)) != NULL) {
			g->known = true;
			g->gid = gr->gr_gid;
		}
	}
	return g->known;
}

static void
set_ownership(const char *path, struct group_id *g, mode_t mode)
{
	struct stat st;
	uid_t me = geteuid();

	if (lstat(path, &st) != 0 || S_ISLNK(st.st_mode) ||
	    (me != 0 && me != st.st_uid))
		return; /* nothing this process may change */
	if (st.st_gid != g->dir_gid && group_id(g) && g->gid != st.st_gid &&
	    lchown(path, (uid_t)-1, g->gid) == 0)
		lstat(path, &st); /* the set-group-ID bit may go with it */
	if ((st.st_mode & 07777) == mode)
		return;
	/* on a link: EOPNOTSUPP, nothing changed; where the system cannot
	 * do it (glibc needs /proc or fchmodat2), by name, not on a link */
	if (fchmodat(AT_FDCWD, path, mode, AT_SYMLINK_NOFOLLOW) != 0 &&
	    (errno == ENOSYS || errno == EOPNOTSUPP) &&
	    lstat(path, &st) == 0 && !S_ISLNK(st.st_mode) &&
	    chmod(path, mode) != 0) {
		/* not the owner: as set up before */
	}
}

void
cache_set_ownership(
    const struct mtasts_config *cfg, const char *path, mode_t mode)
{
	struct group_id g = group_for(cfg, NULL);

	set_ownership(path, &g, mode);
}

/*
 * mdb_txn_begin, once more after adopting the map size when another
 * process (with a larger cache_size) has grown the map.
 */
int
cache_begin(struct cache *c, unsigned flags, MDB_txn **txn)
{
	int rc = mdb_txn_begin(c->env, NULL, flags, txn);

	if (rc == MDB_MAP_RESIZED && mdb_env_set_mapsize(c->env, 0) == 0)
		rc = mdb_txn_begin(c->env, NULL, flags, txn);
	return rc;
}

mode_t
cache_dir_mode(unsigned file_mode)
{
	mode_t m = (mode_t)file_mode | S_ISGID;

	if (file_mode & 0040)
		m |= 0010;
	if (file_mode & 0004)
		m |= 0001;
	return m | 0700;
}

int
cache_make_dir(
    const struct mtasts_config *cfg, const char *dir, struct mtasts_error *err)
{
	if (mkdir(dir, 0700) == 0)
		cache_set_ownership(cfg, dir, cache_dir_mode(cfg->cache_mode));
	else if (errno != EEXIST) {
		mtasts_error_set(err, MTASTS_ERR_CACHE,
		    "%s: cannot create it: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * LMDB opens data.mdb and lock.mdb as it finds them, and writes to them:
 * a link a member of the cache's group put there would have a root
 * process (Exim's routers) write wherever it points.  Only regular files.
 */
int
links_in(const char *dir, struct mtasts_error *err)
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
lock_room(const char *dir, unsigned mode, struct mtasts_error *err)
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
path_of(const struct cache *c, const char *name, char *path, size_t len)
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

static int
open_files(
    struct cache *c, const struct mtasts_config *cfg, struct mtasts_error *err)
{
	const char *dir = cfg->cache_dir;
	char path[4096];
	struct stat st;
	struct group_id group;
	int rc, dead;
	mdb_filehandle_t fd;
	bool paired;
	MDB_txn *txn;

	if (cache_make_dir(cfg, dir, err) != 0)
		return -1;
	if (links_in(dir, err) != 0 || lock_room(dir, cfg->cache_mode, err) != 0)
		return -1;
	group = group_for(cfg, dir);
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
	if (rc != 0 && !c->writable && !is_damage(rc)) {
		/* no data.mdb yet, or an empty one (its maker died): made or
		 * set up by a writable open, as is any other failure */
		mdb_env_close(c->env);
		c->env = NULL;
		c->writable = true;
		return open_files(c, cfg, err);
	}
	if (rc != 0)
		return failed(c, err, "open", dir, rc);
	/* clear reader slots of processes that died holding them */
	mdb_reader_check(c->env, &dead);
	if (mdb_env_get_fd(c->env, &fd) == 0 && fstat(fd, &st) == 0) {
		c->dev = st.st_dev; /* as opened (or made) */
		c->ino = st.st_ino;
	}
	set_ownership(path, &group, (mode_t)cfg->cache_mode);
	snprintf(path, sizeof(path), "%s/lock.mdb", dir);
	set_ownership(path, &group, (mode_t)cfg->cache_mode);
	if ((rc = cache_begin(c, MDB_RDONLY, &txn)) != 0)
		return failed(c, err, "read", dir, rc);
	rc = mdb_dbi_open(txn, NULL, 0, &c->dbi);
	paired = lock_table_pairs(c->env, txn);
	mdb_txn_abort(txn);
	if (rc != 0)
		return failed(c, err, "open", dir, rc);
	if (!paired)
		return mtasts_error_set(err, MTASTS_ERR_CACHE,
		    "cache %s: no lock table for data.mdb (a read-only file "
		    "system?) or one of another data.mdb (a rebuild under "
		    "way): not read",
		    dir);
	return 0;
}

int
cache_lock_file(struct cache *c)
{
	char path[4096];

	if (c->lock_fd >= 0)
		return c->lock_fd;
	path_of(c, "discovery.lock", path, sizeof(path));
	c->lock_fd = open(
	    path, O_RDWR | O_CREAT | O_CLOEXEC, (mode_t)c->cfg->cache_mode);
	if (c->lock_fd >= 0)
		cache_set_ownership(c->cfg, path, (mode_t)c->cfg->cache_mode);
	return c->lock_fd;
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
abandon_damaged_map(struct cache *c, bool faulted)
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
	abandon_damaged_map(c, false);
	return mtasts_error_set(err, MTASTS_ERR_CACHE,
	    "cache %s: damaged (%s): run mtasts cache rebuild",
	    c->cfg->cache_dir, mdb_strerror(rc));
}

static mtasts_code
faulted(struct cache *c, struct mtasts_error *err)
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

/*
 * The map, writable: a map opened read-only (as a decision from the cache
 * needs: a writable one costs LMDB 3 MB of write buffers, mapped in every
 * Exim process) is closed and opened again writable.  LMDB allows one
 * environment per file in a process; no transaction is open between the
 * calls of this file, and discovery.lock, whose locks a discovery may be
 * holding, is left open.
 */
static int
writable(struct cache *c, struct mtasts_error *err)
{
	if (current(c, err) != 0)
		return -1;
	if (c->writable)
		return 0;
	mdb_env_close(c->env);
	c->env = NULL;
	c->writable = true;
	if (open_files(c, c->cfg, err) == 0)
		return 0;
	if (c->env != NULL)
		mdb_env_close(c->env);
	c->env = NULL;
	/* a process that may read but not write still reads: the next
	 * read opens the map read-only again */
	c->writable = false;
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
	if ((rc = cache_begin(c, MDB_RDONLY, &txn)) != 0) {
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
    bool has_policy, volatile bool *wrote)
{
	MDB_txn *txn;
	MDB_val old;
	int rc;

	if ((rc = cache_begin(c, 0, &txn)) != 0)
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
	if (rc != 0) {
		mdb_txn_abort(txn);
		return rc;
	}
	/* a commit frees the transaction, whether it failed or not */
	if ((rc = mdb_txn_commit(txn)) == 0)
		*wrote = true;
	return rc;
}

/*
 * The witness, before the record: a process killed between the two
 * leaves a witness without its record (the domain waits for its policy
 * to be found again), never a record without its witness.  A new policy
 * of another mode, once written, ends it.
 */
static int
witness_before(struct cache *c, const char *domain,
    const struct cache_entry *e, struct mtasts_error *err)
{
	if (e->policy == NULL || e->policy->mode != MTASTS_MODE_ENFORCE ||
	    e->policy->expires <= e->checked)
		return 0;
	return cache_witness_keep(c->cfg, domain, e->policy->expires, err);
}

static void
witness_after(struct cache *c, const char *domain,
    const struct cache_entry *e, bool wrote)
{
	struct mtasts_error err;

	if (wrote && e->policy != NULL && e->status == MTASTS_STATUS_FOUND &&
	    e->policy->mode != MTASTS_MODE_ENFORCE)
		cache_witness_forget(c->cfg, domain, &err);
}

mtasts_code
cache_put(struct cache *c, const char *domain, const struct cache_entry *e,
    struct mtasts_error *err)
{
	MDB_val key = {strlen(domain), (void *)domain}, val;
	unsigned char *volatile data = NULL;
	volatile bool wrote = false;
	struct mtasts_error werr = {0};
	size_t len;
	sigjmp_buf jump;
	int rc;

	if (writable(c, err) != 0)
		return MTASTS_ERR_CACHE;
	witness_before(c, domain, e, &werr);
	if (sigsetjmp(jump, 0) != 0) {
		free(data);
		return faulted(c, err);
	}
	if (record_encode(e, (unsigned char **)&data, &len) != 0)
		return mtasts_error_set(err, MTASTS_ERR_NOMEM, "out of memory");
	val = (MDB_val){len, data};
	guard_enter(&jump);
	rc = cache_has_room(c, e->policy != NULL && e->policy->expires > e->checked)
	    ? put_record(c, &key, &val, e->checked, e->policy != NULL, &wrote)
	    : MDB_MAP_FULL;
	guard_leave();
	free(data);
	witness_after(c, domain, e, wrote);
	if (is_damage(rc))
		return failed(c, err, "write", domain, rc);
	if (rc == MDB_MAP_FULL)
		return mtasts_error_set(err, MTASTS_ERR_CACHE,
		    "cache: full of policies in force; raise cache_size");
	if (rc != 0)
		return lmdb_error(err, "write", domain, rc);
	if (werr.code != MTASTS_OK) {
		*err = werr;
		return werr.code;
	}
	return MTASTS_OK;
}

mtasts_code
cache_del(struct cache *c, const char *domain, struct mtasts_error *err)
{
	MDB_txn *txn;
	MDB_val key = {strlen(domain), (void *)domain};
	sigjmp_buf jump;
	int rc;

	if (writable(c, err) != 0)
		return MTASTS_ERR_CACHE;
	if (sigsetjmp(jump, 0) != 0)
		return faulted(c, err);
	guard_enter(&jump);
	if ((rc = cache_begin(c, 0, &txn)) == 0) {
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
	if ((rc = cache_begin(c, MDB_RDONLY, &txn)) != 0) {
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
