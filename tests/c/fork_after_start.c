/*
 * fork_after_start.c - checks the library's fork promise: hs_new() and hs_start() create no
 * thread, so a process may fork() after them.
 *
 * The parent binds a server (SO_REUSEPORT, port from argv[1], 0 = ephemeral), checks through
 * /proc/self/status that it still has exactly one thread, then forks two children. Each child
 * drops the inherited copy, builds its own server on the same port with hs_set_reuse_port(),
 * answers GET / with its pid and runs until SIGTERM/SIGINT (hs_handle_signals). Once both
 * children listen, the parent prints "listening on http://127.0.0.1:PORT" and waits; a
 * SIGTERM/SIGINT to the parent is forwarded to the children. Exit status 0 when both children
 * exited 0.
 *
 * Built by c-examples/Makefile into c-examples/build/fork_after_start; driven by
 * tests/c_examples/test_c_examples.py.
 */
#define _POSIX_C_SOURCE 200809L

#include <httpsock.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define NCHILDREN 2

static pid_t children[NCHILDREN];

static void die(const char *what, int rc)
{
    fprintf(stderr, "fork_after_start[%ld]: %s failed: %s: %s\n", (long)getpid(), what,
            hs_status_str(rc), hs_last_error());
    exit(EXIT_FAILURE);
}

/* The "Threads:" field of /proc/self/status, or -1. */
static int thread_count(void)
{
    char line[256];
    int n = -1;
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "Threads: %d", &n) == 1)
            break;
    fclose(f);
    return n;
}

/* GET / -> this process's pid. */
static void on_root(void *user_data, const hs_request *req, hs_response *res)
{
    static const char headers[] = "Content-Type: text/plain\r\n";
    char body[32];
    int len = snprintf(body, sizeof body, "%ld", (long)getpid());
    int rc = hs_respond(res, 200, headers, sizeof headers - 1, body, (size_t)len);
    (void)user_data;
    (void)req;
    if (rc < 0)
        fprintf(stderr, "fork_after_start: hs_respond failed: %s\n", hs_last_error());
}

/* A child: its own server on the shared port; one byte on `ready_fd` once it listens. */
static void child_main(hs_server *inherited, int port, int ready_fd)
{
    hs_server *server;
    int rc;

    /* The inherited copy's socket would take a share of the connections and never accept
     * them: drop it (the parent drops its own too). */
    hs_free(inherited);

    server = hs_new("127.0.0.1", port);
    if (server == NULL)
        die("hs_new", HS_ERR_INVALID);
    if ((rc = hs_set_reuse_port(server, 1)) < 0)
        die("hs_set_reuse_port", rc);
    if ((rc = hs_route(server, "GET", "/", on_root, NULL)) < 0)
        die("hs_route", rc);
    if ((rc = hs_handle_signals(server, 1)) < 0)
        die("hs_handle_signals", rc);
    if ((rc = hs_start(server)) < 0)
        die("hs_start", rc);
    if (write(ready_fd, "r", 1) != 1)
        perror("fork_after_start: write");
    close(ready_fd);

    rc = hs_run(server);
    if (rc < 0)
        fprintf(stderr, "fork_after_start[%ld]: hs_run failed: %s\n", (long)getpid(),
                hs_last_error());
    hs_free(server);
    fprintf(stderr, "fork_after_start[%ld]: child done (%d)\n", (long)getpid(), rc);
    _exit(rc < 0 ? EXIT_FAILURE : EXIT_SUCCESS); /* no atexit handlers from the parent */
}

/* Parent: pass SIGTERM/SIGINT on to the children (kill() is async-signal-safe). */
static void forward_signal(int sig)
{
    int i;
    for (i = 0; i < NCHILDREN; i++)
        if (children[i] > 0)
            kill(children[i], sig);
}

int main(int argc, char **argv)
{
    int port = argc > 1 ? atoi(argv[1]) : 0;
    int ready[2], threads, i, rc, failed = 0, ready_count = 0;
    struct sigaction sa;
    char byte;
    hs_server *server;

    server = hs_new("127.0.0.1", port);
    if (server == NULL)
        die("hs_new", HS_ERR_INVALID);
    if ((rc = hs_set_reuse_port(server, 1)) < 0)
        die("hs_set_reuse_port", rc);
    if ((rc = hs_start(server)) < 0)
        die("hs_start", rc);
    if ((port = hs_port(server)) < 0)
        die("hs_port", port);

    threads = thread_count();
    if (threads != 1) {
        fprintf(stderr, "fork_after_start: %d threads after hs_new/hs_start, expected 1\n",
                threads);
        return EXIT_FAILURE;
    }
    fprintf(stderr, "fork_after_start: 1 thread after hs_start on port %d; forking\n", port);

    if (pipe(ready) != 0) {
        perror("fork_after_start: pipe");
        return EXIT_FAILURE;
    }
    for (i = 0; i < NCHILDREN; i++) {
        children[i] = fork();
        if (children[i] < 0) {
            perror("fork_after_start: fork");
            forward_signal(SIGTERM);
            return EXIT_FAILURE;
        }
        if (children[i] == 0) {
            close(ready[0]);
            child_main(server, port, ready[1]); /* does not return */
        }
    }
    close(ready[1]);
    hs_free(server);

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = forward_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    /* Both children listening? (EOF first means one died before it could.) */
    while (ready_count < NCHILDREN) {
        ssize_t n = read(ready[0], &byte, 1);
        if (n == 1)
            ready_count++;
        else if (n < 0 && errno == EINTR)
            continue;
        else
            break;
    }
    close(ready[0]);
    if (ready_count < NCHILDREN) {
        fprintf(stderr, "fork_after_start: a child failed to start\n");
        forward_signal(SIGTERM);
        failed = 1;
    } else {
        fprintf(stderr, "fork_after_start: children %ld and %ld listening\n", (long)children[0],
                (long)children[1]);
        printf("listening on http://127.0.0.1:%d\n", port);
        fflush(stdout);
    }

    for (i = 0; i < NCHILDREN; i++) {
        int status;
        pid_t pid;
        while ((pid = waitpid(children[i], &status, 0)) < 0 && errno == EINTR)
            ;
        if (pid < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "fork_after_start: child %ld ended badly (status %d)\n",
                    (long)children[i], pid < 0 ? -1 : status);
            failed = 1;
            forward_signal(SIGTERM);
        }
        children[i] = 0;
    }
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
