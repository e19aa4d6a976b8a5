/*
 * redis_tlsrpt.c - the TLS-RPT store on the fleet's Redis (tlsrpt_backend
 * = redis; the default when fleet is set): every node folds its own spool
 * into the same counters, so that one report per policy domain and day
 * leaves the organization, sent by one node.  Over the cache's client
 * (redis_link.c, redis_io.c): each command under fleet_timeout, each
 * reply no larger than its cap and read as hostile input.
 *
 * Keys, under "<fleet_name>:tlsrpt:", each expiring 14 days after its
 * last write:
 *   days                  a set: the days counted
 *   domains:DAY           a set: that day's policy domains
 *   d:DAY:DOMAIN          a hash, per policy (PHASH, the CRC-32 of its
 *                         text, in hex) and failure-detail row (DHASH):
 *     p:PHASH             "STS SUCCESS FAILURE DROPPED ROWS\nTEXT"
 *     r:PHASH:DHASH       "COUNT RESULT SENDING-IP MX-HOST RECEIVING-IP"
 *   offset:NODE:DAY       how far NODE's spool file of DAY is counted
 *   node:NODE             the token of the host that is NODE
 *   state:DAY:DOMAIN      a hash: rua -> the report's delivery state
 *   nodes                 a hash: node -> when it last counted its whole
 *                         spool (a day's reports wait for every node)
 *   claim:DAY:DOMAIN:RHASH  the opening sending that report (SET NX PX)
 * A text that differs from the one its hash stands for (a collision) is
 * never merged with it, as in LMDB (lmdb_tlsrpt.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "crc32.h"
#include "error.h"
#include "files.h"
#include "redis.h"
#include "tlsrpt_backend.h"
#include "tlsrpt_spool.h"

#define KEY_MAX 512
#define TTL "1209600" /* 14 days: the counters, offsets and states */
/* How long a node may take to send one report before another may: a
 * delivery is bounded by its own timeouts, well within this. */
#define CLAIM_MS (15 * 60 * 1000L)
#define SSCAN_ROUNDS_MAX 4000
#define TOKEN_FILE "fleet-node" /* this host's token, beside run.lock */

struct redis_tlsrpt {
	const struct mtasts_config *cfg;
	struct redis_store *link;
	char prefix[80]; /* "<fleet_name>:tlsrpt:" */
	char node[80];
	char token[40]; /* this host's, kept in TOKEN_FILE */
	/* the offset of day's spool this opening last read or wrote */
	char day[TLSRPT_DAY_LEN + 1];
	uint64_t at;
};

/*
 * The sessions of a fold counted, and the node's offset set, in one
 * script (Redis runs one at a time: atomic).  KEYS: the offset, the
 * node, days, domains:DAY.  ARGV: the prefix, the day, the offset the
 * fold began at ("": a session added alone, no offset), the new offset,
 * the node's token, the detail rows allowed per policy, the groups; then
 * each group (domain, PHASH, sts, text, successes, rows) followed by its
 * rows (DHASH, text, count).  1 when counted; -1 the offset is not where
 * the fold began, -2 the node is another host's, -3 a key of another
 * type: nothing written.  Nothing is written before all is checked (a
 * script's error does not undo its writes), and every number read is
 * checked before it is used.
 */
