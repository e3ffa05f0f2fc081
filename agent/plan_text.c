/* plan_text.c - plans as text (agent/plan_text.h, agent/PLAN_FORMAT.md):
 * the GBNF grammar compiled from a skill registry, the parser, the
 * renderer, and the skills described for a prompt.
 *
 * The grammar and the parser are written side by side from the same
 * registry domains (agent/skills.h) and must accept the same language;
 * tests/test_plan_text.c checks that by turning the grammar into a regex
 * and comparing verdicts on valid and mutated plans. The grammar is
 * regular: root -> step -> one rule per skill -> one rule per argument,
 * no rule reaches itself, so an engine can compile it to a small DFA.
 *
 * Workload: a grammar is made once per registry (a few KB of text for the
 * sim's 8 skills); a plan is a few lines parsed once; nothing is tuned. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/plan_sbuf.h"
#include "agent/plan_text.h"

/* ---------------------------------------------------------------------------
 * A growing string (plan_sbuf.h), formatted */

static void putf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(sbuf *b, const char *fmt, ...) {
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= sizeof tmp) {
        b->failed = 1; /* every caller's text is short; longer would be a bug */
        return;
    }
    put(b, tmp, (size_t)k);
}

static ember_status finish(sbuf *b, char **out, const char *fn, char *err) {
    if (b->failed || !b->p) {
        free(b->p);
        return em_err(err, EM_ERR_NOMEM, "%s: out of memory", fn);
    }
    *out = b->p;
    return EM_OK;
}

/* ---------------------------------------------------------------------------
 * Strings */

/* Code point of the valid UTF-8 sequence at s (len bytes) in *cp; its
 * length, or 0 when invalid (overlong, surrogate, past U+10FFFF, cut). */
static int utf8_next(const unsigned char *s, size_t len, unsigned *cp) {
    unsigned c = s[0], min;
    int n;
    if (c < 0x80) return *cp = c, 1;
    if ((c & 0xe0) == 0xc0) n = 2, *cp = c & 0x1f, min = 0x80;
    else if ((c & 0xf0) == 0xe0) n = 3, *cp = c & 0x0f, min = 0x800;
    else if ((c & 0xf8) == 0xf0) n = 4, *cp = c & 0x07, min = 0x10000;
    else return 0;
    if ((size_t)n > len) return 0;
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        *cp = (*cp << 6) | (s[i] & 0x3f);
    }
    if (*cp < min || *cp > 0x10ffff || (*cp >= 0xd800 && *cp <= 0xdfff)) return 0;
    return n;
}

/* Appends to out (n bytes) as far as it fits, counting every byte asked. */
typedef struct cbuf {
    char *out;
    size_t n, len;
} cbuf;

static void cput(cbuf *c, const char *s, size_t k) {
    for (size_t i = 0; i < k; i++, c->len++)
        if (c->len + 1 < c->n) c->out[c->len] = s[i];
    if (c->n) c->out[c->len < c->n ? c->len : c->n - 1] = 0;
}

int agent_json_quote(const char *s, char *out, size_t n) {
    cbuf c = {out, n, 0};
    int valid = 1;
    size_t len = strlen(s);
    cput(&c, "\"", 1);
    for (size_t i = 0; i < len;) {
        unsigned char ch = (unsigned char)s[i];
        unsigned cp;
        char e[16];
        if (ch == '"' || ch == '\\') {
            e[0] = '\\', e[1] = (char)ch;
            cput(&c, e, 2);
            i++;
        } else if (ch >= 0x20 && ch < 0x7f) {
            cput(&c, (const char *)&ch, 1);
            i++;
        } else {
            int k = utf8_next((const unsigned char *)s + i, len - i, &cp);
            if (!k) valid = 0, k = 1, cp = ch; /* a bad byte, for logs only */
            if (cp > 0xffff)
                snprintf(e, sizeof e, "\\u%04x\\u%04x", 0xd800 + ((cp - 0x10000) >> 10),
                         0xdc00 + ((cp - 0x10000) & 0x3ff));
            else
                snprintf(e, sizeof e, "\\u%04x", cp);
            cput(&c, e, strlen(e));
            i += (size_t)k;
        }
    }
    cput(&c, "\"", 1);
    return valid ? (int)c.len : -1;
}

