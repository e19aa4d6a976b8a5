/*
 * mtasts_core.h - the vocabulary of libmtasts both floors share: codes
 * and errors, policies, TXT records, MX patterns, the configuration, and
 * what a lookup found.  Implemented in common/ (the MTA-independent core),
 * which includes nothing above it; part of the public API through
 * mtasts.h, which includes it (its manual: mtasts.h's first comment).
 */
#ifndef MTASTS_CORE_H
#define MTASTS_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What libmtasts exports: these declarations, and nothing else. */
#if defined(__GNUC__)
#define MTASTS_API __attribute__((visibility("default")))
#else
#define MTASTS_API
#endif

/* RFC 8461 §3.3: senders limit the policy body; 64 KiB as the RFC suggests. */
#define MTASTS_POLICY_MAX_BYTES 65536
/* RFC 8461 §3.2: max_age is at most 31557600 seconds (about one year). */
#define MTASTS_MAX_AGE_LIMIT 31557600u
/* RFC 8461 §3.1: the id is 1 to 32 letters and digits. */
#define MTASTS_ID_MAX 32

/*
 * Result codes.  Append-only: a code keeps its number and its string
 * (mtasts_code_name(), what JSON output carries) from release to release,
 * and new codes come after the last.  A caller that meets a code it does
 * not know should treat it as a failure of this host.
 */
typedef enum mtasts_code {
	MTASTS_OK = 0,
	/* _mta-sts TXT record (RFC 8461 §3.1) */
	MTASTS_ERR_NO_STS_RECORD = 1, /* "no_sts_record" */
	MTASTS_ERR_MULTI_STS_RECORDS = 2, /* "multi_sts_records" */
	MTASTS_ERR_INVALID_STS_RECORD = 3, /* "invalid_sts_record" */
	MTASTS_ERR_INVALID_STS_ID = 4, /* "invalid_sts_id" */
	/* policy body (RFC 8461 §3.2) */
	MTASTS_ERR_INVALID_STS_POLICY = 5, /* "invalid_sts_policy": syntax */
	MTASTS_ERR_INVALID_STS_VERSION = 6, /* "invalid_sts_version" */
	MTASTS_ERR_INVALID_STS_MODE = 7, /* "invalid_sts_mode" */
	MTASTS_ERR_INVALID_STS_MAX_AGE = 8, /* "invalid_sts_max_age" */
	MTASTS_ERR_INVALID_STS_MX = 9, /* "invalid_sts_mx" */
	MTASTS_ERR_POLICY_TOO_LARGE = 10, /* "policy_too_large" */
	/* policy fetch (RFC 8461 §3.3) */
	MTASTS_ERR_HTTP_STATUS = 11, /* "http_status_<n>", e.g. http_status_404 */
	MTASTS_ERR_HTTP_REDIRECT = 12, /* "http_redirect" */
	MTASTS_ERR_HTTP_CONTENT_TYPE = 13, /* "http_content_type" */
	MTASTS_ERR_HTTP = 14, /* "http_error": other HTTP failures */
	MTASTS_ERR_TLS = 15, /* "tls_error" */
	MTASTS_ERR_TIMEOUT = 16, /* "timeout" */
	/* DNS */
	MTASTS_ERR_DNS_NXDOMAIN = 17, /* "dns_nxdomain" */
	MTASTS_ERR_DNS_NODATA = 18, /* "dns_nodata" */
	MTASTS_ERR_DNS = 19, /* "dns_error": SERVFAIL, bogus, ... */
	/* the cache */
	MTASTS_ERR_CACHE = 20, /* "cache_error" */
	/* the library and its caller */
	MTASTS_ERR_USAGE = 21, /* "usage": a bad argument */
	MTASTS_ERR_CONFIG = 22, /* "config_error" */
	MTASTS_ERR_IO = 23, /* "io_error" */
	MTASTS_ERR_NOMEM = 24, /* "out_of_memory" */
	MTASTS_ERR_INTERNAL = 25, /* "internal_error" */
	/* this host's TLS machinery: the CA store cannot be read, or the
	 * TLS library failed (not an answer about the policy host) */
	MTASTS_ERR_TLS_SETUP = 26, /* "tls_setup_error" */
	/* the policy host's certificate is outside its validity period by
	 * this host's clock: expired, or the clock is wrong */
	MTASTS_ERR_TLS_CERT_TIME = 27, /* "tls_cert_time" */
	/* the policy host refused or could not be reached */
	MTASTS_ERR_HTTP_CONNECT = 28, /* "http_connect_error" */
	/* the policy's transfer was cut short */
	MTASTS_ERR_HTTP_CUT = 29, /* "http_incomplete" */
	/* the proxy this host is configured to use failed (this host's
	 * machinery: never read as the policy host's answer) */
	MTASTS_ERR_PROXY = 30, /* "proxy_error" */
	/* the cache holds no record of the domain */
	MTASTS_ERR_NOT_CACHED = 31, /* "not_cached" */
	/* no TXT record at _smtp._tls begins with v=TLSRPTv1 (RFC 8460) */
	MTASTS_ERR_NO_TLSRPT_RECORD = 32, /* "no_tlsrpt_record" */
	MTASTS_CODE_COUNT /* not a code: one past the last */
} mtasts_code;