static const char fold_script[] =
    "local pre, day, cap = ARGV[1], ARGV[2], tonumber(ARGV[6])\n"
    "local kinds = {'string', 'string', 'set', 'set'}\n"
    "for k = 1, 4 do\n"
    "  local t = redis.call('TYPE', KEYS[k]).ok\n"
    "  if t ~= 'none' and t ~= kinds[k] then return -3 end\n"
    "end\n"
    "local keys, i = {}, 8\n"
    "for g = 1, tonumber(ARGV[7]) do\n"
    "  keys[g] = pre .. 'd:' .. day .. ':' .. ARGV[i]\n"
    "  local t = redis.call('TYPE', keys[g]).ok\n"
    "  if t ~= 'none' and t ~= 'hash' then return -3 end\n"
    "  i = i + 6 + 3 * tonumber(ARGV[i + 5])\n"
    "end\n"
    "if ARGV[3] ~= '' then\n"
    "  local owner = redis.call('GET', KEYS[2])\n"
    "  if owner and owner ~= ARGV[5] then return -2 end\n"
    "  if (redis.call('GET', KEYS[1]) or '0') ~= ARGV[3] then return -1 end\n"
    "end\n"
    "i = 8\n"
    "for g = 1, #keys do\n"
    "  local key, ph, sts, text = keys[g], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]\n"
    "  local nrows, f = tonumber(ARGV[i + 5]), 'p:' .. ARGV[i + 1]\n"
    "  local s, fl, dr, rows = tonumber(ARGV[i + 4]), 0, 0, 0\n"
    "  local old, counted = redis.call('HGET', key, f), true\n"
    "  if old then\n"
    "    local a, b, c, d, e, t =\n"
    "        old:match('^([01]) (%d+) (%d+) (%d+) (%d+)\\n(.*)$')\n"
    "    if a == sts and t == text and #b <= 15 and #c <= 15 and\n"
    "        #d <= 15 and #e <= 15 then\n"
    "      s, fl, dr, rows = s + tonumber(b), tonumber(c), tonumber(d),\n"
    "          tonumber(e)\n"
    "    else\n"
    "      counted = false\n"
    "    end\n"
    "  end\n"
    "  i = i + 6\n"
    "  for r = 1, nrows do\n"
    "    local rf, row, n = 'r:' .. ph .. ':' .. ARGV[i], ARGV[i + 1],\n"
    "        tonumber(ARGV[i + 2])\n"
    "    i = i + 3\n"
    "    if counted then\n"
    "      fl = fl + n\n"
    "      local have, c, t = redis.call('HGET', key, rf)\n"
    "      if have then c, t = have:match('^(%d+) (.*)$') end\n"
    "      if have and t == row and #c <= 15 then\n"
    "        redis.call('HSET', key, rf,\n"
    "            string.format('%d %s', tonumber(c) + n, row))\n"
    "      elseif not have and rows < cap then\n"
    "        rows = rows + 1\n"
    "        redis.call('HSET', key, rf, string.format('%d %s', n, row))\n"
    "      else\n"
    "        dr = dr + n\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "  if counted then\n"
    "    redis.call('HSET', key, f,\n"
    "        string.format('%s %d %d %d %d\\n%s', sts, s, fl, dr, rows, text))\n"
    "    redis.call('EXPIRE', key, " TTL ")\n"
    "    redis.call('SADD', KEYS[4], ARGV[i - 6 - 3 * nrows])\n"
    "  end\n"
    "end\n"
    "if #keys > 0 then\n"
    "  redis.call('SADD', KEYS[3], day)\n"
    "  redis.call('EXPIRE', KEYS[3], " TTL ")\n"
    "  redis.call('EXPIRE', KEYS[4], " TTL ")\n"
    "end\n"
    "if ARGV[3] ~= '' then\n"
    "  redis.call('SET', KEYS[1], ARGV[4], 'EX', " TTL ")\n"
    "  redis.call('SET', KEYS[2], ARGV[5], 'EX', " TTL ")\n"
    "end\n"
    "return 1\n";

/* A report's state, and its day and domain where prune finds them.
 * KEYS: the state, days, domains:DAY; ARGV: rua, state, day, domain. */
static const char state_script[] =
    "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])\n"
    "redis.call('SADD', KEYS[2], ARGV[3])\n"
    "redis.call('SADD', KEYS[3], ARGV[4])\n"
    "for k = 1, 3 do redis.call('EXPIRE', KEYS[k], " TTL ") end\n"
    "return 1\n";

static void redis_tlsrpt_close(void *store);

/* "<prefix>KIND:A[:B]" into key[KEY_MAX]. */
static void
key_of(const struct redis_tlsrpt *s, char *key, const char *kind,
    const char *a, const char *b)
{
	snprintf(key, KEY_MAX, "%s%s:%s%s%s", s->prefix, kind, a,
	    b != NULL ? ":" : "", b != NULL ? b : "");
}

