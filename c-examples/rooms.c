/*
 * rooms.c - chat rooms with httpsock, where who may come in is decided before the WebSocket
 * opens: an authorizer checks a token, names the user and picks the channel to join; a refused
 * client gets an HTTP answer (401 and a reason), never an open socket that closes at once.
 *
 *   GET /              a short text saying how to connect
 *   WS  /rooms/{room}  a room
 *
 * The authorizer (hs_ws_authorize) reads `token` from the upgrade's query string:
 *   /rooms/red?token=alice   accepted as user "alice" (info {"name":"alice"}), who joins the
 *                            channel "red" (the {room} capture) as the socket opens
 *   /rooms/red               accepted anonymously (no user, no channel)
 *   /rooms/red?token=bad     refused: 401 "bad token" with WWW-Authenticate: Bearer
 *   /rooms/red?token=fail    stands for a broken token service: the authorizer returns -1 and
 *                            the client gets 500 (the server goes on)
 * A token the engine will not take as a user id (over 256 bytes) or a room name it will not
 * take as a channel is refused with 400 and the engine's reason.
 *
 * Messages: a client in a room publishes each message to the room's channel (hs_ws_publish):
 * every member receives it, the sender too, on whichever worker or node it is connected. An
 * anonymous client (no channel) gets its messages echoed.
 *
 *   GET /members?channel=red        the channel's members everywhere: a JSON list of ids
 *   GET /presence?channel=presence-x  the users of a presence channel: a JSON list of user ids
 *
 * Join, leave and presence events are printed on stderr ("rooms: join #ID red", "rooms:
 * presence join alice presence-x").
 *
 * Usage: rooms [PORT [ADDRESS]]    PORT 8080 by default (0 = any free port),
 *                                  ADDRESS 127.0.0.1 by default.
 *
 * Environment (besides env_tls.h's TLS, HTTP/2, limits and compression):
 *   HS_WS_ORIGINS=a,b,...   origins a browser page may connect from (hs_ws_set_origins):
 *                           `https://app.example.com,http://localhost:8080`, or `*`; unset: no
 *                           check. Another origin gets 403; a client without Origin is let in.
 *   HS_WS_ROUTE_LIMIT=N     at most N clients on /rooms/{room} at once (hs_ws_route_limit);
 *                           more get 503 with Retry-After. Unset or 0: no limit.
 *   HS_REDIS=redis://127.0.0.1:6379   join the nodes' backplane (hs_redis): clients, channels
 *                           and presence shared with every node using the same Redis and prefix
 *   HS_REDIS_PREFIX, HS_NODE, HS_REDIS_TTL_MS   its prefix, this node's name, its TTL
 *   HS_DEBUG=1              the engine's debug log on stderr (says whom it admitted, with the
 *                           user and channels, and why it refused)
 *
 * SIGINT/SIGTERM shut the server down gracefully (clients receive Close 1001), exit status 0.
 */
#define _POSIX_C_SOURCE 200809L /* sigaction() in env_tls.h */

#include <httpsock.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "env_tls.h"

/* What the callbacks share, handed to them as user_data; lives in main(), outlives the server. */
typedef struct {
    hs_server *server;
    int route; /* the /rooms/{room} accept route */
} rooms_app;

static int must(int rc, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "rooms: %s failed: %s: %s\n", what, hs_status_str(rc), hs_last_error());
        exit(EXIT_FAILURE);
    }
    return rc;
}

static void warn(int rc, const char *what)
{
    if (rc < 0)
        fprintf(stderr, "rooms: %s failed: %s: %s\n", what, hs_status_str(rc), hs_last_error());
}

/* ---- the query string ------------------------------------------------------------------------ */

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The value of `name` in the raw query `q` ("a=1&token=x%20y"), percent-decoded ('+' is a
 * space) into `out` (NUL-terminated). Returns its length, or -1 when the parameter is absent,
 * longer than `cap - 1` bytes or holds a NUL. */
static long query_param(const char *q, const char *name, char *out, size_t cap)
{
    size_t name_len = strlen(name);
    while (*q != '\0') {
        const char *end = strchr(q, '&');
        size_t len = end != NULL ? (size_t)(end - q) : strlen(q);
        if (len > name_len && strncmp(q, name, name_len) == 0 && q[name_len] == '=') {
            size_t i, o = 0;
            for (i = name_len + 1; i < len; i++) {
                char c = q[i];
                if (c == '%' && i + 2 < len && hex_value(q[i + 1]) >= 0 &&
                    hex_value(q[i + 2]) >= 0) {
                    c = (char)(hex_value(q[i + 1]) * 16 + hex_value(q[i + 2]));
                    i += 2;
                } else if (c == '+') {
                    c = ' ';
                }
                if (c == '\0' || o + 1 >= cap)
                    return -1;
                out[o++] = c;
            }
            out[o] = '\0';
            return (long)o;
        }
        q += len + (end != NULL);
    }
    return -1;
}

