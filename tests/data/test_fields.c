/* tests/data/test_fields.c - the FourCastNet-layout reader and writer (data/fields*.c,
 * data/npy.c) on small files written here: sample indexing across year files of unequal
 * length (t + steps stays inside a file), normalisation, targets for 1 and 2 steps,
 * channel subset, crop and stride, the climatology, concurrent loads from threads, the
 * evenly spread nested time fraction and the sampler over it, .npy round trips, and
 * errors that name the file and the fix (missing folder, no "fields" dataset, rank,
 * channel count of the stats, a too-short file, bad options). */
#include <hdf5.h>

#include "ws_test.h"
#include "data/fields.h"
#include "data/npy.h"

#include <pthread.h>
#include <sys/stat.h>

#define C 3
#define H 4
#define W 6

/* The raw value of file f, time t, channel c, row j, column i: distinct everywhere. */
static float raw(int f, int t, int c, int j, int i) { return (float)(1000 * f + 100 * t + 10 * c + j + 0.01 * i); }
static const double MEAN[C] = {500.0, 520.0, 540.0}, STD[C] = {2.0, 4.0, 8.0};

static void write_year(const char *dir, const char *name, int f, int times) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    const char *names[C] = {"z500", "t850", "u10"};
    double lat[H] = {90, 30, -30, -90}, lon[W] = {0, 60, 120, 180, 240, 300};
    ws_error err = {0};
    ws_fields_writer *wr;
    WS_TEST_OK(ws_fields_writer_open(&wr, path, times, C, H, W, names, NULL, lat, lon, 6.0, &err));
    float x[C * H * W];
    for (int t = 0; t < times; t++) {
        for (int c = 0; c < C; c++)
            for (int j = 0; j < H; j++)
                for (int i = 0; i < W; i++) x[(c * H + j) * W + i] = raw(f, t, c, j, i);
        WS_TEST_OK(ws_fields_writer_put(wr, t, x, &err));
    }
    WS_TEST_OK(ws_fields_writer_close(wr, &err));
}

/* ROOT/train/{a,b}.h5 with 5 and 4 times, ROOT/stats with MEAN, STD and a climatology. */
static const char *make_dataset(void) {
    const char *root = ws_test_tmpdir("fields");
    char dir[512];
    snprintf(dir, sizeof dir, "%s/train", root);
    mkdir(dir, 0777);
    write_year(dir, "a.h5", 0, 5);
    write_year(dir, "b.h5", 1, 4);
    float clim[C * H * W];
    for (int k = 0; k < C * H * W; k++) clim[k] = (float)k;
    snprintf(dir, sizeof dir, "%s/stats", root);
    ws_error err = {0};
    WS_TEST_OK(ws_fields_write_stats(dir, C, H, W, MEAN, STD, clim, &err));
    return root;
}

