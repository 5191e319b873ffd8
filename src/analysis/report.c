/* analysis/report.c - `wattscale report`: analysis, findings, then the writers; contract
 * in analysis/report.h. The findings are the sentences at the top of the HTML and Markdown
 * reports, built from the same analysis the tables show. */
#include "analysis/report.h"
#include "analysis/report_internal.h"
#include "core/error.h"
#include "core/fileutil.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

ws_report_opts ws_report_opts_default(void) {
    ws_report_opts o = {"report", 1, NULL};
    return o;
}

ws_status ws_report_set_target(ws_runset *rs, const char *spec, ws_error *err) {
    const char *eq = strchr(spec, '=');
    char *end = NULL;
    double v = eq ? strtod(eq + 1, &end) : NAN;
    size_t k = eq ? (size_t)(eq - spec) : 0;
    char metric[16] = "";
    if (eq && k < sizeof metric) memcpy(metric, spec, k), metric[k] = 0;
    if (!eq || end == eq + 1 || *end || !isfinite(v) ||
        !ws_metric_known(metric))
        return wsi_error(err, WS_EINVAL, "--target %s: want METRIC=VALUE with METRIC one of " WS_METRICS, spec);
    snprintf(rs->target_metric, sizeof rs->target_metric, "%s", metric);
    rs->target_value = v;
    return WS_OK;
}

void wsi_fmt_num(char *out, size_t size, double x, int digits) {
    if (isfinite(x))
        snprintf(out, size, "%.*g", digits, x);
    else
        snprintf(out, size, "-");
}

void wsi_fmt_summary(char *out, size_t size, ws_summary s, double scale, int digits) {
    if (s.n == 0 || !isfinite(s.mean))
        snprintf(out, size, "-");
    else if (s.n == 1 || !isfinite(s.sd))
        snprintf(out, size, "%.*g", digits, s.mean * scale);
    else
        snprintf(out, size, "%.*g +- %.*g", digits, s.mean * scale, 2, s.sd * scale);
}

static void say(wsi_findings *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(wsi_findings *f, const char *fmt, ...) {
    if (f->n == WSI_MAX_FINDINGS) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->text[f->n++], sizeof f->text[0], fmt, ap);
    va_end(ap);
}

/* "1 GPU", "4 GPUs" */
static const char *counted(char *buf, size_t size, int n, const char *noun) {
    size_t len = strlen(noun);
    snprintf(buf, size, "%d %.*s", n, (int)(n == 1 && len > 1 && noun[len - 1] == 's' ? len - 1 : len), noun);
    return buf;
}

