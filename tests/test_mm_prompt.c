/* test_mm_prompt.c - interleaved multimodal prompts (agent/mm_prompt.h):
 * the prompt agent_mm_build lays out for
 *     "<|im_start|>user\nSee <img:top> and <state>, then <img> again.<|im_end|>"
 * must equal a reference assembled here from the pieces: each text piece's
 * tokens (BOS first when the vocabulary adds one), SmolVLM's image layout
 * written out from its description (agent/vlm_prompt.h: per grid row and
 * column <fake_token_around_image> <row_R_col_C> <image> x T, "\n" between
 * rows, then "\n\n" <fake_token_around_image> <global-img> <image> x T
 * <fake_token_around_image>), the image's encoded rows in tile order, and
 * the state encoder's k rows with placeholder -1, bit for bit. Also the
 * checks of a user turn: an unknown camera, <img> without a projector or a
 * camera, <state> without an encoder, text that only looks like one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/mm_prompt.h"
#include "agent/vlm_prompt.h"
#include "core/backend_open.h"
#include "lm/model.h"
#include "vision/mmproj.h"
#include "check.h"

typedef struct ref {
    int32_t tok[8192];
    const float *row[8192]; /* NULL: a token position */
    int n;
} ref;

static void ref_text(ref *r, const lm_vocab *v, const char *s, int bos) {
    char err[EM_ERR_LEN];
    if (bos && lm_vocab_add_bos(v)) r->tok[r->n] = lm_vocab_bos(v), r->row[r->n++] = NULL;
    int32_t ids[512];
    int64_t n = lm_tokenize(v, s, strlen(s), false, true, ids, 512, err);
    for (int64_t i = 0; i < n; i++) r->tok[r->n] = ids[i], r->row[r->n++] = NULL;
}

static int32_t piece(const lm_vocab *v, const char *text) {
    /* the vocabulary's own token for text (a special token, or "\n") */
    int32_t ids[8];
    char err[EM_ERR_LEN];
    int64_t n = lm_tokenize(v, text, strlen(text), false, true, ids, 8, err);
    return n == 1 ? ids[0] : -1;
}

static void ref_image(ref *r, const lm_vocab *v, const vision_embd *e, int n_embd) {
    const int T = e->tokens_per_tile;
    const int32_t fake = piece(v, "<fake_token_around_image>"), img = piece(v, "<image>"), glob = piece(v, "<global-img>");
    int tile = 0;
    for (int y = 0; y < e->grid_y; y++) {
        for (int x = 0; x < e->grid_x; x++, tile++) {
            char rc[32];
            snprintf(rc, sizeof rc, "<row_%d_col_%d>", y + 1, x + 1);
            r->tok[r->n] = fake, r->row[r->n++] = NULL;
            r->tok[r->n] = piece(v, rc), r->row[r->n++] = NULL;
            for (int t = 0; t < T; t++) r->tok[r->n] = img, r->row[r->n++] = e->data + ((size_t)tile * T + t) * n_embd;
        }
        if (y + 1 < e->grid_y) r->tok[r->n] = piece(v, "\n"), r->row[r->n++] = NULL;
    }
    r->tok[r->n] = piece(v, "\n\n"), r->row[r->n++] = NULL;
    r->tok[r->n] = fake, r->row[r->n++] = NULL;
    r->tok[r->n] = glob, r->row[r->n++] = NULL;
    for (int t = 0; t < T; t++) r->tok[r->n] = img, r->row[r->n++] = e->data + ((size_t)tile * T + t) * n_embd;
    r->tok[r->n] = fake, r->row[r->n++] = NULL;
}

