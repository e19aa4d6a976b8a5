/*
 * lmdb_tlsrpt.c - the TLS-RPT store on LMDB (tlsrpt_backend = lmdb, the
 * default), like the cache and with its owner, group and mode, in its own
 * environment (tlsrpt_dir).
 *
 * Keys are text, so that one day and domain sort together:
 *   "P DAY DOMAIN PHASH"        a policy's summary: struct sum, then the
 *                               policy's text
 *   "F DAY DOMAIN PHASH DHASH"  a failure-detail row: its count, then
 *                               "RESULT SENDING-IP MX-HOST RECEIVING-IP"
 *   "R DAY DOMAIN RHASH"        the delivery state of a report to a rua
 * PHASH, DHASH and RHASH are the CRC-32 of the text they stand for, in hex;
 * a row whose text differs from the one asked for (a collision) is never
 * merged with it.
 *
 * Written without fsync (MDB_NOSYNC): a killed process loses nothing it
 * committed, a crash of the machine may lose the last sessions counted -
 * a report's counts, never mail.
 */
#include <errno.h>
#include <inttypes.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "files.h"
#include "lmdb_map.h"
#include "crc32.h"
#include "error.h"
#include "guard.h"
#include "tlsrpt_spool.h"
#include "tlsrpt_backend.h"

struct lmdb_tlsrpt {
	const struct mtasts_config *cfg;
	MDB_env *env;
	MDB_dbi dbi;
	long details; /* failure-detail rows per policy and day */
	bool faulted; /* a fault let go of the map: never touched again */
};

/* The value of a "P" key, before the policy's text. */
struct sum {
	uint64_t success;
	uint64_t failure;
	uint64_t dropped;
	uint32_t details;
	uint32_t sts;
};

#define KEY_MAX 400

static void lmdb_tlsrpt_close(void *store);

static mtasts_code
store_error(struct mtasts_error *err, const struct lmdb_tlsrpt *s,
    const char *what, int rc)
{
	return mtasts_error_set(err, MTASTS_ERR_CACHE, "TLS-RPT store %s: %s: %s",
	    s->cfg->tlsrpt_dir != NULL ? s->cfg->tlsrpt_dir : "", what,
	    rc == MDB_MAP_FULL ? "full (tlsrpt_size)" : mdb_strerror(rc));
}

static void *
lmdb_tlsrpt_open(const struct mtasts_config *cfg, struct mtasts_error *err)
{
	struct lmdb_tlsrpt *s = calloc(1, sizeof(*s));
	char dir[4096], path[4200];
	MDB_txn *txn;
	int rc;

	if (s == NULL) {
		mtasts_error_set(err, MTASTS_ERR_NOMEM, "out of memory");
		return NULL;
	}
	s->cfg = cfg;
	s->details = cfg->tlsrpt_details;
	if (tlsrpt_dir_of(cfg, dir, sizeof(dir)) != 0) {
		mtasts_error_set(err, MTASTS_ERR_CONFIG,
		    "TLS-RPT store: set tlsrpt_dir or cache_dir");
		free(s);
		return NULL;
	}
	/* tlsrpt in the cache's directory, made as the cache makes it */
	if ((cfg->tlsrpt_dir == NULL &&
	        store_make_dir(cfg, cfg->cache_dir, err) != 0) ||
	    store_make_dir(cfg, dir, err) != 0) {
		free(s);
		return NULL;
	}
	if (lmdb_links_in(dir, err) != 0 ||
	    lmdb_lock_room(dir, cfg->cache_mode, err) != 0) {
		free(s);
		return NULL;
	}
	if ((rc = mdb_env_create(&s->env)) != 0)
		goto fail;
	mdb_env_set_mapsize(s->env, cfg->tlsrpt_size);
	mdb_env_set_maxreaders(s->env, 1024);
	rc = mdb_env_open(s->env, dir, MDB_NOTLS | MDB_NOSYNC | MDB_NOMETASYNC,
	    (mdb_mode_t)cfg->cache_mode);
	if (rc != 0)
		goto fail;
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	store_set_ownership(cfg, path, (mode_t)cfg->cache_mode);
	snprintf(path, sizeof(path), "%s/lock.mdb", dir);
	store_set_ownership(cfg, path, (mode_t)cfg->cache_mode);
	if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn)) != 0)
		goto fail;
	rc = mdb_dbi_open(txn, NULL, 0, &s->dbi);
	mdb_txn_abort(txn);
	if (rc != 0)
		goto fail;
	return s;
