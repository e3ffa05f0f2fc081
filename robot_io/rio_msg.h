/* rio_msg.h - Ember's robot message schema (version RIO_SCHEMA_MAJOR.MINOR):
 * the C form of every message and its JSON codec.
 *
 * A message on the wire is one ZeroMQ multipart message: part 1 is the JSON
 * envelope (UTF-8, one object); a frame adds part 2, the image bytes (PNG,
 * JPEG or raw RGB), never base64. robot_io/SCHEMA.md documents every field
 * with an example of each message; this header is its C mirror.
 *
 * Compatibility rules (the decoder enforces them):
 *  - unknown fields are ignored (a newer minor version may add fields);
 *  - an envelope whose major version is newer than ours is refused with
 *    EM_ERR_UNSUPPORTED and a reason naming both versions;
 *  - anything else malformed (not JSON, a missing or mistyped field, an id
 *    too long, a value out of range) is EM_ERR_FORMAT with a reason naming
 *    the field; the caller logs it, counts it and drops the message.
 *
 * Bounds: every string field has a fixed capacity (ids 63 bytes, names 31,
 * texts 255) and longer input is refused, not cut, so a decoded message is a
 * plain struct that can be copied. Only a hello's skills, a plan's steps and
 * a state's named fields live on the heap; rio_msg_clear frees them.
 * Nothing here keeps global state; all functions are thread-compatible. */
#ifndef EMBER_RIO_MSG_H
#define EMBER_RIO_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#define RIO_SCHEMA_MAJOR 1
#define RIO_SCHEMA_MINOR 1

#define RIO_ID_LEN 64       /* plan/step/session ids: 1..63 bytes of [A-Za-z0-9_.:-] */
#define RIO_NAME_LEN 32     /* skill, argument, sender, camera, reason names: 1..31 bytes */
#define RIO_STR_LEN 64      /* string argument values and enum values: 0..63 bytes */
#define RIO_TEXT_LEN 256    /* human-readable texts (failure reason, skill doc) */
#define RIO_MAX_ARGS 8      /* arguments per step / per skill */
#define RIO_MAX_ENUM 32     /* allowed values of one string argument */
#define RIO_MAX_SKILLS 32   /* skills a controller offers */
#define RIO_MAX_STEPS 64    /* steps in one plan message */
#define RIO_MAX_STATE 64    /* entries of a state vector */
#define RIO_MAX_JSON (64 * 1024)         /* envelope part, bytes */
#define RIO_MAX_BLOB (16 * 1024 * 1024)  /* a frame's image part, bytes */

typedef enum rio_msg_type {
    RIO_MSG_NONE = 0,
    RIO_MSG_HELLO,     /* who I am, my schema version, (controller) my skills and state layout */
    RIO_MSG_PLAN,      /* agent -> controller: a plan id and its ordered steps */
    RIO_MSG_STEP,      /* agent -> controller: one more step of a plan */
    RIO_MSG_FEEDBACK,  /* controller -> agent: a step's fate */
    RIO_MSG_STATE,     /* controller -> subscribers: robot state vector + named fields */
    RIO_MSG_FRAME,     /* controller -> subscribers: one camera image (second part) */
    RIO_MSG_HEARTBEAT, /* both ways on the command channel */
    RIO_MSG_CANCEL,    /* agent -> controller: stop a plan (or one step of it) */
    RIO_MSG_ESTOP,     /* agent -> controller: halt now, refuse steps until reset */
    RIO_MSG_RESET,     /* agent -> controller: clear an estop, return to idle */
    RIO_MSG_ACK,       /* receipt of a reliable message (by its sender's session and seq) */
    RIO_MSG_TYPE_COUNT
} rio_msg_type;

/* Types of a skill argument. Integers travel as JSON numbers without a
 * fraction; a number argument accepts any finite JSON number. */
typedef enum rio_arg_type {
    RIO_ARG_NUMBER = 0,
    RIO_ARG_INTEGER,
    RIO_ARG_STRING,
    RIO_ARG_BOOL,
} rio_arg_type;

/* One argument value of a step. */
typedef struct rio_arg {
    char name[RIO_NAME_LEN];
    rio_arg_type type;
    double num;            /* RIO_ARG_NUMBER, RIO_ARG_INTEGER */
    char str[RIO_STR_LEN]; /* RIO_ARG_STRING */
    int boolean;           /* RIO_ARG_BOOL */
} rio_arg;

