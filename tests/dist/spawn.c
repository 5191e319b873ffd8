/* tests/dist/spawn.c - starts N copies of a command as the ranks of a tcp world on this
 * machine, as a launcher would: each gets WATTSCALE_WORLD_SIZE, WATTSCALE_RANK and
 * WATTSCALE_RENDEZVOUS (a free localhost port, or a file in a fresh temporary folder).
 *
 *   ws_spawn N [options] -- CMD [ARGS...]
 *     --rendezvous tcp|localhost|file   tcp://127.0.0.1:PORT (default), tcp://localhost:PORT,
 *                                       or file:///TMP/rdzv (rank 0 advertising 127.0.0.1)
 *     --file-any-address                file://, and rank 0 advertises its own default address
 *     --node-ids A,B,...                WATTSCALE_NODE_ID per rank (pretend several nodes)
 *     --local-ranks 0,1,...             WATTSCALE_LOCAL_RANK per rank
 *     --ranks 0,1,1                     WATTSCALE_RANK per process (default 0..N-1)
 *     --only R                          start rank R alone (the others never come)
 *     --victim R                        rank R is meant to fail: its status is not judged
 *     --timeout S                       kill everything after S seconds (default 120): exit 124
 *     --torchrun                        torchrun's names (WORLD_SIZE, RANK, LOCAL_RANK,
 *                                       MASTER_ADDR, MASTER_PORT) instead of WATTSCALE_*
 * Exit: 0 when every rank exits 0; else, if every judged rank ended with the same code,
 * that code (death by signal N = 128+N); else 97. One line per rank says how it ended. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A port nobody listens on right now (the kernel's choice of a free one). */
static int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        perror("ws_spawn: free port");
        exit(2);
    }
    close(fd);
    return ntohs(a.sin_port);
}