/* Writes s as the body of a JSON string into out (room for 6 * strlen(s) + 1 bytes). */
static void json_escape(const char *s, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            *out++ = '\\';
            *out++ = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            *out++ = '\\';
            *out++ = 'u';
            *out++ = '0';
            *out++ = '0';
            *out++ = hex[c >> 4];
            *out++ = hex[c & 0xf];
        } else {
            *out++ = (char)c;
        }
    }
    *out = '\0';
}

/* ---- the authorizer -------------------------------------------------------------------------- */

/* A refusal the client reads: status, a text body, and optionally one more header. */
static int refuse(hs_response *res, int status, const char *body, const char *header,
                  const char *value)
{
    warn(hs_response_set_status(res, status), "hs_response_set_status");
    warn(hs_response_add_header(res, "Content-Type", "text/plain; charset=utf-8"),
         "hs_response_add_header");
    if (header != NULL)
        warn(hs_response_add_header(res, header, value), "hs_response_add_header");
    warn(hs_response_set_body(res, body, strlen(body)), "hs_response_set_body");
    return 0;
}

/* Runs on the event loop for every upgrade on /rooms/{room}, before it is answered (after the
 * origin and route-limit checks passed). 1 accepts, 0 refuses with what is in `res`, -1 fails. */
static int authorize(void *user_data, const hs_request *req, hs_admission *admission,
                     hs_response *res)
{
    char token[1024], info[6 * sizeof token + 16], escaped[6 * sizeof token];
    const char *room = hs_request_param_named(req, "room", NULL);
    uint64_t id = hs_request_conn_id(req);
    long len = query_param(hs_request_query(req, NULL), "token", token, sizeof token);
    (void)user_data;

    if (len < 0) {
        fprintf(stderr, "rooms: #%" PRIu64 " admitted anonymously to '%s'\n", id,
                room != NULL ? room : "");
        return 1;
    }
    if (strcmp(token, "bad") == 0) {
        fprintf(stderr, "rooms: #%" PRIu64 " refused: bad token\n", id);
        return refuse(res, 401, "bad token", "WWW-Authenticate", "Bearer");
    }
    if (strcmp(token, "fail") == 0) {
        fprintf(stderr, "rooms: #%" PRIu64 ": the token service failed\n", id);
        return -1;
    }
    /* The user: its id and what the room shows about it (JSON, opaque to the engine). */
    json_escape(token, escaped);
    snprintf(info, sizeof info, "{\"name\":\"%s\"}", escaped);
    if (hs_admission_user(admission, token, (const uint8_t *)info, strlen(info)) < 0)
        return refuse(res, 400, hs_last_error(), NULL, NULL);
    if (room != NULL && hs_admission_join(admission, room) < 0)
        return refuse(res, 400, hs_last_error(), NULL, NULL);
    fprintf(stderr, "rooms: #%" PRIu64 " admitted as '%s' to '%s'\n", id, token,
            room != NULL ? room : "");
    return 1;
}

/* ---- the WebSocket room ---------------------------------------------------------------------- */

static void on_open(void *user_data, uint64_t conn_id, const hs_request *req)
{
    rooms_app *app = user_data;
    fprintf(stderr, "rooms: #%" PRIu64 " open on %s over %s (%d on the route)\n", conn_id,
            hs_request_path(req, NULL), hs_request_version(req),
            hs_ws_count(app->server, app->route));
}

/* The first channel a client is in (its room), from what every process knows of it
 * (hs_ws_client_record): 0 when it is in none. */
static int room_of(hs_server *server, uint64_t conn_id, char *room, size_t cap)
{
    uint8_t rec[1024];
    size_t at = 0, n;
    uint32_t len, count;
    int total = hs_ws_client_record(server, conn_id, rec, sizeof rec);
    if (total < 0 || (size_t)total > sizeof rec)
        return 0;
#define FIELD_LEN(p) ((uint32_t)(p)[0] | (uint32_t)(p)[1] << 8 | (uint32_t)(p)[2] << 16 | (uint32_t)(p)[3] << 24)
    len = FIELD_LEN(rec + at); /* node */
    at += 4 + len + 1;         /* and has_user */
    len = FIELD_LEN(rec + at); /* user id */
    at += 4 + len;
    len = FIELD_LEN(rec + at); /* user info */
    at += 4 + len;
    count = FIELD_LEN(rec + at);
    at += 4;
    if (count == 0)
        return 0;
    len = FIELD_LEN(rec + at);
#undef FIELD_LEN
    n = len < cap - 1 ? len : cap - 1;
    memcpy(room, rec + at + 4, n);
    room[n] = '\0';
    return 1;
}

