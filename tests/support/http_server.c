/* The test HTTP/1.1 server: an accept thread on 127.0.0.1 hands each connection to its own thread,
 * which reads one GET request, applies the fault rules that match its path, and answers with the
 * file (200 or 206 for "Range: bytes=N-" / "bytes=N-M") before closing the connection. */
#include "support/http_server.h"

#include "bcos/check.h"
#include "bcos/rng.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_FAULTS 32
#define REQUEST_BYTES 16384
#define CHUNK_BYTES 16384
#define POLL_MS 20
#define IDLE_MS 10000

typedef struct {
    hs_fault f;
    char path[256];
    int skip; /* answers still to let pass */
    int left; /* answers still affected; -1: unlimited */
} rule;

typedef struct conn {
    hs_server *server;
    int fd;
    pthread_t thread;
    atomic_bool done;
    struct conn *next;
} conn;

struct hs_server {
    char *root;
    int listen_fd, port;
    pthread_t accept_thread;
    atomic_bool stopping;
    pthread_mutex_t lock; /* guards everything below */
    rule rules[MAX_FAULTS];
    int n_rules;
    long requests;
    char authorization[1024];
    bcos_rng rng;
    conn *conns;
};

/* What one answer does, after the rules that matched it. */
typedef struct {
    int status;     /* 0: serve the file */
    bool ignore_range;
    long drop_at, stall_at, truncate_at, corrupt_at, corrupt_len; /* -1: none */
    long drop_after; /* body bytes of the answer; -1: none */
    bool drop_random;
    int stall_ms;
} plan;

typedef struct {
    char path[1024];
    bool has_range;
    long range_from, range_to; /* range_to -1: to the end */
} request;

static bool send_all(int fd, const void *data, size_t n) {
    const char *p = data;
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* Reads until the end of the request head; false when the client left, idled or sent too much. */
static bool read_head(hs_server *s, int fd, char *buf, size_t cap) {
    size_t used = 0;
    int idle = 0;
    while (!atomic_load(&s->stopping) && idle < IDLE_MS) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, POLL_MS) <= 0) {
            idle += POLL_MS;
            continue;
        }
        ssize_t r = recv(fd, buf + used, cap - 1 - used, 0);
        if (r <= 0) return false;
        used += (size_t)r;
        buf[used] = '\0';
        if (strstr(buf, "\r\n\r\n")) return true;
        if (used == cap - 1) return false;
    }
    return false;
}

static const char *header_value(const char *head, const char *name) {
    size_t n = strlen(name);
    for (const char *line = strstr(head, "\r\n"); line && line[2]; line = strstr(line + 2, "\r\n"))
        if (strncasecmp(line + 2, name, n) == 0 && line[2 + n] == ':') {
            const char *v = line + 3 + n;
            while (*v == ' ') v++;
            return v;
        }
    return NULL;
}

static bool parse_request(const char *head, request *req) {
    char method[16];
    if (sscanf(head, "%15s %1023s", method, req->path) != 2 || strcmp(method, "GET") != 0) return false;
    req->path[strcspn(req->path, "?")] = '\0';
    const char *range = header_value(head, "Range");
    req->has_range = false;
    req->range_to = -1;
    if (range && sscanf(range, "bytes=%ld-%ld", &req->range_from, &req->range_to) >= 1) req->has_range = true;
    return true;
}

static void record_request(hs_server *s, const char *head) {
    const char *auth = header_value(head, "Authorization");
    pthread_mutex_lock(&s->lock);
    s->requests++;
    size_t n = auth ? strcspn(auth, "\r") : 0;
    if (n >= sizeof s->authorization) n = sizeof s->authorization - 1;
    memcpy(s->authorization, auth ? auth : "", n);
    s->authorization[n] = '\0';
    pthread_mutex_unlock(&s->lock);
}

