/* train/task_classify.c - the classification task (train/task.h): labelled image datasets
 * (synthetic, MNIST/Fashion-MNIST, ImageNet), class-stratified samplers, ResNet, and
 * evaluation by softmax cross-entropy with top-1 and top-5 hits.
 * defines: wsi_task_classify, wsi_task_for.
 * Its step (loader, uploads, loss, CUDA graphs) is in train/step.c, which it points to. */
#include "core/error.h"
#include "data/dataset.h"
#include "data/sampler.h"
#include "dist/world.h"
#include "models/resnet.h"
#include "train/run.h"
#include "train/task.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const wsi_task *wsi_task_for(const ws_train_opts *o) {
    return strcmp(o->model, "afno") == 0 ? &wsi_task_forecast : &wsi_task_classify;
}

/* "fashion-mnist:/some/dir" -> kind "fashion-mnist", dir "/some/dir" (NULL: default). */
static ws_status open_dataset(const ws_train_opts *o, ws_split split, ws_dataset **out, ws_error *err) {
    char kind[64];
    const char *colon = strchr(o->data, ':');
    size_t klen = colon ? (size_t)(colon - o->data) : strlen(o->data);
    if (klen >= sizeof kind) klen = sizeof kind - 1;
    memcpy(kind, o->data, klen);
    kind[klen] = 0;
    if (!strcmp(kind, "synthetic")) {
        ws_synthetic_opts so = ws_synthetic_opts_default();
        so.count = split == WS_SPLIT_TRAIN ? o->synthetic_count : (o->synthetic_count + 9) / 10;
        so.c = o->synthetic_c;
        so.h = o->synthetic_h;
        so.w = o->synthetic_w;
        so.classes = o->synthetic_classes;
        so.seed = o->seed;
        return ws_dataset_open_synthetic(out, &so, split, err);
    }
    if (!strcmp(kind, "fashion-mnist") || !strcmp(kind, "mnist"))
        return ws_dataset_open_idx(out, kind, colon ? colon + 1 : NULL, split, err);
    if (!strcmp(kind, "imagenet")) {
        if (!colon || !colon[1])
            return wsi_error(err, WS_EINVAL, "--data imagenet needs its folder: --data imagenet:DIR, DIR holding "
                             "train/<class>/*.JPEG and val/");
        ws_imagenet_opts io = ws_imagenet_opts_default();
        io.crop_size = o->crop_size;
        io.resize_size = o->resize_size;
        io.scale_min = o->crop_scale_min;
        io.scale_max = o->crop_scale_max;
        io.dct_scaling = o->dct_scaling;
        io.seed = o->seed;
        io.val_labels = o->val_labels[0] ? o->val_labels : NULL;
        return ws_dataset_open_imagenet(out, colon + 1, split, &io, err);
    }
    if (!strcmp(kind, "swe") || !strcmp(kind, "era5"))
        return wsi_error(err, WS_EINVAL, "--data %s holds weather fields, which --model %s cannot take: forecast them "
                         "with --model afno", o->data, o->model);
    return wsi_error(err, WS_EINVAL,
                     "--data %s: unknown (synthetic, fashion-mnist[:DIR], mnist[:DIR], imagenet:DIR; weather fields "
                     "swe:DIR or era5:DIR with --model afno)",
                     o->data);
}

static ws_status open_samplers(wsi_run *r, const ws_dataset_info *ti, const ws_dataset_info *vi, ws_error *err) {
    const ws_train_opts *o = &r->o;
    ws_sampler_opts so = ws_sampler_opts_default();
    so.seed = o->seed;
    so.shuffle = 1;
    so.drop_last = 1;
    so.fraction = o->data_fraction;
    so.local_batch = o->local_batch;
    so.world = r->world * o->accum;
    r->train_samplers = calloc((size_t)o->accum, sizeof *r->train_samplers);
    if (!r->train_samplers) return wsi_error(err, WS_ENOMEM, "out of memory for samplers");
    for (int m = 0; m < o->accum; m++) {
        so.rank = m * r->world + r->rank; /* the virtual rank of this micro-batch */
        ws_status st = ws_sampler_open(&r->train_samplers[m], ws_dataset_labels(r->train), ti->count, ti->classes, &so, err);
        if (st != WS_OK) return st;
    }
    so.shuffle = 0;
    so.drop_last = 0;
    so.world = r->world;
    so.rank = r->rank;
    return ws_sampler_open(&r->val_sampler, ws_dataset_labels(r->val), vi->count, vi->classes, &so, err);
}

