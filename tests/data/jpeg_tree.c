/* tests/data/jpeg_tree.c - the JPEG test trees of tests/data/jpeg_tree.h. */
#include "ws_test.h"
#include "jpeg_tree.h"
#include "data/jpeg.h"

#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const NAMES[TREE_CLASSES] = {"n01_apple", "n02_bear", "n03_cat"};
static const uint8_t COLOURS[TREE_CLASSES][3] = {{200, 40, 40}, {120, 80, 40}, {40, 80, 200}};

const char *tree_class_name(int k) { return NAMES[k]; }
void tree_colour(int k, uint8_t rgb[3]) { memcpy(rgb, COLOURS[k], 3); }

const char *tree_file(const char *dir, const char *rel) {
    static char slots[4][4096];
    static int next;
    char *b = slots[next++ % 4];
    snprintf(b, 4096, "%s/%s", dir, rel);
    return b;
}

static void mkdir_or_fail(const char *path) {
    if (mkdir(path, 0777) != 0) fail_msg("mkdir %s failed", path);
}

static uint8_t clip(double v) { return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v + 0.5); }

void tree_write_image(const char *path, int k, int w, int h, int components, int quality, int subsample420) {
    uint8_t *px = malloc((size_t)w * h * 4);
    assert_non_null(px);
    const uint8_t *c = COLOURS[k];
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double tex = 8.0 * sin(0.7 * x + 0.3 * k) * cos(0.5 * y); /* a little texture, +-8 */
            uint8_t rgb[3] = {clip(c[0] + tex), clip(c[1] + tex), clip(c[2] + tex)};
            uint8_t *o = px + ((size_t)y * w + x) * components;
            if (components == 1) o[0] = clip(0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]);
            else if (components == 3) memcpy(o, rgb, 3);
            else { /* Adobe CMYK stores inverted inks: stored C = 255 - C = R when K = 0 */
                memcpy(o, rgb, 3);
                o[3] = 255;
            }
        }
    ws_error err = {0};
    WS_TEST_OK(wsi_jpeg_write(path, px, w, h, components, quality, subsample420, &err));
    free(px);
}

static void truncate_half(const char *path) {
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(truncate(path, sb.st_size / 2), 0);
}

static void write_png_bytes(const char *path) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fwrite("\x89PNG\r\n\x1a\n\0\0\0\rIHDR junk that is not a JPEG", 1, 40, f);
    fclose(f);
}

/* dir/train, dir/val and, for each class, dir/train/<class> (and dir/val/<class>). */
static void make_dirs(const char *dir, int val_classes) {
    mkdir_or_fail(tree_file(dir, "train"));
    mkdir_or_fail(tree_file(dir, "val"));
    char rel[256];
    for (int k = 0; k < TREE_CLASSES; k++) {
        snprintf(rel, sizeof rel, "train/%s", NAMES[k]);
        mkdir_or_fail(tree_file(dir, rel));
        if (!val_classes) continue;
        snprintf(rel, sizeof rel, "val/%s", NAMES[k]);
        mkdir_or_fail(tree_file(dir, rel));
    }
}

void tree_make(const char *dir) {
    static const int sizes[6][2] = {{64, 48}, {48, 64}, {57, 43}, {80, 60}, {33, 71}, {100, 75}};
    static const int per_class[TREE_CLASSES] = {6, 5, 4};
    make_dirs(dir, 1);
    char rel[256];
    for (int k = 0; k < TREE_CLASSES; k++) {
        for (int i = 0; i < per_class[k]; i++) {
            snprintf(rel, sizeof rel, "train/%s/a%03d.JPEG", NAMES[k], i);
            tree_write_image(tree_file(dir, rel), k, sizes[i][0], sizes[i][1], 3, 90, i % 2 == 0);
        }
        for (int i = 0; i < (k == 0 ? 2 : 1); i++) {
            snprintf(rel, sizeof rel, "val/%s/v%d.JPEG", NAMES[k], i);
            tree_write_image(tree_file(dir, rel), k, 70 + 9 * i, 52, 3, 90, 1);
        }
    }
    tree_write_image(tree_file(dir, "train/n01_apple/b_grey.JPEG"), 0, 50, 40, 1, 90, 0);
    truncate_half(tree_file(dir, "train/n02_bear/a002.JPEG"));
    ws_test_write_file(tree_file(dir, "train/n02_bear/notes.txt"), "not an image\n");
    write_png_bytes(tree_file(dir, "train/n03_cat/a001.JPEG"));
    tree_write_image(tree_file(dir, "train/n03_cat/b_cmyk.JPEG"), 2, 60, 45, 4, 90, 0);
    mkdir_or_fail(tree_file(dir, "train/.hidden"));
    tree_write_image(tree_file(dir, "train/.hidden/x.JPEG"), 0, 16, 16, 3, 90, 0);
}

void tree_make_flat(const char *dir, const char *label_format) {
    make_dirs(dir, 0);
    char rel[256];
    for (int k = 0; k < TREE_CLASSES; k++) {
        for (int i = 0; i < 2; i++) {
            snprintf(rel, sizeof rel, "train/%s/t%d.JPEG", NAMES[k], i);
            tree_write_image(tree_file(dir, rel), k, 40, 30, 3, 90, 1);
        }
    }
    static const int val_class[6] = {2, 0, 1, 0, 2, 1};
    for (int i = 0; i < 6; i++) {
        snprintf(rel, sizeof rel, "val/ILSVRC2012_val_%08d.JPEG", i + 1);
        tree_write_image(tree_file(dir, rel), val_class[i], 45, 35, 3, 90, 1);
    }
    char text[2048] = "";
    size_t n = 0;
    if (!strcmp(label_format, "csv")) {
        n += (size_t)snprintf(text + n, sizeof text - n, "ImageId,PredictionString\n");
        for (int i = 5; i >= 0; i--) /* any order */
            n += (size_t)snprintf(text + n, sizeof text - n, "ILSVRC2012_val_%08d,%s 1 2 30 40 %s 3 4 20 20\n", i + 1,
                                  NAMES[val_class[i]], NAMES[val_class[i]]);
        ws_test_write_file(tree_file(dir, "LOC_val_solution.csv"), text);
    } else {
        n += (size_t)snprintf(text + n, sizeof text - n, "# file class\n");
        for (int i = 0; i < 6; i++) { /* names with and without extension, classes by name or index */
            if (i % 2) n += (size_t)snprintf(text + n, sizeof text - n, "ILSVRC2012_val_%08d.JPEG %s\n", i + 1,
                                             NAMES[val_class[i]]);
            else n += (size_t)snprintf(text + n, sizeof text - n, "ILSVRC2012_val_%08d\t%d  # by index\n", i + 1,
                                       val_class[i]);
        }
        ws_test_write_file(tree_file(dir, "val_labels.txt"), text);
    }
}
