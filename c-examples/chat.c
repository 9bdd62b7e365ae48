/*
 * chat.c - a small real-time chat room with httpsock: one web page and one WebSocket route.
 *
 *   GET /      the chat page (HTML and JavaScript, kept inline below)
 *   WS  /chat  the room
 *
 * Protocol: every frame the server sends is a JSON text message.
 *   {"type":"welcome","id":7,"clients":3}          to a newcomer: its id and the head count
 *   {"type":"join","id":7,"clients":3}             to everyone else when a client arrives
 *   {"type":"leave","id":7,"clients":2}            to everyone left when a client goes
 *   {"type":"message","from":7,"text":"hi"}        a chat line (see below)
 *   {"type":"tick","clients":2,"time":1700000000}  every second (time: Unix seconds)
 *
 * A client sends plain text frames; each becomes a "message" that is broadcast to all the
 * other clients (hs_ws_broadcast with except_conn = the sender) and also sent back to the
 * sender itself. The echo is deliberate: it confirms the line was accepted and gives every
 * client the same ordered history, so the page shows a line only when it comes back. Binary
 * frames are refused with close code 1003.
 *
 * Usage: chat [PORT [ADDRESS]]    PORT 8080 by default (0 = any free port),
 *                                 ADDRESS 127.0.0.1 by default.
 *
 * TLS (HS_TLS_CERT=cert.pem HS_TLS_KEY=key.pem: the page over https, the room over wss),
 * HTTP/2, permessage-deflate and limits come from the environment: see env_tls.h. SIGHUP
 * reloads the certificates. The join line in the log names the protocol the upgrade came over
 * (HTTP/2.0: a WebSocket over HTTP/2, RFC 8441) and the extensions the client offered.
 *
 * SIGINT/SIGTERM shut the server down gracefully: clients receive Close 1001, the program
 * exits 0.
 */
#define _POSIX_C_SOURCE 200809L /* sigaction() in env_tls.h */

#include <httpsock.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "env_tls.h"

/* Everything the callbacks share, handed to them as user_data. It lives in main() and so
 * outlives the server, as the API requires. */
typedef struct {
    hs_server *server;
    int route;   /* the /chat accept route, to count its clients */
    char *page;  /* the chat page, assembled once at startup */
    size_t page_len;
} chat_app;

/* ---- error reporting ----------------------------------------------------------------------- */

static int must(int rc, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "chat: %s failed: %s: %s\n", what, hs_status_str(rc), hs_last_error());
        exit(EXIT_FAILURE);
    }
    return rc;
}

/* Inside callbacks a failure is only logged: a client that left meanwhile (HS_ERR_NOT_FOUND)
 * or that stopped reading (HS_ERR_FULL, it is being dropped) must not stop the room. */
static void warn(int rc, const char *what)
{
    if (rc < 0)
        fprintf(stderr, "chat: %s failed: %s: %s\n", what, hs_status_str(rc), hs_last_error());
}

/* ---- sending JSON -------------------------------------------------------------------------- */

/* To every client except `except` (0 = nobody excepted). The payload is copied once. */
static void broadcast(chat_app *app, const char *json, size_t len, uint64_t except)
{
    warn(hs_ws_broadcast(app->server, json, len, 0, except), "hs_ws_broadcast");
}

static void send_to(chat_app *app, uint64_t conn_id, const char *json, size_t len)
{
    warn(hs_ws_send(app->server, conn_id, json, len, 0), "hs_ws_send");
}

/* Writes s[0..n) into out as a JSON string body and returns the bytes written. `out` needs
 * room for 6 * n bytes (the worst case, every byte a \u00XX escape). The input is UTF-8 (the
 * engine checks text frames), so only '"', '\' and control characters need escaping. */
static size_t json_escape(const char *s, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    size_t i, o = 0;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else if (c < 0x20 || c == 0x7f) {
            out[o++] = '\\';
            out[o++] = 'u';
            out[o++] = '0';
            out[o++] = '0';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 0xf];
        } else {
            out[o++] = (char)c;
        }
    }
    return o;
}

