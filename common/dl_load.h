/*
 * dl_load.h - libraries loaded at their first use rather than with
 * libmtasts (net/curl_load.c, store/redis/redis_load.c): a process that
 * never needs one never maps it (internal to libmtasts).
 */
#ifndef MTASTS_DL_LOAD_H
#define MTASTS_DL_LOAD_H

#include <stddef.h>

/* A function of the library, into the function pointer at slot. */
struct dl_symbol {
	void *slot;
	size_t size; /* of the pointer */
	const char *name;
};

#define DL_SYMBOL(field, name)                                                 \
	{                                                                      \
		&(field), sizeof(field), name                                  \
	}

/*
 * Loads soname (RTLD_NOW, RTLD_LOCAL) and fills every slot of symbols.
 * The library's handle, or NULL with why said (then no slot is filled
 * and the library is let go of).
 */
void *dl_load(const char *soname, const struct dl_symbol *symbols, size_t n,
    char *why, size_t whylen);

#endif
