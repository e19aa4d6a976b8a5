/*
 * cache_codec.c - the cache record codec.  Layout, version 3 (little-endian):
 *
 *   'M' 'S' version has_policy status mode dnssec uses
 *   max_age:u32 fetched:i64 expires:i64 checked:i64 next_try:i64
 *   used:i64 failures:u32 error_code:u8
 *   id:str8 error_name:str8 error_message:str16
 *   mx_count:u16 { mx:str8 }
 *   line_of:u32 u32 u32
 *   crc32:u32 of every byte before it
 *
 * line_of is where the policy's version, mode and max_age lines stood
 * (struct mtasts_policy): a policy in the canonical order - and an entry
 * without one - is written as version 2, which is version 3 without
 * line_of, so that a process of the version before reads it.  Versions 2
 * and 1 are read with the canonical order.
 * Version 1 (written before 0.2) has no used and no CRC; it is still read.
 * LMDB checks nothing of what it stores: the CRC tells a record a disk or
 * a stray write damaged from one written whole.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "abnf.h"
#include "crc32.h"
#include "policy.h"
#include "cache_codec.h"

#define MAGIC0 'M'
#define MAGIC1 'S'
#define VERSION 3 /* the newest this code reads */
#define HEADER 8
#define CHECKED_AT 28 /* offset of checked, in both versions */

void
cache_entry_clear(struct cache_entry *e)
{
	mtasts_policy_free(e->policy);
	memset(e, 0, sizeof(*e));
}

struct writer {
	unsigned char *p;
	size_t len, cap;
	bool failed;
};

static void
put_bytes(struct writer *w, const void *b, size_t n)
{
	if (w->failed || n > w->cap - w->len) {
		w->failed = true;
		return;
	}
	memcpy(w->p + w->len, b, n);
	w->len += n;
}

static void
put_uint(struct writer *w, uint64_t v, int bytes)
{
	unsigned char b[8];
	int i;

	for (i = 0; i < bytes; i++)
		b[i] = (unsigned char)(v >> (8 * i));
	put_bytes(w, b, (size_t)bytes);
}

static void
put_str(struct writer *w, const char *s, int lenbytes)
{
	size_t n = strlen(s), max = lenbytes == 1 ? 255 : 65535;

	if (n > max)
		n = max;
	put_uint(w, n, lenbytes);
	put_bytes(w, s, n);
}

static size_t
record_size(const struct cache_entry *e)
{
	size_t i, n = 80 + 3 * 256 + 2 + 65536 + 12;

	if (e->policy != NULL)
		for (i = 0; i < e->policy->mx_count; i++)
			n += 1 + strlen(e->policy->mx[i]);
	return n;
}

int
record_encode(const struct cache_entry *e, unsigned char **out, size_t *len)
{
	const struct mtasts_policy *p = e->policy;
	struct writer w = {NULL, 0, record_size(e), false};
	uint32_t line_of[3];
	bool ordered = p != NULL && policy_line_order(p, line_of);
	size_t i;

	*out = NULL;
	if ((w.p = malloc(w.cap)) == NULL)
		return -1;
	put_bytes(&w, (const char[]){MAGIC0, MAGIC1}, 2);
	put_uint(&w, ordered ? 3 : 2, 1);
	put_uint(&w, p != NULL, 1);
	put_uint(&w, (uint64_t)e->status, 1);
	put_uint(&w, p != NULL ? (uint64_t)p->mode : 0, 1);
	put_uint(&w, (uint64_t)e->dnssec, 1);
	put_uint(&w, e->uses, 1);
	put_uint(&w, p != NULL ? p->max_age : 0, 4);
	put_uint(&w, (uint64_t)e->fetched, 8);
	put_uint(&w, p != NULL ? (uint64_t)p->expires : 0, 8);
	put_uint(&w, (uint64_t)e->checked, 8);
	put_uint(&w, (uint64_t)e->next_try, 8);
	put_uint(&w, (uint64_t)e->used, 8);
	put_uint(&w, e->failures, 4);
	put_uint(&w, (uint64_t)e->error.code, 1);
	put_str(&w, p != NULL ? p->id : "", 1);
	put_str(&w, e->error.name, 1);
	put_str(&w, e->error.message, 2);
	put_uint(&w, p != NULL ? p->mx_count : 0, 2);
	for (i = 0; p != NULL && i < p->mx_count; i++)
		put_str(&w, p->mx[i], 1);
	for (i = 0; ordered && i < 3; i++)
		put_uint(&w, line_of[i], 4);
	put_uint(&w, crc32_of(w.p, w.len), 4);
	if (w.failed) {
		free(w.p);
		return -1;
	}
	*out = w.p;
	*len = w.len;
	return 0;
}

struct reader {
	const unsigned char *p;
	size_t len, pos;
	bool failed;
};

static uint64_t
get_uint(struct reader *r, int bytes)
{
	uint64_t v = 0;
	int i;

	if (r->failed || (size_t)bytes > r->len - r->pos) {
		r->failed = true;
		return 0;
	}
	for (i = 0; i < bytes; i++)
		v |= (uint64_t)r->p[r->pos + (size_t)i] << (8 * i);
	r->pos += (size_t)bytes;
	return v;
}

/* Copies a length-prefixed string into out (outlen with the NUL). */
static void
get_str(struct reader *r, int lenbytes, char *out, size_t outlen)
{
	size_t n = (size_t)get_uint(r, lenbytes);

	if (r->failed || n > r->len - r->pos || n >= outlen) {
		r->failed = true;
		out[0] = '\0';
		return;
	}
	memcpy(out, r->p + r->pos, n);
	out[n] = '\0';
	r->pos += n;
}