/* s as a GBNF literal's body: `"` and `\` escaped (all our literals are ASCII). */
static void put_lit(sbuf *b, const char *s) {
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            put(b, e, 2);
        } else if (c < 0x20 || c >= 0x7f) {
            putf(b, "\\x%02x", c);
        } else {
            put(b, (const char *)&c, 1);
        }
    }
}

/* A rule name's readable tail: GBNF names are [a-zA-Z0-9-], so other
 * bytes become '-' (the rule's numbered prefix keeps names unique). */
static void put_mangled(sbuf *b, const char *s) {
    for (; *s; s++) {
        char c = *s;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        put(b, ok ? &c : "-", 1);
    }
}

/* Skill and argument names: the schema's [A-Za-z0-9_.:-] (agent_skills_create checks them). */
static int name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == ':' || c == '-';
}

static int str_char_ok(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ' ' || c == '_' ||
           c == '.' || c == ':' || c == '/' || c == '-';
}

/* ---------------------------------------------------------------------------
 * The grammar */

/* Usable arguments of skill i in declared order into u; their count. */
static int usable_args(const agent_skills *reg, int i, int *u) {
    const rio_skill *sk = &agent_skills_all(reg)[i];
    int m = 0;
    for (int a = 0; a < sk->n_args; a++)
        if (agent_skills_dom(reg, i, a)->usable) u[m++] = a;
    return m;
}

static void put_arg_rule_name(sbuf *b, int i, int a, const char *name) {
    putf(b, "arg%d-%d-", i, a);
    put_mangled(b, name);
}

static ember_status arg_rule(sbuf *b, const agent_skills *reg, int i, int a, char *err) {
    const rio_arg_spec *sp = &agent_skills_all(reg)[i].args[a];
    const agent_arg_dom *d = agent_skills_dom(reg, i, a);
    put_arg_rule_name(b, i, a, sp->name);
    put(b, " ::= \"", 6);
    put_lit(b, sp->name);
    put(b, "=\" ", 3);
    switch (sp->type) {
    case RIO_ARG_NUMBER:
    case RIO_ARG_INTEGER: {
        char *pat = NULL;
        ember_status st = agent_fixed_pattern(d->lo, d->hi, d->decimals, AGENT_PATTERN_GBNF, &pat, err);
        if (st) return st;
        putf(b, "(");
        put(b, pat, strlen(pat));
        putf(b, ")");
        free(pat);
        break;
    }
    case RIO_ARG_STRING:
        if (d->n_enum) {
            put(b, "(", 1);
            for (int k = 0; k < d->n_enum; k++) {
                char q[AGENT_PLAN_QUOTED_LEN];
                agent_json_quote(sp->enums[d->enum_idx[k]], q, sizeof q);
                put(b, k ? " | \"" : "\"", k ? 4 : 1);
                put_lit(b, q);
                put(b, "\"", 1);
            }
            put(b, ")", 1);
        } else {
            putf(b, "\"\\\"\" [" AGENT_PLAN_STR_CHARS "]{0,%d} \"\\\"\"", AGENT_PLAN_STR_MAX);
        }
        break;
    case RIO_ARG_BOOL: put(b, "(\"true\" | \"false\")", 18); break;
    }
    put(b, "\n", 1);
    return EM_OK;
}

/* The argument list of skill i: the declared order, required ones present,
 * optional ones may be left out, ", " between. Alternatives by which
 * argument comes first (one that only optional ones precede), each
 * followed by the rest in order, the optional ones in ( )?. */
