/* test_rio_msg.c - the robot message codec (robot_io/rio_msg.c): round trips
 * of every message type, the examples of robot_io/SCHEMA.md, every rejection
 * rule, truncated input, frame blobs, step checks, PLAN.json parsing and deep
 * copies. Runs from the source root (it reads robot_io/SCHEMA.md). */
#include <stdlib.h>
#include <string.h>

#include "robot_io/rio.h"
#include "robot_io/rio_msg.h"
#include "tests/check.h"

/* ---------------------------------------------------------------------------
 * Messages with every field set */

static void set_arg_num(rio_arg *a, const char *name, rio_arg_type t, double v) {
    snprintf(a->name, sizeof a->name, "%s", name);
    a->type = t;
    a->num = v;
}

static void set_arg_str(rio_arg *a, const char *name, const char *v) {
    snprintf(a->name, sizeof a->name, "%s", name);
    a->type = RIO_ARG_STRING;
    snprintf(a->str, sizeof a->str, "%s", v);
}

static void set_step(rio_step *s, const char *id, int index, const char *skill) {
    memset(s, 0, sizeof *s);
    snprintf(s->step_id, sizeof s->step_id, "%s", id);
    s->index = index;
    snprintf(s->skill, sizeof s->skill, "%s", skill);
    set_arg_str(&s->args[0], "object", "red_block");
    set_arg_num(&s->args[1], "speed", RIO_ARG_NUMBER, 0.3);
    set_arg_num(&s->args[2], "ticks", RIO_ARG_INTEGER, -12);
    snprintf(s->args[3].name, sizeof s->args[3].name, "quiet");
    s->args[3].type = RIO_ARG_BOOL;
    s->args[3].boolean = 1;
    set_arg_num(&s->args[4], "tiny", RIO_ARG_NUMBER, 1.0000000000000002e-300);
    s->n_args = 5;
}

/* The skills of the tests' controller: pick(object: enum, speed?: 0.1..1),
 * place(target: string), wait(ticks: integer 1..100, quiet?: bool). */
static rio_skill *make_skills(int *n) {
    rio_skill *s = calloc(3, sizeof *s);
    if (!s) return NULL;
    snprintf(s[0].name, sizeof s[0].name, "pick");
    snprintf(s[0].doc, sizeof s[0].doc, "Grasp an object \"and\" lift it.\n");
    s[0].n_args = 2;
    snprintf(s[0].args[0].name, RIO_NAME_LEN, "object");
    s[0].args[0].type = RIO_ARG_STRING;
    s[0].args[0].n_enum = 3;
    snprintf(s[0].args[0].enums[0], RIO_STR_LEN, "red_block");
    snprintf(s[0].args[0].enums[1], RIO_STR_LEN, "blue_block");
    snprintf(s[0].args[0].enums[2], RIO_STR_LEN, "green block, big");
    snprintf(s[0].args[1].name, RIO_NAME_LEN, "speed");
    s[0].args[1].type = RIO_ARG_NUMBER;
    s[0].args[1].optional = 1;
    s[0].args[1].has_range = 1;
    s[0].args[1].min = 0.1;
    s[0].args[1].max = 1.0;
    snprintf(s[1].name, sizeof s[1].name, "place");
    s[1].n_args = 1;
    snprintf(s[1].args[0].name, RIO_NAME_LEN, "target");
    s[1].args[0].type = RIO_ARG_STRING;
    snprintf(s[2].name, sizeof s[2].name, "wait");
    s[2].n_args = 2;
    snprintf(s[2].args[0].name, RIO_NAME_LEN, "ticks");
    s[2].args[0].type = RIO_ARG_INTEGER;
    s[2].args[0].has_range = 1;
    s[2].args[0].min = 1;
    s[2].args[0].max = 100;
    snprintf(s[2].args[1].name, RIO_NAME_LEN, "quiet");
    s[2].args[1].type = RIO_ARG_BOOL;
    s[2].args[1].optional = 1;
    *n = 3;
    return s;
}

/* A message of type t with every field its type has set (heap parts included). */
static int make_full(rio_msg *m, rio_msg_type t) {
    rio_msg_init(m, t);
    m->seq = 9007199254740991ull; /* 2^53 - 1 */
    m->ts_us = 1732456789123456ull;
    snprintf(m->from, sizeof m->from, "act");
    snprintf(m->session, sizeof m->session, "a1b2c3:d4.e5-f6_");
    switch (t) {
    case RIO_MSG_HELLO: {
        rio_hello *h = &m->u.hello;
        snprintf(h->role, sizeof h->role, "controller");
        snprintf(h->refused, sizeof h->refused, "schema 0.9 \xc3\xa9 refused");
        if (!(h->skills = make_skills(&h->n_skills))) return -1;
        h->n_layout = RIO_MAX_STATE;
        for (int i = 0; i < RIO_MAX_STATE; i++) snprintf(h->layout[i], RIO_NAME_LEN, "joint.%d", i);
        h->n_cameras = 2;
        snprintf(h->cameras[0], RIO_NAME_LEN, "top");
        snprintf(h->cameras[1], RIO_NAME_LEN, "wrist");
        break;
    }
    case RIO_MSG_PLAN:
        snprintf(m->plan_id, sizeof m->plan_id, "p1");
        if (!(m->u.plan.steps = calloc(3, sizeof(rio_step)))) return -1;
        m->u.plan.n_steps = 3;
        set_step(&m->u.plan.steps[0], "s1", 0, "pick");
        set_step(&m->u.plan.steps[1], "s2", 5, "place");
        set_step(&m->u.plan.steps[2], "s3", 2, "wait");
        m->u.plan.steps[2].n_args = 0;
        break;
    case RIO_MSG_STEP:
        snprintf(m->plan_id, sizeof m->plan_id, "p1");
        set_step(&m->u.step, "s7", 65535, "pick");
        snprintf(m->step_id, sizeof m->step_id, "s7");
        break;
    case RIO_MSG_FEEDBACK:
        snprintf(m->plan_id, sizeof m->plan_id, "p1");
        snprintf(m->step_id, sizeof m->step_id, "s2");
        m->u.feedback.status = RIO_FB_FAILED;
        snprintf(m->u.feedback.reason, RIO_NAME_LEN, RIO_REASON_GRASP_SLIPPED);
        snprintf(m->u.feedback.text, RIO_TEXT_LEN, "slipped\tat \"4 cm\"\\ \x01");
        m->u.feedback.replayed = 1; /* schema 1.1 */
        m->u.feedback.fate_ts_us = 1732456790300000ull;
        break;
    case RIO_MSG_STATE: {
        rio_state *s = &m->u.state;
        s->n = 4;
        const double v[4] = {0.25, -0.1, 1e-310, 123456789.125};
        for (int i = 0; i < 4; i++) {
            snprintf(s->layout[i], RIO_NAME_LEN, "gripper.%c", "xyzo"[i]);
            s->vector[i] = v[i];
        }
        if (!(s->fields_json = strdup("{\"holding\":\"red_block\",\"n\":[1,2.5,null,true,{}]}"))) return -1;
        break;
    }
    case RIO_MSG_FRAME:
        snprintf(m->u.frame.camera, RIO_NAME_LEN, "top");
        snprintf(m->u.frame.encoding, sizeof m->u.frame.encoding, "rgb8");
        m->u.frame.width = 4;
        m->u.frame.height = 2;
        m->u.frame.frame_ts_us = 1732456789000001ull;
        m->u.frame.size = 24;
        break;
    case RIO_MSG_CANCEL:
        snprintf(m->plan_id, sizeof m->plan_id, "p1");
        snprintf(m->step_id, sizeof m->step_id, "s2");
        break;
    case RIO_MSG_ESTOP: snprintf(m->u.estop.reason, RIO_TEXT_LEN, "operator pressed stop"); break;
    case RIO_MSG_ACK:
        snprintf(m->u.ack.session, RIO_ID_LEN, "sim-5f1c2a");
        m->u.ack.seq = 17;
        snprintf(m->u.ack.reason, RIO_NAME_LEN, RIO_REASON_UNKNOWN_PLAN); /* schema 1.1 */
        snprintf(m->u.ack.text, RIO_TEXT_LEN, "no plan p9 here");
        break;
    default: break;
    }
    return 0;
}

/* ---------------------------------------------------------------------------
 * Field-by-field comparison: NULL when equal, else the first difference.
 * An INTEGER argument comes back as a NUMBER (JSON has one number type). */

