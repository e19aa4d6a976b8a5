/*
 * exim_inside.c - preloaded into `exim -be` by tests/bench/exim.py
 * --inside: the CPU time and minor page faults of Exim's dlopen() of a
 * ${dlfunc} module and of the call of the function MTASTS_BENCH_FN,
 * appended as one line to the file MTASTS_BENCH_LOG at exit:
 *
 *   MODULE DLOPEN_US DLOPEN_FAULTS CALL_US CALL_FAULTS
 *
 * The environment is read before Exim's main() (which clears it).  Not a
 * test and not installed.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

typedef int (*dlfunc_t)(void **yield, int argc, void **argv);

static char log_path[1024], fn_name[128], module[1024] = "-";
static double open_us, call_us;
static long open_faults, call_faults;
static dlfunc_t wrapped;

static void
now(double *us, long *faults)
{
	struct timespec t;
	struct rusage r;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	getrusage(RUSAGE_SELF, &r);
	*us = (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
	*faults = r.ru_minflt;
}

__attribute__((constructor)) static void
read_environment(void)
{
	const char *s;

	if ((s = getenv("MTASTS_BENCH_LOG")) != NULL)
		snprintf(log_path, sizeof(log_path), "%s", s);
	if ((s = getenv("MTASTS_BENCH_FN")) != NULL)
		snprintf(fn_name, sizeof(fn_name), "%s", s);
}

void *
dlopen(const char *file, int mode)
{
	void *(*real)(const char *, int) = dlsym(RTLD_NEXT, "dlopen");
	double us0, us1;
	long f0, f1;
	void *h;

	now(&us0, &f0);
	h = real(file, mode);
	now(&us1, &f1);
	if (file != NULL && strstr(file, ".so") != NULL) {
		snprintf(module, sizeof(module), "%s", file);
		open_us += us1 - us0;
		open_faults += f1 - f0;
	}
	return h;
}

static int
timed(void **yield, int argc, void **argv)
{
	double us0, us1;
	long f0, f1;
	int rc;

	now(&us0, &f0);
	rc = wrapped(yield, argc, argv);
	now(&us1, &f1);
	call_us += us1 - us0;
	call_faults += f1 - f0;
	return rc;
}

void *
dlsym(void *handle, const char *name)
{
	static void *(*real)(void *, const char *);
	void *p;

	if (real == NULL)
		real = (void *(*)(void *, const char *))dlvsym(
		    RTLD_NEXT, "dlsym", "GLIBC_2.34");
	p = real(handle, name);
	if (p != NULL && handle != RTLD_NEXT && handle != RTLD_DEFAULT &&
	    strcmp(name, fn_name) == 0) {
		wrapped = (dlfunc_t)p;
		return (void *)timed;
	}
	return p;
}

__attribute__((destructor)) static void
report(void)
{
	FILE *f;

	if (log_path[0] == '\0' || (f = fopen(log_path, "a")) == NULL)
		return;
	fprintf(f, "%s %.1f %ld %.1f %ld\n", module, open_us, open_faults,
	    call_us, call_faults);
	fclose(f);
}
