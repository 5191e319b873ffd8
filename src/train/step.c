/* train/step.c - one training step and one evaluation batch, on the CPU or a GPU.
 * defines: wsi_step_setup, wsi_step_free, wsi_train_step, wsi_eval_begin, wsi_eval_batch,
 * wsi_step_sync_begin, wsi_step_sync_end, wsi_classify_load_micro,
 * wsi_classify_compute_micro (train/run.h).
 *
 * The CPU step's frame (phases, the all-reduce's end, the divergence check, the optimizer)
 * serves every task: its micro-batches go through the task's load_micro and compute_micro
 * (train/task.h). The rest of this file is the classification task's step: data through
 * the loader, softmax cross-entropy, and the CUDA path, whose frame (events, graph, one
 * download of the step's scalars) serves the forecasting task too (train/task_forecast.c
 * brings its own load_micro and compute_micro).
 *
 * A step: each micro-batch's samples come in (host load, then on CUDA an async upload from
 * pinned memory and a conversion to NHWC in the run's storage type; synthetic data is
 * generated on the GPU instead; the data loader's batches are copied to the GPU on the copy
 * stream while the step before computes, train/upload.h), forward, loss, backward, the
 * gradient all-reduce (its buckets started from the model's grads_ready hook while backward
 * runs), loss unscaling (fp16) and the optimizer. On CUDA the compute part, from zeroing
 * the gradients to the optimizer, is captured once as a CUDA graph (one per micro-batch;
 * --cuda-graph) and replayed, so the host enqueues one launch per step; the step's scalars (loss, hits,
 * overflow flag) come back in one pinned copy, and the host waits once per step on events,
 * which also time compute and the all-reduce wait on the GPU's own clock. The optimizer's
 * learning rate and the loss scale reach the device before each launch (ws_optim_prepare,
 * a pinned copy), so the replayed graph always uses the current ones.
 * The CPU path is the reference: the same ops, synchronous, timed on the host.
 * Evaluation's batches come from a loader of their own (open_val_loader), in the format of
 * training's (uint8 NHWC for ImageNet on CUDA) and through the same conversion. */
#include "train/run.h"
#include "core/error.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "data/synthetic_device.h"
#include "ops/amp.h"
#include "ops/convert.h"
#include "ops/loss.h"
#include "ops/mem.h"
#include "train/upload.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int on_cuda(const wsi_run *r) { return r->cuda != NULL; }

static ws_status alloc_dev(wsi_run *r, size_t bytes, const char *what, void **out, ws_error *err) {
    return ws_mem_alloc(&r->ex, bytes, what, out, err);
}

/* ---- the data loader (data/loader.h): training samples decoded ahead by threads ---- */

/* Batch seq of an epoch's run is micro-batch seq % accum of step seq / accum. */
static size_t loader_indices(void *ctx, uint64_t epoch, size_t seq, int64_t *indices) {
    wsi_run *r = ctx;
    size_t accum = (size_t)r->o.accum;
    return ws_sampler_batch(r->train_samplers[seq % accum], epoch, seq / accum, indices);
}

/* Pinned buffers on CUDA, so each batch's upload is one asynchronous copy. */
static void *loader_alloc(void *ctx, size_t bytes) {
    void *p = NULL;
    return ws_mem_host_alloc((const ws_exec *)ctx, bytes, "loader batch", &p, NULL) == WS_OK ? p : NULL;
}
static void loader_free(void *ctx, void *p) { ws_mem_host_free((const ws_exec *)ctx, p); }
static void pinned_batches(wsi_run *r, ws_loader_opts *lo) {
    lo->alloc.alloc = loader_alloc;
    lo->alloc.free = loader_free;
    lo->alloc.ctx = &r->ex;
}

/* The CPU backend's cores belong to its OpenMP compute: one decode thread unless asked; on
 * CUDA all cores (0). */
static int decode_threads(const wsi_run *r) {
    return r->o.data_threads > 0 ? r->o.data_threads : on_cuda(r) ? 0 : 1;
}

static ws_status open_loader(wsi_run *r, ws_error *err) {
    if (r->synthetic_on_device) return WS_OK;
    const ws_train_opts *o = &r->o;
    const ws_dataset_info *ti = ws_dataset_info_get(r->train);
    ws_loader_opts lo = ws_loader_opts_default();
    lo.threads = decode_threads(r);
    lo.max_batch = (size_t)o->local_batch;
    /* on CUDA the upload slots hold up to two of the ring's batches (train/upload.h) */
    if (on_cuda(r)) lo.prefetch = 4 + WSI_UPLOAD_SLOTS;
    /* ImageNet's pixels cross PCIe as bytes and are normalised on the GPU; other datasets
     * as the CPU reference's fp32, so a GPU run sees exactly the CPU's numbers */
    r->loader_u8 = on_cuda(r) && !strcmp(ti->name, "imagenet");
    lo.format = r->loader_u8 ? WS_SAMPLES_NHWC_U8 : WS_SAMPLES_NCHW_F32;
    lo.decoder = o->decoder == 1 ? WS_DECODER_NVJPEG : WS_DECODER_CPU;
    if (lo.decoder == WS_DECODER_NVJPEG && !on_cuda(r))
        return wsi_error(err, WS_EINVAL, "--decoder nvjpeg decodes on the GPU: use it with --device cuda, or --decoder cpu");
    lo.cuda_device = r->cuda ? ws_cuda_device_index(r->cuda) : -1;
    if (on_cuda(r)) pinned_batches(r, &lo);
    lo.indices = loader_indices;
    lo.indices_ctx = r;
    ws_status st = ws_loader_open(&r->loader, r->train, &lo, err);
    if (st != WS_OK || !on_cuda(r)) return st;
    return wsi_upload_open(&r->upload, &r->ex, r->loader, lo.max_batch, ws_dataset_sample_bytes(r->train, lo.format),
                           o->upload_ahead, err);
}

