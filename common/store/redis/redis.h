/*
 * redis.h - the fleet's store on Redis (internal to store/redis/): one
 * connection per opening, made at its first command (a lookup the local
 * cache answers never makes one), every command under fleet_timeout, and
 * every reply read as hostile input.  Calls run one way:
 * redis_backend.c -> redis_cache.c -> redis_link.c -> redis_io.c ->
 * redis_load.c (redis_tls.c puts TLS under a connection of
 * redis_link.c's); redis_reply.c checks what replies say.
 */
#ifndef MTASTS_REDIS_H
#define MTASTS_REDIS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cache_backend.h"
#include "domain.h"
#include "redis_load.h"

#define REDIS_LOCKS_HELD 8 /* domains one opening locks at once */
#define REDIS_RECORD_MAX (128 * 1024) /* a policy body is at most 64 KiB */
#define REDIS_HOST_MAX 46 /* INET6_ADDRSTRLEN: a numeric address */

struct redis_store {
	const struct mtasts_config *cfg;
	const struct hiredis_api *api;
	redisContext *ctx; /* NULL until the first command */
	pid_t pid; /* the process ctx was made in (a child makes its own) */
	int64_t down_until; /* mono_ms: no new attempt before, after... */
	struct mtasts_error down; /* ... this failure */
	int64_t connect_end; /* mono_ms: while connecting, its deadline */
	/* FLEET_SENTINEL: the master the sentinels named last ("" when
	 * none answered) */
	char master_host[REDIS_HOST_MAX];
	int master_port;
	char token[33]; /* the owner of this opening's locks */
	char held[REDIS_LOCKS_HELD][MTASTS_DOMAIN_MAX + 1];
};

/* redis_link.c */

/*
 * Runs one command (argv[i] of len[i] bytes; len NULL: strings),
 * connecting first when needed.  The reply (freed with redis_free), of
 * any type but an error; NULL with err set (MTASTS_ERR_CACHE) when Redis
 * cannot be reached in time, refuses the password, answers with an error
 * or with bytes that are no reply.  After a failure of the link (or a
 * refusal of every command: NOAUTH) the fleet is not asked again for a
 * while: each command then fails at once with the same error.
 */
redisReply *redis_run(struct redis_store *s, int argc, const char **argv,
    const size_t *len, struct mtasts_error *err);
void redis_free(struct redis_store *s, redisReply *reply);
/* A reply of a type not expected: err set, the link let go of (what
 * else it would say cannot be trusted). */
void redis_garbage(struct redis_store *s, redisReply *reply, const char *what,
    struct mtasts_error *err);
void redis_close(struct redis_store *s);

/* redis_tls.c */

/*
 * rediss://: TLS on the connection s->ctx (non-blocking, set up by
 * redis_io_setup) to host, its handshake within timeout_ms, the
 * certificate checked against fleet_ca_file (or the system's bundle) and
 * host's name or address; hiredis then reads and writes through it.  0,
 * or -1 with why said (nothing was sent but the handshake's bytes).  In a
 * build whose hiredis has no TLS, always -1.
 */
int redis_tls_start(struct redis_store *s, const char *host, long timeout_ms,
    char *why, size_t whylen);

/* redis_io.c */

/* Makes a connection's socket non-blocking, for redis_io_command: 0, or
 * -1 with errno set. */
int redis_io_setup(redisContext *ctx);
/*
 * Sends one command and reads its reply, all within timeout_ms, the
 * reply no larger than a cap.  The reply (of any type, an error too;
 * the caller frees it), or NULL with why said (hiredis' words, "no
 * answer within N ms", "reply larger than N bytes"): the connection is
 * then of no further use.
 */
redisReply *redis_io_command(const struct hiredis_api *api, redisContext *ctx,
    int argc, const char **argv, const size_t *argvlen, long timeout_ms,
    char *why, size_t whylen);

/* Waits for events (poll's) on fd until deadline (mono_ms): 1 when they
 * came, 0 when the deadline passed, -1 on an error of poll(). */
int redis_io_wait(int fd, short events, int64_t deadline);

/* redis_io.c, for a reader of one's own (fuzz_redis_reply): the
 * limits a connection's reader is given. */
void redis_io_limit(redisReader *reader);

/* redis_reply.c: what a reply says, checked */
enum {
	REDIS_CHECK_OK = 0,
	REDIS_CHECK_NONE = 1, /* nothing there (nil), or not a master */
	REDIS_CHECK_GARBAGE = -1, /* not of the form the command answers */
	REDIS_CHECK_DAMAGED = -2, /* of the form, but not a record of ours */
};

/* HMGET key record checked expires: REDIS_CHECK_OK with e filled (the
 * caller clears it), NONE (no such key), GARBAGE or DAMAGED. */
int redis_reply_entry(const redisReply *r, struct cache_entry *e);
/* A page of SCAN: its keys (an array of any elements, each to be
 * checked), the next cursor (digits) in cursor; NULL when garbage. */
const redisReply *redis_reply_scan(
    const redisReply *r, char *cursor, size_t len);
/* SENTINEL get-master-addr-by-name: OK with host (REDIS_HOST_MAX bytes,
 * a numeric IPv4 or IPv6 address) and *port (1-65535), NONE (nil: the
 * sentinel knows no such master), or GARBAGE with why said. */
int redis_reply_master(const redisReply *r, char *host, int *port,
    char *why, size_t whylen);
/* ROLE: OK for a master, NONE for another role (a replica, a demoted
 * master), GARBAGE. */
int redis_reply_role(const redisReply *r);

/* redis_cache.c: the cache_backend operations */
void *redis_cache_open(
    const struct mtasts_config *cfg, struct mtasts_error *err);
void redis_cache_close(void *store);
mtasts_code redis_cache_get(void *store, const char *domain,
    struct cache_entry *e, struct mtasts_error *err);
mtasts_code redis_cache_put_if_newer(void *store, const char *domain,
    const struct cache_entry *e, bool *wrote, struct mtasts_error *err);
mtasts_code redis_cache_del(
    void *store, const char *domain, struct mtasts_error *err);
mtasts_code redis_cache_each(void *store,
    int (*fn)(void *arg, const char *domain, const struct cache_entry *e),
    void *arg, struct mtasts_error *err);
int redis_cache_room(void *store, uint64_t *used, uint64_t *size);
int redis_cache_lock(void *store, const char *domain, long timeout_ms);
void redis_cache_unlock(void *store, const char *domain);
int redis_cache_claim(void *store, const char *domain, long hold_ms);
void redis_cache_unclaim(void *store, const char *domain);
/* SET key NX with this opening's token, expiring after ms: 1 taken, 0
 * another's, -1 with err set. */
int redis_take(struct redis_store *s, const char *key, long ms,
    struct mtasts_error *err);
/* Deletes key if it still holds this opening's token (a compare and
 * delete: not one a peer took after ours expired). */
void redis_let_go(struct redis_store *s, const char *key);

#endif
