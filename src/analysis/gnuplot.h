/* analysis/gnuplot.h - one figure as a gnuplot script and its data, drawn to SVG and PNG.
 * defines: ws_gnuplot_fig, ws_gnuplot_open, ws_gnuplot_block, ws_gnuplot_plot,
 * ws_gnuplot_close, ws_gnuplot_find, ws_gnuplot_draw. Implementation: analysis/gnuplot.c.
 *
 * DIR/NAME.dat holds the data (blocks separated by two blank lines, so `index i` picks
 * one; each block starts with comment lines naming it and its columns); DIR/NAME.gp is a
 * complete script that reads NAME.dat from its own folder and writes NAME.svg or NAME.png:
 *   cd DIR && gnuplot -e 'fmt="png"' NAME.gp      (fmt "svg" is the default)
 * so a user can restyle a figure by editing its script. The PNG terminal is pngcairo where
 * gnuplot has it, else png (libgd). */
#ifndef WS_ANALYSIS_GNUPLOT_H
#define WS_ANALYSIS_GNUPLOT_H

#include <stdio.h>
#include "wattscale/status.h"

typedef struct {
    char dir[1024], name[64];
    FILE *dat, *gp;
    int blocks; /* data blocks written */
    char *plot; /* the plot command's clauses, joined by ", " */
    size_t plot_len;
    FILE *plot_f;
} ws_gnuplot_fig;

/* Starts DIR/NAME.gp (header: terminal by fmt, title, axis labels; then `setup`, lines of
 * gnuplot such as "set logscale x 2") and DIR/NAME.dat. */
ws_status ws_gnuplot_open(ws_gnuplot_fig *f, const char *dir, const char *name, const char *title, const char *xlabel,
                          const char *ylabel, const char *setup, ws_error *err);
/* Starts a data block; returns its index for `index N` in plot clauses. Then write rows
 * with fprintf(f->dat, ...) (ws_gnuplot_num for numbers: NaN for not measured). */
int ws_gnuplot_block(ws_gnuplot_fig *f, const char *label, const char *columns);
void ws_gnuplot_num(ws_gnuplot_fig *f, double x, int last);
/* Adds a clause to the plot command: printf-style, e.g. "'%s.dat' index %d using 1:2 with lines". */
void ws_gnuplot_plot(ws_gnuplot_fig *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Writes the plot command and closes both files (WS_EIO if a write failed). */
ws_status ws_gnuplot_close(ws_gnuplot_fig *f, ws_error *err);
/* Aborts a figure begun with open: files closed and removed. */
void ws_gnuplot_discard(ws_gnuplot_fig *f);

/* The gnuplot program: $WATTSCALE_GNUPLOT, else `gnuplot` on PATH; NULL when there is none. */
const char *ws_gnuplot_find(void);
/* Runs gnuplot on DIR/NAME.gp for fmt ("svg" or "png") and checks NAME.fmt was written;
 * WS_ECHILD with gnuplot's own message otherwise. */
ws_status ws_gnuplot_draw(const char *gnuplot, const char *dir, const char *name, const char *fmt, ws_error *err);

#endif
