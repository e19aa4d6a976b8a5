/* Unit tests of the cache record codec (common/store/cache_codec.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "error.h"
#include "crc32.h"
#include "cache_codec.h"
#include "unit.h"

static void
entry_with_policy(struct cache_entry *e)
{
	static const char body[] = "version: STSv1\r\nmode: enforce\r\n"
	                           "mx: mx1.example.com\r\nmx: *.example.net\r\n"
	                           "max_age: 86400\r\n";

	memset(e, 0, sizeof(*e));
	ck_assert_int_eq(
	    mtasts_policy_parse(body, sizeof(body) - 1, &e->policy, NULL),
	    MTASTS_OK);
	snprintf(e->policy->id, sizeof(e->policy->id), "20261122");
	e->policy->expires = 1900086400;
	e->status = MTASTS_STATUS_FOUND;
	e->fetched = 1900000000;
	e->checked = 1900000100;
	e->next_try = 0;
	e->used = 1900000200;
	e->uses = 7;
	e->failures = 3;
	mtasts_error_set(&e->error, MTASTS_ERR_HTTP_STATUS, "a message");
}

/* The same CRC-32 as zlib's, which wrote the version 2 records already on
 * disk: every length around the 8-byte steps, every alignment. */
START_TEST(crc32_is_zlibs)
{
	unsigned char buf[300];
	size_t i, len, at;

	ck_assert_uint_eq(crc32_of("123456789", 9), 0xcbf43926u);
	ck_assert_uint_eq(crc32_of("", 0), 0);
	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(i * 151 + 7);
	for (at = 0; at < 8; at++)
		for (len = 0; len + at <= sizeof(buf); len += 1 + len / 16)
			ck_assert_uint_eq(crc32_of(buf + at, len),
			    crc32(0, buf + at, (uInt)len));
}
END_TEST

/* A record is written by any process of the cache's group: an id that is
 * not letters and digits (a newline for a log line) is not a record. */
START_TEST(an_id_that_is_no_id_is_refused)
{
	struct cache_entry e, d;
	unsigned char *data;
	size_t len;

	entry_with_policy(&e);
	snprintf(e.policy->id, sizeof(e.policy->id), "2026\nforged");
	ck_assert_int_eq(record_encode(&e, &data, &len), 0);
	ck_assert_int_eq(record_decode(data, len, &d), -1);
	cache_entry_clear(&d);
	free(data);
	cache_entry_clear(&e);
}
END_TEST

/* Any writer of the store writes the error's words, which reach log
 * lines and SMTP replies: what is not printable ASCII is read as '?'. */
START_TEST(an_error_reads_as_printable_text)
{
	struct cache_entry e, d;
	unsigned char *data;
	size_t len;

	entry_with_policy(&e);
	snprintf(e.error.name, sizeof(e.error.name), "a\tb");
	snprintf(e.error.message, sizeof(e.error.message),
	    "x\x1b[2J\r\nFrom: y \xc3\xa9");
	ck_assert_int_eq(record_encode(&e, &data, &len), 0);
	ck_assert_int_eq(record_decode(data, len, &d), 0);
	ck_assert_str_eq(d.error.name, "a?b");
	ck_assert_str_eq(d.error.message, "x?[2J??From: y ??");
	free(data);
	cache_entry_clear(&d);
	cache_entry_clear(&e);
}
END_TEST

START_TEST(round_trip)
{
	struct cache_entry e, d;
	unsigned char *data;
	size_t len;

	entry_with_policy(&e);
	ck_assert_int_eq(record_encode(&e, &data, &len), 0);
	ck_assert_int_eq(record_decode(data, len, &d), 0);
	ck_assert_ptr_nonnull(d.policy);
	ck_assert_str_eq(d.policy->id, "20261122");
	ck_assert_int_eq(d.policy->mode, MTASTS_MODE_ENFORCE);
	ck_assert_uint_eq(d.policy->mx_count, 2);
	ck_assert_str_eq(d.policy->mx[1], "*.example.net");
	ck_assert_int_eq(d.policy->expires, 1900086400);
	ck_assert_int_eq(d.checked, 1900000100);
	ck_assert_int_eq(d.used, 1900000200);
	ck_assert_int_eq(d.uses, 7);
	ck_assert_int_eq(d.failures, 3);
	ck_assert_str_eq(d.error.message, "a message");
	ck_assert_int_eq(record_checked(data, len), 1900000100);
	cache_entry_clear(&d);
	cache_entry_clear(&e);
	free(data);
}
END_TEST

START_TEST(every_damaged_byte_is_refused)
{
	struct cache_entry e, d;
	unsigned char *data;
	size_t len, i;
	int bit;

	entry_with_policy(&e);
	ck_assert_int_eq(record_encode(&e, &data, &len), 0);
	/* the CRC: no flipped bit anywhere reads back as a record */
	for (i = 0; i < len; i++)
		for (bit = 0; bit < 8; bit++) {
			data[i] ^= (unsigned char)(1 << bit);
			ck_assert_int_eq(record_decode(data, len, &d), -1);
			cache_entry_clear(&d);
			data[i] ^= (unsigned char)(1 << bit);
		}
	/* nor any record cut short */
	for (i = 0; i < len; i++) {
		ck_assert_int_eq(record_decode(data, i, &d), -1);
		cache_entry_clear(&d);
		ck_assert(record_checked(data, i) == INT64_MIN);
	}
	cache_entry_clear(&e);
	free(data);
}
END_TEST

