/* guard.c - see guard.h. */
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "guard.h"

static __thread sigjmp_buf *volatile active;
static struct sigaction before_segv, before_bus, before_abrt;

static void
on_fault(int sig, siginfo_t *info, void *context)
{
	sigjmp_buf *jump = active;

	(void)info;
	(void)context;
	if (jump != NULL) {
		active = NULL;
		siglongjmp(*jump, 1);
	}
	/* not ours: the handler from before takes it when the faulting
	 * instruction runs again */
	sigaction(sig,
	    sig == SIGBUS   ? &before_bus
	        : sig == SIGABRT ? &before_abrt
	                         : &before_segv,
	    NULL);
}

/* Whether the handlers should be looked at: at the first call, then at
 * most once a second (a syscall each time would double a warm lookup). */
static bool
time_to_look(void)
{
	static _Atomic long long last = -1;
	struct timespec ts;
	long long now;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	now = (long long)ts.tv_sec;
	if (now == last)
		return false;
	last = now;
	return true;
}

void
guard_enter(sigjmp_buf *jump)
{
	struct sigaction now;

	/* the host program may have set a handler of its own since */
	if (time_to_look() && sigaction(SIGSEGV, NULL, &now) == 0 &&
	    now.sa_sigaction != on_fault) {
		/* SA_NODEFER: the jump out of the handler leaves no signal
		 * blocked, so callers need not save the mask (a syscall) */
		struct sigaction sa = {.sa_sigaction = on_fault,
		    .sa_flags = SA_SIGINFO | SA_NODEFER},
		                 old;

		sigemptyset(&sa.sa_mask);
		/* two threads may both get here: never keep ours as the
		 * handler from before */
		if (sigaction(SIGSEGV, &sa, &old) == 0 &&
		    old.sa_sigaction != on_fault)
			before_segv = old;
		if (sigaction(SIGBUS, &sa, &old) == 0 &&
		    old.sa_sigaction != on_fault)
			before_bus = old;
		if (sigaction(SIGABRT, &sa, &old) == 0 &&
		    old.sa_sigaction != on_fault)
			before_abrt = old;
	}
	active = jump;
}

void
guard_leave(void)
{
	active = NULL;
}
