/* tests/data/test_idx.c - the IDX reader (data/idx.c) and the MNIST-style datasets built on
 * it (data/dataset_idx.c): small IDX files written here, plain and gzip, read back exactly;
 * truncated, malformed and mismatched files; missing files and folders; and, when Debian's
 * dataset-fashion-mnist is installed, the real Fashion-MNIST (else that test is skipped). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* truncate(2); CMake defines it for every test, a hand build may not */
#endif
#include "ws_test.h"
#include "data/dataset.h"
#include "data/idx.h"
#include "core/rng.h"

#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* ---- writing IDX files ---- */

/* Header for magic and dims, then `data_bytes` bytes of data (which may disagree with the
 * dims, to make malformed files), plain or gzip. */
static void write_idx(const char *path, int gz, uint32_t magic, const uint32_t *dims, int ndims,
                      const uint8_t *data, size_t data_bytes) {
    uint8_t head[16];
    size_t n = 0;
    for (int s = 24; s >= 0; s -= 8) head[n++] = (uint8_t)(magic >> s);
    for (int i = 0; i < ndims; i++)
        for (int s = 24; s >= 0; s -= 8) head[n++] = (uint8_t)(dims[i] >> s);
    if (gz) {
        gzFile f = gzopen(path, "wb");
        if (!f) fail_msg("gzopen %s failed", path);
        if (gzwrite(f, head, (unsigned)n) != (int)n) fail_msg("gzwrite %s failed", path);
        if (data_bytes && gzwrite(f, data, (unsigned)data_bytes) != (int)data_bytes)
            fail_msg("gzwrite %s failed", path);
        if (gzclose(f) != Z_OK) fail_msg("gzclose %s failed", path);
    } else {
        FILE *f = fopen(path, "wb");
        if (!f) fail_msg("fopen %s failed", path);
        if (fwrite(head, 1, n, f) != n) fail_msg("fwrite %s failed", path);
        if (data_bytes && fwrite(data, 1, data_bytes, f) != data_bytes) fail_msg("fwrite %s failed", path);
        fclose(f);
    }
}

static char *join(char *out, size_t size, const char *dir, const char *name) {
    if ((size_t)snprintf(out, size, "%s/%s", dir, name) >= size) fail_msg("path too long: %s/%s", dir, name);
    return out;
}

/* Pixels that exercise every byte value: (i * 37 + 11) mod 256. */
static void fill_pixels(uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)((i * 37 + 11) & 0xff);
}

/* A split of `count` images of h x w and `label_count` labels (label i = i % 10), under
 * dir with the given prefix ("train", "t10k"); the images gzip'd when gz. */
static void write_split(const char *dir, const char *prefix, int gz, uint32_t count, uint32_t h, uint32_t w,
                        uint32_t label_count) {
    char name[128], path[700];
    size_t n = (size_t)count * h * w;
    uint8_t *px = malloc(n), *lab = malloc(label_count);
    assert_non_null(px);
    assert_non_null(lab);
    fill_pixels(px, n);
    for (uint32_t i = 0; i < label_count; i++) lab[i] = (uint8_t)(i % 10);
    uint32_t idims[3] = {count, h, w}, ldims[1] = {label_count};
    snprintf(name, sizeof name, "%s-images-idx3-ubyte%s", prefix, gz ? ".gz" : "");
    write_idx(join(path, sizeof path, dir, name), gz, WS_IDX_MAGIC_IMAGES, idims, 3, px, n);
    snprintf(name, sizeof name, "%s-labels-idx1-ubyte", prefix);
    write_idx(join(path, sizeof path, dir, name), 0, WS_IDX_MAGIC_LABELS, ldims, 1, lab, label_count);
    free(px);
    free(lab);
}

/* ---- the reader ---- */