/* What evaluation's batches hold: what training's loader makes (uint8 NHWC for ImageNet
 * on CUDA, normalised on the GPU by the same conversion; else fp32 NCHW), so both inputs
 * are made alike. */
static ws_sample_format eval_format(const wsi_run *r) {
    return r->loader_u8 ? WS_SAMPLES_NHWC_U8 : WS_SAMPLES_NCHW_F32;
}

/* Validation batches through a loader of their own rather than a run on training's: that
 * loader has the next epoch's run queued behind this one (wsi_step_begin_epoch), which
 * decodes the next epoch's first batches while this epoch is evaluated, and a run can only
 * be queued behind it, not put before it. So the training loader is left alone, and this
 * one's threads (as many) decode the val sampler's batches in step order, prefetched while
 * the model evaluates the one before; they sleep between evaluations. Its ring is 3 batches
 * (one evaluated, two in the making: the threads all work on the earliest, so more would
 * only cost memory), pinned on CUDA: 3 x LBS uint8 samples for ImageNet (116 MB at LBS 256
 * and 224 px; evaluation used to load into an fp32 pinned batch and upload it through an
 * fp32 device staging buffer, 154 MB each, where d_eval_in now holds one uint8 batch, 39 MB).
 * Always the CPU decoder (libjpeg-turbo), also with --decoder nvjpeg: validation's numbers
 * stay those of the direct path. None for synthetic samples generated on the GPU (nothing
 * to decode), with eval_direct, or without evaluations. */
static ws_status open_val_loader(wsi_run *r, ws_error *err) {
    const ws_train_opts *o = &r->o;
    if (r->synthetic_on_device || o->eval_direct || o->eval_every <= 0) return WS_OK;
    ws_loader_opts lo = ws_loader_opts_default();
    lo.threads = decode_threads(r);
    lo.prefetch = 3;
    lo.max_batch = (size_t)o->local_batch;
    lo.format = eval_format(r);
    if (on_cuda(r)) pinned_batches(r, &lo);
    lo.indices = ws_loader_sampler_indices;
    lo.indices_ctx = r->val_sampler;
    return ws_loader_open(&r->val_loader, r->val, &lo, err);
}

/* The loader's runs: this epoch's steps from the current position, and the next epoch's
 * queued behind them, so that its first batches are decoded (and the first one uploaded)
 * while this epoch's last steps train and while it is evaluated. A run that the last call
 * queued and that is this one is left to go on; any other position restarts the loader
 * (and drops what was uploaded ahead). Batches depend on (seed, epoch, index) and the
 * samplers only, so queueing changes none of them. */
ws_status wsi_step_begin_epoch(wsi_run *r, long steps, ws_error *err) {
    if (!r->loader || steps <= 0) return WS_OK;
    const ws_train_opts *o = &r->o;
    const size_t accum = (size_t)o->accum;
    wsi_loader_run want = {(uint64_t)r->st.epoch, (size_t)r->st.step_in_epoch * accum, (size_t)steps * accum};
    ws_status st;
    if (!(r->loader_queued.count > 0 && r->loader_queued.epoch == want.epoch && r->loader_queued.first == want.first &&
          r->loader_queued.count == want.count)) {
        wsi_upload_drop(r->upload);
        if ((st = ws_loader_start(r->loader, want.epoch, want.first, want.count, err)) != WS_OK) return st;
    }
    r->loader_queued = (wsi_loader_run){0, 0, 0};
    /* the next epoch's steps as train.c's loop will run them: a whole epoch, or up to the limit */
    long total = o->steps > 0 ? o->steps : (long)o->epochs * r->steps_per_epoch;
    long after = total - r->st.total_steps - steps;
    long next = after < r->steps_per_epoch ? after : r->steps_per_epoch;
    if (next <= 0) return WS_OK;
    wsi_loader_run q = {want.epoch + 1, 0, (size_t)next * accum};
    if ((st = ws_loader_queue(r->loader, q.epoch, q.first, q.count, err)) != WS_OK) return st;
    r->loader_queued = q;
    return WS_OK;
}

void wsi_step_upload_facts(const wsi_run *r, ws_run_state *st) {
    if (!r->upload) return;
    wsi_upload_stats us = wsi_upload_stats_get(r->upload);
    st->has_upload = 1;
    st->upload_batches = (double)us.batches;
    st->upload_ahead = (double)us.ahead;
    st->upload_wait_s = us.copy_wait_s;
    st->loader_wait_s = us.loader_wait_s;
    st->loader_wait_overlapped_s = us.loader_wait_overlapped_s;
}

