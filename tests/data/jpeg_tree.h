/* tests/data/jpeg_tree.h - small ImageNet-layout trees of JPEGs that the data tests write
 * themselves (through libjpeg, data/jpeg.c's wsi_jpeg_write).
 * defines: TREE_CLASSES, tree_class_name, tree_colour, tree_write_image, tree_make, tree_file.
 *
 * The tree (tree_make(dir)):
 *   train/n01_apple/  a000.JPEG .. a005.JPEG   6 RGB images, apple's colour
 *                     b_grey.JPEG              greyscale (the colour's luma)
 *   train/n02_bear/   a000.JPEG .. a004.JPEG   5 RGB images; a002.JPEG is truncated
 *                     notes.txt                not an image (ignored by the scan)
 *   train/n03_cat/    a000.JPEG .. a003.JPEG   4 RGB images; a001.JPEG holds PNG bytes
 *                     b_cmyk.JPEG              CMYK with an Adobe marker (inverted inks)
 *   train/.hidden/    x.JPEG                   a hidden folder (skipped)
 *   val/n01_apple/ v0.JPEG v1.JPEG, val/n02_bear/ v0.JPEG, val/n03_cat/ v0.JPEG
 *   valflat/ (a second tree root, see tree_make_flat) for the flat val layout.
 * Every image of class k is its colour (tree_colour) plus a little texture, so a decoded
 * sample's mean colour tells which class's file it came from; sizes vary (odd sizes,
 * landscape and portrait, 4:2:0 and 4:4:4). Train holds 6+1 + 5 + 4+1 = 17 samples. */
#ifndef WS_TEST_JPEG_TREE_H
#define WS_TEST_JPEG_TREE_H

#include <stdint.h>

#define TREE_CLASSES 3
#define TREE_TRAIN_COUNT 17

const char *tree_class_name(int k);
void tree_colour(int k, uint8_t rgb[3]);
/* One JPEG of class k's colour (components 1, 3 or 4), w x h, at path. */
void tree_write_image(const char *path, int k, int w, int h, int components, int quality, int subsample420);
/* The tree above under dir (which must exist). */
void tree_make(const char *dir);
/* dir/train (3 class folders, 2 images each) and a flat dir/val with ILSVRC-style names
 * and a label file: "csv" writes dir/LOC_val_solution.csv, "txt" dir/val_labels.txt. */
void tree_make_flat(const char *dir, const char *label_format);
/* dir/rel into a static buffer (4 slots). */
const char *tree_file(const char *dir, const char *rel);

#endif
