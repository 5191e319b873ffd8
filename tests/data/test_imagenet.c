/* tests/data/test_imagenet.c - the ImageNet-folder dataset (data/dataset_imagenet.c) on
 * trees of JPEGs written here (tests/data/jpeg_tree.c): labels and class order (sorted,
 * hidden folders and non-JPEG files skipped), each sample coming from its class's files
 * (by colour), greyscale and CMYK samples, determinism by (seed, epoch, index) whatever
 * the thread or batch, the centre crop's values against a hand computation, fp32 = the
 * normalised uint8 form, unreadable files replaced by the next of their class and counted,
 * a class without a readable image, sharding and stratified fractions through the sampler,
 * the flat val layout (CSV and text label files), and the errors with their fixes. */
#include "ws_test.h"
#include "jpeg_tree.h"
#include "data/dataset.h"
#include "data/jpeg.h"
#include "data/sampler.h"

#include <pthread.h>
#include <sys/stat.h>

enum { S = 32 }; /* small crops keep the tests fast; the geometry tests use 224 */

static ws_imagenet_opts small_opts(int random_crop) {
    ws_imagenet_opts o = ws_imagenet_opts_default();
    o.random_crop = random_crop;
    o.crop_size = S;
    o.resize_size = 36;
    o.seed = 11;
    return o;
}

static void sample_mean(const uint8_t *tile, double m[3]) {
    m[0] = m[1] = m[2] = 0;
    for (int p = 0; p < S * S; p++)
        for (int c = 0; c < 3; c++) m[c] += tile[3 * p + c] / (double)(S * S);
}

static int near_colour(const double m[3], const uint8_t want[3], double tol) {
    for (int c = 0; c < 3; c++)
        if (!(fabs(m[c] - want[c]) <= tol)) return 0;
    return 1;
}

static void test_labels_class_order_and_content(void **state) {
    (void)state;
    const char *dir = ws_test_tmpdir("imagenet");
    tree_make(dir);
    ws_error err = {0};
    ws_imagenet_opts o = small_opts(0);
    ws_dataset *d;
    WS_TEST_OK(ws_dataset_open_imagenet(&d, dir, WS_SPLIT_TRAIN, &o, &err));
    const ws_dataset_info *info = ws_dataset_info_get(d);
    assert_string_equal(info->name, "imagenet");
    assert_int_equal(info->count, TREE_TRAIN_COUNT);
    assert_int_equal(info->classes, TREE_CLASSES); /* .hidden is not a class */
    assert_int_equal(info->c, 3);
    assert_int_equal(info->h, S);
    assert_int_equal(info->w, S);
    assert_true(isnan(info->mean));
    WS_TEST_NEAR(info->norm_mean[0], 0.485, 0, 0);
    WS_TEST_NEAR(info->norm_mean[2], 0.406, 0, 0);
    WS_TEST_NEAR(info->norm_std[1], 0.224, 0, 0);
    /* sorted class folders, 7 + 5 + 5 files in name order (notes.txt is not an image) */
    const int32_t want_labels[TREE_TRAIN_COUNT] = {0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2};
    assert_memory_equal(ws_dataset_labels(d), want_labels, sizeof want_labels);
    assert_int_equal(ws_dataset_corrupt_files(d), 0);

    static uint8_t tiles[TREE_TRAIN_COUNT][S * S * 3];
    int64_t idx[TREE_TRAIN_COUNT];
    int32_t lab[TREE_TRAIN_COUNT];
    for (int i = 0; i < TREE_TRAIN_COUNT; i++) idx[i] = i;
    ws_load_opts lo = {.epoch = 0, .format = WS_SAMPLES_NHWC_U8};
    WS_TEST_OK(ws_dataset_load_ex(d, idx, TREE_TRAIN_COUNT, &lo, tiles, lab, &err));
    assert_memory_equal(lab, want_labels, sizeof want_labels);
    for (int i = 0; i < TREE_TRAIN_COUNT; i++) {
        double m[3];
        sample_mean(tiles[i], m);
        uint8_t colour[3];
        tree_colour(lab[i], colour);
        if (i == 6) { /* b_grey.JPEG: apple's luma in R, G and B */
            double luma = 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2];
            uint8_t g[3] = {(uint8_t)luma, (uint8_t)luma, (uint8_t)luma};
            if (!near_colour(m, g, 4)) fail_msg("grey sample: mean %.1f %.1f %.1f", m[0], m[1], m[2]);
            continue;
        }
        /* every other sample has its class's colour: the CMYK one (16) and the substitutes
         * of the truncated (9) and PNG (13) files included */
        if (!near_colour(m, colour, 6))
            fail_msg("sample %d (label %d): mean %.1f %.1f %.1f, class colour %d %d %d", i, lab[i], m[0], m[1], m[2],
                     colour[0], colour[1], colour[2]);
    }
    /* the truncated bear and the PNG cat: found, counted once each, replaced by the next
     * file of their class with their own crop, so the sample equals that file's sample */
    assert_int_equal(ws_dataset_corrupt_files(d), 2);
    assert_int_equal(ws_dataset_substituted(d), 2);
    assert_memory_equal(tiles[9], tiles[10], sizeof tiles[9]); /* centre crops: no randomness */
    assert_memory_equal(tiles[13], tiles[14], sizeof tiles[13]);
    WS_TEST_OK(ws_dataset_load_ex(d, (int64_t[]){9}, 1, &lo, tiles[0], NULL, &err));
    assert_int_equal(ws_dataset_corrupt_files(d), 2); /* a bad file counts once */
    assert_int_equal(ws_dataset_substituted(d), 3);   /* a substitution every time */
    ws_dataset_close(d);

    /* val: class folders, the same classes */
    WS_TEST_OK(ws_dataset_open_imagenet(&d, dir, WS_SPLIT_VAL, &o, &err));
    assert_int_equal(ws_dataset_info_get(d)->count, 4);
    assert_memory_equal(ws_dataset_labels(d), ((int32_t[]){0, 0, 1, 2}), 4 * sizeof(int32_t));
    ws_dataset_close(d);
    ws_test_rmtree(dir);
}

