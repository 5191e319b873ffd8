/* analysis/report_sections.c - the report's sections after the figures, written once for
 * report.html and report.md through analysis/report_doc.h: the series table, energy fits
 * and the slope regression, accuracy vs GBS, the Pareto front, energy to target, the runs.
 * defines: wsi_report_findings, wsi_report_sections (analysis/report_internal.h). */
#include "analysis/report_doc.h"
#include "analysis/report_internal.h"

#include <math.h>
#include <stdio.h>

void wsi_report_findings(wsi_doc *d, const wsi_findings *fi) {
    wsi_doc_h2(d, "findings", "Findings");
    wsi_doc_list_begin(d);
    for (size_t i = 0; i < fi->n; i++)
        wsi_doc_item(d, fi->text[i]);
    wsi_doc_list_end(d);
}

static void series_section(wsi_doc *d, const ws_analysis *a) {
    wsi_doc_h2(d, "series", "Series: mean +- standard deviation over repetitions");
    wsi_doc_p(d,
              "Speedup and efficiencies are relative to each series' smallest GPU count; device-hours are %s; W per "
              "GPU and per CPU socket are energy / time / metered devices. `-`: not measured. All columns: "
              "`tables/series.csv`.",
              ws_analysis_device_unit(a));
    WSI_DOC_TABLE(d, "series", "scaling", "GPUs", "GBS", "LBS", "runs", "time (s)", "device-h", "energy (kWh)",
                  a->rs->metric, "speedup", "parallel eff.", "energy eff.", "W per GPU", "W per CPU socket",
                  "samples / device-h", "updates / device-h");
    for (size_t p = 0; p < a->scaling.n_points; p++) {
        const ws_series_point *sp = &a->scaling.points[p];
        char sc[48];
        snprintf(sc, sizeof sc, "%s%s", sp->scaling, sp->growing ? ", growing data" : "");
        wsi_doc_cell(d, sp->series);
        wsi_doc_cell(d, sc);
        wsi_doc_cell_int(d, sp->gpus);
        wsi_doc_cell_int(d, sp->global_batch);
        wsi_doc_cell_int(d, sp->local_batch);
        wsi_doc_cell_int(d, (long)sp->n_runs);
        ws_summary cols[] = {sp->time_s,
                             sp->device_hours,
                             sp->energy_kwh,
                             sp->metric,
                             sp->speedup,
                             sp->parallel_efficiency,
                             sp->energy_efficiency,
                             sp->gpu_power_w,
                             sp->socket_power_w,
                             sp->samples_per_device_hour,
                             sp->updates_per_device_hour};
        for (size_t k = 0; k < sizeof cols / sizeof cols[0]; k++)
            wsi_doc_cell_sum(d, cols[k], 4);
        wsi_doc_row_end(d);
    }
    wsi_doc_table_end(d);
}

static void ci_cell(wsi_doc *d, int valid, double lo, double hi) {
    char b[96] = "-";
    if (valid) snprintf(b, sizeof b, "[%.4g, %.4g]", lo, hi);
    wsi_doc_cell(d, b);
}

