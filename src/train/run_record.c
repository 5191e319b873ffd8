/* train/run_record.c - OUT/run.json ("schema": "wattscale.run/1"); contract in
 * train/run_record.h. A figure not measured is null, never 0. Device-hours count GPUs on
 * the CUDA backend and ranks (processes) on the CPU backend, and the record says which. */
#include "train/run_record.h"
#include "core/error.h"
#include "core/json.h"
#include "core/timeutil.h"
#include "energy/energy_json.h"
#include "train/meter_gpus.h"
#include "wattscale/wattscale.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* n values, null where not finite (an ACC of a constant field is NaN). */
static cJSON *num_array(const double *v, int n, int valid) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, ws_json_num_or_null(valid && isfinite(v[i]), v[i]));
    return a;
}

static void num_array_from(const cJSON *a, double *v, int n) {
    for (int i = 0; i < n; i++) {
        const cJSON *x = cJSON_GetArrayItem(a, i);
        v[i] = cJSON_IsNumber(x) ? x->valuedouble : NAN;
    }
}

/* A forecast's skill (train/run_state.h) as keys of o; prefix "val_" in epoch rows. */
static void skill_json(cJSON *o, const char *prefix, const ws_forecast_skill *k, int valid) {
    char key[64];
    int c = k->channels;
#define KEY(name) (snprintf(key, sizeof key, "%s%s", prefix, name), key)
    cJSON_AddItemToObject(o, KEY("rmse_norm"), ws_json_num_or_null(valid && isfinite(k->rmse_norm), k->rmse_norm));
    cJSON_AddItemToObject(o, KEY("acc"), ws_json_num_or_null(valid && isfinite(k->acc), k->acc));
    cJSON_AddItemToObject(o, KEY("rmse_by_channel"), num_array(k->rmse, c, valid));
    cJSON_AddItemToObject(o, KEY("acc_by_channel"), num_array(k->acc_c, c, valid));
#undef KEY
    cJSON_AddItemToObject(o, "persistence_rmse_norm",
                          ws_json_num_or_null(valid && isfinite(k->persist_rmse_norm), k->persist_rmse_norm));
    cJSON_AddItemToObject(o, "persistence_acc", ws_json_num_or_null(valid && isfinite(k->persist_acc), k->persist_acc));
    cJSON_AddItemToObject(o, "persistence_rmse_by_channel", num_array(k->persist_rmse, c, valid));
    cJSON_AddItemToObject(o, "persistence_acc_by_channel", num_array(k->persist_acc_c, c, valid));
}

static void skill_from_json(const cJSON *o, const char *prefix, ws_forecast_skill *k) {
    char key[64];
    const cJSON *a;
    snprintf(key, sizeof key, "%srmse_by_channel", prefix);
    if (!cJSON_IsArray(a = cJSON_GetObjectItemCaseSensitive(o, key))) return; /* no forecast */
    int c = cJSON_GetArraySize(a);
    k->channels = c < WS_RUN_MAX_CHANNELS ? c : WS_RUN_MAX_CHANNELS;
    num_array_from(a, k->rmse, k->channels);
    snprintf(key, sizeof key, "%sacc_by_channel", prefix);
    num_array_from(cJSON_GetObjectItemCaseSensitive(o, key), k->acc_c, k->channels);
    num_array_from(cJSON_GetObjectItemCaseSensitive(o, "persistence_rmse_by_channel"), k->persist_rmse, k->channels);
    num_array_from(cJSON_GetObjectItemCaseSensitive(o, "persistence_acc_by_channel"), k->persist_acc_c, k->channels);
    const cJSON *v;
    snprintf(key, sizeof key, "%srmse_norm", prefix);
    k->rmse_norm = cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(o, key)) ? v->valuedouble : NAN;
    snprintf(key, sizeof key, "%sacc", prefix);
    k->acc = cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(o, key)) ? v->valuedouble : NAN;
    k->persist_rmse_norm = cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(o, "persistence_rmse_norm")) ? v->valuedouble : NAN;
    k->persist_acc = cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(o, "persistence_acc")) ? v->valuedouble : NAN;
}

