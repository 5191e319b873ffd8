/* train/train.c - the training loop of `wattscale train`.
 * defines: ws_train_opts_default, ws_train_resolve_batches, ws_train_run (train/train.h).
 *
 * One global step = `accum` micro-batches of `local_batch` samples on each of `world`
 * ranks, then one gradient all-reduce (average, in buckets overlapped with the last
 * micro-batch's backward: dist/grad_sync.c) and one optimizer step. Micro-batch m of rank r
 * is "virtual rank" m*world + r of world*accum: the sampler gives it the interleaved share
 * of the global batch, so a global step sees the same samples, in the same micro-batches
 * (hence the same batch-norm statistics), however GBS is split into LBS x world x accum; one
 * process with --accum 2 reproduces two ranks. Each epoch is a meter region (on each node's
 * local rank 0, the only rank with sensors); rank 0 rewrites the run record after every
 * epoch, so a killed run keeps what it completed. What depends on the data, the model and the
 * loss (classification or forecasting) is the run's task (train/task.h): this loop, the
 * records, checkpoints and the meter are the same for both. */
#include "train/train.h"
#include "core/error.h"
#include "core/fileutil.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "data/dataset.h"
#include "data/sampler.h"
#include "dist/grad_sync.h"
#include "dist/world.h"
#include "models/afno.h"
#include "ops/cuda_ctx.h"
#include "ops/mem.h"
#include "train/checkpoint.h"
#include "train/meter_gpus.h"
#include "train/run.h"
#include "train/run_record.h"
#include "train/run_state.h"
#include "train/task.h"
#include "wattscale/energy.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* OpenBLAS (Debian's default build uses pthreads) would start its own threads inside each
 * of our OpenMP chunks; one BLAS thread per chunk avoids oversubscribing the cores. Weak:
 * absent with other BLAS libraries. */
extern void openblas_set_num_threads(int n) __attribute__((weak));
extern char *openblas_get_corename(void) __attribute__((weak));

/* OpenBLAS (DYNAMIC_ARCH) falls back to its oldest x86 kernels on a CPU model it does not
 * know, as in many VMs: on the 2-core CI machine ("Intel Xeon Processor", AVX2 and FMA)
 * it chose Prescott, and OPENBLAS_CORETYPE=Haswell trained an epoch in 7.2-7.9 instead of
 * 9.1-12.2 s (README, `wattscale train`). The core type is read when the library loads, before main:
 * all we can do is say so. */
