/* train/task_forecast.c - the forecasting task (train/task.h): FourCastNet's training of an
 * AFNO on weather fields in FourCastNet's HDF5 layout (--data swe:DIR, the project's
 * shallow-water data, or era5:DIR: one reader, data/fields.h).
 * defines: wsi_task_forecast, wsi_forecast_loss (train/task_forecast.h).
 *
 * Data: a sample is the fields at time t (normalised) with its targets at t+1 .. t+S of
 * the same year file, S = --forecast-steps; --img HxW keeps the grid's first H rows and W
 * columns (ERA5's 721 rows: --img 720x1440, as FourCastNet drops the last). The samplers
 * are the project's (data/sampler.h over ws_fields_subset's evenly spread times): one per
 * micro-batch, virtual rank m x world + r, so data parallelism splits every global batch
 * exactly as for ResNet and one process with --accum 2 reproduces two ranks. Samples are
 * read on the rank's own thread when its step needs them (a 32x64 sample of 6 channels is
 * 48 KiB; HDF5 serialises reads anyway, data/h5util.h), timed as the step's data phase.
 *
 * Loss, as NVlabs/FourCastNet train.py: pre-training rel_l2(f(x_t), x_t+1); fine-tuning
 * (two_step_training) loss_step_one + loss_step_two, the second forward on the first's
 * prediction, gradients through both. The second forward runs in a second AFNO that shares
 * the first's parameters and gradients (models/afno.h share_params): each instance keeps
 * its own activations, so the two backward passes need no recomputation. Evaluation, as
 * its validate_one_epoch: val_loss is the same loss on the validation split, the scores
 * (latitude-weighted RMSE and ACC per channel, train/forecast_metrics.h) are those of the
 * first step, beside persistence on the same samples. --rollout-steps N adds, once training
 * ends, an N-step autoregressive rollout from every validation sample with the scores per
 * lead (6 h, 12 h, ...), also beside persistence.
 *
 * Devices: the same code on the CPU and on CUDA. The samples are read into host buffers
 * (pinned on CUDA), targets split and, with --residual, differenced there; on CUDA they are
 * then uploaded asynchronously, so the loss (rel_l2), backward and the optimizer run on the
 * GPU and only the step's scalars come back (train/step.c's frame). Synthetic fields
 * (--data synthetic-weather[:CxHxW], data/fields.h) keep their pool of distinct fields on
 * the GPU, and a training batch is device copies out of it: the benchmark measures compute,
 * not the host. Evaluation and the rollout copy each forecast back to the host for the
 * metrics (a download per batch: validation is small). Steps run eagerly unless
 * --cuda-graph on: AFNO's kernels are large, so a graph would save little. */
#include "train/task_forecast.h"
#include "core/error.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "data/fields.h"
#include "dist/world.h"
#include "models/afno.h"
#include "ops/eltwise.h"
#include "ops/mem.h"
#include "ops/rel_l2.h"
#include "train/forecast_metrics.h"
#include "train/run.h"
#include "train/task.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct wsi_forecast {
    ws_fields *train, *val, *roll; /* roll: the validation split with rollout_steps targets */
    ws_sampler *roll_sampler;
    int steps;                     /* targets per training and validation sample */
    int residual;                  /* the model predicts the change x_t+1 - x_t (--residual) */
    int c, h, w;
    size_t count;                  /* c*h*w floats per sample and step */
    size_t lbs;
    int on_device;                 /* CUDA: the t1, t2 below are device twins of the host buffers */
    /* host (pinned on CUDA) */
    float *h_y;                    /* targets as loaded [lbs, max(steps, rollout), count] */
    float *h_t1, *h_t2;            /* steps 2 or residual: what step 1 and 2 are trained on [lbs, count],
                                      each step's fields contiguous, or, residual, the change (t1) */
    float *h_out;                  /* CUDA: a forecast copied back for the metrics */
    /* in ex's memory (on the CPU the host buffers themselves) */
    float *t1, *t2;                /* the loss's targets of step 1 (h_y, or h_t1) and step 2 */
    float *dy1, *dy2, *pred;       /* output gradients; a prediction fed back as the next input */
    float *d_pool;                 /* CUDA, synthetic fields: the training split's pool */
    size_t pool_bytes;
    ws_model *second;              /* steps 2: the second step's AFNO, sharing params and grads */
    ws_forecast_metrics *skill, *persist; /* the model's and persistence's scores at one lead */
    int y_floats_steps;            /* the y buffer's steps */
};

/* ------------------------------------------------------------------ the loss */

