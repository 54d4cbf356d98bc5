/*
 * loadgen: a small closed-loop RESP load generator for bench/bench.py.
 *
 * Each of C connections keeps exactly one request outstanding (no
 * pipelining) and sends the next one as soon as the reply is complete.
 * A request is one command, or a sequence of commands (see @THEN below)
 * sent one after the other, each once the previous one's reply is in.
 * All connections are driven by one epoll loop in one thread, so on a
 * small machine the generator uses one core and leaves the other to Redis.
 *
 * Usage:
 *   loadgen [-h host] [-p port] [-c conns] [-d secs] [-w warmup_secs]
 *           [-n requests_per_conn] [-s size | -f payload_file] [-r reply_len]
 *           [-k key_prefix] -- ARG...
 *
 * ARG... is the command template; whole-argument tokens are replaced:
 *   @KEY  -> <key_prefix><connection index>   (one key per connection)
 *   @SIZE -> the payload size in decimal
 *   @DATA -> <size> bytes of a fixed non-zero binary pattern, or with -f
 *            the file's contents (and <size> is the file's length)
 *   @THEN -> ends one command and starts the next: a request of N commands
 *            (e.g. SET in x @THEN EXEC-SOMETHING @THEN GET out) is timed and
 *            counted once, from sending its first command to the reply of
 *            its last; each reply is checked as below
 * and, inside any other argument, every "{c}" is replaced by the connection
 * index, so each connection can send its own command (e.g. its own input
 * and output keys: AI.MODELEXECUTE m INPUTS 1 in:{c} OUTPUTS 1 out:{c}).
 * The RESP bytes of each connection's request are built once.
 *
 * With -n the run stops after that many requests per connection (used to
 * pre-populate keys); otherwise it runs for warmup + duration seconds and
 * only replies completed inside the duration window are counted. With
 * -d 0 it runs until SIGINT or SIGTERM (to measure while something else
 * happens, e.g. PING latency during a model store).
 *
 * Replies are parsed fully (simple strings, errors, integers, bulk strings
 * of any size, arrays). An error reply (also inside an array), a nil, or a
 * bulk string reply (not inside an array) whose length is not <reply_len>
 * counts as an error; reply_len defaults to <size> (GETs of the payload),
 * and -r -1 accepts any length.
 *
 * Output: one JSON object on stdout:
 *   {"ops":N,"seconds":S,"ops_per_sec":R,"p50_us":..,"p99_us":..,
 *    "max_us":..,"max_at":T,"errors":E,"first_error":"..."}
 * where max_at is when the slowest counted request completed, in seconds of
 * CLOCK_MONOTONIC (Python's time.monotonic() on Linux), to line it up with
 * what the caller did meanwhile.
 * Exit status 2 on usage, connection or protocol failure.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define READ_BUF (256 * 1024)
#define LINE_MAX_LEN 512
#define DRAIN_TIMEOUT_NS (10ULL * 1000000000ULL)

typedef struct {
    char *p;              /* one command in RESP, built once */
    size_t len;
} cmd_t;

typedef struct {
    int fd;
    cmd_t *cmds;          /* the request: ncmds commands, sent in turn */
    int cmd;              /* the command now outstanding */
    size_t sent;          /* bytes of cmds[cmd] written so far */
    int want_out;         /* EPOLLOUT currently registered */
    uint64_t t_start;     /* ns when the current request started */
    long done;            /* completed requests */
    /* reply parser state */
    char line[LINE_MAX_LEN];
    size_t line_len;
    long long skip;       /* bulk payload bytes (+CRLF) still to consume */
    long long pending;    /* reply elements still expected */
    int nested;           /* current reply is an array */
} conn_t;

