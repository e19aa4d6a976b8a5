/*
 * txt.c - the TXT record at _mta-sts.<domain> (RFC 8461 §3.1):
 *
 *   sts-text-record = sts-version 1*(sts-field-delim sts-field)
 *                     [sts-field-delim]
 *   sts-version     = %s"v=STSv1"
 *   sts-field-delim = *WSP ";" *WSP
 *   sts-id          = %s"id=" 1*32(ALPHA / DIGIT)
 *   sts-extension   = sts-ext-name "=" sts-ext-value
 *
 * "records that do not begin with v=STSv1; are discarded": a record counts
 * when "v=STSv1" is followed by ";", WSP or its end (fields.c).
 */
#include <string.h>

#include "abnf.h"
#include "error.h"
#include "fields.h"

/* sts-ext-value = 1*(%x21-3A / %x3C / %x3E-7E): visible ASCII but ; and = */
static bool
is_ext_value(const char *s, size_t len)
{
	size_t i;

	if (len == 0)
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x21 || c > 0x7e || c == ';' || c == '=')
			return false;
	}
	return true;
}

/* One "name=value" field (delimiters removed). */
static mtasts_code
parse_field(const char *f, size_t len, char id[MTASTS_ID_MAX + 1],
    struct mtasts_error *err)
{
	const char *eq = memchr(f, '=', len);
	size_t nlen, vlen, i;
	char q[64];

	if (eq == NULL || !is_sts_ext_name(f, (size_t)(eq - f)))
		return mtasts_error_set(err, MTASTS_ERR_INVALID_STS_RECORD,
		    "\"%s\" is not a name=value field",
		    mtasts_quote(q, sizeof(q), f, len));
	nlen = (size_t)(eq - f);
	vlen = len - nlen - 1;
	if (nlen == 2 && memcmp(f, "id", 2) == 0) {
		if (vlen == 0 || vlen > MTASTS_ID_MAX)
			goto bad_id;
		for (i = 0; i < vlen; i++)
			if (!is_alnum(eq[1 + i]))
				goto bad_id;
		/* our reading of a repeated id: the first counts, as §3.2
		 * says of repeated policy fields */
		if (id[0] == '\0') {
			memcpy(id, eq + 1, vlen);
			id[vlen] = '\0';
		}
		return MTASTS_OK;
	}
	if (!is_ext_value(eq + 1, vlen))
		return mtasts_error_set(err, MTASTS_ERR_INVALID_STS_RECORD,
		    "field \"%s\" has an invalid value",
		    mtasts_quote(q, sizeof(q), f, len));
	return MTASTS_OK;
bad_id:
	return mtasts_error_set(err, MTASTS_ERR_INVALID_STS_ID,
	    "id \"%s\" is not 1 to 32 letters and digits",
	    mtasts_quote(q, sizeof(q), eq + 1, vlen));
}

/* RFC 8461 §3.1; the grammar allows white space around ";" (erratum
 * 6285), none inside a field. */
static mtasts_code
parse_record(const char *r, size_t len, char id[MTASTS_ID_MAX + 1],
    struct mtasts_error *err)
{
	struct field_scan scan;
	enum field_next next;
	mtasts_code rc;
	size_t i;

	id[0] = '\0';
	field_scan_init(&scan, r, len, 7);
	while ((next = field_next(&scan)) != FIELD_END) {
		if (next == FIELD_NO_DELIM)
			return mtasts_error_set(err,
			    MTASTS_ERR_INVALID_STS_RECORD,
			    "expected \";\" at byte %zu", scan.at);
		if (next == FIELD_EMPTY)
			return mtasts_error_set(err,
			    MTASTS_ERR_INVALID_STS_RECORD,
			    "empty field at byte %zu", scan.at);
		for (i = 0; i < scan.text_len; i++)
			if (is_wsp(scan.text[i]))
				return mtasts_error_set(err,
				    MTASTS_ERR_INVALID_STS_RECORD,
				    "expected \";\" at byte %zu",
				    scan.at + i);
		rc = parse_field(scan.text, scan.text_len, id, err);
		if (rc != MTASTS_OK)
			return rc;
	}
	if (id[0] == '\0')
		return mtasts_error_set(err, MTASTS_ERR_INVALID_STS_ID,
		    "the record has no id field");
	return MTASTS_OK;
}

mtasts_code
mtasts_txt_parse(const char *const *records, const size_t *lens, size_t count,
    char id[MTASTS_ID_MAX + 1], struct mtasts_error *err)
{
	size_t i, found = 0, which = 0;
	mtasts_code rc;

	for (i = 0; i < count; i++) {
		if (record_is(records[i], lens[i], "v=STSv1")) {
			found++;
			which = i;
		}
	}
	if (found == 0)
		return mtasts_error_set(err, MTASTS_ERR_NO_STS_RECORD,
		    "none of the %zu TXT records begins with v=STSv1", count);
	/* RFC 8461 §3.1: if the number of STSv1 records is not one, the
	 * domain has no available policy */
	if (found > 1)
		return mtasts_error_set(err, MTASTS_ERR_MULTI_STS_RECORDS,
		    "%zu TXT records begin with v=STSv1; there must be one",
		    found);
	rc = parse_record(records[which], lens[which], id, err);
	if (rc != MTASTS_OK)
		id[0] = '\0';
	return rc;
}
