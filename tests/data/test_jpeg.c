/* tests/data/test_jpeg.c - JPEG decoding (data/jpeg.c): a cropped and DCT-scaled decode
 * equals the same region of a full decode at that scale; greyscale and CMYK/YCCK become
 * RGB (PIL's conversion, hand-checked); truncated, cut-header, empty and non-JPEG files are
 * WS_EFORMAT with a reason, also when the region needed lies before the cut. */
#include "ws_test.h"
#include "jpeg_tree.h"
#include "core/rng.h"
#include "data/jpeg.h"

#include <sys/stat.h>
#include <unistd.h>

static uint8_t *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* A textured RGB image (smooth noise, so chroma and DCT blocks all carry detail). */
static void write_textured(const char *path, int w, int h, int subsample420) {
    ws_rng r = ws_rng_seeded(7);
    uint8_t *px = malloc((size_t)w * h * 3);
    assert_non_null(px);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++)
                px[((size_t)y * w + x) * 3 + c] =
                    (uint8_t)(((x * (c + 1) * 3 + y * 5) & 0xFF) / 2 + ws_rng_below(&r, 64));
    ws_error err = {0};
    WS_TEST_OK(wsi_jpeg_write(path, px, w, h, 3, 85, subsample420, &err));
    free(px);
}

static void test_region_equals_full_decode(void **state) {
    (void)state;
    const char *dir = ws_test_tmpdir("jpeg");
    for (int sub = 0; sub < 2; sub++) {
        const char *path = tree_file(dir, sub ? "t420.jpg" : "t444.jpg");
        write_textured(path, 333, 251, sub); /* not a multiple of any iMCU */
        size_t len;
        uint8_t *data = slurp(path, &len);
        char why[256];
        wsi_jpeg_info info;
        if (wsi_jpeg_peek(data, len, &info, why, sizeof why) != WS_OK) fail_msg("peek %s: %s", path, why);
        assert_int_equal(info.width, 333);
        assert_int_equal(info.height, 251);
        assert_int_equal(info.components, 3);
        assert_int_equal(info.color, WSI_JPEG_YCBCR);
        assert_int_equal(info.h_samp[0], sub ? 2 : 1);
        assert_true(info.has_eoi);
        static const int scales[] = {8, 5, 4, 1};
        for (size_t si = 0; si < sizeof scales / sizeof *scales; si++) {
            int m = scales[si];
            int sw = wsi_jpeg_scaled_dim(333, m), sh = wsi_jpeg_scaled_dim(251, m);
            uint8_t *full = malloc((size_t)sw * sh * 3);
            assert_non_null(full);
            wsi_rect all = {0, 0, sw, sh};
            if (wsi_jpeg_decode_rect(data, len, &info, m, all, full, why, sizeof why) != WS_OK)
                fail_msg("full decode at %d/8: %s", m, why);
            const wsi_rect rects[] = {{0, 0, 1, 1},           {sw - 1, sh - 1, 1, 1}, {sw / 3, sh / 4, sw / 2, sh / 3},
                                      {17, 9, 5, 40},         {0, sh / 2, sw, sh - sh / 2}, {sw - 20, 0, 20, sh},
                                      {sw / 2 + 3, sh / 2 + 1, sw / 2 - 3, sh / 2 - 1}};
            for (size_t ri = 0; ri < sizeof rects / sizeof *rects; ri++) {
                wsi_rect rc = rects[ri];
                if (rc.w < 1 || rc.h < 1 || rc.x < 0 || rc.y < 0 || rc.x + rc.w > sw || rc.y + rc.h > sh) continue;
                uint8_t *part = malloc((size_t)rc.w * rc.h * 3);
                memset(part, 0xA5, (size_t)rc.w * rc.h * 3);
                if (wsi_jpeg_decode_rect(data, len, &info, m, rc, part, why, sizeof why) != WS_OK)
                    fail_msg("region decode: %s", why);
                for (int y = 0; y < rc.h; y++)
                    if (memcmp(part + (size_t)y * rc.w * 3, full + ((size_t)(rc.y + y) * sw + rc.x) * 3,
                               (size_t)rc.w * 3))
                        fail_msg("%s scale %d/8, region %dx%d+%d+%d: row %d differs from the full decode",
                                 sub ? "4:2:0" : "4:4:4", m, rc.w, rc.h, rc.x, rc.y, y);
                free(part);
            }
            /* a region past the scaled size is refused, not decoded */
            wsi_rect past = {0, 0, sw + 1, sh};
            assert_int_equal(wsi_jpeg_decode_rect(data, len, &info, m, past, full, why, sizeof why), WS_EFORMAT);
            free(full);
        }
        free(data);
    }
    ws_test_rmtree(dir);
}

