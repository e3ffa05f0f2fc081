/* plan_range.c - fixed-point numbers as a plan writes them, and the
 * patterns that hold a number to its declared range (agent/plan_text.h).
 *
 * A number with d decimals is the scaled integer n = value * 10^d written
 * as digits with a point before the last d; so a range of values is a range
 * of integers, and a range of integers is a regular language: split it by
 * sign and by digit count, then each fixed-length run [x, y] of digit
 * strings is a few sequences of character classes (the classic
 * construction: equal leading digits are literals; where x and y part,
 * x's tail up to 9..9, the full middle digits, y's tail from 0..0).
 * Ranges reach 10^15, so each length class gives at most about 2 * 15
 * sequences and a whole pattern a few hundred; the sim's ranges give 3-6.
 *
 * Everything here is a pure function of its arguments. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/plan_sbuf.h"
#include "agent/plan_text.h"

/* 10^k for k = 0..18 */
static long long pow10ll(int k) {
    long long p = 1;
    while (k-- > 0) p *= 10;
    return p;
}

#define MAX_SCALED (pow10ll(AGENT_PLAN_MAX_DIGITS) - 1)

int agent_fixed_format(long long n, int decimals, char *buf) {
    char digits[24];
    unsigned long long m = n < 0 ? 0ULL - (unsigned long long)n : (unsigned long long)n;
    int len = 0, o = 0;
    do digits[len++] = (char)('0' + m % 10), m /= 10; /* backwards */
    while (m || len < decimals + 1);
    for (int i = 0; i < len / 2; i++) {
        char t = digits[i];
        digits[i] = digits[len - 1 - i], digits[len - 1 - i] = t;
    }
    if (n < 0) buf[o++] = '-';
    for (int i = 0; i < len; i++) {
        if (decimals > 0 && i == len - decimals) buf[o++] = '.';
        buf[o++] = digits[i];
    }
    buf[o] = 0;
    return o;
}

double agent_fixed_value(long long n, int decimals) {
    char buf[32];
    agent_fixed_format(n, decimals, buf);
    return strtod(buf, NULL);
}

/* The grid point nearest v * 10^d, clamped to one past the digit limit so
 * that the exact search below starts close and stays in range. */
static long long guess(double v, int decimals) {
    double s = v * (double)pow10ll(decimals), lim = (double)MAX_SCALED + 1;
    if (!(s > -lim)) return -MAX_SCALED - 1;
    if (!(s < lim)) return MAX_SCALED + 1;
    return llround(s);
}

int agent_fixed_bounds(int has_range, double min, double max, int decimals, long long *lo, long long *hi) {
    long long a = -MAX_SCALED, b = MAX_SCALED;
    if (has_range) {
        if (isnan(min) || isnan(max) || min > max) return -1;
        /* Judge grid points by the double their text reads as, the value
         * rio_step_check will compare: 0.1 * 100 is 10.000000000000002 in
         * doubles, but "0.10" reads as exactly min = 0.1. */
        long long g = guess(min, decimals);
        if (g < -MAX_SCALED) g = -MAX_SCALED;
        while (g > -MAX_SCALED && agent_fixed_value(g - 1, decimals) >= min) g--;
        while (g <= MAX_SCALED && agent_fixed_value(g, decimals) < min) g++;
        a = g;
        g = guess(max, decimals);
        if (g > MAX_SCALED) g = MAX_SCALED;
        while (g < MAX_SCALED && agent_fixed_value(g + 1, decimals) <= max) g++;
        while (g >= -MAX_SCALED && agent_fixed_value(g, decimals) > max) g--;
        b = g;
    }
    *lo = a;
    *hi = b;
    return a <= b ? 0 : -1;
}

/* ---------------------------------------------------------------------------
 * The pattern: a list of sequences, each of one digit class per digit */