static const char *args_diff(const rio_step *a, const rio_step *b) {
    if (strcmp(a->step_id, b->step_id)) return "step_id";
    if (a->index != b->index) return "index";
    if (strcmp(a->skill, b->skill)) return "skill";
    if (a->n_args != b->n_args) return "n_args";
    for (int i = 0; i < a->n_args; i++) {
        const rio_arg *x = &a->args[i], *y = &b->args[i];
        rio_arg_type tx = x->type == RIO_ARG_INTEGER ? RIO_ARG_NUMBER : x->type;
        rio_arg_type ty = y->type == RIO_ARG_INTEGER ? RIO_ARG_NUMBER : y->type;
        if (strcmp(x->name, y->name) || tx != ty) return "arg name/type";
        if (tx == RIO_ARG_NUMBER && x->num != y->num) return "arg num";
        if (tx == RIO_ARG_STRING && strcmp(x->str, y->str)) return "arg str";
        if (tx == RIO_ARG_BOOL && !x->boolean != !y->boolean) return "arg bool";
    }
    return NULL;
}

static const char *msg_diff(const rio_msg *a, const rio_msg *b) {
    if (a->type != b->type) return "type";
    if (a->seq != b->seq || a->ts_us != b->ts_us) return "seq/ts";
    if (strcmp(a->from, b->from) || strcmp(a->session, b->session)) return "from/session";
    if (a->reliable != b->reliable) return "reliable";
    if (strcmp(a->plan_id, b->plan_id) || strcmp(a->step_id, b->step_id)) return "plan/step ids";
    switch (a->type) {
    case RIO_MSG_HELLO: {
        const rio_hello *x = &a->u.hello, *y = &b->u.hello;
        if (strcmp(x->role, y->role) || strcmp(x->refused, y->refused)) return "role/refused";
        if (x->n_skills != y->n_skills || x->n_layout != y->n_layout || x->n_cameras != y->n_cameras) return "counts";
        for (int i = 0; i < x->n_layout; i++)
            if (strcmp(x->layout[i], y->layout[i])) return "layout";
        for (int i = 0; i < x->n_cameras; i++)
            if (strcmp(x->cameras[i], y->cameras[i])) return "cameras";
        for (int i = 0; i < x->n_skills; i++) {
            const rio_skill *s = &x->skills[i], *t = &y->skills[i];
            if (strcmp(s->name, t->name) || strcmp(s->doc, t->doc) || s->n_args != t->n_args) return "skill";
            for (int k = 0; k < s->n_args; k++) {
                const rio_arg_spec *p = &s->args[k], *q = &t->args[k];
                if (strcmp(p->name, q->name) || p->type != q->type || p->optional != q->optional) return "spec";
                if (p->has_range != q->has_range || (p->has_range && (p->min != q->min || p->max != q->max)))
                    return "spec range";
                if (p->n_enum != q->n_enum) return "spec n_enum";
                for (int j = 0; j < p->n_enum; j++)
                    if (strcmp(p->enums[j], q->enums[j])) return "spec enum";
            }
        }
        return NULL;
    }
    case RIO_MSG_PLAN:
        if (a->u.plan.n_steps != b->u.plan.n_steps) return "n_steps";
        for (int i = 0; i < a->u.plan.n_steps; i++) {
            const char *d = args_diff(&a->u.plan.steps[i], &b->u.plan.steps[i]);
            if (d) return d;
        }
        return NULL;
    case RIO_MSG_STEP: return args_diff(&a->u.step, &b->u.step);
    case RIO_MSG_FEEDBACK:
        if (a->u.feedback.status != b->u.feedback.status) return "status";
        if (strcmp(a->u.feedback.reason, b->u.feedback.reason) || strcmp(a->u.feedback.text, b->u.feedback.text))
            return "reason/text";
        if (a->u.feedback.replayed != b->u.feedback.replayed || a->u.feedback.fate_ts_us != b->u.feedback.fate_ts_us)
            return "replayed/fate_ts";
        return NULL;
    case RIO_MSG_STATE: {
        const rio_state *x = &a->u.state, *y = &b->u.state;
        if (x->n != y->n) return "n";
        for (int i = 0; i < x->n; i++)
            if (strcmp(x->layout[i], y->layout[i]) || x->vector[i] != y->vector[i]) return "layout/vector";
        if (!x->fields_json != !y->fields_json || (x->fields_json && strcmp(x->fields_json, y->fields_json)))
            return "fields_json";
        return NULL;
    }
    case RIO_MSG_FRAME: {
        const rio_frame *x = &a->u.frame, *y = &b->u.frame;
        if (strcmp(x->camera, y->camera) || strcmp(x->encoding, y->encoding)) return "camera/encoding";
        if (x->width != y->width || x->height != y->height || x->frame_ts_us != y->frame_ts_us || x->size != y->size)
            return "frame numbers";
        return NULL;
    }
    case RIO_MSG_ESTOP: return strcmp(a->u.estop.reason, b->u.estop.reason) ? "estop reason" : NULL;
    case RIO_MSG_ACK:
        if (strcmp(a->u.ack.session, b->u.ack.session) || a->u.ack.seq != b->u.ack.seq) return "ack";
        if (strcmp(a->u.ack.reason, b->u.ack.reason) || strcmp(a->u.ack.text, b->u.ack.text)) return "ack reason/text";
        return NULL;
    default: return NULL;
    }
}

/* ---------------------------------------------------------------------------
 * Round trips, re-encoding, truncation */

static void test_round_trips(void) {
    char err[EM_ERR_LEN];
    for (int t = 1; t < RIO_MSG_TYPE_COUNT; t++) {
        rio_msg m, d, d2;
        char *json = NULL, *json2 = NULL;
        size_t len = 0, len2 = 0;
        CHECK(make_full(&m, (rio_msg_type)t) == 0, "make_full %d", t);
        ember_status st = rio_msg_encode(&m, &json, &len, err);
        CHECK(st == EM_OK, "encode %s: %s", rio_msg_type_name((rio_msg_type)t), err);
        if (st) {
            rio_msg_clear(&m);
            continue;
        }
        CHECK(strlen(json) == len && !strchr(json, '\n'), "%s: one line of %zu bytes", json, len);
        CHECK(!strncmp(json, "{\"v\":\"1.1\",\"type\":\"", 19), "%s starts with v and type", json);
        st = rio_msg_decode(&d, json, len, err);
        CHECK(st == EM_OK, "decode %s: %s\n%s", rio_msg_type_name((rio_msg_type)t), err, json);
        if (st == EM_OK) {
            const char *diff = msg_diff(&m, &d);
            CHECK(diff == NULL, "%s: round trip differs in %s", rio_msg_type_name((rio_msg_type)t), diff);
            CHECK(d.v_major == 1 && d.v_minor == RIO_SCHEMA_MINOR, "version %d.%d", d.v_major, d.v_minor);
            /* Encoding what was decoded gives the same bytes. */
            CHECK(rio_msg_encode(&d, &json2, &len2, err) == EM_OK, "re-encode: %s", err);
            CHECK(json2 && len2 == len && !memcmp(json, json2, len), "re-encoding differs:\n%s\n%s", json,
                  json2 ? json2 : "");
            CHECK(rio_msg_decode(&d2, json2, len2, err) == EM_OK, "re-decode: %s", err);
            rio_msg_clear(&d2);
            free(json2);
        }
        /* Every strict prefix is refused, and leaves the message cleared. */
        int prefixes_refused = 1, cleared = 1;
        for (size_t n = 0; n < len; n++) {
            rio_msg p;
            if (rio_msg_decode(&p, json, n, err) == EM_OK) {
                prefixes_refused = 0;
                fprintf(stderr, "prefix %zu of %s decoded\n", n, json);
                rio_msg_clear(&p);
            } else if (p.type != RIO_MSG_NONE || p.u.plan.steps != NULL) {
                cleared = 0;
            }
        }
        CHECK(prefixes_refused && cleared, "%s: every prefix refused", rio_msg_type_name((rio_msg_type)t));
        free(json);
        rio_msg_clear(&d);
        rio_msg_clear(&m);
    }
}

static void test_reliable_flags(void) {
    const int want[RIO_MSG_TYPE_COUNT] = {[RIO_MSG_PLAN] = 1, [RIO_MSG_STEP] = 1, [RIO_MSG_FEEDBACK] = 1,
                                          [RIO_MSG_CANCEL] = 1, [RIO_MSG_ESTOP] = 1, [RIO_MSG_RESET] = 1};
    for (int t = 0; t < RIO_MSG_TYPE_COUNT; t++) {
        rio_msg m;
        rio_msg_init(&m, (rio_msg_type)t);
        CHECK(m.reliable == want[t], "%s reliable %d", rio_msg_type_name((rio_msg_type)t), m.reliable);
    }
    rio_msg_clear(NULL);
}

