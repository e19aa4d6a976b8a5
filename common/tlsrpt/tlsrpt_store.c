/*
 * tlsrpt_store.c - the TLS-RPT store's one door: the backend
 * tlsrpt_backend names (tlsrpt_backend.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "named.h"
#include "tlsrpt_backend.h"

/* The backends, by name; the first is the default. */
static const struct tlsrpt_backend *const backends[] = {
	&lmdb_tlsrpt_backend,
	&redis_tlsrpt_backend,
};

struct tlsrpt_store {
	const struct tlsrpt_backend *backend;
	void *store; /* the backend's */
};

static const struct tlsrpt_backend *
backend_named(const char *name)
{
	return named_in((const void *const *)backends,
	    sizeof(backends) / sizeof(backends[0]), name);
}

bool
tlsrpt_backend_known(const char *name)
{
	return backend_named(name) != NULL;
}

/* The backend's name: tlsrpt_backend, else the fleet's when there is a
 * fleet (one report per organization), else the default (NULL). */
static const char *
backend_of(const struct mtasts_config *cfg)
{
	if (cfg->tlsrpt_backend != NULL)
		return cfg->tlsrpt_backend;
	return cfg->fleet != FLEET_NONE ? redis_tlsrpt_backend.name : NULL;
}

bool
tlsrpt_store_shared(const struct mtasts_config *cfg)
{
	const char *name = backend_of(cfg);

	return name != NULL && strcmp(name, redis_tlsrpt_backend.name) == 0;
}

struct tlsrpt_store *
tlsrpt_store_open(const struct mtasts_config *cfg, struct mtasts_error *err)
{
	const struct tlsrpt_backend *b = backend_named(backend_of(cfg));
	struct tlsrpt_store *s;

	if (b == NULL) {
		mtasts_error_set(err, MTASTS_ERR_CONFIG,
		    "tlsrpt_backend %s: no such backend", cfg->tlsrpt_backend);
		return NULL;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		mtasts_error_set(err, MTASTS_ERR_NOMEM, "out of memory");
		return NULL;
	}
	s->backend = b;
	if ((s->store = b->open(cfg, err)) == NULL) {
		free(s);
		return NULL;
	}
	return s;
}

void
tlsrpt_store_close(struct tlsrpt_store *s)
{
	if (s == NULL)
		return;
	s->backend->close(s->store);
	free(s);
}

mtasts_code
tlsrpt_store_add(struct tlsrpt_store *s, const char *day,
    const struct tlsrpt_session *x, struct mtasts_error *err)
{
	return s->backend->add(s->store, day, x, err);
}

mtasts_code
tlsrpt_store_fold(struct tlsrpt_store *s, const char *day,
    const struct tlsrpt_session *xs, size_t n, uint64_t offset,
    struct mtasts_error *err)
{
	return s->backend->fold(s->store, day, xs, n, offset, err);
}

mtasts_code
tlsrpt_store_offset(struct tlsrpt_store *s, const char *day,
    uint64_t *offset, struct mtasts_error *err)
{
	return s->backend->offset(s->store, day, offset, err);
}

json_t *
tlsrpt_store_day(struct tlsrpt_store *s, const char *day, const char *domain,
    struct mtasts_error *err)
{
	return s->backend->day(s->store, day, domain, err);
}

json_t *
tlsrpt_store_days(struct tlsrpt_store *s, struct mtasts_error *err)
{
	return s->backend->days(s->store, err);
}

mtasts_code
tlsrpt_store_state(struct tlsrpt_store *s, const char *day,
    const char *domain, const char *rua, char *state, size_t len,
    struct mtasts_error *err)
{
	return s->backend->state_of(s->store, day, domain, rua, state, len, err);
}

mtasts_code
tlsrpt_store_set_state(struct tlsrpt_store *s, const char *day,
    const char *domain, const char *rua, const char *state,
    struct mtasts_error *err)
{
	return s->backend->set_state(s->store, day, domain, rua, state, err);
}