typedef struct {
    const ws_dataset *d;
    uint64_t epoch;
    int64_t idx[TREE_TRAIN_COUNT];
    uint8_t x[TREE_TRAIN_COUNT][S * S * 3];
    ws_status st;
} load_job;

static void *load_thread(void *p) {
    load_job *j = p;
    ws_load_opts lo = {.epoch = j->epoch, .format = WS_SAMPLES_NHWC_U8};
    j->st = WS_OK;
    for (int i = 0; i < TREE_TRAIN_COUNT && j->st == WS_OK; i++) /* one at a time, in this job's order */
        j->st = ws_dataset_load_ex(j->d, &j->idx[i], 1, &lo, j->x[i], NULL, NULL);
    return NULL;
}

static void test_random_crops_deterministic_by_seed_and_epoch(void **state) {
    (void)state;
    const char *dir = ws_test_tmpdir("imagenet");
    tree_make(dir);
    ws_error err = {0};
    ws_imagenet_opts o = small_opts(-1); /* train: random crops */
    ws_dataset *d, *d2, *other_seed;
    WS_TEST_OK(ws_dataset_open_imagenet(&d, dir, WS_SPLIT_TRAIN, &o, &err));
    WS_TEST_OK(ws_dataset_open_imagenet(&d2, dir, WS_SPLIT_TRAIN, &o, &err));
    o.seed = 12;
    WS_TEST_OK(ws_dataset_open_imagenet(&other_seed, dir, WS_SPLIT_TRAIN, &o, &err));
    static uint8_t ref[TREE_TRAIN_COUNT][S * S * 3], x[TREE_TRAIN_COUNT][S * S * 3];
    int64_t idx[TREE_TRAIN_COUNT];
    for (int i = 0; i < TREE_TRAIN_COUNT; i++) idx[i] = i;
    ws_load_opts lo = {.epoch = 3, .format = WS_SAMPLES_NHWC_U8};
    WS_TEST_OK(ws_dataset_load_ex(d, idx, TREE_TRAIN_COUNT, &lo, ref, NULL, &err));
    /* another handle, the reverse order, four threads each in its own order: the same pixels */
    int64_t rev[TREE_TRAIN_COUNT];
    for (int i = 0; i < TREE_TRAIN_COUNT; i++) rev[i] = TREE_TRAIN_COUNT - 1 - i;
    WS_TEST_OK(ws_dataset_load_ex(d2, rev, TREE_TRAIN_COUNT, &lo, x, NULL, &err));
    for (int i = 0; i < TREE_TRAIN_COUNT; i++) assert_memory_equal(x[TREE_TRAIN_COUNT - 1 - i], ref[i], sizeof ref[i]);
    static load_job jobs[4];
    pthread_t th[4];
    for (int t = 0; t < 4; t++) {
        jobs[t].d = t % 2 ? d : d2;
        jobs[t].epoch = 3;
        for (int i = 0; i < TREE_TRAIN_COUNT; i++) jobs[t].idx[i] = (i * (2 * t + 1) + t) % TREE_TRAIN_COUNT;
        pthread_create(&th[t], NULL, load_thread, &jobs[t]);
    }
    for (int t = 0; t < 4; t++) pthread_join(th[t], NULL);
    for (int t = 0; t < 4; t++) {
        assert_int_equal(jobs[t].st, WS_OK);
        for (int i = 0; i < TREE_TRAIN_COUNT; i++)
            assert_memory_equal(jobs[t].x[i], ref[jobs[t].idx[i]], sizeof ref[0]);
    }
    /* another epoch or another seed: other crops (nearly all samples differ) */
    for (int which = 0; which < 2; which++) {
        ws_load_opts lo2 = {.epoch = which ? 3 : 4, .format = WS_SAMPLES_NHWC_U8};
        WS_TEST_OK(ws_dataset_load_ex(which ? other_seed : d, idx, TREE_TRAIN_COUNT, &lo2, x, NULL, &err));
        int differ = 0;
        for (int i = 0; i < TREE_TRAIN_COUNT; i++) differ += memcmp(x[i], ref[i], sizeof ref[i]) != 0;
        if (differ < TREE_TRAIN_COUNT - 2) fail_msg("%s: only %d of %d samples changed", which ? "seed" : "epoch",
                                                    differ, TREE_TRAIN_COUNT);
    }
    /* ws_dataset_load is epoch 0 in fp32: the normalised uint8 form of epoch 0, exactly */
    static float xf[TREE_TRAIN_COUNT][3 * S * S];
    WS_TEST_OK(ws_dataset_load(d, idx, TREE_TRAIN_COUNT, &xf[0][0], NULL, &err));
    lo.epoch = 0;
    WS_TEST_OK(ws_dataset_load_ex(d, idx, TREE_TRAIN_COUNT, &lo, x, NULL, &err));
    const ws_dataset_info *info = ws_dataset_info_get(d);
    for (int i = 0; i < TREE_TRAIN_COUNT; i++)
        for (int c = 0; c < 3; c++)
            for (int p = 0; p < S * S; p++) {
                float want = (float)((x[i][3 * p + c] / 255.0 - info->norm_mean[c]) / info->norm_std[c]);
                if (xf[i][c * S * S + p] != want) fail_msg("sample %d channel %d pixel %d: %g != %g", i, c, p,
                                                           xf[i][c * S * S + p], want);
            }
    ws_dataset_close(d);
    ws_dataset_close(d2);
    ws_dataset_close(other_seed);
    ws_test_rmtree(dir);
}

