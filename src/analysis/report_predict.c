/* analysis/report_predict.c - the report's predictions: per series, the performance model's
 * wall time and energy per run (analysis/predict.h) from 1 GPU to beyond the largest measured
 * count, drawn beside the measured points, written as tables/predictions.csv and summed up in
 * the findings. Series of arbitrary points (runs ingested without a plan) are predicted run
 * by run, one curve per model / hardware / precision. Declared in analysis/report_internal.h;
 * options in analysis/report.h. */
#include "analysis/csv.h"
#include "analysis/gnuplot.h"
#include "analysis/predict.h"
#include "analysis/report.h"
#include "analysis/report_internal.h"
#include "analysis/stats.h"
#include "core/error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CURVES 16
#define MAX_CURVE 48
#define MAX_GROUPS 8

/* one curve: predictions along a series (or, for a points series, at its runs of one group),
 * each with the measured figures beside it (n = 0: not measured there) */
typedef struct {
    char name[96];
    int points; /* 1: predicted at measured runs only, drawn as points */
    const ws_calibration *cal;
    size_t n;
    int gpus[MAX_CURVE];
    ws_summary time_s[MAX_CURVE], energy_kwh[MAX_CURVE];
    ws_prediction p[MAX_CURVE];
} curve;

typedef struct {
    const ws_analysis *a;
    const ws_report_predict *rp;
    int gpn, max_gpus;
    ws_calibration cal[MAX_GROUPS];
    size_t n_cal;
    curve *cv;
    size_t n_cv;
    ws_figure_set *figs;
} ctx;

static void skipped(ws_figure_set *figs, const char *what, const char *why) {
    size_t n = strlen(figs->skipped);
    snprintf(figs->skipped + n, sizeof figs->skipped - n, "%s%s: %s", n ? "; " : "", what, why);
}

static const ws_perf_run *perf_of(const ws_perf_set *ps, const char *key) {
    for (size_t i = 0; i < ps->n; i++)
        if (!strcmp(ps->runs[i].run_key, key)) return &ps->runs[i];
    return NULL;
}

/* the calibration of run r's group, made on first use; NULL with why */
static const ws_calibration *calibrated(ctx *x, const ws_perf_run *r, char *why, size_t size) {
    for (size_t i = 0; i < x->n_cal; i++) {
        const ws_calibration *c = &x->cal[i];
        if (!strcmp(c->model, r->model) && !strcmp(c->hardware, r->hardware) && !strcmp(c->precision, r->precision) &&
            !strcmp(c->data_kind, r->data_kind))
            return c;
    }
    if (x->n_cal == MAX_GROUPS) {
        snprintf(why, size, "more than %d model / hardware / precision groups", MAX_GROUPS);
        return NULL;
    }
    ws_calib_select sel = {r->model, r->hardware, r->precision, r->data_kind, NULL};
    ws_error e = {0};
    if (ws_calibrate(x->rp->perf, &sel, &x->rp->net, &x->cal[x->n_cal], &e) != WS_OK) {
        snprintf(why, size, "%s", e.msg);
        return NULL;
    }
    return &x->cal[x->n_cal++];
}

static int run_evals(const ws_runset *rs, const ws_run *r) {
    int n = 0;
    for (size_t k = 0; k < r->n_epochs; k++) {
        const ws_run_epoch *e = &rs->epochs[r->first_epoch + k];
        n += isfinite(e->val_loss) || isfinite(e->val_top1);
    }
    return n;
}

/* the workload of run r (its steps, or its epochs of its samples), at data fraction frac */
static void workload_of(const ws_runset *rs, const ws_run *r, double frac, ws_predict_config *cfg) {
    cfg->evals = run_evals(rs, r);
    cfg->data_fraction = frac;
    if (r->steps_requested > 0) {
        cfg->steps = r->steps_requested;
        return;
    }
    double per_epoch = r->n_epochs ? r->samples / (double)r->n_epochs : NAN;
    cfg->epochs = r->epochs_requested > 0 ? r->epochs_requested : (double)r->n_epochs;
    cfg->samples_per_epoch = per_epoch * frac / r->data_fraction;
}

