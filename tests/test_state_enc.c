/* test_state_enc.c - the sensor-state encoder (projector/state_enc.h)
 * against its PyTorch reference (tests/state_ref.py, float64) on a backend:
 *
 *   test_state_enc cpu|vulkan
 *
 * Random encoders written by mkstate (F32 and F16 matrices, one and two
 * hidden layers) encode states given in a controller's layout that holds
 * the fields in another order, with extra fields; the result must match the
 * reference to float rounding: max |diff| <= 1e-4 * (1 + max |ref|) with F32
 * weights; 1e-3 with F16, whose products round the activations to F16 as
 * llama.cpp's do (the same on both backends). Also: the
 * same state in another layout order gives the same bits; a missing field
 * is an error naming it; a non-finite value, a truncated file, a file that
 * is not a state encoder, and an encode before a bind are clear errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/backend_open.h"
#include "projector/state_enc.h"
#include "check.h"

static const char *build;

static int sh(const char *cmd) {
    int rc = system(cmd);
    if (rc) fprintf(stderr, "FAIL: %s\n", cmd);
    return rc;
}

/* The reference: state_ref.py's numbers for nv vectors in the layout. */
static double *reference(const char *path, const char *layout, const double *v, int n, int nv, int n_out) {
    char cmd[8192];
    int o = snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/state_ref.py '%s' '%s'", path, layout);
    for (int j = 0; j < nv; j++) {
        o += snprintf(cmd + o, sizeof cmd - (size_t)o, " ");
        for (int i = 0; i < n; i++) o += snprintf(cmd + o, sizeof cmd - (size_t)o, "%s%.17g", i ? "," : "", v[j * n + i]);
    }
    FILE *p = popen(cmd, "r");
    double *r = malloc(sizeof *r * (size_t)nv * (size_t)n_out);
    int got = 0;
    while (p && r && got < nv * n_out && fscanf(p, "%lf", &r[got]) == 1) got++;
    if (p) pclose(p);
    if (got != nv * n_out) {
        fprintf(stderr, "FAIL: the reference gave %d of %d numbers: %s\n", got, nv * n_out, cmd);
        free(r);
        return NULL;
    }
    return r;
}

