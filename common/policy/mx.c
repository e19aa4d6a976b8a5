/* mx.c - MX host validation against a policy's patterns (RFC 8461 §4.1). */
#include <stdio.h>
#include <string.h>

#include "domain.h"
#include "error.h"
#include "mx.h"

mtasts_code
mtasts_mx_pattern_check(
    const char *pattern, size_t len, struct mtasts_error *err)
{
	char q[80];
	const char *name = pattern;
	size_t n = domain_trim_dot(pattern, len);

	/* RFC 8461 §3.2: sts-policy-mx-value = ["*."] Domain */
	if (n >= 2 && pattern[0] == '*' && pattern[1] == '.') {
		name += 2;
		n -= 2;
	}
	if (!domain_is_valid(name, n))
		return mtasts_error_set(err, MTASTS_ERR_INVALID_STS_MX,
		    "mx \"%s\" is not a host name or \"*.\" and a domain name",
		    mtasts_quote(q, sizeof(q), pattern, len));
	return MTASTS_OK;
}

bool
mtasts_mx_match(const char *pattern, const char *host)
{
	size_t plen, hlen;

	if (pattern == NULL || host == NULL)
		return false;
	/* RFC 8461 §4.1: a trailing dot (absolute name from DNS) is ignored */
	plen = domain_trim_dot(pattern, strlen(pattern));
	hlen = domain_trim_dot(host, strlen(host));
	if (hlen == 0 || memchr(host, '*', hlen) != NULL)
		return false;
	if (plen >= 2 && pattern[0] == '*' && pattern[1] == '.') {
		/*
		 * RFC 8461 §4.1: the wildcard matches only the leftmost label:
		 * "*.example.com" takes "mx.example.com", not "example.com"
		 * nor "a.b.example.com".
		 */
		const char *suffix = pattern + 1; /* ".example.com" */
		size_t slen = plen - 1;
		size_t left;

		if (hlen <= slen)
			return false;
		left = hlen - slen;
		if (memchr(host, '.', left) != NULL)
			return false;
		return domain_equal(host + left, slen, suffix, slen);
	}
	return domain_equal(pattern, plen, host, hlen);
}

size_t
mx_pattern_regex(const char *pattern, char *out, size_t len)
{
	size_t plen = domain_trim_dot(pattern, strlen(pattern)), i, o = 0;
	bool wild = plen >= 2 && pattern[0] == '*' && pattern[1] == '.';

	/* one label of anything but a dot (a host is never a wildcard) */
	if (wild) {
		o = (size_t)snprintf(out, len, "[^.*]+");
		i = 1;
	} else {
		i = 0;
	}
	if (i == plen || (wild && plen == 2))
		return 0;
	for (; i < plen; i++) {
		char c = pattern[i];
		const char *put;
		char one[2] = {c, '\0'};

		if (c == '.')
			put = "\\.";
		else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_')
			put = one;
		else
			return 0;
		o += (size_t)snprintf(o < len ? out + o : NULL,
		    o < len ? len - o : 0, "%s", put);
	}
	/* an absolute name from DNS */
	o += (size_t)snprintf(
	    o < len ? out + o : NULL, o < len ? len - o : 0, "\\.?");
	return o;
}

void
mtasts_validate_mx(const struct mtasts_policy *policy, const char *host,
    struct mtasts_mx_result *result)
{
	size_t i;

	result->mode = policy != NULL ? policy->mode : MTASTS_MODE_NONE;
	result->testing = result->mode == MTASTS_MODE_TESTING;
	result->match = NULL;
	/* RFC 8461 §5: mode none asks nothing of the sender */
	result->valid = result->mode == MTASTS_MODE_NONE;
	if (policy == NULL)
		return;
	for (i = 0; i < policy->mx_count; i++) {
		if (mtasts_mx_match(policy->mx[i], host)) {
			result->valid = true;
			result->match = policy->mx[i];
			return;
		}
	}
}