static void check_roundtrip(int gz) {
    ws_error err = {0};
    const char *dir = ws_test_tmpdir("idx");
    char path[700];
    uint8_t px[3 * 4 * 5];
    fill_pixels(px, sizeof px);
    uint32_t dims[3] = {3, 4, 5};
    write_idx(join(path, sizeof path, dir, gz ? "img.gz" : "img"), gz, WS_IDX_MAGIC_IMAGES, dims, 3, px, sizeof px);
    ws_idx a;
    WS_TEST_OK(ws_idx_read(&a, path, WS_IDX_MAGIC_IMAGES, &err));
    assert_int_equal(a.ndims, 3);
    assert_int_equal(a.dims[0], 3);
    assert_int_equal(a.dims[1], 4);
    assert_int_equal(a.dims[2], 5);
    assert_int_equal(a.size_bytes, sizeof px);
    assert_memory_equal(a.data, px, sizeof px);
    ws_idx_free(&a);
    assert_null(a.data);
    ws_idx_free(&a); /* a zeroed ws_idx is a no-op */

    uint8_t lab[7] = {0, 9, 3, 3, 255, 1, 2};
    uint32_t ldims[1] = {7};
    write_idx(join(path, sizeof path, dir, gz ? "lab.gz" : "lab"), gz, WS_IDX_MAGIC_LABELS, ldims, 1, lab, 7);
    WS_TEST_OK(ws_idx_read(&a, path, WS_IDX_MAGIC_LABELS, &err));
    assert_int_equal(a.ndims, 1);
    assert_int_equal(a.dims[0], 7);
    assert_memory_equal(a.data, lab, 7);
    ws_idx_free(&a);
    ws_test_rmtree(dir);
}

static void test_idx_plain_roundtrip(void **state) {
    (void)state;
    check_roundtrip(0);
}

static void test_idx_gzip_roundtrip(void **state) {
    (void)state;
    check_roundtrip(1);
}

/* Expects status `want` and every one of the words in the message. */
static void expect_error(ws_status got, const ws_error *err, ws_status want, const char *w1, const char *w2) {
    if (got != want) fail_msg("got %s (%s), want %s", ws_status_name(got), err->msg, ws_status_name(want));
    assert_int_equal(err->code, want);
    if (w1 && !strstr(err->msg, w1)) fail_msg("message lacks \"%s\": %s", w1, err->msg);
    if (w2 && !strstr(err->msg, w2)) fail_msg("message lacks \"%s\": %s", w2, err->msg);
}

static void test_idx_truncated(void **state) {
    (void)state;
    ws_error err = {0};
    const char *dir = ws_test_tmpdir("idx");
    char path[700];
    ws_idx a;
    uint8_t px[3 * 4 * 5];
    fill_pixels(px, sizeof px);
    uint32_t dims[3] = {3, 4, 5};

    /* plain, data short by 10 bytes */
    write_idx(join(path, sizeof path, dir, "short"), 0, WS_IDX_MAGIC_IMAGES, dims, 3, px, sizeof px - 10);
    expect_error(ws_idx_read(&a, path, WS_IDX_MAGIC_IMAGES, &err), &err, WS_EFORMAT, path, "truncated");
    assert_null(a.data);

    /* plain, header cut inside the sizes, and inside the magic */
    write_idx(path, 0, WS_IDX_MAGIC_IMAGES, dims, 2, NULL, 0);
    expect_error(ws_idx_read(&a, path, WS_IDX_MAGIC_IMAGES, &err), &err, WS_EFORMAT, path, "truncated");
    ws_test_write_file(path, "\x01");
    expect_error(ws_idx_read(&a, path, WS_IDX_MAGIC_IMAGES, &err), &err, WS_EFORMAT, path, "truncated");
    ws_test_write_file(path, "");
    expect_error(ws_idx_read(&a, path, WS_IDX_MAGIC_IMAGES, &err), &err, WS_EFORMAT, path, "truncated");

    /* gzip, data short inside the compressed stream (which itself is whole) */
    write_idx(join(path, sizeof path, dir, "short.gz"), 1, WS_IDX_MAGIC_IMAGES, dims, 3, px, sizeof px - 1);
    expect_error(ws_idx_read(&a, path, WS_IDX_MAGIC_IMAGES, &err), &err, WS_EFORMAT, path, "truncated");

    /* gzip file cut in half: random (incompressible) pixels, so the cut lands in the data */
    enum { N = 64, H = 16, W = 16 };
    uint8_t *big = malloc((size_t)N * H * W);
    assert_non_null(big);
    ws_rng rng = ws_rng_seeded(7);
    for (size_t i = 0; i < (size_t)N * H * W; i++) big[i] = (uint8_t)ws_rng_u64(&rng);
    uint32_t bdims[3] = {N, H, W};
    write_idx(join(path, sizeof path, dir, "cut.gz"), 1, WS_IDX_MAGIC_IMAGES, bdims, 3, big, (size_t)N * H * W);
    free(big);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(truncate(path, sb.st_size / 2), 0);
    expect_error(ws_idx_read(&a, path, WS_IDX_MAGIC_IMAGES, &err), &err, WS_EFORMAT, path, "truncated");

    /* gzip with only the 8-byte trailer (CRC, size) missing: the data is whole, the file not */
    write_idx(join(path, sizeof path, dir, "notrailer.gz"), 1, WS_IDX_MAGIC_IMAGES, dims, 3, px, sizeof px);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(truncate(path, sb.st_size - 8), 0);
    expect_error(ws_idx_read(&a, path, WS_IDX_MAGIC_IMAGES, &err), &err, WS_EFORMAT, path, "gzip");
    ws_test_rmtree(dir);
}

