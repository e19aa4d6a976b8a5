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
/*
 * The elements of one reply, its arrays' together (a SCAN page holds
 * about 500).  hiredis makes an array as its header announces it, a
 * pointer per element, before any element comes: 0.14's reader has no
 * limit ("*200000000" is 1.5 GB, all walked again to free it), 1.x's
 * limits one array but follows nested ones down without end (each
 * "*4096" a byte apart is 32 KiB).  So the reader's array maker is ours,
 * counting them against this.
 */
#define ELEMENTS_MAX 8192

#if HIREDIS_MAJOR >= 1
typedef size_t announced;
#else
typedef int announced;
#endif

static redisReplyObjectFunctions capped;
static void *(*array_of)(const redisReadTask *, announced);
static pthread_mutex_t capped_lock = PTHREAD_MUTEX_INITIALIZER;
/* of the reply being read; below 0 when it announced too many */
static _Thread_local long long elements_left;

static void *
capped_array(const redisReadTask *task, announced elements)
{
	if ((long long)elements >= elements_left) {
		elements_left = -1;
		return NULL; /* the reader's error: the link is let go of */
	}
	elements_left -= (long long)elements + 1;
	return array_of(task, elements);
}

int
redis_io_setup(redisContext *ctx)
{
	int flags = fcntl(ctx->fd, F_GETFL);
	int rc = 0;

	if (flags < 0 || fcntl(ctx->fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -1;
	/* hiredis then takes EAGAIN for "later", not for an error */
	ctx->flags &= ~REDIS_BLOCK;
	pthread_mutex_lock(&capped_lock);
	if (array_of == NULL) { /* hiredis' own functions, but one */
		capped = *ctx->reader->fn;
		array_of = capped.createArray;
		capped.createArray = capped_array;
	}
	/* every reader starts with the same: never another's unchecked */
	if (ctx->reader->fn->createArray == array_of) {
		ctx->reader->fn = &capped;
	} else {
		errno = EINVAL;
		rc = -1;
	}
	pthread_mutex_unlock(&capped_lock);
	return rc;
}

/* Waits for events on fd until deadline (mono_ms): 1 when they came, 0
 * when the deadline passed, -1 on an error of poll(). */
static int
wait_for(int fd, short events, int64_t deadline)
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
		snprintf(why, len, "reply of more than %d elements",
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
		if ((waited = wait_for(ctx->fd, POLLOUT, deadline)) <= 0 ||
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
		if ((waited = wait_for(ctx->fd, POLLIN, deadline)) <= 0)
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
