/* analysis/predict.c - one configuration's step time, energy, wall time and GPU-hours from a
 * calibration; contract and the model in analysis/predict.h. */
#include "analysis/predict.h"
#include "analysis/stats.h"
#include "core/error.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

ws_predict_config ws_predict_config_default(void) {
    ws_predict_config c;
    memset(&c, 0, sizeof c);
    c.gpus = 1;
    c.gpus_per_node = 8;
    c.samples_per_epoch = NAN;
    c.data_fraction = NAN;
    c.evals = -1;
    c.algo = WS_ALLREDUCE_AUTO;
    c.host_power_w = NAN;
    return c;
}

void wsi_predict_vnote(char *buf, size_t size, char sep, const char *fmt, va_list ap) {
    size_t n = strlen(buf);
    if (n + 3 >= size) return;
    if (n) buf[n++] = sep;
    vsnprintf(buf + n, size - n, fmt, ap);
}

/* the prediction's notes: one assumption per line */
static void say(ws_prediction *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(ws_prediction *p, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    wsi_predict_vnote(p->notes, sizeof p->notes, '\n', fmt, ap);
    va_end(ap);
}

/* 95% half width of one new value drawn like n values with standard deviation sd */
static double new_value_hw(double sd, size_t n) {
    if (n < 2 || !isfinite(sd)) return NAN;
    return ws_t_quantile(0.975, (double)n - 1) * sd * sqrt(1 + 1.0 / (double)n);
}

/* every figure here is a time, an energy, a rate or a fraction: an interval's lower end
 * below 0 says only that the calibration cannot rule out very small values */
static ws_interval iv(double mid, double lo, double hi) {
    ws_interval r = {mid, lo < 0 ? 0 : lo, hi};
    if (!isfinite(lo) || !isfinite(hi)) r.lo = r.hi = NAN;
    return r;
}

static ws_status resolve_batch(ws_predict_config *c, int *nodes, ws_error *err) {
    if (c->gpus < 1) return wsi_error(err, WS_EINVAL, "GPU count %d: want 1 or more", c->gpus);
    if (c->gpus_per_node < 1) return wsi_error(err, WS_EINVAL, "GPUs per node %d: want 1 or more", c->gpus_per_node);
    if (c->gpus <= c->gpus_per_node)
        *nodes = 1;
    else if (c->gpus % c->gpus_per_node)
        return wsi_error(err, WS_EINVAL, "%d GPUs do not fill nodes of %d GPUs (give a multiple, or --gpus-per-node)",
                         c->gpus, c->gpus_per_node);
    else
        *nodes = c->gpus / c->gpus_per_node;
    long G = c->gpus;
    if (c->local_batch > 0 && c->global_batch > 0) {
        long per = (long)c->local_batch * G;
        if (c->global_batch % per)
            return wsi_error(err, WS_EINVAL, "GBS %d is not LBS %d x %d GPUs x a whole number of accumulation steps",
                             c->global_batch, c->local_batch, c->gpus);
        int a = (int)(c->global_batch / per);
        if (c->accum > 0 && c->accum != a)
            return wsi_error(err, WS_EINVAL, "GBS %d, LBS %d on %d GPUs means %d accumulation steps, not %d",
                             c->global_batch, c->local_batch, c->gpus, a, c->accum);
        c->accum = a;
    } else if (c->global_batch > 0) {
        if (c->accum < 1) c->accum = 1;
        long per = G * c->accum;
        if (c->global_batch % per)
            return wsi_error(err, WS_EINVAL, "GBS %d does not split over %d GPUs x %d accumulation steps",
                             c->global_batch, c->gpus, c->accum);
        c->local_batch = (int)(c->global_batch / per);
    } else if (c->local_batch > 0) {
        if (c->accum < 1) c->accum = 1;
        c->global_batch = (int)((long)c->local_batch * G * c->accum);
    } else
        return wsi_error(err, WS_EINVAL, "no batch size: give the local batch (LBS), the global batch (GBS), or both");
    return WS_OK;
}

ws_status ws_predict(const ws_calibration *c, const ws_network *net, const ws_predict_config *cfg_in,
                     ws_prediction *out, ws_error *err) {
    memset(out, 0, sizeof *out);
    out->cfg = *cfg_in;
    ws_predict_config *cfg = &out->cfg;
    int nodes = 1;
    ws_status st = resolve_batch(cfg, &nodes, err);
    if (st != WS_OK) return st;
    out->nodes = nodes;
    double G = cfg->gpus, N = nodes, b = cfg->local_batch, a = cfg->accum, B = cfg->global_batch;
    if (c->time.kind == 0) return wsi_error(err, WS_EINVAL, "the calibration has no step time");
    if (c->time.kind == 1 && b != c->time.x_only)
        return wsi_error(err, WS_EINVAL,
                         "the calibration runs used one local batch size (%g): predicting LBS %g needs runs at two or "
                         "more sizes",
                         c->time.x_only, b);
    out->lbs_extrapolated = b < c->lbs_min || b > c->lbs_max;

    /* ---- one step ---- */
    double hw_c, tc = ws_line_at(&c->time, b, &hw_c);
    double td = (isfinite(c->data_s_per_sample) ? c->data_s_per_sample : 0) * b;
    double hw_d = td == 0 ? 0 : new_value_hw(c->data_sd, c->n_data) * b;
    double T = 0, last = 0;
    double bucket = cfg->bucket_bytes > 0 ? cfg->bucket_bytes : WS_PREDICT_BUCKET_BYTES;
    if (G > 1 && isfinite(c->grad_bytes))
        ws_allreduce_buckets(net, c->grad_bytes, bucket, cfg->gpus, nodes, cfg->algo, &T, &last, &out->n_buckets,
                             &out->algo_used);
    double f_max = 0, f_mid = 0, f_lo = 0, f_hi = 0;
    if (T > 0) {
        double by_last = 1 - last / T, by_bwd = WS_PREDICT_BACKWARD_SHARE * tc / T;
        f_max = by_last < by_bwd ? by_last : by_bwd;
        f_max = f_max < 0 ? 0 : f_max > 1 ? 1 : f_max;
        if (c->n_overlap > 0) {
            double hw = new_value_hw(c->overlap_sd, c->n_overlap);
            f_mid = c->overlap < f_max ? c->overlap : f_max;
            f_lo = f_mid - hw < 0 ? 0 : f_mid - hw;
            f_hi = f_mid + hw > f_max ? f_max : f_mid + hw;
        } else {
            f_mid = f_max / 2;
            f_lo = 0;
            f_hi = f_max;
        }
    }
    out->allreduce_s = iv(T, T, T);
    out->overlap = iv(f_mid, f_lo, f_hi);
    double ex_mid = (1 - f_mid) * T, ex_lo = (1 - f_hi) * T, ex_hi = (1 - f_lo) * T;
    out->exposed_s = iv(ex_mid, ex_lo, ex_hi);
    out->compute_s = iv(a * tc, a * (tc - hw_c), a * (tc + hw_c));
    out->data_s = iv(a * td, a * (td - hw_d), a * (td + hw_d));
    double step = a * (tc + td) + ex_mid, shw = a * sqrt(hw_c * hw_c + hw_d * hw_d);
    out->step_s = iv(step, step - shw - (ex_mid - ex_lo), step + shw + (ex_hi - ex_mid));
    out->samples_per_s = iv(B / step, B / out->step_s.hi, B / out->step_s.lo);

    /* ---- its energy ---- */
    double P_host = 0, hw_host = 0;
    out->host = 0;
    if (c->host_measured) {
        P_host = c->host_power_w;
        hw_host = c->host_power_sd > 0 ? new_value_hw(c->host_power_sd, c->n_host) : 0;
        out->host = 1;
    } else if (isfinite(cfg->host_power_w)) {
        P_host = cfg->host_power_w;
        out->host = -1;
    }
    out->energy_predicted = c->energy.kind != 0;
    double e_gpu_step = NAN, e_host_step = NAN, e_lo = NAN, e_hi = NAN;
    if (out->energy_predicted) {
        double hw_e, e = ws_line_at(&c->energy, b, &hw_e);
        double pw_mid, pw_lo, pw_hi;
        if (c->wait_measured) {
            double hw = new_value_hw(c->wait_power_sd, c->n_wait);
            pw_mid = c->wait_power_w;
            pw_lo = pw_mid - (isfinite(hw) ? hw : 0);
            pw_hi = pw_mid + (isfinite(hw) ? hw : 0);
        } else {
            pw_lo = isfinite(c->idle_power_w) ? c->idle_power_w : 0;
            pw_hi = e / (tc + td);
            if (pw_hi < pw_lo) pw_hi = pw_lo;
            pw_mid = (pw_lo + pw_hi) / 2;
        }
        e_gpu_step = G * (a * e + pw_mid * ex_mid);
        e_host_step = N * P_host * step;
        double stat = sqrt(pow(G * a * hw_e, 2) + pow(N * hw_host * step, 2));
        e_lo = e_gpu_step + e_host_step - stat - G * (pw_mid * ex_mid - pw_lo * ex_lo) -
               N * P_host * (step - out->step_s.lo);
        e_hi = e_gpu_step + e_host_step + stat + G * (pw_hi * ex_hi - pw_mid * ex_mid) +
               N * P_host * (out->step_s.hi - step);
        out->step_energy_j = iv(e_gpu_step + e_host_step, e_lo, e_hi);
        out->j_per_sample = iv(out->step_energy_j.mid / B, e_lo / B, e_hi / B);
        out->gpu_power_w = iv(e_gpu_step / step / G, NAN, NAN);
    } else {
        out->step_energy_j = out->j_per_sample = out->gpu_power_w = iv(NAN, NAN, NAN);
    }

    /* ---- the workload ---- */
    double spe = isfinite(cfg->samples_per_epoch) ? cfg->samples_per_epoch : c->samples_per_epoch;
    double steps_mid, steps_lo, steps_hi;
    int evals = cfg->evals;
    if (cfg->steps > 0) {
        steps_mid = steps_lo = steps_hi = (double)cfg->steps;
        out->epochs = iv(isfinite(spe) ? steps_mid * B / spe : NAN, NAN, NAN);
        if (evals < 0) evals = 0;
    } else {
        if (!isfinite(spe) || spe <= 0)
            return wsi_error(err, WS_EINVAL,
                             "samples per epoch unknown (the calibration runs were given steps, not epochs): give "
                             "--samples-per-epoch, or --steps");
        double per_epoch = floor(spe / B); /* drop_last, as the sampler */
        if (per_epoch < 1) return wsi_error(err, WS_EINVAL, "GBS %g is larger than an epoch of %g samples", B, spe);
        if (cfg->epochs > 0)
            out->epochs = iv(cfg->epochs, cfg->epochs, cfg->epochs);
        else if (cfg->target) {
            if ((st = ws_epochs_at(cfg->target, B, &out->epochs, err)) != WS_OK) return st;
        } else
            return wsi_error(err, WS_EINVAL, "no workload: give epochs, steps or a target metric");
        steps_mid = out->epochs.mid * per_epoch;
        steps_lo = out->epochs.lo * per_epoch;
        steps_hi = out->epochs.hi * per_epoch;
        if (!isfinite(steps_lo)) steps_lo = steps_hi = steps_mid; /* a target at one measured GBS */
        if (evals < 0) evals = (int)ceil(out->epochs.mid);
    }
    out->steps = steps_mid;
    cfg->evals = evals;
    double frac = isfinite(cfg->data_fraction) ? cfg->data_fraction : isfinite(c->data_fraction) ? c->data_fraction : 1;
    double hw_s, s0 = ws_line_at(&c->startup, evals * frac / G, &hw_s);
    if (!isfinite(s0)) s0 = 0, hw_s = NAN;
    double s_lo = s0 - hw_s < 0 ? 0 : s0 - hw_s, s_hi = s0 + hw_s;
    double t_mid = s0 + steps_mid * step;
    out->time_s = iv(t_mid, s_lo + steps_lo * out->step_s.lo, s_hi + steps_hi * out->step_s.hi);
    out->gpu_hours = iv(t_mid * G / 3600, out->time_s.lo * G / 3600, out->time_s.hi * G / 3600);
    if (out->energy_predicted) {
        double p_over = isfinite(c->overhead_gpu_power_w) ? c->overhead_gpu_power_w : 0;
        double gpu_j = steps_mid * e_gpu_step + G * p_over * s0;
        double host_j = N * P_host * t_mid;
        out->gpu_energy_kwh = iv(gpu_j / 3.6e6, NAN, NAN);
        out->host_energy_kwh = iv(host_j / 3.6e6, NAN, NAN);
        double lo = steps_lo * out->step_energy_j.lo + (G * p_over + N * P_host) * s_lo;
        double hi = steps_hi * out->step_energy_j.hi + (G * p_over + N * P_host) * s_hi;
        out->energy_kwh = iv((gpu_j + host_j) / 3.6e6, lo / 3.6e6, hi / 3.6e6);
        if (!isfinite(c->overhead_gpu_power_w))
            say(out, "GPU energy outside the epochs (start-up) not measured: not counted.");
    } else {
        out->energy_kwh = out->gpu_energy_kwh = out->host_energy_kwh = iv(NAN, NAN, NAN);
    }
    double hw_m, mem = ws_line_at(&c->memory, b, &hw_m);
    out->peak_memory_bytes = iv(mem, mem - hw_m, mem + hw_m);

    /* ---- what it rests on ---- */
    if (out->lbs_extrapolated)
        say(out, "LBS %g lies outside the calibration's %d-%d: the compute and energy lines are extrapolated.", b,
            c->lbs_min, c->lbs_max);
    if (G > 1) {
        say(out, "All-reduce of %.4g MB of fp32 gradients per step in %d buckets of %.3g MB, %s.", c->grad_bytes / 1e6,
            out->n_buckets, bucket / 1e6,
            cfg->algo == WS_ALLREDUCE_AUTO ? "ring or tree, whichever the model finds faster (as NCCL's tuner)"
                                           : ws_allreduce_algo_name(cfg->algo));
        say(out, "Intra-node link: %s.", net->intra.source);
        if (strcmp(c->device_kind, "gpu"))
            say(out, "These runs are CPU processes reducing with MPI: the link figures describe GPUs and NCCL, not "
                     "them, unless a --network file was fitted to this machine.");
        if (nodes > 1) say(out, "Inter-node link: %s.", net->inter.source);
        if (c->n_overlap)
            say(out,
                "Overlapped fraction %.3f from %zu multi-GPU runs: their measured all-reduce wait against the "
                "model's all-reduce time%s.",
                c->overlap, c->n_overlap, net->intra.measured ? "" : " (with the assumed link figures)");
        else
            say(out, "Overlapped fraction not measured: anywhere from none to the most that backward (2/3 of compute) "
                     "and the last bucket allow; the interval spans both.");
        if (out->energy_predicted && !c->wait_measured)
            say(out, "GPU power while waiting for the all-reduce not measured: between its power outside compute and "
                     "its compute power (the interval spans both).");
    }
    if (out->energy_predicted) {
        if (out->host == 0)
            say(out, "Energy counts the GPUs only: CPU and DRAM energy were not measured on the calibration runs.");
        else if (out->host < 0)
            say(out, "Host (CPU + DRAM) power %.4g W per node is an assumption, not a measurement.", P_host);
    }
    if (cfg->steps <= 0 && !isfinite(cfg->samples_per_epoch))
        say(out, "Samples per epoch (%.0f) as in the calibration runs.", spe);
    if (cfg->gpus > c->max_world)
        say(out,
            "Start-up time as measured on runs of at most %d GPU%s (communicator set-up at more GPUs not "
            "measured).",
            c->max_world, c->max_world == 1 ? "" : "s");
    if (evals > 0 && c->startup.kind != 3)
        say(out, "%s",
            c->evals_measured ? "Evaluation time is not separated from start-up in the calibration: the runs' time "
                                "outside epochs is counted as measured, not scaled with the evaluations and GPUs."
                              : "Evaluation time is not included: the calibration runs did not evaluate.");
    return WS_OK;
}