ws_status wsi_step_setup(wsi_run *r, ws_error *err) {
    const ws_train_opts *o = &r->o;
    const ws_dataset_info *ti = ws_dataset_info_get(r->train);
    const size_t lbs = (size_t)o->local_batch, k = (size_t)r->model->classes;
    const size_t esz = ws_dtype_size(ws_act_dtype(r->ex.precision));
    ws_status st;
    r->in_count = (size_t)ti->c * ti->h * ti->w;
    if (o->accum > 64) return wsi_error(err, WS_EINVAL, "--accum %d: at most 64 micro-batches per step", o->accum);
    if ((st = ws_mem_host_alloc(&r->ex, lbs * sizeof(int32_t), "labels", (void **)&r->h_labels, err)) != WS_OK ||
        (st = ws_mem_host_alloc(&r->ex, lbs * sizeof(int64_t), "indices", (void **)&r->h_indices, err)) != WS_OK ||
        (st = ws_mem_host_alloc(&r->ex, sizeof(wsi_step_stats), "step results", (void **)&r->h_stats, err)) != WS_OK)
        return st;
    if ((st = open_loader(r, err)) != WS_OK || (st = open_val_loader(r, err)) != WS_OK) return st;
    /* on CUDA the loaders' batches go up through their own buffers: a host batch only for
     * evaluation's direct path */
    const size_t eval_bytes = lbs * ws_dataset_sample_bytes(r->val, eval_format(r));
    const int direct_eval = !r->synthetic_on_device && !r->val_loader && o->eval_every > 0;
    size_t x_host = !on_cuda(r) ? lbs * r->in_count * sizeof(float) : direct_eval ? eval_bytes : 1;
    if ((st = ws_mem_host_alloc(&r->ex, x_host, "input batch", (void **)&r->h_x, err)) != WS_OK) return st;
    if ((st = alloc_dev(r, lbs * k * sizeof(float), "softmax", (void **)&r->d_probs, err)) != WS_OK ||
        (st = alloc_dev(r, lbs * k * esz, "logit gradients", &r->d_dlogits, err)) != WS_OK)
        return st;
    if (!on_cuda(r)) {
        r->d_x = r->h_x;
        r->d_labels = r->h_labels;
        r->d_indices = r->h_indices;
        r->d_stats = r->h_stats;
        return WS_OK;
    }
    if ((st = alloc_dev(r, lbs * r->in_count * esz, "input batch", &r->d_x, err)) != WS_OK ||
        (st = alloc_dev(r, lbs * sizeof(int32_t), "labels", (void **)&r->d_labels, err)) != WS_OK ||
        (st = alloc_dev(r, lbs * sizeof(int64_t), "indices", (void **)&r->d_indices, err)) != WS_OK)
        return st;
    if (!r->synthetic_on_device && o->eval_every > 0) {
        if ((st = alloc_dev(r, eval_bytes, "evaluation input", &r->d_eval_in, err)) != WS_OK) return st;
        r->eval_in_bytes = eval_bytes;
    }
    return wsi_step_frame_setup(r, 1, err);
}

ws_status wsi_step_frame_setup(wsi_run *r, int graph_by_default, ws_error *err) {
    const ws_train_opts *o = &r->o;
    ws_status st;
    if (!on_cuda(r)) return WS_OK;
    if ((st = alloc_dev(r, sizeof(wsi_step_stats), "step results", (void **)&r->d_stats, err)) != WS_OK) return st;
    if ((st = ws_cuda_event_create(&r->ev_in, err)) != WS_OK || (st = ws_cuda_event_create(&r->ev_bwd, err)) != WS_OK ||
        (st = ws_cuda_event_create(&r->ev_sync, err)) != WS_OK || (st = ws_cuda_event_create(&r->ev_end, err)) != WS_OK ||
        (st = ws_cuda_event_create(&r->ev_upload, err)) != WS_OK ||
        (st = ws_cuda_event_create(&r->ev_micro, err)) != WS_OK)
        return st;
    if (r->ex.precision == WS_FP16) {
        wsi_scaler *s = &r->scaler;
        s->enabled = 1;
        s->scale = 65536.0f;
        if ((st = alloc_dev(r, sizeof(float), "loss scale", (void **)&s->d_scale, err)) != WS_OK ||
            (st = alloc_dev(r, sizeof(int), "overflow flag", (void **)&s->d_found_inf, err)) != WS_OK)
            return st;
        ws_optim_set_skip(r->optim, s->d_found_inf);
    }
    /* a graph per micro-batch index (up to WSI_MAX_GRAPH_MICRO); with several ranks the
     * eager path keeps the all-reduce wait measurable (events between the phases) unless
     * asked otherwise. Without graphs, micro-batches of 64-128 ResNet-50 samples are
     * launch-bound: accumulation ran at half the graph's rate (docs/results.md). */
    r->use_graph = o->cuda_graph == 1 || (o->cuda_graph < 0 && graph_by_default && r->world == 1);
    const char *prof = getenv("WATTSCALE_PROFILE");
    if (prof && *prof == '1' && r->use_graph) {
        ws_log(WS_LOG_INFO, "WATTSCALE_PROFILE=1 times every node with a sync: steps run without a CUDA graph");
        r->use_graph = 0;
    }
    if (r->use_graph && o->accum > WSI_MAX_GRAPH_MICRO) {
        if (o->cuda_graph == 1)
            ws_log(WS_LOG_WARN, "--cuda-graph: steps of %d micro-batches (more than %d) run without a graph", o->accum,
                   WSI_MAX_GRAPH_MICRO);
        r->use_graph = 0;
    }
    return WS_OK;
}

