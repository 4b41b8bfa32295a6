/* CPU accounting of other processes and of the whole machine, from /proc,
 * for the load generators (bench/kstatic_load, bench/daemon_load).
 *
 *   procstat_cpu(pid, &user, &sys)   utime and stime of pid in seconds
 *   procstat_busy(&s)                the machine's busy seconds (every CPU)
 *
 * Both return false when /proc cannot be read (errno from the open) or
 * reads unexpectedly (errno EPROTO); the caller decides what that means. */
#ifndef TEST_PROCSTAT_H
#define TEST_PROCSTAT_H

#include <stdbool.h>

bool procstat_cpu(int pid, double *user, double *sys);
bool procstat_busy(double *seconds);

#endif