typedef struct seqs {
    int n, cap;
    int neg_from;          /* sequences from here on are negative */
    struct seq {
        int len;                       /* digits */
        char lo[AGENT_PLAN_MAX_DIGITS], hi[AGENT_PLAN_MAX_DIGITS]; /* class of each digit: lo..hi */
    } *s;
    int failed;
} seqs;

static void push(seqs *q, const char *lo, const char *hi, int len) {
    if (q->failed) return;
    if (q->n == q->cap) {
        int cap = q->cap ? q->cap * 2 : 16;
        struct seq *s = realloc(q->s, (size_t)cap * sizeof *s);
        if (!s) {
            q->failed = 1;
            return;
        }
        q->s = s, q->cap = cap;
    }
    struct seq *e = &q->s[q->n++];
    e->len = len;
    memcpy(e->lo, lo, (size_t)len);
    memcpy(e->hi, hi, (size_t)len);
}

/* All digit strings of length len from x to y (x <= y), after the classes
 * already chosen in lo/hi[0..at). */
static void fixed_len(seqs *q, const char *x, const char *y, int len, char *lo, char *hi, int at) {
    if (at == len) {
        push(q, lo, hi, len);
        return;
    }
    if (x[at] == y[at]) {
        lo[at] = hi[at] = x[at];
        fixed_len(q, x, y, len, lo, hi, at + 1);
        return;
    }
    int x_zeros = 1, y_nines = 1;
    for (int i = at + 1; i < len; i++) x_zeros &= x[i] == '0', y_nines &= y[i] == '9';
    char nines[AGENT_PLAN_MAX_DIGITS], zeros[AGENT_PLAN_MAX_DIGITS];
    memset(nines, '9', sizeof nines);
    memset(zeros, '0', sizeof zeros);
    /* x's own first digit, unless x's tail is all zeros (then it joins the middle) */
    if (!x_zeros) {
        memcpy(nines, y, (size_t)at); /* the prefix is shared; only the tail matters */
        lo[at] = hi[at] = x[at];
        fixed_len(q, x, nines, len, lo, hi, at + 1);
    }
    char m_lo = x_zeros ? x[at] : (char)(x[at] + 1), m_hi = y_nines ? y[at] : (char)(y[at] - 1);
    if (m_lo <= m_hi) {
        lo[at] = m_lo, hi[at] = m_hi;
        for (int i = at + 1; i < len; i++) lo[i] = '0', hi[i] = '9';
        push(q, lo, hi, len);
    }
    if (!y_nines) {
        memcpy(zeros, x, (size_t)at);
        lo[at] = hi[at] = y[at];
        fixed_len(q, zeros, y, len, lo, hi, at + 1);
    }
}

/* The texts of p..q (0 <= p <= q), digit strings padded to decimals + 1
 * digits: one length class at a time. */
static void magnitudes(seqs *q, long long p, long long r, int decimals) {
    for (int len = decimals + 1; len <= AGENT_PLAN_MAX_DIGITS; len++) {
        long long c_lo = len == decimals + 1 ? 0 : pow10ll(len - 1), c_hi = pow10ll(len) - 1;
        long long a = p > c_lo ? p : c_lo, b = r < c_hi ? r : c_hi;
        if (a > b) continue;
        char x[24], y[24], lo[AGENT_PLAN_MAX_DIGITS], hi[AGENT_PLAN_MAX_DIGITS];
        for (int i = len - 1; i >= 0; i--) x[i] = (char)('0' + a % 10), a /= 10, y[i] = (char)('0' + b % 10), b /= 10;
        fixed_len(q, x, y, len, lo, hi, 0);
    }
}

/* ---------------------------------------------------------------------------
 * Printing (into plan_sbuf.h's growing string) */

/* One sequence: literal runs ("50.0"), classes ([1-4]), runs of one class
 * with a count ([0-9]{3}); the point goes before the last `decimals` digits. */
