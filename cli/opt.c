/* opt.c - see opt.h. */
#include "opt.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Help text starts at this column; a longer option name gets its own line. */
#define OPT_HELP_COL 30

__attribute__((format(printf, 3, 4)))
static int fail(char *err, const char *prog, const char *fmt, ...) {
    char msg[OPT_ERR_LEN - 64]; /* room for "prog: " within OPT_ERR_LEN */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (err) snprintf(err, OPT_ERR_LEN, "%.60s: %s", prog, msg);
    return OPT_ERROR;
}

/* ---- numbers: the whole string, decimal, no leading space or sign games */

static bool digits_start(const char *s, bool sign_ok) {
    if (sign_ok && (*s == '-' || *s == '+')) s++;
    return *s >= '0' && *s <= '9';
}

int opt_i64(const char *prog, const char *name, const char *s, int64_t lo, int64_t hi, int64_t *out, char *err) {
    char *end;
    errno = 0;
    long long v = digits_start(s, true) ? strtoll(s, &end, 10) : 0;
    if (!digits_start(s, true) || errno || *end || v < lo || v > hi)
        return fail(err, prog, "%s '%s': expected an integer in %" PRId64 "..%" PRId64, name, s, lo, hi);
    *out = (int64_t)v;
    return 0;
}

int opt_u64(const char *prog, const char *name, const char *s, uint64_t lo, uint64_t hi, uint64_t *out, char *err) {
    char *end;
    errno = 0;
    /* strtoull would take "-1" as 2^64-1: digits only */
    unsigned long long v = digits_start(s, false) ? strtoull(s, &end, 10) : 0;
    if (!digits_start(s, false) || errno || *end || v < lo || v > hi)
        return fail(err, prog, "%s '%s': expected an integer in %" PRIu64 "..%" PRIu64, name, s, lo, hi);
    *out = (uint64_t)v;
    return 0;
}

int opt_double(const char *prog, const char *name, const char *s, double lo, double hi, double *out, char *err) {
    char *end;
    errno = 0;
    /* a digit or a point after the sign: no "nan", "inf" or leading spaces */
    const char *p = s + (*s == '-' || *s == '+');
    bool ok = (*p >= '0' && *p <= '9') || (*p == '.' && p[1] >= '0' && p[1] <= '9');
    double v = ok ? strtod(s, &end) : 0;
    if (!ok || errno || *end || !(v >= lo && v <= hi))
        return fail(err, prog, "%s '%s': expected a number in %g..%g", name, s, lo, hi);
    *out = v;
    return 0;
}

/* ---- the table */

static bool takes_value(const opt_spec *o) {
    return o->kind != OPT_KIND_FLAG && (o->kind != OPT_KIND_CALL || o->meta);
}

/* The spec named `a` (exactly, or up to n bytes for "--name=value"). */
static const opt_spec *find(const opt_spec *specs, const char *a, size_t n) {
    for (const opt_spec *o = specs; o->kind != OPT_KIND_END; o++) {
        if (o->kind == OPT_KIND_GROUP) {
            const opt_spec *g = find(o->dest, a, n);
            if (g) return g;
            continue;
        }
        if (o->shrt && strlen(o->shrt) == n && !strncmp(o->shrt, a, n)) return o;
        if (o->lng && strlen(o->lng) == n && !strncmp(o->lng, a, n)) return o;
    }
    return NULL;
}