static struct {
    long long size;
    long long reply_len;  /* expected length of a top-level bulk reply, -1 any */
    int ncmds;            /* commands per request */
    long errors;
    char first_error[128];
    uint64_t *lat;        /* latency samples in ns */
    size_t nlat, caplat;
    uint64_t max_lat, max_at; /* slowest sample and when it completed */
} g;

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("loadgen: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void record_error(const char *msg, size_t len)
{
    if (g.errors++ == 0) {
        /* keep it JSON-safe: printable ASCII without quotes/backslashes */
        size_t n = len < sizeof g.first_error - 1 ? len : sizeof g.first_error - 1;
        for (size_t i = 0; i < n; i++) {
            char ch = msg[i];
            g.first_error[i] = (ch < 32 || ch > 126 || ch == '"' || ch == '\\') ? '?' : ch;
        }
        g.first_error[n] = '\0';
    }
}

static void record_latency(uint64_t ns, uint64_t now)
{
    if (ns > g.max_lat) {
        g.max_lat = ns;
        g.max_at = now;
    }
    if (g.nlat == g.caplat) {
        g.caplat = g.caplat ? g.caplat * 2 : 65536;
        g.lat = realloc(g.lat, g.caplat * sizeof *g.lat);
        if (!g.lat)
            die("out of memory");
    }
    g.lat[g.nlat++] = ns;
}

/* ---- request building ---------------------------------------------- */

typedef struct { char *p; size_t len, cap; } buf_t;

static void buf_add(buf_t *b, const void *data, size_t len)
{
    if (len == 0)
        return;
    if (b->len + len > b->cap) {
        b->cap = (b->len + len) * 2;
        b->p = realloc(b->p, b->cap);
        if (!b->p)
            die("out of memory");
    }
    memcpy(b->p + b->len, data, len);
    b->len += len;
}

static void buf_add_bulk(buf_t *b, const char *data, size_t len)
{
    char hdr[32];
    int n = snprintf(hdr, sizeof hdr, "$%zu\r\n", len);
    buf_add(b, hdr, (size_t)n);
    buf_add(b, data, len);
    buf_add(b, "\r\n", 2);
}

/* An argument with each "{c}" replaced by the connection index. */
static void buf_add_arg(buf_t *b, const char *arg, int index)
{
    buf_t out = {0};
    char num[16];
    int n = snprintf(num, sizeof num, "%d", index);
    const char *p;
    while ((p = strstr(arg, "{c}")) != NULL) {
        buf_add(&out, arg, (size_t)(p - arg));
        buf_add(&out, num, (size_t)n);
        arg = p + 3;
    }
    buf_add(&out, arg, strlen(arg));
    buf_add_bulk(b, out.p, out.len);
    free(out.p);
}

static cmd_t build_command(int argc, char **argv, const char *prefix, int index,
                           const char *payload)
{
    buf_t b = {0};
    char tmp[64];
    int n = snprintf(tmp, sizeof tmp, "*%d\r\n", argc);
    buf_add(&b, tmp, (size_t)n);
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "@KEY") == 0) {
            n = snprintf(tmp, sizeof tmp, "%s%d", prefix, index);
            buf_add_bulk(&b, tmp, (size_t)n);
        } else if (strcmp(argv[i], "@SIZE") == 0) {
            n = snprintf(tmp, sizeof tmp, "%lld", g.size);
            buf_add_bulk(&b, tmp, (size_t)n);
        } else if (strcmp(argv[i], "@DATA") == 0) {
            buf_add_bulk(&b, payload, (size_t)g.size);
        } else {
            buf_add_arg(&b, argv[i], index);
        }
    }
    return (cmd_t){b.p, b.len};
}

/* The connection's commands: the template split at each @THEN. */
static void build_request(conn_t *c, int argc, char **argv, const char *prefix,
                          int index, const char *payload)
{
    c->cmds = calloc((size_t)g.ncmds, sizeof *c->cmds);
    if (!c->cmds)
        die("out of memory");
    for (int k = 0, start = 0, i = 0; i <= argc; i++) {
        if (i < argc && strcmp(argv[i], "@THEN") != 0)
            continue;
        if (i == start)
            die("usage: empty command in the template");
        c->cmds[k++] = build_command(i - start, argv + start, prefix, index, payload);
        start = i + 1;
    }
}

/* ---- reply parsing --------------------------------------------------- */

/* One element finished; returns 1 when the whole reply is complete. */
static int element_done(conn_t *c)
{
    return --c->pending == 0;
}

/* Handle one header line (without CRLF). Returns 1 if the reply is done. */
static int handle_line(conn_t *c, const char *line, size_t len)
{
    long long n;
    switch (line[0]) {
    case '+':
    case ':':
        return element_done(c);
    case '-':
        record_error(line + 1, len - 1);
        return element_done(c);
    case '$':
        n = atoll(line + 1);
        if (n < 0) {
            record_error("unexpected nil reply", 20);
            return element_done(c);
        }
        if (!c->nested && g.reply_len >= 0 && n != g.reply_len)
            record_error("bulk reply length differs from the expected one", 47);
        c->skip = n + 2;
        return 0;
    case '*':
        n = atoll(line + 1);
        c->nested = 1;
        if (n <= 0)
            return element_done(c);
        c->pending += n - 1;
        return 0;
    default:
        die("protocol error: unexpected reply byte 0x%02x", (unsigned char)line[0]);
    }
    return 0;
}