/* val/n01_x/ramp.JPEG: 512x512 grey, column x = floor(x/2). Resize(256) halves it (each
 * output averages values k-1, k, k, k+1 with weights 1/8, 3/8, 3/8, 1/8 = k), CenterCrop(224)
 * starts at 16: pixel (y, j) = 16 + j in R, G and B; fp32 channel c = ((16+j)/255 - mean_c)
 * / std_c. JPEG at quality 100 is within 1 level of it. */
static void test_center_crop_values_by_hand(void **state) {
    (void)state;
    const char *dir = ws_test_tmpdir("imagenet");
    mkdir(tree_file(dir, "val"), 0777);
    mkdir(tree_file(dir, "val/n01_x"), 0777);
    uint8_t *px = malloc(512 * 512);
    for (int y = 0; y < 512; y++)
        for (int x = 0; x < 512; x++) px[y * 512 + x] = (uint8_t)(x / 2);
    ws_error err = {0};
    WS_TEST_OK(wsi_jpeg_write(tree_file(dir, "val/n01_x/ramp.JPEG"), px, 512, 512, 1, 100, 0, &err));
    free(px);
    for (int dct = 0; dct < 2; dct++) {
        ws_imagenet_opts o = ws_imagenet_opts_default(); /* 224 from 256, as ImageNet's evaluation */
        o.dct_scaling = dct;
        ws_dataset *d;
        WS_TEST_OK(ws_dataset_open_imagenet(&d, dir, WS_SPLIT_VAL, &o, &err));
        static float x[3 * 224 * 224];
        int32_t lab = -1;
        WS_TEST_OK(ws_dataset_load(d, (int64_t[]){0}, 1, x, &lab, &err));
        assert_int_equal(lab, 0);
        const double mean[3] = {0.485, 0.456, 0.406}, std[3] = {0.229, 0.224, 0.225};
        double worst = 0;
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 224; y++)
                for (int j = 0; j < 224; j++) {
                    double want = ((16 + j) / 255.0 - mean[c]) / std[c];
                    double got = x[(c * 224 + y) * 224 + j];
                    double e = fabs(got - want) * std[c] * 255.0; /* in uint8 levels */
                    if (!(e <= worst)) worst = e;                 /* NaN becomes the worst */
                }
        if (!(worst <= 1.0 + 1e-4)) fail_msg("dct %d: worst error %.3f levels", dct, worst);
        ws_dataset_close(d);
    }
    ws_test_rmtree(dir);
}

