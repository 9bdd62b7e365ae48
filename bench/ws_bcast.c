/*
 * ws_bcast.c - the C host of the WebSocket benchmarks (idle RSS, broadcast): c-examples/ws_echo
 * without its logging, plus the broadcast trigger. Every message on /ws comes back to its sender,
 * except a text message starting with "broadcast", which goes to every client (the sender
 * included) with one hs_ws_broadcast() call.
 *
 * Usage: ws_bcast [PORT]   (0 = any free port); prints "listening on http://127.0.0.1:PORT".
 * Built by bench/run.sh: cc -O2 bench/ws_bcast.c -Iinclude -Ltarget/release -lhttpsock.
 */
#include <httpsock.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static hs_server *server;

static void on_message(void *user_data, uint64_t conn_id, const uint8_t *data, size_t len,
                       int is_binary)
{
    (void)user_data;
    if (!is_binary && len >= 9 && memcmp(data, "broadcast", 9) == 0)
        hs_ws_broadcast(server, (const char *)data, len, 0, 0);
    else
        hs_ws_send(server, conn_id, (const char *)data, len, is_binary);
}

static void must(int rc, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "ws_bcast: %s: %s\n", what, hs_last_error());
        exit(1);
    }
}

int main(int argc, char **argv)
{
    hs_ws_handlers handlers = {NULL, on_message, NULL};
    server = hs_new("127.0.0.1", argc > 1 ? atoi(argv[1]) : 0);
    if (server == NULL) {
        fprintf(stderr, "ws_bcast: hs_new: %s\n", hs_last_error());
        return 1;
    }
    must(hs_websocket(server, 1), "hs_websocket");
    must(hs_accept(server, "/ws", &handlers, NULL), "hs_accept");
    must(hs_handle_signals(server, 1), "hs_handle_signals");
    must(hs_start(server), "hs_start");
    printf("listening on http://127.0.0.1:%d\n", hs_port(server));
    fflush(stdout);
    must(hs_run(server), "hs_run");
    hs_free(server);
    return 0;
}
