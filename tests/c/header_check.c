/*
 * header_check.c - include/httpsock.h must compile warning-free as C99 and as C++, and link.
 *
 *   gcc -std=c99 -Wall -Wextra -Werror -pedantic -Iinclude tests/c/header_check.c -Ltarget/release -lhttpsock
 *   g++ -x c++ -Wall -Wextra -Werror -pedantic -Iinclude tests/c/header_check.c -Ltarget/release -lhttpsock
 *
 * It defines a callback of every callback type, takes the address of every exported function
 * (so a missing symbol fails at link time) and, when run, prints hs_version().
 * The code is the common subset of C99 and C++ (no designated initializers, no implicit
 * conversions from void *).
 */
#include <httpsock.h>
#include <httpsock.h> /* the include guard makes a second inclusion harmless */

#include <stdio.h>

/* A generic function pointer type; casting to it is valid C and C++ (and exempt from
 * -Wcast-function-type). */
typedef void (*any_fn)(void);

static void handler(void *ud, const hs_request *req, hs_response *res) { (void)ud; (void)req; (void)res; }
static void err_handler(void *ud, const hs_request *req, hs_answer t, hs_response *res) { (void)ud; (void)req; (void)t; (void)res; }
static void packed(void *ud, const uint8_t *h, size_t hn, const uint8_t *b, size_t bn, hs_response *res) { (void)ud; (void)h; (void)hn; (void)b; (void)bn; (void)res; }
static void timer_cb(void *ud) { (void)ud; }
static void log_cb(void *ud, const char *line) { (void)ud; (void)line; }
static void ws_open(void *ud, uint64_t id, const hs_request *req) { (void)ud; (void)id; (void)req; }
static void ws_msg(void *ud, uint64_t id, const uint8_t *d, size_t n, int bin) { (void)ud; (void)id; (void)d; (void)n; (void)bin; }
static void ws_close(void *ud, uint64_t id, int code, const char *reason) { (void)ud; (void)id; (void)code; (void)reason; }
static int authorize(void *ud, const hs_request *req, hs_admission *a, hs_response *res) { (void)ud; (void)req; (void)a; (void)res; return 1; }

