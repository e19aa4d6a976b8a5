/*
 * protocol.c - the lines of smtpd's filter protocol, read: which kind of
 * line, its fields, the recipient's domain.  Nothing here writes or
 * decides; filter-mtasts.c does.
 */
#include <stdbool.h>
#include <string.h>

#include "protocol.h"

/* a filter request has 7 fields, 8 with its parameters */
#define FIELDS_MAX 8

static bool
is_hex(const char *s)
{
	return s[0] != '\0' && strspn(s, "0123456789abcdef") == strlen(s);
}

/* Splits line on '|' into at most max fields; returns how many. */
static int
split(char *line, char **fields, int max)
{
	int n = 0;

	fields[n++] = line;
	while (n < max && (line = strchr(line, '|')) != NULL) {
		*line++ = '\0';
		fields[n++] = line;
	}
	return n;
}

void
protocol_parse(char *line, struct protocol_line *out)
{
	/* the last field, the parameters, keeps any '|' it holds */
	char *fld[FIELDS_MAX];
	int n = split(line, fld, FIELDS_MAX);

	memset(out, 0, sizeof(*out));
	if (strcmp(fld[0], "config") == 0) {
		if (n == 2 && strcmp(fld[1], "ready") == 0) {
			out->kind = PROTOCOL_READY;
		} else if (n == 3 && strcmp(fld[1], "protocol") == 0) {
			out->kind = PROTOCOL_VERSION;
			out->version = fld[2];
		} else {
			out->kind = PROTOCOL_CONFIG;
		}
	} else if (strcmp(fld[0], "report") == 0) {
		out->kind = PROTOCOL_REPORT;
	} else if (strcmp(fld[0], "filter") != 0) {
		out->kind = PROTOCOL_UNKNOWN;
	} else if (n >= 7 && is_hex(fld[5]) && is_hex(fld[6])) {
		out->kind = PROTOCOL_REQUEST;
		out->version = fld[1];
		out->phase = fld[4];
		out->session = fld[5];
		out->token = fld[6];
		out->params = n >= 8 ? fld[7] : NULL;
	} else {
		out->kind = PROTOCOL_MALFORMED;
	}
}

char *
protocol_domain(char *address)
{
	char *at = strrchr(address, '@'), *end;

	if (at == NULL || at[1] == '\0')
		return NULL;
	if ((end = strchr(at, '>')) != NULL)
		*end = '\0';
	return at + 1;
}
