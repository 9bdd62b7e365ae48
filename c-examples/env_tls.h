/*
 * env_tls.h - the settings the C examples (hello.c, ws_echo.c, chat.c) take from their
 * environment: limits, TLS certificates (several by server name, client verification), HTTP/2,
 * cleartext HTTP/2, permessage-deflate; and certificate reload on SIGHUP. Each example includes
 * it once (everything here is static) and calls env_configure() before hs_start(), then
 * env_print_listening() after it.
 *
 * Unset or empty variables leave the engine's defaults.
 *
 *   HS_MAX_HEADER_BYTES=N        largest request head (431 beyond; the engine raises N below 8192)
 *   HS_MAX_BODY_BYTES=N          largest request body (413 beyond)
 *   HS_IDLE_MS=N                 idle timeout, also the time allowed for a request head and for
 *                                the TLS handshake, in ms
 *   HS_TLS_CERT=chain.pem        TLS on: the certificate chain (leaf first) of the default
 *                                certificate, for clients that send no or an unknown server name
 *   HS_TLS_KEY=key.pem           its key (PKCS#8, PKCS#1 or SEC1); unset: the key is in HS_TLS_CERT
 *   HS_TLS_SNI=name=cert:key;... more certificates, each chosen by the server name a client asks
 *                                for (`*.example.com` matches one label); `:key` may be left out
 *                                when the key is in the certificate file. Paths cannot hold ':'
 *                                or ';'. Without HS_TLS_CERT the first one is the default.
 *   HS_TLS_CLIENT_CA=ca.pem      verify client certificates against these CAs (mutual TLS)...
 *   HS_TLS_CLIENT_REQUIRED=1     ...and refuse clients without one (default 0: optional)
 *   HS_HTTP2=0                   no HTTP/2 over TLS: ALPN offers http/1.1 only
 *   HS_H2C=0                     no cleartext HTTP/2 (prior knowledge) on a plain listener
 *   HS_H2_MAX_STREAMS=N          concurrent streams per HTTP/2 connection (default 100)
 *   HS_WS_DEFLATE=0              no permessage-deflate for WebSocket clients that offer it
 *   HS_WS_DEFLATE_MIN=N          messages shorter than N bytes go out uncompressed (default 256)
 *   HS_WS_DEFLATE_TAKEOVER=1     keep a compression context per connection (better ratio,
 *                                hundreds of KiB per connection; default 0: none kept)
 *   HS_RATE_LIMIT=N              at most N requests per client IP per HS_RATE_WINDOW_S seconds
 *                                (default 60); more get 429 (default: no limit)
 *   HS_CONNECTION_REQUIRED=1     Luminova's connection-required mode: GET /connect first
 *
 * With TLS on, SIGHUP re-reads every certificate and key file: the handler only sets a flag
 * (hs_tls_reload is not async-signal-safe); a 100 ms timer on the event loop sees it, calls
 * hs_tls_reload() and prints "<prog>: reloaded" or "<prog>: reload failed: <why>" on stderr.
 * New handshakes get the new certificates; connections already open keep theirs. A failed
 * reload keeps the old certificates.
 *
 * sigaction() is POSIX: each example defines _POSIX_C_SOURCE before its first #include.
 */
#ifndef HTTPSOCK_EXAMPLES_ENV_TLS_H
#define HTTPSOCK_EXAMPLES_ENV_TLS_H

#include <httpsock.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What env_configure() found, for env_print_listening() and the reload timer. */
typedef struct {
    hs_server *server;
    const char *prog; /* prefix of every message: "hello", "ws_echo", "chat" */
    int tls;          /* 1: certificates configured, the listener speaks TLS */
} env_settings;

/* Set by the SIGHUP handler, cleared by the reload timer. */
static volatile sig_atomic_t env_reload_pending = 0;

static void env_on_sighup(int sig)
{
    (void)sig;
    env_reload_pending = 1;
}

