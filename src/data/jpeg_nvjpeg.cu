/* data/jpeg_nvjpeg.cu - GPU JPEG decoding for the loader: nvJPEG batched decode into
 * device memory, then the crop/resize/flip kernel. Contract in data/jpeg_nvjpeg.h; the CPU
 * twin of the kernel: wsi_resample_rgb in data/transform.c (same taps: data/resample_taps.h).
 *
 * libnvjpeg is opened with dlopen (WATTSCALE_NVJPEG_LIBRARY, else libnvjpeg.so.13, .12,
 * .11, libnvjpeg.so) through our declarations (data/nvjpeg_api.h): the build needs no
 * nvjpeg.h, and a machine without the library gets WS_ENOTSUP at open, not a link error.
 *
 * Device memory: the decoded images of a batch go into one pool that grows to the largest
 * batch seen (full-size RGB, ~0.56 MB for 500x375) and is kept; the job table has a pinned
 * host twin. The kernel runs one thread per output pixel: its taps are recomputed from the
 * geometry (double, as the CPU's), summed in float in the CPU's order (rows of the
 * horizontal pass, then the vertical sum), rounded the same way. */
#include "data/jpeg_nvjpeg.h"
#include "data/nvjpeg_api.h"
#include "data/resample_taps.h"
extern "C" {
#include "core/error.h" /* a C header without extern "C" of its own */
}

#include <cuda_runtime.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

namespace {

struct nvjpeg_fns {
    wsi_nvjpeg_create_ex_fn create_ex;
    wsi_nvjpeg_destroy_fn destroy;
    wsi_nvjpeg_state_create_fn state_create;
    wsi_nvjpeg_state_destroy_fn state_destroy;
    wsi_nvjpeg_decode_batched_initialize_fn batched_init;
    wsi_nvjpeg_decode_batched_fn batched;
};

/* What the kernel needs of one job, in scaled (here: full-size) source pixels. */
struct gpu_job {
    const unsigned char *src; /* RGBI, pitch bytes per row */
    int pitch;
    double box_x, box_w, box_y, box_h;
    int out_w, out_h, win_x, win_y;
    int lo_x, hi_x, lo_y, hi_y;
    int flip, slot;
};

const char *status_name(wsi_nvjpeg_status s) {
    static const char *const names[] = {"success", "not initialized", "invalid parameter", "bad JPEG",
                                        "JPEG not supported", "allocator failure", "execution failed",
                                        "architecture mismatch", "internal error", "implementation not supported",
                                        "incomplete bitstream"};
    return s >= 0 && s <= 10 ? names[s] : "unknown nvJPEG status";
}

/* as the CPU's to_u8 (data/transform.c): halves up, clamped, truncation = floor on [0, 256) */
__device__ unsigned char to_u8(float v) {
    float r = v + 0.5f;
    r = r < 0.f ? 0.f : r;
    r = r > 255.f ? 255.f : r;
    return (unsigned char)(int)r;
}

/* One output pixel (x, y) of job blockIdx.y: the CPU path's horizontal-then-vertical sum. */
__global__ void crop_resize_kernel(const gpu_job *jobs, int size, unsigned char *out) {
    const gpu_job j = jobs[blockIdx.y];
    int p = blockIdx.x * blockDim.x + threadIdx.x;
    if (p >= size * size) return;
    int oy = p / size, ox = p % size;
    wsi_axis_geom gx = wsi_axis_geometry(j.box_x, j.box_w, j.out_w, j.lo_x, j.hi_x);
    wsi_axis_geom gy = wsi_axis_geometry(j.box_y, j.box_h, j.out_h, j.lo_y, j.hi_y);
    int kx = j.win_x + (j.flip ? size - 1 - ox : ox), ky = j.win_y + oy;
    int x0, x1, y0, y1;
    double cx, cy;
    wsi_axis_window(&gx, kx, &x0, &x1, &cx);
    wsi_axis_window(&gy, ky, &y0, &y1, &cy);
    double sx = 0, sy = 0;
    for (int x = x0; x < x1; x++) sx += wsi_axis_weight(&gx, x, cx);
    for (int y = y0; y < y1; y++) sy += wsi_axis_weight(&gy, y, cy);
    float acc[3] = {0.f, 0.f, 0.f};
    for (int y = y0; y < y1; y++) {
        float wy = sy != 0 ? (float)(wsi_axis_weight(&gy, y, cy) / sy) : 0.f;
        const unsigned char *row = j.src + (size_t)y * j.pitch;
        float h[3] = {0.f, 0.f, 0.f};
        for (int x = x0; x < x1; x++) {
            float wx = sx != 0 ? (float)(wsi_axis_weight(&gx, x, cx) / sx) : 0.f;
            h[0] += wx * row[3 * x];
            h[1] += wx * row[3 * x + 1];
            h[2] += wx * row[3 * x + 2];
        }
        for (int c = 0; c < 3; c++) acc[c] += wy * h[c];
    }
    unsigned char *o = out + ((size_t)j.slot * size * size + p) * 3;
    for (int c = 0; c < 3; c++) o[c] = to_u8(acc[c]);
}

} // namespace

