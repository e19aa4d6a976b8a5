/* workers.c - see workers.h. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "workers.h"

/* a line smtpd accepts from a filter: "filter-result|...", within this */
#define WORKER_LINE_MAX 1024

struct worker {
	pid_t pid;
	int fd;
	int64_t deadline;
	char session[64], token[64];
	char buf[WORKER_LINE_MAX];
	size_t len;
	bool answered;
};

struct workers {
	struct worker *w;
	size_t max, count;
	long budget_ms;
	void (*late)(void *arg, const char *session, const char *token,
	    const char *why);
	void *arg;
};

struct workers *
workers_new(size_t max, long budget_ms,
    void (*late)(void *arg, const char *session, const char *token,
        const char *why),
    void *arg)
{
	struct workers *p = calloc(1, sizeof(*p));

	if (p == NULL || (p->w = calloc(max, sizeof(*p->w))) == NULL) {
		free(p);
		return NULL;
	}
	p->max = max;
	p->budget_ms = budget_ms;
	p->late = late;
	p->arg = arg;
	return p;
}

int
workers_start(struct workers *p, const char *session, const char *token,
    void (*fn)(void *arg), void *arg)
{
	struct worker *w;
	int fds[2], null;
	pid_t pid;

	if (p == NULL || p->count == p->max || pipe2(fds, O_CLOEXEC) != 0)
		return -1;
	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) < 0) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		/* its own group: what it starts (a reload) is in it, and
		 * ends with it (finish()) */
		setpgid(0, 0);
		if ((null = open("/dev/null", O_RDONLY)) >= 0)
			dup2(null, STDIN_FILENO);
		dup2(fds[1], STDOUT_FILENO);
		fn(arg);
		fflush(stdout);
		_exit(0);
	}
	/* here too: the group must exist before finish() may signal it */
	setpgid(pid, pid);
	close(fds[1]);
	w = &p->w[p->count++];
	memset(w, 0, sizeof(*w));
	w->pid = pid;
	w->fd = fds[0];
	w->deadline = mono_ms() + p->budget_ms;
	snprintf(w->session, sizeof(w->session), "%s", session);
	snprintf(w->token, sizeof(w->token), "%s", token);
	return 0;
}

/* A whole line from a worker: passed on if it is a result, once. */
static void
pass_on(struct worker *w, const char *line)
{
	const char *c;

	if (w->answered || strncmp(line, "filter-result|", 14) != 0)
		return;
	for (c = line; *c != '\0'; c++)
		if (*c < 0x20 || *c > 0x7e)
			return;
	printf("%s\n", line);
	fflush(stdout);
	w->answered = true;
}

/* Reads what w printed; false at its end. */
static bool
drain(struct worker *w)
{
	ssize_t n;
	char *nl;

	n = read(w->fd, w->buf + w->len, sizeof(w->buf) - 1 - w->len);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (n <= 0)
		return false;
	w->len += (size_t)n;
	w->buf[w->len] = '\0';
	while ((nl = strchr(w->buf, '\n')) != NULL) {
		*nl = '\0';
		pass_on(w, w->buf);
		w->len -= (size_t)(nl + 1 - w->buf);
		memmove(w->buf, nl + 1, w->len + 1);
	}
	/* a line too long for smtpd is no answer */
	if (w->len == sizeof(w->buf) - 1)
		w->len = 0;
	return true;
}

/* How a worker that gave no answer ended, for the log. */
static void
describe(int status, bool out_of_time, long budget_ms, char *out, size_t len)
{
	if (out_of_time)
		snprintf(out, len, "no decision within %ld s", budget_ms / 1000);
	else if (WIFSIGNALED(status))
		snprintf(out, len, "its process died of signal %d (%s)",
		    WTERMSIG(status), strsignal(WTERMSIG(status)));
	else if (WIFEXITED(status))
		snprintf(out, len, "its process exited (status %d) unanswered",
		    WEXITSTATUS(status));
	else
		snprintf(out, len, "its process ended unanswered");
}

/*
 * The worker at i is done, dead or out of time: its group is killed (a
 * reload it ran, anything it left; the group outlives a zombie leader, so
 * its number names nothing else), it is reaped, and its request is
 * answered if it was not.
 */
static void
finish(struct workers *p, size_t i, bool out_of_time)
{
	struct worker *w = &p->w[i];
	char why[128];
	int status = 0;

	kill(-w->pid, SIGKILL);
	if (out_of_time)
		kill(w->pid, SIGKILL);
	close(w->fd);
	while (waitpid(w->pid, &status, 0) < 0 && errno == EINTR)
		continue;
	if (!w->answered) {
		describe(status, out_of_time, p->budget_ms, why, sizeof(why));
		p->late(p->arg, w->session, w->token, why);
	}
	p->w[i] = p->w[--p->count];
}

bool
workers_wait(struct workers *p, int fd, int timeout_ms)
{
	struct pollfd pfd[1 + 1024];
	int64_t now = mono_ms();
	size_t i, n;
	bool ready;

	n = p != NULL ? p->count : 0;
	pfd[0] = (struct pollfd){.fd = fd, .events = POLLIN};
	for (i = 0; i < n && i < 1024; i++) {
		pfd[1 + i] = (struct pollfd){.fd = p->w[i].fd, .events = POLLIN};
		if (p->w[i].deadline - now < timeout_ms)
			timeout_ms = (int)(p->w[i].deadline > now
			        ? p->w[i].deadline - now
			        : 0);
	}
	if (poll(pfd, 1 + i, timeout_ms) < 0) {
		/* nothing is known to be ready: a blocking read of smtpd's
		 * input now would hold every worker's answer; try again */
		if (errno != EINTR)
			usleep(10000);
		return false;
	}
	ready = (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0;
	now = mono_ms();
	/* from the last: finish() moves the last worker into the slot */
	while (i-- > 0) {
		struct worker *w = &p->w[i];

		if ((pfd[1 + i].revents & (POLLIN | POLLHUP | POLLERR)) &&
		    !drain(w))
			finish(p, i, false);
		else if (now >= w->deadline)
			finish(p, i, true);
	}
	return ready;
}

size_t
workers_busy(const struct workers *p)
{
	return p != NULL ? p->count : 0;
}

void
workers_free(struct workers *p)
{
	if (p == NULL)
		return;
	while (p->count > 0) {
		p->w[p->count - 1].answered = true;
		finish(p, p->count - 1, true);
	}
	free(p->w);
	free(p);
}
