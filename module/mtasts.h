/*
 * mtasts.h - MTA-STS (RFC 8461) for mail servers: the public API of
 * libmtasts.  This header is its own manual: every function says what it
 * takes, what it returns, and who owns what.
 *
 * Error model.  A function that can fail returns an mtasts_code (0 is
 * MTASTS_OK) and, when the caller passes a struct mtasts_error, fills it
 * with the stable code string (the same strings in JSON and in logs) and a
 * sentence that says what was wrong.  mtasts_strerror() gives a generic
 * sentence for every code.  The library never exits or aborts.
 *
 * Threads.  Nothing here keeps global state; objects may be used from one
 * thread at a time.
 *
 * Stability.  libmtasts.so.0: the functions and codes here keep their
 * names and meanings; codes keep their numbers; the exported symbols carry
 * the version node MTASTS_0.  Results can grow without a new soname: a
 * lookup (struct mtasts_lookup), a decision (struct mtasts_decision) and a
 * policy (struct mtasts_policy) are made by the library, one allocation
 * each, and read by the caller through a pointer until it frees them, as
 * libtls hands out its objects; a later release appends fields to them,
 * never moves one, and nests them only by pointer, so a program built
 * against this header reads the fields it knows where it expects them.
 * We chose this over structs the caller allocates with a size field: the
 * library writes into nothing whose size it must trust, a caller has no
 * size to set or forget, and arrays of results (mtasts_lookups()) need no
 * stride; it costs one allocation per result, beside the policy's.  Only
 * two small value types are the caller's to allocate, struct mtasts_error
 * and struct mtasts_mx_result: their layouts never change in .so.0.
 * mtasts_ctx_new() passes the header's MTASTS_ABI and those sizes to the
 * library, which refuses a caller built against another ABI
 * (MTASTS_ERR_USAGE: one built before results were the library's, whose
 * structures it would misread) rather than read or write past them; a
 * caller that uses only the parsers (no context) checks with
 * mtasts_abi_ok().  A program that reads a field appended in a later
 * release needs that release: the functions that return the structure
 * move to that version in the package's symbols file.
 * tests/unit/test_abi.c holds the rule: a program built against this
 * header, on a library whose results grew (MTASTS_TEST_GROWTH).
 * Everything else (struct mtasts_config, struct mtasts_ctx) is opaque.
 */
#ifndef MTASTS_H
#define MTASTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mtasts_core.h" /* codes, policies, the configuration, lookups */
#include "mtasts_version.h" /* MTASTS_VERSION, from the build */

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI of the public structures (see Stability above): 1 since the
 * results are the library's to allocate. */
#define MTASTS_ABI 1u
/* The sizes this header gives the structures a caller allocates, as the
 * library compares them; the results the library allocates may grow. */
#define MTASTS_LAYOUT \
	(sizeof(struct mtasts_error) + sizeof(struct mtasts_mx_result) * 3)
/* True when the library was built with this header's layout. */
#define mtasts_abi_ok() mtasts_abi_check(MTASTS_ABI, MTASTS_LAYOUT)

/* Whether the library's structures have the given layout (MTASTS_ABI and
 * MTASTS_LAYOUT of the caller's header): call it as mtasts_abi_ok(). */
MTASTS_API bool mtasts_abi_check(unsigned abi, size_t layout);

/*
 * A context: the resolver and HTTPS client one process uses.  Make it in
 * the process that uses it (after fork, never before); it keeps a pointer
 * to config, which must outlive it.
 */
struct mtasts_ctx;

#define mtasts_ctx_new(config, out, err) \
	mtasts_ctx_new_abi(MTASTS_ABI, MTASTS_LAYOUT, (config), (out), (err))

/* What mtasts_ctx_new() calls: abi and layout are the caller's
 * MTASTS_ABI and MTASTS_LAYOUT; a mismatch is MTASTS_ERR_USAGE. */
MTASTS_API mtasts_code mtasts_ctx_new_abi(unsigned abi, size_t layout,
    const struct mtasts_config *config, struct mtasts_ctx **out,
    struct mtasts_error *err);

