/* policy.h - policies made from values rather than text (internal to
 * libmtasts; mtasts.h has the parser). */
#ifndef MTASTS_POLICY_H
#define MTASTS_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "mtasts.h"

/*
 * A policy from values already split, as the cache's records hold them:
 * the parser's rules for the values (mode, max_age within the RFC's limit,
 * every mx pattern valid, at least one unless the mode is none), one
 * allocation, patterns lower-cased.  mx[i] has lens[i] bytes.  NULL when a
 * rule fails or memory runs out.
 */
struct mtasts_policy *policy_from_values(enum mtasts_mode mode,
    uint32_t max_age, const char *const *mx, const size_t *lens,
    size_t count);

#endif
