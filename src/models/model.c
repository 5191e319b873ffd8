/* models/model.c - what every model shares: finding tensors by name, host copies of
 * parameters, gradients and buffers in PyTorch's order, and the working copy of the
 * weights.
 * defines: ws_model_find, ws_model_get_params, ws_model_set_params, ws_model_get_grads,
 *          ws_model_get_buffers, ws_model_set_buffers, ws_model_refresh_work (models/model.h).
 * The only layout difference between a model's memory and PyTorch's is the conv weight on
 * CUDA ([K,R,S,C] for NHWC convolutions, the tensor's device_krsc); it is permuted here, on
 * the host, tensor by tensor. */
#include "models/model.h"
#include "core/error.h"
#include "ops/convert.h"
#include "ops/mem.h"

#include <stdlib.h>
#include <string.h>

const ws_model_tensor *ws_model_find(const ws_model *m, const char *name) {
    for (size_t i = 0; i < m->n_tensors; i++)
        if (!strcmp(m->tensors[i].name, name)) return &m->tensors[i];
    return NULL;
}

/* [K,C,R,S] <-> [K,R,S,C] of one tensor, out of place. */
static void permute(const ws_model_tensor *t, float *dst, const float *src, int to_krsc) {
    int K = t->dims[0], C = t->dims[1], R = t->dims[2], S = t->dims[3];
    for (int k = 0; k < K; k++)
        for (int c = 0; c < C; c++)
            for (int r = 0; r < R; r++)
                for (int s = 0; s < S; s++) {
                    size_t kcrs = (((size_t)k * C + c) * R + r) * S + s, krsc = (((size_t)k * R + r) * S + s) * C + c;
                    if (to_krsc) dst[krsc] = src[kcrs];
                    else dst[kcrs] = src[krsc];
                }
}

static int any_krsc(const ws_model *m, int buffers) {
    for (size_t i = 0; i < m->n_tensors; i++)
        if (m->tensors[i].device_krsc && m->tensors[i].is_buffer == buffers) return 1;
    return 0;
}

/* Rewrites host[] (a copy of params or grads) between the model's and PyTorch's order. */
static ws_status reorder(const ws_model *m, float *host, int to_krsc, ws_error *err) {
    size_t largest = 0;
    for (size_t i = 0; i < m->n_tensors; i++)
        if (m->tensors[i].device_krsc && m->tensors[i].count > largest) largest = m->tensors[i].count;
    if (!largest) return WS_OK;
    float *tmp = malloc(largest * sizeof *tmp);
    if (!tmp) return wsi_error(err, WS_ENOMEM, "%s: out of memory reordering weights", m->name);
    for (size_t i = 0; i < m->n_tensors; i++) {
        const ws_model_tensor *t = &m->tensors[i];
        if (!t->device_krsc || t->is_buffer) continue;
        permute(t, tmp, host + t->offset, to_krsc);
        memcpy(host + t->offset, tmp, t->count * sizeof *tmp);
    }
    free(tmp);
    return WS_OK;
}

static ws_status get_flat(const ws_model *m, const float *src, size_t count, float *host, ws_error *err) {
    ws_status st = ws_mem_download(&m->exec, host, src, count * sizeof(float), err);
    if (st == WS_OK && src != m->buffers && any_krsc(m, 0)) st = reorder(m, host, 0, err);
    return st;
}

ws_status ws_model_get_params(const ws_model *m, float *host, ws_error *err) {
    return get_flat(m, m->params, m->n_params, host, err);
}

ws_status ws_model_get_grads(const ws_model *m, float *host, ws_error *err) {
    return get_flat(m, m->grads, m->n_params, host, err);
}

ws_status ws_model_get_buffers(const ws_model *m, float *host, ws_error *err) {
    return ws_mem_download(&m->exec, host, m->buffers, m->n_buffers * sizeof(float), err);
}

ws_status ws_model_set_buffers(ws_model *m, const float *host, ws_error *err) {
    return ws_mem_upload(&m->exec, m->buffers, host, m->n_buffers * sizeof(float), err);
}

ws_status ws_model_set_params(ws_model *m, const float *host, ws_error *err) {
    ws_status st;
    if (any_krsc(m, 0)) {
        float *tmp = malloc(m->n_params * sizeof *tmp);
        if (!tmp) return wsi_error(err, WS_ENOMEM, "%s: out of memory loading parameters", m->name);
        memcpy(tmp, host, m->n_params * sizeof *tmp);
        st = reorder(m, tmp, 1, err);
        if (st == WS_OK) st = ws_mem_upload(&m->exec, m->params, tmp, m->n_params * sizeof(float), err);
        free(tmp);
    } else {
        st = ws_mem_upload(&m->exec, m->params, host, m->n_params * sizeof(float), err);
    }
    if (st == WS_OK) st = ws_model_refresh_work(m, err);
    return st;
}

ws_status ws_model_refresh_work(ws_model *m, ws_error *err) {
    if (m->params_work == (void *)m->params) return WS_OK;
    ws_status st = ws_cast(&m->exec, m->params_work, ws_act_dtype(m->exec.precision), m->params, WS_FP32, m->n_params);
    if (st != WS_OK) return wsi_error(err, st, "%s: casting the weights to %s", m->name, ws_dtype_name(m->exec.precision));
    return WS_OK;
}