/* What a controller declares about one argument of a skill. */
typedef struct rio_arg_spec {
    char name[RIO_NAME_LEN];
    rio_arg_type type;
    int optional;                          /* 0: a step must give it */
    int has_range;                         /* numbers: min <= value <= max */
    double min, max;
    int n_enum;                            /* strings: 0 = any, else one of these */
    char enums[RIO_MAX_ENUM][RIO_STR_LEN];
} rio_arg_spec;

typedef struct rio_skill {
    char name[RIO_NAME_LEN];
    char doc[RIO_TEXT_LEN]; /* one line for people and prompts; may be empty */
    int n_args;
    rio_arg_spec args[RIO_MAX_ARGS];
} rio_skill;

/* One step of a plan: the unit that runs at most once (by step_id). */
typedef struct rio_step {
    char step_id[RIO_ID_LEN];
    int index;              /* position in its plan, 0-based; steps run in index order */
    char skill[RIO_NAME_LEN];
    int n_args;
    rio_arg args[RIO_MAX_ARGS];
} rio_step;

/* A step's fate, in the order a step lives it: accepted < running < done | failed. */
typedef enum rio_fb_status {
    RIO_FB_ACCEPTED = 0,
    RIO_FB_RUNNING,
    RIO_FB_DONE,
    RIO_FB_FAILED,
    RIO_FB_COUNT
} rio_fb_status;

/* Standard failure reason codes (SCHEMA.md lists their meaning). A reason
 * is a string so that a newer controller's code still decodes. */
#define RIO_REASON_BAD_ARGS "bad_args"         /* arguments do not match the skill's declaration */
#define RIO_REASON_UNKNOWN_SKILL "unknown_skill"
#define RIO_REASON_OUT_OF_REACH "out_of_reach"
#define RIO_REASON_GRASP_SLIPPED "grasp_slipped"
#define RIO_REASON_PRECONDITION "precondition" /* e.g. place while holding nothing */
#define RIO_REASON_NOT_FOUND "not_found"       /* the named object is not in the world */
#define RIO_REASON_ESTOP "estop"               /* halted by, or refused during, an estop */
#define RIO_REASON_CANCELLED "cancelled"
#define RIO_REASON_ABORTED "aborted"           /* an earlier step of its plan failed */
#define RIO_REASON_INTERNAL "internal"
/* In an ack's reason (not a step's): the command was received but names a
 * plan (or a step) the controller has never heard of, so nothing was done. */
#define RIO_REASON_UNKNOWN_PLAN "unknown_plan"

typedef struct rio_feedback {
    rio_fb_status status;
    char reason[RIO_NAME_LEN]; /* failed only: a code above (or a vendor's) */
    char text[RIO_TEXT_LEN];   /* failed only: a sentence for people */
    /* 1: not news but the controller's memory of the step, sent because the
     * step arrived again (a resumed or re-sent plan); nothing was run for it */
    int replayed;
    uint64_t fate_ts_us;       /* replayed: when the step reached this status (0: unknown, e.g. before a restart) */
} rio_feedback;

typedef struct rio_hello {
    char role[RIO_NAME_LEN];   /* "agent", "controller" or "monitor" */
    char refused[RIO_TEXT_LEN];/* non-empty: the sender refuses the receiver, and why */
    int n_skills;              /* controller: skills offered */
    rio_skill *skills;         /* heap, n_skills entries */
    int n_layout;              /* controller: the state vector's layout */
    char layout[RIO_MAX_STATE][RIO_NAME_LEN];
    int n_cameras;             /* controller: camera ids it publishes */
    char cameras[4][RIO_NAME_LEN];
} rio_hello;

typedef struct rio_state {
    int n;                                  /* vector entries */
    char layout[RIO_MAX_STATE][RIO_NAME_LEN]; /* name of each entry ("gripper.x") */
    double vector[RIO_MAX_STATE];
    char *fields_json;                      /* heap: the named fields, one JSON object, or NULL */
} rio_state;

typedef struct rio_frame {
    char camera[RIO_NAME_LEN];
    char encoding[16]; /* "png", "jpeg" or "rgb8" (width*height*3 bytes, row-major) */
    int width, height;
    uint64_t frame_ts_us; /* capture time */
    const void *data;     /* borrowed: the message's second part, valid until the part is freed */
    size_t size;          /* bytes of data (the envelope's "size" must equal it) */
} rio_frame;

