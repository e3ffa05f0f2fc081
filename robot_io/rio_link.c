/* rio_link.c - sockets, envelopes, fault injection, the reliable outbox and
 * the ZAP handler shared by the agent and controller sides (rio_link.h). */
#include "robot_io/rio_link.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define OUTBOX_MAX 4096 /* unacknowledged reliable messages before sends fail */
#define LOG_EVERY 1000  /* after 20 lines of one kind, log only every 1000th */

void rio_link_log(rio_link *l, const char *fmt, ...) {
    if (l->quiet) return;
    FILE *f = l->log ? l->log : stderr;
    va_list ap;
    va_start(ap, fmt);
    fprintf(f, "rio[%s]: ", l->cfg.name);
    vfprintf(f, fmt, ap);
    fputc('\n', f);
    fflush(f);
    va_end(ap);
}

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double draw(rio_link *l) { return (double)(splitmix(&l->rng) >> 11) / 9007199254740992.0; }

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* ---- ZAP: CurveZMQ authentication against the allowed public keys ------ */

void rio_link_zap_serve(rio_link *l) {
    if (!l->zap) return;
    for (;;) {
        zmq_msg_t part[8];
        int n = 0, more = 1;
        while (more && n < 8) {
            zmq_msg_init(&part[n]);
            if (zmq_msg_recv(&part[n], l->zap, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&part[n]);
                break;
            }
            more = zmq_msg_more(&part[n]);
            n++;
        }
        if (n == 0) return;
        /* version, request id, domain, address, routing id, mechanism, key */
        int ok = 0;
        char key[RIO_KEY_LEN] = "?", addr[64] = "?";
        if (n >= 7 && zmq_msg_size(&part[5]) == 5 && !memcmp(zmq_msg_data(&part[5]), "CURVE", 5) &&
            zmq_msg_size(&part[6]) == 32) {
            zmq_z85_encode(key, zmq_msg_data(&part[6]), 32);
            for (int i = 0; i < l->cfg.n_allowed; i++)
                if (!strcmp(key, l->cfg.allowed[i])) ok = 1;
        }
        if (n >= 4) snprintf(addr, sizeof addr, "%.*s", (int)zmq_msg_size(&part[3]), (char *)zmq_msg_data(&part[3]));
        if (!ok) {
            l->stats.refused++;
            rio_link_log(l, "refused a CurveZMQ client at %s: public key %s is not allowed", addr, key);
        }
        if (n >= 2) {
            zmq_send(l->zap, "1.0", 3, ZMQ_SNDMORE);
            zmq_send(l->zap, zmq_msg_data(&part[1]), zmq_msg_size(&part[1]), ZMQ_SNDMORE);
            zmq_send(l->zap, ok ? "200" : "400", 3, ZMQ_SNDMORE);
            const char *text = ok ? "OK" : "public key not allowed";
            zmq_send(l->zap, text, strlen(text), ZMQ_SNDMORE);
            zmq_send(l->zap, ok ? key : "", ok ? strlen(key) : 0, ZMQ_SNDMORE);
            zmq_send(l->zap, "", 0, 0);
        }
        for (int i = 0; i < n; i++) zmq_msg_close(&part[i]);
    }
}

/* ---- set-up ------------------------------------------------------------- */

