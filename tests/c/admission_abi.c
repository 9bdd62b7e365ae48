/*
 * admission_abi.c - the C ABI of WebSocket admission with bad arguments: every call returns
 * the documented status with a message in hs_last_error(), never a crash. Run by
 * tests/admission (pytest), which connects a real WebSocket client to it.
 *
 *   1. At startup, the server calls: hs_ws_set_origins, hs_ws_route_limit, hs_ws_authorize
 *      with NULL or freed servers, negative counts and ids, NULL and malformed entries, the id
 *      of an HTTP route, and NULL to remove the authorizer.
 *   2. Then it serves WS /abi/{room} with an authorizer that, on each upgrade, calls
 *      hs_admission_user and hs_admission_join with a NULL handle, NULL, empty, oversized and
 *      non-UTF-8 ids and names, control characters, too much info, the 101st channel; then
 *      names the user "checked" with 100 channels and accepts.
 *
 * Every check prints "ok <what>" or "FAIL <what>: ..." on stderr; after each group a line
 * "admission_abi: <group>: N checks, F failed". The listening line is printed on stdout once
 * the startup checks ran. SIGTERM ends it (exit 0).
 */
#define _POSIX_C_SOURCE 200809L

#include <httpsock.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int checks, failures;

/* rc must be `want`; if `msg` is not NULL, hs_last_error() must contain it. */
static void expect(const char *what, int rc, int want, const char *msg)
{
    const char *err = hs_last_error();
    checks++;
    if (rc != want) {
        failures++;
        fprintf(stderr, "FAIL %s: returned %d (%s), expected %d (%s); last error: %s\n", what,
                rc, hs_status_str(rc), want, hs_status_str(want), err);
    } else if (msg != NULL && strstr(err, msg) == NULL) {
        failures++;
        fprintf(stderr, "FAIL %s: message '%s' lacks '%s'\n", what, err, msg);
    } else {
        fprintf(stderr, "ok %s%s%s\n", what, msg != NULL ? ": " : "", msg != NULL ? err : "");
    }
}

static void summary(const char *group)
{
    fprintf(stderr, "admission_abi: %s: %d checks, %d failed\n", group, checks, failures);
    checks = failures = 0;
}

/* Whether buf[0..len) holds `needle` (the packed head has NULs: no strstr). */
static int contains(const uint8_t *buf, size_t len, const char *needle)
{
    size_t i, n = strlen(needle);
    for (i = 0; i + n <= len; i++)
        if (memcmp(buf + i, needle, n) == 0)
            return 1;
    return 0;
}

static int authorize(void *user_data, const hs_request *req, hs_admission *a, hs_response *res)
{
    static char big_id[258], big_channel[202], channel[16];
    static uint8_t big_info[65537];
    int i;
    const char *cookie = hs_request_header(req, "Cookie", NULL);
    const char *room = hs_request_param_named(req, "room", NULL);
    size_t packed_len = 0;
    const uint8_t *packed = hs_request_packed(req, &packed_len);
    (void)user_data;
    (void)res;

    /* What the authorizer sees of the upgrade request (pytest compares it with what it sent). */
    fprintf(stderr,
            "request: path=%s query=%s room=%s cookie=%s peer=%s route=%d conn=%llu "
            "packed_cookie=%d\n",
            hs_request_path(req, NULL), hs_request_query(req, NULL), room ? room : "(none)",
            cookie ? cookie : "(none)", hs_request_peer_ip(req, NULL), hs_request_route_id(req),
            (unsigned long long)hs_request_conn_id(req),
            packed != NULL && contains(packed, packed_len, "cookie: session=abc\r\n"));

    memset(big_id, 'u', sizeof big_id - 1);
    memset(big_channel, 'c', sizeof big_channel - 1);

    expect("user: NULL admission", hs_admission_user(NULL, "u", NULL, 0), HS_ERR_INVALID,
           "admission handle is NULL");
    expect("user: NULL id", hs_admission_user(a, NULL, NULL, 0), HS_ERR_INVALID,
           "user_id is NULL");
    expect("user: empty id", hs_admission_user(a, "", NULL, 0), HS_ERR_INVALID,
           "user id is empty");
    expect("user: 257-byte id", hs_admission_user(a, big_id, NULL, 0), HS_ERR_INVALID,
           "at most 256");
    expect("user: id not UTF-8", hs_admission_user(a, "\xff\xfe", NULL, 0), HS_ERR_INVALID,
           "not valid UTF-8");
    expect("user: NULL info with a length", hs_admission_user(a, "u", NULL, 5), HS_ERR_INVALID,
           "info is NULL but its length is 5");
    expect("user: 65537 bytes of info", hs_admission_user(a, "u", big_info, sizeof big_info),
           HS_ERR_INVALID, "at most 65536");
    big_id[256] = '\0';
    expect("user: 256-byte id, 65536 bytes of info",
           hs_admission_user(a, big_id, big_info, sizeof big_info - 1), HS_OK, NULL);

    expect("join: NULL admission", hs_admission_join(NULL, "c"), HS_ERR_INVALID,
           "admission handle is NULL");
    expect("join: NULL channel", hs_admission_join(a, NULL), HS_ERR_INVALID, "channel is NULL");
    expect("join: empty channel", hs_admission_join(a, ""), HS_ERR_INVALID,
           "channel name is empty");
    expect("join: 201-byte channel", hs_admission_join(a, big_channel), HS_ERR_INVALID,
           "at most 200");
    expect("join: a newline", hs_admission_join(a, "a\nb"), HS_ERR_INVALID, "U+000A");
    expect("join: DEL", hs_admission_join(a, "a\x7f"), HS_ERR_INVALID, "U+007F");
    expect("join: not UTF-8", hs_admission_join(a, "\xc3"), HS_ERR_INVALID, "not valid UTF-8");
    big_channel[200] = '\0';
    expect("join: 200-byte channel", hs_admission_join(a, big_channel), HS_OK, NULL);
    for (i = 1; i < 100; i++) {
        snprintf(channel, sizeof channel, "room-%d", i);
        if (hs_admission_join(a, channel) != HS_OK)
            break;
    }
    expect("join: channels 2 to 100", i, 100, NULL);
    expect("join: a channel named twice", hs_admission_join(a, "room-1"), HS_OK, NULL);
    expect("join: the 101st channel", hs_admission_join(a, "room-101"), HS_ERR_INVALID,
           "more than 100 channels");

    expect("user: replaced", hs_admission_user(a, "checked", (const uint8_t *)"{}", 2), HS_OK,
           NULL);
    summary("authorizer");
    return 1;
}

