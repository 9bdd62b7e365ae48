/*
 * ws_echo.c - a WebSocket echo server with httpsock.
 *
 * Every message a client sends on /ws (or any path below it, /ws/room/1 ...) comes back to it
 * unchanged and in the same frame type: text as text, binary as binary. Clients opening and
 * closing are logged to stderr. Plain HTTP requests get the engine's 404.
 *
 * Usage: ws_echo [PORT [ADDRESS]]    PORT 8080 by default (0 = any free port),
 *                                    ADDRESS 127.0.0.1 by default.
 *
 * Try it:  python3 -m websockets ws://127.0.0.1:8080/ws
 *
 * TLS (HS_TLS_CERT=cert.pem HS_TLS_KEY=key.pem: wss://), HTTP/2 (a client may open its
 * WebSocket as an extended CONNECT stream, RFC 8441), permessage-deflate and limits come from
 * the environment: see env_tls.h. SIGHUP reloads the certificates. The open line in the log
 * names the protocol the upgrade came over (HTTP/1.1 or HTTP/2.0).
 *
 * SIGINT/SIGTERM shut the server down gracefully: connected clients receive a Close frame with
 * code 1001 (going away), then the program exits 0.
 */
#define _POSIX_C_SOURCE 200809L /* sigaction() in env_tls.h */

#include <httpsock.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "env_tls.h"

/* The engine hands every callback the user_data given to hs_accept(): here, the server, which
 * the message callback needs to answer. */
typedef struct {
    hs_server *server;
} echo_app;

/* A failure while setting up ends the program with the library's explanation. */
static int must(int rc, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "ws_echo: %s failed: %s: %s\n", what, hs_status_str(rc), hs_last_error());
        exit(EXIT_FAILURE);
    }
    return rc;
}

/* A client finished the upgrade. `req` is the upgrade request, valid during this call only. */
static void on_open(void *user_data, uint64_t conn_id, const hs_request *req)
{
    echo_app *app = user_data;
    const char *path = hs_request_path(req, NULL);
    const char *ip = hs_request_peer_ip(req, NULL);
    int port = hs_request_peer_port(req);
    fprintf(stderr, "ws_echo: open  #%" PRIu64 " %s from %s:%d over %s (%d connected)\n",
            conn_id, path ? path : "?", ip ? ip : "?", port, hs_request_version(req),
            hs_ws_count(app->server, -1));
}

/* A whole message arrived: `data` (not NUL-terminated, valid during this call only) is copied
 * by hs_ws_send(), which queues it and returns at once. */
static void on_message(void *user_data, uint64_t conn_id, const uint8_t *data, size_t len,
                       int is_binary)
{
    echo_app *app = user_data;
    int rc = hs_ws_send(app->server, conn_id, (const char *)data, len, is_binary);
    if (rc < 0) /* HS_ERR_NOT_FOUND: it left meanwhile; HS_ERR_FULL: it does not read */
        fprintf(stderr, "ws_echo: hs_ws_send to #%" PRIu64 " failed: %s: %s\n", conn_id,
                hs_status_str(rc), hs_last_error());
}

/* The client is gone: `code` is the close code (1000 normal, 1001 going away/shutdown,
 * 1005 no code given, 1006 connection dropped, ...). */
static void on_close(void *user_data, uint64_t conn_id, int code, const char *reason)
{
    echo_app *app = user_data;
    fprintf(stderr, "ws_echo: close #%" PRIu64 " code %d%s%s (%d connected)\n", conn_id, code,
            reason && *reason ? ", " : "", reason ? reason : "", hs_ws_count(app->server, -1));
}

static int parse_port(const char *s)
{
    char *end;
    long port = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || port < 0 || port > 65535) {
        fprintf(stderr, "usage: ws_echo [PORT [ADDRESS]]  (PORT 0-65535, got '%s')\n", s);
        exit(2);
    }
    return (int)port;
}

int main(int argc, char **argv)
{
    int port = argc > 1 ? parse_port(argv[1]) : 8080;
    const char *address = argc > 2 ? argv[2] : "127.0.0.1";
    hs_ws_handlers handlers;
    env_settings env;
    echo_app app;
    int rc;

    app.server = hs_new(address, port);
    if (app.server == NULL) {
        fprintf(stderr, "ws_echo: hs_new failed: %s\n", hs_last_error());
        return EXIT_FAILURE;
    }

    /* WebSocket support is off by default; then one accept route: /ws and anything below it.
     * The handlers struct is copied by hs_accept(); `app` must outlive the server. */
    must(hs_websocket(app.server, 1), "hs_websocket");
    handlers.on_open = on_open;
    handlers.on_message = on_message;
    handlers.on_close = on_close;
    must(hs_accept(app.server, "/ws(?:/.*)?", &handlers, &app), "hs_accept");

    /* Limits, certificates (wss), HTTP/2, compression: from the environment (env_tls.h). */
    env_configure(&env, app.server, "ws_echo");

    must(hs_handle_signals(app.server, 1), "hs_handle_signals");
    must(hs_start(app.server), "hs_start");
    env_print_listening(&env, address);

    rc = hs_run(app.server);
    if (rc < 0)
        fprintf(stderr, "ws_echo: hs_run failed: %s: %s\n", hs_status_str(rc), hs_last_error());
    hs_free(app.server);
    return rc < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
