/* rio_link.h - private to robot_io: what the agent and controller sides
 * share on top of libzmq. Sockets with the link's options, sending and
 * receiving envelopes (+ a blob part) with fault injection, a reliable
 * outbox that resends until acknowledged, a window of recently received
 * reliable messages for duplicate detection, and the CurveZMQ ZAP handler.
 *
 * Wire layout of one message (ZeroMQ multipart):
 *   command channel (DEALER -> ROUTER): [envelope] [blob]?
 *     (ROUTER side: [routing id] [envelope] [blob]?)
 *   telemetry (PUB -> SUB):             [topic] [envelope] [blob]?
 * where topic is "state", "event", "heartbeat" or "frame".
 *
 * The outbox keeps each reliable message as its encoded bytes, so a resend
 * is byte-identical (same seq): the receiver's ack names (session, seq).
 * Not thread-safe: each side's single thread owns its link. */
#ifndef EMBER_RIO_LINK_H
#define EMBER_RIO_LINK_H

#include <stdio.h>
#include <zmq.h>

#include "core/lockfile.h"
#include "robot_io/rio.h"

#define RIO_ROUTE_LEN 256 /* a ZeroMQ routing id is at most 255 bytes */
#define RIO_SEEN 512      /* reliable messages remembered for duplicate detection */

typedef struct rio_route {
    unsigned char id[RIO_ROUTE_LEN];
    size_t len; /* 0: no route (DEALER side) */
} rio_route;

typedef struct rio_pending {
    uint64_t seq;
    rio_msg_type type;
    char plan_id[RIO_ID_LEN], step_id[RIO_ID_LEN];
    rio_route route; /* where it goes (ROUTER side); len 0 = the default route */
    char *json; /* encoded envelope */
    size_t len;
    int64_t next_ms; /* when to (re)send */
    int interval_ms;
    int tries;
} rio_pending;

typedef struct rio_link {
    rio_config cfg;
    void *zctx;
    void *zap;             /* ZAP handler socket (server with CurveZMQ), or NULL */
    char session[RIO_ID_LEN];
    uint64_t next_seq;
    rio_stats stats;
    char errmsg[EM_ERR_LEN];
    FILE *log;
    int quiet;
    uint64_t rng;          /* fault-injection draws */

    /* a message held back by the reorder fault, sent after the next one */
    struct { int used; void *sock; rio_route route; char *json; size_t len; } held;

    rio_pending *out;      /* the reliable outbox */
    int n_out, cap_out;

    struct { uint64_t session_hash, seq; } seen[RIO_SEEN];
    int seen_next;

    zmq_msg_t blob;        /* the last received blob part (valid until the next receive) */
    int blob_live;

    /* PATH.lock of each ipc://PATH this side binds, held until close:
     * libzmq unlinks a socket file in its way, so without them a second
     * controller would silently take the path from a running first one.
     * The socket files themselves are unlinked at close, while the locks are
     * still held (libzmq leaves them behind). */
    em_lockfile *ipc_lock[3];
    char ipc_path[3][RIO_ENDPOINT_LEN];
    int n_ipc_lock;
} rio_link;

/* Set up: copies cfg (rio_config_finish must have run), makes the zmq
 * context, a random session id, and (server with curve) the ZAP handler. */
ember_status rio_link_init(rio_link *l, const rio_config *cfg, FILE *log, int quiet, int zap_server, char *err);
void rio_link_close(rio_link *l);

/* A socket of type (ZMQ_ROUTER...) bound or connected to endpoint, with the
 * high-water mark, CurveZMQ role (0 none, 1 server, 2 client) and the
 * options rio_link.c explains. frames: a frame socket (small kernel buffers).
 * Binding ipc://PATH first takes PATH.lock (held until rio_link_close), so
 * a path another process serves is refused as a tcp port in use is. */
void *rio_link_socket(rio_link *l, int type, const char *endpoint, int bind, int hwm, int curve_role, int frames,
                      char *err);

/* Log one line (unless quiet): "rio[name]: ...". */
void rio_link_log(rio_link *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Stamp m (seq, ts, from, session), encode, send. route: ROUTER target or
 * NULL; topic: PUB topic or NULL. faults: apply the drop/dup/reorder fault.
 * A reliable message also enters the outbox (resent by rio_link_resend).
 * sock may be NULL for a reliable message with nowhere to go yet (queued).
 * Returns EM_OK; a message the socket cannot take now (no peer, HWM) is not
 * an error: reliable ones stay in the outbox. */
ember_status rio_link_send(rio_link *l, void *sock, const rio_route *route, const char *topic, rio_msg *m,
                           const void *blob, size_t blob_len, int faults);

/* Resend due outbox entries on sock, each to its own route or, when it has
 * none, to route (sock NULL: nothing is sent). Returns the ms until the next one is due
 * (or INT32_MAX). */
int rio_link_resend(rio_link *l, void *sock, const rio_route *route);

/* An ack for (session, seq) received: drop that outbox entry. */
void rio_link_acked(rio_link *l, const char *session, uint64_t seq);
/* Drop outbox entries for a step (its fate is known), or a whole plan (step_id NULL). */
void rio_link_forget(rio_link *l, rio_msg_type type, const char *plan_id, const char *step_id);
/* Send a plan's pending messages to route from now on (its agent restarted). */
void rio_link_reroute(rio_link *l, const char *plan_id, const rio_route *route);
/* Make every outbox entry due now (the peer came back). */
void rio_link_resend_all_now(rio_link *l);

/* Receive one message from sock without waiting. Returns 1 with m decoded
 * (clear it with rio_msg_clear), route filled for ROUTER sockets and the blob
 * attached; 0 when nothing is waiting; -1 when a message was refused (logged
 * and counted; the caller just tries again). topic: PUB/SUB sockets. */
int rio_link_recv(rio_link *l, void *sock, int is_router, int is_sub, rio_route *route, rio_msg *m);

/* Send an ack for m (if reliable) back on sock/route, and say whether it is
 * a duplicate of one seen before (1) or new (0). */
int rio_link_ack(rio_link *l, void *sock, const rio_route *route, const rio_msg *m);

/* Serve pending ZAP requests (CurveZMQ authentication). */
void rio_link_zap_serve(rio_link *l);

#endif