/* Releases a context.  NULL is fine. */
MTASTS_API void mtasts_ctx_free(struct mtasts_ctx *ctx);

/*
 * Policy discovery without a cache (RFC 8461 §3), like mailauth's
 * getPolicy(domain, knownPolicy): asks DNS for the TXT record at
 * _mta-sts.<domain>; when its id equals known's, answers renewed with known
 * (expires moved on by max_age); otherwise fetches
 * https://mta-sts.<domain>/.well-known/mta-sts.txt and answers found.  When
 * discovery fails and known has not expired, answers cached with known and
 * the error (RFC 8461 §5: a cached policy stays in force).  known may be
 * NULL.  Every step has the configured deadline.
 *
 * mtasts_get_policies() does the same for count domains concurrently
 * (bounded by the configured concurrency); known may be NULL, or an array
 * of count pointers, each of which may be NULL.  results is an array of
 * count pointers.  Both return MTASTS_OK once every result is made (the
 * results carry the failures; each one the caller's, to release with
 * mtasts_lookup_free()), MTASTS_ERR_NOMEM when they cannot all be made, or
 * MTASTS_ERR_USAGE for a bad argument; then every result is NULL.
 */
MTASTS_API mtasts_code mtasts_get_policy(struct mtasts_ctx *ctx,
    const char *domain, const struct mtasts_policy *known,
    struct mtasts_lookup **result);

MTASTS_API mtasts_code mtasts_get_policies(struct mtasts_ctx *ctx,
    const char *const *domains, size_t count,
    const struct mtasts_policy *const *known, struct mtasts_lookup **results);

/*
 * The lookup an MTA makes: through the cache shared by every process of
 * the host, with the RFC 8461 §5 rules and the configuration's overrides.
 *
 * A cached policy is used as it is while it has not expired and its TXT
 * record was checked less than txt_recheck seconds ago; then the TXT
 * record is checked again: the same id renews the policy (renewed), a new
 * id fetches it (found), and when DNS or HTTPS fail the cached policy stays
 * in force until it expires (cached, with the error).  "No policy" and
 * errors are kept briefly (negative_ttl, error_retry doubling), so a
 * domain without MTA-STS costs no query per message.  When several
 * processes miss the same domain at once, one discovers and the others
 * wait for its answer (up to the discovery deadlines).
 *
 * mtasts_lookups() does count domains at once (discoveries concurrent);
 * with force, every domain is discovered again whatever the cache holds
 * (as mtasts refresh does).  results is an array of count pointers.
 * Both return MTASTS_OK when every result is made (each the caller's, to
 * release with mtasts_lookup_free()), MTASTS_ERR_NOMEM when they cannot
 * all be made, or MTASTS_ERR_USAGE for a bad argument; then every result
 * is NULL.
 */
MTASTS_API mtasts_code mtasts_lookup(
    struct mtasts_ctx *ctx, const char *domain, struct mtasts_lookup **result);

/*
 * Calls fn(arg, done, total) from mtasts_lookups() and
 * mtasts_get_policies() each time a discovery ends, for progress bars.
 * NULL turns it off.
 */
MTASTS_API void mtasts_ctx_set_progress(struct mtasts_ctx *ctx,
    void (*fn)(void *arg, size_t done, size_t total), void *arg);

MTASTS_API mtasts_code mtasts_lookups(struct mtasts_ctx *ctx,
    const char *const *domains, size_t count, bool force,
    struct mtasts_lookup **results);

/*
 * The decision the MTA adapters act on, for mail to one domain.
 */
enum mtasts_verdict {
	MTASTS_VERDICT_NONE = 0, /* "none": deliver as without MTA-STS */
	MTASTS_VERDICT_TESTING, /* "testing": deliver; report what enforce
	                           would refuse */
	MTASTS_VERDICT_ENFORCE, /* "enforce": only MX hosts the policy names,
	                           STARTTLS, a certificate valid for the
	                           MX host name */
	MTASTS_VERDICT_DEFER /* "defer": no safe answer now (the cache
	                        cannot be read and the network gave no
	                        policy): try later, never in the clear */
};

