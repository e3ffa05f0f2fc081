/* rio_msg_decode.c - the decoding half of Ember's robot-message codec
 * (rio_msg.h; the fields are in robot_io/SCHEMA.md): a JSON envelope ->
 * cJSON tree -> rio_msg, every field checked against the schema's bounds,
 * and PLAN.json files -> steps.
 *
 * Workload: envelopes are small (a few hundred bytes, 64 KiB at most) and a
 * link sees tens to a few hundred a second, so clear checks win over speed.
 * Decoding allocates in cJSON and for the heap parts of hello, plan and
 * state (the caller frees them with rio_msg_clear); nothing is global. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "robot_io/rio_msg.h"
#include "robot_io/rio_msg_codec.h"

#define PLAN_FILE_MAX (1 << 20) /* PLAN.json files are written by people, with indentation */

/* ---------------------------------------------------------------------------
 * Decoding: cJSON tree -> rio_msg, every field checked */

typedef struct dec {
    const char *fn;   /* "rio_msg_decode" or "rio_plan_parse" */
    const char *what; /* message type once known, else NULL */
    char *err;
} dec;

static const char *json_kind(const cJSON *j) {
    if (cJSON_IsString(j)) return "a string";
    if (cJSON_IsNumber(j)) return "a number";
    if (cJSON_IsBool(j)) return "a bool";
    if (cJSON_IsNull(j)) return "null";
    if (cJSON_IsArray(j)) return "an array";
    if (cJSON_IsObject(j)) return "an object";
    return "something else";
}


static ember_status bad(const dec *d, const char *path, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static ember_status bad(const dec *d, const char *path, const char *key, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    ember_status st = rio_codec_field_err(d->err, EM_ERR_FORMAT, d->fn, d->what, path, key, fmt, ap);
    va_end(ap);
    return st;
}

static ember_status str_value(const dec *d, const cJSON *j, const char *path, const char *key, rio_str_rule r, char *out) {
    char why[160];
    if (!cJSON_IsString(j) || !j->valuestring) return bad(d, path, key, "expected a string, got %s", json_kind(j));
    size_t len = strlen(j->valuestring);
    if (rio_codec_str_bad(j->valuestring, len, r, why, sizeof why)) return bad(d, path, key, "%s", why);
    memcpy(out, j->valuestring, len + 1);
    return EM_OK;
}

/* A string field; absent leaves out empty, which is an error when required. */
static ember_status get_str(const dec *d, const cJSON *o, const char *path, const char *key, int required, rio_str_rule r,
                            char *out) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    out[0] = 0;
    if (!j) return required ? bad(d, path, key, "missing") : EM_OK;
    return str_value(d, j, path, key, r, out);
}

/* A finite number lo..hi, integral when asked. */
static ember_status num_value(const dec *d, const cJSON *j, const char *path, const char *key, double lo, double hi,
                              int integral, double *out) {
    if (!cJSON_IsNumber(j)) return bad(d, path, key, "expected a number, got %s", json_kind(j));
    double v = j->valuedouble;
    if (!isfinite(v)) return bad(d, path, key, "expected a finite number");
    if (integral && v != floor(v)) return bad(d, path, key, "expected an integer, got %.17g", v);
    if (v < lo || v > hi) {
        if (integral) return bad(d, path, key, "expected an integer %.0f..%.0f, got %.17g", lo, hi, v);
        return bad(d, path, key, "expected a number %.17g..%.17g, got %.17g", lo, hi, v);
    }
    *out = v;
    return EM_OK;
}

/* A number field; *present says whether it was there (required ones must be). */
static ember_status get_num(const dec *d, const cJSON *o, const char *path, const char *key, int required, double lo,
                            double hi, int integral, double *out, int *present) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    if (present) *present = j != NULL;
    if (!j) return required ? bad(d, path, key, "missing") : EM_OK;
    return num_value(d, j, path, key, lo, hi, integral, out);
}

static ember_status get_u64(const dec *d, const cJSON *o, const char *key, double lo, uint64_t *out) {
    double v = 0;
    ember_status st = get_num(d, o, "", key, 1, lo, RIO_CODEC_INT_LIMIT - 1, 1, &v, NULL);
    if (!st) *out = (uint64_t)v;
    return st;
}