static bool
word_ok(const char *w)
{
	size_t n = strlen(w);

	return n > 0 && n <= 64 &&
	    strspn(w, "abcdefghijklmnopqrstuvwxyz"
	              "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

/* This host's token (made at first, kept in dir): the name fleet_node
 * gives is this host's only while no other host folds under it. */
static int
node_token(struct redis_tlsrpt *s, const char *dir, struct mtasts_error *err)
{
	char path[4200], buf[40];
	unsigned char random[16];
	ssize_t n;
	size_t i;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, TOKEN_FILE);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n == 32) {
			buf[n] = '\0';
			if (strspn(buf, "0123456789abcdef") == 32) {
				memcpy(s->token, buf, 33);
				return 0;
			}
		}
		mtasts_error_set(err, MTASTS_ERR_CACHE,
		    "%s: not a token of this host (remove it to make one)",
		    path);
		return -1;
	}
	if (getrandom(random, sizeof(random), 0) != (ssize_t)sizeof(random)) {
		mtasts_error_set(
		    err, MTASTS_ERR_CACHE, "fleet: no random bytes for a token");
		return -1;
	}
	for (i = 0; i < sizeof(random); i++)
		snprintf(s->token + 2 * i, 3, "%02x", random[i]);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (fd < 0 && errno == EEXIST)
		return node_token(s, dir, err); /* made meanwhile */
	if (fd < 0 || write(fd, s->token, 32) != 32) {
		mtasts_error_set(err, MTASTS_ERR_CACHE, "%s: %s", path,
		    strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static void *
redis_tlsrpt_open(const struct mtasts_config *cfg, struct mtasts_error *err)
{
	struct redis_tlsrpt *s;
	char dir[4096];

	if (cfg->fleet == FLEET_NONE) {
		mtasts_error_set(err, MTASTS_ERR_CONFIG,
		    "tlsrpt_backend redis: no fleet is set");
		return NULL;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		mtasts_error_set(err, MTASTS_ERR_NOMEM, "out of memory");
		return NULL;
	}
	s->cfg = cfg;
	snprintf(s->prefix, sizeof(s->prefix), "%s:tlsrpt:", cfg->fleet_name);
	if (cfg->fleet_node != NULL)
		snprintf(s->node, sizeof(s->node), "%s", cfg->fleet_node);
	else if (gethostname(s->node, sizeof(s->node)) != 0)
		s->node[0] = '\0';
	s->node[sizeof(s->node) - 1] = '\0';
	if (!word_ok(s->node)) {
		mtasts_error_set(err, MTASTS_ERR_CONFIG,
		    "fleet: this host's name is no fleet_node: set one");
		goto fail;
	}
	/* its directory holds the run lock and this host's token */
	if (tlsrpt_dir_of(cfg, dir, sizeof(dir)) != 0) {
		mtasts_error_set(err, MTASTS_ERR_CONFIG,
		    "TLS-RPT store: set tlsrpt_dir or cache_dir");
		goto fail;
	}
	if ((cfg->tlsrpt_dir == NULL &&
	        store_make_dir(cfg, cfg->cache_dir, err) != 0) ||
	    store_make_dir(cfg, dir, err) != 0 || node_token(s, dir, err) != 0)
		goto fail;
	if ((s->link = redis_cache_open(cfg, err)) == NULL)
		goto fail;
	return s;
fail:
	redis_tlsrpt_close(s);
	return NULL;
}

static void
redis_tlsrpt_close(void *store)
{
	struct redis_tlsrpt *s = store;

	if (s == NULL)
		return;
	redis_cache_close(s->link);
	free(s);
}

/* The arguments of one command, each a copy. */
struct args {
	char **v;
	size_t *len;
	size_t n, cap;
};

static int
arg_add(struct args *a, const char *text, size_t len)
{
	if (a->n == a->cap) {
		size_t cap = a->cap ? 2 * a->cap : 64;
		char **v = realloc(a->v, cap * sizeof(*v));
		size_t *l = v != NULL ? realloc(a->len, cap * sizeof(*l)) : NULL;

		if (v != NULL)
			a->v = v;
		if (l == NULL)
			return -1;
		a->len = l;
		a->cap = cap;
	}
	if ((a->v[a->n] = malloc(len + 1)) == NULL)
		return -1;
	memcpy(a->v[a->n], text, len);
	a->v[a->n][len] = '\0';
	a->len[a->n++] = len;
	return 0;
}

static int
arg_str(struct args *a, const char *text)
{
	return arg_add(a, text, strlen(text));
}

static int
arg_num(struct args *a, uint64_t n)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRIu64, n);
	return arg_str(a, buf);
}

static void
args_free(struct args *a)
{
	size_t i;

	for (i = 0; i < a->n; i++)
		free(a->v[i]);
	free(a->v);
	free(a->len);
}

/*
 * A batch summed before it is sent: per policy of a domain (a group),
 * its successes and its failures per detail row, in the order first
 * seen (the order LMDB gives rows their places in).  A row seen again
 * adds to its count.
 */
struct row {
	char text[TLSRPT_ROW_MAX];
	uint64_t count;
};

struct group {
	const struct tlsrpt_session *x; /* the first of the group */
	uint64_t success;
	struct row *rows;
	size_t nrows;
	json_t *index; /* row text -> its place */
};

struct sums {
	struct group *g;
	size_t n;
	json_t *index; /* "DOMAIN PHASH" -> its place */
};

static void
sums_free(struct sums *m)
{
	size_t i;

	for (i = 0; i < m->n; i++) {
		free(m->g[i].rows);
		json_decref(m->g[i].index);
	}
	free(m->g);
	json_decref(m->index);
}

static uint32_t
policy_hash(const struct tlsrpt_session *x)
{
	const char *p = tlsrpt_policy_of(x);

	return crc32_of(p, strlen(p));
}