static void test_load_one_and_two_steps(void **state) {
    (void)state;
    const char *root = make_dataset();
    ws_error err = {0};
    ws_fields *f;
    WS_TEST_OK(ws_fields_open(&f, root, WS_FIELDS_TRAIN, NULL, &err));
    const ws_fields_info *in = ws_fields_info_get(f);
    assert_int_equal(in->count, 4 + 3); /* T - 1 samples per file */
    assert_int_equal(in->files, 2);
    assert_true(in->c == C && in->h == H && in->w == W && in->dt_hours == 6.0);
    assert_string_equal(in->channel_names[1], "t850");
    assert_true(in->lat_deg[0] == 90 && in->lon_deg[5] == 300 && in->std[2] == 8.0);
    int file, t;
    ws_fields_sample_time(f, 4, &file, &t);
    assert_true(file == 1 && t == 0);
    ws_fields_sample_time(f, 7, &file, &t);
    assert_int_equal(file, -1);
    int64_t idx[3] = {3, 4, 6}; /* the last sample of a, the first and last of b */
    float x[3 * C * H * W], y[3 * C * H * W];
    WS_TEST_OK(ws_fields_load(f, idx, 3, 1, x, y, &err));
    int ft[3][2] = {{0, 3}, {1, 0}, {1, 2}};
    for (int s = 0; s < 3; s++)
        for (int c = 0; c < C; c++)
            for (int j = 0; j < H; j++)
                for (int i = 0; i < W; i++) {
                    size_t k = ((size_t)(s * C + c) * H + j) * W + i;
                    WS_TEST_NEAR(x[k], (raw(ft[s][0], ft[s][1], c, j, i) - MEAN[c]) / STD[c], 1e-5, 1e-5);
                    WS_TEST_NEAR(y[k], (raw(ft[s][0], ft[s][1] + 1, c, j, i) - MEAN[c]) / STD[c], 1e-5, 1e-5);
                }
    int64_t bad = 7;
    assert_int_equal(ws_fields_load(f, &bad, 1, 1, x, y, &err), WS_EINVAL);
    assert_int_equal(ws_fields_load(f, idx, 1, 2, x, y, &err), WS_EINVAL); /* opened for 1 step */
    const int32_t *lab = ws_fields_labels(f);
    assert_true(lab[0] == 0 && lab[3] == 0 && lab[4] == 1 && lab[6] == 1);
    ws_fields_close(f);

    ws_fields_opts o = ws_fields_opts_default();
    o.max_steps = 2;
    WS_TEST_OK(ws_fields_open(&f, root, WS_FIELDS_TRAIN, &o, &err));
    assert_int_equal(ws_fields_info_get(f)->count, 3 + 2);
    int64_t last = 4; /* file b, time 1: targets at 2 and 3, the file's end */
    float y2[2 * C * H * W];
    WS_TEST_OK(ws_fields_load(f, &last, 1, 2, NULL, y2, &err));
    for (int s = 0; s < 2; s++)
        WS_TEST_NEAR(y2[(size_t)s * C * H * W + 2 * H * W + W + 1], (raw(1, 2 + s, 2, 1, 1) - MEAN[2]) / STD[2], 1e-5,
                     1e-5);
    ws_fields_close(f);
    ws_test_rmtree(root);
}

static void test_subset_crop_stride_climatology(void **state) {
    (void)state;
    const char *root = make_dataset();
    ws_error err = {0};
    ws_fields_opts o = ws_fields_opts_default();
    int ch[2] = {2, 0};
    o.channels = ch;
    o.n_channels = 2;
    o.row0 = 1;
    o.rows = 3;
    o.col0 = 1;
    o.stride = 2; /* rows 1, 3; columns 1, 3, 5 */
    ws_fields *f;
    WS_TEST_OK(ws_fields_open(&f, root, WS_FIELDS_TRAIN, &o, &err));
    const ws_fields_info *in = ws_fields_info_get(f);
    assert_true(in->c == 2 && in->h == 2 && in->w == 3);
    assert_string_equal(in->channel_names[0], "u10");
    assert_true(in->lat_deg[1] == -90 && in->lon_deg[2] == 300 && in->mean[1] == MEAN[0]);
    int64_t idx = 5;
    float x[2 * 2 * 3], clim[2 * 2 * 3];
    WS_TEST_OK(ws_fields_load(f, &idx, 1, 0, x, NULL, &err));
    WS_TEST_OK(ws_fields_climatology(f, clim, &err));
    for (int c = 0; c < 2; c++)
        for (int j = 0; j < 2; j++)
            for (int i = 0; i < 3; i++) {
                int fc = ch[c], fj = 1 + 2 * j, fi = 1 + 2 * i;
                WS_TEST_NEAR(x[(c * 2 + j) * 3 + i], (raw(1, 1, fc, fj, fi) - MEAN[fc]) / STD[fc], 1e-5, 1e-5);
                assert_true(clim[(c * 2 + j) * 3 + i] == (float)((fc * H + fj) * W + fi));
            }
    ws_fields_close(f);
    ws_test_rmtree(root);
}

