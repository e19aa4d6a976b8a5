/*
 * policy.c - the policy body served at /.well-known/mta-sts.txt
 * (RFC 8461 §3.2), parsed by its ABNF:
 *
 *   sts-policy-record = sts-policy-field *WSP
 *                       *(sts-policy-term sts-policy-field *WSP)
 *                       [sts-policy-term]
 *   sts-policy-term   = LF / CRLF
 *
 * The README lists each reading the RFC leaves open and why we chose it.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domain.h"
#include "abnf.h"
#include "error.h"
#include "policy.h"

struct span {
	const char *p;
	size_t len;
	size_t line; /* where it was read, for messages */
};

struct parse {
	struct span version, mode, max_age;
	bool has_version, has_mode, has_max_age;
	struct span *mx;
	size_t mx_count, mx_cap;
	/* how many mx lines came before the version, mode and max_age lines
	 * (their first ones): where they stood, for the policy's line_of */
	size_t mx_before[3];
	/* a field that differs from a known one only in case, for the hint */
	char case_hint[16];
	struct mtasts_error *err;
};

static bool
span_is(struct span s, const char *lit)
{
	return s.len == strlen(lit) && memcmp(s.p, lit, s.len) == 0;
}

/*
 * Length of the valid UTF-8 sequence at s (at most len bytes), or 0.
 * RFC 8461 §3.2 allows UTF-8 in extension values (sts-policy-vchar =
 * VCHAR / UTF8-2 / UTF8-3 / UTF8-4, RFC 3629 §4).
 */
