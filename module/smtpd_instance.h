/*
 * smtpd_instance.h - which smtpd is running: the records of what smtpd loaded
 * (mtasts smtpd-reload writes them, filter-mtasts reads them) name the
 * smtpd they were made with, so that one made with an earlier smtpd is
 * never taken for the running one's.  Internal to libmtasts, with
 * smtpd_tables.c: the OpenSMTPD adapter's and the command's.
 */
#ifndef MTASTS_SMTPD_INSTANCE_H
#define MTASTS_SMTPD_INSTANCE_H

#include <stddef.h>

/*
 * smtpd's control socket, made anew by each smtpd at start: where
 * OpenSMTPD puts it unless built otherwise (its configure's
 * --with-path-socket; Debian's 6.8 and 7.x keep this one).  A build that
 * puts it elsewhere is named with --smtpd-socket to both filter-mtasts and
 * mtasts smtpd-reload.
 */
#define SMTPD_SOCKET "/var/run/smtpd.sock"

/*
 * Writes "# smtpd INODE.SECONDS.NANOSECONDS" (the socket's inode and
 * time: each start unlinks and binds it anew) for the control socket at
 * path (SMTPD_SOCKET when NULL) to out, and returns 0; -1 when no socket
 * is there (out is then "# smtpd none": no smtpd, or it is elsewhere).
 */
int smtpd_instance(const char *path, char *out, size_t outlen);

#endif