/* ---- the WebSocket room ---------------------------------------------------------------------- */

/* A client joined: welcome it, tell the others. hs_ws_count already includes it. */
static void on_open(void *user_data, uint64_t conn_id, const hs_request *req)
{
    chat_app *app = user_data;
    int clients = hs_ws_count(app->server, app->route);
    const char *offered = hs_request_header(req, "Sec-WebSocket-Extensions", NULL);
    char json[128];
    int len;

    len = snprintf(json, sizeof json, "{\"type\":\"welcome\",\"id\":%" PRIu64 ",\"clients\":%d}",
                   conn_id, clients);
    send_to(app, conn_id, json, (size_t)len);
    len = snprintf(json, sizeof json, "{\"type\":\"join\",\"id\":%" PRIu64 ",\"clients\":%d}",
                   conn_id, clients);
    broadcast(app, json, (size_t)len, conn_id);
    fprintf(stderr, "chat: #%" PRIu64 " joined over %s offering extensions '%s' (%d in the room)\n",
            conn_id, hs_request_version(req), offered ? offered : "", clients);
}

/* A chat line: wrap it in JSON, send it to the others and echo it to the sender. */
static void on_message(void *user_data, uint64_t conn_id, const uint8_t *data, size_t len,
                       int is_binary)
{
    static const char head_fmt[] = "{\"type\":\"message\",\"from\":%" PRIu64 ",\"text\":\"";
    static const char tail[] = "\"}";
    chat_app *app = user_data;
    char *json;
    size_t used;

    if (is_binary) {
        warn(hs_ws_close(app->server, conn_id, 1003, "text messages only"), "hs_ws_close");
        return;
    }
    /* head (< 64 bytes with a 20-digit id) + escaped text (<= 6 bytes per byte) + tail */
    json = malloc(64 + 6 * len + sizeof tail);
    if (json == NULL) {
        fprintf(stderr, "chat: out of memory for a %zu-byte message from #%" PRIu64 "\n", len,
                conn_id);
        return;
    }
    used = (size_t)sprintf(json, head_fmt, conn_id);
    used += json_escape((const char *)data, len, json + used); /* text: UTF-8, checked */
    memcpy(json + used, tail, sizeof tail - 1);
    used += sizeof tail - 1;

    broadcast(app, json, used, conn_id); /* everyone else... */
    send_to(app, conn_id, json, used);   /* ...and the sender's own copy */
    free(json);
}

/* A client left (the engine already removed it, so the count no longer includes it). */
static void on_close(void *user_data, uint64_t conn_id, int code, const char *reason)
{
    chat_app *app = user_data;
    int clients = hs_ws_count(app->server, app->route);
    char json[128];
    int len = snprintf(json, sizeof json,
                       "{\"type\":\"leave\",\"id\":%" PRIu64 ",\"clients\":%d}", conn_id, clients);
    broadcast(app, json, (size_t)len, conn_id);
    fprintf(stderr, "chat: #%" PRIu64 " left with code %d%s%s (%d in the room)\n", conn_id, code,
            reason && *reason ? ", " : "", reason ? reason : "", clients);
}

/* Every second, on the event-loop thread: the head count and the server's clock. */
static void on_tick(void *user_data)
{
    chat_app *app = user_data;
    char json[128];
    int len = snprintf(json, sizeof json, "{\"type\":\"tick\",\"clients\":%d,\"time\":%lld}",
                       hs_ws_count(app->server, app->route), (long long)time(NULL));
    broadcast(app, json, (size_t)len, 0);
}

/* ---- the page ------------------------------------------------------------------------------ */

/* ISO C99 only promises string literals up to 4095 bytes (-pedantic warns beyond), so the page
 * is kept in a few pieces and joined at startup. The script builds every line with textContent,
 * never innerHTML: what users type is never parsed as HTML. */
