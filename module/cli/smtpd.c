/*
 * smtpd.c - mtasts smtpd-reload: has OpenSMTPD load the enforce table and
 * keeps the record of what it loaded, which filter-mtasts trusts before it
 * lets a recipient of an enforce domain through (README, OpenSMTPD).
 *
 * The record (--loaded) must never list a domain smtpd does not route by
 * the table.  Its first line names the smtpd it was made with (smtpd_instance.h):
 * a record of an earlier smtpd counts as empty, for the running one read
 * the table afresh when it started.  Before "smtpctl update table" it is
 * cut down to the domains
 * both in it and in the table about to be loaded (a domain leaving the
 * table is forgotten first); after the update succeeded it lists what the
 * table held both before and after it (smtpd read one or the other), and
 * the load is done again until those two agree.  Runs take turns (a lock
 * beside the record).  The record lives in a directory only root writes
 * (/run/mtasts-smtpd), and the table, in a directory the mtasts group
 * writes, is read as a regular file with one name, never through a link
 * or a FIFO, and only its domain names are kept.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "domain.h"
#include "smtpd_instance.h"

#define DEFAULT_TABLE "/var/lib/mtasts/smtpd-enforce"
#define DEFAULT_LOADED "/run/mtasts-smtpd/smtpd-enforce.loaded"
#define DEFAULT_NAME "mtasts_enforce"
#define DEFAULT_ROUTES_NAME "mtasts_routes"
/* the most a table may hold */
#define LIST_MAX (16 * 1024 * 1024)
/* the table changed while it was loaded: load again, this many times */
#define ROUNDS 5

struct list {
	char **domains;
	size_t count;
	char *text;
};

static void
list_free(struct list *l)
{
	free(l->domains);
	free(l->text);
	memset(l, 0, sizeof(*l));
}

/*
 * Reads a domain list, one per line: a regular file, never through a link
 * (root reads here what the mtasts group may write), at most LIST_MAX
 * bytes, and only lines that are domain names are kept (what is copied to
 * the record is a list of domains, whatever the file held).  A missing
 * file is an empty list when may_lack.
 */
static int
list_read(
    const struct cli *cli, const char *path, bool may_lack, struct list *l)
{
	/* O_NONBLOCK: a FIFO put there must not hang root */
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	ssize_t n = 0;
	char *line, *save = NULL;

	memset(l, 0, sizeof(*l));
	if (fd < 0 && errno == ENOENT && may_lack)
		return 0;
	/* one name only: not a hard link to a file of someone else's */
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_nlink != 1 || st.st_size > LIST_MAX ||
	    (l->text = malloc(LIST_MAX + 1)) == NULL ||
	    (n = read(fd, l->text, LIST_MAX)) < 0) {
		fprintf(stderr, "mtasts %s: %s: %s\n", cli->name, path,
		    fd < 0 || n < 0 ? strerror(errno)
		                    : "not a regular file of a domain list");
		if (fd >= 0)
			close(fd);
		list_free(l);
		return -1;
	}
	close(fd);
	l->text[n] = '\0';
	for (line = strtok_r(l->text, "\r\n", &save); line != NULL;
	     line = strtok_r(NULL, "\r\n", &save))
		if (domain_is_valid(line, strlen(line)) &&
		    cli_push(&l->domains, &l->count, line) != 0) {
			list_free(l);
			return -1;
		}
	return 0;
}

static bool
list_has(const struct list *l, const char *domain)
{
	size_t i;

	for (i = 0; i < l->count; i++)
		if (strcasecmp(l->domains[i], domain) == 0)
			return true;
	return false;
}

static bool
list_same(const struct list *a, const struct list *b)
{
	size_t i;

	if (a->count != b->count)
		return false;
	for (i = 0; i < a->count; i++)
		if (strcmp(a->domains[i], b->domains[i]) != 0)
			return false;
	return true;
}