typedef struct rio_msg {
    rio_msg_type type;
    int v_major, v_minor;         /* decoded from the envelope; encode writes ours */
    uint64_t seq;                 /* per sender session, increasing, starts at 1 */
    uint64_t ts_us;               /* send time, microseconds since the Unix epoch */
    char from[RIO_NAME_LEN];      /* sender's name */
    char session[RIO_ID_LEN];     /* sender's incarnation: new at every process start */
    int reliable;                 /* 1: the receiver must ack (plan, step, feedback, cancel, estop, reset) */
    char plan_id[RIO_ID_LEN];     /* plan, step, feedback, cancel (empty elsewhere) */
    char step_id[RIO_ID_LEN];     /* step, feedback; cancel: empty = the whole plan */

    union {
        rio_hello hello;
        struct { int n_steps; rio_step *steps; } plan; /* heap, n_steps entries */
        rio_step step;
        rio_feedback feedback;
        rio_state state;
        rio_frame frame;
        struct { char reason[RIO_TEXT_LEN]; } estop;
        struct {
            char session[RIO_ID_LEN]; /* the acked message's sender session and seq */
            uint64_t seq;
            char reason[RIO_NAME_LEN]; /* "": done as asked; else received but not carried out (unknown_plan) */
            char text[RIO_TEXT_LEN];   /* with a reason: a sentence for people */
        } ack;
    } u;
} rio_msg;

/* Short lower-case name ("step", "feedback"); "?" for an unknown value. */
const char *rio_msg_type_name(rio_msg_type t);
const char *rio_fb_status_name(rio_fb_status s);   /* "accepted", "running", "done", "failed" */
const char *rio_arg_type_name(rio_arg_type t);     /* "number", "integer", "string", "bool" */

/* Zero m and set its type and reliable flag (by type). */
void rio_msg_init(rio_msg *m, rio_msg_type type);
/* Free what m owns (skills, steps, fields_json) and zero it. NULL is a no-op. */
void rio_msg_clear(rio_msg *m);
/* Deep copy (dst is overwritten, not cleared first). The frame data stays borrowed. */
ember_status rio_msg_copy(rio_msg *dst, const rio_msg *src, char *err);

/* The envelope as compact one-line JSON, NUL-terminated, malloc'd into *json
 * (caller frees); *len its length. A frame's envelope carries the size of
 * m->u.frame, not its bytes. Fails with EM_ERR_ARG when m does not hold a
 * valid message (an empty id where one is needed, a bad type). */
ember_status rio_msg_encode(const rio_msg *m, char **json, size_t *len, char *err);

/* Parse an envelope of len bytes (need not be NUL-terminated). m is
 * overwritten, not cleared first (as rio_msg_copy's dst). On success m
 * holds the message (clear it with rio_msg_clear); on failure m is cleared and
 * err says which field is wrong and why. A frame's bytes are attached by the
 * caller afterwards (rio_msg_attach_blob) and checked against the envelope. */
ember_status rio_msg_decode(rio_msg *m, const char *json, size_t len, char *err);

/* Attach a frame's second part; EM_ERR_FORMAT when the size differs from the
 * envelope's, or rgb8 bytes differ from width*height*3. */
ember_status rio_msg_attach_blob(rio_msg *m, const void *data, size_t size, char *err);

/* Check a step against the skills offered: the skill exists, every required
 * argument is present, each argument has its declared type, range and allowed
 * value, and no undeclared argument is given. On failure returns EM_ERR_ARG,
 * writes the reason code (RIO_REASON_UNKNOWN_SKILL or RIO_REASON_BAD_ARGS,
 * RIO_NAME_LEN bytes) and a sentence naming the argument into err. */
ember_status rio_step_check(const rio_skill *skills, int n_skills, const rio_step *st, char *reason, char *err);

/* Find an argument of a step by name; NULL when absent. */
const rio_arg *rio_step_arg(const rio_step *st, const char *name);

/* Parse one step / a list of steps from JSON text in the schema's step form
 * ({"id":..,"skill":..,"args":{..}}); used by `ember act` for PLAN.json
 * files ({"plan":"p1","steps":[...]}): *plan_id gets the plan's id. */
ember_status rio_plan_parse(const char *json, size_t len, char *plan_id, rio_step **steps, int *n_steps, char *err);

/* Parse a skills file: the skills in a hello's form, either an object with
 * a "skills" list (a whole hello envelope will do) or the bare list; 1..32
 * skills, every field checked as in a hello. *skills is malloc'd (caller
 * frees), *n_skills its length. Used for an agent without a controller at
 * hand (agent/skills.h). */
ember_status rio_skills_parse(const char *json, size_t len, rio_skill **skills, int *n_skills, char *err);

#endif
