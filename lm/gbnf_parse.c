/* gbnf_parse.c - llama.cpp's GBNF grammar text into the compiled form of
 * grammar_internal.h (see grammar.h for the syntax).
 *
 * The language accepted and the rules generated follow llama.cpp's parser
 * (its grammars/README.md and behaviour): names of [A-Za-z0-9-]; a rule ends
 * at a newline outside parentheses; `|` may be followed by newlines; a
 * repeated item is the last literal, class, reference, group or `.`;
 * repetitions above 2000 are refused; a rule defined twice keeps its last
 * definition. Errors carry the line and column of the offending byte. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar_internal.h"

#define GR_MAX_REPETITION 2000

typedef struct vec_el {
    gr_elem *v;
    uint32_t n, cap;
} vec_el;

typedef struct sym {
    char *name;
    vec_el body;    /* empty (n == 0) until defined */
    int defined;
    const char *first_use; /* where it was first referred to, for "undefined" */
    const char *def_at;    /* where it was defined (NULL: made by the parser) */
} sym;

typedef struct parser {
    const char *src, *end;
    sym *syms;
    uint32_t n_syms, cap_syms;
    gr_set *sets;
    uint32_t n_sets, cap_sets;
    uint32_t *ranges;
    uint32_t n_ranges, cap_ranges;
    char *err;
    int failed;
} parser;

static void where(const parser *p, const char *at, int *line, int *col) {
    *line = 1, *col = 1;
    for (const char *s = p->src; s < at && s < p->end; s++) {
        if (*s == '\n') (*line)++, *col = 1;
        else (*col)++;
    }
}

static void fail(parser *p, const char *at, const char *fmt, ...) {
    if (p->failed) return;
    p->failed = 1;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int line, col;
    where(p, at, &line, &col);
    em_err(p->err, EM_ERR_FORMAT, "grammar: line %d, column %d: %s", line, col, msg);
}

static void nomem(parser *p) {
    if (!p->failed) em_err(p->err, EM_ERR_NOMEM, "grammar: out of memory");
    p->failed = 1;
}

static int grow(parser *p, void **v, uint32_t *cap, uint32_t need, size_t size) {
    if (need <= *cap) return 0;
    uint32_t c = *cap ? *cap : 16;
    while (c < need) c *= 2;
    void *n = realloc(*v, (size_t)c * size);
    if (!n) return nomem(p), -1;
    *v = n, *cap = c;
    return 0;
}

static void push(parser *p, vec_el *r, uint32_t type, uint32_t arg) {
    if (p->failed || grow(p, (void **)&r->v, &r->cap, r->n + 1, sizeof *r->v)) return;
    r->v[r->n++] = (gr_elem){type, arg};
}

static void append(parser *p, vec_el *r, const gr_elem *e, uint32_t n) {
    if (p->failed || grow(p, (void **)&r->v, &r->cap, r->n + n, sizeof *r->v)) return;
    memcpy(r->v + r->n, e, n * sizeof *e);
    r->n += n;
}

