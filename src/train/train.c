/* train/train.c - the training loop of `wattscale train`.
 * defines: ws_train_opts_default, ws_train_resolve_batches, ws_train_run (train/train.h).
 *
 * One global step = `accum` micro-batches of `local_batch` samples on each of `world`
 * ranks (world is 1 until the data-parallel layer exists), then one optimizer step. The
 * sampler hands out micro-batches; global step k of an epoch consists of its micro-batches
 * k*accum .. k*accum+accum-1, so the samples of a global step do not depend on how GBS is
 * split into LBS x world x accum. Each epoch is a meter region; the run record is
 * rewritten after every epoch, so a killed run keeps what it completed. */
#include "train/train.h"
#include "core/error.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "data/dataset.h"
#include "data/sampler.h"
#include "models/resnet.h"
#include "ops/loss.h"
#include "train/checkpoint.h"
#include "train/run_record.h"
#include "train/run_state.h"
#include "wattscale/energy.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* OpenBLAS (Debian's default build uses pthreads) would start its own threads inside each
 * of our OpenMP chunks; one BLAS thread per chunk avoids oversubscribing the cores. Weak:
 * absent with other BLAS libraries. */
extern void openblas_set_num_threads(int n) __attribute__((weak));

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
    o.accum = 0;
    o.epochs = 1;
    o.optim = ws_optim_opts_default(WS_OPT_SGD);
    o.lr = ws_lr_opts_default();
    o.device = WS_DEVICE_CPU;
    o.precision = WS_FP32;
    o.eval_every = 1;
    o.checkpoint_every = 1;
    o.meter_interval_ms = 100;
    snprintf(o.out_dir, sizeof o.out_dir, "out/train");
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

/* "fashion-mnist:/some/dir" -> kind "fashion-mnist", dir "/some/dir" (NULL: default). */
static ws_status open_data(const ws_train_opts *o, ws_split split, ws_dataset **out, ws_error *err) {
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
    return wsi_error(err, WS_EINVAL,
                     "--data %s: unknown (synthetic, fashion-mnist[:DIR], mnist[:DIR]; imagenet and era5 come with "
                     "their issues)",
                     o->data);
}

static int mkdir_p(const char *path) {
    char buf[512];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return (mkdir(buf, 0777) != 0 && errno != EEXIST) ? -1 : 0;
}

typedef struct {
    ws_train_opts o;
    int world;
    ws_exec ex;
    ws_dataset *train, *val;
    ws_sampler *train_sampler, *val_sampler;
    ws_model *model;
    ws_optim *optim;
    ws_lr_schedule *lr;
    ws_meter *meter;
    FILE *power_csv;
    float *x, *probs, *dlogits;
    int32_t *labels;
    int64_t *indices;
    long steps_per_epoch;
    ws_run_state st;
    double t_session0;
} run;

static void run_free(run *r) {
    ws_meter_close(r->meter);
    if (r->power_csv) fclose(r->power_csv);
    ws_lr_close(r->lr);
    ws_optim_close(r->optim);
    ws_model_close(r->model);
    ws_sampler_close(r->train_sampler);
    ws_sampler_close(r->val_sampler);
    ws_dataset_close(r->train);
    ws_dataset_close(r->val);
    free(r->x);
    free(r->probs);
    free(r->dlogits);
    free(r->labels);
    free(r->indices);
    free(r->st.rows);
}

