/* analysis/predict_calib.c - the performance model's calibration on measured runs: lines
 * against the local batch size (GSL, analysis/fit.h), means over runs (analysis/stats.h).
 * Contract and the model's terms in analysis/predict.h. */
#include "analysis/predict.h"
#include "analysis/stats.h"
#include "core/error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

double ws_line_at(const ws_line *l, double x, double *hw) {
    double h = NAN, y = NAN;
    const ws_linfit *f = &l->fit;
    if (l->kind == 3) {
        y = f->intercept + f->slope * x;
        double var = f->residual_sd * f->residual_sd + f->intercept_se * f->intercept_se +
                     2 * x * f->cov_intercept_slope + x * x * f->slope_se * f->slope_se;
        h = ws_t_quantile(0.975, (double)f->n - 2) * sqrt(var > 0 ? var : 0);
    } else if (l->kind == 2) {
        y = f->intercept + f->slope * x;
    } else if (l->kind == 1) {
        y = f->intercept;
        if (f->n >= 2) h = ws_t_quantile(0.975, (double)f->n - 1) * f->residual_sd * sqrt(1 + 1.0 / (double)f->n);
    }
    if (hw) *hw = h;
    return y;
}

/* a line through (x, y) where both are finite: fitted, through two sizes, or one size's mean */
static void make_line(const double *x, const double *y, size_t n, ws_line *out) {
    memset(out, 0, sizeof *out);
    out->fit = ws_fit_line(x, y, n);
    if (out->fit.valid) {
        out->kind = 3;
        return;
    }
    double xs[2] = {NAN, NAN}, sum[2] = {0, 0};
    size_t cnt[2] = {0, 0}, m = 0, distinct = 0;
    double ys[256];
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i]) || !isfinite(y[i])) continue;
        int k = x[i] == xs[0] ? 0 : x[i] == xs[1] ? 1 : -1;
        if (k < 0 && distinct < 2) xs[k = (int)distinct++] = x[i];
        if (k < 0) continue; /* a third size would have made the fit valid */
        sum[k] += y[i];
        cnt[k]++;
        if (m < 256) ys[m++] = y[i];
    }
    out->fit.n = m;
    if (distinct == 2) {
        double y0 = sum[0] / (double)cnt[0], y1 = sum[1] / (double)cnt[1];
        out->kind = 2;
        out->fit.slope = (y1 - y0) / (xs[1] - xs[0]);
        out->fit.intercept = y0 - out->fit.slope * xs[0];
    } else if (distinct == 1) {
        ws_summary s = ws_summarize(ys, m);
        out->kind = 1;
        out->x_only = xs[0];
        out->fit.intercept = s.mean;
        out->fit.slope = 0;
        out->fit.residual_sd = s.sd;
    }
}

