/*
 * redis_link.c - the connection to the fleet's Redis: made at the first
 * command, with the password of fleet_password_file (read then, never
 * kept, never said), remade in a child after fork, and given up for a
 * while after a failure, so that a fleet in trouble costs a delivery one
 * fleet_timeout at most, never one per command.  With Redis Sentinel the
 * master is the one the sentinels name at each connection, checked with
 * ROLE (the next sentinel's master when it fails); the whole connection
 * takes 3 fleet_timeout at most.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "error.h"
#include "redis.h"

/* after a failure, commands fail at once for this long */
#define RETRY_MS 30000
/* ... or this long, with Sentinel, after a failure of the master the
 * sentinels named: during a failover the next connection asks them again
 * soon, to find the new master (doc/design.md) */
#define FAILOVER_RETRY_MS 5000
/* with Sentinel, the whole connection, in fleet_timeouts: the sentinels
 * asked in turn, the masters they name connected to, AUTH, SELECT and
 * ROLE, each step under one fleet_timeout at most */
#define SENTINEL_CONNECT_STEPS 3
#define PASSWORD_MAX 1024

/* An address for messages: an IPv6 one in brackets. */
static void
host_port(char *buf, size_t len, const char *host, int port)
{
	snprintf(buf, len, strchr(host, ':') != NULL ? "[%s]:%d" : "%s:%d",
	    host, port);
}

/* Where the fleet is, for messages (never with a password). */
static const char *
where(const struct redis_store *s, char *buf, size_t len)
{
	const struct mtasts_config *cfg = s->cfg;
	char at[280];

	if (cfg->fleet == FLEET_UNIX) {
		snprintf(buf, len, "redis+unix://%s", cfg->fleet_socket);
	} else if (cfg->fleet == FLEET_SENTINEL) {
		host_port(at, sizeof(at), s->master_host, s->master_port);
		snprintf(buf, len, "redis-sentinel master %s%s%s",
		    cfg->fleet_master, s->master_host[0] != '\0' ? " at " : "",
		    s->master_host[0] != '\0' ? at : "");
	} else {
		host_port(at, sizeof(at), cfg->fleet_host, cfg->fleet_port);
		snprintf(buf, len, "%s://%s", cfg->fleet_tls ? "rediss" : "redis",
		    at);
	}
	return buf;
}

void
redis_close(struct redis_store *s)
{
	if (s->ctx != NULL)
		s->api->free(s->ctx);
	s->ctx = NULL;
}

/* Fails the link with "fleet URL: what", and keeps the failure for the
 * commands of the next retry ms. */
static void
failed_for(struct redis_store *s, struct mtasts_error *err, const char *what,
    int retry)
{
	char url[400], again[64] = "the sentinels asked at the next command";

	redis_close(s);
	if (retry > 0)
		snprintf(again, sizeof(again), "not asked again for %d s",
		    retry / 1000);
	mtasts_error_set(err, MTASTS_ERR_CACHE, "fleet %s: %s (%s)",
	    where(s, url, sizeof(url)), what, again);
	s->down = *err;
	s->down_until = mono_ms() + retry;
}

/* RETRY_MS, or FAILOVER_RETRY_MS when the sentinels answered: the
 * master they named failed. */
static void
failed(struct redis_store *s, struct mtasts_error *err, const char *what)
{
	failed_for(s, err, what,
	    s->cfg->fleet == FLEET_SENTINEL && s->master_host[0] != '\0'
	        ? FAILOVER_RETRY_MS
	        : RETRY_MS);
}

/* The time one step may take: fleet_timeout, and while connecting no
 * more than the connection has left. */
static long
step_ms(const struct redis_store *s)
{
	long ms = s->cfg->fleet_timeout_ms;
	int64_t left = s->connect_end - mono_ms();

	if (s->connect_end != 0 && left < ms)
		ms = left > 1 ? (long)left : 1;
	return ms;
}

/* For connecting: a host name is resolved before, outside it (hiredis'
 * getaddrinfo); a numeric address is not looked up. */
static struct timeval
deadline(const struct redis_store *s)
{
	long ms = step_ms(s);

	return (struct timeval){ms / 1000, (ms % 1000) * 1000};
}

/* One command on the link, under its own fleet_timeout (redis_io.c):
 * the reply, or NULL with the link failed. */
