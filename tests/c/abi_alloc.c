/*
 * abi_alloc.c - every hs_* call that allocates, holds a resource or returns owned memory, with
 * its release, and every error path of the C ABI, in one C program meant to run under Valgrind
 * (make sanitize) but also a test on its own: it exits 1 on any unexpected result.
 *
 * What the header promises and this program checks:
 *   - hs_new() allocates a server and hs_free() releases it: servers created and freed in a
 *     loop, never started, started but never run, run and stopped, the 257th live server
 *     refused; after hs_free() every call with the dead handle is HS_ERR_STATE (never a crash)
 *     and a second hs_free() is ignored.
 *   - Nothing else is freed by the caller: strings returned by request accessors, hs_last_error,
 *     hs_status_str and hs_version stay library-owned (read, never freed).
 *   - Resources held for the caller are released by hs_free(): the listening socket
 *     (hs_start), an adopted listener's duplicate (hs_adopt_listener), the cluster's sockets
 *     (hs_cluster_join), timers (hs_add_timer / hs_cancel_timer), routes and WebSocket routes,
 *     worker threads (hs_set_threads). The descriptor count at exit equals the one after the
 *     first event loop (which opens tokio's process-wide signal socket pair, once).
 *   - NULL or invalid arguments return the documented negative status with a message in
 *     hs_last_error(); that message is per thread.
 *   - A real server on 127.0.0.1: a client thread sends HTTP requests (routes, captures, 404
 *     from the error hook, 413, a raw response, a packed route, an adopted listener) and
 *     WebSocket messages (echo, binary, broadcast, a server-initiated close, a client left open
 *     at shutdown), then calls hs_shutdown(); hs_run() returns and everything is freed. A second
 *     server runs on 2 worker threads, driven by hs_poll() slices. A third is freed between two
 *     hs_poll() slices while a WebSocket client and a keep-alive connection are open.
 *
 * Built by c-examples/Makefile into c-examples/build/abi_alloc; run by tests/sanitize/run.py.
 * Exit 0 when every check held; it prints "abi_alloc: N checks, 0 failed" either way.
 */
#define _POSIX_C_SOURCE 200809L

#include <httpsock.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* ---- checks ---------------------------------------------------------------------------------- */

static int checks, failed;
static pthread_mutex_t check_lock = PTHREAD_MUTEX_INITIALIZER;

static void check(int ok, int line, const char *what)
{
    pthread_mutex_lock(&check_lock);
    checks++;
    if (!ok) {
        failed++;
        fprintf(stderr, "abi_alloc.c:%d: FAILED: %s (hs_last_error: \"%s\")\n", line, what,
                hs_last_error());
    }
    pthread_mutex_unlock(&check_lock);
}

#define EXPECT(cond) check((cond) ? 1 : 0, __LINE__, #cond)