void wsi_step_frame_free(wsi_run *r) {
    const ws_exec *ex = &r->ex;
    for (int i = 0; i < WSI_MAX_GRAPH_MICRO; i++) {
        ws_cuda_graph_free(r->graphs[i]);
        r->graphs[i] = NULL;
    }
    ws_cuda_event_free(r->ev_in);
    ws_cuda_event_free(r->ev_bwd);
    ws_cuda_event_free(r->ev_sync);
    ws_cuda_event_free(r->ev_end);
    ws_cuda_event_free(r->ev_upload);
    ws_cuda_event_free(r->ev_micro);
    r->ev_in = r->ev_bwd = r->ev_sync = r->ev_end = r->ev_upload = r->ev_micro = NULL;
    if (!on_cuda(r)) return;
    ws_mem_free(ex, r->d_stats, sizeof(wsi_step_stats));
    ws_mem_free(ex, r->scaler.d_scale, sizeof(float));
    ws_mem_free(ex, r->scaler.d_found_inf, sizeof(int));
    r->d_stats = NULL;
    r->scaler.d_scale = NULL;
    r->scaler.d_found_inf = NULL;
}

void wsi_step_free(wsi_run *r) {
    const ws_exec *ex = &r->ex;
    wsi_upload_close(r->upload); /* gives its batches back: before the loader closes */
    r->upload = NULL;
    ws_loader_close(r->loader);
    ws_loader_close(r->val_loader);
    r->loader = r->val_loader = NULL;
    wsi_step_frame_free(r);
    const size_t lbs = (size_t)r->o.local_batch, k = r->model ? (size_t)r->model->classes : 0;
    const size_t esz = ws_dtype_size(ws_act_dtype(ex->precision));
    ws_mem_free(ex, r->d_probs, lbs * k * sizeof(float));
    ws_mem_free(ex, r->d_dlogits, lbs * k * esz);
    if (on_cuda(r)) {
        ws_mem_free(ex, r->d_x, lbs * r->in_count * esz);
        ws_mem_free(ex, r->d_eval_in, r->eval_in_bytes);
        ws_mem_free(ex, r->d_labels, lbs * sizeof(int32_t));
        ws_mem_free(ex, r->d_indices, lbs * sizeof(int64_t));
    }
    ws_mem_host_free(ex, r->h_x);
    ws_mem_host_free(ex, r->h_labels);
    ws_mem_host_free(ex, r->h_indices);
    ws_mem_host_free(ex, r->h_stats);
}

/* Synthetic samples h_indices[0..n) of ds generated on the GPU into d_x, their labels into
 * d_labels (enqueued). */
static ws_status synthetic_batch(wsi_run *r, const ws_dataset *ds, int split, size_t n, ws_error *err) {
    const ws_dataset_info *di = ws_dataset_info_get(ds);
    ws_status st = ws_dataset_load(ds, r->h_indices, n, NULL, r->h_labels, err);
    if (st != WS_OK) return st;
    ws_mem_upload_async(&r->ex, r->d_indices, r->h_indices, n * sizeof(int64_t));
    ws_mem_upload_async(&r->ex, r->d_labels, r->h_labels, n * sizeof(int32_t));
    st = ws_synthetic_fill_device(&r->ex, r->d_x, r->d_indices, r->d_labels, (int)n, di->c, di->h, di->w, r->o.seed,
                                  split, 0.5f);
    return st == WS_OK ? WS_OK : wsi_error(err, st, "synthetic data on the GPU failed");
}

/* CUDA: n samples of ds in a loader's format (src in device memory) into the model's input
 * d_x, in the run's layout and storage type: uint8 NHWC normalised with the dataset's
 * per-channel mean and std, or fp32 NCHW (already normalised) converted. Enqueued. */
static ws_status convert_batch(wsi_run *r, const ws_dataset *ds, const void *src, size_t n, ws_error *err) {
    const ws_dataset_info *di = ws_dataset_info_get(ds);
    ws_status st;
    if (r->loader_u8) {
        float mean[8], std[8];
        for (int c = 0; c < di->c && c < 8; c++) {
            mean[c] = (float)di->norm_mean[c];
            std[c] = (float)di->norm_std[c];
        }
        st = ws_convert_input_u8(&r->ex, r->d_x, src, (int)n, di->c, di->h, di->w, mean, std);
    } else {
        st = ws_convert_input(&r->ex, r->d_x, src, (int)n, di->c, di->h, di->w);
    }
    return st == WS_OK ? WS_OK : wsi_error(err, st, "input conversion failed");
}

/* The loader's batch must be the one this micro-batch of this step trains on: a guard
 * on the loader's runs (wsi_step_begin_epoch) and on what was uploaded ahead. */
static ws_status check_batch(const wsi_run *r, int micro, size_t n, uint64_t epoch, size_t seq, ws_error *err) {
    size_t want = (size_t)r->st.step_in_epoch * (size_t)r->o.accum + (size_t)micro;
    if (n == 0)
        return wsi_error(err, WS_ESTATE, "data loader: no batch for epoch %d step %ld (loader run too short)",
                         r->st.epoch + 1, r->st.step_in_epoch + 1);
    if (epoch != (uint64_t)r->st.epoch || seq != want)
        return wsi_error(err, WS_ESTATE, "data loader: batch %zu of epoch %llu came for batch %zu of epoch %d (its "
                         "runs are out of step with training)", seq, (unsigned long long)epoch + 1, want,
                         r->st.epoch + 1);
    return WS_OK;
}