static redisReply *
command(struct redis_store *s, int argc, const char **argv, const size_t *len,
    struct mtasts_error *err)
{
	char why[200], what[300];
	redisReply *reply = redis_io_command(
	    s->api, s->ctx, argc, argv, len, step_ms(s), why, sizeof(why));

	if (reply == NULL) {
		/* timeout, reset, too much, or bytes that are no reply
		 * (hiredis' protocol error): the connection is lost */
		snprintf(what, sizeof(what), "%s: %s", argv[0], why);
		failed(s, err, what);
	}
	return reply;
}

/* A reply's text, cut and made printable: Redis's words are hostile. */
static const char *
said(const redisReply *reply, char *buf, size_t len)
{
	return mtasts_quote(buf, len, reply->str != NULL ? reply->str : "",
	    reply->str != NULL && reply->len < 120 ? reply->len : 120);
}

/* The password file's "USER PASSWORD" or "PASSWORD" (the file of
 * setting, at path), in buf: the number of words (1 or 2) with *user
 * and *password in buf, or -1 with why said and buf wiped. */
static int
read_password(const char *setting, const char *path, char *buf, size_t size,
    char **user, char **password, char *why, size_t whylen)
{
	/* O_NONBLOCK: a FIFO put there never holds the delivery */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, size);
	char *space;

	if (fd >= 0)
		close(fd);
	if (n < 0 || (size_t)n >= size) {
		snprintf(why, whylen, "%s %s: %s", setting, path,
		    n < 0 ? strerror(errno) : "too long");
		explicit_bzero(buf, size);
		return -1;
	}
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	*user = NULL;
	*password = buf;
	if ((space = strchr(buf, ' ')) != NULL) {
		*space = '\0';
		*user = buf;
		*password = space + 1 + strspn(space + 1, " ");
	}
	if (**password == '\0' || (*user != NULL && **user == '\0')) {
		snprintf(
		    why, whylen, "%s %s: no password in it", setting, path);
		explicit_bzero(buf, size);
		return -1;
	}
	return *user != NULL ? 2 : 1;
}

/* AUTH's arguments from a password file: argc, or -1 with why said. */
static int
auth_argv(const char *setting, const char *path, char *buf, size_t size,
    const char *argv[3], char *why, size_t whylen)
{
	char *user, *password;
	int words = read_password(
	    setting, path, buf, size, &user, &password, why, whylen);

	if (words < 0)
		return -1;
	argv[0] = "AUTH";
	argv[1] = words == 2 ? user : password;
	argv[2] = password;
	return 1 + words;
}

/* Why a command of setup was refused: a status is taken; of an error
 * only its first word is said (nothing of what was sent). */
static bool
refusal(const redisReply *reply, char *text, size_t len)
{
	size_t n;

	if (reply->type == REDIS_REPLY_STATUS)
		return false;
	if (reply->type == REDIS_REPLY_ERROR && reply->str != NULL) {
		n = strcspn(reply->str, " ");
		if (n > reply->len)
			n = reply->len;
		mtasts_quote(text, len, reply->str, n < 40 ? n : 40);
	} else {
		snprintf(text, len, "not a status");
	}
	return true;
}

/* A command of the connection's own: AUTH, SELECT. */
static int
setup(struct redis_store *s, int argc, const char **argv, const char *refused,
    struct mtasts_error *err)
{
	redisReply *reply = command(s, argc, argv, NULL, err);
	char what[400], text[200];
	bool no;

	if (reply == NULL)
		return -1;
	no = refusal(reply, text, sizeof(text));
	s->api->free_reply(reply);
	if (no) {
		snprintf(what, sizeof(what), "%s (%s)", refused, text);
		failed(s, err, what);
		return -1;
	}
	return 0;
}

static int
authenticate(struct redis_store *s, struct mtasts_error *err)
{
	char buf[PASSWORD_MAX], why[600];
	const char *argv[3];
	int argc, rc;

	if (s->cfg->fleet_password_file == NULL)
		return 0;
	if ((argc = auth_argv("fleet_password_file",
	         s->cfg->fleet_password_file, buf, sizeof(buf), argv, why,
	         sizeof(why))) < 0) {
		failed(s, err, why);
		return -1;
	}
	rc = setup(s, argc, argv,
	    "redis refused the password of fleet_password_file", err);
	explicit_bzero(buf, sizeof(buf));
	return rc;
}