/* Any writer of the store (a member of the cache's group, a node of the
 * fleet) writes the error's name and message, which reach log lines and
 * SMTP replies: what is not printable ASCII becomes '?'. */
static void
printable(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			*s = '?';
}

/* Points at a length-prefixed string inside the record. */
static const char *
get_span(struct reader *r, int lenbytes, size_t *len)
{
	size_t n = (size_t)get_uint(r, lenbytes);
	const char *at = (const char *)r->p + r->pos;

	if (r->failed || n > r->len - r->pos) {
		r->failed = true;
		return NULL;
	}
	r->pos += n;
	*len = n;
	return at;
}

/*
 * The policy, made under the parser's rules for its values (policy.h), so
 * a record can never hold a policy the parser would refuse.
 */
static struct mtasts_policy *
decode_policy(
    struct reader *r, int version, enum mtasts_mode mode, uint32_t max_age)
{
	const char *few[16], **mx = few;
	size_t few_lens[16], *lens = few_lens;
	size_t i, count = (size_t)get_uint(r, 2);
	struct mtasts_policy *p = NULL;
	uint32_t line_of[3] = {0, 0, 0};

	/* each pattern takes at least its length byte */
	if (r->failed || count > r->len - r->pos)
		return NULL;
	if (count > 16 && ((mx = calloc(count, sizeof(*mx))) == NULL ||
	                      (lens = calloc(count, sizeof(*lens))) == NULL))
		goto out;
	for (i = 0; i < count && !r->failed; i++)
		mx[i] = get_span(r, 1, &lens[i]);
	/* version 3: an order policy_from_values() checks (none: refused) */
	for (i = 0; version >= 3 && i < 3; i++)
		line_of[i] = (uint32_t)get_uint(r, 4);
	if (!r->failed && r->pos == r->len)
		p = policy_from_values(mode, max_age, mx, lens, count,
		    version >= 3 ? line_of : NULL);
out:
	if (mx != few)
		free(mx);
	if (lens != few_lens)
		free(lens);
	return p;
}

/* RFC 8461 §3.1: an id is letters and digits ("" when unknown): nothing
 * else may reach a log line from a record. */
static bool
is_id(const char *id)
{
	for (; *id != '\0'; id++)
		if (!is_alnum(*id))
			return false;
	return true;
}

/* The version byte of a record whose frame is whole (a version 2 or 3
 * record with its CRC right), or 0. */
static int
version_of(const unsigned char *data, size_t len)
{
	uint32_t crc;

	if (len < HEADER || data[0] != MAGIC0 || data[1] != MAGIC1)
		return 0;
	if (data[2] == 1)
		return 1;
	if (data[2] < 2 || data[2] > VERSION || len < HEADER + 4)
		return 0;
	crc = (uint32_t)data[len - 4] | (uint32_t)data[len - 3] << 8 |
	    (uint32_t)data[len - 2] << 16 | (uint32_t)data[len - 1] << 24;
	return crc32_of(data, len - 4) == crc ? data[2] : 0;
}

int
record_decode(const unsigned char *data, size_t len, struct cache_entry *e)
{
	struct reader r = {data, len, HEADER, false};
	char id[MTASTS_ID_MAX + 1];
	int version = version_of(data, len);
	bool has_policy;
	enum mtasts_mode mode;
	uint32_t max_age;
	int64_t expires;

	memset(e, 0, sizeof(*e));
	if (version == 0)
		return -1;
	if (version >= 2)
		r.len -= 4; /* the CRC */
	has_policy = data[3] != 0;
	e->status = (enum mtasts_status)data[4];
	mode = (enum mtasts_mode)data[5];
	e->dnssec = (enum mtasts_dnssec)data[6];
	e->uses = version == 1 ? 0 : data[7];
	max_age = (uint32_t)get_uint(&r, 4);
	e->fetched = (int64_t)get_uint(&r, 8);
	expires = (int64_t)get_uint(&r, 8);
	e->checked = (int64_t)get_uint(&r, 8);
	e->next_try = (int64_t)get_uint(&r, 8);
	e->used = version == 1 ? e->checked : (int64_t)get_uint(&r, 8);
	e->failures = (uint32_t)get_uint(&r, 4);
	e->error.code = (mtasts_code)get_uint(&r, 1);
	get_str(&r, 1, id, sizeof(id));
	get_str(&r, 1, e->error.name, sizeof(e->error.name));
	get_str(&r, 2, e->error.message, sizeof(e->error.message));
	printable(e->error.name);
	printable(e->error.message);
	if (r.failed || !is_id(id) || e->status > MTASTS_STATUS_ERRORED ||
	    e->dnssec > MTASTS_DNSSEC_BOGUS ||
	    e->error.code >= MTASTS_CODE_COUNT)
		return -1;
	/* version 3 is for a policy in an order of its own (written so) */
	if (!has_policy)
		return version < 3 && get_uint(&r, 2) == 0 && !r.failed &&
		        r.pos == r.len
		    ? 0
		    : -1;
	if ((e->policy = decode_policy(&r, version, mode, max_age)) == NULL)
		return -1;
	memcpy(e->policy->id, id, sizeof(id)); /* get_str ended it */
	e->policy->expires = expires;
	return 0;
}

int64_t
record_checked(const unsigned char *data, size_t len)
{
	struct reader r = {data, len, CHECKED_AT, false};

	if (version_of(data, len) == 0 || len < CHECKED_AT + 8)
		return INT64_MIN;
	return (int64_t)get_uint(&r, 8);
}