cJSON *wsi_epoch_row_json(const ws_epoch_row *r) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "epoch", r->epoch);
    cJSON_AddNumberToObject(o, "steps", (double)r->steps);
    cJSON_AddNumberToObject(o, "samples", r->samples);
    cJSON_AddItemToObject(o, "train_loss", ws_json_num_or_null(1, r->train_loss));
    if (r->skill.channels > 0) {
        /* a forecast: no top-k; the skill at the first lead beside persistence's */
        cJSON_AddItemToObject(o, "val_loss", ws_json_num_or_null(r->evaluated, r->val_loss));
        skill_json(o, "val_", &r->skill, r->evaluated);
    } else {
        cJSON_AddItemToObject(o, "train_top1", ws_json_num_or_null(1, r->train_top1));
        cJSON_AddItemToObject(o, "val_loss", ws_json_num_or_null(r->evaluated, r->val_loss));
        cJSON_AddItemToObject(o, "val_top1", ws_json_num_or_null(r->evaluated, r->val_top1));
        cJSON_AddItemToObject(o, "val_top5", ws_json_num_or_null(r->evaluated, r->val_top5));
    }
    cJSON_AddNumberToObject(o, "lr", r->lr);
    cJSON_AddNumberToObject(o, "time_s", r->time_s);
    cJSON_AddNumberToObject(o, "data_s", r->data_s);
    cJSON_AddNumberToObject(o, "compute_s", r->compute_s);
    cJSON_AddNumberToObject(o, "comm_s", r->comm_s);
    cJSON_AddItemToObject(o, "eval_s", ws_json_num_or_null(r->evaluated, r->eval_s));
    cJSON_AddItemToObject(o, "eval_data_s", ws_json_num_or_null(r->evaluated, r->eval_data_s));
    cJSON_AddItemToObject(o, "energy_j", ws_json_num_or_null(r->has_energy, r->energy_j));
    cJSON *bd = cJSON_AddObjectToObject(o, "energy_by_domain_j");
    for (int d = 0; d < WS_DOMAIN_COUNT; d++)
        cJSON_AddItemToObject(bd, ws_domain_name((ws_domain)d),
                              ws_json_num_or_null(r->domain_measured[d], r->energy_by_domain_j[d]));
    cJSON_AddStringToObject(o, "energy_source", r->energy_source);
    static const char *phases[4] = {"other", "data", "compute", "allreduce_wait"};
    cJSON *ph = cJSON_AddObjectToObject(o, "energy_by_phase_j");
    for (int k = 0; k < 4; k++)
        cJSON_AddItemToObject(ph, phases[k], ws_json_num_or_null(r->has_energy, r->phase_energy_j[k]));
    return o;
}

static double get(const cJSON *o, const char *k, int *valid) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (valid) *valid = cJSON_IsNumber(v);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

void wsi_epoch_row_from_json(const cJSON *j, ws_epoch_row *r) {
    memset(r, 0, sizeof *r);
    r->epoch = (int)get(j, "epoch", NULL);
    r->steps = (long)get(j, "steps", NULL);
    r->samples = get(j, "samples", NULL);
    r->train_loss = get(j, "train_loss", NULL);
    r->train_top1 = get(j, "train_top1", NULL);
    r->val_loss = get(j, "val_loss", &r->evaluated);
    r->val_top1 = get(j, "val_top1", NULL);
    r->val_top5 = get(j, "val_top5", NULL);
    r->lr = get(j, "lr", NULL);
    r->time_s = get(j, "time_s", NULL);
    r->data_s = get(j, "data_s", NULL);
    r->compute_s = get(j, "compute_s", NULL);
    r->comm_s = get(j, "comm_s", NULL);
    r->eval_s = get(j, "eval_s", NULL); /* NaN (written null) in rows of older records */
    r->eval_data_s = get(j, "eval_data_s", NULL);
    r->energy_j = get(j, "energy_j", &r->has_energy);
    const cJSON *bd = cJSON_GetObjectItemCaseSensitive(j, "energy_by_domain_j");
    for (int d = 0; d < WS_DOMAIN_COUNT; d++)
        r->energy_by_domain_j[d] = get(bd, ws_domain_name((ws_domain)d), &r->domain_measured[d]);
    static const char *phases[4] = {"other", "data", "compute", "allreduce_wait"};
    const cJSON *ph = cJSON_GetObjectItemCaseSensitive(j, "energy_by_phase_j");
    for (int k = 0; k < 4; k++) {
        r->phase_energy_j[k] = get(ph, phases[k], NULL);
        if (!isfinite(r->phase_energy_j[k])) r->phase_energy_j[k] = 0;
    }
    const cJSON *src = cJSON_GetObjectItemCaseSensitive(j, "energy_source");
    snprintf(r->energy_source, sizeof r->energy_source, "%s", cJSON_IsString(src) ? src->valuestring : "none");
    skill_from_json(j, "val_", &r->skill);
}

