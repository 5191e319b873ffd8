/* tests/data/test_nvjpeg.c - the loader's nvJPEG path (data/jpeg_nvjpeg.cu) against the
 * CPU path (data/transform.c) on a written tree: the same crop boxes (RandomResizedCrop
 * with flips, and Resize + CenterCrop), so the device batches must match the CPU's samples
 * within what two JPEG decoders may differ by (IDCT rounding, chroma upsampling):
 *   mean |gpu - cpu| <= 1.5 levels per sample, and at most 1% of a sample's values more
 *   than 12 levels apart;
 * samples the GPU path hands to the CPU (CMYK, truncated, not JPEG: substituted there) are
 * bit-identical. The CPU reference decodes at full size (dct_scaling 0), as nvJPEG does.
 * Needs a CUDA GPU and libnvjpeg: exits 77 (ctest: skipped) without them. Label gpu. */
#include "ws_test.h"
#include "jpeg_tree.h"
#include "core/rng.h"
#include "data/jpeg.h"
#include "data/dataset_imagenet.h"
#include "data/loader.h"

#include <cuda_runtime_api.h>

enum { SIZE = 224, EXTRA = 24, BATCH = 16 };

/* A few ImageNet-sized images with detail everywhere (smooth colour fields plus noise). */
static void write_natural(const char *path, int w, int h, uint64_t seed) {
    ws_rng r = ws_rng_seeded(seed);
    double f[3][3];
    for (int c = 0; c < 3; c++)
        for (int k = 0; k < 3; k++) f[c][k] = 0.005 + 0.05 * ws_rng_uniform(&r);
    uint8_t *px = malloc((size_t)w * h * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) {
                double v = 128 + 60 * sin(f[c][0] * x + f[c][1] * y) + 40 * cos(f[c][2] * (x - y)) +
                           12 * (ws_rng_uniform(&r) - 0.5);
                px[((size_t)y * w + x) * 3 + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
    ws_error err = {0};
    WS_TEST_OK(wsi_jpeg_write(path, px, w, h, 3, 90, 1, &err));
    free(px);
}

static size_t all_in_order(void *ctx, uint64_t epoch, size_t seq, int64_t *idx) {
    (void)epoch;
    size_t count = *(size_t *)ctx, n = 0;
    for (size_t i = seq * BATCH; i < count && n < BATCH; i++) idx[n++] = (int64_t)i;
    return n;
}

static void compare(const uint8_t *gpu, const uint8_t *cpu, int64_t index, int exact, double *worst_mean) {
    size_t n = (size_t)SIZE * SIZE * 3, far = 0;
    double sum = 0;
    for (size_t p = 0; p < n; p++) {
        int d = abs((int)gpu[p] - (int)cpu[p]);
        sum += d;
        far += d > 12;
    }
    double mean = sum / (double)n;
    if (mean > *worst_mean) *worst_mean = mean;
    if (exact && sum != 0) fail_msg("sample %lld (decoded on the CPU by both paths) differs: mean %.3f", (long long)index,
                                    mean);
    if (!(mean <= 1.5) || far > n / 100)
        fail_msg("sample %lld: mean |gpu - cpu| %.3f levels, %zu of %zu values over 12 apart", (long long)index, mean,
                 far, n);
}

static void test_gpu_matches_cpu(void **state) {
    (void)state;
    const char *dir = ws_test_tmpdir("nvjpeg");
    tree_make(dir);
    char rel[256];
    for (int i = 0; i < EXTRA; i++) { /* into apple's folder: indices after its 7 */
        snprintf(rel, sizeof rel, "train/n01_apple/z%02d.JPEG", i);
        write_natural(tree_file(dir, rel), i % 3 ? 500 : 375, i % 3 ? 375 : 500, (uint64_t)i);
    }
    ws_error err = {0};
    for (int random = 1; random >= 0; random--) {
        ws_imagenet_opts io = ws_imagenet_opts_default();
        io.random_crop = random;
        io.dct_scaling = 0;
        io.seed = 9;
        ws_dataset *d;
        WS_TEST_OK(ws_dataset_open_imagenet(&d, dir, WS_SPLIT_TRAIN, &io, &err));
        size_t count = ws_dataset_info_get(d)->count;
        ws_loader_opts o = ws_loader_opts_default();
        o.threads = 3;
        o.prefetch = 2;
        o.max_batch = BATCH;
        o.format = WS_SAMPLES_NHWC_U8;
        o.decoder = WS_DECODER_NVJPEG;
        o.indices = all_in_order;
        o.indices_ctx = &count;
        ws_loader *l;
        ws_status st = ws_loader_open(&l, d, &o, &err);
        if (st == WS_ENOTSUP) {
            fprintf(stderr, "skipped: %s\n", err.msg);
            ws_dataset_close(d);
            ws_test_rmtree(dir);
            exit(77);
        }
        WS_TEST_OK(st);
        size_t tile = (size_t)SIZE * SIZE * 3;
        uint8_t *gpu = malloc(BATCH * tile), *cpu = malloc(BATCH * tile);
        double worst = 0;
        for (uint64_t epoch = 0; epoch < 2; epoch++) {
            size_t steps = (count + BATCH - 1) / BATCH;
            WS_TEST_OK(ws_loader_start(l, epoch, 0, steps, &err));
            for (size_t s = 0; s < steps; s++) {
                ws_batch *b;
                WS_TEST_OK(ws_loader_next(l, &b, &err));
                assert_true(b->x_on_device);
                memset(gpu, 0x5A, BATCH * tile);
                assert_int_equal(cudaMemcpy(gpu, b->x, b->n * tile, cudaMemcpyDeviceToHost), cudaSuccess);
                ws_load_opts lo = {.epoch = epoch, .format = WS_SAMPLES_NHWC_U8};
                WS_TEST_OK(ws_dataset_load_ex(d, b->indices, b->n, &lo, cpu, NULL, &err));
                for (size_t j = 0; j < b->n; j++) {
                    int64_t i = b->indices[j];
                    char path[512];
                    wsi_imagenet_path(d, i, path, sizeof path);
                    int on_cpu = strstr(path, "n02_bear/a002") || strstr(path, "n03_cat/a001") ||
                                 strstr(path, "b_cmyk"); /* truncated, PNG, CMYK */
                    compare(gpu + j * tile, cpu + j * tile, i, on_cpu, &worst);
                }
                ws_loader_release(l, b);
            }
        }
        ws_loader_totals t = ws_loader_totals_get(l);
        fprintf(stderr, "%s: worst mean |gpu - cpu| over samples %.3f levels; nvJPEG decoded %zu of %zu samples\n",
                random ? "RandomResizedCrop" : "Resize+CenterCrop", worst, t.gpu_decoded, t.samples);
        /* at least the ImageNet-sized ones went through nvJPEG (two epochs), or this compared
         * nothing; the hardware decoder may refuse some of the tree's tiny odd ones */
        assert_true(t.gpu_decoded >= 2 * EXTRA);
        assert_true(t.gpu_decoded <= t.samples - 2 * 3); /* truncated, PNG, CMYK: never */
        free(gpu);
        free(cpu);
        ws_loader_close(l);
        ws_dataset_close(d);
    }
    ws_test_rmtree(dir);
}

int main(void) {
    int devices = 0;
    if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
        fprintf(stderr, "skipped: no CUDA device\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gpu_matches_cpu),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
