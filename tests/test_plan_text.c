/* test_plan_text.c - the plan text format (agent/plan_text.h) and the skill
 * registry (agent/skills.h):
 *  - the number-range construction by brute force: for many ranges
 *    (negative, crossing zero, decimals 0..3, huge, at powers of ten) the
 *    same construction's POSIX regex must match a fixed-point text iff it
 *    is well-formed and in range, on a grid around the range and on
 *    malformed texts (leading zeros, "-0", missing or extra decimals);
 *  - the GBNF text: every rule referenced is defined once, no rule reaches
 *    itself, the literals close; then the grammar inlined into one regex
 *    must agree with the parser on random valid plans and on mutations of
 *    them (the grammar's language is the parser's);
 *  - random plans from a registry (the sim's skills, the schema's example,
 *    edge cases) render -> parse -> the same steps -> rio_step_check;
 *  - parse errors naming line and column; describe, fate lines, files. */
#include <math.h>
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/plan_text.h"
#include "agent/skills.h"
#include "check.h"
#include "sim/sim.h"

/* ---------------------------------------------------------------------------
 * A seeded generator (splitmix64) */

static uint64_t rng_next(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static long long rng_range(uint64_t *s, long long lo, long long hi) { /* lo..hi inclusive */
    return lo + (long long)(rng_next(s) % (uint64_t)(hi - lo + 1));
}
static long long pow10ll(int k) {
    long long p = 1;
    while (k-- > 0) p *= 10;
    return p;
}

/* ---------------------------------------------------------------------------
 * The number-range construction by brute force */

static int ere_match(const regex_t *re, const char *s) { return regexec(re, s, 0, NULL, 0) == 0; }

/* Texts that are not canonical fixed point with `decimals` digits, made
 * from the canonical text t of n: none of them may match. */
static int malformed(const char *t, long long n, int decimals, char out[8][48]) {
    int k = 0;
    size_t len = strlen(t);
    const char *mag = t[0] == '-' ? t + 1 : t;
    snprintf(out[k++], 48, "%s0%s", t[0] == '-' ? "-" : "", mag); /* a leading zero */
    if (n == 0) snprintf(out[k++], 48, "-%s", t);                  /* "-0", "-0.00" */
    if (decimals > 0) {
        snprintf(out[k++], 48, "%.*s", (int)len - 1, t); /* a decimal missing */
        snprintf(out[k++], 48, "%s0", t);                /* one too many */
        char nopoint[48];                                 /* no point */
        size_t o = 0;
        for (size_t i = 0; i < len; i++)
            if (t[i] != '.') nopoint[o++] = t[i];
        nopoint[o] = 0;
        snprintf(out[k++], 48, "%s", nopoint);
    } else {
        snprintf(out[k++], 48, "%s.0", t);
        snprintf(out[k++], 48, "%s.", t);
    }
    snprintf(out[k++], 48, "+%s", mag);
    snprintf(out[k++], 48, " %s", t);
    return k;
}

/* Check the regex of [lo, hi] against the expectation [elo, ehi] (the same
 * range unless a mismatch is planted): returns the number of disagreements. */
static int check_range(long long lo, long long hi, long long elo, long long ehi, int decimals, uint64_t *rng,
                       int verbose) {
    char *pat = NULL, err[EM_ERR_LEN];
    regex_t re;
    if (agent_fixed_pattern(lo, hi, decimals, AGENT_PATTERN_ERE, &pat, err) != EM_OK) {
        fprintf(stderr, "pattern %lld..%lld/%d: %s\n", lo, hi, decimals, err);
        return 1;
    }
    if (regcomp(&re, pat, REG_EXTENDED | REG_NOSUB)) {
        fprintf(stderr, "regcomp failed: %s\n", pat);
        free(pat);
        return 1;
    }
    long long lim = pow10ll(AGENT_PLAN_MAX_DIGITS) - 1;
    /* the points to try: around both bounds, zero, and each power of ten
     * (where the digit count changes), plus random points in and near */
    long long pts[4096];
    int n_pts = 0;
    long long centres[64];
    int n_c = 0;
    centres[n_c++] = lo, centres[n_c++] = hi, centres[n_c++] = 0;
    for (int k = 0; k <= AGENT_PLAN_MAX_DIGITS; k++) centres[n_c++] = pow10ll(k), centres[n_c++] = -pow10ll(k);
    for (int c = 0; c < n_c; c++)
        for (long long dlt = -12; dlt <= 12; dlt++) pts[n_pts++] = centres[c] + dlt;
    int span_small = hi - lo <= 2000;
    if (span_small)
        for (long long v = lo - 30; v <= hi + 30 && n_pts < 4096; v++) pts[n_pts++] = v;
    while (n_pts < 4096) {
        long long a = lo - (hi - lo) / 4 - 10, b = hi + (hi - lo) / 4 + 10;
        if (a < -lim) a = -lim;
        if (b > lim) b = lim;
        pts[n_pts++] = rng_range(rng, a, b);
    }
    int bad = 0;
    for (int i = 0; i < n_pts; i++) {
        long long v = pts[i];
        if (v < -lim || v > lim) continue;
        char t[48], mal[8][48];
        agent_fixed_format(v, decimals, t);
        int want = v >= elo && v <= ehi, got = ere_match(&re, t);
        if (want != got) {
            if (verbose && bad < 5) fprintf(stderr, "range %lld..%lld/%d: \"%s\" matched %d, expected %d (%s)\n", lo, hi, decimals, t, got, want, pat);
            bad++;
        }
        int k = malformed(t, v, decimals, mal);
        for (int j = 0; j < k; j++)
            if (ere_match(&re, mal[j])) {
                if (verbose && bad < 5) fprintf(stderr, "range %lld..%lld/%d: malformed \"%s\" matched (%s)\n", lo, hi, decimals, mal[j], pat);
                bad++;
            }
    }
    static const char *junk[] = {"", "-", ".", "-.", "0.", ".5", "--1", "1-", "1e3", "0x1", "00", "-00"};
    for (size_t j = 0; j < sizeof junk / sizeof *junk; j++)
        if (ere_match(&re, junk[j])) {
            if (verbose && bad < 5) fprintf(stderr, "range %lld..%lld/%d: junk \"%s\" matched\n", lo, hi, decimals, junk[j]);
            bad++;
        }
    regfree(&re);
    free(pat);
    return bad;
}

static void test_fixed_format(void) {
    struct { long long n; int d; const char *t; } cases[] = {
        {5, 2, "0.05"}, {-5, 2, "-0.05"}, {0, 0, "0"}, {0, 2, "0.00"}, {-1250, 2, "-12.50"}, {7, 0, "7"},
        {-7, 0, "-7"}, {100, 1, "10.0"}, {999999999999999LL, 3, "999999999999.999"}, {-1, 3, "-0.001"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char t[48];
        agent_fixed_format(cases[i].n, cases[i].d, t);
        CHECK(!strcmp(t, cases[i].t), "format(%lld, %d) = \"%s\", expected \"%s\"", cases[i].n, cases[i].d, t, cases[i].t);
    }
    /* bounds judged as rio_step_check judges: 0.1 * 100 is not 10 in doubles */
    long long lo, hi;
    CHECK(agent_fixed_bounds(1, 0.1, 1, 2, &lo, &hi) == 0 && lo == 10 && hi == 100, "0.1..1 at 2 decimals: %lld..%lld", lo, hi);
    CHECK(agent_fixed_bounds(1, 0.3, 0.7, 0, &lo, &hi) == -1, "an integer range with no integer must be empty");
    CHECK(agent_fixed_bounds(1, 0.001, 0.004, 2, &lo, &hi) == -1, "0.001..0.004 holds no 2-decimal point");
    CHECK(agent_fixed_bounds(1, -0.5, 0.5, 0, &lo, &hi) == 0 && lo == 0 && hi == 0, "-0.5..0.5 as integer: %lld..%lld", lo, hi);
    CHECK(agent_fixed_bounds(1, 1.005, 2.995, 2, &lo, &hi) == 0 && lo == 101 && hi == 299, "1.005..2.995: %lld..%lld", lo, hi);
    CHECK(agent_fixed_bounds(1, -1e300, 1e300, 2, &lo, &hi) == 0 && lo == -(pow10ll(15) - 1) && hi == pow10ll(15) - 1,
          "a huge range is clamped to 15 digits: %lld..%lld", lo, hi);
    CHECK(agent_fixed_bounds(0, 0, 0, 3, &lo, &hi) == 0 && lo == -(pow10ll(15) - 1) && hi == pow10ll(15) - 1, "no range");
    CHECK(agent_fixed_bounds(1, 2e15, 3e15, 0, &lo, &hi) == -1, "a range beyond 15 digits is empty");
    CHECK(agent_fixed_bounds(1, NAN, 1, 0, &lo, &hi) == -1, "NaN bounds are empty");
    /* exhaustively for random double bounds: lo is the first grid point at
     * or above min, hi the last at or below max, by the parsed double */
    uint64_t rng = 11;
    for (int t = 0; t < 3000; t++) {
        int d = (int)rng_range(&rng, 0, 3);
        double a = (double)rng_range(&rng, -200000, 200000) / pow(10, (double)rng_range(&rng, 0, 5));
        double b = a + (double)rng_range(&rng, 0, 300000) / pow(10, (double)rng_range(&rng, 0, 5));
        if (agent_fixed_bounds(1, a, b, d, &lo, &hi)) {
            long long g = (long long)floor(a * pow(10, d)) - 2;
            int any = 0;
            for (long long v = g; v < g + 8; v++) any |= agent_fixed_value(v, d) >= a && agent_fixed_value(v, d) <= b;
            CHECK(!any, "bounds %.17g..%.17g/%d said empty but a point fits", a, b, d);
            continue;
        }
        CHECK(agent_fixed_value(lo, d) >= a && agent_fixed_value(lo - 1, d) < a, "lo %lld for min %.17g/%d", lo, a, d);
        CHECK(agent_fixed_value(hi, d) <= b && agent_fixed_value(hi + 1, d) > b, "hi %lld for max %.17g/%d", hi, b, d);
    }
}

static void test_ranges(void) {
    uint64_t rng = 1;
    long long lim = pow10ll(AGENT_PLAN_MAX_DIGITS) - 1;
    int n = 0, bad = 0;
    /* fixed cases: the sim's, zero-width, crossing zero, at the limits */
    long long fixed[][3] = {
        {-5000, 5000, 2}, {1000, 7000, 2}, {100, 2000, 2}, {0, 6000, 2}, {1, 1000, 0}, {0, 0, 0}, {0, 0, 2},
        {-1, -1, 1}, {-9, 9, 0}, {-10, 10, 0}, {-99, -10, 0}, {10, 99, 0}, {-1000, -1, 3}, {9, 10, 0},
        {99, 100, 1}, {-lim, lim, 0}, {-lim, lim, 3}, {lim - 5, lim, 2}, {-lim, -lim + 3, 1}, {123456, 654321, 3},
    };
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++, n++)
        bad += check_range(fixed[i][0], fixed[i][1], fixed[i][0], fixed[i][1], (int)fixed[i][2], &rng, 1);
    for (int t = 0; t < 400; t++, n++) {
        int d = (int)rng_range(&rng, 0, 3);
        int mag = (int)rng_range(&rng, 0, AGENT_PLAN_MAX_DIGITS); /* digit counts of the bounds */
        long long m = pow10ll(mag) - 1 < lim ? pow10ll(mag) : lim;
        long long a = rng_range(&rng, -m, m), b = rng_range(&rng, -m, m);
        switch (t % 4) { /* shapes: any, both negative, crossing zero, narrow */
        case 1: a = -llabs(a), b = -llabs(b); break;
        case 2: a = -llabs(a), b = llabs(b); break;
        case 3: b = a + rng_range(&rng, 0, 50); break;
        default: break;
        }
        if (a > b) { long long s = a; a = b; b = s; }
        if (a < -lim) a = -lim;
        if (b > lim) b = lim;
        bad += check_range(a, b, a, b, d, &rng, 1);
    }
    CHECK(bad == 0, "%d disagreements over %d ranges", bad, n);
    printf("ranges: %d checked by brute force\n", n);
    /* the checker can fail: a planted off-by-one must be seen */
    CHECK(check_range(-500, 500, -500, 499, 2, &rng, 0) > 0, "a planted mismatch went unnoticed");
    CHECK(check_range(-500, 500, -499, 500, 1, &rng, 0) > 0, "a planted mismatch went unnoticed");
    char *p = NULL, err[EM_ERR_LEN];
    CHECK(agent_fixed_pattern(5, 4, 0, AGENT_PATTERN_ERE, &p, err) == EM_ERR_ARG, "an empty range must be refused");
    CHECK(agent_fixed_pattern(0, lim + 1, 0, AGENT_PATTERN_ERE, &p, err) == EM_ERR_ARG, "16 digits must be refused");
    CHECK(agent_fixed_pattern(-5000, 5000, 2, AGENT_PATTERN_GBNF, &p, err) == EM_OK, "%s", err);
    if (p) printf("[-50.00, 50.00] in GBNF: %s\n", p);
    free(p);
}

/* ---------------------------------------------------------------------------
 * The GBNF text, checked cheaply and turned into one regex */

typedef struct rule {
    char name[96];
    const char *body; /* into the grammar text, up to its line's end */
    size_t len;
    int busy, used;
} rule;

typedef struct gram {
    rule r[512];
    int n;
    char err[256];
} gram;

static int is_name_char(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'; }

static int gram_load(gram *g, const char *text) {
    g->n = 0;
    g->err[0] = 0;
    for (const char *p = text; *p;) {
        const char *e = strchr(p, '\n');
        if (!e) e = p + strlen(p);
        if (*p != '#' && e > p) {
            const char *sep = strstr(p, " ::= ");
            if (!sep || sep > e) return snprintf(g->err, sizeof g->err, "a line without \" ::= \": %.40s", p), -1;
            if (g->n == 512) return snprintf(g->err, sizeof g->err, "too many rules"), -1;
            rule *r = &g->r[g->n];
            memset(r, 0, sizeof *r);
            if ((size_t)(sep - p) >= sizeof r->name) return snprintf(g->err, sizeof g->err, "a long name"), -1;
            memcpy(r->name, p, (size_t)(sep - p));
            for (const char *c = r->name; *c; c++)
                if (!is_name_char(*c)) return snprintf(g->err, sizeof g->err, "rule name \"%s\" has '%c'", r->name, *c), -1;
            for (int k = 0; k < g->n; k++)
                if (!strcmp(g->r[k].name, r->name)) return snprintf(g->err, sizeof g->err, "rule \"%s\" twice", r->name), -1;
            r->body = sep + 5;
            r->len = (size_t)(e - r->body);
            g->n++;
        }
        p = *e ? e + 1 : e;
    }
    return 0;
}

typedef struct obuf { char *p; size_t n, cap; } obuf;
static void oput(obuf *o, const char *s, size_t len) {
    if (o->n + len + 1 > o->cap) {
        o->cap = (o->n + len + 1) * 2;
        o->p = realloc(o->p, o->cap);
        if (!o->p) abort();
    }
    memcpy(o->p + o->n, s, len);
    o->n += len;
    o->p[o->n] = 0;
}
static void oputc_ere(obuf *o, char c) { /* one literal character in a regex */
    if (strchr(".[]()*+?{}|^$\\", c)) {
        char e[2] = {'\\', c};
        oput(o, e, 2);
    } else {
        oput(o, &c, 1);
    }
}

/* The body of rule r as a regex, rules inlined: the subset of GBNF the
 * plan grammar uses (literals with \" \\ \n escapes, classes, groups, |,
 * ?, {m}, {m,n}, names). Fails on anything else, on an undefined rule and
 * on a rule that reaches itself. */
static int to_ere(gram *g, rule *r, obuf *o, int depth) {
    if (r->busy || depth > 32) return snprintf(g->err, sizeof g->err, "rule \"%s\" reaches itself", r->name), -1;
    r->busy = 1, r->used = 1;
    oput(o, "(", 1);
    const char *p = r->body, *e = r->body + r->len;
    while (p < e) {
        char c = *p;
        if (c == ' ') {
            p++;
        } else if (c == '"') {
            p++;
            while (p < e && *p != '"') {
                if (*p == '\\') {
                    p++;
                    if (p >= e) break;
                    char u = *p == 'n' ? '\n' : *p;
                    if (*p != 'n' && *p != '"' && *p != '\\') return snprintf(g->err, sizeof g->err, "escape \\%c", *p), -1;
                    oputc_ere(o, u);
                } else {
                    if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
                        return snprintf(g->err, sizeof g->err, "raw byte 0x%02x in a literal", (unsigned char)*p), -1;
                    oputc_ere(o, *p);
                }
                p++;
            }
            if (p >= e) return snprintf(g->err, sizeof g->err, "rule \"%s\": a literal does not close", r->name), -1;
            p++;
        } else if (c == '[') {
            const char *q = memchr(p, ']', (size_t)(e - p));
            if (!q) return snprintf(g->err, sizeof g->err, "rule \"%s\": a class does not close", r->name), -1;
            oput(o, p, (size_t)(q - p + 1));
            p = q + 1;
        } else if (c == '(' || c == ')' || c == '|' || c == '?') {
            oput(o, p, 1);
            p++;
        } else if (c == '{') {
            const char *q = memchr(p, '}', (size_t)(e - p));
            if (!q) return snprintf(g->err, sizeof g->err, "rule \"%s\": a count does not close", r->name), -1;
            oput(o, p, (size_t)(q - p + 1));
            p = q + 1;
        } else if (is_name_char(c)) {
            char name[96];
            size_t k = 0;
            while (p < e && is_name_char(*p) && k < sizeof name - 1) name[k++] = *p++;
            name[k] = 0;
            rule *t = NULL;
            for (int i = 0; i < g->n && !t; i++)
                if (!strcmp(g->r[i].name, name)) t = &g->r[i];
            if (!t) return snprintf(g->err, sizeof g->err, "rule \"%s\" refers to undefined \"%s\"", r->name, name), -1;
            if (to_ere(g, t, o, depth + 1)) return -1;
        } else {
            return snprintf(g->err, sizeof g->err, "rule \"%s\": unexpected '%c'", r->name, c), -1;
        }
    }
    oput(o, ")", 1);
    r->busy = 0;
    return 0;
}

/* The grammar's root as an anchored regex (malloc'd), or NULL with g->err. */
static char *grammar_ere(gram *g, const char *text) {
    if (gram_load(g, text)) return NULL;
    rule *root = NULL;
    for (int i = 0; i < g->n; i++)
        if (!strcmp(g->r[i].name, "root")) root = &g->r[i];
    if (!root) return snprintf(g->err, sizeof g->err, "no root rule"), NULL;
    obuf o = {0};
    oput(&o, "^", 1);
    if (to_ere(g, root, &o, 0)) {
        free(o.p);
        return NULL;
    }
    oput(&o, "$", 1);
    for (int i = 0; i < g->n; i++)
        if (!g->r[i].used) {
            snprintf(g->err, sizeof g->err, "rule \"%s\" is never used", g->r[i].name);
            free(o.p);
            return NULL;
        }
    return o.p;
}

/* ---------------------------------------------------------------------------
 * Random plans from a registry */

static const char str_chars[] = "ABCXYZabcxyz0189 _.:/-";

static void random_step(const agent_skills *reg, uint64_t *rng, rio_step *st) {
    int n = agent_skills_count(reg), i;
    do i = (int)rng_range(rng, 0, n - 1);
    while (!agent_skills_usable(reg, i));
    const rio_skill *sk = &agent_skills_all(reg)[i];
    memset(st, 0, sizeof *st);
    snprintf(st->skill, sizeof st->skill, "%s", sk->name);
    for (int a = 0; a < sk->n_args; a++) {
        const rio_arg_spec *sp = &sk->args[a];
        const agent_arg_dom *d = agent_skills_dom(reg, i, a);
        if (!d->usable || (sp->optional && rng_next(rng) % 2)) continue;
        rio_arg *v = &st->args[st->n_args++];
        snprintf(v->name, sizeof v->name, "%s", sp->name);
        v->type = sp->type;
        switch (sp->type) {
        case RIO_ARG_NUMBER:
        case RIO_ARG_INTEGER: {
            long long x;
            uint64_t pick = rng_next(rng) % 4;
            if (pick == 0) x = d->lo;
            else if (pick == 1) x = d->hi;
            else x = rng_range(rng, d->lo, d->hi);
            v->num = agent_fixed_value(x, d->decimals);
            break;
        }
        case RIO_ARG_STRING:
            if (d->n_enum) {
                snprintf(v->str, sizeof v->str, "%s", sp->enums[d->enum_idx[rng_range(rng, 0, d->n_enum - 1)]]);
            } else {
                int len = (int)rng_range(rng, 0, AGENT_PLAN_STR_MAX);
                for (int k = 0; k < len; k++) v->str[k] = str_chars[rng_range(rng, 0, (long long)sizeof str_chars - 2)];
                v->str[len] = 0;
            }
            break;
        case RIO_ARG_BOOL: v->boolean = (int)(rng_next(rng) % 2); break;
        }
    }
}

static int same_step(const rio_step *a, const rio_step *b) {
    if (strcmp(a->skill, b->skill) || a->n_args != b->n_args) return 0;
    for (int i = 0; i < a->n_args; i++) {
        const rio_arg *x = &a->args[i], *y = &b->args[i];
        if (strcmp(x->name, y->name) || x->type != y->type) return 0;
        if ((x->type == RIO_ARG_NUMBER || x->type == RIO_ARG_INTEGER) && x->num != y->num) return 0;
        if (x->type == RIO_ARG_STRING && strcmp(x->str, y->str)) return 0;
        if (x->type == RIO_ARG_BOOL && x->boolean != y->boolean) return 0;
    }
    return 1;
}

/* One mutation of a valid plan text (len bytes in buf, cap bytes room). */
static size_t mutate(char *buf, size_t len, size_t cap, uint64_t *rng) {
    static const char alphabet[] = "(),= \"\\\n-.0123456789_aeptxyz:/[]{}\t\rTF";
    size_t at = len ? (size_t)rng_range(rng, 0, (long long)len - 1) : 0;
    switch (rng_next(rng) % 6) {
    case 0: /* delete one byte */
        if (len) memmove(buf + at, buf + at + 1, len - at - 1), len--;
        break;
    case 1: /* insert one */
        if (len + 1 < cap) {
            memmove(buf + at + 1, buf + at, len - at);
            buf[at] = alphabet[rng_range(rng, 0, (long long)sizeof alphabet - 2)];
            len++;
        }
        break;
    case 2: /* replace one */
        if (len) buf[at] = alphabet[rng_range(rng, 0, (long long)sizeof alphabet - 2)];
        break;
    case 3: { /* a digit changed: values move across the range's edges */
        for (size_t k = 0; k < len; k++) {
            size_t j = (at + k) % len;
            if (buf[j] >= '0' && buf[j] <= '9') {
                buf[j] = (char)('0' + rng_range(rng, 0, 9));
                break;
            }
        }
        break;
    }
    case 4: /* cut the tail, or a NUL byte in it */
        if (rng_next(rng) % 2) len = at;
        else if (len) buf[at] = 0;
        break;
    default: { /* repeat a slice (a step twice, an argument twice) */
        size_t b = (size_t)rng_range(rng, (long long)at, (long long)len), k = b - at;
        if (len + k < cap) {
            memmove(buf + b + k, buf + b, len - b);
            memcpy(buf + b, buf + at, k);
            len += k;
        }
    }
    }
    buf[len] = 0;
    return len;
}

/* EMBER_PLAN_DUMP=DIR writes each registry's grammar (LABEL.gbnf) and its
 * plans and mutants with the parser's verdict (LABEL.cases: "1" or "0", a
 * tab, the text with \n, \\ and \xHH escapes, one per line), so another
 * GBNF engine (llama.cpp's, lm/grammar.c) can be held to the same verdicts. */
static FILE *dump_open(const char *label, const char *ext, const char *gbnf) {
    const char *dir = getenv("EMBER_PLAN_DUMP");
    if (!dir || !*dir) return NULL;
    char path[512], name[64];
    size_t k = 0;
    for (const char *c = label; *c && k < sizeof name - 1; c++) name[k++] = *c == ' ' ? '_' : *c;
    name[k] = 0;
    snprintf(path, sizeof path, "%s/%s.%s", dir, name, ext);
    FILE *f = fopen(path, "w");
    if (f && gbnf) {
        fputs(gbnf, f);
        fclose(f);
        return NULL;
    }
    return f;
}

static void dump_case(FILE *f, int verdict, const char *s, size_t len) {
    if (!f) return;
    fprintf(f, "%d\t", verdict);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n') fputs("\\n", f);
        else if (c == '\\') fputs("\\\\", f);
        else if (c < 0x20 || c >= 0x7f) fprintf(f, "\\x%02x", c);
        else fputc(c, f);
    }
    fputc('\n', f);
}

/* Everything for one registry: grammar checks, random plans, mutations. */
static void exercise(const char *label, const agent_skills *reg, uint64_t seed, int n_plans) {
    char err[EM_ERR_LEN];
    const int max_steps = 3;
    char *gbnf = NULL;
    CHECK(agent_plan_grammar(reg, max_steps, &gbnf, err) == EM_OK, "%s: %s", label, err);
    if (!gbnf) return;
    dump_open(label, "gbnf", gbnf);
    FILE *cases = dump_open(label, "cases", NULL);
    gram g;
    char *ere = grammar_ere(&g, gbnf);
    CHECK(ere != NULL, "%s: the grammar is not well-formed: %s\n%s", label, g.err, gbnf);
    regex_t re;
    int have_re = ere && regcomp(&re, ere, REG_EXTENDED | REG_NOSUB) == 0;
    CHECK(have_re, "%s: the grammar's regex does not compile (%zu bytes)", label, ere ? strlen(ere) : 0);
    uint64_t rng = seed;
    int n_mut = 0, n_mut_ok = 0, disagree = 0;
    for (int t = 0; t < n_plans; t++) {
        rio_step steps[3], *back = NULL;
        int n = (int)rng_range(&rng, 1, max_steps), n_back = 0;
        for (int i = 0; i < n; i++) random_step(reg, &rng, &steps[i]);
        char *text = NULL;
        CHECK(agent_plan_render(reg, steps, n, &text, err) == EM_OK, "%s: render: %s", label, err);
        if (!text) continue;
        ember_status st = agent_plan_parse(reg, text, strlen(text), max_steps, "p", &back, &n_back, err);
        CHECK(st == EM_OK, "%s: a rendered plan does not parse: %s\n%s", label, err, text);
        if (have_re) CHECK(ere_match(&re, text), "%s: the grammar refuses a rendered plan:\n%s", label, text);
        dump_case(cases, st == EM_OK, text, strlen(text));
        if (st == EM_OK) {
            CHECK(n_back == n, "%s: %d steps back, %d sent", label, n_back, n);
            for (int i = 0; i < n && i < n_back; i++) {
                char reason[RIO_NAME_LEN], cerr[EM_ERR_LEN], id[16];
                snprintf(id, sizeof id, "p%d", i + 1);
                CHECK(same_step(&steps[i], &back[i]), "%s: step %d differs after the round trip\n%s", label, i, text);
                CHECK(!strcmp(back[i].step_id, id) && back[i].index == i, "%s: step %d id \"%s\" index %d", label, i,
                      back[i].step_id, back[i].index);
                CHECK(rio_step_check(agent_skills_all(reg), agent_skills_count(reg), &back[i], reason, cerr) == EM_OK,
                      "%s: a parsed step fails rio_step_check: %s", label, cerr);
            }
        }
        /* the steps travel as a plan message and come back the same */
        if (st == EM_OK) {
            rio_msg m, got;
            char *json = NULL;
            size_t jlen = 0;
            rio_msg_init(&m, RIO_MSG_PLAN);
            m.seq = 1;
            snprintf(m.from, sizeof m.from, "agent");
            snprintf(m.session, sizeof m.session, "agent-1");
            snprintf(m.plan_id, sizeof m.plan_id, "p1");
            m.u.plan.steps = back, m.u.plan.n_steps = n_back;
            CHECK(rio_msg_encode(&m, &json, &jlen, err) == EM_OK, "%s: encode: %s", label, err);
            if (json) {
                CHECK(rio_msg_decode(&got, json, jlen, err) == EM_OK, "%s: decode: %s", label, err);
                for (int i = 0; got.type == RIO_MSG_PLAN && i < got.u.plan.n_steps && i < n_back; i++) {
                    char reason[RIO_NAME_LEN], cerr[EM_ERR_LEN], l1[512], l2[512];
                    CHECK(rio_step_check(agent_skills_all(reg), agent_skills_count(reg), &got.u.plan.steps[i], reason,
                                         cerr) == EM_OK, "%s: a decoded step fails rio_step_check: %s", label, cerr);
                    agent_step_render(reg, &back[i], l1, sizeof l1);
                    agent_step_render(reg, &got.u.plan.steps[i], l2, sizeof l2);
                    CHECK(!strcmp(l1, l2), "%s: over the wire %s became %s", label, l1, l2);
                }
                rio_msg_clear(&got);
            }
            free(json);
        }
        free(back);
        /* mutations: the grammar (as a regex) and the parser must agree;
         * whatever parses must pass rio_step_check */
        size_t len0 = strlen(text);
        for (int m = 0; m < 12 && have_re; m++) {
            char buf[4096];
            if (len0 + 1 > sizeof buf / 2) break;
            memcpy(buf, text, len0 + 1);
            size_t len = len0;
            int k = (int)rng_range(&rng, 1, 3);
            for (int j = 0; j < k; j++) len = mutate(buf, len, sizeof buf / 2, &rng);
            int g_ok = memchr(buf, 0, len) == NULL && ere_match(&re, buf);
            back = NULL;
            int p_ok = agent_plan_parse(reg, buf, len, max_steps, NULL, &back, &n_back, err) == EM_OK;
            n_mut++;
            n_mut_ok += p_ok;
            dump_case(cases, p_ok, buf, len);
            if (g_ok != p_ok) {
                if (disagree < 5) fprintf(stderr, "%s: grammar %d, parser %d (%s) on:\n%s\n", label, g_ok, p_ok, p_ok ? "" : err, buf);
                disagree++;
            }
            for (int i = 0; p_ok && i < n_back; i++) {
                char reason[RIO_NAME_LEN], cerr[EM_ERR_LEN];
                CHECK(rio_step_check(agent_skills_all(reg), agent_skills_count(reg), &back[i], reason, cerr) == EM_OK,
                      "%s: a parsed mutant fails rio_step_check: %s", label, cerr);
            }
            free(back);
        }
        free(text);
    }
    CHECK(disagree == 0, "%s: grammar and parser disagree on %d of %d mutants", label, disagree, n_mut);
    printf("%s: %d plans round-tripped; %d mutants (%d still valid), grammar %zu bytes, regex %zu bytes\n", label,
           n_plans, n_mut, n_mut_ok, strlen(gbnf), ere ? strlen(ere) : 0);
    if (have_re) regfree(&re);
    if (cases) fclose(cases);
    free(ere);
    free(gbnf);
}

/* ---------------------------------------------------------------------------
 * Registries */

static agent_skills *sim_registry(uint64_t seed, int decimals, rio_hello *hello) {
    char err[EM_ERR_LEN];
    sim_config cfg;
    sim_config_defaults(&cfg);
    cfg.seed = seed;
    sim_world *w = sim_create(&cfg, err);
    CHECK(w != NULL, "sim_create: %s", err);
    if (!w) return NULL;
    memset(hello, 0, sizeof *hello);
    CHECK(sim_describe(w, hello, err) == EM_OK, "sim_describe: %s", err);
    sim_free(w);
    agent_skills *reg = agent_skills_from_hello(hello, decimals, err);
    CHECK(reg != NULL, "agent_skills_from_hello: %s", err);
    return reg;
}

static rio_arg_spec spec(const char *name, rio_arg_type t, int optional) {
    rio_arg_spec s;
    memset(&s, 0, sizeof s);
    snprintf(s.name, sizeof s.name, "%s", name);
    s.type = t;
    s.optional = optional;
    return s;
}
static rio_arg_spec ranged(const char *name, rio_arg_type t, int optional, double lo, double hi) {
    rio_arg_spec s = spec(name, t, optional);
    s.has_range = 1, s.min = lo, s.max = hi;
    return s;
}
static void add(rio_skill *sk, rio_arg_spec a) { sk->args[sk->n_args++] = a; }
static rio_skill skill(const char *name, const char *doc) {
    rio_skill s;
    memset(&s, 0, sizeof s);
    snprintf(s.name, sizeof s.name, "%s", name);
    snprintf(s.doc, sizeof s.doc, "%s", doc);
    return s;
}

/* Skills at the edges of the format. */
static int edge_skills(rio_skill *sk) {
    int n = 0;
    sk[n] = skill("stop", "no arguments");
    n++;
    sk[n] = skill("all.optional", "every argument optional");
    add(&sk[n], spec("a", RIO_ARG_BOOL, 1));
    add(&sk[n], ranged("b", RIO_ARG_INTEGER, 1, -3, 3));
    add(&sk[n], spec("c", RIO_ARG_STRING, 1));
    n++;
    sk[n] = skill("all_optional", "a name that mangles like the one before");
    add(&sk[n], ranged("x", RIO_ARG_NUMBER, 1, -0.5, 0.5));
    add(&sk[n], ranged("y", RIO_ARG_NUMBER, 0, -1e300, 1e300));
    add(&sk[n], ranged("z", RIO_ARG_NUMBER, 1, 0.001, 0.004)); /* no 2-decimal point: left out */
    add(&sk[n], spec("w", RIO_ARG_INTEGER, 1));
    n++;
    sk[n] = skill("quote", "allowed values that need escapes");
    rio_arg_spec e = spec("v", RIO_ARG_STRING, 0);
    const char *vals[] = {"plain", "say \"hi\"", "back\\slash", "caf\xc3\xa9", "\xf0\x9f\x99\x82", "tab\there", "",
                          "plain", "bad\xff", "p"};
    for (size_t i = 0; i < sizeof vals / sizeof *vals; i++) snprintf(e.enums[e.n_enum++], RIO_STR_LEN, "%s", vals[i]);
    add(&sk[n], e);
    add(&sk[n], spec("free", RIO_ARG_STRING, 1));
    n++;
    sk[n] = skill("never", "a required argument with an empty range: left out");
    add(&sk[n], ranged("k", RIO_ARG_INTEGER, 0, 0.2, 0.8));
    n++;
    sk[n] = skill("mid", "optional, required, optional, required");
    add(&sk[n], ranged("o1", RIO_ARG_INTEGER, 1, 9, 10));
    add(&sk[n], ranged("r1", RIO_ARG_INTEGER, 0, -100, -90));
    add(&sk[n], ranged("o2", RIO_ARG_NUMBER, 1, 99.99, 100));
    add(&sk[n], ranged("r2", RIO_ARG_NUMBER, 0, -0.01, 0.01));
    n++;
    return n;
}

static void test_registries(void) {
    char err[EM_ERR_LEN];
    rio_hello hello;
    for (uint64_t seed = 1; seed <= 4; seed++) {
        agent_skills *reg = sim_registry(seed, -1, &hello);
        char label[32];
        snprintf(label, sizeof label, "sim seed %llu", (unsigned long long)seed);
        if (reg) exercise(label, reg, seed, 300);
        agent_skills_free(reg);
        free(hello.skills);
    }
    for (int d = 0; d <= 3; d++) {
        agent_skills *reg = sim_registry(7, d, &hello);
        char label[32];
        snprintf(label, sizeof label, "sim decimals %d", d);
        if (reg) exercise(label, reg, 100 + (uint64_t)d, 100);
        agent_skills_free(reg);
        free(hello.skills);
    }

    rio_skill sk[16];
    int n = edge_skills(sk);
    agent_skills *reg = agent_skills_create(sk, n, -1, err);
    CHECK(reg != NULL, "edge skills: %s", err);
    if (reg) {
        const char *notes = agent_skills_notes(reg);
        CHECK(strstr(notes, "skill \"never\" is left out") != NULL, "notes: %s", notes);
        CHECK(strstr(notes, "optional argument \"z\" is left out") != NULL, "notes: %s", notes);
        CHECK(strstr(notes, "not valid UTF-8") != NULL, "notes: %s", notes);
        CHECK(!agent_skills_usable(reg, agent_skills_find(reg, "never")) && agent_skills_n_usable(reg) == n - 1,
              "\"never\" must be unusable");
        const agent_arg_dom *d = agent_skills_dom(reg, agent_skills_find(reg, "quote"), 0);
        CHECK(d->n_enum == 8, "quote: %d writable values, expected 8 (one duplicate, one bad UTF-8 left out)", d->n_enum);
        exercise("edge skills", reg, 5, 1500);
        char *text = NULL;
        CHECK(agent_skills_describe(reg, &text, err) == EM_OK, "%s", err);
        if (text) {
            printf("%s", text);
            CHECK(strstr(text, "stop()  no arguments\n") != NULL, "describe: stop");
            CHECK(strstr(text, "all.optional(a?: bool, b?: integer -3..3, c?: string)") != NULL, "describe: all.optional");
            CHECK(strstr(text, "v: \"plain\" | \"say \\\"hi\\\"\" | \"back\\\\slash\" | \"caf\\u00e9\" | \"\\ud83d\\ude42\" | \"tab\\u0009here\" | \"\" | \"p\"") != NULL,
                  "describe: quote");
            CHECK(strstr(text, "never(") == NULL, "describe lists an unusable skill");
            CHECK(strstr(text, "mid(o1?: integer 9..10, r1: integer -100..-90, o2?: number 99.99..100.00, r2: number -0.01..0.01)") != NULL,
                  "describe: mid");
        }
        free(text);
        /* values with escapes parse back to the raw bytes */
        rio_step st;
        const char *line = "quote(v=\"caf\\u00e9\", free=\"a b/c:d.e-f_g\")";
        memset(&st, 0, sizeof st);
        CHECK(agent_plan_parse_step(reg, line, strlen(line), &st, err) == EM_OK, "%s", err);
        CHECK(st.n_args == 2 && !strcmp(st.args[0].str, "caf\xc3\xa9") && !strcmp(st.args[1].str, "a b/c:d.e-f_g"),
              "escaped value: \"%s\"", st.args[0].str);
        agent_skills_free(reg);
    }

    /* nothing usable is refused */
    rio_skill never = skill("never", "");
    add(&never, ranged("k", RIO_ARG_INTEGER, 0, 0.2, 0.8));
    reg = agent_skills_create(&never, 1, -1, err);
    CHECK(!reg && strstr(err, "no skill can be written"), "a registry with no usable skill: %s", err);
    agent_skills_free(reg);
    CHECK(!agent_skills_create(sk, n, 7, err), "7 decimals must be refused");
    rio_skill odd = skill("say hi", "");
    CHECK(!agent_skills_create(&odd, 1, -1, err) && strstr(err, "[A-Za-z0-9_.:-]"), "a bad skill name: %s", err);
    odd = skill("say", "");
    add(&odd, spec("what", RIO_ARG_STRING, 0));
    add(&odd, spec("what", RIO_ARG_BOOL, 0));
    CHECK(!agent_skills_create(&odd, 1, -1, err) && strstr(err, "declared twice"), "an argument twice: %s", err);
    sk[1] = sk[0];
    CHECK(!agent_skills_create(sk, n, -1, err) && strstr(err, "twice"), "a duplicate skill must be refused: %s", err);
}

/* The schema's example hello, from a file, as an agent without a controller loads it. */
static void test_file(void) {
    char err[EM_ERR_LEN], path[] = "/tmp/test_plan_text_XXXXXX";
    const char *hello =
        "{\"v\":\"1.1\",\"type\":\"hello\",\"seq\":1,\"ts\":1732456789000000,\"from\":\"sim\",\"session\":\"sim-5f1c2a\","
        "\"role\":\"controller\",\"skills\":[{\"name\":\"pick\",\"doc\":\"Grasp an object and lift it.\",\"args\":["
        "{\"name\":\"object\",\"type\":\"string\",\"enum\":[\"red_block\",\"blue_block\",\"green_block\"]},{\"name\":"
        "\"speed\",\"type\":\"number\",\"min\":0.1,\"max\":1,\"optional\":true}]},{\"name\":\"place\",\"doc\":\"Put the "
        "held object down on a target.\",\"args\":[{\"name\":\"target\",\"type\":\"string\",\"enum\":[\"blue_bowl\","
        "\"table\"]}]},{\"name\":\"wait\",\"args\":[{\"name\":\"ticks\",\"type\":\"integer\",\"min\":1,\"max\":1000},"
        "{\"name\":\"quiet\",\"type\":\"bool\",\"optional\":true}]}],\"layout\":[\"gripper.x\"],\"cameras\":[\"top\"]}";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    if (fd < 0) return;
    CHECK(write(fd, hello, strlen(hello)) == (ssize_t)strlen(hello), "write");
    close(fd);
    agent_skills *reg = agent_skills_load(path, -1, err);
    CHECK(reg != NULL, "agent_skills_load: %s", err);
    if (reg) {
        char *text = NULL;
        CHECK(agent_skills_describe(reg, &text, err) == EM_OK, "%s", err);
        const char *want =
            "pick(object: \"red_block\" | \"blue_block\" | \"green_block\", speed?: number 0.10..1.00)  Grasp an object and lift it.\n"
            "place(target: \"blue_bowl\" | \"table\")  Put the held object down on a target.\n"
            "wait(ticks: integer 1..1000, quiet?: bool)\n";
        CHECK(text && !strcmp(text, want), "describe:\n%s", text ? text : "(null)");
        free(text);
        exercise("schema example", reg, 9, 500);
        agent_skills_free(reg);
    }
    /* a bare list, and bad files */
    FILE *f = fopen(path, "w");
    fputs("[{\"name\":\"go\",\"args\":[{\"name\":\"to\",\"type\":\"integer\",\"min\":1,\"max\":3}]}]", f);
    fclose(f);
    reg = agent_skills_load(path, -1, err);
    CHECK(reg && agent_skills_count(reg) == 1, "a bare list: %s", err);
    agent_skills_free(reg);
    f = fopen(path, "w");
    fputs("{\"skills\":[{\"name\":\"go\",\"args\":[{\"name\":\"to\",\"type\":\"float\"}]}]}", f);
    fclose(f);
    reg = agent_skills_load(path, -1, err);
    CHECK(!reg && strstr(err, "skills[0].args[0]") && strstr(err, "float"), "a bad type: %s", err);
    f = fopen(path, "w");
    fputs("{\"skills\":[]}", f);
    fclose(f);
    reg = agent_skills_load(path, -1, err);
    CHECK(!reg && strstr(err, "at least one skill"), "no skills: %s", err);
    remove(path);
    reg = agent_skills_load(path, -1, err);
    CHECK(!reg && strstr(err, path), "a missing file: %s", err);
}

/* ---------------------------------------------------------------------------
 * The sim's grammar, parse errors, rendering */

static void test_sim_text(void) {
    char err[EM_ERR_LEN];
    rio_hello hello;
    agent_skills *reg = sim_registry(3, -1, &hello);
    if (!reg) return;
    /* the object names of this world */
    const rio_skill *pick = &agent_skills_all(reg)[agent_skills_find(reg, "pick")];
    const char *obj = pick->args[0].enums[0];
    char *gbnf = NULL;
    CHECK(agent_plan_grammar(reg, 8, &gbnf, err) == EM_OK, "%s", err);
    if (gbnf) {
        printf("--- the sim's plan grammar (seed 3, 8 steps): %zu bytes\n%s---\n", strlen(gbnf), gbnf);
        CHECK(strstr(gbnf, "root ::= step{1,8} \"\\n\"\n") != NULL, "root rule");
        CHECK(strstr(gbnf, "skill3-push ::= \"push(\" (arg3-0-object \", \" arg3-1-direction \", \" arg3-2-distance) \")\"") != NULL,
              "push rule");
        CHECK(strstr(gbnf, "skill7-home ::= \"home(\" \")\"") != NULL, "home rule");
    }
    free(gbnf);
    /* the grammar-as-regex check can fail: the format's decimals are enforced */
    char *g2 = NULL;
    gram g;
    if (agent_plan_grammar(reg, 2, &g2, err) == EM_OK) {
        char *ere = grammar_ere(&g, g2);
        regex_t re;
        CHECK(ere && regcomp(&re, ere, REG_EXTENDED | REG_NOSUB) == 0, "the sim grammar as a regex: %s", g.err);
        if (ere) {
            CHECK(ere_match(&re, "place_at(x=1.50, y=20.00)\nhome()\n\n"), "a valid plan refused");
            CHECK(!ere_match(&re, "place_at(x=1.5, y=20.0)\n\n"), "one decimal accepted");
            CHECK(!ere_match(&re, "place_at(x=1.50, y=9.99)\n\n"), "y below its range accepted");
            CHECK(!ere_match(&re, "home()\nhome()\nhome()\n\n"), "3 steps accepted with max 2");
            CHECK(!ere_match(&re, "home()\n"), "a plan without its empty line accepted");
            regfree(&re);
        }
        free(ere);
    }
    free(g2);
    char *bad_gbnf[] = {"root ::= step\n", "root ::= \"a\" root\n", "root ::= \"a\nx ::= \"b\"\n", "root ::= a\na ::= \"x\"\nb ::= \"y\"\n"};
    for (size_t i = 0; i < sizeof bad_gbnf / sizeof *bad_gbnf; i++) {
        char *ere = grammar_ere(&g, bad_gbnf[i]);
        CHECK(!ere, "the GBNF checker passed a bad grammar: %s", bad_gbnf[i]);
        free(ere);
    }
    char *g1 = NULL;
    CHECK(agent_plan_grammar(reg, 1, &g1, err) == EM_OK && strstr(g1, "root ::= step \"\\n\"\n"), "max_steps 1");
    free(g1);
    CHECK(agent_plan_grammar(reg, 0, &g1, err) == EM_ERR_ARG, "max_steps 0 must be refused");
    CHECK(agent_plan_grammar(reg, RIO_MAX_STEPS + 1, &g1, err) == EM_ERR_ARG, "max_steps 65 must be refused");

    char plan[512];
    snprintf(plan, sizeof plan,
             "pick(object=\"%s\")\nplace_at(x=-12.50, y=40.00)\npush(object=\"%s\", direction=\"left\", distance=20.00)\n"
             "move_to(x=0.00, y=0.00)\nhome()\n\n",
             obj, obj);
    rio_step *steps = NULL;
    int n = 0;
    CHECK(agent_plan_parse(reg, plan, strlen(plan), 8, NULL, &steps, &n, err) == EM_OK, "%s", err);
    if (steps) {
        CHECK(n == 5 && !strcmp(steps[0].step_id, "s1") && !strcmp(steps[4].step_id, "s5") && steps[4].index == 4, "ids");
        CHECK(steps[1].n_args == 2 && steps[1].args[0].type == RIO_ARG_NUMBER && steps[1].args[0].num == -12.5 &&
                  steps[1].args[1].num == 40, "place_at args");
        CHECK(steps[2].args[2].num == 20 && !strcmp(steps[2].args[1].str, "left"), "push args");
        char *text = NULL;
        CHECK(agent_plan_render(reg, steps, n, &text, err) == EM_OK && text && !strcmp(text, plan), "render:\n%s", text);
        free(text);
        char line[256];
        snprintf(plan, sizeof plan, "step 3 pick(object=\"%s\") failed: grasp_slipped", obj);
        agent_step_fate_line(reg, 3, &steps[0], RIO_FB_FAILED, RIO_REASON_GRASP_SLIPPED, line, sizeof line);
        CHECK(!strcmp(line, plan), "fate line: %s", line);
        agent_step_fate_line(reg, 2, &steps[4], RIO_FB_DONE, NULL, line, sizeof line);
        CHECK(!strcmp(line, "step 2 home() done"), "fate line: %s", line);
        /* a step from JSON (numbers untyped, arguments in another order) renders by the registry */
        rio_step js = steps[1];
        rio_arg t = js.args[0];
        js.args[0] = js.args[1], js.args[1] = t;
        js.args[0].type = js.args[1].type = RIO_ARG_NUMBER;
        agent_step_render(reg, &js, line, sizeof line);
        CHECK(!strcmp(line, "place_at(x=-12.50, y=40.00)"), "render by the registry: %s", line);
        agent_step_render(NULL, &js, line, sizeof line);
        CHECK(!strcmp(line, "place_at(y=40, x=-12.5)"), "render without a registry: %s", line);
        js.args[0].num = 40.125;
        agent_step_render(reg, &js, line, sizeof line);
        CHECK(!strcmp(line, "place_at(x=-12.50, y=40.125)"), "a value off the grid is written as it is: %s", line);
    }
    free(steps);

    /* what it costs (printed, not judged): making the grammar, parsing a plan */
    {
        struct timespec t0, t1;
        char *gtext = NULL;
        int reps = 200;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (int r = 0; r < reps; r++) {
            free(gtext);
            gtext = NULL;
            agent_plan_grammar(reg, 16, &gtext, err);
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double g_us = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / 1e3 / reps;
        snprintf(plan, sizeof plan,
                 "pick(object=\"%s\")\nplace_at(x=-12.50, y=40.00)\npush(object=\"%s\", direction=\"left\", distance=20.00)\n"
                 "move_to(x=0.00, y=0.00)\nhome()\n\n", obj, obj);
        reps = 2000;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (int r = 0; r < reps; r++) {
            rio_step *ps = NULL;
            int pn = 0;
            agent_plan_parse(reg, plan, strlen(plan), 8, NULL, &ps, &pn, err);
            free(ps);
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double p_us = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / 1e3 / reps;
        printf("sim grammar: %zu bytes made in %.1f us; a 5-step plan parsed in %.2f us\n", gtext ? strlen(gtext) : 0, g_us, p_us);
        free(gtext);
    }

    /* errors name the line and the column */
    struct { const char *text; const char *want; } bad[] = {
        {"home()\nfly()\n\n", "line 2, column 1: \"fly\" is not a skill"},
        {"home()\nplace_at(x=1.5, y=20.00)\n\n", "line 2, column 15: \"x\": expected 2 decimals, found 1"},
        {"place_at(x=01.00, y=20.00)\n\n", "line 1, column 13: \"x\": a leading zero"},
        {"place_at(x=-0.00, y=20.00)\n\n", "line 1, column 12: \"x\": \"-0\" is written \"0\""},
        {"place_at(x=50.01, y=20.00)\n\n", "line 1, column 12: \"x\": 50.01 is outside -50.00..50.00"},
        {"place_at(y=20.00, x=1.00)\n\n", "line 1, column 10: argument \"x\" of place_at comes before \"y\" and is required"},
        {"place_at(x=1.00)\n\n", "line 1, column 16: argument \"y\" (number) of place_at is required"},
        {"place_at(x=1.00,y=20.00)\n\n", "line 1, column 16: expected \", \" or \")\""},
        {"home() \n\n", "line 1, column 7: expected the end of the line"},
        {"home()\n", "line 2, column 1: the plan does not end with an empty line"},
        {"home()", "line 1, column 7: the line has no newline"},
        {"\n", "line 1, column 1: an empty line before any step"},
        {"", "no steps"},
        {"home()\n\nhome()\n", "line 3, column 1: text after the plan's empty line"},
        {"home()\r\n\n", "line 1, column 7: expected the end of the line"},
        {"push(object=\"nothing\", direction=\"left\", distance=2.00)\n\n", "column 13: \"object\": expected one of"},
        {"home\n\n", "line 1, column 5: expected \"(\" after the skill name"},
        {"home()\nhome()\nhome()\n\n", "line 3, column 1: a step after 2 steps"},
        {"move_to(x=12345678901234.00, y=1.00)\n\n", "more than 13 digits before the point"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        steps = NULL;
        ember_status st = agent_plan_parse(reg, bad[i].text, strlen(bad[i].text), 2, NULL, &steps, &n, err);
        CHECK(st == EM_ERR_FORMAT && strstr(err, bad[i].want) && !steps, "bad plan %zu: got \"%s\", expected \"%s\"", i,
              st ? err : "success", bad[i].want);
        free(steps);
    }
    static const char nul[] = "home\0()\n\n";
    steps = NULL;
    CHECK(agent_plan_parse(reg, nul, sizeof nul - 1, 2, NULL, &steps, &n, err) == EM_ERR_FORMAT &&
              strstr(err, "line 1, column 5: expected \"(\" after the skill name, found byte 0x00"),
          "a NUL byte: %s", err);
    free(steps);
    CHECK(agent_plan_parse(reg, "home()\n\n", 8, 1, "a-very-long-prefix-that-leaves-no-room-for-the-step-number-xxxxxxx",
                           &steps, &n, err) == EM_ERR_ARG, "a long id prefix must be refused");
    agent_skills_free(reg);
    free(hello.skills);
}

int main(void) {
    test_fixed_format();
    test_ranges();
    test_sim_text();
    test_registries();
    test_file();
    return CHECK_DONE();
}
