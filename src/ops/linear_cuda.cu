/* src/ops/linear_cuda.cu - the fully connected layer on the GPU through cuBLAS.
 * defines: ws_linear_forward_cuda, ws_linear_backward_cuda
 * reference: src/ops/linear_cpu.c; contract: src/ops/linear.h.
 * Row-major [N,IN] is column-major [IN,N], so with X, W, Y the column-major views:
 *   Y [OUT,N]   = W^T [OUT,IN] . X [IN,N]        gemm(T, N, OUT, N, IN)
 *   dX [IN,N]   = W [IN,OUT] . dY [OUT,N]        gemm(N, N, IN, N, OUT)
 *   dW [IN,OUT] += X [IN,N] . dY^T [N,OUT]       gemm(N, T, IN, OUT, N), beta 1, fp32 C
 * cublasGemmEx with fp32 accumulation; the math mode set on the handle (cuda_ctx.cu) keeps
 * fp32 off TF32 (pedantic) and lets tf32/bf16/fp16 use tensor cores. In bf16/fp16, dW is
 * computed in the storage type into the context's workspace (reserved by ws_linear_plan)
 * and added to the fp32 gradient (see linear.h for why). The bias is added by a kernel
 * after the product (fp32, rounded once into y); db sums columns in double through
 * ops/colsum.cuh (row chunks across the whole GPU, no atomics, reproducible): one thread
 * per column over all rows left most SMs idle and each thread a chain of N dependent
 * loads, where N is the AFNO's 16200 tokens per sample and out only 768 or 3072. */
#include "ops/colsum.cuh"

extern "C" {
#include "ops/linear.h"
}

static cudaDataType_t cuda_type(ws_dtype act) {
    return act == WS_BF16 ? CUDA_R_16BF : act == WS_FP16 ? CUDA_R_16F : CUDA_R_32F;
}

static cublasComputeType_t compute_type(const ws_cuda_ctx *c) {
    if (c->precision == WS_FP32) return CUBLAS_COMPUTE_32F_PEDANTIC;
    if (c->precision == WS_TF32) return CUBLAS_COMPUTE_32F_FAST_TF32;
    return CUBLAS_COMPUTE_32F;
}

/* y[r][j] (=) y[r][j] + b[j], in fp32 and rounded once: each thread keeps V columns' biases
 * in registers and walks rows (no index division per element; the first version's
 * `i % out` on 64-bit indices ran the AFNO's [32400, 3072] bf16 bias at 2.2 TB/s, 4.4 of
 * 92 ms per step on an H200), V elements moved as one 16-byte access where out and y allow. */
template <typename T, int V> struct alignas(sizeof(T) * V) pack {
    T v[V];
};

template <typename T, int V> __global__ void add_bias(T *__restrict__ y, const float *__restrict__ b, int n, int out) {
    const int j = (blockIdx.x * blockDim.x + threadIdx.x) * V;
    if (j >= out) return;
    float bj[V];
    for (int v = 0; v < V; v++) bj[v] = b[j + v]; /* V > 1 only where V divides out */
    for (int r = blockIdx.y; r < n; r += gridDim.y) {
        pack<T, V> *at = (pack<T, V> *)(y + (size_t)r * out + j);
        pack<T, V> p = *at;
        for (int v = 0; v < V; v++) p.v[v] = wsi_from_f<T>(wsi_to_f(p.v[v]) + bj[v]);
        *at = p;
    }
}

template <typename T> static void launch_add_bias(ws_cuda_ctx *c, T *y, const float *b, int n, int out) {
    constexpr int V = 16 / sizeof(T);
    if (n < 1 || out < 1) return;
    const int threads = 256, rows = n < 4096 ? n : 4096;
    if (out % V == 0 && (uintptr_t)y % 16 == 0) {
        const int cols = out / V;
        add_bias<T, V><<<dim3((cols + threads - 1) / threads, rows), threads, 0, c->stream>>>(y, b, n, out);
    } else {
        add_bias<T, 1><<<dim3((out + threads - 1) / threads, rows), threads, 0, c->stream>>>(y, b, n, out);
    }
}

