/* core/proc.c - child processes; contract in core/proc.h. */
#include "core/proc.h"
#include "core/error.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int wait_child(pid_t pid) {
    int st = 0;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) return 127;
    return WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 127;
}

/* In the child, before exec: the environment additions; never returns on failure. */
static void child_env(const char *const *env) {
    for (size_t i = 0; env && env[i]; i++) {
        const char *eq = strchr(env[i], '=');
        if (!eq) continue;
        char key[256];
        size_t k = (size_t)(eq - env[i]);
        if (k >= sizeof key) continue;
        memcpy(key, env[i], k);
        key[k] = 0;
        setenv(key, eq + 1, 1);
    }
}

ws_status ws_proc_run(const ws_proc_opts *o, int *exit_code, ws_error *err) {
    *exit_code = 127;
    int log_fd = -1;
    if (o->log_path && (log_fd = open(o->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666)) < 0)
        return wsi_error(err, WS_EIO, "open log %s: %s", o->log_path, strerror(errno));
    /* a pipe that closes on a successful exec tells the parent whether exec worked */
    int report[2];
    if (pipe2(report, O_CLOEXEC) != 0) {
        if (log_fd >= 0) close(log_fd);
        return wsi_error(err, WS_ECHILD, "pipe: %s", strerror(errno));
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(report[0]);
        close(report[1]);
        if (log_fd >= 0) close(log_fd);
        return wsi_error(err, WS_ECHILD, "fork for %s: %s", o->argv[0], strerror(e));
    }
    if (pid == 0) {
        if (o->die_with_parent) {
            prctl(PR_SET_PDEATHSIG, SIGTERM);
            if (getppid() != parent) _exit(127); /* the runner died before prctl took effect */
        }
        int null_fd = open("/dev/null", O_RDONLY);
        if (null_fd >= 0) dup2(null_fd, 0);
        if (log_fd >= 0) {
            dup2(log_fd, 1);
            dup2(log_fd, 2);
        }
        if (o->keep_fd >= 0) fcntl(o->keep_fd, F_SETFD, 0);
        child_env(o->env);
        execvp(o->argv[0], o->argv);
        int e = errno;
        ssize_t w = write(report[1], &e, sizeof e);
        (void)w;
        _exit(127);
    }
    close(report[1]);
    if (log_fd >= 0) close(log_fd);
    int child_errno = 0;
    ssize_t got;
    while ((got = read(report[0], &child_errno, sizeof child_errno)) < 0 && errno == EINTR) {
    }
    close(report[0]);
    *exit_code = wait_child(pid);
    if (got == (ssize_t)sizeof child_errno)
        return wsi_error(err, WS_ECHILD, "cannot run %s: %s", o->argv[0], strerror(child_errno));
    return WS_OK;
}