/* Counts x in m (whose g has room for one more group). */
static int
sum_one(struct sums *m, const struct tlsrpt_session *x)
{
	char gkey[300], row[TLSRPT_ROW_MAX];
	json_t *at;
	struct group *g;
	struct row *rows;

	snprintf(gkey, sizeof(gkey), "%s %08" PRIx32, x->domain,
	    policy_hash(x));
	if ((at = json_object_get(m->index, gkey)) != NULL) {
		g = &m->g[json_integer_value(at)];
		/* a clash of hashes within the batch: as in the store */
		if (g->x->sts != x->sts ||
		    strcmp(tlsrpt_policy_of(g->x), tlsrpt_policy_of(x)) != 0)
			return 0;
	} else {
		g = &m->g[m->n];
		memset(g, 0, sizeof(*g));
		g->x = x;
		if ((g->index = json_object()) == NULL ||
		    json_object_set_new(
		        m->index, gkey, json_integer((json_int_t)m->n)) != 0)
			return -1;
		m->n++;
	}
	if (x->result == NULL) {
		g->success++;
		return 0;
	}
	tlsrpt_row_of(x, row);
	if ((at = json_object_get(g->index, row)) != NULL) {
		g->rows[json_integer_value(at)].count++;
		return 0;
	}
	if ((rows = realloc(g->rows, (g->nrows + 1) * sizeof(*rows))) == NULL)
		return -1;
	g->rows = rows;
	memcpy(rows[g->nrows].text, row, sizeof(row));
	rows[g->nrows].count = 1;
	return json_object_set_new(
	    g->index, row, json_integer((json_int_t)g->nrows++));
}

/* The groups of m as the script's arguments. */
static int
group_args(struct args *a, const struct sums *m)
{
	char hash[16];
	size_t i, k;
	int rc = 0;

	for (i = 0; i < m->n && rc == 0; i++) {
		const struct group *g = &m->g[i];

		snprintf(hash, sizeof(hash), "%08" PRIx32, policy_hash(g->x));
		rc = arg_str(a, g->x->domain) | arg_str(a, hash) |
		    arg_str(a, g->x->sts ? "1" : "0") |
		    arg_str(a, tlsrpt_policy_of(g->x)) |
		    arg_num(a, g->success) | arg_num(a, g->nrows);
		for (k = 0; k < g->nrows && rc == 0; k++) {
			snprintf(hash, sizeof(hash), "%08" PRIx32,
			    crc32_of(g->rows[k].text, strlen(g->rows[k].text)));
			rc = arg_str(a, hash) | arg_str(a, g->rows[k].text) |
			    arg_num(a, g->rows[k].count);
		}
	}
	return rc;
}

/* A decimal uint64 a string reply holds: 0, or -1 when it holds none. */
static int
number_of(const redisReply *r, uint64_t *n)
{
	char buf[24], *end;

	if (r->type != REDIS_REPLY_STRING || r->len == 0 ||
	    r->len >= sizeof(buf) || r->str[0] == '-')
		return -1;
	memcpy(buf, r->str, r->len);
	buf[r->len] = '\0';
	errno = 0;
	*n = strtoull(buf, &end, 10);
	return *end == '\0' && errno == 0 ? 0 : -1;
}

static mtasts_code
read_offset(struct redis_tlsrpt *s, const char *day, uint64_t *offset,
    struct mtasts_error *err)
{
	char key[KEY_MAX];
	const char *argv[] = {"GET", key};
	redisReply *r;

	key_of(s, key, "offset", s->node, day);
	if ((r = redis_run(s->link, 2, argv, NULL, err)) == NULL)
		return MTASTS_ERR_CACHE;
	*offset = 0;
	if (r->type != REDIS_REPLY_NIL && number_of(r, offset) != 0) {
		redis_garbage(s->link, r, "GET", err);
		return MTASTS_ERR_CACHE;
	}
	redis_free(s->link, r);
	snprintf(s->day, sizeof(s->day), "%s", day);
	s->at = *offset;
	return MTASTS_OK;
}

static mtasts_code
redis_tlsrpt_offset(void *store, const char *day, uint64_t *offset,
    struct mtasts_error *err)
{
	return read_offset(store, day, offset, err);
}

/* What the script answered, in words. */
static mtasts_code
script_said(struct redis_tlsrpt *s, long long n, const char *day,
    struct mtasts_error *err)
{
	if (n == -1)
		return mtasts_error_set(err, MTASTS_ERR_CACHE,
		    "fleet: the offset of fleet_node %s in the spool of %s "
		    "moved under this fold: nothing counted",
		    s->node, day);
	if (n == -2)
		return mtasts_error_set(err, MTASTS_ERR_CACHE,
		    "fleet: fleet_node %s is another host's (its spool is "
		    "counted under that name): give each node its own "
		    "fleet_node; nothing counted",
		    s->node);
	return mtasts_error_set(err, MTASTS_ERR_CACHE,
	    "fleet: a key of another type under %s: nothing counted",
	    s->prefix);
}

/* Counts xs[n] on day and, with offset, moves the node's offset from
 * where it was read to *offset: one EVAL. */
static mtasts_code
add_sessions(struct redis_tlsrpt *s, const char *day,
    const struct tlsrpt_session *xs, size_t n, const uint64_t *offset,
    struct mtasts_error *err)
{
	char okey[KEY_MAX], nkey[KEY_MAX], dkey[KEY_MAX], skey[KEY_MAX];
	struct sums m = {calloc(n + 1, sizeof(*m.g)), 0, json_object()};
	struct args a = {0};
	uint64_t from = 0;
	mtasts_code rc = MTASTS_OK;
	redisReply *r;
	size_t i;
	int bad = m.g == NULL || m.index == NULL;