/* a points series: each finished run predicted as it ran, one curve per group */
static void points_series(ctx *x, const char *series) {
    const ws_runset *rs = x->a->rs;
    for (size_t m = 0; m < rs->n_members; m++) {
        const ws_run *r = &rs->runs[rs->members[m].run];
        const ws_perf_run *pr = perf_of(x->rp->perf, r->run_key);
        if (strcmp(rs->members[m].series, series) || !ws_run_ok(r) || !pr) continue;
        char why[512];
        const ws_calibration *cal = calibrated(x, pr, why, sizeof why);
        if (!cal) {
            skipped(x->figs, r->run_key, why);
            continue;
        }
        curve *c = NULL;
        for (size_t i = 0; i < x->n_cv && !c; i++)
            if (x->cv[i].points && x->cv[i].cal == cal && strstr(x->cv[i].name, series) == x->cv[i].name) c = &x->cv[i];
        if (!c && x->n_cv < MAX_CURVES) {
            c = &x->cv[x->n_cv++];
            snprintf(c->name, sizeof c->name, "%s (%s)", series, cal->precision);
            c->points = 1;
            c->cal = cal;
        }
        if (!c || c->n == MAX_CURVE) continue;
        ws_predict_config cfg = ws_predict_config_default();
        cfg.gpus = r->world;
        cfg.gpus_per_node = pr->ranks_per_node;
        cfg.global_batch = r->global_batch;
        cfg.local_batch = r->local_batch;
        cfg.accum = r->accum;
        workload_of(rs, r, r->data_fraction, &cfg);
        if (ws_predict(cal, &x->rp->net, &cfg, &c->p[c->n], NULL) != WS_OK) continue;
        double t = r->time_s, e = r->energy_j / 3.6e6;
        c->gpus[c->n] = r->world;
        c->time_s[c->n] = ws_summarize(&t, 1);
        c->energy_kwh[c->n] = ws_summarize(&e, 1);
        c->n++;
    }
}

/* a scaling series: its measured GPU counts and powers of two up to max_gpus, along its rule */
static void scaling_series(ctx *x, const ws_series_point *pts, size_t n_pts) {
    const ws_runset *rs = x->a->rs;
    const char *series = pts[0].series;
    const ws_run *r = NULL; /* the run at the largest measured count: its workload and group */
    const ws_perf_run *pr = NULL;
    for (size_t m = 0; m < rs->n_members; m++) {
        const ws_run *q = &rs->runs[rs->members[m].run];
        const ws_perf_run *pq = perf_of(x->rp->perf, q->run_key);
        if (strcmp(rs->members[m].series, series) || !ws_run_ok(q) || !pq) continue;
        if (!r || q->world > r->world) r = q, pr = pq;
    }
    char why[512];
    const ws_calibration *cal = r ? calibrated(x, pr, why, sizeof why) : NULL;
    if (!r) snprintf(why, sizeof why, "no finished run");
    if (!cal || x->n_cv == MAX_CURVES) {
        char what[96];
        snprintf(what, sizeof what, "predictions of series %s", series);
        skipped(x->figs, what, cal ? "too many series" : why);
        return;
    }
    curve *c = &x->cv[x->n_cv++];
    snprintf(c->name, sizeof c->name, "%s", series);
    c->cal = cal;
    int constant_gbs = !strcmp(pts[0].scaling, "constant_gbs");
    /* counts in order: powers of two up to max_gpus, and every measured count */
    int last = 0, g = 1;
    size_t i = 0;
    while (c->n < MAX_CURVE) {
        while (i < n_pts && pts[i].gpus <= last)
            i++;
        while (g <= last)
            g *= 2;
        int next = i < n_pts && pts[i].gpus < g ? pts[i].gpus : g;
        if (next > x->max_gpus) {
            if (i == n_pts) break;
            next = pts[i].gpus;
        }
        last = next;
        const ws_series_point *measured = i < n_pts && pts[i].gpus == next ? &pts[i] : NULL;
        ws_predict_config cfg = ws_predict_config_default();
        cfg.gpus = next;
        cfg.gpus_per_node = x->gpn;
        cfg.accum = pts[0].accum;
        if (measured) {
            cfg.global_batch = measured->global_batch;
            cfg.local_batch = measured->local_batch;
            cfg.accum = measured->accum;
        } else if (constant_gbs) {
            cfg.global_batch = pts[0].global_batch;
        } else {
            cfg.local_batch = pts[0].local_batch;
        }
        double frac = measured         ? measured->data_fraction
                      : pts[0].growing ? fmin(1, r->data_fraction * next / r->world)
                                       : r->data_fraction;
        workload_of(rs, r, frac, &cfg);
        /* a count the rule cannot reach (GBS not divisible by it) is left out of the curve */
        if (ws_predict(cal, &x->rp->net, &cfg, &c->p[c->n], NULL) != WS_OK) continue;
        c->gpus[c->n] = next;
        c->time_s[c->n] = measured ? measured->time_s : (ws_summary){0, NAN, NAN, NAN, NAN};
        c->energy_kwh[c->n] = measured ? measured->energy_kwh : (ws_summary){0, NAN, NAN, NAN, NAN};
        c->n++;
    }
}