cJSON *wsi_train_config_json(const ws_train_opts *o) {
    cJSON *c = cJSON_CreateObject();
    int forecast = !strcmp(o->model, "afno");
    cJSON_AddStringToObject(c, "task", forecast ? "forecasting" : "classification");
    cJSON_AddStringToObject(c, "model", o->model);
    cJSON_AddNumberToObject(c, "base_width", o->base_width);
    cJSON_AddNumberToObject(c, "small_stem", o->small_stem);
    cJSON_AddBoolToObject(c, "zero_init_residual", o->zero_init_residual);
    if (forecast) {
        /* the AFNO's sizes as run (img: the grid after --img) and FourCastNet's recipe */
        cJSON_AddNumberToObject(c, "img_h", o->img_h);
        cJSON_AddNumberToObject(c, "img_w", o->img_w);
        cJSON_AddNumberToObject(c, "patch", o->afno_patch);
        cJSON_AddNumberToObject(c, "embed", o->afno_embed);
        cJSON_AddNumberToObject(c, "depth", o->afno_depth);
        cJSON_AddNumberToObject(c, "afno_blocks", o->afno_blocks);
        cJSON_AddNumberToObject(c, "sparsity", o->afno_sparsity);
        cJSON_AddNumberToObject(c, "hard_threshold", o->afno_hard_threshold);
        cJSON_AddNumberToObject(c, "mlp_ratio", o->afno_mlp_ratio);
        cJSON_AddNumberToObject(c, "forecast_steps", o->forecast_steps);
        cJSON_AddBoolToObject(c, "residual", o->forecast_residual);
        cJSON_AddNumberToObject(c, "rollout_steps", o->rollout_steps);
        cJSON_AddStringToObject(c, "init_from", o->init_from);
    }
    cJSON_AddStringToObject(c, "data", o->data);
    cJSON_AddNumberToObject(c, "data_fraction", o->data_fraction);
    cJSON_AddNumberToObject(c, "global_batch", o->global_batch);
    cJSON_AddNumberToObject(c, "local_batch", o->local_batch);
    cJSON_AddNumberToObject(c, "accum", o->accum);
    cJSON_AddNumberToObject(c, "epochs", o->epochs);
    cJSON_AddNumberToObject(c, "steps", (double)o->steps);
    if (o->target_metric[0]) {
        cJSON_AddStringToObject(c, "target_metric", o->target_metric);
        cJSON_AddNumberToObject(c, "target_value", o->target_value);
    }
    cJSON_AddStringToObject(c, "optimizer", ws_optimizer_name(o->optim.kind));
    cJSON_AddNumberToObject(c, "momentum", o->optim.momentum);
    cJSON_AddNumberToObject(c, "weight_decay", o->optim.weight_decay);
    cJSON_AddBoolToObject(c, "decay_bn_and_bias", o->optim.decay_bn_and_bias);
    cJSON_AddNumberToObject(c, "lr", o->lr.base_lr);
    static const char *rules[] = {"none", "linear", "sqrt"};
    static const char *scheds[] = {"constant", "plateau", "cosine", "multistep", "poly"};
    cJSON_AddStringToObject(c, "lr_rule", rules[o->lr.rule]);
    cJSON_AddNumberToObject(c, "warmup_epochs", o->lr.warmup_epochs);
    cJSON_AddStringToObject(c, "schedule", scheds[o->lr.kind]);
    cJSON_AddNumberToObject(c, "schedule_epochs", o->lr.total_epochs);
    cJSON_AddNumberToObject(c, "label_smoothing", o->label_smoothing);
    cJSON_AddStringToObject(c, "device", ws_device_name(o->device));
    cJSON_AddStringToObject(c, "meter_gpus", wsi_meter_gpus_name((ws_meter_gpus)o->meter_gpus));
    cJSON_AddStringToObject(c, "precision", ws_dtype_name(o->precision));
    cJSON_AddNumberToObject(c, "threads", o->threads);
    cJSON_AddNumberToObject(c, "seed", (double)o->seed);
    cJSON_AddStringToObject(c, "out", o->out_dir);
    return c;
}