/* AUTH with fleet_sentinel_password_file, on a sentinel's connection c:
 * 0, or -1 with why said. */
static int
sentinel_auth(struct redis_store *s, redisContext *c, char *why, size_t whylen)
{
	const char *path = s->cfg->fleet_sentinel_password_file;
	char buf[PASSWORD_MAX], text[120];
	const char *argv[3];
	redisReply *r;
	int argc;
	bool no;

	if (path == NULL)
		return 0;
	if ((argc = auth_argv("fleet_sentinel_password_file", path, buf,
	         sizeof(buf), argv, why, whylen)) < 0)
		return -1;
	r = redis_io_command(
	    s->api, c, argc, argv, NULL, step_ms(s), text, sizeof(text));
	explicit_bzero(buf, sizeof(buf));
	if (r == NULL) {
		snprintf(why, whylen, "AUTH: %s", text);
		return -1;
	}
	no = refusal(r, text, sizeof(text));
	s->api->free_reply(r);
	if (no)
		snprintf(why, whylen,
		    "the sentinel refused the password of "
		    "fleet_sentinel_password_file (%s)",
		    text);
	return no ? -1 : 0;
}

/*
 * Asks sentinel i where the master is, with the password of
 * fleet_sentinel_password_file or none (Debian's sentinel has none;
 * doc/design.md): REDIS_CHECK_OK with the master's
 * numeric address and port in s, or another with why said.  Its answer
 * is hostile input as any Redis's.
 */
static int
ask_sentinel(struct redis_store *s, size_t i, char *why, size_t len)
{
	const struct mtasts_config *cfg = s->cfg;
	const char *argv[] = {
	    "SENTINEL", "get-master-addr-by-name", cfg->fleet_master};
	char host[REDIS_HOST_MAX], text[160];
	redisContext *c = s->api->connect(cfg->fleet_sentinel_host[i],
	    cfg->fleet_sentinel_port[i], deadline(s));
	redisReply *r = NULL;
	int port, rc = REDIS_CHECK_GARBAGE;

	if (c == NULL || c->err != 0)
		snprintf(why, len, "cannot connect: %s",
		    c != NULL ? c->errstr : "out of memory");
	else if (redis_io_setup(c) != 0)
		snprintf(
		    why, len, "cannot set up the socket: %s", strerror(errno));
	else if (sentinel_auth(s, c, why, len) != 0)
		; /* said */
	else if ((r = redis_io_command(s->api, c, 3, argv, NULL, step_ms(s),
	              text, sizeof(text))) == NULL)
		snprintf(why, len, "SENTINEL: %s", text);
	else if (r->type == REDIS_REPLY_ERROR)
		snprintf(why, len, "SENTINEL: the sentinel answered %s",
		    said(r, text, sizeof(text)));
	else if ((rc = redis_reply_master(
	              r, host, &port, text, sizeof(text))) == REDIS_CHECK_NONE)
		snprintf(
		    why, len, "knows no master named %s", cfg->fleet_master);
	else if (rc != REDIS_CHECK_OK)
		snprintf(why, len, "SENTINEL: %s", text);
	if (rc == REDIS_CHECK_OK) {
		memcpy(s->master_host, host, sizeof(host));
		s->master_port = port;
	}
	if (r != NULL)
		s->api->free_reply(r);
	if (c != NULL)
		s->api->free(c);
	return rc;
}

/* Appends to the text in buf. */
static void __attribute__((format(printf, 3, 4)))
append(char *buf, size_t size, const char *fmt, ...)
{
	size_t n = strlen(buf);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf + n, size - n, fmt, ap);
	va_end(ap);
}

/* The master, from the first sentinel from *next on that names one: 0
 * with *next the sentinel after it, or -1 with the link failed and what
 * each sentinel asked said. */