ember_status rio_link_init(rio_link *l, const rio_config *cfg, FILE *log, int quiet, int zap_server, char *err) {
    memset(l, 0, sizeof *l);
    l->cfg = *cfg;
    l->log = log;
    l->quiet = quiet;
    l->next_seq = 1;
    zmq_msg_init(&l->blob);
    uint8_t rnd[8];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
        return em_err(err, EM_ERR_IO, "rio_link_init: getrandom: %s", strerror(errno));
    for (int i = 0; i < 8; i++) snprintf(l->session + 2 * i, 3, "%02x", rnd[i]);
    l->rng = cfg->fault_seed ? cfg->fault_seed : 0x5eed;
    l->zctx = zmq_ctx_new();
    if (!l->zctx) return em_err(err, EM_ERR_IO, "rio_link_init: zmq_ctx_new: %s", zmq_strerror(zmq_errno()));
    if (zap_server && cfg->curve) {
        /* The ZAP handler must be bound before any CURVE server socket
         * binds; libzmq asks it about every handshake on this context. */
        l->zap = zmq_socket(l->zctx, ZMQ_REP);
        int linger = 0;
        if (!l->zap || zmq_setsockopt(l->zap, ZMQ_LINGER, &linger, sizeof linger) ||
            zmq_bind(l->zap, "inproc://zeromq.zap.01") != 0)
            return em_err(err, EM_ERR_IO, "rio_link_init: ZAP handler: %s", zmq_strerror(zmq_errno()));
    }
    return EM_OK;
}

void rio_link_close(rio_link *l) {
    if (!l) return;
    for (int i = 0; i < l->n_out; i++) free(l->out[i].json);
    free(l->out);
    free(l->held.json);
    zmq_msg_close(&l->blob); /* initialised at init, live or not */
    if (l->zap) zmq_close(l->zap);
    if (l->zctx) zmq_ctx_term(l->zctx);
    /* after the context: its sockets (closed by the caller) are gone now, so
     * their files can go, before the locks that say whose they are */
    for (int i = 0; i < l->n_ipc_lock; i++) {
        unlink(l->ipc_path[i]);
        em_lockfile_release(l->ipc_lock[i]);
    }
    memset(l, 0, sizeof *l);
}

/* "command", "state" or "frame", for messages that say which socket of
 * the three met the trouble. */
static const char *which_socket(const rio_link *l, const char *endpoint) {
    if (!strcmp(endpoint, l->cfg.state_endpoint)) return "state";
    if (!strcmp(endpoint, l->cfg.frame_endpoint)) return "frame";
    return "command";
}

/* Before binding ipc://PATH: take PATH.lock, or refuse naming its holder.
 * The socket s is closed on failure. An abstract (@name) endpoint has no
 * file to lose: the kernel refuses a second binder itself. */
static int ipc_lock(rio_link *l, void *s, const char *role, const char *endpoint, char *err) {
    if (strncmp(endpoint, "ipc://", 6) || endpoint[6] == '@' || !strcmp(endpoint + 6, "*")) return 0;
    char path[RIO_ENDPOINT_LEN + 8], why[EM_ERR_LEN];
    snprintf(path, sizeof path, "%s.lock", endpoint + 6);
    long holder;
    int e;
    em_lockfile *lk = l->n_ipc_lock < 3 ? em_lockfile_take(path, &holder, &e, why) : NULL;
    if (lk) {
        snprintf(l->ipc_path[l->n_ipc_lock], sizeof l->ipc_path[0], "%s", endpoint + 6);
        l->ipc_lock[l->n_ipc_lock++] = lk;
        return 0;
    }
    if (l->n_ipc_lock >= 3) em_err(err, EM_ERR_INTERNAL, "rio: bind %s: more than three ipc endpoints", endpoint);
    else if (holder > 0) /* the words of the tcp refusal, for cli_rio_advice */
        em_err(err, EM_ERR_IO, "rio: bind the %s socket to %s: in use by process %ld, which holds %s (another "
               "controller bound there?)", role, endpoint, holder, path);
    else if (holder < 0)
        em_err(err, EM_ERR_IO, "rio: bind the %s socket to %s: in use by another process, which holds %s (another "
               "controller bound there?)", role, endpoint, path);
    else
        em_err(err, EM_ERR_IO, "rio: bind the %s socket to %s: cannot create its lock file %s: %s", role, endpoint, path,
               strerror(e));
    zmq_close(s);
    return -1;
}

