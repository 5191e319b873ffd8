/* train/checkpoint.c - checkpoints; contract in train/checkpoint.h. Written atomically
 * (temp file + rename): a crash during a save leaves the previous checkpoint whole. */
#include "train/checkpoint.h"
#include "core/error.h"
#include "core/tensorfile.h"
#include "train/run_record.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Settings a resume must not change: they define what the saved numbers mean. A forecast
 * adds the AFNO's sizes and its steps (ResNet's string is as it always was, so older
 * checkpoints still resume). */
static void fingerprint(const ws_train_opts *o, char *buf, size_t size) {
    int n = snprintf(buf, size,
                     "model=%s width=%d stem=%d data=%s fraction=%.17g gbs=%d lbs=%d accum=%d seed=%llu optimizer=%s "
                     "schedule_epochs=%.17g",
                     o->model, o->base_width, o->small_stem, o->data, o->data_fraction, o->global_batch,
                     o->local_batch, o->accum, (unsigned long long)o->seed, ws_optimizer_name(o->optim.kind),
                     o->lr.total_epochs);
    if (strcmp(o->model, "afno") != 0 || n < 0 || (size_t)n >= size) return;
    snprintf(buf + n, size - (size_t)n,
             " img=%dx%d patch=%d embed=%d depth=%d blocks=%d sparsity=%.17g hard=%.17g mlp=%.17g steps=%d residual=%d",
             o->img_h, o->img_w, o->afno_patch, o->afno_embed, o->afno_depth, o->afno_blocks, o->afno_sparsity,
             o->afno_hard_threshold, o->afno_mlp_ratio, o->forecast_steps, o->forecast_residual);
}

/* The settings that differ, as "embed=32 (the run: 16)": a forecast's whole fingerprint is
 * longer than an error line. */
static void fingerprint_diff(const char *saved, const char *asked, char *out, size_t size) {
    size_t used = 0;
    out[0] = 0;
    for (const char *a = saved, *b = asked; (*a || *b) && used + 1 < size;) {
        size_t la = strcspn(a, " "), lb = strcspn(b, " ");
        if (la != lb || strncmp(a, b, la) != 0) {
            const char *va = memchr(a, '=', la);
            va = va ? va + 1 : a;
            int n = snprintf(out + used, size - used, "%s%.*s (the run: %.*s)", used ? ", " : "", (int)lb, b,
                             (int)(la - (size_t)(va - a)), va);
            used += n > 0 ? (size_t)n : 0;
        }
        a += la + (a[la] == ' ');
        b += lb + (b[lb] == ' ');
    }
}

static cJSON *domains_json(const double *j, const int *measured) {
    cJSON *o = cJSON_CreateObject();
    for (int d = 0; d < WS_DOMAIN_COUNT; d++)
        cJSON_AddItemToObject(o, ws_domain_name((ws_domain)d),
                              measured[d] ? cJSON_CreateNumber(j[d]) : cJSON_CreateNull());
    return o;
}

