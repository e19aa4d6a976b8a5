/*
 * fuzz_parsers.c - the policy parsers behind one fuzz entry point: the
 * policy, the _mta-sts TXT records, the TLS-RPT record, mx patterns and
 * host matching.  The other targets of this directory take the other
 * parsers of hostile bytes (fuzz.h says how a target is built and run).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "mtasts.h"
#include "tlsrpt_txt.h"

const char *const fuzz_words[] = {"version: STSv1", "mode: enforce",
    "mode: testing", "max_age: ", "mx: ", "*.", "v=STSv1;",
    "id=", "v=TLSRPTv1;", "rua=mailto:", "https://", NULL};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	const char *records[8];
	size_t lens[8], n = 0, start = 0, i;
	struct mtasts_policy *policy = NULL;
	struct mtasts_mx_result mx;
	struct tlsrpt rpt;
	char id[MTASTS_ID_MAX + 1], *host;

	if (mtasts_policy_parse(text, size, &policy, NULL) == MTASTS_OK) {
		/* a parsed policy must be usable */
		host = malloc(size + 1);
		if (host != NULL) {
			memcpy(host, data, size);
			host[size] = '\0';
			mtasts_validate_mx(policy, host, &mx);
			free(host);
		}
		mtasts_policy_free(policy);
	}
	/* NUL bytes split the input into TXT records */
	for (i = 0; i <= size && n < 8; i++)
		if (i == size || data[i] == '\0') {
			records[n] = text + start;
			lens[n++] = i - start;
			start = i + 1;
		}
	mtasts_txt_parse(records, lens, n, id, NULL);
	tlsrpt_parse(records, lens, n, &rpt, NULL);
	if (n >= 2) {
		char *a = strndup(records[0], lens[0]);
		char *b = strndup(records[1], lens[1]);

		if (a != NULL && b != NULL) {
			mtasts_mx_pattern_check(a, lens[0], NULL);
			mtasts_mx_match(a, b);
		}
		free(a);
		free(b);
	}
	return 0;
}