static void t_matches(em_backend *be, const char *type, int layers) {
    char path[256], cmd[1024], err[EM_ERR_LEN];
    snprintf(path, sizeof path, "/tmp/ember-test-state-%d-%s-%d.gguf", (int)getpid(), type, layers);
    /* 7 fields, k = 3 rows of 48 */
    snprintf(cmd, sizeof cmd,
             "'%s/mkstate' --fields gripper.x,gripper.y,gripper.z,gripper.open,obj0.x,obj0.y,goal.met --k 3 "
             "--n-embd 48 --hidden 60 --layers %d --type %s --seed %d -o '%s' 2>/dev/null",
             build, layers, type, 5 + layers, path);
    if (sh(cmd)) { CHECK(0, "mkstate"); return; }
    state_enc *se = state_enc_load(path, be, err);
    CHECK(se, "load %s: %s", path, err);
    if (!se) { unlink(path); return; }
    CHECK(state_enc_tokens(se) == 3 && state_enc_n_embd(se) == 48 && state_enc_n_fields(se) == 7, "shape");
    /* the controller's layout: other order, two extra fields */
    const char *layout[] = {"step.busy", "obj0.y", "goal.met", "gripper.open", "obj0.x", "gripper.z", "extra.t",
                            "gripper.y", "gripper.x"};
    const int n = 9, nv = 3, n_out = 3 * 48;
    CHECK(state_enc_encode(se, (double[9]){0}, n, (float[144]){0}, err) == EM_ERR_ARG && strstr(err, "bind"),
          "encode before bind: %s", err);
    CHECK(state_enc_bind(se, layout, n, err) == EM_OK, "bind: %s", err);
    double v[3 * 9];
    for (int j = 0; j < nv; j++)
        for (int i = 0; i < n; i++) v[j * n + i] = sin(1.7 * (j + 1) * (i + 3)) * 30.0 + (i == 3 ? 0 : 5.0 * j);
    float *out = malloc(sizeof *out * (size_t)(nv * n_out));
    for (int j = 0; j < nv; j++) CHECK(state_enc_encode(se, v + j * n, n, out + j * n_out, err) == EM_OK, "encode: %s", err);
    char lay[512] = "";
    for (int i = 0; i < n; i++) snprintf(lay + strlen(lay), sizeof lay - strlen(lay), "%s%s", i ? "," : "", layout[i]);
    double *ref = reference(path, lay, v, n, nv, n_out);
    if (ref) {
        double md = 0, mr = 0;
        for (int i = 0; i < nv * n_out; i++) {
            md = fmax(md, fabs(out[i] - ref[i]));
            mr = fmax(mr, fabs(ref[i]));
        }
        printf("%s weights, %d layer(s): max |ember - torch| = %.3g (max |ref| %.3g)\n", type, layers, md, mr);
        /* F16 products round the activations to F16 too (as llama.cpp's
         * do): 2^-11 relative per input, ~1e-3 after two layers */
        const double tol = (!strcmp(type, "f16") ? 1e-3 : 1e-4) * (1 + mr);
        CHECK(md <= tol, "%s/%d: max diff %g > %g", type, layers, md, tol);
    }
    /* the same state in the encoder's own order: the same bits */
    const char *own[7] = {"gripper.x", "gripper.y", "gripper.z", "gripper.open", "obj0.x", "obj0.y", "goal.met"};
    const int map[7] = {8, 7, 5, 3, 4, 1, 2};
    double v2[7];
    for (int i = 0; i < 7; i++) v2[i] = v[map[i]];
    float *out2 = malloc(sizeof *out2 * (size_t)n_out);
    CHECK(state_enc_bind(se, own, 7, err) == EM_OK && state_enc_encode(se, v2, 7, out2, err) == EM_OK, "%s", err);
    CHECK(!memcmp(out, out2, sizeof *out2 * (size_t)n_out), "fields matched by name, not position");
    /* a missing field, a non-finite value */
    const char *short_layout[] = {"gripper.x", "gripper.y", "gripper.z", "gripper.open", "obj0.x", "goal.met"};
    CHECK(state_enc_bind(se, short_layout, 6, err) == EM_ERR_NOT_FOUND && strstr(err, "\"obj0.y\""),
          "a missing field is named: %s", err);
    CHECK(state_enc_bind(se, own, 7, err) == EM_OK, "rebind");
    v2[4] = NAN;
    CHECK(state_enc_encode(se, v2, 7, out2, err) == EM_ERR_ARG && strstr(err, "obj0.x"), "NaN named: %s", err);
    free(ref);
    free(out);
    free(out2);
    state_enc_free(se);
    /* a truncated copy */
    char cut[300];
    snprintf(cut, sizeof cut, "%s.cut", path);
    snprintf(cmd, sizeof cmd, "head -c 700 '%s' > '%s'", path, cut);
    if (!sh(cmd)) {
        state_enc *t = state_enc_load(cut, be, err);
        CHECK(!t && err[0], "a truncated file is refused: %s", err);
        state_enc_free(t);
    }
    unlink(cut);
    unlink(path);
}

int main(int argc, char **argv) {
    const char *kind = argc > 1 ? argv[1] : "cpu";
    build = getenv("EMBER_BUILD") ? getenv("EMBER_BUILD") : "build";
    if (!strcmp(kind, "vulkan")) setenv("EMBER_VK_VALIDATE", "1", 0);
    char err[EM_ERR_LEN];
    em_backend_spec spec = {.kind = kind, .device = -1, .threads = 2};
    em_backend *be = em_backend_open(&spec, NULL, err);
    if (!be) return fprintf(stderr, "FAIL: %s backend: %s\n", kind, err), 1;
    t_matches(be, "f32", 1);
    t_matches(be, "f16", 2);
    /* a file that is not a state encoder: the vocabulary */
    state_enc *x = state_enc_load("../shared/vocab/ggml-vocab-gpt-2.gguf", be, err);
    CHECK(!x && strstr(err, "not a state encoder"), "a vocabulary is refused: %s", err);
    state_enc_free(x);
    em_backend_free(be);
    return CHECK_DONE();
}