typedef struct {
    const ws_fields *f;
    int seed;
    int ok;
} loader_arg;

static void *loader(void *p) {
    loader_arg *a = p;
    ws_error err = {0};
    float x[C * H * W], y[C * H * W];
    a->ok = 1;
    for (int r = 0; r < 200 && a->ok; r++) {
        int64_t idx = (r * 7 + a->seed) % 7;
        int file, t;
        ws_fields_sample_time(a->f, idx, &file, &t);
        if (ws_fields_load(a->f, &idx, 1, 1, x, y, &err) != WS_OK) a->ok = 0;
        for (int k = 0; k < C * H * W && a->ok; k++) {
            int c = k / (H * W), j = (k / W) % H, i = k % W;
            if (fabsf(x[k] - (float)((raw(file, t, c, j, i) - MEAN[c]) / STD[c])) > 1e-4f) a->ok = 0;
        }
    }
    return NULL;
}

static void test_concurrent_loads(void **state) {
    (void)state;
    const char *root = make_dataset();
    ws_error err = {0};
    ws_fields *f;
    WS_TEST_OK(ws_fields_open(&f, root, WS_FIELDS_TRAIN, NULL, &err));
    pthread_t th[4];
    loader_arg args[4];
    for (int k = 0; k < 4; k++) {
        args[k] = (loader_arg){f, k, 0};
        assert_int_equal(pthread_create(&th[k], NULL, loader, &args[k]), 0);
    }
    for (int k = 0; k < 4; k++) {
        pthread_join(th[k], NULL);
        assert_true(args[k].ok);
    }
    ws_fields_close(f);
    ws_test_rmtree(root);
}

static void test_time_fraction_and_sampler(void **state) {
    (void)state;
    const char *root = ws_test_tmpdir("fraction");
    char dir[512];
    snprintf(dir, sizeof dir, "%s/test", root);
    mkdir(dir, 0777);
    write_year(dir, "1.h5", 0, 101); /* 100 samples */
    write_year(dir, "2.h5", 1, 41);  /* 40 samples */
    snprintf(dir, sizeof dir, "%s/stats", root);
    ws_error err = {0};
    WS_TEST_OK(ws_fields_write_stats(dir, C, H, W, MEAN, STD, NULL, &err));
    ws_fields *f;
    WS_TEST_OK(ws_fields_open(&f, root, WS_FIELDS_VALID, NULL, &err));
    int64_t *quarter, *half;
    size_t nq, nh;
    WS_TEST_OK(ws_fields_subset(f, 0.25, &quarter, &nq, &err));
    WS_TEST_OK(ws_fields_subset(f, 0.5, &half, &nh, &err));
    assert_int_equal(nq, 25 + 10);
    assert_int_equal(nh, 50 + 20);
    size_t q = 0; /* nested: every quarter sample is in the half */
    for (size_t k = 0; k < nh && q < nq; k++)
        if (half[k] == quarter[q]) q++;
    assert_int_equal(q, nq);
    for (size_t k = 1; k < 25; k++) /* spread: no gap in year 1 wider than 2x the mean spacing */
        if (!(quarter[k] - quarter[k - 1] <= 8 && quarter[k] > quarter[k - 1]))
            fail_msg("quarter[%zu] = %lld after %lld", k, (long long)quarter[k], (long long)quarter[k - 1]);
    free(quarter);
    free(half);
    assert_int_equal(ws_fields_subset(f, 0.0, &half, &nh, &err), WS_EINVAL);
    assert_null(half);

    /* two ranks: disjoint shards whose union is the global batch of one process */
    ws_sampler_opts so = ws_sampler_opts_default();
    so.fraction = 0.5;
    so.local_batch = 4;
    so.seed = 3;
    ws_sampler *one, *r0, *r1;
    so.local_batch = 8;
    WS_TEST_OK(ws_fields_sampler_open(&one, f, &so, &err));
    so.local_batch = 4;
    so.world = 2;
    so.rank = 0;
    WS_TEST_OK(ws_fields_sampler_open(&r0, f, &so, &err));
    so.rank = 1;
    WS_TEST_OK(ws_fields_sampler_open(&r1, f, &so, &err));
    assert_int_equal(ws_sampler_subset_size(one), 70);
    assert_int_equal(ws_sampler_steps_per_epoch(r0), 9);
    int64_t a[8], b[4], c[4];
    for (size_t step = 0; step < 8; step++) {
        assert_int_equal(ws_sampler_batch(one, 2, step, a), 8);
        assert_int_equal(ws_sampler_batch(r0, 2, step, b), 4);
        assert_int_equal(ws_sampler_batch(r1, 2, step, c), 4);
        for (int j = 0; j < 4; j++) assert_true(a[2 * j] == b[j] && a[2 * j + 1] == c[j]);
    }
    so.rank = 2;
    ws_sampler *bad;
    assert_int_equal(ws_fields_sampler_open(&bad, f, &so, &err), WS_EINVAL);
    assert_null(bad);
    assert_non_null(strstr(err.msg, "rank 2"));
    ws_sampler_close(one);
    ws_sampler_close(r0);
    ws_sampler_close(r1);
    ws_fields_close(f);
    ws_test_rmtree(root);
}