static ws_status classify_open_data(wsi_run *r, ws_error *err) {
    ws_status st;
    if ((st = open_dataset(&r->o, WS_SPLIT_TRAIN, &r->train, err)) != WS_OK) return st;
    if ((st = open_dataset(&r->o, WS_SPLIT_VAL, &r->val, err)) != WS_OK) return st;
    const ws_dataset_info *ti = ws_dataset_info_get(r->train);
    const ws_dataset_info *vi = ws_dataset_info_get(r->val);
    if ((st = open_samplers(r, ti, vi, err)) != WS_OK) return st;
    r->synthetic_on_device = r->cuda && !strcmp(ti->name, "synthetic") && !r->o.synthetic_on_host;
    return WS_OK;
}

static ws_status classify_open_model(wsi_run *r, ws_error *err) {
    const ws_train_opts *o = &r->o;
    const ws_dataset_info *di = ws_dataset_info_get(r->train);
    ws_resnet_opts ro = ws_resnet_opts_default();
    if (strncmp(o->model, "resnet", 6) != 0 || atoi(o->model + 6) <= 0)
        return wsi_error(err, WS_EINVAL,
                         "--model %s: unknown (resnet18, resnet34, resnet50, resnet101, resnet152; afno for weather "
                         "fields)",
                         o->model);
    ro.depth = atoi(o->model + 6);
    ro.classes = di->classes;
    ro.in_c = di->c;
    ro.in_h = di->h;
    ro.in_w = di->w;
    ro.small_stem = o->small_stem >= 0 ? o->small_stem : (di->h <= 64 && di->w <= 64);
    ro.base_width = o->base_width;
    ro.zero_init_residual = o->zero_init_residual;
    ro.max_batch = o->local_batch;
    ro.threads = o->threads;
    ro.seed = o->seed;
    ro.exec = &r->ex;
    return ws_resnet_open(&r->model, &ro, err);
}

/* How many of the val sampler's batches an evaluation takes: all of them, or up to the one
 * that brings the samples over all ranks (each rank counts its own x world) to --val-limit. */
static size_t eval_batches(wsi_run *r) {
    size_t steps = ws_sampler_steps_per_epoch(r->val_sampler), s = 0;
    double samples = 0;
    for (; s < steps; s++) {
        if (r->o.val_limit > 0 && samples * r->world >= (double)r->o.val_limit) break;
        size_t n = ws_sampler_batch(r->val_sampler, 0, s, r->h_indices);
        if (n == 0) break;
        samples += (double)n;
    }
    return s;
}

static ws_status classify_evaluate(wsi_run *r, ws_epoch_row *row, ws_error *err) {
    size_t batches = eval_batches(r);
    double sums[4] = {0, 0, 0, 0}; /* loss, top1, top5, count */
    ws_status st = wsi_eval_begin(r, batches, err);
    for (size_t s = 0; s < batches && st == WS_OK; s++) {
        ws_world_heartbeat(r->w);
        st = wsi_eval_batch(r, s, sums, &row->eval_data_s, err);
    }
    if (st != WS_OK) return st;
    ws_status rst = ws_world_allreduce_sum_f64(r->w, sums, 4, err);
    if (rst != WS_OK) return rst;
    double count = sums[3];
    row->evaluated = count > 0;
    row->val_loss = count > 0 ? sums[0] / count : NAN;
    row->val_top1 = count > 0 ? sums[1] / count : NAN;
    row->val_top5 = count > 0 ? sums[2] / count : NAN;
    return WS_OK;
}

const wsi_task wsi_task_classify = {
    .name = "classification",
    .open_data = classify_open_data,
    .open_model = classify_open_model,
    .setup = wsi_step_setup,
    .free = wsi_step_free,
    .load_micro = wsi_classify_load_micro,
    .compute_micro = wsi_classify_compute_micro,
    .evaluate = classify_evaluate,
    .finish = NULL,
};
