/* analysis/figures.c - the report's figures; contract in analysis/figures.h. Each figure
 * function writes its data and script through analysis/gnuplot.h, or says why it is
 * skipped; ws_figures_write then draws what was written. */
#include "analysis/figures.h"
#include "analysis/gnuplot.h"
#include "core/error.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    const ws_analysis *a;
    const char *dir;
    ws_figure_set *set;
    ws_error *err;
} ctx;

static void skip(ctx *c, const char *name, const char *why) {
    size_t n = strlen(c->set->skipped);
    snprintf(c->set->skipped + n, sizeof c->set->skipped - n, "%s%s: %s", n ? "; " : "", name, why);
}

static ws_figure *add(ctx *c, const char *name, const char *title, const char *caption) {
    ws_figure *f = &c->set->figs[c->set->n++];
    snprintf(f->name, sizeof f->name, "%s", name);
    snprintf(f->title, sizeof f->title, "%s", title);
    snprintf(f->caption, sizeof f->caption, "%s", caption);
    return f;
}

static double sd0(ws_summary s) { return isfinite(s.sd) ? s.sd : 0; } /* one repetition: no bar */

typedef ws_summary (*point_value)(const ws_series_point *p);
static ws_summary pv_time(const ws_series_point *p) { return p->time_s; }
static ws_summary pv_speedup(const ws_series_point *p) { return p->speedup; }
static ws_summary pv_par(const ws_series_point *p) { return p->parallel_efficiency; }
static ws_summary pv_eeff(const ws_series_point *p) { return p->energy_efficiency; }
static ws_summary pv_gpu_w(const ws_series_point *p) { return p->gpu_power_w; }
static ws_summary pv_socket_w(const ws_series_point *p) { return p->socket_power_w; }

/* One block per series of (x, mean, sd) for the points with a value; returns the blocks
 * written, their series names in names[]. */
static int series_blocks(ws_gnuplot_fig *g, const ws_scaling_table *t, point_value v, int x_lbs, const char *what,
                         char names[][64], int max) {
    int n = 0;
    for (size_t p = 0; p < t->n_points;) {
        size_t q = p;
        int rows = 0;
        while (q < t->n_points && t->points[q].series_index == t->points[p].series_index) {
            rows += t->points[q].n_runs > 0 && isfinite(v(&t->points[q]).mean);
            q++;
        }
        if (rows && n < max) {
            char label[128];
            snprintf(label, sizeof label, "series %s: %s", t->points[p].series, what);
            ws_gnuplot_block(g, label, x_lbs ? "local_batch mean sd n" : "gpus mean sd n");
            for (size_t k = p; k < q; k++) {
                const ws_series_point *sp = &t->points[k];
                ws_summary s = v(sp);
                if (!sp->n_runs || !isfinite(s.mean)) continue;
                ws_gnuplot_num(g, x_lbs ? sp->local_batch : sp->gpus, 0);
                ws_gnuplot_num(g, s.mean, 0);
                ws_gnuplot_num(g, sd0(s), 0);
                ws_gnuplot_num(g, (double)s.n, 1);
            }
            snprintf(names[n++], 64, "%s", t->points[p].series);
        }
        p = q;
    }
    return n;
}

/* A figure of one summary per series point against GPUs (or LBS). */
static ws_status series_figure(ctx *c, const char *name, const char *title, const char *caption, const char *ylabel,
                               const char *setup, int x_lbs, point_value v, const char *extra) {
    ws_gnuplot_fig g;
    char xlabel[64];
    snprintf(xlabel, sizeof xlabel, "%s", x_lbs ? "local batch size (LBS)" : ws_analysis_device_axis(c->a));
    ws_status st = ws_gnuplot_open(&g, c->dir, name, title, xlabel, ylabel, setup, c->err);
    if (st != WS_OK) return st;
    char names[16][64];
    int n = series_blocks(&g, &c->a->scaling, v, x_lbs, ylabel, names, 16);
    if (n == 0) { /* nothing finished (or nothing measured): no empty axes */
        ws_gnuplot_discard(&g);
        skip(c, name, "no finished run has this figure's data");
        return WS_OK;
    }
    for (int i = 0; i < n; i++)
        ws_gnuplot_plot(&g, "'%s.dat' index %d using 1:2:3 with yerrorlines lw 2 pt 7 title '%s'", name, i, names[i]);
    if (extra) ws_gnuplot_plot(&g, "%s", extra);
    if ((st = ws_gnuplot_close(&g, c->err)) == WS_OK) add(c, name, title, caption);
    return st;
}