void *rio_link_socket(rio_link *l, int type, const char *endpoint, int bind, int hwm, int curve_role, int frames,
                      char *err) {
    void *s = zmq_socket(l->zctx, type);
    if (!s) {
        em_err(err, EM_ERR_IO, "rio: zmq_socket: %s", zmq_strerror(zmq_errno()));
        return NULL;
    }
    int one = 1, linger = 200, rc = 0;
    int64_t maxmsg = l->cfg.max_msg_bytes;
    int reconnect = 100, reconnect_max = 1000;
    /* Linger a little so a last ack leaves on close, never hang on it. */
    rc |= zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    rc |= zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    rc |= zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
    /* A part larger than this drops the sender's connection inside libzmq
     * before it is ever buffered whole: the bound on memory per peer. */
    rc |= zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    if (frames) {
        /* Frames: a high-water mark bounds only libzmq's own queues; the
         * kernel's socket buffers (megabytes on loopback) would hold several
         * more frames for a slow consumer. Keep them to about a frame, so
         * the frame it gets next is the newest. */
        int buf = 256 << 10;
        rc |= zmq_setsockopt(s, ZMQ_SNDBUF, &buf, sizeof buf);
        rc |= zmq_setsockopt(s, ZMQ_RCVBUF, &buf, sizeof buf);
    }
    rc |= zmq_setsockopt(s, ZMQ_RECONNECT_IVL, &reconnect, sizeof reconnect);
    rc |= zmq_setsockopt(s, ZMQ_RECONNECT_IVL_MAX, &reconnect_max, sizeof reconnect_max);
    if (type == ZMQ_ROUTER || type == ZMQ_DEALER) {
        /* ZMTP heartbeats close a connection whose peer vanished without a
         * FIN (power loss, cable): the DEALER then reconnects. */
        int ivl = l->cfg.heartbeat_ms, tmo = l->cfg.peer_timeout_ms;
        rc |= zmq_setsockopt(s, ZMQ_HEARTBEAT_IVL, &ivl, sizeof ivl);
        rc |= zmq_setsockopt(s, ZMQ_HEARTBEAT_TIMEOUT, &tmo, sizeof tmo);
    }
    /* ROUTER: a send to an agent that is gone fails (EHOSTUNREACH) instead
     * of vanishing, so feedback stays in the outbox until someone acks it. */
    if (type == ZMQ_ROUTER) rc |= zmq_setsockopt(s, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    /* DEALER: queue only on live connections; with none, a send fails at
     * once and the outbox keeps the message (no stale burst on reconnect). */
    if (type == ZMQ_DEALER) rc |= zmq_setsockopt(s, ZMQ_IMMEDIATE, &one, sizeof one);
    if (curve_role == 1) {
        rc |= zmq_setsockopt(s, ZMQ_CURVE_SERVER, &one, sizeof one);
        rc |= zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, l->cfg.secret_key, 40);
        rc |= zmq_setsockopt(s, ZMQ_ZAP_DOMAIN, "ember", 5);
    } else if (curve_role == 2) {
        rc |= zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, l->cfg.server_key, 40);
        rc |= zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, l->cfg.public_key, 40);
        rc |= zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, l->cfg.secret_key, 40);
    }
    if (rc) {
        em_err(err, EM_ERR_IO, "rio: zmq_setsockopt on %s: %s%s", endpoint, zmq_strerror(zmq_errno()),
               curve_role ? " (is libzmq built with CURVE? are the keys 40-character Z85?)" : "");
        zmq_close(s);
        return NULL;
    }
    const char *role = which_socket(l, endpoint);
    if (bind && ipc_lock(l, s, role, endpoint, err)) return NULL;
    if ((bind ? zmq_bind(s, endpoint) : zmq_connect(s, endpoint)) != 0) {
        int e = zmq_errno();
        /* cli_rio_advice matches "another controller bound there?" to name its flag */
        const char *hint = "";
        if (e == EADDRINUSE)
            hint = strcmp(role, "command") && !strncmp(endpoint, "tcp://", 6)
                       ? " (another controller bound there? the state and frame sockets take the command port + 1 "
                         "and + 2, so a controller needs three free ports)"
                       : " (another controller bound there?)";
        em_err(err, EM_ERR_IO, "rio: %s the %s socket %s %s: %s%s", bind ? "bind" : "connect", role, bind ? "to" : "at",
               endpoint, zmq_strerror(e), hint);
        zmq_close(s);
        return NULL;
    }
    return s;
}

