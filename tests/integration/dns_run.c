/*
 * dns_run.c - dns.c from the command line, for test_dns.py:
 *
 *   dns_run CONFIG TIMEOUT_MS TYPE:NAME...
 *
 * asks the resolver of CONFIG each TYPE (txt, mx, a, aaaa, cname) of NAME
 * with a deadline of TIMEOUT_MS: one query through dns_lookup(), several
 * at once through dns_start() and one loop over dns_fd(), dns_process()
 * and dns_next_deadline().  Prints each answer as it ends:
 *
 *   answer=I code=CODE count=N elapsed_ms=T message=...
 *   record=I pref=P len=L data=...
 *
 * (I the query's place among the arguments).  Exit status 0, or 2 on
 * misuse.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dns.h"
#include "runner.h"

struct ask {
	int index;
	int64_t start;
};

static int
rrtype_of(const char *name)
{
	static const struct {
		const char *name;
		int type;
	} types[] = {{"txt", DNS_TYPE_TXT}, {"mx", DNS_TYPE_MX},
	    {"a", DNS_TYPE_A}, {"aaaa", DNS_TYPE_AAAA},
	    {"cname", DNS_TYPE_CNAME}};
	size_t i;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcasecmp(name, types[i].name) == 0)
			return types[i].type;
	return -1;
}

static void
print_answer(int index, int64_t start, struct dns_answer *a)
{
	size_t i;

	if (a == NULL) {
		printf("answer=%d code=out_of_memory count=0 elapsed_ms=%lld "
		       "message=\n",
		    index, (long long)(mono_ms() - start));
		return;
	}
	printf("answer=%d code=%s count=%zu elapsed_ms=%lld message=%s\n",
	    index, a->code == MTASTS_OK ? "ok" : mtasts_code_name(a->code),
	    a->count, (long long)(mono_ms() - start), a->message);
	for (i = 0; i < a->count; i++)
		printf("record=%d pref=%u len=%zu data=%s\n", index,
		    a->rrtype == DNS_TYPE_MX ? a->pref[i] : 0, a->len[i],
		    a->data[i]);
	dns_answer_free(a);
}

static void
on_answer(void *arg, struct dns_answer *a)
{
	struct ask *ask = arg;

	print_answer(ask->index, ask->start, a);
}

/* Several queries at once, driven as discover.c drives them. */
static void
run_together(
    struct dns *dns, int n, char **names, const int *types, long timeout_ms)
{
	struct ask asks[64]; /* main() takes at most 64 names */
	int64_t start = mono_ms();
	int i;

	for (i = 0; i < n; i++) {
		asks[i] = (struct ask){i, start};
		dns_start(dns, names[i], types[i], start + timeout_ms,
		    on_answer, &asks[i]);
	}
	printf("pending=%zu next_deadline_ms=%lld\n", dns_pending(dns),
	    (long long)(dns_next_deadline(dns) - start));
	while (dns_pending(dns) > 0) {
		struct pollfd pfd = {.fd = dns_fd(dns), .events = POLLIN};
		int64_t left = dns_next_deadline(dns) - mono_ms();

		poll(&pfd, pfd.fd >= 0 ? 1 : 0, left > 0 ? (int)left : 0);
		dns_process(dns, mono_ms());
	}
	printf("pending=%zu next_deadline_ms=%lld\n", dns_pending(dns),
	    (long long)dns_next_deadline(dns));
}

int
main(int argc, char **argv)
{
	struct mtasts_config *cfg;
	struct mtasts_error err;
	struct dns *dns;
	char *names[64];
	int types[64], i, n = argc - 3;
	long timeout_ms;

	if (argc < 4 || n > 64) {
		fprintf(
		    stderr, "usage: dns_run CONFIG TIMEOUT_MS TYPE:NAME...\n");
		return 2;
	}
	timeout_ms = atol(argv[2]);
	for (i = 0; i < n; i++) {
		char *colon = strchr(argv[i + 3], ':');

		if (colon == NULL)
			return 2;
		*colon = '\0';
		if ((types[i] = rrtype_of(argv[i + 3])) < 0)
			return 2;
		names[i] = colon + 1;
	}
	cfg = runner_config(argv[1]);
	if ((dns = dns_new(cfg, &err)) == NULL) {
		fprintf(stderr, "%s\n", err.message);
		return 2;
	}
	if (n == 1) {
		int64_t start = mono_ms();

		print_answer(
		    0, start, dns_lookup(dns, names[0], types[0], timeout_ms));
	} else {
		run_together(dns, n, names, types, timeout_ms);
	}
	dns_free(dns);
	mtasts_config_free(cfg);
	return 0;
}