static size_t
utf8_len(const unsigned char *s, size_t len)
{
	size_t n, i;
	unsigned char lo = 0x80, hi = 0xbf;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;
	if (s[0] == 0xe0)
		lo = 0xa0;
	else if (s[0] == 0xed)
		hi = 0x9f; /* no surrogates */
	else if (s[0] == 0xf0)
		lo = 0x90;
	else if (s[0] == 0xf4)
		hi = 0x8f;
	if (n > len || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

/* Every byte of a line must be WSP, VCHAR or part of a UTF-8 character. */
static mtasts_code
check_bytes(struct parse *ps, const char *line, size_t len, size_t lineno)
{
	const unsigned char *s = (const unsigned char *)line;
	size_t i = 0, n;

	while (i < len) {
		if (s[i] == '\t' || (s[i] >= 0x20 && s[i] < 0x7f)) {
			i++;
			continue;
		}
		if (s[i] >= 0x80 && (n = utf8_len(s + i, len - i)) > 0) {
			i += n;
			continue;
		}
		if (s[i] == '\r')
			return mtasts_error_set(ps->err,
			    MTASTS_ERR_INVALID_STS_POLICY,
			    "line %zu: a carriage return not followed by a "
			    "line feed (lines end in LF or CRLF)",
			    lineno);
		if (s[i] < 0x80 || s[i] == 0x7f)
			return mtasts_error_set(ps->err,
			    MTASTS_ERR_INVALID_STS_POLICY,
			    "line %zu: control character 0x%02x", lineno, s[i]);
		return mtasts_error_set(ps->err, MTASTS_ERR_INVALID_STS_POLICY,
		    "line %zu: invalid UTF-8 (byte 0x%02x)", lineno, s[i]);
	}
	return MTASTS_OK;
}

/*
 * version, mode, max_age: RFC 8461 §3.2 "If any non-repeated field -- i.e.,
 * all fields excepting mx -- is duplicated, all entries except for the
 * first SHALL be ignored."
 */
static mtasts_code
set_once(struct span *slot, bool *seen, struct span value, size_t *mx_before,
    size_t mx_count)
{
	if (!*seen) {
		*seen = true;
		*slot = value;
		*mx_before = mx_count;
	}
	return MTASTS_OK;
}

static mtasts_code
add_mx(struct parse *ps, struct span value, size_t lineno)
{
	struct mtasts_error sub;

	if (mtasts_mx_pattern_check(value.p, value.len, &sub) != MTASTS_OK)
		return mtasts_error_set(ps->err, MTASTS_ERR_INVALID_STS_MX,
		    "line %zu: %s", lineno, sub.message);
	if (ps->mx_count == ps->mx_cap) {
		size_t cap = ps->mx_cap ? ps->mx_cap * 2 : 8;
		struct span *mx = realloc(ps->mx, cap * sizeof(*mx));

		if (mx == NULL)
			return mtasts_error_set(
			    ps->err, MTASTS_ERR_NOMEM, "out of memory");
		ps->mx = mx;
		ps->mx_cap = cap;
	}
	value.len = domain_trim_dot(value.p, value.len);
	ps->mx[ps->mx_count++] = value;
	return MTASTS_OK;
}

static void
note_case_variant(struct parse *ps, struct span key)
{
	static const char *known[] = {"version", "mode", "max_age", "mx"};
	size_t i;

	if (ps->case_hint[0] != '\0')
		return;
	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (domain_equal(key.p, key.len, known[i], strlen(known[i])))
			memcpy(ps->case_hint, key.p, key.len);
}

/* One line, terminator removed: "key:" *WSP value *WSP. */
static mtasts_code
parse_line(struct parse *ps, const char *line, size_t len, size_t lineno)
{
	struct span key, value;
	const char *colon;
	char q[64];
	mtasts_code rc;

	if ((rc = check_bytes(ps, line, len, lineno)) != MTASTS_OK)
		return rc;
	if (len == 0)
		return MTASTS_OK; /* our reading: empty lines carry nothing */
	colon = memchr(line, ':', len);
	if (colon == NULL)
		return mtasts_error_set(ps->err, MTASTS_ERR_INVALID_STS_POLICY,
		    "line %zu: \"%s\" is not a \"key: value\" field", lineno,
		    mtasts_quote(q, sizeof(q), line, len));
	key.p = line;
	key.len = (size_t)(colon - line);
	/* the ABNF has no room for white space before the colon */
	if (!is_sts_ext_name(key.p, key.len))
		return mtasts_error_set(ps->err, MTASTS_ERR_INVALID_STS_POLICY,
		    "line %zu: \"%s\" is not a field name", lineno,
		    mtasts_quote(q, sizeof(q), key.p, key.len));
	value.p = colon + 1;
	value.len = len - key.len - 1;
	value.line = lineno;
	while (value.len > 0 && is_wsp(value.p[0])) {
		value.p++;
		value.len--;
	}
	while (value.len > 0 && is_wsp(value.p[value.len - 1]))
		value.len--;

	/* field names and the version and mode values are case-sensitive
	 * (%s"..." in the ABNF) */
	if (span_is(key, "version"))
		return set_once(&ps->version, &ps->has_version, value,
		    &ps->mx_before[0], ps->mx_count);
	if (span_is(key, "mode"))
		return set_once(&ps->mode, &ps->has_mode, value,
		    &ps->mx_before[1], ps->mx_count);
	if (span_is(key, "max_age"))
		return set_once(&ps->max_age, &ps->has_max_age, value,
		    &ps->mx_before[2], ps->mx_count);
	if (span_is(key, "mx"))
		return add_mx(ps, value, lineno);
	/* RFC 8461 §3.2: unknown fields are ignored */
	note_case_variant(ps, key);
	return MTASTS_OK;
}

static mtasts_code
missing(struct parse *ps, mtasts_code code, const char *name)
{
	if (ps->case_hint[0] != '\0')
		return mtasts_error_set(ps->err, code,
		    "the %s field is missing (a \"%s\" field was seen: field "
		    "names are case-sensitive)",
		    name, ps->case_hint);
	return mtasts_error_set(ps->err, code, "the %s field is missing", name);
}

static mtasts_code
check_values(struct parse *ps, enum mtasts_mode *mode, uint32_t *max_age)
{
	char q[64];
	uint64_t age = 0;
	size_t i;

	if (!ps->has_version)
		return missing(ps, MTASTS_ERR_INVALID_STS_VERSION, "version");
	if (!span_is(ps->version, "STSv1"))
		return mtasts_error_set(ps->err, MTASTS_ERR_INVALID_STS_VERSION,
		    "line %zu: version must be STSv1, not \"%s\"",
		    ps->version.line,
		    mtasts_quote(q, sizeof(q), ps->version.p, ps->version.len));
	if (!ps->has_mode)
		return missing(ps, MTASTS_ERR_INVALID_STS_MODE, "mode");
	if (span_is(ps->mode, "enforce"))
		*mode = MTASTS_MODE_ENFORCE;
	else if (span_is(ps->mode, "testing"))
		*mode = MTASTS_MODE_TESTING;
	else if (span_is(ps->mode, "none"))
		*mode = MTASTS_MODE_NONE;
	else
		return mtasts_error_set(ps->err, MTASTS_ERR_INVALID_STS_MODE,
		    "line %zu: mode must be enforce, testing or none, not "
		    "\"%s\"",
		    ps->mode.line,
		    mtasts_quote(q, sizeof(q), ps->mode.p, ps->mode.len));
	if (!ps->has_max_age)
		return missing(ps, MTASTS_ERR_INVALID_STS_MAX_AGE, "max_age");
	/* RFC 8461 §3.2: sts-policy-max-age-value = 1*10(DIGIT), at most
	 * 31557600: no sign, leading zeros allowed */
	if (ps->max_age.len == 0 || ps->max_age.len > 10)
		goto bad_age;
	for (i = 0; i < ps->max_age.len; i++) {
		char c = ps->max_age.p[i];

		if (c < '0' || c > '9')
			goto bad_age;
		age = age * 10 + (uint64_t)(c - '0');
	}
	if (age > MTASTS_MAX_AGE_LIMIT)
		return mtasts_error_set(ps->err, MTASTS_ERR_INVALID_STS_MAX_AGE,
		    "line %zu: max_age %llu is above the RFC 8461 limit of "
		    "%u seconds",
		    ps->max_age.line, (unsigned long long)age,
		    MTASTS_MAX_AGE_LIMIT);
	*max_age = (uint32_t)age;
	/* RFC 8461 §3.2: mx is required at least once unless mode is none */
	if (ps->mx_count == 0 && *mode != MTASTS_MODE_NONE)
		return missing(ps, MTASTS_ERR_INVALID_STS_MX, "mx");
	return MTASTS_OK;
bad_age:
	return mtasts_error_set(ps->err, MTASTS_ERR_INVALID_STS_MAX_AGE,
	    "line %zu: max_age must be 1 to 10 digits, not \"%s\"",
	    ps->max_age.line,
	    mtasts_quote(q, sizeof(q), ps->max_age.p, ps->max_age.len));
}

struct ranked {
	struct span s;
	size_t idx;
};

static int
cmp_ranked(const void *a, const void *b)
{
	const struct ranked *x = a, *y = b;
	size_t i, n = x->s.len < y->s.len ? x->s.len : y->s.len;

	for (i = 0; i < n; i++) {
		int cx = x->s.p[i] | 0x20, cy = y->s.p[i] | 0x20;

		if (cx != cy)
			return cx - cy;
	}
	if (x->s.len != y->s.len)
		return x->s.len < y->s.len ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Drops repeated patterns (case-insensitively), keeping first appearances
 * in order; sorting keeps 10,000 mx lines cheap.  The mx lines before
 * version, mode and max_age become the kept ones before them. */
static mtasts_code
dedup_mx(struct parse *ps)
{
	struct ranked *r;
	bool *drop;
	size_t i, k, n = ps->mx_count, kept = 0;

	if (n < 2)
		return MTASTS_OK;
	r = calloc(n, sizeof(*r));
	drop = calloc(n, sizeof(*drop));
	if (r == NULL || drop == NULL) {
		free(r);
		free(drop);
		return mtasts_error_set(
		    ps->err, MTASTS_ERR_NOMEM, "out of memory");
	}
	for (i = 0; i < n; i++)
		r[i] = (struct ranked){ps->mx[i], i};
	qsort(r, n, sizeof(*r), cmp_ranked);
	for (i = 1; i < n; i++)
		if (domain_equal(
		        r[i].s.p, r[i].s.len, r[i - 1].s.p, r[i - 1].s.len))
			drop[r[i].idx] = true;
	for (i = 0; i < n; i++) {
		for (k = 0; k < 3; k++)
			if (ps->mx_before[k] == i)
				ps->mx_before[k] = kept;
		if (!drop[i])
			ps->mx[kept++] = ps->mx[i];
	}
	for (k = 0; k < 3; k++)
		if (ps->mx_before[k] == n)
			ps->mx_before[k] = kept;
	ps->mx_count = kept;
	free(r);
	free(drop);
	return MTASTS_OK;
}

/* line_of lives in the bytes that followed id in 0.1.0: the layout (and
 * so the ABI) is unchanged */
_Static_assert(offsetof(struct mtasts_policy, mode) ==
        (MTASTS_ID_MAX + 1 + _Alignof(enum mtasts_mode) - 1) /
            _Alignof(enum mtasts_mode) * _Alignof(enum mtasts_mode),
    "struct mtasts_policy: line_of must fit in the padding after id");

bool
policy_line_of_ok(const uint32_t line_of[3], size_t mx_count)
{
	size_t k;

	for (k = 0; k < 3; k++)
		if (line_of[k] < 1 || line_of[k] > mx_count + 3)
			return false;
	return line_of[0] != line_of[1] && line_of[0] != line_of[2] &&
	    line_of[1] != line_of[2];
}

/* Whether line_of is the canonical order, or none given. */
static bool
canonical_order(const uint32_t line_of[3], size_t mx_count)
{
	return (line_of[0] == 0 && line_of[1] == 0 && line_of[2] == 0) ||
	    (line_of[0] == 1 && line_of[1] == 2 && line_of[2] == mx_count + 3);
}

bool
policy_line_order(const struct mtasts_policy *p, uint32_t at[3])
{
	uint32_t held[3] = {p->line_of[0], p->line_of[1], p->line_of[2]};

	if (canonical_order(held, p->mx_count) ||
	    !policy_line_of_ok(held, p->mx_count)) {
		at[0] = 1;
		at[1] = 2;
		at[2] = (uint32_t)(p->mx_count + 3);
		return false;
	}
	memcpy(at, held, sizeof(held));
	return true;
}

bool
policy_text(const struct mtasts_policy *p, char *out, size_t len)
{
	uint32_t at[3], line;
	size_t o = 0, next_mx = 0;
	int n;

	(void)policy_line_order(p, at);
	if (len == 0)
		return false;
	out[0] = '\0';
	for (line = 1; line <= p->mx_count + 3; line++) {
		const char *sep = line > 1 ? "\n" : "";

		if (line == at[0])
			n = snprintf(out + o, len - o, "%sversion: STSv1", sep);
		else if (line == at[1])
			n = snprintf(out + o, len - o, "%smode: %s", sep,
			    mtasts_mode_name(p->mode));
		else if (line == at[2])
			n = snprintf(out + o, len - o, "%smax_age: %u", sep,
			    (unsigned)p->max_age);
		else
			n = snprintf(out + o, len - o, "%smx: %s", sep,
			    p->mx[next_mx++]);
		if (n < 0 || (size_t)n >= len - o)
			return false;
		o += (size_t)n;
	}
	return true;
}

/* One allocation: the struct, the pointer array, then the strings.
 * line_of (NULL: none) is kept when it is an order other than the
 * canonical one. */
static struct mtasts_policy *
policy_pack(enum mtasts_mode mode, uint32_t max_age, const char *id,
    int64_t expires, const struct span *mx, size_t count,
    const uint32_t *line_of)
{
	struct mtasts_policy *p;
	size_t i, j, size = sizeof(*p) + count * sizeof(char *);
	char *text;

	for (i = 0; i < count; i++)
		size += mx[i].len + 1;
	if ((p = calloc(1, size)) == NULL)
		return NULL;
	p->mode = mode;
	p->max_age = max_age;
	p->expires = expires;
	p->mx_count = count;
	p->mx = (char **)(p + 1);
	/* kept where the struct has room for it: positions up to 255 */
	if (line_of != NULL && policy_line_of_ok(line_of, count) &&
	    !canonical_order(line_of, count) && count + 3 <= UINT8_MAX)
		for (size_t k = 0; k < 3; k++)
			p->line_of[k] = (uint8_t)line_of[k];
	if (id != NULL) {
		size_t n = strnlen(id, sizeof(p->id) - 1);

		memcpy(p->id, id, n); /* calloc wrote the NUL */
	}
	text = (char *)(p->mx + count);
	for (i = 0; i < count; i++) {
		p->mx[i] = text;
		for (j = 0; j < mx[i].len; j++) {
			char c = mx[i].p[j];

			text[j] = (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
		}
		text[mx[i].len] = '\0';
		text += mx[i].len + 1;
	}
	return p;
}

/*
 * Where the version, mode and max_age lines stood among the known lines:
 * after the mx lines before each, and after those of the three that came
 * before it.
 */
static void
line_order(const struct parse *ps, uint32_t line_of[3])
{
	const struct span *at[3] = {&ps->version, &ps->mode, &ps->max_age};
	size_t k, j, pos;

	for (k = 0; k < 3; k++) {
		pos = ps->mx_before[k] + 1;
		for (j = 0; j < 3; j++)
			if (j != k &&
			    (ps->mx_before[j] < ps->mx_before[k] ||
			        (ps->mx_before[j] == ps->mx_before[k] &&
			            at[j]->line < at[k]->line)))
				pos++;
		line_of[k] = pos > UINT32_MAX ? 0 : (uint32_t)pos;
	}
}

mtasts_code
mtasts_policy_parse(const char *body, size_t len, struct mtasts_policy **out,
    struct mtasts_error *err)
{
	struct parse ps = {.err = err};
	enum mtasts_mode mode = MTASTS_MODE_NONE;
	uint32_t max_age = 0;
	size_t pos = 0, lineno = 0;
	mtasts_code rc = MTASTS_OK;

	*out = NULL;
	if (len > MTASTS_POLICY_MAX_BYTES)
		return mtasts_error_set(err, MTASTS_ERR_POLICY_TOO_LARGE,
		    "the policy has more than %d bytes",
		    MTASTS_POLICY_MAX_BYTES);
	if (len >= 3 && memcmp(body, "\xef\xbb\xbf", 3) == 0)
		return mtasts_error_set(err, MTASTS_ERR_INVALID_STS_POLICY,
		    "line 1: the policy starts with a UTF-8 byte order mark, "
		    "which the RFC 8461 grammar does not allow");
	while (pos < len && rc == MTASTS_OK) {
		const char *nl = memchr(body + pos, '\n', len - pos);
		size_t end = nl != NULL ? (size_t)(nl - body) : len;
		size_t linelen = end - pos;

		/* sts-policy-term = LF / CRLF */
		if (nl != NULL && linelen > 0 && body[end - 1] == '\r')
			linelen--;
		rc = parse_line(&ps, body + pos, linelen, ++lineno);
		pos = end + 1;
	}
	if (rc == MTASTS_OK)
		rc = check_values(&ps, &mode, &max_age);
	if (rc == MTASTS_OK)
		rc = dedup_mx(&ps);
	if (rc == MTASTS_OK) {
		uint32_t line_of[3];

		line_order(&ps, line_of);
		*out = policy_pack(
		    mode, max_age, NULL, 0, ps.mx, ps.mx_count, line_of);
		if (*out == NULL)
			rc = mtasts_error_set(
			    err, MTASTS_ERR_NOMEM, "out of memory");
	}
	free(ps.mx);
	return rc;
}

struct mtasts_policy *
policy_from_values(enum mtasts_mode mode, uint32_t max_age,
    const char *const *mx, const size_t *lens, size_t count,
    const uint32_t *line_of)
{
	struct span few[16], *spans = few;
	struct mtasts_policy *p = NULL;
	size_t i;

	if ((unsigned)mode > MTASTS_MODE_ENFORCE ||
	    max_age > MTASTS_MAX_AGE_LIMIT ||
	    (count == 0 && mode != MTASTS_MODE_NONE) ||
	    (line_of != NULL && !canonical_order(line_of, count) &&
	        !policy_line_of_ok(line_of, count)))
		return NULL;
	if (count > sizeof(few) / sizeof(few[0]) &&
	    (spans = calloc(count, sizeof(*spans))) == NULL)
		return NULL;
	for (i = 0; i < count; i++) {
		if (mtasts_mx_pattern_check(mx[i], lens[i], NULL) != MTASTS_OK)
			goto out;
		spans[i] = (struct span){mx[i], lens[i], 0};
	}
	p = policy_pack(mode, max_age, NULL, 0, spans, count, line_of);
out:
	if (spans != few)
		free(spans);
	return p;
}

struct mtasts_policy *
mtasts_policy_dup(const struct mtasts_policy *policy)
{
	uint32_t line_of[3] = {
	    policy->line_of[0], policy->line_of[1], policy->line_of[2]};
	struct span *mx;
	struct mtasts_policy *p;
	size_t i;

	mx = calloc(policy->mx_count + 1, sizeof(*mx));
	if (mx == NULL)
		return NULL;
	for (i = 0; i < policy->mx_count; i++)
		mx[i] = (struct span){policy->mx[i], strlen(policy->mx[i]), 0};
	p = policy_pack(policy->mode, policy->max_age, policy->id,
	    policy->expires, mx, policy->mx_count, line_of);
	free(mx);
	return p;
}

void
mtasts_policy_free(struct mtasts_policy *policy)
{
	free(policy);
}

const char *
mtasts_mode_name(enum mtasts_mode mode)
{
	switch (mode) {
	case MTASTS_MODE_ENFORCE:
		return "enforce";
	case MTASTS_MODE_TESTING:
		return "testing";
	case MTASTS_MODE_NONE:
		break;
	}
	return "none";
}