static void test_idx_malformed(void **state) {
    (void)state;
    ws_error err = {0};
    const char *dir = ws_test_tmpdir("idx");
    char path[700];
    ws_idx a;
    uint8_t px[3 * 4 * 5];
    fill_pixels(px, sizeof px);
    uint32_t dims[3] = {3, 4, 5};

    /* a labels file where images are expected, and the reverse */
    uint32_t ldims[1] = {60};
    write_idx(join(path, sizeof path, dir, "labels"), 0, WS_IDX_MAGIC_LABELS, ldims, 1, px, 60);
    expect_error(ws_idx_read(&a, path, WS_IDX_MAGIC_IMAGES, &err), &err, WS_EFORMAT, path, "magic 0x00000801");
    write_idx(join(path, sizeof path, dir, "images.gz"), 1, WS_IDX_MAGIC_IMAGES, dims, 3, px, sizeof px);
    expect_error(ws_idx_read(&a, path, WS_IDX_MAGIC_LABELS, &err), &err, WS_EFORMAT, path, "expected 0x00000801");

    /* not IDX at all */
    join(path, sizeof path, dir, "text");
    ws_test_write_file(path, "hello, world, this is not an IDX file\n");
    expect_error(ws_idx_read(&a, path, WS_IDX_MAGIC_IMAGES, &err), &err, WS_EFORMAT, path, "magic");

    /* bytes beyond what the sizes promise */
    uint8_t more[3 * 4 * 5 + 3] = {0};
    write_idx(join(path, sizeof path, dir, "long"), 0, WS_IDX_MAGIC_IMAGES, dims, 3, more, sizeof more);
    expect_error(ws_idx_read(&a, path, WS_IDX_MAGIC_IMAGES, &err), &err, WS_EFORMAT, path, "follow");

    /* a zero size */
    uint32_t zdims[3] = {3, 0, 5};
    write_idx(join(path, sizeof path, dir, "zero"), 0, WS_IDX_MAGIC_IMAGES, zdims, 3, NULL, 0);
    expect_error(ws_idx_read(&a, path, WS_IDX_MAGIC_IMAGES, &err), &err, WS_EFORMAT, path, "dimension 1 is 0");

    /* a header promising 4 GiB over a few bytes of data: an error, not a giant allocation */
    uint32_t hdims[3] = {65536, 256, 256};
    write_idx(join(path, sizeof path, dir, "huge"), 0, WS_IDX_MAGIC_IMAGES, hdims, 3, px, sizeof px);
    expect_error(ws_idx_read(&a, path, WS_IDX_MAGIC_IMAGES, &err), &err, WS_EFORMAT, path, "truncated");

    /* missing file */
    join(path, sizeof path, dir, "absent");
    expect_error(ws_idx_read(&a, path, WS_IDX_MAGIC_IMAGES, &err), &err, WS_EIO, path, "No such file");
    ws_test_rmtree(dir);
}