static cJSON *hardware_json(const ws_meter *meter) {
    cJSON *h = cJSON_CreateObject();
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    cJSON_AddStringToObject(h, "host", host);
    char cpu[256] = "unknown";
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f))
            if (!strncmp(line, "model name", 10)) {
                char *colon = strchr(line, ':');
                if (colon) {
                    snprintf(cpu, sizeof cpu, "%s", colon + 2);
                    cpu[strcspn(cpu, "\n")] = 0;
                }
                break;
            }
        fclose(f);
    }
    cJSON_AddStringToObject(h, "cpu", cpu);
    cJSON_AddNumberToObject(h, "logical_cpus", (double)sysconf(_SC_NPROCESSORS_ONLN));
    cJSON_AddNumberToObject(h, "memory_bytes", (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE));
    cJSON *gpus = cJSON_AddArrayToObject(h, "gpus");
    for (size_t i = 0; meter && i < ws_meter_device_count(meter); i++) {
        const ws_device_info *d = ws_meter_device(meter, i);
        if (d->domain != WS_DOMAIN_GPU) continue;
        cJSON *g = cJSON_CreateObject();
        cJSON_AddStringToObject(g, "name", d->name);
        cJSON_AddStringToObject(g, "uuid", d->id);
        cJSON_AddStringToObject(g, "bus_id", d->bus_id);
        cJSON_AddNumberToObject(g, "power_limit_w", d->power_limit_w);
        cJSON_AddBoolToObject(g, "metered", 1);
        cJSON_AddItemToArray(gpus, g);
    }
    /* the node's other GPUs (--meter-gpus used): present, never read */
    for (size_t i = 0; meter && i < ws_meter_left_out_count(meter); i++) {
        const ws_left_out_device *d = ws_meter_left_out(meter, i);
        cJSON *g = cJSON_CreateObject();
        cJSON_AddStringToObject(g, "name", d->name);
        cJSON_AddStringToObject(g, "uuid", d->id);
        cJSON_AddStringToObject(g, "bus_id", d->bus_id);
        cJSON_AddBoolToObject(g, "metered", 0);
        cJSON_AddItemToArray(gpus, g);
    }
    cJSON_AddStringToObject(h, "wattscale_version", ws_version());
    return h;
}

/* One node's GPU lists (energy.nodes[k].gpus): the UUIDs its meter read, the ones it left
 * out with the meter's reason; null where the node's meter sent none. */
static cJSON *node_gpus_json(const wsi_node_gpus *g) {
    if (!g->has_meter) return cJSON_CreateNull();
    cJSON *o = cJSON_CreateObject();
    cJSON *metered = cJSON_AddArrayToObject(o, "metered");
    cJSON *left_out = cJSON_AddArrayToObject(o, "left_out");
    for (int i = 0; i < g->n; i++) {
        if (g->gpu[i].metered) {
            cJSON_AddItemToArray(metered, cJSON_CreateString(g->gpu[i].id));
            continue;
        }
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "id", g->gpu[i].id);
        if (g->gpu[i].reason[0]) cJSON_AddStringToObject(x, "reason", g->gpu[i].reason);
        cJSON_AddItemToArray(left_out, x);
    }
    cJSON_AddNumberToObject(o, "left_out_count", g->left_out);
    cJSON_AddBoolToObject(o, "truncated", g->truncated);
    if (g->truncated) {
        char note[128];
        snprintf(note, sizeof note, "lists hold the first %d of %d GPUs (metered first); gpus_metered and "
                 "left_out_count count all", WSI_NODE_GPUS_MAX, g->metered + g->left_out);
        cJSON_AddStringToObject(o, "note", note);
    }
    return o;
}

