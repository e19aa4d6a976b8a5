/*
 * node_bench.c - one delivery process of a node, for tests/bench/fleet.py
 * (a benchmark, not a test):
 *
 *   node_bench CONFIG FILE   looks up each domain of FILE (one a line)
 *                            one at a time through mtasts_lookup(), the
 *                            MTAs' path, with its discovery locks
 *
 * Prints one line: how many answers came from the network, from the
 * cache (this node's or, on a local miss, the fleet's copied in), how
 * many were not decided, and the wall time.
 */
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "mtasts.h"

int
main(int argc, char **argv)
{
	struct mtasts_config *cfg;
	struct mtasts_ctx *ctx;
	struct mtasts_lookup *r;
	struct mtasts_error err;
	long network = 0, cache = 0, undecided = 0;
	char line[512];
	int64_t start;
	FILE *f;

	if (argc != 3) {
		fprintf(stderr, "usage: node_bench CONFIG FILE\n");
		return 2;
	}
	if (mtasts_config_load(argv[1], &cfg, &err) != MTASTS_OK ||
	    mtasts_ctx_new(cfg, &ctx, &err) != MTASTS_OK) {
		fprintf(stderr, "%s\n", err.message);
		return 1;
	}
	if ((f = fopen(argv[2], "r")) == NULL) {
		perror(argv[2]);
		return 1;
	}
	start = mono_ms();
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (mtasts_lookup(ctx, line, &r) != MTASTS_OK)
			return 1;
		if (r->undecided)
			undecided++;
		else if (r->source == MTASTS_SOURCE_CACHE)
			cache++;
		else
			network++;
		mtasts_lookup_free(r);
	}
	fclose(f);
	printf("network %ld cache %ld undecided %ld ms %lld\n", network, cache,
	    undecided, (long long)(mono_ms() - start));
	mtasts_ctx_free(ctx);
	mtasts_config_free(cfg);
	return 0;
}
