/*
 * redis_cache.c - the policy cache on the fleet's Redis.  One hash per
 * domain, "<fleet_name>:policy:<domain>": the record as the local cache
 * stores it (cache_codec.c), and beside it the two numbers the rule of
 * cache_record_stays() reads, so that a script applies that rule inside
 * Redis (atomic: Redis runs one script at a time) against the record as
 * it is then.  Discovery locks are "<fleet_name>:lock:<domain>", set
 * with an owner token and an expiry, and the refresh's claims
 * "<fleet_name>:refresh:<domain>", let go of the same way.  What Redis
 * answers is read as hostile input: types and sizes are checked, the
 * record is decoded (lengths, CRC) and must agree with its numbers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "clock.h"
#include "domain.h"
#include "error.h"
#include "redis.h"

/* fleet_name (at most 64, config.c), ":refresh:" (the longest kind),
 * the domain and its NUL: a name cut short would be another domain's */
#define KEY_MAX (64 + sizeof(":refresh:") + MTASTS_DOMAIN_MAX)
#define EACH_MAX 1000000 /* domains one walk lists */
/* SCAN rounds of one walk: EACH_MAX keys at 500 a round, and as many more */
#define SCAN_ROUNDS_MAX 4000
/* how long a key outlives what it says: a lapsed enforce policy still
 * tells a clock set forward from the domain's word (lookup.c) */
#define POLICY_MARGIN 86400
#define OTHER_MARGIN 3600

/*
 * cache_record_stays() (cache_rule.c), in Redis: the record stays when
 * it was checked later, by at most an hour, or when the answer has no
 * policy and the record holds one in force at the answer's checked time
 * or does not read (it may hold one).  KEYS[1] the domain's key; ARGV
 * the record, checked, expires (0: no policy), has_policy (1/0), the
 * key's time to live.  1 when written.
 */
static const char put_script[] =
    "local function int(s)\n"
    "  if type(s) == 'string' and #s <= 20 and s:match('^%-?%d+$') then\n"
    "    return tonumber(s)\n"
    "  end\n"
    "end\n"
    "local kind = redis.call('TYPE', KEYS[1]).ok\n"
    "if kind ~= 'none' then\n"
    "  local c, x\n"
    "  if kind == 'hash' then\n"
    "    local old = redis.call('HMGET', KEYS[1], 'checked', 'expires')\n"
    "    c, x = int(old[1]), int(old[2])\n"
    "  end\n"
    "  local now = tonumber(ARGV[2])\n"
    "  if c == nil or x == nil then\n"
    "    if ARGV[4] == '0' then return 0 end\n"
    "  elseif (c > now and c - now <= 3600) or\n"
    "      (ARGV[4] == '0' and x > now) then\n"
    "    return 0\n"
    "  end\n"
    "  redis.call('DEL', KEYS[1])\n"
    "end\n"
    "redis.call('HSET', KEYS[1], 'record', ARGV[1], 'checked', ARGV[2],\n"
    "    'expires', ARGV[3])\n"
    "redis.call('EXPIRE', KEYS[1], ARGV[5])\n"
    "return 1\n";

/* A lock is let go of by its owner only: not one a peer took after ours
 * expired. */