/* "none", "testing", "enforce", "defer". */
MTASTS_API const char *mtasts_verdict_name(enum mtasts_verdict verdict);

/*
 * The verdict a lookup result gives (what mtasts_decide() does after its
 * lookup).  A policy gives its mode; "none" comes only from an answer of
 * the network that the domain has no usable policy (RFC 8461 §3.1, §5)
 * or from a skip override; everything else - an undecided result, a
 * cache that could not be read - is "defer": never a guess towards
 * cleartext.
 */
MTASTS_API enum mtasts_verdict mtasts_verdict_of(const struct mtasts_lookup *result);

/*
 * A decision and what it stands on: lookup (never NULL) is the lookup it
 * was made from, and lookup->policy (when not NULL) holds the MX patterns
 * to obey.  reason is one line for logs and SMTP replies ("example.com:
 * enforce, policy 20261122 (cache)").  Made by the library, with its
 * lookup, in one allocation; read-only; released with
 * mtasts_decision_free().  A later release may append fields (see
 * Stability above): never declare, copy or embed one.
 */
struct mtasts_decision {
	enum mtasts_verdict verdict;
	const struct mtasts_lookup *lookup;
	char reason[640];
#ifdef MTASTS_TEST_GROWTH
	/* what a later release appends: tests/unit/test_abi.c runs a
	 * program built without it on a library built with it */
	char test_growth[MTASTS_TEST_GROWTH];
#endif
};

/*
 * Decides for mail to domain, through the cache (mtasts_lookup).  With
 * recheck, a domain whose verdict is enforce or defer, answered from the
 * cache, is discovered again at once (a deferral is about to happen: RFC
 * 8461 §5 asks to look for an updated policy first; an answer discovered
 * just now needs no second look).  Sets *d to a new decision (the
 * caller's, released with mtasts_decision_free()) and returns MTASTS_OK;
 * for a bad ctx or domain, a decision to defer and MTASTS_ERR_USAGE.
 * When memory runs out, or d is NULL, sets no decision (*d NULL) and
 * returns MTASTS_ERR_NOMEM or MTASTS_ERR_USAGE: the caller defers.
 */
MTASTS_API mtasts_code mtasts_decide(struct mtasts_ctx *ctx, const char *domain,
    bool recheck, struct mtasts_decision **d);

/* Releases a decision and its lookup.  NULL is fine. */
MTASTS_API void mtasts_decision_free(struct mtasts_decision *d);

/*
 * Checks one SMTP connection against a policy (RFC 8461 §4): host is the
 * MX host name connected to, tls whether STARTTLS succeeded, verified
 * whether the certificate was valid for host.  Sets *violations to how
 * many rules the connection broke (0: as the policy asks) and writes them,
 * one sentence each, separated by "; ", into out.  Returns MTASTS_OK, or
 * MTASTS_ERR_USAGE without violations or out.  A NULL policy, or mode
 * none, asks nothing.
 */
MTASTS_API mtasts_code mtasts_check_connection(
    const struct mtasts_policy *policy, const char *host, bool tls,
    bool verified, size_t *violations, char *out, size_t outlen);

/*
 * RFC 8461 §4.1 for a whole domain, for MTAs that cannot steer each
 * connection (OpenSMTPD): looks up the MX hosts of the decision's domain
 * and sets *allowed to how many its policy allows.  The others are named
 * in out ("MX mx.rogue.example is not in the policy; ...").  Returns
 * MTASTS_OK, or the MX lookup's error (err and out say why; *allowed 0).
 */
MTASTS_API mtasts_code mtasts_mx_allowed(struct mtasts_ctx *ctx,
    const struct mtasts_decision *d, size_t *allowed, char *out,
    size_t outlen, struct mtasts_error *err);

