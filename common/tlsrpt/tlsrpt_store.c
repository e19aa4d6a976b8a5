/*
 * tlsrpt_store.c - the TLS-RPT store's one door: the backend
 * tlsrpt_backend names (tlsrpt_backend.h).
 */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "named.h"
#include "tlsrpt_backend.h"

/* The backends, by name; the first is the default. */
static const struct tlsrpt_backend *const backends[] = {
	&lmdb_tlsrpt_backend,
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

struct tlsrpt_store *
tlsrpt_store_open(const struct mtasts_config *cfg, struct mtasts_error *err)
{
	const struct tlsrpt_backend *b = backend_named(cfg->tlsrpt_backend);
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
