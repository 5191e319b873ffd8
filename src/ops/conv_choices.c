/* ops/conv_choices.c - the file of convolution choices kept between runs; contract in
 * ops/conv_choices.h. */
#include "ops/conv_choices.h"

#include "core/error.h"
#include "core/fileutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* A file this large is not ours (a few hundred entries of under 1 KB are). */
#define MAX_FILE_BYTES ((size_t)64 << 20)

struct entry {
    char *key, *value;
};

struct wsi_conv_choices {
    char *path;
    struct entry *e;
    int n, cap;
    int ignored;
};

int wsi_conv_choices_path(char *buf, size_t size) {
    const char *v = getenv("WATTSCALE_CONV_CHOICES"), *base;
    int n;
    if (size) buf[0] = '\0';
    if (v) {
        if (!*v || !strcmp(v, "off")) return 0;
        n = snprintf(buf, size, "%s", v);
    } else if ((base = getenv("XDG_CACHE_HOME")) && *base) {
        n = snprintf(buf, size, "%s/wattscale/conv-choices.txt", base);
    } else if ((base = getenv("HOME")) && *base) {
        n = snprintf(buf, size, "%s/.cache/wattscale/conv-choices.txt", base);
    } else {
        return 0;
    }
    if (n < 0 || (size_t)n >= size) {
        if (size) buf[0] = '\0';
        return -1;
    }
    return 0;
}

static int field_ok(const char *s) {
    size_t n = strlen(s);
    return n > 0 && n <= WSI_CONV_CHOICES_FIELD_MAX && !strpbrk(s, "\t\n\r");
}

static struct entry *find_entry(const wsi_conv_choices *cc, const char *key) {
    for (int i = 0; i < cc->n; i++)
        if (!strcmp(cc->e[i].key, key)) return &cc->e[i];
    return NULL;
}

/* In memory only; a key held already takes the new value. */
static ws_status put(wsi_conv_choices *cc, const char *key, const char *value, ws_error *err) {
    struct entry *old = find_entry(cc, key);
    char *v = strdup(value);
    if (!v) return wsi_error(err, WS_ENOMEM, "conv choices: out of memory");
    if (old) {
        free(old->value);
        old->value = v;
        return WS_OK;
    }
    if (cc->n == cc->cap) {
        int cap = cc->cap ? 2 * cc->cap : 64;
        struct entry *grown = realloc(cc->e, (size_t)cap * sizeof *grown);
        if (!grown) {
            free(v);
            return wsi_error(err, WS_ENOMEM, "conv choices: out of memory");
        }
        cc->e = grown, cc->cap = cap;
    }
    char *k = strdup(key);
    if (!k) {
        free(v);
        return wsi_error(err, WS_ENOMEM, "conv choices: out of memory");
    }
    cc->e[cc->n].key = k, cc->e[cc->n].value = v;
    cc->n++;
    return WS_OK;
}

/* One line (without its newline): an entry, or counted as ignored. */
static ws_status parse_line(wsi_conv_choices *cc, char *line, ws_error *err) {
    if (!*line || *line == '#') return WS_OK;
    char *tab = strchr(line, '\t');
    if (!tab) {
        cc->ignored++;
        return WS_OK;
    }
    *tab = '\0';
    if (!field_ok(line) || !field_ok(tab + 1)) {
        cc->ignored++;
        return WS_OK;
    }
    return put(cc, line, tab + 1, err);
}

/* The whole file under a shared lock, so that a line being appended is not half read. */
static ws_status read_locked(wsi_conv_choices *cc, ws_error *err) {
    int fd = open(cc->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return WS_OK;
        return wsi_error(err, WS_EIO, "convolution choices file %s: %s (WATTSCALE_CONV_CHOICES=off times every "
                         "shape instead)", cc->path, strerror(errno));
    }
    (void)flock(fd, LOCK_SH); /* where locks are not supported, appends are still single writes */
    struct stat sb;
    char *text = NULL;
    ws_status st = WS_OK;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || (size_t)sb.st_size > MAX_FILE_BYTES) {
        st = wsi_error(err, WS_EIO, "convolution choices file %s: not a regular file of at most %zu MiB; delete it "
                       "or set WATTSCALE_CONV_CHOICES to another path (off: none)", cc->path, MAX_FILE_BYTES >> 20);
        goto done;
    }
    /* the lock on fd keeps writers out while the file is read through its own handle */
    if ((st = ws_read_file(cc->path, &text, NULL, err)) != WS_OK) goto done;
    for (char *line = text; *line && st == WS_OK;) {
        char *nl = strchr(line, '\n');
        if (!nl) { /* no newline: a writer that died mid-line, not an entry */
            cc->ignored++;
            break;
        }
        *nl = '\0';
        st = parse_line(cc, line, err);
        line = nl + 1;
    }
