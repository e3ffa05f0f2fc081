/* questions.c - questions about the world as it is, with their one right
 * answer: what the default model is taught to see (agent/datagen.h) and
 * what `ember eval` asks it. Three families:
 *   visual  colour, shape, counts, left/right and nearer, what a container holds
 *   ocr     the label printed on a block, the word or code on the sign, which
 *           block carries a label
 *   state   is the gripper holding something, what, is it open, where a block is
 * Answers are short and canonical (a colour name, a digit, "yes", "the red
 * cube", "in the blue bowl", "nothing") so they are scored by exact match.
 * A question is asked only where its answer is unambiguous (a shape asked
 * by colour only when blocks' colours are unique, left/right only when the
 * two are 4 cm apart or more). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "sim/world_internal.h"

static int count_kind(const sim_world *w, sim_kind k) {
    int n = 0;
    for (int i = 0; i < w->n; i++) n += w->obj[i].kind == k;
    return n;
}

static int pick_where(const sim_world *w, uint64_t *s, int (*ok)(const sim_world *, int)) {
    int c[SIM_MAX_OBJECTS], n = 0;
    for (int i = 0; i < w->n; i++)
        if (ok(w, i)) c[n++] = i;
    return n ? c[sim_rng_below(s, n)] : -1;
}

static int is_block(const sim_world *w, int i) { return w->obj[i].kind == SIM_BLOCK; }
static int is_labelled_block(const sim_world *w, int i) { return w->obj[i].kind == SIM_BLOCK && w->obj[i].label[0]; }
static int is_cont(const sim_world *w, int i) { return sim_is_container(w, i); }
static int is_sign(const sim_world *w, int i) { return w->obj[i].kind == SIM_SIGN; }
static int is_free_block(const sim_world *w, int i) { return w->obj[i].kind == SIM_BLOCK && w->g.holding != i; }

/* "the red cube and the K7 ..." for the blocks in container c, slot order. */
static void contents(const sim_world *w, int c, char *out, size_t cap) {
    size_t len = 0;
    int k = 0;
    out[0] = 0;
    for (int i = 0; i < w->n; i++) {
        if (w->obj[i].kind != SIM_BLOCK || w->g.holding == i || sim_container_of(w, i) != c) continue;
        char p[80];
        sim_phrase(w, i, p, sizeof p);
        int r = snprintf(out + len, cap - len, "%s%s", k ? " and " : "", p);
        if (r < 0 || (size_t)r >= cap - len) break;
        len += (size_t)r, k++;
    }
    if (!k) snprintf(out, cap, "nothing");
}

static void where(const sim_world *w, int i, char *out, size_t cap) {
    char p[80];
    if (w->g.holding == i) snprintf(out, cap, "in the gripper");
    else if (w->obj[i].on >= 0) sim_phrase(w, w->obj[i].on, p, sizeof p), snprintf(out, cap, "on %s", p);
    else if (w->obj[i].in >= 0) sim_phrase(w, w->obj[i].in, p, sizeof p), snprintf(out, cap, "in %s", p);
    else snprintf(out, cap, "on the table");
}

static int visual(const sim_world *w, uint64_t *s, sim_qa *q) {
    char a[80], b[80];
    switch (sim_rng_below(s, 6)) {
    case 0: { /* colour */
        int i = pick_where(w, s, is_cont);
        if (i < 0) return -1;
        const char *noun = sim_kind_name(w->obj[i].kind);
        if (count_kind(w, w->obj[i].kind) != 1) return -1;
        snprintf(q->question, sizeof q->question, "What color is the %s?", noun);
        snprintf(q->answer, sizeof q->answer, "%s", sim_palette[w->obj[i].color].name);
        return 0;
    }
    case 1: { /* shape */
        int i = pick_where(w, s, is_block);
        if (i < 0) return -1;
        snprintf(q->question, sizeof q->question, "What shape is the %s block?", sim_palette[w->obj[i].color].name);
        snprintf(q->answer, sizeof q->answer, "%s", sim_shape_name(w->obj[i].shape));
        return 0;
    }
    case 2: { /* count */
        int r = sim_rng_below(s, 3), n = 0;
        if (r == 0) {
            snprintf(q->question, sizeof q->question, "How many blocks are there?");
            n = count_kind(w, SIM_BLOCK);
        } else if (r == 1) {
            int sh = SIM_CUBE + sim_rng_below(s, 3);
            snprintf(q->question, sizeof q->question, "How many %ss are there?", sim_shape_name((sim_shape)sh));
            for (int i = 0; i < w->n; i++) n += w->obj[i].kind == SIM_BLOCK && (int)w->obj[i].shape == sh;
        } else {
            int c = pick_where(w, s, is_cont);
            if (c < 0) return -1;
            sim_phrase(w, c, a, sizeof a);
            snprintf(q->question, sizeof q->question, "How many blocks are in %s?", a);
            for (int i = 0; i < w->n; i++) n += w->obj[i].kind == SIM_BLOCK && w->g.holding != i && sim_container_of(w, i) == c;
        }
        snprintf(q->answer, sizeof q->answer, "%d", n);
        return 0;
    }
    case 3:
    case 4: { /* left/right, nearer */
        int i = pick_where(w, s, is_free_block), j = pick_where(w, s, is_free_block);
        if (i < 0 || j < 0 || i == j) return -1;
        double xi, yi, zi, xj, yj, zj;
        sim_obj_pos(w, i, &xi, &yi, &zi);
        sim_obj_pos(w, j, &xj, &yj, &zj);
        sim_phrase(w, i, a, sizeof a);
        sim_phrase(w, j, b, sizeof b);
        if (sim_rng_below(s, 2)) {
            if (fabs(xi - xj) < 4) return -1;
            snprintf(q->question, sizeof q->question, "Is %s left or right of %s?", a, b);
            snprintf(q->answer, sizeof q->answer, "%s", xi < xj ? "left" : "right");
        } else {
            double di = hypot(xi, yi), dj = hypot(xj, yj);
            if (fabs(di - dj) < 4) return -1;
            snprintf(q->question, sizeof q->question, "Which is nearer to the robot, %s or %s?", a, b);
            snprintf(q->answer, sizeof q->answer, "%s", di < dj ? a : b);
        }
        return 0;
    }
    default: { /* a container's contents */
        int c = pick_where(w, s, is_cont);
        if (c < 0) return -1;
        sim_phrase(w, c, a, sizeof a);
        snprintf(q->question, sizeof q->question, "What is in %s?", a);
        contents(w, c, q->answer, sizeof q->answer);
        return 0;
    }
    }
}