/* db's column sums (ops/colsum.cuh functors): row r's dy in column j, then db[j] += the sum */
template <typename T> struct bias_rows {
    const T *dy;
    int out;
    __device__ void operator()(int r, int j, double acc[1]) const { acc[0] += wsi_to_f(dy[(size_t)r * out + j]); }
};

struct bias_grad_add {
    float *db;
    __device__ void operator()(int j, int v, double s) const {
        (void)v;
        db[j] += (float)s;
    }
};

extern "C" ws_status ws_linear_plan_cuda(const ws_exec *ex, int n, int in, int out, ws_error *err) {
    (void)n;
    ws_dtype act = wsi_ctx_act(ex);
    if (act == WS_FP32) return WS_OK;
    return ws_cuda_ctx_reserve(ex->cuda, (size_t)in * out * ws_dtype_size(act), err);
}

extern "C" void ws_linear_forward_cuda(const ws_exec *ex, int n, int in, int out, void *y, const void *x,
                                       const void *w, const float *b) {
    ws_cuda_ctx *c = ex->cuda;
    ws_dtype act = wsi_ctx_act(ex);
    cudaDataType_t t = cuda_type(act);
    const float one = 1.0f, zero = 0.0f;
    WS_CHECK_CUBLAS(cublasGemmEx(c->cublas, CUBLAS_OP_T, CUBLAS_OP_N, out, n, in, &one, w, t, in, x, t, in, &zero, y, t,
                                 out, compute_type(c), CUBLAS_GEMM_DEFAULT));
    if (b) {
        WS_DISPATCH_ACT(act, T, launch_add_bias<T>(c, (T *)y, b, n, out));
        WS_CHECK_LAUNCH(c, "linear bias");
    }
}

extern "C" void ws_linear_backward_cuda(const ws_exec *ex, int n, int in, int out, void *dx, float *dw, float *db,
                                        const void *dy, const void *x, const void *w) {
    ws_cuda_ctx *c = ex->cuda;
    ws_dtype act = wsi_ctx_act(ex);
    cudaDataType_t t = cuda_type(act);
    const float one = 1.0f, zero = 0.0f;
    if (dx)
        WS_CHECK_CUBLAS(cublasGemmEx(c->cublas, CUBLAS_OP_N, CUBLAS_OP_N, in, n, out, &one, w, t, in, dy, t, out, &zero,
                                     dx, t, in, compute_type(c), CUBLAS_GEMM_DEFAULT));
    if (act == WS_FP32) {
        WS_CHECK_CUBLAS(cublasGemmEx(c->cublas, CUBLAS_OP_N, CUBLAS_OP_T, in, out, n, &one, x, t, in, dy, t, out, &one,
                                     dw, CUDA_R_32F, in, compute_type(c), CUBLAS_GEMM_DEFAULT));
    } else {
        if (c->workspace_bytes < (size_t)in * out * ws_dtype_size(act))
            ws_fatal("linear %dx%d backward: workspace not reserved (call ws_linear_plan at open)", out, in);
        WS_CHECK_CUBLAS(cublasGemmEx(c->cublas, CUBLAS_OP_N, CUBLAS_OP_T, in, out, n, &one, x, t, in, dy, t, out, &zero,
                                     c->workspace, t, in, compute_type(c), CUBLAS_GEMM_DEFAULT));
        wsi_accumulate_f32(c, dw, c->workspace, act, (size_t)in * out);
    }
    if (db) {
        WS_DISPATCH_ACT(act, T,
                        wsi_colsum<1>(c, n, out, bias_rows<T>{(const T *)dy, out}, bias_grad_add{db},
                                      "linear bias gradient"));
    }
}