ws_status wsi_checkpoint_save(const char *path, const ws_train_opts *o, const ws_model *m, const ws_optim *opt,
                              const ws_lr_schedule *lr, const ws_run_state *st, ws_error *err) {
    ws_tensorfile f;
    ws_tensorfile_init(&f);
    size_t ob = ws_optim_state_bytes(opt), lb = ws_lr_state_bytes();
    unsigned char *obuf = malloc(ob ? ob : 1), *lbuf = malloc(lb ? lb : 1);
    /* host copies in PyTorch's order, whatever device the model is on */
    float *params = malloc((m->n_params ? m->n_params : 1) * sizeof *params);
    float *buffers = malloc((m->n_buffers ? m->n_buffers : 1) * sizeof *buffers);
    cJSON *meta = cJSON_CreateObject();
    char fp[1024];
    fingerprint(o, fp, sizeof fp);
    cJSON_AddStringToObject(meta, "fingerprint", fp);
    cJSON_AddNumberToObject(meta, "epoch", st->epoch);
    cJSON_AddNumberToObject(meta, "step_in_epoch", (double)st->step_in_epoch);
    cJSON_AddNumberToObject(meta, "total_steps", (double)st->total_steps);
    cJSON_AddNumberToObject(meta, "total_samples", st->total_samples);
    cJSON_AddNumberToObject(meta, "ep_loss_sum", st->ep_loss_sum);
    cJSON_AddNumberToObject(meta, "ep_correct", st->ep_correct);
    cJSON_AddNumberToObject(meta, "ep_samples", st->ep_samples);
    cJSON_AddNumberToObject(meta, "ep_time_s", st->ep_time_s);
    cJSON_AddNumberToObject(meta, "ep_data_s", st->ep_data_s);
    cJSON_AddNumberToObject(meta, "ep_compute_s", st->ep_compute_s);
    cJSON_AddNumberToObject(meta, "ep_comm_s", st->ep_comm_s);
    cJSON_AddNumberToObject(meta, "ep_steps", (double)st->ep_steps);
    cJSON_AddNumberToObject(meta, "prior_time_s", st->prior_time_s);
    cJSON_AddItemToObject(meta, "prior_energy_j", domains_json(st->prior_energy_by_domain_j, st->prior_domain_measured));
    cJSON_AddNumberToObject(meta, "resumed_times", st->resumed_times);
    cJSON *rows = cJSON_AddArrayToObject(meta, "epochs");
    for (size_t i = 0; i < st->n_rows; i++) cJSON_AddItemToArray(rows, wsi_epoch_row_json(&st->rows[i]));
    char *text = cJSON_PrintUnformatted(meta);
    cJSON_Delete(meta);
    ws_status s = WS_OK;
    if (!obuf || !lbuf || !text || !params || !buffers) {
        s = wsi_error(err, WS_ENOMEM, "checkpoint %s: out of memory", path);
        goto out;
    }
    if ((s = ws_optim_state_save(opt, obuf, err)) != WS_OK) goto out;
    ws_lr_state_save(lr, lbuf);
    if ((s = ws_model_get_params(m, params, err)) != WS_OK || (s = ws_model_get_buffers(m, buffers, err)) != WS_OK)
        goto out;
    uint64_t np = m->n_params, nb = m->n_buffers;
    if ((s = ws_tensorfile_add(&f, "params", WS_TF_F32, 1, &np, params, m->n_params, err)) != WS_OK) goto out;
    if ((s = ws_tensorfile_add(&f, "buffers", WS_TF_F32, 1, &nb, buffers, m->n_buffers, err)) != WS_OK) goto out;
    if ((s = ws_tensorfile_add(&f, "optimizer", WS_TF_U8, 1, NULL, obuf, ob, err)) != WS_OK) goto out;
    if ((s = ws_tensorfile_add(&f, "schedule", WS_TF_U8, 1, NULL, lbuf, lb, err)) != WS_OK) goto out;
    if ((s = ws_tensorfile_add(&f, "meta", WS_TF_U8, 1, NULL, text, strlen(text), err)) != WS_OK) goto out;
    s = ws_tensorfile_write(&f, path, err);
out:
    free(text);
    free(obuf);
    free(lbuf);
    free(params);
    free(buffers);
    ws_tensorfile_free(&f);
    return s;
}

