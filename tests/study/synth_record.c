/* tests/study/synth_record.c - synthetic run records; contract in synth_record.h. Laid out
 * as train/run_record.c writes them (config, world, hardware, energy, epochs, totals). */
#include "synth_record.h"
#include "ws_test.h"

#include "core/fileutil.h"

#include <cjson/cJSON.h>

ws_synth_run ws_synth_run_default(void) {
    ws_synth_run r = {0};
    r.status = "completed";
    r.model = "resnet50";
    r.data = "synthetic";
    r.precision = "bf16";
    r.device = "cuda";
    r.gpu_name = "NVIDIA H200";
    r.cpu_name = "Test CPU";
    r.world = r.nodes = 1;
    r.global_batch = r.local_batch = 256;
    r.accum = 1;
    r.data_fraction = 1;
    r.epochs = 2;
    r.time_s = 100;
    r.energy_j = 36000;
    r.gpu_share = 0.8;
    r.gpus_metered = 1;
    r.sockets_metered = 1;
    r.samples = 25600;
    r.updates = 100;
    for (int i = 0; i < WS_SYNTH_MAX_EPOCHS; i++)
        r.val_top1[i] = 0.1 * (i + 1);
    return r;
}

static cJSON *num(double x) { return isfinite(x) ? cJSON_CreateNumber(x) : cJSON_CreateNull(); }

static cJSON *domains(double gpu, double cpu) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "gpu", num(gpu));
    cJSON_AddItemToObject(o, "cpu", num(cpu));
    cJSON_AddItemToObject(o, "dram", cJSON_CreateNull());
    return o;
}

