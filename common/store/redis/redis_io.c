/*
 * redis_io.c - one command's round trip with the fleet, under one
 * deadline and a cap on what its reply may bring.  hiredis' blocking
 * calls (redisCommandArgv after redisSetTimeout) bound each read() and
 * write() by SO_RCVTIMEO/SO_SNDTIMEO, not the command: a Redis, or
 * anyone on the path, that answers "$100000" and drips a byte within
 * each timeout holds the MTA's process for a day, and one that announces
 * "$2000000000" makes hiredis' reader buffer 2 GB.  So the command is
 * written and its reply read here, on a non-blocking socket, poll() told
 * the time left, and the bytes the reply brings are counted.  Only calls
 * hiredis 0.14 and 1.x both have.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "redis.h"

/*
 * The most one reply may bring: the store's largest answers are a record
 * (RECORD_MAX in redis_cache.c, 128 KiB) and a page of SCAN (500 names
 * of at most 330 bytes, 165 KiB, more when Redis rehashes), with room to
 * spare.  What the reader makes of it is bounded by it too: a reply
 * object per few bytes at most.
 */
#define REPLY_MAX (1024 * 1024)
/* the elements of one reply, its arrays' together: a SCAN page holds
 * about 500 */
#define ELEMENTS_MAX 8192

/*
 * hiredis makes an array's reply as soon as it reads its header, and
 * allocates the elements it is told of: "*400000000" costs 3.2 GB of
 * address space before one element came (0.14's reader has no limit of
 * its own; fuzz_redis_reply found it).  1.x's limits one array, but
 * follows nested ones down without end: 1 MiB of "*4096\r\n" made
 * hiredis 1.2 allocate 4 GB in 36 s, 1 MiB of "*1\r\n" overflowed the
 * stack of freeReplyObject.  So a reader's functions are hiredis' own
 * but for arrays (maps, sets and pushes in 1.x), which count what they
 * announce against ELEMENTS_MAX for the reply (one command's replies):
 * past it they are refused, the reader fails (hiredis says "Out of
 * memory"; we say why), and the link with it.
 */
#if HIREDIS_MAJOR >= 1
typedef size_t elements_t;
#else
typedef int elements_t;
#endif

static redisReplyObjectFunctions limited;
static void *(*hiredis_array)(const redisReadTask *, elements_t);
static pthread_mutex_t limited_lock = PTHREAD_MUTEX_INITIALIZER;
/* what this thread's reader may still make; -1 once it refused */
static __thread long long elements_left;

static void *
limited_array(const redisReadTask *task, elements_t elements)
{
	if ((long long)elements >= elements_left) {
		elements_left = -1;
		return NULL;
	}
	elements_left -= (long long)elements + 1;
	return hiredis_array(task, elements);
}

void
redis_io_limit(redisReader *reader)
{
	/* a new reader has hiredis' one table of functions: copied once */
	pthread_mutex_lock(&limited_lock);
	if (hiredis_array == NULL) {
		limited = *reader->fn;
		hiredis_array = limited.createArray;
		limited.createArray = limited_array;
	}
	pthread_mutex_unlock(&limited_lock);
	reader->fn = &limited;
	elements_left = ELEMENTS_MAX;
#if HIREDIS_MAJOR >= 1
	reader->maxelements = ELEMENTS_MAX;
#endif
}

int
redis_io_setup(redisContext *ctx)
{
	int flags = fcntl(ctx->fd, F_GETFL);

	if (flags < 0 || fcntl(ctx->fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -1;
	/* hiredis then takes EAGAIN for "later", not for an error */
	ctx->flags &= ~REDIS_BLOCK;
	redis_io_limit(ctx->reader);
	return 0;
}

int
redis_io_wait(int fd, short events, int64_t deadline)
{
	struct pollfd p = {.fd = fd, .events = events};
	int64_t left;
	int n;

	for (;;) {
		if ((left = deadline - mono_ms()) <= 0)
			return 0;
		n = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (n >= 0 || errno != EINTR)
			return n;
	}
}

/* What went wrong, into why: hiredis' words when it has them. */
static redisReply *
fail(redisContext *ctx, int waited, long timeout_ms, char *why, size_t len)
{
	if (waited == 0)
		snprintf(why, len, "no answer within %ld ms", timeout_ms);
	else if (waited < 0)
		snprintf(why, len, "poll: %s", strerror(errno));
	else if (elements_left < 0)
		snprintf(why, len, "a reply of more than %d elements",
		    ELEMENTS_MAX);
	else
		snprintf(why, len, "%s",
		    ctx->errstr[0] != '\0' ? ctx->errstr : "lost");
	return NULL;
}

redisReply *
redis_io_command(const struct hiredis_api *api, redisContext *ctx, int argc,
    const char **argv, const size_t *argvlen, long timeout_ms, char *why,
    size_t whylen)
{
	int64_t deadline = mono_ms() + timeout_ms;
	size_t got = 0, before;
	void *reply;
	int done = 0, waited = 1;

	elements_left = ELEMENTS_MAX;
	if (api->append_argv(ctx, argc, argv, argvlen) != REDIS_OK)
		return fail(ctx, 1, timeout_ms, why, whylen);
	while (!done)
		if ((waited = redis_io_wait(ctx->fd, POLLOUT, deadline)) <= 0 ||
		    api->buffer_write(ctx, &done) != REDIS_OK)
			return fail(ctx, waited, timeout_ms, why, whylen);
	for (;;) {
		if (api->get_reply(ctx, &reply) != REDIS_OK)
			return fail(ctx, 1, timeout_ms, why, whylen);
#ifdef REDIS_REPLY_PUSH
		/* RESP3's news (1.x reads them): passed over, as hiredis
		 * does, their bytes counted with the reply's */
		if (reply != NULL &&
		    ((redisReply *)reply)->type == REDIS_REPLY_PUSH) {
			api->free_reply(reply);
			continue;
		}
#endif
		if (reply != NULL)
			return reply;
		if ((waited = redis_io_wait(ctx->fd, POLLIN, deadline)) <= 0)
			return fail(ctx, waited, timeout_ms, why, whylen);
		/* the reader keeps what it is fed until get_reply */
		before = ctx->reader->len;
		if (api->buffer_read(ctx) != REDIS_OK)
			return fail(ctx, 1, timeout_ms, why, whylen);
		got += ctx->reader->len - before;
		if (got > REPLY_MAX) {
			snprintf(why, whylen, "reply larger than %d bytes",
			    REPLY_MAX);
			return NULL;
		}
	}
}
