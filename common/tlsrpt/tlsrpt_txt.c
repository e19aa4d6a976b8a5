/*
 * tlsrpt_txt.c - the TLS-RPT record (RFC 8460 §3):
 *
 *   tlsrpt-record = tlsrpt-version 1*(field-delim tlsrpt-field)
 *                   [field-delim]
 *   tlsrpt-version = %s"v=TLSRPTv1"
 *   tlsrpt-rua     = %s"rua=" tlsrpt-uri *(*WSP "," *WSP tlsrpt-uri)
 *
 * with rua URIs of the mailto: or https: schemes.
 */
#include <string.h>
#include <strings.h>

#include "abnf.h"
#include "error.h"
#include "fields.h"
#include "tlsrpt_txt.h"

/* One rua value: URIs separated by commas. */
static mtasts_code
parse_rua(
    const char *v, size_t len, struct tlsrpt *out, struct mtasts_error *err)
{
	size_t pos = 0;

	while (pos < len) {
		size_t start, end;

		while (pos < len && is_wsp(v[pos]))
			pos++;
		start = pos;
		while (pos < len && v[pos] != ',')
			pos++;
		end = pos;
		while (end > start && is_wsp(v[end - 1]))
			end--;
		if (end == start || end - start >= sizeof(out->rua[0]))
			return mtasts_error_set(err,
			    MTASTS_ERR_INVALID_STS_RECORD,
			    "rua has an empty or overlong URI");
		if (out->rua_count == TLSRPT_MAX_RUA)
			return mtasts_error_set(err,
			    MTASTS_ERR_INVALID_STS_RECORD,
			    "rua has more than %d URIs", TLSRPT_MAX_RUA);
		memcpy(out->rua[out->rua_count], v + start, end - start);
		out->rua[out->rua_count][end - start] = '\0';
		/* RFC 8460 §3: mailto: or https: */
		if (out->bad_scheme < 0 &&
		    strncasecmp(out->rua[out->rua_count], "mailto:", 7) != 0 &&
		    strncasecmp(out->rua[out->rua_count], "https:", 6) != 0)
			out->bad_scheme = (int)out->rua_count;
		out->rua_count++;
		pos++; /* the comma */
	}
	return MTASTS_OK;
}

static mtasts_code
parse_record(
    const char *r, size_t len, struct tlsrpt *out, struct mtasts_error *err)
{
	struct field_scan scan;
	enum field_next next;
	mtasts_code rc;

	field_scan_init(&scan, r, len, 10);
	while ((next = field_next(&scan)) != FIELD_END) {
		if (next == FIELD_NO_DELIM)
			return mtasts_error_set(err,
			    MTASTS_ERR_INVALID_STS_RECORD,
			    "expected \";\" at byte %zu", scan.at);
		if (next == FIELD_EMPTY || scan.eq == NULL ||
		    scan.eq == scan.text)
			return mtasts_error_set(err,
			    MTASTS_ERR_INVALID_STS_RECORD,
			    "the field at byte %zu is not name=value", scan.at);
		if (scan.eq - scan.text == 3 &&
		    memcmp(scan.text, "rua", 3) == 0) {
			if (out->rua_count > 0)
				return mtasts_error_set(err,
				    MTASTS_ERR_INVALID_STS_RECORD,
				    "rua is given twice");
			rc = parse_rua(scan.eq + 1,
			    scan.text_len - (size_t)(scan.eq - scan.text) - 1,
			    out, err);
			if (rc != MTASTS_OK)
				return rc;
		}
	}
	if (out->rua_count == 0)
		return mtasts_error_set(err, MTASTS_ERR_INVALID_STS_RECORD,
		    "the record has no rua field");
	return MTASTS_OK;
}

mtasts_code
tlsrpt_parse(const char *const *records, const size_t *lens, size_t count,
    struct tlsrpt *out, struct mtasts_error *err)
{
	size_t i, found = 0, which = 0;

	memset(out, 0, sizeof(*out));
	out->bad_scheme = -1;
	for (i = 0; i < count; i++)
		if (record_is(records[i], lens[i], "v=TLSRPTv1")) {
			found++;
			which = i;
		}
	if (found == 0)
		return mtasts_error_set(err, MTASTS_ERR_NO_TLSRPT_RECORD,
		    "no TXT record begins with v=TLSRPTv1");
	if (found > 1)
		return mtasts_error_set(err, MTASTS_ERR_MULTI_STS_RECORDS,
		    "%zu TXT records begin with v=TLSRPTv1", found);
	return parse_record(records[which], lens[which], out, err);
}