ws_status wsi_forecast_loss(ws_model *first, ws_model *second, const ws_exec *ex, int n, const float *x,
                            const float *t1, const float *t2, float scale, float *dy1, float *dy2, double *loss1,
                            double *loss2, ws_error *err) {
    const size_t count = first->out_per_sample;
    const void *y1 = NULL, *y2 = NULL;
    const ws_exec fx = ws_exec_f32(ex); /* the AFNO's fields and the loss are fp32 in every precision */
    ws_status st = ws_model_forward(first, ex, x, n, 1, &y1, err);
    if (st != WS_OK) return st;
    if ((st = ws_rel_l2_forward(&fx, n, count, loss1, y1, t1)) != WS_OK) goto loss_failed;
    if (second) {
        if ((st = ws_model_forward(second, ex, y1, n, 1, &y2, err)) != WS_OK) return st;
        if ((st = ws_rel_l2_forward(&fx, n, count, loss2, y2, t2)) != WS_OK ||
            (st = ws_rel_l2_backward(&fx, n, count, dy2, y2, t2, scale)) != WS_OK)
            goto loss_failed;
        /* the second step's gradients go into the shared grads; nobody listens (the first
         * step's backward adds the rest, and only then is a range final) */
        void (*hook)(void *, size_t, size_t) = second->grads_ready;
        second->grads_ready = NULL;
        st = ws_model_backward(second, ex, dy2, n, err);
        second->grads_ready = hook;
        if (st != WS_OK) return st;
    }
    if ((st = ws_rel_l2_backward(&fx, n, count, dy1, y1, t1, scale)) != WS_OK) goto loss_failed;
    /* y1 feeds both its own loss and the second step: dL/dy1 is the sum of the two */
    if (second && (st = ws_add_forward(&fx, (size_t)n * count, dy1, dy1, ws_afno_input_grad(second))) != WS_OK)
        return wsi_error(err, st, "two-step loss: adding the second step's input gradient failed");
    return ws_model_backward(first, ex, dy1, n, err);
loss_failed:
    return wsi_error(err, st, "rel_l2 loss failed (%s): a target field of zero norm?", ws_status_message(st));
}

/* ------------------------------------------------------------------ data and model */

#define SYNTHETIC_WEATHER "synthetic-weather"

/* "swe:/some/dir" -> its folder; "synthetic-weather[:CxHxW]" -> *dir NULL and the shape in
 * *syn (default FourCastNet's 20x720x1440); the image datasets belong to classification. */
static ws_status data_dir(const ws_train_opts *o, const char **dir, ws_fields_synthetic_opts *syn, ws_error *err) {
    const char *colon = strchr(o->data, ':');
    size_t klen = colon ? (size_t)(colon - o->data) : strlen(o->data);
    int swe = klen == 3 && !strncmp(o->data, "swe", 3), era5 = klen == 4 && !strncmp(o->data, "era5", 4);
    if (klen == strlen(SYNTHETIC_WEATHER) && !strncmp(o->data, SYNTHETIC_WEATHER, klen)) {
        memset(syn, 0, sizeof *syn);
        syn->c = 20, syn->h = 720, syn->w = 1440;
        char tail = 0;
        if (colon && (sscanf(colon + 1, "%dx%dx%d%c", &syn->c, &syn->h, &syn->w, &tail) != 3 || syn->c < 1 ||
                      syn->h < 1 || syn->w < 1))
            return wsi_error(err, WS_EINVAL, "--data %s: the shape is CxHxW, e.g. --data " SYNTHETIC_WEATHER
                             ":20x720x1440 (FourCastNet's ERA5 sample, the default)", o->data);
        if (o->img_h || o->img_w)
            return wsi_error(err, WS_EINVAL, "--img crops files; synthetic fields take their shape from --data "
                             SYNTHETIC_WEATHER ":CxHxW");
        syn->count = o->synthetic_count;
        syn->seed = o->seed;
        *dir = NULL;
        return WS_OK;
    }
    if (!swe && !era5)
        return wsi_error(err, WS_EINVAL,
                         "--model afno forecasts weather fields: give --data swe:DIR or era5:DIR (FourCastNet's "
                         "layout), or " SYNTHETIC_WEATHER "[:CxHxW] (random fields, for benchmarks); --data %s is for "
                         "the classifiers (--model resnet18 ...)",
                         o->data);
    if (!colon || !colon[1])
        return wsi_error(err, WS_EINVAL,
                         "--data %.*s needs its folder: --data %.*s:DIR, DIR holding train/, test/ and stats/ in "
                         "FourCastNet's layout (make one with `wattscale data swe --out DIR --grid 32x64 --years "
                         "0.25+0.05+0.05`)",
                         (int)klen, o->data, (int)klen, o->data);
    *dir = colon + 1;
    return WS_OK;
}

