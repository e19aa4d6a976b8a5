/*
 * redis_reply.c - what the fleet makes of a reply, apart from the link
 * it came on: checks of its type, sizes and contents, for the
 * store's (redis_cache.c) and Sentinel's (redis_link.c) replies, and for
 * fuzz_redis_reply, which feeds them what hiredis' reader makes of any
 * bytes.  A reply is hostile input: nothing is taken from it unchecked.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis.h"

/* The decimal int64 a reply holds, or INT64_MIN when it holds none. */
static int64_t
number_of(const redisReply *r)
{
	char buf[24], *end;
	long long n;

	if (r->type != REDIS_REPLY_STRING || r->len == 0 ||
	    r->len >= sizeof(buf))
		return INT64_MIN;
	memcpy(buf, r->str, r->len);
	buf[r->len] = '\0';
	n = strtoll(buf, &end, 10);
	return *end == '\0' ? (int64_t)n : INT64_MIN;
}

int
redis_reply_entry(const redisReply *r, struct cache_entry *e)
{
	const redisReply *record;
	int64_t checked, expires;
	size_t i, nils = 0;

	memset(e, 0, sizeof(*e));
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 3)
		return REDIS_CHECK_GARBAGE;
	for (i = 0; i < 3; i++)
		nils += r->element[i]->type == REDIS_REPLY_NIL;
	if (nils == 3)
		return REDIS_CHECK_NONE;
	record = r->element[0];
	checked = number_of(r->element[1]);
	expires = number_of(r->element[2]);
	if (record->type != REDIS_REPLY_STRING ||
	    record->len > REDIS_RECORD_MAX || checked == INT64_MIN ||
	    expires == INT64_MIN)
		return REDIS_CHECK_DAMAGED;
	if (record_decode((const unsigned char *)record->str, record->len, e) !=
	    0) {
		cache_entry_clear(e);
		return REDIS_CHECK_DAMAGED;
	}
	/* what the put script judges by is what the record says */
	if (e->checked != checked ||
	    (e->policy != NULL ? e->policy->expires : 0) != expires) {
		cache_entry_clear(e);
		return REDIS_CHECK_DAMAGED;
	}
	return REDIS_CHECK_OK;
}

const redisReply *
redis_reply_scan(const redisReply *r, char *cursor, size_t len)
{
	const redisReply *c;

	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    (c = r->element[0])->type != REDIS_REPLY_STRING || c->len == 0 ||
	    c->len >= len || strspn(c->str, "0123456789") < c->len ||
	    r->element[1]->type != REDIS_REPLY_ARRAY)
		return NULL;
	memcpy(cursor, c->str, c->len);
	cursor[c->len] = '\0';
	return r->element[1];
}

/* A reply's string as a C string of at most len - 1 bytes, with no NUL
 * inside: 0, or -1. */
static int
text_of(const redisReply *r, char *buf, size_t len)
{
	if (r->type != REDIS_REPLY_STRING || r->len >= len ||
	    memchr(r->str, '\0', r->len) != NULL)
		return -1;
	memcpy(buf, r->str, r->len);
	buf[r->len] = '\0';
	return 0;
}

int
redis_reply_master(
    const redisReply *r, char *host, int *port, char *why, size_t whylen)
{
	unsigned char address[sizeof(struct in6_addr)];
	char digits[8], *end;
	long n;

	if (r->type == REDIS_REPLY_NIL)
		return REDIS_CHECK_NONE;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
		snprintf(why, whylen, "not an address and a port (type %d)",
		    r->type);
		return REDIS_CHECK_GARBAGE;
	}
	/* a numeric address: a name would be looked up by hiredis, outside
	 * any deadline, and would let whoever answers for it choose */
	if (text_of(r->element[0], host, REDIS_HOST_MAX) != 0 ||
	    (inet_pton(AF_INET, host, address) != 1 &&
	        inet_pton(AF_INET6, host, address) != 1)) {
		snprintf(why, whylen,
		    "the master's address is not a numeric "
		    "IPv4 or IPv6 address");
		return REDIS_CHECK_GARBAGE;
	}
	if (text_of(r->element[1], digits, sizeof(digits)) != 0 ||
	    digits[0] < '1' || digits[0] > '9' ||
	    (n = strtol(digits, &end, 10)) > 65535 || *end != '\0') {
		snprintf(why, whylen, "the master's port is not a port");
		return REDIS_CHECK_GARBAGE;
	}
	*port = (int)n;
	return REDIS_CHECK_OK;
}

int
redis_reply_role(const redisReply *r)
{
	const redisReply *role;

	if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
	    (role = r->element[0])->type != REDIS_REPLY_STRING)
		return REDIS_CHECK_GARBAGE;
	return role->len == 6 && memcmp(role->str, "master", 6) == 0
	    ? REDIS_CHECK_OK
	    : REDIS_CHECK_NONE;
}