fail:
	mtasts_error_set(err, MTASTS_ERR_CACHE, "TLS-RPT store %s: %s", dir,
	    mdb_strerror(rc));
	lmdb_tlsrpt_close(s);
	return NULL;
}

static void
lmdb_tlsrpt_close(void *store)
{
	struct lmdb_tlsrpt *s = store;

	if (s == NULL)
		return;
	if (s->env != NULL && !s->faulted)
		mdb_env_close(s->env);
	free(s);
}

/* mdb_txn_begin, once more after adopting the map size another process
 * (with a larger tlsrpt_size) grew the map to. */
static int
begin(struct lmdb_tlsrpt *s, unsigned flags, MDB_txn **txn)
{
	int rc = mdb_txn_begin(s->env, NULL, flags, txn);

	if (rc == MDB_MAP_RESIZED && mdb_env_set_mapsize(s->env, 0) == 0)
		rc = mdb_txn_begin(s->env, NULL, flags, txn);
	return rc;
}

/* A domain read back from a key: printable, no spaces. */
static bool
domain_ok(const char *d)
{
	struct tlsrpt_session x = {.domain = d};

	return tlsrpt_session_ok(&x);
}

static MDB_val
val_of(const char *key)
{
	MDB_val v = {strlen(key), (void *)key};

	return v;
}

/* Counts one failure's detail row (its result and hosts) under the
 * policy at pkey; past the store's limit of rows per policy, or on a
 * clash of hashes, counts it as dropped instead. */
static int
count_detail(struct lmdb_tlsrpt *s, MDB_txn *txn, const char *pkey,
    const char *row, struct sum *sum)
{
	size_t rlen = strlen(row);
	char fkey[KEY_MAX];
	uint64_t n = 0;
	MDB_val k, v;
	int rc;

	if (snprintf(fkey, sizeof(fkey), "F%.300s %08" PRIx32, pkey + 1,
	        crc32_of(row, rlen)) < 0)
		return EINVAL;
	k = val_of(fkey);
	rc = mdb_get(txn, s->dbi, &k, &v);
	if (rc == 0 && v.mv_size == sizeof(n) + rlen &&
	    memcmp((char *)v.mv_data + sizeof(n), row, rlen) == 0)
		memcpy(&n, v.mv_data, sizeof(n));
	else if (rc == 0 ||
	    (rc == MDB_NOTFOUND && (long)sum->details >= s->details)) {
		sum->dropped++;
		return 0;
	} else if (rc != MDB_NOTFOUND)
		return rc;
	else
		sum->details++;
	n++;
	v.mv_size = sizeof(n) + rlen;
	if ((rc = mdb_put(txn, s->dbi, &k, &v, MDB_RESERVE)) != 0)
		return rc;
	memcpy(v.mv_data, &n, sizeof(n));
	memcpy((char *)v.mv_data + sizeof(n), row, rlen);
	return 0;
}

/* Counts session x in the summary of its policy at pkey (a success or a
 * failure) and a failure's detail row too. */