typedef ws_interval (*pick)(const ws_prediction *p);
static ws_interval pick_time(const ws_prediction *p) { return p->time_s; }
static ws_interval pick_kwh(const ws_prediction *p) { return p->energy_kwh; }

static ws_status figure(ctx *x, const char *dir, const char *name, const char *title, const char *ylabel, pick f,
                        int energy, const char *caption, ws_error *err) {
    ws_gnuplot_fig g;
    ws_status st =
        ws_gnuplot_open(&g, dir, name, title, ws_analysis_device_axis(x->a), ylabel,
                        "set logscale x 2\nset logscale y 10\nset style fill transparent solid 0.15 noborder", err);
    if (st != WS_OK) return st;
    int drawn = 0;
    for (size_t s = 0; s < x->n_cv; s++) {
        const curve *c = &x->cv[s];
        int lc = (int)s + 1, band = 0;
        for (size_t i = 0; i < c->n; i++)
            band |= f(&c->p[i]).lo > 0; /* false for NAN: no interval */
        if (band && !c->points) {
            int b = ws_gnuplot_block(&g, c->name, "gpus lower upper (95% interval)");
            for (size_t i = 0; i < c->n; i++) {
                ws_interval v = f(&c->p[i]);
                if (!(v.lo > 0)) continue;
                ws_gnuplot_num(&g, c->gpus[i], 0);
                ws_gnuplot_num(&g, v.lo, 0);
                ws_gnuplot_num(&g, v.hi, 1);
            }
            ws_gnuplot_plot(&g, "'%s.dat' index %d using 1:2:3 with filledcurves lc %d notitle", name, b, lc);
        }
        int b = ws_gnuplot_block(&g, c->name, "gpus predicted lower upper");
        int rows = 0;
        for (size_t i = 0; i < c->n; i++) {
            ws_interval v = f(&c->p[i]);
            if (!(v.mid > 0)) continue;
            ws_gnuplot_num(&g, c->gpus[i], 0);
            ws_gnuplot_num(&g, v.mid, 0);
            ws_gnuplot_num(&g, v.lo, 0);
            ws_gnuplot_num(&g, v.hi, 1);
            rows++;
        }
        if (rows && c->points)
            ws_gnuplot_plot(&g, "'%s.dat' index %d using 1:2 with points pt 6 ps 1.6 lc %d title '%s predicted'", name,
                            b, lc, c->name);
        else if (rows)
            ws_gnuplot_plot(&g, "'%s.dat' index %d using 1:2 with lines lw 2 lc %d title '%s predicted'", name, b, lc,
                            c->name);
        b = ws_gnuplot_block(&g, c->name, "gpus measured_mean measured_sd n");
        int pts = 0;
        for (size_t i = 0; i < c->n; i++) {
            ws_summary m = energy ? c->energy_kwh[i] : c->time_s[i];
            if (!m.n || !(m.mean > 0)) continue;
            ws_gnuplot_num(&g, c->gpus[i], 0);
            ws_gnuplot_num(&g, m.mean, 0);
            ws_gnuplot_num(&g, isfinite(m.sd) ? m.sd : 0, 0);
            ws_gnuplot_num(&g, (double)m.n, 1);
            pts++;
        }
        if (pts)
            ws_gnuplot_plot(&g, "'%s.dat' index %d using 1:2:3 with yerrorbars pt 7 ps 1.1 lc %d title '%s measured'",
                            name, b, lc, c->name);
        drawn += rows;
    }
    if (!drawn) {
        ws_gnuplot_discard(&g);
        skipped(x->figs, name, "no series could be predicted");
        return WS_OK;
    }
    if ((st = ws_gnuplot_close(&g, err)) != WS_OK) return st;
    ws_figure_set *figs = x->figs;
    if (figs->n < sizeof figs->figs / sizeof figs->figs[0]) {
        ws_figure *fg = &figs->figs[figs->n++];
        snprintf(fg->name, sizeof fg->name, "%s", name);
        snprintf(fg->title, sizeof fg->title, "%s", title);
        snprintf(fg->caption, sizeof fg->caption, "%s", caption);
    }
    return WS_OK;
}