/* The i-th comma-separated item of list into buf; 0 when absent. */
static int item(const char *list, int i, char *buf, size_t size) {
    if (!list) return 0;
    const char *p = list;
    for (int k = 0; k < i; k++) {
        p = strchr(p, ',');
        if (!p) return 0;
        p++;
    }
    size_t n = strcspn(p, ",");
    snprintf(buf, size, "%.*s", (int)n, p);
    return n > 0;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: ws_spawn N [--rendezvous tcp|localhost|file] [--node-ids ...] [--local-ranks ...] "
                        "[--only R] [--victim R] [--timeout S] [--torchrun] -- CMD [ARGS...]\n");
        return 2;
    }
    int n = atoi(argv[1]), only = -1, victim = -1, torchrun = 0, any_address = 0;
    const char *mode = "tcp", *node_ids = NULL, *local_ranks = NULL, *ranks = NULL;
    double timeout_s = 120;
    int i = 2;
    for (; i < argc && strcmp(argv[i], "--"); i++) {
        if (!strcmp(argv[i], "--rendezvous") && i + 1 < argc) mode = argv[++i];
        else if (!strcmp(argv[i], "--file-any-address")) mode = "file", any_address = 1;
        else if (!strcmp(argv[i], "--node-ids") && i + 1 < argc) node_ids = argv[++i];
        else if (!strcmp(argv[i], "--local-ranks") && i + 1 < argc) local_ranks = argv[++i];
        else if (!strcmp(argv[i], "--ranks") && i + 1 < argc) ranks = argv[++i];
        else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--victim") && i + 1 < argc) victim = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) timeout_s = atof(argv[++i]);
        else if (!strcmp(argv[i], "--torchrun")) torchrun = 1;
        else {
            fprintf(stderr, "ws_spawn: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (n < 1 || i + 1 >= argc) {
        fprintf(stderr, "ws_spawn: want N >= 1 and -- CMD\n");
        return 2;
    }
    char **cmd = argv + i + 1;
    char rdzv[1100], dir[512] = "", port[16];
    snprintf(port, sizeof port, "%d", free_port());
    if (!strcmp(mode, "file")) {
        const char *tmp = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/ws_spawn.XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(dir)) {
            perror("ws_spawn: mkdtemp");
            return 2;
        }
        snprintf(rdzv, sizeof rdzv, "file://%s/rdzv", dir);
    } else {
        snprintf(rdzv, sizeof rdzv, "tcp://%s:%s", strcmp(mode, "localhost") ? "127.0.0.1" : "localhost", port);
    }
    pid_t *pid = calloc((size_t)n, sizeof *pid);
    int *code = calloc((size_t)n, sizeof *code);
    double *ended = calloc((size_t)n, sizeof *ended), t0 = now_s();
    int running = 0;
    for (int r = 0; r < n; r++) {
        pid[r] = 0;
        if (only >= 0 && r != only) continue;
        pid_t p = fork();
        if (p < 0) {
            perror("ws_spawn: fork");
            return 2;
        }
        if (p == 0) {
            char num[16], rank[16], buf[256];
            snprintf(num, sizeof num, "%d", n);
            if (!item(ranks, r, rank, sizeof rank)) snprintf(rank, sizeof rank, "%d", r);
            if (torchrun) {
                setenv("WORLD_SIZE", num, 1);
                setenv("RANK", rank, 1);
                setenv("LOCAL_RANK", rank, 1);
                setenv("MASTER_ADDR", "127.0.0.1", 1);
                setenv("MASTER_PORT", port, 1);
            } else {
                setenv("WATTSCALE_WORLD_SIZE", num, 1);
                setenv("WATTSCALE_RANK", rank, 1);
                setenv("WATTSCALE_RENDEZVOUS", rdzv, 1);
            }
            if (!any_address && !strcmp(mode, "file")) setenv("WATTSCALE_RENDEZVOUS_HOST", "127.0.0.1", 1);
            if (item(node_ids, r, buf, sizeof buf)) setenv("WATTSCALE_NODE_ID", buf, 1);
            if (item(local_ranks, r, buf, sizeof buf)) setenv("WATTSCALE_LOCAL_RANK", buf, 1);
            execvp(cmd[0], cmd);
            fprintf(stderr, "ws_spawn: exec %s: %s\n", cmd[0], strerror(errno));
            _exit(127);
        }
        pid[r] = p;
        running++;
    }
    int timed_out = 0;
    while (running > 0) {
        int status;
        pid_t p = waitpid(-1, &status, WNOHANG);
        if (p > 0) {
            for (int r = 0; r < n; r++)
                if (pid[r] == p) {
                    code[r] = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
                    ended[r] = now_s() - t0;
                    running--;
                }
            continue;
        }
        if (now_s() - t0 > timeout_s) {
            timed_out = 1;
            for (int r = 0; r < n; r++)
                if (pid[r] && ended[r] == 0) kill(pid[r], SIGKILL);
            while (waitpid(-1, NULL, 0) > 0) {}
            break;
        }
        usleep(20000);
    }
    int verdict = 0, first = -1, same = 1, all_zero = 1;
    for (int r = 0; r < n; r++) {
        if (!pid[r]) continue;
        if (!timed_out || ended[r] > 0)
            fprintf(stderr, "ws_spawn: rank %d exited with code %d after %.2f s%s\n", r, code[r], ended[r],
                    r == victim ? " (the victim)" : "");
        else
            fprintf(stderr, "ws_spawn: rank %d still running after %.0f s: killed\n", r, timeout_s);
        all_zero &= code[r] == 0;
        if (r == victim) continue;
        if (first < 0) first = code[r];
        same &= code[r] == first;
    }
    if (dir[0]) {
        char path[600];
        snprintf(path, sizeof path, "%s/rdzv", dir);
        unlink(path);
        rmdir(dir);
    }
    if (timed_out) verdict = 124;
    else if (all_zero) verdict = 0;
    else verdict = same && first >= 0 ? first : 97;
    fprintf(stderr, "ws_spawn: %d rank(s) over %s: exit %d after %.2f s\n", only >= 0 ? 1 : n, rdzv, verdict,
            now_s() - t0);
    free(pid);
    free(code);
    free(ended);
    return verdict;
}