static ember_status get_int(const dec *d, const cJSON *o, const char *path, const char *key, int required, int lo,
                            int hi, int *out, int *present) {
    double v = 0;
    ember_status st = get_num(d, o, path, key, required, lo, hi, 1, &v, present);
    if (!st && (!present || *present)) *out = (int)v;
    return st;
}

/* An array (or object) field of at most max entries; absent gives NULL. */
static ember_status get_list(const dec *d, const cJSON *o, const char *path, const char *key, int required,
                             int object, int max, const cJSON **out, int *n) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    *out = NULL;
    *n = 0;
    if (!j) return required ? bad(d, path, key, "missing") : EM_OK;
    if (object ? !cJSON_IsObject(j) : !cJSON_IsArray(j))
        return bad(d, path, key, "expected %s, got %s", object ? "an object" : "an array", json_kind(j));
    int count = cJSON_GetArraySize(j);
    if (count > max) return bad(d, path, key, "expected at most %d entries, got %d", max, count);
    *out = j;
    *n = count;
    return EM_OK;
}

/* An array of names (layout, cameras) into fixed rows. */
static ember_status get_names(const dec *d, const cJSON *o, const char *key, int required, int max,
                              char (*rows)[RIO_NAME_LEN], int *n) {
    const cJSON *arr, *it;
    ember_status st = get_list(d, o, "", key, required, 0, max, &arr, n);
    int i = 0;
    cJSON_ArrayForEach(it, arr) {
        char idx[16];
        snprintf(idx, sizeof idx, "[%d]", i);
        if (st || (st = str_value(d, it, key, idx, RIO_RULE_NAME, rows[i]))) break;
        i++;
    }
    return st;
}

static ember_status dec_args(const dec *d, const cJSON *o, const char *path, rio_step *s) {
    const cJSON *obj, *it;
    ember_status st = get_list(d, o, path, "args", 0, 1, RIO_MAX_ARGS, &obj, &s->n_args);
    if (st) return st;
    char apath[96];
    rio_codec_field_name(apath, sizeof apath, path, "args");
    int i = 0;
    cJSON_ArrayForEach(it, obj) {
        rio_arg *a = &s->args[i];
        char why[160];
        const char *key = it->string ? it->string : "";
        if (rio_codec_str_bad(key, strlen(key), RIO_RULE_NAME, why, sizeof why)) return bad(d, apath, "", "argument name %s", why);
        memcpy(a->name, key, strlen(key) + 1);
        for (int k = 0; k < i; k++)
            if (!strcmp(s->args[k].name, a->name)) return bad(d, apath, key, "duplicate argument");
        if (cJSON_IsNumber(it)) {
            a->type = RIO_ARG_NUMBER;
            if ((st = num_value(d, it, apath, key, -HUGE_VAL, HUGE_VAL, 0, &a->num))) return st;
        } else if (cJSON_IsString(it)) {
            a->type = RIO_ARG_STRING;
            if ((st = str_value(d, it, apath, key, RIO_RULE_STR, a->str))) return st;
        } else if (cJSON_IsBool(it)) {
            a->type = RIO_ARG_BOOL;
            a->boolean = cJSON_IsTrue(it);
        } else {
            return bad(d, apath, key, "expected a number, string or bool, got %s", json_kind(it));
        }
        i++;
    }
    return EM_OK;
}

/* One step: id under id_key, index (default_index < 0: required), skill, args. */
static ember_status dec_step(const dec *d, const cJSON *o, const char *path, const char *id_key, int default_index,
                             rio_step *s) {
    ember_status st;
    int present = 0;
    if (!cJSON_IsObject(o)) return bad(d, path, "", "expected an object, got %s", json_kind(o));
    if ((st = get_str(d, o, path, id_key, 1, RIO_RULE_ID, s->step_id))) return st;
    s->index = default_index;
    if ((st = get_int(d, o, path, "index", default_index < 0, 0, RIO_CODEC_MAX_INDEX, &s->index, &present))) return st;
    if ((st = get_str(d, o, path, "skill", 1, RIO_RULE_NAME, s->skill))) return st;
    return dec_args(d, o, path, s);
}