static void on_message(void *user_data, uint64_t conn_id, const uint8_t *data, size_t len,
                       int is_binary)
{
    rooms_app *app = user_data;
    char room[256];
    if (room_of(app->server, conn_id, room, sizeof room)) {
        int rc = hs_ws_publish(app->server, room, (const char *)data, len, is_binary, 0);
        warn(rc < 0 ? rc : 0, "hs_ws_publish");
    } else {
        warn(hs_ws_send(app->server, conn_id, (const char *)data, len, is_binary), "hs_ws_send");
    }
}

static void on_join(void *user_data, uint64_t conn_id, const char *channel)
{
    (void)user_data;
    fprintf(stderr, "rooms: join #%" PRIu64 " %s\n", conn_id, channel);
}

static void on_leave(void *user_data, uint64_t conn_id, const char *channel)
{
    (void)user_data;
    fprintf(stderr, "rooms: leave #%" PRIu64 " %s\n", conn_id, channel);
}

static void on_presence(void *user_data, const char *channel, int event, const char *user,
                        const uint8_t *info, size_t info_len)
{
    (void)user_data;
    fprintf(stderr, "rooms: presence %s %s %s %.*s\n", event ? "join" : "leave", user, channel,
            (int)info_len, (const char *)info);
}

static void on_close(void *user_data, uint64_t conn_id, int code, const char *reason)
{
    rooms_app *app = user_data;
    fprintf(stderr, "rooms: #%" PRIu64 " left with code %d%s%s (%d on the route)\n", conn_id,
            code, reason && *reason ? ", " : "", reason ? reason : "",
            hs_ws_count(app->server, app->route));
}

/* GET / */
static void on_index(void *user_data, const hs_request *req, hs_response *res)
{
    static const char headers[] = "Content-Type: text/plain; charset=utf-8\r\n";
    static const char body[] = "httpsock rooms: connect a WebSocket to /rooms/{room}?token=NAME\n";
    (void)user_data;
    (void)req;
    warn(hs_respond(res, 200, headers, sizeof headers - 1, body, sizeof body - 1), "hs_respond");
}

/* The `channel` query field of a request, decoded enough for these examples (no %-escapes). */
static int channel_param(const hs_request *req, char *out, size_t cap)
{
    size_t qlen, i, n;
    const char *q = hs_request_query(req, &qlen);
    for (i = 0; q != NULL && i + 8 <= qlen; i++) {
        if ((i == 0 || q[i - 1] == '&') && strncmp(q + i, "channel=", 8) == 0) {
            for (n = 0; i + 8 + n < qlen && q[i + 8 + n] != '&' && n + 1 < cap; n++)
                out[n] = q[i + 8 + n];
            out[n] = '\0';
            return n > 0;
        }
    }
    return 0;
}

/* GET /members?channel=NAME: [id, ...] */
static void on_members(void *user_data, const hs_request *req, hs_response *res)
{
    static const char headers[] = "Content-Type: application/json\r\n";
    rooms_app *app = user_data;
    char channel[256], body[65536];
    uint64_t ids[2048];
    int n, i;
    size_t at = 0;
    if (!channel_param(req, channel, sizeof channel)) {
        warn(hs_respond(res, 400, NULL, 0, "channel?", 8), "hs_respond");
        return;
    }
    n = hs_ws_channel_members(app->server, channel, ids, 2048);
    body[at++] = '[';
    for (i = 0; i < n && i < 2048; i++)
        at += (size_t)snprintf(body + at, sizeof body - at, "%s%" PRIu64, i ? "," : "", ids[i]);
    body[at++] = ']';
    warn(hs_respond(res, 200, headers, sizeof headers - 1, body, at), "hs_respond");
}

/* GET /presence?channel=NAME: ["user", ...] (the ids as given; no escaping needed here) */
static void on_presence_list(void *user_data, const hs_request *req, hs_response *res)
{
    static const char headers[] = "Content-Type: application/json\r\n";
    rooms_app *app = user_data;
    char channel[256], body[65536];
    static uint8_t buf[1 << 20];
    int total, first = 1;
    size_t at = 0, p = 0;
    if (!channel_param(req, channel, sizeof channel)) {
        warn(hs_respond(res, 400, NULL, 0, "channel?", 8), "hs_respond");
        return;
    }
    total = hs_ws_presence(app->server, channel, buf, sizeof buf);
    body[at++] = '[';
    while (total > 0 && p + 8 <= (size_t)total && at + 300 < sizeof body) {
        uint32_t ulen = (uint32_t)buf[p] | (uint32_t)buf[p + 1] << 8 | (uint32_t)buf[p + 2] << 16 |
                        (uint32_t)buf[p + 3] << 24;
        uint32_t ilen;
        at += (size_t)snprintf(body + at, sizeof body - at, "%s\"%.*s\"", first ? "" : ",",
                               (int)(ulen < 256 ? ulen : 256), (const char *)buf + p + 4);
        first = 0;
        p += 4 + ulen;
        ilen = (uint32_t)buf[p] | (uint32_t)buf[p + 1] << 8 | (uint32_t)buf[p + 2] << 16 |
               (uint32_t)buf[p + 3] << 24;
        p += 4 + ilen;
    }
    body[at++] = ']';
    warn(hs_respond(res, 200, headers, sizeof headers - 1, body, at), "hs_respond");
}

