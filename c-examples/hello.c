/*
 * hello.c - the smallest useful httpsock program: a few HTTP routes.
 *
 *   GET  /              200 text/plain        Hello, World!
 *   GET  /hello/{name}  200 application/json  {"hello":"<name>"}
 *   GET  /user/{id}     200 application/json  {"id":"<id>","q":"<q>","req":"<req>"}
 *                       q = the query field "q", req = the X-Req-Id header ("" when absent)
 *   POST /echo          200 the request body, with the request's Content-Type
 *   GET  /whoami        200 application/json  {"version":"HTTP/2.0","secure":true}
 *                       what the request says about its connection
 *   anything else       the engine's own 404
 *
 * Usage: hello [PORT [ADDRESS]]    PORT 8080 by default (0 = any free port),
 *                                  ADDRESS 127.0.0.1 by default.
 *
 * Limits, TLS (HS_TLS_CERT=cert.pem HS_TLS_KEY=key.pem: https), HTTP/2 and the other settings
 * come from the environment: see env_tls.h. SIGHUP reloads the certificates.
 *
 * Captures and the query string arrive as sent (percent-encoded): this program decodes them,
 * answers 400 when the decoded text is not UTF-8, and JSON-escapes what it echoes.
 * SIGINT/SIGTERM shut the server down gracefully and the program exits 0.
 */
#define _POSIX_C_SOURCE 200809L /* sigaction() in env_tls.h */

#include <httpsock.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "env_tls.h"

/* ---- error reporting --------------------------------------------------------------------- */

/* Every int-returning hs_* call gives a negative hs_status on failure; hs_last_error() then
 * says why. A failure while setting up ends the program... */
static int must(int rc, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "hello: %s failed: %s: %s\n", what, hs_status_str(rc), hs_last_error());
        exit(EXIT_FAILURE);
    }
    return rc;
}

/* ...one inside a handler is logged (a handler that leaves an invalid response behind gets a
 * 500 from the engine). */
static void warn(int rc, const char *what)
{
    if (rc < 0)
        fprintf(stderr, "hello: %s failed: %s: %s\n", what, hs_status_str(rc), hs_last_error());
}

/* ---- a growable byte buffer ---------------------------------------------------------------- */

typedef struct {
    char *data;
    size_t len, cap;
    int failed; /* an allocation failed: the content is incomplete */
    int heap;   /* data was allocated (else it is the caller's stack array) */
} buf;

/* A buffer over a stack array: no allocation unless the text outgrows it (most requests). */
#define BUF_ON(array) {(array), 0, sizeof(array), 0, 0}

static void buf_add(buf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        char *p;
        while (cap < b->len + n + 1)
            cap *= 2;
        p = b->heap ? realloc(b->data, cap) : malloc(cap);
        if (p == NULL) {
            b->failed = 1;
            return;
        }
        if (!b->heap && b->len > 0)
            memcpy(p, b->data, b->len);
        b->data = p;
        b->cap = cap;
        b->heap = 1;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0'; /* always NUL-terminated */
}

static void buf_adds(buf *b, const char *s) { buf_add(b, s, strlen(s)); }

static void buf_free(buf *b)
{
    if (b->heap)
        free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->heap = 0;
}

/* ---- text helpers ------------------------------------------------------------------------- */

/* Appends s[0..n) as the inside of a JSON string: '"', '\' and control characters escaped,
 * everything else (valid UTF-8) copied as it is. */
static void buf_add_json(buf *b, const char *s, size_t n)
{
    size_t i, run = 0; /* s[run..i) needs no escape: copied in one go */
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        buf_add(b, s + run, i - run);
        run = i + 1;
        switch (c) {
        case '"':  buf_adds(b, "\\\""); break;
        case '\\': buf_adds(b, "\\\\"); break;
        case '\n': buf_adds(b, "\\n"); break;
        case '\r': buf_adds(b, "\\r"); break;
        case '\t': buf_adds(b, "\\t"); break;
        default:
            snprintf(esc, sizeof esc, "\\u%04x", (unsigned)c);
            buf_adds(b, esc);
        }
    }
    buf_add(b, s + run, n - run);
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Appends s[0..n) percent-decoded; with plus_is_space (query strings) '+' becomes ' '.
 * A '%' not followed by two hex digits is kept literally. */
