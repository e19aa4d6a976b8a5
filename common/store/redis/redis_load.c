/*
 * redis_load.c - loads libhiredis on first use (see redis_load.h), as
 * net/curl_load.c loads libcurl; it stays loaded for the life of the
 * process.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "dl_load.h"
#include "error.h"
#include "redis_load.h"
#include "redis_soname.h"

static struct hiredis_api api;
static char load_error[256];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void
load(void)
{
	const struct dl_symbol symbols[] = {
	    DL_SYMBOL(api.connect, "redisConnectWithTimeout"),
	    DL_SYMBOL(api.connect_unix, "redisConnectUnixWithTimeout"),
	    DL_SYMBOL(api.append_argv, "redisAppendCommandArgv"),
	    DL_SYMBOL(api.buffer_write, "redisBufferWrite"),
	    DL_SYMBOL(api.buffer_read, "redisBufferRead"),
	    DL_SYMBOL(api.get_reply, "redisGetReplyFromReader"),
	    DL_SYMBOL(api.free_reply, "freeReplyObject"),
	    DL_SYMBOL(api.free, "redisFree"),
	    DL_SYMBOL(api.reader_create, "redisReaderCreate"),
	    DL_SYMBOL(api.reader_feed, "redisReaderFeed"),
	    DL_SYMBOL(api.reader_get_reply, "redisReaderGetReply"),
	    DL_SYMBOL(api.reader_free, "redisReaderFree"),
	};

	dl_load(MTASTS_HIREDIS, symbols, sizeof(symbols) / sizeof(symbols[0]),
	    load_error, sizeof(load_error));
}

const struct hiredis_api *
hiredis_api(struct mtasts_error *err)
{
	pthread_once(&once, load);
	if (api.free == NULL) {
		mtasts_error_set(err, MTASTS_ERR_CACHE,
		    "fleet: libhiredis cannot be loaded: %s", load_error);
		return NULL;
	}
	return &api;
}

#ifdef MTASTS_HIREDIS_SSL
static hiredis_initiate_ssl initiate_ssl;
static char ssl_load_error[256];
static pthread_once_t ssl_once = PTHREAD_ONCE_INIT;

static void
load_ssl(void)
{
	const struct dl_symbol symbols[] = {
	    DL_SYMBOL(initiate_ssl, "redisInitiateSSL"),
	};

	/* Debian's libhiredis_ssl does not name libhiredis as needed: it
	 * finds hiredis' functions in the global scope only, where the
	 * libhiredis loaded (locally) above is then put */
	if (dlopen(MTASTS_HIREDIS, RTLD_NOW | RTLD_NOLOAD | RTLD_GLOBAL) ==
	    NULL) {
		snprintf(ssl_load_error, sizeof(ssl_load_error),
		    "%s is not loaded", MTASTS_HIREDIS);
		return;
	}
	dl_load(MTASTS_HIREDIS_SSL, symbols, 1, ssl_load_error,
	    sizeof(ssl_load_error));
}

hiredis_initiate_ssl
hiredis_ssl_api(struct mtasts_error *err)
{
	pthread_once(&ssl_once, load_ssl);
	if (initiate_ssl == NULL)
		mtasts_error_set(err, MTASTS_ERR_CACHE,
		    "fleet: libhiredis_ssl cannot be loaded: %s",
		    ssl_load_error);
	return initiate_ssl;
}
#endif
