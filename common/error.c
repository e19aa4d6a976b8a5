/* error.c - the stable code strings and messages of every mtasts_code. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "error.h"

/*
 * One row per code, the only place that says what a code means: its name
 * and message; whether it is this host's own failure (LOCAL: memory,
 * configuration, cache, I/O, a bug: it says nothing of the domain), an
 * answer about the domain that may mean "no policy" (ANSWER), or neither
 * (OTHER: not an outcome of discovery); and its RFC 8460 §4.3 result type
 * when a session is reported under it (NULL: none).  Every code needs its
 * row: the build fails otherwise (below).
 */
#define MTASTS_CODES(X) \
	X(MTASTS_OK, "ok", "success", ANSWER, NULL) \
	X(MTASTS_ERR_NO_STS_RECORD, "no_sts_record", \
	    "no TXT record at _mta-sts begins with v=STSv1", ANSWER, NULL) \
	X(MTASTS_ERR_MULTI_STS_RECORDS, "multi_sts_records", \
	    "more than one TXT record at _mta-sts begins with v=STSv1", \
	    ANSWER, NULL) \
	X(MTASTS_ERR_INVALID_STS_RECORD, "invalid_sts_record", \
	    "the _mta-sts TXT record is malformed", ANSWER, NULL) \
	X(MTASTS_ERR_INVALID_STS_ID, "invalid_sts_id", \
	    "the _mta-sts TXT record has a missing or invalid id", ANSWER, \
	    NULL) \
	X(MTASTS_ERR_INVALID_STS_POLICY, "invalid_sts_policy", \
	    "the policy is not a list of key: value lines", ANSWER, \
	    "sts-policy-invalid") \
	X(MTASTS_ERR_INVALID_STS_VERSION, "invalid_sts_version", \
	    "the policy's version field is missing or not STSv1", ANSWER, \
	    "sts-policy-invalid") \
	X(MTASTS_ERR_INVALID_STS_MODE, "invalid_sts_mode", \
	    "the policy's mode field is missing or invalid", ANSWER, \
	    "sts-policy-invalid") \
	X(MTASTS_ERR_INVALID_STS_MAX_AGE, "invalid_sts_max_age", \
	    "the policy's max_age field is missing or invalid", ANSWER, \
	    "sts-policy-invalid") \
	X(MTASTS_ERR_INVALID_STS_MX, "invalid_sts_mx", \
	    "the policy's mx fields are missing or invalid", ANSWER, \
	    "sts-policy-invalid") \
	X(MTASTS_ERR_POLICY_TOO_LARGE, "policy_too_large", \
	    "the policy is larger than 64 KiB", ANSWER, "sts-policy-invalid") \
	X(MTASTS_ERR_HTTP_STATUS, "http_status", \
	    "the policy server did not answer 200 OK", ANSWER, \
	    "sts-policy-fetch-error") \
	X(MTASTS_ERR_HTTP_REDIRECT, "http_redirect", \
	    "the policy server answered with a redirect, which RFC 8461 " \
	    "forbids following", ANSWER, "sts-policy-fetch-error") \
	X(MTASTS_ERR_HTTP_CONTENT_TYPE, "http_content_type", \
	    "the policy is not served as text/plain", ANSWER, \
	    "sts-policy-invalid") \
	X(MTASTS_ERR_HTTP, "http_error", \
	    "the policy could not be fetched over HTTPS", ANSWER, \
	    "sts-policy-fetch-error") \
	X(MTASTS_ERR_TLS, "tls_error", \
	    "the policy server's TLS or certificate is not valid", ANSWER, \
	    "sts-webpki-invalid") \
	/* of the fetch: a silent TXT query is undecided (discover.c) */ \
	X(MTASTS_ERR_TIMEOUT, "timeout", "the deadline passed", ANSWER, \
	    "sts-policy-fetch-error") \
	X(MTASTS_ERR_DNS_NXDOMAIN, "dns_nxdomain", \
	    "the DNS name does not exist", ANSWER, "sts-policy-fetch-error") \
	X(MTASTS_ERR_DNS_NODATA, "dns_nodata", \
	    "the DNS name has no record of that type", ANSWER, \
	    "sts-policy-fetch-error") \
	/* of the policy host, likewise */ \
	X(MTASTS_ERR_DNS, "dns_error", "the DNS lookup failed", ANSWER, \
	    "sts-policy-fetch-error") \
	X(MTASTS_ERR_CACHE, "cache_error", \
	    "the policy cache cannot be read or written", LOCAL, NULL) \
	X(MTASTS_ERR_USAGE, "usage", "invalid argument", OTHER, NULL) \
	X(MTASTS_ERR_CONFIG, "config_error", "the configuration is invalid", \
	    LOCAL, NULL) \
	X(MTASTS_ERR_IO, "io_error", "a file could not be read or written", \
	    LOCAL, NULL) \
	X(MTASTS_ERR_NOMEM, "out_of_memory", "out of memory", LOCAL, NULL) \
	X(MTASTS_ERR_INTERNAL, "internal_error", "internal error", LOCAL, \
	    NULL) \
	X(MTASTS_ERR_TLS_SETUP, "tls_setup_error", \
	    "this host's TLS setup failed (the CA store cannot be read)", \
	    LOCAL, NULL) \
	X(MTASTS_ERR_TLS_CERT_TIME, "tls_cert_time", \
	    "the policy server's certificate is expired or not yet valid (or " \
	    "this host's clock is wrong)", ANSWER, "sts-webpki-invalid") \
	X(MTASTS_ERR_HTTP_CONNECT, "http_connect_error", \
	    "the policy server refused the connection or could not be " \
	    "reached", ANSWER, "sts-policy-fetch-error") \
	X(MTASTS_ERR_HTTP_CUT, "http_incomplete", \
	    "the policy server cut the transfer short", ANSWER, \
	    "sts-policy-fetch-error") \
	X(MTASTS_ERR_PROXY, "proxy_error", "the configured proxy failed", \
	    LOCAL, NULL) \
	X(MTASTS_ERR_NOT_CACHED, "not_cached", \
	    "the cache holds no record of the domain", OTHER, NULL) \
	X(MTASTS_ERR_NO_TLSRPT_RECORD, "no_tlsrpt_record", \
	    "no TXT record at _smtp._tls begins with v=TLSRPTv1", OTHER, NULL)