static void warn_slow_blas_kernels(void) {
#if defined(__x86_64__) || defined(__i386__)
    if (!openblas_get_corename || getenv("OPENBLAS_CORETYPE")) return;
    const char *core = openblas_get_corename();
    static const char *old[] = {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom"};
    __builtin_cpu_init();
    if (!core || !__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return;
    for (size_t i = 0; i < sizeof old / sizeof old[0]; i++)
        if (!strcasecmp(core, old[i]))
            ws_log(WS_LOG_WARN, "OpenBLAS chose its %s kernels on a CPU with AVX2 and FMA (a CPU model it does not "
                   "recognise): CPU training runs slower; set OPENBLAS_CORETYPE=Haswell (or SkylakeX, Zen) before "
                   "starting wattscale", core);
#endif
}

ws_train_opts ws_train_opts_default(void) {
    ws_train_opts o;
    memset(&o, 0, sizeof o);
    snprintf(o.model, sizeof o.model, "resnet50");
    o.small_stem = -1;
    o.base_width = 64;
    snprintf(o.data, sizeof o.data, "synthetic");
    o.synthetic_count = 2560;
    o.synthetic_c = 3;
    o.synthetic_h = o.synthetic_w = 224;
    o.synthetic_classes = 1000;
    o.data_fraction = 1.0;
    o.upload_ahead = 1;
    o.crop_size = 224;
    o.resize_size = 256;
    o.crop_scale_min = 0.08;
    o.crop_scale_max = 1.0;
    o.dct_scaling = 1;
    o.accum = 0;
    o.epochs = 1;
    o.optim = ws_optim_opts_default(WS_OPT_SGD);
    o.lr = ws_lr_opts_default();
    o.device = WS_DEVICE_CPU;
    o.precision = WS_FP32;
    o.gpu = -1;
    o.cuda_graph = -1;
    o.timing_warmup_steps = 10;
    o.eval_every = 1;
    o.checkpoint_every = 1;
    o.meter_interval_ms = 100;
    o.meter_gpus = WS_METER_GPUS_USED;
    o.bucket_mb = 25;
    o.watchdog_s = 600;
    snprintf(o.out_dir, sizeof o.out_dir, "out/train");
    /* forecasting: FourCastNet's full AFNO, the grid and channels taken from the data */
    ws_afno_opts ao = ws_afno_opts_default();
    o.afno_patch = ao.patch;
    o.afno_embed = ao.embed;
    o.afno_depth = ao.depth;
    o.afno_blocks = ao.num_blocks;
    o.afno_sparsity = ao.sparsity_threshold;
    o.afno_hard_threshold = ao.hard_thresholding_fraction;
    o.afno_mlp_ratio = ao.mlp_ratio;
    o.forecast_steps = 1;
    return o;
}

ws_status ws_train_resolve_batches(ws_train_opts *o, int world, ws_error *err) {
    int g = o->global_batch, l = o->local_batch, a = o->accum;
    if (g < 0 || l < 0 || a < 0) return wsi_error(err, WS_EINVAL, "batch sizes and --accum must be positive");
    if (g && l && a) {
        if ((long)l * world * a != g)
            return wsi_error(err, WS_EINVAL,
                             "--global-batch %d != --local-batch %d x world %d x --accum %d: give any two of them", g, l,
                             world, a);
    } else if (g && l) {
        if (g % ((long)l * world))
            return wsi_error(err, WS_EINVAL, "--global-batch %d is not a multiple of --local-batch %d x world %d", g,
                             l, world);
        a = (int)(g / ((long)l * world));
    } else if (g && a) {
        if (g % ((long)a * world))
            return wsi_error(err, WS_EINVAL, "--global-batch %d is not a multiple of world %d x --accum %d", g, world,
                             a);
        l = (int)(g / ((long)a * world));
    } else if (l) {
        a = a ? a : 1;
        g = l * world * a;
    } else if (g) {
        a = 1;
        if (g % world) return wsi_error(err, WS_EINVAL, "--global-batch %d is not a multiple of world %d", g, world);
        l = g / world;
    } else {
        return wsi_error(err, WS_EINVAL, "give --global-batch or --local-batch");
    }
    o->global_batch = g;
    o->local_batch = l;
    o->accum = a;
    return WS_OK;
}

typedef wsi_run run; /* train/run.h */

static void run_free(run *r) {
    if (r->task) r->task->free(r);
    ws_meter_close(r->meter);
    if (r->power_csv) fclose(r->power_csv);
    if (r->step_log) fclose(r->step_log);
    ws_lr_close(r->lr);
    ws_optim_close(r->optim);
    ws_model_close(r->model);
    for (int i = 0; r->train_samplers && i < r->o.accum; i++) ws_sampler_close(r->train_samplers[i]);
    free(r->train_samplers);
    ws_sampler_close(r->val_sampler);
    ws_grad_sync_close(r->sync);
    ws_dataset_close(r->train);
    ws_dataset_close(r->val);
    free(r->st.rows);
    ws_cuda_ctx_close(r->cuda); /* last: everything above may hold its memory */
}

static ws_status open_optim(run *r, ws_error *err) {
    ws_model *m = r->model;
    ws_param_tensor *pt = calloc(m->n_tensors, sizeof *pt);
    if (!pt) return wsi_error(err, WS_ENOMEM, "optimizer: out of memory");
    size_t n = 0;
    for (size_t i = 0; i < m->n_tensors; i++) {
        if (m->tensors[i].is_buffer) continue;
        pt[n].offset = m->tensors[i].offset;
        pt[n].count = m->tensors[i].count;
        pt[n].no_decay = m->tensors[i].no_decay;
        n++;
    }
    ws_status st = ws_optim_open_on(&r->optim, &r->ex, &r->o.optim, pt, n, m->n_params, err);
    free(pt);
    if (st == WS_OK && m->params_work != (void *)m->params) ws_optim_set_work(r->optim, m->params_work, r->ex.precision);
    return st;
}

/* Sum of the measured devices' energy, by domain, and which sources they used. */
static void sum_energy(const ws_meter *m, const ws_device_energy *e, ws_epoch_row *row) {
    int counter = 0, integral = 0;
    row->has_energy = 0;
    row->energy_j = 0;
    for (int d = 0; d < WS_DOMAIN_COUNT; d++) {
        row->energy_by_domain_j[d] = 0;
        row->domain_measured[d] = 0;
    }
    for (size_t i = 0; i < ws_meter_device_count(m); i++) {
        if (e[i].source == WS_SOURCE_NONE) continue;
        ws_domain d = ws_meter_device(m, i)->domain;
        row->has_energy = 1;
        row->energy_j += e[i].energy_j;
        row->energy_by_domain_j[d] += e[i].energy_j;
        row->domain_measured[d] = 1;
        counter += e[i].source == WS_SOURCE_COUNTER;
        integral += e[i].source == WS_SOURCE_POWER_INTEGRAL;
    }
    snprintf(row->energy_source, sizeof row->energy_source, "%s",
             !row->has_energy ? "none" : (counter && integral) ? "mixed" : counter ? "counter" : "power_integral");
}

/* Rank 0's params or buffers to every rank (set-up, evaluation). The world's collectives
 * take host memory, so a GPU model goes through a host copy; a single rank does nothing. */
static ws_status bcast_model(run *r, int buffers, ws_error *err) {
    ws_model *m = r->model;
    if (r->world == 1) return WS_OK;
    size_t n = buffers ? m->n_buffers : m->n_params;
    if (!r->cuda) return ws_world_bcast_bytes(r->w, buffers ? m->buffers : m->params, n * sizeof(float), 0, err);
    float *host = malloc((n ? n : 1) * sizeof *host);
    if (!host) return wsi_error(err, WS_ENOMEM, "out of memory for a host copy of the model");
    ws_status st = buffers ? ws_model_get_buffers(m, host, err) : ws_model_get_params(m, host, err);
    if (st == WS_OK) st = ws_world_bcast_bytes(r->w, host, n * sizeof(float), 0, err);
    if (st == WS_OK) st = buffers ? ws_model_set_buffers(m, host, err) : ws_model_set_params(m, host, err);
    free(host);
    return st;
}

/* Every rank evaluates its shard with rank 0's buffers (batch-norm running statistics), as
 * PyTorch DDP (broadcast_buffers) does; the task scores it. */
static ws_status evaluate(run *r, ws_epoch_row *row, ws_error *err) {
    double t0 = ws_now_s();
    ws_status bst = bcast_model(r, 1, err);
    if (bst != WS_OK) return bst;
    ws_status st = r->task->evaluate(r, row, err);
    row->eval_s = ws_now_s() - t0; /* the row's eval_s (run_state.h) */
    return st;
}

static void progress(run *r, double lr, double step_loss, double elapsed_s, double samples) {
    ws_device_energy e[64];
    size_t n = ws_meter_device_count(r->meter);
    char energy[96] = "energy not measured";
    if (n > 0 && n <= 64 && ws_meter_read(r->meter, e, NULL) == WS_OK) {
        ws_epoch_row tmp;
        sum_energy(r->meter, e, &tmp);
        double t = ws_meter_elapsed_s(r->meter);
        if (tmp.has_energy)
            snprintf(energy, sizeof energy, "%.2f kJ %s, %.0f W, %.3g J/sample", tmp.energy_j / 1e3,
                     tmp.energy_source, t > 0 ? tmp.energy_j / t : 0.0,
                     r->st.total_samples > 0 ? tmp.energy_j / r->st.total_samples : 0.0);
    }
    ws_log(WS_LOG_INFO, "epoch %d step %ld/%ld | loss %.4f | lr %.4g | %.1f samples/s | %s", r->st.epoch + 1,
           r->st.step_in_epoch, r->steps_per_epoch, step_loss, lr, elapsed_s > 0 ? samples / elapsed_s : 0.0,
           energy);
}

/* Sums a row's energy over the nodes: only each node's local rank 0 has sensors, so no
 * device is counted twice. Collective: every rank calls it at the same point. */
static ws_status reduce_energy(run *r, double by[WS_DOMAIN_COUNT], int measured[WS_DOMAIN_COUNT], ws_error *err) {
    double v[2 * WS_DOMAIN_COUNT];
    for (int d = 0; d < WS_DOMAIN_COUNT; d++) {
        v[d] = by[d];
        v[WS_DOMAIN_COUNT + d] = measured[d];
    }
    ws_status st = ws_world_allreduce_sum_f64(r->w, v, 2 * WS_DOMAIN_COUNT, err);
    for (int d = 0; d < WS_DOMAIN_COUNT; d++) {
        by[d] = v[d];
        measured[d] = v[WS_DOMAIN_COUNT + d] > 0;
    }
    return st;
}

/* This session's energy so far on this node (zero off local rank 0). */
static void local_session_energy(run *r, double by[WS_DOMAIN_COUNT], int measured[WS_DOMAIN_COUNT]) {
    ws_epoch_row tmp;
    memset(&tmp, 0, sizeof tmp);
    size_t n = ws_meter_device_count(r->meter);
    ws_device_energy e[64];
    if (n > 0 && n <= 64 && ws_meter_read(r->meter, e, NULL) == WS_OK) sum_energy(r->meter, e, &tmp);
    for (int d = 0; d < WS_DOMAIN_COUNT; d++) {
        by[d] = tmp.energy_by_domain_j[d];
        measured[d] = tmp.domain_measured[d];
    }
}

/* What the record says of the GPU (rank 0's) and the data, refreshed before each write. */
static void device_facts(run *r) {
    ws_run_state *st = &r->st;
    if (r->train) {
        st->data_corrupt_files = (double)ws_dataset_corrupt_files(r->train);
        st->data_substituted = (double)ws_dataset_substituted(r->train);
    }
    if (r->loader) {
        ws_loader_totals lt = ws_loader_totals_get(r->loader);
        st->loader_wait_s = lt.wait_s;
        st->loader_decode_s = lt.decode_s;
        st->gpu_decoded = (double)lt.gpu_decoded;
        st->data_threads = r->o.data_threads;
        wsi_step_upload_facts(r, st);
    }
    if (!r->cuda) return;
    snprintf(st->device_name, sizeof st->device_name, "%s", ws_cuda_device_name(r->cuda));
    snprintf(st->device_uuid, sizeof st->device_uuid, "%s", ws_cuda_device_uuid(r->cuda));
    snprintf(st->device_versions, sizeof st->device_versions, "%s", ws_cuda_versions(r->cuda));
    st->device_peak_bytes = (double)ws_cuda_peak_bytes(r->cuda);
    st->conv_planning = ws_cuda_conv_planning_get(r->cuda);
    snprintf(st->conv_choices_file, sizeof st->conv_choices_file, "%s", st->conv_planning.choices_file);
    st->conv_planning.choices_file = NULL; /* the context's string: the copy above stays */
    st->cuda_graph = r->graphs[0] != NULL;
    st->gpu_compute_s = r->gpu_compute_s;
    st->gpu_comm_s = r->gpu_comm_s;
    st->loss_scale = r->scaler.scale;
    st->skipped_steps = r->scaler.skipped;
}

/* Collective: totals over nodes, per-node figures to rank 0; rank 0 writes run.json. */
static ws_status write_record(run *r, ws_error *err) {
    device_facts(r);
    double by[WS_DOMAIN_COUNT];
    int measured[WS_DOMAIN_COUNT];
    local_session_energy(r, by, measured);
    enum { ROW = 2 * WS_DOMAIN_COUNT + 1 }; /* energies, flags, node */
    double mine[ROW];
    for (int d = 0; d < WS_DOMAIN_COUNT; d++) {
        mine[d] = by[d];
        mine[WS_DOMAIN_COUNT + d] = measured[d];
    }
    mine[2 * WS_DOMAIN_COUNT] = ws_world_node(r->w);
    int size = ws_world_size(r->w);
    double *all = r->rank == 0 ? calloc((size_t)size * ROW, sizeof *all) : NULL;
    ws_status st = ws_world_gather_f64(r->w, mine, ROW, all, 0, err);
    if (st == WS_OK) st = reduce_energy(r, by, measured, err);
    if (st == WS_OK && r->rank == 0) {
        for (int d = 0; d < WS_DOMAIN_COUNT; d++) {
            r->st.session_energy_by_domain_j[d] = by[d];
            r->st.session_domain_measured[d] = measured[d];
        }
        if (all && r->st.node_energy) {
            memset(r->st.node_energy, 0, (size_t)r->st.nodes * 2 * WS_DOMAIN_COUNT * sizeof(double));
            for (int k = 0; k < size; k++) {
                const double *g = all + (size_t)k * ROW;
                int node = (int)g[2 * WS_DOMAIN_COUNT];
                if (node < 0 || node >= r->st.nodes) continue;
                for (int d = 0; d < 2 * WS_DOMAIN_COUNT; d++) r->st.node_energy[(size_t)node * 2 * WS_DOMAIN_COUNT + d] += g[d];
            }
        }
        char path[600];
        snprintf(path, sizeof path, "%s/run.json", r->o.out_dir);
        st = wsi_run_record_write(path, &r->o, r->model, r->meter, &r->st,
                                  r->st.prior_time_s + (ws_now_s() - r->t_session0), err);
    }
    free(all);
    return st;
}

/* Collective (the energy sum); rank 0 writes: the parameters are the same on every rank,
 * and rank 0's BN statistics are the ones evaluation uses. */
static ws_status save_checkpoint(run *r, ws_error *err) {
    double by[WS_DOMAIN_COUNT];
    int measured[WS_DOMAIN_COUNT];
    local_session_energy(r, by, measured);
    ws_status st = reduce_energy(r, by, measured, err);
    if (st != WS_OK || r->rank != 0) return st;
    char path[600];
    snprintf(path, sizeof path, "%s/checkpoint.wstf", r->o.out_dir);
    ws_run_state copy = r->st;
    copy.prior_time_s = r->st.prior_time_s + (ws_now_s() - r->t_session0);
    /* energy of this session so far joins the prior totals in the saved copy */
    for (int d = 0; d < WS_DOMAIN_COUNT; d++) {
        copy.prior_energy_by_domain_j[d] += by[d];
        copy.prior_domain_measured[d] |= measured[d];
    }
    return wsi_checkpoint_save(path, &r->o, r->model, r->optim, r->lr, &copy, err);
}

/* Cumulative energy attributed to each phase (other, data, compute, all-reduce wait), summed
 * over this node's devices. */
static void phase_totals(run *r, double out[4]) {
    size_t n = ws_meter_device_count(r->meter);
    double e[64];
    int ids[4] = {0, r->phase_data, r->phase_compute, r->phase_comm};
    for (int k = 0; k < 4; k++) {
        out[k] = 0;
        if (n == 0 || n > 64 || ids[k] < 0 || ws_meter_phase_energy(r->meter, ids[k], e, NULL, NULL) != WS_OK) continue;
        for (size_t i = 0; i < n; i++) out[k] += e[i];
    }
}

/* Steady state: a meter region from the end of step (session start + timing_warmup_steps)
 * to the end of the last training step, so that one-off costs (cuDNN's algorithm search,
 * graph capture, first-touch of memory) stay out of samples/s and J/sample. Collective at
 * its end (the energy is summed over nodes). */
typedef struct {
    int region;
    long step0;
    double t0, samples0, data0;
} steady_window;

/* This rank's data-phase seconds so far: the rows' and the epoch in progress' (between
 * steps, before its row is added). */
static double data_so_far(const run *r) {
    double s = r->st.ep_data_s;
    for (size_t i = 0; i < r->st.n_rows; i++) s += r->st.rows[i].data_s;
    return s;
}

static void steady_begin(run *r, steady_window *sw) {
    sw->region = -1;
    ws_meter_region_begin(r->meter, "steady", &sw->region, NULL);
    sw->step0 = r->st.total_steps;
    sw->t0 = ws_now_s();
    sw->samples0 = r->st.total_samples;
    sw->data0 = data_so_far(r);
}

static ws_status steady_end(run *r, steady_window *sw, ws_error *err) {
    ws_run_state *st = &r->st;
    ws_meter_region_end(r->meter, sw->region, NULL);
    st->steady_done = 1;
    st->steady_from = sw->step0;
    st->steady_steps = st->total_steps - sw->step0;
    st->steady_time_s = ws_now_s() - sw->t0;
    st->steady_samples = st->total_samples - sw->samples0;
    st->steady_data_s = data_so_far(r) - sw->data0;
    ws_epoch_row row;
    memset(&row, 0, sizeof row);
    size_t nd = ws_meter_device_count(r->meter);
    ws_device_energy e[64];
    if (nd > 0 && nd <= 64 && ws_meter_region_energy(r->meter, sw->region, e, NULL) == WS_OK) sum_energy(r->meter, e, &row);
    else snprintf(row.energy_source, sizeof row.energy_source, "none");
    ws_status rs = reduce_energy(r, row.energy_by_domain_j, row.domain_measured, err);
    if (rs != WS_OK) return rs;
    st->steady_has_energy = 0;
    st->steady_energy_j = 0;
    for (int d = 0; d < WS_DOMAIN_COUNT; d++)
        if (row.domain_measured[d]) {
            st->steady_energy_j += row.energy_by_domain_j[d];
            st->steady_has_energy = 1;
        }
    snprintf(st->steady_energy_source, sizeof st->steady_energy_source, "%s", row.energy_source);
    if (!r->o.quiet && st->steady_time_s > 0) {
        char energy[96] = "energy not measured";
        if (st->steady_has_energy)
            snprintf(energy, sizeof energy, "%.4g J/sample (%s)", st->steady_energy_j / st->steady_samples,
                     st->steady_energy_source);
        ws_log(WS_LOG_INFO, "steady state (steps %ld-%ld): %.1f samples/s, %s", sw->step0 + 1, st->total_steps,
               st->steady_samples / st->steady_time_s, energy);
    }
    return WS_OK;
}

/* WATTSCALE_CUDA_PROFILE_STEPS=FIRST:COUNT (steps counted from 0 in this session): the CUDA
 * profiler's range covers those steps only (ncu --profile-from-start off, nsys
 * --capture-range=cudaProfilerApi), so a kernel table shows steady steps, not start-up. */
static void profiler_range(run *r, long step, long *first, long *count) {
    if (!r->cuda) return;
    if (*first == -2) {
        const char *v = getenv("WATTSCALE_CUDA_PROFILE_STEPS");
        *first = -1;
        if (v && *v) {
            char *end;
            long f = strtol(v, &end, 10), n = *end == ':' ? strtol(end + 1, &end, 10) : 1;
            if (*end || f < 0 || n < 1) ws_log(WS_LOG_WARN, "WATTSCALE_CUDA_PROFILE_STEPS=%s: want FIRST:COUNT; ignored", v);
            else *first = f, *count = n;
        }
    }
    if (*first < 0) return;
    if (step == *first) ws_cuda_profiler_start(r->cuda);
    if (step == *first + *count) ws_cuda_profiler_stop(r->cuda);
}

static ws_status run_epochs(run *r, ws_error *err) {
    const ws_train_opts *o = &r->o;
    long prof_first = -2, prof_count = 0, session_steps = 0;
    long total_limit = o->steps > 0 ? o->steps : (long)o->epochs * r->steps_per_epoch;
    steady_window sw = {-1, 0, 0, 0, 0};
    const long steady_at = r->st.total_steps + (o->timing_warmup_steps > 0 ? o->timing_warmup_steps : 0);
    if (steady_at == r->st.total_steps && steady_at < total_limit) steady_begin(r, &sw);
    int last_epoch = o->steps > 0 ? (int)((o->steps + r->steps_per_epoch - 1) / r->steps_per_epoch) : o->epochs;
    double last_log = ws_now_s();
    double log_samples = 0, log_t0 = ws_now_s();
    while (r->st.epoch < last_epoch && r->st.total_steps < total_limit) {
        int region = -1;
        {
            long left = r->steps_per_epoch - r->st.step_in_epoch, cap = total_limit - r->st.total_steps;
            ws_status lst = wsi_step_begin_epoch(r, left < cap ? left : cap, err);
            if (lst != WS_OK) return lst;
        }
        ws_meter_region_begin(r->meter, "epoch", &region, NULL);
        phase_totals(r, r->st.phase_mark_j);
        double t_epoch0 = ws_now_s();
        double lr = 0;
        while (r->st.step_in_epoch < r->steps_per_epoch && r->st.total_steps < total_limit) {
            lr = ws_lr_at(r->lr, r->st.epoch + (double)r->st.step_in_epoch / (double)r->steps_per_epoch);
            double loss = 0, correct = 0, samples = 0;
            profiler_range(r, session_steps++, &prof_first, &prof_count);
            ws_status st = wsi_train_step(r, lr, &loss, &correct, &samples, &r->st.ep_data_s, &r->st.ep_compute_s, err);
            if (st != WS_OK) return st;
            if (o->step_log[0]) {
                double v[2] = {loss, samples};
                ws_status lst = ws_world_allreduce_sum_f64(r->w, v, 2, err);
                if (lst != WS_OK) return lst;
                if (r->step_log) fprintf(r->step_log, "%d,%ld,%.9g,%.9g\n", r->st.epoch + 1, r->st.step_in_epoch + 1,
                                         v[0] / v[1], lr);
            }
            r->st.ep_loss_sum += loss;
            r->st.ep_correct += correct;
            r->st.ep_samples += samples;
            r->st.ep_steps++;
            r->st.total_samples += samples * r->world; /* every rank trains an equal share (drop_last) */
            r->st.total_steps++;
            r->st.step_in_epoch++;
            ws_world_heartbeat(r->w);
            if (sw.region < 0 && r->st.total_steps == steady_at && steady_at < total_limit) steady_begin(r, &sw);
            if (sw.region >= 0 && !r->st.steady_done && r->st.total_steps == total_limit) {
                ws_status sst = steady_end(r, &sw, err);
                if (sst != WS_OK) return sst;
            }
            log_samples += samples;
            double now = ws_now_s();
            int due = o->log_every > 0 ? (r->st.step_in_epoch % o->log_every == 0) : (now - last_log >= 10.0);
            if (!o->quiet && due) {
                progress(r, lr, loss / samples, now - log_t0, log_samples);
                last_log = now;
                log_t0 = now;
                log_samples = 0;
            }
        }
        int epoch_done = r->st.step_in_epoch >= r->steps_per_epoch;
        r->st.ep_time_s += ws_now_s() - t_epoch0;
        ws_meter_region_end(r->meter, region, NULL);
        /* the phases' split covers the epoch's region, taken before the all-reduces below,
         * whose wait for slower ranks would otherwise land in "other" beyond the region */
        double phase_now[4];
        phase_totals(r, phase_now);
        ws_epoch_row row;
        memset(&row, 0, sizeof row);
        row.epoch = r->st.epoch + 1;
        row.steps = r->st.ep_steps;
        row.skill.channels = r->st.fc_channels; /* a forecast's row, evaluated or not */
        double sums[3] = {r->st.ep_loss_sum, r->st.ep_correct, r->st.ep_samples};
        ws_status rst = ws_world_allreduce_sum_f64(r->w, sums, 3, err);
        if (rst != WS_OK) return rst;
        row.samples = sums[2];
        row.train_loss = sums[2] > 0 ? sums[0] / sums[2] : NAN;
        row.train_top1 = sums[2] > 0 ? sums[1] / sums[2] : NAN;
        row.comm_s = r->st.ep_comm_s;
        row.lr = lr;
        row.time_s = r->st.ep_time_s;
        row.data_s = r->st.ep_data_s;
        row.compute_s = r->st.ep_compute_s;
        size_t nd = ws_meter_device_count(r->meter);
        ws_device_energy e[64];
        if (nd > 0 && nd <= 64 && ws_meter_region_energy(r->meter, region, e, NULL) == WS_OK)
            sum_energy(r->meter, e, &row);
        else
            snprintf(row.energy_source, sizeof row.energy_source, "none");
        for (int k = 0; k < 4; k++) row.phase_energy_j[k] = phase_now[k] - r->st.phase_mark_j[k];
        if (r->world > 1) {
            rst = ws_world_allreduce_sum_f64(r->w, row.phase_energy_j, 4, err);
            if (rst != WS_OK) return rst;
            /* the sources of rank 0's node stand for all nodes: they run the same sensors */
            rst = reduce_energy(r, row.energy_by_domain_j, row.domain_measured, err);
            if (rst != WS_OK) return rst;
            row.energy_j = 0;
            row.has_energy = 0;
            for (int d = 0; d < WS_DOMAIN_COUNT; d++)
                if (row.domain_measured[d]) {
                    row.energy_j += row.energy_by_domain_j[d];
                    row.has_energy = 1;
                }
        }
        int is_last = !(r->st.epoch + 1 < last_epoch && r->st.total_steps < total_limit);
        if (o->eval_every > 0 && ((r->st.epoch + 1) % o->eval_every == 0 || is_last)) {
            ws_status st = evaluate(r, &row, err);
            if (st != WS_OK) return st;
        }
        if (row.evaluated && epoch_done) ws_lr_epoch_end(r->lr, r->st.epoch, row.val_loss);
        if (r->st.n_rows == r->st.cap_rows) {
            size_t cap = r->st.cap_rows ? 2 * r->st.cap_rows : 16;
            ws_epoch_row *g = realloc(r->st.rows, cap * sizeof *g);
            if (!g) return wsi_error(err, WS_ENOMEM, "out of memory for epoch rows");
            r->st.rows = g;
            r->st.cap_rows = cap;
        }
        r->st.rows[r->st.n_rows++] = row;
        if (!o->quiet && row.skill.channels > 0) {
            char energy[64] = "energy not measured", val[160] = "not evaluated";
            if (row.has_energy) snprintf(energy, sizeof energy, "%.1f J (%s)", row.energy_j, row.energy_source);
            if (row.evaluated)
                snprintf(val, sizeof val, "val loss %.4f rmse/std %.4f acc %.4f (persistence %.4f, %.4f)",
                         row.val_loss, row.skill.rmse_norm, row.skill.acc, row.skill.persist_rmse_norm,
                         row.skill.persist_acc);
            ws_log(WS_LOG_INFO, "epoch %d done: train loss %.4f | %s | %.1f s | %s", row.epoch, row.train_loss, val,
                   row.time_s, energy);
        } else if (!o->quiet) {
            char energy[64] = "energy not measured", val[96] = "not evaluated";
            if (row.has_energy) snprintf(energy, sizeof energy, "%.1f J (%s)", row.energy_j, row.energy_source);
            if (row.evaluated)
                snprintf(val, sizeof val, "val loss %.4f top1 %.4f top5 %.4f", row.val_loss, row.val_top1, row.val_top5);
            ws_log(WS_LOG_INFO, "epoch %d done: train loss %.4f top1 %.4f | %s | %.1f s | %s", row.epoch,
                   row.train_loss, row.train_top1, val, row.time_s, energy);
        }
        if (epoch_done) {
            r->st.epoch++;
            r->st.step_in_epoch = 0;
            r->st.ep_loss_sum = r->st.ep_correct = r->st.ep_samples = 0;
            r->st.ep_time_s = r->st.ep_data_s = r->st.ep_compute_s = r->st.ep_comm_s = 0;
            r->st.ep_steps = 0;
        }
        int target = 0;
        if (o->target_metric[0] && row.evaluated) {
            const char *t = o->target_metric;
            double v = !strcmp(t, "val_top1")        ? row.val_top1
                       : !strcmp(t, "val_top5")      ? row.val_top5
                       : !strcmp(t, "val_rmse_norm") ? row.skill.rmse_norm
                       : !strcmp(t, "val_acc")       ? row.skill.acc
                                                     : row.val_loss;
            int lower_is_better = !strcmp(t, "val_loss") || !strcmp(t, "val_rmse_norm");
            target = lower_is_better ? v <= o->target_value : v >= o->target_value;
        }
        if (target) snprintf(r->st.status, sizeof r->st.status, "target_reached");
        int ckpt = is_last || target || !epoch_done ||
                   (o->checkpoint_every > 0 && r->st.epoch % o->checkpoint_every == 0);
        if (ckpt) {
            /* a partial epoch's row is reported in run.json but not checkpointed: a resume
             * continues that epoch from its partial sums and writes its full row */
            if (!epoch_done) r->st.n_rows--;
            ws_status st = save_checkpoint(r, err);
            if (!epoch_done) r->st.n_rows++;
            if (st != WS_OK) return st;
        }
        ws_status st = write_record(r, err);
        if (st != WS_OK) return st;
        if (target) break;
    }
    return WS_OK;
}

static ws_status setup_grad_sync(run *r, ws_error *err);
static ws_status setup_node_table(run *r, ws_error *err);

/* Data parallelism: identical starting parameters and buffers on every rank (rank 0's:
 * after a resume too), the gradient buckets, the table of nodes. */
static ws_status setup_world(run *r, ws_error *err) {
    ws_status st = bcast_model(r, 0, err);
    if (st == WS_OK) st = bcast_model(r, 1, err);
    if (st != WS_OK) return st;
    if (r->world > 1) st = setup_grad_sync(r, err);
    return st == WS_OK ? setup_node_table(r, err) : st;
}

/* One gradient bucket plan over the parameter tensors (more than one rank). */
static ws_status setup_grad_sync(run *r, ws_error *err) {
    ws_model *m = r->model;
    ws_status st;
    ws_grad_range *ranges = calloc(m->n_tensors, sizeof *ranges);
    if (!ranges) return wsi_error(err, WS_ENOMEM, "out of memory for gradient buckets");
    size_t n = 0;
    for (size_t i = 0; i < m->n_tensors; i++)
        if (!m->tensors[i].is_buffer) {
            ranges[n].offset = m->tensors[i].offset;
            ranges[n].count = m->tensors[i].count;
            n++;
        }
    st = ws_grad_sync_open(&r->sync, r->w, m->grads, ranges, n, (size_t)(r->o.bucket_mb * 1048576.0), err);
    free(ranges);
    /* GPU gradients are averaged by NCCL on its own stream, joined to the compute stream */
    if (st == WS_OK && r->cuda) st = ws_grad_sync_use_nccl(r->sync, ws_cuda_device_index(r->cuda), ws_cuda_stream(r->cuda), err);
    return st;
}

/* The record names every node's host and its energy, a single process's too (one node):
 * rank 0 keeps the table. The hosts and node numbers go to rank 0 only (the record's
 * writer; nothing else reads node_hosts): a gather, not an allgather, which on the tcp
 * backend would carry world^2 x 64 bytes through rank 0. */
static ws_status setup_node_table(run *r, ws_error *err) {
    r->st.nodes = ws_world_nodes(r->w);
    r->st.node_energy = calloc((size_t)r->st.nodes * 2 * WS_DOMAIN_COUNT, sizeof(double));
    char mine[64] = {0}, *hosts = NULL;
    double me = ws_world_node(r->w), *node_of = NULL;
    snprintf(mine, sizeof mine, "%s", ws_world_host(r->w));
    if (r->rank == 0) {
        r->st.node_hosts = calloc((size_t)r->st.nodes, 64);
        hosts = calloc((size_t)r->world, 64);
        node_of = calloc((size_t)r->world, sizeof *node_of);
        /* rank 0 skips the collectives when it cannot allocate: its error aborts the world (out:) */
        if (!r->st.node_hosts || !hosts || !node_of) {
            free(hosts);
            free(node_of);
            return wsi_error(err, WS_ENOMEM, "no memory for the table of %d nodes", r->st.nodes);
        }
    }
    ws_status st = ws_world_gather_bytes(r->w, mine, sizeof mine, hosts, 0, err);
    if (st == WS_OK) st = ws_world_gather_f64(r->w, &me, 1, node_of, 0, err);
    for (int k = 0; st == WS_OK && r->rank == 0 && k < r->world; k++)
        if ((int)node_of[k] >= 0 && (int)node_of[k] < r->st.nodes) {
            char *host = r->st.node_hosts + (size_t)node_of[k] * 64;
            memcpy(host, hosts + (size_t)k * 64, 64);
            host[63] = '\0'; /* bytes from another process: terminated here */
        }
    free(hosts);
    free(node_of);
    return st;
}

/* Each node's metered and left-out GPUs (its local rank 0's meter) into rank 0's node
 * table: rank 0 writes the record (write_record) and nothing else reads the lists, so the
 * other ranks keep node_gpus NULL. Collective: every rank calls it once, right after
 * ws_meter_open. */
static ws_status gather_node_gpus(run *r, ws_error *err) {
    if (r->rank == 0) {
        r->st.node_gpus = calloc((size_t)r->st.nodes, sizeof *r->st.node_gpus);
        /* rank 0 skips the collective when it cannot allocate: its error aborts the world (out:) */
        if (!r->st.node_gpus) return wsi_error(err, WS_ENOMEM, "no memory for %d nodes' GPU lists", r->st.nodes);
    }
    return wsi_node_gpus_gather(r->w, ws_world_local_rank(r->w) == 0 ? r->meter : NULL, r->st.node_gpus,
                                r->st.nodes, 0, err);
}

/* Settings that belong to the other task, or that the task cannot run with yet. */
static ws_status check_task_opts(const ws_train_opts *o, const wsi_task *task, ws_error *err) {
    int forecast = task == &wsi_task_forecast;
    const char *t = o->target_metric;
    if (t[0] && forecast && (!strcmp(t, "val_top1") || !strcmp(t, "val_top5")))
        return wsi_error(err, WS_EINVAL, "--target %s: a classification metric; a forecast stops on val_loss, "
                         "val_rmse_norm or val_acc", t);
    if (t[0] && !forecast && (!strcmp(t, "val_rmse_norm") || !strcmp(t, "val_acc")))
        return wsi_error(err, WS_EINVAL, "--target %s: a forecasting metric (--model afno); --model %s stops on "
                         "val_top1, val_top5 or val_loss", t, o->model);
    if (!forecast) {
        if (o->forecast_steps != 1 || o->rollout_steps > 0 || o->init_from[0] || o->forecast_residual)
            return wsi_error(err, WS_EINVAL, "--forecast-steps, --residual, --rollout-steps and --init-from are for "
                             "forecasting (--model afno), not --model %s", o->model);
        return WS_OK;
    }
    if (o->device == WS_DEVICE_CUDA && o->precision == WS_FP16)
        return wsi_error(err, WS_ENOTSUP,
                         "--model afno --device cuda --precision fp16: not implemented for the AFNO; it trains in "
                         "fp32, tf32 or bf16 (bf16: the token-wise products on tensor cores, the spectral filter, "
                         "norms and loss in fp32, as PyTorch's autocast; no loss scaling needed)");
    if (o->label_smoothing != 0)
        return wsi_error(err, WS_EINVAL, "--label-smoothing is for classification; --model afno's loss is "
                         "FourCastNet's relative L2");
    if (o->forecast_steps < 1 || o->forecast_steps > 2)
        return wsi_error(err, WS_EINVAL, "--forecast-steps %d: 1 (pre-training) or 2 (two-step fine-tuning)",
                         o->forecast_steps);
    if (o->forecast_residual && o->forecast_steps != 1)
        /* FourCastNet subtracts the input from every target step, which makes its second
         * step's target no change of the first step's output: not a defined recipe */
        return wsi_error(err, WS_EINVAL, "--residual trains one step (FourCastNet's target: residual); fine-tune "
                         "with --forecast-steps 2 without it");
    return WS_OK;
}

/* The GPUs this node's meter reads (--meter-gpus, train/meter_gpus.h): *uuids NULL (all),
 * or a NULL-terminated list pointing into *ids (the node's ranks' GPUs; none on the CPU);
 * the caller frees both. Collective with `used`, CPU runs included, so every backend
 * takes the same path. */
static ws_status choose_meter_gpus(run *r, char (**ids)[96], const char ***uuids, ws_error *err) {
    *ids = NULL;
    *uuids = NULL;
    if (r->o.meter_gpus == WS_METER_GPUS_ALL) return WS_OK;
    wsi_rank_gpu *table = calloc((size_t)r->world, sizeof *table);
    *ids = calloc((size_t)r->world, sizeof **ids);
    *uuids = calloc((size_t)r->world + 1, sizeof **uuids);
    /* a rank that cannot allocate skips the collective: its error aborts the world (out:) */
    ws_status st = table && *ids && *uuids ? WS_OK : wsi_error(err, WS_ENOMEM, "no memory for the GPU table");
    if (st == WS_OK) st = wsi_meter_gpus_gather(r->w, r->cuda ? ws_cuda_device_uuid(r->cuda) : "", table, err);
    size_t n = 0;
    if (st == WS_OK) st = wsi_meter_gpus_of_node(table, r->world, ws_world_node(r->w), *ids, &n, err);
    for (size_t k = 0; st == WS_OK && k < n; k++) (*uuids)[k] = (*ids)[k];
    free(table);
    return st;
}

ws_status ws_train_run(const ws_train_opts *opts, ws_error *err) {
    run r;
    memset(&r, 0, sizeof r);
    r.o = *opts;
    r.t_session0 = ws_now_s();
    snprintf(r.st.status, sizeof r.st.status, "running");
    ws_train_opts *o = &r.o;
    ws_status st = ws_world_open(&r.w, err);
    if (st != WS_OK) return st;
    r.world = ws_world_size(r.w);
    r.rank = ws_world_rank(r.w);
    r.st.world_size = r.world;
    r.st.ranks_per_node = ws_world_local_size(r.w);
    r.st.nodes = ws_world_nodes(r.w);
    snprintf(r.st.world_backend, sizeof r.st.world_backend, "%s", ws_world_backend(r.w));
    if (r.rank != 0) o->quiet = 1; /* rank 0 talks for all */
    if (r.world > 1) ws_world_set_watchdog(r.w, o->watchdog_s);
    if ((st = ws_train_resolve_batches(o, r.world, err)) != WS_OK) goto out;
    if (o->epochs <= 0 && o->steps <= 0) {
        st = wsi_error(err, WS_EINVAL, "give --epochs N or --steps N (N > 0)");
        goto out;
    }
    if (o->device == WS_DEVICE_CPU && o->precision != WS_FP32) {
        st = wsi_error(err, WS_ENOTSUP, "--precision %s: the CPU backend computes in fp32 only (use --device cuda)",
                       ws_dtype_name(o->precision));
        goto out;
    }
    r.task = wsi_task_for(o);
    if ((st = check_task_opts(o, r.task, err)) != WS_OK) goto out;
    if (!o->out_dir[0]) snprintf(o->out_dir, sizeof o->out_dir, "%s", o->resume_dir[0] ? o->resume_dir : "out/train");
    if (r.rank == 0) {
        ws_error made = {0};
        if (ws_make_dirs(o->out_dir, &made) != WS_OK) {
            st = wsi_error(err, WS_EIO, "cannot create --out %s: %s", o->out_dir, made.msg);
            goto out;
        }
    }
    if (o->device == WS_DEVICE_CUDA) {
        /* one GPU per rank, chosen by the local rank (or --gpu) among the visible ones */
        int n_gpus = ws_cuda_device_count();
        int gpu = o->gpu >= 0 ? o->gpu : (n_gpus > 0 ? ws_world_local_rank(r.w) % n_gpus : 0);
        if (r.world > 1 && o->gpu < 0 && ws_world_local_size(r.w) > n_gpus && n_gpus > 0)
            ws_log(WS_LOG_WARN, "%d ranks on this node share %d GPU(s)", ws_world_local_size(r.w), n_gpus);
        if ((st = ws_cuda_ctx_open(&r.cuda, gpu, o->precision, o->deterministic, err)) != WS_OK) goto out;
        r.ex = ws_cuda_exec(r.cuda);
        if (!o->quiet)
            ws_log(WS_LOG_INFO, "GPU %d: %s (%s), %.1f GiB, %s", gpu, ws_cuda_device_name(r.cuda),
                   ws_cuda_device_uuid(r.cuda), ws_cuda_total_bytes(r.cuda) / 1073741824.0, ws_cuda_versions(r.cuda));
    } else {
        r.ex = ws_exec_cpu(o->threads);
        if (openblas_set_num_threads) openblas_set_num_threads(1);
        if (r.rank == 0 && !o->quiet) warn_slow_blas_kernels();
    }

    if ((st = r.task->open_data(&r, err)) != WS_OK) goto out;
    r.steps_per_epoch = (long)ws_sampler_steps_per_epoch(r.train_samplers[0]);
    if (r.steps_per_epoch < 1) {
        st = wsi_error(err, WS_EINVAL, "%zu training samples give no full global batch of %d: lower --global-batch",
                       ws_sampler_subset_size(r.train_samplers[0]), o->global_batch);
        goto out;
    }
    if ((st = r.task->open_model(&r, err)) != WS_OK) goto out;
    if ((st = open_optim(&r, err)) != WS_OK) goto out;
    if ((st = r.task->setup(&r, err)) != WS_OK) goto out;
    o->lr.global_batch = o->global_batch;
    /* cosine and poly decay over the run unless told otherwise; a resumed run that extends
     * --epochs keeps its schedule only with the same --schedule-epochs */
    o->lr.total_epochs = o->schedule_epochs > 0 ? o->schedule_epochs
                         : o->epochs > 0       ? (double)o->epochs
                                               : ceil((double)o->steps / (double)r.steps_per_epoch);
    if ((o->lr.kind == WS_SCHED_COSINE || o->lr.kind == WS_SCHED_POLY) && !(o->lr.total_epochs > o->lr.warmup_epochs)) {
        st = wsi_error(err, WS_EINVAL,
                       "--schedule %s decays over %g epochs (--schedule-epochs, default the run's), which must exceed "
                       "--warmup-epochs %g",
                       o->lr.kind == WS_SCHED_COSINE ? "cosine" : "poly", o->lr.total_epochs, o->lr.warmup_epochs);
        goto out;
    }
    if ((st = ws_lr_open(&r.lr, &o->lr, err)) != WS_OK) goto out;

    if (o->init_from[0] && !o->resume_dir[0]) {
        /* fine-tuning starts from a trained model's parameters only (FourCastNet's
         * pretrained_ckpt_path): new optimizer state, schedule and epochs */
        char path[600];
        snprintf(path, sizeof path, "%s/checkpoint.wstf", o->init_from);
        if ((st = wsi_checkpoint_load_params(path, o, r.model, err)) != WS_OK) goto out;
        if (!o->quiet) ws_log(WS_LOG_INFO, "parameters from %s", path);
    }
    if (o->resume_dir[0]) {
        char path[600];
        snprintf(path, sizeof path, "%s/checkpoint.wstf", o->resume_dir);
        if ((st = wsi_checkpoint_load(path, o, r.model, r.optim, r.lr, &r.st, err)) != WS_OK) goto out;
        r.st.resumed_times++;
        snprintf(r.st.status, sizeof r.st.status, "running");
        if (!o->quiet)
            ws_log(WS_LOG_INFO, "resumed from %s at epoch %d step %ld", path, r.st.epoch + 1, r.st.step_in_epoch);
    }
    if ((st = setup_world(&r, err)) != WS_OK) goto out;
    if (o->step_log[0] && r.rank == 0 && !(r.step_log = fopen(o->step_log, o->resume_dir[0] ? "a" : "w"))) {
        st = wsi_error(err, WS_EIO, "cannot write --step-log %s: %s", o->step_log, strerror(errno));
        goto out;
    }

    /* one meter per node: its local rank 0 reads the sensors (with --meter-gpus used, of
     * the GPUs its node's ranks train on), the other ranks none */
    ws_meter_opts mo = ws_meter_opts_default();
    mo.interval_ms = o->meter_interval_ms;
    char(*meter_ids)[96] = NULL;
    const char **meter_uuids = NULL;
    st = choose_meter_gpus(&r, &meter_ids, &meter_uuids, err);
    mo.gpu_uuids = meter_uuids;
    if (st != WS_OK) {
        free(meter_ids);
        free(meter_uuids);
        goto out;
    }
    if (ws_world_local_rank(r.w) == 0) {
        char csv_path[600];
        snprintf(csv_path, sizeof csv_path, "%s/power%s%d.csv", o->out_dir, r.world > 1 ? "-node" : "",
                 r.world > 1 ? ws_world_node(r.w) : 0);
        if (r.world == 1) snprintf(csv_path, sizeof csv_path, "%s/power.csv", o->out_dir);
        r.power_csv = fopen(csv_path, o->resume_dir[0] ? "a" : "w");
        mo.csv = r.power_csv;
    } else {
        mo.sensors = 0;
    }
    st = ws_meter_open(&r.meter, &mo, err);
    free(meter_ids);
    free(meter_uuids);
    if (st != WS_OK) goto out;
    /* every node's GPU lists for the record, once: a meter's devices are fixed when open */
    if ((st = gather_node_gpus(&r, err)) != WS_OK) goto out;
    r.phase_data = ws_meter_phase_define(r.meter, "data");
    r.phase_compute = ws_meter_phase_define(r.meter, "compute");
    r.phase_comm = ws_meter_phase_define(r.meter, "allreduce_wait");
    if (!o->quiet) {
        ws_log(WS_LOG_INFO,
               "train %s on %s: %zu train / %zu val samples (fraction %.4g), GBS %d = LBS %d x world %d x accum %d, "
               "%ld steps/epoch, %s %s, %zu parameters, world %d rank(s) on %d node(s) (%s)",
               r.model->name, o->data, ws_sampler_subset_size(r.train_samplers[0]),
               ws_sampler_subset_size(r.val_sampler), o->data_fraction, o->global_batch, o->local_batch, r.world,
               o->accum, r.steps_per_epoch, ws_device_name(o->device), ws_dtype_name(o->precision),
               r.model->n_params, r.world, ws_world_nodes(r.w), ws_world_backend(r.w));
        for (size_t i = 0; i < ws_meter_device_count(r.meter); i++)
            ws_log(WS_LOG_INFO, "energy sensor: %s %s (%s)", ws_domain_name(ws_meter_device(r.meter, i)->domain),
                   ws_meter_device(r.meter, i)->name, ws_meter_device(r.meter, i)->id);
        for (size_t i = 0; i < ws_meter_missing_count(r.meter); i++)
            ws_log(WS_LOG_INFO, "energy not measured: %s: %s", ws_domain_name(ws_meter_missing(r.meter, i)->domain),
                   ws_meter_missing(r.meter, i)->reason);
        for (size_t i = 0; i < ws_meter_left_out_count(r.meter); i++)
            ws_log(WS_LOG_INFO, "energy left out: %s %s (%s): not used by this run (--meter-gpus %s)",
                   ws_domain_name(ws_meter_left_out(r.meter, i)->domain), ws_meter_left_out(r.meter, i)->name,
                   ws_meter_left_out(r.meter, i)->id, wsi_meter_gpus_name((ws_meter_gpus)o->meter_gpus));
    }
    if ((st = ws_meter_start(r.meter, err)) != WS_OK) goto out;
    st = run_epochs(&r, err);
    /* what the task scores once training ends (the forecast's rollout), inside the meter */
    if (st == WS_OK && r.task->finish) st = r.task->finish(&r, err);
    ws_world_set_watchdog(r.w, 0); /* only collectives follow, and the record */
    ws_meter_stop(r.meter, NULL);
    if (st == WS_OK && !strcmp(r.st.status, "running")) snprintf(r.st.status, sizeof r.st.status, "completed");
    if (st != WS_OK) snprintf(r.st.status, sizeof r.st.status, "failed");
    {
        ws_error werr = {0};
        ws_status wst = write_record(&r, &werr);
        if (st == WS_OK && wst != WS_OK) {
            st = wst;
            if (err) *err = werr;
        }
    }
    if (st == WS_OK && !o->quiet) ws_log(WS_LOG_INFO, "run record: %s/run.json (%s)", o->out_dir, r.st.status);
out:
    if (st != WS_OK && r.world > 1 && r.w) {
        /* the other ranks wait in a collective this rank will never join: end them all */
        ws_log(WS_LOG_ERROR, "rank %d: %s", r.rank, err ? err->msg : ws_status_message(st));
        ws_world_abort(r.w, st == WS_EINVAL || st == WS_ENOTSUP ? 2 : 1);
    }
    run_free(&r);
    free(r.st.node_energy);
    free(r.st.node_hosts);
    free(r.st.node_gpus);
    free(r.st.rollout);
    ws_world_close(r.w);
    return st;
}
