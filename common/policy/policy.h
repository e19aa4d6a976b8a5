/* policy.h - policies made from values rather than text (internal to
 * libmtasts; mtasts.h has the parser). */
#ifndef MTASTS_POLICY_H
#define MTASTS_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mtasts_core.h"

/*
 * A policy from values already split, as the cache's records hold them:
 * the parser's rules for the values (mode, max_age within the RFC's limit,
 * every mx pattern valid, at least one unless the mode is none), one
 * allocation, patterns lower-cased.  mx[i] has lens[i] bytes.  line_of is
 * the order of its lines (struct mtasts_policy), NULL or all 0 for the
 * canonical one.  NULL when a rule fails (line_of too:
 * policy_line_of_ok()) or memory runs out.
 */
struct mtasts_policy *policy_from_values(enum mtasts_mode mode,
    uint32_t max_age, const char *const *mx, const size_t *lens,
    size_t count, const uint32_t *line_of);

/* Whether line_of is an order of the lines of a policy of mx_count
 * patterns: three distinct positions within 1..mx_count + 3. */
bool policy_line_of_ok(const uint32_t line_of[3], size_t mx_count);

/* The positions of p's version, mode and max_age lines, the canonical
 * ones (1, 2, mx_count + 3) when p does not know them; true when they
 * are another order. */
bool policy_line_order(const struct mtasts_policy *p, uint32_t at[3]);

/*
 * RFC 8460 §4.4's policy-string: p's lines, "key: value" each, in the
 * order the domain published them (the canonical one when not known),
 * joined by LF, without a final one.  false when they do not fit in len.
 */
bool policy_text(const struct mtasts_policy *p, char *out, size_t len);

#endif
