/* rio.h - what both sides of Ember's robot link share: the link's
 * configuration (endpoints, timing, CurveZMQ keys, fault injection), its
 * counters, and the events the agent and controller libraries hand out.
 *
 * The sockets and why they were chosen are written down in
 * robot_io/TRANSPORT.md. In short, a controller binds three endpoints and an
 * agent connects to them:
 *   command    ROUTER (controller) <-> DEALER (agent): plans, steps, cancel,
 *              estop, reset, feedback, acks and heartbeats, both ways;
 *   state      PUB -> SUB: state and a copy of every command/feedback event;
 *   frames     PUB -> SUB: camera frames, latest only.
 * The state and frame endpoints default to the command endpoint's next two
 * TCP ports (tcp://host:5555 -> :5556, :5557) or, for ipc://PATH, to
 * PATH.state and PATH.frames.
 *
 * Nothing here keeps global state. */
#ifndef EMBER_RIO_H
#define EMBER_RIO_H

#include <stdint.h>

#include "core/status.h"
#include "robot_io/rio_msg.h"

#define RIO_ENDPOINT_LEN 256
#define RIO_KEY_LEN 41          /* a Z85 CurveZMQ key: 40 characters + NUL */
#define RIO_MAX_ALLOWED 16      /* agent public keys a controller accepts */

typedef struct rio_config {
    char name[RIO_NAME_LEN];             /* who this side is ("sim", "act") */
    char endpoint[RIO_ENDPOINT_LEN];     /* command endpoint (tcp://HOST:PORT or ipc://PATH) */
    char state_endpoint[RIO_ENDPOINT_LEN];  /* "" = derived from endpoint */
    char frame_endpoint[RIO_ENDPOINT_LEN];  /* "" = derived from endpoint */

    int heartbeat_ms;     /* heartbeat period on the command channel (250) */
    int peer_timeout_ms;  /* silence after which the peer is declared lost (2000) */
    int resend_ms;        /* first resend of an unacknowledged message (100; doubles to 1600) */
    int state_hwm;        /* state/event PUB and SUB high-water mark, messages (1000) */
    int frame_hwm;        /* frame PUB and SUB high-water mark, messages (2) */
    int max_msg_bytes;    /* ZMQ_MAXMSGSIZE: larger parts drop the connection (RIO_MAX_BLOB + 64 KiB) */

    /* CurveZMQ: when curve is set, the controller is the server (its own
     * keypair; only the allowed agent keys get through, checked by a ZAP
     * handler), the agent and monitor are clients (their keypair plus the
     * controller's public key). */
    int curve;
    char public_key[RIO_KEY_LEN];
    char secret_key[RIO_KEY_LEN];
    char server_key[RIO_KEY_LEN];        /* client side: the controller's public key */
    int n_allowed;                        /* server side: 0 = none allowed (curve refuses all) */
    char allowed[RIO_MAX_ALLOWED][RIO_KEY_LEN];

    /* Fault injection for tests, applied to every message this side sends
     * on the command channel: each message is dropped, sent twice, or held
     * back and sent after the next one, with these probabilities. */
    double fault_drop, fault_dup, fault_reorder;
    uint64_t fault_seed;
} rio_config;

void rio_config_defaults(rio_config *cfg);

/* Read a JSON config file (SCHEMA.md's "Configuration" lists the keys) over
 * cfg: keys present replace the values; unknown keys are an error (a typo in
 * a robot's config must not pass silently). Key files named in it are read. */
ember_status rio_config_load(rio_config *cfg, const char *path, char *err);

/* Parse a fault spec "drop=0.1,dup=0.05,reorder=0.1,seed=7" into cfg. */
ember_status rio_config_faults(rio_config *cfg, const char *spec, char *err);

/* Check endpoints and fill the derived state/frame endpoints. */
ember_status rio_config_finish(rio_config *cfg, char *err);

/* CurveZMQ keys. A key file is JSON: {"public": "<z85>", "secret": "<z85>"}
 * (secret absent in a .pub file). rio_keygen writes BASE.key (mode 0600,
 * both keys) and BASE.pub (public only). rio_key_load reads either kind:
 * secret may be NULL; a missing secret where one is wanted is an error. */
ember_status rio_keygen(const char *base, char *public_key, char *err);
ember_status rio_key_load(const char *path, char *public_key, char *secret_key, char *err);

/* Counters kept by each side; every refused message is counted once, in
 * exactly one of the refusal counters, and logged with its reason. */
typedef struct rio_stats {
    uint64_t sent, received;          /* messages (all channels) */
    uint64_t resent;                  /* reliable messages sent again for lack of an ack */
    uint64_t acked;                   /* own reliable messages acknowledged */
    uint64_t duplicates;              /* reliable messages received again (acked, not re-run) */
    uint64_t malformed;               /* not JSON, a bad field, a bad second part */
    uint64_t oversized;               /* an envelope over RIO_MAX_JSON or a blob over RIO_MAX_BLOB */
    uint64_t version_refused;         /* a newer major schema version */
    uint64_t refused;                 /* well-formed but not acceptable (bad args, estopped, ...) */
    uint64_t frames_skipped;          /* frames replaced by a newer one before delivery (latest only) */
    uint64_t injected_drop, injected_dup, injected_reorder;
    uint64_t peer_lost;               /* times the peer was declared lost */
} rio_stats;

/* What a poll hands out. Pointers in an event are owned by the library and
 * valid until the next poll call on the same handle. */
typedef enum rio_event_type {
    RIO_EV_NONE = 0,
    /* controller side */
    RIO_EV_STEP,        /* run this step now (ev->plan_id, ev->step); report with rio_ctrl_feedback */
    RIO_EV_CANCEL,      /* stop the running step of ev->plan_id (the library fails it "cancelled") */
    RIO_EV_ESTOP,       /* halt now; the library fails every open step "estop" and refuses new ones */
    RIO_EV_RESET,       /* the estop is cleared */
    RIO_EV_AGENT_JOINED,/* an agent said hello (ev->msg) */
    /* agent side */
    RIO_EV_HELLO,       /* the controller's hello (skills, layout): ev->msg */
    RIO_EV_FEEDBACK,    /* a step's new status, each (step, status) once, never backwards: ev->msg */
    RIO_EV_STATE,       /* ev->msg */
    RIO_EV_FRAME,       /* the newest frame (older ones skipped): ev->msg */
    RIO_EV_EVENT,       /* a copy of a command or feedback published for monitors: ev->msg */
    /* both */
    RIO_EV_PEER_LOST,   /* no message for peer_timeout_ms */
    RIO_EV_PEER_BACK,   /* the peer is heard again; ev->restarted = 1 if it is a new incarnation */
} rio_event_type;

typedef struct rio_event {
    rio_event_type type;
    char plan_id[RIO_ID_LEN];
    rio_step step;            /* RIO_EV_STEP */
    int resumed;              /* RIO_EV_STEP: this step had started before a restart */
    int restarted;            /* RIO_EV_PEER_BACK */
    const rio_msg *msg;       /* the message behind the event, or NULL */
} rio_event;

const char *rio_event_name(rio_event_type t);

/* Microseconds since the Unix epoch (the schema's timestamps) and a
 * monotonic clock in milliseconds (timers). */
uint64_t rio_now_us(void);
int64_t rio_mono_ms(void);

#endif
