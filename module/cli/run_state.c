/* run_state.c - the state file the last refresh and report run leave for
 * mtasts metrics (run_state.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "run_state.h"
#include "tlsrpt_spool.h"

#define LINE_MAX_STATE 64

int
run_state_path(
    const struct mtasts_config *cfg, const char *which, char *path, size_t len)
{
	char dir[4096];
	int n;

	if (strcmp(which, "send") == 0) {
		if (tlsrpt_dir_of(cfg, dir, sizeof(dir)) != 0)
			return -1;
	} else if (cfg->cache_dir == NULL ||
	    (size_t)snprintf(dir, sizeof(dir), "%s", cfg->cache_dir) >=
	        sizeof(dir)) {
		return -1;
	}
	n = snprintf(path, len, "%s/%s.state", dir, which);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

static bool
name_ok(const char *name)
{
	size_t n = strspn(name, "abcdefghijklmnopqrstuvwxyz_");

	return n > 0 && n < RUN_STATE_NAME && name[n] == '\0';
}

void
run_state_set(struct run_state *s, const char *name, long long value)
{
	size_t i;

	if (!name_ok(name))
		return;
	for (i = 0; i < s->count; i++)
		if (strcmp(s->item[i].name, name) == 0)
			break;
	if (i == RUN_STATE_MAX)
		return;
	if (i == s->count) {
		snprintf(s->item[i].name, sizeof(s->item[i].name), "%s", name);
		s->count++;
	}
	s->item[i].value = value;
}

bool
run_state_get(const struct run_state *s, const char *name, long long *value)
{
	size_t i;

	for (i = 0; i < s->count; i++)
		if (strcmp(s->item[i].name, name) == 0) {
			*value = s->item[i].value;
			return true;
		}
	return false;
}

int
file_replace(const char *path, void (*put)(FILE *f, const void *arg),
    const void *arg)
{
	char tmp[4200];
	FILE *f;
	int fd, saved;

	/* a name the textfile collector and a reader both pass over: it does
	 * not end in .state or .prom */
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >=
	    sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((fd = mkstemp(tmp)) < 0)
		return -1;
	/* counts and times, nothing secret: readable by a monitoring user
	 * (node-exporter runs as its own) */
	if (fchmod(fd, 0644) != 0 || (f = fdopen(fd, "w")) == NULL) {
		saved = errno;
		close(fd);
		goto fail;
	}
	put(f, arg);
	if (fflush(f) != 0 || ferror(f) || fsync(fileno(f)) != 0) {
		saved = errno;
		fclose(f);
		goto fail;
	}
	if (fclose(f) == 0 && rename(tmp, path) == 0)
		return 0;
	saved = errno;
fail:
	unlink(tmp);
	errno = saved;
	return -1;
}

static void
put_state(FILE *f, const void *arg)
{
	const struct run_state *s = arg;
	size_t i;

	for (i = 0; i < s->count; i++)
		fprintf(f, "%s %lld\n", s->item[i].name, s->item[i].value);
}

int
run_state_write(const char *path, const struct run_state *s)
{
	return file_replace(path, put_state, s);
}

int
run_state_read(const char *path, struct run_state *s)
{
	char line[LINE_MAX_STATE], name[RUN_STATE_NAME];
	long long value;
	FILE *f;
	int lines = 0;

	s->count = 0;
	if ((f = fopen(path, "r")) == NULL)
		return errno == ENOENT ? 1 : -1;
	/* a bounded read: a file someone else wrote is not trusted to end */
	while (lines++ < 4 * RUN_STATE_MAX && fgets(line, sizeof(line), f))
		if (sscanf(line, "%23s %lld", name, &value) == 2)
			run_state_set(s, name, value);
	fclose(f);
	return 0;
}