ws_status ws_proc_capture(char *const *argv, char *out, size_t size, char *errout, size_t err_size, int *exit_code,
                          ws_error *err) {
    int po[2], pe[2];
    *exit_code = 127;
    if (size) out[0] = 0;
    if (errout && err_size) errout[0] = 0;
    if (pipe2(po, O_CLOEXEC) != 0) return wsi_error(err, WS_ECHILD, "pipe: %s", strerror(errno));
    if (pipe2(pe, O_CLOEXEC) != 0) {
        close(po[0]);
        close(po[1]);
        return wsi_error(err, WS_ECHILD, "pipe: %s", strerror(errno));
    }
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(po[0]), close(po[1]), close(pe[0]), close(pe[1]);
        return wsi_error(err, WS_ECHILD, "fork for %s: %s", argv[0], strerror(e));
    }
    if (pid == 0) {
        int null_fd = open("/dev/null", O_RDONLY);
        if (null_fd >= 0) dup2(null_fd, 0);
        dup2(po[1], 1);
        dup2(pe[1], 2);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    /* both pipes at once: a child filling stderr must not block while we wait on stdout */
    struct pollfd fds[2] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}};
    char *buf[2] = {out, errout};
    size_t cap[2] = {size, errout ? err_size : 0}, len[2] = {0, 0};
    int open_fds = 2;
    while (open_fds > 0) {
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        for (int k = 0; k < 2; k++) {
            if (fds[k].fd < 0 || !(fds[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            char sink[4096];
            int room = cap[k] > len[k] + 1;
            ssize_t r = read(fds[k].fd, room ? buf[k] + len[k] : sink, room ? cap[k] - 1 - len[k] : sizeof sink);
            if (r <= 0) {
                close(fds[k].fd);
                fds[k].fd = -1;
                open_fds--;
            } else if (room) {
                len[k] += (size_t)r;
            }
        }
    }
    for (int k = 0; k < 2; k++) {
        if (fds[k].fd >= 0) close(fds[k].fd);
        if (cap[k]) buf[k][len[k]] = 0;
    }
    *exit_code = wait_child(pid);
    if (*exit_code == 127) return wsi_error(err, WS_ECHILD, "cannot run %s (not found on PATH?)", argv[0]);
    return WS_OK;
}

ws_status ws_proc_split(const char *tmpl, const char *const *vars, char ***words_out, size_t *n_out, ws_error *err) {
    size_t cap = 8, n = 0;
    char **words = calloc(cap, sizeof *words);
    if (!words) return wsi_error(err, WS_ENOMEM, "out of memory");
    const char *p = tmpl;
    ws_status st = WS_OK;
    while (st == WS_OK) {
        p += strspn(p, " \t\n");
        if (!*p) break;
        size_t len = strcspn(p, " \t\n");
        char word[1024];
        size_t w = 0;
        for (size_t i = 0; i < len && st == WS_OK;) {
            if (p[i] == '{') {
                const char *brace = memchr(p + i, '}', len - i);
                size_t k = brace ? (size_t)(brace - (p + i)) - 1 : 0;
                const char *value = NULL;
                for (size_t v = 0; brace && vars && vars[v]; v++)
                    if (!strncmp(vars[v], p + i + 1, k) && vars[v][k] == '=') value = vars[v] + k + 1;
                if (!value) {
                    st = wsi_error(err, WS_EINVAL, "command template \"%s\": unknown placeholder %.*s", tmpl,
                                   (int)(brace ? k + 2 : len - i), p + i);
                    break;
                }
                size_t vl = strlen(value);
                if (w + vl >= sizeof word) {
                    st = wsi_error(err, WS_EINVAL, "command template \"%s\": word too long", tmpl);
                    break;
                }
                memcpy(word + w, value, vl);
                w += vl;
                i += k + 2;
            } else {
                if (w + 1 >= sizeof word) {
                    st = wsi_error(err, WS_EINVAL, "command template \"%s\": word too long", tmpl);
                    break;
                }
                word[w++] = p[i++];
            }
        }
        if (st != WS_OK) break;
        word[w] = 0;
        if (n + 1 >= cap) {
            char **more = realloc(words, 2 * cap * sizeof *more);
            if (!more) {
                st = wsi_error(err, WS_ENOMEM, "out of memory");
                break;
            }
            words = more;
            cap *= 2;
        }
        if (!(words[n] = strdup(word))) {
            st = wsi_error(err, WS_ENOMEM, "out of memory");
            break;
        }
        words[++n] = NULL;
        p += len;
    }
    if (st != WS_OK) {
        ws_proc_words_free(words);
        return st;
    }
    *words_out = words;
    if (n_out) *n_out = n;
    return WS_OK;
}

void ws_proc_words_free(char **words) {
    if (!words) return;
    for (char **w = words; *w; w++)
        free(*w);
    free(words);
}

int ws_proc_on_path(const char *name) {
    if (strchr(name, '/')) return access(name, X_OK) == 0;
    const char *path = getenv("PATH");
    if (!path) return 0;
    char dir[4096];
    for (const char *p = path; *p;) {
        size_t k = strcspn(p, ":");
        snprintf(dir, sizeof dir, "%.*s/%s", (int)k, p, name);
        struct stat sb;
        if (k && stat(dir, &sb) == 0 && S_ISREG(sb.st_mode) && access(dir, X_OK) == 0) return 1;
        p += k + (p[k] == ':');
    }
    return 0;
}