/* Encoding refuses what decoding would refuse. */
static void test_encode_refusals(void) {
    char err[EM_ERR_LEN], *json = NULL;
    size_t len;
    rio_msg m;
    rio_msg_init(&m, RIO_MSG_NONE);
    CHECK(rio_msg_encode(&m, &json, &len, err) == EM_ERR_ARG && !json, "type none");
    make_full(&m, RIO_MSG_HEARTBEAT);
    m.seq = 0;
    CHECK(rio_msg_encode(&m, &json, &len, err) == EM_ERR_ARG && strstr(err, "\"seq\""), "seq 0: %s", err);
    make_full(&m, RIO_MSG_HEARTBEAT);
    m.session[0] = 0;
    CHECK(rio_msg_encode(&m, &json, &len, err) == EM_ERR_ARG && strstr(err, "\"session\""), "empty session: %s", err);
    make_full(&m, RIO_MSG_HEARTBEAT);
    memset(m.from, 'x', sizeof m.from); /* no NUL */
    CHECK(rio_msg_encode(&m, &json, &len, err) == EM_ERR_ARG && strstr(err, "NUL"), "unterminated: %s", err);
    make_full(&m, RIO_MSG_FEEDBACK);
    m.plan_id[0] = 0;
    CHECK(rio_msg_encode(&m, &json, &len, err) == EM_ERR_ARG && strstr(err, "\"plan\""), "no plan id: %s", err);
    make_full(&m, RIO_MSG_STEP);
    m.u.step.args[2].num = 2.5; /* an INTEGER argument */
    CHECK(rio_msg_encode(&m, &json, &len, err) == EM_ERR_ARG && strstr(err, "args.ticks"), "integer 2.5: %s", err);
    make_full(&m, RIO_MSG_STEP);
    snprintf(m.step_id, sizeof m.step_id, "other");
    CHECK(rio_msg_encode(&m, &json, &len, err) == EM_ERR_ARG, "step ids differ");
    make_full(&m, RIO_MSG_STEP);
    m.step_id[0] = 0; /* the id in u.step suffices */
    CHECK(rio_msg_encode(&m, &json, &len, err) == EM_OK && strstr(json, "\"step\":\"s7\""), "u.step id: %s", err);
    free(json);
    make_full(&m, RIO_MSG_FRAME);
    m.u.frame.size = 25;
    CHECK(rio_msg_encode(&m, &json, &len, err) == EM_ERR_ARG && strstr(err, "rgb8"), "rgb8 size: %s", err);
    make_full(&m, RIO_MSG_STATE);
    free(m.u.state.fields_json);
    m.u.state.fields_json = strdup("[1,2]");
    CHECK(rio_msg_encode(&m, &json, &len, err) == EM_ERR_ARG && strstr(err, "fields"), "fields array: %s", err);
    rio_msg_clear(&m);
    make_full(&m, RIO_MSG_STATE);
    m.u.state.vector[1] = 1.0 / 0.0;
    CHECK(rio_msg_encode(&m, &json, &len, err) == EM_ERR_ARG && strstr(err, "vector[1]"), "inf: %s", err);
    rio_msg_clear(&m);
}

/* ---------------------------------------------------------------------------
 * SCHEMA.md's examples decode, one per message type */

static void test_schema_examples(void) {
    char err[EM_ERR_LEN];
    FILE *f = fopen("robot_io/SCHEMA.md", "rb");
    CHECK(f != NULL, "open robot_io/SCHEMA.md (run from the source root)");
    if (!f) return;
    static char doc[256 * 1024];
    size_t n = fread(doc, 1, sizeof doc - 1, f);
    fclose(f);
    doc[n] = 0;
    int seen[RIO_MSG_TYPE_COUNT] = {0};
    int blocks = 0;
    for (const char *p = doc; (p = strstr(p, "\n```json\n")) != NULL;) {
        const char *body = p + 9, *end = strstr(body, "\n```");
        CHECK(end != NULL, "unterminated json block");
        if (!end) break;
        /* The heading before the block names its type. */
        char want[32] = "";
        for (const char *h = p; h > doc; h--)
            if (!strncmp(h, "\n### ", 5)) {
                sscanf(h + 5, "%31s", want);
                break;
            }
        rio_msg m;
        ember_status st = rio_msg_decode(&m, body, (size_t)(end - body), err);
        CHECK(st == EM_OK, "SCHEMA.md example under \"### %s\": %s", want, err);
        if (st == EM_OK) {
            CHECK(!strcmp(rio_msg_type_name(m.type), want), "example under \"### %s\" is a %s", want,
                  rio_msg_type_name(m.type));
            seen[m.type]++;
            /* It also survives an encode/decode round trip. */
            char *json = NULL;
            size_t len;
            rio_msg d;
            CHECK(rio_msg_encode(&m, &json, &len, err) == EM_OK, "encode example %s: %s", want, err);
            /* The examples show Ember's exact wire form (key order, numbers). */
            CHECK(json && len == (size_t)(end - body) && !memcmp(json, body, len),
                  "example %s is not what Ember writes:\n  doc:  %.*s\n  ours: %s", want, (int)(end - body), body,
                  json ? json : "");
            if (json && rio_msg_decode(&d, json, len, err) == EM_OK) {
                const char *diff = msg_diff(&m, &d);
                CHECK(!diff, "example %s round trip differs in %s", want, diff);
                rio_msg_clear(&d);
            }
            free(json);
            if (m.type == RIO_MSG_STATE) CHECK(m.u.state.fields_json != NULL, "example state has fields");
        }
        rio_msg_clear(&m);
        blocks++;
        p = end;
    }
    /* every type has an example; some have a second one for a 1.1 field
     * (a replayed feedback, an ack with a reason) */
    int n_examples = 0;
    for (int t = 1; t < RIO_MSG_TYPE_COUNT; t++) {
        CHECK(seen[t] >= 1 && seen[t] <= 2, "SCHEMA.md has %d examples of %s, want 1 or 2", seen[t],
              rio_msg_type_name((rio_msg_type)t));
        n_examples += seen[t];
    }
    CHECK(blocks == n_examples && blocks >= RIO_MSG_TYPE_COUNT - 1, "%d json blocks, %d examples", blocks, n_examples);
    CHECK(strstr(doc, "\n## Transport\n\nSee TRANSPORT.md.") != NULL, "Transport section");

    /* The PLAN.json example (a plain block after its heading) parses. */
    const char *pj = strstr(doc, "\n## PLAN.json");
    const char *b = pj ? strstr(pj, "\n```\n") : NULL, *e = b ? strstr(b + 5, "\n```") : NULL;
    CHECK(b && e, "PLAN.json example block");
    if (b && e) {
        char plan_id[RIO_ID_LEN];
        rio_step *steps = NULL;
        int n_steps = 0;
        CHECK(rio_plan_parse(b + 5, (size_t)(e - b - 5), plan_id, &steps, &n_steps, err) == EM_OK, "%s", err);
        CHECK(n_steps == 2 && !strcmp(plan_id, "stack1"), "%d steps of %s", n_steps, plan_id);
        free(steps);
    }
}

/* ---------------------------------------------------------------------------
 * Rejections: input -> status -> a piece of the message */

#define HB "\"v\":\"1.0\",\"type\":\"heartbeat\",\"seq\":1,\"ts\":5,\"from\":\"a\",\"session\":\"s\""
#define ENV(type) "\"v\":\"1.0\",\"type\":\"" type "\",\"seq\":1,\"ts\":5,\"from\":\"a\",\"session\":\"s\""
#define STEP_OK ENV("step") ",\"plan\":\"p1\",\"step\":\"s1\",\"index\":0,\"skill\":\"pick\""
#define FRAME_OK ENV("frame") ",\"camera\":\"top\",\"width\":2,\"height\":2,\"frame_ts\":1,\"encoding\":"
#define SPEC(x) "{" ENV("hello") ",\"role\":\"controller\",\"skills\":[{\"name\":\"pick\",\"args\":[" x "]}]}"
#define X31 "abcdefghijklmnopqrstuvwxyz01234"
#define X63 X31 X31 "5"