static int
find_master(struct redis_store *s, size_t *next, struct mtasts_error *err)
{
	const struct mtasts_config *cfg = s->cfg;
	char why[200], at[280], all[512] = "no sentinel named the master:";
	size_t i;

	s->master_host[0] = '\0';
	for (i = *next; i < cfg->fleet_sentinels; i++) {
		if (i > 0 && mono_ms() >= s->connect_end) {
			append(all, sizeof(all),
			    "; no time left for the %zu others",
			    cfg->fleet_sentinels - i);
			break;
		}
		if (ask_sentinel(s, i, why, sizeof(why)) == REDIS_CHECK_OK) {
			*next = i + 1;
			return 0;
		}
		host_port(at, sizeof(at), cfg->fleet_sentinel_host[i],
		    cfg->fleet_sentinel_port[i]);
		append(all, sizeof(all), "%s %s: %s", i > *next ? ";" : "", at,
		    why);
	}
	failed(s, err, all);
	return -1;
}

/* The master the sentinels named must be one: a master just demoted,
 * or one they have not heard of yet, is a replica now (ROLE). */
static int
check_role(struct redis_store *s, struct mtasts_error *err)
{
	const char *argv[] = {"ROLE"};
	redisReply *r = command(s, 1, argv, NULL, err);
	char what[300], text[200];
	int rc;

	if (r == NULL)
		return -1;
	rc = r->type == REDIS_REPLY_ERROR ? REDIS_CHECK_GARBAGE
	                                  : redis_reply_role(r);
	if (r->type == REDIS_REPLY_ERROR)
		snprintf(what, sizeof(what), "ROLE: redis answered %s",
		    said(r, text, sizeof(text)));
	else if (rc == REDIS_CHECK_NONE)
		snprintf(what, sizeof(what),
		    "not a master (ROLE): a failover is under way");
	else
		snprintf(what, sizeof(what),
		    "ROLE: not a reply of the expected form (type %d)",
		    r->type);
	s->api->free_reply(r);
	if (rc != REDIS_CHECK_OK) {
		failed(s, err, what);
		return -1;
	}
	return 0;
}

/* The connection's steps, each under step_ms(), to the fleet's Redis or
 * (sentinel) to the master the sentinels named. */
static int
open_master(struct redis_store *s, bool sentinel, struct mtasts_error *err)
{
	const struct mtasts_config *cfg = s->cfg;
	char db[16], what[300];
	const char *select[2] = {"SELECT", db};

	s->ctx = cfg->fleet == FLEET_UNIX
	    ? s->api->connect_unix(cfg->fleet_socket, deadline(s))
	    : s->api->connect(sentinel ? s->master_host : cfg->fleet_host,
	          sentinel ? s->master_port : cfg->fleet_port, deadline(s));
	if (s->ctx == NULL || s->ctx->err != 0) {
		snprintf(what, sizeof(what), "cannot connect: %s",
		    s->ctx != NULL ? s->ctx->errstr : "out of memory");
		failed(s, err, what);
		return -1;
	}
	s->pid = getpid();
	if (redis_io_setup(s->ctx) != 0) {
		snprintf(what, sizeof(what), "cannot set up the socket: %s",
		    strerror(errno));
		failed(s, err, what);
		return -1;
	}
	/* rediss://: before anything is sent (the password first) */
	if (cfg->fleet_tls && redis_tls_start(s, cfg->fleet_host, step_ms(s),
	                          what, sizeof(what)) != 0) {
		failed(s, err, what);
		return -1;
	}
	if (authenticate(s, err) != 0)
		return -1;
	snprintf(db, sizeof(db), "%d", cfg->fleet_db);
	if (cfg->fleet_db != 0 &&
	    setup(s, 2, select, "redis refused SELECT", err) != 0)
		return -1;
	return sentinel ? check_role(s, err) : 0;
}

/*
 * Through Sentinel: the master the first sentinel names, or when it
 * fails (down, not a master) the one the next sentinel names - during a
 * failover a sentinel that has not heard of it yet still names the old
 * master.  The failure said is the last master's, kept FAILOVER_RETRY_MS.
 */
static int
open_through_sentinels(struct redis_store *s, struct mtasts_error *err)
{
	const struct mtasts_config *cfg = s->cfg;
	struct mtasts_error last;
	char failed_host[REDIS_HOST_MAX] = "";
	int failed_port = 0;
	size_t next = 0;
	bool tried = false;

	s->connect_end =
	    mono_ms() + SENTINEL_CONNECT_STEPS * cfg->fleet_timeout_ms;
	while (next < cfg->fleet_sentinels && find_master(s, &next, err) == 0) {
		/* a master that failed is not tried twice */
		if (tried && s->master_port == failed_port &&
		    strcmp(s->master_host, failed_host) == 0)
			continue;
		if (open_master(s, true, err) == 0)
			return 0;
		last = *err;
		tried = true;
		memcpy(failed_host, s->master_host, sizeof(failed_host));
		failed_port = s->master_port;
		if (mono_ms() >= s->connect_end)
			break;
	}
	if (tried) {
		*err = s->down = last;
		s->down_until = mono_ms() + FAILOVER_RETRY_MS;
	}
	return -1;
}