static int apply(const char *prog, const char *flag, const opt_spec *o, const char *v, char *err) {
    int64_t i;
    double d;
    switch (o->kind) {
    case OPT_KIND_FLAG: *(bool *)o->dest = true; return 0;
    case OPT_KIND_STR: *(const char **)o->dest = v; return 0;
    case OPT_KIND_LIST:
        if (*o->count >= o->max) return fail(err, prog, "%s '%s': at most %d given", flag, v, o->max);
        ((const char **)o->dest)[(*o->count)++] = v;
        return 0;
    case OPT_KIND_INT:
        if (opt_i64(prog, flag, v, o->lo, o->hi, &i, err)) return OPT_ERROR;
        *(int *)o->dest = (int)i;
        return 0;
    case OPT_KIND_I64: return opt_i64(prog, flag, v, o->lo, o->hi, o->dest, err);
    case OPT_KIND_U64: return opt_u64(prog, flag, v, o->ulo, o->uhi, o->dest, err);
    case OPT_KIND_FLOAT:
        if (opt_double(prog, flag, v, o->dlo, o->dhi, &d, err)) return OPT_ERROR;
        *(float *)o->dest = (float)d;
        return 0;
    case OPT_KIND_DOUBLE: return opt_double(prog, flag, v, o->dlo, o->dhi, o->dest, err);
    case OPT_KIND_CHOICE: {
        int n = 0;
        for (; o->choices[n]; n++)
            if (!strcasecmp(v, o->choices[n])) { /* q4_K or q4_k */
                *(int *)o->dest = n;
                return 0;
            }
        char list[256] = "";
        size_t k = 0;
        for (int c = 0; c < n && k < sizeof list; c++)
            k += (size_t)snprintf(list + k, sizeof list - k, "%s%s", c == 0 ? "" : c == n - 1 ? " or " : ", ",
                                  o->choices[c]);
        return fail(err, prog, "%s '%s': expected %s", flag, v, list);
    }
    case OPT_KIND_SIZE: {
        int64_t w, h;
        const char *x = strchr(v, 'x');
        char ws[32];
        size_t wn = x ? (size_t)(x - v) : 0;
        if (x && wn < sizeof ws) {
            memcpy(ws, v, wn);
            ws[wn] = 0;
        }
        if (!x || wn >= sizeof ws || opt_i64(prog, flag, ws, o->lo, o->hi, &w, NULL) ||
            opt_i64(prog, flag, x + 1, o->lo, o->hi, &h, NULL))
            return fail(err, prog, "%s '%s': expected WxH, %" PRId64 "..%" PRId64 " each", flag, v, o->lo, o->hi);
        ((int *)o->dest)[0] = (int)w;
        ((int *)o->dest)[1] = (int)h;
        return 0;
    }
    case OPT_KIND_CALL: {
        char msg[OPT_ERR_LEN] = "";
        if (o->fn(o->user, o, v, msg) == 0) return 0;
        return fail(err, prog, "%s", msg[0] ? msg : flag);
    }
    case OPT_KIND_END:
    case OPT_KIND_GROUP: break;
    }
    return fail(err, prog, "%s: option table entry of unknown kind %d", flag, (int)o->kind);
}

/* Walk the arguments; with `run` false, only look for -h/--help (so help is
 * given before anything is applied and whatever else is wrong). */
static int walk(const char *prog, const opt_spec *specs, int argc, char *const *argv, bool run, const char **pos,
                int max_pos, int *n_pos, char *err) {
    bool opts = true;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (opts && !strcmp(a, "--")) {
            opts = false;
            continue;
        }
        if (!opts || a[0] != '-' || !a[1]) { /* positional ("-" is stdin by custom) */
            if (!run) continue;
            if (*n_pos >= max_pos) return fail(err, prog, "unexpected argument '%s' (see --help)", a);
            pos[(*n_pos)++] = a;
            continue;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) return OPT_HELP;
        const char *eq = a[1] == '-' ? strchr(a, '=') : NULL;
        size_t n = eq ? (size_t)(eq - a) : strlen(a);
        const opt_spec *o = find(specs, a, n);
        if (!o) {
            if (!run) continue;
            return fail(err, prog, "unknown option '%s' (see --help)", a);
        }
        char flag[64];
        snprintf(flag, sizeof flag, "%.*s", (int)n, a);
        const char *v = NULL;
        if (!takes_value(o)) {
            if (eq && run) return fail(err, prog, "%s takes no value", flag);
        } else if (eq) {
            v = eq + 1;
        } else if (o->flags & OPT_VALUE_OPTIONAL) {
            if (i + 1 < argc && argv[i + 1][0] != '-') v = argv[++i];
        } else {
            if (i + 1 >= argc) return run ? fail(err, prog, "%s needs a value (see --help)", flag) : OPT_OK;
            v = argv[++i];
        }
        if (run && apply(prog, flag, o, v, err)) return OPT_ERROR;
        if (run && o->seen) *o->seen = true;
    }
    return OPT_OK;
}