/* CUDA: the uploaded batch into the model's input d_x (converted to the run's layout and
 * storage type) and d_labels, on the compute stream. The conversion writes the one buffer
 * the step's CUDA graph reads, from whichever upload slot the batch came in. */
static ws_status load_uploaded(wsi_run *r, int micro, size_t *n_out, double *wait_s, ws_error *err) {
    wsi_device_batch db;
    ws_status st = wsi_upload_next(r->upload, &db, err);
    if (st != WS_OK) return st;
    if ((st = check_batch(r, micro, db.n, db.epoch, db.seq, err)) != WS_OK) {
        wsi_upload_done(r->upload);
        return st;
    }
    size_t n = db.n;
    *n_out = n;
    *wait_s += db.loader_wait_s;
    /* the step's GPU time starts here, with the conversion (train_step_cuda) */
    if (micro == 0) ws_cuda_event_record(r->cuda, r->ev_in);
    ws_mem_copy(&r->ex, r->d_labels, db.labels, n * sizeof(int32_t));
    st = convert_batch(r, r->train, db.x, n, err);
    wsi_upload_done(r->upload);
    return st;
}

/* Micro-batch `micro` of the current step into d_x and d_labels: the loader's next batch
 * (decoded ahead; on CUDA uploaded ahead too, load_uploaded), or made directly (synthetic
 * samples on the GPU). *wait_s: how long the step waited for the loader. */
ws_status wsi_classify_load_micro(wsi_run *r, int micro, size_t *n_out, double *wait_s, ws_error *err) {
    if (!r->loader) { /* synthetic samples generated on the GPU (open_loader) */
        size_t n = ws_sampler_batch(r->train_samplers[micro], (uint64_t)r->st.epoch, (size_t)r->st.step_in_epoch,
                                    r->h_indices);
        *n_out = n;
        return synthetic_batch(r, r->train, 0, n, err);
    }
    if (r->upload) return load_uploaded(r, micro, n_out, wait_s, err);
    ws_batch *b = NULL;
    ws_status st = ws_loader_next(r->loader, &b, err);
    if (st == WS_OK) st = check_batch(r, micro, b ? b->n : 0, b ? b->epoch : 0, b ? b->seq : 0, err);
    if (st != WS_OK) {
        ws_loader_release(r->loader, b);
        return st;
    }
    size_t n = b->n;
    *n_out = n;
    *wait_s += b->wait_s;
    memcpy(r->h_x, b->x, n * r->in_count * sizeof(float));
    memcpy(r->h_labels, b->labels, n * sizeof(int32_t));
    ws_loader_release(r->loader, b);
    return WS_OK;
}

static void on_grads_ready(void *ctx, size_t offset, size_t count) {
    wsi_run *r = ctx;
    ws_error e = {0};
    if (ws_grad_sync_ready(r->sync, offset, count, &e) != WS_OK) ws_fatal("gradient all-reduce: %s", e.msg);
}

void wsi_step_sync_begin(wsi_run *r, ws_model *m, int last) {
    int sync = last && r->sync;
    m->grads_ready = sync ? on_grads_ready : NULL;
    m->grads_ready_ctx = r;
    if (sync) ws_grad_sync_begin(r->sync);
}

void wsi_step_sync_end(ws_model *m) { m->grads_ready = NULL; }

/* Forward, loss and backward of one micro-batch of n samples already in d_x. */
ws_status wsi_classify_compute_micro(wsi_run *r, int micro, size_t n, int last, ws_error *err) {
    ws_model *m = r->model;
    const void *logits;
    ws_status st = ws_model_forward(m, &r->ex, r->d_x, (int)n, 1, &logits, err);
    if (st != WS_OK) return st;
    st = ws_softmax_xent_forward(&r->ex, (int)n, m->classes, &r->d_stats->loss[micro], r->d_probs, logits, r->d_labels,
                                 r->o.label_smoothing);
    if (st == WS_OK) st = ws_topk_count(&r->ex, (int)n, m->classes, logits, r->d_labels, 1, &r->d_stats->correct);
    /* mean over the global batch: each micro-batch carries 1/(n x accum) */
    if (st == WS_OK)
        st = ws_softmax_xent_backward(&r->ex, (int)n, m->classes, r->d_dlogits, r->d_probs, r->d_labels,
                                      r->o.label_smoothing, 1.0f / ((float)n * (float)r->o.accum));
    if (st == WS_OK && r->scaler.enabled)
        st = ws_amp_scale(&r->ex, r->d_dlogits, n * (size_t)m->classes, r->scaler.d_scale);
    if (st != WS_OK) return wsi_error(err, st, "loss failed");
    /* the last micro-batch's gradients are final as backward produces them: reduce
     * them meanwhile */
    wsi_step_sync_begin(r, m, last);
    st = ws_model_backward(m, &r->ex, r->d_dlogits, (int)n, err);
    wsi_step_sync_end(m);
    return st;
}

/* After backward: the all-reduce's end (CPU: blocking; CUDA: the compute stream waits for
 * the NCCL stream), unscaling, the optimizer. */
static ws_status finish_and_update(wsi_run *r, ws_error *err) {
    ws_model *m = r->model;
    if (r->sync) {
        ws_status st = ws_grad_sync_finish(r->sync, err);
        if (st != WS_OK) return st;
    }
    if (r->cuda && !ws_cuda_capturing(r->cuda)) ws_cuda_event_record(r->cuda, r->ev_sync);
    if (r->scaler.enabled) {
        ws_status st = ws_amp_unscale_check(&r->ex, m->grads, m->n_params, r->scaler.d_scale, r->scaler.d_found_inf);
        if (st != WS_OK) return wsi_error(err, st, "gradient unscaling failed");
    }
    ws_optim_enqueue(r->optim, m->params, m->grads);
    return WS_OK;
}

