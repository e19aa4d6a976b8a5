/*
 * named.h - a table of things chosen by name in the configuration (the
 * stores' backends: store/cache.c, tlsrpt/tlsrpt_store.c).  Each entry is
 * a struct whose first member is its const char *name.
 */
#ifndef MTASTS_NAMED_H
#define MTASTS_NAMED_H

#include <stddef.h>
#include <string.h>

/* The entry of table[n] called name (NULL: the first, the default), or
 * NULL when none is. */
static inline const void *
named_in(const void *const *table, size_t n, const char *name)
{
	size_t i;

	if (name == NULL)
		return table[0];
	for (i = 0; i < n; i++)
		if (strcmp(*(const char *const *)table[i], name) == 0)
			return table[i];
	return NULL;
}

#endif