static ws_status open_model(run *r, const ws_dataset_info *di, ws_error *err) {
    const ws_train_opts *o = &r->o;
    ws_resnet_opts ro = ws_resnet_opts_default();
    if (strncmp(o->model, "resnet", 6) != 0 || atoi(o->model + 6) <= 0)
        return wsi_error(err, WS_EINVAL, "--model %s: unknown (resnet18, resnet34, resnet50, resnet101, resnet152)",
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
    return ws_resnet_open(&r->model, &ro, err);
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
    ws_status st = ws_optim_open(&r->optim, &r->o.optim, pt, n, m->n_params, err);
    free(pt);
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

static ws_status evaluate(run *r, ws_epoch_row *row, ws_error *err) {
    ws_model *m = r->model;
    size_t steps = ws_sampler_steps_per_epoch(r->val_sampler);
    double loss_sum = 0, top1 = 0, top5 = 0, count = 0;
    for (size_t s = 0; s < steps; s++) {
        if (r->o.val_limit > 0 && count >= (double)r->o.val_limit) break;
        size_t n = ws_sampler_batch(r->val_sampler, 0, s, r->indices);
        if (n == 0) break;
        ws_status st = ws_dataset_load(r->val, r->indices, n, r->x, r->labels, err);
        if (st != WS_OK) return st;
        const float *logits;
        st = ws_model_forward(m, &r->ex, r->x, (int)n, 0, &logits, err);
        if (st != WS_OK) return st;
        double loss = 0;
        st = ws_softmax_xent_forward(&r->ex, (int)n, m->classes, &loss, r->probs, logits, r->labels, 0.0f);
        if (st != WS_OK) return wsi_error(err, st, "evaluation loss failed");
        loss_sum += loss * (double)n;
        top1 += ws_topk_correct((int)n, m->classes, logits, r->labels, 1);
        top5 += ws_topk_correct((int)n, m->classes, logits, r->labels, m->classes >= 5 ? 5 : m->classes);
        count += (double)n;
    }
    row->evaluated = count > 0;
    row->val_loss = count > 0 ? loss_sum / count : NAN;
    row->val_top1 = count > 0 ? top1 / count : NAN;
    row->val_top5 = count > 0 ? top5 / count : NAN;
    return WS_OK;
}

/* One global step: accum micro-batches forward and backward, then the optimizer. */
static ws_status train_step(run *r, double lr, double *loss_out, double *correct_out, double *samples_out,
                            double *data_s, double *compute_s, ws_error *err) {
    ws_model *m = r->model;
    memset(m->grads, 0, m->n_params * sizeof(float));
    double loss_sum = 0, correct = 0, samples = 0;
    for (int micro = 0; micro < r->o.accum; micro++) {
        double t0 = ws_now_s();
        size_t n = ws_sampler_batch(r->train_sampler, (uint64_t)r->st.epoch,
                                    (size_t)(r->st.step_in_epoch * r->o.accum + micro), r->indices);
        ws_status st = ws_dataset_load(r->train, r->indices, n, r->x, r->labels, err);
        if (st != WS_OK) return st;
        double t1 = ws_now_s();
        const float *logits;
        st = ws_model_forward(m, &r->ex, r->x, (int)n, 1, &logits, err);
        if (st != WS_OK) return st;
        double loss = 0;
        st = ws_softmax_xent_forward(&r->ex, (int)n, m->classes, &loss, r->probs, logits, r->labels,
                                     r->o.label_smoothing);
        if (st == WS_OK) correct += ws_topk_correct((int)n, m->classes, logits, r->labels, 1);
        /* mean over the global batch: each micro-batch carries 1/(n x accum) */
        if (st == WS_OK)
            st = ws_softmax_xent_backward(&r->ex, (int)n, m->classes, r->dlogits, r->probs, r->labels,
                                          r->o.label_smoothing, 1.0f / ((float)n * (float)r->o.accum));
        if (st != WS_OK) return wsi_error(err, st, "loss failed");
        st = ws_model_backward(m, &r->ex, r->dlogits, (int)n, err);
        if (st != WS_OK) return st;
        loss_sum += loss * (double)n;
        samples += (double)n;
        *data_s += t1 - t0;
        *compute_s += ws_now_s() - t1;
    }
    double t2 = ws_now_s();
    if (!isfinite(loss_sum))
        return wsi_error(err, WS_EINVAL,
                         "training diverged: loss is %g at epoch %d step %ld (lower --lr, or check the data)",
                         loss_sum, r->st.epoch + 1, r->st.step_in_epoch);
    ws_optim_step(r->optim, m->params, m->grads, lr);
    *compute_s += ws_now_s() - t2;
    *loss_out = loss_sum;
    *correct_out = correct;
    *samples_out = samples;
    return WS_OK;
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

static ws_status write_record(run *r, ws_error *err) {
    char path[600];
    snprintf(path, sizeof path, "%s/run.json", r->o.out_dir);
    return wsi_run_record_write(path, &r->o, r->world, r->model, r->meter, &r->st,
                                r->st.prior_time_s + (ws_now_s() - r->t_session0), err);
}

static ws_status save_checkpoint(run *r, ws_error *err) {
    char path[600];
    snprintf(path, sizeof path, "%s/checkpoint.wstf", r->o.out_dir);
    ws_run_state copy = r->st;
    copy.prior_time_s = r->st.prior_time_s + (ws_now_s() - r->t_session0);
    /* energy of this session so far joins the prior totals in the saved copy */
    size_t n = ws_meter_device_count(r->meter);
    ws_device_energy *e = calloc(n ? n : 1, sizeof *e);
    if (!e) return wsi_error(err, WS_ENOMEM, "checkpoint: out of memory");
    if (n && ws_meter_read(r->meter, e, NULL) == WS_OK) {
        ws_epoch_row tmp;
        sum_energy(r->meter, e, &tmp);
        for (int d = 0; d < WS_DOMAIN_COUNT; d++) {
            copy.prior_energy_by_domain_j[d] += tmp.energy_by_domain_j[d];
            copy.prior_domain_measured[d] |= tmp.domain_measured[d];
        }
    }
    free(e);
    return wsi_checkpoint_save(path, &r->o, r->model, r->optim, r->lr, &copy, err);
}

static ws_status run_epochs(run *r, ws_error *err) {
    const ws_train_opts *o = &r->o;
    long total_limit = o->steps > 0 ? o->steps : (long)o->epochs * r->steps_per_epoch;
    int last_epoch = o->steps > 0 ? (int)((o->steps + r->steps_per_epoch - 1) / r->steps_per_epoch) : o->epochs;
    double last_log = ws_now_s();
    double log_samples = 0, log_t0 = ws_now_s();
    while (r->st.epoch < last_epoch && r->st.total_steps < total_limit) {
        int region = -1;
        ws_meter_region_begin(r->meter, "epoch", &region, NULL);
        double t_epoch0 = ws_now_s();
        double lr = 0;
        while (r->st.step_in_epoch < r->steps_per_epoch && r->st.total_steps < total_limit) {
            lr = ws_lr_at(r->lr, r->st.epoch + (double)r->st.step_in_epoch / (double)r->steps_per_epoch);
            double loss = 0, correct = 0, samples = 0;
            ws_status st = train_step(r, lr, &loss, &correct, &samples, &r->st.ep_data_s, &r->st.ep_compute_s, err);
            if (st != WS_OK) return st;
            r->st.ep_loss_sum += loss;
            r->st.ep_correct += correct;
            r->st.ep_samples += samples;
            r->st.ep_steps++;
            r->st.total_samples += samples;
            r->st.total_steps++;
            r->st.step_in_epoch++;
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
        ws_epoch_row row;
        memset(&row, 0, sizeof row);
        row.epoch = r->st.epoch + 1;
        row.steps = r->st.ep_steps;
        row.samples = r->st.ep_samples;
        row.train_loss = r->st.ep_samples > 0 ? r->st.ep_loss_sum / r->st.ep_samples : NAN;
        row.train_top1 = r->st.ep_samples > 0 ? r->st.ep_correct / r->st.ep_samples : NAN;
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
        if (!o->quiet) {
            char energy[64] = "energy not measured";
            if (row.has_energy) snprintf(energy, sizeof energy, "%.1f J (%s)", row.energy_j, row.energy_source);
            ws_log(WS_LOG_INFO,
                   "epoch %d done: train loss %.4f top1 %.4f | val loss %.4f top1 %.4f top5 %.4f | %.1f s | %s",
                   row.epoch, row.train_loss, row.train_top1, row.val_loss, row.val_top1, row.val_top5, row.time_s,
                   energy);
        }
        if (epoch_done) {
            r->st.epoch++;
            r->st.step_in_epoch = 0;
            r->st.ep_loss_sum = r->st.ep_correct = r->st.ep_samples = 0;
            r->st.ep_time_s = r->st.ep_data_s = r->st.ep_compute_s = 0;
            r->st.ep_steps = 0;
        }
        int target = 0;
        if (o->target_metric[0] && row.evaluated) {
            double v = !strcmp(o->target_metric, "val_top1")   ? row.val_top1
                       : !strcmp(o->target_metric, "val_top5") ? row.val_top5
                                                               : row.val_loss;
            target = !strcmp(o->target_metric, "val_loss") ? v <= o->target_value : v >= o->target_value;
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

ws_status ws_train_run(const ws_train_opts *opts, ws_error *err) {
    run r;
    memset(&r, 0, sizeof r);
    r.o = *opts;
    r.world = 1;
    r.t_session0 = ws_now_s();
    snprintf(r.st.status, sizeof r.st.status, "running");
    ws_train_opts *o = &r.o;
    ws_status st = ws_train_resolve_batches(o, r.world, err);
    if (st != WS_OK) return st;
    if (o->epochs <= 0 && o->steps <= 0) return wsi_error(err, WS_EINVAL, "give --epochs N or --steps N (N > 0)");
    if (o->device != WS_DEVICE_CPU)
        return wsi_error(err, WS_ENOTSUP,
                         "--device %s: this build trains on the CPU only (the CUDA backend is the next issue); use "
                         "--device cpu",
                         ws_device_name(o->device));
    if (o->precision != WS_FP32)
        return wsi_error(err, WS_ENOTSUP, "--precision %s: the CPU backend computes in fp32 only",
                         ws_dtype_name(o->precision));
    if (!o->out_dir[0]) snprintf(o->out_dir, sizeof o->out_dir, "%s", o->resume_dir[0] ? o->resume_dir : "out/train");
    if (mkdir_p(o->out_dir) != 0)
        return wsi_error(err, WS_EIO, "cannot create --out %s: %s", o->out_dir, strerror(errno));
    r.ex.device = WS_DEVICE_CPU;
    r.ex.precision = WS_FP32;
    r.ex.threads = o->threads;
    if (openblas_set_num_threads) openblas_set_num_threads(1);

    if ((st = open_data(o, WS_SPLIT_TRAIN, &r.train, err)) != WS_OK) goto out;
    if ((st = open_data(o, WS_SPLIT_VAL, &r.val, err)) != WS_OK) goto out;
    const ws_dataset_info *ti = ws_dataset_info_get(r.train);
    const ws_dataset_info *vi = ws_dataset_info_get(r.val);
    ws_sampler_opts so;
    memset(&so, 0, sizeof so);
    so.seed = o->seed;
    so.shuffle = 1;
    so.drop_last = 1;
    so.fraction = o->data_fraction;
    so.rank = 0;
    so.world = r.world;
    so.local_batch = o->local_batch;
    if ((st = ws_sampler_open(&r.train_sampler, ws_dataset_labels(r.train), ti->count, ti->classes, &so, err)) != WS_OK)
        goto out;
    so.shuffle = 0;
    so.drop_last = 0;
    if ((st = ws_sampler_open(&r.val_sampler, ws_dataset_labels(r.val), vi->count, vi->classes, &so, err)) != WS_OK)
        goto out;
    r.steps_per_epoch = (long)(ws_sampler_steps_per_epoch(r.train_sampler) / (size_t)o->accum);
    if (r.steps_per_epoch < 1) {
        st = wsi_error(err, WS_EINVAL, "%zu training samples give no full global batch of %d: lower --global-batch",
                       ws_sampler_subset_size(r.train_sampler), o->global_batch);
        goto out;
    }
    if ((st = open_model(&r, ti, err)) != WS_OK) goto out;
    if ((st = open_optim(&r, err)) != WS_OK) goto out;
    o->lr.global_batch = o->global_batch;
    if ((st = ws_lr_open(&r.lr, &o->lr, err)) != WS_OK) goto out;

    size_t in_count = (size_t)o->local_batch * ti->c * ti->h * ti->w;
    size_t out_count = (size_t)o->local_batch * ti->classes;
    r.x = malloc(in_count * sizeof(float));
    r.probs = malloc(out_count * sizeof(float));
    r.dlogits = malloc(out_count * sizeof(float));
    r.labels = malloc((size_t)o->local_batch * sizeof(int32_t));
    r.indices = malloc((size_t)o->local_batch * sizeof(int64_t));
    if (!r.x || !r.probs || !r.dlogits || !r.labels || !r.indices) {
        st = wsi_error(err, WS_ENOMEM, "out of memory for batch buffers (local batch %d)", o->local_batch);
        goto out;
    }

    if (o->resume_dir[0]) {
        char path[600];
        snprintf(path, sizeof path, "%s/checkpoint.wstf", o->resume_dir);
        if ((st = wsi_checkpoint_load(path, o, r.model, r.optim, r.lr, &r.st, err)) != WS_OK) goto out;
        r.st.resumed_times++;
        snprintf(r.st.status, sizeof r.st.status, "running");
        ws_log(WS_LOG_INFO, "resumed from %s at epoch %d step %ld", path, r.st.epoch + 1, r.st.step_in_epoch);
    }

    char csv_path[600];
    snprintf(csv_path, sizeof csv_path, "%s/power.csv", o->out_dir);
    r.power_csv = fopen(csv_path, o->resume_dir[0] ? "a" : "w");
    ws_meter_opts mo = ws_meter_opts_default();
    mo.interval_ms = o->meter_interval_ms;
    mo.csv = r.power_csv;
    if ((st = ws_meter_open(&r.meter, &mo, err)) != WS_OK) goto out;
    if (!o->quiet) {
        ws_log(WS_LOG_INFO,
               "train %s on %s: %zu train / %zu val samples (fraction %.4g), GBS %d = LBS %d x world %d x accum %d, "
               "%ld steps/epoch, %s %s, %zu parameters",
               r.model->name, o->data, ws_sampler_subset_size(r.train_sampler),
               ws_sampler_subset_size(r.val_sampler), o->data_fraction, o->global_batch, o->local_batch, r.world,
               o->accum, r.steps_per_epoch, ws_device_name(o->device), ws_dtype_name(o->precision),
               r.model->n_params);
        for (size_t i = 0; i < ws_meter_device_count(r.meter); i++)
            ws_log(WS_LOG_INFO, "energy sensor: %s %s (%s)", ws_domain_name(ws_meter_device(r.meter, i)->domain),
                   ws_meter_device(r.meter, i)->name, ws_meter_device(r.meter, i)->id);
        for (size_t i = 0; i < ws_meter_missing_count(r.meter); i++)
            ws_log(WS_LOG_INFO, "energy not measured: %s: %s", ws_domain_name(ws_meter_missing(r.meter, i)->domain),
                   ws_meter_missing(r.meter, i)->reason);
    }
    if ((st = ws_meter_start(r.meter, err)) != WS_OK) goto out;
    st = run_epochs(&r, err);
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
    run_free(&r);
    return st;
}
