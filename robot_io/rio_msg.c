/* rio_msg.c - the JSON codec of Ember's robot messages (the fields are in
 * robot_io/SCHEMA.md, the C form in rio_msg.h).
 *
 * cJSON does all the JSON; this file maps cJSON trees to rio_msg and back and
 * checks every field against the schema's bounds both ways, so that whatever
 * decodes also encodes, and re-encoding a decoded message gives the same
 * bytes (the fuzz target holds us to that).
 *
 * Workload: envelopes are small (a few hundred bytes, 64 KiB at most) and a
 * link sees tens to a few hundred a second (state at 30 Hz, frames,
 * heartbeats), so clear checks win over speed. Decoding allocates in cJSON
 * and for the heap parts of hello, plan and state; nothing is global. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "robot_io/rio_msg.h"

/* JSON numbers are doubles: integers (seq, timestamps) are exact below 2^53. */
#define INT_LIMIT 9007199254740992.0 /* 2^53 */
#define MAX_INDEX 65535              /* a step's index; plans grow by step messages */
#define MAX_DIM 8192                 /* a frame's width and height */
#define MAX_CAMERAS ((int)(sizeof ((rio_hello *)0)->cameras / sizeof ((rio_hello *)0)->cameras[0]))
#define PLAN_FILE_MAX (1 << 20)      /* PLAN.json files are written by people, with indentation */

/* ---------------------------------------------------------------------------
 * String rules shared by both directions */

typedef struct str_rule {
    size_t min, cap; /* length min..cap-1 bytes */
    int id_chars;    /* 1: only [A-Za-z0-9_.:-] (ids and names end up in logs and prompts) */
} str_rule;

static const str_rule RULE_ID = {1, RIO_ID_LEN, 1};
static const str_rule RULE_NAME = {1, RIO_NAME_LEN, 1};
static const str_rule RULE_STR = {0, RIO_STR_LEN, 0};
static const str_rule RULE_TEXT = {0, RIO_TEXT_LEN, 0};

static int id_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == ':' || c == '-';
}

/* 0 when s (len bytes) obeys r, else 1 with the reason in why. */
static int str_bad(const char *s, size_t len, str_rule r, char *why, size_t n_why) {
    if (len < r.min || len >= r.cap) {
        snprintf(why, n_why, "expected a string of %zu..%zu bytes, got %zu bytes", r.min, r.cap - 1, len);
        return 1;
    }
    for (size_t i = 0; r.id_chars && i < len; i++)
        if (!id_char(s[i])) {
            snprintf(why, n_why, "\"%.40s\": byte %zu (0x%02x) is not one of [A-Za-z0-9_.:-]", s, i,
                     (unsigned char)s[i]);
            return 1;
        }
    return 0;
}

static const char *json_kind(const cJSON *j) {
    if (cJSON_IsString(j)) return "a string";
    if (cJSON_IsNumber(j)) return "a number";
    if (cJSON_IsBool(j)) return "a bool";
    if (cJSON_IsNull(j)) return "null";
    if (cJSON_IsArray(j)) return "an array";
    if (cJSON_IsObject(j)) return "an object";
    return "something else";
}

/* "path.key", "path[3]" or "key": the field as an error names it. */
static void field_name(char *out, size_t n, const char *path, const char *key) {
    if (snprintf(out, n, "%s%s%s", path, (*path && *key && *key != '[') ? "." : "", key) >= (int)n)
        out[n - 1] = 0; /* cut: the name only labels an error */
}

static const char *const ARG_TYPES[] = {"number", "integer", "string", "bool"};
static const char *const ENCODINGS[] = {"png", "jpeg", "rgb8"};

static int find_name(const char *const *names, int n, const char *s) {
    for (int i = 0; i < n; i++)
        if (!strcmp(names[i], s)) return i;
    return -1;
}

/* ---------------------------------------------------------------------------
 * Decoding: cJSON tree -> rio_msg, every field checked */

typedef struct dec {
    const char *fn;   /* "rio_msg_decode" or "rio_plan_parse" */
    const char *what; /* message type once known, else NULL */
    char *err;
} dec;

