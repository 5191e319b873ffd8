/* tests/data/test_loader.c - the prefetching loader (data/loader.c): batches come strictly
 * in order with the sampler's indices and exactly ws_dataset_load_ex's samples, whatever the
 * thread and buffer counts (random ImageNet crops included); several epochs and restarts;
 * a queued run (the next epoch) follows the current one without a gap and is made while the
 * current one ends; waiting with a time limit; stopping mid-epoch (no hang; ASan finds no
 * leak); errors of a sample, of the callback and
 * of the consumer (holding every buffer) surface as statuses; the caller's allocator is
 * used; waiting and decoding times are measured; the nvJPEG decoder is refused where there
 * is none, and for what it cannot do. */
#include "ws_test.h"
#include "jpeg_tree.h"
#include "loader_fixture.h"
#include "core/error.h"
#include "core/timeutil.h"
#include "data/loader.h"

#include <stdatomic.h>
#include <unistd.h>

static ws_dataset *synthetic(size_t count, int hw) { return fixture_synthetic(count, hw, 5, 1); }
static ws_sampler *sampler_for(const ws_dataset *d, int batch) { return fixture_sampler(d, batch, 2); }

/* Runs a whole epoch through a loader and checks every batch against a direct load. */
static void check_epoch(ws_loader *l, const ws_dataset *d, ws_sampler *ref, uint64_t epoch, ws_sample_format fmt) {
    ws_error err = {0};
    size_t steps = ws_sampler_steps_per_epoch(ref), bytes = ws_dataset_sample_bytes(d, fmt);
    WS_TEST_OK(ws_loader_start(l, epoch, 0, steps, &err));
    int64_t idx[64];
    int32_t lab[64];
    uint8_t *want = malloc(64 * bytes);
    for (size_t step = 0; step < steps; step++) {
        ws_batch *b;
        WS_TEST_OK(ws_loader_next(l, &b, &err));
        assert_non_null(b);
        size_t n = ws_sampler_batch(ref, epoch, step, idx);
        assert_int_equal(b->seq, step);
        assert_int_equal(b->epoch, epoch);
        assert_int_equal(b->n, n);
        assert_false(b->x_on_device);
        assert_memory_equal(b->indices, idx, n * sizeof *idx);
        ws_load_opts lo = {.epoch = epoch, .format = fmt};
        WS_TEST_OK(ws_dataset_load_ex(d, idx, n, &lo, want, lab, &err));
        assert_memory_equal(b->labels, lab, n * sizeof *lab);
        if (memcmp(b->x, want, n * bytes)) fail_msg("epoch %llu step %zu: samples differ from a direct load",
                                                    (unsigned long long)epoch, step);
        assert_true(b->wait_s >= 0 && b->decode_s >= 0);
        ws_loader_release(l, b);
    }
    ws_batch *end;
    WS_TEST_OK(ws_loader_next(l, &end, &err)); /* after the last batch: none, and no error */
    assert_null(end);
    free(want);
}

static void test_order_and_content(void **state) {
    (void)state;
    ws_dataset *d = synthetic(203, 9); /* 203 = 12 x 16 + 11: a short last batch */
    ws_sampler *s = sampler_for(d, 16), *ref = sampler_for(d, 16);
    static const int configs[][2] = {{1, 1}, {3, 2}, {4, 6}};
    for (size_t c = 0; c < 3; c++)
        for (int fmt = 0; fmt < 2; fmt++) {
            ws_loader_opts o = ws_loader_opts_default();
            o.threads = configs[c][0];
            o.prefetch = configs[c][1];
            o.max_batch = 16;
            o.format = (ws_sample_format)fmt;
            o.indices = ws_loader_sampler_indices;
            o.indices_ctx = s;
            ws_loader *l;
            ws_error err = {0};
            WS_TEST_OK(ws_loader_open(&l, d, &o, &err));
            check_epoch(l, d, ref, 0, o.format);
            check_epoch(l, d, ref, 1, o.format); /* another permutation */
            ws_loader_totals t = ws_loader_totals_get(l);
            assert_int_equal(t.batches, 2 * 13);
            assert_int_equal(t.samples, 2 * 203);
            ws_loader_close(l);
        }
    ws_sampler_close(s);
    ws_sampler_close(ref);
    ws_dataset_close(d);
}