/* The stable string of a code ("invalid_sts_mode"); "http_status" for
 * MTASTS_ERR_HTTP_STATUS, whose full name carries the status number.
 * Never NULL. */
MTASTS_API const char *mtasts_code_name(mtasts_code code);

/* A generic English sentence for a code.  Never NULL. */
MTASTS_API const char *mtasts_strerror(mtasts_code code);

/*
 * What went wrong, in detail.  Caller-owned (usually on the stack); the
 * library fills it when a call fails and leaves it alone on success.
 * name is the stable code string ("http_status_404"), message a sentence
 * ("line 3: mode must be enforce, testing or none, not \"enforced\"").
 * A value type whose layout never changes in libmtasts.so.0 (mtasts.h,
 * Stability): more to say about an error comes as a new function.
 */
struct mtasts_error {
	mtasts_code code;
	char name[32];
	char message[512];
};

/* Empties an error (code MTASTS_OK, empty strings). */
MTASTS_API void mtasts_error_clear(struct mtasts_error *err);

/*
 * Policy modes, RFC 8461 §5.  NONE is also what a domain without a policy
 * is treated as.
 */
enum mtasts_mode {
	MTASTS_MODE_NONE = 0,
	MTASTS_MODE_TESTING,
	MTASTS_MODE_ENFORCE
};

/* "none", "testing", "enforce". */
MTASTS_API const char *mtasts_mode_name(enum mtasts_mode mode);

/*
 * A parsed policy (RFC 8461 §3.2).  Made by the library in one allocation
 * and released with mtasts_policy_free(); treat it as read-only, and pass
 * the library only policies it made: a later release may append fields
 * (mtasts.h, Stability), which a policy of the caller's would lack.
 *
 * mx holds the patterns as published, lower-cased, without a trailing dot,
 * duplicates dropped, in the order they first appeared.  id is the TXT
 * record's id the policy was fetched under ("" when unknown); expires is a
 * Unix time (0 when the policy has not been put in force by a lookup).
 */
struct mtasts_policy {
	char id[MTASTS_ID_MAX + 1];
	/*
	 * The order of the lines as the domain published them, which RFC
	 * 8460 §4.4's policy-string repeats: line_of[0], [1] and [2] are the
	 * 1-based positions of the version, mode and max_age lines among the
	 * policy's known lines (the first of each, and mx without repeats);
	 * the mx lines, in order, fill the other positions.  All 0 - what a
	 * policy built with it zeroed has - is the canonical order: version,
	 * mode, each mx, max_age; so is an order with a position past 255 (a
	 * policy of more than 252 patterns), and three positions that are not
	 * distinct, each within 1..mx_count + 3.  Unknown (extension) lines
	 * are not kept.  In the bytes that followed id in 0.1.0 (no change of
	 * layout: mtasts_abi_check()).
	 */
	uint8_t line_of[3];
	enum mtasts_mode mode;
	uint32_t max_age;
	int64_t expires;
	size_t mx_count;
	char **mx;
#ifdef MTASTS_TEST_GROWTH
	/* what a later release appends: tests/unit/test_abi.c runs a
	 * program built without it on a library built with it */
	char test_growth[MTASTS_TEST_GROWTH];
#endif
};