static ws_status fields_sampler(wsi_run *r, ws_fields *f, int train, int rank, int world, ws_sampler **out,
                                ws_error *err) {
    ws_sampler_opts so = ws_sampler_opts_default();
    so.seed = r->o.seed;
    so.shuffle = train;
    so.drop_last = train;
    so.fraction = r->o.data_fraction;
    so.local_batch = r->o.local_batch;
    so.rank = rank;
    so.world = world;
    return ws_fields_sampler_open(out, f, &so, err);
}

/* Split `split` of the run's data: the fields at dir, or synthetic ones (val: a tenth of the
 * training samples, as --data synthetic for the classifiers). */
static ws_status open_fields(const char *dir, const ws_fields_synthetic_opts *syn, ws_fields_split split,
                             const ws_fields_opts *fo, ws_fields **out, ws_error *err) {
    if (dir) return ws_fields_open(out, dir, split, fo, err);
    ws_fields_synthetic_opts so = *syn;
    if (split != WS_FIELDS_TRAIN) so.count = (so.count + 9) / 10;
    return ws_fields_open_synthetic(out, &so, split, fo, err);
}

static ws_status forecast_open_data(wsi_run *r, ws_error *err) {
    ws_train_opts *o = &r->o;
    const char *dir = NULL;
    ws_fields_synthetic_opts syn;
    ws_status st = data_dir(o, &dir, &syn, err);
    if (st != WS_OK) return st;
    struct wsi_forecast *fc = r->fc = calloc(1, sizeof *fc);
    if (!fc) return wsi_error(err, WS_ENOMEM, "out of memory");
    fc->steps = o->forecast_steps;
    fc->residual = o->forecast_residual;
    ws_fields_opts fo = ws_fields_opts_default();
    fo.max_steps = fc->steps;
    fo.rows = o->img_h; /* 0: every row */
    fo.cols = o->img_w;
    if ((st = open_fields(dir, &syn, WS_FIELDS_TRAIN, &fo, &fc->train, err)) != WS_OK) {
        if (st != WS_EINVAL || !(o->img_h || o->img_w) || !err) return st;
        char why[sizeof err->msg];
        snprintf(why, sizeof why, "%s", err->msg);
        return wsi_error(err, st, "--img %dx%d: %s", o->img_h, o->img_w, why);
    }
    if ((st = open_fields(dir, &syn, WS_FIELDS_VALID, &fo, &fc->val, err)) != WS_OK) return st;
    if (o->rollout_steps > 0) {
        fo.max_steps = o->rollout_steps; /* files must hold more times than that: checked here, not at the end */
        if ((st = open_fields(dir, &syn, WS_FIELDS_VALID, &fo, &fc->roll, err)) != WS_OK) return st;
    }
    if (!dir) dir = o->data; /* for the messages below */
    const ws_fields_info *ti = ws_fields_info_get(fc->train), *vi = ws_fields_info_get(fc->val);
    if (ti->c > WS_RUN_MAX_CHANNELS)
        return wsi_error(err, WS_ENOTSUP, "%s: %d channels, the run record scores at most %d", dir, ti->c,
                         WS_RUN_MAX_CHANNELS);
    if (ti->h % o->afno_patch || ti->w % o->afno_patch)
        return wsi_error(err, WS_EINVAL,
                         "%s: the grid %dx%d is not a whole number of %dx%d patches: crop it with --img %dx%d, or "
                         "choose another --patch",
                         dir, ti->h, ti->w, o->afno_patch, o->afno_patch, ti->h / o->afno_patch * o->afno_patch,
                         ti->w / o->afno_patch * o->afno_patch);
    fc->c = ti->c;
    fc->h = ti->h;
    fc->w = ti->w;
    fc->count = (size_t)ti->c * ti->h * ti->w;
    o->img_h = ti->h; /* the grid as run, for the record and the checkpoint's fingerprint */
    o->img_w = ti->w;
    ws_run_state *rs = &r->st;
    rs->fc_channels = ti->c;
    rs->fc_dt_hours = ti->dt_hours;
    for (int k = 0; k < ti->c; k++) {
        snprintf(rs->fc_names[k], sizeof rs->fc_names[k], "%s", ti->channel_names[k]);
        rs->fc_std[k] = ti->std[k];
    }

    r->train_samplers = calloc((size_t)o->accum, sizeof *r->train_samplers);
    if (!r->train_samplers) return wsi_error(err, WS_ENOMEM, "out of memory for samplers");
    for (int m = 0; m < o->accum; m++)
        if ((st = fields_sampler(r, fc->train, 1, m * r->world + r->rank, r->world * o->accum, &r->train_samplers[m],
                                 err)) != WS_OK)
            return st;
    if ((st = fields_sampler(r, fc->val, 0, r->rank, r->world, &r->val_sampler, err)) != WS_OK) return st;
    if (fc->roll && (st = fields_sampler(r, fc->roll, 0, r->rank, r->world, &fc->roll_sampler, err)) != WS_OK)
        return st;

    /* the climatology the ACC is taken against (stats/time_means.npy); without it, no ACC */
    float *clim = malloc(fc->count * sizeof *clim);
    if (!clim) return wsi_error(err, WS_ENOMEM, "out of memory for the climatology");
    ws_error cerr = {0};
    int have_clim = ws_fields_climatology(fc->val, clim, &cerr) == WS_OK;
    if (!have_clim && !o->quiet) ws_log(WS_LOG_WARN, "no ACC in this run: %s", cerr.msg);
    st = ws_forecast_metrics_open(&fc->skill, fc->c, fc->h, fc->w, vi->lat_deg, vi->mean, vi->std,
                                  have_clim ? clim : NULL, err);
    if (st == WS_OK)
        st = ws_forecast_metrics_open(&fc->persist, fc->c, fc->h, fc->w, vi->lat_deg, vi->mean, vi->std,
                                      have_clim ? clim : NULL, err);
    free(clim);
    return st;
}