/* Random crops through 1 thread and 1 buffer, and through 4 threads and 3 buffers: the same
 * bytes (the randomness is a function of (seed, epoch, index) alone). */
static void test_imagenet_same_whatever_the_threads(void **state) {
    (void)state;
    const char *dir = ws_test_tmpdir("loader");
    tree_make(dir);
    ws_imagenet_opts io = ws_imagenet_opts_default();
    io.crop_size = 24;
    io.resize_size = 28;
    io.seed = 4;
    ws_dataset *d;
    ws_error err = {0};
    WS_TEST_OK(ws_dataset_open_imagenet(&d, dir, WS_SPLIT_TRAIN, &io, &err));
    ws_sampler *s = sampler_for(d, 5), *ref = sampler_for(d, 5);
    for (int c = 0; c < 2; c++) {
        ws_loader_opts o = ws_loader_opts_default();
        o.threads = c ? 4 : 1;
        o.prefetch = c ? 3 : 1;
        o.max_batch = 5;
        o.format = WS_SAMPLES_NHWC_U8;
        o.indices = ws_loader_sampler_indices;
        o.indices_ctx = s;
        ws_loader *l;
        WS_TEST_OK(ws_loader_open(&l, d, &o, &err));
        for (uint64_t e = 0; e < 3; e++) check_epoch(l, d, ref, e, o.format);
        ws_loader_close(l);
    }
    ws_sampler_close(s);
    ws_sampler_close(ref);
    ws_dataset_close(d);
    ws_test_rmtree(dir);
}

/* A backend whose samples take time, fail on request, and count how many run at once. */
typedef struct {
    double sleep_s;
    int64_t fail_index;
    atomic_int running, most;
} slow_impl;

static ws_status slow_sample(const void *impl, const ws_dataset_info *info, int64_t index, const ws_load_opts *lo,
                             void *x, ws_error *err) {
    slow_impl *m = (slow_impl *)impl;
    int now = atomic_fetch_add(&m->running, 1) + 1;
    int most = atomic_load(&m->most);
    while (now > most && !atomic_compare_exchange_weak(&m->most, &most, now)) {}
    ws_sleep_s(m->sleep_s);
    atomic_fetch_sub(&m->running, 1);
    if (index == m->fail_index) return wsi_error(err, WS_EIO, "slow dataset: sample %lld failed", (long long)index);
    size_t bytes = (size_t)info->c * info->h * info->w * (lo->format == WS_SAMPLES_NHWC_U8 ? 1 : sizeof(float));
    memset(x, (int)(index & 0x7F), bytes);
    return WS_OK;
}

static const wsi_dataset_ops slow_ops = {.sample = slow_sample};

static ws_dataset *slow_dataset(slow_impl *m, size_t count) {
    ws_dataset_info info = {.name = "slow", .count = count, .c = 1, .h = 2, .w = 2, .classes = 2};
    int32_t *labels = calloc(count, sizeof *labels);
    ws_dataset *d;
    ws_error err = {0};
    WS_TEST_OK(wsi_dataset_create(&d, &info, labels, &slow_ops, m, &err));
    return d;
}

static size_t every_index(void *ctx, uint64_t epoch, size_t seq, int64_t *idx) {
    (void)epoch;
    size_t per = *(size_t *)ctx;
    for (size_t j = 0; j < per; j++) idx[j] = (int64_t)(seq * per + j);
    return per;
}