/* `call` returns `status`, and for a failure hs_last_error() contains `needle`. */
#define EXPECT_ERR(call, status, needle)                                                       \
    do {                                                                                       \
        long long rc_ = (long long)(call);                                                     \
        check(rc_ == (status), __LINE__, #call " == " #status);                                \
        check(strstr(hs_last_error(), (needle)) != NULL, __LINE__,                             \
              "hs_last_error() after " #call " mentions \"" needle "\"");                      \
    } while (0)

/* Same for a call that returns a pointer: NULL and the message. */
#define EXPECT_NULL(call, needle)                                                              \
    do {                                                                                       \
        check((call) == NULL, __LINE__, #call " == NULL");                                     \
        check(strstr(hs_last_error(), (needle)) != NULL, __LINE__,                             \
              "hs_last_error() after " #call " mentions \"" needle "\"");                      \
    } while (0)

/* Open descriptors of this process (the directory stream's own one excluded); with `show`,
 * each is printed with what it refers to. */
static int count_fds(int show)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;
    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL) {
        char path[300], target[256];
        ssize_t len;
        if (e->d_name[0] == '.')
            continue;
        n++;
        if (!show)
            continue;
        snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
        len = readlink(path, target, sizeof target - 1);
        target[len > 0 ? len : 0] = '\0';
        fprintf(stderr, "abi_alloc:   fd %s -> %s\n", e->d_name, target);
    }
    closedir(d);
    return n - 1;
}

/* ---- callbacks that must never run ------------------------------------------------------------ */

static void never_handler(void *ud, const hs_request *req, hs_response *res)
{
    (void)ud;
    (void)req;
    (void)res;
    check(0, __LINE__, "a handler of a server that never ran was called");
}

static void never_timer(void *ud)
{
    (void)ud;
    check(0, __LINE__, "a timer of a server that never ran fired");
}

/* ---- 1. calls without a server ------------------------------------------------------------- */

static void errors_without_server(void)
{
    size_t len = 7;
    const char *v;

    EXPECT_NULL(hs_new(NULL, 0), "address is NULL");
    EXPECT_NULL(hs_new("127.0.0.1", 70000), "70000");
    EXPECT_NULL(hs_new("127.0.0.1", -1), "-1");
    EXPECT_NULL(hs_new("", 0), "empty address");
    EXPECT_NULL(hs_new("tcp://h:notaport", 0), "notaport");
    hs_free(NULL); /* ignored */

    EXPECT_ERR(hs_start(NULL), HS_ERR_INVALID, "NULL");
    EXPECT_ERR(hs_run(NULL), HS_ERR_INVALID, "NULL");
    EXPECT_ERR(hs_poll(NULL, 0), HS_ERR_INVALID, "NULL");
    EXPECT_ERR(hs_shutdown(NULL), HS_ERR_INVALID, "NULL");
    EXPECT_ERR(hs_port(NULL), HS_ERR_INVALID, "NULL");
    EXPECT_ERR(hs_route(NULL, "GET", "/", never_handler, NULL), HS_ERR_INVALID, "NULL");
    EXPECT_ERR(hs_add_timer(NULL, 10, 0, never_timer, NULL), HS_ERR_INVALID, "NULL");
    EXPECT_ERR(hs_ws_count(NULL, -1), HS_ERR_INVALID, "NULL");
    EXPECT_ERR(hs_port_in_use(NULL, 80), HS_ERR_INVALID, "address is NULL");
    EXPECT_ERR(hs_port_in_use("127.0.0.1", 70000), HS_ERR_INVALID, "70000");
    EXPECT_ERR(hs_kill_port_holders(-1), HS_ERR_INVALID, "-1");

    /* Request and response accessors refuse a NULL handle. */
    EXPECT_NULL(hs_request_method(NULL, &len), "request handle is NULL");
    EXPECT_NULL(hs_request_body(NULL, &len), "request handle is NULL");
    EXPECT_ERR(hs_request_header_count(NULL), HS_ERR_INVALID, "request handle is NULL");
    EXPECT_ERR(hs_response_set_status(NULL, 200), HS_ERR_INVALID, "response handle is NULL");
    EXPECT_ERR(hs_respond(NULL, 200, NULL, 0, "x", 1), HS_ERR_INVALID, "response handle");
    EXPECT_NULL(hs_response_body(NULL, &len), "response handle is NULL");

    /* Static strings: read, never freed. */
    EXPECT(strcmp(hs_status_str(HS_ERR_STATE), "wrong state") == 0);
    EXPECT(strcmp(hs_status_str(HS_OK), "ok") == 0);
    EXPECT(strcmp(hs_status_str(-100), "unknown status") == 0);
    v = hs_version();
    EXPECT(v != NULL && v[0] >= '0' && v[0] <= '9' && strchr(v, '.') != NULL);
}

/* hs_last_error() is per thread: a failure on another thread leaves this thread's text alone. */
static void *fail_on_other_thread(void *arg)
{
    char *out = arg;
    int rc = hs_port_in_use("127.0.0.1", 99999); /* "port 99999 ..." */
    snprintf(out, 256, "%d %s", rc, hs_last_error());
    return NULL;
}

static void last_error_is_per_thread(void)
{
    char other[256] = "";
    pthread_t t;
    EXPECT_ERR(hs_port_in_use("127.0.0.1", 88888), HS_ERR_INVALID, "88888");
    EXPECT(pthread_create(&t, NULL, fail_on_other_thread, other) == 0);
    pthread_join(t, NULL);
    EXPECT(strstr(other, "99999") != NULL && strncmp(other, "-1 ", 3) == 0);
    EXPECT(strstr(hs_last_error(), "88888") != NULL);
}

/* ---- 2. servers created and freed in every state ---------------------------------------------- */

/* Every call with a handle that hs_free() released: HS_ERR_STATE, nothing dereferenced. */
static void expect_dead(hs_server *dead)
{
    uint64_t v;
    EXPECT_ERR(hs_start(dead), HS_ERR_STATE, "not live");
    EXPECT_ERR(hs_run(dead), HS_ERR_STATE, "not live");
    EXPECT_ERR(hs_poll(dead, 0), HS_ERR_STATE, "not live");
    EXPECT_ERR(hs_shutdown(dead), HS_ERR_STATE, "not live");
    EXPECT_ERR(hs_port(dead), HS_ERR_STATE, "not live");
    EXPECT_ERR(hs_route(dead, "GET", "/", never_handler, NULL), HS_ERR_STATE, "not live");
    EXPECT_ERR(hs_add_timer(dead, 10, 1, never_timer, NULL), HS_ERR_STATE, "not live");
    EXPECT_ERR(hs_cancel_timer(dead, 1), HS_ERR_STATE, "not live");
    EXPECT_ERR(hs_get_limit(dead, HS_LIMIT_MAX_BODY_BYTES, &v), HS_ERR_STATE, "not live");
    EXPECT_ERR(hs_ws_send(dead, 1, "x", 1, 0), HS_ERR_STATE, "not live");
    EXPECT_ERR(hs_ws_count(dead, -1), HS_ERR_STATE, "not live");
    EXPECT_ERR(hs_listener_fd(dead), HS_ERR_STATE, "not live");
    hs_free(dead); /* a second free is ignored */
}

#define CHURN 24
#define MAX_LIVE 256 /* the library's table of live handles (src/ffi/boundary.rs) */

static void churn(void)
{
    static hs_server *many[MAX_LIVE];
    char group[64];
    int i, n;

    for (i = 0; i < CHURN; i++) {
        hs_server *s = hs_new(i % 2 ? "127.0.0.1" : "tcp://127.0.0.1:0", 0);
        EXPECT(s != NULL);
        if (s == NULL)
            continue;
        EXPECT(hs_route(s, "GET", "/a/{x}", never_handler, NULL) >= 0);
        EXPECT_ERR(hs_route(s, "GET", "/b/(", never_handler, NULL), HS_ERR_PATTERN, "/b/(");
        EXPECT(hs_set_header(s, "X-Churn", "1") == HS_OK);
        EXPECT(hs_add_timer(s, 5, 1, never_timer, NULL) > 0);
        EXPECT_ERR(hs_port(s), HS_ERR_STATE, "hs_start");
        EXPECT_ERR(hs_listener_fd(s), HS_ERR_STATE, "hs_start");
        if (i % 2 == 1) { /* started, never run: the listener is freed by hs_free */
            int fd;
            EXPECT(hs_start(s) == HS_OK);
            EXPECT(hs_start(s) == HS_OK); /* idempotent */
            EXPECT(hs_port(s) > 0);
            fd = hs_listener_fd(s);
            EXPECT(fd > 2);
            if (i % 4 == 1 && fd > 2) /* a duplicate of our own listener, adopted */
                EXPECT(hs_adopt_listener(s, fd) == HS_OK);
        }
        if (i % 3 == 0) {
            snprintf(group, sizeof group, "abi-alloc-churn-%ld-%d", (long)getpid(), i);
            EXPECT(hs_websocket(s, 1) == HS_OK);
            EXPECT(hs_cluster_join(s, group, 0, 1) == HS_OK);
            EXPECT_ERR(hs_cluster_join(s, group, 0, 1), HS_ERR_STATE, "already");
        }
        if (i % 5 == 0) /* shutdown requested before any run, then freed */
            EXPECT(hs_shutdown(s) == HS_OK);
        hs_free(s);
        expect_dead(s);
    }

    /* A shutdown requested before the loop runs: hs_run returns at once, then free. */
    {
        hs_server *s = hs_new("127.0.0.1", 0);
        EXPECT(s != NULL);
        if (s != NULL) {
            EXPECT(hs_add_timer(s, 1000, 1, never_timer, NULL) > 0);
            EXPECT(hs_shutdown(s) == HS_OK);
            EXPECT(hs_run(s) == HS_OK);
            EXPECT(hs_poll(s, 10) == 0); /* stopped: 0 at once */
            EXPECT_ERR(hs_start(s), HS_ERR_STATE, "shut down");
            hs_free(s);
        }
    }

    /* The handle table is full at MAX_LIVE: the next hs_new is refused (and frees what it
     * built); freeing one makes room again. */
    for (n = 0; n < MAX_LIVE; n++) {
        many[n] = hs_new("127.0.0.1", 0);
        if (many[n] == NULL)
            break;
    }
    EXPECT(n == MAX_LIVE);
    if (n == MAX_LIVE) {
        EXPECT_NULL(hs_new("127.0.0.1", 0), "servers alive at once");
        hs_free(many[--n]);
        many[n] = hs_new("127.0.0.1", 0);
        EXPECT(many[n] != NULL);
        n++;
    }
    for (i = 0; i < n; i++)
        hs_free(many[i]);
}

/* ---- 3. invalid arguments on a live server ---------------------------------------------------- */

/* The fast route's handlers and buffers (defined with the routes below). */
static hs_fast_buffers fast_buffers;
static int64_t on_fast(void *, int64_t, int64_t, int64_t);
static void on_fast_slow(void *, const uint8_t *, size_t, const uint8_t *, size_t, hs_response *);

static void bad_arguments(void)
{
    hs_ws_handlers h = {NULL, NULL, NULL};
    uint64_t v = 0;
    char buf[16];
    int pipefd[2];
    hs_server *s = hs_new("127.0.0.1", 0);
    EXPECT(s != NULL);
    if (s == NULL)
        return;

    EXPECT_ERR(hs_route(s, "GET", "(", never_handler, NULL), HS_ERR_PATTERN, "(");
    EXPECT_ERR(hs_route(s, "GET", NULL, never_handler, NULL), HS_ERR_INVALID, "NULL");
    EXPECT_ERR(hs_route(s, "NOT A METHOD", "/", never_handler, NULL), HS_ERR_INVALID, "method");
    EXPECT_ERR(hs_route(s, "GET", "/", NULL, NULL), HS_ERR_INVALID, "handler is NULL");
    EXPECT_ERR(hs_route_packed(s, "GET", "/", NULL, NULL), HS_ERR_INVALID, "handler is NULL");
    {
        hs_fast_buffers no_head = {NULL, 10, NULL, 0, NULL, 0, NULL, 0, 0};
        EXPECT_ERR(hs_route_fast(s, "GET", "/", NULL, on_fast, on_fast_slow, NULL), HS_ERR_INVALID,
                   "buffers is NULL");
        EXPECT_ERR(hs_route_fast(s, "GET", "/", &fast_buffers, NULL, on_fast_slow, NULL),
                   HS_ERR_INVALID, "fast is NULL");
        EXPECT_ERR(hs_route_fast(s, "GET", "/", &fast_buffers, on_fast, NULL, NULL),
                   HS_ERR_INVALID, "slow is NULL");
        EXPECT_ERR(hs_route_fast(s, "GET", "/", &no_head, on_fast, on_fast_slow, NULL),
                   HS_ERR_INVALID, "buffers->head is NULL");
        {
            hs_fast_buffers too_big = fast_buffers;
            too_big.body_cap = (size_t)1 << 21; /* its length field has 21 bits */
            EXPECT_ERR(hs_route_fast(s, "GET", "/", &too_big, on_fast, on_fast_slow, NULL),
                       HS_ERR_INVALID, "at most 2097151");
        }
        EXPECT(hs_fast_response() == NULL && hs_last_error() != NULL &&
               strstr(hs_last_error(), "fast handler") != NULL);
    }
    EXPECT_ERR(hs_accept(s, "/ws", NULL, NULL), HS_ERR_INVALID, "handlers is NULL");
    EXPECT_ERR(hs_accept(s, "(", &h, NULL), HS_ERR_PATTERN, "(");
    EXPECT_ERR(hs_set_limit(s, 99, 1), HS_ERR_INVALID, "unknown limit 99");
    EXPECT_ERR(hs_set_limit(s, HS_LIMIT_IDLE_TIMEOUT_MS, 0), HS_ERR_INVALID, "at least 1 ms");
    EXPECT_ERR(hs_get_limit(s, HS_LIMIT_MAX_BODY_BYTES, NULL), HS_ERR_INVALID, "NULL");
    EXPECT(hs_get_limit(s, HS_LIMIT_MAX_BODY_BYTES, &v) == HS_OK && v == 16u * 1024 * 1024);
    EXPECT_ERR(hs_set_threads(s, 0), HS_ERR_INVALID, "1-1024");
    EXPECT_ERR(hs_set_timeout(s, 0, 0), HS_ERR_INVALID, "at least 1 ms");
    EXPECT_ERR(hs_set_rate_limit(s, 5, 0), HS_ERR_INVALID, "window");
    EXPECT_ERR(hs_add_timer(s, 0, 0, never_timer, NULL), HS_ERR_INVALID, "at least 1 ms");
    EXPECT_ERR(hs_add_timer(s, 10, 0, NULL, NULL), HS_ERR_INVALID, "callback is NULL");
    EXPECT_ERR(hs_cancel_timer(s, 12345), HS_ERR_NOT_FOUND, "12345");
    EXPECT_ERR(hs_cancel_timer(s, -1), HS_ERR_INVALID, "timer id");
    EXPECT_ERR(hs_ws_send(s, 999, "x", 1, 0), HS_ERR_NOT_FOUND, "999");
    EXPECT_ERR(hs_ws_send(s, 999, "\xff", 1, 0), HS_ERR_INVALID, "UTF-8");
    EXPECT_ERR(hs_ws_send(s, 999, NULL, 5, 1), HS_ERR_INVALID, "NULL");
    EXPECT_ERR(hs_ws_close(s, 999, 1004, NULL), HS_ERR_INVALID, "1004");
    EXPECT_ERR(hs_ws_close(s, 999, 1000, NULL), HS_ERR_NOT_FOUND, "999");
    EXPECT_ERR(hs_ws_broadcast_route(s, -5, "x", 1, 0, 0), HS_ERR_INVALID, "route id");
    EXPECT(hs_ws_broadcast(s, "x", 1, 0, 0) == 0); /* nobody connected */
    EXPECT_ERR(hs_ws_clients(s, -1, NULL, 3), HS_ERR_INVALID, "NULL");
    EXPECT(hs_ws_clients(s, -1, NULL, 0) == 0);
    EXPECT_ERR(hs_ws_client_peer(s, 999, buf, sizeof buf, NULL), HS_ERR_NOT_FOUND, "999");
    EXPECT_ERR(hs_ws_client_path(s, 999, buf, sizeof buf), HS_ERR_NOT_FOUND, "999");
    EXPECT_ERR(hs_adopt_listener(s, -1), HS_ERR_INVALID, "-1");
    EXPECT(pipe(pipefd) == 0);
    EXPECT_ERR(hs_adopt_listener(s, pipefd[0]), HS_ERR_INVALID, "not a listening TCP socket");
    close(pipefd[0]);
    close(pipefd[1]);
    EXPECT_ERR(hs_cluster_join(s, "a/b", 0, 1), HS_ERR_INVALID, "/");
    EXPECT_ERR(hs_cluster_join(s, "g", -1, 1), HS_ERR_INVALID, "slot");
    EXPECT_ERR(hs_set_header(s, "bad name", "v"), HS_ERR_INVALID, "bad name");
    EXPECT_ERR(hs_set_header(s, NULL, "v"), HS_ERR_INVALID, "NULL");
    EXPECT_ERR(hs_client_on(s, "not-an-ip"), HS_ERR_INVALID, "not-an-ip");
    EXPECT(hs_client_on(s, "10.0.0.1") == HS_OK);
    EXPECT(hs_client_off(s, "10.0.0.1") == 1);
    EXPECT(hs_client_off(s, "10.0.0.1") == 0);
    EXPECT(hs_clear_headers(s) == HS_OK);
    EXPECT(hs_set_log(s, NULL, NULL) == HS_OK);
    hs_free(s);
}

/* ---- 4. a real server and a client thread ------------------------------------------------------ */

typedef struct {
    hs_server *server;
    int info_route, ws_route;
    int port, adopted_port;
    int handled;       /* requests seen by handlers */
    int bad;           /* accessor results that were wrong */
    int error_hook;    /* hs_on_error calls */
    int filtered;      /* hs_on_response calls */
    int repeat_fired, once_fired, inner_fired;
    int64_t repeat_id;
    int ws_open, ws_messages, ws_closed, last_close_code;
    int log_lines;
    int client_ok;     /* the client thread reached its end */
} app_t;

static pthread_mutex_t app_lock = PTHREAD_MUTEX_INITIALIZER;
/* Signalled when the repeating timer has fired its 3 times (the client waits for it before it
 * shuts the server down: the client's requests can all be done in less than 3 periods). */
static pthread_cond_t repeat_done = PTHREAD_COND_INITIALIZER;

#define BAD(cond)                                                                              \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "abi_alloc.c:%d: in a callback: %s\n", __LINE__, #cond);          \
            app->bad++;                                                                        \
        }                                                                                      \
    } while (0)

