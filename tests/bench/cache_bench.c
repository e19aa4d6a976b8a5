/*
 * cache_bench.c - benchmarks of the cache, not tests.
 *
 *   cache_bench warm DIR N   N lookups of one cached domain through the
 *                            public API (mtasts_lookup), in one process
 *                            (MTASTS_BENCH_FLEET=URL: as a fleet's node)
 *   cache_bench size DIR N   N policies written; bytes of cache each
 *   cache_bench tlsrpt DIR N N TLS-RPT sessions of one cached domain
 *                            counted (mtasts_tlsrpt_session), in one
 *                            process; and the first of a process apart
 *
 * DIR is a fresh cache directory.  Figures go to stdout.
 */
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cache.h"
#include "clock.h"
#include "config.h"
#include "mtasts.h"

static struct mtasts_config *
config_for(const char *dir)
{
	char path[4096];
	FILE *f;
	struct mtasts_config *cfg;
	struct mtasts_error err;

	snprintf(path, sizeof(path), "%s.conf", dir);
	if ((f = fopen(path, "w")) == NULL)
		return NULL;
	/* a resolver that is never asked: every answer is in the cache */
	fprintf(f, "[mtasts]\nresolver = 127.0.0.1@9\ncache_dir = %s\n"
		   "cache_size = 1024\ntxt_recheck = 86400\ntlsrpt = yes\n"
		   "tlsrpt_spool = %s.spool\n",
	    dir, dir);
	/* the warm path of a fleet's node: never asks it (fleet.py) */
	if (getenv("MTASTS_BENCH_FLEET") != NULL)
		fprintf(f, "fleet = %s\n", getenv("MTASTS_BENCH_FLEET"));
	fclose(f);
	if (mtasts_config_load(path, &cfg, &err) != MTASTS_OK) {
		fprintf(stderr, "%s\n", err.message);
		return NULL;
	}
	return cfg;
}

/* A policy like most published ones: enforce, two MX, a week. */
static void
fill_entry(struct cache_entry *e, int64_t now, const char *domain)
{
	char body[512];
	int n;

	memset(e, 0, sizeof(*e));
	n = snprintf(body, sizeof(body),
	    "version: STSv1\nmode: enforce\nmx: mx1.%s\nmx: mx2.%s\n"
	    "max_age: 604800\n",
	    domain, domain);
	mtasts_policy_parse(body, (size_t)n, &e->policy, NULL);
	snprintf(e->policy->id, sizeof(e->policy->id), "20261122T000000");
	e->policy->expires = now + 604800;
	e->status = MTASTS_STATUS_FOUND;
	e->fetched = e->checked = now;
}

/* A configuration for dir, bench.example's policy in its cache, and a
 * context; -1 on failure. */
static int
cached_context(
    const char *dir, struct mtasts_config **cfg, struct mtasts_ctx **ctx)
{
	struct mtasts_error err;
	struct cache_entry e;
	struct cache *c;

	char spool[4096];

	snprintf(spool, sizeof(spool), "%s.spool", dir);
	mkdir(spool, 0700);
	if ((*cfg = config_for(dir)) == NULL ||
	    (c = cache_open(*cfg, &err)) == NULL)
		return -1;
	fill_entry(&e, wall_now(), "bench.example");
	cache_put(c, "bench.example", &e, &err);
	cache_entry_clear(&e);
	cache_close(c);
	return mtasts_ctx_new(*cfg, ctx, &err) == MTASTS_OK ? 0 : -1;
}

static int
warm(const char *dir, long n)
{
	struct mtasts_config *cfg;
	struct mtasts_ctx *ctx;
	struct mtasts_lookup *r;
	int64_t start, elapsed;
	long i;

	if (cached_context(dir, &cfg, &ctx) != 0)
		return 1;
	start = mono_ms();
	for (i = 0; i < n; i++) {
		if (mtasts_lookup(ctx, "bench.example", &r) != MTASTS_OK) {
			fprintf(stderr, "no lookup: out of memory\n");
			return 1;
		}
		if (r->status != MTASTS_STATUS_CACHED ||
		    r->source != MTASTS_SOURCE_CACHE) {
			fprintf(stderr, "not from the cache: %s\n",
			    r->error.message);
			return 1;
		}
		mtasts_lookup_free(r);
	}
	elapsed = mono_ms() - start;
	printf("warm lookups in one process: %ld in %lld ms: %.0f per second "
	       "(%.2f us each)\n",
	    n, (long long)elapsed, n * 1000.0 / (double)(elapsed ? elapsed : 1),
	    elapsed * 1000.0 / (double)n);
	mtasts_ctx_free(ctx);
	mtasts_config_free(cfg);
	return 0;
}