static ws_status forecast_open_model(wsi_run *r, ws_error *err) {
    const ws_train_opts *o = &r->o;
    struct wsi_forecast *fc = r->fc;
    ws_afno_opts ao = ws_afno_opts_default();
    ao.img_h = fc->h;
    ao.img_w = fc->w;
    ao.in_c = ao.out_c = fc->c;
    ao.patch = o->afno_patch;
    ao.embed = o->afno_embed;
    ao.depth = o->afno_depth;
    ao.num_blocks = o->afno_blocks;
    ao.mlp_ratio = o->afno_mlp_ratio;
    ao.sparsity_threshold = o->afno_sparsity;
    ao.hard_thresholding_fraction = o->afno_hard_threshold;
    ao.max_batch = o->local_batch;
    ao.threads = o->threads;
    ao.exec = &r->ex;
    ao.seed = o->seed;
    ws_status st = ws_afno_open(&r->model, &ao, err);
    if (st != WS_OK || fc->steps < 2) return st;
    ao.share_params = r->model;
    ao.input_grad = 1;
    return ws_afno_open(&fc->second, &ao, err);
}

static ws_status forecast_setup(wsi_run *r, ws_error *err) {
    struct wsi_forecast *fc = r->fc;
    const ws_exec *ex = &r->ex;
    const size_t lbs = fc->lbs = (size_t)r->o.local_batch, bytes = lbs * fc->count * sizeof(float);
    fc->y_floats_steps = fc->steps > r->o.rollout_steps ? fc->steps : r->o.rollout_steps;
    fc->on_device = r->cuda != NULL;
    ws_status st;
    if (r->o.accum > 64) return wsi_error(err, WS_EINVAL, "--accum %d: at most 64 micro-batches per step", r->o.accum);
    if ((st = ws_mem_host_alloc(ex, bytes, "input batch", (void **)&r->h_x, err)) != WS_OK ||
        (st = ws_mem_host_alloc(ex, lbs * sizeof(int64_t), "indices", (void **)&r->h_indices, err)) != WS_OK ||
        (st = ws_mem_host_alloc(ex, sizeof(wsi_step_stats), "step results", (void **)&r->h_stats, err)) != WS_OK ||
        (st = ws_mem_host_alloc(ex, bytes * (size_t)fc->y_floats_steps, "targets", (void **)&fc->h_y, err)) != WS_OK ||
        (st = ws_mem_alloc(ex, bytes, "output gradient", (void **)&fc->dy1, err)) != WS_OK ||
        (st = ws_mem_alloc(ex, bytes, "fed-back prediction", (void **)&fc->pred, err)) != WS_OK)
        return st;
    if ((fc->steps == 2 || fc->residual) &&
        (st = ws_mem_host_alloc(ex, bytes, "step 1 targets", (void **)&fc->h_t1, err)) != WS_OK)
        return st;
    if (fc->steps == 2 &&
        ((st = ws_mem_host_alloc(ex, bytes, "step 2 targets", (void **)&fc->h_t2, err)) != WS_OK ||
         (st = ws_mem_alloc(ex, bytes, "step 2 output gradient", (void **)&fc->dy2, err)) != WS_OK))
        return st;
    if (!fc->on_device) { /* the CPU backend: the batch is where the model reads it */
        r->d_x = r->h_x;
        r->d_indices = r->h_indices;
        r->d_stats = r->h_stats;
        fc->t1 = fc->h_t1 ? fc->h_t1 : fc->h_y;
        fc->t2 = fc->h_t2;
        return WS_OK;
    }
    if ((st = ws_mem_alloc(ex, bytes, "input batch", &r->d_x, err)) != WS_OK ||
        (st = ws_mem_alloc(ex, bytes, "step 1 targets", (void **)&fc->t1, err)) != WS_OK ||
        (fc->steps == 2 && (st = ws_mem_alloc(ex, bytes, "step 2 targets", (void **)&fc->t2, err)) != WS_OK) ||
        (st = ws_mem_host_alloc(ex, bytes, "forecast for the metrics", (void **)&fc->h_out, err)) != WS_OK)
        return st;
    int pool = 0;
    const float *h_pool = ws_fields_synthetic_pool(fc->train, &pool);
    if (h_pool && !fc->residual) { /* residual targets are differences: made on the host instead */
        fc->pool_bytes = (size_t)pool * fc->count * sizeof(float);
        if ((st = ws_mem_alloc(ex, fc->pool_bytes, "synthetic fields", (void **)&fc->d_pool, err)) != WS_OK ||
            (st = ws_mem_upload(ex, fc->d_pool, h_pool, fc->pool_bytes, err)) != WS_OK)
            return st;
    }
    return wsi_step_frame_setup(r, 0, err);
}