/* decoded RGB of a file of one colour: the mean over the image, per channel */
static void mean_rgb(const char *path, double mean[3], int *grey_everywhere) {
    size_t len;
    uint8_t *data = slurp(path, &len);
    char why[256];
    wsi_jpeg_info info;
    if (wsi_jpeg_peek(data, len, &info, why, sizeof why) != WS_OK) fail_msg("%s: %s", path, why);
    uint8_t *px = malloc((size_t)info.width * info.height * 3);
    wsi_rect all = {0, 0, info.width, info.height};
    if (wsi_jpeg_decode_rect(data, len, &info, 8, all, px, why, sizeof why) != WS_OK) fail_msg("%s: %s", path, why);
    size_t n = (size_t)info.width * info.height;
    mean[0] = mean[1] = mean[2] = 0;
    *grey_everywhere = 1;
    for (size_t p = 0; p < n; p++) {
        for (int c = 0; c < 3; c++) mean[c] += px[3 * p + c] / (double)n;
        if (px[3 * p] != px[3 * p + 1] || px[3 * p] != px[3 * p + 2]) *grey_everywhere = 0;
    }
    free(px);
    free(data);
}

static void test_grey_and_cmyk_to_rgb(void **state) {
    (void)state;
    const char *dir = ws_test_tmpdir("jpeg");
    uint8_t colour[3];
    tree_colour(2, colour);
    double m[3];
    int grey;
    /* greyscale: R = G = B everywhere, the luma of the colour (0.299 R + 0.587 G + 0.114 B) */
    tree_write_image(tree_file(dir, "g.jpg"), 2, 41, 29, 1, 95, 0);
    mean_rgb(tree_file(dir, "g.jpg"), m, &grey);
    assert_true(grey);
    WS_TEST_NEAR(m[0], 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2], 0, 3.0);
    /* CMYK with an Adobe marker, inks inverted: decodes to the colour it was made from */
    tree_write_image(tree_file(dir, "c.jpg"), 2, 41, 29, 4, 95, 0);
    size_t len;
    uint8_t *data = slurp(tree_file(dir, "c.jpg"), &len);
    char why[256];
    wsi_jpeg_info info;
    assert_int_equal(wsi_jpeg_peek(data, len, &info, why, sizeof why), WS_OK);
    assert_int_equal(info.components, 4);
    assert_true(info.color == WSI_JPEG_CMYK || info.color == WSI_JPEG_YCCK);
    free(data);
    mean_rgb(tree_file(dir, "c.jpg"), m, &grey);
    for (int c = 0; c < 3; c++) WS_TEST_NEAR(m[c], colour[c], 0, 4.0); /* texture is +-8 and averages out */
    ws_test_rmtree(dir);

    /* the conversion by hand: PIL's R = (255-K) - C(255-K)/255, rounded as its MULDIV255 */
    uint8_t rgb[3];
    wsi_jpeg_cmyk_to_rgb((const uint8_t[4]){0, 0, 0, 0}, 0, rgb);
    assert_memory_equal(rgb, ((uint8_t[3]){255, 255, 255}), 3);
    wsi_jpeg_cmyk_to_rgb((const uint8_t[4]){0, 0, 0, 255}, 0, rgb);
    assert_memory_equal(rgb, ((uint8_t[3]){0, 0, 0}), 3);
    wsi_jpeg_cmyk_to_rgb((const uint8_t[4]){255, 0, 128, 0}, 0, rgb);
    assert_memory_equal(rgb, ((uint8_t[3]){0, 255, 127}), 3); /* 255 - 128 = 127 */
    wsi_jpeg_cmyk_to_rgb((const uint8_t[4]){128, 0, 0, 64}, 0, rgb); /* 127 * 191 / 255 = 95.1 */
    assert_memory_equal(rgb, ((uint8_t[3]){95, 191, 191}), 3);
    wsi_jpeg_cmyk_to_rgb((const uint8_t[4]){127, 255, 255, 191}, 1, rgb); /* the same, stored inverted */
    assert_memory_equal(rgb, ((uint8_t[3]){95, 191, 191}), 3);
}