/* A failed setting ends the program with the library's explanation. */
static void env_must(const env_settings *env, int rc, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "%s: %s failed: %s: %s\n", env->prog, what, hs_status_str(rc),
                hs_last_error());
        exit(EXIT_FAILURE);
    }
}

/* The variable's value, or NULL when it is unset or empty. */
static const char *env_get(const char *name)
{
    const char *s = getenv(name);
    return s != NULL && *s != '\0' ? s : NULL;
}

/* A non-negative decimal number from `name`, or `fallback` when unset; exit 2 on anything else. */
static unsigned long long env_number(const env_settings *env, const char *name,
                                     unsigned long long fallback)
{
    const char *s = env_get(name);
    char *end;
    unsigned long long v;
    if (s == NULL)
        return fallback;
    v = strtoull(s, &end, 10);
    if (*s < '0' || *s > '9' || *end != '\0') {
        fprintf(stderr, "%s: %s must be a number, got '%s'\n", env->prog, name, s);
        exit(2);
    }
    return v;
}

/* 0 or 1 from `name` ("0" off, "1" on), or `fallback` when unset. */
static int env_flag(const env_settings *env, const char *name, int fallback)
{
    unsigned long long v = env_number(env, name, (unsigned long long)fallback);
    if (v > 1) {
        fprintf(stderr, "%s: %s must be 0 or 1, got '%s'\n", env->prog, name, getenv(name));
        exit(2);
    }
    return (int)v;
}

static void env_limit(const env_settings *env, const char *name, int which)
{
    if (env_get(name) != NULL)
        env_must(env, hs_set_limit(env->server, which, (uint64_t)env_number(env, name, 0)), name);
}

/* HS_TLS_SNI: "name=cert:key;name=cert" -> one hs_tls_cert_file() per entry. */
static void env_sni(env_settings *env, const char *spec)
{
    char *copy = malloc(strlen(spec) + 1), *entry, *next;
    if (copy == NULL) {
        fprintf(stderr, "%s: out of memory\n", env->prog);
        exit(EXIT_FAILURE);
    }
    strcpy(copy, spec);
    for (entry = copy; entry != NULL; entry = next) {
        char *eq, *colon;
        next = strchr(entry, ';');
        if (next != NULL)
            *next++ = '\0';
        if (*entry == '\0')
            continue;
        eq = strchr(entry, '=');
        if (eq == NULL || eq == entry || eq[1] == '\0') {
            fprintf(stderr, "%s: HS_TLS_SNI entry '%s' is not name=cert[:key]\n", env->prog,
                    entry);
            exit(2);
        }
        *eq = '\0';
        colon = strchr(eq + 1, ':');
        if (colon != NULL)
            *colon++ = '\0';
        env_must(env, hs_tls_cert_file(env->server, entry, eq + 1, colon),
                 "hs_tls_cert_file (HS_TLS_SNI)");
        env->tls = 1;
    }
    free(copy);
}

/* Every 100 ms on the event loop: a SIGHUP since the last tick reloads the certificates. */
static void env_reload_tick(void *user_data)
{
    env_settings *env = user_data;
    if (!env_reload_pending)
        return;
    env_reload_pending = 0;
    if (hs_tls_reload(env->server) < 0)
        fprintf(stderr, "%s: reload failed: %s\n", env->prog, hs_last_error());
    else
        fprintf(stderr, "%s: reloaded\n", env->prog);
}

/* Reads every variable above and configures `server` (before hs_start). `env` must outlive the
 * server (the reload timer holds it). Exits with a message on a bad value. */
