/* dl_load.c - loads a library at its first use (see dl_load.h). */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "dl_load.h"

void *
dl_load(const char *soname, const struct dl_symbol *symbols, size_t n,
    char *why, size_t whylen)
{
	void *lib = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
	void *fn;
	size_t i;

	if (lib == NULL) {
		snprintf(why, whylen, "%s", dlerror());
		return NULL;
	}
	for (i = 0; i < n; i++)
		if (dlsym(lib, symbols[i].name) == NULL) {
			snprintf(why, whylen, "%s has no %s", soname,
			    symbols[i].name);
			dlclose(lib);
			return NULL;
		}
	/* dlsym into function pointers (POSIX allows the conversion) */
	for (i = 0; i < n; i++) {
		fn = dlsym(lib, symbols[i].name);
		memcpy(symbols[i].slot, &fn, symbols[i].size);
	}
	return lib;
}
