/* tests/train/test_upload.c - the upload slots (src/train/upload.c) on the CPU exec, where
 * copies are memcpy: batches come out in the loader's order with a direct load's samples
 * and labels, however copying ahead and taking batches interleave, across a queued epoch;
 * copying ahead takes one batch at a time and counts it; dropping gives the staged batch
 * back (the loader can restart elsewhere, even with a ring of two); the end of the runs and
 * a forgotten done are reported; closing with a batch staged leaks nothing (ASan). The
 * streams and events of the CUDA path are exercised by tests/train/test_train_imagenet_cuda.sh. */
#include "ws_test.h"
#include "core/rng.h"
#include "data/loader.h"
#include "data/loader_fixture.h"
#include "ops/ops.h"
#include "train/upload.h"

static ws_dataset *synthetic(size_t count) { return fixture_synthetic(count, 5, 4, 3); }
static ws_sampler *sampler_for(const ws_dataset *d, int batch) { return fixture_sampler(d, batch, 9); }

static ws_loader *loader_for(const ws_dataset *d, ws_sampler *s, int prefetch) {
    ws_loader_opts o = ws_loader_opts_default();
    o.threads = 2;
    o.prefetch = prefetch;
    o.max_batch = 8;
    o.indices = ws_loader_sampler_indices;
    o.indices_ctx = s;
    ws_loader *l;
    ws_error err = {0};
    WS_TEST_OK(ws_loader_open(&l, d, &o, &err));
    return l;
}

/* The batch is seq of epoch, as a direct load makes it. */
static void check_batch(const ws_dataset *d, ws_sampler *ref, const wsi_device_batch *db, uint64_t epoch, size_t seq) {
    int64_t idx[8];
    int32_t lab[8];
    float want[8 * 75];
    ws_error err = {0};
    size_t n = ws_sampler_batch(ref, epoch, seq, idx);
    assert_int_equal(db->epoch, epoch);
    assert_int_equal(db->seq, seq);
    assert_int_equal(db->n, n);
    ws_load_opts lo = {.epoch = epoch, .format = WS_SAMPLES_NCHW_F32};
    WS_TEST_OK(ws_dataset_load_ex(d, idx, n, &lo, want, lab, &err));
    assert_memory_equal(db->labels, lab, n * sizeof *lab);
    if (memcmp(db->x, want, n * 75 * sizeof(float)))
        fail_msg("epoch %llu batch %zu: samples differ from a direct load", (unsigned long long)epoch, seq);
}

static void test_order_whatever_the_interleaving(void **state) {
    (void)state;
    ws_dataset *d = synthetic(100); /* 12 batches of 8 and one of 4 per epoch */
    ws_sampler *s = sampler_for(d, 8), *ref = sampler_for(d, 8);
    ws_exec ex = ws_exec_cpu(1);
    for (int pattern = 0; pattern < 3; pattern++) {
        ws_loader *l = loader_for(d, s, 4);
        ws_error err = {0};
        WS_TEST_OK(ws_loader_start(l, 0, 3, 10, &err)); /* epoch 0 from batch 3, then epoch 1 */
        WS_TEST_OK(ws_loader_queue(l, 1, 0, 13, &err));
        wsi_upload *u;
        WS_TEST_OK(wsi_upload_open(&u, &ex, l, 8, 75 * sizeof(float), pattern > 0, &err));
        ws_rng rng = ws_rng_seeded(11 + (uint64_t)pattern);
        size_t aheads = 0;
        for (size_t k = 0; k < 23; k++) {
            wsi_device_batch db;
            WS_TEST_OK(wsi_upload_next(u, &db, &err));
            check_batch(d, ref, &db, k < 10 ? 0 : 1, k < 10 ? 3 + k : k - 10);
            wsi_upload_done(u);
            /* pattern 1: ahead after every batch; 2: at random, sometimes twice */
            int times = pattern == 1 ? 1 : pattern == 2 ? (int)ws_rng_below(&rng, 3) : 1;
            for (int t = 0; t < times; t++)
                WS_TEST_OK(wsi_upload_ahead(u, NULL, &err));
            aheads += pattern > 0 && times > 0 && k < 22;
        }
        wsi_device_batch end;
        WS_TEST_OK(wsi_upload_next(u, &end, &err));
        assert_int_equal(end.n, 0);
        assert_null(end.x);
        wsi_upload_stats us = wsi_upload_stats_get(u);
        assert_int_equal(us.batches, 23);
        assert_int_equal(us.ahead, aheads); /* one batch per call that found a free slot */
        if (pattern == 0) assert_true(us.loader_wait_overlapped_s == 0);
        WS_TEST_OK(wsi_upload_ahead(u, NULL, &err)); /* the runs are over: returns at once */
        wsi_upload_close(u);
        ws_loader_close(l);
    }
    ws_sampler_close(s);
    ws_sampler_close(ref);
    ws_dataset_close(d);
}

static void test_drop_restart_and_close(void **state) {
    (void)state;
    ws_dataset *d = synthetic(100);
    ws_sampler *s = sampler_for(d, 8), *ref = sampler_for(d, 8);
    ws_exec ex = ws_exec_cpu(1);
    ws_loader *l = loader_for(d, s, 2); /* a ring of two: a batch kept by mistake would block it */
    ws_error err = {0};
    wsi_upload *u;
    WS_TEST_OK(wsi_upload_open(&u, &ex, l, 8, 75 * sizeof(float), 1, &err));
    WS_TEST_OK(ws_loader_start(l, 0, 0, 13, &err));
    wsi_device_batch db;
    WS_TEST_OK(wsi_upload_next(u, &db, &err));
    check_batch(d, ref, &db, 0, 0);
    /* not marked done: the next batch has no slot to go to */
    assert_int_equal(wsi_upload_next(u, &db, &err), WS_ESTATE);
    assert_non_null(strstr(err.msg, "done"));
    wsi_upload_done(u);
    WS_TEST_OK(wsi_upload_ahead(u, NULL, &err)); /* batch 1 copied ahead */
    WS_TEST_OK(wsi_upload_ahead(u, NULL, &err)); /* one at a time: nothing more */
    wsi_upload_drop(u);
    WS_TEST_OK(ws_loader_start(l, 2, 7, 3, &err));
    for (size_t k = 0; k < 3; k++) {
        WS_TEST_OK(wsi_upload_next(u, &db, &err));
        check_batch(d, ref, &db, 2, 7 + k); /* not the dropped batch 1 of epoch 0 */
        wsi_upload_done(u);
        WS_TEST_OK(wsi_upload_ahead(u, NULL, &err));
    }
    wsi_upload_stats us = wsi_upload_stats_get(u);
    assert_int_equal(us.batches, 4);
    assert_int_equal(us.ahead, 2); /* the dropped one does not count; epoch 2's 8 and 9 do */
    /* closed with a batch staged and one handed out: both go back, nothing leaks */
    WS_TEST_OK(ws_loader_start(l, 3, 0, 5, &err));
    WS_TEST_OK(wsi_upload_next(u, &db, &err));
    wsi_upload_done(u);
    WS_TEST_OK(wsi_upload_ahead(u, NULL, &err));
    WS_TEST_OK(wsi_upload_next(u, &db, &err));
    wsi_upload_close(u);
    wsi_upload_close(NULL);
    ws_loader_close(l);
    ws_sampler_close(s);
    ws_sampler_close(ref);
    ws_dataset_close(d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_whatever_the_interleaving),
        cmocka_unit_test(test_drop_restart_and_close),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