/* Consume bytes of the reply. Returns 1 once the reply is complete. */
static int feed(conn_t *c, const char *data, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (c->skip > 0) {
            size_t take = (size_t)c->skip < n - i ? (size_t)c->skip : n - i;
            c->skip -= (long long)take;
            i += take;
            if (c->skip == 0 && element_done(c))
                goto complete;
            continue;
        }
        const char *nl = memchr(data + i, '\n', n - i);
        size_t take = nl ? (size_t)(nl - (data + i)) + 1 : n - i;
        /* over-long lines (long error texts) are truncated, not rejected */
        size_t room = LINE_MAX_LEN - c->line_len;
        memcpy(c->line + c->line_len, data + i, take < room ? take : room);
        c->line_len += take < room ? take : room;
        i += take;
        if (!nl)
            break;
        size_t len = c->line_len >= 2 ? c->line_len - 2 : 0; /* drop CRLF */
        c->line_len = 0;
        if (handle_line(c, c->line, len))
            goto complete;
    }
    return 0;
complete:
    if (i != n)
        die("protocol error: unsolicited bytes after a reply");
    return 1;
}

/* ---- connections ----------------------------------------------------- */

static int connect_to(const char *host, int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        die("bad IPv4 address %s", host);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        die("socket: %s", strerror(errno));
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
        die("connect %s:%d: %s", host, port, strerror(errno));
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void set_want_out(int ep, conn_t *c, int want)
{
    if (c->want_out == want)
        return;
    struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) < 0)
        die("epoll_ctl: %s", strerror(errno));
    c->want_out = want;
}

/* Write as much of the request as the socket takes; wait for EPOLLOUT
 * only while a large request (e.g. 1 MiB SET) is partly written. */
static void send_more(int ep, conn_t *c)
{
    const cmd_t *r = &c->cmds[c->cmd];
    while (c->sent < r->len) {
        ssize_t w = write(c->fd, r->p + c->sent, r->len - c->sent);
        if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (errno == EAGAIN)
                break;
            continue;
        }
        if (w < 0)
            die("write: %s", strerror(errno));
        c->sent += (size_t)w;
    }
    set_want_out(ep, c, c->sent < r->len);
}

/* Send command number `cmd` of the connection's request. */
static void send_command(int ep, conn_t *c, int cmd)
{
    c->cmd = cmd;
    c->sent = 0;
    c->pending = 1;
    c->nested = 0;
    send_more(ep, c);
}

static void start_request(int ep, conn_t *c)
{
    c->t_start = now_ns();
    send_command(ep, c, 0);
}

/* Read what is available; returns 1 when the outstanding reply is done. */
static int read_reply(conn_t *c)
{
    static char buf[READ_BUF];
    for (;;) {
        ssize_t r = read(c->fd, buf, sizeof buf);
        if (r > 0) {
            if (feed(c, buf, (size_t)r))
                return 1;
            continue;
        }
        if (r == 0)
            die("server closed the connection");
        if (errno == EAGAIN)
            return 0;
        if (errno != EINTR)
            die("read: %s", strerror(errno));
    }
}