/*
 * Writes the domains of l that are also in only (every one when only is
 * NULL) to path, atomically: a new file beside it, renamed over it.
 */
static int
record_write(const struct cli *cli, const char *path, const char *instance,
    const struct list *l, const struct list *only)
{
	char tmp[4096];
	size_t i;
	FILE *f;
	int fd;
	bool ok;

	snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid());
	unlink(tmp);
	fd = open(
	    tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0 || (f = fdopen(fd, "w")) == NULL) {
		fprintf(stderr, "mtasts %s: %s: %s\n", cli->name, tmp,
		    strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	fprintf(f, "%s\n", instance);
	for (i = 0; i < l->count; i++)
		if (only == NULL || list_has(only, l->domains[i]))
			fprintf(f, "%s\n", l->domains[i]);
	/* a record cut short (a full /run) could name a domain that is not
	 * the one loaded */
	ok = fflush(f) == 0 && !ferror(f) && fsync(fileno(f)) == 0;
	ok = fclose(f) == 0 && ok;
	if (!ok || rename(tmp, path) != 0) {
		fprintf(stderr, "mtasts %s: %s: %s\n", cli->name, path,
		    strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* Whether the record at path was made with this smtpd instance. */
static bool
record_of(const char *path, const char *instance)
{
	char line[128];
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;
	bool same;

	if (f == NULL) {
		if (fd >= 0)
			close(fd);
		return false;
	}
	same = fgets(line, sizeof(line), f) != NULL &&
	    strncmp(line, instance, strlen(instance)) == 0 &&
	    line[strlen(instance)] == '\n';
	fclose(f);
	return same;
}

/* Runs "SMTPCTL update table NAME", its output to stderr; true on 0. */
static bool
update_table(const struct cli *cli, const char *smtpctl, const char *name)
{
	int status;
	pid_t pid = fork();

	if (pid < 0) {
		fprintf(stderr, "mtasts %s: fork: %s\n", cli->name,
		    strerror(errno));
		return false;
	}
	if (pid == 0) {
		dup2(STDERR_FILENO, STDOUT_FILENO);
		execlp(smtpctl, smtpctl, "update", "table", name, (char *)NULL);
		fprintf(stderr, "mtasts %s: %s: %s\n", cli->name, smtpctl,
		    strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return false;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return true;
	fprintf(stderr, "mtasts %s: %s update table %s failed\n", cli->name,
	    smtpctl, name);
	return false;
}

/*
 * One load.  smtpd reads the table itself when told to, at a moment
 * between the two reads here: after the load, the record lists what both
 * reads had (what smtpd has whichever it saw), and *settled says whether
 * they were the same.
 */
static int
load_once(const struct cli *cli, const char *table, const char *loaded,
    const char *smtpctl, const char *sock_path, const char *const names[2],
    bool *settled)
{
	struct list before, old, after;
	char instance[128], now[128];
	int status = CLI_ERROR;

	*settled = false;
	if (list_read(cli, table, false, &before) != 0)
		return CLI_ERROR;
	memset(&after, 0, sizeof(after));
	memset(&old, 0, sizeof(old));
	/* a record that names no smtpd is never taken for the running
	 * one's (filter-mtasts): say why the loads will not count */
	if (smtpd_instance(sock_path, instance, sizeof(instance)) != 0)
		fprintf(stderr,
		    "mtasts %s: no smtpd control socket at %s (see "
		    "--smtpd-socket)\n",
		    cli->name, sock_path);
	/* what an earlier smtpd loaded, this one may not have: nothing */
	if ((!record_of(loaded, instance) ||
	        list_read(cli, loaded, true, &old) == 0) &&
	    record_write(cli, loaded, instance, &before, &old) == 0 &&
	    /* the routes first (the relay_tls action relays by them), then
	     * the list that sends domains to that action */
	    update_table(cli, smtpctl, names[1]) &&
	    update_table(cli, smtpctl, names[0]) &&
	    list_read(cli, table, false, &after) == 0 &&
	    record_write(cli, loaded, instance, &before, &after) == 0) {
		status = CLI_OK;
		/* a restart in between: load into the new smtpd too */
		smtpd_instance(sock_path, now, sizeof(now));
		*settled = list_same(&before, &after) &&
		    strcmp(instance, now) == 0;
	}
	list_free(&before);
	list_free(&old);
	list_free(&after);
	return status;
}

int
cmd_smtpd_reload(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"table", required_argument, NULL, 't'},
	    {"loaded", required_argument, NULL, 'l'},
	    {"smtpctl", required_argument, NULL, 's'},
	    {"name", required_argument, NULL, 'n'},
	    {"routes-name", required_argument, NULL, 'r'},
	    {"smtpd-socket", required_argument, NULL, 'S'}, CLI_COMMON_OPTIONS};
	struct cli cli = {.name = "smtpd-reload",
	    .usage =
	        "usage: mtasts smtpd-reload [--table FILE] [--loaded FILE] "
	        "[--smtpctl PATH] [--name TABLE]\n"
	        "                           [--routes-name TABLE] "
	        "[--smtpd-socket PATH]\n"
	        "Has OpenSMTPD load the enforce tables (smtpctl update "
	        "table; root only): the\nroutes (FILE.routes), then the "
	        "list, and records what it loaded for\nfilter-mtasts; "
	        "mtasts-smtpd-table.service runs it when they change.\n"
	        "Defaults:\n  --table " DEFAULT_TABLE
	        "\n  --loaded " DEFAULT_LOADED "\n  --smtpctl smtpctl "
	        "(from PATH)\n  --name " DEFAULT_NAME " (the list's name in "
	        "smtpd.conf)\n  --routes-name " DEFAULT_ROUTES_NAME
	        " (the routes' name)\n  --smtpd-socket " SMTPD_SOCKET
	        " (smtpd's control socket: which smtpd runs)\n"
	        "Exit 0, or 2 when a table could not be loaded.\n"};
	const char *table = DEFAULT_TABLE, *loaded = DEFAULT_LOADED;
	const char *smtpctl = "smtpctl", *sock_path = SMTPD_SOCKET;
	const char *names[2] = {DEFAULT_NAME, DEFAULT_ROUTES_NAME};
	bool done, settled = false;
	int opt, status = CLI_OK, round, fd;
	char lock[4096];

	while ((opt = getopt_long(argc, argv, "t:l:s:n:r:S:" CLI_COMMON_SHORT,
	            opts, NULL)) != -1) {
		if (opt == 't')
			table = optarg;
		else if (opt == 'l')
			loaded = optarg;
		else if (opt == 's')
			smtpctl = optarg;
		else if (opt == 'n')
			names[0] = optarg;
		else if (opt == 'r')
			names[1] = optarg;
		else if (opt == 'S')
			sock_path = optarg;
		else if ((status = cli_common_option(&cli, opt, &done)), done)
			return status;
	}
	if (optind != argc)
		return cli_usage_error(&cli, "unexpected argument");
	/* one run at a time: the record is written in steps */
	snprintf(lock, sizeof(lock), "%s.lock", loaded);
	if ((fd = open(lock, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600)) <
	        0 ||
	    flock(fd, LOCK_EX) != 0) {
		fprintf(stderr, "mtasts %s: %s: %s\n", cli.name, lock,
		    strerror(errno));
		if (fd >= 0)
			close(fd);
		return CLI_ERROR;
	}
	for (round = 0; round < ROUNDS && !settled; round++)
		if ((status = load_once(&cli, table, loaded, smtpctl, sock_path,
		         names, &settled)) != CLI_OK)
			break;
	close(fd);
	if (status == CLI_OK && !settled) {
		fprintf(stderr,
		    "mtasts %s: %s kept changing while it was loaded; the "
		    "record lists only what every load had\n",
		    cli.name, table);
		status = CLI_ERROR;
	}
	return status;
}