static const char unlock_script[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
    "  return redis.call('DEL', KEYS[1])\n"
    "end\n"
    "return 0\n";

static void
key_of(const struct redis_store *s, const char *kind, const char *domain,
    char *key)
{
	snprintf(key, KEY_MAX, "%s:%s:%s", s->cfg->fleet_name, kind, domain);
}

void *
redis_cache_open(const struct mtasts_config *cfg, struct mtasts_error *err)
{
	struct redis_store *s;
	unsigned char random[16];
	size_t i;

	if (cfg->fleet == FLEET_NONE) {
		mtasts_error_set(err, MTASTS_ERR_CACHE, "no fleet is set");
		return NULL;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		mtasts_error_set(err, MTASTS_ERR_NOMEM, "out of memory");
		return NULL;
	}
	s->cfg = cfg;
	/* the owner of this opening's locks, unique in the fleet */
	if (getrandom(random, sizeof(random), 0) != (ssize_t)sizeof(random)) {
		free(s);
		mtasts_error_set(err, MTASTS_ERR_CACHE,
		    "fleet: no random bytes for a lock token");
		return NULL;
	}
	for (i = 0; i < sizeof(random); i++)
		snprintf(s->token + 2 * i, 3, "%02x", random[i]);
	return s;
}

void
redis_cache_close(void *store)
{
	struct redis_store *s = store;

	if (s == NULL)
		return;
	redis_close(s);
	free(s);
}

mtasts_code
redis_cache_get(void *store, const char *domain, struct cache_entry *e,
    struct mtasts_error *err)
{
	struct redis_store *s = store;
	char key[KEY_MAX];
	const char *argv[] = {"HMGET", key, "record", "checked", "expires"};
	redisReply *r;
	int rc;

	memset(e, 0, sizeof(*e));
	key_of(s, "policy", domain, key);
	if ((r = redis_run(s, 5, argv, NULL, err)) == NULL)
		return MTASTS_ERR_CACHE;
	if ((rc = redis_reply_entry(r, e)) == REDIS_CHECK_GARBAGE) {
		redis_garbage(s, r, "HMGET", err);
		return MTASTS_ERR_CACHE;
	}
	redis_free(s, r);
	if (rc == REDIS_CHECK_NONE)
		return MTASTS_ERR_NOT_CACHED;
	if (rc == REDIS_CHECK_DAMAGED)
		return mtasts_error_set(err, MTASTS_ERR_CACHE,
		    "fleet: the record of %s is damaged or of another version",
		    domain);
	return MTASTS_OK;
}

/* Seconds the key lives: past the policy's expiry, or past the next try
 * of an answer without one. */
static long long
ttl_of(const struct cache_entry *e)
{
	int64_t until = e->policy != NULL && e->policy->expires > e->checked
	    ? e->policy->expires + POLICY_MARGIN
	    : (e->next_try > e->checked ? e->next_try : e->checked) +
	        OTHER_MARGIN;
	int64_t ttl = until - wall_now();

	return ttl < 60 ? 60 : (long long)ttl;
}

mtasts_code
redis_cache_put_if_newer(void *store, const char *domain,
    const struct cache_entry *e, bool *wrote, struct mtasts_error *err)
{
	struct redis_store *s = store;
	char key[KEY_MAX], checked[24], expires[24], ttl[24];
	const char *argv[9] = {"EVAL", put_script, "1", key, NULL, checked,
	    expires, e->policy != NULL ? "1" : "0", ttl};
	size_t len[9];
	unsigned char *data;
	redisReply *r;
	int i;

	*wrote = false;
	if (record_encode(e, &data, &len[4]) != 0)
		return mtasts_error_set(err, MTASTS_ERR_NOMEM, "out of memory");
	if (len[4] > REDIS_RECORD_MAX) {
		free(data);
		return mtasts_error_set(err, MTASTS_ERR_CACHE,
		    "fleet: the record of %s is too large", domain);
	}
	key_of(s, "policy", domain, key);
	argv[4] = (const char *)data;
	snprintf(checked, sizeof(checked), "%lld", (long long)e->checked);
	snprintf(expires, sizeof(expires), "%lld",
	    e->policy != NULL ? (long long)e->policy->expires : 0LL);
	snprintf(ttl, sizeof(ttl), "%lld", ttl_of(e));
	for (i = 0; i < 9; i++)
		if (i != 4)
			len[i] = strlen(argv[i]);
	r = redis_run(s, 9, argv, len, err);
	free(data);
	if (r == NULL)
		return MTASTS_ERR_CACHE;
	if (r->type != REDIS_REPLY_INTEGER ||
	    (r->integer != 0 && r->integer != 1)) {
		redis_garbage(s, r, "EVAL", err);
		return MTASTS_ERR_CACHE;
	}
	*wrote = r->integer == 1;
	redis_free(s, r);
	return MTASTS_OK;
}

mtasts_code
redis_cache_del(void *store, const char *domain, struct mtasts_error *err)
{
	struct redis_store *s = store;
	char key[KEY_MAX];
	const char *argv[] = {"DEL", key};
	redisReply *r;
	bool had;

	key_of(s, "policy", domain, key);
	if ((r = redis_run(s, 2, argv, NULL, err)) == NULL)
		return MTASTS_ERR_CACHE;
	if (r->type != REDIS_REPLY_INTEGER) {
		redis_garbage(s, r, "DEL", err);
		return MTASTS_ERR_CACHE;
	}
	had = r->integer > 0;
	redis_free(s, r);
	return had ? MTASTS_OK : MTASTS_ERR_NOT_CACHED;
}

/* The domains of the store, found with SCAN (which may say one twice). */
struct names {
	char **v;
	size_t n, cap;
};

static void
names_free(struct names *names)
{
	size_t i;

	for (i = 0; i < names->n; i++)
		free(names->v[i]);
	free(names->v);
}

static int
names_add(struct names *names, const redisReply *k, const char *match,
    size_t prefix)
{
	char **v;

	/* under the prefix asked for, and a domain's name after it */
	if (k->type != REDIS_REPLY_STRING || k->len <= prefix ||
	    k->len - prefix > MTASTS_DOMAIN_MAX ||
	    memcmp(k->str, match, prefix) != 0 ||
	    !domain_is_valid(k->str + prefix, k->len - prefix))
		return 0; /* not one of ours: passed over */
	if (names->n == EACH_MAX)
		return -1;
	if (names->n == names->cap) {
		names->cap = names->cap ? 2 * names->cap : 64;
		if ((v = realloc(names->v, names->cap * sizeof(*v))) == NULL)
			return -1;
		names->v = v;
	}
	if ((names->v[names->n] = strndup(k->str + prefix, k->len - prefix)) ==
	    NULL)
		return -1;
	names->n++;
	return 0;
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static mtasts_code
scan(struct redis_store *s, struct names *names, struct mtasts_error *err)
{
	char match[KEY_MAX], cursor[24] = "0";
	const char *argv[] = {"SCAN", cursor, "MATCH", match, "COUNT", "500"};
	size_t prefix, i, rounds = 0;
	const redisReply *keys;
	redisReply *r;

	key_of(s, "policy", "*", match);
	prefix = strlen(match) - 1;
	do {
		/* a Redis whose cursor never comes back to 0 ends the walk */
		if (++rounds > SCAN_ROUNDS_MAX)
			return mtasts_error_set(err, MTASTS_ERR_CACHE,
			    "fleet: SCAN did not end in %d rounds",
			    SCAN_ROUNDS_MAX);
		if ((r = redis_run(s, 6, argv, NULL, err)) == NULL)
			return MTASTS_ERR_CACHE;
		if ((keys = redis_reply_scan(r, cursor, sizeof(cursor))) ==
		    NULL) {
			redis_garbage(s, r, "SCAN", err);
			return MTASTS_ERR_CACHE;
		}
		for (i = 0; i < keys->elements; i++)
			if (names_add(names, keys->element[i], match,
			        prefix) != 0) {
				redis_free(s, r);
				return mtasts_error_set(err, MTASTS_ERR_CACHE,
				    "fleet: more domains than a walk lists, "
				    "or out of memory");
			}
		redis_free(s, r);
	} while (strcmp(cursor, "0") != 0);
	return MTASTS_OK;
}

mtasts_code
redis_cache_each(void *store,
    int (*fn)(void *arg, const char *domain, const struct cache_entry *e),
    void *arg, struct mtasts_error *err)
{
	struct redis_store *s = store;
	struct names names = {0};
	struct cache_entry e;
	mtasts_code rc;
	size_t i;

	if ((rc = scan(s, &names, err)) != MTASTS_OK) {
		names_free(&names);
		return rc;
	}
	if (names.n > 0) /* qsort wants an array, even of none */
		qsort(names.v, names.n, sizeof(*names.v), by_name);
	for (i = 0; i < names.n && rc == MTASTS_OK; i++) {
		if (i > 0 && strcmp(names.v[i], names.v[i - 1]) == 0)
			continue;
		rc = redis_cache_get(s, names.v[i], &e, err);
		if (rc == MTASTS_ERR_NOT_CACHED) { /* expired since */
			rc = MTASTS_OK;
			continue;
		}
		if (rc != MTASTS_OK && s->ctx == NULL)
			break; /* the link, not the record */
		if (rc != MTASTS_OK) {
			e.status = MTASTS_STATUS_ERRORED;
			e.error = *err;
			rc = MTASTS_OK;
		}
		if (fn(arg, names.v[i], &e) != 0)
			i = names.n;
		cache_entry_clear(&e);
	}
	names_free(&names);
	return rc;
}

/* A "name:value" line of INFO's text. */
static int
info_field(const redisReply *r, const char *name, uint64_t *out)
{
	size_t n = strlen(name);
	const char *p = r->str, *end = r->str + r->len;
	char buf[24], *stop;

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)((eol != NULL ? eol : end) - p);

		if (len > n + 1 && len - n - 1 < sizeof(buf) &&
		    memcmp(p, name, n) == 0 && p[n] == ':') {
			memcpy(buf, p + n + 1, len - n - 1);
			buf[len - n - 1] = '\0';
			buf[strcspn(buf, "\r")] = '\0';
			*out = strtoull(buf, &stop, 10);
			return *stop == '\0' && buf[0] != '\0' ? 0 : -1;
		}
		p += len + 1;
	}
	return -1;
}