static void print_seq(sbuf *b, const struct seq *e, int decimals, agent_pattern_syntax syn) {
    int gbnf = syn == AGENT_PATTERN_GBNF, in_lit = 0, first = 1;
    int point_at = decimals > 0 ? e->len - decimals : -1;
    for (int i = 0; i < e->len;) {
        if (i == point_at || e->lo[i] == e->hi[i]) { /* literal text */
            if (i == point_at) {
                if (gbnf && !in_lit) puts_(b, first ? "\"" : " \""), in_lit = 1;
                puts_(b, gbnf ? "." : "[.]");
                point_at = -1; /* written; the digit at i follows */
                first = 0;
                continue;
            }
            if (gbnf && !in_lit) puts_(b, first ? "\"" : " \""), in_lit = 1;
            put(b, &e->lo[i], 1);
            i++;
            first = 0;
            continue;
        }
        if (in_lit) puts_(b, "\""), in_lit = 0;
        int run = 1;
        while (i + run < e->len && i + run != point_at && e->lo[i + run] == e->lo[i] && e->hi[i + run] == e->hi[i])
            run++;
        char cls[32];
        if (e->lo[i] == '0' && e->hi[i] == '9')
            snprintf(cls, sizeof cls, "%s[0-9]", gbnf && !first ? " " : "");
        else
            snprintf(cls, sizeof cls, "%s[%c-%c]", gbnf && !first ? " " : "", e->lo[i], e->hi[i]);
        puts_(b, cls);
        if (run > 1) {
            snprintf(cls, sizeof cls, "{%d}", run);
            puts_(b, cls);
        }
        i += run;
        first = 0;
    }
    if (in_lit) puts_(b, "\"");
}

static void print_alts(sbuf *b, const seqs *q, int from, int to, int decimals, agent_pattern_syntax syn) {
    const char *bar = syn == AGENT_PATTERN_GBNF ? " | " : "|";
    for (int i = from; i < to; i++) {
        if (i > from) puts_(b, bar);
        print_seq(b, &q->s[i], decimals, syn);
    }
}

ember_status agent_fixed_pattern(long long lo, long long hi, int decimals, agent_pattern_syntax syntax, char **out,
                                 char *err) {
    *out = NULL;
    if (decimals < 0 || decimals > AGENT_PLAN_MAX_DECIMALS)
        return em_err(err, EM_ERR_ARG, "agent_fixed_pattern: %d decimals, expected 0..%d", decimals,
                      AGENT_PLAN_MAX_DECIMALS);
    if (lo > hi || lo < -MAX_SCALED || hi > MAX_SCALED)
        return em_err(err, EM_ERR_ARG, "agent_fixed_pattern: range %lld..%lld is empty or beyond %d digits", lo, hi,
                      AGENT_PLAN_MAX_DIGITS);
    seqs q = {0};
    /* non-negative values first, then the negative ones by magnitude */
    if (hi >= 0) magnitudes(&q, lo > 0 ? lo : 0, hi, decimals);
    q.neg_from = q.n;
    if (lo < 0) magnitudes(&q, hi < 0 ? -hi : 1, -lo, decimals);
    sbuf b = {0};
    int gbnf = syntax == AGENT_PATTERN_GBNF, n_neg = q.n - q.neg_from;
    if (!gbnf) puts_(&b, "^(");
    if (n_neg) {
        puts_(&b, gbnf ? "\"-\" (" : "-(");
        print_alts(&b, &q, q.neg_from, q.n, decimals, syntax);
        puts_(&b, ")");
        if (q.neg_from) puts_(&b, gbnf ? " | " : "|");
    }
    print_alts(&b, &q, 0, q.neg_from, decimals, syntax);
    if (!gbnf) puts_(&b, ")$");
    free(q.s);
    if (q.failed || b.failed || !b.p) {
        free(b.p);
        return em_err(err, EM_ERR_NOMEM, "agent_fixed_pattern: out of memory");
    }
    *out = b.p;
    return EM_OK;
}