/* the calibration's notes: sentences */
static void note(ws_calibration *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(ws_calibration *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    wsi_predict_vnote(c->notes, sizeof c->notes, ' ', fmt, ap);
    va_end(ap);
}

static int finished(const ws_perf_run *r) {
    return (!strcmp(r->status, "completed") || !strcmp(r->status, "target_reached")) && r->win_steps > 0 &&
           r->win_time_s > 0 && r->local_batch > 0;
}

/* the field of the group a selection names */
typedef const char *(*field_of)(const ws_perf_run *r);
static const char *f_model(const ws_perf_run *r) { return r->model; }
static const char *f_hardware(const ws_perf_run *r) { return r->hardware; }
static const char *f_precision(const ws_perf_run *r) { return r->precision; }
static const char *f_data(const ws_perf_run *r) { return r->data_kind; }

/* narrows keep[] to runs whose field is want (or, want empty, the one value they share) */
static ws_status narrow(const ws_perf_set *ps, int *keep, field_of f, const char *what, const char *want,
                        const char *flag, char *chosen, size_t size, ws_error *err) {
    const char *seen[8];
    size_t n_seen = 0, n_kept = 0;
    for (size_t i = 0; i < ps->n; i++) {
        if (!keep[i]) continue;
        const char *v = f(&ps->runs[i]);
        if (want && want[0] && strcmp(v, want)) {
            keep[i] = 0;
            continue;
        }
        n_kept++;
        size_t k = 0;
        while (k < n_seen && strcmp(seen[k], v))
            k++;
        if (k == n_seen && n_seen < 8) seen[n_seen++] = v;
    }
    if (!n_kept) {
        if (want && want[0])
            return wsi_error(err, WS_EINVAL, "no finished run with %s \"%s\" to calibrate on", what, want);
        return wsi_error(err, WS_EINVAL,
                         "no finished run with a measured window (steady state or epochs) to calibrate on");
    }
    if (n_seen > 1) {
        char list[512];
        size_t len = 0;
        for (size_t k = 0; k < n_seen && len < sizeof list; k++)
            len += (size_t)snprintf(list + len, sizeof list - len, "%s\"%s\"", k ? ", " : "", seen[k]);
        return wsi_error(err, WS_EINVAL, "the runs have more than one %s (%s): pick one with %s", what, list, flag);
    }
    snprintf(chosen, size, "%s", seen[0]);
    return WS_OK;
}

ws_status ws_calibrate(const ws_perf_set *ps, const ws_calib_select *sel, const ws_network *net, ws_calibration *out,
                       ws_error *err) {
    memset(out, 0, sizeof *out);
    size_t n = ps->n;
    int *keep = calloc(n ? n : 1, sizeof *keep);
    double *buf = malloc((n ? n : 1) * 16 * sizeof *buf);
    if (!keep || !buf) {
        free(keep);
        free(buf);
        return wsi_error(err, WS_ENOMEM, "calibration: out of memory");
    }
    for (size_t i = 0; i < n; i++)
        keep[i] = finished(&ps->runs[i]) && !(sel->exclude_run && !strcmp(sel->exclude_run, ps->runs[i].run_key));
    ws_status st = narrow(ps, keep, f_model, "model", sel->model, "--model", out->model, sizeof out->model, err);
    if (st == WS_OK)
        st = narrow(ps, keep, f_hardware, "hardware", sel->hardware, "--hardware", out->hardware, sizeof out->hardware,
                    err);
    if (st == WS_OK)
        st = narrow(ps, keep, f_precision, "precision", sel->precision, "--precision", out->precision,
                    sizeof out->precision, err);
    if (st == WS_OK)
        st =
            narrow(ps, keep, f_data, "data kind", sel->data_kind, "--data", out->data_kind, sizeof out->data_kind, err);
    if (st != WS_OK) {
        free(keep);
        free(buf);
        return st;
    }
    /* per run: x = LBS, then the figures each term is fitted to */
    double *lbs = buf, *y_t = buf + n, *y_e = buf + 2 * n, *y_m = buf + 3 * n, *dps = buf + 4 * n;
    double *p_wait = buf + 5 * n, *p_idle = buf + 6 * n, *host = buf + 7 * n, *over = buf + 8 * n;
    double *over_x = buf + 9 * n, *over_p = buf + 10 * n, *spe = buf + 11 * n, *expo = buf + 12 * n;
    double *frac = buf + 13 * n;
    size_t m = 0, len = 0;
    out->lbs_min = 1 << 30;
    out->parameters = NAN;
    for (size_t i = 0; i < n; i++) {
        if (!keep[i]) continue;
        const ws_perf_run *r = &ps->runs[i];
        double steps = r->win_steps, step_s = r->win_time_s / steps, a = r->accum, b = r->local_batch;
        double G = r->world, N = r->nodes;
        double ep_steps = r->ep_steps > 0 ? r->ep_steps : NAN;
        double exposed = G > 1 ? r->ep_comm_s / ep_steps : 0, data = r->ep_data_s / ep_steps;
        if (!isfinite(exposed)) exposed = 0;
        if (!isfinite(data)) data = 0;
        double P_host = r->run_energy_host_j / r->run_time_s / N; /* NAN: not measured */
        double host_share = isfinite(P_host) ? P_host * N : 0;    /* W of the whole job's hosts */
        /* GPU power in the all-reduce wait, and outside compute: phase energy (all devices,
         * host included where metered) less the hosts' share, per GPU. One rank has no
         * all-reduce: its few microseconds between backward and the optimizer would give a
         * meaningless power (thousands of W on the one-GPU study) */
        double wait = r->ep_comm_s > 0 && G > 1
                          ? (r->phase_j[WS_PHASE_ALLREDUCE_WAIT] - host_share * r->ep_comm_s) / (r->ep_comm_s * G)
                          : NAN;
        double t_idle = r->ep_time_s - r->ep_compute_s - (isfinite(r->ep_comm_s) ? r->ep_comm_s : 0);
        double idle =
            t_idle > 0 ? (r->phase_j[WS_PHASE_OTHER] + r->phase_j[WS_PHASE_DATA] - host_share * t_idle) / (t_idle * G)
                       : NAN;
        double e_step = r->win_energy_gpu_j / steps / G;
        double p_exposed = isfinite(wait) ? wait : isfinite(idle) ? idle : 0;
        lbs[m] = b;
        y_t[m] = (step_s - exposed - data) / a;
        y_e[m] = (e_step - p_exposed * exposed) / a;
        y_m[m] = r->peak_memory_bytes;
        dps[m] = data / (a * b);
        p_wait[m] = wait;
        p_idle[m] = idle;
        host[m] = P_host;
        expo[m] = G > 1 && isfinite(r->ep_comm_s) ? exposed : NAN;
        over[m] = r->run_time_s - r->ep_time_s;
        if (!(over[m] >= 0)) over[m] = NAN;
        over_x[m] = r->evals * (isfinite(r->data_fraction) ? r->data_fraction : 1) / G;
        out->evals_measured |= r->evals > 0;
        over_p[m] = over[m] > 0 ? (r->run_energy_gpu_j - r->ep_energy_gpu_j) / (over[m] * G) : NAN;
        spe[m] = r->samples_per_epoch;
        frac[m] = r->data_fraction;
        if (r->local_batch < out->lbs_min) out->lbs_min = r->local_batch;
        if (r->local_batch > out->lbs_max) out->lbs_max = r->local_batch;
        if (r->world > out->max_world) out->max_world = r->world;
        if (isfinite(r->parameters) && !(r->parameters <= out->parameters)) out->parameters = r->parameters;
        if (!out->device_kind[0]) snprintf(out->device_kind, sizeof out->device_kind, "%s", r->device_kind);
        if (len < sizeof out->runs)
            len += (size_t)snprintf(out->runs + len, sizeof out->runs - len, "%s%s", len ? ", " : "", r->run_key);
        m++;
    }
    out->n_runs = m;
    out->grad_bytes = 4 * out->parameters; /* fp32 gradients, whatever the precision (grad_sync) */
    make_line(lbs, y_t, m, &out->time);
    make_line(lbs, y_e, m, &out->energy);
    make_line(lbs, y_m, m, &out->memory);
    ws_summary s = ws_summarize(dps, m);
    out->data_s_per_sample = s.mean;
    out->data_sd = s.sd;
    out->n_data = s.n;
    s = ws_summarize(p_wait, m);
    out->wait_measured = s.n > 0;
    out->n_wait = s.n;
    out->wait_power_w = s.mean;
    out->wait_power_sd = s.sd;
    out->idle_power_w = ws_summarize(p_idle, m).mean;
    s = ws_summarize(host, m);
    out->host_measured = s.n > 0;
    out->n_host = s.n;
    out->host_power_w = s.mean;
    out->host_power_sd = s.sd;
    if (out->host_measured && s.n < m)
        note(out, "CPU/DRAM energy was measured for %zu of the %zu runs; the host power is their mean.", s.n, m);
    make_line(over_x, over, m, &out->startup);
    out->overhead_gpu_power_w = ws_summarize(over_p, m).mean;
    s = ws_summarize(spe, m);
    out->samples_per_epoch = s.n > 0 && s.min == s.max ? s.mean : NAN;
    out->data_fraction = ws_summarize(frac, m).mean;
    /* the overlapped fraction of the multi-GPU runs: f = 1 - exposed / T_ar */
    double *f = buf + 14 * n;
    size_t nf = 0;
    for (size_t i = 0, k = 0; i < n; i++) {
        if (!keep[i]) continue;
        const ws_perf_run *r = &ps->runs[i];
        if (isfinite(expo[k]) && out->grad_bytes > 0) {
            double T = 0, last = 0;
            int nb = 0;
            ws_allreduce_buckets(net, out->grad_bytes, WS_PREDICT_BUCKET_BYTES, r->world, r->nodes, WS_ALLREDUCE_AUTO,
                                 &T, &last, &nb, NULL);
            if (T > 0) {
                double fi = 1 - expo[k] / T;
                f[nf++] = fi < 0 ? 0 : fi > 1 ? 1 : fi;
            }
        }
        k++;
    }
    s = ws_summarize(f, nf);
    out->n_overlap = s.n;
    out->overlap = s.mean;
    out->overlap_sd = s.sd;
    if (!isfinite(out->parameters)) note(out, "No record names the model's parameter count: all-reduce not modelled.");
    if (out->energy.kind == 0) note(out, "No run measured energy: only time is predicted.");
    if (out->startup.kind != 3 && out->evals_measured)
        note(out, "Start-up and evaluation time not told apart (that needs 3 runs with different evaluations per GPU): "
                  "the time outside epochs is taken as measured.");
    int min_world = out->max_world;
    for (size_t i = 0; i < n; i++)
        if (keep[i] && ps->runs[i].world < min_world) min_world = ps->runs[i].world;
    if (strcmp(out->device_kind, "gpu") && min_world < out->max_world)
        note(out, "CPU ranks of one machine share its cores, so their compute per micro-batch depends on the rank "
                  "count as well as the batch, which this model does not represent: treat these predictions as rough.");
    if (out->max_world <= 1)
        note(out, "Every run used one device: the overlapped fraction and the GPUs' power while waiting for the "
                  "all-reduce were not measured.");
    free(keep);
    free(buf);
    return WS_OK;
}

static const char *line_kind(const ws_line *l) {
    switch (l->kind) {
    case 3:
        return "fitted";
    case 2:
        return "through two sizes, no interval";
    case 1:
        return "one size only";
    default:
        return "not measured";
    }
}

void ws_calibration_describe(const ws_calibration *c, char *out, size_t size) {
    size_t n = 0;
#define PUT(...)                                                                                                       \
    do {                                                                                                               \
        if (n < size) n += (size_t)snprintf(out + n, size - n, __VA_ARGS__);                                           \
    } while (0)
    PUT("calibration: %s / %s / %s / data %s, %zu runs (%s), LBS %d-%d\n", c->model, c->hardware, c->precision,
        c->data_kind, c->n_runs, c->runs, c->lbs_min, c->lbs_max);
    PUT("  compute per micro-batch: %.4g ms + %.4g ms x LBS (%s", c->time.fit.intercept * 1e3, c->time.fit.slope * 1e3,
        line_kind(&c->time));
    if (c->time.kind == 3) PUT(", R^2 %.4f", c->time.fit.r2);
    PUT(")\n");
    if (c->energy.kind)
        PUT("  GPU energy per micro-batch: %.4g J + %.4g J x LBS (%s)\n", c->energy.fit.intercept, c->energy.fit.slope,
            line_kind(&c->energy));
    PUT("  data-loading wait: %.3g us per sample; GPU power outside compute %.4g W", c->data_s_per_sample * 1e6,
        c->idle_power_w);
    if (c->wait_measured)
        PUT(", while waiting for the all-reduce %.4g W\n", c->wait_power_w);
    else
        PUT(", while waiting for the all-reduce not measured\n");
    if (c->n_overlap)
        PUT("  overlapped fraction: %.3f (%zu multi-GPU runs)\n", c->overlap, c->n_overlap);
    else
        PUT("  overlapped fraction: not measured (no multi-GPU run)\n");
    if (c->host_measured)
        PUT("  host (CPU + DRAM) power per node: %.4g W\n", c->host_power_w);
    else
        PUT("  host (CPU + DRAM) power: not measured\n");
    PUT("  outside epochs: %.3g s (%s)", ws_line_at(&c->startup, 0, NULL), line_kind(&c->startup));
    if (c->notes[0]) PUT("\n  notes: %s", c->notes);
#undef PUT
}
