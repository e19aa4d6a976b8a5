/*
 * fuzz_record.c - the cache record codec (common/store/cache_codec.c): records are
 * read from a file other processes write and a disk may damage.  Any
 * bytes: decoded or refused, never read past.  What decodes round-trips:
 * encoded again it decodes to the same entry, and encodes to the same
 * bytes.  The input is also tried with its CRC-32 made right, so that
 * mutations reach the fields behind the checksum.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "crc32.h"
#include "fuzz.h"
#include "cache_codec.h"

const char *const fuzz_words[] = {"MS\x03", "MS\x02", "MS\x01", "\xff\xff\xff\xff",
    "\x01", "\x02", "\x05mx.a.", "\x03*.a", "\x20", NULL};

static bool
same_policy(const struct mtasts_policy *a, const struct mtasts_policy *b)
{
	size_t i;

	if (a == NULL || b == NULL)
		return a == b;
	if (strcmp(a->id, b->id) != 0 || a->mode != b->mode ||
	    a->max_age != b->max_age || a->expires != b->expires ||
	    a->mx_count != b->mx_count ||
	    memcmp(a->line_of, b->line_of, sizeof(a->line_of)) != 0)
		return false;
	for (i = 0; i < a->mx_count; i++)
		if (strcmp(a->mx[i], b->mx[i]) != 0)
			return false;
	return true;
}

static bool
same_entry(const struct cache_entry *a, const struct cache_entry *b)
{
	return a->status == b->status && a->fetched == b->fetched &&
	    a->checked == b->checked && a->next_try == b->next_try &&
	    a->used == b->used && a->failures == b->failures &&
	    a->dnssec == b->dnssec && a->error.code == b->error.code &&
	    strcmp(a->error.name, b->error.name) == 0 &&
	    strcmp(a->error.message, b->error.message) == 0 &&
	    same_policy(a->policy, b->policy);
}

static void
round_trip(const unsigned char *data, size_t len)
{
	struct cache_entry e1, e2;
	unsigned char *out1 = NULL, *out2 = NULL;
	size_t len1, len2;
	int64_t checked = record_checked(data, len);

	if (record_decode(data, len, &e1) != 0) {
		cache_entry_clear(&e1);
		return;
	}
	fuzz_assert(checked == e1.checked);
	if (record_encode(&e1, &out1, &len1) != 0) {
		cache_entry_clear(&e1);
		return; /* out of memory */
	}
	fuzz_assert(record_checked(out1, len1) == e1.checked);
	fuzz_assert(record_decode(out1, len1, &e2) == 0);
	fuzz_assert(same_entry(&e1, &e2));
	if (record_encode(&e2, &out2, &len2) == 0)
		fuzz_assert(len1 == len2 && memcmp(out1, out2, len1) == 0);
	free(out1);
	free(out2);
	cache_entry_clear(&e1);
	cache_entry_clear(&e2);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *fixed;
	uint32_t crc;

	round_trip(data, size);
	/* a version 2 or 3 frame with a CRC-32 that matches */
	if (size < 12 || data[0] != 'M' || data[1] != 'S' ||
	    (data[2] != 2 && data[2] != 3))
		return 0;
	if ((fixed = malloc(size)) == NULL)
		return 0;
	memcpy(fixed, data, size);
	crc = crc32_of(fixed, size - 4);
	fixed[size - 4] = (unsigned char)crc;
	fixed[size - 3] = (unsigned char)(crc >> 8);
	fixed[size - 2] = (unsigned char)(crc >> 16);
	fixed[size - 1] = (unsigned char)(crc >> 24);
	round_trip(fixed, size);
	free(fixed);
	return 0;
}