/* "FN: WHAT: field "NAME": WHY", the one shape of every field error, decoding or encoding. */
static ember_status field_err(char *err, ember_status st, const char *fn, const char *what, const char *path,
                              const char *key, const char *fmt, va_list ap) {
    char why[EM_ERR_LEN / 2], name[128];
    vsnprintf(why, sizeof why, fmt, ap);
    field_name(name, sizeof name, path, key);
    return em_err(err, st, "%s: %s%sfield \"%s\": %s", fn, what ? what : "", what ? ": " : "", name, why);
}

static ember_status bad(const dec *d, const char *path, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static ember_status bad(const dec *d, const char *path, const char *key, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    ember_status st = field_err(d->err, EM_ERR_FORMAT, d->fn, d->what, path, key, fmt, ap);
    va_end(ap);
    return st;
}

static ember_status str_value(const dec *d, const cJSON *j, const char *path, const char *key, str_rule r, char *out) {
    char why[160];
    if (!cJSON_IsString(j) || !j->valuestring) return bad(d, path, key, "expected a string, got %s", json_kind(j));
    size_t len = strlen(j->valuestring);
    if (str_bad(j->valuestring, len, r, why, sizeof why)) return bad(d, path, key, "%s", why);
    memcpy(out, j->valuestring, len + 1);
    return EM_OK;
}

/* A string field; absent leaves out empty, which is an error when required. */
static ember_status get_str(const dec *d, const cJSON *o, const char *path, const char *key, int required, str_rule r,
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
    ember_status st = get_num(d, o, "", key, 1, lo, INT_LIMIT - 1, 1, &v, NULL);
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
        if (st || (st = str_value(d, it, key, idx, RULE_NAME, rows[i]))) break;
        i++;
    }
    return st;
}

