/*
 * fuzz_filter_line.c - the lines smtpd writes to filter-mtasts
 * (opensmtpd/protocol.c), cut as the filter cuts its input: at each
 * newline, a line holding a NUL byte dropped.  A request's session id and
 * token, echoed in the answer, are hex; the recipient's domain is in the
 * address and holds no '>'.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "protocol.h"

const char *const fuzz_words[] = {"filter|", "report|", "config|", "ready",
    "protocol|0.7", "|0.6|", "|1700000000.000000|", "smtp-in|", "rcpt-to|",
    "mail-from|", "|7f3a|", "<user@", "example.com>", NULL};

static bool
is_hex(const char *s)
{
	return s[0] != '\0' && strspn(s, "0123456789abcdef") == strlen(s);
}

static void
check_line(char *line, const char *end)
{
	struct protocol_line l;
	char *domain;

	protocol_parse(line, &l);
	switch (l.kind) {
	case PROTOCOL_VERSION:
		fuzz_assert(strchr(l.version, '|') == NULL);
		break;
	case PROTOCOL_REQUEST:
		fuzz_assert(l.version != NULL && l.phase != NULL);
		fuzz_assert(is_hex(l.session) && is_hex(l.token));
		if (l.params == NULL)
			break;
		fuzz_assert(l.params > l.token && l.params <= end);
		if ((domain = protocol_domain(l.params)) != NULL) {
			fuzz_assert(domain > l.params && domain <= end);
			fuzz_assert(domain[-1] == '@');
			fuzz_assert(strchr(domain, '>') == NULL);
			fuzz_assert(strchr(domain, '@') == NULL);
		}
		break;
	default:
		break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), *line, *nl;
	size_t start = 0;

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	while (start < size) {
		nl = memchr(text + start, '\n', size - start);
		line = text + start;
		if (nl == NULL)
			nl =
			    text + size; /* the filter waits; parse it anyway */
		*nl = '\0';
		if ((size_t)(nl - line) > 0 &&
		    strlen(line) == (size_t)(nl - line))
			check_line(line, nl);
		start = (size_t)(nl - text) + 1;
	}
	free(text);
	return 0;
}
