/*
 * lmdb_cache.c - the policy cache on LMDB (cache_backend = lmdb, the
 * default).  LMDB gives what many mail processes need: readers that never
 * block, one writer at a time, and a file that a process killed at any
 * moment leaves consistent.  Records carry a version byte; a record that
 * does not decode is an error, never "no policy".
 */
#include <lmdb.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "guard.h"
#include "lmdb_map.h"

void *
lmdb_cache_open(const struct mtasts_config *cfg, struct mtasts_error *err)
{
	struct lmdb_cache *c;

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
	if (lmdb_open_map(c, err) != 0) {
		lmdb_cache_close(c);
		return NULL;
	}
	return c;
}

void
lmdb_cache_close(void *store)
{
	struct lmdb_cache *c = store;

	if (c == NULL)
		return;
	if (c->env != NULL)
		mdb_env_close(c->env);
	if (c->lock_fd >= 0)
		close(c->lock_fd);
	free(c);
}

mtasts_code
lmdb_cache_get(void *store, const char *domain, struct cache_entry *e,
    struct mtasts_error *err)
{
	struct lmdb_cache *c = store;
	MDB_txn *txn;
	MDB_val key = {strlen(domain), (void *)domain}, val;
	sigjmp_buf jump;
	int rc;

	memset(e, 0, sizeof(*e));
	if (lmdb_current(c, err) != 0)
		return MTASTS_ERR_CACHE;
	if (sigsetjmp(jump, 0) != 0)
		return lmdb_faulted(c, err);
	guard_enter(&jump);
	if ((rc = lmdb_begin(c, MDB_RDONLY, &txn)) != 0) {
		guard_leave();
		return lmdb_failed(c, err, "read", domain, rc);
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
		return lmdb_failed(c, err, "read", domain, rc);
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
 * Writes the record, unless what the cache holds must stay: both rules
 * are checked inside the write transaction, where writers are
 * serialised, not on a read made before discovery (a peer may have
 * written since).
 */
static int
put_record(struct lmdb_cache *c, MDB_val *key, MDB_val *val,
    int64_t checked, bool has_policy, volatile bool *wrote)
{
	MDB_txn *txn;
	MDB_val old;
	int rc;

	if ((rc = lmdb_begin(c, 0, &txn)) != 0)
		return rc;
	c->writing = txn;
	if (mdb_get(txn, c->dbi, key, &old) == 0 &&
	    cache_record_stays(old.mv_data, old.mv_size, checked, has_policy)) {
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

mtasts_code
lmdb_cache_put_if_newer(void *store, const char *domain,
    const struct cache_entry *e, bool *wrote, struct mtasts_error *err)
{
	struct lmdb_cache *c = store;
	MDB_val key = {strlen(domain), (void *)domain}, val;
	unsigned char *volatile data = NULL;
	volatile bool written = false;
	size_t len;
	sigjmp_buf jump;
	int rc;

	*wrote = false;
	if (lmdb_writable(c, err) != 0)
		return MTASTS_ERR_CACHE;
	if (sigsetjmp(jump, 0) != 0) {
		free(data);
		return lmdb_faulted(c, err);
	}
	if (record_encode(e, (unsigned char **)&data, &len) != 0)
		return mtasts_error_set(err, MTASTS_ERR_NOMEM, "out of memory");
	val = (MDB_val){len, data};
	guard_enter(&jump);
	rc = lmdb_has_room(c, e->policy != NULL && e->policy->expires > e->checked)
	    ? put_record(c, &key, &val, e->checked, e->policy != NULL, &written)
	    : MDB_MAP_FULL;
	guard_leave();
	free(data);
	*wrote = written;
	if (lmdb_is_damage(rc))
		return lmdb_failed(c, err, "write", domain, rc);
	if (rc == MDB_MAP_FULL)
		return mtasts_error_set(err, MTASTS_ERR_CACHE,
		    "cache: full of policies in force; raise cache_size");
	if (rc != 0)
		return lmdb_error(err, "write", domain, rc);
	return MTASTS_OK;
}

mtasts_code
lmdb_cache_del(void *store, const char *domain, struct mtasts_error *err)
{
	struct lmdb_cache *c = store;
	MDB_txn *txn;
	MDB_val key = {strlen(domain), (void *)domain};
	sigjmp_buf jump;
	int rc;

	if (lmdb_writable(c, err) != 0)
		return MTASTS_ERR_CACHE;
	if (sigsetjmp(jump, 0) != 0)
		return lmdb_faulted(c, err);
	guard_enter(&jump);
	if ((rc = lmdb_begin(c, 0, &txn)) == 0) {
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
		return lmdb_failed(c, err, "write", domain, rc);
	return MTASTS_OK;
}

mtasts_code
lmdb_cache_each(void *store,
    int (*fn)(void *arg, const char *domain, const struct cache_entry *e),
    void *arg, struct mtasts_error *err)
{
	struct lmdb_cache *c = store;
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val key, val;
	char domain[300];
	sigjmp_buf jump;
	int rc;
	volatile int stop = 0; /* kept across the fault guard */

	if (lmdb_current(c, err) != 0)
		return MTASTS_ERR_CACHE;
	if (sigsetjmp(jump, 0) != 0)
		return lmdb_faulted(c, err);
	guard_enter(&jump);
	if ((rc = lmdb_begin(c, MDB_RDONLY, &txn)) != 0) {
		guard_leave();
		return lmdb_failed(c, err, "read", "all", rc);
	}
	if ((rc = mdb_cursor_open(txn, c->dbi, &cur)) != 0) {
		mdb_txn_abort(txn);
		guard_leave();
		return lmdb_failed(c, err, "read", "all", rc);
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
		return lmdb_failed(c, err, "read", "all", rc);
	return MTASTS_OK;
}
