/*
 * socketio.c - a Socket.IO server (Engine.IO v4 / Socket.IO v5) with httpsock: real
 * `socket.io-client` 4.x clients (Node, the browser, python-socketio) connect to /socket.io/ over
 * long-polling, WebSocket or both (the upgrade), and exchange events, acknowledgements in both
 * directions and binary attachments; rooms are httpsock channels. The test suite of the
 * Socket.IO endpoint (tests/socketio) drives it; php/examples/socketio.php speaks the same
 * protocol.
 *
 *   GET  /                     a short text saying how to connect
 *   *    /socket.io/           the Socket.IO endpoint (hs_sio_enable)
 *   GET  /members?room=R       the sids of the sockets of namespace "/" in room R, everywhere:
 *                              a JSON list of strings
 *   GET  /client/FILE          FILE of the directory HS_SIO_CLIENT_DIR (the browser build of
 *                              socket.io-client: node_modules/socket.io-client/dist), when set
 *   GET  /page                 the HTML file HS_SIO_PAGE, when set
 *   WS   /ws/{room}            a plain WebSocket client in channel {room}: what it sends is
 *                              published to the channel (hs_ws_publish), so Socket.IO members
 *                              of the room get it as the event `message`
 *
 * Namespace "/":
 *   connecting  auth {"token":"bad"} is refused with the message "bad token"; auth
 *               {"user":"X"} connects as user X (info {"name":"X"}); anything else connects
 *               anonymously
 *   echo ...          acknowledged: the ack carries the same arguments; else `echo` is emitted
 *                     back with them (binary arguments come back binary)
 *   join R / leave R  joins / leaves room R; the ack (if asked for) is `true`
 *   to R E ...        emits E with the rest of the arguments to room R (the sender too if it
 *                     is a member)
 *   broadcast E ...   emits E with the rest of the arguments to every socket of "/" but the
 *                     sender
 *   ask E ...         emits E with the rest of the arguments to the sender, asking for an ack
 *                     (2000 ms); then emits `answer` with the ack's arguments as one array, or
 *                     `answer` with null when none came in time
 *   bye               the server disconnects the socket ("io server disconnect" for the client)
 *   whoami            ack: {"sid":..,"id":..,"user":..|null,"rooms":[..],"node":..}
 *   publish R T       hs_ws_publish(R, T): plain WebSocket members get the text T, Socket.IO
 *                     members the event `message` with T (beyond the suite's shared protocol)
 *   send T            hs_ws_send(this socket, T): the event `message` with T
 * Namespace "/admin": refused ("Not authorized") unless auth is {"token":"secret"}; `echo` as
 * above. Any other namespace is refused by the engine ("Invalid namespace").
 *
 * Every disconnect prints `socketio: disconnect SID REASON` on stderr (REASON as Socket.IO
 * names it: "client namespace disconnect", "transport close", "ping timeout", ...), every
 * connect `socketio: connect SID NAMESPACE`.
 *
 * Usage: socketio [PORT [ADDRESS]]   PORT 8080 by default (0 = any free port),
 *                                    ADDRESS 127.0.0.1 by default.
 *
 * Environment (besides env_tls.h's TLS, HTTP/2, limits and compression):
 *   HS_SIO_PING_INTERVAL_MS=N   Engine.IO ping interval (default 25000)
 *   HS_SIO_PING_TIMEOUT_MS=N    Engine.IO ping timeout (default 20000)
 *   HS_SIO_MAX_PAYLOAD=N        largest polling body / WebSocket message (default 1000000)
 *   HS_SIO_CONNECT_TIMEOUT_MS=N time to connect a namespace after the handshake (default 45000)
 *   HS_SIO_RECOVERY_MS=N        connection state recovery: a socket whose connection was lost
 *                               is kept N ms (its rooms, what is sent to it) for its client to
 *                               reconnect and get it back (default 0: off)
 *   HS_WS_ORIGINS=a,b,...       origins a browser page may connect from (hs_ws_set_origins,
 *                               applied to the Engine.IO handshake): another Origin gets 403
 *   HS_SIO_CLIENT_DIR=dir       serve dir's files under /client/
 *   HS_SIO_PAGE=file.html       serve file.html as /page
 *   HS_REDIS=redis://127.0.0.1:6379   join the nodes' backplane (hs_redis): rooms and emits
 *                               reach the sockets of every node on that Redis and prefix
 *   HS_REDIS_PREFIX, HS_NODE, HS_REDIS_TTL_MS   its prefix, this node's name, its TTL
 *   HS_DEBUG=1                  the engine's debug log on stderr
 *
 * SIGINT/SIGTERM shut the server down gracefully, exit status 0.
 */