void wsi_findings_make(const ws_analysis *a, wsi_findings *f) {
    memset(f, 0, sizeof *f);
    const ws_runset *rs = a->rs;
    const char *unit = ws_analysis_device_unit(a), *noun = ws_analysis_device_noun(a);
    say(f, "%zu run%s finished, %zu failed, %zu other (running or interrupted when stored); hardware: %s.",
        a->n_finished, a->n_finished == 1 ? "" : "s", a->n_failed, a->n_other, a->hardware[0] ? a->hardware : "none");
    if (!a->any_energy)
        say(f,
            "Energy was not measured: no sensor for %s on this hardware (the meters' reasons are in the runs "
            "table). The report shows time, %s, throughput and accuracy; every energy figure is left empty, none "
            "is estimated.",
            a->missing_domains[0] ? a->missing_domains : "any domain", unit);
    else if (!a->all_energy)
        say(f, "Energy was measured for some runs only; runs without energy are left out of the energy fits.");
    for (size_t i = 0; i < a->energy.n_fits; i++) {
        const ws_energy_fit *ef = &a->energy.fits[i];
        if (ef->fit.valid)
            say(f,
                "Energy grows with %s for %s: %.4g kWh per device-hour [95%% CI %.4g, %.4g], intercept %.3g kWh, "
                "R^2 %.3f over %zu runs.",
                unit, ef->group, ef->fit.slope, ef->fit.slope_lo, ef->fit.slope_hi, ef->fit.intercept, ef->fit.r2,
                ef->n_runs);
        else
            say(f,
                "Energy vs %s for %s: %zu run%s with energy, too few (or all alike in %s) for a fit with an "
                "interval (3 with distinct %s are needed).",
                unit, ef->group, ef->n_runs, ef->n_runs == 1 ? "" : "s", unit, unit);
    }
    const ws_multifit *mf = &a->energy.slope_on_both;
    if (mf->valid)
        say(f,
            "The slope (kWh per device-hour) regressed on samples and updates per device-hour: %.3g + %.3g per "
            "sample/h + %.3g per update/h, R^2 %.3f over %zu runs.",
            mf->coef[0], mf->coef[1], mf->coef[2], mf->r2, mf->n);
    else if (mf->collinear)
        say(f, "Samples and updates per device-hour are proportional in these runs (one global batch size), so the "
               "slope is regressed on each alone (tables/slope_regression.csv).");
    /* scaling at the largest GPU count of each series */
    const ws_scaling_table *t = &a->scaling;
    for (size_t p = 0; p < t->n_points; p++) {
        int last = p + 1 == t->n_points || t->points[p + 1].series_index != t->points[p].series_index;
        const ws_series_point *sp = &t->points[p];
        if (!last || !sp->n_runs || !isfinite(sp->speedup.mean)) continue;
        char e[96] = "";
        if (isfinite(sp->energy_efficiency.mean))
            snprintf(e, sizeof e, ", energy efficiency %.2f", sp->energy_efficiency.mean);
        char at[48];
        size_t first = p;
        while (first > 0 && t->points[first - 1].series_index == sp->series_index) first--;
        const ws_series_point *s0 = &t->points[first];
        if (first != p && s0->gpus == sp->gpus) {
            /* a series at one GPU count (batch sizes varied): "speedup" is a throughput ratio */
            say(f, "Series %s (%s): at a fixed %s, throughput at GBS %d / LBS %d is %.2f x that at GBS %d / LBS %d%s.",
                sp->series, sp->scaling, counted(at, sizeof at, sp->gpus, noun), sp->global_batch, sp->local_batch,
                sp->speedup.mean, s0->global_batch, s0->local_batch, e);
            continue;
        }
        say(f, "Series %s (%s%s): at %s speedup %.2f, parallel efficiency %.2f%s, relative to its smallest count.",
            sp->series, sp->scaling, sp->growing ? ", growing dataset" : "", counted(at, sizeof at, sp->gpus, noun),
            sp->speedup.mean, sp->parallel_efficiency.mean, e);
    }
    for (size_t i = 0; i < a->accuracy.n_curves; i++) {
        const ws_accuracy_curve *cv = &a->accuracy.curves[i];
        if (cv->n_points < 2) continue;
        if (cv->degrades_beyond_gbs)
            say(f, "%s degrades beyond GBS %d (at GBS %d it is more than %g %s the best, %.4g at GBS %d) for %s.",
                a->accuracy.metric, cv->degrades_beyond_gbs, cv->first_degraded_gbs, a->accuracy.tolerance,
                ws_metric_higher_is_better(a->accuracy.metric) ? "below" : "above", cv->best_metric, cv->best_gbs,
                cv->task);
        else
            say(f, "%s does not degrade between GBS %d and %d (tolerance %g; best %.4g at GBS %d) for %s.",
                a->accuracy.metric, cv->points[0].global_batch, cv->points[cv->n_points - 1].global_batch,
                a->accuracy.tolerance, cv->best_metric, cv->best_gbs, cv->task);
    }
    char front[512] = "", at[48];
    size_t n = 0, on = 0;
    for (size_t i = 0; i < a->pareto.n_points; i++) {
        const ws_pareto_point *p = &a->pareto.points[i];
        if (!p->on_front) continue;
        on++;
        if (n < sizeof front)
            n += (size_t)snprintf(front + n, sizeof front - n, "%s%s x LBS %d", n ? ", " : "",
                                  counted(at, sizeof at, p->gpus, noun), p->local_batch);
    }
    if (on)
        say(f, "Pareto front (time, %smetric): %s (%zu of %zu configurations).", a->all_energy ? "energy, " : "", front,
            on, a->pareto.n_points);
    if (a->target.metric[0]) {
        size_t reached = 0, total = 0;
        const ws_target_row *best = NULL;
        for (size_t i = 0; i < a->target.n_rows; i++) {
            const ws_target_row *r = &a->target.rows[i];
            reached += r->n_reached;
            total += r->n_runs;
            double key = a->any_energy ? r->energy_kwh.mean : r->time_s.mean;
            double bk = best ? (a->any_energy ? best->energy_kwh.mean : best->time_s.mean) : INFINITY;
            if (r->n_reached && isfinite(key) && key < bk) best = r;
        }
        if (best)
            say(f, "Target %s %s %g: reached by %zu of %zu runs; least %s at %s x LBS %d (%.4g %s).",
                a->target.metric, ws_metric_higher_is_better(a->target.metric) ? ">=" : "<=", a->target.value, reached,
                total, a->any_energy ? "energy" : "time", counted(at, sizeof at, best->gpus, noun), best->local_batch,
                a->any_energy ? best->energy_kwh.mean : best->time_s.mean, a->any_energy ? "kWh" : "s");
        else
            say(f, "Target %s %g: reached by none of %zu runs.", a->target.metric, a->target.value, total);
    }
    if (a->any_sacct) {
        double ws = 0, sacct = 0;
        for (size_t i = 0; i < rs->n_runs; i++) {
            const ws_run *r = &rs->runs[i];
            if (ws_run_ok(r) && isfinite(r->sacct_energy_j) && isfinite(r->energy_j)) {
                ws += r->energy_j;
                sacct += r->sacct_energy_j;
            }
        }
        if (sacct > 0 && ws > 0)
            say(f,
                "Slurm's node-level accounting (sacct ConsumedEnergy) saw %.4g kWh where wattscale's meters saw %.4g "
                "kWh (ratio %.3f) over the same runs.",
                sacct / 3.6e6, ws / 3.6e6, ws / sacct);
    }
}

