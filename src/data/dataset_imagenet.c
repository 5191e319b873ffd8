/* data/dataset_imagenet.c - ImageNet-layout folders of JPEGs: scanning, labels (class
 * folders, or a flat val folder with a label file), and samples decoded and transformed
 * on demand. Contract in data/dataset.h (ws_dataset_open_imagenet); decoding data/jpeg.c,
 * transforms data/transform.c; loader hooks data/dataset_imagenet.h.
 *
 * Memory: the file list is one string pool of paths relative to the split folder
 * ("n01440764/n01440764_10026.JPEG") plus an offset per file: about 40 bytes per image,
 * ~50 MB for ImageNet's 1.28M training images. Scanning uses readdir's d_type and never
 * stats a file (1000 class folders are stat'ed only where the file system leaves d_type
 * unknown), so a scan costs one getdents pass over the directories.
 *
 * Random streams: ws_rng_seeded(seed) -> split(AUG_STREAM) -> split(epoch) -> split(index):
 * sample i of epoch e draws its crop and flip from its own stream, so it is the same
 * whatever thread, batch, order or substitute loads it. */
#include "data/dataset_imagenet.h"
#include "core/error.h"
#include "core/log.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define AUG_STREAM 0x6175676d656e74ull /* "augment" */
#define MAX_SUBSTITUTE_TRIES 16         /* images of the class tried before a grey sample */
#define LABEL_FILE_MAX ((size_t)1 << 30)

/* ---- a growable list of names: one pool, offsets into it ---- */

typedef struct {
    char *pool;
    size_t len, cap;
    size_t *off;
    size_t n, n_cap;
} name_list;

static void names_free(name_list *l) {
    free(l->pool);
    free(l->off);
    memset(l, 0, sizeof *l);
}

static int names_add(name_list *l, const char *prefix, const char *name) {
    size_t pl = prefix ? strlen(prefix) + 1 : 0, nl = strlen(name) + 1;
    if (l->len + pl + nl > l->cap) {
        size_t cap = l->cap ? l->cap : 4096;
        while (cap < l->len + pl + nl) cap *= 2;
        char *p = realloc(l->pool, cap);
        if (!p) return -1;
        l->pool = p;
        l->cap = cap;
    }
    if (l->n == l->n_cap) {
        size_t cap = l->n_cap ? l->n_cap * 2 : 256;
        size_t *o = realloc(l->off, cap * sizeof *o);
        if (!o) return -1;
        l->off = o;
        l->n_cap = cap;
    }
    l->off[l->n++] = l->len;
    if (prefix) {
        memcpy(l->pool + l->len, prefix, pl - 1);
        l->pool[l->len + pl - 1] = '/';
    }
    memcpy(l->pool + l->len + pl, name, nl);
    l->len += pl + nl;
    return 0;
}

static const char *names_get(const name_list *l, size_t i) { return l->pool + l->off[i]; }

/* qsort of offsets by the strings they point at; the pool is a file-static for qsort's
 * comparator, so sorting is serialised (opening a dataset is not concurrent by contract,
 * but two datasets may be opened from two threads: hence the thread-local). */
static _Thread_local const char *sort_pool;
static int cmp_off(const void *a, const void *b) {
    return strcmp(sort_pool + *(const size_t *)a, sort_pool + *(const size_t *)b);
}
static void names_sort(name_list *l, size_t from, size_t to) {
    if (to - from < 2) return; /* also: an empty list has no arrays to give qsort */
    sort_pool = l->pool;
    qsort(l->off + from, to - from, sizeof *l->off, cmp_off);
}

/* ---- scanning ---- */

