/* probcmp.c - compare two next-token probability files (Ember's
 * `generate --probs-out`, the peer's `peer.mjs probs`), step by step.
 *
 * File format (little-endian): uint32 n_vocab, then per generated step an int32
 * token (the one chosen, greedily) and float32 probs[n_vocab].
 *
 * Once the chosen tokens differ the two runs see different contexts, so only
 * the steps up to and including the first differing one compare like with like;
 * at that step the top-2 margin of each distribution tells numerics from a bug:
 * a near-tie (margin within the tolerance) can flip on rounding, a wide margin
 * cannot. With --ties such a near-tie divergence is accepted and only the
 * steps up to it are held to tol. With --forced, B was made to follow A's
 * tokens (peer.mjs probs --follow), so every step saw the same context in both:
 * all steps are held to tol, and tokens may differ only at near-ties. Exit status: 0 if the tokens agree at every
 * step (or part at a near-tie, with --ties), max |pA - pB| <= tol,
 * and each file is sane (every distribution finite and summing to 1, every
 * chosen token an argmax); 1 if not; 2 for a usage error or a file that is not
 * a valid probs file. */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/opt.h"

/* No real vocabulary comes near this; a larger count is a corrupt header. */
#define PC_MAX_VOCAB (16u << 20)
/* A float softmax over a large vocabulary sums to 1 within ~1e-5; 1e-3 off is a bug. */
#define PC_SUM_TOL 1e-3

typedef struct pc_file {
    const char *path;
    FILE *f;
    uint32_t n_vocab;
    long long n_steps;
    float *probs; /* the current step */
    int32_t token;
} pc_file;

