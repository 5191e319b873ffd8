/* tests/data/test_transform.c - transforms (data/transform.c): RandomResizedCrop's boxes
 * (bounds, area and ratio ranges, its fallback computed by hand, determinism by stream),
 * the flip rate, Resize + CenterCrop geometry by hand (Python's half-to-even rounding), the
 * DCT scale choice, the bilinear taps (scale 1 and 2 by hand), and resampling a ramp whose
 * centre crop is known exactly, from an array and through JPEG decoding with and without
 * DCT scaling. */
#include "ws_test.h"
#include "jpeg_tree.h"
#include "data/transform.h"

static wsi_transform train_tf(void) {
    return (wsi_transform){.random_crop = 1, .size = 224, .resize = 256, .scale_min = 0.08, .scale_max = 1.0,
                           .ratio_min = 3.0 / 4.0, .ratio_max = 4.0 / 3.0, .flip_p = 0.5, .dct_scaling = 1};
}

static void test_random_resized_crop_ranges(void **state) {
    (void)state;
    wsi_transform t = train_tf();
    ws_rng root = ws_rng_seeded(3);
    int flips = 0, n = 2000;
    for (int i = 0; i < n; i++) {
        ws_rng r = ws_rng_split(&root, (uint64_t)i);
        wsi_crop c;
        wsi_transform_crop(&t, 500, 375, &r, &c);
        assert_true(c.box_x >= 0 && c.box_y >= 0 && c.box_w >= 1 && c.box_h >= 1);
        assert_true(c.box_x + c.box_w <= 500 && c.box_y + c.box_h <= 375);
        assert_int_equal(c.out_w, 224);
        assert_int_equal(c.out_h, 224);
        assert_int_equal(c.win_x, 0);
        double area = (double)c.box_w * c.box_h / (500.0 * 375.0);
        double ratio = (double)c.box_w / c.box_h;
        /* rounding w and h to integers moves area and ratio a little off the ranges */
        if (!(area >= 0.08 * 0.9 && area <= 1.0) || !(ratio >= 0.75 * 0.93 && ratio <= 4.0 / 3.0 / 0.93))
            fail_msg("draw %d: box %dx%d, area %.3f, ratio %.3f", i, c.box_w, c.box_h, area, ratio);
        flips += c.flip;
        /* the same stream gives the same crop */
        ws_rng again = ws_rng_split(&root, (uint64_t)i);
        wsi_crop c2;
        wsi_transform_crop(&t, 500, 375, &again, &c2);
        assert_memory_equal(&c, &c2, sizeof c);
    }
    /* binomial(2000, 0.5): sd 22; 120 is over 5 sd */
    assert_in_range(flips, 1000 - 120, 1000 + 120);
    /* the study's scale range keeps at least half the image */
    t.scale_min = 0.5;
    for (int i = 0; i < 500; i++) {
        ws_rng r = ws_rng_split(&root, (uint64_t)(100000 + i));
        wsi_crop c;
        wsi_transform_crop(&t, 500, 375, &r, &c);
        if (!((double)c.box_w * c.box_h >= 0.5 * 0.95 * 500 * 375))
            fail_msg("scale (0.5, 1): box %dx%d is under half the image", c.box_w, c.box_h);
    }
}

/* Every attempt fails on a 1000x10 strip (a crop of >= 90% of the area would be >= 82 px
 * high), so torchvision's fallback applies: in_ratio 100 > 4/3, h = 10, w = round(13.33) = 13,
 * left = (1000 - 13) // 2 = 493. Likewise a 10x1000 strip: w = 10, h = round(10/0.75) = 13. */
static void test_random_resized_crop_fallback(void **state) {
    (void)state;
    wsi_transform t = train_tf();
    t.scale_min = 0.9;
    t.flip_p = 0;
    ws_rng r = ws_rng_seeded(1);
    wsi_crop c;
    wsi_transform_crop(&t, 1000, 10, &r, &c);
    assert_int_equal(c.box_x, 493);
    assert_int_equal(c.box_y, 0);
    assert_int_equal(c.box_w, 13);
    assert_int_equal(c.box_h, 10);
    assert_int_equal(c.flip, 0);
    wsi_transform_crop(&t, 10, 1000, &r, &c);
    assert_int_equal(c.box_x, 0);
    assert_int_equal(c.box_y, 493);
    assert_int_equal(c.box_w, 10);
    assert_int_equal(c.box_h, 13);
    /* a ratio range holding the image's own ratio: the whole image */
    t.ratio_min = 0.5;
    t.ratio_max = 200;
    wsi_transform_crop(&t, 1000, 10, &r, &c);
    assert_int_equal(c.box_w, 1000);
    assert_int_equal(c.box_h, 10);
}

