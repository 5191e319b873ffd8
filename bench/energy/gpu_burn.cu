/* bench/energy/gpu_burn.cu - a steady GPU load for checking the meter on real GPUs.
 * usage: ws_gpu_burn SECONDS [NGPUS] [N]
 * One host thread per GPU runs FP32 SGEMMs (N x N, default 8192; TF32 off) back to back
 * for SECONDS; at the end one JSON line per GPU and one for all on stdout:
 *   {"gpu": i, "seconds": S, "gemms": G, "tflop_per_s": R}
 * The GEMM count is the load's throughput, compared with and without the meter. */
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define CHECK_CUDA(x) check_cuda((x), #x, __FILE__, __LINE__)
#define CHECK_CUBLAS(x) check_cublas((x), #x, __FILE__, __LINE__)
static void check_cuda(cudaError_t e, const char *expr, const char *file, int line) {
    if (e != cudaSuccess) {
        fprintf(stderr, "%s:%d: %s: %s\n", file, line, expr, cudaGetErrorString(e));
        exit(1);
    }
}
static void check_cublas(cublasStatus_t s, const char *expr, const char *file, int line) {
    if (s != CUBLAS_STATUS_SUCCESS) {
        fprintf(stderr, "%s:%d: %s: %s\n", file, line, expr, cublasGetStatusString(s));
        exit(1);
    }
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct {
    int gpu, n;
    double seconds, elapsed;
    long gemms;
} job;

static void *run(void *arg) {
    job *j = (job *)arg;
    CHECK_CUDA(cudaSetDevice(j->gpu));
    size_t bytes = (size_t)j->n * j->n * sizeof(float);
    float *a, *b, *c;
    CHECK_CUDA(cudaMalloc(&a, bytes));
    CHECK_CUDA(cudaMalloc(&b, bytes));
    CHECK_CUDA(cudaMalloc(&c, bytes));
    CHECK_CUDA(cudaMemset(a, 0, bytes));
    CHECK_CUDA(cudaMemset(b, 0, bytes));
    cublasHandle_t h;
    CHECK_CUBLAS(cublasCreate(&h));
    CHECK_CUBLAS(cublasSetMathMode(h, CUBLAS_PEDANTIC_MATH)); /* true FP32, as the study ran */
    const float one = 1.0f, zero = 0.0f;
    double t0 = now_s(), end = t0 + j->seconds;
    long done = 0;
    while (now_s() < end) {
        for (int k = 0; k < 4; k++)
            CHECK_CUBLAS(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, j->n, j->n, j->n, &one, a, j->n, b, j->n, &zero, c, j->n));
        CHECK_CUDA(cudaDeviceSynchronize());
        done += 4;
    }
    j->elapsed = now_s() - t0;
    j->gemms = done;
    cublasDestroy(h);
    cudaFree(a);
    cudaFree(b);
    cudaFree(c);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: ws_gpu_burn SECONDS [NGPUS] [N]\n");
        return 2;
    }
    double seconds = atof(argv[1]);
    int count = 0;
    CHECK_CUDA(cudaGetDeviceCount(&count));
    int ngpu = argc > 2 ? atoi(argv[2]) : count;
    int n = argc > 3 ? atoi(argv[3]) : 8192;
    if (seconds <= 0 || ngpu < 1 || ngpu > count || n < 64) {
        fprintf(stderr, "ws_gpu_burn: bad arguments (have %d GPUs)\n", count);
        return 2;
    }
    job *jobs = (job *)calloc(ngpu, sizeof *jobs);
    pthread_t *t = (pthread_t *)calloc(ngpu, sizeof *t);
    for (int i = 0; i < ngpu; i++) {
        jobs[i].gpu = i;
        jobs[i].n = n;
        jobs[i].seconds = seconds;
        pthread_create(&t[i], NULL, run, &jobs[i]);
    }
    double tflops = 0;
    for (int i = 0; i < ngpu; i++) {
        pthread_join(t[i], NULL);
        double r = 2.0 * n * (double)n * n * jobs[i].gemms / jobs[i].elapsed / 1e12;
        tflops += r;
        printf("{\"gpu\": %d, \"seconds\": %.3f, \"gemms\": %ld, \"tflop_per_s\": %.3f}\n", i, jobs[i].elapsed,
               jobs[i].gemms, r);
    }
    printf("{\"gpus\": %d, \"n\": %d, \"tflop_per_s\": %.3f}\n", ngpu, n, tflops);
    free(jobs);
    free(t);
    return 0;
}