static const struct reject_case {
    const char *json;
    ember_status want;
    const char *says;
} REJECTS[] = {
    {"", EM_ERR_FORMAT, "empty"},
    {"not json", EM_ERR_FORMAT, "not JSON"},
    {"[1,2]", EM_ERR_FORMAT, "expected a JSON object, got an array"},
    {"\"heartbeat\"", EM_ERR_FORMAT, "got a string"},
    {"{" HB "", EM_ERR_FORMAT, "not JSON"},
    {"{" HB "} x", EM_ERR_FORMAT, "trailing"},
    {"{" HB "}{}", EM_ERR_FORMAT, "trailing"},
    /* version */
    {"{\"type\":\"heartbeat\"}", EM_ERR_FORMAT, "field \"v\": missing"},
    {"{\"v\":1.0,\"type\":\"heartbeat\"}", EM_ERR_FORMAT, "field \"v\": expected a string"},
    {"{\"v\":\"1\",\"type\":\"heartbeat\"}", EM_ERR_FORMAT, "MAJOR.MINOR"},
    {"{\"v\":\"1.0.1\",\"type\":\"heartbeat\"}", EM_ERR_FORMAT, "MAJOR.MINOR"},
    {"{\"v\":\"-1.0\",\"type\":\"heartbeat\"}", EM_ERR_FORMAT, "MAJOR.MINOR"},
    {"{\"v\":\"1.x\",\"type\":\"heartbeat\"}", EM_ERR_FORMAT, "MAJOR.MINOR"},
    {"{\"v\":\"9999999.0\",\"type\":\"heartbeat\"}", EM_ERR_FORMAT, "MAJOR.MINOR"},
    {"{\"v\":\"2.0\",\"type\":\"teleport\",\"seq\":\"x\"}", EM_ERR_UNSUPPORTED,
     "schema 2.0 is newer than this build's 1.1; upgrade Ember"},
    {"{\"v\":\"0.9\",\"type\":\"heartbeat\"}", EM_ERR_UNSUPPORTED, "schema 0.9 is older than this build's 1.1"},
    /* type and common fields */
    {"{\"v\":\"1.0\",\"type\":\"teleport\",\"seq\":1}", EM_ERR_FORMAT, "unknown message type \"teleport\""},
    {"{\"v\":\"1.0\",\"type\":\"none\",\"seq\":1}", EM_ERR_FORMAT, "unknown message type"},
    {"{\"v\":\"1.0\",\"type\":\"?\",\"seq\":1}", EM_ERR_FORMAT, "field \"type\""},
    {"{\"v\":\"1.0\",\"type\":7}", EM_ERR_FORMAT, "field \"type\": expected a string, got a number"},
    {"{\"v\":\"1.0\",\"type\":\"heartbeat\",\"ts\":5,\"from\":\"a\",\"session\":\"s\"}", EM_ERR_FORMAT,
     "heartbeat: field \"seq\": missing"},
    {"{\"v\":\"1.0\",\"type\":\"heartbeat\",\"seq\":0,\"ts\":5,\"from\":\"a\",\"session\":\"s\"}", EM_ERR_FORMAT,
     "field \"seq\": expected an integer 1..9007199254740991, got 0"},
    {"{\"v\":\"1.0\",\"type\":\"heartbeat\",\"seq\":1.5,\"ts\":5,\"from\":\"a\",\"session\":\"s\"}", EM_ERR_FORMAT,
     "field \"seq\": expected an integer, got 1.5"},
    {"{\"v\":\"1.0\",\"type\":\"heartbeat\",\"seq\":9007199254740992,\"ts\":5,\"from\":\"a\",\"session\":\"s\"}",
     EM_ERR_FORMAT, "field \"seq\""},
    {"{\"v\":\"1.0\",\"type\":\"heartbeat\",\"seq\":\"1\",\"ts\":5,\"from\":\"a\",\"session\":\"s\"}", EM_ERR_FORMAT,
     "field \"seq\": expected a number, got a string"},
    {"{\"v\":\"1.0\",\"type\":\"heartbeat\",\"seq\":1,\"ts\":-5,\"from\":\"a\",\"session\":\"s\"}", EM_ERR_FORMAT,
     "field \"ts\""},
    {"{\"v\":\"1.0\",\"type\":\"heartbeat\",\"seq\":1,\"ts\":5.5,\"from\":\"a\",\"session\":\"s\"}", EM_ERR_FORMAT,
     "field \"ts\": expected an integer"},
    {"{\"v\":\"1.0\",\"type\":\"heartbeat\",\"seq\":1,\"ts\":1e999,\"from\":\"a\",\"session\":\"s\"}", EM_ERR_FORMAT,
     "field \"ts\": expected a finite number"},
    {"{\"v\":\"1.0\",\"type\":\"heartbeat\",\"seq\":1,\"ts\":5,\"session\":\"s\"}", EM_ERR_FORMAT,
     "field \"from\": missing"},
    {"{\"v\":\"1.0\",\"type\":\"heartbeat\",\"seq\":1,\"ts\":5,\"from\":\"" X31 "x\",\"session\":\"s\"}", EM_ERR_FORMAT,
     "field \"from\": expected a string of 1..31 bytes, got 32 bytes"},
    {"{\"v\":\"1.0\",\"type\":\"heartbeat\",\"seq\":1,\"ts\":5,\"from\":\"a\",\"session\":\"" X63 "x\"}", EM_ERR_FORMAT,
     "field \"session\": expected a string of 1..63 bytes, got 64 bytes"},
    {"{\"v\":\"1.0\",\"type\":\"heartbeat\",\"seq\":1,\"ts\":5,\"from\":\"a\",\"session\":\"\"}", EM_ERR_FORMAT,
     "field \"session\": expected a string of 1..63 bytes, got 0 bytes"},
    {"{\"v\":\"1.0\",\"type\":\"heartbeat\",\"seq\":1,\"ts\":5,\"from\":\"a\",\"session\":\"a b\"}", EM_ERR_FORMAT,
     "not one of [A-Za-z0-9_.:-]"},
    {"{\"v\":\"1.0\",\"type\":\"heartbeat\",\"seq\":1,\"ts\":5,\"from\":\"a/b\",\"session\":\"s\"}", EM_ERR_FORMAT,
     "field \"from\""},
    {"{\"v\":\"1.0\",\"type\":\"heartbeat\",\"seq\":1,\"ts\":5,\"from\":null,\"session\":\"s\"}", EM_ERR_FORMAT,
     "field \"from\": expected a string, got null"},
    /* step and plan */
    {"{" ENV("step") ",\"plan\":\"p1\",\"step\":\"s1\",\"index\":0,\"skill\":\"" X31 "abcdefghi\"}", EM_ERR_FORMAT,
     "rio_msg_decode: step: field \"skill\": expected a string of 1..31 bytes, got 40 bytes"},
    {"{" ENV("step") ",\"plan\":\"p1\",\"step\":\"s1\",\"skill\":\"pick\"}", EM_ERR_FORMAT,
     "step: field \"index\": missing"},
    {"{" ENV("step") ",\"step\":\"s1\",\"index\":0,\"skill\":\"pick\"}", EM_ERR_FORMAT, "step: field \"plan\": missing"},
    {"{" ENV("step") ",\"plan\":\"p1\",\"index\":0,\"skill\":\"pick\"}", EM_ERR_FORMAT, "step: field \"step\": missing"},
    {"{" ENV("step") ",\"plan\":\"p1\",\"step\":\"s1\",\"index\":65536,\"skill\":\"pick\"}", EM_ERR_FORMAT,
     "field \"index\": expected an integer 0..65535"},
    {"{" STEP_OK ",\"args\":[1]}", EM_ERR_FORMAT, "field \"args\": expected an object, got an array"},
    {"{" STEP_OK ",\"args\":{\"a\":null}}", EM_ERR_FORMAT,
     "field \"args.a\": expected a number, string or bool, got null"},
    {"{" STEP_OK ",\"args\":{\"a\":[1]}}", EM_ERR_FORMAT, "field \"args.a\""},
    {"{" STEP_OK ",\"args\":{\"a\":{}}}", EM_ERR_FORMAT, "got an object"},
    {"{" STEP_OK ",\"args\":{\"a\":1,\"a\":2}}", EM_ERR_FORMAT, "field \"args.a\": duplicate argument"},
    {"{" STEP_OK ",\"args\":{\"a\":1,\"b\":1,\"c\":1,\"d\":1,\"e\":1,\"f\":1,\"g\":1,\"h\":1,\"i\":1}}", EM_ERR_FORMAT,
     "field \"args\": expected at most 8 entries, got 9"},
    {"{" STEP_OK ",\"args\":{\"a b\":1}}", EM_ERR_FORMAT, "argument name"},
    {"{" STEP_OK ",\"args\":{\"\":1}}", EM_ERR_FORMAT, "argument name expected a string of 1..31 bytes"},
    {"{" STEP_OK ",\"args\":{\"a\":\"" X63 "x\"}}", EM_ERR_FORMAT, "expected a string of 0..63 bytes, got 64 bytes"},
    {"{" STEP_OK ",\"args\":{\"a\":-1e400}}", EM_ERR_FORMAT, "field \"args.a\": expected a finite number"},
    {"{" ENV("plan") ",\"plan\":\"p1\"}", EM_ERR_FORMAT, "plan: field \"steps\": missing"},
    {"{" ENV("plan") ",\"plan\":\"p1\",\"steps\":[]}", EM_ERR_FORMAT, "expected 1..64 steps, got 0"},
    {"{" ENV("plan") ",\"plan\":\"p1\",\"steps\":{}}", EM_ERR_FORMAT, "expected an array"},
    {"{" ENV("plan") ",\"plan\":\"p1\",\"steps\":[1]}", EM_ERR_FORMAT, "field \"steps[0]\": expected an object"},
    {"{" ENV("plan") ",\"plan\":\"p1\",\"steps\":[{\"id\":\"s1\",\"skill\":\"pick\"},{\"id\":\"s1\",\"skill\":\"x\"}]}",
     EM_ERR_FORMAT, "field \"steps[1].id\": \"s1\" is also the id of steps[0]"},
    {"{" ENV("plan") ",\"plan\":\"p1\",\"steps\":[{\"id\":\"s1\",\"skill\":\"pick\"},{\"id\":\"s2\",\"index\":0,"
                     "\"skill\":\"x\"}]}",
     EM_ERR_FORMAT, "field \"steps[1].index\": 0 is also the index of steps[0]"},
    {"{" ENV("plan") ",\"plan\":\"p1\",\"steps\":[{\"id\":\"s1\"}]}", EM_ERR_FORMAT, "field \"steps[0].skill\": missing"},
    {"{" ENV("plan") ",\"plan\":\"bad id!\",\"steps\":[{\"id\":\"s1\",\"skill\":\"pick\"}]}", EM_ERR_FORMAT,
     "field \"plan\""},
    /* feedback */
    {"{" ENV("feedback") ",\"plan\":\"p1\",\"step\":\"s1\",\"status\":\"exploded\"}", EM_ERR_FORMAT,
     "field \"status\": expected accepted, running, done or failed, got \"exploded\""},
    {"{" ENV("feedback") ",\"plan\":\"p1\",\"step\":\"s1\",\"status\":\"failed\"}", EM_ERR_FORMAT,
     "feedback: field \"reason\": missing"},
    {"{" ENV("feedback") ",\"plan\":\"p1\",\"step\":\"s1\",\"status\":\"failed\",\"reason\":\"x\",\"text\":5}",
     EM_ERR_FORMAT, "field \"text\": expected a string"},
    {"{" ENV("feedback") ",\"plan\":\"p1\",\"status\":\"done\"}", EM_ERR_FORMAT, "field \"step\": missing"},
    {"{" ENV("feedback") ",\"plan\":\"p1\",\"step\":\"s1\",\"status\":\"done\",\"replayed\":\"yes\"}", EM_ERR_FORMAT,
     "field \"replayed\": expected a bool, got a string"},
    {"{" ENV("feedback") ",\"plan\":\"p1\",\"step\":\"s1\",\"status\":\"done\",\"replayed\":true,\"fate_ts\":-1}",
     EM_ERR_FORMAT, "field \"fate_ts\""},
    /* state */
    {"{" ENV("state") ",\"layout\":[\"a\"],\"vector\":[1,2]}", EM_ERR_FORMAT, "field \"vector\": 2 entries, but layout has 1"},
    {"{" ENV("state") ",\"layout\":[\"a\"],\"vector\":[\"1\"]}", EM_ERR_FORMAT, "field \"vector[0]\": expected a number"},
    {"{" ENV("state") ",\"layout\":[3],\"vector\":[1]}", EM_ERR_FORMAT, "field \"layout[0]\": expected a string"},
    {"{" ENV("state") ",\"vector\":[1]}", EM_ERR_FORMAT, "field \"layout\": missing"},
    {"{" ENV("state") ",\"layout\":[],\"vector\":[],\"fields\":[1]}", EM_ERR_FORMAT, "field \"fields\": expected an object"},
    /* frame */
    {"{" FRAME_OK "\"gif\",\"size\":3}", EM_ERR_FORMAT, "field \"encoding\": expected png, jpeg or rgb8, got \"gif\""},
    {"{" FRAME_OK "\"rgb8\",\"size\":13}", EM_ERR_FORMAT, "rgb8 2x2 needs width*height*3 = 12"},
    {"{" FRAME_OK "\"png\",\"size\":0}", EM_ERR_FORMAT, "field \"size\""},
    {"{" FRAME_OK "\"png\",\"size\":16777217}", EM_ERR_FORMAT, "field \"size\""},
    {"{" ENV("frame") ",\"camera\":\"top\",\"width\":8193,\"height\":2,\"frame_ts\":1,\"encoding\":\"png\",\"size\":1}",
     EM_ERR_FORMAT, "field \"width\": expected an integer 1..8192, got 8193"},
    {"{" ENV("frame") ",\"camera\":\"top\",\"width\":2,\"height\":0,\"frame_ts\":1,\"encoding\":\"png\",\"size\":1}",
     EM_ERR_FORMAT, "field \"height\""},
    {"{" ENV("frame") ",\"camera\":\"top\",\"width\":2,\"height\":2,\"encoding\":\"png\",\"size\":1}", EM_ERR_FORMAT,
     "field \"frame_ts\": missing"},
    /* cancel, estop, ack */
    {"{" ENV("cancel") "}", EM_ERR_FORMAT, "cancel: field \"plan\": missing"},
    {"{" ENV("cancel") ",\"plan\":\"p1\",\"step\":\"\"}", EM_ERR_FORMAT, "field \"step\""},
    {"{" ENV("estop") ",\"reason\":false}", EM_ERR_FORMAT, "field \"reason\": expected a string, got a bool"},
    {"{" ENV("ack") "}", EM_ERR_FORMAT, "ack: field \"ack\": missing"},
    {"{" ENV("ack") ",\"ack\":[]}", EM_ERR_FORMAT, "field \"ack\": expected an object"},
    {"{" ENV("ack") ",\"ack\":{\"session\":\"x\"}}", EM_ERR_FORMAT, "field \"ack.seq\": missing"},
    {"{" ENV("ack") ",\"ack\":{\"seq\":3}}", EM_ERR_FORMAT, "field \"ack.session\": missing"},
    {"{" ENV("ack") ",\"ack\":{\"session\":\"x\",\"seq\":3},\"reason\":\"no such plan\"}", EM_ERR_FORMAT,
     "field \"reason\""},
    /* hello and skill declarations */
    {"{" ENV("hello") "}", EM_ERR_FORMAT, "hello: field \"role\": missing"},
    {"{" ENV("hello") ",\"role\":\"controller\",\"cameras\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}", EM_ERR_FORMAT,
     "field \"cameras\": expected at most 4 entries, got 5"},
    {"{" ENV("hello") ",\"role\":\"controller\",\"skills\":[{\"name\":\"a\"},{\"name\":\"a\"}]}", EM_ERR_FORMAT,
     "field \"skills[1].name\": duplicate skill \"a\""},
    {"{" ENV("hello") ",\"role\":\"controller\",\"skills\":[{\"doc\":\"x\"}]}", EM_ERR_FORMAT,
     "field \"skills[0].name\": missing"},
    {SPEC("{\"name\":\"x\",\"type\":\"float\"}"), EM_ERR_FORMAT,
     "field \"skills[0].args[0].type\": expected number, integer, string or bool, got \"float\""},
    {SPEC("{\"name\":\"x\",\"type\":\"number\",\"min\":1}"), EM_ERR_FORMAT,
     "field \"skills[0].args[0].max\": missing (min and max come together)"},
    {SPEC("{\"name\":\"x\",\"type\":\"number\",\"min\":2,\"max\":1}"), EM_ERR_FORMAT, "is above max"},
    {SPEC("{\"name\":\"x\",\"type\":\"string\",\"min\":0,\"max\":1}"), EM_ERR_FORMAT, "numbers and integers only"},
    {SPEC("{\"name\":\"x\",\"type\":\"number\",\"enum\":[\"a\"]}"), EM_ERR_FORMAT, "strings only"},
    {SPEC("{\"name\":\"x\",\"type\":\"string\",\"enum\":[\"a\",1]}"), EM_ERR_FORMAT,
     "field \"skills[0].args[0].enum[1]\": expected a string, got a number"},
    {SPEC("{\"name\":\"x\",\"type\":\"bool\",\"optional\":1}"), EM_ERR_FORMAT, "field \"skills[0].args[0].optional\""},
    {SPEC("{\"name\":\"x\",\"type\":\"bool\"},{\"name\":\"x\",\"type\":\"number\"}"), EM_ERR_FORMAT,
     "field \"skills[0].args[1].name\": duplicate argument \"x\""},
    {SPEC("{\"name\":\"a\",\"type\":\"bool\"},{\"name\":\"b\",\"type\":\"bool\"},{\"name\":\"c\",\"type\":\"bool\"},"
          "{\"name\":\"d\",\"type\":\"bool\"},{\"name\":\"e\",\"type\":\"bool\"},{\"name\":\"f\",\"type\":\"bool\"},"
          "{\"name\":\"g\",\"type\":\"bool\"},{\"name\":\"h\",\"type\":\"bool\"},{\"name\":\"i\",\"type\":\"bool\"}"),
     EM_ERR_FORMAT, "field \"skills[0].args\": expected at most 8 entries, got 9"},
};