static int eq(const char *p, size_t len, const char *want)
{
    return p != NULL && len == strlen(want) && memcmp(p, want, len) == 0;
}

/* GET /info/{id}?a=1 with X-Test: yes: every request accessor. */
static void on_info(void *ud, const hs_request *req, hs_response *res)
{
    app_t *app = ud;
    size_t len = 99, wire_len = 0;
    const char *name = NULL, *value = NULL, *p;
    const uint8_t *body, *wire;
    int count, i, found = 0;

    app->handled++;
    p = hs_request_method(req, &len);
    BAD(eq(p, len, "GET"));
    p = hs_request_path(req, &len);
    BAD(eq(p, len, "/info/42"));
    p = hs_request_query(req, &len);
    BAD(eq(p, len, "a=1"));
    p = hs_request_uri(req, &len);
    BAD(eq(p, len, "/info/42?a=1"));
    BAD(strcmp(hs_request_version(req), "HTTP/1.1") == 0);
    p = hs_request_header(req, "x-TEST", &len);
    BAD(eq(p, len, "yes"));
    BAD(hs_request_header(req, "x-absent", &len) == NULL);
    count = hs_request_header_count(req);
    BAD(count >= 2);
    for (i = 0; i < count; i++) {
        BAD(hs_request_header_at(req, (size_t)i, &name, &value) == HS_OK);
        if (name != NULL && strcmp(name, "x-test") == 0 && strcmp(value, "yes") == 0)
            found = 1;
    }
    BAD(found);
    BAD(hs_request_header_at(req, (size_t)count, &name, &value) == HS_ERR_NOT_FOUND);
    body = hs_request_body(req, &len);
    BAD(body != NULL && len == 0);
    BAD(hs_request_param_count(req) == 1);
    p = hs_request_param(req, 0, &len);
    BAD(eq(p, len, "42"));
    BAD(hs_request_param(req, 1, &len) == NULL);
    p = hs_request_param_named(req, "id", &len);
    BAD(eq(p, len, "42"));
    BAD(hs_request_param_named(req, "nope", &len) == NULL);
    wire = hs_request_packed(req, &wire_len);
    BAD(wire != NULL && wire_len > 20 && wire[wire_len] == '\0');
    p = hs_request_peer_ip(req, &len);
    BAD(eq(p, len, "127.0.0.1"));
    BAD(hs_request_peer_port(req) > 0);
    BAD(hs_request_conn_id(req) > 0);
    BAD(hs_request_route_id(req) == app->info_route);

    BAD(hs_response_set_status(res, 201) == HS_OK);
    BAD(hs_response_add_header(res, "Content-Type", "text/plain") == HS_OK);
    BAD(hs_response_set_body(res, "first", 5) == HS_OK);
    BAD(hs_response_set_body(res, "info", 4) == HS_OK); /* replaces: the first is freed */
}

