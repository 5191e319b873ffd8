/* analysis/csv.h - CSV tables as pandas.read_csv reads them without options: a header
 * row, comma separated, strings quoted when they hold a comma, quote or newline, numbers
 * in full precision, and an empty field for a figure that was not measured (NaN in pandas).
 * defines: ws_csv (a table being written), ws_csv_open/close, ws_csv_header, ws_csv_str,
 * ws_csv_num, ws_csv_int, ws_csv_row. Implementation: analysis/csv.c. */
#ifndef WS_ANALYSIS_CSV_H
#define WS_ANALYSIS_CSV_H

#include <stdio.h>
#include "wattscale/status.h"

typedef struct {
    FILE *f;
    int fields; /* written in the current row */
    char path[1024];
} ws_csv;

ws_status ws_csv_open(ws_csv *c, const char *path, ws_error *err);
/* Closes; WS_EIO when anything failed to be written. */
ws_status ws_csv_close(ws_csv *c, ws_error *err);
/* "a,b,c": the column names, comma separated, as one row */
void ws_csv_header(ws_csv *c, const char *names);
void ws_csv_str(ws_csv *c, const char *s);
void ws_csv_num(ws_csv *c, double x); /* non-finite: empty */
void ws_csv_int(ws_csv *c, long x);
void ws_csv_row(ws_csv *c); /* ends the row */

#endif