/* a/b into buf; 0, or -1 when it does not fit (then buf holds a truncated path). */
static int join(char *buf, size_t size, const char *a, const char *b) {
    int n = snprintf(buf, size, "%s/%s", a, b);
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

static int has_jpeg_ext(const char *name) {
    const char *dot = strrchr(name, '.');
    if (!dot) return 0;
    char ext[8];
    size_t n = strlen(dot + 1);
    if (n >= sizeof ext) return 0;
    for (size_t i = 0; i <= n; i++) ext[i] = (char)tolower((unsigned char)dot[1 + i]);
    return !strcmp(ext, "jpg") || !strcmp(ext, "jpeg");
}

static int is_dir_path(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

typedef struct {
    size_t other_files; /* entries without a JPEG extension */
    size_t subdirs;     /* folders inside class folders (ImageFolder would descend) */
} scan_stats;

/* Sorted names of the folders (dirs != 0) or JPEG files (dirs == 0) directly in path,
 * skipping names that start with '.'. prefix: prepended with '/' to every file name. */
static ws_status list_dir(const char *path, int dirs, const char *prefix, name_list *out, scan_stats *stats,
                          ws_error *err) {
    DIR *dp = opendir(path);
    if (!dp) return wsi_error(err, WS_EIO, "imagenet: cannot read folder %s: %s", path, strerror(errno));
    size_t first = out->n;
    struct dirent *e;
    char full[4096];
    errno = 0;
    while ((e = readdir(dp))) {
        if (e->d_name[0] == '.') continue;
        int is_dir = e->d_type == DT_DIR;
        if (e->d_type == DT_UNKNOWN || e->d_type == DT_LNK) {
            if (!dirs && has_jpeg_ext(e->d_name)) {
                is_dir = 0; /* files are never stat'ed: a folder named x.jpg fails to read later */
            } else {
                is_dir = join(full, sizeof full, path, e->d_name) == 0 && is_dir_path(full);
            }
        }
        int want = dirs ? is_dir : !is_dir && has_jpeg_ext(e->d_name);
        if (!want) {
            if (stats && !dirs) {
                if (is_dir) stats->subdirs++;
                else stats->other_files++;
            }
            continue;
        }
        if (names_add(out, prefix, e->d_name)) {
            closedir(dp);
            return wsi_error(err, WS_ENOMEM, "imagenet: out of memory listing %s", path);
        }
    }
    int read_errno = errno;
    closedir(dp);
    if (read_errno) return wsi_error(err, WS_EIO, "imagenet: reading folder %s: %s", path, strerror(read_errno));
    names_sort(out, first, out->n);
    return WS_OK;
}

/* ---- the dataset ---- */

typedef struct {
    char *root;          /* DIR */
    char split_dir[8];   /* "train" or "val" */
    name_list files;     /* [count] paths relative to DIR/split_dir */
    name_list classes;   /* [classes] sorted class folder names */
    int64_t *by_class;   /* [count] sample indices sorted by (label, index) */
    int64_t *pos;        /* [count] position of sample i in by_class */
    size_t *class_start; /* [classes + 1] ranges of by_class */
    const int32_t *labels; /* owned by the ws_dataset handle */
    wsi_transform tf;
    ws_rng aug_root;
    float lut[3][256];   /* uint8 -> normalised fp32 per channel */
    uint8_t grey[3];     /* the mean colour, for a class with no readable image */
    atomic_uchar *bad;   /* [count] 1: found unreadable, skipped from then on */
    atomic_uchar *grey_warned; /* [classes] */
    atomic_uint_fast64_t corrupt, substituted;
} imagenet_impl;

static void impl_free(void *p) {
    imagenet_impl *m = p;
    if (!m) return;
    free(m->root);
    names_free(&m->files);
    names_free(&m->classes);
    free(m->by_class);
    free(m->pos);
    free(m->class_start);
    free(m->bad);
    free(m->grey_warned);
    free(m);
}

ws_imagenet_opts ws_imagenet_opts_default(void) {
    return (ws_imagenet_opts){.random_crop = -1, .crop_size = 224, .resize_size = 256, .scale_min = 0.08,
                              .scale_max = 1.0, .ratio_min = 3.0 / 4.0, .ratio_max = 4.0 / 3.0, .flip_p = 0.5,
                              .dct_scaling = 1, .seed = 0, .val_labels = NULL};
}

static ws_status check_opts(const ws_imagenet_opts *o, ws_error *err) {
    if (o->crop_size < 1 || o->crop_size > 4096)
        return wsi_error(err, WS_EINVAL, "imagenet: crop size %d outside 1..4096 (224 is ImageNet's)", o->crop_size);
    if (o->resize_size < o->crop_size || o->resize_size > 8192)
        return wsi_error(err, WS_EINVAL, "imagenet: resize size %d must be at least the crop size %d (256 for 224)",
                         o->resize_size, o->crop_size);
    if (!(o->scale_min > 0 && o->scale_min <= o->scale_max && o->scale_max <= 1))
        return wsi_error(err, WS_EINVAL, "imagenet: crop scale (%g, %g) must satisfy 0 < min <= max <= 1, e.g. "
                         "0.08,1 (torchvision) or 0.5,1 (the study)", o->scale_min, o->scale_max);
    if (!(o->ratio_min > 0 && o->ratio_min <= o->ratio_max && isfinite(o->ratio_max)))
        return wsi_error(err, WS_EINVAL, "imagenet: crop ratio (%g, %g) must satisfy 0 < min <= max (3/4, 4/3)",
                         o->ratio_min, o->ratio_max);
    if (!(o->flip_p >= 0 && o->flip_p <= 1))
        return wsi_error(err, WS_EINVAL, "imagenet: flip probability %g outside [0, 1]", o->flip_p);
    if (o->random_crop < -1 || o->random_crop > 1)
        return wsi_error(err, WS_EINVAL, "imagenet: random_crop %d is -1 (by split), 0 or 1", o->random_crop);
    return WS_OK;
}

/* Class folder names of DIR/split (names only). */
static ws_status list_classes(const char *split_path, name_list *classes, ws_error *err) {
    ws_status st = list_dir(split_path, 1, NULL, classes, NULL, err);
    if (st != WS_OK) return st;
    if (classes->n > INT32_MAX) return wsi_error(err, WS_EFORMAT, "imagenet: %s: too many classes", split_path);
    return WS_OK;
}

static int find_class(const name_list *classes, const char *name) {
    size_t lo = 0, hi = classes->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(names_get(classes, mid), name);
        if (c == 0) return (int)mid;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

/* DIR/train/<class>/<image> or DIR/val/<class>/<image>: every class folder's JPEGs. */
static ws_status scan_class_folders(imagenet_impl *m, const char *split_path, int32_t **labels_out, ws_error *err) {
    scan_stats stats = {0};
    size_t *start = calloc(m->classes.n + 1, sizeof *start);
    if (!start) return wsi_error(err, WS_ENOMEM, "imagenet: out of memory");
    char path[4096];
    size_t empty = 0;
    const char *first_empty = NULL;
    for (size_t k = 0; k < m->classes.n; k++) {
        const char *cls = names_get(&m->classes, k);
        if (join(path, sizeof path, split_path, cls)) {
            free(start);
            return wsi_error(err, WS_EINVAL, "imagenet: path too long: %s/%s", split_path, cls);
        }
        start[k] = m->files.n;
        ws_status st = list_dir(path, 0, cls, &m->files, &stats, err);
        if (st != WS_OK) {
            free(start);
            return st;
        }
        if (m->files.n == start[k] && empty++ == 0) first_empty = cls;
    }
    start[m->classes.n] = m->files.n;
    if (empty) {
        ws_status st = wsi_error(err, WS_EFORMAT, "imagenet: %zu of %zu class folders in %s hold no .jpg/.jpeg "
                                 "image (the first: %s/%s); every class needs images, as ImageFolder demands; remove "
                                 "the empty folders or restore their images", empty, m->classes.n, split_path,
                                 split_path, first_empty);
        free(start);
        return st;
    }
    if (stats.other_files || stats.subdirs)
        ws_log(WS_LOG_WARN, "imagenet: %s: ignored %zu files without a .jpg/.jpeg extension and %zu nested folders "
               "in class folders", split_path, stats.other_files, stats.subdirs);
    int32_t *labels = malloc(m->files.n * sizeof *labels);
    m->class_start = start;
    if (!labels) return wsi_error(err, WS_ENOMEM, "imagenet: out of memory for %zu labels", m->files.n);
    for (size_t k = 0; k < m->classes.n; k++)
        for (size_t i = start[k]; i < start[k + 1]; i++) labels[i] = (int32_t)k;
    *labels_out = labels;
    return WS_OK;
}

/* ---- flat val folder + label file ---- */

typedef struct {
    char *stem;   /* into the label file's buffer */
    int32_t label;
} label_entry;

static int cmp_entry(const void *a, const void *b) {
    return strcmp(((const label_entry *)a)->stem, ((const label_entry *)b)->stem);
}

static char *read_text(const char *path, ws_error *err, ws_status *st) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        *st = wsi_error(err, WS_EIO, "imagenet: cannot read label file %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0, got;
    do {
        if (len + 65536 + 1 > cap) {
            cap = cap ? cap * 2 : 1 << 20;
            char *p = cap <= LABEL_FILE_MAX ? realloc(buf, cap) : NULL;
            if (!p) {
                free(buf);
                fclose(f);
                *st = wsi_error(err, WS_ENOMEM, "imagenet: label file %s is too large for memory", path);
                return NULL;
            }
            buf = p;
        }
        got = fread(buf + len, 1, 65536, f);
        len += got;
    } while (got > 0);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        *st = wsi_error(err, WS_EIO, "imagenet: error reading label file %s", path);
        return NULL;
    }
    buf[len] = 0;
    *st = WS_OK;
    return buf;
}

static char *strip_ext(char *name) {
    char *dot = strrchr(name, '.');
    if (dot && dot != name) *dot = 0;
    return name;
}

/* Parses the label file in place (buf is modified) into entries sorted by stem. */
static ws_status parse_labels(const char *path, char *buf, const name_list *classes, label_entry **out, size_t *n_out,
                              ws_error *err) {
    size_t n = 0, cap = 0;
    label_entry *e = NULL;
    int csv = !strncmp(buf, "ImageId,", 8);
    size_t line_no = 0;
    ws_status st = WS_OK;
    for (char *save = NULL, *line = strtok_r(buf, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save)) {
        line_no++;
        char *name, *cls;
        if (csv) {
            if (line_no == 1) continue; /* header */
            char *comma = strchr(line, ',');
            if (!comma) {
                st = wsi_error(err, WS_EFORMAT, "imagenet: %s line %zu: expected ImageId,PredictionString", path,
                               line_no);
                break;
            }
            *comma = 0;
            name = line;
            cls = comma + 1;
            cls[strcspn(cls, " \t")] = 0;
        } else {
            char *hash = strchr(line, '#');
            if (hash) *hash = 0;
            char *save2 = NULL;
            name = strtok_r(line, " \t", &save2);
            if (!name) continue; /* blank or comment */
            cls = strtok_r(NULL, " \t", &save2);
            if (!cls) {
                st = wsi_error(err, WS_EFORMAT, "imagenet: %s line %zu: \"%s\" has no class; lines are \"FILE CLASS\" "
                               "(CLASS a class folder name or a 0-based index)", path, line_no, name);
                break;
            }
        }
        int label = find_class(classes, cls);
        if (label < 0 && !csv && *cls && strspn(cls, "0123456789") == strlen(cls)) {
            long v = strtol(cls, NULL, 10);
            label = v >= 0 && v < (long)classes->n ? (int)v : -2;
        }
        if (label < 0) {
            st = wsi_error(err, WS_EFORMAT, "imagenet: %s line %zu: class \"%s\" is %s (the classes are train's %zu "
                           "class folders)", path, line_no, cls, label == -2 ? "an index out of range" : "unknown",
                           classes->n);
            break;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 65536;
            label_entry *p = realloc(e, cap * sizeof *p);
            if (!p) {
                st = wsi_error(err, WS_ENOMEM, "imagenet: out of memory reading %s", path);
                break;
            }
            e = p;
        }
        e[n].stem = strip_ext(name);
        e[n].label = label;
        n++;
    }
    if (st != WS_OK) {
        free(e);
        return st;
    }
    if (n == 0) {
        free(e);
        return wsi_error(err, WS_EFORMAT, "imagenet: %s holds no labels", path);
    }
    qsort(e, n, sizeof *e, cmp_entry);
    *out = e;
    *n_out = n;
    return WS_OK;
}

static const char *find_label_file(const char *dir, const ws_imagenet_opts *o, char *buf, size_t size) {
    if (o->val_labels) return o->val_labels;
    static const char *const where[] = {"LOC_val_solution.csv", "val/LOC_val_solution.csv", "val_labels.txt",
                                        "val/val_labels.txt"};
    for (size_t i = 0; i < sizeof where / sizeof *where; i++) {
        if (join(buf, size, dir, where[i]) == 0 && access(buf, R_OK) == 0) return buf;
    }
    return NULL;
}

static ws_status scan_flat_val(imagenet_impl *m, const char *split_path, const ws_imagenet_opts *o,
                               int32_t **labels_out, ws_error *err) {
    char lf_buf[4096];
    const char *lf = find_label_file(m->root, o, lf_buf, sizeof lf_buf);
    if (!lf)
        return wsi_error(err, WS_EIO, "imagenet: %s has images but no class folders, and no label file: put "
                         "LOC_val_solution.csv (Kaggle's) or val_labels.txt (lines \"FILE CLASS\") in %s or %s, pass "
                         "one with --val-labels FILE, or sort val into class folders", split_path, m->root,
                         split_path);
    scan_stats stats = {0};
    ws_status st = list_dir(split_path, 0, NULL, &m->files, &stats, err);
    if (st != WS_OK) return st;
    if (m->files.n == 0)
        return wsi_error(err, WS_EFORMAT, "imagenet: %s holds neither class folders nor .jpg/.jpeg images",
                         split_path);
    char *text = read_text(lf, err, &st);
    if (!text) return st;
    label_entry *entries = NULL;
    size_t n_entries = 0;
    st = parse_labels(lf, text, &m->classes, &entries, &n_entries, err);
    int32_t *labels = st == WS_OK ? malloc(m->files.n * sizeof *labels) : NULL;
    if (st == WS_OK && !labels) st = wsi_error(err, WS_ENOMEM, "imagenet: out of memory for labels");
    for (size_t i = 0; st == WS_OK && i < m->files.n; i++) {
        char stem[1024];
        snprintf(stem, sizeof stem, "%s", names_get(&m->files, i));
        label_entry key = {.stem = strip_ext(stem)};
        const label_entry *hit = bsearch(&key, entries, n_entries, sizeof *entries, cmp_entry);
        if (!hit)
            st = wsi_error(err, WS_EFORMAT, "imagenet: %s/%s has no label in %s; every image of a flat val folder "
                           "needs one", split_path, names_get(&m->files, i), lf);
        else labels[i] = hit->label;
    }
    if (st == WS_OK && n_entries > m->files.n)
        ws_log(WS_LOG_WARN, "imagenet: %s labels %zu images, %s holds %zu: the others are missing", lf, n_entries,
               split_path, m->files.n);
    free(entries);
    free(text);
    if (st != WS_OK) {
        free(labels);
        return st;
    }
    *labels_out = labels;
    return WS_OK;
}

/* by_class / pos / class_start from labels (a counting sort keeping index order). */
static ws_status index_classes(imagenet_impl *m, const int32_t *labels, size_t count, ws_error *err) {
    size_t k_n = m->classes.n;
    if (!m->class_start) {
        m->class_start = calloc(k_n + 1, sizeof *m->class_start);
        if (!m->class_start) return wsi_error(err, WS_ENOMEM, "imagenet: out of memory");
        for (size_t i = 0; i < count; i++) m->class_start[labels[i] + 1]++;
        for (size_t k = 0; k < k_n; k++) m->class_start[k + 1] += m->class_start[k];
    }
    m->by_class = malloc(count * sizeof *m->by_class);
    m->pos = malloc(count * sizeof *m->pos);
    size_t *fill = malloc((k_n + 1) * sizeof *fill);
    if (!m->by_class || !m->pos || !fill) {
        free(fill);
        return wsi_error(err, WS_ENOMEM, "imagenet: out of memory indexing %zu samples", count);
    }
    memcpy(fill, m->class_start, (k_n + 1) * sizeof *fill);
    for (size_t i = 0; i < count; i++) {
        size_t p = fill[labels[i]]++;
        m->by_class[p] = (int64_t)i;
        m->pos[i] = (int64_t)p;
    }
    free(fill);
    return WS_OK;
}

/* ---- samples ---- */

static void rel_path(const imagenet_impl *m, int64_t index, char *buf, size_t size) {
    snprintf(buf, size, "%s/%s", m->split_dir, names_get(&m->files, (size_t)index));
}

/* WS_EFORMAT: this file cannot be read (why); WS_EIO/WS_ENOMEM: the process is in trouble. */
static ws_status read_file(const imagenet_impl *m, int64_t index, uint8_t **data, size_t *len, char *why,
                           size_t why_size) {
    char path[8192];
    *data = NULL;
    *len = 0;
    int pn = snprintf(path, sizeof path, "%s/%s/%s", m->root, m->split_dir, names_get(&m->files, (size_t)index));
    if (pn < 0 || (size_t)pn >= sizeof path) {
        snprintf(why, why_size, "path too long");
        return WS_EFORMAT;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0) {
        int e = errno;
        if (fd >= 0) close(fd);
        snprintf(why, why_size, "cannot open: %s", strerror(e));
        return e == EMFILE || e == ENFILE || e == ENOMEM ? WS_EIO : WS_EFORMAT;
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        snprintf(why, why_size, "not a regular file");
        return WS_EFORMAT;
    }
    size_t size = (size_t)sb.st_size;
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) {
        close(fd);
        snprintf(why, why_size, "out of memory for %zu bytes", size);
        return WS_ENOMEM;
    }
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            snprintf(why, why_size, "read failed after %zu of %zu bytes: %s", got, size, r < 0 ? strerror(errno) : "EOF");
            close(fd);
            free(buf);
            return WS_EFORMAT;
        }
        got += (size_t)r;
    }
    close(fd);
    *data = buf;
    *len = size;
    return WS_OK;
}