	if (offset != NULL && strcmp(s->day, day) != 0 &&
	    (rc = read_offset(s, day, &from, err)) != MTASTS_OK)
		goto out;
	from = s->at;
	for (i = 0; i < n && !bad; i++)
		if (tlsrpt_session_ok(&xs[i]))
			bad = sum_one(&m, &xs[i]) != 0;
	key_of(s, okey, "offset", s->node, day);
	key_of(s, nkey, "node", s->node, NULL);
	snprintf(dkey, sizeof(dkey), "%sdays", s->prefix);
	key_of(s, skey, "domains", day, NULL);
	bad = bad || arg_str(&a, "EVAL") | arg_str(&a, fold_script) |
	        arg_str(&a, "4") | arg_str(&a, okey) | arg_str(&a, nkey) |
	        arg_str(&a, dkey) | arg_str(&a, skey) |
	        arg_str(&a, s->prefix) | arg_str(&a, day);
	if (!bad && offset != NULL)
		bad = arg_num(&a, from) | arg_num(&a, *offset);
	else if (!bad)
		bad = arg_str(&a, "") | arg_str(&a, "");
	bad = bad || arg_str(&a, s->token) |
	        arg_num(&a, (uint64_t)s->cfg->tlsrpt_details) |
	        arg_num(&a, m.n) | group_args(&a, &m);
	if (bad) {
		rc = mtasts_error_set(err, MTASTS_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((r = redis_run(s->link, (int)a.n, (const char **)a.v, a.len,
	         err)) == NULL) {
		rc = MTASTS_ERR_CACHE;
		goto out;
	}
	if (r->type != REDIS_REPLY_INTEGER || r->integer < -3 ||
	    r->integer > 1 || r->integer == 0) {
		redis_garbage(s->link, r, "EVAL", err);
		rc = MTASTS_ERR_CACHE;
		goto out;
	}
	if (r->integer != 1)
		rc = script_said(s, r->integer, day, err);
	else if (offset != NULL)
		s->at = *offset;
	redis_free(s->link, r);
out:
	args_free(&a);
	sums_free(&m);
	return rc;
}

static mtasts_code
redis_tlsrpt_add(void *store, const char *day,
    const struct tlsrpt_session *x, struct mtasts_error *err)
{
	if (!tlsrpt_session_ok(x))
		return mtasts_error_set(err, MTASTS_ERR_USAGE,
		    "TLS-RPT: a session with a malformed field");
	return add_sessions(store, day, x, 1, NULL, err);
}

static mtasts_code
redis_tlsrpt_fold(void *store, const char *day,
    const struct tlsrpt_session *xs, size_t n, uint64_t offset,
    struct mtasts_error *err)
{
	return add_sessions(store, day, xs, n, &offset, err);
}

/* Whether a string reply is a field "KIND:PHASH..." of the policy. */
static bool
field_is(const redisReply *f, const char *kind, const char *hash)
{
	return f->len >= 10 && f->str[0] == kind[0] && f->str[1] == ':' &&
	    memcmp(f->str + 2, hash, 8) == 0;
}

/* The detail rows of the policy PHASH hash, from a hash's fields. */
static json_t *
details_of(const redisReply *r, const char *hash)
{
	json_t *details = json_array(), *row;
	size_t i;

	for (i = 0; details != NULL && i + 1 < r->elements; i += 2) {
		const redisReply *v = r->element[i + 1];
		const char *space;
		uint64_t n;
		char num[24];

		if (!field_is(r->element[i], "r", hash) ||
		    (space = memchr(v->str, ' ', v->len)) == NULL ||
		    (size_t)(space - v->str) >= sizeof(num))
			continue;
		memcpy(num, v->str, (size_t)(space - v->str));
		num[space - v->str] = '\0';
		if (num[0] == '\0' || strspn(num, "0123456789") != strlen(num))
			continue;
		n = strtoull(num, NULL, 10);
		if ((row = tlsrpt_row_json(space + 1,
		         v->len - (size_t)(space - v->str) - 1, n)) != NULL)
			json_array_append_new(details, row);
	}
	return details;
}

/* One policy's summary from its "p:" value, with its rows. */
static json_t *
policy_of(const redisReply *r, const redisReply *f, const redisReply *v)
{
	const char *nl = memchr(v->str, '\n', v->len);
	char head[120], hash[9];
	uint64_t n[4];
	json_t *text;
	int sts, used = 0;

	if (nl == NULL || (size_t)(nl - v->str) >= sizeof(head))
		return NULL;
	memcpy(head, v->str, (size_t)(nl - v->str));
	head[nl - v->str] = '\0';
	if (sscanf(head, "%d %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 "%n",
	        &sts, &n[0], &n[1], &n[2], &n[3], &used) != 5 ||
	    head[used] != '\0' || (sts != 0 && sts != 1) ||
	    strspn(head, "0123456789 ") != strlen(head))
		return NULL;
	if ((text = json_stringn(nl + 1, v->len - (size_t)(nl - v->str) - 1)) ==
	    NULL)
		return NULL; /* not UTF-8: not a policy's text */
	memcpy(hash, f->str + 2, 8);
	hash[8] = '\0';
	return tlsrpt_policy_json(
	    sts, text, n[0], n[1], n[2], details_of(r, hash));
}

/* The policies of day's domain into out[domain]. */
static mtasts_code
read_domain(struct redis_tlsrpt *s, const char *day, const char *domain,
    json_t *out, struct mtasts_error *err)
{
	char key[KEY_MAX];
	const char *argv[] = {"HGETALL", key};
	json_t *list = json_array(), *p;
	redisReply *r;
	size_t i;

	key_of(s, key, "d", day, domain);
	if ((r = redis_run(s->link, 2, argv, NULL, err)) == NULL) {
		json_decref(list);
		return MTASTS_ERR_CACHE;
	}
	if (r->type != REDIS_REPLY_ARRAY || r->elements % 2 != 0) {
		json_decref(list);
		redis_garbage(s->link, r, "HGETALL", err);
		return MTASTS_ERR_CACHE;
	}
	for (i = 0; i < r->elements; i++)
		if (r->element[i]->type != REDIS_REPLY_STRING) {
			json_decref(list);
			redis_garbage(s->link, r, "HGETALL", err);
			return MTASTS_ERR_CACHE;
		}
	for (i = 0; i < r->elements; i += 2)
		if (r->element[i]->len == 10 &&
		    field_is(r->element[i], "p", r->element[i]->str + 2) &&
		    (p = policy_of(r, r->element[i], r->element[i + 1])) != NULL)
			json_array_append_new(list, p);
	redis_free(s->link, r);
	if (json_array_size(list) > 0)
		json_object_set_new(out, domain, list);
	else
		json_decref(list);
	return MTASTS_OK;
}

/* A domain's name from a reply: one that may be counted, or none. */
static bool
domain_of(const redisReply *e, char *domain, size_t len)
{
	struct tlsrpt_session x = {.domain = domain};

	if (e->type != REDIS_REPLY_STRING || e->len == 0 || e->len >= len)
		return false;
	memcpy(domain, e->str, e->len);
	domain[e->len] = '\0';
	return strlen(domain) == e->len && tlsrpt_session_ok(&x);
}

/* The domains of day, into names (as keys), with SSCAN. */
static mtasts_code
day_domains(struct redis_tlsrpt *s, const char *day, json_t *names,
    struct mtasts_error *err)
{
	char key[KEY_MAX], cursor[24] = "0", domain[300];
	const char *argv[] = {"SSCAN", key, cursor, "COUNT", "500"};
	redisReply *r, *page;
	size_t i, rounds = 0;

	key_of(s, key, "domains", day, NULL);
	do {
		/* a Redis whose cursor never comes back to 0 ends it */
		if (++rounds > SSCAN_ROUNDS_MAX)
			return mtasts_error_set(err, MTASTS_ERR_CACHE,
			    "fleet: SSCAN did not end in %d rounds",
			    SSCAN_ROUNDS_MAX);
		if ((r = redis_run(s->link, 5, argv, NULL, err)) == NULL)
			return MTASTS_ERR_CACHE;
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
		    r->element[0]->type != REDIS_REPLY_STRING ||
		    r->element[0]->len >= sizeof(cursor) ||
		    (page = r->element[1])->type != REDIS_REPLY_ARRAY) {
			redis_garbage(s->link, r, "SSCAN", err);
			return MTASTS_ERR_CACHE;
		}
		memcpy(cursor, r->element[0]->str, r->element[0]->len);
		cursor[r->element[0]->len] = '\0';
		for (i = 0; i < page->elements; i++)
			if (domain_of(page->element[i], domain, sizeof(domain)))
				json_object_set_new(names, domain, json_true());
		redis_free(s->link, r);
	} while (strcmp(cursor, "0") != 0);
	return MTASTS_OK;
}

static json_t *
redis_tlsrpt_day(void *store, const char *day, const char *domain,
    struct mtasts_error *err)
{
	struct redis_tlsrpt *s = store;
	json_t *out = json_object(), *names = json_object(), *v;
	mtasts_code rc = MTASTS_OK;
	const char *d;