int
redis_cache_room(void *store, uint64_t *used, uint64_t *size)
{
	struct redis_store *s = store;
	const char *argv[] = {"INFO", "memory"};
	struct mtasts_error err;
	redisReply *r;
	int rc;

	*used = *size = 0;
	if ((r = redis_run(s, 2, argv, NULL, &err)) == NULL)
		return -1;
	if (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS) {
		redis_garbage(s, r, "INFO", &err);
		return -1;
	}
	/* maxmemory 0 is no limit: the room is not known */
	rc = info_field(r, "used_memory", used) == 0 &&
	        info_field(r, "maxmemory", size) == 0 && *size > 0
	    ? 0
	    : -1;
	redis_free(s, r);
	return rc;
}

/* The slot of held that holds domain (or, domain NULL, a free one). */
static char *
held_slot(struct redis_store *s, const char *domain)
{
	size_t i;

	for (i = 0; i < REDIS_LOCKS_HELD; i++)
		if (domain != NULL ? strcmp(s->held[i], domain) == 0
		                   : s->held[i][0] == '\0')
			return s->held[i];
	return NULL;
}

int
redis_take(struct redis_store *s, const char *key, long ms,
    struct mtasts_error *err)
{
	char px[24];
	const char *argv[] = {"SET", key, s->token, "NX", "PX", px};
	redisReply *r;
	bool taken;