static ws_rng sample_rng(const imagenet_impl *m, uint64_t epoch, int64_t index) {
    ws_rng e = ws_rng_split(&m->aug_root, epoch);
    return ws_rng_split(&e, (uint64_t)index);
}

/* Marks a file unreadable; the first thread to do so warns and counts it. */
static void mark_bad(imagenet_impl *m, int64_t index, int64_t for_sample, const char *why) {
    if (atomic_exchange(&m->bad[index], 1)) return;
    atomic_fetch_add(&m->corrupt, 1);
    char path[4096];
    rel_path(m, index, path, sizeof path);
    ws_log(WS_LOG_WARN, "imagenet: %s is unreadable (%s): skipped from now on; sample %" PRId64 " and any other "
           "that needs it use the next image of its class", path, why, for_sample);
}

/* The next sample of index's class after it, wrapping inside the class. */
static int64_t next_in_class(const imagenet_impl *m, int64_t index) {
    int32_t k = m->labels[index];
    int64_t p = m->pos[index] + 1;
    if ((size_t)p >= m->class_start[k + 1]) p = (int64_t)m->class_start[k];
    return m->by_class[p];
}

/* Sample index as a uint8 tile [size][size][3], substituting unreadable files. */
static ws_status sample_tile(imagenet_impl *m, int64_t index, uint64_t epoch, uint8_t *tile, ws_error *err) {
    int64_t cand = index;
    for (int tries = 0; tries < MAX_SUBSTITUTE_TRIES; tries++) {
        if (!atomic_load_explicit(&m->bad[cand], memory_order_relaxed)) {
            char why[256] = "";
            uint8_t *data;
            size_t len;
            ws_status st = read_file(m, cand, &data, &len, why, sizeof why);
            if (st == WS_OK) {
                ws_rng r = sample_rng(m, epoch, index); /* the sample's own stream, whichever file */
                st = wsi_transform_jpeg(&m->tf, data, len, &r, tile, NULL, NULL, why, sizeof why);
                free(data);
            }
            if (st == WS_OK) {
                if (cand != index) atomic_fetch_add(&m->substituted, 1);
                return WS_OK;
            }
            if (st != WS_EFORMAT) {
                char path[4096];
                rel_path(m, cand, path, sizeof path);
                return wsi_error(err, st, "imagenet: %s: %s", path, why);
            }
            mark_bad(m, cand, index, why);
        }
        cand = next_in_class(m, cand);
        if (cand == index) break; /* the whole class tried */
    }
    /* no readable image found: the mean colour, so training goes on; the label stays */
    int32_t k = m->labels[index];
    if (!atomic_exchange(&m->grey_warned[k], 1))
        ws_log(WS_LOG_WARN, "imagenet: class %s: no readable image among the %d tried for sample %" PRId64 "; its "
               "samples are mean-grey until the files are fixed", names_get(&m->classes, (size_t)k),
               MAX_SUBSTITUTE_TRIES, index);
    atomic_fetch_add(&m->substituted, 1);
    size_t px = (size_t)m->tf.size * (size_t)m->tf.size;
    for (size_t p = 0; p < px; p++) memcpy(tile + 3 * p, m->grey, 3);
    return WS_OK;
}