/* ---- datasets from IDX files ---- */

static void test_dataset_idx_small(void **state) {
    (void)state;
    ws_error err = {0};
    const char *dir = ws_test_tmpdir("idxds");
    write_split(dir, "train", 1, 12, 4, 5, 12); /* gzip images, plain labels */
    write_split(dir, "t10k", 0, 3, 4, 5, 3);

    static const struct { const char *kind; double mean, std; } kinds[] = {
        {"fashion-mnist", 0.2860, 0.3530}, {"mnist", 0.1307, 0.3081}};
    for (size_t k = 0; k < 2; k++) {
        ws_dataset *d;
        WS_TEST_OK(ws_dataset_open_idx(&d, kinds[k].kind, dir, WS_SPLIT_TRAIN, &err));
        const ws_dataset_info *info = ws_dataset_info_get(d);
        assert_string_equal(info->name, kinds[k].kind);
        assert_int_equal(info->count, 12);
        assert_int_equal(info->c, 1);
        assert_int_equal(info->h, 4);
        assert_int_equal(info->w, 5);
        assert_int_equal(info->classes, 10);
        assert_true(info->mean == kinds[k].mean && info->std == kinds[k].std);
        for (size_t i = 0; i < 12; i++) assert_int_equal(ws_dataset_labels(d)[i], (int32_t)(i % 10));

        int64_t idx[3] = {11, 0, 11};
        float x[3 * 20];
        int32_t lab[3];
        WS_TEST_OK(ws_dataset_load(d, idx, 3, x, lab, &err));
        uint8_t px[12 * 20];
        fill_pixels(px, sizeof px);
        for (int s = 0; s < 3; s++) {
            assert_int_equal(lab[s], (int32_t)(idx[s] % 10));
            for (int p = 0; p < 20; p++) {
                float want = (float)((px[idx[s] * 20 + p] / 255.0 - kinds[k].mean) / kinds[k].std);
                if (x[s * 20 + p] != want) fail_msg("sample %d pixel %d: %.9g, want %.9g", s, p, x[s * 20 + p], want);
            }
        }
        ws_dataset_close(d);

        WS_TEST_OK(ws_dataset_open_idx(&d, kinds[k].kind, dir, WS_SPLIT_VAL, &err));
        assert_int_equal(ws_dataset_info_get(d)->count, 3);
        ws_dataset_close(d);
    }
    ws_dataset_close(NULL);
    ws_test_rmtree(dir);
}

static void test_dataset_idx_errors(void **state) {
    (void)state;
    ws_error err = {0};
    ws_dataset *d = (ws_dataset *)&err; /* must come back NULL */
    const char *dir = ws_test_tmpdir("idxds");
    char path[700];

    write_split(dir, "train", 0, 12, 4, 5, 11); /* one label short */
    expect_error(ws_dataset_open_idx(&d, "mnist", dir, WS_SPLIT_TRAIN, &err), &err, WS_EFORMAT, "12 images",
                 "11 labels");
    assert_null(d);

    write_split(dir, "train", 0, 12, 4, 5, 12);
    uint8_t lab[12] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0};
    uint32_t ldims[1] = {12};
    write_idx(join(path, sizeof path, dir, "train-labels-idx1-ubyte"), 0, WS_IDX_MAGIC_LABELS, ldims, 1, lab, 12);
    expect_error(ws_dataset_open_idx(&d, "mnist", dir, WS_SPLIT_TRAIN, &err), &err, WS_EFORMAT, path, "label 10");

    /* the val split's files are absent: the message names the folder and the file */
    expect_error(ws_dataset_open_idx(&d, "mnist", dir, WS_SPLIT_VAL, &err), &err, WS_EIO, dir,
                 "t10k-images-idx3-ubyte");

    join(path, sizeof path, dir, "no-such-folder");
    expect_error(ws_dataset_open_idx(&d, "fashion-mnist", path, WS_SPLIT_TRAIN, &err), &err, WS_EIO, path,
                 "does not exist");

    expect_error(ws_dataset_open_idx(&d, "cifar10", dir, WS_SPLIT_TRAIN, &err), &err, WS_EINVAL, "cifar10", NULL);
    expect_error(ws_dataset_open_idx(&d, "mnist", NULL, WS_SPLIT_TRAIN, &err), &err, WS_EINVAL, "mnist", "folder");
    expect_error(ws_dataset_open_idx(&d, "mnist", dir, (ws_split)2, &err), &err, WS_EINVAL, "split", NULL);
    assert_null(d);
    ws_test_rmtree(dir);
}