static int
count_session(struct lmdb_tlsrpt *s, MDB_txn *txn, const char *pkey,
    const struct tlsrpt_session *x, const char *row)
{
	MDB_val k = val_of(pkey), v;
	const char *policy = tlsrpt_policy_of(x);
	size_t plen = strlen(policy);
	unsigned char *buf;
	struct sum sum;
	int rc;

	memset(&sum, 0, sizeof(sum));
	sum.sts = x->sts;
	rc = mdb_get(txn, s->dbi, &k, &v);
	if (rc == 0 && v.mv_size == sizeof(sum) + plen &&
	    memcmp((char *)v.mv_data + sizeof(sum), policy, plen) == 0)
		memcpy(&sum, v.mv_data, sizeof(sum));
	else if (rc == 0)
		return MDB_KEYEXIST; /* another policy of the same hash */
	else if (rc != MDB_NOTFOUND)
		return rc;
	if (x->result == NULL) {
		sum.success++;
	} else {
		sum.failure++;
		if ((rc = count_detail(s, txn, pkey, row, &sum)) != 0)
			return rc;
	}
	k = val_of(pkey);
	v.mv_size = sizeof(sum) + plen;
	if ((rc = mdb_put(txn, s->dbi, &k, &v, MDB_RESERVE)) != 0)
		return rc;
	buf = v.mv_data;
	memcpy(buf, &sum, sizeof(sum));
	memcpy(buf + sizeof(sum), policy, plen);
	return 0;
}

/* Counts one session in txn. */
static int
add_one(struct lmdb_tlsrpt *s, MDB_txn *txn, const char *day,
    const struct tlsrpt_session *x)
{
	const char *policy = tlsrpt_policy_of(x);
	char pkey[KEY_MAX], row[TLSRPT_ROW_MAX];
	int rc;

	snprintf(pkey, sizeof(pkey), "P %s %s %08" PRIx32, day, x->domain,
	    crc32_of(policy, strlen(policy)));
	tlsrpt_row_of(x, row);
	rc = count_session(s, txn, pkey, x, row);
	return rc == MDB_KEYEXIST ? 0 : rc; /* a hash collision: not counted */
}

static void
offset_key(char *key, size_t len, const char *day)
{
	snprintf(key, len, "O %s", day);
}

/*
 * Counts the well-formed sessions of xs[n] on day and, with offset, notes
 * in the same transaction how far day's spool file has been read.
 */
static mtasts_code
add_sessions(struct lmdb_tlsrpt *s, const char *day,
    const struct tlsrpt_session *xs, size_t n, const uint64_t *offset,
    struct mtasts_error *err)
{
	char okey[KEY_MAX];
	sigjmp_buf jump;
	MDB_txn *txn = NULL;
	size_t i;
	int rc;

	if (s->faulted)
		return mtasts_error_set(err, MTASTS_ERR_CACHE,
		    "TLS-RPT store: given up after a fault");
	if (sigsetjmp(jump, 0) != 0) {
		s->faulted = true; /* its write lock may be ours: let it be */
		return mtasts_error_set(err, MTASTS_ERR_CACHE,
		    "TLS-RPT store: a fault reading it (damaged?)");
	}
	guard_enter(&jump);
	rc = begin(s, 0, &txn);
	for (i = 0; rc == 0 && i < n; i++)
		if (tlsrpt_session_ok(&xs[i]))
			rc = add_one(s, txn, day, &xs[i]);
	if (rc == 0 && offset != NULL) {
		MDB_val k, v = {sizeof(*offset), (void *)offset};

		offset_key(okey, sizeof(okey), day);
		k = val_of(okey);
		rc = mdb_put(txn, s->dbi, &k, &v, 0);
	}
	if (rc == 0)
		rc = mdb_txn_commit(txn);
	else if (txn != NULL)
		mdb_txn_abort(txn);
	guard_leave();
	return rc == 0 ? MTASTS_OK : store_error(err, s, "write", rc);
}

static mtasts_code
lmdb_tlsrpt_add(void *store, const char *day,
    const struct tlsrpt_session *x, struct mtasts_error *err)
{
	struct lmdb_tlsrpt *s = store;

	if (!tlsrpt_session_ok(x))
		return mtasts_error_set(err, MTASTS_ERR_USAGE,
		    "TLS-RPT: a session with a malformed field");
	return add_sessions(s, day, x, 1, NULL, err);
}