static void test_class_without_readable_images(void **state) {
    (void)state;
    const char *dir = ws_test_tmpdir("imagenet");
    mkdir(tree_file(dir, "train"), 0777);
    mkdir(tree_file(dir, "train/a"), 0777);
    mkdir(tree_file(dir, "train/b"), 0777);
    tree_write_image(tree_file(dir, "train/a/1.jpg"), 0, 40, 30, 3, 90, 1);
    ws_test_write_file(tree_file(dir, "train/b/1.jpeg"), "not a jpeg at all");
    ws_test_write_file(tree_file(dir, "train/b/2.JPG"), "");
    ws_error err = {0};
    ws_imagenet_opts o = small_opts(1);
    ws_dataset *d;
    WS_TEST_OK(ws_dataset_open_imagenet(&d, dir, WS_SPLIT_TRAIN, &o, &err));
    assert_int_equal(ws_dataset_info_get(d)->count, 3);
    static uint8_t t[2][S * S * 3];
    ws_load_opts lo = {.epoch = 0, .format = WS_SAMPLES_NHWC_U8};
    int32_t lab[2];
    WS_TEST_OK(ws_dataset_load_ex(d, (int64_t[]){1, 2}, 2, &lo, t, lab, &err));
    assert_int_equal(lab[0], 1); /* the label stays the class's */
    assert_int_equal(lab[1], 1);
    for (int s = 0; s < 2; s++)
        for (int p = 0; p < S * S; p++) /* ImageNet's mean colour, rounded: 124, 116, 104 */
            if (t[s][3 * p] != 124 || t[s][3 * p + 1] != 116 || t[s][3 * p + 2] != 104)
                fail_msg("sample %d pixel %d is not mean-grey", s + 1, p);
    assert_int_equal(ws_dataset_corrupt_files(d), 2);
    assert_int_equal(ws_dataset_substituted(d), 2);
    ws_dataset_close(d);
    ws_test_rmtree(dir);
}

/* Sharding: the union of the ranks' batches of a step is the single-process batch; the
 * stratified fraction keeps round(f * n_k) of every class, halves up. */
