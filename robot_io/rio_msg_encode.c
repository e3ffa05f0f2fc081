/* rio_msg_encode.c - the encoding half of Ember's robot-message codec
 * (rio_msg.h; the fields are in robot_io/SCHEMA.md): rio_msg -> cJSON tree
 * -> compact text, every field checked with the decoder's rules
 * (rio_msg_codec.h), so a message the other side would refuse is never sent
 * and re-encoding a decoded message gives the same bytes (the fuzz target
 * holds us to that). Allocates only the cJSON tree and the returned text. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "robot_io/rio_msg.h"
#include "robot_io/rio_msg_codec.h"

/* ---------------------------------------------------------------------------
 * Encoding: rio_msg -> cJSON tree -> compact text, every field checked with
 * the decoder's rules (a message we would refuse is not sent) */

typedef struct enc {
    const char *what; /* message type */
    char *err;
} enc;

static ember_status enc_bad(const enc *e, const char *path, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static ember_status enc_bad(const enc *e, const char *path, const char *key, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    ember_status st = rio_codec_field_err(e->err, EM_ERR_ARG, "rio_msg_encode", e->what, path, key, fmt, ap);
    va_end(ap);
    return st;
}

static ember_status enc_nomem(const enc *e) {
    return em_err(e->err, EM_ERR_NOMEM, "rio_msg_encode: %s: out of memory", e->what);
}

/* Add item to an array (key NULL) or object, taking it; a NULL item is the
 * failed allocation of its creator. */
static ember_status add(const enc *e, cJSON *to, const char *key, cJSON *item) {
    if (!item) return enc_nomem(e);
    if (!(key ? cJSON_AddItemToObject(to, key, item) : cJSON_AddItemToArray(to, item))) {
        cJSON_Delete(item);
        return enc_nomem(e);
    }
    return EM_OK;
}

static ember_status put_str(const enc *e, cJSON *to, const char *path, const char *key, const char *s, rio_str_rule r) {
    char why[160];
    size_t len = strnlen(s, r.cap);
    if (len == r.cap) return enc_bad(e, path, key, "not NUL-terminated within %zu bytes", r.cap);
    if (rio_codec_str_bad(s, len, r, why, sizeof why)) return enc_bad(e, path, key, "%s", why);
    return add(e, to, *key == '[' ? NULL : key, cJSON_CreateString(s));
}

/* Numbers are written by us, not cJSON: integers as integer literals, other
 * values in the shortest of %.15g and %.17g that reads back to the same
 * double, so a value survives the wire bit for bit. */
static ember_status put_num(const enc *e, cJSON *to, const char *path, const char *key, double v, int integral) {
    char buf[40];
    if (!isfinite(v)) return enc_bad(e, path, key, "expected a finite number");
    if (integral && (v != floor(v) || fabs(v) >= RIO_CODEC_INT_LIMIT))
        return enc_bad(e, path, key, "expected an integer below 2^53 in magnitude, got %.17g", v);
    if (v == floor(v) && fabs(v) < RIO_CODEC_INT_LIMIT) {
        snprintf(buf, sizeof buf, "%.0f", v + 0.0); /* + 0.0: -0 is written 0 */
    } else {
        snprintf(buf, sizeof buf, "%.15g", v);
        if (strtod(buf, NULL) != v) snprintf(buf, sizeof buf, "%.17g", v);
    }
    return add(e, to, *key == '[' ? NULL : key, cJSON_CreateRaw(buf));
}

static ember_status put_uint(const enc *e, cJSON *to, const char *path, const char *key, uint64_t v, uint64_t lo,
                             uint64_t hi) {
    if (v < lo || v > hi)
        return enc_bad(e, path, key, "expected an integer %llu..%llu, got %llu", (unsigned long long)lo,
                       (unsigned long long)hi, (unsigned long long)v);
    return put_num(e, to, path, key, (double)v, 1);
}

/* A new array or object added under key. */
static ember_status put_list(const enc *e, cJSON *to, const char *key, int object, cJSON **out) {
    *out = object ? cJSON_CreateObject() : cJSON_CreateArray();
    return add(e, to, key, *out);
}

static ember_status put_names(const enc *e, cJSON *to, const char *key, int n, int max,
                              const char (*rows)[RIO_NAME_LEN]) {
    cJSON *arr;
    ember_status st;
    if (n < 0 || n > max) return enc_bad(e, "", key, "expected 0..%d entries, got %d", max, n);
    if ((st = put_list(e, to, key, 0, &arr))) return st;
    for (int i = 0; i < n; i++) {
        char idx[16];
        snprintf(idx, sizeof idx, "[%d]", i);
        if ((st = put_str(e, arr, key, idx, rows[i], RIO_RULE_NAME))) return st;
    }
    return EM_OK;
}

static ember_status enc_args(const enc *e, cJSON *to, const char *path, const rio_step *s) {
    cJSON *obj;
    ember_status st;
    char apath[96];
    if (s->n_args < 0 || s->n_args > RIO_MAX_ARGS)
        return enc_bad(e, path, "args", "expected 0..%d arguments, got %d", RIO_MAX_ARGS, s->n_args);
    if ((st = put_list(e, to, "args", 1, &obj))) return st;
    rio_codec_field_name(apath, sizeof apath, path, "args");
    for (int i = 0; i < s->n_args; i++) {
        const rio_arg *a = &s->args[i];
        char why[160];
        size_t len = strnlen(a->name, RIO_NAME_LEN);
        if (rio_codec_str_bad(a->name, len, RIO_RULE_NAME, why, sizeof why)) return enc_bad(e, apath, "", "argument name %s", why);
        for (int k = 0; k < i; k++)
            if (!strcmp(s->args[k].name, a->name)) return enc_bad(e, apath, a->name, "duplicate argument");
        switch (a->type) {
        case RIO_ARG_NUMBER: st = put_num(e, obj, apath, a->name, a->num, 0); break;
        case RIO_ARG_INTEGER: st = put_num(e, obj, apath, a->name, a->num, 1); break;
        case RIO_ARG_STRING: st = put_str(e, obj, apath, a->name, a->str, RIO_RULE_STR); break;
        case RIO_ARG_BOOL: st = add(e, obj, a->name, cJSON_CreateBool(a->boolean != 0)); break;
        default: st = enc_bad(e, apath, a->name, "argument type %d unknown", (int)a->type);
        }
        if (st) return st;
    }
    return EM_OK;
}

/* A step's index, skill and args (its id is written by the caller). */
static ember_status enc_step_body(const enc *e, cJSON *to, const char *path, const rio_step *s) {
    ember_status st;
    if (s->index < 0 || s->index > RIO_CODEC_MAX_INDEX)
        return enc_bad(e, path, "index", "expected an integer 0..%d, got %d", RIO_CODEC_MAX_INDEX, s->index);
    if ((st = put_num(e, to, path, "index", s->index, 1))) return st;
    if ((st = put_str(e, to, path, "skill", s->skill, RIO_RULE_NAME))) return st;
    return enc_args(e, to, path, s);
}

static ember_status enc_plan(const enc *e, cJSON *to, int n, const rio_step *steps) {
    cJSON *arr;
    ember_status st;
    if (n < 1 || n > RIO_MAX_STEPS || !steps)
        return enc_bad(e, "", "steps", "expected 1..%d steps, got %d", RIO_MAX_STEPS, n);
    if ((st = put_list(e, to, "steps", 0, &arr))) return st;
    for (int i = 0; i < n; i++) {
        cJSON *o;
        char path[32];
        snprintf(path, sizeof path, "steps[%d]", i);
        if ((st = put_list(e, arr, NULL, 1, &o))) return st;
        if ((st = put_str(e, o, path, "id", steps[i].step_id, RIO_RULE_ID))) return st;
        if ((st = enc_step_body(e, o, path, &steps[i]))) return st;
        for (int k = 0; k < i; k++) {
            if (!strcmp(steps[k].step_id, steps[i].step_id))
                return enc_bad(e, path, "id", "\"%s\" is also the id of steps[%d]", steps[i].step_id, k);
            if (steps[k].index == steps[i].index)
                return enc_bad(e, path, "index", "%d is also the index of steps[%d]", steps[i].index, k);
        }
    }
    return EM_OK;
}

static ember_status enc_spec(const enc *e, cJSON *to, const char *path, const rio_arg_spec *a) {
    ember_status st;
    if ((st = put_str(e, to, path, "name", a->name, RIO_RULE_NAME))) return st;
    if ((unsigned)a->type >= 4) return enc_bad(e, path, "type", "argument type %d unknown", (int)a->type);
    if ((st = add(e, to, "type", cJSON_CreateString(rio_codec_arg_types[a->type])))) return st;
    if (a->has_range) {
        if (a->type != RIO_ARG_NUMBER && a->type != RIO_ARG_INTEGER)
            return enc_bad(e, path, "min", "a range applies to numbers and integers only");
        if (!(a->min <= a->max)) return enc_bad(e, path, "min", "%.17g is not at most max %.17g", a->min, a->max);
        if ((st = put_num(e, to, path, "min", a->min, 0)) || (st = put_num(e, to, path, "max", a->max, 0))) return st;
    }
    if (a->n_enum) {
        cJSON *arr;
        char epath[96];
        if (a->type != RIO_ARG_STRING) return enc_bad(e, path, "enum", "allowed values apply to strings only");
        if (a->n_enum < 0 || a->n_enum > RIO_MAX_ENUM)
            return enc_bad(e, path, "enum", "expected 0..%d values, got %d", RIO_MAX_ENUM, a->n_enum);
        if ((st = put_list(e, to, "enum", 0, &arr))) return st;
        rio_codec_field_name(epath, sizeof epath, path, "enum");
        for (int i = 0; i < a->n_enum; i++) {
            char idx[16];
            snprintf(idx, sizeof idx, "[%d]", i);
            if ((st = put_str(e, arr, epath, idx, a->enums[i], RIO_RULE_STR))) return st;
        }
    }
    if (a->optional) return add(e, to, "optional", cJSON_CreateTrue());
    return EM_OK;
}

static ember_status enc_hello(const enc *e, cJSON *to, const rio_hello *h) {
    ember_status st;
    cJSON *arr;
    if ((st = put_str(e, to, "", "role", h->role, RIO_RULE_NAME))) return st;
    if (h->refused[0] && (st = put_str(e, to, "", "refused", h->refused, RIO_RULE_TEXT))) return st;
    if (h->n_skills < 0 || h->n_skills > RIO_MAX_SKILLS || (h->n_skills && !h->skills))
        return enc_bad(e, "", "skills", "expected 0..%d skills, got %d", RIO_MAX_SKILLS, h->n_skills);
    if (h->n_skills) {
        if ((st = put_list(e, to, "skills", 0, &arr))) return st;
        for (int i = 0; i < h->n_skills; i++) {
            const rio_skill *s = &h->skills[i];
            cJSON *o, *args;
            char path[32];
            snprintf(path, sizeof path, "skills[%d]", i);
            if ((st = put_list(e, arr, NULL, 1, &o))) return st;
            if ((st = put_str(e, o, path, "name", s->name, RIO_RULE_NAME))) return st;
            for (int k = 0; k < i; k++)
                if (!strcmp(h->skills[k].name, s->name)) return enc_bad(e, path, "name", "duplicate skill");
            if (s->doc[0] && (st = put_str(e, o, path, "doc", s->doc, RIO_RULE_TEXT))) return st;
            if (s->n_args < 0 || s->n_args > RIO_MAX_ARGS)
                return enc_bad(e, path, "args", "expected 0..%d arguments, got %d", RIO_MAX_ARGS, s->n_args);
            if ((st = put_list(e, o, "args", 0, &args))) return st;
            for (int k = 0; k < s->n_args; k++) {
                cJSON *ao;
                char apath[64];
                snprintf(apath, sizeof apath, "%s.args[%d]", path, k);
                if ((st = put_list(e, args, NULL, 1, &ao)) || (st = enc_spec(e, ao, apath, &s->args[k]))) return st;
                for (int j = 0; j < k; j++)
                    if (!strcmp(s->args[j].name, s->args[k].name))
                        return enc_bad(e, apath, "name", "duplicate argument");
            }
        }
    }
    if (h->n_layout && (st = put_names(e, to, "layout", h->n_layout, RIO_MAX_STATE, h->layout))) return st;
    if (h->n_cameras && (st = put_names(e, to, "cameras", h->n_cameras, RIO_CODEC_MAX_CAMERAS, h->cameras))) return st;
    return EM_OK;
}

static ember_status enc_state(const enc *e, cJSON *to, const rio_state *s) {
    ember_status st;
    cJSON *arr;
    if ((st = put_names(e, to, "layout", s->n, RIO_MAX_STATE, s->layout))) return st;
    if ((st = put_list(e, to, "vector", 0, &arr))) return st;
    for (int i = 0; i < s->n; i++) {
        char idx[16];
        snprintf(idx, sizeof idx, "[%d]", i);
        if ((st = put_num(e, arr, "vector", idx, s->vector[i], 0))) return st;
    }
    if (!s->fields_json) return EM_OK;
    cJSON *fields = cJSON_ParseWithLength(s->fields_json, strnlen(s->fields_json, RIO_MAX_JSON + 1));
    if (!cJSON_IsObject(fields)) {
        cJSON_Delete(fields);
        return enc_bad(e, "", "fields", "fields_json is not one JSON object of at most %d bytes", RIO_MAX_JSON);
    }
    return add(e, to, "fields", fields);
}

static ember_status enc_frame(const enc *e, cJSON *to, const rio_frame *f) {
    ember_status st;
    char enc_name[sizeof f->encoding + 1] = {0};
    memcpy(enc_name, f->encoding, sizeof f->encoding);
    if (rio_codec_find_name(rio_codec_encodings, 3, enc_name) < 0) return enc_bad(e, "", "encoding", "expected png, jpeg or rgb8");
    if ((st = put_str(e, to, "", "camera", f->camera, RIO_RULE_NAME))) return st;
    if ((st = add(e, to, "encoding", cJSON_CreateString(enc_name)))) return st;
    if ((st = put_uint(e, to, "", "width", (uint64_t)(f->width < 0 ? 0 : f->width), 1, RIO_CODEC_MAX_DIM))) return st;
    if ((st = put_uint(e, to, "", "height", (uint64_t)(f->height < 0 ? 0 : f->height), 1, RIO_CODEC_MAX_DIM))) return st;
    if ((st = put_uint(e, to, "", "frame_ts", f->frame_ts_us, 0, (uint64_t)RIO_CODEC_INT_LIMIT - 1))) return st;
    if ((st = put_uint(e, to, "", "size", f->size, 1, RIO_MAX_BLOB))) return st;
    if (!strcmp(enc_name, "rgb8") && f->size != (size_t)f->width * (size_t)f->height * 3)
        return enc_bad(e, "", "size", "%zu bytes, but rgb8 %dx%d needs width*height*3", f->size, f->width, f->height);
    return EM_OK;
}

ember_status rio_msg_encode(const rio_msg *m, char **json, size_t *len, char *err) {
    enc e = {rio_msg_type_name(m->type), err};
    ember_status st;
    char *text = NULL;
    *json = NULL;
    *len = 0;
    if (m->type <= RIO_MSG_NONE || m->type >= RIO_MSG_TYPE_COUNT)
        return em_err(err, EM_ERR_ARG, "rio_msg_encode: message type %d is not one of hello..ack", (int)m->type);
    cJSON *o = cJSON_CreateObject();
    if (!o) return enc_nomem(&e);
    char v[32];
    snprintf(v, sizeof v, "%d.%d", RIO_SCHEMA_MAJOR, RIO_SCHEMA_MINOR);
    if ((st = add(&e, o, "v", cJSON_CreateString(v)))) goto done;
    if ((st = add(&e, o, "type", cJSON_CreateString(e.what)))) goto done;
    if ((st = put_uint(&e, o, "", "seq", m->seq, 1, (uint64_t)RIO_CODEC_INT_LIMIT - 1))) goto done;
    if ((st = put_uint(&e, o, "", "ts", m->ts_us, 0, (uint64_t)RIO_CODEC_INT_LIMIT - 1))) goto done;
    if ((st = put_str(&e, o, "", "from", m->from, RIO_RULE_NAME))) goto done;
    if ((st = put_str(&e, o, "", "session", m->session, RIO_RULE_ID))) goto done;

    /* plan and step ids in the envelope, where they apply */
    const char *step_id = m->step_id;
    if (m->type == RIO_MSG_STEP) {
        /* a step's id lives in u.step; m->step_id may repeat it */
        if (m->step_id[0] && m->u.step.step_id[0] && strncmp(m->step_id, m->u.step.step_id, RIO_ID_LEN)) {
            st = enc_bad(&e, "", "step", "m->step_id \"%.63s\" differs from u.step.step_id \"%.63s\"", m->step_id,
                         m->u.step.step_id);
            goto done;
        }
        if (m->u.step.step_id[0]) step_id = m->u.step.step_id;
    }
    switch (m->type) {
    case RIO_MSG_PLAN:
    case RIO_MSG_STEP:
    case RIO_MSG_FEEDBACK:
    case RIO_MSG_CANCEL:
        if ((st = put_str(&e, o, "", "plan", m->plan_id, RIO_RULE_ID))) goto done;
        if ((m->type != RIO_MSG_CANCEL || step_id[0]) && m->type != RIO_MSG_PLAN &&
            (st = put_str(&e, o, "", "step", step_id, RIO_RULE_ID)))
            goto done;
        break;
    default: break;
    }

    switch (m->type) {
    case RIO_MSG_HELLO: st = enc_hello(&e, o, &m->u.hello); break;
    case RIO_MSG_PLAN: st = enc_plan(&e, o, m->u.plan.n_steps, m->u.plan.steps); break;
    case RIO_MSG_STEP: st = enc_step_body(&e, o, "", &m->u.step); break;
    case RIO_MSG_FEEDBACK: {
        const rio_feedback *f = &m->u.feedback;
        if ((unsigned)f->status >= RIO_FB_COUNT) {
            st = enc_bad(&e, "", "status", "status %d unknown", (int)f->status);
            break;
        }
        if ((st = add(&e, o, "status", cJSON_CreateString(rio_fb_status_name(f->status))))) break;
        if (f->replayed && (st = add(&e, o, "replayed", cJSON_CreateTrue()))) break;
        if (f->replayed && f->fate_ts_us &&
            (st = put_uint(&e, o, "", "fate_ts", f->fate_ts_us, 0, (uint64_t)RIO_CODEC_INT_LIMIT - 1)))
            break;
        if (f->status != RIO_FB_FAILED) break;
        if ((st = put_str(&e, o, "", "reason", f->reason, RIO_RULE_NAME))) break;
        if (f->text[0]) st = put_str(&e, o, "", "text", f->text, RIO_RULE_TEXT);
        break;
    }
    case RIO_MSG_STATE: st = enc_state(&e, o, &m->u.state); break;
    case RIO_MSG_FRAME: st = enc_frame(&e, o, &m->u.frame); break;
    case RIO_MSG_ESTOP:
        if (m->u.estop.reason[0]) st = put_str(&e, o, "", "reason", m->u.estop.reason, RIO_RULE_TEXT);
        break;
    case RIO_MSG_ACK: {
        cJSON *a;
        if ((st = put_list(&e, o, "ack", 1, &a))) break;
        if ((st = put_str(&e, a, "ack", "session", m->u.ack.session, RIO_RULE_ID))) break;
        if ((st = put_uint(&e, a, "ack", "seq", m->u.ack.seq, 1, (uint64_t)RIO_CODEC_INT_LIMIT - 1))) break;
        if (m->u.ack.reason[0] && (st = put_str(&e, o, "", "reason", m->u.ack.reason, RIO_RULE_NAME))) break;
        if (m->u.ack.reason[0] && m->u.ack.text[0]) st = put_str(&e, o, "", "text", m->u.ack.text, RIO_RULE_TEXT);
        break;
    }
    default: break;
    }
    if (st) goto done;

    if (!(text = cJSON_PrintUnformatted(o))) {
        st = enc_nomem(&e);
        goto done;
    }
    size_t n = strlen(text);
    if (n > RIO_MAX_JSON) {
        st = em_err(err, EM_ERR_RANGE, "rio_msg_encode: %s: envelope of %zu bytes is oversized (limit %d)", e.what, n,
                    RIO_MAX_JSON);
        free(text);
        goto done;
    }
    *json = text;
    *len = n;
done:
    cJSON_Delete(o);
    return st;
}
