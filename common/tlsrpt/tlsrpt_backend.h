/*
 * tlsrpt_backend.h - what a TLS-RPT store does, chosen by name
 * (tlsrpt_backend = NAME in mtasts.conf) as the policy cache's backend is
 * (store/cache_backend.h).  tlsrpt_store.c is the only caller, and
 * tlsrpt_store.h says what each operation promises; each takes the
 * backend's own object, made by open.  Adding a backend: one file that
 * defines a struct tlsrpt_backend, one line in tlsrpt_store.c's table
 * (internal to the command).
 */
#ifndef MTASTS_TLSRPT_BACKEND_H
#define MTASTS_TLSRPT_BACKEND_H

#include "tlsrpt_store.h"

struct tlsrpt_backend {
	const char *name;
	void *(*open)(const struct mtasts_config *cfg, struct mtasts_error *err);
	void (*close)(void *store);
	mtasts_code (*add)(void *store, const char *day,
	    const struct tlsrpt_session *x, struct mtasts_error *err);
	/* the sessions and the spool offset in one atomic step */
	mtasts_code (*fold)(void *store, const char *day,
	    const struct tlsrpt_session *xs, size_t n, uint64_t offset,
	    struct mtasts_error *err);
	mtasts_code (*offset)(void *store, const char *day, uint64_t *offset,
	    struct mtasts_error *err);
	json_t *(*day)(void *store, const char *day, const char *domain,
	    struct mtasts_error *err);
	json_t *(*days)(void *store, struct mtasts_error *err);
	mtasts_code (*state_of)(void *store, const char *day, const char *domain,
	    const char *rua, char *state, size_t len, struct mtasts_error *err);
	mtasts_code (*set_state)(void *store, const char *day,
	    const char *domain, const char *rua, const char *state,
	    struct mtasts_error *err);
	mtasts_code (*prune)(
	    void *store, const char *day, struct mtasts_error *err);
	/* a store several hosts send from (NULL: one host's, whose run
	 * lock is claim enough) */
	int (*claim)(void *store, const char *day, const char *domain,
	    const char *rua, struct mtasts_error *err);
	void (*release)(void *store, const char *day, const char *domain,
	    const char *rua);
	mtasts_code (*folded)(void *store, int64_t now, struct mtasts_error *err);
	int (*ready)(void *store, const char *day, int64_t now, char *who,
	    size_t len, struct mtasts_error *err);
};

/* The backends, each in its own file. */
extern const struct tlsrpt_backend lmdb_tlsrpt_backend;
extern const struct tlsrpt_backend redis_tlsrpt_backend;

/* What every backend keeps alike (tlsrpt_store.c). */

#define TLSRPT_ROW_MAX 400 /* a failure-detail row's text, with its NUL */

/* Whether x's fields may be counted: printable, no spaces, bounded. */
bool tlsrpt_session_ok(const struct tlsrpt_session *x);
/* The policy's text a session is counted under ("" without one). */
const char *tlsrpt_policy_of(const struct tlsrpt_session *x);
/* A failure's detail row, "RESULT SENDING-IP MX-HOST RECEIVING-IP" ("-"
 * for an empty field), into row[TLSRPT_ROW_MAX]. */
void tlsrpt_row_of(const struct tlsrpt_session *x, char *row);
/* A detail row's JSON ({"result": ..., "count": n}), from its text of
 * len bytes; NULL when the text is not a row. */
json_t *tlsrpt_row_json(const char *text, size_t len, uint64_t n);
/* One policy's summary as tlsrpt_store_day() lists it (details taken). */
json_t *tlsrpt_policy_json(bool sts, json_t *text, uint64_t success,
    uint64_t failure, uint64_t dropped, json_t *details);

#endif
