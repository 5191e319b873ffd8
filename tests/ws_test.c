/* tests/ws_test.c - helpers of tests/ws_test.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "ws_test.h"

#include <cjson/cJSON.h>
#include <ftw.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

const char *ws_test_tmpdir(const char *stem) {
    static char slots[4][512];
    static int next;
    char *buf = slots[next++ % 4];
    const char *base = getenv("TMPDIR");
    snprintf(buf, 512, "%s/ws-%s-XXXXXX", base && *base ? base : "/tmp", stem);
    if (!mkdtemp(buf)) fail_msg("mkdtemp %s failed", buf);
    return buf;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb; (void)flag; (void)ftw;
    return remove(path);
}

void ws_test_rmtree(const char *path) { nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS); }

void ws_test_write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f) fail_msg("cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

/* ---- each case's environment: WATTSCALE_* as the program found it ---- */

extern char **environ;
static char **env_saved; /* "NAME=value" copies, NULL-terminated; kept until exit */

static int env_ours(const char *entry) { return strncmp(entry, "WATTSCALE_", 10) == 0; }

/* The name of "NAME=value" into name[size]; 0, or -1 when it does not fit. */
static int env_name(const char *entry, char *name, size_t size) {
    size_t len = strcspn(entry, "=");
    if (len >= size) return -1;
    memcpy(name, entry, len);
    name[len] = '\0';
    return 0;
}

int ws_test_env_save(void **state) {
    (void)state;
    size_t n = 0;
    for (char **e = environ; *e; e++) n += env_ours(*e);
    char **saved = calloc(n + 1, sizeof *saved);
    if (!saved) return -1;
    size_t k = 0;
    for (char **e = environ; *e && k < n; e++)
        if (env_ours(*e) && !(saved[k++] = strdup(*e))) {
            print_error("ws_test_env_save: out of memory\n");
            return -1;
        }
    for (char **s = env_saved; s && *s; s++) free(*s);
    free(env_saved);
    env_saved = saved;
    return 0;
}

int ws_test_env_restore(void **state) {
    (void)state;
    if (!env_saved) {
        print_error("ws_test_env_restore: nothing saved (give ws_test_env_save as the group setup)\n");
        return -1;
    }
    char name[256];
    /* unset every WATTSCALE_* variable: environ changes with each unsetenv, so look afresh */
    for (char **e = environ; *e;) {
        if (!env_ours(*e)) {
            e++;
            continue;
        }
        if (env_name(*e, name, sizeof name) != 0 || unsetenv(name) != 0) {
            print_error("ws_test_env_restore: cannot unset %.60s\n", *e);
            return -1;
        }
        e = environ;
    }
    for (char **s = env_saved; *s; s++)
        if (env_name(*s, name, sizeof name) != 0 || setenv(name, *s + strlen(name) + 1, 1) != 0) {
            print_error("ws_test_env_restore: cannot set %.60s\n", *s);
            return -1;
        }
    return 0;
}

int ws_test_run(const char *bin, const char *const *args, int sig, double sig_after_s, char *err, size_t size) {
    char *argv[128];
    size_t n = 0;
    argv[n++] = (char *)bin;
    for (; args[n - 1] && n < 127; n++) argv[n] = (char *)args[n - 1];
    argv[n] = NULL;
    int p[2];
    if (pipe(p) != 0) fail_msg("pipe failed");
    pid_t pid = fork();
    if (pid < 0) fail_msg("fork failed");
    if (pid == 0) {
        dup2(p[1], 2);
        close(p[0]);
        close(p[1]);
        execv(bin, argv);
        _exit(99);
    }
    close(p[1]);
    if (sig) {
        usleep((useconds_t)(sig_after_s * 1e6));
        kill(pid, sig);
    }
    size_t len = 0;
    ssize_t k;
    char sink[4096];
    while ((k = read(p[0], len + 1 < size ? err + len : sink, len + 1 < size ? size - 1 - len : sizeof sink)) > 0)
        if (len + 1 < size) len += (size_t)k;
    if (size) err[len] = 0;
    close(p[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void *ws_test_read_json(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)size + 1);
    size_t n = fread(buf, 1, (size_t)size, f);
    fclose(f);
    buf[n] = 0;
    cJSON *j = cJSON_Parse(buf);
    free(buf);
    if (!j) fail_msg("not JSON: %s", path);
    return j;
}