	snprintf(px, sizeof(px), "%ld", ms);
	if ((r = redis_run(s, 6, argv, NULL, err)) == NULL)
		return -1;
	if (r->type != REDIS_REPLY_STATUS && r->type != REDIS_REPLY_NIL) {
		redis_garbage(s, r, "SET", err);
		return -1;
	}
	taken = r->type == REDIS_REPLY_STATUS;
	redis_free(s, r);
	return taken ? 1 : 0;
}

void
redis_let_go(struct redis_store *s, const char *key)
{
	const char *argv[] = {"EVAL", unlock_script, "1", key, s->token};
	struct mtasts_error err;

	redis_free(s, redis_run(s, 5, argv, NULL, &err));
}

int
redis_cache_lock(void *store, const char *domain, long timeout_ms)
{
	struct redis_store *s = store;
	char key[KEY_MAX];
	struct timespec pause = {0, 50 * 1000000};
	struct mtasts_error err;
	int64_t end = mono_ms() + timeout_ms;
	char *slot = held_slot(s, NULL);
	bool waited = false;
	int taken;

	if (held_slot(s, domain) != NULL)
		return 0; /* this opening holds it already, as LMDB's would */
	if (slot == NULL)
		return -1;
	key_of(s, "lock", domain, key);
	for (;;) {
		/* the holder's discovery takes as long as the wait for it
		 * may: a holder that dies lets go when its lock expires */
		taken = redis_take(
		    s, key, timeout_ms > 1000 ? timeout_ms : 1000, &err);
		if (taken < 0)
			return -1;
		if (taken)
			break;
		if (mono_ms() >= end)
			return -1;
		nanosleep(&pause, NULL);
		waited = true;
	}
	snprintf(slot, MTASTS_DOMAIN_MAX + 1, "%s", domain);
	return waited ? 1 : 0;
}

void
redis_cache_unlock(void *store, const char *domain)
{
	struct redis_store *s = store;
	char key[KEY_MAX];
	char *slot = held_slot(s, domain);

	if (slot == NULL)
		return; /* not taken: no round trip */
	slot[0] = '\0';
	key_of(s, "lock", domain, key);
	redis_let_go(s, key);
}

/* "<fleet_name>:refresh:<domain>": which node refreshes it this time */
int
redis_cache_claim(void *store, const char *domain, long hold_ms)
{
	struct redis_store *s = store;
	struct mtasts_error err;
	char key[KEY_MAX];

	key_of(s, "refresh", domain, key);
	return redis_take(s, key, hold_ms, &err);
}

void
redis_cache_unclaim(void *store, const char *domain)
{
	struct redis_store *s = store;
	char key[KEY_MAX];

	key_of(s, "refresh", domain, key);
	redis_let_go(s, key);
}
