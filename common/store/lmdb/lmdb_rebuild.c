/*
 * lmdb_rebuild.c - mtasts cache rebuild: what still reads of a damaged
 * cache into a new map, which takes the old one's place.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "files.h"
#include "lmdb_map.h"

struct salvage {
	char **domains;
	unsigned char **records;
	size_t *lens;
	size_t count, cap;
	bool failed;
};

/* Every record that still decodes, re-encoded (an lmdb_cache_each
 * walker). */
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

	if (lmdb_lock_room(dir, cfg->cache_mode, NULL) != 0)
		return ENOSPC;
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
lmdb_rebuild(const struct mtasts_config *cfg, size_t *kept,
    struct mtasts_error *err)
{
	struct salvage s = {0};
	struct mtasts_error ignored;
	void *old;
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
	if ((old = lmdb_cache_open(cfg, &ignored)) != NULL) {
		lmdb_cache_each(old, salvage_one, &s, &ignored);
		lmdb_cache_close(old); /* a map let go of stays unmapped */
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
	store_set_ownership(cfg, to, (mode_t)cfg->cache_mode);
	snprintf(from, sizeof(from), "%s/lock.mdb", fresh);
	unlink(from);
	rmdir(fresh);
	return MTASTS_OK;
}