static void buf_add_decoded(buf *b, const char *s, size_t n, int plus_is_space)
{
    size_t i, run = 0; /* s[run..i) is copied as it is, in one go */
    for (i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%' && i + 2 < n && hex_digit(s[i + 1]) >= 0 && hex_digit(s[i + 2]) >= 0) {
            c = (char)(hex_digit(s[i + 1]) * 16 + hex_digit(s[i + 2]));
            buf_add(b, s + run, i - run);
            buf_add(b, &c, 1);
            i += 2;
            run = i + 1;
        } else if (c == '+' && plus_is_space) {
            buf_add(b, s + run, i - run);
            buf_add(b, " ", 1);
            run = i + 1;
        }
    }
    buf_add(b, s + run, n - run);
}

/* 1 if s[0..n) is well-formed UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF. */
static int utf8_valid(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        unsigned long cp, min;
        size_t more;
        if (s[i] < 0x80) {
            i++;
            continue;
        } else if ((s[i] & 0xE0) == 0xC0) {
            more = 1; cp = s[i] & 0x1F; min = 0x80;
        } else if ((s[i] & 0xF0) == 0xE0) {
            more = 2; cp = s[i] & 0x0F; min = 0x800;
        } else if ((s[i] & 0xF8) == 0xF0) {
            more = 3; cp = s[i] & 0x07; min = 0x10000;
        } else {
            return 0;
        }
        if (n - i - 1 < more)
            return 0;
        for (i++; more > 0; more--, i++) {
            if ((s[i] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
    }
    return 1;
}

/* Appends the decoded value of the first `name` field of a query string ("a=1&q=x+y"), or
 * nothing when there is none. */
static void buf_add_query_field(buf *b, const char *query, size_t n, const char *name)
{
    size_t name_len = strlen(name);
    size_t start = 0;
    while (start <= n) {
        const char *field = query + start;
        const char *amp = memchr(field, '&', n - start);
        size_t flen = amp ? (size_t)(amp - field) : n - start;
        const char *eq = memchr(field, '=', flen);
        size_t klen = eq ? (size_t)(eq - field) : flen;
        char key_store[64];
        buf key = BUF_ON(key_store);
        int match;
        buf_add_decoded(&key, field, klen, 1);
        match = !key.failed && key.len == name_len && memcmp(key.data, name, name_len) == 0;
        buf_free(&key);
        if (match) {
            if (eq)
                buf_add_decoded(b, eq + 1, flen - klen - 1, 1);
            return;
        }
        start += flen + 1;
    }
}

/* ---- responses ----------------------------------------------------------------------------- */

static void send_text(hs_response *res, int status, const char *text)
{
    static const char headers[] = "Content-Type: text/plain\r\n";
    warn(hs_respond(res, status, headers, sizeof headers - 1, text, strlen(text)), "hs_respond");
}

/* Sends a finished JSON document; a buffer that ran out of memory becomes a 500. */
static void send_json(hs_response *res, const buf *json)
{
    static const char headers[] = "Content-Type: application/json\r\n";
    if (json->failed) {
        send_text(res, 500, "out of memory\n");
        return;
    }
    warn(hs_respond(res, 200, headers, sizeof headers - 1, json->data, json->len), "hs_respond");
}

/* ---- handlers ------------------------------------------------------------------------------ */

/* GET / */
static void on_root(void *user_data, const hs_request *req, hs_response *res)
{
    (void)user_data;
    (void)req;
    send_text(res, 200, "Hello, World!");
}

/* GET /hello/{name} */
static void on_hello(void *user_data, const hs_request *req, hs_response *res)
{
    size_t len = 0;
    const char *raw = hs_request_param_named(req, "name", &len);
    char name_s[128], json_s[256];
    buf name = BUF_ON(name_s), json = BUF_ON(json_s);
    (void)user_data;

    buf_add_decoded(&name, raw ? raw : "", raw ? len : 0, 0);
    if (!utf8_valid(name.data ? name.data : "", name.len)) {
        send_text(res, 400, "name is not UTF-8\n");
    } else {
        buf_adds(&json, "{\"hello\":\"");
        buf_add_json(&json, name.data ? name.data : "", name.len);
        buf_adds(&json, "\"}");
        json.failed |= name.failed;
        send_json(res, &json);
    }
    buf_free(&name);
    buf_free(&json);
}

/* GET /user/{id}?q=...  with an optional X-Req-Id header */
static void on_user(void *user_data, const hs_request *req, hs_response *res)
{
    size_t id_len = 0, query_len = 0, req_len = 0;
    const char *id_raw = hs_request_param_named(req, "id", &id_len);
    const char *query = hs_request_query(req, &query_len);
    const char *req_id = hs_request_header(req, "X-Req-Id", &req_len); /* NULL when absent */
    char id_s[128], q_s[128], json_s[512];
    buf id = BUF_ON(id_s), q = BUF_ON(q_s), json = BUF_ON(json_s);
    (void)user_data;

    buf_add_decoded(&id, id_raw ? id_raw : "", id_raw ? id_len : 0, 0);
    if (query != NULL)
        buf_add_query_field(&q, query, query_len, "q");
    if (req_id == NULL) {
        req_id = "";
        req_len = 0;
    }

    if (!utf8_valid(id.data ? id.data : "", id.len) || !utf8_valid(q.data ? q.data : "", q.len) ||
        !utf8_valid(req_id, req_len)) {
        send_text(res, 400, "id, q and X-Req-Id must be UTF-8\n");
    } else {
        buf_adds(&json, "{\"id\":\"");
        buf_add_json(&json, id.data ? id.data : "", id.len);
        buf_adds(&json, "\",\"q\":\"");
        buf_add_json(&json, q.data ? q.data : "", q.len);
        buf_adds(&json, "\",\"req\":\"");
        buf_add_json(&json, req_id, req_len);
        buf_adds(&json, "\"}");
        json.failed |= id.failed | q.failed;
        send_json(res, &json);
    }
    buf_free(&id);
    buf_free(&q);
    buf_free(&json);
}

/* POST /echo: the body back, labelled with the request's Content-Type (none if it had none). */
static void on_echo(void *user_data, const hs_request *req, hs_response *res)
{
    size_t body_len = 0;
    const uint8_t *body = hs_request_body(req, &body_len); /* bytes: may contain NULs */
    const char *type = hs_request_header(req, "Content-Type", NULL);
    (void)user_data;

    if (type != NULL)
        warn(hs_response_add_header(res, "Content-Type", type), "hs_response_add_header");
    warn(hs_response_set_body(res, (const char *)body, body_len), "hs_response_set_body");
}

/* GET /whoami: the protocol version and whether the connection is TLS, as the engine sees them. */
static void on_whoami(void *user_data, const hs_request *req, hs_response *res)
{
    buf json = {0};
    (void)user_data;
    buf_adds(&json, "{\"version\":\"");
    buf_adds(&json, hs_request_version(req));
    buf_adds(&json, "\",\"secure\":");
    buf_adds(&json, hs_request_is_secure(req) == 1 ? "true}" : "false}");
    send_json(res, &json);
    buf_free(&json);
}

/* ---- main ---------------------------------------------------------------------------------- */

static int parse_port(const char *s)
{
    char *end;
    long port = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || port < 0 || port > 65535) {
        fprintf(stderr, "usage: hello [PORT [ADDRESS]]  (PORT 0-65535, got '%s')\n", s);
        exit(2);
    }
    return (int)port;
}

int main(int argc, char **argv)
{
    int port = argc > 1 ? parse_port(argv[1]) : 8080;
    const char *address = argc > 2 ? argv[2] : "127.0.0.1";
    env_settings env;
    int rc;

    hs_server *server = hs_new(address, port);
    if (server == NULL) {
        fprintf(stderr, "hello: hs_new failed: %s\n", hs_last_error());
        return EXIT_FAILURE;
    }

    /* Routes: an anchored pattern over the path; {name} is a named capture. */
    must(hs_route(server, "GET", "/", on_root, NULL), "hs_route /");
    must(hs_route(server, "GET", "/hello/{name}", on_hello, NULL), "hs_route /hello/{name}");
    must(hs_route(server, "GET", "/user/{id}", on_user, NULL), "hs_route /user/{id}");
    must(hs_route(server, "POST", "/echo", on_echo, NULL), "hs_route /echo");
    must(hs_route(server, "GET", "/whoami", on_whoami, NULL), "hs_route /whoami");

    /* Limits, certificates, HTTP/2: from the environment (env_tls.h). */
    env_configure(&env, server, "hello");

    /* SIGINT/SIGTERM end hs_run() gracefully instead of killing the process. */
    must(hs_handle_signals(server, 1), "hs_handle_signals");

    /* Bind now so that the real port (port 0 = ephemeral) can be announced before serving. */
    must(hs_start(server), "hs_start");
    env_print_listening(&env, address);

    /* Serve on this thread until a signal (or hs_shutdown) stops the server. */
    rc = hs_run(server);
    if (rc < 0)
        fprintf(stderr, "hello: hs_run failed: %s: %s\n", hs_status_str(rc), hs_last_error());
    hs_free(server);
    return rc < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