done:
    free(text);
    close(fd);
    return st;
}

ws_status wsi_conv_choices_open(wsi_conv_choices **out, const char *path, ws_error *err) {
    *out = NULL;
    if (!path || !*path) return wsi_error(err, WS_EINVAL, "conv choices: no file named");
    wsi_conv_choices *cc = calloc(1, sizeof *cc);
    if (!cc || !(cc->path = strdup(path))) {
        free(cc);
        return wsi_error(err, WS_ENOMEM, "conv choices: out of memory");
    }
    ws_status st = read_locked(cc, err);
    if (st != WS_OK) {
        wsi_conv_choices_close(cc);
        return st;
    }
    *out = cc;
    return WS_OK;
}

void wsi_conv_choices_close(wsi_conv_choices *cc) {
    if (!cc) return;
    for (int i = 0; i < cc->n; i++) {
        free(cc->e[i].key);
        free(cc->e[i].value);
    }
    free(cc->e);
    free(cc->path);
    free(cc);
}

const char *wsi_conv_choices_file(const wsi_conv_choices *cc) { return cc->path; }
int wsi_conv_choices_count(const wsi_conv_choices *cc) { return cc->n; }
int wsi_conv_choices_ignored(const wsi_conv_choices *cc) { return cc->ignored; }

const char *wsi_conv_choices_find(const wsi_conv_choices *cc, const char *key) {
    const struct entry *e = find_entry(cc, key);
    return e ? e->value : NULL;
}

/* The folder of path, made when missing. */
static ws_status make_parent(const char *path, ws_error *err) {
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path) return WS_OK;
    size_t n = (size_t)(slash - path);
    char *dir = malloc(n + 1);
    if (!dir) return wsi_error(err, WS_ENOMEM, "conv choices: out of memory");
    memcpy(dir, path, n);
    dir[n] = '\0';
    ws_status st = ws_make_dirs(dir, err);
    free(dir);
    return st;
}

ws_status wsi_conv_choices_add(wsi_conv_choices *cc, const char *key, const char *value, ws_error *err) {
    if (!field_ok(key) || !field_ok(value))
        return wsi_error(err, WS_EINVAL, "conv choices: a key or value is empty, longer than %d bytes, or holds a "
                         "tab or newline", WSI_CONV_CHOICES_FIELD_MAX);
    ws_status st = put(cc, key, value, err);
    if (st != WS_OK) return st;
    if ((st = make_parent(cc->path, err)) != WS_OK) return st;
    size_t len = strlen(key) + strlen(value) + 2;
    char *line = malloc(len + 1);
    if (!line) return wsi_error(err, WS_ENOMEM, "conv choices: out of memory");
    snprintf(line, len + 1, "%s\t%s\n", key, value);
    int fd = open(cc->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        st = wsi_error(err, WS_EIO, "convolution choices file %s: %s", cc->path, strerror(errno));
    } else {
        (void)flock(fd, LOCK_EX);
        ssize_t w;
        do
            w = write(fd, line, len);
        while (w < 0 && errno == EINTR);
        if (w != (ssize_t)len) /* a short write leaves a cut line, which readers ignore */
            st = wsi_error(err, WS_EIO, "write %s: %s", cc->path, w < 0 ? strerror(errno) : "short write");
        if (close(fd) != 0 && st == WS_OK)
            st = wsi_error(err, WS_EIO, "close %s: %s", cc->path, strerror(errno));
    }
    free(line);
    return st;
}