static mtasts_code
lmdb_tlsrpt_fold(void *store, const char *day,
    const struct tlsrpt_session *xs, size_t n, uint64_t offset,
    struct mtasts_error *err)
{
	struct lmdb_tlsrpt *s = store;

	return add_sessions(s, day, xs, n, &offset, err);
}

/* The text after the fixed part of a value, as a JSON string. */
static json_t *
text_after(const MDB_val *v, size_t skip)
{
	return json_stringn((const char *)v->mv_data + skip, v->mv_size - skip);
}

/* Calls fn for every key that begins with prefix, in order, until it
 * returns non-zero. */
static int
each_prefixed(struct lmdb_tlsrpt *s, MDB_txn *txn, const char *prefix,
    int (*fn)(void *arg, MDB_txn *txn, const MDB_val *k, const MDB_val *v),
    void *arg)
{
	size_t plen = strlen(prefix);
	MDB_cursor *c;
	MDB_val k = val_of(prefix), v;
	int rc;

	if ((rc = mdb_cursor_open(txn, s->dbi, &c)) != 0)
		return rc;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	     rc == 0 && k.mv_size >= plen && memcmp(k.mv_data, prefix, plen) == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
		if ((rc = fn(arg, txn, &k, &v)) != 0)
			break;
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* One failure-detail row into the JSON array arg. */
static int
add_detail(void *arg, MDB_txn *txn, const MDB_val *k, const MDB_val *v)
{
	json_t *row;
	uint64_t n;

	(void)txn;
	(void)k;
	if (v->mv_size <= sizeof(n))
		return 0;
	memcpy(&n, v->mv_data, sizeof(n));
	if ((row = tlsrpt_row_json((const char *)v->mv_data + sizeof(n),
	         v->mv_size - sizeof(n), n)) != NULL)
		json_array_append_new(arg, row);
	return 0;
}

/* Runs fn inside a guarded read transaction. */
static mtasts_code
reading(struct lmdb_tlsrpt *s, int (*fn)(struct lmdb_tlsrpt *, MDB_txn *,
                                    void *),
    void *arg, struct mtasts_error *err)
{
	sigjmp_buf jump;
	MDB_txn *txn;
	int rc;

	if (s->faulted)
		return mtasts_error_set(err, MTASTS_ERR_CACHE,
		    "TLS-RPT store: given up after a fault");
	if (sigsetjmp(jump, 0) != 0) {
		s->faulted = true;
		return mtasts_error_set(err, MTASTS_ERR_CACHE,
		    "TLS-RPT store: a fault reading it (damaged?)");
	}
	guard_enter(&jump);
	rc = begin(s, MDB_RDONLY, &txn);
	if (rc == 0) {
		rc = fn(s, txn, arg);
		mdb_txn_abort(txn);
	}
	guard_leave();
	return rc == 0 ? MTASTS_OK : store_error(err, s, "read", rc);
}

struct day_query {
	struct lmdb_tlsrpt *s;
	const char *day;
	const char *domain;
	json_t *out;
};

/* One policy's summary, with its detail rows, into the day's JSON. */
static int
add_policy(void *arg, MDB_txn *txn, const MDB_val *k, const MDB_val *v)
{
	struct day_query *q = arg;
	const char *d = (const char *)k->mv_data + 3 + TLSRPT_DAY_LEN;
	char domain[300], prefix[KEY_MAX];
	json_t *list, *details;
	struct sum sum;
	size_t dlen;
	int rc;

	/* "P DAY DOMAIN PHASH" */
	if (v->mv_size < sizeof(sum) || k->mv_size < 3 + TLSRPT_DAY_LEN + 10 ||
	    (dlen = k->mv_size - 3 - TLSRPT_DAY_LEN - 9) >= sizeof(domain))
		return 0;
	memcpy(domain, d, dlen);
	domain[dlen] = '\0';
	if (!domain_ok(domain)) /* a store written by another hand */
		return 0;
	memcpy(&sum, v->mv_data, sizeof(sum));
	snprintf(prefix, sizeof(prefix), "F%.*s ", (int)k->mv_size - 1,
	    (const char *)k->mv_data + 1);
	details = json_array();
	if ((rc = each_prefixed(q->s, txn, prefix, add_detail, details)) != 0) {
		json_decref(details);
		return rc;
	}
	if ((list = json_object_get(q->out, domain)) == NULL &&
	    json_object_set_new(q->out, domain, list = json_array()) != 0) {
		json_decref(details);
		return 0;
	}
	json_array_append_new(list,
	    tlsrpt_policy_json(sum.sts, text_after(v, sizeof(sum)),
	        sum.success, sum.failure, sum.dropped, details));
	return 0;
}

static int
read_day(struct lmdb_tlsrpt *s, MDB_txn *txn, void *arg)
{
	struct day_query *q = arg;
	char prefix[KEY_MAX];

	snprintf(prefix, sizeof(prefix), "P %s %s%s", q->day,
	    q->domain != NULL ? q->domain : "", q->domain != NULL ? " " : "");
	return each_prefixed(s, txn, prefix, add_policy, q);
}

static json_t *
lmdb_tlsrpt_day(void *store, const char *day, const char *domain,
    struct mtasts_error *err)
{
	struct lmdb_tlsrpt *s = store;
	struct day_query q = {s, day, domain, json_object()};

	if (reading(s, read_day, &q, err) != MTASTS_OK) {
		json_decref(q.out);
		return NULL;
	}
	return q.out;
}

static int
read_days(struct lmdb_tlsrpt *s, MDB_txn *txn, void *arg)
{
	json_t *days = arg;
	char last[TLSRPT_DAY_LEN + 1] = "";
	MDB_cursor *c;
	MDB_val k = val_of("P "), v;
	int rc;

	if ((rc = mdb_cursor_open(txn, s->dbi, &c)) != 0)
		return rc;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	     rc == 0 && k.mv_size > 2 + TLSRPT_DAY_LEN &&
	     memcmp(k.mv_data, "P ", 2) == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
		if (memcmp(last, (char *)k.mv_data + 2, TLSRPT_DAY_LEN) != 0) {
			memcpy(last, (char *)k.mv_data + 2, TLSRPT_DAY_LEN);
			if (tlsrpt_is_day(last))
				json_array_append_new(days, json_string(last));
		}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND || rc == 0 ? 0 : rc;
}

static json_t *
lmdb_tlsrpt_days(void *store, struct mtasts_error *err)
{
	struct lmdb_tlsrpt *s = store;
	json_t *days = json_array();

	if (reading(s, read_days, days, err) != MTASTS_OK) {
		json_decref(days);
		return NULL;
	}
	return days;
}

static void
state_key(char *key, size_t len, const char *day, const char *domain,
    const char *rua)
{
	snprintf(key, len, "R %s %s %08" PRIx32, day, domain,
	    crc32_of(rua, strlen(rua)));
}

struct offset_query {
	const char *key;
	uint64_t *offset;
};

static int
read_offset(struct lmdb_tlsrpt *s, MDB_txn *txn, void *arg)
{
	struct offset_query *q = arg;
	MDB_val k = val_of(q->key), v;
	int rc = mdb_get(txn, s->dbi, &k, &v);

	*q->offset = 0;
	if (rc == 0 && v.mv_size == sizeof(*q->offset))
		memcpy(q->offset, v.mv_data, sizeof(*q->offset));
	return rc == MDB_NOTFOUND ? 0 : rc;
}

static mtasts_code
lmdb_tlsrpt_offset(void *store, const char *day,
    uint64_t *offset, struct mtasts_error *err)
{
	struct lmdb_tlsrpt *s = store;
	char key[KEY_MAX];
	struct offset_query q = {key, offset};

	offset_key(key, sizeof(key), day);
	return reading(s, read_offset, &q, err);
}

struct state_query {
	const char *key;
	char *state;
	size_t len;
};

static int
read_state(struct lmdb_tlsrpt *s, MDB_txn *txn, void *arg)
{
	struct state_query *q = arg;
	MDB_val k = val_of(q->key), v;
	int rc = mdb_get(txn, s->dbi, &k, &v);

	q->state[0] = '\0';
	if (rc == 0)
		snprintf(q->state, q->len, "%.*s", (int)v.mv_size,
		    (const char *)v.mv_data);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

static mtasts_code
lmdb_tlsrpt_state(void *store, const char *day,
    const char *domain, const char *rua, char *state, size_t len,
    struct mtasts_error *err)
{
	struct lmdb_tlsrpt *s = store;
	char key[KEY_MAX];
	struct state_query q = {key, state, len};

	state_key(key, sizeof(key), day, domain, rua);
	return reading(s, read_state, &q, err);
}

/* A write transaction for the reporter (not guarded: the command alone
 * runs it, and a fault there ends only the command), synced. */
static mtasts_code
write_synced(struct lmdb_tlsrpt *s, int (*fn)(struct lmdb_tlsrpt *,
                                         MDB_txn *, void *),
    void *arg, struct mtasts_error *err)
{
	MDB_txn *txn;
	int rc;

	if (s->faulted)
		return mtasts_error_set(err, MTASTS_ERR_CACHE,
		    "TLS-RPT store: given up after a fault");
	rc = begin(s, 0, &txn);
	if (rc != 0)
		return store_error(err, s, "write", rc);
	if ((rc = fn(s, txn, arg)) != 0) {
		mdb_txn_abort(txn);
		return store_error(err, s, "write", rc);
	}
	if ((rc = mdb_txn_commit(txn)) != 0 ||
	    (rc = mdb_env_sync(s->env, 1)) != 0)
		return store_error(err, s, "write", rc);
	return MTASTS_OK;
}

struct state_change {
	const char *key;
	const char *state;
};

static int
put_state(struct lmdb_tlsrpt *s, MDB_txn *txn, void *arg)
{
	struct state_change *q = arg;
	MDB_val k = val_of(q->key), v = val_of(q->state);

	return mdb_put(txn, s->dbi, &k, &v, 0);
}

static mtasts_code
lmdb_tlsrpt_set_state(void *store, const char *day,
    const char *domain, const char *rua, const char *state,
    struct mtasts_error *err)
{
	struct lmdb_tlsrpt *s = store;
	char key[KEY_MAX];
	struct state_change q = {key, state};

	state_key(key, sizeof(key), day, domain, rua);
	return write_synced(s, put_state, &q, err);
}

/* Deletes the keys of every kind (F, P, R) for days before arg. */
static int
prune(struct lmdb_tlsrpt *s, MDB_txn *txn, void *arg)
{
	const char *before = arg;
	MDB_cursor *c;
	MDB_val k, v;
	int rc;

	if ((rc = mdb_cursor_open(txn, s->dbi, &c)) != 0)
		return rc;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
		if (k.mv_size < 2 + TLSRPT_DAY_LEN ||
		    memcmp((char *)k.mv_data + 2, before, TLSRPT_DAY_LEN) < 0)
			if ((rc = mdb_cursor_del(c, 0)) != 0)
				break;
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

static mtasts_code
lmdb_tlsrpt_prune(
    void *store, const char *day, struct mtasts_error *err)
{
	struct lmdb_tlsrpt *s = store;

	return write_synced(s, prune, (void *)day, err);
}

const struct tlsrpt_backend lmdb_tlsrpt_backend = {
	.name = "lmdb",
	.open = lmdb_tlsrpt_open,
	.close = lmdb_tlsrpt_close,
	.add = lmdb_tlsrpt_add,
	.fold = lmdb_tlsrpt_fold,
	.offset = lmdb_tlsrpt_offset,
	.day = lmdb_tlsrpt_day,
	.days = lmdb_tlsrpt_days,
	.state_of = lmdb_tlsrpt_state,
	.set_state = lmdb_tlsrpt_set_state,
	.prune = lmdb_tlsrpt_prune,
};
