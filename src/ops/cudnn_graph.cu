/* ops/cudnn_graph.cu - convolutions through cuDNN's graph (backend) API: operation graphs,
 * engine configs from the heuristics, execution plans, execution.
 * defines: everything in ops/cudnn_graph.cuh. Used by ops/conv2d_cuda.cu, which times the
 * plans made here against the legacy API's algorithms and keeps the fastest.
 *
 * Written against the C backend API (cudnnBackendCreateDescriptor / SetAttribute /
 * Finalize / GetAttribute / Execute), the same descriptors that cudnn-frontend v1 and
 * PyTorch's Conv_v8.cpp build. Only attributes present since cuDNN 8 are used, so the
 * file runs on the GPU machine's cuDNN 9.14 when built against 9.19 headers. The handle
 * attributes of the graph and plan are deprecated in cuDNN 9.19 (device properties may
 * replace them) but still honoured, and required by older 9.x releases. */
#include "ops/cudnn_graph.cuh"

#if WS_HAVE_CUDNN

#include <stdio.h>
#include <string.h>

/* unique ids of the three tensors ('x', 'w', 'y', as PyTorch's) */
static const int64_t UID[3] = {'x', 'w', 'y'};

/* Configs asked per heuristic mode: enough that the filter (in fp32 about half of mode
 * A's list is tensor-core engines) still leaves the cap; each costs a descriptor only. */
#define MAX_CONFIGS_PER_MODE 64
#define MAX_KNOBS 32
#define MAX_NOTES 32

static void destroy(cudnnBackendDescriptor_t *d) {
    if (*d) cudnnBackendDestroyDescriptor(*d);
    *d = NULL;
}

const char *wsi_cg_last_error(char *buf, size_t size) {
    if (!buf || !size) return "";
    buf[0] = 0;
    cudnnGetLastErrorString(buf, size);
    return buf;
}

/* A tensor [n, c, h, w] stored NHWC (c fastest), with id and claimed alignment. */
static cudnnStatus_t make_tensor(cudnnBackendDescriptor_t *out, cudnnDataType_t type, int64_t uid, int n, int c, int h,
                                 int w) {
    int64_t dims[4] = {n, c, h, w};
    int64_t strides[4] = {(int64_t)h * w * c, 1, (int64_t)w * c, c};
    int64_t align = WSI_CG_ALIGN;
    cudnnStatus_t s = cudnnBackendCreateDescriptor(CUDNN_BACKEND_TENSOR_DESCRIPTOR, out);
    if (s != CUDNN_STATUS_SUCCESS) return s;
    if ((s = cudnnBackendSetAttribute(*out, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &type)) ||
        (s = cudnnBackendSetAttribute(*out, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, dims)) ||
        (s = cudnnBackendSetAttribute(*out, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, strides)) ||
        (s = cudnnBackendSetAttribute(*out, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid)) ||
        (s = cudnnBackendSetAttribute(*out, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &align)) ||
        (s = cudnnBackendFinalize(*out)))
        destroy(out);
    return s;
}

static cudnnStatus_t make_conv_desc(cudnnBackendDescriptor_t *out, const ws_conv2d_desc *d) {
    cudnnDataType_t comp = CUDNN_DATA_FLOAT; /* fp32 accumulation in every precision */
    cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
    int64_t dims = 2, one[2] = {1, 1}, stride[2] = {d->stride, d->stride}, pad[2] = {d->pad, d->pad};
    cudnnStatus_t s = cudnnBackendCreateDescriptor(CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR, out);
    if (s != CUDNN_STATUS_SUCCESS) return s;
    if ((s = cudnnBackendSetAttribute(*out, CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_TYPE_INT64, 1, &dims)) ||
        (s = cudnnBackendSetAttribute(*out, CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &comp)) ||
        (s = cudnnBackendSetAttribute(*out, CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_TYPE_CONVOLUTION_MODE, 1, &mode)) ||
        (s = cudnnBackendSetAttribute(*out, CUDNN_ATTR_CONVOLUTION_DILATIONS, CUDNN_TYPE_INT64, 2, one)) ||
        (s = cudnnBackendSetAttribute(*out, CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, CUDNN_TYPE_INT64, 2, stride)) ||
        (s = cudnnBackendSetAttribute(*out, CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, CUDNN_TYPE_INT64, 2, pad)) ||
        /* PyTorch's symmetric padding: P = (H + 2 pad - R) / stride + 1, rounded down */
        (s = cudnnBackendSetAttribute(*out, CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, CUDNN_TYPE_INT64, 2, pad)) ||
        (s = cudnnBackendFinalize(*out)))
        destroy(out);
    return s;
}

