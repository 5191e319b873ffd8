/* analysis/figures.h - the report's figures from an analysis: which exist, their data,
 * scripts and images. defines: ws_figure, ws_figure_set, ws_figures_write, ws_figures_draw.
 * Implementation: analysis/figures.c (on analysis/gnuplot.h).
 *
 * Time-based figures always (wall time, speedup and efficiency vs GPUs, the metric vs GBS,
 * the Pareto front); energy-based ones only where energy was measured (energy vs
 * device-hours with its fits, slope vs samples per device-hour, energy efficiency), power
 * per GPU vs LBS where GPU power was, and a run's power over time where a power series was
 * stored. A figure that cannot be made is listed in `skipped` with the reason, never drawn
 * empty. */
#ifndef WS_ANALYSIS_FIGURES_H
#define WS_ANALYSIS_FIGURES_H

#include "analysis/analysis.h"

typedef struct {
    char name[64]; /* file stem in the figures folder */
    char title[224];
    char caption[768];
    int drawn; /* NAME.svg and NAME.png exist */
} ws_figure;

typedef struct {
    ws_figure figs[16];
    size_t n;
    char skipped[1024]; /* "name: reason; ..." for figures not made */
    char note[768];     /* why nothing was drawn (no gnuplot) or what failed */
    size_t n_failed;    /* figures whose gnuplot run failed */
} ws_figure_set;

/* Writes every figure's .dat and .gp into dir (created by the caller) and, when draw and
 * gnuplot is found, its .svg and .png. A failing gnuplot run is noted, not fatal. */
ws_status ws_figures_write(const ws_analysis *a, const char *dir, int draw, ws_figure_set *out, ws_error *err);
/* Draws set's figures from index `from` on (SVG and PNG) where gnuplot is found; a failing
 * run is counted and noted. For figures appended after ws_figures_write (predictions). */
void ws_figures_draw(ws_figure_set *set, const char *dir, size_t from);

#endif