/* Folds every rule that matches path into a plan, spending one of each rule's answers. */
static plan make_plan(hs_server *s, const char *path) {
    plan p = {0, false, -1, -1, -1, -1, 0, -1, false, 0};
    pthread_mutex_lock(&s->lock);
    for (int i = 0; i < s->n_rules; i++) {
        rule *r = &s->rules[i];
        if (r->left == 0 || (r->path[0] && strcmp(r->path, path) != 0)) continue;
        if (r->skip > 0) {
            r->skip--;
            continue;
        }
        if (r->left > 0) r->left--;
        const hs_fault *f = &r->f;
        switch (f->kind) {
        case HS_DROP: p.drop_at = f->offset; p.drop_random = f->offset < 0; break;
        case HS_STATUS: p.status = f->status; break;
        case HS_STALL: p.stall_at = f->offset; p.stall_ms = f->stall_ms; break;
        case HS_IGNORE_RANGE: p.ignore_range = true; break;
        case HS_TRUNCATE: p.truncate_at = f->offset; break;
        case HS_CORRUPT: p.corrupt_at = f->offset; p.corrupt_len = f->length; break;
        case HS_DROP_AFTER: p.drop_after = f->length; break;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return p;
}

static void answer_status(int fd, int status, const char *reason) {
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s\n",
                     status, reason, strlen(reason) + 1, reason);
    send_all(fd, head, (size_t)n);
}

/* Waits up to ms, or less when the client closes its end or the server stops. */
static void stall(hs_server *s, int fd, int ms) {
    for (int waited = 0; waited < ms && !atomic_load(&s->stopping); waited += POLL_MS) {
        struct pollfd p = {fd, POLLIN, 0};
        char byte;
        if (poll(&p, 1, POLL_MS) > 0 && recv(fd, &byte, 1, MSG_DONTWAIT) <= 0) return;
    }
}

/* Sends file bytes [from, to) applying the plan's corruption, drop and stall. */
static void send_body(hs_server *s, int fd, FILE *file, long from, long to, const plan *p) {
    long drop_at = p->drop_at;
    if (p->drop_random && to > from) {
        pthread_mutex_lock(&s->lock);
        drop_at = from + (long)bcos_rng_below(&s->rng, (uint64_t)(to - from));
        pthread_mutex_unlock(&s->lock);
    }
    if (p->drop_after >= 0) drop_at = from + p->drop_after;
    char buf[CHUNK_BYTES];
    fseek(file, from, SEEK_SET);
    for (long pos = from; pos < to && !atomic_load(&s->stopping);) {
        long end = pos + CHUNK_BYTES < to ? pos + CHUNK_BYTES : to;
        long stop_at = drop_at >= pos ? drop_at : p->stall_at >= pos ? p->stall_at : -1;
        if (stop_at >= pos && stop_at < end) end = stop_at;
        size_t n = fread(buf, 1, (size_t)(end - pos), file);
        if (n != (size_t)(end - pos)) return;
        for (long i = pos; i < end; i++)
            if (p->corrupt_at >= 0 && i >= p->corrupt_at && i < p->corrupt_at + p->corrupt_len) buf[i - pos] ^= (char)0xFF;
        if (!send_all(fd, buf, n)) return;
        pos = end;
        if (pos == drop_at) return;
        if (pos == p->stall_at) {
            stall(s, fd, p->stall_ms);
            return;
        }
    }
}

static void serve_file(hs_server *s, int fd, const request *req, const plan *p) {
    char path[2048];
    snprintf(path, sizeof path, "%s%s", s->root, req->path);
    struct stat st;
    FILE *file = strstr(req->path, "..") ? NULL : fopen(path, "rb");
    if (!file || fstat(fileno(file), &st) != 0 || !S_ISREG(st.st_mode)) {
        if (file) fclose(file);
        answer_status(fd, 404, "Not Found");
        return;
    }
    long size = p->truncate_at >= 0 && p->truncate_at < st.st_size ? p->truncate_at : (long)st.st_size;
    bool ranged = req->has_range && !p->ignore_range;
    long from = ranged ? req->range_from : 0;
    long to = ranged && req->range_to >= 0 && req->range_to < size ? req->range_to + 1 : size;
    if (ranged && from >= size) {
        fclose(file);
        answer_status(fd, 416, "Range Not Satisfiable");
        return;
    }
    char head[512];
    int n = ranged ? snprintf(head, sizeof head,
                              "HTTP/1.1 206 Partial Content\r\nContent-Length: %ld\r\nContent-Range: bytes %ld-%ld/%ld\r\n"
                              "Accept-Ranges: bytes\r\nConnection: close\r\n\r\n",
                              to - from, from, to - 1, size)
                   : snprintf(head, sizeof head,
                              "HTTP/1.1 200 OK\r\nContent-Length: %ld\r\nAccept-Ranges: bytes\r\nConnection: close\r\n\r\n",
                              size);
    if (send_all(fd, head, (size_t)n)) send_body(s, fd, file, from, to, p);
    fclose(file);
}

static void *serve_connection(void *arg) {
    conn *c = arg;
    hs_server *s = c->server;
    char *head = xmalloc(REQUEST_BYTES);
    request req;
    if (read_head(s, c->fd, head, REQUEST_BYTES)) {
        if (!parse_request(head, &req)) {
            answer_status(c->fd, 405, "Method Not Allowed");
        } else {
            record_request(s, head);
            plan p = make_plan(s, req.path);
            if (p.status)
                answer_status(c->fd, p.status, "Injected Failure");
            else
                serve_file(s, c->fd, &req, &p);
        }
    }
    free(head);
    shutdown(c->fd, SHUT_RDWR);
    close(c->fd);
    atomic_store(&c->done, true);
    return NULL;
}

/* Joins the connection threads that have finished (all of them when `all`). */
static void reap(hs_server *s, bool all) {
    for (conn **link = &s->conns; *link;) {
        conn *c = *link;
        if (!all && !atomic_load(&c->done)) {
            link = &c->next;
            continue;
        }
        pthread_join(c->thread, NULL);
        *link = c->next;
        free(c);
    }
}

static void *accept_loop(void *arg) {
    hs_server *s = arg;
    while (!atomic_load(&s->stopping)) {
        struct pollfd p = {s->listen_fd, POLLIN, 0};
        if (poll(&p, 1, POLL_MS) <= 0) continue;
        int fd = accept(s->listen_fd, NULL, NULL);
        if (fd < 0) continue;
        reap(s, false);
        conn *c = xcalloc(1, sizeof *c);
        c->server = s;
        c->fd = fd;
        atomic_init(&c->done, false);
        BCOS_CHECK(pthread_create(&c->thread, NULL, serve_connection, c) == 0, "cannot start a server thread");
        c->next = s->conns;
        s->conns = c;
    }
    reap(s, true);
    return NULL;
}

/* address as a socket address of its family (IPv4 "127.0.0.1" or IPv6 "::1") with port. */
static socklen_t socket_address(struct sockaddr_storage *out, const char *address, int port) {
    memset(out, 0, sizeof *out);
    struct sockaddr_in *v4 = (struct sockaddr_in *)out;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)out;
    if (inet_pton(AF_INET, address, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        return sizeof *v4;
    }
    BCOS_CHECK(inet_pton(AF_INET6, address, &v6->sin6_addr) == 1, "the test server's address is not an IP literal");
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((uint16_t)port);
    return sizeof *v6;
}

hs_server *hs_start(const char *root, int port, uint64_t seed) { return hs_start_at(root, "127.0.0.1", port, seed); }

hs_server *hs_start_at(const char *root, const char *address, int port, uint64_t seed) {
    hs_server *s = xcalloc(1, sizeof *s);
    s->root = xstrdup(root);
    pthread_mutex_init(&s->lock, NULL);
    atomic_init(&s->stopping, false);
    bcos_rng_seed(&s->rng, seed);
    struct sockaddr_storage addr;
    socklen_t len = socket_address(&addr, address, port);
    s->listen_fd = socket(addr.ss_family, SOCK_STREAM, 0);
    BCOS_CHECK(s->listen_fd >= 0, "cannot create a socket (is this address family available?)");
    int one = 1;
    setsockopt(s->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(s->listen_fd, (struct sockaddr *)&addr, len) != 0)
        bcos_fail("test server: cannot listen on %s port %d: %s", address, port, strerror(errno));
    BCOS_CHECK(listen(s->listen_fd, 64) == 0, "listen failed");
    BCOS_CHECK(getsockname(s->listen_fd, (struct sockaddr *)&addr, &len) == 0, "getsockname failed");
    s->port = ntohs(addr.ss_family == AF_INET ? ((struct sockaddr_in *)&addr)->sin_port
                                              : ((struct sockaddr_in6 *)&addr)->sin6_port);
    BCOS_CHECK(pthread_create(&s->accept_thread, NULL, accept_loop, s) == 0, "cannot start the server thread");
    return s;
}

int hs_port(const hs_server *s) { return s->port; }

void hs_add_fault(hs_server *s, const hs_fault *f) {
    pthread_mutex_lock(&s->lock);
    BCOS_CHECK(s->n_rules < MAX_FAULTS, "too many fault rules");
    rule *r = &s->rules[s->n_rules++];
    r->f = *f;
    snprintf(r->path, sizeof r->path, "%s", f->path ? f->path : "");
    r->f.path = NULL;
    r->skip = f->after;
    r->left = f->times > 0 ? f->times : -1;
    pthread_mutex_unlock(&s->lock);
}

void hs_clear_faults(hs_server *s) {
    pthread_mutex_lock(&s->lock);
    s->n_rules = 0;
    pthread_mutex_unlock(&s->lock);
}

long hs_requests(hs_server *s) {
    pthread_mutex_lock(&s->lock);
    long n = s->requests;
    pthread_mutex_unlock(&s->lock);
    return n;
}

void hs_last_authorization(hs_server *s, char *out, size_t n) {
    pthread_mutex_lock(&s->lock);
    snprintf(out, n, "%s", s->authorization);
    pthread_mutex_unlock(&s->lock);
}

void hs_stop(hs_server *s) {
    atomic_store(&s->stopping, true);
    pthread_join(s->accept_thread, NULL);
    close(s->listen_fd);
    pthread_mutex_destroy(&s->lock);
    free(s->root);
    free(s);
}
