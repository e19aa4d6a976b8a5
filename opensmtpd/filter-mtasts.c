/*
 * filter-mtasts.c - the OpenSMTPD adapter: a filter for smtpd's proc-exec
 * (smtpd-filters protocol 0.6 of OpenSMTPD 6.8, and 0.7 of 7.x: the
 * version is read from the lines themselves).
 *
 * At rcpt-to, for the recipient's domain (module/decide.c decides, with
 * the domain's MX hosts checked: mtasts_decide_mx):
 *   enforce  no MX of the domain the policy allows (after looking the
 *            policy up again): refused, 451 4.7.5 naming MTA-STS, the
 *            domain and the reason; otherwise the domain must be in the
 *            enforce tables (module/smtpd_tables.c) that smtpd.conf relays by,
 *            to the policy's MX, as smtpd has loaded them: when it was not,
 *            the tables are rewritten and reloaded and the recipient waits
 *            for them a little, or is asked to retry
 *   testing  proceeds, and logs what enforce would have refused
 *   none, no policy, skip: proceeds
 *   defer    451 4.7.5: no safe answer now
 *
 * smtpd stops when a filter writes a malformed line or exits, so this one
 * answers every filter request with a well-formed line, survives any input,
 * and exits only at end of input.  Each rcpt-to is decided in a process of
 * its own (workers.c), within REQUEST_BUDGET_MS: a domain whose policy
 * host stalls holds its own sessions, never the others.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "mtasts.h"
#include "protocol.h"
#include "smtpd_instance.h"
#include "smtpd_tables.h"
#include "workers.h"

#define LINE_MAX_BYTES                                                         \
	65536 /* longer lines are cut: the fields we use                       \
	         come first */

/* "reject|" + an SMTP reply line within RFC 5321's 512 octets */
#define REPLY_MAX_BYTES 480
/* how long a request waits for smtpd to load a route it installed */
#define ROUTE_WAIT_MS 2000
/* a missed reload is asked for again at most this often */
#define NUDGE_EVERY_MS 10000
/* the --reload command's time */
#define RELOAD_MAX_MS 10000
/* requests decided at once, and each one's time: discovery's own
 * deadlines (DNS, connect, fetch, a peer's lock) fit well within it, and
 * smtpd's session timeout (300 s) is far */
#define WORKERS_MAX 64
#define REQUEST_BUDGET_MS 60000

struct filter {
	struct mtasts_config *cfg;
	struct mtasts_ctx *ctx;
	const char *table; /* the enforce table file */
	const char *loaded; /* what smtpd loaded of it (mtasts smtpd-reload) */
	const char *reload; /* the command that reloads it */
	const char *socket; /* smtpd's control socket (smtpd_instance.h) */
	char version[16]; /* protocol, from the lines */
	struct workers *workers;
};

/* One rcpt-to, for a worker. */
struct request {
	struct filter *f;
	const char *session, *token;
	char *address;
};

static int64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One line to smtpd: whole, then flushed. */
static void
say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

