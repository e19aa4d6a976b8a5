/*
 * fuzz_dns_name.c - host names as read from DNS answers
 * (dns_decode_name in common/net/dns.c), at the offsets decode_rdata reads
 * them: 0 (CNAME) and 2 (MX, after the preference), into the buffer it
 * uses and into one the input's first byte sizes.  A name that decodes
 * is dotted text of letters, digits, '-' and '_' in labels of 1 to 63
 * bytes, and fits its buffer.
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"
#include "fuzz.h"

const char *const fuzz_words[] = {"\007example", "\003com", "\004_tcp", "\077",
    "\100", "\300", "-", ".", NULL};

static void
check_name(const char *name, size_t outlen)
{
	size_t n = strlen(name), label = 0, i;

	fuzz_assert(n < outlen);
	if (n == 0)
		return; /* the root */
	fuzz_assert(name[0] != '.' && name[n - 1] != '.');
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c == '.') {
			fuzz_assert(label > 0);
			label = 0;
			continue;
		}
		fuzz_assert((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_');
		fuzz_assert(++label <= 63);
	}
}

/* Decodes into a buffer of exactly outlen bytes, for ASan to see. */
static void
decode(const uint8_t *data, size_t size, size_t pos, size_t outlen)
{
	char *out = malloc(outlen);

	if (out == NULL)
		return;
	if (dns_decode_name(data, size, pos, out, outlen) == 0)
		check_name(out, outlen);
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* decode_rdata's buffer */
	enum { RDATA_BUF = INET6_ADDRSTRLEN + 256 };

	decode(data, size, 0, RDATA_BUF);
	if (size >= 3)
		decode(data, size, 2, RDATA_BUF);
	if (size >= 1)
		decode(data + 1, size - 1, 0, 1 + (size_t)data[0]);
	return 0;
}