void wsi_cg_conv_free(struct wsi_cg_conv *g) {
    if (!g) return;
    destroy(&g->graph);
    destroy(&g->op);
    destroy(&g->conv);
    destroy(&g->ty);
    destroy(&g->tw);
    destroy(&g->tx);
}

cudnnStatus_t wsi_cg_conv_build(struct wsi_cg_conv *g, cudnnHandle_t h, const ws_conv2d_desc *d, wsi_cg_dir dir,
                                cudnnDataType_t xy, cudnnDataType_t w, float beta) {
    static const cudnnBackendDescriptorType_t OP[3] = {CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR,
                                                       CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_DATA_DESCRIPTOR,
                                                       CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_FILTER_DESCRIPTOR};
    /* attribute names per direction: alpha, beta, conv, x-like, w-like, y-like */
    static const cudnnBackendAttributeName_t ATTR[3][6] = {
        {CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA,
         CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X,
         CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y},
        {CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_ALPHA, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_BETA,
         CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_CONV_DESC, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DX,
         CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_W, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DY},
        {CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_ALPHA, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_BETA,
         CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_CONV_DESC, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_X,
         CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DW, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DY}};
    memset(g, 0, sizeof *g);
    const float alpha = 1.0f;
    cudnnStatus_t s;
    if ((s = make_tensor(&g->tx, xy, UID[0], d->n, d->c, d->h, d->w)) ||
        (s = make_tensor(&g->tw, w, UID[1], d->k, d->c, d->r, d->s)) ||
        (s = make_tensor(&g->ty, xy, UID[2], d->n, d->k, d->p, d->q)) || (s = make_conv_desc(&g->conv, d)) ||
        (s = cudnnBackendCreateDescriptor(OP[dir], &g->op)))
        goto fail;
    if ((s = cudnnBackendSetAttribute(g->op, ATTR[dir][0], CUDNN_TYPE_FLOAT, 1, &alpha)) ||
        (s = cudnnBackendSetAttribute(g->op, ATTR[dir][1], CUDNN_TYPE_FLOAT, 1, &beta)) ||
        (s = cudnnBackendSetAttribute(g->op, ATTR[dir][2], CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &g->conv)) ||
        (s = cudnnBackendSetAttribute(g->op, ATTR[dir][3], CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &g->tx)) ||
        (s = cudnnBackendSetAttribute(g->op, ATTR[dir][4], CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &g->tw)) ||
        (s = cudnnBackendSetAttribute(g->op, ATTR[dir][5], CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &g->ty)) ||
        (s = cudnnBackendFinalize(g->op)) ||
        (s = cudnnBackendCreateDescriptor(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR, &g->graph)))
        goto fail;
    if ((s = cudnnBackendSetAttribute(g->graph, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
                                      &g->op)) ||
        (s = cudnnBackendSetAttribute(g->graph, CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &h)) ||
        (s = cudnnBackendFinalize(g->graph)))
        goto fail;
    return CUDNN_STATUS_SUCCESS;
fail:
    wsi_cg_conv_free(g);
    return s;
}

void wsi_cg_plan_free(struct wsi_cg_plan *p) {
    if (!p) return;
    destroy(&p->plan);
    destroy(&p->cfg);
}

/* The engine configs one heuristic mode offers, in its order (created descriptors the
 * caller destroys); 0 when the mode does not support this graph. */
static int heuristic_configs(const struct wsi_cg_conv *g, cudnnBackendHeurMode_t mode, cudnnBackendDescriptor_t *cfgs,
                             int max) {
    cudnnBackendDescriptor_t heur = NULL;
    int64_t count = 0, got = 0;
    int n = 0;
    if (cudnnBackendCreateDescriptor(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR, &heur) != CUDNN_STATUS_SUCCESS) return 0;
    if (cudnnBackendSetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
                                 &g->graph) ||
        cudnnBackendSetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &mode) ||
        cudnnBackendFinalize(heur) ||
        cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, &count, NULL))
        goto done;
    if (count > max) count = max;
    for (n = 0; n < count; n++)
        if (cudnnBackendCreateDescriptor(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, &cfgs[n]) != CUDNN_STATUS_SUCCESS) break;
    if (n == 0 || cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, n, &got,
                                           cfgs) != CUDNN_STATUS_SUCCESS)
        got = 0;
    for (int i = (int)got; i < n; i++)
        destroy(&cfgs[i]);
    n = (int)(got < n ? got : n);
done:
    destroy(&heur);
    return n;
}

static int has(const int *notes, int64_t n, int note) {
    for (int64_t i = 0; i < n; i++)
        if (notes[i] == note) return 1;
    return 0;
}

/* Whether the engine's notes let it run: 0 (allowed), 1 (numerics), 2 (behaviour), -1
 * (unreadable). */
