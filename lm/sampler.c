/* sampler.c - see sampler.h. Candidates are (id, logit) pairs; each stage
 * narrows or rescales them, and the last draws one. */
#include "sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct { int32_t id; float logit; float p; } cand;

struct lm_sampler {
    lm_sampler_params p;
    int n_vocab;
    cand *cands;       /* n_vocab */
    int32_t *recent;   /* ring of the last repeat_last_n tokens */
    int n_recent, recent_head;
    uint64_t rng[4];   /* xoshiro256** state */
};

lm_sampler_params lm_sampler_defaults(uint64_t seed) {
    return (lm_sampler_params){0.8f, 40, 0.95f, 0.05f, 1.0f, 64, seed};
}

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(uint64_t s[4]) {
    const uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
    s[2] ^= t; s[3] = rotl(s[3], 45);
    return r;
}

/* Uniform in [0, 1) with 53 random bits. */
static double rng_uniform(uint64_t s[4]) { return (double)(rng_next(s) >> 11) * 0x1.0p-53; }

lm_sampler *lm_sampler_create(const lm_sampler_params *p, int n_vocab, char *err) {
    if (n_vocab < 1) { em_err(err, EM_ERR_ARG, "lm_sampler_create: vocabulary of %d tokens", n_vocab); return NULL; }
    if (p->repeat_last_n < 0 || p->repeat_last_n > (1 << 20) || !(p->repeat_penalty > 0) || isnan(p->temp) ||
        isnan(p->top_p) || isnan(p->min_p)) {
        em_err(err, EM_ERR_ARG, "lm_sampler_create: invalid parameters (repeat_penalty must be > 0, repeat_last_n 0..1048576)");
        return NULL;
    }
    lm_sampler *s = calloc(1, sizeof *s);
    if (!s) goto nomem;
    s->p = *p;
    s->n_vocab = n_vocab;
    s->cands = malloc((size_t)n_vocab * sizeof *s->cands);
    s->recent = malloc((size_t)(p->repeat_last_n > 0 ? p->repeat_last_n : 1) * sizeof *s->recent);
    if (!s->cands || !s->recent) goto nomem;
    uint64_t x = p->seed;
    for (int i = 0; i < 4; i++) s->rng[i] = splitmix64(&x);
    return s;
nomem:
    lm_sampler_free(s);
    em_err(err, EM_ERR_NOMEM, "lm_sampler_create: out of memory");
    return NULL;
}

void lm_sampler_free(lm_sampler *s) {
    if (!s) return;
    free(s->cands);
    free(s->recent);
    free(s);
}

void lm_sampler_accept(lm_sampler *s, int32_t tok) {
    if (s->p.repeat_last_n <= 0) return;
    s->recent[s->recent_head] = tok;
    s->recent_head = (s->recent_head + 1) % s->p.repeat_last_n;
    if (s->n_recent < s->p.repeat_last_n) s->n_recent++;
}

int32_t lm_argmax(const float *logits, int n) {
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (logits[i] > logits[best]) best = i;
    return best;
}

void lm_softmax(const float *logits, float *probs, int n) {
    float mx = logits[lm_argmax(logits, n)];
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
        probs[i] = expf(logits[i] - mx);
        sum += probs[i];
    }
    const float inv = (float)(1.0 / sum);
    for (int i = 0; i < n; i++) probs[i] *= inv;
}

static int cmp_logit_desc(const void *a, const void *b) {
    const cand *x = a, *y = b;
    if (x->logit != y->logit) return x->logit < y->logit ? 1 : -1;
    return x->id - y->id;
}

/* Whether a goes after b in cmp_logit_desc's order (lower logit, or the
 * same logit and a higher id). */
static inline int worse(const cand *a, const cand *b) {
    return a->logit < b->logit || (a->logit == b->logit && a->id > b->id);
}

/* Restore the heap below slot i: c[0..n) with every parent worse than or
 * equal to its children, so c[0] is the worst kept. */
static void sift_down(cand *c, int n, int i) {
    for (;;) {
        int w = i, l = 2 * i + 1, r = l + 1;
        if (l < n && worse(&c[l], &c[w])) w = l;
        if (r < n && worse(&c[r], &c[w])) w = r;
        if (w == i) return;
        cand t = c[i]; c[i] = c[w]; c[w] = t;
        i = w;
    }
}

/* Sort candidates by logit, descending; when only the first k matter, they
 * are chosen first with a heap of the k best seen: most of a vocabulary
 * loses to the heap's worst in one comparison, so the pass over ~50k
 * logits costs about one comparison each (a quickselect moved every
 * candidate a few times: 3% of a 135M model's decode step at top-k 40). */
static void sort_top(cand *c, int n, int k) {
    if (k > 0 && k < n) {
        for (int i = k / 2 - 1; i >= 0; i--) sift_down(c, k, i);
        for (int i = k; i < n; i++)
            if (worse(&c[0], &c[i])) {
                c[0] = c[i];
                sift_down(c, k, 0);
            }
        n = k;
    }
    qsort(c, (size_t)n, sizeof *c, cmp_logit_desc);
}

int32_t lm_sampler_sample(lm_sampler *s, const float *logits) {
    const lm_sampler_params *p = &s->p;
    cand *c = s->cands;
    int n = s->n_vocab;
    for (int i = 0; i < n; i++) c[i] = (cand){i, logits[i], 0.0f};

    /* repetition penalty: each distinct recent token once, as llama.cpp */
    if (p->repeat_penalty != 1.0f) {
        for (int i = 0; i < s->n_recent; i++) {
            int32_t t = s->recent[i];
            if (t < 0 || t >= n) continue;
            int seen = 0;
            for (int j = 0; j < i; j++) seen |= s->recent[j] == t;
            if (seen) continue;
            c[t].logit = c[t].logit > 0 ? c[t].logit / p->repeat_penalty : c[t].logit * p->repeat_penalty;
        }
    }
    if (p->temp <= 0.0f) {
        int32_t best = 0;
        for (int i = 1; i < n; i++)
            if (c[i].logit > c[best].logit) best = i;
        return best;
    }
    /* top-k */
    int k = p->top_k > 0 && p->top_k < n ? p->top_k : n;
    sort_top(c, n, k);
    n = k;
    /* softmax over what is left */
    double sum = 0.0;
    for (int i = 0; i < n; i++) { c[i].p = expf(c[i].logit - c[0].logit); sum += c[i].p; }
    for (int i = 0; i < n; i++) c[i].p = (float)(c[i].p / sum);
    /* top-p: smallest prefix with mass >= top_p (at least one) */
    if (p->top_p < 1.0f) {
        double cum = 0.0;
        int keep = n;
        for (int i = 0; i < n; i++) {
            cum += c[i].p;
            if (cum >= p->top_p) { keep = i + 1; break; }
        }
        n = keep;
    }
    /* min-p: drop candidates below min_p times the best one's probability */
    if (p->min_p > 0.0f) {
        const float thr = c[0].p * p->min_p;
        int keep = 1;
        while (keep < n && c[keep].p >= thr) keep++;
        n = keep;
    }
    /* temperature, then draw */
    sum = 0.0;
    for (int i = 0; i < n; i++) {
        c[i].p = expf((c[i].logit - c[0].logit) / p->temp);
        sum += c[i].p;
    }
    double r = rng_uniform(s->rng) * sum, acc = 0.0;
    for (int i = 0; i < n; i++) {
        acc += c[i].p;
        if (r < acc) return c[i].id;
    }
    return c[n - 1].id;
}