/* POST /echo */
static void on_echo(void *ud, const hs_request *req, hs_response *res)
{
    app_t *app = ud;
    size_t len = 0;
    const uint8_t *body = hs_request_body(req, &len);
    static const char headers[] = "Content-Type: application/octet-stream\r\n";
    app->handled++;
    BAD(hs_respond(res, 200, headers, sizeof headers - 1, (const char *)body, len) == HS_OK);
}

/* GET /raw */
static void on_raw(void *ud, const hs_request *req, hs_response *res)
{
    static const char raw[] = "HTTP/1.1 202 Accepted\r\nX-Raw: 1\r\n\r\nraw";
    app_t *app = ud;
    (void)req;
    app->handled++;
    BAD(hs_response_set_raw(res, raw, sizeof raw - 1) == HS_OK);
}

/* GET /packed (hs_route_packed) */
static void on_packed(void *ud, const uint8_t *head, size_t len, const uint8_t *body,
                      size_t body_len, hs_response *res)
{
    app_t *app = ud;
    app->handled++;
    BAD(head != NULL && len > 20 && head[len] == '\0'); /* the NUL after the head */
    BAD(body != NULL && body_len == 0);
    BAD(hs_respond(res, 200, NULL, 0, "packed", 6) == HS_OK);
}

/* /fast/{word} (hs_route_fast): small buffers, so that a long body takes the slow handler and a
 * long reply goes through hs_fast_response(). The query says which reply to give. */
static uint8_t fast_head[512], fast_body[16], fast_reply_headers[64], fast_reply_body[64];
static hs_fast_buffers fast_buffers = {
    fast_head, sizeof fast_head, fast_body, sizeof fast_body,
    fast_reply_headers, sizeof fast_reply_headers, fast_reply_body, sizeof fast_reply_body, 0,
};
static int fast_route = -1;

static int64_t fast_reply(int kind, int status, size_t headers_len, size_t body_len)
{
    return (int64_t)kind | (int64_t)status << 3 | (int64_t)headers_len << 13 |
           (int64_t)body_len << 37;
}

#define FIELD(v, i) ((size_t)(((v) >> (21 * (i))) & 0x1fffff))

static int64_t on_fast(void *ud, int64_t route, int64_t lengths, int64_t spans)
{
    static const char hdr[] = "X-Fast: 1\r\n";
    app_t *app = ud;
    const char *q = (const char *)fast_head + FIELD(spans, 0);
    size_t qlen = FIELD(spans, 1), body_len = FIELD(lengths, 1);
    char big[200];
    app->handled++;
    BAD((int)FIELD(route, 0) == fast_route);
    BAD(fast_buffers.busy == 1);
    /* One capture, decoded ("a b" from "a%20b"), before the packed head. */
    BAD(FIELD(route, 1) == 1 && FIELD(route, 2) == 4 && memcmp(fast_head, "a b", 4) == 0);
    BAD(FIELD(lengths, 0) > 20 && FIELD(lengths, 0) <= sizeof fast_head);
    BAD(strtol((const char *)fast_head + 4, NULL, 10) == fast_route); /* the head's route id */
    /* The headers span covers "host: x\r\n" (names in lower case). */
    BAD(FIELD(lengths, 2) >= 9 && memcmp(fast_head + FIELD(spans, 2), "host: x\r\n", 9) == 0);
    BAD(hs_fast_response() != NULL);
    if (qlen == 7 && memcmp(q, "mode=ok", 7) == 0) {
        BAD(body_len == 3 && memcmp(fast_body, "abc", 3) == 0);
        memcpy(fast_reply_headers, hdr, sizeof hdr - 1);
        memcpy(fast_reply_body, "fast", 4);
        return fast_reply(HS_FAST_RESPOND, 201, sizeof hdr - 1, 4);
    }
    if (qlen == 8 && memcmp(q, "mode=raw", 8) == 0) {
        static const char raw[] = "HTTP/1.1 202 Accepted\r\nX-Raw: 1\r\n\r\nraw";
        memcpy(fast_reply_body, raw, sizeof raw - 1);
        return fast_reply(HS_FAST_RAW, 0, 0, sizeof raw - 1);
    }
    if (qlen == 11 && memcmp(q, "mode=answer", 11) == 0)
        return fast_reply(HS_FAST_ANSWER, HS_ANSWER_NOT_FOUND, 0, 0);
    if (qlen == 9 && memcmp(q, "mode=fail", 9) == 0) {
        memcpy(fast_reply_body, "boom", 4);
        return fast_reply(HS_FAST_FAIL, 0, 0, 4);
    }
    if (qlen == 8 && memcmp(q, "mode=big", 8) == 0) {
        memset(big, 'b', sizeof big);
        BAD(hs_respond(hs_fast_response(), 200, NULL, 0, big, sizeof big) == HS_OK);
        return fast_reply(HS_FAST_DONE, 0, 0, 0);
    }
    if (qlen == 12 && memcmp(q, "mode=toolong", 12) == 0)
        return fast_reply(HS_FAST_RESPOND, 200, 0, sizeof fast_reply_body + 1);
    if (qlen == 11 && memcmp(q, "mode=status", 11) == 0)
        return fast_reply(HS_FAST_RESPOND, 99, 0, 0);
    return fast_reply(HS_FAST_NONE, 0, 0, 0);
}

/* The fast route's requests that do not fit its buffers (a body over 16 bytes). */
static void on_fast_slow(void *ud, const uint8_t *head, size_t len, const uint8_t *body,
                         size_t body_len, hs_response *res)
{
    app_t *app = ud;
    app->handled++;
    BAD(head != NULL && len > 20 && head[len] == '\0');
    BAD(body_len == 100 && body[0] == 'x');
    BAD(hs_respond(res, 200, NULL, 0, "slow", 4) == HS_OK);
}