#define _POSIX_C_SOURCE 200809L /* sigaction() in env_tls.h */

#include <httpsock.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "env_tls.h"

#define ASK_TIMEOUT_MS 2000
#define MAX_ARGS 64

/* What the callbacks share, handed to them as user_data; lives in main(), outlives the server. */
typedef struct {
    hs_server *server;
    int root;  /* route id of namespace "/" */
    int admin; /* route id of namespace "/admin" */
    const char *client_dir;
    const char *page;
} sio_app;

static int must(int rc, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "socketio: %s failed: %s: %s\n", what, hs_status_str(rc), hs_last_error());
        exit(EXIT_FAILURE);
    }
    return rc;
}

static void warn(int rc, const char *what)
{
    if (rc < 0)
        fprintf(stderr, "socketio: %s failed: %s: %s\n", what, hs_status_str(rc), hs_last_error());
}

/* ---- just enough JSON ------------------------------------------------------------------------ */

/* A span of text: one JSON value, or a run of them. */
typedef struct {
    const char *p;
    size_t len;
} span;

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* The end of the JSON value starting at p (after any white space), or NULL when it is not one.
 * Strings, numbers, literals, and arrays/objects by their brackets (their content is not
 * checked beyond strings: the engine hands us well-formed JSON). */
static const char *skip_value(const char *p, const char *end)
{
    int depth = 0;
    p = skip_ws(p, end);
    if (p >= end)
        return NULL;
    do {
        if (p >= end)
            return NULL;
        if (*p == '"') {
            for (p++; p < end && *p != '"'; p++)
                if (*p == '\\')
                    p++;
            if (p >= end)
                return NULL;
            p++;
        } else if (*p == '[' || *p == '{') {
            depth++;
            p++;
        } else if (*p == ']' || *p == '}') {
            if (--depth < 0)
                return NULL;
            p++;
        } else if (depth > 0) {
            p++;
        } else {
            /* a number or a literal: up to a delimiter */
            const char *start = p;
            while (p < end && *p != ',' && *p != ']' && *p != '}' && *p != ' ' && *p != '\t' &&
                   *p != '\n' && *p != '\r')
                p++;
            if (p == start)
                return NULL;
        }
    } while (depth > 0);
    return p;
}

/* Splits the JSON array `a` into its elements (at most `cap`); returns their count, or -1 when
 * `a` is not an array. */
static int array_items(span a, span *items, int cap)
{
    const char *p = skip_ws(a.p, a.p + a.len), *end = a.p + a.len;
    int n = 0;
    if (p >= end || *p != '[')
        return -1;
    p = skip_ws(p + 1, end);
    if (p < end && *p == ']')
        return 0;
    for (;;) {
        const char *start = skip_ws(p, end), *stop = skip_value(start, end);
        if (stop == NULL || n >= cap)
            return -1;
        items[n].p = start;
        items[n].len = (size_t)(stop - start);
        n++;
        p = skip_ws(stop, end);
        if (p < end && *p == ',') {
            p++;
            continue;
        }
        return p < end && *p == ']' ? n : -1;
    }
}

/* The value of key `key` in the JSON object `o` (top level only), or {NULL, 0}. */
static span object_get(span o, const char *key)
{
    const char *p = skip_ws(o.p, o.p + o.len), *end = o.p + o.len;
    span none = {NULL, 0};
    size_t klen = strlen(key);
    if (p >= end || *p != '{')
        return none;
    p = skip_ws(p + 1, end);
    while (p < end && *p == '"') {
        const char *kstart = p + 1, *kend = skip_value(p, end), *vstart, *vend;
        if (kend == NULL)
            return none;
        p = skip_ws(kend, end);
        if (p >= end || *p != ':')
            return none;
        vstart = skip_ws(p + 1, end);
        vend = skip_value(vstart, end);
        if (vend == NULL)
            return none;
        /* keys are compared raw: the ones we look for have no escapes */
        if ((size_t)(kend - 1 - kstart) == klen && memcmp(kstart, key, klen) == 0) {
            span v = {vstart, (size_t)(vend - vstart)};
            return v;
        }
        p = skip_ws(vend, end);
        if (p < end && *p == ',')
            p = skip_ws(p + 1, end);
    }
    return none;
}

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

