/* analysis/report.h - `wattscale report`: an analysis written as one HTML file (figures
 * embedded), a Markdown summary, CSV tables and the figures' files.
 * defines: ws_report_predict, ws_report_opts, ws_report_opts_default, ws_report_result, ws_report_write,
 * ws_report_set_target. Implementation: analysis/report.c (orchestration and findings),
 * report_tables.c (CSV), report_html.c, report_md.c.
 *
 * Layout of out_dir: report.html, report.md, tables/{runs,series,energy_fits,
 * slope_regression,accuracy_vs_gbs,pareto,energy_to_target,predictions}.csv (predictions: with
 * opts.predict), figures/NAME.{gp,dat,svg,png}.
 * Where energy was not measured the report says so at the top, with the meters' reasons,
 * and shows the time-based analysis; no energy figure is drawn empty or invented. */
#ifndef WS_ANALYSIS_REPORT_H
#define WS_ANALYSIS_REPORT_H

#include "analysis/allreduce.h"
#include "analysis/perf.h"
#include "analysis/runset.h"
#include "wattscale/status.h"

/* Predicted curves beside the measured points (analysis/report_predict.c, on
 * analysis/predict.h): figures predicted_time_vs_gpus and predicted_energy_vs_gpus,
 * tables/predictions.csv and a finding per series. */
typedef struct {
    const ws_perf_set *perf; /* the study's runs as the performance model reads them */
    ws_network net;          /* the all-reduce model's parameters */
    int gpus_per_node;       /* 0: the runs' largest ranks per node (8 when every run had one) */
    int max_gpus;            /* curves up to; 0: max(512, 2 x the largest measured count) */
} ws_report_predict;

typedef struct {
    const char *out_dir; /* created when missing */
    int figures;         /* draw figures with gnuplot (1); 0: write their scripts and data only */
    /* predicted curves beside the measured points; NULL: none */
    const ws_report_predict *predict;
} ws_report_opts;

ws_report_opts ws_report_opts_default(void);

typedef struct {
    char html_path[1100], md_path[1100], tables_dir[1100], figures_dir[1100];
    size_t n_runs, n_figures, n_failed_figures;
    char figures_note[768]; /* why figures are missing, "" when all were drawn */
} ws_report_result;

ws_status ws_report_write(const ws_runset *rs, const ws_report_opts *o, ws_report_result *res, ws_error *err);

/* Sets the energy-to-target metric from "METRIC=VALUE" (one of WS_METRICS, analysis/runset.h). */
ws_status ws_report_set_target(ws_runset *rs, const char *spec, ws_error *err);

#endif