static void on_inner_timer(void *ud)
{
    app_t *app = ud;
    pthread_mutex_lock(&app_lock);
    app->inner_fired++;
    pthread_mutex_unlock(&app_lock);
}

/* GET /timer: a one-shot timer added from inside a handler. */
static void on_timer_route(void *ud, const hs_request *req, hs_response *res)
{
    app_t *app = ud;
    (void)req;
    app->handled++;
    BAD(hs_add_timer(app->server, 1, 0, on_inner_timer, app) > 0);
    BAD(hs_respond(res, 200, NULL, 0, "timer", 5) == HS_OK);
}

static void on_error(void *ud, const hs_request *req, hs_answer type, hs_response *res)
{
    app_t *app = ud;
    (void)req;
    app->error_hook++;
    if (type == HS_ANSWER_NOT_FOUND)
        BAD(hs_respond(res, 404, NULL, 0, "custom 404", 10) == HS_OK);
    /* other types: untouched, the engine's default answer */
}

static void on_response(void *ud, const hs_request *req, hs_response *res)
{
    app_t *app = ud;
    size_t len = 0;
    const uint8_t *body = hs_response_body(res, &len);
    (void)req;
    app->filtered++;
    BAD(hs_response_status(res) >= 200);
    BAD(body != NULL);
    BAD(hs_response_add_header(res, "X-Filtered", "1") == HS_OK);
}

/* Repeats every 5 ms and cancels itself on the third call. */
static void on_repeat(void *ud)
{
    app_t *app = ud;
    int fired;
    pthread_mutex_lock(&app_lock);
    fired = ++app->repeat_fired;
    pthread_mutex_unlock(&app_lock);
    if (fired == 3) {
        /* Not under app_lock: the engine may call on_log (which takes it) from here. */
        BAD(hs_cancel_timer(app->server, app->repeat_id) == HS_OK);
        pthread_mutex_lock(&app_lock);
        pthread_cond_broadcast(&repeat_done);
        pthread_mutex_unlock(&app_lock);
    }
}

/* Waits (at most 10 s) until the repeating timer has fired 3 times; 1 if it did. */
static int wait_repeat_done(app_t *app)
{
    struct timespec until;
    int done;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    pthread_mutex_lock(&app_lock);
    while (app->repeat_fired < 3 && pthread_cond_timedwait(&repeat_done, &app_lock, &until) == 0)
        ;
    done = app->repeat_fired >= 3;
    pthread_mutex_unlock(&app_lock);
    return done;
}

static void on_once(void *ud)
{
    app_t *app = ud;
    app->once_fired++;
}

static void on_log(void *ud, const char *line)
{
    app_t *app = ud;
    if (getenv("ABI_ALLOC_DEBUG") != NULL)
        fprintf(stderr, "abi_alloc: log: %s\n", line);
    pthread_mutex_lock(&app_lock);
    if (line != NULL && line[0] != '\0')
        app->log_lines++;
    pthread_mutex_unlock(&app_lock);
}

static void on_ws_open(void *ud, uint64_t id, const hs_request *req)
{
    app_t *app = ud;
    char buf[64];
    uint16_t port = 0;
    uint64_t ids[4];
    size_t len = 0;
    int n;
    const char *path = hs_request_path(req, &len);
    app->ws_open++;
    BAD(eq(path, len, "/ws"));
    BAD(hs_ws_client_peer(app->server, id, buf, sizeof buf, &port) == 9 && port > 0);
    BAD(strcmp(buf, "127.0.0.1") == 0);
    BAD(hs_ws_client_path(app->server, id, buf, sizeof buf) == 3 && strcmp(buf, "/ws") == 0);
    BAD(hs_ws_client_path(app->server, id, buf, 2) == 3 && strcmp(buf, "/") == 0); /* cut */
    BAD(hs_ws_client_path(app->server, id, NULL, 0) == 3); /* just the length */
    BAD(hs_ws_client_path(app->server, id, NULL, 5) == HS_ERR_INVALID);
    n = hs_ws_count(app->server, app->ws_route);
    BAD(n >= 1 && n == hs_ws_count(app->server, -1));
    BAD(hs_ws_clients(app->server, -1, ids, 4) == n && ids[n - 1] == id);
}

static void on_ws_message(void *ud, uint64_t id, const uint8_t *data, size_t len, int is_binary)
{
    app_t *app = ud;
    app->ws_messages++;
    if (!is_binary && eq((const char *)data, len, "bcast")) {
        BAD(hs_ws_broadcast(app->server, "all", 3, 0, 0) >= 1);
        BAD(hs_ws_broadcast_route(app->server, app->ws_route, "route", 5, 0, 0) >= 1);
    } else if (!is_binary && eq((const char *)data, len, "close")) {
        BAD(hs_ws_close(app->server, id, 4000, "bye") == HS_OK);
    } else {
        BAD(hs_ws_send(app->server, id, (const char *)data, len, is_binary) == HS_OK);
    }
}

static void on_ws_close(void *ud, uint64_t id, int code, const char *reason)
{
    app_t *app = ud;
    (void)id;
    BAD(reason != NULL);
    app->ws_closed++;
    app->last_close_code = code;
}

/* ---- the client (plain sockets) ---------------------------------------------------------------- */

static int client_failures;

#define CLIENT_EXPECT(cond)                                                                    \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "abi_alloc.c:%d: client: %s\n", __LINE__, #cond);                 \
            client_failures++;                                                                 \
        }                                                                                      \
    } while (0)

