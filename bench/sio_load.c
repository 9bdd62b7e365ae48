/*
 * sio_load.c - a light Socket.IO load client for the echo row of bench/socketio.py: the check
 * that bench/socketio/load.js (socket.io-client, about as costly per message as the Node.js
 * server) does not set the figures. The same traffic as `load.js echo` from one epoll thread that
 * writes and parses the WebSocket frames and Engine.IO / Socket.IO text packets itself:
 * GET /socket.io/?EIO=4&transport=websocket, open packet -> "40", then per connection INFLIGHT
 * emits 42<id>["echo","xx..."] in flight, each answered by 43<id>["xx..."]; pings ("2") answered
 * ("3"). The acks read in one wake-up are answered by new emits in one write per connection.
 *
 * Usage: sio_load PORT CONNS INFLIGHT WARMUP_S DURATION_S [SIZE]
 * Prints "ready CONNS", "start" after the warm-up, "stop" at the end of the window, then a JSON
 * line with the keys of load.js (msgs, rate, p50_us, p99_us, max_us, errors, wrong).
 * 127.0.0.1 only. Built by bench/run.sh.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SLOTS 1024

typedef struct {
    int fd;
    int state; /* 0 handshake, 1 waiting for the open packet, 2 waiting for "40", 3 running */
    uint8_t *in;
    size_t in_len, in_cap;
    uint8_t *out;
    size_t out_len, out_cap, out_off;
    uint64_t next_id;
    double sent[SLOTS];
} conn;

static conn *conns;
static int nconns, inflight, running = 1;
static double t0, t1;
static char *payload;
static size_t payload_len;
static unsigned long long acks, errors, wrong;
static uint32_t *lat;
static size_t lat_len, lat_cap;
static int ep;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "sio_load: %s: %s\n", what, strerror(errno));
    exit(2);
}

static void out_reserve(conn *c, size_t n)
{
    if (c->out_len + n > c->out_cap) {
        c->out_cap = (c->out_len + n) * 2;
        c->out = realloc(c->out, c->out_cap);
        if (!c->out)
            die("realloc");
    }
}

/* A masked client frame (mask key 0: the payload goes out as it is). */
static void frame(conn *c, int opcode, const char *data, size_t len)
{
    out_reserve(c, len + 14);
    uint8_t *p = c->out + c->out_len;
    *p++ = 0x80 | opcode;
    if (len < 126) {
        *p++ = 0x80 | len;
    } else if (len < 65536) {
        *p++ = 0x80 | 126;
        *p++ = len >> 8;
        *p++ = len & 0xff;
    } else {
        *p++ = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            *p++ = (uint8_t)((uint64_t)len >> (8 * i));
    }
    memset(p, 0, 4);
    p += 4;
    memcpy(p, data, len);
    p += len;
    c->out_len = p - c->out;
}

static void emit(conn *c)
{
    char buf[64];
    uint64_t id = c->next_id++;
    int n = snprintf(buf, sizeof buf, "42%llu[\"echo\",\"", (unsigned long long)id);
    size_t len = n + payload_len + 2;
    char *msg = malloc(len);
    memcpy(msg, buf, n);
    memcpy(msg + n, payload, payload_len);
    memcpy(msg + n + payload_len, "\"]", 2);
    c->sent[id % SLOTS] = now();
    frame(c, 1, msg, len);
    free(msg);
}

static void flush(conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t w = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (w < 0) {
            if (errno == EAGAIN) {
                struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
                epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                return;
            }
            die("write");
        }
        c->out_off += w;
    }
    c->out_off = c->out_len = 0;
}

static void on_text(conn *c, const char *t, size_t n)
{
    if (n >= 1 && t[0] == '2') { /* Engine.IO ping */
        frame(c, 1, "3", 1);
        return;
    }
    if (c->state == 1 && n >= 1 && t[0] == '0') { /* open */
        frame(c, 1, "40", 2);
        c->state = 2;
        return;
    }
    if (n >= 2 && t[0] == '4' && t[1] == '0' && c->state == 2) {
        c->state = 3;
        return;
    }
    if (n >= 2 && t[0] == '4' && t[1] == '3') {
        size_t i = 2;
        uint64_t id = 0;
        while (i < n && t[i] >= '0' && t[i] <= '9')
            id = id * 10 + (t[i++] - '0');
        double tnow = now();
        /* ["xx..."] */
        if (n - i != payload_len + 4 || memcmp(t + i + 2, payload, payload_len) != 0)
            wrong++;
        if (tnow >= t0 && tnow < t1) {
            acks++;
            if (lat_len == lat_cap) {
                lat_cap = lat_cap ? lat_cap * 2 : 1 << 20;
                lat = realloc(lat, lat_cap * sizeof *lat);
            }
            lat[lat_len++] = (uint32_t)((tnow - c->sent[id % SLOTS]) * 1e6);
        }
        if (running)
            emit(c);
        return;
    }
    if (n >= 2 && t[0] == '4' && t[1] == '4') {
        fprintf(stderr, "sio_load: connect error: %.*s\n", (int)n, t);
        exit(2);
    }
    /* anything else: ignored (noop, other events) */
}