/* One session of a delivery as Exim's transport reports it. */
static int
session(struct mtasts_ctx *ctx)
{
	struct mtasts_error err;

	if (mtasts_tlsrpt_session(ctx, "bench.example", "mx1.bench.example",
	        "192.0.2.25", "198.51.100.1", true, true, NULL, 0, &err) !=
	    MTASTS_OK) {
		fprintf(stderr, "%s\n", err.message);
		return -1;
	}
	return 0;
}

static int
tlsrpt(const char *dir, long n)
{
	struct mtasts_config *cfg;
	struct mtasts_ctx *ctx;
	struct timespec t0, t1;
	int64_t start, elapsed;
	long i;

	if (cached_context(dir, &cfg, &ctx) != 0)
		return 1;
	/* the first of a process opens the cache and the store (each Exim
	 * delivery is a process of its own) */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (session(ctx) != 0)
		return 1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	start = mono_ms();
	for (i = 0; i < n; i++)
		if (session(ctx) != 0)
			return 1;
	elapsed = mono_ms() - start;
	printf("TLS-RPT sessions counted: the first of the process %.1f us; "
	       "then %ld in %lld ms: %.2f us each\n",
	    (double)(t1.tv_sec - t0.tv_sec) * 1e6 +
	        (double)(t1.tv_nsec - t0.tv_nsec) / 1e3,
	    n, (long long)elapsed, elapsed * 1000.0 / (double)n);
	mtasts_ctx_free(ctx);
	mtasts_config_free(cfg);
	return 0;
}

static int
size(const char *dir, long n)
{
	struct mtasts_config *cfg = config_for(dir);
	struct mtasts_error err;
	struct cache_entry e;
	struct cache *c;
	char domain[64];
	int64_t now = wall_now();
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_stat st;
	long i;

	if (cfg == NULL || (c = cache_open(cfg, &err)) == NULL)
		return 1;
	for (i = 0; i < n; i++) {
		snprintf(domain, sizeof(domain), "domain%ld.example", i);
		fill_entry(&e, now, domain);
		if (cache_put(c, domain, &e, &err) != MTASTS_OK) {
			fprintf(stderr, "%s\n", err.message);
			return 1;
		}
		cache_entry_clear(&e);
	}
	cache_close(c);
	/* pages in use, from LMDB itself */
	mdb_env_create(&env);
	mdb_env_set_mapsize(env, cfg->cache_size);
	if (mdb_env_open(env, dir, MDB_RDONLY, 0) != 0)
		return 1;
	mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
	mdb_dbi_open(txn, NULL, 0, &dbi);
	mdb_stat(txn, dbi, &st);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	printf("cache size: %ld policies in %zu pages of %u bytes: %.0f bytes "
	       "per policy\n",
	    n, st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages,
	    st.ms_psize,
	    (double)(st.ms_branch_pages + st.ms_leaf_pages +
		st.ms_overflow_pages) *
		st.ms_psize / (double)n);
	mtasts_config_free(cfg);
	return 0;
}

int
main(int argc, char **argv)
{
	long n;

	if (argc != 4 || (n = atol(argv[3])) <= 0) {
		fprintf(stderr, "usage: cache_bench warm|size|tlsrpt DIR N\n");
		return 2;
	}
	if (strcmp(argv[1], "tlsrpt") == 0)
		return tlsrpt(argv[2], n);
	if (strcmp(argv[1], "warm") == 0)
		return warm(argv[2], n);
	if (strcmp(argv[1], "size") == 0)
		return size(argv[2], n);
	fprintf(stderr, "usage: cache_bench warm|size|tlsrpt DIR N\n");
	return 2;
}