/*
 * Parses a policy body of len bytes (no NUL terminator needed).  On success
 * stores a new policy in *out (the caller frees it) and returns MTASTS_OK.
 * On failure *out is NULL and err says why: MTASTS_ERR_POLICY_TOO_LARGE
 * above MTASTS_POLICY_MAX_BYTES, MTASTS_ERR_INVALID_STS_POLICY for a line
 * that is not "key: value", MTASTS_ERR_INVALID_STS_VERSION/MODE/MAX_AGE/MX
 * for a missing, repeated or bad field, MTASTS_ERR_NOMEM.
 * Lines end in LF or CRLF; the README lists every reading the RFC left open.
 */
MTASTS_API mtasts_code mtasts_policy_parse(const char *body, size_t len,
    struct mtasts_policy **out, struct mtasts_error *err);

/* Copies a policy into one new allocation; NULL when memory runs out. */
MTASTS_API struct mtasts_policy *mtasts_policy_dup(const struct mtasts_policy *policy);

/* Releases a policy.  NULL is fine. */
MTASTS_API void mtasts_policy_free(struct mtasts_policy *policy);

/*
 * Picks the one STSv1 record among the TXT records found at
 * _mta-sts.<domain> (RFC 8461 §3.1) and parses it.  records[i] has lens[i]
 * bytes (no NUL terminator needed): the character-strings of one TXT record
 * already joined.  On success copies the id (NUL-terminated) into id.
 * Fails with MTASTS_ERR_NO_STS_RECORD when no record begins with v=STSv1,
 * MTASTS_ERR_MULTI_STS_RECORDS when more than one does, and
 * MTASTS_ERR_INVALID_STS_RECORD or MTASTS_ERR_INVALID_STS_ID when the one
 * record is malformed.
 */
MTASTS_API mtasts_code mtasts_txt_parse(const char *const *records, const size_t *lens,
    size_t count, char id[MTASTS_ID_MAX + 1], struct mtasts_error *err);

/*
 * Checks that pattern is an mx pattern the RFC allows: ["*."] followed by a
 * domain name (RFC 8461 §3.2, RFC 5321 §4.1.2).  A single trailing dot is
 * accepted.  Returns MTASTS_OK or MTASTS_ERR_INVALID_STS_MX with err set.
 */
MTASTS_API mtasts_code mtasts_mx_pattern_check(
    const char *pattern, size_t len, struct mtasts_error *err);

/*
 * RFC 8461 §4.1: does the MX host name match the pattern?  Case-insensitive,
 * a trailing dot on either ignored, and "*." stands for exactly one leftmost
 * label: "*.example.com" matches "mx.example.com", not "example.com" nor
 * "a.b.example.com".
 */
MTASTS_API bool mtasts_mx_match(const char *pattern, const char *host);

/*
 * The answer to "may mail for this policy go to this MX host?", in the shape
 * of mailauth's validateMx().  valid is true when the host matches a pattern,
 * or when there is no policy to obey (mode none).  match points at the
 * pattern that matched, inside the policy (NULL when none did).  testing is
 * true in testing mode, where a host that is not valid is only reported.
 * A value type whose layout never changes in libmtasts.so.0.
 */
struct mtasts_mx_result {
	bool valid;
	enum mtasts_mode mode;
	const char *match;
	bool testing;
};

/* Validates host against policy (NULL policy: mode none). */
MTASTS_API void mtasts_validate_mx(const struct mtasts_policy *policy, const char *host,
    struct mtasts_mx_result *result);

/*
 * Configuration: one file, read by the command and both adapters; the
 * README's "Configuration" and mtasts.conf(5) list every setting.
 * mtasts_config_load(NULL, ...) gives the defaults; a path that cannot be
 * read is an error (MTASTS_ERR_CONFIG), never the defaults.  On failure *out is
 * NULL and err (MTASTS_ERR_CONFIG) names the file, line and setting.
 */
struct mtasts_config;

MTASTS_API mtasts_code mtasts_config_load(
    const char *path, struct mtasts_config **out, struct mtasts_error *err);

/*
 * The file the MTA adapters read when told none: /etc/mtasts/mtasts.conf.
 * The adapters require it (without it every domain defers: its overrides
 * may be what protects a domain); the mtasts command falls back to the
 * defaults when it does not exist.
 */
MTASTS_API const char *mtasts_config_default_path(void);