static void skill_rule(sbuf *b, const agent_skills *reg, int i) {
    const rio_skill *sk = &agent_skills_all(reg)[i];
    int u[RIO_MAX_ARGS], m = usable_args(reg, i, u), first_req = m;
    for (int k = m - 1; k >= 0; k--)
        if (!sk->args[u[k]].optional) first_req = k;
    putf(b, "skill%d-", i);
    put_mangled(b, sk->name);
    put(b, " ::= \"", 6);
    put_lit(b, sk->name);
    put(b, "(\"", 2);
    if (m) {
        put(b, " (", 2);
        int last_first = first_req < m ? first_req : m - 1;
        for (int k = 0; k <= last_first; k++) {
            if (k) put(b, " | ", 3);
            put_arg_rule_name(b, i, u[k], sk->args[u[k]].name);
            for (int j = k + 1; j < m; j++) {
                int opt = sk->args[u[j]].optional;
                put(b, opt ? " (\", \" " : " \", \" ", opt ? 7 : 6);
                put_arg_rule_name(b, i, u[j], sk->args[u[j]].name);
                if (opt) put(b, ")?", 2);
            }
        }
        put(b, first_req == m ? ")?" : ")", first_req == m ? 2 : 1);
    }
    put(b, " \")\"\n", 5);
}

ember_status agent_plan_grammar(const agent_skills *reg, int max_steps, char **gbnf, char *err) {
    *gbnf = NULL;
    if (max_steps < 1 || max_steps > RIO_MAX_STEPS)
        return em_err(err, EM_ERR_ARG, "agent_plan_grammar: max_steps %d, expected 1..%d", max_steps, RIO_MAX_STEPS);
    sbuf b = {0};
    int n = agent_skills_count(reg);
    putf(&b,
         "# Ember plan grammar (agent/PLAN_FORMAT.md): %d of %d skills, 1..%d steps, numbers with %d decimals.\n"
         "# One step per line, an empty line ends the plan.\n",
         agent_skills_n_usable(reg), n, max_steps, agent_skills_decimals(reg));
    if (max_steps == 1)
        putf(&b, "root ::= step \"\\n\"\n");
    else
        putf(&b, "root ::= step{1,%d} \"\\n\"\n", max_steps);
    put(&b, "step ::= (", 10);
    for (int i = 0, first = 1; i < n; i++) {
        if (!agent_skills_usable(reg, i)) continue;
        if (!first) put(&b, " | ", 3);
        putf(&b, "skill%d-", i);
        put_mangled(&b, agent_skills_all(reg)[i].name);
        first = 0;
    }
    put(&b, ") \"\\n\"\n", 7);
    for (int i = 0; i < n; i++) {
        if (!agent_skills_usable(reg, i)) continue;
        skill_rule(&b, reg, i);
        int u[RIO_MAX_ARGS], m = usable_args(reg, i, u);
        for (int k = 0; k < m; k++) {
            ember_status st = arg_rule(&b, reg, i, u[k], err);
            if (st) {
                free(b.p);
                return st;
            }
        }
    }
    return finish(&b, gbnf, "agent_plan_grammar", err);
}

/* ---------------------------------------------------------------------------
 * The parser: the grammar's language, with errors that name the column */

typedef struct lex {
    const char *s;
    size_t len, at;
    int line; /* for messages; 0: a single step line */
    char *err;
} lex;