static ws_status fig_time(ctx *c) {
    char caption[512];
    snprintf(caption, sizeof caption,
             "Wall time of a run per series point, mean and standard deviation over repetitions (no bar: one run). "
             "Device-hours are this time x the GPU count (%s).",
             ws_analysis_device_unit(c->a));
    char title[64];
    snprintf(title, sizeof title, "Wall time vs %s", ws_analysis_device_noun(c->a));
    return series_figure(c, "time_vs_gpus", title, caption, "wall time per run (s)",
                         "set logscale x 2\nset yrange [0:*]", 0, pv_time, NULL);
}

static ws_status fig_speedup(ctx *c) {
    char title[64];
    snprintf(title, sizeof title, "Speedup vs %s", ws_analysis_device_noun(c->a));
    return series_figure(
        c, "speedup", title,
        "Speedup relative to each series' smallest GPU count (its throughput per device times the GPU ratio: T_base / "
        "T on a constant dataset, the scaled speedup where the dataset grows); the dashed line is linear speedup from "
        "1 GPU.",
        "speedup", "set logscale x 2\nset logscale y 2", 0, pv_speedup, "x dt 2 lc rgb 'gray40' title 'linear'");
}

static ws_status fig_efficiency(ctx *c) {
    const ws_analysis *a = c->a;
    char title[80];
    snprintf(title, sizeof title, "Parallel and energy efficiency vs %s", ws_analysis_device_noun(a));
    ws_gnuplot_fig g;
    ws_status st =
        ws_gnuplot_open(&g, c->dir, "efficiency", title, ws_analysis_device_axis(a),
                        "efficiency relative to the smallest GPU count", "set logscale x 2\nset yrange [0:*]", c->err);
    if (st != WS_OK) return st;
    char names[16][64];
    int n = series_blocks(&g, &a->scaling, pv_par, 0, "parallel efficiency", names, 16);
    if (n == 0) {
        ws_gnuplot_discard(&g);
        skip(c, "efficiency", "no finished runs");
        return WS_OK;
    }
    for (int i = 0; i < n; i++)
        ws_gnuplot_plot(&g,
                        "'efficiency.dat' index %d using 1:2:3 with yerrorlines lw 2 pt 7 lc %d title '%s parallel'", i,
                        i + 1, names[i]);
    int m = 0;
    if (a->any_energy) {
        char enames[16][64];
        m = series_blocks(&g, &a->scaling, pv_eeff, 0, "energy efficiency", enames, 16);
        for (int i = 0; i < m; i++)
            ws_gnuplot_plot(
                &g, "'efficiency.dat' index %d using 1:2:3 with yerrorlines lw 2 dt 2 pt 5 lc %d title '%s energy'",
                n + i, i + 1, enames[i]);
    }
    ws_gnuplot_plot(&g, "1 dt 3 lc rgb 'gray40' notitle");
    if ((st = ws_gnuplot_close(&g, c->err)) == WS_OK)
        add(c, "efficiency", title,
            a->any_energy ? "Parallel efficiency (solid: throughput per device relative to the series' smallest GPU "
                            "count) and energy efficiency (dashed: energy per sample at the smallest GPU count over "
                            "energy per sample here), mean and standard deviation over repetitions."
                          : "Parallel efficiency: throughput per device relative to the series' smallest GPU count, "
                            "mean and standard deviation over repetitions. Energy efficiency is not shown: energy was "
                            "not measured.");
    return st;
}

