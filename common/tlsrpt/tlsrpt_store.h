/*
 * tlsrpt_store.h - the TLS-RPT store (RFC 8460 as a sender): the outcome of
 * every TLS session of a delivery, counted per UTC day, policy domain and
 * policy, in the backend tlsrpt_backend names (tlsrpt_backend.h; LMDB
 * beside the cache by default, store/lmdb/lmdb_tlsrpt.c).  Deliveries
 * append their sessions to a spool file (tlsrpt_spool.h); mtasts tlsrpt
 * folds them in here, with each domain's policy (internal to the
 * command).
 *
 * Bounded: the map never grows past tlsrpt_size, and each policy of a
 * day keeps at most tlsrpt_details failure-detail rows; a failure that
 * would need one more row is counted in the summary and in "dropped".
 * When the map is full the session is not counted (MTASTS_ERR_CACHE).
 */
#ifndef MTASTS_TLSRPT_STORE_H
#define MTASTS_TLSRPT_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "mtasts_core.h"
#include "tlsrpt_day.h"


/* One TLS session of a delivery. */
struct tlsrpt_session {
	const char *domain; /* the policy domain, an A-label */
	bool sts; /* policy-type sts, else no-policy-found */
	const char *policy; /* sts: the policy's lines, "\n" between them */
	const char *result; /* NULL: success; else an RFC 8460 result-type */
	const char *sending_ip; /* each "" when unknown */
	const char *mx_host;
	const char *receiving_ip;
};

struct tlsrpt_store;

/* Whether a backend of this name exists (NULL: the default does). */
bool tlsrpt_backend_known(const char *name);

/* Opens (creating it) the store of cfg; NULL with err set. */
struct tlsrpt_store *tlsrpt_store_open(
    const struct mtasts_config *cfg, struct mtasts_error *err);
void tlsrpt_store_close(struct tlsrpt_store *s);

/* Counts one session on day ("YYYY-MM-DD", UTC); MTASTS_ERR_USAGE for a
 * malformed field. */
mtasts_code tlsrpt_store_add(struct tlsrpt_store *s, const char *day,
    const struct tlsrpt_session *x, struct mtasts_error *err);

/*
 * Counts the well-formed sessions of xs[n] on day and notes, in the same
 * transaction, that day's spool file is read up to offset: a fold a crash
 * cuts short is done again from where the last one ended, never counted
 * twice.  tlsrpt_store_offset() says where that is (0 at first).
 */
mtasts_code tlsrpt_store_fold(struct tlsrpt_store *s, const char *day,
    const struct tlsrpt_session *xs, size_t n, uint64_t offset,
    struct mtasts_error *err);
mtasts_code tlsrpt_store_offset(struct tlsrpt_store *s, const char *day,
    uint64_t *offset, struct mtasts_error *err);

/*
 * What day holds, one JSON object per policy domain (all of them, or
 * only domain):
 *   {"DOMAIN": [{"type": "sts"|"no-policy-found", "policy": "...",
 *                "success": N, "failure": N, "dropped": N,
 *                "details": [{"result": ..., "sending_ip": ...,
 *                             "mx_host": ..., "receiving_ip": ...,
 *                             "count": N}]}]}
 * NULL with err set on failure.
 */
json_t *tlsrpt_store_day(struct tlsrpt_store *s, const char *day,
    const char *domain, struct mtasts_error *err);

/* The days the store holds, oldest first (a JSON array of strings). */
json_t *tlsrpt_store_days(struct tlsrpt_store *s, struct mtasts_error *err);

/* The delivery state of a report (day, domain, rua): "" when none yet. */
mtasts_code tlsrpt_store_state(struct tlsrpt_store *s, const char *day,
    const char *domain, const char *rua, char *state, size_t len,
    struct mtasts_error *err);
mtasts_code tlsrpt_store_set_state(struct tlsrpt_store *s, const char *day,
    const char *domain, const char *rua, const char *state,
    struct mtasts_error *err);

/*
 * The right to send the report (day, domain, rua) now: 1 taken (let go
 * of it with tlsrpt_store_release once its state is written), 0 when
 * another node of the fleet is sending it, -1 with err set.  A store of
 * one host has nothing to claim: always 1.
 */
int tlsrpt_store_claim(struct tlsrpt_store *s, const char *day,
    const char *domain, const char *rua, struct mtasts_error *err);
void tlsrpt_store_release(struct tlsrpt_store *s, const char *day,
    const char *domain, const char *rua);

/*
 * In a fleet, a day's reports wait for every node's sessions of it:
 * tlsrpt_store_folded() notes that this node counted its whole spool at
 * now; tlsrpt_store_ready() is 1 when every node that counted within
 * the last TLSRPT_NODE_ACTIVE seconds did so after day ended, 0 when one
 * did not (its name in who), -1 with err set.  A store of one host is
 * always ready.
 */
#define TLSRPT_NODE_ACTIVE (26 * 3600)
mtasts_code tlsrpt_store_folded(
    struct tlsrpt_store *s, int64_t now, struct mtasts_error *err);
int tlsrpt_store_ready(struct tlsrpt_store *s, const char *day, int64_t now,
    char *who, size_t len, struct mtasts_error *err);

/* Whether cfg's TLS-RPT store is the fleet's (fleet set and
 * tlsrpt_backend not; or tlsrpt_backend = redis): one report per
 * organization, named fleet_name. */
bool tlsrpt_store_shared(const struct mtasts_config *cfg);

/* Removes every day before day (its counts and delivery states). */
mtasts_code tlsrpt_store_prune(
    struct tlsrpt_store *s, const char *day, struct mtasts_error *err);



#endif
