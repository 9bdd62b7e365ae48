/*
 * rooms_host.c - the C host of the rooms benchmarks (bench/rooms.py): channels, presence and the
 * Redis backplane without a PHP handler in the way.
 *
 *   WS /ws    the authorizer names each client user "u<n>" (n counts upgrades; with HS_NODE set,
 *             "u<node>-<n>") and joins it to channel "bench"; /lat joins channel "lat" instead.
 *             A text message starting with "broadcast" goes to every member of "bench" (the
 *             sender included): one hs_ws_publish() call, or with HS_BENCH_SEND=loop one
 *             hs_ws_send() per client of this process (the baseline the target compares with).
 *             A text message starting with "lat" is published to "lat", the sender left out.
 *   GET /presence/join    joins every client of this process to "presence-bench" (hs_ws_join)
 *   GET /presence/leave   takes them out again (hs_ws_leave)
 *   GET /stats            {"pjoin":N,"pleave":N,"first_ms":T,"last_ms":T,"members":N}: the
 *                         presence events this node saw, the wall-clock ms of the first and
 *                         last of them, and how many members "bench" has (on every node)
 *   GET /reset            zeroes those counters
 *
 * Environment: HS_REDIS (URL: join the other nodes), HS_PREFIX, HS_NODE, HS_TTL_MS,
 * HS_BENCH_SEND (publish | loop). Usage: rooms_host [PORT] (0 = any free port); prints
 * "listening on http://127.0.0.1:PORT". Built by bench/run.sh.
 */
#define _POSIX_C_SOURCE 200809L
#include <httpsock.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static hs_server *server;
static int send_loop;
static unsigned long upgrades;
static const char *node;
static unsigned long pjoin, pleave;
static double first_ms, last_ms;
static uint64_t *ids;
static size_t ids_cap;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int authorize(void *ud, const hs_request *req, hs_admission *adm, hs_response *res)
{
    (void)ud;
    (void)res;
    char user[96];
    upgrades++;
    if (node)
        snprintf(user, sizeof user, "u%s-%lu", node, upgrades);
    else
        snprintf(user, sizeof user, "u%lu", upgrades);
    size_t plen;
    const char *path = hs_request_path(req, &plen);
    int lat = plen == 4 && memcmp(path, "/lat", 4) == 0;
    if (hs_admission_user(adm, user, (const uint8_t *)"{}", 2) < 0 ||
        hs_admission_join(adm, lat ? "lat" : "bench") < 0)
        return -1;
    return 1;
}

/* The clients (hs_ws_clients lists every worker's and node's: the benchmark calls the loops
   below only where every client is this process's). */
static int local_clients(void)
{
    int n = hs_ws_clients(server, -1, NULL, 0);
    if (n < 0)
        return n;
    if ((size_t)n > ids_cap) {
        ids_cap = (size_t)n * 2;
        ids = realloc(ids, ids_cap * sizeof *ids);
    }
    return hs_ws_clients(server, -1, ids, ids_cap);
}

static void on_message(void *ud, uint64_t conn_id, const uint8_t *data, size_t len, int is_binary)
{
    (void)ud;
    if (is_binary)
        return;
    if (len >= 9 && memcmp(data, "broadcast", 9) == 0) {
        if (send_loop) {
            int n = local_clients();
            for (int i = 0; i < n && (size_t)i < ids_cap; i++)
                hs_ws_send(server, ids[i], (const char *)data, len, 0);
        } else {
            hs_ws_publish(server, "bench", (const char *)data, len, 0, 0);
        }
    } else if (len >= 3 && memcmp(data, "lat", 3) == 0) {
        hs_ws_publish(server, "lat", (const char *)data, len, 0, conn_id);
    }
}

static void on_presence(void *ud, const char *channel, int event, const char *user,
                        const uint8_t *info, size_t info_len)
{
    (void)ud, (void)channel, (void)user, (void)info, (void)info_len;
    double t = now_ms();
    if (pjoin + pleave == 0)
        first_ms = t;
    last_ms = t;
    if (event)
        pjoin++;
    else
        pleave++;
}

static void presence(void *ud, const hs_request *req, hs_response *res)
{
    (void)req;
    int join = ud != NULL;
    int n = local_clients();
    int done = 0;
    for (int i = 0; i < n && (size_t)i < ids_cap; i++)
        if ((join ? hs_ws_join(server, ids[i], "presence-bench")
                  : hs_ws_leave(server, ids[i], "presence-bench")) == 0)
            done++;
    char body[64];
    int len = snprintf(body, sizeof body, "{\"done\":%d}", done);
    hs_respond(res, 200, "Content-Type: application/json", 30, body, (size_t)len);
}

static void stats(void *ud, const hs_request *req, hs_response *res)
{
    (void)ud, (void)req;
    char body[200];
    int members = hs_ws_channel_members(server, "bench", NULL, 0);
    int len = snprintf(body, sizeof body,
                       "{\"pjoin\":%lu,\"pleave\":%lu,\"first_ms\":%.3f,\"last_ms\":%.3f,"
                       "\"members\":%d}",
                       pjoin, pleave, first_ms, last_ms, members);
    hs_respond(res, 200, "Content-Type: application/json", 30, body, (size_t)len);
}

static void reset(void *ud, const hs_request *req, hs_response *res)
{
    (void)ud, (void)req;
    pjoin = pleave = 0;
    first_ms = last_ms = 0;
    hs_respond(res, 200, "Content-Type: application/json", 30, "{}", 2);
}

static void must(int rc, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "rooms_host: %s: %s\n", what, hs_last_error());
        exit(1);
    }
}

int main(int argc, char **argv)
{
    static int join_flag = 1;
    hs_ws_handlers handlers = {NULL, on_message, NULL};
    hs_room_events events = {NULL, NULL, on_presence};
    const char *mode = getenv("HS_BENCH_SEND");
    send_loop = mode && strcmp(mode, "loop") == 0;
    node = getenv("HS_NODE");
    server = hs_new("127.0.0.1", argc > 1 ? atoi(argv[1]) : 0);
    if (server == NULL) {
        fprintf(stderr, "rooms_host: hs_new: %s\n", hs_last_error());
        return 1;
    }
    must(hs_websocket(server, 1), "hs_websocket");
    must(hs_accept(server, "/ws", &handlers, NULL), "hs_accept /ws");
    must(hs_accept(server, "/lat", &handlers, NULL), "hs_accept /lat");
    must(hs_ws_authorize(server, authorize, NULL), "hs_ws_authorize");
    must(hs_ws_room_events(server, &events, NULL), "hs_ws_room_events");
    must(hs_route(server, "GET", "/presence/join", presence, &join_flag), "route");
    must(hs_route(server, "GET", "/presence/leave", presence, NULL), "route");
    must(hs_route(server, "GET", "/stats", stats, NULL), "route");
    must(hs_route(server, "GET", "/reset", reset, NULL), "route");
    const char *redis = getenv("HS_REDIS");
    if (redis && *redis) {
        const char *ttl = getenv("HS_TTL_MS");
        must(hs_redis(server, redis, getenv("HS_PREFIX"), node, ttl ? atoi(ttl) : 0), "hs_redis");
    }
    must(hs_handle_signals(server, 1), "hs_handle_signals");
    must(hs_start(server), "hs_start");
    printf("listening on http://127.0.0.1:%d\n", hs_port(server));
    fflush(stdout);
    must(hs_run(server), "hs_run");
    hs_free(server);
    free(ids);
    return 0;
}
