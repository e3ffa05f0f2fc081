/* skills.c - the skill registry (agent/skills.h): the offered skills and,
 * worked out once, what a plan can write for each argument.
 *
 * Workload: a controller offers at most 32 skills of at most 8 arguments;
 * a registry is made once per hello (or skills file) and then read by the
 * grammar, the prompt and the parser, so nothing here is tuned. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/plan_text.h"
#include "agent/skills.h"

struct agent_skills {
    int n;
    rio_skill *skills;                  /* n, as declared */
    agent_arg_dom (*dom)[RIO_MAX_ARGS]; /* n rows */
    int *usable;                        /* n */
    int n_usable;
    int decimals;
    char notes[4096]; /* what was left out, one line each */
};

/* The schema's name rule (robot_io/SCHEMA.md): the parser reads names by it. */
static int name_ok(const char *s) {
    size_t len = strlen(s);
    if (len < 1 || len >= RIO_NAME_LEN) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_' ||
              *s == '.' || *s == ':' || *s == '-'))
            return 0;
    return 1;
}

static void note(agent_skills *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(agent_skills *r, const char *fmt, ...) {
    size_t used = strlen(r->notes);
    if (used + 2 >= sizeof r->notes) return; /* notes only inform; a full buffer drops the rest */
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(r->notes + used, sizeof r->notes - used - 1, fmt, ap);
    va_end(ap);
    if (k < 0) return;
    used = strlen(r->notes);
    r->notes[used] = '\n';
    r->notes[used + 1] = 0;
}

/* What can be written for one argument; 0 when nothing can. */
static int make_dom(agent_skills *r, const rio_skill *sk, const rio_arg_spec *sp, agent_arg_dom *d) {
    memset(d, 0, sizeof *d);
    switch (sp->type) {
    case RIO_ARG_NUMBER:
    case RIO_ARG_INTEGER:
        d->decimals = sp->type == RIO_ARG_NUMBER ? r->decimals : 0;
        if (agent_fixed_bounds(sp->has_range, sp->min, sp->max, d->decimals, &d->lo, &d->hi)) {
            note(r, "skill \"%s\": argument \"%s\": the range %.17g..%.17g holds no %s with %d decimals", sk->name,
                 sp->name, sp->min, sp->max, sp->type == RIO_ARG_NUMBER ? "number" : "integer", d->decimals);
            return 0;
        }
        return d->usable = 1;
    case RIO_ARG_STRING: {
        int n_enum = sp->n_enum < RIO_MAX_ENUM ? sp->n_enum : RIO_MAX_ENUM;
        for (int k = 0; k < n_enum; k++) {
            int dup = 0;
            for (int j = 0; j < d->n_enum && !dup; j++) dup = !strcmp(sp->enums[d->enum_idx[j]], sp->enums[k]);
            if (dup) continue;
            char quoted[AGENT_PLAN_QUOTED_LEN];
            if (agent_json_quote(sp->enums[k], quoted, sizeof quoted) < 0) {
                note(r, "skill \"%s\": argument \"%s\": allowed value %d is not valid UTF-8; left out", sk->name,
                     sp->name, k);
                continue;
            }
            d->enum_idx[d->n_enum++] = k;
        }
        if (n_enum > 0 && d->n_enum == 0) {
            note(r, "skill \"%s\": argument \"%s\": no allowed value can be written", sk->name, sp->name);
            return 0;
        }
        return d->usable = 1;
    }
    case RIO_ARG_BOOL: return d->usable = 1;
    }
    note(r, "skill \"%s\": argument \"%s\": unknown type %d", sk->name, sp->name, (int)sp->type);
    return 0;
}

agent_skills *agent_skills_create(const rio_skill *skills, int n_skills, int decimals, char *err) {
    if (decimals < 0) decimals = AGENT_PLAN_DECIMALS;
    if (decimals > AGENT_PLAN_MAX_DECIMALS) {
        em_err(err, EM_ERR_ARG, "agent_skills_create: %d decimals, expected 0..%d", decimals, AGENT_PLAN_MAX_DECIMALS);
        return NULL;
    }
    if (n_skills < 1 || n_skills > RIO_MAX_SKILLS || !skills) {
        em_err(err, EM_ERR_ARG, "agent_skills_create: %d skills, expected 1..%d", n_skills, RIO_MAX_SKILLS);
        return NULL;
    }
    agent_skills *r = calloc(1, sizeof *r);
    if (!r || !(r->skills = malloc((size_t)n_skills * sizeof *r->skills)) ||
        !(r->dom = calloc((size_t)n_skills, sizeof *r->dom)) || !(r->usable = calloc((size_t)n_skills, sizeof(int)))) {
        em_err(err, EM_ERR_NOMEM, "agent_skills_create: out of memory for %d skills", n_skills);
        goto fail;
    }
    memcpy(r->skills, skills, (size_t)n_skills * sizeof *r->skills);
    r->n = n_skills;
    r->decimals = decimals;
    for (int i = 0; i < n_skills; i++) {
        rio_skill *sk = &r->skills[i];
        /* A hand-made rio_skill may lack terminators; a decoded one never does. */
        sk->name[RIO_NAME_LEN - 1] = 0;
        sk->doc[RIO_TEXT_LEN - 1] = 0;
        if (sk->n_args < 0 || sk->n_args > RIO_MAX_ARGS) {
            em_err(err, EM_ERR_ARG, "agent_skills_create: skill %d (\"%s\"): %d arguments, expected 0..%d", i,
                   sk->name, sk->n_args, RIO_MAX_ARGS);
            goto fail;
        }
        if (!name_ok(sk->name)) {
            em_err(err, EM_ERR_ARG, "agent_skills_create: skill name \"%s\" is not 1..31 bytes of [A-Za-z0-9_.:-]",
                   sk->name);
            goto fail;
        }
        for (int k = 0; k < i; k++)
            if (!strcmp(r->skills[k].name, sk->name)) {
                em_err(err, EM_ERR_ARG, "agent_skills_create: skill \"%s\" is declared twice", sk->name);
                goto fail;
            }
        int ok = 1;
        for (int a = 0; a < sk->n_args; a++) {
            rio_arg_spec *sp = &sk->args[a];
            sp->name[RIO_NAME_LEN - 1] = 0;
            for (int e = 0; e < RIO_MAX_ENUM; e++) sp->enums[e][RIO_STR_LEN - 1] = 0;
            int dup = 0;
            for (int k = 0; k < a; k++) dup |= !strcmp(sk->args[k].name, sp->name);
            if (!name_ok(sp->name) || dup) {
                em_err(err, EM_ERR_ARG,
                       "agent_skills_create: skill \"%s\": argument name \"%s\" is %s", sk->name, sp->name,
                       dup ? "declared twice" : "not 1..31 bytes of [A-Za-z0-9_.:-]");
                goto fail;
            }
            if (make_dom(r, sk, sp, &r->dom[i][a])) continue;
            if (sp->optional)
                note(r, "skill \"%s\": optional argument \"%s\" is left out of plans", sk->name, sp->name);
            else
                ok = 0;
        }
        if (!ok) note(r, "skill \"%s\" is left out of plans: a required argument cannot be written", sk->name);
        r->usable[i] = ok;
        r->n_usable += ok;
    }
    if (!r->n_usable) {
        em_err(err, EM_ERR_ARG, "agent_skills_create: no skill can be written in a plan: %s", r->notes);
        goto fail;
    }
    return r;
fail:
    agent_skills_free(r);
    return NULL;
}

agent_skills *agent_skills_from_hello(const rio_hello *hello, int decimals, char *err) {
    if (!hello->n_skills) {
        em_err(err, EM_ERR_NOT_FOUND, "agent_skills_from_hello: the controller (role \"%s\") offers no skills",
               hello->role);
        return NULL;
    }
    return agent_skills_create(hello->skills, hello->n_skills, decimals, err);
}

agent_skills *agent_skills_load(const char *path, int decimals, char *err) {
    FILE *f = fopen(path, "rb");
    char *buf = NULL, msg[EM_ERR_LEN];
    rio_skill *skills = NULL;
    int n = 0;
    agent_skills *r = NULL;
    if (!f) {
        em_err(err, EM_ERR_IO, "agent_skills_load: %s: %s", path, strerror(errno));
        return NULL;
    }
    /* rio_skills_parse refuses more than a MiB: read one byte past it */
    size_t cap = (1 << 20) + 1, len;
    if (!(buf = malloc(cap))) {
        em_err(err, EM_ERR_NOMEM, "agent_skills_load: %s: out of memory", path);
        goto done;
    }
    len = fread(buf, 1, cap, f);
    if (ferror(f)) {
        em_err(err, EM_ERR_IO, "agent_skills_load: %s: read failed", path);
        goto done;
    }
    if (rio_skills_parse(buf, len, &skills, &n, msg)) {
        em_err(err, EM_ERR_FORMAT, "agent_skills_load: %s: %s", path, msg);
        goto done;
    }
    if (!(r = agent_skills_create(skills, n, decimals, msg)))
        em_err(err, EM_ERR_ARG, "agent_skills_load: %s: %s", path, msg);
done:
    fclose(f);
    free(buf);
    free(skills);
    return r;
}

void agent_skills_free(agent_skills *r) {
    if (!r) return;
    free(r->skills);
    free(r->dom);
    free(r->usable);
    free(r);
}

const rio_skill *agent_skills_all(const agent_skills *r) { return r->skills; }
int agent_skills_count(const agent_skills *r) { return r->n; }
int agent_skills_usable(const agent_skills *r, int i) { return i >= 0 && i < r->n && r->usable[i]; }
int agent_skills_n_usable(const agent_skills *r) { return r->n_usable; }
int agent_skills_decimals(const agent_skills *r) { return r->decimals; }
const char *agent_skills_notes(const agent_skills *r) { return r->notes; }

int agent_skills_find(const agent_skills *r, const char *name) {
    for (int i = 0; i < r->n; i++)
        if (!strcmp(r->skills[i].name, name)) return i;
    return -1;
}

const agent_arg_dom *agent_skills_dom(const agent_skills *r, int i, int a) { return &r->dom[i][a]; }