/* A step's start on the GPU: gradients, results and the overflow flag zeroed. */
static void zero_step(wsi_run *r) {
    ws_model *m = r->model;
    ws_mem_zero(&r->ex, m->grads, m->n_params * sizeof(float));
    ws_mem_zero(&r->ex, r->d_stats, sizeof(wsi_step_stats));
    if (r->scaler.enabled) ws_mem_zero(&r->ex, r->scaler.d_found_inf, sizeof(int));
}

/* The CUDA part of micro-batch `micro` of a step that its graph holds: the first zeroes the
 * gradients and results, the last runs the optimizer. */
static ws_status graph_body(wsi_run *r, int micro, size_t n, ws_error *err) {
    const int last = micro == r->o.accum - 1;
    if (micro == 0) zero_step(r);
    ws_status st = r->task->compute_micro(r, micro, n, last, err);
    if (st == WS_OK && last) st = finish_and_update(r, err);
    return st;
}

/* Captured at the first step, replayed after. Every micro-batch of a run has the same n
 * (the samplers drop the last partial batch), and the graphs read the batch buffers, which
 * stay where they are. */
static ws_status run_graph(wsi_run *r, int micro, size_t n, ws_error *err) {
    ws_cuda_graph **slot = &r->graphs[micro];
    if (!*slot && !r->graph_failed) {
        ws_status st = ws_cuda_graph_begin(r->cuda, err);
        if (st != WS_OK) return st;
        st = graph_body(r, micro, n, err);
        ws_cuda_graph *g = NULL;
        ws_error gerr = {0};
        ws_status gst = ws_cuda_graph_end(r->cuda, &g, &gerr);
        if (st != WS_OK) {
            ws_cuda_graph_free(g);
            return st;
        }
        if (gst != WS_OK) {
            /* not capturable here: run eagerly from now on, and say so once */
            ws_log(WS_LOG_WARN, "CUDA graph capture failed (%s); steps run eagerly", gerr.msg);
            r->graph_failed = 1;
        } else {
            *slot = g;
            if (micro == r->o.accum - 1)
                ws_log(WS_LOG_INFO, "CUDA graph%s captured: %d launch%s per step of %d x %zu samples",
                       r->o.accum > 1 ? "s" : "", r->o.accum, r->o.accum > 1 ? "es" : "", r->o.accum, n);
        }
    }
    if (*slot) return ws_cuda_graph_launch(r->cuda, *slot, err);
    return graph_body(r, micro, n, err);
}

/* fp16: a step with inf/NaN gradients was skipped by the optimizer; adjust the scale. */
static void scaler_update(wsi_run *r) {
    wsi_scaler *s = &r->scaler;
    if (!s->enabled) return;
    if (r->h_stats->found_inf) {
        ws_optim_unstep(r->optim);
        s->scale *= 0.5f;
        s->good_steps = 0;
        s->skipped++;
        ws_log(WS_LOG_DEBUG, "fp16: overflow, step skipped, loss scale now %g", s->scale);
    } else if (++s->good_steps >= 2000) {
        s->scale *= 2.0f;
        s->good_steps = 0;
    }
}

/* The reference path: synchronous ops, host clocks (as before the CUDA backend). */
static ws_status train_step_cpu(wsi_run *r, double lr, double *loss_out, double *correct_out, double *samples_out,
                                double *data_s, double *compute_s, ws_error *err) {
    ws_model *m = r->model;
    ws_mem_zero(&r->ex, m->grads, m->n_params * sizeof(float));
    ws_mem_zero(&r->ex, r->d_stats, sizeof(wsi_step_stats));
    double loss_sum = 0, samples = 0;
    for (int micro = 0; micro < r->o.accum; micro++) {
        double t0 = ws_now_s(), waited = 0;
        ws_meter_phase_enter(r->meter, r->phase_data);
        size_t n = 0;
        ws_status st = r->task->load_micro(r, micro, &n, &waited, err);
        if (st != WS_OK) return st;
        double t1 = ws_now_s();
        ws_meter_phase_enter(r->meter, r->phase_compute);
        st = r->task->compute_micro(r, micro, n, micro == r->o.accum - 1, err);
        if (st != WS_OK) return st;
        loss_sum += (r->h_stats->loss[micro] + r->h_stats->loss_step2[micro]) * (double)n;
        samples += (double)n;
        *data_s += t1 - t0;
        *compute_s += ws_now_s() - t1;
    }
    double t2 = ws_now_s();
    if (r->sync) {
        /* communication time: blocked in finish, plus the MPI progress made inside the
         * ready() calls during backward (on the CPU, OpenMPI reduces there) */
        double w0 = ws_grad_sync_wait_s(r->sync), p0 = ws_grad_sync_ready_s(r->sync);
        ws_meter_phase_enter(r->meter, r->phase_comm);
        ws_status st = ws_grad_sync_finish(r->sync, err);
        ws_meter_phase_enter(r->meter, r->phase_compute);
        if (st != WS_OK) return st;
        r->st.ep_comm_s += ws_grad_sync_wait_s(r->sync) - w0 + ws_grad_sync_ready_s(r->sync) - p0;
    }
    if (!isfinite(loss_sum))
        return wsi_error(err, WS_EINVAL,
                         "training diverged: loss is %g at epoch %d step %ld (lower --lr, or check the data)",
                         loss_sum, r->st.epoch + 1, r->st.step_in_epoch);
    ws_optim_step(r->optim, m->params, m->grads, lr);
    ws_meter_phase_enter(r->meter, 0);
    *compute_s += ws_now_s() - t2;
    *loss_out = loss_sum;
    *correct_out = r->h_stats->correct;
    *samples_out = samples;
    return WS_OK;
}