static ws_status fig_accuracy(ctx *c) {
    const ws_accuracy *acc = &c->a->accuracy;
    int points = 0;
    for (size_t i = 0; i < acc->n_curves; i++)
        points += (int)acc->curves[i].n_points;
    if (!points) {
        skip(c, "accuracy_vs_gbs", "no finished run was evaluated");
        return WS_OK;
    }
    char setup[1024] = "set logscale x 2";
    size_t len = strlen(setup);
    for (size_t i = 0; i < acc->n_curves && len < sizeof setup - 200; i++) {
        const ws_accuracy_curve *cv = &acc->curves[i];
        if (!cv->degrades_beyond_gbs) continue;
        len += (size_t)snprintf(setup + len, sizeof setup - len,
                                "\nset arrow from %d, graph 0 to %d, graph 1 nohead dt 2 lc rgb 'red'"
                                "\nset label 'degrades beyond GBS %d' at %d, graph 0.05 offset 0.5,0 tc rgb 'red'",
                                cv->degrades_beyond_gbs, cv->degrades_beyond_gbs, cv->degrades_beyond_gbs,
                                cv->degrades_beyond_gbs);
    }
    char ylabel[64];
    snprintf(ylabel, sizeof ylabel, "%s (final evaluation)", acc->metric);
    ws_gnuplot_fig g;
    ws_status st = ws_gnuplot_open(&g, c->dir, "accuracy_vs_gbs", "Predictive metric vs global batch size",
                                   "global batch size (GBS)", ylabel, setup, c->err);
    if (st != WS_OK) return st;
    for (size_t i = 0; i < acc->n_curves; i++) {
        const ws_accuracy_curve *cv = &acc->curves[i];
        ws_gnuplot_block(&g, cv->task, "global_batch mean sd n");
        for (size_t p = 0; p < cv->n_points; p++) {
            ws_gnuplot_num(&g, cv->points[p].global_batch, 0);
            ws_gnuplot_num(&g, cv->points[p].metric.mean, 0);
            ws_gnuplot_num(&g, sd0(cv->points[p].metric), 0);
            ws_gnuplot_num(&g, (double)cv->points[p].metric.n, 1);
        }
        ws_gnuplot_plot(&g, "'accuracy_vs_gbs.dat' index %zu using 1:2:3 with yerrorlines lw 2 pt 7 title '%s'", i,
                        acc->n_curves > 1 ? cv->task : acc->metric);
    }
    if ((st = ws_gnuplot_close(&g, c->err)) == WS_OK) {
        char caption[768];
        snprintf(caption, sizeof caption,
                 "Final %s against the global batch size, mean and standard deviation over the runs at that GBS (any "
                 "GPU count). A red line marks the GBS beyond which the metric is more than %g %s the best at "
                 "smaller GBS.",
                 acc->metric, acc->tolerance, ws_metric_higher_is_better(acc->metric) ? "below" : "above");
        add(c, "accuracy_vs_gbs", "Predictive metric vs global batch size", caption);
    }
    return st;
}