/* Resize(256): 500x375 -> int(256 * 500 / 375) = int(341.33) = 341 wide; CenterCrop(224):
 * left round((341 - 224) / 2) = round(58.5) = 58 (half to even), top round(16) = 16. */
static void test_center_crop_geometry(void **state) {
    (void)state;
    wsi_transform t = train_tf();
    t.random_crop = 0;
    ws_rng r = ws_rng_seeded(0);
    wsi_crop c;
    wsi_transform_crop(&t, 500, 375, &r, &c);
    assert_int_equal(c.box_w, 500);
    assert_int_equal(c.box_h, 375);
    assert_int_equal(c.out_w, 341);
    assert_int_equal(c.out_h, 256);
    assert_int_equal(c.win_x, 58);
    assert_int_equal(c.win_y, 16);
    assert_int_equal(c.flip, 0);
    wsi_transform_crop(&t, 375, 500, &r, &c);
    assert_int_equal(c.out_w, 256);
    assert_int_equal(c.out_h, 341);
    assert_int_equal(c.win_x, 16);
    assert_int_equal(c.win_y, 58);
    wsi_transform_crop(&t, 343, 256, &r, &c); /* (343 - 224) / 2 = 59.5 -> 60 (even) */
    assert_int_equal(c.out_w, 343);
    assert_int_equal(c.win_x, 60);
    /* DCT scale: the box must keep >= out pixels, at a power-of-two scale: 500x375 -> 224
     * needs 5/8 (375*5/8 = 234), so 8/8; 1000x750 needs 3/8, so 4/8 */
    wsi_crop rc = {.box_w = 500, .box_h = 375, .out_w = 224, .out_h = 224};
    assert_int_equal(wsi_transform_dct_scale(&t, &rc), 8);
    rc.box_w = 1000;
    rc.box_h = 750;
    assert_int_equal(wsi_transform_dct_scale(&t, &rc), 4);
    wsi_crop small = {.box_w = 100, .box_h = 100, .out_w = 224, .out_h = 224};
    assert_int_equal(wsi_transform_dct_scale(&t, &small), 8);
    wsi_crop big = {.box_w = 4000, .box_h = 3000, .out_w = 224, .out_h = 224};
    assert_int_equal(wsi_transform_dct_scale(&t, &big), 1);
    t.dct_scaling = 0;
    assert_int_equal(wsi_transform_dct_scale(&t, &big), 8);
}

/* Scale 1: output k reads source k with weight 1 (its neighbour has weight 0). Scale 2:
 * output k's centre is 2k + 1, support 2, sources 2k-1..2k+2 with triangle weights
 * 1 - |x - 2k - 0.5| / 2 = 0.25, 0.75, 0.75, 0.25, normalised: 1/8, 3/8, 3/8, 1/8. */
static void test_bilinear_taps(void **state) {
    (void)state;
    wsi_axis a;
    assert_int_equal(wsi_axis_plan(&a, 0, 10, 10, 0, 10, 0, 10), WS_OK);
    for (int k = 0; k < 10; k++) {
        assert_int_equal(a.first[k], k);
        WS_TEST_NEAR(a.w[k * a.taps], 1.0, 0, 1e-7);
        for (int j = 1; j < a.count[k]; j++) WS_TEST_NEAR(a.w[k * a.taps + j], 0.0, 0, 1e-7);
    }
    wsi_axis_free(&a);
    assert_int_equal(wsi_axis_plan(&a, 0, 20, 10, 0, 20, 0, 10), WS_OK);
    const double want[4] = {0.125, 0.375, 0.375, 0.125};
    for (int k = 1; k < 9; k++) {
        assert_int_equal(a.first[k], 2 * k - 1);
        assert_int_equal(a.count[k], 4);
        for (int j = 0; j < 4; j++) WS_TEST_NEAR(a.w[k * a.taps + j], want[j], 0, 1e-7);
    }
    /* at the edge the window is clipped and renormalised: 0.75, 0.75, 0.25 of 1.75 */
    assert_int_equal(a.first[0], 0);
    assert_int_equal(a.count[0], 3);
    WS_TEST_NEAR(a.w[0], 0.75 / 1.75, 0, 1e-7);
    assert_int_equal(a.src_lo, 0);
    assert_int_equal(a.src_hi, 20);
    wsi_axis_free(&a);
    /* a window of outputs of a larger resize: only its sources */
    assert_int_equal(wsi_axis_plan(&a, 0, 512, 256, 0, 512, 16, 224), WS_OK);
    assert_int_equal(a.first[0], 31);
    assert_int_equal(a.src_lo, 31);
    assert_int_equal(a.src_hi, 2 * 239 + 3);
    wsi_axis_free(&a);
}