	if (domain != NULL)
		json_object_set_new(names, domain, json_true());
	else
		rc = day_domains(s, day, names, err);
	json_object_foreach(names, d, v)
	{
		if (rc == MTASTS_OK)
			rc = read_domain(s, day, d, out, err);
	}
	json_decref(names);
	if (rc != MTASTS_OK) {
		json_decref(out);
		return NULL;
	}
	return out;
}

static int
by_day(const void *a, const void *b)
{
	return strcmp(json_string_value(*(json_t *const *)a),
	    json_string_value(*(json_t *const *)b));
}

/* The days set's members that are days, oldest first; NULL with err. */
static json_t *
redis_tlsrpt_days(void *store, struct mtasts_error *err)
{
	struct redis_tlsrpt *s = store;
	char key[KEY_MAX], day[TLSRPT_DAY_LEN + 1];
	const char *argv[] = {"SMEMBERS", key};
	json_t **v, *days;
	redisReply *r;
	size_t i, n = 0;

	snprintf(key, sizeof(key), "%sdays", s->prefix);
	if ((r = redis_run(s->link, 2, argv, NULL, err)) == NULL)
		return NULL;
	if (r->type != REDIS_REPLY_ARRAY) {
		redis_garbage(s->link, r, "SMEMBERS", err);
		return NULL;
	}
	if ((v = calloc(r->elements + 1, sizeof(*v))) == NULL) {
		redis_free(s->link, r);
		mtasts_error_set(err, MTASTS_ERR_NOMEM, "out of memory");
		return NULL;
	}
	for (i = 0; i < r->elements; i++) {
		const redisReply *e = r->element[i];

		if (e->type != REDIS_REPLY_STRING || e->len != TLSRPT_DAY_LEN)
			continue;
		memcpy(day, e->str, TLSRPT_DAY_LEN);
		day[TLSRPT_DAY_LEN] = '\0';
		if (tlsrpt_is_day(day))
			v[n++] = json_string(day);
	}
	redis_free(s->link, r);
	if (n > 0)
		qsort(v, n, sizeof(*v), by_day);
	days = json_array();
	for (i = 0; i < n; i++)
		json_array_append_new(days, v[i]);
	free(v);
	return days;
}

static mtasts_code
redis_tlsrpt_state(void *store, const char *day, const char *domain,
    const char *rua, char *state, size_t len, struct mtasts_error *err)
{
	struct redis_tlsrpt *s = store;
	char key[KEY_MAX];
	const char *argv[] = {"HGET", key, rua};
	redisReply *r;

	key_of(s, key, "state", day, domain);
	if ((r = redis_run(s->link, 3, argv, NULL, err)) == NULL)
		return MTASTS_ERR_CACHE;
	if (r->type != REDIS_REPLY_NIL && r->type != REDIS_REPLY_STRING) {
		redis_garbage(s->link, r, "HGET", err);
		return MTASTS_ERR_CACHE;
	}
	state[0] = '\0';
	if (r->type == REDIS_REPLY_STRING)
		snprintf(state, len, "%.*s",
		    (int)(r->len < len ? r->len : len - 1), r->str);
	redis_free(s->link, r);
	return MTASTS_OK;
}

/* One command whose reply is an integer (of any value). */
static mtasts_code
run_integer(struct redis_tlsrpt *s, int argc, const char **argv,
    struct mtasts_error *err)
{
	redisReply *r = redis_run(s->link, argc, argv, NULL, err);

