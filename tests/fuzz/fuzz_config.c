/*
 * fuzz_config.c - the configuration file (common/config.c through
 * libinih): the input is the file, written to a memfd that
 * mtasts_config_load() reads as /proc/self/fd/N.  What loads must hold
 * values in the ranges mtasts.conf(5) gives; what does not must say why
 * in one printable line.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"

const char *const fuzz_words[] = {"[mtasts]\n", "[domain ", "example.com]\n",
    "resolver = ", "recursive", "127.0.0.1@53", "cache_dir = /", "none",
    "cache_mode = 0640", "concurrency = ", "dns_timeout = 2.5",
    "connect_to = a:443:b:8443", "txt_recheck = ", "mode = enforce", "mx = *.",
    "skip = yes", "xn--", " = ", ";", NULL};

static bool
lower_no_dot(const char *s)
{
	size_t n = strlen(s);

	if (n > 0 && s[n - 1] == '.')
		return false;
	for (; *s != '\0'; s++)
		if (*s >= 'A' && *s <= 'Z')
			return false;
	return true;
}

static void
check_loaded(const struct mtasts_config *cfg)
{
	size_t i, j;

	fuzz_assert(cfg->resolver != RESOLVER_FORWARD ||
	    (cfg->forwarder != NULL && cfg->forwarder[0] != '\0'));
	fuzz_assert(
	    cfg->resolver != RESOLVER_RECURSIVE || cfg->trust_anchor != NULL);
	fuzz_assert(cfg->dns_timeout_ms > 0 && cfg->dns_timeout_ms <= 3600000);
	fuzz_assert(
	    cfg->fetch_timeout_ms > 0 && cfg->fetch_timeout_ms <= 3600000);
	fuzz_assert(cfg->concurrency >= 1 && cfg->concurrency <= 1024);
	fuzz_assert(cfg->cache_mode >= 0600 && cfg->cache_mode <= 0666);
	fuzz_assert(cfg->cache_dir == NULL || cfg->cache_dir[0] == '/');
	for (i = 0; i < cfg->connect_to_count; i++)
		fuzz_assert(strchr(cfg->connect_to[i], ':') != NULL);
	for (i = 0; i < cfg->override_count; i++) {
		const struct override *o = &cfg->overrides[i];

		fuzz_assert(o->domain[0] != '\0' && lower_no_dot(o->domain));
		fuzz_assert(config_override(cfg, o->domain) == o);
		/* skip, or a mode; mx only with a mode */
		fuzz_assert(o->skip != o->has_mode);
		fuzz_assert(o->mx_count == 0 || o->has_mode);
		for (j = 0; j < o->mx_count; j++)
			fuzz_assert(lower_no_dot(o->mx[j]));
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static char path[64];
	struct mtasts_config *cfg;
	struct mtasts_error err;
	const char *c;

	if (fd < 0) {
		if ((fd = memfd_create("mtasts.conf", MFD_CLOEXEC)) < 0) {
			perror("memfd_create");
			fuzz_fail("memfd_create", __FILE__, __LINE__);
		}
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) != 0 ||
	    (size > 0 && pwrite(fd, data, size, 0) != (ssize_t)size))
		fuzz_fail("writing the memfd", __FILE__, __LINE__);
	memset(&err, 0, sizeof(err));
	if (mtasts_config_load(path, &cfg, &err) == MTASTS_OK) {
		fuzz_assert(cfg != NULL);
		check_loaded(cfg);
		mtasts_config_free(cfg);
		return 0;
	}
	fuzz_assert(cfg == NULL);
	fuzz_assert(err.code == MTASTS_ERR_CONFIG);
	fuzz_assert(memchr(err.message, '\0', sizeof(err.message)) != NULL);
	for (c = err.message; *c != '\0'; c++)
		fuzz_assert(*c >= 0x20 && *c < 0x7f);
	return 0;
}