static void energy_section(wsi_doc *d, const ws_analysis *a) {
    wsi_doc_h2(d, "energy", "Energy vs device-hours");
    if (!a->any_energy) {
        wsi_doc_warn(d, "Energy was not measured (no sensor for %s): no fit is made, nothing is estimated.",
                     a->missing_domains[0] ? a->missing_domains : "any domain");
        return;
    }
    wsi_doc_p(d, "Least squares with GSL, 95%% Student-t intervals (`tables/energy_fits.csv`).");
    WSI_DOC_TABLE(d, "model / hardware / precision", "runs", "slope (kWh per device-h)", "95% CI", "intercept (kWh)",
                  "95% CI", "R^2");
    for (size_t i = 0; i < a->energy.n_fits; i++) {
        const ws_linfit *f = &a->energy.fits[i].fit;
        wsi_doc_cell(d, a->energy.fits[i].group);
        wsi_doc_cell_int(d, (long)a->energy.fits[i].n_runs);
        wsi_doc_cell_num(d, f->slope, 4);
        ci_cell(d, f->valid, f->slope_lo, f->slope_hi);
        wsi_doc_cell_num(d, f->intercept, 4);
        ci_cell(d, f->valid, f->intercept_lo, f->intercept_hi);
        wsi_doc_cell_num(d, f->r2, 4);
        wsi_doc_row_end(d);
    }
    wsi_doc_table_end(d);
    wsi_doc_p(d, "The slope regressed on the work per device-hour (`tables/slope_regression.csv`):");
    WSI_DOC_TABLE(d, "model", "runs", "coefficients [95% CI]", "R^2");
    const ws_multifit *mf = &a->energy.slope_on_both;
    char b[400];
    wsi_doc_cell(d, "kWh/device-h = c0 + c1 samples/device-h + c2 updates/device-h");
    wsi_doc_cell_int(d, (long)mf->n);
    if (mf->valid)
        snprintf(b, sizeof b, "c0 %.4g [%.4g, %.4g]; c1 %.4g [%.4g, %.4g]; c2 %.4g [%.4g, %.4g]", mf->coef[0],
                 mf->lo[0], mf->hi[0], mf->coef[1], mf->lo[1], mf->hi[1], mf->coef[2], mf->lo[2], mf->hi[2]);
    else
        snprintf(b, sizeof b, "%s",
                 mf->collinear ? "collinear: samples and updates per device-hour are proportional" : "too few runs");
    wsi_doc_cell(d, b);
    wsi_doc_cell_num(d, mf->r2, 4);
    wsi_doc_row_end(d);
    const ws_linfit *one[2] = {&a->energy.slope_on_samples, &a->energy.slope_on_updates};
    static const char *names[2] = {"kWh/device-h = c0 + c1 samples/device-h",
                                   "kWh/device-h = c0 + c1 updates/device-h"};
    for (int k = 0; k < 2; k++) {
        wsi_doc_cell(d, names[k]);
        wsi_doc_cell_int(d, (long)one[k]->n);
        if (one[k]->valid)
            snprintf(b, sizeof b, "c0 %.4g [%.4g, %.4g]; c1 %.4g [%.4g, %.4g]", one[k]->intercept, one[k]->intercept_lo,
                     one[k]->intercept_hi, one[k]->slope, one[k]->slope_lo, one[k]->slope_hi);
        else
            snprintf(b, sizeof b, "too few runs (or no spread)");
        wsi_doc_cell(d, b);
        wsi_doc_cell_num(d, one[k]->r2, 4);
        wsi_doc_row_end(d);
    }
    wsi_doc_table_end(d);
}

static void accuracy_section(wsi_doc *d, const ws_analysis *a) {
    wsi_doc_h2(d, "accuracy", "Predictive metric vs global batch size");
    WSI_DOC_TABLE(d, "task", "GBS", "runs", a->accuracy.metric, "degrades beyond GBS");
    for (size_t i = 0; i < a->accuracy.n_curves; i++) {
        const ws_accuracy_curve *cv = &a->accuracy.curves[i];
        for (size_t p = 0; p < cv->n_points; p++) {
            char deg[32] = "no degradation";
            if (cv->degrades_beyond_gbs) snprintf(deg, sizeof deg, "%d", cv->degrades_beyond_gbs);
            wsi_doc_cell(d, cv->task);
            wsi_doc_cell_int(d, cv->points[p].global_batch);
            wsi_doc_cell_int(d, (long)cv->points[p].metric.n);
            wsi_doc_cell_sum(d, cv->points[p].metric, 4);
            wsi_doc_cell(d, deg);
            wsi_doc_row_end(d);
        }
    }
    wsi_doc_table_end(d);
}

