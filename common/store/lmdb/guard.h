/*
 * guard.h - surviving a memory fault inside a call that reads a file other
 * processes write and a disk may damage: LMDB maps the cache and follows
 * the page numbers it finds there without checking them, so a damaged
 * page can send a reader through a wild pointer.  In an MTA that must
 * cost one cache call, never the process (internal to libmtasts).
 *
 *	sigjmp_buf jump;
 *
 *	if (sigsetjmp(jump, 0) != 0)
 *		return the_call_failed();	// a fault happened below
 *	guard_enter(&jump);
 *	... the reads of the mapped file ...
 *	guard_leave();
 *
 * A fault (SIGSEGV, SIGBUS; SIGABRT, which LMDB's own assertions raise
 * on some damaged pages) between enter and leave, in this thread,
 * returns from sigsetjmp a second time; anywhere else it goes to the
 * handler that was there before, as if this one had never been.  The
 * handler runs with SA_NODEFER, so the signal mask need not be saved.
 * The handlers are put back in place at the first guard and at most once
 * a second after, when the host program has set its own.
 */
#ifndef MTASTS_GUARD_H
#define MTASTS_GUARD_H

#include <setjmp.h>

void guard_enter(sigjmp_buf *jump);
void guard_leave(void);

#endif