/* The steps of a plan message or file: 1..RIO_MAX_STEPS, ids and indices unique.
 * *steps is set as soon as it exists so that the caller frees it on failure. */
static ember_status dec_steps(const dec *d, const cJSON *arr, rio_step **steps, int *n_steps) {
    int n = cJSON_GetArraySize(arr);
    if (n < 1 || n > RIO_MAX_STEPS) return bad(d, "", "steps", "expected 1..%d steps, got %d", RIO_MAX_STEPS, n);
    rio_step *s = calloc((size_t)n, sizeof *s);
    if (!s) return em_err(d->err, EM_ERR_NOMEM, "%s: out of memory for %d steps", d->fn, n);
    *steps = s;
    *n_steps = n;
    const cJSON *it;
    int i = 0;
    cJSON_ArrayForEach(it, arr) {
        char path[32];
        ember_status st;
        snprintf(path, sizeof path, "steps[%d]", i);
        if ((st = dec_step(d, it, path, "id", i, &s[i]))) return st;
        for (int k = 0; k < i; k++) {
            if (!strcmp(s[k].step_id, s[i].step_id))
                return bad(d, path, "id", "\"%s\" is also the id of steps[%d]", s[i].step_id, k);
            if (s[k].index == s[i].index)
                return bad(d, path, "index", "%d is also the index of steps[%d]", s[i].index, k);
        }
        i++;
    }
    return EM_OK;
}

static ember_status dec_spec(const dec *d, const cJSON *o, const char *path, rio_arg_spec *a) {
    ember_status st;
    char type[RIO_NAME_LEN];
    if (!cJSON_IsObject(o)) return bad(d, path, "", "expected an object, got %s", json_kind(o));
    if ((st = get_str(d, o, path, "name", 1, RIO_RULE_NAME, a->name))) return st;
    if ((st = get_str(d, o, path, "type", 1, RIO_RULE_NAME, type))) return st;
    int t = rio_codec_find_name(rio_codec_arg_types, 4, type);
    if (t < 0) return bad(d, path, "type", "expected number, integer, string or bool, got \"%s\"", type);
    a->type = (rio_arg_type)t;
    const cJSON *opt = cJSON_GetObjectItemCaseSensitive(o, "optional");
    if (opt && !cJSON_IsBool(opt)) return bad(d, path, "optional", "expected a bool, got %s", json_kind(opt));
    a->optional = cJSON_IsTrue(opt);

    int has_min = 0, has_max = 0;
    if ((st = get_num(d, o, path, "min", 0, -HUGE_VAL, HUGE_VAL, 0, &a->min, &has_min))) return st;
    if ((st = get_num(d, o, path, "max", 0, -HUGE_VAL, HUGE_VAL, 0, &a->max, &has_max))) return st;
    if (has_min || has_max) {
        if (a->type != RIO_ARG_NUMBER && a->type != RIO_ARG_INTEGER)
            return bad(d, path, has_min ? "min" : "max", "a range applies to numbers and integers only");
        if (!has_min || !has_max) return bad(d, path, has_min ? "max" : "min", "missing (min and max come together)");
        if (a->min > a->max) return bad(d, path, "min", "%.17g is above max %.17g", a->min, a->max);
        a->has_range = 1;
    }

    const cJSON *arr, *it;
    if ((st = get_list(d, o, path, "enum", 0, 0, RIO_MAX_ENUM, &arr, &a->n_enum))) return st;
    if (arr && a->type != RIO_ARG_STRING) return bad(d, path, "enum", "allowed values apply to strings only");
    char epath[96];
    rio_codec_field_name(epath, sizeof epath, path, "enum");
    int i = 0;
    cJSON_ArrayForEach(it, arr) {
        char idx[16];
        snprintf(idx, sizeof idx, "[%d]", i);
        if ((st = str_value(d, it, epath, idx, RIO_RULE_STR, a->enums[i]))) return st;
        i++;
    }
    return EM_OK;
}