struct wsi_nvjpeg {
    void *dl;
    nvjpeg_fns fn;
    wsi_nvjpeg_handle handle;
    wsi_nvjpeg_state state;
    int hardware;
    int device, max_batch, size;
    int init_batch; /* batch size nvJPEG was initialised for (0: none yet) */
    cudaStream_t stream;
    unsigned char *d_pool;
    size_t pool_bytes;
    gpu_job *h_jobs, *d_jobs;
    wsi_nvjpeg_image *images;
    const unsigned char **data;
    size_t *lengths;
};

static ws_status cuda_err(ws_error *err, cudaError_t e, const char *what) {
    return wsi_error(err, WS_ELIBRARY, "nvjpeg decoder: %s: %s", what, cudaGetErrorString(e));
}

static void *load_library(char *why, size_t size) {
    const char *env = getenv("WATTSCALE_NVJPEG_LIBRARY");
    static const char *const names[] = {"libnvjpeg.so.13", "libnvjpeg.so.12", "libnvjpeg.so.11", "libnvjpeg.so"};
    if (env && *env) {
        void *dl = dlopen(env, RTLD_NOW | RTLD_LOCAL);
        if (!dl) snprintf(why, size, "%s", dlerror());
        return dl;
    }
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        void *dl = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
        if (dl) return dl;
        snprintf(why, size, "%s", dlerror());
    }
    return NULL;
}

template <typename F> static int sym(void *dl, const char *name, F *out) {
    void *p = dlsym(dl, name);
    memcpy(out, &p, sizeof p); /* POSIX: a dlsym'd object pointer converts to a function pointer */
    return p != NULL;
}

extern "C" void wsi_nvjpeg_close(wsi_nvjpeg *g) {
    if (!g) return;
    if (g->device >= 0) cudaSetDevice(g->device);
    if (g->stream) cudaStreamSynchronize(g->stream);
    if (g->state) g->fn.state_destroy(g->state);
    if (g->handle) g->fn.destroy(g->handle);
    cudaFree(g->d_pool);
    cudaFree(g->d_jobs);
    cudaFreeHost(g->h_jobs);
    if (g->stream) cudaStreamDestroy(g->stream);
    free(g->images);
    free(g->data);
    free(g->lengths);
    if (g->dl) dlclose(g->dl);
    free(g);
}