static ws_status imagenet_sample(const void *impl, const ws_dataset_info *info, int64_t index,
                                 const ws_load_opts *lo, void *x, ws_error *err) {
    imagenet_impl *m = (imagenet_impl *)impl; /* only its atomic counters change */
    size_t px = (size_t)info->h * (size_t)info->w;
    if (lo->format == WS_SAMPLES_NHWC_U8) return sample_tile(m, index, lo->epoch, x, err);
    uint8_t *tile = malloc(px * 3);
    if (!tile) return wsi_error(err, WS_ENOMEM, "imagenet: out of memory for a sample");
    ws_status st = sample_tile(m, index, lo->epoch, tile, err);
    if (st == WS_OK) {
        float *out = x;
        for (int c = 0; c < 3; c++)
            for (size_t p = 0; p < px; p++) out[c * px + p] = m->lut[c][tile[3 * p + c]];
    }
    free(tile);
    return st;
}

static uint64_t imagenet_corrupt(const void *impl) { return atomic_load(&((imagenet_impl *)impl)->corrupt); }
static uint64_t imagenet_substituted(const void *impl) { return atomic_load(&((imagenet_impl *)impl)->substituted); }

static const wsi_dataset_ops imagenet_ops = {.sample = imagenet_sample, .corrupt_files = imagenet_corrupt,
                                             .substituted = imagenet_substituted, .free_impl = impl_free};

