/*
 * deflate_echo.c - the echo server of the permessage-deflate suite: c-examples/ws_echo's
 * behaviour (every message on /ws comes back in its frame type) with the deflate settings and
 * the message limit taken from the environment, so that one binary serves every case:
 *
 *   HS_WS_DEFLATE=0             compression off (on by default)
 *   HS_WS_DEFLATE_MIN=N         messages shorter than N bytes go out uncompressed (default 256)
 *   HS_WS_DEFLATE_TAKEOVER=1    keep a zlib stream per connection when the client allows it
 *   HS_WS_DEFLATE_BITS=N        largest window the server compresses with (8-15, default 15)
 *   HS_WS_MAX_MESSAGE=N         the message limit in bytes (HS_LIMIT_WS_MAX_MESSAGE)
 *
 * A text message that starts with "broadcast:" goes to every client instead (one payload, many
 * clients: the path where the compressed bytes are shared).
 *
 * Usage: deflate_echo [PORT]   (0, the default: any free port). Prints
 * `listening on http://127.0.0.1:PORT` once bound; SIGTERM/SIGINT stop it gracefully.
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
    if (!is_binary && len >= 10 && memcmp(data, "broadcast:", 10) == 0)
        hs_ws_broadcast(server, (const char *)data, len, 0, 0);
    else
        hs_ws_send(server, conn_id, (const char *)data, len, is_binary);
}

static void must(int rc, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "deflate_echo: %s: %s\n", what, hs_last_error());
        exit(1);
    }
}

static long long env(const char *name, long long fallback)
{
    const char *v = getenv(name);
    return v && *v ? strtoll(v, NULL, 10) : fallback;
}

int main(int argc, char **argv)
{
    hs_ws_handlers handlers = {0};
    long long max_message = env("HS_WS_MAX_MESSAGE", 0);
    int rc;

    server = hs_new("127.0.0.1", argc > 1 ? atoi(argv[1]) : 0);
    if (server == NULL) {
        fprintf(stderr, "deflate_echo: hs_new: %s\n", hs_last_error());
        return 1;
    }
    if (max_message > 0)
        must(hs_set_limit(server, HS_LIMIT_WS_MAX_MESSAGE, (uint64_t)max_message), "hs_set_limit");
    must(hs_set_ws_deflate(server, (int)env("HS_WS_DEFLATE", 1),
                           (size_t)env("HS_WS_DEFLATE_MIN", 256),
                           (int)env("HS_WS_DEFLATE_TAKEOVER", 0),
                           (int)env("HS_WS_DEFLATE_BITS", 15)),
         "hs_set_ws_deflate");
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