static ember_status dec_args(const dec *d, const cJSON *o, const char *path, rio_step *s) {
    const cJSON *obj, *it;
    ember_status st = get_list(d, o, path, "args", 0, 1, RIO_MAX_ARGS, &obj, &s->n_args);
    if (st) return st;
    char apath[96];
    field_name(apath, sizeof apath, path, "args");
    int i = 0;
    cJSON_ArrayForEach(it, obj) {
        rio_arg *a = &s->args[i];
        char why[160];
        const char *key = it->string ? it->string : "";
        if (str_bad(key, strlen(key), RULE_NAME, why, sizeof why)) return bad(d, apath, "", "argument name %s", why);
        memcpy(a->name, key, strlen(key) + 1);
        for (int k = 0; k < i; k++)
            if (!strcmp(s->args[k].name, a->name)) return bad(d, apath, key, "duplicate argument");
        if (cJSON_IsNumber(it)) {
            a->type = RIO_ARG_NUMBER;
            if ((st = num_value(d, it, apath, key, -HUGE_VAL, HUGE_VAL, 0, &a->num))) return st;
        } else if (cJSON_IsString(it)) {
            a->type = RIO_ARG_STRING;
            if ((st = str_value(d, it, apath, key, RULE_STR, a->str))) return st;
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
    if ((st = get_str(d, o, path, id_key, 1, RULE_ID, s->step_id))) return st;
    s->index = default_index;
    if ((st = get_int(d, o, path, "index", default_index < 0, 0, MAX_INDEX, &s->index, &present))) return st;
    if ((st = get_str(d, o, path, "skill", 1, RULE_NAME, s->skill))) return st;
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
    if ((st = get_str(d, o, path, "name", 1, RULE_NAME, a->name))) return st;
    if ((st = get_str(d, o, path, "type", 1, RULE_NAME, type))) return st;
    int t = find_name(ARG_TYPES, 4, type);
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
    field_name(epath, sizeof epath, path, "enum");
    int i = 0;
    cJSON_ArrayForEach(it, arr) {
        char idx[16];
        snprintf(idx, sizeof idx, "[%d]", i);
        if ((st = str_value(d, it, epath, idx, RULE_STR, a->enums[i]))) return st;
        i++;
    }
    return EM_OK;
}

static ember_status dec_skill(const dec *d, const cJSON *o, const char *path, rio_skill *s) {
    ember_status st;
    if (!cJSON_IsObject(o)) return bad(d, path, "", "expected an object, got %s", json_kind(o));
    if ((st = get_str(d, o, path, "name", 1, RULE_NAME, s->name))) return st;
    if ((st = get_str(d, o, path, "doc", 0, RULE_TEXT, s->doc))) return st;
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

static ember_status dec_hello(const dec *d, const cJSON *o, rio_hello *h) {
    ember_status st;
    if ((st = get_str(d, o, "", "role", 1, RULE_NAME, h->role))) return st;
    if ((st = get_str(d, o, "", "refused", 0, RULE_TEXT, h->refused))) return st;
    if ((st = get_names(d, o, "layout", 0, RIO_MAX_STATE, h->layout, &h->n_layout))) return st;
    if ((st = get_names(d, o, "cameras", 0, MAX_CAMERAS, h->cameras, &h->n_cameras))) return st;
    const cJSON *arr, *it;
    int n;
    if ((st = get_list(d, o, "", "skills", 0, 0, RIO_MAX_SKILLS, &arr, &n))) return st;
    if (n == 0) return EM_OK;
    if (!(h->skills = calloc((size_t)n, sizeof *h->skills)))
        return em_err(d->err, EM_ERR_NOMEM, "%s: hello: out of memory for %d skills", d->fn, n);
    h->n_skills = n;
    int i = 0;
    cJSON_ArrayForEach(it, arr) {
        char path[32];
        snprintf(path, sizeof path, "skills[%d]", i);
        if ((st = dec_skill(d, it, path, &h->skills[i]))) return st;
        for (int k = 0; k < i; k++)
            if (!strcmp(h->skills[k].name, h->skills[i].name))
                return bad(d, path, "name", "duplicate skill \"%s\"", h->skills[i].name);
        i++;
    }
    return EM_OK;
}

static ember_status dec_feedback(const dec *d, const cJSON *o, rio_feedback *f) {
    ember_status st;
    char status[RIO_NAME_LEN];
    if ((st = get_str(d, o, "", "status", 1, RULE_NAME, status))) return st;
    int s = 0;
    while (s < RIO_FB_COUNT && strcmp(rio_fb_status_name((rio_fb_status)s), status)) s++;
    if (s == RIO_FB_COUNT) return bad(d, "", "status", "expected accepted, running, done or failed, got \"%s\"", status);
    f->status = (rio_fb_status)s;
    if (f->status != RIO_FB_FAILED) return EM_OK; /* reason and text belong to failures only */
    if ((st = get_str(d, o, "", "reason", 1, RULE_NAME, f->reason))) return st;
    return get_str(d, o, "", "text", 0, RULE_TEXT, f->text);
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
    if ((st = get_str(d, o, "", "camera", 1, RULE_NAME, f->camera))) return st;
    if ((st = get_str(d, o, "", "encoding", 1, RULE_NAME, f->encoding))) return st;
    if (find_name(ENCODINGS, 3, f->encoding) < 0)
        return bad(d, "", "encoding", "expected png, jpeg or rgb8, got \"%s\"", f->encoding);
    if ((st = get_int(d, o, "", "width", 1, 1, MAX_DIM, &f->width, NULL))) return st;
    if ((st = get_int(d, o, "", "height", 1, 1, MAX_DIM, &f->height, NULL))) return st;
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
    if ((st = get_str(&d, o, "", "type", 1, RULE_NAME, tname))) return st;
    int t = 1;
    while (t < RIO_MSG_TYPE_COUNT && strcmp(rio_msg_type_name((rio_msg_type)t), tname)) t++;
    if (t == RIO_MSG_TYPE_COUNT) return bad(&d, "", "type", "unknown message type \"%s\"", tname);
    rio_msg_init(m, (rio_msg_type)t);
    m->v_major = major;
    m->v_minor = minor;
    d.what = rio_msg_type_name(m->type);

    if ((st = get_u64(&d, o, "seq", 1, &m->seq))) return st;
    if ((st = get_u64(&d, o, "ts", 0, &m->ts_us))) return st;
    if ((st = get_str(&d, o, "", "from", 1, RULE_NAME, m->from))) return st;
    if ((st = get_str(&d, o, "", "session", 1, RULE_ID, m->session))) return st;

    switch (m->type) {
    case RIO_MSG_HELLO: return dec_hello(&d, o, &m->u.hello);
    case RIO_MSG_PLAN: {
        const cJSON *arr;
        int n;
        if ((st = get_str(&d, o, "", "plan", 1, RULE_ID, m->plan_id))) return st;
        if ((st = get_list(&d, o, "", "steps", 1, 0, RIO_MAX_STEPS, &arr, &n))) return st;
        return dec_steps(&d, arr, &m->u.plan.steps, &m->u.plan.n_steps);
    }
    case RIO_MSG_STEP:
        if ((st = get_str(&d, o, "", "plan", 1, RULE_ID, m->plan_id))) return st;
        if ((st = dec_step(&d, o, "", "step", -1, &m->u.step))) return st;
        memcpy(m->step_id, m->u.step.step_id, sizeof m->step_id);
        return EM_OK;
    case RIO_MSG_FEEDBACK:
        if ((st = get_str(&d, o, "", "plan", 1, RULE_ID, m->plan_id))) return st;
        if ((st = get_str(&d, o, "", "step", 1, RULE_ID, m->step_id))) return st;
        return dec_feedback(&d, o, &m->u.feedback);
    case RIO_MSG_STATE: return dec_state(&d, o, &m->u.state);
    case RIO_MSG_FRAME: return dec_frame(&d, o, &m->u.frame);
    case RIO_MSG_CANCEL:
        if ((st = get_str(&d, o, "", "plan", 1, RULE_ID, m->plan_id))) return st;
        return get_str(&d, o, "", "step", 0, RULE_ID, m->step_id);
    case RIO_MSG_ESTOP: return get_str(&d, o, "", "reason", 0, RULE_TEXT, m->u.estop.reason);
    case RIO_MSG_ACK: {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "ack");
        if (!a) return bad(&d, "", "ack", "missing");
        if (!cJSON_IsObject(a)) return bad(&d, "", "ack", "expected an object, got %s", json_kind(a));
        if ((st = get_str(&d, a, "ack", "session", 1, RULE_ID, m->u.ack.session))) return st;
        double seq = 0;
        if ((st = get_num(&d, a, "ack", "seq", 1, 1, INT_LIMIT - 1, 1, &seq, NULL))) return st;
        m->u.ack.seq = (uint64_t)seq;
        return EM_OK;
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
    } else if (!cJSON_GetObjectItemCaseSensitive(root, "steps")) {
        if (!(s = calloc(1, sizeof *s))) {
            st = em_err(err, EM_ERR_NOMEM, "rio_plan_parse: out of memory");
            goto done;
        }
        n = 1;
        st = dec_step(&d, root, "", "id", 0, s);
    } else {
        const cJSON *arr;
        if ((st = get_str(&d, root, "", "plan", 1, RULE_ID, plan_id))) goto done;
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
    ember_status st = field_err(e->err, EM_ERR_ARG, "rio_msg_encode", e->what, path, key, fmt, ap);
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

static ember_status put_str(const enc *e, cJSON *to, const char *path, const char *key, const char *s, str_rule r) {
    char why[160];
    size_t len = strnlen(s, r.cap);
    if (len == r.cap) return enc_bad(e, path, key, "not NUL-terminated within %zu bytes", r.cap);
    if (str_bad(s, len, r, why, sizeof why)) return enc_bad(e, path, key, "%s", why);
    return add(e, to, *key == '[' ? NULL : key, cJSON_CreateString(s));
}

/* Numbers are written by us, not cJSON: integers as integer literals, other
 * values in the shortest of %.15g and %.17g that reads back to the same
 * double, so a value survives the wire bit for bit. */
static ember_status put_num(const enc *e, cJSON *to, const char *path, const char *key, double v, int integral) {
    char buf[40];
    if (!isfinite(v)) return enc_bad(e, path, key, "expected a finite number");
    if (integral && (v != floor(v) || fabs(v) >= INT_LIMIT))
        return enc_bad(e, path, key, "expected an integer below 2^53 in magnitude, got %.17g", v);
    if (v == floor(v) && fabs(v) < INT_LIMIT) {
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
        if ((st = put_str(e, arr, key, idx, rows[i], RULE_NAME))) return st;
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
    field_name(apath, sizeof apath, path, "args");
    for (int i = 0; i < s->n_args; i++) {
        const rio_arg *a = &s->args[i];
        char why[160];
        size_t len = strnlen(a->name, RIO_NAME_LEN);
        if (str_bad(a->name, len, RULE_NAME, why, sizeof why)) return enc_bad(e, apath, "", "argument name %s", why);
        for (int k = 0; k < i; k++)
            if (!strcmp(s->args[k].name, a->name)) return enc_bad(e, apath, a->name, "duplicate argument");
        switch (a->type) {
        case RIO_ARG_NUMBER: st = put_num(e, obj, apath, a->name, a->num, 0); break;
        case RIO_ARG_INTEGER: st = put_num(e, obj, apath, a->name, a->num, 1); break;
        case RIO_ARG_STRING: st = put_str(e, obj, apath, a->name, a->str, RULE_STR); break;
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
    if (s->index < 0 || s->index > MAX_INDEX)
        return enc_bad(e, path, "index", "expected an integer 0..%d, got %d", MAX_INDEX, s->index);
    if ((st = put_num(e, to, path, "index", s->index, 1))) return st;
    if ((st = put_str(e, to, path, "skill", s->skill, RULE_NAME))) return st;
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
        if ((st = put_str(e, o, path, "id", steps[i].step_id, RULE_ID))) return st;
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
    if ((st = put_str(e, to, path, "name", a->name, RULE_NAME))) return st;
    if ((unsigned)a->type >= 4) return enc_bad(e, path, "type", "argument type %d unknown", (int)a->type);
    if ((st = add(e, to, "type", cJSON_CreateString(ARG_TYPES[a->type])))) return st;
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
        field_name(epath, sizeof epath, path, "enum");
        for (int i = 0; i < a->n_enum; i++) {
            char idx[16];
            snprintf(idx, sizeof idx, "[%d]", i);
            if ((st = put_str(e, arr, epath, idx, a->enums[i], RULE_STR))) return st;
        }
    }
    if (a->optional) return add(e, to, "optional", cJSON_CreateTrue());
    return EM_OK;
}

static ember_status enc_hello(const enc *e, cJSON *to, const rio_hello *h) {
    ember_status st;
    cJSON *arr;
    if ((st = put_str(e, to, "", "role", h->role, RULE_NAME))) return st;
    if (h->refused[0] && (st = put_str(e, to, "", "refused", h->refused, RULE_TEXT))) return st;
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
            if ((st = put_str(e, o, path, "name", s->name, RULE_NAME))) return st;
            for (int k = 0; k < i; k++)
                if (!strcmp(h->skills[k].name, s->name)) return enc_bad(e, path, "name", "duplicate skill");
            if (s->doc[0] && (st = put_str(e, o, path, "doc", s->doc, RULE_TEXT))) return st;
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
    if (h->n_cameras && (st = put_names(e, to, "cameras", h->n_cameras, MAX_CAMERAS, h->cameras))) return st;
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
    if (find_name(ENCODINGS, 3, enc_name) < 0) return enc_bad(e, "", "encoding", "expected png, jpeg or rgb8");
    if ((st = put_str(e, to, "", "camera", f->camera, RULE_NAME))) return st;
    if ((st = add(e, to, "encoding", cJSON_CreateString(enc_name)))) return st;
    if ((st = put_uint(e, to, "", "width", (uint64_t)(f->width < 0 ? 0 : f->width), 1, MAX_DIM))) return st;
    if ((st = put_uint(e, to, "", "height", (uint64_t)(f->height < 0 ? 0 : f->height), 1, MAX_DIM))) return st;
    if ((st = put_uint(e, to, "", "frame_ts", f->frame_ts_us, 0, (uint64_t)INT_LIMIT - 1))) return st;
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
    if ((st = put_uint(&e, o, "", "seq", m->seq, 1, (uint64_t)INT_LIMIT - 1))) goto done;
    if ((st = put_uint(&e, o, "", "ts", m->ts_us, 0, (uint64_t)INT_LIMIT - 1))) goto done;
    if ((st = put_str(&e, o, "", "from", m->from, RULE_NAME))) goto done;
    if ((st = put_str(&e, o, "", "session", m->session, RULE_ID))) goto done;

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
        if ((st = put_str(&e, o, "", "plan", m->plan_id, RULE_ID))) goto done;
        if ((m->type != RIO_MSG_CANCEL || step_id[0]) && m->type != RIO_MSG_PLAN &&
            (st = put_str(&e, o, "", "step", step_id, RULE_ID)))
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
        if ((st = add(&e, o, "status", cJSON_CreateString(rio_fb_status_name(f->status)))) || f->status != RIO_FB_FAILED)
            break;
        if ((st = put_str(&e, o, "", "reason", f->reason, RULE_NAME))) break;
        if (f->text[0]) st = put_str(&e, o, "", "text", f->text, RULE_TEXT);
        break;
    }
    case RIO_MSG_STATE: st = enc_state(&e, o, &m->u.state); break;
    case RIO_MSG_FRAME: st = enc_frame(&e, o, &m->u.frame); break;
    case RIO_MSG_ESTOP:
        if (m->u.estop.reason[0]) st = put_str(&e, o, "", "reason", m->u.estop.reason, RULE_TEXT);
        break;
    case RIO_MSG_ACK: {
        cJSON *a;
        if ((st = put_list(&e, o, "ack", 1, &a))) break;
        if ((st = put_str(&e, a, "ack", "session", m->u.ack.session, RULE_ID))) break;
        st = put_uint(&e, a, "ack", "seq", m->u.ack.seq, 1, (uint64_t)INT_LIMIT - 1);
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

/* ---------------------------------------------------------------------------
 * Life cycle */

void rio_msg_init(rio_msg *m, rio_msg_type type) {
    memset(m, 0, sizeof *m);
    m->type = type;
    m->v_major = RIO_SCHEMA_MAJOR;
    m->v_minor = RIO_SCHEMA_MINOR;
    switch (type) {
    case RIO_MSG_PLAN:
    case RIO_MSG_STEP:
    case RIO_MSG_FEEDBACK:
    case RIO_MSG_CANCEL:
    case RIO_MSG_ESTOP:
    case RIO_MSG_RESET: m->reliable = 1; break;
    default: m->reliable = 0;
    }
}

void rio_msg_clear(rio_msg *m) {
    if (!m) return;
    switch (m->type) {
    case RIO_MSG_HELLO: free(m->u.hello.skills); break;
    case RIO_MSG_PLAN: free(m->u.plan.steps); break;
    case RIO_MSG_STATE: free(m->u.state.fields_json); break;
    default: break;
    }
    memset(m, 0, sizeof *m);
}

ember_status rio_msg_copy(rio_msg *dst, const rio_msg *src, char *err) {
    if (dst == src) return EM_OK;
    *dst = *src;
    switch (src->type) {
    case RIO_MSG_HELLO: {
        int n = src->u.hello.n_skills;
        dst->u.hello.skills = NULL;
        if (n < 0 || n > RIO_MAX_SKILLS || (n && !src->u.hello.skills)) goto bad_count;
        if (n && !(dst->u.hello.skills = malloc((size_t)n * sizeof(rio_skill)))) goto nomem;
        if (n) memcpy(dst->u.hello.skills, src->u.hello.skills, (size_t)n * sizeof(rio_skill));
        break;
    }
    case RIO_MSG_PLAN: {
        int n = src->u.plan.n_steps;
        dst->u.plan.steps = NULL;
        if (n < 0 || n > RIO_MAX_STEPS || (n && !src->u.plan.steps)) goto bad_count;
        if (n && !(dst->u.plan.steps = malloc((size_t)n * sizeof(rio_step)))) goto nomem;
        if (n) memcpy(dst->u.plan.steps, src->u.plan.steps, (size_t)n * sizeof(rio_step));
        break;
    }
    case RIO_MSG_STATE:
        if (src->u.state.fields_json && !(dst->u.state.fields_json = strdup(src->u.state.fields_json))) goto nomem;
        break;
    default: break;
    }
    return EM_OK;
bad_count:
    memset(dst, 0, sizeof *dst);
    return em_err(err, EM_ERR_ARG, "rio_msg_copy: %s: element count out of range or array missing",
                  rio_msg_type_name(src->type));
nomem:
    memset(dst, 0, sizeof *dst);
    return em_err(err, EM_ERR_NOMEM, "rio_msg_copy: %s: out of memory", rio_msg_type_name(src->type));
}

ember_status rio_msg_attach_blob(rio_msg *m, const void *data, size_t size, char *err) {
    if (m->type != RIO_MSG_FRAME)
        return em_err(err, EM_ERR_ARG, "rio_msg_attach_blob: a %s carries no binary part", rio_msg_type_name(m->type));
    rio_frame *f = &m->u.frame;
    if (!data && size) return em_err(err, EM_ERR_ARG, "rio_msg_attach_blob: NULL data of %zu bytes", size);
    if (size != f->size)
        return em_err(err, EM_ERR_FORMAT, "rio_msg_attach_blob: frame \"%s\": image part of %zu bytes, the envelope says %zu",
                      f->camera, size, f->size);
    size_t want = (size_t)(f->width > 0 ? f->width : 0) * (size_t)(f->height > 0 ? f->height : 0) * 3;
    if (!strncmp(f->encoding, "rgb8", sizeof f->encoding) && size != want)
        return em_err(err, EM_ERR_FORMAT, "rio_msg_attach_blob: frame \"%s\": rgb8 %dx%d needs %zu bytes, got %zu",
                      f->camera, f->width, f->height, want, size);
    f->data = data;
    return EM_OK;
}

/* ---------------------------------------------------------------------------
 * Checking a step against the skills a controller offers */

/* "a, b, c" into out (n bytes), cut with ", ..." when it would not fit. */
static void join_names(char *out, size_t n, int count, const char *first, size_t stride) {
    size_t used = 0;
    out[0] = 0;
    for (int i = 0; i < count; i++) {
        const char *s = first + (size_t)i * stride;
        size_t need = strlen(s) + (i ? 2 : 0);
        if (used + need + 6 >= n) {
            snprintf(out + used, n - used, "%s...", i ? ", " : "");
            return;
        }
        used += (size_t)snprintf(out + used, n - used, "%s%s", i ? ", " : "", s);
    }
}

static ember_status step_bad(char *reason, char *err, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static ember_status step_bad(char *reason, char *err, const char *code, const char *fmt, ...) {
    va_list ap;
    if (reason) snprintf(reason, RIO_NAME_LEN, "%s", code);
    va_start(ap, fmt);
    em_verr(err, EM_ERR_ARG, fmt, ap);
    va_end(ap);
    return EM_ERR_ARG;
}

ember_status rio_step_check(const rio_skill *skills, int n_skills, const rio_step *st, char *reason, char *err) {
    char list[200];
    const rio_skill *sk = NULL;
    for (int i = 0; i < n_skills && !sk; i++)
        if (!strncmp(skills[i].name, st->skill, RIO_NAME_LEN)) sk = &skills[i];
    if (!sk) {
        join_names(list, sizeof list, n_skills > 0 ? n_skills : 0, skills ? skills[0].name : "", sizeof(rio_skill));
        return step_bad(reason, err, RIO_REASON_UNKNOWN_SKILL,
                        "rio_step_check: step \"%.63s\": skill \"%.31s\" is not offered (offered: %s)", st->step_id,
                        st->skill, n_skills > 0 ? list : "none");
    }
    if (st->n_args < 0 || st->n_args > RIO_MAX_ARGS)
        return step_bad(reason, err, RIO_REASON_BAD_ARGS, "rio_step_check: step \"%.63s\": %d arguments, at most %d",
                        st->step_id, st->n_args, RIO_MAX_ARGS);
    const char *pre = "rio_step_check: step";
    for (int i = 0; i < st->n_args; i++) {
        const rio_arg *a = &st->args[i];
        const rio_arg_spec *sp = NULL;
        for (int k = 0; k < i; k++)
            if (!strncmp(st->args[k].name, a->name, RIO_NAME_LEN))
                return step_bad(reason, err, RIO_REASON_BAD_ARGS, "%s \"%.63s\": argument \"%.31s\" given twice", pre,
                                st->step_id, a->name);
        for (int k = 0; k < sk->n_args && k < RIO_MAX_ARGS && !sp; k++)
            if (!strncmp(sk->args[k].name, a->name, RIO_NAME_LEN)) sp = &sk->args[k];
        if (!sp)
            return step_bad(reason, err, RIO_REASON_BAD_ARGS,
                            "%s \"%.63s\": argument \"%.31s\" is not declared by skill \"%.31s\"", pre, st->step_id,
                            a->name, sk->name);
        int is_num = a->type == RIO_ARG_NUMBER || a->type == RIO_ARG_INTEGER;
        int ok = 0;
        switch (sp->type) {
        case RIO_ARG_NUMBER: ok = is_num && isfinite(a->num); break;
        case RIO_ARG_INTEGER: ok = is_num && isfinite(a->num) && a->num == floor(a->num); break;
        case RIO_ARG_STRING: ok = a->type == RIO_ARG_STRING; break;
        case RIO_ARG_BOOL: ok = a->type == RIO_ARG_BOOL; break;
        }
        if (!ok) {
            char got[64];
            if (is_num)
                snprintf(got, sizeof got, "%s %.17g", rio_arg_type_name(a->type), a->num);
            else
                snprintf(got, sizeof got, "%s", rio_arg_type_name(a->type));
            return step_bad(reason, err, RIO_REASON_BAD_ARGS, "%s \"%.63s\": argument \"%.31s\": expected %s, got %s",
                            pre, st->step_id, a->name, rio_arg_type_name(sp->type), got);
        }
        if (is_num && sp->has_range && (a->num < sp->min || a->num > sp->max))
            return step_bad(reason, err, RIO_REASON_BAD_ARGS,
                            "%s \"%.63s\": argument \"%.31s\": %.17g is outside %.17g..%.17g", pre, st->step_id,
                            a->name, a->num, sp->min, sp->max);
        if (sp->type == RIO_ARG_STRING && sp->n_enum > 0) {
            int n_enum = sp->n_enum < RIO_MAX_ENUM ? sp->n_enum : RIO_MAX_ENUM, found = 0;
            for (int k = 0; k < n_enum && !found; k++) found = !strncmp(sp->enums[k], a->str, RIO_STR_LEN);
            if (!found) {
                join_names(list, sizeof list, n_enum, sp->enums[0], RIO_STR_LEN);
                return step_bad(reason, err, RIO_REASON_BAD_ARGS,
                                "%s \"%.63s\": argument \"%.31s\": \"%.63s\" is not one of the allowed values (%s)", pre,
                                st->step_id, a->name, a->str, list);
            }
        }
    }
    for (int k = 0; k < sk->n_args && k < RIO_MAX_ARGS; k++)
        if (!sk->args[k].optional && !rio_step_arg(st, sk->args[k].name))
            return step_bad(reason, err, RIO_REASON_BAD_ARGS,
                            "%s \"%.63s\": argument \"%.31s\" (%s) is required by skill \"%.31s\"", pre, st->step_id,
                            sk->args[k].name, rio_arg_type_name(sk->args[k].type), sk->name);
    return EM_OK;
}