static const char *const page_parts[] = {
    "<!doctype html>\n"
    "<html lang=\"en\">\n"
    "<head>\n"
    "<meta charset=\"utf-8\">\n"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    "<title>httpsock chat</title>\n"
    "<style>\n"
    "  * { box-sizing: border-box; }\n"
    "  body { margin: 0; font: 15px/1.4 system-ui, sans-serif; background: #f4f5f7;\n"
    "         display: flex; flex-direction: column; height: 100vh; }\n"
    "  header { padding: .6em 1em; background: #1f2937; color: #fff; display: flex;\n"
    "           gap: 1em; align-items: baseline; }\n"
    "  header h1 { font-size: 1.1em; margin: 0; flex: 1; }\n"
    "  #status.off { color: #f87171; }\n"
    "  #log { flex: 1; overflow-y: auto; margin: 0; padding: 1em; list-style: none; }\n"
    "  #log li { margin: .25em 0; }\n"
    "  #log .who { font-weight: 600; margin-right: .4em; }\n"
    "  #log .me .who { color: #2563eb; }\n"
    "  #log .event { color: #6b7280; font-style: italic; }\n"
    "  form { display: flex; gap: .5em; padding: .75em 1em; background: #fff;\n"
    "         border-top: 1px solid #ddd; }\n"
    "  input { flex: 1; padding: .5em; font: inherit; }\n"
    "  button { padding: .5em 1.2em; font: inherit; }\n"
    "</style>\n"
    "</head>\n",

    "<body>\n"
    "<header>\n"
    "  <h1>httpsock chat</h1>\n"
    "  <span id=\"status\" class=\"off\">connecting...</span>\n"
    "  <span id=\"count\"></span>\n"
    "  <span id=\"clock\"></span>\n"
    "</header>\n"
    "<ul id=\"log\"></ul>\n"
    "<form id=\"form\" autocomplete=\"off\">\n"
    "  <input id=\"text\" placeholder=\"Say something\" maxlength=\"2000\" autofocus>\n"
    "  <button>Send</button>\n"
    "</form>\n",

    "<script>\n"
    "'use strict';\n"
    "const $ = (id) => document.getElementById(id);\n"
    "let ws = null, me = null, retry = 500;\n"
    "\n"
    "function add(cls, who, text) {\n"
    "  const li = document.createElement('li');\n"
    "  li.className = cls;\n"
    "  if (who) {\n"
    "    const b = document.createElement('span');\n"
    "    b.className = 'who';\n"
    "    b.textContent = who;\n"
    "    li.appendChild(b);\n"
    "  }\n"
    "  li.appendChild(document.createTextNode(text));\n"
    "  const log = $('log');\n"
    "  const atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 5;\n"
    "  log.appendChild(li);\n"
    "  if (atEnd) log.scrollTop = log.scrollHeight;\n"
    "}\n"
    "\n"
    "function setCount(n) { $('count').textContent = n + (n === 1 ? ' person' : ' people'); }\n"
    "\n"
    "function connect() {\n"
    "  const scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';\n"
    "  ws = new WebSocket(scheme + location.host + '/chat');\n"
    "  ws.onopen = () => { retry = 500; };\n"
    "  ws.onmessage = (ev) => {\n"
    "    const m = JSON.parse(ev.data);\n"
    "    switch (m.type) {\n"
    "    case 'welcome':\n"
    "      me = m.id;\n"
    "      $('status').textContent = 'you are #' + me;\n"
    "      $('status').className = '';\n"
    "      setCount(m.clients);\n"
    "      add('event', '', 'You joined as #' + me + '.');\n"
    "      break;\n"
    "    case 'join': setCount(m.clients); add('event', '', '#' + m.id + ' joined.'); break;\n"
    "    case 'leave': setCount(m.clients); add('event', '', '#' + m.id + ' left.'); break;\n"
    "    case 'message':\n"
    "      add(m.from === me ? 'me' : '', m.from === me ? 'you' : '#' + m.from, m.text);\n"
    "      break;\n"
    "    case 'tick':\n"
    "      setCount(m.clients);\n"
    "      $('clock').textContent = new Date(m.time * 1000).toLocaleTimeString();\n"
    "      break;\n"
    "    }\n"
    "  };\n"
    "  ws.onclose = (ev) => {\n"
    "    $('status').textContent = 'disconnected (' + ev.code + '), retrying...';\n"
    "    $('status').className = 'off';\n"
    "    setTimeout(connect, retry);\n"
    "    retry = Math.min(retry * 2, 10000);\n"
    "  };\n"
    "}\n"
    "\n"
    "$('form').addEventListener('submit', (ev) => {\n"
    "  ev.preventDefault();\n"
    "  const text = $('text').value.trim();\n"
    "  if (text && ws && ws.readyState === WebSocket.OPEN) {\n"
    "    ws.send(text);\n"
    "    $('text').value = '';\n"
    "  }\n"
    "});\n"
    "connect();\n"
    "</script>\n"
    "</body>\n"
    "</html>\n",
};