/* The GPU path: everything enqueued, one wait per step (per phase when eager), GPU clocks. */
static ws_status train_step_cuda(wsi_run *r, double lr, double *loss_out, double *correct_out, double *samples_out,
                                 double *data_s, double *compute_s, ws_error *err) {
    const int graph = r->use_graph;
    size_t micro_n[64];
    double samples = 0;
    ws_status st;
    ws_optim_prepare(r->optim, lr);
    if (r->scaler.enabled) {
        float sc = r->scaler.scale; /* pageable source: copied before the call returns */
        ws_mem_upload_async(&r->ex, r->scaler.d_scale, &sc, sizeof sc);
    }
    for (int micro = 0; micro < r->o.accum; micro++) {
        double t0 = ws_now_s();
        ws_meter_phase_enter(r->meter, r->phase_data);
        /* the pinned batch buffers are refilled only once the previous upload is done (the
         * upload slots keep their own order: train/upload.h) */
        if (micro > 0 && !r->upload) ws_cuda_event_sync(r->ev_upload);
        size_t n = 0;
        double waited = 0;
        if ((st = r->task->load_micro(r, micro, &n, &waited, err)) != WS_OK) return st;
        micro_n[micro] = n;
        if (!r->upload) ws_cuda_event_record(r->cuda, r->ev_upload);
        *data_s += ws_now_s() - t0;
        ws_meter_phase_enter(r->meter, r->phase_compute);
        /* with upload slots, load_micro recorded ev_in before the input conversion */
        if (micro == 0 && !r->upload) ws_cuda_event_record(r->cuda, r->ev_in);
        if (graph) {
            st = run_graph(r, micro, n, err);
        } else {
            if (micro == 0) zero_step(r);
            st = r->task->compute_micro(r, micro, n, micro == r->o.accum - 1, err);
        }
        if (st != WS_OK) return st;
        samples += (double)n;
        /* the next micro-batch's upload overlaps this one's forward and backward */
        if (r->upload && micro < r->o.accum - 1) {
            ws_cuda_event_record(r->cuda, r->ev_micro);
            if ((st = wsi_upload_ahead(r->upload, r->ev_micro, err)) != WS_OK) return st;
        }
    }
    if (!graph) {
        ws_cuda_event_record(r->cuda, r->ev_bwd);
        if ((st = finish_and_update(r, err)) != WS_OK) return st;
    }
    /* the overflow flag rides back with the other scalars */
    if (r->scaler.enabled)
        ws_mem_copy(&r->ex, &r->d_stats->found_inf, r->scaler.d_found_inf, sizeof(int));
    ws_mem_download_async(&r->ex, r->h_stats, r->d_stats, sizeof(wsi_step_stats));
    ws_cuda_event_record(r->cuda, r->ev_end);
    /* the next step's first batch goes up while this step computes; eagerly only until
     * backward ends, after which the host times the all-reduce wait */
    if (r->upload && (st = wsi_upload_ahead(r->upload, graph ? r->ev_end : r->ev_bwd, err)) != WS_OK) return st;
    double compute, comm = 0;
    if (graph) {
        ws_cuda_event_sync(r->ev_end);
        compute = ws_cuda_event_elapsed_s(r->ev_in, r->ev_end);
    } else {
        ws_cuda_event_sync(r->ev_bwd);
        ws_meter_phase_enter(r->meter, r->phase_comm);
        ws_cuda_event_sync(r->ev_sync);
        ws_meter_phase_enter(r->meter, r->phase_compute);
        ws_cuda_event_sync(r->ev_end);
        comm = ws_cuda_event_elapsed_s(r->ev_bwd, r->ev_sync);
        compute = ws_cuda_event_elapsed_s(r->ev_in, r->ev_bwd) + ws_cuda_event_elapsed_s(r->ev_sync, r->ev_end);
    }
    ws_meter_phase_enter(r->meter, 0);
    if ((st = ws_exec_sync(&r->ex, err)) != WS_OK) return st;
    *compute_s += compute;
    r->st.ep_comm_s += comm;
    r->gpu_compute_s += compute;
    r->gpu_comm_s += comm;
    scaler_update(r);
    double loss_sum = 0;
    for (int micro = 0; micro < r->o.accum; micro++)
        loss_sum += (r->h_stats->loss[micro] + r->h_stats->loss_step2[micro]) * (double)micro_n[micro];
    if (!isfinite(loss_sum) && !r->h_stats->found_inf)
        return wsi_error(err, WS_EINVAL,
                         "training diverged: loss is %g at epoch %d step %ld (lower --lr, or check the data)",
                         loss_sum, r->st.epoch + 1, r->st.step_in_epoch);
    *loss_out = loss_sum;
    *correct_out = r->h_stats->correct;
    *samples_out = samples;
    return WS_OK;
}

