/*
 * cache_codec.h - the cache record codec (internal to libmtasts): one domain's
 * cache entry as bytes and back.  The bytes come from a file other
 * processes write and a disk may damage: decoding checks every length and
 * a CRC-32, and rebuilds the policy through the policy parser.
 */
#ifndef MTASTS_RECORD_H
#define MTASTS_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mtasts_core.h"

/* What the cache knows of one domain. */
struct cache_entry {
	enum mtasts_status status; /* of the last discovery */
	struct mtasts_policy *policy; /* in force until policy->expires,
	                                 or NULL (owned by the entry) */
	int64_t fetched; /* when the policy was fetched */
	int64_t checked; /* when the TXT record was last checked */
	int64_t next_try; /* no discovery before this (backoff) */
	int64_t used; /* when a lookup last asked for it (within an hour) */
	uint8_t uses; /* hours it was asked for in, up to 255 */
	uint32_t failures; /* discoveries failed in a row */
	enum mtasts_dnssec dnssec;
	struct mtasts_error error; /* of the last discovery */
};

void cache_entry_clear(struct cache_entry *entry);

/*
 * Encodes e into a new buffer (*out, freed by the caller) of *len bytes.
 * Returns 0, or -1 when memory ran out.
 */
int record_encode(const struct cache_entry *e, unsigned char **out,
    size_t *len);

/*
 * Decodes len bytes into e (which the caller clears).  Returns 0, or -1
 * for bytes that are not a record of a version this code reads (damaged,
 * cut, a checksum that does not match, a policy the parser refuses).
 */
int record_decode(const unsigned char *data, size_t len, struct cache_entry *e);

/* When the record's TXT record was checked; INT64_MIN when it does not
 * decode (then anything may replace it). */
int64_t record_checked(const unsigned char *data, size_t len);

#endif