/* Batches of *per consecutive indices (batch k: k*per ..), threads and buffers as given. */
static ws_loader_opts every_index_opts(size_t *per, int threads, int prefetch) {
    ws_loader_opts o = ws_loader_opts_default();
    o.threads = threads;
    o.prefetch = prefetch;
    o.max_batch = *per;
    o.indices = every_index;
    o.indices_ctx = per;
    return o;
}

/* A run queued behind the current one: its batches come right after, in order, with a
 * direct load's content, and are made before the consumer reaches them. */
static void test_queued_run_follows(void **state) {
    (void)state;
    ws_dataset *d = synthetic(203, 9);
    ws_sampler *s = sampler_for(d, 16), *ref = sampler_for(d, 16);
    ws_loader_opts o = ws_loader_opts_default();
    o.threads = 3;
    o.prefetch = 4;
    o.max_batch = 16;
    o.indices = ws_loader_sampler_indices;
    o.indices_ctx = s;
    ws_loader *l;
    ws_error err = {0};
    WS_TEST_OK(ws_loader_open(&l, d, &o, &err));
    assert_int_equal(ws_loader_queue(l, 1, 0, 13, &err), WS_ESTATE); /* nothing to follow */
    assert_non_null(strstr(err.msg, "ws_loader_start"));
    assert_int_equal(ws_loader_remaining(l), 0);
    WS_TEST_OK(ws_loader_start(l, 0, 5, 8, &err)); /* epoch 0 from step 5, then all of epoch 1 */
    WS_TEST_OK(ws_loader_queue(l, 1, 0, 13, &err));
    assert_int_equal(ws_loader_queue(l, 2, 0, 13, &err), WS_ESTATE); /* one at a time */
    assert_non_null(strstr(err.msg, "queued already"));
    assert_int_equal(ws_loader_remaining(l), 21);
    size_t bytes = ws_dataset_sample_bytes(d, WS_SAMPLES_NCHW_F32);
    float *want = malloc(16 * bytes);
    int64_t idx[16];
    int32_t lab[16];
    for (size_t k = 0; k < 21; k++) {
        uint64_t epoch = k < 8 ? 0 : 1;
        size_t seq = k < 8 ? 5 + k : k - 8;
        ws_batch *b;
        WS_TEST_OK(ws_loader_next(l, &b, &err));
        assert_non_null(b);
        assert_int_equal(b->epoch, epoch);
        assert_int_equal(b->seq, seq);
        size_t n = ws_sampler_batch(ref, epoch, seq, idx);
        assert_int_equal(b->n, n);
        ws_load_opts lo = {.epoch = epoch, .format = WS_SAMPLES_NCHW_F32};
        WS_TEST_OK(ws_dataset_load_ex(d, idx, n, &lo, want, lab, &err));
        assert_memory_equal(b->labels, lab, n * sizeof *lab);
        if (memcmp(b->x, want, n * bytes)) fail_msg("batch %zu (epoch %llu seq %zu) differs from a direct load", k,
                                                    (unsigned long long)epoch, seq);
        ws_loader_release(l, b);
        assert_int_equal(ws_loader_remaining(l), (k < 8 ? 20 : 22) - k);
        /* the first run handed out: the next may be queued (epoch 2's first two steps) */
        if (k == 7) {
            WS_TEST_OK(ws_loader_queue(l, 2, 0, 2, &err));
            assert_int_equal(ws_loader_remaining(l), 15);
        }
    }
    ws_batch *b;
    for (size_t k = 0; k < 2; k++) {
        WS_TEST_OK(ws_loader_next(l, &b, &err));
        assert_int_equal(b->epoch, 2);
        assert_int_equal(b->seq, k);
        ws_loader_release(l, b);
    }
    WS_TEST_OK(ws_loader_next(l, &b, &err));
    assert_null(b);
    assert_int_equal(ws_loader_totals_get(l).batches, 23);
    /* a new start forgets the queue */
    WS_TEST_OK(ws_loader_start(l, 3, 0, 1, &err));
    WS_TEST_OK(ws_loader_queue(l, 4, 0, 1, &err));
    WS_TEST_OK(ws_loader_start(l, 5, 2, 1, &err));
    WS_TEST_OK(ws_loader_next(l, &b, &err));
    assert_int_equal(b->epoch, 5);
    assert_int_equal(b->seq, 2);
    ws_loader_release(l, b);
    WS_TEST_OK(ws_loader_next(l, &b, &err));
    assert_null(b);
    free(want);
    ws_loader_close(l);
    ws_sampler_close(s);
    ws_sampler_close(ref);
    ws_dataset_close(d);
}