static void pareto_section(wsi_doc *d, const ws_analysis *a) {
    wsi_doc_h2(d, "pareto", "Pareto front of time, energy and metric");
    if (!a->all_energy) wsi_doc_p(d, "Energy was not measured for every run: the front is of time and metric.");
    WSI_DOC_TABLE(d, "task", "GPUs", "GBS", "LBS", "runs", "time (s)", "energy (kWh)", "device-h", a->rs->metric,
                  "on front");
    for (size_t i = 0; i < a->pareto.n_points; i++) {
        const ws_pareto_point *p = &a->pareto.points[i];
        wsi_doc_cell(d, p->task);
        wsi_doc_cell_int(d, p->gpus);
        wsi_doc_cell_int(d, p->global_batch);
        wsi_doc_cell_int(d, p->local_batch);
        wsi_doc_cell_int(d, (long)p->n_runs);
        wsi_doc_cell_num(d, p->time_s, 4);
        wsi_doc_cell_num(d, p->energy_kwh, 4);
        wsi_doc_cell_num(d, p->device_hours, 4);
        wsi_doc_cell_num(d, p->metric, 4);
        wsi_doc_cell(d, p->on_front ? "yes" : "");
        wsi_doc_row_end(d);
    }
    wsi_doc_table_end(d);
}

static void target_section(wsi_doc *d, const ws_analysis *a) {
    wsi_doc_h2(d, "target", "Energy to reach the target");
    if (!a->target.metric[0]) {
        wsi_doc_p(d, "No target was set (study file `analysis.target`, or `wattscale report --target val_top1=0.75`).");
        return;
    }
    wsi_doc_p(d, "Up to the first evaluation with %s %s %g; means over the runs that reached it%s.", a->target.metric,
              ws_metric_higher_is_better(a->target.metric) ? ">=" : "<=", a->target.value,
              a->any_energy ? "" : " (energy not measured: time and device-hours only)");
    WSI_DOC_TABLE(d, "task", "GPUs", "GBS", "LBS", "reached", "epochs", "time (s)", "device-h", "energy (kWh)");
    for (size_t i = 0; i < a->target.n_rows; i++) {
        const ws_target_row *r = &a->target.rows[i];
        char reached[32];
        snprintf(reached, sizeof reached, "%zu of %zu", r->n_reached, r->n_runs);
        wsi_doc_cell(d, r->task);
        wsi_doc_cell_int(d, r->gpus);
        wsi_doc_cell_int(d, r->global_batch);
        wsi_doc_cell_int(d, r->local_batch);
        wsi_doc_cell(d, reached);
        wsi_doc_cell_sum(d, r->epochs, 3);
        wsi_doc_cell_sum(d, r->time_s, 4);
        wsi_doc_cell_sum(d, r->device_hours, 4);
        wsi_doc_cell_sum(d, r->energy_kwh, 4);
        wsi_doc_row_end(d);
    }
    wsi_doc_table_end(d);
}

static void runs_section(wsi_doc *d, const ws_analysis *a) {
    const ws_runset *rs = a->rs;
    wsi_doc_h2(d, "runs", "Runs");
    wsi_doc_p(d, "Every stored run; `tables/runs.csv` has all columns.");
    WSI_DOC_TABLE(d, "run", "status", "hardware", "GPUs", "GBS", "LBS", "time (s)", "device-h", "energy (kWh)",
                  "sacct (kWh)", rs->metric);
    for (size_t i = 0; i < rs->n_runs; i++) {
        const ws_run *r = &rs->runs[i];
        wsi_doc_cell(d, r->run_key);
        wsi_doc_cell(d, r->status);
        wsi_doc_cell(d, r->hardware);
        wsi_doc_cell_int(d, r->world);
        wsi_doc_cell_int(d, r->global_batch);
        wsi_doc_cell_int(d, r->local_batch);
        wsi_doc_cell_num(d, r->time_s, 4);
        wsi_doc_cell_num(d, r->device_hours, 4);
        wsi_doc_cell_num(d, r->energy_j / 3.6e6, 4);
        wsi_doc_cell_num(d, r->sacct_energy_j / 3.6e6, 4);
        wsi_doc_cell_num(d, ws_run_metric(r, rs->metric), 4);
        wsi_doc_row_end(d);
    }
    wsi_doc_table_end(d);
}

void wsi_report_sections(wsi_doc *d, const ws_analysis *a) {
    series_section(d, a);
    energy_section(d, a);
    accuracy_section(d, a);
    pareto_section(d, a);
    target_section(d, a);
    runs_section(d, a);
}