static void forecast_free(wsi_run *r) {
    struct wsi_forecast *fc = r->fc;
    const ws_exec *ex = &r->ex;
    if (r->cuda) wsi_step_frame_free(r);
    ws_mem_host_free(ex, r->h_x);
    ws_mem_host_free(ex, r->h_indices);
    ws_mem_host_free(ex, r->h_stats);
    r->h_x = NULL, r->h_indices = NULL, r->h_stats = NULL;
    if (!fc) return;
    size_t bytes = fc->lbs * fc->count * sizeof(float);
    if (fc->on_device) {
        ws_mem_free(ex, r->d_x, bytes);
        ws_mem_free(ex, fc->t1, bytes);
        ws_mem_free(ex, fc->t2, bytes);
        ws_mem_free(ex, fc->d_pool, fc->pool_bytes);
        ws_mem_host_free(ex, fc->h_out);
    }
    r->d_x = NULL;
    ws_mem_host_free(ex, fc->h_y);
    ws_mem_host_free(ex, fc->h_t1);
    ws_mem_host_free(ex, fc->h_t2);
    ws_mem_free(ex, fc->dy1, bytes);
    ws_mem_free(ex, fc->pred, bytes);
    ws_mem_free(ex, fc->dy2, bytes);
    ws_model_close(fc->second); /* before the model whose params it uses (run_free closes that later) */
    ws_forecast_metrics_close(fc->skill);
    ws_forecast_metrics_close(fc->persist);
    ws_sampler_close(fc->roll_sampler);
    ws_fields_close(fc->train);
    ws_fields_close(fc->val);
    ws_fields_close(fc->roll);
    free(fc);
    r->fc = NULL;
}

/* ------------------------------------------------------------------ a step */

/* Samples and their first `steps` targets into h_x and h_y; with two steps, each step's
 * targets contiguous in h_t1 and h_t2 (rel_l2 takes [n, count]); residual, h_t1 the change.
 * On CUDA, input and loss targets are then uploaded to d_x, t1, t2 (asynchronously: the
 * pinned sources are refilled only after the stream has passed a later wait). */
static ws_status load(wsi_run *r, ws_fields *f, const int64_t *indices, size_t n, int steps, ws_error *err) {
    struct wsi_forecast *fc = r->fc;
    ws_status st = ws_fields_load(f, indices, n, steps, r->h_x, fc->h_y, err);
    if (st != WS_OK) return st;
    if (steps == 2)
        for (size_t i = 0; i < n; i++) {
            memcpy(fc->h_t1 + i * fc->count, fc->h_y + (2 * i) * fc->count, fc->count * sizeof(float));
            memcpy(fc->h_t2 + i * fc->count, fc->h_y + (2 * i + 1) * fc->count, fc->count * sizeof(float));
        }
    if (fc->residual) /* one step (train.c refuses two with --residual) */
        for (size_t k = 0; k < n * fc->count; k++) fc->h_t1[k] = fc->h_y[k] - r->h_x[k];
    if (!fc->on_device) return WS_OK;
    const size_t bytes = n * fc->count * sizeof(float);
    ws_mem_upload_async(&r->ex, r->d_x, r->h_x, bytes);
    if (steps >= 1) ws_mem_upload_async(&r->ex, fc->t1, fc->h_t1 ? fc->h_t1 : fc->h_y, bytes);
    if (steps == 2) ws_mem_upload_async(&r->ex, fc->t2, fc->h_t2, bytes);
    return WS_OK;
}

