/*
 * redis_load.c - loads libhiredis on first use (see redis_load.h), as
 * net/curl_load.c loads libcurl; it stays loaded for the life of the
 * process.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "redis_load.h"
#include "redis_soname.h"

static struct hiredis_api api;
static char load_error[256];
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* dlsym into a function pointer (POSIX allows the conversion) */
static int
bind_symbol(void *lib, void *slot, size_t size, const char *name)
{
	void *fn = dlsym(lib, name);

	if (fn == NULL) {
		snprintf(load_error, sizeof(load_error), "%s has no %s",
		    MTASTS_HIREDIS, name);
		return -1;
	}
	memcpy(slot, &fn, size);
	return 0;
}

#define BIND(field, name) bind_symbol(lib, &api.field, sizeof(api.field), name)

static void
load(void)
{
	void *lib = dlopen(MTASTS_HIREDIS, RTLD_NOW | RTLD_LOCAL);

	if (lib == NULL) {
		snprintf(load_error, sizeof(load_error), "%s", dlerror());
		return;
	}
	if (BIND(connect, "redisConnectWithTimeout") ||
	    BIND(connect_unix, "redisConnectUnixWithTimeout") ||
	    BIND(set_timeout, "redisSetTimeout") ||
	    BIND(command_argv, "redisCommandArgv") ||
	    BIND(free_reply, "freeReplyObject") || BIND(free, "redisFree")) {
		memset(&api, 0, sizeof(api));
		dlclose(lib);
	}
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
