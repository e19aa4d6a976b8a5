/*
 * redis_load.h - libhiredis, loaded when the fleet is first asked rather
 * than with libmtasts: a process without `fleet` (every Exim delivery of a
 * host alone) never maps it, and one whose local cache answers never
 * does either.  Only calls Debian 12's hiredis 0.14 and Debian 13's 1.2
 * both have (internal to store/redis/).
 */
#ifndef MTASTS_REDIS_LOAD_H
#define MTASTS_REDIS_LOAD_H

#include <hiredis/hiredis.h>

#include "mtasts_core.h"

struct hiredis_api {
	redisContext *(*connect)(
	    const char *ip, int port, const struct timeval tv);
	redisContext *(*connect_unix)(
	    const char *path, const struct timeval tv);
	/* one command's round trip, driven by redis_io.c */
	int (*append_argv)(redisContext *c, int argc, const char **argv,
	    const size_t *argvlen);
	int (*buffer_write)(redisContext *c, int *done);
	int (*buffer_read)(redisContext *c);
	int (*get_reply)(redisContext *c, void **reply);
	void (*free_reply)(void *reply);
	void (*free)(redisContext *c);
	/* a reader of one's own, as a connection's: fuzz_redis_reply */
	redisReader *(*reader_create)(void);
	int (*reader_feed)(redisReader *r, const char *buf, size_t len);
	int (*reader_get_reply)(redisReader *r, void **reply);
	void (*reader_free)(redisReader *r);
};

/*
 * hiredis' functions, loaded at the first call of the process: the
 * library of the soname libmtasts was built with (MTASTS_HIREDIS; its
 * structures are read through this build's header).  NULL with err set
 * (MTASTS_ERR_CACHE: the fleet cannot be asked) when it cannot be
 * loaded.
 */
const struct hiredis_api *hiredis_api(struct mtasts_error *err);

/*
 * rediss://: libhiredis_ssl's redisInitiateSSL, which hands a connection
 * an SSL object (its handshake done) for hiredis to read and write
 * through, loaded at the first call as libhiredis is.  NULL with err set
 * when it cannot be loaded.  Only in a build whose hiredis has TLS
 * (MTASTS_HIREDIS_SSL: Debian 13's 1.2).
 */
struct ssl_st;
typedef int (*hiredis_initiate_ssl)(redisContext *c, struct ssl_st *ssl);
hiredis_initiate_ssl hiredis_ssl_api(struct mtasts_error *err);

#endif