int main(void) {
    const char *build = getenv("EMBER_BUILD") ? getenv("EMBER_BUILD") : "build";
    char err[EM_ERR_LEN], cmd[2048], dir[] = "/tmp/ember-test-mm-XXXXXX";
    if (!mkdtemp(dir)) return perror("mkdtemp"), 1;
    snprintf(cmd, sizeof cmd,
             "'%s/mkmodel' --vocab ../shared/vocab/ggml-vocab-gpt-2.gguf --smolvlm --dim 64 --layers 1 --heads 4 "
             "--ffn 128 --ctx 2048 -o %s/m.gguf >/dev/null 2>&1 && '%s/mkmmproj' --preset tiny --text-dim 64 "
             "-o %s/p.gguf >/dev/null 2>&1 && '%s/mkstate' --fields gripper.x,obj0.y --k 2 --n-embd 64 --hidden 16 "
             "-o %s/s.gguf >/dev/null 2>&1", build, dir, build, dir, build, dir);
    if (system(cmd)) return fprintf(stderr, "FAIL: %s\n", cmd), 1;
    char path[256];
    em_backend_spec spec = {.kind = "cpu", .device = -1, .threads = 2};
    em_backend *be = em_backend_open(&spec, NULL, err);
    snprintf(path, sizeof path, "%s/m.gguf", dir);
    lm_model *m = be ? lm_model_load(path, be, err) : NULL;
    snprintf(path, sizeof path, "%s/p.gguf", dir);
    vision_mmproj *mp = m ? vision_mmproj_load(path, be, VISION_WEIGHTS_STORED, err) : NULL;
    snprintf(path, sizeof path, "%s/s.gguf", dir);
    state_enc *se = mp ? state_enc_load(path, be, err) : NULL;
    vision_encoder_params ep = {0};
    vision_encoder *enc = se ? vision_encoder_create(mp, &ep, err) : NULL, *enc2 = enc ? vision_encoder_create(mp, &ep, err) : NULL;
    if (!enc2) return fprintf(stderr, "FAIL: setup: %s\n", err), 1;
    const lm_vocab *v = m->vocab;
    const int d = m->hp.n_embd;

    /* the user turn's checks */
    const char *cams[] = {"top", "wrist"};
    agent_mm_spec *s = agent_mm_spec_parse("look <img:side>", cams, 2, 1, 1, err);
    CHECK(!s && strstr(err, "\"side\"") && strstr(err, "\"top\", \"wrist\""), "unknown camera: %s", err);
    s = agent_mm_spec_parse("look <img>", cams, 2, 0, 1, err);
    CHECK(!s && strstr(err, "--mmproj"), "<img> without a projector: %s", err);
    s = agent_mm_spec_parse("look <img>", cams, 0, 1, 1, err);
    CHECK(!s && strstr(err, "no camera"), "<img> without a camera: %s", err);
    s = agent_mm_spec_parse("the <state>", cams, 2, 1, 0, err);
    CHECK(!s && strstr(err, "--state-encoder"), "<state> without an encoder: %s", err);
    s = agent_mm_spec_parse("<imgx> <img:> <state > <img:a b> plain", cams, 2, 0, 0, err);
    CHECK(s && agent_mm_spec_n_cameras(s) == 0 && !agent_mm_spec_has_state(s), "look-alikes stay text: %s", err);
    agent_mm_spec_free(s);

    /* the prompt against the reference */
    const char *user = "<|im_start|>user\nSee <img:top> and <state>, then <img> again.<|im_end|>";
    s = agent_mm_spec_parse(user, cams, 2, 1, 1, err);
    CHECK(s && agent_mm_spec_n_cameras(s) == 1 && !strcmp(agent_mm_spec_camera(s, 0), "top") && agent_mm_spec_has_state(s),
          "spec: %s", err);
    const char *layout[] = {"obj0.y", "gripper.x", "extra"};
    CHECK(state_enc_bind(se, layout, 3, err) == EM_OK, "bind: %s", err);
    uint8_t px[100 * 70 * 3];
    for (int i = 0; i < (int)sizeof px; i++) px[i] = (uint8_t)(i * 7 + i / 300);
    vision_image im = {0};
    CHECK(vision_image_from_raw(px, 100, 70, 0, VISION_RGB8, NULL, &im, err) == EM_OK, "image: %s", err);
    const double state[3] = {12.5, -3.25, 99};
    agent_mm_inputs in = {{&im}, 1, state, 3};
    lm_prompt p = {0};
    lm_prompt_init(&p, d);
    CHECK(s && agent_mm_build(&p, m, s, user, enc, se, &in, err) == EM_OK, "build: %s", err);

    /* the reference, from a second encoder (no shared cache) */
    static ref r;
    const vision_embd *e = NULL;
    CHECK(vision_encode_image(enc2, &im, &e, err) == EM_OK, "encode: %s", err);
    float srows[2 * 64];
    CHECK(state_enc_encode(se, state, 3, srows, err) == EM_OK, "state: %s", err);
    ref_text(&r, v, "<|im_start|>user\nSee ", 1);
    ref_image(&r, v, e, d);
    ref_text(&r, v, " and ", 0);
    for (int k = 0; k < 2; k++) r.tok[r.n] = -1, r.row[r.n++] = srows + k * d;
    ref_text(&r, v, ", then ", 0);
    ref_image(&r, v, e, d);
    ref_text(&r, v, " again.<|im_end|>", 0);
    CHECK(p.n == r.n, "positions: %lld, reference %d", (long long)p.n, r.n);
    int bad_tok = 0, bad_row = 0, n_rows = 0;
    for (int i = 0; i < r.n && i < p.n; i++) {
        bad_tok += p.tokens[i] != r.tok[i];
        if (!r.row[i]) {
            bad_row += p.embd_row[i] != -1;
        } else {
            n_rows++;
            bad_row += p.embd_row[i] < 0 || memcmp(p.embd + p.embd_row[i] * d, r.row[i], (size_t)d * sizeof(float)) != 0;
        }
    }
    printf("%lld positions: %d embedding rows (2 images of %d x %d tiles + overview, %d tokens each; 2 state rows)\n",
           (long long)p.n, n_rows, e ? e->grid_x : 0, e ? e->grid_y : 0, e ? e->tokens_per_tile : 0);
    CHECK(!bad_tok, "%d tokens differ from the reference", bad_tok);
    CHECK(!bad_row, "%d positions' rows differ from the reference", bad_row);
    CHECK(r.tok[0] >= 0 && piece(v, "<image>") >= 0, "the reference found the layout's tokens");

    lm_prompt_free(&p);
    agent_mm_spec_free(s);
    vision_image_free(&im);
    vision_encoder_free(enc);
    vision_encoder_free(enc2);
    state_enc_free(se);
    vision_mmproj_free(mp);
    lm_model_free(m);
    em_backend_free(be);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", dir);
    return CHECK_DONE();
}
