/* tests/train/test_forecast_metrics.c - latitude-weighted RMSE and ACC
 * (train/forecast_metrics.c) on cases computed by hand: the weights, RMSE of a one-row
 * error, de-normalisation by std, ACC of known anomalies (1, 0, 1/sqrt(3), invariance to
 * the normalisation), averaging over samples, the reducible sums, persistence. */
#include "ws_test.h"
#include "train/forecast_metrics.h"

/* Three rows at 60, 0, -60 degrees: cos = 1/2, 1, 1/2, mean 2/3, weights 3/4, 3/2, 3/4. */
static const double LAT[3] = {60, 0, -60};

static void test_weights_and_rmse(void **state) {
    (void)state;
    double w[3];
    ws_lat_weights(w, LAT, 3);
    WS_TEST_NEAR(w[0], 0.75, 1e-12, 0);
    WS_TEST_NEAR(w[1], 1.5, 1e-12, 0);
    WS_TEST_NEAR(w[2], 0.75, 1e-12, 0);
    /* error 2 on the two points of row 0 only: mean of w d^2 = 0.75 * 4 * 2 / 6 = 1 */
    float p[6] = {2, 2, 0, 0, 0, 0}, t[6] = {0};
    WS_TEST_NEAR(ws_weighted_rmse(p, t, 3, 2, w, 1.0), 1.0, 1e-12, 0);
    WS_TEST_NEAR(ws_weighted_rmse(p, t, 3, 2, w, 3.0), 3.0, 1e-12, 0); /* times the std */
    /* the same error on the equator row weighs twice: sqrt(1.5 * 4 * 2 / 6) = sqrt(2) */
    float q[6] = {0, 0, 2, 2, 0, 0};
    WS_TEST_NEAR(ws_weighted_rmse(q, t, 3, 2, w, 1.0), sqrt(2.0), 1e-12, 0);
}

static void test_acc_hand_cases(void **state) {
    (void)state;
    double w[3];
    ws_lat_weights(w, LAT, 3);
    double a[6] = {1, 1, 0, 0, -1, -1}, b[6] = {1, 1, 0, 0, 1, 1};
    WS_TEST_NEAR(ws_weighted_acc(a, b, 3, 2, w), 0.0, 0, 1e-12); /* 0.75*2 - 0.75*2 */
    double b2[6] = {2, 2, 0, 0, -2, -2};
    WS_TEST_NEAR(ws_weighted_acc(a, b2, 3, 2, w), 1.0, 1e-12, 0);
    /* a = rows (1, 1, 0), b = rows (1, 0, 0): 1.5 / sqrt(4.5 * 1.5) = 1/sqrt(3) */
    double a3[6] = {1, 1, 1, 1, 0, 0}, b3[6] = {1, 1, 0, 0, 0, 0};
    WS_TEST_NEAR(ws_weighted_acc(a3, b3, 3, 2, w), 1.0 / sqrt(3.0), 1e-12, 0);
    double zero[6] = {0};
    assert_true(isnan(ws_weighted_acc(a, zero, 3, 2, w)));
}

/* Through the accumulator, with normalised inputs: mean 10, std 2 per channel, clim 10. */
static void test_accumulator_physical_units(void **state) {
    (void)state;
    ws_error err = {0};
    double mean[2] = {10, 10}, std[2] = {2, 2};
    float clim[12];
    for (int k = 0; k < 12; k++) clim[k] = 10.0f;
    ws_forecast_metrics *m;
    WS_TEST_OK(ws_forecast_metrics_open(&m, 2, 3, 2, LAT, mean, std, clim, &err));
    /* sample 1: channel 0 pred - target = 1 (normalised) everywhere -> RMSE 2 physical;
     * channel 1 identical -> RMSE 0. Anomalies of channel 0: pred = 1+x, target = x. */
    float pred[2 * 12], tgt[2 * 12];
    for (int k = 0; k < 6; k++) {
        tgt[k] = (float)(k % 2 ? 1 : -1);       /* normalised anomaly +-1 */
        pred[k] = 2.0f * tgt[k];                /* same pattern, twice as strong: ACC 1 */
        tgt[6 + k] = pred[6 + k] = (float)k;
    }
    /* sample 2: channel 0 exact, channel 1 off by 0.5 (normalised) -> RMSE 1 physical */
    for (int k = 0; k < 6; k++) {
        tgt[12 + k] = pred[12 + k] = (float)(k % 2 ? 1 : -1);
        tgt[18 + k] = (float)(k < 2 ? 1 : k < 4 ? 0 : -1);
        pred[18 + k] = tgt[18 + k] + 0.5f;
    }
    ws_forecast_metrics_add(m, pred, tgt, 2);
    double rmse[2], acc[2];
    ws_forecast_metrics_result(m, rmse, acc);
    /* channel 0: RMSE (2*1 (sample 1: |2t - t| = 1) + 0) / 2 = 1; ACC (1 + 1) / 2 */
    WS_TEST_NEAR(rmse[0], 1.0, 1e-9, 0);
    WS_TEST_NEAR(acc[0], 1.0, 1e-9, 0);
    /* channel 1: RMSE (0 + 2*0.5) / 2 = 0.5 */
    WS_TEST_NEAR(rmse[1], 0.5, 1e-9, 0);
    size_t len;
    double *sums = ws_forecast_metrics_sums(m, &len);
    assert_int_equal(len, 5);
    WS_TEST_NEAR(sums[4], 2.0, 0, 0);
    for (size_t k = 0; k < len; k++) sums[k] *= 2; /* as if a second rank saw the same: means stay */
    ws_forecast_metrics_result(m, rmse, NULL);
    WS_TEST_NEAR(rmse[1], 0.5, 1e-9, 0);
    ws_forecast_metrics_reset(m);
    ws_forecast_metrics_result(m, rmse, acc);
    assert_true(isnan(rmse[0]) && isnan(acc[0]));
    ws_forecast_metrics_close(m);

    WS_TEST_OK(ws_forecast_metrics_open(&m, 2, 3, 2, LAT, NULL, NULL, NULL, &err)); /* no climatology */
    ws_forecast_metrics_add(m, pred, tgt, 1);                                          /* persistence-style call */
    ws_forecast_metrics_result(m, rmse, acc);
    WS_TEST_NEAR(rmse[0], 1.0, 1e-9, 0); /* physical = normalised here */
    assert_true(isnan(acc[1]));
    ws_forecast_metrics_close(m);
    double bad_std[2] = {1, 0};
    assert_int_equal(ws_forecast_metrics_open(&m, 2, 3, 2, LAT, mean, bad_std, NULL, &err), WS_EINVAL);
    assert_int_equal(ws_forecast_metrics_open(&m, 2, 3, 2, NULL, mean, std, NULL, &err), WS_EINVAL);
    ws_forecast_metrics_close(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_weights_and_rmse),
        cmocka_unit_test(test_acc_hand_cases),
        cmocka_unit_test(test_accumulator_physical_units),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