static ember_status fail(lex *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static ember_status fail(lex *x, const char *fmt, ...) {
    char why[EM_ERR_LEN / 2], where[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    if (x->line)
        snprintf(where, sizeof where, "line %d, column %zu", x->line, x->at + 1);
    else
        snprintf(where, sizeof where, "column %zu", x->at + 1);
    return em_err(x->err, EM_ERR_FORMAT, "agent_plan_parse: %s: %s", where, why);
}

static int peek(const lex *x) { return x->at < x->len ? (unsigned char)x->s[x->at] : -1; }

static int eat(lex *x, const char *lit) {
    size_t k = strlen(lit);
    if (x->len - x->at < k || memcmp(x->s + x->at, lit, k)) return 0;
    x->at += k;
    return 1;
}

/* What is at the cursor, for messages: `"abc..."` or "the end of the line". */
static const char *seen(const lex *x, char *buf, size_t n) {
    if (x->at >= x->len) return "the end of the line";
    size_t k = 0;
    while (x->at + k < x->len && k < 12 && (unsigned char)x->s[x->at + k] >= 0x20 && x->s[x->at + k] != 0x7f) k++;
    if (!k) {
        snprintf(buf, n, "byte 0x%02x", (unsigned char)x->s[x->at]);
        return buf;
    }
    snprintf(buf, n, "\"%.*s%s\"", (int)k, x->s + x->at, x->at + k < x->len ? "..." : "");
    return buf;
}

static ember_status parse_fixed(lex *x, const rio_arg_spec *sp, const agent_arg_dom *d, rio_arg *out) {
    size_t start = x->at;
    char text[40], sb[40];
    int neg = eat(x, "-"), n_int = 0, n_frac = 0;
    long long m = 0;
    while (peek(x) >= '0' && peek(x) <= '9') {
        if (n_int == 1 && x->s[x->at - 1] == '0') return fail(x, "\"%s\": a leading zero", sp->name);
        if (n_int == AGENT_PLAN_MAX_DIGITS - d->decimals)
            return fail(x, "\"%s\": more than %d digits before the point", sp->name,
                        AGENT_PLAN_MAX_DIGITS - d->decimals);
        m = m * 10 + (peek(x) - '0');
        x->at++, n_int++;
    }
    if (!n_int) return fail(x, "\"%s\": expected a digit, found %s", sp->name, seen(x, sb, sizeof sb));
    if (d->decimals > 0) {
        if (!eat(x, "."))
            return fail(x, "\"%s\": expected \".\" and %d decimals, found %s", sp->name, d->decimals,
                        seen(x, sb, sizeof sb));
        while (peek(x) >= '0' && peek(x) <= '9' && n_frac < d->decimals) {
            m = m * 10 + (peek(x) - '0');
            x->at++, n_frac++;
        }
        if (n_frac < d->decimals)
            return fail(x, "\"%s\": expected %d decimals, found %d", sp->name, d->decimals, n_frac);
    }
    if (peek(x) == '.' || (peek(x) >= '0' && peek(x) <= '9')) {
        const char *why = d->decimals                    ? "more decimals than the format's"
                          : sp->type == RIO_ARG_INTEGER ? "an integer has no point"
                                                         : "numbers have no point with 0 decimals";
        return fail(x, "\"%s\": %s", sp->name, why);
    }
    if (neg && m == 0) return x->at = start, fail(x, "\"%s\": \"-0\" is written \"0\"", sp->name);
    long long n = neg ? -m : m;
    if (n < d->lo || n > d->hi) {
        char lo[32], hi[32];
        agent_fixed_format(d->lo, d->decimals, lo);
        agent_fixed_format(d->hi, d->decimals, hi);
        int k = (int)(x->at - start);
        x->at = start;
        return fail(x, "\"%s\": %.*s is outside %s..%s", sp->name, k, x->s + start, lo, hi);
    }
    agent_fixed_format(n, d->decimals, text);
    out->type = sp->type;
    out->num = strtod(text, NULL);
    return EM_OK;
}

static ember_status parse_value(lex *x, const rio_arg_spec *sp, const agent_arg_dom *d, rio_arg *out) {
    char sb[40];
    switch (sp->type) {
    case RIO_ARG_NUMBER:
    case RIO_ARG_INTEGER: return parse_fixed(x, sp, d, out);
    case RIO_ARG_BOOL:
        out->type = RIO_ARG_BOOL;
        if (eat(x, "true")) return out->boolean = 1, EM_OK;
        if (eat(x, "false")) return out->boolean = 0, EM_OK;
        return fail(x, "\"%s\": expected true or false, found %s", sp->name, seen(x, sb, sizeof sb));
    case RIO_ARG_STRING:
        out->type = RIO_ARG_STRING;
        if (d->n_enum) {
            /* Quoted strings end at their first unescaped quote, so no
             * candidate is a prefix of another: at most one matches. */
            for (int k = 0; k < d->n_enum; k++) {
                char q[AGENT_PLAN_QUOTED_LEN];
                agent_json_quote(sp->enums[d->enum_idx[k]], q, sizeof q);
                if (eat(x, q)) {
                    snprintf(out->str, sizeof out->str, "%s", sp->enums[d->enum_idx[k]]);
                    return EM_OK;
                }
            }
            char list[160];
            size_t used = 0;
            int k = 0;
            list[0] = 0;
            for (; k < d->n_enum && used + 40 < sizeof list; k++)
                used += (size_t)snprintf(list + used, sizeof list - used, "%s\"%.30s\"", k ? ", " : "",
                                         sp->enums[d->enum_idx[k]]);
            return fail(x, "\"%s\": expected one of %s%s, found %s", sp->name, list, k < d->n_enum ? ", ..." : "",
                        seen(x, sb, sizeof sb));
        }
        if (!eat(x, "\""))
            return fail(x, "\"%s\": expected a string in quotes, found %s", sp->name, seen(x, sb, sizeof sb));
        size_t k = 0;
        while (peek(x) >= 0 && str_char_ok((char)peek(x))) {
            if (k == AGENT_PLAN_STR_MAX)
                return fail(x, "\"%s\": a string holds at most %d bytes", sp->name, AGENT_PLAN_STR_MAX);
            out->str[k++] = x->s[x->at++];
        }
        out->str[k] = 0;
        if (!eat(x, "\""))
            return fail(x, "\"%s\": %s is not allowed in a string (only [" AGENT_PLAN_STR_CHARS "])", sp->name,
                        seen(x, sb, sizeof sb));
        return EM_OK;
    }
    return fail(x, "\"%s\": unknown type %d", sp->name, (int)sp->type);
}

static ember_status parse_step(const agent_skills *reg, lex *x, rio_step *st) {
    char sb[40], name[RIO_NAME_LEN];
    size_t k = 0, start = x->at;
    while (peek(x) >= 0 && name_char((char)peek(x)) && k < RIO_NAME_LEN - 1) name[k++] = x->s[x->at++];
    name[k] = 0;
    int i = agent_skills_find(reg, name);
    if (i < 0 || !agent_skills_usable(reg, i)) {
        x->at = start;
        if (!k) return fail(x, "expected a skill name, found %s", seen(x, sb, sizeof sb));
        return fail(x, "\"%s\" is not a skill one can write in a plan", name);
    }
    if (peek(x) != '(') return fail(x, "expected \"(\" after the skill name, found %s", seen(x, sb, sizeof sb));
    x->at++; /* ( */
    const rio_skill *sk = &agent_skills_all(reg)[i];
    snprintf(st->skill, sizeof st->skill, "%s", sk->name);
    st->n_args = 0;
    int next = 0; /* the first declared argument that may still come */
    while (!eat(x, ")")) {
        if (st->n_args && !eat(x, ", "))
            return fail(x, "expected \", \" or \")\", found %s", seen(x, sb, sizeof sb));
        size_t at = x->at;
        k = 0;
        while (peek(x) >= 0 && name_char((char)peek(x)) && k < RIO_NAME_LEN - 1) name[k++] = x->s[x->at++];
        name[k] = 0;
        int a = -1;
        for (int j = next; j < sk->n_args && a < 0; j++)
            if (!strcmp(sk->args[j].name, name) && agent_skills_dom(reg, i, j)->usable) a = j;
        x->at = at;
        if (a < 0 || x->at + k >= x->len || x->s[x->at + k] != '=') {
            for (int j = next; j < sk->n_args; j++)
                if (!sk->args[j].optional)
                    return fail(x, "expected argument \"%s\" of %s (declared order), found %s", sk->args[j].name,
                                sk->name, seen(x, sb, sizeof sb));
            return fail(x, "expected an optional argument of %s in declared order, or \")\", found %s", sk->name,
                        seen(x, sb, sizeof sb));
        }
        for (int j = next; j < a; j++)
            if (!sk->args[j].optional)
                return fail(x, "argument \"%s\" of %s comes before \"%s\" and is required", sk->args[j].name,
                            sk->name, name);
        x->at += k + 1;
        rio_arg *out = &st->args[st->n_args];
        memset(out, 0, sizeof *out);
        snprintf(out->name, sizeof out->name, "%s", sk->args[a].name);
        ember_status rc = parse_value(x, &sk->args[a], agent_skills_dom(reg, i, a), out);
        if (rc) return rc;
        st->n_args++;
        next = a + 1;
    }
    for (int j = next; j < sk->n_args; j++)
        if (!sk->args[j].optional) {
            x->at--;
            return fail(x, "argument \"%s\" (%s) of %s is required", sk->args[j].name,
                        rio_arg_type_name(sk->args[j].type), sk->name);
        }
    if (x->at != x->len) return fail(x, "expected the end of the line after \")\", found %s", seen(x, sb, sizeof sb));
    return EM_OK;
}

ember_status agent_plan_parse_step(const agent_skills *reg, const char *line, size_t len, rio_step *st, char *err) {
    lex x = {line, len, 0, 0, err};
    return parse_step(reg, &x, st);
}

ember_status agent_plan_parse(const agent_skills *reg, const char *text, size_t len, int max_steps,
                              const char *id_prefix, rio_step **steps, int *n_steps, char *err) {
    *steps = NULL;
    *n_steps = 0;
    if (max_steps < 1 || max_steps > RIO_MAX_STEPS)
        return em_err(err, EM_ERR_ARG, "agent_plan_parse: max_steps %d, expected 1..%d", max_steps, RIO_MAX_STEPS);
    if (!id_prefix) id_prefix = "s";
    char id[RIO_ID_LEN + 16];
    if (snprintf(id, sizeof id, "%s%d", id_prefix, max_steps) >= RIO_ID_LEN)
        return em_err(err, EM_ERR_ARG, "agent_plan_parse: id prefix \"%.40s...\" leaves no room for a step number",
                      id_prefix);
    rio_step *s = calloc((size_t)max_steps, sizeof *s);
    if (!s) return em_err(err, EM_ERR_NOMEM, "agent_plan_parse: out of memory for %d steps", max_steps);
    size_t at = 0;
    int n = 0, line = 1, ended = 0;
    ember_status rc = EM_OK;
    while (at < len && !ended) {
        const char *nl = memchr(text + at, '\n', len - at);
        size_t end = nl ? (size_t)(nl - text) : len;
        lex x = {text + at, end - at, 0, line, err};
        if (!nl) {
            x.at = x.len;
            rc = fail(&x, "the line has no newline; a plan is step lines, each ending in \"\\n\", then an empty line");
            goto done;
        }
        if (end == at) {
            if (!n) {
                rc = fail(&x, "an empty line before any step; a plan has 1..%d steps", max_steps);
                goto done;
            }
            ended = 1;
        } else if (n == max_steps) {
            rc = fail(&x, "a step after %d steps; a plan has at most %d, then an empty line", max_steps, max_steps);
            goto done;
        } else {
            if ((rc = parse_step(reg, &x, &s[n]))) goto done;
            snprintf(s[n].step_id, sizeof s[n].step_id, "%s%d", id_prefix, n + 1);
            s[n].index = n;
            n++;
        }
        at = end + 1;
        line++;
    }
    if (!ended) {
        lex x = {"", 0, 0, line, err};
        if (n)
            rc = fail(&x, "the plan does not end with an empty line");
        else
            rc = fail(&x, "no steps; a plan has 1..%d steps then an empty line", max_steps);
    } else if (at != len) {
        lex x = {text + at, len - at, 0, line, err};
        rc = fail(&x, "text after the plan's empty line");
    }
done:
    if (rc) {
        free(s);
        return rc;
    }
    *steps = s;
    *n_steps = n;
    return EM_OK;
}

/* ---------------------------------------------------------------------------
 * Rendering */

/* v as plan text with d decimals: fixed point when v
 * is that grid point exactly, else the shortest %g that reads back as v. */
static void put_num(sbuf *b, double v, int d) {
    double lim = 1e15;
    if (isfinite(v) && fabs(v) * pow(10, d) < lim) {
        long long n = llround(v * pow(10, d));
        if (agent_fixed_value(n, d) == v) {
            char text[32];
            put(b, text, (size_t)agent_fixed_format(n, d, text));
            return;
        }
    }
    for (int prec = 15; prec <= 17; prec++) {
        char text[40];
        snprintf(text, sizeof text, "%.*g", prec, v);
        if (prec == 17 || strtod(text, NULL) == v) {
            put(b, text, strlen(text));
            return;
        }
    }
}

static void put_value(sbuf *b, const rio_arg *a, const rio_arg_spec *sp, int decimals) {
    rio_arg_type t = a->type;
    switch (t) {
    case RIO_ARG_NUMBER:
    case RIO_ARG_INTEGER: {
        int integer = sp ? sp->type == RIO_ARG_INTEGER : t == RIO_ARG_INTEGER;
        put_num(b, a->num, integer ? 0 : sp ? decimals : 0);
        break;
    }
    case RIO_ARG_STRING: {
        char q[AGENT_PLAN_QUOTED_LEN];
        char s[RIO_STR_LEN];
        snprintf(s, sizeof s, "%s", a->str);
        agent_json_quote(s, q, sizeof q);
        put(b, q, strlen(q));
        break;
    }
    case RIO_ARG_BOOL: put(b, a->boolean ? "true" : "false", a->boolean ? 4 : 5); break;
    default: putf(b, "?%d", (int)t);
    }
}

/* Without a registry (or a step with no number decimals to go by) numbers
 * are written as themselves: the shortest form that reads back. */
static void render_step(sbuf *b, const agent_skills *reg, const rio_step *st) {
    char skill[RIO_NAME_LEN];
    snprintf(skill, sizeof skill, "%s", st->skill);
    int i = reg ? agent_skills_find(reg, skill) : -1, n_args = st->n_args, first = 1;
    if (n_args < 0) n_args = 0;
    if (n_args > RIO_MAX_ARGS) n_args = RIO_MAX_ARGS;
    put(b, skill, strlen(skill));
    put(b, "(", 1);
    int done[RIO_MAX_ARGS] = {0};
    if (i >= 0) {
        const rio_skill *sk = &agent_skills_all(reg)[i];
        for (int k = 0; k < sk->n_args; k++)
            for (int j = 0; j < n_args; j++) {
                if (done[j] || strncmp(st->args[j].name, sk->args[k].name, RIO_NAME_LEN)) continue;
                putf(b, "%s%.31s=", first ? "" : ", ", st->args[j].name);
                put_value(b, &st->args[j], &sk->args[k], agent_skills_decimals(reg));
                done[j] = 1, first = 0;
                break;
            }
    }
    for (int j = 0; j < n_args; j++) {
        if (done[j]) continue;
        putf(b, "%s%.31s=", first ? "" : ", ", st->args[j].name);
        put_value(b, &st->args[j], NULL, 0);
        first = 0;
    }
    put(b, ")", 1);
}

int agent_step_render(const agent_skills *reg, const rio_step *st, char *out, size_t n) {
    sbuf b = {0};
    render_step(&b, reg, st);
    int len = b.failed ? -1 : (int)b.n;
    if (n) snprintf(out, n, "%s", b.p && !b.failed ? b.p : "");
    free(b.p);
    return len;
}

ember_status agent_plan_render(const agent_skills *reg, const rio_step *steps, int n_steps, char **text, char *err) {
    sbuf b = {0};
    *text = NULL;
    for (int i = 0; i < n_steps; i++) {
        render_step(&b, reg, &steps[i]);
        put(&b, "\n", 1);
    }
    put(&b, "\n", 1);
    return finish(&b, text, "agent_plan_render", err);
}

int agent_step_fate_line(const agent_skills *reg, int number, const rio_step *st, rio_fb_status status,
                         const char *reason, char *out, size_t n) {
    sbuf b = {0};
    putf(&b, "step %d ", number);
    render_step(&b, reg, st);
    putf(&b, " %s", rio_fb_status_name(status));
    if (status == RIO_FB_FAILED) putf(&b, ": %.31s", reason && *reason ? reason : "unknown");
    int len = b.failed ? -1 : (int)b.n;
    if (n) snprintf(out, n, "%s", b.p && !b.failed ? b.p : "");
    free(b.p);
    return len;
}

void agent_goal_unmet_line(const char *goal_text, char *out, size_t n) {
    int has = goal_text && goal_text[0];
    if (n) snprintf(out, n, "the plan ended but the goal is not met%s%s", has ? ": " : "", has ? goal_text : "");
}

/* ---------------------------------------------------------------------------
 * The skills for a prompt */

ember_status agent_skills_describe(const agent_skills *reg, char **text, char *err) {
    sbuf b = {0};
    *text = NULL;
    for (int i = 0; i < agent_skills_count(reg); i++) {
        if (!agent_skills_usable(reg, i)) continue;
        const rio_skill *sk = &agent_skills_all(reg)[i];
        put(&b, sk->name, strlen(sk->name));
        put(&b, "(", 1);
        for (int a = 0, first = 1; a < sk->n_args; a++) {
            const rio_arg_spec *sp = &sk->args[a];
            const agent_arg_dom *d = agent_skills_dom(reg, i, a);
            if (!d->usable) continue;
            putf(&b, "%s%s%s: ", first ? "" : ", ", sp->name, sp->optional ? "?" : "");
            first = 0;
            char lo[32], hi[32];
            switch (sp->type) {
            case RIO_ARG_NUMBER:
            case RIO_ARG_INTEGER:
                agent_fixed_format(d->lo, d->decimals, lo);
                agent_fixed_format(d->hi, d->decimals, hi);
                if (sp->has_range)
                    putf(&b, "%s %s..%s", rio_arg_type_name(sp->type), lo, hi);
                else
                    putf(&b, "%s", rio_arg_type_name(sp->type));
                break;
            case RIO_ARG_STRING:
                if (!d->n_enum) put(&b, "string", 6);
                for (int k = 0; k < d->n_enum; k++) {
                    char q[AGENT_PLAN_QUOTED_LEN];
                    agent_json_quote(sp->enums[d->enum_idx[k]], q, sizeof q);
                    putf(&b, "%s%s", k ? " | " : "", q);
                }
                break;
            case RIO_ARG_BOOL: put(&b, "bool", 4); break;
            }
        }
        put(&b, ")", 1);
        if (sk->doc[0]) {
            put(&b, "  ", 2);
            /* one line per skill: a doc's control bytes become spaces */
            for (const char *c = sk->doc; *c; c++) put(&b, (unsigned char)*c < 0x20 ? " " : c, 1);
        }
        put(&b, "\n", 1);
    }
    return finish(&b, text, "agent_skills_describe", err);
}