/* A ramp v(x) = floor(x / 2) over 512 columns, resized to 256 (scale 2): output k averages
 * columns 2k-1..2k+2 with weights 1/8, 3/8, 3/8, 1/8 of values k-1, k, k, k+1 = k exactly;
 * the centre crop's column j is output 16 + j, so it holds 16 + j (flipped: 16 + 223 - j). */
static void ramp_rgb(uint8_t *px, int w, int h) {
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) px[((size_t)y * w + x) * 3 + c] = (uint8_t)(x / 2);
}

static void test_resample_ramp_by_hand(void **state) {
    (void)state;
    enum { W = 512, H = 6 };
    static uint8_t src[W * H * 3], out[4 * 224 * 3];
    ramp_rgb(src, W, H);
    wsi_axis ax, ay;
    assert_int_equal(wsi_axis_plan(&ax, 0, W, 256, 0, W, 16, 224), WS_OK);
    assert_int_equal(wsi_axis_plan(&ay, 0, H, H, 0, H, 1, 4), WS_OK); /* rows 1..4, scale 1 */
    for (int flip = 0; flip < 2; flip++) {
        memset(out, 0, sizeof out);
        const uint8_t *s0 = src + ((size_t)ay.src_lo * W + ax.src_lo) * 3;
        assert_int_equal(wsi_resample_rgb(s0, W * 3, &ax, &ay, flip, out), WS_OK);
        for (int y = 0; y < 4; y++)
            for (int j = 0; j < 224; j++)
                for (int c = 0; c < 3; c++) {
                    int want = 16 + (flip ? 223 - j : j);
                    if (out[(y * 224 + j) * 3 + c] != want)
                        fail_msg("flip %d: out[%d][%d][%d] = %d, want %d", flip, y, j, c, out[(y * 224 + j) * 3 + c],
                                 want);
                }
    }
    wsi_axis_free(&ax);
    wsi_axis_free(&ay);
}

/* The same ramp as a 512x512 greyscale JPEG (4:4:4, quality 100): Resize(256) +
 * CenterCrop(224) gives 16 + j in column j of every row, to within the JPEG's error, both
 * decoded at full size and at 4/8 (DCT scaling averages the column pairs, which are equal). */
static void test_center_crop_of_a_jpeg_ramp(void **state) {
    (void)state;
    const char *dir = ws_test_tmpdir("transform");
    const char *path = tree_file(dir, "ramp.jpg");
    uint8_t *px = malloc(512 * 512);
    for (int y = 0; y < 512; y++)
        for (int x = 0; x < 512; x++) px[y * 512 + x] = (uint8_t)(x / 2);
    ws_error err = {0};
    WS_TEST_OK(wsi_jpeg_write(path, px, 512, 512, 1, 100, 0, &err));
    free(px);
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    size_t len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *data = malloc(len);
    assert_int_equal(fread(data, 1, len, f), len);
    fclose(f);
    wsi_transform t = train_tf();
    t.random_crop = 0;
    static uint8_t tile[224 * 224 * 3];
    for (int dct = 0; dct < 2; dct++) {
        t.dct_scaling = dct;
        ws_rng r = ws_rng_seeded(0);
        char why[256];
        wsi_crop c;
        memset(tile, 0, sizeof tile);
        if (wsi_transform_jpeg(&t, data, len, &r, tile, &c, NULL, why, sizeof why) != WS_OK) fail_msg("%s", why);
        assert_int_equal(c.out_w, 256);
        assert_int_equal(c.win_x, 16);
        int worst = 0;
        for (int y = 0; y < 224; y++)
            for (int j = 0; j < 224; j++)
                for (int ch = 0; ch < 3; ch++) {
                    int d = abs(tile[(y * 224 + j) * 3 + ch] - (16 + j));
                    if (d > worst) worst = d;
                }
        if (worst > 1) fail_msg("dct %d: worst deviation from 16 + j is %d", dct, worst);
    }
    free(data);
    ws_test_rmtree(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_resized_crop_ranges),
        cmocka_unit_test(test_random_resized_crop_fallback),
        cmocka_unit_test(test_center_crop_geometry),
        cmocka_unit_test(test_bilinear_taps),
        cmocka_unit_test(test_resample_ramp_by_hand),
        cmocka_unit_test(test_center_crop_of_a_jpeg_ramp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
