/*
 * fuzz_spool.c - the TLS-RPT spool (common/tlsrpt/tlsrpt_spool.c), which every
 * member of the cache's group may write: the input is a day's spool file,
 * read back from a temporary directory as mtasts tlsrpt folds it, in
 * batches.  Every session handed on must be a whole, printable one; the
 * offset must end within the file and never move back.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"
#include "tlsrpt_spool.h"

const char *const fuzz_words[] = {"S1 ", "example.com ", "mx.example.com ",
    "192.0.2.1 ", "- ", "1 ", "0 ", "certificate-expired", "\n", NULL};

static bool
printable_word(const char *s, bool may_be_empty)
{
	if (*s == '\0')
		return may_be_empty;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

static void
check_session(void *arg, const struct spool_session *x)
{
	(*(size_t *)arg)++;
	fuzz_assert(printable_word(x->domain, false));
	fuzz_assert(printable_word(x->mx_host, false));
	fuzz_assert(printable_word(x->mx_ip, true));
	fuzz_assert(printable_word(x->local_ip, true));
	fuzz_assert(printable_word(x->cert_result, true));
}

static char dir[] = "/tmp/mtasts-fuzz-spool-XXXXXX";

static void
remove_dir(void)
{
	rmdir(dir);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct mtasts_config cfg;
	char path[128];
	uint64_t offset = 0, before;
	size_t sessions = 0;
	FILE *f;

	if (cfg.tlsrpt_spool == NULL) {
		fuzz_assert(mkdtemp(dir) != NULL);
		atexit(remove_dir);
		cfg.tlsrpt_spool = dir;
		cfg.cache_mode = 0600;
		cfg.tlsrpt_size = 1 << 20;
	}
	snprintf(path, sizeof(path), "%s/sessions-2026-12-01", dir);
	fuzz_assert((f = fopen(path, "wb")) != NULL);
	fuzz_assert(fwrite(data, 1, size, f) == size);
	fclose(f);
	do {
		before = offset;
		sessions = 0;
		fuzz_assert(tlsrpt_spool_read(&cfg, "2026-12-01", &offset, 3,
		                check_session, &sessions, NULL) == MTASTS_OK);
		fuzz_assert(offset >= before && offset <= size);
		fuzz_assert(sessions <= 3);
	} while (offset != before);
	unlink(path);
	return 0;
}
