/*
 * workers.h - filter requests answered in worker processes, so that a
 * domain whose policy host stalls holds its own sessions and no other.
 * Each request runs in a process of its own (forked: discovery, the cache
 * and the table writes need nothing of the others); the line it prints is
 * passed on to smtpd whole, and a request that gives none within its
 * budget, or dies, is answered for it.
 */
#ifndef MTASTS_FILTER_WORKERS_H
#define MTASTS_FILTER_WORKERS_H

#include <stdbool.h>
#include <stddef.h>

struct workers;

/*
 * A pool of at most max processes, each given budget_ms.  late(arg,
 * session, token, why) answers a request its process did not answer; why
 * says how it ended ("its process died of signal 11 (Segmentation
 * fault)", "no decision within 60 s").  A process ends with its process
 * group: what it started goes with it.
 */
struct workers *workers_new(size_t max, long budget_ms,
    void (*late)(void *arg, const char *session, const char *token,
        const char *why),
    void *arg);

/*
 * Runs fn(arg) in a new process whose standard output goes to the pool
 * (one "filter-result|..." line).  Returns 0, or -1 when the pool is full
 * or the process could not be made (the caller answers).
 */
int workers_start(struct workers *w, const char *session, const char *token,
    void (*fn)(void *arg), void *arg);

/*
 * Waits at most timeout_ms for input on fd or for a worker: passes on
 * what workers printed, answers those past their budget or dead.  True
 * when fd is readable (or at end of input).
 */
bool workers_wait(struct workers *w, int fd, int timeout_ms);

/* How many requests are being decided. */
size_t workers_busy(const struct workers *w);

/* Ends every worker (their requests unanswered: smtpd is gone). */
void workers_free(struct workers *w);

#endif