/* CUDA, synthetic fields: a training batch made on the device from the pool (no residual:
 * forecast_setup keeps the pool on the host then). */
static void load_from_pool(wsi_run *r, const int64_t *indices, size_t n) {
    struct wsi_forecast *fc = r->fc;
    const size_t chw = fc->count, bytes = chw * sizeof(float);
    for (size_t i = 0; i < n; i++) {
        const float *x = fc->d_pool + (size_t)ws_fields_synthetic_slot(fc->train, indices[i], 0) * chw;
        ws_mem_copy(&r->ex, (float *)r->d_x + i * chw, x, bytes);
        for (int s = 1; s <= fc->steps; s++)
            ws_mem_copy(&r->ex, (s == 1 ? fc->t1 : fc->t2) + i * chw,
                        fc->d_pool + (size_t)ws_fields_synthetic_slot(fc->train, indices[i], s) * chw, bytes);
    }
}

/* The true fields of step 1 on the host, which the metrics score against. */
static const float *truth1(const struct wsi_forecast *fc) { return fc->steps == 2 ? fc->h_t1 : fc->h_y; }

/* The forecast (in ex's memory) from input x and the model's output out: out itself, or
 * with --residual x + out, into fc->pred (which x may be). */
static ws_status forecast_of(wsi_run *r, const float *x, const void *out, size_t n, const float **forecast) {
    struct wsi_forecast *fc = r->fc;
    *forecast = out;
    if (!fc->residual) return WS_OK;
    *forecast = fc->pred;
    const ws_exec fx = ws_exec_f32(&r->ex); /* fp32 fields in every precision */
    return ws_add_forward(&fx, n * fc->count, fc->pred, x, out);
}

/* A forecast where the metrics read it: itself on the CPU, a host copy on CUDA. */
static ws_status on_host(wsi_run *r, const float *forecast, size_t n, const float **host, ws_error *err) {
    struct wsi_forecast *fc = r->fc;
    *host = forecast;
    if (!fc->on_device) return WS_OK;
    *host = fc->h_out;
    return ws_mem_download(&r->ex, fc->h_out, forecast, n * fc->count * sizeof(float), err);
}

static ws_status forecast_load_micro(wsi_run *r, int micro, size_t *n_out, double *wait_s, ws_error *err) {
    (void)wait_s; /* read in place: no loader to wait for (the data phase's time is the read) */
    size_t n = ws_sampler_batch(r->train_samplers[micro], (uint64_t)r->st.epoch, (size_t)r->st.step_in_epoch,
                                r->h_indices);
    *n_out = n;
    if (r->fc->d_pool) {
        load_from_pool(r, r->h_indices, n);
        return WS_OK;
    }
    return load(r, r->fc->train, r->h_indices, n, r->fc->steps, err);
}

static ws_status forecast_compute_micro(wsi_run *r, int micro, size_t n, int last, ws_error *err) {
    struct wsi_forecast *fc = r->fc;
    /* mean over the global batch: each micro-batch carries 1/(n x accum) */
    float scale = 1.0f / ((float)n * (float)r->o.accum);
    wsi_step_sync_begin(r, r->model, last);
    ws_status st = wsi_forecast_loss(r->model, fc->second, &r->ex, (int)n, r->d_x, fc->t1, fc->t2, scale, fc->dy1,
                                     fc->dy2, &r->d_stats->loss[micro], &r->d_stats->loss_step2[micro], err);
    wsi_step_sync_end(r->model);
    return st;
}

/* ------------------------------------------------------------------ scores */

static ws_status reduce_metrics(wsi_run *r, ws_forecast_metrics *m, ws_error *err) {
    size_t len = 0;
    double *sums = ws_forecast_metrics_sums(m, &len);
    return ws_world_allreduce_sum_f64(r->w, sums, len, err);
}

/* The reduced scores of model and persistence into k; means over channels of RMSE/std and
 * of ACC (NaN, reported null, when a channel has none). */
