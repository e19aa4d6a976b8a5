/* smtpd_instance.c - see smtpd_instance.h. */
#include <stdio.h>
#include <sys/stat.h>

#include "smtpd_instance.h"

int
smtpd_instance(const char *path, char *out, size_t outlen)
{
	struct stat st;

	if (stat(path != NULL ? path : SMTPD_SOCKET, &st) != 0 || !S_ISSOCK(st.st_mode)) {
		snprintf(out, outlen, "# smtpd none");
		return -1;
	}
	snprintf(out, outlen, "# smtpd %llu.%lld.%ld",
	    (unsigned long long)st.st_ino, (long long)st.st_mtim.tv_sec,
	    (long)st.st_mtim.tv_nsec);
	return 0;
}