/*
 * The decision for an MTA that cannot steer each connection (OpenSMTPD),
 * with RFC 8461 §4.1 checked against the domain's MX hosts: mtasts_decide(),
 * then mtasts_mx_allowed() under enforce and testing.  Under enforce with
 * no MX allowed, the policy is looked up again first (§5) and the answer
 * is the new decision's.  why names the MX hosts the policy does not
 * allow (what testing reports), or why the MX lookup failed.  Sets *d as
 * mtasts_decide() does (NULL only when memory runs out or an argument is
 * NULL); returns MTASTS_OK, or the MX lookup's error (then *allowed is
 * 0), or mtasts_decide()'s.
 */
MTASTS_API mtasts_code mtasts_decide_mx(struct mtasts_ctx *ctx,
    const char *domain, struct mtasts_decision **d, size_t *allowed, char *why,
    size_t whylen);

/*
 * TLS-RPT (RFC 8460) as a sender: counts one TLS session of a delivery to
 * domain for the daily reports of mtasts tlsrpt send - when the
 * configuration says tlsrpt = yes; otherwise it returns MTASTS_OK at once.
 * host and ip are the MX host connected to, local_ip the address the
 * session left from ("" when unknown); tls says whether STARTTLS
 * succeeded, verified whether the MTA found the certificate valid for
 * host; cert (DER, cert_len bytes; NULL when none was seen) tells a wrong
 * name or an expired certificate from an untrusted one.  Under the
 * domain's policy (the one applied, see below) the session counts
 * (policy-type sts) as a success or an RFC 8460 §4.3
 * failure (starttls-not-supported, certificate-host-mismatch,
 * certificate-expired, certificate-not-trusted, validation-failure for an
 * MX outside the policy); without one as no-policy-found (a failure
 * sts-policy-fetch-error, sts-policy-invalid or sts-webpki-invalid when a
 * TXT record announced a policy that could not be had; starttls-not-
 * supported for a session in the clear).  Domains under an operator's
 * override, and undecided ones, are not counted.  Never touches the
 * network.  Returns MTASTS_OK, or MTASTS_ERR_CACHE when the store cannot
 * take it (full, unreadable), with err set.
 *
 * RFC 8460 §4 reports a session under the policy it applied: pass it as
 * applied to mtasts_tlsrpt_session_applied() (a word from
 * mtasts_tlsrpt_applied_of(), NULL or "" when not known).  A session without
 * one - mtasts_tlsrpt_session(), a word that is not a policy - counts
 * under the policy the cache holds when mtasts tlsrpt counts it, which
 * may be a newer one.
 */
MTASTS_API mtasts_code mtasts_tlsrpt_session(struct mtasts_ctx *ctx,
    const char *domain, const char *host, const char *ip,
    const char *local_ip, bool tls, bool verified,
    const unsigned char *cert, size_t cert_len, struct mtasts_error *err);
MTASTS_API mtasts_code mtasts_tlsrpt_session_applied(struct mtasts_ctx *ctx,
    const char *domain, const char *host, const char *ip,
    const char *local_ip, bool tls, bool verified,
    const unsigned char *cert, size_t cert_len, const char *applied,
    struct mtasts_error *err);

/*
 * The policy decision d applies, as a word for
 * mtasts_tlsrpt_session_applied(): "ID:MODE:MAX_AGE:MX,MX,...", then
 * ":V,M,A" when the policy's lines were published in an order other
 * than version, mode, mx..., max_age (where its version, mode and
 * max_age lines stood: line_of), printable, without spaces, ";" or
 * quotes.  "" when the verdict is not
 * testing or enforce under the domain's own policy (an operator's
 * override is not reported), when ctx's configuration does not set
 * tlsrpt, or when it does not fit in len (2048 is always enough for a
 * policy of up to 75 patterns of 24 bytes).  Made from d alone, without
 * a second lookup: for an MTA that decides in one process and delivers
 * in another (Exim's routers and transport) and keeps the word between
 * them.  Returns MTASTS_OK, or MTASTS_ERR_USAGE for a NULL argument.
 */
MTASTS_API mtasts_code mtasts_tlsrpt_applied_of(struct mtasts_ctx *ctx,
    const struct mtasts_decision *d, char *out, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* MTASTS_H */
