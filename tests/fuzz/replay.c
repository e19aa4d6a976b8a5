/*
 * replay.c - the fuzz targets without libFuzzer: each seed, then a fixed
 * number of deterministic mutations of it (flipped, inserted and deleted
 * bytes, words of the target's grammar), so the sanitizer build checks
 * them on every test run.  Also fuzz_fail, for both builds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

void
fuzz_fail(const char *what, const char *file, int line)
{
	fprintf(stderr, "%s:%d: property broken: %s\n", file, line, what);
	abort();
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

static size_t
insert(uint8_t *buf, size_t len, size_t cap, size_t at, const void *b, size_t n)
{
	if (n > cap - len)
		return len;
	memmove(buf + at + n, buf + at, len - at);
	memcpy(buf + at, b, n);
	return len + n;
}

/* Enough to walk past every branch of small parsers when the seeds are
 * good. */
static size_t
mutate(uint8_t *buf, size_t len, size_t cap)
{
	static const char alphabet[] =
	    "\0\r\n\t :;=*.-_|@<>[]#vVsSTmx0123456789\xff\xc3";
	size_t words = 0;
	int k, edits = 1 + (int)(next() % 8);

	while (fuzz_words[words] != NULL)
		words++;
	for (k = 0; k < edits; k++) {
		size_t at = len > 0 ? next() % len : 0;
		uint8_t byte;

		switch (next() % 4) {
		case 0:
			if (len > 0)
				buf[at] = (uint8_t)
				    alphabet[next() % (sizeof(alphabet) - 1)];
			break;
		case 1:
			byte = (uint8_t)(next() & 0xff);
			len = insert(buf, len, cap, at, &byte, 1);
			break;
		case 2:
			if (words > 0) {
				const char *w = fuzz_words[next() % words];

				len = insert(buf, len, cap, at, w, strlen(w));
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
	static uint8_t seed[CAP], buf[CAP];
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