/* ws_loader_next_within: nothing yet is no error and costs no more than asked; a queued
 * run's first batch is made while the consumer does not ask (the threads went on past the
 * end of the first run). */
static void test_next_within_and_queue_ahead(void **state) {
    (void)state;
    slow_impl m = {.sleep_s = 0.05, .fail_index = -1};
    ws_dataset *d = slow_dataset(&m, 1000);
    size_t per = 4;
    ws_loader_opts o = every_index_opts(&per, 1, 3);
    ws_loader *l;
    ws_error err = {0};
    WS_TEST_OK(ws_loader_open(&l, d, &o, &err));
    WS_TEST_OK(ws_loader_start(l, 0, 0, 1, &err));
    WS_TEST_OK(ws_loader_queue(l, 1, 10, 1, &err));
    ws_batch *b;
    double t0 = ws_now_s();
    WS_TEST_OK(ws_loader_next_within(l, &b, 0, &err)); /* the batch needs 4 x 0.05 s */
    assert_null(b);
    WS_TEST_OK(ws_loader_next_within(l, &b, 0.01, &err));
    assert_null(b);
    double waited = ws_now_s() - t0;
    assert_true(waited >= 0.009);
    assert_int_equal(ws_loader_remaining(l), 2);
    WS_TEST_OK(ws_loader_next_within(l, &b, 30, &err));
    assert_non_null(b);
    assert_int_equal(b->seq, 0);
    ws_loader_release(l, b);
    /* the queued run's batch comes without another call to start (within 30 s: it needs 0.2) */
    WS_TEST_OK(ws_loader_next_within(l, &b, 30, &err));
    assert_non_null(b);
    assert_int_equal(b->epoch, 1);
    assert_int_equal(b->seq, 10);
    assert_int_equal(b->indices[0], 40);
    ws_loader_release(l, b);
    WS_TEST_OK(ws_loader_next_within(l, &b, 0, &err));
    assert_null(b);
    assert_int_equal(ws_loader_remaining(l), 0);
    ws_loader_close(l);
    ws_dataset_close(d);
}

static void test_stop_mid_epoch_and_restart(void **state) {
    (void)state;
    slow_impl m = {.sleep_s = 0.002, .fail_index = -1};
    ws_dataset *d = slow_dataset(&m, 100000);
    size_t per = 8;
    ws_loader_opts o = every_index_opts(&per, 4, 3);
    ws_loader *l;
    ws_error err = {0};
    WS_TEST_OK(ws_loader_open(&l, d, &o, &err));
    WS_TEST_OK(ws_loader_start(l, 0, 0, 10000, &err));
    ws_batch *b;
    WS_TEST_OK(ws_loader_next(l, &b, &err));
    assert_int_equal(b->seq, 0);
    assert_int_equal(b->indices[0], 0);
    /* the first batch was not ready when asked: the wait and the decoding time show it */
    assert_true(b->wait_s > 0);
    assert_true(b->decode_s >= per * 0.002 * 0.9);
    ws_loader_release(l, b);
    /* restart elsewhere, mid-run: what was prefetched is dropped */
    WS_TEST_OK(ws_loader_start(l, 5, 500, 3, &err));
    for (size_t k = 0; k < 3; k++) {
        WS_TEST_OK(ws_loader_next(l, &b, &err));
        assert_int_equal(b->epoch, 5);
        assert_int_equal(b->seq, 500 + k);
        assert_int_equal(b->indices[0], (int64_t)((500 + k) * per));
        ws_loader_release(l, b);
    }
    WS_TEST_OK(ws_loader_next(l, &b, &err));
    assert_null(b);
    /* the samples of a batch are decoded by several threads at once */
    assert_true(atomic_load(&m.most) > 1);
    /* a long run, closed while every thread is busy and a batch is held */
    WS_TEST_OK(ws_loader_start(l, 1, 0, 10000, &err));
    WS_TEST_OK(ws_loader_next(l, &b, &err));
    double t0 = ws_now_s();
    ws_loader_close(l);
    assert_true(ws_now_s() - t0 < 5.0); /* it does not wait for the run: one sample per thread */
    assert_int_equal(atomic_load(&m.running), 0);
    ws_dataset_close(d);
}

