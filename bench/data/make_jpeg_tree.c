/* bench/data/make_jpeg_tree.c - writes an ImageNet-like tree of JPEGs for the data-loading
 * benchmark (bench/data/bench_data.sh): DIR/train/<class>/<image>.JPEG and
 * DIR/val/<class>/<image>.JPEG, baseline, 4:2:0, quality 90 by default, about 500x375
 * (each image's size drawn around it, a quarter portrait, as ImageNet's photos), with
 * natural-ish content so that file sizes and decoding work resemble photographs: a colour
 * gradient, overlapping soft-edged ellipses, low-frequency shading, a fine texture and grain
 * (about 100 KB per 500x375 image at quality 90; ImageNet's training JPEGs average ~110 KB).
 *
 *   ws_make_jpeg_tree DIR [--classes 10] [--train 500] [--val 0] [--width 500] [--height 375]
 *                     [--quality 90] [--seed 1] [--threads N]
 * (--train/--val: images per class). Deterministic for a seed, whatever the thread count.
 * Prints the images written, their mean size and the seconds taken. */
#include "core/rng.h"
#include "data/jpeg.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    const char *dir;
    int classes, train, val, width, height, quality;
    uint64_t seed;
    atomic_long next, bytes, failed;
} job;

static uint8_t clip(double v) { return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v + 0.5); }

/* One picture: everything drawn from the image's own stream. */
static void draw(uint8_t *px, int w, int h, ws_rng *r) {
    double c0[3], c1[3], ang = 6.2832 * ws_rng_uniform(r);
    for (int c = 0; c < 3; c++) {
        c0[c] = 40 + 180 * ws_rng_uniform(r);
        c1[c] = 40 + 180 * ws_rng_uniform(r);
    }
    double dx = cos(ang) / w, dy = sin(ang) / h;
    enum { BLOBS = 10 };
    double bx[BLOBS], by[BLOBS], brx[BLOBS], bry[BLOBS], bc[BLOBS][3];
    int n_blobs = 4 + (int)ws_rng_below(r, BLOBS - 3);
    for (int b = 0; b < n_blobs; b++) {
        bx[b] = w * ws_rng_uniform(r);
        by[b] = h * ws_rng_uniform(r);
        brx[b] = w * (0.05 + 0.3 * ws_rng_uniform(r));
        bry[b] = h * (0.05 + 0.3 * ws_rng_uniform(r));
        for (int c = 0; c < 3; c++) bc[b][c] = 255 * ws_rng_uniform(r);
    }
    double fx = 0.01 + 0.05 * ws_rng_uniform(r), fy = 0.01 + 0.05 * ws_rng_uniform(r);
    double hx = 0.3 + 0.6 * ws_rng_uniform(r), hy = 0.3 + 0.6 * ws_rng_uniform(r); /* fine texture */
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double t = 0.5 + (x - w / 2.0) * dx + (y - h / 2.0) * dy;
            double v[3];
            for (int c = 0; c < 3; c++) v[c] = c0[c] + (c1[c] - c0[c]) * t;
            for (int b = 0; b < n_blobs; b++) {
                double ex = (x - bx[b]) / brx[b], ey = (y - by[b]) / bry[b], d = ex * ex + ey * ey;
                if (d < 1.2) {
                    double a = d < 0.8 ? 0.85 : 0.85 * (1.2 - d) / 0.4; /* a soft rim */
                    for (int c = 0; c < 3; c++) v[c] += a * (bc[b][c] - v[c]);
                }
            }
            double shade = 18 * sin(fx * x + 0.7 * sin(fy * y)) * cos(fy * y);
            double texture = 14 * sin(hx * x + 2 * sin(0.05 * y)) * sin(hy * y + 2 * sin(0.07 * x));
            double grain = 64 * (ws_rng_uniform(r) - 0.5);
            uint8_t *o = px + ((size_t)y * w + x) * 3;
            for (int c = 0; c < 3; c++) o[c] = clip(v[c] + shade + texture + grain);
        }
}