mtasts_code
tlsrpt_store_prune(
    struct tlsrpt_store *s, const char *day, struct mtasts_error *err)
{
	return s->backend->prune(s->store, day, err);
}

int
tlsrpt_store_claim(struct tlsrpt_store *s, const char *day,
    const char *domain, const char *rua, struct mtasts_error *err)
{
	if (s->backend->claim == NULL)
		return 1;
	return s->backend->claim(s->store, day, domain, rua, err);
}

void
tlsrpt_store_release(struct tlsrpt_store *s, const char *day,
    const char *domain, const char *rua)
{
	if (s->backend->release != NULL)
		s->backend->release(s->store, day, domain, rua);
}

mtasts_code
tlsrpt_store_folded(
    struct tlsrpt_store *s, int64_t now, struct mtasts_error *err)
{
	if (s->backend->folded == NULL)
		return MTASTS_OK;
	return s->backend->folded(s->store, now, err);
}

int
tlsrpt_store_ready(struct tlsrpt_store *s, const char *day, int64_t now,
    char *who, size_t len, struct mtasts_error *err)
{
	if (s->backend->ready == NULL)
		return 1;
	return s->backend->ready(s->store, day, now, who, len, err);
}

/* A field of a key or row: printable, no spaces; "" becomes "-". */
static bool
field_ok(const char *f, size_t max)
{
	size_t n = strlen(f);
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)f[i] <= ' ' || (unsigned char)f[i] >= 0x7f)
			return false;
	return n <= max;
}

static const char *
or_dash(const char *f)
{
	return f != NULL && f[0] != '\0' ? f : "-";
}

static const char *
dash_empty(const char *f)
{
	return strcmp(f, "-") != 0 ? f : "";
}

bool
tlsrpt_session_ok(const struct tlsrpt_session *x)
{
	return x->domain != NULL && x->domain[0] != '\0' &&
	    field_ok(x->domain, 253) && field_ok(or_dash(x->sending_ip), 64) &&
	    field_ok(or_dash(x->mx_host), 253) &&
	    field_ok(or_dash(x->receiving_ip), 64) &&
	    (x->result == NULL || field_ok(x->result, 40));
}

const char *
tlsrpt_policy_of(const struct tlsrpt_session *x)
{
	return x->sts && x->policy != NULL ? x->policy : "";
}

void
tlsrpt_row_of(const struct tlsrpt_session *x, char *row)
{
	snprintf(row, TLSRPT_ROW_MAX, "%s %s %s %s",
	    x->result != NULL ? x->result : "-", or_dash(x->sending_ip),
	    or_dash(x->mx_host), or_dash(x->receiving_ip));
}

json_t *
tlsrpt_row_json(const char *text, size_t len, uint64_t n)
{
	char row[TLSRPT_ROW_MAX], f[4][TLSRPT_ROW_MAX];

	if (len >= sizeof(row))
		return NULL;
	memcpy(row, text, len);
	row[len] = '\0';
	if (sscanf(row, "%399s %399s %399s %399s", f[0], f[1], f[2], f[3]) !=
	    4)
		return NULL;
	return json_pack("{s:s, s:s, s:s, s:s, s:I}", "result", f[0],
	    "sending_ip", dash_empty(f[1]), "mx_host", dash_empty(f[2]),
	    "receiving_ip", dash_empty(f[3]), "count", (json_int_t)n);
}

json_t *
tlsrpt_policy_json(bool sts, json_t *text, uint64_t success,
    uint64_t failure, uint64_t dropped, json_t *details)
{
	return json_pack("{s:s, s:o, s:I, s:I, s:I, s:o}", "type",
	    sts ? "sts" : "no-policy-found", "policy", text, "success",
	    (json_int_t)success, "failure", (json_int_t)failure, "dropped",
	    (json_int_t)dropped, "details", details);
}
