/* guard.c - see guard.h. */
#include <signal.h>
#include <stddef.h>

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

void
guard_enter(sigjmp_buf *jump)
{
	struct sigaction now;

	/* the host program may have set a handler of its own since */
	if (sigaction(SIGSEGV, NULL, &now) == 0 &&
	    now.sa_sigaction != on_fault) {
		struct sigaction sa = {.sa_sigaction = on_fault,
		    .sa_flags = SA_SIGINFO},
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
