/*
 * run_state.h - what the last run of mtasts refresh and of mtasts tlsrpt
 * send leave behind for mtasts metrics: a few "name value" lines in a small
 * file beside the data they worked on (refresh.state in cache_dir,
 * send.state in the TLS-RPT store's directory), replaced whole by a rename
 * so that a reader sees the old file or the new one, never half of one.
 * A missing file says the command never ran there.
 */
#ifndef MTASTS_RUN_STATE_H
#define MTASTS_RUN_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define RUN_STATE_MAX 16 /* names a state holds */
#define RUN_STATE_NAME 24 /* bytes of a name, its NUL included */

struct run_state {
	size_t count;
	struct {
		char name[RUN_STATE_NAME];
		long long value;
	} item[RUN_STATE_MAX];
};

struct mtasts_config;

/* The path of the state of "refresh" or "send" for cfg; -1 when cfg has no
 * directory for it or the path does not fit. */
int run_state_path(
    const struct mtasts_config *cfg, const char *which, char *path, size_t len);

/* Sets name (at most RUN_STATE_NAME - 1 bytes of [a-z_]) to value; a name
 * past RUN_STATE_MAX is not kept. */
void run_state_set(struct run_state *s, const char *name, long long value);

/* Whether s holds name; its value in *value. */
bool run_state_get(
    const struct run_state *s, const char *name, long long *value);

/* Replaces path with what put(f, arg) writes: a new file in path's
 * directory (mode 0644), synced, renamed over path, so that a reader sees
 * the old file or the new one.  0, or -1 with errno set. */
int file_replace(const char *path, void (*put)(FILE *f, const void *arg),
    const void *arg);

/* Writes s to path (file_replace).  0, or -1 with errno set. */
int run_state_write(const char *path, const struct run_state *s);

/* Reads path into s (lines that do not parse are skipped).  0, 1 when
 * there is no such file, -1 with errno set. */
int run_state_read(const char *path, struct run_state *s);

/* What mtasts tlsrpt send counts per report (domain and rua) and keeps
 * for mtasts metrics: claimed and waiting come from a fleet's store. */
#define TLSRPT_SEND_RESULTS                                               \
	{"sent", "retry", "failed", "skipped", "error", "claimed", "waiting"}

#endif
