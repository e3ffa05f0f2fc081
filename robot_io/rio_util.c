/* rio_util.c - small shared pieces of robot_io: names of enums, clocks,
 * argument lookup. */
#include <string.h>
#include <time.h>

#include "robot_io/rio.h"

const char *rio_msg_type_name(rio_msg_type t) {
    static const char *const names[RIO_MSG_TYPE_COUNT] = {
        [RIO_MSG_NONE] = "?",          [RIO_MSG_HELLO] = "hello",     [RIO_MSG_PLAN] = "plan",
        [RIO_MSG_STEP] = "step",       [RIO_MSG_FEEDBACK] = "feedback", [RIO_MSG_STATE] = "state",
        [RIO_MSG_FRAME] = "frame",     [RIO_MSG_HEARTBEAT] = "heartbeat", [RIO_MSG_CANCEL] = "cancel",
        [RIO_MSG_ESTOP] = "estop",     [RIO_MSG_RESET] = "reset",     [RIO_MSG_ACK] = "ack",
    };
    return (unsigned)t < RIO_MSG_TYPE_COUNT ? names[t] : "?";
}

const char *rio_fb_status_name(rio_fb_status s) {
    static const char *const names[RIO_FB_COUNT] = {"accepted", "running", "done", "failed"};
    return (unsigned)s < RIO_FB_COUNT ? names[s] : "?";
}

const char *rio_arg_type_name(rio_arg_type t) {
    switch (t) {
    case RIO_ARG_NUMBER: return "number";
    case RIO_ARG_INTEGER: return "integer";
    case RIO_ARG_STRING: return "string";
    case RIO_ARG_BOOL: return "bool";
    }
    return "?";
}

const char *rio_event_name(rio_event_type t) {
    switch (t) {
    case RIO_EV_NONE: return "none";
    case RIO_EV_STEP: return "step";
    case RIO_EV_CANCEL: return "cancel";
    case RIO_EV_ESTOP: return "estop";
    case RIO_EV_RESET: return "reset";
    case RIO_EV_AGENT_JOINED: return "agent_joined";
    case RIO_EV_HELLO: return "hello";
    case RIO_EV_FEEDBACK: return "feedback";
    case RIO_EV_STATE: return "state";
    case RIO_EV_FRAME: return "frame";
    case RIO_EV_EVENT: return "event";
    case RIO_EV_PEER_LOST: return "peer_lost";
    case RIO_EV_PEER_BACK: return "peer_back";
    }
    return "?";
}

const rio_arg *rio_step_arg(const rio_step *st, const char *name) {
    for (int i = 0; i < st->n_args && i < RIO_MAX_ARGS; i++)
        if (!strcmp(st->args[i].name, name)) return &st->args[i];
    return NULL;
}

uint64_t rio_now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int64_t rio_mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
