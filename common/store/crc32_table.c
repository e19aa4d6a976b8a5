/*
 * crc32_table.c - a build-time program: prints the tables of crc32.c as
 * C (crc32_table.h), so that they are constant data of the library, shared
 * by every process from the page cache, instead of 8 KB each process
 * computes and writes at its first CRC (two pages of its own, in every
 * Exim delivery).
 */
#include <inttypes.h>
#include <stdio.h>

int
main(void)
{
	static uint32_t table[8][256];
	uint32_t c;
	int i, k;

	for (i = 0; i < 256; i++) {
		c = (uint32_t)i;
		for (k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
		table[0][i] = c;
	}
	for (i = 0; i < 256; i++)
		for (k = 1; k < 8; k++)
			table[k][i] = table[0][table[k - 1][i] & 0xff] ^
			    (table[k - 1][i] >> 8);
	printf("/* made by crc32_table.c */\n"
	       "static const uint32_t table[8][256] = {\n");
	for (k = 0; k < 8; k++) {
		printf("\t{");
		for (i = 0; i < 256; i++)
			printf("%s0x%08" PRIx32 "u,", i % 6 ? " " : "\n\t    ",
			    table[k][i]);
		printf("\n\t},\n");
	}
	printf("};\n");
	return ferror(stdout) ? 1 : 0;
}
