/*
 * lmdb_space.c - room in the LMDB cache's map.  LMDB's map has a fixed size;
 * when it is nearly full, stale records go first, then (for a record that
 * keeps a policy in force, never refused) the least used ones.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "clock.h"
#include "lmdb_map.h"

/* percent of the map any record may fill; one with a policy in force */
#define ROOM_FOR_ANSWERS 90
#define ROOM_FOR_POLICIES 97

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
drop_stale(struct lmdb_cache *c)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val key, val;
	int64_t now = wall_now();
	size_t n = 0;

	if (lmdb_begin(c, 0, &txn) != 0)
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
evict_least_used(struct lmdb_cache *c)
{
	MDB_txn *txn;
	MDB_cursor *cur = NULL;
	MDB_val key, val;
	MDB_stat st;
	int64_t *times = NULL, cut, used;
	size_t n = 0, gone = 0;

	if (lmdb_begin(c, 0, &txn) != 0)
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

/* The pages of the free list (database 0), which LMDB reuses: each value
 * counts its pages first. */
static size_t
free_pages(struct lmdb_cache *c)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	size_t n = 0, count;

	if (lmdb_begin(c, MDB_RDONLY, &txn) != 0)
		return 0;
	if (mdb_cursor_open(txn, 0, &cur) == 0) {
		while (mdb_cursor_get(cur, &k, &v, MDB_NEXT) == 0)
			if (v.mv_size >= sizeof(count)) {
				memcpy(&count, v.mv_data, sizeof(count));
				n += count;
			}
		mdb_cursor_close(cur);
	}
	mdb_txn_abort(txn);
	return n;
}

/* The pages of the map and its high-water mark; -1 when LMDB cannot say.
 * Adopts a map another process grew (a cache_size raised since). */
static int
map_pages(struct lmdb_cache *c, size_t *total, size_t *used, size_t *psize)
{
	MDB_envinfo info;
	MDB_stat st;

	mdb_env_set_mapsize(c->env, 0);
	if (mdb_env_info(c->env, &info) != 0 ||
	    mdb_env_stat(c->env, &st) != 0 ||
	    (*total = info.me_mapsize / st.ms_psize) == 0)
		return -1;
	*used = info.me_last_pgno + 1;
	*psize = st.ms_psize;
	return 0;
}

/*
 * Percent of the map in use: the high-water mark less the pages LMDB keeps
 * free for reuse.  Stale records must go before the map is full: then even
 * a delete fails (it copies the pages it changes).
 */
static unsigned
percent_used(struct lmdb_cache *c)
{
	size_t total, used, psize, unused;

	if (map_pages(c, &total, &used, &psize) != 0)
		return 0;
	/* below the mark, the free list need not be read (a delivery asks) */
	if (used * 100 < total * ROOM_FOR_ANSWERS)
		return (unsigned)(used * 100 / total);
	unused = free_pages(c);
	used = used > unused ? used - unused : 0;
	return (unsigned)(used * 100 / total);
}

int
lmdb_room(void *store, uint64_t *used, uint64_t *size)
{
	struct lmdb_cache *c = store;
	size_t total, high, psize, unused;

	if (c->env == NULL || map_pages(c, &total, &high, &psize) != 0)
		return -1;
	unused = free_pages(c);
	*used = (uint64_t)(high > unused ? high - unused : 0) * psize;
	*size = (uint64_t)total * psize;
	return 0;
}

/*
 * Room for a record: up to ROOM_FOR_ANSWERS percent of the map for any,
 * up to ROOM_FOR_POLICIES for one that keeps a policy in force; the rest
 * is kept for the deletes that free space.  Above the limit, the stale
 * records go first, swept by one process a minute at most (the lock
 * file's time says when the last sweep was, for every process).
 */
bool
lmdb_has_room(struct lmdb_cache *c, bool policy)
{
	unsigned limit = policy ? ROOM_FOR_POLICIES : ROOM_FOR_ANSWERS;
	struct stat st;

	if (percent_used(c) < limit)
		return true;
	if (lmdb_lock_file(c) >= 0 && fstat(c->lock_fd, &st) == 0 &&
	    st.st_mtime + 60 <= time(NULL)) {
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