START_TEST(version_1_is_read)
{
	/* 'M' 'S' 1, no policy, status not_found, error dns_nxdomain */
	unsigned char v1[64] = {'M', 'S', 1, 0, MTASTS_STATUS_NOT_FOUND};
	struct cache_entry d;
	size_t o = 8 + 4 + 8 + 8;

	v1[o] = 0x10; /* checked = 16 */
	o += 8 + 8 + 4;
	v1[o++] = MTASTS_ERR_DNS_NXDOMAIN;
	o += 1 + 1 + 2 + 2; /* empty id, name, message; no mx */
	ck_assert_int_eq(record_decode(v1, o, &d), 0);
	ck_assert_ptr_null(d.policy);
	ck_assert_int_eq(d.status, MTASTS_STATUS_NOT_FOUND);
	ck_assert_int_eq(d.checked, 16);
	ck_assert_int_eq(d.used, 16);
	ck_assert_int_eq(record_checked(v1, o), 16);
	cache_entry_clear(&d);
}
END_TEST

static void
fix_crc(unsigned char *data, size_t len)
{
	uint32_t crc = crc32_of(data, len - 4);

	data[len - 4] = (unsigned char)crc;
	data[len - 3] = (unsigned char)(crc >> 8);
	data[len - 2] = (unsigned char)(crc >> 16);
	data[len - 1] = (unsigned char)(crc >> 24);
}

/* Where a policy's lines stood (line_of) is kept: a record of version 3
 * for an order of its own; the canonical order, and records of version 2
 * (which the version before wrote for every policy), read as all 0. */
START_TEST(published_order_survives_the_record)
{
	static const char body[] = "max_age: 86400\nmx: a.example\n"
	                           "mode: enforce\nmx: b.example\n"
	                           "version: STSv1\n";
	static const uint8_t zero[3] = {0, 0, 0};
	struct cache_entry e, d;
	unsigned char *data, *v2;
	size_t len;

	entry_with_policy(&e);
	ck_assert_int_eq(record_encode(&e, &data, &len), 0);
	ck_assert_int_eq(data[2], 2); /* canonical: as the version before */
	ck_assert_int_eq(record_decode(data, len, &d), 0);
	ck_assert_mem_eq(d.policy->line_of, zero, sizeof(zero));
	cache_entry_clear(&d);
	free(data);
	mtasts_policy_free(e.policy);
	ck_assert_int_eq(
	    mtasts_policy_parse(body, sizeof(body) - 1, &e.policy, NULL),
	    MTASTS_OK);
	ck_assert_uint_eq(e.policy->line_of[0], 5);
	ck_assert_int_eq(record_encode(&e, &data, &len), 0);
	ck_assert_int_eq(data[2], 3);
	ck_assert_int_eq(record_checked(data, len), e.checked);
	ck_assert_int_eq(record_decode(data, len, &d), 0);
	ck_assert_mem_eq(d.policy->line_of, e.policy->line_of, sizeof(zero));
	ck_assert_uint_eq(d.policy->mx_count, 2);
	cache_entry_clear(&d);

	/* the same policy as the version before wrote it: version 2, no
	 * line_of - it reads, in the canonical order */
	ck_assert_ptr_nonnull(v2 = malloc(len));
	memcpy(v2, data, len - 16);
	memcpy(v2 + len - 16, data + len - 4, 4);
	v2[2] = 2;
	fix_crc(v2, len - 12);
	ck_assert_int_eq(record_decode(v2, len - 12, &d), 0);
	ck_assert_mem_eq(d.policy->line_of, zero, sizeof(zero));
	ck_assert_uint_eq(d.policy->mx_count, 2);
	cache_entry_clear(&d);
	/* ... and a version 3 record without its line_of does not */
	v2[2] = 3;
	fix_crc(v2, len - 12);
	ck_assert_int_eq(record_decode(v2, len - 12, &d), -1);
	cache_entry_clear(&d);
	free(v2);

	/* an order that is none is refused, as any value the parser would
	 * not make: positions repeated, 0, or past the last line */
	data[len - 16] = 3; /* version where mode is: 3,3,1 */
	fix_crc(data, len);
	ck_assert_int_eq(record_decode(data, len, &d), -1);
	cache_entry_clear(&d);
	data[len - 16] = 6;
	fix_crc(data, len);
	ck_assert_int_eq(record_decode(data, len, &d), -1);
	cache_entry_clear(&d);
	data[len - 16] = 0;
	fix_crc(data, len);
	ck_assert_int_eq(record_decode(data, len, &d), -1);
	cache_entry_clear(&d);
	data[len - 16] = 2; /* 2,3,1: another order, read */
	fix_crc(data, len);
	ck_assert_int_eq(record_decode(data, len, &d), 0);
	ck_assert_uint_eq(d.policy->line_of[0], 2);
	ck_assert_uint_eq(d.policy->line_of[2], 1);
	cache_entry_clear(&d);
	free(data);
	cache_entry_clear(&e);
}
END_TEST

START_TEST(unknown_version_refused)
{
	struct cache_entry e, d;
	unsigned char *data;
	size_t len;

	entry_with_policy(&e);
	ck_assert_int_eq(record_encode(&e, &data, &len), 0);
	data[2] = 4;
	fix_crc(data, len);
	ck_assert_int_eq(record_decode(data, len, &d), -1);
	cache_entry_clear(&d);
	cache_entry_clear(&e);
	free(data);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("record");
	TCase *tc = tcase_create("record");

	tcase_add_test(tc, crc32_is_zlibs);
	tcase_add_test(tc, round_trip);
	tcase_add_test(tc, an_error_reads_as_printable_text);
	tcase_add_test(tc, an_id_that_is_no_id_is_refused);
	tcase_add_test(tc, every_damaged_byte_is_refused);
	tcase_add_test(tc, version_1_is_read);
	tcase_add_test(tc, unknown_version_refused);
	tcase_add_test(tc, published_order_survives_the_record);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
