/* rio_msg.c - Ember's robot messages (rio_msg.h; the fields are in
 * robot_io/SCHEMA.md) apart from their JSON form: the string rules and field
 * errors both codec halves share (rio_msg_codec.h), a message's life cycle
 * (init, clear, copy, the frame's binary part), and rio_step_check.
 *
 * The codec itself is two files: rio_msg_decode.c (JSON -> rio_msg, PLAN.json
 * files) and rio_msg_encode.c (rio_msg -> JSON). cJSON does all the JSON;
 * those files map cJSON trees to rio_msg and back and check every field
 * against the schema's bounds both ways. Nothing here is global mutable. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "robot_io/rio_msg.h"
#include "robot_io/rio_msg_codec.h"

/* ---------------------------------------------------------------------------
 * String rules and field errors shared by both directions */

const rio_str_rule RIO_RULE_ID = {1, RIO_ID_LEN, 1};
const rio_str_rule RIO_RULE_NAME = {1, RIO_NAME_LEN, 1};
const rio_str_rule RIO_RULE_STR = {0, RIO_STR_LEN, 0};
const rio_str_rule RIO_RULE_TEXT = {0, RIO_TEXT_LEN, 0};

const char *const rio_codec_arg_types[4] = {"number", "integer", "string", "bool"};
const char *const rio_codec_encodings[3] = {"png", "jpeg", "rgb8"};

static int id_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == ':' || c == '-';
}

int rio_codec_str_bad(const char *s, size_t len, rio_str_rule r, char *why, size_t n_why) {
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

void rio_codec_field_name(char *out, size_t n, const char *path, const char *key) {
    if (snprintf(out, n, "%s%s%s", path, (*path && *key && *key != '[') ? "." : "", key) >= (int)n)
        out[n - 1] = 0; /* cut: the name only labels an error */
}

int rio_codec_find_name(const char *const *names, int n, const char *s) {
    for (int i = 0; i < n; i++)
        if (!strcmp(names[i], s)) return i;
    return -1;
}

ember_status rio_codec_field_err(char *err, ember_status st, const char *fn, const char *what, const char *path,
                                 const char *key, const char *fmt, va_list ap) {
    char why[EM_ERR_LEN / 2], name[128];
    vsnprintf(why, sizeof why, fmt, ap);
    rio_codec_field_name(name, sizeof name, path, key);
    return em_err(err, st, "%s: %s%sfield \"%s\": %s", fn, what ? what : "", what ? ": " : "", name, why);
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