extern "C" ws_status wsi_nvjpeg_open(wsi_nvjpeg **out, int device, int max_batch, int size, ws_error *err) {
    *out = NULL;
    int count = 0;
    cudaError_t ce = cudaGetDeviceCount(&count);
    if (ce != cudaSuccess || count == 0)
        return wsi_error(err, WS_ENOTSUP, "nvjpeg decoder: no CUDA device (%s); use the cpu decoder",
                         ce != cudaSuccess ? cudaGetErrorString(ce) : "none found");
    if (device < 0 && (ce = cudaGetDevice(&device)) != cudaSuccess) return cuda_err(err, ce, "cudaGetDevice");
    if (device >= count)
        return wsi_error(err, WS_EINVAL, "nvjpeg decoder: device %d, but %d CUDA devices", device, count);
    wsi_nvjpeg *g = (wsi_nvjpeg *)calloc(1, sizeof *g);
    if (!g) return wsi_error(err, WS_ENOMEM, "nvjpeg decoder: out of memory");
    g->device = device;
    g->max_batch = max_batch;
    g->size = size;
    char why[512] = "";
    g->dl = load_library(why, sizeof why);
    if (!g->dl) {
        wsi_nvjpeg_close(g);
        return wsi_error(err, WS_ENOTSUP, "nvjpeg decoder: cannot load libnvjpeg (%s); install the CUDA toolkit's "
                         "nvJPEG, point WATTSCALE_NVJPEG_LIBRARY at it, or use the cpu decoder", why);
    }
    if (!sym(g->dl, "nvjpegCreateEx", &g->fn.create_ex) || !sym(g->dl, "nvjpegDestroy", &g->fn.destroy) ||
        !sym(g->dl, "nvjpegJpegStateCreate", &g->fn.state_create) ||
        !sym(g->dl, "nvjpegJpegStateDestroy", &g->fn.state_destroy) ||
        !sym(g->dl, "nvjpegDecodeBatchedInitialize", &g->fn.batched_init) ||
        !sym(g->dl, "nvjpegDecodeBatched", &g->fn.batched)) {
        wsi_nvjpeg_close(g);
        return wsi_error(err, WS_ENOTSUP, "nvjpeg decoder: libnvjpeg lacks the batched decode API (%s)", dlerror());
    }
    if ((ce = cudaSetDevice(device)) != cudaSuccess || (ce = cudaStreamCreateWithFlags(&g->stream, cudaStreamNonBlocking)) != cudaSuccess) {
        wsi_nvjpeg_close(g);
        return cuda_err(err, ce, "cudaSetDevice/cudaStreamCreate");
    }
    /* the hardware decoder where the GPU has one (and not refused by the environment) */
    const char *want = getenv("WATTSCALE_NVJPEG_BACKEND");
    wsi_nvjpeg_status s = WSI_NVJPEG_STATUS_ARCH_MISMATCH;
    if (!want || strcmp(want, "default") != 0) s = g->fn.create_ex(WSI_NVJPEG_BACKEND_HARDWARE, NULL, NULL, 0, &g->handle);
    g->hardware = s == WSI_NVJPEG_STATUS_SUCCESS;
    if (!g->hardware && want && !strcmp(want, "hardware")) {
        wsi_nvjpeg_close(g);
        return wsi_error(err, WS_ENOTSUP, "nvjpeg decoder: WATTSCALE_NVJPEG_BACKEND=hardware, but nvjpegCreateEx "
                         "refused the hardware backend: %s", status_name(s));
    }
    if (!g->hardware) s = g->fn.create_ex(WSI_NVJPEG_BACKEND_DEFAULT, NULL, NULL, 0, &g->handle);
    if (s != WSI_NVJPEG_STATUS_SUCCESS || (s = g->fn.state_create(g->handle, &g->state)) != WSI_NVJPEG_STATUS_SUCCESS) {
        wsi_nvjpeg_close(g);
        return wsi_error(err, WS_ELIBRARY, "nvjpeg decoder: nvjpegCreateEx/nvjpegJpegStateCreate: %s", status_name(s));
    }
    g->images = (wsi_nvjpeg_image *)calloc((size_t)max_batch, sizeof *g->images);
    g->data = (const unsigned char **)calloc((size_t)max_batch, sizeof *g->data);
    g->lengths = (size_t *)calloc((size_t)max_batch, sizeof *g->lengths);
    if (!g->images || !g->data || !g->lengths) {
        wsi_nvjpeg_close(g);
        return wsi_error(err, WS_ENOMEM, "nvjpeg decoder: out of memory");
    }
    if ((ce = cudaMallocHost((void **)&g->h_jobs, (size_t)max_batch * sizeof(gpu_job))) != cudaSuccess ||
        (ce = cudaMalloc((void **)&g->d_jobs, (size_t)max_batch * sizeof(gpu_job))) != cudaSuccess) {
        wsi_nvjpeg_close(g);
        return cuda_err(err, ce, "allocating the job table");
    }
    *out = g;
    return WS_OK;
}