ws_status wsi_run_record_write(const char *path, const ws_train_opts *o, const ws_model *m, const ws_meter *meter,
                               const ws_run_state *st, double time_s, ws_error *err) {
    int world = st->world_size > 0 ? st->world_size : 1;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "schema", "wattscale.run/1");
    cJSON_AddStringToObject(root, "status", st->status);
    char now[32];
    ws_wall_time_iso(now, sizeof now);
    cJSON_AddStringToObject(root, "written_at", now);
    cJSON_AddItemToObject(root, "config", wsi_train_config_json(o));
    cJSON *w = cJSON_AddObjectToObject(root, "world");
    cJSON_AddNumberToObject(w, "size", world);
    cJSON_AddNumberToObject(w, "nodes", st->nodes > 0 ? st->nodes : 1);
    cJSON_AddNumberToObject(w, "ranks_per_node", st->ranks_per_node > 0 ? st->ranks_per_node : world);
    cJSON_AddStringToObject(w, "backend", st->world_backend[0] ? st->world_backend : "single");
    cJSON_AddItemToObject(root, "hardware", hardware_json(meter));
    {
        /* the training data as rank 0 saw it */
        cJSON *dj = cJSON_AddObjectToObject(root, "data");
        cJSON_AddNumberToObject(dj, "corrupt_files", st->data_corrupt_files);
        cJSON_AddNumberToObject(dj, "substituted_samples", st->data_substituted);
        cJSON_AddNumberToObject(dj, "loader_wait_s", st->loader_wait_s);
        cJSON_AddNumberToObject(dj, "loader_decode_s", st->loader_decode_s);
        cJSON_AddNumberToObject(dj, "gpu_decoded_samples", st->gpu_decoded);
        cJSON_AddStringToObject(dj, "decoder", o->decoder == 1 ? "nvjpeg" : "cpu");
        cJSON_AddNumberToObject(dj, "decode_threads", st->data_threads);
        /* CUDA: the loader's batches through the upload slots (null without them) */
        cJSON_AddItemToObject(dj, "upload_ahead",
                              st->has_upload ? cJSON_CreateBool(o->upload_ahead) : cJSON_CreateNull());
        cJSON_AddItemToObject(dj, "batches_uploaded", ws_json_num_or_null(st->has_upload, st->upload_batches));
        cJSON_AddItemToObject(dj, "batches_uploaded_ahead", ws_json_num_or_null(st->has_upload, st->upload_ahead));
        cJSON_AddItemToObject(dj, "upload_wait_s", ws_json_num_or_null(st->has_upload, st->upload_wait_s));
        cJSON_AddItemToObject(dj, "loader_wait_overlapped_s",
                              ws_json_num_or_null(st->has_upload, st->loader_wait_overlapped_s));
    }
    if (o->device == WS_DEVICE_CUDA) {
        /* the GPU rank 0 trained on, and how */
        cJSON *dj = cJSON_AddObjectToObject(root, "device");
        cJSON_AddStringToObject(dj, "name", st->device_name);
        cJSON_AddStringToObject(dj, "uuid", st->device_uuid);
        cJSON_AddStringToObject(dj, "libraries", st->device_versions);
        cJSON_AddStringToObject(dj, "precision", ws_dtype_name(o->precision));
        /* the AFNO keeps fields [N, C, H, W] (tokens are rows of one matrix) */
        cJSON_AddStringToObject(dj, "layout", strcmp(o->model, "afno") ? "nhwc" : "nchw");
        cJSON_AddNumberToObject(dj, "peak_memory_bytes", st->device_peak_bytes);
        /* how the convolutions' algorithms were chosen (timed, or an earlier run's choice) */
        cJSON *cp = cJSON_AddObjectToObject(dj, "conv_planning");
        cJSON_AddNumberToObject(cp, "shapes_timed", st->conv_planning.shapes_timed);
        cJSON_AddNumberToObject(cp, "shapes_from_file", st->conv_planning.shapes_from_file);
        cJSON_AddNumberToObject(cp, "shapes_heuristic", st->conv_planning.shapes_heuristic);
        cJSON_AddNumberToObject(cp, "seconds", st->conv_planning.seconds);
        cJSON_AddItemToObject(cp, "choices_file", st->conv_choices_file[0] ? cJSON_CreateString(st->conv_choices_file)
                                                                           : cJSON_CreateNull());
        cJSON_AddBoolToObject(dj, "cuda_graph", st->cuda_graph);
        cJSON_AddNumberToObject(dj, "gpu_compute_s", st->gpu_compute_s);
        cJSON_AddNumberToObject(dj, "gpu_allreduce_wait_s", st->gpu_comm_s);
        if (o->precision == WS_FP16) {
            cJSON_AddNumberToObject(dj, "loss_scale", st->loss_scale);
            cJSON_AddNumberToObject(dj, "skipped_steps", (double)st->skipped_steps);
        }
    }
    cJSON *mj = cJSON_AddObjectToObject(root, "model");
    cJSON_AddStringToObject(mj, "name", m->name);
    cJSON_AddNumberToObject(mj, "parameters", (double)m->n_params);
    cJSON_AddNumberToObject(mj, "forward_flop_per_sample", m->forward_flop_per_sample);
    cJSON_AddNumberToObject(mj, "activation_bytes", (double)m->activation_bytes);
    if (st->fc_channels > 0) {
        /* what the forecast metrics of the rows and the rollout refer to */
        cJSON *fj = cJSON_AddObjectToObject(root, "forecast");
        cJSON *names = cJSON_AddArrayToObject(fj, "channels");
        for (int k = 0; k < st->fc_channels; k++) cJSON_AddItemToArray(names, cJSON_CreateString(st->fc_names[k]));
        cJSON_AddItemToObject(fj, "std", num_array(st->fc_std, st->fc_channels, 1));
        cJSON_AddNumberToObject(fj, "dt_hours", st->fc_dt_hours);
        cJSON_AddNumberToObject(fj, "steps", o->forecast_steps);
        cJSON_AddStringToObject(fj, "loss", o->forecast_steps == 2 ? "rel_l2(step 1) + rel_l2(step 2)"
                                            : o->forecast_residual ? "rel_l2 of the change"
                                                                   : "rel_l2");
        cJSON_AddStringToObject(fj, "metrics", "latitude-weighted RMSE (physical units; rmse_norm: mean over channels "
                                "of RMSE/std) and ACC, validation split, at one step (rows) and each rollout lead");
        cJSON *ro = cJSON_AddArrayToObject(fj, "rollout");
        for (int k = 0; k < st->n_rollout; k++) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddNumberToObject(e, "lead_steps", k + 1);
            cJSON_AddNumberToObject(e, "lead_hours", (k + 1) * st->fc_dt_hours);
            cJSON_AddNumberToObject(e, "samples", st->rollout[k].samples);
            skill_json(e, "", &st->rollout[k], st->rollout[k].samples > 0);
            cJSON_AddItemToArray(ro, e);
        }
    }

    /* energy: this node's devices listed, every node's totals (one meter per node, on its
     * local rank 0: no device counted twice), plus earlier sessions of a resumed run */
    size_t nd = meter ? ws_meter_device_count(meter) : 0;
    ws_device_energy *e = calloc(nd ? nd : 1, sizeof *e);
    double by[WS_DOMAIN_COUNT] = {0};
    int measured[WS_DOMAIN_COUNT] = {0};
    cJSON *energy = cJSON_AddObjectToObject(root, "energy");
    cJSON *devs = cJSON_AddArrayToObject(energy, "devices");
    if (e && nd && ws_meter_read((ws_meter *)meter, e, NULL) == WS_OK)
        for (size_t i = 0; i < nd; i++)
            cJSON_AddItemToArray(devs, wsi_energy_device_json(ws_meter_device(meter, i), &e[i], 0));
    free(e);
    for (int d = 0; d < WS_DOMAIN_COUNT; d++) {
        by[d] = st->session_energy_by_domain_j[d];
        measured[d] = st->session_domain_measured[d];
    }
    if (st->node_energy && st->nodes > 0) {
        cJSON *nodes = cJSON_AddArrayToObject(energy, "nodes");
        for (int k = 0; k < st->nodes; k++) {
            const double *ne = st->node_energy + (size_t)k * 2 * WS_DOMAIN_COUNT;
            cJSON *n = cJSON_CreateObject();
            cJSON_AddNumberToObject(n, "node", k);
            if (st->node_hosts) cJSON_AddStringToObject(n, "host", st->node_hosts + (size_t)k * 64);
            /* the count from the lists gathered once after the meters opened (devices fixed) */
            if (st->node_gpus) cJSON_AddNumberToObject(n, "gpus_metered", st->node_gpus[k].metered);
            if (st->node_gpus) cJSON_AddItemToObject(n, "gpus", node_gpus_json(&st->node_gpus[k]));
            cJSON *nb = cJSON_AddObjectToObject(n, "energy_by_domain_j");
            for (int d = 0; d < WS_DOMAIN_COUNT; d++)
                cJSON_AddItemToObject(nb, ws_domain_name((ws_domain)d),
                                      ws_json_num_or_null(ne[WS_DOMAIN_COUNT + d] > 0, ne[d]));
            cJSON_AddItemToArray(nodes, n);
        }
    }
    if (meter) cJSON_AddItemToObject(energy, "missing", wsi_energy_missing_json(meter));
    {
        /* which GPUs the energy covers (--meter-gpus): analysis must know whether idle GPUs
         * and other jobs' GPUs of the node are in it */
        cJSON *gm = cJSON_AddObjectToObject(energy, "gpu_metering");
        cJSON_AddStringToObject(gm, "mode", wsi_meter_gpus_name((ws_meter_gpus)o->meter_gpus));
        cJSON_AddStringToObject(gm, "covers", o->meter_gpus == WS_METER_GPUS_ALL
                                                  ? "every GPU of each node, idle ones and other jobs' included"
                                                  : "the GPUs the run's ranks use (by UUID), no other");
        cJSON *ids = cJSON_AddArrayToObject(gm, "metered");
        for (size_t i = 0; meter && i < ws_meter_device_count(meter); i++)
            if (ws_meter_device(meter, i)->domain == WS_DOMAIN_GPU)
                cJSON_AddItemToArray(ids, cJSON_CreateString(ws_meter_device(meter, i)->id));
        cJSON_AddItemToObject(gm, "left_out", meter ? wsi_energy_left_out_json(meter) : cJSON_CreateArray());
        cJSON_AddStringToObject(gm, "scope", "metered and left_out: node 0's (rank 0's meter, with names and bus ids); "
                                             "every node's: energy.nodes[k].gpus (metered UUIDs, left-out ids with "
                                             "reasons) and energy.nodes[k].gpus_metered");
        cJSON_AddStringToObject(gm, "cpu_dram", "per package (RAPL): everything running on the node's CPUs, this "
                                                "run's or not");
    }
    int any = 0;
    double total_j = 0;
    for (int d = 0; d < WS_DOMAIN_COUNT; d++) {
        by[d] += st->prior_energy_by_domain_j[d];
        measured[d] |= st->prior_domain_measured[d];
        any |= measured[d];
        total_j += measured[d] ? by[d] : 0;
    }
    cJSON_AddStringToObject(energy, "note", "energy of measured domains only; see missing[] for the others");

    cJSON *rows = cJSON_AddArrayToObject(root, "epochs");
    const ws_epoch_row *last_eval = NULL;
    for (size_t i = 0; i < st->n_rows; i++) {
        cJSON_AddItemToArray(rows, wsi_epoch_row_json(&st->rows[i]));
        if (st->rows[i].evaluated) last_eval = &st->rows[i];
    }

    double device_hours = time_s * world / 3600.0;
    cJSON *t = cJSON_AddObjectToObject(root, "totals");
    cJSON_AddNumberToObject(t, "time_s", time_s);
    cJSON_AddStringToObject(t, "device_kind", o->device == WS_DEVICE_CUDA ? "gpu" : "cpu_process");
    cJSON_AddNumberToObject(t, "device_hours", device_hours);
    cJSON_AddItemToObject(t, "energy_j", ws_json_num_or_null(any, total_j));
    cJSON_AddItemToObject(t, "energy_kwh", ws_json_num_or_null(any, total_j / 3.6e6));
    cJSON *bd = cJSON_AddObjectToObject(t, "energy_by_domain_j");
    for (int d = 0; d < WS_DOMAIN_COUNT; d++)
        cJSON_AddItemToObject(bd, ws_domain_name((ws_domain)d), ws_json_num_or_null(measured[d], by[d]));
    cJSON_AddStringToObject(t, "energy_domains",
                            !any                                          ? "none"
                            : (measured[0] && measured[1] && measured[2]) ? "all"
                                                                          : "partial");
    cJSON_AddNumberToObject(t, "samples", st->total_samples);
    cJSON_AddNumberToObject(t, "updates", (double)st->total_steps);
    cJSON_AddItemToObject(t, "samples_per_device_hour",
                          ws_json_num_or_null(device_hours > 0, st->total_samples / device_hours));
    cJSON_AddItemToObject(t, "updates_per_device_hour",
                          ws_json_num_or_null(device_hours > 0, st->total_steps / device_hours));
    cJSON_AddItemToObject(t, "kwh_per_device_hour",
                          ws_json_num_or_null(any && device_hours > 0, total_j / 3.6e6 / device_hours));
    cJSON_AddItemToObject(t, "j_per_sample",
                          ws_json_num_or_null(any && st->total_samples > 0, total_j / st->total_samples));
    cJSON_AddItemToObject(t, "val_loss", ws_json_num_or_null(last_eval != NULL, last_eval ? last_eval->val_loss : 0));
    if (st->fc_channels > 0) {
        const ws_forecast_skill *k = last_eval ? &last_eval->skill : NULL;
        cJSON_AddItemToObject(t, "val_rmse_norm", ws_json_num_or_null(k && isfinite(k->rmse_norm), k ? k->rmse_norm : 0));
        cJSON_AddItemToObject(t, "val_acc", ws_json_num_or_null(k && isfinite(k->acc), k ? k->acc : 0));
        cJSON_AddItemToObject(t, "persistence_rmse_norm",
                              ws_json_num_or_null(k && isfinite(k->persist_rmse_norm), k ? k->persist_rmse_norm : 0));
    } else {
        cJSON_AddItemToObject(t, "val_top1", ws_json_num_or_null(last_eval != NULL, last_eval ? last_eval->val_top1 : 0));
        cJSON_AddItemToObject(t, "val_top5", ws_json_num_or_null(last_eval != NULL, last_eval ? last_eval->val_top5 : 0));
    }
    cJSON_AddNumberToObject(t, "resumed_times", st->resumed_times);
    /* the steady state of the last session: throughput and energy without the one-off
     * start-up costs (what benchmarks compare) */
    if (st->steady_done && st->steady_time_s > 0) {
        cJSON *sj = cJSON_AddObjectToObject(t, "steady");
        cJSON_AddNumberToObject(sj, "from_step", (double)st->steady_from);
        cJSON_AddNumberToObject(sj, "steps", (double)st->steady_steps);
        cJSON_AddNumberToObject(sj, "time_s", st->steady_time_s);
        cJSON_AddNumberToObject(sj, "samples", st->steady_samples);
        cJSON_AddNumberToObject(sj, "samples_per_s", st->steady_samples / st->steady_time_s);
        cJSON_AddNumberToObject(sj, "data_s", st->steady_data_s);
        cJSON_AddItemToObject(sj, "energy_j", ws_json_num_or_null(st->steady_has_energy, st->steady_energy_j));
        cJSON_AddItemToObject(sj, "j_per_sample", ws_json_num_or_null(st->steady_has_energy && st->steady_samples > 0,
                                                                       st->steady_energy_j / st->steady_samples));
        cJSON_AddItemToObject(sj, "mean_power_w", ws_json_num_or_null(st->steady_has_energy,
                                                                       st->steady_energy_j / st->steady_time_s));
        cJSON_AddStringToObject(sj, "energy_source", st->steady_energy_source[0] ? st->steady_energy_source : "none");
    }

    ws_status s = ws_json_write_file(path, root, err);
    cJSON_Delete(root);
    return s;
}
