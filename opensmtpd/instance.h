/*
 * instance.h - which smtpd is running: the records of what smtpd loaded
 * (mtasts smtpd-reload writes them, filter-mtasts reads them) name the
 * smtpd they were made with, so that one made with an earlier smtpd is
 * never taken for the running one's.
 */
#ifndef MTASTS_SMTPD_INSTANCE_H
#define MTASTS_SMTPD_INSTANCE_H

#include <stddef.h>

/* smtpd's control socket, made anew by each smtpd at start. */
#define SMTPD_SOCKET "/var/run/smtpd.sock"

/*
 * Writes "# smtpd INODE.SECONDS.NANOSECONDS" (the control socket's inode
 * and time: each start unlinks and binds it anew) to out, and returns 0;
 * -1 when no smtpd socket is there (out is then "# smtpd none").
 */
int smtpd_instance(char *out, size_t outlen);

#endif
