/* unit_redis.h - a real redis-server of a test's own, for the unit tests
 * of the fleet's stores (test_cache.c, test_tlsrpt_store.c). */
#ifndef MTASTS_UNIT_REDIS_H
#define MTASTS_UNIT_REDIS_H

#include <check.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/* where tools/deps unpacks Debian's redis-server (never installed) */
#define UNPACKED_REDIS "/var/cache/mtasts-test/redis/usr/bin/redis-server"

static inline const char *
redis_server(void)
{
	static char path[4096];
	const char *env = getenv("MTASTS_REDIS_SERVER");
	const char *dirs[] = {"/usr/bin", "/usr/local/bin", "/usr/sbin"};
	size_t i;

	if (env != NULL && access(env, X_OK) == 0)
		return env;
	if (access(UNPACKED_REDIS, X_OK) == 0)
		return UNPACKED_REDIS;
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/redis-server", dirs[i]);
		if (access(path, X_OK) == 0)
			return path;
	}
	return NULL;
}

/* Whether a server listens on the unix socket at path. */
static inline bool
accepts(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	bool ok;

	ck_assert_uint_lt(strlen(path), sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

/* A redis-server of the test's own on dir/redis.sock: no port, no
 * persistence. */
static inline pid_t
redis_start(const char *dir)
{
	char sock[128], maxmem[] = "64mb";
	pid_t pid;
	int i;

	snprintf(sock, sizeof(sock), "%s/redis.sock", dir);
	if ((pid = fork()) == 0) {
		if (freopen("/dev/null", "w", stdout) == NULL)
			_exit(126);
		execl(redis_server(), "redis-server", "--port", "0",
		    "--unixsocket", sock, "--save", "", "--appendonly", "no",
		    "--maxmemory", maxmem, "--dir", dir, "--loglevel",
		    "warning", "--logfile", "redis.log", (char *)NULL);
		_exit(127);
	}
	ck_assert_int_gt(pid, 0);
	for (i = 0; i < 500 && !accepts(sock); i++)
		usleep(10000);
	ck_assert_msg(i < 500, "redis-server did not start");
	return pid;
}

static inline void
redis_stop(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

#endif
