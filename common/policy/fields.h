/* fields.h - the syntax the DNS TXT records of MTA-STS (RFC 8461 §3.1)
 * and TLS-RPT (RFC 8460 §3) share: a version tag, then "name=value"
 * fields with field-delim = *WSP ";" *WSP between them and an optional
 * one at the end (internal to libmtasts). */
#ifndef MTASTS_FIELDS_H
#define MTASTS_FIELDS_H

#include <stdbool.h>
#include <stddef.h>

/* Does the record begin with tag ("v=STSv1"), followed by ";", WSP or its
 * end?  "v=STSv10" is not "v=STSv1". */
bool record_is(const char *record, size_t len, const char *tag);

enum field_next {
	FIELD_FOUND, /* a field: text, len, eq */
	FIELD_END, /* no more fields */
	FIELD_NO_DELIM, /* something other than ";" where one was due */
	FIELD_EMPTY /* nothing between two delimiters */
};

/* Walks the fields of one record, from after its tag. */
struct field_scan {
	const char *record;
	size_t len, pos;
	/* the last field: its text without the WSP around it, where its
	 * "=" is (NULL if none), and its first byte, counted from 1 (also
	 * where a NO_DELIM or EMPTY was met) */
	const char *text, *eq;
	size_t text_len, at;
};

void field_scan_init(struct field_scan *scan, const char *record, size_t len,
    size_t tag_len);
enum field_next field_next(struct field_scan *scan);

#endif
