/* domain.c - DNS name syntax, shared by mx patterns and domain arguments. */
#include <idn2.h>
#include <string.h>

#include "domain.h"

static bool
is_let_dig(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

bool
domain_is_valid(const char *s, size_t len)
{
	size_t i, label = 0;

	if (len == 0 || len > MTASTS_DOMAIN_MAX)
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.') {
			/* RFC 5321: sub-domain = Let-dig [Ldh-str] */
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!is_let_dig(c) && !(c == '-' && label > 0))
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0 && s[len - 1] != '-';
}

size_t
domain_trim_dot(const char *s, size_t len)
{
	return (len > 0 && s[len - 1] == '.') ? len - 1 : len;
}

static unsigned char
lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c - 'A' + 'a') : c;
}

bool
domain_equal(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t i;

	if (alen != blen)
		return false;
	for (i = 0; i < alen; i++)
		if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
			return false;
	return true;
}

/* Any byte outside ASCII: the name is written in Unicode (U-labels). */
static bool
has_non_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return true;
	return false;
}

int
domain_normalize(const char *domain, char out[MTASTS_DOMAIN_MAX + 1])
{
	char *alabels = NULL;
	size_t i, n;
	int rc = -1;

	/*
	 * RFC 8461 compares domains as DNS has them, in A-labels: an MTA
	 * may hand us "bücher.example" (SMTPUTF8), whose policy lives at
	 * _mta-sts.xn--bcher-kva.example.  IDNA 2008 with the TR46 mapping
	 * (libidn2, as Exim converts); a name it refuses is no domain.
	 */
	if (has_non_ascii(domain)) {
		if (idn2_lookup_u8((const uint8_t *)domain,
		        (uint8_t **)&alabels,
		        IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL) != IDN2_OK)
			return -1;
		domain = alabels;
	}
	n = domain_trim_dot(domain, strlen(domain));
	/* the longest name _mta-sts.<domain> may have */
	if (n <= MTASTS_DOMAIN_MAX - 9 && domain_is_valid(domain, n)) {
		for (i = 0; i < n; i++)
			out[i] = (char)lower((unsigned char)domain[i]);
		out[n] = '\0';
		rc = 0;
	}
	idn2_free(alabels);
	return rc;
}
