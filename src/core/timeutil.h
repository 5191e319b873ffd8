/* core/timeutil.h - monotonic time and sleeping.
 * defines: ws_now_s (CLOCK_MONOTONIC, s), ws_process_elapsed_s, ws_sleep_s,
 * ws_sleep_until_s (absolute monotonic deadline, immune to drift), ws_wall_time_iso. */
#ifndef WS_CORE_TIMEUTIL_H
#define WS_CORE_TIMEUTIL_H

#include <stddef.h>

double ws_now_s(void);
double ws_process_elapsed_s(void); /* since the first call of any ws time function */
void ws_sleep_s(double seconds);
void ws_sleep_until_s(double deadline_s);
double ws_thread_cpu_s(void);      /* CPU time of the calling thread */
/* UTC "2026-11-25T18:31:23Z" into buf. */
void ws_wall_time_iso(char *buf, size_t size);

#endif