extern "C" int wsi_nvjpeg_accepts(const wsi_nvjpeg *g, const wsi_jpeg_info *info) {
    if (info->components != 1 && info->components != 3) return 0;
    if (info->color == WSI_JPEG_CMYK || info->color == WSI_JPEG_YCCK || info->arithmetic || !info->has_eoi) return 0;
    if (g->hardware) {
        if (info->progressive) return 0;
        /* the hardware decoder refuses 4:1:0 and 4:1:1 */
        if (info->components == 3 && info->h_samp[0] == 4) return 0;
    }
    return 1;
}

extern "C" ws_status wsi_nvjpeg_decode(wsi_nvjpeg *g, const wsi_nvjpeg_job *jobs, int n, uint8_t *d_out,
                                       ws_error *err) {
    if (n < 1 || n > g->max_batch)
        return wsi_error(err, WS_EINVAL, "nvjpeg decoder: %d jobs for a batch of at most %d", n, g->max_batch);
    cudaError_t ce = cudaSetDevice(g->device);
    if (ce != cudaSuccess) return cuda_err(err, ce, "cudaSetDevice");
    /* one pool for the decoded images, 256-byte aligned each */
    size_t need = 0;
    for (int i = 0; i < n; i++) need += ((size_t)jobs[i].width * 3 * (size_t)jobs[i].height + 255) / 256 * 256;
    if (need > g->pool_bytes) {
        if ((ce = cudaStreamSynchronize(g->stream)) != cudaSuccess) return cuda_err(err, ce, "cudaStreamSynchronize");
        cudaFree(g->d_pool);
        g->d_pool = NULL;
        g->pool_bytes = 0;
        if ((ce = cudaMalloc((void **)&g->d_pool, need)) != cudaSuccess) return cuda_err(err, ce, "cudaMalloc (decode pool)");
        g->pool_bytes = need;
    }
    /* the previous batch's kernel may still read h_jobs' copy: wait for it */
    if ((ce = cudaStreamSynchronize(g->stream)) != cudaSuccess) return cuda_err(err, ce, "cudaStreamSynchronize");
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        const wsi_nvjpeg_job *jb = &jobs[i];
        memset(&g->images[i], 0, sizeof g->images[i]);
        g->images[i].channel[0] = g->d_pool + off;
        g->images[i].pitch[0] = (size_t)jb->width * 3;
        g->data[i] = jb->data;
        g->lengths[i] = jb->len;
        gpu_job *h = &g->h_jobs[i];
        h->src = g->d_pool + off;
        h->pitch = jb->width * 3;
        h->box_x = jb->crop.box_x;
        h->box_w = jb->crop.box_w;
        h->box_y = jb->crop.box_y;
        h->box_h = jb->crop.box_h;
        h->out_w = jb->crop.out_w;
        h->out_h = jb->crop.out_h;
        h->win_x = jb->crop.win_x;
        h->win_y = jb->crop.win_y;
        h->lo_x = jb->clamp_to_box ? jb->crop.box_x : 0;
        h->hi_x = jb->clamp_to_box ? jb->crop.box_x + jb->crop.box_w : jb->width;
        h->lo_y = jb->clamp_to_box ? jb->crop.box_y : 0;
        h->hi_y = jb->clamp_to_box ? jb->crop.box_y + jb->crop.box_h : jb->height;
        h->flip = jb->crop.flip;
        h->slot = jb->slot;
        off += ((size_t)jb->width * 3 * (size_t)jb->height + 255) / 256 * 256;
    }
    wsi_nvjpeg_status s = WSI_NVJPEG_STATUS_SUCCESS;
    if (g->init_batch != n) {
        s = g->fn.batched_init(g->handle, g->state, n, 1, WSI_NVJPEG_OUTPUT_RGBI);
        if (s != WSI_NVJPEG_STATUS_SUCCESS)
            return wsi_error(err, WS_ELIBRARY, "nvjpegDecodeBatchedInitialize(%d): %s", n, status_name(s));
        g->init_batch = n;
    }
    s = g->fn.batched(g->handle, g->state, g->data, g->lengths, g->images, (wsi_cuda_stream)g->stream);
    if (s == WSI_NVJPEG_STATUS_ALLOCATOR_FAILURE)
        return wsi_error(err, WS_ENOMEM, "nvjpegDecodeBatched: %s", status_name(s));
    if (s == WSI_NVJPEG_STATUS_EXECUTION_FAILED || s == WSI_NVJPEG_STATUS_INTERNAL_ERROR ||
        s == WSI_NVJPEG_STATUS_ARCH_MISMATCH || s == WSI_NVJPEG_STATUS_NOT_INITIALIZED)
        return wsi_error(err, WS_ELIBRARY, "nvjpegDecodeBatched: %s", status_name(s));
    if (s != WSI_NVJPEG_STATUS_SUCCESS) /* the data: the caller decodes these on the CPU */
        return wsi_error(err, WS_EFORMAT, "nvjpegDecodeBatched: %s", status_name(s));
    if ((ce = cudaMemcpyAsync(g->d_jobs, g->h_jobs, (size_t)n * sizeof(gpu_job), cudaMemcpyHostToDevice, g->stream)) !=
        cudaSuccess)
        return cuda_err(err, ce, "cudaMemcpyAsync (jobs)");
    dim3 grid((unsigned)((g->size * g->size + 255) / 256), (unsigned)n);
    crop_resize_kernel<<<grid, 256, 0, g->stream>>>(g->d_jobs, g->size, d_out);
    if ((ce = cudaGetLastError()) != cudaSuccess) return cuda_err(err, ce, "crop_resize_kernel launch");
    return WS_OK;
}