int main(void)
{
    hs_handler h = handler;
    hs_packed_handler ph = packed;
    hs_error_handler eh = err_handler;
    hs_response_filter rf = handler;
    hs_timer_cb tc = timer_cb;
    hs_log_cb lc = log_cb;
    hs_ws_handlers wh = {ws_open, ws_msg, ws_close};
    hs_authorize_handler ah = authorize;
    hs_status st = HS_ERR_PANIC;
    hs_limit lim = HS_LIMIT_H2_MAX_STREAMS;
    hs_answer et = HS_ANSWER_PAYLOAD_TOO_LARGE;
    hs_answer rt = HS_ANSWER_ROUTE_FULL;
    const any_fn fns[] = {
        (any_fn)&hs_route, (any_fn)&hs_route_packed, (any_fn)&hs_request_packed,
        (any_fn)&hs_route_fast, (any_fn)&hs_fast_response,
        (any_fn)&hs_cluster_join, (any_fn)&hs_listener_fd, (any_fn)&hs_adopt_listener,
        (any_fn)&hs_on_error, (any_fn)&hs_on_response,
        (any_fn)&hs_request_method, (any_fn)&hs_request_path,
        (any_fn)&hs_request_query, (any_fn)&hs_request_uri,
        (any_fn)&hs_request_version, (any_fn)&hs_request_header,
        (any_fn)&hs_request_header_count, (any_fn)&hs_request_header_at,
        (any_fn)&hs_request_body, (any_fn)&hs_request_param_count,
        (any_fn)&hs_request_param, (any_fn)&hs_request_param_named,
        (any_fn)&hs_request_peer_ip, (any_fn)&hs_request_peer_port,
        (any_fn)&hs_request_conn_id, (any_fn)&hs_request_route_id,
        (any_fn)&hs_response_set_status, (any_fn)&hs_response_add_header,
        (any_fn)&hs_response_set_body, (any_fn)&hs_respond,
        (any_fn)&hs_response_set_raw, (any_fn)&hs_response_status,
        (any_fn)&hs_response_body, (any_fn)&hs_add_timer,
        (any_fn)&hs_cancel_timer, (any_fn)&hs_port_in_use,
        (any_fn)&hs_kill_port_holders, (any_fn)&hs_set_debug, (any_fn)&hs_set_log,
        (any_fn)&hs_last_error, (any_fn)&hs_status_str, (any_fn)&hs_version,
        (any_fn)&hs_new, (any_fn)&hs_free, (any_fn)&hs_start,
        (any_fn)&hs_port, (any_fn)&hs_run, (any_fn)&hs_poll,
        (any_fn)&hs_shutdown, (any_fn)&hs_set_threads,
        (any_fn)&hs_set_reuse_port, (any_fn)&hs_handle_signals,
        (any_fn)&hs_set_timeout, (any_fn)&hs_set_rate_limit,
        (any_fn)&hs_set_limit, (any_fn)&hs_get_limit,
        (any_fn)&hs_set_connection_required, (any_fn)&hs_client_on,
        (any_fn)&hs_client_off, (any_fn)&hs_set_header,
        (any_fn)&hs_clear_headers, (any_fn)&hs_websocket, (any_fn)&hs_accept,
        (any_fn)&hs_ws_send, (any_fn)&hs_ws_broadcast,
        (any_fn)&hs_ws_broadcast_route, (any_fn)&hs_ws_close,
        (any_fn)&hs_ws_count, (any_fn)&hs_ws_clients,
        (any_fn)&hs_ws_client_peer, (any_fn)&hs_ws_client_path,
        (any_fn)&hs_ws_client_head, (any_fn)&hs_ws_keep_heads, (any_fn)&hs_parse_address,
        (any_fn)&hs_response_answer, (any_fn)&hs_response_fail, (any_fn)&hs_answer_name,
        (any_fn)&hs_tls_cert_file, (any_fn)&hs_tls_cert_pem, (any_fn)&hs_tls_client_ca_file,
        (any_fn)&hs_tls_client_ca_pem, (any_fn)&hs_tls_alpn, (any_fn)&hs_tls_reload,
        (any_fn)&hs_set_http2, (any_fn)&hs_set_ws_deflate, (any_fn)&hs_request_is_secure,
        (any_fn)&hs_ws_join, (any_fn)&hs_ws_leave, (any_fn)&hs_ws_publish,
        (any_fn)&hs_ws_channel_members, (any_fn)&hs_ws_presence, (any_fn)&hs_ws_client_record,
        (any_fn)&hs_ws_room_events, (any_fn)&hs_redis, (any_fn)&hs_cluster_restarted,
        (any_fn)&hs_ws_set_origins, (any_fn)&hs_ws_route_limit, (any_fn)&hs_ws_authorize,
        (any_fn)&hs_admission_user, (any_fn)&hs_admission_join,
        (any_fn)&hs_sio_enable, (any_fn)&hs_sio_namespace, (any_fn)&hs_admission_refuse,
        (any_fn)&hs_sio_emit, (any_fn)&hs_sio_emit_to, (any_fn)&hs_sio_ack, (any_fn)&hs_sio_sid,
        (any_fn)&hs_sio_socket, (any_fn)&hs_sio_namespace_of,
    };
    size_t i, missing = 0;
    for (i = 0; i < sizeof fns / sizeof fns[0]; i++)
        missing += fns[i] == NULL;
    (void)h; (void)ph; (void)eh; (void)rf; (void)tc; (void)lc; (void)wh; (void)ah; (void)st; (void)lim; (void)et; (void)rt;
    printf("%s %u\n", hs_version(), (unsigned)(sizeof fns / sizeof fns[0] - missing));
    return missing == 0 ? 0 : 1;
}