ws_status wsi_train_step(wsi_run *r, double lr, double *loss_out, double *correct_out, double *samples_out,
                         double *data_s, double *compute_s, ws_error *err) {
    if (on_cuda(r)) return train_step_cuda(r, lr, loss_out, correct_out, samples_out, data_s, compute_s, err);
    return train_step_cpu(r, lr, loss_out, correct_out, samples_out, data_s, compute_s, err);
}

/* ---- evaluation ---- */

ws_status wsi_eval_begin(wsi_run *r, size_t batches, ws_error *err) {
    if (!r->val_loader || batches == 0) return WS_OK;
    return ws_loader_start(r->val_loader, 0, 0, batches, err);
}

/* An evaluation batch of n samples in host memory, in eval_format, as the model's input
 * (*x) and labels (*labels): on the CPU the samples themselves; on CUDA uploaded into
 * d_eval_in and converted into d_x, the labels into d_labels (enqueued: the host buffers
 * must stay until the stream has passed). */
static ws_status eval_input(wsi_run *r, const void *host_x, const int32_t *host_labels, size_t n, const void **x,
                            const int32_t **labels, ws_error *err) {
    if (!on_cuda(r)) {
        *x = host_x;
        *labels = host_labels;
        return WS_OK;
    }
    ws_mem_upload_async(&r->ex, r->d_eval_in, host_x, n * ws_dataset_sample_bytes(r->val, eval_format(r)));
    ws_mem_upload_async(&r->ex, r->d_labels, host_labels, n * sizeof(int32_t));
    *x = r->d_x;
    *labels = r->d_labels;
    return convert_batch(r, r->val, r->d_eval_in, n, err);
}

/* The direct path: batch seq's samples loaded here, on the training thread, into h_x (the
 * same samples the validation loader makes: same format, epoch 0). */
static ws_status eval_load_direct(wsi_run *r, size_t seq, size_t *n_out, const void **x, const int32_t **labels,
                                  ws_error *err) {
    size_t n = ws_sampler_batch(r->val_sampler, 0, seq, r->h_indices);
    *n_out = n;
    if (n == 0)
        return wsi_error(err, WS_ESTATE, "evaluation: validation batch %zu is empty (past the sampler's end)", seq + 1);
    if (r->synthetic_on_device) {
        *x = r->d_x;
        *labels = r->d_labels;
        return synthetic_batch(r, r->val, 1, n, err);
    }
    ws_load_opts lo = ws_load_opts_default();
    lo.format = eval_format(r);
    ws_status st = ws_dataset_load_ex(r->val, r->h_indices, n, &lo, r->h_x, r->h_labels, err);
    return st == WS_OK ? eval_input(r, r->h_x, r->h_labels, n, x, labels, err) : st;
}

static ws_status eval_forward(wsi_run *r, const void *x, const int32_t *labels, size_t n, double sums[4],
                              ws_error *err) {
    ws_model *m = r->model;
    const void *logits;
    ws_status st = ws_model_forward(m, &r->ex, x, (int)n, 0, &logits, err);
    if (st != WS_OK) return st;
    st = ws_softmax_xent_forward(&r->ex, (int)n, m->classes, &r->d_stats->eval_loss, r->d_probs, logits, labels, 0.0f);
    if (st == WS_OK) st = ws_topk_count(&r->ex, (int)n, m->classes, logits, labels, 1, &r->d_stats->correct);
    if (st == WS_OK)
        st = ws_topk_count(&r->ex, (int)n, m->classes, logits, labels, m->classes >= 5 ? 5 : m->classes,
                           &r->d_stats->top5);
    if (st != WS_OK) return wsi_error(err, st, "evaluation loss failed");
    if (on_cuda(r)) {
        ws_mem_download_async(&r->ex, r->h_stats, r->d_stats, sizeof(wsi_step_stats));
        if ((st = ws_exec_sync(&r->ex, err)) != WS_OK) return st;
    }
    sums[0] += r->h_stats->eval_loss * (double)n;
    sums[1] += r->h_stats->correct;
    sums[2] += r->h_stats->top5;
    sums[3] += (double)n;
    return WS_OK;
}

ws_status wsi_eval_batch(wsi_run *r, size_t seq, double sums[4], double *data_s, ws_error *err) {
    ws_mem_zero(&r->ex, r->d_stats, sizeof(wsi_step_stats));
    const void *x = NULL;
    const int32_t *labels = NULL;
    size_t n = 0;
    ws_status st;
    if (!r->val_loader) {
        double t0 = ws_now_s();
        st = eval_load_direct(r, seq, &n, &x, &labels, err);
        *data_s += ws_now_s() - t0;
        return st == WS_OK ? eval_forward(r, x, labels, n, sums, err) : st;
    }
    ws_batch *b = NULL;
    st = ws_loader_next(r->val_loader, &b, err);
    if (st == WS_OK && (!b || b->seq != seq || b->n == 0))
        st = wsi_error(err, WS_ESTATE, "validation loader: %s for validation batch %zu (its run is out of step with "
                       "the evaluation)", b ? "another batch came" : "no batch came", seq + 1);
    if (st == WS_OK) {
        *data_s += b->wait_s;
        n = b->n;
        st = eval_input(r, b->x, b->labels, n, &x, &labels, err);
    }
    /* eval_forward waits for the GPU, so the batch's buffers are free to go back after it */
    if (st == WS_OK) st = eval_forward(r, x, labels, n, sums, err);
    ws_loader_release(r->val_loader, b);
    return st;
}