char *ws_synth_record_json(const ws_synth_run *r) {
    int gpu = !strcmp(r->device, "cuda");
    int energy = isfinite(r->energy_j);
    double e_gpu = energy ? r->energy_j * r->gpu_share : NAN, e_cpu = energy ? r->energy_j - e_gpu : NAN;
    double dh = r->time_s * r->world / 3600.0;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "schema", "wattscale.run/1");
    cJSON_AddStringToObject(root, "status", r->status);
    cJSON_AddStringToObject(root, "written_at", "2026-12-01T00:00:00Z");
    cJSON *c = cJSON_AddObjectToObject(root, "config");
    cJSON_AddStringToObject(c, "model", r->model);
    cJSON_AddStringToObject(c, "data", r->data);
    cJSON_AddNumberToObject(c, "data_fraction", r->data_fraction);
    cJSON_AddNumberToObject(c, "global_batch", r->global_batch);
    cJSON_AddNumberToObject(c, "local_batch", r->local_batch);
    cJSON_AddNumberToObject(c, "accum", r->accum);
    cJSON_AddNumberToObject(c, "epochs", r->epochs);
    cJSON_AddNumberToObject(c, "steps", 0);
    cJSON_AddStringToObject(c, "optimizer", "sgd");
    cJSON_AddNumberToObject(c, "lr", 0.1);
    cJSON_AddStringToObject(c, "device", r->device);
    cJSON_AddStringToObject(c, "precision", r->precision);
    cJSON_AddNumberToObject(c, "seed", 1);
    cJSON *w = cJSON_AddObjectToObject(root, "world");
    cJSON_AddNumberToObject(w, "size", r->world);
    cJSON_AddNumberToObject(w, "nodes", r->nodes);
    cJSON *h = cJSON_AddObjectToObject(root, "hardware");
    cJSON_AddStringToObject(h, "host", "synth");
    cJSON_AddStringToObject(h, "cpu", r->cpu_name);
    cJSON *gpus = cJSON_AddArrayToObject(h, "gpus");
    for (int i = 0; gpu && i < r->gpus_metered; i++) {
        cJSON *g = cJSON_CreateObject();
        cJSON_AddStringToObject(g, "name", r->gpu_name);
        cJSON_AddItemToArray(gpus, g);
    }
    cJSON *en = cJSON_AddObjectToObject(root, "energy");
    cJSON *devs = cJSON_AddArrayToObject(en, "devices");
    int nodes = r->nodes > 0 ? r->nodes : 1;
    for (int i = 0; energy && i < r->gpus_metered + r->sockets_metered; i++) {
        int is_gpu = i < r->gpus_metered;
        double share = is_gpu ? e_gpu / r->gpus_metered / nodes : e_cpu / r->sockets_metered / nodes;
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "kind", is_gpu ? "gpu" : "cpu");
        cJSON_AddStringToObject(d, "name", is_gpu ? r->gpu_name : "package-0");
        char id[32];
        snprintf(id, sizeof id, "%s-%d", is_gpu ? "GPU" : "rapl", i);
        cJSON_AddStringToObject(d, "id", id);
        cJSON_AddStringToObject(d, "source", "counter");
        cJSON_AddNumberToObject(d, "energy_j", share);
        cJSON_AddNumberToObject(d, "mean_power_w", share / r->time_s);
        cJSON_AddItemToArray(devs, d);
    }
    cJSON *missing = cJSON_AddArrayToObject(en, "missing");
    if (!energy) {
        const char *kinds[3] = {"gpu", "cpu", "dram"};
        for (int k = 0; k < 3; k++) {
            cJSON *m = cJSON_CreateObject();
            cJSON_AddStringToObject(m, "kind", kinds[k]);
            cJSON_AddStringToObject(m, "reason", "synthetic: no sensor");
            cJSON_AddItemToArray(missing, m);
        }
    }
    cJSON *rows = cJSON_AddArrayToObject(root, "epochs");
    double last = NAN;
    for (int e = 0; e < r->epochs; e++) {
        cJSON *row = cJSON_CreateObject();
        cJSON_AddNumberToObject(row, "epoch", e + 1);
        cJSON_AddNumberToObject(row, "samples", r->samples / r->epochs);
        cJSON_AddItemToObject(row, "val_loss", num(isfinite(r->val_top1[e]) ? 1 - r->val_top1[e] : NAN));
        cJSON_AddItemToObject(row, "val_top1", num(r->val_top1[e]));
        cJSON_AddItemToObject(row, "val_top5", cJSON_CreateNull());
        cJSON_AddNumberToObject(row, "time_s", r->time_s / r->epochs);
        cJSON_AddItemToObject(row, "energy_j", num(energy ? r->energy_j / r->epochs : NAN));
        cJSON_AddItemToObject(row, "energy_by_domain_j", domains(e_gpu / r->epochs, e_cpu / r->epochs));
        cJSON_AddStringToObject(row, "energy_source", energy ? "counter" : "none");
        cJSON_AddItemToArray(rows, row);
        if (isfinite(r->val_top1[e])) last = r->val_top1[e];
    }
    cJSON *t = cJSON_AddObjectToObject(root, "totals");
    cJSON_AddNumberToObject(t, "time_s", r->time_s);
    cJSON_AddStringToObject(t, "device_kind", gpu ? "gpu" : "cpu_process");
    cJSON_AddNumberToObject(t, "device_hours", dh);
    cJSON_AddItemToObject(t, "energy_j", num(r->energy_j));
    cJSON_AddItemToObject(t, "energy_by_domain_j", domains(e_gpu, e_cpu));
    cJSON_AddStringToObject(t, "energy_domains", energy ? "partial" : "none");
    cJSON_AddNumberToObject(t, "samples", r->samples);
    cJSON_AddNumberToObject(t, "updates", r->updates);
    cJSON_AddNumberToObject(t, "samples_per_device_hour", r->samples / dh);
    cJSON_AddNumberToObject(t, "updates_per_device_hour", r->updates / dh);
    cJSON_AddItemToObject(t, "kwh_per_device_hour", num(energy ? r->energy_j / 3.6e6 / dh : NAN));
    cJSON_AddItemToObject(t, "j_per_sample", num(energy ? r->energy_j / r->samples : NAN));
    cJSON_AddItemToObject(t, "val_loss", num(isfinite(last) ? 1 - last : NAN));
    cJSON_AddItemToObject(t, "val_top1", num(last));
    cJSON_AddItemToObject(t, "val_top5", cJSON_CreateNull());
    cJSON_AddNumberToObject(t, "resumed_times", 0);
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    return text;
}

void ws_synth_write_run(const char *dir, const ws_synth_run *r) {
    char path[1024];
    ws_error err = {0};
    if (ws_make_dirs(dir, &err) != WS_OK) fail_msg("%s", err.msg);
    snprintf(path, sizeof path, "%s/run.json", dir);
    char *text = ws_synth_record_json(r);
    ws_test_write_file(path, text);
    free(text);
}