static void skill_fill(ws_forecast_skill *k, const ws_forecast_metrics *model, const ws_forecast_metrics *persist,
                       const ws_run_state *rs) {
    int c = rs->fc_channels;
    k->channels = c;
    k->samples = ws_forecast_metrics_samples(model);
    ws_forecast_metrics_result(model, k->rmse, k->acc_c);
    ws_forecast_metrics_result(persist, k->persist_rmse, k->persist_acc_c);
    double a = 0, b = 0, pa = 0, pb = 0;
    for (int i = 0; i < c; i++) {
        a += k->rmse[i] / rs->fc_std[i];
        b += k->acc_c[i];
        pa += k->persist_rmse[i] / rs->fc_std[i];
        pb += k->persist_acc_c[i];
    }
    k->rmse_norm = a / c;
    k->acc = b / c;
    k->persist_rmse_norm = pa / c;
    k->persist_acc = pb / c;
}

static int val_limit_reached(const wsi_run *r, double samples) {
    return r->o.val_limit > 0 && samples * r->world >= (double)r->o.val_limit;
}

static ws_status forecast_evaluate(wsi_run *r, ws_epoch_row *row, ws_error *err) {
    struct wsi_forecast *fc = r->fc;
    ws_model *m = r->model;
    size_t steps = ws_sampler_steps_per_epoch(r->val_sampler);
    double sums[2] = {0, 0}; /* loss x samples, samples */
    ws_forecast_metrics_reset(fc->skill);
    ws_forecast_metrics_reset(fc->persist);
    for (size_t s = 0; s < steps && !val_limit_reached(r, sums[1]); s++) {
        ws_world_heartbeat(r->w);
        size_t n = ws_sampler_batch(r->val_sampler, 0, s, r->h_indices);
        if (n == 0) break;
        ws_mem_zero(&r->ex, r->d_stats, sizeof(wsi_step_stats));
        double t0 = ws_now_s();
        ws_status st = load(r, fc->val, r->h_indices, n, fc->steps, err);
        row->eval_data_s += ws_now_s() - t0; /* loaded here, synchronously */
        const ws_exec fx = ws_exec_f32(&r->ex); /* the loss on fp32 fields in every precision */
        const void *y1 = NULL, *y2 = NULL;
        const float *p1 = NULL, *h1 = NULL;
        if (st == WS_OK) st = ws_model_forward(m, &r->ex, r->d_x, (int)n, 0, &y1, err);
        if (st != WS_OK) return st;
        if ((st = ws_rel_l2_forward(&fx, (int)n, fc->count, &r->d_stats->eval_loss, y1, fc->t1)) != WS_OK)
            return wsi_error(err, st, "validation loss failed (a target field of zero norm?)");
        if ((st = forecast_of(r, r->d_x, y1, n, &p1)) != WS_OK)
            return wsi_error(err, st, "validation forecast (input + change) failed");
        if ((st = on_host(r, p1, n, &h1, err)) != WS_OK) return st;
        ws_forecast_metrics_add(fc->skill, h1, truth1(fc), n);
        ws_forecast_metrics_add(fc->persist, r->h_x, truth1(fc), n);
        if (fc->steps == 2) {
            /* the fine-tuning loss's second step, from the first's prediction */
            ws_mem_copy(&r->ex, fc->pred, y1, n * fc->count * sizeof(float));
            if ((st = ws_model_forward(m, &r->ex, fc->pred, (int)n, 0, &y2, err)) != WS_OK) return st;
            if ((st = ws_rel_l2_forward(&fx, (int)n, fc->count, &r->d_stats->eval_loss_step2, y2, fc->t2)) != WS_OK)
                return wsi_error(err, st, "validation loss failed (a target field of zero norm?)");
        }
        if (fc->on_device) {
            ws_mem_download_async(&r->ex, r->h_stats, r->d_stats, sizeof(wsi_step_stats));
            if ((st = ws_exec_sync(&r->ex, err)) != WS_OK) return st;
        }
        sums[0] += (r->h_stats->eval_loss + r->h_stats->eval_loss_step2) * (double)n;
        sums[1] += (double)n;
    }
    ws_status st = ws_world_allreduce_sum_f64(r->w, sums, 2, err);
    if (st == WS_OK) st = reduce_metrics(r, fc->skill, err);
    if (st == WS_OK) st = reduce_metrics(r, fc->persist, err);
    if (st != WS_OK) return st;
    row->evaluated = sums[1] > 0;
    row->val_loss = sums[1] > 0 ? sums[0] / sums[1] : NAN;
    skill_fill(&row->skill, fc->skill, fc->persist, &r->st);
    return WS_OK;
}

/* --rollout-steps N: from every validation sample (at most --val-limit), N steps of the
 * model on its own predictions, scored at each lead against the true fields and beside
 * persistence (the initial fields held for N steps). */