/* ---- main ------------------------------------------------------------------------------------ */

/* HS_WS_ORIGINS: "a,b,c" -> hs_ws_set_origins(server, {"a","b","c"}, 3). */
static void set_origins(hs_server *server, const char *spec)
{
    char *copy = malloc(strlen(spec) + 1), *p;
    const char **list, *c;
    int n = 1, i = 0;
    for (c = spec; *c != '\0'; c++)
        n += *c == ',';
    list = malloc((size_t)n * sizeof *list);
    if (copy == NULL || list == NULL) {
        fprintf(stderr, "rooms: out of memory\n");
        exit(EXIT_FAILURE);
    }
    strcpy(copy, spec);
    for (p = strtok(copy, ","); p != NULL; p = strtok(NULL, ","))
        list[i++] = p;
    must(hs_ws_set_origins(server, list, i), "hs_ws_set_origins (HS_WS_ORIGINS)");
    free(list); /* the engine copied the strings */
    free(copy);
}

static int parse_port(const char *s)
{
    char *end;
    long port = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || port < 0 || port > 65535) {
        fprintf(stderr, "usage: rooms [PORT [ADDRESS]]  (PORT 0-65535, got '%s')\n", s);
        exit(2);
    }
    return (int)port;
}

int main(int argc, char **argv)
{
    int port = argc > 1 ? parse_port(argv[1]) : 8080;
    const char *address = argc > 2 ? argv[2] : "127.0.0.1";
    hs_ws_handlers handlers;
    hs_room_events events;
    env_settings env;
    rooms_app app;
    unsigned long long limit;
    int rc;

    app.server = hs_new(address, port);
    if (app.server == NULL) {
        fprintf(stderr, "rooms: hs_new failed: %s\n", hs_last_error());
        return EXIT_FAILURE;
    }
    must(hs_route(app.server, "GET", "/", on_index, &app), "hs_route /");
    must(hs_websocket(app.server, 1), "hs_websocket");
    handlers.on_open = on_open;
    handlers.on_message = on_message;
    handlers.on_close = on_close;
    app.route = must(hs_accept(app.server, "/rooms/{room}", &handlers, &app),
                     "hs_accept /rooms/{room}");
    must(hs_ws_authorize(app.server, authorize, &app), "hs_ws_authorize");
    must(hs_route(app.server, "GET", "/members", on_members, &app), "hs_route /members");
    must(hs_route(app.server, "GET", "/presence", on_presence_list, &app), "hs_route /presence");
    events.on_join = on_join;
    events.on_leave = on_leave;
    events.on_presence = on_presence;
    must(hs_ws_room_events(app.server, &events, &app), "hs_ws_room_events");

    env_configure(&env, app.server, "rooms");
    if (env_get("HS_WS_ORIGINS") != NULL)
        set_origins(app.server, env_get("HS_WS_ORIGINS"));
    limit = env_number(&env, "HS_WS_ROUTE_LIMIT", 0);
    if (limit > 1000000) {
        fprintf(stderr, "rooms: HS_WS_ROUTE_LIMIT %llu is over 1000000\n", limit);
        return 2;
    }
    must(hs_ws_route_limit(app.server, app.route, (int)limit), "hs_ws_route_limit");
    if (env_flag(&env, "HS_DEBUG", 0))
        must(hs_set_debug(app.server, 1), "hs_set_debug");
    if (env_get("HS_REDIS") != NULL) {
        unsigned long long ttl = env_number(&env, "HS_REDIS_TTL_MS", 0);
        must(hs_redis(app.server, env_get("HS_REDIS"), env_get("HS_REDIS_PREFIX"),
                      env_get("HS_NODE"), (int)(ttl > 3600000 ? 3600000 : ttl)),
             "hs_redis (HS_REDIS)");
    }

    must(hs_handle_signals(app.server, 1), "hs_handle_signals");
    must(hs_start(app.server), "hs_start");
    env_print_listening(&env, address);

    rc = hs_run(app.server);
    if (rc < 0)
        fprintf(stderr, "rooms: hs_run failed: %s: %s\n", hs_status_str(rc), hs_last_error());
    hs_free(app.server);
    return rc < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