static void test_sharding_and_fractions(void **state) {
    (void)state;
    const char *dir = ws_test_tmpdir("imagenet");
    tree_make(dir);
    ws_error err = {0};
    ws_imagenet_opts o = small_opts(-1);
    ws_dataset *d;
    WS_TEST_OK(ws_dataset_open_imagenet(&d, dir, WS_SPLIT_TRAIN, &o, &err));
    const ws_dataset_info *info = ws_dataset_info_get(d);
    ws_sampler_opts so = ws_sampler_opts_default();
    so.seed = 5;
    so.fraction = 0.5;
    so.local_batch = 4;
    ws_sampler *one, *r0, *r1;
    WS_TEST_OK(ws_sampler_open(&one, ws_dataset_labels(d), info->count, info->classes, &so, &err));
    so.world = 2;
    so.local_batch = 2;
    WS_TEST_OK(ws_sampler_open(&r0, ws_dataset_labels(d), info->count, info->classes, &so, &err));
    so.rank = 1;
    WS_TEST_OK(ws_sampler_open(&r1, ws_dataset_labels(d), info->count, info->classes, &so, &err));
    /* apple 7 -> 4 (3.5 rounds up), bear 5 -> 3, cat 5 -> 3 */
    assert_int_equal(ws_sampler_subset_size(one), 10);
    int per_class[TREE_CLASSES] = {0};
    for (size_t i = 0; i < ws_sampler_subset_size(one); i++) per_class[ws_dataset_labels(d)[ws_sampler_subset(one)[i]]]++;
    assert_int_equal(per_class[0], 4);
    assert_int_equal(per_class[1], 3);
    assert_int_equal(per_class[2], 3);
    for (uint64_t epoch = 0; epoch < 2; epoch++)
        for (size_t step = 0; step < ws_sampler_steps_per_epoch(one); step++) {
            int64_t all[4], a[2], b[2];
            size_t n = ws_sampler_batch(one, epoch, step, all);
            size_t na = ws_sampler_batch(r0, epoch, step, a), nb = ws_sampler_batch(r1, epoch, step, b);
            assert_int_equal(na + nb, n);
            for (size_t j = 0; j < n; j++) assert_int_equal(all[j], j % 2 ? b[j / 2] : a[j / 2]);
            /* each rank's samples are the single process's samples, pixel for pixel */
            static uint8_t xs[4][S * S * 3], xa[2][S * S * 3];
            ws_load_opts lo = {.epoch = epoch, .format = WS_SAMPLES_NHWC_U8};
            WS_TEST_OK(ws_dataset_load_ex(d, all, n, &lo, xs, NULL, &err));
            WS_TEST_OK(ws_dataset_load_ex(d, a, na, &lo, xa, NULL, &err));
            for (size_t j = 0; j < na; j++) assert_memory_equal(xa[j], xs[2 * j], sizeof xa[j]);
        }
    ws_sampler_close(one);
    ws_sampler_close(r0);
    ws_sampler_close(r1);
    ws_dataset_close(d);
    ws_test_rmtree(dir);
}

static void test_flat_val_with_label_files(void **state) {
    (void)state;
    const int32_t want[6] = {2, 0, 1, 0, 2, 1};
    for (int fmt = 0; fmt < 2; fmt++) {
        const char *dir = ws_test_tmpdir("imagenet");
        tree_make_flat(dir, fmt ? "txt" : "csv");
        ws_error err = {0};
        ws_imagenet_opts o = small_opts(-1);
        ws_dataset *d;
        WS_TEST_OK(ws_dataset_open_imagenet(&d, dir, WS_SPLIT_VAL, &o, &err));
        assert_int_equal(ws_dataset_info_get(d)->count, 6);
        assert_int_equal(ws_dataset_info_get(d)->classes, 3);
        assert_memory_equal(ws_dataset_labels(d), want, sizeof want);
        static uint8_t t[6][S * S * 3];
        ws_load_opts lo = {.epoch = 0, .format = WS_SAMPLES_NHWC_U8};
        int64_t idx[6] = {0, 1, 2, 3, 4, 5};
        WS_TEST_OK(ws_dataset_load_ex(d, idx, 6, &lo, t, NULL, &err));
        for (int i = 0; i < 6; i++) { /* each image has its labelled class's colour */
            double m[3];
            sample_mean(t[i], m);
            uint8_t colour[3];
            tree_colour(want[i], colour);
            if (!near_colour(m, colour, 6)) fail_msg("flat val %d: mean %.0f %.0f %.0f", i, m[0], m[1], m[2]);
        }
        ws_dataset_close(d);
        ws_dataset *tr;
        WS_TEST_OK(ws_dataset_open_imagenet(&tr, dir, WS_SPLIT_TRAIN, &o, &err));
        assert_int_equal(ws_dataset_info_get(tr)->count, 6);
        ws_dataset_close(tr);
        if (fmt == 1) {
            /* an image without a label, a label of an unknown class, no label file */
            tree_write_image(tree_file(dir, "val/extra.JPEG"), 0, 20, 20, 3, 90, 1);
            assert_int_equal(ws_dataset_open_imagenet(&d, dir, WS_SPLIT_VAL, &o, &err), WS_EFORMAT);
            assert_null(d);
            assert_non_null(strstr(err.msg, "extra.JPEG has no label"));
            ws_test_write_file(tree_file(dir, "val_labels.txt"), "extra n09_zebra\n");
            assert_int_equal(ws_dataset_open_imagenet(&d, dir, WS_SPLIT_VAL, &o, &err), WS_EFORMAT);
            assert_non_null(strstr(err.msg, "n09_zebra"));
            ws_test_write_file(tree_file(dir, "val_labels.txt"), "extra 3\n");
            assert_int_equal(ws_dataset_open_imagenet(&d, dir, WS_SPLIT_VAL, &o, &err), WS_EFORMAT);
            assert_non_null(strstr(err.msg, "out of range"));
            remove(tree_file(dir, "val_labels.txt"));
            assert_int_equal(ws_dataset_open_imagenet(&d, dir, WS_SPLIT_VAL, &o, &err), WS_EIO);
            assert_non_null(strstr(err.msg, "--val-labels"));
            /* given explicitly, anywhere */
            ws_test_write_file(tree_file(dir, "mine.txt"), "extra n02_bear\n");
            char lf[4096];
            snprintf(lf, sizeof lf, "%s", tree_file(dir, "mine.txt"));
            o.val_labels = lf;
            assert_int_equal(ws_dataset_open_imagenet(&d, dir, WS_SPLIT_VAL, &o, &err), WS_EFORMAT);
            assert_non_null(strstr(err.msg, "has no label")); /* the six others lack one now */
        }
        ws_test_rmtree(dir);
    }
}