static int verdict_of(cudnnBackendDescriptor_t engine, const wsi_cg_filter *f) {
    int numerical[MAX_NOTES], behaviour[MAX_NOTES];
    int64_t n_num = 0, n_beh = 0;
    if (cudnnBackendGetAttribute(engine, CUDNN_ATTR_ENGINE_NUMERICAL_NOTE, CUDNN_TYPE_NUMERICAL_NOTE, MAX_NOTES, &n_num,
                                 numerical) ||
        cudnnBackendGetAttribute(engine, CUDNN_ATTR_ENGINE_BEHAVIOR_NOTE, CUDNN_TYPE_BEHAVIOR_NOTE, MAX_NOTES, &n_beh,
                                 behaviour))
        return -1;
    if (n_num > MAX_NOTES) n_num = MAX_NOTES;
    if (n_beh > MAX_NOTES) n_beh = MAX_NOTES;
    /* PyTorch drops these always (inputs rounded to a narrower type than stored) ... */
    if (has(numerical, n_num, CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS) ||
        /* ... these for fp32 without TF32 (for float data a tensor-core engine is TF32) ... */
        (f->no_tensor_cores && has(numerical, n_num, CUDNN_NUMERICAL_NOTE_TENSOR_CORE)) ||
        (f->deterministic && has(numerical, n_num, CUDNN_NUMERICAL_NOTE_NONDETERMINISTIC)) ||
        /* ... and we these: conv2d.h promises fp32 accumulation in every precision */
        has(numerical, n_num, CUDNN_NUMERICAL_NOTE_REDUCED_PRECISION_REDUCTION))
        return 1;
    /* Runtime-compiled engines (NVRTC) cost a compilation per candidate at plan time, and
     * for a lone convolution the precompiled engines cover the same kernels. */
    if (has(behaviour, n_beh, CUDNN_BEHAVIOR_NOTE_RUNTIME_COMPILATION)) return 2;
    return 0;
}

/* "eng12 k(2=1,14=3)": the engine and its knob choices (type=value), also the key that
 * deduplicates configs across heuristic modes. */
static void name_of(cudnnBackendDescriptor_t cfg, int64_t index, char *name, size_t size) {
    cudnnBackendDescriptor_t knobs[MAX_KNOBS] = {NULL};
    int64_t got = 0;
    int nk = 0, printed = 0;
    size_t len = (size_t)snprintf(name, size, "eng%lld", (long long)index);
    /* the array is filled into descriptors made beforehand; asking for the count alone
     * is not documented for this attribute, so ask for up to MAX_KNOBS */
    for (nk = 0; nk < MAX_KNOBS; nk++)
        if (cudnnBackendCreateDescriptor(CUDNN_BACKEND_KNOB_CHOICE_DESCRIPTOR, &knobs[nk])) break;
    if (nk && cudnnBackendGetAttribute(cfg, CUDNN_ATTR_ENGINECFG_KNOB_CHOICES, CUDNN_TYPE_BACKEND_DESCRIPTOR, nk, &got,
                                       knobs) == CUDNN_STATUS_SUCCESS)
        for (int64_t i = 0; i < got && i < nk && len + 24 < size; i++) {
            cudnnBackendKnobType_t type;
            int64_t value = 0, one = 0;
            if (cudnnBackendGetAttribute(knobs[i], CUDNN_ATTR_KNOB_CHOICE_KNOB_TYPE, CUDNN_TYPE_KNOB_TYPE, 1, &one,
                                         &type) ||
                cudnnBackendGetAttribute(knobs[i], CUDNN_ATTR_KNOB_CHOICE_KNOB_VALUE, CUDNN_TYPE_INT64, 1, &one,
                                         &value))
                continue;
            len += (size_t)snprintf(name + len, size - len, "%s%d=%lld", printed++ ? "," : " k(", (int)type,
                                    (long long)value);
        }
    if (printed && len + 1 < size) snprintf(name + len, size - len, ")");
    for (int i = 0; i < nk; i++)
        destroy(&knobs[i]);
}

/* Reads the config's engine: its notes decide whether it may run (verdict_of's codes),
 * its index and knob choices name it. */
static int inspect(cudnnBackendDescriptor_t cfg, const wsi_cg_filter *f, int64_t *engine_out, char *name,
                   size_t name_size) {
    cudnnBackendDescriptor_t engine = NULL;
    int64_t got = 0, index = -1;
    int verdict = -1;
    if (cudnnBackendCreateDescriptor(CUDNN_BACKEND_ENGINE_DESCRIPTOR, &engine) == CUDNN_STATUS_SUCCESS &&
        cudnnBackendGetAttribute(cfg, CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &got, &engine) ==
            CUDNN_STATUS_SUCCESS &&
        cudnnBackendGetAttribute(engine, CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1, &got, &index) ==
            CUDNN_STATUS_SUCCESS)
        verdict = verdict_of(engine, f);
    destroy(&engine);
    *engine_out = index;
    name_of(cfg, index, name, name_size);
    return verdict;
}

