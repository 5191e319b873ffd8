/* tests/data/test_swe_dataset.c - `wattscale data swe` and `data check` end to end
 * (cli/cmd_data.c, data/swe_dataset.c): a tiny dataset in FourCastNet's layout that the
 * reader opens, whose training statistics normalise its training samples to mean 0 and
 * std 1, whose files record the generator's options, which the same seed reproduces
 * bitwise; the persistence report; refusals (existing data, bad years, unknown option). */
#include <hdf5.h>

#include "ws_test.h"
#include "data/fields.h"

static const char *bin(void) {
    const char *b = getenv("WATTSCALE_BIN");
    if (!b) fail_msg("WATTSCALE_BIN is not set");
    return b;
}

static int generate(const char *out, const char *seed, const char *extra, char *errbuf, size_t size) {
    const char *args[] = {"data", "swe", "--out", out, "--grid", "8x16", "--years", "0.02+0.01+0.005",
                          "--spinup-days", "2", "--seed", seed, extra, NULL};
    return ws_test_run(bin(), args, 0, 0, errbuf, size);
}

static float *load_all(const char *root, ws_fields_split split, size_t *n_out) {
    ws_error err = {0};
    ws_fields *f;
    WS_TEST_OK(ws_fields_open(&f, root, split, NULL, &err));
    const ws_fields_info *in = ws_fields_info_get(f);
    size_t chw = (size_t)in->c * in->h * in->w;
    float *x = malloc(in->count * chw * sizeof *x);
    int64_t *idx = malloc(in->count * sizeof *idx);
    assert_true(x && idx);
    for (size_t k = 0; k < in->count; k++) idx[k] = (int64_t)k;
    WS_TEST_OK(ws_fields_load(f, idx, in->count, 0, x, NULL, &err));
    *n_out = in->count * chw;
    free(idx);
    ws_fields_close(f);
    return x;
}

static void test_generate_and_read(void **state) {
    (void)state;
    const char *root = ws_test_tmpdir("swe-data");
    char out[512], out2[512], errbuf[4096];
    snprintf(out, sizeof out, "%s/a", root);
    snprintf(out2, sizeof out2, "%s/b", root);
    int rc = generate(out, "5", NULL, errbuf, sizeof errbuf);
    if (rc != 0) fail_msg("data swe exited %d: %s", rc, errbuf);

    ws_error err = {0};
    ws_fields *f;
    WS_TEST_OK(ws_fields_open(&f, out, WS_FIELDS_TRAIN, NULL, &err));
    const ws_fields_info *in = ws_fields_info_get(f);
    assert_int_equal(in->count, 29 - 1); /* round(0.02 * 1460) = 29 times, one target each */
    assert_true(in->c == 6 && in->h == 8 && in->w == 16 && in->dt_hours == 6.0);
    assert_string_equal(in->source, "wattscale swe");
    assert_string_equal(in->channel_names[0], "z");
    assert_string_equal(in->channel_names[5], "t");
    assert_true(in->lat_deg[0] > 70 && in->lat_deg[7] < -70); /* north first */
    ws_fields_close(f);
    WS_TEST_OK(ws_fields_open(&f, out, WS_FIELDS_VALID, NULL, &err));
    assert_int_equal(ws_fields_info_get(f)->count, 15 - 1);
    ws_fields_close(f);
    WS_TEST_OK(ws_fields_open(&f, out, WS_FIELDS_TEST, NULL, &err));
    assert_int_equal(ws_fields_info_get(f)->count, 7 - 1);
    ws_fields_close(f);

    /* the training stats normalise all training times (the last one is never a sample's
     * input, so the moments are those of 28 of the 29 times: close, not exact) */
    size_t n;
    float *x = load_all(out, WS_FIELDS_TRAIN, &n);
    size_t plane = 8 * 16, per = 6 * plane;
    for (int c = 0; c < 6; c++) {
        double s = 0, s2 = 0, cnt = 0;
        for (size_t k = 0; k < n; k += per)
            for (size_t p = 0; p < plane; p++) {
                double v = x[k + (size_t)c * plane + p];
                s += v;
                s2 += v * v;
                cnt++;
            }
        double m = s / cnt, sd = sqrt(s2 / cnt - m * m);
        if (!(fabs(m) < 0.1 && fabs(sd - 1) < 0.1)) fail_msg("channel %d: normalised mean %g, std %g", c, m, sd);
    }

    /* the generator's options are in every file */
    char path[600];
    snprintf(path, sizeof path, "%s/train/0001.h5", out);
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(file >= 0);
    assert_true(H5Aexists(file, "swe.jet_speed_m_s") > 0 && H5Aexists(file, "swe.seed") > 0 &&
                H5Aexists(file, "channel_units") > 0);
    H5Fclose(file);
    snprintf(path, sizeof path, "%s/stats/time_means.npy", out);
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fclose(fp);

    /* the same seed again: bitwise the same fields */
    rc = generate(out2, "5", NULL, errbuf, sizeof errbuf);
    if (rc != 0) fail_msg("data swe exited %d: %s", rc, errbuf);
    size_t n2;
    float *y = load_all(out2, WS_FIELDS_TRAIN, &n2);
    assert_int_equal(n, n2);
    assert_memory_equal(x, y, n * sizeof *x);
    free(x);
    free(y);

    /* check on the test split prints the persistence table */
    const char *cargs[] = {"data", "check", out, "--split", "test", NULL};
    rc = ws_test_run(bin(), cargs, 0, 0, errbuf, sizeof errbuf);
    assert_int_equal(rc, 0);

    /* refusals: existing data without --force, bad years, unknown option, missing --out */
    rc = generate(out, "5", NULL, errbuf, sizeof errbuf);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(errbuf, "--force"));
    const char *bad_years[] = {"data", "swe", "--out", out2, "--years", "1+x", NULL};
    assert_int_equal(ws_test_run(bin(), bad_years, 0, 0, errbuf, sizeof errbuf), 2);
    const char *bad_param[] = {"data", "swe", "--out", out2, "--param", "jetspeed=3", NULL};
    assert_int_equal(ws_test_run(bin(), bad_param, 0, 0, errbuf, sizeof errbuf), 2);
    assert_non_null(strstr(errbuf, "jet_speed_m_s"));
    const char *no_out[] = {"data", "swe", NULL};
    assert_int_equal(ws_test_run(bin(), no_out, 0, 0, errbuf, sizeof errbuf), 2);
    const char *tiny[] = {"data", "swe", "--out", out2, "--force", "--years", "0.001+0+0", NULL};
    assert_int_equal(ws_test_run(bin(), tiny, 0, 0, errbuf, sizeof errbuf), 2);
    assert_non_null(strstr(errbuf, "fewer than 3"));
    ws_test_rmtree(root);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_generate_and_read)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
