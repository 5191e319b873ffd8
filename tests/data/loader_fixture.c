/* tests/data/loader_fixture.c - the shared synthetic dataset and sampler of the loader
 * tests; contract in tests/data/loader_fixture.h. */
#include "loader_fixture.h"
#include "ws_test.h"

ws_dataset *fixture_synthetic(size_t count, int hw, int classes, uint64_t seed) {
    ws_synthetic_opts o = ws_synthetic_opts_default();
    o.count = count;
    o.c = 3;
    o.h = o.w = hw;
    o.classes = classes;
    o.seed = seed;
    ws_dataset *d;
    ws_error err = {0};
    WS_TEST_OK(ws_dataset_open_synthetic(&d, &o, WS_SPLIT_TRAIN, &err));
    return d;
}

ws_sampler *fixture_sampler(const ws_dataset *d, int batch, uint64_t seed) {
    ws_sampler_opts so = ws_sampler_opts_default();
    so.seed = seed;
    so.local_batch = batch;
    ws_sampler *s;
    ws_error err = {0};
    const ws_dataset_info *info = ws_dataset_info_get(d);
    WS_TEST_OK(ws_sampler_open(&s, ws_dataset_labels(d), info->count, info->classes, &so, &err));
    return s;
}