static ember_status dec_skill(const dec *d, const cJSON *o, const char *path, rio_skill *s) {
    ember_status st;
    if (!cJSON_IsObject(o)) return bad(d, path, "", "expected an object, got %s", json_kind(o));
    if ((st = get_str(d, o, path, "name", 1, RIO_RULE_NAME, s->name))) return st;
    if ((st = get_str(d, o, path, "doc", 0, RIO_RULE_TEXT, s->doc))) return st;
    const cJSON *arr, *it;
    if ((st = get_list(d, o, path, "args", 0, 0, RIO_MAX_ARGS, &arr, &s->n_args))) return st;
    int i = 0;
    cJSON_ArrayForEach(it, arr) {
        char apath[96];
        snprintf(apath, sizeof apath, "%s.args[%d]", path, i);
        if ((st = dec_spec(d, it, apath, &s->args[i]))) return st;
        for (int k = 0; k < i; k++)
            if (!strcmp(s->args[k].name, s->args[i].name))
                return bad(d, apath, "name", "duplicate argument \"%s\"", s->args[i].name);
        i++;
    }
    return EM_OK;
}

/* The n skills of arr (a hello's "skills" list), names unique. *skills is
 * set as soon as it exists so that the caller frees it on failure. */
static ember_status dec_skill_list(const dec *d, const cJSON *arr, int n, rio_skill **skills, int *n_skills) {
    ember_status st;
    const cJSON *it;
    if (n == 0) return EM_OK;
    rio_skill *s = calloc((size_t)n, sizeof *s);
    if (!s) return em_err(d->err, EM_ERR_NOMEM, "%s: out of memory for %d skills", d->fn, n);
    *skills = s;
    *n_skills = n;
    int i = 0;
    cJSON_ArrayForEach(it, arr) {
        char path[32];
        snprintf(path, sizeof path, "skills[%d]", i);
        if ((st = dec_skill(d, it, path, &s[i]))) return st;
        for (int k = 0; k < i; k++)
            if (!strcmp(s[k].name, s[i].name)) return bad(d, path, "name", "duplicate skill \"%s\"", s[i].name);
        i++;
    }
    return EM_OK;
}

static ember_status dec_hello(const dec *d, const cJSON *o, rio_hello *h) {
    ember_status st;
    if ((st = get_str(d, o, "", "role", 1, RIO_RULE_NAME, h->role))) return st;
    if ((st = get_str(d, o, "", "refused", 0, RIO_RULE_TEXT, h->refused))) return st;
    if ((st = get_names(d, o, "layout", 0, RIO_MAX_STATE, h->layout, &h->n_layout))) return st;
    if ((st = get_names(d, o, "cameras", 0, RIO_CODEC_MAX_CAMERAS, h->cameras, &h->n_cameras))) return st;
    const cJSON *arr;
    int n;
    if ((st = get_list(d, o, "", "skills", 0, 0, RIO_MAX_SKILLS, &arr, &n))) return st;
    return dec_skill_list(d, arr, n, &h->skills, &h->n_skills);
}

static ember_status dec_feedback(const dec *d, const cJSON *o, rio_feedback *f) {
    ember_status st;
    char status[RIO_NAME_LEN];
    if ((st = get_str(d, o, "", "status", 1, RIO_RULE_NAME, status))) return st;
    int s = 0;
    while (s < RIO_FB_COUNT && strcmp(rio_fb_status_name((rio_fb_status)s), status)) s++;
    if (s == RIO_FB_COUNT) return bad(d, "", "status", "expected accepted, running, done or failed, got \"%s\"", status);
    f->status = (rio_fb_status)s;
    /* schema 1.1: a fate sent from memory; absent in older messages (news) */
    const cJSON *rep = cJSON_GetObjectItemCaseSensitive(o, "replayed");
    if (rep && !cJSON_IsBool(rep)) return bad(d, "", "replayed", "expected a bool, got %s", json_kind(rep));
    f->replayed = cJSON_IsTrue(rep);
    double fate_ts = 0;
    if ((st = get_num(d, o, "", "fate_ts", 0, 0, RIO_CODEC_INT_LIMIT - 1, 1, &fate_ts, NULL))) return st;
    f->fate_ts_us = (uint64_t)fate_ts;
    if (f->status != RIO_FB_FAILED) return EM_OK; /* reason and text belong to failures only */
    if ((st = get_str(d, o, "", "reason", 1, RIO_RULE_NAME, f->reason))) return st;
    return get_str(d, o, "", "text", 0, RIO_RULE_TEXT, f->text);
}

