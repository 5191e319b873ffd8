/* core/timeutil.c - monotonic clocks and sleeps; contract in core/timeutil.h. */
#define _POSIX_C_SOURCE 200809L
#include "core/timeutil.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <time.h>

/* The process's time zero for log lines, set once: pthread_once because the meter's sampler
 * thread may be the first to ask. */
static double origin_s;
static pthread_once_t origin_once = PTHREAD_ONCE_INIT;

static double to_s(const struct timespec *ts) { return (double)ts->tv_sec + 1e-9 * (double)ts->tv_nsec; }

static double monotonic_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return to_s(&ts);
}

static void set_origin(void) { origin_s = monotonic_s(); }

double ws_now_s(void) {
    pthread_once(&origin_once, set_origin);
    return monotonic_s();
}

double ws_process_elapsed_s(void) {
    double t = ws_now_s();
    return t - origin_s;
}

static struct timespec from_s(double s) {
    struct timespec ts;
    ts.tv_sec = (time_t)floor(s);
    ts.tv_nsec = (long)((s - floor(s)) * 1e9);
    if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
    return ts;
}

void ws_sleep_until_s(double deadline_s) {
    struct timespec ts = from_s(deadline_s);
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {}
}

void ws_sleep_s(double seconds) {
    if (seconds > 0) ws_sleep_until_s(ws_now_s() + seconds);
}

double ws_thread_cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return to_s(&ts);
}

void ws_wall_time_iso(char *buf, size_t size) {
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