static ws_status fig_energy_fit(ctx *c) {
    const ws_analysis *a = c->a;
    if (!a->any_energy) {
        skip(c, "energy_vs_device_hours", "energy was not measured");
        return WS_OK;
    }
    char xlabel[64];
    snprintf(xlabel, sizeof xlabel, "%s per run", ws_analysis_device_unit(a));
    ws_gnuplot_fig g;
    ws_status st =
        ws_gnuplot_open(&g, c->dir, "energy_vs_device_hours", "Energy vs device-hours", xlabel, "energy per run (kWh)",
                        "set xrange [0:*]\nset yrange [0:*]\nset style fill transparent solid 0.2 noborder", c->err);
    if (st != WS_OK) return st;
    const ws_runset *rs = a->rs;
    for (size_t f = 0; f < a->energy.n_fits; f++) {
        const ws_energy_fit *ef = &a->energy.fits[f];
        int b = ws_gnuplot_block(&g, ef->group, "device_hours energy_kwh run_key");
        double xmax = 0;
        for (size_t i = 0; i < rs->n_runs; i++) {
            const ws_run *r = &rs->runs[i];
            char key[256];
            ws_run_group_key(r, key, sizeof key);
            if (!ws_run_ok(r) || !isfinite(r->energy_j) || strcmp(key, ef->group)) continue;
            ws_gnuplot_num(&g, r->device_hours, 0);
            ws_gnuplot_num(&g, r->energy_j / 3.6e6, 0);
            fprintf(g.dat, "%s\n", r->run_key);
            if (r->device_hours > xmax) xmax = r->device_hours;
        }
        ws_gnuplot_plot(&g, "'energy_vs_device_hours.dat' index %d using 1:2 with points pt 7 ps 1.2 lc %zu title '%s'",
                        b, f + 1, ef->group);
        if (!ef->fit.valid) continue;
        int lb = ws_gnuplot_block(&g, "fit and 95% confidence band", "device_hours fit lower upper");
        for (int k = 0; k <= 50; k++) {
            double x = xmax * 1.05 * k / 50.0;
            double y = ef->fit.intercept + ef->fit.slope * x, h = ws_linfit_band(&ef->fit, x);
            ws_gnuplot_num(&g, x, 0);
            ws_gnuplot_num(&g, y, 0);
            ws_gnuplot_num(&g, y - h, 0);
            ws_gnuplot_num(&g, y + h, 1);
        }
        ws_gnuplot_plot(&g, "'energy_vs_device_hours.dat' index %d using 1:3:4 with filledcurves lc %zu notitle", lb,
                        f + 1);
        ws_gnuplot_plot(&g,
                        "'energy_vs_device_hours.dat' index %d using 1:2 with lines lw 2 lc %zu title "
                        "'fit: %.4g kWh per device-h [95%% CI %.4g, %.4g], R^2 %.3f'",
                        lb, f + 1, ef->fit.slope, ef->fit.slope_lo, ef->fit.slope_hi, ef->fit.r2);
    }
    if ((st = ws_gnuplot_close(&g, c->err)) == WS_OK)
        add(c, "energy_vs_device_hours", "Energy vs device-hours",
            "Energy of each run (GPU + CPU + DRAM where measured) against its device-hours, with a least-squares line "
            "per model / hardware / precision and its 95% confidence band (GSL). The slope is kWh per device-hour: "
            "the mean power of a device with its share of the host.");
    return st;
}

static ws_status fig_slope(ctx *c) {
    const ws_analysis *a = c->a;
    if (!a->any_energy) {
        skip(c, "slope_vs_samples", "energy was not measured");
        return WS_OK;
    }
    ws_gnuplot_fig g;
    ws_status st = ws_gnuplot_open(&g, c->dir, "slope_vs_samples", "kWh per device-hour vs samples per device-hour",
                                   "samples per device-hour", "kWh per device-hour", NULL, c->err);
    if (st != WS_OK) return st;
    const ws_runset *rs = a->rs;
    ws_gnuplot_block(&g, "runs with energy", "samples_per_device_hour kwh_per_device_hour updates_per_device_hour");
    double xmin = INFINITY, xmax = -INFINITY;
    for (size_t i = 0; i < rs->n_runs; i++) {
        const ws_run *r = &rs->runs[i];
        if (!ws_run_ok(r) || !isfinite(r->kwh_per_device_hour)) continue;
        ws_gnuplot_num(&g, r->samples_per_device_hour, 0);
        ws_gnuplot_num(&g, r->kwh_per_device_hour, 0);
        ws_gnuplot_num(&g, r->updates_per_device_hour, 1);
        if (r->samples_per_device_hour < xmin) xmin = r->samples_per_device_hour;
        if (r->samples_per_device_hour > xmax) xmax = r->samples_per_device_hour;
    }
    ws_gnuplot_plot(&g, "'slope_vs_samples.dat' index 0 using 1:2 with points pt 7 ps 1.2 title 'runs'");
    const ws_linfit *f = &a->energy.slope_on_samples;
    if (f->valid) {
        ws_gnuplot_block(&g, "fit", "samples_per_device_hour fit");
        for (int k = 0; k <= 1; k++) {
            double x = xmin + (xmax - xmin) * k;
            ws_gnuplot_num(&g, x, 0);
            ws_gnuplot_num(&g, f->intercept + f->slope * x, 1);
        }
        ws_gnuplot_plot(&g, "'slope_vs_samples.dat' index 1 using 1:2 with lines lw 2 title 'fit, R^2 %.3f'", f->r2);
    }
    if ((st = ws_gnuplot_close(&g, c->err)) == WS_OK)
        add(c, "slope_vs_samples", "kWh per device-hour vs samples per device-hour",
            "Each run's slope (kWh per device-hour) against the samples it processed per device-hour, with a "
            "least-squares line; the regression on samples and updates per device-hour together is in the tables.");
    return st;
}