static ember_status dec_state(const dec *d, const cJSON *o, rio_state *s) {
    ember_status st;
    const cJSON *vec, *it, *fields;
    int n_vec;
    if ((st = get_names(d, o, "layout", 1, RIO_MAX_STATE, s->layout, &s->n))) return st;
    if ((st = get_list(d, o, "", "vector", 1, 0, RIO_MAX_STATE, &vec, &n_vec))) return st;
    if (n_vec != s->n) return bad(d, "", "vector", "%d entries, but layout has %d", n_vec, s->n);
    int i = 0;
    cJSON_ArrayForEach(it, vec) {
        char idx[16];
        snprintf(idx, sizeof idx, "[%d]", i);
        if ((st = num_value(d, it, "vector", idx, -HUGE_VAL, HUGE_VAL, 0, &s->vector[i]))) return st;
        i++;
    }
    int n_fields;
    if ((st = get_list(d, o, "", "fields", 0, 1, INT32_MAX, &fields, &n_fields)) || !fields) return st;
    if (!(s->fields_json = cJSON_PrintUnformatted(fields)))
        return em_err(d->err, EM_ERR_NOMEM, "%s: state: out of memory for the fields", d->fn);
    return EM_OK;
}

static ember_status dec_frame(const dec *d, const cJSON *o, rio_frame *f) {
    ember_status st;
    double size = 0;
    if ((st = get_str(d, o, "", "camera", 1, RIO_RULE_NAME, f->camera))) return st;
    if ((st = get_str(d, o, "", "encoding", 1, RIO_RULE_NAME, f->encoding))) return st;
    if (rio_codec_find_name(rio_codec_encodings, 3, f->encoding) < 0)
        return bad(d, "", "encoding", "expected png, jpeg or rgb8, got \"%s\"", f->encoding);
    if ((st = get_int(d, o, "", "width", 1, 1, RIO_CODEC_MAX_DIM, &f->width, NULL))) return st;
    if ((st = get_int(d, o, "", "height", 1, 1, RIO_CODEC_MAX_DIM, &f->height, NULL))) return st;
    if ((st = get_u64(d, o, "frame_ts", 0, &f->frame_ts_us))) return st;
    if ((st = get_num(d, o, "", "size", 1, 1, RIO_MAX_BLOB, 1, &size, NULL))) return st;
    f->size = (size_t)size;
    size_t want = (size_t)f->width * (size_t)f->height * 3;
    if (!strcmp(f->encoding, "rgb8") && f->size != want)
        return bad(d, "", "size", "%zu bytes, but rgb8 %dx%d needs width*height*3 = %zu", f->size, f->width,
                   f->height, want);
    return EM_OK;
}

/* "MAJOR.MINOR", each 1..6 decimal digits. */
static int parse_version(const char *s, int *major, int *minor) {
    int part[2] = {0, 0};
    for (int p = 0; p < 2; p++) {
        int digits = 0;
        for (; *s >= '0' && *s <= '9'; s++) {
            if (++digits > 6) return -1;
            part[p] = part[p] * 10 + (*s - '0');
        }
        if (!digits || *s != (p == 0 ? '.' : '\0')) return -1;
        s++;
    }
    *major = part[0];
    *minor = part[1];
    return 0;
}