/* smtpd logs what a filter writes to stderr */
static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
note(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "filter-mtasts: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/*
 * Protocol 0.4 answers token first; 0.5 and later session id first.  The
 * text may carry names from DNS and error messages: it goes out as one
 * printable line, short enough for an SMTP reply (RFC 5321 §4.5.3.1.5).
 */
static void
result(const struct filter *f, const char *session, const char *token,
    const char *what)
{
	char text[REPLY_MAX_BYTES + 1];
	size_t i;

	for (i = 0; what[i] != '\0' && i < REPLY_MAX_BYTES; i++)
		text[i] = what[i] >= 0x20 && what[i] < 0x7f ? what[i] : '?';
	text[i] = '\0';
	if (strcmp(f->version, "0.4") == 0)
		say("filter-result|%s|%s|%s", token, session, text);
	else
		say("filter-result|%s|%s|%s", session, token, text);
}

/*
 * Runs the reload command, if one was given (a host running smtpd under
 * systemd reloads the table itself: mtasts-smtpd-table.path).  Its input
 * is /dev/null and its output goes to stderr: what it printed on stdout
 * would reach smtpd as a filter line, and smtpd stops on a bad one.  It
 * stays in the worker's process group, which the filter kills when the
 * worker ends (workers.c): a worker killed mid-request, or one whose
 * reload ran out of time, leaves none of it running.
 */
static void
reload_table(const struct filter *f)
{
	int64_t deadline = mono_ms() + RELOAD_MAX_MS;
	int status = 0, fd;
	pid_t pid;

	if (f->reload == NULL)
		return;
	if ((pid = fork()) < 0) {
		note("fork: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		if ((fd = open("/dev/null", O_RDONLY)) >= 0)
			dup2(fd, STDIN_FILENO);
		dup2(STDERR_FILENO, STDOUT_FILENO);
		execl("/bin/sh", "sh", "-c", f->reload, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (mono_ms() > deadline) {
			/* what it started dies with this worker's group */
			note("\"%s\" still runs after %d s: killed", f->reload,
			    RELOAD_MAX_MS / 1000);
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return;
		}
		usleep(20000);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		note("\"%s\" failed (status %d)", f->reload, status);
}

/*
 * Whether smtpd routes domain by the table now: the record that mtasts
 * smtpd-reload keeps lists only domains smtpd has loaded.  Until then, a
 * recipient accepted would be relayed without TLS.
 */
static bool
routed(const struct filter *f, const char *domain)
{
	char line[512], instance[128], routes[4200];
	struct stat rst, lst;
	FILE *t;
	bool found = false;

	if ((t = fopen(f->loaded, "r")) == NULL)
		return false;
	/* routes written after the last load are not smtpd's yet: the
	 * route it holds may name a host the policy allows no more */
	snprintf(routes, sizeof(routes), "%s.routes", f->table);
	if (fstat(fileno(t), &lst) != 0 ||
	    (stat(routes, &rst) == 0 &&
	        (rst.st_mtim.tv_sec > lst.st_mtim.tv_sec ||
	            (rst.st_mtim.tv_sec == lst.st_mtim.tv_sec &&
	                rst.st_mtim.tv_nsec > lst.st_mtim.tv_nsec)))) {
		fclose(t);
		return false;
	}
	/*
	 * The record names the smtpd it was made with: one made with an
	 * earlier smtpd says nothing of what the running one loaded (a table
	 * that shrank without a reload, then a restart).
	 */
	if (smtpd_instance(f->socket, instance, sizeof(instance)) != 0) {
		/* "# smtpd none" would match a record made without a socket
		 * too, across any number of restarts */
		note("no smtpd control socket at %s (see --smtpd-socket): "
		     "no route is taken as loaded",
		    f->socket);
		fclose(t);
		return false;
	}
	if (fgets(line, sizeof(line), t) == NULL ||
	    strncmp(line, instance, strlen(instance)) != 0 ||
	    line[strlen(instance)] != '\n') {
		fclose(t);
		return false;
	}
	while (!found && fgets(line, sizeof(line), t) != NULL) {
		line[strcspn(line, "\r\n")] = '\0';
		found = strcasecmp(line, domain) == 0;
	}
	fclose(t);
	return found;
}

/*
 * The routes file names, for d's domain, a host its policy in force
 * allows (RFC 8461 §4.1): "DOMAIN smtp+tls://HOST:25".
 */
static bool
route_holds(const struct filter *f, const struct mtasts_decision *d)
{
	char host[MTASTS_DOMAIN_MAX + 1];
	struct mtasts_mx_result r;

	if (d->lookup->policy == NULL ||
	    !smtpd_route_of(f->table, d->lookup->domain, host))
		return false;
	mtasts_validate_mx(d->lookup->policy, host, &r);
	return r.valid && r.match != NULL;
}

/*
 * The table already lists the domain but smtpd has not loaded it: a reload
 * was missed (smtpd restarting, a trigger lost while the reloader ran).
 * Touching the table triggers the reloader again (systemd's PathChanged
 * sees it), at most once per NUDGE_EVERY_MS.  True when it did.
 */
static bool
touch_table_for_reload(const struct filter *f)
{
	struct stat st;

	if (stat(f->table, &st) != 0 ||
	    (int64_t)st.st_mtime * 1000 + NUDGE_EVERY_MS > wall_ms())
		return false;
	if (utimensat(AT_FDCWD, f->table, NULL, 0) != 0) {
		note("%s: %s", f->table, strerror(errno));
		return false;
	}
	return true;
}

/* An enforce domain whose MX hosts are all allowed: routed by the table. */
static void
route(struct filter *f, const struct mtasts_decision *d, const char *session,
    const char *token)
{
	struct mtasts_error err;
	char reply[1200];
	bool changed;

	/* loaded, and to a host the policy in force allows: nothing to do
	 * (the common case costs no walk of the cache) */
	if (routed(f, d->lookup->domain) && route_holds(f, d)) {
		result(f, session, token, "proceed");
		return;
	}
	/* otherwise the tables are written (a route the policy no longer
	 * allows is replaced, module/smtpd_tables.c) and the recipient waits for
	 * smtpd to load them; then a little more, else the client comes
	 * back */
	if (smtpd_tables_write(f->ctx, f->table, &changed, &err) !=
	    MTASTS_OK) {
		note("%s: %s", f->table, err.message);
	} else {
		int64_t deadline = mono_ms() + ROUTE_WAIT_MS;

		/* unchanged: a peer request of this domain, decided at the
		 * same time, may have written it; its load is on its way */
		if (changed ||
		    (!routed(f, d->lookup->domain) &&
		        touch_table_for_reload(f)))
			reload_table(f);
		while (!(routed(f, d->lookup->domain) && route_holds(f, d)) &&
		    mono_ms() < deadline)
			usleep(50000);
		if (routed(f, d->lookup->domain) && route_holds(f, d)) {
			result(f, session, token, "proceed");
			return;
		}
	}
	note("%s: enforce: routing it through relay tls", d->lookup->domain);
	snprintf(reply, sizeof(reply),
	    "reject|451 4.7.5 MTA-STS: routing %s under its enforce policy, "
	    "try again shortly",
	    d->lookup->domain);
	result(f, session, token, reply);
}

static void
rcpt_to(struct filter *f, const char *session, const char *token, char *address)
{
	struct mtasts_decision *d;
	char *domain = protocol_domain(address), why[600], reply[1200];
	size_t allowed;
	mtasts_code mx_rc;

	if (domain == NULL) {
		result(f, session, token, "proceed");
		return;
	}
	if (f->cfg == NULL ||
	    mtasts_ctx_new(f->cfg, &f->ctx, NULL) != MTASTS_OK) {
		/* no configuration: never guess towards cleartext */
		result(f, session, token,
		    "reject|451 4.7.5 MTA-STS: filter-mtasts is not configured "
		    "(see the mail log)");
		return;
	}
	mx_rc =
	    mtasts_decide_mx(f->ctx, domain, &d, &allowed, why, sizeof(why));
	if (d == NULL) {
		/* out of memory: never guess towards cleartext */
		note("%s: defer: %s", domain, mtasts_strerror(mx_rc));
		snprintf(reply, sizeof(reply),
		    "reject|451 4.7.5 MTA-STS: %s: defer: %s", domain,
		    mtasts_strerror(mx_rc));
		result(f, session, token, reply);
		return;
	}
	/* a cache that failed without deferring (the fleet out of reach)
	 * is said: the reason carries it */
	if (d->verdict != MTASTS_VERDICT_DEFER &&
	    d->lookup->cache_error.code != MTASTS_OK)
		note("%s", d->reason);
	switch (d->verdict) {
	case MTASTS_VERDICT_ENFORCE:
		/* the route names one of the allowed MX hosts (RFC 8461 §4.1)
		 */
		if (allowed > 0) {
			route(f, d, session, token);
			break;
		}
		snprintf(reply, sizeof(reply),
		    "reject|451 4.7.5 MTA-STS: no MX host of %s is allowed "
		    "by its policy (%s)",
		    d->lookup->domain, why);
		note("%s: refused: %s", d->lookup->domain, why);
		result(f, session, token, reply);
		break;
	case MTASTS_VERDICT_TESTING:
		if (mx_rc == MTASTS_OK && why[0] != '\0')
			note("testing: %s: enforce would refuse: %s",
			    d->lookup->domain, why);
		result(f, session, token, "proceed");
		break;
	case MTASTS_VERDICT_DEFER:
		note("%s", d->reason);
		snprintf(reply, sizeof(reply), "reject|451 4.7.5 MTA-STS: %s",
		    d->reason);
		result(f, session, token, reply);
		break;
	case MTASTS_VERDICT_NONE:
		result(f, session, token, "proceed");
		break;
	}
	mtasts_decision_free(d);
}

/* In a worker: the context is made here, in the process that uses it. */
static void
decide_request(void *arg)
{
	struct request *r = arg;

	rcpt_to(r->f, r->session, r->token, r->address);
	mtasts_ctx_free(r->f->ctx);
	r->f->ctx = NULL;
}

/* A request its worker did not answer in time, or died on: that session
 * alone gets a 451. */
static void
answer_late(void *arg, const char *session, const char *token, const char *why)
{
	note("session %s: %s: answered 451", session, why);
	result(arg, session, token,
	    "reject|451 4.7.5 MTA-STS: no decision in time, try again later");
}

static void
dispatch(
    struct filter *f, const char *session, const char *token, char *address)
{
	struct request r = {f, session, token, address};

	if (workers_start(f->workers, session, token, decide_request, &r) != 0)
		result(f, session, token,
		    "reject|451 4.7.5 MTA-STS: busy, try again shortly");
}

static void
handle(struct filter *f, char *line)
{
	struct protocol_line l;

	protocol_parse(line, &l);
	switch (l.kind) {
	case PROTOCOL_READY:
		say("register|filter|smtp-in|rcpt-to");
		say("register|ready");
		break;
	case PROTOCOL_VERSION:
		snprintf(f->version, sizeof(f->version), "%s", l.version);
		break;
	case PROTOCOL_REQUEST:
		snprintf(f->version, sizeof(f->version), "%s", l.version);
		if (strcmp(l.phase, "rcpt-to") == 0 && l.params != NULL)
			dispatch(f, l.session, l.token, l.params);
		else
			result(f, l.session, l.token, "proceed");
		break;
	case PROTOCOL_MALFORMED:
		note("ignoring a malformed filter line");
		break;
	case PROTOCOL_UNKNOWN:
		note("ignoring an unknown line");
		break;
	case PROTOCOL_CONFIG:
	case PROTOCOL_REPORT:
		break;
	}
}

/* Reads lines of at most LINE_MAX_BYTES (the rest of a longer line is
 * dropped) until end of input, while the workers decide. */
static void
run(struct filter *f)
{
	static char line[LINE_MAX_BYTES + 2];
	char buf[8192];
	size_t len = 0;
	bool cut = false;
	ssize_t n, i;

	for (;;) {
		if (!workers_wait(f->workers, STDIN_FILENO, 1000))
			continue;
		if ((n = read(STDIN_FILENO, buf, sizeof(buf))) < 0 &&
		    (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			break;
		for (i = 0; i < n; i++) {
			if (buf[i] != '\n') {
				if (len < LINE_MAX_BYTES)
					line[len++] = buf[i];
				else
					cut = true;
				continue;
			}
			line[len] = '\0';
			/* smtpd never sends a NUL byte: such a line is noise */
			if (memchr(line, '\0', len) != NULL)
				note("ignoring a line with a NUL byte");
			else if (len > 0) {
				if (cut)
					note("a line longer than %d bytes was "
					     "cut",
					    LINE_MAX_BYTES);
				handle(f, line);
			}
			len = 0;
			cut = false;
		}
	}
	/* the end of input: the requests under way are still answered */
	while (workers_busy(f->workers) > 0)
		workers_wait(f->workers, -1, 1000);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"table", required_argument, NULL, 't'},
	    {"loaded", required_argument, NULL, 'l'},
	    {"reload", required_argument, NULL, 'r'},
	    {"smtpd-socket", required_argument, NULL, 'S'},
	    {NULL, 0, NULL, 0}};
	struct filter f = {.table = "/var/lib/mtasts/smtpd-enforce",
	    .loaded = "/run/mtasts-smtpd/smtpd-enforce.loaded",
	    .socket = SMTPD_SOCKET,
	    .version = "0.6"};
	const char *config = NULL;
	struct mtasts_error err;
	bool usable = true;
	int opt;

	/* a peer that went away is an error to handle, not a death */
	signal(SIGPIPE, SIG_IGN);
	while ((opt = getopt_long(argc, argv, "c:t:l:r:S:", opts, NULL)) != -1) {
		if (opt == 'c')
			config = optarg;
		else if (opt == 't')
			f.table = optarg;
		else if (opt == 'l')
			f.loaded = optarg;
		else if (opt == 'r')
			f.reload = optarg;
		else if (opt == 'S')
			f.socket = optarg;
		else
			usable = false;
	}
	/* exiting would stop smtpd: with a bad command line, still answer,
	 * every recipient deferred, nothing in the clear */
	if (!usable || optind != argc)
		note("usage: filter-mtasts [--config FILE] [--table FILE] "
		     "[--loaded FILE] [--reload COMMAND] [--smtpd-socket PATH]");
	/* a configuration that cannot be read, the default one included,
	 * defers every recipient: its overrides may be what protects a
	 * domain */
	else if (mtasts_config_load(
	             config != NULL ? config : mtasts_config_default_path(),
	             &f.cfg, &err) != MTASTS_OK)
		note("%s", err.message);
	/* a new smtpd: have the tables loaded into it and recorded anew
	 * (mtasts-smtpd-table.path sees the touch; with --reload, the first
	 * recipient that needs it asks) */
	else if (f.reload == NULL &&
	    utimensat(AT_FDCWD, f.table, NULL, 0) != 0 && errno != ENOENT)
		note("%s: %s", f.table, strerror(errno));
	if ((f.workers = workers_new(
	         WORKERS_MAX, REQUEST_BUDGET_MS, answer_late, &f)) == NULL)
		note("out of memory: every recipient is answered busy");
	run(&f);
	workers_free(f.workers);
	mtasts_config_free(f.cfg);
	return 0;
}
