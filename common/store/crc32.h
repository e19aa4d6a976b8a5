/* crc32.h - CRC-32 (ISO-HDLC, the one of zlib, gzip and PNG) over the
 * cache's records (internal to libmtasts). */
#ifndef MTASTS_CRC32_H
#define MTASTS_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* The CRC-32 of len bytes; crc32_of("123456789", 9) is 0xcbf43926. */
uint32_t crc32_of(const void *data, size_t len);

#endif