static ember_status dec_envelope(rio_msg *m, const cJSON *o, char *err) {
    dec d = {"rio_msg_decode", NULL, err};
    ember_status st;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "v");
    int major = 0, minor = 0;
    if (!v) return bad(&d, "", "v", "missing");
    if (!cJSON_IsString(v)) return bad(&d, "", "v", "expected a string \"MAJOR.MINOR\", got %s", json_kind(v));
    if (parse_version(v->valuestring, &major, &minor))
        return bad(&d, "", "v", "expected \"MAJOR.MINOR\", got \"%.40s\"", v->valuestring);
    /* The version is judged before anything else: a newer major may have
     * changed any other field, so its other complaints would mislead. */
    if (major > RIO_SCHEMA_MAJOR)
        return em_err(err, EM_ERR_UNSUPPORTED, "rio_msg_decode: schema %d.%d is newer than this build's %d.%d; upgrade Ember",
                      major, minor, RIO_SCHEMA_MAJOR, RIO_SCHEMA_MINOR);
    if (major < RIO_SCHEMA_MAJOR)
        return em_err(err, EM_ERR_UNSUPPORTED,
                      "rio_msg_decode: schema %d.%d is older than this build's %d.%d; upgrade the peer", major, minor,
                      RIO_SCHEMA_MAJOR, RIO_SCHEMA_MINOR);

    char tname[RIO_NAME_LEN];
    if ((st = get_str(&d, o, "", "type", 1, RIO_RULE_NAME, tname))) return st;
    int t = 1;
    while (t < RIO_MSG_TYPE_COUNT && strcmp(rio_msg_type_name((rio_msg_type)t), tname)) t++;
    if (t == RIO_MSG_TYPE_COUNT) return bad(&d, "", "type", "unknown message type \"%s\"", tname);
    rio_msg_init(m, (rio_msg_type)t);
    m->v_major = major;
    m->v_minor = minor;
    d.what = rio_msg_type_name(m->type);

    if ((st = get_u64(&d, o, "seq", 1, &m->seq))) return st;
    if ((st = get_u64(&d, o, "ts", 0, &m->ts_us))) return st;
    if ((st = get_str(&d, o, "", "from", 1, RIO_RULE_NAME, m->from))) return st;
    if ((st = get_str(&d, o, "", "session", 1, RIO_RULE_ID, m->session))) return st;

    switch (m->type) {
    case RIO_MSG_HELLO: return dec_hello(&d, o, &m->u.hello);
    case RIO_MSG_PLAN: {
        const cJSON *arr;
        int n;
        if ((st = get_str(&d, o, "", "plan", 1, RIO_RULE_ID, m->plan_id))) return st;
        if ((st = get_list(&d, o, "", "steps", 1, 0, RIO_MAX_STEPS, &arr, &n))) return st;
        return dec_steps(&d, arr, &m->u.plan.steps, &m->u.plan.n_steps);
    }
    case RIO_MSG_STEP:
        if ((st = get_str(&d, o, "", "plan", 1, RIO_RULE_ID, m->plan_id))) return st;
        if ((st = dec_step(&d, o, "", "step", -1, &m->u.step))) return st;
        memcpy(m->step_id, m->u.step.step_id, sizeof m->step_id);
        return EM_OK;
    case RIO_MSG_FEEDBACK:
        if ((st = get_str(&d, o, "", "plan", 1, RIO_RULE_ID, m->plan_id))) return st;
        if ((st = get_str(&d, o, "", "step", 1, RIO_RULE_ID, m->step_id))) return st;
        return dec_feedback(&d, o, &m->u.feedback);
    case RIO_MSG_STATE: return dec_state(&d, o, &m->u.state);
    case RIO_MSG_FRAME: return dec_frame(&d, o, &m->u.frame);
    case RIO_MSG_CANCEL:
        if ((st = get_str(&d, o, "", "plan", 1, RIO_RULE_ID, m->plan_id))) return st;
        return get_str(&d, o, "", "step", 0, RIO_RULE_ID, m->step_id);
    case RIO_MSG_ESTOP: return get_str(&d, o, "", "reason", 0, RIO_RULE_TEXT, m->u.estop.reason);
    case RIO_MSG_ACK: {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "ack");
        if (!a) return bad(&d, "", "ack", "missing");
        if (!cJSON_IsObject(a)) return bad(&d, "", "ack", "expected an object, got %s", json_kind(a));
        if ((st = get_str(&d, a, "ack", "session", 1, RIO_RULE_ID, m->u.ack.session))) return st;
        double seq = 0;
        if ((st = get_num(&d, a, "ack", "seq", 1, 1, RIO_CODEC_INT_LIMIT - 1, 1, &seq, NULL))) return st;
        m->u.ack.seq = (uint64_t)seq;
        /* schema 1.1: a command received but not carried out; absent: done as asked */
        if ((st = get_str(&d, o, "", "reason", 0, RIO_RULE_NAME, m->u.ack.reason))) return st;
        return get_str(&d, o, "", "text", 0, RIO_RULE_TEXT, m->u.ack.text);
    }
    case RIO_MSG_HEARTBEAT:
    case RIO_MSG_RESET:
    default: return EM_OK;
    }
}

