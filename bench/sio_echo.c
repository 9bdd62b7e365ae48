/*
 * sio_echo.c - the C host of the Socket.IO benchmarks (bench/socketio.py): the echo of
 * bench/socketio/node_server.js through the C ABI, no PHP in the path (the reference row beside
 * bench/sio_echo.php). Namespace "/": event "echo" with an ack -> hs_sio_ack() with the same
 * arguments (and attachments); without an ack the event goes back to the sender
 * (hs_sio_emit_to()). Other events are dropped.
 *
 * Usage: sio_echo [PORT]   (0 = any free port); prints "listening on http://127.0.0.1:PORT".
 * Built by bench/run.sh: cc -O2 bench/sio_echo.c -Iinclude -Ltarget/release -lhttpsock.
 */
#include <httpsock.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static hs_server *server;

static void on_event(void *user_data, uint64_t socket_id, const uint8_t *event, size_t event_len,
                     const uint8_t *args, size_t args_len, const hs_bytes *attachments,
                     size_t n_attachments, int64_t ack_id)
{
    (void)user_data;
    if (event_len != 4 || memcmp(event, "echo", 4) != 0)
        return;
    if (ack_id >= 0)
        hs_sio_ack(server, socket_id, ack_id, args, args_len, attachments, n_attachments);
    else
        hs_sio_emit_to(server, socket_id, "echo", args, args_len, attachments, n_attachments, 0,
                       NULL);
}

static void must(int rc, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "sio_echo: %s: %s\n", what, hs_last_error());
        exit(1);
    }
}

int main(int argc, char **argv)
{
    hs_sio_handlers handlers;
    memset(&handlers, 0, sizeof handlers);
    handlers.on_event = on_event;
    server = hs_new("127.0.0.1", argc > 1 ? atoi(argv[1]) : 0);
    if (server == NULL) {
        fprintf(stderr, "sio_echo: hs_new: %s\n", hs_last_error());
        return 1;
    }
    must(hs_websocket(server, 1), "hs_websocket");
    must(hs_sio_enable(server, NULL), "hs_sio_enable");
    must(hs_sio_namespace(server, "/", &handlers, NULL), "hs_sio_namespace");
    must(hs_handle_signals(server, 1), "hs_handle_signals");
    must(hs_start(server), "hs_start");
    printf("listening on http://127.0.0.1:%d\n", hs_port(server));
    fflush(stdout);
    must(hs_run(server), "hs_run");
    hs_free(server);
    return 0;
}