static ws_status fig_power_lbs(ctx *c) {
    const ws_analysis *a = c->a;
    if (a->any_gpu_power)
        return series_figure(c, "power_per_gpu_vs_lbs", "Mean power per GPU vs local batch size",
                             "Mean power per metered GPU (GPU energy / time / GPUs) against the local batch size, mean "
                             "and standard deviation over repetitions.",
                             "mean power per GPU (W)", "set logscale x 2", 1, pv_gpu_w, NULL);
    if (a->any_socket_power)
        return series_figure(c, "power_per_socket_vs_lbs", "Mean power per CPU socket vs local batch size",
                             "Mean power per metered CPU package (RAPL package energy / time / packages) against the "
                             "local batch size; no GPU power was measured.",
                             "mean power per CPU socket (W)", "set logscale x 2", 1, pv_socket_w, NULL);
    skip(c, "power_per_gpu_vs_lbs", "no GPU or CPU power was measured");
    return WS_OK;
}

/* the run whose power series is shown: the largest world of the first series with one */
static const ws_run *power_run(const ws_analysis *a) {
    const ws_runset *rs = a->rs;
    const ws_run *best = NULL;
    for (size_t m = 0; m < rs->n_members; m++) {
        const ws_run *r = &rs->runs[rs->members[m].run];
        if (!r->n_power || !ws_run_ok(r)) continue;
        if (best && strcmp(rs->members[m].series, rs->members[0].series)) break;
        if (!best || r->world > best->world) best = r;
    }
    return best;
}

static ws_status fig_power_time(ctx *c) {
    const ws_runset *rs = c->a->rs;
    const ws_run *r = power_run(c->a);
    if (!r) {
        skip(c, "power_over_time", "no run has a power series (no sensor, or records ingested without power.csv)");
        return WS_OK;
    }
    char title[200];
    snprintf(title, sizeof title, "Power over time: run %s", r->run_key);
    ws_gnuplot_fig g;
    ws_status st = ws_gnuplot_open(&g, c->dir, "power_over_time", title, "time since the run's start (s)", "power (W)",
                                   "set yrange [0:*]", c->err);
    if (st != WS_OK) return st;
    for (size_t k = 0; k < r->n_power;) {
        const ws_power_sample *p0 = &rs->power[r->first_power + k];
        char label[160];
        snprintf(label, sizeof label, "node %d %s %s", p0->node, p0->kind, p0->device);
        int b = ws_gnuplot_block(&g, label, "t_s power_w");
        size_t j = k;
        for (; j < r->n_power; j++) {
            const ws_power_sample *p = &rs->power[r->first_power + j];
            if (p->node != p0->node || strcmp(p->device, p0->device)) break;
            ws_gnuplot_num(&g, p->t_s, 0);
            ws_gnuplot_num(&g, p->power_w, 1);
        }
        ws_gnuplot_plot(&g, "'power_over_time.dat' index %d using 1:2 with lines lw 1.5 title '%s'", b, label);
        k = j;
    }
    if ((st = ws_gnuplot_close(&g, c->err)) == WS_OK)
        add(c, "power_over_time", title,
            "Power of each metered device during one run, downsampled to at most 500 windows per device (each the "
            "mean of the meter's samples in it, so the area is the run's energy).");
    return st;
}

