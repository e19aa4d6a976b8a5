/*
 * files.h - the files of the stores on this host: the directories, groups
 * and modes that let every process of the host (Exim's user, the filter's,
 * the command's) share them.  Used by the witness of enforce policies and
 * by the LMDB stores (internal to libmtasts).
 */
#ifndef MTASTS_STORE_FILES_H
#define MTASTS_STORE_FILES_H

#include <stdbool.h>
#include <sys/types.h>

#include "config.h"
#include "mtasts_core.h"

/* The configured group, looked up at most once for the files of one
 * directory, and only by a process that may change them. */
struct store_group {
	const char *name; /* NULL: no group configured */
	bool looked, known;
	gid_t gid;
	gid_t dir_gid; /* the group of the files' directory */
};

/* The group for the files of directory dir (NULL: no directory known). */
struct store_group store_group_for(
    const struct mtasts_config *cfg, const char *dir);

/* Gives the file at path group g and mode (failing is no error: a process
 * that does not own it finds it as its owner set it); one lstat when it
 * has them already.  A link is neither followed nor changed. */
void store_own(const char *path, struct store_group *g, mode_t mode);

/* store_own() for a file whose directory is not known. */
void store_set_ownership(
    const struct mtasts_config *cfg, const char *path, mode_t mode);

/* The mode of a directory of files of mode file_mode: searchable where
 * they are readable, and set-group-ID so that new files take its group
 * (the cache's, and the TLS-RPT store's beside it). */
mode_t store_dir_mode(unsigned file_mode);

/* Makes directory dir (when it is not there) with the cache's group and
 * store_dir_mode().  Returns 0, or -1 with err set. */
int store_make_dir(
    const struct mtasts_config *cfg, const char *dir, struct mtasts_error *err);

#endif
