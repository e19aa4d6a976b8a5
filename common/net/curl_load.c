/*
 * curl_load.c - loads libcurl on first use (see curl_load.h).  The name is
 * the soname of Debian's libcurl4, the OpenSSL flavour; the library stays
 * loaded for the life of the process.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <openssl/opensslv.h>

#include "curl_load.h"
#include "error.h"

#define LIBCURL "libcurl.so.4"

static struct curl_api api;
static char load_error[256];
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* dlsym into a function pointer (POSIX allows the conversion) */
static int
bind_symbol(void *lib, void *slot, size_t size, const char *name)
{
	void *fn = dlsym(lib, name);

	if (fn == NULL) {
		snprintf(load_error, sizeof(load_error), "%s has no %s",
		    LIBCURL, name);
		return -1;
	}
	memcpy(slot, &fn, size);
	return 0;
}

#define BIND(field, name) bind_symbol(lib, &api.field, sizeof(api.field), name)

static void
load(void)
{
	void *lib = dlopen(LIBCURL, RTLD_NOW | RTLD_LOCAL);
	const curl_version_info_data *v;
	char want[32];

	if (lib == NULL) {
		snprintf(load_error, sizeof(load_error), "%s", dlerror());
		return;
	}
	if (BIND(global_init, "curl_global_init") ||
	    BIND(global_cleanup, "curl_global_cleanup") ||
	    BIND(version_info, "curl_version_info") ||
	    BIND(easy_init, "curl_easy_init") ||
	    BIND(easy_setopt, "curl_easy_setopt") ||
	    BIND(easy_getinfo, "curl_easy_getinfo") ||
	    BIND(easy_header, "curl_easy_header") ||
	    BIND(easy_perform, "curl_easy_perform") ||
	    BIND(easy_cleanup, "curl_easy_cleanup") ||
	    BIND(easy_strerror, "curl_easy_strerror") ||
	    BIND(slist_append, "curl_slist_append") ||
	    BIND(slist_free_all, "curl_slist_free_all") ||
	    BIND(multi_init, "curl_multi_init") ||
	    BIND(multi_add_handle, "curl_multi_add_handle") ||
	    BIND(multi_remove_handle, "curl_multi_remove_handle") ||
	    BIND(multi_cleanup, "curl_multi_cleanup") ||
	    BIND(multi_perform, "curl_multi_perform") ||
	    BIND(multi_poll, "curl_multi_poll") ||
	    BIND(multi_timeout, "curl_multi_timeout") ||
	    BIND(multi_info_read, "curl_multi_info_read"))
		goto fail;
	/* the SSL_CTX fetch.c receives must be OpenSSL's, of the major
	 * version libmtasts was built with (the same libssl) */
	v = api.version_info(CURLVERSION_NOW);
	snprintf(want, sizeof(want), "OpenSSL/%d.", OPENSSL_VERSION_MAJOR);
	if (v == NULL || v->ssl_version == NULL ||
	    strncmp(v->ssl_version, want, strlen(want)) != 0) {
		snprintf(load_error, sizeof(load_error),
		    "%s is built on %s, not %sx", LIBCURL,
		    v != NULL && v->ssl_version != NULL ? v->ssl_version
							: "no TLS library",
		    want);
		goto fail;
	}
	return;
fail:
	memset(&api, 0, sizeof(api));
	dlclose(lib);
}

const struct curl_api *
curl_api(struct mtasts_error *err)
{
	pthread_once(&once, load);
	if (api.easy_init == NULL) {
		mtasts_error_set(err, MTASTS_ERR_INTERNAL,
		    "libcurl cannot be loaded: %s", load_error);
		return NULL;
	}
	return &api;
}