static void test_unreadable_files(void **state) {
    (void)state;
    const char *dir = ws_test_tmpdir("jpeg");
    char why[256];
    wsi_jpeg_info info;
    const char *path = tree_file(dir, "t.jpg");
    write_textured(path, 160, 120, 1);
    size_t len;
    uint8_t *data = slurp(path, &len);
    /* cut in the entropy-coded data: the header reads, the image does not, even when the
     * region asked for is decoded before the cut */
    size_t cut = len * 2 / 3;
    assert_int_equal(wsi_jpeg_peek(data, cut, &info, why, sizeof why), WS_OK);
    assert_false(info.has_eoi);
    uint8_t px[8 * 8 * 3];
    wsi_rect top = {0, 0, 8, 8};
    assert_int_equal(wsi_jpeg_decode_rect(data, cut, &info, 8, top, px, why, sizeof why), WS_EFORMAT);
    assert_non_null(strstr(why, "truncated"));
    wsi_rect bottom = {0, 112, 8, 8};
    assert_int_equal(wsi_jpeg_decode_rect(data, cut, &info, 2, (wsi_rect){0, 25, 4, 4}, px, why, sizeof why),
                     WS_EFORMAT);
    assert_int_equal(wsi_jpeg_decode_rect(data, cut, &info, 8, bottom, px, why, sizeof why), WS_EFORMAT);
    /* cut in the header */
    why[0] = 0;
    assert_int_equal(wsi_jpeg_peek(data, 100, &info, why, sizeof why), WS_EFORMAT);
    assert_true(why[0] != 0);
    /* the whole file still decodes */
    assert_int_equal(wsi_jpeg_peek(data, len, &info, why, sizeof why), WS_OK);
    assert_int_equal(wsi_jpeg_decode_rect(data, len, &info, 8, bottom, px, why, sizeof why), WS_OK);
    /* junk appended after EOI (no EOI at the very end): decodes, to the end, without complaint */
    uint8_t *junk = malloc(len + 4000);
    memcpy(junk, data, len);
    memset(junk + len, 0x11, 4000);
    assert_int_equal(wsi_jpeg_peek(junk, len + 4000, &info, why, sizeof why), WS_OK);
    assert_false(info.has_eoi);
    assert_int_equal(wsi_jpeg_decode_rect(junk, len + 4000, &info, 8, top, px, why, sizeof why), WS_OK);
    free(junk);
    free(data);
    /* not JPEGs */
    const uint8_t png[] = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
    assert_int_equal(wsi_jpeg_peek(png, sizeof png, &info, why, sizeof why), WS_EFORMAT);
    assert_non_null(strstr(why, "PNG"));
    assert_int_equal(wsi_jpeg_peek((const uint8_t *)"hello", 5, &info, why, sizeof why), WS_EFORMAT);
    assert_non_null(strstr(why, "not a JPEG"));
    assert_int_equal(wsi_jpeg_peek((const uint8_t *)"", 0, &info, why, sizeof why), WS_EFORMAT);
    assert_non_null(strstr(why, "empty"));
    const uint8_t soi_junk[] = {0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0, 1, 2, 3};
    assert_int_equal(wsi_jpeg_peek(soi_junk, sizeof soi_junk, &info, why, sizeof why), WS_EFORMAT);
    ws_test_rmtree(dir);
}

static void test_scaled_dims_match_libjpeg(void **state) {
    (void)state;
    assert_int_equal(wsi_jpeg_scaled_dim(333, 8), 333);
    assert_int_equal(wsi_jpeg_scaled_dim(333, 4), 167); /* ceil(166.5) */
    assert_int_equal(wsi_jpeg_scaled_dim(333, 1), 42);  /* ceil(41.6) */
    assert_int_equal(wsi_jpeg_scaled_dim(500, 3), 188); /* ceil(187.5) */
    const char *dir = ws_test_tmpdir("jpeg");
    const char *path = tree_file(dir, "t.jpg");
    write_textured(path, 333, 251, 1);
    size_t len;
    uint8_t *data = slurp(path, &len);
    char why[256];
    wsi_jpeg_info info;
    assert_int_equal(wsi_jpeg_peek(data, len, &info, why, sizeof why), WS_OK);
    for (int m = 1; m <= 8; m++) {
        /* the last row and column at scale m/8 decode; decode_rect checks libjpeg's size itself */
        int sw = wsi_jpeg_scaled_dim(333, m), sh = wsi_jpeg_scaled_dim(251, m);
        uint8_t px[3];
        if (wsi_jpeg_decode_rect(data, len, &info, m, (wsi_rect){sw - 1, sh - 1, 1, 1}, px, why, sizeof why) != WS_OK)
            fail_msg("scale %d/8: %s", m, why);
    }
    free(data);
    ws_test_rmtree(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_region_equals_full_decode),
        cmocka_unit_test(test_grey_and_cmyk_to_rgb),
        cmocka_unit_test(test_unreadable_files),
        cmocka_unit_test(test_scaled_dims_match_libjpeg),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