static void on_page(void *ud, const hs_request *req, hs_response *res)
{
    (void)ud;
    (void)req;
    (void)res;
}

static void on_message(void *ud, uint64_t id, const uint8_t *data, size_t len, int is_binary)
{
    hs_server *s = ud;
    hs_ws_send(s, id, (const char *)data, len, is_binary);
}

int main(void)
{
    const char *good[] = {"https://app.example", "*"};
    const char *with_null[] = {"https://app.example", NULL};
    const char *with_path[] = {"https://app.example", "https://app.example/chat"};
    hs_ws_handlers handlers = {NULL, on_message, NULL};
    hs_server *s = hs_new("127.0.0.1", 0), *dead = hs_new("127.0.0.1", 0);
    int http_route, ws_route;

    if (s == NULL || dead == NULL) {
        fprintf(stderr, "admission_abi: hs_new failed: %s\n", hs_last_error());
        return 1;
    }
    hs_free(dead);
    http_route = hs_route(s, "GET", "/", on_page, NULL);
    ws_route = hs_accept(s, "/abi/{room}", &handlers, s);
    if (http_route < 0 || ws_route < 0) {
        fprintf(stderr, "admission_abi: routes failed: %s\n", hs_last_error());
        return 1;
    }

    expect("origins: NULL server", hs_ws_set_origins(NULL, good, 2), HS_ERR_INVALID,
           "server handle is NULL");
    expect("origins: freed server", hs_ws_set_origins(dead, good, 2), HS_ERR_STATE, "not live");
    expect("origins: negative count", hs_ws_set_origins(s, good, -1), HS_ERR_INVALID,
           "count -1 is negative");
    expect("origins: NULL list, count 1", hs_ws_set_origins(s, NULL, 1), HS_ERR_INVALID,
           "origins is NULL but count is 1");
    expect("origins: a NULL entry", hs_ws_set_origins(s, with_null, 2), HS_ERR_INVALID,
           "origins[1] is NULL");
    expect("origins: an entry with a path", hs_ws_set_origins(s, with_path, 2), HS_ERR_INVALID,
           "'https://app.example/chat' is not an origin");
    expect("origins: valid", hs_ws_set_origins(s, good, 2), HS_OK, NULL);
    expect("origins: NULL list, count 0 (no check)", hs_ws_set_origins(s, NULL, 0), HS_OK, NULL);

    expect("limit: NULL server", hs_ws_route_limit(NULL, ws_route, 1), HS_ERR_INVALID,
           "server handle is NULL");
    expect("limit: freed server", hs_ws_route_limit(dead, ws_route, 1), HS_ERR_STATE,
           "not live");
    expect("limit: negative route id", hs_ws_route_limit(s, -1, 1), HS_ERR_INVALID,
           "route id -1 is negative");
    expect("limit: unknown route id", hs_ws_route_limit(s, 999, 1), HS_ERR_NOT_FOUND,
           "no accept route with id 999");
    expect("limit: an HTTP route's id", hs_ws_route_limit(s, http_route, 1), HS_ERR_NOT_FOUND,
           "no accept route");
    expect("limit: negative max", hs_ws_route_limit(s, ws_route, -5), HS_ERR_INVALID,
           "max_clients -5 is negative");
    expect("limit: valid", hs_ws_route_limit(s, ws_route, 10), HS_OK, NULL);
    expect("limit: 0 removes it", hs_ws_route_limit(s, ws_route, 0), HS_OK, NULL);

    expect("authorize: NULL server", hs_ws_authorize(NULL, authorize, NULL), HS_ERR_INVALID,
           "server handle is NULL");
    expect("authorize: freed server", hs_ws_authorize(dead, authorize, NULL), HS_ERR_STATE,
           "not live");
    expect("authorize: set", hs_ws_authorize(s, authorize, NULL), HS_OK, NULL);
    expect("authorize: NULL removes it", hs_ws_authorize(s, NULL, NULL), HS_OK, NULL);
    expect("authorize: set again", hs_ws_authorize(s, authorize, NULL), HS_OK, NULL);
    summary("startup");

    if (hs_websocket(s, 1) < 0 || hs_set_debug(s, 1) < 0 || hs_handle_signals(s, 1) < 0 ||
        hs_start(s) < 0) {
        fprintf(stderr, "admission_abi: start failed: %s\n", hs_last_error());
        return 1;
    }
    printf("listening on http://127.0.0.1:%d\n", hs_port(s));
    fflush(stdout);
    if (hs_run(s) < 0) {
        fprintf(stderr, "admission_abi: hs_run failed: %s\n", hs_last_error());
        return 1;
    }
    hs_free(s);
    return 0;
}