enum meaning { ANSWER = 1, LOCAL, OTHER };

static const struct {
	const char *name;
	const char *text;
	enum meaning meaning;
	const char *tlsrpt_result;
} codes[] = {
#define ROW(code, name, text, meaning, result) \
	[code] = {name, text, meaning, result},
    MTASTS_CODES(ROW)
#undef ROW
};

/* A row for every code: as many rows as codes, and no code given twice
 * (-Woverride-init, an error under -Werror). */
#define ONE(...) +1
_Static_assert(0 MTASTS_CODES(ONE) == MTASTS_CODE_COUNT,
    "every mtasts_code needs its row in MTASTS_CODES");
#undef ONE
_Static_assert(sizeof(codes) / sizeof(codes[0]) == MTASTS_CODE_COUNT,
    "the table ends at the last code");

const char *
mtasts_code_name(mtasts_code code)
{
	if ((unsigned)code >= MTASTS_CODE_COUNT)
		return "internal_error";
	return codes[code].name;
}

const char *
mtasts_strerror(mtasts_code code)
{
	if ((unsigned)code >= MTASTS_CODE_COUNT)
		return "unknown error code";
	return codes[code].text;
}

void
mtasts_error_clear(struct mtasts_error *err)
{
	if (err == NULL)
		return;
	err->code = MTASTS_OK;
	err->name[0] = '\0';
	err->message[0] = '\0';
}

mtasts_code
mtasts_error_set(
    struct mtasts_error *err, mtasts_code code, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return code;
	err->code = code;
	snprintf(err->name, sizeof(err->name), "%s", mtasts_code_name(code));
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return code;
}

mtasts_code
mtasts_error_set_http_status(
    struct mtasts_error *err, const char *url, long status)
{
	mtasts_error_set(err, MTASTS_ERR_HTTP_STATUS,
	    "%s answered HTTP %ld, not 200", url, status);
	if (err != NULL)
		snprintf(
		    err->name, sizeof(err->name), "http_status_%ld", status);
	return MTASTS_ERR_HTTP_STATUS;
}

const char *
mtasts_quote(char *dst, size_t dstlen, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0;

	if (dstlen == 0)
		return dst;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		size_t need = (c >= 0x20 && c < 0x7f && c != '\\') ? 1 : 4;

		/* keep room for "..." and the NUL */
		if (o + need + 4 > dstlen) {
			if (o + 4 <= dstlen) {
				memcpy(dst + o, "...", 3);
				o += 3;
			}
			break;
		}
		if (need == 1) {
			dst[o++] = (char)c;
		} else {
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[c >> 4];
			dst[o++] = hex[c & 15];
		}
	}
	dst[o] = '\0';
	return dst;
}

bool
mtasts_error_is_local(mtasts_code code)
{
	return (unsigned)code < MTASTS_CODE_COUNT &&
	    codes[code].meaning == LOCAL;
}

bool
mtasts_code_may_mean_no_policy(mtasts_code code)
{
	return (unsigned)code < MTASTS_CODE_COUNT &&
	    codes[code].meaning == ANSWER;
}

const char *
mtasts_code_tlsrpt_result(mtasts_code code)
{
	return (unsigned)code < MTASTS_CODE_COUNT ? codes[code].tlsrpt_result
	                                          : NULL;
}
