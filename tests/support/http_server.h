/* A small real HTTP/1.1 server for tests and benchmarks: serves the files under a folder on
 * 127.0.0.1 (or ::1) with Range support, one thread per connection, "Connection: close" on every answer.
 * Fault rules make it misbehave the ways real servers do: drop the connection mid-body, answer
 * 5xx, stall, ignore Range, serve truncated or corrupted bodies. */
#ifndef BCOS_TEST_HTTP_SERVER_H
#define BCOS_TEST_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    HS_DROP,         /* close the connection when the body reaches file offset `offset` (-1: a random
                      * offset inside the answer's range) */
    HS_STATUS,       /* answer `status` (500, 503, 404 ...) instead of the file */
    HS_STALL,        /* stop sending at file offset `offset` for stall_ms (or until the client
                      * leaves), then close */
    HS_IGNORE_RANGE, /* answer 200 with the whole file even when a Range was asked for */
    HS_TRUNCATE,     /* serve the file as if it ended at `offset` (Content-Length agrees) */
    HS_CORRUPT,      /* flip the bits of `length` bytes from file offset `offset` */
    HS_DROP_AFTER,   /* close the connection after `length` body bytes of the answer, wherever it
                      * starts: every attempt makes progress, and none ends */
} hs_fault_kind;

typedef struct {
    hs_fault_kind kind;
    const char *path; /* request path it applies to, e.g. "/a.tar"; NULL: every path */
    int after;        /* answers to the path it lets pass before it starts */
    int times;        /* answers it affects; 0: every answer */
    long offset;
    long length;
    int status;
    int stall_ms;
} hs_fault;

typedef struct hs_server hs_server;

/* Serves root on 127.0.0.1:port (0: an ephemeral port); random drop offsets come from seed. */
hs_server *hs_start(const char *root, int port, uint64_t seed);
/* The same on another loopback address: "::1" serves over IPv6. A bind that fails stops the
 * process with a message naming the address. */
hs_server *hs_start_at(const char *root, const char *address, int port, uint64_t seed);
int hs_port(const hs_server *s);
void hs_add_fault(hs_server *s, const hs_fault *f);
void hs_clear_faults(hs_server *s);
/* GET requests answered so far, faults included. */
long hs_requests(hs_server *s);
/* The Authorization header of the latest request ("" when it had none). */
void hs_last_authorization(hs_server *s, char *out, size_t n);
/* Closes every connection and joins every thread. */
void hs_stop(hs_server *s);

#endif