static ws_status table(const ctx *x, const char *dir, ws_error *err) {
    char path[1200];
    snprintf(path, sizeof path, "%s/predictions.csv", dir);
    ws_csv t;
    ws_status st = ws_csv_open(&t, path, err);
    if (st != WS_OK) return st;
    ws_csv_header(&t, "curve,precision,gpus,nodes,global_batch,local_batch,accum,measured_time_s_mean,"
                      "measured_time_s_sd,time_s,time_s_lo,time_s_hi,measured_energy_kwh_mean,measured_energy_kwh_sd,"
                      "energy_kwh,energy_kwh_lo,energy_kwh_hi,gpu_hours,step_s,allreduce_s,exposed_allreduce_s,"
                      "lbs_extrapolated,host_energy");
    for (size_t s = 0; s < x->n_cv; s++)
        for (size_t i = 0; i < x->cv[s].n; i++) {
            const curve *c = &x->cv[s];
            const ws_prediction *p = &c->p[i];
            ws_csv_str(&t, c->name);
            ws_csv_str(&t, c->cal->precision);
            ws_csv_int(&t, p->cfg.gpus);
            ws_csv_int(&t, p->nodes);
            ws_csv_int(&t, p->cfg.global_batch);
            ws_csv_int(&t, p->cfg.local_batch);
            ws_csv_int(&t, p->cfg.accum);
            ws_csv_num(&t, c->time_s[i].mean);
            ws_csv_num(&t, c->time_s[i].sd);
            ws_csv_num(&t, p->time_s.mid);
            ws_csv_num(&t, p->time_s.lo);
            ws_csv_num(&t, p->time_s.hi);
            ws_csv_num(&t, c->energy_kwh[i].mean);
            ws_csv_num(&t, c->energy_kwh[i].sd);
            ws_csv_num(&t, p->energy_kwh.mid);
            ws_csv_num(&t, p->energy_kwh.lo);
            ws_csv_num(&t, p->energy_kwh.hi);
            ws_csv_num(&t, p->gpu_hours.mid);
            ws_csv_num(&t, p->step_s.mid);
            ws_csv_num(&t, p->allreduce_s.mid);
            ws_csv_num(&t, p->exposed_s.mid);
            ws_csv_int(&t, p->lbs_extrapolated);
            ws_csv_str(&t, p->host > 0 ? "measured" : p->host < 0 ? "assumed" : "not counted");
            ws_csv_row(&t);
        }
    return ws_csv_close(&t, err);
}

static void findings(const ctx *x, wsi_findings *f) {
    for (size_t s = 0; s < x->n_cv && f->n < WSI_MAX_FINDINGS; s++) {
        const curve *c = &x->cv[s];
        if (!c->n || c->points) continue;
        const ws_prediction *far = &c->p[c->n - 1];
        char e[112] = "";
        if (isfinite(far->energy_kwh.mid))
            snprintf(e, sizeof e, ", energy %.4g kWh [%.4g, %.4g]", far->energy_kwh.mid, far->energy_kwh.lo,
                     far->energy_kwh.hi);
        snprintf(f->text[f->n++], sizeof f->text[0],
                 "Predicted for series %.64s at %d GPUs (%d nodes, GBS %d, LBS %d): wall time %.4g s [95%% %.4g, "
                 "%.4g]%s, %.4g GPU-hours (calibrated on %zu runs of %.48s / %s%s; assumptions under the predicted "
                 "figures, every point in tables/predictions.csv).",
                 c->name, far->cfg.gpus, far->nodes, far->cfg.global_batch, far->cfg.local_batch, far->time_s.mid,
                 far->time_s.lo, far->time_s.hi, e, far->gpu_hours.mid, c->cal->n_runs, c->cal->hardware,
                 c->cal->precision,
                 far->lbs_extrapolated ? "; this LBS lies outside the calibrated ones: extrapolated" : "");
    }
}