	if (r == NULL)
		return MTASTS_ERR_CACHE;
	if (r->type != REDIS_REPLY_INTEGER) {
		redis_garbage(s->link, r, argv[0], err);
		return MTASTS_ERR_CACHE;
	}
	redis_free(s->link, r);
	return MTASTS_OK;
}

static mtasts_code
redis_tlsrpt_set_state(void *store, const char *day, const char *domain,
    const char *rua, const char *state, struct mtasts_error *err)
{
	struct redis_tlsrpt *s = store;
	char key[KEY_MAX], days[KEY_MAX], domains[KEY_MAX];
	const char *argv[] = {"EVAL", state_script, "3", key, days, domains,
	    rua, state, day, domain};

	key_of(s, key, "state", day, domain);
	snprintf(days, sizeof(days), "%sdays", s->prefix);
	key_of(s, domains, "domains", day, NULL);
	return run_integer(s, 10, argv, err);
}

/* One day's counts and states deleted, then the day from the days set. */
static mtasts_code
forget_day(struct redis_tlsrpt *s, const char *day, struct mtasts_error *err)
{
	char key[KEY_MAX], state[KEY_MAX];
	const char *argv[] = {"DEL", key, state};
	json_t *names = json_object(), *v;
	mtasts_code rc = day_domains(s, day, names, err);
	const char *d;

	json_object_foreach(names, d, v)
	{
		if (rc != MTASTS_OK)
			break;
		key_of(s, key, "d", day, d);
		key_of(s, state, "state", day, d);
		rc = run_integer(s, 3, argv, err);
	}
	json_decref(names);
	if (rc != MTASTS_OK)
		return rc;
	key_of(s, key, "domains", day, NULL);
	if ((rc = run_integer(s, 2, argv, err)) != MTASTS_OK)
		return rc;
	snprintf(key, KEY_MAX, "%sdays", s->prefix);
	snprintf(state, KEY_MAX, "%s", day);
	argv[0] = "SREM";
	return run_integer(s, 3, argv, err);
}

/* Every day before day deleted (their keys would expire anyway). */
static mtasts_code
redis_tlsrpt_prune(void *store, const char *day, struct mtasts_error *err)
{
	struct redis_tlsrpt *s = store;
	json_t *days = redis_tlsrpt_days(s, err), *d;
	mtasts_code rc = days != NULL ? MTASTS_OK : MTASTS_ERR_CACHE;
	size_t i;

	json_array_foreach(days, i, d)
	{
		if (rc != MTASTS_OK || strcmp(json_string_value(d), day) >= 0)
			break;
		rc = forget_day(s, json_string_value(d), err);
	}
	json_decref(days);
	return rc;
}

static mtasts_code
redis_tlsrpt_folded(void *store, int64_t now, struct mtasts_error *err)
{
	struct redis_tlsrpt *s = store;
	char key[KEY_MAX], when[24];
	const char *set[] = {"HSET", key, s->node, when};
	const char *expire[] = {"EXPIRE", key, TTL};

	snprintf(key, sizeof(key), "%snodes", s->prefix);
	snprintf(when, sizeof(when), "%lld", (long long)now);
	if (run_integer(s, 4, set, err) != MTASTS_OK)
		return MTASTS_ERR_CACHE;
	return run_integer(s, 3, expire, err);
}

/* Whether every node active lately counted its spool after day ended. */
static int
redis_tlsrpt_ready(void *store, const char *day, int64_t now, char *who,
    size_t len, struct mtasts_error *err)
{
	struct redis_tlsrpt *s = store;
	char key[KEY_MAX], node[80];
	const char *argv[] = {"HGETALL", key};
	int64_t end = tlsrpt_day_start(day) + 86400;
	redisReply *r;
	uint64_t t;
	size_t i;
	int ready = 1;

	snprintf(key, sizeof(key), "%snodes", s->prefix);
	if ((r = redis_run(s->link, 2, argv, NULL, err)) == NULL)
		return -1;
	if (r->type != REDIS_REPLY_ARRAY || r->elements % 2 != 0) {
		redis_garbage(s->link, r, "HGETALL", err);
		return -1;
	}
	for (i = 0; ready && i < r->elements; i += 2) {
		const redisReply *n = r->element[i];

		/* a name or time that does not read is no node's */
		if (n->type != REDIS_REPLY_STRING || n->len >= sizeof(node) ||
		    number_of(r->element[i + 1], &t) != 0)
			continue;
		memcpy(node, n->str, n->len);
		node[n->len] = '\0';
		if (!word_ok(node) || (int64_t)t < now - TLSRPT_NODE_ACTIVE ||
		    (int64_t)t >= end)
			continue;
		snprintf(who, len, "%s", node);
		ready = 0;
	}
	redis_free(s->link, r);
	return ready;
}

static void
claim_key(struct redis_tlsrpt *s, char *key, const char *day,
    const char *domain, const char *rua)
{
	char hash[16];

	snprintf(hash, sizeof(hash), "%08" PRIx32, crc32_of(rua, strlen(rua)));
	snprintf(key, KEY_MAX, "%sclaim:%s:%s:%s", s->prefix, day, domain, hash);
}

static int
redis_tlsrpt_claim(void *store, const char *day, const char *domain,
    const char *rua, struct mtasts_error *err)
{
	struct redis_tlsrpt *s = store;
	char key[KEY_MAX];

	claim_key(s, key, day, domain, rua);
	return redis_take(s->link, key, CLAIM_MS, err);
}

static void
redis_tlsrpt_release(
    void *store, const char *day, const char *domain, const char *rua)
{
	struct redis_tlsrpt *s = store;
	char key[KEY_MAX];

	claim_key(s, key, day, domain, rua);
	redis_let_go(s->link, key);
}

const struct tlsrpt_backend redis_tlsrpt_backend = {
	.name = "redis",
	.open = redis_tlsrpt_open,
	.close = redis_tlsrpt_close,
	.add = redis_tlsrpt_add,
	.fold = redis_tlsrpt_fold,
	.offset = redis_tlsrpt_offset,
	.day = redis_tlsrpt_day,
	.days = redis_tlsrpt_days,
	.state_of = redis_tlsrpt_state,
	.set_state = redis_tlsrpt_set_state,
	.prune = redis_tlsrpt_prune,
	.claim = redis_tlsrpt_claim,
	.release = redis_tlsrpt_release,
	.folded = redis_tlsrpt_folded,
	.ready = redis_tlsrpt_ready,
};
