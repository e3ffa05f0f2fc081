/* mkstate.c - a random-weight sensor-state encoder (projector/STATE_FORMAT.md)
 * for tests and benchmarks:
 *
 *   mkstate --fields gripper.x,gripper.y,obj0.x --k 2 --n-embd 576 [--hidden 256] [--layers 1]
 *           [--type f32|f16] [--seed N] -o STATE.gguf
 *
 * Weights N(0, 1/sqrt(fan-in)), biases N(0, 0.02); each field's mean and
 * scale drawn away from 0 and 1 (mean N(0, 5), scale 0.5..3), so a
 * forgotten or misapplied normalisation shows in the output. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/opt.h"
#include "core/types.h"
#include "mk_gguf.h"
#include "mk_rng.h"
#include "projector/state_enc.h"

static const char *const type_names[] = {"f32", "f16", NULL};
static const enum em_type type_ids[] = {EM_TYPE_F32, EM_TYPE_F16};

int main(int argc, char **argv) {
    const char *out = NULL, *fields = NULL;
    int k = 1, n_embd = 0, hidden = 256, layers = 1, type_i = 0;
    uint64_t seed = 1;
    const opt_spec specs[] = {
        OPT_STR(NULL, "--fields", "A,B,...", &fields, "the state fields it reads, by name (required)"),
        OPT_INT(NULL, "--k", "K", &k, 1, 1024, "embeddings (prompt positions) per state"),
        OPT_INT(NULL, "--n-embd", "D", &n_embd, 1, 1 << 16, "the decoder's embedding width (required)"),
        OPT_INT(NULL, "--hidden", "H", &hidden, 1, 1 << 16, "hidden width"),
        OPT_INT(NULL, "--layers", "L", &layers, 1, 8, "hidden layers"),
        OPT_CHOICE(NULL, "--type", "T", &type_i, type_names, "f32 | f16 for the matrices"),
        OPT_U64(NULL, "--seed", "N", &seed, 0, UINT64_MAX, "generator seed"),
        OPT_STR("-o", NULL, "PATH", &out, "output file"),
        OPT_END};
    char err[OPT_ERR_LEN];
    int rc = opt_parse("mkstate", specs, argc, argv, NULL, 0, NULL, err);
    if (rc == OPT_HELP) {
        printf("usage: mkstate --fields A,B,... --n-embd D -o OUT.gguf [options]\n");
        opt_usage(stdout, specs);
        return 0;
    }
    if (rc != OPT_OK) return fprintf(stderr, "%s\n", err), 2;
    if (!out || !fields || !n_embd) return fprintf(stderr, "mkstate: --fields, --n-embd and -o are required\n"), 2;
    char *list = strdup(fields), *names[STATE_ENC_MAX_FIELDS];
    int n = 0;
    for (char *save = NULL, *f = strtok_r(list, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
        if (n == STATE_ENC_MAX_FIELDS) return fprintf(stderr, "mkstate: more than %d fields\n", STATE_ENC_MAX_FIELDS), 2;
        names[n++] = f;
    }
    if (!n) return fprintf(stderr, "mkstate: --fields names no field\n"), 2;
    mk_gguf *g = mk_gguf_create("mkstate", seed, type_ids[type_i]);
    if (!g) return 1;
    float *mean = malloc((size_t)n * sizeof *mean), *scale = malloc((size_t)n * sizeof *scale);
    mk_rng r = mk_rng_for(seed, "state.norm");
    for (int i = 0; i < n; i++) {
        mean[i] = (float)(5.0 * mk_rng_normal(&r));
        scale[i] = (float)(0.5 + 2.5 * mk_rng_uniform(&r));
    }
    gguf_writer *w = g->w;
    int bad = gguf_writer_set_str(w, "general.architecture", STATE_ENC_ARCH) ||
              gguf_writer_set_str(w, "general.name", "ember-random-state") ||
              gguf_writer_set_arr_str(w, "ember.state.fields", (const char *const *)names, NULL, (uint64_t)n) ||
              gguf_writer_set_arr(w, "ember.state.mean", GGUF_TYPE_FLOAT32, mean, (uint64_t)n) ||
              gguf_writer_set_arr(w, "ember.state.scale", GGUF_TYPE_FLOAT32, scale, (uint64_t)n) ||
              gguf_writer_set_u32(w, "ember.state.tokens", (uint32_t)k) ||
              gguf_writer_set_u32(w, "ember.state.embedding_length", (uint32_t)n_embd) ||
              gguf_writer_set_u32(w, "ember.state.hidden_length", (uint32_t)hidden) ||
              gguf_writer_set_u32(w, "ember.state.layers", (uint32_t)layers) ||
              gguf_writer_set_str(w, "ember.state.activation", "gelu");
    if (bad) rc = mk_gguf_fail(g, "keys");
    for (int l = 0; !rc && l < layers; l++) {
        char wn[64], bn[64];
        const int64_t fan_in = l ? hidden : n, nb = hidden;
        snprintf(wn, sizeof wn, "state.fc%d.weight", l);
        snprintf(bn, sizeof bn, "state.fc%d.bias", l);
        if (mk_gguf_add_matrix(g, wn, fan_in, hidden, 1.0 / __builtin_sqrt((double)fan_in)) ||
            mk_gguf_add_f32(g, bn, 1, &nb, 0.02))
            rc = 1;
    }
    const int64_t n_out = (int64_t)k * n_embd;
    if (!rc && (mk_gguf_add_matrix(g, "state.out.weight", hidden, n_out, 1.0 / __builtin_sqrt((double)hidden)) ||
                mk_gguf_add_f32(g, "state.out.bias", 1, &n_out, 0.02)))
        rc = 1;
    if (!rc && mk_gguf_write(g, out)) rc = 1;
    mk_gguf_free(g);
    free(mean);
    free(scale);
    free(list);
    return rc ? 1 : 0;
}