/* Joins page_parts into one buffer. */
static int build_page(chat_app *app)
{
    size_t i, n = sizeof page_parts / sizeof page_parts[0], total = 0;
    for (i = 0; i < n; i++)
        total += strlen(page_parts[i]);
    app->page = malloc(total + 1);
    if (app->page == NULL)
        return -1;
    app->page_len = 0;
    for (i = 0; i < n; i++) {
        size_t len = strlen(page_parts[i]);
        memcpy(app->page + app->page_len, page_parts[i], len);
        app->page_len += len;
    }
    app->page[app->page_len] = '\0';
    return 0;
}

/* GET / */
static void on_page(void *user_data, const hs_request *req, hs_response *res)
{
    static const char headers[] = "Content-Type: text/html; charset=utf-8\r\n"
                                  "Cache-Control: no-cache\r\n";
    chat_app *app = user_data;
    (void)req;
    warn(hs_respond(res, 200, headers, sizeof headers - 1, app->page, app->page_len),
         "hs_respond");
}

/* ---- main ---------------------------------------------------------------------------------- */

static int parse_port(const char *s)
{
    char *end;
    long port = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || port < 0 || port > 65535) {
        fprintf(stderr, "usage: chat [PORT [ADDRESS]]  (PORT 0-65535, got '%s')\n", s);
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
    chat_app app;
    int rc;

    if (build_page(&app) != 0) {
        fprintf(stderr, "chat: out of memory\n");
        return EXIT_FAILURE;
    }
    app.server = hs_new(address, port);
    if (app.server == NULL) {
        fprintf(stderr, "chat: hs_new failed: %s\n", hs_last_error());
        return EXIT_FAILURE;
    }

    must(hs_route(app.server, "GET", "/", on_page, &app), "hs_route /");

    must(hs_websocket(app.server, 1), "hs_websocket");
    must(hs_set_limit(app.server, HS_LIMIT_WS_MAX_MESSAGE, 16 * 1024), "hs_set_limit");
    handlers.on_open = on_open;
    handlers.on_message = on_message;
    handlers.on_close = on_close;
    app.route = must(hs_accept(app.server, "/chat", &handlers, &app), "hs_accept /chat");

    /* A repeating timer runs on the event loop, like every other callback. */
    if (hs_add_timer(app.server, 1000, 1, on_tick, &app) < 0) {
        fprintf(stderr, "chat: hs_add_timer failed: %s\n", hs_last_error());
        return EXIT_FAILURE;
    }

    /* Limits, certificates (wss), HTTP/2, compression: from the environment (env_tls.h). */
    env_configure(&env, app.server, "chat");

    must(hs_handle_signals(app.server, 1), "hs_handle_signals");
    must(hs_start(app.server), "hs_start");
    env_print_listening(&env, address);

    rc = hs_run(app.server);
    if (rc < 0)
        fprintf(stderr, "chat: hs_run failed: %s: %s\n", hs_status_str(rc), hs_last_error());
    hs_free(app.server); /* after this, no callback can run: the page may go */
    free(app.page);
    return rc < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