static void env_configure(env_settings *env, hs_server *server, const char *prog)
{
    const char *cert = env_get("HS_TLS_CERT"), *sni = env_get("HS_TLS_SNI");
    const char *client_ca = env_get("HS_TLS_CLIENT_CA");

    env->server = server;
    env->prog = prog;
    env->tls = 0;

    env_limit(env, "HS_MAX_HEADER_BYTES", HS_LIMIT_MAX_HEADER_BYTES);
    env_limit(env, "HS_MAX_BODY_BYTES", HS_LIMIT_MAX_BODY_BYTES);
    env_limit(env, "HS_IDLE_MS", HS_LIMIT_IDLE_TIMEOUT_MS);
    env_limit(env, "HS_H2_MAX_STREAMS", HS_LIMIT_H2_MAX_STREAMS);
    if (env_get("HS_RATE_LIMIT") != NULL)
        env_must(env, hs_set_rate_limit(server, (uint32_t)env_number(env, "HS_RATE_LIMIT", 0),
                                        (uint32_t)env_number(env, "HS_RATE_WINDOW_S", 60)),
                 "hs_set_rate_limit (HS_RATE_LIMIT)");
    if (env_get("HS_CONNECTION_REQUIRED") != NULL)
        env_must(env, hs_set_connection_required(server,
                                                 env_flag(env, "HS_CONNECTION_REQUIRED", 0)),
                 "hs_set_connection_required (HS_CONNECTION_REQUIRED)");

    if (env_get("HS_HTTP2") != NULL || env_get("HS_H2C") != NULL)
        env_must(env, hs_set_http2(server, env_flag(env, "HS_HTTP2", 1),
                                   env_flag(env, "HS_H2C", 1)),
                 "hs_set_http2");

    if (env_get("HS_WS_DEFLATE") != NULL || env_get("HS_WS_DEFLATE_MIN") != NULL ||
        env_get("HS_WS_DEFLATE_TAKEOVER") != NULL)
        env_must(env, hs_set_ws_deflate(server, env_flag(env, "HS_WS_DEFLATE", 1),
                                        (size_t)env_number(env, "HS_WS_DEFLATE_MIN", 256),
                                        env_flag(env, "HS_WS_DEFLATE_TAKEOVER", 0), 15),
                 "hs_set_ws_deflate");

    if (cert != NULL) {
        env_must(env, hs_tls_cert_file(server, NULL, cert, env_get("HS_TLS_KEY")),
                 "hs_tls_cert_file (HS_TLS_CERT)");
        env->tls = 1;
    } else if (env_get("HS_TLS_KEY") != NULL) {
        fprintf(stderr, "%s: HS_TLS_KEY is set but HS_TLS_CERT is not\n", prog);
        exit(2);
    }
    if (sni != NULL)
        env_sni(env, sni);
    if (client_ca != NULL) {
        if (!env->tls) {
            fprintf(stderr, "%s: HS_TLS_CLIENT_CA needs HS_TLS_CERT\n", prog);
            exit(2);
        }
        env_must(env, hs_tls_client_ca_file(server, client_ca,
                                            env_flag(env, "HS_TLS_CLIENT_REQUIRED", 0)),
                 "hs_tls_client_ca_file");
    }

    if (env->tls) {
        struct sigaction sa;
        int64_t timer;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = env_on_sighup;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_RESTART;
        if (sigaction(SIGHUP, &sa, NULL) != 0) {
            perror("sigaction(SIGHUP)");
            exit(EXIT_FAILURE);
        }
        timer = hs_add_timer(server, 100, 1, env_reload_tick, env);
        if (timer < 0)
            env_must(env, (int)timer, "hs_add_timer (certificate reload)");
    }
}

/* The readiness line the tests wait for: "listening on http(s)://127.0.0.1:PORT" (IPv6
 * addresses in brackets). Call after hs_start(). */
static void env_print_listening(const env_settings *env, const char *address)
{
    int port = hs_port(env->server);
    int v6 = strchr(address, ':') != NULL;
    env_must(env, port, "hs_port");
    printf("listening on %s://%s%s%s:%d\n", env->tls ? "https" : "http", v6 ? "[" : "", address,
           v6 ? "]" : "", port);
    fflush(stdout);
}

#endif
