/* bench/data/bench_loader.c - how fast the data loader (src/data/loader.c) turns an
 * ImageNet-layout tree into training batches: images/s of ws_loader_next with a consumer
 * that does nothing but release, the CPU or nvJPEG decoder, N decode threads. A benchmark
 * (bench/data/bench_data.sh runs it), never a test.
 *
 *   ws_bench_loader DIR [--split train|val] [--threads N] [--decoder cpu|nvjpeg]
 *                   [--format f32|u8] [--batch 256] [--images 2000] [--prefetch 4]
 *                   [--scale 0.08,1] [--no-dct] [--scan-only]
 * (--scan-only: open the dataset, print the scan's time and image count, stop.)
 * Timed from the first batch handed out (thread start-up and the first batch excluded, as
 * for torchvision in bench/data/torch_loader.py) to the batch that reaches --images.
 * Prints one JSON line: images/s, per decode thread, the process's CPU time in the same
 * window (so images per CPU-second), the consumer's wait, the scan time. */
#include "core/timeutil.h"
#include "data/loader.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double process_cpu_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc < 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: ws_bench_loader DIR [--split train|val] [--threads N] [--decoder cpu|nvjpeg] "
                        "[--format f32|u8] [--batch B] [--images M] [--prefetch K] [--scale MIN,MAX] [--no-dct]\n");
        return 2;
    }
    const char *dir = argv[1], *split = "train", *decoder = "cpu", *format = "f32";
    int threads = 1, batch = 256, prefetch = 4, scan_only = 0;
    long images = 2000;
    ws_imagenet_opts io = ws_imagenet_opts_default();
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
        if (!strcmp(a, "--no-dct")) {
            io.dct_scaling = 0;
            continue;
        }
        if (!strcmp(a, "--scan-only")) {
            scan_only = 1;
            continue;
        }
        i++;
        if (!strcmp(a, "--split")) split = v;
        else if (!strcmp(a, "--threads")) threads = atoi(v);
        else if (!strcmp(a, "--decoder")) decoder = v;
        else if (!strcmp(a, "--format")) format = v;
        else if (!strcmp(a, "--batch")) batch = atoi(v);
        else if (!strcmp(a, "--images")) images = atol(v);
        else if (!strcmp(a, "--prefetch")) prefetch = atoi(v);
        else if (!strcmp(a, "--scale")) {
            if (sscanf(v, "%lf,%lf", &io.scale_min, &io.scale_max) != 2) {
                fprintf(stderr, "ws_bench_loader: --scale MIN,MAX\n");
                return 2;
            }
        } else {
            fprintf(stderr, "ws_bench_loader: unknown option %s\n", a);
            return 2;
        }
    }
    ws_error err = {0};
    double t_scan = ws_now_s();
    ws_dataset *d;
    if (ws_dataset_open_imagenet(&d, dir, strcmp(split, "val") ? WS_SPLIT_TRAIN : WS_SPLIT_VAL, &io, &err) != WS_OK) {
        fprintf(stderr, "ws_bench_loader: %s\n", err.msg);
        return 1;
    }
    t_scan = ws_now_s() - t_scan;
    const ws_dataset_info *info = ws_dataset_info_get(d);
    if (scan_only) {
        printf("{\"tool\": \"wattscale\", \"scan_s\": %.4f, \"dataset_images\": %zu, \"classes\": %d}\n", t_scan,
               info->count, info->classes);
        ws_dataset_close(d);
        return 0;
    }
    ws_sampler_opts so = ws_sampler_opts_default();
    so.seed = 1;
    so.local_batch = batch;
    so.drop_last = 1;
    ws_sampler *s;
    if (ws_sampler_open(&s, ws_dataset_labels(d), info->count, info->classes, &so, &err) != WS_OK) {
        fprintf(stderr, "ws_bench_loader: %s\n", err.msg);
        return 1;
    }
    ws_loader_opts o = ws_loader_opts_default();
    o.threads = threads;
    o.prefetch = prefetch;
    o.max_batch = (size_t)batch;
    o.format = strcmp(format, "u8") ? WS_SAMPLES_NCHW_F32 : WS_SAMPLES_NHWC_U8;
    o.decoder = strcmp(decoder, "nvjpeg") ? WS_DECODER_CPU : WS_DECODER_NVJPEG;
    o.indices = ws_loader_sampler_indices;
    o.indices_ctx = s;
    ws_loader *l;
    if (ws_loader_open(&l, d, &o, &err) != WS_OK) {
        fprintf(stderr, "ws_bench_loader: %s\n", err.msg);
        return 1;
    }
    size_t steps = ws_sampler_steps_per_epoch(s);
    long counted = 0;
    double t0 = 0, c0 = 0, wait = 0, decode = 0;
    ws_status st = WS_OK;
    for (uint64_t epoch = 0; st == WS_OK && counted < images; epoch++) {
        if ((st = ws_loader_start(l, epoch, 0, steps, &err)) != WS_OK) break;
        for (;;) {
            ws_batch *b;
            if ((st = ws_loader_next(l, &b, &err)) != WS_OK || !b) break;
            if (t0 == 0) { /* the first batch starts the clock */
                t0 = ws_now_s();
                c0 = process_cpu_s();
            } else {
                counted += (long)b->n;
                wait += b->wait_s;
                decode += b->decode_s;
            }
            ws_loader_release(l, b);
            if (counted >= images) break;
        }
    }
    double secs = ws_now_s() - t0, cpu = process_cpu_s() - c0;
    ws_loader_totals t = ws_loader_totals_get(l);
    if (st != WS_OK) {
        fprintf(stderr, "ws_bench_loader: %s\n", err.msg);
        return 1;
    }
    printf("{\"tool\": \"wattscale\", \"decoder\": \"%s\", \"format\": \"%s\", \"threads\": %d, \"batch\": %d, "
           "\"dct_scaling\": %d, \"scale\": [%g, %g], \"images\": %ld, \"seconds\": %.4f, \"images_per_s\": %.1f, "
           "\"images_per_s_per_thread\": %.1f, \"process_cpu_s\": %.3f, \"images_per_cpu_s\": %.1f, "
           "\"consumer_wait_s\": %.3f, \"decode_thread_s\": %.3f, \"scan_s\": %.4f, \"dataset_images\": %zu, "
           "\"corrupt_files\": %llu, \"gpu_decoded_share\": %.4f}\n",
           decoder, format, threads, batch, io.dct_scaling, io.scale_min, io.scale_max, counted, secs,
           counted / secs, counted / secs / threads, cpu, cpu > 0 ? counted / cpu : 0.0, wait, decode, t_scan,
           info->count, (unsigned long long)ws_dataset_corrupt_files(d),
           t.samples ? (double)t.gpu_decoded / (double)t.samples : 0.0);
    ws_loader_close(l);
    ws_sampler_close(s);
    ws_dataset_close(d);
    return 0;
}
