/* tlsrpt_txt.h - the TLS-RPT record at _smtp._tls.<domain> (RFC 8460 §3). */
#ifndef MTASTS_TLSRPT_H
#define MTASTS_TLSRPT_H

#include <stddef.h>

#include "mtasts_core.h"

#define TLSRPT_MAX_RUA 16

struct tlsrpt {
	size_t rua_count;
	char rua[TLSRPT_MAX_RUA][256];
	int bad_scheme; /* index of a rua neither mailto: nor https:, or -1 */
};

/*
 * Picks the one record beginning with v=TLSRPTv1 among count TXT records
 * and parses it.  MTASTS_ERR_NO_TLSRPT_RECORD when none begins so,
 * MTASTS_ERR_MULTI_STS_RECORDS when several do, MTASTS_ERR_INVALID_STS_RECORD
 * when it is malformed (err says how).
 */
mtasts_code tlsrpt_parse(const char *const *records, const size_t *lens,
    size_t count, struct tlsrpt *out, struct mtasts_error *err);

#endif