static int dial(int port)
{
    struct sockaddr_in a;
    struct timeval tv = {10, 0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int send_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int recv_all(int fd, void *data, size_t len)
{
    char *p = data;
    while (len > 0) {
        ssize_t n = recv(fd, p, len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* One request on a new connection (the request says Connection: close); the whole answer into
 * `out` (NUL-terminated). Returns the status code, or -1. */
static int http(int port, const char *request, char *out, size_t cap)
{
    size_t used = 0;
    int fd = dial(port), status = -1;
    if (fd < 0)
        return -1;
    if (send_all(fd, request, strlen(request)) == 0) {
        for (;;) {
            const char *end;
            ssize_t n = recv(fd, out + used, cap - 1 - used, 0);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            used += (size_t)n;
            out[used] = '\0';
            if (used == cap - 1)
                break;
            /* A keep-alive answer (an upgrade refused) ends at its Content-Length. */
            end = strstr(out, "\r\n\r\n");
            if (end != NULL) {
                const char *cl = strstr(out, "content-length: ");
                if (cl == NULL)
                    cl = strstr(out, "Content-Length: ");
                if (cl != NULL && cl < end &&
                    used >= (size_t)(end + 4 - out) + strtoul(cl + 16, NULL, 10))
                    break;
            }
        }
    }
    out[used] = '\0';
    close(fd);
    if (sscanf(out, "HTTP/1.1 %d", &status) != 1)
        status = -1;
    return status;
}

static const char *body_of(const char *response)
{
    const char *p = strstr(response, "\r\n\r\n");
    return p ? p + 4 : "";
}

/* The RFC 6455 sample key and its accept value (RFC 6455 section 1.3). */
static int ws_connect(int port)
{
    static const char req[] = "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                              "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                              "Sec-WebSocket-Version: 13\r\n\r\n";
    char head[1024];
    size_t used = 0;
    int fd = dial(port);
    if (fd < 0)
        return -1;
    if (send_all(fd, req, sizeof req - 1) != 0) {
        close(fd);
        return -1;
    }
    /* Read the 101 head byte by byte so that no frame byte is consumed. */
    while (used < sizeof head - 1 && recv(fd, head + used, 1, 0) == 1) {
        used++;
        head[used] = '\0';
        if (used >= 4 && memcmp(head + used - 4, "\r\n\r\n", 4) == 0)
            break;
    }
    head[used] = '\0';
    if (strncmp(head, "HTTP/1.1 101", 12) != 0 ||
        strstr(head, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == NULL) {
        fprintf(stderr, "abi_alloc: bad upgrade answer: %s\n", head);
        close(fd);
        return -1;
    }
    return fd;
}

/* A masked client frame, FIN set. */
static int ws_send_frame(int fd, int opcode, const void *data, size_t len)
{
    unsigned char frame[256];
    static const unsigned char mask[4] = {0x12, 0x34, 0x56, 0x78};
    size_t i, h = 0;
    if (len > 125)
        return -1;
    frame[h++] = (unsigned char)(0x80 | opcode);
    frame[h++] = (unsigned char)(0x80 | len);
    memcpy(frame + h, mask, 4);
    h += 4;
    for (i = 0; i < len; i++)
        frame[h + i] = ((const unsigned char *)data)[i] ^ mask[i % 4];
    return send_all(fd, frame, h + len);
}

/* Reads one server frame (unmasked, at most 125 bytes here). Returns its opcode, or -1. */
static int ws_read_frame(int fd, unsigned char *payload, size_t *len)
{
    unsigned char h[2];
    if (recv_all(fd, h, 2) != 0 || (h[1] & 0x80) != 0 || (h[1] & 0x7f) > 125)
        return -1;
    *len = h[1] & 0x7f;
    if (recv_all(fd, payload, *len) != 0)
        return -1;
    return h[0] & 0x0f;
}

static int ws_expect(int fd, int opcode, const char *data, size_t len)
{
    unsigned char got[128];
    size_t n = 0;
    int op = ws_read_frame(fd, got, &n);
    return op == opcode && n == len && memcmp(got, data, len) == 0;
}

/* Reads a Close frame and returns its code (or -1). */
static int ws_expect_close(int fd)
{
    unsigned char got[128];
    size_t n = 0;
    if (ws_read_frame(fd, got, &n) != 8 || n < 2)
        return -1;
    return got[0] << 8 | got[1];
}

static void *client_main(void *arg)
{
    app_t *app = arg;
    char resp[8192], req[512];
    static const unsigned char bin[3] = {0, 1, 2};
    static const unsigned char close_1000[2] = {0x03, 0xe8};
    int fd, fd2;

    /* HTTP: every route, the error hook, 413, the adopted listener. */
    CLIENT_EXPECT(http(app->port,
                       "GET /info/42?a=1 HTTP/1.1\r\nHost: x\r\nX-Test: yes\r\n"
                       "Connection: close\r\n\r\n",
                       resp, sizeof resp) == 201);
    CLIENT_EXPECT(strcmp(body_of(resp), "info") == 0);
    CLIENT_EXPECT(strstr(resp, "X-Filtered: 1") || strstr(resp, "x-filtered: 1"));
    CLIENT_EXPECT(strstr(resp, "x-abi: 1") || strstr(resp, "X-Abi: 1"));
    CLIENT_EXPECT(!strstr(resp, "x-gone") && !strstr(resp, "X-Gone"));

    CLIENT_EXPECT(http(app->port,
                       "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n"
                       "Connection: close\r\n\r\nhello abi",
                       resp, sizeof resp) == 200);
    CLIENT_EXPECT(strcmp(body_of(resp), "hello abi") == 0);

    CLIENT_EXPECT(http(app->port,
                       "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                       "Connection: close\r\n\r\n5\r\nchunk\r\n0\r\n\r\n",
                       resp, sizeof resp) == 200);
    CLIENT_EXPECT(strcmp(body_of(resp), "chunk") == 0);

    /* Over HS_LIMIT_MAX_BODY_BYTES (1024): refused from the declared length. */
    CLIENT_EXPECT(http(app->port,
                       "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n"
                       "Connection: close\r\n\r\n",
                       resp, sizeof resp) == 413);
    CLIENT_EXPECT(strcmp(body_of(resp), "Request body is too large.") == 0);

    CLIENT_EXPECT(http(app->port, "GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                       resp, sizeof resp) == 404);
    CLIENT_EXPECT(strcmp(body_of(resp), "custom 404") == 0);

    /* No Host in HTTP/1.1: 400 BAD_REQUEST through the error hook's default. */
    CLIENT_EXPECT(http(app->port, "GET /packed HTTP/1.1\r\nConnection: close\r\n\r\n", resp,
                       sizeof resp) == 400);

    CLIENT_EXPECT(http(app->port, "GET /raw HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                       resp, sizeof resp) == 202);
    CLIENT_EXPECT(strcmp(body_of(resp), "raw") == 0);

    CLIENT_EXPECT(http(app->port, "GET /timer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                       resp, sizeof resp) == 200);

    snprintf(req, sizeof req, "GET /packed HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    CLIENT_EXPECT(http(app->port, req, resp, sizeof resp) == 200);
    CLIENT_EXPECT(strcmp(body_of(resp), "packed") == 0);
    CLIENT_EXPECT(http(app->adopted_port, req, resp, sizeof resp) == 200);
    CLIENT_EXPECT(strcmp(body_of(resp), "packed") == 0);

    /* hs_route_fast: each reply kind, the slow handler for a body beyond the buffers. */
    CLIENT_EXPECT(http(app->port,
                       "POST /fast/a%20b?mode=ok HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                       "Connection: close\r\n\r\nabc",
                       resp, sizeof resp) == 201);
    CLIENT_EXPECT(strstr(resp, "x-fast: 1\r\n") != NULL && strcmp(body_of(resp), "fast") == 0);
    CLIENT_EXPECT(http(app->port, "GET /fast/a%20b?mode=raw HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                       resp, sizeof resp) == 202);
    CLIENT_EXPECT(strcmp(body_of(resp), "raw") == 0);
    CLIENT_EXPECT(http(app->port, "GET /fast/a%20b?mode=answer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                       resp, sizeof resp) == 404);
    CLIENT_EXPECT(http(app->port, "GET /fast/a%20b?mode=fail HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                       resp, sizeof resp) == 500);
    CLIENT_EXPECT(http(app->port, "GET /fast/a%20b?mode=big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                       resp, sizeof resp) == 200);
    CLIENT_EXPECT(strlen(body_of(resp)) == 200);
    CLIENT_EXPECT(http(app->port, "GET /fast/a%20b?mode=toolong HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                       resp, sizeof resp) == 500);
    CLIENT_EXPECT(http(app->port, "GET /fast/a%20b?mode=status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                       resp, sizeof resp) == 500);
    CLIENT_EXPECT(http(app->port, "GET /fast/a%20b?mode=none HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                       resp, sizeof resp) == 200);
    CLIENT_EXPECT(strcmp(body_of(resp), "Hello world!") == 0);
    {
        char post[400];
        int n = snprintf(post, sizeof post,
                         "POST /fast/a%%20b?mode=ok HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"
                         "Connection: close\r\n\r\n");
        memset(post + n, 'x', 100);
        post[n + 100] = '\0';
        CLIENT_EXPECT(http(app->port, post, resp, sizeof resp) == 200);
        CLIENT_EXPECT(strcmp(body_of(resp), "slow") == 0);
    }

    /* A WebSocket upgrade on a path without an accept route: 404, never half-open. */
    CLIENT_EXPECT(http(app->port,
                       "GET /nows HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                       "Sec-WebSocket-Version: 13\r\n\r\n",
                       resp, sizeof resp) == 404);

    /* WebSocket: echo (text, binary), broadcast, a close the server starts. */
    fd = ws_connect(app->port);
    CLIENT_EXPECT(fd >= 0);
    if (fd >= 0) {
        CLIENT_EXPECT(ws_send_frame(fd, 1, "hello", 5) == 0);
        CLIENT_EXPECT(ws_expect(fd, 1, "hello", 5));
        CLIENT_EXPECT(ws_send_frame(fd, 2, bin, sizeof bin) == 0);
        CLIENT_EXPECT(ws_expect(fd, 2, (const char *)bin, sizeof bin));
        CLIENT_EXPECT(ws_send_frame(fd, 1, "bcast", 5) == 0);
        CLIENT_EXPECT(ws_expect(fd, 1, "all", 3));
        CLIENT_EXPECT(ws_expect(fd, 1, "route", 5));
        CLIENT_EXPECT(ws_send_frame(fd, 1, "close", 5) == 0);
        CLIENT_EXPECT(ws_expect_close(fd) == 4000);
        CLIENT_EXPECT(ws_send_frame(fd, 8, close_1000, 2) == 0);
        close(fd);
    }

    /* A second client stays connected through shutdown: it gets Close 1001. */
    fd2 = ws_connect(app->port);
    CLIENT_EXPECT(fd2 >= 0);
    if (fd2 >= 0) {
        CLIENT_EXPECT(ws_send_frame(fd2, 1, "still here", 10) == 0);
        CLIENT_EXPECT(ws_expect(fd2, 1, "still here", 10));
    }
    CLIENT_EXPECT(wait_repeat_done(app));
    CLIENT_EXPECT(hs_shutdown(app->server) == HS_OK); /* from another thread */
    if (fd2 >= 0) {
        CLIENT_EXPECT(ws_expect_close(fd2) == 1001);
        CLIENT_EXPECT(ws_send_frame(fd2, 8, close_1000, 2) == 0);
        close(fd2);
    }
    app->client_ok = 1;
    return NULL;
}

/* A listening socket on 127.0.0.1, ephemeral port, that the server adopts. */
static int make_listener(int *port)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 16) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &alen) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

static int serve_and_free(void)
{
    static app_t app;
    hs_ws_handlers handlers;
    pthread_t client;
    char group[64];
    int64_t cancelled;
    int lfd, rc;

    memset(&app, 0, sizeof app);
    app.server = hs_new("127.0.0.1", 0);
    EXPECT(app.server != NULL);
    if (app.server == NULL)
        return -1;
    hs_server *s = app.server;

    EXPECT(hs_set_log(s, on_log, &app) == HS_OK);
    EXPECT(hs_set_debug(s, 1) == HS_OK);
    EXPECT(hs_set_limit(s, HS_LIMIT_MAX_BODY_BYTES, 1024) == HS_OK);
    EXPECT(hs_set_limit(s, HS_LIMIT_SHUTDOWN_GRACE_MS, 5000) == HS_OK);
    EXPECT(hs_set_timeout(s, 30, 0) == HS_OK);
    EXPECT(hs_set_rate_limit(s, 1000, 60) == HS_OK);
    EXPECT(hs_set_connection_required(s, 0) == HS_OK);
    EXPECT(hs_set_header(s, "X-Abi", "1") == HS_OK);
    EXPECT(hs_set_header(s, "X-Gone", "x") == HS_OK);
    EXPECT(hs_set_header(s, "X-Gone", NULL) == HS_OK);

    app.info_route = hs_route(s, "GET", "/info/{id}", on_info, &app);
    EXPECT(app.info_route >= 0);
    EXPECT(hs_route(s, "POST", "/echo", on_echo, &app) >= 0);
    EXPECT(hs_route(s, "GET", "/raw", on_raw, &app) >= 0);
    EXPECT(hs_route(s, "GET", "/timer", on_timer_route, &app) >= 0);
    EXPECT(hs_route_packed(s, "GET", "/packed", on_packed, &app) >= 0);
    fast_route = hs_route_fast(s, "GET|POST", "/fast/{word}", &fast_buffers, on_fast, on_fast_slow, &app);
    EXPECT(fast_route >= 0);
    EXPECT(hs_on_error(s, on_error, &app) == HS_OK);
    EXPECT(hs_on_response(s, on_response, &app) == HS_OK);

    EXPECT(hs_websocket(s, 1) == HS_OK);
    handlers.on_open = on_ws_open;
    handlers.on_message = on_ws_message;
    handlers.on_close = on_ws_close;
    app.ws_route = hs_accept(s, "/ws", &handlers, &app);
    EXPECT(app.ws_route >= 0);

    app.repeat_id = hs_add_timer(s, 5, 1, on_repeat, &app);
    EXPECT(app.repeat_id > 0);
    EXPECT(hs_add_timer(s, 1, 0, on_once, &app) > 0);
    cancelled = hs_add_timer(s, 1, 1, never_timer, NULL);
    EXPECT(cancelled > 0 && hs_cancel_timer(s, cancelled) == HS_OK);
    EXPECT_ERR(hs_cancel_timer(s, cancelled), HS_ERR_NOT_FOUND, "timer");

    snprintf(group, sizeof group, "abi-alloc-%ld", (long)getpid());
    EXPECT(hs_cluster_join(s, group, 0, 1) == HS_OK);

    lfd = make_listener(&app.adopted_port);
    EXPECT(lfd >= 0);
    EXPECT(hs_adopt_listener(s, lfd) == HS_OK);
    close(lfd); /* the server keeps its duplicate */

    EXPECT(hs_start(s) == HS_OK);
    app.port = hs_port(s);
    EXPECT(app.port > 0);
    EXPECT(hs_port_in_use("127.0.0.1", app.port) == 1);

    EXPECT(pthread_create(&client, NULL, client_main, &app) == 0);
    rc = hs_run(s);
    EXPECT(rc == HS_OK);
    pthread_join(client, NULL);

    EXPECT(app.client_ok == 1);
    EXPECT(client_failures == 0);
    EXPECT(app.bad == 0);
    EXPECT(app.handled == 16); /* info, echo x2, raw, timer, packed x2, fast x8, slow */
    EXPECT(app.error_hook >= 3); /* 404, 413, 400 (and the WebSocket 404) */
    EXPECT(app.filtered >= 10);
    EXPECT(app.repeat_fired == 3);
    EXPECT(app.once_fired == 1);
    EXPECT(app.ws_open == 2);
    EXPECT(app.ws_messages == 5);
    EXPECT(app.ws_closed == 2 && app.last_close_code == 1001);
    EXPECT(app.log_lines > 10);
    EXPECT(hs_run(s) == HS_OK); /* stopped: returns at once */

    hs_free(s);
    expect_dead(s);
    printf("abi_alloc: served %d HTTP requests (+%d error answers), %d WebSocket messages, "
           "%d WebSocket clients\n",
           app.handled, app.error_hook, app.ws_messages, app.ws_open);
    return app.handled + app.error_hook;
}

/* ---- 5. worker threads and hs_poll slices ------------------------------------------------------- */

typedef struct {
    hs_server *server;
    int port;
    int ok;
    int threads_refused; /* hs_set_threads while the loop runs */
} poll_app;

static void on_t(void *ud, const hs_request *req, hs_response *res)
{
    (void)ud;
    (void)req;
    hs_respond(res, 200, NULL, 0, "t", 1);
}

static void *poll_client(void *arg)
{
    poll_app *p = arg;
    char resp[2048];
    int i, ok = 0;
    for (i = 0; i < 4; i++) {
        if (i == 1) /* the loop runs (it answered): too late for threads */
            p->threads_refused = hs_set_threads(p->server, 3);
        if (http(p->port, "GET /t HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", resp,
                 sizeof resp) == 200 &&
            strcmp(body_of(resp), "t") == 0)
            ok++;
    }
    p->ok = ok;
    hs_shutdown(p->server);
    return NULL;
}

static int threads_and_poll(void)
{
    poll_app p;
    pthread_t client;
    int rc, slices = 0;

    memset(&p, 0, sizeof p);
    p.server = hs_new("127.0.0.1", 0);
    EXPECT(p.server != NULL);
    if (p.server == NULL)
        return 0;
    EXPECT(hs_set_threads(p.server, 2) == HS_OK);
    EXPECT(hs_route(p.server, "GET", "/t", on_t, NULL) >= 0);
    EXPECT(hs_start(p.server) == HS_OK);
    p.port = hs_port(p.server);
    EXPECT(pthread_create(&client, NULL, poll_client, &p) == 0);
    /* Bounded: 5 ms slices, at most 24000 of them (2 minutes, Valgrind included). */
    while ((rc = hs_poll(p.server, 5)) == 1 && slices < 24000)
        slices++;
    EXPECT(rc == 0);
    pthread_join(client, NULL);
    EXPECT(p.ok == 4);
    EXPECT(p.threads_refused == HS_ERR_STATE);
    hs_free(p.server);
    printf("abi_alloc: 2 worker threads served %d requests in %d poll slices\n", p.ok, slices);
    return p.ok;
}

/* With ABI_ALLOC_DEBUG set: the descriptor count after each part. */
#define PHASE(name)                                                                            \
    do {                                                                                       \
        if (getenv("ABI_ALLOC_DEBUG") != NULL)                                                 \
            fprintf(stderr, "abi_alloc: after %s: %d descriptors\n", name, count_fds(0));      \
    } while (0)

/* ---- 6. hs_free with clients still connected (no shutdown) --------------------------------------- */

/* "Open connections are dropped without their close callbacks": a WebSocket client and a
 * keep-alive HTTP connection are open when the server is freed between two hs_poll slices. */
typedef struct {
    hs_server *server;
    int port;
    int ready;             /* the client's connections are open and were served */
    int freed;             /* main has called hs_free */
    int ws_eof, http_eof;  /* the client saw its connections end after the free */
    int closes;            /* close callbacks (none expected) */
} drop_app;

static void drop_on_message(void *ud, uint64_t id, const uint8_t *data, size_t len, int bin)
{
    drop_app *d = ud;
    hs_ws_send(d->server, id, (const char *)data, len, bin);
}

static void drop_on_close(void *ud, uint64_t id, int code, const char *reason)
{
    drop_app *d = ud;
    (void)id;
    (void)code;
    (void)reason;
    d->closes++;
}

/* Flags shared by two threads (C99 has no atomics: a mutex). */
static pthread_mutex_t flag_lock = PTHREAD_MUTEX_INITIALIZER;

static void flag_set(int *flag)
{
    pthread_mutex_lock(&flag_lock);
    *flag = 1;
    pthread_mutex_unlock(&flag_lock);
}

static int flag_get(int *flag)
{
    int v;
    pthread_mutex_lock(&flag_lock);
    v = *flag;
    pthread_mutex_unlock(&flag_lock);
    return v;
}

/* Waits (bounded) for the peer to end the connection: 1 on EOF or reset. */
static int sees_end(int fd)
{
    char buf[256];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n == 0 || (n < 0 && errno == ECONNRESET))
            return 1;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return 0; /* timeout (SO_RCVTIMEO) */
    }
}

static void *drop_client(void *arg)
{
    drop_app *d = arg;
    static const char req[] = "GET /k HTTP/1.1\r\nHost: x\r\n\r\n";
    char resp[512];
    int ws = ws_connect(d->port), http_fd = dial(d->port);
    ssize_t n = -1;
    CLIENT_EXPECT(ws >= 0 && http_fd >= 0);
    if (ws >= 0) {
        CLIENT_EXPECT(ws_send_frame(ws, 1, "kept", 4) == 0);
        CLIENT_EXPECT(ws_expect(ws, 1, "kept", 4));
    }
    if (http_fd >= 0 && send_all(http_fd, req, sizeof req - 1) == 0)
        n = recv(http_fd, resp, sizeof resp - 1, 0); /* keep-alive: the connection stays */
    CLIENT_EXPECT(n > 12 && strncmp(resp, "HTTP/1.1 200", 12) == 0);
    flag_set(&d->ready);
    while (!flag_get(&d->freed)) { /* main polls, then frees (bounded: main gives up too) */
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    if (ws >= 0) {
        d->ws_eof = sees_end(ws);
        close(ws);
    }
    if (http_fd >= 0) {
        d->http_eof = sees_end(http_fd);
        close(http_fd);
    }
    return NULL;
}

static void free_while_connected(void)
{
    static drop_app d;
    hs_ws_handlers handlers = {NULL, drop_on_message, drop_on_close};
    pthread_t client;
    int slices = 0, rc = 1;

    memset(&d, 0, sizeof d);
    d.server = hs_new("127.0.0.1", 0);
    EXPECT(d.server != NULL);
    if (d.server == NULL)
        return;
    EXPECT(hs_websocket(d.server, 1) == HS_OK);
    EXPECT(hs_accept(d.server, "/ws", &handlers, &d) >= 0);
    EXPECT(hs_route(d.server, "GET", "/k", on_t, NULL) >= 0);
    EXPECT(hs_start(d.server) == HS_OK);
    d.port = hs_port(d.server);
    EXPECT(pthread_create(&client, NULL, drop_client, &d) == 0);
    while (!flag_get(&d.ready) && slices < 24000 && (rc = hs_poll(d.server, 5)) == 1)
        slices++;
    EXPECT(flag_get(&d.ready) && rc == 1);
    EXPECT(hs_ws_count(d.server, -1) == 1);
    hs_free(d.server); /* no hs_shutdown: connections dropped */
    flag_set(&d.freed);
    pthread_join(client, NULL);
    EXPECT(d.ws_eof == 1 && d.http_eof == 1);
    EXPECT(d.closes == 0);
    expect_dead(d.server);
}

/* The first event loop of a process makes tokio set up its process-wide signal registry, which
 * keeps a Unix socket pair open for the life of the process (whether or not signals are
 * handled). Built once here so that the descriptor baseline is taken after it. */
static int warm_up(void)
{
    int before = count_fds(0), after;
    hs_server *s = hs_new("127.0.0.1", 0);
    EXPECT(s != NULL);
    if (s == NULL)
        return before;
    EXPECT(hs_shutdown(s) == HS_OK);
    EXPECT(hs_run(s) == HS_OK);
    hs_free(s);
    after = count_fds(0);
    EXPECT(after - before >= 0 && after - before <= 2);
    return after;
}

int main(void)
{
    int fds_before, fds_after;

    alarm(300); /* bounded even if the server never stops: SIGALRM ends the process */
    fds_before = warm_up();
    errors_without_server();
    last_error_is_per_thread();
    PHASE("errors without a server");
    churn();
    PHASE("churn");
    bad_arguments();
    PHASE("bad arguments");
    serve_and_free();
    PHASE("serve and free");
    threads_and_poll();
    PHASE("threads and poll");
    free_while_connected();
    PHASE("free while connected");

    fds_after = count_fds(0);
    if (fds_after != fds_before) {
        fprintf(stderr, "abi_alloc: %d descriptors open at start, %d at the end:\n", fds_before,
                fds_after);
        count_fds(1);
    }
    EXPECT(fds_after == fds_before);

    printf("abi_alloc: %d checks, %d failed\n", checks, failed);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
