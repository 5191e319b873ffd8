/* analysis/perf.c - a run record's performance figures (cJSON); contract in analysis/perf.h. */
#include "analysis/perf.h"
#include "core/error.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ws_perf_set_free(ws_perf_set *s) {
    if (!s) return;
    free(s->runs);
    s->runs = NULL;
    s->n = 0;
}

void ws_perf_data_kind(const char *data, char *out, size_t size) {
    const char *colon = strchr(data, ':');
    size_t n = colon ? (size_t)(colon - data) : strlen(data);
    snprintf(out, size, "%.*s", (int)n, data);
}

static const cJSON *at(const cJSON *o, const char *key) { return cJSON_GetObjectItemCaseSensitive(o, key); }
static double num(const cJSON *o, const char *key) {
    const cJSON *v = at(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}
static void str(const cJSON *o, const char *key, char *dst, size_t size) {
    const cJSON *v = at(o, key);
    snprintf(dst, size, "%s", cJSON_IsString(v) ? v->valuestring : "");
}

ws_status ws_perf_from_record(const char *json, const char *run_key, ws_perf_run *out, ws_error *err) {
    memset(out, 0, sizeof *out);
    snprintf(out->run_key, sizeof out->run_key, "%s", run_key);
    cJSON *root = cJSON_Parse(json);
    const cJSON *cfg = at(root, "config"), *world = at(root, "world"), *tot = at(root, "totals");
    const cJSON *schema = at(root, "schema");
    if (!cJSON_IsObject(root) || !cJSON_IsString(schema) || strcmp(schema->valuestring, "wattscale.run/1") ||
        !cJSON_IsObject(cfg) || !cJSON_IsObject(world) || !cJSON_IsObject(tot)) {
        cJSON_Delete(root);
        return wsi_error(err, WS_EFORMAT,
                         "run record %s: not a \"wattscale.run/1\" object with config, world and totals", run_key);
    }
    str(root, "status", out->status, sizeof out->status);
    str(cfg, "model", out->model, sizeof out->model);
    str(cfg, "data", out->data, sizeof out->data);
    ws_perf_data_kind(out->data, out->data_kind, sizeof out->data_kind);
    str(cfg, "precision", out->precision, sizeof out->precision);
    str(cfg, "device", out->device, sizeof out->device);
    str(tot, "device_kind", out->device_kind, sizeof out->device_kind);
    out->world = (int)num(world, "size");
    out->nodes = (int)num(world, "nodes");
    out->ranks_per_node = (int)num(world, "ranks_per_node");
    if (out->world < 1) out->world = 1;
    if (out->nodes < 1) out->nodes = 1;
    if (out->ranks_per_node < 1) out->ranks_per_node = out->world / out->nodes;
    out->global_batch = (int)num(cfg, "global_batch");
    out->local_batch = (int)num(cfg, "local_batch");
    out->accum = (int)num(cfg, "accum");
    if (out->accum < 1) out->accum = 1;
    out->data_fraction = num(cfg, "data_fraction");
    out->parameters = num(at(root, "model"), "parameters");
    /* the hardware: the GPU of a CUDA run, else the CPU (as the study's store names it) */
    const cJSON *hw = at(root, "hardware"), *gpus = at(hw, "gpus");
    if (!strcmp(out->device_kind, "gpu") && cJSON_IsArray(gpus) && cJSON_GetArraySize(gpus) > 0)
        str(cJSON_GetArrayItem(gpus, 0), "name", out->hardware, sizeof out->hardware);
    if (!out->hardware[0]) str(hw, "cpu", out->hardware, sizeof out->hardware);
    out->peak_memory_bytes = num(at(root, "device"), "peak_memory_bytes");

    for (int k = 0; k < WS_PHASES; k++)
        out->phase_j[k] = 0;
    const char *phase_names[WS_PHASES] = {"other", "data", "compute", "allreduce_wait"};
    const cJSON *epochs = at(root, "epochs");
    int steps_run = num(cfg, "steps") > 0;
    /* sums over the rows: NAN + x stays NAN, so a figure one row lacks is not measured */
    for (const cJSON *e = cJSON_IsArray(epochs) ? epochs->child : NULL; e; e = e->next) {
        out->epochs_run++;
        out->evals += isfinite(num(e, "val_loss")) || isfinite(num(e, "val_top1"));
        out->ep_steps += num(e, "steps");
        out->ep_samples += num(e, "samples");
        out->ep_time_s += num(e, "time_s");
        out->ep_data_s += num(e, "data_s");
        out->ep_compute_s += num(e, "compute_s");
        out->ep_comm_s += num(e, "comm_s");
        out->ep_energy_j += num(e, "energy_j");
        out->ep_energy_gpu_j += num(at(e, "energy_by_domain_j"), "gpu");
        const cJSON *ph = at(e, "energy_by_phase_j");
        for (int k = 0; k < WS_PHASES; k++)
            out->phase_j[k] += num(ph, phase_names[k]);
        if (out->epochs_run == 1 && !steps_run) out->samples_per_epoch = num(e, "samples");
    }
    if (!out->epochs_run) {
        out->ep_steps = out->ep_samples = out->ep_time_s = out->ep_data_s = out->ep_compute_s = out->ep_comm_s = NAN;
        out->ep_energy_j = out->ep_energy_gpu_j = NAN;
        for (int k = 0; k < WS_PHASES; k++)
            out->phase_j[k] = NAN;
    }
    if (steps_run || !out->epochs_run) out->samples_per_epoch = NAN;

    out->run_time_s = num(tot, "time_s");
    out->run_energy_j = num(tot, "energy_j");
    const cJSON *dom = at(tot, "energy_by_domain_j");
    out->run_energy_gpu_j = num(dom, "gpu");
    double cpu = num(dom, "cpu"), dram = num(dom, "dram");
    out->run_energy_host_j =
        isfinite(cpu) || isfinite(dram) ? (isfinite(cpu) ? cpu : 0) + (isfinite(dram) ? dram : 0) : NAN;
    /* the GPUs' share of the epochs' energy splits the window's (which has no domains) */
    double gpu_share = out->ep_energy_gpu_j / out->ep_energy_j;
    if (!isfinite(gpu_share)) gpu_share = out->run_energy_gpu_j / out->run_energy_j;
    const cJSON *steady = at(tot, "steady");
    if (cJSON_IsObject(steady) && num(steady, "steps") > 0 && num(steady, "time_s") > 0) {
        out->steady = 1;
        out->win_steps = num(steady, "steps");
        out->win_time_s = num(steady, "time_s");
        out->win_samples = num(steady, "samples");
        out->win_energy_j = num(steady, "energy_j");
    } else {
        out->win_steps = out->ep_steps;
        out->win_time_s = out->ep_time_s;
        out->win_samples = out->ep_samples;
        out->win_energy_j = out->ep_energy_j;
    }
    out->win_energy_gpu_j = out->win_energy_j * gpu_share;
    cJSON_Delete(root);
    return WS_OK;
}