extern "C" ws_status wsi_nvjpeg_upload(wsi_nvjpeg *g, void *d_dst, const void *h_src, size_t bytes, ws_error *err) {
    cudaError_t ce = cudaSetDevice(g->device);
    if (ce == cudaSuccess) ce = cudaMemcpyAsync(d_dst, h_src, bytes, cudaMemcpyHostToDevice, g->stream);
    return ce == cudaSuccess ? WS_OK : cuda_err(err, ce, "cudaMemcpyAsync (CPU-decoded tile)");
}

extern "C" ws_status wsi_nvjpeg_sync(wsi_nvjpeg *g, ws_error *err) {
    cudaError_t ce = cudaSetDevice(g->device);
    if (ce == cudaSuccess) ce = cudaStreamSynchronize(g->stream);
    return ce == cudaSuccess ? WS_OK : cuda_err(err, ce, "cudaStreamSynchronize (decode stream)");
}

extern "C" ws_status wsi_nvjpeg_device_alloc(wsi_nvjpeg *g, void **p, size_t bytes, ws_error *err) {
    *p = NULL;
    cudaError_t ce = cudaSetDevice(g->device);
    if (ce == cudaSuccess) ce = cudaMalloc(p, bytes);
    return ce == cudaSuccess ? WS_OK : cuda_err(err, ce, "cudaMalloc (batch buffer)");
}

extern "C" void wsi_nvjpeg_device_free(wsi_nvjpeg *g, void *p) {
    if (!p) return;
    cudaSetDevice(g->device);
    cudaFree(p);
}

extern "C" const char *wsi_nvjpeg_backend(const wsi_nvjpeg *g) { return g->hardware ? "hardware" : "default"; }
