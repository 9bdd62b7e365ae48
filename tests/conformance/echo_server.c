/*
 * echo_server.c - a C echo server for the conformance suite's cases that need other limits than
 * c-examples/ws_echo's defaults (a small message limit, a short ping interval). Same behaviour as
 * ws_echo: every message on /ws comes back in its frame type.
 *
 * Usage: echo_server PORT MAX_MESSAGE PING_INTERVAL_MS PING_TIMEOUT_MS   (0 = keep the default)
 * Prints `listening on http://127.0.0.1:PORT` once bound; SIGTERM/SIGINT stop it gracefully.
 */
#include <httpsock.h>

#include <stdio.h>
#include <stdlib.h>

static hs_server *server;

static void on_message(void *user_data, uint64_t conn_id, const uint8_t *data, size_t len,
                       int is_binary)
{
    (void)user_data;
    hs_ws_send(server, conn_id, (const char *)data, len, is_binary);
}

static void must(int rc, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "echo_server: %s: %s\n", what, hs_last_error());
        exit(1);
    }
}

int main(int argc, char **argv)
{
    static const int limits[] = {HS_LIMIT_WS_MAX_MESSAGE, HS_LIMIT_WS_PING_INTERVAL_MS,
                                 HS_LIMIT_WS_PING_TIMEOUT_MS};
    hs_ws_handlers handlers = {0};
    int i, rc;

    server = hs_new("127.0.0.1", argc > 1 ? atoi(argv[1]) : 0);
    if (server == NULL) {
        fprintf(stderr, "echo_server: hs_new: %s\n", hs_last_error());
        return 1;
    }
    for (i = 0; i < 3 && i + 2 < argc; i++) {
        unsigned long long v = strtoull(argv[i + 2], NULL, 10);
        if (v > 0)
            must(hs_set_limit(server, limits[i], v), "hs_set_limit");
    }
    must(hs_websocket(server, 1), "hs_websocket");
    handlers.on_message = on_message;
    must(hs_accept(server, "/ws", &handlers, NULL), "hs_accept");
    must(hs_handle_signals(server, 1), "hs_handle_signals");
    must(hs_start(server), "hs_start");
    printf("listening on http://127.0.0.1:%d\n", hs_port(server));
    fflush(stdout);
    rc = hs_run(server);
    hs_free(server);
    return rc < 0 ? 1 : 0;
}