static int
open_link(struct redis_store *s, struct mtasts_error *err)
{
	return s->cfg->fleet == FLEET_SENTINEL ? open_through_sentinels(s, err)
	                                       : open_master(s, false, err);
}

static int
connect_link(struct redis_store *s, struct mtasts_error *err)
{
	int rc;

	if (s->ctx != NULL && s->pid == getpid())
		return 0;
	/* a child's copy of its parent's connection is its parent's */
	redis_close(s);
	if (mono_ms() < s->down_until) {
		*err = s->down;
		return -1;
	}
	if (s->api == NULL && (s->api = hiredis_api(err)) == NULL) {
		s->down = *err;
		s->down_until = mono_ms() + RETRY_MS;
		return -1;
	}
	rc = open_link(s, err);
	s->connect_end = 0;
	return rc;
}

/*
 * hiredis writes with write() or send(): a Redis that went away would raise
 * SIGPIPE, which ends an MTA's process unless it ignores the signal.
 * Blocked around each command, and one raised then is taken back (as
 * libcurl does), unless it was pending before.
 */
struct quiet_pipe {
	sigset_t old;
	bool pending;
};

static void
pipe_quiet(struct quiet_pipe *q)
{
	sigset_t set, pending;

	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	sigpending(&pending);
	q->pending = sigismember(&pending, SIGPIPE) == 1;
	pthread_sigmask(SIG_BLOCK, &set, &q->old);
}

static void
pipe_restore(struct quiet_pipe *q)
{
	const struct timespec none = {0, 0};
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	if (!q->pending)
		while (sigtimedwait(&set, NULL, &none) == SIGPIPE)
			;
	pthread_sigmask(SIG_SETMASK, &q->old, NULL);
}

static redisReply *
run(struct redis_store *s, int argc, const char **argv, const size_t *len,
    struct mtasts_error *err)
{
	redisReply *reply;
	char what[300], text[200];

	if (connect_link(s, err) != 0)
		return NULL;
	if ((reply = command(s, argc, argv, len, err)) == NULL)
		return NULL;
	if (reply->type == REDIS_REPLY_ERROR) {
		said(reply, text, sizeof(text));
		s->api->free_reply(reply);
		snprintf(
		    what, sizeof(what), "%s: redis answered %s", argv[0], text);
		/* a refusal of every command: not asked again for a while;
		 * another (a key of another type, maxmemory) is this one's */
		if (strncmp(text, "NOAUTH", 6) == 0 ||
		    strncmp(text, "LOADING", 7) == 0) {
			failed(s, err, what);
		} else if (s->cfg->fleet == FLEET_SENTINEL &&
		    strncmp(text, "READONLY", 8) == 0) {
			/* a master demoted under us: the sentinels name the
			 * new one at once, and ROLE keeps this one out */
			failed_for(s, err, what, 0);
		} else {
			char url[400];

			mtasts_error_set(err, MTASTS_ERR_CACHE, "fleet %s: %s",
			    where(s, url, sizeof(url)), what);
		}
		return NULL;
	}
	return reply;
}

redisReply *
redis_run(struct redis_store *s, int argc, const char **argv, const size_t *len,
    struct mtasts_error *err)
{
	struct quiet_pipe q;
	redisReply *reply;

	pipe_quiet(&q);
	reply = run(s, argc, argv, len, err);
	pipe_restore(&q);
	return reply;
}

void
redis_free(struct redis_store *s, redisReply *reply)
{
	if (reply != NULL)
		s->api->free_reply(reply);
}

void
redis_garbage(struct redis_store *s, redisReply *reply, const char *what,
    struct mtasts_error *err)
{
	char why[300];

	snprintf(why, sizeof(why),
	    "%s: not a reply of the expected form "
	    "(type %d)",
	    what, reply->type);
	redis_free(s, reply);
	failed(s, err, why);
}