static long hex4(const char *p, const char *end)
{
    long v = 0;
    int i;
    if (end - p < 4)
        return -1;
    for (i = 0; i < 4; i++) {
        int h = hex_value(p[i]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

/* Decodes the JSON string `s` (with its quotes) into `out` as UTF-8, NUL-terminated. Returns its
 * length, or -1 when `s` is not a string, holds a NUL or does not fit in `cap - 1` bytes. */
static long string_value(span s, char *out, size_t cap)
{
    const char *p = s.p, *end = s.p + s.len;
    size_t o = 0;
    if (s.len < 2 || p[0] != '"' || end[-1] != '"')
        return -1;
    for (p++, end--; p < end; p++) {
        unsigned long cp = (unsigned char)*p;
        if (*p == '\\') {
            if (++p >= end)
                return -1;
            switch (*p) {
            case 'b': cp = '\b'; break;
            case 'f': cp = '\f'; break;
            case 'n': cp = '\n'; break;
            case 'r': cp = '\r'; break;
            case 't': cp = '\t'; break;
            case 'u': {
                long u = hex4(p + 1, end);
                if (u < 0)
                    return -1;
                p += 4;
                cp = (unsigned long)u;
                if (cp >= 0xd800 && cp < 0xdc00 && end - p > 6 && p[1] == '\\' && p[2] == 'u') {
                    long lo = hex4(p + 3, end);
                    if (lo >= 0xdc00 && lo < 0xe000) {
                        cp = 0x10000 + ((cp - 0xd800) << 10) + ((unsigned long)lo - 0xdc00);
                        p += 6;
                    }
                }
                break;
            }
            default: cp = (unsigned char)*p; /* \" \\ \/ */
            }
            if (cp == 0 || o + 5 > cap)
                return -1;
            if (cp < 0x80) {
                out[o++] = (char)cp;
            } else if (cp < 0x800) {
                out[o++] = (char)(0xc0 | cp >> 6);
                out[o++] = (char)(0x80 | (cp & 0x3f));
            } else if (cp < 0x10000) {
                out[o++] = (char)(0xe0 | cp >> 12);
                out[o++] = (char)(0x80 | (cp >> 6 & 0x3f));
                out[o++] = (char)(0x80 | (cp & 0x3f));
            } else {
                out[o++] = (char)(0xf0 | cp >> 18);
                out[o++] = (char)(0x80 | (cp >> 12 & 0x3f));
                out[o++] = (char)(0x80 | (cp >> 6 & 0x3f));
                out[o++] = (char)(0x80 | (cp & 0x3f));
            }
        } else {
            if (o + 2 > cap)
                return -1;
            out[o++] = *p;
        }
    }
    out[o] = '\0';
    return (long)o;
}

/* Writes `s` as a JSON string (with quotes) at out + *at, within cap; 0 when it did not fit. */
static int put_json_string(char *out, size_t cap, size_t *at, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t i;
    if (*at + 2 > cap)
        return 0;
    out[(*at)++] = '"';
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (*at + 8 > cap)
            return 0;
        if (c == '"' || c == '\\') {
            out[(*at)++] = '\\';
            out[(*at)++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            memcpy(out + *at, "\\u00", 4);
            out[*at + 4] = hex[c >> 4];
            out[*at + 5] = hex[c & 0xf];
            *at += 6;
        } else {
            out[(*at)++] = (char)c;
        }
    }
    out[(*at)++] = '"';
    return 1;
}

/* "[" + items[from..n) + "]" into a new buffer (free it); its length in *len. The items keep
 * their binary placeholders, so the event's attachments go along unchanged. */
static char *rest_array(const span *items, int n, int from, size_t *len)
{
    size_t total = 2, at = 0;
    int i;
    char *out;
    for (i = from; i < n; i++)
        total += items[i].len + 1;
    out = malloc(total);
    if (out == NULL)
        return NULL;
    out[at++] = '[';
    for (i = from; i < n; i++) {
        if (i > from)
            out[at++] = ',';
        memcpy(out + at, items[i].p, items[i].len);
        at += items[i].len;
    }
    out[at++] = ']';
    *len = at;
    return out;
}

/* ---- who a socket is ------------------------------------------------------------------------- */

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* whoami's answer for socket `id`: {"sid":..,"id":..,"user":..|null,"rooms":[..],"node":..}
 * from what every process knows of it (hs_ws_client_record). Returns the length, 0 on failure. */
static size_t whoami_json(hs_server *server, uint64_t id, char *out, size_t cap)
{
    static uint8_t rec[65536];
    char sid[128];
    size_t at = 0, p = 0;
    uint32_t len, count, i;
    int has_user, total = hs_ws_client_record(server, id, rec, sizeof rec);
    int sid_len = hs_sio_sid(server, id, sid, sizeof sid);
    if (total < 0 || (size_t)total > sizeof rec || sid_len < 0 || (size_t)sid_len >= sizeof sid)
        return 0;
    at += (size_t)snprintf(out, cap, "[{\"sid\":");
    if (!put_json_string(out, cap, &at, sid, (size_t)sid_len))
        return 0;
    at += (size_t)snprintf(out + at, cap - at, ",\"id\":%" PRIu64 ",\"node\":", id);
    len = le32(rec + p);
    if (!put_json_string(out, cap, &at, (const char *)rec + p + 4, len))
        return 0;
    p += 4 + len;
    has_user = rec[p++];
    len = le32(rec + p);
    if (at + 16 > cap)
        return 0;
    memcpy(out + at, ",\"user\":", 8);
    at += 8;
    if (has_user) {
        if (!put_json_string(out, cap, &at, (const char *)rec + p + 4, len))
            return 0;
    } else {
        memcpy(out + at, "null", 4);
        at += 4;
    }
    p += 4 + len;
    p += 4 + le32(rec + p); /* the user's info */
    count = le32(rec + p);
    p += 4;
    if (at + 16 > cap)
        return 0;
    memcpy(out + at, ",\"rooms\":[", 10);
    at += 10;
    for (i = 0; i < count; i++) {
        len = le32(rec + p);
        if (i > 0)
            out[at++] = ',';
        if (!put_json_string(out, cap, &at, (const char *)rec + p + 4, len))
            return 0;
        p += 4 + len;
    }
    if (at + 4 > cap)
        return 0;
    memcpy(out + at, "]}]", 3);
    return at + 3;
}

/* ---- namespace "/" --------------------------------------------------------------------------- */

/* auth {"token":"bad"}: refused; {"user":"X"}: user X; anything else: anonymous. */
static int root_connect(void *user_data, uint64_t socket_id, const hs_request *req,
                        const uint8_t *auth, size_t auth_len, hs_admission *admission)
{
    span a = {(const char *)auth, auth_len};
    char token[256], user[300], info[sizeof user * 6 + 16];
    size_t at = 0;
    (void)user_data;
    (void)req;
    if (string_value(object_get(a, "token"), token, sizeof token) >= 0 &&
        strcmp(token, "bad") == 0) {
        fprintf(stderr, "socketio: #%" PRIu64 " refused: bad token\n", socket_id);
        warn(hs_admission_refuse(admission, "bad token", NULL, 0), "hs_admission_refuse");
        return 0;
    }
    if (string_value(object_get(a, "user"), user, sizeof user) >= 0) {
        memcpy(info, "{\"name\":", 8);
        at = 8;
        put_json_string(info, sizeof info, &at, user, strlen(user));
        info[at++] = '}';
        if (hs_admission_user(admission, user, (const uint8_t *)info, at) < 0) {
            warn(hs_admission_refuse(admission, hs_last_error(), NULL, 0), "hs_admission_refuse");
            return 0;
        }
    }
    return 1;
}

static void ack_true(hs_server *server, uint64_t socket_id, int64_t ack_id)
{
    if (ack_id >= 0)
        warn(hs_sio_ack(server, socket_id, ack_id, (const uint8_t *)"[true]", 6, NULL, 0),
             "hs_sio_ack");
}

static void root_event(void *user_data, uint64_t socket_id, const uint8_t *event, size_t event_len,
                       const uint8_t *args, size_t args_len, const hs_bytes *attachments,
                       size_t n_attachments, int64_t ack_id)
{
    sio_app *app = user_data;
    hs_server *server = app->server;
    span items[MAX_ARGS], all = {(const char *)args, args_len};
    char room[256], name[256];
    int n = array_items(all, items, MAX_ARGS);
    size_t rest_len = 0;
    char *rest;

#define IS(e) (event_len == sizeof(e) - 1 && memcmp(event, e, sizeof(e) - 1) == 0)
    if (IS("echo")) {
        if (ack_id >= 0)
            warn(hs_sio_ack(server, socket_id, ack_id, args, args_len, attachments,
                            n_attachments),
                 "hs_sio_ack");
        else
            warn(hs_sio_emit_to(server, socket_id, "echo", args, args_len, attachments,
                                n_attachments, 0, NULL),
                 "hs_sio_emit_to");
    } else if (IS("join") || IS("leave")) {
        if (n < 1 || string_value(items[0], room, sizeof room) < 0) {
            fprintf(stderr, "socketio: #%" PRIu64 " %.*s without a room\n", socket_id,
                    (int)event_len, (const char *)event);
            return;
        }
        if (IS("join"))
            warn(hs_ws_join(server, socket_id, room), "hs_ws_join");
        else
            warn(hs_ws_leave(server, socket_id, room), "hs_ws_leave");
        ack_true(server, socket_id, ack_id);
    } else if (IS("to")) {
        if (n < 2 || string_value(items[0], room, sizeof room) < 0 ||
            string_value(items[1], name, sizeof name) < 0)
            return;
        rest = rest_array(items, n, 2, &rest_len);
        if (rest != NULL) {
            int rc = hs_sio_emit(server, app->root, room, 0, name, (const uint8_t *)rest,
                                 rest_len, attachments, n_attachments);
            warn(rc < 0 ? rc : 0, "hs_sio_emit (to)");
            free(rest);
        }
        ack_true(server, socket_id, ack_id);
    } else if (IS("broadcast")) {
        if (n < 1 || string_value(items[0], name, sizeof name) < 0)
            return;
        rest = rest_array(items, n, 1, &rest_len);
        if (rest != NULL) {
            int rc = hs_sio_emit(server, app->root, NULL, socket_id, name,
                                 (const uint8_t *)rest, rest_len, attachments, n_attachments);
            warn(rc < 0 ? rc : 0, "hs_sio_emit (broadcast)");
            free(rest);
        }
        ack_true(server, socket_id, ack_id);
    } else if (IS("ask")) {
        uint64_t token = 0;
        if (n < 1 || string_value(items[0], name, sizeof name) < 0)
            return;
        rest = rest_array(items, n, 1, &rest_len);
        if (rest != NULL) {
            warn(hs_sio_emit_to(server, socket_id, name, (const uint8_t *)rest, rest_len,
                                attachments, n_attachments, ASK_TIMEOUT_MS, &token),
                 "hs_sio_emit_to (ask)");
            free(rest);
        }
    } else if (IS("bye")) {
        warn(hs_ws_close(server, socket_id, 1000, "bye"), "hs_ws_close");
    } else if (IS("publish")) {
        static char text[65536];
        int rc;
        if (n < 2 || string_value(items[0], room, sizeof room) < 0 ||
            string_value(items[1], text, sizeof text) < 0)
            return;
        rc = hs_ws_publish(server, room, text, strlen(text), 0, 0);
        warn(rc < 0 ? rc : 0, "hs_ws_publish");
        ack_true(server, socket_id, ack_id);
    } else if (IS("send")) {
        static char text[65536];
        if (n < 1 || string_value(items[0], text, sizeof text) < 0)
            return;
        warn(hs_ws_send(server, socket_id, text, strlen(text), 0), "hs_ws_send");
        ack_true(server, socket_id, ack_id);
    } else if (IS("whoami")) {
        static char out[131072];
        size_t len = whoami_json(server, socket_id, out, sizeof out);
        if (len == 0)
            fprintf(stderr, "socketio: whoami of #%" PRIu64 " failed: %s\n", socket_id,
                    hs_last_error());
        else if (ack_id >= 0)
            warn(hs_sio_ack(server, socket_id, ack_id, (const uint8_t *)out, len, NULL, 0),
                 "hs_sio_ack");
        else
            warn(hs_sio_emit_to(server, socket_id, "whoami", (const uint8_t *)out, len, NULL, 0,
                                0, NULL),
                 "hs_sio_emit_to");
    } else {
        fprintf(stderr, "socketio: #%" PRIu64 " unknown event '%.*s'\n", socket_id,
                (int)event_len, (const char *)event);
    }
#undef IS
}

/* The client's answer to `ask` (or none: args NULL): `answer` with the ack's arguments as one
 * array, or with null. */
static void root_ack(void *user_data, uint64_t socket_id, uint64_t token, const uint8_t *args,
                     size_t args_len, const hs_bytes *attachments, size_t n_attachments)
{
    sio_app *app = user_data;
    (void)token;
    if (args == NULL) {
        warn(hs_sio_emit_to(app->server, socket_id, "answer", (const uint8_t *)"[null]", 6, NULL,
                            0, 0, NULL),
             "hs_sio_emit_to (answer)");
    } else {
        char *wrapped = malloc(args_len + 2);
        if (wrapped == NULL)
            return;
        wrapped[0] = '[';
        memcpy(wrapped + 1, args, args_len);
        wrapped[args_len + 1] = ']';
        warn(hs_sio_emit_to(app->server, socket_id, "answer", (const uint8_t *)wrapped,
                            args_len + 2, attachments, n_attachments, 0, NULL),
             "hs_sio_emit_to (answer)");
        free(wrapped);
    }
}

static void print_connect(hs_server *server, uint64_t socket_id, const char *nsp)
{
    char sid[128];
    if (hs_sio_sid(server, socket_id, sid, sizeof sid) < 0)
        strcpy(sid, "?");
    fprintf(stderr, "socketio: connect %s %s\n", sid, nsp);
}

static void on_disconnect(void *user_data, uint64_t socket_id, const char *reason)
{
    sio_app *app = user_data;
    char sid[128];
    if (hs_sio_sid(app->server, socket_id, sid, sizeof sid) < 0)
        snprintf(sid, sizeof sid, "#%" PRIu64, socket_id);
    fprintf(stderr, "socketio: disconnect %s %s\n", sid, reason != NULL ? reason : "");
}

static int root_connect_logged(void *user_data, uint64_t socket_id, const hs_request *req,
                               const uint8_t *auth, size_t auth_len, hs_admission *admission)
{
    sio_app *app = user_data;
    int ok = root_connect(user_data, socket_id, req, auth, auth_len, admission);
    if (ok == 1)
        print_connect(app->server, socket_id, "/");
    return ok;
}

/* ---- namespace "/admin" ---------------------------------------------------------------------- */

static int admin_connect(void *user_data, uint64_t socket_id, const hs_request *req,
                         const uint8_t *auth, size_t auth_len, hs_admission *admission)
{
    sio_app *app = user_data;
    span a = {(const char *)auth, auth_len};
    char token[256];
    (void)req;
    if (string_value(object_get(a, "token"), token, sizeof token) < 0 ||
        strcmp(token, "secret") != 0) {
        warn(hs_admission_refuse(admission, "Not authorized", NULL, 0), "hs_admission_refuse");
        return 0;
    }
    print_connect(app->server, socket_id, "/admin");
    return 1;
}

static void admin_event(void *user_data, uint64_t socket_id, const uint8_t *event, size_t event_len,
                        const uint8_t *args, size_t args_len, const hs_bytes *attachments,
                        size_t n_attachments, int64_t ack_id)
{
    sio_app *app = user_data;
    if (event_len != 4 || memcmp(event, "echo", 4) != 0)
        return;
    if (ack_id >= 0)
        warn(hs_sio_ack(app->server, socket_id, ack_id, args, args_len, attachments,
                        n_attachments),
             "hs_sio_ack");
    else
        warn(hs_sio_emit_to(app->server, socket_id, "echo", args, args_len, attachments,
                            n_attachments, 0, NULL),
             "hs_sio_emit_to");
}

/* ---- a plain WebSocket route sharing the rooms ----------------------------------------------- */

/* WS /ws/{room}: the client joins channel {room} as it opens. */
static void ws_open(void *user_data, uint64_t conn_id, const hs_request *req)
{
    sio_app *app = user_data;
    const char *room = hs_request_param_named(req, "room", NULL);
    if (room != NULL)
        warn(hs_ws_join(app->server, conn_id, room), "hs_ws_join (/ws)");
    fprintf(stderr, "socketio: websocket #%" PRIu64 " in %s\n", conn_id, room ? room : "");
}

/* What a plain WebSocket client sends goes to every member of its room (its first channel). */
static void ws_message(void *user_data, uint64_t conn_id, const uint8_t *data, size_t len,
                       int is_binary)
{
    sio_app *app = user_data;
    static uint8_t rec[65536];
    char room[256];
    size_t p = 0;
    uint32_t l;
    int rc, total = hs_ws_client_record(app->server, conn_id, rec, sizeof rec);
    if (total < 0 || (size_t)total > sizeof rec)
        return;
    p += 4 + le32(rec + p); /* node */
    p += 1;                 /* has_user */
    p += 4 + le32(rec + p); /* user id */
    p += 4 + le32(rec + p); /* user info */
    if (le32(rec + p) == 0)
        return; /* in no channel */
    p += 4;
    l = le32(rec + p);
    if (l >= sizeof room)
        return;
    memcpy(room, rec + p + 4, l);
    room[l] = '\0';
    rc = hs_ws_publish(app->server, room, (const char *)data, len, is_binary, 0);
    warn(rc < 0 ? rc : 0, "hs_ws_publish (/ws)");
}

/* ---- HTTP ------------------------------------------------------------------------------------ */

/* GET / */
static void on_index(void *user_data, const hs_request *req, hs_response *res)
{
    static const char headers[] = "Content-Type: text/plain; charset=utf-8\r\n";
    static const char body[] = "httpsock socketio: connect a Socket.IO client (v4) to this "
                               "address; namespaces / and /admin\n";
    (void)user_data;
    (void)req;
    warn(hs_respond(res, 200, headers, sizeof headers - 1, body, sizeof body - 1), "hs_respond");
}

/* The value of `name` in the request's query, percent-decoded into out (NUL-terminated);
 * 0 when absent, empty or too long. */
static int query_param(const hs_request *req, const char *name, char *out, size_t cap)
{
    size_t qlen, i = 0, nlen = strlen(name);
    const char *q = hs_request_query(req, &qlen);
    while (q != NULL && i < qlen) {
        size_t end = i;
        while (end < qlen && q[end] != '&')
            end++;
        if (end - i > nlen && memcmp(q + i, name, nlen) == 0 && q[i + nlen] == '=') {
            size_t o = 0, k;
            for (k = i + nlen + 1; k < end; k++) {
                char c = q[k];
                if (c == '%' && k + 2 < end && hex_value(q[k + 1]) >= 0 &&
                    hex_value(q[k + 2]) >= 0) {
                    c = (char)(hex_value(q[k + 1]) * 16 + hex_value(q[k + 2]));
                    k += 2;
                } else if (c == '+') {
                    c = ' ';
                }
                if (c == '\0' || o + 1 >= cap)
                    return 0;
                out[o++] = c;
            }
            out[o] = '\0';
            return o > 0;
        }
        i = end + 1;
    }
    return 0;
}

/* GET /members?room=R: ["sid", ...] of the sockets of namespace "/" in room R, everywhere. */
static void on_members(void *user_data, const hs_request *req, hs_response *res)
{
    static const char headers[] = "Content-Type: application/json\r\n";
    static uint64_t ids[4096];
    static char body[4096 * 80];
    sio_app *app = user_data;
    char room[256], sid[128], nsp[256];
    size_t at = 0;
    int n, i, first = 1;
    if (!query_param(req, "room", room, sizeof room)) {
        warn(hs_respond(res, 400, NULL, 0, "room?", 5), "hs_respond");
        return;
    }
    n = hs_ws_channel_members(app->server, room, ids, 4096);
    body[at++] = '[';
    for (i = 0; i < n && i < 4096; i++) {
        int len = hs_sio_sid(app->server, ids[i], sid, sizeof sid);
        if (len < 0 || hs_sio_namespace_of(app->server, ids[i], nsp, sizeof nsp) < 0 ||
            strcmp(nsp, "/") != 0)
            continue; /* a plain WebSocket client, or a socket of another namespace */
        if (!first)
            body[at++] = ',';
        first = 0;
        put_json_string(body, sizeof body, &at, sid, (size_t)len);
    }
    body[at++] = ']';
    warn(hs_respond(res, 200, headers, sizeof headers - 1, body, at), "hs_respond");
}

/* The whole file at `path` in a new buffer (free it), or NULL. */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *data = NULL;
    long size;
    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        data = malloc((size_t)size + 1);
        if (data != NULL && fread(data, 1, (size_t)size, f) != (size_t)size) {
            free(data);
            data = NULL;
        }
        *len = (size_t)size;
    }
    fclose(f);
    return data;
}

static void send_file(hs_response *res, const char *path, const char *type)
{
    char headers[256];
    size_t len = 0;
    char *data = read_file(path, &len);
    if (data == NULL) {
        warn(hs_respond(res, 404, NULL, 0, "not found\n", 10), "hs_respond");
        return;
    }
    snprintf(headers, sizeof headers, "Content-Type: %s\r\nCache-Control: no-store\r\n", type);
    warn(hs_respond(res, 200, headers, strlen(headers), data, len), "hs_respond");
    free(data);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* GET /client/{file}: a file of HS_SIO_CLIENT_DIR (no sub-directories, no dot files). */
static void on_client_file(void *user_data, const hs_request *req, hs_response *res)
{
    sio_app *app = user_data;
    const char *file = hs_request_param_named(req, "file", NULL);
    char path[4096];
    if (app->client_dir == NULL || file == NULL || file[0] == '.' || strchr(file, '/') != NULL ||
        strchr(file, '\\') != NULL ||
        (size_t)snprintf(path, sizeof path, "%s/%s", app->client_dir, file) >= sizeof path) {
        warn(hs_respond(res, 404, NULL, 0, "not found\n", 10), "hs_respond");
        return;
    }
    send_file(res, path,
              ends_with(file, ".js")    ? "text/javascript; charset=utf-8"
              : ends_with(file, ".map") ? "application/json"
                                        : "application/octet-stream");
}

/* GET /page: the HTML file HS_SIO_PAGE. */
static void on_page(void *user_data, const hs_request *req, hs_response *res)
{
    sio_app *app = user_data;
    (void)req;
    if (app->page == NULL) {
        warn(hs_respond(res, 404, NULL, 0, "no HS_SIO_PAGE\n", 15), "hs_respond");
        return;
    }
    send_file(res, app->page, "text/html; charset=utf-8");
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
        fprintf(stderr, "socketio: out of memory\n");
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
        fprintf(stderr, "usage: socketio [PORT [ADDRESS]]  (PORT 0-65535, got '%s')\n", s);
        exit(2);
    }
    return (int)port;
}

static uint32_t env_u32(const env_settings *env, const char *name)
{
    unsigned long long v = env_number(env, name, 0);
    if (v > 0xffffffffULL) {
        fprintf(stderr, "socketio: %s %llu is too large\n", name, v);
        exit(2);
    }
    return (uint32_t)v;
}

int main(int argc, char **argv)
{
    int port = argc > 1 ? parse_port(argv[1]) : 8080;
    const char *address = argc > 2 ? argv[2] : "127.0.0.1";
    hs_sio_handlers root, admin;
    hs_ws_handlers ws;
    hs_sio_options opts;
    env_settings env;
    sio_app app;
    int rc;

    memset(&app, 0, sizeof app);
    app.server = hs_new(address, port);
    if (app.server == NULL) {
        fprintf(stderr, "socketio: hs_new failed: %s\n", hs_last_error());
        return EXIT_FAILURE;
    }
    app.client_dir = env_get("HS_SIO_CLIENT_DIR");
    app.page = env_get("HS_SIO_PAGE");
    env_configure(&env, app.server, "socketio");

    memset(&opts, 0, sizeof opts);
    opts.path = NULL; /* "/socket.io/" */
    opts.ping_interval_ms = env_u32(&env, "HS_SIO_PING_INTERVAL_MS");
    opts.ping_timeout_ms = env_u32(&env, "HS_SIO_PING_TIMEOUT_MS");
    opts.max_payload = env_u32(&env, "HS_SIO_MAX_PAYLOAD");
    opts.connect_timeout_ms = env_u32(&env, "HS_SIO_CONNECT_TIMEOUT_MS");
    opts.recovery_ms = env_u32(&env, "HS_SIO_RECOVERY_MS");
    must(hs_websocket(app.server, 1), "hs_websocket");
    must(hs_sio_enable(app.server, &opts), "hs_sio_enable");

    memset(&root, 0, sizeof root);
    root.on_connect = root_connect_logged;
    root.on_event = root_event;
    root.on_ack = root_ack;
    root.on_disconnect = on_disconnect;
    app.root = must(hs_sio_namespace(app.server, "/", &root, &app), "hs_sio_namespace /");
    memset(&admin, 0, sizeof admin);
    admin.on_connect = admin_connect;
    admin.on_event = admin_event;
    admin.on_disconnect = on_disconnect;
    app.admin = must(hs_sio_namespace(app.server, "/admin", &admin, &app),
                     "hs_sio_namespace /admin");

    memset(&ws, 0, sizeof ws);
    ws.on_open = ws_open;
    ws.on_message = ws_message;
    must(hs_accept(app.server, "/ws/{room}", &ws, &app), "hs_accept /ws/{room}");

    must(hs_route(app.server, "GET", "/", on_index, &app), "hs_route /");
    must(hs_route(app.server, "GET", "/members", on_members, &app), "hs_route /members");
    must(hs_route(app.server, "GET", "/client/{file}", on_client_file, &app), "hs_route /client");
    must(hs_route(app.server, "GET", "/page", on_page, &app), "hs_route /page");

    if (env_get("HS_WS_ORIGINS") != NULL)
        set_origins(app.server, env_get("HS_WS_ORIGINS"));
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
        fprintf(stderr, "socketio: hs_run failed: %s: %s\n", hs_status_str(rc), hs_last_error());
    hs_free(app.server);
    return rc < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