static int parse(conn *c)
{
    size_t off = 0;
    if (c->state == 0) {
        uint8_t *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
        if (!end)
            return 0;
        if (c->in_len < 12 || memcmp(c->in + 9, "101", 3) != 0) {
            fprintf(stderr, "sio_load: handshake: %.*s\n", (int)c->in_len, c->in);
            exit(2);
        }
        off = end + 4 - c->in;
        c->state = 1;
    }
    for (;;) {
        size_t avail = c->in_len - off;
        if (avail < 2)
            break;
        uint8_t *p = c->in + off;
        int op = p[0] & 0x0f;
        uint64_t len = p[1] & 0x7f;
        size_t h = 2;
        if (len == 126) {
            if (avail < 4)
                break;
            len = (p[2] << 8) | p[3];
            h = 4;
        } else if (len == 127) {
            if (avail < 10)
                break;
            len = 0;
            for (int i = 0; i < 8; i++)
                len = (len << 8) | p[2 + i];
            h = 10;
        }
        if (avail < h + len)
            break;
        if (op == 1)
            on_text(c, (const char *)p + h, len);
        else if (op == 9)
            frame(c, 10, (const char *)p + h, len);
        else if (op == 8) {
            if (running) {
                fprintf(stderr, "sio_load: closed by the server\n");
                errors++;
            }
            return -1;
        } else if (op != 10) {
            errors++;
        }
        off += h + len;
    }
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
    return 0;
}

static int on_readable(conn *c)
{
    for (;;) {
        if (c->in_cap - c->in_len < 16384) {
            c->in_cap = c->in_cap * 2 + 65536;
            c->in = realloc(c->in, c->in_cap);
        }
        ssize_t r = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
        if (r < 0) {
            if (errno == EAGAIN)
                break;
            if (!running)
                return -1;
            die("read");
        }
        if (r == 0) {
            if (running) {
                fprintf(stderr, "sio_load: EOF from the server\n");
                errors++;
            }
            return -1;
        }
        c->in_len += r;
        if ((size_t)r < c->in_cap - c->in_len + r)
            break; /* a short read: nothing more now */
    }
    if (parse(c) < 0)
        return -1;
    flush(c);
    return 0;
}

static int cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static void loop_until(double deadline, int (*done)(void))
{
    struct epoll_event evs[256];
    while (now() < deadline && !(done && done())) {
        int ms = (int)((deadline - now()) * 1000) + 1;
        int n = epoll_wait(ep, evs, 256, ms > 50 ? 50 : ms);
        if (n < 0 && errno != EINTR)
            die("epoll_wait");
        for (int i = 0; i < n; i++) {
            conn *c = evs[i].data.ptr;
            if (evs[i].events & EPOLLOUT) {
                struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
                epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                flush(c);
            }
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                if (on_readable(c) < 0) {
                    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                    if (running) {
                        fprintf(stderr, "sio_load: a connection ended during the run\n");
                        exit(2);
                    }
                }
        }
    }
}

static int all_connected(void)
{
    for (int i = 0; i < nconns; i++)
        if (conns[i].state != 3)
            return 0;
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: sio_load PORT CONNS INFLIGHT WARMUP_S DURATION_S [SIZE]\n");
        return 2;
    }
    int port = atoi(argv[1]);
    nconns = atoi(argv[2]);
    inflight = atoi(argv[3]);
    double warmup = atof(argv[4]), duration = atof(argv[5]);
    payload_len = argc > 6 ? (size_t)atoi(argv[6]) : 32;
    if (inflight < 1 || inflight > SLOTS / 2 || nconns < 1) {
        fprintf(stderr, "sio_load: 1 <= INFLIGHT <= %d, CONNS >= 1\n", SLOTS / 2);
        return 2;
    }
    payload = malloc(payload_len);
    memset(payload, 'x', payload_len);
    conns = calloc(nconns, sizeof *conns);
    ep = epoll_create1(0);
    if (ep < 0)
        die("epoll_create1");
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    char req[512];
    int reqlen = snprintf(req, sizeof req,
                          "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
                          "Host: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                          "Sec-WebSocket-Version: 13\r\n\r\n",
                          port);
    for (int i = 0; i < nconns; i++) {
        conn *c = &conns[i];
        c->fd = socket(AF_INET, SOCK_STREAM, 0);
        if (c->fd < 0)
            die("socket");
        if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0)
            die("connect");
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (write(c->fd, req, reqlen) != reqlen)
            die("write handshake");
        if (fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK) < 0)
            die("fcntl");
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
            die("epoll_ctl");
    }
    loop_until(now() + 30, all_connected);
    if (!all_connected()) {
        fprintf(stderr, "sio_load: not every client connected within 30 s\n");
        return 2;
    }
    printf("ready %d\n", nconns);
    fflush(stdout);
    t0 = now() + warmup;
    t1 = t0 + duration;
    for (int i = 0; i < nconns; i++) {
        for (int k = 0; k < inflight; k++)
            emit(&conns[i]);
        flush(&conns[i]);
    }
    loop_until(t0, NULL);
    printf("start\n");
    fflush(stdout);
    loop_until(t1, NULL);
    printf("stop\n");
    fflush(stdout);
    running = 0;
    loop_until(now() + 0.1, NULL);
    qsort(lat, lat_len, sizeof *lat, cmp);
    double p50 = lat_len ? lat[lat_len / 2] : 0, p99 = lat_len ? lat[(size_t)(lat_len * 0.99)] : 0;
    double mx = lat_len ? lat[lat_len - 1] : 0;
    printf("{\"conns\":%d,\"inflight\":%d,\"size\":%zu,\"client\":\"sio_load.c\",\"msgs\":%llu,"
           "\"seconds\":%g,\"rate\":%.1f,\"p50_us\":%g,\"p99_us\":%g,\"max_us\":%g,\"wrong\":%llu,"
           "\"errors\":%llu,\"error_kinds\":{}}\n",
           nconns, inflight, payload_len, acks, duration, acks / duration, p50, p99, mx, wrong,
           errors);
    fflush(stdout);
    for (int i = 0; i < nconns; i++)
        close(conns[i].fd);
    return 0;
}
