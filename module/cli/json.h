/*
 * json.h - result objects as JSON (jansson), in the shapes DESIGN.md and
 * the README document.  Each function returns a new reference, NULL only
 * when memory runs out.
 */
#ifndef MTASTS_JSON_H
#define MTASTS_JSON_H

#include <jansson.h>

#include "mtasts_core.h"

/* {"id","version","mode","mx":[...],"max_age"[,"expires"]} */
json_t *mtasts_json_policy(const struct mtasts_policy *policy);

/* {"code","message"} */
json_t *mtasts_json_error(const struct mtasts_error *err);

/* {"valid","mode"[,"match"],"testing"} */
json_t *mtasts_json_mx_result(const struct mtasts_mx_result *result);

/* {"domain","status","policy":{...[,"error"]},"dnssec"}; without a policy
 * in force, policy is {"id","mode":"none"[,"error"]}. */
json_t *mtasts_json_lookup(const struct mtasts_lookup *result);

/*
 * Untrusted bytes (a record, a policy body) as a JSON string: as they are
 * when they are UTF-8, else as printable ASCII with \xNN for other bytes,
 * so that one bad byte never spoils the document it is part of.
 */
json_t *mtasts_json_text(const char *s, size_t len);

/* RFC 3339 UTC time ("2026-11-22T10:00:00Z") as a JSON string. */
json_t *mtasts_json_time(int64_t t);

#endif