/* ---- sending ------------------------------------------------------------ */

/* One message onto the socket, now, or not at all (EAGAIN, EHOSTUNREACH). */
static int send_raw(void *sock, const rio_route *route, const char *topic, const char *json, size_t len,
                    const void *blob, size_t blob_len) {
    int more_env = blob ? ZMQ_SNDMORE : 0;
    if (route && route->len) {
        if (zmq_send(sock, route->id, route->len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) return -1;
    } else if (topic) {
        if (zmq_send(sock, topic, strlen(topic), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) return -1;
    }
    if (zmq_send(sock, json, len, more_env | ZMQ_DONTWAIT) < 0) return -1;
    if (blob && zmq_send(sock, blob, blob_len, ZMQ_DONTWAIT) < 0) return -1;
    return 0;
}

static void flush_held(rio_link *l) {
    if (!l->held.used) return;
    send_raw(l->held.sock, l->held.route.len ? &l->held.route : NULL, NULL, l->held.json, l->held.len, NULL, 0);
    free(l->held.json);
    l->held.json = NULL;
    l->held.used = 0;
}

/* Send on the command channel through the fault injector. */
static void send_faulty(rio_link *l, void *sock, const rio_route *route, const char *json, size_t len, int faults) {
    double p_drop = l->cfg.fault_drop, p_dup = l->cfg.fault_dup, p_re = l->cfg.fault_reorder;
    if (faults && p_drop + p_dup + p_re > 0) {
        double r = draw(l);
        if (r < p_drop) {
            l->stats.injected_drop++;
            return;
        }
        if (r < p_drop + p_dup) {
            l->stats.injected_dup++;
            send_raw(sock, route, NULL, json, len, NULL, 0);
        } else if (r < p_drop + p_dup + p_re && !l->held.used) {
            char *copy = malloc(len);
            if (copy) {
                memcpy(copy, json, len);
                l->held.used = 1;
                l->held.sock = sock;
                l->held.route = route ? *route : (rio_route){0};
                l->held.json = copy;
                l->held.len = len;
                l->stats.injected_reorder++;
                return; /* goes out after the next message */
            }
        }
    }
    if (send_raw(sock, route, NULL, json, len, NULL, 0) == 0) l->stats.sent++;
    flush_held(l);
}

ember_status rio_link_send(rio_link *l, void *sock, const rio_route *route, const char *topic, rio_msg *m,
                           const void *blob, size_t blob_len, int faults) {
    m->seq = l->next_seq++;
    m->ts_us = rio_now_us();
    snprintf(m->from, sizeof m->from, "%s", l->cfg.name);
    snprintf(m->session, sizeof m->session, "%s", l->session);
    char *json = NULL;
    size_t len = 0;
    ember_status st = rio_msg_encode(m, &json, &len, l->errmsg);
    if (st) return st;
    if (m->reliable) {
        if (l->n_out >= OUTBOX_MAX) {
            free(json);
            return em_err(l->errmsg, EM_ERR_RANGE,
                          "rio: %d messages wait for an acknowledgement; the peer is not answering", l->n_out);
        }
        if (l->n_out == l->cap_out) {
            int cap = l->cap_out ? 2 * l->cap_out : 16;
            rio_pending *p = realloc(l->out, (size_t)cap * sizeof *p);
            if (!p) {
                free(json);
                return em_err(l->errmsg, EM_ERR_NOMEM, "rio: out of memory for the outbox");
            }
            l->out = p;
            l->cap_out = cap;
        }
        rio_pending *p = &l->out[l->n_out++];
        memset(p, 0, sizeof *p);
        p->seq = m->seq;
        p->type = m->type;
        snprintf(p->plan_id, sizeof p->plan_id, "%s", m->plan_id);
        snprintf(p->step_id, sizeof p->step_id, "%s", m->step_id);
        if (route) p->route = *route;
        p->json = json;
        p->len = len;
        p->interval_ms = l->cfg.resend_ms;
        p->next_ms = rio_mono_ms() + p->interval_ms;
        p->tries = 1;
        /* sock NULL: no peer to send to yet (a controller that knows no
         * agent); rio_link_resend sends it once there is one. */
        if (sock) send_faulty(l, sock, route, json, len, faults);
        return EM_OK;
    }
    if (topic) {
        if (send_raw(sock, NULL, topic, json, len, blob, blob_len) == 0) l->stats.sent++;
    } else if (faults) {
        send_faulty(l, sock, route, json, len, faults);
    } else if (send_raw(sock, route, NULL, json, len, blob, blob_len) == 0) {
        l->stats.sent++;
    }
    free(json);
    return EM_OK;
}

int rio_link_resend(rio_link *l, void *sock, const rio_route *route) {
    int64_t now = rio_mono_ms(), next = INT32_MAX;
    int can_send = sock != NULL;
    for (int i = 0; i < l->n_out; i++) {
        rio_pending *p = &l->out[i];
        const rio_route *to = p->route.len ? &p->route : route;
        if (p->next_ms <= now && can_send && (to || !route)) {
            send_faulty(l, sock, to, p->json, p->len, 1);
            l->stats.resent++;
            p->tries++;
            p->interval_ms = p->interval_ms * 2 > l->cfg.resend_ms * 16 ? l->cfg.resend_ms * 16 : p->interval_ms * 2;
            p->next_ms = now + p->interval_ms;
        }
        if (p->next_ms - now < next) next = p->next_ms - now;
    }
    flush_held(l);
    return next < 0 ? 0 : (int)next;
}

static void out_remove(rio_link *l, int i) {
    free(l->out[i].json);
    l->out[i] = l->out[--l->n_out];
}

void rio_link_acked(rio_link *l, const char *session, uint64_t seq) {
    if (strcmp(session, l->session)) return; /* an ack for an earlier incarnation of us */
    for (int i = 0; i < l->n_out; i++)
        if (l->out[i].seq == seq) {
            out_remove(l, i);
            l->stats.acked++;
            return;
        }
}

void rio_link_forget(rio_link *l, rio_msg_type type, const char *plan_id, const char *step_id) {
    for (int i = 0; i < l->n_out;) {
        rio_pending *p = &l->out[i];
        if (p->type == type && !strcmp(p->plan_id, plan_id) && (!step_id || !strcmp(p->step_id, step_id)))
            out_remove(l, i);
        else
            i++;
    }
}

void rio_link_reroute(rio_link *l, const char *plan_id, const rio_route *route) {
    for (int i = 0; i < l->n_out; i++)
        if (!strcmp(l->out[i].plan_id, plan_id)) {
            l->out[i].route = *route;
            l->out[i].next_ms = rio_mono_ms();
        }
}

void rio_link_resend_all_now(rio_link *l) {
    int64_t now = rio_mono_ms();
    for (int i = 0; i < l->n_out; i++) {
        l->out[i].next_ms = now;
        l->out[i].interval_ms = l->cfg.resend_ms;
    }
}

/* ---- receiving ---------------------------------------------------------- */

static int refuse(rio_link *l, uint64_t *counter, const char *what, const char *why) {
    (*counter)++;
    if (*counter <= 20 || *counter % LOG_EVERY == 0)
        rio_link_log(l, "refused a message (%s #%llu): %s", what, (unsigned long long)*counter, why);
    return -1;
}

int rio_link_recv(rio_link *l, void *sock, int is_router, int is_sub, rio_route *route, rio_msg *m) {
    zmq_msg_t part[4];
    int n = 0, more = 1, extra = 0;
    if (l->blob_live) {
        zmq_msg_close(&l->blob);
        zmq_msg_init(&l->blob);
        l->blob_live = 0;
    }
    while (more) {
        zmq_msg_t *p = n < 4 ? &part[n] : NULL;
        zmq_msg_t sink;
        if (!p) { p = &sink; extra++; }
        zmq_msg_init(p);
        if (zmq_msg_recv(p, sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(p);
            if (n == 0) return 0;
            break; /* parts of one message arrive together; cannot happen */
        }
        more = zmq_msg_more(p);
        if (p == &sink) zmq_msg_close(p);
        else n++;
    }
    int head = (is_router || is_sub) ? 1 : 0; /* routing id or topic */
    int rc = -1;
    char err[EM_ERR_LEN];
    if (route) route->len = 0;
    if (is_router && n >= 1 && route) {
        size_t rl = zmq_msg_size(&part[0]);
        route->len = rl < RIO_ROUTE_LEN ? rl : RIO_ROUTE_LEN - 1;
        memcpy(route->id, zmq_msg_data(&part[0]), route->len);
    }
    int parts = n - head;
    if (extra || parts < 1 || parts > 2) {
        rc = refuse(l, &l->stats.malformed, "malformed", "expected an envelope and at most one binary part");
        goto done;
    }
    size_t len = zmq_msg_size(&part[head]);
    if (len > RIO_MAX_JSON) {
        snprintf(err, sizeof err, "envelope of %zu bytes exceeds %d", len, RIO_MAX_JSON);
        rc = refuse(l, &l->stats.oversized, "oversized", err);
        goto done;
    }
    ember_status st = rio_msg_decode(m, zmq_msg_data(&part[head]), len, err);
    if (st == EM_ERR_UNSUPPORTED) { rc = refuse(l, &l->stats.version_refused, "version", err); goto done; }
    if (st == EM_ERR_RANGE) { rc = refuse(l, &l->stats.oversized, "oversized", err); goto done; }
    if (st) { rc = refuse(l, &l->stats.malformed, "malformed", err); goto done; }
    if (m->type == RIO_MSG_FRAME) {
        if (parts != 2) {
            rio_msg_clear(m);
            rc = refuse(l, &l->stats.malformed, "malformed", "a frame without its image part");
            goto done;
        }
        /* Keep the image part alive: the frame borrows its bytes. */
        zmq_msg_move(&l->blob, &part[head + 1]);
        l->blob_live = 1;
        if ((st = rio_msg_attach_blob(m, zmq_msg_data(&l->blob), zmq_msg_size(&l->blob), err))) {
            rio_msg_clear(m);
            rc = refuse(l, &l->stats.malformed, "malformed", err);
            goto done;
        }
    } else if (parts == 2) {
        rio_msg_clear(m);
        rc = refuse(l, &l->stats.malformed, "malformed", "a binary part on a message that has none");
        goto done;
    }
    l->stats.received++;
    rc = 1;
done:
    for (int i = 0; i < n; i++) zmq_msg_close(&part[i]);
    return rc;
}

int rio_link_ack(rio_link *l, void *sock, const rio_route *route, const rio_msg *m) {
    if (!m->reliable) return 0;
    rio_msg ack;
    rio_msg_init(&ack, RIO_MSG_ACK);
    snprintf(ack.u.ack.session, sizeof ack.u.ack.session, "%s", m->session);
    ack.u.ack.seq = m->seq;
    rio_link_send(l, sock, route, NULL, &ack, NULL, 0, 1);
    rio_msg_clear(&ack);
    uint64_t h = hash_str(m->session);
    for (int i = 0; i < RIO_SEEN; i++)
        if (l->seen[i].seq == m->seq && l->seen[i].session_hash == h) {
            l->stats.duplicates++;
            return 1;
        }
    l->seen[l->seen_next].session_hash = h;
    l->seen[l->seen_next].seq = m->seq;
    l->seen_next = (l->seen_next + 1) % RIO_SEEN;
    return 0;
}
