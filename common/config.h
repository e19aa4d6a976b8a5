/* config.h - the configuration file, shared by the command and adapters. */
#ifndef MTASTS_CONFIG_H
#define MTASTS_CONFIG_H

#include <stddef.h>

#include "mtasts.h"

enum resolver_kind {
	RESOLVER_SYSTEM, /* resolv.conf and /etc/hosts */
	RESOLVER_FORWARD, /* one forwarder, "address[@port]" */
	RESOLVER_RECURSIVE, /* full recursion, DNSSEC-validating */
};

struct mtasts_config {
	char *path; /* the file read, for messages */
	enum resolver_kind resolver;
	char *forwarder; /* RESOLVER_FORWARD */
	char *trust_anchor; /* DNSSEC root key file, or NULL */
	char *ca_bundle; /* CURLOPT_CAINFO, or NULL for curl's */
	char *ca_path; /* CURLOPT_CAPATH, or NULL */
	char *proxy; /* NULL: no proxy, environment ignored */
	char **connect_to; /* CURLOPT_CONNECT_TO entries */
	size_t connect_to_count;
	long dns_timeout_ms;
	long connect_timeout_ms;
	long fetch_timeout_ms;
	unsigned concurrency;
};

#endif
