/* config.h - the configuration file, shared by the command and adapters. */
#ifndef MTASTS_CONFIG_H
#define MTASTS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "mtasts_core.h"

enum resolver_kind {
	RESOLVER_SYSTEM, /* resolv.conf and /etc/hosts */
	RESOLVER_FORWARD, /* one forwarder, "address[@port]" */
	RESOLVER_RECURSIVE, /* full recursion, DNSSEC-validating */
};

/* Where the fleet's shared store is (fleet = URL; store/redis/). */
enum fleet_kind {
	FLEET_NONE, /* no fleet: this host alone */
	FLEET_TCP, /* redis[s]://HOST[:PORT][/DB] */
	FLEET_UNIX, /* redis+unix:///PATH[?db=DB] */
	FLEET_SENTINEL, /* redis-sentinel://H1[:P1],H2[:P2]/MASTER */
};

#define FLEET_SENTINELS_MAX 8
#define FLEET_MASTER_MAX 64

/* A [domain NAME] section: an operator's word on one domain. */
struct override {
	char *domain; /* lower case, no trailing dot */
	bool skip; /* MTA-STS ignored for this domain */
	bool has_mode; /* mode forced */
	enum mtasts_mode mode;
	char **mx; /* with has_mode: a static policy */
	size_t mx_count;
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
	/* the cache */
	char *cache_dir; /* NULL: no cache */
	size_t cache_size; /* bytes the cache may grow to */
	unsigned cache_mode; /* file mode of its files */
	char *cache_group; /* group of its files, or NULL */
	char *cache_backend; /* where it is kept; NULL: lmdb (store/cache.c) */
	long txt_recheck; /* seconds between TXT checks of a policy */
	long negative_ttl; /* seconds a "no policy" answer is kept */
	long error_retry; /* first retry after an error, doubling */
	long refresh_interval; /* mtasts refresh: check policies this old */
	long refresh_window; /* ... used within this long (0: every one) */
	/* TLS-RPT as a sender (RFC 8460) */
	bool tlsrpt; /* sessions collected, reports sent */
	char *tlsrpt_dir; /* the store; NULL: <cache_dir>/tlsrpt */
	char *tlsrpt_backend; /* the store's backend; NULL: lmdb */
	char *tlsrpt_spool; /* where deliveries append their sessions */
	size_t tlsrpt_size; /* bytes the store may grow to */
	long tlsrpt_details; /* failure-detail rows per policy and day */
	char *tlsrpt_org; /* organization-name; NULL: the submitter */
	char *tlsrpt_contact; /* contact-info; NULL: postmaster@submitter */
	char *tlsrpt_submitter; /* NULL: this host's name */
	char *tlsrpt_from; /* the reports' From address */
	/* mailto: reports: by SMTP to the relay, or through sendmail when
	 * the file names one (the two exclude each other) */
	char *tlsrpt_relay; /* the relay's address, an IPv4 or IPv6 literal */
	int tlsrpt_relay_port;
	char *sendmail; /* the local MTA's sendmail, or NULL: the relay */
	/* the fleet: a Redis every node shares, asked on a local miss */
	enum fleet_kind fleet;
	char *fleet_host; /* FLEET_TCP: a name, an IPv4 or IPv6 literal */
	int fleet_port; /* FLEET_TCP */
	bool fleet_tls; /* FLEET_TCP: rediss:// */
	char *fleet_ca_file; /* rediss://'s CAs; NULL: the system's bundle */
	char *fleet_socket; /* FLEET_UNIX */
	/* FLEET_SENTINEL: the sentinels, asked in turn, and the master's name */
	char *fleet_sentinel_host[FLEET_SENTINELS_MAX];
	int fleet_sentinel_port[FLEET_SENTINELS_MAX];
	size_t fleet_sentinels;
	char *fleet_master;
	char *fleet_sentinel_password_file; /* the sentinels' AUTH, or NULL */
	int fleet_db; /* SELECT, 0 by default */
	char *fleet_name; /* the prefix of every key */
	char *fleet_node; /* this node in the fleet's TLS-RPT; NULL: host name */
	char *fleet_password_file; /* "USER PASSWORD" or "PASSWORD", or NULL */
	bool fleet_strict; /* a local miss the fleet cannot answer: defer */
	long fleet_timeout_ms; /* each connect and command */
	struct override *overrides;
	size_t override_count;
};

/* The override for domain (lower case, no trailing dot), or NULL. */
const struct override *config_override(
    const struct mtasts_config *cfg, const char *domain);

#endif
