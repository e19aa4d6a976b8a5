/*
 * cache.h - the persistent policy cache, shared by every process of the
 * host (internal to libmtasts): the one door to it, whatever backend
 * stores it (cache_backend = NAME; cache_backend.h; LMDB by default, in
 * store/lmdb/).  One record per domain, in a versioned layout
 * (cache_codec.h); per-domain locks let one process discover while the
 * others wait.
 */
#ifndef MTASTS_CACHE_H
#define MTASTS_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "mtasts_core.h"
#include "cache_codec.h"
#include "cache_witness.h"

struct cache;

/* Whether a backend of this name exists (NULL: the default does). */
bool cache_backend_known(const char *name);

/* The name of the i-th backend (0: the default), NULL past the last. */
const char *cache_backend_nth(size_t i);

/*
 * Opens (creating) the cache of cfg with its backend.  NULL with err set
 * (MTASTS_ERR_CACHE) when it cannot be opened or is not a cache.
 */
struct cache *cache_open(
    const struct mtasts_config *cfg, struct mtasts_error *err);
void cache_close(struct cache *c);

/*
 * Rebuilds a damaged cache: every record that still reads goes into a new
 * store, which replaces the damaged one; for LMDB, the damaged files are
 * kept beside it (data.mdb.damaged, lock.mdb.damaged).  The records that did not read
 * are lost: those domains are discovered afresh.  *kept says how many
 * were kept.  For the operator (mtasts cache rebuild), never automatic:
 * a lost record may have held an enforce policy.
 */
mtasts_code cache_rebuild(const struct mtasts_config *cfg, size_t *kept,
    struct mtasts_error *err);

/*
 * Reads domain's entry.  Returns MTASTS_OK (entry filled),
 * MTASTS_ERR_NOT_CACHED when the cache has none, or MTASTS_ERR_CACHE with
 * err set when the record cannot be read or decoded.  With a fleet, a
 * local miss asks the fleet, and its record is copied here; a fleet that
 * cannot answer is a miss, or with fleet_strict MTASTS_ERR_CACHE.
 */
mtasts_code cache_get(struct cache *c, const char *domain,
    struct cache_entry *entry, struct mtasts_error *err);

/* Writes domain's entry (with a fleet: here, then in the fleet, whose
 * failure is MTASTS_ERR_IO: kept here), unless the record must stay (cache_record_stays
 * in cache_backend.h: a peer's answer checked later, or a policy in force
 * that an answer without one would end).  An enforce policy is
 * witnessed first (MTASTS_ERR_IO when only the witness failed: the entry
 * is written); a new policy of another mode ends the witness. */
mtasts_code cache_put(struct cache *c, const char *domain,
    const struct cache_entry *entry, struct mtasts_error *err);

/* The same write, to this host's store alone: what only this host needs
 * to know (when it last used the domain) costs no round trip to the
 * fleet. */
mtasts_code cache_touch(struct cache *c, const char *domain,
    const struct cache_entry *entry, struct mtasts_error *err);

/*
 * The room of the cache, in bytes: its size (for LMDB cache_size, or what
 * another process grew it to) and what is in use (the pages written less
 * those LMDB keeps free for reuse).  Past 90 percent, records that keep no
 * policy in force are refused; past 97, the least used ones are evicted
 * (lmdb_space.c).  0, or -1 when the backend cannot say.
 */
int cache_room(struct cache *c, uint64_t *used, uint64_t *size);

/* Removes domain's entry, here and in the fleet; MTASTS_ERR_NOT_CACHED
 * when there was none. */
mtasts_code cache_del(
    struct cache *c, const char *domain, struct mtasts_error *err);

/*
 * Calls fn for every entry of this host's store (not the fleet's) in
 * domain order, until fn returns non-zero.
 * Records that do not decode are passed with status errored and the
 * decoding error.
 */
mtasts_code cache_each(struct cache *c,
    int (*fn)(void *arg, const char *domain, const struct cache_entry *e),
    void *arg, struct mtasts_error *err);

/* The same over the fleet's records (mtasts cache fleet);
 * MTASTS_ERR_USAGE when no fleet is set. */
mtasts_code cache_fleet_each(struct cache *c,
    int (*fn)(void *arg, const char *domain, const struct cache_entry *e),
    void *arg, struct mtasts_error *err);

/*
 * Takes domain's discovery lock, waiting at most timeout_ms.  Returns 0
 * when taken at once, 1 when taken after a peer released it, -1 when the
 * wait ran out (or locking failed).  Locks are per
 * open file description: a crashed holder's lock goes with it.  With a
 * fleet, the fleet's lock of the domain is taken too, within the same
 * wait (1 when a peer node held it); a fleet that cannot be asked leaves
 * the local lock alone.
 */
int cache_lock(struct cache *c, const char *domain, long timeout_ms);
void cache_unlock(struct cache *c, const char *domain);

/* Who refreshes a domain, when a fleet shares the work (mtasts refresh). */
enum cache_share {
	CACHE_SHARE_MINE,  /* this host: claimed, or no fleet to ask */
	CACHE_SHARE_TAKEN, /* a peer's fresh record was copied here */
	CACHE_SHARE_PEER   /* a peer claimed it and has not written yet */
};

/*
 * Without a fleet, CACHE_SHARE_MINE.  With one: the fleet's record of
 * domain, when it holds a policy that fresh(arg, record) calls fresh and
 * that this host may take (as cache_get's copy), is copied here
 * (CACHE_SHARE_TAKEN, the local use stamp kept); else the refresh is
 * claimed for hold_ms (CACHE_SHARE_MINE), unless a peer's claim holds
 * (CACHE_SHARE_PEER).  A fleet that cannot be asked leaves it to this
 * host.
 */
enum cache_share cache_share(struct cache *c, const char *domain,
    bool (*fresh)(void *arg, const struct cache_entry *e), void *arg,
    long hold_ms);
/* Lets go of the claim cache_share took (the refresh is written). */
void cache_share_done(struct cache *c, const char *domain);

#endif
