/* json.c - result objects as JSON, shaped like mailauth's results. */
#include <stdlib.h>
#include <time.h>

#include "error.h"
#include "json.h"

json_t *
mtasts_json_time(int64_t t)
{
	char buf[32];
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return json_null();
	return json_string(buf);
}

json_t *
mtasts_json_text(const char *s, size_t len)
{
	json_t *v = json_stringn(s, len);
	char *quoted;

	if (v != NULL || (quoted = malloc(4 * len + 8)) == NULL)
		return v;
	mtasts_quote(quoted, 4 * len + 8, s, len);
	v = json_string(quoted);
	free(quoted);
	return v;
}

json_t *
mtasts_json_policy(const struct mtasts_policy *p)
{
	json_t *mx = json_array();
	size_t i;

	for (i = 0; mx != NULL && i < p->mx_count; i++)
		json_array_append_new(mx, json_string(p->mx[i]));
	return json_pack("{s:o, s:s, s:s, s:o, s:I, s:o}", "id",
	    p->id[0] != '\0' ? json_string(p->id) : json_false(), "version",
	    "STSv1", "mode", mtasts_mode_name(p->mode), "mx", mx, "max_age",
	    (json_int_t)p->max_age, "expires",
	    p->expires != 0 ? mtasts_json_time(p->expires) : json_null());
}

json_t *
mtasts_json_error(const struct mtasts_error *err)
{
	return json_pack("{s:s, s:s}", "code",
	    err->name[0] != '\0' ? err->name : mtasts_code_name(err->code),
	    "message",
	    err->message[0] != '\0' ? err->message
	                            : mtasts_strerror(err->code));
}

json_t *
mtasts_json_mx_result(const struct mtasts_mx_result *r)
{
	return json_pack("{s:b, s:s, s:o, s:b}", "valid", r->valid, "mode",
	    mtasts_mode_name(r->mode), "match",
	    r->match != NULL ? json_string(r->match) : json_null(), "testing",
	    r->testing);
}

json_t *
mtasts_json_lookup(const struct mtasts_lookup *r)
{
	json_t *policy, *obj;

	if (r->policy != NULL)
		policy = mtasts_json_policy(r->policy);
	else
		policy = json_pack("{s:o, s:s}", "id",
		    r->id[0] != '\0' ? json_string(r->id) : json_false(),
		    "mode", "none");
	if (policy != NULL && r->error.code != MTASTS_OK)
		json_object_set_new(
		    policy, "error", mtasts_json_error(&r->error));
	obj = json_pack("{s:s, s:s, s:o, s:s, s:s}", "domain", r->domain,
	    "status", mtasts_status_name(r->status), "policy", policy, "dnssec",
	    mtasts_dnssec_name(r->dnssec), "source",
	    mtasts_source_name(r->source));
	if (obj != NULL && r->undecided)
		json_object_set_new(obj, "undecided", json_true());
	if (obj != NULL && r->override != MTASTS_OVERRIDE_NONE)
		json_object_set_new(obj, "override",
		    json_string(mtasts_override_name(r->override)));
	if (obj != NULL && r->cache_error.code != MTASTS_OK)
		json_object_set_new(
		    obj, "cache_error", mtasts_json_error(&r->cache_error));
	return obj;
}