static void test_rejections(void) {
    char err[EM_ERR_LEN];
    int n = (int)(sizeof REJECTS / sizeof REJECTS[0]);
    for (int i = 0; i < n; i++) {
        const struct reject_case *c = &REJECTS[i];
        rio_msg m;
        err[0] = 0;
        ember_status st = rio_msg_decode(&m, c->json, strlen(c->json), err);
        CHECK(st == c->want, "case %d: status %d, want %d: %s\n  input: %s", i, st, c->want, err, c->json);
        CHECK(strstr(err, c->says) != NULL, "case %d: \"%s\" does not say \"%s\"", i, err, c->says);
        CHECK(m.type == RIO_MSG_NONE && m.seq == 0, "case %d: message not cleared", i);
    }
}

/* The rejections that a string literal cannot carry, and the liberal side. */
static void test_edges(void) {
    char err[EM_ERR_LEN];
    rio_msg m;
    const char hb[] = "{" HB "}";

    /* Not NUL-terminated: only len bytes count. */
    char buf[sizeof hb + 8];
    memcpy(buf, hb, sizeof hb - 1);
    memcpy(buf + sizeof hb - 1, "garbage!", 8);
    CHECK(rio_msg_decode(&m, buf, sizeof hb - 1, err) == EM_OK, "unterminated input: %s", err);
    rio_msg_clear(&m);

    /* An embedded NUL cannot hide trailing garbage, nor sit inside a value. */
    char nul[sizeof hb + 8];
    memcpy(nul, hb, sizeof hb); /* includes the NUL */
    memcpy(nul + sizeof hb, "{\"x\":1}", 7);
    CHECK(rio_msg_decode(&m, nul, sizeof hb + 7, err) == EM_ERR_FORMAT && strstr(err, "NUL byte at offset"),
          "NUL then garbage: %s", err);
    CHECK(rio_msg_decode(&m, hb, sizeof hb, err) == EM_ERR_FORMAT, "trailing NUL: %s", err);
    memcpy(nul, hb, sizeof hb);
    nul[30] = 0;
    CHECK(rio_msg_decode(&m, nul, sizeof hb - 1, err) == EM_ERR_FORMAT, "NUL inside: %s", err);

    /* An escaped NUL would cut the string cJSON hands back: refused; an
     * escaped backslash before "u0000" is plain text. */
    const char *esc = "{" ENV("estop") ",\"reason\":\"ab\\u0000cd\"}";
    CHECK(rio_msg_decode(&m, esc, strlen(esc), err) == EM_ERR_FORMAT && strstr(err, "escaped NUL"), "\\u0000: %s", err);
    const char *esc2 = "{" ENV("estop") ",\"reason\":\"ab\\\\u0000cd\\u0001\"}";
    CHECK(rio_msg_decode(&m, esc2, strlen(esc2), err) == EM_OK && !strcmp(m.u.estop.reason, "ab\\u0000cd\x01"),
          "\\\\u0000: %s %s", err, m.u.estop.reason);

    /* Whitespace around the object is fine. */
    const char ws[] = " \r\n\t{" HB "} \n";
    CHECK(rio_msg_decode(&m, ws, sizeof ws - 1, err) == EM_OK, "whitespace: %s", err);

    /* Oversized, even when it is otherwise fine. */
    size_t big = RIO_MAX_JSON + 1;
    char *huge = malloc(big);
    if (huge) {
        memset(huge, ' ', big);
        memcpy(huge, hb, sizeof hb - 1);
        CHECK(rio_msg_decode(&m, huge, big, err) == EM_ERR_RANGE && strstr(err, "oversized"), "oversized: %s", err);
        CHECK(rio_msg_decode(&m, huge, big - 1, err) == EM_OK, "at the limit: %s", err);
        free(huge);
    }

    /* Deep nesting inside an ignored field is refused by cJSON's limit, not the stack. */
    size_t depth = 5000;
    char *deep = malloc(2 * depth + 256);
    if (deep) {
        size_t k = (size_t)sprintf(deep, "{" HB ",\"x\":");
        for (size_t i = 0; i < depth; i++) deep[k++] = '[';
        for (size_t i = 0; i < depth; i++) deep[k++] = ']';
        deep[k++] = '}';
        CHECK(rio_msg_decode(&m, deep, k, err) == EM_ERR_FORMAT, "deep nesting: %s", err);
        free(deep);
    }

    /* Unknown fields are ignored at every level. */
    const char *unknown =
        "{" ENV("hello") ",\"role\":\"controller\",\"future\":{\"a\":[1,{\"b\":null}]},\"skills\":[{\"name\":\"pick\","
        "\"color\":\"red\",\"args\":[{\"name\":\"o\",\"type\":\"string\",\"unit\":\"m\",\"enum\":[\"a\"]}]}],"
        "\"cameras\":[\"top\"],\"zzz\":null}";
    CHECK(rio_msg_decode(&m, unknown, strlen(unknown), err) == EM_OK, "unknown fields in hello: %s", err);
    CHECK(m.u.hello.n_skills == 1 && m.u.hello.skills[0].args[0].n_enum == 1, "hello parsed");
    rio_msg_clear(&m);
    const char *unknown2 = "{" ENV("plan") ",\"plan\":\"p1\",\"priority\":3,\"steps\":[{\"id\":\"s1\",\"skill\":\"pick\","
                           "\"why\":\"to test\"}]}";
    CHECK(rio_msg_decode(&m, unknown2, strlen(unknown2), err) == EM_OK, "unknown fields in plan: %s", err);
    CHECK(m.u.plan.n_steps == 1 && m.u.plan.steps[0].index == 0 && m.u.plan.steps[0].n_args == 0, "plan parsed");
    rio_msg_clear(&m);
    const char *unknown3 = "{" ENV("ack") ",\"ack\":{\"session\":\"x\",\"seq\":3,\"note\":1}}";
    CHECK(rio_msg_decode(&m, unknown3, strlen(unknown3), err) == EM_OK && m.u.ack.seq == 3, "ack: %s", err);
    /* plan/step fields on a type they do not apply to are ignored too */
    const char *misplaced = "{" ENV("reset") ",\"plan\":\"p1\",\"step\":\"s1\"}";
    CHECK(rio_msg_decode(&m, misplaced, strlen(misplaced), err) == EM_OK && !m.plan_id[0], "reset: %s", err);

    /* A newer minor is accepted and says so. */
    const char *minor = "{\"v\":\"1.7\",\"type\":\"heartbeat\",\"seq\":3,\"ts\":0,\"from\":\"a\",\"session\":\"s\","
                        "\"added_in_1_7\":true}";
    CHECK(rio_msg_decode(&m, minor, strlen(minor), err) == EM_OK && m.v_major == 1 && m.v_minor == 7, "1.7: %s", err);

    /* Integers written with an exponent are integers; reason/text on a
     * non-failure are ignored; a plain number argument decodes as NUMBER. */
    const char *expo = "{\"v\":\"1.0\",\"type\":\"feedback\",\"seq\":1.7e1,\"ts\":0,\"from\":\"a\",\"session\":\"s\","
                       "\"plan\":\"p\",\"step\":\"q\",\"status\":\"done\",\"reason\":\"x\"}";
    CHECK(rio_msg_decode(&m, expo, strlen(expo), err) == EM_OK && m.seq == 17 && !m.u.feedback.reason[0],
          "exponent: %s", err);
    CHECK(m.reliable == 1 && m.u.feedback.status == RIO_FB_DONE, "feedback done");
    /* A 1.0 message (no "replayed", no ack reason) decodes as news / done as asked. */
    CHECK(!m.u.feedback.replayed && !m.u.feedback.fate_ts_us, "1.0 feedback is not replayed");
    CHECK(rio_msg_decode(&m, unknown3, strlen(unknown3), err) == EM_OK && !m.u.ack.reason[0] && !m.u.ack.text[0],
          "1.0 ack has no reason: %s", err);
    const char *replay = "{\"v\":\"1.1\",\"type\":\"feedback\",\"seq\":2,\"ts\":0,\"from\":\"a\",\"session\":\"s\","
                         "\"plan\":\"p\",\"step\":\"q\",\"status\":\"done\",\"replayed\":true,\"fate_ts\":1732456790300000}";
    CHECK(rio_msg_decode(&m, replay, strlen(replay), err) == EM_OK && m.u.feedback.replayed &&
              m.u.feedback.fate_ts_us == 1732456790300000ull,
          "replayed feedback: %s", err);
    const char *refused = "{" ENV("ack") ",\"ack\":{\"session\":\"x\",\"seq\":3},\"reason\":\"unknown_plan\",\"text\":\"no p\"}";
    CHECK(rio_msg_decode(&m, refused, strlen(refused), err) == EM_OK && !strcmp(m.u.ack.reason, "unknown_plan") &&
              !strcmp(m.u.ack.text, "no p"),
          "ack with a reason: %s", err);

    /* A repeated key: the first counts (cJSON's lookup), so the bad second
     * index is not seen; a repeated argument name is refused (see REJECTS). */
    const char *dup = "{" STEP_OK ",\"index\":-1,\"skill\":\"" X31 "abcdefghi\"}";
    CHECK(rio_msg_decode(&m, dup, strlen(dup), err) == EM_OK && m.u.step.index == 0 && !strcmp(m.u.step.skill, "pick"),
          "repeated keys: %s", err);
}