/* ---- open ---- */

static ws_status missing_dir(const char *dir, const char *split_path, ws_error *err) {
    if (!is_dir_path(dir))
        return wsi_error(err, WS_EIO, "imagenet: %s does not exist or is not a folder; pass the folder that holds "
                         "train/ and val/ (DIR/train/<class>/<image>.JPEG, as ImageNet is usually unpacked)", dir);
    return wsi_error(err, WS_EIO, "imagenet: no folder %s; the ImageNet layout is DIR/train/<class>/<image>.JPEG and "
                     "DIR/val/<class>/<image>.JPEG (or DIR/val/<image>.JPEG with a label file)", split_path);
}

ws_status ws_dataset_open_imagenet(ws_dataset **out, const char *dir, ws_split split, const ws_imagenet_opts *o,
                                   ws_error *err) {
    *out = NULL;
    ws_imagenet_opts def = ws_imagenet_opts_default();
    if (!o) o = &def;
    ws_status st = check_opts(o, err);
    if (st != WS_OK) return st;
    if (split != WS_SPLIT_TRAIN && split != WS_SPLIT_VAL)
        return wsi_error(err, WS_EINVAL, "imagenet: split %d is neither WS_SPLIT_TRAIN nor WS_SPLIT_VAL", (int)split);
    if (!dir || !*dir)
        return wsi_error(err, WS_EINVAL, "imagenet: no folder given; use --data imagenet:DIR");
    imagenet_impl *m = calloc(1, sizeof *m);
    if (!m || !(m->root = strdup(dir))) {
        free(m);
        return wsi_error(err, WS_ENOMEM, "imagenet: out of memory");
    }
    snprintf(m->split_dir, sizeof m->split_dir, "%s", split == WS_SPLIT_TRAIN ? "train" : "val");
    char split_path[4096], train_path[4096];
    int32_t *labels = NULL;
    if (join(split_path, sizeof split_path, dir, m->split_dir) || join(train_path, sizeof train_path, dir, "train")) {
        st = wsi_error(err, WS_EINVAL, "imagenet: folder path too long: %s", dir);
        goto fail;
    }
    if (!is_dir_path(split_path)) {
        st = missing_dir(dir, split_path, err);
        goto fail;
    }
    if ((st = list_classes(split_path, &m->classes, err)) != WS_OK) goto fail;
    if (split == WS_SPLIT_VAL && m->classes.n == 0) {
        /* flat val: the classes are train's */
        if (!is_dir_path(train_path)) {
            st = wsi_error(err, WS_EIO, "imagenet: %s has no class folders, so its classes must come from %s, which "
                           "does not exist; sort val into class folders or provide train/", split_path, train_path);
            goto fail;
        }
        if ((st = list_classes(train_path, &m->classes, err)) != WS_OK) goto fail;
        if (m->classes.n == 0) {
            st = wsi_error(err, WS_EFORMAT, "imagenet: %s has no class folders (expected %s/<class>/<image>.JPEG)",
                           train_path, train_path);
            goto fail;
        }
        if ((st = scan_flat_val(m, split_path, o, &labels, err)) != WS_OK) goto fail;
    } else {
        if (m->classes.n == 0) {
            st = wsi_error(err, WS_EFORMAT, "imagenet: %s has no class folders; expected %s/<class>/<image>.JPEG "
                           "(e.g. %s/n01440764/n01440764_10026.JPEG)", split_path, split_path, split_path);
            goto fail;
        }
        if (split == WS_SPLIT_VAL && is_dir_path(train_path)) {
            name_list train_classes = {0};
            st = list_classes(train_path, &train_classes, err);
            int same = st == WS_OK && train_classes.n == m->classes.n;
            for (size_t k = 0; same && k < m->classes.n; k++)
                same = !strcmp(names_get(&train_classes, k), names_get(&m->classes, k));
            if (st == WS_OK && !same)
                st = wsi_error(err, WS_EFORMAT, "imagenet: %s has %zu class folders and %s %zu, not the same names: "
                               "class indices would disagree between the splits; make val's class folders train's",
                               split_path, m->classes.n, train_path, train_classes.n);
            names_free(&train_classes);
            if (st != WS_OK) goto fail;
        }
        if ((st = scan_class_folders(m, split_path, &labels, err)) != WS_OK) goto fail;
    }
    size_t count = m->files.n;
    if ((st = index_classes(m, labels, count, err)) != WS_OK) goto fail;
    m->bad = calloc(count, sizeof *m->bad);
    m->grey_warned = calloc(m->classes.n, sizeof *m->grey_warned);
    if (!m->bad || !m->grey_warned) {
        st = wsi_error(err, WS_ENOMEM, "imagenet: out of memory");
        goto fail;
    }
    atomic_init(&m->corrupt, 0);
    atomic_init(&m->substituted, 0);
    m->labels = labels;
    m->tf = (wsi_transform){.random_crop = o->random_crop < 0 ? split == WS_SPLIT_TRAIN : o->random_crop,
                            .size = o->crop_size, .resize = o->resize_size, .scale_min = o->scale_min,
                            .scale_max = o->scale_max, .ratio_min = o->ratio_min, .ratio_max = o->ratio_max,
                            .flip_p = o->flip_p, .dct_scaling = o->dct_scaling};
    ws_rng root = ws_rng_seeded(o->seed);
    m->aug_root = ws_rng_split(&root, AUG_STREAM);
    const double mean[3] = {WS_IMAGENET_MEAN_R, WS_IMAGENET_MEAN_G, WS_IMAGENET_MEAN_B};
    const double std[3] = {WS_IMAGENET_STD_R, WS_IMAGENET_STD_G, WS_IMAGENET_STD_B};
    ws_dataset_info info = {.name = "imagenet", .count = count, .c = 3, .h = o->crop_size, .w = o->crop_size,
                            .classes = (int)m->classes.n, .mean = NAN, .std = NAN};
    for (int c = 0; c < 3; c++) {
        info.norm_mean[c] = mean[c];
        info.norm_std[c] = std[c];
        m->grey[c] = (uint8_t)nearbyint(mean[c] * 255.0);
        for (int v = 0; v < 256; v++) m->lut[c][v] = (float)((v / 255.0 - mean[c]) / std[c]);
    }
    ws_log(WS_LOG_INFO, "imagenet: %s: %zu images in %zu classes", split_path, count, m->classes.n);
    return wsi_dataset_create(out, &info, labels, &imagenet_ops, m, err);

fail:
    free(labels);
    impl_free(m);
    return st;
}

/* ---- data/dataset_imagenet.h ---- */

int wsi_imagenet_is(const ws_dataset *d) { return wsi_dataset_get_ops(d) == &imagenet_ops; }

ws_status wsi_imagenet_read_file(const ws_dataset *d, int64_t index, uint8_t **data, size_t *len, char *why,
                                 size_t why_size) {
    return read_file(wsi_dataset_impl(d), index, data, len, why, why_size);
}

const wsi_transform *wsi_imagenet_transform(const ws_dataset *d) {
    return &((const imagenet_impl *)wsi_dataset_impl(d))->tf;
}

ws_rng wsi_imagenet_rng(const ws_dataset *d, uint64_t epoch, int64_t index) {
    return sample_rng(wsi_dataset_impl(d), epoch, index);
}

void wsi_imagenet_path(const ws_dataset *d, int64_t index, char *buf, size_t size) {
    rel_path(wsi_dataset_impl(d), index, buf, size);
}