/* Releases a configuration.  NULL is fine. */
MTASTS_API void mtasts_config_free(struct mtasts_config *config);

/* What a policy lookup found, as mailauth's getPolicy() says it. */
enum mtasts_status {
	MTASTS_STATUS_FOUND, /* "found": a new policy was fetched */
	MTASTS_STATUS_NOT_FOUND, /* "not_found": the domain has no policy */
	MTASTS_STATUS_RENEWED, /* "renewed": TXT id unchanged, known kept */
	MTASTS_STATUS_CACHED, /* "cached": a known, unexpired policy
	                         stays in force (discovery failed) */
	MTASTS_STATUS_ERRORED /* "errored": discovery failed and no
	                         policy is in force */
};

/* "found", "not_found", "renewed", "cached", "errored". */
MTASTS_API const char *mtasts_status_name(enum mtasts_status status);

/* DNSSEC state of the _mta-sts TXT answer. */
enum mtasts_dnssec {
	MTASTS_DNSSEC_INSECURE = 0, /* "insecure": not signed or not checked */
	MTASTS_DNSSEC_SECURE, /* "secure" */
	MTASTS_DNSSEC_BOGUS /* "bogus": signed, failed validation */
};

/* "insecure", "secure", "bogus". */
MTASTS_API const char *mtasts_dnssec_name(enum mtasts_dnssec state);

/* Where a lookup's answer came from. */
enum mtasts_source {
	MTASTS_SOURCE_NETWORK = 0, /* "network": discovered now */
	MTASTS_SOURCE_CACHE, /* "cache": the cache was fresh enough */
	MTASTS_SOURCE_OVERRIDE /* "override": the configuration's word */
};

/* An operator's override that applied ([domain NAME] in the config). */
enum mtasts_override {
	MTASTS_OVERRIDE_NONE = 0, /* "none" */
	MTASTS_OVERRIDE_SKIP, /* "skip": MTA-STS ignored, as not_found */
	MTASTS_OVERRIDE_MODE, /* "mode": the discovered policy's mode
	                         replaced */
	MTASTS_OVERRIDE_STATIC /* "static": a policy from the config */
};

/* "network", "cache", "override". */
MTASTS_API const char *mtasts_source_name(enum mtasts_source source);

/* "none", "skip", "mode", "static". */
MTASTS_API const char *mtasts_override_name(enum mtasts_override override);

/*
 * The result of a lookup.  policy is the policy in force (owned by the
 * result; NULL for not_found and errored, which mean "mode none").  id is
 * the id of the TXT record seen ("" when none); error says what failed
 * (code MTASTS_OK when nothing did) and for not_found why nothing was
 * found.  cache_error is set when the cache could not be read (code
 * MTASTS_ERR_CACHE: the answer then comes from the network alone) or the
 * answer could not be kept in it (MTASTS_ERR_IO).
 *
 * Made by the library (mtasts_lookup(), mtasts_lookups(),
 * mtasts_get_policy(), mtasts_get_policies()), one allocation each, and
 * released with mtasts_lookup_free(); read-only.  A later release may
 * append fields (mtasts.h, Stability): never declare, copy or embed one.
 */
struct mtasts_lookup {
	char domain[254];
	/* No answer from the network said "no policy": the TXT query went
	 * unanswered (SERVFAIL, a timeout, a bogus DNSSEC answer), this host
	 * failed (memory, the CA store, the resolver setup), or the domain
	 * could not be read as one.  Without a policy in force such a domain
	 * may be under enforce: mtasts_decide() defers it.  Never cached. */
	bool undecided;
	enum mtasts_status status;
	struct mtasts_policy *policy;
	char id[MTASTS_ID_MAX + 1];
	enum mtasts_dnssec dnssec;
	struct mtasts_error error;
	enum mtasts_source source;
	enum mtasts_override override;
	struct mtasts_error cache_error;
#ifdef MTASTS_TEST_GROWTH
	/* what a later release appends: tests/unit/test_abi.c runs a
	 * program built without it on a library built with it */
	char test_growth[MTASTS_TEST_GROWTH];
#endif
};

/* Releases a lookup result and its policy.  NULL is fine. */
MTASTS_API void mtasts_lookup_free(struct mtasts_lookup *result);

#ifdef __cplusplus
}
#endif
#endif /* MTASTS_CORE_H */