static ws_status forecast_finish(wsi_run *r, ws_error *err) {
    struct wsi_forecast *fc = r->fc;
    const int N = r->o.rollout_steps;
    if (N <= 0) return WS_OK;
    ws_model *m = r->model;
    const ws_fields_info *vi = ws_fields_info_get(fc->roll);
    ws_forecast_metrics **acc = calloc(2 * (size_t)N, sizeof *acc); /* model at lead k: [k]; persistence: [N + k] */
    ws_forecast_skill *out = calloc((size_t)N, sizeof *out);
    ws_status st = acc && out ? WS_OK : wsi_error(err, WS_ENOMEM, "out of memory for the rollout");
    float *clim = st == WS_OK ? malloc(fc->count * sizeof *clim) : NULL;
    int have_clim = clim && ws_fields_climatology(fc->roll, clim, NULL) == WS_OK;
    for (int k = 0; st == WS_OK && k < 2 * N; k++)
        st = ws_forecast_metrics_open(&acc[k], fc->c, fc->h, fc->w, vi->lat_deg, vi->mean, vi->std,
                                      have_clim ? clim : NULL, err);
    free(clim);
    size_t steps = ws_sampler_steps_per_epoch(fc->roll_sampler);
    double samples = 0;
    const double t0 = ws_now_s();
    for (size_t s = 0; st == WS_OK && s < steps && !val_limit_reached(r, samples); s++) {
        ws_world_heartbeat(r->w);
        size_t n = ws_sampler_batch(fc->roll_sampler, 0, s, r->h_indices);
        if (n == 0) break;
        if ((st = ws_fields_load(fc->roll, r->h_indices, n, N, r->h_x, fc->h_y, err)) != WS_OK) break;
        if (fc->on_device) ws_mem_upload_async(&r->ex, r->d_x, r->h_x, n * fc->count * sizeof(float));
        const float *in = r->d_x;
        for (int k = 0; st == WS_OK && k < N; k++) {
            const void *yk = NULL;
            const float *pk = NULL, *hk = NULL;
            if ((st = ws_model_forward(m, &r->ex, in, (int)n, 0, &yk, err)) != WS_OK) break;
            if ((st = forecast_of(r, in, yk, n, &pk)) != WS_OK) {
                st = wsi_error(err, st, "rollout forecast (input + change) failed");
                break;
            }
            if ((st = on_host(r, pk, n, &hk, err)) != WS_OK) break;
            for (size_t i = 0; i < n; i++) {
                const float *truth = fc->h_y + (i * (size_t)N + (size_t)k) * fc->count;
                ws_forecast_metrics_add(acc[k], hk + i * fc->count, truth, 1);
                ws_forecast_metrics_add(acc[N + k], r->h_x + i * fc->count, truth, 1);
            }
            if (pk != fc->pred) ws_mem_copy(&r->ex, fc->pred, pk, n * fc->count * sizeof(float));
            in = fc->pred;
        }
        samples += (double)n;
    }
    for (int k = 0; st == WS_OK && k < 2 * N; k++) st = reduce_metrics(r, acc[k], err);
    if (st == WS_OK) {
        for (int k = 0; k < N; k++) skill_fill(&out[k], acc[k], acc[N + k], &r->st);
        free(r->st.rollout);
        r->st.rollout = out;
        r->st.n_rollout = N;
        out = NULL;
        if (!r->o.quiet)
            for (int k = 0; k < N; k++)
                ws_log(WS_LOG_INFO, "rollout %g h: rmse/std %.4f acc %.4f (persistence %.4f, %.4f) over %.0f samples",
                       (k + 1) * r->st.fc_dt_hours, r->st.rollout[k].rmse_norm, r->st.rollout[k].acc,
                       r->st.rollout[k].persist_rmse_norm, r->st.rollout[k].persist_acc, r->st.rollout[k].samples);
        if (!r->o.quiet) ws_log(WS_LOG_INFO, "rollout of %d steps: %.1f s", N, ws_now_s() - t0);
    }
    for (int k = 0; acc && k < 2 * N; k++) ws_forecast_metrics_close(acc[k]);
    free(acc);
    free(out);
    return st;
}

const wsi_task wsi_task_forecast = {
    .name = "forecasting",
    .open_data = forecast_open_data,
    .open_model = forecast_open_model,
    .setup = forecast_setup,
    .free = forecast_free,
    .load_micro = forecast_load_micro,
    .compute_micro = forecast_compute_micro,
    .evaluate = forecast_evaluate,
    .finish = forecast_finish,
};
