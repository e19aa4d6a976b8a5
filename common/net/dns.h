/*
 * dns.h - DNS through libunbound, asynchronous, every query with a deadline
 * (internal to libmtasts).
 */
#ifndef MTASTS_DNS_H
#define MTASTS_DNS_H

#include <stdint.h>

#include "clock.h"
#include "config.h"
#include "mtasts_core.h"

#define DNS_TYPE_A 1
#define DNS_TYPE_CNAME 5
#define DNS_TYPE_MX 15
#define DNS_TYPE_TXT 16
#define DNS_TYPE_AAAA 28
#define DNS_TYPE_TLSA 52

/*
 * One answer.  code is MTASTS_OK, MTASTS_ERR_DNS_NXDOMAIN,
 * MTASTS_ERR_DNS_NODATA, MTASTS_ERR_DNS (SERVFAIL, REFUSED, bogus, ...) or
 * MTASTS_ERR_TIMEOUT, with message saying which.  data[i] has len[i] bytes
 * and a NUL after them: TXT the record's strings joined, MX the host name
 * (pref[i] its preference), A and AAAA the address as text, TLSA the raw
 * record.
 */
struct dns_answer {
	mtasts_code code;
	char message[400];
	enum mtasts_dnssec dnssec;
	int rrtype;
	size_t count;
	char **data;
	size_t *len;
	uint16_t *pref;
};

struct dns;

/* Called once per query, with an answer the callee must dns_answer_free();
 * NULL when memory ran out. */
typedef void (*dns_done)(void *arg, struct dns_answer *answer);

struct dns *dns_new(const struct mtasts_config *cfg, struct mtasts_error *err);
void dns_free(struct dns *dns);

/*
 * Starts a query that ends by deadline_ms (a mono_ms() time).  Returns 0,
 * or -1 when it could not start (then done has been called with the
 * error already).
 */
int dns_start(struct dns *dns, const char *name, int rrtype,
    int64_t deadline_ms, dns_done done, void *arg);

/* The descriptor that turns readable when answers wait; -1 if none. */
int dns_fd(struct dns *dns);

/* Delivers waiting answers and ends overdue queries with a timeout. */
void dns_process(struct dns *dns, int64_t now_ms);

/* The soonest deadline of a pending query, or -1 when none is pending. */
int64_t dns_next_deadline(const struct dns *dns);

/* Number of queries still pending. */
size_t dns_pending(const struct dns *dns);

void dns_answer_free(struct dns_answer *answer);

/*
 * The wire-format name (RFC 1035 §3.1, no compression) at rd[pos..len) as
 * dotted text without the trailing dot, in out (outlen bytes with the
 * NUL).  Returns 0, or -1 when the name runs past len, does not fit, or
 * has a label with a byte no host name has (anything but letters, digits,
 * '-' and '_'): such text could name another host or break a log line.
 * Exposed for the fuzzer; answers are decoded with it.
 */
int dns_decode_name(
    const unsigned char *rd, size_t len, size_t pos, char *out, size_t outlen);

/*
 * One query, waited for (at most timeout_ms): for programs that ask one
 * thing at a time, such as mtasts check.  Never NULL but when memory ran
 * out; the caller frees the answer.
 */
struct dns_answer *dns_lookup(
    struct dns *dns, const char *name, int rrtype, long timeout_ms);

#endif