ws_status wsi_report_finish(FILE *f, char **text, size_t *size, const char *path, ws_error *err) {
    /* fclose publishes *text and *size (open_memstream), so read them only after it */
    int bad = fclose(f) != 0;
    ws_status st = bad ? wsi_error(err, WS_EIO, "write %s: %s", path, strerror(errno))
                       : ws_write_file_atomic(path, *text, *size, err);
    free(*text);
    *text = NULL;
    return st;
}

ws_status ws_report_write(const ws_runset *rs, const ws_report_opts *o, ws_report_result *res, ws_error *err) {
    memset(res, 0, sizeof *res);
    res->n_runs = rs->n_runs;
    snprintf(res->tables_dir, sizeof res->tables_dir, "%s/tables", o->out_dir);
    snprintf(res->figures_dir, sizeof res->figures_dir, "%s/figures", o->out_dir);
    snprintf(res->html_path, sizeof res->html_path, "%s/report.html", o->out_dir);
    snprintf(res->md_path, sizeof res->md_path, "%s/report.md", o->out_dir);
    ws_status st = ws_make_dirs(res->tables_dir, err);
    if (st == WS_OK) st = ws_make_dirs(res->figures_dir, err);
    if (st != WS_OK) return st;
    ws_analysis a;
    if ((st = ws_analysis_compute(rs, &a, err)) != WS_OK) return st;
    ws_figure_set figs;
    wsi_findings findings;
    wsi_findings_make(&a, &findings);
    st = ws_figures_write(&a, res->figures_dir, o->figures, &figs, err);
    if (st == WS_OK)
        st = wsi_report_predictions(&a, o->predict, res->figures_dir, res->tables_dir, o->figures, &figs, &findings,
                                    err);
    if (st == WS_OK) st = wsi_report_tables(&a, res->tables_dir, err);
    if (st == WS_OK) st = wsi_report_html(&a, &findings, &figs, res->figures_dir, res->html_path, err);
    if (st == WS_OK) st = wsi_report_md(&a, &findings, &figs, res->md_path, err);
    for (size_t i = 0; i < figs.n; i++)
        res->n_figures += figs.figs[i].drawn;
    res->n_failed_figures = figs.n_failed;
    snprintf(res->figures_note, sizeof res->figures_note, "%s", figs.note);
    ws_analysis_free(&a);
    return st;
}
