/*
 * curl_load.h - libcurl, loaded when a policy is first fetched rather than
 * with libmtasts: an MTA's delivery process answered by the cache (most of
 * them) never maps libcurl and the libraries it pulls in (nghttp2, ssh2,
 * rtmp, psl, brotli, zstd...).  fetch.c and discover.c call libcurl
 * through this table (internal to libmtasts).
 */
#ifndef MTASTS_CURL_LOAD_H
#define MTASTS_CURL_LOAD_H

#include <curl/curl.h>

#include "mtasts_core.h"

struct curl_api {
	CURLcode (*global_init)(long flags);
	void (*global_cleanup)(void);
	curl_version_info_data *(*version_info)(CURLversion age);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *easy, CURLoption option, ...);
	CURLcode (*easy_getinfo)(CURL *easy, CURLINFO info, ...);
	CURLHcode (*easy_header)(CURL *easy, const char *name, size_t index,
	    unsigned int origin, int request, struct curl_header **hout);
	CURLcode (*easy_perform)(CURL *easy);
	void (*easy_cleanup)(CURL *easy);
	const char *(*easy_strerror)(CURLcode code);
	struct curl_slist *(*slist_append)(
	    struct curl_slist *list, const char *text);
	void (*slist_free_all)(struct curl_slist *list);
	CURLM *(*multi_init)(void);
	CURLMcode (*multi_add_handle)(CURLM *multi, CURL *easy);
	CURLMcode (*multi_remove_handle)(CURLM *multi, CURL *easy);
	CURLMcode (*multi_cleanup)(CURLM *multi);
	CURLMcode (*multi_perform)(CURLM *multi, int *running);
	CURLMcode (*multi_poll)(CURLM *multi, struct curl_waitfd *extra,
	    unsigned int nextra, int timeout_ms, int *numfds);
	CURLMcode (*multi_timeout)(CURLM *multi, long *timeout_ms);
	CURLMsg *(*multi_info_read)(CURLM *multi, int *left);
};

/*
 * libcurl's functions, loaded at the first call of the process (safe from
 * several threads).  NULL with err set (MTASTS_ERR_INTERNAL: a failure of
 * this host, never read as an answer about a domain) when libcurl.so.4
 * cannot be loaded, lacks a function, or is not built on OpenSSL (fetch.c
 * hands it OpenSSL's certificate store).
 */
const struct curl_api *curl_api(struct mtasts_error *err);

#endif