/* Parse len bytes of JSON text. The input need not end in a NUL, so it is
 * copied into a buffer that does: cJSON then cannot read past it whatever the
 * input. A NUL byte inside is refused outright (JSON text has none), so
 * nothing can hide behind one; trailing bytes must be whitespace. */
static ember_status parse_json(const char *fn, const char *json, size_t len, cJSON **out, char *err) {
    *out = NULL;
    if (!json || !len) return em_err(err, EM_ERR_FORMAT, "%s: empty input, expected a JSON object", fn);
    const char *nul = memchr(json, 0, len);
    if (nul) return em_err(err, EM_ERR_FORMAT, "%s: NUL byte at offset %zu; JSON text has none", fn, (size_t)(nul - json));
    /* An escaped NUL (\u0000) would silently cut the string cJSON returns:
     * refuse it too. Outside strings a backslash is a syntax error anyway. */
    for (size_t i = 0; i < len;) {
        size_t j = i;
        while (j < len && json[j] == '\\') j++;
        if (((j - i) & 1) && len - j >= 5 && !memcmp(json + j, "u0000", 5))
            return em_err(err, EM_ERR_FORMAT, "%s: escaped NUL (\\u0000) at offset %zu; strings may not hold one", fn,
                          j - 1);
        i = j > i ? j : i + 1;
    }
    char *buf = malloc(len + 1);
    if (!buf) return em_err(err, EM_ERR_NOMEM, "%s: out of memory for %zu bytes", fn, len);
    memcpy(buf, json, len);
    buf[len] = 0;
    const char *end = NULL;
    ember_status st = EM_OK;
    cJSON *root = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
    size_t at = end ? (size_t)(end - buf) : 0;
    if (!root) {
        st = em_err(err, EM_ERR_FORMAT, "%s: not JSON (syntax error near byte %zu of %zu)", fn, at, len);
        goto done;
    }
    for (size_t i = at; i < len; i++)
        if (buf[i] != ' ' && buf[i] != '\t' && buf[i] != '\n' && buf[i] != '\r') {
            st = em_err(err, EM_ERR_FORMAT, "%s: trailing bytes after the JSON value at offset %zu", fn, i);
            goto done;
        }
    *out = root;
    root = NULL;
done:
    cJSON_Delete(root);
    free(buf);
    return st;
}

ember_status rio_msg_decode(rio_msg *m, const char *json, size_t len, char *err) {
    memset(m, 0, sizeof *m);
    if (len > RIO_MAX_JSON)
        return em_err(err, EM_ERR_RANGE, "rio_msg_decode: envelope of %zu bytes is oversized (limit %d)", len,
                      RIO_MAX_JSON);
    cJSON *root = NULL;
    ember_status st = parse_json("rio_msg_decode", json, len, &root, err);
    if (st) return st;
    if (!cJSON_IsObject(root))
        st = em_err(err, EM_ERR_FORMAT, "rio_msg_decode: expected a JSON object, got %s", json_kind(root));
    else
        st = dec_envelope(m, root, err);
    cJSON_Delete(root);
    if (st) rio_msg_clear(m);
    return st;
}

/* Three forms: a plan file {"plan":..,"steps":[..]}, a bare list of steps,
 * or one step object; the last two leave plan_id empty for the caller to name. */