/* ---------------------------------------------------------------------------
 * Frames: the binary part */

static void test_blobs(void) {
    char err[EM_ERR_LEN];
    rio_msg m;
    unsigned char px[24] = {0};
    const char *png = "{" FRAME_OK "\"png\",\"size\":5}";
    CHECK(rio_msg_decode(&m, png, strlen(png), err) == EM_OK, "png frame: %s", err);
    CHECK(rio_msg_attach_blob(&m, px, 4, err) == EM_ERR_FORMAT && strstr(err, "4 bytes, the envelope says 5"),
          "short: %s", err);
    CHECK(rio_msg_attach_blob(&m, px, 6, err) == EM_ERR_FORMAT, "long");
    CHECK(m.u.frame.data == NULL, "nothing attached on failure");
    CHECK(rio_msg_attach_blob(&m, px, 5, err) == EM_OK && m.u.frame.data == px, "exact: %s", err);
    rio_msg_clear(&m);

    const char *rgb = "{" FRAME_OK "\"rgb8\",\"size\":12}";
    CHECK(rio_msg_decode(&m, rgb, strlen(rgb), err) == EM_OK, "rgb frame: %s", err);
    CHECK(rio_msg_attach_blob(&m, px, 12, err) == EM_OK, "rgb8 12: %s", err);
    m.u.frame.size = 24; /* an envelope edited after decoding still meets the rgb8 rule */
    CHECK(rio_msg_attach_blob(&m, px, 24, err) == EM_ERR_FORMAT && strstr(err, "rgb8 2x2 needs 12 bytes"), "%s", err);
    CHECK(rio_msg_attach_blob(&m, NULL, 24, err) == EM_ERR_ARG, "NULL data");

    rio_msg hb;
    rio_msg_init(&hb, RIO_MSG_HEARTBEAT);
    CHECK(rio_msg_attach_blob(&hb, px, 1, err) == EM_ERR_ARG && strstr(err, "heartbeat"), "not a frame: %s", err);
}

