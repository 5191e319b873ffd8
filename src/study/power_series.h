/* study/power_series.h - a run's power samples (OUT/power*.csv), downsampled for the store.
 * defines: ws_power_point, ws_power_series_read. Implementation: study/power_series.c.
 *
 * The meter writes "time_s,device,kind,power_w,energy_j" rows (every 100 ms by default); a
 * resumed run appends a new header and restarts time at 0, so each session is shifted to
 * start where the previous one ended. Each device's series is cut into at most max_points
 * equal time windows, each stored as (window middle, mean power): the mean keeps the energy
 * of the window, so the integral of the downsampled series is the integral of the samples. */
#ifndef WS_STUDY_POWER_SERIES_H
#define WS_STUDY_POWER_SERIES_H

#include <stddef.h>
#include "wattscale/status.h"

typedef struct {
    int node;
    char device[96]; /* the meter's device id (GPU UUID, rapl zone) */
    char kind[8];    /* gpu | cpu | dram */
    double t_s;      /* seconds since the run's first sample */
    double power_w;
} ws_power_point;

/* Appends the downsampled series of every device in path to *points (realloc'd; *n counts
 * them; the caller frees *points). A missing file is WS_EIO; a file with only headers adds
 * nothing; a malformed row is WS_EFORMAT naming the line. */
ws_status ws_power_series_read(const char *path, int node, size_t max_points, ws_power_point **points, size_t *n,
                               ws_error *err);

#endif