static uint32_t pc_le32(const unsigned char *b) {
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* Open, read the header and work out the step count from the size. 0 or -1. */
static int pc_open(pc_file *pf, const char *path) {
    memset(pf, 0, sizeof *pf);
    pf->path = path;
    pf->f = fopen(path, "rb");
    if (!pf->f) {
        fprintf(stderr, "probcmp: %s: %s\n", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fileno(pf->f), &st) || !S_ISREG(st.st_mode)) {
        fprintf(stderr, "probcmp: %s: not a regular file\n", path);
        return -1;
    }
    unsigned char hdr[4];
    if (st.st_size < 4 || fread(hdr, 1, 4, pf->f) != 4) {
        fprintf(stderr, "probcmp: %s: %lld bytes, too short for the uint32 n_vocab header\n", path,
                (long long)st.st_size);
        return -1;
    }
    pf->n_vocab = pc_le32(hdr);
    if (pf->n_vocab == 0 || pf->n_vocab > PC_MAX_VOCAB) {
        fprintf(stderr, "probcmp: %s: n_vocab %u, expected 1..%u (not a probs file?)\n", path, pf->n_vocab,
                PC_MAX_VOCAB);
        return -1;
    }
    long long rec = 4 + 4 * (long long)pf->n_vocab;
    long long body = (long long)st.st_size - 4;
    if (body % rec) {
        fprintf(stderr,
                "probcmp: %s: truncated or malformed: %lld bytes after the header is not a whole number of "
                "%lld-byte steps (n_vocab %u)\n",
                path, body, rec, pf->n_vocab);
        return -1;
    }
    pf->n_steps = body / rec;
    pf->probs = malloc((size_t)pf->n_vocab * sizeof *pf->probs);
    if (!pf->probs) {
        fprintf(stderr, "probcmp: %s: out of memory for %u probabilities\n", path, pf->n_vocab);
        return -1;
    }
    return 0;
}

static int pc_read_step(pc_file *pf, long long step) {
    unsigned char tb[4];
    if (fread(tb, 1, 4, pf->f) != 4 || fread(pf->probs, 4, pf->n_vocab, pf->f) != pf->n_vocab) {
        fprintf(stderr, "probcmp: %s: step %lld: short read (%s)\n", pf->path, step,
                ferror(pf->f) ? strerror(errno) : "file changed while reading?");
        return -1;
    }
    /* The records are little-endian; so are the machines Ember runs on. */
    _Static_assert(sizeof(float) == 4, "float32");
    pf->token = (int32_t)pc_le32(tb);
    if (pf->token < 0 || (uint32_t)pf->token >= pf->n_vocab) {
        fprintf(stderr, "probcmp: %s: step %lld: token %d outside 0..%u\n", pf->path, step, pf->token,
                pf->n_vocab - 1);
        return -1;
    }
    return 0;
}

static void pc_close(pc_file *pf) {
    if (pf->f) fclose(pf->f);
    free(pf->probs);
}

/* Top two probabilities and the argmax (lowest id on a tie); sum; finite? */
typedef struct pc_summary {
    int32_t top1;
    float p1, p2;
    double sum;
    bool finite;
} pc_summary;

static pc_summary pc_summarize(const float *p, uint32_t n) {
    pc_summary s = {.top1 = 0, .p1 = -INFINITY, .p2 = -INFINITY, .sum = 0, .finite = true};
    for (uint32_t i = 0; i < n; i++) {
        float v = p[i];
        if (!isfinite(v)) s.finite = false;
        s.sum += v;
        if (v > s.p1) { s.p2 = s.p1; s.p1 = v; s.top1 = (int32_t)i; }
        else if (v > s.p2) s.p2 = v;
    }
    return s;
}

static void usage(FILE *f, const opt_spec *specs) {
    fprintf(f, "usage: probcmp A.bin B.bin [--tol X] [--ties | --forced]\n"
               "  compares two next-token probability files (ember generate --probs-out, peer.mjs probs);\n"
               "  exit 0: same greedy tokens and max |pA-pB| <= tol; 1: they differ; 2: bad input\n");
    opt_usage(f, specs);
}

int main(int argc, char **argv) {
    const char *paths[2] = {NULL, NULL};
    int n_paths = 0;
    double tol = 1e-3;
    bool ties = false, forced = false;
    const opt_spec specs[] = {
        OPT_DOUBLE(NULL, "--tol", "X", &tol, 0, 1, "largest |pA - pB| accepted"),
        OPT_FLAG(NULL, "--ties", &ties,
                 "also accept tokens that part at a near-tie (each file prefers its own choice\n"
                 "over the other's by <= tol), comparing the steps up to that one"),
        OPT_FLAG(NULL, "--forced", &forced,
                 "B followed A's tokens (peer.mjs probs --follow A.bin), so every step saw the\n"
                 "same context: all steps are compared, tokens may differ only at near-ties"),
        OPT_END};
    char err[OPT_ERR_LEN];
    int prc = opt_parse("probcmp", specs, argc, argv, paths, 2, &n_paths, err);
    if (prc == OPT_HELP) { usage(stdout, specs); return 0; }
    if (prc != OPT_OK) { fprintf(stderr, "%s\n", err); return 2; }
    if (n_paths != 2) { usage(stderr, specs); return 2; }

    int rc = 2;
    pc_file a, b;
    memset(&b, 0, sizeof b);
    if (pc_open(&a, paths[0]) || pc_open(&b, paths[1])) goto done;
    if (a.n_vocab != b.n_vocab) {
        fprintf(stderr, "probcmp: n_vocab differs: %s has %u, %s has %u (different models?)\n", a.path, a.n_vocab,
                b.path, b.n_vocab);
        goto done;
    }
    const uint32_t nv = a.n_vocab;
    long long steps = a.n_steps < b.n_steps ? a.n_steps : b.n_steps;
    long long first_div = -1;    /* first step whose tokens differ */
    double max_all = 0, max_pre = 0; /* max |dp| over all steps, and up to first_div inclusive */
    long long max_all_step = -1, max_all_tok = -1;
    double max_sum_err[2] = {0, 0};
    long long nonfinite[2] = {-1, -1}, not_argmax[2] = {-1, -1};
    pc_summary div_sa = {0}, div_sb = {0};
    float div_pa[2] = {0, 0}, div_pb[2] = {0, 0}; /* pA, pB of tokA and tokB at first_div */
    int32_t div_tok[2] = {0, 0};
    long long n_differ = 0;  /* steps whose tokens differ */
    double worst_pref = 0;   /* largest preference for its own token at such a step */

    for (long long s = 0; s < steps; s++) {
        if (pc_read_step(&a, s) || pc_read_step(&b, s)) goto done;
        pc_summary sa = pc_summarize(a.probs, nv), sb = pc_summarize(b.probs, nv);
        const pc_summary *ss[2] = {&sa, &sb};
        const pc_file *fs[2] = {&a, &b};
        for (int k = 0; k < 2; k++) {
            if (!ss[k]->finite && nonfinite[k] < 0) nonfinite[k] = s;
            if (fabs(ss[k]->sum - 1.0) > max_sum_err[k]) max_sum_err[k] = fabs(ss[k]->sum - 1.0);
            /* A greedy choice must be an argmax; a tie may go either way. */
            if (fs[k]->probs[fs[k]->token] < ss[k]->p1 && not_argmax[k] < 0) not_argmax[k] = s;
        }
        double step_max = 0;
        long long step_tok = -1;
        for (uint32_t i = 0; i < nv; i++) {
            double d = fabs((double)a.probs[i] - (double)b.probs[i]);
            if (!(d <= step_max)) { step_max = d; step_tok = i; } /* NaN wins: it is the worst */
        }
        if (!(step_max <= max_all)) { max_all = step_max; max_all_step = s; max_all_tok = step_tok; }
        if (first_div < 0 && !(step_max <= max_pre)) max_pre = step_max;
        if (a.token != b.token) {
            double pa = (double)a.probs[a.token] - a.probs[b.token], pb = (double)b.probs[b.token] - b.probs[a.token];
            n_differ++;
            if (pa > worst_pref) worst_pref = pa;
            if (pb > worst_pref) worst_pref = pb;
        }
        if (first_div < 0 && a.token != b.token) {
            first_div = s;
            div_sa = sa;
            div_sb = sb;
            div_tok[0] = a.token;
            div_tok[1] = b.token;
            div_pa[0] = a.probs[a.token]; div_pa[1] = a.probs[b.token];
            div_pb[0] = b.probs[a.token]; div_pb[1] = b.probs[b.token];
        }
    }

    /* At a near-tie each file prefers its own token over the other's by no more
     * than tol: rounding can decide such a choice, a bug is rarely that polite. */
    bool near_tie = first_div >= 0 && div_pa[0] - div_pa[1] <= tol && div_pb[1] - div_pb[0] <= tol;
    printf("probcmp: A=%s B=%s n_vocab=%u\n", a.path, b.path, nv);
    printf("  steps: A %lld, B %lld, compared %lld\n", a.n_steps, b.n_steps, steps);
    if (first_div < 0) {
        printf("  greedy tokens: identical over all %lld steps\n", steps);
    } else {
        printf("  greedy tokens: identical up to step %lld; step %lld: A chose %d, B chose %d\n", first_div,
               first_div, div_tok[0], div_tok[1]);
        double ma = div_sa.p1 - div_sa.p2, mb = div_sb.p1 - div_sb.p2;
        printf("    top-2 margin: A %.3g (p1 %.6g, p2 %.6g), B %.3g (p1 %.6g, p2 %.6g)\n", ma, div_sa.p1,
               div_sa.p2, mb, div_sb.p1, div_sb.p2);
        printf("    pA[%d]=%.6g pA[%d]=%.6g   pB[%d]=%.6g pB[%d]=%.6g\n", div_tok[0], div_pa[0], div_tok[1],
               div_pa[1], div_tok[0], div_pb[0], div_tok[1], div_pb[1]);
        printf("    preference for its own choice: A %.3g, B %.3g -> %s\n", div_pa[0] - div_pa[1],
               div_pb[1] - div_pb[0], near_tie ? "near-tie within tol: likely numerics"
                                               : "wider than tol: likely a real difference");
    }
    printf("  max |pA-pB|: %.3g up to the first divergence%s; %.3g over all steps (step %lld, token %lld)\n",
           max_pre, first_div < 0 ? " (none)" : "", max_all, max_all_step, max_all_tok);
    printf("  max |sum-1|: A %.3g, B %.3g\n", max_sum_err[0], max_sum_err[1]);
    for (int k = 0; k < 2; k++) {
        const char *name = k ? "B" : "A";
        if (nonfinite[k] >= 0) printf("  %s: non-finite probability at step %lld\n", name, nonfinite[k]);
        if (not_argmax[k] >= 0) printf("  %s: step %lld: the chosen token is not the argmax (not greedy?)\n", name, not_argmax[k]);
    }
    /* Beyond the comparison, each file must hold greedy choices from normalised
     * distributions; a file that does not is wrong whatever the other says. */
    bool sane = true;
    for (int k = 0; k < 2; k++) {
        if (max_sum_err[k] > PC_SUM_TOL) {
            printf("  %s: a distribution sums to 1 +- %.3g, beyond %g: not a softmax\n", k ? "B" : "A",
                   max_sum_err[k], PC_SUM_TOL);
            sane = false;
        }
        if (nonfinite[k] >= 0 || not_argmax[k] >= 0) sane = false;
    }
    if (forced)
        printf("  forced (same contexts at every step): tokens differ at %lld steps, worst preference %.3g\n",
               n_differ, worst_pref);
    bool ok = sane && a.n_steps == b.n_steps &&
              (forced ? max_all <= tol && worst_pref <= tol
                      : first_div < 0 ? max_all <= tol : ties && near_tie && max_pre <= tol);
    printf("probcmp: steps=%lld same_tokens=%lld first_div=%lld%s max_diff=%.3g max_diff_pre_div=%.3g tol=%g %s\n",
           steps, first_div < 0 ? steps : first_div, first_div, first_div < 0 ? "" : near_tie ? " (near-tie)" : " (wide)",
           max_all, max_pre, tol, ok ? "OK" : "FAIL");
    rc = ok ? 0 : 1;
done:
    pc_close(&a);
    pc_close(&b);
    return rc;
}