/* Finalizes a plan for the config; 0 on success (cuDNN refuses configs that do not fit the
 * shape or the GPU: NOT_SUPPORTED, then the config is skipped). */
static int make_plan(cudnnHandle_t h, cudnnBackendDescriptor_t cfg, struct wsi_cg_plan *p) {
    int64_t ws = 0, got = 0;
    if (cudnnBackendCreateDescriptor(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, &p->plan)) return -1;
    if (cudnnBackendSetAttribute(p->plan, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
                                 &cfg) ||
        cudnnBackendSetAttribute(p->plan, CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &h) ||
        cudnnBackendFinalize(p->plan) ||
        cudnnBackendGetAttribute(p->plan, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64, 1, &got, &ws) ||
        ws < 0) {
        destroy(&p->plan);
        return -1;
    }
    p->ws_bytes = (size_t)ws;
    return 0;
}

int wsi_cg_candidates(cudnnHandle_t h, const struct wsi_cg_conv *g, const wsi_cg_filter *f, struct wsi_cg_plan *out,
                      wsi_cg_census *census) {
    cudnnBackendDescriptor_t lists[3][MAX_CONFIGS_PER_MODE];
    int len[3], used = 0;
    const cudnnBackendHeurMode_t modes[3] = {CUDNN_HEUR_MODE_A, CUDNN_HEUR_MODE_B, CUDNN_HEUR_MODE_FALLBACK};
    memset(census, 0, sizeof *census);
    for (int m = 0; m < 3; m++) {
        memset(lists[m], 0, sizeof lists[m]);
        len[m] = heuristic_configs(g, modes[m], lists[m], MAX_CONFIGS_PER_MODE);
    }
    /* order: A1 B1 A2 B2 ... then the fallback list */
    int longest = len[0] > len[1] ? len[0] : len[1];
    for (int step = 0; step < 2 * longest + len[2] && used < f->max; step++) {
        int m = step < 2 * longest ? step % 2 : 2, i = step < 2 * longest ? step / 2 : step - 2 * longest;
        if (i >= len[m]) continue;
        cudnnBackendDescriptor_t *cfg = &lists[m][i];
        census->offered++;
        struct wsi_cg_plan *p = &out[used];
        memset(p, 0, sizeof *p);
        int verdict = inspect(*cfg, f, &p->engine, p->name, sizeof p->name);
        if (verdict != 0) {
            if (verdict == 1)
                census->numerics++;
            else if (verdict == 2)
                census->behaviour++;
            else
                census->unsupported++;
            continue;
        }
        if (f->only && strcmp(p->name, f->only) != 0) continue; /* not the one asked for: no census */
        int dup = 0;
        for (int j = 0; j < used && !dup; j++)
            dup = strcmp(out[j].name, p->name) == 0;
        if (dup) {
            census->duplicate++;
            continue;
        }
        if (make_plan(h, *cfg, p) != 0) {
            census->unsupported++;
            continue;
        }
        if (p->ws_bytes > f->ws_limit) {
            census->over_ws++;
            destroy(&p->plan);
            continue;
        }
        p->cfg = *cfg; /* the plan keeps its config */
        *cfg = NULL;
        used++;
        if (f->only) break;
    }
    for (int m = 0; m < 3; m++)
        for (int i = 0; i < len[m]; i++)
            destroy(&lists[m][i]);
    return used;
}

cudnnStatus_t wsi_cg_execute(cudnnHandle_t h, const struct wsi_cg_plan *p, void *x_like, void *w_like, void *y_like,
                             void *workspace) {
    cudnnBackendDescriptor_t pack = NULL;
    void *ptrs[3] = {x_like, w_like, y_like};
    cudnnStatus_t s = cudnnBackendCreateDescriptor(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, &pack);
    if (s != CUDNN_STATUS_SUCCESS) return s;
    if (!(s = cudnnBackendSetAttribute(pack, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, 3, UID)) &&
        !(s = cudnnBackendSetAttribute(pack, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, 3, ptrs)) &&
        !(s = cudnnBackendSetAttribute(pack, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &workspace)) &&
        !(s = cudnnBackendFinalize(pack)))
        s = cudnnBackendExecute(h, p->plan, pack);
    cudnnBackendDestroyDescriptor(pack);
    return s;
}

#endif
