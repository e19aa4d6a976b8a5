/*
 * fields.c - the field scanner of fields.h.  A field runs to the next ";";
 * what a field may hold (white space inside a TLS-RPT rua list, none in an
 * MTA-STS field) is for each record's parser to say.
 */
#include <string.h>

#include "abnf.h"
#include "fields.h"

bool
record_is(const char *r, size_t len, const char *tag)
{
	size_t n = strlen(tag);

	return len >= n && memcmp(r, tag, n) == 0 &&
	    (len == n || r[n] == ';' || is_wsp(r[n]));
}

void
field_scan_init(
    struct field_scan *s, const char *record, size_t len, size_t tag_len)
{
	memset(s, 0, sizeof(*s));
	s->record = record;
	s->len = len;
	s->pos = tag_len;
}

static void
skip_wsp(struct field_scan *s)
{
	while (s->pos < s->len && is_wsp(s->record[s->pos]))
		s->pos++;
}

enum field_next
field_next(struct field_scan *s)
{
	const char *r = s->record;
	size_t start, end;

	skip_wsp(s);
	if (s->pos == s->len)
		return FIELD_END;
	s->at = s->pos + 1;
	if (r[s->pos] != ';')
		return FIELD_NO_DELIM;
	s->pos++;
	skip_wsp(s);
	if (s->pos == s->len)
		return FIELD_END; /* [field-delim] at the end */
	start = s->pos;
	while (s->pos < s->len && r[s->pos] != ';')
		s->pos++;
	end = s->pos;
	while (end > start && is_wsp(r[end - 1]))
		end--;
	s->at = start + 1;
	if (end == start)
		return FIELD_EMPTY;
	s->text = r + start;
	s->text_len = end - start;
	s->eq = memchr(s->text, '=', s->text_len);
	return FIELD_FOUND;
}