static ws_status fig_pareto(ctx *c) {
    const ws_analysis *a = c->a;
    const ws_pareto *pa = &a->pareto;
    if (!pa->n_points) {
        skip(c, "pareto", "no finished runs");
        return WS_OK;
    }
    int energy = a->all_energy;
    char ylabel[64];
    snprintf(ylabel, sizeof ylabel, "%s", energy ? "energy per run (kWh)" : a->rs->metric);
    const char *title = energy ? "Pareto front: time vs energy" : "Pareto front: time vs predictive metric";
    ws_gnuplot_fig g;
    ws_status st = ws_gnuplot_open(&g, c->dir, "pareto", title, "wall time per run (s)", ylabel, NULL, c->err);
    if (st != WS_OK) return st;
    ws_gnuplot_block(&g, "all configurations",
                     energy ? "time_s energy_kwh metric gpus gbs lbs" : "time_s metric energy_kwh gpus gbs lbs");
    for (int front = 0; front < 2; front++) {
        if (front) ws_gnuplot_block(&g, "on the Pareto front (time, energy, metric)", "same columns");
        for (size_t i = 0; i < pa->n_points; i++) {
            const ws_pareto_point *p = &pa->points[i];
            if (front && !p->on_front) continue;
            ws_gnuplot_num(&g, p->time_s, 0);
            ws_gnuplot_num(&g, energy ? p->energy_kwh : p->metric, 0);
            ws_gnuplot_num(&g, energy ? p->metric : p->energy_kwh, 0);
            fprintf(g.dat, "%d %d %d\n", p->gpus, p->global_batch, p->local_batch);
        }
    }
    ws_gnuplot_plot(&g,
                    "'pareto.dat' index 0 using 1:2 with points pt 6 ps 1.5 lc rgb 'gray50' title 'configurations'");
    ws_gnuplot_plot(&g, "'pareto.dat' index 1 using 1:2 with points pt 7 ps 1.5 lc rgb 'red' title 'Pareto front'");
    ws_gnuplot_plot(&g, "'pareto.dat' index 0 using 1:2:(sprintf('%%dx%%d', int($4), int($6))) with labels offset 0,1 "
                        "font ',9' notitle");
    if ((st = ws_gnuplot_close(&g, c->err)) == WS_OK)
        add(c, "pareto", title,
            energy ? "Each configuration's mean time and energy; red: not dominated in time, energy and the metric "
                     "together (labels: GPUs x LBS)."
                   : "Each configuration's mean time and metric; red: not dominated in time and metric (labels: GPUs x "
                     "LBS). Energy was not measured, so it is not an objective here.");
    return st;
}

ws_status ws_figures_write(const ws_analysis *a, const char *dir, int draw, ws_figure_set *out, ws_error *err) {
    memset(out, 0, sizeof *out);
    ctx c = {a, dir, out, err};
    ws_status (*figs[])(ctx *) = {fig_energy_fit, fig_time,       fig_speedup, fig_efficiency, fig_accuracy,
                                  fig_power_lbs,  fig_power_time, fig_pareto,  fig_slope};
    for (size_t i = 0; i < sizeof figs / sizeof figs[0]; i++) {
        ws_status st = figs[i](&c);
        if (st != WS_OK) return st;
    }
    if (!draw) {
        snprintf(out->note, sizeof out->note, "figures not drawn (--no-figures): scripts and data in %s", dir);
        return WS_OK;
    }
    const char *gnuplot = ws_gnuplot_find();
    if (!gnuplot) {
        snprintf(out->note, sizeof out->note,
                 "figures not drawn: gnuplot not found (apt-get install gnuplot-nox, or set WATTSCALE_GNUPLOT); their "
                 "scripts and data are in %s: run `gnuplot -e 'fmt=\"svg\"' NAME.gp` there, or this report again",
                 dir);
        return WS_OK;
    }
    ws_figures_draw(out, dir, 0);
    return WS_OK;
}

void ws_figures_draw(ws_figure_set *set, const char *dir, size_t from) {
    const char *gnuplot = ws_gnuplot_find();
    for (size_t i = from; gnuplot && i < set->n; i++) {
        ws_error ferr = {0};
        if (ws_gnuplot_draw(gnuplot, dir, set->figs[i].name, "svg", &ferr) == WS_OK &&
            ws_gnuplot_draw(gnuplot, dir, set->figs[i].name, "png", &ferr) == WS_OK) {
            set->figs[i].drawn = 1;
        } else {
            set->n_failed++;
            size_t n = strlen(set->note);
            snprintf(set->note + n, sizeof set->note - n, "%s%s", n ? "; " : "", ferr.msg);
        }
    }
}