/* The real Fashion-MNIST from Debian's dataset-fashion-mnist; absent, the default path must
 * tell how to get it, and the rest is skipped. */
static void test_fashion_mnist_real(void **state) {
    (void)state;
    ws_error err = {0};
    ws_dataset *d;
    struct stat sb;
    if (stat(WS_DATASET_DEFAULT_DIR, &sb) != 0) {
        expect_error(ws_dataset_open_idx(&d, NULL, NULL, WS_SPLIT_TRAIN, &err), &err, WS_EIO,
                     WS_DATASET_DEFAULT_DIR, "apt-get install dataset-fashion-mnist");
        skip();
    }
    static const struct { ws_split split; size_t count; } splits[] = {{WS_SPLIT_TRAIN, 60000}, {WS_SPLIT_VAL, 10000}};
    for (size_t s = 0; s < 2; s++) {
        WS_TEST_OK(ws_dataset_open_idx(&d, "fashion-mnist", NULL, splits[s].split, &err));
        const ws_dataset_info *info = ws_dataset_info_get(d);
        assert_int_equal(info->count, splits[s].count);
        assert_int_equal(info->c, 1);
        assert_int_equal(info->h, 28);
        assert_int_equal(info->w, 28);
        assert_int_equal(info->classes, 10);
        size_t hist[10] = {0};
        for (size_t i = 0; i < info->count; i++) {
            int32_t l = ws_dataset_labels(d)[i];
            assert_in_range(l, 0, 9);
            hist[l]++;
        }
        for (int k = 0; k < 10; k++) assert_int_equal(hist[k], splits[s].count / 10);

        if (splits[s].split == WS_SPLIT_TRAIN) {
            /* the documented constants are the training pixels' own statistics: after
             * normalisation, mean ~0 and std ~1 (to the 4 digits the constants have) */
            enum { B = 1000 };
            float *x = malloc((size_t)B * 784 * sizeof *x);
            int64_t idx[B];
            assert_non_null(x);
            double sum = 0, sum2 = 0;
            for (size_t b = 0; b < info->count; b += B) {
                for (int i = 0; i < B; i++) idx[i] = (int64_t)(b + (size_t)i);
                WS_TEST_OK(ws_dataset_load(d, idx, B, x, NULL, &err));
                for (size_t p = 0; p < (size_t)B * 784; p++) {
                    sum += x[p];
                    sum2 += (double)x[p] * x[p];
                }
            }
            double n = (double)info->count * 784, mean = sum / n, sd = sqrt(sum2 / n - mean * mean);
            WS_TEST_NEAR(mean, 0.0, 0, 2e-3);
            WS_TEST_NEAR(sd, 1.0, 0, 2e-3);
            free(x);
        }
        ws_dataset_close(d);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idx_plain_roundtrip),
        cmocka_unit_test(test_idx_gzip_roundtrip),
        cmocka_unit_test(test_idx_truncated),
        cmocka_unit_test(test_idx_malformed),
        cmocka_unit_test(test_dataset_idx_small),
        cmocka_unit_test(test_dataset_idx_errors),
        cmocka_unit_test(test_fashion_mnist_real),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
