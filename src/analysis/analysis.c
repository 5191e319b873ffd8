/* analysis/analysis.c - every analysis of a run set; contract in analysis/analysis.h. */
#include "analysis/analysis.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static void note_hardware(ws_analysis *a, const ws_run *r) {
    const char *hw = r->hardware[0] ? r->hardware : "unknown hardware";
    if (strstr(a->hardware, hw)) return;
    size_t n = strlen(a->hardware);
    snprintf(a->hardware + n, sizeof a->hardware - n, "%s%s", n ? "; " : "", hw);
}

ws_status ws_analysis_compute(const ws_runset *rs, ws_analysis *out, ws_error *err) {
    memset(out, 0, sizeof *out);
    out->rs = rs;
    out->all_energy = 1;
    for (size_t i = 0; i < rs->n_runs; i++) {
        const ws_run *r = &rs->runs[i];
        if (!ws_run_ok(r)) {
            if (!strcmp(r->status, "failed"))
                out->n_failed++;
            else
                out->n_other++;
            continue;
        }
        out->n_finished++;
        note_hardware(out, r);
        int e = isfinite(r->energy_j);
        out->any_energy |= e;
        out->all_energy &= e;
        if (!e && !out->missing[0]) {
            snprintf(out->missing, sizeof out->missing, "%s", r->missing);
            snprintf(out->missing_domains, sizeof out->missing_domains, "%s", r->missing_domains);
        }
        out->any_gpu_power |= isfinite(ws_run_gpu_power_w(r));
        out->any_socket_power |= isfinite(ws_run_socket_power_w(r));
        out->any_power_series |= r->n_power > 0;
        out->any_sacct |= isfinite(r->sacct_energy_j);
    }
    if (!out->n_finished) out->all_energy = 0;
    ws_status st = ws_scaling_compute(rs, &out->scaling, err);
    if (st == WS_OK) st = ws_energy_model_compute(rs, &out->energy, err);
    if (st == WS_OK) st = ws_accuracy_compute(rs, &out->accuracy, err);
    if (st == WS_OK) st = ws_pareto_compute(rs, &out->pareto, err);
    if (st == WS_OK) st = ws_target_compute(rs, &out->target, err);
    if (st != WS_OK) ws_analysis_free(out);
    return st;
}

void ws_analysis_free(ws_analysis *a) {
    if (!a) return;
    ws_scaling_free(&a->scaling);
    ws_energy_model_free(&a->energy);
    ws_accuracy_free(&a->accuracy);
    ws_pareto_free(&a->pareto);
    ws_target_free(&a->target);
    memset(a, 0, sizeof *a);
}

/* 1 all GPU runs, 2 all CPU runs, 0 mixed or none */
static int device_mix(const ws_analysis *a) {
    int gpu = 0, cpu = 0;
    for (size_t i = 0; i < a->rs->n_runs; i++) {
        gpu |= !strcmp(a->rs->runs[i].device_kind, "gpu");
        cpu |= strcmp(a->rs->runs[i].device_kind, "gpu") != 0;
    }
    return gpu && !cpu ? 1 : cpu && !gpu ? 2 : 0;
}

const char *ws_analysis_device_unit(const ws_analysis *a) {
    int mix = device_mix(a);
    return mix == 1 ? "GPU-hours" : mix == 2 ? "process-hours" : "device-hours";
}

const char *ws_analysis_device_axis(const ws_analysis *a) {
    int mix = device_mix(a);
    return mix == 1 ? "GPUs" : mix == 2 ? "ranks (CPU processes)" : "devices (GPUs or CPU processes)";
}

const char *ws_analysis_device_noun(const ws_analysis *a) {
    int mix = device_mix(a);
    return mix == 1 ? "GPUs" : mix == 2 ? "ranks" : "devices";
}