static double num(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* The meta entry as JSON (NULL when absent or not JSON). */
static cJSON *parse_meta(const ws_tf_entry *me) {
    if (!me) return NULL;
    char *text = malloc(me->count + 1);
    if (!text) return NULL;
    memcpy(text, me->data, me->count);
    text[me->count] = 0;
    cJSON *meta = cJSON_Parse(text);
    free(text);
    return meta;
}

ws_status wsi_checkpoint_load(const char *path, const ws_train_opts *o, ws_model *m, ws_optim *opt, ws_lr_schedule *lr,
                              ws_run_state *st, ws_error *err) {
    ws_tensorfile f;
    ws_status s = ws_tensorfile_read(&f, path, err);
    if (s != WS_OK) return s;
    const ws_tf_entry *params = ws_tensorfile_find(&f, "params"), *buffers = ws_tensorfile_find(&f, "buffers");
    const ws_tf_entry *oe = ws_tensorfile_find(&f, "optimizer"), *le = ws_tensorfile_find(&f, "schedule");
    const ws_tf_entry *me = ws_tensorfile_find(&f, "meta");
    cJSON *meta = NULL;
    if (!params || !buffers || !oe || !le || !me) {
        s = wsi_error(err, WS_EFORMAT, "%s: not a wattscale training checkpoint (entries missing)", path);
        goto out;
    }
    meta = parse_meta(me);
    if (!meta) {
        s = wsi_error(err, WS_EFORMAT, "%s: meta entry is not JSON (or no memory to read it)", path);
        goto out;
    }
    char fp[1024];
    fingerprint(o, fp, sizeof fp);
    const cJSON *saved = cJSON_GetObjectItemCaseSensitive(meta, "fingerprint");
    if (!cJSON_IsString(saved) || strcmp(saved->valuestring, fp) != 0) {
        char diff[400];
        fingerprint_diff(cJSON_IsString(saved) ? saved->valuestring : "?", fp, diff, sizeof diff);
        s = wsi_error(err, WS_EINVAL, "--resume %s: the run was made with other settings (%s): resume with the same "
                      "ones", path, diff);
        goto out;
    }
    if (params->count != m->n_params || buffers->count != m->n_buffers || params->dtype != WS_TF_F32) {
        s = wsi_error(err, WS_EFORMAT, "%s: %zu parameters saved, the model has %zu", path, params->count, m->n_params);
        goto out;
    }
    if ((s = ws_model_set_params(m, (const float *)params->data, err)) != WS_OK ||
        (s = ws_model_set_buffers(m, (const float *)buffers->data, err)) != WS_OK)
        goto out;
    if ((s = ws_optim_state_load(opt, oe->data, oe->count, err)) != WS_OK) goto out;
    if ((s = ws_lr_state_load(lr, le->data, le->count, err)) != WS_OK) goto out;
    st->epoch = (int)num(meta, "epoch");
    st->step_in_epoch = (long)num(meta, "step_in_epoch");
    st->total_steps = (long)num(meta, "total_steps");
    st->total_samples = num(meta, "total_samples");
    st->ep_loss_sum = num(meta, "ep_loss_sum");
    st->ep_correct = num(meta, "ep_correct");
    st->ep_samples = num(meta, "ep_samples");
    st->ep_time_s = num(meta, "ep_time_s");
    st->ep_data_s = num(meta, "ep_data_s");
    st->ep_compute_s = num(meta, "ep_compute_s");
    st->ep_comm_s = num(meta, "ep_comm_s");
    if (!isfinite(st->ep_comm_s)) st->ep_comm_s = 0;
    st->ep_steps = (long)num(meta, "ep_steps");
    st->prior_time_s = num(meta, "prior_time_s");
    st->resumed_times = (int)num(meta, "resumed_times");
    const cJSON *pe = cJSON_GetObjectItemCaseSensitive(meta, "prior_energy_j");
    for (int d = 0; d < WS_DOMAIN_COUNT; d++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(pe, ws_domain_name((ws_domain)d));
        st->prior_domain_measured[d] = cJSON_IsNumber(v);
        st->prior_energy_by_domain_j[d] = cJSON_IsNumber(v) ? v->valuedouble : 0;
    }
    const cJSON *rows = cJSON_GetObjectItemCaseSensitive(meta, "epochs");
    size_t n = (size_t)cJSON_GetArraySize(rows);
    free(st->rows);
    st->rows = calloc(n + 16, sizeof *st->rows);
    st->cap_rows = n + 16;
    st->n_rows = 0;
    if (!st->rows) {
        s = wsi_error(err, WS_ENOMEM, "%s: out of memory", path);
        goto out;
    }
    const cJSON *row;
    cJSON_ArrayForEach(row, rows) wsi_epoch_row_from_json(row, &st->rows[st->n_rows++]);
out:
    cJSON_Delete(meta);
    ws_tensorfile_free(&f);
    return s;
}

ws_status wsi_checkpoint_load_params(const char *path, const ws_train_opts *o, ws_model *m, ws_error *err) {
    ws_tensorfile f;
    ws_status s = ws_tensorfile_read(&f, path, err);
    if (s != WS_OK) return s;
    const ws_tf_entry *params = ws_tensorfile_find(&f, "params");
    cJSON *meta = parse_meta(ws_tensorfile_find(&f, "meta"));
    const cJSON *fp = cJSON_GetObjectItemCaseSensitive(meta, "fingerprint");
    /* the fingerprint starts "model=NAME " (see fingerprint above) */
    char saved_model[32] = "?";
    if (cJSON_IsString(fp) && !strncmp(fp->valuestring, "model=", 6))
        sscanf(fp->valuestring + 6, "%31s", saved_model);
    if (!params || params->dtype != WS_TF_F32 || !meta)
        s = wsi_error(err, WS_EFORMAT, "--init-from %s: not a wattscale training checkpoint", path);
    else if (strcmp(saved_model, o->model) != 0 || params->count != m->n_params)
        s = wsi_error(err, WS_EINVAL,
                      "--init-from %s: it holds --model %s with %zu parameters, this run's --model %s has %zu: start "
                      "from a run of the same model and sizes",
                      path, saved_model, params->count, o->model, m->n_params);
    else
        s = ws_model_set_params(m, (const float *)params->data, err);
    cJSON_Delete(meta);
    ws_tensorfile_free(&f);
    return s;
}