static size_t bad_at_seq_3(void *ctx, uint64_t epoch, size_t seq, int64_t *idx) {
    size_t n = every_index(ctx, epoch, seq, idx);
    if (seq == 3) idx[1] = 1 << 30; /* outside the dataset */
    return n;
}

static void test_errors_surface_at_next(void **state) {
    (void)state;
    slow_impl m = {.sleep_s = 0, .fail_index = 21};
    ws_dataset *d = slow_dataset(&m, 1000);
    size_t per = 4;
    ws_loader_opts o = every_index_opts(&per, 3, 2);
    ws_loader *l;
    ws_error err = {0};
    WS_TEST_OK(ws_loader_open(&l, d, &o, &err));
    ws_batch *b;
    assert_int_equal(ws_loader_next(l, &b, &err), WS_ESTATE); /* not started */
    /* sample 21 (batch 5) fails: batches 0..4 come, then the sample's error, again and again */
    WS_TEST_OK(ws_loader_start(l, 0, 0, 10, &err));
    for (size_t k = 0; k < 5; k++) {
        WS_TEST_OK(ws_loader_next(l, &b, &err));
        assert_int_equal(b->seq, k);
        ws_loader_release(l, b);
    }
    for (int again = 0; again < 2; again++) {
        err = (ws_error){0};
        assert_int_equal(ws_loader_next(l, &b, &err), WS_EIO);
        assert_null(b);
        assert_non_null(strstr(err.msg, "sample 21 failed"));
    }
    /* a new run clears it */
    WS_TEST_OK(ws_loader_start(l, 0, 6, 2, &err));
    WS_TEST_OK(ws_loader_next(l, &b, &err));
    assert_int_equal(b->seq, 6);
    ws_batch *b2, *none;
    WS_TEST_OK(ws_loader_next(l, &b2, &err));
    assert_int_equal(b2->seq, 7);
    WS_TEST_OK(ws_loader_next(l, &none, &err));
    assert_null(none);
    ws_loader_release(l, b);
    ws_loader_release(l, b2);
    /* holding every buffer, the consumer is told instead of waiting forever */
    WS_TEST_OK(ws_loader_start(l, 0, 0, 100, &err));
    ws_batch *h1, *h2, *h3;
    WS_TEST_OK(ws_loader_next(l, &h1, &err));
    WS_TEST_OK(ws_loader_next(l, &h2, &err));
    assert_int_equal(ws_loader_next(l, &h3, &err), WS_ESTATE);
    assert_non_null(strstr(err.msg, "release"));
    ws_loader_release(l, h1);
    ws_loader_release(l, h2);
    ws_loader_close(l);

    /* the callback naming an index outside the dataset fails its batch */
    o.indices = bad_at_seq_3;
    WS_TEST_OK(ws_loader_open(&l, d, &o, &err));
    WS_TEST_OK(ws_loader_start(l, 0, 0, 10, &err));
    for (size_t k = 0; k < 3; k++) {
        WS_TEST_OK(ws_loader_next(l, &b, &err));
        ws_loader_release(l, b);
    }
    assert_int_equal(ws_loader_next(l, &b, &err), WS_EINVAL);
    assert_non_null(strstr(err.msg, "outside the dataset"));
    ws_loader_close(l);
    ws_dataset_close(d);
}

