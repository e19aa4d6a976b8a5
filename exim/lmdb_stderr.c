/*
 * lmdb_stderr.c - the stderr of the LMDB linked into mtasts_exim.so
 * (exim/lmdb-pic renames its one reference to libc's stderr to this, so
 * that the archive links into a shared object): libc's own, set when the
 * module is loaded.
 */
#include <stdio.h>

FILE *mtasts_lmdb_stderr;

__attribute__((constructor)) static void
lmdb_stderr_init(void)
{
	mtasts_lmdb_stderr = stderr;
}