static int is_word(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'; }
static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* The rule named name (created on first sight). */
static uint32_t symbol(parser *p, const char *name, size_t len, const char *at) {
    for (uint32_t i = 0; i < p->n_syms; i++)
        if (strlen(p->syms[i].name) == len && !memcmp(p->syms[i].name, name, len)) return i;
    if (grow(p, (void **)&p->syms, &p->cap_syms, p->n_syms + 1, sizeof *p->syms)) return 0;
    sym *s = &p->syms[p->n_syms];
    memset(s, 0, sizeof *s);
    if (!(s->name = strndup(name, len))) return nomem(p), 0;
    s->first_use = at;
    return p->n_syms++;
}

/* A rule made up by the parser (a group or a repetition): "base_N". */
static uint32_t gen_symbol(parser *p, const char *base) {
    char name[128];
    snprintf(name, sizeof name, "%.100s_%u", base, p->n_syms);
    uint32_t id = symbol(p, name, strlen(name), NULL);
    if (!p->failed) p->syms[id].defined = 1;
    return id;
}

static void define(parser *p, uint32_t id, vec_el *body) {
    if (p->failed) return;
    free(p->syms[id].body.v);
    p->syms[id].body = *body;
    p->syms[id].defined = 1;
    memset(body, 0, sizeof *body);
}

static const char *space(const char *s, const char *end, int newline_ok) {
    while (s < end && (*s == ' ' || *s == '\t' || *s == '#' || (newline_ok && (*s == '\r' || *s == '\n')))) {
        if (*s == '#')
            while (s < end && *s != '\r' && *s != '\n') s++;
        else
            s++;
    }
    return s;
}

/* One character of a literal or class: an escape or a UTF-8 sequence
 * (decoded leniently, as llama.cpp's parser does). */
static const char *parse_char(parser *p, const char *s, uint32_t *out) {
    const char *end = p->end;
    if (s >= end) return fail(p, s, "unexpected end of input"), s;
    if (*s == '\\') {
        if (s + 1 >= end) return fail(p, s, "unexpected end of input"), s;
        int hex = 0;
        switch (s[1]) {
        case 'x': hex = 2; break;
        case 'u': hex = 4; break;
        case 'U': hex = 8; break;
        case 't': *out = '\t'; return s + 2;
        case 'r': *out = '\r'; return s + 2;
        case 'n': *out = '\n'; return s + 2;
        case '\\': case '"': case '[': case ']': *out = (uint8_t)s[1]; return s + 2;
        default: return fail(p, s, "unknown escape '\\%c'", s[1]), s;
        }
        uint32_t v = 0;
        const char *h = s + 2;
        for (int i = 0; i < hex; i++, h++) {
            char c = h < end ? *h : 0;
            int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
            if (d < 0) return fail(p, s, "expecting %d hex digits after \\%c", hex, s[1]), s;
            v = v << 4 | (uint32_t)d;
        }
        *out = v;
        return h;
    }
    static const int len_of[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    const uint8_t b = (uint8_t)*s;
    const int len = len_of[b >> 4];
    uint32_t v = b & ((1u << (8 - len)) - 1);
    const char *q = s + 1;
    for (; q < s + len && q < end && *q; q++) v = (v << 6) + ((uint8_t)*q & 0x3F);
    *out = v;
    return q;
}

static uint32_t new_set(parser *p, int neg, int any) {
    if (grow(p, (void **)&p->sets, &p->cap_sets, p->n_sets + 1, sizeof *p->sets)) return 0;
    p->sets[p->n_sets] = (gr_set){(uint32_t)neg, (uint32_t)any, p->n_ranges, 0};
    return p->n_sets++;
}

static void add_range(parser *p, uint32_t set, uint32_t lo, uint32_t hi) {
    if (p->failed || grow(p, (void **)&p->ranges, &p->cap_ranges, 2 * (p->n_ranges + 1), sizeof *p->ranges)) return;
    p->ranges[2 * p->n_ranges] = lo;
    p->ranges[2 * p->n_ranges + 1] = hi;
    p->n_ranges++;
    p->sets[set].n++;
}

static const char *parse_alternates(parser *p, const char *s, const char *name, uint32_t id, int nested, int depth);

/* S{min,max} (max < 0: unbounded) on the item at r[from..): llama.cpp's
 * rewrite: min copies, then nested optional rules (or one recursive rule). */
static void repeat(parser *p, vec_el *r, uint32_t from, long min, long max, const char *name, const char *at) {
    if (p->failed) return;
    if (from == r->n) return fail(p, at, "a repetition needs an item before it");
    if (min > GR_MAX_REPETITION || max > GR_MAX_REPETITION)
        return fail(p, at, "more than %d repetitions", GR_MAX_REPETITION);
    if (max >= 0 && max < min) return fail(p, at, "repetition {%ld,%ld}: the maximum is below the minimum", min, max);
    vec_el item = {0};
    append(p, &item, r->v + from, r->n - from);
    if (min == 0) r->n = from;
    for (long i = 1; i < min; i++) append(p, r, item.v, item.n);
    const long n_opt = max < 0 ? 1 : max - min;
    uint32_t last = 0;
    for (long i = 0; i < n_opt && !p->failed; i++) {
        vec_el rec = {0};
        uint32_t rid = gen_symbol(p, name);
        append(p, &rec, item.v, item.n);
        if (i > 0 || max < 0) push(p, &rec, GR_REF, max < 0 ? rid : last);
        push(p, &rec, GR_ALT, 0);
        push(p, &rec, GR_END, 0);
        define(p, rid, &rec);
        free(rec.v);
        last = rid;
    }
    if (n_opt > 0) push(p, r, GR_REF, last);
    free(item.v);
}

static const char *parse_int(parser *p, const char *s, long *v) {
    *v = 0;
    const char *q = s;
    for (; q < p->end && is_digit(*q); q++) {
        *v = *v * 10 + (*q - '0');
        if (*v > 1000000) *v = 1000000; /* refused as too many repetitions */
    }
    return q;
}

static const char *parse_sequence(parser *p, const char *s, const char *name, vec_el *r, int nested, int depth) {
    const char *end = p->end;
    uint32_t last = r->n;
    while (s < end && !p->failed) {
        const char *at = s;
        if (*s == '"') {
            s++;
            last = r->n;
            while (!p->failed && (s >= end || *s != '"')) {
                if (s >= end) return fail(p, at, "unterminated string literal"), s;
                uint32_t c;
                s = parse_char(p, s, &c);
                uint32_t set = new_set(p, 0, 0);
                add_range(p, set, c, c);
                push(p, r, GR_CHARS, set);
            }
            s = space(s + 1, end, nested);
        } else if (*s == '[') {
            s++;
            int neg = s < end && *s == '^';
            if (neg) s++;
            last = r->n;
            uint32_t set = new_set(p, neg, 0);
            while (!p->failed && (s >= end || *s != ']')) {
                if (s >= end) return fail(p, at, "unterminated character class"), s;
                uint32_t lo, hi;
                s = parse_char(p, s, &lo);
                hi = lo;
                if (s < end && *s == '-' && s + 1 < end && s[1] != ']') s = parse_char(p, s + 1, &hi);
                else if (s < end && *s == '-' && s + 1 >= end) return fail(p, s, "unexpected end of input"), s;
                add_range(p, set, lo, hi);
            }
            push(p, r, GR_CHARS, set);
            s = space(s + 1, end, nested);
        } else if (is_word(*s)) {
            const char *e = s;
            while (e < end && is_word(*e)) e++;
            uint32_t id = symbol(p, s, (size_t)(e - s), s);
            last = r->n;
            push(p, r, GR_REF, id);
            s = space(e, end, nested);
        } else if (*s == '(') {
            if (depth > 200) return fail(p, s, "groups nested too deep"), s;
            s = space(s + 1, end, 1);
            uint32_t sub = gen_symbol(p, name);
            s = parse_alternates(p, s, name, sub, 1, depth + 1);
            last = r->n;
            push(p, r, GR_REF, sub);
            if (p->failed) return s;
            if (s >= end || *s != ')') return fail(p, s, "expecting ')'"), s;
            s = space(s + 1, end, nested);
        } else if (*s == '.') {
            last = r->n;
            push(p, r, GR_CHARS, new_set(p, 0, 1));
            s = space(s + 1, end, nested);
        } else if (*s == '*' || *s == '+' || *s == '?') {
            char op = *s;
            s = space(s + 1, end, nested);
            repeat(p, r, last, op == '+', op == '?' ? 1 : -1, name, at);
        } else if (*s == '{') {
            s = space(s + 1, end, nested);
            long min, max;
            if (s >= end || !is_digit(*s)) return fail(p, s, "expecting an integer after '{'"), s;
            s = space(parse_int(p, s, &min), end, nested);
            if (s < end && *s == '}') {
                max = min;
                s = space(s + 1, end, nested);
            } else if (s < end && *s == ',') {
                s = space(s + 1, end, nested);
                max = -1;
                if (s < end && is_digit(*s)) s = space(parse_int(p, s, &max), end, nested);
                if (s >= end || *s != '}') return fail(p, s, "expecting '}'"), s;
                s = space(s + 1, end, nested);
            } else {
                return fail(p, s, "expecting ',' or '}'"), s;
            }
            repeat(p, r, last, min, max, name, at);
        } else {
            break;
        }
    }
    return s;
}

static const char *parse_alternates(parser *p, const char *s, const char *name, uint32_t id, int nested, int depth) {
    vec_el r = {0};
    s = parse_sequence(p, s, name, &r, nested, depth);
    while (!p->failed && s < p->end && *s == '|') {
        push(p, &r, GR_ALT, 0);
        s = space(s + 1, p->end, 1);
        s = parse_sequence(p, s, name, &r, nested, depth);
    }
    push(p, &r, GR_END, 0);
    define(p, id, &r);
    free(r.v);
    return s;
}

static const char *parse_rule(parser *p, const char *s) {
    const char *end = p->end, *e = s;
    while (e < end && is_word(*e)) e++;
    if (e == s) return fail(p, s, "expecting a rule name"), s;
    char name[128];
    snprintf(name, sizeof name, "%.*s", (int)(e - s < 100 ? e - s : 100), s);
    uint32_t id = symbol(p, s, (size_t)(e - s), NULL);
    if (!p->failed) p->syms[id].def_at = s;
    const char *q = space(e, end, 0);
    if (end - q < 3 || memcmp(q, "::=", 3)) return fail(p, q, "expecting ::= after '%s'", name), q;
    q = space(q + 3, end, 1);
    q = parse_alternates(p, q, name, id, 0, 0);
    if (p->failed) return q;
    if (q < end && *q == '\r') q += (q + 1 < end && q[1] == '\n') ? 2 : 1;
    else if (q < end && *q == '\n') q++;
    else if (q < end) return fail(p, q, "expecting a newline or the end"), q;
    return space(q, end, 1);
}

/* Left recursion (a rule that can reach itself before consuming a
 * character) would make the matcher expand forever: refused, as llama.cpp
 * refuses it. */
static int left_recursive(const lm_grammar *g, uint32_t r, uint8_t *state /* 0 new, 1 in progress, 2 done */,
                          const uint8_t *nullable) {
    if (state[r] == 1) return 1;
    if (state[r] == 2) return 0;
    state[r] = 1;
    int at_start = 1;
    for (uint32_t i = g->rule_start[r];; i++) {
        const gr_elem *e = &g->el[i];
        if (e->type == GR_REF && at_start) {
            if (left_recursive(g, e->arg, state, nullable)) return 1;
            if (!nullable[e->arg]) at_start = 0;
        } else if (e->type <= GR_ALT) {
            at_start = 1;
            if (e->type == GR_END) break;
        } else {
            at_start = 0;
        }
    }
    state[r] = 2;
    return 0;
}

static void free_parser(parser *p) {
    for (uint32_t i = 0; i < p->n_syms; i++) {
        free(p->syms[i].name);
        free(p->syms[i].body.v);
    }
    free(p->syms);
    free(p->sets);
    free(p->ranges);
}

lm_grammar *lm_grammar_parse(const char *text, size_t len, char *err) {
    parser p = {.src = text, .end = text + len, .err = err};
    lm_grammar *g = NULL;
    if (memchr(text, 0, len)) {
        fail(&p, (const char *)memchr(text, 0, len), "a NUL byte in the grammar");
        goto done;
    }
    for (const char *s = space(text, p.end, 1); s < p.end && !p.failed;) s = parse_rule(&p, s);
    if (p.failed) goto done;
    uint32_t root = UINT32_MAX;
    for (uint32_t i = 0; i < p.n_syms; i++) {
        if (!strcmp(p.syms[i].name, "root")) root = i;
        if (!p.syms[i].defined) {
            fail(&p, p.syms[i].first_use ? p.syms[i].first_use : text, "undefined rule '%s'", p.syms[i].name);
            goto done;
        }
    }
    if (root == UINT32_MAX) {
        fail(&p, p.end, "no rule named 'root' (the start rule)");
        goto done;
    }
    if (!(g = calloc(1, sizeof *g))) { nomem(&p); goto done; }
    uint32_t n_el = 0;
    for (uint32_t i = 0; i < p.n_syms; i++) n_el += p.syms[i].body.n;
    g->n_rules = p.n_syms;
    g->root = root;
    g->el = malloc((size_t)(n_el + 1) * sizeof *g->el);
    g->rule_start = malloc((size_t)p.n_syms * sizeof *g->rule_start);
    if (!g->el || !g->rule_start) { nomem(&p); goto done; }
    for (uint32_t i = 0; i < p.n_syms; i++) {
        g->rule_start[i] = g->n_el;
        memcpy(g->el + g->n_el, p.syms[i].body.v, p.syms[i].body.n * sizeof *g->el);
        g->n_el += p.syms[i].body.n;
    }
    g->sets = p.sets, g->n_sets = p.n_sets, p.sets = NULL;
    g->ranges = p.ranges, g->n_ranges = p.n_ranges, p.ranges = NULL;
    /* which rules may match the empty string (to a fixed point), then left recursion */
    uint8_t *nullable = calloc(g->n_rules, 1), *state = calloc(g->n_rules, 1);
    if (!nullable || !state) {
        free(nullable), free(state);
        nomem(&p);
        goto done;
    }
    for (int changed = 1; changed;) {
        changed = 0;
        for (uint32_t r = 0; r < g->n_rules; r++) {
            if (nullable[r]) continue;
            int alt_ok = 1;
            for (uint32_t i = g->rule_start[r];; i++) {
                const gr_elem *e = &g->el[i];
                if (e->type <= GR_ALT) {
                    if (alt_ok) { nullable[r] = 1; changed = 1; break; }
                    alt_ok = 1;
                    if (e->type == GR_END) break;
                } else if (e->type == GR_CHARS || !nullable[e->arg]) {
                    alt_ok = 0;
                }
            }
        }
    }
    for (uint32_t r = 0; r < g->n_rules && !p.failed; r++)
        if (left_recursive(g, r, state, nullable))
            fail(&p, p.syms[r].def_at ? p.syms[r].def_at : text, "rule '%s' is left-recursive", p.syms[r].name);
    free(nullable);
    free(state);
done:
    if (p.failed) {
        lm_grammar_free(g);
        g = NULL;
    }
    free_parser(&p);
    return g;
}

void lm_grammar_free(lm_grammar *g) {
    if (!g) return;
    free(g->el);
    free(g->rule_start);
    free(g->sets);
    free(g->ranges);
    free(g);
}

int lm_grammar_n_rules(const lm_grammar *g) { return (int)g->n_rules; }