/* ---------------------------------------------------------------------------
 * rio_step_check */

static void test_step_check(void) {
    char err[EM_ERR_LEN], reason[RIO_NAME_LEN];
    int n;
    rio_skill *sk = make_skills(&n);
    CHECK(sk != NULL, "skills");
    if (!sk) return;
    rio_step s;
    memset(&s, 0, sizeof s);
    snprintf(s.step_id, sizeof s.step_id, "s1");

#define EXPECT_OK()                                                                                    \
    CHECK(rio_step_check(sk, n, &s, reason, err) == EM_OK, "%s", err)
#define EXPECT_BAD(code, says)                                                                         \
    do {                                                                                               \
        reason[0] = 0;                                                                                 \
        CHECK(rio_step_check(sk, n, &s, reason, err) == EM_ERR_ARG && !strcmp(reason, code) &&         \
                  strstr(err, says),                                                                   \
              "reason %s, err %s; want %s, \"%s\"", reason, err, code, says);                          \
    } while (0)

    snprintf(s.skill, sizeof s.skill, "fly");
    EXPECT_BAD(RIO_REASON_UNKNOWN_SKILL, "skill \"fly\" is not offered (offered: pick, place, wait)");
    CHECK(rio_step_check(sk, 0, &s, reason, err) == EM_ERR_ARG && strstr(err, "offered: none"), "%s", err);

    snprintf(s.skill, sizeof s.skill, "pick");
    EXPECT_BAD(RIO_REASON_BAD_ARGS, "argument \"object\" (string) is required by skill \"pick\"");
    set_arg_str(&s.args[0], "object", "red_block");
    s.n_args = 1;
    EXPECT_OK(); /* speed is optional */
    set_arg_str(&s.args[0], "object", "purple_cube");
    EXPECT_BAD(RIO_REASON_BAD_ARGS,
               "argument \"object\": \"purple_cube\" is not one of the allowed values (red_block, blue_block, "
               "green block, big)");
    set_arg_num(&s.args[0], "object", RIO_ARG_NUMBER, 3);
    EXPECT_BAD(RIO_REASON_BAD_ARGS, "argument \"object\": expected string, got number 3");
    set_arg_str(&s.args[0], "object", "blue_block");
    set_arg_num(&s.args[1], "speed", RIO_ARG_NUMBER, 1.5);
    s.n_args = 2;
    EXPECT_BAD(RIO_REASON_BAD_ARGS, "argument \"speed\": 1.5 is outside 0.10000000000000001..1");
    set_arg_num(&s.args[1], "speed", RIO_ARG_INTEGER, 1); /* an integer is a number */
    EXPECT_OK();
    set_arg_str(&s.args[1], "speed", "fast");
    EXPECT_BAD(RIO_REASON_BAD_ARGS, "argument \"speed\": expected number, got string");
    set_arg_num(&s.args[1], "colour", RIO_ARG_NUMBER, 1);
    EXPECT_BAD(RIO_REASON_BAD_ARGS, "argument \"colour\" is not declared by skill \"pick\"");
    set_arg_str(&s.args[1], "object", "red_block");
    EXPECT_BAD(RIO_REASON_BAD_ARGS, "argument \"object\" given twice");

    snprintf(s.skill, sizeof s.skill, "wait");
    set_arg_num(&s.args[0], "ticks", RIO_ARG_NUMBER, 2.5);
    s.n_args = 1;
    EXPECT_BAD(RIO_REASON_BAD_ARGS, "argument \"ticks\": expected integer, got number 2.5");
    set_arg_num(&s.args[0], "ticks", RIO_ARG_NUMBER, 7); /* integral: what a decoded step holds */
    EXPECT_OK();
    set_arg_num(&s.args[0], "ticks", RIO_ARG_INTEGER, 0);
    EXPECT_BAD(RIO_REASON_BAD_ARGS, "argument \"ticks\": 0 is outside 1..100");
    set_arg_num(&s.args[0], "ticks", RIO_ARG_INTEGER, 100);
    snprintf(s.args[1].name, RIO_NAME_LEN, "quiet");
    s.args[1].type = RIO_ARG_STRING;
    s.n_args = 2;
    EXPECT_BAD(RIO_REASON_BAD_ARGS, "argument \"quiet\": expected bool, got string");
    s.args[1].type = RIO_ARG_BOOL;
    EXPECT_OK();
    CHECK(rio_step_check(sk, n, &s, NULL, NULL) == EM_OK, "NULL reason and err");

    /* A long list of allowed values is cut, not overflowed. */
    rio_arg_spec *o = &sk[0].args[0];
    o->n_enum = RIO_MAX_ENUM;
    for (int i = 0; i < RIO_MAX_ENUM; i++) snprintf(o->enums[i], RIO_STR_LEN, "object_number_%02d_with_a_long_name", i);
    snprintf(s.skill, sizeof s.skill, "pick");
    set_arg_str(&s.args[0], "object", "nothing");
    s.n_args = 1;
    EXPECT_BAD(RIO_REASON_BAD_ARGS, "object_number_00_with_a_long_name, ");
    CHECK(strstr(err, ", ...)") != NULL && strlen(err) < 400, "cut list: %s", err);
    free(sk);
#undef EXPECT_OK
#undef EXPECT_BAD
}

/* ---------------------------------------------------------------------------
 * rio_plan_parse */