int opt_parse(const char *prog, const opt_spec *specs, int argc, char *const *argv, const char **pos, int max_pos,
              int *n_pos, char *err) {
    int n = 0;
    if (err) err[0] = 0;
    if (walk(prog, specs, argc, argv, false, NULL, 0, NULL, err) == OPT_HELP) return OPT_HELP;
    int rc = walk(prog, specs, argc, argv, true, pos, pos ? max_pos : 0, &n, err);
    if (n_pos) *n_pos = n;
    return rc;
}

int opt_parse_preset(const char *prog, const opt_spec *specs, int *preset, opt_reset_fn reset, void *user,
                     int argc, char *const *argv, char *err) {
    reset(user, -1);
    int rc = opt_parse(prog, specs, argc, argv, NULL, 0, NULL, err);
    if (rc != OPT_OK) return rc;
    reset(user, *preset);
    return opt_parse(prog, specs, argc, argv, NULL, 0, NULL, err);
}

/* ---- help */

static void print_default(FILE *f, const opt_spec *o) {
    if (o->flags & OPT_NO_DEFAULT) return;
    switch (o->kind) {
    case OPT_KIND_STR:
        if (*(const char *const *)o->dest) fprintf(f, " (default %s)", *(const char *const *)o->dest);
        break;
    case OPT_KIND_INT: fprintf(f, " (default %d)", *(const int *)o->dest); break;
    case OPT_KIND_I64: fprintf(f, " (default %" PRId64 ")", *(const int64_t *)o->dest); break;
    case OPT_KIND_U64: fprintf(f, " (default %" PRIu64 ")", *(const uint64_t *)o->dest); break;
    case OPT_KIND_FLOAT: fprintf(f, " (default %g)", (double)*(const float *)o->dest); break;
    case OPT_KIND_DOUBLE: fprintf(f, " (default %g)", *(const double *)o->dest); break;
    case OPT_KIND_CHOICE: {
        int c = *(const int *)o->dest, n = 0;
        while (o->choices[n]) n++;
        if (c >= 0 && c < n) fprintf(f, " (default %s)", o->choices[c]);
        break;
    }
    case OPT_KIND_SIZE: fprintf(f, " (default %dx%d)", ((const int *)o->dest)[0], ((const int *)o->dest)[1]); break;
    default: break;
    }
}

void opt_usage(FILE *f, const opt_spec *specs) {
    for (const opt_spec *o = specs; o->kind != OPT_KIND_END; o++) {
        if (o->kind == OPT_KIND_GROUP) {
            opt_usage(f, o->dest);
            continue;
        }
        if (!o->help) continue; /* accepted, not advertised (a flag kept only to say what to use instead) */
        /* "  -m, --model FILE", "      --seed N", "  -o PATH", "      --estop [REASON]" */
        char left[128], val[64] = "";
        if (o->meta)
            snprintf(val, sizeof val, o->flags & OPT_VALUE_OPTIONAL ? " [%s]" : " %s", o->meta);
        int k = snprintf(left, sizeof left, "  %s%s%s%s", o->shrt ? o->shrt : "  ", o->shrt && o->lng ? ", " : o->lng ? "  " : "",
                         o->lng ? o->lng : "", val);
        fputs(left, f);
        const char *h = o->help ? o->help : "";
        if (k >= OPT_HELP_COL - 1) fprintf(f, "\n%*s", OPT_HELP_COL, "");
        else fprintf(f, "%*s", OPT_HELP_COL - k, "");
        for (const char *nl; (nl = strchr(h, '\n')); h = nl + 1) fprintf(f, "%.*s\n%*s", (int)(nl - h), h, OPT_HELP_COL, "");
        fputs(h, f);
        print_default(f, o);
        fputc('\n', f);
    }
}