typedef struct {
    int allocs, frees;
    size_t bytes; /* the largest */
} counting;

static void *count_alloc(void *ctx, size_t n) {
    counting *c = ctx;
    c->allocs++;
    if (n > c->bytes) c->bytes = n;
    return malloc(n);
}

static void count_free(void *ctx, void *p) {
    counting *c = ctx;
    c->frees++;
    free(p);
}

static void test_allocator_and_options(void **state) {
    (void)state;
    ws_dataset *d = synthetic(40, 4);
    ws_sampler *s = sampler_for(d, 8);
    counting c = {0};
    ws_loader_opts o = ws_loader_opts_default();
    o.threads = 2;
    o.prefetch = 3;
    o.max_batch = 8;
    o.indices = ws_loader_sampler_indices;
    o.indices_ctx = s;
    o.alloc = (ws_loader_allocator){.alloc = count_alloc, .free = count_free, .ctx = &c};
    ws_loader *l;
    ws_error err = {0};
    WS_TEST_OK(ws_loader_open(&l, d, &o, &err));
    assert_int_equal(c.allocs, 6); /* samples and labels per prefetch slot, at open */
    assert_int_equal(c.bytes, 8 * 3 * 4 * 4 * sizeof(float));
    WS_TEST_OK(ws_loader_start(l, 0, 0, 5, &err));
    ws_batch *b;
    WS_TEST_OK(ws_loader_next(l, &b, &err));
    ws_loader_release(l, b);
    assert_int_equal(c.allocs, 6); /* nothing per batch */
    ws_loader_close(l);
    assert_int_equal(c.frees, 6);

    ws_loader_opts bad = o;
    bad.max_batch = 0;
    assert_int_equal(ws_loader_open(&l, d, &bad, &err), WS_EINVAL);
    assert_null(l);
    bad = o;
    bad.indices = NULL;
    assert_int_equal(ws_loader_open(&l, d, &bad, &err), WS_EINVAL);
    /* nvJPEG: for ImageNet's JPEGs only, uint8 NHWC only */
    bad = o;
    bad.decoder = WS_DECODER_NVJPEG;
    bad.format = WS_SAMPLES_NHWC_U8;
    assert_int_equal(ws_loader_open(&l, d, &bad, &err), WS_EINVAL);
    assert_non_null(strstr(err.msg, "imagenet"));
    const char *dir = ws_test_tmpdir("loader");
    tree_make(dir);
    ws_dataset *in;
    WS_TEST_OK(ws_dataset_open_imagenet(&in, dir, WS_SPLIT_TRAIN, NULL, &err));
    bad.format = WS_SAMPLES_NCHW_F32;
    assert_int_equal(ws_loader_open(&l, in, &bad, &err), WS_EINVAL);
    assert_non_null(strstr(err.msg, "NHWC"));
    bad.format = WS_SAMPLES_NHWC_U8;
    ws_status st = ws_loader_open(&l, in, &bad, &err);
    if (st == WS_OK) ws_loader_close(l); /* a machine with a GPU and libnvjpeg */
    else assert_int_equal(st, WS_ENOTSUP); /* no CUDA build, no GPU or no libnvjpeg: said so */
    ws_dataset_close(in);
    ws_test_rmtree(dir);
    ws_sampler_close(s);
    ws_dataset_close(d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_and_content),
        cmocka_unit_test(test_imagenet_same_whatever_the_threads),
        cmocka_unit_test(test_queued_run_follows),
        cmocka_unit_test(test_next_within_and_queue_ahead),
        cmocka_unit_test(test_stop_mid_epoch_and_restart),
        cmocka_unit_test(test_errors_surface_at_next),
        cmocka_unit_test(test_allocator_and_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