/* A file with one dataset `name` of the given rank and shape, written with HDF5 directly. */
static void write_raw(const char *path, const char *name, int rank, const hsize_t *dims) {
    hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    hid_t d = H5Dcreate2(file, name, H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(file >= 0 && d >= 0);
    H5Dclose(d);
    H5Sclose(sp);
    H5Fclose(file);
}

static void expect_open_error(const char *root, ws_fields_split split, const ws_fields_opts *o, ws_status code,
                              const char *needle1, const char *needle2) {
    ws_error err = {0};
    ws_fields *f = (ws_fields *)&err;
    ws_status st = ws_fields_open(&f, root, split, o, &err);
    if (st != code || f != NULL || !strstr(err.msg, needle1) || (needle2 && !strstr(err.msg, needle2)))
        fail_msg("got %s: %s (want %s with '%s' and '%s')", ws_status_name(st), err.msg, ws_status_name(code), needle1,
                 needle2 ? needle2 : "");
}

static void test_errors_name_file_and_fix(void **state) {
    (void)state;
    const char *root = make_dataset();
    char dir[512], path[600];
    expect_open_error("/nonexistent/era5", WS_FIELDS_TRAIN, NULL, WS_EIO, "/nonexistent/era5", "wattscale data swe");
    expect_open_error(root, WS_FIELDS_TEST, NULL, WS_EIO, "out_of_sample", "layout");
    ws_fields_opts o = ws_fields_opts_default();
    int ch = 3;
    o.channels = &ch;
    o.n_channels = 1;
    expect_open_error(root, WS_FIELDS_TRAIN, &o, WS_EINVAL, "channel 3", "a.h5");
    o = ws_fields_opts_default();
    o.rows = 5;
    expect_open_error(root, WS_FIELDS_TRAIN, &o, WS_EINVAL, "crop", "4x6");
    o = ws_fields_opts_default();
    o.max_steps = 4; /* b.h5 holds 4 times */
    expect_open_error(root, WS_FIELDS_TRAIN, &o, WS_EFORMAT, "b.h5", "too few");

    /* stats for 2 channels where the files have 3 */
    snprintf(dir, sizeof dir, "%s/stats2", root);
    ws_error err = {0};
    WS_TEST_OK(ws_fields_write_stats(dir, 2, H, W, MEAN, STD, NULL, &err));
    o = ws_fields_opts_default();
    o.stats_dir = dir;
    expect_open_error(root, WS_FIELDS_TRAIN, &o, WS_EFORMAT, "global_means.npy", "3 channels");
    snprintf(dir, sizeof dir, "%s/nostats", root);
    o.stats_dir = dir;
    expect_open_error(root, WS_FIELDS_TRAIN, &o, WS_EIO, "global_means.npy is missing", NULL);

    /* a year file whose dataset is not called "fields", and one of rank 3 */
    snprintf(dir, sizeof dir, "%s/test", root);
    mkdir(dir, 0777);
    snprintf(path, sizeof path, "%s/c.h5", dir);
    hsize_t d4[4] = {3, C, H, W}, d3[3] = {3, H, W};
    write_raw(path, "data", 4, d4);
    expect_open_error(root, WS_FIELDS_VALID, NULL, WS_EFORMAT, "c.h5 has no dataset \"fields\"", "holds: data");
    write_raw(path, "fields", 3, d3);
    expect_open_error(root, WS_FIELDS_VALID, NULL, WS_EFORMAT, "rank 3", "c.h5");
    hsize_t other[4] = {3, C, H + 1, W};
    write_raw(path, "fields", 4, other);
    snprintf(path, sizeof path, "%s/d.h5", dir);
    write_raw(path, "fields", 4, d4);
    expect_open_error(root, WS_FIELDS_VALID, NULL, WS_EFORMAT, "d.h5", "share channels and grid");
    snprintf(path, sizeof path, "%s/e.h5", dir); /* not HDF5 at all */
    ws_test_write_file(path, "not hdf5\n");
    snprintf(path, sizeof path, "%s/c.h5", dir);
    remove(path);
    snprintf(path, sizeof path, "%s/d.h5", dir);
    remove(path);
    expect_open_error(root, WS_FIELDS_VALID, NULL, WS_EIO, "e.h5", "HDF5");
    ws_test_rmtree(root);
}

static void test_npy_round_trip_and_errors(void **state) {
    (void)state;
    const char *root = ws_test_tmpdir("npy");
    char path[512];
    snprintf(path, sizeof path, "%s/a.npy", root);
    ws_error err = {0};
    float v[6] = {1.5f, -2, 3, 4, 5, 6.25f};
    uint64_t dims[3] = {1, 2, 3};
    WS_TEST_OK(ws_npy_write(path, 0, 3, dims, v, &err));
    double *got;
    int nd;
    uint64_t gd[WS_NPY_MAX_DIMS];
    WS_TEST_OK(ws_npy_read(path, &got, &nd, gd, &err));
    assert_true(nd == 3 && gd[0] == 1 && gd[1] == 2 && gd[2] == 3);
    for (int k = 0; k < 6; k++) assert_true(got[k] == v[k]);
    free(got);
    FILE *fp = fopen(path, "rb"); /* NumPy's alignment: the data starts at a multiple of 64 */
    fseek(fp, 0, SEEK_END);
    assert_int_equal((ftell(fp) - 24) % 64, 0);
    fclose(fp);
    snprintf(path, sizeof path, "%s/bad.npy", root);
    static const char dict[] = "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }          \n";
    const unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(sizeof dict - 1), 0};
    fp = fopen(path, "wb");
    fwrite(pre, 1, 10, fp);
    fwrite(dict, 1, sizeof dict - 1, fp);
    fwrite("\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 1, 16, fp);
    fclose(fp);
    assert_int_equal(ws_npy_read(path, &got, &nd, gd, &err), WS_EFORMAT);
    assert_non_null(strstr(err.msg, "<i8"));
    snprintf(path, sizeof path, "%s/none.npy", root);
    assert_int_equal(ws_npy_read(path, &got, &nd, gd, &err), WS_EIO);
    assert_non_null(strstr(err.msg, "none.npy"));
    ws_test_rmtree(root);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_one_and_two_steps),   cmocka_unit_test(test_subset_crop_stride_climatology),
        cmocka_unit_test(test_concurrent_loads),         cmocka_unit_test(test_time_fraction_and_sampler),
        cmocka_unit_test(test_errors_name_file_and_fix), cmocka_unit_test(test_npy_round_trip_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