static int ocr(const sim_world *w, uint64_t *s, sim_qa *q) {
    char a[80];
    int r = sim_rng_below(s, 3);
    if (r == 0) {
        int i = pick_where(w, s, is_sign);
        if (i < 0) return -1;
        snprintf(q->question, sizeof q->question, "What does the %s sign say?", sim_palette[w->obj[i].color].name);
        snprintf(q->answer, sizeof q->answer, "%s", w->obj[i].label);
        return 0;
    }
    int i = pick_where(w, s, is_labelled_block);
    if (i < 0) return -1;
    sim_phrase(w, i, a, sizeof a);
    if (r == 1) {
        snprintf(q->question, sizeof q->question, "What is written on %s?", a);
        snprintf(q->answer, sizeof q->answer, "%s", w->obj[i].label);
    } else {
        snprintf(q->question, sizeof q->question, "Which block is labelled %s?", w->obj[i].label);
        snprintf(q->answer, sizeof q->answer, "%s", a);
    }
    return 0;
}

static int state(const sim_world *w, uint64_t *s, sim_qa *q) {
    char a[80];
    switch (sim_rng_below(s, 4)) {
    case 0:
        snprintf(q->question, sizeof q->question, "Is the gripper holding a block?");
        snprintf(q->answer, sizeof q->answer, "%s", w->g.holding >= 0 ? "yes" : "no");
        return 0;
    case 1:
        snprintf(q->question, sizeof q->question, "What is the gripper holding?");
        if (w->g.holding >= 0) sim_phrase(w, w->g.holding, q->answer, sizeof q->answer);
        else snprintf(q->answer, sizeof q->answer, "nothing");
        return 0;
    case 2:
        snprintf(q->question, sizeof q->question, "Is the gripper open?");
        snprintf(q->answer, sizeof q->answer, "%s", w->g.open ? "yes" : "no");
        return 0;
    default: {
        /* where a block is: the held one or one resting on something half the time */
        int i = -1;
        if (sim_rng_below(s, 2)) {
            if (w->g.holding >= 0) i = w->g.holding;
            for (int j = 0; j < w->n && i < 0; j++)
                if (w->obj[j].kind == SIM_BLOCK && (w->obj[j].on >= 0 || w->obj[j].in >= 0)) i = j;
        }
        if (i < 0) i = pick_where(w, s, is_block);
        if (i < 0) return -1;
        sim_phrase(w, i, a, sizeof a);
        snprintf(q->question, sizeof q->question, "Where is %s?", a);
        where(w, i, q->answer, sizeof q->answer);
        return 0;
    }
    }
}

const char *sim_qa_family_name(sim_qa_family f) {
    static const char *const names[SIM_QA_FAMILIES] = {"visual", "ocr", "state"};
    return (unsigned)f < SIM_QA_FAMILIES ? names[f] : "?";
}

int sim_question(const sim_world *w, sim_qa_family f, uint64_t seed, sim_qa *q) {
    uint64_t s = sim_mix64(seed ^ w->cfg.seed ^ ((uint64_t)f << 56));
    memset(q, 0, sizeof *q);
    q->family = f;
    for (int tries = 0; tries < 32; tries++) {
        int r = f == SIM_QA_VISUAL ? visual(w, &s, q) : f == SIM_QA_OCR ? ocr(w, &s, q) : state(w, &s, q);
        if (!r) return 0;
    }
    return -1;
}
