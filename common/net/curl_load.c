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
#include "dl_load.h"
#include "error.h"

#define LIBCURL "libcurl.so.4"

static struct curl_api api;
static char load_error[256];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void
load(void)
{
	const struct dl_symbol symbols[] = {
	    DL_SYMBOL(api.global_init, "curl_global_init"),
	    DL_SYMBOL(api.global_cleanup, "curl_global_cleanup"),
	    DL_SYMBOL(api.version_info, "curl_version_info"),
	    DL_SYMBOL(api.easy_init, "curl_easy_init"),
	    DL_SYMBOL(api.easy_setopt, "curl_easy_setopt"),
	    DL_SYMBOL(api.easy_getinfo, "curl_easy_getinfo"),
	    DL_SYMBOL(api.easy_header, "curl_easy_header"),
	    DL_SYMBOL(api.easy_perform, "curl_easy_perform"),
	    DL_SYMBOL(api.easy_cleanup, "curl_easy_cleanup"),
	    DL_SYMBOL(api.easy_strerror, "curl_easy_strerror"),
	    DL_SYMBOL(api.slist_append, "curl_slist_append"),
	    DL_SYMBOL(api.slist_free_all, "curl_slist_free_all"),
	    DL_SYMBOL(api.multi_init, "curl_multi_init"),
	    DL_SYMBOL(api.multi_add_handle, "curl_multi_add_handle"),
	    DL_SYMBOL(api.multi_remove_handle, "curl_multi_remove_handle"),
	    DL_SYMBOL(api.multi_cleanup, "curl_multi_cleanup"),
	    DL_SYMBOL(api.multi_perform, "curl_multi_perform"),
	    DL_SYMBOL(api.multi_poll, "curl_multi_poll"),
	    DL_SYMBOL(api.multi_timeout, "curl_multi_timeout"),
	    DL_SYMBOL(api.multi_info_read, "curl_multi_info_read"),
	};
	void *lib = dl_load(LIBCURL, symbols,
	    sizeof(symbols) / sizeof(symbols[0]), load_error,
	    sizeof(load_error));
	const curl_version_info_data *v;
	char want[32];

	if (lib == NULL)
		return;
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
		memset(&api, 0, sizeof(api));
		dlclose(lib);
	}
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