ember_status rio_plan_parse(const char *json, size_t len, char *plan_id, rio_step **steps, int *n_steps, char *err) {
    dec d = {"rio_plan_parse", NULL, err};
    rio_step *s = NULL;
    int n = 0;
    cJSON *root = NULL;
    ember_status st;
    plan_id[0] = 0;
    *steps = NULL;
    *n_steps = 0;
    if (len > PLAN_FILE_MAX)
        return em_err(err, EM_ERR_RANGE, "rio_plan_parse: %zu bytes is oversized (limit %d)", len, PLAN_FILE_MAX);
    if ((st = parse_json("rio_plan_parse", json, len, &root, err))) return st;
    if (cJSON_IsArray(root)) {
        if (cJSON_GetArraySize(root) > RIO_MAX_STEPS)
            st = bad(&d, "", "steps", "expected 1..%d steps, got %d", RIO_MAX_STEPS, cJSON_GetArraySize(root));
        else
            st = dec_steps(&d, root, &s, &n);
    } else if (!cJSON_IsObject(root)) {
        st = em_err(err, EM_ERR_FORMAT, "rio_plan_parse: expected a plan object, a list of steps or one step, got %s",
                    json_kind(root));
    } else if (!cJSON_GetObjectItemCaseSensitive(root, "steps") &&
               (cJSON_GetObjectItemCaseSensitive(root, "plan") || (!cJSON_GetObjectItemCaseSensitive(root, "id") &&
                                                                  !cJSON_GetObjectItemCaseSensitive(root, "skill")))) {
        /* neither a plan (no "steps") nor a step (no "id", no "skill"):
         * naming a missing "id" would send the writer the wrong way */
        st = em_err(err, EM_ERR_FORMAT,
                    "rio_plan_parse: an object with no \"steps\" list%s; a plan file is one of: a plan "
                    "{\"plan\": ID, \"steps\": [STEP, ...]}, a bare list of steps [STEP, ...], or one step; "
                    "a STEP is {\"id\": ID, \"skill\": NAME, \"args\": {...}}",
                    cJSON_GetObjectItemCaseSensitive(root, "plan") ? " (it has \"plan\")" : " and no step fields");
    } else if (!cJSON_GetObjectItemCaseSensitive(root, "steps")) {
        if (!(s = calloc(1, sizeof *s))) {
            st = em_err(err, EM_ERR_NOMEM, "rio_plan_parse: out of memory");
            goto done;
        }
        n = 1;
        st = dec_step(&d, root, "", "id", 0, s);
    } else {
        const cJSON *arr;
        if ((st = get_str(&d, root, "", "plan", 1, RIO_RULE_ID, plan_id))) goto done;
        if ((st = get_list(&d, root, "", "steps", 1, 0, RIO_MAX_STEPS, &arr, &n))) goto done;
        st = dec_steps(&d, arr, &s, &n);
    }
done:
    cJSON_Delete(root);
    if (st) {
        free(s);
        plan_id[0] = 0;
        return st;
    }
    *steps = s;
    *n_steps = n;
    return EM_OK;
}

/* Two forms: an object with a "skills" list (a hello envelope, or just
 * {"skills": [...]}), or the bare list; other members are ignored. */
ember_status rio_skills_parse(const char *json, size_t len, rio_skill **skills, int *n_skills, char *err) {
    dec d = {"rio_skills_parse", NULL, err};
    cJSON *root = NULL;
    const cJSON *arr = NULL;
    rio_skill *s = NULL;
    int n = 0, n_dec = 0;
    ember_status st;
    *skills = NULL;
    *n_skills = 0;
    if (len > PLAN_FILE_MAX)
        return em_err(err, EM_ERR_RANGE, "rio_skills_parse: %zu bytes is oversized (limit %d)", len, PLAN_FILE_MAX);
    if ((st = parse_json("rio_skills_parse", json, len, &root, err))) return st;
    if (cJSON_IsArray(root)) {
        arr = root;
        n = cJSON_GetArraySize(root);
        if (n > RIO_MAX_SKILLS) st = bad(&d, "", "skills", "expected at most %d entries, got %d", RIO_MAX_SKILLS, n);
    } else if (cJSON_IsObject(root)) {
        st = get_list(&d, root, "", "skills", 1, 0, RIO_MAX_SKILLS, &arr, &n);
    } else {
        st = em_err(err, EM_ERR_FORMAT, "rio_skills_parse: expected {\"skills\": [...]} or a list of skills, got %s",
                    json_kind(root));
    }
    if (!st && n == 0) st = bad(&d, "", "skills", "expected at least one skill");
    if (!st) st = dec_skill_list(&d, arr, n, &s, &n_dec);
    cJSON_Delete(root);
    if (st) {
        free(s);
        return st;
    }
    *skills = s;
    *n_skills = n_dec;
    return EM_OK;
}
