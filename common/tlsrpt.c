/*
 * tlsrpt.c - the TLS-RPT record (RFC 8460 §3):
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
#include "tlsrpt.h"

static bool
is_tlsrpt(const char *r, size_t len)
{
	return len >= 10 && memcmp(r, "v=TLSRPTv1", 10) == 0 &&
	    (len == 10 || r[10] == ';' || is_wsp(r[10]));
}

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
	size_t pos = 10; /* after v=TLSRPTv1 */
	mtasts_code rc;

	while (pos < len) {
		size_t start, eq;

		while (pos < len && is_wsp(r[pos]))
			pos++;
		if (pos == len)
			break;
		if (r[pos] != ';')
			return mtasts_error_set(err,
			    MTASTS_ERR_INVALID_STS_RECORD,
			    "expected \";\" at byte %zu", pos + 1);
		pos++;
		while (pos < len && is_wsp(r[pos]))
			pos++;
		if (pos == len)
			break;
		start = pos;
		while (pos < len && r[pos] != ';')
			pos++;
		for (eq = start; eq < pos && r[eq] != '='; eq++)
			;
		if (eq == pos || eq == start)
			return mtasts_error_set(err,
			    MTASTS_ERR_INVALID_STS_RECORD,
			    "a field is not name=value");
		if (eq - start == 3 && memcmp(r + start, "rua", 3) == 0) {
			if (out->rua_count > 0)
				return mtasts_error_set(err,
				    MTASTS_ERR_INVALID_STS_RECORD,
				    "rua is given twice");
			rc = parse_rua(r + eq + 1, pos - eq - 1, out, err);
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
		if (is_tlsrpt(records[i], lens[i])) {
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