static void *writer(void *arg) {
    job *j = arg;
    long per_class = j->train + j->val, total = per_class * j->classes;
    uint8_t *px = malloc((size_t)(j->width * 2) * (size_t)(j->height * 2) * 3);
    if (!px) {
        atomic_fetch_add(&j->failed, 1);
        return NULL;
    }
    for (long i; (i = atomic_fetch_add(&j->next, 1)) < total;) {
        int k = (int)(i / per_class), m = (int)(i % per_class);
        int is_val = m >= j->train;
        ws_rng root = ws_rng_seeded(j->seed), r = ws_rng_split(&root, (uint64_t)i);
        /* sizes around the nominal one, a quarter of them portrait */
        double s = 0.8 + 0.4 * ws_rng_uniform(&r);
        int w = (int)(j->width * s), h = (int)(j->height * s);
        if (ws_rng_below(&r, 4) == 0) {
            int t = w;
            w = h;
            h = t;
        }
        draw(px, w, h, &r);
        char path[4096];
        snprintf(path, sizeof path, "%s/%s/n%05d/n%05d_%06d.JPEG", j->dir, is_val ? "val" : "train", k, k,
                 is_val ? m - j->train : m);
        ws_error err = {0};
        if (wsi_jpeg_write(path, px, w, h, 3, j->quality, 1, &err) != WS_OK) {
            fprintf(stderr, "ws_make_jpeg_tree: %s\n", err.msg);
            atomic_fetch_add(&j->failed, 1);
            break;
        }
        struct stat sb;
        if (stat(path, &sb) == 0) atomic_fetch_add(&j->bytes, (long)sb.st_size);
    }
    free(px);
    return NULL;
}

static int make_dir(const char *path) {
    if (mkdir(path, 0777) == 0 || errno == EEXIST) return 0;
    fprintf(stderr, "ws_make_jpeg_tree: mkdir %s: %s\n", path, strerror(errno));
    return -1;
}

int main(int argc, char **argv) {
    if (argc < 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: ws_make_jpeg_tree DIR [--classes K] [--train N] [--val M] [--width W] [--height H] "
                        "[--quality Q] [--seed S] [--threads T]\n");
        return 2;
    }
    job j = {.dir = argv[1], .classes = 10, .train = 500, .val = 0, .width = 500, .height = 375, .quality = 90,
             .seed = 1};
    long threads = sysconf(_SC_NPROCESSORS_ONLN);
    for (int i = 2; i + 1 < argc; i += 2) {
        long v = strtol(argv[i + 1], NULL, 10);
        if (!strcmp(argv[i], "--classes")) j.classes = (int)v;
        else if (!strcmp(argv[i], "--train")) j.train = (int)v;
        else if (!strcmp(argv[i], "--val")) j.val = (int)v;
        else if (!strcmp(argv[i], "--width")) j.width = (int)v;
        else if (!strcmp(argv[i], "--height")) j.height = (int)v;
        else if (!strcmp(argv[i], "--quality")) j.quality = (int)v;
        else if (!strcmp(argv[i], "--seed")) j.seed = (uint64_t)v;
        else if (!strcmp(argv[i], "--threads")) threads = v;
        else {
            fprintf(stderr, "ws_make_jpeg_tree: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (j.classes < 1 || j.train < 0 || j.val < 0 || j.width < 8 || j.height < 8 || threads < 1) {
        fprintf(stderr, "ws_make_jpeg_tree: bad sizes or counts\n");
        return 2;
    }
    char path[4096];
    if (make_dir(j.dir)) return 1;
    for (int split = 0; split < 2; split++) {
        if ((split ? j.val : j.train) == 0) continue;
        snprintf(path, sizeof path, "%s/%s", j.dir, split ? "val" : "train");
        if (make_dir(path)) return 1;
        for (int k = 0; k < j.classes; k++) {
            snprintf(path, sizeof path, "%s/%s/n%05d", j.dir, split ? "val" : "train", k);
            if (make_dir(path)) return 1;
        }
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pthread_t *th = calloc((size_t)threads, sizeof *th);
    for (long t = 0; t < threads; t++) pthread_create(&th[t], NULL, writer, &j);
    for (long t = 0; t < threads; t++) pthread_join(th[t], NULL);
    free(th);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long total = (long)j.classes * (j.train + j.val);
    if (atomic_load(&j.failed)) return 1;
    printf("ws_make_jpeg_tree: %ld images (%d classes x %d train + %d val) in %s, mean %.1f KB, %.1f s\n", total,
           j.classes, j.train, j.val, j.dir, atomic_load(&j.bytes) / 1024.0 / (double)total,
           (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
    return 0;
}
