/*
 * fuzz_redis_reply.c - what the fleet reads from Redis and from Redis
 * Sentinel (common/store/redis/): the bytes go through hiredis' reader,
 * as loaded for the fleet (redis_load.c) and limited as a connection's
 * is (redis_io_limit), and every reply it makes is checked as each of
 * the fleet's commands checks its own (redis_reply.c): a policy's hash
 * (HMGET, the record decoded), a page of SCAN, the master's address
 * from a sentinel, ROLE.  Any bytes: a reply refused or taken, never
 * read past; what is taken holds what the checks promise.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "redis.h"

const char *const fuzz_words[] = {"*3\r\n", "*2\r\n", "$-1\r\n", "\r\n",
    "$9\r\n127.0.0.1\r\n", "$4\r\n6379\r\n", "$6\r\nmaster\r\n",
    "$5\r\nslave\r\n", ":0\r\n", "-ERR x\r\n", "+OK\r\n", "MS\x03", NULL};

static void
check(const redisReply *r)
{
	struct cache_entry e;
	char cursor[24], host[REDIS_HOST_MAX], why[200];
	unsigned char address[sizeof(struct in6_addr)];
	const redisReply *keys;
	int port = 0;

	if (redis_reply_entry(r, &e) == REDIS_CHECK_OK) {
		/* the numbers the put script judges by are the record's */
		fuzz_assert(r->element[1]->type == REDIS_REPLY_STRING &&
		    strtoll(r->element[1]->str, NULL, 10) == e.checked);
		fuzz_assert(r->element[2]->type == REDIS_REPLY_STRING &&
		    strtoll(r->element[2]->str, NULL, 10) ==
		        (e.policy != NULL ? e.policy->expires : 0));
		cache_entry_clear(&e);
	}
	if ((keys = redis_reply_scan(r, cursor, sizeof(cursor))) != NULL)
		fuzz_assert(keys->type == REDIS_REPLY_ARRAY &&
		    strspn(cursor, "0123456789") == strlen(cursor));
	if (redis_reply_master(r, host, &port, why, sizeof(why)) ==
	    REDIS_CHECK_OK)
		fuzz_assert(port >= 1 && port <= 65535 &&
		    (inet_pton(AF_INET, host, address) == 1 ||
		        inet_pton(AF_INET6, host, address) == 1));
	(void)redis_reply_role(r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mtasts_error err;
	const struct hiredis_api *api = hiredis_api(&err);
	redisReader *reader;
	void *reply;

	fuzz_assert(api != NULL);
	if ((reader = api->reader_create()) == NULL)
		return 0;
	redis_io_limit(reader);
	/* replies one after another, as on a connection, until the bytes
	 * end or are no reply */
	if (api->reader_feed(reader, (const char *)data, size) == REDIS_OK)
		while (api->reader_get_reply(reader, &reply) == REDIS_OK &&
		    reply != NULL) {
			check(reply);
			api->free_reply(reply);
		}
	api->reader_free(reader);
	return 0;
}
