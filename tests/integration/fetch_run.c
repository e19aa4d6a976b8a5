/*
 * fetch_run.c - fetch.c from the command line, for test_fetch.py:
 *
 *   fetch_run [--no-user-agent] CONFIG DOMAIN ADDRESS...
 *
 * fetches the policy of DOMAIN with fetch_now() from the ADDRESSes (as
 * DNS would have given them), under the CA store, timeouts and
 * connect_to of CONFIG, and prints one line:
 *
 *   code=CODE elapsed_ms=T[ id=... mode=... max_age=... expires=... mx=...]
 *   message=...
 *
 * Exit status 0 when a policy came, 1 if not, 2 on misuse.
 */
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "fetch.h"
#include "runner.h"

int
main(int argc, char **argv)
{
	struct mtasts_config *cfg;
	struct mtasts_policy *policy = NULL;
	struct mtasts_error err = {0};
	struct fetch f;
	bool user_agent = true;
	mtasts_code rc;
	int64_t start;

	if (argc > 1 && strcmp(argv[1], "--no-user-agent") == 0) {
		user_agent = false;
		argv++;
		argc--;
	}
	if (argc < 4) {
		fprintf(stderr,
		    "usage: fetch_run [--no-user-agent] CONFIG "
		    "DOMAIN ADDRESS...\n");
		return 2;
	}
	cfg = runner_config(argv[1]);
	start = mono_ms();
	rc = fetch_now(&f, cfg, argv[2], argv + 3, (size_t)argc - 3, user_agent,
	    &policy, &err);
	printf("code=%s elapsed_ms=%lld", rc == MTASTS_OK ? "ok" : err.name,
	    (long long)(mono_ms() - start));
	if (policy != NULL)
		runner_print_policy(policy);
	printf(" message=%s\n", rc == MTASTS_OK ? "" : err.message);
	fetch_cleanup(&f);
	mtasts_policy_free(policy);
	mtasts_config_free(cfg);
	return rc == MTASTS_OK ? 0 : 1;
}