static void test_plan_parse(void) {
    char err[EM_ERR_LEN], plan_id[RIO_ID_LEN];
    rio_step *steps = NULL;
    int n = -1;
    const char *good = "{\n  \"plan\": \"stack1\",\n  \"note\": \"by hand\",\n  \"steps\": [\n"
                       "    {\"id\": \"s1\", \"skill\": \"pick\", \"args\": {\"object\": \"red_block\", \"speed\": 0.5}},\n"
                       "    {\"id\": \"s2\", \"index\": 7, \"skill\": \"place\", \"args\": {\"target\": \"blue_bowl\"}}\n"
                       "  ]\n}\n";
    CHECK(rio_plan_parse(good, strlen(good), plan_id, &steps, &n, err) == EM_OK, "%s", err);
    CHECK(n == 2 && steps && !strcmp(plan_id, "stack1"), "n %d, plan %s", n, plan_id);
    if (n == 2 && steps) {
        CHECK(!strcmp(steps[0].step_id, "s1") && steps[0].index == 0 && steps[1].index == 7, "ids and indices");
        const rio_arg *a = rio_step_arg(&steps[0], "speed");
        CHECK(a && a->type == RIO_ARG_NUMBER && a->num == 0.5, "speed arg");
        a = rio_step_arg(&steps[1], "target");
        CHECK(a && a->type == RIO_ARG_STRING && !strcmp(a->str, "blue_bowl"), "target arg");
    }
    free(steps);

    const char *list = "[{\"id\":\"a\",\"skill\":\"pick\"},{\"id\":\"b\",\"skill\":\"wait\",\"args\":{\"ticks\":3}}]";
    CHECK(rio_plan_parse(list, strlen(list), plan_id, &steps, &n, err) == EM_OK && n == 2 && !plan_id[0], "list: %s",
          err);
    free(steps);
    const char *one = "{\"id\":\"only\",\"skill\":\"pick\",\"args\":{\"object\":\"red_block\"}}";
    CHECK(rio_plan_parse(one, strlen(one), plan_id, &steps, &n, err) == EM_OK && n == 1 &&
              !strcmp(steps[0].step_id, "only"),
          "one step: %s", err);
    free(steps);

    static const struct { const char *json, *says; } bad[] = {
        {"", "empty"},
        {"{\"plan\":\"p\",\"steps\":[]}", "expected 1..64 steps, got 0"},
        {"{\"steps\":[{\"id\":\"a\",\"skill\":\"pick\"}]}", "field \"plan\": missing"},
        {"{\"plan\":\"p\",\"steps\":[{\"id\":\"a\",\"skill\":\"pick\"},{\"id\":\"a\",\"skill\":\"pick\"}]}",
         "rio_plan_parse: field \"steps[1].id\": \"a\" is also the id of steps[0]"},
        {"{\"plan\":\"p\",\"steps\":[{\"id\":\"a\",\"skill\":\"pick\",\"args\":{\"x\":null}}]}", "steps[0].args.x"},
        {"{\"plan\":\"p\",\"steps\":[{\"id\":\"a\",\"index\":-1,\"skill\":\"pick\"}]}", "steps[0].index"},
        {"{\"plan\":\"p\",\"steps\":[{\"id\":\"a\",\"skill\":\"pick\"}]} trailing", "trailing"},
        {"[]", "expected 1..64 steps, got 0"},
        {"{\"id\":\"a\"}", "field \"skill\": missing"},
        {"42", "expected a plan object, a list of steps or one step, got a number"},
        {"[1]", "steps[0]\": expected an object"},
        /* no "steps": the three accepted shapes are listed, not a missing "id" */
        {"{\"plan\":\"p\"}", "a plan file is one of: a plan {\"plan\": ID, \"steps\": [STEP, ...]}, a bare list"},
        {"{\"plan\":\"p\",\"stpes\":[]}", "(it has \"plan\")"},
        {"{\"note\":\"empty\"}", "no \"steps\" list and no step fields"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        steps = (rio_step *)&n; /* must be reset */
        snprintf(plan_id, sizeof plan_id, "stale");
        ember_status st = rio_plan_parse(bad[i].json, strlen(bad[i].json), plan_id, &steps, &n, err);
        CHECK(st == EM_ERR_FORMAT && strstr(err, bad[i].says), "plan case %zu: %d %s", i, st, err);
        CHECK(steps == NULL && n == 0 && !plan_id[0], "plan case %zu: outputs reset", i);
    }

    /* 65 steps: too many, in both forms. */
    char *many = malloc(65 * 40 + 64);
    if (many) {
        size_t k = (size_t)sprintf(many, "{\"plan\":\"p\",\"steps\":[");
        for (int i = 0; i < 65; i++) k += (size_t)sprintf(many + k, "%s{\"id\":\"s%d\",\"skill\":\"x\"}", i ? "," : "", i);
        k += (size_t)sprintf(many + k, "]}");
        CHECK(rio_plan_parse(many, k, plan_id, &steps, &n, err) == EM_ERR_FORMAT && strstr(err, "at most 64"), "%s",
              err);
        char *arr = strchr(many, '[');
        CHECK(rio_plan_parse(arr, strlen(arr) - 1, plan_id, &steps, &n, err) == EM_ERR_FORMAT &&
                  strstr(err, "expected 1..64 steps, got 65"),
              "%s", err);
        free(many);
    }
}

/* ---------------------------------------------------------------------------
 * rio_msg_copy */

static void test_copy(void) {
    char err[EM_ERR_LEN];
    for (int t = 1; t < RIO_MSG_TYPE_COUNT; t++) {
        rio_msg a, b, c;
        make_full(&a, (rio_msg_type)t);
        CHECK(rio_msg_copy(&b, &a, err) == EM_OK, "copy: %s", err);
        make_full(&c, (rio_msg_type)t); /* the reference, since a is freed */
        if (t == RIO_MSG_HELLO) CHECK(b.u.hello.skills != a.u.hello.skills, "skills are copied");
        if (t == RIO_MSG_PLAN) CHECK(b.u.plan.steps != a.u.plan.steps, "steps are copied");
        if (t == RIO_MSG_STATE) CHECK(b.u.state.fields_json != a.u.state.fields_json, "fields are copied");
        rio_msg_clear(&a);
        const char *diff = msg_diff(&b, &c);
        CHECK(!diff, "%s: copy differs in %s after the original is freed", rio_msg_type_name((rio_msg_type)t), diff);
        char *json = NULL;
        size_t len;
        CHECK(rio_msg_encode(&b, &json, &len, err) == EM_OK, "encode the copy: %s", err);
        free(json);
        rio_msg_clear(&b);
        rio_msg_clear(&c);
    }
    rio_msg bad, out;
    rio_msg_init(&bad, RIO_MSG_PLAN);
    bad.u.plan.n_steps = 3; /* and no steps */
    CHECK(rio_msg_copy(&out, &bad, err) == EM_ERR_ARG && out.type == RIO_MSG_NONE, "copy of a broken plan: %s", err);
}

/* Issue 14: the state and frame sockets take the command port + 1 and + 2;
 * a port whose companions overflow, or endpoints that clash, are refused
 * saying so rather than as "a numeric port" or "another controller". */
static void test_config_ports(void) {
    char err[EM_ERR_LEN];
    rio_config c;
    rio_config_defaults(&c);
    strcpy(c.endpoint, "tcp://127.0.0.1:65533");
    CHECK(rio_config_finish(&c, err) == EM_OK && !strcmp(c.frame_endpoint, "tcp://127.0.0.1:65535"), "65533: %s", err);
    rio_config_defaults(&c);
    strcpy(c.endpoint, "tcp://127.0.0.1:65534");
    CHECK(rio_config_finish(&c, err) == EM_ERR_ARG && strstr(err, "frames socket takes the command port + 2, 65536, past 65535") &&
              strstr(err, "at most 65533"), "65534: %s", err);
    rio_config_defaults(&c);
    strcpy(c.endpoint, "tcp://127.0.0.1:65535");
    CHECK(rio_config_finish(&c, err) == EM_ERR_ARG && strstr(err, "state socket takes the command port + 1, 65536"),
          "65535: %s", err);
    rio_config_defaults(&c);
    strcpy(c.endpoint, "tcp://127.0.0.1:70000");
    CHECK(rio_config_finish(&c, err) == EM_ERR_ARG && strstr(err, "numeric port 1..65535"), "70000: %s", err);
    rio_config_defaults(&c);
    strcpy(c.endpoint, "tcp://127.0.0.1:5555");
    strcpy(c.frame_endpoint, "tcp://127.0.0.1:5556"); /* the derived state endpoint */
    CHECK(rio_config_finish(&c, err) == EM_ERR_ARG && strstr(err, "the frame endpoint tcp://127.0.0.1:5556 is also the state endpoint"),
          "clash: %s", err);
    rio_config_defaults(&c);
    strcpy(c.endpoint, "ipc:///tmp/x");
    strcpy(c.state_endpoint, "ipc:///tmp/x");
    CHECK(rio_config_finish(&c, err) == EM_ERR_ARG && strstr(err, "is also the command endpoint"), "ipc clash: %s", err);
}

int main(void) {
    test_config_ports();
    test_reliable_flags();
    test_round_trips();
    test_encode_refusals();
    test_schema_examples();
    test_rejections();
    test_edges();
    test_blobs();
    test_step_check();
    test_plan_parse();
    test_copy();
    return CHECK_DONE();
}