static void test_errors_say_what_to_do(void **state) {
    (void)state;
    ws_error err = {0};
    ws_dataset *d = (ws_dataset *)1;
    ws_imagenet_opts o = small_opts(-1);
    assert_int_equal(ws_dataset_open_imagenet(&d, "/nonexistent/imagenet", WS_SPLIT_TRAIN, &o, &err), WS_EIO);
    assert_null(d);
    assert_non_null(strstr(err.msg, "does not exist"));
    const char *dir = ws_test_tmpdir("imagenet");
    assert_int_equal(ws_dataset_open_imagenet(&d, dir, WS_SPLIT_TRAIN, &o, &err), WS_EIO);
    assert_non_null(strstr(err.msg, "/train"));
    assert_non_null(strstr(err.msg, "<class>"));
    mkdir(tree_file(dir, "train"), 0777);
    assert_int_equal(ws_dataset_open_imagenet(&d, dir, WS_SPLIT_TRAIN, &o, &err), WS_EFORMAT);
    assert_non_null(strstr(err.msg, "no class folders"));
    mkdir(tree_file(dir, "train/n1"), 0777);
    mkdir(tree_file(dir, "train/n2"), 0777);
    tree_write_image(tree_file(dir, "train/n1/a.jpg"), 0, 20, 20, 3, 90, 1);
    ws_test_write_file(tree_file(dir, "train/n2/readme.txt"), "x");
    assert_int_equal(ws_dataset_open_imagenet(&d, dir, WS_SPLIT_TRAIN, &o, &err), WS_EFORMAT);
    assert_non_null(strstr(err.msg, "train/n2"));
    tree_write_image(tree_file(dir, "train/n2/a.jpg"), 1, 20, 20, 3, 90, 1);
    WS_TEST_OK(ws_dataset_open_imagenet(&d, dir, WS_SPLIT_TRAIN, &o, &err));
    ws_dataset_close(d);
    /* val's class folders must be train's */
    mkdir(tree_file(dir, "val"), 0777);
    mkdir(tree_file(dir, "val/n1"), 0777);
    tree_write_image(tree_file(dir, "val/n1/a.jpg"), 0, 20, 20, 3, 90, 1);
    assert_int_equal(ws_dataset_open_imagenet(&d, dir, WS_SPLIT_VAL, &o, &err), WS_EFORMAT);
    assert_non_null(strstr(err.msg, "not the same names"));
    /* options */
    o.scale_min = 0;
    assert_int_equal(ws_dataset_open_imagenet(&d, dir, WS_SPLIT_TRAIN, &o, &err), WS_EINVAL);
    assert_non_null(strstr(err.msg, "0.5,1"));
    o = small_opts(-1);
    o.resize_size = o.crop_size - 1;
    assert_int_equal(ws_dataset_open_imagenet(&d, dir, WS_SPLIT_TRAIN, &o, &err), WS_EINVAL);
    assert_int_equal(ws_dataset_open_imagenet(&d, NULL, WS_SPLIT_TRAIN, NULL, &err), WS_EINVAL);
    assert_non_null(strstr(err.msg, "imagenet:DIR"));
    ws_test_rmtree(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_labels_class_order_and_content),
        cmocka_unit_test(test_random_crops_deterministic_by_seed_and_epoch),
        cmocka_unit_test(test_center_crop_values_by_hand),
        cmocka_unit_test(test_class_without_readable_images),
        cmocka_unit_test(test_sharding_and_fractions),
        cmocka_unit_test(test_flat_val_with_label_files),
        cmocka_unit_test(test_errors_say_what_to_do),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