/* ---- main loop ------------------------------------------------------- */

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of the sorted samples, in microseconds. */
static double percentile_us(double p)
{
    if (g.nlat == 0)
        return 0.0;
    size_t rank = (size_t)(p / 100.0 * (double)g.nlat + 0.999999);
    if (rank < 1)
        rank = 1;
    return (double)g.lat[rank - 1] / 1000.0;
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1", *prefix = "key:";
    int port = 6379, nconns = 1, opt;
    double duration = 2.0, warmup = 0.5;
    long per_conn = 0;
    const char *payload_file = NULL;
    int reply_len_set = 0;

    while ((opt = getopt(argc, argv, "h:p:c:d:w:n:s:f:r:k:")) != -1) {
        switch (opt) {
        case 'h': host = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 'c': nconns = atoi(optarg); break;
        case 'd': duration = atof(optarg); break;
        case 'w': warmup = atof(optarg); break;
        case 'n': per_conn = atol(optarg); break;
        case 's': g.size = atoll(optarg); break;
        case 'f': payload_file = optarg; break;
        case 'r': g.reply_len = atoll(optarg); reply_len_set = 1; break;
        case 'k': prefix = optarg; break;
        default: die("usage: see the comment at the top of loadgen.c");
        }
    }
    if (optind >= argc || nconns < 1 || g.size < 0)
        die("usage: loadgen [options] -- COMMAND ARG...");

    char *payload = NULL;
    if (payload_file) {
        FILE *f = fopen(payload_file, "rb");
        if (!f || fseek(f, 0, SEEK_END) != 0 || (g.size = ftell(f)) < 0)
            die("cannot read %s", payload_file);
        payload = malloc((size_t)g.size + 1);
        rewind(f);
        if (!payload || fread(payload, 1, (size_t)g.size, f) != (size_t)g.size)
            die("cannot read %s", payload_file);
        fclose(f);
    } else {
        payload = malloc((size_t)g.size + 1);
        for (long long i = 0; i < g.size; i++)
            payload[i] = (char)(1 + i % 251); /* non-zero, not text */
    }
    if (!reply_len_set)
        g.reply_len = g.size;
    g.ncmds = 1;
    for (int i = optind; i < argc; i++)
        g.ncmds += strcmp(argv[i], "@THEN") == 0;

    int ep = epoll_create1(0);
    conn_t *conns = calloc((size_t)nconns, sizeof *conns);
    for (int i = 0; i < nconns; i++) {
        conn_t *c = &conns[i];
        build_request(c, argc - optind, argv + optind, prefix, i, payload);
        c->fd = connect_to(host, port);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
            die("epoll_ctl: %s", strerror(errno));
    }

    int until_signal = !per_conn && duration <= 0;
    if (until_signal) {
        struct sigaction sa = {.sa_handler = on_stop_signal}; /* no SA_RESTART */
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
    }
    uint64_t t0 = now_ns();
    uint64_t t_measure = per_conn ? t0 : t0 + (uint64_t)(warmup * 1e9);
    uint64_t t_end = per_conn || until_signal ? UINT64_MAX
                                              : t_measure + (uint64_t)(duration * 1e9);
    for (int i = 0; i < nconns; i++)
        start_request(ep, &conns[i]);

    int busy = nconns;
    struct epoll_event events[64];
    while (busy > 0) {
        int n = epoll_wait(ep, events, 64, 100);
        if (n < 0 && errno != EINTR)
            die("epoll_wait: %s", strerror(errno));
        uint64_t now = now_ns();
        if (stop_requested && t_end == UINT64_MAX)
            t_end = now > t_measure ? now : t_measure;
        for (int e = 0; e < n; e++) {
            conn_t *c = events[e].data.ptr;
            if (events[e].events & EPOLLOUT)
                send_more(ep, c);
            if (!(events[e].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) || !read_reply(c))
                continue;
            if (c->cmd + 1 < g.ncmds) { /* the next command of the request */
                send_command(ep, c, c->cmd + 1);
                continue;
            }
            now = now_ns();
            c->done++;
            if (now >= t_measure && now < t_end)
                record_latency(now - c->t_start, now);
            int more = per_conn ? c->done < per_conn : now < t_end;
            if (more)
                start_request(ep, c);
            else
                busy--;
        }
        /* after the window, outstanding replies are drained, not counted */
        if (!per_conn && t_end != UINT64_MAX && now > t_end + DRAIN_TIMEOUT_NS)
            die("%d replies still outstanding 10 s after the end", busy);
    }
    double secs = per_conn ? (double)(now_ns() - t0) / 1e9
                : until_signal ? (double)(t_end - t_measure) / 1e9 : duration;
    if (secs <= 0)
        secs = 1e-9;

    qsort(g.lat, g.nlat, sizeof *g.lat, cmp_u64);
    printf("{\"ops\":%zu,\"seconds\":%.3f,\"ops_per_sec\":%.1f,\"p50_us\":%.1f,"
           "\"p99_us\":%.1f,\"max_us\":%.1f,\"max_at\":%.6f,\"errors\":%ld,"
           "\"first_error\":\"%s\"}\n",
           g.nlat, secs, (double)g.nlat / secs, percentile_us(50), percentile_us(99),
           percentile_us(100), (double)g.max_at / 1e9, g.errors, g.first_error);
    return 0;
}
