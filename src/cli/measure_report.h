/* cli/measure_report.h - what `wattscale measure` prints and writes.
 * defines: ws_measure_result (everything one measurement produced), the stderr table,
 * and the JSON report ("schema": "wattscale.measure/1"). */
#ifndef WS_CLI_MEASURE_REPORT_H
#define WS_CLI_MEASURE_REPORT_H

#include "wattscale/energy.h"

typedef struct {
    const ws_meter *meter;
    const ws_device_energy *energy;  /* ws_meter_device_count entries */
    char *const *command;            /* NULL-terminated argv of the measured command */
    double duration_s;
    int exit_code;                   /* the command's, 128+N after signal N */
    int term_signal;                 /* 0, or the signal that ended the command */
    double interval_ms;
    double idle_seconds;             /* 0: no idle baseline */
    char start_time[32];             /* UTC, ISO 8601 */
    ws_footprint_opts footprint;
} ws_measure_result;

void ws_measure_print_table(FILE *f, const ws_measure_result *r);
/* Writes the JSON report to path atomically (temp file + rename). */
ws_status ws_measure_write_json(const char *path, const ws_measure_result *r, ws_error *err);

#endif
