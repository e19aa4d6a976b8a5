/*
 * fuzz_parsers.c - every parser of hostile bytes, behind one fuzz entry
 * point: the policy, the _mta-sts TXT records, the TLS-RPT record, mx
 * patterns and host matching.
 *
 * Built with -Dfuzz=true (clang), it is a libFuzzer target:
 *   meson setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined \
 *     && ninja -C build-fuzz && build-fuzz/tests/fuzz/fuzz_parsers
 * Otherwise it is a test: it runs the seeds and a fixed number of
 * deterministic mutations of them, so the sanitizer build checks them.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtasts.h"
#include "tlsrpt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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

#ifndef MTASTS_LIBFUZZER
static uint64_t state = 88172645463325252ull;

static uint64_t
next(void)
{
	state ^= state << 13;
	state ^= state >> 7;
	state ^= state << 17;
	return state;
}

/* Flips, inserts and deletes bytes: enough to walk past every branch of
 * small parsers when the seeds are good. */
static size_t
mutate(uint8_t *buf, size_t len, size_t cap)
{
	int k, edits = 1 + (int)(next() % 8);
	static const char alphabet[] = "\0\r\n\t :;=*.-_vVsSTmx0123456789\xff\xc3";

	for (k = 0; k < edits; k++) {
		size_t at = len > 0 ? next() % len : 0;

		switch (next() % 3) {
		case 0:
			if (len > 0)
				buf[at] = (uint8_t)alphabet[next() %
				    (sizeof(alphabet) - 1)];
			break;
		case 1:
			if (len < cap) {
				memmove(buf + at + 1, buf + at, len - at);
				buf[at] = (uint8_t)(next() & 0xff);
				len++;
			}
			break;
		default:
			if (len > 0) {
				memmove(buf + at, buf + at + 1, len - at - 1);
				len--;
			}
		}
	}
	return len;
}

int
main(int argc, char **argv)
{
	enum { CAP = 4096, ROUNDS = 20000 };
	uint8_t seed[CAP], buf[CAP];
	int i, r;

	for (i = 1; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		size_t len;

		if (f == NULL) {
			perror(argv[i]);
			return 1;
		}
		len = fread(seed, 1, CAP, f);
		fclose(f);
		LLVMFuzzerTestOneInput(seed, len);
		for (r = 0; r < ROUNDS; r++) {
			memcpy(buf, seed, len);
			LLVMFuzzerTestOneInput(buf, mutate(buf, len, CAP));
		}
	}
	printf("%d seeds, %d mutations each: no crash\n", argc - 1, ROUNDS);
	return 0;
}
#endif