ws_status wsi_report_predictions(const ws_analysis *a, const ws_report_predict *rp, const char *figdir,
                                 const char *tabdir, int do_draw, ws_figure_set *figs, wsi_findings *fnd,
                                 ws_error *err) {
    if (!rp || !rp->perf) return WS_OK;
    ctx *x = calloc(1, sizeof *x);
    curve *cv = calloc(MAX_CURVES, sizeof *cv);
    if (!x || !cv) {
        free(x);
        free(cv);
        return wsi_error(err, WS_ENOMEM, "report predictions: out of memory");
    }
    x->a = a;
    x->rp = rp;
    x->cv = cv;
    x->figs = figs;
    /* nodes as large as the runs' largest (8 GPUs, an HGX node, when every run had one) */
    int max_measured = 1;
    x->gpn = 1;
    for (size_t i = 0; i < rp->perf->n; i++) {
        if (rp->perf->runs[i].ranks_per_node > x->gpn) x->gpn = rp->perf->runs[i].ranks_per_node;
        if (rp->perf->runs[i].world > max_measured) max_measured = rp->perf->runs[i].world;
    }
    if (rp->gpus_per_node > 0)
        x->gpn = rp->gpus_per_node;
    else if (x->gpn == 1)
        x->gpn = 8;
    x->max_gpus = rp->max_gpus > 0 ? rp->max_gpus : (2 * max_measured > 512 ? 2 * max_measured : 512);
    const ws_scaling_table *t = &a->scaling;
    for (size_t p = 0; p < t->n_points;) {
        size_t q = p;
        while (q < t->n_points && t->points[q].series_index == t->points[p].series_index)
            q++;
        if (!strcmp(t->points[p].scaling, "points"))
            points_series(x, t->points[p].series);
        else
            scaling_series(x, &t->points[p], q - p);
        p = q;
    }
    ws_status st = WS_OK;
    if (x->n_cv) {
        const ws_calibration *c0 = cv[0].cal;
        const ws_prediction *p0 = &cv[0].p[cv[0].n ? cv[0].n - 1 : 0];
        char caption[768];
        snprintf(caption, sizeof caption,
                 "Predicted by the performance model (wattscale predict: compute and GPU energy per step against "
                 "LBS fitted to the measured runs, e.g. %zu of %s / %s; data wait; bucketed all-reduce; "
                 "overlapped fraction %s) on nodes of %d GPUs, 95%% band where the calibration has one; "
                 "points: measured mean and sd. Network: intra-node %s, inter-node %s.%s",
                 c0->n_runs, c0->hardware, c0->precision,
                 c0->n_overlap ? "measured" : "not measured, the band spans none to full", x->gpn,
                 rp->net.intra.measured ? "measured" : "assumed", rp->net.inter.measured ? "measured" : "assumed",
                 p0->host == 0 ? " Energy counts the GPUs only (no CPU/DRAM sensor)." : "");
        size_t from = figs->n;
        st = figure(x, figdir, "predicted_time_vs_gpus", "Predicted and measured wall time vs GPUs",
                    "wall time per run (s)", pick_time, 0, caption, err);
        int energy = 0;
        for (size_t s = 0; s < x->n_cv; s++)
            energy |= cv[s].cal->energy.kind != 0;
        if (st == WS_OK && energy)
            st = figure(x, figdir, "predicted_energy_vs_gpus", "Predicted and measured energy vs GPUs",
                        "energy per run (kWh)", pick_kwh, 1, caption, err);
        else if (st == WS_OK)
            skipped(figs, "predicted_energy_vs_gpus", "energy was not measured");
        if (st == WS_OK) st = table(x, tabdir, err);
        if (st == WS_OK) findings(x, fnd);
        if (st == WS_OK && do_draw) ws_figures_draw(figs, figdir, from);
    }
    free(cv);
    free(x);
    return st;
}
