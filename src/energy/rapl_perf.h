/* energy/rapl_perf.h - the pure parsers of energy/rapl_perf.c, exposed for its tests
 * (internal; the sensor itself is declared in energy/sensor.h).
 * defines: wsi_rapl_perf_parse_cpumask, wsi_rapl_perf_parse_event, wsi_rapl_perf_parse_scale.
 * Each parses the text of one sysfs file of a perf PMU; `what` (usually the file's path)
 * names it in the one-line error, which is WS_EFORMAT for any text we do not understand. */
#ifndef WS_ENERGY_RAPL_PERF_H
#define WS_ENERGY_RAPL_PERF_H

#include <stddef.h>
#include <stdint.h>

#include "wattscale/status.h"

/* "0,24\n", "0-1", "0-3,8-11": the CPUs, in file order, into cpus[0..*n). More than `cap`
 * CPUs, a descending range or a repeated CPU is an error. */
ws_status wsi_rapl_perf_parse_cpumask(const char *text, const char *what, int *cpus, size_t cap, size_t *n,
                                      ws_error *err);

/* "event=0x02\n" -> config 0x02. The power PMU defines one term, event, as config:0-7
 * (arch/x86/events/rapl.c); any other term, or a value past 0xff, is an error. */
ws_status wsi_rapl_perf_parse_event(const char *text, const char *what, uint64_t *config, ws_error *err);

/* "2.3283064365386962890625e-10\n": J per count; finite and > 0. */
ws_status wsi_rapl_perf_parse_scale(const char *text, const char *what, double *j_per_count, ws_error *err);

#endif
